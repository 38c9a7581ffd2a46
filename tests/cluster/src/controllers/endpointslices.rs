//! The EndpointSlice controller (kubernetes `pkg/controller/endpointslice`, `syncService` and
//! `reconciler.go`) and the EndpointSlice mirroring controller
//! (`pkg/controller/endpointslicemirroring`).
//!
//! EndpointSlice controller, for Services WITH a selector: slices named by `generateName:
//! <svc>-` (a random 5-character suffix), labels = the Service's labels plus
//! `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by:
//! endpointslice-controller.k8s.io` (and `service.kubernetes.io/headless: ""` when headless),
//! annotation `endpoints.kubernetes.io/last-change-trigger-time`, a controller ownerReference
//! to the Service, `addressType: IPv4`, endpoints with `addresses`, `conditions` (ready,
//! serving, terminating), `nodeName`, `targetRef`, and `ports` (name, port, protocol). With no
//! matching pods one placeholder slice with `endpoints: null`. When the selector is removed
//! the controller returns early (`if service.Spec.Selector == nil { return nil }`): the slices
//! it made are LEFT BEHIND with their stale addresses (kubernetes/kubernetes#118376, closed PR
//! #120775 was not merged); the garbage collector removes them only with the Service.
//!
//! Mirroring controller, for Services WITHOUT a selector whose Endpoints exist: the Endpoints'
//! subsets mirrored into slices `generateName: <endpoints>-`, labels = the Endpoints' labels
//! with `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by:
//! endpointslicemirroring-controller.k8s.io` overwritten, annotations copied except
//! `last-change-trigger-time` and `kubectl.kubernetes.io/last-applied-configuration`, a
//! controller ownerReference to the Endpoints, `conditions: {ready}` only. Skipped (and mirrored
//! slices deleted): Endpoints labelled `endpointslice.kubernetes.io/skip-mirror: "true"`, with a
//! leader-election annotation, without a Service, or whose Service has a selector. Note that
//! stale controller-written Endpoints of a Service whose selector was removed ARE mirrored (the
//! issue's "new EndpointSlice mirror object"): the stale slice and the mirror then coexist.

use super::endpoints::{
    ANN_LEADER, ANN_TRIGGER_TIME, LABEL_HEADLESS, endpoint_port, find_port, pod_ref, selected_pods,
    should_pod_be_in_endpoints,
};
use super::{KCM, controller_ref, name_of, ns_of, owned_by, pod_ready, run_loop, service_selector};
use crate::cluster::Cluster;
use crate::store::{DeletePre, Store, WriteCtx, now_rfc3339};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `discovery.LabelServiceName`.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// `discovery.LabelManagedBy`.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// `discovery.LabelSkipMirror`.
pub const LABEL_SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
/// The EndpointSlice controller's `ControllerName`.
pub const SLICE_CONTROLLER: &str = "endpointslice-controller.k8s.io";
/// The mirroring controller's `ControllerName`.
pub const MIRROR_CONTROLLER: &str = "endpointslicemirroring-controller.k8s.io";

pub fn spawn(cluster: Arc<Cluster>) -> tokio::task::JoinHandle<()> {
    let store = cluster.store.clone();
    let watch = vec![
        "services".to_string(),
        "pods".into(),
        "endpointslices.discovery.k8s.io".into(),
    ];
    let s = store.clone();
    run_loop(store, watch, None, move |_| sync_all(&s))
}

pub fn spawn_mirroring(cluster: Arc<Cluster>) -> tokio::task::JoinHandle<()> {
    let store = cluster.store.clone();
    let watch = vec![
        "services".to_string(),
        "endpoints".into(),
        "endpointslices.discovery.k8s.io".into(),
    ];
    let s = store.clone();
    run_loop(store, watch, None, move |_| mirror_all(&s))
}

