//! Scenarios: the starting state of one test cluster, written as a real cluster would hold it.
//!
//! A scenario is a multi-document YAML file. Every document but one is an ordinary Kubernetes
//! object as `kubectl get -o yaml` prints it (a `kind: List` document is expanded into its
//! `items`). At most one document is the test cluster's own description of what is not an API
//! object:
//!
//! ```yaml
//! apiVersion: promfix.test/v1alpha1
//! kind: TestCluster
//! spec:
//!   version: v1.33.1              # /version gitVersion; kubectl's dispatcher serves minors 27..=33
//!   prometheusOperator: true      # serve monitoring.coreos.com (default true)
//!   etcd:                         # optional: the real etcd peers the harness starts
//!     layout: kubespray           # or kubeadm: the certificate file names and directories
//!     certDir: /etc/ssl/etcd/ssl  # where the files live on the "node" (apiserver --etcd-* flags)
//!     members:                    # one etcd process per member, listening on ip:2379 (TLS)
//!       - {name: node1, ip: 127.0.2.11}
//!     metricsURL: http://127.0.0.1:2381   # optional plain-HTTP metrics listener (kubeadm)
//!   kubelets:                     # served at nodes/<node>/proxy/configz as {"kubeletconfig": ..}
//!     node1: {authentication: {webhook: {enabled: true}}, ...}
//!   users:                        # bearer-token users besides the built-in admin (all rights)
//!     - name: limited             # token defaults to "<name>-token"
//!       token: limited-token
//!       groups: [system:authenticated]
//!       rules:                    # RBAC-like; namespaces [] = cluster-wide
//!         - {verbs: [get, list], apiGroups: [""], resources: [services], namespaces: [kube-system]}
//!   listeners:                    # small loopback listeners for scrape targets
//!     - {ip: 127.0.3.10, port: 10251, behaviour: refuse}   # refuse | forbidden | metrics | secure-metrics
//!   faults: {latencyMs: 0}
//!   notReadyDelayMs: 0            # how long new pods stay not Ready
//! ```
//!
//! Every field of the spec has a default; a scenario without a TestCluster document gets
//! [`TestClusterSpec::default`]. Unknown fields are errors (a typo must not silently change the
//! cluster).
//!
//! ## Addresses
//! Every IPv4 address written `127.0.X.Y` anywhere in the text (object fields, command-line flags
//! such as `--etcd-servers=https://127.0.2.11:2379`, the TestCluster document, even comments) is
//! moved to `127.NET.X.Y` before parsing, so parallel test clusters never share an address. That
//! includes `127.0.0.1`, which becomes `127.NET.0.1`: the control-plane node's own loopback is
//! modelled by the cluster's API address (a kubeadm etcd's `--listen-metrics-urls` then lives
//! there, on its own port).
//!
//! ## What loading does to the objects
//! - Server-owned metadata is dropped: `uid`, `resourceVersion`, `creationTimestamp`,
//!   `generation`, `managedFields`, `selfLink`, `deletionTimestamp`, `deletionGracePeriodSeconds`.
//!   Labels, annotations (including `kubectl.kubernetes.io/last-applied-configuration`),
//!   finalizers and ownerReferences are kept.
//! - `status` is dropped where a controller of the test cluster (or the API server) writes it,
//!   and kept where only a kubelet would: Nodes (addresses, conditions) and mirror Pods (pod IP,
//!   Ready). Whoever creates the objects must write that kept status as the kubelet would (the
//!   API server ignores `status` on create).
//! - Objects are ordered for creation: Namespaces, then Secrets / ConfigMaps / ServiceAccounts,
//!   then Services, then the other built-in kinds, then custom resources; the file order is kept
//!   within each group.
//!
//! [`field_manager_for`] names the field manager a real cluster would show for an object's
//! creation (`helm`, `kubelet`, or `kubectl-client-side-apply`).
//!
//! Errors name the document (counted from 1, in file order), its kind and name when known, and
//! the field at fault.

use crate::auth::{Rule, User};
use crate::resources::Registry;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// `apiVersion` of the TestCluster document.
pub const TEST_CLUSTER_API_VERSION: &str = "promfix.test/v1alpha1";
/// `kind` of the TestCluster document.
pub const TEST_CLUSTER_KIND: &str = "TestCluster";
/// The Kubernetes minors whose kubectl the dispatcher can run.
pub const SERVED_MINORS: std::ops::RangeInclusive<u32> = 27..=33;
/// The scenario files shipped in `tests/cluster/scenarios/`.
pub const BUILTIN: &[&str] = &[
    "a-seed-stable-prometheus-operator",
    "b-kube-prometheus-stack",
    "c-kube-prometheus",
    "d-no-operator",
    "e-healthy",
    "e-control-plane-insecure-ports",
    "e-control-plane-bind-address",
    "e-kube-proxy-metrics-bind-address",
    "e-kubelet-webhook-authn-off",
    "e-kubelet-rbac-missing",
    "e-etcd-client-certs",
    "e-etcd-metrics-loopback",
];

/// A scenario file that cannot be used, with the document and field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("reading scenario {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("document {index}: not valid YAML: {message}")]
    Yaml { index: usize, message: String },
    #[error("document {index} ({what}): {field}: {message}")]
    Invalid {
        index: usize,
        /// `Service kube-system/prom-etcd`, `TestCluster`, or `kind unknown`.
        what: String,
        field: String,
        message: String,
    },
    #[error(
        "document {second} ({what}): a second object of that kind, namespace and name (first in document {first})"
    )]
    Duplicate {
        first: usize,
        second: usize,
        what: String,
    },
    #[error("document {second}: a second TestCluster document (the first is document {first})")]
    SecondTestCluster { first: usize, second: usize },
}

/// Where the etcd certificates live on a node, as the installer lays them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EtcdLayout {
    /// `/etc/ssl/etcd/ssl/{ca,node-<n>,node-<n>-key,admin-<n>,member-<n>}.pem`.
    Kubespray,
    /// `/etc/kubernetes/pki/etcd/{ca,server,peer,healthcheck-client}.{crt,key}` and
    /// `/etc/kubernetes/pki/apiserver-etcd-client.{crt,key}`.
    Kubeadm,
}

