//! Reading and PEM-decoding the three inputs (CA, client certificate, client key).
//!
//! PEM is decoded with `rustls-pki-types`' [`PemObject`] (rustls-pemfile is archived,
//! RUSTSEC-2025-0134). Around it this module tells apart the ways a file can be wrong (empty,
//! DER, encrypted, swapped, truncated, bad header, binary, directory, unreadable, too large) and
//! reports each as a typed [`CertError`] naming the file.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::{self, PemObject, SectionKind};
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};

use super::intake::CertPaths;
use super::{CertError, FileRole};

/// The most bytes read from any input file. Certificates and keys are a few KiB; a CA bundle
/// (e.g. a whole system trust store) stays well below this.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A certificate file (the CA bundle, or the client certificate with optional intermediates).
#[derive(Clone)]
pub struct CertFile {
    path: PathBuf,
    role: FileRole,
    pem: Vec<u8>,
    certs: Vec<CertificateDer<'static>>,
}

impl CertFile {
    /// Reads and parses a certificate file (at most [`MAX_FILE_BYTES`]).
    pub fn load(path: &Path, role: FileRole) -> Result<Self, CertError> {
        let bytes = read_capped(path, role)?;
        parse_certificates(path, role, bytes)
    }

    /// Where the file was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which input this is.
    pub fn role(&self) -> FileRole {
        self.role
    }

    /// The file's bytes exactly as read.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// The certificates in file order (never empty). For the client certificate file the first
    /// one is the leaf and the rest are intermediates.
    pub fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }
}

impl fmt::Debug for CertFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertFile")
            .field("path", &self.path)
            .field("role", &self.role)
            .field("pem_len", &self.pem.len())
            .field("certificates", &self.certs.len())
            .finish()
    }
}

/// How the private key was encoded in PEM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyEncoding {
    /// `-----BEGIN RSA PRIVATE KEY-----`
    Pkcs1,
    /// `-----BEGIN PRIVATE KEY-----`
    Pkcs8,
    /// `-----BEGIN EC PRIVATE KEY-----`
    Sec1,
}

impl fmt::Display for KeyEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyEncoding::Pkcs1 => "PKCS#1",
            KeyEncoding::Pkcs8 => "PKCS#8",
            KeyEncoding::Sec1 => "SEC1",
        })
    }
}

/// The client key file. Its `Debug` never shows key material.
pub struct KeyFile {
    path: PathBuf,
    pem: Vec<u8>,
    key: PrivateKeyDer<'static>,
    encoding: KeyEncoding,
    extra_certificates: usize,
}

impl KeyFile {
    /// Reads and parses a key file (at most [`MAX_FILE_BYTES`]).
    pub fn load(path: &Path) -> Result<Self, CertError> {
        let bytes = read_capped(path, FileRole::Key)?;
        parse_key(path, bytes)
    }

    /// Where the file was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's bytes exactly as read (secret: goes into the Secret as-is, never print it).
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// The decoded private key (secret).
    pub fn key(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }

    /// PKCS#1, PKCS#8 or SEC1.
    pub fn encoding(&self) -> KeyEncoding {
        self.encoding
    }

    /// How many certificates the key file holds next to the key (a combined PEM); accepted.
    pub fn extra_certificates(&self) -> usize {
        self.extra_certificates
    }
}

impl Clone for KeyFile {
    fn clone(&self) -> Self {
        Self {
            path: self.path.clone(),
            pem: self.pem.clone(),
            key: self.key.clone_key(),
            encoding: self.encoding,
            extra_certificates: self.extra_certificates,
        }
    }
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("path", &self.path)
            .field("encoding", &self.encoding)
            .field("pem", &Redacted(self.pem.len()))
            .field("key", &Redacted(self.key.secret_der().len()))
            .field("extra_certificates", &self.extra_certificates)
            .finish()
    }
}

/// Debug stand-in for secret bytes.
pub(crate) struct Redacted(pub usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[redacted {} bytes]", self.0)
    }
}

/// The three inputs, read and PEM-decoded but not yet validated against each other.
#[derive(Clone, Debug)]
pub struct LoadedCerts {
    pub ca: CertFile,
    pub cert: CertFile,
    pub key: KeyFile,
}

/// Reads and decodes the three files.
pub fn load(paths: &CertPaths) -> Result<LoadedCerts, CertError> {
    let key_ok = || KeyFile::load(&paths.key).is_ok();
    Ok(LoadedCerts {
        ca: CertFile::load(&paths.ca, FileRole::Ca).map_err(|e| or_both_keys(e, paths, key_ok))?,
        cert: CertFile::load(&paths.cert, FileRole::Cert)
            .map_err(|e| or_both_keys(e, paths, key_ok))?,
        key: KeyFile::load(&paths.key)?,
    })
}

