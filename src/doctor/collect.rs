//! Evidence collectors: every read `doctor` does, concurrently, through `crate::kube`. Nothing
//! here writes. A collector that cannot read something adds a warning and leaves its part of the
//! evidence empty (the rules then say `unknown` rather than guess).

use super::select::{self, ListedNode, NodeHealth, NodeKey, Why};
use super::summary::AnswerError;
use super::{
    CertRef, Component, Evidence, KubeProxyEvidence, KubeletEvidence, Monitor, Rbac,
    ServiceEvidence, StaticPod, Targets, parse_flags,
};
use crate::certs::life::{CertLife, LifeError, assess};
use crate::fanout::{self, Attempt};
use crate::json::{command_line, is_ready, str_at as s};
use crate::kube::{self as k, Kube};
use k8s_openapi::api::core::v1::Secret;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Nodes per list page.
const NODE_PAGE: u32 = 500;

/// Read everything about one cluster. `namespace`: where the Prometheus resources are (None: all).
/// With `timings`, each collector's duration goes to stderr.
/// `git_version`: the server's, as its `/version` answered (the reachability check's).
pub async fn collect(
    kube: &Kube,
    namespace: Option<&str>,
    git_version: Option<String>,
    timings: bool,
) -> Evidence {
    let c = kube.context.as_str();
    // The kubelets are read where Prometheus says they fail: after its targets (the node count
    // is asked for meanwhile).
    let prom_then_kubelets = async {
        let (prom, count) = tokio::join!(
            timed(
                timings,
                c,
                "Prometheus targets and RBAC",
                prometheus(kube, namespace, timings)
            ),
            kube.count(&k::NODES),
        );
        let first_node = count.as_ref().ok().and_then(|(_, f)| f.clone());
        let judge = match (prom.0.read, prom.0.targets.get(&Component::Kubelet)) {
            (false, _) => Judge::Unread,
            (true, None) => Judge::NoTargets,
            (true, Some(t)) => Judge::Targets(&t.nodes),
        };
        let kl = timed(
            timings,
            c,
            "kubelet /configz",
            kubelets(kube, count, judge, timings),
        )
        .await;
        (prom, kl, first_node)
    };
    let ((prom, kubelets, first_node), pods, proxy, monitors, services, cp) = tokio::join!(
        prom_then_kubelets,
        timed(timings, c, "control-plane mirror pods", static_pods(kube)),
        timed(timings, c, "kube-proxy configuration", kube_proxy(kube)),
        timed(
            timings,
            c,
            "ServiceMonitors and PodMonitors",
            monitors(kube)
        ),
        timed(timings, c, "control-plane Services", services(kube)),
        timed(timings, c, "control-plane nodes", control_plane_nodes(kube)),
    );
    let mut ev = Evidence::default();
    let (p, errors, w) = prom;
    ev.errors = errors;
    let mut warn = |w: Vec<String>| ev.warnings.extend(w);
    warn(w);
    let (sp, w) = pods;
    let apiserver_pods = w.is_empty().then(|| sp.contains_key(&Component::Apiserver));
    warn(w);
    let (kp, w) = proxy;
    warn(w);
    let (kl, w) = kubelets;
    warn(w);
    let (m, w) = monitors;
    warn(w);
    let (s, w) = services;
    warn(w);
    ev.prometheus = p.names;
    ev.targets_read = p.read;
    ev.targets = p.targets;
    ev.rbac = p.rbac;
    ev.static_pods = sp;
    ev.kube_proxy = kp;
    ev.kubelets = kl;
    ev.monitors = m;
    ev.unmounted = super::unmounted(&p.etcd_by_prom, &ev.monitors);
    let signs = super::managed::Signs {
        git_version,
        provider_id: first_node
            .as_ref()
            .and_then(|n| n["spec"]["providerID"].as_str())
            .map(str::to_string),
        provider_labels: first_node
            .as_ref()
            .map(super::managed::provider_labels)
            .unwrap_or_default(),
        control_plane_nodes: cp,
        apiserver_pods,
    };
    ev.managed = super::managed::judge(&signs);
    if let Some(m) = ev.managed.as_mut()
        && m.provider == "EKS"
    {
        m.eks_metrics_api = eks_metrics_api(kube).await;
    }
    ev.services = s;
    let (lives, w) = timed(
        timings,
        c,
        "etcd client certificate Secrets",
        etcd_certs(kube, &ev.monitors, &ev.prometheus),
    )
    .await;
    ev.etcd_certs = lives;
    ev.warnings.extend(w);
    ev
}

/// Whether some node is a control-plane node (None: unread): a node list of one item with
/// kubeadm's label, and only when none has it, one with the label before 1.24 (`master`).
async fn control_plane_nodes(kube: &Kube) -> Option<bool> {
    for label in [
        "node-role.kubernetes.io/control-plane",
        "node-role.kubernetes.io/master",
    ] {
        let (items, _) = kube
            .list_page(&k::NODES, None, Some(label), 1, None)
            .await
            .ok()?;
        if !items.is_empty() {
            return Some(true);
        }
    }
    Some(false)
}

/// Whether the API server serves EKS' control-plane metrics API (`metrics.eks.amazonaws.com/v1`,
/// EKS 1.28 and newer); None when the answer is neither the group nor a 404.
async fn eks_metrics_api(kube: &Kube) -> Option<bool> {
    match kube.get_text("/apis/metrics.eks.amazonaws.com/v1").await {
        Ok(_) => Some(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Some(false),
        Err(_) => None,
    }
}

/// `f`, its duration to stderr when `on` (`--timings`).
async fn timed<T>(on: bool, ctx: &str, what: &str, f: impl std::future::Future<Output = T>) -> T {
    let t = std::time::Instant::now();
    let r = f.await;
    if on {
        eprintln!("doctor [{ctx}]: {what} read in {:.2?}", t.elapsed());
    }
    r
}

/// The life of the client certificate in each Secret an etcd monitor takes it from (mounted
/// files: the Secret of that name in each Prometheus' namespace; references: in the monitor's).
/// Only certificates are read from the Secrets, never a key. Nothing to read, no request.
async fn etcd_certs(
    kube: &Kube,
    monitors: &[Monitor],
    prometheus: &[String],
) -> (Vec<CertLife>, Vec<String>) {
    let wanted = cert_secrets_wanted(monitors, prometheus);
    let mut read: BTreeMap<(String, String), Option<Secret>> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut lives = Vec::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    for (ns, r) in wanted {
        let names = std::iter::once(&r.secret).chain(r.ca.as_ref().map(|c| &c.0));
        for name in names {
            let key = (ns.clone(), name.clone());
            if let std::collections::btree_map::Entry::Vacant(slot) = read.entry(key) {
                slot.insert(read_cert_secret(kube, &ns, name, r, &mut warnings).await);
            }
        }
        match cert_life(&read, &ns, r, now) {
            Ok(Some(l)) => lives.push(l),
            Ok(None) => {}
            Err(e) => warnings.push(e.to_string()),
        }
    }
    (lives, warnings)
}

/// The (namespace, reference) pairs whose Secrets hold an etcd monitor's client certificate.
fn cert_secrets_wanted<'a>(
    monitors: &'a [Monitor],
    prometheus: &[String],
) -> BTreeSet<(String, &'a CertRef)> {
    let prom_namespaces: BTreeSet<&str> = prometheus
        .iter()
        .filter_map(|p| p.split_once('/').map(|x| x.0))
        .collect();
    let mut wanted = BTreeSet::new();
    let etcd = monitors
        .iter()
        .filter(|m| m.component == Some(Component::Etcd));
    for r in etcd.flat_map(|m| &m.cert_refs) {
        match &r.namespace {
            Some(ns) => {
                wanted.insert((ns.clone(), r));
            }
            None => wanted.extend(prom_namespaces.iter().map(|ns| (ns.to_string(), r))),
        }
    }
    wanted
}

