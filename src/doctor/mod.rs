//! `doctor`: why each control-plane scrape fails, from evidence read once per cluster.
//!
//! The shape: `collect` (the only part doing I/O, through `crate::kube`) fills an [`Evidence`]
//! of plain data; `rules` turns it into one [`Row`] per [`Component`] (pure, unit-tested: build
//! the evidence by hand, assert the row). Per-node facts (kubelet `/configz`, target lists) are
//! folded into counts and a bounded sample while they are read, so memory does not grow with the
//! node count beyond the findings.
//!
//! The failures it knows come from the field reports ("the seeds"):
//! - kube-scheduler / kube-controller-manager: kubeadm sets `--port=0` (1.17.9+, 1.19+), so the
//!   insecure ports 10251/10252 refuse; it also sets `--bind-address=127.0.0.1`, so the secure
//!   ports 10259/10257 refuse from the node IP too.
//! - kube-proxy: `metricsBindAddress` defaults to `127.0.0.1:10249`.
//! - kubelet: 403 when authorization is Webhook but token authentication
//!   (`--authentication-token-webhook`, `authentication.webhook.enabled`) is off, or when
//!   Prometheus' service account may not get `nodes/metrics`.
//! - etcd: kubeadm's stacked etcd serves plain metrics on `http://127.0.0.1:2381` only, and its
//!   client port needs client certificates.

pub mod collect;
pub mod managed;
pub mod rules;
pub mod select;
pub mod summary;

use crate::fixes::kubelet::Auth as KubeletAuth;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How many affected nodes / failing targets are kept as examples.
pub const SAMPLE: usize = 5;

/// A control-plane component Prometheus scrapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    Apiserver,
    Kubelet,
    KubeScheduler,
    KubeControllerManager,
    KubeProxy,
    Etcd,
    Coredns,
}

impl Component {
    pub const ALL: [Component; 7] = [
        Component::Apiserver,
        Component::Kubelet,
        Component::KubeScheduler,
        Component::KubeControllerManager,
        Component::KubeProxy,
        Component::Etcd,
        Component::Coredns,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Component::Apiserver => "apiserver",
            Component::Kubelet => "kubelet",
            Component::KubeScheduler => "kube-scheduler",
            Component::KubeControllerManager => "kube-controller-manager",
            Component::KubeProxy => "kube-proxy",
            Component::Etcd => "etcd",
            Component::Coredns => "coredns",
        }
    }

    /// Which component a job, Service or monitor name is about (`kube-etcd`,
    /// `prometheus-kube-prometheus-kube-scheduler`, `serviceMonitor/monitoring/x-kubelet/1`...).
    pub fn classify(name: &str) -> Option<Component> {
        let n = name.to_ascii_lowercase();
        if n.contains("controller-manager") || n.contains("controllermanager") {
            Some(Component::KubeControllerManager)
        } else if n.contains("scheduler") {
            Some(Component::KubeScheduler)
        } else if n.contains("kube-proxy") || n.contains("kubeproxy") {
            Some(Component::KubeProxy)
        } else if n.contains("etcd") {
            Some(Component::Etcd)
        } else if n.contains("coredns") || n.contains("kube-dns") {
            Some(Component::Coredns)
        } else if n.contains("apiserver") || n == "kubernetes" {
            Some(Component::Apiserver)
        } else if n.contains("kubelet") || n.contains("cadvisor") {
            Some(Component::Kubelet)
        } else {
            None
        }
    }

    /// The job name kube-prometheus-stack's ServiceMonitors give it (the `up{job=...}` of its
    /// alerts).
    pub fn job(self) -> &'static str {
        match self {
            Component::Etcd => "kube-etcd",
            Component::Coredns => "coredns",
            c => c.name(),
        }
    }

    /// kube-prometheus-stack's values key that turns its scrape on.
    pub fn values_key(self) -> &'static str {
        match self {
            Component::Apiserver => "kubeApiServer",
            Component::Kubelet => "kubelet",
            Component::KubeScheduler => "kubeScheduler",
            Component::KubeControllerManager => "kubeControllerManager",
            Component::KubeProxy => "kubeProxy",
            Component::Etcd => "kubeEtcd",
            Component::Coredns => "coreDns",
        }
    }

    /// The kubeadm static pod manifest of a control-plane component.
    pub fn manifest(self) -> Option<&'static str> {
        match self {
            Component::KubeScheduler => Some("/etc/kubernetes/manifests/kube-scheduler.yaml"),
            Component::KubeControllerManager => {
                Some("/etc/kubernetes/manifests/kube-controller-manager.yaml")
            }
            Component::Etcd => Some("/etc/kubernetes/manifests/etcd.yaml"),
            Component::Apiserver => Some("/etc/kubernetes/manifests/kube-apiserver.yaml"),
            _ => None,
        }
    }
}

