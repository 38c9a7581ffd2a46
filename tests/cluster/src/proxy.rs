//! `pods/proxy` (to the pod's real Prometheus) and `nodes/proxy` (the kubelet's `/configz`,
//! `/healthz`).
//!
//! As the real API server does it:
//! - `pods/{[scheme:]name[:port]}/proxy{path}`: `ResourceLocation` in kubernetes
//!   pkg/registry/core/pod/strategy.go: `SplitSchemeNamePort` (invalid → 400
//!   `invalid pod request "<id>"`), the pod (404), the port as given, or the first container
//!   port when omitted. The port is not resolved against the pod's named ports (the TODO for it
//!   was dropped in kubernetes PR #79813: no more features for this proxy): a name goes to the
//!   dialer as a service name (Go knows `http`, `https`...; `web` fails with
//!   `dial tcp: lookup tcp/web: unknown port`). A pod without an IP → 400 `address not allowed`
//!   (the real check also refuses non-global-unicast IPs; loopback is this cluster's pod network
//!   and is allowed). Transport errors → 503 `error trying to reach service: <err>`
//!   (apimachinery pkg/util/proxy/transport.go). `X-Forwarded-*` headers are added and a
//!   redirect's `Location` is rewritten under the proxy path; HTML bodies are not rewritten.
//! - `nodes/{name}/proxy{path}`: the node (404), then the kubelet: `/configz` →
//!   `{"kubeletconfig":...}` as `application/json` (component-base/configz), `/healthz` → `ok`,
//!   anything else → Go's `404 page not found`.

use crate::api::Body;
use crate::cluster::Cluster;
use crate::exec::{go_quote, status_response, text_response};
use crate::status::ApiError;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// `utilnet.SplitSchemeNamePort`: `name`, `name:port` or `scheme:name:port` with scheme `http`,
/// `https` or empty.
pub fn split_scheme_name_port(id: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [n] => ("", *n, ""),
        [n, p] => ("", *n, *p),
        [s, n, p] => (*s, *n, *p),
        _ => return None,
    };
    if !name.is_empty() && matches!(scheme, "" | "http" | "https") {
        Some((scheme.to_string(), name.to_string(), port.to_string()))
    } else {
        None
    }
}

/// Go's `net.LookupPort("tcp", service)`: a number, or one of the names Go knows without
/// /etc/services (net/lookup.go `services`). `Err` is the dial error text.
fn lookup_port(port: &str) -> Result<u16, String> {
    if let Ok(n) = port.parse::<u32>() {
        return u16::try_from(n).map_err(|_| format!("dial tcp: address {port}: invalid port"));
    }
    let known: &[(&str, u16)] = &[
        ("ftp", 21),
        ("ftps", 990),
        ("gopher", 70),
        ("http", 80),
        ("https", 443),
        ("imap2", 143),
        ("imap3", 220),
        ("imaps", 993),
        ("pop3", 110),
        ("pop3s", 995),
        ("smtp", 25),
        ("submissions", 465),
        ("ssh", 22),
        ("telnet", 23),
    ];
    let lower = port.to_ascii_lowercase();
    known
        .iter()
        .find(|(n, _)| *n == lower)
        .map(|(_, p)| *p)
        .ok_or_else(|| format!("dial tcp: lookup tcp/{port}: unknown port"))
}

/// `apierrors.NewServiceUnavailable(reason)`.
fn service_unavailable(message: String) -> ApiError {
    ApiError {
        code: 503,
        reason: "ServiceUnavailable".into(),
        message,
        name: None,
        group: None,
        kind: None,
        causes: Vec::new(),
        retry_after: None,
    }
}

/// The pod's IP as the API server reads it: `status.podIPs[0].ip` (the kubelet writes `podIP`
/// too; it is read when `podIPs` is missing).
fn pod_ip(pod: &serde_json::Value) -> Option<Ipv4Addr> {
    let s = pod["status"]["podIPs"][0]["ip"]
        .as_str()
        .or_else(|| pod["status"]["podIP"].as_str())?;
    s.parse().ok()
}

/// Headers not forwarded (RFC 7230 hop-by-hop, as `httputil.ReverseProxy` drops them), and the
/// credentials the API server's authentication filter removes.
fn strip_headers(h: &mut HeaderMap) {
    let listed: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for n in listed {
        h.remove(n);
    }
    for n in [
        "connection",
        "proxy-connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        h.remove(n);
    }
}

