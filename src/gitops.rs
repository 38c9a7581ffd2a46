//! The change of a plan in the form each GitOps owner of its objects takes (issue 14, item 3):
//! a hand edit to an object that Argo CD or Flux keeps is reverted by the next sync, so the
//! change has to go into the owner's source instead.
//!
//! - Flux's helm-controller (`helm.toolkit.fluxcd.io/*` labels): the HelmRelease's
//!   `spec.values`, when the command has chart values for the change (etcd, control-plane);
//!   otherwise `spec.postRenderers[].kustomize.patches`, which helm-controller applies to what
//!   the chart renders.
//! - Argo CD (`argocd.argoproj.io/tracking-id` or `/instance`): the Application's
//!   `spec.source.helm.valuesObject` when the objects come from a Helm chart (they carry Helm's
//!   labels, which `helm template` renders) and the command has chart values; otherwise a
//!   Kustomize patch for the application's source.
//! - Flux's kustomize-controller (`kustomize.toolkit.fluxcd.io/*`): a Kustomize patch.
//!
//! Kustomize patches are inline patches with `target`s: the JSON merge patch of the change
//! (lists replaced whole, `null` removes a field), `$patch: delete` for a deletion. Pure: no I/O.
//! Secret data never appears here: a change to a Secret is named, not carried.

use crate::plan::{self, Change, GitOpsOwner, Op, Plan};
use serde_json::{Value, json};

/// One file to write for one owner.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerFile {
    /// The file's name (no directory): `flux-helmrelease-<ns>-<name>.yaml`, …
    pub file_name: String,
    pub owner: GitOpsOwner,
    /// Comment lines (without `# `) that say where the document goes.
    pub header: Vec<String>,
    /// The YAML document.
    pub document: Value,
}

impl OwnerFile {
    /// The file's text: its header as comments, then the document.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for h in &self.header {
            out.push_str("# ");
            out.push_str(h);
            out.push('\n');
        }
        out.push_str(&serde_yaml_ng::to_string(&self.document).unwrap_or_default());
        out
    }
}

/// The files for the owners of the plan's changes, and notes on what they cannot carry.
/// `values`: the chart values of the change (kube-prometheus-stack's), when the command has them.
pub fn owner_files(plan: &Plan, values: Option<&Value>) -> (Vec<OwnerFile>, Vec<String>) {
    let mut groups: Vec<(GitOpsOwner, Vec<&Change>)> = Vec::new();
    for c in &plan.changes {
        let Some(owner) = c.before.as_ref().and_then(plan::gitops_owner) else {
            continue;
        };
        match groups.iter_mut().find(|(o, _)| *o == owner) {
            Some((_, v)) => v.push(c),
            None => groups.push((owner, vec![c])),
        }
    }
    let mut notes = Vec::new();
    let files = groups
        .into_iter()
        .map(|(owner, changes)| {
            let (patches, mut n) = kustomize_patches(&changes);
            notes.append(&mut n);
            let from_chart = changes.iter().all(|c| c.helm.is_some());
            match (&owner, values) {
                (GitOpsOwner::FluxHelmRelease { name, namespace }, Some(v)) => {
                    helm_release_values(&owner, name, namespace, v)
                }
                (GitOpsOwner::FluxHelmRelease { name, namespace }, None) => {
                    helm_release_post_renderer(&owner, name, namespace, patches)
                }
                (GitOpsOwner::ArgoCd { application }, Some(v)) if from_chart => {
                    argo_values(&owner, application, v)
                }
                _ => kustomization(&owner, patches),
            }
        })
        .collect();
    (files, notes)
}

/// `[a-z0-9.-]` only, for a file name.
fn file_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn helm_release_doc(name: &str, namespace: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    })
}

fn helm_release_values(owner: &GitOpsOwner, name: &str, ns: &str, values: &Value) -> OwnerFile {
    OwnerFile {
        file_name: format!(
            "flux-helmrelease-{}-{}.yaml",
            file_part(ns),
            file_part(name)
        ),
        owner: owner.clone(),
        header: vec![
            format!(
                "Flux HelmRelease {ns}/{name}: merge spec.values below into the HelmRelease in its Git source;"
            ),
            "helm-controller's next upgrade then renders the fix, and keeps it.".into(),
            format!(
                "(A cluster without that source: kubectl -n {ns} patch helmrelease {name} --type merge --patch-file <this file>)"
            ),
        ],
        document: helm_release_doc(name, ns, json!({ "values": values })),
    }
}

