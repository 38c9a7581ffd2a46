//! Shared helpers of the tests on the real control plane (tests/real_*.rs): start a scenario
//! (shipped, or a shipped one with an edit), run the BUILT plugin against it with
//! `--kubeconfig`, read objects and a Prometheus pod's targets with the real kubectl. Every run
//! is checked for key material.
#![allow(dead_code)]

use promfix_testcluster::real::{RealCluster, RealOptions};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promfix");

/// Scenario a (the seed) and b (kube-prometheus-stack on kubeadm).
pub const A: &str = "a-seed-stable-prometheus-operator";
pub const B: &str = "b-kube-prometheus-stack";

/// A shipped scenario on the real control plane.
pub async fn start(name: &str, opts: RealOptions) -> RealCluster {
    RealCluster::start_builtin(name, opts)
        .await
        .unwrap_or_else(|e| panic!("starting scenario {name} on the real control plane: {e:#}"))
}

/// A shipped scenario with `edit` applied to its text (each `(from, to)` must occur), started
/// from a file in `dir`.
pub async fn start_edited(
    name: &str,
    edits: &[(&str, &str)],
    dir: &Path,
    opts: RealOptions,
) -> RealCluster {
    let path = promfix_testcluster::scenario::builtin_path(name);
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{}: no {from:?}", path.display());
        text = text.replacen(from, to, 1);
    }
    let edited = dir.join(format!("{name}.yaml"));
    std::fs::write(&edited, text).unwrap();
    RealCluster::start(&edited, opts)
        .await
        .unwrap_or_else(|e| panic!("starting the edited scenario {name}: {e:#}"))
}

/// One run of the plugin.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run the plugin as the cluster's admin.
pub fn plugin<S: AsRef<str>>(rc: &RealCluster, cwd: &Path, args: &[S]) -> Run {
    plugin_with(rc.kubeconfig(), cwd, None, args)
}

/// Run the plugin as a token user of the cluster (its kubeconfig context), or as the admin.
pub fn plugin_as<S: AsRef<str>>(
    rc: &RealCluster,
    cwd: &Path,
    user: Option<&str>,
    args: &[S],
) -> Run {
    plugin_with(rc.kubeconfig(), cwd, user, args)
}

/// Run the plugin with `kubeconfig` (and its context `user`), stdin closed, no colour.
pub fn plugin_with<S: AsRef<str>>(
    kubeconfig: &Path,
    cwd: &Path,
    user: Option<&str>,
    args: &[S],
) -> Run {
    let mut cmd = command(kubeconfig, user);
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    cmd.args(&args).current_dir(cwd);
    output(&format!("kubectl-promfix {}", args.join(" ")), cmd)
}

/// The plugin with `--kubeconfig` (and `--context user`), without `KUBECONFIG`, no colour,
/// stdin closed: add the arguments and the working directory.
pub fn command(kubeconfig: &Path, user: Option<&str>) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--kubeconfig").arg(kubeconfig);
    if let Some(u) = user {
        cmd.arg("--context").arg(u);
    }
    cmd.env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// Run `cmd` (`what` names it in messages) to its end.
pub fn output(what: &str, mut cmd: Command) -> Run {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    finish(what, out)
}

/// The run of `what` that ended with `out`, checked for key material and printed.
pub fn finish(what: &str, out: std::process::Output) -> Run {
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        !all.contains("PRIVATE KEY-----"),
        "key material in the output of {what}:\n{all}"
    );
    eprintln!(
        "{what} -> {}\n--- stdout\n{}--- stderr\n{}",
        run.code, run.stdout, run.stderr
    );
    run
}

/// `kubectl get ARGS -o json` (None when not found).
pub fn get(rc: &RealCluster, args: &[&str]) -> Option<Value> {
    let mut a = vec!["get"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-o", "json", "--ignore-not-found"]);
    let out = rc.cp.kubectl_ok(&a).unwrap();
    (!out.trim().is_empty()).then(|| serde_json::from_str(&out).unwrap())
}

/// `doctor -o json` as the admin: the document of the (one) cluster.
pub fn doctor_doc(rc: &RealCluster, cwd: &Path) -> Value {
    let d = plugin(rc, cwd, &["doctor", "-o", "json"]);
    let all: Value = serde_json::from_str(&d.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor -o json is not JSON ({e}): {}\n{}",
            d.stdout, d.stderr
        )
    });
    all["clusters"][0].clone()
}

/// The row of component `c` in a doctor document.
pub fn doctor_row<'a>(doc: &'a Value, c: &str) -> &'a Value {
    doc["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["component"] == c))
        .unwrap_or_else(|| panic!("no {c} row: {doc:#}"))
}

/// The strings of a JSON array (none when it is not one).
pub fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The active targets of one Prometheus pod's job, through the real API server's pods/proxy
/// (`kubectl get --raw`): (scrapeUrl, health, lastError).
pub fn targets(
    rc: &RealCluster,
    ns: &str,
    pod: &str,
    job: &str,
) -> Option<Vec<(String, String, String)>> {
    let out = rc
        .cp
        .kubectl_ok(&[
            "get",
            "--raw",
            &format!("/api/v1/namespaces/{ns}/pods/{pod}:9090/proxy/api/v1/targets?state=active"),
        ])
        .ok()?;
    let v: Value = serde_json::from_str(&out).ok()?;
    Some(
        v["data"]["activeTargets"]
            .as_array()?
            .iter()
            .filter(|t| t["labels"]["job"] == job)
            .map(|t| {
                let s = |k: &str| t[k].as_str().unwrap_or("").to_string();
                (s("scrapeUrl"), s("health"), s("lastError"))
            })
            .collect(),
    )
}

/// The scrape URLs of the etcd members over TLS (`https://<ip>:2379/metrics`), sorted: what
/// `wait_targets_up` wants once the fix is in.
pub fn etcd_member_urls(rc: &RealCluster) -> Vec<String> {
    let mut want: Vec<String> = rc
        .etcd
        .as_ref()
        .expect("the scenario runs etcd members")
        .members
        .iter()
        .map(|m| format!("https://{}:2379/metrics", m.ip))
        .collect();
    want.sort();
    want
}

/// Wait until exactly the scrape URLs `want` (sorted) of `job` are up in `pod`; the targets
/// then, or a panic naming the pod and the targets it has.
pub async fn wait_targets_up(
    rc: &RealCluster,
    ns: &str,
    pod: &str,
    job: &str,
    want: &[String],
    timeout: std::time::Duration,
) -> Vec<(String, String, String)> {
    rc.wait_for("every etcd target up", timeout, || async {
        let t = targets(rc, ns, pod, job).unwrap_or_default();
        let mut urls: Vec<String> = t
            .iter()
            .filter(|x| x.1 == "up")
            .map(|x| x.0.clone())
            .collect();
        urls.sort();
        Ok((urls == want).then_some(t))
    })
    .await
    .unwrap_or_else(|e| panic!("{pod}: {e:#}; targets now: {:?}", targets(rc, ns, pod, job)))
}
