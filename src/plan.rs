//! A plan is the list of changes a fix will make, each with the object before and after and why.
//! It is pure data: built by the fixes from what was observed, shown by `output`, written by `apply`.
//!
//! Write methods, chosen per change:
//! - `Create`: POST; an object that appeared meanwhile answers 409 AlreadyExists → re-plan.
//! - `MergePatch`: a JSON merge patch that carries the observed `metadata.resourceVersion`, so the
//!   API server rejects it with 409 Conflict when the object changed since it was read (the patch
//!   replaces whole lists, so it must not land on a newer object). Removing a field another manager
//!   owns (Helm's `spec.selector`) works with a merge patch `null`; server-side apply that merely
//!   omits it would leave it in place.
//! - `Restart`: a strategic merge patch of a workload's pod template annotation, as
//!   `kubectl rollout restart` sends it (no resourceVersion: it only sets one annotation).
//! - `Delete`: DELETE with uid and resourceVersion preconditions.

use serde_json::{Map, Value};

/// Which object a change is about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    /// The plural resource name (`services`, `prometheuses`).
    pub plural: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn of(
        api_version: &str,
        kind: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Self {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespace: namespace.map(str::to_string),
            name: name.into(),
        }
    }

    /// `Service kube-system/prom-kube-etcd`
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {}/{}", self.kind, ns, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Op {
    Create,
    MergePatch {
        patch: Value,
    },
    Restart {
        patch: Value,
    },
    Delete {
        uid: String,
        resource_version: String,
    },
}

/// The Helm release that manages an object (from its labels and annotations).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HelmRelease {
    pub name: String,
    pub namespace: Option<String>,
}

/// One change.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    pub object: ObjectRef,
    /// The object as read (None: it does not exist yet).
    pub before: Option<Value>,
    /// The object as it will be (None: deleted).
    pub after: Option<Value>,
    pub op: Op,
    /// Why, in one line.
    pub reason: String,
    /// Set when Helm manages the object: `helm upgrade` will revert the change.
    pub helm: Option<HelmRelease>,
}

/// The changes of one fix, in the order they must be written.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// Things the user should know that are not changes (warnings, choices made).
    pub notes: Vec<String>,
    /// What is wrong but this command does not change, and why (so an empty plan does not
    /// read as "all is well").
    pub not_fixed: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn extend(&mut self, other: Plan) {
        self.changes.extend(other.changes);
        self.notes.extend(other.notes);
        self.not_fixed.extend(other.not_fixed);
    }
}

/// The Helm release managing an object, if any: `meta.helm.sh/release-name` annotation, or the
/// `app.kubernetes.io/managed-by: Helm` / `heritage: Helm` labels with `release` or
/// `app.kubernetes.io/instance`.
pub fn helm_release(obj: &Value) -> Option<HelmRelease> {
    let meta = obj.get("metadata")?;
    let ann = |k: &str| {
        meta.get("annotations")
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
    };
    let label = |k: &str| {
        meta.get("labels")
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
    };
    if let Some(name) = ann("meta.helm.sh/release-name") {
        return Some(HelmRelease {
            name: name.to_string(),
            namespace: ann("meta.helm.sh/release-namespace").map(str::to_string),
        });
    }
    // Controllers copy a Service's labels onto its Endpoints and EndpointSlices; Helm did not
    // write those objects, so only its annotations (Helm >= 3.2 stamps them) count there.
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if matches!(kind, "Endpoints" | "EndpointSlice") {
        return None;
    }
    let by_helm =
        label("app.kubernetes.io/managed-by") == Some("Helm") || label("heritage") == Some("Helm");
    if by_helm {
        let name = label("release")
            .or_else(|| label("app.kubernetes.io/instance"))
            .unwrap_or("(unknown)");
        return Some(HelmRelease {
            name: name.to_string(),
            namespace: None,
        });
    }
    None
}

/// A GitOps controller that keeps an object as its source says: it reverts hand edits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "controller", rename_all = "kebab-case")]
pub enum GitOpsOwner {
    /// Argo CD's resource tracking: the `argocd.argoproj.io/tracking-id` annotation
    /// (`<app>:<group>/<kind>:<namespace>/<name>`; the default tracking from Argo CD 3) or the
    /// `argocd.argoproj.io/instance` label. (Label tracking on `app.kubernetes.io/instance`
    /// cannot be told from Helm's own label.)
    ArgoCd { application: String },
    /// Flux's kustomize-controller: `kustomize.toolkit.fluxcd.io/name` and `/namespace`.
    FluxKustomization { name: String, namespace: String },
    /// Flux's helm-controller: `helm.toolkit.fluxcd.io/name` and `/namespace`.
    FluxHelmRelease { name: String, namespace: String },
}

