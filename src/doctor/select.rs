//! Which nodes' kubelets doctor reads (`/configz` through `nodes/proxy`): those whose kubelet
//! targets Prometheus reports down, or that have no kubelet target at all, plus a few that answer
//! for comparison; none when every node's kubelet answers. Pure: the collector feeds it
//! Prometheus' kubelet targets ([`NodeHealth`], folded as the targets answer streams in) and,
//! only when it must (a target without a `node` label, or a node count that differs from the
//! nodes Prometheus has), the node list a page at a time.
//!
//! When Prometheus' targets could not be read at all, there is nothing to select by: the
//! collector reads every node (bounded by the fan-out), as doctor did before, so the kubelet row
//! still carries what the configuration shows.

use serde::Serialize;
use std::collections::BTreeSet;

/// Kubelets that answer read for comparison when some fail (the seed: the control-plane
/// kubelets answer, the workers 403; the difference is the evidence).
pub const HEALTHY_SAMPLE: usize = 3;
/// Answering nodes remembered while the targets stream in (the sample is taken from those not
/// down in the end).
const UP_CANDIDATES: usize = 16;

/// A node as a kubelet target names it: the operator's `node` label (from the Endpoints
/// address' `targetRef`), else the scrape address' host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum NodeKey {
    Name(String),
    Addr(String),
}

impl NodeKey {
    /// From a target's `node` label and scrape URL (`https://10.0.0.2:10250/metrics/cadvisor`).
    pub fn of(node_label: &str, scrape_url: &str) -> Option<NodeKey> {
        if !node_label.is_empty() {
            return Some(NodeKey::Name(node_label.to_string()));
        }
        let rest = scrape_url.split_once("://").map_or(scrape_url, |x| x.1);
        let hostport = rest.split('/').next().unwrap_or("");
        let host = match hostport.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => hostport.rsplit_once(':').map_or(hostport, |x| x.0),
        };
        (!host.is_empty()).then(|| NodeKey::Addr(host.to_string()))
    }
}

/// Prometheus' kubelet targets per node, folded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeHealth {
    /// Nodes with some kubelet target down.
    pub down: BTreeSet<NodeKey>,
    /// Every node with a kubelet target (any health).
    #[serde(skip)]
    pub seen: BTreeSet<NodeKey>,
    /// The first nodes seen with a target up.
    pub up_first: Vec<NodeKey>,
}

impl NodeHealth {
    /// Fold one kubelet target in (`health`: up, down, unknown).
    pub fn add(&mut self, key: NodeKey, health: &str) {
        match health {
            "down" => {
                self.down.insert(key.clone());
            }
            "up" if self.up_first.len() < UP_CANDIDATES && !self.up_first.contains(&key) => {
                self.up_first.push(key.clone());
            }
            _ => {}
        }
        self.seen.insert(key);
    }

    /// Fold another Prometheus pod's kubelet targets in.
    pub fn merge(&mut self, other: NodeHealth) {
        self.down.extend(other.down);
        self.seen.extend(other.seen);
        for key in other.up_first {
            if self.up_first.len() < UP_CANDIDATES && !self.up_first.contains(&key) {
                self.up_first.push(key);
            }
        }
    }

    /// Whether the node list is needed: to name nodes that only have an address here, or to
    /// find nodes without a kubelet target (the cluster's count differs from the nodes seen, or
    /// the server did not say how many there are).
    pub fn needs_node_list(&self, cluster_nodes: Option<usize>) -> bool {
        self.down.iter().any(|k| matches!(k, NodeKey::Addr(_)))
            || self.up_first.iter().any(|k| matches!(k, NodeKey::Addr(_)))
            || cluster_nodes != Some(self.seen.len())
    }
}

/// A node of the list: its name and addresses (`status.addresses`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedNode {
    pub name: String,
    pub addresses: Vec<String>,
}

