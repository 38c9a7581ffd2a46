//! Patches as the real API server applies them: JSON patch (RFC 6902, with `test`), JSON merge
//! patch (RFC 7386), strategic merge patch (built-in types only; custom resources answer 415),
//! and server-side apply with managedFields ownership (`apply-patch+yaml`).
//!
//! OWNER: patch helper. (stub)

use crate::resources::ResourceType;
use crate::status::{ApiError, ApiResult};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

fn merge(target: &mut Value, patch: &Value) {
    if let Value::Object(p) = patch {
        if !target.is_object() {
            *target = Value::Object(Default::default());
        }
        let t = target.as_object_mut().expect("object");
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    } else {
        *target = patch.clone();
    }
}

pub fn patch(rt: &ResourceType, current: &Value, body: &[u8], pt: PatchType) -> ApiResult<Value> {
    let p: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    match pt {
        PatchType::Json => {
            let ops: json_patch::Patch =
                serde_json::from_value(p).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let mut out = current.clone();
            json_patch::patch(&mut out, &ops).map_err(|e| ApiError::bad_request(e.to_string()))?;
            Ok(out)
        }
        PatchType::Strategic if rt.custom => Err(ApiError::unsupported_media_type(
            "application/strategic-merge-patch+json",
            &[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
            ],
        )),
        _ => {
            let mut out = current.clone();
            merge(&mut out, &p);
            Ok(out)
        }
    }
}

pub fn apply(
    rt: &ResourceType,
    current: Option<&Value>,
    body: &[u8],
    manager: &str,
    force: bool,
) -> ApiResult<Value> {
    let _ = (rt, manager, force);
    let p: Value =
        serde_yaml_ng::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut out = current
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    merge(&mut out, &p);
    Ok(out)
}
