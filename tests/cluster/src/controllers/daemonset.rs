//! The DaemonSet controller (kubernetes pkg/controller/daemon), reduced to what kube-proxy's
//! rollout needs:
//! - one pod per Node that should run it: `spec.template.spec.nodeSelector` (matchLabels form) is
//!   honoured; taints/tolerations and node affinity in the template are IGNORED (every node
//!   tolerated, as kube-proxy's `operator: Exists` does);
//! - pods are named `<ds>-<5 random>` (generateName), carry the template's labels plus
//!   `controller-revision-hash` (the template's hash, as `controller.ComputeHash` names the
//!   ControllerRevision `<ds>-<hash>`) and `pod-template-generation` (the DaemonSet's
//!   generation, as `util.CreatePodTemplate` sets it), a controller ownerReference, a node
//!   affinity on `metadata.name` and `spec.nodeName` (the real one leaves binding to the
//!   scheduler; there is none here), and the tolerations `util.AddOrUpdateDaemonPodTolerations`
//!   adds;
//! - RollingUpdate (default) with `maxUnavailable` (int; a percentage or absence counts as 1)
//!   and no surge: an outdated pod is deleted only while fewer than maxUnavailable of the
//!   DaemonSet's pods are unavailable; the node then gets a new pod. OnDelete: outdated pods are
//!   left to the user;
//! - status as `updateDaemonSetStatus` writes it: observedGeneration, desiredNumberScheduled,
//!   currentNumberScheduled, numberMisscheduled, numberReady, updatedNumberScheduled,
//!   numberAvailable, numberUnavailable (minReadySeconds is 0: available = ready).
//!
//! No ControllerRevision objects are written (this cluster does not serve them).

use super::{KCM, controller_ref, name_of, ns_of, owned_by, pod_ready, run_loop, uid_of};
use crate::cluster::Cluster;
use crate::store::{DeletePre, Store, WriteCtx};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

pub fn spawn(cluster: Arc<Cluster>) -> tokio::task::JoinHandle<()> {
    let store = cluster.store.clone();
    let watch = vec![
        super::q(&store, "daemonsets"),
        "pods".to_string(),
        "nodes".to_string(),
    ];
    let s = store.clone();
    run_loop(store, watch, Some(Duration::from_secs(1)), move |_| {
        let rt = s.rt("daemonsets");
        for ds in s.list(&rt, None).0 {
            sync_daemonset(&s, &ds);
        }
    })
}

/// The template's hash (the `controller-revision-hash` label value).
pub fn template_hash(ds: &Value) -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let b = serde_json::to_vec(&ds["spec"]["template"]).unwrap_or_default();
    let d = sha2::Sha256::digest(&b);
    let mut x = u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
    let mut h = String::new();
    for _ in 0..10 {
        h.push(ALPHA[(x % ALPHA.len() as u64) as usize] as char);
        x /= ALPHA.len() as u64;
    }
    h
}

/// Whether a node should run the DaemonSet's pod (nodeSelector only; see the module docs).
fn should_run(ds: &Value, node: &Value) -> bool {
    let Some(sel) = ds["spec"]["template"]["spec"]["nodeSelector"].as_object() else {
        return true;
    };
    sel.iter().all(|(k, v)| node["metadata"]["labels"][k] == *v)
}

