//! The kubelet: per-pod root directories where each pod's volumes are files (secret volumes: one
//! file per key, decoded bytes), the pod's processes (the real Prometheus for container
//! `prometheus`), pod status (Ready after a configurable delay), and `/configz` per node.
//!
//! How it behaves, as the real kubelet does:
//! * Every pod in the store runs (whatever its node): it gets a pod IP 127.NET.1.x (never shared
//!   with another running pod; `hostNetwork` pods use the host IP) and a root
//!   `Cluster::dir/pods/<ns>_<name>_<uid>/`.
//! * Volumes: `secret`, `configMap` and `projected` (secrets, configMaps, downwardAPI,
//!   serviceAccountToken) are written with the kubelet's atomic writer layout
//!   (`..<timestamp>/` + `..data` symlink + one symlink per key: `ls` shows the keys, `ls -a` the
//!   dot entries), honouring `items`, `defaultMode`, item `mode` and `optional`; `emptyDir` and
//!   PVCs are plain directories; `hostPath` is below the node's root `Cluster::dir/nodes/<node>/`.
//!   A missing non-optional Secret or ConfigMap keeps the pod `ContainerCreating` until it
//!   appears. Secret/ConfigMap changes reach running pods' files within a second; `subPath`
//!   mounts never change (they are copied when the container starts), and volumes added to the
//!   spec of an existing pod never appear (pods are immutable).
//! * Container `prometheus` runs the real Prometheus (Debian `prometheus`) in bubblewrap with the
//!   container's args, listening on `<podIP>:9090`. A `config-reloader` container is simulated:
//!   `prometheus.yaml.gz` of the config volume is decompressed (and `$(VAR)` expanded) into the
//!   envsubst file before Prometheus starts and on every change, followed by `POST /-/reload`.
//! * Status (manager `kubelet`, status subresource): phase, hostIP, podIP, startTime,
//!   conditions, containerStatuses; the pod is Ready once Prometheus answers `/-/ready` and the
//!   not-ready delay (`Kubelet::not_ready_delay`, or the pod's annotation
//!   `promfix.test/not-ready-seconds`) has passed since its containers started.
//! * `promfix.test/no-shell: "<container>,..."` on a pod marks containers whose image has no
//!   shell (`PodView::has_shell` false); images from registry.k8s.io or distroless have none.
//! * A deleted pod's processes are stopped (SIGTERM, then SIGKILL), its views dropped and its root
//!   removed. Aborting the task returned by `spawn` (or dropping the cluster) stops everything.

use crate::cluster::Cluster;
use crate::peers::prometheus::Prometheus;
use crate::store::{EventKind, WriteCtx, now_rfc3339};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};

/// One volume mount of a container: a host directory (under the pod root) seen at `container_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host_path: PathBuf,
    pub container_path: String,
    pub read_only: bool,
}

/// What a container of a running pod looks like from the inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub namespace: String,
    pub pod: String,
    pub uid: String,
    pub container: String,
    /// The pod's own directory (volumes, Prometheus data) under the cluster dir.
    pub root: PathBuf,
    pub mounts: Vec<Mount>,
    /// The pod IP (127.NET.1.x): the pod's Prometheus listens on `ip:web_port`.
    pub ip: Ipv4Addr,
    /// The image ships a shell and busybox tools (false: a distroless image; exec of `sh` fails).
    pub has_shell: bool,
}

/// Where the service-discovery files of a Prometheus pod live, next to its config: a dot
/// directory, so `ls` in the pod shows what a real pod shows.
pub const SD_DIR: &str = "..promfix-discovery";

/// The kubelet of every node of one cluster.
#[derive(Debug, Default)]
pub struct Kubelet {
    /// Running pods' container views, by (namespace, pod, container).
    pub views: Mutex<HashMap<(String, String, String), PodView>>,
    /// Each node's kubelet configuration (`KubeletConfiguration` as JSON), served at
    /// `nodes/{node}/proxy/configz` as `{"kubeletconfig": ...}`. Filled from the scenario.
    pub configz: Mutex<HashMap<String, serde_json::Value>>,
    /// How long a pod stays not Ready after its containers started (default 0): Ready=True needs
    /// both Prometheus answering `/-/ready` and this delay passed.
    pub not_ready_delay: Mutex<Duration>,
    /// Process ids (of the bwrap process) of running containers, by (namespace, pod, container).
    pub pids: Mutex<HashMap<(String, String, String), u32>>,
    /// The last volume setup failure of a pod still waiting for it, by (namespace, pod), as the
    /// kubelet's FailedMount event says it (`MountVolume.SetUp failed for volume "x" : secret
    /// "y" not found`).
    pub mount_errors: Mutex<HashMap<(String, String), String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Kubelet {
    pub fn new() -> Self {
        Kubelet::default()
    }

    /// The view of a container of a running pod, if the kubelet runs it.
    pub fn view(&self, namespace: &str, pod: &str, container: &str) -> Option<PodView> {
        self.views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(
                namespace.to_string(),
                pod.to_string(),
                container.to_string(),
            ))
            .cloned()
    }

    /// Set the not-ready delay for pods whose containers start from now on.
    pub fn set_not_ready_delay(&self, d: Duration) {
        *lock(&self.not_ready_delay) = d;
    }

    /// The process id of a running container's process (bwrap), if it runs one.
    pub fn pid(&self, namespace: &str, pod: &str, container: &str) -> Option<u32> {
        lock(&self.pids)
            .get(&(
                namespace.to_string(),
                pod.to_string(),
                container.to_string(),
            ))
            .copied()
    }

    /// Why a pod is still `ContainerCreating`, if a volume cannot be set up.
    pub fn mount_error(&self, namespace: &str, pod: &str) -> Option<String> {
        lock(&self.mount_errors)
            .get(&(namespace.to_string(), pod.to_string()))
            .cloned()
    }
}

/// The log file (stdout and stderr) of a container of a running pod.
pub fn log_path(view: &PodView) -> PathBuf {
    view.root
        .join("logs")
        .join(format!("{}.log", view.container))
}

/// The filesystem root of a node: `hostPath` volumes (and node-side files such as the etcd PKI
/// of `peers::certs::generate(.., &cluster.dir.join("nodes"))`) live below it.
pub fn node_root(cluster: &Cluster, node: &str) -> PathBuf {
    cluster.dir.join("nodes").join(node)
}

/// The command that runs `argv` inside the container's mount view: the host's root read-only,
/// a private /tmp, `/etc/prometheus` replaced by an empty tmpfs, and each volume bound at its
/// container path. The process dies with its parent. Nothing on the host outside `view.root`
/// is written.
///
/// The host root is bound one top-level entry at a time onto bwrap's own (tmpfs) root, so mount
/// points that do not exist on the host (`/prometheus`) can be created. A mount point below a
/// host directory where it does not exist (`/etc/ssl/etcd` when the host has only `/etc/ssl`)
/// gets that directory mirrored: a tmpfs with each of the host's entries bound back read-only.
/// Mounts are bound parents first.
pub fn bwrap_command(view: &PodView, argv: &[String]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("bwrap");
    c.arg("--die-with-parent");
    mirror_dir(&mut c, Path::new("/"), &["proc", "dev", "tmp"]);
    let dests: Vec<(PathBuf, &Mount)> = view
        .mounts
        .iter()
        .map(|m| (resolve_dest(&m.container_path), m))
        .collect();
    let mut mirrors = BTreeSet::new();
    for (d, _) in &dests {
        if let Some(a) = dir_to_mirror(d) {
            mirrors.insert(a);
        }
    }
    let mut mirrors: Vec<PathBuf> = mirrors.into_iter().collect();
    mirrors.sort_by_key(|p| p.components().count());
    for d in &mirrors {
        c.arg("--tmpfs").arg(d);
        mirror_dir(&mut c, d, &[]);
    }
    c.args(["--dev", "/dev", "--proc", "/proc"]);
    c.args(["--tmpfs", "/tmp", "--tmpfs", "/etc/prometheus"]);
    let mut dests = dests;
    dests.sort_by_key(|(d, _)| d.components().count());
    for (d, m) in dests {
        let flag = if m.read_only { "--ro-bind" } else { "--bind" };
        c.arg(flag).arg(&m.host_path).arg(d);
    }
    c.arg("--chdir").arg("/");
    c.arg("--");
    c.args(argv);
    c.kill_on_drop(true);
    c
}

/// Bind every entry of the host directory `dir` at the same place, read-only (symlinks as
/// symlinks), except `skip`.
fn mirror_dir(c: &mut tokio::process::Command, dir: &Path, skip: &[&str]) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).collect())
        .unwrap_or_default();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        if skip.iter().any(|s| name.to_string_lossy() == *s) {
            continue;
        }
        let host = dir.join(&name);
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(&host) {
                    c.arg("--symlink").arg(target).arg(&host);
                }
            }
            Ok(_) => {
                c.arg("--ro-bind").arg(&host).arg(&host);
            }
            Err(_) => {}
        }
    }
}

/// `container_path` with the host's symlinks in its existing part resolved (`/var/run/x` ->
/// `/run/x`): bwrap creates mount points outside the final root, where an absolute symlink
/// would lead astray.
fn resolve_dest(container_path: &str) -> PathBuf {
    let p = Path::new(container_path);
    let mut a = p;
    loop {
        if std::fs::symlink_metadata(a).is_ok() {
            break;
        }
        match a.parent() {
            Some(parent) => a = parent,
            None => return p.to_path_buf(),
        }
    }
    let Ok(real) = std::fs::canonicalize(a) else {
        return p.to_path_buf();
    };
    match p.strip_prefix(a) {
        Ok(rest) if !rest.as_os_str().is_empty() => real.join(rest),
        _ => real,
    }
}

/// The host directory to mirror so that `dest` (resolved) can be created: its deepest existing
/// ancestor, when that is a real directory of the read-only host root (not `/`, `/tmp`,
/// `/etc/prometheus` or below, which are writable in the sandbox).
fn dir_to_mirror(dest: &Path) -> Option<PathBuf> {
    if std::fs::symlink_metadata(dest).is_ok() {
        return None;
    }
    let mut a = dest.parent()?;
    while std::fs::symlink_metadata(a).is_err() {
        a = a.parent()?;
    }
    let writable = |d: &Path| {
        d == Path::new("/")
            || d.starts_with("/tmp")
            || d.starts_with("/etc/prometheus")
            || d.starts_with("/dev")
            || d.starts_with("/proc")
    };
    if writable(a) || !std::fs::symlink_metadata(a).is_ok_and(|m| m.is_dir()) {
        return None;
    }
    Some(a.to_path_buf())
}

// ---------------------------------------------------------------------------------------------
// The atomic writer (pkg/volume/util/atomic_writer.go)

/// Files of a volume: relative path → (bytes, mode).
pub type Payload = BTreeMap<String, (Vec<u8>, u32)>;

static TS_SEQ: AtomicU64 = AtomicU64::new(1);

fn validate_path(p: &str) -> Result<(), String> {
    // atomic_writer.go validatePath
    if p.is_empty() {
        return Err(format!("invalid path: must not be empty: {p:?}"));
    }
    if p.starts_with('/') {
        return Err(format!("invalid path: must be relative path: {p}"));
    }
    let items: Vec<&str> = p.split('/').collect();
    if items.contains(&"..") {
        return Err(format!("invalid path: must not contain '..': {p}"));
    }
    if items[0].starts_with("..") && items[0].len() > 2 {
        return Err(format!("invalid path: must not start with '..': {p}"));
    }
    Ok(())
}

fn walk_rel(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        let p = e.path();
        if let Ok(rel) = p.strip_prefix(base) {
            out.insert(rel.to_string_lossy().into_owned());
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk_rel(base, &p, out);
        }
    }
}

