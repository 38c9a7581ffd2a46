//! The life of the client certificate a Secret holds: kubeadm renews the files on the nodes
//! every year (`kubeadm certs renew`, or an upgrade), the copy in the Secret does not renew.
//! What `verify` reports about it: its expiry, and whether the Secret's CA still signs it.
//!
//! Pure: the Secret's PEM bytes in, a summary out. Only public parts of certificates are read;
//! the key is never looked at.

use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::Serialize;

use super::validate::{EXPIRY_WARNING_DAYS, days_left, rfc3339};

/// How far the certificate is from its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Valid,
    /// Within [`EXPIRY_WARNING_DAYS`] of its end.
    ExpiresSoon,
    Expired,
    /// Not valid before a time still to come (a clock apart, or a certificate made ahead).
    NotYetValid,
}

/// What the Secret's client certificate says about its life. No key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertLife {
    /// `<namespace>/<name>` of the Secret, and the key of the certificate in it.
    pub secret: String,
    pub key: String,
    pub subject: String,
    /// RFC 3339, UTC.
    pub not_after: String,
    /// Whole days from now to the end (negative: since it ended).
    pub days_left: i64,
    /// Whole days since the end (0 before it, and in its first day after).
    #[serde(skip)]
    pub days_since_end: i64,
    pub state: State,
    /// Whether the CA in the Secret signed it (None: the Secret holds no CA certificate that
    /// parses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by_secret_ca: Option<bool>,
    /// SHA-256 of the certificate (DER), hex: what tells it from the files on a node.
    #[serde(skip)]
    pub sha256: String,
    /// Its end, Unix seconds.
    #[serde(skip)]
    pub not_after_ts: i64,
}

/// A client certificate file on this machine (an etcd node's), public part only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCert {
    pub path: String,
    pub subject: String,
    /// RFC 3339, UTC.
    pub not_after: String,
    #[serde(skip)]
    pub not_after_ts: i64,
    #[serde(skip)]
    pub sha256: String,
}

/// How the Secret's client certificate compares with the client certificate files of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Compared {
    /// The same certificate as this file.
    Same { path: String },
    /// This file holds the same subject with a later end: the node's files were renewed, the
    /// Secret's copy was not.
    Renewed { path: String, not_after: String },
    /// None of these files holds it, nor a renewal of it: the Secret holds another certificate
    /// (one made for Prometheus, say).
    Other { paths: Vec<String> },
}

/// Reads the first certificate of a file's PEM (`path`: for messages).
pub fn file_cert(path: &str, pem: &[u8]) -> Result<FileCert, LifeError> {
    let (der, _, not_after, subject) = first_cert(path, "", pem)?;
    Ok(FileCert {
        path: path.to_string(),
        subject,
        not_after: rfc3339(not_after),
        not_after_ts: not_after,
        sha256: hex_sha256(&der),
    })
}

fn hex_sha256(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The first certificate of `pem`: its DER, start, end (Unix seconds) and subject.
fn first_cert(
    secret: &str,
    key: &str,
    pem: &[u8],
) -> Result<(CertificateDer<'static>, i64, i64, String), LifeError> {
    let der = CertificateDer::pem_slice_iter(pem)
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| LifeError::NoCertificate {
            secret: secret.to_string(),
            key: key.to_string(),
        })?;
    let (_, leaf) =
        x509_parser::parse_x509_certificate(&der).map_err(|e| LifeError::Unparsable {
            secret: secret.to_string(),
            key: key.to_string(),
            reason: e.to_string(),
        })?;
    let v = leaf.validity();
    let (not_before, not_after) = (v.not_before.timestamp(), v.not_after.timestamp());
    let subject = leaf.subject().to_string();
    Ok((der, not_before, not_after, subject))
}

/// Why the certificate in the Secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifeError {
    #[error(
        "Secret {secret} has no key {key}, which the etcd scrape takes its client certificate from"
    )]
    NoKey { secret: String, key: String },
    #[error("key {key} of Secret {secret} holds no PEM certificate")]
    NoCertificate { secret: String, key: String },
    #[error("key {key} of Secret {secret}: the certificate does not parse: {reason}")]
    Unparsable {
        secret: String,
        key: String,
        reason: String,
    },
}

