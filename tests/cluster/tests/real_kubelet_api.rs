//! The node agent's kubelet API on the real control plane: `kubectl exec` through the real API
//! server (which passes the WebSocket through to a node declaring ExtendWebSocketsToKubelet), and
//! the kubelet's delegated authentication (x509, TokenReview) and authorization as the node's
//! KubeletConfiguration says (scenario a: kubespray's AlwaysAllow).

use promfix_testcluster::real::{RealCluster, RealOptions};
use serde_json::Value;
use std::time::{Duration, Instant};

fn kubectl(rc: &RealCluster, args: &[&str]) -> std::process::Output {
    rc.cp
        .kubectl()
        .args(args)
        .output()
        .expect("running kubectl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_and_the_kubelets_own_authorization() {
    let t0 = Instant::now();
    let rc =
        RealCluster::start_builtin("a-seed-stable-prometheus-operator", RealOptions::default())
            .await
            .unwrap_or_else(|e| panic!("starting the cluster: {e:#}"));
    eprintln!("cluster up in {:?}", t0.elapsed());

    // The Node declares the feature the API server looks for.
    let node: Value =
        serde_json::from_slice(&kubectl(&rc, &["get", "node", "node1", "-o", "json"]).stdout)
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut node = node;
    while node["status"]["declaredFeatures"] != serde_json::json!(["ExtendWebSocketsToKubelet"]) {
        assert!(Instant::now() < deadline, "{}", node["status"]);
        tokio::time::sleep(Duration::from_millis(500)).await;
        node =
            serde_json::from_slice(&kubectl(&rc, &["get", "node", "node1", "-o", "json"]).stdout)
                .unwrap();
    }
    let ip = node["status"]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "InternalIP")
        .unwrap()["address"]
        .as_str()
        .unwrap()
        .to_string();
    let server = format!("https://{ip}:10250");
    let ca = rc.cp.pki.ca.cert.display().to_string();

    // The kubelet's own authorization is the node's configuration's: kubespray's kubelets run
    // `authorization.mode: AlwaysAllow` (its default, kube_webhook_authorization false), so a
    // token user without nodes/proxy, authenticated by TokenReview, is let in. The Webhook
    // mode's 403 texts are tests/real_kubelet.rs' (root crate).
    let out = std::process::Command::new("kubectl")
        .env_remove("KUBECONFIG")
        .args([
            "--server",
            &server,
            "--certificate-authority",
            &ca,
            "--token",
            "limited-token",
            "get",
            "--raw",
            "/healthz",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    // A token the TokenReview refuses: 401, AlwaysAllow or not.
    let out = std::process::Command::new("kubectl")
        .env_remove("KUBECONFIG")
        .args([
            "--server",
            &server,
            "--certificate-authority",
            &ca,
            "--token",
            "no-such-token",
            "get",
            "--raw",
            "/healthz",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("You must be logged in to the server"),
        "{err}"
    );
    // No credentials at all: 401 (curl: kubectl without credentials tries none of its own).
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--cacert",
            &ca,
            "-w",
            " %{http_code}",
            &format!("{server}/healthz"),
        ])
        .output()
        .expect("curl (Debian package curl)");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Unauthorized 401");
    // The admin's client certificate (system:masters) may.
    let out = std::process::Command::new("kubectl")
        .env_remove("KUBECONFIG")
        .args([
            "--server",
            &server,
            "--certificate-authority",
            &ca,
            "--client-certificate",
            &rc.cp.pki.admin.cert.display().to_string(),
            "--client-key",
            &rc.cp.pki.admin.key.display().to_string(),
            "get",
            "--raw",
            "/healthz",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");

    // kubectl exec through the real API server into a Prometheus pod the operator made.
    let deadline = Instant::now() + Duration::from_secs(180);
    let pod = loop {
        rc.check_running().unwrap_or_else(|e| panic!("{e:#}"));
        let out = kubectl(&rc, &["get", "pods", "-n", "monitoring", "-o", "json"]);
        let pods: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let found = pods["items"].as_array().and_then(|items| {
            items.iter().find(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("prometheus-"))
                    && p["status"]["containerStatuses"]
                        .as_array()
                        .is_some_and(|cs| {
                            cs.iter().any(|c| {
                                c["name"] == "prometheus" && c["state"]["running"].is_object()
                            })
                        })
            })
        });
        if let Some(p) = found {
            break p["metadata"]["name"].as_str().unwrap().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no running Prometheus pod: {pods}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let t1 = Instant::now();
    let out = kubectl(
        &rc,
        &[
            "exec",
            "-n",
            "monitoring",
            &pod,
            "-c",
            "prometheus",
            "--",
            "ls",
            "/etc/prometheus",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.lines().any(|l| l == "config_out"), "{stdout}");
    eprintln!("kubectl exec in {:?}", t1.elapsed());
    // A failing command: the exit code comes back as the kubelet's translator reports it.
    let out = kubectl(
        &rc,
        &[
            "exec",
            "-n",
            "monitoring",
            &pod,
            "-c",
            "prometheus",
            "--",
            "ls",
            "/nonexistent",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("command terminated with exit code 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
