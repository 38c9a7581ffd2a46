//! A scenario on the real control plane: the control plane (`control_plane.rs`), the operator's
//! CRDs applied server-side, the scenario's etcd members inside the namespace, its objects created
//! through the real API with the field manager a real cluster shows for them, and the real
//! Prometheus Operator reconciling them.
//!
//! Nodes are registered from the scenario (with their status, as a kubelet writes it); the node
//! agent (`agent/`, on by default) is then their kubelet: it keeps them Ready and runs the pods
//! the scheduler binds to them. The operator is the pod of the scenario's operator Deployment
//! (the chart's), run by the agent with its in-cluster config and judged by the chart's RBAC; the
//! admission webhook certificate Secret the chart's `admission-create` Job would make is made
//! here (`admission_secret`).
//!
//! A kubeadm scenario's kube-controller-manager and kube-scheduler mirror pods become manifests in
//! their node's `etc/kubernetes/manifests` (with the files their flags name), which the agent
//! runs as static pods from before the objects are loaded; the control plane then starts no
//! controller manager or scheduler of its own.

use super::agent::static_pods::is_static_component;
use super::agent::{AgentOptions, NodeAgent, NodeSpec};
use super::{Bins, ControlPlane, ControlPlaneOptions, TokenUser};
use crate::peers::certs::EtcdPki;
use crate::peers::etcd::EtcdCluster;
use crate::scenario::{Scenario, field_manager_for};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How to start a scenario on the real control plane.
#[derive(Debug, Clone)]
pub struct RealOptions {
    /// Token users besides the admin (client certificate) and the scenario's users.
    pub users: Vec<TokenUser>,
    /// Run the node agent, the kubelet of the scenario's nodes (None: no kubelet, pods stay
    /// Pending).
    pub agent: Option<AgentOptions>,
}

impl Default for RealOptions {
    fn default() -> Self {
        RealOptions {
            users: Vec::new(),
            agent: Some(AgentOptions::default()),
        }
    }
}

/// A running scenario on the real control plane.
pub struct RealCluster {
    /// First, so that it stops (its pods' processes and namespaces) before the control plane.
    pub agent: Option<NodeAgent>,
    pub cp: ControlPlane,
    pub scenario: Scenario,
    pub etcd: Option<EtcdCluster>,
    pub pki: Option<EtcdPki>,
    /// The first etcd node's certificate directory (for `--from-dir`, or its files).
    pub etcd_certs_dir: Option<PathBuf>,
    /// The fault and request-log proxy in front of the API server.
    pub proxy: super::proxy::FaultProxy,
    /// A kubeconfig through the proxy (tokens; context `promfix-real` is the admin).
    pub proxy_kubeconfig: PathBuf,
}

