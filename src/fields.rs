//! An object's fields at the level of JSON merge-patch paths (RFC 7386): objects are walked key
//! by key, lists and scalars are whole values (a merge patch replaces a list whole). Rollback
//! uses them to restore only what a run changed.

use serde_json::{Map, Value};

/// One field a write changed: its path, the value before and the value written (None: absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub path: Vec<String>,
    pub before: Option<Value>,
    pub wrote: Option<Value>,
}

/// The fields that differ between `before` and `after`, at the paths a merge patch from one to
/// the other would set.
pub fn changed(before: &Value, after: &Value) -> Vec<Field> {
    let mut out = Vec::new();
    walk(before, after, &mut Vec::new(), &mut out);
    out
}

fn walk(b: &Value, a: &Value, path: &mut Vec<String>, out: &mut Vec<Field>) {
    if b == a {
        return;
    }
    match (b, a) {
        (Value::Object(bm), Value::Object(am)) => {
            let keys = am.keys().chain(bm.keys().filter(|k| !am.contains_key(*k)));
            for k in keys {
                path.push(k.clone());
                match (bm.get(k), am.get(k)) {
                    (Some(bv), Some(av)) => walk(bv, av, path, out),
                    (bv, av) => out.push(Field {
                        path: path.clone(),
                        before: bv.cloned(),
                        wrote: av.cloned(),
                    }),
                }
                path.pop();
            }
        }
        _ => out.push(Field {
            path: path.clone(),
            before: Some(b.clone()),
            wrote: Some(a.clone()),
        }),
    }
}

/// Every leaf of an object (objects walked, lists and scalars whole; an empty object is a leaf).
pub fn leaves(v: &Value) -> Vec<(Vec<String>, Value)> {
    fn go(v: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Value)>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, x) in m {
                    path.push(k.clone());
                    go(x, path, out);
                    path.pop();
                }
            }
            _ => out.push((path.clone(), v.clone())),
        }
    }
    let mut out = Vec::new();
    go(v, &mut Vec::new(), &mut out);
    out
}

/// The value at a path (None: absent, or a parent is not an object).
pub fn get<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.as_object()?.get(k))
}

/// Set the value at a path, creating the objects on the way (a non-object on the way is
/// replaced by one).
pub fn set(v: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *v = value;
        return;
    };
    let mut cur = v;
    for k in parents {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        cur = cur
            .as_object_mut()
            .map(|m| m.entry(k.clone()).or_insert(Value::Object(Map::new())))
            .expect("an object");
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    if let Some(m) = cur.as_object_mut() {
        m.insert(last.clone(), value);
    }
}

/// An empty value: what the API server drops when it stores an object (`false`, `0`, `""`, an
/// empty list or object, `null`), so a written empty value that is absent now was not changed.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_empty),
    }
}

/// Whether `now` is still what was written: every field written has its value (what the API
/// server added, its defaults, does not count; lists item by item, same length).
pub fn still_written(wrote: &Value, now: &Value) -> bool {
    match (wrote, now) {
        (Value::Object(w), Value::Object(n)) => w.iter().all(|(k, wv)| match n.get(k) {
            Some(nv) => still_written(wv, nv),
            None => is_empty(wv),
        }),
        (Value::Array(w), Value::Array(n)) => {
            w.len() == n.len() && w.iter().zip(n).all(|(w, n)| still_written(w, n))
        }
        (w, n) => w == n,
    }
}

/// [`still_written`] for fields that may be absent.
pub fn still_written_opt(wrote: Option<&Value>, now: Option<&Value>) -> bool {
    match (wrote, now) {
        (None, None) => true,
        (None, Some(n)) => n.is_null(),
        (Some(w), None) => is_empty(w),
        (Some(w), Some(n)) => still_written(w, n),
    }
}

/// A JSON merge patch (RFC 7386) applied to `target`.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => Map::new(),
    };
    for (k, pv) in p {
        if pv.is_null() {
            out.remove(k);
        } else {
            let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), pv);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

/// A path as people read it: `spec.endpoints`, keys with a dot or slash quoted
/// (`metadata.annotations["kubectl.kubernetes.io/restartedAt"]`).
pub fn display_path(path: &[String]) -> String {
    let mut s = String::new();
    for k in path {
        if k.contains(['.', '/', '[', ']', '"', ' ']) {
            s.push_str(&format!("[{k:?}]"));
        } else {
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(k);
        }
    }
    if s.is_empty() {
        "(the object)".into()
    } else {
        s
    }
}

