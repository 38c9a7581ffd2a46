//! One pod on one node, from the kubelet's point of view (`pkg/kubelet/kubelet.go` SyncPod,
//! `kuberuntime`, `prober`, `status`): its network, its volumes, its init containers then its
//! containers, probes, restarts with back-off, status reports and graceful termination.

use super::Shared;
use super::api::{ApiClient, status_code};
use super::net::PodNet;
use crate::kubelet::{
    Mount, Payload, PodFacts, PodView, atomic_write, bwrap_command, configmap_data, copy_tree,
    downward_items, field_ref, go_duration, hex_id, host_path_check, image_repo, map_items,
    mode_of, s, secret_data, str_list, volume_mount_statuses,
};
use crate::store::now_rfc3339;
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::Child;
use tokio::sync::watch;

/// What runs for a container's image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    /// `quay.io/prometheus/prometheus:*`: the built Prometheus 3.
    Prometheus,
    /// `*/prometheus-config-reloader:*`: the built reloader.
    Reloader,
    /// `*/kube-controller-manager:*` (kubeadm's `registry.k8s.io/kube-controller-manager`): the
    /// built kube-controller-manager, whatever the tag.
    ControllerManager,
    /// `*/kube-scheduler:*`: the built kube-scheduler, whatever the tag.
    Scheduler,
    /// `*/prometheus-operator:*` (`quay.io/prometheus-operator/prometheus-operator`, the old
    /// `quay.io/coreos/prometheus-operator`): the built operator, whatever the tag, with the
    /// pod's in-cluster config.
    Operator,
    /// Any other image: simulated (Running, Ready, no process).
    Simulated,
}

pub fn runs(image: &str) -> Runs {
    let repo = image_repo(image);
    // Chainguard's Prometheus: the same binary in an image without a shell or busybox.
    if repo == "quay.io/prometheus/prometheus" || repo == "cgr.dev/chainguard/prometheus" {
        return Runs::Prometheus;
    }
    match repo.rsplit('/').next() {
        Some("prometheus-config-reloader") => Runs::Reloader,
        Some("kube-controller-manager") => Runs::ControllerManager,
        Some("kube-scheduler") => Runs::Scheduler,
        Some("prometheus-operator") => Runs::Operator,
        _ => Runs::Simulated,
    }
}

impl Runs {
    /// The built binary an image runs, and the names its `command` may start with (the
    /// image's entrypoint as its Dockerfile has it, or the bare name on its PATH).
    pub fn binary(self) -> Option<(&'static str, &'static [&'static str])> {
        Some(match self {
            Runs::Prometheus => ("prometheus", &["prometheus", "/bin/prometheus"]),
            Runs::Reloader => (
                "prometheus-config-reloader",
                &[
                    "prometheus-config-reloader",
                    "/bin/prometheus-config-reloader",
                ],
            ),
            Runs::ControllerManager => (
                "kube-controller-manager",
                &[
                    "kube-controller-manager",
                    "/usr/local/bin/kube-controller-manager",
                ],
            ),
            Runs::Scheduler => (
                "kube-scheduler",
                &["kube-scheduler", "/usr/local/bin/kube-scheduler"],
            ),
            // The image's ENTRYPOINT is /bin/operator (its Dockerfile).
            Runs::Operator => (
                "prometheus-operator",
                &["prometheus-operator", "/bin/operator", "operator"],
            ),
            Runs::Simulated => return None,
        })
    }
}

/// A container's command line as the runtime makes it (`kuberuntime` with the image's
/// entrypoint): `bin` (the built binary of `runs`) stands for the image's entrypoint; `command`
/// replaces it, its first word naming that binary; `args` follow; `$(VAR)` expanded from `env`.
pub fn command_line(
    runs: Runs,
    bin: &str,
    command: &[String],
    args: &[String],
    env: &BTreeMap<String, String>,
) -> Result<Vec<String>> {
    let Some((bin_name, cmd_names)) = runs.binary() else {
        anyhow::bail!("simulated");
    };
    let mut argv = vec![bin.to_string()];
    if let Some(first) = command.first() {
        if !cmd_names.contains(&first.as_str()) {
            anyhow::bail!(
                "the node agent runs only the image's own binary ({bin_name}), not {first}"
            );
        }
        argv.extend(command[1..].iter().map(|a| expand(a, env)));
    }
    argv.extend(args.iter().map(|a| expand(a, env)));
    Ok(argv)
}

/// A probe's state (`prober/worker.go`).
struct Probe {
    spec: Value,
    /// Startup: false until it succeeds; readiness: false; liveness: true.
    result: bool,
    successes: u32,
    failures: u32,
    next: Option<Instant>,
}

impl Probe {
    fn new(spec: &Value, initial: bool) -> Option<Probe> {
        spec.as_object()?;
        Some(Probe {
            spec: spec.clone(),
            result: initial,
            successes: 0,
            failures: 0,
            next: None,
        })
    }
    fn int(&self, k: &str, default: u64) -> u64 {
        self.spec.get(k).and_then(Value::as_u64).unwrap_or(default)
    }
    fn reset(&mut self, initial: bool) {
        self.result = initial;
        self.successes = 0;
        self.failures = 0;
        self.next = None;
    }
}

#[derive(Debug, Clone)]
enum State {
    Waiting(String, Option<String>),
    Running {
        started_at: String,
    },
    Terminated {
        code: i32,
        reason: String,
        started_at: String,
        finished_at: String,
    },
}

struct Ctr {
    name: String,
    spec: Value,
    image: String,
    runs: Runs,
    child: Option<Child>,
    state: State,
    last_state: Option<Value>,
    restarts: u32,
    started_instant: Option<Instant>,
    restart_at: Option<Instant>,
    startup: Option<Probe>,
    readiness: Option<Probe>,
    liveness: Option<Probe>,
    /// A sidecar: an init container with `restartPolicy: Always`.
    sidecar: bool,
}

impl Ctr {
    fn new(spec: &Value, init: bool) -> Ctr {
        let image = s(spec, "image").to_string();
        Ctr {
            name: s(spec, "name").to_string(),
            runs: runs(&image),
            image,
            child: None,
            state: State::Waiting(
                if init {
                    "PodInitializing"
                } else {
                    "ContainerCreating"
                }
                .into(),
                None,
            ),
            last_state: None,
            restarts: 0,
            started_instant: None,
            restart_at: Some(Instant::now()),
            startup: Probe::new(&spec["startupProbe"], false),
            readiness: Probe::new(&spec["readinessProbe"], false),
            liveness: Probe::new(&spec["livenessProbe"], true),
            sidecar: init && s(spec, "restartPolicy") == "Always",
            spec: spec.clone(),
        }
    }
    fn running(&self) -> bool {
        matches!(self.state, State::Running { .. })
    }
    /// Started: running and its startup probe (if any) has succeeded.
    fn started(&self) -> bool {
        self.running() && self.startup.as_ref().is_none_or(|p| p.result)
    }
    fn ready(&self) -> bool {
        self.started() && self.readiness.as_ref().is_none_or(|p| p.result)
    }
    fn container_id(&self, uid: &str) -> String {
        format!(
            "containerd://{}",
            hex_id(&[uid, &self.name, &self.restarts.to_string()])
        )
    }
}

struct Vol {
    name: String,
    spec: Value,
    dir: PathBuf,
    atomic: bool,
}

/// What a pod refers to, as read from the API.
#[derive(Default)]
struct Refs {
    secrets: BTreeMap<String, Value>,
    cms: BTreeMap<String, Value>,
    errors: BTreeMap<String, String>,
}

impl Refs {
    /// An object that was not read: fine when optional and absent; else the kubelet's error
    /// (`secret "x" not found`, or the API server's refusal).
    fn missing(&self, kind: &str, name: &str, optional: bool) -> Result<(), String> {
        match self.errors.get(&format!("{kind}/{name}")) {
            Some(e) => Err(e.clone()),
            None if optional => Ok(()),
            None => Err(format!("{kind} \"{name}\" not found")),
        }
    }
}

/// The message of the API server's Status in an error (what client-go's error says).
fn api_message(e: &anyhow::Error) -> String {
    e.chain()
        .find_map(|c| match c.downcast_ref::<kube::Error>() {
            Some(kube::Error::Api(s)) => Some(s.message.clone()),
            _ => None,
        })
        .unwrap_or_else(|| format!("{e:#}"))
}

/// A pod's worker: runs until the pod is gone from the API.
pub struct PodWorker {
    shared: Arc<Shared>,
    api: ApiClient,
    node: super::NodeSpec,
    pod: Value,
    uid: String,
    ns: String,
    name: String,
    root: PathBuf,
    logs: PathBuf,
    net: Option<PodNet>,
    ip: Ipv4Addr,
    vols: Vec<Vol>,
    mounted: bool,
    last_sync: Option<Instant>,
    tokens: HashMap<String, (String, Instant, Duration)>,
    init: Vec<Ctr>,
    ctrs: Vec<Ctr>,
    start_time: String,
    transitions: HashMap<String, (String, String)>,
    last_status: Option<Value>,
    /// The sandbox exists: volumes mounted, network set up.
    sandbox: bool,
    /// The last FailedMount event's message (repeats are the correlator's business).
    last_mount_error: Option<String>,
    /// A static pod (`static_pods.rs`): the UID of its mirror pod, where its status goes (None
    /// until the mirror pod exists); the status manager's `TranslatePodUID`.
    mirror: Option<MirrorUid>,
    /// The mirror pod UID the last status was written to.
    status_uid: Option<String>,
}

/// The UID of a static pod's mirror pod, shared with the file source that creates it.
pub type MirrorUid = Arc<std::sync::Mutex<Option<String>>>;

fn restart_policy(pod: &Value) -> &str {
    match s(&pod["spec"], "restartPolicy") {
        "" => "Always",
        p => p,
    }
}

/// The kubelet's `$(VAR)` expansion of env values, commands and args
/// (`third_party/forked/golang/expansion`): `$$` is `$`, an undefined `$(X)` stays as written.
pub fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            if b[i + 1] == b'$' {
                out.push('$');
                i += 2;
                continue;
            }
            if b[i + 1] == b'('
                && let Some(j) = text[i + 2..].find(')')
            {
                let name = &text[i + 2..i + 2 + j];
                match env.get(name) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&text[i..i + 3 + j]),
                }
                i += 3 + j;
                continue;
            }
        }
        let ch = text[i..].chars().next().unwrap_or('?');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

