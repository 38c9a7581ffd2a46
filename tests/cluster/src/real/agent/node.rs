//! A node's heartbeats, as the kubelet sends them (`pkg/kubelet/kubelet_node_status.go`,
//! `nodestatus/setters.go`, `component-helpers/apimachinery/lease/controller.go`):
//! - the Lease `kube-node-lease/<node>` (holder the node, `leaseDurationSeconds` 40, owned by the
//!   Node) is renewed every quarter of its duration (10 s);
//! - every `nodeStatusUpdateFrequency` (10 s) the Node is read and its status computed: the
//!   conditions MemoryPressure, DiskPressure, PIDPressure and Ready (transition times kept while
//!   the status stays, heartbeat now), capacity and allocatable of this machine. The status is
//!   patched when it changed (heartbeats aside) or `nodeStatusReportFrequency` (5 min) passed
//!   since the last report, as the kubelet does once leases carry the heartbeat.

use super::api::{ApiClient, status_code};
use super::now_micro;
use crate::store::now_rfc3339;
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// What a kubelet's configuration says about its node's heartbeats.
#[derive(Debug, Clone)]
pub struct NodeTiming {
    pub lease_duration: Duration,
    pub status_update: Duration,
    pub status_report: Duration,
}

impl Default for NodeTiming {
    fn default() -> Self {
        NodeTiming {
            lease_duration: Duration::from_secs(40),
            status_update: Duration::from_secs(10),
            status_report: Duration::from_secs(300),
        }
    }
}

/// This machine's resources as the kubelet reports them (cadvisor's machine info).
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpus: usize,
    pub memory_bytes: u64,
    pub disk_bytes: u64,
}

impl Machine {
    pub fn probe(dir: &std::path::Path) -> Machine {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let memory_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|k| k.parse::<u64>().ok())
            })
            .unwrap_or(0)
            * 1024;
        let disk_bytes = statvfs_bytes(dir).unwrap_or(0);
        Machine {
            cpus,
            memory_bytes,
            disk_bytes,
        }
    }
}

fn statvfs_bytes(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is a valid C string.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        Some(st.f_blocks * st.f_frsize)
    }
}

/// A byte count as a binary-SI quantity (`resource.NewQuantity(n, BinarySI)`).
fn quantity(bytes: u64) -> String {
    if bytes.is_multiple_of(1024 * 1024 * 1024) && bytes > 0 {
        format!("{}Gi", bytes / (1024 * 1024 * 1024))
    } else if bytes.is_multiple_of(1024 * 1024) && bytes > 0 {
        format!("{}Mi", bytes / (1024 * 1024))
    } else if bytes.is_multiple_of(1024) && bytes > 0 {
        format!("{}Ki", bytes / 1024)
    } else {
        bytes.to_string()
    }
}

/// Capacity and allocatable: allocatable is capacity less the default hard eviction thresholds
/// (`memory.available<100Mi`, `nodefs.available<10%`), no reservations.
fn resources(m: &Machine, max_pods: u64) -> (Value, Value) {
    let cap = json!({
        "cpu": m.cpus.to_string(),
        "memory": quantity(m.memory_bytes),
        "ephemeral-storage": quantity(m.disk_bytes),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "pods": max_pods.to_string(),
    });
    let alloc = json!({
        "cpu": m.cpus.to_string(),
        "memory": quantity(m.memory_bytes.saturating_sub(100 * 1024 * 1024)),
        "ephemeral-storage": (m.disk_bytes - m.disk_bytes / 10).to_string(),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "pods": max_pods.to_string(),
    });
    (cap, alloc)
}

