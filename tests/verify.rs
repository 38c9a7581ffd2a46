//! `kubectl promfix verify` end to end on the seed's cluster (scenario a), with real etcd, real
//! Prometheus (two replicas) and exec over WebSocket: before the fix, after it, with a stale pod,
//! with a wrong CA, with a client certificate from another CA, with an unselected ServiceMonitor,
//! and with an image without a shell.

use promfix_testcluster::harness::{Options, TestCluster};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

const SEED: &str = "a-seed-stable-prometheus-operator.yaml";
const PROM: &str = "prom-prometheus-operator-prometheus";
const SM: &str = "prom-prometheus-operator-kube-etcd";
const PODS: [&str; 2] = [
    "prometheus-prom-prometheus-operator-prometheus-0",
    "prometheus-prom-prometheus-operator-prometheus-1",
];

async fn start() -> TestCluster {
    let tc = TestCluster::start_builtin(
        SEED,
        Options {
            version: Some("v1.33.1".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("starting scenario {SEED}: {e:#}"));
    tc.wait_prometheus_ready(Duration::from_secs(120))
        .await
        .expect("Prometheus pods ready");
    tc
}

/// Run the built plugin with the cluster's kubeconfig.
async fn promfix(tc: &TestCluster, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-promfix"));
    cmd.arg("--kubeconfig").arg(&tc.kubeconfig).args(args);
    cmd.current_dir(tc.dir());
    cmd.env("NO_COLOR", "1");
    let what = args.join(" ");
    let t = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("task")
        .unwrap_or_else(|e| panic!("running kubectl-promfix {what}: {e}"));
    eprintln!(
        "kubectl-promfix {} -> {:?} in {:.1}s\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status.code(),
        t.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

async fn kubectl(tc: &TestCluster, args: &[&str]) -> Output {
    let mut cmd = tc.kubectl();
    cmd.args(args);
    let what = args.join(" ");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("task")
        .unwrap_or_else(|e| panic!("kubectl {what}: {e} (Debian package kubernetes-client)"));
    assert!(
        out.status.success(),
        "kubectl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn cert(tc: &TestCluster, name: &str) -> String {
    let dir = tc
        .etcd_certs_dir
        .clone()
        .expect("scenario a generates etcd certificates");
    let p = dir.join(name);
    assert!(p.is_file(), "{} missing", p.display());
    p.display().to_string()
}

fn b64(path: &Path) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).expect("reading a cert"))
}

/// Replace keys of the Secret (kubectl patch, as a user would).
async fn patch_secret(tc: &TestCluster, data: &[(&str, &Path)]) {
    let mut m = serde_json::Map::new();
    for (k, p) in data {
        m.insert((*k).to_string(), Value::String(b64(p)));
    }
    let patch = serde_json::json!({"data": m}).to_string();
    kubectl(
        tc,
        &[
            "-n",
            "monitoring",
            "patch",
            "secret",
            "etcd-client-cert",
            "--type",
            "merge",
            "-p",
            &patch,
        ],
    )
    .await;
}

fn json_reports(o: &Output) -> Vec<Value> {
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("-o json is not JSON ({e}):\n{}", stdout(o)));
    v.as_array().expect("an array of pods").clone()
}

fn no_key_material(o: &Output, tc: &TestCluster) {
    let key = std::fs::read_to_string(cert(tc, "node-node1-key.pem")).unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    for line in key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
    {
        assert!(!all.contains(line), "key material printed");
    }
    let b = b64(Path::new(&cert(tc, "node-node1-key.pem")));
    assert!(!all.contains(&b[..40]), "base64 key material printed");
}

/// The seed's story: fails before the fix (missing files, no targets because the Service keeps
/// its selector), a stale pod during the fix's rollout (`--no-wait` reports it, the default waits
/// for it), passes after it in both replicas, then breaks it three ways and explains each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_tells_the_seeds_story() {
    let t0 = Instant::now();
    let tc = start().await;
    eprintln!("cluster ready in {:.1}s", t0.elapsed().as_secs_f64());

    // 1. Before any fix.
    let t = Instant::now();
    let out = promfix(&tc, &["verify", "-n", "monitoring", "--timeout", "60s"]).await;
    assert_eq!(code(&out), 3, "verification fails before the fix");
    let s = stdout(&out);
    assert!(
        s.contains("/etc/prometheus/secrets/etcd-client-cert/etcd-ca"),
        "{s}"
    );
    assert!(s.contains("MISSING"), "{s}");
    assert!(s.contains("does not exist"), "{s}");
    assert!(
        s.contains("still has a selector (component=etcd)") && s.contains("Endpoints"),
        "{s}"
    );
    for pod in PODS {
        assert!(s.contains(pod), "{pod} reported: {s}");
    }
    let out = promfix(
        &tc,
        &[
            "verify",
            "-n",
            "monitoring",
            "-o",
            "json",
            "--timeout",
            "60s",
        ],
    )
    .await;
    assert_eq!(code(&out), 3);
    let reports = json_reports(&out);
    assert_eq!(reports.len(), 2, "one entry per pod");
    for r in &reports {
        assert_eq!(r["ok"], false);
        assert!(
            r["files"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["status"] == "missing")
        );
        assert!(r["targets"].as_array().unwrap().is_empty());
    }
    eprintln!("step 1 (before the fix) {:.1}s", t.elapsed().as_secs_f64());

    // 2. The fix, with a slow roll: the pod not yet replaced is stale.
    let t = Instant::now();
    tc.cluster
        .kubelet
        .set_not_ready_delay(Duration::from_secs(15));
    let backups = tc.dir().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let out = promfix(
        &tc,
        &[
            "etcd",
            "-n",
            "monitoring",
            "--yes",
            "--no-verify",
            "--backup-dir",
            backups.to_str().unwrap(),
            "--ca",
            &cert(&tc, "ca.pem"),
            "--cert",
            &cert(&tc, "node-node1.pem"),
            "--key",
            &cert(&tc, "node-node1-key.pem"),
        ],
    )
    .await;
    assert_eq!(code(&out), 0, "the fix applies");
    let out = promfix(
        &tc,
        &[
            "verify",
            "-n",
            "monitoring",
            "--no-wait",
            "-o",
            "json",
            "--timeout",
            "20s",
        ],
    )
    .await;
    assert_eq!(code(&out), 3, "a stale pod fails with --no-wait");
    let reports = json_reports(&out);
    assert!(
        reports.iter().any(|r| r["stale"]
            .as_str()
            .is_some_and(|s| s.contains("spec.secrets"))),
        "a pod is reported stale: {reports:?}"
    );
    no_key_material(&out, &tc);
    eprintln!(
        "step 2a (--no-wait, stale) {:.1}s",
        t.elapsed().as_secs_f64()
    );

    // 3. Without --no-wait: waits for the rollout and the first scrape; both replicas pass.
    let t = Instant::now();
    let out = promfix(&tc, &["verify", "-n", "monitoring", "--timeout", "4m"]).await;
    let s = stdout(&out);
    assert_eq!(code(&out), 0, "verified after the fix:\n{s}");
    assert_eq!(
        s.matches("ok (sha256 equal to the Secret's)").count(),
        6,
        "{s}"
    );
    assert!(s.contains("verified: 2 pod(s)"), "{s}");
    no_key_material(&out, &tc);
    tc.cluster.kubelet.set_not_ready_delay(Duration::ZERO);
    let out = promfix(
        &tc,
        &[
            "verify",
            "--prometheus",
            PROM,
            "-n",
            "monitoring",
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(code(&out), 0);
    let reports = json_reports(&out);
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert_eq!(r["ok"], true, "{r}");
        assert!(r.get("stale").is_none());
        let targets = r["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 3, "three etcd members: {r}");
        assert!(targets.iter().all(|t| t["health"] == "up"));
    }
    eprintln!("step 3 (waits, passes) {:.1}s", t.elapsed().as_secs_f64());

    // 4. A wrong CA in the Secret: unknown authority.
    let t = Instant::now();
    let other = tc.dir().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let (foreign, foreign_ca) =
        promfix_testcluster::peers::certs::mint_foreign_client(&other, "intruder")
            .expect("minting a foreign client");
    patch_secret(&tc, &[("etcd-ca", &foreign_ca)]).await;
    let out = promfix(&tc, &["verify", "-n", "monitoring", "--timeout", "2m"]).await;
    let s = stdout(&out);
    assert_eq!(code(&out), 3, "{s}");
    assert!(s.contains("certificate signed by unknown authority"), "{s}");
    assert!(s.contains("wrong CA in the Secret"), "{s}");
    eprintln!("step 4 (wrong CA) {:.1}s", t.elapsed().as_secs_f64());

    // 5. The right CA, a client certificate from another CA: etcd refuses it.
    let t = Instant::now();
    patch_secret(
        &tc,
        &[
            ("etcd-ca", Path::new(&cert(&tc, "ca.pem"))),
            ("etcd-client", &foreign.cert),
            ("etcd-client-key", &foreign.key),
        ],
    )
    .await;
    let out = promfix(&tc, &["verify", "-n", "monitoring", "--timeout", "2m"]).await;
    let s = stdout(&out);
    assert_eq!(code(&out), 3, "{s}");
    assert!(s.contains("remote error: tls: bad certificate"), "{s}");
    assert!(s.contains("refused the client certificate"), "{s}");
    eprintln!(
        "step 5 (foreign client certificate) {:.1}s",
        t.elapsed().as_secs_f64()
    );

    // 6. Good certificates again, but the ServiceMonitor loses the label the Prometheus selects.
    let t = Instant::now();
    patch_secret(
        &tc,
        &[
            ("etcd-client", Path::new(&cert(&tc, "node-node1.pem"))),
            (
                "etcd-client-key",
                Path::new(&cert(&tc, "node-node1-key.pem")),
            ),
        ],
    )
    .await;
    kubectl(
        &tc,
        &[
            "-n",
            "monitoring",
            "label",
            "servicemonitor",
            SM,
            "release=other",
            "--overwrite",
        ],
    )
    .await;
    let out = promfix(&tc, &["verify", "-n", "monitoring", "--timeout", "2m"]).await;
    let s = stdout(&out);
    assert_eq!(code(&out), 3, "{s}");
    assert!(s.contains("is not selected by this Prometheus"), "{s}");
    assert!(s.contains("serviceMonitorSelector"), "{s}");
    eprintln!(
        "step 6 (unselected ServiceMonitor) {:.1}s",
        t.elapsed().as_secs_f64()
    );

    // 7. Usage and cluster errors exit 1, as documented.
    let out = promfix(&tc, &["verify", "-n", "monitoring", "--prometheus", "nope"]).await;
    assert_eq!(code(&out), 1);
    let out = promfix(&tc, &["verify", "--timeout", "5x"]).await;
    assert_eq!(code(&out), 2, "usage error");
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-promfix"))
        .args(["verify", "--help"])
        .output()
        .unwrap();
    let h = stdout(&help);
    assert!(
        h.contains("Exit codes:") && h.contains("3  verification failed"),
        "{h}"
    );
    eprintln!("whole story {:.1}s", t0.elapsed().as_secs_f64());
}

/// An image without sha256sum (distroless): a clear message instead of the runtime's error alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_without_a_shell_gets_a_clear_message() {
    let t0 = Instant::now();
    let tc = TestCluster::start_builtin(
        SEED,
        Options {
            version: Some("v1.33.1".into()),
            without_etcd: true,
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("starting scenario {SEED}: {e:#}"));
    tc.wait_prometheus_ready(Duration::from_secs(120))
        .await
        .expect("Prometheus pods ready");
    kubectl(
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
            r#"{"spec":{"podMetadata":{"annotations":{"promfix.test/no-shell":"prometheus"}}}}"#,
        ],
    )
    .await;
    tc.wait_for(
        "pods with the no-shell annotation, Ready",
        Duration::from_secs(120),
        |st| {
            let rt = st.rt("pods");
            PODS.iter()
                .all(|p| {
                    st.get(&rt, Some("monitoring"), p).is_ok_and(|pod| {
                        pod["metadata"]["annotations"]["promfix.test/no-shell"] == "prometheus"
                            && promfix_testcluster::harness::is_ready(&pod)
                    })
                })
                .then_some(())
        },
    )
    .await
    .expect("rolled");
    let out = promfix(
        &tc,
        &[
            "verify",
            "-n",
            "monitoring",
            "-o",
            "json",
            "--timeout",
            "30s",
        ],
    )
    .await;
    assert_eq!(code(&out), 3);
    let reports = json_reports(&out);
    assert_eq!(reports.len(), 2);
    for r in &reports {
        let e = r["files_error"].as_str().unwrap_or("");
        assert!(
            e.contains("has no `sha256sum`") && e.contains("executable file not found"),
            "{r}"
        );
        // The targets API is read; no target, and why.
        let notes = r["targets_notes"].to_string();
        assert!(!notes.contains("cannot read the targets"), "{r}");
        assert!(notes.contains("still has a selector"), "{r}");
    }
    eprintln!("no-shell test {:.1}s", t0.elapsed().as_secs_f64());
}

/// A TCP server on `addr` for the rest of the test: `plain` answers every request with a plain
/// HTTP /metrics page; otherwise it accepts and never answers (a black hole, as a firewall that
/// drops would look after the connect).
fn serve(addr: std::net::SocketAddr, plain: bool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("binding {addr}: {e}"));
        let mut held = Vec::new();
        loop {
            let Ok((mut sock, _)) = l.accept().await else {
                continue;
            };
            if plain {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    let body = "# TYPE up gauge\netcd_server_has_leader 1\n";
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            } else {
                held.push(sock);
            }
        }
    })
}

