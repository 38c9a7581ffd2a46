//! Issue 14, item 3 (GitOps owners), on the real control plane: objects the fix changes carry
//! the labels Flux's controllers stamp and the annotation Argo CD tracks them by. The plan
//! warns for each as for Helm, with the controller that will revert the change and where the
//! change belongs instead, and the server dry run's document names the owner.

mod common_real;

use common_real::*;
use promfix_testcluster::real::RealOptions;
use serde_json::Value;

const NS: &str = "monitoring";
const PROMETHEUS: &str = "prom-prometheus-operator-prometheus";
const SERVICE_MONITOR: &str = "prom-prometheus-operator-kube-etcd";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_of_argo_cd_and_flux_get_their_owners_warning() {
    let rc = start(A, RealOptions::default()).await;
    let cwd = tempfile::tempdir().unwrap();
    let kubectl = |args: &[&str]| rc.cp.kubectl_ok(args).unwrap();
    // As Flux's kustomize-controller labels what it applies.
    kubectl(&[
        "-n",
        NS,
        "label",
        "servicemonitor",
        SERVICE_MONITOR,
        "kustomize.toolkit.fluxcd.io/name=monitoring",
        "kustomize.toolkit.fluxcd.io/namespace=flux-system",
    ]);
    // As Argo CD (annotation tracking, its default from 3.0) marks what it syncs.
    kubectl(&[
        "-n",
        NS,
        "annotate",
        "prometheus",
        PROMETHEUS,
        "argocd.argoproj.io/tracking-id=prometheus-stack:monitoring.coreos.com/Prometheus:monitoring/prom-prometheus-operator-prometheus",
    ]);
    let mut args = vec!["etcd".to_string()];
    args.extend(rc.kubespray_cert_args());
    args.push("--dry-run=server".into());
    let run = plugin(&rc, cwd.path(), &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let plan = format!("{}{}", run.stdout, run.stderr);
    assert!(
        plan.contains("warning: Flux Kustomization flux-system/monitoring manages this object: its next reconcile"),
        "{plan}"
    );
    assert!(
        plan.contains("warning: Argo CD application \"prometheus-stack\" manages this object"),
        "{plan}"
    );

    args.extend(["-o".into(), "json".into()]);
    let run = plugin(&rc, cwd.path(), &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let change = |kind: &str| {
        doc["plan"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {doc:#}"))
            .clone()
    };
    assert_eq!(
        change("ServiceMonitor")["gitOps"],
        serde_json::json!({"controller": "flux-kustomization", "name": "monitoring", "namespace": "flux-system"})
    );
    assert_eq!(
        change("Prometheus")["gitOps"],
        serde_json::json!({"controller": "argo-cd", "application": "prometheus-stack"})
    );
    assert_eq!(change("Secret")["gitOps"], Value::Null);
}
