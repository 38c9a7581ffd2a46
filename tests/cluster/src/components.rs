//! The node-side metrics servers of the components the kubelet runs: what a scrape of a node IP
//! reaches depends on the pods on that node, as on a real cluster.
//!
//! * **kube-proxy** (a container whose command is `kube-proxy`): its `--config` file (the
//!   mounted ConfigMap, read once when the container starts, as kube-proxy does) gives
//!   `metricsBindAddress`; unset means kube-proxy's default `127.0.0.1:10249`
//!   (pkg/proxy/apis/config/v1alpha1/defaults.go). A flag `--metrics-bind-address` wins over
//!   nothing here: with `--config`, kube-proxy ignores the other flags. Plain HTTP `/metrics`.
//! * **kube-scheduler / kube-controller-manager**: the secure port (`--secure-port`, default
//!   10259 / 10257; 0 turns it off) on `--bind-address` (default `0.0.0.0`), HTTPS with the
//!   delegated authentication and authorization of k8s.io/apiserver: no token is
//!   `system:anonymous` (anonymous is on for delegated authentication), a token the cluster does
//!   not know is 401, and `/metrics` needs `get` on the nonResourceURL by RBAC (a
//!   SubjectAccessReview), else 403 with the apiserver's Status body; `/healthz`, `/readyz`,
//!   `/livez` are always allowed (`--authorization-always-allow-paths`). An insecure `--port=N`
//!   (N > 0, before v1.23) serves plain HTTP on `--address` (default `0.0.0.0`).
//!
//! A node's addresses are its InternalIP (127.NET.2.x); an address that is neither the node IP
//! nor unspecified (`0.0.0.0`, `::`, empty) is node-local (127.0.0.1 on the real node) and can
//! never be reached from a Prometheus pod, so nothing is bound for it: the node IP refuses.

use crate::auth::{Attributes, User};
use crate::cluster::Cluster;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How a server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// Plain HTTP `/metrics` for anyone.
    Plain,
    /// HTTPS with delegated authentication and authorization.
    Delegated,
}

/// One server a container runs on its node's IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub component: &'static str,
    pub addr: SocketAddr,
    pub serving: Serving,
}

/// The value of `--name=value` (or `--name value`) in a command line.
pub fn flag<'a>(argv: &'a [String], name: &str) -> Option<&'a str> {
    let long = format!("--{name}");
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix(&long) {
            if let Some(v) = v.strip_prefix('=') {
                return Some(v);
            }
            if v.is_empty() {
                return it.next().map(String::as_str);
            }
        }
    }
    None
}

/// Which component a container runs, by its command's program name.
pub fn component_of(argv: &[String]) -> Option<&'static str> {
    let prog = argv.first()?.rsplit('/').next()?;
    ["kube-proxy", "kube-scheduler", "kube-controller-manager"]
        .into_iter()
        .find(|c| *c == prog)
}

/// `host` as this node sees it: the node IP when the address is the node IP or unspecified,
/// `None` when it is node-local (or unparsable: the component would fail to start).
fn on_node(host: &str, node_ip: Ipv4Addr) -> Option<Ipv4Addr> {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    if h.is_empty() || h == "0.0.0.0" || h == "::" {
        return Some(node_ip);
    }
    match h.parse::<Ipv4Addr>() {
        Ok(ip) if ip == node_ip => Some(node_ip),
        _ => None,
    }
}

/// `host:port` (an IPv6 host in brackets) split; `None` when there is no port.
fn split_host_port(s: &str) -> Option<(&str, u16)> {
    let (h, p) = s.trim().rsplit_once(':')?;
    Some((h, p.parse().ok()?))
}

