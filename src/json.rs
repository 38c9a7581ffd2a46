//! The small accessors for the objects the plugin keeps as JSON (the ones whose unknown fields
//! must survive: backups, diffs, patches, and the reads not yet typed). One place, so that every
//! module reads a name, a label or a pod's readiness the same way.

use serde_json::Value;

/// The string at a path, None when a key is missing or the value is not a string.
pub fn opt_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |cur, p| cur.get(*p))?.as_str()
}

/// The string at a path, "" when a key is missing or the value is not a string.
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    opt_str(v, path).unwrap_or("")
}

/// `metadata.name` ("" when absent).
pub fn name(v: &Value) -> &str {
    str_at(v, &["metadata", "name"])
}

/// `metadata.namespace` ("" when absent).
pub fn namespace(v: &Value) -> &str {
    str_at(v, &["metadata", "namespace"])
}

/// `metadata.labels` (Null when absent).
pub fn labels(v: &Value) -> Value {
    v.get("metadata")
        .and_then(|m| m.get("labels"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The strings of a list (non-strings skipped; empty when not a list).
pub fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

/// A container's command line: `command` then `args`.
pub fn command_line(container: &Value) -> Vec<String> {
    ["command", "args"]
        .iter()
        .flat_map(|f| str_list(&container[*f]))
        .collect()
}

/// A pod's Ready condition is True.
pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accessors_read_what_is_there_and_nothing_else() {
        let v = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "n": 3,
                       "l": ["a", 1, "b"],
                       "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(name(&v), "a");
        assert_eq!(namespace(&v), "");
        assert_eq!(opt_str(&v, &["n"]), None);
        assert_eq!(labels(&v), json!({"x": "1"}));
        assert_eq!(labels(&json!({})), Value::Null);
        assert_eq!(str_list(&v["l"]), vec!["a", "b"]);
        assert!(is_ready(&v));
        assert!(!is_ready(&json!({})));
    }
}
