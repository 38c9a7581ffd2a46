//! Starting and stopping a whole test cluster from a scenario: the store loaded with the
//! scenario's objects, the HTTPS API server and its kubeconfig, the controllers, the kubelet,
//! real etcd members with their generated PKI, and the small node-side listeners.
//!
//! Every cluster takes a network octet NET (127.NET.0.0/16) that no other cluster on the machine
//! holds at the same time (an exclusive lock file per octet), so tests and the sandbox can run in
//! parallel. Dropping a `TestCluster` stops everything it started; its files live in a temp dir
//! that goes with it.

use crate::auth::{Auth, Rule, User};
use crate::cluster::Cluster;
use crate::components::{METRICS_BODY, response};
use crate::faults::Faults;
use crate::kubelet::Kubelet;
use crate::peers::certs::{EtcdPki, Layout};
use crate::peers::etcd::{EtcdCluster, EtcdOptions};
use crate::resources::Registry;
use crate::scenario::{EtcdLayout, ListenerBehaviour, ListenerSpec, Scenario, field_manager_for};
use crate::store::{Store, WriteCtx};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The admin's user name and token prefix.
pub const ADMIN: &str = "admin";

/// Where the lock files of network octets live.
fn lock_dir() -> PathBuf {
    std::env::temp_dir().join("promfix-testcluster-nets")
}

/// An exclusively held network octet, released on drop (also when the process dies: flock).
pub struct NetLock {
    pub net: u8,
    _file: std::fs::File,
}

impl NetLock {
    /// Take the first free octet in `range`.
    pub fn acquire(range: std::ops::RangeInclusive<u8>) -> Result<NetLock> {
        Self::acquire_in("", range)
    }

    /// Take the first free number in `range` among the locks of `kind` (a subdirectory of the
    /// lock directory; "" for the stand-in's network octets).
    pub fn acquire_in(kind: &str, range: std::ops::RangeInclusive<u8>) -> Result<NetLock> {
        use std::os::unix::io::AsRawFd;
        let dir = lock_dir().join(kind);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for net in range {
            let path = dir.join(format!("{net}.lock"));
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            // SAFETY: flock on an open file descriptor we own.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(NetLock { net, _file: file });
            }
        }
        bail!("every network octet is in use by other test clusters on this machine")
    }
}

/// Options for `TestCluster::start`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Use this network octet (the sandbox uses 0); default: the first free one in 10..=199.
    pub net: Option<u8>,
    /// Override the scenario's `/version` (e.g. to drive the oldest kubectl).
    pub version: Option<String>,
    /// Start no etcd even if the scenario has members (faster tests that do not scrape etcd).
    pub without_etcd: bool,
    /// Users besides the admin and the scenario's (e.g. a limited user for Forbidden tests).
    pub users: Vec<User>,
    /// Override the scenario's not-ready delay of new pods.
    pub not_ready_delay: Option<Duration>,
}

