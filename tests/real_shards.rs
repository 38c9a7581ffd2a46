//! Issue 13, item 7: a sharded Prometheus on the real control plane. The real operator gives
//! each etcd target to one shard (hashmod of the address), the real Prometheus of each shard
//! scrapes only its own; verify judges the targets per shard, keeps the files check per pod,
//! and says which shard scrapes which member.

use promfix_testcluster::real::{RealCluster, RealOptions};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promfix");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharded_prometheus_is_verified_shard_by_shard() {
    let rc =
        RealCluster::start_builtin("a-seed-stable-prometheus-operator", RealOptions::default())
            .await
            .unwrap_or_else(|e| panic!("scenario a on the real control plane: {e:#}"));
    // Two shards of two replicas: the operator makes a second StatefulSet.
    rc.cp
        .kubectl_ok(&[
            "-n",
            "monitoring",
            "patch",
            "prometheus",
            "prom-prometheus-operator-prometheus",
            "--type=merge",
            "-p",
            r#"{"spec":{"shards":2}}"#,
        ])
        .unwrap();
    let dir = rc.etcd_certs_dir.clone().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("--kubeconfig")
        .arg(rc.kubeconfig())
        .arg("etcd")
        .arg("--ca")
        .arg(dir.join("ca.pem"))
        .arg("--cert")
        .arg(dir.join("node-node1.pem"))
        .arg("--key")
        .arg(dir.join("node-node1-key.pem"))
        .args(["--yes", "--timeout", "5m", "-o", "json", "--backup-dir"])
        .arg(cwd.path())
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .current_dir(cwd.path())
        .output()
        .expect("running kubectl-promfix");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("one JSON document ({e}):\n{stderr}"));
    assert_eq!(out.status.code(), Some(0), "{doc:#}\n{stderr}");
    assert_eq!(doc["verify"]["verified"], true, "{doc:#}");
    let pods = doc["verify"]["pods"].as_array().expect("verify's pods");
    assert_eq!(pods.len(), 4, "two shards of two replicas: {doc:#}");

    let members: BTreeSet<String> = rc
        .etcd
        .as_ref()
        .unwrap()
        .members
        .iter()
        .map(|m| format!("{}:2379", m.ip))
        .collect();
    let mut owned_by_shard: std::collections::BTreeMap<String, BTreeSet<String>> =
        Default::default();
    for p in pods {
        let shard = p["shard"].as_str().unwrap().to_string();
        let owned: BTreeSet<String> = p["shard_targets"]
            .as_array()
            .unwrap_or_else(|| panic!("shard_targets in {p:#}"))
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        // What the real Prometheus of this pod scrapes is exactly what verify says its shard
        // owns: the plugin's hashmod agrees with the operator's relabeling.
        let scraped: BTreeSet<String> = p["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let u = t["scrape_url"].as_str().unwrap();
                u.split("://")
                    .nth(1)
                    .unwrap()
                    .split('/')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(scraped, owned, "pod {}: {p:#}", p["pod"]);
        assert!(
            p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["health"] == "up"),
            "{p:#}"
        );
        // The files are checked in every pod, whatever its shard owns.
        assert_eq!(p["files"].as_array().map(Vec::len), Some(3), "{p:#}");
        let prev = owned_by_shard.insert(shard.clone(), owned.clone());
        if let Some(prev) = prev {
            assert_eq!(prev, owned, "both replicas of shard {shard} own the same");
        }
    }
    // The shards together own every member, each exactly once.
    let all: Vec<&String> = owned_by_shard.values().flatten().collect();
    assert_eq!(all.len(), members.len(), "{owned_by_shard:?}");
    assert_eq!(
        all.into_iter().cloned().collect::<BTreeSet<_>>(),
        members,
        "{owned_by_shard:?}"
    );

    // The human report says which shard scrapes which member.
    let out = Command::new(BIN)
        .arg("--kubeconfig")
        .arg(rc.kubeconfig())
        .arg("verify")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("running kubectl-promfix");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for (shard, owned) in &owned_by_shard {
        let line = if owned.is_empty() {
            format!("shard {shard} owns no etcd target")
        } else {
            format!(
                "shard {shard} scrapes {}",
                owned.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        assert!(text.contains(&line), "{line:?} in:\n{text}");
    }
}
