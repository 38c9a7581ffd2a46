//! The real control plane the test clusters run on (`promfix_testcluster::real`): what it is, and
//! the upstream behaviours kubectl-promfix depends on, pinned against the real components.

use promfix_testcluster::real::{ControlPlane, ControlPlaneOptions};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run kubectl with `stdin`; (success, stdout, stderr).
fn kubectl_in(cp: &ControlPlane, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut c: Command = cp.kubectl();
    let mut child = c
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl is on PATH");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

async fn start() -> ControlPlane {
    ControlPlane::start(ControlPlaneOptions::default())
        .await
        .unwrap_or_else(|e| panic!("starting the real control plane: {e:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_control_plane_serves_and_pins_what_the_plugin_relies_on() {
    let cp = start().await;
    eprintln!("control plane ready in {:?}", cp.started_in);

    // The real kube-apiserver: its version as stamped at build time, and its post-start hooks.
    let v = json(&cp.get("/version").await.unwrap().text());
    let git = v["gitVersion"].as_str().unwrap().to_string();
    assert!(git.starts_with("v1.") && !git.contains("0.0.0"), "{v}");
    let kv = json(&cp.kubectl_ok(&["version", "-o", "json"]).unwrap());
    assert_eq!(kv["serverVersion"]["gitVersion"], git.as_str(), "{kv}");
    let livez = cp.get("/livez?verbose").await.unwrap();
    assert_eq!(livez.status, 200, "{}", livez.text());
    for hook in [
        "[+]poststarthook/start-apiextensions-controllers ok",
        "[+]poststarthook/bootstrap-controller ok",
        "[+]poststarthook/rbac/bootstrap-roles ok",
    ] {
        assert!(livez.text().contains(hook), "{hook} in {}", livez.text());
    }
    // The `kubernetes` Endpoints list the advertise address, not loopback.
    let ep = json(
        &cp.kubectl_ok(&["get", "endpoints", "kubernetes", "-o", "json"])
            .unwrap(),
    );
    assert_eq!(
        ep["subsets"][0]["addresses"][0]["ip"],
        cp.apiserver_ip.to_string(),
        "{ep}"
    );

    // Endpoints validation: loopback addresses are refused (ValidateEndpoints → validateEpAddress,
    // "may not be in the loopback range").
    let loopback = r#"{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"lo","namespace":"default"},
        "subsets":[{"addresses":[{"ip":"127.0.0.1"}],"ports":[{"name":"m","port":2379}]}]}"#;
    let (ok, _, err) = kubectl_in(&cp, &["create", "-f", "-"], loopback);
    assert!(!ok, "a loopback Endpoints address was accepted");
    assert!(
        err.contains("may not be in the loopback range"),
        "the real API server's message: {err}"
    );

    // The endpoints controller (kube-controller-manager): a Service with a selector gets its
    // Endpoints; hand-written addresses survive until the Service next syncs (the controller
    // reacts to Service and Pod events and only to Endpoints deletions), and that sync wipes them.
    let svc = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"kube-etcd","namespace":"default"},
        "spec":{"clusterIP":"None","selector":{"component":"etcd"},"ports":[{"name":"http-metrics","port":2379}]}}"#;
    let (ok, _, err) = kubectl_in(&cp, &["create", "-f", "-"], svc);
    assert!(ok, "{err}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        cp.check_running().unwrap();
        let (ok, out, _) = kubectl_in(
            &cp,
            &[
                "get",
                "endpoints",
                "kube-etcd",
                "-o",
                "json",
                "--ignore-not-found",
            ],
            "",
        );
        if ok && !out.trim().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the endpoints controller wrote no Endpoints for the Service within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let member = cp.ns.addr(11).to_string();
    let hand = format!(
        r#"{{"apiVersion":"v1","kind":"Endpoints","metadata":{{"name":"kube-etcd","namespace":"default"}},
        "subsets":[{{"addresses":[{{"ip":"{member}"}}],"ports":[{{"name":"http-metrics","port":2379}}]}}]}}"#
    );
    let (ok, _, err) = kubectl_in(&cp, &["replace", "-f", "-"], &hand);
    assert!(ok, "{err}");
    let ips = |cp: &ControlPlane| -> String {
        cp.kubectl_ok(&[
            "get",
            "endpoints",
            "kube-etcd",
            "-o",
            "jsonpath={.subsets[*].addresses[*].ip}",
        ])
        .unwrap()
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        ips(&cp),
        member,
        "hand-written Endpoints were overwritten without a Service or Pod event"
    );
    cp.kubectl_ok(&["label", "service", "kube-etcd", "touched=yes"])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ips(&cp) == member {
        assert!(
            Instant::now() < deadline,
            "the Service's next sync did not replace the hand-written Endpoints within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(ips(&cp), "", "no pod matches the selector");
}
