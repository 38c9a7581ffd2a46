//! The node agent: the kubelet of every Node of a real test cluster, as a client of the real API
//! server, each node with its own identity (a client certificate `CN=system:node:<name>`,
//! `O=system:nodes` from the cluster CA, in a kubeconfig like kubeadm's `kubelet.conf`), so the
//! Node authorizer and the NodeRestriction admission plugin judge what it does.
//!
//! What it does, as the kubelet does:
//! - **Nodes** (`node.rs`): renews each node's Lease every 10 s and reports its status (the
//!   kubelet's conditions, this machine's capacity) so the node lifecycle controller keeps it
//!   Ready and untainted.
//! - **Pods** (`pod.rs`): lists and watches the pods bound to each node (`spec.nodeName`) and runs
//!   them. `hostNetwork` pods run in the cluster's network namespace; others get one of their
//!   own with a pod IP from `198.18.S.128-223` (`net.rs`). Volumes come from the API: Secrets,
//!   ConfigMaps, downward API, projected service-account tokens from the TokenRequest API (with
//!   `ca.crt` from `kube-root-ca.crt` and the namespace), in the atomic writer's layout
//!   (`..data` symlink), refreshed every `syncFrequency`; emptyDir and hostPath (below the node's
//!   root) as directories. Init containers run to completion first; containers restart with the
//!   kubelet's back-off; httpGet/tcpSocket probes run from the host against the pod IP
//!   (startup, readiness, liveness); status (phase, conditions, podIP, hostIP, container
//!   statuses) is patched as the status manager does; a deleted pod's containers get SIGTERM,
//!   SIGKILL after its grace period, then the pod is deleted with grace period 0. The kubelet's
//!   Events say what happened.
//!
//! Images map to the binaries `tests/k8s/build` built: `quay.io/prometheus/prometheus:*` runs
//! Prometheus 3 (whatever the tag; flags it does not know are left out and logged),
//! `*/prometheus-config-reloader:*` the real reloader, `*/prometheus-operator:*` the built
//! operator v0.93.1 with the pod's in-cluster config (flags it does not know are left out and
//! logged), `*/kube-controller-manager:*` and
//! `*/kube-scheduler:*` the v1.37 components (whatever the tag, flags as written), each in
//! bubblewrap with the pod's volumes at their mount paths, in the pod's network namespace (the
//! cluster's for `hostNetwork` pods).
//!
//! Simulated, knowingly:
//! - Containers of every other image run no process: they are Running and Ready (their probes
//!   count as succeeded) until the pod goes.
//! - `KUBERNETES_SERVICE_HOST`/`PORT` point at the API server's own address (`198.18.S.1:6443`):
//!   no kube-proxy routes the `kubernetes` Service's ClusterIP here. Other Services' link
//!   variables are not set.
//! - Processes run as the test's user (no `runAsUser`/`fsGroup`), with the host's root
//!   read-only as their filesystem (bubblewrap), not the image's.
//! - exec and gRPC probes of a real process count as succeeded. Events (`events.rs`) are sent one
//!   by one, without client-go's aggregation of repeats.
//! - Every node's host network is the cluster's namespace: `hostNetwork` pods of different nodes
//!   share its ports.
//! - **Static pods** (`static_pods.rs`): a node's `etc/kubernetes/manifests/*.yaml` (below its
//!   root) are run as the kubelet runs them, with mirror pods through the API; images
//!   `*/kube-controller-manager:*` and `*/kube-scheduler:*` run the built components with the
//!   manifest's flags. Mirror pods without a manifest (the scenario's kube-apiserver and etcd)
//!   are left as the scenario wrote them.

pub mod api;
pub mod container_logs;
pub mod events;
pub mod kubelet_api;
pub mod kubelet_metrics;
pub mod net;
pub mod node;
pub mod operator;
pub mod pod;
pub mod static_pods;

use crate::peers::certs::{Usage, leaf_params, sign, write_file};
use crate::peers::prometheus::Prometheus;
use crate::real::{Bins, ControlPlane, NetNs};
use anyhow::{Context, Result};
use api::ApiClient;
use futures::StreamExt;
use kube::core::WatchEvent;
use serde_json::Value;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use node::NodeTiming;

