//! `kubectl promfix doctor` against the test cluster: one scenario per known failure, a healthy
//! one, two clusters in one kubeconfig, and a 1,000-node cluster (5,000 in the benchmark). The real Prometheus of each
//! cluster scrapes the scenario's listeners, so every lastError is a real one.

use promfix_testcluster::harness::{Options, TestCluster};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promfix");

async fn start(name: &str) -> TestCluster {
    let tc = TestCluster::start_builtin(name, Options::default())
        .await
        .unwrap_or_else(|e| panic!("starting scenario {name}: {e:#}"));
    tc.wait_prometheus_ready(Duration::from_secs(90))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    tc
}

async fn run(kubeconfig: &Path, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
    cmd.env("NO_COLOR", "1");
    tokio::task::spawn_blocking(move || cmd.output().expect("running kubectl-promfix"))
        .await
        .expect("doctor task")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `doctor -o json` until every target has been scraped at least once (bounded).
async fn doctor_json(kubeconfig: &Path, extra: &[&str]) -> (i32, Value) {
    doctor_json_within(kubeconfig, extra, Duration::from_secs(90)).await
}

async fn doctor_json_within(kubeconfig: &Path, extra: &[&str], limit: Duration) -> (i32, Value) {
    let deadline = Instant::now() + limit;
    loop {
        let mut args = vec!["doctor", "-o", "json"];
        args.extend_from_slice(extra);
        let out = run(kubeconfig, &args).await;
        let code = out.status.code().unwrap_or(-1);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "doctor -o json is not JSON ({e}): exit {code}\nstdout: {}\nstderr: {}",
                text(&out.stdout),
                text(&out.stderr)
            )
        });
        let rows: Vec<&Value> = v["clusters"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["rows"].as_array().into_iter().flatten())
            .collect();
        let pending = rows.iter().any(|r| {
            let cause = r["cause"].as_str().unwrap_or("");
            cause.contains("not scraped yet")
                || cause.contains("selects nothing Prometheus can scrape")
                || r["evidence"].as_array().into_iter().flatten().any(|e| {
                    e.as_str().is_some_and(|e| {
                        e.starts_with("Prometheus job") && !e.ends_with(", 0 not scraped yet")
                    })
                })
        });
        let no_targets_yet = v["clusters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["prometheus"].as_array().is_none_or(Vec::is_empty));
        if (!pending && !no_targets_yet) || Instant::now() > deadline {
            return (code, v);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn row<'a>(v: &'a Value, cluster: usize, component: &str) -> &'a Value {
    v["clusters"][cluster]["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["component"] == component))
        .unwrap_or_else(|| panic!("no row for {component}: {v:#}"))
}

fn status<'a>(v: &'a Value, component: &str) -> &'a str {
    row(v, 0, component)["status"].as_str().unwrap_or("")
}

