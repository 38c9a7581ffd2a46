//! Discovery documents: `/api`, `/api/v1`, `/apis`, `/apis/{g}`, `/apis/{g}/{v}` and the
//! aggregated discovery (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`).
//!
//! OWNER: compat helper. (stub)

use crate::cluster::Cluster;
use crate::resources::{Registry, ResourceType};
use serde_json::{Value, json};

fn resource(t: &ResourceType) -> Value {
    json!({"name": t.plural, "singularName": t.singular, "namespaced": t.namespaced,
           "kind": t.kind, "verbs": t.verbs, "shortNames": t.short_names})
}

pub fn api_versions(cluster: &Cluster) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": format!("{}:6443", cluster.api_ip())}]})
}

pub fn core_resources(registry: &Registry) -> Value {
    let r: Vec<Value> = registry
        .all()
        .iter()
        .filter(|t| t.group.is_empty())
        .map(resource)
        .collect();
    json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": r})
}

fn group_json(registry: &Registry, group: &str) -> Option<Value> {
    let vs: Vec<&str> = registry
        .group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(_, v)| v)
        .collect();
    let first = vs.first()?;
    let versions: Vec<Value> = vs
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    Some(json!({"name": group, "versions": versions,
                "preferredVersion": {"groupVersion": format!("{group}/{first}"), "version": first}}))
}

pub fn api_group_list(registry: &Registry) -> Value {
    let mut groups: Vec<Value> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (g, _) in registry.group_versions() {
        if g.is_empty() || seen.contains(&g) {
            continue;
        }
        seen.push(g);
        if let Some(j) = group_json(registry, g) {
            groups.push(j);
        }
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn api_group(registry: &Registry, group: &str) -> Option<Value> {
    let mut j = group_json(registry, group)?;
    j["kind"] = json!("APIGroup");
    j["apiVersion"] = json!("v1");
    Some(j)
}

pub fn group_resources(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let r: Vec<Value> = registry
        .all()
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .map(resource)
        .collect();
    if r.is_empty() {
        return None;
    }
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": format!("{group}/{version}"), "resources": r}))
}

/// Aggregated discovery when `accept` asks for it (`core`: `/api`, else `/apis`).
pub fn aggregated(registry: &Registry, accept: &str, core: bool) -> Option<(Value, String)> {
    let _ = (registry, accept, core);
    None
}
