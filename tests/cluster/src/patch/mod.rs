//! Patches as the real API server applies them: JSON patch (RFC 6902, with `test`), JSON merge
//! patch (RFC 7386), strategic merge patch (built-in types only; custom resources answer 415),
//! and server-side apply with managedFields ownership (`apply-patch+yaml`).
//!
//! Sources: k8s.io/apiserver/pkg/endpoints/handlers/patch.go (how each patch type is applied and
//! which errors become which Status), k8s.io/apimachinery/pkg/util/strategicpatch (SMP),
//! k8s.io/apimachinery/pkg/util/managedfields and sigs.k8s.io/structured-merge-diff (apply).
//!
//! Integration: the api handler calls [`patch`] (JSON, merge, strategic) or [`apply`], then
//! stores the result through the store, whose `managed::track` records `Update` ownership
//! (`Apply` entries come from [`apply`]). [`defaults`] is the part of the real defaulting that
//! decides merge keys (ports' `protocol`, Service `targetPort`); the real server defaults every
//! write, so the store may call it on create/update too. [`accepted_types`] / [`unsupported`]
//! give the 415 of a patch type a resource does not take.
//!
//! Known gaps: only the listed built-in fields have schema facts (others are deduced: objects
//! granular, lists atomic); apply to a subresource is not modelled; custom resources get no
//! CRD structural defaulting.

// ApiError is the crate-wide error type (status.rs); its size is not this module's to change.
#![allow(clippy::result_large_err)]

pub mod fieldset;
pub mod gojson;
pub mod schema;
pub mod smp;

use crate::managed::{self, Entry};
use crate::resources::ResourceType;
use crate::status::{ApiError, ApiResult, Cause};
use fieldset::{PE, Path, Set};
use serde_json::{Map, Value, json};

/// The patch types of the `Content-Type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    /// `application/json-patch+json` and the others; parameters after `;` are ignored, as the
    /// real handler cuts them off.
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Strategic => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

/// The patch types a resource accepts, in the order the 415 message lists them
/// (apiserver/pkg/endpoints/installer.go: custom resources have no strategic merge patch).
pub fn accepted_types(rt: &ResourceType) -> Vec<&'static str> {
    if rt.custom {
        vec![
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ]
    } else {
        vec![
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml",
        ]
    }
}

/// The 415 for a patch type the resource does not accept.
pub fn unsupported(rt: &ResourceType, content_type: &str) -> ApiError {
    ApiError::unsupported_media_type(content_type, &accepted_types(rt))
}

/// apply without `fieldManager`: validation.ValidatePatchOptions, as `errors.NewInvalid` of
/// `PatchOptions.meta.k8s.io`.
pub fn missing_field_manager() -> ApiError {
    let mut e = bare(
        422,
        "Invalid",
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
    );
    e.group = Some("meta.k8s.io".into());
    e.kind = Some("PatchOptions".into());
    e.causes = vec![Cause {
        reason: "FieldValueRequired".into(),
        message: "Required value: is required for apply patch".into(),
        field: "fieldManager".into(),
    }];
    e
}

fn bare(code: u16, reason: &str, message: &str) -> ApiError {
    ApiError {
        code,
        reason: reason.into(),
        message: message.into(),
        name: None,
        group: None,
        kind: None,
        causes: Vec::new(),
        retry_after: None,
    }
}

/// `errors.NewGenericServerResponse(422, ...)` with no resource: what JSON patch failures (a
/// failed `test`, a missing path) and a few strategic merge patch errors answer.
pub fn unprocessable() -> ApiError {
    bare(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
    )
}

/// An error that is not a Status: the real server answers 500 with the error text and no reason.
fn plain_500(message: String) -> ApiError {
    bare(500, "", &message)
}

/// What Go's encoding/json says about a body that is not JSON.
fn go_json_error(body: &[u8], e: &serde_json::Error) -> String {
    gojson::syntax_error(body).unwrap_or_else(|| e.to_string())
}

fn go_json_kind(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
    }
}

