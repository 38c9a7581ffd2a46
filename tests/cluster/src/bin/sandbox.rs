//! `tests/sandbox [SCENARIO.yaml] [--demo] [--nodes N]`: start the test cluster from a scenario
//! (default: scenario a, the seed's layout; `--nodes N`: the generated kubeadm cluster of N nodes
//! of `scale.rs`) with real etcd and Prometheus, print the shell lines to use it, and serve until
//! SIGINT/SIGTERM. `--demo` plays the seed's story end to end and exits:
//! etcd targets down, `kubectl promfix etcd`, files mounted, targets up.

use anyhow::{Context, Result, bail};
use promfix_testcluster::harness::{Options, TestCluster};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const DEFAULT: &str = "a-seed-stable-prometheus-operator.yaml";

struct Args {
    scenario: PathBuf,
    demo: bool,
    net: u8,
    nodes: Option<usize>,
    real: bool,
}

fn usage() -> &'static str {
    "usage: tests/sandbox [SCENARIO.yaml] [--demo] [--net N] [--nodes N] [--real]\n\
     Starts the test cluster (default: scenario a, the seed's layout) and serves until Ctrl-C.\n\
     --demo   play the seed's story end to end (etcd target down, kubectl promfix etcd, files, target up), then exit\n\
     --nodes N  instead of a scenario file: a kubeadm cluster of N nodes with kube-prometheus-stack (1 to 62500; try 5000 with kubectl promfix doctor)\n\
     --net N  use the loopback range 127.N.0.0/16 (default 0: the addresses as the scenario writes them)\n\
     --real   the scenario on the real control plane (kube-apiserver, kube-controller-manager, kube-scheduler,\n\
              etcd, the Prometheus Operator, built by tests/k8s/build) in a network namespace of its own"
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        scenario: promfix_testcluster::scenario::builtin_path(DEFAULT),
        demo: false,
        net: 0,
        nodes: None,
        real: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--demo" => a.demo = true,
            "--real" => a.real = true,
            "--net" => {
                a.net = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .context("--net takes a number from 0 to 255")?;
            }
            "--nodes" => {
                a.nodes = Some(
                    it.next()
                        .and_then(|n| n.parse().ok())
                        .filter(|n| (1..=62_500).contains(n))
                        .context("--nodes takes a number from 1 to 62500")?,
                );
            }
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            s if s.starts_with('-') => bail!("unknown option {s}\n{}", usage()),
            s => {
                let p = PathBuf::from(s);
                a.scenario = if p.exists() {
                    p
                } else {
                    promfix_testcluster::scenario::builtin_path(s)
                };
                if !a.scenario.exists() {
                    bail!(
                        "no scenario file {s} (shipped ones: {})",
                        promfix_testcluster::scenario::BUILTIN.join(", ")
                    );
                }
            }
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let mut args = parse_args()?;
    if args.real {
        if args.demo || args.nodes.is_some() {
            bail!("--real serves a scenario file; --demo and --nodes run on the stand-in for now");
        }
        return serve_real(&args).await;
    }
    // A generated scenario lives in a temporary file for as long as the cluster runs.
    let _generated = match args.nodes {
        Some(n) => {
            if args.demo {
                bail!("--demo plays scenario a; it does not go with --nodes");
            }
            let f = tempfile::Builder::new()
                .prefix(&format!("promfix-scale-{n}-"))
                .suffix(".yaml")
                .tempfile()?;
            std::fs::write(f.path(), promfix_testcluster::scale::generate(n, args.net))?;
            args.scenario = f.path().to_path_buf();
            eprintln!(
                "starting a cluster of {n} nodes (large ones take minutes: Prometheus discovers every target) ..."
            );
            Some(f)
        }
        None => None,
    };
    let tc = TestCluster::start(
        &args.scenario,
        Options {
            net: Some(args.net),
            ..Default::default()
        },
    )
    .await
    .with_context(|| format!("starting the test cluster from {}", args.scenario.display()))?;
    println!("export KUBECONFIG={}", tc.kubeconfig.display());
    if let Some(d) = &tc.etcd_certs_dir {
        println!("export ETCD_CERTS_DIR={}", d.display());
    }
    let prom_pod = first_prometheus_pod(&tc);
    if args.demo {
        return demo(&tc, prom_pod.as_deref()).await;
    }
    println!();
    println!(
        "# The test cluster of {} is up at {}.",
        args.scenario.display(),
        tc.api.url
    );
    println!("# In another shell, paste the export lines above, then try:");
    println!("kubectl get prometheuses,servicemonitors -A");
    println!("kubectl get svc,endpoints -n kube-system");
    if let Some(p) = &prom_pod {
        println!(
            "kubectl get --raw '/api/v1/namespaces/monitoring/pods/{p}:9090/proxy/api/v1/targets?state=active'"
        );
    }
    if tc.etcd_certs_dir.is_some()
        && let Some(p) = &tc.pki
        && let (Some(ca), Some(cert), Some(key)) = (
            p.ca.cert.file_name(),
            p.client.cert.file_name(),
            p.client.key.file_name(),
        )
    {
        println!(
            "kubectl promfix etcd --ca \"$ETCD_CERTS_DIR/{}\" --cert \"$ETCD_CERTS_DIR/{}\" --key \"$ETCD_CERTS_DIR/{}\"",
            ca.to_string_lossy(),
            cert.to_string_lossy(),
            key.to_string_lossy()
        );
    }
    if let Some(p) = &prom_pod {
        println!(
            "kubectl exec -n monitoring {p} -c prometheus -- ls /etc/prometheus/secrets/etcd-client-cert/"
        );
    }
    println!("kubectl promfix verify");
    println!("# Ctrl-C stops everything this started.");
    wait_for_signal().await;
    eprintln!("stopping ...");
    drop(tc);
    Ok(())
}

