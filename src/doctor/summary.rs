//! Prometheus' own summary of its targets, read before (and mostly instead of) the whole
//! `/api/v1/targets` answer, which is tens of megabytes at a few thousand nodes. Pure: the
//! requests are made by `collect`, the answers are judged here.
//!
//! Two small reads per Prometheus pod:
//! - one instant query, [`QUERY`]: per job, how many targets were last scraped up (`health`
//!   `"1"`) and down (`"0"`), and per node the kubelets' worst health (`min` over the node's
//!   kubelet targets);
//! - Prometheus' own `/metrics`, whose `prometheus_target_scrape_pool_targets` says how many
//!   active targets each scrape pool holds, so a target discovered but not scraped yet (it has
//!   no `up` sample) is noticed.
//!
//! Then [`next`] decides what else to read: nothing when every component's targets are up and
//! every target has been scraped; the targets of the pools that can hold the failing ones
//! (`/api/v1/targets?scrapePool=`) when some are down, kept only if they account for every
//! failing target ([`accounts`]); the whole answer otherwise.

use super::select::NodeKey;
use super::{Component, SAMPLE, Targets};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// The instant query: per job and health, the number of targets; `or` per kubelet node, the
/// lowest `up` of its targets (the two halves differ in their labels: only the first has
/// `health`). The kubelet half matches what [`Component::classify`] calls a kubelet job.
pub const QUERY: &str = r#"count_values by (job) ("health", up) or min by (job, node, instance) ({__name__="up", job=~"(?i).*(kubelet|cadvisor).*"})"#;

/// The metric of Prometheus' own `/metrics` that counts each pool's active targets.
const POOL_TARGETS: &str = "prometheus_target_scrape_pool_targets";

/// An answer that is not what Prometheus gives.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("not an answer of Prometheus: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the query failed: {0}")]
    Failed(String),
    #[error("no data.activeTargets in the answer")]
    NoTargets,
    #[error("no {POOL_TARGETS} in Prometheus' /metrics")]
    NoPools,
    #[error("cannot read {what}: {source}")]
    Read {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
}

/// How many targets of one job were last scraped up and down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobHealth {
    pub up: usize,
    pub down: usize,
}

/// What the two reads say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub jobs: BTreeMap<String, JobHealth>,
    /// Per kubelet node (its `node` label, else its address): whether every target is up.
    pub kubelet_nodes: Vec<(NodeKey, bool)>,
    /// Active targets per scrape pool.
    pub pools: BTreeMap<String, usize>,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    result: Vec<Sample>,
}

#[derive(Deserialize)]
struct Sample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    /// `[timestamp, "value"]`.
    value: (serde_json::Number, String),
}

impl Summary {
    /// Fold the answer of [`QUERY`] in.
    pub fn add_query(&mut self, body: &str) -> Result<(), AnswerError> {
        let a: Answer = serde_json::from_str(body)?;
        if a.status != "success" {
            return Err(AnswerError::Failed(a.error));
        }
        for s in a.data.map(|d| d.result).unwrap_or_default() {
            let m = |k: &str| s.metric.get(k).map(String::as_str).unwrap_or("");
            let n = s.value.1.parse::<f64>().unwrap_or(0.0);
            match s.metric.get("health") {
                Some(h) => {
                    let j = self.jobs.entry(m("job").to_string()).or_default();
                    // count_values gives a count; `up` is 0 or 1 (anything else is not a
                    // scrape's health and is not counted).
                    match h.as_str() {
                        "1" => j.up += n as usize,
                        "0" => j.down += n as usize,
                        _ => {}
                    }
                }
                None if Component::classify(m("job")) == Some(Component::Kubelet) => {
                    let url = format!("https://{}", m("instance"));
                    if let Some(key) = NodeKey::of(m("node"), &url) {
                        self.kubelet_nodes.push((key, n >= 1.0));
                    }
                }
                None => {}
            }
        }
        Ok(())
    }

