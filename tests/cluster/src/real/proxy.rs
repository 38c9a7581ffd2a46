//! The fault and request-log proxy between the clients under test (kubectl-promfix, kubectl) and
//! the real API server: what the stand-in's handler did for faults (`faults.rs`: latency, the next
//! N writes answering 409/500/429, connections cut before or after a write) and the request log
//! the tests and benchmarks read, now in front of the real server, which answers everything else.
//!
//! It listens on the host end of the cluster's veth (`198.19.255.4S+1`, an ephemeral port) with a
//! serving certificate of the cluster CA, speaks HTTP/1.1 (ALPN), and opens one upstream TLS
//! connection to the API server per client connection. Clients authenticate with bearer tokens
//! (forwarded as they are; a client certificate cannot pass a TLS-terminating proxy), which is why
//! every user, the admin included, has a token in the API server's token file. Upgrades (exec over
//! WebSocket or SPDY) are passed through byte for byte; watch and log streams are streamed.
//!
//! A faulted write never reaches the API server (409, 500, 429 with `Retry-After`, or a cut
//! connection), except `DropAfterApply`: the API server applies it and the client gets no answer.

use crate::faults::{FaultKind, Faults, LogEntry};
use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

type Body = BoxBody<Bytes, hyper::Error>;

/// A running proxy; dropping it stops accepting (open connections end with their clients).
pub struct FaultProxy {
    /// `https://ADDR:PORT`
    pub url: String,
    pub addr: SocketAddr,
    pub faults: Arc<Faults>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    upstream: SocketAddr,
    upstream_tls: tokio_rustls::TlsConnector,
    users: HashMap<String, String>,
    faults: Arc<Faults>,
}

fn error(code: u16, reason: &str, message: &str) -> Response<Body> {
    let status = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(full(status.to_string()))
        .unwrap_or_else(|_| Response::new(full("")))
}

fn full(s: impl Into<Bytes>) -> Body {
    Full::new(s.into()).map_err(|never| match never {}).boxed()
}

/// (resource plural, name) of an API path (`/api/v1/namespaces/ns/secrets/x`,
/// `/apis/g/v/secrets`); the name is "" for a collection.
fn resource_of(path: &str) -> (String, String) {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest: &[&str] = match parts.first() {
        Some(&"api") if parts.len() > 2 => &parts[2..],
        Some(&"apis") if parts.len() > 3 => &parts[3..],
        _ => &[],
    };
    let rest = if rest.first() == Some(&"namespaces") && rest.len() > 2 {
        &rest[2..]
    } else {
        rest
    };
    (
        rest.first().unwrap_or(&"").to_string(),
        rest.get(1).unwrap_or(&"").to_string(),
    )
}

/// The stand-in's rule (`api::handler`): POST, PUT, PATCH or DELETE of a resource, not of an
/// access review, nor of exec/attach/portforward/proxy (they stream).
fn is_write(method: &Method, path: &str) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) && (path.starts_with("/api/") || path.starts_with("/apis/"))
        && !path.contains("accessreviews")
        && !["/exec", "/attach", "/portforward", "/proxy"]
            .iter()
            .any(|s| path.ends_with(s) || path.contains(&format!("{s}/")))
}

impl FaultProxy {
    /// Listen on `bind`, forwarding to `upstream` (TLS, trusting `ca`), serving with `cert`/`key`.
    /// `users` maps bearer tokens to user names for the log.
    pub async fn start(
        bind: Ipv4Addr,
        upstream: SocketAddr,
        ca: &Path,
        serving: (&Path, &Path),
        users: HashMap<String, String>,
    ) -> Result<FaultProxy> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = CertificateDer::pem_file_iter(serving.0)?.collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_file(serving.1)?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let client = crate::peers::tls_client_config(ca, None)?;
        let listener = TcpListener::bind((bind, 0))
            .await
            .with_context(|| format!("binding the fault proxy to {bind}"))?;
        let addr = listener.local_addr()?;
        let faults = Arc::new(Faults::new());
        let shared = Arc::new(Shared {
            upstream,
            upstream_tls: tokio_rustls::TlsConnector::from(client),
            users,
            faults: faults.clone(),
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, shared) = (acceptor.clone(), shared.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    serve(tls, shared).await;
                });
            }
        });
        Ok(FaultProxy {
            url: format!("https://{addr}"),
            addr,
            faults,
            task,
        })
    }
}

