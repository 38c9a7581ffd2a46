//! The control-plane fix, as pure functions: kube-scheduler and kube-controller-manager serve
//! metrics only on their secure ports (10259 / 10257, HTTPS, delegated authentication and
//! authorization); the insecure ports 10251 / 10252 were disabled by default in 1.19/1.20 and
//! removed in 1.23 (`--port` is gone). ServiceMonitors and Services still pointing at the old
//! ports get `connection refused`.
//!
//! Cluster side (planned, applied by the shared executor):
//! - each endpoint of the scheduler / controller-manager ServiceMonitors gets `scheme: https`,
//!   `bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token` (unless it already
//!   authenticates some other way) and `tlsConfig` (`insecureSkipVerify: true`: the components
//!   serve a self-signed certificate unless given `--tls-cert-file`; or `caFile` when given);
//! - the Services' ports the endpoints name move to the secure port (port and targetPort; the
//!   port names stay, the ServiceMonitors refer to them), and so do hand-written Endpoints of
//!   selector-free Services (kube-prometheus-stack `kubeScheduler.endpoints`).
//!
//! The monitors are recognised as the etcd fix does it, by what they select rather than by
//! their names: kube-prometheus-stack `<fullname>-kube-scheduler` (selector `app:
//! kube-prometheus-stack-kube-scheduler`, Service label `jobLabel: kube-scheduler`, port
//! `http-metrics`), kube-prometheus `kube-scheduler` (selector `app.kubernetes.io/name:
//! kube-scheduler`, port `https-metrics`), stable/prometheus-operator (`component:
//! kube-scheduler`), or a Service selecting the component's mirror pods.
//!
//! Node side (printed, never done): where a mirror pod shows `--bind-address=127.0.0.1`
//! (kubeadm's manifests), the line to change in `/etc/kubernetes/manifests/<component>.yaml`.
//! `--port=0` stays: the insecure port is what this fix moves away from (the seed re-enabled it
//! with `--port=10251`; that works only before 1.23 and serves metrics to anyone).

use crate::plan::{Change, ObjectRef, Op, Plan, guarded_merge_patch, helm_release};
use crate::selector;
use serde_json::{Value, json};

pub const TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// A control-plane component with metrics on a secure port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    pub name: &'static str,
    pub secure_port: u16,
    pub insecure_port: u16,
    /// The Helm values key of kube-prometheus-stack.
    pub values_key: &'static str,
}

pub const COMPONENTS: [Component; 2] = [
    Component {
        name: "kube-scheduler",
        secure_port: 10259,
        insecure_port: 10251,
        values_key: "kubeScheduler",
    },
    Component {
        name: "kube-controller-manager",
        secure_port: 10257,
        insecure_port: 10252,
        values_key: "kubeControllerManager",
    },
];

/// What the fix reads: every ServiceMonitor, the Services and Endpoints of the namespaces they
/// select, and kube-system's control-plane pods.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub service_monitors: Vec<Value>,
    pub services: Vec<Value>,
    pub endpoints: Vec<Value>,
    pub pods: Vec<Value>,
}

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    /// Verify the serving certificates with this CA file (path inside the Prometheus pods).
    pub ca_file: Option<String>,
}

/// A line to change on a node, by hand.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeEdit {
    pub node: String,
    pub component: String,
    pub file: String,
    pub old_line: String,
    pub new_line: String,
    pub why: String,
}

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

fn ns(o: &Value) -> &str {
    o["metadata"]["namespace"].as_str().unwrap_or("")
}

fn names_component(v: &str, c: &Component) -> bool {
    v == c.name || v.ends_with(&format!("-{}", c.name))
}

/// The command line of a pod's first container.
fn args(pod: &Value) -> Vec<String> {
    crate::json::command_line(&pod["spec"]["containers"][0])
}

fn flag<'a>(args: &'a [String], f: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|a| a.strip_prefix(f).and_then(|r| r.strip_prefix('=')))
}