    /// Fold Prometheus' `/metrics` text in: the active targets of each scrape pool.
    pub fn add_metrics(&mut self, text: &str) -> Result<(), AnswerError> {
        let mut seen = false;
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(POOL_TARGETS) else {
                continue;
            };
            let Some(rest) = rest.strip_prefix('{') else {
                continue;
            };
            let Some((pool, value)) = pool_and_value(rest) else {
                continue;
            };
            seen = true;
            *self.pools.entry(pool).or_default() += value.parse::<f64>().unwrap_or(0.0) as usize;
        }
        if seen || text.lines().any(|l| l.starts_with("prometheus_build_info")) {
            // A Prometheus with no scrape pool at all has no such line, but says what it is.
            Ok(())
        } else {
            Err(AnswerError::NoPools)
        }
    }

    /// Targets scraped at least once (they have an `up`).
    fn scraped(&self) -> usize {
        self.jobs.values().map(|j| j.up + j.down).sum()
    }

    /// The components whose jobs have a target down.
    pub fn failing(&self) -> BTreeSet<Component> {
        self.by_component()
            .into_iter()
            .filter(|(_, h)| h.down > 0)
            .map(|(c, _)| c)
            .collect()
    }

    fn by_component(&self) -> BTreeMap<Component, JobHealth> {
        let mut out: BTreeMap<Component, JobHealth> = BTreeMap::new();
        for (job, h) in &self.jobs {
            if let Some(c) = Component::classify(job) {
                let e = out.entry(c).or_default();
                e.up += h.up;
                e.down += h.down;
            }
        }
        out
    }
}

/// `scrape_job="serviceMonitor/monitoring/x/0"} 5000` → the pool and the value.
fn pool_and_value(rest: &str) -> Option<(String, &str)> {
    let start = rest.find("scrape_job=\"")? + "scrape_job=\"".len();
    let mut pool = String::new();
    let mut chars = rest[start..].char_indices();
    let end = loop {
        match chars.next()? {
            (_, '\\') => match chars.next()?.1 {
                'n' => pool.push('\n'),
                c => pool.push(c),
            },
            (i, '"') => break start + i,
            (_, c) => pool.push(c),
        }
    };
    let after = &rest[end..];
    let value = after.split_once('}')?.1.split_whitespace().next()?;
    Some((pool, value))
}

/// What to read after the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The summary is the whole evidence: every component's targets are up.
    Done,
    /// Read the targets of these pools: they can hold the failing targets.
    Pools(Vec<String>),
    /// Read every target, and why.
    Everything(Why),
}

/// Why the summary is not enough to choose the pools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Fewer targets have an `up` than are active: some are not scraped yet (or two targets
    /// share one label set).
    Unscraped { scraped: usize, active: usize },
    /// A pool named for a component whose jobs are named otherwise.
    Unattributed(String),
    /// No pool is named for a failing component.
    NoPool,
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Why::Unscraped { scraped, active } => {
                write!(f, "{scraped} of {active} active targets scraped so far")
            }
            Why::Unattributed(p) => write!(f, "pool {p} holds jobs named for no component"),
            Why::NoPool => f.write_str("no pool is named for the failing components"),
        }
    }
}

/// Decide what else to read.
pub fn next(s: &Summary) -> Next {
    let active: usize = s.pools.values().sum();
    if s.scraped() != active {
        return Next::Everything(Why::Unscraped {
            scraped: s.scraped(),
            active,
        });
    }
    let by_job = s.by_component();
    // A pool named for a component none of whose jobs is named for it: its targets carry
    // other job names, which the summary cannot attribute.
    let unattributed = s
        .pools
        .iter()
        .find(|(p, n)| **n > 0 && Component::classify(p).is_some_and(|c| !by_job.contains_key(&c)));
    if let Some((p, _)) = unattributed {
        return Next::Everything(Why::Unattributed(p.clone()));
    }
    let failing = s.failing();
    if failing.is_empty() {
        return Next::Done;
    }
    let pools: Vec<String> = s
        .pools
        .iter()
        .filter(|(p, n)| **n > 0 && Component::classify(p).is_some_and(|c| failing.contains(&c)))
        .map(|(p, _)| p.clone())
        .collect();
    if pools.is_empty() {
        Next::Everything(Why::NoPool)
    } else {
        Next::Pools(pools)
    }
}

/// Whether the pools read hold every failing target the summary counts.
pub fn accounts(s: &Summary, detail: &BTreeMap<Component, Targets>) -> bool {
    s.by_component()
        .iter()
        .filter(|(_, h)| h.down > 0)
        .all(|(c, h)| detail.get(c).is_some_and(|t| t.down == h.down))
}