/// A certificate file that holds a private key while the key file holds one too is not a swap:
/// the key was given twice (`--cert key.pem --key key.pem`). `key_ok`: the key file is a key.
fn or_both_keys(e: CertError, paths: &CertPaths, key_ok: impl FnOnce() -> bool) -> CertError {
    match e {
        CertError::KeyWhereCertificateExpected { role, path } if key_ok() => CertError::BothKeys {
            role,
            path,
            key_path: paths.key.clone(),
        },
        e => e,
    }
}

/// Decodes the three inputs from bytes obtained elsewhere (e.g. read on a node through the
/// API); `paths` only label them in messages. The same size cap applies.
pub fn load_from_bytes(
    paths: &CertPaths,
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: Vec<u8>,
) -> Result<LoadedCerts, CertError> {
    for (role, path, bytes) in [
        (FileRole::Ca, &paths.ca, &ca),
        (FileRole::Cert, &paths.cert, &cert),
        (FileRole::Key, &paths.key, &key),
    ] {
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(CertError::TooLarge {
                role,
                path: path.clone(),
                limit: MAX_FILE_BYTES,
            });
        }
    }
    let key_ok = || parse_key(&paths.key, key.clone()).is_ok();
    Ok(LoadedCerts {
        ca: parse_certificates(&paths.ca, FileRole::Ca, ca)
            .map_err(|e| or_both_keys(e, paths, key_ok))?,
        cert: parse_certificates(&paths.cert, FileRole::Cert, cert)
            .map_err(|e| or_both_keys(e, paths, key_ok))?,
        key: parse_key(&paths.key, key)?,
    })
}

/// Maps an I/O error while opening/reading `path` to a typed error.
pub(crate) fn io_error(role: FileRole, path: &Path, e: &io::Error) -> CertError {
    let path = path.to_path_buf();
    match e.kind() {
        io::ErrorKind::NotFound => CertError::NotFound { role, path },
        io::ErrorKind::PermissionDenied => CertError::PermissionDenied { role, path },
        io::ErrorKind::IsADirectory => CertError::IsDirectory { role, path },
        _ => CertError::Io {
            role,
            path,
            reason: e.to_string(),
        },
    }
}