fn slices_with(store: &Store, ns: &str, service: &str, manager: &str) -> Vec<Arc<Value>> {
    let rt = store.rt("endpointslices");
    let (items, _) = store.list(&rt, Some(ns));
    items
        .into_iter()
        .filter(|s| {
            s["metadata"]["labels"][LABEL_SERVICE_NAME].as_str() == Some(service)
                && s["metadata"]["labels"][LABEL_MANAGED_BY].as_str() == Some(manager)
        })
        .collect()
}

/// Make the set of slices of one owner equal to `desired` (each a slice body without a name):
/// slices whose ports match are updated in place, the rest created by generateName, leftovers
/// deleted.
fn reconcile_slices(store: &Store, ns: &str, existing: Vec<Arc<Value>>, desired: Vec<Value>) {
    let rt = store.rt("endpointslices");
    let ctx = WriteCtx::update(KCM);
    let mut existing = existing;
    let mut unmatched = Vec::new();
    for d in desired {
        let pos = existing
            .iter()
            .position(|e| e["ports"] == d["ports"] && e["addressType"] == d["addressType"]);
        match pos {
            Some(i) => {
                let cur = existing.remove(i);
                write_slice(store, ns, &cur, d, &ctx);
            }
            None => unmatched.push(d),
        }
    }
    for d in unmatched {
        if existing.is_empty() {
            let _ = store.create(&rt, Some(ns), d, &ctx);
        } else {
            let cur = existing.remove(0);
            write_slice(store, ns, &cur, d, &ctx);
        }
    }
    for e in existing {
        let _ = store.delete(&rt, Some(ns), name_of(&e), &DeletePre::default());
    }
}

fn write_slice(store: &Store, ns: &str, cur: &Value, desired: Value, ctx: &WriteCtx) {
    let rt = store.rt("endpointslices");
    // (The slice controller keeps the trigger time of unchanged endpoints, so annotations only
    // differ when something changed.)
    let same = |a: &Value, b: &Value| {
        a["endpoints"] == b["endpoints"]
            && a["ports"] == b["ports"]
            && a["addressType"] == b["addressType"]
            && a["metadata"]["ownerReferences"] == b["metadata"]["ownerReferences"]
            && a["metadata"]["labels"] == b["metadata"]["labels"]
            && a["metadata"]["annotations"] == b["metadata"]["annotations"]
    };
    if same(cur, &desired) {
        return;
    }
    let mut next = cur.clone();
    next["endpoints"] = desired["endpoints"].clone();
    match desired.get("ports") {
        Some(p) => next["ports"] = p.clone(),
        None => {
            if let Some(o) = next.as_object_mut() {
                o.remove("ports");
            }
        }
    }
    next["addressType"] = desired["addressType"].clone();
    for f in ["labels", "annotations", "ownerReferences"] {
        next["metadata"][f] = desired["metadata"][f].clone();
    }
    if let Some(m) = next["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    let _ = store.update(&rt, Some(ns), name_of(cur), next, ctx);
}

fn slice_body(
    ns: &str,
    prefix: &str,
    labels: Map<String, Value>,
    annotations: Map<String, Value>,
    owner: &Value,
    ports: Option<Vec<Value>>,
    endpoints: Value,
) -> Value {
    let mut s = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": format!("{prefix}-"),
            "namespace": ns,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [controller_ref(owner)],
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
    });
    if let Some(p) = ports {
        s["ports"] = json!(p);
    }
    s
}

/// The EndpointSlice controller's `syncService` for every Service.
pub fn sync_all(store: &Store) {
    let svc_rt = store.rt("services");
    let (services, _) = store.list(&svc_rt, None);
    for svc in services {
        sync_service(store, &svc);
    }
}

