//! Shared helpers of the reliability tests (tests/reliability_*.rs): a scenario (a) cluster, the
//! BUILT plugin binary run against it, snapshots of the objects a user owns, and key-leak checks.
#![allow(dead_code)]

use base64::Engine;
use promfix_testcluster::faults::LogEntry;
use promfix_testcluster::harness::{Options, TestCluster};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The seed's scenario.
pub const SEED: &str = "a-seed-stable-prometheus-operator.yaml";
pub const PROM: &str = "prom-prometheus-operator-prometheus";
pub const SVC: &str = "prom-prometheus-operator-kube-etcd";
pub const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promfix");
pub const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

/// Scenario (a) without real etcd members (the certificates come from the corpus; `--no-probe`).
pub async fn start(mut opts: Options) -> TestCluster {
    opts.without_etcd = true;
    TestCluster::start_builtin(SEED, opts)
        .await
        .unwrap_or_else(|e| panic!("starting scenario {SEED}: {e:#}"))
}

/// The corpus' good certificate set (CA, client cert, client key).
pub fn good_certs() -> [PathBuf; 3] {
    let d = Path::new(CORPUS);
    [
        d.join("good-ca.pem"),
        d.join("good-client.pem"),
        d.join("good-client-key.pem"),
    ]
}

/// `--ca … --cert … --key …` of the good set.
pub fn cert_args() -> Vec<String> {
    let [ca, cert, key] = good_certs();
    vec![
        "--ca".into(),
        ca.display().to_string(),
        "--cert".into(),
        cert.display().to_string(),
        "--key".into(),
        key.display().to_string(),
    ]
}

/// The plugin binary with this cluster's kubeconfig, run from (and backing up into) `dir`.
pub fn promfix(tc: &TestCluster, dir: &Path, args: &[String]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--kubeconfig").arg(&tc.kubeconfig);
    c.args(args);
    c.current_dir(dir);
    c.env_remove("KUBECONFIG");
    c.stdin(Stdio::null());
    c
}

/// How long one run may take before the test calls it hung.
pub const RUN_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Run the binary off the async runtime and collect its output; a run longer than `RUN_LIMIT`
/// is killed and fails the test.
pub async fn run(tc: &TestCluster, dir: &Path, args: &[String]) -> Output {
    let mut cmd = promfix(tc, dir, args);
    let what = args.join(" ");
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running kubectl-promfix");
        let mut o = child.stdout.take().expect("stdout");
        let mut e = child.stderr.take().expect("stderr");
        let to = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = o.read_to_end(&mut v);
            v
        });
        let te = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = e.read_to_end(&mut v);
            v
        });
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                break st;
            }
            if start.elapsed() > RUN_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                let err = te.join().unwrap_or_default();
                panic!(
                    "kubectl-promfix {what} hung (killed after {RUN_LIMIT:?}); stderr:\n{}",
                    String::from_utf8_lossy(&err)
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        Output {
            status,
            stdout: to.join().unwrap_or_default(),
            stderr: te.join().unwrap_or_default(),
        }
    })
    .await
    .expect("kubectl-promfix task")
}

