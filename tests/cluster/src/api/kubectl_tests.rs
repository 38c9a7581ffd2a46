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

/// Writes through kubectl's other paths: client-side apply (strategic merge patch with the
/// last-applied annotation), server-side apply, patch by type, get -o jsonpath, delete.
/// Needs the real discovery/OpenAPI documents (api::discovery, api::openapi) and patches
/// (crate::patch): with their stubs it cannot pass.
async fn kubectl_writes(net: u8, version: &str) {
    let t = start_bare(net, version)
        .await
        .expect("start the test cluster");
    let file = t.dir.path().join("cm.yaml");
    let write = |data: &str| {
        std::fs::write(
            &file,
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: monitoring\ndata:\n{data}"
            ),
        )
        .expect("write the manifest")
    };
    let f = file.to_str().unwrap_or_default().to_string();
    write("  a: b\n");
    let o = kubectl(&t, &["apply", "-f", &f]).await;
    assert_eq!(
        (o.code, o.stdout.trim()),
        (0, "configmap/cfg created"),
        "{}",
        o.stderr
    );
    write("  a: c\n");
    let o = kubectl(&t, &["apply", "-f", &f]).await;
    assert_eq!(
        (o.code, o.stdout.trim()),
        (0, "configmap/cfg configured"),
        "{}",
        o.stderr
    );
    let o = kubectl(
        &t,
        &["apply", "--server-side", "--force-conflicts", "-f", &f],
    )
    .await;
    assert_eq!(
        (o.code, o.stdout.trim()),
        (0, "configmap/cfg serverside-applied"),
        "{}",
        o.stderr
    );
    let o = kubectl(
        &t,
        &[
            "patch",
            "cm",
            "cfg",
            "-n",
            "monitoring",
            "-p",
            r#"{"data":{"p":"q"}}"#,
        ],
    )
    .await;
    assert_eq!(
        (o.code, o.stdout.trim()),
        (0, "configmap/cfg patched"),
        "{}",
        o.stderr
    );
    let o = kubectl(
        &t,
        &[
            "patch",
            "cm",
            "cfg",
            "-n",
            "monitoring",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/data/j","value":"k"}]"#,
        ],
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = kubectl(
        &t,
        &[
            "get",
            "cm",
            "cfg",
            "-n",
            "monitoring",
            "-o",
            "jsonpath={.data.a}{.data.p}{.data.j}",
        ],
    )
    .await;
    assert_eq!((o.code, o.stdout.as_str()), (0, "cqk"), "{}", o.stderr);
    let o = kubectl(&t, &["get", "cm", "-n", "monitoring"]).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.starts_with("NAME"), "{}", o.stdout);
    assert!(o.stdout.contains("\ncfg "), "{}", o.stdout);
    let o = kubectl(&t, &["delete", "cm", "cfg", "-n", "monitoring"]).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.starts_with("configmap \"cfg\" deleted"),
        "{}",
        o.stdout
    );
    let o = kubectl(&t, &["get", "cm", "cfg", "-n", "monitoring"]).await;
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr.trim(),
        "Error from server (NotFound): configmaps \"cfg\" not found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_writes_1_33() {
    kubectl_writes(214, "v1.33.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_writes_1_27() {
    kubectl_writes(215, "v1.27.16").await;
}
