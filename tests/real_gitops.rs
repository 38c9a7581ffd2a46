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

/// Flux's kustomize-controller puts the etcd ServiceMonitor back as its source has it (a
/// server-side apply with force, as it syncs) after the fix: its endpoints list (atomic in the
/// CRD) is the source's again, http. verify says the fix was reverted and names the manager
/// that owns the field now, from the real API server's managedFields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_manager_that_reverted_the_fix() {
    let rc = start(A, RealOptions::default()).await;
    let cwd = tempfile::tempdir().unwrap();
    let source = get(&rc, &["servicemonitor", "-n", NS, SERVICE_MONITOR]).unwrap();
    let mut args = vec!["etcd".to_string()];
    args.extend(rc.kubespray_cert_args());
    args.extend(["--yes".into(), "--no-verify".into()]);
    let run = plugin(&rc, cwd.path(), &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let fixed = get(&rc, &["servicemonitor", "-n", NS, SERVICE_MONITOR]).unwrap();
    assert_eq!(
        fixed["spec"]["endpoints"][0]["scheme"], "https",
        "{fixed:#}"
    );

    // The sync: the source's object, applied server-side with force.
    let mut back = source.clone();
    let meta = back["metadata"].as_object_mut().unwrap();
    for k in [
        "resourceVersion",
        "managedFields",
        "generation",
        "creationTimestamp",
        "uid",
    ] {
        meta.remove(k);
    }
    let file = cwd.path().join("source.json");
    std::fs::write(&file, back.to_string()).unwrap();
    rc.cp
        .kubectl_ok(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=kustomize-controller",
            "-f",
            &file.display().to_string(),
        ])
        .unwrap();
    let now = get(&rc, &["servicemonitor", "-n", NS, SERVICE_MONITOR]).unwrap();
    assert_ne!(now["spec"]["endpoints"][0]["scheme"], "https", "{now:#}");

    let v = plugin(
        &rc,
        cwd.path(),
        &["verify", "--no-wait", "--timeout", "20s", "-o", "json"],
    );
    assert_eq!(v.code, 3, "{}\n{}", v.stdout, v.stderr);
    let doc: Value = serde_json::from_str(&v.stdout).unwrap();
    let problems = doc[0]["problems"].to_string();
    assert!(
        problems
            .contains("kubectl-promfix wrote spec.endpoints, and kustomize-controller (Apply at ")
            && problems.contains("the fix was reverted"),
        "{doc:#}"
    );
}