fn new_pod(ds: &Value, node: &str, hash: &str) -> Value {
    let t = &ds["spec"]["template"];
    let mut labels = t["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    labels.insert("controller-revision-hash".into(), json!(hash));
    labels.insert(
        "pod-template-generation".into(),
        json!(
            ds["metadata"]["generation"]
                .as_i64()
                .unwrap_or(1)
                .to_string()
        ),
    );
    let mut spec = t["spec"].clone();
    spec["nodeName"] = json!(node);
    spec["affinity"]["nodeAffinity"] = json!({"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}});
    let mut tolerations = spec["tolerations"].as_array().cloned().unwrap_or_default();
    let mut add = |key: &str, effect: &str| {
        if !tolerations
            .iter()
            .any(|t| t["key"] == key && t["effect"] == effect)
        {
            tolerations.push(json!({"key": key, "operator": "Exists", "effect": effect}));
        }
    };
    add("node.kubernetes.io/not-ready", "NoExecute");
    add("node.kubernetes.io/unreachable", "NoExecute");
    add("node.kubernetes.io/disk-pressure", "NoSchedule");
    add("node.kubernetes.io/memory-pressure", "NoSchedule");
    add("node.kubernetes.io/pid-pressure", "NoSchedule");
    add("node.kubernetes.io/unschedulable", "NoSchedule");
    if spec["hostNetwork"] == true {
        add("node.kubernetes.io/network-unavailable", "NoSchedule");
    }
    spec["tolerations"] = json!(tolerations);
    let mut meta = json!({"generateName": format!("{}-", name_of(ds)), "namespace": ns_of(ds),
                          "labels": labels, "ownerReferences": [controller_ref(ds)]});
    if let Some(a) = t["metadata"]["annotations"].as_object() {
        meta["annotations"] = json!(a);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
           "status": {"phase": "Pending", "qosClass": "BestEffort"}})
}

fn max_unavailable(ds: &Value) -> usize {
    ds["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"]
        .as_u64()
        .map(|n| n.max(1) as usize)
        .unwrap_or(1)
}

/// One sync: create missing pods, delete misscheduled and duplicate ones, roll outdated ones,
/// write the status.
pub fn sync_daemonset(store: &Store, ds: &Value) {
    let ns = ns_of(ds);
    let pods_rt = store.rt("pods");
    let hash = template_hash(ds);
    let kcm = WriteCtx::update(KCM);
    let nodes: Vec<Arc<Value>> = store.list(&store.rt("nodes"), None).0;
    // A set: membership is asked once per pod (5,000-node clusters).
    let wanted: BTreeSet<String> = nodes
        .iter()
        .filter(|n| should_run(ds, n))
        .map(|n| name_of(n).to_string())
        .collect();
    let live = |store: &Store| -> Vec<Arc<Value>> {
        store
            .list(&pods_rt, Some(ns))
            .0
            .into_iter()
            .filter(|p| owned_by(p, ds) && p["metadata"]["deletionTimestamp"].is_null())
            .collect()
    };
    let hash_of = |p: &Value| {
        p["metadata"]["labels"]["controller-revision-hash"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let delete = |p: &Value| {
        let _ = store.delete(
            &pods_rt,
            Some(ns),
            name_of(p),
            &DeletePre {
                uid: Some(uid_of(p).to_string()),
                ..DeletePre::default()
            },
        );
    };
    let mut by_node: BTreeMap<String, Vec<Arc<Value>>> = BTreeMap::new();
    for p in live(store) {
        by_node
            .entry(p["spec"]["nodeName"].as_str().unwrap_or("").to_string())
            .or_default()
            .push(p);
    }
    // misscheduled and duplicates (keep the updated one, else the oldest)
    for (node, pods) in by_node.iter_mut() {
        if !wanted.contains(node) {
            for p in pods.drain(..) {
                delete(&p);
            }
            continue;
        }
        if pods.len() > 1 {
            pods.sort_by_key(|p| {
                (
                    hash_of(p) != hash,
                    p["metadata"]["creationTimestamp"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                )
            });
            for p in pods.drain(1..) {
                delete(&p);
            }
        }
    }
    // rolling update: delete outdated pods while fewer than maxUnavailable are unavailable
    let rolling = ds["spec"]["updateStrategy"]["type"]
        .as_str()
        .is_none_or(|t| t == "RollingUpdate");
    if rolling {
        let mut unavailable = wanted
            .iter()
            .filter(|n| {
                by_node
                    .get(*n)
                    .and_then(|v| v.first())
                    .is_none_or(|p| !pod_ready(p))
            })
            .count();
        let budget = max_unavailable(ds);
        // outdated unavailable pods first (they cost nothing), then ready ones
        let mut outdated: Vec<(String, bool)> = by_node
            .iter()
            .filter_map(|(n, v)| {
                v.first()
                    .filter(|p| hash_of(p) != hash)
                    .map(|p| (n.clone(), pod_ready(p)))
            })
            .collect();
        outdated.sort_by_key(|(_, ready)| *ready);
        for (node, ready) in outdated {
            if !ready || unavailable < budget {
                if let Some(p) = by_node.get_mut(&node).and_then(|v| v.pop()) {
                    delete(&p);
                }
                if ready {
                    unavailable += 1;
                }
            }
        }
    }
    // missing
    for node in &wanted {
        if by_node.get(node).is_none_or(|v| v.is_empty())
            && let Ok(p) = store.create(&pods_rt, Some(ns), new_pod(ds, node, &hash), &kcm)
        {
            by_node.insert(node.clone(), vec![Arc::new(p)]);
        }
    }
    // status
    let pods = live(store);
    let on_wanted = |p: &&Arc<Value>| {
        p["spec"]["nodeName"]
            .as_str()
            .is_some_and(|n| wanted.contains(n))
    };
    let scheduled = pods.iter().filter(on_wanted).count();
    let misscheduled = pods.len() - scheduled;
    let ready = pods
        .iter()
        .filter(on_wanted)
        .filter(|p| pod_ready(p))
        .count();
    let updated = pods
        .iter()
        .filter(on_wanted)
        .filter(|p| hash_of(p) == hash)
        .count();
    let available = ready;
    // DaemonSetStatus: observedGeneration, updatedNumberScheduled, numberAvailable and
    // numberUnavailable are `omitempty` (absent when 0), the other counts are always written.
    let mut status = json!({
        "currentNumberScheduled": scheduled,
        "desiredNumberScheduled": wanted.len(),
        "numberMisscheduled": misscheduled,
        "numberReady": ready,
        "observedGeneration": ds["metadata"]["generation"].as_i64().unwrap_or(1),
    });
    if updated > 0 {
        status["updatedNumberScheduled"] = json!(updated);
    }
    if available > 0 {
        status["numberAvailable"] = json!(available);
    }
    if wanted.len() > available {
        status["numberUnavailable"] = json!(wanted.len() - available);
    }
    if ds["status"] == status {
        return;
    }
    let rt = store.rt("daemonsets");
    let _ = store.modify(
        &rt,
        Some(ns),
        name_of(ds),
        &WriteCtx {
            subresource: Some("status".into()),
            ..WriteCtx::update(KCM)
        },
        |o| {
            if o["status"] == status {
                return false;
            }
            o["status"] = status.clone();
            true
        },
    );
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{cluster, put, wait_for};
    use super::*;

    fn set_ready(c: &Cluster, ns: &str, pod: &str) {
        let rt = c.store.rt("pods");
        let ctx = WriteCtx {
            subresource: Some("status".into()),
            ..WriteCtx::update("kubelet")
        };
        let _ = c.store.modify(&rt, Some(ns), pod, &ctx, |p| {
            p["status"] =
                json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
            true
        });
    }

    fn pods_of(c: &Cluster) -> Vec<Arc<Value>> {
        c.store
            .list(&c.store.rt("pods"), Some("kube-system"))
            .0
            .into_iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .collect()
    }

    #[tokio::test]
    async fn one_pod_per_node_then_a_rolling_update_one_at_a_time() {
        let (c, _d) = cluster(229);
        for n in ["n1", "n2", "n3"] {
            put(
                &c,
                "nodes",
                json!({"metadata": {"name": n, "labels": {"kubernetes.io/os": "linux"}}}),
            );
        }
        put(
            &c,
            "nodes",
            json!({"metadata": {"name": "win", "labels": {"kubernetes.io/os": "windows"}}}),
        );
        let ds = put(
            &c,
            "daemonsets",
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
                   "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
                   "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                            "template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}},
                                         "spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "hostNetwork": true,
                                                  "containers": [{"name": "kube-proxy", "image": "x"}]}}}}),
        );
        sync_daemonset(&c.store, &ds);
        let pods = pods_of(&c);
        assert_eq!(pods.len(), 3);
        let h1 = template_hash(&ds);
        for p in &pods {
            assert!(name_of(p).starts_with("kube-proxy-"));
            assert_eq!(name_of(p).len(), "kube-proxy-".len() + 5);
            assert_eq!(p["metadata"]["labels"]["controller-revision-hash"], h1);
            assert_eq!(p["metadata"]["labels"]["pod-template-generation"], "1");
            assert_ne!(p["spec"]["nodeName"], "win");
        }
        let rt = c.store.rt("daemonsets");
        let st = c.store.get(&rt, Some("kube-system"), "kube-proxy").unwrap();
        assert_eq!(st["status"]["desiredNumberScheduled"], 3);
        assert_eq!(st["status"]["numberReady"], 0);
        for p in &pods {
            set_ready(&c, "kube-system", name_of(p));
        }
        // template change: generation 2
        let mut ds2 = st.clone();
        ds2["spec"]["template"]["metadata"]["annotations"] =
            json!({"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"});
        if let Some(m) = ds2["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let ds2 = c
            .store
            .update(
                &rt,
                Some("kube-system"),
                "kube-proxy",
                ds2,
                &WriteCtx::update("kubectl"),
            )
            .unwrap();
        assert_eq!(ds2["metadata"]["generation"], 2);
        let h2 = template_hash(&ds2);
        assert_ne!(h1, h2);
        // one at a time: each sync replaces at most one ready pod
        for round in 0..3 {
            let cur = c.store.get(&rt, Some("kube-system"), "kube-proxy").unwrap();
            sync_daemonset(&c.store, &cur);
            let pods = pods_of(&c);
            let new: Vec<&Arc<Value>> = pods
                .iter()
                .filter(|p| p["metadata"]["labels"]["controller-revision-hash"] == h2)
                .collect();
            assert_eq!(new.len(), round + 1, "round {round}");
            assert_eq!(new[0]["metadata"]["labels"]["pod-template-generation"], "2");
            for p in &new {
                set_ready(&c, "kube-system", name_of(p));
            }
        }
        let cur = c.store.get(&rt, Some("kube-system"), "kube-proxy").unwrap();
        sync_daemonset(&c.store, &cur);
        let st = c.store.get(&rt, Some("kube-system"), "kube-proxy").unwrap();
        assert_eq!(
            st["status"],
            json!({"currentNumberScheduled": 3, "desiredNumberScheduled": 3, "numberMisscheduled": 0,
                   "numberReady": 3, "observedGeneration": 2, "updatedNumberScheduled": 3, "numberAvailable": 3})
        );
    }

    #[tokio::test]
    async fn the_spawned_controller_creates_pods() {
        let (c, _d) = cluster(230);
        let h = spawn(c.clone());
        put(&c, "nodes", json!({"metadata": {"name": "n1"}}));
        put(
            &c,
            "daemonsets",
            json!({"metadata": {"name": "d", "namespace": "kube-system"},
                   "spec": {"selector": {"matchLabels": {"a": "b"}},
                            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}}),
        );
        wait_for("the pod", || pods_of(&c).into_iter().next()).await;
        h.abort();
    }
}
