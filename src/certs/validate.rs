//! Validation of the three inputs against each other: the client certificate chains to the CA
//! for TLS client authentication now (rustls-webpki), dates (x509-parser), the CA bit of the CA,
//! and the key belongs to the certificate (rustls `CertifiedKey::keys_match`).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::public_key::PublicKey;

use super::intake::CertPaths;
use super::pem::{CertFile, KeyEncoding, KeyFile, LoadedCerts, Redacted, load};
use super::{CertError, FileRole};

/// A certificate expiring within this many days gives a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// The key type of the client certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rsa { bits: usize },
    EcdsaP256,
    EcdsaP384,
    Ed25519,
    Other(String),
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyAlgorithm::EcdsaP256 => f.write_str("ECDSA P-256"),
            KeyAlgorithm::EcdsaP384 => f.write_str("ECDSA P-384"),
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
            KeyAlgorithm::Other(o) => write!(f, "other ({o})"),
        }
    }
}

/// What to show the user about the validated certificates. No secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    /// DNS names, IP addresses, URIs and e-mail addresses of the subjectAltName extension.
    pub sans: Vec<String>,
    pub serial: String,
    /// RFC 3339, UTC.
    pub not_before: String,
    /// RFC 3339, UTC.
    pub not_after: String,
    pub not_after_unix: i64,
    pub key_algorithm: KeyAlgorithm,
    pub key_encoding: KeyEncoding,
    /// SHA-256 of the client certificate DER, upper-case hex separated by ':'.
    pub cert_sha256: String,
    /// Subject of the CA certificate the chain ends at.
    pub ca_subject: String,
    /// SHA-256 of that CA certificate.
    pub ca_sha256: String,
    /// How many certificates the CA file holds.
    pub ca_certificates: usize,
    /// How many intermediates follow the leaf in the client certificate file.
    pub intermediates: usize,
}

/// Something worth telling the user that does not stop the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The client certificate expires within [`EXPIRY_WARNING_DAYS`].
    ExpiresSoon {
        path: PathBuf,
        not_after: String,
        days: i64,
    },
    /// The CA certificate expires within [`EXPIRY_WARNING_DAYS`].
    CaExpiresSoon {
        path: PathBuf,
        subject: String,
        not_after: String,
        days: i64,
    },
    /// The key file also holds certificates (a combined PEM); they go into the Secret too.
    KeyFileHoldsCertificates { path: PathBuf, count: usize },
    /// A certificate in the CA bundle is not a CA; it is ignored as trust anchor.
    NonCaInCaBundle { path: PathBuf, subject: String },
    /// The client certificate has no extendedKeyUsage extension (any usage allowed).
    NoExtendedKeyUsage { path: PathBuf },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::ExpiresSoon {
                path,
                not_after,
                days,
            } => write!(
                f,
                "the client certificate {} expires in {days} day(s) ({not_after}); renew it soon and run this again, or Prometheus will lose the etcd targets",
                path.display()
            ),
            Warning::CaExpiresSoon {
                path,
                subject,
                not_after,
                days,
            } => write!(
                f,
                "the CA certificate \"{subject}\" in {} expires in {days} day(s) ({not_after})",
                path.display()
            ),
            Warning::KeyFileHoldsCertificates { path, count } => write!(
                f,
                "the key file {} also holds {count} certificate(s); they are copied into the Secret with the key",
                path.display()
            ),
            Warning::NonCaInCaBundle { path, subject } => write!(
                f,
                "the CA file {} holds \"{subject}\", which is not a CA certificate",
                path.display()
            ),
            Warning::NoExtendedKeyUsage { path } => write!(
                f,
                "the client certificate {} has no extendedKeyUsage extension; it is accepted for client authentication",
                path.display()
            ),
        }
    }
}

/// The three inputs, validated. The PEM bytes are exactly as given (they go into the Secret
/// as-is). `Debug` never shows the key.
pub struct ValidatedCerts {
    paths: CertPaths,
    ca_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    ca_certs: Vec<CertificateDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    summary: CertSummary,
}

