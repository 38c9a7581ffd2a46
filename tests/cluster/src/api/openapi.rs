//! OpenAPI v2 and v3 documents for the served types.
//!
//! OWNER: compat helper. (stub)

use crate::resources::Registry;
use serde_json::{Value, json};

pub fn v2(registry: &Registry) -> Value {
    let _ = registry;
    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v0"}, "paths": {}, "definitions": {}})
}

pub fn v3_index(registry: &Registry) -> Value {
    let _ = registry;
    json!({"paths": {}})
}

pub fn v3_doc(registry: &Registry, path: &str) -> Option<Value> {
    let _ = (registry, path);
    None
}
