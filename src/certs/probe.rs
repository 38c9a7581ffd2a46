//! mTLS probe of an etcd metrics endpoint: TLS handshake with the client certificate, then
//! `GET /metrics`, with failures classified into typed outcomes.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::intake::{Endpoint, Host, Scheme};
use super::validate::{ValidatedCerts, server_names};

/// What happened when probing one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// TLS with the client certificate worked and the server answered `GET /metrics`.
    Ok { status: u16 },
    /// Nothing listens on the port (TCP RST).
    ConnectionRefused,
    /// No answer within the timeout; `stage` is `connect`, `handshake` or `response`.
    Timeout { stage: &'static str },
    /// The server's certificate is not signed by the given CA.
    UnknownAuthority { detail: String },
    /// The server rejected the client certificate (TLS alert).
    ClientCertRejected { alert: String },
    /// The server's certificate is not valid for the name/IP used.
    NameMismatch {
        expected: String,
        presented: Vec<String>,
    },
    /// The server's certificate is invalid otherwise (expired, not valid yet, ...).
    ServerCertInvalid { detail: String },
    /// The port speaks plain HTTP, not HTTPS.
    HttpResponseToHttps,
    /// The endpoint is `http://`: no TLS to probe.
    NotTls,
    /// Anything else (DNS failure, reset, unexpected bytes).
    Other { detail: String },
}

impl fmt::Display for ProbeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeOutcome::Ok { status } => write!(f, "ok: GET /metrics answered HTTP {status}"),
            ProbeOutcome::ConnectionRefused => f.write_str("connection refused: nothing listens on this address and port"),
            ProbeOutcome::Timeout { stage } => write!(f, "timed out during {stage}: a firewall may drop the traffic"),
            ProbeOutcome::UnknownAuthority { detail } => write!(f, "the server certificate is not signed by the given CA ({detail}); is this the etcd CA?"),
            ProbeOutcome::ClientCertRejected { alert } => write!(f, "the server rejected the client certificate (TLS alert: {alert}); it is not signed by the CA etcd trusts (--trusted-ca-file)"),
            ProbeOutcome::NameMismatch { expected, presented } => write!(
                f,
                "the server certificate is not valid for {expected} (it names: {}); set the server name (serverName in the ServiceMonitor tlsConfig) to one of these",
                presented.join(", ")
            ),
            ProbeOutcome::ServerCertInvalid { detail } => write!(f, "the server certificate is invalid: {detail}"),
            ProbeOutcome::HttpResponseToHttps => f.write_str("the server answered in plain HTTP: this port serves HTTP, not HTTPS; use scheme http or the TLS port"),
            ProbeOutcome::NotTls => f.write_str("the endpoint uses http://; there is no TLS to probe"),
            ProbeOutcome::Other { detail } => write!(f, "probe failed: {detail}"),
        }
    }
}

/// What the probes of every member teach about the TLS settings to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Learned {
    /// Nothing to change in what the user asked for.
    Nothing,
    /// Every member's certificate lacks the address it is scraped at, and they all name this
    /// one: the ServiceMonitor's `serverName`.
    ServerName(String),
    /// Every member answered plain HTTP on the port: a TLS scrape of it cannot work.
    PlainHttp,
}

/// What to learn from the probes of all the members (none: nothing). A name is taken only when
/// every probe failed on the name alone and one name is in every certificate: a DNS name first,
/// `localhost` (kubeadm puts it in every etcd serving certificate) after other DNS names, then an
/// address.
pub fn learn(outcomes: &[&ProbeOutcome]) -> Learned {
    if outcomes.is_empty() {
        return Learned::Nothing;
    }
    if outcomes
        .iter()
        .all(|o| matches!(o, ProbeOutcome::HttpResponseToHttps))
    {
        return Learned::PlainHttp;
    }
    let mut common: Option<Vec<String>> = None;
    for o in outcomes {
        let ProbeOutcome::NameMismatch { presented, .. } = o else {
            return Learned::Nothing;
        };
        common = Some(match common {
            None => presented.clone(),
            Some(c) => c.into_iter().filter(|n| presented.contains(n)).collect(),
        });
    }
    let common = common.unwrap_or_default();
    let is_ip = |n: &str| n.parse::<std::net::IpAddr>().is_ok();
    let pick = common
        .iter()
        .find(|n| !is_ip(n) && n.as_str() != "localhost")
        .or_else(|| common.iter().find(|n| n.as_str() == "localhost"))
        .or_else(|| common.first());
    match pick {
        Some(n) => Learned::ServerName(n.clone()),
        None => Learned::Nothing,
    }
}

/// The outcome of probing one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    pub endpoint: Endpoint,
    pub outcome: ProbeOutcome,
    pub elapsed: Duration,
}

