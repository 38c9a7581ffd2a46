//! Issue 13, item 5: what the probe of the members learns goes into the plan. On the real
//! control plane, with real etcd members whose client-serving certificates carry only a DNS
//! name (a PKI made for clients that reach etcd by name) and a plain-http metrics listener:
//! - the fix probes the members, finds that every certificate names `etcd.example.internal`
//!   and none the addresses, and writes `serverName` with it, so the real Prometheus 3 scrapes
//!   every member up;
//! - pointed at the plain-http port, it refuses to write `scheme: https` there, and writes
//!   nothing.

mod common_real;

use common_real::*;
use promfix_testcluster::real::{RealCluster, RealOptions};
use std::time::Duration;

const NS: &str = "monitoring";
const SERVICE_MONITOR: &str = "prom-prometheus-operator-kube-etcd";
const STS: &str = "prometheus-prom-prometheus-operator-prometheus";
const NAME: &str = "etcd.example.internal";

/// The seed's scenario, with member certificates made for `NAME` and a metrics listener on
/// 2381 (plain http) beside the TLS client port.
async fn start_named(dir: &std::path::Path) -> RealCluster {
    let certs = "    certDir: /etc/ssl/etcd/ssl\n";
    let edited =
        format!("{certs}    servingNames: [{NAME}]\n    metricsURL: http://127.0.2.11:2381\n");
    start_edited(A, &[(certs, &edited)], dir, RealOptions::default()).await
}

fn member_ips(rc: &RealCluster) -> Vec<String> {
    let etcd = rc.etcd.as_ref().expect("the scenario's etcd members run");
    etcd.members.iter().map(|m| m.ip.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_gives_the_plan_the_name_the_certificates_carry_and_refuses_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let rc = start_named(dir.path()).await;
    let cwd = tempfile::tempdir().unwrap();
    let ips = member_ips(&rc);
    let sm_before = get(&rc, &["servicemonitor", "-n", NS, SERVICE_MONITOR]).unwrap();
    let certs = rc.kubespray_cert_args();

    // The plain-http metrics listener: every member answers HTTP, so a TLS scrape cannot work
    // there. The plan is refused before anything is written.
    let mut args: Vec<&str> = vec!["etcd"];
    args.extend(certs.iter().map(String::as_str));
    let list = ips.join(",");
    args.extend(["--endpoints", &list, "--port", "2381", "--yes"]);
    let run = plugin(&rc, cwd.path(), &args);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("every etcd member answered plain HTTP on port 2381")
            && run.stderr.contains("nothing was written"),
        "{}",
        run.stderr
    );
    assert!(
        get(&rc, &["secret", "-n", NS, "etcd-client-cert"]).is_none(),
        "no Secret after a refused plan"
    );
    let sm = get(&rc, &["servicemonitor", "-n", NS, SERVICE_MONITOR]).unwrap();
    assert_eq!(
        sm["metadata"]["resourceVersion"], sm_before["metadata"]["resourceVersion"],
        "the ServiceMonitor is untouched: {sm:#}"
    );

    // The TLS port: the certificates name none of the addresses, all name NAME. The plan takes
    // it as serverName and the real Prometheus scrapes every member up with it (verify, part of
    // the command, waits for that).
    let mut args: Vec<&str> = vec!["etcd"];
    args.extend(certs.iter().map(String::as_str));
    args.push("--yes");
    let run = plugin(&rc, cwd.path(), &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.stderr.matches("is not valid for").count(),
        ips.len(),
        "one probe line per member: {}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("the ServiceMonitor gets serverName: {NAME}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .contains("verified: 2 pod(s): files present and equal to the Secret, etcd targets up"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let sm = get(&rc, &["servicemonitor", "-n", NS, SERVICE_MONITOR]).unwrap();
    let ep = &sm["spec"]["endpoints"][0];
    assert_eq!(ep["scheme"], "https", "{sm:#}");
    assert_eq!(ep["tlsConfig"]["serverName"], NAME, "{sm:#}");
    // Every member up in the first replica, with no error.
    let mut want: Vec<String> = ips
        .iter()
        .map(|ip| format!("https://{ip}:2379/metrics"))
        .collect();
    want.sort();
    let pod = format!("{STS}-0");
    let up = wait_targets_up(&rc, NS, &pod, "kube-etcd", &want, Duration::from_secs(120)).await;
    assert!(up.iter().all(|t| t.2.is_empty()), "{up:?}");

    // Run again: the plan is empty, the serverName stays (the probe learns it again).
    let again = plugin(&rc, cwd.path(), &args);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    let sm2 = get(&rc, &["servicemonitor", "-n", NS, SERVICE_MONITOR]).unwrap();
    assert_eq!(
        sm2["metadata"]["resourceVersion"], sm["metadata"]["resourceVersion"],
        "a second run writes nothing: {}",
        again.stdout
    );
}