/// What a row says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Problem,
    /// Nothing in Prometheus scrapes the component (no ServiceMonitor, no scrape job): a
    /// finding, since the chart's `absent(up{job=...} == 1)` alerts fire for it.
    #[serde(rename = "not-monitored")]
    NotMonitored,
    Unknown,
}

impl Status {
    /// The word of the human table.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Problem => "PROBLEM",
            Status::NotMonitored => "NOT-MONITORED",
            Status::Unknown => "unknown",
        }
    }
}

/// One line of the report: a component, what is wrong, why we think so, and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub component: Component,
    pub status: Status,
    /// Targets Prometheus reports up, and all it has for the component (None when it has none).
    pub up: Option<usize>,
    pub total: Option<usize>,
    pub cause: String,
    pub evidence: Vec<String>,
    /// `kubectl promfix ...` commands and node-side edits, in order.
    pub fix: Vec<String>,
    /// The row could not be checked: evidence it needs could not be read (the report's
    /// `errors` say what). Its status is `unknown`.
    pub unchecked: bool,
}

impl Row {
    /// Whether the row is a finding (exit 3): a problem, or a control-plane component the
    /// seeds are about (kubelet, scheduler, controller-manager, kube-proxy, etcd) that nothing
    /// scrapes. An unscraped apiserver or CoreDNS is reported, not counted: promfix has no fix
    /// for them and most setups scrape them already.
    pub fn is_finding(&self) -> bool {
        match self.status {
            Status::Problem => true,
            Status::NotMonitored => {
                !matches!(self.component, Component::Apiserver | Component::Coredns)
            }
            Status::Ok | Status::Unknown => false,
        }
    }

    /// `up/total` for the table, `-` when Prometheus has no target for the component.
    pub fn targets_text(&self) -> String {
        match (self.up, self.total) {
            (Some(u), Some(t)) => format!("{u}/{t}"),
            _ => "-".into(),
        }
    }
}

/// The report of one cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub context: String,
    pub prometheus: Vec<String>,
    /// Who runs the control plane, when a provider does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<managed::Managed>,
    pub rows: Vec<Row>,
    /// What kept rows from being checked (no operator, no Prometheus, targets unreadable).
    pub errors: Vec<String>,
    /// Secondary evidence that could not be read (permissions, node configs...): the rows are
    /// checked, their causes may be less precise.
    pub warnings: Vec<String>,
}

impl Report {
    /// Findings: rows with a problem, and control-plane components nothing scrapes.
    pub fn problems(&self) -> usize {
        self.rows.iter().filter(|r| r.is_finding()).count()
    }

    /// Rows that could not be checked (unknown because of an error).
    pub fn unchecked(&self) -> usize {
        self.rows.iter().filter(|r| r.unchecked).count()
    }

    /// Whether some row could be checked at all.
    pub fn checked_any(&self) -> bool {
        self.rows.iter().any(|r| !r.unchecked)
    }

    /// Targets Prometheus has discovered but not scraped yet.
    pub fn pending(&self) -> bool {
        self.rows
            .iter()
            .any(|r| r.cause.contains("not scraped yet"))
    }
}

/// Why a scrape failed, from Prometheus' `lastError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorClass {
    Refused,
    Forbidden,
    Unauthorized,
    /// TLS handshake failures (bad / missing client certificate, unknown authority).
    Tls,
    /// http against an https port (Go answers 400 "Client sent an HTTP request to an HTTPS server").
    HttpToHttps,
    Timeout,
    Other,
}