/// What the container with command line `argv` serves on `node_ip`. `config` is the text of
/// kube-proxy's `--config` file, when it has one.
pub fn servers(argv: &[String], config: Option<&str>, node_ip: Ipv4Addr) -> Vec<Server> {
    let Some(component) = component_of(argv) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match component {
        "kube-proxy" => {
            let from_config = config.and_then(|text| {
                let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).ok()?;
                Some(
                    v.get("metricsBindAddress")
                        .and_then(|a| a.as_str())
                        .unwrap_or("")
                        .to_string(),
                )
            });
            let addr = match from_config {
                Some(a) => a,
                None => flag(argv, "metrics-bind-address").unwrap_or("").to_string(),
            };
            let addr = if addr.trim().is_empty() {
                "127.0.0.1:10249".to_string()
            } else {
                addr
            };
            if let Some((h, port)) = split_host_port(&addr)
                && let Some(ip) = on_node(h, node_ip)
                && port > 0
            {
                out.push(Server {
                    component,
                    addr: SocketAddr::from((ip, port)),
                    serving: Serving::Plain,
                });
            }
        }
        _ => {
            let default_port = if component == "kube-scheduler" {
                10259
            } else {
                10257
            };
            let port = flag(argv, "secure-port")
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(default_port);
            let bind = flag(argv, "bind-address").unwrap_or("0.0.0.0");
            if port > 0
                && let Some(ip) = on_node(bind, node_ip)
            {
                out.push(Server {
                    component,
                    addr: SocketAddr::from((ip, port)),
                    serving: Serving::Delegated,
                });
            }
            let insecure = flag(argv, "port")
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(0);
            let address = flag(argv, "address").unwrap_or("0.0.0.0");
            if insecure > 0
                && let Some(ip) = on_node(address, node_ip)
            {
                out.push(Server {
                    component,
                    addr: SocketAddr::from((ip, insecure)),
                    serving: Serving::Plain,
                });
            }
        }
    }
    out
}

/// A running server; stops when dropped.
pub struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The page every component serves.
pub const METRICS_BODY: &str = "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 1.7487648e+09\n";

/// An HTTPS acceptor with a fresh self-signed certificate for `ip` (the components' own
/// self-signed serving certificates, made at start when none is configured).
pub fn self_signed_acceptor(ip: Ipv4Addr) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()])?;
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(ip.into()));
    let cert = params.self_signed(&key)?;
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// The request line's path and the `Authorization` header of one HTTP/1.1 request head.
pub fn parse_head(head: &str) -> (String, Option<String>) {
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/")
        .to_string();
    let auth = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim().to_string());
    (path, auth)
}

/// An HTTP/1.1 response (the connection closes after it).
pub fn response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn status_body(code: u16, reason: &str, message: &str) -> String {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "details": {}, "code": code})
    .to_string()
        + "\n"
}

/// The authenticated user of a bearer token: the cluster's users, or a pod's service-account
/// token (the kubelet's placeholder `kubelet-projected-token-<pod uid>`), as a TokenReview
/// answers: `system:serviceaccount:<ns>:<name>` with the service-account groups.
pub fn token_user(cluster: &Cluster, token: &str) -> Option<(String, Vec<String>)> {
    if let Some(u) = cluster.auth.users.iter().find(|u| u.token == token) {
        let mut groups = u.groups.clone();
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".into());
        }
        return Some((u.name.clone(), groups));
    }
    let uid = token.strip_prefix("kubelet-projected-token-")?;
    let (pods, _) = cluster.store.list(&cluster.store.rt("pods"), None);
    let pod = pods.iter().find(|p| p["metadata"]["uid"] == uid)?;
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let sa = pod["spec"]
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default");
    Some((
        format!("system:serviceaccount:{ns}:{sa}"),
        vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
    ))
}

/// A token's user and groups, as a TokenReview answered it (`None`: not authenticated).
pub type TokenCache = Mutex<HashMap<String, Option<(String, Vec<String>)>>>;

/// The answer of a delegated-auth component to `GET path` with `authorization`: status line
/// and body.
pub fn delegated_answer(
    cluster: &Cluster,
    cache: &TokenCache,
    path: &str,
    authorization: Option<&str>,
) -> (&'static str, &'static str, String) {
    let json_ct = "application/json";
    let (name, groups) = match authorization {
        None => (
            "system:anonymous".to_string(),
            vec!["system:unauthenticated".to_string()],
        ),
        Some(h) => {
            let token = h
                .split_once(' ')
                .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim().to_string())
                .unwrap_or_default();
            let known = {
                let c = cache.lock().unwrap_or_else(|p| p.into_inner());
                c.get(&token).cloned()
            };
            let found = match known {
                Some(f) => f,
                None => {
                    let f = if token.is_empty() {
                        None
                    } else {
                        token_user(cluster, &token)
                    };
                    cache
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(token, f.clone());
                    f
                }
            };
            match found {
                Some(u) => u,
                None => {
                    return (
                        "401 Unauthorized",
                        json_ct,
                        status_body(401, "Unauthorized", "Unauthorized"),
                    );
                }
            }
        }
    };
    let always = ["/healthz", "/readyz", "/livez"];
    let allowed = always.contains(&path) || {
        let user: Option<&User> = cluster.auth.user(&name);
        cluster
            .auth
            .decide(user, &groups, &Attributes::non_resource("get", path))
            .0
    };
    if !allowed {
        return (
            "403 Forbidden",
            json_ct,
            status_body(
                403,
                "Forbidden",
                &format!("forbidden: User \"{name}\" cannot get path \"{path}\""),
            ),
        );
    }
    let (status, ct, body) = page(path, &always);
    (status, ct, body.into())
}

