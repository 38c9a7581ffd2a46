//! Issue 14, item 4 (ScrapeConfig), on the real control plane: the seed's Prometheus selects
//! ScrapeConfigs (`monitoring.coreos.com/v1alpha1`), and one scrapes the etcd members' client
//! port over https without a client certificate, so the real etcd refuses it. The real operator
//! turns it into the scrape pool `scrapeConfig/monitoring/etcd-static` (job `etcd-static`, from
//! its `jobName`), the real Prometheus 3 reports its targets down, and `doctor` names the
//! ScrapeConfig in the etcd row and says to edit it (promfix's fixes change ServiceMonitors).

mod common_real;

use common_real::*;
use serde_json::json;
use std::time::Duration;

const NS: &str = "monitoring";
const PROM: &str = "prom-prometheus-operator-prometheus";
const POD: &str = "prometheus-prom-prometheus-operator-prometheus-0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_the_scrape_config_that_scrapes_etcd() {
    let rc = start(A, Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    rc.cp
        .kubectl_ok(&[
            "patch",
            "prometheus",
            "-n",
            NS,
            PROM,
            "--type",
            "merge",
            "-p",
            // The seed's Prometheus says an old version (the operator checks ScrapeConfig
            // features against spec.version); the pods run Prometheus 3.16 either way.
            r#"{"spec":{"scrapeConfigSelector":{},"version":"v3.16.0"}}"#,
        ])
        .unwrap();
    let members: Vec<String> = etcd_member_urls(&rc)
        .iter()
        .map(|u| {
            u.trim_start_matches("https://")
                .trim_end_matches("/metrics")
                .to_string()
        })
        .collect();
    let sc = json!({
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "ScrapeConfig",
        "metadata": {"name": "etcd-static", "namespace": NS},
        "spec": {
            "jobName": "etcd-static",
            "scheme": "HTTPS",
            "tlsConfig": {"insecureSkipVerify": true},
            "staticConfigs": [{"targets": members}],
        }
    });
    let f = dir.path().join("sc.json");
    std::fs::write(&f, sc.to_string()).unwrap();
    rc.cp
        .kubectl_ok(&["apply", "-f", &f.display().to_string()])
        .unwrap();
    let seen = rc
        .wait_for(
            "the ScrapeConfig's targets scraped and down",
            Duration::from_secs(240),
            || async {
                Ok(targets(&rc, NS, POD, "etcd-static")
                    .filter(|t| t.len() == members.len() && t.iter().all(|(_, h, _)| h == "down")))
            },
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e:#}; targets now: {:?}",
                targets(&rc, NS, POD, "etcd-static")
            )
        });
    assert!(
        seen.iter().all(|(u, _, _)| u.starts_with("https://")),
        "{seen:?}"
    );

    let doc = doctor_doc(&rc, dir.path());
    let etcd = doctor_row(&doc, "etcd");
    assert_eq!(etcd["status"], "problem", "{etcd:#}");
    let has = |field: &str, start: &str| strings(&etcd[field]).iter().any(|e| e.starts_with(start));
    assert!(
        has(
            "evidence",
            &format!("ScrapeConfig {NS}/etcd-static scrapes etcd (https on ports 2379")
        ),
        "{etcd:#}"
    );
    assert!(
        has(
            "fix",
            &format!("where ScrapeConfig {NS}/etcd-static is the scrape that fails, edit it")
        ),
        "{etcd:#}"
    );
}
