//! Discovery documents: `/api`, `/api/v1`, `/apis`, `/apis/{g}`, `/apis/{g}/{v}` and the
//! aggregated discovery (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`).
//!
//! Shapes follow kube-apiserver 1.27–1.33:
//! - legacy documents: k8s.io/apiserver/pkg/endpoints/discovery (APIVersions, APIGroupList,
//!   APIGroup, APIResourceList) with the resources sorted by name, subresources listed as
//!   `pods/exec` entries with their own kind and verbs (k8s.io/apiserver/pkg/endpoints/installer.go);
//! - aggregated discovery: k8s.io/api/apidiscovery/v2 (and v2beta1, the same shape),
//!   built as k8s.io/apiserver/pkg/endpoints/discovery/aggregated does it;
//! - `storageVersionHash`: k8s.io/apiserver/pkg/endpoints/discovery/storageversionhash.go
//!   (base64 of the first 8 bytes of sha256("group/version/kind")), only on persisted resources.
//!
//! kubectl (client-go discovery_client.go) asks for aggregated discovery with
//! `Accept: application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json`
//! (1.27–1.29) or `...;v=v2;...,...;v=v2beta1;...,application/json` (1.30+), and checks the
//! answered `Content-Type` parameters to decide which format it got.

use crate::cluster::Cluster;
use crate::resources::{Registry, ResourceType};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// `storageVersionHash` as k8s.io/apiserver/pkg/endpoints/discovery/storageversionhash.go
/// computes it: base64(sha256("group/version/kind")[:8]).
pub fn storage_version_hash(group: &str, version: &str, kind: &str) -> String {
    let digest = Sha256::digest(format!("{group}/{version}/{kind}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

/// Resources that are not persisted (reviews) have no storage version hash.
fn persisted(t: &ResourceType) -> bool {
    t.group != "authorization.k8s.io"
}

/// One subresource as the real server lists it: (kind's group, kind's version, kind, verbs).
/// Group and version are empty when the kind is in the resource's own group version.
struct Sub {
    group: &'static str,
    version: &'static str,
    kind: String,
    verbs: &'static [&'static str],
}

const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];
const PROXY_VERBS: &[&str] = &["create", "delete", "get", "patch", "update"];

fn subresource(t: &ResourceType, sub: &str) -> Option<Sub> {
    let own = |kind: &str, verbs: &'static [&'static str]| Sub {
        group: "",
        version: "",
        kind: kind.to_string(),
        verbs,
    };
    Some(match (t.plural, sub) {
        (_, "status") => own(t.kind, GET_PATCH_UPDATE),
        (_, "scale") => Sub {
            group: "autoscaling",
            version: "v1",
            kind: "Scale".into(),
            verbs: GET_PATCH_UPDATE,
        },
        ("pods", "exec") => own("PodExecOptions", &["create", "get"]),
        ("pods", "attach") => own("PodAttachOptions", &["create", "get"]),
        ("pods", "portforward") => own("PodPortForwardOptions", &["create", "get"]),
        ("pods", "log") => own("Pod", &["get"]),
        ("pods", "proxy") => own("PodProxyOptions", PROXY_VERBS),
        ("nodes", "proxy") => own("NodeProxyOptions", PROXY_VERBS),
        ("services", "proxy") => own("ServiceProxyOptions", PROXY_VERBS),
        _ => return None,
    })
}

fn legacy_entries(t: &ResourceType) -> Vec<Value> {
    let mut main = json!({
        "name": t.plural,
        "singularName": t.singular,
        "namespaced": t.namespaced,
        "kind": t.kind,
        "verbs": t.verbs,
    });
    if !t.short_names.is_empty() {
        main["shortNames"] = json!(t.short_names);
    }
    if !t.categories.is_empty() {
        main["categories"] = json!(t.categories);
    }
    if persisted(t) {
        main["storageVersionHash"] = json!(storage_version_hash(t.group, t.version, t.kind));
    }
    let mut out = vec![main];
    for s in t.subresources {
        let Some(sub) = subresource(t, s) else {
            continue;
        };
        let mut e = json!({
            "name": format!("{}/{}", t.plural, s),
            "singularName": "",
            "namespaced": t.namespaced,
            "kind": sub.kind,
            "verbs": sub.verbs,
        });
        if !sub.group.is_empty() {
            e["group"] = json!(sub.group);
            e["version"] = json!(sub.version);
        }
        out.push(e);
    }
    out
}