/// The GitOps controller that manages an object, if any (from its labels and annotations).
/// Endpoints and EndpointSlices are skipped: controllers copy a Service's labels onto them.
pub fn gitops_owner(obj: &Value) -> Option<GitOpsOwner> {
    let meta = obj.get("metadata")?;
    let get = |map: &str, k: &str| {
        meta.get(map)
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if matches!(kind, "Endpoints" | "EndpointSlice") {
        return None;
    }
    let flux = |group: &str| {
        let name = get("labels", &format!("{group}.toolkit.fluxcd.io/name"))?;
        let namespace = get("labels", &format!("{group}.toolkit.fluxcd.io/namespace"))?;
        Some((name.to_string(), namespace.to_string()))
    };
    if let Some((name, namespace)) = flux("helm") {
        return Some(GitOpsOwner::FluxHelmRelease { name, namespace });
    }
    if let Some((name, namespace)) = flux("kustomize") {
        return Some(GitOpsOwner::FluxKustomization { name, namespace });
    }
    let app = get("annotations", "argocd.argoproj.io/tracking-id")
        .and_then(|t| t.split(':').next())
        .or_else(|| get("labels", "argocd.argoproj.io/instance"))?;
    Some(GitOpsOwner::ArgoCd {
        application: app.to_string(),
    })
}

impl GitOpsOwner {
    /// `Flux HelmRelease monitoring/kps`, `Argo CD application "prometheus-stack"`.
    pub fn describe(&self) -> String {
        match self {
            GitOpsOwner::ArgoCd { application } => format!("Argo CD application {application:?}"),
            GitOpsOwner::FluxKustomization { name, namespace } => {
                format!("Flux Kustomization {namespace}/{name}")
            }
            GitOpsOwner::FluxHelmRelease { name, namespace } => {
                format!("Flux HelmRelease {namespace}/{name}")
            }
        }
    }

    /// The plan's warning for a change to an object it manages.
    pub fn warning(&self) -> String {
        match self {
            GitOpsOwner::ArgoCd { application } => format!(
                "Argo CD application {application:?} manages this object: with self-heal on it reverts this change at once, \
                 otherwise the application shows OutOfSync and its next sync reverts it. Put the change in the application's \
                 source (a Helm source: its values, see --helm-values; plain manifests: edit them there)"
            ),
            GitOpsOwner::FluxKustomization { name, namespace } => format!(
                "Flux Kustomization {namespace}/{name} manages this object: its next reconcile (every spec.interval) reverts \
                 this change. Put the change in its source (the manifests, or a patch in its kustomization.yaml)"
            ),
            GitOpsOwner::FluxHelmRelease { name, namespace } => format!(
                "Flux HelmRelease {namespace}/{name} manages this object: helm-controller's next upgrade or drift correction \
                 reverts this change unless spec.values of the HelmRelease carry it (see --helm-values: those values go into \
                 spec.values)"
            ),
        }
    }
}

/// The JSON merge patch (RFC 7386) that turns `before` into `after`, or None when they are equal.
/// Lists are replaced whole; removed keys become `null`.
pub fn merge_diff(before: &Value, after: &Value) -> Option<Value> {
    if before == after {
        return None;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut out = Map::new();
            for (k, av) in a {
                match b.get(k) {
                    Some(bv) => {
                        if let Some(d) = merge_diff(bv, av) {
                            out.insert(k.clone(), d);
                        }
                    }
                    None => {
                        out.insert(k.clone(), av.clone());
                    }
                }
            }
            for k in b.keys() {
                if !a.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            if out.is_empty() {
                None
            } else {
                Some(Value::Object(out))
            }
        }
        _ => Some(after.clone()),
    }
}

/// The object without what the server owns: metadata the server sets (resourceVersion, uid,
/// managedFields, creationTimestamp, generation) and the status (a subresource: writes to the
/// main resource never change it).
pub fn without_server_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "resourceVersion",
            "managedFields",
            "uid",
            "creationTimestamp",
            "generation",
        ] {
            m.remove(k);
        }
    }
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
    }
    v
}