/// The kubelet's conditions (setters.go), in its order.
const CONDITIONS: [(&str, &str, &str, &str); 4] = [
    (
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    (
        "DiskPressure",
        "False",
        "KubeletHasNoDiskPressure",
        "kubelet has no disk pressure",
    ),
    (
        "PIDPressure",
        "False",
        "KubeletHasSufficientPID",
        "kubelet has sufficient PID available",
    ),
    (
        "Ready",
        "True",
        "KubeletReady",
        "kubelet is posting ready status",
    ),
];

/// The status patch for `node` and whether anything but heartbeats changed
/// (`nodeStatusHasChanged`).
pub fn status_patch(node: &Value, machine: &Machine, max_pods: u64) -> (Value, bool) {
    let now = now_rfc3339();
    let old: Vec<Value> = node["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut changed = false;
    let mut conds = Vec::new();
    for (t, st, reason, msg) in CONDITIONS {
        let prev = old.iter().find(|c| c["type"] == t);
        let same = prev.is_some_and(|p| p["status"] == st);
        if !prev.is_some_and(|p| p["status"] == st && p["reason"] == reason && p["message"] == msg)
        {
            changed = true;
        }
        let transition = match prev {
            Some(p) if same => p["lastTransitionTime"].clone(),
            _ => json!(now),
        };
        conds.push(json!({
            "type": t, "status": st, "reason": reason, "message": msg,
            "lastHeartbeatTime": now, "lastTransitionTime": transition,
        }));
    }
    let mut status = json!({ "conditions": conds });
    // The features of the node's kubelet the API server asks about (NodeDeclaredFeatures, GA in
    // 1.37): ExtendWebSocketsToKubelet (Beta, on by default since 1.36) makes the API server pass
    // exec WebSockets through to the kubelet API. The others of `nodedeclaredfeatures` are about
    // what the agent does not do (in-place resize, DRA, user namespaces), so it declares none.
    let declared = json!(["ExtendWebSocketsToKubelet"]);
    if node["status"]["declaredFeatures"] != declared {
        status["declaredFeatures"] = declared;
        changed = true;
    }
    // Capacity a scenario gives its nodes is that node's machine; without it, this machine's.
    if node["status"]["capacity"]
        .as_object()
        .is_none_or(|m| m.is_empty())
    {
        let (cap, alloc) = resources(machine, max_pods);
        status["capacity"] = cap;
        status["allocatable"] = alloc;
        changed = true;
    }
    (json!({ "status": status }), changed)
}

/// Renew the node's Lease and report its status, forever.
pub async fn heartbeat(
    api: ApiClient,
    node: String,
    timing: NodeTiming,
    machine: Machine,
    max_pods: u64,
) {
    let mut lease: Option<Value> = None;
    let renew = timing.lease_duration / 4;
    let mut next_lease = Instant::now();
    let mut next_status = Instant::now();
    let mut last_report: Option<Instant> = None;
    loop {
        if Instant::now() >= next_lease {
            match renew_lease(&api, &node, lease.take(), &timing).await {
                Ok(l) => {
                    lease = Some(l);
                    next_lease = Instant::now() + renew;
                }
                // The lease controller retries failures after 200 ms, doubling up to 7 s.
                Err(e) => {
                    tracing_line(&node, &format!("failed to update lease: {e:#}"));
                    next_lease = Instant::now() + Duration::from_millis(200);
                }
            }
        }
        if Instant::now() >= next_status {
            next_status = Instant::now() + timing.status_update;
            let due = last_report.is_none_or(|t| t.elapsed() >= timing.status_report);
            match update_status(&api, &node, &machine, max_pods, due).await {
                Ok(true) => last_report = Some(Instant::now()),
                Ok(false) => {}
                Err(e) => tracing_line(&node, &format!("error updating node status: {e:#}")),
            }
        }
        let wake = next_lease.min(next_status);
        tokio::time::sleep_until(wake.into()).await;
    }
}

fn tracing_line(node: &str, msg: &str) {
    eprintln!("node-agent {node}: {msg}");
}

async fn update_status(
    api: &ApiClient,
    node: &str,
    machine: &Machine,
    max_pods: u64,
    due: bool,
) -> Result<bool> {
    let path = format!("/api/v1/nodes/{node}");
    // The kubelet reads its Node from its informer's cache; resourceVersion=0 is the API
    // server's watch cache, as fresh and no etcd read.
    let Some(n) = api.get(&format!("{path}?resourceVersion=0")).await? else {
        anyhow::bail!("node {node} not found");
    };
    let (patch, changed) = status_patch(&n, machine, max_pods);
    if !changed && !due {
        return Ok(false);
    }
    api.patch_strategic(&format!("{path}/status"), &patch)
        .await?;
    Ok(true)
}

/// `ensureLease` then `retryUpdateLease`: create the Lease when missing, else update the last
/// one seen (read anew after a conflict).
async fn renew_lease(
    api: &ApiClient,
    node: &str,
    last: Option<Value>,
    timing: &NodeTiming,
) -> Result<Value> {
    let path = format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}");
    let current = match last {
        Some(l) => Some(l),
        None => api.get(&path).await?,
    };
    let secs = timing.lease_duration.as_secs();
    match current {
        None => {
            let owner = api
                .get(&format!("/api/v1/nodes/{node}"))
                .await?
                .context("the Node is gone")?;
            let body = json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": node, "namespace": "kube-node-lease",
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node,
                        "uid": owner["metadata"]["uid"]}]},
                "spec": {"holderIdentity": node, "leaseDurationSeconds": secs,
                    "renewTime": now_micro()},
            });
            api.post(
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                &body,
            )
            .await
        }
        Some(mut l) => {
            l["spec"]["holderIdentity"] = json!(node);
            l["spec"]["leaseDurationSeconds"] = json!(secs);
            l["spec"]["renewTime"] = json!(now_micro());
            match api.put(&path, &l).await {
                Ok(v) => Ok(v),
                Err(e) if status_code(&e) == Some(409) => {
                    let mut fresh = api.get(&path).await?.context("the Lease is gone")?;
                    fresh["spec"]["renewTime"] = json!(now_micro());
                    fresh["spec"]["holderIdentity"] = json!(node);
                    api.put(&path, &fresh).await
                }
                Err(e) => Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Machine {
        Machine {
            cpus: 2,
            memory_bytes: 16 * 1024 * 1024 * 1024,
            disk_bytes: 100 * 1024 * 1024 * 1024,
        }
    }

    #[test]
    fn a_scenario_node_gets_the_kubelets_conditions_and_this_machines_capacity() {
        let node = json!({"status": {"conditions": [{"type": "Ready", "status": "True",
            "reason": "KubeletReady", "message": "kubelet is posting ready status",
            "lastHeartbeatTime": "2020-07-20T08:00:00Z",
            "lastTransitionTime": "2020-07-20T08:00:00Z"}]}});
        let (patch, changed) = status_patch(&node, &machine(), 110);
        assert!(changed, "three conditions and the capacity are new");
        let conds = patch["status"]["conditions"].as_array().unwrap();
        let types: Vec<&str> = conds.iter().map(|c| c["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        );
        let ready = &conds[3];
        // The status stayed True: its transition time is kept, its heartbeat is now.
        assert_eq!(ready["lastTransitionTime"], "2020-07-20T08:00:00Z");
        assert_ne!(ready["lastHeartbeatTime"], "2020-07-20T08:00:00Z");
        assert_eq!(patch["status"]["capacity"]["memory"], "16Gi");
        assert_eq!(patch["status"]["allocatable"]["memory"], "16284Mi");
        assert_eq!(patch["status"]["capacity"]["pods"], "110");
        assert_eq!(
            patch["status"]["allocatable"]["ephemeral-storage"],
            (100u64 * 1024 * 1024 * 1024 * 9 / 10).to_string()
        );
    }

    #[test]
    fn only_heartbeats_differing_is_no_change() {
        let node = json!({"status": {"capacity": {"cpu": "2"}, "conditions": []}});
        let (patch, changed) = status_patch(&node, &machine(), 110);
        assert!(changed);
        let mut reported = node.clone();
        reported["status"]["conditions"] = patch["status"]["conditions"].clone();
        reported["status"]["declaredFeatures"] = patch["status"]["declaredFeatures"].clone();
        let (_, changed) = status_patch(&reported, &machine(), 110);
        assert!(!changed, "nothing but heartbeats changed");
        // The node lifecycle controller's Unknown is a change the kubelet reports at once.
        reported["status"]["conditions"][3]["status"] = json!("Unknown");
        reported["status"]["conditions"][3]["reason"] = json!("NodeStatusUnknown");
        let (patch, changed) = status_patch(&reported, &machine(), 110);
        assert!(changed);
        assert_eq!(patch["status"]["conditions"][3]["status"], "True");
        assert!(
            patch["status"].get("capacity").is_none(),
            "the scenario's capacity stays"
        );
    }
}
