//! Table output (`application/json;as=Table;v=v1;g=meta.k8s.io`) as kubectl get asks for it.
//!
//! OWNER: compat helper. (stub)

use crate::resources::ResourceType;
use serde_json::{Value, json};

/// The `Table` of `objects` (`include_object`: the `includeObject` parameter: None, Metadata, Object).
pub fn to_table(
    rt: &ResourceType,
    objects: &[Value],
    list_meta: Value,
    include_object: &str,
) -> Value {
    let _ = (rt, include_object);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| json!({"cells": [o["metadata"]["name"].clone()], "object": o}))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": [{"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}],
        "rows": rows,
    })
}