/// One etcd member: a real etcd process listening on `ip:2379` (client, TLS) and `ip:2380`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdMember {
    pub name: String,
    pub ip: Ipv4Addr,
}

/// The etcd peers of the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EtcdSpec {
    pub layout: EtcdLayout,
    /// The directory of the certificate files on the node, as the apiserver's flags name it.
    pub cert_dir: String,
    pub members: Vec<EtcdMember>,
    /// A plain-HTTP metrics listener (`--listen-metrics-urls`), e.g. `http://127.NET.0.1:2381`.
    #[serde(default, rename = "metricsURL")]
    pub metrics_url: Option<String>,
    /// The DNS names the members' client-serving certificates carry instead of the layout's
    /// names and addresses: a PKI made for clients that reach etcd by name, whose certificates
    /// name none of the addresses Prometheus scrapes (the peers keep certificates of their own).
    #[serde(default)]
    pub serving_names: Vec<String>,
}

/// One RBAC-like rule of a scenario user (see [`crate::auth::Rule`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleSpec {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub api_groups: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub resource_names: Vec<String>,
    /// Empty: every namespace (as a ClusterRoleBinding grants).
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
}

impl From<&RuleSpec> for Rule {
    fn from(r: &RuleSpec) -> Rule {
        Rule {
            verbs: r.verbs.clone(),
            api_groups: r.api_groups.clone(),
            resources: r.resources.clone(),
            resource_names: r.resource_names.clone(),
            namespaces: r.namespaces.clone(),
            non_resource_urls: r.non_resource_urls.clone(),
        }
    }
}

/// A bearer-token user of the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserSpec {
    pub name: String,
    /// Defaults to `<name>-token`.
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

impl UserSpec {
    /// The user as the API server's authenticator holds it.
    pub fn to_user(&self) -> User {
        User {
            name: self.name.clone(),
            token: self
                .token
                .clone()
                .unwrap_or_else(|| format!("{}-token", self.name)),
            groups: self.groups.clone(),
            rules: self.rules.iter().map(Rule::from).collect(),
        }
    }
}

/// What a small loopback listener does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerBehaviour {
    /// Nothing listens: connections are refused (a component bound to 127.0.0.1 only, or a
    /// closed insecure port).
    Refuse,
    /// HTTPS that answers 403 to `/metrics` (delegated authorization denies the scraper).
    Forbidden,
    /// Plain HTTP serving a small `/metrics` page.
    Metrics,
    /// HTTPS (self-signed) serving the same `/metrics` page: a secure port that lets the scraper
    /// in (kubelet 10250, kube-scheduler 10259, kube-controller-manager 10257).
    #[serde(rename = "secure-metrics")]
    SecureMetrics,
}

/// One loopback listener standing for a node-side component (scheduler, controller-manager,
/// kube-proxy) at `ip:port`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSpec {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub behaviour: ListenerBehaviour,
}

/// Faults active from the start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultsSpec {
    /// Added to every API response.
    #[serde(default)]
    pub latency_ms: u64,
}

/// The `spec` of the TestCluster document: what is not an API object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestClusterSpec {
    /// `/version` gitVersion, `v1.<minor>.<patch>`.
    #[serde(default = "default_version")]
    pub version: String,
    /// Serve `monitoring.coreos.com` and run the operator's controller.
    #[serde(default = "default_true")]
    pub prometheus_operator: bool,
    #[serde(default)]
    pub etcd: Option<EtcdSpec>,
    /// Node name → KubeletConfiguration fields (as `/configz` shows them).
    #[serde(default)]
    pub kubelets: BTreeMap<String, Value>,
    #[serde(default)]
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub listeners: Vec<ListenerSpec>,
    #[serde(default)]
    pub faults: FaultsSpec,
    #[serde(default)]
    pub not_ready_delay_ms: u64,
}

fn default_version() -> String {
    "v1.33.1".to_string()
}

fn default_true() -> bool {
    true
}

impl Default for TestClusterSpec {
    fn default() -> Self {
        TestClusterSpec {
            version: default_version(),
            prometheus_operator: true,
            etcd: None,
            kubelets: BTreeMap::new(),
            users: Vec::new(),
            listeners: Vec::new(),
            faults: FaultsSpec::default(),
            not_ready_delay_ms: 0,
        }
    }
}

impl TestClusterSpec {
    /// The minor version of `version` (`33` for `v1.33.1`).
    pub fn minor(&self) -> Option<u32> {
        parse_minor(&self.version)
    }

    /// The scenario's users as the authenticator holds them.
    pub fn auth_users(&self) -> Vec<User> {
        self.users.iter().map(UserSpec::to_user).collect()
    }
}

fn parse_minor(version: &str) -> Option<u32> {
    let rest = version.strip_prefix("v1.")?;
    let mut parts = rest.splitn(2, '.');
    let minor = parts.next()?.parse::<u32>().ok()?;
    let patch = parts.next()?;
    // A patch may carry a suffix (`1`, `1+k3s1`, `0-rc.1`); it must start with a digit.
    if !patch.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(minor)
}

/// A loaded scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The objects to create, in creation order, server-owned fields stripped.
    pub objects: Vec<Value>,
    pub spec: TestClusterSpec,
}

impl Scenario {
    /// Parse a scenario for the cluster with network octet `net` (see the module docs).
    pub fn parse(text: &str, net: u8) -> Result<Scenario, ScenarioError> {
        Scenario::parse_rewritten(&rewrite_loopback(text, net))
    }

    /// Parse a scenario for a cluster on the real control plane in slot `slot`
    /// ([`rewrite_for_real`]).
    pub fn parse_real(text: &str, slot: u8) -> Result<Scenario, ScenarioError> {
        Scenario::parse_rewritten(&rewrite_for_real(text, slot))
    }