impl PodWorker {
    pub fn new(
        shared: Arc<Shared>,
        api: ApiClient,
        node: super::NodeSpec,
        pod: Value,
    ) -> PodWorker {
        let meta = &pod["metadata"];
        let uid = s(meta, "uid").to_string();
        let ns = s(meta, "namespace").to_string();
        let name = s(meta, "name").to_string();
        let node_root = shared.dir.join("nodes").join(&node.name);
        let root = node_root.join("var/lib/kubelet/pods").join(&uid);
        let logs = node_root
            .join("var/log/pods")
            .join(format!("{ns}_{name}_{uid}"));
        let vols = pod["spec"]["volumes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|v| {
                let (plugin, atomic) = if v.get("secret").is_some() {
                    ("kubernetes.io~secret", true)
                } else if v.get("configMap").is_some() {
                    ("kubernetes.io~configmap", true)
                } else if v.get("projected").is_some() {
                    ("kubernetes.io~projected", true)
                } else if v.get("downwardAPI").is_some() {
                    ("kubernetes.io~downward-api", true)
                } else if v.get("emptyDir").is_some() {
                    ("kubernetes.io~empty-dir", false)
                } else {
                    ("kubernetes.io~other", false)
                };
                let vname = s(&v, "name").to_string();
                let dir = if let Some(hp) = v.get("hostPath") {
                    node_root.join(s(hp, "path").trim_start_matches('/'))
                } else {
                    root.join("volumes").join(plugin).join(&vname)
                };
                Vol {
                    name: vname,
                    dir,
                    atomic,
                    spec: v,
                }
            })
            .collect();
        let init = pod["spec"]["initContainers"]
            .as_array()
            .map(|a| a.iter().map(|c| Ctr::new(c, true)).collect())
            .unwrap_or_default();
        let ctrs = pod["spec"]["containers"]
            .as_array()
            .map(|a| a.iter().map(|c| Ctr::new(c, false)).collect())
            .unwrap_or_default();
        PodWorker {
            ip: node.ip,
            shared,
            api,
            node,
            uid,
            ns,
            name,
            root,
            logs,
            net: None,
            vols,
            mounted: false,
            last_sync: None,
            tokens: HashMap::new(),
            init,
            ctrs,
            start_time: now_rfc3339(),
            transitions: HashMap::new(),
            last_status: None,
            sandbox: false,
            last_mount_error: None,
            mirror: None,
            status_uid: None,
            pod,
        }
    }

    /// The worker of a static pod (its UID the manifest's hash), whose status goes to the
    /// mirror pod whose UID `mirror` holds.
    pub fn new_static(
        shared: Arc<Shared>,
        api: ApiClient,
        node: super::NodeSpec,
        pod: Value,
        mirror: MirrorUid,
    ) -> PodWorker {
        let mut w = PodWorker::new(shared, api, node, pod);
        w.mirror = Some(mirror);
        w
    }

    fn pod_path(&self) -> String {
        format!("/api/v1/namespaces/{}/pods/{}", self.ns, self.name)
    }

    fn log(&self, msg: &str) {
        use std::io::Write;
        let _ = std::fs::create_dir_all(&self.logs);
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join("kubelet.log"))
        {
            let _ = writeln!(f, "{} {msg}", now_rfc3339());
        }
    }

    /// Run the pod until it is gone: `rx` carries its latest version, None once deleted.
    pub async fn run(mut self, mut rx: watch::Receiver<Option<Value>>) {
        let phase = s(&self.pod["status"], "phase").to_string();
        if phase == "Succeeded" || phase == "Failed" {
            // A terminal pod never runs again; nothing to do until it is deleted.
            while rx.changed().await.is_ok() {
                let Some(p) = rx.borrow().clone() else { break };
                if p["metadata"].get("deletionTimestamp").is_some() {
                    self.pod = p;
                    self.finish_deletion().await;
                    break;
                }
            }
            return;
        }
        self.shared.register(&self.ns, &self.name, &self.root);
        loop {
            if self.pod["metadata"].get("deletionTimestamp").is_some() {
                self.terminate(None).await;
                self.finish_deletion().await;
                break;
            }
            if let Err(e) = self.step().await {
                self.log(&format!("sync error: {e:#}"));
            }
            self.write_status().await;
            tokio::select! {
                r = rx.changed() => {
                    if r.is_err() {
                        self.terminate(Some(Duration::from_secs(2))).await;
                        break;
                    }
                    let latest = rx.borrow().clone();
                    match latest {
                        Some(p) => self.pod = p,
                        None => {
                            // Gone from the API (force-deleted): stop at once. A static pod
                            // whose manifest changed or went gets its grace period.
                            let grace = self.mirror.is_none().then_some(Duration::from_secs(2));
                            self.terminate(grace).await;
                            break;
                        }
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
        self.shared.unregister(&self.ns, &self.name, &self.root);
        self.net = None;
        let _ = std::fs::remove_dir_all(&self.root);
    }

    /// One round of SyncPod.
    async fn step(&mut self) -> Result<()> {
        let due = self
            .last_sync
            .is_none_or(|t| t.elapsed() >= self.shared.sync_frequency);
        if !self.mounted || due {
            self.last_sync = Some(Instant::now());
            match self.mount_volumes().await {
                Ok(()) => self.mounted = true,
                Err(e) => {
                    let msg = format!("{e:#}");
                    self.log(&format!("FailedMount: {msg}"));
                    if self.last_mount_error.as_deref() != Some(msg.as_str()) {
                        self.event_about(None, true, "FailedMount", msg.clone());
                        self.last_mount_error = Some(msg);
                    }
                    if !self.mounted {
                        return Ok(());
                    }
                }
            }
        }
        // The sandbox (its network) once the volumes are there (WaitForAttachAndMount comes
        // before the runtime's SyncPod); downward API files then see the pod IP on a re-sync.
        if self.net.is_none() && self.pod["spec"]["hostNetwork"] != true {
            let net = PodNet::create(&self.shared.ns, self.shared.pool.clone()).await?;
            self.ip = net.ip;
            self.net = Some(net);
            self.last_sync = None;
        }
        self.sandbox = true;
        // Init containers, in order, each to completion (sidecars: started, then the next).
        let mut i = 0;
        while i < self.init.len() {
            let c = &self.init[i];
            let done = match &c.state {
                State::Terminated { code: 0, .. } => !c.sidecar,
                State::Running { .. } => c.sidecar && c.started(),
                _ => false,
            };
            if done {
                i += 1;
                continue;
            }
            self.check_exit(true, i).await;
            let c = &self.init[i];
            if !c.running() && c.restart_at.is_some_and(|t| Instant::now() >= t) {
                self.start_container(true, i).await;
            }
            self.probe(true, i).await;
            return Ok(());
        }
        for i in 0..self.init.len() {
            if self.init[i].sidecar {
                self.check_exit(true, i).await;
                self.probe(true, i).await;
            }
        }
        for i in 0..self.ctrs.len() {
            self.check_exit(false, i).await;
            let c = &self.ctrs[i];
            if !c.running() && c.restart_at.is_some_and(|t| Instant::now() >= t) {
                self.start_container(false, i).await;
            }
            self.probe(false, i).await;
        }
        Ok(())
    }

    fn ctr(&mut self, init: bool, i: usize) -> &mut Ctr {
        if init {
            &mut self.init[i]
        } else {
            &mut self.ctrs[i]
        }
    }

    /// An Event about the pod (`i` None) or one of its containers.
    fn event_about(&self, field: Option<String>, warning: bool, reason: &str, message: String) {
        super::events::record(
            &self.api,
            &self.node.name,
            &self.pod,
            field,
            warning,
            reason,
            message,
        );
    }

    fn event(&self, init: bool, i: usize, warning: bool, reason: &str, message: String) {
        let c = if init { &self.init[i] } else { &self.ctrs[i] };
        let field = format!(
            "spec.{}{{{}}}",
            if init { "initContainers" } else { "containers" },
            c.name
        );
        self.event_about(Some(field), warning, reason, message);
    }

    /// Pulled (the image is "present": it maps to a built binary or nothing), Created, Started.
    fn started_events(&self, init: bool, i: usize) {
        let c = if init { &self.init[i] } else { &self.ctrs[i] };
        let image = c.image.clone();
        self.event(
            init,
            i,
            false,
            "Pulled",
            format!("Container image {image:?} already present on machine and can be accessed by the pod"),
        );
        self.event(init, i, false, "Created", "Container created".into());
        self.event(init, i, false, "Started", "Container started".into());
    }

    // -----------------------------------------------------------------------------------------
    // Volumes

    fn facts(&self) -> PodFacts<'_> {
        PodFacts {
            pod: &self.pod,
            ip: self.ip,
            host_ip: self.node.ip,
        }
    }

    /// The Secrets and ConfigMaps the pod refers to (volumes, env, envFrom), read as the node;
    /// a read that failed otherwise than with 404 keeps the API server's message (`secret "x" is
    /// forbidden: ...`, what the kubelet's volume plugins return), by `secret/<name>` or
    /// `configmap/<name>`.
    async fn fetch_refs(&self) -> Result<Refs> {
        let mut secrets = BTreeMap::new();
        let mut cms = BTreeMap::new();
        let mut errors = BTreeMap::new();
        let mut want_s = Vec::new();
        let mut want_c = Vec::new();
        for v in &self.vols {
            if let Some(x) = v.spec.get("secret") {
                want_s.push(s(x, "secretName").to_string());
            }
            if let Some(x) = v.spec.get("configMap") {
                want_c.push(s(x, "name").to_string());
            }
            for src in v.spec["projected"]["sources"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                if let Some(x) = src.get("secret") {
                    want_s.push(s(x, "name").to_string());
                }
                if let Some(x) = src.get("configMap") {
                    want_c.push(s(x, "name").to_string());
                }
            }
        }
        for c in self.init.iter().chain(&self.ctrs) {
            for e in c.spec["env"].as_array().cloned().unwrap_or_default() {
                if let Some(r) = e["valueFrom"].get("secretKeyRef") {
                    want_s.push(s(r, "name").to_string());
                }
                if let Some(r) = e["valueFrom"].get("configMapKeyRef") {
                    want_c.push(s(r, "name").to_string());
                }
            }
            for e in c.spec["envFrom"].as_array().cloned().unwrap_or_default() {
                if let Some(r) = e.get("secretRef") {
                    want_s.push(s(r, "name").to_string());
                }
                if let Some(r) = e.get("configMapRef") {
                    want_c.push(s(r, "name").to_string());
                }
            }
        }
        want_s.sort();
        want_s.dedup();
        want_c.sort();
        want_c.dedup();
        for (kind, plural, names) in [
            ("secret", "secrets", want_s),
            ("configmap", "configmaps", want_c),
        ] {
            for n in names {
                let path = format!("/api/v1/namespaces/{}/{plural}/{n}", self.ns);
                match self.api.get(&path).await {
                    Ok(Some(v)) => {
                        if kind == "secret" {
                            secrets.insert(n, v);
                        } else {
                            cms.insert(n, v);
                        }
                    }
                    Ok(None) => {}
                    Err(e) if status_code(&e).is_some() => {
                        errors.insert(format!("{kind}/{n}"), api_message(&e));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(Refs {
            secrets,
            cms,
            errors,
        })
    }

    /// A service-account token for a projected source, from the TokenRequest API, bound to the
    /// pod; renewed once 80 % of its lifetime or 24 h passed (the kubelet's token manager).
    async fn token(&mut self, src: &Value) -> Result<String> {
        let audience = s(src, "audience").to_string();
        let secs = src
            .get("expirationSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(3600);
        let key = format!("{audience}/{secs}");
        if let Some((t, at, ttl)) = self.tokens.get(&key) {
            let age = at.elapsed();
            if age < ttl.mul_f64(0.8) && age < Duration::from_secs(24 * 3600) {
                return Ok(t.clone());
            }
        }
        let sa = match s(&self.pod["spec"], "serviceAccountName") {
            "" => "default",
            n => n,
        };
        let auds: Vec<String> = if audience.is_empty() {
            vec![]
        } else {
            vec![audience]
        };
        let body = json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"audiences": auds, "expirationSeconds": secs,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": self.name, "uid": self.uid}},
        });
        let r = self
            .api
            .post(
                &format!("/api/v1/namespaces/{}/serviceaccounts/{sa}/token", self.ns),
                &body,
            )
            .await
            .context("requesting a service account token")?;
        let token = s(&r["status"], "token").to_string();
        let ttl = time::OffsetDateTime::parse(
            s(&r["status"], "expirationTimestamp"),
            &time::format_description::well_known::Rfc3339,
        )
        .ok()
        .map(|exp| (exp - time::OffsetDateTime::now_utc()).unsigned_abs())
        .unwrap_or(Duration::from_secs(secs));
        self.tokens
            .insert(key, (token.clone(), Instant::now(), ttl));
        Ok(token)
    }

    /// Set up or refresh every volume (atomic writer for Secrets, ConfigMaps, projected and
    /// downward API volumes); the first failure is returned after all were tried.
    async fn mount_volumes(&mut self) -> Result<()> {
        let refs = self.fetch_refs().await?;
        let mut first_err: Option<anyhow::Error> = None;
        for vi in 0..self.vols.len() {
            let (name, spec, dir, atomic) = {
                let v = &self.vols[vi];
                (v.name.clone(), v.spec.clone(), v.dir.clone(), v.atomic)
            };
            let failed = |why: String| {
                anyhow::anyhow!("MountVolume.SetUp failed for volume \"{name}\" : {why}")
            };
            let r: Result<()> = if atomic {
                match self.payload(&spec, &refs).await {
                    Ok(p) => atomic_write(&dir, &p)
                        .map(|_| ())
                        .map_err(|e| failed(e.to_string())),
                    Err(e) => Err(failed(e)),
                }
            } else if let Some(hp) = spec.get("hostPath") {
                host_path_check(hp, &dir).map_err(failed)
            } else {
                std::fs::create_dir_all(&dir).map_err(|e| failed(e.to_string()))
            };
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn payload(&mut self, vol: &Value, refs: &Refs) -> Result<Payload, String> {
        let (secrets, cms) = (&refs.secrets, &refs.cms);
        let mut out = Payload::new();
        if let Some(src) = vol.get("secret") {
            let sname = s(src, "secretName");
            let optional = src["optional"] == true;
            let mode = mode_of(src, "defaultMode").unwrap_or(0o644);
            match secrets.get(sname) {
                Some(sec) => map_items(
                    &secret_data(sec),
                    src.get("items").and_then(Value::as_array),
                    mode,
                    optional,
                    |k| format!("references non-existent secret key: {k}"),
                    &mut out,
                )?,
                None => refs.missing("secret", sname, optional)?,
            }
        } else if let Some(src) = vol.get("configMap") {
            let cname = s(src, "name");
            let optional = src["optional"] == true;
            let mode = mode_of(src, "defaultMode").unwrap_or(0o644);
            match cms.get(cname) {
                Some(cm) => map_items(
                    &configmap_data(cm),
                    src.get("items").and_then(Value::as_array),
                    mode,
                    optional,
                    |k| format!("configmap references non-existent config key: {k}"),
                    &mut out,
                )?,
                None => refs.missing("configmap", cname, optional)?,
            }
        } else if let Some(src) = vol.get("downwardAPI") {
            let mode = mode_of(src, "defaultMode").unwrap_or(0o644);
            downward_items(&self.facts(), src.get("items"), mode, &mut out);
        } else if let Some(src) = vol.get("projected") {
            let mode = mode_of(src, "defaultMode").unwrap_or(0o644);
            let mut errs: Vec<String> = Vec::new();
            for source in src["sources"].as_array().cloned().unwrap_or_default() {
                if let Some(sp) = source.get("secret") {
                    let sname = s(sp, "name");
                    let optional = sp["optional"] == true;
                    match secrets.get(sname) {
                        Some(sec) => {
                            if let Err(e) = map_items(
                                &secret_data(sec),
                                sp.get("items").and_then(Value::as_array),
                                mode,
                                optional,
                                |k| format!("references non-existent secret key: {k}"),
                                &mut out,
                            ) {
                                errs.push(e);
                            }
                        }
                        None => {
                            if let Err(e) = refs.missing("secret", sname, optional) {
                                errs.push(e);
                            }
                        }
                    }
                } else if let Some(cp) = source.get("configMap") {
                    let cname = s(cp, "name");
                    let optional = cp["optional"] == true;
                    match cms.get(cname) {
                        Some(cm) => {
                            if let Err(e) = map_items(
                                &configmap_data(cm),
                                cp.get("items").and_then(Value::as_array),
                                mode,
                                optional,
                                |k| format!("configmap references non-existent config key: {k}"),
                                &mut out,
                            ) {
                                errs.push(e);
                            }
                        }
                        None => {
                            if let Err(e) = refs.missing("configmap", cname, optional) {
                                errs.push(e);
                            }
                        }
                    }
                } else if let Some(dp) = source.get("downwardAPI") {
                    downward_items(&self.facts(), dp.get("items"), mode, &mut out);
                } else if let Some(tp) = source.get("serviceAccountToken") {
                    let path = match s(tp, "path") {
                        "" => "token",
                        p => p,
                    }
                    .to_string();
                    match self.token(tp).await {
                        Ok(t) => {
                            // projected.go: the token file's mode is the volume's default mode.
                            out.insert(path, (t.into_bytes(), mode));
                        }
                        Err(e) => errs.push(format!("{e:#}")),
                    }
                }
            }
            match errs.len() {
                0 => {}
                1 => return Err(errs.remove(0)),
                _ => return Err(format!("[{}]", errs.join(", "))),
            }
        }
        Ok(out)
    }

    // -----------------------------------------------------------------------------------------
    // Containers

    fn mounts_of(&self, c: &Ctr) -> Vec<Mount> {
        let mut out = Vec::new();
        for (i, vm) in c.spec["volumeMounts"]
            .as_array()
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
            } else if v.atomic {
                // Bound when the container starts: later updates never reach a subPath mount.
                let dst = self
                    .root
                    .join("volume-subpaths")
                    .join(&v.name)
                    .join(&c.name)
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
            out.push(Mount {
                host_path: host,
                container_path: s(vm, "mountPath").to_string(),
                read_only: v.atomic || vm["readOnly"] == true,
            });
        }
        out
    }

    /// The container's environment (`kubelet_pods.go` makeEnvironmentVariables): the API
    /// server's address, envFrom, then env with `$(VAR)` expansion of earlier values.
    /// A referenced Secret, ConfigMap or key that is missing and not optional fails the
    /// container's creation (CreateContainerConfigError), with the kubelet's message.
    async fn env_of(&self, c: &Ctr) -> Result<BTreeMap<String, String>> {
        let refs = self.fetch_refs().await?;
        let (secrets, cms) = (&refs.secrets, &refs.cms);
        let (host, port) = self.shared.apiserver;
        let mut env = BTreeMap::new();
        // No kube-proxy routes the `kubernetes` Service's ClusterIP here: the API server's own
        // address stands in for it.
        for (k, v) in [
            ("KUBERNETES_SERVICE_HOST", host.to_string()),
            ("KUBERNETES_SERVICE_PORT", port.to_string()),
            ("KUBERNETES_SERVICE_PORT_HTTPS", port.to_string()),
            ("KUBERNETES_PORT", format!("tcp://{host}:{port}")),
            (
                &format!("KUBERNETES_PORT_{port}_TCP") as &str,
                format!("tcp://{host}:{port}"),
            ),
            (
                &format!("KUBERNETES_PORT_{port}_TCP_PROTO"),
                "tcp".to_string(),
            ),
            (
                &format!("KUBERNETES_PORT_{port}_TCP_PORT"),
                port.to_string(),
            ),
            (
                &format!("KUBERNETES_PORT_{port}_TCP_ADDR"),
                host.to_string(),
            ),
        ] {
            env.insert(k.to_string(), v);
        }
        for e in c.spec["envFrom"].as_array().cloned().unwrap_or_default() {
            let prefix = s(&e, "prefix");
            let data = if let Some(r) = e.get("secretRef") {
                secrets.get(s(r, "name")).map(secret_data)
            } else if let Some(r) = e.get("configMapRef") {
                cms.get(s(r, "name")).map(configmap_data)
            } else {
                None
            };
            for (k, v) in data.unwrap_or_default() {
                env.insert(format!("{prefix}{k}"), String::from_utf8_lossy(&v).into());
            }
        }
        for e in c.spec["env"].as_array().cloned().unwrap_or_default() {
            let name = s(&e, "name").to_string();
            let vf = &e["valueFrom"];
            let v = if let Some(v) = e.get("value").and_then(Value::as_str) {
                Some(expand(v, &env))
            } else if let Some(f) = vf.get("fieldRef") {
                field_ref(&self.facts(), s(f, "fieldPath"))
            } else if let Some(r) = vf.get("secretKeyRef") {
                let (n, k) = (s(r, "name"), s(r, "key"));
                match secrets.get(n).map(secret_data) {
                    Some(d) => match d.get(k) {
                        Some(b) => Some(String::from_utf8_lossy(b).into_owned()),
                        None if r["optional"] == true => None,
                        None => anyhow::bail!("couldn't find key {k} in Secret {}/{n}", self.ns),
                    },
                    None => {
                        refs.missing("secret", n, r["optional"] == true)
                            .map_err(anyhow::Error::msg)?;
                        None
                    }
                }
            } else if let Some(r) = vf.get("configMapKeyRef") {
                let (n, k) = (s(r, "name"), s(r, "key"));
                match cms.get(n).map(configmap_data) {
                    Some(d) => match d.get(k) {
                        Some(b) => Some(String::from_utf8_lossy(b).into_owned()),
                        None if r["optional"] == true => None,
                        None => {
                            anyhow::bail!("couldn't find key {k} in ConfigMap {}/{n}", self.ns)
                        }
                    },
                    None => {
                        refs.missing("configmap", n, r["optional"] == true)
                            .map_err(anyhow::Error::msg)?;
                        None
                    }
                }
            } else if vf.get("resourceFieldRef").is_some() {
                // Limits default to the node's allocatable; 0 stands for "unset" here.
                Some("0".into())
            } else {
                None
            };
            if let Some(v) = v {
                env.insert(name, v);
            }
        }
        env.insert(
            "HOSTNAME".into(),
            match s(&self.pod["spec"], "hostname") {
                "" => self.name.clone(),
                h => h.to_string(),
            },
        );
        env.insert("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into());
        Ok(env)
    }

    /// The command line: the image's entrypoint is the built binary; `command` replaces it (its
    /// first word mapped to the built binary when it names it), `args` the image's CMD.
    fn argv(&self, c: &Ctr, env: &BTreeMap<String, String>) -> Result<Vec<String>> {
        let Some((bin_name, _)) = c.runs.binary() else {
            anyhow::bail!("simulated");
        };
        let bin = self.shared.binary(bin_name)?.display().to_string();
        let command = str_list(&c.spec, "command");
        let args = str_list(&c.spec, "args");
        if !matches!(c.runs, Runs::Prometheus | Runs::Operator) {
            return command_line(c.runs, &bin, &command, &args, env);
        }
        // Every Prometheus image runs the one built Prometheus 3, every operator image the one
        // built operator: flags they do not know (an older image's) would stop them, so they are
        // left out, and said so in the pod's kubelet.log.
        let mut argv = command_line(c.runs, &bin, &command, &[], env)?;
        let (prom, op) = if c.runs == Runs::Prometheus {
            (Some(self.shared.prometheus()?), None)
        } else {
            (None, Some(self.shared.operator()?))
        };
        let what = match (prom, op) {
            (Some(p), _) => format!("Prometheus {}", p.version),
            (_, Some(o)) => format!("prometheus-operator {}", o.version),
            _ => String::new(),
        };
        let known = |a: &str| match (prom, op) {
            (Some(p), _) => p.accepts(a),
            (_, Some(o)) => o.accepts(a),
            _ => true,
        };
        for a in args.iter().map(|a| expand(a, env)) {
            if known(&a) {
                argv.push(a);
            } else {
                self.log(&format!(
                    "container {}: dropped {a}: {what} does not know it",
                    c.name
                ));
            }
        }
        Ok(argv)
    }

    async fn start_container(&mut self, init: bool, i: usize) {
        let now = now_rfc3339();
        let c = if init { &self.init[i] } else { &self.ctrs[i] };
        let env = match self.env_of(c).await {
            Ok(e) => e,
            Err(e) => {
                let msg = format!("{e:#}");
                self.log(&format!("CreateContainerConfigError: {msg}"));
                let c = self.ctr(init, i);
                c.state = State::Waiting("CreateContainerConfigError".into(), Some(msg));
                c.restart_at = Some(Instant::now() + Duration::from_secs(1));
                return;
            }
        };
        if self.ctr(init, i).runs == Runs::Simulated {
            self.started_events(init, i);
            let c = self.ctr(init, i);
            c.restart_at = None;
            if init && !c.sidecar {
                c.state = State::Terminated {
                    code: 0,
                    reason: "Completed".into(),
                    started_at: now.clone(),
                    finished_at: now,
                };
            } else {
                c.state = State::Running { started_at: now };
                c.started_instant = Some(Instant::now());
                // No process answers a probe: a simulated container is started and ready.
                for p in [&mut c.startup, &mut c.readiness, &mut c.liveness]
                    .into_iter()
                    .flatten()
                {
                    p.result = true;
                }
            }
            return;
        }
        let c = if init { &self.init[i] } else { &self.ctrs[i] };
        let argv = match self.argv(c, &env) {
            Ok(a) => a,
            Err(e) => {
                let msg = format!("{e:#}");
                self.log(&format!("CreateContainerError: {msg}"));
                let c = self.ctr(init, i);
                c.state = State::Waiting("CreateContainerError".into(), Some(msg));
                c.restart_at = Some(Instant::now() + Duration::from_secs(10));
                return;
            }
        };
        let view = PodView {
            namespace: self.ns.clone(),
            pod: self.name.clone(),
            uid: self.uid.clone(),
            container: c.name.clone(),
            root: self.root.clone(),
            mounts: self.mounts_of(c),
            ip: self.ip,
            // What `exec` finds: a distroless image has only its binaries.
            has_shell: crate::kubelet::image_has_shell(&c.image),
        };
        let netns = match &self.net {
            Some(n) => n.fd_clone().ok(),
            None => self.shared.ns.fd_clone().ok(),
        };
        self.shared.register_view(view.clone(), netns);
        let mut cmd = bwrap_command(&view, &argv);
        cmd.env_clear()
            .envs(&env)
            .stdin(std::process::Stdio::null());
        let dir = self.logs.join(&c.name);
        let _ = std::fs::create_dir_all(&dir);
        let logf = dir.join(format!("{}.log", c.restarts));
        match std::fs::File::create(&logf) {
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
        let entered = match &self.net {
            Some(n) => n.enter_on_exec(&mut cmd),
            None => self.shared.ns.enter_on_exec(&mut cmd),
        };
        cmd.process_group(0);
        crate::peers::die_with_parent(&mut cmd);
        let spawned = entered.and_then(|_| cmd.spawn().context("bwrap (Debian bubblewrap)"));
        if spawned.is_ok() {
            self.started_events(init, i);
        }
        let c = self.ctr(init, i);
        c.restart_at = None;
        match spawned {
            Ok(child) => {
                c.child = Some(child);
                c.state = State::Running { started_at: now };
                c.started_instant = Some(Instant::now());
                if let Some(p) = c.startup.as_mut() {
                    p.reset(false);
                }
                if let Some(p) = c.readiness.as_mut() {
                    p.reset(false);
                }
                if let Some(p) = c.liveness.as_mut() {
                    p.reset(true);
                }
            }
            Err(e) => {
                c.state = State::Waiting("CreateContainerError".into(), Some(format!("{e:#}")));
                c.restart_at = Some(Instant::now() + Duration::from_secs(10));
            }
        }
    }

    /// A container whose process exited: terminated, then restarted per the restart policy with
    /// the kubelet's back-off (10 s doubling to 5 min).
    async fn check_exit(&mut self, init: bool, i: usize) {
        let policy = restart_policy(&self.pod).to_string();
        let uid = self.uid.clone();
        let (pod_name, ns) = (self.name.clone(), self.ns.clone());
        let c = self.ctr(init, i);
        let Some(ch) = c.child.as_mut() else { return };
        let Ok(Some(status)) = ch.try_wait() else {
            return;
        };
        c.child = None;
        let code = status.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(9)
        });
        let started_at = match &c.state {
            State::Running { started_at } => started_at.clone(),
            _ => String::new(),
        };
        let term = State::Terminated {
            code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            started_at,
            finished_at: now_rfc3339(),
        };
        let restart = match (init && !c.sidecar, policy.as_str()) {
            (true, _) => code != 0 && policy != "Never",
            (false, "Always") => true,
            (false, "OnFailure") => code != 0 || c.sidecar,
            _ => c.sidecar,
        };
        if !restart {
            c.state = term;
            return;
        }
        c.last_state = Some(state_json(&term, &c.container_id(&uid)));
        c.restarts += 1;
        let backoff = if c.restarts <= 1 {
            Duration::ZERO
        } else {
            Duration::from_secs((10u64 << (c.restarts - 2).min(5)).min(300))
        };
        c.state = State::Waiting(
            "CrashLoopBackOff".into(),
            Some(format!(
                "back-off {} restarting failed container={} pod={pod_name}_{ns}({uid})",
                go_duration(backoff.max(Duration::from_secs(10))),
                c.name
            )),
        );
        c.started_instant = None;
        c.restart_at = Some(Instant::now() + backoff);
        if !backoff.is_zero() {
            let name = c.name.clone();
            self.event(
                init,
                i,
                true,
                "BackOff",
                format!(
                    "Back-off restarting failed container {name} in pod {pod_name}_{ns}({uid})"
                ),
            );
        }
    }

    /// Run the container's due probes (`prober/worker.go` doProbe).
    async fn probe(&mut self, init: bool, i: usize) {
        let ip = self.ip;
        let c = if init { &self.init[i] } else { &self.ctrs[i] };
        if c.child.is_none() || c.runs == Runs::Simulated {
            return;
        }
        let ports = c.spec["ports"].as_array().cloned().unwrap_or_default();
        let host_net = (self.pod["spec"]["hostNetwork"] == true).then(|| self.shared.ns.clone());
        let started_at = c.started_instant.unwrap_or_else(Instant::now);
        let started = c.started();
        let mut kill: Option<&str> = None;
        let mut unhealthy = Vec::new();
        let c = self.ctr(init, i);
        for (which, probe) in [
            ("startup", c.startup.as_mut()),
            ("readiness", c.readiness.as_mut()),
            ("liveness", c.liveness.as_mut()),
        ] {
            let Some(p) = probe else { continue };
            // Readiness and liveness wait for the startup probe; the startup probe stops once
            // it succeeded.
            if (which == "startup") == started {
                continue;
            }
            let now = Instant::now();
            let due = p
                .next
                .unwrap_or(started_at + Duration::from_secs(p.int("initialDelaySeconds", 0)));
            if now < due {
                continue;
            }
            p.next = Some(now + Duration::from_secs(p.int("periodSeconds", 10).max(1)));
            let r = run_probe(
                &p.spec,
                ip,
                &ports,
                Duration::from_secs(p.int("timeoutSeconds", 1).max(1)),
                host_net.as_deref(),
            )
            .await;
            if let Err(out) = &r {
                let kind = match which {
                    "startup" => "Startup",
                    "readiness" => "Readiness",
                    _ => "Liveness",
                };
                unhealthy.push(format!("{kind} probe failed: {out}"));
            }
            if r.is_ok() {
                p.failures = 0;
                p.successes += 1;
                if p.successes >= p.int("successThreshold", 1) as u32 {
                    p.result = true;
                }
            } else {
                p.successes = 0;
                p.failures += 1;
                if p.failures >= p.int("failureThreshold", 3) as u32 {
                    p.result = false;
                    if which != "readiness" {
                        kill = Some(which);
                    }
                }
            }
        }
        for m in unhealthy {
            self.event(init, i, true, "Unhealthy", m);
        }
        if let Some(which) = kill {
            // A failed liveness or startup probe: the container is killed (and restarted, as
            // its restart policy says).
            let grace = self.grace(None);
            let name = self.ctr(init, i).name.clone();
            let restart = if restart_policy(&self.pod) == "Never" {
                ""
            } else {
                ", will be restarted"
            };
            self.event(
                init,
                i,
                false,
                "Killing",
                format!("Container {name} failed {which} probe{restart}"),
            );
            let c = self.ctr(init, i);
            if let Some(ch) = c.child.as_mut() {
                stop_child(ch, grace).await;
            }
        }
    }

    fn grace(&self, over: Option<Duration>) -> Duration {
        over.unwrap_or_else(|| {
            let m = &self.pod["metadata"];
            let secs = m
                .get("deletionGracePeriodSeconds")
                .and_then(Value::as_u64)
                .or_else(|| {
                    self.pod["spec"]
                        .get("terminationGracePeriodSeconds")
                        .and_then(Value::as_u64)
                })
                .unwrap_or(30);
            Duration::from_secs(secs)
        })
    }

    /// Stop every container: SIGTERM, SIGKILL after the grace period.
    async fn terminate(&mut self, over: Option<Duration>) {
        let grace = self.grace(over);
        for (init, list) in [(false, &self.ctrs), (true, &self.init)] {
            for (i, c) in list.iter().enumerate() {
                if c.running() {
                    self.event(
                        init,
                        i,
                        false,
                        "Killing",
                        format!("Stopping container {}", c.name),
                    );
                }
            }
        }
        let mut stops = Vec::new();
        for c in self.ctrs.iter_mut().chain(self.init.iter_mut()) {
            if let Some(mut ch) = c.child.take() {
                stops.push(async move {
                    stop_child(&mut ch, grace).await;
                    ch.wait().await.ok()
                });
            }
        }
        let codes = futures::future::join_all(stops).await;
        let mut codes = codes.into_iter();
        for c in self.ctrs.iter_mut().chain(self.init.iter_mut()) {
            if let State::Running { started_at } = &c.state {
                let code = if c.runs == Runs::Simulated {
                    Some(0)
                } else {
                    codes.next().flatten().map(|st| {
                        st.code().unwrap_or_else(|| {
                            128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(9)
                        })
                    })
                };
                let code = code.unwrap_or(137);
                c.state = State::Terminated {
                    code,
                    reason: if code == 0 { "Completed" } else { "Error" }.into(),
                    started_at: started_at.clone(),
                    finished_at: now_rfc3339(),
                };
            }
        }
    }

    /// After a graceful deletion's containers stopped: the terminal status, then the deletion
    /// with grace period 0 and the pod's UID as precondition (the status manager's).
    async fn finish_deletion(&mut self) {
        self.write_status().await;
        let opts = json!({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
            "preconditions": {"uid": self.uid}});
        if let Err(e) = self.api.delete(&self.pod_path(), &opts).await
            && status_code(&e) != Some(404)
            && status_code(&e) != Some(409)
        {
            self.log(&format!("deleting the pod: {e:#}"));
        }
    }

    // -----------------------------------------------------------------------------------------
    // Status

    fn cond(&mut self, t: &str, ok: bool, reason: Option<&str>, message: Option<String>) -> Value {
        let now = now_rfc3339();
        let st = if ok { "True" } else { "False" }.to_string();
        let e = self
            .transitions
            .entry(t.to_string())
            .or_insert_with(|| (st.clone(), now.clone()));
        if e.0 != st {
            *e = (st.clone(), now);
        }
        // reason and message always present (null: removed), as the status manager's two-way
        // merge patch removes what the old condition had and the new one lacks.
        json!({"type": t, "status": st, "lastProbeTime": null, "lastTransitionTime": e.1,
            "reason": reason, "message": message})
    }

    fn ctr_status(&self, c: &Ctr, init_pending: bool) -> Value {
        let id = c.container_id(&self.uid);
        let state = if init_pending && !c.running() {
            json!({"waiting": {"reason": "PodInitializing"}})
        } else {
            state_json(&c.state, &id)
        };
        let mut st = json!({
            "name": c.name,
            "state": state,
            "lastState": c.last_state.clone().unwrap_or_else(|| json!({})),
            "ready": c.ready(),
            "restartCount": c.restarts,
            "image": c.image,
            "imageID": "",
            "started": c.started(),
            "volumeMounts": volume_mount_statuses(&c.spec),
        });
        if !matches!(c.state, State::Waiting(..)) {
            st["containerID"] = json!(id);
            st["imageID"] = json!(format!(
                "{}@sha256:{}",
                image_repo(&c.image),
                hex_id(&[&c.image])
            ));
        }
        st
    }

    fn status(&mut self) -> Value {
        let init_done = self.init.iter().all(|c| match &c.state {
            State::Terminated { code: 0, .. } => true,
            State::Running { .. } => c.sidecar,
            _ => false,
        });
        let pending_inits: Vec<String> = self
            .init
            .iter()
            .filter(|c| !matches!(c.state, State::Terminated { code: 0, .. }) && !c.sidecar)
            .map(|c| c.name.clone())
            .collect();
        let unready: Vec<String> = self
            .ctrs
            .iter()
            .chain(self.init.iter().filter(|c| c.sidecar))
            .filter(|c| !c.ready())
            .map(|c| c.name.clone())
            .collect();
        let all_ready = unready.is_empty() && init_done;
        let deleting = self.pod["metadata"].get("deletionTimestamp").is_some();
        let all_stopped = self
            .ctrs
            .iter()
            .all(|c| matches!(c.state, State::Terminated { .. }));
        // getPhase: Pending until initialized and every container has run; terminal once all
        // containers stopped for good.
        let phase = if all_stopped && (deleting || restart_policy(&self.pod) != "Always") {
            let failed = self
                .ctrs
                .iter()
                .any(|c| matches!(c.state, State::Terminated { code, .. } if code != 0));
            if failed { "Failed" } else { "Succeeded" }
        } else if !self.mounted
            || !init_done
            || self
                .ctrs
                .iter()
                .any(|c| matches!(c.state, State::Waiting(..)) && c.last_state.is_none())
        {
            "Pending"
        } else {
            "Running"
        };
        let sandbox = self.sandbox;
        let unready_msg = format!("containers with unready status: [{}]", unready.join(" "));
        let mut conditions = vec![if sandbox {
            self.cond("PodReadyToStartContainers", true, None, None)
        } else {
            self.cond(
                "PodReadyToStartContainers",
                false,
                Some("PodSandboxNotReady"),
                Some("no pod sandbox exists".into()),
            )
        }];
        let c = if init_done {
            self.cond("Initialized", true, None, None)
        } else {
            self.cond(
                "Initialized",
                false,
                Some("ContainersNotInitialized"),
                Some(format!(
                    "containers with incomplete status: [{}]",
                    pending_inits.join(" ")
                )),
            )
        };
        conditions.push(c);
        for t in ["Ready", "ContainersReady"] {
            let c = if all_ready && phase == "Running" {
                self.cond(t, true, None, None)
            } else if phase == "Succeeded" {
                self.cond(t, false, Some("PodCompleted"), None)
            } else if phase == "Failed" {
                self.cond(t, false, Some("PodFailed"), None)
            } else {
                self.cond(
                    t,
                    false,
                    Some("ContainersNotReady"),
                    Some(unready_msg.clone()),
                )
            };
            conditions.push(c);
        }
        if let Some(c) = self.pod["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled").cloned())
        {
            conditions.push(c);
        }
        // PodObservedGenerationTracking (GA in 1.35): the status and every condition the kubelet
        // owns carry the generation they were computed for.
        let generation = self.pod["metadata"]["generation"].as_u64().unwrap_or(0);
        for c in &mut conditions {
            c["observedGeneration"] = json!(generation);
        }
        // convertToAPIContainerStatuses: sorted by name.
        let mut statuses: Vec<Value> = self
            .ctrs
            .iter()
            .map(|c| self.ctr_status(c, !init_done))
            .collect();
        statuses.sort_by(|a, b| s(a, "name").cmp(s(b, "name")));
        let inits: Vec<Value> = self
            .init
            .iter()
            .map(|c| self.ctr_status(c, false))
            .collect();
        let host = self.node.ip.to_string();
        let mut status = json!({
            "observedGeneration": generation,
            "phase": phase,
            "conditions": conditions,
            "hostIP": host,
            "hostIPs": [{"ip": host}],
            "startTime": self.start_time,
            "containerStatuses": statuses,
        });
        if !inits.is_empty() {
            status["initContainerStatuses"] = json!(inits);
        }
        if sandbox {
            status["podIP"] = json!(self.ip.to_string());
            status["podIPs"] = json!([{"ip": self.ip.to_string()}]);
        }
        status
    }

    /// Patch the status when it changed (the status manager's strategic merge patch, with the
    /// pod's UID so that a new pod of the same name is never written).
    async fn write_status(&mut self) {
        let status = self.status();
        let uid = match &self.mirror {
            None => self.uid.clone(),
            Some(m) => match m.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                Some(u) => u,
                // No mirror pod yet: the status waits for it.
                None => return,
            },
        };
        if self.last_status.as_ref() == Some(&status) && self.status_uid.as_ref() == Some(&uid) {
            return;
        }
        let patch = json!({"metadata": {"uid": uid}, "status": status});
        match self
            .api
            .patch_strategic(&format!("{}/status", self.pod_path()), &patch)
            .await
        {
            Ok(_) => {
                self.last_status = Some(status);
                self.status_uid = Some(uid);
            }
            Err(e) => self.log(&format!("status update failed: {e:#}")),
        }
    }
}

fn state_json(st: &State, id: &str) -> Value {
    match st {
        State::Waiting(reason, msg) => {
            let mut w = json!({"reason": reason});
            if let Some(m) = msg {
                w["message"] = json!(m);
            }
            json!({"waiting": w})
        }
        State::Running { started_at } => json!({"running": {"startedAt": started_at}}),
        State::Terminated {
            code,
            reason,
            started_at,
            finished_at,
        } => json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started_at,
            "finishedAt": finished_at, "containerID": id}}),
    }
}

/// SIGTERM to the container's process (bwrap's child), SIGKILL to the group after `grace`.
async fn stop_child(ch: &mut Child, grace: Duration) {
    let Some(pg) = ch.id().map(|p| p as i32) else {
        return;
    };
    let kids: Vec<i32> = std::fs::read_to_string(format!("/proc/{pg}/task/{pg}/children"))
        .unwrap_or_default()
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
    if tokio::time::timeout(grace, ch.wait()).await.is_err() {
        // SAFETY: as above.
        unsafe {
            libc::kill(-pg, libc::SIGKILL);
        }
        let _ = ch.wait().await;
    }
}

/// Go's text for a failed dial (`dial tcp IP:PORT: connect: connection refused`).
fn dial_error(host: Ipv4Addr, port: u16, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
        std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
        _ => e.to_string(),
    };
    format!("dial tcp {host}:{port}: {why}")
}