/// The component's mirror pods (kubeadm: label `component: <name>`).
pub fn pods_of<'a>(obs: &'a Observed, c: &Component) -> Vec<&'a Value> {
    obs.pods
        .iter()
        .filter(|p| p["metadata"]["labels"]["component"] == c.name)
        .collect()
}

/// The secure port the component really uses (`--secure-port` of its pods, else the default).
pub fn secure_port(obs: &Observed, c: &Component) -> u16 {
    pods_of(obs, c)
        .iter()
        .find_map(|p| flag(&args(p), "--secure-port").and_then(|v| v.parse().ok()))
        .filter(|p| *p != 0)
        .unwrap_or(c.secure_port)
}

/// The Services a ServiceMonitor selects.
fn services_of<'a>(obs: &'a Observed, sm: &Value) -> Vec<&'a Value> {
    let sel = &sm["spec"]["selector"];
    obs.services
        .iter()
        .filter(|s| {
            selector::sm_namespace_selected(sm["spec"].get("namespaceSelector"), ns(sm), ns(s))
                && selector::matches(sel, &s["metadata"]["labels"])
        })
        .collect()
}

/// Whether a ServiceMonitor is the component's: its name or selector names the component, or
/// a Service it selects carries `jobLabel: <component>` or selects the component's pods.
pub fn is_component_monitor(obs: &Observed, sm: &Value, c: &Component) -> bool {
    if names_component(name(sm), c) {
        return true;
    }
    let by_selector = sm["spec"]["selector"]["matchLabels"]
        .as_object()
        .is_some_and(|m| {
            m.values()
                .any(|v| v.as_str().is_some_and(|v| names_component(v, c)))
        });
    by_selector
        || services_of(obs, sm).iter().any(|s| {
            s["metadata"]["labels"]["jobLabel"] == c.name
                || s["spec"]["selector"]["component"] == c.name
        })
}

/// The ServiceMonitors of a component.
pub fn monitors<'a>(obs: &'a Observed, c: &Component) -> Vec<&'a Value> {
    obs.service_monitors
        .iter()
        .filter(|sm| is_component_monitor(obs, sm, c))
        .collect()
}

/// An endpoint as it should be for a secure port.
fn secure_endpoint(ep: &Value, w: &Wanted) -> Value {
    let mut e = ep.clone();
    e["scheme"] = json!("https");
    let authenticates = [
        "bearerTokenFile",
        "bearerTokenSecret",
        "authorization",
        "oauth2",
        "basicAuth",
    ]
    .iter()
    .any(|k| !ep[k].is_null());
    if !authenticates {
        e["bearerTokenFile"] = json!(TOKEN_FILE);
    }
    let t = &ep["tlsConfig"];
    match &w.ca_file {
        Some(ca) => {
            e["tlsConfig"]["caFile"] = json!(ca);
            if let Some(m) = e["tlsConfig"].as_object_mut() {
                m.remove("insecureSkipVerify");
            }
        }
        None => {
            let verifies = !t["caFile"].is_null() || !t["ca"].is_null();
            if !verifies && t["insecureSkipVerify"] != true {
                e["tlsConfig"]["insecureSkipVerify"] = json!(true);
            }
        }
    }
    e
}

fn port_num(v: &Value) -> Option<u16> {
    v.as_u64().and_then(|n| u16::try_from(n).ok())
}

/// The plan for both components, and the node-side edits to print.
pub fn plan(obs: &Observed, w: &Wanted) -> (Plan, Vec<NodeEdit>) {
    let mut plan = Plan::default();
    let mut edits = Vec::new();
    for c in &COMPONENTS {
        let port = secure_port(obs, c);
        let sms = monitors(obs, c);
        if sms.is_empty() {
            plan.not_fixed.push(format!(
                "{} is not monitored: no ServiceMonitor scrapes it. This command repairs the scrapes that exist and creates none (the Service, labels and job name belong to the chart that owns the alert rules); kube-prometheus-stack: {}.enabled=true and `helm upgrade`; kube-prometheus: apply its {} ServiceMonitor",
                c.name, c.values_key, c.name
            ));
        }
        for sm in sms {
            plan_monitor(obs, w, c, sm, port, &mut plan);
        }
        node_side(obs, c, port, &mut plan, &mut edits);
    }
    (plan, edits)
}