impl ProbeResult {
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, ProbeOutcome::Ok { .. })
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts any server certificate (still checks handshake signatures).
#[derive(Debug)]
struct NoServerVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoServerVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The CA's verification (webpki), remembering the server's certificate: when the name does
/// not match, the names it carries come from the certificate itself (webpki's error gives
/// them only as debug text).
#[derive(Debug)]
struct Remembering {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<CertificateDer<'static>>>,
}

impl Remembering {
    fn names(&self) -> Option<Vec<String>> {
        let seen = self.seen.lock().ok()?;
        seen.as_ref().map(|der| server_names(der))
    }
}

impl ServerCertVerifier for Remembering {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.clone().into_owned());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The client configuration of a probe, and (when the server is verified) the verifier that
/// remembers the server's certificate.
fn client_config(
    certs: &ValidatedCerts,
    insecure: bool,
) -> crate::Result<(ClientConfig, Option<Arc<Remembering>>)> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls("the TLS protocol versions are not usable"))?;
    let (builder, remembering) = if insecure {
        let b = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoServerVerification(provider)));
        (b, None)
    } else {
        let mut roots = RootCertStore::empty();
        for c in certs.ca_certs() {
            roots
                .add(c.clone())
                .map_err(tls("CA certificate not usable"))?;
        }
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(tls("CA certificate not usable"))?;
        let r = Arc::new(Remembering {
            inner,
            seen: Mutex::new(None),
        });
        let b = builder
            .dangerous()
            .with_custom_certificate_verifier(r.clone());
        (b, Some(r))
    };
    let config = builder
        .with_client_auth_cert(certs.chain().to_vec(), certs.key().clone_key())
        // The rustls error names the problem (key/cert mismatch), never the key bytes.
        .map_err(tls("client certificate not usable"))?;
    Ok((config, remembering))
}

/// A rustls error as the library error, saying what was being set up.
fn tls<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
) -> impl Fn(E) -> crate::Error {
    move |e| crate::Error::Tls {
        what,
        source: Box::new(e),
    }
}

fn classify_tls(e: &rustls::Error) -> ProbeOutcome {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(ce) => match ce {
            CertificateError::UnknownIssuer => ProbeOutcome::UnknownAuthority {
                detail: "unknown issuer".into(),
            },
            CertificateError::NotValidForName => ProbeOutcome::NameMismatch {
                expected: String::new(),
                presented: Vec::new(),
            },
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => ProbeOutcome::NameMismatch {
                expected: match expected {
                    ServerName::DnsName(d) => d.as_ref().to_string(),
                    ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
                    other => format!("{other:?}"),
                },
                presented: presented.clone(),
            },
            other => ProbeOutcome::ServerCertInvalid {
                detail: format!("{other:?}"),
            },
        },
        E::AlertReceived(a) => match a {
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateRequired
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied => ProbeOutcome::ClientCertRejected {
                alert: format!("{a:?}"),
            },
            other => ProbeOutcome::Other {
                detail: format!("TLS alert from the server: {other:?}"),
            },
        },
        E::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
            ProbeOutcome::HttpResponseToHttps
        }
        other => ProbeOutcome::Other {
            detail: format!("TLS error: {other}"),
        },
    }
}

fn classify_io(e: &std::io::Error, stage: &'static str) -> ProbeOutcome {
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return classify_tls(tls);
    }
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => ProbeOutcome::ConnectionRefused,
        std::io::ErrorKind::TimedOut => ProbeOutcome::Timeout { stage },
        std::io::ErrorKind::UnexpectedEof if stage == "handshake" => ProbeOutcome::Other {
            detail: "the server closed the connection during the TLS handshake".into(),
        },
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
            ProbeOutcome::Other {
                detail: format!(
                    "the server closed the connection during the {stage} (a server rejecting the client certificate may do this)"
                ),
            }
        }
        _ => ProbeOutcome::Other {
            detail: format!("{stage}: {e}"),
        },
    }
}

/// Reads the status code of an HTTP/1.x status line.
fn parse_status(buf: &[u8]) -> Option<u16> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

/// Probes `endpoint` with the client certificate: TLS handshake, then `GET /metrics`.
/// `server_name` overrides the name checked against the server certificate (default: the
/// endpoint's host). `timeout` applies to connect, handshake and response separately.
pub async fn probe(
    endpoint: &Endpoint,
    certs: &ValidatedCerts,
    server_name: Option<&str>,
    insecure_skip_verify: bool,
    timeout: Duration,
) -> ProbeResult {
    let start = Instant::now();
    let outcome = probe_inner(endpoint, certs, server_name, insecure_skip_verify, timeout).await;
    ProbeResult {
        endpoint: endpoint.clone(),
        outcome,
        elapsed: start.elapsed(),
    }
}

