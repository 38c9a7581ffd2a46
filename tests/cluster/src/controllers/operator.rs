//! The Prometheus Operator's Prometheus controller (prometheus-operator `pkg/prometheus/server`
//! `operator.go`, `statefulset.go`; configuration from `pkg/prometheus/promcfg.go`, selection and
//! validation from `pkg/prometheus/resource_selector.go`) and the StatefulSet controller's part
//! (kubernetes `pkg/controller/statefulset`).
//!
//! For every Prometheus (monitoring.coreos.com/v1), the operator (field manager
//! `PrometheusOperator`) writes:
//! - Secret `prometheus-<name>`, key `prometheus.yaml.gz`: the generated configuration, gzipped;
//! - Secret `prometheus-<name>-tls-assets-0`: the TLS material ServiceMonitors and PodMonitors
//!   reference by Secret/ConfigMap (`ca.secret`, `cert.secret`, `keySecret`, ...), one key
//!   `<secret|configmap>_<namespace>_<name>_<key>` each, read from the monitor's own namespace
//!   and referenced in the configuration as `/etc/prometheus/certs/<that key>`;
//! - Secret `prometheus-<name>-web-config`, ConfigMap `prometheus-<name>-rulefiles-0`, the
//!   governing Service `prometheus-operated`;
//! - one StatefulSet per shard (`prometheus-<name>`, `prometheus-<name>-shard-<n>`) with the
//!   labels, selector, containers, args, volumes and mounts of the operator's `statefulset.go`
//!   (one `secret-<s>` volume per `spec.secrets` entry at `/etc/prometheus/secrets/<s>`, one
//!   `configmap-<c>` per `spec.configMaps` at `/etc/prometheus/configmaps/<c>`);
//! - the Prometheus status (replicas, availableReplicas, updatedReplicas, shardStatuses,
//!   conditions `Available` and `Reconciled`).
//!
//! ServiceMonitors are selected by `serviceMonitorSelector` (absent: none; `{}`: all) in the
//! namespaces of `serviceMonitorNamespaceSelector` (absent: the Prometheus' own; `{}`: all);
//! likewise PodMonitors. With `arbitraryFSAccessThroughSMs.deny: true` a ServiceMonitor using
//! `bearerTokenFile` or file-based TLS is rejected with the operator's message, logged as the
//! operator logs it (see [`operator_log`]).
//!
//! Since the cluster's Prometheus runs outside a real cluster, `kubernetes_sd_configs` get
//! `api_server`, a bearer token and the CA of the test API server once the integrator called
//! [`set_api_access`].

use super::promyaml::Y;
use super::{KCM, controller_ref, ensure, name_of, ns_of, owned_by, pod_ready, run_loop, uid_of};
use crate::cluster::Cluster;
use crate::selectors::Selector;
use crate::store::{DeletePre, Store, WriteCtx, now_rfc3339};
use base64::Engine;
use serde_json::{Map, Value, json};
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The operator's field manager.
pub const OPERATOR: &str = "PrometheusOperator";
/// The Prometheus version when `spec.version` is empty (operator v0.76's default).
pub const DEFAULT_VERSION: &str = "v2.54.1";
/// `operator.DefaultPrometheusConfigReloaderImage` of operator v0.76.
pub const RELOADER_IMAGE: &str = "quay.io/prometheus-operator/prometheus-config-reloader:v0.76.2";
/// The directory TLS assets are mounted at (`tlsAssetsDir`).
pub const TLS_ASSETS_DIR: &str = "/etc/prometheus/certs";

/// How the cluster's Prometheus reaches the API server for service discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAccess {
    pub url: String,
    pub ca_file: PathBuf,
    pub token: String,
}

#[derive(Default)]
struct OperatorState {
    api: Option<ApiAccess>,
    /// Lines as the operator logs them (rejected monitors).
    log: Vec<String>,
    /// Currently rejected (prometheus, kind, monitor) → error, to log each rejection once.
    rejected: BTreeMap<(String, String, String), String>,
}

/// Per-cluster operator state, keyed by the cluster's network octet.
static STATE: Mutex<BTreeMap<u8, OperatorState>> = Mutex::new(BTreeMap::new());

fn with_state<T>(net: u8, f: impl FnOnce(&mut OperatorState) -> T) -> T {
    let mut g = STATE.lock().unwrap_or_else(|p| p.into_inner());
    f(g.entry(net).or_default())
}

/// Tell the operator of this cluster how Prometheus reaches the API server (called by the
/// integrator once the API server listens). The configuration is regenerated on the next sync.
pub fn set_api_access(cluster: &Cluster, url: &str, ca_file: &Path, token: &str) {
    with_state(cluster.net, |s| {
        s.api = Some(ApiAccess {
            url: url.to_string(),
            ca_file: ca_file.to_path_buf(),
            token: token.to_string(),
        })
    });
}

/// The operator's log lines for this cluster (e.g. `level=warn ... msg="skipping
/// servicemonitor" error="endpoints[0]: it accesses file system via tls config which Prometheus
/// specification prohibits" servicemonitor=monitoring/etcd ...`).
pub fn operator_log(cluster: &Cluster) -> Vec<String> {
    with_state(cluster.net, |s| s.log.clone())
}

pub fn spawn(cluster: Arc<Cluster>) -> tokio::task::JoinHandle<()> {
    let store = cluster.store.clone();
    let watch: Vec<String> = [
        "prometheuses",
        "servicemonitors",
        "podmonitors",
        "namespaces",
        "secrets",
        "configmaps",
        "statefulsets",
        "pods",
    ]
    .iter()
    .map(|p| super::q(&store, p))
    .collect();
    let s = store.clone();
    let net = cluster.net;
    run_loop(store, watch, Some(Duration::from_millis(500)), move |_| {
        sync_all(&s, net)
    })
}

fn ctx() -> WriteCtx {
    WriteCtx::update(OPERATOR)
}

fn status_ctx(manager: &str) -> WriteCtx {
    WriteCtx {
        subresource: Some("status".into()),
        ..WriteCtx::update(manager)
    }
}

/// Reconcile every Prometheus.
pub fn sync_all(store: &Store, net: u8) {
    let prt = store.rt("prometheuses");
    let (proms, _) = store.list(&prt, None);
    for p in proms {
        sync_prometheus(store, net, &p);
    }
}

fn spec_str<'a>(p: &'a Value, f: &str) -> Option<&'a str> {
    p["spec"][f].as_str().filter(|s| !s.is_empty())
}

fn shards(p: &Value) -> i64 {
    p["spec"]["shards"].as_i64().unwrap_or(1).max(1)
}

fn replicas(p: &Value) -> i64 {
    p["spec"]["replicas"].as_i64().unwrap_or(1).max(0)
}

/// `prometheus-<name>` or `prometheus-<name>-shard-<n>`.
pub fn statefulset_name(prom: &str, shard: i64) -> String {
    if shard == 0 {
        format!("prometheus-{prom}")
    } else {
        format!("prometheus-{prom}-shard-{shard}")
    }
}

/// `k8sutil.SanitizeVolumeName`: lower case, `[a-z0-9-]` only, at most 63 characters.
pub fn sanitize_volume_name(n: &str) -> String {
    let s: String = n
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-').to_string();
    s.chars().take(63).collect()
}

/// Namespaces a `*NamespaceSelector` of the Prometheus selects (absent: its own namespace).
fn selected_namespaces(store: &Store, p: &Value, field: &str) -> BTreeSet<String> {
    let own = ns_of(p).to_string();
    let sel = &p["spec"][field];
    if sel.is_null() {
        return [own].into();
    }
    let Some(s) = Selector::from_label_selector(Some(sel), false) else {
        return BTreeSet::new();
    };
    let nrt = store.rt("namespaces");
    store
        .list(&nrt, None)
        .0
        .iter()
        .filter(|n| s.matches_object(n))
        .map(|n| name_of(n).to_string())
        .collect()
}

/// Monitors of `plural` selected by `spec.<sel>` in the namespaces of `spec.<nssel>`, in
/// `namespace/name` order.
fn selected_monitors(
    store: &Store,
    p: &Value,
    plural: &str,
    sel: &str,
    nssel: &str,
) -> Vec<Arc<Value>> {
    let Some(s) = Selector::from_label_selector(p["spec"].get(sel), false) else {
        return vec![];
    };
    let nss = selected_namespaces(store, p, nssel);
    let rt = store.rt(plural);
    let mut v: Vec<Arc<Value>> = store
        .list(&rt, None)
        .0
        .into_iter()
        .filter(|m| nss.contains(ns_of(m)) && s.matches_object(m))
        .collect();
    v.sort_by(|a, b| (ns_of(a), name_of(a)).cmp(&(ns_of(b), name_of(b))));
    v
}

/// TLS assets collected while generating: key → base64 content.
#[derive(Default)]
struct Assets {
    data: BTreeMap<String, String>,
}

impl Assets {
    /// Add a `SecretOrConfigMap` (`{secret: {name, key}}` / `{configMap: ...}`) or a
    /// `SecretKeySelector` (`{name, key}` with `is_secret`), returning the asset key.
    fn add(
        &mut self,
        store: &Store,
        ns: &str,
        r: &Value,
        direct_secret: bool,
    ) -> Result<String, String> {
        let (kind, sel) = if direct_secret {
            ("secret", r)
        } else if r["secret"].is_object() {
            ("secret", &r["secret"])
        } else if r["configMap"].is_object() {
            ("configmap", &r["configMap"])
        } else {
            return Err("no secret or configmap reference".into());
        };
        let name = sel["name"].as_str().unwrap_or("");
        let key = sel["key"].as_str().unwrap_or("");
        let (plural, field) = if kind == "secret" {
            ("secrets", "data")
        } else {
            ("configmaps", "data")
        };
        let rt = store.rt(plural);
        let obj = store
            .get(&rt, Some(ns), name)
            .map_err(|_| format!("unable to get {kind} {ns}/{name}"))?;
        let content = match obj[field].get(key).and_then(Value::as_str) {
            Some(v) if kind == "secret" => v.to_string(),
            Some(v) => base64::engine::general_purpose::STANDARD.encode(v),
            None => {
                return Err(format!("key {key:?} not found in {kind} {ns}/{name}"));
            }
        };
        let asset = format!("{kind}_{ns}_{name}_{key}");
        self.data.insert(asset.clone(), content);
        Ok(asset)
    }
}

/// `testForArbitraryFSAccess`.
pub fn test_for_arbitrary_fs_access(ep: &Value) -> Result<(), String> {
    if ep["bearerTokenFile"]
        .as_str()
        .is_some_and(|s| !s.is_empty())
    {
        return Err(
            "it accesses file system via bearer token file which Prometheus specification prohibits"
                .into(),
        );
    }
    let t = &ep["tlsConfig"];
    if ["caFile", "certFile", "keyFile"]
        .iter()
        .any(|f| t[f].as_str().is_some_and(|s| !s.is_empty()))
    {
        return Err(
            "it accesses file system via tls config which Prometheus specification prohibits"
                .into(),
        );
    }
    Ok(())
}