impl ValidatedCerts {
    pub fn paths(&self) -> &CertPaths {
        &self.paths
    }
    /// The CA file as given.
    pub fn ca_pem(&self) -> &[u8] {
        &self.ca_pem
    }
    /// The client certificate file as given (leaf first, intermediates after).
    pub fn cert_pem(&self) -> &[u8] {
        &self.cert_pem
    }
    /// The key file as given. Secret: never print it.
    pub fn key_pem(&self) -> &[u8] {
        &self.key_pem
    }
    /// The CA certificates (trust anchors for the probe).
    pub fn ca_certs(&self) -> &[CertificateDer<'static>] {
        &self.ca_certs
    }
    /// The client certificate chain (leaf first).
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }
    /// The private key (secret).
    pub fn key(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }
    pub fn summary(&self) -> &CertSummary {
        &self.summary
    }
}

impl Clone for ValidatedCerts {
    fn clone(&self) -> Self {
        Self {
            paths: self.paths.clone(),
            ca_pem: self.ca_pem.clone(),
            cert_pem: self.cert_pem.clone(),
            key_pem: self.key_pem.clone(),
            ca_certs: self.ca_certs.clone(),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            summary: self.summary.clone(),
        }
    }
}

impl fmt::Debug for ValidatedCerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatedCerts")
            .field("paths", &self.paths)
            .field("ca_pem_len", &self.ca_pem.len())
            .field("cert_pem_len", &self.cert_pem.len())
            .field("key_pem", &Redacted(self.key_pem.len()))
            .field("key", &Redacted(self.key.secret_der().len()))
            .field("summary", &self.summary)
            .finish()
    }
}

/// Reads, decodes and validates the three files at time `now`.
pub fn load_and_validate(
    paths: &CertPaths,
    now: SystemTime,
) -> Result<(ValidatedCerts, Vec<Warning>), CertError> {
    validate(load(paths)?, now)
}

fn unix(now: SystemTime) -> i64 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Formats a Unix time as RFC 3339 UTC (`2026-11-22T20:02:45Z`).
pub fn rfc3339(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn parse<'a>(
    file: &CertFile,
    index: usize,
    der: &'a [u8],
) -> Result<X509Certificate<'a>, CertError> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c)
        .map_err(|e| CertError::BadCertificate {
            role: file.role(),
            path: file.path().to_path_buf(),
            index: index + 1,
            reason: e.to_string(),
        })
}

/// The names a TLS client can check a server certificate against: its DNS names and IP
/// addresses, as plain strings, in the certificate's order (none when it does not parse).
pub fn server_names(der: &[u8]) -> Vec<String> {
    let Ok((_, c)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    sans(&c)
        .into_iter()
        .filter_map(|n| {
            n.strip_prefix("DNS:")
                .or_else(|| n.strip_prefix("IP:"))
                .map(str::to_string)
        })
        .collect()
}

fn sans(c: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(ext)) = c.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(format!("DNS:{d}")),
            GeneralName::RFC822Name(e) => Some(format!("email:{e}")),
            GeneralName::URI(u) => Some(format!("URI:{u}")),
            GeneralName::IPAddress(b) => match b.len() {
                4 => <[u8; 4]>::try_from(*b)
                    .ok()
                    .map(|a| format!("IP:{}", IpAddr::from(a))),
                16 => <[u8; 16]>::try_from(*b)
                    .ok()
                    .map(|a| format!("IP:{}", IpAddr::from(a))),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn key_algorithm(c: &X509Certificate<'_>) -> KeyAlgorithm {
    let spki = c.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.2.840.113549.1.1.1" => match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => KeyAlgorithm::Rsa {
                bits: rsa.key_size(),
            },
            _ => KeyAlgorithm::Other(alg),
        },
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => KeyAlgorithm::EcdsaP256,
                Some("1.3.132.0.34") => KeyAlgorithm::EcdsaP384,
                Some(o) => KeyAlgorithm::Other(format!("EC {o}")),
                None => KeyAlgorithm::Other(alg),
            }
        }
        "1.3.101.112" => KeyAlgorithm::Ed25519,
        _ => KeyAlgorithm::Other(alg),
    }
}

