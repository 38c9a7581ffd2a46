//! The control-plane story on the real control plane (scenario e-control-plane-bind-address):
//! kubeadm's kube-scheduler and kube-controller-manager run as static pods of node1 (the node
//! agent runs the real binaries from `/etc/kubernetes/manifests` with their flags, in the node's
//! host network, and creates their mirror pods with the node's identity). Their ServiceMonitors
//! already scrape the secure ports, but `--bind-address=127.0.0.1` keeps them off the node IP:
//! the real Prometheus gets connection refused, `doctor` names the bind address from the mirror
//! pods, `control-plane` prints the manifest edit, the test makes it in the manifest files as an
//! operator does, the agent restarts the components with the new flags, and the targets come up
//! (the secure ports authenticate Prometheus' service-account token by TokenReview and authorize
//! `get /metrics` by SubjectAccessReview: the chart's ClusterRole).

mod common_real;

use common_real::*;
use promfix_testcluster::real::{RealCluster, RealOptions};
use serde_json::Value;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const SCENARIO: &str = "e-control-plane-bind-address";
const PROM_NS: &str = "monitoring";
const POD: &str = "prometheus-prometheus-kube-prometheus-prometheus-0";
const COMPONENTS: [(&str, u16); 2] = [
    ("kube-scheduler", 10259),
    ("kube-controller-manager", 10257),
];

/// `doctor -o json` through the request-logging proxy: what it asked of the Prometheus pod
/// (`path?query` after `.../proxy`).
fn doctor_reads(rc: &RealCluster, cwd: &std::path::Path) -> Vec<String> {
    rc.faults().clear_log();
    let run = plugin_with(&rc.proxy_kubeconfig, cwd, None, &["doctor", "-o", "json"]);
    serde_json::from_str::<Value>(&run.stdout)
        .unwrap_or_else(|e| panic!("doctor -o json is not JSON ({e}): {}", run.stdout));
    rc.faults()
        .log()
        .into_iter()
        .filter_map(|e| {
            let (_, rest) = e.path.split_once(&format!("/pods/{POD}:9090/proxy"))?;
            Some(format!("{rest}?{}", e.query))
        })
        .collect()
}

/// The targets doctor read: each request's scrapePool, or None for the whole answer.
fn pools_read(reads: &[String]) -> Vec<Option<String>> {
    reads
        .iter()
        .filter(|r| r.starts_with("/api/v1/targets"))
        .map(|r| {
            r.split(['?', '&'])
                .find_map(|kv| kv.strip_prefix("scrapePool="))
                .map(|p| p.replace("%2F", "/"))
        })
        .collect()
}

/// node1's InternalIP (the scenario's 127.0.2.11 on the real control plane).
fn node1_ip(rc: &RealCluster) -> Ipv4Addr {
    rc.cp.ns.addr(11)
}

fn mirror(rc: &RealCluster, c: &str) -> Option<Value> {
    get(rc, &["pod", "-n", "kube-system", &format!("{c}-node1")])
}

fn annotation<'a>(pod: &'a Value, k: &str) -> &'a str {
    pod["metadata"]["annotations"][k].as_str().unwrap_or("")
}

/// The end of the logs of `c`'s static pod containers and of the file source, for a failure's
/// message.
fn static_pod_logs(rc: &RealCluster, c: &str) -> String {
    let agent = rc.agent.as_ref().unwrap();
    let root = agent.node_root("node1");
    let mut out = String::new();
    let logs = root.join("var/log/pods");
    let mut dirs: Vec<_> = std::fs::read_dir(&logs)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(&format!("_{c}-node1_")))
        })
        .collect();
    dirs.sort();
    for d in dirs {
        for f in walk(&d) {
            out.push_str(&format!(
                "--- {}\n{}\n",
                f.display(),
                promfix_testcluster::peers::log_tail(&f, 25)
            ));
        }
    }
    let src = root.join("var/log/kubelet-static-pods.log");
    out.push_str(&format!(
        "--- {}\n{}\n",
        src.display(),
        promfix_testcluster::peers::log_tail(&src, 25)
    ));
    out
}