/// Validate a monitor's endpoints and collect its TLS assets (`checkServiceMonitor`).
fn check_monitor(
    store: &Store,
    p: &Value,
    m: &Value,
    endpoints_field: &str,
    deny_fs: bool,
    assets: &mut Assets,
) -> Result<(), String> {
    let ns = ns_of(m);
    for (i, ep) in m["spec"][endpoints_field]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if deny_fs && let Err(e) = test_for_arbitrary_fs_access(ep) {
            return Err(format!("endpoints[{i}]: {e}"));
        }
        // `validateScrapeIntervalAndTimeout`
        if let Some(timeout) = ep["scrapeTimeout"].as_str().filter(|s| !s.is_empty()) {
            let interval = ep["interval"]
                .as_str()
                .filter(|s| !s.is_empty())
                .or(spec_str(p, "scrapeInterval"))
                .unwrap_or("30s");
            if let (Some(t), Some(iv)) = (parse_duration(timeout), parse_duration(interval))
                && t > iv
            {
                return Err(format!(
                    "endpoints[{i}]: scrapeTimeout {timeout:?} greater than scrapeInterval {interval:?}"
                ));
            }
        }
        let t = &ep["tlsConfig"];
        for f in ["ca", "cert"] {
            if t[f].is_object() && (t[f]["secret"].is_object() || t[f]["configMap"].is_object()) {
                assets
                    .add(store, ns, &t[f], false)
                    .map_err(|e| format!("endpoints[{i}]: tlsConfig: {e}"))?;
            }
        }
        if t["keySecret"].is_object() {
            assets
                .add(store, ns, &t["keySecret"], true)
                .map_err(|e| format!("endpoints[{i}]: tlsConfig: {e}"))?;
        }
    }
    Ok(())
}

/// A Prometheus duration (`1h30m`, `15s`, `500ms`) in milliseconds (`model.ParseDuration`).
pub fn parse_duration(s: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !c.is_ascii_digit())?;
        if n_end == 0 {
            return None;
        }
        let n: u64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let mult = match &rest[..u_end] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(mult)?)?;
        rest = &rest[u_end..];
    }
    Some(total)
}