impl ErrorClass {
    pub fn of(err: &str) -> ErrorClass {
        let e = err.to_ascii_lowercase();
        // Prometheus' scrape error for a non-2xx answer: `server returned HTTP status 403
        // Forbidden`. A bare "403" would also match an address (`127.0.0.1:40301`).
        let status = e
            .split_once("server returned http status ")
            .and_then(|(_, rest)| rest.get(..3));
        if e.contains("connection refused") {
            ErrorClass::Refused
        } else if status == Some("403") {
            ErrorClass::Forbidden
        } else if status == Some("401") {
            ErrorClass::Unauthorized
        } else if e.contains("http response to https client")
            || e.contains("http request to an https server")
            || status == Some("400")
            || e.contains("malformed http response")
        {
            ErrorClass::HttpToHttps
        } else if e.contains("tls")
            || e.contains("x509")
            || e.contains("certificate")
            || e.contains("handshake")
        {
            ErrorClass::Tls
        } else if e.contains("deadline exceeded") || e.contains("timeout") {
            ErrorClass::Timeout
        } else {
            ErrorClass::Other
        }
    }
}

/// Prometheus' active targets of one component, folded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Targets {
    pub jobs: BTreeSet<String>,
    pub up: usize,
    pub down: usize,
    /// Discovered, not scraped yet (health `unknown`).
    pub pending: usize,
    pub errors: BTreeMap<ErrorClass, usize>,
    /// (scrape URL, lastError) of a few failing targets.
    pub samples: Vec<(String, String)>,
    /// Ports and schemes of the scrape URLs.
    pub ports: BTreeSet<u16>,
    pub schemes: BTreeSet<String>,
    /// Per node (the kubelet's targets only): which nodes fail, which answer.
    pub nodes: select::NodeHealth,
}

impl Targets {
    pub fn total(&self) -> usize {
        self.up + self.down + self.pending
    }

    /// Fold one active target in.
    pub fn add(&mut self, job: &str, health: &str, url: &str, last_error: &str) {
        self.jobs.insert(job.to_string());
        if let Some((scheme, rest)) = url.split_once("://") {
            self.schemes.insert(scheme.to_string());
            let hostport = rest.split('/').next().unwrap_or("");
            if let Some(p) = hostport
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
            {
                self.ports.insert(p);
            }
        }
        match health {
            "up" => self.up += 1,
            "down" => {
                self.down += 1;
                *self.errors.entry(ErrorClass::of(last_error)).or_default() += 1;
                if self.samples.len() < SAMPLE {
                    self.samples.push((url.to_string(), last_error.to_string()));
                }
            }
            _ => self.pending += 1,
        }
    }

    pub fn has(&self, c: ErrorClass) -> bool {
        self.errors.get(&c).is_some_and(|n| *n > 0)
    }
}

/// A control-plane mirror pod (kubeadm static pod) and its command-line flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StaticPod {
    pub name: String,
    pub node: String,
    /// From the image tag (`v1.33.1`, `3.5.21-0`).
    pub version: Option<String>,
    pub flags: BTreeMap<String, String>,
}

impl StaticPod {
    pub fn flag(&self, f: &str) -> Option<&str> {
        self.flags.get(f).map(String::as_str)
    }
}

/// `--flag=value`, `--flag value` and bare `--flag` (true) from a command line.
pub fn parse_flags(args: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut i = 0;
    while i < args.len() {
        if let Some(f) = args[i].strip_prefix("--") {
            if let Some((k, v)) = f.split_once('=') {
                out.insert(k.to_string(), v.to_string());
            } else if args.get(i + 1).is_some_and(|n| !n.starts_with('-')) {
                out.insert(f.to_string(), args[i + 1].clone());
                i += 1;
            } else {
                out.insert(f.to_string(), "true".to_string());
            }
        }
        i += 1;
    }
    out
}

/// kube-proxy's configuration: the ConfigMap's `config.conf` and the DaemonSet's flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KubeProxyEvidence {
    /// `kube-system/kube-proxy` exists.
    pub configmap: Option<String>,
    /// `metricsBindAddress` of `config.conf` (None: unset, the default `127.0.0.1:10249`).
    pub metrics_bind_address: Option<String>,
    /// `--metrics-bind-address` on the DaemonSet's command line (ignored with `--config`).
    pub flag: Option<String>,
    /// `--config` on the DaemonSet's command line: the file is then the whole configuration and
    /// the other flags are ignored (kube-proxy's `Options.Complete`).
    pub config_file: Option<String>,
    pub daemonset: Option<String>,
}

