//! Helpers for tests: a bare in-process cluster (store with namespaces, an admin and a limited
//! user, no controllers, no peers) with its API server, and an HTTPS client that trusts its CA
//! (HTTP/2 or HTTP/1.1 by ALPN).

use super::{ApiServer, start, write_kubeconfig};
use crate::auth::{Auth, Rule, User};
use crate::cluster::Cluster;
use crate::faults::Faults;
use crate::kubelet::Kubelet;
use crate::resources::Registry;
use crate::store::{Store, WriteCtx};
use anyhow::Context;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

pub const ADMIN_TOKEN: &str = "admin-token";
pub const LIMITED_TOKEN: &str = "limited-token";

/// `admin`: everything.
pub fn admin() -> User {
    User {
        name: "admin".into(),
        token: ADMIN_TOKEN.into(),
        groups: vec!["system:masters".into()],
        rules: vec![Rule::all()],
    }
}

/// `limited`: reads configmaps, services and endpoints in `monitoring`, nothing else.
pub fn limited() -> User {
    User {
        name: "limited".into(),
        token: LIMITED_TOKEN.into(),
        groups: vec![],
        rules: vec![Rule::resources(
            &["get", "list", "watch"],
            &[""],
            &["configmaps", "services", "endpoints"],
            &["monitoring"],
        )],
    }
}

/// The namespaces every bare cluster has.
pub const NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "monitoring"];

/// A `Cluster` with a store holding the namespaces of `NAMESPACES`, the given users, and no
/// controllers or peers.
pub fn bare_cluster(
    net: u8,
    version: &str,
    users: Vec<User>,
    with_operator: bool,
    dir: PathBuf,
) -> Cluster {
    let store = Store::new(Registry::new(with_operator));
    let ns = store.rt("namespaces");
    for n in NAMESPACES {
        let _ = store.create(
            &ns,
            None,
            json!({"metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
            &WriteCtx::update("kube-apiserver"),
        );
    }
    Cluster {
        store: Arc::new(store),
        dir,
        net,
        version: version.to_string(),
        auth: Auth::new(users),
        faults: Faults::new(),
        kubelet: Kubelet::new(),
    }
}

/// A bare cluster with its API server running. Dropping it stops the server and removes the dir.
pub struct TestCluster {
    pub cluster: Arc<Cluster>,
    pub server: ApiServer,
    pub dir: tempfile::TempDir,
}

/// Build and start a bare cluster on 127.`net`.0.1 (admin and limited users, operator types served).
pub async fn start_bare(net: u8, version: &str) -> anyhow::Result<TestCluster> {
    start_with(net, version, vec![admin(), limited()]).await
}

/// Build and start a bare cluster with these users (the first one is the kubeconfig's current
/// context), operator types served.
pub async fn start_with(net: u8, version: &str, users: Vec<User>) -> anyhow::Result<TestCluster> {
    let dir = tempfile::tempdir()?;
    let cluster = Arc::new(bare_cluster(
        net,
        version,
        users,
        true,
        dir.path().to_path_buf(),
    ));
    let server = start(cluster.clone()).await?;
    Ok(TestCluster {
        cluster,
        server,
        dir,
    })
}

impl TestCluster {
    /// A client with this bearer token (None: unauthenticated).
    pub fn client(&self, token: Option<&str>) -> Client {
        Client::new(&self.server, token)
    }

    pub fn admin(&self) -> Client {
        self.client(Some(ADMIN_TOKEN))
    }

    /// Write a kubeconfig for the cluster's users into the cluster dir and return its path.
    pub fn kubeconfig(&self) -> anyhow::Result<PathBuf> {
        let p = self.dir.path().join("kubeconfig");
        write_kubeconfig(&p, &self.server, &self.cluster.auth.users)?;
        Ok(p)
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    /// The body as JSON (Null if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An HTTPS client for one API server. Every request opens its own connection.
#[derive(Clone)]
pub struct Client {
    addr: std::net::SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    token: Option<String>,
    /// Offer only HTTP/1.1 in ALPN.
    pub http1_only: bool,
    pub user_agent: String,
}

impl Client {
    pub fn new(server: &ApiServer, token: Option<&str>) -> Client {
        Client::with(server, token, false)
    }

    fn with(server: &ApiServer, token: Option<&str>, http1_only: bool) -> Client {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(server.ca_pem.as_bytes()).flatten() {
            let _ = roots.add(c);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = if http1_only {
            vec![b"http/1.1".to_vec()]
        } else {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        };
        Client {
            addr: server.addr,
            tls: Arc::new(cfg),
            token: token.map(str::to_string),
            http1_only,
            user_agent: "promfix-test-client/0.0".into(),
        }
    }

    /// The same client speaking HTTP/1.1 only.
    pub fn http1(&self) -> Client {
        let mut c = self.clone();
        let mut cfg = (*self.tls).clone();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        c.tls = Arc::new(cfg);
        c.http1_only = true;
        c
    }

    /// Send a request and return the response head with its streaming body.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<Response<Incoming>> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await?;
        let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
        let name = ServerName::IpAddress(self.addr.ip().into());
        let tls = connector.connect(name, tcp).await?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
        let uri = if h2 {
            format!("https://{}{}", self.addr, path_and_query)
        } else {
            path_and_query.to_string()
        };
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header("user-agent", &self.user_agent);
        if !h2 {
            b = b.header("host", self.addr.to_string());
        }
        if let Some(t) = &self.token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(Full::new(Bytes::from(body)))?;
        if h2 {
            let (mut send, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                    .await?;
            tokio::spawn(conn);
            Ok(send.send_request(req).await?)
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
            tokio::spawn(conn.with_upgrades());
            Ok(send.send_request(req).await?)
        }
    }

    /// Send a request and read the whole response.
    pub async fn request(
        &self,
        method: Method,
        path_and_query: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> anyhow::Result<Resp> {
        let mut headers = vec![("accept", "application/json")];
        if let Some(ct) = content_type {
            headers.push(("content-type", ct));
        }
        let r = self.send(method, path_and_query, &headers, body).await?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r
            .into_body()
            .collect()
            .await
            .context("reading the response body")?
            .to_bytes();
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Resp> {
        self.request(Method::GET, path, None, Vec::new()).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Resp> {
        self.request(
            Method::POST,
            path,
            Some("application/json"),
            serde_json::to_vec(body)?,
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Resp> {
        self.request(
            Method::PUT,
            path,
            Some("application/json"),
            serde_json::to_vec(body)?,
        )
        .await
    }

    pub async fn patch(&self, path: &str, content_type: &str, body: &[u8]) -> anyhow::Result<Resp> {
        self.request(Method::PATCH, path, Some(content_type), body.to_vec())
            .await
    }

    pub async fn delete(&self, path: &str, body: Option<&Value>) -> anyhow::Result<Resp> {
        let b = match body {
            Some(v) => serde_json::to_vec(v)?,
            None => Vec::new(),
        };
        self.request(Method::DELETE, path, body.map(|_| "application/json"), b)
            .await
    }
}