/// A node the agent is the kubelet of.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    /// Its InternalIP: the host IP of its pods, the pod IP of its `hostNetwork` pods.
    pub ip: Ipv4Addr,
    /// `maxPods` of its KubeletConfiguration (the `pods` capacity it reports).
    pub max_pods: u64,
    /// `daemonEndpoints.kubeletEndpoint.Port`: where its kubelet API listens (10250).
    pub port: u16,
    /// Its KubeletConfiguration as `/configz` shows it (the scenario's `kubelets` entry).
    pub config: Option<Value>,
}

/// A running container as `kubectl exec` reaches it: its view and its pod's network namespace.
type ExecTarget = (crate::kubelet::PodView, Option<Arc<std::os::fd::OwnedFd>>);

/// How the agent runs; the KubeletConfiguration fields it follows.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// `syncFrequency`: how often a pod's volumes are re-read from the API (default 1m).
    pub sync_frequency: Duration,
    /// `nodeLeaseDurationSeconds`, `nodeStatusUpdateFrequency`, `nodeStatusReportFrequency`.
    pub timing: NodeTiming,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            sync_frequency: Duration::from_secs(60),
            timing: NodeTiming::default(),
        }
    }
}

/// State shared by every node's tasks.
pub struct Shared {
    pub(crate) ns: Arc<NetNs>,
    pub(crate) dir: PathBuf,
    pub(crate) apiserver: (Ipv4Addr, u16),
    pub(crate) pool: Arc<net::IpPool>,
    pub(crate) sync_frequency: Duration,
    pods: Mutex<HashMap<(String, String), PathBuf>>,
    views: Mutex<HashMap<(String, String, String), ExecTarget>>,
    binaries: Mutex<HashMap<String, PathBuf>>,
    prometheus: OnceLock<Result<Prometheus, String>>,
    /// Each node's KubeletConfiguration as its kubelet API runs with it (`kubelet_api.rs`).
    pub(crate) kubelet_configs: Mutex<HashMap<String, kubelet_api::LiveConfig>>,
    operator: OnceLock<Result<operator::Operator, String>>,
}

