//! Static pods on the real control plane: the kubelet's file source
//! (`pkg/kubelet/config/file.go`, `common.go` applyDefaults) and its mirror pods
//! (`pkg/kubelet/pod/mirror_client.go`), for a node whose root has
//! `etc/kubernetes/manifests/*.yaml` (kubeadm's `staticPodPath`).
//!
//! Each manifest is a pod of the node from the moment the agent starts, before its Node is
//! registered, as the kubelet runs kubeadm's control plane: named `<name>-<node>`, its UID and
//! `kubernetes.io/config.hash` a hash of the manifest and where it came from, `config.source:
//! file`, the NoExecute toleration. A pod worker (`pod.rs`) runs it: the real binary of its
//! image with the manifest's command line, in the node's host network (the cluster's namespace),
//! its hostPath volumes below the node's root. Its mirror pod is created through the API with the
//! node's identity once the Node exists (`config.mirror` = the hash, an ownerReference to the
//! Node, as NodeRestriction wants it); the worker writes the static pod's status there. A mirror
//! pod that is deleted, or whose hash is not the manifest's, is deleted (grace period 0, the UID
//! as precondition) and created anew.
//!
//! A changed manifest stops the pod (its processes get SIGTERM, SIGKILL after the grace period)
//! and deletes its mirror pod; the new pod starts once the old one is gone (a static pod of the
//! same full name waits for its predecessor: `pod_workers.go` allowStaticPodStart), and gets a
//! new mirror pod with the new hash. A manifest that does not parse, or is removed, removes the
//! pod. Files whose names start with `.` are ignored. The directory is read every 500 ms (the
//! kubelet uses inotify).
//!
//! Not done: mirror pods of this node without a manifest are left alone (the kubelet deletes
//! such orphans; here the scenario's kube-apiserver and etcd mirror pods are such, and stay).

use super::api::{ApiClient, status_code};
use super::pod::{MirrorUid, PodWorker, Runs, runs};
use super::{NodeSpec, Shared};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where a node's static pod manifests are, below its root (kubeadm's `staticPodPath`).
pub const MANIFESTS: &str = "etc/kubernetes/manifests";

/// Whether `pod` (a scenario's mirror pod) is one of the components the agent runs as a static
/// pod: kube-controller-manager and kube-scheduler (their built binaries).
pub fn is_static_component(pod: &Value) -> bool {
    crate::scenario::is_mirror_pod(pod)
        && pod["spec"]["containers"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                matches!(
                    runs(c["image"].as_str().unwrap_or("")),
                    Runs::ControllerManager | Runs::Scheduler
                )
            })
        })
}

/// FNV-1a, 128 bits (Go's `hash/fnv` New128a, the kubelet's static pod hash since 1.33).
pub fn fnv128a(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u128::from(*b)).wrapping_mul(PRIME))
}

/// The hash the kubelet gives a static pod read from `path` on `node`: the pod, then
/// `host:<node>` and `file:<path>` (`applyDefaults`). The pod is hashed as canonical JSON (keys
/// sorted), not as the kubelet's dump of its Go object: the same manifest gives the same hash,
/// any change a new one.
pub fn static_pod_hash(manifest: &Value, node: &str, path: &str) -> String {
    let mut bytes = serde_json::to_vec(manifest).unwrap_or_default();
    bytes.extend_from_slice(format!("host:{node}file:{path}").as_bytes());
    format!("{:032x}", fnv128a(&bytes))
}

/// The static pod the kubelet makes of `manifest` (`applyDefaults` and the config's
/// annotations): `<name>-<node>`, namespace `default` when it has none, bound to `node`, its UID
/// and `config.hash` the hash, `config.source: file`, `config.seen`, the NoExecute toleration,
/// phase Pending.
pub fn static_pod(manifest: &Value, node: &str, hash: &str) -> Value {
    let mut pod = manifest.clone();
    let name = manifest["metadata"]["name"].as_str().unwrap_or("");
    pod["metadata"]["name"] = json!(format!("{name}-{}", node.to_lowercase()));
    if !pod["metadata"]["namespace"].is_string() {
        pod["metadata"]["namespace"] = json!("default");
    }
    pod["metadata"]["uid"] = json!(hash);
    if !pod["metadata"]["annotations"].is_object() {
        pod["metadata"]["annotations"] = json!({});
    }
    let seen = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let ann = &mut pod["metadata"]["annotations"];
    ann["kubernetes.io/config.hash"] = json!(hash);
    ann["kubernetes.io/config.seen"] = json!(seen);
    ann["kubernetes.io/config.source"] = json!("file");
    pod["spec"]["nodeName"] = json!(node);
    let toleration = json!({"operator": "Exists", "effect": "NoExecute"});
    let tols = &mut pod["spec"]["tolerations"];
    if !tols.is_array() {
        *tols = json!([]);
    }
    if let Some(t) = tols.as_array_mut()
        && !t
            .iter()
            .any(|t| t["operator"] == "Exists" && t["effect"] == "NoExecute" && t["key"].is_null())
    {
        t.push(toleration);
    }
    pod["status"] = json!({"phase": "Pending"});
    pod
}