/// `--real`: the scenario on the real control plane, until Ctrl-C.
async fn serve_real(args: &Args) -> Result<()> {
    use promfix_testcluster::real::{RealCluster, RealOptions};
    let rc = RealCluster::start(&args.scenario, RealOptions::default())
        .await
        .with_context(|| {
            format!(
                "starting {} on the real control plane",
                args.scenario.display()
            )
        })?;
    println!("export KUBECONFIG={}", rc.kubeconfig().display());
    if let Some(d) = &rc.etcd_certs_dir {
        println!("export ETCD_CERTS_DIR={}", d.display());
    }
    println!();
    println!(
        "# {} is up on the real control plane at {} (network namespace {}; started in {:.1} s).",
        args.scenario.display(),
        rc.cp.server,
        rc.cp.ns.name,
        rc.cp.started_in.as_secs_f64()
    );
    println!("# Component logs: {}/logs", rc.cp.dir().display());
    println!("# In another shell, paste the export lines above, then try:");
    println!("kubectl version");
    println!("kubectl get --raw '/livez?verbose'");
    println!("kubectl get prometheuses,servicemonitors,statefulsets -A");
    println!("kubectl get svc,endpoints,endpointslices -n kube-system");
    if let Some(p) = &rc.pki
        && let (Some(ca), Some(cert), Some(key)) = (
            p.ca.cert.file_name(),
            p.client.cert.file_name(),
            p.client.key.file_name(),
        )
    {
        println!(
            "kubectl promfix etcd --ca \"$ETCD_CERTS_DIR/{}\" --cert \"$ETCD_CERTS_DIR/{}\" --key \"$ETCD_CERTS_DIR/{}\" --no-verify",
            ca.to_string_lossy(),
            cert.to_string_lossy(),
            key.to_string_lossy()
        );
    }
    println!("# Ctrl-C stops everything this started and removes the namespace.");
    wait_for_signal().await;
    eprintln!("stopping ...");
    drop(rc);
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // No signal handling: serve until killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn first_prometheus_pod(tc: &TestCluster) -> Option<String> {
    let p = tc.scenario.objects_of("Prometheus").next()?;
    Some(format!("prometheus-{}-0", p["metadata"]["name"].as_str()?))
}