pub(crate) fn days_left(not_after: i64, now: i64) -> i64 {
    (not_after - now).div_euclid(86_400)
}

/// Validates loaded inputs at time `now`: leaf dates, key match, CA bit, chain for client auth,
/// CA dates. Returns the validated material and warnings.
pub fn validate(
    loaded: LoadedCerts,
    now: SystemTime,
) -> Result<(ValidatedCerts, Vec<Warning>), CertError> {
    let LoadedCerts { ca, cert, key } = loaded;
    let now_ts = unix(now);
    let mut warnings = Vec::new();
    let Some(leaf_der) = cert.certs().first() else {
        return Err(CertError::NoCertificate {
            role: FileRole::Cert,
            path: cert.path().to_path_buf(),
            found: "no PEM block".into(),
        });
    };
    let leaf = parse(&cert, 0, leaf_der)?;
    // 1. Dates of the client certificate.
    warnings.extend(check_leaf_dates(&leaf, cert.path(), now_ts)?);
    // 2. The key belongs to the certificate.
    check_key(&key, &cert, &ca)?;
    if key.extra_certificates() > 0 {
        warnings.push(Warning::KeyFileHoldsCertificates {
            path: key.path().to_path_buf(),
            count: key.extra_certificates(),
        });
    }
    // 3. The CA file holds CA certificates.
    let parsed_cas = parse_cas(&ca)?;
    // 4. The chain, for client auth, now.
    let anchor_index = check_chain(&leaf, &cert, &ca, &parsed_cas, now_ts)?;
    let ca_path = ca.path();
    let Some(anchor) = parsed_cas.get(anchor_index) else {
        return Err(CertError::NotACa {
            path: ca_path.to_path_buf(),
            subject: String::new(),
        });
    };
    if !anchor.is_ca() {
        return Err(CertError::NotACa {
            path: ca_path.to_path_buf(),
            subject: anchor.subject().to_string(),
        });
    }
    for c in parsed_cas.iter().filter(|c| !c.is_ca()) {
        warnings.push(Warning::NonCaInCaBundle {
            path: ca_path.to_path_buf(),
            subject: c.subject().to_string(),
        });
    }
    // 5. Dates of the anchoring CA.
    warnings.extend(check_ca_dates(anchor, ca_path, now_ts)?);
    if matches!(leaf.extended_key_usage(), Ok(None)) {
        warnings.push(Warning::NoExtendedKeyUsage {
            path: cert.path().to_path_buf(),
        });
    }
    let summary = summary(&leaf, &key, &cert, &ca, anchor, anchor_index);
    let validated = ValidatedCerts {
        paths: CertPaths {
            ca: ca_path.to_path_buf(),
            cert: cert.path().to_path_buf(),
            key: key.path().to_path_buf(),
        },
        ca_pem: ca.pem().to_vec(),
        cert_pem: cert.pem().to_vec(),
        key_pem: key.pem().to_vec(),
        ca_certs: ca.certs().to_vec(),
        chain: cert.certs().to_vec(),
        key: key.key().clone_key(),
        summary,
    };
    Ok((validated, warnings))
}

/// The client certificate is valid now (a warning when it expires soon).
fn check_leaf_dates(
    leaf: &X509Certificate<'_>,
    cert_path: &Path,
    now_ts: i64,
) -> Result<Option<Warning>, CertError> {
    let nb = leaf.validity().not_before.timestamp();
    let na = leaf.validity().not_after.timestamp();
    if now_ts < nb {
        return Err(CertError::NotYetValid {
            path: cert_path.to_path_buf(),
            not_before: rfc3339(nb),
        });
    }
    if now_ts > na {
        return Err(CertError::Expired {
            path: cert_path.to_path_buf(),
            not_after: rfc3339(na),
        });
    }
    Ok(
        (days_left(na, now_ts) < EXPIRY_WARNING_DAYS).then(|| Warning::ExpiresSoon {
            path: cert_path.to_path_buf(),
            not_after: rfc3339(na),
            days: days_left(na, now_ts),
        }),
    )
}