fn sanitize_label_name(n: &str) -> String {
    n.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn rc(items: Vec<(&str, Y)>) -> Y {
    Y::Map(items.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// `generateRelabelConfig` for user relabelings (ServiceMonitor `relabelings`,
/// `metricRelabelings`).
fn user_relabelings(v: &Value) -> Vec<Y> {
    let mut out = Vec::new();
    for c in v.as_array().into_iter().flatten() {
        let mut r = Vec::new();
        if let Some(sl) = c["sourceLabels"].as_array().filter(|a| !a.is_empty()) {
            r.push((
                "source_labels",
                Y::strs(sl.iter().filter_map(Value::as_str)),
            ));
        }
        if let Some(s) = c["separator"].as_str() {
            r.push(("separator", Y::s(s)));
        }
        if let Some(s) = c["targetLabel"].as_str().filter(|s| !s.is_empty()) {
            r.push(("target_label", Y::s(s)));
        }
        if let Some(s) = c["regex"].as_str().filter(|s| !s.is_empty()) {
            r.push(("regex", Y::s(s)));
        }
        if let Some(n) = c["modulus"].as_i64().filter(|n| *n != 0) {
            r.push(("modulus", Y::Int(n)));
        }
        if let Some(s) = c["replacement"].as_str() {
            r.push(("replacement", Y::s(s)));
        }
        if let Some(s) = c["action"].as_str().filter(|s| !s.is_empty()) {
            r.push(("action", Y::s(s.to_lowercase())));
        }
        out.push(rc(r));
    }
    out
}

/// Relabelings that keep targets whose `<meta>_label_*` match a LabelSelector.
fn selector_relabelings(sel: &Value, meta: &str) -> Vec<Y> {
    let mut out = Vec::new();
    if let Some(ml) = sel["matchLabels"].as_object() {
        // serde_json maps are sorted: the operator sorts the keys too
        for (k, v) in ml {
            let k = sanitize_label_name(k);
            out.push(rc(vec![
                ("action", Y::s("keep")),
                (
                    "source_labels",
                    Y::strs([
                        format!("{meta}_label_{k}"),
                        format!("{meta}_labelpresent_{k}"),
                    ]),
                ),
                (
                    "regex",
                    Y::s(format!("({});true", v.as_str().unwrap_or(""))),
                ),
            ]));
        }
    }
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        let k = sanitize_label_name(e["key"].as_str().unwrap_or(""));
        let vals: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let both = Y::strs([
            format!("{meta}_label_{k}"),
            format!("{meta}_labelpresent_{k}"),
        ]);
        let present = Y::strs([format!("{meta}_labelpresent_{k}")]);
        let r = match e["operator"].as_str().unwrap_or("") {
            "In" => rc(vec![
                ("action", Y::s("keep")),
                ("source_labels", both),
                ("regex", Y::s(format!("({});true", vals.join("|")))),
            ]),
            "NotIn" => rc(vec![
                ("action", Y::s("drop")),
                ("source_labels", both),
                ("regex", Y::s(format!("({});true", vals.join("|")))),
            ]),
            "Exists" => rc(vec![
                ("action", Y::s("keep")),
                ("source_labels", present),
                ("regex", Y::s("true")),
            ]),
            "DoesNotExist" => rc(vec![
                ("action", Y::s("drop")),
                ("source_labels", present),
                ("regex", Y::s("true")),
            ]),
            _ => continue,
        };
        out.push(r);
    }
    out
}

fn sharding(relabelings: &mut Vec<Y>, shards: i64) {
    relabelings.push(rc(vec![
        ("source_labels", Y::strs(["__address__"])),
        ("target_label", Y::s("__tmp_hash")),
        ("modulus", Y::Int(shards)),
        ("action", Y::s("hashmod")),
    ]));
    relabelings.push(rc(vec![
        ("source_labels", Y::strs(["__tmp_hash"])),
        ("regex", Y::s("$(SHARD)")),
        ("action", Y::s("keep")),
    ]));
}

/// `generateK8SSDConfig`.
fn k8s_sd(m: &Value, role: &str, api: Option<&ApiAccess>) -> Y {
    let mut sd = Y::map([("role", Y::s(role))]);
    let nsel = &m["spec"]["namespaceSelector"];
    let names: Vec<String> = if nsel["any"].as_bool() == Some(true) {
        vec![]
    } else if let Some(mn) = nsel["matchNames"].as_array().filter(|a| !a.is_empty()) {
        mn.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    } else {
        vec![ns_of(m).to_string()]
    };
    if !names.is_empty() {
        sd.push("namespaces", Y::map([("names", Y::strs(names))]));
    }
    if let Some(a) = api {
        sd.push("api_server", Y::s(&a.url));
        sd.push(
            "authorization",
            Y::map([("type", Y::s("Bearer")), ("credentials", Y::s(&a.token))]),
        );
        sd.push(
            "tls_config",
            Y::map([("ca_file", Y::s(a.ca_file.to_string_lossy()))]),
        );
    }
    Y::Seq(vec![sd])
}

/// `addTLStoYaml`: the safe (secret/configmap) part first, then the file paths.
fn tls_config(t: &Value, store: &Store, ns: &str, assets: &mut Assets) -> Option<Y> {
    if !t.is_object() {
        return None;
    }
    let mut c = Y::Map(vec![]);
    if let Some(b) = t["insecureSkipVerify"].as_bool() {
        c.push("insecure_skip_verify", Y::Bool(b));
    }
    for (f, key) in [("ca", "ca_file"), ("cert", "cert_file")] {
        if (t[f]["secret"].is_object() || t[f]["configMap"].is_object())
            && let Ok(a) = assets.add(store, ns, &t[f], false)
        {
            c.push(key, Y::s(format!("{TLS_ASSETS_DIR}/{a}")));
        }
    }
    if t["keySecret"].is_object()
        && let Ok(a) = assets.add(store, ns, &t["keySecret"], true)
    {
        c.push("key_file", Y::s(format!("{TLS_ASSETS_DIR}/{a}")));
    }
    if let Some(s) = t["serverName"].as_str().filter(|s| !s.is_empty()) {
        c.push("server_name", Y::s(s));
    }
    for (f, key) in [("minVersion", "min_version"), ("maxVersion", "max_version")] {
        if let Some(s) = t[f].as_str() {
            c.push(key, Y::s(s));
        }
    }
    for (f, key) in [
        ("caFile", "ca_file"),
        ("certFile", "cert_file"),
        ("keyFile", "key_file"),
    ] {
        if let Some(s) = t[f].as_str().filter(|s| !s.is_empty()) {
            c.push(key, Y::s(s));
        }
    }
    Some(c)
}

/// The relabeling a monitor's `jobLabel` adds: the job is the value of that label of the
/// discovered `service` (ServiceMonitor) or `pod` (PodMonitor), when it has one.
fn job_label_relabeling(m: &Value, kind: &str) -> Option<Y> {
    let jl = m["spec"]["jobLabel"].as_str().filter(|s| !s.is_empty())?;
    Some(rc(vec![
        (
            "source_labels",
            Y::strs([format!(
                "__meta_kubernetes_{kind}_label_{}",
                sanitize_label_name(jl)
            )]),
        ),
        ("target_label", Y::s("job")),
        ("regex", Y::s("(.+)")),
        ("replacement", Y::s("${1}")),
    ]))
}

/// `generateServiceMonitorConfig` for endpoint `i` of a ServiceMonitor.
fn service_monitor_job(
    store: &Store,
    p: &Value,
    m: &Value,
    ep: &Value,
    i: usize,
    api: Option<&ApiAccess>,
    assets: &mut Assets,
) -> Y {
    let role = if spec_str(p, "serviceDiscoveryRole") == Some("EndpointSlice") {
        "endpointslice"
    } else {
        "endpoints"
    };
    let mut cfg = Y::map([
        (
            "job_name",
            Y::s(format!("serviceMonitor/{}/{}/{i}", ns_of(m), name_of(m))),
        ),
        (
            "honor_labels",
            Y::Bool(
                ep["honorLabels"].as_bool().unwrap_or(false)
                    && p["spec"]["overrideHonorLabels"].as_bool() != Some(true),
            ),
        ),
    ]);
    if let Some(h) = ep["honorTimestamps"].as_bool() {
        cfg.push("honor_timestamps", Y::Bool(h));
    }
    cfg.push("kubernetes_sd_configs", k8s_sd(m, role, api));
    for (f, key) in [
        ("interval", "scrape_interval"),
        ("scrapeTimeout", "scrape_timeout"),
        ("path", "metrics_path"),
        ("proxyUrl", "proxy_url"),
    ] {
        if let Some(s) = ep[f].as_str().filter(|s| !s.is_empty()) {
            cfg.push(key, Y::s(s));
        }
    }
    if ep["params"].is_object() {
        cfg.push("params", Y::from_json(&ep["params"]));
    }
    if let Some(s) = ep["scheme"].as_str().filter(|s| !s.is_empty()) {
        cfg.push("scheme", Y::s(s.to_lowercase()));
    }
    if let Some(b) = ep["followRedirects"].as_bool() {
        cfg.push("follow_redirects", Y::Bool(b));
    }
    if let Some(b) = ep["enableHttp2"].as_bool() {
        cfg.push("enable_http2", Y::Bool(b));
    }
    if let Some(t) = tls_config(&ep["tlsConfig"], store, ns_of(m), assets) {
        cfg.push("tls_config", t);
    }
    if let Some(s) = ep["bearerTokenFile"].as_str().filter(|s| !s.is_empty()) {
        cfg.push("bearer_token_file", Y::s(s));
    }
    if let Some(name) = ep["bearerTokenSecret"]["name"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        let rt = store.rt("secrets");
        let key = ep["bearerTokenSecret"]["key"].as_str().unwrap_or("");
        if let Some(tok) = store
            .get(&rt, Some(ns_of(m)), name)
            .ok()
            .and_then(|s| s["data"][key].as_str().map(str::to_string))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        {
            cfg.push("bearer_token", Y::s(String::from_utf8_lossy(&tok)));
        }
    }
    let mut r = vec![rc(vec![
        ("source_labels", Y::strs(["job"])),
        ("target_label", Y::s("__tmp_prometheus_job_name")),
    ])];
    r.extend(selector_relabelings(
        &m["spec"]["selector"],
        "__meta_kubernetes_service",
    ));
    let slice = role == "endpointslice";
    let port = ep["port"].as_str().filter(|s| !s.is_empty());
    let target_port = match &ep["targetPort"] {
        Value::String(s) if !s.is_empty() => Some((s.clone(), true)),
        Value::Number(n) if n.as_i64().unwrap_or(0) != 0 => Some((n.to_string(), false)),
        _ => None,
    };
    if let Some(port) = port {
        let l = if slice {
            "__meta_kubernetes_endpointslice_port_name"
        } else {
            "__meta_kubernetes_endpoint_port_name"
        };
        r.push(rc(vec![
            ("action", Y::s("keep")),
            ("source_labels", Y::strs([l])),
            ("regex", Y::s(port)),
        ]));
    } else if let Some((tp, named)) = &target_port {
        let l = if *named {
            "__meta_kubernetes_pod_container_port_name"
        } else {
            "__meta_kubernetes_pod_container_port_number"
        };
        r.push(rc(vec![
            ("action", Y::s("keep")),
            ("source_labels", Y::strs([l])),
            ("regex", Y::s(tp)),
        ]));
    }
    let target = if slice {
        [
            "__meta_kubernetes_endpointslice_address_target_kind",
            "__meta_kubernetes_endpointslice_address_target_name",
        ]
    } else {
        [
            "__meta_kubernetes_endpoint_address_target_kind",
            "__meta_kubernetes_endpoint_address_target_name",
        ]
    };
    for (re, tl) in [("Node;(.*)", "node"), ("Pod;(.*)", "pod")] {
        r.push(rc(vec![
            ("source_labels", Y::strs(target)),
            ("separator", Y::s(";")),
            ("regex", Y::s(re)),
            ("replacement", Y::s("${1}")),
            ("target_label", Y::s(tl)),
        ]));
    }
    for (sl, tl) in [
        ("__meta_kubernetes_namespace", "namespace"),
        ("__meta_kubernetes_service_name", "service"),
        ("__meta_kubernetes_pod_name", "pod"),
        ("__meta_kubernetes_pod_container_name", "container"),
    ] {
        r.push(rc(vec![
            ("source_labels", Y::strs([sl])),
            ("target_label", Y::s(tl)),
        ]));
    }
    if ep["filterRunning"].as_bool() != Some(false) {
        r.push(rc(vec![
            ("action", Y::s("drop")),
            ("source_labels", Y::strs(["__meta_kubernetes_pod_phase"])),
            ("regex", Y::s("(Failed|Succeeded)")),
        ]));
    }
    for (field, meta) in [
        ("targetLabels", "__meta_kubernetes_service_label_"),
        ("podTargetLabels", "__meta_kubernetes_pod_label_"),
    ] {
        let mut ls: Vec<String> = m["spec"][field]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        if field == "podTargetLabels" {
            ls.extend(
                p["spec"]["podTargetLabels"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string)),
            );
        }
        for l in ls {
            let l = sanitize_label_name(&l);
            r.push(rc(vec![
                ("source_labels", Y::strs([format!("{meta}{l}")])),
                ("target_label", Y::s(&l)),
                ("regex", Y::s("(.+)")),
                ("replacement", Y::s("${1}")),
            ]));
        }
    }
    r.push(rc(vec![
        ("source_labels", Y::strs(["__meta_kubernetes_service_name"])),
        ("target_label", Y::s("job")),
        ("replacement", Y::s("${1}")),
    ]));
    r.extend(job_label_relabeling(m, "service"));
    if let Some(port) = port {
        r.push(rc(vec![
            ("target_label", Y::s("endpoint")),
            ("replacement", Y::s(port)),
        ]));
    } else if let Some((tp, _)) = &target_port {
        r.push(rc(vec![
            ("target_label", Y::s("endpoint")),
            ("replacement", Y::s(tp)),
        ]));
    }
    r.extend(user_relabelings(&ep["relabelings"]));
    sharding(&mut r, shards(p));
    cfg.push("relabel_configs", Y::Seq(r));
    let mr = user_relabelings(&ep["metricRelabelings"]);
    if !mr.is_empty() {
        cfg.push("metric_relabel_configs", Y::Seq(mr));
    }
    cfg
}

/// `generatePodMonitorConfig` for endpoint `i` of a PodMonitor.
fn pod_monitor_job(
    store: &Store,
    p: &Value,
    m: &Value,
    ep: &Value,
    i: usize,
    api: Option<&ApiAccess>,
    assets: &mut Assets,
) -> Y {
    let mut cfg = Y::map([
        (
            "job_name",
            Y::s(format!("podMonitor/{}/{}/{i}", ns_of(m), name_of(m))),
        ),
        (
            "honor_labels",
            Y::Bool(
                ep["honorLabels"].as_bool().unwrap_or(false)
                    && p["spec"]["overrideHonorLabels"].as_bool() != Some(true),
            ),
        ),
    ]);
    if let Some(h) = ep["honorTimestamps"].as_bool() {
        cfg.push("honor_timestamps", Y::Bool(h));
    }
    cfg.push("kubernetes_sd_configs", k8s_sd(m, "pod", api));
    for (f, key) in [
        ("interval", "scrape_interval"),
        ("scrapeTimeout", "scrape_timeout"),
        ("path", "metrics_path"),
        ("proxyUrl", "proxy_url"),
    ] {
        if let Some(s) = ep[f].as_str().filter(|s| !s.is_empty()) {
            cfg.push(key, Y::s(s));
        }
    }
    if ep["params"].is_object() {
        cfg.push("params", Y::from_json(&ep["params"]));
    }
    if let Some(s) = ep["scheme"].as_str().filter(|s| !s.is_empty()) {
        cfg.push("scheme", Y::s(s.to_lowercase()));
    }
    if let Some(t) = tls_config(&ep["tlsConfig"], store, ns_of(m), assets) {
        cfg.push("tls_config", t);
    }
    let mut r = vec![rc(vec![
        ("source_labels", Y::strs(["job"])),
        ("target_label", Y::s("__tmp_prometheus_job_name")),
    ])];
    if ep["filterRunning"].as_bool() != Some(false) {
        r.push(rc(vec![
            ("action", Y::s("drop")),
            ("source_labels", Y::strs(["__meta_kubernetes_pod_phase"])),
            ("regex", Y::s("(Failed|Succeeded)")),
        ]));
    }
    r.extend(selector_relabelings(
        &m["spec"]["selector"],
        "__meta_kubernetes_pod",
    ));
    let port = ep["port"].as_str().filter(|s| !s.is_empty());
    if let Some(port) = port {
        r.push(rc(vec![
            ("action", Y::s("keep")),
            (
                "source_labels",
                Y::strs(["__meta_kubernetes_pod_container_port_name"]),
            ),
            ("regex", Y::s(port)),
        ]));
    }
    for (sl, tl) in [
        ("__meta_kubernetes_namespace", "namespace"),
        ("__meta_kubernetes_pod_container_name", "container"),
        ("__meta_kubernetes_pod_name", "pod"),
    ] {
        r.push(rc(vec![
            ("source_labels", Y::strs([sl])),
            ("target_label", Y::s(tl)),
        ]));
    }
    r.push(rc(vec![
        ("target_label", Y::s("job")),
        ("replacement", Y::s(format!("{}/{}", ns_of(m), name_of(m)))),
    ]));
    r.extend(job_label_relabeling(m, "pod"));
    if let Some(port) = port {
        r.push(rc(vec![
            ("target_label", Y::s("endpoint")),
            ("replacement", Y::s(port)),
        ]));
    }
    r.extend(user_relabelings(&ep["relabelings"]));
    sharding(&mut r, shards(p));
    cfg.push("relabel_configs", Y::Seq(r));
    let mr = user_relabelings(&ep["metricRelabelings"]);
    if !mr.is_empty() {
        cfg.push("metric_relabel_configs", Y::Seq(mr));
    }
    cfg
}

/// The result of one configuration generation.
pub struct Generated {
    pub yaml: String,
    /// TLS assets: key → base64 content.
    pub assets: BTreeMap<String, String>,
    /// Rejected monitors: (kind, namespace/name, error).
    pub rejected: Vec<(String, String, String)>,
}

/// Generate the configuration of a Prometheus from the store (`GenerateServerConfiguration`).
pub fn generate(store: &Store, p: &Value, api: Option<&ApiAccess>) -> Generated {
    let deny_fs = p["spec"]["arbitraryFSAccessThroughSMs"]["deny"].as_bool() == Some(true);
    let mut assets = Assets::default();
    let mut rejected = Vec::new();
    let mut global = Y::map([
        (
            "evaluation_interval",
            Y::s(spec_str(p, "evaluationInterval").unwrap_or("30s")),
        ),
        (
            "scrape_interval",
            Y::s(spec_str(p, "scrapeInterval").unwrap_or("30s")),
        ),
    ]);
    if let Some(t) = spec_str(p, "scrapeTimeout") {
        global.push("scrape_timeout", Y::s(t));
    }
    let mut ext: BTreeMap<String, String> = BTreeMap::new();
    ext.insert("prometheus".into(), format!("{}/{}", ns_of(p), name_of(p)));
    ext.insert("prometheus_replica".into(), "$(POD_NAME)".into());
    if let Some(e) = p["spec"]["externalLabels"].as_object() {
        for (k, v) in e {
            ext.entry(k.clone())
                .or_insert_with(|| v.as_str().unwrap_or("").to_string());
        }
    }
    global.push(
        "external_labels",
        Y::Map(ext.into_iter().map(|(k, v)| (k, Y::Str(v))).collect()),
    );
    let mut cfg = Y::map([("global", global)]);
    if !p["spec"]["ruleSelector"].is_null() {
        cfg.push(
            "rule_files",
            Y::strs([format!(
                "/etc/prometheus/rules/prometheus-{}-rulefiles-0/*.yaml",
                name_of(p)
            )]),
        );
    }
    let mut jobs = Vec::new();
    for (plural, sel, nssel, field, kind) in [
        (
            "servicemonitors",
            "serviceMonitorSelector",
            "serviceMonitorNamespaceSelector",
            "endpoints",
            "servicemonitor",
        ),
        (
            "podmonitors",
            "podMonitorSelector",
            "podMonitorNamespaceSelector",
            "podMetricsEndpoints",
            "podmonitor",
        ),
    ] {
        for m in selected_monitors(store, p, plural, sel, nssel) {
            let mut probe = Assets::default();
            if let Err(e) = check_monitor(
                store,
                p,
                &m,
                field,
                deny_fs && kind == "servicemonitor",
                &mut probe,
            ) {
                rejected.push((
                    kind.to_string(),
                    format!("{}/{}", ns_of(&m), name_of(&m)),
                    e,
                ));
                continue;
            }
            for (i, ep) in m["spec"][field]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                jobs.push(if kind == "servicemonitor" {
                    service_monitor_job(store, p, &m, ep, i, api, &mut assets)
                } else {
                    pod_monitor_job(store, p, &m, ep, i, api, &mut assets)
                });
            }
        }
    }
    cfg.push("scrape_configs", Y::Seq(jobs));
    Generated {
        yaml: cfg.to_yaml(),
        assets: assets.data,
        rejected,
    }
}