/// `proxyRedirectsforRootPath` (apimachinery UpgradeAwareHandler): a GET or HEAD of the proxy
/// root without its trailing slash is redirected to it.
fn redirect_root(req: &Request<Incoming>, rest: &str) -> Option<Response<Body>> {
    if !rest.is_empty()
        || !(req.method() == http::Method::GET || req.method() == http::Method::HEAD)
    {
        return None;
    }
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    Response::builder()
        .status(StatusCode::MOVED_PERMANENTLY)
        .header(header::LOCATION, format!("{}/{query}", req.uri().path()))
        .body(crate::api::full(""))
        .ok()
}

/// Serve `/api/v1/namespaces/{ns}/pods/{name_or_name:port}/proxy{rest}` (`rest` starts with `/` or is empty).
pub async fn handle_pod(
    cluster: Arc<Cluster>,
    req: Request<Incoming>,
    namespace: &str,
    name: &str,
    rest: &str,
) -> Response<Body> {
    let Some((scheme, pod_name, mut port)) = split_scheme_name_port(name) else {
        return status_response(&ApiError::bad_request(format!(
            "invalid pod request {}",
            go_quote(name)
        )));
    };
    let pods = cluster.store.rt("pods");
    let pod = match cluster.store.get(&pods, Some(namespace), &pod_name) {
        Ok(p) => p,
        Err(e) => return status_response(&e),
    };
    if port.is_empty()
        && let Some(cs) = pod["spec"]["containers"].as_array()
    {
        for c in cs {
            if let Some(p) = c["ports"][0]["containerPort"].as_u64() {
                port = p.to_string();
                break;
            }
        }
    }
    let ip = match pod_ip(&pod) {
        Some(ip)
            if !ip.is_unspecified()
                && !ip.is_multicast()
                && !ip.is_broadcast()
                && !ip.is_link_local() =>
        {
            ip
        }
        _ => return status_response(&ApiError::bad_request("address not allowed")),
    };
    let scheme = if scheme.is_empty() {
        "http".to_string()
    } else {
        scheme
    };
    let host = if port.is_empty() {
        ip.to_string()
    } else {
        format!("{ip}:{port}")
    };
    let prefix = format!("/api/v1/namespaces/{namespace}/pods/{name}/proxy");
    if let Some(r) = redirect_root(&req, rest) {
        return r;
    }
    forward(req, &scheme, ip, &port, &host, rest, &prefix).await
}

