//! managedFields: field ownership per manager, as the real API server's field manager keeps it
//! (k8s.io/apimachinery/pkg/util/managedfields/internal: fieldmanager.go, structuredmerge.go,
//! stripmeta.go, managedfieldsupdater.go, skipnonapplied.go; sigs.k8s.io/structured-merge-diff
//! merge/update.go `Updater.Update`).
//!
//! `track` is called by the store on every write (create, update, patch, apply) to update
//! `metadata.managedFields`; server-side apply itself lives in `patch::apply`.

use crate::patch::fieldset::{self, PE, Set};
use crate::patch::schema::{self, Ty};
use crate::store::WriteCtx;
use serde_json::{Map, Value, json};

/// One managedFields entry, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub manager: String,
    /// `Update` or `Apply`.
    pub operation: String,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: Option<String>,
    pub set: Set,
}

/// The entries of `obj.metadata.managedFields` (entries that are not objects are skipped).
pub fn decode(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
            e.as_object()?;
            Some(Entry {
                manager: s("manager").unwrap_or_default(),
                operation: s("operation").unwrap_or_default(),
                api_version: s("apiVersion").unwrap_or_default(),
                time: s("time"),
                subresource: s("subresource").filter(|x| !x.is_empty()),
                set: e
                    .get("fieldsV1")
                    .map(Set::from_fields_v1)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The managedFields list, sorted as `sortEncodedManagedFields` sorts it: operation, time,
/// manager, apiVersion, subresource.
pub fn encode(mut entries: Vec<Entry>) -> Value {
    entries.sort_by(|a, b| {
        (
            &a.operation,
            a.time.as_deref().unwrap_or(""),
            &a.manager,
            &a.api_version,
            a.subresource.as_deref().unwrap_or(""),
        )
            .cmp(&(
                &b.operation,
                b.time.as_deref().unwrap_or(""),
                &b.manager,
                &b.api_version,
                b.subresource.as_deref().unwrap_or(""),
            ))
    });
    Value::Array(
        entries
            .into_iter()
            .map(|e| {
                let mut m = Map::new();
                m.insert("manager".into(), json!(e.manager));
                m.insert("operation".into(), json!(e.operation));
                m.insert("apiVersion".into(), json!(e.api_version));
                if let Some(t) = e.time {
                    m.insert("time".into(), json!(t));
                }
                m.insert("fieldsType".into(), json!("FieldsV1"));
                m.insert("fieldsV1".into(), e.set.to_fields_v1());
                if let Some(s) = e.subresource {
                    m.insert("subresource".into(), json!(s));
                }
                Value::Object(m)
            })
            .collect(),
    )
}

/// capmanagers.go: at most this many Update entries; the oldest are merged, per apiVersion, into
/// an `ancient-changes` entry.
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// BuildManagerIdentifier: the JSON of the entry without time and fields (apiVersion dropped for
/// appliers), which orders entries of equal time.
fn identifier(e: &Entry) -> String {
    let mut m = Map::new();
    m.insert("manager".into(), json!(e.manager));
    m.insert("operation".into(), json!(e.operation));
    if e.operation != "Apply" {
        m.insert("apiVersion".into(), json!(e.api_version));
    }
    if let Some(s) = &e.subresource {
        m.insert("subresource".into(), json!(s));
    }
    Value::Object(m).to_string()
}

/// capManagersManager.capUpdateManagers.
pub fn cap_update_managers(entries: &mut Vec<Entry>) {
    let mut updaters: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].operation != "Apply")
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort_by(|&a, &b| {
        let ta = entries[a].time.clone().unwrap_or_default();
        let tb = entries[b].time.clone().unwrap_or_default();
        ta.cmp(&tb)
            .then_with(|| identifier(&entries[a]).cmp(&identifier(&entries[b])))
    });
    let mut length = updaters.len();
    let mut first_of_version: Vec<(String, usize)> = Vec::new();
    let mut bucket_of_version: Vec<(String, usize)> = Vec::new();
    let mut dropped: Vec<usize> = Vec::new();
    for &i in &updaters {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let version = entries[i].api_version.clone();
        match first_of_version
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, f)| *f)
        {
            Some(first) => {
                let bucket = match bucket_of_version.iter().find(|(v, _)| *v == version) {
                    Some((_, b)) => *b,
                    None => {
                        // the first entry of this version becomes the bucket
                        entries[first].manager = "ancient-changes".into();
                        entries[first].subresource = None;
                        bucket_of_version.push((version.clone(), first));
                        first
                    }
                };
                let set = entries[i].set.clone();
                entries[bucket].set = entries[bucket].set.union(&set);
                entries[bucket].time = entries[i].time.clone();
                dropped.push(i);
                length -= 1;
            }
            None => first_of_version.push((version, i)),
        }
    }
    let mut idx = 0;
    entries.retain(|_| {
        let keep = !dropped.contains(&idx);
        idx += 1;
        keep
    });
}