async fn probe_inner(
    endpoint: &Endpoint,
    certs: &ValidatedCerts,
    server_name: Option<&str>,
    insecure: bool,
    timeout: Duration,
) -> ProbeOutcome {
    if endpoint.scheme == Scheme::Http {
        return ProbeOutcome::NotTls;
    }
    let (config, remembering) = match client_config(certs, insecure) {
        Ok(c) => c,
        Err(e) => {
            return ProbeOutcome::Other {
                detail: e.to_string(),
            };
        }
    };
    let name = match server_name {
        Some(n) => ServerName::try_from(n.to_string()),
        None => match &endpoint.host {
            Host::Ip(ip) => Ok(ServerName::IpAddress((*ip).into())),
            Host::Dns(d) => ServerName::try_from(d.clone()),
        },
    };
    let name = match name {
        Ok(n) => n,
        Err(e) => {
            return ProbeOutcome::Other {
                detail: format!("invalid server name: {e}"),
            };
        }
    };

    let addr = (endpoint.host_str(), endpoint.port);
    let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => return ProbeOutcome::Timeout { stage: "connect" },
        Ok(Err(e)) => return classify_io(&e, "connect"),
        Ok(Ok(s)) => s,
    };
    let connector = TlsConnector::from(Arc::new(config));
    let mut tls = match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
        Err(_) => return ProbeOutcome::Timeout { stage: "handshake" },
        Ok(Err(e)) => {
            let mut outcome = classify_io(&e, "handshake");
            if let ProbeOutcome::NameMismatch { presented, .. } = &mut outcome
                && let Some(names) = remembering.and_then(|r| r.names())
            {
                *presented = names;
            }
            return outcome;
        }
        Ok(Ok(s)) => s,
    };

    let host_header = match &endpoint.host {
        Host::Ip(std::net::IpAddr::V6(v6)) => format!("[{v6}]:{}", endpoint.port),
        _ => format!("{}:{}", endpoint.host_str(), endpoint.port),
    };
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: kubectl-promfix\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    );
    let exchange = async {
        tls.write_all(request.as_bytes()).await?;
        tls.flush().await?;
        // Only the status line is needed; stop at 8 KiB.
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 1024];
        loop {
            let n = tls.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(2).any(|w| w == b"\r\n") || buf.len() >= 8192 {
                break;
            }
        }
        Ok::<_, std::io::Error>(buf)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => ProbeOutcome::Timeout { stage: "response" },
        Ok(Err(e)) => classify_io(&e, "response"),
        Ok(Ok(buf)) => match parse_status(&buf) {
            Some(status) => ProbeOutcome::Ok { status },
            None if buf.is_empty() => ProbeOutcome::Other {
                detail: "the server closed the connection without an HTTP response (a server rejecting the client certificate may do this)".into(),
            },
            None => ProbeOutcome::Other {
                detail: "the server's answer is not an HTTP/1.x response".into(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 401 Unauthorized\r\nx"), Some(401));
        assert_eq!(parse_status(b"HTTP/2 200\r\n"), None);
        assert_eq!(parse_status(b"garbage\r\n"), None);
        assert_eq!(parse_status(b"HTTP/1.1 200 OK"), None);
    }
}

#[cfg(test)]
mod learn_tests {
    use super::*;

    fn mismatch(names: &[&str]) -> ProbeOutcome {
        ProbeOutcome::NameMismatch {
            expected: "192.0.2.10".into(),
            presented: names.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_name_every_member_carries_becomes_the_server_name() {
        let (a, b) = (
            mismatch(&["node1", "localhost", "etcd.example", "127.0.0.1"]),
            mismatch(&["node2", "localhost", "etcd.example", "127.0.0.1"]),
        );
        assert_eq!(learn(&[&a, &b]), Learned::ServerName("etcd.example".into()));
        // kubeadm's certificates: only localhost is common.
        let (a, b) = (
            mismatch(&["node1", "localhost", "127.0.0.1"]),
            mismatch(&["node2", "localhost", "127.0.0.1"]),
        );
        assert_eq!(learn(&[&a, &b]), Learned::ServerName("localhost".into()));
        // Nothing in common, or one member fine: nothing to learn.
        assert_eq!(
            learn(&[&mismatch(&["a"]), &mismatch(&["b"])]),
            Learned::Nothing
        );
        let ok = ProbeOutcome::Ok { status: 200 };
        assert_eq!(learn(&[&ok, &mismatch(&["localhost"])]), Learned::Nothing);
        assert_eq!(learn(&[]), Learned::Nothing);
    }

    #[test]
    fn plain_http_everywhere_is_told() {
        let h = ProbeOutcome::HttpResponseToHttps;
        assert_eq!(learn(&[&h, &h]), Learned::PlainHttp);
        let refused = ProbeOutcome::ConnectionRefused;
        assert_eq!(learn(&[&h, &refused]), Learned::Nothing);
    }
}