    /// Read and parse a scenario file for a cluster on the real control plane.
    pub fn load_real(path: impl AsRef<Path>, slot: u8) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::parse_real(&text, slot)
    }

    fn parse_rewritten(text: &str) -> Result<Scenario, ScenarioError> {
        let docs = split_documents(text)?;

        let mut spec: Option<(usize, TestClusterSpec)> = None;
        let mut objects: Vec<(usize, Value)> = Vec::new();
        for (index, doc) in docs {
            let is_test_cluster = doc.get("kind").and_then(Value::as_str)
                == Some(TEST_CLUSTER_KIND)
                && doc.get("apiVersion").and_then(Value::as_str) == Some(TEST_CLUSTER_API_VERSION);
            if is_test_cluster {
                if let Some((first, _)) = &spec {
                    return Err(ScenarioError::SecondTestCluster {
                        first: *first,
                        second: index,
                    });
                }
                spec = Some((index, parse_test_cluster(index, &doc)?));
                continue;
            }
            if doc.get("kind").and_then(Value::as_str) == Some("List") {
                let Some(items) = doc.get("items").and_then(Value::as_array) else {
                    return Err(invalid(index, "List", "items", "must be a list of objects"));
                };
                for item in items {
                    objects.push((index, item.clone()));
                }
                continue;
            }
            objects.push((index, doc));
        }
        let (spec_index, spec) = spec.unwrap_or_default();
        validate_spec(spec_index, &spec)?;

        let registry = Registry::new(true);
        let mut seen: BTreeMap<(String, String, String), usize> = BTreeMap::new();
        let mut checked: Vec<(u8, Value)> = Vec::new();
        for (index, obj) in objects {
            let obj = check_object(index, obj, &registry, spec.prometheus_operator)?;
            let key = (
                format!("{}/{}", api_version(&obj), kind(&obj)),
                namespace(&obj).unwrap_or("").to_string(),
                name(&obj).to_string(),
            );
            if let Some(first) = seen.get(&key) {
                return Err(ScenarioError::Duplicate {
                    first: *first,
                    second: index,
                    what: describe(&obj),
                });
            }
            seen.insert(key, index);
            checked.push((creation_rank(&obj), strip_server_fields(obj)));
        }
        // A stable sort keeps the file order within each rank.
        checked.sort_by_key(|(rank, _)| *rank);
        Ok(Scenario {
            objects: checked.into_iter().map(|(_, o)| o).collect(),
            spec,
        })
    }

    /// Read and parse a scenario file.
    pub fn load(path: impl AsRef<Path>, net: u8) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::parse(&text, net)
    }

    /// Load one of the shipped scenarios by name (see [`BUILTIN`]).
    pub fn builtin(name: &str, net: u8) -> Result<Scenario, ScenarioError> {
        Scenario::load(builtin_path(name), net)
    }

    /// The objects of one kind, in creation order.
    pub fn objects_of<'a>(&'a self, kind_name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects.iter().filter(move |o| kind(o) == kind_name)
    }

    /// One object by kind, namespace ("" for cluster-scoped) and name.
    pub fn object(&self, kind_name: &str, ns: &str, obj_name: &str) -> Option<&Value> {
        self.objects.iter().find(|o| {
            kind(o) == kind_name && namespace(o).unwrap_or("") == ns && name(o) == obj_name
        })
    }
}

/// The path of a shipped scenario file: `tests/cluster/scenarios/<name>.yaml` (the `.yaml` may be
/// given or left off).
pub fn builtin_path(name: &str) -> PathBuf {
    let file = if name.ends_with(".yaml") {
        name.to_string()
    } else {
        format!("{name}.yaml")
    };
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file)
}

/// The field manager a real cluster shows for the creation of `obj`: `helm` for objects Helm
/// installed (its `app.kubernetes.io/managed-by: Helm` or `heritage: Helm` label, or its
/// `meta.helm.sh/release-name` annotation), `kubelet` for mirror Pods and Nodes (the kubelet
/// registers its Node and writes the mirrors of its static pods), else
/// `kubectl-client-side-apply` (`kubectl apply` without `--server-side`).
pub fn field_manager_for(obj: &Value) -> &'static str {
    let labels = obj.pointer("/metadata/labels");
    let annotations = obj.pointer("/metadata/annotations");
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let has_annotation = |k: &str| annotations.and_then(|a| a.get(k)).is_some();
    if label("app.kubernetes.io/managed-by") == Some("Helm")
        || label("heritage") == Some("Helm")
        || has_annotation("meta.helm.sh/release-name")
    {
        return "helm";
    }
    if is_mirror_pod(obj) || kind(obj) == "Node" {
        return "kubelet";
    }
    "kubectl-client-side-apply"
}

/// An object of `rbac.authorization.k8s.io` (Role, ClusterRole and their bindings).
pub fn is_rbac(obj: &Value) -> bool {
    api_version(obj).starts_with("rbac.authorization.k8s.io/")
}

/// An object only the real control plane takes: RBAC (`is_rbac`) and Deployments (the charts'
/// operator Deployment, whose pod the node agent runs; the stand-in serves no Deployments, its
/// operator is in-process), left out when the stand-in loads a scenario.
pub fn is_real_only(obj: &Value) -> bool {
    is_rbac(obj) || (api_version(obj) == "apps/v1" && kind(obj) == "Deployment")
}

/// A Pod the kubelet mirrors from a static manifest (`kubernetes.io/config.mirror` annotation).
pub fn is_mirror_pod(obj: &Value) -> bool {
    kind(obj) == "Pod"
        && obj
            .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
            .is_some()
}

/// Move every `127.0.X.Y` in `text` to `127.NET.X.Y`. Only whole dotted quads are touched: the
/// match must not be preceded by a digit or a dot, each of X and Y is 1..=3 digits not above 255,
/// and it must not be followed by a digit or by a dot and a digit.
pub fn rewrite_loopback(text: &str, net: u8) -> String {
    rewrite_addresses(text, |x, y| format!("127.{net}.{x}.{y}"))
}

/// For a cluster on the real control plane (slot S, `real::netns`): every `127.0.X.Y` with X > 0
/// becomes `198.18.S.Y` (the real API server refuses loopback Endpoints, and `nodes/proxy` dials
/// only global-unicast node addresses), so a scenario's host bytes Y must be unique across X;
/// `127.0.0.Y` stays: a node's own loopback (a kubeadm etcd's metrics listener on 127.0.0.1)
/// is the namespace's.
pub fn rewrite_for_real(text: &str, slot: u8) -> String {
    rewrite_addresses(text, |x, y| {
        if x == 0 {
            format!("127.0.0.{y}")
        } else {
            format!("198.18.{slot}.{y}")
        }
    })
}

