//! The seed's kubelet story on the real control plane (scenario e-kubelet-webhook-authn-off):
//! node1 runs kubeadm's kubelet configuration (anonymous off, token webhook on), node2 and node3
//! a package whose configuration leaves the token webhook off with anonymous on and
//! authorization Webhook. The node agent's kubelet API follows each node's configuration, so
//! Prometheus' bearer token is not looked at on node2 and node3: the request runs as
//! `system:anonymous`, the real API server's SubjectAccessReview (Node,RBAC) refuses
//! `get nodes/metrics` to it, and the chart's kubelet ServiceMonitor gets `server returned HTTP
//! status 403 Forbidden` there, while node1 answers 200 (TokenReview of the service-account
//! token, SubjectAccessReview allowed by the chart's ClusterRole). The kubelet Service and
//! Endpoints are the real operator's (`--kubelet-service`, as the chart passes it).

mod common_real;

use common_real::*;
use promfix_testcluster::peers::https_get_insecure;
use promfix_testcluster::real::{RealCluster, RealOptions};
use serde_json::Value;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const SCENARIO: &str = "e-kubelet-webhook-authn-off";
const PROM_NS: &str = "monitoring";
const POD: &str = "prometheus-prometheus-kube-prometheus-prometheus-0";
const SA: &str = "prometheus-kube-prometheus-prometheus";
const KUBELET_SVC: &str = "prometheus-kube-prometheus-kubelet";
const JOB: &str = "kubelet";
/// (node, last octet of its InternalIP 127.0.2.X in the scenario).
const NODES: [(&str, u8); 3] = [("node1", 11), ("node2", 12), ("node3", 13)];
const FORBIDDEN: &str = "server returned HTTP status 403 Forbidden";

fn ip(rc: &RealCluster, octet: u8) -> Ipv4Addr {
    rc.cp.ns.addr(octet)
}

/// The scrape URLs of the chart's two kubelet endpoints (`/metrics`, `/metrics/cadvisor`) on
/// the nodes given, sorted.
fn urls(rc: &RealCluster, nodes: &[(&str, u8)]) -> Vec<String> {
    let mut v: Vec<String> = nodes
        .iter()
        .flat_map(|(_, o)| {
            let ip = ip(rc, *o);
            [
                format!("https://{ip}:10250/metrics"),
                format!("https://{ip}:10250/metrics/cadvisor"),
            ]
        })
        .collect();
    v.sort();
    v
}

/// A service-account token of Prometheus (TokenRequest), as its pod has one. Never printed.
fn prometheus_token(rc: &RealCluster) -> String {
    rc.cp
        .kubectl_ok(&["-n", PROM_NS, "create", "token", SA])
        .expect("kubectl create token")
        .trim()
        .to_string()
}

