//! etcd client certificates for `kubectl promfix etcd`: intake (explicit paths, `--from-dir`
//! layouts, kube-apiserver flags, endpoint lists), PEM parsing, validation and an mTLS probe.
//!
//! Pure domain logic: nothing here prints or talks to a cluster. Key material never appears in
//! any `Debug`/`Display` output or error message of this module.
//!
//! Typical flow of the CLI:
//! 1. paths: `--ca/--cert/--key` → [`CertPaths`]; or `--from-dir DIR` → [`discover`] (several
//!    [`Candidate`]s: ask on a TTY, else list them with their `Display`); or the kube-apiserver
//!    command line → [`parse_apiserver_args`] → [`ApiserverEtcdArgs::paths`].
//! 2. [`load_and_validate`] (or [`load_from_bytes`] + [`validate()`]) → [`ValidatedCerts`] and
//!    [`Warning`]s, or a [`CertError`] whose `Display` is the user-facing message.
//! 3. endpoints: [`parse_endpoint_list`] (`--endpoints` + `--port`) or `servers` of
//!    [`ApiserverEtcdArgs`]; [`probe()`] each with the validated certificates.
//! 4. the Secret gets [`ValidatedCerts::ca_pem`], [`ValidatedCerts::cert_pem`] and
//!    [`ValidatedCerts::key_pem`] as given.

pub mod intake;
pub mod life;
pub mod pem;
pub mod probe;
pub mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use intake::{
    ApiserverEtcdArgs, Candidate, CertPaths, Endpoint, Host, Layout, Scheme, discover,
    parse_apiserver_args, parse_endpoint_list, parse_etcd_servers, split_proc_cmdline,
};
pub use pem::{
    CertFile, KeyEncoding, KeyFile, LoadedCerts, MAX_FILE_BYTES, load, load_from_bytes,
    parse_certificates, parse_key,
};
pub use probe::{ProbeOutcome, ProbeResult, probe};
pub use validate::{
    CertSummary, KeyAlgorithm, ValidatedCerts, Warning, load_and_validate, validate,
};

/// Which of the three inputs a file is meant to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileRole {
    /// The CA certificate (bundle) that signed the etcd client certificate.
    Ca,
    /// The etcd client certificate (optionally followed by intermediates).
    Cert,
    /// The private key of the client certificate.
    Key,
}

impl FileRole {
    /// The command line flag that provides this file, used in hints.
    pub fn flag(self) -> &'static str {
        match self {
            FileRole::Ca => "--ca",
            FileRole::Cert => "--cert",
            FileRole::Key => "--key",
        }
    }
}

impl fmt::Display for FileRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileRole::Ca => "CA file",
            FileRole::Cert => "client certificate file",
            FileRole::Key => "key file",
        })
    }
}

/// Shows a path; used in messages so they stay on one line.
pub(crate) struct Shown<'a>(pub &'a Path);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.display())
    }
}

/// The message of [`CertError::BothKeys`]: the same file given twice, or two key files.
fn both_keys(role: FileRole, path: &Path, key_path: &Path) -> String {
    let need = format!(
        "{} needs the {} (the PEM file with \"BEGIN CERTIFICATE\"{})",
        role.flag(),
        match role {
            FileRole::Ca => "CA certificate",
            _ => "client certificate",
        },
        match role {
            FileRole::Ca => " that signed the client certificate",
            _ => " issued for this key, usually next to it",
        }
    );
    if same_file(path, key_path) {
        format!(
            "{} and --key name the same file, {}, which holds a private key: both are keys; {need}",
            role.flag(),
            Shown(path)
        )
    } else {
        format!(
            "both files are private keys: the {role} {} ({}) and the key file {} (--key); {need}",
            Shown(path),
            role.flag(),
            Shown(key_path)
        )
    }
}

/// Whether two paths name the same file (as given, or after resolving links and `..`).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

fn plain_name(p: &Path) -> String {
    let name = file_name(p);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}-plain.{ext}"),
        _ => format!("{name}-plain"),
    }
}

fn converted_name(p: &Path) -> String {
    let name = file_name(p);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}-decoded.{ext}"),
        _ => format!("{name}-decoded"),
    }
}