pub fn sync_service(store: &Store, svc: &Value) {
    if service_selector(svc).is_none() {
        // `if service.Spec.Selector == nil { return nil }`: slices made earlier are left behind.
        return;
    }
    let Some(pods) = selected_pods(store, svc) else {
        return;
    };
    let ns = ns_of(svc);
    let name = name_of(svc);
    let svc_ports: Vec<Value> = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let publish = svc["spec"]["publishNotReadyAddresses"].as_bool() == Some(true);
    let mut groups: BTreeMap<String, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    for pod in &pods {
        if !should_pod_be_in_endpoints(pod, true) {
            continue;
        }
        let mut ports = Vec::new();
        for sp in &svc_ports {
            if let Some(n) = find_port(pod, sp) {
                let mut p = endpoint_port(sp, n);
                // EndpointSlice ports always carry a name, "" for an unnamed Service port.
                if p.get("name").is_none() {
                    p["name"] = json!("");
                }
                ports.push(p);
            }
        }
        let terminating = pod["metadata"].get("deletionTimestamp").is_some();
        let ready = (publish || pod_ready(pod)) && !terminating;
        let serving = publish || pod_ready(pod);
        let mut ep = Map::new();
        ep.insert("addresses".into(), json!([pod["status"]["podIP"]]));
        ep.insert(
            "conditions".into(),
            json!({"ready": ready, "serving": serving, "terminating": terminating}),
        );
        if let Some(h) = pod["spec"]["hostname"].as_str().filter(|h| !h.is_empty())
            && pod["spec"]["subdomain"].as_str() == Some(name)
        {
            ep.insert("hostname".into(), json!(h));
        }
        ep.insert("targetRef".into(), pod_ref(pod));
        if let Some(n) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            ep.insert("nodeName".into(), json!(n));
        }
        let key = serde_json::to_string(&ports).unwrap_or_default();
        groups
            .entry(key)
            .or_insert_with(|| (ports, vec![]))
            .1
            .push(Value::Object(ep));
    }
    let mut labels = Map::new();
    if let Some(l) = svc["metadata"]["labels"].as_object() {
        for (k, v) in l {
            if k != LABEL_SERVICE_NAME && k != LABEL_MANAGED_BY && k != LABEL_HEADLESS {
                labels.insert(k.clone(), v.clone());
            }
        }
    }
    labels.insert(LABEL_SERVICE_NAME.into(), json!(name));
    labels.insert(LABEL_MANAGED_BY.into(), json!(SLICE_CONTROLLER));
    if svc["spec"]["clusterIP"].as_str() == Some("None") {
        labels.insert(LABEL_HEADLESS.into(), json!(""));
    }
    let existing = slices_with(store, ns, name, SLICE_CONTROLLER);
    let mut desired = Vec::new();
    for (_, (ports, mut eps)) in groups {
        eps.sort_by(|a, b| a["addresses"][0].as_str().cmp(&b["addresses"][0].as_str()));
        desired.push((ports, eps));
    }
    // Keep the trigger-time annotation of an unchanged slice; a changed one gets "now".
    let annotations = |ports: &Value, eps: &Value| {
        let mut a = Map::new();
        let same = existing
            .iter()
            .find(|e| e["ports"] == *ports && e["endpoints"] == *eps);
        let t = same
            .and_then(|e| e["metadata"]["annotations"][ANN_TRIGGER_TIME].as_str())
            .map(str::to_string)
            .unwrap_or_else(now_rfc3339);
        a.insert(ANN_TRIGGER_TIME.into(), json!(t));
        a
    };
    let bodies: Vec<Value> = if desired.is_empty() {
        // The placeholder slice: no endpoints, no ports.
        let a = annotations(&Value::Null, &Value::Null);
        vec![slice_body(ns, name, labels, a, svc, None, Value::Null)]
    } else {
        desired
            .into_iter()
            .map(|(ports, eps)| {
                let p = json!(ports);
                let e = json!(eps);
                let a = annotations(&p, &e);
                slice_body(ns, name, labels.clone(), a, svc, Some(ports), e)
            })
            .collect()
    };
    reconcile_slices(store, ns, existing, bodies);
}

/// Whether the mirroring controller mirrors these Endpoints (`shouldMirror`).
pub fn should_mirror(ep: &Value) -> bool {
    ep["metadata"]["labels"][LABEL_SKIP_MIRROR].as_str() != Some("true")
        && ep["metadata"]["annotations"].get(ANN_LEADER).is_none()
}