/// Where two values differ, down to the leaves (objects by key, lists by index when of the same
/// length): each place as people read it (`[0].tlsConfig.serverName`), with both values.
pub fn differences(a: &Value, b: &Value) -> Vec<(String, Option<Value>, Option<Value>)> {
    fn go(
        a: Option<&Value>,
        b: Option<&Value>,
        at: &str,
        out: &mut Vec<(String, Option<Value>, Option<Value>)>,
    ) {
        if a == b {
            return;
        }
        let key = |k: &str| {
            if k.contains(['.', '/', '[', ']', '"', ' ']) {
                format!("{at}[{k:?}]")
            } else if at.is_empty() {
                k.to_string()
            } else {
                format!("{at}.{k}")
            }
        };
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                    go(x.get(k), y.get(k), &key(k), out);
                }
            }
            (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => {
                for (i, (x, y)) in x.iter().zip(y).enumerate() {
                    go(Some(x), Some(y), &format!("{at}[{i}]"), out);
                }
            }
            _ => out.push((at.to_string(), a.cloned(), b.cloned())),
        }
    }
    let mut out = Vec::new();
    go(Some(a), Some(b), "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(str::to_string).collect()
    }

    #[test]
    fn changed_fields_are_merge_patch_paths_with_lists_whole() {
        let before = json!({"spec": {"image": "a", "selector": {"component": "etcd"},
                                     "ports": [{"port": 2381}], "keep": 1}});
        let after = json!({"spec": {"image": "a", "ports": [{"port": 2379}], "keep": 1,
                                    "tls": {"ca": "x"}}});
        let f = changed(&before, &after);
        assert_eq!(
            f,
            vec![
                Field {
                    path: p("spec.ports"),
                    before: Some(json!([{"port": 2381}])),
                    wrote: Some(json!([{"port": 2379}])),
                },
                Field {
                    path: p("spec.tls"),
                    before: None,
                    wrote: Some(json!({"ca": "x"})),
                },
                Field {
                    path: p("spec.selector"),
                    before: Some(json!({"component": "etcd"})),
                    wrote: None,
                },
            ]
        );
        assert!(changed(&before, &before).is_empty());
    }

    #[test]
    fn get_set_and_leaves() {
        let mut v = json!({"spec": {"a": 1}});
        assert_eq!(get(&v, &p("spec.a")), Some(&json!(1)));
        assert_eq!(get(&v, &p("spec.a.b")), None);
        set(&mut v, &p("spec.b.c"), json!("x"));
        set(&mut v, &p("spec.a"), Value::Null);
        assert_eq!(v, json!({"spec": {"a": null, "b": {"c": "x"}}}));
        let l = leaves(&json!({"a": {"b": [1], "c": {}}, "d": "x"}));
        assert_eq!(
            l,
            vec![
                (p("a.b"), json!([1])),
                (p("a.c"), json!({})),
                (p("d"), json!("x"))
            ]
        );
    }

    #[test]
    fn server_defaults_do_not_count_as_a_change() {
        // The API server adds protocol: TCP to a port and drops an empty flag.
        let wrote = json!([{"name": "m", "port": 2379, "tls": {"insecure": false}}]);
        let now = json!([{"name": "m", "port": 2379, "protocol": "TCP"}]);
        assert!(still_written(&wrote, &now));
        assert!(!still_written(
            &wrote,
            &json!([{"name": "m", "port": 2381}])
        ));
        assert!(!still_written(&wrote, &json!([])));
        assert!(still_written_opt(None, None));
        assert!(!still_written_opt(None, Some(&json!("x"))));
        assert!(!still_written_opt(Some(&json!("x")), None));
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let t = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        let patch = json!({"a": {"b": null, "d": 3}, "l": [3]});
        assert_eq!(
            merge_patch(&t, &patch),
            json!({"a": {"c": 2, "d": 3}, "l": [3]})
        );
    }

    #[test]
    fn differences_name_the_leaves() {
        let a = json!([{"port": "m", "tls": {"ca": "x"}}]);
        let b = json!([{"port": "m", "tls": {"ca": "x", "serverName": "e"}}]);
        assert_eq!(
            differences(&a, &b),
            vec![("[0].tls.serverName".to_string(), None, Some(json!("e")))]
        );
        assert_eq!(
            differences(&json!([1]), &json!([1, 2])),
            vec![(String::new(), Some(json!([1])), Some(json!([1, 2])))]
        );
    }

    #[test]
    fn paths_read_as_people_write_them() {
        assert_eq!(display_path(&p("spec.image")), "spec.image");
        let ann = vec![
            "metadata".into(),
            "annotations".into(),
            "kubectl.kubernetes.io/restartedAt".into(),
        ];
        assert_eq!(
            display_path(&ann),
            "metadata.annotations[\"kubectl.kubernetes.io/restartedAt\"]"
        );
    }
}