/// Namespaces every cluster has: the API server creates them.
const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl RealCluster {
    /// Start the scenario file at `path`.
    pub async fn start(path: &Path, opts: RealOptions) -> Result<RealCluster> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the scenario {}", path.display()))?;
        // Parsed once for its users before the slot is known (addresses do not matter there).
        let pre = Scenario::parse_real(&text, 0)
            .with_context(|| format!("loading scenario {}", path.display()))?;
        let mut users = opts.users.clone();
        for u in &pre.spec.users {
            users.push(TokenUser {
                name: u.name.clone(),
                token: u
                    .token
                    .clone()
                    .unwrap_or_else(|| format!("{}-token", u.name)),
                groups: u.groups.clone(),
            });
        }
        // kubeadm's kube-controller-manager and kube-scheduler: static pods of their node, run by
        // the node agent from manifests, not processes of the control plane.
        let static_components = opts.agent.is_some() && pre.objects.iter().any(is_static_component);
        let cp = ControlPlane::start(ControlPlaneOptions {
            users,
            no_controllers: static_components,
            ..Default::default()
        })
        .await?;
        let scenario = Scenario::parse_real(&text, cp.ns.slot)
            .with_context(|| format!("loading scenario {}", path.display()))?;
        let (proxy, proxy_kubeconfig) = cp.start_proxy().await?;
        let mut rc = RealCluster {
            agent: None,
            cp,
            scenario,
            etcd: None,
            pki: None,
            etcd_certs_dir: None,
            proxy,
            proxy_kubeconfig,
        };
        if rc.scenario.spec.prometheus_operator {
            rc.apply_crds()?;
        }
        if let Some(e) = rc.scenario.spec.etcd.clone() {
            let (p, c, certs) =
                crate::harness::start_etcd(&e, rc.cp.dir(), Some(rc.cp.ns.clone())).await?;
            rc.pki = Some(p);
            rc.etcd = Some(c);
            rc.etcd_certs_dir = Some(certs);
        }
        if static_components && let Some(o) = opts.agent.clone() {
            let mut agent = NodeAgent::new(&rc.cp, o).await?;
            rc.start_static_pods(&mut agent).await?;
            rc.agent = Some(agent);
        }
        rc.load_objects(static_components).await?;
        rc.apply_user_rules()?;
        if let Some(o) = opts.agent.clone() {
            let nodes = rc.node_specs();
            let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
            let mut agent = match rc.agent.take() {
                Some(a) => a,
                None => NodeAgent::new(&rc.cp, o).await?,
            };
            agent.start_nodes(&rc.cp, nodes).await?;
            rc.agent = Some(agent);
            rc.wait_for_kubelet_reports(&names).await?;
        }
        Ok(rc)
    }

    /// Start one of `tests/cluster/scenarios/`.
    pub async fn start_builtin(name: &str, opts: RealOptions) -> Result<RealCluster> {
        Self::start(&crate::scenario::builtin_path(name), opts).await
    }

    /// Wait until every node's kubelet (the agent) has posted its status once, as a cluster
    /// is up when `kubeadm join` has seen its node report: the scenario's Ready condition
    /// keeps its recorded heartbeat until then.
    async fn wait_for_kubelet_reports(&self, names: &[String]) -> Result<()> {
        for n in names {
            let recorded = self
                .scenario
                .objects
                .iter()
                .find(|o| kind(o) == "Node" && name(o) == n)
                .map(|o| ready_heartbeat(o).to_string())
                .unwrap_or_default();
            let path = format!("/api/v1/nodes/{n}");
            self.wait_for(
                &format!("node {n}'s first status from its kubelet"),
                Duration::from_secs(30),
                || async {
                    Ok(self
                        .get_json(&path)
                        .await?
                        .filter(|node| ready_heartbeat(node) != recorded)
                        .map(|_| ()))
                },
            )
            .await?;
        }
        Ok(())
    }

    /// The scenario's nodes: name, InternalIP, and `maxPods` of their kubelet's configuration.
    fn node_specs(&self) -> Vec<NodeSpec> {
        self.scenario
            .objects
            .iter()
            .filter(|o| kind(o) == "Node")
            .map(|o| {
                let n = name(o).to_string();
                let ip = o["status"]["addresses"]
                    .as_array()
                    .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP"))
                    .and_then(|a| a["address"].as_str())
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(self.cp.apiserver_ip);
                let max_pods = self
                    .scenario
                    .spec
                    .kubelets
                    .get(&n)
                    .and_then(|k| k["maxPods"].as_u64())
                    .unwrap_or(110);
                let port = o["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
                    .as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p != 0)
                    .unwrap_or(10250);
                let config = self.scenario.spec.kubelets.get(&n).cloned();
                NodeSpec {
                    name: n,
                    ip,
                    max_pods,
                    port,
                    config,
                }
            })
            .collect()
    }

    /// The CRDs of the operator's module, server-side (client-side apply fails on their size:
    /// "metadata.annotations: Too long"), then wait until they are Established.
    fn apply_crds(&self) -> Result<()> {
        // kubectl reads a link to a directory as a file: resolve it.
        let dir = std::fs::canonicalize(Bins::get()?.crds()).context("the operator's CRDs")?;
        self.cp.kubectl_ok(&[
            "apply",
            "--server-side",
            "--field-manager=helm",
            "-f",
            &dir.display().to_string(),
        ])?;
        self.cp.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd",
            "--all",
        ])?;
        Ok(())
    }

    /// The scenario's kube-controller-manager and kube-scheduler mirror pods as the manifests
    /// they came from, in `etc/kubernetes/manifests` below their node's root, with the files
    /// their flags name (`/etc/kubernetes/*.conf`, `/etc/kubernetes/pki/*`); the agent runs
    /// them from there.
    async fn start_static_pods(&self, agent: &mut NodeAgent) -> Result<()> {
        let specs = self.node_specs();
        let mut by_node: std::collections::BTreeMap<&str, Vec<&Value>> = Default::default();
        for p in self
            .scenario
            .objects
            .iter()
            .filter(|o| is_static_component(o))
        {
            let node = p["spec"]["nodeName"].as_str().unwrap_or("");
            by_node.entry(node).or_default().push(p);
        }
        for (node, pods) in by_node {
            let Some(spec) = specs.iter().find(|n| n.name == node) else {
                bail!(
                    "the scenario's static pods are bound to {node:?}, which is not one of its Nodes"
                );
            };
            let root = agent.node_root(node);
            self.write_control_plane_files(&root)?;
            let dir = agent.manifest_dir(node);
            std::fs::create_dir_all(&dir)?;
            for p in pods {
                let (file, manifest) = crate::static_pods::manifest_of(p);
                let path = dir.join(format!("{file}.yaml"));
                std::fs::write(&path, serde_yaml_ng::to_string(&manifest)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            agent.run_static_pods(&self.cp, spec.clone()).await?;
        }
        Ok(())
    }

    /// A kubeadm control-plane node's files below `root`: `etc/kubernetes/controller-manager.conf`
    /// and `scheduler.conf` (the components' identities as the control plane made them, the CA
    /// embedded), and in `etc/kubernetes/pki` the cluster CA and its key (the controller
    /// manager's signer), the service-account key pair and a front-proxy CA
    /// (`--requestheader-client-ca-file`).
    fn write_control_plane_files(&self, root: &Path) -> Result<()> {
        use crate::peers::certs::write_file;
        let etc = root.join("etc/kubernetes");
        let cp = &self.cp;
        write_file(
            &etc.join("controller-manager.conf"),
            &cp.embedded_kubeconfig(&cp.kcm)?,
            0o600,
        )?;
        write_file(
            &etc.join("scheduler.conf"),
            &cp.embedded_kubeconfig(&cp.scheduler)?,
            0o600,
        )?;
        let pki = etc.join("pki");
        for (from, to, mode) in [
            (&cp.pki.ca.cert, "ca.crt", 0o644),
            (&cp.pki.ca.key, "ca.key", 0o600),
            (&cp.pki.sa_key, "sa.key", 0o600),
            (&cp.pki.sa_pub, "sa.pub", 0o644),
        ] {
            let text = std::fs::read_to_string(from)
                .with_context(|| format!("reading {}", from.display()))?;
            write_file(&pki.join(to), &text, mode)?;
        }
        let key = rcgen::KeyPair::generate()?;
        let ca = crate::peers::certs::ca_params("front-proxy-ca").self_signed(&key)?;
        write_file(&pki.join("front-proxy-ca.crt"), &ca.pem(), 0o644)?;
        write_file(&pki.join("front-proxy-ca.key"), &key.serialize_pem(), 0o600)?;
        Ok(())
    }

    /// A static pod manifest of `node` (`<its root>/etc/kubernetes/manifests/<name>.yaml`), for
    /// node-side edits as an operator makes them.
    pub fn static_pod_manifest(&self, node: &str, name: &str) -> PathBuf {
        let agent = self.agent.as_ref().expect("the node agent runs");
        agent.manifest_dir(node).join(format!("{name}.yaml"))
    }

    /// Create the scenario's objects in creation order, each with its field manager; write the
    /// status a kubelet would (Nodes, mirror Pods). With `static_components`, the
    /// kube-controller-manager and kube-scheduler mirror pods are left to the node agent (it
    /// runs them from their manifests and creates their mirror pods).
    async fn load_objects(&self, static_components: bool) -> Result<()> {
        let objects: Vec<&Value> = self
            .scenario
            .objects
            .iter()
            .filter(|o| !(kind(o) == "Namespace" && SYSTEM_NAMESPACES.contains(&name(o))))
            .filter(|o| !(static_components && is_static_component(o)))
            .collect();
        for obj in objects {
            if kind(obj) == "Pod" || kind(obj) == "ServiceAccount" {
                self.wait_default_service_account(namespace(obj)).await?;
            }
            self.create(obj)?;
            if let Some(status) = obj.get("status").filter(|s| !s.is_null()) {
                self.write_status(obj, status)?;
            }
        }
        Ok(())
    }

    fn create(&self, obj: &Value) -> Result<()> {
        let mut body = admission_secret(obj)?;
        if let Some(m) = body.as_object_mut() {
            m.remove("status");
        }
        let file = self.cp.dir().join("scenario-object.json");
        std::fs::write(&file, serde_json::to_vec(&body)?)?;
        self.cp
            .kubectl_ok(&[
                "create",
                &format!("--field-manager={}", field_manager_for(obj)),
                "-f",
                &file.display().to_string(),
            ])
            .with_context(|| format!("creating the scenario's {}", describe(obj)))?;
        Ok(())
    }

    fn write_status(&self, obj: &Value, status: &Value) -> Result<()> {
        let mut args = vec![
            "patch".to_string(),
            format!("{}/{}", kind(obj).to_lowercase(), name(obj)),
            "--subresource=status".into(),
            "--type=merge".into(),
            "--field-manager=kubelet".into(),
            "-p".into(),
            json!({ "status": status }).to_string(),
        ];
        if !namespace(obj).is_empty() {
            args.push(format!("--namespace={}", namespace(obj)));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.cp
            .kubectl_ok(&args)
            .with_context(|| format!("writing the status of {}", describe(obj)))?;
        Ok(())
    }

    /// The scenario users' rules as real RBAC: the cluster-wide ones (no `namespaces`) in a
    /// ClusterRole `promfix-test:<user>` bound with a ClusterRoleBinding, the others in a Role of
    /// that name in each of their namespaces, bound with a RoleBinding.
    fn apply_user_rules(&self) -> Result<()> {
        let mut docs = Vec::new();
        for u in &self.scenario.spec.users {
            let role = format!("promfix-test:{}", u.name);
            let subject =
                json!([{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": u.name}]);
            let rule = |r: &crate::scenario::RuleSpec| {
                let mut v = json!({"verbs": r.verbs});
                if !r.non_resource_urls.is_empty() {
                    v["nonResourceURLs"] = json!(r.non_resource_urls);
                } else {
                    v["apiGroups"] = json!(r.api_groups);
                    v["resources"] = json!(r.resources);
                }
                if !r.resource_names.is_empty() {
                    v["resourceNames"] = json!(r.resource_names);
                }
                v
            };
            let cluster: Vec<Value> = u
                .rules
                .iter()
                .filter(|r| r.namespaces.is_empty())
                .map(rule)
                .collect();
            if !cluster.is_empty() {
                docs.push(
                    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": {"name": role}, "rules": cluster}),
                );
                docs.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": {"name": role}, "subjects": subject,
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}}));
            }
            let mut namespaces: Vec<&String> = u.rules.iter().flat_map(|r| &r.namespaces).collect();
            namespaces.sort();
            namespaces.dedup();
            for ns in namespaces {
                let rules: Vec<Value> = u
                    .rules
                    .iter()
                    .filter(|r| r.namespaces.contains(ns))
                    .map(rule)
                    .collect();
                docs.push(
                    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                    "metadata": {"name": role, "namespace": ns}, "rules": rules}),
                );
                docs.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": {"name": role, "namespace": ns}, "subjects": subject,
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}}));
            }
        }
        if docs.is_empty() {
            return Ok(());
        }
        let file = self.cp.dir().join("scenario-rbac.json");
        std::fs::write(
            &file,
            serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "List", "items": docs}))?,
        )?;
        self.cp
            .kubectl_ok(&["create", "-f", &file.display().to_string()])
            .context("creating the scenario users' RBAC")?;
        Ok(())
    }

    /// Pods and ServiceAccounts need the namespace's `default` ServiceAccount (the
    /// ServiceAccount admission plugin), which kube-controller-manager creates.
    async fn wait_default_service_account(&self, ns: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = self
                .cp
                .get(&format!("/api/v1/namespaces/{ns}/serviceaccounts/default"))
                .await?;
            if r.status == 200 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "kube-controller-manager created no ServiceAccount {ns}/default within 60 s; its log: {}",
                    self.cp.log("kube-controller-manager").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Fail with the component's log if a control-plane component has exited.
    pub fn check_running(&self) -> Result<()> {
        self.cp.check_running()
    }

    /// `--ca --cert --key` with the first etcd node's kubespray client files, as the seed passed
    /// them (scenario a's layout; panics without an etcd PKI: a test's mistake).
    pub fn kubespray_cert_args(&self) -> Vec<String> {
        let dir = self
            .etcd_certs_dir
            .clone()
            .expect("the scenario has etcd members");
        ["ca.pem", "node-node1.pem", "node-node1-key.pem"]
            .iter()
            .zip(["--ca", "--cert", "--key"])
            .flat_map(|(f, flag)| [flag.to_string(), dir.join(f).display().to_string()])
            .collect()
    }

    /// The admin's kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.cp.kubeconfig
    }

    /// The faults and request log of the proxy (what goes through `proxy_kubeconfig`).
    pub fn faults(&self) -> &crate::faults::Faults {
        &self.proxy.faults
    }

    /// GET an object as JSON (None when 404).
    pub async fn get_json(&self, path: &str) -> Result<Option<Value>> {
        let r = self.cp.get(path).await?;
        match r.status {
            200 => Ok(Some(serde_json::from_slice(&r.body)?)),
            404 => Ok(None),
            s => bail!("GET {path}: {s} {}", r.text()),
        }
    }

    /// Poll `f` every 250 ms until it returns Some, or fail after `timeout` naming `what`.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, timeout: Duration, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            self.check_running()?;
            match f().await {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => last = format!(" (last error: {e:#})"),
            }
            if Instant::now() > deadline {
                bail!("timed out after {timeout:?} waiting for {what}{last}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// A failed test leaves no cluster to look at (CI's machine is gone): on a panic, print the end
/// of the logs that explain most failures, the controllers' and the operator's.
impl Drop for RealCluster {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut files = vec![self.cp.log("kube-controller-manager")];
        if let Some(agent) = &self.agent {
            files.extend(pod_logs(agent.dir(), "operator"));
            files.extend(pod_logs(agent.dir(), "kube-controller-manager"));
        }
        for f in files.iter().filter(|f| f.is_file()) {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(30)..];
            eprintln!("--- the last {} lines of {}", tail.len(), f.display());
            for l in tail {
                eprintln!("{}", l.chars().take(400).collect::<String>());
            }
        }
    }
}