/// A ServiceMonitor of the component: its endpoints on the secure port over HTTPS, and the
/// Services (and their hand-written Endpoints) it selects on that port.
fn plan_monitor(obs: &Observed, w: &Wanted, c: &Component, sm: &Value, port: u16, plan: &mut Plan) {
    let svcs = services_of(obs, sm);
    if svcs.is_empty() {
        plan.not_fixed.push(no_service_note(c, sm, port));
    }
    let Some(eps) = sm["spec"]["endpoints"].as_array() else {
        return;
    };
    let (new_eps, port_names) = secure_endpoints(eps, &svcs, w, port);
    let mut after = sm.clone();
    after["spec"]["endpoints"] = json!(new_eps);
    if let Some(patch) = guarded_merge_patch(sm, &after) {
        plan.changes.push(Change {
            object: ObjectRef::of(
                "monitoring.coreos.com/v1",
                "ServiceMonitor",
                "servicemonitors",
                Some(ns(sm)),
                name(sm),
            ),
            before: Some(sm.clone()),
            after: Some(after),
            op: Op::MergePatch { patch },
            reason: format!(
                "{} serves metrics over HTTPS with authentication on {port} only",
                c.name
            ),
            helm: helm_release(sm),
        });
    }
    for svc in svcs {
        let moved = plan_service(c, svc, &port_names, port, plan);
        plan_selector_free_endpoints(obs, c, svc, &moved, port, plan);
    }
}

/// What to do by hand when a ServiceMonitor selects no Service.
fn no_service_note(c: &Component, sm: &Value, port: u16) -> String {
    let labels = sm["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let pname = sm["spec"]["endpoints"][0]["port"]
        .as_str()
        .unwrap_or("https-metrics");
    format!(
        "ServiceMonitor {}/{} selects no Service (its targets are empty; kube-prometheus ships none): create one in kube-system labelled {{{labels}}} with selector {{component: {}}}, clusterIP None and port {pname:?} {port}",
        ns(sm),
        name(sm),
        c.name
    )
}

/// The endpoints with each one that scrapes the component (a port of its Services, or a
/// targetPort) made secure; the names of the Service ports they scrape.
fn secure_endpoints(
    eps: &[Value],
    svcs: &[&Value],
    w: &Wanted,
    port: u16,
) -> (Vec<Value>, Vec<String>) {
    let mut new_eps = eps.to_vec();
    let mut port_names: Vec<String> = Vec::new();
    for (i, ep) in eps.iter().enumerate() {
        let pname = ep["port"].as_str().unwrap_or("");
        let target_port = port_num(&ep["targetPort"]);
        // The Service port this endpoint scrapes.
        let on_svc = svcs.iter().any(|s| {
            s["spec"]["ports"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| !pname.is_empty() && p["name"] == pname))
        });
        if !on_svc && target_port.is_none() {
            continue;
        }
        let mut ne = secure_endpoint(ep, w);
        if target_port.is_some() {
            ne["targetPort"] = json!(port);
        }
        new_eps[i] = ne;
        if !pname.is_empty() {
            port_names.push(pname.to_string());
        }
    }
    (new_eps, port_names)
}