fn helm_release_post_renderer(
    owner: &GitOpsOwner,
    name: &str,
    ns: &str,
    patches: Vec<Value>,
) -> OwnerFile {
    OwnerFile {
        file_name: format!("flux-helmrelease-{}-{}.yaml", file_part(ns), file_part(name)),
        owner: owner.clone(),
        header: vec![
            format!("Flux HelmRelease {ns}/{name}: add these Kustomize patches to spec.postRenderers of the HelmRelease"),
            "in its Git source (helm-controller applies them to what the chart renders; a merge patch of this".into(),
            "file replaces a postRenderers list already there: merge them by hand).".into(),
        ],
        document: helm_release_doc(
            name,
            ns,
            json!({ "postRenderers": [{ "kustomize": { "patches": patches } }] }),
        ),
    }
}

fn argo_values(owner: &GitOpsOwner, application: &str, values: &Value) -> OwnerFile {
    // Applications in any namespace are tracked as `<namespace>_<name>`.
    let (ns, name) = match application.split_once('_') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, application),
    };
    let mut metadata = json!({ "name": name });
    if let Some(ns) = ns {
        metadata["namespace"] = json!(ns);
    }
    OwnerFile {
        file_name: format!("argocd-application-{}.yaml", file_part(application)),
        owner: owner.clone(),
        header: vec![
            format!("Argo CD application {application:?}: its objects come from a Helm chart. Merge the values below into"),
            "spec.source.helm.valuesObject of the Application in Git (a multi-source application: the chart's".into(),
            "spec.sources[i].helm.valuesObject; Argo CD 2.6 or newer), then sync.".into(),
        ],
        document: json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": metadata,
            "spec": { "source": { "helm": { "valuesObject": values } } },
        }),
    }
}

fn kustomization(owner: &GitOpsOwner, patches: Vec<Value>) -> OwnerFile {
    let (file_name, whose) = match owner {
        GitOpsOwner::ArgoCd { application } => (
            format!(
                "argocd-application-{}-kustomization.yaml",
                file_part(application)
            ),
            format!("the source path of Argo CD application {application:?}"),
        ),
        GitOpsOwner::FluxKustomization { name, namespace }
        | GitOpsOwner::FluxHelmRelease { name, namespace } => (
            format!(
                "flux-kustomization-{}-{}.yaml",
                file_part(namespace),
                file_part(name)
            ),
            format!("the spec.path of Flux Kustomization {namespace}/{name}"),
        ),
    };
    OwnerFile {
        file_name,
        owner: owner.clone(),
        header: vec![
            format!(
                "Add these patches to the kustomization.yaml at {whose} (next to its resources),"
            ),
            "so that the next sync renders the fix instead of reverting it.".into(),
        ],
        document: json!({ "patches": patches }),
    }
}