/// gzip as the operator writes `prometheus.yaml.gz` (no name, no mtime).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// Decompress `prometheus.yaml.gz` (for tests and the kubelet).
pub fn gunzip(data: &[u8]) -> Option<String> {
    let mut d = flate2::read::GzDecoder::new(data);
    let mut s = String::new();
    std::io::Read::read_to_string(&mut d, &mut s).ok()?;
    Some(s)
}

/// What the config-reloader writes to `prometheus.env.yaml`: `$(POD_NAME)` and `$(SHARD)`
/// expanded from the container's environment (the kubelet uses this to run the pod's Prometheus).
pub fn envsubst(config: &str, pod_name: &str, shard: &str) -> String {
    config
        .replace("$(POD_NAME)", pod_name)
        .replace("$(SHARD)", shard)
}

/// The configuration a pod's Prometheus runs with: the operator's `prometheus.yaml.gz` from
/// the Secret (`data` value, base64) with the pod's environment substituted.
pub fn pod_config(secret: &Value, pod: &Value) -> Option<String> {
    let b = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["prometheus.yaml.gz"].as_str()?)
        .ok()?;
    let cfg = gunzip(&b)?;
    let shard = pod["metadata"]["labels"]["operator.prometheus.io/shard"]
        .as_str()
        .unwrap_or("0");
    Some(envsubst(&cfg, name_of(pod), shard))
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn managed_labels(extra: &[(&str, &str)]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("managed-by".into(), json!("prometheus-operator"));
    for (k, v) in extra {
        m.insert((*k).into(), json!(v));
    }
    m
}

/// The selector labels of one shard (`statefulset.go` `selectorLabels`).
pub fn selector_labels(prom: &str, shard: i64) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("app.kubernetes.io/instance".into(), json!(prom));
    m.insert(
        "app.kubernetes.io/managed-by".into(),
        json!("prometheus-operator"),
    );
    m.insert("app.kubernetes.io/name".into(), json!("prometheus"));
    m.insert("operator.prometheus.io/name".into(), json!(prom));
    m.insert(
        "operator.prometheus.io/shard".into(),
        json!(shard.to_string()),
    );
    m.insert("prometheus".into(), json!(prom));
    m
}

fn version_of(p: &Value) -> String {
    let v = spec_str(p, "version").unwrap_or(DEFAULT_VERSION);
    if v.starts_with('v') {
        v.to_string()
    } else {
        format!("v{v}")
    }
}

/// The pod template of one shard, as `makeStatefulSetSpec` builds it.
pub fn pod_template(p: &Value, shard: i64) -> Value {
    let name = name_of(p);
    let version = version_of(p);
    let v3 = version.starts_with("v3");
    let rules = format!("prometheus-{name}-rulefiles-0");
    let db = format!("prometheus-{name}-db");
    let mut args: Vec<String> = Vec::new();
    if !v3 {
        args.push("--web.console.templates=/etc/prometheus/consoles".into());
        args.push("--web.console.libraries=/etc/prometheus/console_libraries".into());
    }
    args.push("--config.file=/etc/prometheus/config_out/prometheus.env.yaml".into());
    args.push("--web.enable-lifecycle".into());
    if let Some(u) = spec_str(p, "externalUrl") {
        args.push(format!("--web.external-url={u}"));
    }
    args.push(format!(
        "--web.route-prefix={}",
        spec_str(p, "routePrefix").unwrap_or("/")
    ));
    match (spec_str(p, "retention"), spec_str(p, "retentionSize")) {
        (Some(r), _) => args.push(format!("--storage.tsdb.retention.time={r}")),
        (None, None) => args.push("--storage.tsdb.retention.time=24h".into()),
        (None, Some(_)) => {}
    }
    if let Some(s) = spec_str(p, "retentionSize") {
        args.push(format!("--storage.tsdb.retention.size={s}"));
    }
    args.push("--storage.tsdb.path=/prometheus".into());
    args.push("--web.config.file=/etc/prometheus/web_config/web-config.yaml".into());
    if p["spec"]["listenLocal"].as_bool() == Some(true) {
        args.push("--web.listen-address=127.0.0.1:9090".into());
    }
    let mut mounts = vec![
        json!({"mountPath": "/etc/prometheus/config_out", "name": "config-out", "readOnly": true}),
        json!({"mountPath": TLS_ASSETS_DIR, "name": "tls-assets", "readOnly": true}),
        json!({"mountPath": "/prometheus", "name": db}),
        json!({"mountPath": format!("/etc/prometheus/rules/{rules}"), "name": rules}),
        json!({"mountPath": "/etc/prometheus/web_config/web-config.yaml", "name": "web-config", "readOnly": true, "subPath": "web-config.yaml"}),
    ];
    let mut volumes = vec![
        json!({"name": "config", "secret": {"defaultMode": 420, "secretName": format!("prometheus-{name}")}}),
        json!({"name": "tls-assets", "projected": {"defaultMode": 420, "sources": [{"secret": {"name": format!("prometheus-{name}-tls-assets-0")}}]}}),
        json!({"emptyDir": {"medium": "Memory"}, "name": "config-out"}),
        json!({"configMap": {"defaultMode": 420, "name": rules}, "name": rules}),
        json!({"name": "web-config", "secret": {"defaultMode": 420, "secretName": format!("prometheus-{name}-web-config")}}),
    ];
    for s in p["spec"]["secrets"].as_array().into_iter().flatten() {
        let Some(s) = s.as_str() else { continue };
        let vn = sanitize_volume_name(&format!("secret-{s}"));
        volumes.push(json!({"name": vn, "secret": {"defaultMode": 420, "secretName": s}}));
        mounts.push(json!({"mountPath": format!("/etc/prometheus/secrets/{s}"), "name": vn, "readOnly": true}));
    }
    for c in p["spec"]["configMaps"].as_array().into_iter().flatten() {
        let Some(c) = c.as_str() else { continue };
        let vn = sanitize_volume_name(&format!("configmap-{c}"));
        volumes.push(json!({"configMap": {"defaultMode": 420, "name": c}, "name": vn}));
        mounts.push(json!({"mountPath": format!("/etc/prometheus/configmaps/{c}"), "name": vn, "readOnly": true}));
    }
    volumes.push(json!({"emptyDir": {}, "name": db}));
    let image = spec_str(p, "image")
        .map(str::to_string)
        .unwrap_or_else(|| format!("quay.io/prometheus/prometheus:{version}"));
    let reloader_env = json!([
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        {"name": "SHARD", "value": shard.to_string()}
    ]);
    let reloader_mounts = json!([
        {"mountPath": "/etc/prometheus/config", "name": "config"},
        {"mountPath": "/etc/prometheus/config_out", "name": "config-out"},
        {"mountPath": format!("/etc/prometheus/rules/{rules}"), "name": rules},
    ]);
    let probe = |path: &str, period: i64, failure: i64| {
        json!({"failureThreshold": failure, "httpGet": {"path": path, "port": "web", "scheme": "HTTP"},
               "periodSeconds": period, "successThreshold": 1, "timeoutSeconds": 3})
    };
    let mut labels = p["spec"]["podMetadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    labels.extend(selector_labels(name, shard));
    labels.insert(
        "app.kubernetes.io/version".into(),
        json!(version.trim_start_matches('v')),
    );
    let mut annotations = p["spec"]["podMetadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    annotations.insert(
        "kubectl.kubernetes.io/default-container".into(),
        json!("prometheus"),
    );
    let mut spec = json!({
        "automountServiceAccountToken": true,
        "containers": [
            {
                "args": args,
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "livenessProbe": probe("/-/healthy", 5, 6),
                "name": "prometheus",
                "ports": [{"containerPort": 9090, "name": "web", "protocol": "TCP"}],
                "readinessProbe": probe("/-/ready", 5, 3),
                "startupProbe": probe("/-/ready", 15, 60),
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "volumeMounts": mounts,
            },
            {
                "args": [
                    "--listen-address=:8080",
                    "--reload-url=http://localhost:9090/-/reload",
                    "--config-file=/etc/prometheus/config/prometheus.yaml.gz",
                    "--config-envsubst-file=/etc/prometheus/config_out/prometheus.env.yaml",
                    format!("--watched-dir=/etc/prometheus/rules/{rules}"),
                ],
                "command": ["/bin/prometheus-config-reloader"],
                "env": reloader_env,
                "image": RELOADER_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "name": "config-reloader",
                "ports": [{"containerPort": 8080, "name": "reloader-web", "protocol": "TCP"}],
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "volumeMounts": reloader_mounts,
            }
        ],
        "initContainers": [
            {
                "args": [
                    "--watch-interval=0",
                    "--listen-address=:8081",
                    "--config-file=/etc/prometheus/config/prometheus.yaml.gz",
                    "--config-envsubst-file=/etc/prometheus/config_out/prometheus.env.yaml",
                    format!("--watched-dir=/etc/prometheus/rules/{rules}"),
                ],
                "command": ["/bin/prometheus-config-reloader"],
                "env": reloader_env,
                "image": RELOADER_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "name": "init-config-reloader",
                "ports": [{"containerPort": 8081, "name": "reloader-web", "protocol": "TCP"}],
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "volumeMounts": reloader_mounts,
            }
        ],
        "serviceAccountName": spec_str(p, "serviceAccountName").unwrap_or("default"),
        "terminationGracePeriodSeconds": 600,
        "volumes": volumes,
    });
    if p["spec"]["nodeSelector"].is_object() {
        spec["nodeSelector"] = p["spec"]["nodeSelector"].clone();
    }
    json!({"metadata": {"labels": labels, "annotations": annotations}, "spec": spec})
}

fn hash_hex(v: &impl serde::Serialize) -> String {
    let b = serde_json::to_vec(v).unwrap_or_default();
    let d = sha2::Sha256::digest(&b);
    d.iter().take(8).map(|x| format!("{x:02x}")).collect()
}

fn sync_prometheus(store: &Store, net: u8, p: &Value) {
    let name = name_of(p);
    let ns = ns_of(p);
    let owner = vec![controller_ref(p)];
    let api = with_state(net, |s| s.api.clone());
    let g = generate(store, p, api.as_ref());
    // log newly rejected monitors
    with_state(net, |s| {
        let pkey = format!("{ns}/{name}");
        let now: BTreeMap<(String, String, String), String> = g
            .rejected
            .iter()
            .map(|(k, m, e)| ((pkey.clone(), k.clone(), m.clone()), e.clone()))
            .collect();
        for ((_, kind, m), e) in &now {
            let key = (pkey.clone(), kind.clone(), m.clone());
            if s.rejected.get(&key) != Some(e) {
                s.log.push(format!(
                    "level=warn component=prometheus-controller msg=\"skipping {kind}\" error=\"{e}\" {kind}={m} namespace={ns} prometheus={name}"
                ));
            }
        }
        s.rejected.retain(|(pk, _, _), _| *pk != pkey);
        s.rejected.extend(now);
    });
    let sec = store.rt("secrets");
    let c = ctx();
    ensure(
        store,
        &sec,
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": format!("prometheus-{name}"), "namespace": ns,
                            "labels": managed_labels(&[]),
                            "annotations": {"generated": "true"},
                            "ownerReferences": owner},
               "type": "Opaque",
               "data": {"prometheus.yaml.gz": b64(&gzip(g.yaml.as_bytes()))}}),
        &c,
    );
    ensure(
        store,
        &sec,
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": format!("prometheus-{name}-tls-assets-0"), "namespace": ns,
                            "labels": managed_labels(&[]),
                            "ownerReferences": owner},
               "type": "Opaque",
               "data": g.assets}),
        &c,
    );
    ensure(
        store,
        &sec,
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": format!("prometheus-{name}-web-config"), "namespace": ns,
                            "labels": managed_labels(&[]),
                            "ownerReferences": owner},
               "type": "Opaque",
               "data": {"web-config.yaml": b64(b"")}}),
        &c,
    );
    let cm = store.rt("configmaps");
    ensure(
        store,
        &cm,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": format!("prometheus-{name}-rulefiles-0"), "namespace": ns,
                            "labels": managed_labels(&[("prometheus-name", name)]),
                            "ownerReferences": owner},
               "data": {}}),
        &c,
    );
    ensure_governing_service(store, p);
    let sts_rt = store.rt("statefulsets");
    let mut sts_labels = p["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut sts_ann = p["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    sts_ann.remove("kubectl.kubernetes.io/last-applied-configuration");
    let n_shards = shards(p);
    for shard in 0..n_shards {
        let mut labels = sts_labels.clone();
        labels.extend(managed_labels(&[
            ("operator.prometheus.io/mode", "server"),
            ("operator.prometheus.io/name", name),
            ("operator.prometheus.io/shard", &shard.to_string()),
        ]));
        let template = pod_template(p, shard);
        let mut ann = sts_ann.clone();
        ann.insert(
            "prometheus-operator-input-hash".into(),
            json!(hash_hex(&(&p["spec"], &template))),
        );
        ensure(
            store,
            &sts_rt,
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": statefulset_name(name, shard), "namespace": ns,
                         "labels": labels, "annotations": ann, "ownerReferences": owner},
            "spec": {
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                "podManagementPolicy": "Parallel",
                "replicas": replicas(p),
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": selector_labels(name, shard)},
                "serviceName": "prometheus-operated",
                "template": template,
                "updateStrategy": {"type": "RollingUpdate"},
            }}),
            &c,
        );
    }
    // shards scaled down
    let (all, _) = store.list(&sts_rt, Some(ns));
    for s in all {
        if owned_by(&s, p) {
            let shard: i64 = s["metadata"]["labels"]["operator.prometheus.io/shard"]
                .as_str()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            if shard >= n_shards {
                let _ = store.delete(&sts_rt, Some(ns), name_of(&s), &DeletePre::default());
            }
        }
    }
    sts_labels.clear();
    write_status(store, p);
}

