//! `kubectl promfix verify` end to end on the seed's cluster (scenario a) on the REAL control
//! plane: the real API server, controllers and operator, real etcd members, the operator's two
//! Prometheus 3 replicas run by the node agent, exec over WebSocket through the API server to the
//! agent's kubelet API, the targets through the real pods/proxy. Before the fix, during its
//! rollout (a stale pod), after it, with a wrong CA, with a client certificate from another CA,
//! with an unselected ServiceMonitor, with an image without a shell, and each way an etcd scrape
//! fails.

mod common_real;

use common_real::*;
use promfix_testcluster::real::{AgentOptions, RealCluster, RealOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const NS: &str = "monitoring";
const PROM: &str = "prom-prometheus-operator-prometheus";
const SM: &str = "prom-prometheus-operator-kube-etcd";
const JOB: &str = "kube-etcd";
const PODS: [&str; 2] = [
    "prometheus-prom-prometheus-operator-prometheus-0",
    "prometheus-prom-prometheus-operator-prometheus-1",
];

/// Scenario a; the agent re-reads Secret volumes every 5 s (the kubelet's `syncFrequency`,
/// 1 min by default), so a patched Secret reaches the pods' files within a step.
async fn start_seed() -> RealCluster {
    start(
        A,
        RealOptions {
            agent: Some(AgentOptions {
                sync_frequency: Duration::from_secs(5),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
}

/// The plugin as the admin, on a blocking thread (servers of the test run meanwhile).
async fn promfix(rc: &RealCluster, cwd: &Path, args: &[&str]) -> Run {
    let kc = rc.kubeconfig().to_path_buf();
    let cwd = cwd.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || plugin_with(&kc, &cwd, None, &args))
        .await
        .expect("the plugin's thread")
}

fn kubectl(rc: &RealCluster, args: &[&str]) -> String {
    rc.cp
        .kubectl_ok(args)
        .unwrap_or_else(|e| panic!("kubectl {}: {e:#}", args.join(" ")))
}

fn cert(rc: &RealCluster, name: &str) -> PathBuf {
    let p = rc
        .etcd_certs_dir
        .clone()
        .expect("scenario a has etcd certificates")
        .join(name);
    assert!(p.is_file(), "{} missing", p.display());
    p
}

fn b64(path: &Path) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).expect("reading a cert"))
}

/// Replace keys of the Secret (kubectl patch, as a user would).
fn patch_secret(rc: &RealCluster, data: &[(&str, &Path)]) {
    let mut m = serde_json::Map::new();
    for (k, p) in data {
        m.insert((*k).to_string(), Value::String(b64(p)));
    }
    let patch = serde_json::json!({ "data": m }).to_string();
    kubectl(
        rc,
        &[
            "-n",
            NS,
            "patch",
            "secret",
            "etcd-client-cert",
            "--type",
            "merge",
            "-p",
            &patch,
        ],
    );
}

fn json_reports(r: &Run) -> Vec<Value> {
    let v: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("-o json is not JSON ({e}):\n{}", r.stdout));
    v.as_array().expect("an array of pods").clone()
}

/// Neither the key's PEM lines nor its base64 (the Secret's form) in the output.
fn no_key_material(r: &Run, rc: &RealCluster) {
    let path = cert(rc, "node-node1-key.pem");
    let key = std::fs::read_to_string(&path).unwrap();
    let all = format!("{}{}", r.stdout, r.stderr);
    for line in key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
    {
        assert!(!all.contains(line), "key material printed");
    }
    assert!(
        !all.contains(&b64(&path)[..40]),
        "base64 key material printed"
    );
}

/// `etcd --yes` with the kubespray files of node1 and `extra`.
fn fix_args<'a>(certs: &'a [String], backups: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["etcd", "-n", NS, "--yes", "--backup-dir", backups];
    a.extend(certs.iter().map(String::as_str));
    a.extend_from_slice(extra);
    a
}