/// `GET https://<node>:10250{path}` as Prometheus makes it: (status, body).
async fn kubelet_get(ip: Ipv4Addr, path: &str, token: Option<&str>) -> (u16, String) {
    let r = https_get_insecure(ip, 10250, path, token, Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    (r.status, r.text())
}

/// The Endpoints of the kubelet Service, once the operator has written them: one address per
/// Node with the Node's UID in its targetRef (the scenario's own have none).
async fn operator_endpoints(rc: &RealCluster) -> Value {
    let uids: Vec<String> = NODES
        .iter()
        .map(|(n, _)| {
            get(rc, &["node", n]).unwrap()["metadata"]["uid"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    rc.wait_for(
        "the operator's kubelet Endpoints",
        Duration::from_secs(120),
        || async {
            let ep = get(rc, &["endpoints", "-n", "kube-system", KUBELET_SVC]);
            Ok(ep.filter(|e| {
                let got: Vec<String> = e["subsets"][0]["addresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a["targetRef"]["uid"].as_str().map(str::to_string))
                    .collect();
                uids.iter().all(|u| got.contains(u)) && got.len() == uids.len()
            }))
        },
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e:#}; now: {:#}",
            get(rc, &["endpoints", "-n", "kube-system", KUBELET_SVC]).unwrap_or_default()
        )
    })
}

/// Wait until the kubelet targets are exactly: up on `up`, down with a 403 on `forbidden`.
async fn wait_kubelet_targets(
    rc: &RealCluster,
    up: &[(&str, u8)],
    forbidden: &[(&str, u8)],
) -> Vec<(String, String, String)> {
    let (want_up, want_403) = (urls(rc, up), urls(rc, forbidden));
    let r = rc
        .wait_for(
            "the kubelet targets: up and 403 where expected",
            Duration::from_secs(180),
            || async {
                let t = targets(rc, PROM_NS, POD, JOB).unwrap_or_default();
                let sorted = |f: &dyn Fn(&(String, String, String)) -> bool| {
                    let mut v: Vec<String> =
                        t.iter().filter(|x| f(x)).map(|x| x.0.clone()).collect();
                    v.sort();
                    v
                };
                let ups = sorted(&|x| x.1 == "up");
                let downs = sorted(&|x| x.1 == "down" && x.2 == FORBIDDEN);
                let done =
                    ups == want_up && downs == want_403 && t.len() == ups.len() + downs.len();
                Ok(done.then_some(t))
            },
        )
        .await;
    r.unwrap_or_else(|e| panic!("{e:#}; targets now: {:?}", targets(rc, PROM_NS, POD, JOB)))
}

/// `doctor -o json`, until Prometheus has scraped every kubelet target once.
async fn doctor(rc: &RealCluster, cwd: &std::path::Path) -> (i32, Value) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = plugin(rc, cwd, &["doctor", "-o", "json"]);
        let v: Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("doctor -o json is not JSON ({e}): {}", run.stdout));
        let kubelet = kubelet_row(&v);
        let pending = kubelet["cause"]
            .as_str()
            .unwrap_or("")
            .contains("not scraped yet")
            || kubelet["evidence"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .any(|e| e.starts_with("Prometheus job") && !e.ends_with(", 0 not scraped yet"));
        if !pending || Instant::now() > deadline {
            return (run.code, v);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn kubelet_row(v: &Value) -> Value {
    v["clusters"][0]["rows"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["component"] == "kubelet"))
        .cloned()
        .unwrap_or_else(|| panic!("no kubelet row: {v:#}"))
}

const ANONYMOUS_FORBIDDEN: &str =
    "Forbidden (user=system:anonymous, verb=get, resource=nodes, subresource(s)=[metrics])\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubelet_403_from_the_real_authorizer_where_token_authentication_is_off() {
    let t0 = Instant::now();
    let rc = start(SCENARIO, RealOptions::default()).await;
    eprintln!("cluster up in {:?}", t0.elapsed());
    let dir = tempfile::tempdir().unwrap();
    let ep = operator_endpoints(&rc).await;
    let ports: Vec<&str> = ep["subsets"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(ports.contains(&"https-metrics"), "{ep:#}");
    let token = prometheus_token(&rc);
    check_kubelet_api(&rc, &token).await;

    // What Prometheus sees with the chart's kubelet ServiceMonitor.
    let t = wait_kubelet_targets(&rc, &NODES[..1], &NODES[1..]).await;
    eprintln!("kubelet targets: {t:?}");
    check_doctor_names_the_workers(&rc, dir.path()).await;

    // `kubelet` finds the same nodes from their /configz (through the real nodes/proxy).
    let run = plugin(&rc, dir.path(), &["kubelet", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let k: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        k["affected"],
        serde_json::json!(["node2", "node3"]),
        "{k:#}"
    );
    fix_the_workers(&rc, dir.path(), &token).await;
}

/// The kubelet API itself, as each node's configuration says, with Prometheus' `token`.
async fn check_kubelet_api(rc: &RealCluster, token: &str) {
    let (n1, n2) = (ip(rc, 11), ip(rc, 12));
    let (code, body) = kubelet_get(n1, "/metrics", Some(token)).await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("kubelet_node_name{node=\"node1\"} 1\n"),
        "{body}"
    );
    let (code, body) = kubelet_get(n1, "/metrics/cadvisor", Some(token)).await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("container_cpu_usage_seconds_total{"),
        "{body}"
    );
    for p in ["/metrics/probes", "/metrics/resource"] {
        let (code, body) = kubelet_get(n1, p, Some(token)).await;
        assert_eq!(code, 200, "{p}: {body}");
    }
    // node1: anonymous off, so no credential and a token the TokenReview refuses are 401s.
    assert_eq!(
        kubelet_get(n1, "/metrics", None).await,
        (401, "Unauthorized".into())
    );
    assert_eq!(
        kubelet_get(n1, "/metrics", Some("not-a-token")).await,
        (401, "Unauthorized".into())
    );
    // node2: the token is not looked at; system:anonymous is refused by the real authorizer.
    for t in [Some(token), None] {
        for p in ["/metrics", "/metrics/cadvisor"] {
            assert_eq!(
                kubelet_get(n2, p, t).await,
                (403, ANONYMOUS_FORBIDDEN.to_string()),
                "{p}"
            );
        }
    }
}

/// doctor names the cause for exactly node2 and node3.
async fn check_doctor_names_the_workers(rc: &RealCluster, cwd: &std::path::Path) {
    let (code, v) = doctor(rc, cwd).await;
    assert_eq!(code, 3, "{v:#}");
    let row = kubelet_row(&v);
    assert_eq!(row["status"], "problem", "{row:#}");
    let why = row["cause"].as_str().unwrap_or("");
    assert!(
        why.starts_with("kubelet answers 403: 403 Forbidden")
            && why.contains("token authentication is off on 2 of 3")
            && why.contains("system:anonymous")
            && !why.contains("nodes/metrics"),
        "{why}"
    );
    let ev = row["evidence"].to_string();
    assert!(
        ev.contains("token authentication off with authorization Webhook on 2 (")
            && ev.contains("node2")
            && ev.contains("node3"),
        "{ev}"
    );
    for (_, o) in NODES {
        let refused = format!("{}:10250/metrics: {FORBIDDEN}", ip(rc, o));
        assert_eq!(ev.contains(&refused), o != 11, "{refused}: {ev}");
    }
    let fixes = row["fix"].to_string();
    assert!(fixes.contains("kubectl promfix kubelet"), "{fixes}");

    // On kubeadm (its kubelet-config ConfigMap exists) the fix also names the ConfigMap that
    // `kubeadm upgrade node` writes the nodes' file back from.
    rc.cp
        .kubectl_ok(&[
            "-n",
            "kube-system",
            "create",
            "configmap",
            "kubelet-config",
            "--from-literal=kubelet=kind: KubeletConfiguration",
        ])
        .unwrap();
    let (_, v) = doctor(rc, cwd).await;
    let fixes = kubelet_row(&v)["fix"].to_string();
    assert!(
        fixes.contains("ConfigMap kube-system/kubelet-config")
            && fixes.contains("kubeadm upgrade node"),
        "{fixes}"
    );
}

/// The node-side fix: the script `kubelet --script` writes, run on node2 and node3 against their
/// config.yaml; its `systemctl restart kubelet` makes the agent restart that node's kubelet,
/// which reads the file again. Then the token authenticates and every target is up.
async fn fix_the_workers(rc: &RealCluster, cwd: &std::path::Path, token: &str) {
    let n2 = ip(rc, 12);
    let script = cwd.join("fix-kubelet.sh");
    let run = plugin(rc, cwd, &["kubelet", "--script", script.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (node, _) in &NODES[1..] {
        let out = run_fix_script(rc, &script, cwd, node);
        assert!(out.contains("kubelet restarted"), "{out}");
    }
    assert_eq!(
        kubelet_get(n2, "/metrics", None).await,
        (403, ANONYMOUS_FORBIDDEN.to_string()),
        "anonymous is still on: no token, still system:anonymous"
    );
    let (code, body) = kubelet_get(n2, "/metrics", Some(token)).await;
    assert_eq!(code, 200, "{body}");
    wait_kubelet_targets(rc, &NODES, &[]).await;
    let nodes = wait_series(rc, "kubelet_node_name", 3).await;
    assert_eq!(nodes, ["node1", "node2", "node3"]);
    let (_, v) = doctor(rc, cwd).await;
    let row = kubelet_row(&v);
    assert_eq!(row["status"], "ok", "{row:#}");
    let run = plugin(rc, cwd, &["kubelet", "-o", "json"]);
    let k: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(k["affected"], serde_json::json!([]), "{k:#}");
    // Idempotent: a second run changes nothing and restarts nothing.
    let out = run_fix_script(rc, &script, cwd, "node2");
    assert!(
        out.contains("nothing to change") && !out.contains("restarted"),
        "{out}"
    );
}

/// Prometheus' query `metric` (through the real pods/proxy), once it has `n` series: their
/// `node` labels, sorted (the series Prometheus ingested from the kubelets' `/metrics`).
async fn wait_series(rc: &RealCluster, metric: &str, n: usize) -> Vec<String> {
    let path =
        format!("/api/v1/namespaces/{PROM_NS}/pods/{POD}:9090/proxy/api/v1/query?query={metric}");
    let r = rc
        .wait_for(
            &format!("{n} series of {metric}"),
            Duration::from_secs(60),
            || async {
                let v: Value = rc
                    .cp
                    .kubectl_ok(&["get", "--raw", &path])
                    .ok()
                    .and_then(|o| serde_json::from_str(&o).ok())
                    .unwrap_or_default();
                let mut nodes: Vec<String> = v["data"]["result"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|r| r["metric"]["metrics_path"] == "/metrics")
                    .filter_map(|r| r["metric"]["node"].as_str().map(str::to_string))
                    .collect();
                nodes.sort();
                Ok((nodes.len() == n).then_some(nodes))
            },
        )
        .await;
    r.unwrap_or_else(|e| panic!("{e:#}"))
}

/// Run the fix script as root on `node` would: its files are the node's (below its root in the
/// agent; kubeadm's drop-in, flags file and defaults file absent, as on this package's nodes),
/// `systemctl` a stand-in that logs its calls; a logged `restart kubelet` restarts the node's
/// kubelet in the agent. The script's output.
fn run_fix_script(
    rc: &RealCluster,
    script: &std::path::Path,
    dir: &std::path::Path,
    node: &str,
) -> String {
    use std::os::unix::fs::PermissionsExt;
    let agent = rc.agent.as_ref().expect("the node agent runs");
    let config = agent.node_root(node).join("var/lib/kubelet/config.yaml");
    assert!(config.is_file(), "{}", config.display());
    let bin = dir.join(format!("bin-{node}"));
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join(format!("systemctl-{node}.log"));
    let _ = std::fs::remove_file(&log);
    let fake = bin.join("systemctl");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$*\" >> '{}'\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let absent = dir.join("absent");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.arg(script)
        .env("KUBELET_CONFIG", &config)
        .env("KUBELET_DROPIN", absent.join("10-kubeadm.conf"))
        .env("KUBELET_FLAGS_ENV", absent.join("kubeadm-flags.env"))
        .env("KUBELET_DEFAULTS", absent.join("kubelet"))
        .env("PATH", path);
    let run = output(&format!("fix-kubelet.sh on {node}"), cmd);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    if calls.lines().any(|l| l == "restart kubelet") {
        assert_eq!(calls, "daemon-reload\nrestart kubelet\n");
        agent
            .restart_kubelet(node)
            .unwrap_or_else(|e| panic!("{e:#}"));
    } else {
        assert_eq!(calls, "", "no restart, no systemctl call");
    }
    run.stdout
}

/// Scenario e-kubelet-rbac-missing: every kubelet authenticates the token (kubeadm's
/// configuration), but Prometheus' service account may not get nodes/metrics. The real
/// SubjectAccessReview refuses it on every node; doctor names the RBAC cause and prints the
/// ClusterRole and binding, which the test creates as printed; the real RBAC then allows the
/// scrapes and every target comes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubelet_403_from_missing_rbac_fixed_with_the_printed_binding() {
    let rc = start("e-kubelet-rbac-missing", RealOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let user = format!("system:serviceaccount:{PROM_NS}:{SA}");
    let token = prometheus_token(&rc);
    let forbidden =
        format!("Forbidden (user={user}, verb=get, resource=nodes, subresource(s)=[metrics])\n");
    for (_, o) in NODES {
        let got = kubelet_get(ip(&rc, o), "/metrics/cadvisor", Some(&token)).await;
        assert_eq!(got, (403, forbidden.clone()));
    }
    wait_kubelet_targets(&rc, &[], &NODES).await;

    let (code, v) = doctor(&rc, dir.path()).await;
    assert_eq!(code, 3, "{v:#}");
    let row = kubelet_row(&v);
    let why = row["cause"].as_str().unwrap_or("");
    assert!(
        why.contains(&format!("{user} may not get nodes/metrics")),
        "{why}"
    );
    assert!(!why.contains("token authentication is off"), "{why}");
    let fixes: Vec<String> = row["fix"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_string))
        .filter(|f| f.starts_with("kubectl create clusterrole"))
        .collect();
    assert_eq!(fixes.len(), 2, "the ClusterRole and its binding: {row:#}");
    for f in &fixes {
        let args: Vec<&str> = f.split_whitespace().skip(1).collect();
        rc.cp
            .kubectl_ok(&args)
            .unwrap_or_else(|e| panic!("{f}: {e:#}"));
    }
    wait_kubelet_targets(&rc, &NODES, &[]).await;
    let (_, v) = doctor(&rc, dir.path()).await;
    let row = kubelet_row(&v);
    assert_eq!(row["status"], "ok", "{row:#}");
}