pub fn s(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// `etcd --yes --no-verify --no-probe` with the good certificates and a backup directory.
pub fn etcd_args(backup_dir: &Path) -> Vec<String> {
    let mut a = s(&["etcd", "--yes", "--no-verify", "--no-probe"]);
    a.extend(cert_args());
    a.push("--backup-dir".into());
    a.push(backup_dir.display().to_string());
    a
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Never a panic: not exit 101, no "panicked" in stderr.
pub fn assert_no_panic(o: &Output, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.code() != Some(101) && !err.contains("panicked"),
        "{what} panicked:\n{}",
        text(o)
    );
    assert!(
        o.status.code().is_some(),
        "{what}: killed by a signal\n{}",
        text(o)
    );
}

/// Writes to objects (status updates, which the operator stand-in makes through the API as the
/// admin, are left out).
pub fn is_object_write(e: &LogEntry) -> bool {
    e.is_write && !e.path.ends_with("/status")
}

pub fn writes(log: &[LogEntry]) -> Vec<&LogEntry> {
    log.iter().filter(|e| is_object_write(e)).collect()
}

/// The objects a user owns that `etcd` touches or could touch, reduced to what the user cares
/// about: name, labels, annotations, data, spec, subsets (server metadata and status left out).
pub fn snapshot(tc: &TestCluster) -> BTreeMap<String, Value> {
    let st = &tc.cluster.store;
    let mut out = BTreeMap::new();
    for (plural, ns) in [
        ("secrets", "monitoring"),
        ("secrets", "kube-system"),
        ("prometheuses", "monitoring"),
        ("servicemonitors", "monitoring"),
        ("servicemonitors", "kube-system"),
        ("services", "kube-system"),
        ("services", "monitoring"),
        ("endpoints", "kube-system"),
    ] {
        let rt = st.rt(plural);
        for o in st.list(&rt, Some(ns)).0 {
            let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
            // Objects a controller owns (the operator's generated config Secrets, ...) and
            // service-account tokens are not the user's.
            if o["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
                || o["type"].as_str() == Some("kubernetes.io/service-account-token")
            {
                continue;
            }
            let mut ann = o["metadata"]["annotations"].clone();
            if let Some(m) = ann.as_object_mut() {
                // Written by the endpoints controller with the time of the last change.
                m.remove("endpoints.kubernetes.io/last-change-trigger-time");
                if m.is_empty() {
                    ann = Value::Null;
                }
            }
            let mut lab = o["metadata"]["labels"].clone();
            if lab.as_object().is_some_and(|m| m.is_empty()) {
                lab = Value::Null;
            }
            let reduced = json!({
                "labels": lab,
                "annotations": ann,
                "data": o.get("data").cloned().unwrap_or(Value::Null),
                "stringData": o.get("stringData").cloned().unwrap_or(Value::Null),
                "type": o.get("type").cloned().unwrap_or(Value::Null),
                "spec": o.get("spec").cloned().unwrap_or(Value::Null),
                "subsets": o.get("subsets").cloned().unwrap_or(Value::Null),
            });
            // Addresses 127.NET.x.y differ between clusters.
            let net = format!("\"127.{}.", tc.net());
            let reduced: Value =
                serde_json::from_str(&reduced.to_string().replace(&net, "\"127.NET."))
                    .expect("json");
            out.insert(format!("{plural}/{ns}/{name}"), reduced);
        }
    }
    out
}

/// A readable difference of two snapshots (empty when equal).
pub fn diff(a: &BTreeMap<String, Value>, b: &BTreeMap<String, Value>) -> String {
    let mut out = String::new();
    for k in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
        match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) if x == y => {}
            (x, y) => out.push_str(&format!(
                "{k}:\n  expected {}\n  got      {}\n",
                x.map(|v| v.to_string()).unwrap_or("(absent)".into()),
                y.map(|v| v.to_string()).unwrap_or("(absent)".into())
            )),
        }
    }
    out
}

/// Wait (bounded) until the snapshot stops changing (controllers settle after writes).
pub async fn settled(tc: &TestCluster) -> BTreeMap<String, Value> {
    let mut last = snapshot(tc);
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let now = snapshot(tc);
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// The backup files in a directory.
pub fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("promfix-backup-"))
                })
                .collect()
        })
        .unwrap_or_default();
    // Oldest first (a second backup of the same second is named `...-N.yaml`).
    v.sort_by_key(|p| {
        (
            std::fs::metadata(p).and_then(|m| m.modified()).ok(),
            p.as_os_str().len(),
            p.clone(),
        )
    });
    v
}

/// Every 16-character window of the key's PEM body and of base64(key file): text that must never
/// appear in any output.
pub fn key_fragments(key_file: &Path) -> Vec<String> {
    let pem = std::fs::read_to_string(key_file).expect("reading the key file");
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(pem.as_bytes());
    let mut out = Vec::new();
    for src in [&body, &b64] {
        let chars: Vec<char> = src.chars().collect();
        for w in chars.windows(16) {
            out.push(w.iter().collect());
        }
    }
    // Whole PEM lines too (they are longer than 16 characters, so already covered, but a line
    // of the body is what a human would recognise).
    for l in pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
    {
        out.push(l.trim().to_string());
    }
    out.sort();
    out.dedup();
    out
}

/// Whether `hay` holds any fragment of the key.
pub fn holds_key(hay: &str, frags: &[String]) -> bool {
    let runs: Vec<&str> = hay
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
        .filter(|r| r.len() >= 16)
        .collect();
    frags
        .iter()
        .any(|f| runs.iter().any(|r| r.contains(f.as_str())))
}

/// Fail when `hay` holds any fragment of the key.
pub fn assert_no_key(hay: &str, frags: &[String], what: &str) {
    // Fast path: the windows come from a base64 alphabet; look only at such runs of `hay`.
    let runs: Vec<&str> = hay
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
        .filter(|r| r.len() >= 16)
        .collect();
    for f in frags {
        if runs.iter().any(|r| r.contains(f.as_str())) {
            panic!("{what} holds key material ({f:?}):\n{hay}");
        }
    }
}