impl KubeProxyEvidence {
    /// The address kube-proxy serves metrics on: with `--config` (kubeadm's DaemonSet) the
    /// file's `metricsBindAddress`, the flag being ignored; without it the flag, the ConfigMap
    /// not being read; when the DaemonSet is unknown, the ConfigMap's. Default `127.0.0.1:10249`.
    pub fn effective(&self) -> String {
        let file = || {
            self.metrics_bind_address
                .clone()
                .filter(|s| !s.trim().is_empty())
        };
        let chosen = match (&self.daemonset, &self.config_file) {
            (Some(_), None) => self.flag.clone(),
            (Some(_), Some(_)) => file(),
            (None, _) => self.flag.clone().or_else(file),
        };
        chosen.unwrap_or_else(|| "127.0.0.1:10249".to_string())
    }

    pub fn loopback_only(&self) -> bool {
        is_loopback_host(&self.effective())
    }
}

/// `127.0.0.1:10249`, `localhost`, `[::1]:x`: only this host can connect.
pub fn is_loopback_host(addr: &str) -> bool {
    let a = addr.trim();
    let host = if let Some(rest) = a.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else if a.matches(':').count() == 1 {
        a.split(':').next().unwrap_or("")
    } else {
        a
    };
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

/// The kubelets' `/configz`, folded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KubeletEvidence {
    /// Nodes whose `/configz` was asked for (read or not).
    pub nodes: usize,
    pub read: usize,
    pub unreadable: usize,
    pub unreadable_sample: Vec<String>,
    /// `authentication.webhook.enabled` false while `authorization.mode` is Webhook.
    pub webhook_off: usize,
    /// Of those, the ones with anonymous requests on (they answer 403; the others 401).
    pub webhook_off_anonymous: usize,
    pub webhook_off_sample: Vec<String>,
    /// `k3s` or `rke2`, from the kubelets' versions (`v1.30.4+k3s1`, `v1.30.4+rke2r1`).
    pub distribution: Option<String>,
    /// kubeadm's ConfigMap kube-system/kubelet-config exists (`kubeadm upgrade node` writes
    /// the nodes' kubelet config from it).
    pub kubeadm_config_map: bool,
    /// Nodes in the cluster (None: not known; then `nodes` is the count).
    pub cluster_nodes: Option<usize>,
    /// Nodes read because a kubelet target of theirs is down, or because they have none.
    pub failing: usize,
    pub missing: usize,
    /// Nodes that answer Prometheus, read for comparison, and of those the ones whose token
    /// authentication is on.
    pub compared: usize,
    pub compared_token_on: usize,
    /// Prometheus' targets could not be read: every node was read, none selected.
    pub unjudged: bool,
}

/// The distribution a kubelet version names (`+k3s1` → k3s, `+rke2r1` → rke2).
pub fn distribution_of(kubelet_version: &str) -> Option<&'static str> {
    let (_, build) = kubelet_version.split_once('+')?;
    if build.starts_with("rke2") {
        Some("rke2")
    } else if build.starts_with("k3s") {
        Some("k3s")
    } else {
        None
    }
}

impl KubeletEvidence {
    /// Fold one node's `/configz` (None: could not be read).
    pub fn add(&mut self, node: &str, configz: Option<&serde_json::Value>) {
        self.nodes += 1;
        let Some(c) = configz else {
            self.unreadable += 1;
            if self.unreadable_sample.len() < SAMPLE {
                self.unreadable_sample.push(node.to_string());
            }
            return;
        };
        self.read += 1;
        let auth = KubeletAuth::of(c);
        if auth.refuses_token() {
            self.webhook_off += 1;
            if auth.anonymous {
                self.webhook_off_anonymous += 1;
            }
            if self.webhook_off_sample.len() < SAMPLE {
                self.webhook_off_sample.push(node.to_string());
            }
        }
    }