fn walk(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Wait until every target of `job` satisfies `f(scrapeUrl, health, lastError)`.
async fn wait_targets(
    rc: &RealCluster,
    job: &str,
    what: &str,
    timeout: Duration,
    f: impl Fn(&str, &str, &str) -> bool,
) -> Vec<(String, String, String)> {
    let r = rc
        .wait_for(&format!("the {job} targets: {what}"), timeout, || async {
            Ok(targets(rc, PROM_NS, POD, job)
                .filter(|t| !t.is_empty() && t.iter().all(|(u, h, e)| f(u, h, e))))
        })
        .await;
    match r {
        Ok(t) => t,
        Err(e) => panic!(
            "{e:#}\nlast seen: {:?}\n{}",
            targets(rc, PROM_NS, POD, job),
            static_pod_logs(rc, job)
        ),
    }
}

/// `doctor -o json` until `c`'s row has status `want`; the row.
async fn wait_doctor_row(rc: &RealCluster, cwd: &std::path::Path, c: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = plugin(rc, cwd, &["doctor", "-o", "json"]);
        let v: Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("doctor -o json is not JSON ({e}): {}", run.stdout));
        let row = v["clusters"][0]["rows"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["component"] == c))
            .cloned()
            .unwrap_or_else(|| panic!("no {c} row: {v:#}"));
        if row["status"] == want {
            return row;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for doctor's {c} row to be {want}; last: {row:#}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Whether something accepts TCP connections on `ip:port` (from the host, as Prometheus'
/// pods reach node IPs).
fn listens(ip: Ipv4Addr, port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&(ip, port).into(), Duration::from_secs(2)).is_ok()
}

/// Wait until `c`'s mirror pod is a new one (not `old_uid`) with its hash, Ready.
async fn wait_new_mirror(rc: &RealCluster, c: &str, old_uid: &str) -> Value {
    let r = rc
        .wait_for(
            &format!("{c}'s new mirror pod, Ready"),
            Duration::from_secs(120),
            || async {
                Ok(mirror(rc, c).filter(|p| {
                    p["metadata"]["uid"] != old_uid
                        && p["status"]["conditions"].as_array().is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        })
                }))
            },
        )
        .await;
    r.unwrap_or_else(|e| panic!("{e:#}\n{}", static_pod_logs(rc, c)))
}

/// Make the node-side edits `control-plane -o json` printed (`nodeEdits`) as an operator makes
/// them: in each named manifest on its node, the printed old line (which must be one of the
/// file's lines, exactly once) replaced by the new one.
fn apply_node_edits(rc: &RealCluster, edits: &[Value]) {
    for e in edits {
        let (node, file) = (e["node"].as_str().unwrap(), e["file"].as_str().unwrap());
        assert_eq!(node, "node1");
        let name = file
            .strip_prefix("/etc/kubernetes/manifests/")
            .and_then(|f| f.strip_suffix(".yaml"))
            .unwrap_or_else(|| panic!("not a static pod manifest: {file}"));
        let path = rc.static_pod_manifest(node, name);
        let text = std::fs::read_to_string(&path).unwrap();
        let (old, new) = (
            e["old_line"].as_str().unwrap(),
            e["new_line"].as_str().unwrap(),
        );
        let hits = text.lines().filter(|l| *l == old).count();
        assert_eq!(
            hits,
            1,
            "the printed line {old:?} is a line of {}:\n{text}",
            path.display()
        );
        let edited: String = text
            .lines()
            .map(|l| if l == old { new } else { l })
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&path, edited).unwrap();
    }
}