/// One Secret a certificate reference names; a warning when it is missing or cannot be read.
async fn read_cert_secret(
    kube: &Kube,
    ns: &str,
    name: &str,
    r: &CertRef,
    warnings: &mut Vec<String>,
) -> Option<Secret> {
    match kube.get_typed::<Secret>(ns, name).await {
        Ok(Some(s)) => Some(s),
        Ok(None) => {
            warnings.push(format!(
                "Secret {ns}/{name}, which the etcd scrape takes its client certificate from, does not exist: {}",
                if r.namespace.is_none() {
                    "the Prometheus pods that mount it cannot start (run `kubectl promfix etcd`)"
                } else {
                    "the operator leaves the ServiceMonitor out of the configuration (run `kubectl promfix etcd --tls-from secret`)"
                }
            ));
            None
        }
        Err(e) => {
            warnings.push(format!(
                "the etcd client certificate's life is not checked: {e} (doctor reads that Secret by name: get on secrets in {ns})"
            ));
            None
        }
    }
}

/// The life of the certificate a reference names, from the Secrets read (None: its Secret was
/// not read, the warning is already given; Err: the warning to give).
fn cert_life(
    read: &BTreeMap<(String, String), Option<Secret>>,
    ns: &str,
    r: &CertRef,
    now: i64,
) -> Result<Option<CertLife>, LifeError> {
    let secret_of = |name: &str| {
        read.get(&(ns.to_string(), name.to_string()))
            .and_then(Option::as_ref)
    };
    let Some(secret) = secret_of(&r.secret) else {
        return Ok(None);
    };
    let ca =
        r.ca.as_ref()
            .and_then(|(ca_secret, ca_key)| secret_bytes(secret_of(ca_secret)?, ca_key));
    let Some(cert) = secret_bytes(secret, &r.cert_key) else {
        return Err(LifeError::NoKey {
            secret: format!("{ns}/{}", r.secret),
            key: r.cert_key.clone(),
        });
    };
    assess(&format!("{ns}/{}", r.secret), &r.cert_key, cert, ca, now).map(Some)
}

/// The bytes of `key` in a Secret's `data` (None: no such key).
fn secret_bytes<'s>(secret: &'s Secret, key: &str) -> Option<&'s [u8]> {
    secret.data.as_ref()?.get(key).map(|b| b.0.as_slice())
}

#[derive(Default)]
struct PromPart {
    names: Vec<String>,
    /// Each Prometheus read, with its own etcd targets.
    etcd_by_prom: Vec<(Value, Targets)>,
    read: bool,
    targets: BTreeMap<Component, Targets>,
    rbac: Vec<Rbac>,
}

/// Why one Prometheus pod's targets could not be read.
enum TargetsError {
    /// The request failed (pods/proxy refused, the pod not answering).
    Unreadable(crate::Error),
    /// The answer is not Prometheus'.
    NotAnswer(AnswerError),
    /// The blocking fold did not finish.
    Task(tokio::task::JoinError),
}

/// The targets one Prometheus pod sees, folded: from its summary where that is the whole
/// evidence (`super::summary`), else with the targets of the pools that hold the failing ones,
/// else from its whole targets answer.
async fn pod_targets(
    kube: &Kube,
    base: &str,
    timings: bool,
) -> Result<BTreeMap<Component, Targets>, TargetsError> {
    use super::summary::{self, Next};
    let say = |what: String| {
        if timings {
            eprintln!("doctor: {base}: {what}");
        }
    };
    let sum = match read_summary(kube, base).await {
        Ok(s) => s,
        Err(e) => {
            say(format!("no summary ({e}); reading every target"));
            return fold_path(kube, &format!("{base}/api/v1/targets?state=active")).await;
        }
    };
    match summary::next(&sum) {
        Next::Done => {
            say("every component's targets are up (summary only)".into());
            return Ok(summary::assemble(&sum, BTreeMap::new()));
        }
        Next::Pools(pools) => {
            let mut detail = BTreeMap::new();
            for pool in &pools {
                let q: String = form_urlencoded::byte_serialize(pool.as_bytes()).collect();
                let t = fold_path(
                    kube,
                    &format!("{base}/api/v1/targets?state=active&scrapePool={q}"),
                )
                .await?;
                summary::merge(&mut detail, t);
            }
            if summary::accounts(&sum, &detail) {
                say(format!("failing targets read from {} pool(s)", pools.len()));
                return Ok(summary::assemble(&sum, detail));
            }
            say("the pools read do not hold every failing target; reading every target".into());
        }
        Next::Everything(why) => say(format!("{why}; reading every target")),
    }
    fold_path(kube, &format!("{base}/api/v1/targets?state=active")).await
}

/// The summary of one Prometheus pod: the instant query and its own `/metrics`.
async fn read_summary(kube: &Kube, base: &str) -> Result<super::summary::Summary, AnswerError> {
    let q: String = form_urlencoded::byte_serialize(super::summary::QUERY.as_bytes()).collect();
    let query = format!("{base}/api/v1/query?query={q}");
    let metrics = format!("{base}/metrics");
    let (a, m) = tokio::join!(kube.get_text(&query), kube.get_text(&metrics));
    let mut sum = super::summary::Summary::default();
    let read = |what| move |source| AnswerError::Read { what, source };
    sum.add_query(&a.map_err(read("the query"))?)?;
    sum.add_metrics(&m.map_err(read("/metrics"))?)?;
    Ok(sum)
}