/// Project `payload` into `dir` as the kubelet does: files in a fresh `..<timestamp>.<n>`
/// directory, `..data` switched to it by renaming `..data_tmp`, one visible symlink per top-level
/// name (`key -> ..data/key`), vanished names removed, the old timestamp directory removed.
/// Returns whether anything was written.
pub fn atomic_write(dir: &Path, payload: &Payload) -> std::io::Result<bool> {
    use std::os::unix::fs::{PermissionsExt, symlink};
    for k in payload.keys() {
        validate_path(k).map_err(std::io::Error::other)?;
    }
    std::fs::create_dir_all(dir)?;
    let data = dir.join("..data");
    let old_ts = std::fs::read_link(&data).ok();
    let mut to_remove = BTreeSet::new();
    let mut should_write = true;
    if let Some(old) = &old_ts {
        let old_path = dir.join(old);
        let mut old_paths = BTreeSet::new();
        walk_rel(&old_path, &old_path, &mut old_paths);
        let mut new_paths = BTreeSet::new();
        for k in payload.keys() {
            let mut p = k.as_str();
            loop {
                new_paths.insert(p.to_string());
                match p.rfind('/') {
                    Some(i) => p = &p[..i],
                    None => break,
                }
            }
        }
        to_remove = old_paths.difference(&new_paths).cloned().collect();
        // shouldWritePayload: only contents count.
        should_write = payload
            .iter()
            .any(|(k, (bytes, _))| std::fs::read(old_path.join(k)).ok().as_ref() != Some(bytes));
    }
    let wrote = should_write || !to_remove.is_empty();
    if wrote {
        let now = time::OffsetDateTime::now_utc();
        let ts_name = format!(
            "..{}.{}",
            now.format(&time::macros::format_description!(
                "[year]_[month]_[day]_[hour]_[minute]_[second]"
            ))
            .unwrap_or_default(),
            (now.nanosecond() as u64 * 7 + TS_SEQ.fetch_add(1, Ordering::Relaxed)) % 10_000_000_000
        );
        let ts = dir.join(&ts_name);
        std::fs::create_dir(&ts)?;
        std::fs::set_permissions(&ts, std::fs::Permissions::from_mode(0o755))?;
        for (k, (bytes, mode)) in payload {
            let full = ts.join(k);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&full, bytes)?;
            std::fs::set_permissions(&full, std::fs::Permissions::from_mode(*mode & 0o7777))?;
        }
        let tmp = dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        symlink(&ts_name, &tmp)?;
        std::fs::rename(&tmp, &data)?;
    }
    for k in payload.keys() {
        let first = k.split('/').next().unwrap_or(k);
        let visible = dir.join(first);
        if std::fs::symlink_metadata(&visible).is_err() {
            symlink(Path::new("..data").join(first), &visible)?;
        }
    }
    for p in &to_remove {
        let visible = dir.join(p);
        if let Ok(m) = std::fs::symlink_metadata(&visible) {
            if m.is_dir() {
                std::fs::remove_dir_all(&visible)?;
            } else {
                std::fs::remove_file(&visible)?;
            }
        }
    }
    if wrote && let Some(old) = old_ts {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(wrote)
}

// ---------------------------------------------------------------------------------------------
// Volume payloads (pkg/volume/secret, configmap, projected)

pub(crate) fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn mode_of(v: &Value, k: &str) -> Option<u32> {
    v.get(k).and_then(Value::as_u64).map(|m| m as u32)
}

/// Decoded `data` (+ `stringData`, should a writer have left it) of a Secret.
pub(crate) fn secret_data(secret: &Value) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if let Some(d) = secret.get("data").and_then(Value::as_object) {
        for (k, v) in d {
            let b = v.as_str().unwrap_or("");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_else(|_| b.as_bytes().to_vec());
            out.insert(k.clone(), bytes);
        }
    }
    if let Some(d) = secret.get("stringData").and_then(Value::as_object) {
        for (k, v) in d {
            out.insert(k.clone(), v.as_str().unwrap_or("").as_bytes().to_vec());
        }
    }
    out
}

pub(crate) fn configmap_data(cm: &Value) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if let Some(d) = cm.get("data").and_then(Value::as_object) {
        for (k, v) in d {
            out.insert(k.clone(), v.as_str().unwrap_or("").as_bytes().to_vec());
        }
    }
    if let Some(d) = cm.get("binaryData").and_then(Value::as_object) {
        for (k, v) in d {
            let b = v.as_str().unwrap_or("");
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b) {
                out.insert(k.clone(), bytes);
            }
        }
    }
    out
}

/// `items` mapping (secret.go / configmap.go MakePayload): without items every key with the
/// default mode; with items only those, a missing key fails unless optional.
pub(crate) fn map_items(
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<Value>>,
    default_mode: u32,
    optional: bool,
    missing_key: impl Fn(&str) -> String,
    out: &mut Payload,
) -> Result<(), String> {
    // secret.go MakePayload: `len(mappings) == 0` projects every key.
    match items.filter(|i| !i.is_empty()) {
        None => {
            for (k, v) in data {
                out.insert(k.clone(), (v.clone(), default_mode));
            }
        }
        Some(items) => {
            for it in items {
                let key = s(it, "key");
                let Some(content) = data.get(key) else {
                    if optional {
                        continue;
                    }
                    return Err(missing_key(key));
                };
                let path = s(it, "path");
                let path = if path.is_empty() { key } else { path };
                out.insert(
                    path.to_string(),
                    (content.clone(), mode_of(it, "mode").unwrap_or(default_mode)),
                );
            }
        }
    }
    Ok(())
}

pub(crate) struct PodFacts<'a> {
    pub(crate) pod: &'a Value,
    pub(crate) ip: Ipv4Addr,
    pub(crate) host_ip: Ipv4Addr,
}

pub(crate) fn field_ref(facts: &PodFacts<'_>, path: &str) -> Option<String> {
    let meta = &facts.pod["metadata"];
    let bracket = |prefix: &str| -> Option<String> {
        let rest = path.strip_prefix(prefix)?;
        let key = rest
            .trim_start_matches("['")
            .trim_end_matches("']")
            .to_string();
        Some(key)
    };
    Some(match path {
        "metadata.name" => s(meta, "name").to_string(),
        "metadata.namespace" => s(meta, "namespace").to_string(),
        "metadata.uid" => s(meta, "uid").to_string(),
        "spec.nodeName" => s(&facts.pod["spec"], "nodeName").to_string(),
        "spec.serviceAccountName" => s(&facts.pod["spec"], "serviceAccountName").to_string(),
        "status.podIP" => facts.ip.to_string(),
        "status.hostIP" => facts.host_ip.to_string(),
        "metadata.labels" | "metadata.annotations" => {
            let m = meta
                .get(path.trim_start_matches("metadata."))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            m.iter()
                .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("\n")
        }
        _ => {
            if let Some(k) = bracket("metadata.labels") {
                s(&meta["labels"], &k).to_string()
            } else if let Some(k) = bracket("metadata.annotations") {
                s(&meta["annotations"], &k).to_string()
            } else {
                return None;
            }
        }
    })
}

/// A kind of volume and where it lives under the pod root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VolKind {
    Secret,
    ConfigMap,
    Projected,
    DownwardApi,
    EmptyDir,
    HostPath,
    Pvc,
    Other,
}

impl VolKind {
    fn of(v: &Value) -> VolKind {
        if v.get("secret").is_some() {
            VolKind::Secret
        } else if v.get("configMap").is_some() {
            VolKind::ConfigMap
        } else if v.get("projected").is_some() {
            VolKind::Projected
        } else if v.get("downwardAPI").is_some() {
            VolKind::DownwardApi
        } else if v.get("emptyDir").is_some() {
            VolKind::EmptyDir
        } else if v.get("hostPath").is_some() {
            VolKind::HostPath
        } else if v.get("persistentVolumeClaim").is_some() {
            VolKind::Pvc
        } else {
            VolKind::Other
        }
    }
    fn plugin_dir(&self) -> &'static str {
        match self {
            VolKind::Secret => "kubernetes.io~secret",
            VolKind::ConfigMap => "kubernetes.io~configmap",
            VolKind::Projected => "kubernetes.io~projected",
            VolKind::DownwardApi => "kubernetes.io~downward-api",
            VolKind::EmptyDir => "kubernetes.io~empty-dir",
            VolKind::HostPath => "kubernetes.io~host-path",
            VolKind::Pvc => "kubernetes.io~csi",
            VolKind::Other => "kubernetes.io~other",
        }
    }
    /// Written by the atomic writer and always mounted read-only.
    fn atomic(&self) -> bool {
        matches!(
            self,
            VolKind::Secret | VolKind::ConfigMap | VolKind::Projected | VolKind::DownwardApi
        )
    }
}

/// The payload of an atomic-writer volume, or why it cannot be set up (the FailedMount text).
fn volume_payload(cluster: &Cluster, facts: &PodFacts<'_>, vol: &Value) -> Result<Payload, String> {
    let ns = s(&facts.pod["metadata"], "namespace");
    let name = s(vol, "name");
    let failed = |why: String| format!("MountVolume.SetUp failed for volume \"{name}\" : {why}");
    let get = |plural: &str, obj: &str| -> Option<Value> {
        cluster
            .store
            .get(&cluster.store.rt(plural), Some(ns), obj)
            .ok()
    };
    let mut out = Payload::new();
    match VolKind::of(vol) {
        VolKind::Secret => {
            let src = &vol["secret"];
            let sname = s(src, "secretName");
            let optional = src.get("optional").and_then(Value::as_bool) == Some(true);
            let mode = mode_of(src, "defaultMode").unwrap_or(0o644);
            match get("secrets", sname) {
                Some(sec) => map_items(
                    &secret_data(&sec),
                    src.get("items").and_then(Value::as_array),
                    mode,
                    optional,
                    |k| failed(format!("references non-existent secret key: {k}")),
                    &mut out,
                )?,
                None if optional => {}
                None => return Err(failed(format!("secret \"{sname}\" not found"))),
            }
        }
        VolKind::ConfigMap => {
            let src = &vol["configMap"];
            let cname = s(src, "name");
            let optional = src.get("optional").and_then(Value::as_bool) == Some(true);
            let mode = mode_of(src, "defaultMode").unwrap_or(0o644);
            match get("configmaps", cname) {
                Some(cm) => map_items(
                    &configmap_data(&cm),
                    src.get("items").and_then(Value::as_array),
                    mode,
                    optional,
                    |k| failed(format!("configmap references non-existent config key: {k}")),
                    &mut out,
                )?,
                None if optional => {}
                None => return Err(failed(format!("configmap \"{cname}\" not found"))),
            }
        }
        VolKind::DownwardApi => {
            let src = &vol["downwardAPI"];
            let mode = mode_of(src, "defaultMode").unwrap_or(0o644);
            downward_items(facts, src.get("items"), mode, &mut out);
        }
        VolKind::Projected => {
            // projected.go collectData: failures are collected and reported together
            // (utilerrors.NewAggregate: one error as is, several as `[a, b]`).
            let src = &vol["projected"];
            let mode = mode_of(src, "defaultMode").unwrap_or(0o644);
            let mut errs: Vec<String> = Vec::new();
            for source in src
                .get("sources")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                if let Some(sp) = source.get("secret") {
                    let sname = s(sp, "name");
                    let optional = sp.get("optional").and_then(Value::as_bool) == Some(true);
                    match get("secrets", sname) {
                        Some(sec) => {
                            if let Err(e) = map_items(
                                &secret_data(&sec),
                                sp.get("items").and_then(Value::as_array),
                                mode,
                                optional,
                                |k| format!("references non-existent secret key: {k}"),
                                &mut out,
                            ) {
                                errs.push(e);
                            }
                        }
                        None if optional => {}
                        None => errs.push(format!("secret \"{sname}\" not found")),
                    }
                } else if let Some(cp) = source.get("configMap") {
                    let cname = s(cp, "name");
                    let optional = cp.get("optional").and_then(Value::as_bool) == Some(true);
                    match get("configmaps", cname) {
                        Some(cm) => {
                            if let Err(e) = map_items(
                                &configmap_data(&cm),
                                cp.get("items").and_then(Value::as_array),
                                mode,
                                optional,
                                |k| format!("configmap references non-existent config key: {k}"),
                                &mut out,
                            ) {
                                errs.push(e);
                            }
                        }
                        None if optional => {}
                        None => errs.push(format!("configmap \"{cname}\" not found")),
                    }
                } else if let Some(dp) = source.get("downwardAPI") {
                    downward_items(facts, dp.get("items"), mode, &mut out);
                } else if let Some(tp) = source.get("serviceAccountToken") {
                    let path = s(tp, "path");
                    let path = if path.is_empty() { "token" } else { path };
                    // A placeholder token: the test cluster's API server knows its own tokens.
                    out.insert(
                        path.to_string(),
                        (
                            format!(
                                "kubelet-projected-token-{}",
                                s(&facts.pod["metadata"], "uid")
                            )
                            .into_bytes(),
                            mode,
                        ),
                    );
                }
            }
            match errs.len() {
                0 => {}
                1 => return Err(failed(errs.remove(0))),
                _ => return Err(failed(format!("[{}]", errs.join(", ")))),
            }
        }
        _ => {}
    }
    Ok(out)
}