    /// [`add`](Self::add), counting why the node was read.
    pub fn add_selected(
        &mut self,
        node: &str,
        configz: Option<&serde_json::Value>,
        why: select::Why,
    ) {
        self.add(node, configz);
        match why {
            select::Why::Failing => self.failing += 1,
            select::Why::Missing => self.missing += 1,
            select::Why::Healthy => {
                self.compared += 1;
                if configz.is_some_and(|c| !KubeletAuth::of(c).refuses_token()) {
                    self.compared_token_on += 1;
                }
            }
            select::Why::Unjudged => self.unjudged = true,
        }
    }

    /// The nodes of the cluster, as far as known.
    pub fn total(&self) -> usize {
        self.cluster_nodes.unwrap_or(self.nodes).max(self.nodes)
    }
}

/// A ServiceMonitor or PodMonitor of a component.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Monitor {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub component: Option<Component>,
    /// `port` / `targetPort` of each endpoint.
    pub ports: Vec<String>,
    pub schemes: Vec<String>,
    /// Some endpoint has client certificates (certFile / cert.secret).
    pub client_cert: bool,
    /// Where those client certificates live, where a Secret holds them.
    pub cert_refs: Vec<CertRef>,
}

/// The Secret (and its keys) that holds an endpoint's client certificate and CA: mounted files
/// below `/etc/prometheus/secrets/<secret>/` (the Secret is in the Prometheus' namespace, listed
/// in its `spec.secrets`), or the operator's Secret references (in the monitor's namespace).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CertRef {
    /// The monitor's namespace for Secret references; None for mounted files (the Secret is in
    /// the namespace of each Prometheus that mounts it).
    pub namespace: Option<String>,
    pub secret: String,
    pub cert_key: String,
    /// The CA's Secret and key, when the CA is in a Secret.
    pub ca: Option<(String, String)>,
}

/// A control-plane Service and its Endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceEvidence {
    pub namespace: String,
    pub name: String,
    pub component: Option<Component>,
    /// `k=v,...`, None: selector-free.
    pub selector: Option<String>,
    /// `name:port→targetPort`.
    pub ports: Vec<String>,
    /// Ready addresses in its Endpoints (None: no Endpoints object).
    pub addresses: Option<usize>,
}

/// Whether Prometheus' service account may do what scrapes need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rbac {
    /// `system:serviceaccount:<ns>:<name>`.
    pub user: String,
    /// get on the nonResourceURL `/metrics` (apiserver, scheduler, controller-manager).
    pub metrics: Option<bool>,
    /// get on `nodes/metrics` (kubelet, cAdvisor).
    pub nodes_metrics: Option<bool>,
}

/// Everything `rules` needs about one cluster.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evidence {
    /// `namespace/name` of each Prometheus whose targets were read.
    pub prometheus: Vec<String>,
    /// Whether some Prometheus' targets could be read at all.
    pub targets_read: bool,
    pub targets: BTreeMap<Component, Targets>,
    pub static_pods: BTreeMap<Component, Vec<StaticPod>>,
    pub kube_proxy: KubeProxyEvidence,
    pub kubelets: KubeletEvidence,
    pub monitors: Vec<Monitor>,
    pub services: Vec<ServiceEvidence>,
    pub rbac: Vec<Rbac>,
    /// The life of each etcd client certificate a monitor's Secret holds (public parts only).
    pub etcd_certs: Vec<crate::certs::life::CertLife>,
    /// The etcd client certificate files of this machine (`--from-dir`, or a node's own).
    pub node_certs: Vec<crate::certs::life::FileCert>,
    /// The Prometheus instances whose etcd targets fail while an etcd monitor names files of a
    /// Secret they do not mount (`spec.secrets`).
    pub unmounted: Vec<Unmounted>,
    /// Who runs the control plane, when a provider does (EKS, GKE, AKS, ...).
    pub managed: Option<managed::Managed>,
    /// What could not be read of what the rows need (Prometheus' targets).
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// One Prometheus (or PrometheusAgent) left without the files an etcd monitor names: its etcd
/// targets fail and it does not list the Secret in `spec.secrets`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Unmounted {
    /// `Prometheus ns/name` or `PrometheusAgent ns/name`.
    pub prometheus: String,
    pub namespace: String,
    pub name: String,
    /// The Secret the files are of, and the monitor that names them (`ns/name`).
    pub secret: String,
    pub monitor: String,
    /// Its own etcd targets: up, and in all.
    pub up: usize,
    pub total: usize,
}