impl Shared {
    fn register(&self, ns: &str, name: &str, root: &Path) {
        self.pods
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((ns.into(), name.into()), root.to_path_buf());
    }
    /// Forget the pod at `root` (a new pod of the same name has a root of its own).
    fn unregister(&self, ns: &str, name: &str, root: &Path) {
        let mut pods = self.pods.lock().unwrap_or_else(|p| p.into_inner());
        let key = (ns.to_string(), name.to_string());
        if pods.get(&key).is_some_and(|r| r == root) {
            pods.remove(&key);
            self.views
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|(n, p, _), (v, _)| !(n == ns && p == name && v.root == root));
        }
    }
    /// A started container, for exec.
    pub(crate) fn register_view(
        &self,
        view: crate::kubelet::PodView,
        netns: Option<std::os::fd::OwnedFd>,
    ) {
        let key = (
            view.namespace.clone(),
            view.pod.clone(),
            view.container.clone(),
        );
        self.views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (view, netns.map(Arc::new)));
    }
    pub(crate) fn view(&self, ns: &str, pod: &str, container: &str) -> Option<ExecTarget> {
        self.views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(ns.to_string(), pod.to_string(), container.to_string()))
            .cloned()
    }
    pub(crate) fn pod_dir(&self, ns: &str, pod: &str) -> Option<PathBuf> {
        self.pods
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(ns.to_string(), pod.to_string()))
            .cloned()
    }
    /// A built binary, resolved once to its file in the build cache (the links of `Bins::dir` are
    /// rewritten by every `tests/k8s/build`, perhaps while a pod starts).
    fn binary(&self, name: &str) -> Result<PathBuf> {
        let mut bins = self.binaries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = bins.get(name) {
            return Ok(p.clone());
        }
        let link = Bins::get()?.path(name)?;
        let p = std::fs::canonicalize(&link)
            .with_context(|| format!("resolving {}", link.display()))?;
        bins.insert(name.to_string(), p.clone());
        Ok(p)
    }

    /// The built Prometheus and the flags it knows.
    fn prometheus(&self) -> Result<&Prometheus> {
        self.prometheus
            .get_or_init(|| {
                self.binary("prometheus")
                    .and_then(crate::peers::prometheus::probe_at)
                    .map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The built operator and the flags it knows.
    fn operator(&self) -> Result<&operator::Operator> {
        self.operator
            .get_or_init(|| {
                self.binary("prometheus-operator")
                    .and_then(|p| operator::Operator::probe_at(&p))
                    .map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// The running agent; dropping it stops every pod (processes killed, namespaces removed).
pub struct NodeAgent {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    opts: AgentOptions,
    user_agent: String,
    machine: node::Machine,
    /// Each node's client (its kubelet.conf), made once.
    clients: HashMap<String, ApiClient>,
}

/// Now as a `metav1.MicroTime` (`2006-01-02T15:04:05.000000Z07:00`).
pub fn now_micro() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    ))
    .unwrap_or_default()
}

/// The kubelet's serving certificate from the cluster CA (as with `serverTLSBootstrap`:
/// `CN=system:node:<name>`, `O=system:nodes`, SANs the node's IP and name).
fn node_serving_cert(
    cp: &ControlPlane,
    dir: &Path,
    node: &str,
    ip: Ipv4Addr,
) -> Result<(PathBuf, PathBuf)> {
    let pki = dir.join("var/lib/kubelet/pki");
    let ca_key = rcgen::KeyPair::from_pem(
        &std::fs::read_to_string(&cp.pki.ca.key).context("reading the cluster CA key")?,
    )?;
    let issuer = rcgen::Issuer::new(crate::peers::certs::ca_params("kubernetes"), ca_key);
    let year = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    let sans = [
        rcgen::SanType::IpAddress(std::net::IpAddr::V4(ip)),
        rcgen::SanType::DnsName(node.to_string().try_into()?),
    ];
    let leaf = sign(
        &leaf_params(
            &format!("system:node:{node}"),
            Some("system:nodes"),
            &sans,
            Usage::Server,
            year,
        ),
        &issuer,
    )?;
    let (crt, key) = (pki.join("kubelet.crt"), pki.join("kubelet.key"));
    write_file(&crt, &leaf.cert, 0o644)?;
    write_file(&key, &leaf.key, 0o600)?;
    Ok((crt, key))
}

/// The node's kubeconfig with a fresh client certificate from the cluster CA.
fn node_kubeconfig(cp: &ControlPlane, dir: &Path, node: &str) -> Result<PathBuf> {
    let pki = dir.join("var/lib/kubelet/pki");
    let ca_key = rcgen::KeyPair::from_pem(
        &std::fs::read_to_string(&cp.pki.ca.key).context("reading the cluster CA key")?,
    )?;
    // The CA's subject as pki.rs wrote it: an issuer needs only that and the key.
    let issuer = rcgen::Issuer::new(crate::peers::certs::ca_params("kubernetes"), ca_key);
    let year = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    let leaf = sign(
        &leaf_params(
            &format!("system:node:{node}"),
            Some("system:nodes"),
            &[],
            Usage::Client,
            year,
        ),
        &issuer,
    )?;
    let (crt, key) = (
        pki.join("kubelet-client.crt"),
        pki.join("kubelet-client.key"),
    );
    write_file(&crt, &leaf.cert, 0o644)?;
    write_file(&key, &leaf.key, 0o600)?;
    let conf = dir.join("etc/kubernetes/kubelet.conf");
    std::fs::create_dir_all(conf.parent().unwrap_or(dir))?;
    std::fs::write(
        &conf,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: default-cluster\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: default-auth\n  user:\n    client-certificate: {}\n    client-key: {}\ncontexts:\n- name: default-context\n  context:\n    cluster: default-cluster\n    namespace: default\n    user: default-auth\ncurrent-context: default-context\n",
            cp.server,
            cp.pki.ca.cert.display(),
            crt.display(),
            key.display()
        ),
    )?;
    Ok(conf)
}

impl NodeAgent {
    /// Be the kubelet of `nodes` (which exist in the API) of the cluster `cp`.
    pub async fn start(
        cp: &ControlPlane,
        nodes: Vec<NodeSpec>,
        opts: AgentOptions,
    ) -> Result<NodeAgent> {
        let mut agent = NodeAgent::new(cp, opts).await?;
        agent.start_nodes(cp, nodes).await?;
        Ok(agent)
    }

    /// The agent of the cluster `cp`, with no node yet: `run_static_pods` and `start_nodes` give
    /// it its work.
    pub async fn new(cp: &ControlPlane, opts: AgentOptions) -> Result<NodeAgent> {
        which("bwrap", "bubblewrap")?;
        which("ip", "iproute2")?;
        net::remove_leftovers(cp.ns.slot);
        let dir = cp.dir().join("agent");
        std::fs::create_dir_all(&dir)?;
        let shared = Arc::new(Shared {
            ns: cp.ns.clone(),
            apiserver: (cp.apiserver_ip, super::control_plane::APISERVER_PORT),
            pool: Arc::new(net::IpPool::default()),
            sync_frequency: opts.sync_frequency,
            pods: Mutex::new(HashMap::new()),
            views: Mutex::new(HashMap::new()),
            binaries: Mutex::new(HashMap::new()),
            prometheus: OnceLock::new(),
            kubelet_configs: Mutex::new(HashMap::new()),
            operator: OnceLock::new(),
            dir: dir.clone(),
        });
        // rest.DefaultKubernetesUserAgent of a kubelet of the API server's version.
        let v: Value = serde_json::from_slice(&cp.get("/version").await?.body)
            .context("the API server's /version")?;
        let commit: String = v["gitCommit"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(7)
            .collect();
        let user_agent = format!(
            "kubelet/{} (linux/amd64) kubernetes/{commit}",
            v["gitVersion"].as_str().unwrap_or("v0.0.0")
        );
        let machine = node::Machine::probe(&dir);
        Ok(NodeAgent {
            shared,
            tasks: Vec::new(),
            opts,
            user_agent,
            machine,
            clients: HashMap::new(),
        })
    }

    /// The client of `node`, with its own identity (made on first use).
    async fn client(&mut self, cp: &ControlPlane, node: &str) -> Result<ApiClient> {
        if let Some(c) = self.clients.get(node) {
            return Ok(c.clone());
        }
        let conf = node_kubeconfig(cp, &self.node_root(node), node)?;
        let api = ApiClient::from_kubeconfig(&conf, &self.user_agent).await?;
        self.clients.insert(node.to_string(), api.clone());
        Ok(api)
    }

    /// Run the static pods of `node` from `<its root>/etc/kubernetes/manifests`, as its kubelet
    /// does from the moment it starts, before the Node is registered (their mirror pods follow
    /// once it is).
    pub async fn run_static_pods(&mut self, cp: &ControlPlane, node: NodeSpec) -> Result<()> {
        let api = self.client(cp, &node.name).await?;
        let root = self.node_root(&node.name);
        std::fs::create_dir_all(root.join(static_pods::MANIFESTS))?;
        self.tasks.push(tokio::spawn(static_pods::run(
            self.shared.clone(),
            api,
            node,
            root,
        )));
        Ok(())
    }

    /// Be the kubelet of `nodes` (which exist in the API): leases and status, the kubelet API,
    /// the pods bound to them.
    pub async fn start_nodes(&mut self, cp: &ControlPlane, nodes: Vec<NodeSpec>) -> Result<()> {
        for n in nodes {
            let root = self.node_root(&n.name);
            let api = self.client(cp, &n.name).await?;
            self.tasks.push(tokio::spawn(node::heartbeat(
                api.clone(),
                n.name.clone(),
                self.opts.timing.clone(),
                self.machine.clone(),
                n.max_pods,
            )));
            let serving = node_serving_cert(cp, &root, &n.name, n.ip)?;
            self.tasks.push(kubelet_api::start(
                self.shared.clone(),
                n.clone(),
                api.clone(),
                &cp.pki.ca.cert,
                (&serving.0, &serving.1),
            )?);
            self.tasks
                .push(tokio::spawn(sync_pods(self.shared.clone(), api, n)));
        }
        Ok(())
    }

    /// A node's root: `var/lib/kubelet`, `var/log/pods`, `etc/kubernetes` (its kubelet.conf,
    /// the static pod manifests), the targets of hostPath volumes.
    pub fn node_root(&self, node: &str) -> PathBuf {
        self.shared.dir.join("nodes").join(node)
    }

    /// Where `node`'s static pod manifests are (`etc/kubernetes/manifests` below its root).
    pub fn manifest_dir(&self, node: &str) -> PathBuf {
        self.node_root(node).join(static_pods::MANIFESTS)
    }

    /// The directory of a running pod (`.../var/lib/kubelet/pods/<uid>`).
    pub fn pod_dir(&self, namespace: &str, pod: &str) -> Option<PathBuf> {
        self.shared
            .pods
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(namespace.to_string(), pod.to_string()))
            .cloned()
    }

    /// Where a running pod's volume is on the host (`volumes/<plugin>/<name>`).
    pub fn volume_dir(&self, namespace: &str, pod: &str, volume: &str) -> Option<PathBuf> {
        let root = self.pod_dir(namespace, pod)?;
        std::fs::read_dir(root.join("volumes"))
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join(volume))
            .find(|p| p.exists())
    }

    /// Restart `node`'s kubelet as `systemctl restart kubelet` does: its kubelet API reads
    /// `var/lib/kubelet/config.yaml` below the node's root again (written from the scenario's
    /// `kubelets` entry at start) and serves with it from then on: authentication,
    /// authorization and `/configz`. Pods keep running (the kubelet's restart leaves them).
    pub fn restart_kubelet(&self, node: &str) -> Result<()> {
        let live = self
            .shared
            .kubelet_configs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(node)
            .cloned()
            .with_context(|| format!("no kubelet API runs for node {node}"))?;
        let path = self.node_root(node).join(kubelet_api::CONFIG_FILE);
        kubelet_api::reload(&live, &path)
    }

    /// The agent's directory: per node `nodes/<node>/` with `var/lib/kubelet/pods/<uid>/`,
    /// `var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log` and `etc/kubernetes/kubelet.conf`.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }
}

impl Drop for NodeAgent {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn which(bin: &str, package: &str) -> Result<()> {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()));
    if !found {
        anyhow::bail!(
            "the node agent needs `{bin}`: install the Debian package {package} (apt-get install -y {package})"
        );
    }
    Ok(())
}