/// The evidence: counts and kubelet nodes from the summary, and for failing components the
/// errors, samples, ports and schemes of the pools read (`detail`).
pub fn assemble(s: &Summary, detail: BTreeMap<Component, Targets>) -> BTreeMap<Component, Targets> {
    let mut into: BTreeMap<Component, Targets> = BTreeMap::new();
    for (job, h) in &s.jobs {
        let Some(c) = Component::classify(job) else {
            continue;
        };
        let t = into.entry(c).or_default();
        t.jobs.insert(job.clone());
        t.up += h.up;
        t.down += h.down;
    }
    for (c, d) in detail {
        if d.down == 0 {
            continue;
        }
        add_failures(into.entry(c).or_default(), d);
    }
    for (key, up) in &s.kubelet_nodes {
        let t = into.entry(Component::Kubelet).or_default();
        t.nodes.add(key.clone(), if *up { "up" } else { "down" });
    }
    into
}

/// Fold one pod's targets into those of the pods before it.
pub fn merge(into: &mut BTreeMap<Component, Targets>, from: BTreeMap<Component, Targets>) {
    for (c, mut f) in from {
        let t = into.entry(c).or_default();
        t.jobs.extend(std::mem::take(&mut f.jobs));
        t.up += f.up;
        t.down += f.down;
        t.pending += f.pending;
        t.nodes.merge(std::mem::take(&mut f.nodes));
        add_failures(t, f);
    }
}