pub(crate) fn downward_items(
    facts: &PodFacts<'_>,
    items: Option<&Value>,
    mode: u32,
    out: &mut Payload,
) {
    for it in items.and_then(Value::as_array).cloned().unwrap_or_default() {
        let path = s(&it, "path");
        let fp = it
            .get("fieldRef")
            .map(|f| s(f, "fieldPath").to_string())
            .unwrap_or_default();
        if let Some(v) = field_ref(facts, &fp) {
            out.insert(
                path.to_string(),
                (v.into_bytes(), mode_of(&it, "mode").unwrap_or(mode)),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The pod runtime

/// Pod IPs 127.NET.1.x.
struct IpAlloc {
    net: u8,
    next: u8,
    used: HashSet<Ipv4Addr>,
}

impl IpAlloc {
    fn alloc(&mut self) -> Option<Ipv4Addr> {
        for _ in 0..253 {
            let x = self.next;
            self.next = if self.next >= 254 { 2 } else { self.next + 1 };
            let ip = Ipv4Addr::new(127, self.net, 1, x);
            if !self.used.contains(&ip) {
                self.used.insert(ip);
                return Some(ip);
            }
        }
        None
    }
}

enum PodMsg {
    /// Secrets / ConfigMaps of the namespace changed: refresh the volume files.
    Refresh,
    /// Stop the processes; answer when they are gone.
    Stop(oneshot::Sender<()>),
}

struct PodHandle {
    ns: String,
    name: String,
    uid: String,
    ip: Ipv4Addr,
    owns_ip: bool,
    root: PathBuf,
    /// The pod runs a config-reloader, so it rewrites its service-discovery files on changes.
    discovers: bool,
    /// The Secrets and ConfigMaps its volumes read (`("secrets" | "configmaps", name)`).
    refs: HashSet<(String, String)>,
    tx: mpsc::UnboundedSender<PodMsg>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PodHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start the kubelet of every node: it runs the cluster's pods until the returned task is
/// aborted or the cluster dropped.
pub fn spawn(cluster: Arc<Cluster>) -> tokio::task::JoinHandle<()> {
    let rx = cluster.store.subscribe();
    let weak = Arc::downgrade(&cluster);
    drop(cluster);
    tokio::spawn(run(weak, rx))
}

struct Runtime {
    weak: Weak<Cluster>,
    pods: HashMap<String, PodHandle>,
    ips: IpAlloc,
}

async fn run(weak: Weak<Cluster>, mut rx: tokio::sync::broadcast::Receiver<crate::store::Event>) {
    let Some(net) = weak.upgrade().map(|c| c.net) else {
        return;
    };
    let mut rt = Runtime {
        weak,
        pods: HashMap::new(),
        ips: IpAlloc {
            net,
            next: 2,
            used: HashSet::new(),
        },
    };
    rt.resync().await;
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) => rt.event(ev).await,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => rt.resync().await,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            _ = tick.tick() => {
                if rt.weak.strong_count() == 0 {
                    break;
                }
                // The kubelet's periodic sync: volumes catch up with anything missed. Pods
                // running Prometheus every 2 s; the others (thousands of kube-proxy pods on a
                // large cluster) every 30 s, as changes reach them through events anyway.
                ticks += 1;
                let all = ticks.is_multiple_of(15);
                for p in rt.pods.values().filter(|p| all || p.discovers) {
                    let _ = p.tx.send(PodMsg::Refresh);
                }
            }
        }
    }
    for (_, p) in rt.pods.drain() {
        stop_pod(&rt.weak, p).await;
    }
}

impl Runtime {
    async fn resync(&mut self) {
        let Some(cluster) = self.weak.upgrade() else {
            return;
        };
        let (pods, _) = cluster.store.list(&cluster.store.rt("pods"), None);
        let live: HashSet<String> = pods
            .iter()
            .map(|p| s(&p["metadata"], "uid").to_string())
            .collect();
        drop(cluster);
        let gone: Vec<String> = self
            .pods
            .keys()
            .filter(|u| !live.contains(*u))
            .cloned()
            .collect();
        for u in gone {
            if let Some(p) = self.pods.remove(&u) {
                self.stop(p).await;
            }
        }
        for p in pods {
            self.start(&p);
        }
        for p in self.pods.values() {
            let _ = p.tx.send(PodMsg::Refresh);
        }
    }

    async fn event(&mut self, ev: crate::store::Event) {
        match ev.resource.as_str() {
            "pods" => {
                let uid = s(&ev.object["metadata"], "uid").to_string();
                match ev.kind {
                    EventKind::Added | EventKind::Modified => self.start(&ev.object),
                    EventKind::Deleted => {
                        if let Some(p) = self.pods.remove(&uid) {
                            self.stop(p).await;
                        }
                    }
                }
            }
            "secrets" | "configmaps" => {
                let ns = ev.namespace.unwrap_or_default();
                let key = (
                    ev.resource.clone(),
                    s(&ev.object["metadata"], "name").to_string(),
                );
                for p in self
                    .pods
                    .values()
                    .filter(|p| p.ns == ns && p.refs.contains(&key))
                {
                    let _ = p.tx.send(PodMsg::Refresh);
                }
            }
            // What service discovery sees changed: Prometheus pods rewrite their target files.
            "endpoints" | "endpointslices.discovery.k8s.io" | "services" => {
                for p in self.pods.values().filter(|p| p.discovers) {
                    let _ = p.tx.send(PodMsg::Refresh);
                }
            }
            _ => {}
        }
    }

    fn start(&mut self, pod: &Value) {
        let uid = s(&pod["metadata"], "uid").to_string();
        if uid.is_empty() || self.pods.contains_key(&uid) {
            return;
        }
        let Some(cluster) = self.weak.upgrade() else {
            return;
        };
        let ns = s(&pod["metadata"], "namespace").to_string();
        let name = s(&pod["metadata"], "name").to_string();
        let host_ip = host_ip_of(&cluster, pod);
        let host_network = pod["spec"].get("hostNetwork").and_then(Value::as_bool) == Some(true);
        let (ip, owns_ip) = if host_network {
            (host_ip, false)
        } else {
            // A pod IP the scenario gave (already moved to 127.NET) is kept when free.
            let given = pod["status"]
                .get("podIP")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<Ipv4Addr>().ok())
                .filter(|ip| ip.octets()[0] == 127 && ip.octets()[1] == cluster.net);
            match given {
                Some(ip) if !self.ips.used.contains(&ip) => {
                    self.ips.used.insert(ip);
                    (ip, true)
                }
                _ => match self.ips.alloc() {
                    Some(ip) => (ip, true),
                    None => return,
                },
            }
        };
        let root = cluster.dir.join("pods").join(format!("{ns}_{name}_{uid}"));
        let discovers = pod["spec"]["containers"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["name"] == "config-reloader"));
        let refs = volume_refs(pod);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(pod_main(
            self.weak.clone(),
            pod.clone(),
            ip,
            host_ip,
            root.clone(),
            rx,
        ));
        self.pods.insert(
            uid.clone(),
            PodHandle {
                ns,
                name,
                uid,
                ip,
                owns_ip,
                root,
                discovers,
                refs,
                tx,
                task,
            },
        );
    }

    async fn stop(&mut self, p: PodHandle) {
        let ip = p.ip;
        let owns = p.owns_ip;
        stop_pod(&self.weak, p).await;
        if owns {
            self.ips.used.remove(&ip);
        }
    }
}

/// The Secrets and ConfigMaps the volumes of `pod` read, directly or through projections.
fn volume_refs(pod: &Value) -> HashSet<(String, String)> {
    let mut out = HashSet::new();
    let mut add = |kind: &str, name: &str| {
        if !name.is_empty() {
            out.insert((kind.to_string(), name.to_string()));
        }
    };
    for v in pod["spec"]
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        add("secrets", s(&v["secret"], "secretName"));
        add("configmaps", s(&v["configMap"], "name"));
        for src in v["projected"]
            .get("sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add("secrets", s(&src["secret"], "name"));
            add("configmaps", s(&src["configMap"], "name"));
        }
    }
    out
}

async fn stop_pod(weak: &Weak<Cluster>, p: PodHandle) {
    let (done_tx, done_rx) = oneshot::channel();
    if p.tx.send(PodMsg::Stop(done_tx)).is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(15), done_rx).await;
    }
    p.task.abort();
    if let Some(cluster) = weak.upgrade() {
        let k = &cluster.kubelet;
        lock(&k.views).retain(|(ns, pod, _), v| !(ns == &p.ns && pod == &p.name && v.uid == p.uid));
        lock(&k.mount_errors).remove(&(p.ns.clone(), p.name.clone()));
    }
    let _ = std::fs::remove_dir_all(&p.root);
}

fn host_ip_of(cluster: &Cluster, pod: &Value) -> Ipv4Addr {
    if let Some(ip) = pod["status"]
        .get("hostIP")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
    {
        return ip;
    }
    let node = s(&pod["spec"], "nodeName");
    if !node.is_empty()
        && let Ok(n) = cluster.store.get(&cluster.store.rt("nodes"), None, node)
        && let Some(addrs) = n["status"].get("addresses").and_then(Value::as_array)
        && let Some(ip) = addrs
            .iter()
            .find(|a| s(a, "type") == "InternalIP")
            .and_then(|a| s(a, "address").parse().ok())
    {
        return ip;
    }
    cluster.api_ip()
}

// ---------------------------------------------------------------------------------------------
// One pod

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CtrKind {
    Prometheus,
    Reloader,
    Other,
}

struct Ctr {
    name: String,
    image: String,
    spec: Value,
    kind: CtrKind,
    child: Option<Child>,
    started_at: Option<String>,
    started: Option<Instant>,
    ready: bool,
    restarts: u32,
    last_terminated: Option<Value>,
    waiting: Option<(String, Option<String>)>,
    restart_at: Option<Instant>,
    /// The node-side servers of a control-plane component it runs (`components`).
    servers: Vec<crate::components::Running>,
}

struct Vol {
    name: String,
    kind: VolKind,
    dir: PathBuf,
    spec: Value,
}

struct PodRun {
    weak: Weak<Cluster>,
    pod: Value,
    ns: String,
    name: String,
    uid: String,
    ip: Ipv4Addr,
    host_ip: Ipv4Addr,
    root: PathBuf,
    vols: Vec<Vol>,
    ctrs: Vec<Ctr>,
    init_names: Vec<(String, String)>,
    mounted: bool,
    start_time: String,
    transitions: HashMap<String, (String, String)>,
    last_status: Option<Value>,
    prometheus: Option<Prometheus>,
    /// The config-reloader has a reload to send.
    reload_pending: bool,
    /// What the last service-discovery files were computed from: the configuration's hash and
    /// the store's latest change to the types discovery reads. Unchanged inputs, unchanged
    /// files (the real discovery is watch-driven: it recomputes on change only).
    sd_inputs: Option<(u64, u64)>,
}

pub(crate) fn image_has_shell(image: &str) -> bool {
    !(image.contains("distroless")
        // Chainguard's images have no shell or busybox (their `-dev` variants do).
        || (image.starts_with("cgr.dev/chainguard/") && !image.contains("-dev"))
        || image.starts_with("registry.k8s.io/")
        || image.starts_with("k8s.gcr.io/"))
}

/// The repository of an image reference (`quay.io/prometheus/prometheus:v2` ->
/// `quay.io/prometheus/prometheus`; a registry port is not a tag).
pub(crate) fn image_repo(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let last_slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[last_slash..].find(':') {
        Some(i) => &image[..last_slash + i],
        None => image,
    }
}

/// The tag of an image reference (`quay.io/prometheus/prometheus:v3.6.0` -> `v3.6.0`); None
/// without one.
pub(crate) fn image_tag(image: &str) -> Option<&str> {
    let image = image.split('@').next().unwrap_or(image);
    image[image_repo(image).len()..].strip_prefix(':')
}

/// Flags that make the installed Prometheus (`installed`, e.g. `2.42.0+ds`) behave like the
/// version the pod's image names where the tests can tell them apart.
///
/// Prometheus 3 has one service-discovery manager, which keeps a provider whose configuration
/// did not change across a reload. 2.x ships it behind `new-service-discovery-manager`; its
/// default (legacy) manager restarts every provider on each reload and names them in map order,
/// so a discovery update in flight during the reload is stored under the old provider's name
/// and never replaced: the scrape pool keeps a stale target until the next reload
/// (prometheus/prometheus#13609). A reload racing a discovery change is what every fix here
/// causes, so for a v3 image the 2.x binary runs the v3 manager.
fn prometheus_compat_flags(image: &str, installed: &str) -> Vec<String> {
    use crate::controllers::endpoints::version_at_least;
    match image_tag(image) {
        Some(tag) if version_at_least(tag, 3, 0) && !version_at_least(installed, 3, 0) => {
            vec!["--enable-feature=new-service-discovery-manager".into()]
        }
        _ => Vec::new(),
    }
}

