//! The etcd fix, as pure functions: (what was observed, what the user gave) → plan.
//!
//! Three steps, each usable alone (`secret`, `endpoints`, `servicemonitor`) and together (`etcd`):
//! 1. Secret `etcd-client-cert` with the three PEM files, listed in the Prometheus `spec.secrets`
//!    (so it is mounted at `/etc/prometheus/secrets/<secret>/`).
//! 2. The etcd Service made selector-free (else the endpoints controller overwrites hand-written
//!    Endpoints), its port named as the ServiceMonitor endpoint's port on the etcd port, Endpoints
//!    listing the etcd IPs, and the EndpointSlices the EndpointSlice controller left behind when the
//!    selector went away deleted (kubernetes/kubernetes#118376; the mirroring controller makes the
//!    right ones from the Endpoints).
//! 3. The ServiceMonitor endpoint with `scheme: https` and `tlsConfig` (mounted files, or the
//!    operator's secret references when asked or when the Prometheus denies file access).

use crate::error::{Error, Result};
use crate::json::{labels, name, namespace, opt_str as s};
use crate::plan::{Change, ObjectRef, Op, Plan, guarded_merge_patch, helm_release};
use crate::selector;
use base64::Engine;
use serde_json::{Map, Value, json};

/// The label the EndpointSlice controllers put on every slice of a Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label of objects this plugin made, and its value.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const PLUGIN: &str = "kubectl-promfix";
/// Who manages a slice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
pub const SLICE_CONTROLLER: &str = "endpointslice-controller.k8s.io";

/// How Prometheus reads the certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// caFile/certFile/keyFile under /etc/prometheus/secrets/<secret>/.
    Files,
    /// The operator's secret references (`ca.secret`, `cert.secret`, `keySecret`).
    SecretRefs,
}

/// The certificate files' bytes, as given (they go into the Secret unchanged). Debug never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Pems {
    pub ca: Vec<u8>,
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

impl std::fmt::Debug for Pems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Pems {{ ca: {} bytes, cert: {} bytes, key: [redacted {} bytes] }}",
            self.ca.len(),
            self.cert.len(),
            self.key.len()
        )
    }
}

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub secret_name: String,
    pub ca_key: String,
    pub cert_key: String,
    pub key_key: String,
    pub pems: Option<Pems>,
    /// etcd member IPs (or host names) and the client port.
    pub ips: Vec<String>,
    pub port: u16,
    /// None: files, unless the Prometheus denies file access.
    pub tls_mode: Option<TlsMode>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
    /// The etcd ServiceMonitor the user named (`NAMESPACE/NAME`), when several could be it.
    pub service_monitor: Option<String>,
}

impl Wanted {
    pub fn with_defaults() -> Self {
        Wanted {
            secret_name: "etcd-client-cert".into(),
            ca_key: "etcd-ca".into(),
            cert_key: "etcd-client".into(),
            key_key: "etcd-client-key".into(),
            pems: None,
            ips: Vec::new(),
            port: 2379,
            tls_mode: None,
            server_name: None,
            insecure_skip_verify: false,
            service_monitor: None,
        }
    }
}

/// What was read from the cluster (plain JSON objects as the API returns them).
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The chosen Prometheus resource.
    pub prometheus: Value,
    /// Every ServiceMonitor the user can see (all namespaces).
    pub service_monitors: Vec<Value>,
    /// Namespaces (for namespace selectors).
    pub namespaces: Vec<Value>,
    /// Services, Endpoints and EndpointSlices in the namespaces the etcd ServiceMonitor looks in.
    pub services: Vec<Value>,
    pub endpoints: Vec<Value>,
    pub endpoint_slices: Vec<Value>,
    /// Secrets named `secret_name` (in the Prometheus namespace and the ServiceMonitor's).
    pub secrets: Vec<Value>,
    /// The user's choice of the etcd ServiceMonitor (`--service-monitor NAMESPACE/NAME`).
    pub service_monitor_choice: Option<String>,
    /// Every other Prometheus and PrometheusAgent (all namespaces): those that select the etcd
    /// ServiceMonitor read the files it names too.
    pub others: Vec<Value>,
}

fn has_etcd(text: &str) -> bool {
    text.to_ascii_lowercase().contains("etcd")
}

/// Whether a Prometheus selects a ServiceMonitor: `serviceMonitorSelector` (absent: none; `{}`:
/// all) and `serviceMonitorNamespaceSelector` (absent: its own namespace only; `{}`: all).
pub fn prometheus_selects(prom: &Value, sm: &Value, namespaces: &[Value]) -> bool {
    let spec = &prom["spec"];
    let Some(sel) = spec.get("serviceMonitorSelector").filter(|v| !v.is_null()) else {
        return false;
    };
    if !selector::matches(sel, &labels(sm)) {
        return false;
    }
    match spec
        .get("serviceMonitorNamespaceSelector")
        .filter(|v| !v.is_null())
    {
        None => namespace(sm) == namespace(prom),
        Some(nsel) => {
            let ns_labels = namespaces
                .iter()
                .find(|n| name(n) == namespace(sm))
                .map(labels)
                .unwrap_or_else(|| json!({"kubernetes.io/metadata.name": namespace(sm)}));
            selector::matches(nsel, &ns_labels)
        }
    }
}

/// How strongly a ServiceMonitor speaks of etcd (its name, labels, selector, job label), and the
/// index of the endpoint to fix; 0: not at all.
fn etcd_score(sm: &Value) -> (u32, usize) {
    let mut score = 0;
    if has_etcd(name(sm)) {
        score += 2;
    }
    if let Some(l) = sm["metadata"]["labels"].as_object()
        && l.values().any(|v| v.as_str().is_some_and(has_etcd))
    {
        score += 2;
    }
    if sm["spec"]["selector"].to_string().contains("etcd") {
        score += 3;
    }
    if s(sm, &["spec", "jobLabel"]).is_some_and(has_etcd) {
        score += 1;
    }
    let endpoints = sm["spec"]["endpoints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let idx = endpoints
        .iter()
        .position(|e| s(e, &["port"]) == Some("http-metrics"))
        .or_else(|| {
            endpoints
                .iter()
                .position(|e| s(e, &["port"]).is_some_and(has_etcd))
        })
        .unwrap_or(0);
    (score, idx)
}

/// `namespace/name` of an object.
fn key_of(v: &Value) -> String {
    format!("{}/{}", namespace(v), name(v))
}

/// Every ServiceMonitor that could be the control plane's etcd one, best first: selected by the
/// Prometheus, speaking of etcd, and not an application's (one that selects Services, none of
/// them in kube-system nor made by this plugin; one that selects no Service at all stays: the
/// etcd Service may be missing or out of its sight). With `service_monitor_choice`, only that one.
pub fn etcd_service_monitor_candidates(obs: &Observed) -> Vec<(&Value, usize, u32)> {
    let mut out: Vec<(&Value, usize, u32)> = obs
        .service_monitors
        .iter()
        .filter(|sm| prometheus_selects(&obs.prometheus, sm, &obs.namespaces))
        .filter(|sm| {
            obs.service_monitor_choice
                .as_deref()
                .is_none_or(|c| key_of(sm) == c)
        })
        .filter_map(|sm| {
            let (score, idx) = etcd_score(sm);
            let chosen = obs.service_monitor_choice.is_some();
            (score > 0 || chosen).then_some((sm, idx, score))
        })
        .filter(|(sm, _, _)| {
            let svcs = services_of(obs, sm);
            svcs.is_empty()
                || svcs.iter().any(|svc| {
                    namespace(svc) == "kube-system"
                        || s(svc, &["metadata", "labels", MANAGED_BY]) == Some(PLUGIN)
                })
        })
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.2));
    out
}

/// The warnings for the other Prometheus and PrometheusAgent resources that select `sm` (the etcd
/// ServiceMonitor as the fix leaves it, naming files under /etc/prometheus/secrets/SECRET/) but
/// do not list Secret `secret` in spec.secrets: the files are not in their pods, so Prometheus
/// cannot build the etcd job's client on the next reload (scrape.go, scrapePool.reload: the
/// pool keeps its old client, and the reload reports failure).
pub fn others_without_the_files(obs: &Observed, sm: &Value, secret: &str) -> Vec<String> {
    obs.others
        .iter()
        .filter(|p| prometheus_selects(p, sm, &obs.namespaces))
        .filter(|p| !crate::crd::PrometheusSpec::of(p).lists_secret(secret))
        .map(|p| {
            let (ns, n) = (namespace(p), s(p, &["metadata", "name"]).unwrap_or(""));
            format!(
                "warning: {kind} {ns}/{n} selects ServiceMonitor {sm} too, and does not mount Secret {secret}: \
                 once the ServiceMonitor names the files, its configuration reloads fail (unable to read CA cert: \
                 no such file; prometheus_config_last_reload_successful 0) and it keeps scraping etcd as before; \
                 fix it as well (`kubectl promfix etcd -n {ns} --prometheus {n}`), or keep it off this \
                 ServiceMonitor (its serviceMonitorSelector)",
                kind = crate::crd::kind_of(p),
                sm = key_of(sm),
            )
        })
        .collect()
}

