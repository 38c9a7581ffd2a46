//! Prometheus' own view: the active targets of the etcd job (`/api/v1/targets?state=active`),
//! why a target is down (its `lastError`, as Prometheus 2.x writes it from Go's net/http and
//! crypto/tls errors), and why there is no target at all (selection, namespaceSelector, empty
//! Endpoints).

use super::{name, namespace, parse_time};
use crate::error::{Error, Result};
use crate::json::labels;
use crate::selector;
use serde::Serialize;
use serde_json::Value;

/// One active target, as the targets API reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub scrape_pool: String,
    pub job: String,
    pub scrape_url: String,
    pub health: String,
    pub last_error: String,
    pub last_scrape: String,
    /// Why it is down, with the fix (None when up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// Which targets belong to the etcd job: the scrape pools of the etcd ServiceMonitor
/// (`serviceMonitor/<ns>/<name>/<i>`), or `--job NAME` (the `job` label or the scrape pool).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobMatch {
    ServiceMonitor { namespace: String, name: String },
    Job(String),
}

impl JobMatch {
    pub fn matches(&self, t: &Value) -> bool {
        let pool = t["scrapePool"].as_str().unwrap_or("");
        match self {
            JobMatch::ServiceMonitor { namespace, name } => pool
                .strip_prefix(&format!("serviceMonitor/{namespace}/{name}/"))
                .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit())),
            JobMatch::Job(j) => pool == j || t["labels"]["job"].as_str() == Some(j.as_str()),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            JobMatch::ServiceMonitor { namespace, name } => {
                format!("scrape pool serviceMonitor/{namespace}/{name}/*")
            }
            JobMatch::Job(j) => format!("job {j}"),
        }
    }
}

/// The matching active targets of a targets API answer (`{"status":"success","data":{...}}`).
pub fn parse_targets(answer: &Value, job: &JobMatch) -> Result<Vec<Target>> {
    if answer["status"].as_str() != Some("success") {
        return Err(Error::Prometheus(format!(
            "the targets API answered {}: {}",
            answer["status"].as_str().unwrap_or("without a status"),
            answer["error"].as_str().unwrap_or("")
        )));
    }
    let Some(active) = answer["data"]["activeTargets"].as_array() else {
        return Err(Error::Prometheus(
            "the targets API answer has no data.activeTargets".into(),
        ));
    };
    Ok(active
        .iter()
        .filter(|t| job.matches(t))
        .map(|t| {
            let st = |k: &str| t[k].as_str().unwrap_or("").to_string();
            let health = st("health");
            let last_error = st("lastError");
            let scrape_url = st("scrapeUrl");
            let cause = (health == "down").then(|| classify(&last_error, &scrape_url));
            Target {
                scrape_pool: st("scrapePool"),
                job: t["labels"]["job"].as_str().unwrap_or("").to_string(),
                explanation: cause.map(|c| c.explain(&last_error, &scrape_url)),
                cause,
                scrape_url,
                health,
                last_error,
                last_scrape: st("lastScrape"),
            }
        })
        .collect())
}

/// Whether a target has been scraped since `since` (seconds since the epoch): Prometheus writes
/// Go's zero time before the first scrape, and `health: unknown`.
pub fn scraped_since(t: &Target, since: f64) -> bool {
    t.health != "unknown" && parse_time(&t.last_scrape).is_some_and(|ls| ls >= since)
}