/// The instances of `per_prom` (each: its resource and its own etcd targets) whose etcd targets
/// fail and that do not mount a Secret whose files an etcd monitor names.
pub fn unmounted(
    per_prom: &[(serde_json::Value, Targets)],
    monitors: &[Monitor],
) -> Vec<Unmounted> {
    let files: Vec<(&Monitor, &str)> = monitors
        .iter()
        .filter(|m| m.component == Some(Component::Etcd))
        .flat_map(|m| {
            m.cert_refs
                .iter()
                .filter(|r| r.namespace.is_none())
                .map(move |r| (m, r.secret.as_str()))
        })
        .collect();
    let mut out = Vec::new();
    for (p, t) in per_prom.iter().filter(|(_, t)| t.down > 0) {
        let spec = crate::crd::PrometheusSpec::of(p);
        let (ns, name) = (
            p["metadata"]["namespace"].as_str().unwrap_or(""),
            p["metadata"]["name"].as_str().unwrap_or(""),
        );
        for (m, secret) in &files {
            if !spec.lists_secret(secret) {
                out.push(Unmounted {
                    prometheus: format!("{} {ns}/{name}", crate::crd::kind_of(p)),
                    namespace: ns.into(),
                    name: name.into(),
                    secret: secret.to_string(),
                    monitor: format!("{}/{}", m.namespace, m.name),
                    up: t.up,
                    total: t.total(),
                });
            }
        }
    }
    out.dedup_by(|a, b| a.prometheus == b.prometheus && a.secret == b.secret);
    out
}