/// Several ServiceMonitors could be etcd's with the same score: their names (best first), for an
/// error that asks the user to choose (`--service-monitor NAMESPACE/NAME`).
pub fn etcd_service_monitor_tie(obs: &Observed) -> Option<Vec<String>> {
    let c = etcd_service_monitor_candidates(obs);
    let best = c.first()?.2;
    let tied: Vec<String> = c
        .iter()
        .filter(|(_, _, sc)| *sc == best)
        .map(|(sm, _, _)| key_of(sm))
        .collect();
    (tied.len() > 1).then_some(tied)
}

/// The etcd ServiceMonitor of a Prometheus, found by what it selects and how it is labelled, not
/// by an assumed name ([`etcd_service_monitor_candidates`]); None when there is none or when
/// several tie ([`etcd_service_monitor_tie`] names them). Returns it with the index of the
/// endpoint to fix.
pub fn find_etcd_service_monitor(obs: &Observed) -> Option<(&Value, usize)> {
    if etcd_service_monitor_tie(obs).is_some() {
        return None;
    }
    etcd_service_monitor_candidates(obs)
        .first()
        .map(|(sm, i, _)| (*sm, *i))
}

/// The Services a ServiceMonitor selects: its selector, in the namespaces the operator looks in
/// for it (its namespaceSelector, unless the Prometheus ignores namespace selectors).
pub fn services_of<'a>(obs: &'a Observed, sm: &Value) -> Vec<&'a Value> {
    let sel = sm["spec"].get("selector").cloned().unwrap_or(json!({}));
    obs.services
        .iter()
        .filter(|svc| {
            selector::monitor_looks_in(&obs.prometheus, sm, namespace(svc))
                && selector::matches(&sel, &labels(svc))
        })
        .collect()
}

/// The TLS mode to use and why (the Prometheus may deny file access through ServiceMonitors).
pub fn tls_mode(prom: &Value, wanted: &Wanted) -> (TlsMode, Option<String>) {
    let deny = prom["spec"]["arbitraryFSAccessThroughSMs"]["deny"].as_bool() == Some(true);
    match (wanted.tls_mode, deny) {
        (Some(TlsMode::SecretRefs), _) => (TlsMode::SecretRefs, None),
        (_, true) => (
            TlsMode::SecretRefs,
            Some(format!(
                "Prometheus {}/{} sets arbitraryFSAccessThroughSMs.deny: true, so the operator rejects file paths in \
                 ServiceMonitors: using the operator's secret references instead (no mount, no pod restart)",
                namespace(prom),
                name(prom)
            )),
        ),
        (_, false) => (TlsMode::Files, None),
    }
}

fn object_ref(v: &Value, plural: &str) -> ObjectRef {
    let ns = namespace(v);
    ObjectRef::of(
        s(v, &["apiVersion"]).unwrap_or(""),
        s(v, &["kind"]).unwrap_or(""),
        plural,
        (!ns.is_empty()).then_some(ns),
        name(v),
    )
}

/// A change from `before` to `after` (None when nothing differs).
fn update(before: &Value, after: Value, plural: &str, reason: impl Into<String>) -> Option<Change> {
    let patch = guarded_merge_patch(before, &after)?;
    Some(Change {
        object: object_ref(before, plural),
        before: Some(before.clone()),
        after: Some(after),
        op: Op::MergePatch { patch },
        reason: reason.into(),
        helm: helm_release(before),
    })
}

fn create(after: Value, plural: &str, reason: impl Into<String>) -> Change {
    Change {
        object: object_ref(&after, plural),
        before: None,
        after: Some(after),
        op: Op::Create,
        reason: reason.into(),
        helm: None,
    }
}

fn b64(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Step 1: the Secret (in `secret_namespaces`: the Prometheus namespace for files, the
/// ServiceMonitor's for secret references) and `spec.secrets` (files only).
pub fn plan_secret(
    obs: &Observed,
    w: &Wanted,
    mode: TlsMode,
    secret_namespaces: &[String],
) -> Plan {
    let mut plan = Plan::default();
    if let Some(p) = &w.pems {
        for ns in secret_namespaces {
            let data = [
                (&w.ca_key, &p.ca),
                (&w.cert_key, &p.cert),
                (&w.key_key, &p.key),
            ];
            let existing = obs
                .secrets
                .iter()
                .find(|x| namespace(x) == ns && name(x) == w.secret_name);
            match existing {
                Some(cur) => {
                    let mut after = cur.clone();
                    for (k, bytes) in data {
                        after["data"][k.as_str()] = b64(bytes);
                    }
                    if let Some(c) = update(
                        cur,
                        after,
                        "secrets",
                        "the etcd client certificates changed",
                    ) {
                        plan.changes.push(c);
                    }
                }
                None => {
                    let mut d = Map::new();
                    for (k, bytes) in data {
                        d.insert(k.clone(), b64(bytes));
                    }
                    let after = json!({
                        "apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": w.secret_name, "namespace": ns,
                                     "labels": {"app.kubernetes.io/managed-by": "kubectl-promfix"}},
                        "type": "Opaque",
                        "data": d,
                    });
                    plan.changes.push(create(
                        after,
                        "secrets",
                        "etcd client certificates for Prometheus",
                    ));
                }
            }
        }
    }
    if let Some(ns) = plan
        .changes
        .iter()
        .find_map(|c| (c.object.kind == "Secret").then(|| c.object.namespace.clone()))
    {
        plan.notes.push(format!(
            "the client certificate goes into Secret {}/{}: unless etcd's own authentication is on, every certificate its CA signed may read and write all of etcd, so whoever can read Secrets in {} can too. Prefer a certificate meant for monitoring (kubeadm: etcd/healthcheck-client.crt); kubeadm can serve plain-http metrics without any certificate instead (--listen-metrics-urls=http://<node-ip>:2381 in etcd.yaml, and the ServiceMonitor on 2381)",
            ns.as_deref().unwrap_or(""),
            w.secret_name,
            ns.as_deref().unwrap_or("")
        ));
    }
    if mode == TlsMode::Files {
        let prom = &obs.prometheus;
        let mut secrets: Vec<Value> = prom["spec"]["secrets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !secrets
            .iter()
            .any(|x| x.as_str() == Some(w.secret_name.as_str()))
        {
            secrets.push(Value::String(w.secret_name.clone()));
            let mut after = prom.clone();
            after["spec"]["secrets"] = Value::Array(secrets);
            if let Some(c) = update(
                prom,
                after,
                crate::kube::prometheus_res(prom).plural,
                format!(
                    "mount Secret {} at /etc/prometheus/secrets/{}/ (the operator rolls the pods)",
                    w.secret_name, w.secret_name
                ),
            ) {
                plan.changes.push(c);
            }
        }
    }
    plan
}

fn port_name(sm: &Value, idx: usize) -> String {
    s(&sm["spec"]["endpoints"][idx], &["port"])
        .unwrap_or("http-metrics")
        .to_string()
}

/// Step 2: the selector-free Service, its Endpoints, and the stale slices.
/// `svc` is the Service the ServiceMonitor selects, or None to create one in kube-system.
pub fn plan_endpoints(obs: &Observed, w: &Wanted, sm: &Value, idx: usize) -> Result<Plan> {
    let mut plan = Plan::default();
    if w.ips.is_empty() {
        return Err(Error::Input(
            "no etcd endpoints: give --endpoints IP[,IP...] (the etcd members' addresses)".into(),
        ));
    }
    let pname = port_name(sm, idx);
    let candidates = services_of(obs, sm);
    if candidates.len() > 1 {
        plan.notes.push(format!(
            "ServiceMonitor {}/{} selects {} Services; fixing {}/{}",
            namespace(sm),
            name(sm),
            candidates.len(),
            namespace(candidates[0]),
            name(candidates[0])
        ));
    }
    // kubeadm's stacked etcd: the chart's `component: etcd` selector already finds the etcd
    // static pods, whose IPs are the members'. Keep it (hand-written Endpoints would go stale when
    // control-plane nodes are replaced): only the port changes, and the endpoints and
    // EndpointSlice controllers follow it.
    if let Some(cur) = candidates.first()
        && selector_finds_members(obs, cur, &w.ips)
    {
        keep_selector(cur, w, &pname, &mut plan);
        return Ok(plan);
    }
    let svc = match candidates.first() {
        Some(cur) => selector_free_service(cur, w, &pname, &mut plan),
        None => new_service(obs, w, sm, &pname, &mut plan)?,
    };
    // When Helm manages the Service, its release gets the Endpoints too.
    let managed = candidates.first().copied();
    plan_endpoints_object(obs, w, managed, &svc, &pname, &mut plan);
    stale_slices(obs, &svc, &mut plan);
    Ok(plan)
}

/// The etcd Service the Endpoints belong to: namespace, name, labels.
struct EtcdService {
    namespace: String,
    name: String,
    labels: Value,
}

/// The Service whose selector finds the etcd pods: only its port changes.
fn keep_selector(cur: &Value, w: &Wanted, pname: &str, plan: &mut Plan) {
    let mut after = cur.clone();
    set_port(&mut after, pname, w.port);
    if let Some(c) = update(
        cur,
        after,
        "services",
        "scrape etcd's client port; the selector already finds the etcd pods (the endpoints controller follows)",
    ) {
        plan.changes.push(c);
        plan.notes.push(format!(
            "Service {}/{} selects the etcd pods ({}): its selector stays, so its Endpoints follow the control-plane nodes",
            namespace(cur),
            name(cur),
            w.ips.join(", ")
        ));
    }
}

/// The Service the ServiceMonitor selects, without its selector and on etcd's client port.
fn selector_free_service(cur: &Value, w: &Wanted, pname: &str, plan: &mut Plan) -> EtcdService {
    let mut after = cur.clone();
    if let Some(spec) = after["spec"].as_object_mut() {
        spec.remove("selector");
    }
    set_port(&mut after, pname, w.port);
    let had_selector = cur["spec"].get("selector").is_some_and(|v| !v.is_null());
    let reason = if had_selector {
        "remove the selector, or the endpoints controller overwrites hand-written Endpoints"
    } else {
        "the port Prometheus scrapes must be etcd's client port"
    };
    if let Some(c) = update(cur, after, "services", reason) {
        plan.changes.push(c);
    }
    EtcdService {
        namespace: namespace(cur).to_string(),
        name: name(cur).to_string(),
        labels: labels(cur),
    }
}

/// A selector-free Service the ServiceMonitor selects, made where the operator looks for it.
fn new_service(
    obs: &Observed,
    w: &Wanted,
    sm: &Value,
    pname: &str,
    plan: &mut Plan,
) -> Result<EtcdService> {
    let sel = sm["spec"].get("selector").cloned().unwrap_or(json!({}));
    let Some(lbls) = selector::labels_satisfying(&sel) else {
        return Err(Error::Input(format!(
            "ServiceMonitor {}/{} selects Services with a selector no labels can satisfy; create the etcd Service by hand",
            namespace(sm),
            name(sm)
        )));
    };
    // kube-system, where the control plane's Services live, when the operator looks there for
    // this ServiceMonitor; else the first namespace it does look in (with
    // `ignoreNamespaceSelectors`, only the ServiceMonitor's own).
    let ns = match selector::monitor_namespaces(&obs.prometheus, sm) {
        Some(v) if !v.iter().any(|n| n == "kube-system") => {
            let first = v
                .first()
                .cloned()
                .unwrap_or_else(|| namespace(sm).to_string());
            plan.notes.push(format!(
                "the operator looks for ServiceMonitor {}/{}'s Services only in {} ({}): the etcd Service is made there",
                namespace(sm),
                name(sm),
                v.join(", "),
                if crate::crd::PrometheusSpec::of(&obs.prometheus).ignores_namespace_selectors() {
                    "the Prometheus sets ignoreNamespaceSelectors"
                } else {
                    "its namespaceSelector"
                }
            ));
            first
        }
        _ => "kube-system".to_string(),
    };
    let svc_name = name(sm).to_string();
    // The ServiceMonitor's labels, and ours: a Service we made outside kube-system is still the
    // control plane's (etcd_service_monitor_candidates).
    let mut svc_labels = lbls.clone();
    svc_labels.insert(MANAGED_BY.into(), json!(PLUGIN));
    let port = json!({"name": pname, "port": w.port, "protocol": "TCP", "targetPort": w.port});
    let after = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": svc_name, "namespace": ns, "labels": Value::Object(svc_labels)},
        "spec": {"clusterIP": "None", "ports": [port], "type": "ClusterIP"},
    });
    plan.changes.push(create(
        after,
        "services",
        "a selector-free Service for the etcd members",
    ));
    Ok(EtcdService {
        namespace: ns,
        name: svc_name,
        labels: Value::Object(lbls),
    })
}

