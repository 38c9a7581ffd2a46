//! The kubelet's file source of static pods (pkg/kubelet/config/file.go) and its mirror pods
//! (pkg/kubelet/pod/mirror_client.go).
//!
//! Each mirror pod of the scenario is written back as the manifest it came from, at
//! `<node root>/etc/kubernetes/manifests/<name>.yaml` (the pod's name less `-<node>`), when the
//! cluster starts. The kubelet then watches those directories: a changed manifest (the node-side
//! edits `kubectl promfix control-plane` prints, done by a test as an operator would with an
//! editor) replaces the pod — its containers stop, the mirror pod is deleted and created anew
//! with the new spec, `kubernetes.io/config.hash` / `config.mirror` of the new content, and an
//! ownerReference to its Node — so what the components serve follows the file. A manifest that
//! does not parse, or is removed, removes the pod. Files whose names start with `.` are ignored.

use crate::cluster::Cluster;
use crate::kubelet::node_root;
use crate::scenario::is_mirror_pod;
use crate::store::{DeletePre, WriteCtx};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The static pod directory of `node` (kubeadm's `staticPodPath`).
pub fn manifest_dir(cluster: &Cluster, node: &str) -> PathBuf {
    node_root(cluster, node).join("etc/kubernetes/manifests")
}

/// The manifest a mirror pod was made from: the pod less what the kubelet and the API server
/// added.
pub fn manifest_of(mirror: &Value) -> (String, Value) {
    let node = mirror["spec"]["nodeName"].as_str().unwrap_or("");
    let full = mirror["metadata"]["name"].as_str().unwrap_or("");
    let name = full
        .strip_suffix(&format!("-{node}"))
        .filter(|n| !n.is_empty())
        .unwrap_or(full)
        .to_string();
    let mut meta = json!({"name": name});
    if let Some(ns) = mirror["metadata"].get("namespace") {
        meta["namespace"] = ns.clone();
    }
    if let Some(l) = mirror["metadata"].get("labels") {
        meta["labels"] = l.clone();
    }
    if let Some(a) = mirror["metadata"]["annotations"].as_object() {
        let kept: serde_json::Map<String, Value> = a
            .iter()
            .filter(|(k, _)| !k.starts_with("kubernetes.io/config."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !kept.is_empty() {
            meta["annotations"] = Value::Object(kept);
        }
    }
    let mut spec = mirror["spec"].clone();
    if let Some(o) = spec.as_object_mut() {
        o.remove("nodeName");
    }
    (
        name,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}),
    )
}

/// The mirror pod of `manifest` on `node` (whose uid is `node_uid`), hash `hash`.
pub fn mirror_of(manifest: &Value, node: &str, node_uid: &str, hash: &str) -> Value {
    let mut pod = manifest.clone();
    let name = manifest["metadata"]["name"].as_str().unwrap_or("");
    pod["metadata"]["name"] = json!(format!("{name}-{node}"));
    if pod["metadata"].get("namespace").is_none() {
        pod["metadata"]["namespace"] = json!("default");
    }
    let seen = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let ann = &mut pod["metadata"]["annotations"];
    if !ann.is_object() {
        *ann = json!({});
    }
    ann["kubernetes.io/config.hash"] = json!(hash);
    ann["kubernetes.io/config.mirror"] = json!(hash);
    ann["kubernetes.io/config.seen"] = json!(seen);
    ann["kubernetes.io/config.source"] = json!("file");
    pod["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid, "controller": true
    }]);
    pod["spec"]["nodeName"] = json!(node);
    if let Some(m) = pod.as_object_mut() {
        m.remove("status");
    }
    pod
}

fn hash_of(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// What the kubelet last saw of one manifest: its content's hash and the mirror pod it made
/// (namespace, name).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    hash: String,
    pod: Option<(String, String)>,
}

/// File name → what was seen of it, for one directory.
type Seen = BTreeMap<String, Entry>;

fn read_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !e.path().is_file() {
            continue;
        }
        if let Ok(b) = std::fs::read(e.path()) {
            out.insert(name, b);
        }
    }
    out
}

/// Write the scenario's mirror pods as manifests and start watching them. Returns the task.
pub fn start(cluster: &Arc<Cluster>) -> tokio::task::JoinHandle<()> {
    let rt = cluster.store.rt("pods");
    let (pods, _) = cluster.store.list(&rt, None);
    let mut dirs: BTreeMap<String, Seen> = BTreeMap::new();
    for p in pods.iter().filter(|p| is_mirror_pod(p)) {
        let Some(node) = p["spec"]["nodeName"].as_str() else {
            continue;
        };
        let (name, manifest) = manifest_of(p);
        let dir = manifest_dir(cluster, node);
        let file = format!("{name}.yaml");
        let text = serde_yaml_ng::to_string(&manifest).unwrap_or_default();
        if std::fs::create_dir_all(&dir).is_ok()
            && std::fs::write(dir.join(&file), text.as_bytes()).is_ok()
        {
            let pod = (
                p["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .to_string(),
                p["metadata"]["name"].as_str().unwrap_or("").to_string(),
            );
            dirs.entry(node.to_string()).or_default().insert(
                file,
                Entry {
                    hash: hash_of(text.as_bytes()),
                    pod: Some(pod),
                },
            );
        }
    }
    let weak = Arc::downgrade(cluster);
    tokio::spawn(watch(weak, dirs))
}

async fn watch(weak: Weak<Cluster>, mut dirs: BTreeMap<String, Seen>) {
    if dirs.is_empty() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let Some(cluster) = weak.upgrade() else {
            return;
        };
        for (node, seen) in dirs.iter_mut() {
            sync_node(&cluster, node, seen);
        }
    }
}