/// The pages a component serves once a request is let in: `/metrics`, its health paths, and
/// Go's 404 for the rest. Status line, content type, body.
fn page(path: &str, health: &[&str]) -> (&'static str, &'static str, &'static str) {
    if path == "/metrics" {
        (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            METRICS_BODY,
        )
    } else if health.contains(&path) {
        ("200 OK", "text/plain; charset=utf-8", "ok")
    } else {
        (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "404 page not found\n",
        )
    }
}

/// Start `server` for the cluster. Binding is retried while the address is taken (the pod it
/// replaces may still be stopping).
pub fn start(weak: Weak<Cluster>, server: Server) -> Running {
    Running(tokio::spawn(async move {
        let listener = loop {
            match tokio::net::TcpListener::bind(server.addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        let tls = match server.serving {
            Serving::Plain => None,
            Serving::Delegated => {
                let SocketAddr::V4(a) = server.addr else {
                    return;
                };
                match self_signed_acceptor(*a.ip()) {
                    Ok(t) => Some(t),
                    Err(_) => return,
                }
            }
        };
        let cache: Arc<TokenCache> = Arc::new(Mutex::new(HashMap::new()));
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let (tls, weak, cache) = (tls.clone(), weak.clone(), cache.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acc) => {
                        if let Ok(s) = acc.accept(sock).await {
                            answer(s, server.serving, &weak, &cache).await;
                        }
                    }
                    None => answer(sock, server.serving, &weak, &cache).await,
                }
            });
        }
    }))
}