/// An address a test cluster may use: loopback (the stand-in) or 198.18.0.0/15 (the real control
/// plane's network namespaces): nothing sent to one leaves the machine.
pub fn is_test_address(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback() || (o[0] == 198 && (o[1] & 0xfe) == 18)
}

/// Replace every whole dotted quad `127.0.X.Y` in `text` by `to(X, Y)`.
fn rewrite_addresses(text: &str, to: impl Fn(u16, u16) -> String) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut i = 0;
    while let Some(pos) = text[i..].find("127.0.") {
        let start = i + pos;
        i = start + 1;
        if start > 0 {
            let prev = bytes[start - 1];
            if prev.is_ascii_digit() || prev == b'.' {
                continue;
            }
        }
        let after = start + "127.0.".len();
        let Some((x_end, x)) = octet(bytes, after) else {
            continue;
        };
        if bytes.get(x_end) != Some(&b'.') {
            continue;
        }
        let Some((y_end, y)) = octet(bytes, x_end + 1) else {
            continue;
        };
        if bytes.get(y_end).is_some_and(|b| b.is_ascii_digit())
            || (bytes.get(y_end) == Some(&b'.')
                && bytes.get(y_end + 1).is_some_and(|b| b.is_ascii_digit()))
        {
            continue;
        }
        out.push_str(&text[last..start]);
        out.push_str(&to(x, y));
        last = y_end;
        i = y_end;
    }
    out.push_str(&text[last..]);
    out
}

/// A decimal octet (1..=3 digits, at most 255) at `at`: its end and value.
fn octet(bytes: &[u8], at: usize) -> Option<(usize, u16)> {
    let mut end = at;
    while end < bytes.len() && bytes[end].is_ascii_digit() && end - at < 4 {
        end += 1;
    }
    let len = end - at;
    if len == 0 || len > 3 {
        return None;
    }
    let s = std::str::from_utf8(&bytes[at..end]).ok()?;
    let v: u16 = s.parse().ok()?;
    (v <= 255).then_some((end, v))
}

/// Split into documents (counted from 1), each converted to JSON; empty documents are skipped.
fn split_documents(text: &str) -> Result<Vec<(usize, Value)>, ScenarioError> {
    let mut out = Vec::new();
    for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        let mut yaml = serde_yaml_ng::Value::deserialize(de).map_err(|e| ScenarioError::Yaml {
            index,
            message: e.to_string(),
        })?;
        // `<<: *anchor` merge keys, as kubectl's YAML reader applies them.
        yaml.apply_merge().map_err(|e| ScenarioError::Yaml {
            index,
            message: e.to_string(),
        })?;
        if yaml.is_null() {
            continue;
        }
        let json = serde_json::to_value(&yaml).map_err(|e| ScenarioError::Yaml {
            index,
            message: format!("cannot be represented as JSON: {e}"),
        })?;
        if !json.is_object() {
            return Err(ScenarioError::Invalid {
                index,
                what: "kind unknown".to_string(),
                field: "(document)".to_string(),
                message: "must be a mapping (an object), not a scalar or a list".to_string(),
            });
        }
        out.push((index, json));
    }
    Ok(out)
}

fn invalid(index: usize, what: &str, field: &str, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        index,
        what: what.to_string(),
        field: field.to_string(),
        message: message.into(),
    }
}

fn parse_test_cluster(index: usize, doc: &Value) -> Result<TestClusterSpec, ScenarioError> {
    if let Some(map) = doc.as_object() {
        for k in map.keys() {
            if !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "spec") {
                return Err(invalid(
                    index,
                    TEST_CLUSTER_KIND,
                    k,
                    "unknown field (expected apiVersion, kind, metadata, spec)",
                ));
            }
        }
    }
    let spec = doc
        .get("spec")
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    let Some(fields) = spec.as_object() else {
        return Err(invalid(
            index,
            TEST_CLUSTER_KIND,
            "spec",
            "must be a mapping",
        ));
    };
    // Check field by field first, so that an error names the field (and list item) at fault.
    for (key, v) in fields {
        let path = format!("spec.{key}");
        match key.as_str() {
            "version" => check_as::<String>(index, &path, v)?,
            "prometheusOperator" => check_as::<bool>(index, &path, v)?,
            "etcd" => {
                if let Some(members) = v.get("members").and_then(Value::as_array) {
                    check_items::<EtcdMember>(index, &format!("{path}.members"), members)?;
                }
                check_as::<Option<EtcdSpec>>(index, &path, v)?
            }
            "kubelets" => check_as::<BTreeMap<String, Value>>(index, &path, v)?,
            "users" => {
                if let Some(items) = v.as_array() {
                    for (i, u) in items.iter().enumerate() {
                        if let Some(rules) = u.get("rules").and_then(Value::as_array) {
                            check_items::<RuleSpec>(index, &format!("{path}[{i}].rules"), rules)?;
                        }
                    }
                    check_items::<UserSpec>(index, &path, items)?;
                }
                check_as::<Vec<UserSpec>>(index, &path, v)?
            }
            "listeners" => {
                if let Some(items) = v.as_array() {
                    check_items::<ListenerSpec>(index, &path, items)?;
                }
                check_as::<Vec<ListenerSpec>>(index, &path, v)?
            }
            "faults" => check_as::<FaultsSpec>(index, &path, v)?,
            "notReadyDelayMs" => check_as::<u64>(index, &path, v)?,
            _ => {
                return Err(invalid(
                    index,
                    TEST_CLUSTER_KIND,
                    &path,
                    "unknown field (expected version, prometheusOperator, etcd, kubelets, \
                     users, listeners, faults, notReadyDelayMs)",
                ));
            }
        }
    }
    TestClusterSpec::deserialize(&spec)
        .map_err(|e| invalid(index, TEST_CLUSTER_KIND, "spec", e.to_string()))
}

/// `v` deserializes as a `T`, or an error naming `path`.
fn check_as<T: serde::de::DeserializeOwned>(
    index: usize,
    path: &str,
    v: &Value,
) -> Result<(), ScenarioError> {
    T::deserialize(v)
        .map(|_| ())
        .map_err(|e| invalid(index, TEST_CLUSTER_KIND, path, e.to_string()))
}

