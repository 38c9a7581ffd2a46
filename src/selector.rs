//! Label selectors as the Prometheus Operator and Services use them: `LabelSelector` objects
//! (`matchLabels`, `matchExpressions`) and Service `spec.selector` maps, evaluated on JSON objects.

use serde_json::Value;

fn label<'a>(labels: &'a Value, key: &str) -> Option<&'a str> {
    labels.get(key).and_then(Value::as_str)
}

/// Whether `labels` satisfy a `LabelSelector`. An empty selector (`{}`) selects everything.
/// Unknown operators select nothing (the API server would have rejected them).
pub fn matches(selector: &Value, labels: &Value) -> bool {
    if let Some(ml) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            if label(labels, k) != v.as_str() {
                return false;
            }
        }
    }
    if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let have = label(labels, key);
            let ok = match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => have.is_some_and(|h| values.contains(&h)),
                "NotIn" => !have.is_some_and(|h| values.contains(&h)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

/// Labels that satisfy a `LabelSelector`, for objects the tool creates (e.g. a ServiceMonitor
/// that a Prometheus must select): `matchLabels` as they are, `In` → its first value,
/// `Exists` → "true". None when the selector cannot be satisfied by adding labels alone
/// (only `NotIn` / `DoesNotExist` constraints are always satisfied by absent labels).
pub fn labels_satisfying(selector: &Value) -> Option<serde_json::Map<String, Value>> {
    let mut out = serde_json::Map::new();
    if let Some(ml) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            out.insert(k.clone(), v.clone());
        }
    }
    if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str)?.to_string();
            let first = e
                .get("values")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .cloned();
            match e.get("operator").and_then(Value::as_str)? {
                "In" => {
                    out.insert(key, first?);
                }
                "Exists" => {
                    out.entry(key).or_insert(Value::String("true".into()));
                }
                "NotIn" | "DoesNotExist" => {}
                _ => return None,
            }
        }
    }
    let v = Value::Object(out.clone());
    matches(selector, &v).then_some(out)
}

/// Whether a namespace is selected by a `namespaceSelector` of a ServiceMonitor
/// (`{any: true}`, `{matchNames: [..]}`, or absent/empty = the monitor's own namespace).
/// The namespaces the operator's generated scrape configuration looks in for a ServiceMonitor
/// (or PodMonitor) of a Prometheus, as `getNamespacesFromNamespaceSelector` in the operator's
/// `pkg/prometheus/promcfg.go` decides: the Prometheus' `ignoreNamespaceSelectors: true` means
/// the monitor's own namespace only, whatever its `namespaceSelector` says; else `any: true` is
/// every namespace (None), `matchNames` those, and nothing the monitor's own namespace.
pub fn monitor_namespaces(prometheus: &Value, monitor: &Value) -> Option<Vec<String>> {
    let own = monitor["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    if crate::crd::PrometheusSpec::of(prometheus).ignores_namespace_selectors() {
        return Some(vec![own]);
    }
    let sel = &monitor["spec"]["namespaceSelector"];
    if sel["any"].as_bool() == Some(true) {
        return None;
    }
    match sel["matchNames"].as_array() {
        Some(names) if !names.is_empty() => Some(
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect(),
        ),
        _ => Some(vec![own]),
    }
}

/// Whether the operator's configuration for `monitor` of `prometheus` looks in `ns`
/// ([`monitor_namespaces`]).
pub fn monitor_looks_in(prometheus: &Value, monitor: &Value, ns: &str) -> bool {
    monitor_namespaces(prometheus, monitor).is_none_or(|v| v.iter().any(|n| n == ns))
}

pub fn sm_namespace_selected(namespace_selector: Option<&Value>, own_ns: &str, ns: &str) -> bool {
    let Some(sel) = namespace_selector.filter(|v| !v.is_null()) else {
        return ns == own_ns;
    };
    if sel.get("any").and_then(Value::as_bool) == Some(true) {
        return true;
    }
    match sel.get("matchNames").and_then(Value::as_array) {
        Some(names) if !names.is_empty() => names.iter().any(|n| n.as_str() == Some(ns)),
        _ => ns == own_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selector_semantics() {
        let sel = json!({"matchLabels": {"release": "prom"}, "matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}]});
        assert!(matches(&sel, &json!({"release": "prom", "team": "b"})));
        assert!(!matches(&sel, &json!({"release": "prom"})));
        assert!(matches(&json!({}), &json!({})));
        let labels = labels_satisfying(&sel).unwrap();
        assert!(matches(&sel, &Value::Object(labels)));
    }

    #[test]
    fn ignore_namespace_selectors_keeps_the_monitor_in_its_own_namespace() {
        let sm = json!({"metadata": {"namespace": "monitoring"},
                        "spec": {"namespaceSelector": {"matchNames": ["kube-system"]}}});
        let prom = json!({"spec": {}});
        assert_eq!(
            monitor_namespaces(&prom, &sm),
            Some(vec!["kube-system".to_string()])
        );
        assert!(monitor_looks_in(&prom, &sm, "kube-system"));
        let ignoring = json!({"spec": {"ignoreNamespaceSelectors": true}});
        assert_eq!(
            monitor_namespaces(&ignoring, &sm),
            Some(vec!["monitoring".to_string()])
        );
        assert!(!monitor_looks_in(&ignoring, &sm, "kube-system"));
        let any = json!({"metadata": {"namespace": "monitoring"}, "spec": {"namespaceSelector": {"any": true}}});
        assert_eq!(monitor_namespaces(&prom, &any), None);
        assert_eq!(
            monitor_namespaces(&ignoring, &any),
            Some(vec!["monitoring".to_string()])
        );
        let none = json!({"metadata": {"namespace": "monitoring"}, "spec": {}});
        assert_eq!(
            monitor_namespaces(&prom, &none),
            Some(vec!["monitoring".to_string()])
        );
    }

    #[test]
    fn namespace_selector_of_service_monitors() {
        assert!(sm_namespace_selected(None, "monitoring", "monitoring"));
        assert!(!sm_namespace_selected(None, "monitoring", "kube-system"));
        assert!(sm_namespace_selected(
            Some(&json!({"matchNames": ["kube-system"]})),
            "monitoring",
            "kube-system"
        ));
        assert!(sm_namespace_selected(
            Some(&json!({"any": true})),
            "monitoring",
            "x"
        ));
    }
}