/// The mirroring controller's `syncEndpoints` for every Endpoints (and cleanup of slices whose
/// Endpoints are gone).
pub fn mirror_all(store: &Store) {
    let ep_rt = store.rt("endpoints");
    let svc_rt = store.rt("services");
    let (eps, _) = store.list(&ep_rt, None);
    for ep in &eps {
        let ns = ns_of(ep);
        let name = name_of(ep);
        let existing = slices_with(store, ns, name, MIRROR_CONTROLLER);
        let svc = store.get(&svc_rt, Some(ns), name).ok();
        let mirror =
            should_mirror(ep) && svc.as_ref().is_some_and(|s| service_selector(s).is_none());
        if !mirror {
            reconcile_slices(store, ns, existing, vec![]);
            continue;
        }
        reconcile_slices(store, ns, existing, mirrored_slices(ep));
    }
    // Mirrored slices whose Endpoints are gone.
    let sl_rt = store.rt("endpointslices");
    let (slices, _) = store.list(&sl_rt, None);
    for s in slices {
        if s["metadata"]["labels"][LABEL_MANAGED_BY].as_str() != Some(MIRROR_CONTROLLER) {
            continue;
        }
        let svc_name = s["metadata"]["labels"][LABEL_SERVICE_NAME]
            .as_str()
            .unwrap_or("");
        let gone = match store.get(&ep_rt, Some(ns_of(&s)), svc_name) {
            Ok(ep) => !owned_by(&s, &ep) && !eps.iter().any(|e| owned_by(&s, e)),
            Err(_) => true,
        };
        if gone {
            let _ = store.delete(&sl_rt, Some(ns_of(&s)), name_of(&s), &DeletePre::default());
        }
    }
}