/// One client connection: one upstream connection, requests forwarded in order.
async fn serve(tls: tokio_rustls::server::TlsStream<TcpStream>, shared: Arc<Shared>) {
    let Ok(up) = TcpStream::connect(shared.upstream).await else {
        return;
    };
    let _ = up.set_nodelay(true);
    let name = ServerName::IpAddress(shared.upstream.ip().into());
    let Ok(up) = shared.upstream_tls.connect(name, up).await else {
        return;
    };
    let Ok((sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(up)).await else {
        return;
    };
    tokio::spawn(conn.with_upgrades());
    let sender = Arc::new(tokio::sync::Mutex::new(sender));
    let kill = Arc::new(Notify::new());
    let k2 = kill.clone();
    let svc = hyper::service::service_fn(move |req| {
        let (shared, sender, kill) = (shared.clone(), sender.clone(), k2.clone());
        async move { forward(req, shared, sender, kill).await }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
    tokio::select! {
        _ = conn => {}
        _ = kill.notified() => {}
    }
}

#[derive(Debug)]
struct Cut;

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection cut by an injected fault")
    }
}

impl std::error::Error for Cut {}

async fn forward(
    mut req: Request<Incoming>,
    shared: Arc<Shared>,
    sender: Arc<tokio::sync::Mutex<hyper::client::conn::http1::SendRequest<Incoming>>>,
    kill: Arc<Notify>,
) -> Result<Response<Body>, Cut> {
    let latency = shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let path = req.uri().path().to_string();
    let user = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| shared.users.get(t.trim()))
        .cloned()
        .unwrap_or_default();
    let mut entry = LogEntry {
        method: req.method().as_str().to_string(),
        path: path.clone(),
        query: req.uri().query().unwrap_or("").to_string(),
        content_type: req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        user,
        is_write: is_write(req.method(), &path),
        ..Default::default()
    };
    let mut drop_after = false;
    if entry.is_write {
        let (plural, name) = resource_of(&path);
        let answer = match shared.faults.on_write(&plural) {
            None => None,
            Some(FaultKind::Conflict) => Some(error(
                409,
                "Conflict",
                &format!(
                    "Operation cannot be fulfilled on {plural} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                ),
            )),
            Some(FaultKind::Internal) => Some(error(
                500,
                "InternalError",
                "Internal error occurred: injected fault",
            )),
            Some(FaultKind::TooManyRequests { retry_after_secs }) => {
                let mut r = error(
                    429,
                    "TooManyRequests",
                    "Too many requests, please try again later.",
                );
                if let Ok(v) = retry_after_secs.to_string().parse() {
                    r.headers_mut().insert("retry-after", v);
                }
                Some(r)
            }
            Some(FaultKind::DropBeforeApply) => {
                shared.faults.record(entry);
                kill.notify_one();
                return Err(Cut);
            }
            Some(FaultKind::DropAfterApply) => {
                drop_after = true;
                None
            }
        };
        if let Some(r) = answer {
            entry.status = r.status().as_u16();
            shared.faults.record(entry);
            return Ok(r);
        }
    }
    let client_upgrade = hyper::upgrade::on(&mut req);
    let wants_upgrade = req.headers().contains_key("upgrade");
    let resp = {
        let mut s = sender.lock().await;
        if s.ready().await.is_err() {
            entry.status = 502;
            shared.faults.record(entry);
            return Ok(error(
                502,
                "ServiceUnavailable",
                "the API server closed the connection",
            ));
        }
        s.send_request(req).await
    };
    let mut resp = match resp {
        Ok(r) => r,
        Err(e) => {
            entry.status = 502;
            shared.faults.record(entry);
            return Ok(error(
                502,
                "ServiceUnavailable",
                &format!("proxying to the API server: {e}"),
            ));
        }
    };
    entry.status = resp.status().as_u16();
    shared.faults.record(entry);
    if drop_after {
        // The API server applied the write; the client never hears of it.
        kill.notify_one();
        return Err(Cut);
    }
    if wants_upgrade && resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let server_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            if let (Ok(c), Ok(s)) = (client_upgrade.await, server_upgrade.await) {
                let (mut c, mut s) = (TokioIo::new(c), TokioIo::new(s));
                let _ = tokio::io::copy_bidirectional(&mut c, &mut s).await;
            }
        });
    }
    Ok(resp.map(|b| b.boxed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_resource_and_writes_are_told_apart() {
        assert_eq!(
            resource_of("/api/v1/namespaces/monitoring/secrets/etcd-client-cert"),
            ("secrets".into(), "etcd-client-cert".into())
        );
        assert_eq!(
            resource_of("/apis/monitoring.coreos.com/v1/namespaces/m/prometheuses/p"),
            ("prometheuses".into(), "p".into())
        );
        assert_eq!(
            resource_of("/api/v1/namespaces/x"),
            ("namespaces".into(), "x".into())
        );
        assert_eq!(
            resource_of("/apis/discovery.k8s.io/v1/endpointslices"),
            ("endpointslices".into(), "".into())
        );
        assert!(is_write(
            &Method::PATCH,
            "/api/v1/namespaces/kube-system/services/s"
        ));
        assert!(!is_write(
            &Method::POST,
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        ));
        assert!(!is_write(&Method::POST, "/api/v1/namespaces/m/pods/p/exec"));
        assert!(!is_write(&Method::GET, "/api/v1/namespaces/m/pods/p"));
    }
}