/// Reads at most [`MAX_FILE_BYTES`] of `path`; a larger file is refused without reading it all.
pub fn read_capped(path: &Path, role: FileRole) -> Result<Vec<u8>, CertError> {
    let meta = fs::metadata(path).map_err(|e| io_error(role, path, &e))?;
    if meta.is_dir() {
        return Err(CertError::IsDirectory {
            role,
            path: path.to_path_buf(),
        });
    }
    let too_large = || CertError::TooLarge {
        role,
        path: path.to_path_buf(),
        limit: MAX_FILE_BYTES,
    };
    if meta.is_file() && meta.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    // Pipes (`--cert <(...)`) and devices have no meaningful length: the capped read decides.
    let file = fs::File::open(path).map_err(|e| io_error(role, path, &e))?;
    let mut bytes = Vec::with_capacity(if meta.is_file() {
        meta.len() as usize
    } else {
        8192
    });
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(role, path, &e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// One `-----BEGIN X-----` line found by the pre-scan.
struct Begin {
    label: String,
}

/// What the pre-scan saw in a file that contains at least one BEGIN line.
struct Scan {
    begins: Vec<Begin>,
    proc_type_encrypted: bool,
}

const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";
/// Labels silently skipped next to usable blocks (OpenSSL writes EC PARAMETERS before SEC1 keys).
const KNOWN_LABELS: &[&str] = &[
    "CERTIFICATE",
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "PUBLIC KEY",
    "X509 CRL",
    "CERTIFICATE REQUEST",
    "ECHCONFIG",
];

/// Lines split like pki-types does (on `\n` and on `\r`), numbered by `\n`.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .flat_map(|(i, l)| l.split(|b| *b == b'\r').map(move |part| (i + 1, part)))
}

fn trim_ascii(l: &[u8]) -> &[u8] {
    l.trim_ascii()
}

/// Finds BEGIN lines and legacy encryption headers; reports malformed BEGIN lines.
fn scan(path: &Path, role: FileRole, bytes: &[u8]) -> Result<Scan, CertError> {
    let mut begins = Vec::new();
    let mut proc_type_encrypted = false;
    for (no, raw) in lines(bytes) {
        let line = trim_ascii(raw);
        if line.starts_with(b"Proc-Type:") && contains(line, b"ENCRYPTED") {
            proc_type_encrypted = true;
        }
        if !line.starts_with(b"-") || !contains(line, b"BEGIN") {
            continue;
        }
        let bad = || CertError::BadPemHeader {
            role,
            path: path.to_path_buf(),
            line: no,
        };
        // As strict as the pki-types parser: the line starts with the marker, and only spaces
        // may follow the closing dashes.
        let mut strict = raw;
        while let Some(s) = strict.strip_suffix(b" ") {
            strict = s;
        }
        let Some(rest) = strict.strip_prefix(b"-----BEGIN ") else {
            return Err(bad());
        };
        let Some(label) = rest.strip_suffix(b"-----") else {
            return Err(bad());
        };
        if label.ends_with(b"-") || label.is_empty() {
            return Err(bad());
        }
        let Ok(label) = std::str::from_utf8(label) else {
            return Err(bad());
        };
        if !label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'-')
        {
            return Err(bad());
        }
        begins.push(Begin {
            label: label.to_string(),
        });
    }
    Ok(Scan {
        begins,
        proc_type_encrypted,
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// True when `bytes` is exactly one DER SEQUENCE (a certificate or key saved as DER).
fn looks_like_der(bytes: &[u8]) -> bool {
    if bytes.len() < 2 || bytes[0] != 0x30 {
        return false;
    }
    let (len, hdr) = match bytes[1] {
        n if n < 0x80 => (n as usize, 2),
        0x81 if bytes.len() > 2 => (bytes[2] as usize, 3),
        0x82 if bytes.len() > 3 => (((bytes[2] as usize) << 8) | bytes[3] as usize, 4),
        0x83 if bytes.len() > 4 => (
            ((bytes[2] as usize) << 16) | ((bytes[3] as usize) << 8) | bytes[4] as usize,
            5,
        ),
        _ => return false,
    };
    hdr + len == bytes.len()
}

fn is_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|s| {
        !s.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    })
}

/// The decoded blocks of a file (after the error checks common to all roles).
struct Blocks {
    certs: Vec<CertificateDer<'static>>,
    keys: Vec<(KeyEncoding, Vec<u8>)>,
    other_labels: Vec<String>,
}

fn decode_blocks(path: &Path, role: FileRole, bytes: &[u8]) -> Result<(Scan, Blocks), CertError> {
    let p = || path.to_path_buf();
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        // PowerShell's `>` writes UTF-16 with a byte order mark.
        return Err(CertError::Utf16 { role, path: p() });
    }
    // A UTF-8 byte order mark (Windows editors) is accepted, as Go's pem.Decode does.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.trim_ascii().is_empty() {
        return Err(CertError::Empty { role, path: p() });
    }
    // base64("-----BEGIN"): PEM copied from a Secret's `data` without decoding it.
    if bytes.trim_ascii_start().starts_with(b"LS0tLS1CRUdJTi") {
        return Err(CertError::Base64Wrapped { role, path: p() });
    }
    if !contains(bytes, b"-----BEGIN") {
        if looks_like_der(bytes) {
            return Err(CertError::Der { role, path: p() });
        }
        if !is_text(bytes) {
            return Err(CertError::Binary { role, path: p() });
        }
        // A malformed BEGIN line ("----BEGIN ...") is a header error, not "no PEM".
        scan(path, role, bytes)?;
        return Err(CertError::NotPem { role, path: p() });
    }
    let scan = scan(path, role, bytes)?;
    if scan.begins.is_empty() {
        // "-----BEGIN" only inside a line of text.
        return Err(CertError::NotPem { role, path: p() });
    }
    let known: Vec<&str> = scan
        .begins
        .iter()
        .map(|b| b.label.as_str())
        .filter(|l| KNOWN_LABELS.contains(l))
        .collect();
    let encrypted =
        scan.proc_type_encrypted || scan.begins.iter().any(|b| b.label == ENCRYPTED_LABEL);
    if encrypted {
        // A legacy encrypted block (Proc-Type/DEK-Info) would fail base64 decoding below;
        // name the real problem instead.
        return Err(match role {
            FileRole::Key => CertError::EncryptedKey { path: p() },
            _ if scan.begins.iter().any(|b| b.label == "CERTIFICATE") => {
                CertError::PrivateKeyInCertificateFile { role, path: p() }
            }
            _ => CertError::KeyWhereCertificateExpected { role, path: p() },
        });
    }

    let mut blocks = Blocks {
        certs: Vec::new(),
        keys: Vec::new(),
        other_labels: scan
            .begins
            .iter()
            .filter(|b| !KNOWN_LABELS.contains(&b.label.as_str()))
            .map(|b| b.label.clone())
            .collect(),
    };
    for (seen, item) in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(bytes).enumerate() {
        let label = known.get(seen).copied().unwrap_or("?").to_string();
        let (kind, der) = match item {
            Ok(v) => v,
            Err(pem::Error::MissingSectionEnd { end_marker }) => {
                let label = String::from_utf8_lossy(&end_marker)
                    .trim_start_matches("-----END ")
                    .trim_end_matches('-')
                    .to_string();
                return Err(CertError::Truncated {
                    role,
                    path: p(),
                    label,
                });
            }
            Err(pem::Error::IllegalSectionStart { .. }) => {
                return Err(CertError::BadPemHeader {
                    role,
                    path: p(),
                    line: 0,
                });
            }
            Err(pem::Error::Base64Decode(_)) => {
                return Err(CertError::BadBase64 {
                    role,
                    path: p(),
                    label,
                });
            }
            Err(pem::Error::SectionTooLarge) => {
                return Err(CertError::TooLarge {
                    role,
                    path: p(),
                    limit: MAX_FILE_BYTES,
                });
            }
            Err(e) => {
                // `Io` cannot happen for a slice; NoItemsFound is not produced by the iterator.
                // Only the kind goes into the message, never the error's payload.
                return Err(CertError::Io {
                    role,
                    path: p(),
                    reason: format!("PEM decoding failed ({})", pem_error_kind(&e)),
                });
            }
        };
        match kind {
            SectionKind::Certificate => blocks.certs.push(CertificateDer::from(der)),
            SectionKind::PrivateKey => blocks.keys.push((KeyEncoding::Pkcs8, der)),
            SectionKind::RsaPrivateKey => blocks.keys.push((KeyEncoding::Pkcs1, der)),
            SectionKind::EcPrivateKey => blocks.keys.push((KeyEncoding::Sec1, der)),
            other => blocks.other_labels.push(section_label(other).to_string()),
        }
    }
    Ok((scan, blocks))
}

