//! The kubelet API of each node (`pkg/kubelet/server`): HTTPS on the node's InternalIP and its
//! `daemonEndpoints.kubeletEndpoint.Port`, inside the cluster's network namespace, with a serving
//! certificate of the cluster CA (`CN=system:node:<name>`, SANs: node IP and name).
//!
//! Authentication and authorization as kubeadm's KubeletConfiguration sets them: a client
//! certificate of the cluster CA (`authentication.x509.clientCAFile`), else a bearer token asked of
//! the API server with a TokenReview (`webhook.enabled`), else 401 `Unauthorized`; then a
//! SubjectAccessReview per attribute of `nodeAuthorizerAttributesGetter` (auth.go: verb from the
//! method, resource `nodes`, subresources by path with KubeletFineGrainedAuthz, GA in 1.36),
//! allowed when any is, else 403 `Forbidden (user=..., verb=..., resource=nodes,
//! subresource(s)=[...])`. No decision cache (the kubelet caches 5 min / 30 s).
//!
//! Served: `/healthz`, `/configz` (the scenario's `kubelets` entry of the node), and
//! `/exec/{ns}/{pod}[/{uid}]/{container}` over WebSocket (`exec.rs`'s sessions).

use super::NodeSpec;
use super::api::ApiClient;
use crate::api::Body;
use crate::exec::{self, ExecOptions, ExecSession, Outcome, Path as ExecPath, go_quote};
use anyhow::{Context, Result};
use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use serde_json::{Value, json};
use std::sync::Arc;

/// Who a request is (`user.Info`).
#[derive(Debug, Clone)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: Value,
}

struct Node {
    spec: NodeSpec,
    api: ApiClient,
    shared: Arc<super::Shared>,
}

/// The text answers of go-restful's `WriteErrorString` and Go's `http.Error`.
fn plain(code: u16, text: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(crate::api::full(text.to_string()))
        .expect("static headers")
}

/// CN and O of a client certificate (what the x509 authenticator makes of it).
fn cert_user(der: &[u8]) -> Option<UserInfo> {
    let (_, c) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = c.subject();
    let name = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let mut groups: Vec<String> = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    groups.push("system:authenticated".into());
    Some(UserInfo {
        name,
        uid: String::new(),
        groups,
        extra: json!({}),
    })
}

/// The subresources the kubelet authorizes a path as (auth.go `GetRequestAttributes`).
pub fn subresources(path: &str) -> Vec<&'static str> {
    let sub = |p: &str| {
        let p = p.trim_end_matches('/');
        path == p || (path.starts_with(p) && path.as_bytes().get(p.len()) == Some(&b'/'))
    };
    let mut v = Vec::new();
    if sub("/allocatedPods") || sub("/pods") || sub("/runningpods/") {
        v.push("pods");
    } else if sub("/healthz") {
        v.push("healthz");
    } else if sub("/configz") {
        v.push("configz");
    }
    v.push(if sub("/stats/") {
        "stats"
    } else if sub("/metrics") {
        "metrics"
    } else if sub("/logs/") {
        "log"
    } else if sub("/checkpoint/") {
        "checkpoint"
    } else if sub("/statusz") {
        "statusz"
    } else if sub("/flagz") {
        "configz"
    } else {
        "proxy"
    });
    v
}

fn verb(m: &http::Method) -> &'static str {
    match *m {
        http::Method::POST => "create",
        http::Method::GET => "get",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "",
    }
}