/// One probe attempt (`prober.go`): httpGet (2xx/3xx succeeds) and tcpSocket from the host to
/// the pod IP (from the cluster's namespace for a `hostNetwork` pod: the kubelet dials from the
/// node's network, where `host: 127.0.0.1` is the node's own loopback); exec and gRPC probes of a real process count as succeeded (no exec here yet).
/// A failure's output as the kubelet's Unhealthy event shows it.
async fn run_probe(
    spec: &Value,
    ip: Ipv4Addr,
    ports: &[Value],
    timeout: Duration,
    host_net: Option<&crate::real::NetNs>,
) -> Result<(), String> {
    let port_of = |p: &Value| -> Option<u16> {
        match p {
            Value::Number(n) => n.as_u64().map(|n| n as u16),
            Value::String(name) => ports
                .iter()
                .find(|cp| cp["name"] == name.as_str())
                .and_then(|cp| cp["containerPort"].as_u64())
                .map(|n| n as u16)
                .or_else(|| name.parse().ok()),
            _ => None,
        }
    };
    let connect = async |host: Ipv4Addr, port: u16| -> Result<tokio::net::TcpStream, String> {
        match host_net {
            // The node's host network is the cluster's namespace: dial from there, so that
            // `host: 127.0.0.1` (kubeadm's probes) is the node's loopback, not this process's.
            Some(ns) => {
                let addr = std::net::SocketAddr::from((host, port));
                match ns.connect_tcp(addr, timeout).await {
                    Ok(s) => tokio::net::TcpStream::from_std(s).map_err(|e| e.to_string()),
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                        Err(format!("dial tcp {host}:{port}: i/o timeout"))
                    }
                    Err(e) => Err(dial_error(host, port, &e)),
                }
            }
            None => {
                match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port)))
                    .await
                {
                    Ok(Ok(s)) => Ok(s),
                    Ok(Err(e)) => Err(dial_error(host, port, &e)),
                    Err(_) => Err(format!("dial tcp {host}:{port}: i/o timeout")),
                }
            }
        }
    };
    if let Some(h) = spec.get("httpGet") {
        let Some(port) = port_of(&h["port"]) else {
            return Err(format!("unknown port {}", h["port"]));
        };
        let host = h["host"]
            .as_str()
            .and_then(|h| h.parse().ok())
            .unwrap_or(ip);
        let path = match s(h, "path") {
            "" => "/",
            p => p,
        };
        if s(h, "scheme") == "HTTPS" {
            // No certificate check, as the kubelet: a TLS listener that accepts counts.
            return connect(host, port).await.map(|_| ());
        }
        let url = format!("http://{host}:{port}{path}");
        // Connected first, for Go's dial error text.
        let stream = connect(host, port)
            .await
            .map_err(|e| format!("Get \"{url}\": {e}"))?;
        let authority = format!("{host}:{port}");
        let get = crate::peers::send(stream, "GET", &authority, path, Vec::new());
        match tokio::time::timeout(timeout, get).await {
            Ok(Ok(r)) if (200..400).contains(&r.status) => Ok(()),
            Ok(Ok(r)) => Err(format!("HTTP probe failed with statuscode: {}", r.status)),
            Ok(Err(e)) => Err(format!("Get \"{url}\": {e:#}")),
            Err(_) => Err(format!(
                "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            )),
        }
    } else if let Some(t) = spec.get("tcpSocket") {
        let Some(port) = port_of(&t["port"]) else {
            return Err(format!("unknown port {}", t["port"]));
        };
        connect(ip, port).await.map(|_| ())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_map_to_the_built_binaries_or_a_simulation() {
        assert_eq!(
            runs("quay.io/prometheus/prometheus:v2.13.1"),
            Runs::Prometheus
        );
        assert_eq!(runs("quay.io/prometheus/prometheus"), Runs::Prometheus);
        assert_eq!(
            runs("cgr.dev/chainguard/prometheus:latest"),
            Runs::Prometheus
        );
        assert!(!crate::kubelet::image_has_shell(
            "cgr.dev/chainguard/prometheus:latest"
        ));
        assert_eq!(
            runs("quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1"),
            Runs::Reloader
        );
        assert_eq!(
            runs("quay.io/prometheus/node-exporter:v1.8.0"),
            Runs::Simulated
        );
        assert_eq!(runs("docker.io/prom/prometheus:v3.0.0"), Runs::Simulated);
        assert_eq!(
            runs("quay.io/prometheus-operator/prometheus-operator:v0.85.0"),
            Runs::Operator
        );
        assert_eq!(
            runs("quay.io/coreos/prometheus-operator:v0.34.0"),
            Runs::Operator
        );
        assert_eq!(
            runs("quay.io/prometheus-operator/admission-webhook:v0.85.0"),
            Runs::Simulated
        );
        assert_eq!(runs("busybox:1.36"), Runs::Simulated);
    }

    #[test]
    fn kubeadm_manifests_run_the_built_components_with_their_flags() {
        assert_eq!(
            runs("registry.k8s.io/kube-scheduler:v1.33.1"),
            Runs::Scheduler
        );
        assert_eq!(
            runs("k8s.gcr.io/kube-controller-manager:v1.22.0"),
            Runs::ControllerManager
        );
        assert_eq!(
            runs("registry.k8s.io/kube-apiserver:v1.33.1"),
            Runs::Simulated
        );
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let env = BTreeMap::from([("NODE".to_string(), "node1".to_string())]);
        let argv = command_line(
            Runs::Scheduler,
            "/cache/kube-scheduler",
            &v(&[
                "kube-scheduler",
                "--bind-address=127.0.0.1",
                "--kubeconfig=/etc/kubernetes/scheduler.conf",
            ]),
            &v(&["--v=$(NODE)"]),
            &env,
        )
        .unwrap();
        assert_eq!(
            argv,
            v(&[
                "/cache/kube-scheduler",
                "--bind-address=127.0.0.1",
                "--kubeconfig=/etc/kubernetes/scheduler.conf",
                "--v=node1",
            ])
        );
        // The image's entrypoint path works as well; another program does not.
        assert!(
            command_line(
                Runs::ControllerManager,
                "/cache/kcm",
                &v(&[
                    "/usr/local/bin/kube-controller-manager",
                    "--leader-elect=true"
                ]),
                &[],
                &env,
            )
            .is_ok()
        );
        let e = command_line(
            Runs::ControllerManager,
            "/cache/kcm",
            &v(&["sh", "-c", "kube-controller-manager"]),
            &[],
            &env,
        )
        .unwrap_err();
        assert!(e.to_string().contains("not sh"), "{e}");
        // No command: the entrypoint (the binary) with the args.
        assert_eq!(
            command_line(Runs::Scheduler, "/b", &[], &v(&["--x"]), &env).unwrap(),
            v(&["/b", "--x"])
        );
        assert!(command_line(Runs::Simulated, "/b", &[], &[], &env).is_err());
    }

    #[test]
    fn env_expansion_is_the_kubelets() {
        let env: BTreeMap<String, String> =
            [("A".to_string(), "x".to_string())].into_iter().collect();
        assert_eq!(expand("$(A)/$(B)", &env), "x/$(B)");
        assert_eq!(expand("$$(A) $", &env), "$(A) $");
        assert_eq!(expand("é$(A)", &env), "éx");
        assert_eq!(expand("$(A", &env), "$(A");
    }

    #[test]
    fn a_failing_probe_turns_the_result_only_at_its_threshold() {
        let mut p = Probe::new(&json!({"failureThreshold": 2}), true).unwrap();
        assert_eq!(p.int("failureThreshold", 3), 2);
        assert_eq!(p.int("periodSeconds", 10), 10);
        p.result = false;
        p.reset(true);
        assert!(p.result && p.failures == 0 && p.next.is_none());
        assert!(Probe::new(&Value::Null, false).is_none());
    }
}