/// Applies a JSON patch, merge patch or strategic merge patch to `current`. Custom resources
/// (rt.custom) answer 415 to a strategic merge patch, listing the accepted types.
pub fn patch(rt: &ResourceType, current: &Value, body: &[u8], pt: PatchType) -> ApiResult<Value> {
    let mut out = match pt {
        PatchType::Json => json_patch_apply(current, body)?,
        PatchType::Merge => {
            // evanphx/json-patch v4 MergePatch: a patch that is not JSON is ErrBadJSONPatch.
            let p: Value = serde_json::from_slice(body)
                .map_err(|_| ApiError::bad_request("Invalid JSON Patch"))?;
            let mut doc = current.clone();
            json_patch::merge(&mut doc, &p);
            if !doc.is_object() {
                return Err(decode_invalid(rt, &doc));
            }
            doc
        }
        PatchType::Strategic => {
            if rt.custom {
                return Err(unsupported(rt, pt.content_type()));
            }
            let p: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(go_json_error(body, &e)))?;
            if !p.is_object() {
                return Err(ApiError::bad_request(format!(
                    "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    go_json_kind(&p)
                )));
            }
            smp::strategic_merge(current, &p, schema::root(rt)).map_err(|e| match e {
                smp::SmpErr::Bad(m) => ApiError::bad_request(m),
                smp::SmpErr::Unprocessable(_) => unprocessable(),
                smp::SmpErr::Other(m) => plain_500(m),
            })?
        }
        PatchType::Apply => return Err(missing_field_manager()),
    };
    defaults(rt, &mut out);
    Ok(out)
}

/// Decoding a patched document that is not an object into the typed object fails:
/// `errors.NewInvalid(schema.GroupKind{}, "", field.Invalid(field.NewPath("patch"), ...))`.
fn decode_invalid(rt: &ResourceType, doc: &Value) -> ApiError {
    let go_pkg = if rt.group.is_empty() {
        "v1".to_string()
    } else {
        format!(
            "{}.{}",
            rt.group.split('.').next().unwrap_or(""),
            rt.version
        )
    };
    let detail = format!(
        "json: cannot unmarshal {} into Go value of type {}.{}",
        go_json_kind(doc),
        go_pkg,
        rt.kind
    );
    let val = Value::String(doc.to_string()).to_string();
    let mut e = bare(
        422,
        "Invalid",
        &format!(" \"\" is invalid: patch: Invalid value: {val}: {detail}"),
    );
    e.causes = vec![Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {val}: {detail}"),
        field: "patch".into(),
    }];
    e
}

fn json_patch_apply(current: &Value, body: &[u8]) -> ApiResult<Value> {
    let raw: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(go_json_error(body, &e)))?;
    let Some(ops) = raw.as_array() else {
        return Err(ApiError::bad_request(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            go_json_kind(&raw)
        )));
    };
    if ops.len() > 10_000 {
        return Err(bare(
            413,
            "RequestEntityTooLarge",
            &format!(
                "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got {}",
                ops.len()
            ),
        ));
    }
    if let Some(bad) = ops.iter().find(|o| !o.is_object()) {
        return Err(ApiError::bad_request(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
            go_json_kind(bad)
        )));
    }
    // Operations that do not decode (unknown op, missing path) fail when applied: 422.
    let p: json_patch::Patch = serde_json::from_value(raw).map_err(|_| unprocessable())?;
    let mut doc = current.clone();
    json_patch::patch(&mut doc, &p).map_err(|_| unprocessable())?;
    Ok(doc)
}

/// Defaults of the real server that decide strategic merge and apply keys:
/// core/v1 SetDefaults_ServicePort / SetDefaults_ContainerPort (`protocol: TCP`) and
/// SetDefaults_Service (`targetPort` = `port`).
pub fn defaults(rt: &ResourceType, obj: &mut Value) {
    if rt.custom {
        return;
    }
    fn container_ports(spec: &mut Value) {
        for list in ["containers", "initContainers"] {
            if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
                for c in cs {
                    if let Some(ps) = c.get_mut("ports").and_then(Value::as_array_mut) {
                        for p in ps {
                            if let Some(m) = p.as_object_mut()
                                && !m.contains_key("protocol")
                            {
                                m.insert("protocol".into(), json!("TCP"));
                            }
                        }
                    }
                }
            }
        }
    }
    match rt.kind {
        "Service" => {
            if let Some(ps) = obj
                .get_mut("spec")
                .and_then(|s| s.get_mut("ports"))
                .and_then(Value::as_array_mut)
            {
                for p in ps {
                    let Some(m) = p.as_object_mut() else { continue };
                    if !m.contains_key("protocol") {
                        m.insert("protocol".into(), json!("TCP"));
                    }
                    if !m.contains_key("targetPort")
                        && let Some(port) = m.get("port").cloned()
                    {
                        m.insert("targetPort".into(), port);
                    }
                }
            }
        }
        "Pod" => {
            if let Some(spec) = obj.get_mut("spec") {
                container_ports(spec);
            }
        }
        "StatefulSet" | "DaemonSet" => {
            if let Some(spec) = obj
                .get_mut("spec")
                .and_then(|s| s.get_mut("template"))
                .and_then(|t| t.get_mut("spec"))
            {
                container_ports(spec);
            }
        }
        _ => {}
    }
}

/// The group/version/kind as `schema.GroupVersionKind.String()` prints it: `/v1, Kind=Service`.
fn gvk_string(api_version: &str, kind: &str) -> String {
    let (g, v) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    format!("{g}/{v}, Kind={kind}")
}

