//! Issue 14, item 1 (managed control planes), on the real control plane: the kube-prometheus-stack
//! cluster of scenario e-control-plane-insecure-ports in the shape of AKS. Its nodes are AKS
//! node-pool nodes (`kubernetes.azure.com/*` labels, `azure://` provider IDs, no control-plane
//! node), and kube-system has no kube-apiserver or etcd pod (their mirror pods are deleted, as
//! AKS has none: the provider runs them). The chart's ServiceMonitors still scrape the
//! scheduler, the controller-manager and etcd. `doctor` says who runs the control plane and
//! why it thinks so, and its rows for those three say they are unreachable by design, with the
//! chart values that turn their scrapes and alerts off: never `kubectl promfix etcd`.
//! (The EKS and GKE shapes differ in the server's gitVersion, which the real kube-apiserver
//! stamps at build time: the unit tests of src/doctor/managed.rs judge those.)

mod common_real;

use common_real::*;
use promfix_testcluster::real::RealOptions;
use std::time::Duration;

const NS: &str = "monitoring";
const POD: &str = "prometheus-prometheus-kube-prometheus-prometheus-0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aks_shaped_cluster_gets_the_managed_diagnosis() {
    let dir = tempfile::tempdir().unwrap();
    let provider_id = "azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mc_promfix_aks_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-system-12345678-vmss/virtualMachines/0";
    let rc = start_edited(
        "e-control-plane-insecure-ports",
        &[
            (
                "    node-role.kubernetes.io/control-plane: \"\"\n    node.kubernetes.io/exclude-from-external-load-balancers: \"\"\n",
                "    kubernetes.azure.com/cluster: MC_promfix_aks_westeurope\n    kubernetes.azure.com/agentpool: system\n",
            ),
            (
                "  podCIDR: 10.244.0.0/24\n  podCIDRs: [10.244.0.0/24]\n  taints:\n    - {key: node-role.kubernetes.io/control-plane, effect: NoSchedule}\n",
                &format!("  providerID: {provider_id}\n  podCIDR: 10.244.0.0/24\n  podCIDRs: [10.244.0.0/24]\n"),
            ),
        ],
        dir.path(),
        RealOptions::default(),
    )
    .await;
    // No kube-apiserver or etcd pod: the provider runs them (their mirror pods have no manifest
    // on the node, so nothing makes them again).
    rc.cp
        .kubectl_ok(&[
            "delete",
            "pod",
            "-n",
            "kube-system",
            "-l",
            "component in (kube-apiserver,etcd)",
            // At once: a kubelet deletes an orphan mirror pod so; the node agent leaves them.
            "--grace-period=0",
            "--force",
        ])
        .unwrap();
    let node = get(&rc, &["node", "node1"]).unwrap();
    assert_eq!(node["spec"]["providerID"], provider_id, "{node:#}");

    // The scheduler's targets scraped and refused (the chart's insecure port), as doctor will see.
    rc.wait_for(
        "Prometheus' kube-scheduler targets down",
        Duration::from_secs(240),
        || async {
            Ok(targets(&rc, NS, POD, "kube-scheduler")
                .filter(|t| !t.is_empty() && t.iter().all(|(_, h, _)| h == "down")))
        },
    )
    .await
    .unwrap();

    let doc = doctor_doc(&rc, dir.path());
    let m = &doc["managed"];
    assert_eq!(m["provider"], "AKS", "{doc:#}");
    let signs = strings(&m["signs"]);
    assert!(
        signs
            .iter()
            .any(|s| s.starts_with("node label kubernetes.azure.com/"))
            && signs.iter().any(|s| s.contains(provider_id))
            && signs.contains(&"no control-plane node")
            && signs.contains(&"no kube-apiserver pod in kube-system"),
        "{signs:?}"
    );
    let row = |c: &str| doctor_row(&doc, c);
    for (c, key) in [
        ("kube-scheduler", "kubeScheduler"),
        ("kube-controller-manager", "kubeControllerManager"),
        ("etcd", "kubeEtcd"),
    ] {
        let r = row(c);
        assert_eq!(r["status"], "problem", "{r:#}");
        assert!(
            r["cause"]
                .as_str()
                .unwrap()
                .starts_with("AKS runs the control plane"),
            "{r:#}"
        );
        let fix = strings(&r["fix"]);
        assert!(
            fix[0].contains(&format!("--set {key}.enabled=false")),
            "{r:#}"
        );
        assert!(fix.iter().all(|f| !f.contains("kubectl promfix")), "{r:#}");
    }
    // The node components are the cluster's own: their rows are not the provider's.
    for c in ["kubelet", "kube-proxy"] {
        let cause = row(c)["cause"].as_str().unwrap_or("");
        assert!(!cause.contains("runs the control plane"), "{c}: {cause}");
    }

    // The table says it first.
    let t = plugin(&rc, dir.path(), &["doctor"]);
    assert!(
        t.stdout.contains("Control plane: run by AKS ("),
        "{}\n{}",
        t.stdout,
        t.stderr
    );
}