fn ensure_governing_service(store: &Store, p: &Value) {
    let ns = ns_of(p);
    let svc = store.rt("services");
    let mut owners: Vec<Value> = store
        .get(&svc, Some(ns), "prometheus-operated")
        .ok()
        .and_then(|s| s["metadata"]["ownerReferences"].as_array().cloned())
        .unwrap_or_default();
    if !owners.iter().any(|o| o["uid"].as_str() == Some(uid_of(p))) {
        owners.push(json!({"apiVersion": p["apiVersion"], "kind": p["kind"], "name": name_of(p), "uid": uid_of(p)}));
    }
    ensure(
        store,
        &svc,
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "prometheus-operated", "namespace": ns,
                            "labels": managed_labels(&[("operated-prometheus", "true")]),
                            "ownerReferences": owners},
               "spec": {"clusterIP": "None",
                        "ports": [{"name": "web", "port": 9090, "protocol": "TCP", "targetPort": "web"}],
                        "selector": {"app.kubernetes.io/name": "prometheus"},
                        "type": "ClusterIP"}}),
        &ctx(),
    );
}

/// The Prometheus status as the operator writes it (`statusReporter.Process`).
fn write_status(store: &Store, p: &Value) {
    let name = name_of(p);
    let ns = ns_of(p);
    let pods_rt = store.rt("pods");
    let sts_rt = store.rt("statefulsets");
    let generation = p["metadata"]["generation"].as_i64().unwrap_or(1);
    let mut total = (0i64, 0i64, 0i64); // replicas, available, updated
    let mut shard_statuses = Vec::new();
    let mut not_ready_msgs = Vec::new();
    let mut avail = ("True", "");
    for shard in 0..shards(p) {
        let sn = statefulset_name(name, shard);
        let sts = store.get(&sts_rt, Some(ns), &sn).ok();
        let update_rev = sts
            .as_ref()
            .and_then(|s| s["status"]["updateRevision"].as_str().map(str::to_string));
        let pods: Vec<Arc<Value>> = store
            .list(&pods_rt, Some(ns))
            .0
            .into_iter()
            .filter(|pod| sts.as_ref().is_some_and(|s| owned_by(pod, s)))
            .collect();
        let n_pods = pods.len() as i64;
        let available = pods.iter().filter(|p| pod_ready(p)).count() as i64;
        let updated = pods
            .iter()
            .filter(|p| {
                update_rev.is_some()
                    && p["metadata"]["labels"]["controller-revision-hash"].as_str()
                        == update_rev.as_deref()
            })
            .count() as i64;
        // Per shard, as `statusReporter.Process`: fewer ready pods than desired replicas
        // makes the shard (and the Prometheus) NoPodReady / SomePodsNotReady.
        let desired = replicas(p);
        if available < desired {
            if available == 0 {
                avail = ("False", "NoPodReady");
            } else if avail.0 != "False" {
                avail = ("Degraded", "SomePodsNotReady");
            }
            for pod in &pods {
                // the pod's message: its Ready condition's, when not ready
                if let Some(m) = pod["status"]["conditions"]
                    .as_array()
                    .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                    .filter(|c| c["status"] != "True")
                    .and_then(|c| c["message"].as_str())
                    .filter(|m| !m.is_empty())
                {
                    not_ready_msgs.push(format!("shard {shard}: pod {}: {m}", name_of(pod)));
                }
            }
        }
        total.0 += n_pods;
        total.1 += available;
        total.2 += updated;
        shard_statuses.push(json!({
            "availableReplicas": available, "replicas": n_pods, "shardID": shard.to_string(),
            "unavailableReplicas": n_pods - available, "updatedReplicas": updated,
        }));
    }
    let (avail_status, reason) = avail;
    let message = not_ready_msgs.join("\n");
    let old = p["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let cond = |t: &str, status: &str, reason: &str, message: &str| {
        let prev = old.iter().find(|c| c["type"] == t);
        let ltt = prev
            .filter(|c| c["status"] == status)
            .and_then(|c| c["lastTransitionTime"].as_str().map(str::to_string))
            .unwrap_or_else(now_rfc3339);
        let mut c = json!({"lastTransitionTime": ltt, "observedGeneration": generation, "status": status, "type": t});
        if !reason.is_empty() {
            c["reason"] = json!(reason);
        }
        if !message.is_empty() {
            c["message"] = json!(message);
        }
        c
    };
    let sel = selector_labels(name, 0);
    let selector = sel
        .iter()
        .filter(|(k, _)| *k != "operator.prometheus.io/shard")
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect::<Vec<_>>()
        .join(",");
    let status = json!({
        "availableReplicas": total.1,
        "conditions": [
            cond("Available", avail_status, reason, &message),
            cond("Reconciled", "True", "", ""),
        ],
        "paused": p["spec"]["paused"].as_bool().unwrap_or(false),
        "replicas": total.0,
        "selector": selector,
        "shardStatuses": shard_statuses,
        "shards": shards(p),
        "unavailableReplicas": total.0 - total.1,
        "updatedReplicas": total.2,
    });
    if p["status"] == status {
        return;
    }
    let prt = store.rt("prometheuses");
    let _ = store.modify(&prt, Some(ns), name, &status_ctx(OPERATOR), |o| {
        o["status"] = status.clone();
        true
    });
}

// ---------------------------------------------------------------------------------------------
// The StatefulSet controller (kubernetes pkg/controller/statefulset, stateful_set_control.go).

pub fn spawn_statefulsets(cluster: Arc<Cluster>) -> tokio::task::JoinHandle<()> {
    let store = cluster.store.clone();
    let watch = vec![
        super::q(&store, "statefulsets"),
        "pods".to_string(),
        "nodes".to_string(),
    ];
    let s = store.clone();
    let pod_index = super::endpoints::version_at_least(&cluster.version, 1, 28);
    run_loop(store, watch, Some(Duration::from_secs(1)), move |_| {
        let rt = s.rt("statefulsets");
        for sts in s.list(&rt, None).0 {
            sync_statefulset(&s, &sts, pod_index);
        }
    })
}

/// `controller-revision-hash`: `<sts>-<hash of the template>`.
pub fn revision(sts: &Value) -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let b = serde_json::to_vec(&sts["spec"]["template"]).unwrap_or_default();
    let d = sha2::Sha256::digest(&b);
    let mut x = u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
    let mut h = String::new();
    for _ in 0..9 {
        h.push(ALPHA[(x % ALPHA.len() as u64) as usize] as char);
        x /= ALPHA.len() as u64;
    }
    format!("{}-{h}", name_of(sts))
}

fn ordinal(sts: &str, pod: &str) -> Option<i64> {
    pod.strip_prefix(sts)?.strip_prefix('-')?.parse().ok()
}

fn new_pod(sts: &Value, i: i64, rev: &str, node: Option<&str>, pod_index: bool) -> Value {
    let name = format!("{}-{i}", name_of(sts));
    let t = &sts["spec"]["template"];
    let mut labels = t["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    labels.insert("controller-revision-hash".into(), json!(rev));
    labels.insert("statefulset.kubernetes.io/pod-name".into(), json!(name));
    if pod_index {
        labels.insert("apps.kubernetes.io/pod-index".into(), json!(i.to_string()));
    }
    let mut spec = t["spec"].clone();
    spec["hostname"] = json!(name);
    if let Some(s) = sts["spec"]["serviceName"].as_str() {
        spec["subdomain"] = json!(s);
    }
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    let mut meta = json!({"name": name, "namespace": ns_of(sts), "labels": labels,
                          "ownerReferences": [controller_ref(sts)]});
    if let Some(a) = t["metadata"]["annotations"].as_object() {
        meta["annotations"] = json!(a);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
           "status": {"phase": "Pending", "qosClass": "Burstable"}})
}

