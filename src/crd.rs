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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