/// The Endpoints listing the members. When Helm manages the Service (`managed`), its release
/// gets the Endpoints too: with `kubeEtcd.endpoints` set (as the --helm-values file does) the
/// chart renders them, and Helm refuses to take over an existing object without its ownership
/// metadata.
fn plan_endpoints_object(
    obs: &Observed,
    w: &Wanted,
    managed: Option<&Value>,
    svc: &EtcdService,
    pname: &str,
    plan: &mut Plan,
) {
    let (svc_ns, svc_name) = (&svc.namespace, &svc.name);
    let owner = managed.and_then(|svc| helm_owner(svc, &obs.prometheus));
    if managed.is_some_and(|svc| helm_release(svc).is_some()) && owner.is_none() {
        plan.notes.push(format!(
            "Helm manages Service {svc_ns}/{svc_name}, but its release's namespace is not recorded on it (no meta.helm.sh/release-namespace): the Endpoints get no Helm ownership metadata, so a `helm upgrade` that renders them (kubeEtcd.endpoints) refuses to adopt them until they are annotated"
        ));
    }
    let addresses: Vec<Value> = w.ips.iter().map(|ip| json!({"ip": ip})).collect();
    let subsets = json!([{"addresses": addresses, "ports": [{"name": pname, "port": w.port, "protocol": "TCP"}]}]);
    let current = obs
        .endpoints
        .iter()
        .find(|e| namespace(e) == svc_ns && name(e) == svc_name);
    match current {
        Some(cur) => {
            let mut after = cur.clone();
            if !same_endpoints(&cur["subsets"], &w.ips, pname, w.port) {
                after["subsets"] = subsets;
            }
            if let Some(o) = &owner {
                set_helm_owner(&mut after, o);
            }
            let reason = if after["subsets"] != cur["subsets"] {
                "list the etcd members"
            } else {
                "Helm's ownership metadata, so that the release can take the Endpoints over"
            };
            if let Some(c) = update(cur, after, "endpoints", reason) {
                plan.changes.push(c);
            }
        }
        None => {
            let mut meta = json!({"name": svc_name, "namespace": svc_ns});
            if svc.labels.is_object() {
                meta["labels"] = svc.labels.clone();
            }
            let mut after = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": meta, "subsets": subsets});
            if let Some(o) = &owner {
                set_helm_owner(&mut after, o);
            }
            plan.changes
                .push(create(after, "endpoints", "list the etcd members"));
        }
    }
}

/// Stale slices of the EndpointSlice controller (left behind when the selector goes away).
fn stale_slices(obs: &Observed, svc: &EtcdService, plan: &mut Plan) {
    for slice in &obs.endpoint_slices {
        if namespace(slice) == svc.namespace
            && s(slice, &["metadata", "labels", SERVICE_NAME_LABEL]) == Some(svc.name.as_str())
            && s(slice, &["metadata", "labels", MANAGED_BY_LABEL]) == Some(SLICE_CONTROLLER)
        {
            plan.changes.push(Change {
                object: object_ref(slice, "endpointslices"),
                before: Some(slice.clone()),
                after: None,
                op: Op::Delete {
                    uid: s(slice, &["metadata", "uid"]).unwrap_or("").into(),
                    resource_version: s(slice, &["metadata", "resourceVersion"]).unwrap_or("").into(),
                },
                reason: "left behind by the EndpointSlice controller after the selector was removed \
                         (kubernetes/kubernetes#118376): Prometheus with serviceDiscoveryRole EndpointSlice would scrape stale addresses"
                    .into(),
                helm: None,
            });
        }
    }
}

/// The Helm release (name, namespace) that owns a Service, when both are known: its
/// `meta.helm.sh/release-*` annotations, or, for a release known only by its labels, the
/// namespace of the same release's Prometheus (the charts put their namespaced objects in the
/// release namespace).
pub fn helm_owner(svc: &Value, prometheus: &Value) -> Option<(String, String)> {
    let rel = helm_release(svc)?;
    if rel.name == "(unknown)" {
        return None;
    }
    if let Some(ns) = rel.namespace {
        return Some((rel.name, ns));
    }
    let prom = helm_release(prometheus)?;
    if prom.name != rel.name {
        return None;
    }
    let ns = prom
        .namespace
        .unwrap_or_else(|| namespace(prometheus).to_string());
    (!ns.is_empty()).then_some((rel.name, ns))
}

/// What Helm checks before it adopts an existing object into a release (`helm upgrade`
/// otherwise fails with "invalid ownership metadata").
fn set_helm_owner(obj: &mut Value, (release, ns): &(String, String)) {
    let meta = &mut obj["metadata"];
    meta["annotations"]["meta.helm.sh/release-name"] = json!(release);
    meta["annotations"]["meta.helm.sh/release-namespace"] = json!(ns);
    meta["labels"][MANAGED_BY] = json!("Helm");
}