struct Worker {
    tx: watch::Sender<Option<Value>>,
    task: JoinHandle<()>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn is_mirror(pod: &Value) -> bool {
    pod["metadata"]["annotations"]
        .get("kubernetes.io/config.mirror")
        .is_some()
}

/// List and watch the pods bound to `node`; one worker per pod UID.
async fn sync_pods(shared: Arc<Shared>, api: ApiClient, node: NodeSpec) {
    let mut workers: HashMap<String, Worker> = HashMap::new();
    let selector = format!("fieldSelector=spec.nodeName%3D{}", node.name);
    let upsert = |workers: &mut HashMap<String, Worker>, pod: Value| {
        if is_mirror(&pod) {
            return;
        }
        let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_string();
        workers.retain(|_, w| !w.task.is_finished());
        match workers.get(&uid) {
            Some(w) => {
                let _ = w.tx.send(Some(pod));
            }
            None => {
                let (tx, rx) = watch::channel(Some(pod.clone()));
                let wk = pod::PodWorker::new(shared.clone(), api.clone(), node.clone(), pod);
                let task = tokio::spawn(wk.run(rx));
                workers.insert(uid, Worker { tx, task });
            }
        }
    };
    loop {
        let list = match api.get(&format!("/api/v1/pods?{selector}")).await {
            Ok(Some(l)) => l,
            Ok(None) | Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut rv = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let present: std::collections::HashSet<String> = items
            .iter()
            .filter_map(|p| p["metadata"]["uid"].as_str().map(str::to_string))
            .collect();
        for (uid, w) in &workers {
            if !present.contains(uid) {
                let _ = w.tx.send(None);
            }
        }
        for p in items {
            upsert(&mut workers, p);
        }
        loop {
            let path = format!(
                "/api/v1/pods?{selector}&watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion={rv}"
            );
            let stream = match api.watch(&path).await {
                Ok(s) => s,
                Err(_) => break,
            };
            let mut stream = stream;
            let mut relist = false;
            loop {
                match stream.next().await.transpose() {
                    Ok(Some(WatchEvent::Added(p))) | Ok(Some(WatchEvent::Modified(p))) => {
                        if let Some(v) = p["metadata"]["resourceVersion"].as_str() {
                            rv = v.to_string();
                        }
                        upsert(&mut workers, p);
                    }
                    Ok(Some(WatchEvent::Deleted(p))) => {
                        if let Some(v) = p["metadata"]["resourceVersion"].as_str() {
                            rv = v.to_string();
                        }
                        let uid = p["metadata"]["uid"].as_str().unwrap_or("");
                        if let Some(w) = workers.get(uid) {
                            let _ = w.tx.send(None);
                        }
                    }
                    Ok(Some(WatchEvent::Bookmark(b))) => rv = b.metadata.resource_version,
                    Ok(Some(WatchEvent::Error(_))) | Err(_) => {
                        relist = true;
                        break;
                    }
                    Ok(None) => break,
                }
            }
            if relist {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