fn resource_list(registry: &Registry, group: &str, version: &str) -> Vec<Value> {
    let mut r: Vec<Value> = registry
        .all()
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .flat_map(legacy_entries)
        .collect();
    // The real server sorts the list by name (installer.go: sort by path).
    r.sort_by(|a, b| {
        a["name"]
            .as_str()
            .unwrap_or("")
            .cmp(b["name"].as_str().unwrap_or(""))
    });
    r
}

/// `/api`: the APIVersions document.
pub fn api_versions(cluster: &Cluster) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": format!("{}:6443", cluster.api_ip())}
        ]
    })
}

/// `/api/v1`: the APIResourceList of the core group.
pub fn core_resources(registry: &Registry) -> Value {
    json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": resource_list(registry, "", "v1"),
    })
}

/// The discovery order of the groups: kube-apiserver's group priorities
/// (pkg/controlplane/apiserver aggregator priorities), custom resource groups last.
fn group_priority(group: &str) -> u32 {
    match group {
        "apiregistration.k8s.io" => 0,
        "apps" => 1,
        "events.k8s.io" => 2,
        "authentication.k8s.io" => 3,
        "authorization.k8s.io" => 4,
        "autoscaling" => 5,
        "batch" => 6,
        "certificates.k8s.io" => 7,
        "networking.k8s.io" => 8,
        "policy" => 9,
        "rbac.authorization.k8s.io" => 10,
        "storage.k8s.io" => 11,
        "admissionregistration.k8s.io" => 12,
        "apiextensions.k8s.io" => 13,
        "scheduling.k8s.io" => 14,
        "coordination.k8s.io" => 15,
        "node.k8s.io" => 16,
        "discovery.k8s.io" => 17,
        "flowcontrol.apiserver.k8s.io" => 18,
        _ => 1000,
    }
}

/// The named groups served, in discovery order.
fn groups(registry: &Registry) -> Vec<&'static str> {
    let mut gs: Vec<&'static str> = Vec::new();
    for (g, _) in registry.group_versions() {
        if !g.is_empty() && !gs.contains(&g) {
            gs.push(g);
        }
    }
    // Stable: custom groups keep their registration order, then by name.
    gs.sort_by(|a, b| {
        group_priority(a)
            .cmp(&group_priority(b))
            .then_with(|| a.cmp(b))
    });
    gs
}

fn versions_of(registry: &Registry, group: &str) -> Vec<&'static str> {
    registry
        .group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(_, v)| v)
        .collect()
}

fn group_json(registry: &Registry, group: &str) -> Option<Value> {
    let vs = versions_of(registry, group);
    let first = vs.first()?;
    let versions: Vec<Value> = vs
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    Some(json!({
        "name": group,
        "versions": versions,
        "preferredVersion": {"groupVersion": format!("{group}/{first}"), "version": first},
    }))
}

/// `/apis`: the APIGroupList.
pub fn api_group_list(registry: &Registry) -> Value {
    let list: Vec<Value> = groups(registry)
        .into_iter()
        .filter_map(|g| group_json(registry, g))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list})
}

/// `/apis/{group}`: the APIGroup, None when the group is not served.
pub fn api_group(registry: &Registry, group: &str) -> Option<Value> {
    let mut j = group_json(registry, group)?;
    if let Some(o) = j.as_object_mut() {
        o.insert("kind".into(), json!("APIGroup"));
        o.insert("apiVersion".into(), json!("v1"));
    }
    Some(j)
}

/// `/apis/{group}/{version}`: the APIResourceList, None when not served.
pub fn group_resources(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    if group.is_empty() || !versions_of(registry, group).contains(&version) {
        return None;
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": format!("{group}/{version}"),
        "resources": resource_list(registry, group, version),
    }))
}

/// The aggregated discovery version asked for by an `Accept` header: the first media type
/// (in the client's order) that is aggregated discovery as JSON, or None when a plain type
/// (`application/json`, `*/*`) comes first or none is aggregated.
fn asked_version(accept: &str) -> Option<&'static str> {
    asked_version_among(accept, &["v2", "v2beta1"])
}