/// The Service's ports named in `port_names` on the secure port (a named targetPort, a
/// container port name, is left alone). Returns the ports moved.
fn plan_service(
    c: &Component,
    svc: &Value,
    port_names: &[String],
    port: u16,
    plan: &mut Plan,
) -> Vec<String> {
    let mut after = svc.clone();
    let mut moved = Vec::new();
    if let Some(ps) = after["spec"]["ports"].as_array_mut() {
        for p in ps.iter_mut() {
            let pn = p["name"].as_str().unwrap_or("").to_string();
            if !port_names.contains(&pn) {
                continue;
            }
            if port_num(&p["port"]) != Some(port) {
                p["port"] = json!(port);
            }
            if (p["targetPort"].is_number() || p["targetPort"].is_null())
                && port_num(&p["targetPort"]) != Some(port)
            {
                p["targetPort"] = json!(port);
            }
            moved.push(pn);
        }
    }
    if let Some(patch) = guarded_merge_patch(svc, &after) {
        plan.changes.push(Change {
            object: ObjectRef::of("v1", "Service", "services", Some(ns(svc)), name(svc)),
            before: Some(svc.clone()),
            after: Some(after),
            op: Op::MergePatch { patch },
            reason: format!(
                "port {} to {}'s secure port {port}",
                moved.join(", "),
                c.name
            ),
            helm: helm_release(svc),
        });
    }
    moved
}

/// The hand-written Endpoints of a selector-free Service: the moved ports on the secure port.
fn plan_selector_free_endpoints(
    obs: &Observed,
    c: &Component,
    svc: &Value,
    moved: &[String],
    port: u16,
    plan: &mut Plan,
) {
    let selector_free = svc["spec"]["selector"]
        .as_object()
        .is_none_or(|m| m.is_empty());
    if !selector_free {
        return;
    }
    let Some(ep) = obs
        .endpoints
        .iter()
        .find(|e| name(e) == name(svc) && ns(e) == ns(svc))
    else {
        return;
    };
    let mut after = ep.clone();
    for s in after["subsets"].as_array_mut().into_iter().flatten() {
        for p in s["ports"].as_array_mut().into_iter().flatten() {
            if p["name"]
                .as_str()
                .is_some_and(|n| moved.iter().any(|m| m == n))
            {
                p["port"] = json!(port);
            }
        }
    }
    if let Some(patch) = guarded_merge_patch(ep, &after) {
        plan.changes.push(Change {
            object: ObjectRef::of("v1", "Endpoints", "endpoints", Some(ns(ep)), name(ep)),
            before: Some(ep.clone()),
            after: Some(after),
            op: Op::MergePatch { patch },
            reason: format!(
                "the selector-free Service's addresses, on {}'s secure port {port}",
                c.name
            ),
            helm: None,
        });
    }
}

/// The node side: a loopback --bind-address (an edit to print; not this command's to make) and
/// an insecure --port still served.
fn node_side(obs: &Observed, c: &Component, port: u16, plan: &mut Plan, edits: &mut Vec<NodeEdit>) {
    for pod in pods_of(obs, c) {
        let a = args(pod);
        let node = pod["spec"]["nodeName"].as_str().unwrap_or("").to_string();
        let file = format!("/etc/kubernetes/manifests/{}.yaml", c.name);
        if let Some(b) = flag(&a, "--bind-address") {
            let loopback = b.starts_with("127.") || b == "localhost" || b == "::1";
            if loopback {
                // Not this command's to change: without this, a cluster side already on the
                // secure ports read "Nothing to change: the cluster is already as it should
                // be" above the very edit that is still needed.
                plan.not_fixed.push(format!(
                    "{} on {node} listens on {b}:{port} only (--bind-address={b}), so the node IP refuses: \
                     this command does not edit nodes; change {file} on the node as shown",
                    c.name
                ));
                edits.push(NodeEdit {
                    node: node.clone(),
                    component: c.name.into(),
                    file: file.clone(),
                    old_line: format!("    - --bind-address={b}"),
                    new_line: "    - --bind-address=0.0.0.0".into(),
                    why: format!(
                        "{} listens on {b}:{port} only; Prometheus scrapes the node IP",
                        c.name
                    ),
                });
            }
        }
        if let Some(p) = flag(&a, "--port")
            && p != "0"
        {
            plan.notes.push(format!(
                "{} on {node} serves the insecure port {p} (--port={p}): the ServiceMonitor now scrapes the secure port {port}; \
                 the insecure port is unauthenticated and gone in 1.23+, consider `--port=0`",
                c.name
            ));
        }
    }
}