/// Verify must fail with this lastError text and explanation.
async fn fails_with(tc: &TestCluster, step: &str, error: &str, explanation: &str) {
    let t = Instant::now();
    let out = promfix(
        tc,
        &[
            "verify",
            "-n",
            "monitoring",
            "-o",
            "json",
            "--timeout",
            "90s",
        ],
    )
    .await;
    assert_eq!(code(&out), 3, "{step}");
    let reports = json_reports(&out);
    assert_eq!(reports.len(), 2, "{step}");
    for r in &reports {
        let targets = r["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 3, "{step}: {r}");
        for t in targets {
            assert_eq!(t["health"], "down", "{step}: {t}");
            let e = t["lastError"]
                .as_str()
                .or(t["last_error"].as_str())
                .unwrap_or("");
            assert!(e.contains(error), "{step}: lastError {e:?} lacks {error:?}");
            let x = t["explanation"].as_str().unwrap_or("");
            assert!(
                x.contains(explanation),
                "{step}: explanation {x:?} lacks {explanation:?}"
            );
        }
    }
    eprintln!("{step}: {:.1}s", t.elapsed().as_secs_f64());
}

async fn sm_patch(tc: &TestCluster, patch: &str) {
    kubectl(
        tc,
        &[
            "-n",
            "monitoring",
            "patch",
            "servicemonitor",
            SM,
            "--type",
            "json",
            "-p",
            patch,
        ],
    )
    .await;
}

async fn endpoints_port(tc: &TestCluster, port: u16) {
    let p = format!(r#"[{{"op":"replace","path":"/subsets/0/ports/0/port","value":{port}}}]"#);
    kubectl(
        tc,
        &[
            "-n",
            "kube-system",
            "patch",
            "endpoints",
            SM,
            "--type",
            "json",
            "-p",
            &p,
        ],
    )
    .await;
    // Prometheus' discovery follows the Endpoints within seconds, but on a loaded machine a
    // verify run right away could still read the previous step's targets: wait until every
    // replica scrapes the new port.
    let deadline = Instant::now() + Duration::from_secs(60);
    let want = format!(":{port}/");
    for pod in PODS {
        loop {
            let targets = tc
                .active_targets("monitoring", pod, "etcd")
                .await
                .unwrap_or_else(|| panic!("reading {pod}'s targets through pods/proxy"));
            let urls: Vec<&str> = targets
                .iter()
                .filter_map(|t| t["scrapeUrl"].as_str())
                .collect();
            if !urls.is_empty() && urls.iter().all(|u| u.contains(&want)) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{pod} does not scrape port {port}: {urls:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// The other ways an etcd scrape fails, each produced for real against real etcd and real
/// Prometheus, with the lastError text Prometheus writes and verify's explanation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_explains_each_way_the_etcd_scrape_fails() {
    let t0 = Instant::now();
    let tc = start().await;
    let backups = tc.dir().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let out = promfix(
        &tc,
        &[
            "etcd",
            "-n",
            "monitoring",
            "--yes",
            "--no-probe",
            "--no-verify",
            "--backup-dir",
            backups.to_str().unwrap(),
            "--ca",
            &cert(&tc, "ca.pem"),
            "--cert",
            &cert(&tc, "node-node1.pem"),
            "--key",
            &cert(&tc, "node-node1-key.pem"),
        ],
    )
    .await;
    assert_eq!(code(&out), 0);
    // Scrape often so each step takes seconds, not the default 30s.
    sm_patch(
        &tc,
        r#"[{"op":"add","path":"/spec/endpoints/0/interval","value":"3s"},
            {"op":"add","path":"/spec/endpoints/0/scrapeTimeout","value":"2s"}]"#,
    )
    .await;
    let out = promfix(&tc, &["verify", "-n", "monitoring", "--timeout", "4m"]).await;
    assert_eq!(code(&out), 0, "fixed: {}", stdout(&out));
    eprintln!("fixed and verified: {:.1}s", t0.elapsed().as_secs_f64());

    // etcd's certificate is not valid for the name asked for.
    sm_patch(&tc, r#"[{"op":"add","path":"/spec/endpoints/0/tlsConfig/serverName","value":"etcd.elsewhere.example"}]"#).await;
    fails_with(
        &tc,
        "server name",
        "x509: certificate is valid for",
        "--server-name",
    )
    .await;
    sm_patch(
        &tc,
        r#"[{"op":"remove","path":"/spec/endpoints/0/tlsConfig/serverName"}]"#,
    )
    .await;

    // Plain http against etcd's TLS port.
    sm_patch(
        &tc,
        r#"[{"op":"replace","path":"/spec/endpoints/0/scheme","value":"http"}]"#,
    )
    .await;
    fails_with(
        &tc,
        "http to the TLS port",
        "/metrics\": EOF", // etcd 3.4 closes the connection; Go HTTPS servers answer 400
        "scraped with plain http",
    )
    .await;
    sm_patch(
        &tc,
        r#"[{"op":"replace","path":"/spec/endpoints/0/scheme","value":"https"}]"#,
    )
    .await;

    // Nothing listens on the port.
    endpoints_port(&tc, 2399).await;
    fails_with(
        &tc,
        "refused",
        "connect: connection refused",
        "localhost only",
    )
    .await;

    // https against a plain HTTP port.
    let net = tc.net();
    let mut servers = Vec::new();
    for host in [11u8, 12, 13] {
        let ip = std::net::Ipv4Addr::new(127, net, 2, host);
        servers.push(serve((ip, 2398).into(), true));
        servers.push(serve((ip, 2397).into(), false));
    }
    endpoints_port(&tc, 2398).await;
    fails_with(
        &tc,
        "https to http",
        "server gave HTTP response to HTTPS client",
        "speaks plain HTTP",
    )
    .await;

    // No answer in time (a firewall that drops).
    endpoints_port(&tc, 2397).await;
    fails_with(&tc, "timeout", "context deadline exceeded", "firewall").await;

    // Back to etcd: verified again.
    endpoints_port(&tc, 2379).await;
    let out = promfix(&tc, &["verify", "-n", "monitoring", "--timeout", "90s"]).await;
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    for s in servers {
        s.abort();
    }

    // The operator's Secret references instead of mounted files: the tls-assets files are checked.
    let out = promfix(
        &tc,
        &[
            "etcd",
            "-n",
            "monitoring",
            "--yes",
            "--no-probe",
            "--no-verify",
            "--tls-from",
            "secret",
            "--backup-dir",
            backups.to_str().unwrap(),
            "--ca",
            &cert(&tc, "ca.pem"),
            "--cert",
            &cert(&tc, "node-node1.pem"),
            "--key",
            &cert(&tc, "node-node1-key.pem"),
        ],
    )
    .await;
    assert_eq!(code(&out), 0);
    let out = promfix(
        &tc,
        &[
            "verify",
            "-n",
            "monitoring",
            "-o",
            "json",
            "--timeout",
            "90s",
        ],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    for r in json_reports(&out) {
        let files = r["files"].as_array().unwrap();
        assert_eq!(files.len(), 3, "{r}");
        for f in files {
            assert!(
                f["path"]
                    .as_str()
                    .unwrap()
                    .starts_with("/etc/prometheus/certs/secret_monitoring_etcd-client-cert_"),
                "{f}"
            );
            assert_eq!(f["status"], "ok");
        }
    }
    eprintln!("all causes: {:.1}s", t0.elapsed().as_secs_f64());
}