/// Every item deserializes as a `T`, or an error naming `path[i]`.
fn check_items<T: serde::de::DeserializeOwned>(
    index: usize,
    path: &str,
    items: &[Value],
) -> Result<(), ScenarioError> {
    for (i, item) in items.iter().enumerate() {
        check_as::<T>(index, &format!("{path}[{i}]"), item)?;
    }
    Ok(())
}

fn validate_spec(index: usize, spec: &TestClusterSpec) -> Result<(), ScenarioError> {
    let what = TEST_CLUSTER_KIND;
    match spec.minor() {
        None => {
            return Err(invalid(
                index,
                what,
                "spec.version",
                format!("{:?} is not a version like v1.33.1", spec.version),
            ));
        }
        Some(m) if !SERVED_MINORS.contains(&m) => {
            return Err(invalid(
                index,
                what,
                "spec.version",
                format!(
                    "{}: kubectl's dispatcher serves only v1.{}..v1.{}",
                    spec.version,
                    SERVED_MINORS.start(),
                    SERVED_MINORS.end()
                ),
            ));
        }
        Some(_) => {}
    }
    if let Some(etcd) = &spec.etcd {
        if etcd.members.is_empty() {
            return Err(invalid(
                index,
                what,
                "spec.etcd.members",
                "needs at least one member",
            ));
        }
        for (i, m) in etcd.members.iter().enumerate() {
            if !is_test_address(m.ip) {
                return Err(invalid(
                    index,
                    what,
                    &format!("spec.etcd.members[{i}].ip"),
                    format!(
                        "{} is not a test address (loopback, or 198.18.0.0/15 on the real control plane)",
                        m.ip
                    ),
                ));
            }
            if m.name.is_empty() {
                return Err(invalid(
                    index,
                    what,
                    &format!("spec.etcd.members[{i}].name"),
                    "must not be empty",
                ));
            }
        }
        if !etcd.cert_dir.starts_with('/') {
            return Err(invalid(
                index,
                what,
                "spec.etcd.certDir",
                "must be an absolute path",
            ));
        }
        if let Some(url) = &etcd.metrics_url {
            let host = url
                .strip_prefix("http://")
                .and_then(|r| r.split(['/', ':']).next())
                .and_then(|h| h.parse::<Ipv4Addr>().ok());
            if !host.is_some_and(is_test_address) {
                return Err(invalid(
                    index,
                    what,
                    "spec.etcd.metricsURL",
                    format!(
                        "{url:?} is not an http:// URL on a test address (loopback, or 198.18.0.0/15)"
                    ),
                ));
            }
        }
    }
    for (i, l) in spec.listeners.iter().enumerate() {
        if !is_test_address(l.ip) {
            return Err(invalid(
                index,
                what,
                &format!("spec.listeners[{i}].ip"),
                format!(
                    "{} is not a test address (loopback, or 198.18.0.0/15 on the real control plane)",
                    l.ip
                ),
            ));
        }
    }
    for (node, cfg) in &spec.kubelets {
        if !cfg.is_object() {
            return Err(invalid(
                index,
                what,
                &format!("spec.kubelets.{node}"),
                "must be a KubeletConfiguration mapping",
            ));
        }
    }
    for (i, u) in spec.users.iter().enumerate() {
        if u.name.is_empty() || u.name == "admin" {
            return Err(invalid(
                index,
                what,
                &format!("spec.users[{i}].name"),
                "must be set and not `admin` (the built-in user)",
            ));
        }
    }
    Ok(())
}

fn api_version(obj: &Value) -> &str {
    obj.get("apiVersion").and_then(Value::as_str).unwrap_or("")
}

fn kind(obj: &Value) -> &str {
    obj.get("kind").and_then(Value::as_str).unwrap_or("")
}

fn name(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn namespace(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/namespace").and_then(Value::as_str)
}

fn describe(obj: &Value) -> String {
    let k = match kind(obj) {
        "" => "kind unknown",
        k => k,
    };
    match (namespace(obj), name(obj)) {
        (_, "") => k.to_string(),
        (Some(ns), n) => format!("{k} {ns}/{n}"),
        (None, n) => format!("{k} {n}"),
    }
}

/// Check the identity fields of an object against the served types.
fn check_object(
    index: usize,
    obj: Value,
    registry: &Registry,
    operator: bool,
) -> Result<Value, ScenarioError> {
    let what = describe(&obj);
    let av = match obj.get("apiVersion") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(invalid(index, &what, "apiVersion", "must be a string")),
        None => return Err(invalid(index, &what, "apiVersion", "missing")),
    };
    let k = match obj.get("kind") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(invalid(index, &what, "kind", "must be a string")),
        None => return Err(invalid(index, &what, "kind", "missing")),
    };
    let Some(meta) = obj.get("metadata").and_then(Value::as_object) else {
        return Err(invalid(
            index,
            &what,
            "metadata",
            "missing or not a mapping",
        ));
    };
    match meta.get("name") {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => {
            return Err(invalid(
                index,
                &what,
                "metadata.name",
                "missing or not a string",
            ));
        }
    }
    for field in ["labels", "annotations"] {
        if let Some(m) = meta.get(field) {
            let Some(m) = m.as_object() else {
                return Err(invalid(
                    index,
                    &what,
                    &format!("metadata.{field}"),
                    "must be a mapping",
                ));
            };
            for (key, v) in m {
                if !v.is_string() {
                    return Err(invalid(
                        index,
                        &what,
                        &format!("metadata.{field}.{key}"),
                        "must be a string (quote numbers and booleans)",
                    ));
                }
            }
        }
    }
    // RBAC objects (the charts' ClusterRoles and bindings) are enforced by the real control plane
    // and the operator's Deployment runs there; the stand-in does not serve them (its
    // authorization is the scenario users' rules, its operator in-process) and skips them when
    // loading (`is_real_only`).
    if is_real_only(&obj) {
        return Ok(obj);
    }
    let Some(rt) = registry.by_kind(&av, &k) else {
        return Err(invalid(
            index,
            &what,
            "kind",
            format!("{av} {k} is not a type the test cluster serves"),
        ));
    };
    if rt.custom && !operator {
        return Err(invalid(
            index,
            &what,
            "apiVersion",
            format!("{av} is not served: the TestCluster sets prometheusOperator: false"),
        ));
    }
    match (rt.namespaced, meta.get("namespace")) {
        (true, Some(Value::String(s))) if !s.is_empty() => {}
        (true, _) => {
            return Err(invalid(
                index,
                &what,
                "metadata.namespace",
                format!("{k} is namespaced: give its namespace"),
            ));
        }
        (false, Some(_)) => {
            return Err(invalid(
                index,
                &what,
                "metadata.namespace",
                format!("{k} is cluster-scoped: it has no namespace"),
            ));
        }
        (false, None) => {}
    }
    Ok(obj)
}

