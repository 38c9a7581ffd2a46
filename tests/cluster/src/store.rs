//! The object store: what etcd and the registry strategies are to a real API server.
//!
//! Objects are kept as JSON, keyed by resource type, namespace and name. Every write goes through
//! here, whether it comes from an HTTP request or from a controller, so server-owned metadata
//! (uid, resourceVersion, generation, creationTimestamp, managedFields) is set in one place, and
//! every change is an event for watches and controllers.

use crate::managed;
use crate::resources::{Registry, ResourceType};
use crate::status::{ApiError, ApiResult, Cause};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// How many past events are kept for watches that start from an older resourceVersion.
const HISTORY: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

impl EventKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// One change, as a watch sees it.
#[derive(Debug, Clone)]
pub struct Event {
    /// `ResourceType::qualified()` of the object's type.
    pub resource: String,
    pub namespace: Option<String>,
    pub kind: EventKind,
    /// Shared with the store and every receiver: a broadcast clones the event per receiver.
    pub object: Arc<Value>,
    pub rv: u64,
}

/// Who writes and how: the field manager and the operation recorded in managedFields.
#[derive(Debug, Clone)]
pub struct WriteCtx {
    pub manager: String,
    /// `Update` for create/update/patch, `Apply` for server-side apply.
    pub operation: String,
    /// `dryRun=All`: run every check, store nothing, send no event.
    pub dry_run: bool,
    /// The subresource written (`status`), recorded in managedFields.
    pub subresource: Option<String>,
}

impl WriteCtx {
    pub fn update(manager: &str) -> Self {
        WriteCtx {
            manager: manager.into(),
            operation: "Update".into(),
            dry_run: false,
            subresource: None,
        }
    }
    pub fn apply(manager: &str) -> Self {
        WriteCtx {
            manager: manager.into(),
            operation: "Apply".into(),
            dry_run: false,
            subresource: None,
        }
    }
    pub fn dry(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

/// Preconditions of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeletePre {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

type Key = (String, String, String); // (qualified resource, namespace or "", name)

struct Inner {
    rv: u64,
    uid_seq: u64,
    /// Shared snapshots: a list hands out references, not deep copies (5,000-node clusters).
    objects: BTreeMap<Key, Arc<Value>>,
    history: VecDeque<Event>,
    /// The resourceVersion of each type's latest change (qualified resource name).
    changed: std::collections::HashMap<String, u64>,
}

/// The store of one test cluster.
pub struct Store {
    registry: Registry,
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Event>,
}

/// The current time as the API server writes it (RFC 3339, seconds).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
}

/// The parts of an object that do not bump `metadata.generation` when they change.
fn spec_part(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    o
}

impl Store {
    pub fn new(registry: Registry) -> Self {
        let (tx, _) = broadcast::channel(65_536);
        Store {
            registry,
            inner: Mutex::new(Inner {
                rv: 1,
                uid_seq: 0,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                changed: Default::default(),
            }),
            tx,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The resource type with this plural (`services`, `prometheuses`). Panics on a plural the
    /// registry does not serve: controllers name only served types.
    pub fn rt(&self, plural: &str) -> ResourceType {
        self.registry
            .by_plural(plural)
            .unwrap_or_else(|| panic!("resource type {plural} is not served by this cluster"))
            .clone()
    }

    /// Whether the type is served (the operator's types exist only when installed).
    pub fn serves(&self, plural: &str) -> bool {
        self.registry.by_plural(plural).is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// The newest resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    fn key(rt: &ResourceType, ns: Option<&str>, name: &str) -> Key {
        (
            rt.qualified(),
            if rt.namespaced {
                ns.unwrap_or("").to_string()
            } else {
                String::new()
            },
            name.to_string(),
        )
    }

    /// The resourceVersion of the latest change to any object of these types (plurals); 0
    /// when none has changed. Equal answers mean nothing of these types changed in between.
    pub fn last_change(&self, plurals: &[&str]) -> u64 {
        let inner = self.lock();
        plurals
            .iter()
            .filter_map(|p| self.registry.by_plural(p))
            .filter_map(|rt| inner.changed.get(&rt.qualified()).copied())
            .max()
            .unwrap_or(0)
    }

    /// [`Store::get`] without the copy: the stored snapshot, shared.
    pub fn get_shared(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
    ) -> ApiResult<Arc<Value>> {
        self.lock()
            .objects
            .get(&Self::key(rt, ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))
    }

    /// The stored object, as a copy of its own.
    pub fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        self.get_shared(rt, ns, name).map(Arc::unwrap_or_clone)
    }

    /// Objects of a type, in one namespace or all (`ns = None`), in name order (namespace, then name),
    /// with the resourceVersion of the list. The objects are shared snapshots: a writer replaces
    /// an object, never changes one in place.
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        let q = rt.qualified();
        let ns = if rt.namespaced { ns } else { None };
        let from: Key = (q.clone(), ns.unwrap_or("").to_string(), String::new());
        let items = inner
            .objects
            .range(from..)
            .take_while(|((r, n, _), _)| *r == q && (ns.is_none() || Some(n.as_str()) == ns))
            .map(|(_, v)| v.clone())
            .collect();
        (items, inner.rv)
    }

