//! End to end on scenario (a), with real etcd, real Prometheus and real kubectl: the seed's
//! manual fix, step by step, exactly as the field report did it.

mod common;

use common::*;
use promfix_testcluster::harness::{Options, TestCluster};
use serde_json::Value;
use std::time::Duration;

const PROM: &str = "prom-prometheus-operator-prometheus";
const SVC: &str = "prom-prometheus-operator-kube-etcd";

/// The etcd job's active targets, as one Prometheus pod sees them (through pods/proxy).
async fn etcd_targets(tc: &TestCluster, pod: &str) -> Option<Vec<Value>> {
    tc.active_targets("monitoring", pod, "kube-etcd").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_manual_fix_with_kubectl_turns_the_etcd_targets_up() {
    let tc = start_with(
        SEED,
        Options {
            version: Some("v1.33.1".into()),
            ..Default::default()
        },
    )
    .await;
    tc.wait_prometheus_ready(Duration::from_secs(90))
        .await
        .expect("Prometheus pods ready");
    let pods = [
        "prometheus-prom-prometheus-operator-prometheus-0",
        "prometheus-prom-prometheus-operator-prometheus-1",
    ];

    // Before: no etcd target is up (the selector matches no pod, so the Endpoints are empty).
    for pod in pods {
        let t = eventually("Prometheus' targets API", 60, || etcd_targets(&tc, pod)).await;
        assert!(t.iter().all(|t| t["health"] != "up"), "{pod}: {t:?}");
    }
    let uids_before: Vec<Value> = pods
        .iter()
        .map(|p| {
            tc.cluster
                .store
                .get(&tc.cluster.store.rt("pods"), Some("monitoring"), p)
                .unwrap()["metadata"]["uid"]
                .clone()
        })
        .collect();

    // The seed's steps, with kubectl alone.
    let dir = tc
        .etcd_certs_dir
        .clone()
        .expect("scenario a generates etcd certificates");
    let f = |name: &str| {
        let p = dir.join(name);
        assert!(
            p.is_file(),
            "{} is missing from the kubespray layout",
            p.display()
        );
        p.display().to_string()
    };
    ok(
        &tc,
        &[
            "-n",
            "monitoring",
            "create",
            "secret",
            "generic",
            "etcd-client-cert",
            &format!("--from-file=etcd-ca={}", f("ca.pem")),
            &format!("--from-file=etcd-client={}", f("node-node1.pem")),
            &format!("--from-file=etcd-client-key={}", f("node-node1-key.pem")),
        ],
    )
    .await;
    ok(
        &tc,
        &[
            "-n",
            "monitoring",
            "patch",
            "prometheus",
            PROM,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"secrets":["etcd-client-cert"]}}"#,
        ],
    )
    .await;
    ok(
        &tc,
        &[
            "-n",
            "kube-system",
            "patch",
            "svc",
            SVC,
            "--type",
            "json",
            "-p",
            r#"[{"op":"remove","path":"/spec/selector"}]"#,
        ],
    )
    .await;
    let net = tc.net();
    let endpoints = format!(
        "apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: {SVC}\n  namespace: kube-system\nsubsets:\n- addresses:\n  - ip: 127.{net}.2.11\n  - ip: 127.{net}.2.12\n  - ip: 127.{net}.2.13\n  ports:\n  - name: http-metrics\n    port: 2379\n    protocol: TCP\n"
    );
    let out = kubectl_stdin(&tc, &["apply", "-f", "-"], Some(endpoints)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tls = r#"[{"op":"add","path":"/spec/endpoints/0/scheme","value":"https"},
                 {"op":"add","path":"/spec/endpoints/0/tlsConfig","value":{
                   "caFile":"/etc/prometheus/secrets/etcd-client-cert/etcd-ca",
                   "certFile":"/etc/prometheus/secrets/etcd-client-cert/etcd-client",
                   "keyFile":"/etc/prometheus/secrets/etcd-client-cert/etcd-client-key"}}]"#;
    ok(
        &tc,
        &[
            "-n",
            "monitoring",
            "patch",
            "servicemonitor",
            SVC,
            "--type",
            "json",
            "-p",
            tls,
        ],
    )
    .await;

    // The pods roll (new uids) and mount the three files.
    let t = &tc;
    let before = &uids_before;
    eventually(
        "both Prometheus pods to be replaced and Ready",
        180,
        || async move {
            let s = &t.cluster.store;
            let all = pods.iter().enumerate().all(|(i, p)| {
                s.get(&s.rt("pods"), Some("monitoring"), p)
                    .is_ok_and(|pod| {
                        pod["metadata"]["uid"] != before[i]
                            && promfix_testcluster::harness::is_ready(&pod)
                    })
            });
            all.then_some(())
        },
    )
    .await;
    for pod in pods {
        let out = ok(
            &tc,
            &[
                "exec",
                pod,
                "-n",
                "monitoring",
                "-c",
                "prometheus",
                "--",
                "ls",
                "/etc/prometheus/secrets/etcd-client-cert/",
            ],
        )
        .await;
        let files: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(
            files,
            ["etcd-ca", "etcd-client", "etcd-client-key"],
            "{pod}"
        );
    }
    // The etcd targets turn up, in both replicas.
    for pod in pods {
        eventually("the three etcd targets to be up", 120, || async {
            let t = etcd_targets(&tc, pod).await?;
            (t.len() == 3 && t.iter().all(|t| t["health"] == "up")).then_some(())
        })
        .await;
    }
}