fn der_hint(p: &Path, role: FileRole) -> String {
    let name = file_name(p);
    let out = match name.rsplit_once('.') {
        Some((stem, "der" | "crt" | "cer" | "key")) if !stem.is_empty() => format!("{stem}.pem"),
        Some((stem, _)) if !stem.is_empty() => format!("{stem}-converted.pem"),
        _ => format!("{name}.pem"),
    };
    match role {
        FileRole::Key => format!("openssl pkey -inform DER -in {name} -out {out}"),
        _ => format!("openssl x509 -inform DER -in {name} -out {out}"),
    }
}

/// Every way the etcd client certificate intake and validation can fail.
///
/// Messages say what happened, which file, and what to do. They never contain key material:
/// no PEM lines, no base64, no key bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    #[error("the {role} {} does not exist; check the path given with {}", Shown(path), role.flag())]
    NotFound { role: FileRole, path: PathBuf },

    #[error(
        "the {role} {} is a directory, not a file; give the file inside it with {} (or use --from-dir {})",
        Shown(path), role.flag(), Shown(path)
    )]
    IsDirectory { role: FileRole, path: PathBuf },

    #[error(
        "cannot read the {role} {}: permission denied; run with enough rights to read it (e.g. sudo) or copy it somewhere readable",
        Shown(path)
    )]
    PermissionDenied { role: FileRole, path: PathBuf },

    #[error("cannot read the {role} {}: {reason}", Shown(path))]
    Io {
        role: FileRole,
        path: PathBuf,
        reason: String,
    },

    #[error(
        "the {role} {} is larger than {limit} bytes (the read was stopped there); a certificate or key file is a few KiB, so this is not the right file",
        Shown(path)
    )]
    TooLarge {
        role: FileRole,
        path: PathBuf,
        limit: u64,
    },

    #[error("the {role} {} is empty; give the PEM file with {}", Shown(path), role.flag())]
    Empty { role: FileRole, path: PathBuf },

    #[error(
        "the {role} {} is binary DER, not PEM; convert it first: {}",
        Shown(path), der_hint(path, *role)
    )]
    Der { role: FileRole, path: PathBuf },

    #[error(
        "the {role} {} is binary data, neither PEM nor a DER certificate or key; check that the path points to the right file",
        Shown(path)
    )]
    Binary { role: FileRole, path: PathBuf },

    #[error(
        "the {role} {} is UTF-16 text (as written by PowerShell's `>`); save it as ASCII/UTF-8, e.g. iconv -f UTF-16 -t UTF-8 {} > {}",
        Shown(path),
        file_name(path),
        converted_name(path)
    )]
    Utf16 { role: FileRole, path: PathBuf },

    #[error(
        "the {role} {} holds base64-encoded PEM (as in the data of a Kubernetes Secret); decode it first: base64 -d < {} > {}",
        Shown(path),
        file_name(path),
        converted_name(path)
    )]
    Base64Wrapped { role: FileRole, path: PathBuf },

    #[error(
        "the {role} {} holds no PEM block (no line starting with \"-----BEGIN ...-----\"); give a PEM file with {}",
        Shown(path), role.flag()
    )]
    NotPem { role: FileRole, path: PathBuf },

    #[error(
        "the {role} {} has a PEM block of an unsupported type \"{label}\"; expected {expected}",
        Shown(path)
    )]
    WrongPemLabel {
        role: FileRole,
        path: PathBuf,
        label: String,
        expected: &'static str,
    },

    #[error(
        "the {role} {} has a malformed PEM header line at line {line}; it must look like \"-----BEGIN CERTIFICATE-----\"",
        Shown(path)
    )]
    BadPemHeader {
        role: FileRole,
        path: PathBuf,
        line: usize,
    },

    #[error(
        "the {role} {} is truncated: the PEM block \"{label}\" has no matching END line; copy the file again completely",
        Shown(path)
    )]
    Truncated {
        role: FileRole,
        path: PathBuf,
        label: String,
    },

    #[error(
        "the {role} {} has a corrupt PEM block \"{label}\" (its base64 body does not decode); copy the file again",
        Shown(path)
    )]
    BadBase64 {
        role: FileRole,
        path: PathBuf,
        label: String,
    },

    #[error(
        "the {role} {} holds a certificate that cannot be parsed (block {index}: {reason}); the file is damaged or truncated",
        Shown(path)
    )]
    BadCertificate {
        role: FileRole,
        path: PathBuf,
        index: usize,
        reason: String,
    },

    #[error(
        "the key file {} holds a private key that cannot be used ({reason}); supported are RSA (2048-8192 bits), ECDSA P-256/P-384 and Ed25519 in PKCS#1, PKCS#8 or SEC1 PEM",
        Shown(path)
    )]
    UnsupportedKey { path: PathBuf, reason: String },

    #[error(
        "the key file {} holds an encrypted private key; decrypt it first: openssl pkey -in {} -out {}",
        Shown(path),
        file_name(path),
        plain_name(path)
    )]
    EncryptedKey { path: PathBuf },

    #[error(
        "the key file {} holds {found} instead of a private key; the certificate and key files look swapped or wrong: give the key with --key",
        Shown(path)
    )]
    CertificateWhereKeyExpected { path: PathBuf, found: String },

    #[error(
        "the {role} {} holds a private key instead of a certificate; the certificate and key files look swapped: give the key with --key and the certificate with {}",
        Shown(path), role.flag()
    )]
    KeyWhereCertificateExpected { role: FileRole, path: PathBuf },

    #[error("{}", both_keys(*role, path, key_path))]
    BothKeys {
        role: FileRole,
        path: PathBuf,
        key_path: PathBuf,
    },

    #[error(
        "the {role} {} holds a private key next to the certificate(s); refusing to copy a private key into the Secret from here: give a file with only certificates",
        Shown(path)
    )]
    PrivateKeyInCertificateFile { role: FileRole, path: PathBuf },

    #[error(
        "the {role} {} holds no certificate (only {found}); give the PEM certificate with {}",
        Shown(path), role.flag()
    )]
    NoCertificate {
        role: FileRole,
        path: PathBuf,
        found: String,
    },

    #[error(
        "the key file {} holds {count} private keys; give a file with exactly one key",
        Shown(path)
    )]
    SeveralKeys { path: PathBuf, count: usize },

    #[error(
        "the client certificate {} expired on {not_after}; renew it (kubeadm: kubeadm certs renew; kubespray: re-run the etcd certificate tasks) and try again",
        Shown(path)
    )]
    Expired { path: PathBuf, not_after: String },

    #[error(
        "the client certificate {} is not valid before {not_before}; check the clock of this machine and of the machine that issued it",
        Shown(path)
    )]
    NotYetValid { path: PathBuf, not_before: String },

    #[error(
        "the CA certificate \"{subject}\" in {} expired on {not_after}; the etcd CA must be renewed",
        Shown(path)
    )]
    CaExpired {
        path: PathBuf,
        subject: String,
        not_after: String,
    },

    #[error(
        "the CA certificate \"{subject}\" in {} is not valid before {not_before}; check the clock",
        Shown(path)
    )]
    CaNotYetValid {
        path: PathBuf,
        subject: String,
        not_before: String,
    },

    #[error(
        "the certificate \"{subject}\" in the CA file {} is not a CA (basicConstraints CA:TRUE is missing); give the etcd CA certificate (kubeadm: pki/etcd/ca.crt, kubespray: ca.pem, k3s/RKE2: server-ca.crt), not a leaf certificate",
        Shown(path)
    )]
    NotACa { path: PathBuf, subject: String },

    #[error(
        "the client certificate {} (issuer \"{issuer}\") is not signed by the CA in {} ({ca_subjects}); give the CA that issued it (the etcd CA, not the cluster CA)",
        Shown(cert_path),
        Shown(ca_path)
    )]
    NotSignedByCa {
        cert_path: PathBuf,
        ca_path: PathBuf,
        issuer: String,
        ca_subjects: String,
    },

    #[error(
        "the client certificate {} is not valid for TLS client authentication (its extended key usage lacks clientAuth); use a client certificate (kubeadm: apiserver-etcd-client.crt or healthcheck-client.crt)",
        Shown(path)
    )]
    NoClientAuth { path: PathBuf },

    #[error("the certificate chain of {} does not verify: {reason}", Shown(path))]
    ChainInvalid { path: PathBuf, reason: String },

    #[error(
        "the key {} does not belong to the client certificate {} (their public keys differ); give the key that was created with this certificate",
        Shown(key_path),
        Shown(cert_path)
    )]
    KeyMismatch {
        key_path: PathBuf,
        cert_path: PathBuf,
    },

    #[error(
        "the key belongs to a certificate in the CA file {}, not to {}: the CA and client certificate files look swapped; give the CA with --ca and the client certificate with --cert",
        Shown(ca_path),
        Shown(cert_path)
    )]
    CaAndCertSwapped {
        ca_path: PathBuf,
        cert_path: PathBuf,
    },

    #[error("no etcd certificates found in {}: {looked_for}", Shown(dir))]
    NothingDiscovered { dir: PathBuf, looked_for: String },

    #[error("invalid etcd endpoint \"{input}\": {reason}")]
    BadEndpoint { input: String, reason: String },

    #[error("invalid kube-apiserver arguments: {reason}")]
    BadApiserverArgs { reason: String },
}