/// Set the named port (or add it) to `port`, targetPort too.
fn set_port(svc: &mut Value, pname: &str, port: u16) {
    let mut ports: Vec<Value> = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    match ports.iter_mut().find(|p| s(p, &["name"]) == Some(pname)) {
        Some(p) => {
            p["port"] = json!(port);
            p["targetPort"] = json!(port);
        }
        None => {
            ports.push(json!({"name": pname, "port": port, "protocol": "TCP", "targetPort": port}))
        }
    }
    svc["spec"]["ports"] = Value::Array(ports);
}

/// The Service has a selector, and the addresses the endpoints controller found for it are pods
/// (`targetRef.kind: Pod`) whose IPs are exactly the etcd members': kubeadm's stacked etcd.
fn selector_finds_members(obs: &Observed, svc: &Value, ips: &[String]) -> bool {
    let has_selector = svc["spec"]["selector"]
        .as_object()
        .is_some_and(|m| !m.is_empty());
    if !has_selector {
        return false;
    }
    let Some(ep) = obs
        .endpoints
        .iter()
        .find(|e| namespace(e) == namespace(svc) && name(e) == name(svc))
    else {
        return false;
    };
    let mut found: Vec<&str> = ep["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|sub| {
            ["addresses", "notReadyAddresses"]
                .into_iter()
                .flat_map(move |k| sub[k].as_array().into_iter().flatten())
        })
        .filter(|a| s(a, &["targetRef", "kind"]) == Some("Pod"))
        .filter_map(|a| s(a, &["ip"]))
        .collect();
    found.sort_unstable();
    found.dedup();
    let mut want: Vec<&str> = ips.iter().map(String::as_str).collect();
    want.sort_unstable();
    want.dedup();
    !found.is_empty() && found == want
}

/// Whether Endpoints subsets already list exactly these IPs on this named port.
fn same_endpoints(subsets: &Value, ips: &[String], port_name: &str, port: u16) -> bool {
    let Some(subsets) = subsets.as_array() else {
        return false;
    };
    if subsets.len() != 1 {
        return false;
    }
    let sub = &subsets[0];
    if sub
        .get("notReadyAddresses")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return false;
    }
    let mut have: Vec<&str> = sub["addresses"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| s(x, &["ip"])).collect())
        .unwrap_or_default();
    let mut want: Vec<&str> = ips.iter().map(String::as_str).collect();
    have.sort_unstable();
    want.sort_unstable();
    let ports = sub["ports"].as_array().cloned().unwrap_or_default();
    have == want
        && ports.len() == 1
        && s(&ports[0], &["name"]) == Some(port_name)
        && ports[0]["port"].as_u64() == Some(u64::from(port))
}

/// The tlsConfig for a mode.
pub fn tls_config(w: &Wanted, mode: TlsMode) -> Value {
    let mut t = match mode {
        TlsMode::Files => {
            let dir = format!("/etc/prometheus/secrets/{}", w.secret_name);
            json!({
                "caFile": format!("{dir}/{}", w.ca_key),
                "certFile": format!("{dir}/{}", w.cert_key),
                "keyFile": format!("{dir}/{}", w.key_key),
            })
        }
        TlsMode::SecretRefs => json!({
            "ca": {"secret": {"name": w.secret_name, "key": w.ca_key}},
            "cert": {"secret": {"name": w.secret_name, "key": w.cert_key}},
            "keySecret": {"name": w.secret_name, "key": w.key_key},
        }),
    };
    if let Some(sn) = &w.server_name {
        t["serverName"] = json!(sn);
    }
    if w.insecure_skip_verify {
        t["insecureSkipVerify"] = json!(true);
    }
    t
}

/// Step 3: https and tlsConfig on the ServiceMonitor endpoint (or a new ServiceMonitor).
pub fn plan_servicemonitor(
    obs: &Observed,
    w: &Wanted,
    mode: TlsMode,
    found: Option<(&Value, usize)>,
) -> Result<Plan> {
    let mut plan = Plan::default();
    let tls = tls_config(w, mode);
    match found {
        Some((sm, idx)) => {
            let mut after = sm.clone();
            let ep = &mut after["spec"]["endpoints"][idx];
            ep["scheme"] = json!("https");
            // `insecureSkipVerify: false` is the default, and the charts always render it with
            // https (kube-prometheus-stack, stable/prometheus-operator): written where Helm
            // manages the ServiceMonitor or kept where it is, so that the endpoint is what the
            // chart renders from the --helm-values file (Helm 4's server-side apply of the
            // upgrade otherwise conflicts with this plugin's field manager on spec.endpoints),
            // and a run after `helm upgrade` does not rewrite it.
            let mut tls = tls;
            if !w.insecure_skip_verify
                && (ep["tlsConfig"]["insecureSkipVerify"].as_bool() == Some(false)
                    || helm_release(sm).is_some())
            {
                tls["insecureSkipVerify"] = json!(false);
            }
            ep["tlsConfig"] = tls;
            if let Some(c) = update(
                sm,
                after,
                "servicemonitors",
                "scrape etcd over https with the client certificate",
            ) {
                plan.changes.push(c);
            }
        }
        None => {
            let prom = &obs.prometheus;
            let sel = prom["spec"]
                .get("serviceMonitorSelector")
                .filter(|v| !v.is_null());
            let Some(sel) = sel else {
                return Err(Error::Input(format!(
                    "Prometheus {}/{} has no serviceMonitorSelector, so it selects no ServiceMonitor; set one (e.g. {{}}) first",
                    namespace(prom),
                    name(prom)
                )));
            };
            let Some(mut lbls) = selector::labels_satisfying(sel) else {
                return Err(Error::Input(format!(
                    "the serviceMonitorSelector of Prometheus {}/{} cannot be satisfied by labels; create the etcd ServiceMonitor by hand",
                    namespace(prom),
                    name(prom)
                )));
            };
            lbls.insert(
                "app.kubernetes.io/managed-by".into(),
                json!("kubectl-promfix"),
            );
            let after = json!({
                "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                "metadata": {"name": "etcd", "namespace": namespace(prom), "labels": Value::Object(lbls)},
                "spec": {
                    "jobLabel": "k8s-app",
                    "selector": {"matchLabels": {"k8s-app": "etcd", "app.kubernetes.io/managed-by": "kubectl-promfix"}},
                    "namespaceSelector": {"matchNames": ["kube-system"]},
                    "endpoints": [{"port": "http-metrics", "scheme": "https", "tlsConfig": tls}],
                },
            });
            plan.changes.push(create(
                after,
                "servicemonitors",
                "no etcd ServiceMonitor is selected by this Prometheus",
            ));
        }
    }
    Ok(plan)
}

/// The `helm.sh/chart` (or older `chart`) label of an object: the chart and its version.
fn chart_label(obj: &Value) -> Option<&str> {
    s(obj, &["metadata", "labels", "helm.sh/chart"])
        .or_else(|| s(obj, &["metadata", "labels", "chart"]))
}

/// The Helm values override for a fix, and what the user must know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct HelmValues {
    pub values: Value,
    /// Said on stderr and written as comments at the top of the file.
    pub notes: Vec<String>,
}

/// The object as it is once the plan is written: the change's `after`, else as observed.
fn after_plan<'a>(plan: &'a Plan, obj: &'a Value) -> &'a Value {
    plan.changes
        .iter()
        .find(|c| {
            c.object.kind == s(obj, &["kind"]).unwrap_or("")
                && c.object.name == name(obj)
                && c.object.namespace.as_deref().unwrap_or("") == namespace(obj)
        })
        .and_then(|c| c.after.as_ref())
        .unwrap_or(obj)
}