fn remove_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, c| !c.is_null());
            m.values_mut().for_each(remove_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(remove_nulls),
        _ => {}
    }
}

/// The managedFields paths the real field manager never records (StripMetaManager) and, for
/// types with a status subresource, `status` (reset by the main resource's strategy).
pub fn ignored_paths(rt: &ResourceType, subresource: Option<&str>) -> (Set, Option<Set>) {
    let _ = rt;
    let mut ignore = Set::new();
    if subresource.is_none() && rt.has_subresource("status") {
        ignore.insert(vec![PE::Field("status".into())]);
    }
    let keep = subresource.map(|s| {
        let mut k = Set::new();
        k.insert(vec![PE::Field(s.to_string())]);
        k
    });
    (ignore, keep)
}

/// Server-side apply of a YAML or JSON body. `current` None = create. Returns the object to store
/// with metadata.managedFields updated (an `Apply` entry for `manager`), or 409 Conflict when a
/// field's applied value differs from one owned by another manager, unless `force` (then the
/// ownership moves to the applier).
pub fn apply(
    rt: &ResourceType,
    current: Option<&Value>,
    body: &[u8],
    manager: &str,
    force: bool,
) -> ApiResult<Value> {
    if manager.is_empty() {
        return Err(missing_field_manager());
    }
    let cfg: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_yaml_ng::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    };
    let cfg = match cfg {
        Value::Null => Value::Object(Map::new()),
        Value::Object(m) => Value::Object(m),
        other => {
            return Err(ApiError::bad_request(format!(
                "error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                go_json_kind(&other)
            )));
        }
    };
    // versionCheckManager
    let av = cfg.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = cfg.get("kind").and_then(Value::as_str).unwrap_or("");
    if av != rt.api_version() || kind != rt.kind {
        return Err(ApiError::bad_request(format!(
            "invalid object type: {}",
            gvk_string(av, kind)
        )));
    }
    if cfg
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let ty = schema::root(rt);
    let name = cfg
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let ns = cfg
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .or_else(|| current.and_then(|c| c.pointer("/metadata/namespace").and_then(Value::as_str)))
        .unwrap_or("");
    let cfg_set = fieldset::to_field_set(&cfg, ty).map_err(|e| {
        plain_500(format!(
            "failed to create typed patch object ({}; {}/{}): {}",
            gvk_string(av, kind),
            ns,
            name,
            e.0
        ))
    })?;
    let (ignore, _) = ignored_paths(rt, None);
    let cfg_set = cfg_set
        .difference(&managed::strip_set())
        .without_under(&ignore);

    let mut live = match current {
        Some(c) => c.clone(),
        None => json!({"apiVersion": rt.api_version(), "kind": rt.kind}),
    };
    let mut entries = managed::decode(&live);
    if let Some(m) = live.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    let mut cfg_body = cfg.clone();
    if let Some(m) = cfg_body.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    let mut merged = fieldset::merge(Some(&live), Some(&cfg_body), ty).unwrap_or(Value::Null);
    if !merged.is_object() {
        return Err(plain_500("failed to merge config: not an object".into()));
    }

    let mine =
        |e: &Entry| e.manager == manager && e.operation == "Apply" && e.subresource.is_none();
    let last_set = entries.iter().find(|e| mine(e)).map(|e| e.set.clone());
    // prune: what this applier applied last time, omits now, and nobody else owns
    if let Some(last) = last_set {
        let mut owned = cfg_set.clone();
        for e in entries.iter().filter(|e| !mine(e)) {
            owned = owned.union(&e.set);
        }
        let mut gone = Set::new();
        for p in &last.0 {
            if !owned.has_at_or_under(p) {
                gone.insert(p.clone());
            }
        }
        fieldset::remove_paths(&mut merged, ty, &gone);
    }
    // compared before the nulls go: an applied `null` modifies (and so conflicts on) a field
    // another manager owns, as in structured-merge-diff where the merged object still holds it
    let cmp = fieldset::compare(Some(&live), Some(&merged), ty).without_under(&ignore);
    remove_nulls(&mut merged);
    let changed = cmp.added.union(&cmp.modified);
    let mut conflicts: Vec<(Entry, Set)> = Vec::new();
    for e in entries.iter().filter(|e| !mine(e)) {
        let c = e.set.intersection(&changed);
        if !c.is_empty() {
            conflicts.push((e.clone(), c));
        }
    }
    if !force && !conflicts.is_empty() {
        // lastappliedmanager.go: `kubectl apply --server-side` upgrading an object kubectl
        // applied client-side takes the fields of the last-applied configuration without
        // conflict; the others still conflict.
        let allowed = if manager == "kubectl" {
            last_applied(&live).and_then(|la| fieldset::to_field_set(&la, ty).ok())
        } else {
            None
        };
        let remaining: Vec<(Entry, Set)> = match &allowed {
            Some(allowed) => conflicts
                .iter()
                .map(|(e, c)| (e.clone(), c.difference(allowed)))
                .filter(|(_, c)| !c.is_empty())
                .collect(),
            None => conflicts.clone(),
        };
        if !remaining.is_empty() {
            return Err(conflict_error(rt, &remaining));
        }
    }
    for e in entries.iter_mut().filter(|e| !mine(e)) {
        e.set = e.set.difference(&changed).difference(&cmp.removed);
    }
    let unchanged = {
        let mut a = live.clone();
        let mut b = merged.clone();
        for o in [&mut a, &mut b] {
            if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("managedFields");
            }
        }
        a == b
    };
    let now = crate::store::now_rfc3339();
    match entries.iter_mut().find(|e| mine(e)) {
        Some(e) => {
            e.set = cfg_set;
            e.api_version = rt.api_version();
            if !unchanged || e.time.is_none() {
                e.time = Some(now);
            }
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version: rt.api_version(),
            time: Some(now),
            subresource: None,
            set: cfg_set,
        }),
    }
    entries.retain(|e| !e.set.is_empty());
    managed::cap_update_managers(&mut entries);
    // lastappliedupdater.go: kubectl's server-side apply keeps an existing client-side apply
    // annotation in step with what it applied.
    if manager == "kubectl" && last_applied(&merged).is_some() {
        let mut la = cfg_body.clone();
        if let Some(a) = la
            .get_mut("metadata")
            .and_then(|m| m.get_mut("annotations"))
            .and_then(Value::as_object_mut)
        {
            a.remove(LAST_APPLIED);
            if a.is_empty()
                && let Some(m) = la.get_mut("metadata").and_then(Value::as_object_mut)
            {
                m.remove("annotations");
            }
        }
        // unstructured JSON encoding: json.Encoder (HTML-escaped, newline-terminated)
        let text = format!("{la}\n")
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026");
        merged["metadata"]["annotations"][LAST_APPLIED] = Value::String(text);
    }
    defaults(rt, &mut merged);
    if !merged.get("metadata").is_some_and(Value::is_object) {
        merged["metadata"] = json!({});
    }
    merged["metadata"]["managedFields"] = managed::encode(entries);
    if merged["metadata"]["managedFields"]
        .as_array()
        .is_some_and(|a| a.is_empty())
        && let Some(m) = merged["metadata"].as_object_mut()
    {
        m.remove("managedFields");
    }
    Ok(merged)
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The client-side apply annotation of an object, parsed.
fn last_applied(obj: &Value) -> Option<Value> {
    let text = obj
        .get("metadata")?
        .get("annotations")?
        .get(LAST_APPLIED)?
        .as_str()?;
    serde_json::from_str(text).ok()
}

