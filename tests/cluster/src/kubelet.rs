//! The kubelet: per-pod root directories where each pod's volumes are files (secret volumes: one
//! file per key, decoded bytes), the pod's processes (the real Prometheus for container
//! `prometheus`), pod status (Ready after a configurable delay), and `/configz` per node.
//!
//! OWNER: runtime helper. `PodView` and `bwrap_command` are the contract with `exec` and `proxy`.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Mutex;

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

/// The kubelet of every node of one cluster.
#[derive(Debug, Default)]
pub struct Kubelet {
    /// Running pods' container views, by (namespace, pod, container).
    pub views: Mutex<HashMap<(String, String, String), PodView>>,
    /// Each node's kubelet configuration (`KubeletConfiguration` as JSON), served at
    /// `nodes/{node}/proxy/configz` as `{"kubeletconfig": ...}`. Filled from the scenario.
    pub configz: Mutex<HashMap<String, serde_json::Value>>,
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
}

/// The command that runs `argv` inside the container's mount view: the host's root read-only,
/// a private /tmp, `/etc/prometheus` replaced by an empty tmpfs, and each volume bound at its
/// container path. The process dies with its parent. Nothing on the host outside `view.root`
/// is written.
pub fn bwrap_command(view: &PodView, argv: &[String]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("bwrap");
    c.args([
        "--die-with-parent",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
    ]);
    c.args(["--tmpfs", "/tmp", "--tmpfs", "/etc/prometheus"]);
    for m in &view.mounts {
        let flag = if m.read_only { "--ro-bind" } else { "--bind" };
        c.arg(flag).arg(&m.host_path).arg(&m.container_path);
    }
    c.arg("--chdir").arg("/");
    c.arg("--");
    c.args(argv);
    c.kill_on_drop(true);
    c
}