/// The node-side edits as text.
pub fn render_edits(edits: &[NodeEdit]) -> String {
    if edits.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\nOn the control-plane nodes (not done by this tool; the kubelet restarts a static pod when its manifest changes):\n",
    );
    for e in edits {
        out.push_str(&format!(
            "  node {}: {}\n    why: {}\n    - {}\n    + {}\n",
            e.node,
            e.file,
            e.why,
            e.old_line.trim(),
            e.new_line.trim()
        ));
    }
    out.push_str(
        "  Keep `--port=0`: the secure port is what Prometheus now scrapes (re-enabling the insecure port, as the \
         seed did, works only before 1.23 and serves metrics without authentication).\n  Then allow the node IPs' \
         secure ports from Prometheus' pods (firewalls, security groups).\n",
    );
    out
}

/// The kube-prometheus-stack values that carry this change (for `--helm-values`). With
/// `--ca-file`, the chart verifies against the service account's CA (its template's fixed
/// `caFile`), not the given one.
pub fn helm_values(obs: &Observed, w: &Wanted) -> Value {
    let mut v = json!({});
    for c in &COMPONENTS {
        let port = secure_port(obs, c);
        // The chart's template (templates/exporters/kube-scheduler/servicemonitor.yaml) writes
        // `tlsConfig.caFile` = the service account's CA itself: another CA is not a value.
        let sm = json!({"https": true, "insecureSkipVerify": w.ca_file.is_none()});
        v[c.values_key] =
            json!({"service": {"port": port, "targetPort": port}, "serviceMonitor": sm});
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kps_labels(app: &str) -> Value {
        json!({"app": app, "release": "prometheus", "heritage": "Helm", "jobLabel": app.trim_start_matches("kube-prometheus-stack-")})
    }

    fn kps() -> Observed {
        let mut obs = Observed::default();
        for (c, old) in [
            ("kube-scheduler", 10251),
            ("kube-controller-manager", 10252),
        ] {
            let app = format!("kube-prometheus-stack-{c}");
            obs.services.push(json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": format!("prometheus-kube-prometheus-{c}"), "namespace": "kube-system", "resourceVersion": "3", "labels": kps_labels(&app)},
                "spec": {"clusterIP": "None", "ports": [{"name": "http-metrics", "port": old, "protocol": "TCP", "targetPort": old}], "selector": {"component": c}}}));
            obs.service_monitors.push(json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                "metadata": {"name": format!("prometheus-kube-prometheus-{c}"), "namespace": "monitoring", "resourceVersion": "4", "labels": {"app": app, "release": "prometheus"}},
                "spec": {"endpoints": [{"bearerTokenFile": TOKEN_FILE, "port": "http-metrics"}], "jobLabel": "jobLabel",
                         "namespaceSelector": {"matchNames": ["kube-system"]}, "selector": {"matchLabels": {"app": app, "release": "prometheus"}}}}));
            obs.pods.push(json!({"metadata": {"name": format!("{c}-node1"), "namespace": "kube-system", "labels": {"component": c}},
                "spec": {"nodeName": "node1", "containers": [{"name": c, "command": [c, "--bind-address=127.0.0.1", "--leader-elect=true"]}]}}));
        }
        // an unrelated monitor
        obs.service_monitors.push(json!({"metadata": {"name": "prometheus-kube-prometheus-kube-etcd", "namespace": "monitoring"},
            "spec": {"endpoints": [{"port": "http-metrics"}], "selector": {"matchLabels": {"app": "kube-prometheus-stack-kube-etcd"}}}}));
        obs
    }

    #[test]
    fn kube_prometheus_stack_moves_to_the_secure_ports() {
        let obs = kps();
        let (plan, edits) = plan(&obs, &Wanted::default());
        assert_eq!(plan.changes.len(), 4, "{:#?}", plan.changes);
        let sm = &plan.changes[0];
        assert_eq!(sm.object.name, "prometheus-kube-prometheus-kube-scheduler");
        let Op::MergePatch { patch } = &sm.op else {
            panic!()
        };
        assert_eq!(
            patch["spec"]["endpoints"],
            json!([{"bearerTokenFile": TOKEN_FILE, "port": "http-metrics", "scheme": "https", "tlsConfig": {"insecureSkipVerify": true}}])
        );
        assert_eq!(patch["metadata"]["resourceVersion"], "4");
        let Op::MergePatch { patch } = &plan.changes[1].op else {
            panic!()
        };
        assert_eq!(
            patch["spec"]["ports"],
            json!([{"name": "http-metrics", "port": 10259, "protocol": "TCP", "targetPort": 10259}])
        );
        let Op::MergePatch { patch } = &plan.changes[3].op else {
            panic!()
        };
        assert_eq!(patch["spec"]["ports"][0]["port"], 10257);
        assert_eq!(edits.len(), 2);
        assert_eq!(
            edits[0].file,
            "/etc/kubernetes/manifests/kube-scheduler.yaml"
        );
        assert_eq!(edits[0].old_line.trim(), "- --bind-address=127.0.0.1");
        assert_eq!(edits[0].new_line.trim(), "- --bind-address=0.0.0.0");
        assert!(render_edits(&edits).contains("--bind-address=0.0.0.0"));
    }

    #[test]
    fn applied_plan_plans_nothing() {
        let mut obs = kps();
        let (p, _) = plan(&obs, &Wanted::default());
        for c in p.changes {
            let after = c.after.unwrap();
            for list in [&mut obs.services, &mut obs.service_monitors] {
                for o in list.iter_mut() {
                    if name(o) == name(&after) && o["kind"] == after["kind"] {
                        *o = after.clone();
                    }
                }
            }
        }
        let (p, edits) = plan(&obs, &Wanted::default());
        assert!(p.is_empty());
        // The node side is still to do: the empty plan does not read as "all is well".
        assert_eq!(edits.len(), 2);
        assert_eq!(p.not_fixed.len(), 2, "{:?}", p.not_fixed);
        assert!(
            p.not_fixed[0].contains("kube-scheduler on node1 listens on 127.0.0.1:10259 only")
                && p.not_fixed[0].contains("/etc/kubernetes/manifests/kube-scheduler.yaml"),
            "{:?}",
            p.not_fixed
        );
        let shown = crate::output::plan_view::render(&p, false);
        assert!(
            shown.contains("Nothing this command can change")
                && !shown.contains("already as it should be"),
            "{shown}"
        );
        // Once the manifests are edited (the mirror pods bind 0.0.0.0), nothing is left.
        for pod in &mut obs.pods {
            let c = &mut pod["spec"]["containers"][0]["command"];
            *c = json!(
                c.as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().replace("127.0.0.1", "0.0.0.0"))
                    .collect::<Vec<_>>()
            );
        }
        let (p, edits) = plan(&obs, &Wanted::default());
        assert!(p.is_empty() && p.not_fixed.is_empty() && edits.is_empty());
    }

    #[test]
    fn kube_prometheus_https_metrics_ca_file_and_selector_free_endpoints() {
        let mut obs = Observed::default();
        obs.service_monitors.push(json!({"metadata": {"name": "kube-scheduler", "namespace": "monitoring", "resourceVersion": "1"},
            "spec": {"endpoints": [{"bearerTokenFile": TOKEN_FILE, "port": "https-metrics", "scheme": "https", "tlsConfig": {"insecureSkipVerify": true}}],
                     "jobLabel": "app.kubernetes.io/name", "namespaceSelector": {"matchNames": ["kube-system"]},
                     "selector": {"matchLabels": {"app.kubernetes.io/name": "kube-scheduler"}}}}));
        obs.services.push(json!({"metadata": {"name": "kube-scheduler-prometheus", "namespace": "kube-system", "resourceVersion": "2", "labels": {"app.kubernetes.io/name": "kube-scheduler"}},
            "spec": {"ports": [{"name": "https-metrics", "port": 10251, "targetPort": 10251}]}}));
        obs.endpoints.push(json!({"metadata": {"name": "kube-scheduler-prometheus", "namespace": "kube-system", "resourceVersion": "5"},
            "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"name": "https-metrics", "port": 10251}]}]}));
        let w = Wanted {
            ca_file: Some("/etc/prometheus/secrets/cp-ca/ca.crt".into()),
        };
        let (p, _) = plan(&obs, &w);
        let kinds: Vec<&str> = p.changes.iter().map(|c| c.object.kind.as_str()).collect();
        assert_eq!(kinds, ["ServiceMonitor", "Service", "Endpoints"]);
        let Op::MergePatch { patch } = &p.changes[0].op else {
            panic!()
        };
        assert_eq!(
            patch["spec"]["endpoints"][0]["tlsConfig"],
            json!({"caFile": "/etc/prometheus/secrets/cp-ca/ca.crt"})
        );
        let Op::MergePatch { patch } = &p.changes[2].op else {
            panic!()
        };
        assert_eq!(patch["subsets"][0]["ports"][0]["port"], 10259);
        // no Service: a note saying which one to create
        obs.services.clear();
        obs.endpoints.clear();
        let (p2, _) = plan(&obs, &w);
        assert!(p2.is_empty());
        let missing = p2
            .not_fixed
            .iter()
            .find(|n| n.contains("selects no Service"))
            .unwrap_or_else(|| panic!("{:?}", p2.not_fixed));
        assert!(
            missing.contains("app.kubernetes.io/name: kube-scheduler")
                && missing.contains("create one in kube-system labelled")
                && missing.contains("\"https-metrics\" 10259"),
            "{missing}"
        );
        // the controller-manager has no monitor: not monitored, and not fixed by this command
        assert!(
            p.not_fixed
                .iter()
                .any(|n| n.contains("kube-controller-manager is not monitored")
                    && n.contains("kubeControllerManager.enabled=true")),
            "{:?}",
            p.not_fixed
        );
        let shown = crate::output::plan_view::render(&p2, false);
        assert!(
            shown.contains("not fixed: ServiceMonitor")
                && shown.contains("Nothing this command can change")
                && !shown.contains("already as it should be"),
            "{shown}"
        );
    }

    #[test]
    fn helm_values_carry_the_change() {
        let v = helm_values(&kps(), &Wanted::default());
        assert_eq!(
            v["kubeScheduler"],
            json!({"service": {"port": 10259, "targetPort": 10259}, "serviceMonitor": {"https": true, "insecureSkipVerify": true}})
        );
        assert_eq!(v["kubeControllerManager"]["service"]["port"], 10257);
    }

    #[test]
    fn secure_port_from_the_pods_flags() {
        let mut obs = kps();
        obs.pods[0]["spec"]["containers"][0]["command"] =
            json!(["kube-scheduler", "--secure-port=11259", "--port=10251"]);
        assert_eq!(secure_port(&obs, &COMPONENTS[0]), 11259);
        let (p, edits) = plan(&obs, &Wanted::default());
        let Op::MergePatch { patch } = &p.changes[1].op else {
            panic!()
        };
        assert_eq!(patch["spec"]["ports"][0]["port"], 11259);
        assert_eq!(edits.len(), 1, "no --bind-address: the default 0.0.0.0");
        assert!(p.notes.iter().any(|n| n.contains("--port=10251")));
    }
}
