//! The endpoints controller, after kubernetes `pkg/controller/endpoint/endpoints_controller.go`
//! (`syncService`).
//!
//! Every Service WITH a selector gets an Endpoints object of the same name computed from the
//! matching Pods of its namespace — whatever was there before: Endpoints written by hand for a
//! Service that has a selector are overwritten (the selector trap of hand-made etcd Endpoints).
//! Services without a selector (absent or empty: the API's storage drops an empty map) are left
//! alone, as are their Endpoints. When a Service is deleted its Endpoints go too; at start,
//! Endpoints without a Service are deleted (`checkLeftoverEndpoints`), except leader-election
//! records.
//!
//! What is written, as the real controller writes it:
//! - `subsets` grouped by identical port sets (`RepackSubsets`), ready pods in `addresses`,
//!   not-ready in `notReadyAddresses` (`publishNotReadyAddresses` puts all in `addresses`);
//!   each address with `ip`, `nodeName`, `targetRef` (Pod), `hostname` when the pod's
//!   hostname/subdomain name the Service; no `subsets` at all when nothing matches.
//! - ports resolved by `targetPort` (number, or a container port name — pods without it are
//!   skipped for that port, `podutil.FindPort`), `name`, `port`, `protocol`, `appProtocol`.
//! - labels: exactly the Service's labels, plus `service.kubernetes.io/headless: ""` for a
//!   headless Service and (from v1.33, `LabelManagedBy`) `endpoints.kubernetes.io/managed-by:
//!   endpoint-controller`; annotation `endpoints.kubernetes.io/last-change-trigger-time`.
//! - no ownerReferences. Field manager `kube-controller-manager`.

use super::{KCM, name_of, ns_of, pod_ready, run_loop, service_selector, uid_of};
use crate::cluster::Cluster;
use crate::selectors::Selector;
use crate::store::{DeletePre, EventKind, Store, WriteCtx, now_rfc3339};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `endpointscontroller.LabelManagedBy` / `ControllerName`.
pub const LABEL_MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";
pub const CONTROLLER_NAME: &str = "endpoint-controller";
/// `v1.IsHeadlessService`.
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
/// `v1.EndpointsLastChangeTriggerTime`.
pub const ANN_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// `resourcelock.LeaderElectionRecordAnnotationKey`.
pub const ANN_LEADER: &str = "control-plane.alpha.kubernetes.io/leader";

pub fn spawn(cluster: Arc<Cluster>) -> tokio::task::JoinHandle<()> {
    let store = cluster.store.clone();
    let watch = vec!["services".to_string(), "pods".into(), "endpoints".into()];
    let managed_label = version_at_least(&cluster.version, 1, 33);
    let s = store.clone();
    let mut first = true;
    run_loop(store, watch, None, move |evs| {
        if first {
            first = false;
            delete_leftovers(&s);
        }
        for e in evs {
            if e.kind == EventKind::Deleted && e.resource == "services" {
                let ns = ns_of(&e.object).to_string();
                let ep = s.rt("endpoints");
                let _ = s.delete(&ep, Some(&ns), name_of(&e.object), &DeletePre::default());
            }
        }
        sync_all(&s, managed_label);
    })
}

/// Whether `v1.33.1` is at least `major.minor`.
pub(crate) fn version_at_least(version: &str, major: u32, minor: u32) -> bool {
    let v = version.trim_start_matches('v');
    let mut it = v.split(['.', '-', '+']);
    let ma: u32 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    let mi: u32 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    (ma, mi) >= (major, minor)
}

fn delete_leftovers(store: &Store) {
    let ep = store.rt("endpoints");
    let svc = store.rt("services");
    let (items, _) = store.list(&ep, None);
    for e in items {
        if e["metadata"]["annotations"].get(ANN_LEADER).is_some() {
            continue;
        }
        if store.get(&svc, Some(ns_of(&e)), name_of(&e)).is_err() {
            let _ = store.delete(&ep, Some(ns_of(&e)), name_of(&e), &DeletePre::default());
        }
    }
}

/// Sync the Endpoints of every Service.
pub fn sync_all(store: &Store, managed_label: bool) {
    let svc_rt = store.rt("services");
    let (services, _) = store.list(&svc_rt, None);
    for svc in services {
        sync_service(store, &svc, managed_label);
    }
}

