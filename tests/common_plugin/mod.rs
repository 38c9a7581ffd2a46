//! Shared helpers of the plugin's end-to-end tests (tests/etcd_*.rs): start a test cluster, run
//! the BUILT plugin binary against it (directly with `--kubeconfig`, or as `kubectl promfix`),
//! read the request log, snapshot every object's resourceVersion, and check outputs for key
//! material.
#![allow(dead_code)]

use promfix_testcluster::faults::LogEntry;
use promfix_testcluster::harness::{Options, TestCluster};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const A: &str = "a-seed-stable-prometheus-operator.yaml";
pub const B: &str = "b-kube-prometheus-stack.yaml";
pub const C: &str = "c-kube-prometheus.yaml";
pub const D: &str = "d-no-operator.yaml";

pub const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promfix");

/// The committed certificate corpus.
pub fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name)
}

pub async fn start(name: &str, opts: Options) -> TestCluster {
    TestCluster::start_builtin(name, opts)
        .await
        .unwrap_or_else(|e| panic!("starting scenario {name}: {e:#}"))
}

/// A scenario without etcd peers (faster; for stories that do not scrape etcd).
pub async fn start_light(name: &str) -> TestCluster {
    start(
        name,
        Options {
            without_etcd: true,
            ..Default::default()
        },
    )
    .await
}

/// One run of the plugin.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The requests the cluster saw during this run.
    pub log: Vec<LogEntry>,
    pub took: Duration,
}