/// The life of the first certificate of `cert_pem` (key `key` of Secret `secret`) at `now`
/// (Unix seconds), and whether a certificate of `ca_pem` signed it.
pub fn assess(
    secret: &str,
    key: &str,
    cert_pem: &[u8],
    ca_pem: Option<&[u8]>,
    now: i64,
) -> Result<CertLife, LifeError> {
    let (der, not_before, not_after, subject) = first_cert(secret, key, cert_pem)?;
    let days = days_left(not_after, now);
    let state = if now > not_after {
        State::Expired
    } else if now < not_before {
        State::NotYetValid
    } else if days < EXPIRY_WARNING_DAYS {
        State::ExpiresSoon
    } else {
        State::Valid
    };
    Ok(CertLife {
        secret: secret.to_string(),
        key: key.to_string(),
        subject,
        not_after: rfc3339(not_after),
        days_left: days,
        days_since_end: (now - not_after).max(0).div_euclid(86_400),
        state,
        signed_by_secret_ca: ca_pem
            .and_then(|pem| signed_by_any(&der, pem, now.clamp(not_before, not_after))),
        sha256: hex_sha256(&der),
        not_after_ts: not_after,
    })
}

/// Whether one of the certificates of `ca_pem` signed `der` (None: none parses as a CA
/// anchor). The signature and the client-auth usage alone, checked at a time inside the
/// certificate's own validity: its dates are [`assess`]'s business.
fn signed_by_any(der: &CertificateDer<'_>, ca_pem: &[u8], at: i64) -> Option<bool> {
    let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(ca_pem)
        .filter_map(Result::ok)
        .collect();
    let anchors: Vec<_> = cas
        .iter()
        .filter_map(|d| webpki::anchor_from_trusted_cert(d).ok())
        .collect();
    if anchors.is_empty() {
        return None;
    }
    let ee = webpki::EndEntityCert::try_from(der).ok()?;
    let time = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(at).unwrap_or(0)));
    let ok = ee
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &[],
            time,
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .is_ok();
    Some(ok)
}

impl CertLife {
    /// One line for the report: whose certificate, until when.
    pub fn describe(&self) -> String {
        let days = |n: i64| match n {
            1 => "1 day".to_string(),
            n => format!("{n} days"),
        };
        let when = match self.state {
            State::Expired => match self.days_since_end {
                0 => format!("expired on {} (less than a day ago)", self.not_after),
                n => format!("expired on {} ({} ago)", self.not_after, days(n)),
            },
            State::NotYetValid => format!("not valid yet (valid until {})", self.not_after),
            _ => format!(
                "valid until {} ({} left)",
                self.not_after,
                days(self.days_left)
            ),
        };
        format!(
            "client certificate {} in Secret {} ({}): {when}",
            self.subject, self.secret, self.key
        )
    }

    /// What is wrong with it (None: nothing). Expiring soon is a warning, not a problem.
    pub fn problem(&self) -> Option<String> {
        if self.signed_by_secret_ca == Some(false) {
            return Some(format!(
                "the client certificate {} in Secret {} is not signed by the CA in the same Secret: one of the two \
                 was replaced (a renewed etcd CA?). Fix: run `kubectl promfix etcd --renew` with the current files \
                 of an etcd node (it rewrites only the Secret's data).",
                self.subject, self.secret
            ));
        }
        match self.state {
            State::Expired => Some(format!(
                "the client certificate {} in Secret {} expired on {}: etcd refuses it. The files on the nodes are \
                 renewed (kubeadm renews them every year), the copy in the Secret is not. Fix: run `kubectl promfix \
                 etcd --renew` with the renewed files (it rewrites only the Secret's data, no pod restarts).",
                self.subject, self.secret, self.not_after
            )),
            State::NotYetValid => Some(format!(
                "the client certificate {} in Secret {} is not valid yet: check the clocks of the etcd nodes and of \
                 the machine that made it.",
                self.subject, self.secret
            )),
            _ => None,
        }
    }