/// A merge patch from `before` to `after` that also carries `before`'s resourceVersion as a
/// precondition. Server-owned metadata is never part of the patch.
pub fn guarded_merge_patch(before: &Value, after: &Value) -> Option<Value> {
    let mut patch = merge_diff(
        &without_server_fields(before),
        &without_server_fields(after),
    )?;
    let rv = before
        .get("metadata")
        .and_then(|m| m.get("resourceVersion"))
        .cloned()
        .unwrap_or(Value::Null);
    if !rv.is_null() {
        if patch.get("metadata").is_none() {
            patch["metadata"] = Value::Object(Map::new());
        }
        patch["metadata"]["resourceVersion"] = rv;
    }
    Some(patch)
}

#[cfg(test)]
mod tests {

    #[test]
    fn gitops_owners_are_told_by_their_labels_and_annotations() {
        let obj = |labels: Value, annotations: Value| json!({"kind": "ServiceMonitor", "metadata": {"name": "x", "labels": labels, "annotations": annotations}});
        let flux_ks = obj(
            json!({"kustomize.toolkit.fluxcd.io/name": "monitoring", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}),
            json!({}),
        );
        assert_eq!(
            gitops_owner(&flux_ks),
            Some(GitOpsOwner::FluxKustomization {
                name: "monitoring".into(),
                namespace: "flux-system".into()
            })
        );
        assert!(
            gitops_owner(&flux_ks)
                .unwrap()
                .warning()
                .contains("next reconcile")
        );
        // helm-controller's objects carry Helm's annotations too: the HelmRelease is the owner.
        let flux_hr = obj(
            json!({"helm.toolkit.fluxcd.io/name": "kps", "helm.toolkit.fluxcd.io/namespace": "monitoring", "app.kubernetes.io/managed-by": "Helm"}),
            json!({"meta.helm.sh/release-name": "kps"}),
        );
        assert!(matches!(
            gitops_owner(&flux_hr),
            Some(GitOpsOwner::FluxHelmRelease { .. })
        ));
        assert!(
            gitops_owner(&flux_hr)
                .unwrap()
                .warning()
                .contains("spec.values")
        );
        let argo = obj(
            json!({}),
            json!({"argocd.argoproj.io/tracking-id": "kube-prometheus-stack:monitoring.coreos.com/ServiceMonitor:monitoring/x"}),
        );
        assert_eq!(
            gitops_owner(&argo),
            Some(GitOpsOwner::ArgoCd {
                application: "kube-prometheus-stack".into()
            })
        );
        let argo_label = obj(json!({"argocd.argoproj.io/instance": "prom"}), json!({}));
        assert!(matches!(
            gitops_owner(&argo_label),
            Some(GitOpsOwner::ArgoCd { .. })
        ));
        // Helm alone (its app.kubernetes.io/instance is not Argo's) and copied labels: none.
        let helm = obj(
            json!({"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": "prom"}),
            json!({}),
        );
        assert_eq!(gitops_owner(&helm), None);
        let mut ep = flux_ks.clone();
        ep["kind"] = json!("Endpoints");
        assert_eq!(gitops_owner(&ep), None);
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn merge_diff_nulls_removed_keys_and_replaces_lists() {
        let b = json!({"spec": {"selector": {"component": "etcd"}, "ports": [{"port": 2381}]}});
        let a = json!({"spec": {"ports": [{"port": 2379}]}});
        assert_eq!(
            merge_diff(&b, &a).unwrap(),
            json!({"spec": {"selector": null, "ports": [{"port": 2379}]}})
        );
        assert_eq!(merge_diff(&a, &a), None);
    }

    #[test]
    fn guarded_patch_carries_the_resource_version() {
        let b =
            json!({"metadata": {"name": "x", "resourceVersion": "42"}, "spec": {"secrets": []}});
        let mut a = b.clone();
        a["spec"]["secrets"] = json!(["etcd-client-cert"]);
        assert_eq!(
            guarded_merge_patch(&b, &a).unwrap(),
            json!({"metadata": {"resourceVersion": "42"}, "spec": {"secrets": ["etcd-client-cert"]}})
        );
        assert_eq!(guarded_merge_patch(&b, &b), None);
    }

    #[test]
    fn helm_release_from_labels_or_annotations() {
        let o = json!({"metadata": {"labels": {"heritage": "Helm", "release": "prom"}}});
        assert_eq!(helm_release(&o).unwrap().name, "prom");
        let o = json!({"metadata": {"annotations": {"meta.helm.sh/release-name": "kps", "meta.helm.sh/release-namespace": "monitoring"}}});
        let r = helm_release(&o).unwrap();
        assert_eq!(
            (r.name.as_str(), r.namespace.as_deref()),
            ("kps", Some("monitoring"))
        );
        assert!(helm_release(&json!({"metadata": {}})).is_none());
    }
}
