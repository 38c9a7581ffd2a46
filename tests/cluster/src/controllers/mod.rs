//! The controllers that matter: endpoints, EndpointSlices (incl. mirroring), and the Prometheus
//! Operator (StatefulSet, pods, scrape configuration from ServiceMonitors/PodMonitors).
//!
//! Every controller reads and writes only through [`Store`] (events + list), as the real ones do
//! through the API, and is level-triggered: on any relevant event it recomputes everything it
//! owns and writes only what differs (the store turns a no-op update into no event, so a
//! controller never wakes itself up forever).

pub mod daemonset;
pub mod endpoints;
pub mod endpointslices;
pub mod operator;
pub mod promyaml;
pub mod sd;

use crate::cluster::Cluster;
use crate::resources::ResourceType;
use crate::store::{DeletePre, Event, Store, WriteCtx};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// The field manager of kube-controller-manager's controllers (endpoints, EndpointSlices,
/// StatefulSet, garbage collector).
pub const KCM: &str = "kube-controller-manager";

/// Start every controller of the cluster. The tasks end when aborted (the cluster's shutdown).
pub fn spawn_all(cluster: Arc<Cluster>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut v = vec![
        endpoints::spawn(cluster.clone()),
        endpointslices::spawn(cluster.clone()),
        endpointslices::spawn_mirroring(cluster.clone()),
        spawn_gc(cluster.clone()),
    ];
    if cluster.store.serves("prometheuses") {
        v.push(operator::spawn(cluster.clone()));
    }
    v.push(operator::spawn_statefulsets(cluster.clone()));
    v.push(daemonset::spawn(cluster));
    v
}

/// Run `sync` once, then again after every batch of events whose resource is in `watch`
/// (qualified names), and every `resync` (for work that waits on time, like a rollout).
/// `sync` gets the batch of events that woke it (empty on start, resync and lag).
pub(crate) fn run_loop(
    store: Arc<Store>,
    watch: Vec<String>,
    resync: Option<Duration>,
    mut sync: impl FnMut(&[Event]) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let mut rx = store.subscribe();
    tokio::spawn(async move {
        sync(&[]);
        loop {
            let first = match resync {
                Some(d) => tokio::time::timeout(d, rx.recv()).await.ok(),
                None => Some(rx.recv().await),
            };
            let mut batch = Vec::new();
            let mut lagged = false;
            let woke_by_event = first.is_some();
            match first {
                None => {}
                Some(Ok(e)) => batch.push(e),
                Some(Err(RecvError::Lagged(_))) => lagged = true,
                Some(Err(RecvError::Closed)) => return,
            }
            // Drain whatever else is already queued: one sync per burst.
            loop {
                match rx.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => lagged = true,
                    Err(_) => break,
                }
            }
            batch.retain(|e| watch.contains(&e.resource));
            if woke_by_event && batch.is_empty() && !lagged {
                continue;
            }
            if lagged {
                batch.clear();
            }
            sync(&batch);
            tokio::task::yield_now().await;
        }
    })
}

/// Qualified resource name of a plural served by the store (`services`, `statefulsets.apps`).
pub(crate) fn q(store: &Store, plural: &str) -> String {
    store
        .registry()
        .by_plural(plural)
        .map(|t| t.qualified())
        .unwrap_or_else(|| plural.to_string())
}

pub(crate) fn name_of(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

pub(crate) fn ns_of(o: &Value) -> &str {
    o["metadata"]["namespace"].as_str().unwrap_or("")
}

pub(crate) fn uid_of(o: &Value) -> &str {
    o["metadata"]["uid"].as_str().unwrap_or("")
}

/// A controller ownerReference (`controller: true`, `blockOwnerDeletion: true`), as
/// `metav1.NewControllerRef` makes it.
pub(crate) fn controller_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Whether `o` has a controller ownerReference to `owner` (by uid).
pub(crate) fn owned_by(o: &Value, owner: &Value) -> bool {
    o["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|a| a.iter().any(|r| r["uid"].as_str() == Some(uid_of(owner))))
}

/// A Service's selector as the controllers see it after the API round trip: an absent, null
/// or empty `spec.selector` is nil (protobuf storage drops an empty map).
pub(crate) fn service_selector(svc: &Value) -> Option<&serde_json::Map<String, Value>> {
    svc["spec"]["selector"]
        .as_object()
        .filter(|m| !m.is_empty())
}

/// Whether a pod's `Ready` condition is `True` (`podutil.IsPodReady`).
pub(crate) fn pod_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"].as_str() == Some("True"))
    })
}