/// The key belongs to the client certificate; when it does not, say whose it is if it belongs
/// to another certificate that was given.
fn check_key(key: &KeyFile, cert: &CertFile, ca: &CertFile) -> Result<(), CertError> {
    let cert_path = cert.path().to_path_buf();
    let signing_key = rustls::crypto::ring::sign::any_supported_type(key.key()).map_err(|_| {
        CertError::UnsupportedKey {
            path: key.path().to_path_buf(),
            reason: format!(
                "the {} key does not parse as RSA, ECDSA P-256/P-384 or Ed25519",
                key.encoding()
            ),
        }
    })?;
    let leaf_der = &cert.certs()[0];
    match CertifiedKey::new(vec![leaf_der.clone()], signing_key).keys_match() {
        Ok(()) => Ok(()),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            let matches = |der: &CertificateDer<'static>| {
                rustls::crypto::ring::sign::any_supported_type(key.key())
                    .map(|k| CertifiedKey::new(vec![der.clone()], k).keys_match().is_ok())
                    .unwrap_or(false)
            };
            if cert.certs()[1..].iter().any(matches) {
                return Err(CertError::ChainInvalid {
                    path: cert_path,
                    reason: "the key belongs to a later certificate of the file: the client certificate must come first, intermediates after it".into(),
                });
            }
            if ca.certs().iter().any(matches) {
                return Err(CertError::CaAndCertSwapped {
                    ca_path: ca.path().to_path_buf(),
                    cert_path,
                });
            }
            Err(CertError::KeyMismatch {
                key_path: key.path().to_path_buf(),
                cert_path,
            })
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(CertError::UnsupportedKey {
            path: key.path().to_path_buf(),
            reason: "its public key cannot be derived to compare it with the certificate".into(),
        }),
        Err(e) => Err(CertError::BadCertificate {
            role: FileRole::Cert,
            path: cert_path,
            index: 1,
            reason: e.to_string(),
        }),
    }
}

/// Every certificate of the CA file, parsed; at least one of them a CA.
fn parse_cas(ca: &CertFile) -> Result<Vec<X509Certificate<'_>>, CertError> {
    let mut parsed_cas = Vec::new();
    for (i, der) in ca.certs().iter().enumerate() {
        parsed_cas.push(parse(ca, i, der)?);
    }
    if !parsed_cas.iter().any(|c| c.is_ca()) {
        let subject = parsed_cas
            .first()
            .map(|c| c.subject().to_string())
            .unwrap_or_default();
        return Err(CertError::NotACa {
            path: ca.path().to_path_buf(),
            subject,
        });
    }
    Ok(parsed_cas)
}

/// The chain from the client certificate (with the file's intermediates) to a CA of the CA
/// file verifies for client auth now: the index of the CA certificate that anchors it (a bundle
/// may hold several).
fn check_chain(
    leaf: &X509Certificate<'_>,
    cert: &CertFile,
    ca: &CertFile,
    parsed_cas: &[X509Certificate<'_>],
    now_ts: i64,
) -> Result<usize, CertError> {
    let (cert_path, ca_path) = (cert.path(), ca.path());
    let ee = webpki::EndEntityCert::try_from(&cert.certs()[0]).map_err(|e| {
        CertError::BadCertificate {
            role: FileRole::Cert,
            path: cert_path.to_path_buf(),
            index: 1,
            reason: format!("{e:?}"),
        }
    })?;
    let mut anchors = Vec::new();
    for (i, der) in ca.certs().iter().enumerate() {
        let a = webpki::anchor_from_trusted_cert(der).map_err(|e| CertError::BadCertificate {
            role: FileRole::Ca,
            path: ca_path.to_path_buf(),
            index: i + 1,
            reason: format!("{e:?}"),
        })?;
        anchors.push(a);
    }
    let intermediates = &cert.certs()[1..];
    let time = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(now_ts).unwrap_or(0)));
    let verify = |anchors: &[rustls_pki_types::TrustAnchor<'_>]| {
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            anchors,
            intermediates,
            time,
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .map(|_| ())
    };
    if let Err(e) = verify(&anchors) {
        return Err(chain_error(e, leaf, cert_path, ca_path, parsed_cas));
    }
    Ok((0..anchors.len())
        .find(|&i| verify(std::slice::from_ref(&anchors[i])).is_ok())
        .unwrap_or(0))
}

