//! What the plugin writes when others write too, on the REAL control plane (scenario a: the
//! seed's kubespray cluster with the stable/prometheus-operator chart), issue 13 items 11-12:
//!
//! - rollback restores only the fields the backed-up run changed: a `helm upgrade`'s change made
//!   since (the Prometheus' image) stays; a field the run wrote that someone changed since (the
//!   ServiceMonitor's TLS settings) stops the rollback, nothing written, until `--force`;
//! - a round re-planned after a 409 that differs from the confirmed plan is not written under
//!   `--yes`; a 409 whose re-plan is the same converges silently.

mod common_real;

use common_real::*;
use promfix_testcluster::faults::FaultKind;
use promfix_testcluster::real::{RealCluster, RealOptions};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NS: &str = "monitoring";
const PROMETHEUS: &str = "prom-prometheus-operator-prometheus";
const SERVICE: &str = "prom-prometheus-operator-kube-etcd";

/// `etcd` with the first node's kubespray files, `--yes --no-verify`.
fn fix_args(rc: &RealCluster) -> Vec<String> {
    let mut v = vec!["etcd".to_string()];
    v.extend(rc.kubespray_cert_args());
    v.extend(["--yes".into(), "--no-verify".into()]);
    v
}

/// The one backup file a `command` run wrote into `dir`.
fn backup_file(dir: &Path, command: &str) -> String {
    let found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("promfix-backup-{command}-"))
        })
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].display().to_string()
}

fn prometheus(rc: &RealCluster) -> Value {
    get(rc, &["prometheus", "-n", NS, PROMETHEUS]).unwrap()
}

fn service_monitor(rc: &RealCluster) -> Value {
    get(rc, &["servicemonitor", "-n", NS, SERVICE]).unwrap()
}

fn service(rc: &RealCluster) -> Value {
    get(rc, &["service", "-n", "kube-system", SERVICE]).unwrap()
}

/// A merge patch as someone else (kubectl, straight to the API server) sends it.
fn kubectl_patch(rc: &RealCluster, what: &[&str], patch: &str) {
    let mut a = vec!["patch"];
    a.extend_from_slice(what);
    a.extend_from_slice(&["--type", "merge", "-p", patch]);
    rc.cp.kubectl_ok(&a).unwrap();
}