/// One targets answer, folded as it arrives, on a blocking thread (serde_json reads
/// synchronously).
async fn fold_path(kube: &Kube, path: &str) -> Result<BTreeMap<Component, Targets>, TargetsError> {
    let body = kube
        .get_stream(path)
        .await
        .map_err(|e| TargetsError::Unreadable(kube.err("get", path.to_string(), e)))?;
    let (t, r) = tokio::task::spawn_blocking(move || {
        let mut targets = BTreeMap::new();
        let r = fold_targets_reader(tokio_util::io::SyncIoBridge::new(body), &mut targets);
        (targets, r)
    })
    .await
    .map_err(TargetsError::Task)?;
    r.map_err(TargetsError::NotAnswer).map(|()| t)
}

/// The route prefix Prometheus serves under: `spec.routePrefix`, else the path of
/// `spec.externalUrl`, else `/` (as the operator passes `--web.route-prefix`).
pub fn route_prefix(spec: &Value) -> String {
    let p = spec["routePrefix"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| {
            spec["externalUrl"].as_str().and_then(|u| {
                let rest = u.split_once("://").map(|x| x.1).unwrap_or(u);
                rest.find('/').map(|i| rest[i..].to_string())
            })
        })
        .unwrap_or_else(|| "/".into());
    let p = p.trim_end_matches('/');
    if p.is_empty() || p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

/// One active target: only the fields doctor folds (the rest of the answer, `discoveredLabels`
/// above all, is skipped as it is parsed).
#[derive(Deserialize)]
struct ActiveTarget {
    #[serde(default)]
    labels: JobLabel,
    #[serde(rename = "scrapePool", default)]
    scrape_pool: String,
    #[serde(default)]
    health: String,
    #[serde(rename = "lastError", default)]
    last_error: String,
    #[serde(rename = "scrapeUrl", default)]
    scrape_url: String,
}

#[derive(Deserialize, Default)]
struct JobLabel {
    #[serde(default)]
    job: String,
    /// The operator's relabeling sets it from the Endpoints address' `targetRef` (kind Node).
    #[serde(default)]
    node: String,
}

/// Fold Prometheus' `/api/v1/targets` answer into per-component targets.
pub fn fold_targets(
    body: &str,
    into: &mut BTreeMap<Component, Targets>,
) -> Result<(), AnswerError> {
    let mut de = serde_json::Deserializer::from_str(body);
    fold_from(&mut de, into)
}

/// [`fold_targets`] from a reader, one target at a time: memory stays flat however many
/// targets the answer holds (a 5,000-node cluster's answer is tens of megabytes).
pub fn fold_targets_reader(
    r: impl std::io::Read,
    into: &mut BTreeMap<Component, Targets>,
) -> Result<(), AnswerError> {
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(r));
    fold_from(&mut de, into)
}

fn fold_from<'de, R: serde_json::de::Read<'de>>(
    de: &mut serde_json::Deserializer<R>,
    into: &mut BTreeMap<Component, Targets>,
) -> Result<(), AnswerError> {
    use serde::de::DeserializeSeed;
    let mut seen = false;
    Level {
        path: &["data", "activeTargets"],
        into,
        seen: &mut seen,
    }
    .deserialize(&mut *de)?;
    de.end()?;
    if !seen {
        return Err(AnswerError::NoTargets);
    }
    Ok(())
}

/// Walks down `path` (object keys) to the array of active targets, skipping everything else.
struct Level<'a, 'p> {
    path: &'p [&'p str],
    into: &'a mut BTreeMap<Component, Targets>,
    seen: &'a mut bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for Level<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.path.is_empty() {
            d.deserialize_seq(self)
        } else {
            d.deserialize_map(self)
        }
    }
}

impl<'de> serde::de::Visitor<'de> for Level<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self.path.first() {
            Some(k) => write!(f, "an object with {k}"),
            None => f.write_str("an array of targets"),
        }
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let Level { path, into, seen } = self;
        while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
            if path.first() == Some(&k.as_ref()) {
                m.next_value_seed(Level {
                    path: &path[1..],
                    into: &mut *into,
                    seen: &mut *seen,
                })?;
            } else {
                m.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut sq: A) -> Result<(), A::Error> {
        *self.seen = true;
        while let Some(t) = sq.next_element::<ActiveTarget>()? {
            let Some(c) =
                Component::classify(&t.labels.job).or_else(|| Component::classify(&t.scrape_pool))
            else {
                continue;
            };
            let folded = self.into.entry(c).or_default();
            folded.add(&t.labels.job, &t.health, &t.scrape_url, &t.last_error);
            if c == Component::Kubelet
                && let Some(key) = NodeKey::of(&t.labels.node, &t.scrape_url)
            {
                folded.nodes.add(key, &t.health);
            }
        }
        Ok(())
    }
}

/// Prometheus' targets and RBAC. Returns the part, the errors (what keeps rows from being
/// checked: no operator, no Prometheus, targets that cannot be read) and the warnings.
async fn prometheus(
    kube: &Kube,
    namespace: Option<&str>,
    timings: bool,
) -> (PromPart, Vec<String>, Vec<String>) {
    let mut part = PromPart::default();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let Some(proms) = prometheus_resources(kube, namespace, &mut errors).await else {
        return (part, errors, warnings);
    };
    let mut sas = BTreeSet::new();
    for p in &proms {
        let ns = s(p, &["metadata", "namespace"]);
        let sa = match s(p, &["spec", "serviceAccountName"]) {
            "" => "default",
            x => x,
        };
        sas.insert((ns.to_string(), sa.to_string()));
        read_prometheus_targets(kube, p, timings, &mut part, &mut errors).await;
    }
    for (ns, sa) in sas {
        let rbac = service_account_access(kube, &ns, &sa, &mut warnings).await;
        part.rbac.push(rbac);
    }
    (part, errors, warnings)
}