/// The last logs of containers whose name contains `part`, under the agent's
/// `nodes/<node>/var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log`.
fn pod_logs(dir: &Path, part: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let read = |d: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(d)
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    for node in read(&dir.join("nodes")) {
        for pod in read(&node.join("var/log/pods")) {
            for container in read(&pod) {
                let name = container.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if !name.contains(part) {
                    continue;
                }
                let mut logs = read(&container);
                logs.sort();
                out.extend(logs.pop());
            }
        }
    }
    out
}

/// The chart's webhook certificate Secret `<fullname>-admission` as its `admission-create` Job
/// (kube-webhook-certgen `create --host=<fullname>-operator,<fullname>-operator.<ns>.svc
/// --secret-name=<fullname>-admission`) leaves it: keys `ca`, `cert`, `key`, a CA of its own. A
/// scenario writes that Secret without data (no key material in the repository); any other object
/// is returned as it is.
fn admission_secret(obj: &Value) -> Result<Value> {
    let mut out = obj.clone();
    let Some(full) = name(obj).strip_suffix("-admission") else {
        return Ok(out);
    };
    if kind(obj) != "Secret" || obj.get("data").is_some_and(|d| !d.is_null()) {
        return Ok(out);
    }
    use crate::peers::certs::{Usage, ca_params, leaf_params, sign};
    let svc = format!("{full}-operator");
    let ca_key = rcgen::KeyPair::generate()?;
    let ca_cert = ca_params("promfix-admission-ca").self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca_params("promfix-admission-ca"), ca_key);
    let sans = [
        rcgen::SanType::DnsName(svc.clone().try_into()?),
        rcgen::SanType::DnsName(format!("{svc}.{}.svc", namespace(obj)).try_into()?),
    ];
    let year = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    let leaf = sign(
        &leaf_params(&svc, None, &sans, Usage::Server, year),
        &issuer,
    )?;
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    out["data"] =
        json!({"ca": b64(&ca_cert.pem()), "cert": b64(&leaf.cert), "key": b64(&leaf.key)});
    Ok(out)
}

/// The lastHeartbeatTime of a Node's Ready condition ("" when it has none).
fn ready_heartbeat(node: &Value) -> &str {
    node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["lastHeartbeatTime"].as_str())
        .unwrap_or("")
}

fn kind(o: &Value) -> &str {
    o["kind"].as_str().unwrap_or("")
}

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

fn namespace(o: &Value) -> &str {
    o["metadata"]["namespace"].as_str().unwrap_or("")
}

fn describe(o: &Value) -> String {
    match namespace(o) {
        "" => format!("{} {}", kind(o), name(o)),
        ns => format!("{} {ns}/{}", kind(o), name(o)),
    }
}