pub(crate) fn hex_id(parts: &[&str]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl PodRun {
    fn facts(&self) -> PodFacts<'_> {
        PodFacts {
            pod: &self.pod,
            ip: self.ip,
            host_ip: self.host_ip,
        }
    }

    fn log(&self, file: &str, line: &str) {
        let dir = self.root.join("logs");
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(file))
        {
            let _ = writeln!(f, "{} {line}", now_rfc3339());
        }
    }

    /// Set up (or refresh) every volume, each on its own: a failing one keeps its old files.
    /// Returns the names of the volumes whose files changed and the first failure.
    fn mount_volumes(&self, cluster: &Cluster) -> (BTreeSet<String>, Option<String>) {
        let mut changed = BTreeSet::new();
        let mut first_err = None;
        for v in &self.vols {
            let r = if v.kind.atomic() {
                volume_payload(cluster, &self.facts(), &v.spec).and_then(|payload| {
                    atomic_write(&v.dir, &payload).map_err(|e| {
                        format!("MountVolume.SetUp failed for volume \"{}\" : {e}", v.name)
                    })
                })
            } else if v.kind == VolKind::HostPath {
                host_path_check(&v.spec["hostPath"], &v.dir)
                    .map(|_| false)
                    .map_err(|e| {
                        format!("MountVolume.SetUp failed for volume \"{}\" : {e}", v.name)
                    })
            } else {
                std::fs::create_dir_all(&v.dir).map(|_| false).map_err(|e| {
                    format!("MountVolume.SetUp failed for volume \"{}\" : {e}", v.name)
                })
            };
            match r {
                Ok(true) => {
                    changed.insert(v.name.clone());
                }
                Ok(false) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        (changed, first_err)
    }

    /// The volumes the config-reloader watches (`--watched-dir`, e.g. the rule files).
    fn watched_volumes(&self) -> BTreeSet<String> {
        let Some(r) = self.ctrs.iter().find(|c| c.kind == CtrKind::Reloader) else {
            return BTreeSet::new();
        };
        let dirs: Vec<String> = str_list(&r.spec, "args")
            .iter()
            .filter_map(|a| a.strip_prefix("--watched-dir=").map(str::to_string))
            .collect();
        r.spec
            .get("volumeMounts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|vm| {
                let mp = s(vm, "mountPath").trim_end_matches('/');
                dirs.iter().any(|d| {
                    let d = d.trim_end_matches('/');
                    d == mp || d.starts_with(&format!("{mp}/"))
                })
            })
            .map(|vm| s(vm, "name").to_string())
            .collect()
    }

    fn mounts_of(&self, c: &Value, cname: &str) -> Vec<Mount> {
        let mut out = Vec::new();
        for (i, vm) in c
            .get("volumeMounts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let Some(v) = self.vols.iter().find(|v| v.name == s(vm, "name")) else {
                continue;
            };
            let sub = s(vm, "subPath");
            let host = if sub.is_empty() {
                v.dir.clone()
            } else if v.kind.atomic() {
                // The kubelet binds the file the subPath resolves to when the container starts:
                // later updates of the volume never reach it.
                let dst = self
                    .root
                    .join("volume-subpaths")
                    .join(&v.name)
                    .join(cname)
                    .join(i.to_string());
                if std::fs::symlink_metadata(&dst).is_err()
                    && let Ok(src) = std::fs::canonicalize(v.dir.join(sub))
                {
                    let _ = copy_tree(&src, &dst);
                }
                dst
            } else {
                let p = v.dir.join(sub);
                let _ = std::fs::create_dir_all(&p);
                p
            };
            let read_only =
                v.kind.atomic() || vm.get("readOnly").and_then(Value::as_bool) == Some(true);
            out.push(Mount {
                host_path: host,
                container_path: s(vm, "mountPath").to_string(),
                read_only,
            });
        }
        out
    }

    fn view(&self, c: &Ctr) -> PodView {
        let no_shell = self.pod["metadata"]["annotations"]
            .get("promfix.test/no-shell")
            .and_then(Value::as_str)
            .map(|v| v.split(',').any(|n| n.trim() == c.name))
            .unwrap_or(false);
        PodView {
            namespace: self.ns.clone(),
            pod: self.name.clone(),
            uid: self.uid.clone(),
            container: c.name.clone(),
            root: self.root.clone(),
            mounts: self.mounts_of(&c.spec, &c.name),
            ip: self.ip,
            has_shell: !no_shell && image_has_shell(&c.image),
        }
    }

    /// Map a path inside container `c` to the host, through its mounts.
    fn host_path_in(&self, c: &Value, cname: &str, path: &str) -> Option<PathBuf> {
        let mut best: Option<(usize, PathBuf)> = None;
        for m in self.mounts_of(c, cname) {
            let cp = m.container_path.trim_end_matches('/');
            if path == cp || path.starts_with(&format!("{cp}/")) {
                let rest = path[cp.len()..].trim_start_matches('/');
                let host = if rest.is_empty() {
                    m.host_path.clone()
                } else {
                    m.host_path.join(rest)
                };
                if best.as_ref().is_none_or(|(l, _)| cp.len() > *l) {
                    best = Some((cp.len(), host));
                }
            }
        }
        best.map(|(_, p)| p)
    }

    fn env_of(&self, c: &Value) -> HashMap<String, String> {
        let mut env = HashMap::new();
        for e in c
            .get("env")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let name = s(&e, "name").to_string();
            if let Some(v) = e.get("value").and_then(Value::as_str) {
                env.insert(name, v.to_string());
            } else if let Some(fp) = e
                .get("valueFrom")
                .and_then(|v| v.get("fieldRef"))
                .map(|f| s(f, "fieldPath").to_string())
                && let Some(v) = field_ref(&self.facts(), &fp)
            {
                env.insert(name, v);
            }
        }
        env
    }

    /// The config-reloader: decompress the config file into the envsubst file. Returns whether
    /// the output changed.
    fn reload_config(&mut self, cluster: &Cluster) -> bool {
        let Some(r) = self.ctrs.iter().find(|c| c.kind == CtrKind::Reloader) else {
            return false;
        };
        let args = str_list(&r.spec, "args");
        let arg = |flag: &str| {
            args.iter()
                .find_map(|a| a.strip_prefix(&format!("--{flag}=")).map(str::to_string))
        };
        let cfg_in = arg("config-file")
            .unwrap_or_else(|| "/etc/prometheus/config/prometheus.yaml.gz".to_string());
        let cfg_out = arg("config-envsubst-file")
            .unwrap_or_else(|| "/etc/prometheus/config_out/prometheus.env.yaml".to_string());
        let (Some(src), Some(dst)) = (
            self.host_path_in(&r.spec, &r.name, &cfg_in),
            self.host_path_in(&r.spec, &r.name, &cfg_out),
        ) else {
            self.log(
                "config-reloader.log",
                &format!("level=error msg=\"config file or output not mounted\" cfg_in={cfg_in} cfg_out={cfg_out}"),
            );
            return false;
        };
        let raw = match std::fs::read(&src) {
            Ok(b) => b,
            Err(e) => {
                self.log(
                    "config-reloader.log",
                    &format!("level=error msg=\"read config\" cfg_in={cfg_in} err=\"{e}\""),
                );
                return false;
            }
        };
        let plain = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            use std::io::Read;
            if let Err(e) = flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out) {
                self.log(
                    "config-reloader.log",
                    &format!("level=error msg=\"decompress config\" err=\"{e}\""),
                );
                return false;
            }
            out
        } else {
            raw
        };
        let expanded = match expand_env(&String::from_utf8_lossy(&plain), &self.env_of(&r.spec)) {
            Ok(s) => s,
            Err(e) => {
                self.log(
                    "config-reloader.log",
                    &format!("level=error msg=\"expand environment variables\" err=\"{e}\""),
                );
                return false;
            }
        };
        // Debian's Prometheus has no Kubernetes service discovery: its targets come from files
        // the store's objects are turned into (controllers::sd), next to the config.
        let inputs = (
            {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                expanded.hash(&mut h);
                h.finish()
            },
            cluster.store.last_change(crate::controllers::sd::INPUTS),
        );
        if self.sd_inputs == Some(inputs) {
            return false;
        }
        let sd_container = Path::new(&cfg_out)
            .parent()
            .unwrap_or(Path::new("/etc/prometheus/config_out"))
            .join(SD_DIR);
        let (expanded, sd_files) =
            match crate::controllers::sd::runnable_config(&cluster.store, &expanded, &sd_container)
            {
                Ok(x) => x,
                Err(e) => {
                    self.log(
                        "config-reloader.log",
                        &format!("level=error msg=\"service discovery files\" err=\"{e}\""),
                    );
                    return false;
                }
            };
        if let Some(sd_host) = dst.parent().map(|p| p.join(SD_DIR)) {
            let _ = std::fs::create_dir_all(&sd_host);
            for (path, content) in sd_files {
                let Some(file) = path.file_name() else {
                    continue;
                };
                let host = sd_host.join(file);
                if std::fs::read(&host).ok().as_deref() != Some(content.as_bytes()) {
                    let tmp = host.with_extension("tmp");
                    if std::fs::write(&tmp, content.as_bytes()).is_ok() {
                        let _ = std::fs::rename(&tmp, &host);
                    }
                }
            }
        }
        self.sd_inputs = Some(inputs);
        if std::fs::read(&dst).ok().as_deref() == Some(expanded.as_bytes()) {
            return false;
        }
        if let Some(parent) = dst.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let tmp = dst.with_extension("tmp");
        if std::fs::write(&tmp, expanded.as_bytes()).is_err()
            || std::fs::rename(&tmp, &dst).is_err()
        {
            self.sd_inputs = None;
            return false;
        }
        true
    }

    fn reload_path(&self) -> String {
        let Some(r) = self.ctrs.iter().find(|c| c.kind == CtrKind::Reloader) else {
            return "/-/reload".into();
        };
        str_list(&r.spec, "args")
            .iter()
            .find_map(|a| a.strip_prefix("--reload-url="))
            .and_then(|u| u.split_once("://").map(|(_, r)| r.to_string()))
            .and_then(|r| r.find('/').map(|i| r[i..].to_string()))
            .unwrap_or_else(|| "/-/reload".into())
    }

    /// `POST /-/reload`; false when Prometheus could not be reached (retried on the next round).
    async fn trigger_reload(&self) -> bool {
        let path = self.reload_path();
        let r =
            crate::peers::http_request("POST", self.ip, 9090, &path, Duration::from_secs(10)).await;
        match r {
            Ok(r) if r.status == 200 => {
                self.log(
                    "config-reloader.log",
                    "level=info msg=\"Reload triggered\" cfg_out=prometheus.env.yaml",
                );
                true
            }
            Ok(r) => {
                self.log(
                    "config-reloader.log",
                    &format!(
                        "level=error msg=\"Failed to trigger reload\" status={} body={:?}",
                        r.status,
                        r.text()
                    ),
                );
                true
            }
            Err(e) => {
                self.log(
                    "config-reloader.log",
                    &format!(
                        "level=error msg=\"Failed to trigger reload. Retrying.\" err=\"{e:#}\""
                    ),
                );
                false
            }
        }
    }

    /// The Prometheus command line from the container's args.
    fn prometheus_argv(&self, c: &Ctr, prom: &Prometheus, mounts: &mut Vec<Mount>) -> Vec<String> {
        let mut argv = vec![prom.path.to_string_lossy().into_owned()];
        let mut has_tsdb = None;
        for a in str_list(&c.spec, "args") {
            if a.starts_with("--web.listen-address") {
                continue; // forced to the pod IP below
            }
            if !prom.accepts(&a) {
                // Flags of newer Prometheus versions the operator may write (e.g.
                // --web.enable-otlp-receiver): Prometheus 2.42 would refuse to start.
                self.log(
                    &format!("{}.log", c.name),
                    &format!(
                        "kubelet: dropped {a}: Prometheus {} does not know it",
                        prom.version
                    ),
                );
                continue;
            }
            if let Some(p) = a.strip_prefix("--storage.tsdb.path=") {
                has_tsdb = Some(p.to_string());
            }
            argv.push(a);
        }
        let tsdb = match has_tsdb {
            Some(p) => p,
            None => {
                argv.push("--storage.tsdb.path=/prometheus".into());
                "/prometheus".into()
            }
        };
        if !mounts
            .iter()
            .any(|m| m.container_path.trim_end_matches('/') == tsdb.trim_end_matches('/'))
        {
            let d = self.root.join("prometheus-data");
            let _ = std::fs::create_dir_all(&d);
            mounts.push(Mount {
                host_path: d,
                container_path: tsdb,
                read_only: false,
            });
        }
        argv.extend(prometheus_compat_flags(
            c.spec["image"].as_str().unwrap_or(""),
            &prom.version,
        ));
        argv.push(format!("--web.listen-address={}:9090", self.ip));
        argv
    }

    fn start_container(&mut self, i: usize, cluster: &Cluster) {
        let kind = self.ctrs[i].kind;
        let now = Instant::now();
        if kind != CtrKind::Prometheus {
            let servers = self.component_servers(i);
            let c = &mut self.ctrs[i];
            c.servers = servers;
            c.started_at = Some(now_rfc3339());
            c.started = Some(now);
            c.waiting = None;
            c.ready = true;
            return;
        }
        let prom = match &self.prometheus {
            Some(p) => p.clone(),
            None => match crate::peers::prometheus::find() {
                Ok(p) => {
                    self.prometheus = Some(p.clone());
                    p
                }
                Err(e) => {
                    self.ctrs[i].waiting =
                        Some(("CreateContainerError".into(), Some(format!("{e:#}"))));
                    return;
                }
            },
        };
        let mut view = self.view(&self.ctrs[i]);
        let argv = self.prometheus_argv(&self.ctrs[i], &prom, &mut view.mounts);
        let name = self.ctrs[i].name.clone();
        let logf = self.root.join("logs").join(format!("{name}.log"));
        let _ = std::fs::create_dir_all(self.root.join("logs"));
        let mut cmd = bwrap_command(&view, &argv);
        cmd.stdin(std::process::Stdio::null());
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&logf)
        {
            Ok(f) => {
                if let Ok(f2) = f.try_clone() {
                    cmd.stdout(f2);
                }
                cmd.stderr(f);
            }
            Err(_) => {
                cmd.stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null());
            }
        }
        cmd.process_group(0);
        crate::peers::die_with_parent(&mut cmd);
        match cmd.spawn() {
            Ok(child) => {
                if let Some(pid) = child.id() {
                    lock(&cluster.kubelet.pids)
                        .insert((self.ns.clone(), self.name.clone(), name.clone()), pid);
                }
                let c = &mut self.ctrs[i];
                c.child = Some(child);
                c.started_at = Some(now_rfc3339());
                c.started = Some(now);
                c.waiting = None;
                c.ready = false;
                lock(&cluster.kubelet.views)
                    .insert((self.ns.clone(), self.name.clone(), name), view);
            }
            Err(e) => {
                self.ctrs[i].waiting = Some((
                    "CreateContainerError".into(),
                    Some(format!("bwrap (Debian bubblewrap): {e}")),
                ));
            }
        }
    }

    /// Readiness of Prometheus, exits and restarts.
    async fn check_containers(&mut self, cluster: &Cluster) {
        for i in 0..self.ctrs.len() {
            if self.ctrs[i].kind != CtrKind::Prometheus {
                continue;
            }
            // exited?
            let exited = match self.ctrs[i].child.as_mut() {
                Some(ch) => ch.try_wait().ok().flatten(),
                None => None,
            };
            if let Some(status) = exited {
                let c = &mut self.ctrs[i];
                c.child = None;
                let code = status.code().unwrap_or(137);
                c.last_terminated = Some(json!({"terminated": {
                    "exitCode": code,
                    "reason": if code == 0 { "Completed" } else { "Error" },
                    "startedAt": c.started_at.clone().unwrap_or_default(),
                    "finishedAt": now_rfc3339(),
                    "containerID": format!("containerd://{}", hex_id(&[&self.uid, &c.name, &c.restarts.to_string()])),
                }}));
                c.restarts += 1;
                c.ready = false;
                c.started_at = None;
                c.started = None;
                let backoff = if c.restarts <= 1 {
                    Duration::ZERO
                } else {
                    Duration::from_secs((10u64 << (c.restarts - 2).min(5)).min(300))
                };
                c.waiting = Some((
                    "CrashLoopBackOff".into(),
                    Some(format!(
                        "back-off {} restarting failed container={} pod={}_{}({})",
                        go_duration(backoff.max(Duration::from_secs(10))),
                        c.name,
                        self.name,
                        self.ns,
                        self.uid
                    )),
                ));
                c.restart_at = Some(Instant::now() + backoff);
                let key = (self.ns.clone(), self.name.clone(), c.name.clone());
                lock(&cluster.kubelet.pids).remove(&key);
                // A container that is not running cannot be exec'd into or proxied to.
                lock(&cluster.kubelet.views).remove(&key);
            }
            if self.ctrs[i].child.is_none()
                && self.ctrs[i].restart_at.is_some_and(|t| Instant::now() >= t)
            {
                self.ctrs[i].restart_at = None;
                self.start_container(i, cluster);
            }
            if self.ctrs[i].child.is_some() {
                let path = probe_path(&self.ctrs[i].spec);
                let ok = matches!(
                    crate::peers::http_request("GET", self.ip, 9090, &path, Duration::from_secs(1)).await,
                    Ok(r) if r.status == 200
                );
                self.ctrs[i].ready = ok;
            }
        }
    }

    fn status(&mut self, cluster: &Cluster) -> Value {
        let now = now_rfc3339();
        // The pod's own `promfix.test/not-ready-seconds` annotation overrides the kubelet's delay.
        let delay = self.pod["metadata"]["annotations"]
            .get("promfix.test/not-ready-seconds")
            .and_then(Value::as_str)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or_else(|| *lock(&cluster.kubelet.not_ready_delay));
        // The not-ready delay acts like a readiness probe's initialDelaySeconds: a container is
        // ready once its own check passes and the delay has passed since it started.
        let ready: Vec<bool> = self
            .ctrs
            .iter()
            .map(|c| c.ready && c.started.is_some_and(|t| t.elapsed() >= delay))
            .collect();
        let unready: Vec<String> = self
            .ctrs
            .iter()
            .zip(&ready)
            .filter(|(_, r)| !**r)
            .map(|(c, _)| c.name.clone())
            .collect();
        let all_ready = unready.is_empty() && self.mounted;
        let mut cond = |t: &str, ok: bool, reason: Option<String>, message: Option<String>| {
            let st = if ok { "True" } else { "False" }.to_string();
            let e = self
                .transitions
                .entry(t.to_string())
                .or_insert_with(|| (st.clone(), now.clone()));
            if e.0 != st {
                *e = (st.clone(), now.clone());
            }
            let mut c =
                json!({"type": t, "status": st, "lastProbeTime": null, "lastTransitionTime": e.1});
            if let Some(r) = reason {
                c["reason"] = json!(r);
            }
            if let Some(m) = message {
                c["message"] = json!(m);
            }
            c
        };
        // RecursiveReadOnlyMounts (beta and on by default from 1.31): containerStatuses list the
        // volume mounts.
        let rro = minor_version(&cluster.version) >= 31;
        let unready_msg = format!("containers with unready status: [{}]", unready.join(" "));
        let mut conditions = vec![
            cond("PodReadyToStartContainers", self.mounted, None, None),
            if self.mounted || self.init_names.is_empty() {
                cond("Initialized", true, None, None)
            } else {
                // status/generate.go GeneratePodInitializedCondition
                cond(
                    "Initialized",
                    false,
                    Some("ContainersNotInitialized".into()),
                    Some(format!(
                        "containers with incomplete status: [{}]",
                        self.init_names
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    )),
                )
            },
        ];
        conditions.push(if all_ready {
            cond("Ready", true, None, None)
        } else {
            cond(
                "Ready",
                false,
                Some("ContainersNotReady".into()),
                Some(unready_msg.clone()),
            )
        });
        conditions.push(if all_ready {
            cond("ContainersReady", true, None, None)
        } else {
            cond(
                "ContainersReady",
                false,
                Some("ContainersNotReady".into()),
                Some(unready_msg),
            )
        });
        let scheduled = self.pod["status"]
            .get("conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| s(c, "type") == "PodScheduled").cloned())
            .unwrap_or_else(|| {
                json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                       "lastTransitionTime": s(&self.pod["metadata"], "creationTimestamp")})
            });
        conditions.push(scheduled);
        let statuses: Vec<Value> = self
            .ctrs
            .iter()
            .zip(&ready)
            .map(|(c, ready)| {
                let state = if !self.mounted && !self.init_names.is_empty() {
                    // init containers have not run: the app containers wait for them
                    json!({"waiting": {"reason": "PodInitializing"}})
                } else if let Some((reason, msg)) = &c.waiting {
                    let mut w = json!({"reason": reason});
                    if let Some(m) = msg {
                        w["message"] = json!(m);
                    }
                    json!({"waiting": w})
                } else if let Some(t) = &c.started_at {
                    json!({"running": {"startedAt": t}})
                } else {
                    json!({"waiting": {"reason": "ContainerCreating"}})
                };
                let mut st = json!({
                    "name": c.name,
                    "state": state,
                    "lastState": c.last_terminated.clone().unwrap_or_else(|| json!({})),
                    "ready": ready,
                    "restartCount": c.restarts,
                    "image": c.image,
                    "imageID": "",
                    "started": c.started_at.is_some(),
                });
                if rro {
                    st["volumeMounts"] = volume_mount_statuses(&c.spec);
                }
                if c.started_at.is_some() {
                    st["containerID"] = json!(format!(
                        "containerd://{}",
                        hex_id(&[&self.uid, &c.name, &c.restarts.to_string()])
                    ));
                    st["imageID"] = json!(format!(
                        "{}@sha256:{}",
                        image_repo(&c.image),
                        hex_id(&[&c.image])
                    ));
                }
                st
            })
            .collect();
        // kubelet_pods.go convertToAPIContainerStatuses: sorted by container name
        let mut statuses = statuses;
        statuses.sort_by(|a, b| s(a, "name").cmp(s(b, "name")));
        let mut status = json!({
            "phase": if self.mounted { "Running" } else { "Pending" },
            "conditions": conditions,
            "hostIP": self.host_ip.to_string(),
            "hostIPs": [{"ip": self.host_ip.to_string()}],
            "startTime": self.start_time,
            "containerStatuses": statuses,
            "qosClass": qos_class(&self.pod),
        });
        if self.mounted {
            status["podIP"] = json!(self.ip.to_string());
            status["podIPs"] = json!([{"ip": self.ip.to_string()}]);
        }
        if !self.init_names.is_empty() {
            status["initContainerStatuses"] = json!(
                self.init_names
                    .iter()
                    .map(|(n, image)| {
                        let state = if self.mounted {
                            json!({"terminated": {"exitCode": 0, "reason": "Completed",
                                "startedAt": self.start_time, "finishedAt": self.start_time,
                                "containerID": format!("containerd://{}", hex_id(&[&self.uid, n]))}})
                        } else {
                            json!({"waiting": {"reason": "PodInitializing"}})
                        };
                        let mut st = json!({"name": n, "state": state, "lastState": {}, "ready": self.mounted,
                               "restartCount": 0, "image": image, "imageID": "", "started": false});
                        if rro
                            && let Some(spec) = self.pod["spec"]["initContainers"]
                                .as_array()
                                .and_then(|a| a.iter().find(|c| s(c, "name") == n))
                        {
                            st["volumeMounts"] = volume_mount_statuses(spec);
                        }
                        st
                    })
                    .collect::<Vec<_>>()
            );
        }
        status
    }

    /// Mounted, Ready, and no container runs a process (no Prometheus, no reloader): the pod's
    /// status changes only on messages.
    fn inert_and_ready(&self) -> bool {
        self.mounted
            && self.ctrs.iter().all(|c| c.kind == CtrKind::Other)
            && self.last_status.as_ref().is_some_and(|st| {
                st["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            })
    }

    fn write_status(&mut self, cluster: &Cluster) {
        let status = self.status(cluster);
        if self.last_status.as_ref() == Some(&status) {
            return;
        }
        let ctx = WriteCtx {
            manager: "kubelet".into(),
            operation: "Update".into(),
            dry_run: false,
            subresource: Some("status".into()),
        };
        let uid = self.uid.clone();
        let st = status.clone();
        let r = cluster.store.modify(
            &cluster.store.rt("pods"),
            Some(&self.ns),
            &self.name,
            &ctx,
            |p| {
                if s(&p["metadata"], "uid") != uid || p["status"] == st {
                    return false;
                }
                p["status"] = st.clone();
                true
            },
        );
        if r.is_ok() {
            self.last_status = Some(status);
        }
    }

    /// Start the servers of the component container `i` runs (kube-proxy, kube-scheduler,
    /// kube-controller-manager), from its command line and its config file as mounted now.
    fn component_servers(&self, i: usize) -> Vec<crate::components::Running> {
        let c = &self.ctrs[i];
        let env = self.env_of(&c.spec);
        let argv: Vec<String> = str_list(&c.spec, "command")
            .into_iter()
            .chain(str_list(&c.spec, "args"))
            .map(|a| expand_env(&a, &env).unwrap_or(a))
            .collect();
        if crate::components::component_of(&argv).is_none() {
            return Vec::new();
        }
        let config = crate::components::flag(&argv, "config")
            .and_then(|p| self.host_path_in(&c.spec, &c.name, p))
            .and_then(|p| std::fs::read_to_string(p).ok());
        crate::components::servers(&argv, config.as_deref(), self.ip)
            .into_iter()
            .map(|s| crate::components::start(self.weak.clone(), s))
            .collect()
    }

    async fn stop_all(&mut self, cluster: Option<&Cluster>) {
        for c in &mut self.ctrs {
            c.servers.clear();
        }
        let grace = self.pod["spec"]
            .get("terminationGracePeriodSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(30)
            .min(5);
        for c in &mut self.ctrs {
            if let Some(mut ch) = c.child.take() {
                let pgid = ch.id().map(|p| p as i32);
                if let Some(pg) = pgid {
                    // The container's process is bwrap's child: SIGTERM goes to it (bwrap
                    // exits with it), as the runtime stops a container; the whole group only
                    // when the child cannot be found.
                    let kids = std::fs::read_to_string(format!("/proc/{pg}/task/{pg}/children"))
                        .unwrap_or_default();
                    let kids: Vec<i32> = kids
                        .split_whitespace()
                        .filter_map(|k| k.parse().ok())
                        .collect();
                    // SAFETY: signalling our own child's process group / its children.
                    unsafe {
                        if kids.is_empty() {
                            libc::kill(-pg, libc::SIGTERM);
                        }
                        for k in kids {
                            libc::kill(k, libc::SIGTERM);
                        }
                    }
                }
                if tokio::time::timeout(Duration::from_secs(grace), ch.wait())
                    .await
                    .is_err()
                {
                    let _ = ch.kill().await;
                }
                if let Some(pg) = pgid {
                    // SAFETY: as above; whatever is left of the group.
                    unsafe {
                        libc::kill(-pg, libc::SIGKILL);
                    }
                }
            }
            if let Some(cl) = cluster {
                lock(&cl.kubelet.pids).remove(&(
                    self.ns.clone(),
                    self.name.clone(),
                    c.name.clone(),
                ));
            }
        }
    }
}

/// `v1.33.1` -> 33 (0 when unreadable).
fn minor_version(v: &str) -> u32 {
    v.trim_start_matches('v')
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// `containerStatuses[].volumeMounts` (kubelet_pods.go convertToAPIContainerStatuses): name,
/// mountPath, readOnly as in the spec, `recursiveReadOnly: Disabled` on read-only mounts.
pub(crate) fn volume_mount_statuses(c: &Value) -> Value {
    Value::Array(
        c.get("volumeMounts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|vm| {
                let mut st = json!({"name": s(vm, "name"), "mountPath": s(vm, "mountPath")});
                if vm.get("readOnly").and_then(Value::as_bool) == Some(true) {
                    st["readOnly"] = json!(true);
                    let rro = match s(vm, "recursiveReadOnly") {
                        "Enabled" | "IfPossible" => "Enabled",
                        _ => "Disabled",
                    };
                    st["recursiveReadOnly"] = json!(rro);
                }
                st
            })
            .collect(),
    )
}

/// hostPath `type` checks (pkg/volume/hostpath/host_path.go checkTypeInternal) on the node's
/// file `dir`; the message names the path as on the node. No type: a missing path becomes a
/// directory, as the container runtime creates it.
pub(crate) fn host_path_check(src: &Value, dir: &Path) -> Result<(), String> {
    let node_path = s(src, "path");
    let ty = s(src, "type");
    let is_dir = dir.is_dir();
    let exists = std::fs::symlink_metadata(dir).is_ok();
    let mkdir = || std::fs::create_dir_all(dir).map_err(|e| e.to_string());
    match ty {
        "" if !exists => mkdir()?,
        "DirectoryOrCreate" | "Directory" => {
            if !exists && ty == "DirectoryOrCreate" {
                mkdir()?;
            } else if !is_dir {
                return Err(format!(
                    "hostPath type check failed: {node_path} is not a directory"
                ));
            }
        }
        "FileOrCreate" | "File" => {
            if !exists && ty == "FileOrCreate" {
                if let Some(parent) = dir.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                std::fs::write(dir, b"").map_err(|e| e.to_string())?;
            } else if !dir.is_file() {
                return Err(format!(
                    "hostPath type check failed: {node_path} is not a file"
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// A whole-second duration as Go's `time.Duration.String` writes it (`10s`, `1m20s`, `5m0s`).
pub(crate) fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match (secs / 3600, secs / 60 % 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

pub(crate) fn str_list(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The readiness probe path of a Prometheus container: its `readinessProbe.httpGet.path`, else
/// `<route prefix>/-/ready`.
fn probe_path(c: &Value) -> String {
    if let Some(p) = c
        .get("readinessProbe")
        .and_then(|r| r.get("httpGet"))
        .and_then(|h| h.get("path"))
        .and_then(Value::as_str)
    {
        return p.to_string();
    }
    let prefix = str_list(c, "args")
        .iter()
        .find_map(|a| a.strip_prefix("--web.route-prefix=").map(str::to_string))
        .unwrap_or_default();
    format!("{}/-/ready", prefix.trim_end_matches('/'))
}

fn qos_class(pod: &Value) -> &'static str {
    let ctrs = pod["spec"]
        .get("containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut any = false;
    let mut guaranteed = !ctrs.is_empty();
    for c in &ctrs {
        let req = &c["resources"]["requests"];
        let lim = &c["resources"]["limits"];
        if req.as_object().is_some_and(|m| !m.is_empty())
            || lim.as_object().is_some_and(|m| !m.is_empty())
        {
            any = true;
        }
        for r in ["cpu", "memory"] {
            let l = lim.get(r);
            if l.is_none() || (req.get(r).is_some() && req.get(r) != l) {
                guaranteed = false;
            }
        }
    }
    if guaranteed {
        "Guaranteed"
    } else if any {
        "Burstable"
    } else {
        "BestEffort"
    }
}

/// The config-reloader's `$(VAR)` expansion (thanos pkg/reloader expandEnv): an unset variable
/// is an error.
pub fn expand_env(text: &str, env: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("$(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find(')') {
            Some(j)
                if j > 0
                    && after[..j]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                let name = &after[..j];
                match env.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        return Err(format!(
                            "found reference to unset environment variable {name:?}"
                        ));
                    }
                }
                rest = &after[j + 1..];
            }
            _ => {
                out.push_str("$(");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

pub(crate) fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    let m = std::fs::metadata(src)?;
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if m.is_dir() {
        std::fs::create_dir_all(dst)?;
        for e in std::fs::read_dir(src)?.filter_map(Result::ok) {
            let name = e.file_name();
            if name.to_string_lossy().starts_with("..") {
                continue;
            }
            copy_tree(&e.path(), &dst.join(name))?;
        }
    } else {
        std::fs::copy(src, dst)?;
    }
    Ok(())
}

async fn pod_main(
    weak: Weak<Cluster>,
    pod: Value,
    ip: Ipv4Addr,
    host_ip: Ipv4Addr,
    root: PathBuf,
    mut rx: mpsc::UnboundedReceiver<PodMsg>,
) {
    let ns = s(&pod["metadata"], "namespace").to_string();
    let name = s(&pod["metadata"], "name").to_string();
    let uid = s(&pod["metadata"], "uid").to_string();
    let vols = pod["spec"]
        .get("volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|v| {
            let kind = VolKind::of(&v);
            let vname = s(&v, "name").to_string();
            let dir = match kind {
                VolKind::HostPath => {
                    let node = s(&pod["spec"], "nodeName");
                    let node = if node.is_empty() { "node" } else { node };
                    let p = s(&v["hostPath"], "path")
                        .trim_start_matches('/')
                        .to_string();
                    weak.upgrade()
                        .map(|c| node_root(&c, node).join(p))
                        .unwrap_or_else(|| root.join("host-path").join(&vname))
                }
                _ => root.join("volumes").join(kind.plugin_dir()).join(&vname),
            };
            Vol {
                name: vname,
                kind,
                dir,
                spec: v,
            }
        })
        .collect();
    let ctrs = pod["spec"]
        .get("containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            let name = s(&c, "name").to_string();
            let kind = match name.as_str() {
                "prometheus" => CtrKind::Prometheus,
                "config-reloader" | "prometheus-config-reloader" => CtrKind::Reloader,
                _ => CtrKind::Other,
            };
            Ctr {
                image: s(&c, "image").to_string(),
                name,
                spec: c,
                kind,
                child: None,
                started_at: None,
                started: None,
                ready: false,
                restarts: 0,
                last_terminated: None,
                waiting: Some(("ContainerCreating".into(), None)),
                restart_at: None,
                servers: Vec::new(),
            }
        })
        .collect();
    let init_names = pod["spec"]
        .get("initContainers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| (s(c, "name").to_string(), s(c, "image").to_string()))
        .collect();
    let start_time = pod["status"]
        .get("startTime")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(now_rfc3339);
    let mut run = PodRun {
        weak,
        pod,
        ns,
        name,
        uid,
        ip,
        host_ip,
        root,
        vols,
        ctrs,
        init_names,
        mounted: false,
        start_time,
        transitions: HashMap::new(),
        last_status: None,
        prometheus: None,
        reload_pending: false,
        sd_inputs: None,
    };
    let _ = std::fs::create_dir_all(run.root.join("logs"));
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Each round: one message or one tick.
        let msg = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => Some(m),
                None => break,
            },
            _ = tick.tick() => None,
        };
        let Some(cluster) = run.weak.upgrade() else {
            break;
        };
        if let Some(PodMsg::Stop(done)) = msg {
            run.stop_all(Some(&cluster)).await;
            let _ = done.send(());
            return;
        }
        let refresh = matches!(msg, Some(PodMsg::Refresh));
        if !run.mounted {
            match run.mount_volumes(&cluster) {
                (_, None) => {
                    run.mounted = true;
                    lock(&cluster.kubelet.mount_errors).remove(&(run.ns.clone(), run.name.clone()));
                    // init-config-reloader: the first config before Prometheus starts
                    run.reload_config(&cluster);
                    for i in 0..run.ctrs.len() {
                        if run.ctrs[i].kind != CtrKind::Prometheus {
                            let v = run.view(&run.ctrs[i]);
                            lock(&cluster.kubelet.views).insert(
                                (run.ns.clone(), run.name.clone(), run.ctrs[i].name.clone()),
                                v,
                            );
                        }
                        run.start_container(i, &cluster);
                    }
                }
                (_, Some(e)) => {
                    let key = (run.ns.clone(), run.name.clone());
                    let mut errs = lock(&cluster.kubelet.mount_errors);
                    if errs.get(&key) != Some(&e) {
                        run.log("kubelet.log", &format!("Warning FailedMount {e}"));
                    }
                    errs.insert(key, e);
                }
            }
        } else if refresh {
            // Secret/ConfigMap changes reach the files; a failing volume keeps its old files.
            let (changed, err) = run.mount_volumes(&cluster);
            // A Ready pod with nothing to run whose files did not change has nothing to write
            // (thousands of such pods: a large cluster's kube-proxy DaemonSet).
            if err.is_none() && changed.is_empty() && run.inert_and_ready() {
                continue;
            }
            if let Some(e) = err {
                run.log("kubelet.log", &format!("Warning FailedMount {e}"));
            }
            let watched = run.watched_volumes();
            if run.reload_config(&cluster) || changed.iter().any(|v| watched.contains(v)) {
                run.reload_pending = true;
            }
        }
        if run.reload_pending
            && run
                .ctrs
                .iter()
                .any(|c| c.kind == CtrKind::Prometheus && c.child.is_some())
            && run.trigger_reload().await
        {
            run.reload_pending = false;
        }
        if run.mounted && msg.is_none() {
            run.check_containers(&cluster).await;
        }
        run.write_status(&cluster);
        if run.inert_and_ready() {
            // Nothing can change before the next message: tick slowly.
            tick.reset_after(Duration::from_secs(10));
        }
    }
    let cluster = run.weak.upgrade();
    run.stop_all(cluster.as_deref()).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Auth;
    use crate::faults::Faults;
    use crate::resources::Registry;
    use crate::store::{DeletePre, Store};

    fn cluster(net: u8) -> (tempfile::TempDir, Arc<Cluster>) {
        let t = tempfile::tempdir().unwrap();
        let store = Store::new(Registry::new(true));
        let nsrt = store.rt("namespaces");
        for n in ["default", "monitoring", "kube-system"] {
            store
                .create(
                    &nsrt,
                    None,
                    json!({"metadata": {"name": n}}),
                    &WriteCtx::update("test"),
                )
                .unwrap();
            // what the root CA publisher puts in every namespace (service-account token volumes need it)
            store
                .create(
                    &store.rt("configmaps"),
                    Some(n),
                    json!({"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": "test CA"}}),
                    &WriteCtx::update("test"),
                )
                .unwrap();
        }
        let c = Arc::new(Cluster {
            store: Arc::new(store),
            dir: t.path().to_path_buf(),
            net,
            version: "v1.33.1".into(),
            auth: Auth::default(),
            faults: Faults::new(),
            kubelet: Kubelet::new(),
        });
        (t, c)
    }

    fn b64(s: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    async fn eventually<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn pod_of(c: &Cluster, ns: &str, name: &str) -> Value {
        c.store.get(&c.store.rt("pods"), Some(ns), name).unwrap()
    }

    #[test]
    fn atomic_writer_layout_and_updates() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("vol");
        let mut p = Payload::new();
        p.insert("ca.crt".into(), (b"CA".to_vec(), 0o644));
        p.insert("tls.key".into(), (b"KEY".to_vec(), 0o600));
        assert!(atomic_write(&d, &p).unwrap());
        let names = |d: &Path| {
            let mut v: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let n = names(&d);
        // `ls -a`: ..<timestamp>, ..data and the keys; `ls`: only the keys
        assert_eq!(n.len(), 4, "{n:?}");
        assert!(n[0].starts_with("..20"), "{n:?}");
        assert_eq!(&n[1..], ["..data", "ca.crt", "tls.key"]);
        assert_eq!(
            std::fs::read_link(d.join("ca.crt")).unwrap(),
            Path::new("..data/ca.crt")
        );
        assert_eq!(
            std::fs::read_link(d.join("..data")).unwrap(),
            Path::new(&n[0])
        );
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(d.join("tls.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(m & 0o777, 0o600);
        // unchanged payload: nothing written
        assert!(!atomic_write(&d, &p).unwrap());
        // a key changes, one goes away
        p.remove("tls.key");
        p.insert("ca.crt".into(), (b"CA2".to_vec(), 0o644));
        assert!(atomic_write(&d, &p).unwrap());
        let n2 = names(&d);
        assert_eq!(n2.len(), 3, "{n2:?}");
        assert_ne!(n2[0], n[0]);
        assert_eq!(std::fs::read(d.join("ca.crt")).unwrap(), b"CA2");
        assert!(validate_path("..data").is_err());
        assert!(validate_path("a/../b").is_err());
    }

    #[test]
    fn volume_setup_failures_read_like_the_kubelet() {
        let (_t, c) = cluster(235);
        c.store
            .create(
                &c.store.rt("secrets"),
                Some("monitoring"),
                json!({"metadata": {"name": "s"}, "data": {"a": b64(b"A")}}),
                &WriteCtx::update("test"),
            )
            .unwrap();
        let pod =
            json!({"metadata": {"name": "p", "namespace": "monitoring", "uid": "u"}, "spec": {}});
        let facts = PodFacts {
            pod: &pod,
            ip: Ipv4Addr::new(127, 235, 1, 2),
            host_ip: Ipv4Addr::new(127, 235, 0, 1),
        };
        let err = |vol: Value| match VolKind::of(&vol) {
            VolKind::HostPath => {
                let dir = node_root(&c, "node1")
                    .join(s(&vol["hostPath"], "path").trim_start_matches('/'));
                format!(
                    "MountVolume.SetUp failed for volume \"{}\" : {}",
                    s(&vol, "name"),
                    host_path_check(&vol["hostPath"], &dir).unwrap_err()
                )
            }
            _ => volume_payload(&c, &facts, &vol).unwrap_err(),
        };
        assert_eq!(
            err(
                json!({"name": "certs", "secret": {"secretName": "s", "items": [{"key": "b", "path": "b"}]}})
            ),
            "MountVolume.SetUp failed for volume \"certs\" : references non-existent secret key: b"
        );
        assert_eq!(
            err(
                json!({"name": "tls-assets", "projected": {"sources": [{"secret": {"name": "nope"}}]}})
            ),
            "MountVolume.SetUp failed for volume \"tls-assets\" : secret \"nope\" not found"
        );
        assert_eq!(
            err(json!({"name": "cm", "configMap": {"name": "nope"}})),
            "MountVolume.SetUp failed for volume \"cm\" : configmap \"nope\" not found"
        );
        assert_eq!(
            err(json!({"name": "pki", "hostPath": {"path": "/etc/kubernetes/pki/etcd", "type": "Directory"}}))
                .replace("MountVolume.SetUp failed for volume \"pki\" : ", ""),
            "hostPath type check failed: /etc/kubernetes/pki/etcd is not a directory"
        );
        // optional: an empty volume, or the missing key left out
        let ok = volume_payload(
            &c,
            &facts,
            &json!({"name": "x", "secret": {"secretName": "s", "optional": true,
                "items": [{"key": "a", "path": "a.txt", "mode": 0o400}, {"key": "b", "path": "b"}]}}),
        )
        .unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(ok["a.txt"], (b"A".to_vec(), 0o400));
        // empty items: every key
        let all = volume_payload(
            &c,
            &facts,
            &json!({"name": "x", "secret": {"secretName": "s", "items": []}}),
        )
        .unwrap();
        assert_eq!(all["a"], (b"A".to_vec(), 0o644));
    }

    #[tokio::test]
    async fn bwrap_mounts_where_the_host_has_nothing() {
        let t = tempfile::tempdir().unwrap();
        let mk = |name: &str, file: &str, text: &str| {
            let d = t.path().join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(file), text).unwrap();
            d
        };
        let view = PodView {
            namespace: "ns".into(),
            pod: "p".into(),
            uid: "u".into(),
            container: "c".into(),
            root: t.path().to_path_buf(),
            mounts: vec![
                Mount {
                    host_path: mk("sa", "namespace", "ns"),
                    container_path: "/var/run/secrets/kubernetes.io/serviceaccount".into(),
                    read_only: true,
                },
                Mount {
                    host_path: mk("etcd", "ca.pem", "CA"),
                    container_path: "/etc/ssl/etcd/ssl".into(),
                    read_only: true,
                },
                Mount {
                    host_path: mk("data", "x", "X"),
                    container_path: "/prometheus".into(),
                    read_only: false,
                },
            ],
            ip: Ipv4Addr::new(127, 238, 1, 2),
            has_shell: true,
        };
        let out = bwrap_command(
            &view,
            &[
                "sh".into(),
                "-c".into(),
                "cat /var/run/secrets/kubernetes.io/serviceaccount/namespace /etc/ssl/etcd/ssl/ca.pem /prometheus/x; ls /etc/prometheus | wc -l; test -e /etc/passwd && echo host-etc".into(),
            ],
        )
        .output()
        .await
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "nsCAX0\nhost-etc\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn image_repositories() {
        assert_eq!(
            image_repo("quay.io/prometheus/prometheus:v2.54.1"),
            "quay.io/prometheus/prometheus"
        );
        assert_eq!(image_repo("registry:5000/busybox"), "registry:5000/busybox");
        assert_eq!(
            image_repo("registry:5000/busybox:1.36"),
            "registry:5000/busybox"
        );
        assert_eq!(image_repo("busybox@sha256:abc"), "busybox");
    }

    #[test]
    fn a_v3_image_gets_the_v3_discovery_manager_from_a_2x_binary() {
        const FLAG: &str = "--enable-feature=new-service-discovery-manager";
        assert_eq!(
            image_tag("quay.io/prometheus/prometheus:v3.6.0"),
            Some("v3.6.0")
        );
        assert_eq!(
            image_tag("registry:5000/prometheus:v2.54.1@sha256:ab"),
            Some("v2.54.1")
        );
        assert_eq!(image_tag("registry:5000/prometheus"), None);
        assert_eq!(image_tag("prometheus:latest"), Some("latest"));
        assert_eq!(
            prometheus_compat_flags("quay.io/prometheus/prometheus:v3.6.0", "2.42.0+ds"),
            vec![FLAG.to_string()]
        );
        for (image, installed) in [
            ("quay.io/prometheus/prometheus:v2.54.1", "2.42.0+ds"),
            ("quay.io/prometheus/prometheus:v3.6.0", "3.5.0+ds"),
            ("quay.io/prometheus/prometheus:latest", "2.42.0+ds"),
        ] {
            assert!(
                prometheus_compat_flags(image, installed).is_empty(),
                "{image} on {installed}"
            );
        }
    }

    #[test]
    fn back_off_reads_like_go() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
    }

    #[test]
    fn envsubst_like_the_reloader() {
        let env: HashMap<String, String> =
            [("POD_NAME".to_string(), "prometheus-k8s-0".to_string())].into();
        assert_eq!(
            expand_env("replica: $(POD_NAME) $x $(", &env).unwrap(),
            "replica: prometheus-k8s-0 $x $("
        );
        assert_eq!(
            expand_env("$(SHARD)", &env).unwrap_err(),
            "found reference to unset environment variable \"SHARD\""
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn secret_volume_files_follow_the_secret() {
        let (_t, c) = cluster(232);
        let task = spawn(c.clone());
        let secrets = c.store.rt("secrets");
        let pods = c.store.rt("pods");
        let w = WriteCtx::update("test");
        c.store
            .create(
                &pods,
                Some("monitoring"),
                json!({"metadata": {"name": "p"}, "spec": {
                    "containers": [{"name": "app", "image": "busybox",
                        "volumeMounts": [
                            {"name": "certs", "mountPath": "/etc/certs"},
                            {"name": "one", "mountPath": "/etc/one"},
                            {"name": "certs", "mountPath": "/etc/tls.crt", "subPath": "tls.crt"},
                            {"name": "cache", "mountPath": "/cache"}]}],
                    "volumes": [
                        {"name": "certs", "secret": {"secretName": "etcd-client-cert"}},
                        {"name": "one", "secret": {"secretName": "etcd-client-cert", "defaultMode": 0o400,
                            "items": [{"key": "ca.crt", "path": "sub/ca.pem"}]}},
                        {"name": "opt", "secret": {"secretName": "nope", "optional": true}},
                        {"name": "cache", "emptyDir": {}}]}}),
                &w,
            )
            .unwrap();
        // the secret does not exist yet: ContainerCreating, no view
        let p = eventually("status", 10, || {
            let p = pod_of(&c, "monitoring", "p");
            p["status"]["containerStatuses"].is_array().then_some(p)
        })
        .await;
        assert_eq!(p["status"]["phase"], "Pending");
        assert_eq!(
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
        assert!(c.kubelet.view("monitoring", "p", "app").is_none());
        assert_eq!(
            c.kubelet.mount_error("monitoring", "p").unwrap(),
            "MountVolume.SetUp failed for volume \"certs\" : secret \"etcd-client-cert\" not found"
        );
        let mf = &p["metadata"]["managedFields"];
        let _ = mf; // managedFields are the managed module's business
        c.store
            .create(
                &secrets,
                Some("monitoring"),
                json!({"metadata": {"name": "etcd-client-cert"},
                       "data": {"ca.crt": b64(b"CA\n"), "tls.crt": b64(b"CRT"), "tls.key": b64(&[0, 1, 2])}}),
                &w,
            )
            .unwrap();
        let v = eventually("view", 10, || c.kubelet.view("monitoring", "p", "app")).await;
        let certs = v
            .mounts
            .iter()
            .find(|m| m.container_path == "/etc/certs")
            .unwrap();
        assert!(certs.read_only);
        assert_eq!(
            std::fs::read(certs.host_path.join("tls.key")).unwrap(),
            [0, 1, 2]
        );
        assert_eq!(
            std::fs::read(certs.host_path.join("ca.crt")).unwrap(),
            b"CA\n"
        );
        let one = v
            .mounts
            .iter()
            .find(|m| m.container_path == "/etc/one")
            .unwrap();
        let f = one.host_path.join("sub/ca.pem");
        assert_eq!(std::fs::read(&f).unwrap(), b"CA\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o400
        );
        assert!(!one.host_path.join("tls.crt").exists());
        let cache = v
            .mounts
            .iter()
            .find(|m| m.container_path == "/cache")
            .unwrap();
        assert!(!cache.read_only && cache.host_path.is_dir());
        assert!(v.root.starts_with(c.dir.join("pods")));
        assert_eq!(v.ip.octets()[..3], [127, 232, 1]);
        let p = eventually("Running", 10, || {
            let p = pod_of(&c, "monitoring", "p");
            (p["status"]["phase"] == "Running").then_some(p)
        })
        .await;
        assert_eq!(p["status"]["podIP"], v.ip.to_string());
        // update the secret: the file follows within a second or so
        let mut sec = c
            .store
            .get(&secrets, Some("monitoring"), "etcd-client-cert")
            .unwrap();
        sec["data"]["tls.crt"] = json!(b64(b"NEW"));
        c.store
            .update(&secrets, Some("monitoring"), "etcd-client-cert", sec, &w)
            .unwrap();
        let t0 = Instant::now();
        eventually("new bytes", 5, || {
            (std::fs::read(certs.host_path.join("tls.crt")).ok()? == b"NEW").then_some(())
        })
        .await;
        assert!(t0.elapsed() < Duration::from_secs(2));
        // what `kubectl exec` sees through bwrap: `ls` the keys, `ls -a` the atomic writer's entries
        let out = bwrap_command(
            &v,
            &[
                "sh".into(),
                "-c".into(),
                "ls /etc/certs; echo --; ls -a /etc/certs; echo --; cat /etc/certs/tls.crt /etc/tls.crt; touch /etc/certs/x 2>/dev/null || echo read-only".into(),
            ],
        )
        .output()
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let parts: Vec<&str> = text.split("--\n").collect();
        assert_eq!(parts[0], "ca.crt\ntls.crt\ntls.key\n", "{text}");
        assert!(
            parts[1].contains("..data\n") && parts[1].contains("\n..20"),
            "{text}"
        );
        assert_eq!(parts[2], "NEWCRTread-only\n", "{text}");
        // a subPath mount keeps what it had when the container started
        let sub = v
            .mounts
            .iter()
            .find(|m| m.container_path == "/etc/tls.crt")
            .unwrap();
        assert_eq!(std::fs::read(&sub.host_path).unwrap(), b"CRT");
        // a new volume in the spec never appears in the running pod
        c.store
            .modify(&pods, Some("monitoring"), "p", &w, |p| {
                p["spec"]["volumes"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "late", "secret": {"secretName": "etcd-client-cert"}}));
                true
            })
            .unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(!v.root.join("volumes/kubernetes.io~secret/late").exists());
        // delete: views and root go
        c.store
            .delete(&pods, Some("monitoring"), "p", &DeletePre::default())
            .unwrap();
        eventually("root removed", 10, || (!v.root.exists()).then_some(())).await;
        assert!(c.kubelet.view("monitoring", "p", "app").is_none());
        task.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn not_ready_delay_holds_ready_back() {
        let (_t, c) = cluster(234);
        c.kubelet.set_not_ready_delay(Duration::from_millis(1500));
        let task = spawn(c.clone());
        c.store
            .create(
                &c.store.rt("pods"),
                Some("default"),
                json!({"metadata": {"name": "app"}, "spec": {"containers": [{"name": "app", "image": "busybox"}]}}),
                &WriteCtx::update("test"),
            )
            .unwrap();
        let cond = |p: &Value, t: &str| {
            p["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == t).cloned())
                .unwrap_or(Value::Null)
        };
        let p = eventually("Running", 5, || {
            let p = pod_of(&c, "default", "app");
            (p["status"]["phase"] == "Running").then_some(p)
        })
        .await;
        let t0 = Instant::now();
        let ready = cond(&p, "Ready");
        assert_eq!(ready["status"], "False", "{p}");
        assert_eq!(ready["reason"], "ContainersNotReady");
        assert_eq!(ready["message"], "containers with unready status: [app]");
        assert_eq!(p["status"]["containerStatuses"][0]["ready"], false);
        assert_eq!(p["status"]["podIP"], "127.234.1.2");
        eventually("Ready", 5, || {
            let p = pod_of(&c, "default", "app");
            (cond(&p, "Ready")["status"] == "True").then_some(())
        })
        .await;
        assert!(t0.elapsed() >= Duration::from_millis(900));
        task.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn prometheus_pod_runs_reloads_and_stops() {
        use std::io::Write as _;
        let (_t, c) = cluster(233);
        c.kubelet.set_not_ready_delay(Duration::from_secs(2));
        let task = spawn(c.clone());
        let w = WriteCtx::update("test");
        let gz = |text: &str| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(text.as_bytes()).unwrap();
            b64(&e.finish().unwrap())
        };
        let cfg1 = "global:\n  scrape_interval: 30s\n  external_labels:\n    prometheus_replica: $(POD_NAME)\nrule_files:\n- /etc/prometheus/rules/prometheus-k8s-rulefiles-0/*.yaml\nscrape_configs: []\n";
        let rules = |g: &str| {
            format!(
                "groups:\n- name: {g}\n  rules:\n  - record: promfix_test\n    expr: vector(1)\n"
            )
        };
        c.store
            .create(
                &c.store.rt("configmaps"),
                Some("monitoring"),
                json!({"metadata": {"name": "prometheus-k8s-rulefiles-0"}, "data": {"monitoring-a.yaml": rules("group-a")}}),
                &w,
            )
            .unwrap();
        c.store
            .create(
                &c.store.rt("secrets"),
                Some("monitoring"),
                json!({"metadata": {"name": "prometheus-k8s"}, "data": {"prometheus.yaml.gz": gz(cfg1)}}),
                &w,
            )
            .unwrap();
        c.store
            .create(
                &c.store.rt("pods"),
                Some("monitoring"),
                json!({"metadata": {"name": "prometheus-k8s-0"}, "spec": {
                    "containers": [
                        {"name": "prometheus", "image": "quay.io/prometheus/prometheus:v2.54.1",
                         "args": ["--web.console.templates=/etc/prometheus/consoles",
                                  "--web.console.libraries=/etc/prometheus/console_libraries",
                                  "--config.file=/etc/prometheus/config_out/prometheus.env.yaml",
                                  "--web.enable-lifecycle", "--web.route-prefix=/",
                                  "--storage.tsdb.retention.time=24h",
                                  "--storage.tsdb.path=/prometheus",
                                  "--web.enable-otlp-receiver"],
                         "readinessProbe": {"httpGet": {"path": "/-/ready", "port": "web"}},
                         "volumeMounts": [
                            {"name": "config-out", "mountPath": "/etc/prometheus/config_out", "readOnly": true},
                            {"name": "prometheus-k8s-rulefiles-0", "mountPath": "/etc/prometheus/rules/prometheus-k8s-rulefiles-0"},
                            {"name": "prometheus-k8s-db", "mountPath": "/prometheus", "subPath": "prometheus-db"}]},
                        {"name": "config-reloader", "image": "quay.io/prometheus-operator/prometheus-config-reloader:v0.76.0",
                         "args": ["--listen-address=:8080", "--reload-url=http://127.0.0.1:9090/-/reload",
                                  "--config-file=/etc/prometheus/config/prometheus.yaml.gz",
                                  "--config-envsubst-file=/etc/prometheus/config_out/prometheus.env.yaml",
                                  "--watched-dir=/etc/prometheus/rules/prometheus-k8s-rulefiles-0"],
                         "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                 {"name": "SHARD", "value": "0"}],
                         "volumeMounts": [
                            {"name": "config", "mountPath": "/etc/prometheus/config"},
                            {"name": "config-out", "mountPath": "/etc/prometheus/config_out"},
                            {"name": "prometheus-k8s-rulefiles-0", "mountPath": "/etc/prometheus/rules/prometheus-k8s-rulefiles-0"}]}],
                    "volumes": [
                        {"name": "config", "secret": {"secretName": "prometheus-k8s"}},
                        {"name": "config-out", "emptyDir": {"medium": "Memory"}},
                        {"name": "prometheus-k8s-rulefiles-0", "configMap": {"name": "prometheus-k8s-rulefiles-0"}},
                        {"name": "prometheus-k8s-db", "emptyDir": {}}]}}),
                &w,
            )
            .unwrap();
        let v = eventually("view", 10, || {
            c.kubelet
                .view("monitoring", "prometheus-k8s-0", "prometheus")
        })
        .await;
        let r = eventually("ready", 30, || {
            let rt = tokio::runtime::Handle::current();
            let ip = v.ip;
            let r = std::thread::spawn(move || {
                rt.block_on(crate::peers::http_request(
                    "GET",
                    ip,
                    9090,
                    "/-/ready",
                    Duration::from_secs(1),
                ))
            })
            .join()
            .unwrap();
            r.ok().filter(|r| r.status == 200)
        })
        .await;
        assert!(r.text().contains("Ready"), "{}", r.text());
        let cfg = |ip| async move {
            crate::peers::http_request(
                "GET",
                ip,
                9090,
                "/api/v1/status/config",
                Duration::from_secs(2),
            )
            .await
            .unwrap()
            .text()
        };
        let got = cfg(v.ip).await;
        assert!(
            got.contains("prometheus_replica: prometheus-k8s-0"),
            "{got}"
        );
        let p = eventually("Ready", 20, || {
            let p = pod_of(&c, "monitoring", "prometheus-k8s-0");
            let ready = p["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            ready.then_some(p)
        })
        .await;
        assert_eq!(p["status"]["podIP"], v.ip.to_string());
        let names: Vec<&str> = p["status"]["containerStatuses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["config-reloader", "prometheus"]); // sorted by name, as the kubelet does
        assert_eq!(p["status"]["containerStatuses"][1]["ready"], true);
        assert_eq!(
            p["status"]["containerStatuses"][1]["volumeMounts"][0],
            json!({"name": "config-out", "mountPath": "/etc/prometheus/config_out",
                   "readOnly": true, "recursiveReadOnly": "Disabled"})
        );
        assert!(p["status"]["containerStatuses"][1]["state"]["running"]["startedAt"].is_string());
        let log = std::fs::read_to_string(log_path(&v)).unwrap();
        assert!(log.contains("dropped --web.enable-otlp-receiver"), "{log}");
        // the config changes: the reloader rewrites and Prometheus reloads
        let cfg2 = cfg1.replace("30s", "17s");
        c.store
            .modify(
                &c.store.rt("secrets"),
                Some("monitoring"),
                "prometheus-k8s",
                &w,
                |s| {
                    s["data"]["prometheus.yaml.gz"] = json!(gz(&cfg2));
                    true
                },
            )
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if cfg(v.ip).await.contains("scrape_interval: 17s") {
                break;
            }
            assert!(Instant::now() < deadline, "no reload");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // delete: the process goes, the root goes
        let pid = c
            .kubelet
            .pid("monitoring", "prometheus-k8s-0", "prometheus")
            .unwrap();
        c.store
            .delete(
                &c.store.rt("pods"),
                Some("monitoring"),
                "prometheus-k8s-0",
                &DeletePre::default(),
            )
            .unwrap();
        eventually("root removed", 15, || (!v.root.exists()).then_some(())).await;
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        assert!(
            crate::peers::http_request("GET", v.ip, 9090, "/-/ready", Duration::from_secs(1))
                .await
                .is_err()
        );
        task.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_prometheus_that_exits_goes_into_crash_loop_back_off() {
        let (_t, c) = cluster(237);
        let task = spawn(c.clone());
        c.store
            .create(
                &c.store.rt("pods"),
                Some("default"),
                json!({"metadata": {"name": "crash"}, "spec": {"containers": [
                    {"name": "prometheus", "image": "quay.io/prometheus/prometheus:v2.54.1",
                     "args": ["--config.file=/etc/prometheus/missing.yaml"]}]}}),
                &WriteCtx::update("test"),
            )
            .unwrap();
        let st = eventually("CrashLoopBackOff", 20, || {
            let p = pod_of(&c, "default", "crash");
            let st = p["status"]["containerStatuses"][0].clone();
            (st["restartCount"].as_u64()? >= 2
                && st["state"]["waiting"]["reason"] == "CrashLoopBackOff")
                .then_some(st)
        })
        .await;
        let msg = st["state"]["waiting"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with(
                "back-off 10s restarting failed container=prometheus pod=crash_default("
            ),
            "{msg}"
        );
        assert_eq!(st["lastState"]["terminated"]["reason"], "Error");
        assert_ne!(st["lastState"]["terminated"]["exitCode"], 0);
        assert_eq!(st["ready"], false);
        assert!(c.kubelet.view("default", "crash", "prometheus").is_none());
        task.abort();
    }

    /// The chain the plugin builds: etcd client certificate in a Secret, mounted into the
    /// Prometheus pod, scraping real etcd over mTLS.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn prometheus_scrapes_etcd_with_the_client_cert_from_a_secret() {
        use crate::peers::certs::{Layout, generate};
        use crate::peers::etcd::{EtcdCluster, EtcdOptions};
        let (t, c) = cluster(236);
        let hosts = vec![("node1".to_string(), Ipv4Addr::new(127, 236, 2, 11))];
        let pki = generate(Layout::Kubeadm, &hosts, &t.path().join("nodes")).unwrap();
        let _etcd = EtcdCluster::start(&pki, &t.path().join("etcd"), EtcdOptions::default())
            .await
            .unwrap();
        let task = spawn(c.clone());
        let w = WriteCtx::update("test");
        let file = |p: &Path| b64(&std::fs::read(p).unwrap());
        c.store
            .create(
                &c.store.rt("secrets"),
                Some("monitoring"),
                json!({"metadata": {"name": "etcd-client-cert"}, "data": {
                    "ca.crt": file(&pki.ca.cert),
                    "tls.crt": file(&pki.client.cert),
                    "tls.key": file(&pki.client.key)}}),
                &w,
            )
            .unwrap();
        let cfg = "global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: etcd\n  scheme: https\n  tls_config:\n    ca_file: /etc/prometheus/secrets/etcd-client-cert/ca.crt\n    cert_file: /etc/prometheus/secrets/etcd-client-cert/tls.crt\n    key_file: /etc/prometheus/secrets/etcd-client-cert/tls.key\n  static_configs:\n  - targets: ['127.236.2.11:2379']\n";
        c.store
            .create(
                &c.store.rt("secrets"),
                Some("monitoring"),
                json!({"metadata": {"name": "prometheus-k8s"}, "data": {"prometheus.yaml": b64(cfg.as_bytes())}}),
                &w,
            )
            .unwrap();
        c.store
            .create(
                &c.store.rt("pods"),
                Some("monitoring"),
                json!({"metadata": {"name": "prometheus-k8s-0"}, "spec": {
                    "containers": [
                        {"name": "prometheus", "image": "quay.io/prometheus/prometheus:v2.54.1",
                         "args": ["--config.file=/etc/prometheus/config/prometheus.yaml",
                                  "--storage.tsdb.path=/prometheus"],
                         "volumeMounts": [
                            {"name": "config", "mountPath": "/etc/prometheus/config"},
                            {"name": "secret-etcd-client-cert", "mountPath": "/etc/prometheus/secrets/etcd-client-cert", "readOnly": true}]}],
                    "volumes": [
                        {"name": "config", "secret": {"secretName": "prometheus-k8s"}},
                        {"name": "secret-etcd-client-cert", "secret": {"secretName": "etcd-client-cert", "defaultMode": 420}}]}}),
                &w,
            )
            .unwrap();
        let v = eventually("view", 10, || {
            c.kubelet
                .view("monitoring", "prometheus-k8s-0", "prometheus")
        })
        .await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = crate::peers::http_request(
                "GET",
                v.ip,
                9090,
                "/api/v1/targets",
                Duration::from_secs(2),
            )
            .await;
            if let Ok(r) = r
                && r.text().contains("\"health\":\"up\"")
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "etcd target not up: {:?}\n{}",
                crate::peers::http_request(
                    "GET",
                    v.ip,
                    9090,
                    "/api/v1/targets",
                    Duration::from_secs(2)
                )
                .await
                .map(|r| r.text()),
                crate::peers::log_tail(&log_path(&v), 20)
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // aborting the kubelet stops its processes
        let pid = c
            .kubelet
            .pid("monitoring", "prometheus-k8s-0", "prometheus")
            .unwrap();
        task.abort();
        let _ = task.await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while crate::peers::http_request("GET", v.ip, 9090, "/-/ready", Duration::from_secs(1))
            .await
            .is_ok()
        {
            assert!(
                Instant::now() < deadline,
                "Prometheus still answers after the abort"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z "),
            "bwrap {pid} still runs: {stat}"
        );
    }
}