fn pem_error_kind(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "missing END line",
        pem::Error::IllegalSectionStart { .. } => "bad BEGIN line",
        pem::Error::Base64Decode(_) => "bad base64",
        pem::Error::Io(_) => "I/O",
        pem::Error::NoItemsFound => "no items",
        pem::Error::SectionTooLarge => "section too large",
        _ => "unknown",
    }
}

fn section_label(k: SectionKind) -> &'static str {
    match k {
        SectionKind::Certificate => "CERTIFICATE",
        SectionKind::PublicKey => "PUBLIC KEY",
        SectionKind::RsaPrivateKey => "RSA PRIVATE KEY",
        SectionKind::PrivateKey => "PRIVATE KEY",
        SectionKind::EcPrivateKey => "EC PRIVATE KEY",
        SectionKind::Crl => "X509 CRL",
        SectionKind::Csr => "CERTIFICATE REQUEST",
        SectionKind::EchConfigList => "ECHCONFIG",
        _ => "unknown",
    }
}

fn describe_found(labels: &[String]) -> String {
    match labels.first() {
        Some(l) => format!("a \"{l}\" block"),
        None => "no PEM block".to_string(),
    }
}

/// Parses a certificate file's bytes (CA bundle or client certificate + intermediates).
/// Never panics, whatever the bytes.
pub fn parse_certificates(
    path: &Path,
    role: FileRole,
    bytes: Vec<u8>,
) -> Result<CertFile, CertError> {
    let (_scan, blocks) = decode_blocks(path, role, &bytes)?;
    let p = || path.to_path_buf();
    if blocks.certs.is_empty() {
        if !blocks.keys.is_empty() {
            return Err(CertError::KeyWhereCertificateExpected { role, path: p() });
        }
        if let Some(label) = blocks.other_labels.first() {
            return Err(CertError::WrongPemLabel {
                role,
                path: p(),
                label: label.clone(),
                expected: "CERTIFICATE",
            });
        }
        return Err(CertError::NoCertificate {
            role,
            path: p(),
            found: describe_found(&blocks.other_labels),
        });
    }
    if !blocks.keys.is_empty() {
        return Err(CertError::PrivateKeyInCertificateFile { role, path: p() });
    }
    for (i, der) in blocks.certs.iter().enumerate() {
        check_certificate_der(path, role, i + 1, der)?;
    }
    Ok(CertFile {
        path: p(),
        role,
        pem: bytes,
        certs: blocks.certs,
    })
}

