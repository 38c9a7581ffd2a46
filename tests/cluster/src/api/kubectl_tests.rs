//! The API server against real kubectl (the `/usr/bin/kubectl` dispatcher runs the kubectl whose
//! minor matches `/version`): discovery, Table output, create, `auth can-i`, Forbidden.

use super::testing::{TestCluster, start_bare};
use serde_json::json;
use std::time::Duration;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn kubectl(t: &TestCluster, args: &[&str]) -> Out {
    let kubeconfig = t.kubeconfig().expect("write the kubeconfig");
    let home = t.dir.path().join("home");
    std::fs::create_dir_all(&home).expect("create HOME in the temp dir");
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(args)
        .env("HOME", &home)
        .env("KUBECACHEDIR", home.join("cache"))
        .env_remove("KUBECONFIG")
        .kill_on_drop(true);
    let out = match tokio::time::timeout(Duration::from_secs(120), cmd.output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => panic!(
            "cannot run kubectl ({e}): install it (Debian package kubernetes-client, or the kubectl dispatcher)"
        ),
        Err(_) => panic!("kubectl {args:?} did not finish in 120 s"),
    };
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn the_usual_kubectl_session(net: u8, version: &str) {
    let t = start_bare(net, version)
        .await
        .expect("start the test cluster");
    t.admin()
        .post(
            "/api/v1/namespaces/kube-system/services",
            &json!({"metadata": {"name": "kube-etcd", "labels": {"k8s-app": "etcd"}},
                    "spec": {"clusterIP": "None", "ports": [{"name": "metrics", "port": 2379, "protocol": "TCP"}]}}),
        )
        .await
        .expect("create a service");

    let v = kubectl(&t, &["version", "-o", "json"]).await;
    assert_eq!(v.code, 0, "{}", v.stderr);
    let minor = version.split('.').nth(1).unwrap_or("");
    assert!(
        v.stdout.contains(&format!("\"minor\": \"{minor}\"")),
        "{}",
        v.stdout
    );

    let o = kubectl(&t, &["get", "ns"]).await;
    assert_eq!(o.code, 0, "stderr: {}", o.stderr);
    for ns in ["default", "kube-system", "monitoring"] {
        assert!(o.stdout.contains(ns), "{}", o.stdout);
    }

    let o = kubectl(&t, &["get", "svc", "-n", "kube-system", "-o", "yaml"]).await;
    assert_eq!(o.code, 0, "stderr: {}", o.stderr);
    let y: serde_json::Value = serde_yaml_ng::from_str(&o.stdout).expect("yaml from kubectl");
    assert_eq!(y["kind"], "List");
    assert_eq!(y["items"][0]["kind"], "Service");
    assert_eq!(y["items"][0]["metadata"]["name"], "kube-etcd");

    let o = kubectl(
        &t,
        &[
            "create",
            "configmap",
            "x",
            "--from-literal=a=b",
            "-n",
            "monitoring",
        ],
    )
    .await;
    assert_eq!(o.code, 0, "stderr: {}", o.stderr);
    assert_eq!(o.stdout.trim(), "configmap/x created");
    let cm = t
        .admin()
        .get("/api/v1/namespaces/monitoring/configmaps/x")
        .await
        .unwrap()
        .json();
    assert_eq!(cm["data"]["a"], "b");
    let created = t
        .cluster
        .faults
        .log()
        .into_iter()
        .find(|e| e.method == "POST" && e.path.ends_with("/configmaps"))
        .expect("the create is in the log");
    assert!(
        created.query.contains("fieldManager=kubectl-create"),
        "{created:?}"
    );

    let o = kubectl(
        &t,
        &["auth", "can-i", "list", "secrets", "-n", "monitoring"],
    )
    .await;
    assert_eq!((o.code, o.stdout.trim()), (0, "yes"), "{}", o.stderr);
    let o = kubectl(
        &t,
        &[
            "--context",
            "promfix-test-limited",
            "auth",
            "can-i",
            "list",
            "secrets",
            "-n",
            "monitoring",
        ],
    )
    .await;
    assert_eq!((o.code, o.stdout.trim()), (1, "no"), "{}", o.stderr);

    let o = kubectl(
        &t,
        &[
            "--context",
            "promfix-test-limited",
            "get",
            "secrets",
            "-n",
            "monitoring",
        ],
    )
    .await;
    assert_eq!(o.code, 1, "stdout: {} stderr: {}", o.stdout, o.stderr);
    assert_eq!(
        o.stderr.trim(),
        "Error from server (Forbidden): secrets is forbidden: User \"limited\" cannot list resource \"secrets\" in API group \"\" in the namespace \"monitoring\""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_33() {
    the_usual_kubectl_session(210, "v1.33.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_27() {
    the_usual_kubectl_session(211, "v1.27.16").await;
}