/// Diagnose one cluster.
pub fn diagnose(context: &str, ev: &Evidence) -> Report {
    Report {
        context: context.to_string(),
        prometheus: ev.prometheus.clone(),
        managed: ev.managed.clone(),
        rows: Component::ALL.iter().map(|c| rules::row(*c, ev)).collect(),
        errors: ev.errors.clone(),
        warnings: ev.warnings.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_names() {
        for (n, c) in [
            ("kube-scheduler", Component::KubeScheduler),
            (
                "prometheus-kube-prometheus-kube-controller-manager",
                Component::KubeControllerManager,
            ),
            ("kube-etcd", Component::Etcd),
            ("kube-proxy", Component::KubeProxy),
            ("kubelet", Component::Kubelet),
            ("apiserver", Component::Apiserver),
            ("coredns", Component::Coredns),
            ("kube-dns", Component::Coredns),
        ] {
            assert_eq!(Component::classify(n), Some(c), "{n}");
        }
        assert_eq!(Component::classify("node-exporter"), None);
    }

    #[test]
    fn error_classes() {
        assert_eq!(
            ErrorClass::of(
                "Get \"http://192.168.2.10:10251/metrics\": dial tcp 192.168.2.10:10251: connect: connection refused"
            ),
            ErrorClass::Refused
        );
        assert_eq!(
            ErrorClass::of("server returned HTTP status 403 Forbidden"),
            ErrorClass::Forbidden
        );
        assert_eq!(
            ErrorClass::of("server returned HTTP status 401 Unauthorized"),
            ErrorClass::Unauthorized
        );
        assert_eq!(
            ErrorClass::of("remote error: tls: certificate required"),
            ErrorClass::Tls
        );
        assert_eq!(
            ErrorClass::of("server returned HTTP status 400 Bad Request"),
            ErrorClass::HttpToHttps
        );
        assert_eq!(ErrorClass::of("EOF"), ErrorClass::Other);
        // Ephemeral ports and addresses that contain a status code are not that status (a CI
        // run saw etcd's TLS 1.3 rejection this way, from local port 40106).
        for (e, want) in [
            (
                "Get \"https://127.10.2.11:2379/metrics\": write tcp 127.0.0.1:40106->127.10.2.11:2379: write: broken pipe",
                ErrorClass::Other,
            ),
            (
                "Get \"https://10.0.40.3:10250/metrics\": read tcp 10.0.0.1:40301->10.0.40.3:10250: read: connection reset by peer",
                ErrorClass::Other,
            ),
            (
                "Get \"http://10.4.0.1:40100/metrics\": context deadline exceeded",
                ErrorClass::Timeout,
            ),
        ] {
            assert_eq!(ErrorClass::of(e), want, "{e}");
        }
    }

    #[test]
    fn targets_fold_into_counts_and_a_bounded_sample() {
        let mut t = Targets::default();
        for i in 0..100 {
            t.add(
                "kubelet",
                "down",
                &format!("https://10.0.0.{i}:10250/metrics"),
                "server returned HTTP status 403 Forbidden",
            );
        }
        t.add("kubelet", "up", "https://10.0.1.1:10250/metrics", "");
        t.add("kubelet", "unknown", "https://10.0.1.2:10250/metrics", "");
        assert_eq!((t.up, t.down, t.pending, t.total()), (1, 100, 1, 102));
        assert_eq!(t.samples.len(), SAMPLE);
        assert_eq!(t.errors[&ErrorClass::Forbidden], 100);
        assert_eq!(t.ports.iter().copied().collect::<Vec<_>>(), vec![10250]);
        assert!(t.schemes.contains("https"));
    }

    #[test]
    fn flags() {
        let f = parse_flags(&[
            "kube-scheduler".into(),
            "--bind-address=127.0.0.1".into(),
            "--leader-elect".into(),
            "--port".into(),
            "0".into(),
        ]);
        assert_eq!(f["bind-address"], "127.0.0.1");
        assert_eq!(f["leader-elect"], "true");
        assert_eq!(f["port"], "0");
    }

    #[test]
    fn kube_proxy_defaults_to_loopback() {
        let mut k = KubeProxyEvidence::default();
        assert!(k.loopback_only());
        k.metrics_bind_address = Some("0.0.0.0:10249".into());
        assert!(!k.loopback_only());
        // DaemonSet unknown: a flag is taken over the ConfigMap.
        k.flag = Some("127.0.0.1:10249".into());
        assert!(k.loopback_only());
        // kubeadm's DaemonSet runs with --config: the flag is ignored, the file counts.
        k.daemonset = Some("kube-system/kube-proxy".into());
        k.config_file = Some("/var/lib/kube-proxy/config.conf".into());
        assert_eq!(k.effective(), "0.0.0.0:10249");
        k.flag = Some("0.0.0.0:10249".into());
        k.metrics_bind_address = Some(String::new());
        assert_eq!(k.effective(), "127.0.0.1:10249");
        // Without --config the ConfigMap is not read: the flag, else the default.
        k.config_file = None;
        assert_eq!(k.effective(), "0.0.0.0:10249");
        k.flag = None;
        k.metrics_bind_address = Some("0.0.0.0:10249".into());
        assert_eq!(k.effective(), "127.0.0.1:10249");
        assert_eq!(distribution_of("v1.30.4+k3s1"), Some("k3s"));
        assert_eq!(distribution_of("v1.30.4+rke2r1"), Some("rke2"));
        assert_eq!(distribution_of("v1.30.4"), None);
        assert_eq!(distribution_of("v1.30.4-eks-1"), None);
        assert!(is_loopback_host("[::1]:10249"));
        assert!(!is_loopback_host("[::]:10249"));
        assert!(!is_loopback_host("0.0.0.0"));
    }

    #[test]
    fn kubelet_configz_fold() {
        let mut k = KubeletEvidence::default();
        let off = serde_json::json!({"kubeletconfig": {"authentication": {"webhook": {"enabled": false}}, "authorization": {"mode": "Webhook"}}});
        let on = serde_json::json!({"kubeletconfig": {"authentication": {"webhook": {"enabled": true}}, "authorization": {"mode": "Webhook"}}});
        for i in 0..10 {
            k.add(&format!("n{i}"), Some(&off));
        }
        k.add("ok", Some(&on));
        k.add("gone", None);
        assert_eq!(
            (k.nodes, k.read, k.webhook_off, k.unreadable),
            (12, 11, 10, 1)
        );
        assert_eq!(k.webhook_off_sample.len(), SAMPLE);
    }
}