    /// Events after `since` for a type (and namespace), for a watch that starts from a resourceVersion.
    pub fn events_since(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        since: u64,
    ) -> ApiResult<Vec<Event>> {
        let inner = self.lock();
        if let Some(first) = inner.history.front()
            && since + 1 < first.rv
            && inner.history.len() >= HISTORY
        {
            return Err(ApiError::expired(since, first.rv));
        }
        let q = rt.qualified();
        Ok(inner
            .history
            .iter()
            .filter(|e| {
                e.rv > since && e.resource == q && (ns.is_none() || e.namespace.as_deref() == ns)
            })
            .cloned()
            .collect())
    }

    fn validate_common(rt: &ResourceType, obj: &Value) -> ApiResult<(String, Option<String>)> {
        let name = meta_str(obj, "name").unwrap_or("").to_string();
        if name.is_empty() {
            return Err(ApiError::invalid(
                rt,
                "",
                vec![Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: name or generateName is required".into(),
                    field: "metadata.name".into(),
                }],
            ));
        }
        let ns = meta_str(obj, "namespace").map(str::to_string);
        Ok((name, ns))
    }

    fn record(
        inner: &mut Inner,
        tx: &broadcast::Sender<Event>,
        rt: &ResourceType,
        kind: EventKind,
        object: Arc<Value>,
    ) {
        let ev = Event {
            resource: rt.qualified(),
            namespace: if rt.namespaced {
                meta_str(&object, "namespace").map(str::to_string)
            } else {
                None
            },
            kind,
            object,
            rv: inner.rv,
        };
        inner.changed.insert(ev.resource.clone(), ev.rv);
        inner.history.push_back(ev.clone());
        while inner.history.len() > HISTORY {
            inner.history.pop_front();
        }
        let _ = tx.send(ev);
    }

    fn set_type_meta(rt: &ResourceType, obj: &mut Value) {
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
    }

    /// Create. `ns` is the namespace of the request path; an object naming another namespace is rejected.
    pub fn create(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        mut obj: Value,
        ctx: &WriteCtx,
    ) -> ApiResult<Value> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        if obj.get("metadata").is_none() {
            obj["metadata"] = json!({});
        }
        // generateName
        if meta_str(&obj, "name").unwrap_or("").is_empty()
            && let Some(prefix) = meta_str(&obj, "generateName").map(str::to_string)
        {
            let n = self.lock().uid_seq + 1;
            obj["metadata"]["name"] = json!(format!("{prefix}{}", suffix(n)));
        }
        let (name, body_ns) = Self::validate_common(rt, &obj)?;
        let ns = if rt.namespaced {
            let ns = ns
                .map(str::to_string)
                .or(body_ns.clone())
                .unwrap_or_else(|| "default".to_string());
            if let Some(b) = &body_ns
                && b != &ns
            {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            obj["metadata"]["namespace"] = json!(ns);
            Some(ns)
        } else {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("namespace");
            }
            None
        };
        Self::set_type_meta(rt, &mut obj);
        let mut inner = self.lock();
        if let Some(ns) = &ns {
            let nsk: Key = ("namespaces".into(), String::new(), ns.clone());
            if !inner.objects.contains_key(&nsk) {
                let nrt = self.registry.by_plural("namespaces").cloned();
                if let Some(nrt) = nrt {
                    return Err(ApiError::not_found(&nrt, ns));
                }
            }
        }
        let key = Self::key(rt, ns.as_deref(), &name);
        if inner.objects.contains_key(&key) {
            return Err(ApiError::already_exists(rt, &name));
        }
        if let Some(v) = meta_str(&obj, "resourceVersion")
            && !v.is_empty()
        {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        inner.uid_seq += 1;
        let uid = uid_for(inner.uid_seq);
        let m = obj["metadata"]
            .as_object_mut()
            .expect("metadata is an object");
        m.insert("uid".into(), json!(uid));
        m.insert("creationTimestamp".into(), json!(now_rfc3339()));
        if rt.custom || rt.group == "apps" {
            m.insert("generation".into(), json!(1));
        }
        m.remove("deletionTimestamp");
        if rt.plural == "pods" && rt.group.is_empty() {
            admit_service_account(&mut obj, inner.uid_seq);
        }
        // Registry strategies (PrepareForCreate): a new Namespace is Active.
        if rt.plural == "namespaces" && rt.group.is_empty() {
            obj["status"] = json!({"phase": "Active"});
        }
        managed::track(None, &mut obj, &rt.api_version(), ctx);
        if ctx.dry_run {
            return Ok(obj);
        }
        inner.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        let shared = Arc::new(obj.clone());
        inner.objects.insert(key, shared.clone());
        Self::record(&mut inner, &self.tx, rt, EventKind::Added, shared);
        Ok(obj)
    }