/// Pods of the Service's namespace matching its selector, in name order.
pub(crate) fn selected_pods(store: &Store, svc: &Value) -> Option<Vec<Arc<Value>>> {
    let sel = Selector::from_map(&Value::Object(service_selector(svc)?.clone()));
    let pods_rt = store.rt("pods");
    let (pods, _) = store.list(&pods_rt, Some(ns_of(svc)));
    Some(pods.into_iter().filter(|p| sel.matches_object(p)).collect())
}

/// `endpointsliceutil.ShouldPodBeInEndpoints`: an IP, not terminal, not being deleted (unless
/// not-ready addresses are published).
pub(crate) fn should_pod_be_in_endpoints(pod: &Value, include_terminating: bool) -> bool {
    let phase = pod["status"]["phase"].as_str().unwrap_or("");
    if phase == "Succeeded" || phase == "Failed" {
        return false;
    }
    if pod["status"]["podIP"].as_str().unwrap_or("").is_empty() {
        return false;
    }
    if !include_terminating && pod["metadata"].get("deletionTimestamp").is_some() {
        return false;
    }
    true
}

/// `podutil.FindPort`: the container port a Service port's `targetPort` names on this pod.
pub(crate) fn find_port(pod: &Value, svc_port: &Value) -> Option<i64> {
    let proto = svc_port["protocol"].as_str().unwrap_or("TCP");
    match svc_port.get("targetPort") {
        Some(Value::String(name)) => {
            if let Ok(n) = name.parse::<i64>() {
                return Some(n);
            }
            for c in pod["spec"]["containers"].as_array()? {
                for p in c["ports"].as_array().into_iter().flatten() {
                    if p["name"].as_str() == Some(name)
                        && p["protocol"].as_str().unwrap_or("TCP") == proto
                    {
                        return p["containerPort"].as_i64();
                    }
                }
            }
            None
        }
        Some(Value::Number(n)) => n.as_i64(),
        _ => svc_port["port"].as_i64(),
    }
}

/// The `targetRef` of a pod address.
pub(crate) fn pod_ref(pod: &Value) -> Value {
    json!({"kind": "Pod", "namespace": ns_of(pod), "name": name_of(pod), "uid": uid_of(pod)})
}

/// The EndpointPort for a service port resolved to `port`.
pub(crate) fn endpoint_port(svc_port: &Value, port: i64) -> Value {
    let mut p = Map::new();
    if let Some(n) = svc_port["name"].as_str().filter(|n| !n.is_empty()) {
        p.insert("name".into(), json!(n));
    }
    p.insert("port".into(), json!(port));
    p.insert(
        "protocol".into(),
        json!(svc_port["protocol"].as_str().unwrap_or("TCP")),
    );
    if let Some(a) = svc_port.get("appProtocol") {
        p.insert("appProtocol".into(), a.clone());
    }
    Value::Object(p)
}

fn is_headless(svc: &Value) -> bool {
    matches!(svc["spec"]["clusterIP"].as_str(), Some("None"))
}

/// The subsets the controller computes for a Service (None when it has no selector).
pub fn compute_subsets(store: &Store, svc: &Value) -> Option<Vec<Value>> {
    let pods = selected_pods(store, svc)?;
    let publish = svc["spec"]["publishNotReadyAddresses"].as_bool() == Some(true);
    let svc_ports: Vec<Value> = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    // (ports key) -> (ports, ready addrs, not-ready addrs)
    type Group = (Vec<Value>, Vec<Value>, Vec<Value>);
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for pod in &pods {
        if !should_pod_be_in_endpoints(pod, publish) {
            continue;
        }
        let mut addr = Map::new();
        addr.insert("ip".into(), pod["status"]["podIP"].clone());
        if let Some(h) = pod["spec"]["hostname"].as_str().filter(|h| !h.is_empty())
            && pod["spec"]["subdomain"].as_str() == Some(name_of(svc))
        {
            addr.insert("hostname".into(), json!(h));
        }
        if let Some(n) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            addr.insert("nodeName".into(), json!(n));
        }
        addr.insert("targetRef".into(), pod_ref(pod));
        let addr = Value::Object(addr);
        let ready = publish || pod_ready(pod);
        // One subset per (pod, port), repacked below: pods with the same resolved ports share one.
        let mut ports = Vec::new();
        if svc_ports.is_empty() {
            if !is_headless(svc) {
                continue;
            }
        } else {
            for sp in &svc_ports {
                if let Some(n) = find_port(pod, sp) {
                    ports.push(endpoint_port(sp, n));
                }
            }
            if ports.is_empty() {
                continue;
            }
        }
        // RepackSubsets works per port: an address appears in a subset for each port it has;
        // grouping by the whole port list is the same for the uniform pods of a Service.
        let key = serde_json::to_string(&ports).unwrap_or_default();
        let g = groups
            .entry(key)
            .or_insert_with(|| (ports.clone(), vec![], vec![]));
        if ready { &mut g.1 } else { &mut g.2 }.push(addr);
    }
    let mut subsets = Vec::new();
    for (_, (mut ports, mut ready, mut not_ready)) in groups {
        let by_ip = |a: &Value, b: &Value| {
            (a["ip"].as_str(), a["targetRef"]["uid"].as_str())
                .cmp(&(b["ip"].as_str(), b["targetRef"]["uid"].as_str()))
        };
        ready.sort_by(by_ip);
        not_ready.sort_by(by_ip);
        ports.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        let mut s = Map::new();
        if !ready.is_empty() {
            s.insert("addresses".into(), json!(ready));
        }
        if !not_ready.is_empty() {
            s.insert("notReadyAddresses".into(), json!(not_ready));
        }
        if !ports.is_empty() {
            s.insert("ports".into(), json!(ports));
        }
        subsets.push(Value::Object(s));
    }
    Some(subsets)
}