/// The Kustomize patches (`{target, patch}`) of changes to existing objects, and notes on those
/// no patch carries (a restart, a Secret's data).
fn kustomize_patches(changes: &[&Change]) -> (Vec<Value>, Vec<String>) {
    let mut patches = Vec::new();
    let mut notes = Vec::new();
    for c in changes {
        let o = &c.object;
        if o.kind == "Secret" {
            notes.push(format!(
                "{}: its data is the etcd client certificate and key, which do not belong in Git as they are: keep them in an encrypted form your GitOps tool decrypts (SOPS, Sealed Secrets, External Secrets) and update that from the same files",
                o.display()
            ));
            continue;
        }
        let body = match (&c.op, &c.before, &c.after) {
            (Op::MergePatch { .. }, Some(before), Some(after)) => {
                let Some(d) = plan::merge_diff(
                    &plan::without_server_fields(before),
                    &plan::without_server_fields(after),
                ) else {
                    continue;
                };
                d
            }
            (Op::Delete { .. }, _, _) => json!({ "$patch": "delete" }),
            (Op::Restart { .. }, _, _) => {
                notes.push(format!(
                    "{}: its rollout restart is a one-time action, not a change to keep in Git",
                    o.display()
                ));
                continue;
            }
            _ => continue,
        };
        let mut patch = body;
        let mut metadata = patch
            .get("metadata")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        metadata["name"] = json!(o.name);
        if let Some(ns) = &o.namespace {
            metadata["namespace"] = json!(ns);
        }
        patch["apiVersion"] = json!(o.api_version);
        patch["kind"] = json!(o.kind);
        patch["metadata"] = metadata;
        let (group, version) = match o.api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", o.api_version.as_str()),
        };
        let mut target = json!({ "version": version, "kind": o.kind, "name": o.name });
        if !group.is_empty() {
            target["group"] = json!(group);
        }
        if let Some(ns) = &o.namespace {
            target["namespace"] = json!(ns);
        }
        patches.push(json!({
            "target": target,
            "patch": serde_yaml_ng::to_string(&patch).unwrap_or_default(),
        }));
    }
    (patches, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{ObjectRef, helm_release};

    fn sm(labels: Value, annotations: Value) -> Value {
        json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": "kps-kube-etcd", "namespace": "monitoring", "resourceVersion": "7",
                         "labels": labels, "annotations": annotations},
            "spec": {"endpoints": [{"port": "http-metrics"}], "selector": {}},
        })
    }

    fn https(before: &Value) -> Change {
        let mut after = before.clone();
        after["spec"]["endpoints"] = json!([{"port": "http-metrics", "scheme": "https"}]);
        Change {
            object: ObjectRef::of(
                "monitoring.coreos.com/v1",
                "ServiceMonitor",
                "servicemonitors",
                Some("monitoring"),
                "kps-kube-etcd",
            ),
            op: Op::MergePatch {
                patch: plan::guarded_merge_patch(before, &after).unwrap(),
            },
            helm: helm_release(before),
            before: Some(before.clone()),
            after: Some(after),
            reason: "https".into(),
        }
    }

    fn plan_of(changes: Vec<Change>) -> Plan {
        Plan {
            changes,
            ..Plan::default()
        }
    }

    #[test]
    fn a_flux_kustomization_gets_an_inline_patch_with_its_target() {
        let before = sm(
            json!({"kustomize.toolkit.fluxcd.io/name": "monitoring", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}),
            json!({}),
        );
        let (files, notes) = owner_files(&plan_of(vec![https(&before)]), None);
        assert!(notes.is_empty());
        assert_eq!(files.len(), 1);
        let f = &files[0];
        assert_eq!(
            f.file_name,
            "flux-kustomization-flux-system-monitoring.yaml"
        );
        let p = &f.document["patches"][0];
        assert_eq!(
            p["target"],
            json!({"group": "monitoring.coreos.com", "version": "v1", "kind": "ServiceMonitor",
                   "name": "kps-kube-etcd", "namespace": "monitoring"})
        );
        let patch: Value = serde_yaml_ng::from_str(p["patch"].as_str().unwrap()).unwrap();
        assert_eq!(
            patch,
            json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                   "metadata": {"name": "kps-kube-etcd", "namespace": "monitoring"},
                   "spec": {"endpoints": [{"port": "http-metrics", "scheme": "https"}]}})
        );
        assert!(f.text().starts_with("# Add these patches to the kustomization.yaml at the spec.path of Flux Kustomization flux-system/monitoring"));
    }

    #[test]
    fn a_flux_helm_release_gets_its_values_or_post_renderer_patches() {
        let before = sm(
            json!({"helm.toolkit.fluxcd.io/name": "kps", "helm.toolkit.fluxcd.io/namespace": "monitoring",
                   "app.kubernetes.io/managed-by": "Helm", "release": "kps"}),
            json!({"meta.helm.sh/release-name": "kps", "meta.helm.sh/release-namespace": "monitoring"}),
        );
        let values = json!({"kubeEtcd": {"serviceMonitor": {"scheme": "https"}}});
        let (files, _) = owner_files(&plan_of(vec![https(&before)]), Some(&values));
        let f = &files[0];
        assert_eq!(f.file_name, "flux-helmrelease-monitoring-kps.yaml");
        assert_eq!(f.document["kind"], "HelmRelease");
        assert_eq!(f.document["apiVersion"], "helm.toolkit.fluxcd.io/v2");
        assert_eq!(
            f.document["metadata"],
            json!({"name": "kps", "namespace": "monitoring"})
        );
        assert_eq!(f.document["spec"], json!({"values": values}));

        let (files, _) = owner_files(&plan_of(vec![https(&before)]), None);
        let pr = &files[0].document["spec"]["postRenderers"][0]["kustomize"]["patches"][0];
        assert_eq!(pr["target"]["kind"], "ServiceMonitor");
    }

    #[test]
    fn argo_cd_gets_helm_values_only_for_chart_objects() {
        let tracking = json!({"argocd.argoproj.io/tracking-id":
            "argocd_prometheus-stack:monitoring.coreos.com/ServiceMonitor:monitoring/kps-kube-etcd"});
        let values = json!({"kubeEtcd": {"enabled": true}});
        let chart = sm(
            json!({"app.kubernetes.io/managed-by": "Helm", "release": "kps"}),
            tracking.clone(),
        );
        let (files, _) = owner_files(&plan_of(vec![https(&chart)]), Some(&values));
        let f = &files[0];
        assert_eq!(
            f.file_name,
            "argocd-application-argocd-prometheus-stack.yaml"
        );
        assert_eq!(
            f.document["metadata"],
            json!({"name": "prometheus-stack", "namespace": "argocd"})
        );
        assert_eq!(f.document["spec"]["source"]["helm"]["valuesObject"], values);
        // Plain manifests: a Kustomize patch, even when the command has chart values.
        let plain = sm(json!({}), tracking);
        let (files, _) = owner_files(&plan_of(vec![https(&plain)]), Some(&values));
        assert_eq!(
            files[0].file_name,
            "argocd-application-argocd-prometheus-stack-kustomization.yaml"
        );
        assert!(files[0].document["patches"].is_array());
    }

    #[test]
    fn a_removed_field_is_null_a_deletion_is_a_delete_patch_and_secrets_are_named_only() {
        let labels = json!({"kustomize.toolkit.fluxcd.io/name": "m", "kustomize.toolkit.fluxcd.io/namespace": "f"});
        let svc = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kps-kube-etcd", "namespace": "kube-system", "labels": labels, "uid": "u", "resourceVersion": "3"},
            "spec": {"selector": {"component": "etcd"}, "ports": [{"port": 2379}]}});
        let mut no_sel = svc.clone();
        no_sel["spec"].as_object_mut().unwrap().remove("selector");
        let r = |kind: &str, plural: &str| {
            ObjectRef::of("v1", kind, plural, Some("kube-system"), "kps-kube-etcd")
        };
        let mut secret = svc.clone();
        secret["kind"] = json!("Secret");
        secret["data"] = json!({"etcd-client-key": "c2VjcmV0LWtleQ=="});
        let mut renewed = secret.clone();
        renewed["data"] = json!({"etcd-client-key": "bmV3LXNlY3JldA=="});
        let plan = plan_of(vec![
            Change {
                object: r("Service", "services"),
                op: Op::MergePatch { patch: json!({}) },
                before: Some(svc.clone()),
                after: Some(no_sel),
                reason: String::new(),
                helm: None,
            },
            Change {
                object: r("Endpoints", "endpoints"),
                op: Op::Delete {
                    uid: "u".into(),
                    resource_version: "3".into(),
                },
                before: Some(json!({"kind": "EndpointSlice", "metadata": {"labels": labels}})),
                after: None,
                reason: String::new(),
                helm: None,
            },
            Change {
                object: r("Secret", "secrets"),
                op: Op::MergePatch { patch: json!({}) },
                before: Some(secret),
                after: Some(renewed),
                reason: String::new(),
                helm: None,
            },
        ]);
        let (files, notes) = owner_files(&plan, None);
        let text = files[0].text();
        assert!(text.contains("selector: null"), "{text}");
        assert!(
            !text.contains("c2VjcmV0") && !text.contains("bmV3"),
            "{text}"
        );
        // EndpointSlices carry copied labels: no owner, no patch.
        assert_eq!(files[0].document["patches"].as_array().unwrap().len(), 1);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].starts_with("Secret kube-system/kps-kube-etcd: its data"));
        assert!(!notes[0].contains("c2VjcmV0"));
        let patch = json!({"$patch": "delete"});
        let del = kustomize_patches(&[&Change {
            object: r("Service", "services"),
            op: Op::Delete {
                uid: "u".into(),
                resource_version: "3".into(),
            },
            before: Some(svc),
            after: None,
            reason: String::new(),
            helm: None,
        }])
        .0;
        let body: Value = serde_yaml_ng::from_str(del[0]["patch"].as_str().unwrap()).unwrap();
        assert_eq!(body["$patch"], patch["$patch"]);
        assert!(del[0]["target"].get("group").is_none());
    }
}