    /// A warning ahead of the end (None: not within [`EXPIRY_WARNING_DAYS`]).
    pub fn warning(&self) -> Option<String> {
        (self.state == State::ExpiresSoon).then(|| {
            format!(
                "the client certificate {} in Secret {} expires in {} days ({}): once the files on the nodes are \
                 renewed (`kubeadm certs renew`), run `kubectl promfix etcd --renew` with them",
                self.subject, self.secret, self.days_left, self.not_after
            )
        })
    }

    /// How it compares with a node's client certificate files.
    pub fn compare(&self, files: &[FileCert]) -> Compared {
        if let Some(f) = files.iter().find(|f| f.sha256 == self.sha256) {
            return Compared::Same {
                path: f.path.clone(),
            };
        }
        match files
            .iter()
            .filter(|f| f.subject == self.subject && f.not_after_ts > self.not_after_ts)
            .max_by_key(|f| f.not_after_ts)
        {
            Some(f) => Compared::Renewed {
                path: f.path.clone(),
                not_after: f.not_after.clone(),
            },
            None => Compared::Other {
                paths: files.iter().map(|f| f.path.clone()).collect(),
            },
        }
    }

    /// Whether a refused handshake (etcd's `bad certificate`, an expired one, a closed
    /// connection) is this certificate's doing.
    pub fn explains_refusal(&self) -> bool {
        matches!(self.state, State::Expired | State::NotYetValid)
            || self.signed_by_secret_ca == Some(false)
    }
}

impl Compared {
    /// One line for a report, about the Secret's certificate `life`.
    pub fn describe(&self, life: &CertLife) -> String {
        match self {
            Compared::Same { path } => format!(
                "the client certificate in Secret {} is the same as {path} on this machine",
                life.secret
            ),
            Compared::Renewed { path, not_after } => format!(
                "the client certificate in Secret {} (valid until {}) is older than {path} on this machine (valid until {not_after}): the files were renewed, the Secret's copy was not",
                life.secret, life.not_after
            ),
            Compared::Other { paths } => format!(
                "the client certificate in Secret {} ({}) is none of the client certificates on this machine ({}): it was made apart from them",
                life.secret,
                life.subject,
                paths.join(", ")
            ),
        }
    }

