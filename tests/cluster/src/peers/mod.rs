//! Real peers started and stopped by the harness: etcd with client-certificate TLS (its PKI
//! generated per test, in the kubespray or kubeadm file layout) and Prometheus processes.
//!
//! Also small HTTP(S) clients the harness and tests use to talk to the peers over loopback.
//!
//! Typical use (see `harness.rs`): `certs::generate(Layout::Kubespray, &[("node1", ip)], dir)`
//! writes each host's files below `dir/<host>/` at their absolute paths, and
//! `etcd::EtcdCluster::start(&pki, dir, EtcdOptions::default())` starts one member per host;
//! `pki.client` is the kube-apiserver's etcd client certificate (`node-node1.pem` /
//! `apiserver-etcd-client.crt`).

pub mod certs;
pub mod etcd;
pub mod prometheus;

use anyhow::{Context, Result, anyhow};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A TLS client configuration trusting `ca` (PEM file), presenting `client` (cert, key PEM files)
/// when given. Uses the ring provider explicitly (no process-wide default needed).
pub fn tls_client_config(ca: &Path, client: Option<(&Path, &Path)>) -> Result<Arc<ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in
        CertificateDer::pem_file_iter(ca).with_context(|| format!("reading {}", ca.display()))?
    {
        roots.add(c.with_context(|| format!("parsing {}", ca.display()))?)?;
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
    let cfg = match client {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .with_context(|| format!("reading {}", cert.display()))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("parsing {}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("reading {}", key.display()))?;
            builder.with_client_auth_cert(chain, key)?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

/// An HTTP response: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub(crate) async fn send<S>(
    io: S,
    method: &str,
    host: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<Response>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    send_with(io, method, host, path, &[], body).await
}

/// [`send`] with extra request headers.
pub(crate) async fn send_with<S>(
    io: S,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Response>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    let conn = tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(bytes::Bytes::from(body)))?;
    // The connection's own error (a TLS alert) says more than the request's "connection closed".
    let resp = match sender.send_request(req).await {
        Ok(r) => r,
        Err(e) => {
            return Err(match conn.await {
                Ok(Err(ce)) => anyhow::Error::new(ce),
                _ => anyhow::Error::new(e),
            });
        }
    };
    let status = resp.status().as_u16();
    let body = match resp.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(e) => {
            conn.abort();
            return Err(e.into());
        }
    };
    conn.abort();
    Ok(Response { status, body })
}

/// `method` `http://ip:port{path}` with a timeout covering connect and response.
pub async fn http_request(
    method: &str,
    ip: Ipv4Addr,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<Response> {
    let fut = async {
        let s = tokio::net::TcpStream::connect(SocketAddr::new(IpAddr::V4(ip), port)).await?;
        send(s, method, &format!("{ip}:{port}"), path, Vec::new()).await
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| anyhow!("{method} http://{ip}:{port}{path}: timed out after {timeout:?}"))?
}

/// `GET https://ip:port{path}` with `cfg` (server name = the IP), with a timeout. A refused client
/// certificate shows as an error mentioning the TLS alert (`received fatal alert: BadCertificate`).
pub async fn https_get(
    cfg: Arc<ClientConfig>,
    ip: Ipv4Addr,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<Response> {
    https_get_named(cfg, ip, port, None, path, timeout).await
}

/// [`https_get`], checking the server's certificate against `name` instead of the address
/// (as a client with `serverName` / `--server-name` does).
pub async fn https_get_named(
    cfg: Arc<ClientConfig>,
    ip: Ipv4Addr,
    port: u16,
    name: Option<&str>,
    path: &str,
    timeout: Duration,
) -> Result<Response> {
    let server_name = match name {
        Some(n) => {
            ServerName::try_from(n.to_string()).map_err(|e| anyhow!("server name {n:?}: {e}"))?
        }
        None => ServerName::IpAddress(IpAddr::V4(ip).into()),
    };
    let fut = async {
        let s = tokio::net::TcpStream::connect(SocketAddr::new(IpAddr::V4(ip), port)).await?;
        let tls = tokio_rustls::TlsConnector::from(cfg)
            .connect(server_name, s)
            .await
            .context("TLS handshake")?;
        send(tls, "GET", &format!("{ip}:{port}"), path, Vec::new()).await
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| anyhow!("GET https://{ip}:{port}{path}: timed out after {timeout:?}"))?
        .map_err(|e| anyhow!("GET https://{ip}:{port}{path}: {e:#}"))
}

/// `GET https://ip:port{path}` as Prometheus scrapes a kubelet (`insecureSkipVerify`, no client
/// certificate), with `Authorization: Bearer <token>` when a token is given.
pub async fn https_get_insecure(
    ip: Ipv4Addr,
    port: u16,
    path: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<Response> {
    let cfg = crate::proxy::insecure_tls_config()?;
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| ("authorization", b))
        .into_iter()
        .collect();
    let fut = async {
        let s = tokio::net::TcpStream::connect(SocketAddr::new(IpAddr::V4(ip), port)).await?;
        let tls = tokio_rustls::TlsConnector::from(cfg)
            .connect(ServerName::IpAddress(IpAddr::V4(ip).into()), s)
            .await
            .context("TLS handshake")?;
        send_with(
            tls,
            "GET",
            &format!("{ip}:{port}"),
            path,
            &headers,
            Vec::new(),
        )
        .await
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| anyhow!("GET https://{ip}:{port}{path}: timed out after {timeout:?}"))?
        .map_err(|e| anyhow!("GET https://{ip}:{port}{path}: {e:#}"))
}

/// The last `n` lines of a log file (empty when unreadable).
pub fn log_tail(path: &Path, n: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Make a child die when the thread that started it goes away (PR_SET_PDEATHSIG): a backstop to
/// `kill_on_drop` for when the test process itself is killed.
pub fn die_with_parent(cmd: &mut tokio::process::Command) {
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec here.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