/// printManager of apimachinery/pkg/util/managedfields/internal/conflict.go.
fn print_manager(e: &Entry) -> String {
    let mut s = format!("{:?}", e.manager);
    if let Some(sub) = &e.subresource {
        s = format!("{s} with subresource {sub:?}");
    }
    if e.operation == "Update" {
        s = format!("{s} using {}", e.api_version);
    }
    s
}

/// NewConflictError / getConflictMessage of managedfields/internal/conflict.go.
fn conflict_error(rt: &ResourceType, conflicts: &[(Entry, Set)]) -> ApiError {
    let _ = rt;
    let mut sorted: Vec<&(Entry, Set)> = conflicts.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.0.manager, &a.0.operation, &a.0.api_version).cmp(&(
            &b.0.manager,
            &b.0.operation,
            &b.0.api_version,
        ))
    });
    let mut causes = Vec::new();
    let mut all: Vec<(String, Path)> = Vec::new();
    for (e, set) in &sorted {
        for p in &set.0 {
            causes.push(Cause {
                reason: "FieldManagerConflict".into(),
                message: format!("conflict with {}", print_manager(e)),
                field: fieldset::path_string(p),
            });
            all.push((print_manager(e), p.clone()));
        }
    }
    let message = if all.len() == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            all[0].0,
            fieldset::path_string(&all[0].1)
        )
    } else {
        let mut lines = Vec::new();
        for (e, set) in &sorted {
            lines.push(format!("conflicts with {}:", print_manager(e)));
            for p in &set.0 {
                lines.push(format!("- {}", fieldset::path_string(p)));
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            all.len(),
            lines.join("\n")
        )
    };
    let mut e = bare(409, "Conflict", &message);
    e.causes = causes;
    e
}

#[cfg(test)]
mod tests;