/// The mirror pod of `static_pod` on `node` (`CreateMirrorPod`): its annotations plus
/// `config.mirror` (the hash), an ownerReference to the Node (controller), no UID or status of
/// its own.
pub fn mirror_pod(static_pod: &Value, node: &str, node_uid: &str) -> Value {
    let mut pod = static_pod.clone();
    let hash = static_pod["metadata"]["annotations"]["kubernetes.io/config.hash"].clone();
    pod["metadata"]["annotations"]["kubernetes.io/config.mirror"] = hash;
    pod["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid, "controller": true
    }]);
    if let Some(m) = pod["metadata"].as_object_mut() {
        m.remove("uid");
    }
    if let Some(m) = pod.as_object_mut() {
        m.remove("status");
    }
    pod
}

/// A manifest's content as the file source takes it: a Pod with a name, or nothing.
pub fn parse_manifest(bytes: &[u8]) -> Option<Value> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| serde_yaml_ng::from_str::<Value>(t).ok())
        .filter(|v| v["kind"] == "Pod" && v["metadata"]["name"].is_string())
}

/// One running static pod.
struct Running {
    ns: String,
    name: String,
    hash: String,
    pod: Value,
    mirror: MirrorUid,
    tx: watch::Sender<Option<Value>>,
    task: Option<JoinHandle<()>>,
    next_mirror_check: Instant,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// What was seen of one manifest file: its bytes' hash, and its pod when it parsed.
struct Entry {
    bytes: u128,
    pod: Option<Running>,
}

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

/// The file source of `node`, whose root is `root`: runs until aborted.
pub(crate) async fn run(shared: Arc<Shared>, api: ApiClient, node: NodeSpec, root: PathBuf) {
    let dir = root.join(MANIFESTS);
    let log_file = root.join("var/log/kubelet-static-pods.log");
    let log = |msg: &str| {
        use std::io::Write;
        let _ = std::fs::create_dir_all(log_file.parent().unwrap_or(&root));
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_file)
        {
            let _ = writeln!(f, "{} {msg}", crate::store::now_rfc3339());
        }
    };
    let mut seen: BTreeMap<String, Entry> = BTreeMap::new();
    loop {
        let files = read_dir(&dir);
        // Gone or changed: the pod of the old content stops, its mirror pod goes.
        let stale: Vec<String> = seen
            .iter()
            .filter(|(f, e)| files.get(*f).is_none_or(|b| fnv128a(b) != e.bytes))
            .map(|(f, _)| f.clone())
            .collect();
        for f in stale {
            if let Some(Entry { pod: Some(r), .. }) = seen.remove(&f) {
                log(&format!(
                    "{f}: changed or removed: stopping {}/{}",
                    r.ns, r.name
                ));
                stop(&api, r).await;
            }
        }
        // New or changed: the pod of the new content (none when it does not parse).
        for (f, bytes) in &files {
            if seen.contains_key(f) {
                continue;
            }
            let path = format!("/{MANIFESTS}/{f}");
            let pod = match parse_manifest(bytes) {
                Some(m) => {
                    let hash = static_pod_hash(&m, &node.name, &path);
                    let pod = static_pod(&m, &node.name, &hash);
                    log(&format!(
                        "{f}: static pod {}/{} (hash {hash})",
                        pod["metadata"]["namespace"].as_str().unwrap_or(""),
                        pod["metadata"]["name"].as_str().unwrap_or("")
                    ));
                    Some(start(&shared, &api, &node, pod, hash))
                }
                None => {
                    log(&format!("{f}: not a pod manifest: skipped"));
                    None
                }
            };
            seen.insert(
                f.clone(),
                Entry {
                    bytes: fnv128a(bytes),
                    pod,
                },
            );
        }
        let due = seen.values().any(|e| {
            e.pod
                .as_ref()
                .is_some_and(|r| Instant::now() >= r.next_mirror_check)
        });
        // The node's pods as its informer sees them: a node may list the pods bound to it, not
        // get one by name before the Node authorizer's graph relates it to the node.
        let listed = if due {
            match node_pods(&api, &node.name).await {
                Ok(l) => Some(l),
                Err(msg) => {
                    log(&msg);
                    None
                }
            }
        } else {
            None
        };
        for e in seen.values_mut() {
            if let (Some(r), Some(listed)) = (e.pod.as_mut(), listed.as_ref())
                && Instant::now() >= r.next_mirror_check
            {
                let cur = listed.get(&(r.ns.clone(), r.name.clone())).cloned();
                if let Err(msg) = sync_mirror(&api, &node.name, r, cur).await {
                    log(&msg);
                }
                let ok = r.mirror.lock().unwrap_or_else(|p| p.into_inner()).is_some();
                r.next_mirror_check = Instant::now() + Duration::from_secs(if ok { 2 } else { 1 });
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn start(
    shared: &Arc<Shared>,
    api: &ApiClient,
    node: &NodeSpec,
    pod: Value,
    hash: String,
) -> Running {
    let mirror: MirrorUid = Arc::new(std::sync::Mutex::new(None));
    let (tx, rx) = watch::channel(Some(pod.clone()));
    let w = PodWorker::new_static(
        shared.clone(),
        api.clone(),
        node.clone(),
        pod.clone(),
        mirror.clone(),
    );
    let task = tokio::spawn(w.run(rx));
    Running {
        ns: pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string(),
        name: pod["metadata"]["name"].as_str().unwrap_or("").to_string(),
        hash,
        pod,
        mirror,
        tx,
        task: Some(task),
        next_mirror_check: Instant::now(),
    }
}

/// Stop a static pod and wait until its containers are gone; then delete its mirror pod.
async fn stop(api: &ApiClient, mut r: Running) {
    let _ = r.tx.send(None);
    if let Some(t) = r.task.take() {
        // The worker gives its containers their grace period (30 s for kubeadm's manifests).
        let abort = t.abort_handle();
        if tokio::time::timeout(Duration::from_secs(45), t)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    let uid = r.mirror.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(uid) = uid {
        delete_mirror(api, &r.ns, &r.name, &uid).await;
    }
}

/// The pods bound to `node`, by namespace and name.
async fn node_pods(
    api: &ApiClient,
    node: &str,
) -> Result<BTreeMap<(String, String), Value>, String> {
    let list = api
        .get(&format!(
            "/api/v1/pods?fieldSelector=spec.nodeName%3D{node}"
        ))
        .await
        .map_err(|e| format!("listing node {node}'s pods: {e:#}"))?
        .unwrap_or_default();
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let m = &p["metadata"];
            let k = |f: &str| m[f].as_str().unwrap_or("").to_string();
            ((k("namespace"), k("name")), p.clone())
        })
        .collect())
}

/// `DeleteMirrorPod`: grace period 0, the UID as precondition; NotFound and Conflict are fine.
async fn delete_mirror(api: &ApiClient, ns: &str, name: &str, uid: &str) {
    let _ = api
        .delete(
            &format!("/api/v1/namespaces/{ns}/pods/{name}"),
            &json!({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                    "preconditions": {"uid": uid}}),
        )
        .await;
}

/// Make the API's mirror pod of `r` (`cur`, as listed) the one of its current hash (kubelet.go
/// SyncPod's mirror pod handling): created when missing (once the Node exists), deleted and made anew when its
/// hash differs or it is being deleted.
async fn sync_mirror(
    api: &ApiClient,
    node: &str,
    r: &mut Running,
    cur: Option<Value>,
) -> Result<(), String> {
    let set = |uid: Option<String>| {
        *r.mirror.lock().unwrap_or_else(|p| p.into_inner()) = uid;
    };
    if let Some(m) = cur {
        let uid = m["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let hash = m["metadata"]["annotations"]["kubernetes.io/config.mirror"]
            .as_str()
            .unwrap_or("");
        if hash == r.hash && m["metadata"]["deletionTimestamp"].is_null() {
            set(Some(uid));
            return Ok(());
        }
        set(None);
        delete_mirror(api, &r.ns, &r.name, &uid).await;
        return Err(format!(
            "{}/{}: deleted the mirror pod {uid} (hash {hash:?}, the manifest's {})",
            r.ns, r.name, r.hash
        ));
    }
    set(None);
    let Some(n) = api
        .get(&format!("/api/v1/nodes/{node}"))
        .await
        .map_err(|e| format!("reading node {node}: {e:#}"))?
    else {
        // Not registered yet: the kubelet creates mirror pods once its Node exists.
        return Ok(());
    };
    let node_uid = n["metadata"]["uid"].as_str().unwrap_or("");
    let body = mirror_pod(&r.pod, node, node_uid);
    match api
        .post(&format!("/api/v1/namespaces/{}/pods", r.ns), &body)
        .await
    {
        Ok(created) => {
            set(created["metadata"]["uid"].as_str().map(str::to_string));
            Ok(())
        }
        Err(e) if status_code(&e) == Some(409) => Ok(()),
        Err(e) => Err(format!(
            "{}/{}: creating the mirror pod: {e:#}",
            r.ns, r.name
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "apiVersion: v1
kind: Pod
metadata:
  labels:
    component: kube-scheduler
    tier: control-plane
  name: kube-scheduler
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-scheduler
    - --bind-address=127.0.0.1
    - --kubeconfig=/etc/kubernetes/scheduler.conf
    image: registry.k8s.io/kube-scheduler:v1.33.1
    name: kube-scheduler
  hostNetwork: true
  tolerations:
  - effect: NoExecute
    operator: Exists
";

    #[test]
    fn fnv128a_is_gos() {
        // hash/fnv's test vectors for New128a.
        assert_eq!(fnv128a(b""), 0x6c62272e07bb014262b821756295c58d);
        assert_eq!(fnv128a(b"a"), 0xd228cb696f1a8caf78912b704e4a8964);
    }

    #[test]
    fn the_hash_follows_the_manifest_and_where_it_is() {
        let m = parse_manifest(MANIFEST.as_bytes()).unwrap();
        let path = "/etc/kubernetes/manifests/kube-scheduler.yaml";
        let h = static_pod_hash(&m, "node1", path);
        assert_eq!(h.len(), 32);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(h, static_pod_hash(&m, "node1", path), "stable");
        assert_ne!(h, static_pod_hash(&m, "node2", path), "per node");
        let edited = MANIFEST.replace("--bind-address=127.0.0.1", "--bind-address=0.0.0.0");
        let m2 = parse_manifest(edited.as_bytes()).unwrap();
        assert_ne!(
            h,
            static_pod_hash(&m2, "node1", path),
            "the edit changes it"
        );
        // Formatting alone does not: the content is hashed, not the bytes.
        let reformatted = serde_yaml_ng::to_string(&m).unwrap() + "\n# a comment\n";
        let m3 = parse_manifest(reformatted.as_bytes()).unwrap();
        assert_eq!(h, static_pod_hash(&m3, "node1", path));
    }

    #[test]
    fn static_and_mirror_pods_are_the_kubelets() {
        let m = parse_manifest(MANIFEST.as_bytes()).unwrap();
        let p = static_pod(&m, "Node1", "abc");
        assert_eq!(p["metadata"]["name"], "kube-scheduler-node1");
        assert_eq!(p["metadata"]["namespace"], "kube-system");
        assert_eq!(p["metadata"]["uid"], "abc");
        assert_eq!(
            p["metadata"]["annotations"]["kubernetes.io/config.hash"],
            "abc"
        );
        assert_eq!(
            p["metadata"]["annotations"]["kubernetes.io/config.source"],
            "file"
        );
        assert_eq!(p["spec"]["nodeName"], "Node1");
        assert_eq!(
            p["spec"]["tolerations"].as_array().unwrap().len(),
            1,
            "the NoExecute toleration is there once"
        );
        assert_eq!(p["status"]["phase"], "Pending");
        let mp = mirror_pod(&p, "Node1", "node-uid");
        assert_eq!(
            mp["metadata"]["annotations"]["kubernetes.io/config.mirror"],
            "abc"
        );
        assert_eq!(
            mp["metadata"]["ownerReferences"],
            json!([{"apiVersion": "v1", "kind": "Node", "name": "Node1", "uid": "node-uid", "controller": true}])
        );
        assert!(mp["metadata"].get("uid").is_none());
        assert!(mp.get("status").is_none());
        assert!(is_static_component(&mp));
        assert!(crate::scenario::is_mirror_pod(&mp));
        // A pod without a namespace goes to default; one without tolerations gets the kubelet's.
        let bare = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
                          "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        let p = static_pod(&bare, "n", "h");
        assert_eq!(p["metadata"]["namespace"], "default");
        assert_eq!(
            p["spec"]["tolerations"],
            json!([{"operator": "Exists", "effect": "NoExecute"}])
        );
        assert!(!is_static_component(&mirror_pod(&p, "n", "u")));
    }

    #[test]
    fn only_pod_manifests_parse() {
        assert!(parse_manifest(b"kind: Pod\nmetadata: {name: x}\n").is_some());
        assert!(parse_manifest(b"kind: Pod\nmetadata: {}\n").is_none());
        assert!(parse_manifest(b"kind: Service\nmetadata: {name: x}\n").is_none());
        assert!(parse_manifest(b"kind: Pod\n  metadata: [\n").is_none());
        assert!(parse_manifest(&[0xff, 0xfe]).is_none());
    }
}