impl ListedNode {
    pub fn from_value(n: &serde_json::Value) -> ListedNode {
        ListedNode {
            name: n["metadata"]["name"].as_str().unwrap_or("").to_string(),
            addresses: n["status"]["addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["address"].as_str().map(str::to_string))
                .collect(),
        }
    }

    fn keys(&self) -> impl Iterator<Item = NodeKey> + '_ {
        std::iter::once(NodeKey::Name(self.name.clone()))
            .chain(self.addresses.iter().map(|a| NodeKey::Addr(a.clone())))
    }
}

/// Why a node's kubelet is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Why {
    /// A kubelet target of the node is down.
    Failing,
    /// Prometheus has no kubelet target for the node.
    Missing,
    /// It answers Prometheus: read for comparison with the failing ones.
    Healthy,
    /// Prometheus' targets could not be read: every node is read.
    Unjudged,
}

/// The nodes to read, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub read: Vec<(String, Why)>,
    /// Kubelet targets down whose address is no node's (a static endpoint, a node gone).
    pub unresolved: usize,
}

impl Selection {
    pub fn count(&self, why: Why) -> usize {
        self.read.iter().filter(|(_, w)| *w == why).count()
    }
}

/// Select from the kubelet targets alone (`listed`: None) or with the whole node list. With the
/// list, failing addresses are named and nodes without a target are added; without it, only
/// the nodes the targets name.
pub fn select(health: &NodeHealth, listed: Option<&[ListedNode]>) -> Selection {
    let mut sel = Selection::default();
    let mut chosen = BTreeSet::new();
    let push = |sel: &mut Selection, chosen: &mut BTreeSet<String>, name: &str, why: Why| {
        if chosen.insert(name.to_string()) {
            sel.read.push((name.to_string(), why));
        }
    };
    let name_of = |k: &NodeKey| -> Option<String> {
        match (k, listed) {
            (NodeKey::Name(n), _) => Some(n.clone()),
            (NodeKey::Addr(_), Some(nodes)) => nodes
                .iter()
                .find(|n| n.keys().any(|nk| nk == *k))
                .map(|n| n.name.clone()),
            (NodeKey::Addr(_), None) => None,
        }
    };
    for k in &health.down {
        match name_of(k) {
            Some(n) => push(&mut sel, &mut chosen, &n, Why::Failing),
            None => sel.unresolved += 1,
        }
    }
    for n in listed.into_iter().flatten() {
        if !n.keys().any(|k| health.seen.contains(&k)) {
            push(&mut sel, &mut chosen, &n.name, Why::Missing);
        }
    }
    if sel.read.is_empty() {
        return sel;
    }
    let healthy: Vec<String> = health
        .up_first
        .iter()
        .filter(|k| !health.down.contains(k))
        .filter_map(name_of)
        .filter(|n| !chosen.contains(n))
        .take(HEALTHY_SAMPLE)
        .collect();
    for n in healthy {
        push(&mut sel, &mut chosen, &n, Why::Healthy);
    }
    sel
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> NodeKey {
        NodeKey::Name(n.into())
    }

    /// `n` nodes, three kubelet targets each (metrics, cadvisor, probes), the `node` label set;
    /// `down(i)` says which nodes' targets are down.
    fn cluster(n: usize, down: impl Fn(usize) -> bool) -> NodeHealth {
        let mut h = NodeHealth::default();
        for i in 0..n {
            for _ in 0..3 {
                h.add(
                    name(&format!("node-{i}")),
                    if down(i) { "down" } else { "up" },
                );
            }
        }
        h
    }

    #[test]
    fn every_kubelet_up_reads_no_node_whatever_the_size() {
        for n in [3, 1000, 5000] {
            let h = cluster(n, |_| false);
            assert!(!h.needs_node_list(Some(n)), "{n}");
            assert_eq!(select(&h, None), Selection::default(), "{n}");
            assert!(h.up_first.len() <= UP_CANDIDATES);
        }
    }

    #[test]
    fn failing_nodes_are_read_with_a_few_that_answer() {
        // The seed: the control-plane kubelet answers, the workers 403.
        let h = cluster(3, |i| i > 0);
        let s = select(&h, None);
        assert_eq!(
            s.read,
            vec![
                ("node-1".to_string(), Why::Failing),
                ("node-2".to_string(), Why::Failing),
                ("node-0".to_string(), Why::Healthy),
            ]
        );
        // N failing of 5,000: N reads and the sample, not 5,000.
        let h = cluster(5000, |i| i % 100 == 1);
        let s = select(&h, None);
        assert_eq!(s.count(Why::Failing), 50);
        assert_eq!(s.count(Why::Healthy), HEALTHY_SAMPLE);
        assert_eq!(s.read.len(), 50 + HEALTHY_SAMPLE);
        // Every worker failing: each read once, and the sample from the few that answer.
        let h = cluster(5000, |i| i > 0);
        let s = select(&h, None);
        assert_eq!((s.count(Why::Failing), s.count(Why::Healthy)), (4999, 1));
    }

    #[test]
    fn a_node_down_on_one_target_is_failing_not_healthy() {
        let mut h = NodeHealth::default();
        h.add(name("a"), "up");
        h.add(name("a"), "down");
        h.add(name("b"), "up");
        h.add(name("c"), "unknown");
        let s = select(&h, None);
        assert_eq!(
            s.read,
            vec![("a".into(), Why::Failing), ("b".into(), Why::Healthy)]
        );
        // Not scraped yet is neither: c is not read.
        assert!(!h.needs_node_list(Some(3)));
    }

    #[test]
    fn nodes_without_a_target_need_the_list_and_are_read() {
        let h = cluster(3, |_| false);
        assert!(h.needs_node_list(Some(4)));
        assert!(h.needs_node_list(None), "count unknown");
        let listed: Vec<ListedNode> = (0..4)
            .map(|i| ListedNode {
                name: format!("node-{i}"),
                addresses: vec![format!("10.0.0.{i}")],
            })
            .collect();
        let s = select(&h, Some(&listed));
        assert_eq!(s.read[0], ("node-3".to_string(), Why::Missing));
        assert_eq!(s.count(Why::Healthy), HEALTHY_SAMPLE);
    }

    #[test]
    fn targets_without_a_node_label_are_named_by_address() {
        let mut h = NodeHealth::default();
        for (url, health) in [
            ("https://10.0.0.1:10250/metrics", "up"),
            ("https://10.0.0.2:10250/metrics", "down"),
            ("https://[fd00::3]:10250/metrics", "down"),
            ("https://10.9.9.9:10250/metrics", "down"),
        ] {
            h.add(NodeKey::of("", url).expect("key"), health);
        }
        assert!(h.needs_node_list(Some(4)));
        let listed = vec![
            ListedNode {
                name: "cp".into(),
                addresses: vec!["10.0.0.1".into()],
            },
            ListedNode {
                name: "w1".into(),
                addresses: vec!["10.0.0.2".into()],
            },
            ListedNode {
                name: "w2".into(),
                addresses: vec!["fd00::3".into()],
            },
        ];
        let s = select(&h, Some(&listed));
        assert_eq!(
            s.read,
            vec![
                ("w1".into(), Why::Failing),
                ("w2".into(), Why::Failing),
                ("cp".into(), Why::Healthy),
            ]
        );
        assert_eq!(s.unresolved, 1);
        // Without the list an address cannot be named.
        assert_eq!(select(&h, None).unresolved, 3);
    }

    #[test]
    fn node_keys() {
        assert_eq!(NodeKey::of("n1", "https://x:1/m"), Some(name("n1")));
        assert_eq!(
            NodeKey::of("", "https://10.0.0.2:10250/metrics/cadvisor"),
            Some(NodeKey::Addr("10.0.0.2".into()))
        );
        assert_eq!(
            NodeKey::of("", "http://[::1]:10250/x"),
            Some(NodeKey::Addr("::1".into()))
        );
        assert_eq!(NodeKey::of("", ""), None);
        assert_eq!(
            NodeKey::of("", "garbage"),
            Some(NodeKey::Addr("garbage".into()))
        );
    }
}