/// The slices the mirroring controller makes from one Endpoints.
pub fn mirrored_slices(ep: &Value) -> Vec<Value> {
    let ns = ns_of(ep);
    let name = name_of(ep);
    let mut labels = ep["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    labels.insert(LABEL_SERVICE_NAME.into(), json!(name));
    labels.insert(LABEL_MANAGED_BY.into(), json!(MIRROR_CONTROLLER));
    let mut annotations = ep["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    annotations.remove(ANN_TRIGGER_TIME);
    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    // (ports key) -> (ports, endpoints)
    let mut groups: BTreeMap<String, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    for subset in ep["subsets"].as_array().into_iter().flatten() {
        let ports: Vec<Value> = subset["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let mut o = json!({
                    "name": p["name"].as_str().unwrap_or(""),
                    "port": p["port"],
                    "protocol": p["protocol"].as_str().unwrap_or("TCP"),
                });
                if let Some(a) = p.get("appProtocol") {
                    o["appProtocol"] = a.clone();
                }
                o
            })
            .collect();
        let key = serde_json::to_string(&ports).unwrap_or_default();
        let g = groups.entry(key).or_insert_with(|| (ports, vec![]));
        for (field, ready) in [("addresses", true), ("notReadyAddresses", false)] {
            for a in subset[field].as_array().into_iter().flatten() {
                let Some(ip) = a["ip"].as_str() else { continue };
                let Ok(parsed) = ip.parse::<std::net::Ipv4Addr>() else {
                    continue; // IPv6 or garbage: this cluster only has IPv4 slices
                };
                let mut e = Map::new();
                e.insert("addresses".into(), json!([parsed.to_string()]));
                e.insert("conditions".into(), json!({"ready": ready}));
                if let Some(h) = a["hostname"].as_str().filter(|h| !h.is_empty()) {
                    e.insert("hostname".into(), json!(h));
                }
                if let Some(t) = a.get("targetRef") {
                    e.insert("targetRef".into(), t.clone());
                }
                if let Some(n) = a.get("nodeName") {
                    e.insert("nodeName".into(), n.clone());
                }
                g.1.push(Value::Object(e));
            }
        }
    }
    groups
        .into_values()
        .filter(|(_, eps)| !eps.is_empty())
        .map(|(ports, eps)| {
            slice_body(
                ns,
                name,
                labels.clone(),
                annotations.clone(),
                ep,
                Some(ports),
                json!(eps),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{cluster, put, wait_for};
    use super::*;

    fn slices(c: &Cluster, svc: &str, mgr: &str) -> Vec<Arc<Value>> {
        slices_with(&c.store, "kube-system", svc, mgr)
    }

    #[tokio::test]
    async fn slices_for_selector_and_left_behind_after_selector_removal() {
        let (c, _d) = cluster(222);
        let h = spawn(c.clone());
        let hm = spawn_mirroring(c.clone());
        let he = super::super::endpoints::spawn(c.clone());
        put(
            &c,
            "pods",
            json!({"metadata": {"name": "etcd-node1", "namespace": "kube-system", "labels": {"component": "etcd"}},
                   "spec": {"nodeName": "node1", "containers": [{"name": "etcd"}]},
                   "status": {"phase": "Running", "podIP": "127.222.1.5", "conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        let svc = put(
            &c,
            "services",
            json!({"metadata": {"name": "kube-etcd", "namespace": "kube-system", "labels": {"app": "kube-etcd", "release": "prom"}},
                   "spec": {"selector": {"component": "etcd"}, "ports": [{"name": "http-metrics", "port": 2381, "targetPort": 2381}]}}),
        );
        let s = wait_for("slice", || {
            slices(&c, "kube-etcd", SLICE_CONTROLLER)
                .into_iter()
                .find(|s| !s["endpoints"].is_null())
        })
        .await;
        assert!(name_of(&s).starts_with("kube-etcd-"));
        assert_eq!(name_of(&s).len(), "kube-etcd-".len() + 5);
        assert_eq!(
            s["metadata"]["labels"],
            json!({"app": "kube-etcd", "release": "prom", LABEL_SERVICE_NAME: "kube-etcd", LABEL_MANAGED_BY: SLICE_CONTROLLER})
        );
        assert_eq!(s["metadata"]["ownerReferences"][0]["kind"], "Service");
        assert_eq!(
            s["metadata"]["ownerReferences"][0]["uid"],
            svc["metadata"]["uid"]
        );
        assert_eq!(s["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(s["addressType"], "IPv4");
        assert_eq!(
            s["endpoints"][0]["conditions"],
            json!({"ready": true, "serving": true, "terminating": false})
        );
        assert_eq!(s["endpoints"][0]["addresses"], json!(["127.222.1.5"]));
        assert_eq!(s["endpoints"][0]["nodeName"], "node1");
        assert_eq!(s["endpoints"][0]["targetRef"]["name"], "etcd-node1");
        assert_eq!(
            s["ports"],
            json!([{"name": "http-metrics", "port": 2381, "protocol": "TCP"}])
        );

        // Remove the selector and hand-write the Endpoints, as the blog post says.
        let svc_rt = c.store.rt("services");
        c.store
            .modify(
                &svc_rt,
                Some("kube-system"),
                "kube-etcd",
                &WriteCtx::update("test"),
                |s| {
                    s["spec"].as_object_mut().unwrap().remove("selector");
                    true
                },
            )
            .unwrap();
        put(
            &c,
            "endpoints",
            json!({"metadata": {"name": "kube-etcd", "namespace": "kube-system"},
                   "subsets": [{"addresses": [{"ip": "127.222.2.1"}, {"ip": "127.222.2.2"}],
                                "ports": [{"name": "http-metrics", "port": 2379, "protocol": "TCP"}]}]}),
        );
        let m = wait_for("mirror", || {
            slices(&c, "kube-etcd", MIRROR_CONTROLLER)
                .into_iter()
                .find(|s| s["endpoints"].as_array().is_some_and(|a| a.len() == 2))
        })
        .await;
        assert_eq!(m["metadata"]["ownerReferences"][0]["kind"], "Endpoints");
        assert_eq!(m["endpoints"][0]["conditions"], json!({"ready": true}));
        assert_eq!(m["ports"][0]["port"], 2379);
        // The stale slice is still there, with the old address.
        let stale = slices(&c, "kube-etcd", SLICE_CONTROLLER);
        assert_eq!(stale.len(), 1);
        assert_eq!(
            stale[0]["endpoints"][0]["addresses"],
            json!(["127.222.1.5"])
        );
        // Even when the pod goes away, nobody updates it.
        let pods = c.store.rt("pods");
        c.store
            .delete(
                &pods,
                Some("kube-system"),
                "etcd-node1",
                &DeletePre::default(),
            )
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let stale = slices(&c, "kube-etcd", SLICE_CONTROLLER);
        assert_eq!(
            stale[0]["endpoints"][0]["addresses"],
            json!(["127.222.1.5"])
        );

        // skip-mirror: the mirrored slices go away.
        let ep_rt = c.store.rt("endpoints");
        c.store
            .modify(
                &ep_rt,
                Some("kube-system"),
                "kube-etcd",
                &WriteCtx::update("test"),
                |e| {
                    e["metadata"]["labels"] = json!({LABEL_SKIP_MIRROR: "true"});
                    true
                },
            )
            .unwrap();
        wait_for("mirror deleted", || {
            slices(&c, "kube-etcd", MIRROR_CONTROLLER)
                .is_empty()
                .then_some(())
        })
        .await;
        for x in [h, hm, he] {
            x.abort();
        }
    }

    #[tokio::test]
    async fn mirroring_follows_endpoints_changes_and_deletion() {
        let (c, _d) = cluster(223);
        let hm = spawn_mirroring(c.clone());
        put(
            &c,
            "services",
            json!({"metadata": {"name": "etcd", "namespace": "kube-system"},
                   "spec": {"clusterIP": "None", "ports": [{"name": "http-metrics", "port": 2379}]}}),
        );
        put(
            &c,
            "endpoints",
            json!({"metadata": {"name": "etcd", "namespace": "kube-system", "labels": {"app": "etcd"},
                                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "note": "x"}},
                   "subsets": [{"addresses": [{"ip": "127.223.2.1"}], "notReadyAddresses": [{"ip": "127.223.2.9"}],
                                "ports": [{"name": "http-metrics", "port": 2379}]}]}),
        );
        let m = wait_for("mirror", || {
            slices_with(&c.store, "kube-system", "etcd", MIRROR_CONTROLLER)
                .into_iter()
                .next()
        })
        .await;
        assert!(name_of(&m).starts_with("etcd-"));
        assert_eq!(
            m["metadata"]["labels"],
            json!({"app": "etcd", LABEL_SERVICE_NAME: "etcd", LABEL_MANAGED_BY: MIRROR_CONTROLLER})
        );
        assert_eq!(m["metadata"]["annotations"], json!({"note": "x"}));
        assert_eq!(
            m["endpoints"],
            json!([{"addresses": ["127.223.2.1"], "conditions": {"ready": true}},
                   {"addresses": ["127.223.2.9"], "conditions": {"ready": false}}])
        );
        assert_eq!(
            m["ports"],
            json!([{"name": "http-metrics", "port": 2379, "protocol": "TCP"}])
        );
        put(
            &c,
            "endpoints",
            json!({"metadata": {"name": "etcd", "namespace": "kube-system"},
                   "subsets": [{"addresses": [{"ip": "127.223.2.3"}], "ports": [{"name": "http-metrics", "port": 2379}]}]}),
        );
        wait_for("mirror updated", || {
            slices_with(&c.store, "kube-system", "etcd", MIRROR_CONTROLLER)
                .into_iter()
                .find(|s| s["endpoints"][0]["addresses"][0] == "127.223.2.3")
        })
        .await;
        let ep_rt = c.store.rt("endpoints");
        c.store
            .delete(&ep_rt, Some("kube-system"), "etcd", &DeletePre::default())
            .unwrap();
        wait_for("mirror deleted", || {
            slices_with(&c.store, "kube-system", "etcd", MIRROR_CONTROLLER)
                .is_empty()
                .then_some(())
        })
        .await;
        hm.abort();
    }
}