impl Node {
    async fn authenticate(
        &self,
        req: &Request<Incoming>,
        cert: Option<&UserInfo>,
    ) -> Option<UserInfo> {
        if let Some(u) = cert {
            return Some(u.clone());
        }
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))?
            .trim()
            .to_string();
        let review = json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": token},
        });
        let r = self
            .api
            .post("/apis/authentication.k8s.io/v1/tokenreviews", &review)
            .await
            .ok()?;
        if r["status"]["authenticated"] != true {
            return None;
        }
        let u = &r["status"]["user"];
        Some(UserInfo {
            name: u["username"].as_str().unwrap_or("").to_string(),
            uid: u["uid"].as_str().unwrap_or("").to_string(),
            groups: u["groups"]
                .as_array()
                .map(|g| {
                    g.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            extra: u.get("extra").cloned().unwrap_or(json!({})),
        })
    }

    async fn authorize(&self, u: &UserInfo, verb: &str, sub: &str) -> Result<bool> {
        let review = json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {
                "user": u.name, "uid": u.uid, "groups": u.groups, "extra": u.extra,
                "resourceAttributes": {
                    "verb": verb, "version": "v1", "resource": "nodes",
                    "subresource": sub, "name": self.spec.name,
                },
            },
        });
        let r = self
            .api
            .post(
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                &review,
            )
            .await?;
        Ok(r["status"]["allowed"] == true)
    }

    async fn handle(&self, mut req: Request<Incoming>, cert: Option<UserInfo>) -> Response<Body> {
        let Some(user) = self.authenticate(&req, cert.as_ref()).await else {
            return plain(401, "Unauthorized");
        };
        let path = req.uri().path().to_string();
        let verb = verb(req.method());
        let subs = subresources(&path);
        let mut allowed = false;
        for s in &subs {
            match self.authorize(&user, verb, s).await {
                Ok(true) => {
                    allowed = true;
                    break;
                }
                Ok(false) => {}
                Err(_) => {
                    return plain(
                        500,
                        &format!(
                            "Authorization error (user={}, verb={verb}, resource=nodes, subresource={s})",
                            user.name
                        ),
                    );
                }
            }
        }
        if !allowed {
            return plain(
                403,
                &format!(
                    "Forbidden (user={}, verb={verb}, resource=nodes, subresource(s)=[{}])\n",
                    user.name,
                    subs.join(" ")
                ),
            );
        }
        match path.as_str() {
            "/healthz" => plain(200, "ok"),
            "/configz" => match &self.spec.config {
                Some(c) => Response::builder()
                    .status(StatusCode::OK)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header("X-Content-Type-Options", "nosniff")
                    .body(crate::api::full(
                        serde_json::to_vec(&json!({ "kubeletconfig": c })).unwrap_or_default(),
                    ))
                    .expect("static headers"),
                None => plain(404, "404 page not found\n"),
            },
            p if p.starts_with("/containerLogs/") => {
                super::container_logs::serve(&self.shared, p, req.uri().query())
            }
            p if p.starts_with("/exec/") => {
                let parts: Vec<String> =
                    p["/exec/".len()..].split('/').map(str::to_string).collect();
                let (ns, pod, container) = match parts.len() {
                    3 => (&parts[0], &parts[1], &parts[2]),
                    4 => (&parts[0], &parts[1], &parts[3]),
                    _ => return plain(404, "404 page not found\n"),
                };
                self.exec(&mut req, ns, pod, container)
            }
            _ => plain(404, "404 page not found\n"),
        }
    }

    /// `getExec` of pkg/kubelet/server/server.go.
    fn exec(
        &self,
        req: &mut Request<Incoming>,
        ns: &str,
        pod: &str,
        container: &str,
    ) -> Response<Body> {
        // The API server names the streams as the kubelet reads them (ExecLocation's
        // streamParams: `input`, `output`, `error`, `tty`).
        let q = req.uri().query().unwrap_or("").to_string();
        let renamed: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some(("input", v)) => format!("stdin={v}"),
                Some(("output", v)) => format!("stdout={v}"),
                Some(("error", v)) => format!("stderr={v}"),
                _ => p.to_string(),
            })
            .collect();
        let opts = ExecOptions::from_query(Some(&renamed.join("&")));
        // NewOptions: stderr is dropped with a TTY before the check.
        if !opts.stdin && !opts.stdout && (!opts.stderr || opts.tty) {
            return plain(400, "you must specify at least 1 of stdin, stdout, stderr");
        }
        if self.shared.pod_dir(ns, pod).is_none() {
            return plain(404, "pod does not exist");
        }
        let Some((view, netns)) = self.shared.view(ns, pod, container) else {
            return plain(
                500,
                &format!("container not found ({})", go_quote(container)),
            );
        };
        if !exec::is_upgrade_request(req.headers()) {
            return plain(500, "Upgrade request required\n");
        }
        if !exec::is_websocket_request(req.headers()) {
            // The CRI streaming server would speak SPDY here; the agent serves WebSocket only.
            return plain(
                400,
                "SPDY is not served by this node agent: use WebSocket (kubectl 1.30 or newer)\n",
            );
        }
        // A v5 request: the kubelet's stream translator; else the runtime's WebSocket server.
        let (path, protocol) = exec::select_protocol(req.headers());
        let session = ExecSession {
            path,
            opts,
            view: Some(view),
            refused: None::<Outcome>,
            netns,
        };
        let _: ExecPath = path;
        exec::accept_websocket(req, protocol, session)
    }
}

/// Serve the kubelet API of `spec` until the task is aborted.
pub fn start(
    shared: Arc<super::Shared>,
    spec: NodeSpec,
    api: ApiClient,
    ca: &std::path::Path,
    serving: (&std::path::Path, &std::path::Path),
) -> Result<tokio::task::JoinHandle<()>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca)? {
        roots.add(c?)?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()?;
    let chain = CertificateDer::pem_file_iter(serving.0)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(serving.1)?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let addr = std::net::SocketAddr::from((spec.ip, spec.port));
    let std_listener = shared.ns.bind_tcp(addr)?;
    let listener = tokio::net::TcpListener::from_std(std_listener)
        .with_context(|| format!("the kubelet API listener on {addr}"))?;
    let node = Arc::new(Node { spec, api, shared });
    Ok(tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, node) = (acceptor.clone(), node.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let cert = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| cert_user(c));
                let svc = hyper::service::service_fn(move |req| {
                    let (node, cert) = (node.clone(), cert.clone());
                    async move { Ok::<_, std::convert::Infallible>(node.handle(req, cert).await) }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder
                    .serve_connection_with_upgrades(TokioIo::new(tls), svc)
                    .await;
            });
        }
    }))
}
