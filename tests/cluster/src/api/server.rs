//! TLS (a per-cluster CA and serving certificate), the listener (HTTP/1.1 and HTTP/2 by ALPN,
//! with upgrades for WebSocket exec) and the kubeconfig writer.

use crate::auth::User;
use crate::cluster::Cluster;
use anyhow::Context;
use base64::Engine;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// A running API server. Dropping it stops serving (open connections are closed).
pub struct ApiServer {
    pub addr: SocketAddr,
    /// `https://127.NET.0.1:PORT`
    pub url: String,
    /// The CA that signed the serving certificate (PEM).
    pub ca_pem: String,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer").field("url", &self.url).finish()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.task.abort();
    }
}

struct Pki {
    ca_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: PrivateKeyDer<'static>,
}

fn pki(cluster: &Cluster) -> anyhow::Result<Pki> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "promfix-test-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(vec![
        "localhost".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
    ])?;
    p.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(cluster.api_ip())));
    p.distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = p.signed_by(&key, &issuer)?;
    Ok(Pki {
        ca_pem: ca_cert.pem(),
        cert_der: cert.der().clone(),
        key_der: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    })
}

/// The error a handler returns to close the connection without answering.
#[derive(Debug)]
pub(crate) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// Start serving on `cluster.api_ip()`, a free port.
pub async fn start(cluster: Arc<Cluster>) -> anyhow::Result<ApiServer> {
    let pki = pki(&cluster)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![pki.cert_der], pki.key_der)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind((cluster.api_ip(), 0))
        .await
        .with_context(|| format!("binding the API server to {}", cluster.api_ip()))?;
    let addr = listener.local_addr()?;
    let (shutdown, shut_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _peer)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let cluster = cluster.clone();
            let mut shut = shut_rx.clone();
            tokio::spawn(async move {
                let tls = tokio::select! {
                    r = acceptor.accept(tcp) => match r { Ok(t) => t, Err(_) => return },
                    _ = shut.changed() => return,
                };
                let kill = Arc::new(Notify::new());
                let k2 = kill.clone();
                let svc =
                    service_fn(move |req| super::handler::handle(cluster.clone(), req, k2.clone()));
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
                tokio::select! {
                    _ = conn => {}
                    _ = kill.notified() => {}
                    _ = shut.changed() => {}
                }
            });
        }
    });
    Ok(ApiServer {
        addr,
        url: format!("https://{addr}"),
        ca_pem: pki.ca_pem,
        shutdown,
        task,
    })
}

/// `promfix-test-<name>` with every character a kubeconfig name should not have replaced by `-`.
pub fn context_name(user: &str) -> String {
    let s: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("promfix-test-{s}")
}

/// Write a kubeconfig (mode 0600) for `server`: cluster `promfix-test`, context `promfix-test`
/// for the first user (the current context) and `promfix-test-<user>` for each other user.
pub fn write_kubeconfig(path: &Path, server: &ApiServer, users: &[User]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let ca = base64::engine::general_purpose::STANDARD.encode(server.ca_pem.as_bytes());
    let mut contexts = Vec::new();
    let mut kusers = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let uname = context_name(&u.name);
        let cname = if i == 0 {
            "promfix-test".to_string()
        } else {
            uname.clone()
        };
        contexts
            .push(json!({"name": cname, "context": {"cluster": "promfix-test", "user": uname}}));
        kusers.push(json!({"name": uname, "user": {"token": u.token}}));
    }
    let cfg = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": "promfix-test", "cluster": {"server": server.url, "certificate-authority-data": ca}}],
        "contexts": contexts,
        "users": kusers,
        "current-context": if users.is_empty() { "" } else { "promfix-test" },
    });
    let text = serde_yaml_ng::to_string(&cfg)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    // an existing file keeps its mode on open: set it
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(())
}