/// One pass of the file source over `node`'s directory.
fn sync_node(cluster: &Cluster, node: &str, seen: &mut Seen) {
    // Each file hashed once per pass (the directory is polled every 500 ms).
    let files: BTreeMap<String, (String, Vec<u8>)> = read_dir(&manifest_dir(cluster, node))
        .into_iter()
        .map(|(f, b)| (f, (hash_of(&b), b)))
        .collect();
    let unchanged = files.len() == seen.len()
        && files
            .iter()
            .all(|(f, (h, _))| seen.get(f).is_some_and(|e| &e.hash == h));
    if unchanged {
        return;
    }
    let rt = cluster.store.rt("pods");
    // Gone or changed: the pod the old content made goes.
    let stale: Vec<String> = seen
        .iter()
        .filter(|(f, e)| files.get(*f).is_none_or(|(h, _)| h != &e.hash))
        .map(|(f, _)| f.clone())
        .collect();
    for f in stale {
        if let Some(Entry {
            pod: Some((ns, name)),
            ..
        }) = seen.remove(&f)
        {
            let _ = cluster
                .store
                .delete(&rt, Some(&ns), &name, &DeletePre::default());
        }
    }
    // New or changed: a pod of the new content (none when it does not parse).
    for (f, (hash, bytes)) in files {
        if seen.contains_key(&f) {
            continue;
        }
        let manifest = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|t| serde_yaml_ng::from_str::<Value>(t).ok())
            .filter(|v| v["kind"] == "Pod" && v["metadata"]["name"].is_string());
        let pod = manifest.and_then(|m| create_mirror(cluster, node, &m));
        seen.insert(f, Entry { hash, pod });
    }
}

/// Create the mirror pod of `manifest`; its namespace and name.
fn create_mirror(cluster: &Cluster, node: &str, manifest: &Value) -> Option<(String, String)> {
    let node_uid = cluster
        .store
        .get(&cluster.store.rt("nodes"), None, node)
        .ok()
        .and_then(|n| n["metadata"]["uid"].as_str().map(str::to_string))
        .unwrap_or_default();
    let canonical = serde_json::to_vec(manifest).unwrap_or_default();
    let pod = mirror_of(manifest, node, &node_uid, &hash_of(&canonical));
    let ns = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let name = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
    cluster
        .store
        .create(
            &cluster.store.rt("pods"),
            Some(&ns),
            pod,
            &WriteCtx::update("kubelet"),
        )
        .ok()?;
    Some((ns, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "kube-scheduler-node1", "namespace": "kube-system", "uid": "u",
                         "labels": {"component": "kube-scheduler", "tier": "control-plane"},
                         "annotations": {"kubernetes.io/config.hash": "h", "kubernetes.io/config.mirror": "h",
                                         "kubernetes.io/config.seen": "t", "kubernetes.io/config.source": "file"}},
            "spec": {"nodeName": "node1", "hostNetwork": true,
                     "containers": [{"name": "kube-scheduler", "command": ["kube-scheduler", "--bind-address=127.0.0.1"]}]},
            "status": {"phase": "Running"}
        })
    }

    #[test]
    fn manifests_and_mirrors_round_trip() {
        let (name, m) = manifest_of(&mirror());
        assert_eq!(name, "kube-scheduler");
        assert_eq!(m["metadata"]["name"], "kube-scheduler");
        assert!(m["metadata"].get("annotations").is_none(), "{m}");
        assert!(m["spec"].get("nodeName").is_none());
        assert!(m.get("status").is_none());
        let p = mirror_of(&m, "node1", "node-uid", "abc");
        assert_eq!(p["metadata"]["name"], "kube-scheduler-node1");
        assert_eq!(
            p["metadata"]["annotations"]["kubernetes.io/config.mirror"],
            "abc"
        );
        assert_eq!(
            p["metadata"]["annotations"]["kubernetes.io/config.source"],
            "file"
        );
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "Node");
        assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], "node-uid");
        assert_eq!(p["spec"]["nodeName"], "node1");
        assert!(is_mirror_pod(&p));
        assert_eq!(p["spec"]["containers"], mirror()["spec"]["containers"]);
    }
}
