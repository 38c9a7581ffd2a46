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
    config: LiveConfig,
    /// When this kubelet API started (Unix seconds): `process_start_time_seconds`.
    started: f64,
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

/// A node's KubeletConfiguration as its kubelet API runs with it (None: kubeadm's defaults, no
/// `/configz`), replaced by [`reload`] when the kubelet restarts.
pub type LiveConfig = Arc<std::sync::RwLock<Option<Value>>>;

/// The kubelet's configuration file below a node's root (kubeadm's `--config`).
pub const CONFIG_FILE: &str = "var/lib/kubelet/config.yaml";

/// Write `config` as the node's configuration file (with its apiVersion and kind).
fn write_config_file(root: &std::path::Path, config: &Value) -> Result<()> {
    let mut doc =
        json!({"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration"});
    if let (Some(d), Some(c)) = (doc.as_object_mut(), config.as_object()) {
        d.extend(c.clone());
    }
    let path = root.join(CONFIG_FILE);
    std::fs::create_dir_all(path.parent().unwrap_or(root))?;
    std::fs::write(&path, serde_yaml_ng::to_string(&doc)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Read the configuration file at `path` into `live` (apiVersion and kind dropped, as
/// `/configz` shows it); a file that does not parse leaves `live` as it was.
pub fn reload(live: &LiveConfig, path: &std::path::Path) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut v: Value = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("{} is not a KubeletConfiguration", path.display()))?;
    if let Some(m) = v.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
    }
    *live.write().unwrap_or_else(|p| p.into_inner()) = Some(v);
    Ok(())
}

/// What a node's KubeletConfiguration says about authentication and authorization, with the
/// v1beta1 defaults for what it leaves out (anonymous off, token webhook on, mode Webhook). A
/// node without a configuration is kubeadm's (its `x509.clientCAFile` set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthConfig {
    pub anonymous: bool,
    pub webhook: bool,
    pub x509: bool,
    /// `authorization.mode: AlwaysAllow` (else Webhook: a SubjectAccessReview).
    pub always_allow: bool,
}

impl AuthConfig {
    pub fn from_config(config: Option<&Value>) -> AuthConfig {
        let Some(c) = config else {
            return AuthConfig {
                anonymous: false,
                webhook: true,
                x509: true,
                always_allow: false,
            };
        };
        let a = &c["authentication"];
        AuthConfig {
            anonymous: a["anonymous"]["enabled"].as_bool().unwrap_or(false),
            webhook: a["webhook"]["enabled"].as_bool().unwrap_or(true),
            x509: a["x509"]["clientCAFile"]
                .as_str()
                .is_some_and(|f| !f.is_empty()),
            always_allow: c["authorization"]["mode"] == "AlwaysAllow",
        }
    }
}

/// How a request authenticates (`DelegatingAuthenticatorConfig.New`): the x509 and the token
/// authenticators in a union, with `system:authenticated` added; then, when anonymous is on,
/// `system:anonymous` for a request neither claims, unless one failed with an error (a token the
/// TokenReview did not authenticate: `union.NewFailOnError`), which is a 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A client certificate of the cluster CA (its user).
    Cert,
    /// A bearer token (non-empty) in the Authorization header.
    Token(String),
    None,
}

/// The credential the authenticators of `cfg` look at, in their order.
pub fn credential(cfg: AuthConfig, has_cert: bool, authorization: Option<&str>) -> Credential {
    if cfg.x509 && has_cert {
        return Credential::Cert;
    }
    let token = authorization.and_then(|v| {
        let mut parts = v.trim().splitn(3, ' ');
        let scheme = parts.next()?;
        let token = parts.next()?;
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
    });
    match token {
        Some(t) if cfg.webhook => Credential::Token(t),
        _ => Credential::None,
    }
}

/// The user `system:anonymous` (group `system:unauthenticated`).
pub fn anonymous() -> UserInfo {
    UserInfo {
        name: "system:anonymous".into(),
        uid: String::new(),
        groups: vec!["system:unauthenticated".into()],
        extra: json!({}),
    }
}

impl Node {
    fn config(&self) -> Option<Value> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn auth(&self) -> AuthConfig {
        AuthConfig::from_config(self.config().as_ref())
    }

    async fn authenticate(
        &self,
        req: &Request<Incoming>,
        cert: Option<&UserInfo>,
    ) -> Option<UserInfo> {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let auth = self.auth();
        match credential(auth, cert.is_some(), header) {
            Credential::Cert => cert.cloned(),
            Credential::Token(t) => self.token_review(&t).await,
            Credential::None => auth.anonymous.then(anonymous),
        }
    }