impl CertError {
    /// The file the error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        use CertError::*;
        match self {
            NotFound { path, .. }
            | IsDirectory { path, .. }
            | PermissionDenied { path, .. }
            | Io { path, .. }
            | TooLarge { path, .. }
            | Empty { path, .. }
            | Der { path, .. }
            | Utf16 { path, .. }
            | Base64Wrapped { path, .. }
            | Binary { path, .. }
            | NotPem { path, .. }
            | WrongPemLabel { path, .. }
            | BadPemHeader { path, .. }
            | Truncated { path, .. }
            | BadBase64 { path, .. }
            | BadCertificate { path, .. }
            | UnsupportedKey { path, .. }
            | EncryptedKey { path }
            | CertificateWhereKeyExpected { path, .. }
            | KeyWhereCertificateExpected { path, .. }
            | BothKeys { path, .. }
            | PrivateKeyInCertificateFile { path, .. }
            | NoCertificate { path, .. }
            | SeveralKeys { path, .. }
            | Expired { path, .. }
            | NotYetValid { path, .. }
            | CaExpired { path, .. }
            | CaNotYetValid { path, .. }
            | NotACa { path, .. }
            | NoClientAuth { path }
            | ChainInvalid { path, .. } => Some(path),
            NotSignedByCa { cert_path, .. } => Some(cert_path),
            KeyMismatch { key_path, .. } => Some(key_path),
            CaAndCertSwapped { ca_path, .. } => Some(ca_path),
            NothingDiscovered { dir, .. } => Some(dir),
            BadEndpoint { .. } | BadApiserverArgs { .. } => None,
        }
    }

    /// A stable short name of the variant (used by the corpus test and for machine output).
    pub fn kind(&self) -> &'static str {
        use CertError::*;
        match self {
            NotFound { .. } => "NotFound",
            IsDirectory { .. } => "IsDirectory",
            PermissionDenied { .. } => "PermissionDenied",
            Io { .. } => "Io",
            TooLarge { .. } => "TooLarge",
            Empty { .. } => "Empty",
            Der { .. } => "Der",
            Utf16 { .. } => "Utf16",
            Base64Wrapped { .. } => "Base64Wrapped",
            Binary { .. } => "Binary",
            NotPem { .. } => "NotPem",
            WrongPemLabel { .. } => "WrongPemLabel",
            BadPemHeader { .. } => "BadPemHeader",
            Truncated { .. } => "Truncated",
            BadBase64 { .. } => "BadBase64",
            BadCertificate { .. } => "BadCertificate",
            UnsupportedKey { .. } => "UnsupportedKey",
            EncryptedKey { .. } => "EncryptedKey",
            CertificateWhereKeyExpected { .. } => "CertificateWhereKeyExpected",
            KeyWhereCertificateExpected { .. } => "KeyWhereCertificateExpected",
            BothKeys { .. } => "BothKeys",
            PrivateKeyInCertificateFile { .. } => "PrivateKeyInCertificateFile",
            NoCertificate { .. } => "NoCertificate",
            SeveralKeys { .. } => "SeveralKeys",
            Expired { .. } => "Expired",
            NotYetValid { .. } => "NotYetValid",
            CaExpired { .. } => "CaExpired",
            CaNotYetValid { .. } => "CaNotYetValid",
            NotACa { .. } => "NotACa",
            NotSignedByCa { .. } => "NotSignedByCa",
            NoClientAuth { .. } => "NoClientAuth",
            ChainInvalid { .. } => "ChainInvalid",
            KeyMismatch { .. } => "KeyMismatch",
            CaAndCertSwapped { .. } => "CaAndCertSwapped",
            NothingDiscovered { .. } => "NothingDiscovered",
            BadEndpoint { .. } => "BadEndpoint",
            BadApiserverArgs { .. } => "BadApiserverArgs",
        }
    }
}
