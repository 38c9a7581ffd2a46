//! Issue 14, item 4 (PrometheusAgent), on the real control plane: the real Prometheus Operator
//! runs a PrometheusAgent (`monitoring.coreos.com/v1alpha1`) as its StatefulSet
//! `prom-agent-<name>`, whose pod the node agent runs with Prometheus 3 in agent mode
//! (`--agent`, as the operator's arguments say). Beside the seed's Prometheus, the agent selects
//! the same ServiceMonitors; `etcd --prometheus agent` lists the Secret in the agent's
//! spec.secrets (not the Prometheus'), the operator rolls the agent's pod, and verify finds the
//! files there and every etcd target up in the agent's own targets API. `verify` and `doctor`
//! read the agent too.

mod common_real;

use common_real::*;
use promfix_testcluster::real::RealOptions;
use serde_json::{Value, json};

const NS: &str = "monitoring";
const PROMETHEUS: &str = "prom-prometheus-operator-prometheus";
const AGENT: &str = "agent";
const POD: &str = "prom-agent-agent-0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_agent_is_fixed_and_verified() {
    let rc = start(A, RealOptions::default()).await;
    let cwd = tempfile::tempdir().unwrap();
    let prom = get(&rc, &["prometheus", "-n", NS, PROMETHEUS]).unwrap();
    let spec = &prom["spec"];
    let agent = json!({
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "PrometheusAgent",
        "metadata": {"name": AGENT, "namespace": NS},
        "spec": {
            "serviceAccountName": spec["serviceAccountName"],
            "serviceMonitorSelector": spec["serviceMonitorSelector"],
            "serviceMonitorNamespaceSelector": spec["serviceMonitorNamespaceSelector"],
            "version": "v3.16.0",
            "replicas": 1,
        }
    });
    let f = cwd.path().join("agent.json");
    std::fs::write(&f, agent.to_string()).unwrap();
    rc.cp
        .kubectl_ok(&["apply", "-f", &f.display().to_string()])
        .unwrap();
    rc.wait_for(
        "the agent's pod Ready",
        std::time::Duration::from_secs(180),
        || async {
            let pod = get(&rc, &["pod", "-n", NS, POD]);
            let ready = pod.as_ref().is_some_and(|p| {
                p["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            });
            Ok(ready.then_some(()))
        },
    )
    .await
    .unwrap_or_else(|e| {
        let pods = rc.cp.kubectl_ok(&["get", "pods", "-A", "-o", "wide"]);
        panic!("the agent's pod: {e:#}\n{pods:?}")
    });

    // Without --prometheus and no terminal, the choice is the user's: both are named.
    let mut args = vec!["etcd".to_string()];
    args.extend(rc.kubespray_cert_args());
    let run = plugin(
        &rc,
        cwd.path(),
        &[args.clone(), vec!["--dry-run".into()]].concat(),
    );
    assert_ne!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains(&format!("PrometheusAgent {NS}/{AGENT}"))
            && run.stderr.contains(&format!("{NS}/{PROMETHEUS}")),
        "{}",
        run.stderr
    );

    let backups = cwd.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    args.extend([
        "--backup-dir".into(),
        backups.display().to_string(),
        "--prometheus".into(),
        AGENT.into(),
        "--yes".into(),
        "--timeout".into(),
        "4m".into(),
    ]);
    let run = plugin(&rc, cwd.path(), &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let out = format!("{}{}", run.stdout, run.stderr);
    assert!(
        out.contains(&format!("PrometheusAgent {NS}/{AGENT}")),
        "the plan names the agent: {out}"
    );
    // The seed's Prometheus selects the etcd ServiceMonitor too, without the Secret: the plan
    // says its etcd scrapes fail (they do, below: doctor counts 3 of 6 up).
    assert!(
        out.contains(&format!(
            "warning: Prometheus {NS}/{PROMETHEUS} selects ServiceMonitor {NS}/prom-prometheus-operator-kube-etcd too, and does not mount Secret etcd-client-cert"
        )),
        "the plan warns of the Prometheus left without the files: {out}"
    );
    let agent_now = get(&rc, &["prometheusagent", "-n", NS, AGENT]).unwrap();
    assert_eq!(
        agent_now["spec"]["secrets"],
        json!(["etcd-client-cert"]),
        "{agent_now:#}"
    );
    let prom_now = get(&rc, &["prometheus", "-n", NS, PROMETHEUS]).unwrap();
    assert_eq!(prom_now["spec"]["secrets"], prom["spec"]["secrets"]);

    // The agent's own targets API: the three members, over mTLS, up.
    let want = etcd_member_urls(&rc);
    wait_targets_up(
        &rc,
        NS,
        POD,
        "kube-etcd",
        &want,
        std::time::Duration::from_secs(120),
    )
    .await;

    // verify of the agent alone: its pod, the files, the targets.
    let v = plugin(
        &rc,
        cwd.path(),
        &[
            "verify",
            "--prometheus",
            AGENT,
            "--timeout",
            "2m",
            "-o",
            "json",
        ],
    );
    assert_eq!(v.code, 0, "{}\n{}", v.stdout, v.stderr);
    let doc: Value = serde_json::from_str(&v.stdout).unwrap();
    let pods: Vec<&str> = doc
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["pod"].as_str())
        .collect();
    assert_eq!(pods, [POD], "{doc:#}");

    // doctor reads the agent's targets too, and names it.
    let doc = doctor_doc(&rc, cwd.path());
    let names = doc["prometheus"].as_array().cloned().unwrap_or_default();
    assert!(
        names.contains(&json!(format!("{NS}/{AGENT} (PrometheusAgent)")))
            && names.contains(&json!(format!("{NS}/{PROMETHEUS}"))),
        "{doc:#}"
    );
    let etcd = doctor_row(&doc, "etcd");
    // Both select the etcd ServiceMonitor: the agent, fixed, scrapes the three members; the
    // Prometheus, which does not mount the Secret, does not. doctor counts the targets of both.
    assert_eq!(
        (&etcd["up"], &etcd["total"]),
        (&json!(3), &json!(6)),
        "{etcd:#}"
    );
    // Their failures are the Prometheus', which does not mount the Secret: the cause says so
    // (not a certificate that does not match) and the fix names it.
    let cause = etcd["cause"].as_str().unwrap_or("");
    assert!(
        cause.starts_with(&format!(
            "Prometheus {NS}/{PROMETHEUS} does not mount the Secret"
        )),
        "{etcd:#}"
    );
    assert_eq!(
        etcd["fix"][0],
        json!(format!(
            "kubectl promfix etcd -n {NS} --prometheus {PROMETHEUS} (mounts Secret etcd-client-cert in it)"
        )),
        "{etcd:#}"
    );

    // What the warning says of the Prometheus, as Prometheus 3 does it: its reload fails (the
    // etcd job's client cannot read the CA file it does not mount) and it keeps the old scrape.
    let metrics =
        format!("/api/v1/namespaces/{NS}/pods/prometheus-{PROMETHEUS}-0:9090/proxy/metrics");
    rc.wait_for(
        "the unfixed Prometheus reporting a failed reload",
        std::time::Duration::from_secs(120),
        || async {
            let m = rc.cp.kubectl_ok(&["get", "--raw", &metrics])?;
            Ok(m.lines()
                .any(|l| l == "prometheus_config_last_reload_successful 0")
                .then_some(()))
        },
    )
    .await
    .unwrap();
    let old = targets(&rc, NS, &format!("prometheus-{PROMETHEUS}-0"), "kube-etcd").unwrap();
    assert!(
        !old.is_empty()
            && old
                .iter()
                .all(|(url, h, _)| url.starts_with("http://") && h != "up"),
        "the Prometheus keeps its old etcd scrape: {old:?}"
    );

    // rollback undoes the fix made to the agent (its spec.secrets), as it was.
    let backup = std::fs::read_dir(&backups)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "yaml"))
        .expect("the fix's backup");
    let r = plugin(
        &rc,
        cwd.path(),
        &["rollback", &backup.display().to_string(), "--yes"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let agent_after = get(&rc, &["prometheusagent", "-n", NS, AGENT]).unwrap();
    assert!(
        agent_after["spec"].get("secrets").is_none(),
        "{agent_after:#}"
    );
}
