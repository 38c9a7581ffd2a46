//! The real Prometheus Operator as the pod of its chart's Deployment (scenario b,
//! kube-prometheus-stack with its defaults): the real Deployment and ReplicaSet controllers make
//! the pod, the node agent runs the built operator with the pod's in-cluster config (projected
//! service-account token, kube-root-ca.crt, `KUBERNETES_SERVICE_*`) and the chart's args (TLS
//! web listener on :10250 with the admission Secret), the chart's ClusterRole judges it; its log
//! is read with `kubectl logs` through the real API server and the agent's `/containerLogs`.

use promfix_testcluster::real::{RealCluster, RealOptions};
use serde_json::Value;
use std::time::{Duration, Instant};

const NS: &str = "monitoring";
const DEPLOY: &str = "prometheus-kube-prometheus-operator";

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn kubectl(rc: &RealCluster, args: &[&str]) -> Result<String, String> {
    rc.cp.kubectl_ok(args).map_err(|e| format!("{e:#}"))
}

/// The operator's pod, once Running and Ready.
async fn operator_pod(rc: &RealCluster) -> Value {
    rc.wait_for(
        "the operator Deployment's pod Running and Ready",
        Duration::from_secs(120),
        || async {
            let out = kubectl(
                rc,
                &[
                    "get",
                    "pods",
                    "-n",
                    NS,
                    "-l",
                    "app=kube-prometheus-stack-operator,release=prometheus",
                    "-o",
                    "json",
                ],
            )
            .map_err(anyhow::Error::msg)?;
            let list: Value = serde_json::from_str(&out)?;
            Ok(list["items"]
                .as_array()
                .and_then(|a| a.first())
                .filter(|p| p["status"]["phase"] == "Running" && ready(p))
                .cloned())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_runs_as_the_pod_of_its_charts_deployment() {
    let t0 = Instant::now();
    let rc = RealCluster::start_builtin("b-kube-prometheus-stack", RealOptions::default())
        .await
        .unwrap_or_else(|e| panic!("starting the cluster: {e:#}"));
    eprintln!("cluster up in {:?}", t0.elapsed());
    let pod = operator_pod(&rc).await;
    eprintln!("operator pod Ready after {:?}", t0.elapsed());
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    // Made by the real controllers: a ReplicaSet of the Deployment owns it.
    let owner = &pod["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "ReplicaSet", "{pod}");
    assert!(
        owner["name"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{DEPLOY}-")),
        "{pod}"
    );
    assert_eq!(
        pod["spec"]["serviceAccountName"], DEPLOY,
        "the chart's service account: {pod}"
    );
    let ip = pod["status"]["podIP"].as_str().unwrap_or("");
    assert!(
        ip.starts_with("198.18."),
        "a pod IP of the pod range: {pod}"
    );

    // Its log through the real API server (pods/log → the node's /containerLogs): the
    // operator's start line, with the version that runs.
    let log = kubectl(&rc, &["logs", "-n", NS, &format!("deploy/{DEPLOY}")])
        .unwrap_or_else(|e| panic!("kubectl logs: {e}"));
    assert!(
        log.contains("Starting Prometheus Operator") && log.contains("0.93.1"),
        "the operator's start line in its log:\n{log}"
    );
    // In-cluster config, judged by the chart's ClusterRole: nothing refused, no permission the
    // operator checks for at its start missing (without `prometheuses/status` it would start no
    // Prometheus controller).
    assert!(
        !log.contains("forbidden") && !log.contains("missing permission"),
        "the chart's ClusterRole refused the operator something:\n{log}"
    );
    let tail = kubectl(&rc, &["logs", "-n", NS, &name, "--tail=1"]).unwrap();
    assert_eq!(tail.trim_end().lines().count(), 1, "--tail=1: {tail}");
    assert!(log.ends_with(&tail), "--tail=1 is the last line: {tail}");
    let prev = kubectl(&rc, &["logs", "-n", NS, &name, "--previous"]).unwrap_err();
    assert!(
        prev.contains("previous terminated container"),
        "no previous run: {prev}"
    );

    // What it reconciles: the Prometheus StatefulSet, written by the operator's service account,
    // and the kubelet Service the chart's --kubelet-service names.
    let sts_path = format!(
        "/apis/apps/v1/namespaces/{NS}/statefulsets/prometheus-prometheus-kube-prometheus-prometheus"
    );
    let sts = rc
        .wait_for(
            "the operator's Prometheus StatefulSet",
            Duration::from_secs(60),
            || rc.get_json(&sts_path),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        sts["metadata"]["ownerReferences"][0]["kind"], "Prometheus",
        "{sts}"
    );
    let kubelet = "/api/v1/namespaces/kube-system/services/prometheus-kube-prometheus-kubelet";
    let svc = rc
        .wait_for(
            "the kubelet Service of --kubelet-service",
            Duration::from_secs(60),
            || rc.get_json(kubelet),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        svc["metadata"]["labels"]["app.kubernetes.io/managed-by"], "prometheus-operator",
        "{svc}"
    );
    rc.wait_for(
        "Prometheus pod 0 Running",
        Duration::from_secs(120),
        || async {
            Ok(rc
                .get_json(&format!(
                    "/api/v1/namespaces/{NS}/pods/prometheus-prometheus-kube-prometheus-prometheus-0"
                ))
                .await?
                .filter(|p| p["status"]["phase"] == "Running"))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("done in {:?}", t0.elapsed());
}