/// The Prometheus resources to read (None: none can be; the error says why).
async fn prometheus_resources(
    kube: &Kube,
    namespace: Option<&str>,
    errors: &mut Vec<String>,
) -> Option<Vec<Value>> {
    match kube.serves(&k::PROMETHEUSES).await {
        Ok(true) => {}
        Ok(false) => {
            errors.push(
                "the Prometheus Operator's resources (monitoring.coreos.com/v1 prometheuses) are not served by this cluster, so there are no Prometheus targets to read; doctor diagnoses the scrapes of an operator-run Prometheus: install kube-prometheus-stack or kube-prometheus, or choose the cluster that has it with --context"
                    .into(),
            );
            return None;
        }
        Err(e) => {
            errors.push(format!("cannot read Prometheus' targets: {e}"));
            return None;
        }
    }
    let proms = match kube.list_prometheuses(namespace).await {
        Ok(p) => p,
        Err(e) => {
            errors.push(format!("cannot read Prometheus' targets: {e}"));
            return None;
        }
    };
    if proms.is_empty() {
        errors.push(no_prometheus(kube, namespace).await);
    }
    Some(proms)
}

/// Why there is nothing to read: no Prometheus resource where asked, and where they are instead.
async fn no_prometheus(kube: &Kube, namespace: Option<&str>) -> String {
    let Some(ns) = namespace else {
        return "no Prometheus resource in any namespace: there are no targets to read; create one (kube-prometheus-stack does)".to_string();
    };
    let elsewhere: Vec<String> = kube
        .list(&k::PROMETHEUSES, None, None)
        .await
        .unwrap_or_default()
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                s(p, &["metadata", "namespace"]),
                s(p, &["metadata", "name"])
            )
        })
        .collect();
    if elsewhere.is_empty() {
        format!(
            "no Prometheus resource in namespace {ns}, nor in any other: there are no targets to read; create one (kube-prometheus-stack does)"
        )
    } else {
        format!(
            "no Prometheus resource in namespace {ns}: there are no targets to read; Prometheus resources are in {} (drop -n, or give -n {})",
            elsewhere.join(", "),
            elsewhere[0].split('/').next().unwrap_or("")
        )
    }
}

/// The targets of one Prometheus resource, one pod per shard, merged into `part`.
async fn read_prometheus_targets(
    kube: &Kube,
    p: &Value,
    timings: bool,
    part: &mut PromPart,
    errors: &mut Vec<String>,
) {
    let ns = s(p, &["metadata", "namespace"]);
    let name = s(p, &["metadata", "name"]);
    let prefix = route_prefix(&p["spec"]);
    let port_name = match s(p, &["spec", "portName"]) {
        "" => "web",
        x => x,
    };
    let selector = format!("operator.prometheus.io/name={name}");
    let kind = crate::crd::kind_of(p);
    // A Prometheus and a PrometheusAgent of the same name share the label: their pods are told
    // apart by kind.
    let pods: Vec<Value> = match kube.list(&k::PODS, Some(ns), Some(&selector)).await {
        Ok(pods) => pods
            .into_iter()
            .filter(|pod| crate::crd::pod_is_of_kind(p, &pod["metadata"]["labels"]))
            .collect(),
        Err(e) => {
            errors.push(format!(
                "cannot read the targets of {kind} {ns}/{name}: {e}"
            ));
            return;
        }
    };
    let by_shard = one_pod_per_shard(&pods);
    if by_shard.is_empty() {
        errors.push(format!(
            "{kind} {ns}/{name} has no pods, so its targets cannot be read: see `kubectl -n {ns} get statefulset,pods -l {selector}` and the operator's logs"
        ));
    }
    let mut read_any = false;
    let mut own_etcd: BTreeMap<Component, Targets> = BTreeMap::new();
    for pod in by_shard.values() {
        let pod_name = s(pod, &["metadata", "name"]);
        let port = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().into_iter().flatten())
            .find(|p| p["name"] == port_name)
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or(9090);
        let base = format!(
            "{}{prefix}",
            crate::verify::prometheus_proxy(p, ns, pod_name, port)
        );
        match pod_targets(kube, &base, timings).await {
            Ok(t) => {
                if let Some(e) = t.get(&Component::Etcd) {
                    super::summary::merge(&mut own_etcd, BTreeMap::from([(Component::Etcd, e.clone())]));
                }
                super::summary::merge(&mut part.targets, t);
                read_any = true;
            }
            Err(TargetsError::Unreadable(e)) => errors.push(format!(
                "cannot read the targets of Prometheus pod {ns}/{pod_name} (pods/proxy to port {port}{prefix}): {e}"
            )),
            Err(TargetsError::NotAnswer(e)) => errors.push(format!(
                "the targets of Prometheus pod {ns}/{pod_name} are not Prometheus' answer: {e}"
            )),
            Err(TargetsError::Task(e)) => errors.push(format!(
                "reading the targets of Prometheus pod {ns}/{pod_name} failed: {e}"
            )),
        }
    }
    if read_any {
        part.read = true;
        part.etcd_by_prom.push((
            p.clone(),
            own_etcd.remove(&Component::Etcd).unwrap_or_default(),
        ));
        part.names.push(if crate::crd::is_agent(p) {
            format!("{ns}/{name} (PrometheusAgent)")
        } else {
            format!("{ns}/{name}")
        });
    }
}

/// One pod per shard, a ready one where there is: replicas of a shard see the same targets.
fn one_pod_per_shard(pods: &[Value]) -> BTreeMap<String, &Value> {
    let mut by_shard: BTreeMap<String, &Value> = BTreeMap::new();
    for pod in pods {
        let shard = s(pod, &["metadata", "labels", "operator.prometheus.io/shard"]).to_string();
        let better = by_shard
            .get(&shard)
            .is_none_or(|cur| !is_ready(cur) && is_ready(pod));
        if better {
            by_shard.insert(shard, pod);
        }
    }
    by_shard
}

/// Whether a Prometheus' service account may get `/metrics` and `nodes/metrics` (a
/// SubjectAccessReview each; a review that fails is a warning and an unknown).
async fn service_account_access(
    kube: &Kube,
    ns: &str,
    sa: &str,
    warnings: &mut Vec<String>,
) -> Rbac {
    let user = format!("system:serviceaccount:{ns}:{sa}");
    let groups = vec![
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{ns}"),
        "system:authenticated".to_string(),
    ];
    let metrics = kube
        .subject_access_review(
            &user,
            &groups,
            json!({"nonResourceAttributes": {"verb": "get", "path": "/metrics"}}),
        )
        .await;
    let nodes = kube
        .subject_access_review(
            &user,
            &groups,
            json!({"resourceAttributes": {"verb": "get", "group": "", "resource": "nodes", "subresource": "metrics"}}),
        )
        .await;
    let mut ok = |r: crate::Result<bool>| match r {
        Ok(b) => Some(b),
        Err(e) => {
            warnings.push(format!("cannot review the access of {user}: {e}"));
            None
        }
    };
    let metrics = ok(metrics);
    let nodes_metrics = ok(nodes);
    Rbac {
        user,
        metrics,
        nodes_metrics,
    }
}

