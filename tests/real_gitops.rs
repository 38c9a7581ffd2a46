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

/// `--gitops-dir` for objects a Flux Kustomization keeps: the emitted patches, put into a
/// kustomization.yaml over the objects as the source has them and built by the real Kustomize
/// (`kubectl kustomize`), render the fix; that build, applied server-side with force as
/// kustomize-controller syncs, after the fix, keeps it: the ServiceMonitor stays https, and
/// `verify` finds the files mounted and every etcd target up, with nothing reverted. The file
/// carries no key material; the Secret is named in a note only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kustomize_patches_render_the_fix_and_a_sync_keeps_it() {
    let rc = start(A, RealOptions::default()).await;
    let cwd = tempfile::tempdir().unwrap();
    let mut args = vec!["etcd".to_string()];
    args.extend(rc.kubespray_cert_args());
    let plan_args = [
        args.clone(),
        vec!["--dry-run=server".into(), "-o".into(), "json".into()],
    ]
    .concat();
    let run = plugin(&rc, cwd.path(), &plan_args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    // The existing objects the fix patches: the Prometheus, the ServiceMonitor, the Service.
    let patched: Vec<(String, String, String)> = doc["plan"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "patch" && c["kind"] != "Secret")
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("kind"), s("namespace"), s("name"))
        })
        .collect();
    let kinds: Vec<&str> = patched.iter().map(|p| p.0.as_str()).collect();
    for k in ["Prometheus", "ServiceMonitor", "Service"] {
        assert!(kinds.contains(&k), "{k} not patched: {doc:#}");
    }
    // As kustomize-controller labels what it applies; the objects as the source has them.
    let source = cwd.path().join("source");
    std::fs::create_dir(&source).unwrap();
    let mut resources = Vec::new();
    for (kind, ns, name) in &patched {
        let kind = kind.to_lowercase();
        rc.cp
            .kubectl_ok(&[
                "-n",
                ns,
                "label",
                &kind,
                name,
                "kustomize.toolkit.fluxcd.io/name=monitoring",
                "kustomize.toolkit.fluxcd.io/namespace=flux-system",
            ])
            .unwrap();
        let mut obj = get(&rc, &["-n", ns, &kind, name]).unwrap();
        let meta = obj["metadata"].as_object_mut().unwrap();
        for k in [
            "resourceVersion",
            "managedFields",
            "generation",
            "creationTimestamp",
            "uid",
        ] {
            meta.remove(k);
        }
        obj.as_object_mut().unwrap().remove("status");
        let file = format!("{kind}-{name}.json");
        std::fs::write(source.join(&file), obj.to_string()).unwrap();
        resources.push(file);
    }

    let out = cwd.path().join("gitops");
    let dry = [
        args.clone(),
        vec![
            "--dry-run=client".into(),
            "--gitops-dir".into(),
            out.display().to_string(),
        ],
    ]
    .concat();
    let run = plugin(&rc, cwd.path(), &dry);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let file = out.join("flux-kustomization-flux-system-monitoring.yaml");
    assert!(
        run.stderr.contains(&format!(
            "GitOps: the change for Flux Kustomization flux-system/monitoring written to {}",
            file.display()
        )),
        "{}",
        run.stderr
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let key = std::fs::read_to_string(
        rc.etcd_certs_dir
            .as_ref()
            .unwrap()
            .join("node-node1-key.pem"),
    )
    .unwrap();
    let key_line = key.lines().nth(1).unwrap();
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains(key_line),
        "key material in {text}"
    );
    let emitted: Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(emitted["patches"].as_array().unwrap().len(), 3, "{text}");

    // The source's kustomization.yaml with the emitted patches, built by the real Kustomize.
    let kustomization = serde_json::json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
        "patches": emitted["patches"],
    });
    std::fs::write(
        source.join("kustomization.yaml"),
        serde_yaml_ng::to_string(&kustomization).unwrap(),
    )
    .unwrap();
    let built = rc
        .cp
        .kubectl_ok(&["kustomize", &source.display().to_string()])
        .unwrap();
    let built_file = cwd.path().join("built.yaml");
    std::fs::write(&built_file, &built).unwrap();
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&built)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let of = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {built}"))
    };
    assert_eq!(
        of("ServiceMonitor")["spec"]["endpoints"][0]["scheme"],
        "https",
        "{built}"
    );
    assert_eq!(of("Service")["spec"].get("selector"), None, "{built}");
    assert!(
        of("Prometheus")["spec"]["secrets"]
            .as_array()
            .is_some_and(|s| s.iter().any(|x| x == "etcd-client-cert")),
        "{built}"
    );

    // The fix, then the sync of the source with the patches.
    let fix = [args, vec!["--yes".into(), "--no-verify".into()]].concat();
    let run = plugin(&rc, cwd.path(), &fix);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    rc.cp
        .kubectl_ok(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=kustomize-controller",
            "-f",
            &built_file.display().to_string(),
        ])
        .unwrap();
    let sm = get(&rc, &["servicemonitor", "-n", NS, SERVICE_MONITOR]).unwrap();
    assert_eq!(sm["spec"]["endpoints"][0]["scheme"], "https", "{sm:#}");
    let v = plugin(
        &rc,
        cwd.path(),
        &["verify", "--timeout", "4m", "-o", "json"],
    );
    assert_eq!(v.code, 0, "{}\n{}", v.stdout, v.stderr);
    assert!(!v.stdout.contains("reverted"), "{}", v.stdout);
}
