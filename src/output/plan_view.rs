//! A plan as people read it (a diff per object, Helm warnings) and as machines read it
//! (`-o yaml|json`). Secret data is always redacted unless `--show-secrets`.

use crate::cli::Output;
use crate::plan::{Op, Plan};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// `<redacted: 1234 bytes, sha256:0a1b2c3d>`: enough to see that a value changed, nothing of it.
pub fn redacted_marker(b64: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap_or_else(|_| b64.as_bytes().to_vec());
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("<redacted: {} bytes, sha256:{hex}>", bytes.len())
}

fn is_secret(v: &Value, kind_hint: Option<&str>) -> bool {
    v.get("kind").and_then(Value::as_str) == Some("Secret") || kind_hint == Some("Secret")
}

/// Redact the data of a Secret (object or patch); other objects are returned as they are.
pub fn redact(v: &Value, kind_hint: Option<&str>, show_secrets: bool) -> Value {
    let mut v = v.clone();
    if show_secrets || !is_secret(&v, kind_hint) {
        return v;
    }
    for field in ["data", "stringData"] {
        if let Some(map) = v.get_mut(field).and_then(Value::as_object_mut) {
            for (_, val) in map.iter_mut() {
                if let Some(s) = val.as_str() {
                    *val = json!(redacted_marker(s));
                }
            }
        }
    }
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut)
        && let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut)
    {
        // kubectl apply keeps the whole object, data included, in this annotation
        if a.contains_key("kubectl.kubernetes.io/last-applied-configuration") {
            a.insert(
                "kubectl.kubernetes.io/last-applied-configuration".into(),
                json!("<redacted>"),
            );
        }
    }
    v
}

/// What is shown of an object: no managedFields (noise), Secret data redacted.
fn display_value(v: &Value, kind: &str, show_secrets: bool) -> Value {
    crate::plan::without_server_fields(&redact(v, Some(kind), show_secrets))
}

fn yaml(v: &Value) -> String {
    serde_yaml_ng::to_string(v).unwrap_or_else(|_| v.to_string())
}

/// The human form: one block per change with a unified diff.
pub fn render(plan: &Plan, show_secrets: bool) -> String {
    let mut out = String::new();
    for note in &plan.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    for n in &plan.not_fixed {
        out.push_str(&format!("not fixed: {n}\n"));
    }
    if plan.changes.is_empty() {
        if plan.not_fixed.is_empty() {
            out.push_str("Nothing to change: the cluster is already as it should be.\n");
        } else {
            out.push_str(
                "Nothing this command can change: what is wrong is listed as `not fixed` above.\n",
            );
        }
        return out;
    }
    for (i, c) in plan.changes.iter().enumerate() {
        let (sym, what) = match c.op {
            Op::Create => ("+", "create"),
            Op::MergePatch { .. } | Op::Restart { .. } => ("~", "patch"),
            Op::Delete { .. } => ("-", "delete"),
        };
        out.push_str(&format!(
            "\n{sym} {}. {what} {}\n  why: {}\n",
            i + 1,
            c.object.display(),
            c.reason
        ));
        let gitops = c.before.as_ref().and_then(crate::plan::gitops_owner);
        match (&gitops, &c.helm) {
            (Some(g), _) => out.push_str(&format!("  warning: {}\n", g.warning())),
            (None, Some(h)) => out.push_str(&format!(
                "  warning: Helm release {:?} manages this object; `helm upgrade` will revert this change unless the values carry it (see --helm-values)\n",
                h.name
            )),
            (None, None) => {}
        }
        if c.after.is_none() {
            // A deletion: the object is named above; its whole body would only be noise.
            continue;
        }
        let before = c
            .before
            .as_ref()
            .map(|v| yaml(&display_value(v, &c.object.kind, show_secrets)))
            .unwrap_or_default();
        let after = c
            .after
            .as_ref()
            .map(|v| yaml(&display_value(v, &c.object.kind, show_secrets)))
            .unwrap_or_default();
        let diff = similar::TextDiff::from_lines(&before, &after);
        for line in diff.unified_diff().context_radius(3).to_string().lines() {
            if line.starts_with("@@") {
                continue;
            }
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The machine form: a `v1 List` of the objects as they will be (deletions as the object
/// with an annotation saying so), redacted unless asked.
pub fn objects(plan: &Plan, format: Output, show_secrets: bool) -> String {
    let items: Vec<Value> = plan
        .changes
        .iter()
        .map(|c| match &c.after {
            Some(a) => display_value(a, &c.object.kind, show_secrets),
            None => {
                let mut b = c
                    .before
                    .as_ref()
                    .map(|b| display_value(b, &c.object.kind, show_secrets))
                    .unwrap_or(Value::Null);
                b["metadata"]["annotations"]["promfix.kubectl/planned"] = json!("delete");
                b
            }
        })
        .collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items});
    match format {
        Output::Yaml => yaml(&list),
        Output::Json => serde_json::to_string_pretty(&list).unwrap_or_default() + "\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Change, ObjectRef};

    fn secret_plan() -> Plan {
        let key_b64 = "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUV2UUlCQURBTg==";
        Plan {
            changes: vec![Change {
                object: ObjectRef::of(
                    "v1",
                    "Secret",
                    "secrets",
                    Some("monitoring"),
                    "etcd-client-cert",
                ),
                before: None,
                after: Some(json!({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "etcd-client-cert", "namespace": "monitoring"},
                    "data": {"etcd-client-key": key_b64}})),
                op: Op::Create,
                reason: "r".into(),
                helm: None,
            }],
            notes: vec![],
            not_fixed: vec![],
        }
    }

    #[test]
    fn secret_data_never_shows_unless_asked() {
        let p = secret_plan();
        for text in [
            render(&p, false),
            objects(&p, Output::Yaml, false),
            objects(&p, Output::Json, false),
        ] {
            assert!(!text.contains("LS0tLS1CRUdJTi"), "{text}");
            assert!(!text.contains("PRIVATE KEY"), "{text}");
            assert!(text.contains("<redacted: "), "{text}");
        }
        assert!(objects(&p, Output::Yaml, true).contains("LS0tLS1CRUdJTi"));
    }

    #[test]
    fn diff_shows_the_removed_selector() {
        let before = json!({"kind": "Service", "metadata": {"name": "etcd"}, "spec": {"selector": {"component": "etcd"}}});
        let after = json!({"kind": "Service", "metadata": {"name": "etcd"}, "spec": {}});
        let p = Plan {
            changes: vec![Change {
                object: ObjectRef::of("v1", "Service", "services", Some("kube-system"), "etcd"),
                before: Some(before),
                after: Some(after),
                op: Op::MergePatch { patch: json!({}) },
                reason: "remove the selector".into(),
                helm: Some(crate::plan::HelmRelease {
                    name: "prom".into(),
                    namespace: None,
                }),
            }],
            notes: vec![],
            not_fixed: vec![],
        };
        let text = render(&p, false);
        assert!(text.contains("-    component: etcd"), "{text}");
        assert!(text.contains("helm upgrade"), "{text}");
    }
}