/// Creation order: Namespaces; Secrets, ConfigMaps, ServiceAccounts; Services; other built-in
/// kinds; custom resources (an API group with a dot that is not a `*.k8s.io` group).
pub fn creation_rank(obj: &Value) -> u8 {
    let av = api_version(obj);
    let group = av.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let custom = group.contains('.') && !group.ends_with(".k8s.io");
    if custom {
        return 4;
    }
    match (group, kind(obj)) {
        ("", "Namespace") => 0,
        ("", "Secret" | "ConfigMap" | "ServiceAccount") => 1,
        ("", "Service") => 2,
        _ => 3,
    }
}

/// Drop what the server owns (see the module docs).
fn strip_server_fields(mut obj: Value) -> Value {
    let keep_status = kind(&obj) == "Node" || is_mirror_pod(&obj);
    if let Some(map) = obj.as_object_mut() {
        if !keep_status {
            map.remove("status");
        }
        if let Some(Value::Object(meta)) = map.get_mut("metadata") {
            for f in [
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "generation",
                "managedFields",
                "selfLink",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                meta.remove(f);
            }
        }
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_shipped_scenario_parses() {
        for name in BUILTIN {
            let s = Scenario::builtin(name, 0).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!s.objects.is_empty(), "{name}: no objects");
            assert!(
                SERVED_MINORS.contains(&s.spec.minor().unwrap_or(0)),
                "{name}: version {}",
                s.spec.version
            );
            for o in &s.objects {
                assert!(o.pointer("/metadata/uid").is_none(), "{name}: uid kept");
                assert!(
                    o.pointer("/metadata/resourceVersion").is_none(),
                    "{name}: resourceVersion kept"
                );
            }
        }
    }

    #[test]
    fn builtin_path_points_into_the_crate() {
        let p = builtin_path("a-seed-stable-prometheus-operator");
        assert!(p.ends_with("scenarios/a-seed-stable-prometheus-operator.yaml"));
        assert_eq!(p, builtin_path("a-seed-stable-prometheus-operator.yaml"));
        assert!(p.is_file(), "{}", p.display());
    }

    #[test]
    fn rewrite_moves_whole_loopback_quads_only() {
        assert_eq!(
            rewrite_loopback(
                "--etcd-servers=https://127.0.2.11:2379,https://127.0.2.12:2379",
                7
            ),
            "--etcd-servers=https://127.7.2.11:2379,https://127.7.2.12:2379"
        );
        assert_eq!(rewrite_loopback("ip: 127.0.0.1", 42), "ip: 127.42.0.1");
        assert_eq!(rewrite_loopback("127.0.3.10\n", 1), "127.1.3.10\n");
        // Not an address of ours: other prefixes, longer quads, out-of-range octets.
        for s in [
            "1127.0.2.11",
            "10.127.0.2.11",
            "127.0.2.11.5",
            "127.0.2.1234",
            "127.0.256.1",
            "127.0.2",
            "127.00",
        ] {
            assert_eq!(rewrite_loopback(s, 9), s, "{s}");
        }
        // A sentence-ending dot is not part of the address.
        assert_eq!(rewrite_loopback("at 127.0.2.11.", 3), "at 127.3.2.11.");
        assert_eq!(rewrite_loopback("no address", 3), "no address");
    }

    #[test]
    fn parse_rewrites_objects_flags_and_test_cluster() {
        let s = Scenario::builtin("a-seed-stable-prometheus-operator", 12).unwrap();
        let etcd = s.spec.etcd.as_ref().unwrap();
        assert_eq!(etcd.layout, EtcdLayout::Kubespray);
        assert_eq!(
            etcd.members.iter().map(|m| m.ip).collect::<Vec<_>>(),
            vec![
                Ipv4Addr::new(127, 12, 2, 11),
                Ipv4Addr::new(127, 12, 2, 12),
                Ipv4Addr::new(127, 12, 2, 13)
            ]
        );
        let node = s.object("Node", "", "node1").unwrap();
        assert_eq!(
            node.pointer("/status/addresses/0/address"),
            Some(&json!("127.12.2.11"))
        );
        let pod = s
            .object("Pod", "kube-system", "kube-apiserver-node1")
            .unwrap();
        let cmd = pod
            .pointer("/spec/containers/0/command")
            .and_then(Value::as_array)
            .unwrap();
        assert!(cmd.contains(&json!(
            "--etcd-servers=https://127.12.2.11:2379,https://127.12.2.12:2379,https://127.12.2.13:2379"
        )));
        assert!(cmd.contains(&json!("--etcd-cafile=/etc/ssl/etcd/ssl/ca.pem")));
        assert_eq!(
            s.spec.kubelets["node2"].get("address"),
            Some(&json!("127.12.2.12"))
        );
        // Nothing of 127.0.x.y is left anywhere.
        let all = serde_json::to_string(&s.objects).unwrap();
        assert!(!all.contains("127.0."), "{all}");
    }

    #[test]
    fn objects_are_ordered_for_creation() {
        let text = r#"
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm, namespace: monitoring}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: kube-system}
---
apiVersion: v1
kind: Service
metadata: {name: s, namespace: kube-system}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa, namespace: monitoring}
---
apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: v1
kind: Secret
metadata: {name: sec, namespace: monitoring}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: es, namespace: kube-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
"#;
        let s = Scenario::parse(text, 0).unwrap();
        let order: Vec<&str> = s.objects.iter().map(name).collect();
        assert_eq!(
            order,
            [
                "monitoring",
                "kube-system",
                "sa",
                "sec",
                "s",
                "p",
                "es",
                "sm"
            ]
        );
        assert_eq!(s.spec, TestClusterSpec::default());
    }

    #[test]
    fn server_fields_and_controller_status_are_stripped() {
        let text = r#"
apiVersion: v1
kind: Service
metadata:
  name: s
  namespace: kube-system
  uid: 4b9e2f4e-0000-0000-0000-000000000000
  resourceVersion: "123"
  creationTimestamp: "2020-01-01T00:00:00Z"
  generation: 1
  managedFields: [{manager: helm}]
  labels: {app: x}
  annotations: {meta.helm.sh/release-name: prom}
spec: {clusterIP: None}
status: {loadBalancer: {}}
---
apiVersion: v1
kind: Node
metadata: {name: n1, uid: abc}
status:
  addresses: [{type: InternalIP, address: 127.0.2.11}]
"#;
        let s = Scenario::parse(text, 5).unwrap();
        let svc = s.object("Service", "kube-system", "s").unwrap();
        assert_eq!(
            svc,
            &json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "s", "namespace": "kube-system",
                             "labels": {"app": "x"},
                             "annotations": {"meta.helm.sh/release-name": "prom"}},
                "spec": {"clusterIP": "None"}
            })
        );
        let node = s.object("Node", "", "n1").unwrap();
        assert_eq!(
            node.pointer("/status/addresses/0/address"),
            Some(&json!("127.5.2.11"))
        );
        assert!(node.pointer("/metadata/uid").is_none());
    }

    #[test]
    fn field_managers() {
        let helm_label = json!({"kind": "Service", "metadata": {"labels": {"app.kubernetes.io/managed-by": "Helm"}}});
        let heritage =
            json!({"kind": "ServiceMonitor", "metadata": {"labels": {"heritage": "Helm"}}});
        let annotation = json!({"kind": "Service", "metadata": {"annotations": {"meta.helm.sh/release-name": "prom"}}});
        let tiller = json!({"kind": "Service", "metadata": {"labels": {"heritage": "Tiller"}}});
        let mirror = json!({"kind": "Pod", "metadata": {"annotations": {"kubernetes.io/config.mirror": "abc"}}});
        let node = json!({"kind": "Node", "metadata": {"name": "n"}});
        let plain = json!({"kind": "Service", "metadata": {"name": "etcd"}});
        assert_eq!(field_manager_for(&helm_label), "helm");
        assert_eq!(field_manager_for(&heritage), "helm");
        assert_eq!(field_manager_for(&annotation), "helm");
        assert_eq!(field_manager_for(&tiller), "kubectl-client-side-apply");
        assert_eq!(field_manager_for(&mirror), "kubelet");
        assert_eq!(field_manager_for(&node), "kubelet");
        assert_eq!(field_manager_for(&plain), "kubectl-client-side-apply");
    }

    #[test]
    fn shipped_scenarios_use_the_expected_managers() {
        let s = Scenario::builtin("a-seed-stable-prometheus-operator", 0).unwrap();
        let svc = s
            .object(
                "Service",
                "kube-system",
                "prom-prometheus-operator-kube-etcd",
            )
            .unwrap();
        assert_eq!(field_manager_for(svc), "helm");
        let pod = s
            .object("Pod", "kube-system", "kube-apiserver-node1")
            .unwrap();
        assert_eq!(field_manager_for(pod), "kubelet");
        let c = Scenario::builtin("c-kube-prometheus", 0).unwrap();
        let prom = c.object("Prometheus", "monitoring", "k8s").unwrap();
        assert_eq!(field_manager_for(prom), "kubectl-client-side-apply");
    }

    #[test]
    fn malformed_document_names_index_and_kind() {
        let text = r#"
apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: v1
kind: Service
metadata:
  namespace: kube-system
spec: {}
"#;
        let e = Scenario::parse(text, 0).unwrap_err().to_string();
        assert_eq!(
            e,
            "document 2 (Service): metadata.name: missing or not a string"
        );

        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n";
        let e = Scenario::parse(text, 0).unwrap_err().to_string();
        assert_eq!(
            e,
            "document 1 (Service s): metadata.namespace: Service is namespaced: give its namespace"
        );

        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: Namespace\nmetadata: {name: b}\n";
        let e = Scenario::parse(text, 0).unwrap_err().to_string();
        assert_eq!(e, "document 2 (Namespace b): apiVersion: missing");

        let text = "apiVersion: v1\nkind: Frobnicator\nmetadata: {name: a}\n";
        let e = Scenario::parse(text, 0).unwrap_err().to_string();
        assert_eq!(
            e,
            "document 1 (Frobnicator a): kind: v1 Frobnicator is not a type the test cluster serves"
        );

        let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: x\n  labels: {port: 2379}\n";
        let e = Scenario::parse(text, 0).unwrap_err().to_string();
        assert!(
            e.starts_with("document 1 (Service x/s): metadata.labels.port: must be a string"),
            "{e}"
        );

        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n- just\n- a list\n";
        let e = Scenario::parse(text, 0).unwrap_err().to_string();
        assert_eq!(
            e,
            "document 2 (kind unknown): (document): must be a mapping (an object), not a scalar or a list"
        );

        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: [unclosed\n";
        let e = Scenario::parse(text, 0).unwrap_err().to_string();
        assert!(e.starts_with("document 2: not valid YAML: "), "{e}");
    }

    #[test]
    fn test_cluster_errors_name_the_field() {
        let doc = |spec: &str| {
            format!("apiVersion: promfix.test/v1alpha1\nkind: TestCluster\nspec:\n{spec}")
        };
        let e = Scenario::parse(&doc("  version: v1.17.9\n"), 0)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "document 1 (TestCluster): spec.version: v1.17.9: kubectl's dispatcher serves only v1.27..v1.33"
        );
        let e = Scenario::parse(&doc("  verison: v1.30.0\n"), 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("document 1 (TestCluster): spec.verison: unknown field"),
            "{e}"
        );
        let e = Scenario::parse(
            &doc("  etcd: {layout: kubespray, certDir: /x, members: [{name: a, ip: 10.0.0.1}]}\n"),
            0,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "document 1 (TestCluster): spec.etcd.members[0].ip: 10.0.0.1 is not a test address (loopback, or 198.18.0.0/15 on the real control plane)"
        );
        let e = Scenario::parse(
            &doc("  listeners: [{ip: 127.0.3.1, port: 1, behaviour: maybe}]\n"),
            0,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("document 1 (TestCluster): spec.listeners[0]: unknown variant `maybe`"),
            "{e}"
        );
        let e = Scenario::parse(
            &doc("  etcd: {layout: kubespray, certDir: /x, members: [{name: a, ip: 127.0.2.1}, {name: b, ip: nope}]}\n"),
            0,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("document 1 (TestCluster): spec.etcd.members[1]: "),
            "{e}"
        );
        let e = Scenario::parse(&doc("  users: [{name: u, rules: [{verbs: get}]}]\n"), 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("document 1 (TestCluster): spec.users[0].rules[0]: "),
            "{e}"
        );
        let two = format!(
            "{}---\n{}",
            doc("  version: v1.30.0\n"),
            doc("  version: v1.31.0\n")
        );
        let e = Scenario::parse(&two, 0).unwrap_err().to_string();
        assert_eq!(
            e,
            "document 2: a second TestCluster document (the first is document 1)"
        );
    }

    #[test]
    fn operator_objects_need_the_operator() {
        let text = r#"
apiVersion: promfix.test/v1alpha1
kind: TestCluster
spec: {prometheusOperator: false}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm, namespace: monitoring}
"#;
        let e = Scenario::parse(text, 0).unwrap_err().to_string();
        assert_eq!(
            e,
            "document 2 (ServiceMonitor monitoring/sm): apiVersion: monitoring.coreos.com/v1 is not served: the TestCluster sets prometheusOperator: false"
        );
    }

    #[test]
    fn duplicates_are_refused() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n";
        let e = Scenario::parse(text, 0).unwrap_err().to_string();
        assert_eq!(
            e,
            "document 2 (Namespace a): a second object of that kind, namespace and name (first in document 1)"
        );
    }

    #[test]
    fn lists_are_expanded_and_users_converted() {
        let text = r#"
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: a}}
- {apiVersion: v1, kind: Namespace, metadata: {name: b}}
---
apiVersion: promfix.test/v1alpha1
kind: TestCluster
spec:
  version: v1.27.16
  users:
  - name: limited
    rules: [{verbs: [get], apiGroups: [""], resources: [services], namespaces: [kube-system]}]