/// The seed's story: fails before the fix (missing files, no targets because the Service keeps
/// its selector), a stale pod during the fix's rollout (`--no-wait` reports it, the default waits
/// for it), passes after it in both replicas, then breaks it three ways and explains each; at
/// the end, an image without a shell gets a clear message instead of the runtime's error alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_tells_the_seeds_story_and_an_image_without_a_shell_gets_a_clear_message() {
    let t0 = Instant::now();
    let rc = start_seed().await;
    let cwd = tempfile::tempdir().unwrap();
    let cwd = cwd.path();
    eprintln!("cluster ready in {:.1}s", t0.elapsed().as_secs_f64());
    // Both replicas run and answer their targets API.
    for p in PODS {
        rc.wait_for(
            "Prometheus answering its targets",
            Duration::from_secs(180),
            || async { Ok(targets(&rc, NS, p, JOB)) },
        )
        .await
        .unwrap();
    }

    // 1. Before any fix.
    let out = promfix(&rc, cwd, &["verify", "-n", NS, "--timeout", "60s"]).await;
    assert_eq!(out.code, 3, "verification fails before the fix");
    let s = &out.stdout;
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
        &rc,
        cwd,
        &["verify", "-n", NS, "-o", "json", "--timeout", "60s"],
    )
    .await;
    assert_eq!(out.code, 3);
    let reports = json_reports(&out);
    assert_eq!(reports.len(), 2, "one entry per pod");
    for r in &reports {
        assert_eq!(r["ok"], false);
        assert!(
            r["files"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["status"] == "missing"),
            "{r}"
        );
        assert!(r["targets"].as_array().unwrap().is_empty(), "{r}");
    }

    // 2. The fix without its verify; right after it the real StatefulSet controller has not
    // rolled both pods (it replaces one at a time, each once the one before is Ready): the pod
    // not yet replaced does not mount the Secret, and `--no-wait` reports it stale. One at a
    // time only while both are available: with the operator's Parallel pod management the
    // controller first deletes every old pod that is not (stateful_set_control.go, "Phase 1"),
    // so the fix starts once the StatefulSet counts both Ready.
    let sts = format!("prometheus-{PROM}");
    rc.wait_for(
        "both Prometheus pods Ready in their StatefulSet",
        Duration::from_secs(120),
        || async {
            let s = get(&rc, &["-n", NS, "statefulset", &sts]);
            Ok(s.filter(|s| s["status"]["availableReplicas"] == 2)
                .map(|_| ()))
        },
    )
    .await
    .unwrap();
    let backups = cwd.join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let certs = rc.kubespray_cert_args();
    let b = backups.display().to_string();
    let out = promfix(&rc, cwd, &fix_args(&certs, &b, &["--no-verify"])).await;
    assert_eq!(out.code, 0, "the fix applies");
    let out = promfix(
        &rc,
        cwd,
        &[
            "verify",
            "-n",
            NS,
            "--no-wait",
            "-o",
            "json",
            "--timeout",
            "20s",
        ],
    )
    .await;
    assert_eq!(out.code, 3, "a stale pod fails with --no-wait");
    let reports = json_reports(&out);
    assert!(
        reports.iter().any(|r| r["stale"]
            .as_str()
            .is_some_and(|s| s.contains("spec.secrets"))),
        "a pod is reported stale: {reports:?}"
    );
    no_key_material(&out, &rc);

    // 3. Without --no-wait: waits for the rollout and the first scrape; both replicas pass.
    let out = promfix(&rc, cwd, &["verify", "-n", NS, "--timeout", "4m"]).await;
    let s = &out.stdout;
    assert_eq!(out.code, 0, "verified after the fix:\n{s}");
    assert_eq!(
        s.matches("ok (sha256 equal to the Secret's)").count(),
        6,
        "{s}"
    );
    assert!(s.contains("verified: 2 pod(s)"), "{s}");
    no_key_material(&out, &rc);
    let out = promfix(
        &rc,
        cwd,
        &["verify", "--prometheus", PROM, "-n", NS, "-o", "json"],
    )
    .await;
    assert_eq!(out.code, 0);
    let reports = json_reports(&out);
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert_eq!(r["ok"], true, "{r}");
        assert!(r.get("stale").is_none(), "{r}");
        let targets = r["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 3, "three members: {r}");
        assert!(targets.iter().all(|t| t["health"] == "up"), "{r}");
    }

    // 4. A wrong CA in the Secret: unknown authority.
    let other = cwd.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let (foreign, foreign_ca) =
        promfix_testcluster::peers::certs::mint_foreign_client(&other, "intruder")
            .expect("minting a foreign client");
    patch_secret(&rc, &[("etcd-ca", &foreign_ca)]);
    let out = promfix(&rc, cwd, &["verify", "-n", NS, "--timeout", "2m"]).await;
    let s = &out.stdout;
    assert_eq!(out.code, 3, "{s}");
    assert!(s.contains("certificate signed by unknown authority"), "{s}");
    assert!(s.contains("wrong CA in the Secret"), "{s}");

    // 5. The right CA, a client certificate from another CA: etcd refuses it.
    patch_secret(
        &rc,
        &[
            ("etcd-ca", &cert(&rc, "ca.pem")),
            ("etcd-client", &foreign.cert),
            ("etcd-client-key", &foreign.key),
        ],
    );
    let out = promfix(&rc, cwd, &["verify", "-n", NS, "--timeout", "2m"]).await;
    let s = &out.stdout;
    assert_eq!(out.code, 3, "{s}");
    assert!(s.contains("remote error: tls: bad certificate"), "{s}");
    assert!(s.contains("refused the client certificate"), "{s}");

    // 6. Good certificates again, but the ServiceMonitor loses the label the Prometheus selects.
    patch_secret(
        &rc,
        &[
            ("etcd-client", &cert(&rc, "node-node1.pem")),
            ("etcd-client-key", &cert(&rc, "node-node1-key.pem")),
        ],
    );
    kubectl(
        &rc,
        &[
            "-n",
            NS,
            "label",
            "servicemonitor",
            SM,
            "release=other",
            "--overwrite",
        ],
    );
    let out = promfix(&rc, cwd, &["verify", "-n", NS, "--timeout", "2m"]).await;
    let s = &out.stdout;
    assert_eq!(out.code, 3, "{s}");
    assert!(s.contains("is not selected by this Prometheus"), "{s}");
    assert!(s.contains("serviceMonitorSelector"), "{s}");

    // 7. Usage and cluster errors exit 1 and 2, as documented.
    let out = promfix(&rc, cwd, &["verify", "-n", NS, "--prometheus", "nope"]).await;
    assert_eq!(out.code, 1);
    let out = promfix(&rc, cwd, &["verify", "--timeout", "5x"]).await;
    assert_eq!(out.code, 2, "usage error");
    let help = output("verify --help", {
        let mut c = std::process::Command::new(BIN);
        c.args(["verify", "--help"]);
        c
    });
    assert!(
        help.stdout.contains("Exit codes:") && help.stdout.contains("3  verification failed"),
        "{}",
        help.stdout
    );
    eprintln!("the story: {:.1}s", t0.elapsed().as_secs_f64());

    // 8. The ServiceMonitor selected again, and the Prometheus on Chainguard's image, which has
    // no shell and no busybox (the node agent's exec finds only the image's binaries there, and
    // fails as containerd does: `exec: "sha256sum": executable file not found in $PATH`).
    kubectl(
        &rc,
        &[
            "-n",
            NS,
            "label",
            "servicemonitor",
            SM,
            "release=prom",
            "--overwrite",
        ],
    );
    const IMAGE: &str = "cgr.dev/chainguard/prometheus:latest";
    kubectl(
        &rc,
        &[
            "-n",
            NS,
            "patch",
            "prometheus",
            PROM,
            "--type",
            "merge",
            "-p",
            &format!(r#"{{"spec":{{"image":"{IMAGE}"}}}}"#),
        ],
    );
    rc.wait_for(
        "both pods on the image without a shell, Ready",
        Duration::from_secs(240),
        || async {
            Ok(PODS
                .iter()
                .all(|p| {
                    get(&rc, &["pod", "-n", NS, p]).is_some_and(|pod| {
                        pod["spec"]["containers"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|c| c["name"] == "prometheus" && c["image"] == IMAGE)
                            && pod["status"]["conditions"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
                })
                .then_some(()))
        },
    )
    .await
    .expect("rolled");
    let out = promfix(
        &rc,
        cwd,
        &["verify", "-n", NS, "-o", "json", "--timeout", "2m"],
    )
    .await;
    assert_eq!(out.code, 3, "{}", out.stdout);
    let reports = json_reports(&out);
    assert_eq!(reports.len(), 2);
    for r in &reports {
        let e = r["files_error"].as_str().unwrap_or("");
        assert!(
            e.contains("has no `sha256sum`") && e.contains("executable file not found"),
            "{r}"
        );
        // The targets API is still read (through pods/proxy, no exec): every member up.
        let notes = r["targets_notes"].to_string();
        assert!(!notes.contains("cannot read the targets"), "{r}");
        let targets = r["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 3, "{r}");
        assert!(targets.iter().all(|t| t["health"] == "up"), "{r}");
    }
    eprintln!("whole test {:.1}s", t0.elapsed().as_secs_f64());
}

/// A TCP server on `addr` inside the cluster's network namespace (the member's address) for the
/// rest of the test: `plain` answers every request with a plain HTTP /metrics page; otherwise it
/// accepts and never answers (a black hole, as a firewall that drops would look after the
/// connect).
fn serve(rc: &RealCluster, addr: std::net::SocketAddr, plain: bool) -> tokio::task::JoinHandle<()> {
    let l = rc
        .cp
        .ns
        .bind_tcp(addr)
        .unwrap_or_else(|e| panic!("binding {addr}: {e:#}"));
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::from_std(l).expect("a tokio listener");
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

/// Verify must fail with this lastError text and explanation on every target of both pods.
async fn fails_with(rc: &RealCluster, cwd: &Path, step: &str, errors: &[&str], explanation: &str) {
    let t = Instant::now();
    let out = promfix(
        rc,
        cwd,
        &["verify", "-n", NS, "-o", "json", "--timeout", "90s"],
    )
    .await;
    assert_eq!(out.code, 3, "{step}");
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
            assert!(
                errors.iter().any(|x| e.contains(x)),
                "{step}: lastError {e:?} lacks {errors:?}"
            );
            let x = t["explanation"].as_str().unwrap_or("");
            assert!(
                x.contains(explanation),
                "{step}: explanation {x:?} lacks {explanation:?}"
            );
        }
    }
    eprintln!("{step}: {:.1}s", t.elapsed().as_secs_f64());
}

fn sm_patch(rc: &RealCluster, patch: &str) {
    kubectl(
        rc,
        &[
            "-n",
            NS,
            "patch",
            "servicemonitor",
            SM,
            "--type",
            "json",
            "-p",
            patch,
        ],
    );
}

/// The port of the fix's hand-written Endpoints (the Service is selector-free after the fix, so
/// no controller writes them; the real EndpointSlice mirroring controller follows), then wait
/// until both replicas scrape it: a verify right away could read the previous step's targets.
async fn endpoints_port(rc: &RealCluster, port: u16) {
    let p = format!(r#"[{{"op":"replace","path":"/subsets/0/ports/0/port","value":{port}}}]"#);
    kubectl(
        rc,
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
    );
    let want = format!(":{port}/");
    for pod in PODS {
        rc.wait_for(
            &format!("{pod} scraping port {port}"),
            Duration::from_secs(90),
            || async {
                let t = targets(rc, NS, pod, JOB).unwrap_or_default();
                Ok((t.len() == 3 && t.iter().all(|x| x.0.contains(&want))).then_some(()))
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e:#}; targets: {:?}", targets(rc, NS, pod, JOB)));
    }
}

/// The other ways an etcd scrape fails, each produced for real against the real etcd members
/// and real Prometheus, with the lastError text Prometheus writes and verify's explanation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_explains_each_way_the_etcd_scrape_fails() {
    let t0 = Instant::now();
    let rc = start_seed().await;
    let cwd = tempfile::tempdir().unwrap();
    let cwd = cwd.path();
    let backups = cwd.join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let certs = rc.kubespray_cert_args();
    let b = backups.display().to_string();
    let out = promfix(
        &rc,
        cwd,
        &fix_args(&certs, &b, &["--no-probe", "--no-verify"]),
    )
    .await;
    assert_eq!(out.code, 0);
    // Scrape often so each step takes seconds, not the default 30s.
    sm_patch(
        &rc,
        r#"[{"op":"add","path":"/spec/endpoints/0/interval","value":"3s"},
            {"op":"add","path":"/spec/endpoints/0/scrapeTimeout","value":"2s"}]"#,
    );
    let out = promfix(&rc, cwd, &["verify", "-n", NS, "--timeout", "4m"]).await;
    assert_eq!(out.code, 0, "fixed: {}", out.stdout);
    eprintln!("fixed and verified: {:.1}s", t0.elapsed().as_secs_f64());

    // etcd's certificate is not valid for the name asked for.
    sm_patch(
        &rc,
        r#"[{"op":"add","path":"/spec/endpoints/0/tlsConfig/serverName","value":"etcd.elsewhere.example"}]"#,
    );
    fails_with(
        &rc,
        cwd,
        "server name",
        &["x509: certificate is valid for"],
        "--server-name",
    )
    .await;
    sm_patch(
        &rc,
        r#"[{"op":"remove","path":"/spec/endpoints/0/tlsConfig/serverName"}]"#,
    );

    // Plain http against etcd's TLS port.
    sm_patch(
        &rc,
        r#"[{"op":"replace","path":"/spec/endpoints/0/scheme","value":"http"}]"#,
    );
    // etcd closes the connection: Prometheus reads EOF, or a reset when the request was still
    // unread (both seen against these members); Go HTTPS servers answer 400 instead.
    fails_with(
        &rc,
        cwd,
        "http to the TLS port",
        &["/metrics\": EOF", "read: connection reset by peer"],
        "scraped with plain http",
    )
    .await;
    sm_patch(
        &rc,
        r#"[{"op":"replace","path":"/spec/endpoints/0/scheme","value":"https"}]"#,
    );

    // Nothing listens on the port.
    endpoints_port(&rc, 2399).await;
    fails_with(
        &rc,
        cwd,
        "refused",
        &["connect: connection refused"],
        "localhost only",
    )
    .await;

    // https against a plain HTTP port, then no answer in time: servers on the members' own
    // addresses, in the cluster's network namespace.
    let members: Vec<std::net::Ipv4Addr> = rc
        .etcd
        .as_ref()
        .expect("etcd members")
        .members
        .iter()
        .map(|m| m.ip)
        .collect();
    assert_eq!(members.len(), 3);
    let mut servers = Vec::new();
    for ip in &members {
        servers.push(serve(&rc, (*ip, 2398).into(), true));
        servers.push(serve(&rc, (*ip, 2397).into(), false));
    }
    endpoints_port(&rc, 2398).await;
    fails_with(
        &rc,
        cwd,
        "https to http",
        &["server gave HTTP response to HTTPS client"],
        "speaks plain HTTP",
    )
    .await;
    endpoints_port(&rc, 2397).await;
    fails_with(
        &rc,
        cwd,
        "timeout",
        &["context deadline exceeded"],
        "firewall",
    )
    .await;

    // Back to etcd: verified again.
    endpoints_port(&rc, 2379).await;
    let out = promfix(&rc, cwd, &["verify", "-n", NS, "--timeout", "90s"]).await;
    assert_eq!(out.code, 0, "{}", out.stdout);
    for s in servers {
        s.abort();
    }

    // The operator's Secret references instead of mounted files: the tls-assets files the real
    // operator writes are checked.
    let out = promfix(
        &rc,
        cwd,
        &fix_args(
            &certs,
            &b,
            &["--no-probe", "--no-verify", "--tls-from", "secret"],
        ),
    )
    .await;
    assert_eq!(out.code, 0);
    let out = promfix(
        &rc,
        cwd,
        &["verify", "-n", NS, "-o", "json", "--timeout", "2m"],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stdout);
    for r in json_reports(&out) {
        let files = r["files"].as_array().unwrap();
        assert_eq!(files.len(), 3, "{r}");
        for f in files {
            assert!(
                f["path"]
                    .as_str()
                    .unwrap()
                    .starts_with("/etc/prometheus/certs/0_monitoring_etcd-client-cert_"),
                "{f}"
            );
            assert_eq!(f["status"], "ok", "{f}");
        }
    }
    eprintln!("all causes: {:.1}s", t0.elapsed().as_secs_f64());
}