/// The image tag: `registry.k8s.io/kube-scheduler:v1.33.1` → `v1.33.1`.
pub fn image_tag(image: &str) -> Option<String> {
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, t)| t.to_string())
}

/// A mirror pod as evidence (component from its `component` label or name).
pub fn static_pod(pod: &Value) -> Option<(Component, StaticPod)> {
    let name = s(pod, &["metadata", "name"]);
    let label = s(pod, &["metadata", "labels", "component"]);
    let c = Component::classify(if label.is_empty() { name } else { label })?;
    let container = &pod["spec"]["containers"][0];
    Some((
        c,
        StaticPod {
            name: name.to_string(),
            node: s(pod, &["spec", "nodeName"]).to_string(),
            version: image_tag(s(container, &["image"])),
            flags: parse_flags(&command_line(container)),
        },
    ))
}

async fn static_pods(kube: &Kube) -> (BTreeMap<Component, Vec<StaticPod>>, Vec<String>) {
    let mut out: BTreeMap<Component, Vec<StaticPod>> = BTreeMap::new();
    match kube
        .list(&k::PODS, Some("kube-system"), Some("tier=control-plane"))
        .await
    {
        Ok(pods) => {
            for p in &pods {
                if let Some((c, sp)) = static_pod(p) {
                    out.entry(c).or_default().push(sp);
                }
            }
            (out, Vec::new())
        }
        Err(e) => (out, vec![e.to_string()]),
    }
}

/// `metricsBindAddress` from kube-proxy's `config.conf` (Some("") when unset).
pub use crate::fixes::kube_proxy::metrics_bind_address;

async fn kube_proxy(kube: &Kube) -> (KubeProxyEvidence, Vec<String>) {
    let mut ev = KubeProxyEvidence::default();
    let mut warnings = Vec::new();
    let (cm, ds) = tokio::join!(
        kube.get_opt(&k::CONFIGMAPS, Some("kube-system"), "kube-proxy"),
        kube.get_opt(&k::DAEMONSETS, Some("kube-system"), "kube-proxy"),
    );
    match cm {
        Ok(Some(cm)) => {
            ev.configmap = Some("kube-system/kube-proxy".into());
            let conf = s(&cm, &["data", "config.conf"]);
            ev.metrics_bind_address = metrics_bind_address(conf);
            if ev.metrics_bind_address.is_none() && !conf.is_empty() {
                warnings.push("ConfigMap kube-system/kube-proxy: config.conf is not YAML".into());
            }
        }
        Ok(None) => {}
        Err(e) => warnings.push(e.to_string()),
    }
    match ds {
        Ok(Some(ds)) => {
            ev.daemonset = Some("kube-system/kube-proxy".into());
            for c in ds["spec"]["template"]["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let flags = parse_flags(&command_line(c));
                if let Some(f) = flags.get("metrics-bind-address") {
                    ev.flag = Some(f.clone());
                }
                if let Some(f) = flags.get("config") {
                    ev.config_file = Some(f.clone());
                }
            }
        }
        Ok(None) => {}
        Err(e) => warnings.push(e.to_string()),
    }
    (ev, warnings)
}

/// What Prometheus says of the kubelets, to choose the nodes to read by.
enum Judge<'a> {
    /// Its targets could not be read: every node is read.
    Unread,
    /// It has no kubelet target (the row says not monitored): none is read.
    NoTargets,
    Targets(&'a NodeHealth),
}

/// The kubelets' `/configz` through `nodes/proxy`, for the nodes [`select`] picks (every node
/// when Prometheus could not be read), through the adaptive fan-out, folded as they arrive.
/// `count`: the node count and the first node (`Kube::count`).
async fn kubelets(
    kube: &Kube,
    count: crate::Result<(Option<usize>, Option<Value>)>,
    judge: Judge<'_>,
    timings: bool,
) -> (KubeletEvidence, Vec<String>) {
    let mut ev = KubeletEvidence::default();
    let mut warnings = Vec::new();
    let total = match count {
        Ok((total, first)) => {
            ev.distribution = first.as_ref().and_then(distribution);
            total
        }
        Err(e) => {
            warnings.push(e.to_string());
            None
        }
    };
    ev.cluster_nodes = total;
    let sel = match judge {
        Judge::NoTargets => return (ev, warnings),
        Judge::Unread => {
            let listed = list_nodes(kube, &mut ev, &mut warnings).await;
            select::Selection {
                read: listed
                    .into_iter()
                    .map(|n| (n.name, Why::Unjudged))
                    .collect(),
                unresolved: 0,
            }
        }
        Judge::Targets(h) if h.needs_node_list(total) => {
            let listed = list_nodes(kube, &mut ev, &mut warnings).await;
            select::select(h, (!listed.is_empty()).then_some(listed.as_slice()))
        }
        Judge::Targets(h) => select::select(h, None),
    };
    let stats = read_configz(kube, sel.read, &mut ev).await;
    if timings {
        eprintln!(
            "doctor [{}]: kubelet /configz of {} node(s) ({} failing, {} without a target, {} for comparison, {} of all when Prometheus is unread): {} request(s), {} throttled (429), up to {} in flight",
            kube.context,
            ev.nodes,
            ev.failing,
            ev.missing,
            ev.compared,
            if ev.unjudged { ev.nodes } else { 0 },
            stats.requests,
            stats.throttled,
            stats.peak
        );
    }
    if sel.unresolved > 0 {
        warnings.push(format!(
            "{} kubelet target(s) down at an address no node has (nodes/proxy cannot reach them)",
            sel.unresolved
        ));
    }
    if ev.unreadable > 0 {
        warnings.push(format!(
            "kubelet /configz unreadable on {} node(s) (nodes/proxy)",
            ev.unreadable
        ));
    }
    if ev.webhook_off > 0 {
        match kube
            .get_opt(&k::CONFIGMAPS, Some("kube-system"), "kubelet-config")
            .await
        {
            Ok(cm) => ev.kubeadm_config_map = cm.is_some(),
            Err(e) => warnings.push(e.to_string()),
        }
    }
    (ev, warnings)
}

/// The distribution a node's kubelet version names (k3s, rke2).
fn distribution(node: &Value) -> Option<String> {
    super::distribution_of(s(node, &["status", "nodeInfo", "kubeletVersion"])).map(str::to_string)
}