fn cause(v: &Value, component: &str) -> String {
    row(v, 0, component)["cause"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn fixes(v: &Value, component: &str) -> Vec<String> {
    row(v, 0, component)["fix"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

/// Every component but `except` is ok.
fn others_ok(v: &Value, except: &[&str]) {
    for c in [
        "kubelet",
        "kube-scheduler",
        "kube-controller-manager",
        "kube-proxy",
        "etcd",
    ] {
        if !except.contains(&c) {
            assert_eq!(status(v, c), "ok", "{c}: {:#}", row(v, 0, c));
        }
    }
    for c in ["apiserver", "coredns"] {
        assert_ne!(status(v, c), "problem", "{c}: {:#}", row(v, 0, c));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy_cluster_exits_0_and_names_nothing_wrong() {
    let tc = start("e-healthy").await;
    let (code, v) = doctor_json(&tc.kubeconfig, &[]).await;
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["problems"], 0);
    others_ok(&v, &[]);
    // The human table too.
    let out = run(&tc.kubeconfig, &["doctor"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("COMPONENT") && !t.contains("PROBLEM"), "{t}");
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduler_and_controller_manager_on_the_insecure_ports() {
    let tc = start("e-control-plane-insecure-ports").await;
    let (code, v) = doctor_json(&tc.kubeconfig, &[]).await;
    assert_eq!(code, 3, "{v:#}");
    for (c, port, secure) in [
        ("kube-scheduler", "10251", "10259"),
        ("kube-controller-manager", "10252", "10257"),
    ] {
        assert_eq!(status(&v, c), "problem");
        let why = cause(&v, c);
        assert!(why.contains(&format!("insecure port {port}")), "{why}");
        assert!(
            why.contains(secure) && why.contains("bind-address=127.0.0.1"),
            "{why}"
        );
        let f = fixes(&v, c);
        assert_eq!(f[0], "kubectl promfix control-plane", "{f:?}");
        assert!(
            f[1].contains(&format!("/etc/kubernetes/manifests/{c}.yaml")),
            "{f:?}"
        );
        let ev = row(&v, 0, c)["evidence"].to_string();
        assert!(ev.contains("connection refused"), "{ev}");
    }
    others_ok(&v, &["kube-scheduler", "kube-controller-manager"]);
    let out = run(&tc.kubeconfig, &["doctor"]).await;
    assert_eq!(out.status.code(), Some(3));
    let t = text(&out.stdout);
    eprintln!("{t}");
    assert!(
        t.contains("PROBLEM") && t.contains("fix: kubectl promfix control-plane"),
        "{t}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn secure_ports_but_bound_to_loopback() {
    let tc = start("e-control-plane-bind-address").await;
    let (code, v) = doctor_json(&tc.kubeconfig, &[]).await;
    assert_eq!(code, 3, "{v:#}");
    for c in ["kube-scheduler", "kube-controller-manager"] {
        assert_eq!(status(&v, c), "problem");
        let why = cause(&v, c);
        assert!(why.contains("127.0.0.1 only"), "{why}");
        assert!(!why.contains("insecure"), "{why}");
        let f = fixes(&v, c);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].contains(&format!("/etc/kubernetes/manifests/{c}.yaml"))
                && f[0].contains("--bind-address=0.0.0.0"),
            "{f:?}"
        );
    }
    others_ok(&v, &["kube-scheduler", "kube-controller-manager"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn kube_proxy_metrics_on_loopback() {
    let tc = start("e-kube-proxy-metrics-bind-address").await;
    let (code, v) = doctor_json(&tc.kubeconfig, &[]).await;
    assert_eq!(code, 3, "{v:#}");
    assert_eq!(status(&v, "kube-proxy"), "problem");
    let why = cause(&v, "kube-proxy");
    assert!(why.contains("127.0.0.1:10249"), "{why}");
    assert_eq!(fixes(&v, "kube-proxy"), vec!["kubectl promfix kube-proxy"]);
    assert_eq!(row(&v, 0, "kube-proxy")["up"], 0);
    assert_eq!(row(&v, 0, "kube-proxy")["total"], 3);
    others_ok(&v, &["kube-proxy"]);
}

/// On the real control plane: tests/real_kubelet.rs
/// (`kubelet_403_from_the_real_authorizer_where_token_authentication_is_off`).
#[tokio::test(flavor = "multi_thread")]
async fn kubelet_403_from_token_authentication_off() {
    let tc = start("e-kubelet-webhook-authn-off").await;
    let (code, v) = doctor_json(&tc.kubeconfig, &[]).await;
    assert_eq!(code, 3, "{v:#}");
    assert_eq!(status(&v, "kubelet"), "problem");
    let why = cause(&v, "kubelet");
    assert!(
        why.contains("token authentication is off on 2 of 3"),
        "{why}"
    );
    assert!(!why.contains("nodes/metrics"), "{why}");
    let f = fixes(&v, "kubelet");
    assert!(f[0].starts_with("kubectl promfix kubelet"), "{f:?}");
    assert!(
        f[1].contains("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf")
            && f[1].contains("--authentication-token-webhook=true")
            && f[1].contains("/var/lib/kubelet/config.yaml"),
        "{f:?}"
    );
    let ev = row(&v, 0, "kubelet")["evidence"].to_string();
    assert!(ev.contains("403 Forbidden") && ev.contains("node2"), "{ev}");
    // The code Prometheus saw, and why: a 403 because the request runs as system:anonymous
    // (anonymous on, token webhook off), not a 401.
    assert!(
        why.starts_with("kubelet answers 403: 403 Forbidden") && why.contains("system:anonymous"),
        "{why}"
    );
    assert!(!why.contains("401"), "{why}");
    assert!(!f.iter().any(|f| f.contains("kubelet-config")), "{f:?}");
    others_ok(&v, &["kubelet"]);

    // On kubeadm (its kubelet-config ConfigMap exists) the fix also names the ConfigMap that
    // `kubeadm upgrade node` writes the node file back from.
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&tc.kubeconfig)
        .args([
            "-n",
            "kube-system",
            "create",
            "configmap",
            "kubelet-config",
            "--from-literal=kubelet=kind: KubeletConfiguration",
        ])
        .output()
        .expect("kubectl (install it: the test's peer)");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (_, v) = doctor_json(&tc.kubeconfig, &[]).await;
    let f = fixes(&v, "kubelet");
    assert!(
        f.iter()
            .any(|f| f.contains("ConfigMap kube-system/kubelet-config")
                && f.contains("kubeadm upgrade node")),
        "{f:?}"
    );
}

/// On the real control plane: tests/real_kubelet.rs
/// (`kubelet_403_from_missing_rbac_fixed_with_the_printed_binding`).
#[tokio::test(flavor = "multi_thread")]
async fn kubelet_403_from_missing_rbac() {
    let tc = start("e-kubelet-rbac-missing").await;
    let (code, v) = doctor_json(&tc.kubeconfig, &[]).await;
    assert_eq!(code, 3, "{v:#}");
    assert_eq!(status(&v, "kubelet"), "problem");
    let why = cause(&v, "kubelet");
    assert!(
        why.contains("system:serviceaccount:monitoring:prometheus-kube-prometheus-prometheus may not get nodes/metrics"),
        "{why}"
    );
    assert!(!why.contains("token authentication is off"), "{why}");
    let f = fixes(&v, "kubelet");
    assert!(
        f.iter().any(|f| f
            == "kubectl create clusterrolebinding promfix-kubelet-metrics --clusterrole=promfix-kubelet-metrics --serviceaccount=monitoring:prometheus-kube-prometheus-prometheus"),
        "{f:?}"
    );
    others_ok(&v, &["kubelet"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn etcd_without_client_certificates() {
    let tc = start("e-etcd-client-certs").await;
    let (code, v) = doctor_json(&tc.kubeconfig, &[]).await;
    assert_eq!(code, 3, "{v:#}");
    assert_eq!(status(&v, "etcd"), "problem");
    let why = cause(&v, "etcd");
    assert!(why.contains("client certificates"), "{why}");
    assert!(fixes(&v, "etcd")[0].starts_with("kubectl promfix etcd"));
    others_ok(&v, &["etcd"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn stacked_etcd_metrics_on_loopback() {
    // The chart scrapes 2381 on the node IP; kubeadm's etcd serves it on 127.0.0.1 only.
    let tc = start("e-etcd-metrics-loopback").await;
    let (code, v) = doctor_json(&tc.kubeconfig, &[]).await;
    assert_eq!(code, 3, "{v:#}");
    let why = cause(&v, "etcd");
    assert!(
        why.contains("only on http://127.") && why.contains("--listen-metrics-urls"),
        "{why}"
    );
    assert!(fixes(&v, "etcd")[0].starts_with("kubectl promfix etcd"));
    others_ok(&v, &["etcd"]);
}

/// Two clusters in one kubeconfig: the test writes the merged file.
fn merge_kubeconfigs(a: &Path, b: &Path, out: &Path) -> (String, String) {
    let read = |p: &Path| -> Value {
        serde_yaml_ng::from_str(&std::fs::read_to_string(p).expect("kubeconfig")).expect("yaml")
    };
    let (ka, kb) = (read(a), read(b));
    let mut merged = serde_json::json!({
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [], "users": [], "contexts": [],
    });
    let mut names = Vec::new();
    for (tag, k) in [("one", &ka), ("two", &kb)] {
        let ctx_name = k["current-context"].as_str().expect("current-context");
        let ctx = k["contexts"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == ctx_name))
            .expect("context");
        let cluster = k["clusters"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == ctx["context"]["cluster"]))
            .expect("cluster");
        let user = k["users"]
            .as_array()
            .and_then(|u| u.iter().find(|u| u["name"] == ctx["context"]["user"]))
            .expect("user");
        let name = format!("{tag}-{ctx_name}");
        let mut c = cluster.clone();
        c["name"] = format!("{tag}-cluster").into();
        let mut u = user.clone();
        u["name"] = format!("{tag}-user").into();
        let mut x = ctx.clone();
        x["name"] = name.clone().into();
        x["context"]["cluster"] = format!("{tag}-cluster").into();
        x["context"]["user"] = format!("{tag}-user").into();
        for (f, o) in [("clusters", c), ("users", u), ("contexts", x)] {
            merged[f].as_array_mut().expect("array").push(o);
        }
        names.push(name);
    }
    merged["current-context"] = names[0].clone().into();
    std::fs::write(out, serde_yaml_ng::to_string(&merged).expect("yaml")).expect("write");
    (names[0].clone(), names[1].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn all_contexts_one_table_per_cluster() {
    let (healthy, broken) = tokio::join!(
        start("e-healthy"),
        start("e-kube-proxy-metrics-bind-address")
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let merged = dir.path().join("kubeconfig");
    let (one, two) = merge_kubeconfigs(&healthy.kubeconfig, &broken.kubeconfig, &merged);
    let (code, v) = doctor_json(&merged, &["--all-contexts"]).await;
    assert_eq!(code, 3, "{v:#}");
    let clusters = v["clusters"].as_array().expect("clusters");
    assert_eq!(clusters.len(), 2, "{v:#}");
    assert_eq!(clusters[0]["context"], one.as_str());
    assert_eq!(clusters[1]["context"], two.as_str());
    let proxy = |i: usize| {
        row(&v, i, "kube-proxy")["status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(proxy(0), "ok");
    assert_eq!(proxy(1), "problem");

    // --context repeated: the same two; the human form has one table per cluster.
    let out = run(&merged, &["doctor", "--context", &one, "--context", &two]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert_eq!(t.matches("COMPONENT").count(), 2, "{t}");
    assert!(t.contains(&format!("== context {one}")) && t.contains(&format!("== context {two}")));

    // Only the healthy one: exit 0.
    let (code, _) = doctor_json(&merged, &["--context", &one]).await;
    assert_eq!(code, 0);

    // An unknown context is an error naming the contexts there are.
    let out = run(&merged, &["doctor", "--context", "nope"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&one), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_nodes_are_diagnosed() {
    // 1,000 nodes in the suite (about half a minute); the 5,000-node scenario is diagnosed by
    // the benchmark (tests/bench --only doctor), which prints its time and peak memory — the
    // test cluster needs minutes to start 5,000 nodes. PROMFIX_SCALE_NODES=5000 runs it here.
    let nodes: usize = std::env::var("PROMFIX_SCALE_NODES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("scale.yaml");
    std::fs::write(&path, promfix_testcluster::scale::generate(nodes, 0)).expect("write");
    let t0 = Instant::now();
    let tc = TestCluster::start(&path, Options::default())
        .await
        .unwrap_or_else(|e| panic!("starting the {nodes}-node cluster: {e:#}"));
    eprintln!("{nodes}-node cluster loaded in {:?}", t0.elapsed());
    // Until every kube-proxy pod has its status the test cluster's controllers recompute
    // Endpoints for each burst of pod events: a large cluster takes minutes to settle.
    tc.wait_prometheus_ready(Duration::from_secs(1200))
        .await
        .expect("Prometheus ready");
    eprintln!(
        "{nodes}-node cluster: Prometheus ready after {:?}",
        t0.elapsed()
    );
    let t1 = Instant::now();
    let out = run(&tc.kubeconfig, &["doctor", "-o", "json", "-v"]).await;
    eprint!("{}", text(&out.stderr));
    eprintln!(
        "{nodes}-node cluster: one doctor run took {:?} (exit {:?})",
        t1.elapsed(),
        out.status.code()
    );
    // One process stands in for 1,000 kubelets here: on a loaded machine some scrapes time out
    // for a while (a stand-in artifact, not the cluster's state); wait until they are answered.
    let settle = Instant::now() + Duration::from_secs(600);
    let (code, v) = loop {
        let (code, v) = doctor_json_within(&tc.kubeconfig, &[], Duration::from_secs(1200)).await;
        if !cause(&v, "kubelet").contains("context deadline exceeded") || Instant::now() > settle {
            break (code, v);
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    };
    eprintln!(
        "{nodes}-node cluster diagnosed {:?} after start",
        t0.elapsed()
    );
    assert_eq!(code, 3, "{v:#}");
    let kubelet = row(&v, 0, "kubelet");
    let why = cause(&v, "kubelet");
    let affected = promfix_testcluster::scale::webhook_off_nodes(nodes);
    assert!(
        why.contains(&format!(
            "token authentication is off on {affected} of {nodes}"
        )),
        "{why}"
    );
    // A bounded sample of affected nodes, not all of them.
    let ev = kubelet["evidence"].to_string();
    assert!(ev.contains("node-00001") || ev.contains("e.g."), "{ev}");
    assert!(
        ev.len() < 4000,
        "evidence grows with the cluster: {} bytes",
        ev.len()
    );
    assert_eq!(status(&v, "kube-proxy"), "problem");
    assert!(cause(&v, "kube-proxy").contains("127.0.0.1:10249"));
    assert_eq!(row(&v, 0, "kube-proxy")["up"], 0);
    assert_eq!(row(&v, 0, "kube-proxy")["total"], nodes);
}

/// A kubeconfig whose only context points at `server` (nothing listens there).
fn dead_kubeconfig(dir: &Path, server: &str) -> std::path::PathBuf {
    let p = dir.join("kubeconfig");
    std::fs::write(
        &p,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster:\n    server: {server}\n\
             contexts:\n- name: dead-ctx\n  context:\n    cluster: dead\n    user: u\n\
             current-context: dead-ctx\nusers:\n- name: u\n  user:\n    token: abc\n"
        ),
    )
    .expect("write kubeconfig");
    p
}

/// The CI gate: doctor against a dead server must not pass. It exits 1, says which server and
/// context could not be reached, how (refused / DNS), what to do, and prints no table.
#[tokio::test(flavor = "multi_thread")]
async fn doctor_fails_against_an_unreachable_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = dead_kubeconfig(dir.path(), "https://127.0.0.1:1");
    let out = run(&kc, &["doctor"]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(text(&out.stdout), "", "no table of unknowns: {err}");
    for want in [
        "error: the connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?",
        "server: https://127.0.0.1:1 (context \"dead-ctx\" of the kubeconfig)",
        "hint: ",
    ] {
        assert!(err.contains(want), "stderr lacks {want:?}:\n{err}");
    }
    assert!(!err.contains("ServiceError"), "{err}");

    // -o json: still one JSON document on stdout, and exit 1.
    let out = run(&kc, &["doctor", "-o", "json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("doctor -o json is JSON");
    assert!(
        v["clusters"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("was refused")),
        "{v:#}"
    );

    // The other commands say the same (etcd's first request is a discovery).
    let ca = corpus("good-ca.pem");
    let (cert, key) = (corpus("good-client.pem"), corpus("good-client-key.pem"));
    let out = run(
        &kc,
        &[
            "etcd",
            "--ca",
            ca.to_str().unwrap(),
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--endpoints",
            "127.0.0.1",
            "--no-probe",
            "--dry-run",
        ],
    )
    .await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the connection to the server 127.0.0.1:1 was refused")
            && err.contains("context \"dead-ctx\""),
        "{err}"
    );

    // A name that does not resolve says so.
    let kc = dead_kubeconfig(dir.path(), "https://promfix-test.invalid:6443");
    let out = run(&kc, &["doctor"]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the server name promfix-test.invalid does not resolve"),
        "{err}"
    );
}

fn corpus(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name)
}

/// Issue 17, item 12: a missing kubeconfig is named once, unquoted; the key given as both
/// --cert and --key is called that, not a swap.
#[tokio::test(flavor = "multi_thread")]
async fn small_messages_name_things_once_and_rightly() {
    let out = run(Path::new("/tmp/promfix-no-such-kubeconfig"), &["doctor"]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.matches("/tmp/promfix-no-such-kubeconfig").count(),
        1,
        "{err}"
    );
    assert!(!err.contains("'\"") && !err.contains("\"/tmp"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let kc = dead_kubeconfig(dir.path(), "https://127.0.0.1:1");
    let (ca, key) = (corpus("good-ca.pem"), corpus("good-client-key.pem"));
    let out = run(
        &kc,
        &[
            "etcd",
            "--ca",
            ca.to_str().unwrap(),
            "--cert",
            key.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--dry-run",
        ],
    )
    .await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--cert and --key name the same file") && err.contains("both are keys"),
        "{err}"
    );
    assert!(!err.contains("swapped"), "{err}");
}

/// Issue 17, item 1: a cluster without the operator, and `-n` where no Prometheus is, could
/// check nothing: exit 1, the reason on stderr as an error, no table of unknowns. A kubeconfig
/// with another CA fails the TLS handshake, and says so.
#[tokio::test(flavor = "multi_thread")]
async fn doctor_that_can_check_nothing_exits_1() {
    let (no_operator, operator) = tokio::join!(
        TestCluster::start_builtin(
            "d-no-operator.yaml",
            Options {
                without_etcd: true,
                ..Default::default()
            }
        ),
        TestCluster::start_builtin(
            "b-kube-prometheus-stack.yaml",
            Options {
                without_etcd: true,
                ..Default::default()
            }
        ),
    );
    let (no_operator, operator) = (
        no_operator.expect("scenario d"),
        operator.expect("scenario b"),
    );

    let out = run(&no_operator.kubeconfig, &["doctor"]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(text(&out.stdout), "", "{err}");
    assert!(
        err.contains("error: nothing could be checked")
            && err.contains("Prometheus Operator's resources (monitoring.coreos.com/v1 prometheuses) are not served"),
        "{err}"
    );
    let out = run(&no_operator.kubeconfig, &["doctor", "-o", "json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["unchecked"], 7, "{v:#}");
    assert!(
        v["clusters"][0]["rows"].as_array().is_some_and(|r| r
            .iter()
            .all(|r| r["unchecked"] == true && r["status"] == "unknown")),
        "{v:#}"
    );

    let out = run(&operator.kubeconfig, &["doctor", "-n", "foo"]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no Prometheus resource in namespace foo")
            && err.contains("Prometheus resources are in monitoring/"),
        "{err}"
    );

    // Another cluster's CA: the handshake fails, and the message says it is TLS.
    let kc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&operator.kubeconfig).expect("read"))
            .expect("yaml");
    let mut kc = kc;
    let other_ca = std::fs::read(corpus("good-ca.pem")).expect("ca");
    use base64::Engine as _;
    kc["clusters"][0]["cluster"]["certificate-authority-data"] =
        base64::engine::general_purpose::STANDARD
            .encode(other_ca)
            .into();
    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = dir.path().join("kubeconfig");
    std::fs::write(&wrong, serde_yaml_ng::to_string(&kc).expect("yaml")).expect("write");
    let out = run(&wrong, &["doctor"]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the TLS handshake with the server"), "{err}");
}

/// Issue 16: doctor's cost follows failures. On a generated cluster whose kubelets are all up it
/// reads no kubelet's /configz; where every worker's kubelet answers 403 (token webhook off,
/// anonymous on, as a real kubelet refuses system:anonymous) it reads those and one that
/// answers, and still names the cause.
#[tokio::test(flavor = "multi_thread")]
async fn configz_only_where_kubelets_fail() {
    use promfix_testcluster::scale::{Kubelets, generate_with};
    let nodes = 120;
    let dir = tempfile::tempdir().expect("tempdir");
    let start = |k: Kubelets| {
        let path = dir.path().join(format!("scale-{k:?}.yaml"));
        std::fs::write(&path, generate_with(nodes, 0, k)).expect("write");
        async move {
            let tc = TestCluster::start(&path, Options::default())
                .await
                .unwrap_or_else(|e| panic!("starting the {k:?} cluster: {e:#}"));
            tc.wait_prometheus_ready(Duration::from_secs(600))
                .await
                .expect("Prometheus ready");
            tc
        }
    };
    let (up, failing) = tokio::join!(start(Kubelets::AllUp), start(Kubelets::WorkersForbidden));
    let configz = |tc: &TestCluster| {
        tc.cluster
            .faults
            .log()
            .iter()
            .filter(|e| e.path.ends_with("/proxy/configz"))
            .count()
    };

    let (_, v) = doctor_json_within(&up.kubeconfig, &[], Duration::from_secs(600)).await;
    assert_eq!(status(&v, "kubelet"), "ok", "{:#}", row(&v, 0, "kubelet"));
    up.cluster.faults.clear_log();
    let (_, v) = doctor_json(&up.kubeconfig, &[]).await;
    assert_eq!(status(&v, "kubelet"), "ok");
    assert_eq!(configz(&up), 0, "no /configz where every kubelet is up");
    let requests = up.cluster.faults.log().len();
    assert!(requests <= 25, "{requests} requests on a healthy cluster");

    let (code, v) = doctor_json_within(&failing.kubeconfig, &[], Duration::from_secs(600)).await;
    assert_eq!(code, 3, "{v:#}");
    failing.cluster.faults.clear_log();
    let (_, v) = doctor_json(&failing.kubeconfig, &[]).await;
    assert_eq!(status(&v, "kubelet"), "problem");
    let why = cause(&v, "kubelet");
    assert!(
        why.starts_with("kubelet answers 403: 403 Forbidden")
            && why.contains(&format!(
                "token authentication is off on {} of {nodes}",
                nodes - 1
            ))
            && why.contains("system:anonymous"),
        "{why}"
    );
    let ev = row(&v, 0, "kubelet")["evidence"].to_string();
    assert!(
        ev.contains(&format!("{} node(s) with a target down", nodes - 1))
            && ev.contains("for comparison, 1 that answers: token authentication on on 1"),
        "{ev}"
    );
    assert_eq!(
        configz(&failing),
        nodes,
        "the failing workers and the one that answers"
    );
}
