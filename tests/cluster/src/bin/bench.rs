//! `promfix-bench --bin PATH [--json FILE] [--runs N] [--only NAME]`: the benchmarks of
//! `tests/bench` (which builds the release binary and runs this). Prints one table (name, median,
//! min, max, unit, and the ratio where two things are compared); `--json FILE` also writes the
//! figures. Benchmarks print figures; they assert nothing about times.
//!
//! - requests: API requests by verb of `kubectl promfix etcd --yes --no-verify --no-probe` on
//!   scenario (a), read from the request log, next to the minimum (every object read once,
//!   written at most once); and of a second, idempotent run.
//! - manual: the same run against the seed's manual sequence with kubectl (create secret
//!   --from-file, patch the Prometheus spec.secrets, remove the Service selector, apply the
//!   Endpoints, patch the ServiceMonitor), a fresh cluster per run, at 0 and 25 ms injected
//!   latency per request; promfix's critical path in round trips (request waves).
//! - startup: `--help`, `--version`: wall time and peak RSS (GNU time); the binary's size.
//! - doctor: 100, 1,000 and 5,000 nodes at 25 ms per request (the scenario generator
//!   `scale::generate_with`), each with every kubelet up and with every worker's kubelet
//!   answering 403 (`--kubelets up,workers-403`; `every-100th` is the scale test's cluster):
//!   wall time, requests (the note: how many were `/configz`), peak RSS; measured once
//!   Prometheus has scraped every target (the steady state a user runs doctor in); how long the
//!   cluster took to get there is printed, not tabled.

use anyhow::{Context, Result, bail};
use promfix_testcluster::faults::LogEntry;
use promfix_testcluster::harness::{Options, TestCluster};
use promfix_testcluster::scale::Kubelets;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const SEED: &str = "a-seed-stable-prometheus-operator.yaml";
const PROM: &str = "prom-prometheus-operator-prometheus";
const SVC: &str = "prom-prometheus-operator-kube-etcd";

struct Args {
    bin: PathBuf,
    json: Option<PathBuf>,
    runs: usize,
    only: Option<String>,
    /// Cluster sizes of the doctor-at-scale benchmark.
    nodes: Vec<usize>,
    /// Which kubelets fail in it.
    kubelets: Vec<Kubelets>,
    /// Run doctor with -v and print what it says on stderr (collector times, the fan-out).
    verbose: bool,
}

/// A `--kubelets` name.
fn kubelets_named(n: &str) -> Result<Kubelets> {
    Ok(match n.trim() {
        "up" => Kubelets::AllUp,
        "workers-403" => Kubelets::WorkersForbidden,
        "every-100th" => Kubelets::EveryHundredth,
        x => bail!("--kubelets takes up, workers-403 or every-100th, not {x:?}"),
    })
}

/// The rows' words for a variant.
fn kubelets_label(k: Kubelets) -> &'static str {
    match k {
        Kubelets::AllUp => "kubelets up",
        Kubelets::WorkersForbidden => "workers' kubelets 403",
        Kubelets::EveryHundredth => "1% of kubelets 403",
    }
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        bin: PathBuf::new(),
        json: None,
        runs: 5,
        only: None,
        nodes: vec![100, 1_000, 5_000],
        kubelets: vec![Kubelets::AllUp, Kubelets::WorkersForbidden],
        verbose: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bin" => a.bin = it.next().context("--bin takes a path")?.into(),
            "--json" => a.json = Some(it.next().context("--json takes a file")?.into()),
            "--runs" => {
                a.runs = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .context("--runs takes a number")?
            }
            "--only" => a.only = Some(it.next().context("--only takes a name")?),
            "--nodes" => {
                a.nodes = it
                    .next()
                    .context("--nodes takes a list such as 100,1000,5000")?
                    .split(',')
                    .map(|n| n.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .context("--nodes takes a list such as 100,1000,5000")?
            }
            "--kubelets" => {
                a.kubelets = it
                    .next()
                    .context("--kubelets takes a list such as up,workers-403")?
                    .split(',')
                    .map(kubelets_named)
                    .collect::<Result<_>>()?
            }
            "--verbose" => a.verbose = true,
            "-h" | "--help" => {
                println!(
                    "usage: promfix-bench --bin PATH [--json FILE] [--runs N] [--only requests|manual|startup|doctor] [--nodes 100,1000,5000] [--kubelets up,workers-403,every-100th] [--verbose]"
                );
                std::process::exit(0);
            }
            s => bail!("unknown argument {s}"),
        }
    }
    if a.bin.as_os_str().is_empty() {
        bail!("--bin PATH (the release kubectl-promfix) is required");
    }
    a.bin = std::fs::canonicalize(&a.bin).with_context(|| format!("--bin {}", a.bin.display()))?;
    Ok(a)
}

