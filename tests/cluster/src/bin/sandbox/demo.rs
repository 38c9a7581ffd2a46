//! `tests/sandbox --demo`: the seed's story on the real control plane, through kubectl and the
//! plugin only (as a user would type it): Prometheus has no etcd target, `kubectl promfix etcd`
//! with the files the kube-apiserver uses, the StatefulSet controller rolls both replicas with
//! the Secret mounted (`kubectl exec ... ls` through the kubelet API of the node agent), and
//! every member is scraped over mTLS.

use anyhow::{Context, Result, bail};
use promfix_testcluster::real::RealCluster;
use promfix_testcluster::scenario::Scenario;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const MOUNT: &str = "/etc/prometheus/secrets/etcd-client-cert/";

/// (namespace, pod) of every replica of every Prometheus resource in the scenario, as the
/// operator names its StatefulSet's pods.
pub fn prometheus_pods(s: &Scenario) -> Vec<(String, String)> {
    s.objects_of("Prometheus")
        .flat_map(|p| {
            let ns = p["metadata"]["namespace"].as_str().unwrap_or("default");
            let name = p["metadata"]["name"].as_str().unwrap_or("");
            let replicas = p["spec"]["replicas"].as_u64().unwrap_or(1);
            (0..replicas).map(move |i| (ns.to_string(), format!("prometheus-{name}-{i}")))
        })
        .collect()
}

struct Kubectl<'a>(&'a Path);

impl Kubectl<'_> {
    fn run(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("kubectl")
            .env("KUBECONFIG", self.0)
            .args(args)
            .output()
            .context("running kubectl (is it on PATH?)")?;
        if !out.status.success() {
            bail!(
                "kubectl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn json(&self, args: &[&str]) -> Result<Value> {
        Ok(serde_json::from_str(&self.run(args)?)?)
    }

    /// The etcd targets of a Prometheus pod through the API server's pods/proxy:
    /// (scrapeUrl, health, lastError).
    fn etcd_targets(&self, ns: &str, pod: &str) -> Result<Vec<(String, String, String)>> {
        let path =
            format!("/api/v1/namespaces/{ns}/pods/{pod}:9090/proxy/api/v1/targets?state=active");
        let v = self.json(&["get", "--raw", &path])?;
        let mut t: Vec<_> = v["data"]["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["scrapePool"].as_str().is_some_and(|p| p.contains("etcd")))
            .map(|t| {
                let s = |k: &str| t[k].as_str().unwrap_or("").to_string();
                (s("scrapeUrl"), s("health"), s("lastError"))
            })
            .collect();
        t.sort();
        Ok(t)
    }
}

/// Poll `f` every second until it returns Some, or fail after `timeout` naming `what` (with
/// the last error seen).
async fn wait<T>(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        match f() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = format!(" (last: {e:#})"),
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}{last}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn show_targets(t: &[(String, String, String)]) {
    if t.is_empty() {
        println!(
            "    (no etcd target at all: the Service selects etcd pods that an external etcd does not have, so it has no endpoints)"
        );
    }
    for (url, health, err) in t {
        println!("    {health:<7} {url} {err}");
    }
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

pub async fn play(rc: &RealCluster) -> Result<()> {
    let k = Kubectl(rc.kubeconfig());
    let pods = prometheus_pods(&rc.scenario);
    let (ns, first) = pods
        .first()
        .cloned()
        .context("the demo needs a scenario with a Prometheus resource")?;
    let certs = rc
        .etcd_certs_dir
        .clone()
        .context("the demo needs a scenario with etcd members")?;
    let pki = rc
        .pki
        .as_ref()
        .context("the demo needs generated etcd certificates")?;

    println!("\n== 1. The seed's cluster: Prometheus scrapes no etcd target");
    println!(
        "    $ kubectl get --raw '/api/v1/namespaces/{ns}/pods/{first}:9090/proxy/api/v1/targets?state=active'"
    );
    let before = wait(
        "Prometheus (run by the operator's StatefulSet) to answer",
        Duration::from_secs(240),
        || k.etcd_targets(&ns, &first).map(Some),
    )
    .await?;
    show_targets(&before);
    let uids: Vec<String> = pods
        .iter()
        .map(|(ns, p)| {
            let v = k.json(&["get", "pod", "-n", ns, p, "-o", "json"])?;
            Ok(v["metadata"]["uid"].as_str().unwrap_or("").to_string())
        })
        .collect::<Result<_>>()?;

    // The files the kube-apiserver itself uses (kubespray: node-<host>.pem), as the seed did,
    // named as the sandbox's suggested command names them.
    let [ca, cert, key] = promfix_testcluster::sandbox::etcd_file_args(&certs, pki);
    println!("\n== 2. kubectl promfix etcd --ca {ca} --cert {cert} --key {key} --yes");
    let status = Command::new("kubectl")
        .env("KUBECONFIG", rc.kubeconfig())
        .args(["promfix", "etcd", "--ca"])
        .arg(&pki.ca.cert)
        .arg("--cert")
        .arg(&pki.client.cert)
        .arg("--key")
        .arg(&pki.client.key)
        .args(["--yes", "--backup-dir"])
        .arg(rc.cp.dir())
        .status()
        .context("running kubectl promfix (is kubectl-promfix on PATH? tests/sandbox builds it)")?;
    if !status.success() {
        bail!("kubectl promfix etcd failed ({status})");
    }

    println!("\n== 3. The Prometheus pods rolled; the files are mounted");
    for ((ns, p), old) in pods.iter().zip(&uids) {
        wait(
            &format!("{ns}/{p} to roll with the Secret mounted"),
            Duration::from_secs(240),
            || {
                let v = k.json(&["get", "pod", "-n", ns, p, "-o", "json"])?;
                let rolled = v["metadata"]["uid"] != old.as_str()
                    && is_ready(&v)
                    && v["spec"]["volumes"]
                        .to_string()
                        .contains("etcd-client-cert");
                Ok(rolled.then_some(()))
            },
        )
        .await?;
        println!("    $ kubectl exec {p} -n {ns} -c prometheus -- ls {MOUNT}");
        let out = k.run(&["exec", p, "-n", ns, "-c", "prometheus", "--", "ls", MOUNT])?;
        println!(
            "    {}",
            out.split_whitespace().collect::<Vec<_>>().join("  ")
        );
    }

    println!("\n== 4. Prometheus scrapes etcd over mTLS");
    for (ns, p) in &pods {
        println!("    {ns}/{p}:");
        let t = wait(
            &format!("every etcd target of {p} up"),
            Duration::from_secs(180),
            || {
                let t = k.etcd_targets(ns, p)?;
                Ok((!t.is_empty() && t.iter().all(|x| x.1 == "up")).then_some(t))
            },
        )
        .await
        .inspect_err(|_| {
            if let Ok(t) = k.etcd_targets(ns, p) {
                show_targets(&t);
            }
        })?;
        show_targets(&t);
    }
    println!("\nAll etcd targets are up.");
    Ok(())
}