    async fn token_review(&self, token: &str) -> Option<UserInfo> {
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
        let mut groups: Vec<String> = u["groups"]
            .as_array()
            .map(|g| {
                g.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".into());
        }
        Some(UserInfo {
            name: u["username"].as_str().unwrap_or("").to_string(),
            uid: u["uid"].as_str().unwrap_or("").to_string(),
            groups,
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

    /// `InstallAuthFilter`: 401 `Unauthorized` when no authenticator claims the request, else
    /// each attribute authorized in turn (AlwaysAllow: allowed), 403 when none is allowed.
    async fn auth_filter(
        &self,
        req: &Request<Incoming>,
        cert: Option<&UserInfo>,
    ) -> Option<Response<Body>> {
        let Some(user) = self.authenticate(req, cert).await else {
            return Some(plain(401, "Unauthorized"));
        };
        if self.auth().always_allow {
            return None;
        }
        let verb = verb(req.method());
        let subs = subresources(req.uri().path());
        for s in &subs {
            match self.authorize(&user, verb, s).await {
                Ok(true) => return None,
                Ok(false) => {}
                Err(_) => {
                    return Some(plain(
                        500,
                        &format!(
                            "Authorization error (user={}, verb={verb}, resource=nodes, subresource={s})",
                            user.name
                        ),
                    ));
                }
            }
        }
        Some(plain(
            403,
            &format!(
                "Forbidden (user={}, verb={verb}, resource=nodes, subresource(s)=[{}])\n",
                user.name,
                subs.join(" ")
            ),
        ))
    }

    async fn handle(&self, mut req: Request<Incoming>, cert: Option<UserInfo>) -> Response<Body> {
        if let Some(refused) = self.auth_filter(&req, cert.as_ref()).await {
            return refused;
        }
        let path = req.uri().path().to_string();
        if path.starts_with("/metrics") {
            return self.metrics(&path);
        }
        match path.as_str() {
            "/healthz" => plain(200, "ok"),
            "/configz" => match &self.config() {
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

    /// The metrics handlers (`kubelet_metrics.rs`), on what the agent runs on this node now.
    fn metrics(&self, path: &str) -> Response<Body> {
        let root = self.shared.dir.join("nodes").join(&self.spec.name);
        let now = std::time::SystemTime::now();
        let mut pods: Vec<(String, String, String, f64)> = self
            .shared
            .pods
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, r)| r.starts_with(&root))
            .map(|((ns, name), r)| {
                let since = std::fs::metadata(r)
                    .and_then(|m| m.created().or_else(|_| m.modified()))
                    .ok();
                let secs = since
                    .and_then(|t| now.duration_since(t).ok())
                    .map_or(0.0, |d| d.as_secs_f64());
                let uid = r.file_name().map(|u| u.to_string_lossy().into_owned());
                (ns.clone(), name.clone(), uid.unwrap_or_default(), secs)
            })
            .collect();
        pods.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let mut containers: Vec<(String, String, String)> = self
            .shared
            .views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, (v, _))| v.root.starts_with(&root))
            .map(|(k, _)| k.clone())
            .collect();
        containers.sort();
        let snap = super::kubelet_metrics::Snapshot {
            node: self.spec.name.clone(),
            pods,
            containers,
            start_time: self.started,
            now_ms: now
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            machine: super::kubelet_metrics::machine(),
        };
        match super::kubelet_metrics::render(path, &snap) {
            Some(text) => Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, super::kubelet_metrics::CONTENT_TYPE)
                .body(crate::api::full(text))
                .expect("static headers"),
            None => plain(404, "404 page not found\n"),
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
    let config: LiveConfig = Arc::new(std::sync::RwLock::new(spec.config.clone()));
    if let Some(c) = &spec.config {
        write_config_file(&shared.dir.join("nodes").join(&spec.name), c)?;
    }
    shared
        .kubelet_configs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(spec.name.clone(), config.clone());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let node = Arc::new(Node {
        spec,
        api,
        shared,
        config,
        started,
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> AuthConfig {
        AuthConfig::from_config(Some(&serde_json::from_str(text).unwrap()))
    }

    /// The seed's worker: anonymous on, token webhook off, mode Webhook, x509 on.
    const WORKER: &str = r#"{"authentication": {"anonymous": {"enabled": true},
        "webhook": {"enabled": false}, "x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"}},
        "authorization": {"mode": "Webhook"}}"#;

    #[test]
    fn the_configuration_and_its_v1beta1_defaults() {
        let w = cfg(WORKER);
        assert_eq!(
            w,
            AuthConfig {
                anonymous: true,
                webhook: false,
                x509: true,
                always_allow: false
            }
        );
        // Left out: anonymous off, webhook on, Webhook mode, no client CA.
        assert_eq!(
            cfg("{}"),
            AuthConfig {
                anonymous: false,
                webhook: true,
                x509: false,
                always_allow: false
            }
        );
        assert!(cfg(r#"{"authorization": {"mode": "AlwaysAllow"}}"#).always_allow);
        // No configuration at all: kubeadm's.
        let k = AuthConfig::from_config(None);
        assert!(k.x509 && k.webhook && !k.anonymous && !k.always_allow);
    }

    #[test]
    fn which_authenticator_judges_a_request() {
        let w = cfg(WORKER);
        let k = AuthConfig::from_config(None);
        let bearer = Some("Bearer abc");
        // Token webhook off: the bearer token is not looked at (anonymous then answers).
        assert_eq!(credential(w, false, bearer), Credential::None);
        assert_eq!(
            credential(k, false, bearer),
            Credential::Token("abc".into())
        );
        assert_eq!(credential(k, false, Some("bearer  abc")), Credential::None);
        assert_eq!(credential(k, false, Some("Basic abc")), Credential::None);
        assert_eq!(credential(k, false, None), Credential::None);
        // A client certificate first, when a client CA is configured.
        assert_eq!(credential(k, true, bearer), Credential::Cert);
        assert_eq!(
            credential(cfg("{}"), true, bearer),
            Credential::Token("abc".into())
        );
        assert_eq!(anonymous().name, "system:anonymous");
        assert_eq!(anonymous().groups, ["system:unauthenticated"]);
    }

    #[test]
    fn metrics_paths_are_authorized_as_nodes_metrics() {
        for p in [
            "/metrics",
            "/metrics/cadvisor",
            "/metrics/probes",
            "/metrics/resource",
        ] {
            assert_eq!(subresources(p), ["metrics"], "{p}");
        }
        assert_eq!(subresources("/configz"), ["configz", "proxy"]);
        assert_eq!(subresources("/healthz"), ["healthz", "proxy"]);
        assert_eq!(subresources("/metricsx"), ["proxy"]);
    }
}