/// One sync of a StatefulSet: create missing pods, remove surplus ones, roll outdated pods one
/// at a time from the highest ordinal (only when every pod is Ready), write the status.
pub fn sync_statefulset(store: &Store, sts: &Value, pod_index: bool) {
    let ns = ns_of(sts);
    let sname = name_of(sts);
    let pods_rt = store.rt("pods");
    let replicas = sts["spec"]["replicas"].as_i64().unwrap_or(1).max(0);
    let update_rev = revision(sts);
    let nodes_rt = store.rt("nodes");
    let nodes: Vec<String> = store
        .list(&nodes_rt, None)
        .0
        .iter()
        .map(|n| name_of(n).to_string())
        .collect();
    let mut pods: BTreeMap<i64, Arc<Value>> = store
        .list(&pods_rt, Some(ns))
        .0
        .into_iter()
        .filter(|p| owned_by(p, sts))
        .filter_map(|p| ordinal(sname, name_of(&p)).map(|i| (i, p)))
        .collect();
    let kcm = WriteCtx::update(KCM);
    // surplus pods (Parallel: all at once)
    let surplus: Vec<i64> = pods.keys().copied().filter(|i| *i >= replicas).collect();
    for i in surplus.into_iter().rev() {
        if let Some(p) = pods.remove(&i) {
            let _ = store.delete(&pods_rt, Some(ns), name_of(&p), &DeletePre::default());
        }
    }
    for i in 0..replicas {
        if let std::collections::btree_map::Entry::Vacant(e) = pods.entry(i) {
            let node = if nodes.is_empty() {
                None
            } else {
                Some(nodes[(i as usize) % nodes.len()].as_str())
            };
            if let Ok(p) = store.create(
                &pods_rt,
                Some(ns),
                new_pod(sts, i, &update_rev, node, pod_index),
                &kcm,
            ) {
                e.insert(Arc::new(p));
            }
        }
    }
    let rev_of = |p: &Value| {
        p["metadata"]["labels"]["controller-revision-hash"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let all_ready = pods.len() as i64 == replicas && pods.values().all(|p| pod_ready(p));
    if all_ready && let Some((_, victim)) = pods.iter().rev().find(|(_, p)| rev_of(p) != update_rev)
    {
        let _ = store.delete(
            &pods_rt,
            Some(ns),
            name_of(victim),
            &DeletePre {
                uid: Some(uid_of(victim).to_string()),
                ..DeletePre::default()
            },
        );
    }
    // status
    let pods_now: Vec<Arc<Value>> = store
        .list(&pods_rt, Some(ns))
        .0
        .into_iter()
        .filter(|p| owned_by(p, sts))
        .collect();
    let ready = pods_now.iter().filter(|p| pod_ready(p)).count() as i64;
    let updated = pods_now.iter().filter(|p| rev_of(p) == update_rev).count() as i64;
    let old_current = sts["status"]["currentRevision"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            pods_now
                .iter()
                .map(|p| rev_of(p))
                .find(|r| *r != update_rev)
        })
        .unwrap_or_else(|| update_rev.clone());
    let current_rev = if updated == replicas && pods_now.len() as i64 == replicas {
        update_rev.clone()
    } else {
        old_current
    };
    let current = pods_now.iter().filter(|p| rev_of(p) == current_rev).count() as i64;
    let status = json!({
        "availableReplicas": ready,
        "collisionCount": 0,
        "currentReplicas": current,
        "currentRevision": current_rev,
        "observedGeneration": sts["metadata"]["generation"].as_i64().unwrap_or(1),
        "readyReplicas": ready,
        "replicas": pods_now.len(),
        "updateRevision": update_rev,
        "updatedReplicas": updated,
    });
    if sts["status"] == status {
        return;
    }
    let rt = store.rt("statefulsets");
    let _ = store.modify(&rt, Some(ns), sname, &status_ctx(KCM), |o| {
        o["status"] = status.clone();
        true
    });
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{cluster, put, wait_for};
    use super::*;

    fn prom(extra: Value) -> Value {
        let mut p = json!({"metadata": {"name": "k8s", "namespace": "monitoring", "labels": {"release": "prom"}},
                           "spec": {"replicas": 2, "serviceMonitorSelector": {"matchLabels": {"release": "prom"}},
                                    "serviceMonitorNamespaceSelector": {}}});
        if let Some(o) = extra.as_object() {
            for (k, v) in o {
                p["spec"][k] = v.clone();
            }
        }
        p
    }

    fn etcd_sm(endpoint: Value) -> Value {
        json!({"metadata": {"name": "prom-kube-etcd", "namespace": "monitoring", "labels": {"release": "prom"}},
               "spec": {"jobLabel": "jobLabel",
                        "namespaceSelector": {"matchNames": ["kube-system"]},
                        "selector": {"matchLabels": {"app": "kube-etcd", "release": "prom"}},
                        "endpoints": [endpoint]}})
    }

    fn config(c: &Cluster) -> Option<String> {
        let s = c
            .store
            .get(&c.store.rt("secrets"), Some("monitoring"), "prometheus-k8s")
            .ok()?;
        let b = base64::engine::general_purpose::STANDARD
            .decode(s["data"]["prometheus.yaml.gz"].as_str()?)
            .ok()?;
        gunzip(&b)
    }

    /// What the operator (promcfg.go `generateServiceMonitorConfig`) generates for the seed's
    /// etcd ServiceMonitor, before (http) and after (https + file TLS) the fix.
    const SEED_JOB_HTTP: &str = "- job_name: serviceMonitor/monitoring/prom-kube-etcd/0
  honor_labels: false
  kubernetes_sd_configs:
  - role: endpoints
    namespaces:
      names:
      - kube-system
  metrics_path: /metrics
  relabel_configs:
  - source_labels:
    - job
    target_label: __tmp_prometheus_job_name
  - action: keep
    source_labels:
    - __meta_kubernetes_service_label_app
    - __meta_kubernetes_service_labelpresent_app
    regex: (kube-etcd);true
  - action: keep
    source_labels:
    - __meta_kubernetes_service_label_release
    - __meta_kubernetes_service_labelpresent_release
    regex: (prom);true
  - action: keep
    source_labels:
    - __meta_kubernetes_endpoint_port_name
    regex: http-metrics
  - source_labels:
    - __meta_kubernetes_endpoint_address_target_kind
    - __meta_kubernetes_endpoint_address_target_name
    separator: ;
    regex: Node;(.*)
    replacement: ${1}
    target_label: node
  - source_labels:
    - __meta_kubernetes_endpoint_address_target_kind
    - __meta_kubernetes_endpoint_address_target_name
    separator: ;
    regex: Pod;(.*)
    replacement: ${1}
    target_label: pod
  - source_labels:
    - __meta_kubernetes_namespace
    target_label: namespace
  - source_labels:
    - __meta_kubernetes_service_name
    target_label: service
  - source_labels:
    - __meta_kubernetes_pod_name
    target_label: pod
  - source_labels:
    - __meta_kubernetes_pod_container_name
    target_label: container
  - action: drop
    source_labels:
    - __meta_kubernetes_pod_phase
    regex: (Failed|Succeeded)
  - source_labels:
    - __meta_kubernetes_service_name
    target_label: job
    replacement: ${1}
  - source_labels:
    - __meta_kubernetes_service_label_jobLabel
    target_label: job
    regex: (.+)
    replacement: ${1}
  - target_label: endpoint
    replacement: http-metrics
  - source_labels:
    - __address__
    target_label: __tmp_hash
    modulus: 1
    action: hashmod
  - source_labels:
    - __tmp_hash
    regex: $(SHARD)
    action: keep
";

    #[test]
    fn seed_service_monitor_config_before_and_after_tls() {
        let s = Store::new(crate::resources::Registry::new(true));
        let nsrt = s.rt("namespaces");
        for n in ["monitoring", "kube-system"] {
            s.create(
                &nsrt,
                None,
                json!({"metadata": {"name": n}}),
                &WriteCtx::update("t"),
            )
            .unwrap();
        }
        let smrt = s.rt("servicemonitors");
        let p = s
            .create(
                &s.rt("prometheuses"),
                Some("monitoring"),
                prom(json!({})),
                &WriteCtx::update("t"),
            )
            .unwrap();
        s.create(
            &smrt,
            Some("monitoring"),
            etcd_sm(json!({"port": "http-metrics", "path": "/metrics"})),
            &WriteCtx::update("t"),
        )
        .unwrap();
        let g = generate(&s, &p, None);
        let expected = format!(
            "global:\n  evaluation_interval: 30s\n  scrape_interval: 30s\n  external_labels:\n    prometheus: monitoring/k8s\n    prometheus_replica: $(POD_NAME)\nscrape_configs:\n{SEED_JOB_HTTP}"
        );
        assert_eq!(g.yaml, expected);
        // After: scheme https and file-based TLS (the blog's helm values).
        s.modify(
            &smrt,
            Some("monitoring"),
            "prom-kube-etcd",
            &WriteCtx::update("t"),
            |m| {
                m["spec"]["endpoints"][0]["scheme"] = json!("https");
                m["spec"]["endpoints"][0]["tlsConfig"] = json!({
                "insecureSkipVerify": true,
                "caFile": "/etc/prometheus/secrets/etcd-client-cert/etcd-ca",
                "certFile": "/etc/prometheus/secrets/etcd-client-cert/etcd-client",
                "keyFile": "/etc/prometheus/secrets/etcd-client-cert/etcd-client-key"});
                true
            },
        )
        .unwrap();
        let g = generate(&s, &p, None);
        let tls = "  metrics_path: /metrics\n  scheme: https\n  tls_config:\n    insecure_skip_verify: true\n    ca_file: /etc/prometheus/secrets/etcd-client-cert/etcd-ca\n    cert_file: /etc/prometheus/secrets/etcd-client-cert/etcd-client\n    key_file: /etc/prometheus/secrets/etcd-client-cert/etcd-client-key\n";
        let after = expected.replace("  metrics_path: /metrics\n", tls);
        assert_eq!(g.yaml, after);
        // With API access the SD config points at the test API server.
        let api = ApiAccess {
            url: "https://127.0.0.1:6443".into(),
            ca_file: "/tmp/x/ca.crt".into(),
            token: "tok".into(),
        };
        let g = generate(&s, &p, Some(&api));
        assert!(g.yaml.contains("  - role: endpoints\n    namespaces:\n      names:\n      - kube-system\n    api_server: https://127.0.0.1:6443\n    authorization:\n      type: Bearer\n      credentials: tok\n    tls_config:\n      ca_file: /tmp/x/ca.crt\n"), "{}", g.yaml);
        // The role follows spec.serviceDiscoveryRole.
        let mut p2 = p.clone();
        p2["spec"]["serviceDiscoveryRole"] = json!("EndpointSlice");
        let g = generate(&s, &p2, None);
        assert!(g.yaml.contains("- role: endpointslice\n"));
        assert!(
            g.yaml
                .contains("- __meta_kubernetes_endpointslice_port_name\n")
        );
    }

    /// The ServiceMonitor part of the operator's golden file
    /// `pkg/prometheus/testdata/GenerateRelabelConfig.golden` (selector foo=bar, port
    /// https-metrics, interval 30s, relabelings and metricRelabelings).
    #[test]
    fn matches_operator_golden_relabel_config() {
        let s = Store::new(crate::resources::Registry::new(true));
        let nsrt = s.rt("namespaces");
        s.create(
            &nsrt,
            None,
            json!({"metadata": {"name": "default"}}),
            &WriteCtx::update("t"),
        )
        .unwrap();
        let p = s
            .create(
                &s.rt("prometheuses"),
                Some("default"),
                json!({"metadata": {"name": "test"}, "spec": {"serviceMonitorSelector": {}}}),
                &WriteCtx::update("t"),
            )
            .unwrap();
        s.create(
            &s.rt("servicemonitors"),
            Some("default"),
            json!({"metadata": {"name": "test"}, "spec": {"selector": {"matchLabels": {"foo": "bar"}},
                "endpoints": [{"port": "https-metrics", "interval": "30s",
                  "metricRelabelings": [{"action": "Drop", "regex": "container_fs*", "sourceLabels": ["__name__"]}],
                  "relabelings": [{"action": "Uppercase", "sourceLabels": ["instance"], "targetLabel": "instance"}]}]}}),
            &WriteCtx::update("t"),
        )
        .unwrap();
        let g = generate(&s, &p, None);
        let golden_part = "- job_name: serviceMonitor/default/test/0
  honor_labels: false
  kubernetes_sd_configs:
  - role: endpoints
    namespaces:
      names:
      - default
  scrape_interval: 30s
  relabel_configs:
  - source_labels:
    - job
    target_label: __tmp_prometheus_job_name
  - action: keep
    source_labels:
    - __meta_kubernetes_service_label_foo
    - __meta_kubernetes_service_labelpresent_foo
    regex: (bar);true
  - action: keep
    source_labels:
    - __meta_kubernetes_endpoint_port_name
    regex: https-metrics
";
        assert!(g.yaml.contains(golden_part), "{}", g.yaml);
        let tail = "  - source_labels:
    - __meta_kubernetes_service_name
    target_label: job
    replacement: ${1}
  - target_label: endpoint
    replacement: https-metrics
  - source_labels:
    - instance
    target_label: instance
    action: uppercase
";
        assert!(g.yaml.contains(tail), "{}", g.yaml);
        assert!(g.yaml.ends_with(
            "  metric_relabel_configs:\n  - source_labels:\n    - __name__\n    regex: container_fs*\n    action: drop\n"
        ));
    }

    #[test]
    fn tls_assets_from_secret_refs_and_arbitrary_fs_access() {
        let s = Store::new(crate::resources::Registry::new(true));
        let nsrt = s.rt("namespaces");
        for n in ["monitoring", "kube-system"] {
            s.create(
                &nsrt,
                None,
                json!({"metadata": {"name": n}}),
                &WriteCtx::update("t"),
            )
            .unwrap();
        }
        s.create(
            &s.rt("secrets"),
            Some("monitoring"),
            json!({"metadata": {"name": "etcd-client-cert"},
                   "data": {"ca.crt": b64(b"CA"), "tls.crt": b64(b"CERT"), "tls.key": b64(b"KEY")}}),
            &WriteCtx::update("t"),
        )
        .unwrap();
        let p = s
            .create(
                &s.rt("prometheuses"),
                Some("monitoring"),
                prom(json!({"arbitraryFSAccessThroughSMs": {"deny": true}})),
                &WriteCtx::update("t"),
            )
            .unwrap();
        let smrt = s.rt("servicemonitors");
        s.create(
            &smrt,
            Some("monitoring"),
            etcd_sm(
                json!({"port": "http-metrics", "scheme": "https", "tlsConfig": {
                "ca": {"secret": {"name": "etcd-client-cert", "key": "ca.crt"}},
                "cert": {"secret": {"name": "etcd-client-cert", "key": "tls.crt"}},
                "keySecret": {"name": "etcd-client-cert", "key": "tls.key"},
                "serverName": "etcd"}}),
            ),
            &WriteCtx::update("t"),
        )
        .unwrap();
        let g = generate(&s, &p, None);
        assert!(g.rejected.is_empty());
        assert!(g.yaml.contains("  scheme: https\n  tls_config:\n    ca_file: /etc/prometheus/certs/secret_monitoring_etcd-client-cert_ca.crt\n    cert_file: /etc/prometheus/certs/secret_monitoring_etcd-client-cert_tls.crt\n    key_file: /etc/prometheus/certs/secret_monitoring_etcd-client-cert_tls.key\n    server_name: etcd\n"), "{}", g.yaml);
        assert_eq!(
            g.assets
                .get("secret_monitoring_etcd-client-cert_tls.key")
                .map(String::as_str),
            Some(b64(b"KEY").as_str())
        );
        // file-based TLS is rejected under arbitraryFSAccessThroughSMs.deny
        s.modify(
            &smrt,
            Some("monitoring"),
            "prom-kube-etcd",
            &WriteCtx::update("t"),
            |m| {
                m["spec"]["endpoints"][0]["tlsConfig"] =
                    json!({"caFile": "/etc/prometheus/secrets/etcd-client-cert/ca.crt"});
                true
            },
        )
        .unwrap();
        let g = generate(&s, &p, None);
        assert_eq!(
            g.rejected,
            vec![(
                "servicemonitor".to_string(),
                "monitoring/prom-kube-etcd".to_string(),
                "endpoints[0]: it accesses file system via tls config which Prometheus specification prohibits".to_string()
            )]
        );
        assert!(g.yaml.ends_with("scrape_configs: []\n"), "{}", g.yaml);
        // a missing referenced secret rejects the monitor too
        s.modify(
            &smrt,
            Some("monitoring"),
            "prom-kube-etcd",
            &WriteCtx::update("t"),
            |m| {
                m["spec"]["endpoints"][0]["tlsConfig"] =
                    json!({"ca": {"secret": {"name": "nope", "key": "ca.crt"}}});
                true
            },
        )
        .unwrap();
        assert_eq!(generate(&s, &p, None).rejected.len(), 1);
    }

    #[test]
    fn selectors_nil_selects_none_and_namespace_default_is_own() {
        let s = Store::new(crate::resources::Registry::new(true));
        let nsrt = s.rt("namespaces");
        for n in ["monitoring", "kube-system"] {
            s.create(
                &nsrt,
                None,
                json!({"metadata": {"name": n}}),
                &WriteCtx::update("t"),
            )
            .unwrap();
        }
        let smrt = s.rt("servicemonitors");
        let mut sm = etcd_sm(json!({"port": "x"}));
        sm["metadata"]["namespace"] = json!("kube-system");
        s.create(&smrt, Some("kube-system"), sm, &WriteCtx::update("t"))
            .unwrap();
        let mut p = prom(json!({}));
        p["metadata"]["namespace"] = json!("monitoring");
        p["spec"]
            .as_object_mut()
            .unwrap()
            .remove("serviceMonitorNamespaceSelector");
        assert_eq!(
            selected_monitors(
                &s,
                &p,
                "servicemonitors",
                "serviceMonitorSelector",
                "serviceMonitorNamespaceSelector"
            )
            .len(),
            0
        );
        p["spec"]["serviceMonitorNamespaceSelector"] = json!({});
        assert_eq!(
            selected_monitors(
                &s,
                &p,
                "servicemonitors",
                "serviceMonitorSelector",
                "serviceMonitorNamespaceSelector"
            )
            .len(),
            1
        );
        p["spec"]
            .as_object_mut()
            .unwrap()
            .remove("serviceMonitorSelector");
        assert_eq!(
            selected_monitors(
                &s,
                &p,
                "servicemonitors",
                "serviceMonitorSelector",
                "serviceMonitorNamespaceSelector"
            )
            .len(),
            0
        );
    }

    #[test]
    fn statefulset_template_volumes_for_spec_secrets() {
        let p = json!({"metadata": {"name": "k8s", "namespace": "monitoring"},
                       "spec": {"secrets": ["etcd-client-cert"], "configMaps": ["ca-bundle"]}});
        let t = pod_template(&p, 0);
        let c = &t["spec"]["containers"][0];
        assert_eq!(c["name"], "prometheus");
        assert_eq!(
            c["args"],
            json!([
                "--web.console.templates=/etc/prometheus/consoles",
                "--web.console.libraries=/etc/prometheus/console_libraries",
                "--config.file=/etc/prometheus/config_out/prometheus.env.yaml",
                "--web.enable-lifecycle",
                "--web.route-prefix=/",
                "--storage.tsdb.retention.time=24h",
                "--storage.tsdb.path=/prometheus",
                "--web.config.file=/etc/prometheus/web_config/web-config.yaml"
            ])
        );
        let mounts = c["volumeMounts"].as_array().unwrap();
        assert!(mounts.contains(&json!({"mountPath": "/etc/prometheus/secrets/etcd-client-cert", "name": "secret-etcd-client-cert", "readOnly": true})));
        assert!(mounts.contains(&json!({"mountPath": "/etc/prometheus/configmaps/ca-bundle", "name": "configmap-ca-bundle", "readOnly": true})));
        let vols: Vec<&str> = t["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            vols,
            vec![
                "config",
                "tls-assets",
                "config-out",
                "prometheus-k8s-rulefiles-0",
                "web-config",
                "secret-etcd-client-cert",
                "configmap-ca-bundle",
                "prometheus-k8s-db"
            ]
        );
        assert_eq!(t["spec"]["containers"][1]["name"], "config-reloader");
        assert_eq!(
            t["spec"]["initContainers"][0]["name"],
            "init-config-reloader"
        );
        assert_eq!(statefulset_name("k8s", 1), "prometheus-k8s-shard-1");
    }

    fn set_ready(c: &Cluster, pod: &str, ready: bool) {
        let rt = c.store.rt("pods");
        let _ = c
            .store
            .modify(&rt, Some("monitoring"), pod, &status_ctx("kubelet"), |p| {
                p["status"] = json!({"phase": "Running", "podIP": "127.224.1.1",
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]});
                true
            });
    }

    #[tokio::test]
    async fn operator_rolls_pods_one_at_a_time_when_spec_secrets_change() {
        let (c, _d) = cluster(224);
        put(&c, "nodes", json!({"metadata": {"name": "node1"}}));
        put(&c, "nodes", json!({"metadata": {"name": "node2"}}));
        let h1 = spawn(c.clone());
        let h2 = spawn_statefulsets(c.clone());
        let p = put(&c, "prometheuses", prom(json!({})));
        let pods_rt = c.store.rt("pods");
        let sts_rt = c.store.rt("statefulsets");
        let pod = |n: &str| c.store.get(&pods_rt, Some("monitoring"), n).ok();
        let p0 = wait_for("pod 0", || pod("prometheus-k8s-0")).await;
        let p1 = wait_for("pod 1", || pod("prometheus-k8s-1")).await;
        assert_eq!(p0["spec"]["nodeName"], "node1");
        assert_eq!(p1["spec"]["nodeName"], "node2");
        assert_eq!(p0["status"]["phase"], "Pending");
        assert_eq!(
            p0["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"],
            "prometheus-k8s-0"
        );
        assert_eq!(
            p0["metadata"]["labels"]["operator.prometheus.io/name"],
            "k8s"
        );
        assert_eq!(p0["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
        let sts = c
            .store
            .get(&sts_rt, Some("monitoring"), "prometheus-k8s")
            .unwrap();
        assert_eq!(
            sts["metadata"]["ownerReferences"][0]["uid"],
            p["metadata"]["uid"]
        );
        assert_eq!(
            sts["metadata"]["labels"]["operator.prometheus.io/shard"],
            "0"
        );
        let rev1 = p0["metadata"]["labels"]["controller-revision-hash"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(rev1.starts_with("prometheus-k8s-"));
        // the config secret exists and holds a gzipped configuration
        let cfg = wait_for("config", || config(&c)).await;
        assert!(cfg.contains("job_name: serviceMonitor/") || cfg.contains("scrape_configs: []"));
        set_ready(&c, "prometheus-k8s-0", true);
        set_ready(&c, "prometheus-k8s-1", true);
        wait_for("available", || {
            let p = c
                .store
                .get(&c.store.rt("prometheuses"), Some("monitoring"), "k8s")
                .ok()?;
            (p["status"]["availableReplicas"] == 2
                && p["status"]["conditions"][0]["status"] == "True")
                .then_some(())
        })
        .await;
        // spec.secrets changes: the template changes, pods roll from the highest ordinal
        let prt = c.store.rt("prometheuses");
        c.store
            .modify(
                &prt,
                Some("monitoring"),
                "k8s",
                &WriteCtx::update("kubectl-promfix"),
                |p| {
                    p["spec"]["secrets"] = json!(["etcd-client-cert"]);
                    true
                },
            )
            .unwrap();
        let new1 = wait_for("pod 1 recreated", || {
            pod("prometheus-k8s-1").filter(|p| p["metadata"]["uid"] != p1["metadata"]["uid"])
        })
        .await;
        assert_ne!(
            new1["metadata"]["labels"]["controller-revision-hash"],
            json!(rev1)
        );
        assert!(
            new1["spec"]["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["name"] == "secret-etcd-client-cert")
        );
        // pod 0 is untouched until the new pod 1 is Ready
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            pod("prometheus-k8s-0").unwrap()["metadata"]["uid"],
            p0["metadata"]["uid"]
        );
        let sts = c
            .store
            .get(&sts_rt, Some("monitoring"), "prometheus-k8s")
            .unwrap();
        assert_eq!(sts["status"]["updatedReplicas"], 1);
        assert_eq!(sts["status"]["currentRevision"], json!(rev1));
        set_ready(&c, "prometheus-k8s-1", true);
        let new0 = wait_for("pod 0 recreated", || {
            pod("prometheus-k8s-0").filter(|p| p["metadata"]["uid"] != p0["metadata"]["uid"])
        })
        .await;
        set_ready(&c, "prometheus-k8s-0", true);
        let sts = wait_for("rolled", || {
            let s = c
                .store
                .get(&sts_rt, Some("monitoring"), "prometheus-k8s")
                .ok()?;
            (s["status"]["updatedReplicas"] == 2 && s["status"]["readyReplicas"] == 2).then_some(s)
        })
        .await;
        assert_eq!(
            sts["status"]["currentRevision"],
            sts["status"]["updateRevision"]
        );
        assert_eq!(
            sts["status"]["currentRevision"],
            new0["metadata"]["labels"]["controller-revision-hash"]
        );
        h1.abort();
        h2.abort();
    }

    #[tokio::test]
    async fn operator_logs_rejected_service_monitor_and_copies_tls_assets() {
        let (c, _d) = cluster(225);
        let h = spawn(c.clone());
        put(
            &c,
            "secrets",
            json!({"metadata": {"name": "etcd-client-cert", "namespace": "monitoring"}, "data": {"ca.crt": b64(b"CA")}}),
        );
        put(
            &c,
            "prometheuses",
            prom(json!({"arbitraryFSAccessThroughSMs": {"deny": true}})),
        );
        put(
            &c,
            "servicemonitors",
            etcd_sm(
                json!({"port": "http-metrics", "tlsConfig": {"ca": {"secret": {"name": "etcd-client-cert", "key": "ca.crt"}}}}),
            ),
        );
        let secrets = c.store.rt("secrets");
        wait_for("tls assets", || {
            let s = c
                .store
                .get(&secrets, Some("monitoring"), "prometheus-k8s-tls-assets-0")
                .ok()?;
            s["data"]
                .get("secret_monitoring_etcd-client-cert_ca.crt")
                .cloned()
        })
        .await;
        put(
            &c,
            "servicemonitors",
            etcd_sm(
                json!({"port": "http-metrics", "tlsConfig": {"caFile": "/etc/prometheus/secrets/etcd-client-cert/ca.crt"}}),
            ),
        );
        let line = wait_for("log", || {
            operator_log(&c)
                .into_iter()
                .find(|l| l.contains("skipping servicemonitor"))
        })
        .await;
        assert!(line.contains("error=\"endpoints[0]: it accesses file system via tls config which Prometheus specification prohibits\""), "{line}");
        assert!(line.contains("servicemonitor=monitoring/prom-kube-etcd"));
        let cfg = wait_for("config without job", || {
            config(&c).filter(|c| c.ends_with("scrape_configs: []\n"))
        })
        .await;
        assert!(!cfg.contains("prom-kube-etcd"));
        h.abort();
    }

    /// The real Prometheus (Debian `prometheus`, its `promtool`) accepts what we generate (with
    /// kubernetes_sd_configs turned into file SD, which that build lacks).
    #[test]
    fn promtool_accepts_generated_config() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.crt");
        std::fs::write(&ca, "x").unwrap();
        let s = Store::new(crate::resources::Registry::new(true));
        let nsrt = s.rt("namespaces");
        for n in ["monitoring", "kube-system"] {
            s.create(
                &nsrt,
                None,
                json!({"metadata": {"name": n}}),
                &WriteCtx::update("t"),
            )
            .unwrap();
        }
        let p = s
            .create(
                &s.rt("prometheuses"),
                Some("monitoring"),
                prom(json!({"podMonitorSelector": {}})),
                &WriteCtx::update("t"),
            )
            .unwrap();
        s.create(
            &s.rt("servicemonitors"),
            Some("monitoring"),
            etcd_sm(json!({"port": "http-metrics", "scheme": "https", "interval": "15s",
                "tlsConfig": {"insecureSkipVerify": true, "serverName": "etcd"},
                "relabelings": [{"action": "replace", "sourceLabels": ["__address__"], "targetLabel": "x", "regex": "(.*)", "replacement": "$1"}],
                "metricRelabelings": [{"action": "drop", "sourceLabels": ["__name__"], "regex": "etcd_debugging.*"}]})),
            &WriteCtx::update("t"),
        )
        .unwrap();
        s.create(
            &s.rt("podmonitors"),
            Some("monitoring"),
            json!({"metadata": {"name": "pm"}, "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]},
                   "podMetricsEndpoints": [{"port": "web", "path": "/metrics"}]}}),
            &WriteCtx::update("t"),
        )
        .unwrap();
        let api = ApiAccess {
            url: "https://127.0.0.1:6443".into(),
            ca_file: ca.clone(),
            token: "tok".into(),
        };
        let g = generate(&s, &p, Some(&api));
        let cfg = envsubst(&g.yaml, "prometheus-k8s-0", "0");
        // Debian's Prometheus has no kubernetes_sd_configs: the kubelet runs it with file SD.
        let (cfg, files) = super::super::sd::runnable_config(&s, &cfg, dir.path()).unwrap();
        for (p, c) in files {
            std::fs::write(p, c).unwrap();
        }
        let file = dir.path().join("prometheus.yaml");
        std::fs::write(&file, &cfg).unwrap();
        let out = std::process::Command::new("promtool")
            .args(["check", "config"])
            .arg(&file)
            .output()
            .expect("promtool not found: install the Debian package `prometheus`");
        assert!(
            out.status.success(),
            "promtool rejected:\n{cfg}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn durations_and_scrape_timeout_validation() {
        assert_eq!(parse_duration("1m30s"), Some(90_000));
        assert_eq!(parse_duration("500ms"), Some(500));
        assert_eq!(parse_duration("x"), None);
        let s = Store::new(crate::resources::Registry::new(true));
        s.create(
            &s.rt("namespaces"),
            None,
            json!({"metadata": {"name": "monitoring"}}),
            &WriteCtx::update("t"),
        )
        .unwrap();
        let p = s
            .create(
                &s.rt("prometheuses"),
                Some("monitoring"),
                prom(json!({})),
                &WriteCtx::update("t"),
            )
            .unwrap();
        s.create(
            &s.rt("servicemonitors"),
            Some("monitoring"),
            etcd_sm(json!({"port": "m", "interval": "10s", "scrapeTimeout": "15s"})),
            &WriteCtx::update("t"),
        )
        .unwrap();
        let g = generate(&s, &p, None);
        assert_eq!(
            g.rejected[0].2,
            "endpoints[0]: scrapeTimeout \"15s\" greater than scrapeInterval \"10s\""
        );
    }

    #[test]
    fn shards_get_their_own_statefulsets_and_pod_monitor_jobs() {
        let s = Store::new(crate::resources::Registry::new(true));
        s.create(
            &s.rt("namespaces"),
            None,
            json!({"metadata": {"name": "monitoring"}}),
            &WriteCtx::update("t"),
        )
        .unwrap();
        let p = s
            .create(
                &s.rt("prometheuses"),
                Some("monitoring"),
                prom(json!({"shards": 2, "podMonitorSelector": {}})),
                &WriteCtx::update("t"),
            )
            .unwrap();
        s.create(
            &s.rt("podmonitors"),
            Some("monitoring"),
            json!({"metadata": {"name": "pm"}, "spec": {"selector": {"matchLabels": {"app": "x"}}, "podMetricsEndpoints": [{"port": "web"}]}}),
            &WriteCtx::update("t"),
        )
        .unwrap();
        sync_all(&s, 227);
        let sts = s.rt("statefulsets");
        let a = s.get(&sts, Some("monitoring"), "prometheus-k8s").unwrap();
        let b = s
            .get(&sts, Some("monitoring"), "prometheus-k8s-shard-1")
            .unwrap();
        assert_eq!(
            a["spec"]["selector"]["matchLabels"]["operator.prometheus.io/shard"],
            "0"
        );
        assert_eq!(
            b["spec"]["selector"]["matchLabels"]["operator.prometheus.io/shard"],
            "1"
        );
        assert_eq!(
            b["spec"]["template"]["spec"]["containers"][1]["env"][1],
            json!({"name": "SHARD", "value": "1"})
        );
        let g = generate(&s, &p, None);
        assert!(g.yaml.contains("- job_name: podMonitor/monitoring/pm/0\n  honor_labels: false\n  kubernetes_sd_configs:\n  - role: pod\n    namespaces:\n      names:\n      - monitoring\n  relabel_configs:\n  - source_labels:\n    - job\n    target_label: __tmp_prometheus_job_name\n  - action: drop\n    source_labels:\n    - __meta_kubernetes_pod_phase\n    regex: (Failed|Succeeded)\n  - action: keep\n    source_labels:\n    - __meta_kubernetes_pod_label_app\n    - __meta_kubernetes_pod_labelpresent_app\n    regex: (x);true\n"), "{}", g.yaml);
        assert!(g.yaml.contains("  - target_label: job\n    replacement: monitoring/pm\n  - target_label: endpoint\n    replacement: web\n  - source_labels:\n    - __address__\n    target_label: __tmp_hash\n    modulus: 2\n"));
        // the status subresource got the shard statuses
        let st = s
            .get(&s.rt("prometheuses"), Some("monitoring"), "k8s")
            .unwrap();
        assert_eq!(st["status"]["shards"], 2);
        assert_eq!(st["status"]["conditions"][0]["reason"], "NoPodReady");
        assert_eq!(st["status"]["conditions"][1]["type"], "Reconciled");
    }
}