/// One row of the table.
#[derive(Debug, Clone)]
struct Row {
    name: String,
    samples: Vec<f64>,
    unit: String,
    ratio: Option<f64>,
    note: String,
}

impl Row {
    fn new(name: impl Into<String>, samples: Vec<f64>, unit: &str) -> Row {
        Row {
            name: name.into(),
            samples,
            unit: unit.into(),
            ratio: None,
            note: String::new(),
        }
    }
    fn one(name: impl Into<String>, v: f64, unit: &str) -> Row {
        Row::new(name, vec![v], unit)
    }
    fn note(mut self, n: impl Into<String>) -> Row {
        self.note = n.into();
        self
    }
    fn median(&self) -> f64 {
        let mut v = self.samples.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }
    fn min(&self) -> f64 {
        self.samples.iter().copied().fold(f64::INFINITY, f64::min)
    }
    fn max(&self) -> f64 {
        self.samples
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if (v.fract() == 0.0 && v.abs() < 1e12) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn print_table(rows: &[Row]) {
    let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    println!(
        "{:<w$}  {:>10}  {:>10}  {:>10}  {:<6}  {:>7}  note",
        "name", "median", "min", "max", "unit", "ratio"
    );
    for r in rows {
        println!(
            "{:<w$}  {:>10}  {:>10}  {:>10}  {:<6}  {:>7}  {}",
            r.name,
            fmt(r.median()),
            fmt(r.min()),
            fmt(r.max()),
            r.unit,
            r.ratio.map(|x| format!("{x:.2}")).unwrap_or_default(),
            r.note
        );
    }
}

fn to_json(rows: &[Row]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "name": r.name, "median": r.median(), "min": r.min(), "max": r.max(),
                    "unit": r.unit, "samples": r.samples, "ratio": r.ratio, "note": r.note,
                })
            })
            .collect(),
    )
}

/// Run a child and return (wall time, exit status, peak RSS in KiB, stdout, stderr), the rusage
/// from wait4 on exactly this child.
struct Ran {
    wall: Duration,
    ok: bool,
    code: i32,
    maxrss_kib: i64,
    stdout: String,
    stderr: String,
}

/// Run `cmd` under GNU time (Debian `time`), which reports the command's own peak RSS. The
/// rusage of a child of this process would not: the kernel records the memory image the child
/// had before its exec — a copy of this process, test cluster and all — in its maxrss.
fn run_measured(cmd: Command) -> Result<Ran> {
    let gnu_time = promfix_testcluster::harness::require("time", "time")?;
    let rss_file = tempfile::NamedTempFile::new()?;
    let mut wrapped = Command::new(gnu_time);
    wrapped
        .args(["-f", "%M", "-o"])
        .arg(rss_file.path())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        wrapped.current_dir(d);
    }
    let mut r = run_waited(wrapped)?;
    let text = std::fs::read_to_string(rss_file.path()).unwrap_or_default();
    // GNU time writes "Command exited with non-zero status N" before the figure when N != 0.
    r.maxrss_kib = text
        .lines()
        .filter_map(|l| l.trim().parse::<i64>().ok())
        .next_back()
        .with_context(|| format!("GNU time gave no peak RSS: {text:?}"))?;
    Ok(r)
}