/// `syncService` for one Service.
pub fn sync_service(store: &Store, svc: &Value, managed_label: bool) {
    let Some(subsets) = compute_subsets(store, svc) else {
        return; // no selector: the Endpoints are somebody else's
    };
    let ep_rt = store.rt("endpoints");
    let ns = ns_of(svc);
    let name = name_of(svc);
    let mut labels = svc["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if is_headless(svc) {
        labels.insert(LABEL_HEADLESS.into(), json!(""));
    }
    if managed_label {
        labels.insert(LABEL_MANAGED_BY.into(), json!(CONTROLLER_NAME));
    }
    let subsets_v = if subsets.is_empty() {
        None
    } else {
        Some(json!(subsets))
    };
    let current = store.get(&ep_rt, Some(ns), name).ok();
    if let Some(cur) = &current {
        let cur_labels = cur["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if cur.get("subsets").filter(|s| !s.is_null()) == subsets_v.as_ref()
            && cur_labels == labels
            && cur["metadata"]["annotations"]
                .get("endpoints.kubernetes.io/over-capacity")
                .is_none()
        {
            return;
        }
    }
    let mut next = current.clone().unwrap_or_else(|| {
        json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns}})
    });
    match &subsets_v {
        Some(s) => next["subsets"] = s.clone(),
        None => {
            if let Some(o) = next.as_object_mut() {
                o.remove("subsets");
            }
        }
    }
    next["metadata"]["labels"] = Value::Object(labels);
    if !next["metadata"]["annotations"].is_object() {
        next["metadata"]["annotations"] = json!({});
    }
    next["metadata"]["annotations"][ANN_TRIGGER_TIME] = json!(now_rfc3339());
    if let Some(a) = next["metadata"]["annotations"].as_object_mut() {
        a.remove("endpoints.kubernetes.io/over-capacity");
    }
    let ctx = WriteCtx::update(KCM);
    match current {
        Some(_) => {
            if let Some(m) = next["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            let _ = store.update(&ep_rt, Some(ns), name, next, &ctx);
        }
        None => {
            let _ = store.create(&ep_rt, Some(ns), next, &ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{cluster, put, wait_for};
    use super::*;

    fn etcd_pod(name: &str, ip: &str, ready: bool) -> Value {
        json!({"metadata": {"name": name, "namespace": "kube-system", "labels": {"component": "etcd"}},
               "spec": {"nodeName": "node1", "containers": [{"name": "etcd", "ports": [{"name": "metrics", "containerPort": 2381}]}]},
               "status": {"phase": "Running", "podIP": ip,
                          "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
    }

    #[test]
    fn versions() {
        assert!(version_at_least("v1.33.1", 1, 33));
        assert!(!version_at_least("v1.32.9", 1, 33));
        assert!(version_at_least("v1.34.0-rc.1", 1, 33));
    }

    #[tokio::test]
    async fn selector_trap_overwrites_hand_written_endpoints_until_selector_removed() {
        let (c, _d) = cluster(220);
        let h = spawn(c.clone());
        put(&c, "pods", etcd_pod("etcd-node1", "127.220.1.5", true));
        put(&c, "pods", etcd_pod("etcd-node2", "127.220.1.6", false));
        put(
            &c,
            "services",
            json!({"metadata": {"name": "kube-etcd", "namespace": "kube-system", "labels": {"app": "kube-etcd"}},
                   "spec": {"clusterIP": "None", "selector": {"component": "etcd"},
                            "ports": [{"name": "http-metrics", "port": 2381, "targetPort": "metrics"}]}}),
        );
        let ep_rt = c.store.rt("endpoints");
        let get = || c.store.get(&ep_rt, Some("kube-system"), "kube-etcd").ok();
        let ep = wait_for("endpoints", || get().filter(|e| e.get("subsets").is_some())).await;
        assert_eq!(
            ep["subsets"],
            json!([{
                "addresses": [{"ip": "127.220.1.5", "nodeName": "node1",
                    "targetRef": {"kind": "Pod", "namespace": "kube-system", "name": "etcd-node1", "uid": c.store.get(&c.store.rt("pods"), Some("kube-system"), "etcd-node1").unwrap()["metadata"]["uid"]}}],
                "notReadyAddresses": [{"ip": "127.220.1.6", "nodeName": "node1",
                    "targetRef": {"kind": "Pod", "namespace": "kube-system", "name": "etcd-node2", "uid": c.store.get(&c.store.rt("pods"), Some("kube-system"), "etcd-node2").unwrap()["metadata"]["uid"]}}],
                "ports": [{"name": "http-metrics", "port": 2381, "protocol": "TCP"}]
            }])
        );
        assert_eq!(
            ep["metadata"]["labels"],
            json!({"app": "kube-etcd", LABEL_HEADLESS: "", LABEL_MANAGED_BY: CONTROLLER_NAME})
        );
        assert!(ep["metadata"]["annotations"][ANN_TRIGGER_TIME].is_string());

        // The trap: hand-written Endpoints are written back while the selector exists.
        let hand = json!({"metadata": {"name": "kube-etcd", "namespace": "kube-system"},
            "subsets": [{"addresses": [{"ip": "127.220.2.1"}], "ports": [{"name": "http-metrics", "port": 2379}]}]});
        put(&c, "endpoints", hand.clone());
        wait_for("overwrite", || {
            get().filter(|e| e["subsets"][0]["ports"][0]["port"] == 2381)
        })
        .await;

        // Selector removed: the controller lets go; the hand-written Endpoints stay.
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
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        put(&c, "endpoints", hand);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let ep = get().unwrap();
        assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], "127.220.2.1");
        assert_eq!(ep["subsets"][0]["ports"][0]["port"], 2379);
        h.abort();
    }

    #[tokio::test]
    async fn no_matching_pods_means_no_subsets_and_service_delete_removes_endpoints() {
        let (c, _d) = cluster(221);
        let h = spawn(c.clone());
        put(
            &c,
            "services",
            json!({"metadata": {"name": "kube-scheduler", "namespace": "kube-system"},
                   "spec": {"selector": {"component": "kube-scheduler"}, "ports": [{"name": "https-metrics", "port": 10259}]}}),
        );
        let ep_rt = c.store.rt("endpoints");
        let ep = wait_for("endpoints", || {
            c.store
                .get(&ep_rt, Some("kube-system"), "kube-scheduler")
                .ok()
        })
        .await;
        assert!(ep.get("subsets").is_none(), "{ep}");
        let svc_rt = c.store.rt("services");
        c.store
            .delete(
                &svc_rt,
                Some("kube-system"),
                "kube-scheduler",
                &DeletePre::default(),
            )
            .unwrap();
        wait_for("endpoints gone", || {
            c.store
                .get(&ep_rt, Some("kube-system"), "kube-scheduler")
                .err()
        })
        .await;
        h.abort();
    }

    #[test]
    fn find_port_by_name_number_and_default() {
        let pod =
            json!({"spec": {"containers": [{"ports": [{"name": "web", "containerPort": 9090}]}]}});
        assert_eq!(
            find_port(&pod, &json!({"port": 80, "targetPort": "web"})),
            Some(9090)
        );
        assert_eq!(
            find_port(&pod, &json!({"port": 80, "targetPort": "nope"})),
            None
        );
        assert_eq!(
            find_port(&pod, &json!({"port": 80, "targetPort": 8080})),
            Some(8080)
        );
        assert_eq!(find_port(&pod, &json!({"port": 80})), Some(80));
    }
}