/// Forward the request to `scheme://host{rest}` and stream the answer back.
async fn forward(
    req: Request<Incoming>,
    scheme: &str,
    ip: Ipv4Addr,
    port: &str,
    host: &str,
    rest: &str,
    prefix: &str,
) -> Response<Body> {
    let default_port = if scheme == "https" { 443 } else { 80 };
    let port_num = if port.is_empty() {
        default_port
    } else {
        match lookup_port(port) {
            Ok(p) => p,
            Err(e) => {
                return status_response(&service_unavailable(format!(
                    "error trying to reach service: {e}"
                )));
            }
        }
    };
    let addr = std::net::SocketAddr::from((ip, port_num));
    // This cluster's network is 127.0.0.0/8: nothing is ever sent elsewhere. An address outside
    // it (a scenario's pod IP that was not moved) is unreachable, as an unroutable pod IP is.
    if !ip.is_loopback() {
        return status_response(&service_unavailable(format!(
            "error trying to reach service: dial tcp {addr}: i/o timeout"
        )));
    }
    let tcp = match tokio::net::TcpStream::connect(addr).await {
        Ok(t) => t,
        Err(e) => {
            return status_response(&service_unavailable(format!(
                "error trying to reach service: {}",
                dial_error(addr, &e)
            )));
        }
    };
    let handshake = if scheme == "https" {
        // kube-apiserver's proxy transport does not verify the pod's certificate.
        let config = match insecure_tls_config() {
            Ok(c) => c,
            Err(e) => return status_response(&ApiError::internal(e.to_string())),
        };
        let connector = tokio_rustls::TlsConnector::from(config);
        let server_name = rustls_pki_types::ServerName::IpAddress(std::net::IpAddr::V4(ip).into());
        match connector.connect(server_name, tcp).await {
            Ok(tls) => hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map(|(s, conn)| {
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    s
                }),
            Err(e) => {
                return status_response(&service_unavailable(format!(
                    "error trying to reach service: {}",
                    tls_error_text(&e)
                )));
            }
        }
    } else {
        hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map(|(s, conn)| {
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                s
            })
    };
    let sender = match handshake {
        Ok(s) => s,
        Err(e) => {
            return status_response(&service_unavailable(format!(
                "error trying to reach service: {e}"
            )));
        }
    };
    let mut sender = sender;

    let (parts, body) = req.into_parts();
    let path = if rest.is_empty() { "/" } else { rest };
    let pq = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut out = Request::builder().method(parts.method.clone()).uri(pq);
    let mut headers = parts.headers.clone();
    strip_headers(&mut headers);
    headers.remove(header::AUTHORIZATION);
    let original_host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    if let Ok(v) = HeaderValue::from_str(host) {
        headers.insert(header::HOST, v);
    }
    // proxy.Transport: X-Forwarded-Uri is the proxy path joined with the request's
    // (X-Forwarded-Host and -Proto stay unset: the server-side request URL has neither).
    let forwarded_uri = format!(
        "{}/{}",
        prefix.trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    if let Ok(v) = HeaderValue::from_str(&forwarded_uri) {
        headers.insert("x-forwarded-uri", v);
    }
    if let Some(h) = out.headers_mut() {
        *h = headers;
    }
    let out = match out.body(body) {
        Ok(r) => r,
        Err(e) => return status_response(&ApiError::internal(e.to_string())),
    };
    let resp = match sender.send_request(out).await {
        Ok(r) => r,
        Err(e) => {
            return status_response(&service_unavailable(format!(
                "error trying to reach service: {e}"
            )));
        }
    };
    let (mut rparts, rbody) = resp.into_parts();
    strip_headers(&mut rparts.headers);
    // corsRemovingTransport
    for n in [
        "access-control-allow-credentials",
        "access-control-allow-headers",
        "access-control-allow-methods",
        "access-control-allow-origin",
    ] {
        rparts.headers.remove(n);
    }
    // A redirect to a path on the pod stays behind the proxy (proxy.Transport rewriteURL).
    if let Some(loc) = rparts
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    {
        let rewritten = rewrite_location(&loc, host, prefix, &original_host);
        if let Ok(v) = HeaderValue::from_str(&rewritten) {
            rparts.headers.insert(header::LOCATION, v);
        }
    }
    let body = rbody.map_err(std::io::Error::other).boxed();
    Response::from_parts(rparts, body)
}

/// A TLS client that accepts any server certificate (`InsecureSkipVerify`).
pub fn insecure_tls_config() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    #[derive(Debug)]
    struct NoVerify(Arc<rustls::crypto::CryptoProvider>);
    impl rustls::client::danger::ServerCertVerifier for NoVerify {
        fn verify_server_cert(
            &self,
            _end_entity: &rustls_pki_types::CertificateDer<'_>,
            _intermediates: &[rustls_pki_types::CertificateDer<'_>],
            _server_name: &rustls_pki_types::ServerName<'_>,
            _ocsp_response: &[u8],
            _now: rustls_pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls_pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
            cert: &rustls_pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Go's crypto/tls text for a handshake that failed; a plain-HTTP server answering the
/// ClientHello is `first record does not look like a TLS handshake`.
fn tls_error_text(e: &std::io::Error) -> String {
    let inner = e.get_ref().map(|i| i.to_string()).unwrap_or_default();
    if inner.contains("InvalidContentType")
        || inner.contains("corrupt message")
        || inner.contains("MessageTooLarge")
        || inner.contains("invalid")
    {
        "tls: first record does not look like a TLS handshake".to_string()
    } else if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "EOF".to_string()
    } else {
        format!("remote error: {e}")
    }
}

/// Go's dial error text: `dial tcp 127.0.1.5:9090: connect: connection refused`.
fn dial_error(addr: std::net::SocketAddr, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
        _ => match e.raw_os_error() {
            Some(libc::EHOSTUNREACH) => "no route to host".to_string(),
            Some(libc::ENETUNREACH) => "network is unreachable".to_string(),
            _ => e.to_string(),
        },
    };
    format!("dial tcp {addr}: connect: {why}")
}

/// `Location` of a redirect from the pod, moved under the proxy path when it points at the pod
/// (apimachinery proxy `Transport.rewriteURL`: the proxy's scheme and host are empty on the
/// server side, so the result is a path).
fn rewrite_location(loc: &str, pod_host: &str, prefix: &str, request_host: &str) -> String {
    let (host, rest) = if let Some(r) = loc
        .strip_prefix("http://")
        .or_else(|| loc.strip_prefix("https://"))
    {
        match r.find(['/', '?', '#']) {
            Some(i) => (&r[..i], &r[i..]),
            None => (r, ""),
        }
    } else {
        ("", loc)
    };
    if !host.is_empty() && host != pod_host && host != request_host {
        return loc.to_string();
    }
    let (path, tail) = match rest.find(['?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if !path.starts_with('/') {
        return loc.to_string();
    }
    if path.starts_with(prefix) {
        return format!("{path}{tail}");
    }
    let joined = format!(
        "{}/{}",
        prefix.trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    format!("{joined}{tail}")
}

/// Serve `/api/v1/nodes/{name_or_name:port}/proxy{rest}`.
pub async fn handle_node(
    cluster: Arc<Cluster>,
    req: Request<Incoming>,
    node: &str,
    rest: &str,
) -> Response<Body> {
    let Some((_scheme, name, _port)) = split_scheme_name_port(node) else {
        return status_response(&ApiError::bad_request(format!(
            "invalid node request {}",
            go_quote(node)
        )));
    };
    let nodes = cluster.store.rt("nodes");
    if let Err(e) = cluster.store.get(&nodes, None, &name) {
        return status_response(&e);
    }
    if let Some(r) = redirect_root(&req, rest) {
        return r;
    }
    let method = req.method().clone();
    drop(req);
    let path = if rest.is_empty() { "/" } else { rest };
    match path {
        "/configz" => {
            let cfg = cluster
                .kubelet
                .configz
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&name)
                .cloned();
            match cfg {
                Some(c) => {
                    let body = serde_json::to_vec(&serde_json::json!({ "kubeletconfig": c }))
                        .unwrap_or_default();
                    Response::builder()
                        .status(StatusCode::OK)
                        .header(header::CONTENT_TYPE, "application/json")
                        .header("X-Content-Type-Options", "nosniff")
                        .body(crate::api::full(body))
                        .expect("static headers")
                }
                None => text_response(404, "404 page not found\n"),
            }
        }
        "/healthz" if method == http::Method::GET || method == http::Method::HEAD => {
            text_response(200, "ok")
        }
        _ => text_response(404, "404 page not found\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_name_port_split() {
        assert_eq!(
            split_scheme_name_port("p"),
            Some(("".into(), "p".into(), "".into()))
        );
        assert_eq!(
            split_scheme_name_port("p:9090"),
            Some(("".into(), "p".into(), "9090".into()))
        );
        assert_eq!(
            split_scheme_name_port("https:p:web"),
            Some(("https".into(), "p".into(), "web".into()))
        );
        assert_eq!(split_scheme_name_port("ftp:p:1"), None);
        assert_eq!(split_scheme_name_port(":9090"), None);
        assert_eq!(split_scheme_name_port("a:b:c:d"), None);
    }

    #[test]
    fn ports_as_go_dials_them() {
        assert_eq!(lookup_port("9090"), Ok(9090));
        assert_eq!(lookup_port("http"), Ok(80));
        assert_eq!(
            lookup_port("web"),
            Err("dial tcp: lookup tcp/web: unknown port".into())
        );
    }

    #[test]
    fn redirects_stay_behind_the_proxy() {
        let p = "/api/v1/namespaces/monitoring/pods/prometheus-k8s-0:9090/proxy";
        assert_eq!(
            rewrite_location("/query?x=1", "127.0.1.5:9090", p, "127.0.0.1:6443"),
            format!("{p}/query?x=1")
        );
        assert_eq!(
            rewrite_location("http://example.org/x", "127.0.1.5:9090", p, "h"),
            "http://example.org/x"
        );
    }
}

#[cfg(test)]
mod wire {
    use crate::exec::harness::*;
    use http_body_util::BodyExt;
    use serde_json::{Value, json};
    use std::net::Ipv4Addr;

    /// A pod's web server: answers with what it received, `/redirect` with a 302 to `/query`.
    async fn pod_server(ip: Ipv4Addr, port: u16) {
        let l = tokio::net::TcpListener::bind((ip, port))
            .await
            .expect("bind the pod listener");
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        |req: http::Request<hyper::body::Incoming>| async move {
                            if req.uri().path() == "/redirect" {
                                return Ok::<_, std::convert::Infallible>(
                                    http::Response::builder()
                                        .status(302)
                                        .header("location", "/query?g0.expr=up")
                                        .body(crate::api::full(""))
                                        .expect("response"),
                                );
                            }
                            let method = req.method().to_string();
                            let uri = req.uri().to_string();
                            let headers: serde_json::Map<String, Value> = req
                                .headers()
                                .iter()
                                .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
                                .collect();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let out = json!({"method": method, "uri": uri, "headers": headers,
                                         "body": String::from_utf8_lossy(&body)});
                            Ok(http::Response::builder()
                                .header("content-type", "application/json")
                                .header("access-control-allow-origin", "*")
                                .body(crate::api::full(
                                    serde_json::to_vec(&out).unwrap_or_default(),
                                ))
                                .expect("response"))
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                        .await;
                });
            }
        });
    }

    /// A TLS web server with a self-signed certificate.
    async fn tls_pod_server(ip: Ipv4Addr, port: u16) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["prometheus".to_string()]).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        let cfg = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(cfg));
        let l = tokio::net::TcpListener::bind((ip, port))
            .await
            .expect("bind the TLS pod listener");
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(s).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(
                        |req: http::Request<hyper::body::Incoming>| async move {
                            Ok::<_, std::convert::Infallible>(http::Response::new(
                                crate::api::full(format!("tls ok {}", req.uri().path())),
                            ))
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
    }

    #[tokio::test]
    async fn pod_proxy_forwards_to_the_pod_ip() {
        let net = 246;
        let (c, _d) = cluster(net);
        let ip = Ipv4Addr::new(127, net, 1, 5);
        add_pod(
            &c,
            "monitoring",
            "prometheus-k8s-0",
            &[("prometheus", &[("web", 9090)])],
            Some(ip),
        );
        add_pod(
            &c,
            "monitoring",
            "pending-0",
            &[("prometheus", &[("web", 9090)])],
            None,
        );
        pod_server(ip, 9090).await;
        let c2 = c.clone();
        let addr = serve(c).await;
        let base = "/api/v1/namespaces/monitoring/pods";

        let (code, h, body) = request_body(
            addr,
            "POST",
            &format!(
                "{base}/prometheus-k8s-0:9090/proxy/api/v1/query?query=up%7Bjob%3D%22etcd%22%7D"
            ),
            &[
                ("authorization", "Bearer secret-token"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            b"a=b".to_vec(),
        )
        .await;
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        assert!(h.get("access-control-allow-origin").is_none());
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["method"], "POST");
        assert_eq!(v["uri"], "/api/v1/query?query=up%7Bjob%3D%22etcd%22%7D");
        assert_eq!(v["body"], "a=b");
        assert!(v["headers"].get("authorization").is_none(), "{v}");
        assert_eq!(
            v["headers"]["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(
            v["headers"]["x-forwarded-uri"],
            format!("{base}/prometheus-k8s-0:9090/proxy/api/v1/query")
        );

        // The proxy root without its slash is redirected to it.
        let (code, h, _) = request(
            addr,
            "GET",
            &format!("{base}/prometheus-k8s-0:9090/proxy?a=b"),
            &[],
        )
        .await;
        assert_eq!(code, 301);
        assert_eq!(
            h["location"],
            format!("{base}/prometheus-k8s-0:9090/proxy/?a=b").as_str()
        );

        // No port: the first container port.
        let (code, _, body) = request(
            addr,
            "GET",
            &format!("{base}/prometheus-k8s-0/proxy/-/ready"),
            &[],
        )
        .await;
        assert_eq!(code, 200);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["uri"], "/-/ready");

        // A redirect stays behind the proxy.
        let (code, h, _) = request(
            addr,
            "GET",
            &format!("{base}/prometheus-k8s-0:9090/proxy/redirect"),
            &[],
        )
        .await;
        assert_eq!(code, 302);
        assert_eq!(
            h["location"],
            format!("{base}/prometheus-k8s-0:9090/proxy/query?g0.expr=up").as_str()
        );

        // A port name is not resolved for pods: Go's dialer fails on it.
        let (code, _, body) = request(
            addr,
            "GET",
            &format!("{base}/prometheus-k8s-0:web/proxy/-/ready"),
            &[],
        )
        .await;
        assert_eq!(code, 503);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "error trying to reach service: dial tcp: lookup tcp/web: unknown port",
                   "reason": "ServiceUnavailable", "code": 503})
        );

        // Nothing listening.
        let (code, _, body) = request(
            addr,
            "GET",
            &format!("{base}/prometheus-k8s-0:9091/proxy/"),
            &[],
        )
        .await;
        assert_eq!(code, 503);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["message"],
            format!(
                "error trying to reach service: dial tcp {ip}:9091: connect: connection refused"
            )
        );

        // https: to a plain-HTTP port, as Go's TLS client reports it ...
        let (code, _, body) = request(
            addr,
            "GET",
            &format!("{base}/https:prometheus-k8s-0:9090/proxy/"),
            &[],
        )
        .await;
        assert_eq!(code, 503);
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap()["message"],
            "error trying to reach service: tls: first record does not look like a TLS handshake"
        );
        // ... and to a TLS port, without verifying the pod's certificate.
        tls_pod_server(ip, 9443).await;
        let (code, _, body) = request(
            addr,
            "GET",
            &format!("{base}/https:prometheus-k8s-0:9443/proxy/metrics"),
            &[],
        )
        .await;
        assert_eq!(
            (code, body.as_slice()),
            (200, b"tls ok /metrics".as_slice())
        );

        // Never anywhere but loopback.
        add_pod(
            &c2,
            "monitoring",
            "outside-0",
            &[("prometheus", &[("web", 9090)])],
            Some(Ipv4Addr::new(10, 244, 1, 5)),
        );
        let (code, _, body) =
            request(addr, "GET", &format!("{base}/outside-0:9090/proxy/"), &[]).await;
        assert_eq!(code, 503);
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap()["message"],
            "error trying to reach service: dial tcp 10.244.1.5:9090: i/o timeout"
        );

        // Not found, no IP yet, bad id.
        let (code, _, body) = request(addr, "GET", &format!("{base}/nope:9090/proxy/"), &[]).await;
        assert_eq!(code, 404);
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap()["message"],
            "pods \"nope\" not found"
        );
        let (code, _, body) =
            request(addr, "GET", &format!("{base}/pending-0:9090/proxy/"), &[]).await;
        assert_eq!(code, 400);
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap()["message"],
            "address not allowed"
        );
        let (code, _, body) = request(
            addr,
            "GET",
            &format!("{base}/ftp:prometheus-k8s-0:9090/proxy/"),
            &[],
        )
        .await;
        assert_eq!(code, 400);
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap()["message"],
            "invalid pod request \"ftp:prometheus-k8s-0:9090\""
        );
    }

    #[tokio::test]
    async fn node_proxy_serves_the_kubelet_configz() {
        let (c, _d) = cluster(247);
        let nodes = c.store.rt("nodes");
        for n in ["node-1", "node-2"] {
            c.store
                .create(
                    &nodes,
                    None,
                    json!({"metadata": {"name": n}}),
                    &crate::store::WriteCtx::update("test"),
                )
                .unwrap();
        }
        let cfg = json!({"kind": "KubeletConfiguration", "apiVersion": "kubelet.config.k8s.io/v1beta1",
                         "authentication": {"webhook": {"enabled": true}}, "readOnlyPort": 0});
        c.kubelet
            .configz
            .lock()
            .unwrap()
            .insert("node-1".into(), cfg.clone());
        let addr = serve(c).await;

        let (code, h, body) = request(addr, "GET", "/api/v1/nodes/node-1/proxy/configz", &[]).await;
        assert_eq!(code, 200);
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"kubeletconfig": cfg})
        );
        let (code, _, body) =
            request(addr, "GET", "/api/v1/nodes/node-1:10250/proxy/healthz", &[]).await;
        assert_eq!((code, body.as_slice()), (200, b"ok".as_slice()));
        let (code, _, body) = request(addr, "GET", "/api/v1/nodes/node-2/proxy/configz", &[]).await;
        assert_eq!(
            (code, body.as_slice()),
            (404, b"404 page not found\n".as_slice())
        );
        let (code, _, _) = request(addr, "GET", "/api/v1/nodes/node-1/proxy/nope", &[]).await;
        assert_eq!(code, 404);
        let (code, _, body) = request(addr, "GET", "/api/v1/nodes/node-9/proxy/configz", &[]).await;
        assert_eq!(code, 404);
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap()["message"],
            "nodes \"node-9\" not found"
        );
    }
}