fn check_certificate_der(
    path: &Path,
    role: FileRole,
    index: usize,
    der: &[u8],
) -> Result<(), CertError> {
    let bad = |reason: String| CertError::BadCertificate {
        role,
        path: path.to_path_buf(),
        index,
        reason,
    };
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], _)) => Ok(()),
        Ok((rest, _)) => Err(bad(format!(
            "{} trailing bytes after the certificate",
            rest.len()
        ))),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// Parses a key file's bytes. Never panics, whatever the bytes; the error never holds key bytes.
pub fn parse_key(path: &Path, bytes: Vec<u8>) -> Result<KeyFile, CertError> {
    let role = FileRole::Key;
    let (_scan, mut blocks) = decode_blocks(path, role, &bytes)?;
    let p = || path.to_path_buf();
    if blocks.keys.is_empty() {
        if !blocks.certs.is_empty() {
            return Err(CertError::CertificateWhereKeyExpected {
                path: p(),
                found: if blocks.certs.len() == 1 {
                    "a certificate".to_string()
                } else {
                    format!("{} certificates", blocks.certs.len())
                },
            });
        }
        if let Some(label) = blocks.other_labels.first() {
            return Err(CertError::WrongPemLabel {
                role,
                path: p(),
                label: label.clone(),
                expected: "PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY",
            });
        }
        return Err(CertError::CertificateWhereKeyExpected {
            path: p(),
            found: describe_found(&blocks.other_labels),
        });
    }
    if blocks.keys.len() > 1 {
        return Err(CertError::SeveralKeys {
            path: p(),
            count: blocks.keys.len(),
        });
    }
    let Some((encoding, der)) = blocks.keys.pop() else {
        // Unreachable: emptiness checked above. Kept as an error instead of a panic.
        return Err(CertError::CertificateWhereKeyExpected {
            path: p(),
            found: "no key".to_string(),
        });
    };
    let key = match encoding {
        KeyEncoding::Pkcs1 => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
        KeyEncoding::Pkcs8 => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
        KeyEncoding::Sec1 => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
    };
    // Only the labels are known-good; whether the DER is a usable key is checked here so that
    // a damaged key is reported at intake, with the reason but without any key bytes.
    if rustls::crypto::ring::sign::any_supported_type(&key).is_err() {
        return Err(CertError::UnsupportedKey {
            path: p(),
            reason: format!(
                "the {encoding} key does not parse as RSA, ECDSA P-256/P-384 or Ed25519"
            ),
        });
    }
    Ok(KeyFile {
        path: p(),
        pem: bytes,
        key,
        encoding,
        extra_certificates: blocks.certs.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_error_mapping() {
        let p = Path::new("/x/y.key");
        let e = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(io_error(FileRole::Key, p, &e).kind(), "PermissionDenied");
        let e = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(io_error(FileRole::Key, p, &e).kind(), "NotFound");
    }

    #[test]
    fn der_detection() {
        assert!(looks_like_der(&[0x30, 0x03, 1, 2, 3]));
        assert!(!looks_like_der(&[0x30, 0x04, 1, 2, 3]));
        assert!(!looks_like_der(b"hello"));
        let mut v = vec![0x30, 0x82, 0x01, 0x00];
        v.extend(std::iter::repeat_n(0u8, 256));
        assert!(looks_like_der(&v));
    }

    #[test]
    fn cr_only_line_ends_are_pem_too() {
        let p = Path::new("c.pem");
        let e = parse_certificates(
            p,
            FileRole::Cert,
            b"-----BEGIN CERTIFICATE-----\rAAAA\r-----END CERTIFICATE-----\r".to_vec(),
        )
        .unwrap_err();
        // Decodes as PEM; the 3 bytes are no certificate.
        assert_eq!(e.kind(), "BadCertificate", "{e}");
    }

    #[test]
    fn header_checks() {
        let p = Path::new("c.pem");
        for bad in [
            "----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE----\nAAAA\n-----END CERTIFICATE-----\n",
            "-----BEGINCERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "-----BEGIN certificate-----\nAAAA\n-----END certificate-----\n",
            " -----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\t\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            let e = parse_certificates(p, FileRole::Cert, bad.as_bytes().to_vec()).unwrap_err();
            assert_eq!(e.kind(), "BadPemHeader", "{bad:?}: {e}");
        }
    }

    #[test]
    fn encrypted_message_names_file_and_fix() {
        let e = CertError::EncryptedKey {
            path: PathBuf::from("/x/y.key"),
        };
        assert_eq!(
            e.to_string(),
            "the key file /x/y.key holds an encrypted private key; decrypt it first: openssl pkey -in y.key -out y-plain.key"
        );
    }
}