/// Write `desired` if it differs from what is stored (create when absent). Differences in
/// server-owned metadata are ignored. Returns the stored object.
pub(crate) fn ensure(
    store: &Store,
    rt: &ResourceType,
    desired: Value,
    ctx: &WriteCtx,
) -> Option<Value> {
    let ns = desired["metadata"]["namespace"]
        .as_str()
        .map(str::to_string);
    let name = name_of(&desired).to_string();
    match store.get(rt, ns.as_deref(), &name) {
        Ok(cur) => {
            let mut next = cur.clone();
            merge_desired(&mut next, &desired);
            if next == cur {
                return Some(cur);
            }
            if let Some(m) = next["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            store.update(rt, ns.as_deref(), &name, next, ctx).ok()
        }
        Err(_) => store.create(rt, ns.as_deref(), desired, ctx).ok(),
    }
}

/// Replace every top-level field of `cur` by `desired`'s (metadata: labels, annotations,
/// ownerReferences only), keeping `status` when `desired` has none.
fn merge_desired(cur: &mut Value, desired: &Value) {
    let Some(d) = desired.as_object() else { return };
    for (k, v) in d {
        match k.as_str() {
            "metadata" => {
                for f in ["labels", "annotations", "ownerReferences"] {
                    match v.get(f) {
                        Some(x) => cur["metadata"][f] = x.clone(),
                        None => {
                            if let Some(m) = cur["metadata"].as_object_mut() {
                                m.remove(f);
                            }
                        }
                    }
                }
            }
            "apiVersion" | "kind" => {}
            _ => cur[k] = v.clone(),
        }
    }
    if let Some(c) = cur.as_object_mut() {
        let keys: Vec<String> = c.keys().cloned().collect();
        for k in keys {
            if !["metadata", "apiVersion", "kind", "status"].contains(&k.as_str())
                && !d.contains_key(&k)
            {
                c.remove(&k);
            }
        }
    }
}

/// The garbage collector (pkg/controller/garbagecollector), reduced to what the controllers
/// here need: objects whose every ownerReference names an owner (by uid) that no longer exists
/// are deleted (background propagation). Only owners of the kinds these controllers create
/// children for are considered (Service, Endpoints, StatefulSet, Prometheus), so scenario
/// objects whose ownerReferences point at other kinds are never collected.
fn spawn_gc(cluster: Arc<Cluster>) -> tokio::task::JoinHandle<()> {
    let store = cluster.store.clone();
    let children = [
        "pods",
        "endpointslices",
        "statefulsets",
        "secrets",
        "configmaps",
    ];
    let watch: Vec<String> = store
        .registry()
        .all()
        .iter()
        .map(|t| t.qualified())
        .collect();
    let s = store.clone();
    run_loop(store, watch, None, move |evs| {
        // Only deletions can orphan anything (and the first run).
        if !evs.is_empty()
            && !evs
                .iter()
                .any(|e| e.kind == crate::store::EventKind::Deleted)
        {
            return;
        }
        collect_garbage(&s, &children);
    })
}

/// Owner kinds whose children the garbage collector here deletes.
const GC_OWNER_KINDS: &[&str] = &["Service", "Endpoints", "StatefulSet", "Prometheus"];

pub(crate) fn collect_garbage(store: &Store, children: &[&str]) {
    for plural in children {
        let Some(rt) = store.registry().by_plural(plural).cloned() else {
            continue;
        };
        let (items, _) = store.list(&rt, None);
        for o in items {
            let Some(refs) = o["metadata"]["ownerReferences"].as_array() else {
                continue;
            };
            if refs.is_empty() {
                continue;
            }
            let ns = ns_of(&o).to_string();
            let all_gone = refs.iter().all(|r| {
                let api = r["apiVersion"].as_str().unwrap_or("");
                let kind = r["kind"].as_str().unwrap_or("");
                if !GC_OWNER_KINDS.contains(&kind) {
                    return false;
                }
                let Some(ort) = store.registry().by_kind(api, kind).cloned() else {
                    // An owner of a type this cluster does not serve: leave it alone.
                    return false;
                };
                let owner_ns = if ort.namespaced {
                    Some(ns.as_str())
                } else {
                    None
                };
                match store.get(&ort, owner_ns, r["name"].as_str().unwrap_or("")) {
                    Ok(owner) => uid_of(&owner) != r["uid"].as_str().unwrap_or(""),
                    Err(_) => true,
                }
            });
            if all_gone {
                let _ = store.delete(
                    &rt,
                    Some(&ns),
                    name_of(&o),
                    &DeletePre {
                        uid: Some(uid_of(&o).to_string()),
                        ..DeletePre::default()
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{cluster, put, wait_for};
    use super::*;

    #[tokio::test]
    async fn spawn_all_runs_every_controller() {
        let (c, _d) = cluster(228);
        let hs = spawn_all(c.clone());
        assert_eq!(hs.len(), 7);
        put(
            &c,
            "services",
            json!({"metadata": {"name": "a", "namespace": "default"}, "spec": {"selector": {"x": "y"}}}),
        );
        put(
            &c,
            "prometheuses",
            json!({"metadata": {"name": "k8s", "namespace": "monitoring"}, "spec": {}}),
        );
        let ep = c.store.rt("endpoints");
        let sts = c.store.rt("statefulsets");
        let pods = c.store.rt("pods");
        wait_for("endpoints", || c.store.get(&ep, Some("default"), "a").ok()).await;
        wait_for("statefulset", || {
            c.store.get(&sts, Some("monitoring"), "prometheus-k8s").ok()
        })
        .await;
        wait_for("pod", || {
            c.store
                .get(&pods, Some("monitoring"), "prometheus-k8s-0")
                .ok()
        })
        .await;
        for h in hs {
            assert!(!h.is_finished());
            h.abort();
        }
    }

    #[tokio::test]
    async fn gc_deletes_children_of_deleted_owners_only() {
        let (c, _d) = cluster(226);
        let h = spawn_gc(c.clone());
        let sts = put(
            &c,
            "statefulsets",
            json!({"metadata": {"name": "s", "namespace": "default"}, "spec": {}}),
        );
        put(
            &c,
            "pods",
            json!({"metadata": {"name": "s-0", "namespace": "default",
                                "ownerReferences": [controller_ref(&sts)]}}),
        );
        // owned by a kind the GC here does not handle: kept even though the owner is missing
        put(
            &c,
            "pods",
            json!({"metadata": {"name": "kube-proxy-x", "namespace": "default",
                                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "kube-proxy", "uid": "nope", "controller": true}]}}),
        );
        let rt = c.store.rt("statefulsets");
        c.store
            .delete(&rt, Some("default"), "s", &DeletePre::default())
            .unwrap();
        let pods = c.store.rt("pods");
        wait_for("pod collected", || {
            c.store.get(&pods, Some("default"), "s-0").err()
        })
        .await;
        assert!(c.store.get(&pods, Some("default"), "kube-proxy-x").is_ok());
        h.abort();
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A hand-built cluster for controller tests.
    use crate::auth::Auth;
    use crate::cluster::Cluster;
    use crate::faults::Faults;
    use crate::kubelet::Kubelet;
    use crate::resources::Registry;
    use crate::store::{Store, WriteCtx};
    use serde_json::{Value, json};
    use std::sync::Arc;
    use std::time::Duration;

    pub fn cluster(net: u8) -> (Arc<Cluster>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::new(Registry::new(true)));
        let nsrt = store.rt("namespaces");
        for n in ["default", "monitoring", "kube-system"] {
            store
                .create(
                    &nsrt,
                    None,
                    json!({"metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}}}),
                    &WriteCtx::update("test"),
                )
                .expect("namespace");
        }
        let c = Arc::new(Cluster {
            store,
            dir: dir.path().to_path_buf(),
            net,
            version: "v1.33.1".into(),
            auth: Auth::default(),
            faults: Faults::new(),
            kubelet: Kubelet::new(),
        });
        (c, dir)
    }

    pub fn put(c: &Cluster, plural: &str, obj: Value) -> Value {
        let rt = c.store.rt(plural);
        c.store
            .upsert(&rt, obj, &WriteCtx::update("test"))
            .expect("write")
    }

    /// Wait (bounded: 5 s) until `f` returns Some.
    pub async fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(v) = f() {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