"#;
        let s = Scenario::parse(text, 0).unwrap();
        assert_eq!(s.objects.len(), 2);
        assert_eq!(s.spec.minor(), Some(27));
        let u = &s.spec.auth_users()[0];
        assert_eq!(u.token, "limited-token");
        assert_eq!(u.rules[0].resources, ["services"]);
        assert_eq!(u.rules[0].namespaces, ["kube-system"]);
    }

    #[test]
    fn shipped_scenarios_hold_what_their_charts_render() {
        // b: kube-prometheus-stack's fullname is truncated to 26 characters.
        let b = Scenario::builtin("b-kube-prometheus-stack", 3).unwrap();
        let svc = b
            .object(
                "Service",
                "kube-system",
                "prometheus-kube-prometheus-kube-etcd",
            )
            .unwrap();
        assert_eq!(svc.pointer("/spec/ports/0/port"), Some(&json!(2381)));
        assert_eq!(
            svc.pointer("/spec/selector"),
            Some(&json!({"component": "etcd"}))
        );
        assert_eq!(field_manager_for(svc), "helm");
        let sm = b
            .object(
                "ServiceMonitor",
                "monitoring",
                "prometheus-kube-prometheus-kube-etcd",
            )
            .unwrap();
        assert_eq!(
            sm.pointer("/spec/selector/matchLabels"),
            Some(&json!({"app": "kube-prometheus-stack-kube-etcd", "release": "prometheus"}))
        );
        let prom = b
            .object(
                "Prometheus",
                "monitoring",
                "prometheus-kube-prometheus-prometheus",
            )
            .unwrap();
        assert_eq!(
            prom.pointer("/spec/serviceMonitorSelector/matchLabels/release"),
            Some(&json!("prometheus"))
        );
        let etcd = b.object("Pod", "kube-system", "etcd-node1").unwrap();
        let cmd = etcd.pointer("/spec/containers/0/command").unwrap();
        assert!(
            cmd.as_array()
                .unwrap()
                .contains(&json!("--listen-metrics-urls=http://127.3.0.1:2381"))
        );
        assert_eq!(etcd.pointer("/status/podIP"), Some(&json!("127.3.2.11")));
        let spec_etcd = b.spec.etcd.as_ref().unwrap();
        assert_eq!(spec_etcd.layout, EtcdLayout::Kubeadm);
        assert_eq!(
            spec_etcd.metrics_url.as_deref(),
            Some("http://127.3.0.1:2381")
        );

        // c: kube-prometheus discovers through EndpointSlices.
        let c = Scenario::builtin("c-kube-prometheus", 0).unwrap();
        let k8s = c.object("Prometheus", "monitoring", "k8s").unwrap();
        assert_eq!(
            k8s.pointer("/spec/serviceDiscoveryRole"),
            Some(&json!("EndpointSlice"))
        );
        assert!(c.object("ServiceMonitor", "kube-system", "etcd").is_some());
        assert!(c.object("Service", "kube-system", "etcd").is_some());
        assert_eq!(c.spec.minor(), Some(32));

        // Only Nodes and mirror pods keep a status.
        for s in [&b, &c] {
            for o in &s.objects {
                let kept = o.get("status").is_some();
                assert_eq!(
                    kept,
                    kind(o) == "Node" || is_mirror_pod(o),
                    "{}",
                    describe(o)
                );
            }
        }
    }

    #[test]
    fn d_has_no_operator_objects() {
        let d = Scenario::builtin("d-no-operator", 0).unwrap();
        assert!(!d.spec.prometheus_operator);
        assert!(d.objects.iter().all(|o| creation_rank(o) < 4));
    }
}