/// `c`'s mirror pod once it is Ready.
async fn ready_mirror(rc: &RealCluster, c: &str) -> Value {
    rc.wait_for(
        &format!("{c}'s mirror pod, Ready"),
        Duration::from_secs(120),
        || async {
            Ok(mirror(rc, c).filter(|p| {
                p["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            }))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", static_pod_logs(rc, c)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_address_fix_on_the_real_static_pods() {
    let t0 = Instant::now();
    let rc = start(SCENARIO, RealOptions::default()).await;
    eprintln!("cluster up in {:?}", t0.elapsed());
    let ip = node1_ip(&rc);
    let node_uid = get(&rc, &["node", "node1"]).unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();

    // The mirror pods are the agent's: made through the real API with node1's identity (the
    // Node authorizer and NodeRestriction let a node create only such pods), from the manifests.
    let mut old_uids = Vec::new();
    for (c, _) in COMPONENTS {
        let p = ready_mirror(&rc, c).await;
        let hash = annotation(&p, "kubernetes.io/config.hash");
        assert_eq!(hash.len(), 32, "{p:#}");
        assert_eq!(annotation(&p, "kubernetes.io/config.mirror"), hash);
        assert_eq!(annotation(&p, "kubernetes.io/config.source"), "file");
        assert_eq!(
            p["metadata"]["ownerReferences"],
            serde_json::json!([{"apiVersion": "v1", "kind": "Node", "name": "node1",
                                "uid": node_uid, "controller": true}]),
        );
        let fields = get(
            &rc,
            &[
                "pod",
                "-n",
                "kube-system",
                &format!("{c}-node1"),
                "--show-managed-fields",
            ],
        )
        .unwrap()["metadata"]["managedFields"]
            .clone();
        assert_eq!(
            (&fields[0]["manager"], &fields[0]["operation"]),
            (&"kubelet".into(), &"Update".into()),
            "created by the agent (a kubelet's user agent): {fields:#}"
        );
        assert_eq!(p["status"]["podIP"], ip.to_string());
        let cmd = p["spec"]["containers"][0]["command"].to_string();
        assert!(cmd.contains("--bind-address=127.0.0.1"), "{cmd}");
        old_uids.push(p["metadata"]["uid"].as_str().unwrap().to_string());
    }
    // Only one of each: the control plane started none of its own (their leases name the
    // static pods' processes, whose identity is the node's hostname).
    for (c, port) in COMPONENTS {
        assert!(
            !listens(ip, port),
            "{c} is bound to 127.0.0.1: node1's IP refuses"
        );
        assert!(
            !listens(rc.cp.apiserver_ip, port),
            "no second {c} on the API server's address"
        );
    }

    // The real Prometheus sees them down: connection refused on the node IP.
    for (c, port) in COMPONENTS {
        let url = format!("https://{ip}:{port}/metrics");
        wait_targets(
            &rc,
            c,
            "scraped on the node IP and refused",
            Duration::from_secs(180),
            |u, h, e| u == url && h == "down" && e.contains("connection refused"),
        )
        .await;
    }
    let cwd = tempfile::tempdir().unwrap();
    // doctor names the cause from the real mirror pods' flags.
    for (c, _) in COMPONENTS {
        let row = wait_doctor_row(&rc, cwd.path(), c, "problem").await;
        let cause = row["cause"].as_str().unwrap_or("");
        assert!(cause.contains("127.0.0.1 only"), "{row:#}");
        let fixes = row["fix"].to_string();
        assert!(
            fixes.contains(&format!("/etc/kubernetes/manifests/{c}.yaml"))
                && fixes.contains("--bind-address=0.0.0.0"),
            "{row:#}"
        );
    }
    // Prometheus' summary first, then only the pools of the failing components (once every
    // target has been scraped: a target not scraped yet has no `up`, and doctor then reads the
    // whole answer).
    let t0 = Instant::now();
    let reads = loop {
        let reads = doctor_reads(&rc, cwd.path());
        assert!(
            reads.iter().any(|r| r.starts_with("/api/v1/query?query="))
                && reads.iter().any(|r| r.starts_with("/metrics?")),
            "doctor's reads of Prometheus: {reads:?}"
        );
        if pools_read(&reads).iter().all(Option::is_some) {
            break reads;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "doctor still reads the whole targets answer: {reads:?}"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    let pools = pools_read(&reads);
    for c in ["kube-scheduler", "kube-controller-manager"] {
        assert!(
            pools.iter().flatten().any(|p| p.contains(c)),
            "no read of {c}'s pool: {reads:?}"
        );
    }

    // control-plane: nothing to write in the cluster (the monitors are on the secure ports
    // already), the node-side edit printed.
    let bdir = tempfile::tempdir().unwrap();
    let bdir = bdir.path().to_str().unwrap().to_string();
    let run = plugin(
        &rc,
        cwd.path(),
        &[
            "control-plane",
            "--yes",
            "--backup-dir",
            &bdir,
            "-o",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for (c, _) in COMPONENTS {
        assert!(
            run.stderr
                .contains(&format!("node node1: /etc/kubernetes/manifests/{c}.yaml")),
            "{}",
            run.stderr
        );
    }
    // Not "the cluster is already as it should be": the node side is what is left.
    assert!(
        !run.stderr.contains("already as it should be")
            && run.stderr.contains("Nothing this command can change"),
        "{}",
        run.stderr
    );
    let doc: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("control-plane -o json: {e}: {}", run.stdout));
    let edits = doc["nodeEdits"].as_array().cloned().unwrap_or_default();
    assert_eq!(edits.len(), 2, "{doc:#}");
    assert_eq!(doc["notFixed"].as_array().map(Vec::len), Some(2), "{doc:#}");

    // The edit, made as an operator makes it: the printed line replaced in the file on node1.
    apply_node_edits(&rc, &edits);

    // The agent stops each component, makes a new mirror pod (new hash, new UID) and starts it
    // with the new flags; Prometheus' scrapes then pass the real delegated authentication and
    // authorization.
    for ((c, port), old_uid) in COMPONENTS.iter().zip(&old_uids) {
        let p = wait_new_mirror(&rc, c, old_uid).await;
        let cmd = p["spec"]["containers"][0]["command"].to_string();
        assert!(cmd.contains("--bind-address=0.0.0.0"), "{cmd}");
        assert_eq!(
            annotation(&p, "kubernetes.io/config.mirror"),
            annotation(&p, "kubernetes.io/config.hash")
        );
        let url = format!("https://{ip}:{port}/metrics");
        wait_targets(
            &rc,
            c,
            "up on the node IP's secure port",
            Duration::from_secs(180),
            |u, h, _| u == url && h == "up",
        )
        .await;
    }
    for (c, _) in COMPONENTS {
        let row = wait_doctor_row(&rc, cwd.path(), c, "ok").await;
        assert_eq!(
            (&row["up"], &row["total"]),
            (&1.into(), &1.into()),
            "{row:#}"
        );
    }
    // Up now: their pools are no longer read (what still fails is, from the summary).
    let reads = doctor_reads(&rc, cwd.path());
    let pools = pools_read(&reads);
    assert!(
        !pools
            .iter()
            .flatten()
            .any(|p| p.contains("scheduler") || p.contains("controller-manager")),
        "doctor read the targets of components that are up: {reads:?}"
    );
    // Nothing left to print.
    let run = plugin(
        &rc,
        cwd.path(),
        &["control-plane", "--yes", "--backup-dir", &bdir],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("node node1:"), "{}", run.stdout);

    // A mirror pod deleted through the API comes back (a new UID, the same hash) while the
    // static pod runs on: the kubelet recreates mirror pods, it does not restart for them.
    let before = mirror(&rc, "kube-scheduler").unwrap();
    let started = before["status"]["containerStatuses"][0]["state"]["running"]["startedAt"].clone();
    rc.cp
        .kubectl_ok(&[
            "delete",
            "pod",
            "-n",
            "kube-system",
            "kube-scheduler-node1",
            "--wait=false",
        ])
        .unwrap();
    let again = wait_new_mirror(
        &rc,
        "kube-scheduler",
        before["metadata"]["uid"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        annotation(&again, "kubernetes.io/config.hash"),
        annotation(&before, "kubernetes.io/config.hash")
    );
    assert_eq!(
        again["status"]["containerStatuses"][0]["state"]["running"]["startedAt"], started,
        "the same process: {again:#}"
    );
    assert!(listens(ip, 10259));

    // A manifest that goes (moved aside: dot files are not read) removes the pod; one that
    // does not parse keeps it away; the file back brings it back.
    let sched = rc.static_pod_manifest("node1", "kube-scheduler");
    let aside = sched.with_file_name(".kube-scheduler.yaml.bak");
    std::fs::rename(&sched, &aside).unwrap();
    rc.wait_for(
        "the scheduler's mirror pod and process gone",
        Duration::from_secs(60),
        || async {
            Ok((mirror(&rc, "kube-scheduler").is_none() && !listens(ip, 10259)).then_some(()))
        },
    )
    .await
    .unwrap();
    std::fs::write(&sched, "apiVersion: v1\nkind: Pod\nmetadata: [\n").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(mirror(&rc, "kube-scheduler").is_none());
    std::fs::rename(&aside, &sched).unwrap();
    rc.wait_for("the scheduler back", Duration::from_secs(90), || async {
        Ok((mirror(&rc, "kube-scheduler").is_some() && listens(ip, 10259)).then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", static_pod_logs(&rc, "kube-scheduler")));
    eprintln!("done in {:?}", t0.elapsed());
}

/// Scenario f-control-plane (a chart install from before 1.23): the monitors still scrape the
/// insecure ports 10251/10252, which v1.37 components do not have. `control-plane` moves the
/// Services and ServiceMonitors to the secure ports through the real API; the scrapes then reach
/// the right ports and are still refused (loopback bind), until the printed manifest edit.
/// Rollback puts the cluster side back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_ports_then_bind_address_on_the_real_static_pods() {
    let t0 = Instant::now();
    let rc = start("f-control-plane", RealOptions::default()).await;
    let ip = node1_ip(&rc);
    let mut old_uids = Vec::new();
    for (c, _) in COMPONENTS {
        let p = ready_mirror(&rc, c).await;
        old_uids.push(p["metadata"]["uid"].as_str().unwrap().to_string());
    }
    for (c, port) in [
        ("kube-scheduler", 10251),
        ("kube-controller-manager", 10252),
    ] {
        let url = format!("http://{ip}:{port}/metrics");
        wait_targets(
            &rc,
            c,
            "scraped on the insecure port and refused",
            Duration::from_secs(180),
            |u, h, e| u == url && h == "down" && e.contains("connection refused"),
        )
        .await;
    }
    let svc = |c: &str| {
        get(
            &rc,
            &[
                "service",
                "-n",
                "kube-system",
                &format!("prometheus-kube-prometheus-{c}"),
            ],
        )
        .unwrap()
    };
    let before: Vec<Value> = COMPONENTS
        .iter()
        .map(|(c, _)| svc(c)["spec"].clone())
        .collect();
    let cwd = tempfile::tempdir().unwrap();
    let bdir = tempfile::tempdir().unwrap();
    let bdir_s = bdir.path().to_str().unwrap().to_string();
    let run = plugin(
        &rc,
        cwd.path(),
        &[
            "control-plane",
            "--yes",
            "--backup-dir",
            &bdir_s,
            "-o",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("control-plane -o json: {e}: {}", run.stdout));
    assert_eq!(doc["applied"].as_array().map(Vec::len), Some(4), "{doc:#}");
    let edits = doc["nodeEdits"].as_array().cloned().unwrap_or_default();
    assert_eq!(edits.len(), 2, "{doc:#}");
    for ((c, port), _) in COMPONENTS.iter().zip(&before) {
        assert_eq!(svc(c)["spec"]["ports"][0]["targetPort"], *port);
        let url = format!("https://{ip}:{port}/metrics");
        wait_targets(
            &rc,
            c,
            "scraped on the secure port, bound to loopback",
            Duration::from_secs(120),
            |u, h, e| u == url && h == "down" && e.contains("connection refused"),
        )
        .await;
        let row = wait_doctor_row(&rc, cwd.path(), c, "problem").await;
        assert!(
            row["cause"]
                .as_str()
                .unwrap_or("")
                .contains("127.0.0.1 only"),
            "{row:#}"
        );
    }
    apply_node_edits(&rc, &edits);
    for ((c, port), old_uid) in COMPONENTS.iter().zip(&old_uids) {
        wait_new_mirror(&rc, c, old_uid).await;
        let url = format!("https://{ip}:{port}/metrics");
        wait_targets(
            &rc,
            c,
            "up on the node IP's secure port",
            Duration::from_secs(180),
            |u, h, _| u == url && h == "up",
        )
        .await;
        let row = wait_doctor_row(&rc, cwd.path(), c, "ok").await;
        assert_eq!(
            (&row["up"], &row["total"]),
            (&1.into(), &1.into()),
            "{row:#}"
        );
    }
    // Rollback puts the Services and ServiceMonitors back (the node edit is the operator's).
    let backups: Vec<_> = std::fs::read_dir(bdir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let b = backups[0].to_str().unwrap().to_string();
    let run = plugin(
        &rc,
        cwd.path(),
        &["rollback", &b, "--yes", "--backup-dir", &bdir_s],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for ((c, _), b) in COMPONENTS.iter().zip(&before) {
        let after = svc(c)["spec"].clone();
        assert_eq!(after["ports"], b["ports"], "{c}");
    }
    eprintln!("done in {:?}", t0.elapsed());
}
