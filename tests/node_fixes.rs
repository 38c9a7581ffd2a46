//! The node-side fixes of issue 5 against the test cluster: `kube-proxy`, `control-plane`,
//! `kubelet`. Each: --dry-run=client writes nothing; the real run changes exactly what it should;
//! a second run writes nothing; rollback restores (where the fix writes to the cluster).

use promfix_testcluster::harness::{Options, TestCluster};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cluster/scenarios")
        .join(name)
}

async fn start(name: &str) -> TestCluster {
    TestCluster::start(&scenario(name), Options::default())
        .await
        .unwrap_or_else(|e| panic!("starting scenario {name}: {e:#}"))
}

/// Run the built plugin with the cluster's kubeconfig.
async fn promfix(tc: &TestCluster, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-promfix"));
    cmd.arg("--kubeconfig").arg(&tc.kubeconfig).args(args);
    cmd.env("NO_COLOR", "1");
    cmd.stdin(std::process::Stdio::null());
    tokio::task::spawn_blocking(move || cmd.output().expect("running kubectl-promfix"))
        .await
        .expect("plugin task")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The writes the plugin made (the request log holds only API requests: the test cluster's
/// controllers write to the store directly).
fn writes(tc: &TestCluster) -> Vec<String> {
    tc.cluster
        .faults
        .log()
        .into_iter()
        .filter(|e| e.is_write)
        .map(|e| format!("{} {} {}", e.method, e.path, e.content_type))
        .collect()
}

fn get(tc: &TestCluster, plural: &str, ns: Option<&str>, name: &str) -> Value {
    let s = &tc.cluster.store;
    s.get(&s.rt(plural), ns, name)
        .unwrap_or_else(|e| panic!("{plural} {name}: {e:?}"))
}

fn list(tc: &TestCluster, plural: &str, ns: Option<&str>) -> Vec<Value> {
    let s = &tc.cluster.store;
    s.list(&s.rt(plural), ns)
        .0
        .into_iter()
        .map(std::sync::Arc::unwrap_or_clone)
        .collect()
}

fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The kube-proxy pods (not being deleted) and their template hashes.
fn proxy_pods(tc: &TestCluster) -> Vec<Value> {
    list(tc, "pods", Some("kube-system"))
        .into_iter()
        .filter(|p| {
            p["metadata"]["labels"]["k8s-app"] == "kube-proxy"
                && p["metadata"]["deletionTimestamp"].is_null()
        })
        .collect()
}

async fn rolled_out(tc: &TestCluster, generation: i64) {
    tc.wait_for(
        "the kube-proxy DaemonSet rollout",
        Duration::from_secs(60),
        |s| {
            let ds = s
                .get(&s.rt("daemonsets"), Some("kube-system"), "kube-proxy")
                .ok()?;
            let st = &ds["status"];
            (ds["metadata"]["generation"] == generation
                && st["observedGeneration"] == generation
                && st["desiredNumberScheduled"] == 3
                && st["updatedNumberScheduled"] == 3
                && st["numberAvailable"] == 3)
                .then_some(())
        },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_proxy_fix_dry_run_apply_idempotent_rollback() {
    let tc = start("f-kube-proxy.yaml").await;
    rolled_out(&tc, 1).await;
    tc.wait_prometheus_ready(Duration::from_secs(90))
        .await
        .expect("Prometheus ready");
    let net = tc.net();
    wait_targets(&tc, "kube-proxy", "refused on every node", |u, e, _| {
        u.starts_with(&format!("http://127.{net}.2.1")) && e.contains("connection refused")
    })
    .await;
    let row = wait_doctor_row(&tc, "kube-proxy", "problem").await;
    assert!(
        row.to_string().contains("metricsBindAddress"),
        "doctor names metricsBindAddress: {row:#}"
    );
    let cm0 = get(&tc, "configmaps", Some("kube-system"), "kube-proxy");
    let conf0 = cm0["data"]["config.conf"].as_str().unwrap().to_string();
    let pods0 = proxy_pods(&tc);
    assert_eq!(pods0.len(), 3);
    let hash0 = pods0[0]["metadata"]["labels"]["controller-revision-hash"].clone();
    let backup_dir = tempfile::tempdir().unwrap();
    let bdir = backup_dir.path().to_str().unwrap();

    // dry run: the plan, the objects, no write
    tc.cluster.faults.clear_log();
    let out = ok(&promfix(&tc, &["kube-proxy", "--dry-run=client", "-o", "yaml"]).await);
    assert!(out.contains("metricsBindAddress: 0.0.0.0:10249"), "{out}");
    assert!(out.contains("kubectl.kubernetes.io/restartedAt"), "{out}");
    assert_eq!(writes(&tc), Vec::<String>::new());
    assert_eq!(
        get(&tc, "configmaps", Some("kube-system"), "kube-proxy")["metadata"]["resourceVersion"],
        cm0["metadata"]["resourceVersion"]
    );

    // without --yes and without a terminal: exit 4, nothing written
    let o = promfix(&tc, &["kube-proxy", "--backup-dir", bdir]).await;
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert_eq!(writes(&tc), Vec::<String>::new());

    // the real run
    let o = promfix(
        &tc,
        &[
            "kube-proxy",
            "--yes",
            "--backup-dir",
            bdir,
            "--timeout",
            "60s",
        ],
    )
    .await;
    ok(&o);
    let w = writes(&tc);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].starts_with("PATCH /api/v1/namespaces/kube-system/configmaps/kube-proxy application/merge-patch+json"),
        "{w:?}"
    );
    assert!(
        w[1].starts_with("PATCH /apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy application/strategic-merge-patch+json"),
        "{w:?}"
    );
    let cm1 = get(&tc, "configmaps", Some("kube-system"), "kube-proxy");
    let conf1 = cm1["data"]["config.conf"].as_str().unwrap();
    let changed: Vec<(String, String)> = conf0
        .lines()
        .zip(conf1.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(conf0.lines().count(), conf1.lines().count());
    assert_eq!(
        changed,
        // (the scenario's 127.0.0.1 is this cluster's 127.NET.0.1)
        vec![(
            format!("metricsBindAddress: 127.{}.0.1:10249", tc.net()),
            "metricsBindAddress: 0.0.0.0:10249".to_string()
        )]
    );
    assert_eq!(
        cm1["data"]["kubeconfig.conf"],
        cm0["data"]["kubeconfig.conf"]
    );
    // the rollout finished before the command returned
    let ds = get(&tc, "daemonsets", Some("kube-system"), "kube-proxy");
    assert!(
        ds["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .as_str()
            .is_some_and(|t| t.len() == 20 && t.ends_with('Z')),
        "{ds}"
    );
    assert_eq!(ds["status"]["observedGeneration"], 2);
    assert_eq!(ds["status"]["updatedNumberScheduled"], 3);
    assert_eq!(ds["status"]["numberAvailable"], 3);
    let pods1 = proxy_pods(&tc);
    assert_eq!(pods1.len(), 3);
    for p in &pods1 {
        assert_ne!(p["metadata"]["labels"]["controller-revision-hash"], hash0);
        assert_eq!(p["metadata"]["labels"]["pod-template-generation"], "2");
        assert!(
            !pods0
                .iter()
                .any(|q| q["metadata"]["name"] == p["metadata"]["name"])
        );
    }
    let b = backups(backup_dir.path());
    assert_eq!(b.len(), 1, "{b:?}");
    // The new pods serve /metrics on their node IPs: the targets come up, doctor is satisfied.
    wait_targets(&tc, "kube-proxy", "up on every node", |u, _, h| {
        u.starts_with(&format!("http://127.{net}.2.1")) && h == "up"
    })
    .await;
    let row = wait_doctor_row(&tc, "kube-proxy", "ok").await;
    assert_eq!(
        (&row["up"], &row["total"]),
        (&3.into(), &3.into()),
        "{row:#}"
    );

    // a second run: nothing to write
    tc.cluster.faults.clear_log();
    ok(&promfix(&tc, &["kube-proxy", "--yes", "--backup-dir", bdir]).await);
    assert_eq!(writes(&tc), Vec::<String>::new());
    assert_eq!(backups(backup_dir.path()).len(), 1);

    // rollback: the config as it was, and the pods rolled again. The ConfigMap is restored
    // before the DaemonSet, so the pods the restore rolls read the restored config; and the
    // rollback writes its own backup first.
    tc.cluster.faults.clear_log();
    let o = promfix(
        &tc,
        &[
            "rollback",
            b[0].to_str().unwrap(),
            "--yes",
            "--backup-dir",
            bdir,
        ],
    )
    .await;
    ok(&o);
    let w = writes(&tc);
    let cm_at = w.iter().position(|l| l.contains("/configmaps/kube-proxy"));
    let ds_at = w.iter().position(|l| l.contains("/daemonsets/kube-proxy"));
    assert!(
        matches!((cm_at, ds_at), (Some(c), Some(d)) if c < d),
        "the ConfigMap before the DaemonSet: {w:?}"
    );
    let after_rollback = backups(backup_dir.path());
    assert_eq!(after_rollback.len(), 2, "{after_rollback:?}");
    let own = after_rollback
        .iter()
        .find(|p| p.to_string_lossy().contains("promfix-backup-rollback-"))
        .unwrap_or_else(|| panic!("the rollback's own backup: {after_rollback:?}"));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("backup: {}", own.display())),
        "{}",
        text(&o)
    );
    let cm2 = get(&tc, "configmaps", Some("kube-system"), "kube-proxy");
    assert_eq!(cm2["data"]["config.conf"].as_str().unwrap(), conf0);
    let ds = get(&tc, "daemonsets", Some("kube-system"), "kube-proxy");
    assert!(
        ds["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_null(),
        "{ds}"
    );
    rolled_out(&tc, 3).await;
}

/// Wait until the pool's targets all satisfy `f` (scrapeUrl, lastError, health).
async fn wait_targets(
    tc: &TestCluster,
    pool: &str,
    what: &str,
    f: impl Fn(&str, &str, &str) -> bool,
) {
    const POD: &str = "prometheus-prometheus-kube-prometheus-prometheus-0";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    let mut last = None;
    loop {
        if let Some(t) = tc.active_targets("monitoring", POD, pool).await {
            if !t.is_empty()
                && t.iter().all(|t| {
                    f(
                        t["scrapeUrl"].as_str().unwrap_or(""),
                        t["lastError"].as_str().unwrap_or(""),
                        t["health"].as_str().unwrap_or(""),
                    )
                })
            {
                return;
            }
            last = Some(t);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for the {pool} targets: {what}; last seen: {last:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Run `doctor -o json` until `component`'s row has status `want` (Prometheus scrapes every 5
/// s: a changed target shows within a few scrapes); the row.
async fn wait_doctor_row(tc: &TestCluster, component: &str, want: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let o = promfix(tc, &["doctor", "-o", "json"]).await;
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("doctor -o json is not JSON ({e}): {}", text(&o)));
        let row = v["clusters"][0]["rows"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["component"] == component))
            .cloned()
            .unwrap_or_else(|| panic!("no {component} row: {v:#}"));
        if row["status"] == want {
            return row;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for doctor's {component} row to be {want}; last: {row:#}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_fix_moves_the_scrapes_to_the_secure_ports() {
    let tc = start("f-control-plane.yaml").await;
    let net = tc.net();
    tc.wait_prometheus_ready(Duration::from_secs(90))
        .await
        .expect("Prometheus ready");
    // Before: the insecure ports, refused.
    for (pool, port) in [
        ("kube-scheduler", 10251),
        ("kube-controller-manager", 10252),
    ] {
        let url = format!("http://127.{net}.2.11:{port}/metrics");
        wait_targets(
            &tc,
            pool,
            "scraped on the insecure port and refused",
            |u, e, _| u == url && e.contains("connection refused"),
        )
        .await;
    }
    let svc = |c: &str| {
        get(
            &tc,
            "services",
            Some("kube-system"),
            &format!("prometheus-kube-prometheus-{c}"),
        )
    };
    let sm = |c: &str| {
        get(
            &tc,
            "servicemonitors",
            Some("monitoring"),
            &format!("prometheus-kube-prometheus-{c}"),
        )
    };
    let before = [
        svc("kube-scheduler"),
        sm("kube-scheduler"),
        svc("kube-controller-manager"),
        sm("kube-controller-manager"),
    ];
    let backup_dir = tempfile::tempdir().unwrap();
    let bdir = backup_dir.path().to_str().unwrap();

    tc.cluster.faults.clear_log();
    let o = promfix(&tc, &["control-plane", "--dry-run=client", "-o", "json"]).await;
    let out = ok(&o);
    assert!(out.contains("\"scheme\": \"https\""), "{out}");
    // stdout is the one JSON document (the planned objects); the node-side edit, which is
    // not an object, goes to stderr.
    serde_json::from_str::<serde_json::Value>(&out).expect("one JSON document on stdout");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/etc/kubernetes/manifests/kube-scheduler.yaml"),
        "{err}"
    );
    assert_eq!(writes(&tc), Vec::<String>::new());

    let o = promfix(&tc, &["control-plane", "--yes", "--backup-dir", bdir]).await;
    let out = ok(&o);
    let w = writes(&tc);
    assert_eq!(w.len(), 4, "{w:?}");
    assert!(
        w.iter()
            .all(|w| w.starts_with("PATCH ") && w.ends_with("application/merge-patch+json")),
        "{w:?}"
    );
    assert!(
        out.contains("node node1: /etc/kubernetes/manifests/kube-controller-manager.yaml"),
        "{out}"
    );
    assert!(
        out.contains(&format!("- - --bind-address=127.{net}.0.1")),
        "{out}"
    );
    assert!(out.contains("+ - --bind-address=0.0.0.0"), "{out}");
    for (c, port) in [
        ("kube-scheduler", 10259),
        ("kube-controller-manager", 10257),
    ] {
        let s = svc(c);
        assert_eq!(
            s["spec"]["ports"],
            serde_json::json!([{"name": "http-metrics", "port": port, "protocol": "TCP", "targetPort": port}])
        );
        assert_eq!(s["spec"]["selector"]["component"], c);
        let m = sm(c);
        assert_eq!(
            m["spec"]["endpoints"],
            serde_json::json!([{"bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
                                "port": "http-metrics", "scheme": "https", "tlsConfig": {"insecureSkipVerify": true}}])
        );
    }
    // After: Prometheus scrapes the secure ports, which are bound to 127.0.0.1 on the node:
    // still refused, and doctor says where the rest of the fix lives.
    for (pool, port) in [
        ("kube-scheduler", 10259),
        ("kube-controller-manager", 10257),
    ] {
        let url = format!("https://127.{net}.2.11:{port}/metrics");
        wait_targets(
            &tc,
            pool,
            "scraped on the secure port, bound to loopback",
            |u, e, _| u == url && e.contains("connection refused"),
        )
        .await;
    }
    let row = wait_doctor_row(&tc, "kube-scheduler", "problem").await;
    assert!(
        row.to_string().contains("bind-address"),
        "doctor names the bind address: {row:#}"
    );
    // The node-side edit the fix printed, made as an operator makes it: in the static pod
    // manifests on node1 (the kubelet replaces the pods).
    for c in ["kube-scheduler", "kube-controller-manager"] {
        let path = tc.static_pod_manifest("node1", c);
        let m =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let from = format!("--bind-address=127.{net}.0.1");
        assert!(m.contains(&from), "{m}");
        std::fs::write(&path, m.replace(&from, "--bind-address=0.0.0.0")).unwrap();
    }
    for (pool, port) in [
        ("kube-scheduler", 10259),
        ("kube-controller-manager", 10257),
    ] {
        let url = format!("https://127.{net}.2.11:{port}/metrics");
        wait_targets(&tc, pool, "up on the secure port", |u, _, h| {
            u == url && h == "up"
        })
        .await;
    }
    for c in ["kube-scheduler", "kube-controller-manager"] {
        let row = wait_doctor_row(&tc, c, "ok").await;
        assert_eq!(
            (&row["up"], &row["total"]),
            (&1.into(), &1.into()),
            "{row:#}"
        );
    }

    tc.cluster.faults.clear_log();
    ok(&promfix(&tc, &["control-plane", "--yes", "--backup-dir", bdir]).await);
    assert_eq!(writes(&tc), Vec::<String>::new());

    let b = backups(backup_dir.path());
    assert_eq!(b.len(), 1, "{b:?}");
    ok(&promfix(
        &tc,
        &[
            "rollback",
            b[0].to_str().unwrap(),
            "--yes",
            "--backup-dir",
            bdir,
        ],
    )
    .await);
    let after = [
        svc("kube-scheduler"),
        sm("kube-scheduler"),
        svc("kube-controller-manager"),
        sm("kube-controller-manager"),
    ];
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a["spec"], b["spec"]);
    }
}

/// kubeadm v1.33's /var/lib/kubelet/config.yaml (cmd/kubeadm/app/componentconfigs/kubelet.go
/// defaults, as `kubeadm init` writes it), with token webhook authentication turned off.
const KUBELET_CONFIG: &str = "apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: true
  webhook:
    cacheTTL: 0s
    enabled: false
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
  webhook:
    cacheAuthorizedTTL: 0s
    cacheUnauthorizedTTL: 0s
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
containerRuntimeEndpoint: \"\"
cpuManagerReconcilePeriod: 0s
healthzBindAddress: 127.0.0.1
healthzPort: 10248
kind: KubeletConfiguration
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
";

/// kubeadm v1.33's drop-in.
const DROPIN_NOW: &str = "# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"
Environment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
";

/// The seed's drop-in (kubeadm 1.9/1.10: flags only, no config file, cadvisor port disabled).
const DROPIN_SEED: &str = "[Service]
Environment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"
Environment=\"KUBELET_SYSTEM_PODS_ARGS=--pod-manifest-path=/etc/kubernetes/manifests --allow-privileged=true\"
Environment=\"KUBELET_NETWORK_ARGS=--network-plugin=cni --cni-conf-dir=/etc/cni/net.d --cni-bin-dir=/opt/cni/bin\"
Environment=\"KUBELET_DNS_ARGS=--cluster-dns=10.96.0.10 --cluster-domain=cluster.local\"
Environment=\"KUBELET_AUTHZ_ARGS=--authorization-mode=Webhook --client-ca-file=/etc/kubernetes/pki/ca.crt\"
Environment=\"KUBELET_CADVISOR_ARGS=--cadvisor-port=0\"
Environment=\"KUBELET_CERTIFICATE_ARGS=--rotate-certificates=true --cert-dir=/var/lib/kubelet/pki\"
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_SYSTEM_PODS_ARGS $KUBELET_NETWORK_ARGS $KUBELET_DNS_ARGS $KUBELET_AUTHZ_ARGS $KUBELET_CADVISOR_ARGS $KUBELET_CERTIFICATE_ARGS $KUBELET_EXTRA_ARGS
";

/// A node's files in a temp dir, and a fake systemctl logging its calls.
struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn new(config: Option<&str>, dropin: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        if let Some(c) = config {
            std::fs::write(dir.path().join("config.yaml"), c).unwrap();
        }
        std::fs::write(dir.path().join("10-kubeadm.conf"), dropin).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let fake = bin.join("systemctl");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\necho \"$*\" >> {}\n",
                dir.path().join("systemctl.log").display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        Node { dir }
    }

    fn read(&self, f: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join(f)).ok()
    }

    /// Run the script with `sh` (Debian's dash: POSIX) against this node's files.
    fn run(&self, script: &Path) -> String {
        let d = self.dir.path();
        let out = std::process::Command::new("sh")
            .arg(script)
            .env("KUBELET_CONFIG", d.join("config.yaml"))
            .env("KUBELET_DROPIN", d.join("10-kubeadm.conf"))
            .env("KUBELET_FLAGS_ENV", d.join("kubeadm-flags.env"))
            .env("KUBELET_DEFAULTS", d.join("default-kubelet"))
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    d.join("bin").display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .output()
            .expect("running sh (Debian package dash)");
        assert!(
            out.status.success(),
            "script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn yaml(s: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubelet_fix_reports_the_seed_workers_and_its_script_works() {
    let tc = start("f-kubelet.yaml").await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("fix-kubelet.sh");

    tc.cluster.faults.clear_log();
    let out = ok(&promfix(
        &tc,
        &[
            "kubelet",
            "-o",
            "json",
            "--script",
            script.to_str().unwrap(),
        ],
    )
    .await);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        v["affected"],
        serde_json::json!(["node2", "node3"]),
        "{v:#}"
    );
    assert_eq!(v["nodes"][0]["webhookAuthentication"], true);
    assert_eq!(v["nodes"][1]["webhookAuthentication"], false);
    assert!(v["nodes"][1]["reason"].as_str().unwrap().contains("403"));
    assert_eq!(writes(&tc), Vec::<String>::new());
    let configz_reads = tc
        .cluster
        .faults
        .log()
        .iter()
        .filter(|e| e.path.ends_with("/proxy/configz"))
        .count();
    assert_eq!(configz_reads, 3);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&script).unwrap().permissions().mode() & 0o777,
        0o755
    );
    // Through kubectl's plugin mechanism too.
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_kubectl-promfix"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut cmd = tc.kubectl();
    cmd.args(["promfix", "kubelet", "-o", "json"]).env(
        "PATH",
        format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    );
    let o = tokio::task::spawn_blocking(move || cmd.output().expect("kubectl"))
        .await
        .unwrap();
    let via_kubectl: Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(via_kubectl["affected"], v["affected"]);
    let text = ok(&promfix(&tc, &["kubelet"]).await);
    assert!(text.contains("AFFECTED"), "{text}");
    assert!(text.contains("node2, node3"), "{text}");

    // A kubeadm node: the config file changes in that one field, the drop-in stays.
    let n = Node::new(Some(KUBELET_CONFIG), DROPIN_NOW);
    let first = n.run(&script);
    assert!(first.contains("kubelet restarted"), "{first}");
    let cfg = n.read("config.yaml").unwrap();
    let mut want = yaml(KUBELET_CONFIG);
    want["authentication"]["webhook"]["enabled"] = serde_yaml_ng::Value::Bool(true);
    assert_eq!(yaml(&cfg), want);
    let diff: Vec<(&str, &str)> = KUBELET_CONFIG
        .lines()
        .zip(cfg.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(diff, vec![("    enabled: false", "    enabled: true")]);
    assert_eq!(n.read("10-kubeadm.conf").unwrap(), DROPIN_NOW);
    assert_eq!(n.read("config.yaml.promfix.bak").unwrap(), KUBELET_CONFIG);
    assert_eq!(
        n.read("systemctl.log").unwrap(),
        "daemon-reload\nrestart kubelet\n"
    );
    // idempotent: nothing changes, no restart
    let second = n.run(&script);
    assert!(second.contains("nothing to change"), "{second}");
    assert_eq!(n.read("config.yaml").unwrap(), cfg);
    assert_eq!(
        n.read("systemctl.log").unwrap(),
        "daemon-reload\nrestart kubelet\n"
    );

    // A config without the webhook block gets one.
    let no_webhook =
        KUBELET_CONFIG.replace("  webhook:\n    cacheTTL: 0s\n    enabled: false\n", "");
    let n = Node::new(Some(&no_webhook), DROPIN_NOW);
    n.run(&script);
    let cfg = n.read("config.yaml").unwrap();
    let mut want = yaml(&no_webhook);
    want["authentication"]["webhook"] = yaml("enabled: true");
    assert_eq!(yaml(&cfg), want, "{cfg}");

    // The seed's node: flags only; the flag joins --authorization-mode=Webhook, cadvisor goes.
    let n = Node::new(None, DROPIN_SEED);
    n.run(&script);
    let d = n.read("10-kubeadm.conf").unwrap();
    assert!(d.contains("Environment=\"KUBELET_AUTHZ_ARGS=--authentication-token-webhook=true --authorization-mode=Webhook --client-ca-file=/etc/kubernetes/pki/ca.crt\""), "{d}");
    assert!(
        d.contains("Environment=\"KUBELET_CADVISOR_ARGS=\"\n"),
        "{d}"
    );
    assert!(!d.contains("cadvisor-port"), "{d}");
    assert_eq!(d.lines().count(), DROPIN_SEED.lines().count());
    assert!(n.read("config.yaml").is_none());
    let again = n.run(&script);
    assert!(again.contains("nothing to change"), "{again}");
    assert_eq!(n.read("10-kubeadm.conf").unwrap(), d);
    assert_eq!(
        n.read("systemctl.log").unwrap(),
        "daemon-reload\nrestart kubelet\n"
    );

    // An explicit --authentication-token-webhook=false flag in kubeadm-flags.env wins over the file.
    let n = Node::new(Some(KUBELET_CONFIG), DROPIN_NOW);
    std::fs::write(
        n.dir.path().join("kubeadm-flags.env"),
        "KUBELET_KUBEADM_ARGS=\"--authentication-token-webhook=false --pod-infra-container-image=registry.k8s.io/pause:3.10\"\n",
    )
    .unwrap();
    n.run(&script);
    assert_eq!(
        n.read("kubeadm-flags.env").unwrap(),
        "KUBELET_KUBEADM_ARGS=\"--authentication-token-webhook=true --pod-infra-container-image=registry.k8s.io/pause:3.10\"\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_proxy_fix_server_dry_run_and_a_conflict_re_plans() {
    use promfix_testcluster::faults::FaultKind;
    let tc = start("f-kube-proxy.yaml").await;
    rolled_out(&tc, 1).await;
    let cm0 = get(&tc, "configmaps", Some("kube-system"), "kube-proxy");
    let backup_dir = tempfile::tempdir().unwrap();
    let bdir = backup_dir.path().to_str().unwrap();

    // --dry-run=server: both writes sent with dryRun=All, nothing stored, no wait, no backup.
    tc.cluster.faults.clear_log();
    ok(&promfix(
        &tc,
        &[
            "kube-proxy",
            "--dry-run=server",
            "--yes",
            "--backup-dir",
            bdir,
        ],
    )
    .await);
    let w: Vec<_> = tc
        .cluster
        .faults
        .log()
        .into_iter()
        .filter(|e| e.is_write)
        .collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w.iter()
            .all(|e| e.query.contains("dryRun=All") && e.status == 200),
        "{w:?}"
    );
    let cm = get(&tc, "configmaps", Some("kube-system"), "kube-proxy");
    assert_eq!(
        cm["metadata"]["resourceVersion"],
        cm0["metadata"]["resourceVersion"]
    );
    assert_eq!(
        get(&tc, "daemonsets", Some("kube-system"), "kube-proxy")["metadata"]["generation"],
        1
    );
    assert!(backups(backup_dir.path()).is_empty());

    // A 409 on the ConfigMap: read again, plan again, finish.
    tc.cluster.faults.clear_log();
    tc.cluster
        .faults
        .fail_next_writes(Some("configmaps"), 1, FaultKind::Conflict);
    let o = promfix(
        &tc,
        &[
            "kube-proxy",
            "--yes",
            "--backup-dir",
            bdir,
            "--timeout",
            "60s",
        ],
    )
    .await;
    ok(&o);
    let w: Vec<(String, u16)> = tc
        .cluster
        .faults
        .log()
        .into_iter()
        .filter(|e| e.is_write)
        .map(|e| (e.path, e.status))
        .collect();
    assert_eq!(
        w,
        vec![
            (
                "/api/v1/namespaces/kube-system/configmaps/kube-proxy".to_string(),
                409
            ),
            (
                "/api/v1/namespaces/kube-system/configmaps/kube-proxy".to_string(),
                200
            ),
            (
                "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy".to_string(),
                200
            ),
        ]
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("409"),
        "{}",
        text(&o)
    );
    rolled_out(&tc, 2).await;

    // Real kubectl agrees: the rollout is done, and its own restart is the same kind of write.
    let kubectl = |args: &'static [&'static str]| {
        let mut c = tc.kubectl();
        c.args(args);
        async move {
            tokio::task::spawn_blocking(move || c.output().expect("kubectl (Debian/peer kubectl)"))
                .await
                .unwrap()
        }
    };
    let st = kubectl(&[
        "-n",
        "kube-system",
        "rollout",
        "status",
        "daemonset/kube-proxy",
        "--timeout=30s",
    ])
    .await;
    let out = ok(&st);
    assert!(
        out.contains("daemon set \"kube-proxy\" successfully rolled out"),
        "{out}"
    );
    tc.cluster.faults.clear_log();
    // kubectl refuses a restart within the same second as the last one (its restartedAt
    // annotation has second resolution), and promfix's restart may have been just now.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    ok(&kubectl(&[
        "-n",
        "kube-system",
        "rollout",
        "restart",
        "daemonset/kube-proxy",
    ])
    .await);
    let w = writes(&tc);
    assert_eq!(
        w,
        vec!["PATCH /apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy application/strategic-merge-patch+json".to_string()]
    );
    rolled_out(&tc, 3).await;
}