    /// Update (PUT). A resourceVersion in the object is a precondition: stale answers 409 Conflict.
    /// Without one, the update is unconditional, as the real server allows for these types.
    /// `status` writes (ctx.subresource) change only `.status`; other writes keep the stored `.status`
    /// for types with a status subresource.
    pub fn update(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        mut obj: Value,
        ctx: &WriteCtx,
    ) -> ApiResult<Value> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        if obj.get("metadata").is_none() {
            obj["metadata"] = json!({});
        }
        if let Some(n) = meta_str(&obj, "name")
            && !n.is_empty()
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        obj["metadata"]["name"] = json!(name);
        let mut inner = self.lock();
        let key = Self::key(rt, ns, name);
        let Some(old) = inner.objects.get(&key).map(|o| Value::clone(o)) else {
            return Err(ApiError::not_found(rt, name));
        };
        if let Some(v) = meta_str(&obj, "resourceVersion")
            && !v.is_empty()
            && Some(v) != meta_str(&old, "resourceVersion")
        {
            return Err(ApiError::conflict_modified(rt, name));
        }
        if let Some(u) = meta_str(&obj, "uid")
            && !u.is_empty()
            && Some(u) != meta_str(&old, "uid")
        {
            return Err(ApiError::conflict(
                rt,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {}, UID in object meta: {}",
                    u,
                    meta_str(&old, "uid").unwrap_or("")
                ),
            ));
        }
        Self::set_type_meta(rt, &mut obj);
        // Server-owned metadata comes from the stored object.
        for f in [
            "uid",
            "creationTimestamp",
            "namespace",
            "generation",
            "deletionTimestamp",
        ] {
            match old["metadata"].get(f) {
                Some(v) => obj["metadata"][f] = v.clone(),
                None => {
                    if let Some(m) = obj["metadata"].as_object_mut() {
                        m.remove(f);
                    }
                }
            }
        }
        let has_status_sub = rt.has_subresource("status");
        if ctx.subresource.as_deref() == Some("status") {
            let status = obj.get("status").cloned();
            let mut next = old.clone();
            match status {
                Some(s) => next["status"] = s,
                None => {
                    if let Some(m) = next.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            // metadata changes other than managedFields are ignored on the status subresource
            if let Some(mf) = obj["metadata"].get("managedFields") {
                next["metadata"]["managedFields"] = mf.clone();
            }
            obj = next;
        } else if has_status_sub {
            match old.get("status") {
                Some(s) => obj["status"] = s.clone(),
                None => {
                    if let Some(m) = obj.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        if (rt.custom || rt.group == "apps")
            && ctx.subresource.is_none()
            && spec_part(&old) != spec_part(&obj)
        {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
            obj["metadata"]["generation"] = json!(g + 1);
        }
        managed::track(Some(&old), &mut obj, &rt.api_version(), ctx);
        // A no-op write keeps the resourceVersion and sends no event, as on a real server. A write
        // that changes only managedFields (an apply sharing fields it did not own) is stored: the
        // etcd3 store compares the whole serialized object. `managed::track` leaves managedFields
        // untouched by a write that changes nothing.
        let mut cmp_old = old.clone();
        let mut cmp_new = obj.clone();
        for o in [&mut cmp_old, &mut cmp_new] {
            if let Some(m) = o["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
        }
        if cmp_old == cmp_new {
            return Ok(old);
        }
        if ctx.dry_run {
            obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
            return Ok(obj);
        }
        inner.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        let shared = Arc::new(obj.clone());
        inner.objects.insert(key, shared.clone());
        Self::record(&mut inner, &self.tx, rt, EventKind::Modified, shared);
        Ok(obj)
    }

    /// Delete with optional uid / resourceVersion preconditions.
    pub fn delete(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        pre: &DeletePre,
    ) -> ApiResult<Value> {
        let mut inner = self.lock();
        let key = Self::key(rt, ns, name);
        let Some(old) = inner.objects.get(&key).map(|o| Value::clone(o)) else {
            return Err(ApiError::not_found(rt, name));
        };
        if let Some(u) = &pre.uid
            && Some(u.as_str()) != meta_str(&old, "uid")
        {
            return Err(ApiError::conflict(
                rt,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {}, UID in object meta: {}",
                    u,
                    meta_str(&old, "uid").unwrap_or("")
                ),
            ));
        }
        if let Some(v) = &pre.resource_version
            && Some(v.as_str()) != meta_str(&old, "resourceVersion")
        {
            return Err(ApiError::conflict(
                rt,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {}, ResourceVersion in object meta: {}",
                    v,
                    meta_str(&old, "resourceVersion").unwrap_or("")
                ),
            ));
        }
        if pre.dry_run {
            return Ok(old);
        }
        inner.objects.remove(&key);
        // Deleting a namespace deletes what is in it (the real server does this asynchronously).
        if rt.plural == "namespaces" && rt.group.is_empty() {
            let doomed: Vec<Key> = inner
                .objects
                .keys()
                .filter(|(_, n, _)| n == name)
                .cloned()
                .collect();
            for k in doomed {
                if let Some(o) = inner.objects.remove(&k) {
                    inner.rv += 1;
                    let mut o = Value::clone(&o);
                    o["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
                    if let Some(t) = self
                        .registry
                        .all()
                        .iter()
                        .find(|t| t.qualified() == k.0)
                        .cloned()
                    {
                        Self::record(&mut inner, &self.tx, &t, EventKind::Deleted, Arc::new(o));
                    }
                }
            }
        }
        inner.rv += 1;
        let mut gone = old;
        gone["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        Self::record(
            &mut inner,
            &self.tx,
            rt,
            EventKind::Deleted,
            Arc::new(gone.clone()),
        );
        Ok(gone)
    }

    /// Read, change and write back in one step (for controllers): `f` edits the object; returns the
    /// stored result. `f` returning false skips the write. The write keeps the read
    /// resourceVersion as its precondition, so a concurrent change is never overwritten: on a
    /// conflict the object is read again and `f` runs again (a bounded number of times).
    pub fn modify(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        ctx: &WriteCtx,
        mut f: impl FnMut(&mut Value) -> bool,
    ) -> ApiResult<Value> {
        let mut last = None;
        for _ in 0..16 {
            let cur = self.get(rt, ns, name)?;
            let mut next = cur.clone();
            if !f(&mut next) {
                return Ok(cur);
            }
            next["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"].clone();
            match self.update(rt, ns, name, next, ctx) {
                Err(e) if e.code == 409 => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| ApiError::internal("modify: gave up")))
    }

    /// Create or replace (for controllers and scenario loading): no preconditions.
    pub fn upsert(&self, rt: &ResourceType, obj: Value, ctx: &WriteCtx) -> ApiResult<Value> {
        let name = meta_str(&obj, "name").unwrap_or("").to_string();
        let ns = meta_str(&obj, "namespace").map(str::to_string);
        match self.get(rt, ns.as_deref(), &name) {
            Ok(_) => {
                let mut o = obj;
                if let Some(m) = o["metadata"].as_object_mut() {
                    m.remove("resourceVersion");
                }
                self.update(rt, ns.as_deref(), &name, o, ctx)
            }
            Err(e) if e.code == 404 => self.create(rt, ns.as_deref(), obj, ctx),
            Err(e) => Err(e),
        }
    }
}

/// The ServiceAccount admission plugin (plugin/pkg/admission/serviceaccount): every pod but a
/// mirror pod runs as a service account (`default` unless named) and, unless
/// `automountServiceAccountToken: false`, gets the projected `kube-api-access-<suffix>` volume
/// (token, the cluster CA from the `kube-root-ca.crt` ConfigMap, the namespace) mounted read-only
/// at /var/run/secrets/kubernetes.io/serviceaccount in every container.
fn admit_service_account(pod: &mut Value, seq: u64) {
    const MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
    if pod["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string() {
        return;
    }
    let sa = pod["spec"]["serviceAccountName"]
        .as_str()
        .or_else(|| pod["spec"]["serviceAccount"].as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string();
    pod["spec"]["serviceAccountName"] = json!(sa);
    pod["spec"]["serviceAccount"] = json!(sa);
    if pod["spec"]["automountServiceAccountToken"] == json!(false) {
        return;
    }
    let containers = ["initContainers", "containers"];
    let already = containers.iter().any(|k| {
        pod["spec"][*k].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c["volumeMounts"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|m| m["mountPath"] == MOUNT))
            })
        })
    });
    if already {
        return;
    }
    let name = format!(
        "kube-api-access-{}",
        suffix(seq.wrapping_mul(31).wrapping_add(7))
    );
    let volume = json!({"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
    ]}});
    match pod["spec"]["volumes"].as_array_mut() {
        Some(v) => v.push(volume),
        None => pod["spec"]["volumes"] = json!([volume]),
    }
    for k in containers {
        if let Some(cs) = pod["spec"][k].as_array_mut() {
            for c in cs {
                let m = json!({"name": name, "readOnly": true, "mountPath": MOUNT});
                match c["volumeMounts"].as_array_mut() {
                    Some(v) => v.push(m),
                    None => c["volumeMounts"] = json!([m]),
                }
            }
        }
    }
}