fn kubectl(tc: &TestCluster, args: &[&str]) -> Result<String> {
    let out = Command::new("kubectl")
        .env("KUBECONFIG", &tc.kubeconfig)
        .args(args)
        .output()
        .context("running kubectl (is it on PATH?)")?;
    if !out.status.success() {
        bail!(
            "kubectl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The etcd targets' health as Prometheus reports them.
fn etcd_targets(tc: &TestCluster, pod: &str) -> Result<Vec<(String, String, String)>> {
    let path =
        format!("/api/v1/namespaces/monitoring/pods/{pod}:9090/proxy/api/v1/targets?state=active");
    let v: Value = serde_json::from_str(&kubectl(tc, &["get", "--raw", &path])?)?;
    Ok(v["data"]["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["scrapePool"].as_str().is_some_and(|p| p.contains("etcd")))
        .map(|t| {
            (
                t["scrapeUrl"].as_str().unwrap_or("").to_string(),
                t["health"].as_str().unwrap_or("").to_string(),
                t["lastError"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect())
}

fn show_targets(t: &[(String, String, String)]) {
    if t.is_empty() {
        println!(
            "    (no etcd target at all: the Service's selector matches no pod, so its Endpoints are empty)"
        );
    }
    for (url, health, err) in t {
        println!("    {health:<7} {url} {err}");
    }
}

async fn demo(tc: &TestCluster, pod: Option<&str>) -> Result<()> {
    let pod = pod.context("the demo needs a scenario with a Prometheus resource")?;
    let certs = tc
        .etcd_certs_dir
        .clone()
        .context("the demo needs a scenario with etcd members")?;
    println!("\n== 1. The seed's cluster: Prometheus scrapes no etcd target");
    tc.wait_prometheus_ready(Duration::from_secs(120)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    show_targets(&etcd_targets(tc, pod)?);

    // The files the kube-apiserver itself uses (kubespray: node-<host>.pem), as the seed did.
    let pki = tc
        .pki
        .as_ref()
        .context("the demo needs generated etcd certificates")?;
    let rel = |p: &std::path::Path| {
        p.strip_prefix(&certs)
            .map(|r| format!("$ETCD_CERTS_DIR/{}", r.display()))
            .unwrap_or_else(|_| p.display().to_string())
    };
    println!(
        "\n== 2. kubectl promfix etcd --ca {} --cert {} --key {} --yes",
        rel(&pki.ca.cert),
        rel(&pki.client.cert),
        rel(&pki.client.key)
    );
    let status = Command::new("kubectl")
        .env("KUBECONFIG", &tc.kubeconfig)
        .args(["promfix", "etcd", "--ca"])
        .arg(&pki.ca.cert)
        .arg("--cert")
        .arg(&pki.client.cert)
        .arg("--key")
        .arg(&pki.client.key)
        .args(["--yes", "--backup-dir"])
        .arg(tc.dir())
        .status()
        .context("running kubectl promfix (is kubectl-promfix on PATH? tests/sandbox builds it)")?;
    if !status.success() {
        bail!("kubectl promfix etcd failed ({status})");
    }

    println!("\n== 3. The Prometheus pods roll; the files are mounted");
    tc.wait_for(
        "the Prometheus pods to roll",
        Duration::from_secs(240),
        |s| {
            let pods = s.rt("pods");
            let (all, _) = s.list(&pods, Some("monitoring"));
            let rolled = all
                .iter()
                .filter(|p| p["metadata"]["labels"]["prometheus"].is_string())
                .all(|p| {
                    promfix_testcluster::harness::is_ready(p)
                        && p["spec"]["volumes"]
                            .to_string()
                            .contains("etcd-client-cert")
                });
            rolled.then_some(())
        },
    )
    .await?;
    tc.wait_prometheus_ready(Duration::from_secs(120)).await?;
    for p in [
        pod.to_string(),
        pod.trim_end_matches("-0").to_string() + "-1",
    ] {
        println!(
            "    $ kubectl exec {p} -n monitoring -c prometheus -- ls /etc/prometheus/secrets/etcd-client-cert/"
        );
        let args = [
            "exec",
            &p,
            "-n",
            "monitoring",
            "-c",
            "prometheus",
            "--",
            "ls",
            "/etc/prometheus/secrets/etcd-client-cert/",
        ];
        let out = kubectl(tc, &args)?;
        println!(
            "    {}",
            out.split_whitespace().collect::<Vec<_>>().join("  ")
        );
    }

    println!("\n== 4. Prometheus scrapes etcd over mTLS");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let t = etcd_targets(tc, pod)?;
        if !t.is_empty() && t.iter().all(|(_, h, _)| h == "up") {
            show_targets(&t);
            println!("\nAll etcd targets are up.");
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            show_targets(&t);
            bail!("the etcd targets did not turn up within 2 minutes");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