/// As `asked_version`, among the aggregated discovery versions a server serves.
fn asked_version_among(accept: &str, served: &[&'static str]) -> Option<&'static str> {
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let (mut g, mut v, mut r#as) = (None, None, None);
        for p in parts {
            if let Some((k, val)) = p.split_once('=') {
                let val = val.trim().trim_matches('"');
                match k.trim() {
                    "g" => g = Some(val.to_string()),
                    "v" => v = Some(val.to_string()),
                    "as" => r#as = Some(val.to_string()),
                    _ => {}
                }
            }
        }
        let json_like = media == "application/json" || media == "*/*" || media == "application/*";
        if g.is_none() && v.is_none() && r#as.is_none() {
            if json_like {
                // A plain type first: the legacy document.
                return None;
            }
            continue;
        }
        if media != "application/json" {
            // Protobuf aggregated discovery: not served; try the next type.
            continue;
        }
        if g.as_deref() == Some("apidiscovery.k8s.io")
            && r#as.as_deref() == Some("APIGroupDiscoveryList")
            && let Some(found) = served.iter().find(|s| v.as_deref() == Some(**s))
        {
            return Some(found);
        }
    }
    None
}

fn discovery_resource(t: &ResourceType) -> Value {
    let mut r = json!({
        "resource": t.plural,
        "responseKind": {"group": "", "version": "", "kind": t.kind},
        "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": t.singular,
        "verbs": t.verbs,
    });
    if !t.short_names.is_empty() {
        r["shortNames"] = json!(t.short_names);
    }
    if !t.categories.is_empty() {
        r["categories"] = json!(t.categories);
    }
    let subs: Vec<Value> = t
        .subresources
        .iter()
        .filter_map(|s| {
            let sub = subresource(t, s)?;
            Some(json!({
                "subresource": s,
                "responseKind": {"group": sub.group, "version": sub.version, "kind": sub.kind},
                "verbs": sub.verbs,
            }))
        })
        .collect();
    if !subs.is_empty() {
        r["subresources"] = json!(subs);
    }
    r
}

fn discovery_group(registry: &Registry, group: &str) -> Value {
    let versions: Vec<Value> = versions_of(registry, group)
        .into_iter()
        .map(|v| {
            let mut rs: Vec<&ResourceType> = registry
                .all()
                .iter()
                .filter(|t| t.group == group && t.version == v)
                .collect();
            rs.sort_by(|a, b| a.plural.cmp(b.plural));
            let rs: Vec<Value> = rs.into_iter().map(discovery_resource).collect();
            json!({"version": v, "resources": rs, "freshness": "Current"})
        })
        .collect();
    let mut metadata = json!({"creationTimestamp": null});
    if !group.is_empty() {
        metadata["name"] = json!(group);
    }
    json!({"metadata": metadata, "versions": versions})
}

/// Aggregated discovery for `/api` (`core`) or `/apis` when `accept` asks for it: the
/// APIGroupDiscoveryList and the `Content-Type` to answer with; None when not asked.
pub fn aggregated(registry: &Registry, accept: &str, core: bool) -> Option<(Value, String)> {
    let v = asked_version(accept)?;
    Some(aggregated_doc(registry, v, core))
}

/// As `aggregated`, for a server of `git_version` (`v1.29.4`): 1.27–1.29 serve only
/// `apidiscovery.k8s.io/v2beta1` (aggregated discovery beta, on by default since 1.27);
/// 1.30+ serve v2 and still v2beta1 (deprecated, served through 1.33). Older servers have none.
pub fn aggregated_for_version(
    registry: &Registry,
    accept: &str,
    core: bool,
    git_version: &str,
) -> Option<(Value, String)> {
    let minor: u32 = git_version
        .trim_start_matches('v')
        .split('.')
        .nth(1)
        .and_then(|m| {
            m.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        })
        .unwrap_or(33);
    let served: &[&'static str] = match minor {
        0..=26 => &[],
        27..=29 => &["v2beta1"],
        _ => &["v2", "v2beta1"],
    };
    let v = asked_version_among(accept, served)?;
    Some(aggregated_doc(registry, v, core))
}

fn aggregated_doc(registry: &Registry, v: &'static str, core: bool) -> (Value, String) {
    let items: Vec<Value> = if core {
        vec![discovery_group(registry, "")]
    } else {
        groups(registry)
            .into_iter()
            .map(|g| discovery_group(registry, g))
            .collect()
    };
    let doc = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{v}"),
        "metadata": {},
        "items": items,
    });
    (
        doc,
        format!("application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed"))
    }

    #[test]
    fn storage_version_hashes_match_real_servers() {
        // Values as `kubectl get --raw /api/v1` on any 1.2x cluster shows them.
        assert_eq!(storage_version_hash("", "v1", "Pod"), "xPOwRZ+Yhw8=");
        assert_eq!(storage_version_hash("", "v1", "Service"), "0/CO1lhkEBI=");
        assert_eq!(storage_version_hash("", "v1", "ConfigMap"), "qFsyl6wFWjQ=");
        assert_eq!(storage_version_hash("", "v1", "Secret"), "S6u1pOWzb84=");
    }

    #[test]
    fn core_lists_subresources_as_own_entries() {
        let l = core_resources(&Registry::new(false));
        assert_eq!(l["kind"], "APIResourceList");
        assert_eq!(l["groupVersion"], "v1");
        let exec = find(&l, "pods/exec");
        assert_eq!(exec["kind"], "PodExecOptions");
        assert_eq!(exec["verbs"], json!(["create", "get"]));
        assert_eq!(exec["singularName"], "");
        assert!(exec.get("storageVersionHash").is_none());
        assert_eq!(find(&l, "pods/log")["verbs"], json!(["get"]));
        assert_eq!(find(&l, "nodes/proxy")["kind"], "NodeProxyOptions");
        let pods = find(&l, "pods");
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["categories"], json!(["all"]));
        assert_eq!(pods["namespaced"], true);
        assert_eq!(find(&l, "nodes")["namespaced"], false);
        // Sorted by name, as the real server lists them.
        let names: Vec<&str> = l["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(!names.iter().any(|n| n.starts_with("statefulsets")));
    }

    #[test]
    fn scale_subresource_names_autoscaling() {
        let l = group_resources(&Registry::new(true), "apps", "v1").unwrap();
        assert_eq!(l["groupVersion"], "apps/v1");
        let scale = find(&l, "statefulsets/scale");
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["version"], "v1");
        assert_eq!(scale["kind"], "Scale");
        assert!(group_resources(&Registry::new(false), "monitoring.coreos.com", "v1").is_none());
        assert!(group_resources(&Registry::new(true), "apps", "v2").is_none());
        let m = group_resources(&Registry::new(true), "monitoring.coreos.com", "v1").unwrap();
        assert_eq!(find(&m, "prometheuses")["shortNames"], json!(["prom"]));
        let a = group_resources(&Registry::new(true), "authorization.k8s.io", "v1").unwrap();
        assert!(
            find(&a, "selfsubjectaccessreviews")
                .get("storageVersionHash")
                .is_none()
        );
    }

    #[test]
    fn groups_in_priority_order() {
        let l = api_group_list(&Registry::new(true));
        let names: Vec<&str> = l["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "apps",
                "authorization.k8s.io",
                "discovery.k8s.io",
                "monitoring.coreos.com"
            ]
        );
        let g = api_group(&Registry::new(true), "apps").unwrap();
        assert_eq!(g["kind"], "APIGroup");
        assert_eq!(g["preferredVersion"]["groupVersion"], "apps/v1");
        assert!(api_group(&Registry::new(false), "monitoring.coreos.com").is_none());
    }

    #[test]
    fn aggregated_only_when_asked() {
        let r = Registry::new(true);
        // client-go 1.30+ (discovery_client.go acceptDiscoveryFormats).
        let v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        let (doc, ct) = aggregated(&r, v2, true).unwrap();
        assert_eq!(
            ct,
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        );
        assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2");
        let core = &doc["items"][0];
        assert!(core["metadata"].get("name").is_none());
        let pods = core["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["resource"] == "pods")
            .unwrap();
        assert_eq!(pods["scope"], "Namespaced");
        let exec = pods["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subresource"] == "exec")
            .unwrap();
        assert_eq!(exec["responseKind"]["kind"], "PodExecOptions");
        // client-go 1.27-1.29.
        let v2b = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        let (doc, ct) = aggregated(&r, v2b, false).unwrap();
        assert!(ct.contains("v=v2beta1"));
        assert_eq!(doc["items"][0]["metadata"]["name"], "apps");
        assert_eq!(doc["items"][0]["versions"][0]["freshness"], "Current");
        assert!(aggregated(&r, "application/json", false).is_none());
        assert!(aggregated(&r, "application/json, */*", true).is_none());
        assert!(aggregated(&r, "", true).is_none());
    }

    #[test]
    fn aggregated_versions_by_server_version() {
        let r = Registry::new(false);
        let v2_first = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        let v2_only =
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        let ct = |a, v| aggregated_for_version(&r, a, false, v).map(|(_, c)| c);
        assert!(ct(v2_first, "v1.28.3").unwrap().contains("v=v2beta1"));
        assert!(ct(v2_first, "v1.33.1").unwrap().contains("v=v2;"));
        assert!(ct(v2_only, "v1.29.0").is_none());
        assert!(ct(v2_first, "v1.26.0").is_none());
    }
}