fn run_waited(mut cmd: Command) -> Result<Ran> {
    use std::io::Read;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().context("spawning")?;
    let mut out = child.stdout.take().context("stdout")?;
    let mut err = child.stderr.take().context("stderr")?;
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: zeroed rusage is a valid value; wait4 on our own child's pid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = start.elapsed();
    if rc != pid {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    let stdout = t_out.join().unwrap_or_default();
    let stderr = t_err.join().unwrap_or_default();
    let exited = libc::WIFEXITED(status);
    let code = if exited {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    // The child is reaped: forget the handle so Drop does not wait again.
    std::mem::forget(child);
    Ok(Ran {
        wall,
        ok: exited && code == 0,
        code,
        maxrss_kib: ru.ru_maxrss,
        stdout,
        stderr,
    })
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

/// Scenario (a) without etcd members (the certificates come from the corpus, `--no-probe`),
/// settled: the Prometheus pods are Ready and the operator has reported it in the Prometheus
/// status. A user's cluster is in that state; on a cluster still starting, the operator's status
/// writes move the Prometheus resourceVersion, and promfix's guarded patch gets a 409 and plans
/// again (8 more requests), which would be measured instead.
async fn start(opts: Options) -> Result<TestCluster> {
    let tc = TestCluster::start_builtin(
        SEED,
        Options {
            without_etcd: true,
            ..opts
        },
    )
    .await?;
    tc.wait_prometheus_ready(Duration::from_secs(120)).await?;
    tc.wait_for(
        "the operator to report the Prometheus available",
        Duration::from_secs(60),
        |s| {
            let p = s
                .get(&s.rt("prometheuses"), Some("monitoring"), PROM)
                .ok()?;
            let want = p["spec"]["replicas"].as_i64().unwrap_or(1);
            let available = p["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Available" && c["status"] == "True");
            (available && p["status"]["availableReplicas"].as_i64() == Some(want)).then_some(())
        },
    )
    .await?;
    Ok(tc)
}

fn cert_files() -> [PathBuf; 3] {
    let c = corpus();
    [
        c.join("good-ca.pem"),
        c.join("good-client.pem"),
        c.join("good-client-key.pem"),
    ]
}

fn promfix_cmd(bin: &Path, tc: &TestCluster, dir: &Path) -> Command {
    let [ca, cert, key] = cert_files();
    let mut c = Command::new(bin);
    c.arg("--kubeconfig")
        .arg(&tc.kubeconfig)
        .args(["etcd", "--yes", "--no-verify", "--no-probe"])
        .arg("--ca")
        .arg(ca)
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .arg("--backup-dir")
        .arg(dir)
        .current_dir(dir)
        .env_remove("KUBECONFIG");
    c
}

/// The API verb of a logged request ("discovery" and "access review" apart).
fn verb(e: &LogEntry) -> String {
    let parts: Vec<&str> = e.path.trim_matches('/').split('/').collect();
    let is_resource = match parts.first() {
        Some(&"api") => parts.len() >= 3,
        Some(&"apis") => parts.len() >= 4,
        _ => false,
    };
    if !is_resource {
        return "discovery".into();
    }
    if e.path.contains("accessreviews") {
        return "access review".into();
    }
    // A named object: an odd number of segments after the group/version and namespaces/NS.
    let base = if parts[0] == "api" { 2 } else { 3 };
    let mut rest = &parts[base..];
    if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
        rest = &rest[2..];
    }
    let named = rest.len() >= 2;
    match e.method.as_str() {
        "GET" if e.query.contains("watch=true") || e.query.contains("watch=1") => "watch",
        "GET" if named => "get",
        "GET" => "list",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" if named => "delete",
        "DELETE" => "deletecollection",
        _ => "other",
    }
    .into()
}

/// The requests of the command run: the operator stand-in writes status through the API with
/// the admin's token; those are not the command's.
fn own(log: Vec<LogEntry>) -> Vec<LogEntry> {
    log.into_iter()
        .filter(|e| !(e.is_write && e.path.ends_with("/status")))
        .collect()
}

/// Requests by verb, and the minimum: every distinct object or collection read once (discovery
/// and access reviews counted as made), every written object written once.
fn by_verb(log: &[LogEntry]) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    let mut distinct: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for e in log {
        let v = verb(e);
        *count.entry(v.clone()).or_default() += 1;
        let key = match v.as_str() {
            // a list is the same read whatever its page
            "list" => {
                let sel: Vec<&str> = e
                    .query
                    .split('&')
                    .filter(|q| q.starts_with("labelSelector") || q.starts_with("fieldSelector"))
                    .collect();
                format!("{}?{}", e.path, sel.join("&"))
            }
            "discovery" | "access review" => format!("{}#{}", e.path, count[&v]),
            _ => e.path.clone(),
        };
        distinct.entry(v).or_default().insert(key);
    }
    let min = distinct.into_iter().map(|(k, s)| (k, s.len())).collect();
    (count, min)
}

/// Poll the request log during a run and return the completion time of each request (ms since
/// the start), in log order.
fn watch_log(tc: &TestCluster, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<f64>> {
    let cluster = tc.cluster.clone();
    std::thread::spawn(move || {
        let t0 = Instant::now();
        let mut seen = 0usize;
        let mut times = Vec::new();
        loop {
            let n = cluster.faults.log().len();
            let now = t0.elapsed().as_secs_f64() * 1000.0;
            while seen < n {
                times.push(now);
                seen += 1;
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        times
    })
}

/// Sequential waves: completions more than `gap` ms apart start a new wave.
fn waves(times: &[f64], gap: f64) -> usize {
    let mut t = times.to_vec();
    t.sort_by(|a, b| a.total_cmp(b));
    let mut n = 0;
    let mut last = f64::NEG_INFINITY;
    for x in t {
        if x - last > gap {
            n += 1;
        }
        last = x;
    }
    n
}

async fn bench_requests(a: &Args, rows: &mut Vec<Row>) -> Result<()> {
    let tc = start(Options::default()).await?;
    let dir = tempfile::tempdir()?;
    tc.cluster.faults.clear_log();
    let cmd = promfix_cmd(&a.bin, &tc, dir.path());
    let r = tokio::task::spawn_blocking(move || run_measured(cmd)).await??;
    if !r.ok {
        bail!("promfix etcd failed ({}): {}", r.code, r.stderr);
    }
    let log = own(tc.cluster.faults.log());
    let (count, min) = by_verb(&log);
    for (v, n) in &count {
        let mut row = Row::one(format!("requests: etcd, {v}"), *n as f64, "req");
        row.note = format!("minimum {}", min[v]);
        rows.push(row);
    }
    let total: usize = count.values().sum();
    let total_min: usize = min.values().sum();
    let mut row = Row::one("requests: etcd, total", total as f64, "req");
    row.ratio = Some(total as f64 / total_min as f64);
    row.note = format!("minimum {total_min} (ratio: actual / minimum)");
    rows.push(row);
    // The second run: idempotent.
    tc.cluster.faults.clear_log();
    let cmd = promfix_cmd(&a.bin, &tc, dir.path());
    let r = tokio::task::spawn_blocking(move || run_measured(cmd)).await??;
    if !r.ok {
        bail!("second promfix etcd failed ({}): {}", r.code, r.stderr);
    }
    let log = own(tc.cluster.faults.log());
    let (count, _) = by_verb(&log);
    let writes = log.iter().filter(|e| e.is_write).count();
    rows.push(
        Row::one(
            "requests: etcd again, total",
            count.values().sum::<usize>() as f64,
            "req",
        )
        .note(format!(
            "writes {writes}; {}",
            count
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    );
    Ok(())
}

/// The seed's manual sequence with kubectl, as tests/cluster/tests/seed_manual.rs runs it.
fn manual(tc: &TestCluster) -> Result<(Duration, usize)> {
    let [ca, cert, key] = cert_files();
    let net = tc.net();
    let kubectl = |args: &[&str], stdin: Option<&str>| -> Result<()> {
        use std::io::Write;
        let mut c = tc.kubectl();
        c.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().context("kubectl (install kubectl)")?;
        if let Some(s) = stdin {
            child
                .stdin
                .take()
                .context("stdin")?
                .write_all(s.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    };
    let endpoints = format!(
        "apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: {SVC}\n  namespace: kube-system\nsubsets:\n- addresses:\n  - ip: 127.{net}.2.11\n  - ip: 127.{net}.2.12\n  - ip: 127.{net}.2.13\n  ports:\n  - name: http-metrics\n    port: 2379\n    protocol: TCP\n"
    );
    let tls = r#"[{"op":"add","path":"/spec/endpoints/0/scheme","value":"https"},
                 {"op":"add","path":"/spec/endpoints/0/tlsConfig","value":{
                   "caFile":"/etc/prometheus/secrets/etcd-client-cert/etcd-ca",
                   "certFile":"/etc/prometheus/secrets/etcd-client-cert/etcd-client",
                   "keyFile":"/etc/prometheus/secrets/etcd-client-cert/etcd-client-key"}}]"#;
    tc.cluster.faults.clear_log();
    let t0 = Instant::now();
    kubectl(
        &[
            "-n",
            "monitoring",
            "create",
            "secret",
            "generic",
            "etcd-client-cert",
            &format!("--from-file=etcd-ca={}", ca.display()),
            &format!("--from-file=etcd-client={}", cert.display()),
            &format!("--from-file=etcd-client-key={}", key.display()),
        ],
        None,
    )?;
    kubectl(
        &[
            "-n",
            "monitoring",
            "patch",
            "prometheus",
            PROM,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"secrets":["etcd-client-cert"]}}"#,
        ],
        None,
    )?;
    kubectl(
        &[
            "-n",
            "kube-system",
            "patch",
            "svc",
            SVC,
            "--type",
            "json",
            "-p",
            r#"[{"op":"remove","path":"/spec/selector"}]"#,
        ],
        None,
    )?;
    kubectl(&["apply", "-f", "-"], Some(&endpoints))?;
    kubectl(
        &[
            "-n",
            "monitoring",
            "patch",
            "servicemonitor",
            SVC,
            "--type",
            "json",
            "-p",
            tls,
        ],
        None,
    )?;
    let wall = t0.elapsed();
    Ok((wall, own(tc.cluster.faults.log()).len()))
}

async fn bench_manual(a: &Args, rows: &mut Vec<Row>) -> Result<()> {
    for latency_ms in [0u64, 25] {
        let (mut pf, mut man, mut pf_req, mut man_req, mut wave_n) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..a.runs {
            // promfix, fresh cluster
            let tc = start(Options::default()).await?;
            let dir = tempfile::tempdir()?;
            tc.cluster.faults.clear_log();
            tc.cluster
                .faults
                .set_latency(Duration::from_millis(latency_ms));
            let stop = Arc::new(AtomicBool::new(false));
            let watcher = watch_log(&tc, stop.clone());
            let cmd = promfix_cmd(&a.bin, &tc, dir.path());
            let r = tokio::task::spawn_blocking(move || run_measured(cmd)).await??;
            stop.store(true, Ordering::Relaxed);
            let times = watcher.join().unwrap_or_default();
            if !r.ok {
                bail!("promfix etcd failed ({}): {}", r.code, r.stderr);
            }
            pf.push(r.wall.as_secs_f64() * 1000.0);
            pf_req.push(own(tc.cluster.faults.log()).len() as f64);
            if latency_ms > 0 {
                wave_n.push(waves(&times, latency_ms as f64 / 2.0) as f64);
            }
            drop(tc);
            // manual, fresh cluster
            let tc = start(Options::default()).await?;
            tc.cluster
                .faults
                .set_latency(Duration::from_millis(latency_ms));
            let tc = Arc::new(tc);
            let t2 = tc.clone();
            let (wall, n) = tokio::task::spawn_blocking(move || manual(&t2)).await??;
            man.push(wall.as_secs_f64() * 1000.0);
            man_req.push(n as f64);
        }
        let p = Row::new(format!("etcd fix, promfix, {latency_ms} ms/req"), pf, "ms");
        let m = Row::new(
            format!("etcd fix, manual kubectl, {latency_ms} ms/req"),
            man,
            "ms",
        )
        .note("5 kubectl invocations");
        let mut ratio = Row::one(
            format!("etcd fix, promfix / manual, {latency_ms} ms/req"),
            p.median() / m.median(),
            "x",
        );
        ratio.ratio = Some(p.median() / m.median());
        ratio.note = "median / median".into();
        let mut pr = Row::new(
            format!("requests, promfix, {latency_ms} ms/req"),
            pf_req,
            "req",
        );
        let mr = Row::new(
            format!("requests, manual kubectl, {latency_ms} ms/req"),
            man_req,
            "req",
        );
        pr.ratio = Some(pr.median() / mr.median());
        rows.extend([p, m, ratio, pr, mr]);
        if latency_ms > 0 {
            rows.push(
                Row::new(
                    format!("critical path, promfix, {latency_ms} ms/req"),
                    wave_n,
                    "trips",
                )
                .note("sequential request waves (completions > latency/2 apart)"),
            );
        }
    }
    Ok(())
}

async fn bench_startup(a: &Args, rows: &mut Vec<Row>) -> Result<()> {
    for flag in ["--help", "--version"] {
        let (mut wall, mut rss) = (Vec::new(), Vec::new());
        for _ in 0..a.runs.max(5) * 2 {
            let mut c = Command::new(&a.bin);
            c.arg(flag);
            let r = run_measured(c)?;
            if !r.ok {
                bail!("{flag} failed: {}", r.stderr);
            }
            let _ = r.stdout;
            wall.push(r.wall.as_secs_f64() * 1000.0);
            rss.push(r.maxrss_kib as f64 / 1024.0);
        }
        rows.push(Row::new(format!("startup {flag}, wall"), wall, "ms"));
        rows.push(Row::new(format!("startup {flag}, peak RSS"), rss, "MiB"));
    }
    let size = std::fs::metadata(&a.bin)?.len();
    rows.push(Row::one(
        "release binary size",
        size as f64 / (1024.0 * 1024.0),
        "MiB",
    ));
    Ok(())
}

/// Wait until every Prometheus pod has scraped each of its active targets at least once (no
/// target's health is still `unknown`); returns the time since the cluster started.
async fn settle(tc: &TestCluster) -> Result<Duration> {
    const LIMIT: Duration = Duration::from_secs(900);
    let t0 = Instant::now();
    let pods_rt = tc.cluster.store.rt("pods");
    // The operator creates the Prometheus pods after the cluster is up.
    let proms: Vec<(String, String)> = loop {
        let proms: Vec<(String, String)> = tc
            .cluster
            .store
            .list(&pods_rt, None)
            .0
            .iter()
            .filter(|p| !p["metadata"]["labels"]["operator.prometheus.io/name"].is_null())
            .map(|p| {
                let m = &p["metadata"];
                (
                    m["namespace"].as_str().unwrap_or("").to_string(),
                    m["name"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        if !proms.is_empty() {
            break proms;
        }
        if t0.elapsed() > LIMIT {
            bail!("no Prometheus pod after {} s", LIMIT.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for (ns, pod) in &proms {
        loop {
            let targets = tc.active_targets(ns, pod, "").await.unwrap_or_default();
            let unknown = targets.iter().filter(|t| t["health"] == "unknown").count();
            if !targets.is_empty() && unknown == 0 {
                break;
            }
            if t0.elapsed() > LIMIT {
                bail!(
                    "Prometheus pod {ns}/{pod} had not scraped {unknown} of {} targets after {} s",
                    targets.len(),
                    LIMIT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    Ok(t0.elapsed())
}

async fn bench_doctor(a: &Args, rows: &mut Vec<Row>) -> Result<()> {
    for &nodes in &a.nodes {
        for &kubelets in &a.kubelets {
            bench_doctor_one(a, nodes, kubelets, rows).await?;
        }
    }
    Ok(())
}

async fn bench_doctor_one(
    a: &Args,
    nodes: usize,
    kubelets: Kubelets,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let label = kubelets_label(kubelets);
    // The loader moves the generated 127.0.X.Y addresses to the octet the harness picks.
    let text = promfix_testcluster::scale::generate_with(nodes, 0, kubelets);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join(format!("scale-{nodes}.yaml"));
    std::fs::write(&path, text)?;
    let tc = TestCluster::start(
        &path,
        Options {
            without_etcd: true,
            ..Default::default()
        },
    )
    .await?;
    let settled = settle(&tc).await?;
    eprintln!(
        "doctor bench: {nodes} nodes, {label}: Prometheus scraped every target {:.0} s after start",
        settled.as_secs_f64()
    );
    tc.cluster.faults.set_latency(Duration::from_millis(25));
    let (mut wall, mut req, mut rss, mut configz) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..a.runs.min(3) {
        tc.cluster.faults.clear_log();
        let mut c = Command::new(&a.bin);
        c.arg("--kubeconfig")
            .arg(&tc.kubeconfig)
            .args(["doctor", "-o", "json"])
            .args(a.verbose.then_some("-v"))
            .env_remove("KUBECONFIG");
        let r = tokio::task::spawn_blocking(move || run_measured(c)).await??;
        if a.verbose {
            eprint!("{}", r.stderr);
        }
        // exit 3 = problems found: a normal outcome of doctor
        if r.code != 0 && r.code != 3 {
            bail!("doctor at {nodes} nodes failed ({}): {}", r.code, r.stderr);
        }
        let log = tc.cluster.faults.log();
        configz = log
            .iter()
            .filter(|e| e.path.ends_with("/proxy/configz"))
            .count();
        wall.push(r.wall.as_secs_f64() * 1000.0);
        req.push(log.len() as f64);
        rss.push(r.maxrss_kib as f64 / 1024.0);
    }
    let name = |what: &str| format!("doctor, {nodes} nodes, {label}, {what}");
    rows.push(Row::new(name("25 ms/req, wall"), wall, "ms"));
    rows.push(Row::new(name("requests"), req, "req").note(format!("/configz {configz}")));
    rows.push(Row::new(name("peak RSS"), rss, "MiB"));
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let a = parse_args()?;
    let want = |n: &str| a.only.as_deref().is_none_or(|o| o == n);
    let mut rows = Vec::new();
    if want("startup") {
        bench_startup(&a, &mut rows).await.context("startup")?;
    }
    if want("requests") {
        bench_requests(&a, &mut rows).await.context("requests")?;
    }
    if want("manual") {
        bench_manual(&a, &mut rows).await.context("manual")?;
    }
    if want("doctor") {
        // A failure here is reported in the table, not fatal to the other figures.
        if let Err(e) = bench_doctor(&a, &mut rows).await {
            eprintln!("doctor at scale: {e:#}");
            rows.push(Row::one("doctor at scale", f64::NAN, "-").note(format!("failed: {e:#}")));
        }
    }
    print_table(&rows);
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&to_json(&rows))?)
            .with_context(|| format!("writing {}", p.display()))?;
        eprintln!("figures written to {}", p.display());
    }
    Ok(())
}