    /// The finding it is (None: none): only a renewal the Secret missed.
    pub fn problem(&self, life: &CertLife) -> Option<String> {
        matches!(self, Compared::Renewed { .. }).then(|| {
            format!(
                "{}. Fix: run `kubectl promfix etcd --renew` with the renewed files (it rewrites only the Secret's data, no pod restarts)",
                self.describe(life)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, IsCa, Issuer, KeyPair};
    use time::{Duration, OffsetDateTime};

    fn ca(cn: &str) -> (String, Issuer<'static, KeyPair>) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let pem = p.self_signed(&key).unwrap().pem();
        (pem, Issuer::new(p, key))
    }

    fn leaf(issuer: &Issuer<'_, KeyPair>, days_from_now: i64) -> String {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "kube-etcd-healthcheck-client");
        let now = OffsetDateTime::now_utc();
        p.not_before = now - Duration::days(400);
        p.not_after = now + Duration::days(days_from_now);
        p.signed_by(&key, issuer).unwrap().pem()
    }

    fn now() -> i64 {
        OffsetDateTime::now_utc().unix_timestamp()
    }

    const S: &str = "monitoring/etcd-client-cert";

    #[test]
    fn a_year_left_is_valid_and_signed_by_its_ca() {
        let (ca_pem, issuer) = ca("etcd-ca");
        let l = leaf(&issuer, 365);
        let life = assess(
            S,
            "etcd-client",
            l.as_bytes(),
            Some(ca_pem.as_bytes()),
            now(),
        )
        .unwrap();
        assert_eq!(life.state, State::Valid);
        assert!((364..=365).contains(&life.days_left), "{life:?}");
        assert_eq!(life.signed_by_secret_ca, Some(true));
        assert!(life.subject.contains("kube-etcd-healthcheck-client"));
        assert_eq!(life.problem(), None);
        assert_eq!(life.warning(), None);
        assert!(!life.explains_refusal());
    }

    #[test]
    fn ten_days_left_is_a_warning_not_a_problem() {
        let (ca_pem, issuer) = ca("etcd-ca");
        let l = leaf(&issuer, 10);
        let life = assess(
            S,
            "etcd-client",
            l.as_bytes(),
            Some(ca_pem.as_bytes()),
            now(),
        )
        .unwrap();
        assert_eq!(life.state, State::ExpiresSoon);
        assert_eq!(life.problem(), None);
        let w = life.warning().unwrap();
        assert!(
            w.contains("expires in 9 days") || w.contains("expires in 10 days"),
            "{w}"
        );
        assert!(w.contains("kubectl promfix etcd"), "{w}");
    }

    #[test]
    fn an_expired_one_is_a_problem_that_explains_a_refused_handshake() {
        let (ca_pem, issuer) = ca("etcd-ca");
        let l = leaf(&issuer, -3);
        let life = assess(
            S,
            "etcd-client",
            l.as_bytes(),
            Some(ca_pem.as_bytes()),
            now(),
        )
        .unwrap();
        assert_eq!(life.state, State::Expired);
        assert!(life.days_left < 0);
        let p = life.problem().unwrap();
        assert!(p.contains("expired on") && p.contains(S), "{p}");
        assert!(life.explains_refusal());
        assert!(
            life.describe().contains("(3 days ago)"),
            "{}",
            life.describe()
        );
    }

    #[test]
    fn a_renewed_ca_that_did_not_sign_it_is_a_problem() {
        let (_, old) = ca("etcd-ca");
        let (new_pem, _) = ca("etcd-ca");
        let l = leaf(&old, 200);
        let life = assess(
            S,
            "etcd-client",
            l.as_bytes(),
            Some(new_pem.as_bytes()),
            now(),
        )
        .unwrap();
        assert_eq!(life.state, State::Valid);
        assert_eq!(life.signed_by_secret_ca, Some(false));
        assert!(life.problem().unwrap().contains("not signed by the CA"));
        assert!(life.explains_refusal());
    }

    #[test]
    fn no_pem_is_an_error_that_names_the_key() {
        let e = assess(S, "etcd-client", b"not a certificate", None, now()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "key etcd-client of Secret monitoring/etcd-client-cert holds no PEM certificate"
        );
    }

    #[test]
    fn compares_with_the_node_files_by_certificate_and_subject() {
        let (ca_pem, issuer) = ca("etcd-ca");
        let old = leaf(&issuer, 10);
        let renewed = leaf(&issuer, 365);
        let life = assess(
            S,
            "etcd-client",
            old.as_bytes(),
            Some(ca_pem.as_bytes()),
            now(),
        )
        .unwrap();
        let same = file_cert("/n/healthcheck-client.crt", old.as_bytes()).unwrap();
        assert_eq!(
            life.compare(std::slice::from_ref(&same)),
            Compared::Same {
                path: same.path.clone()
            }
        );
        let newer = file_cert("/n/healthcheck-client.crt", renewed.as_bytes()).unwrap();
        let c = life.compare(&[newer]);
        assert!(
            matches!(c, Compared::Renewed { ref path, .. } if path == "/n/healthcheck-client.crt"),
            "{c:?}"
        );
        let p = c.problem(&life).unwrap();
        assert!(
            p.contains("the files were renewed, the Secret's copy was not")
                && p.contains("--renew"),
            "{p}"
        );
        // Another subject: a certificate made apart (for Prometheus): evidence, not a finding.
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "prometheus");
        let other = params.signed_by(&key, &issuer).unwrap().pem();
        let other = file_cert("/n/other.crt", other.as_bytes()).unwrap();
        let c = life.compare(&[other]);
        assert!(matches!(c, Compared::Other { .. }), "{c:?}");
        assert_eq!(c.problem(&life), None);
        // An older file of the same subject is not a renewal.
        let life_new = assess(S, "etcd-client", renewed.as_bytes(), None, now()).unwrap();
        let older = file_cert("/n/old.crt", old.as_bytes()).unwrap();
        assert!(matches!(life_new.compare(&[older]), Compared::Other { .. }));
        assert!(file_cert("/n/x", b"not pem").is_err());
    }
}