/// How many targets the Endpoints make for the ServiceMonitor's port (by name; None: one per
/// address): Prometheus' endpoints discovery makes one per ready address and port.
pub fn expected_targets(endpoints: &[Value], port: Option<&str>) -> usize {
    endpoints
        .iter()
        .flat_map(|e| e["subsets"].as_array().into_iter().flatten())
        .map(|s| {
            let addresses = s["addresses"].as_array().map_or(0, Vec::len);
            let ports = match port {
                Some(p) => s["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|x| x["name"] == p)
                    .count(),
                None => 1,
            };
            addresses * ports
        })
        .sum()
}

/// The `ip:port` of each ready address of the Endpoints on the ServiceMonitor's port (its name;
/// None: each subset's first port): what Prometheus' `__address__` is for the etcd targets.
pub fn expected_addresses(endpoints: &[Value], port: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for s in endpoints
        .iter()
        .flat_map(|e| e["subsets"].as_array().into_iter().flatten())
    {
        let ports: Vec<u64> = s["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|x| port.is_none_or(|p| x["name"] == p))
            .filter_map(|x| x["port"].as_u64())
            .take(if port.is_none() { 1 } else { usize::MAX })
            .collect();
        for a in s["addresses"].as_array().into_iter().flatten() {
            if let Some(ip) = a["ip"].as_str() {
                for p in &ports {
                    out.push(if ip.contains(':') {
                        format!("[{ip}]:{p}")
                    } else {
                        format!("{ip}:{p}")
                    });
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The progress of the wait for the first scrape: `targets scraped since the change 1/3, up
/// 1/3`, out of the expected (or of those found, when more): up counts those scraped since.
pub fn targets_progress(
    targets: &[Target],
    since: f64,
    expected: usize,
    config_loaded: bool,
) -> String {
    let total = expected.max(targets.len());
    let scraped = targets.iter().filter(|t| scraped_since(t, since)).count();
    let up = targets
        .iter()
        .filter(|t| scraped_since(t, since) && t.health == "up")
        .count();
    let counts = if total == 0 {
        "no targets discovered yet".to_string()
    } else {
        format!("targets scraped since the change {scraped}/{total}, up {up}/{total}")
    };
    if config_loaded {
        counts
    } else {
        format!("waiting for Prometheus to load the new configuration; {counts}")
    }
}

/// Why a scrape failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// `x509: certificate signed by unknown authority`: the CA in the Secret did not sign etcd's
    /// serving certificate.
    UnknownAuthority,
    /// `remote error: tls: bad certificate` (or unknown CA / certificate required): etcd refused
    /// the client certificate.
    BadCertificate,
    /// `x509: certificate is valid for ..., not ...` / `doesn't contain any IP SANs`.
    NameMismatch,
    /// `x509: certificate has expired or is not yet valid`.
    Expired,
    /// `connect: connection refused`.
    ConnectionRefused,
    /// `http: server gave HTTP response to HTTPS client`.
    HttpsToHttpPort,
    /// `server returned HTTP status 400 Bad Request` with an http:// scrape URL (Go's TLS server
    /// answers plain HTTP with "Client sent an HTTP request to an HTTPS server.").
    HttpToHttpsPort,
    /// `context deadline exceeded` / `i/o timeout`.
    Timeout,
    /// The TLS files named in the configuration are not in the pod.
    FileMissing,
    /// 401 / 403 from etcd's metrics endpoint.
    Unauthorized,
    /// `write: broken pipe` / `connection reset by peer` / `EOF` on an https target: the server
    /// dropped the connection right after the handshake, as etcd does (TLS 1.3) when it refuses
    /// the client certificate and the client is already writing its request.
    ConnectionClosed,
    /// Anything else.
    Other,
}

/// Classify a `lastError` (Prometheus 2.x; Go 1.19 and 1.20+ spellings).
pub fn classify(last_error: &str, scrape_url: &str) -> Cause {
    let e = last_error;
    let http = scrape_url.starts_with("http://");
    if e.contains("certificate signed by unknown authority") {
        Cause::UnknownAuthority
    } else if e.contains("remote error: tls: bad certificate")
        || e.contains("remote error: tls: unknown certificate authority")
        || e.contains("remote error: tls: certificate required")
        || e.contains("remote error: tls: unknown certificate")
        || e.contains("remote error: tls: unsupported certificate")
    {
        Cause::BadCertificate
    } else if e.contains("x509: certificate is valid for")
        || e.contains("doesn't contain any IP SANs")
        || e.contains("certificate is not valid for any names")
    {
        Cause::NameMismatch
    } else if e.contains("certificate has expired or is not yet valid")
        || e.contains("remote error: tls: expired certificate")
    {
        Cause::Expired
    } else if e.contains("connection refused") {
        Cause::ConnectionRefused
    } else if e.contains("server gave HTTP response to HTTPS client") {
        Cause::HttpsToHttpPort
    } else if e.contains("Client sent an HTTP request to an HTTPS server")
        || (http && e.contains("server returned HTTP status 400 Bad Request"))
        || (http && e.contains("malformed HTTP response"))
        || (http && (e.ends_with(": EOF") || e == "EOF"))
        // etcd closes with the request still unread: the kernel answers with a reset.
        || (http && e.contains("read: connection reset by peer"))
    {
        Cause::HttpToHttpsPort
    } else if e.contains("context deadline exceeded")
        || e.contains("i/o timeout")
        || e.contains("Client.Timeout exceeded")
    {
        Cause::Timeout
    } else if e.contains("no such file or directory") {
        Cause::FileMissing
    } else if e.contains("server returned HTTP status 401")
        || e.contains("server returned HTTP status 403")
    {
        Cause::Unauthorized
    } else if !http
        && (e.contains("write: broken pipe")
            || e.contains("connection reset by peer")
            || e.ends_with(": EOF")
            // Go's HTTP/2 transport when the TLS connection it shares failed to set up.
            || e.contains("http2: client conn could not be established"))
    {
        Cause::ConnectionClosed
    } else {
        Cause::Other
    }
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split('/').next().unwrap_or(rest)
}

impl Cause {
    /// Plain words and the fix.
    pub fn explain(self, last_error: &str, scrape_url: &str) -> String {
        let host = host_of(scrape_url);
        match self {
            Cause::UnknownAuthority => format!(
                "etcd's serving certificate at {host} is not signed by the CA in the Secret (wrong CA in the Secret). \
                 Fix: put etcd's CA (kubespray: /etc/ssl/etcd/ssl/ca.pem; kubeadm: /etc/kubernetes/pki/etcd/ca.crt) into \
                 the Secret: `kubectl promfix secret --ca CA --cert CERT --key KEY`."
            ),
            Cause::BadCertificate => format!(
                "etcd at {host} refused the client certificate (remote error: tls: bad certificate): it is signed by a CA \
                 etcd does not trust (another cluster's, or the wrong file), or has no client-auth usage. Fix: use a client \
                 certificate signed by etcd's CA (kubespray: node-<node>.pem / admin-<node>.pem; kubeadm: \
                 apiserver-etcd-client.crt or etcd/healthcheck-client.crt) with `kubectl promfix secret`."
            ),
            Cause::NameMismatch => format!(
                "etcd's serving certificate at {host} is valid for other names or IPs than the target address. Fix: \
                 set the name its certificate has with `kubectl promfix servicemonitor --server-name NAME` (tlsConfig.serverName), \
                 or list the IPs etcd's certificate is valid for as the Endpoints."
            ),
            Cause::Expired => format!(
                "a certificate in the handshake with {host} has expired or is not yet valid (check the clocks too). \
                 Fix: renew it and update the Secret with `kubectl promfix secret`."
            ),
            Cause::ConnectionRefused => format!(
                "nothing listens on {host}: a wrong IP or port in the Endpoints, or etcd listens on localhost only \
                 (--listen-client-urls=https://127.0.0.1:2379). Fix: `kubectl promfix endpoints --endpoints IP,... --port PORT` \
                 with the addresses of etcd's --advertise-client-urls, and make etcd listen on the node IP."
            ),
            Cause::HttpsToHttpPort => format!(
                "the target is scraped with https but {host} speaks plain HTTP (server gave HTTP response to HTTPS client). \
                 Fix: point the Endpoints at etcd's TLS client port, or set scheme http on the ServiceMonitor endpoint \
                 (for a plain --listen-metrics-urls port)."
            ),
            Cause::HttpToHttpsPort => format!(
                "the target is scraped with plain http but {host} is etcd's TLS port: etcd closes the connection (EOF, or a reset when \
                 the request was still unread), Go's HTTPS servers answer 400 \"Client sent an HTTP request to an HTTPS server\". Fix: `kubectl promfix servicemonitor` (scheme: https with tlsConfig)."
            ),
            Cause::Timeout => format!(
                "no answer from {host} in time (context deadline exceeded): a firewall drops the packets (port 2379 from \
                 the pod network to the etcd nodes), or a wrong IP that does not answer. Fix: open port 2379 from the \
                 Prometheus pods to the etcd members, check the Endpoints' IPs."
            ),
            Cause::FileMissing => format!(
                "Prometheus cannot read the TLS files the ServiceMonitor names: the Secret is not mounted (not in \
                 spec.secrets, or a pod from before it) or a key name differs. Fix: `kubectl promfix secret`. ({last_error})"
            ),
            Cause::Unauthorized => {
                format!("{host} answered 401/403: it wants other credentials. ({last_error})")
            }
            Cause::ConnectionClosed => format!(
                "{host} closed the connection right after the TLS handshake ({last_error}): with TLS 1.3 this is how a \
                 refused client certificate often shows (the other targets usually say `bad certificate`). Fix: use a \
                 client certificate signed by etcd's CA with `kubectl promfix secret`."
            ),
            Cause::Other => format!("the scrape failed: {last_error}"),
        }
    }
}

/// What the cluster says about why there is no etcd target at all.
pub struct NoTargetFacts<'a> {
    pub prometheus: &'a Value,
    /// The etcd ServiceMonitor, selected or not (None: there is none at all).
    pub service_monitor: Option<&'a Value>,
    /// Whether this Prometheus selects it.
    pub selected: bool,
    pub namespaces: &'a [Value],
    /// Services matching the ServiceMonitor's selector, in any namespace.
    pub services: &'a [Value],
    /// Endpoints objects of those Services (same namespace and name).
    pub endpoints: &'a [Value],
    /// The ServiceMonitor endpoint's port name.
    pub port: Option<&'a str>,
}

fn selector_text(sel: &Value) -> String {
    if sel.is_null() {
        return "(none)".into();
    }
    let mut parts = Vec::new();
    if let Some(m) = sel["matchLabels"].as_object() {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    if let Some(ex) = sel["matchExpressions"].as_array() {
        for e in ex {
            parts.push(format!(
                "{} {} ({})",
                e["key"].as_str().unwrap_or(""),
                e["operator"].as_str().unwrap_or(""),
                e["values"]
                    .as_array()
                    .map(|a| a
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","))
                    .unwrap_or_default()
            ));
        }
    }
    if parts.is_empty() {
        "{} (everything)".into()
    } else {
        parts.join(", ")
    }
}

fn map_text(m: &Value) -> String {
    m.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Why this Prometheus has no etcd target, in plain words with the fix; the first reason that
/// holds, in the order Prometheus gets to its targets. An empty answer: the cluster looks right,
/// Prometheus has not discovered them yet.
pub fn explain_no_targets(f: &NoTargetFacts<'_>) -> Vec<String> {
    let Some(sm) = f.service_monitor else {
        return vec![format!(
            "no etcd ServiceMonitor exists (none whose name, labels or selector speak of etcd). Fix: \
             `kubectl promfix servicemonitor` creates one this Prometheus selects."
        )];
    };
    if !f.selected {
        return vec![not_selected(f, sm)];
    }
    let sel = sm["spec"].get("selector").cloned().unwrap_or(Value::Null);
    let in_scope: Vec<&Value> = f
        .services
        .iter()
        .filter(|svc| selector::matches(&sel, &labels(svc)))
        .filter(|svc| selector::monitor_looks_in(f.prometheus, sm, namespace(svc)))
        .collect();
    if in_scope.is_empty() {
        return vec![no_service(f, sm, &sel)];
    }
    in_scope
        .into_iter()
        .flat_map(|svc| service_problems(f, svc))
        .collect()
}

/// Why the Prometheus does not select the ServiceMonitor: its labels, else its namespace.
fn not_selected(f: &NoTargetFacts<'_>, sm: &Value) -> String {
    let prom = format!("{}/{}", namespace(f.prometheus), name(f.prometheus));
    let spec = &f.prometheus["spec"];
    let sel = spec.get("serviceMonitorSelector").filter(|v| !v.is_null());
    let mut why = Vec::new();
    match sel {
        None => why.push(format!(
            "Prometheus {prom} has no serviceMonitorSelector, so it selects no ServiceMonitor at all"
        )),
        Some(s) if !selector::matches(s, &labels(sm)) => why.push(format!(
            "its labels ({}) do not match the serviceMonitorSelector of Prometheus {prom} ({})",
            map_text(&sm["metadata"]["labels"]),
            selector_text(s)
        )),
        _ => {}
    }
    if why.is_empty() {
        let nsel = spec
            .get("serviceMonitorNamespaceSelector")
            .filter(|v| !v.is_null());
        why.push(match nsel {
            None => format!(
                "it is in namespace {}, and Prometheus {prom} has no serviceMonitorNamespaceSelector, so it only looks in its own namespace {}",
                namespace(sm),
                namespace(f.prometheus)
            ),
            Some(n) => format!(
                "its namespace {} is not matched by the serviceMonitorNamespaceSelector of Prometheus {prom} ({})",
                namespace(sm),
                selector_text(n)
            ),
        });
    }
    format!(
        "ServiceMonitor {}/{} is not selected by this Prometheus: {}. Fix: give the ServiceMonitor the labels the \
         selector wants (e.g. the Helm release label) and put it in a selected namespace, or run \
         `kubectl promfix servicemonitor`.",
        namespace(sm),
        name(sm),
        why.join("; ")
    )
}

/// No Service where the ServiceMonitor looks: one elsewhere its namespaceSelector misses, or
/// none at all.
fn no_service(f: &NoTargetFacts<'_>, sm: &Value, sel: &Value) -> String {
    let smn = format!("{}/{}", namespace(sm), name(sm));
    let elsewhere: Vec<String> = f
        .services
        .iter()
        .filter(|svc| selector::matches(sel, &labels(svc)))
        .map(|svc| format!("{}/{}", namespace(svc), name(svc)))
        .collect();
    if !elsewhere.is_empty() {
        return format!(
            "the namespaceSelector of ServiceMonitor {smn} ({}) misses the etcd Service ({}). Fix: set \
             spec.namespaceSelector.matchNames to the Service's namespace.",
            ns_selector_text(sm),
            elsewhere.join(", ")
        );
    }
    format!(
        "no Service matches the selector of ServiceMonitor {smn} ({}). Fix: `kubectl promfix endpoints` (creates \
         the selector-free etcd Service and its Endpoints).",
        selector_text(sel)
    )
}

/// What keeps a selected Service from giving targets: Endpoints without an address, or without
/// the ServiceMonitor endpoint's port name.
fn service_problems(f: &NoTargetFacts<'_>, svc: &Value) -> Vec<String> {
    let svcn = format!("{}/{}", namespace(svc), name(svc));
    let ep = f
        .endpoints
        .iter()
        .find(|e| namespace(e) == namespace(svc) && name(e) == name(svc));
    let addresses: usize = ep
        .and_then(|e| e["subsets"].as_array())
        .map(|subs| {
            subs.iter()
                .map(|s| s["addresses"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0);
    let has_selector = svc["spec"]["selector"]
        .as_object()
        .is_some_and(|m| !m.is_empty());
    if addresses == 0 && has_selector {
        return vec![format!(
            "the Endpoints of Service {svcn} are empty because the Service still has a selector ({}) that \
             matches no pod: etcd runs outside Kubernetes (systemd, as kubespray installs it), and the \
             endpoints controller keeps the Endpoints in line with that selector. Fix: `kubectl promfix \
             endpoints` (removes the selector and writes Endpoints with the etcd IPs).",
            map_text(&svc["spec"]["selector"])
        )];
    }
    if addresses == 0 {
        return vec![format!(
            "Service {svcn} has no selector and its Endpoints {} no address. Fix: `kubectl promfix endpoints \
             --endpoints IP,...` writes them.",
            if ep.is_some() {
                "list"
            } else {
                "object is missing, so"
            }
        )];
    }
    let Some(port) = f.port else {
        return Vec::new();
    };
    let named = ep
        .and_then(|e| e["subsets"].as_array())
        .into_iter()
        .flatten()
        .flat_map(|s| s["ports"].as_array().cloned().unwrap_or_default())
        .any(|p| p["name"].as_str() == Some(port));
    if named {
        return Vec::new();
    }
    vec![format!(
        "the Endpoints of Service {svcn} have no port named {port}, the port of the ServiceMonitor \
         endpoint. Fix: name the port {port} in the Service and the Endpoints (`kubectl promfix endpoints`)."
    )]
}

fn ns_selector_text(sm: &Value) -> String {
    let n = &sm["spec"]["namespaceSelector"];
    if n["any"].as_bool() == Some(true) {
        "any".into()
    } else if let Some(names) = n["matchNames"].as_array().filter(|a| !a.is_empty()) {
        format!(
            "matchNames: {}",
            names
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        )
    } else {
        format!("its own namespace {}", namespace(sm))
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn expected_addresses_are_the_endpoints_on_the_monitors_port() {
        let eps = vec![serde_json::json!({"subsets": [{
            "addresses": [{"ip": "10.0.0.2"}, {"ip": "10.0.0.1"}],
            "ports": [{"name": "metrics", "port": 2381}, {"name": "http-metrics", "port": 2379}]}]})];
        assert_eq!(
            expected_addresses(&eps, Some("http-metrics")),
            ["10.0.0.1:2379", "10.0.0.2:2379"]
        );
        assert_eq!(
            expected_addresses(&eps, None),
            ["10.0.0.1:2381", "10.0.0.2:2381"]
        );
        assert!(expected_addresses(&eps, Some("nope")).is_empty());
    }

    use super::*;
    use serde_json::json;

    fn target(health: &str, last_scrape: &str) -> Target {
        Target {
            scrape_pool: "serviceMonitor/monitoring/etcd/0".into(),
            job: "kube-etcd".into(),
            scrape_url: URL.into(),
            health: health.into(),
            last_error: String::new(),
            last_scrape: last_scrape.into(),
            cause: None,
            explanation: None,
        }
    }

    #[test]
    fn the_wait_for_the_first_scrape_counts_scraped_and_up_out_of_the_expected() {
        let since = parse_time("2024-01-01T00:00:10Z").unwrap();
        let t = [
            target("up", "2024-01-01T00:00:12Z"),
            target("down", "2024-01-01T00:00:11Z"),
            // up, but the last scrape is from before the change
            target("up", "2024-01-01T00:00:05Z"),
        ];
        assert_eq!(
            targets_progress(&t, since, 3, true),
            "targets scraped since the change 2/3, up 1/3"
        );
        // Fewer discovered than the Endpoints hold: out of the expected.
        assert_eq!(
            targets_progress(&t[..1], since, 3, true),
            "targets scraped since the change 1/3, up 1/3"
        );
        // More discovered than expected (--job, or no Endpoints known): out of those found.
        assert_eq!(
            targets_progress(&t, since, 0, true),
            "targets scraped since the change 2/3, up 1/3"
        );
        assert_eq!(
            targets_progress(&[], since, 0, true),
            "no targets discovered yet"
        );
        assert_eq!(
            targets_progress(&[], since, 3, false),
            "waiting for Prometheus to load the new configuration; targets scraped since the change 0/3, up 0/3"
        );
    }

    #[test]
    fn the_expected_targets_are_the_addresses_of_the_endpoints_port() {
        let ep = json!({"subsets": [
            {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "notReadyAddresses": [{"ip": "10.0.0.9"}],
             "ports": [{"name": "http-metrics", "port": 2379}, {"name": "other", "port": 1}]},
            {"addresses": [{"ip": "10.0.0.3"}], "ports": [{"name": "http-metrics", "port": 2379}]},
            {"addresses": [{"ip": "10.0.0.4"}], "ports": [{"name": "other", "port": 1}]},
        ]});
        assert_eq!(
            expected_targets(std::slice::from_ref(&ep), Some("http-metrics")),
            3
        );
        assert_eq!(expected_targets(std::slice::from_ref(&ep), Some("nope")), 0);
        // No port name (targetPort): one per address.
        assert_eq!(expected_targets(&[ep], None), 4);
        assert_eq!(expected_targets(&[], Some("http-metrics")), 0);
    }

    const URL: &str = "https://127.0.2.11:2379/metrics";

    #[test]
    fn go_and_prometheus_error_texts_are_classified() {
        let cases = [
            // Go 1.19 (Debian's Prometheus 2.42) and Go 1.20+ ("tls: failed to verify certificate: ").
            (
                r#"Get "https://127.0.2.11:2379/metrics": x509: certificate signed by unknown authority"#,
                Cause::UnknownAuthority,
            ),
            (
                r#"Get "https://127.0.2.11:2379/metrics": tls: failed to verify certificate: x509: certificate signed by unknown authority (possibly because of "crypto/rsa: verification error" while trying to verify candidate authority certificate "etcd-ca")"#,
                Cause::UnknownAuthority,
            ),
            (
                r#"Get "https://127.0.2.11:2379/metrics": remote error: tls: bad certificate"#,
                Cause::BadCertificate,
            ),
            (
                r#"Get "https://127.0.2.11:2379/metrics": remote error: tls: unknown certificate authority"#,
                Cause::BadCertificate,
            ),
            (
                r#"Get "https://127.0.2.11:2379/metrics": remote error: tls: certificate required"#,
                Cause::BadCertificate,
            ),
            (
                r#"Get "https://10.0.0.5:2379/metrics": x509: certificate is valid for 127.0.0.1, 10.0.0.6, not 10.0.0.5"#,
                Cause::NameMismatch,
            ),
            (
                r#"Get "https://10.0.0.5:2379/metrics": tls: failed to verify certificate: x509: certificate is valid for etcd.local, not etcd"#,
                Cause::NameMismatch,
            ),
            (
                r#"Get "https://10.0.0.5:2379/metrics": x509: cannot validate certificate for 10.0.0.5 because it doesn't contain any IP SANs"#,
                Cause::NameMismatch,
            ),
            (
                r#"Get "https://10.0.0.5:2379/metrics": x509: certificate has expired or is not yet valid: current time 2024-01-01T00:00:00Z is after 2023-01-01T00:00:00Z"#,
                Cause::Expired,
            ),
            (
                r#"Get "https://10.0.0.5:2379/metrics": dial tcp 10.0.0.5:2379: connect: connection refused"#,
                Cause::ConnectionRefused,
            ),
            (
                r#"Get "https://10.0.0.5:2381/metrics": http: server gave HTTP response to HTTPS client"#,
                Cause::HttpsToHttpPort,
            ),
            (
                r#"Get "https://10.0.0.5:2379/metrics": context deadline exceeded"#,
                Cause::Timeout,
            ),
            ("context deadline exceeded", Cause::Timeout),
            (
                r#"Get "https://10.0.0.5:2379/metrics": dial tcp 10.0.0.5:2379: i/o timeout"#,
                Cause::Timeout,
            ),
            (
                "unable to load specified CA cert /etc/prometheus/secrets/etcd-client-cert/etcd-ca: open /etc/prometheus/secrets/etcd-client-cert/etcd-ca: no such file or directory",
                Cause::FileMissing,
            ),
            (
                "server returned HTTP status 403 Forbidden",
                Cause::Unauthorized,
            ),
            ("something new", Cause::Other),
        ];
        for (e, want) in cases {
            assert_eq!(classify(e, URL), want, "{e}");
        }
        // Seen for real (etcd 3.4, TLS 1.3) next to `bad certificate` on the other members.
        assert_eq!(
            classify(
                r#"Get "https://127.11.2.11:2379/metrics": write tcp 127.0.0.1:40560->127.11.2.11:2379: write: broken pipe"#,
                URL
            ),
            Cause::ConnectionClosed
        );
        assert_eq!(
            classify(
                r#"Get "https://127.11.2.11:2379/metrics": read tcp 127.0.0.1:40560->127.11.2.11:2379: read: connection reset by peer"#,
                URL
            ),
            Cause::ConnectionClosed
        );
        // Seen for real (Prometheus 3, etcd 3.7) with an expired client certificate, next to
        // `bad certificate` on the other members.
        assert_eq!(
            classify(
                r#"Get "https://198.18.3.11:2379/metrics": http2: client conn could not be established"#,
                URL
            ),
            Cause::ConnectionClosed
        );
        // 400 Bad Request means plain HTTP to the TLS port only with an http:// scrape URL.
        assert_eq!(
            classify(
                "server returned HTTP status 400 Bad Request",
                "http://127.0.2.11:2379/metrics"
            ),
            Cause::HttpToHttpsPort
        );
        assert_eq!(
            classify("server returned HTTP status 400 Bad Request", URL),
            Cause::Other
        );
        // etcd 3.4 on its TLS client port closes a plain HTTP connection (seen for real).
        assert_eq!(
            classify(
                r#"Get "http://127.14.2.11:2379/metrics": EOF"#,
                "http://127.14.2.11:2379/metrics"
            ),
            Cause::HttpToHttpsPort
        );
        // The same close on the real control plane's pod network, the request not yet read.
        assert_eq!(
            classify(
                r#"Get "http://198.18.3.12:2379/metrics": read tcp 198.18.3.130:47080->198.18.3.12:2379: read: connection reset by peer"#,
                "http://198.18.3.12:2379/metrics"
            ),
            Cause::HttpToHttpsPort
        );
        assert_eq!(
            classify(r#"Get "https://127.14.2.11:2379/metrics": EOF"#, URL),
            Cause::ConnectionClosed
        );
    }

    #[test]
    fn explanations_name_the_fix() {
        let e = Cause::UnknownAuthority.explain("", URL);
        assert!(
            e.contains("wrong CA in the Secret") && e.contains("127.0.2.11:2379"),
            "{e}"
        );
        assert!(
            Cause::BadCertificate
                .explain("", URL)
                .contains("signed by a CA")
        );
        assert!(
            Cause::NameMismatch
                .explain("", URL)
                .contains("--server-name")
        );
        assert!(
            Cause::ConnectionRefused
                .explain("", URL)
                .contains("localhost only")
        );
        assert!(
            Cause::HttpsToHttpPort
                .explain("", URL)
                .contains("HTTP response to HTTPS client")
        );
        assert!(
            Cause::HttpToHttpsPort
                .explain("", URL)
                .contains("Client sent an HTTP request to an HTTPS server")
        );
        assert!(Cause::Timeout.explain("", URL).contains("firewall"));
    }

    fn answer() -> Value {
        json!({"status": "success", "data": {"activeTargets": [
            {"scrapePool": "serviceMonitor/monitoring/kube-etcd/0", "scrapeUrl": URL, "health": "down",
             "lastError": "Get \"https://127.0.2.11:2379/metrics\": x509: certificate signed by unknown authority",
             "lastScrape": "2024-01-01T00:00:10Z", "labels": {"job": "kube-etcd"}},
            {"scrapePool": "serviceMonitor/monitoring/kube-etcd/1", "scrapeUrl": "https://127.0.2.12:2379/metrics", "health": "up",
             "lastError": "", "lastScrape": "2024-01-01T00:00:20Z", "labels": {"job": "kube-etcd"}},
            {"scrapePool": "serviceMonitor/monitoring/kube-etcd-other/0", "scrapeUrl": "x", "health": "up",
             "lastError": "", "lastScrape": "0001-01-01T00:00:00Z", "labels": {"job": "other"}},
            {"scrapePool": "serviceMonitor/monitoring/apiserver/0", "scrapeUrl": "y", "health": "unknown",
             "lastError": "", "lastScrape": "0001-01-01T00:00:00Z", "labels": {"job": "apiserver"}}
        ]}})
    }

    #[test]
    fn targets_of_the_etcd_service_monitor_or_a_job() {
        let sm = JobMatch::ServiceMonitor {
            namespace: "monitoring".into(),
            name: "kube-etcd".into(),
        };
        let t = parse_targets(&answer(), &sm).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].cause, Some(Cause::UnknownAuthority));
        assert!(t[0].explanation.as_deref().unwrap().contains("wrong CA"));
        assert_eq!(t[1].cause, None);
        let since = parse_time("2024-01-01T00:00:15Z").unwrap();
        assert!(!scraped_since(&t[0], since));
        assert!(scraped_since(&t[1], since));
        let j = parse_targets(&answer(), &JobMatch::Job("apiserver".into())).unwrap();
        assert_eq!(j.len(), 1);
        assert!(!scraped_since(&j[0], 0.0));
        let j = parse_targets(
            &answer(),
            &JobMatch::Job("serviceMonitor/monitoring/kube-etcd-other/0".into()),
        )
        .unwrap();
        assert_eq!(j.len(), 1);
        assert!(parse_targets(&json!({"status": "error", "error": "x"}), &sm).is_err());
    }

    fn prom() -> Value {
        json!({"metadata": {"name": "k8s", "namespace": "monitoring"},
               "spec": {"serviceMonitorSelector": {"matchLabels": {"release": "prom"}}, "serviceMonitorNamespaceSelector": {}}})
    }

    fn sm(labels: Value) -> Value {
        json!({"metadata": {"name": "kube-etcd", "namespace": "monitoring", "labels": labels},
               "spec": {"selector": {"matchLabels": {"app": "kube-etcd"}}, "namespaceSelector": {"matchNames": ["kube-system"]},
                        "endpoints": [{"port": "http-metrics"}]}})
    }

    fn svc(ns: &str, selector: Value) -> Value {
        json!({"metadata": {"name": "kube-etcd", "namespace": ns, "labels": {"app": "kube-etcd"}}, "spec": {"selector": selector}})
    }

    #[test]
    fn no_targets_explained() {
        let p = prom();
        let nss = vec![];
        let m = sm(json!({"release": "other"}));
        // Not selected: the labels.
        let r = explain_no_targets(&NoTargetFacts {
            prometheus: &p,
            service_monitor: Some(&m),
            selected: false,
            namespaces: &nss,
            services: &[],
            endpoints: &[],
            port: Some("http-metrics"),
        });
        assert!(
            r[0].contains("not selected by this Prometheus") && r[0].contains("release=prom"),
            "{r:?}"
        );
        // Not selected: the namespace selector.
        let mut p2 = prom();
        p2["spec"]["serviceMonitorNamespaceSelector"] = json!({"matchLabels": {"team": "x"}});
        let m2 = sm(json!({"release": "prom"}));
        let r = explain_no_targets(&NoTargetFacts {
            prometheus: &p2,
            service_monitor: Some(&m2),
            selected: false,
            namespaces: &nss,
            services: &[],
            endpoints: &[],
            port: None,
        });
        assert!(r[0].contains("serviceMonitorNamespaceSelector"), "{r:?}");
        // Selected, the Service elsewhere.
        let services = vec![svc("etcd", json!(null))];
        let r = explain_no_targets(&NoTargetFacts {
            prometheus: &p,
            service_monitor: Some(&m2),
            selected: true,
            namespaces: &nss,
            services: &services,
            endpoints: &[],
            port: None,
        });
        assert!(
            r[0].contains("namespaceSelector") && r[0].contains("etcd/kube-etcd"),
            "{r:?}"
        );
        // The seed: the Service still has a selector, the Endpoints are empty.
        let services = vec![svc("kube-system", json!({"component": "etcd"}))];
        let eps = vec![json!({"metadata": {"name": "kube-etcd", "namespace": "kube-system"}})];
        let r = explain_no_targets(&NoTargetFacts {
            prometheus: &p,
            service_monitor: Some(&m2),
            selected: true,
            namespaces: &nss,
            services: &services,
            endpoints: &eps,
            port: Some("http-metrics"),
        });
        assert!(
            r[0].contains("Endpoints") && r[0].contains("still has a selector (component=etcd)"),
            "{r:?}"
        );
        // Endpoints with addresses but another port name.
        let services = vec![svc("kube-system", json!(null))];
        let eps = vec![
            json!({"metadata": {"name": "kube-etcd", "namespace": "kube-system"},
                              "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"name": "client", "port": 2379}]}]}),
        ];
        let r = explain_no_targets(&NoTargetFacts {
            prometheus: &p,
            service_monitor: Some(&m2),
            selected: true,
            namespaces: &nss,
            services: &services,
            endpoints: &eps,
            port: Some("http-metrics"),
        });
        assert!(r[0].contains("no port named http-metrics"), "{r:?}");
        // All fine: nothing to say.
        let r = explain_no_targets(&NoTargetFacts {
            prometheus: &p,
            service_monitor: Some(&m2),
            selected: true,
            namespaces: &nss,
            services: &services,
            endpoints: &eps,
            port: Some("client"),
        });
        assert!(r.is_empty());
        // No ServiceMonitor at all.
        let r = explain_no_targets(&NoTargetFacts {
            prometheus: &p,
            service_monitor: None,
            selected: false,
            namespaces: &nss,
            services: &[],
            endpoints: &[],
            port: None,
        });
        assert!(r[0].contains("no etcd ServiceMonitor"));
    }
}