/// Every node's name and addresses, a page at a time (the distribution from the first that
/// names one). An unreadable page ends the list with a warning.
async fn list_nodes(
    kube: &Kube,
    ev: &mut KubeletEvidence,
    warnings: &mut Vec<String>,
) -> Vec<ListedNode> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let (page, next) = match kube
            .list_page(&k::NODES, None, None, NODE_PAGE, token.as_deref())
            .await
        {
            Ok(p) => p,
            Err(e) => {
                warnings.push(e.to_string());
                break;
            }
        };
        if ev.distribution.is_none() {
            ev.distribution = page.iter().find_map(distribution);
        }
        out.extend(page.iter().map(ListedNode::from_value));
        match next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    if ev.cluster_nodes.is_none_or(|n| n < out.len()) {
        ev.cluster_nodes = Some(out.len());
    }
    out
}

/// `/configz` of each node through the fan-out; a node still throttled after its attempts, or
/// whose answer is not a JSON object, counts as unreadable.
async fn read_configz(
    kube: &Kube,
    nodes: Vec<(String, Why)>,
    ev: &mut KubeletEvidence,
) -> fanout::Stats {
    fanout::for_each(
        nodes,
        fanout::NODE_READS,
        |(n, _)| async move {
            match kube
                .get_text_paced(&format!("/api/v1/nodes/{n}/proxy/configz"))
                .await
            {
                Attempt::Done(r) => Attempt::Done(
                    r.ok()
                        .and_then(|b| serde_json::from_str::<Value>(&b).ok())
                        .filter(Value::is_object)
                        .ok_or(()),
                ),
                Attempt::Throttled(t) => Attempt::Throttled(t),
            }
        },
        |(n, why), r| ev.add_selected(&n, r.and_then(Result::ok).as_ref(), why),
    )
    .await
}

/// A ScrapeConfig (`monitoring.coreos.com/v1alpha1`) as evidence: the component from its name,
/// its `jobName` or a static config's `job` label; the ports of its static targets; its scheme
/// (`HTTP`/`HTTPS` in the CRD) and client certificate (`tlsConfig.cert`, Secret references).
pub fn scrape_config(m: &Value) -> Monitor {
    let name = s(m, &["metadata", "name"]);
    let statics = m["spec"]["staticConfigs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let job_labels: Vec<&str> = statics
        .iter()
        .filter_map(|c| c["labels"]["job"].as_str())
        .collect();
    let component = Component::classify(name)
        .or_else(|| Component::classify(s(m, &["spec", "jobName"])))
        .or_else(|| job_labels.iter().find_map(|j| Component::classify(j)));
    let mut out = Monitor {
        kind: "ScrapeConfig".into(),
        namespace: s(m, &["metadata", "namespace"]).to_string(),
        name: name.to_string(),
        component,
        ..Default::default()
    };
    let scheme = s(m, &["spec", "scheme"]).to_ascii_lowercase();
    for t in statics
        .iter()
        .flat_map(|c| c["targets"].as_array().cloned().unwrap_or_default())
    {
        let port = t
            .as_str()
            .and_then(|a| a.rsplit_once(':'))
            .map(|(_, p)| p.to_string())
            .unwrap_or_default();
        if !out.ports.contains(&port) {
            out.ports.push(port);
        }
    }
    out.schemes.push(if scheme.is_empty() {
        "http".into()
    } else {
        scheme
    });
    let tls = &m["spec"]["tlsConfig"];
    if tls["cert"].is_object() {
        out.client_cert = true;
        out.cert_refs.extend(cert_ref(&out.namespace, tls));
    }
    out
}

/// A ServiceMonitor or PodMonitor (or ScrapeConfig) as evidence.
pub fn monitor(kind: &str, m: &Value) -> Monitor {
    if kind == "ScrapeConfig" {
        return scrape_config(m);
    }
    let name = s(m, &["metadata", "name"]);
    let job_label = s(m, &["spec", "jobLabel"]);
    let sel_values: Vec<&str> = m["spec"]["selector"]["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, v)| v.as_str())
        .collect();
    let component = Component::classify(name)
        .or_else(|| Component::classify(job_label))
        .or_else(|| sel_values.iter().find_map(|v| Component::classify(v)));
    let field = if kind == "PodMonitor" {
        "podMetricsEndpoints"
    } else {
        "endpoints"
    };
    let mut out = Monitor {
        kind: kind.to_string(),
        namespace: s(m, &["metadata", "namespace"]).to_string(),
        name: name.to_string(),
        component,
        ..Default::default()
    };
    for e in m["spec"][field].as_array().into_iter().flatten() {
        let port = match (&e["port"], &e["targetPort"]) {
            (Value::String(p), _) => p.clone(),
            (Value::Number(n), _) => n.to_string(),
            (_, Value::String(p)) => p.clone(),
            (_, Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        out.ports.push(port);
        out.schemes
            .push(e["scheme"].as_str().unwrap_or("http").to_string());
        let tls = &e["tlsConfig"];
        if !tls["certFile"].as_str().unwrap_or("").is_empty() || tls["cert"].is_object() {
            out.client_cert = true;
            out.cert_refs.extend(cert_ref(&out.namespace, tls));
        }
    }
    out.cert_refs.sort();
    out.cert_refs.dedup();
    out
}

/// The Secret of an endpoint's client certificate: `certFile` below the operator's secrets
/// directory (`/etc/prometheus/secrets/<secret>/<key>`), or `cert.secret`; its CA the same way
/// (`caFile`, `ca.secret`). None for files of another origin (a hostPath, a ConfigMap).
fn cert_ref(monitor_ns: &str, tls: &Value) -> Option<CertRef> {
    let mounted = |field: &str| {
        let rest = tls[field]
            .as_str()?
            .strip_prefix(crate::verify::SECRETS_DIR)?
            .strip_prefix('/')?;
        let (secret, key) = rest.split_once('/')?;
        (!secret.is_empty() && !key.is_empty() && !key.contains('/'))
            .then(|| (secret.to_string(), key.to_string()))
    };
    let referenced = |field: &str| {
        let r = &tls[field]["secret"];
        Some((
            r["name"].as_str()?.to_string(),
            r["key"].as_str()?.to_string(),
        ))
    };
    if let Some((secret, cert_key)) = mounted("certFile") {
        return Some(CertRef {
            namespace: None,
            secret,
            cert_key,
            ca: mounted("caFile"),
        });
    }
    let (secret, cert_key) = referenced("cert")?;
    Some(CertRef {
        namespace: Some(monitor_ns.to_string()),
        secret,
        cert_key,
        ca: referenced("ca"),
    })
}

async fn monitors(kube: &Kube) -> (Vec<Monitor>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (res, kind) in [
        (k::SERVICEMONITORS, "ServiceMonitor"),
        (k::PODMONITORS, "PodMonitor"),
        (k::SCRAPECONFIGS, "ScrapeConfig"),
    ] {
        match kube.serves(&res).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                warnings.push(e.to_string());
                continue;
            }
        }
        match kube.list(&res, None, None).await {
            Ok(items) => out.extend(items.iter().map(|m| monitor(kind, m))),
            Err(e) => warnings.push(e.to_string()),
        }
    }
    (out, warnings)
}

/// A Service (and its Endpoints, if any) as evidence.
pub fn service(svc: &Value, endpoints: Option<&Value>) -> ServiceEvidence {
    let name = s(svc, &["metadata", "name"]);
    let sel = svc["spec"]["selector"]
        .as_object()
        .filter(|m| !m.is_empty());
    let app = s(svc, &["metadata", "labels", "k8s-app"]);
    let job = s(svc, &["metadata", "labels", "jobLabel"]);
    ServiceEvidence {
        namespace: s(svc, &["metadata", "namespace"]).to_string(),
        name: name.to_string(),
        component: Component::classify(name)
            .or_else(|| Component::classify(app))
            .or_else(|| Component::classify(job)),
        selector: sel.map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        }),
        ports: svc["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                format!(
                    "{}:{}→{}",
                    p["name"].as_str().unwrap_or(""),
                    p["port"],
                    match &p["targetPort"] {
                        Value::Null => p["port"].to_string(),
                        Value::String(s) => s.clone(),
                        v => v.to_string(),
                    }
                )
            })
            .collect(),
        addresses: endpoints.map(|e| {
            e["subsets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s["addresses"].as_array().map_or(0, Vec::len))
                .sum()
        }),
    }
}

