//! `tests/sandbox [SCENARIO.yaml] [--demo] [--stand-in] [--nodes N]`: start a test cluster from a
//! scenario (default: scenario a, the seed's layout) on the real control plane (kube-apiserver,
//! kube-controller-manager, kube-scheduler, etcd, the Prometheus Operator and Prometheus 3, built
//! by `tests/k8s/build`, in a network namespace of its own), print the shell lines to use it,
//! and serve until SIGINT/SIGTERM. `--demo` plays the seed's story end to end on it and exits:
//! no etcd target, `kubectl promfix etcd`, the files mounted in both replicas, every target up.
//! `--stand-in` (and `--nodes N`, the generated kubeadm cluster of `scale.rs`) start the
//! project's own stand-in API server instead, until the move to the real one is complete.

use anyhow::{Context, Result, bail};
use promfix_testcluster::harness::{Options, TestCluster};
use promfix_testcluster::sandbox::shell_lines;
use std::path::PathBuf;

mod demo;

const DEFAULT: &str = "a-seed-stable-prometheus-operator.yaml";

struct Args {
    scenario: PathBuf,
    demo: bool,
    net: u8,
    nodes: Option<usize>,
    stand_in: bool,
}

fn usage() -> &'static str {
    "usage: tests/sandbox [SCENARIO.yaml] [--demo] [--stand-in [--net N]] [--nodes N]\n\
     Starts a test cluster (default: scenario a, the seed's layout) on the real control plane\n\
     (kube-apiserver, kube-controller-manager, kube-scheduler, etcd, the Prometheus Operator and\n\
     Prometheus 3, built by tests/k8s/build) in a network namespace of its own, and serves until Ctrl-C.\n\
     --demo      play the seed's story end to end (no etcd target, kubectl promfix etcd, files, targets up), then exit\n\
     --stand-in  the project's own stand-in API server instead (loopback addresses)\n\
     --net N     with --stand-in: the loopback range 127.N.0.0/16 (default 0: the scenario's addresses)\n\
     --nodes N   with the stand-in: a kubeadm cluster of N nodes with kube-prometheus-stack (1 to 62500; try 5000 with kubectl promfix doctor)"
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        scenario: promfix_testcluster::scenario::builtin_path(DEFAULT),
        demo: false,
        net: 0,
        nodes: None,
        stand_in: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--demo" => a.demo = true,
            "--stand-in" => a.stand_in = true,
            // The default now; kept so that older notes' command lines still work.
            "--real" => a.stand_in = false,
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
    if args.nodes.is_some() {
        args.stand_in = true;
    }
    if args.demo && args.stand_in {
        bail!(
            "--demo plays scenario a on the real control plane; it does not go with --stand-in or --nodes"
        );
    }
    if !args.stand_in {
        return serve_real(&args).await;
    }
    // A generated scenario lives in a temporary file for as long as the cluster runs.
    let _generated = match args.nodes {
        Some(n) => {
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
    let lines = shell_lines(
        &tc.kubeconfig,
        tc.etcd_certs_dir.as_deref(),
        tc.pki.as_ref(),
    );
    for l in &lines.exports {
        println!("{l}");
    }
    let prom_pod = first_prometheus_pod(&tc);
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
    if let Some(p) = prom_pod.as_ref().filter(|_| tc.pki.is_some()) {
        println!(
            "kubectl exec -n monitoring {p} -c prometheus -- ls /etc/prometheus/secrets/etcd-client-cert/"
        );
    }
    for l in &lines.promfix {
        println!("{l}");
    }
    println!("# Ctrl-C stops everything this started.");
    wait_for_signal().await;
    eprintln!("stopping ...");
    drop(tc);
    Ok(())
}

/// `--real`: the scenario on the real control plane, until Ctrl-C.
async fn serve_real(args: &Args) -> Result<()> {
    use promfix_testcluster::real::{RealCluster, RealOptions};
    eprintln!(
        "starting {} on the real control plane (kube-apiserver, etcd, controllers, the operator, the node agent) ...",
        args.scenario.display()
    );
    let rc = RealCluster::start(&args.scenario, RealOptions::default())
        .await
        .with_context(|| {
            format!(
                "starting {} on the real control plane",
                args.scenario.display()
            )
        })?;
    let lines = shell_lines(
        rc.kubeconfig(),
        rc.etcd_certs_dir.as_deref(),
        rc.pki.as_ref(),
    );
    for l in &lines.exports {
        println!("{l}");
    }
    if args.demo {
        let r = demo::play(&rc).await;
        drop(rc);
        return r;
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
    for p in demo::prometheus_pods(&rc.scenario).iter().take(1) {
        println!(
            "kubectl get --raw '/api/v1/namespaces/{}/pods/{}:9090/proxy/api/v1/targets?state=active'",
            p.0, p.1
        );
        if rc.pki.is_some() {
            println!(
                "kubectl exec -n {} {} -c prometheus -- ls /etc/prometheus/secrets/etcd-client-cert/",
                p.0, p.1
            );
        }
    }
    for l in &lines.promfix {
        println!("{l}");
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