async fn answer<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    serving: Serving,
    weak: &Weak<Cluster>,
    cache: &TokenCache,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let (path, auth) = parse_head(&head);
    let resp = match serving {
        Serving::Plain => {
            let (status, ct, body) = page(&path, &["/healthz"]);
            response(status, ct, body)
        }
        Serving::Delegated => {
            let Some(cluster) = weak.upgrade() else {
                return;
            };
            let (status, ct, body) = delegated_answer(&cluster, cache, &path, auth.as_deref());
            response(status, ct, &body)
        }
    };
    let _ = s.write_all(resp.as_bytes()).await;
    let _ = s.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    const NODE: Ipv4Addr = Ipv4Addr::new(127, 9, 2, 11);

    #[test]
    fn kube_proxy_serves_on_the_node_only_when_bound_there() {
        let a = argv("/usr/local/bin/kube-proxy --config=/var/lib/kube-proxy/config.conf");
        let at = |cfg: &str| servers(&a, Some(cfg), NODE);
        let node = vec![Server {
            component: "kube-proxy",
            addr: SocketAddr::from((NODE, 10249)),
            serving: Serving::Plain,
        }];
        assert_eq!(at("metricsBindAddress: 0.0.0.0:10249\n"), node);
        assert_eq!(at("metricsBindAddress: \"127.9.2.11:10249\"\n"), node);
        assert_eq!(at("metricsBindAddress: '[::]:10249'\n"), node);
        // kubeadm writes "" (kube-proxy's default: 127.0.0.1:10249), the seed 127.0.0.1:10249.
        assert_eq!(at("metricsBindAddress: \"\"\n"), vec![]);
        assert_eq!(at("mode: iptables\n"), vec![]);
        assert_eq!(at("metricsBindAddress: 127.0.0.1:10249\n"), vec![]);
        assert_eq!(at("metricsBindAddress: 0.0.0.0:0\n"), vec![]);
    }

    #[test]
    fn scheduler_and_controller_manager_follow_their_flags() {
        let sched = |flags: &str| servers(&argv(&format!("kube-scheduler {flags}")), None, NODE);
        let secure = |component, port| Server {
            component,
            addr: SocketAddr::from((NODE, port)),
            serving: Serving::Delegated,
        };
        assert_eq!(
            sched("--bind-address=127.0.0.1"),
            vec![],
            "kubeadm's manifest"
        );
        assert_eq!(
            sched("--bind-address=0.0.0.0"),
            vec![secure("kube-scheduler", 10259)]
        );
        assert_eq!(sched(""), vec![secure("kube-scheduler", 10259)]);
        assert_eq!(sched("--secure-port=0"), vec![]);
        assert_eq!(
            sched("--bind-address 0.0.0.0 --secure-port 11259"),
            vec![secure("kube-scheduler", 11259)]
        );
        // Before 1.23: --port=0 (kubeadm since 1.17.9/1.19) closes the insecure port.
        assert_eq!(
            sched("--bind-address=127.0.0.1 --port=0"),
            vec![],
            "kubeadm 1.19"
        );
        assert_eq!(
            sched("--address=0.0.0.0 --port=10251 --bind-address=127.0.0.1"),
            vec![Server {
                component: "kube-scheduler",
                addr: SocketAddr::from((NODE, 10251)),
                serving: Serving::Plain,
            }]
        );
        let kcm = servers(
            &argv("kube-controller-manager --bind-address=0.0.0.0"),
            None,
            NODE,
        );
        assert_eq!(kcm, vec![secure("kube-controller-manager", 10257)]);
        assert_eq!(servers(&argv("etcd --x"), None, NODE), vec![]);
        assert_eq!(servers(&[], None, NODE), vec![]);
    }

    /// The secure ports answer as k8s.io/apiserver's delegated authentication and
    /// authorization do: anonymous → 403, an unknown token → 401, a pod's service-account token
    /// → its service account, allowed by RBAC on the nonResourceURL; health paths always.
    #[test]
    fn delegated_authorization_follows_rbac() {
        use crate::auth::{Auth, Rule};
        use crate::faults::Faults;
        use crate::kubelet::Kubelet;
        use crate::resources::Registry;
        use crate::store::{Store, WriteCtx};
        let t = tempfile::tempdir().unwrap();
        let store = Store::new(Registry::new(true));
        store
            .create(
                &store.rt("namespaces"),
                None,
                json!({"metadata": {"name": "monitoring"}}),
                &WriteCtx::update("test"),
            )
            .unwrap();
        let pod = |name: &str, sa: &str| {
            store
                .create(
                    &store.rt("pods"),
                    Some("monitoring"),
                    json!({"metadata": {"name": name},
                           "spec": {"serviceAccountName": sa, "containers": [{"name": "c", "image": "i"}]}}),
                    &WriteCtx::update("test"),
                )
                .unwrap()["metadata"]["uid"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let prom = pod("prometheus-0", "prometheus");
        let other = pod("other-0", "other");
        let prom_sa = User {
            name: "system:serviceaccount:monitoring:prometheus".into(),
            token: "unused-token".into(),
            groups: vec![],
            rules: vec![Rule {
                verbs: vec!["get".into()],
                non_resource_urls: vec!["/metrics".into()],
                ..Rule::default()
            }],
        };
        let c = Cluster {
            store: Arc::new(store),
            dir: t.path().to_path_buf(),
            net: 9,
            version: "v1.33.1".into(),
            auth: Auth::new(vec![prom_sa]),
            faults: Faults::new(),
            kubelet: Kubelet::new(),
        };
        let cache = Mutex::new(HashMap::new());
        let ask = |path: &str, auth: Option<String>| {
            let (status, _, body) = delegated_answer(&c, &cache, path, auth.as_deref());
            (status, body)
        };
        let bearer = |uid: &str| Some(format!("Bearer kubelet-projected-token-{uid}"));

        let (st, body) = ask("/metrics", bearer(&prom));
        assert_eq!((st, body.as_str()), ("200 OK", METRICS_BODY));
        let (st, body) = ask("/metrics", None);
        assert_eq!(st, "403 Forbidden");
        assert!(
            body.contains(r#"forbidden: User \"system:anonymous\" cannot get path \"/metrics\""#),
            "{body}"
        );
        let (st, body) = ask("/metrics", bearer(&other));
        assert_eq!(st, "403 Forbidden");
        assert!(
            body.contains("system:serviceaccount:monitoring:other"),
            "{body}"
        );
        let (st, body) = ask("/metrics", Some("Bearer not-a-token".into()));
        assert_eq!(st, "401 Unauthorized", "{body}");
        assert!(body.contains(r#""reason":"Unauthorized""#), "{body}");
        assert_eq!(ask("/healthz", None).0, "200 OK");
        assert_eq!(ask("/metrics/cadvisor", bearer(&prom)).0, "403 Forbidden");
    }

    #[test]
    fn heads_are_read_like_a_server() {
        let (p, a) = parse_head(
            "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc\r\nAccept: */*\r\n\r\n",
        );
        assert_eq!((p.as_str(), a.as_deref()), ("/metrics", Some("Bearer abc")));
        let (p, a) = parse_head("GET /healthz HTTP/1.1\r\n\r\n");
        assert_eq!((p.as_str(), a), ("/healthz", None));
        assert_eq!(parse_head("").0, "/");
    }
}
