//! The Prometheus Operator's objects as Rust types, for the fields the plugin reads
//! (`monitoring.coreos.com/v1`). The objects that are written back (backups, diffs, patches)
//! stay `serde_json::Value`, so that fields this module does not know survive unchanged; these
//! types are for reading only.
//!
//! The API server validates these objects against the CRD's schema, so a field has its
//! schema's type; an object that does not deserialize (a server without the schema) reads as
//! the defaults.

use serde::Deserialize;
use serde_json::Value;

/// `Prometheus.spec`: the fields the plugin reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PrometheusSpec {
    /// Pods per shard (default 1).
    pub replicas: Option<i64>,
    /// Shards (default 1).
    pub shards: Option<i64>,
    /// Secrets mounted into the pods at `/etc/prometheus/secrets/<name>`.
    pub secrets: Vec<String>,
    /// The prefix of Prometheus' HTTP routes (`--web.route-prefix`).
    pub route_prefix: Option<String>,
    /// The URL Prometheus is reached at (its path is the default route prefix).
    pub external_url: Option<String>,
    /// ServiceMonitors' namespaceSelectors are ignored: each selects its own namespace only.
    pub ignore_namespace_selectors: Option<bool>,
}

impl PrometheusSpec {
    /// The spec of a Prometheus object (the defaults when it has none, or it does not
    /// deserialize).
    pub fn of(prometheus: &Value) -> PrometheusSpec {
        prometheus
            .get("spec")
            .and_then(|s| PrometheusSpec::deserialize(s).ok())
            .unwrap_or_default()
    }

    /// How many shards (at least 1).
    pub fn shards(&self) -> u64 {
        self.shards
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(1)
            .max(1)
    }

    /// How many pods it asks for: replicas × shards.
    pub fn pods(&self) -> u64 {
        let replicas = match self.replicas {
            Some(n) => u64::try_from(n).unwrap_or(1),
            None => 1,
        };
        replicas.saturating_mul(self.shards())
    }

    /// ServiceMonitors select Services in their own namespace only.
    pub fn ignores_namespace_selectors(&self) -> bool {
        self.ignore_namespace_selectors == Some(true)
    }

    /// Whether `spec.secrets` lists the Secret.
    pub fn lists_secret(&self, secret: &str) -> bool {
        self.secrets.iter().any(|s| s == secret)
    }
}

/// Whether the object is a PrometheusAgent (`monitoring.coreos.com/v1alpha1`): the operator's
/// agent mode. Its spec has the Prometheus' fields read here (they are the operator's
/// CommonPrometheusFields), it mounts `spec.secrets` at the same place and selects
/// ServiceMonitors the same way.
pub fn is_agent(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("PrometheusAgent")
}

/// `Prometheus` or `PrometheusAgent`, for messages.
pub fn kind_of(obj: &Value) -> &'static str {
    if is_agent(obj) {
        "PrometheusAgent"
    } else {
        "Prometheus"
    }
}

/// The operator's StatefulSet of shard `shard`: `prometheus-<name>` (`prom-agent-<name>` for an
/// agent), `-shard-<i>` after it for every shard but the first.
pub fn statefulset_name(obj: &Value, name: &str, shard: &str) -> String {
    let prefix = if is_agent(obj) {
        "prom-agent"
    } else {
        "prometheus"
    };
    if shard == "0" {
        format!("{prefix}-{name}")
    } else {
        format!("{prefix}-{name}-shard-{shard}")
    }
}

/// Whether a pod's labels say it runs the kind of `obj` (`app.kubernetes.io/name`:
/// `prometheus-agent` for an agent's pods; anything else, or no such label, for a Prometheus'):
/// a Prometheus and a PrometheusAgent of the same name share `operator.prometheus.io/name`.
pub fn pod_is_of_kind(obj: &Value, pod_labels: &Value) -> bool {
    let agent_pod = pod_labels["app.kubernetes.io/name"].as_str() == Some("prometheus-agent");
    agent_pod == is_agent(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn agents_are_told_from_prometheuses_by_kind_and_their_pods_by_label() {
        let agent = json!({"kind": "PrometheusAgent"});
        let prom = json!({"kind": "Prometheus"});
        assert!(is_agent(&agent) && !is_agent(&prom) && !is_agent(&json!({})));
        assert_eq!(statefulset_name(&agent, "a", "0"), "prom-agent-a");
        assert_eq!(statefulset_name(&agent, "a", "2"), "prom-agent-a-shard-2");
        assert_eq!(statefulset_name(&prom, "k", "1"), "prometheus-k-shard-1");
        let agent_pod = json!({"app.kubernetes.io/name": "prometheus-agent", "operator.prometheus.io/name": "a"});
        let prom_pod =
            json!({"app.kubernetes.io/name": "prometheus", "operator.prometheus.io/name": "a"});
        assert!(pod_is_of_kind(&agent, &agent_pod) && !pod_is_of_kind(&agent, &prom_pod));
        assert!(pod_is_of_kind(&prom, &prom_pod) && !pod_is_of_kind(&prom, &agent_pod));
        assert!(pod_is_of_kind(&prom, &json!({"prometheus": "a"})));
    }

    #[test]
    fn prometheus_spec_reads_the_fields_and_defaults() {
        let p = PrometheusSpec::of(&json!({"spec": {"replicas": 2, "shards": 3,
            "secrets": ["etcd-client-cert"], "routePrefix": "/prom", "other": {"kept": true}}}));
        assert_eq!((p.pods(), p.shards()), (6, 3));
        assert!(p.lists_secret("etcd-client-cert") && !p.lists_secret("x"));
        assert_eq!(p.route_prefix.as_deref(), Some("/prom"));
        let none = PrometheusSpec::of(&json!({}));
        assert_eq!((none.pods(), none.shards()), (1, 1));
        let zero = PrometheusSpec::of(&json!({"spec": {"replicas": 0, "shards": 0}}));
        assert_eq!((zero.pods(), zero.shards()), (0, 1));
        assert_eq!(
            PrometheusSpec::of(&json!({"spec": {"secrets": "no"}})),
            none
        );
    }
}