impl Run {
    pub fn writes(&self) -> Vec<&LogEntry> {
        self.log.iter().filter(|e| e.is_write).collect()
    }
    /// Panic with everything when the exit code is not `want`.
    pub fn expect_code(&self, want: i32) -> &Self {
        assert_eq!(
            self.code,
            want,
            "kubectl-promfix {} exited {} (want {want})\n--- stdout\n{}\n--- stderr\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }
    pub fn ok(&self) -> &Self {
        self.expect_code(0)
    }
    pub fn both(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

fn describe(e: &LogEntry) -> String {
    format!("{} {}?{} -> {}", e.method, e.path, e.query, e.status)
}

pub fn describe_log(log: &[&LogEntry]) -> String {
    log.iter()
        .map(|e| describe(e))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Run the plugin binary with `--kubeconfig` of the cluster (stdin not a TTY, cwd = `cwd`).
pub async fn plugin(tc: &TestCluster, cwd: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.arg("--kubeconfig").arg(&tc.kubeconfig).args(args);
    cmd.env_remove("KUBECONFIG");
    run_cmd(tc, cmd, cwd, args).await
}

/// Run `kubectl promfix ARGS` with the binary's directory first on PATH (kubectl's plugin
/// mechanism) and KUBECONFIG pointing at the cluster.
pub async fn kubectl_promfix(tc: &TestCluster, cwd: &Path, args: &[&str]) -> Run {
    let bin_dir = Path::new(BIN).parent().expect("binary directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = tc.kubectl();
    cmd.env("PATH", path).arg("promfix").args(args);
    run_cmd(tc, cmd, cwd, args).await
}

async fn run_cmd(tc: &TestCluster, mut cmd: Command, cwd: &Path, args: &[&str]) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    cmd.current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1");
    tc.cluster.faults.clear_log();
    let t0 = Instant::now();
    let a = args.join(" ");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("plugin task")
        .unwrap_or_else(|e| panic!("running kubectl-promfix {a}: {e}"));
    let took = t0.elapsed();
    let run = Run {
        args,
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        log: tc.cluster.faults.log(),
        took,
    };
    // Every run, whatever it tests: no key material of any key this suite uses.
    let all = run.both();
    assert!(
        !all.contains("PRIVATE KEY-----"),
        "a PEM private key header in the output of {}:\n{all}",
        run.args.join(" ")
    );
    for k in known_key_files(tc) {
        assert_no_key_material(&run, &k);
    }
    eprintln!(
        "[{:>6.2}s] kubectl-promfix {} -> {} ({} requests, {} writes)",
        took.as_secs_f64(),
        run.args.join(" "),
        run.code,
        run.log.len(),
        run.writes().len()
    );
    run
}

/// Every private key file of the corpus and of the cluster's generated etcd PKI.
pub fn known_key_files(tc: &TestCluster) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if std::fs::read_to_string(&p).is_ok_and(|t| t.contains("PRIVATE KEY-----")) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&corpus(""), &mut out);
    if let Some(d) = &tc.etcd_certs_dir {
        walk(d, &mut out);
    }
    out
}

/// The key material of a PEM key file: its base64 body lines.
pub fn key_lines(key_file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(key_file)
        .unwrap_or_else(|e| panic!("reading {}: {e}", key_file.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .map(str::to_string)
        .collect()
}

/// No key material in the run's output: no PEM key header, no line of the key's base64 body,
/// and not the base64 of the whole key file (as a Secret's data would carry it).
pub fn assert_no_key_material(run: &Run, key_file: &Path) {
    use base64::Engine as _;
    let all = run.both();
    assert!(
        !all.contains("PRIVATE KEY-----"),
        "a PEM private key header in the output of {}:\n{all}",
        run.args.join(" ")
    );
    for l in key_lines(key_file) {
        // Short tails of a base64 body could match by chance; lines of 20+ characters cannot.
        if l.len() >= 20 {
            assert!(
                !all.contains(&l),
                "a line of the key {} in the output of {}",
                key_file.display(),
                run.args.join(" ")
            );
        }
    }
    let bytes = std::fs::read(key_file).expect("key file");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    assert!(
        !all.contains(&b64[..b64.len().min(40)]),
        "the base64 of the key file {} in the output of {}",
        key_file.display(),
        run.args.join(" ")
    );
}

/// Every object's resourceVersion (and the whole object), keyed by type/namespace/name.
pub fn snapshot(tc: &TestCluster) -> BTreeMap<String, Value> {
    let s = &tc.cluster.store;
    let mut out = BTreeMap::new();
    for rt in s.registry().all() {
        for o in s.list(rt, None).0 {
            let key = format!(
                "{}/{}/{}",
                rt.plural,
                o["metadata"]["namespace"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            );
            out.insert(key, std::sync::Arc::unwrap_or_clone(o));
        }
    }
    out
}

/// Wait until the controllers are quiet: the store's resourceVersion did not move for `quiet`.
pub async fn settle(tc: &TestCluster, quiet: Duration, max: Duration) {
    let deadline = Instant::now() + max;
    let mut last = tc.cluster.store.current_rv();
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = tc.cluster.store.current_rv();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not settle within {max:?}"
        );
    }
}

/// The keys whose resourceVersion differs (or that appeared / disappeared).
pub fn changed(before: &BTreeMap<String, Value>, after: &BTreeMap<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in before {
        match after.get(k) {
            None => out.push(format!("{k} (deleted)")),
            Some(a) if a["metadata"]["resourceVersion"] != v["metadata"]["resourceVersion"] => {
                out.push(k.clone())
            }
            _ => {}
        }
    }
    for k in after.keys() {
        if !before.contains_key(k) {
            out.push(format!("{k} (created)"));
        }
    }
    out
}

/// An object from the store, if present.
pub fn get(tc: &TestCluster, plural: &str, ns: Option<&str>, name: &str) -> Option<Value> {
    let s = &tc.cluster.store;
    s.get(&s.rt(plural), ns, name).ok()
}

pub fn list(tc: &TestCluster, plural: &str, ns: Option<&str>) -> Vec<Value> {
    let s = &tc.cluster.store;
    s.list(&s.rt(plural), ns)
        .0
        .into_iter()
        .map(std::sync::Arc::unwrap_or_clone)
        .collect()
}

/// Cert flags for the corpus' good client set (valid, matching; no etcd accepts it).
pub fn corpus_cert_args() -> Vec<String> {
    vec![
        "--ca".into(),
        corpus("good-ca.pem").display().to_string(),
        "--cert".into(),
        corpus("good-client.pem").display().to_string(),
        "--key".into(),
        corpus("good-client-key.pem").display().to_string(),
    ]
}

/// The cert flags of the cluster's own etcd client files (layout of the scenario).
pub fn cluster_cert_args(tc: &TestCluster) -> (Vec<String>, PathBuf) {
    let dir = tc
        .etcd_certs_dir
        .clone()
        .expect("the scenario generates etcd certificates (started with etcd)");
    if dir.join("ca.pem").is_file() {
        // kubespray
        let key = dir.join("node-node1-key.pem");
        (
            vec![
                "--ca".into(),
                dir.join("ca.pem").display().to_string(),
                "--cert".into(),
                dir.join("node-node1.pem").display().to_string(),
                "--key".into(),
                key.display().to_string(),
            ],
            key,
        )
    } else {
        // kubeadm: the pki directory
        let key = dir.join("etcd/healthcheck-client.key");
        (vec!["--from-dir".into(), dir.display().to_string()], key)
    }
}

pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Poll until `f` gives Some, or panic after `secs`.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