fn secrets_of(p: &Value) -> Vec<String> {
    p["spec"]["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

fn writes(rc: &RealCluster) -> Vec<promfix_testcluster::faults::LogEntry> {
    rc.faults()
        .log()
        .into_iter()
        .filter(|e| e.is_write)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_undoes_only_the_fix_and_stops_where_someone_changed_what_it_wrote() {
    let rc = start(A, RealOptions::default()).await;
    let fix = fix_args(&rc);
    let args: Vec<&str> = fix.iter().map(String::as_str).collect();
    let kc = rc.proxy_kubeconfig.clone();
    let sm_before = service_monitor(&rc);
    let svc_before = service(&rc);
    let image_before = prometheus(&rc)["spec"]["image"].clone();

    // 1. The fix, then a `helm upgrade` that moves the Prometheus' image (a field the fix did
    // not touch). The rollback undoes the fix and keeps the image.
    let first = tempfile::tempdir().unwrap();
    let run = plugin_with(&kc, first.path(), None, &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(secrets_of(&prometheus(&rc)).contains(&"etcd-client-cert".to_string()));
    let image = "quay.io/prometheus/prometheus:v2.99.0";
    kubectl_patch(
        &rc,
        &["prometheus", "-n", NS, PROMETHEUS],
        &format!(r#"{{"spec":{{"image":"{image}"}}}}"#),
    );
    let backup = backup_file(first.path(), "etcd");
    let rolled = plugin_with(&kc, first.path(), None, &["rollback", &backup, "--yes"]);
    assert_eq!(rolled.code, 0, "{}\n{}", rolled.stdout, rolled.stderr);
    assert!(
        !rolled.stdout.contains("whole objects"),
        "a new backup restores fields: {}",
        rolled.stdout
    );
    let p = prometheus(&rc);
    assert_eq!(p["spec"]["image"], image, "the helm upgrade's image stays");
    assert_ne!(p["spec"]["image"], image_before);
    assert!(
        !secrets_of(&p).contains(&"etcd-client-cert".to_string()),
        "the fix is undone: {}",
        p["spec"]
    );
    assert_eq!(
        service_monitor(&rc)["spec"]["endpoints"],
        sm_before["spec"]["endpoints"]
    );
    assert_eq!(
        service(&rc)["spec"]["selector"],
        svc_before["spec"]["selector"]
    );

    // 2. The fix again, then someone changes a field it wrote: the ServiceMonitor's TLS
    // settings. The rollback names it and stops, writing nothing.
    let second = tempfile::tempdir().unwrap();
    let run = plugin_with(&kc, second.path(), None, &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let mut endpoints = service_monitor(&rc)["spec"]["endpoints"].clone();
    assert_eq!(endpoints[0]["scheme"], "https", "{endpoints}");
    endpoints[0]["tlsConfig"]["serverName"] = "etcd.example.internal".into();
    let patch = serde_json::json!({"spec": {"endpoints": endpoints}}).to_string();
    kubectl_patch(&rc, &["servicemonitor", "-n", NS, SERVICE], &patch);
    let backup = backup_file(second.path(), "etcd");
    rc.faults().clear_log();
    let refused = plugin_with(&kc, second.path(), None, &["rollback", &backup, "--yes"]);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains(&format!(
            "ServiceMonitor {NS}/{SERVICE}: spec.endpoints: the run wrote"
        )),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("etcd.example.internal"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert!(writes(&rc).is_empty(), "{:#?}", writes(&rc));
    assert!(
        !second.path().read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("rollback")),
        "no rollback backup either"
    );
    assert!(secrets_of(&prometheus(&rc)).contains(&"etcd-client-cert".to_string()));
    assert!(service(&rc)["spec"].get("selector").is_none());

    // --force restores them anyway, that field included.
    let forced = plugin_with(
        &kc,
        second.path(),
        None,
        &["rollback", &backup, "--yes", "--force"],
    );
    assert_eq!(forced.code, 0, "{}\n{}", forced.stdout, forced.stderr);
    assert!(
        forced.stdout.contains("--force: restored although changed"),
        "{}",
        forced.stdout
    );
    assert_eq!(
        service_monitor(&rc)["spec"]["endpoints"],
        sm_before["spec"]["endpoints"]
    );
    assert!(!secrets_of(&prometheus(&rc)).contains(&"etcd-client-cert".to_string()));
    assert_eq!(
        service(&rc)["spec"]["selector"],
        svc_before["spec"]["selector"]
    );
    assert_eq!(prometheus(&rc)["spec"]["image"], image);
}

/// Wait (at most `timeout`) until the proxy has answered a write.
async fn first_write(rc: &RealCluster, timeout: Duration) {
    let t = Instant::now();
    while writes(rc).is_empty() {
        assert!(t.elapsed() < timeout, "no write within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replan_after_a_409_is_written_only_when_it_is_what_was_confirmed() {
    let rc = start(A, RealOptions::default()).await;
    let fix = fix_args(&rc);
    let args: Vec<&str> = fix.iter().map(String::as_str).collect();
    let kc = rc.proxy_kubeconfig.clone();

    // An injected 409 on the ServiceMonitor: read again, the plan is the one confirmed (--yes),
    // written without a word.
    let cwd = tempfile::tempdir().unwrap();
    rc.faults()
        .fail_next_writes(Some("servicemonitors"), 1, FaultKind::Conflict);
    let run = plugin_with(&kc, cwd.path(), None, &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        rc.faults()
            .log()
            .iter()
            .any(|e| e.status == 409 && e.path.contains("/servicemonitors/")),
        "{:#?}",
        rc.faults().log()
    );
    assert!(
        !run.stderr.contains("The cluster changed"),
        "{}",
        run.stderr
    );
    assert_eq!(
        service_monitor(&rc)["spec"]["endpoints"][0]["scheme"],
        "https"
    );
    let backup = backup_file(cwd.path(), "etcd");
    let rolled = plugin_with(&kc, cwd.path(), None, &["rollback", &backup, "--yes"]);
    assert_eq!(rolled.code, 0, "{}\n{}", rolled.stdout, rolled.stderr);

    // Someone edits the ServiceMonitor between the plugin's read and its write (every request
    // through the proxy is slowed down; the edit goes straight to the API server once the first
    // write is answered, before the second wave's). The real API server refuses the plugin's
    // patch (409, its resourceVersion is stale); read again, the patch carries their interval:
    // not the confirmed plan, so --yes does not write it.
    let sm = service_monitor(&rc);
    assert_ne!(sm["spec"]["endpoints"][0]["interval"], "17s");
    let cwd = tempfile::tempdir().unwrap();
    rc.faults().clear_log();
    rc.faults().set_latency(Duration::from_secs(2));
    let mut cmd = command(&kc, None);
    cmd.args(&args).current_dir(cwd.path());
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
    first_write(&rc, Duration::from_secs(180)).await;
    let mut endpoints = sm["spec"]["endpoints"].clone();
    endpoints[0]["interval"] = "17s".into();
    let patch = serde_json::json!({"spec": {"endpoints": endpoints}}).to_string();
    kubectl_patch(&rc, &["servicemonitor", "-n", NS, SERVICE], &patch);
    let out = waiting.await.unwrap().unwrap();
    rc.faults().set_latency(Duration::ZERO);
    let run = finish(&format!("kubectl-promfix {}", args.join(" ")), out);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("The cluster changed while this ran"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the cluster changed under this run"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("patch ServiceMonitor {NS}/{SERVICE}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("re-run"), "{}", run.stderr);
    let log = rc.faults().log();
    assert!(
        log.iter()
            .any(|e| e.status == 409 && e.path.contains("/servicemonitors/")),
        "{log:#?}"
    );
    // Their edit stands; the plugin's patch was not written.
    let now = service_monitor(&rc);
    assert_eq!(now["spec"]["endpoints"][0]["interval"], "17s");
    assert_ne!(now["spec"]["endpoints"][0]["scheme"], "https", "{now}");

    // Run again: the new plan is shown, confirmed (--yes) and written.
    let again = plugin_with(&kc, cwd.path(), None, &args);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    let now = service_monitor(&rc);
    assert_eq!(now["spec"]["endpoints"][0]["interval"], "17s");
    assert_eq!(now["spec"]["endpoints"][0]["scheme"], "https");
}

/// The plugin on a terminal (util-linux `script` gives it one): its output so far, and its input.
struct OnTerminal {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    out: std::sync::Arc<std::sync::Mutex<String>>,
}

impl OnTerminal {
    fn start(kubeconfig: &Path, cwd: &Path, args: &[&str]) -> OnTerminal {
        use std::io::Read;
        let mut line = vec![
            BIN.to_string(),
            "--kubeconfig".into(),
            kubeconfig.display().to_string(),
        ];
        line.extend(args.iter().map(|a| a.to_string()));
        let quoted: Vec<String> = line.iter().map(|a| format!("'{a}'")).collect();
        let mut child = Command::new("script")
            .args(["-q", "-f", "-e", "-c", &quoted.join(" "), "/dev/null"])
            .env_remove("KUBECONFIG")
            .env("NO_COLOR", "1")
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("util-linux script");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let o = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                o.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        OnTerminal { child, stdin, out }
    }

    fn text(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Wait until the output holds `what` `n` times.
    async fn wait_for(&self, what: &str, n: usize) {
        let t = Instant::now();
        while self.text().matches(what).count() < n {
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "no {what:?} on the terminal:\n{}",
                self.text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn answer(&mut self, key: &str) {
        use std::io::Write;
        self.stdin.write_all(key.as_bytes()).unwrap();
        self.stdin.flush().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_a_replan_that_differs_is_asked_again() {
    let rc = start(A, RealOptions::default()).await;
    let fix = fix_args(&rc);
    // On a terminal, without --yes: the question is asked.
    let args: Vec<&str> = fix
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--yes")
        .collect();
    let cwd = tempfile::tempdir().unwrap();
    let sm = service_monitor(&rc);
    let mut t = OnTerminal::start(&rc.proxy_kubeconfig, cwd.path(), &args);
    t.wait_for("Apply these", 1).await;
    // Someone edits the ServiceMonitor while the question waits: the plugin's patch meets the
    // real API server's 409, and the plan read again carries their interval.
    let mut endpoints = sm["spec"]["endpoints"].clone();
    endpoints[0]["interval"] = "17s".into();
    let patch = serde_json::json!({"spec": {"endpoints": endpoints}}).to_string();
    kubectl_patch(&rc, &["servicemonitor", "-n", NS, SERVICE], &patch);
    t.answer("y");
    t.wait_for("The plan changed while this ran", 1).await;
    let text = t.text();
    assert!(
        text.contains("The cluster changed while this ran"),
        "{text}"
    );
    assert!(
        text.contains(&format!("patch ServiceMonitor {NS}/{SERVICE}")),
        "{text}"
    );
    // Not written before the second answer.
    assert_ne!(
        service_monitor(&rc)["spec"]["endpoints"][0]["scheme"],
        "https"
    );
    t.answer("y");
    let status = tokio::task::spawn_blocking(move || t.child.wait().map(|s| (s, t)))
        .await
        .unwrap()
        .unwrap();
    let (status, t) = status;
    eprintln!("on the terminal:\n{}", t.text());
    assert!(status.success(), "{status:?}\n{}", t.text());
    let now = service_monitor(&rc);
    assert_eq!(now["spec"]["endpoints"][0]["interval"], "17s");
    assert_eq!(now["spec"]["endpoints"][0]["scheme"], "https");
}