async fn services(kube: &Kube) -> (Vec<ServiceEvidence>, Vec<String>) {
    let svcs = match kube.list(&k::SERVICES, Some("kube-system"), None).await {
        Ok(s) => s,
        Err(e) => return (Vec::new(), vec![e.to_string()]),
    };
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for svc in &svcs {
        if service(svc, None).component.is_none() {
            continue;
        }
        let name = s(svc, &["metadata", "name"]);
        match kube.get_opt(&k::ENDPOINTS, Some("kube-system"), name).await {
            Ok(ep) => out.push(service(svc, ep.as_ref())),
            Err(e) => {
                warnings.push(e.to_string());
                out.push(service(svc, None));
            }
        }
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_prefixes() {
        assert_eq!(route_prefix(&json!({})), "");
        assert_eq!(route_prefix(&json!({"routePrefix": "/"})), "");
        assert_eq!(route_prefix(&json!({"routePrefix": "/prom/"})), "/prom");
        assert_eq!(
            route_prefix(&json!({"externalUrl": "http://x.example/prometheus"})),
            "/prometheus"
        );
        assert_eq!(route_prefix(&json!({"externalUrl": "http://x:9090"})), "");
    }

    #[test]
    fn folds_prometheus_targets() {
        let body = json!({"status": "success", "data": {"activeTargets": [
            {"labels": {"job": "kube-scheduler"}, "scrapePool": "serviceMonitor/monitoring/x-kube-scheduler/0",
             "health": "down", "lastError": "connect: connection refused", "scrapeUrl": "http://10.0.0.1:10251/metrics"},
            {"labels": {"job": "kubelet", "metrics_path": "/metrics/cadvisor"}, "scrapePool": "serviceMonitor/monitoring/x-kubelet/1",
             "health": "up", "lastError": "", "scrapeUrl": "https://10.0.0.2:10250/metrics/cadvisor"},
            {"labels": {"job": "node-exporter"}, "scrapePool": "x", "health": "up", "lastError": "", "scrapeUrl": "http://a:9100/metrics"}
        ], "droppedTargets": []}})
        .to_string();
        let mut m = BTreeMap::new();
        fold_targets(&body, &mut m).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[&Component::KubeScheduler].down, 1);
        assert_eq!(m[&Component::Kubelet].up, 1);
        assert!(fold_targets("<html>", &mut m).is_err());
    }

    /// A reader that hands out one byte per read: the fold must not depend on chunk borders.
    struct Trickle<'a>(&'a [u8]);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn folds_targets_streamed_and_rejects_other_answers() {
        let target = |i: usize| {
            json!({"discoveredLabels": {"__address__": format!("10.0.{}.{}:10249", i / 250, i % 250)},
                   "labels": {"job": "kube-proxy", "instance": format!("n{i}")},
                   "scrapePool": "serviceMonitor/monitoring/x-kube-proxy/0",
                   "scrapeUrl": format!("http://10.0.{}.{}:10249/metrics", i / 250, i % 250),
                   "lastError": if i.is_multiple_of(2) { "connect: connection refused" } else { "" },
                   "health": if i.is_multiple_of(2) { "down" } else { "up" }})
        };
        // keys in another order than Prometheus writes them, and unknown ones, are fine
        let body = json!({"data": {"droppedTargets": [], "activeTargets": (0..1000).map(target).collect::<Vec<_>>(),
                                   "droppedTargetCounts": {"x": 1}}, "status": "success"})
        .to_string();
        let mut m = BTreeMap::new();
        fold_targets_reader(Trickle(body.as_bytes()), &mut m).unwrap();
        let t = &m[&Component::KubeProxy];
        assert_eq!((t.up, t.down, t.pending), (500, 500, 0));
        assert_eq!(t.ports, BTreeSet::from([10249]));
        let mut again = BTreeMap::new();
        fold_targets(&body, &mut again).unwrap();
        assert_eq!(again[&Component::KubeProxy].down, 500);
        for bad in [
            r#"{"status": "success", "data": {}}"#,
            r#"{"status": "error", "errorType": "bad_data", "error": "x"}"#,
            r#"{"data": {"activeTargets": {}}}"#,
            r#"{"data": {"activeTargets": []}} trailing"#,
            r#"{"data": {"activeTargets": [{"health": 1}]}}"#,
            "",
        ] {
            let mut m = BTreeMap::new();
            assert!(
                fold_targets_reader(Trickle(bad.as_bytes()), &mut m).is_err(),
                "accepted {bad:?}"
            );
        }
    }

    #[test]
    fn mirror_pod_flags_and_version() {
        let pod = json!({"metadata": {"name": "kube-scheduler-node1", "labels": {"component": "kube-scheduler", "tier": "control-plane"}},
            "spec": {"nodeName": "node1", "containers": [{"image": "registry.k8s.io/kube-scheduler:v1.33.1",
              "command": ["kube-scheduler", "--bind-address=127.0.0.1", "--secure-port=10259"]}]}});
        let (c, p) = static_pod(&pod).unwrap();
        assert_eq!(c, Component::KubeScheduler);
        assert_eq!(p.version.as_deref(), Some("v1.33.1"));
        assert_eq!(p.flag("bind-address"), Some("127.0.0.1"));
        assert_eq!(image_tag("localhost:5000/etcd"), None);
        assert_eq!(
            image_tag("localhost:5000/etcd:3.5@sha256:00").as_deref(),
            Some("3.5")
        );
    }

    #[test]
    fn kube_proxy_config_conf() {
        let conf = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmetricsBindAddress: 127.0.0.1:10249\n";
        assert_eq!(
            metrics_bind_address(conf).as_deref(),
            Some("127.0.0.1:10249")
        );
        assert_eq!(
            metrics_bind_address("kind: KubeProxyConfiguration\nmetricsBindAddress: \"\"\n")
                .as_deref(),
            Some("")
        );
    }

    #[test]
    fn monitors_and_services() {
        let sm = json!({"metadata": {"name": "prom-kube-etcd", "namespace": "monitoring"},
            "spec": {"endpoints": [{"port": "http-metrics", "scheme": "https", "tlsConfig": {"certFile": "/etc/prometheus/secrets/e/c"}}]}});
        let m = monitor("ServiceMonitor", &sm);
        assert_eq!(m.component, Some(Component::Etcd));
        assert!(m.client_cert);
        assert_eq!(m.schemes, vec!["https"]);
        let svc = json!({"metadata": {"name": "x-kube-scheduler", "namespace": "kube-system"},
            "spec": {"selector": {"component": "kube-scheduler"}, "ports": [{"name": "http-metrics", "port": 10259, "targetPort": 10259}]}});
        let ep = json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}]});
        let s = service(&svc, Some(&ep));
        assert_eq!(s.component, Some(Component::KubeScheduler));
        assert_eq!(s.addresses, Some(2));
        assert_eq!(s.selector.as_deref(), Some("component=kube-scheduler"));
        assert_eq!(service(&svc, Some(&json!({}))).addresses, Some(0));
    }

    #[test]
    fn a_scrape_config_is_a_monitor_of_its_component() {
        // As the operator's CRD has it: static targets, an upper-case scheme, Secret references.
        let sc = json!({"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "ScrapeConfig",
            "metadata": {"name": "control-plane", "namespace": "monitoring"},
            "spec": {"scheme": "HTTPS",
                "staticConfigs": [{"labels": {"job": "etcd"},
                    "targets": ["10.0.0.1:2379", "10.0.0.2:2379"]}],
                "tlsConfig": {"ca": {"secret": {"name": "etcd-client-cert", "key": "etcd-ca"}},
                    "cert": {"secret": {"name": "etcd-client-cert", "key": "etcd-client"}},
                    "keySecret": {"name": "etcd-client-cert", "key": "etcd-client-key"}}}});
        let m = monitor("ScrapeConfig", &sc);
        assert_eq!(m.kind, "ScrapeConfig");
        assert_eq!(m.component, Some(Component::Etcd));
        assert_eq!(m.ports, ["2379"]);
        assert_eq!(m.schemes, ["https"]);
        assert!(m.client_cert);
        assert_eq!(m.cert_refs.len(), 1, "{:?}", m.cert_refs);
        assert_eq!(m.cert_refs[0].namespace.as_deref(), Some("monitoring"));
        assert_eq!(m.cert_refs[0].secret, "etcd-client-cert");
        // By its jobName, without a job label; nothing known: no component.
        let by_job = json!({"metadata": {"name": "cp", "namespace": "m"},
            "spec": {"jobName": "kube-scheduler", "staticConfigs": [{"targets": ["10.0.0.1:10259"]}]}});
        assert_eq!(
            monitor("ScrapeConfig", &by_job).component,
            Some(Component::KubeScheduler)
        );
        assert_eq!(monitor("ScrapeConfig", &by_job).schemes, ["http"]);
        let other = json!({"metadata": {"name": "app", "namespace": "m"}, "spec": {}});
        assert_eq!(monitor("ScrapeConfig", &other).component, None);
    }

    #[test]
    fn cert_refs_of_mounted_files_and_secret_references() {
        let files = json!({"metadata": {"name": "kube-etcd", "namespace": "monitoring"},
            "spec": {"endpoints": [{"port": "http-metrics", "scheme": "https", "tlsConfig": {
                "caFile": "/etc/prometheus/secrets/etcd-client-cert/etcd-ca",
                "certFile": "/etc/prometheus/secrets/etcd-client-cert/etcd-client",
                "keyFile": "/etc/prometheus/secrets/etcd-client-cert/etcd-client-key"}}]}});
        let m = monitor("ServiceMonitor", &files);
        assert_eq!(
            m.cert_refs,
            vec![CertRef {
                namespace: None,
                secret: "etcd-client-cert".into(),
                cert_key: "etcd-client".into(),
                ca: Some(("etcd-client-cert".into(), "etcd-ca".into())),
            }]
        );
        let refs = json!({"metadata": {"name": "kube-etcd", "namespace": "kube-system"},
            "spec": {"endpoints": [{"port": "http-metrics", "scheme": "https", "tlsConfig": {
                "ca": {"secret": {"name": "etcd-client-cert", "key": "etcd-ca"}},
                "cert": {"secret": {"name": "etcd-client-cert", "key": "etcd-client"}},
                "keySecret": {"name": "etcd-client-cert", "key": "etcd-client-key"}}}]}});
        let m = monitor("ServiceMonitor", &refs);
        assert_eq!(m.cert_refs[0].namespace.as_deref(), Some("kube-system"));
        assert_eq!(m.cert_refs[0].cert_key, "etcd-client");
        // Files of another origin (a hostPath) are not a Secret's: nothing to read.
        let host = json!({"metadata": {"name": "kube-etcd", "namespace": "monitoring"},
            "spec": {"endpoints": [{"port": "m", "tlsConfig": {"certFile": "/etc/kubernetes/pki/etcd/healthcheck-client.crt"}}]}});
        let m = monitor("ServiceMonitor", &host);
        assert!(m.client_cert && m.cert_refs.is_empty(), "{m:?}");
    }
}