/// A running test cluster.
pub struct TestCluster {
    pub cluster: Arc<Cluster>,
    pub api: crate::api::server::ApiServer,
    /// kubeconfig with context `promfix-test` (admin) and one context per scenario user.
    pub kubeconfig: PathBuf,
    /// The generated etcd client files in the scenario's layout (None without etcd).
    pub etcd_certs_dir: Option<PathBuf>,
    pub pki: Option<EtcdPki>,
    pub etcd: Option<EtcdCluster>,
    pub scenario: Scenario,
    pub users: Vec<User>,
    tasks: Vec<JoinHandle<()>>,
    _net: NetLock,
    dir: tempfile::TempDir,
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn admin_user() -> User {
    let token = format!("admin-{:016x}", rand_u64());
    User {
        name: ADMIN.into(),
        token,
        groups: vec!["system:masters".into(), "system:authenticated".into()],
        rules: vec![
            Rule {
                verbs: vec!["*".into()],
                api_groups: vec!["*".into()],
                resources: vec!["*".into()],
                ..Default::default()
            },
            Rule {
                verbs: vec!["*".into()],
                non_resource_urls: vec!["*".into()],
                ..Default::default()
            },
        ],
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

impl TestCluster {
    /// Start from a scenario file.
    pub async fn start(path: &Path, opts: Options) -> Result<TestCluster> {
        let lock = match opts.net {
            Some(n) => NetLock::acquire(n..=n)
                .with_context(|| format!("network octet {n} is taken by another test cluster"))?,
            None => NetLock::acquire(10..=199)?,
        };
        let scenario = Scenario::load(path, lock.net)
            .with_context(|| format!("loading scenario {}", path.display()))?;
        Self::start_scenario(scenario, lock, opts).await
    }

    /// Start one of the scenarios shipped in `tests/cluster/scenarios/` (e.g. `a-seed-stable-prometheus-operator.yaml`).
    pub async fn start_builtin(name: &str, opts: Options) -> Result<TestCluster> {
        Self::start(&crate::scenario::builtin_path(name), opts).await
    }

    async fn start_scenario(
        scenario: Scenario,
        lock: NetLock,
        opts: Options,
    ) -> Result<TestCluster> {
        // The real peers this scenario drives: missing ones fail here, naming their package.
        require("bwrap", "bubblewrap")?;
        if scenario.spec.prometheus_operator {
            require("prometheus", "prometheus")?;
        }
        if scenario.spec.etcd.is_some() && !opts.without_etcd {
            require("etcd", "etcd-server")?;
        }
        let net = lock.net;
        let dir = tempfile::Builder::new()
            .prefix("promfix-cluster-")
            .tempdir()?;
        let spec = scenario.spec.clone();
        let mut users = vec![admin_user()];
        users.extend(spec.auth_users());
        users.extend(opts.users.iter().cloned());
        for (i, u) in users.iter().enumerate() {
            if users[..i]
                .iter()
                .any(|o| o.name == u.name || o.token == u.token)
            {
                bail!(
                    "user {:?} is defined twice (the scenario and the options)",
                    u.name
                );
            }
        }
        let kubelet = Kubelet::new();
        {
            let mut cz = kubelet.configz.lock().unwrap_or_else(|p| p.into_inner());
            for (node, cfg) in &spec.kubelets {
                cz.insert(node.clone(), cfg.clone());
            }
            *kubelet
                .not_ready_delay
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = opts
                .not_ready_delay
                .unwrap_or(Duration::from_millis(spec.not_ready_delay_ms));
        }
        let faults = Faults::new();
        if spec.faults.latency_ms > 0 {
            faults.set_latency(Duration::from_millis(spec.faults.latency_ms));
        }
        let store = Arc::new(Store::new(Registry::new(spec.prometheus_operator)));
        let cluster = Arc::new(Cluster {
            store: store.clone(),
            dir: dir.path().to_path_buf(),
            net,
            version: opts.version.clone().unwrap_or_else(|| spec.version.clone()),
            auth: Auth::new(users.clone()),
            faults,
            kubelet,
        });

        // etcd: PKI in the scenario's layout, then real members.
        let (mut pki, mut etcd, mut etcd_certs_dir) = (None, None, None);
        if let Some(e) = spec.etcd.as_ref().filter(|_| !opts.without_etcd) {
            let (p, c, certs) = start_etcd(e, dir.path(), None).await?;
            etcd_certs_dir = Some(certs);
            pki = Some(p);
            etcd = Some(c);
        }

        // The scenario's objects (and the namespaces every cluster has).
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let rt = store.rt("namespaces");
            if store.get(&rt, None, ns).is_err() {
                store
                    .create(&rt, None, json!({"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}), &WriteCtx::update("kube-apiserver"))
                    .map_err(|e| anyhow::anyhow!("creating namespace {ns}: {e}"))?;
            }
        }
        // RBAC objects and Deployments are the real control plane's (scenario::is_real_only).
        for obj in scenario
            .objects
            .iter()
            .filter(|o| !crate::scenario::is_real_only(o))
        {
            load_object(&store, obj)?;
        }
        resolve_owner_uids(&store);

        // The API server, its kubeconfig, and what runs against it.
        let api = crate::api::server::start(cluster.clone())
            .await
            .context("starting the API server")?;
        let kubeconfig = dir.path().join("kubeconfig");
        crate::api::server::write_kubeconfig(&kubeconfig, &api, &users)?;
        let ca_file = dir.path().join("api-ca.crt");
        std::fs::write(&ca_file, &api.ca_pem)?;
        if spec.prometheus_operator {
            crate::controllers::operator::set_api_access(
                &cluster,
                &api.url,
                &ca_file,
                &users[0].token,
            );
        }
        let mut tasks = crate::controllers::spawn_all(cluster.clone());
        tasks.push(spawn_root_ca_publisher(store.clone(), api.ca_pem.clone()));
        tasks.push(crate::kubelet::spawn(cluster.clone()));
        tasks.push(crate::static_pods::start(&cluster));
        for l in &spec.listeners {
            if let Some(t) = start_listener(l).await? {
                tasks.push(t);
            }
        }
        Ok(TestCluster {
            cluster,
            api,
            kubeconfig,
            etcd_certs_dir,
            pki,
            etcd,
            scenario,
            users,
            tasks,
            _net: lock,
            dir,
        })
    }

    pub fn net(&self) -> u8 {
        self.cluster.net
    }

    /// The static pod manifest `name` (`kube-scheduler`, ...) on `node`: editing it is the
    /// node-side edit of a real cluster (the kubelet replaces the pod).
    pub fn static_pod_manifest(&self, node: &str, name: &str) -> PathBuf {
        crate::static_pods::manifest_dir(&self.cluster, node).join(format!("{name}.yaml"))
    }

    /// This cluster's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The token of a user (`admin` or a scenario user).
    pub fn token(&self, user: &str) -> Option<&str> {
        self.users
            .iter()
            .find(|u| u.name == user)
            .map(|u| u.token.as_str())
    }

    /// The kubeconfig context of a user.
    pub fn context(&self, user: &str) -> String {
        if user == ADMIN {
            "promfix-test".to_string()
        } else {
            crate::api::server::context_name(user)
        }
    }

    /// Real kubectl with this cluster's kubeconfig.
    pub fn kubectl(&self) -> std::process::Command {
        let mut c = std::process::Command::new("kubectl");
        c.env("KUBECONFIG", &self.kubeconfig);
        c
    }

    /// The active targets of the scrape pools whose name contains `pool`, as Prometheus pod
    /// `namespace/pod` reports them, read with real kubectl through pods/proxy (port 9090).
    /// `None` when kubectl fails or the answer is not Prometheus' JSON.
    pub async fn active_targets(
        &self,
        namespace: &str,
        pod: &str,
        pool: &str,
    ) -> Option<Vec<Value>> {
        let path = format!(
            "/api/v1/namespaces/{namespace}/pods/{pod}:9090/proxy/api/v1/targets?state=active"
        );
        let mut cmd = self.kubectl();
        cmd.args(["get", "--raw", &path]);
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .ok()?
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(
            v["data"]["activeTargets"]
                .as_array()?
                .iter()
                .filter(|t| t["scrapePool"].as_str().is_some_and(|p| p.contains(pool)))
                .cloned()
                .collect(),
        )
    }

    /// Wait (bounded) until a condition over the store holds.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&Store) -> Option<T>,
    ) -> Result<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(v) = f(&self.cluster.store) {
                return Ok(v);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("timed out after {timeout:?} waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until every pod of every Prometheus is Ready.
    pub async fn wait_prometheus_ready(&self, timeout: Duration) -> Result<()> {
        if !self.cluster.store.serves("prometheuses") {
            return Ok(());
        }
        self.wait_for("the Prometheus pods to be Ready", timeout, |s| {
            let prt = s.rt("prometheuses");
            let pods_rt = s.rt("pods");
            let (proms, _) = s.list(&prt, None);
            let (pods, _) = s.list(&pods_rt, None);
            for p in &proms {
                let name = p["metadata"]["name"].as_str().unwrap_or("");
                let ns = p["metadata"]["namespace"].as_str().unwrap_or("");
                let want = p["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
                let ready = pods
                    .iter()
                    .filter(|pod| {
                        pod["metadata"]["namespace"] == ns
                            && pod["metadata"]["labels"]["prometheus"] == name
                            && pod["metadata"]["deletionTimestamp"].is_null()
                            && is_ready(pod)
                    })
                    .count();
                if ready < want {
                    return None;
                }
            }
            Some(())
        })
        .await
    }
}

/// The root CA publisher (kube-controller-manager's `root-ca-cert-publisher`): a
/// `kube-root-ca.crt` ConfigMap with the API server's CA in every namespace.
fn spawn_root_ca_publisher(store: Arc<Store>, ca_pem: String) -> JoinHandle<()> {
    let mut rx = store.subscribe();
    let publish = move |store: &Store, ns: &str| {
        let cm = store.rt("configmaps");
        if store.get(&cm, Some(ns), "kube-root-ca.crt").is_err() {
            let _ = store.create(
                &cm,
                Some(ns),
                json!({"metadata": {"name": "kube-root-ca.crt", "namespace": ns,
                        "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                       "data": {"ca.crt": ca_pem}}),
                &WriteCtx::update("kube-controller-manager"),
            );
        }
    };
    let nsrt = store.rt("namespaces");
    for ns in store.list(&nsrt, None).0 {
        publish(&store, ns["metadata"]["name"].as_str().unwrap_or(""));
    }
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(ev)
                    if ev.resource == "namespaces"
                        && ev.kind != crate::store::EventKind::Deleted =>
                {
                    publish(&store, ev.object["metadata"]["name"].as_str().unwrap_or(""));
                }
                Ok(ev)
                    if ev.resource == "configmaps"
                        && ev.kind == crate::store::EventKind::Deleted
                        && ev.object["metadata"]["name"] == "kube-root-ca.crt" =>
                {
                    if let Some(ns) = ev.namespace.as_deref()
                        && store.get(&nsrt, None, ns).is_ok()
                    {
                        publish(&store, ns);
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    for ns in store.list(&nsrt, None).0 {
                        publish(&store, ns["metadata"]["name"].as_str().unwrap_or(""));
                    }
                }
                Err(_) => break,
            }
        }
    })
}

/// The scenario's etcd members: their PKI in the scenario's layout below `dir/etcd-pki`, the
/// members themselves (inside `netns` when given), and the first node's certificate directory
/// (what a user passes to `--from-dir`, or whose files to `--ca/--cert/--key`).
pub(crate) async fn start_etcd(
    e: &crate::scenario::EtcdSpec,
    dir: &Path,
    netns: Option<Arc<crate::real::NetNs>>,
) -> Result<(EtcdPki, EtcdCluster, PathBuf)> {
    require("etcd", "etcd-server")?;
    let layout = match e.layout {
        EtcdLayout::Kubespray => Layout::Kubespray,
        EtcdLayout::Kubeadm => Layout::Kubeadm,
    };
    let hosts: Vec<(String, Ipv4Addr)> = e.members.iter().map(|m| (m.name.clone(), m.ip)).collect();
    let p = crate::peers::certs::generate_named(
        layout,
        &hosts,
        &dir.join("etcd-pki"),
        &e.serving_names,
    )
    .context("generating the etcd PKI")?;
    let eopts = EtcdOptions {
        metrics: e.metrics_url.is_some(),
        netns,
        ..Default::default()
    };
    let c = EtcdCluster::start(&p, &dir.join("etcd"), eopts)
        .await
        .context("starting etcd")?;
    // The first node's files, where the layout keeps them (kubeadm: the pki directory, so
    // apiserver-etcd-client.* one level above etcd/ is found too).
    let ca_dir =
        p.ca.cert
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| p.dir.clone());
    let certs = match layout {
        Layout::Kubespray => ca_dir,
        Layout::Kubeadm => ca_dir.parent().map(Path::to_path_buf).unwrap_or(ca_dir),
    };
    Ok((p, c, certs))
}

/// A program the test cluster runs must be on PATH; the error names the Debian package.
pub fn require(program: &str, package: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(program);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!(
        "`{program}` is not installed: install the Debian package {package} (apt-get install -y {package}), or run tests/run, which installs it"
    )
}

/// A pod's Ready condition is True.
pub fn is_ready(pod: &Value) -> bool {
    crate::controllers::pod_ready(pod)
}

fn load_object(store: &Store, obj: &Value) -> Result<()> {
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    let Some(rt) = store.registry().by_kind(api_version, kind).cloned() else {
        bail!("the scenario has a {kind} ({api_version}), which this cluster does not serve");
    };
    let ns = obj["metadata"]["namespace"].as_str();
    let ctx = WriteCtx::update(field_manager_for(obj));
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    if rt.plural == "namespaces" && store.get(&rt, None, name).is_ok() {
        return Ok(());
    }
    let created = store
        .create(&rt, ns, obj.clone(), &ctx)
        .map_err(|e| anyhow::anyhow!("loading {kind} {}/{name}: {e}", ns.unwrap_or("")))?;
    // Status given in the scenario (nodes' addresses, mirror pods' phase) is the kubelet's to write.
    if obj.get("status").is_some_and(|s| !s.is_null()) && rt.has_subresource("status") {
        let mut with_status = created.clone();
        with_status["status"] = obj["status"].clone();
        let mut sctx = WriteCtx::update("kubelet");
        sctx.subresource = Some("status".into());
        store
            .update(&rt, ns, name, with_status, &sctx)
            .map_err(|e| anyhow::anyhow!("loading the status of {kind} {name}: {e}"))?;
    }
    Ok(())
}

/// A scenario's ownerReferences name their owner by kind and name; the uid a dumped object
/// carried cannot be the one this store gave the owner. Point them at the owners as loaded, as
/// they were on the cluster the scenario was taken from (controllers adopt what they own).
fn resolve_owner_uids(store: &Store) {
    let types: Vec<crate::resources::ResourceType> = store.registry().all().to_vec();
    for rt in &types {
        let (objs, _) = store.list(rt, None);
        for o in objs {
            let Some(refs) = o["metadata"]["ownerReferences"].as_array() else {
                continue;
            };
            let ns = o["metadata"]["namespace"].as_str().map(str::to_string);
            let mut fixed = refs.clone();
            let mut changed = false;
            for r in fixed.iter_mut() {
                let (Some(av), Some(kind), Some(name)) = (
                    r["apiVersion"].as_str(),
                    r["kind"].as_str(),
                    r["name"].as_str(),
                ) else {
                    continue;
                };
                let Some(ort) = store.registry().by_kind(av, kind).cloned() else {
                    continue;
                };
                if let Ok(owner) = store.get(&ort, ns.as_deref(), name)
                    && owner["metadata"]["uid"] != r["uid"]
                {
                    r["uid"] = owner["metadata"]["uid"].clone();
                    changed = true;
                }
            }
            if changed {
                let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
                let _ = store.modify(
                    rt,
                    ns.as_deref(),
                    &name,
                    &WriteCtx::update("kube-controller-manager"),
                    |x| {
                        x["metadata"]["ownerReferences"] = Value::Array(fixed.clone());
                        true
                    },
                );
            }
        }
    }
}

/// The small node-side listeners: `refuse` starts nothing (connections are refused), `metrics`
/// serves plain-HTTP `/metrics`, `forbidden` serves HTTPS answering 403 as delegated
/// authorization does, `secure-metrics` serves HTTPS `/metrics`.
async fn start_listener(l: &ListenerSpec) -> Result<Option<JoinHandle<()>>> {
    if l.behaviour == ListenerBehaviour::Refuse {
        return Ok(None);
    }
    let addr = SocketAddr::from((l.ip, l.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding listener {addr}"))?;
    let tls = if matches!(
        l.behaviour,
        ListenerBehaviour::Forbidden | ListenerBehaviour::SecureMetrics
    ) {
        Some(crate::components::self_signed_acceptor(l.ip)?)
    } else {
        None
    };
    let behaviour = l.behaviour;
    Ok(Some(tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let tls = tls.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let forbidden =
                    "Forbidden (user=system:anonymous, verb=get, resource=, subresource=)\n";
                let resp = match behaviour {
                    ListenerBehaviour::Forbidden => {
                        response("403 Forbidden", "text/plain; charset=utf-8", forbidden)
                    }
                    _ => response(
                        "200 OK",
                        "text/plain; version=0.0.4; charset=utf-8",
                        METRICS_BODY,
                    ),
                };
                let mut buf = [0u8; 4096];
                match tls {
                    Some(acc) => {
                        if let Ok(mut s) = acc.accept(sock).await {
                            let _ = s.read(&mut buf).await;
                            let _ = s.write_all(resp.as_bytes()).await;
                            let _ = s.shutdown().await;
                        }
                    }
                    None => {
                        let mut s = sock;
                        let _ = s.read(&mut buf).await;
                        let _ = s.write_all(resp.as_bytes()).await;
                        let _ = s.shutdown().await;
                    }
                }
            });
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_peer_names_its_package() {
        let e = require("promfix-no-such-program", "etcd-server")
            .unwrap_err()
            .to_string();
        assert!(e.contains("apt-get install -y etcd-server"), "{e}");
        assert!(require("sh", "dash").is_ok());
    }

    #[test]
    fn network_octets_are_exclusive() {
        let a = NetLock::acquire(250..=251).unwrap();
        let b = NetLock::acquire(250..=251).unwrap();
        assert_ne!(a.net, b.net);
        assert!(NetLock::acquire(a.net..=a.net).is_err());
    }
}
