//! Issue 17, item 2: every command that takes `-o json` prints exactly one JSON document on
//! stdout, whatever it did (plan, writes, verify), and `-o yaml` exactly one YAML document;
//! progress and notes go to stderr. Scenario (a) with real etcd and real Prometheus, so
//! `etcd --yes` runs its verify to the end.

mod common_plugin;

use common_plugin::*;
use serde_json::Value;
use std::time::Duration;

/// The one JSON document of a run's stdout (a second document, or any text, fails).
fn json_doc(r: &Run) -> Value {
    assert!(
        [0, 3].contains(&r.code),
        "kubectl-promfix {} exited {}\n--- stderr\n{}",
        r.args.join(" "),
        r.code,
        r.stderr
    );
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| {
        panic!(
            "kubectl-promfix {}: stdout is not one JSON document ({e})\n--- stdout\n{}\n--- stderr\n{}",
            r.args.join(" "),
            r.stdout,
            r.stderr
        )
    })
}

fn yaml_doc(r: &Run) -> Value {
    assert!([0, 3].contains(&r.code), "{}", r.stderr);
    serde_yaml_ng::from_str(&r.stdout).unwrap_or_else(|e| {
        panic!(
            "kubectl-promfix {}: stdout is not one YAML document ({e})\n--- stdout\n{}",
            r.args.join(" "),
            r.stdout
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_prints_one_document() {
    let tc = start(A, Default::default()).await;
    tc.wait_prometheus_ready(Duration::from_secs(120))
        .await
        .expect("Prometheus ready");
    let dir = tempfile::tempdir().unwrap();
    let (certs, key) = cluster_cert_args(&tc);
    let etcd = |extra: &[&str]| {
        let mut a: Vec<String> = vec!["etcd".into()];
        a.extend(certs.iter().cloned());
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };

    // Read-only commands.
    for args in [
        vec!["doctor", "-o", "json"],
        vec!["verify", "--no-wait", "-o", "json"],
        vec!["kubelet", "-o", "json"],
    ] {
        let r = plugin(&tc, dir.path(), &args).await;
        json_doc(&r);
    }

    // The fix: client dry run (the planned objects), server dry run, the writes with verify.
    let r = plugin(&tc, dir.path(), &strs(&etcd(&["--dry-run", "-o", "json"]))).await;
    let v = json_doc(&r);
    assert_eq!(v["kind"], "List", "{v:#}");
    let r = plugin(
        &tc,
        dir.path(),
        &strs(&etcd(&["--dry-run=server", "-o", "json"])),
    )
    .await;
    let v = json_doc(&r);
    assert_eq!(
        (&v["kind"], &v["dryRun"]),
        (&"Run".into(), &"server".into()),
        "{v:#}"
    );
    assert!(v["plan"].as_array().is_some_and(|p| !p.is_empty()), "{v:#}");
    assert!(r.writes().iter().all(|w| w.query.contains("dryRun")));

    let r = plugin(
        &tc,
        dir.path(),
        &strs(&etcd(&["--yes", "--timeout", "3m", "-o", "json"])),
    )
    .await;
    assert_no_key_material(&r, &key);
    let v = json_doc(&r);
    r.ok();
    assert_eq!(
        (&v["command"], &v["dryRun"]),
        (&"etcd".into(), &"none".into()),
        "{v:#}"
    );
    assert_eq!(
        v["applied"].as_array().map(Vec::len),
        v["plan"].as_array().map(Vec::len)
    );
    let backup = v["backup"].as_str().expect("the backup file").to_string();
    assert_eq!(v["verify"]["verified"], true, "{v:#}");
    assert!(
        v["verify"]["pods"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{v:#}"
    );
    // Progress and the backup line went to stderr.
    assert!(
        r.stderr.contains("backup: ") && r.stderr.contains("ok  "),
        "{}",
        r.stderr
    );

    // Again, as YAML: nothing to change, still one document with verify's reports.
    let r = plugin(&tc, dir.path(), &strs(&etcd(&["--yes", "-o", "yaml"]))).await;
    let v = yaml_doc(&r);
    assert!(r.writes().is_empty());
    assert_eq!(v["applied"].as_array().map(Vec::len), Some(0), "{v:#}");
    assert_eq!(v["verify"]["verified"], true, "{v:#}");
    assert!(r.stderr.contains("Nothing to change"), "{}", r.stderr);

    // The documents of doctor and verify have the README's schema: every field they carry is
    // documented there (the etcd targets are up now, so verify's carry every per-target field).
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let schema = |name: &str| -> String {
        let start = readme
            .find(&format!("\n{name} -o json"))
            .unwrap_or_else(|| panic!("README documents `{name} -o json`"));
        let rest = &readme[start..];
        rest[..rest.find("```").unwrap_or(rest.len())].to_string()
    };
    for (name, args) in [
        ("doctor", vec!["doctor", "-o", "json"]),
        ("verify", vec!["verify", "-o", "json"]),
    ] {
        let doc = json_doc(&plugin(&tc, dir.path(), &args).await);
        let mut keys = std::collections::BTreeSet::new();
        fn walk(v: &Value, keys: &mut std::collections::BTreeSet<String>) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        keys.insert(k.clone());
                        walk(x, keys);
                    }
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, keys)),
                _ => {}
            }
        }
        walk(&doc, &mut keys);
        assert!(keys.len() > 5, "{name}: {doc:#}");
        let text = schema(name);
        let undocumented: Vec<&String> = keys
            .iter()
            .filter(|k| !text.contains(&format!("\"{k}\"")))
            .collect();
        assert!(
            undocumented.is_empty(),
            "{name} -o json carries fields the README's schema does not name: {undocumented:?}\n{text}"
        );
    }

    // The other writers of this cluster.
    for args in [
        vec![
            "rollback",
            backup.as_str(),
            "--dry-run=server",
            "-o",
            "json",
        ],
        vec!["secret", "--dry-run=server", "-o", "json"],
    ] {
        let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if args[0] == "secret" {
            args.extend(certs.iter().cloned());
        }
        let r = plugin(&tc, dir.path(), &strs(&args)).await;
        let v = json_doc(&r);
        assert_eq!(v["kind"], "Run", "{v:#}");
    }
    drop(tc);

    // kube-proxy (with its rollout) and control-plane (with its node edits), written.
    let (proxy, cp) = tokio::join!(
        start_light("f-kube-proxy.yaml"),
        start_light("f-control-plane.yaml")
    );
    let r = plugin(
        &proxy,
        dir.path(),
        &["kube-proxy", "--yes", "--timeout", "60s", "-o", "json"],
    )
    .await;
    let v = json_doc(&r);
    r.ok();
    assert_eq!(v["command"], "kube-proxy", "{v:#}");
    assert!(
        v["applied"].as_array().is_some_and(|a| !a.is_empty()),
        "{v:#}"
    );
    let r = plugin(&cp, dir.path(), &["control-plane", "--yes", "-o", "json"]).await;
    let v = json_doc(&r);
    r.ok();
    assert!(
        v["applied"].as_array().is_some_and(|a| !a.is_empty()),
        "{v:#}"
    );
    assert!(v["nodeEdits"].is_array(), "{v:#}");
    let r = plugin(
        &cp,
        dir.path(),
        &["control-plane", "--dry-run=server", "-o", "yaml"],
    )
    .await;
    yaml_doc(&r);
}