/// The Helm values override that makes the chart (kube-prometheus-stack, or the older
/// stable/prometheus-operator, which share these keys) render what the plan leaves in the
/// cluster, for `helm upgrade -f <your values> -f <this file>`:
/// - `prometheus.prometheusSpec.secrets`: the Prometheus' whole list after the plan (Helm
///   replaces lists, so a list of the etcd Secret alone would drop the others);
/// - `kubeEtcd.serviceMonitor`: scheme, TLS files, serverName and insecureSkipVerify. The charts
///   (kube-prometheus-stack through 88.x) render only file paths (caFile, certFile, keyFile),
///   no Secret references: a secret-reference fix is carried as files, with the Secret listed
///   in `secrets`, and a note says so;
/// - `kubeEtcd.endpoints` and `kubeEtcd.service.{port,targetPort}`: the members, only where the
///   plan leaves the Service without a selector (with endpoints the chart drops the selector
///   and renders the Endpoints); where the selector stays (kubeadm), the ports only.
pub fn helm_values(w: &Wanted, mode: TlsMode, obs: &Observed, plan: &Plan) -> HelmValues {
    let mut notes = Vec::new();
    let prom = after_plan(plan, &obs.prometheus);
    let deny = prom["spec"]["arbitraryFSAccessThroughSMs"]["deny"].as_bool() == Some(true);
    let found = find_etcd_service_monitor(obs);
    let chart = found
        .and_then(|(sm, _)| chart_label(sm))
        .or_else(|| chart_label(prom))
        .map(|c| format!("chart {c}"))
        .unwrap_or_else(|| "the chart".to_string());
    let dir = format!("/etc/prometheus/secrets/{}", w.secret_name);
    let mut sm = json!({"scheme": "https"});
    let mut files = true;
    if mode == TlsMode::SecretRefs {
        if deny {
            files = false;
            notes.push(format!(
                "{chart} renders kubeEtcd.serviceMonitor TLS only from file paths (caFile, certFile, keyFile), not the Secret references the fix uses, and Prometheus {}/{} denies file paths in ServiceMonitors (arbitraryFSAccessThroughSMs.deny): the values cannot carry the TLS settings, so `helm upgrade` puts the etcd ServiceMonitor back without them; run `kubectl promfix servicemonitor --tls-from secret` after each upgrade, or disable the chart's (kubeEtcd.serviceMonitor.enabled: false) and keep one of your own",
                namespace(prom),
                name(prom)
            ));
        } else {
            let sm_ns = found.map(|(sm, _)| namespace(sm)).unwrap_or("");
            let where_ = if !sm_ns.is_empty() && sm_ns != namespace(prom) {
                format!(
                    " It must exist in the Prometheus' namespace {}: the fix wrote it in {sm_ns}, copy it there first.",
                    namespace(prom)
                )
            } else {
                String::new()
            };
            notes.push(format!(
                "{chart} cannot render Secret references in kubeEtcd.serviceMonitor (it has caFile, certFile and keyFile only): these values carry the fix as files instead, from Secret {} mounted at {dir}/ (listed in prometheus.prometheusSpec.secrets; the Prometheus pods roll on the upgrade). Helm 4 applies server-side: the chart's ServiceMonitor endpoint then differs from the one this fix wrote, so upgrade with --force-conflicts.{where_}",
                w.secret_name
            ));
        }
    }
    if files {
        sm["caFile"] = json!(format!("{dir}/{}", w.ca_key));
        sm["certFile"] = json!(format!("{dir}/{}", w.cert_key));
        sm["keyFile"] = json!(format!("{dir}/{}", w.key_key));
    }
    // The chart writes both whenever the scheme is https: say them, so that a value left in the
    // user's own file does not stay.
    sm["serverName"] = json!(w.server_name.clone().unwrap_or_default());
    sm["insecureSkipVerify"] = json!(w.insecure_skip_verify);

    // The whole list, as the Prometheus has it after the plan.
    let mut secrets: Vec<Value> = prom["spec"]["secrets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if files
        && !secrets
            .iter()
            .any(|x| x.as_str() == Some(w.secret_name.as_str()))
    {
        secrets.push(json!(w.secret_name));
    }

    // The Service as the plan leaves it: selector-free (the members are the chart's endpoints)
    // or still selecting the etcd pods.
    let svc = found.and_then(|(sm, _)| services_of(obs, sm).first().copied());
    let keeps_selector = svc.map(|svc| after_plan(plan, svc)).is_some_and(|svc| {
        svc["spec"]["selector"]
            .as_object()
            .is_some_and(|m| !m.is_empty())
    });
    let mut etcd = json!({
        "service": {"port": w.port, "targetPort": w.port},
        "serviceMonitor": sm,
    });
    if !keeps_selector {
        etcd["endpoints"] = json!(w.ips);
    }
    let mut v = json!({"kubeEtcd": etcd});
    if !secrets.is_empty() {
        v["prometheus"] = json!({"prometheusSpec": {"secrets": secrets}});
    }
    HelmValues { values: v, notes }
}

/// The write wave of a change of the etcd fix: the writes of one wave go out at once, each wave
/// after the one before it has landed. What must come first is what a later write relies on:
/// - the Secret before the Prometheus that lists it in `spec.secrets` (a pod cannot mount a
///   Secret that does not exist) and before a ServiceMonitor that references it;
/// - the Service's selector gone before its Endpoints are written and its stale EndpointSlices
///   deleted (while it has a selector, the endpoints and EndpointSlice controllers write those
///   back).
///
/// Within a wave nothing relies on anything else, so a crash after any subset of a wave leaves
/// objects that a re-run completes and a rollback restores.
pub fn write_wave(c: &Change) -> usize {
    match c.object.plural.as_str() {
        "secrets" | "services" => 0,
        _ => 1,
    }
}

/// The flag that makes `etcd` rewrite an etcd scrape whose targets are all up.
pub const REPLACE_WORKING_SCRAPE: &str = "--replace-working-scrape";

/// Whether a change rewrites how Prometheus scrapes etcd (which Service, port, addresses,
/// scheme or TLS settings); the Secret and its mount do not.
pub fn rewrites_scrape(c: &Change) -> bool {
    matches!(
        c.object.kind.as_str(),
        "Service" | "Endpoints" | "EndpointSlice" | "ServiceMonitor"
    )
}

/// An etcd scrape that already works is left alone: when Prometheus reports at least one target
/// of the etcd ServiceMonitor and every one `up` (`targets`: scrape URL and health), a plan that
/// rewrites the scrape becomes an empty plan whose note says so and names the flag that makes
/// the changes anyway. Returns the plan to run and whether it was held back.
pub fn hold_working_scrape(
    plan: Plan,
    targets: &[(String, String)],
    replace: bool,
) -> (Plan, bool) {
    let all_up = !targets.is_empty() && targets.iter().all(|(_, h)| h == "up");
    let rewrites: Vec<&Change> = plan.changes.iter().filter(|c| rewrites_scrape(c)).collect();
    if replace || !all_up || rewrites.is_empty() {
        return (plan, false);
    }
    let mut urls: Vec<&str> = targets.iter().map(|(u, _)| u.as_str()).collect();
    urls.sort_unstable();
    urls.dedup();
    let shown = urls.iter().take(3).copied().collect::<Vec<_>>().join(", ");
    let more = if urls.len() > 3 {
        format!(" and {} more", urls.len() - 3)
    } else {
        String::new()
    };
    let note = format!(
        "Prometheus already scrapes etcd: all {n} target(s) are up ({shown}{more}), so nothing is changed. \
         The plan would have rewritten that working scrape ({changes}); to do so anyway (e.g. to move it to \
         mTLS on the client port on purpose), run again with {REPLACE_WORKING_SCRAPE}",
        n = targets.len(),
        changes = plan
            .changes
            .iter()
            .map(|c| format!("{} {}", crate::apply::verb_word(c), c.object.display()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut notes = plan.notes;
    notes.push(note);
    (
        Plan {
            changes: Vec::new(),
            notes,
            not_fixed: plan.not_fixed,
        },
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_and_the_service_go_first() {
        let o = seed();
        let mut w = Wanted::with_defaults();
        w.pems = Some(Pems {
            ca: b"ca".to_vec(),
            cert: b"cert".to_vec(),
            key: b"key".to_vec(),
        });
        let mut plan = plan_secret(&o, &w, TlsMode::Files, &["monitoring".into()]);
        let waves: Vec<(&str, usize)> = plan
            .changes
            .iter()
            .map(|c| (c.object.kind.as_str(), write_wave(c)))
            .collect();
        assert_eq!(waves, [("Secret", 0), ("Prometheus", 1)]);
        plan.changes.clear();
        for (kind, plural, wave) in [
            ("Service", "services", 0),
            ("Endpoints", "endpoints", 1),
            ("EndpointSlice", "endpointslices", 1),
            ("ServiceMonitor", "servicemonitors", 1),
        ] {
            let c = Change {
                object: ObjectRef::of("v1", kind, plural, Some("kube-system"), "etcd"),
                before: None,
                after: None,
                op: Op::Create,
                reason: String::new(),
                helm: None,
            };
            assert_eq!(write_wave(&c), wave, "{kind}");
        }
    }

    fn seed() -> Observed {
        Observed {
            prometheus: json!({
                "apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
                "metadata": {"name": "prom-prometheus-operator-prometheus", "namespace": "monitoring", "resourceVersion": "10",
                             "labels": {"app": "prometheus-operator-prometheus", "release": "prom", "heritage": "Helm"}},
                "spec": {"replicas": 2, "serviceMonitorSelector": {"matchLabels": {"release": "prom"}},
                         "serviceMonitorNamespaceSelector": {}}
            }),
            service_monitors: vec![json!({
                "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                "metadata": {"name": "prom-prometheus-operator-kube-etcd", "namespace": "monitoring", "resourceVersion": "11",
                             "labels": {"app": "prometheus-operator-kube-etcd", "release": "prom", "heritage": "Helm"}},
                "spec": {"jobLabel": "jobLabel",
                         "selector": {"matchLabels": {"app": "prometheus-operator-kube-etcd", "release": "prom"}},
                         "namespaceSelector": {"matchNames": ["kube-system"]},
                         "endpoints": [{"port": "http-metrics", "bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}]}
            })],
            namespaces: vec![],
            services: vec![json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "prom-prometheus-operator-kube-etcd", "namespace": "kube-system", "resourceVersion": "12",
                             "labels": {"app": "prometheus-operator-kube-etcd", "release": "prom", "heritage": "Helm"}},
                "spec": {"clusterIP": "None", "selector": {"component": "etcd"},
                         "ports": [{"name": "http-metrics", "port": 2379, "protocol": "TCP", "targetPort": 2379}]}
            })],
            endpoints: vec![json!({
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "prom-prometheus-operator-kube-etcd", "namespace": "kube-system", "resourceVersion": "13"}
            })],
            endpoint_slices: vec![json!({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "prom-prometheus-operator-kube-etcd-abcde", "namespace": "kube-system", "uid": "u1", "resourceVersion": "14",
                             "labels": {SERVICE_NAME_LABEL: "prom-prometheus-operator-kube-etcd", MANAGED_BY_LABEL: SLICE_CONTROLLER}}
            })],
            secrets: vec![],
            service_monitor_choice: None,
            others: vec![],
        }
    }

    fn wanted() -> Wanted {
        Wanted {
            pems: Some(Pems {
                ca: b"CA".to_vec(),
                cert: b"CERT".to_vec(),
                key: b"KEY".to_vec(),
            }),
            ips: vec![
                "192.168.2.11".into(),
                "192.168.2.12".into(),
                "192.168.2.13".into(),
            ],
            ..Wanted::with_defaults()
        }
    }

    #[test]
    fn names_the_other_prometheuses_that_select_the_monitor_without_the_secret() {
        let mut obs = seed();
        let other = |kind: &str, name: &str, spec: Value| {
            json!({"apiVersion": "monitoring.coreos.com/v1", "kind": kind,
                   "metadata": {"name": name, "namespace": "monitoring"}, "spec": spec})
        };
        let all = json!({"serviceMonitorSelector": {}, "serviceMonitorNamespaceSelector": {}});
        let mut mounted = all.clone();
        mounted["secrets"] = json!(["etcd-client-cert"]);
        obs.others = vec![
            other("PrometheusAgent", "agent", all.clone()),
            other("Prometheus", "fixed", mounted),
            other(
                "Prometheus",
                "apps",
                json!({"serviceMonitorSelector": {"matchLabels": {"team": "apps"}}}),
            ),
            // absent serviceMonitorSelector: selects none
            other("Prometheus", "bare", json!({})),
        ];
        let sm = obs.service_monitors[0].clone();
        let w = others_without_the_files(&obs, &sm, "etcd-client-cert");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("warning: PrometheusAgent monitoring/agent selects ServiceMonitor monitoring/prom-prometheus-operator-kube-etcd too, and does not mount Secret etcd-client-cert"),
            "{w:?}"
        );
        assert!(
            w[0].contains("kubectl promfix etcd -n monitoring --prometheus agent"),
            "{w:?}"
        );
        assert!(others_without_the_files(&obs, &sm, "other-secret").len() == 2);
    }

    #[test]
    fn finds_the_seed_service_monitor_by_selection_not_name() {
        let obs = seed();
        let (sm, idx) = find_etcd_service_monitor(&obs).unwrap();
        assert_eq!(name(sm), "prom-prometheus-operator-kube-etcd");
        assert_eq!(idx, 0);
        // a Prometheus that selects other releases does not see it
        let mut other = seed();
        other.prometheus["spec"]["serviceMonitorSelector"] =
            json!({"matchLabels": {"release": "other"}});
        assert!(find_etcd_service_monitor(&other).is_none());
        // nil selector selects nothing
        other.prometheus["spec"]
            .as_object_mut()
            .unwrap()
            .remove("serviceMonitorSelector");
        assert!(find_etcd_service_monitor(&other).is_none());
    }

    #[test]
    fn the_seed_plan_removes_the_selector_writes_endpoints_and_deletes_stale_slices() {
        let obs = seed();
        let w = wanted();
        let (sm, idx) = find_etcd_service_monitor(&obs).unwrap();
        let plan = plan_endpoints(&obs, &w, sm, idx).unwrap();
        let kinds: Vec<(&str, &str)> = plan
            .changes
            .iter()
            .map(|c| {
                (
                    c.object.kind.as_str(),
                    match c.op {
                        Op::Create => "create",
                        Op::MergePatch { .. } | Op::Restart { .. } => "patch",
                        Op::Delete { .. } => "delete",
                    },
                )
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("Service", "patch"),
                ("Endpoints", "patch"),
                ("EndpointSlice", "delete")
            ]
        );
        let Op::MergePatch { patch } = &plan.changes[0].op else {
            unreachable!()
        };
        assert_eq!(patch["spec"]["selector"], Value::Null);
        assert_eq!(patch["metadata"]["resourceVersion"], "12");
        assert_eq!(plan.changes[0].helm.as_ref().unwrap().name, "prom");
        let after = plan.changes[1].after.as_ref().unwrap();
        assert_eq!(
            after["subsets"][0]["addresses"].as_array().unwrap().len(),
            3
        );
        assert_eq!(after["subsets"][0]["ports"][0]["name"], "http-metrics");
    }

    /// kubeadm's stacked etcd: the endpoints controller already lists the etcd pods.
    fn stacked() -> Observed {
        let mut obs = seed();
        obs.services[0]["spec"]["ports"] =
            json!([{"name": "http-metrics", "port": 2381, "protocol": "TCP", "targetPort": 2381}]);
        let addresses: Vec<Value> = wanted()
            .ips
            .iter()
            .enumerate()
            .map(|(i, ip)| {
                json!({"ip": ip, "nodeName": format!("node{}", i + 1),
                       "targetRef": {"kind": "Pod", "namespace": "kube-system", "name": format!("etcd-node{}", i + 1)}})
            })
            .collect();
        obs.endpoints[0]["subsets"] = json!([{"addresses": addresses,
            "ports": [{"name": "http-metrics", "port": 2381, "protocol": "TCP"}]}]);
        obs
    }

    #[test]
    fn a_selector_that_finds_the_etcd_pods_stays_and_only_the_port_moves() {
        let obs = stacked();
        let w = wanted();
        let (sm, idx) = find_etcd_service_monitor(&obs).unwrap();
        let plan = plan_endpoints(&obs, &w, sm, idx).unwrap();
        assert_eq!(plan.changes.len(), 1, "{:#?}", plan.changes);
        let c = &plan.changes[0];
        assert_eq!(c.object.kind, "Service");
        let after = c.after.as_ref().unwrap();
        assert_eq!(after["spec"]["selector"], json!({"component": "etcd"}));
        assert_eq!(after["spec"]["ports"][0]["port"], 2379);
        assert_eq!(after["spec"]["ports"][0]["targetPort"], 2379);
        assert!(
            plan.notes.iter().any(|n| n.contains("its selector stays")),
            "{:?}",
            plan.notes
        );
        // Pods at other addresses than the members (an --endpoints elsewhere): the old way.
        let mut elsewhere = wanted();
        elsewhere.ips = vec!["192.168.9.1".into()];
        let plan = plan_endpoints(&obs, &elsewhere, sm, idx).unwrap();
        let after = plan.changes[0].after.as_ref().unwrap();
        assert!(after["spec"].get("selector").is_none(), "{after}");
        // Addresses without a Pod behind them (hand-written) are not the controller's finding.
        let mut hand = stacked();
        hand.endpoints[0]["subsets"][0]["addresses"] = json!(
            wanted()
                .ips
                .iter()
                .map(|ip| json!({"ip": ip}))
                .collect::<Vec<_>>()
        );
        let plan = plan_endpoints(&hand, &w, sm, idx).unwrap();
        assert!(
            plan.changes[0].after.as_ref().unwrap()["spec"]
                .get("selector")
                .is_none()
        );
    }

    #[test]
    fn an_applications_etcd_is_not_the_control_planes_and_a_tie_is_refused() {
        // An application's etcd in its own namespace, with its own Service: never chosen, even
        // with a higher score than the chart's.
        let mut obs = seed();
        let app_sm = json!({
            "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "orders-etcd", "namespace": "orders",
                         "labels": {"app": "orders-etcd", "release": "prom", "component": "etcd"}},
            "spec": {"selector": {"matchLabels": {"app": "orders-etcd"}}, "jobLabel": "etcd",
                     "endpoints": [{"port": "metrics"}]}});
        obs.service_monitors.insert(0, app_sm.clone());
        obs.services.push(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "orders-etcd", "namespace": "orders", "labels": {"app": "orders-etcd"}},
            "spec": {"selector": {"app": "orders-etcd"}, "ports": [{"name": "metrics", "port": 2379}]}}));
        let (sm, _) = find_etcd_service_monitor(&obs).unwrap();
        assert_eq!(name(sm), "prom-prometheus-operator-kube-etcd");
        assert!(etcd_service_monitor_tie(&obs).is_none());
        // Two that could both be the control plane's, with the same score: refused, both named.
        let mut twin = obs.service_monitors[1].clone();
        twin["metadata"]["name"] = json!("kube-etcd-copy");
        obs.service_monitors.push(twin);
        assert!(find_etcd_service_monitor(&obs).is_none());
        assert_eq!(
            etcd_service_monitor_tie(&obs).unwrap(),
            [
                "monitoring/prom-prometheus-operator-kube-etcd",
                "monitoring/kube-etcd-copy"
            ]
        );
        // The user's choice settles it.
        obs.service_monitor_choice = Some("monitoring/kube-etcd-copy".into());
        let (sm, _) = find_etcd_service_monitor(&obs).unwrap();
        assert_eq!(name(sm), "kube-etcd-copy");
        // A Service this plugin made outside kube-system keeps its ServiceMonitor a candidate.
        let mut own = seed();
        own.prometheus["spec"]["ignoreNamespaceSelectors"] = json!(true);
        own.services = vec![json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "prom-prometheus-operator-kube-etcd", "namespace": "monitoring",
                         "labels": {"app": "prometheus-operator-kube-etcd", "release": "prom", MANAGED_BY: PLUGIN}},
            "spec": {"ports": [{"name": "http-metrics", "port": 2379}]}})];
        assert!(find_etcd_service_monitor(&own).is_some());
    }

    #[test]
    fn secret_and_spec_secrets_then_nothing_on_a_fixed_cluster() {
        let mut obs = seed();
        let w = wanted();
        let plan = plan_secret(&obs, &w, TlsMode::Files, &["monitoring".into()]);
        assert_eq!(plan.changes.len(), 2);
        let secret = plan.changes[0].after.clone().unwrap();
        assert_eq!(secret["data"]["etcd-ca"], "Q0E=");
        let prom_after = plan.changes[1].after.clone().unwrap();
        assert_eq!(prom_after["spec"]["secrets"], json!(["etcd-client-cert"]));
        // apply the plan to the observation: the next plan is empty (idempotent)
        obs.secrets.push(secret);
        obs.prometheus = prom_after;
        assert!(plan_secret(&obs, &w, TlsMode::Files, &["monitoring".into()]).is_empty());
    }

    #[test]
    fn service_monitor_tls_files_and_secret_refs() {
        let obs = seed();
        let w = wanted();
        let found = find_etcd_service_monitor(&obs);
        let plan = plan_servicemonitor(&obs, &w, TlsMode::Files, found).unwrap();
        let ep = &plan.changes[0].after.as_ref().unwrap()["spec"]["endpoints"][0];
        assert_eq!(ep["scheme"], "https");
        assert_eq!(
            ep["tlsConfig"]["keyFile"],
            "/etc/prometheus/secrets/etcd-client-cert/etcd-client-key"
        );
        assert_eq!(
            ep["bearerTokenFile"],
            "/var/run/secrets/kubernetes.io/serviceaccount/token"
        );
        let mut denied = seed();
        denied.prometheus["spec"]["arbitraryFSAccessThroughSMs"] = json!({"deny": true});
        let (mode, note) = tls_mode(&denied.prometheus, &w);
        assert_eq!(mode, TlsMode::SecretRefs);
        assert!(note.unwrap().contains("arbitraryFSAccessThroughSMs"));
        let t = tls_config(&w, mode);
        assert_eq!(
            t["keySecret"],
            json!({"name": "etcd-client-cert", "key": "etcd-client-key"})
        );
    }

    #[test]
    fn missing_service_monitor_is_created_with_labels_the_prometheus_selects() {
        let mut obs = seed();
        obs.service_monitors.clear();
        let w = wanted();
        let plan = plan_servicemonitor(&obs, &w, TlsMode::Files, None).unwrap();
        let sm = plan.changes[0].after.clone().unwrap();
        assert!(prometheus_selects(&obs.prometheus, &sm, &obs.namespaces));
    }

    #[test]
    fn pems_debug_never_shows_the_key() {
        let p = Pems {
            ca: b"a".to_vec(),
            cert: b"b".to_vec(),
            key: b"-----BEGIN PRIVATE KEY-----".to_vec(),
        };
        assert!(!format!("{p:?}").contains("BEGIN"));
    }

    #[test]
    fn a_working_etcd_scrape_is_left_alone_unless_asked() {
        let change = |kind: &str, plural: &str| Change {
            object: ObjectRef::of("v1", kind, plural, Some("kube-system"), "etcd"),
            before: Some(json!({})),
            after: Some(json!({})),
            op: Op::MergePatch { patch: json!({}) },
            reason: "r".into(),
            helm: None,
        };
        let plan = Plan {
            changes: vec![
                change("Secret", "secrets"),
                change("Service", "services"),
                change("ServiceMonitor", "servicemonitors"),
            ],
            notes: vec!["n".into()],
            not_fixed: vec![],
        };
        let up = vec![
            ("http://10.0.0.1:2381/metrics".to_string(), "up".to_string()),
            ("http://10.0.0.2:2381/metrics".to_string(), "up".to_string()),
        ];
        let (held, was) = hold_working_scrape(plan.clone(), &up, false);
        assert!(was && held.changes.is_empty(), "{held:?}");
        let note = held.notes.last().unwrap();
        assert!(
            note.contains("all 2 target(s) are up")
                && note.contains("http://10.0.0.1:2381/metrics")
                && note.contains("patch Service kube-system/etcd")
                && note.contains(REPLACE_WORKING_SCRAPE),
            "{note}"
        );
        assert_eq!(held.notes[0], "n");
        // Asked for, a target down, no target at all, or only the Secret (a key rotation):
        // the plan runs as it is.
        assert_eq!(
            hold_working_scrape(plan.clone(), &up, true),
            (plan.clone(), false)
        );
        let mut down = up.clone();
        down[1].1 = "down".into();
        assert_eq!(
            hold_working_scrape(plan.clone(), &down, false),
            (plan.clone(), false)
        );
        assert_eq!(
            hold_working_scrape(plan.clone(), &[], false),
            (plan.clone(), false)
        );
        let rotation = Plan {
            changes: vec![change("Secret", "secrets")],
            notes: vec![],
            not_fixed: vec![],
        };
        assert_eq!(
            hold_working_scrape(rotation.clone(), &up, false),
            (rotation, false)
        );
    }

    /// The seed with its objects as a Helm 3.2+ release stamps them (annotations), and a
    /// Prometheus that already mounts another Secret.
    fn seed_helm() -> Observed {
        let mut o = seed();
        let ann = json!({"meta.helm.sh/release-name": "prom", "meta.helm.sh/release-namespace": "monitoring"});
        o.prometheus["metadata"]["annotations"] = ann.clone();
        o.prometheus["spec"]["secrets"] = json!(["other-secret"]);
        o.service_monitors[0]["metadata"]["annotations"] = ann.clone();
        o.services[0]["metadata"]["annotations"] = ann;
        o
    }

    /// The whole plan of the seed's fix (secret, endpoints, servicemonitor).
    fn whole_plan(obs: &Observed, w: &Wanted, mode: TlsMode) -> Plan {
        let (sm, idx) = find_etcd_service_monitor(obs).unwrap();
        let mut plan = plan_secret(obs, w, mode, &["monitoring".into()]);
        plan.extend(plan_endpoints(obs, w, sm, idx).unwrap());
        plan.extend(plan_servicemonitor(obs, w, mode, Some((sm, idx))).unwrap());
        plan
    }

    #[test]
    fn helm_values_list_every_secret_of_the_prometheus() {
        let obs = seed_helm();
        let w = wanted();
        let plan = whole_plan(&obs, &w, TlsMode::Files);
        let hv = helm_values(&w, TlsMode::Files, &obs, &plan);
        // Helm replaces lists: the values carry the Prometheus' whole list, not the new one.
        assert_eq!(
            hv.values["prometheus"]["prometheusSpec"]["secrets"],
            json!(["other-secret", "etcd-client-cert"])
        );
        let sm = &hv.values["kubeEtcd"]["serviceMonitor"];
        assert_eq!(sm["scheme"], "https");
        assert_eq!(
            sm["caFile"],
            "/etc/prometheus/secrets/etcd-client-cert/etcd-ca"
        );
        assert_eq!(sm["insecureSkipVerify"], false);
        assert_eq!(sm["serverName"], "");
        assert_eq!(
            hv.values["kubeEtcd"]["endpoints"],
            json!(["192.168.2.11", "192.168.2.12", "192.168.2.13"])
        );
        assert_eq!(hv.values["kubeEtcd"]["service"]["port"], 2379);
        assert!(hv.notes.is_empty(), "{:?}", hv.notes);
        // No list at all before: the etcd Secret alone.
        let mut bare = seed_helm();
        bare.prometheus["spec"]
            .as_object_mut()
            .unwrap()
            .remove("secrets");
        let plan = whole_plan(&bare, &w, TlsMode::Files);
        let hv = helm_values(&w, TlsMode::Files, &bare, &plan);
        assert_eq!(
            hv.values["prometheus"]["prometheusSpec"]["secrets"],
            json!(["etcd-client-cert"])
        );
    }

    #[test]
    fn helm_values_of_secret_references_are_files_with_a_note() {
        let obs = seed_helm();
        let w = wanted();
        let plan = whole_plan(&obs, &w, TlsMode::SecretRefs);
        // The live fix uses the operator's references and does not mount the Secret...
        assert!(!plan.changes.iter().any(|c| c.object.kind == "Prometheus"));
        let hv = helm_values(&w, TlsMode::SecretRefs, &obs, &plan);
        // ...the chart can only render files: the values mount it and point at the files.
        let sm = &hv.values["kubeEtcd"]["serviceMonitor"];
        assert_eq!(
            sm["keyFile"],
            "/etc/prometheus/secrets/etcd-client-cert/etcd-client-key"
        );
        assert!(sm.get("keySecret").is_none(), "{sm}");
        assert_eq!(
            hv.values["prometheus"]["prometheusSpec"]["secrets"],
            json!(["other-secret", "etcd-client-cert"])
        );
        assert_eq!(hv.notes.len(), 1, "{:?}", hv.notes);
        assert!(
            hv.notes[0].contains("cannot render Secret references")
                && hv.notes[0].contains("as files instead"),
            "{}",
            hv.notes[0]
        );
        // A Prometheus that denies file paths: the values cannot carry TLS at all, and say so.
        let mut deny = seed_helm();
        deny.prometheus["spec"]["arbitraryFSAccessThroughSMs"] = json!({"deny": true});
        let plan = whole_plan(&deny, &w, TlsMode::SecretRefs);
        let hv = helm_values(&w, TlsMode::SecretRefs, &deny, &plan);
        let sm = &hv.values["kubeEtcd"]["serviceMonitor"];
        assert!(sm.get("caFile").is_none(), "{sm}");
        assert_eq!(
            hv.values["prometheus"]["prometheusSpec"]["secrets"],
            json!(["other-secret"])
        );
        assert!(
            hv.notes[0].contains("cannot carry the TLS settings"),
            "{:?}",
            hv.notes
        );
    }

    #[test]
    fn helm_values_set_endpoints_only_where_the_selector_goes() {
        let obs = seed_helm();
        let w = wanted();
        // The seed's selector finds no pod: it goes, so the chart must render the Endpoints.
        let plan = whole_plan(&obs, &w, TlsMode::Files);
        let hv = helm_values(&w, TlsMode::Files, &obs, &plan);
        assert!(hv.values["kubeEtcd"]["endpoints"].is_array());
        // kubeadm: the selector finds the etcd pods and stays; endpoints in the values would
        // make the chart drop it and render Endpoints over the controller's.
        let mut kubeadm = seed_helm();
        kubeadm.endpoints[0]["subsets"] = json!([{"addresses": [
            {"ip": "192.168.2.11", "targetRef": {"kind": "Pod", "name": "etcd-node1"}},
            {"ip": "192.168.2.12", "targetRef": {"kind": "Pod", "name": "etcd-node2"}},
            {"ip": "192.168.2.13", "targetRef": {"kind": "Pod", "name": "etcd-node3"}}]}]);
        let plan = whole_plan(&kubeadm, &w, TlsMode::Files);
        let hv = helm_values(&w, TlsMode::Files, &kubeadm, &plan);
        assert!(
            hv.values["kubeEtcd"].get("endpoints").is_none(),
            "{}",
            hv.values
        );
        assert_eq!(hv.values["kubeEtcd"]["service"]["targetPort"], 2379);
    }

    #[test]
    fn helm_values_of_an_empty_plan_are_those_of_the_fix_in_place() {
        let obs = seed_helm();
        let w = wanted();
        let plan = whole_plan(&obs, &w, TlsMode::Files);
        let want = helm_values(&w, TlsMode::Files, &obs, &plan);
        // The cluster as the plan leaves it, read again: nothing to change, the same values.
        let mut fixed = obs.clone();
        fixed.prometheus = after_plan(&plan, &obs.prometheus).clone();
        fixed.services[0] = after_plan(&plan, &obs.services[0]).clone();
        fixed.service_monitors[0] = after_plan(&plan, &obs.service_monitors[0]).clone();
        let ep = plan
            .changes
            .iter()
            .find(|c| c.object.kind == "Endpoints")
            .unwrap();
        fixed.endpoints[0] = ep.after.clone().unwrap();
        fixed.endpoint_slices.clear();
        fixed.secrets = plan
            .changes
            .iter()
            .filter(|c| c.object.kind == "Secret")
            .filter_map(|c| c.after.clone())
            .collect();
        let again = whole_plan(&fixed, &w, TlsMode::Files);
        assert!(again.is_empty(), "{:#?}", again.changes);
        assert_eq!(helm_values(&w, TlsMode::Files, &fixed, &again), want);
    }

    #[test]
    fn the_endpoints_get_the_releases_ownership_metadata() {
        let obs = seed_helm();
        let w = wanted();
        let (sm, idx) = find_etcd_service_monitor(&obs).unwrap();
        let plan = plan_endpoints(&obs, &w, sm, idx).unwrap();
        let ep = plan
            .changes
            .iter()
            .find(|c| c.object.kind == "Endpoints")
            .unwrap();
        let meta = &ep.after.as_ref().unwrap()["metadata"];
        assert_eq!(meta["annotations"]["meta.helm.sh/release-name"], "prom");
        assert_eq!(
            meta["annotations"]["meta.helm.sh/release-namespace"],
            "monitoring"
        );
        assert_eq!(meta["labels"][MANAGED_BY], "Helm");
        // Members already right but no ownership: still a change, for the metadata alone.
        let mut listed = obs.clone();
        let mut cur = ep.after.clone().unwrap();
        cur["metadata"] =
            json!({"name": name(&cur), "namespace": "kube-system", "resourceVersion": "20"});
        listed.endpoints[0] = cur;
        let plan = plan_endpoints(&listed, &w, sm, idx).unwrap();
        let c = plan
            .changes
            .iter()
            .find(|c| c.object.kind == "Endpoints")
            .expect("an ownership change");
        assert!(c.reason.contains("ownership"), "{}", c.reason);
        // A release known by its labels only (heritage: Helm, release: prom, as on the seed):
        // the namespace of the same release's Prometheus.
        let labels_only = seed();
        let (sm, idx) = find_etcd_service_monitor(&labels_only).unwrap();
        let plan = plan_endpoints(&labels_only, &w, sm, idx).unwrap();
        let ep = plan
            .changes
            .iter()
            .find(|c| c.object.kind == "Endpoints")
            .unwrap();
        let meta = &ep.after.as_ref().unwrap()["metadata"];
        assert_eq!(
            meta["annotations"]["meta.helm.sh/release-namespace"],
            "monitoring"
        );
        // No Helm at all: no Helm metadata.
        let mut plain = seed();
        for o in [&mut plain.prometheus, &mut plain.services[0]] {
            o["metadata"]["labels"] = json!({"app": "etcd"});
        }
        let plan = plan_endpoints(&plain, &w, sm, idx).unwrap();
        let ep = plan
            .changes
            .iter()
            .find(|c| c.object.kind == "Endpoints")
            .unwrap();
        assert!(
            ep.after.as_ref().unwrap()["metadata"]
                .get("annotations")
                .is_none()
        );
    }

    #[test]
    fn a_charts_insecure_skip_verify_false_is_kept() {
        let mut obs = seed_helm();
        let w = wanted();
        let (sm, idx) = find_etcd_service_monitor(&obs).unwrap();
        let plan = plan_servicemonitor(&obs, &w, TlsMode::Files, Some((sm, idx))).unwrap();
        let mut after = plan.changes[0].after.clone().unwrap();
        // Helm manages it: written as the chart renders it (with https, always).
        assert_eq!(
            after["spec"]["endpoints"][0]["tlsConfig"]["insecureSkipVerify"],
            false
        );
        // Not Helm's, but a chart's rendering is there already: kept.
        let mut plain = seed();
        plain.service_monitors[0]["metadata"]["labels"] = json!({"app": "etcd", "release": "prom"});
        let (psm, pidx) = find_etcd_service_monitor(&plain).unwrap();
        let pplan = plan_servicemonitor(&plain, &w, TlsMode::Files, Some((psm, pidx))).unwrap();
        let mut pafter = pplan.changes[0].after.clone().unwrap();
        assert!(
            pafter["spec"]["endpoints"][0]["tlsConfig"]
                .get("insecureSkipVerify")
                .is_none()
        );
        pafter["spec"]["endpoints"][0]["tlsConfig"]["insecureSkipVerify"] = json!(false);
        plain.service_monitors[0] = pafter;
        let (psm, pidx) = find_etcd_service_monitor(&plain).unwrap();
        assert!(
            plan_servicemonitor(&plain, &w, TlsMode::Files, Some((psm, pidx)))
                .unwrap()
                .is_empty()
        );
        after["spec"]["endpoints"][0]["tlsConfig"]["insecureSkipVerify"] = json!(false);
        obs.service_monitors[0] = after;
        let (sm, idx) = find_etcd_service_monitor(&obs).unwrap();
        let plan = plan_servicemonitor(&obs, &w, TlsMode::Files, Some((sm, idx))).unwrap();
        assert!(plan.is_empty(), "{:#?}", plan.changes);
    }
}
