//! Issue 13, item 7: a sharded Prometheus on the real control plane. The real operator gives
//! each etcd target to one shard (hashmod of the address), the real Prometheus of each shard
//! scrapes only its own; verify judges the targets per shard, keeps the files check per pod,
//! and says which shard scrapes which member.

mod common_real;

use common_real::*;
use promfix_testcluster::real::{RealCluster, RealOptions};
use serde_json::Value;
use std::collections::BTreeSet;

/// The plugin's run and its stdout as JSON (null when it is not JSON).
fn plugin_json(
    rc: &RealCluster,
    cwd: &std::path::Path,
    args: &[&str],
) -> (i32, Value, String, String) {
    let run = plugin(rc, cwd, args);
    let doc = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
    (run.code, doc, run.stdout, run.stderr)
}

fn shards(rc: &RealCluster, prometheus: &str) {
    rc.cp
        .kubectl_ok(&[
            "-n",
            "monitoring",
            "patch",
            "prometheus",
            prometheus,
            "--type=merge",
            "-p",
            r#"{"spec":{"shards":2}}"#,
        ])
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharded_prometheus_is_verified_shard_by_shard() {
    let (a, c) = tokio::join!(
        RealCluster::start_builtin("a-seed-stable-prometheus-operator", RealOptions::default()),
        RealCluster::start_builtin("c-kube-prometheus", RealOptions::default()),
    );
    let a = a.unwrap_or_else(|e| panic!("scenario a on the real control plane: {e:#}"));
    let rc = c.unwrap_or_else(|e| panic!("scenario c on the real control plane: {e:#}"));
    let cwd = tempfile::tempdir().unwrap();
    let bdir = cwd.path().display().to_string();

    // The seed's Prometheus with two shards in a namespace whose ResourceQuota allows the pods
    // it has (the operator's and shard 0's two): the real quota admission refuses the second
    // shard's pods. verify fails and says so: that shard's etcd targets are scraped by nobody.
    // (The seed's long name alone does not do it: the pods' controller-revision-hash label,
    // `<StatefulSet>-<hash>`, is 63 bytes or more depending on the template's hash.)
    for i in 0..2 {
        let path = format!(
            "/api/v1/namespaces/monitoring/pods/prometheus-prom-prometheus-operator-prometheus-{i}"
        );
        a.wait_for(
            &format!("shard 0's pod {i}"),
            std::time::Duration::from_secs(120),
            || async { Ok(a.get_json(&path).await.ok().flatten()) },
        )
        .await
        .unwrap();
    }
    a.cp.kubectl_ok(&[
        "-n",
        "monitoring",
        "create",
        "quota",
        "pods",
        "--hard=pods=3",
    ])
    .unwrap();
    shards(&a, "prom-prometheus-operator-prometheus");
    a.wait_for(
        "the operator's second StatefulSet",
        std::time::Duration::from_secs(60),
        || async {
            Ok(a
                .get_json("/apis/apps/v1/namespaces/monitoring/statefulsets/prometheus-prom-prometheus-operator-prometheus-shard-1")
                .await
                .ok()
                .flatten())
        },
    )
    .await
    .unwrap();
    let (code, doc, _, stderr) = plugin_json(
        &a,
        cwd.path(),
        &["verify", "--timeout", "30s", "-o", "json"],
    );
    assert_eq!(code, 3, "{doc:#}\n{stderr}");
    let missing = doc
        .as_array()
        .and_then(|p| p.iter().find(|r| r["pod"] == "(missing)"))
        .unwrap_or_else(|| panic!("a report of the missing shard: {doc:#}"));
    let why = missing["files_error"].as_str().unwrap();
    assert!(
        why.contains("asks for 4 pod(s)")
            && why.contains("2 exist")
            && why.contains("shard(s) 1 have none")
            && why.contains("prometheus-prom-prometheus-operator-prometheus-shard-1"),
        "{why}"
    );
    drop(a);

    // kube-prometheus' Prometheus `k8s` with two shards of two replicas.
    shards(&rc, "k8s");
    let dir = rc.etcd_certs_dir.clone().unwrap().display().to_string();
    let (code, doc, _, stderr) = plugin_json(
        &rc,
        cwd.path(),
        &[
            "etcd",
            "--from-dir",
            &dir,
            "--yes",
            "--timeout",
            "5m",
            "-o",
            "json",
            "--backup-dir",
            &bdir,
        ],
    );
    assert_eq!(code, 0, "{doc:#}\n{stderr}");
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
    let run = plugin(&rc, cwd.path(), &["verify"]);
    let text = &run.stdout;
    assert_eq!(run.code, 0, "{text}");
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