fn uid_for(n: u64) -> String {
    // A stable, well-formed UUID (version 4 layout) from a counter, so runs are reproducible.
    let h = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        (n & 0xfff) as u16,
        ((h >> 4) & 0xfff) as u16,
        n & 0xffff_ffff_ffff
    )
}

/// The 5-character random-looking suffix of generateName.
pub fn suffix(n: u64) -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = n.wrapping_mul(2_654_435_761).wrapping_add(12345);
    (0..5)
        .map(|_| {
            let c = ALPHA[(x % ALPHA.len() as u64) as usize] as char;
            x /= ALPHA.len() as u64;
            x = x.wrapping_add(7919);
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        let s = Store::new(Registry::new(true));
        let ns = s.rt("namespaces");
        for n in ["default", "monitoring", "kube-system"] {
            s.create(
                &ns,
                None,
                json!({"metadata": {"name": n}}),
                &WriteCtx::update("test"),
            )
            .unwrap();
        }
        s
    }

    #[test]
    fn list_is_one_type_in_one_namespace_and_last_change_follows_writes() {
        let s = store();
        let ctx = WriteCtx::update("t");
        let (svc, ep) = (s.rt("services"), s.rt("endpoints"));
        for (rt, ns, name) in [
            (&svc, "monitoring", "b"),
            (&svc, "kube-system", "a"),
            (&svc, "default", "c"),
            (&ep, "kube-system", "a"),
        ] {
            s.create(rt, Some(ns), json!({"metadata": {"name": name}}), &ctx)
                .unwrap();
        }
        let names = |v: Vec<Arc<Value>>| -> Vec<String> {
            v.iter()
                .map(|o| {
                    format!(
                        "{}/{}",
                        o["metadata"]["namespace"].as_str().unwrap_or(""),
                        o["metadata"]["name"].as_str().unwrap_or("")
                    )
                })
                .collect()
        };
        assert_eq!(
            names(s.list(&svc, None).0),
            ["default/c", "kube-system/a", "monitoring/b"]
        );
        assert_eq!(
            names(s.list(&svc, Some("kube-system")).0),
            ["kube-system/a"]
        );
        assert!(s.list(&svc, Some("nope")).0.is_empty());
        // a cluster-scoped type ignores the namespace
        assert_eq!(s.list(&s.rt("namespaces"), Some("kube-system")).0.len(), 3);
        // the snapshot handed out is not changed by a later write
        let before = s.list(&svc, Some("kube-system")).0;
        let seen = s.last_change(&["services"]);
        assert!(seen > s.last_change(&["pods"]));
        s.update(
            &svc,
            Some("kube-system"),
            "a",
            json!({"metadata": {"name": "a", "labels": {"x": "y"}}}),
            &ctx,
        )
        .unwrap();
        assert!(before[0]["metadata"]["labels"].is_null());
        assert!(s.last_change(&["services"]) > seen);
        assert_eq!(s.last_change(&["pods"]), 0);
    }

    #[test]
    fn create_sets_server_metadata_and_stale_update_conflicts() {
        let s = store();
        let svc = s.rt("services");
        let o = s
            .create(
                &svc,
                Some("kube-system"),
                json!({"metadata": {"name": "etcd"}, "spec": {"ports": []}}),
                &WriteCtx::update("t"),
            )
            .unwrap();
        assert_eq!(o["kind"], "Service");
        assert!(o["metadata"]["uid"].as_str().unwrap().len() == 36);
        let rv = o["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        let mut changed = o.clone();
        changed["spec"]["clusterIP"] = json!("None");
        let o2 = s
            .update(
                &svc,
                Some("kube-system"),
                "etcd",
                changed.clone(),
                &WriteCtx::update("t"),
            )
            .unwrap();
        assert_ne!(o2["metadata"]["resourceVersion"].as_str().unwrap(), rv);
        // the same write again with the old resourceVersion is stale
        let e = s
            .update(
                &svc,
                Some("kube-system"),
                "etcd",
                changed,
                &WriteCtx::update("t"),
            )
            .unwrap_err();
        assert_eq!(e.code, 409);
        assert_eq!(
            e.message,
            "Operation cannot be fulfilled on services \"etcd\": the object has been modified; please apply your changes to the latest version and try again"
        );
        let e = s
            .create(
                &svc,
                Some("kube-system"),
                json!({"metadata": {"name": "etcd"}}),
                &WriteCtx::update("t"),
            )
            .unwrap_err();
        assert_eq!(e.reason, "AlreadyExists");
        let e = s
            .create(
                &svc,
                Some("nope"),
                json!({"metadata": {"name": "x"}}),
                &WriteCtx::update("t"),
            )
            .unwrap_err();
        assert_eq!(e.message, "namespaces \"nope\" not found");
    }

    #[test]
    fn dry_run_stores_nothing_and_noop_keeps_rv() {
        let s = store();
        let cm = s.rt("configmaps");
        let before = s.current_rv();
        s.create(
            &cm,
            Some("default"),
            json!({"metadata": {"name": "a"}}),
            &WriteCtx::update("t").dry(true),
        )
        .unwrap();
        assert_eq!(s.current_rv(), before);
        assert!(s.get(&cm, Some("default"), "a").is_err());
        let o = s
            .create(
                &cm,
                Some("default"),
                json!({"metadata": {"name": "a"}, "data": {"k": "v"}}),
                &WriteCtx::update("t"),
            )
            .unwrap();
        let o2 = s
            .update(&cm, Some("default"), "a", o.clone(), &WriteCtx::update("t"))
            .unwrap();
        assert_eq!(
            o["metadata"]["resourceVersion"],
            o2["metadata"]["resourceVersion"]
        );
    }

    #[test]
    fn generation_bumps_on_spec_change_of_custom_resources() {
        let s = store();
        let p = s.rt("prometheuses");
        let o = s
            .create(
                &p,
                Some("monitoring"),
                json!({"metadata": {"name": "k8s"}, "spec": {"replicas": 1}}),
                &WriteCtx::update("t"),
            )
            .unwrap();
        assert_eq!(o["metadata"]["generation"], 1);
        let mut n = o.clone();
        n["spec"]["secrets"] = json!(["etcd-client-cert"]);
        let o2 = s
            .update(&p, Some("monitoring"), "k8s", n, &WriteCtx::update("t"))
            .unwrap();
        assert_eq!(o2["metadata"]["generation"], 2);
        let mut n = o2.clone();
        n["metadata"]["labels"] = json!({"a": "b"});
        let o3 = s
            .update(&p, Some("monitoring"), "k8s", n, &WriteCtx::update("t"))
            .unwrap();
        assert_eq!(o3["metadata"]["generation"], 2);
    }

    #[test]
    fn watch_history_replays_after_rv() {
        let s = store();
        let cm = s.rt("configmaps");
        let rv = s.current_rv();
        s.create(
            &cm,
            Some("default"),
            json!({"metadata": {"name": "a"}}),
            &WriteCtx::update("t"),
        )
        .unwrap();
        s.delete(&cm, Some("default"), "a", &DeletePre::default())
            .unwrap();
        let evs = s.events_since(&cm, Some("default"), rv).unwrap();
        assert_eq!(
            evs.iter().map(|e| e.kind).collect::<Vec<_>>(),
            vec![EventKind::Added, EventKind::Deleted]
        );
    }
}
