//! Whether a provider runs the control plane (EKS, GKE, AKS and others with the same signs),
//! judged from lists doctor makes anyway plus a few cluster-wide reads (no per-node request):
//! the server's `gitVersion`, the first node's `providerID` and labels, whether any node is a
//! control-plane node, and whether kube-system has kube-apiserver pods.
//!
//! A provider's sign alone is not enough (a kubeadm cluster on EC2 has `aws://` provider IDs,
//! EKS Anywhere has `-eks-` versions): the control plane must also be absent from the cluster
//! (no control-plane node, no kube-apiserver pod).

use serde::Serialize;
use serde_json::Value;

/// What was read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Signs {
    /// The API server's `gitVersion` (`/version`).
    pub git_version: Option<String>,
    /// The first node's `spec.providerID`.
    pub provider_id: Option<String>,
    /// The first node's labels that name a provider (keys only).
    pub provider_labels: Vec<String>,
    /// Whether some node has `node-role.kubernetes.io/control-plane` (or `master`); None: unread.
    pub control_plane_nodes: Option<bool>,
    /// Whether kube-system has kube-apiserver pods (`tier=control-plane`); None: unread.
    pub apiserver_pods: Option<bool>,
}

/// The judgement: who runs the control plane, and the signs that say so.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Managed {
    /// `EKS`, `GKE`, `AKS`, ...
    pub provider: String,
    pub signs: Vec<String>,
    /// EKS only: whether its control-plane metrics API is served (EKS 1.28 and newer); read
    /// by doctor once the judgement says EKS, None until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eks_metrics_api: Option<bool>,
}

/// Node label prefixes a provider's node pools carry.
const LABELS: &[(&str, &str)] = &[
    ("eks.amazonaws.com/", "EKS"),
    ("cloud.google.com/gke-", "GKE"),
    ("kubernetes.azure.com/", "AKS"),
    ("doks.digitalocean.com/", "DOKS"),
    ("lke.linode.com/", "LKE"),
];

/// `spec.providerID` prefixes (the cloud a node runs in, not who runs the control plane).
const PROVIDER_IDS: &[(&str, &str)] = &[
    ("aws://", "EKS"),
    ("gce://", "GKE"),
    ("azure://", "AKS"),
    ("digitalocean://", "DOKS"),
    ("linode://", "LKE"),
    ("oci://", "OKE"),
];

/// The labels of `node` that name a provider.
pub fn provider_labels(node: &Value) -> Vec<String> {
    node["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .filter(|k| LABELS.iter().any(|(p, _)| k.starts_with(p)))
        .cloned()
        .collect()
}

/// The provider a `gitVersion` suffix names (`v1.30.4-eks-a1b2c3`, `v1.30.5-gke.1014001`).
fn by_version(v: &str) -> Option<&'static str> {
    if v.contains("-eks-") {
        Some("EKS")
    } else if v.contains("-gke.") {
        Some("GKE")
    } else {
        None
    }
}

/// Who runs the control plane, when the signs say a provider does.
pub fn judge(s: &Signs) -> Option<Managed> {
    // The control plane must be absent from the cluster, as read.
    if s.control_plane_nodes != Some(false) || s.apiserver_pods != Some(false) {
        return None;
    }
    let mut signs = Vec::new();
    let version = s.git_version.as_deref().and_then(by_version);
    if let (Some(p), Some(v)) = (version, &s.git_version) {
        signs.push(format!("the API server's version {v} is {p}'s"));
    }
    let label = s.provider_labels.iter().find_map(|l| {
        LABELS
            .iter()
            .find(|(p, _)| l.starts_with(p))
            .map(|x| (l, x.1))
    });
    if let Some((l, p)) = label {
        signs.push(format!("node label {l} ({p} node pools)"));
    }
    let id = s.provider_id.as_deref().and_then(|id| {
        PROVIDER_IDS
            .iter()
            .find(|(p, _)| id.starts_with(p))
            .map(|x| (id, x.1))
    });
    if let Some((id, p)) = id {
        signs.push(format!("node providerID {id} ({p})"));
    }
    let provider = version.or(label.map(|x| x.1)).or(id.map(|x| x.1))?;
    signs.push("no control-plane node".into());
    signs.push("no kube-apiserver pod in kube-system".into());
    Some(Managed {
        provider: provider.to_string(),
        signs,
        eks_metrics_api: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn absent() -> Signs {
        Signs {
            control_plane_nodes: Some(false),
            apiserver_pods: Some(false),
            ..Default::default()
        }
    }

    #[test]
    fn each_provider_by_its_signs() {
        let mut s = absent();
        s.git_version = Some("v1.31.2-eks-7f9249a".into());
        s.provider_id = Some("aws:///eu-west-1a/i-0abc".into());
        let m = judge(&s).unwrap();
        assert_eq!(m.provider, "EKS");
        assert_eq!(
            m.eks_metrics_api, None,
            "read after the judgement, on EKS only"
        );
        assert!(m.signs[0].contains("v1.31.2-eks-7f9249a"), "{:?}", m.signs);
        assert!(
            m.signs
                .iter()
                .any(|x| x.contains("aws:///eu-west-1a/i-0abc"))
        );

        let mut s = absent();
        s.git_version = Some("v1.30.5-gke.1014001".into());
        assert_eq!(judge(&s).unwrap().provider, "GKE");

        let node = json!({"metadata": {"labels": {
            "kubernetes.azure.com/cluster": "MC_rg_aks_westeurope",
            "kubernetes.io/os": "linux"}}});
        let mut s = absent();
        s.git_version = Some("v1.30.4".into());
        s.provider_labels = provider_labels(&node);
        s.provider_id = Some("azure:///subscriptions/x/vmss/0".into());
        let m = judge(&s).unwrap();
        assert_eq!(m.provider, "AKS");
        assert_eq!(m.eks_metrics_api, None);
        assert_eq!(s.provider_labels, ["kubernetes.azure.com/cluster"]);
    }

    #[test]
    fn a_control_plane_in_the_cluster_is_not_managed() {
        // kubeadm on EC2: aws:// provider IDs, but control-plane nodes and apiserver pods.
        let mut s = absent();
        s.provider_id = Some("aws:///us-east-1a/i-1".into());
        s.control_plane_nodes = Some(true);
        s.apiserver_pods = Some(true);
        assert_eq!(judge(&s), None);
        // EKS Anywhere: an -eks- version, with its control-plane nodes.
        s.git_version = Some("v1.30.1-eks-1-30-9".into());
        s.apiserver_pods = Some(false);
        assert_eq!(judge(&s), None);
        // Nothing read of the control plane: no judgement.
        let mut s = absent();
        s.git_version = Some("v1.31.2-eks-7f9249a".into());
        s.apiserver_pods = None;
        assert_eq!(judge(&s), None);
        // Absent, but no provider's sign (a control plane run outside the cluster by hand).
        assert_eq!(judge(&absent()), None);
    }
}
