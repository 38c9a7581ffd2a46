//! Real kubectl against the test cluster gives what it gives against a real cluster: output
//! shape and exit status, for the oldest (1.27) and newest (1.33) kubectl the dispatcher runs.

mod common;

use common::*;
use promfix_testcluster::auth::{Rule, User};
use promfix_testcluster::harness::Options;
use serde_json::Value;
use std::time::Duration;

fn reader() -> User {
    User {
        name: "reader".into(),
        token: "reader-token-for-tests".into(),
        groups: vec!["system:authenticated".into()],
        rules: vec![Rule {
            verbs: vec!["get".into(), "list".into()],
            api_groups: vec!["".into()],
            resources: vec!["pods".into()],
            namespaces: vec!["monitoring".into()],
            ..Default::default()
        }],
    }
}

fn opts(version: &str) -> Options {
    Options {
        version: Some(version.into()),
        users: vec![reader()],
        without_etcd: true,
        ..Default::default()
    }
}

async fn get_table_yaml_and_errors(version: &str) {
    let tc = start_with(SEED, opts(version)).await;
    // kubectl picks its own minor from /version: make sure the dispatcher ran the one we meant.
    let v = ok(&tc, &["version", "-o", "json"]).await;
    let v: Value = serde_json::from_str(&v).expect("kubectl version -o json");
    let minor = version.split('.').nth(1).unwrap();
    assert_eq!(v["serverVersion"]["minor"].as_str(), Some(minor));
    assert_eq!(
        v["clientVersion"]["minor"]
            .as_str()
            .map(|m| m.trim_end_matches('+')),
        Some(minor)
    );

    let out = ok(&tc, &["get", "namespaces"]).await;
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "STATUS", "AGE"], "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("monitoring") && l.contains("Active")),
        "{out}"
    );

    let out = ok(&tc, &["get", "services", "-n", "kube-system"]).await;
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ],
        "{out}"
    );
    assert!(out.contains("prom-prometheus-operator-kube-etcd"), "{out}");
    assert!(out.contains("2379/TCP"), "{out}");

    let out = ok(&tc, &["get", "prometheuses", "-n", "monitoring"]).await;
    assert!(out.starts_with("NAME"), "{out}");
    assert!(out.contains("prom-prometheus-operator-prometheus"), "{out}");

    let out = ok(
        &tc,
        &[
            "get",
            "svc",
            "prom-prometheus-operator-kube-etcd",
            "-n",
            "kube-system",
            "-o",
            "yaml",
        ],
    )
    .await;
    let svc: Value = serde_yaml_ng::from_str(&out).expect("kubectl -o yaml is YAML");
    assert_eq!(svc["kind"], "Service");
    assert_eq!(svc["apiVersion"], "v1");
    assert_eq!(svc["spec"]["selector"]["component"], "etcd");
    assert!(svc["metadata"]["resourceVersion"].is_string());

    let (code, err) = fails(&tc, &["get", "svc", "nope", "-n", "kube-system"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("Error from server (NotFound): services \"nope\" not found"),
        "{err}"
    );

    // A user with fewer rights: Forbidden with the real text, exit 1.
    let ctx = tc.context("reader");
    let (code, err) = fails(
        &tc,
        &["--context", &ctx, "get", "secrets", "-n", "monitoring"],
    )
    .await;
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "Error from server (Forbidden): secrets is forbidden: User \"reader\" cannot list resource \"secrets\" in API group \"\" in the namespace \"monitoring\""
        ),
        "{err}"
    );
    ok(&tc, &["--context", &ctx, "get", "pods", "-n", "monitoring"]).await;

    // auth can-i: yes/no and the exit status.
    let out = ok(
        &tc,
        &[
            "auth",
            "can-i",
            "patch",
            "prometheuses.monitoring.coreos.com",
            "-n",
            "monitoring",
        ],
    )
    .await;
    assert_eq!(out.trim(), "yes");
    let out = kubectl(
        &tc,
        &[
            "--context",
            &ctx,
            "auth",
            "can-i",
            "list",
            "secrets",
            "-n",
            "monitoring",
        ],
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_errors_with_kubectl_1_33() {
    get_table_yaml_and_errors("v1.33.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_errors_with_kubectl_1_27() {
    get_table_yaml_and_errors("v1.27.16").await;
}

async fn writes(version: &str) {
    let tc = start_with(SEED, opts(version)).await;
    let dir = tempfile::tempdir().unwrap();

    // apply -f (client-side): created, then configured, then unchanged.
    let f = dir.path().join("cm.yaml");
    std::fs::write(&f, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n  namespace: default\ndata:\n  a: \"1\"\n").unwrap();
    let out = ok(&tc, &["apply", "-f", f.to_str().unwrap()]).await;
    assert_eq!(out.trim(), "configmap/demo created");
    std::fs::write(&f, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n  namespace: default\ndata:\n  a: \"2\"\n").unwrap();
    let out = ok(&tc, &["apply", "-f", f.to_str().unwrap()]).await;
    assert_eq!(out.trim(), "configmap/demo configured");
    let out = ok(&tc, &["apply", "-f", f.to_str().unwrap()]).await;
    assert_eq!(out.trim(), "configmap/demo unchanged");

    // apply --server-side
    let g = dir.path().join("cm2.yaml");
    std::fs::write(&g, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: default\ndata:\n  k: v\n").unwrap();
    let out = ok(&tc, &["apply", "--server-side", "-f", g.to_str().unwrap()]).await;
    assert_eq!(out.trim(), "configmap/ssa serverside-applied");
    let cm = ok(
        &tc,
        &[
            "get",
            "cm",
            "ssa",
            "-n",
            "default",
            "-o",
            "json",
            "--show-managed-fields",
        ],
    )
    .await;
    let cm: Value = serde_json::from_str(&cm).unwrap();
    let mf = cm["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields");
    assert!(
        mf.iter()
            .any(|m| m["manager"] == "kubectl" && m["operation"] == "Apply"),
        "{mf:?}"
    );

    // patch: merge, json, strategic.
    let svc = "prom-prometheus-operator-kube-etcd";
    let out = ok(
        &tc,
        &[
            "patch",
            "svc",
            svc,
            "-n",
            "kube-system",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"labels":{"m":"1"}}}"#,
        ],
    )
    .await;
    assert_eq!(out.trim(), format!("service/{svc} patched"));
    ok(
        &tc,
        &[
            "patch",
            "svc",
            svc,
            "-n",
            "kube-system",
            "--type",
            "json",
            "-p",
            r#"[{"op":"add","path":"/metadata/labels/j","value":"2"}]"#,
        ],
    )
    .await;
    ok(
        &tc,
        &[
            "patch",
            "svc",
            svc,
            "-n",
            "kube-system",
            "--type",
            "strategic",
            "-p",
            r#"{"metadata":{"labels":{"s":"3"}}}"#,
        ],
    )
    .await;
    let out = ok(
        &tc,
        &[
            "get",
            "svc",
            svc,
            "-n",
            "kube-system",
            "-o",
            "jsonpath={.metadata.labels}",
        ],
    )
    .await;
    for l in ["\"m\":\"1\"", "\"j\":\"2\"", "\"s\":\"3\""] {
        assert!(out.contains(l), "{out}");
    }
    // the same patch again: nothing changes
    let out = ok(
        &tc,
        &[
            "patch",
            "svc",
            svc,
            "-n",
            "kube-system",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"labels":{"m":"1"}}}"#,
        ],
    )
    .await;
    assert_eq!(out.trim(), format!("service/{svc} patched (no change)"));
    // a strategic merge patch of a custom resource: 415 from the server
    let (code, err) = fails(
        &tc,
        &[
            "patch",
            "servicemonitor",
            svc,
            "-n",
            "monitoring",
            "--type",
            "strategic",
            "-p",
            r#"{"metadata":{"labels":{"s":"3"}}}"#,
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert!(
        err.contains("UnsupportedMediaType")
            || err.contains("415")
            || err.contains("unknown format"),
        "{err}"
    );

    // create secret generic --from-file: the bytes arrive as they were.
    let ca = dir.path().join("etcd-ca");
    std::fs::write(
        &ca,
        b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let arg = format!("--from-file={}", ca.display());
    let out = ok(
        &tc,
        &[
            "-n",
            "monitoring",
            "create",
            "secret",
            "generic",
            "etcd-client-cert",
            &arg,
        ],
    )
    .await;
    assert_eq!(out.trim(), "secret/etcd-client-cert created");
    let out = ok(
        &tc,
        &[
            "get",
            "secret",
            "etcd-client-cert",
            "-n",
            "monitoring",
            "-o",
            "jsonpath={.data.etcd-ca}",
        ],
    )
    .await;
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(out.trim())
        .unwrap();
    assert_eq!(bytes, std::fs::read(&ca).unwrap());
    let (code, err) = fails(
        &tc,
        &[
            "-n",
            "monitoring",
            "create",
            "secret",
            "generic",
            "etcd-client-cert",
            &arg,
        ],
    )
    .await;
    assert_eq!(code, 1);
    // kubectl's own wording for `create secret` (it wraps the server's AlreadyExists message)
    assert_eq!(
        err.trim(),
        "error: failed to create secret secrets \"etcd-client-cert\" already exists"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_with_kubectl_1_33() {
    writes("v1.33.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_with_kubectl_1_27() {
    writes("v1.27.16").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_sees_a_change() {
    let tc = start_with(SEED, opts("v1.33.1")).await;
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.env("KUBECONFIG", &tc.kubeconfig)
        .args(["get", "configmaps", "-n", "default", "-w"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("kubectl get -w");
    let mut stdout = child.stdout.take().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ok(
        &tc,
        &[
            "create",
            "configmap",
            "watched",
            "-n",
            "default",
            "--from-literal=a=b",
        ],
    )
    .await;
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 4096];
        loop {
            let n = stdout.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return false;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            if seen.contains("watched") {
                return true;
            }
        }
    })
    .await
    .unwrap_or(false);
    let _ = child.kill().await;
    assert!(
        found,
        "kubectl get -w did not show the new ConfigMap; saw:\n{seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_ls_in_the_prometheus_pod_with_kubectl_1_33() {
    let tc = start_with(
        SEED,
        Options {
            version: Some("v1.33.1".into()),
            without_etcd: true,
            ..Default::default()
        },
    )
    .await;
    tc.wait_prometheus_ready(Duration::from_secs(60))
        .await
        .expect("Prometheus pods ready");
    let pod = "prometheus-prom-prometheus-operator-prometheus-0";
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
            "/etc/prometheus/config_out/",
        ],
    )
    .await;
    assert_eq!(out.trim(), "prometheus.env.yaml");
    let out = kubectl(
        &tc,
        &[
            "exec",
            pod,
            "-n",
            "monitoring",
            "-c",
            "prometheus",
            "--",
            "sh",
            "-c",
            "exit 3",
        ],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = kubectl(
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
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No such file or directory"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_with_kubectl_1_29_gets_the_no_spdy_error() {
    let tc = start_with(
        SEED,
        Options {
            version: Some("v1.29.9".into()),
            without_etcd: true,
            ..Default::default()
        },
    )
    .await;
    tc.wait_prometheus_ready(Duration::from_secs(60))
        .await
        .expect("Prometheus pods ready");
    let pod = "prometheus-prom-prometheus-operator-prometheus-0";
    let (code, err) = fails(
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
            "/",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.to_lowercase().contains("upgrade"), "{err}");
}