/// The anchoring CA is valid now (a warning when it expires soon).
fn check_ca_dates(
    anchor: &X509Certificate<'_>,
    ca_path: &Path,
    now_ts: i64,
) -> Result<Option<Warning>, CertError> {
    let cnb = anchor.validity().not_before.timestamp();
    let cna = anchor.validity().not_after.timestamp();
    if now_ts < cnb {
        return Err(CertError::CaNotYetValid {
            path: ca_path.to_path_buf(),
            subject: anchor.subject().to_string(),
            not_before: rfc3339(cnb),
        });
    }
    if now_ts > cna {
        return Err(CertError::CaExpired {
            path: ca_path.to_path_buf(),
            subject: anchor.subject().to_string(),
            not_after: rfc3339(cna),
        });
    }
    Ok(
        (days_left(cna, now_ts) < EXPIRY_WARNING_DAYS).then(|| Warning::CaExpiresSoon {
            path: ca_path.to_path_buf(),
            subject: anchor.subject().to_string(),
            not_after: rfc3339(cna),
            days: days_left(cna, now_ts),
        }),
    )
}

/// What the validated material is, for the plan and the report.
fn summary(
    leaf: &X509Certificate<'_>,
    key: &KeyFile,
    cert: &CertFile,
    ca: &CertFile,
    anchor: &X509Certificate<'_>,
    anchor_index: usize,
) -> CertSummary {
    let na = leaf.validity().not_after.timestamp();
    CertSummary {
        subject: leaf.subject().to_string(),
        issuer: leaf.issuer().to_string(),
        sans: sans(leaf),
        serial: leaf.raw_serial_as_string(),
        not_before: rfc3339(leaf.validity().not_before.timestamp()),
        not_after: rfc3339(na),
        not_after_unix: na,
        key_algorithm: key_algorithm(leaf),
        key_encoding: key.encoding(),
        cert_sha256: fingerprint(&cert.certs()[0]),
        ca_subject: anchor.subject().to_string(),
        ca_sha256: fingerprint(&ca.certs()[anchor_index]),
        ca_certificates: ca.certs().len(),
        intermediates: cert.certs().len() - 1,
    }
}

fn chain_error(
    e: webpki::Error,
    leaf: &X509Certificate<'_>,
    cert_path: &Path,
    ca_path: &Path,
    cas: &[X509Certificate<'_>],
) -> CertError {
    use webpki::Error as E;
    match e {
        E::UnknownIssuer => CertError::NotSignedByCa {
            cert_path: cert_path.to_path_buf(),
            ca_path: ca_path.to_path_buf(),
            issuer: leaf.issuer().to_string(),
            ca_subjects: {
                // A whole system trust bundle holds ~150 CAs: name a few.
                let mut s = cas
                    .iter()
                    .take(3)
                    .map(|c| format!("\"{}\"", c.subject()))
                    .collect::<Vec<_>>()
                    .join(", ");
                if cas.len() > 3 {
                    s.push_str(&format!(" and {} more", cas.len() - 3));
                }
                s
            },
        },
        #[allow(deprecated)]
        E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) => CertError::NoClientAuth {
            path: cert_path.to_path_buf(),
        },
        E::CaUsedAsEndEntity => CertError::ChainInvalid {
            path: cert_path.to_path_buf(),
            reason: "the first certificate of the file is a CA certificate; the client certificate must come first, intermediates after it".into(),
        },
        E::CertExpired { .. } => CertError::ChainInvalid {
            path: cert_path.to_path_buf(),
            reason: "an intermediate certificate has expired".into(),
        },
        E::CertNotValidYet { .. } => CertError::ChainInvalid {
            path: cert_path.to_path_buf(),
            reason: "an intermediate certificate is not valid yet".into(),
        },
        other => CertError::ChainInvalid {
            path: cert_path.to_path_buf(),
            reason: format!("{other}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formatting() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_377_765), "2026-11-22T20:02:45Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-86_400), "1969-12-31T00:00:00Z");
    }
}
