//! Label and field selectors: the query-string grammar (`a=b,c!=d,e in (x,y),!f`) and the
//! `LabelSelector` object (`matchLabels`, `matchExpressions`) of ServiceMonitors and others.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed selector: all requirements must hold. Empty selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector(pub Vec<Requirement>);

fn label<'a>(labels: &'a Value, key: &str) -> Option<&'a str> {
    labels.get(key).and_then(Value::as_str)
}

impl Requirement {
    fn matches(&self, labels: &Value) -> bool {
        match self {
            Requirement::Eq(k, v) => label(labels, k) == Some(v.as_str()),
            Requirement::NotEq(k, v) => label(labels, k) != Some(v.as_str()),
            Requirement::In(k, vs) => label(labels, k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => {
                !label(labels, k).is_some_and(|l| vs.iter().any(|v| v == l))
            }
            Requirement::Exists(k) => label(labels, k).is_some(),
            Requirement::NotExists(k) => label(labels, k).is_none(),
        }
    }
}

impl Selector {
    /// Parse the `labelSelector` query parameter.
    pub fn parse(s: &str) -> Result<Selector, String> {
        let mut reqs = Vec::new();
        let mut rest = s.trim();
        while !rest.is_empty() {
            // split at the next comma that is not inside parentheses
            let mut depth = 0;
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    ',' if depth == 0 => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            let part = rest[..end].trim();
            rest = if end < rest.len() {
                rest[end + 1..].trim()
            } else {
                ""
            };
            if part.is_empty() {
                return Err(format!(
                    "unable to parse requirement: found '', expected: identifier in {s:?}"
                ));
            }
            reqs.push(parse_requirement(part)?);
        }
        Ok(Selector(reqs))
    }

    /// From a `LabelSelector` object. `None` (absent) selects nothing when `absent_matches_all` is
    /// false, everything when true; an empty object `{}` selects everything.
    pub fn from_label_selector(sel: Option<&Value>, absent_matches_all: bool) -> Option<Selector> {
        let Some(sel) = sel.filter(|v| !v.is_null()) else {
            return if absent_matches_all {
                Some(Selector::default())
            } else {
                None
            };
        };
        let mut reqs = Vec::new();
        if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in ml {
                reqs.push(Requirement::Eq(
                    k.clone(),
                    v.as_str().unwrap_or("").to_string(),
                ));
            }
        }
        if let Some(me) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in me {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                    "In" => reqs.push(Requirement::In(key, values)),
                    "NotIn" => reqs.push(Requirement::NotIn(key, values)),
                    "Exists" => reqs.push(Requirement::Exists(key)),
                    "DoesNotExist" => reqs.push(Requirement::NotExists(key)),
                    _ => return None,
                }
            }
        }
        Some(Selector(reqs))
    }

    /// A Service's `spec.selector` map (equality only).
    pub fn from_map(map: &Value) -> Selector {
        Selector(
            map.as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            Requirement::Eq(k.clone(), v.as_str().unwrap_or("").to_string())
                        })
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    /// Whether the labels (a JSON object, or null) satisfy every requirement.
    pub fn matches(&self, labels: &Value) -> bool {
        self.0.iter().all(|r| r.matches(labels))
    }

    /// Whether an object's `metadata.labels` satisfy the selector.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(&obj["metadata"]["labels"])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn values_list(s: &str) -> Result<Vec<String>, String> {
    let s = s.trim();
    let inner = s
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .ok_or_else(|| format!("unable to parse requirement: expected '(' in {s:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn parse_requirement(p: &str) -> Result<Requirement, String> {
    if let Some(k) = p.strip_prefix('!') {
        return Ok(Requirement::NotExists(k.trim().to_string()));
    }
    if let Some((k, v)) = p.split_once("!=") {
        return Ok(Requirement::NotEq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = p.split_once("==") {
        return Ok(Requirement::Eq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = p.split_once('=') {
        return Ok(Requirement::Eq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = p.split_once(" notin ") {
        return Ok(Requirement::NotIn(k.trim().into(), values_list(v)?));
    }
    if let Some((k, v)) = p.split_once(" in ") {
        return Ok(Requirement::In(k.trim().into(), values_list(v)?));
    }
    if p.contains(char::is_whitespace) || p.contains('(') {
        return Err(format!("unable to parse requirement: {p:?}"));
    }
    Ok(Requirement::Exists(p.to_string()))
}

/// A field selector: only `metadata.name` and `metadata.namespace` (and `spec.nodeName` for pods),
/// as the plugin needs; others answer an error like the real server's.
pub fn field_matches(sel: &str, obj: &Value) -> Result<bool, String> {
    for part in sel.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v, neg) = if let Some((k, v)) = part.split_once("!=") {
            (k, v, true)
        } else if let Some((k, v)) = part.split_once("==") {
            (k, v, false)
        } else if let Some((k, v)) = part.split_once('=') {
            (k, v, false)
        } else {
            return Err(format!(
                "invalid selector: '{part}'; can't understand '{part}'"
            ));
        };
        let actual = match k.trim() {
            "metadata.name" => obj["metadata"]["name"].as_str(),
            "metadata.namespace" => obj["metadata"]["namespace"].as_str(),
            "spec.nodeName" => obj["spec"]["nodeName"].as_str(),
            "status.phase" => obj["status"]["phase"].as_str(),
            other => return Err(format!("field label not supported: {other}")),
        };
        let eq = actual.unwrap_or("") == v.trim();
        if eq == neg {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_query_grammar() {
        let s = Selector::parse("app=etcd, tier in (a,b),!gone,release!=x").unwrap();
        assert!(s.matches(&json!({"app": "etcd", "tier": "b"})));
        assert!(!s.matches(&json!({"app": "etcd", "tier": "c"})));
        assert!(!s.matches(&json!({"app": "etcd", "tier": "a", "gone": "1"})));
        assert!(Selector::parse("").unwrap().matches(&Value::Null));
    }

    #[test]
    fn label_selector_objects() {
        let s = Selector::from_label_selector(
            Some(&json!({"matchLabels": {"release": "prom"}, "matchExpressions": [{"key": "k", "operator": "Exists"}]})),
            false,
        )
        .unwrap();
        assert!(s.matches(&json!({"release": "prom", "k": ""})));
        assert!(!s.matches(&json!({"release": "prom"})));
        assert!(Selector::from_label_selector(None, false).is_none());
        assert!(
            Selector::from_label_selector(Some(&json!({})), false)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn field_selector() {
        let o = json!({"metadata": {"name": "a", "namespace": "n"}});
        assert!(field_matches("metadata.name=a", &o).unwrap());
        assert!(!field_matches("metadata.name=b", &o).unwrap());
        assert!(field_matches("metadata.name!=b,metadata.namespace=n", &o).unwrap());
        assert!(field_matches("spec.foo=1", &o).is_err());
    }
}