/// stripmeta.go: paths no manager ever owns.
pub fn strip_set() -> Set {
    let mut s = Set::new();
    let f = |x: &str| PE::Field(x.to_string());
    s.insert(vec![f("apiVersion")]);
    s.insert(vec![f("kind")]);
    s.insert(vec![f("metadata")]);
    for m in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        s.insert(vec![f("metadata"), f(m)]);
    }
    s
}

/// The served type of an object, by apiVersion and kind (built-in and operator types).
fn type_of(obj: &Value) -> Option<crate::resources::ResourceType> {
    let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    crate::resources::builtin()
        .into_iter()
        .chain(crate::resources::prometheus_operator())
        .find(|t| t.kind == kind && (av.is_empty() || t.api_version() == av))
}

fn without_managed(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

/// Update `new.metadata.managedFields` for a write by `ctx.manager` with `ctx.operation`
/// (`Update` or `Apply`), given the object before the write (`None` on create).
///
/// For `Update`, the fields this write set or changed become owned by the manager (operation
/// Update, this apiVersion, the time, the subresource) and are taken from the other managers;
/// removed fields are dropped from every manager; entries left empty are dropped. For `Apply`,
/// the entries `patch::apply` computed are kept (a missing time is set).
pub fn track(old: Option<&Value>, new: &mut Value, api_version: &str, ctx: &WriteCtx) {
    let now = crate::store::now_rfc3339();
    if ctx.operation == "Apply" {
        if let Some(list) = new
            .get_mut("metadata")
            .and_then(|m| m.get_mut("managedFields"))
            .and_then(Value::as_array_mut)
        {
            for e in list {
                if e.get("manager").and_then(Value::as_str) == Some(ctx.manager.as_str())
                    && e.get("operation").and_then(Value::as_str) == Some("Apply")
                    && e.get("time").is_none()
                    && let Some(m) = e.as_object_mut()
                {
                    m.insert("time".into(), json!(now));
                }
            }
        }
        return;
    }
    // fieldmanager.go decodeManagedFields: the managedFields a request carries replace the
    // stored ones, except on a subresource; `[]` or `[{}]` resets them; a list that decodes to
    // nothing falls back to the stored ones.
    let requested = new
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .cloned();
    let stored = || old.map(decode).unwrap_or_default();
    let mut entries = if ctx.subresource.is_some() {
        stored()
    } else {
        match &requested {
            Some(r)
                if r.is_empty()
                    || (r.len() == 1 && r[0].as_object().is_some_and(|o| o.is_empty())) =>
            {
                Vec::new()
            }
            Some(_) => {
                let d = decode(new);
                if d.is_empty() { stored() } else { d }
            }
            None => stored(),
        }
    };
    // skipnonapplied.go: an existing object without managedFields is not tracked on update.
    if old.is_some() && entries.is_empty() {
        set_managed(new, Vec::new());
        return;
    }
    let rt = type_of(new);
    let ty = rt.as_ref().map(schema::root).unwrap_or(Ty::Deduced);
    let lhs = match old {
        Some(o) => without_managed(o),
        None => json!({}),
    };
    let rhs = without_managed(new);
    let mut cmp = fieldset::compare(Some(&lhs), Some(&rhs), ty);
    let strip = strip_set();
    cmp.added = cmp.added.difference(&strip);
    cmp.modified = cmp.modified.difference(&strip);
    cmp.removed = cmp.removed.difference(&strip);
    match ctx.subresource.as_deref() {
        Some(sub) => {
            // the fields a subresource writes: `status`, or `spec.replicas` through `scale`
            let mut keep = Set::new();
            if sub == "scale" {
                keep.insert(vec![PE::Field("spec".into()), PE::Field("replicas".into())]);
            } else {
                keep.insert(vec![PE::Field(sub.to_string())]);
            }
            cmp = cmp.only_under(&keep);
        }
        None if rt.as_ref().is_some_and(|t| t.has_subresource("status")) => {
            let mut ignore = Set::new();
            ignore.insert(vec![PE::Field("status".into())]);
            cmp = cmp.without_under(&ignore);
        }
        None => {}
    }
    let op_set = cmp.added.union(&cmp.modified);
    let mine = |e: &Entry| {
        e.manager == ctx.manager
            && e.operation == "Update"
            && e.api_version == api_version
            && e.subresource == ctx.subresource
    };
    for e in entries.iter_mut() {
        e.set = e.set.difference(&op_set).difference(&cmp.removed);
    }
    if !op_set.is_empty() {
        match entries.iter_mut().find(|e| mine(e)) {
            Some(e) => {
                e.set = e.set.union(&op_set);
                e.time = Some(now);
            }
            None => entries.push(Entry {
                manager: ctx.manager.clone(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: Some(now),
                subresource: ctx.subresource.clone(),
                set: op_set,
            }),
        }
    }
    entries.retain(|e| !e.set.is_empty());
    cap_update_managers(&mut entries);
    set_managed(new, entries);
}

fn set_managed(new: &mut Value, entries: Vec<Entry>) {
    let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), encode(entries));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(obj: &Value, manager: &str) -> Value {
        obj["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["manager"] == manager)
            .unwrap_or_else(|| panic!("no entry for {manager}: {obj}"))["fieldsV1"]
            .clone()
    }

    fn created(obj: Value, manager: &str) -> Value {
        let mut o = obj;
        track(None, &mut o, "v1", &WriteCtx::update(manager));
        o
    }

    /// A Service created by helm: the shape of the real entry (kubectl get -o yaml
    /// --show-managed-fields): struct fields without `.`, the labels map and a new list item
    /// with `.`, ports keyed by port and protocol, the atomic selector as a leaf.
    #[test]
    fn create_records_the_real_fields_v1_shape() {
        let svc = created(
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "etcd", "namespace": "kube-system", "uid": "u", "resourceVersion": "5",
                             "creationTimestamp": "2024-01-01T00:00:00Z", "labels": {"app": "etcd"}},
                "spec": {"selector": {"component": "etcd"}, "clusterIP": "None",
                         "ports": [{"name": "metrics", "port": 2379, "protocol": "TCP", "targetPort": 2379}]}}),
            "helm",
        );
        assert_eq!(
            fields(&svc, "helm"),
            json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                   "f:spec": {"f:clusterIP": {}, "f:selector": {},
                              "f:ports": {".": {}, "k:{\"port\":2379,\"protocol\":\"TCP\"}": {
                                  ".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}}}})
        );
        let e = &svc["metadata"]["managedFields"][0];
        assert_eq!(e["operation"], "Update");
        assert_eq!(e["apiVersion"], "v1");
        assert_eq!(e["fieldsType"], "FieldsV1");
        assert!(e["time"].is_string());
        assert!(e.get("subresource").is_none());
    }

    /// structured-merge-diff Updater.Update: a changed field moves to the writer; a removed one
    /// leaves every manager; an emptied entry disappears.
    #[test]
    fn update_moves_changed_fields_and_drops_empty_entries() {
        let svc = created(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x", "namespace": "d"},
                   "spec": {"selector": {"a": "b"}, "clusterIP": "None"}}),
            "helm",
        );
        let mut next = svc.clone();
        next["spec"]["selector"] = json!({"a": "c"});
        track(
            Some(&svc),
            &mut next,
            "v1",
            &WriteCtx::update("kubectl-edit"),
        );
        assert_eq!(
            fields(&next, "kubectl-edit"),
            json!({"f:spec": {"f:selector": {}}})
        );
        assert_eq!(
            fields(&next, "helm"),
            json!({"f:spec": {"f:clusterIP": {}}})
        );
        let mut next2 = next.clone();
        next2["spec"].as_object_mut().unwrap().remove("clusterIP");
        track(Some(&next), &mut next2, "v1", &WriteCtx::update("other"));
        let managers: Vec<&str> = next2["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, vec!["kubectl-edit"]);
    }

    #[test]
    fn status_writes_record_the_subresource_and_main_writes_ignore_status() {
        let pod = created(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "d"},
                   "spec": {"containers": [{"name": "c", "image": "i"}]}, "status": {"phase": "Pending"}}),
            "kubectl",
        );
        assert!(fields(&pod, "kubectl").get("f:status").is_none());
        let mut next = pod.clone();
        next["status"]["phase"] = json!("Running");
        let mut ctx = WriteCtx::update("kubelet");
        ctx.subresource = Some("status".into());
        track(Some(&pod), &mut next, "v1", &ctx);
        let e = next["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["manager"] == "kubelet")
            .unwrap()
            .clone();
        assert_eq!(e["subresource"], "status");
        assert_eq!(e["fieldsV1"], json!({"f:status": {"f:phase": {}}}));
    }

    /// A custom resource is unstructured: no Go zero values, so a new `spec` is itself added.
    #[test]
    fn custom_resource_spec_gets_the_self_marker() {
        let p = created(
            json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
                   "metadata": {"name": "k8s", "namespace": "monitoring"},
                   "spec": {"replicas": 1, "secrets": ["a"]}}),
            "helm",
        );
        assert_eq!(
            fields(&p, "helm"),
            json!({"f:spec": {".": {}, "f:replicas": {}, "f:secrets": {".": {}, "v:\"a\"": {}}}})
        );
    }

    /// skipnonapplied.go: updating an object that has no managedFields does not start tracking.
    #[test]
    fn no_tracking_without_managed_fields_and_reset_with_one_empty_entry() {
        let old = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}});
        let mut new = old.clone();
        new["data"]["k"] = json!("w");
        track(Some(&old), &mut new, "v1", &WriteCtx::update("x"));
        assert!(new["metadata"].get("managedFields").is_none());
        let with = created(old.clone(), "x");
        let mut cleared = with.clone();
        cleared["metadata"]["managedFields"] = json!([{}]);
        track(Some(&with), &mut cleared, "v1", &WriteCtx::update("y"));
        assert!(cleared["metadata"].get("managedFields").is_none());
        // `[]` resets too (isResetManagedFields); a subresource write ignores the request's list
        let mut emptied = with.clone();
        emptied["metadata"]["managedFields"] = json!([]);
        track(Some(&with), &mut emptied, "v1", &WriteCtx::update("y"));
        assert!(emptied["metadata"].get("managedFields").is_none());
    }

    /// capmanagers.go: an 11th Update manager merges the two oldest into `ancient-changes`.
    #[test]
    fn more_than_ten_update_managers_are_capped() {
        let mut cm = created(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k0": "v"}}),
            "m00",
        );
        // distinct, increasing times
        let set_time = |o: &mut Value, i: usize| {
            for e in o["metadata"]["managedFields"].as_array_mut().unwrap() {
                if e["manager"] == format!("m{i:02}") {
                    e["time"] = json!(format!("2024-01-01T00:00:{i:02}Z"));
                }
            }
        };
        set_time(&mut cm, 0);
        for i in 1..=10 {
            let mut next = cm.clone();
            next["data"][format!("k{i}")] = json!("v");
            track(
                Some(&cm),
                &mut next,
                "v1",
                &WriteCtx::update(&format!("m{i:02}")),
            );
            set_time(&mut next, i);
            cm = next;
        }
        let managers: Vec<String> = cm["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(managers.len(), 10, "{managers:?}");
        assert!(managers.contains(&"ancient-changes".to_string()));
        assert!(!managers.contains(&"m00".to_string()));
        assert!(!managers.contains(&"m01".to_string()));
        assert_eq!(
            fields(&cm, "ancient-changes"),
            json!({"f:data": {".": {}, "f:k0": {}, "f:k1": {}}})
        );
    }
}