/// What `from` says about failures (error classes, samples, ports, schemes), added to `t`.
fn add_failures(t: &mut Targets, from: Targets) {
    for (class, n) in from.errors {
        *t.errors.entry(class).or_default() += n;
    }
    let room = SAMPLE.saturating_sub(t.samples.len());
    t.samples.extend(from.samples.into_iter().take(room));
    t.ports.extend(from.ports);
    t.schemes.extend(from.schemes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(results: &str) -> String {
        format!(r#"{{"status":"success","data":{{"resultType":"vector","result":[{results}]}}}}"#)
    }

    fn sample(labels: &str, v: &str) -> String {
        format!(r#"{{"metric":{{{labels}}},"value":[1796313201.683,"{v}"]}}"#)
    }

    const METRICS: &str = "# HELP prometheus_target_scrape_pool_targets Current number of targets in this scrape pool.\n\
# TYPE prometheus_target_scrape_pool_targets gauge\n\
prometheus_target_scrape_pool_targets{scrape_job=\"serviceMonitor/monitoring/x-kubelet/0\"} 3\n\
prometheus_target_scrape_pool_targets{scrape_job=\"serviceMonitor/monitoring/x-kube-etcd/0\"} 2\n\
prometheus_target_scrape_pool_targets_total_bogus{scrape_job=\"nope\"} 9\n\
prometheus_target_scrape_pool_sync_total{scrape_job=\"serviceMonitor/monitoring/x-kubelet/0\"} 1\n";

    fn healthy() -> Summary {
        let mut s = Summary::default();
        s.add_query(&answer(
            &[
                sample(r#""health":"1","job":"kubelet""#, "3"),
                sample(r#""health":"1","job":"kube-etcd""#, "2"),
                sample(
                    r#""job":"kubelet","node":"n1","instance":"198.18.1.11:10250""#,
                    "1",
                ),
                sample(r#""job":"kubelet","instance":"198.18.1.12:10250""#, "1"),
                sample(
                    r#""job":"kubelet","node":"n3","instance":"198.18.1.13:10250""#,
                    "1",
                ),
            ]
            .join(","),
        ))
        .unwrap();
        s.add_metrics(METRICS).unwrap();
        s
    }

    #[test]
    fn reads_counts_nodes_and_pools() {
        let s = healthy();
        assert_eq!(s.jobs["kubelet"], JobHealth { up: 3, down: 0 });
        assert_eq!(s.jobs["kube-etcd"], JobHealth { up: 2, down: 0 });
        assert_eq!(
            s.kubelet_nodes,
            vec![
                (NodeKey::Name("n1".into()), true),
                (NodeKey::Addr("198.18.1.12".into()), true),
                (NodeKey::Name("n3".into()), true),
            ]
        );
        assert_eq!(s.pools.len(), 2, "{:?}", s.pools);
        assert_eq!(s.pools["serviceMonitor/monitoring/x-kubelet/0"], 3);
    }

    #[test]
    fn healthy_needs_nothing_more() {
        let s = healthy();
        assert_eq!(next(&s), Next::Done);
        let into = assemble(&s, BTreeMap::new());
        let k = &into[&Component::Kubelet];
        assert_eq!((k.up, k.down, k.pending), (3, 0, 0));
        assert_eq!(k.nodes.seen.len(), 3);
        assert!(k.nodes.down.is_empty());
        assert_eq!(k.nodes.up_first.len(), 3);
        assert_eq!(
            into[&Component::Etcd].jobs,
            BTreeSet::from(["kube-etcd".into()])
        );
    }

    #[test]
    fn a_target_not_scraped_yet_reads_everything() {
        let mut s = healthy();
        *s.pools
            .get_mut("serviceMonitor/monitoring/x-kube-etcd/0")
            .unwrap() = 3;
        assert_eq!(
            next(&s),
            Next::Everything(Why::Unscraped {
                scraped: 5,
                active: 6
            })
        );
    }

    #[test]
    fn failing_targets_read_their_pools_and_must_be_accounted_for() {
        let mut s = healthy();
        s.jobs
            .insert("kube-etcd".into(), JobHealth { up: 0, down: 2 });
        assert_eq!(
            next(&s),
            Next::Pools(vec!["serviceMonitor/monitoring/x-kube-etcd/0".into()])
        );
        let mut detail = BTreeMap::new();
        let mut t = Targets::default();
        t.add(
            "kube-etcd",
            "down",
            "https://198.18.1.21:2379/metrics",
            "remote error: tls: bad certificate",
        );
        detail.insert(Component::Etcd, t.clone());
        assert!(
            !accounts(&s, &detail),
            "one of two down targets is not accounted for"
        );
        t.add(
            "kube-etcd",
            "down",
            "https://198.18.1.22:2379/metrics",
            "remote error: tls: bad certificate",
        );
        detail.insert(Component::Etcd, t);
        assert!(accounts(&s, &detail));
        let into = assemble(&s, detail);
        let e = &into[&Component::Etcd];
        assert_eq!((e.up, e.down), (0, 2));
        assert_eq!(e.samples.len(), 2);
        assert_eq!(e.ports, BTreeSet::from([2379]));
        assert_eq!(e.errors.values().sum::<usize>(), 2);
    }

    #[test]
    fn a_down_kubelet_node_is_down() {
        let mut s = Summary::default();
        s.add_query(&answer(
            &[
                sample(r#""health":"0","job":"kubelet""#, "1"),
                sample(r#""health":"1","job":"kubelet""#, "2"),
                sample(
                    r#""job":"kubelet","node":"w1","instance":"198.18.1.12:10250""#,
                    "0",
                ),
            ]
            .join(","),
        ))
        .unwrap();
        let into = assemble(&s, BTreeMap::new());
        assert!(
            into[&Component::Kubelet]
                .nodes
                .down
                .contains(&NodeKey::Name("w1".into()))
        );
    }

    #[test]
    fn a_pool_named_for_a_component_without_its_job_reads_everything() {
        let mut s = healthy();
        s.pools
            .insert("serviceMonitor/monitoring/x-kube-scheduler/0".into(), 1);
        s.jobs.insert("custom".into(), JobHealth { up: 1, down: 0 });
        assert_eq!(
            next(&s),
            Next::Everything(Why::Unattributed(
                "serviceMonitor/monitoring/x-kube-scheduler/0".into()
            ))
        );
    }

    #[test]
    fn failed_and_foreign_answers_are_errors() {
        let mut s = Summary::default();
        let e = s
            .add_query(r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("parse error"), "{e}");
        assert!(s.add_query("<html>").is_err());
        assert!(s.add_metrics("go_goroutines 5\n").is_err());
        assert!(
            s.add_metrics("prometheus_build_info{version=\"3.16.0\"} 1\n")
                .is_ok()
        );
    }

    #[test]
    fn two_pods_merge() {
        let s = healthy();
        let mut all = assemble(&s, BTreeMap::new());
        merge(&mut all, assemble(&s, BTreeMap::new()));
        let k = &all[&Component::Kubelet];
        assert_eq!(k.up, 6);
        assert_eq!(k.nodes.seen.len(), 3, "the same nodes");
        assert_eq!(k.nodes.up_first.len(), 3);
    }

    #[test]
    fn pool_names_with_escapes() {
        assert_eq!(
            pool_and_value(r#"scrape_job="a\"b\\c"} 4"#),
            Some(("a\"b\\c".to_string(), "4"))
        );
        assert_eq!(pool_and_value(r#"scrape_job="x""#), None);
    }
}
