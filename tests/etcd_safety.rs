//! Acceptance tests of issue 3 about safety on the test cluster (scenario (a) unless said):
//! dry runs change nothing, the Helm warning and `--helm-values`, 409 Conflict (injected and
//! from a real concurrent writer), idempotency counted in the request log, rollback, missing
//! permissions, bad certificate inputs (no request at all), no terminal without `--yes`, and no
//! key material in any output.

mod common_plugin;

use common_plugin::*;
use promfix_testcluster::auth::{Rule, User};
use promfix_testcluster::faults::FaultKind;
use promfix_testcluster::harness::{Options, TestCluster};
use promfix_testcluster::store::WriteCtx;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const SVC: &str = "prom-prometheus-operator-kube-etcd";

fn etcd_args(extra: &[&str]) -> Vec<String> {
    let mut v = vec![
        "etcd".to_string(),
        "--no-probe".into(),
        "--no-verify".into(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v.extend(corpus_cert_args());
    v
}

fn key() -> std::path::PathBuf {
    corpus("good-client-key.pem")
}

/// Start scenario (a) without etcd and wait until the controllers are quiet.
async fn quiet_a(opts: Options) -> TestCluster {
    let tc = start(
        A,
        Options {
            without_etcd: true,
            ..opts
        },
    )
    .await;
    tc.wait_prometheus_ready(Duration::from_secs(60))
        .await
        .expect("Prometheus ready");
    settle(&tc, Duration::from_millis(1500), Duration::from_secs(30)).await;
    tc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_runs_change_nothing() {
    let tc = quiet_a(Options::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let before = snapshot(&tc);

    // Client: reads only.
    let r = plugin(&tc, dir.path(), &strs(&etcd_args(&["--dry-run=client"]))).await;
    r.ok();
    assert_no_key_material(&r, &key());
    assert!(
        r.log.iter().all(|e| e.method == "GET"),
        "client dry run only reads:\n{}",
        describe_log(&r.log.iter().collect::<Vec<_>>())
    );
    assert!(
        r.stdout
            .contains("create Secret monitoring/etcd-client-cert"),
        "{}",
        r.stdout
    );
    // -o yaml prints the objects, redacted.
    let r = plugin(
        &tc,
        dir.path(),
        &strs(&etcd_args(&["--dry-run=client", "-o", "yaml"])),
    )
    .await;
    r.ok();
    assert_no_key_material(&r, &key());
    assert!(r.log.iter().all(|e| e.method == "GET"));
    // stdout is the objects alone (redirectable); the plan is on stderr.
    let objs: Value = serde_yaml_ng::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("-o yaml prints YAML only ({e}):\n{}", r.stdout));
    assert_eq!(objs["kind"], "List");
    let kinds: Vec<&str> = objs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"Secret") && kinds.contains(&"ServiceMonitor"),
        "{kinds:?}"
    );
    assert!(
        objs["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"].is_null()),
        "no status in the planned objects"
    );
    assert!(
        r.stderr
            .contains("create Secret monitoring/etcd-client-cert"),
        "{}",
        r.stderr
    );

    // Server: every write carries dryRun=All.
    let r = plugin(
        &tc,
        dir.path(),
        &strs(&etcd_args(&["--dry-run=server", "--yes"])),
    )
    .await;
    r.ok();
    assert_no_key_material(&r, &key());
    let writes = r.writes();
    assert!(
        writes.len() >= 5,
        "the server dry run sends the writes:\n{}",
        describe_log(&writes)
    );
    for w in &writes {
        assert!(
            w.query.split('&').any(|kv| kv == "dryRun=All"),
            "a write without dryRun=All: {} {}?{}",
            w.method,
            w.path,
            w.query
        );
        assert!(w.status < 300, "{} {} -> {}", w.method, w.path, w.status);
    }
    // Nothing left on disk either: a dry run takes no backup.
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no backup file for dry runs"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = snapshot(&tc);
    let diff = changed(&before, &after);
    assert!(diff.is_empty(), "objects changed by dry runs: {diff:?}");
    // A server dry run changes nothing, so it needs no --yes (as kubectl).
    let r = plugin(&tc, dir.path(), &strs(&etcd_args(&["--dry-run=server"]))).await;
    r.ok();
    assert!(!r.writes().is_empty());
    assert!(r.writes().iter().all(|w| w.query.contains("dryRun=All")));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let diff = changed(&before, &snapshot(&tc));
    assert!(diff.is_empty(), "objects changed by dry runs: {diff:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_warning_and_values_file() {
    let tc = start_light(A).await;
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("values-etcd.yaml");
    let r = plugin(
        &tc,
        dir.path(),
        &strs(&etcd_args(&[
            "--dry-run=client",
            "--helm-values",
            values.to_str().unwrap(),
        ])),
    )
    .await;
    r.ok();
    println!("{}", r.stdout);
    assert!(
        r.stdout.contains("Helm release \"prom\"") && r.stdout.contains("--helm-values"),
        "the plan warns that Helm manages the objects:\n{}",
        r.stdout
    );
    let text = std::fs::read_to_string(&values).expect("the values file is written");
    println!("{text}");
    assert!(!text.contains("PRIVATE KEY"));
    let v: Value = serde_yaml_ng::from_str(&text).expect("valid YAML");
    assert_eq!(
        v["prometheus"]["prometheusSpec"]["secrets"],
        json!(["etcd-client-cert"]),
        "{text}"
    );
    let net = tc.net();
    let ips: Vec<String> = ["2.11", "2.12", "2.13"]
        .iter()
        .map(|m| format!("127.{net}.{m}"))
        .collect();
    assert_eq!(v["kubeEtcd"]["endpoints"], json!(ips), "{text}");
    assert_eq!(v["kubeEtcd"]["service"]["port"], 2379);
    assert_eq!(v["kubeEtcd"]["service"]["targetPort"], 2379);
    let sm = &v["kubeEtcd"]["serviceMonitor"];
    assert_eq!(sm["scheme"], "https");
    let d = "/etc/prometheus/secrets/etcd-client-cert";
    assert_eq!(sm["caFile"], format!("{d}/etcd-ca"));
    assert_eq!(sm["certFile"], format!("{d}/etcd-client"));
    assert_eq!(sm["keyFile"], format!("{d}/etcd-client-key"));
    // `secret` alone knows nothing of the members: its values say only what it changes.
    let values2 = dir.path().join("values-secret.yaml");
    let mut args = vec![
        "secret".to_string(),
        "--dry-run=client".into(),
        "--no-probe".into(),
        "--helm-values".into(),
        values2.display().to_string(),
    ];
    args.extend(corpus_cert_args());
    plugin(&tc, dir.path(), &strs(&args)).await.ok();
    let text2 = std::fs::read_to_string(&values2).expect("the values file is written");
    let v2: Value = serde_yaml_ng::from_str(&text2).expect("valid YAML");
    assert_eq!(
        v2["prometheus"]["prometheusSpec"]["secrets"],
        json!(["etcd-client-cert"]),
        "{text2}"
    );
    assert!(
        v2["kubeEtcd"]["endpoints"].is_null(),
        "no member list from `secret`: {text2}"
    );
    // The same as the ServiceMonitor the plugin writes.
    let r = plugin(&tc, dir.path(), &strs(&etcd_args(&["--yes"]))).await;
    r.ok();
    let live = get(&tc, "servicemonitors", Some("monitoring"), SVC).unwrap();
    let tls = &live["spec"]["endpoints"][0]["tlsConfig"];
    assert_eq!(tls["caFile"], sm["caFile"]);
    assert_eq!(tls["certFile"], sm["certFile"]);
    assert_eq!(tls["keyFile"], sm["keyFile"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_conflict_is_read_again_and_converges() {
    let tc = start_light(A).await;
    let dir = tempfile::tempdir().unwrap();
    tc.cluster
        .faults
        .fail_next_writes(Some("services"), 1, FaultKind::Conflict);
    let r = plugin(&tc, dir.path(), &strs(&etcd_args(&["--yes"]))).await;
    r.ok();
    assert!(
        r.log
            .iter()
            .any(|e| e.is_write && e.path.contains("/services/") && e.status == 409),
        "the 409 was met:\n{}",
        describe_log(&r.log.iter().collect::<Vec<_>>())
    );
    let svc = get(&tc, "services", Some("kube-system"), SVC).unwrap();
    assert!(svc["spec"]["selector"].is_null(), "{svc:#}");
    let again = plugin(&tc, dir.path(), &strs(&etcd_args(&["--yes"]))).await;
    again.ok();
    assert!(
        again.writes().is_empty(),
        "{}",
        describe_log(&again.writes())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_concurrent_writer_is_not_overwritten() {
    let tc = start_light(A).await;
    let dir = tempfile::tempdir().unwrap();
    // Slow requests so the writer below acts between the plugin's reads and its writes.
    tc.cluster.faults.set_latency(Duration::from_millis(150));
    let cluster = tc.cluster.clone();
    let writer = tokio::spawn(async move {
        // When the plugin starts its pre-flight checks it has read everything.
        loop {
            if cluster
                .faults
                .log()
                .iter()
                .any(|e| e.path.contains("selfsubjectaccessreviews"))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let s = &cluster.store;
        let rt = s.rt("services");
        let mut svc = s.get(&rt, Some("kube-system"), SVC).unwrap();
        svc["metadata"]["labels"]["changed-meanwhile"] = json!("yes");
        s.update(
            &rt,
            Some("kube-system"),
            SVC,
            svc,
            &WriteCtx::update("someone-else"),
        )
        .expect("the concurrent write");
    });
    let r = plugin(&tc, dir.path(), &strs(&etcd_args(&["--yes"]))).await;
    writer.await.unwrap();
    tc.cluster.faults.set_latency(Duration::ZERO);
    r.ok();
    println!("{}", r.stderr);
    assert!(
        r.log
            .iter()
            .any(|e| e.is_write && e.path.contains("/services/") && e.status == 409),
        "the guarded patch met the concurrent change (409):\n{}",
        describe_log(&r.log.iter().collect::<Vec<_>>())
    );
    let svc = get(&tc, "services", Some("kube-system"), SVC).unwrap();
    assert!(svc["spec"]["selector"].is_null(), "converged: {svc:#}");
    assert_eq!(
        svc["metadata"]["labels"]["changed-meanwhile"], "yes",
        "the other writer's change is kept"
    );
    let again = plugin(&tc, dir.path(), &strs(&etcd_args(&["--yes"]))).await;
    again.ok();
    assert!(
        again.writes().is_empty(),
        "{}",
        describe_log(&again.writes())
    );
}

/// The parts of an object a rollback must restore.
fn essence(o: &Value) -> Value {
    json!({
        "labels": o["metadata"]["labels"],
        "annotations": o["metadata"]["annotations"],
        "spec": o["spec"],
        "data": o["data"],
        "subsets": o["subsets"],
        "endpoints": o["endpoints"],
        "ports": o["ports"],
    })
}

/// The (plural, namespace, name) a write touched; a create names the object in its body, so
/// the caller passes the created names.
fn touched(path: &str) -> Option<(String, String, Option<String>)> {
    // /api/v1/namespaces/NS/PLURAL[/NAME] or /apis/G/V/namespaces/NS/PLURAL[/NAME]
    let parts: Vec<&str> = path.split('/').collect();
    let i = parts.iter().position(|p| *p == "namespaces")?;
    Some((
        parts.get(i + 2)?.to_string(),
        parts.get(i + 1)?.to_string(),
        parts.get(i + 3).map(|s| s.to_string()),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_every_touched_object() {
    let tc = quiet_a(Options::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let before = snapshot(&tc);
    let r = plugin(&tc, dir.path(), &strs(&etcd_args(&["--yes"]))).await;
    r.ok();
    let mut objects: Vec<(String, String, String)> = Vec::new();
    for w in r.writes() {
        let (plural, ns, name) = touched(&w.path).expect("a namespaced write");
        let name = name.unwrap_or_else(|| "etcd-client-cert".into());
        objects.push((plural, ns, name));
    }
    assert!(objects.len() >= 5, "{objects:?}");
    let backup = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("promfix-backup-")
        })
        .expect("a backup file");
    // The backup holds the Secret it created? It must not hold key material in the clear
    // beyond what the cluster had (the Secret did not exist before: nothing to keep).
    let text = std::fs::read_to_string(&backup).unwrap();
    for l in key_lines(&key()) {
        assert!(
            l.len() < 20 || !text.contains(&l),
            "key material in the backup"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "backup mode");
    }

    // Without a terminal and without --yes: shows the plan, asks nothing, writes nothing.
    let ask = plugin(&tc, dir.path(), &["rollback", backup.to_str().unwrap()]).await;
    ask.expect_code(4);
    assert!(ask.writes().is_empty(), "{}", describe_log(&ask.writes()));
    assert!(
        ask.stdout.contains("restore from the backup"),
        "{}",
        ask.stdout
    );
    // A client dry run reads only.
    let dry = plugin(
        &tc,
        dir.path(),
        &["rollback", backup.to_str().unwrap(), "--dry-run=client"],
    )
    .await;
    dry.ok();
    assert!(dry.log.iter().all(|e| e.method == "GET"));
    // A server dry run sends every write with dryRun=All and changes none of the objects the
    // controllers leave alone.
    let rv = |tc: &TestCluster| -> Vec<Value> {
        objects
            .iter()
            .filter(|(p, _, _)| p != "prometheuses")
            .map(|(p, ns, n)| {
                get(tc, p, Some(ns), n)
                    .map(|o| o["metadata"]["resourceVersion"].clone())
                    .unwrap_or(Value::Null)
            })
            .collect()
    };
    let rv_before = rv(&tc);
    let sdry = plugin(
        &tc,
        dir.path(),
        &[
            "rollback",
            backup.to_str().unwrap(),
            "--dry-run=server",
            "--yes",
        ],
    )
    .await;
    sdry.ok();
    assert!(!sdry.writes().is_empty());
    for w in sdry.writes() {
        assert!(
            w.query.split('&').any(|kv| kv == "dryRun=All"),
            "{} {}?{}",
            w.method,
            w.path,
            w.query
        );
    }
    assert_eq!(
        rv(&tc),
        rv_before,
        "a server dry run of the rollback changed objects"
    );
    // The operator keeps writing the Prometheus' status during the rollout: the rollback's
    // guarded patch may meet 409; make sure it does once, and that it reads again.
    tc.cluster
        .faults
        .fail_next_writes(Some("prometheuses"), 1, FaultKind::Conflict);
    let rb = plugin(
        &tc,
        dir.path(),
        &["rollback", backup.to_str().unwrap(), "--yes"],
    )
    .await;
    rb.ok();
    assert!(
        rb.log
            .iter()
            .any(|e| e.is_write && e.path.contains("/prometheuses/") && e.status == 409),
        "{}",
        describe_log(&rb.log.iter().collect::<Vec<_>>())
    );
    assert!(
        !rb.stdout.contains("status:"),
        "no status in the rollback's diff:\n{}",
        rb.stdout
    );
    println!("{}\n{}", rb.stdout, rb.stderr);
    assert_no_key_material(&rb, &key());
    settle(&tc, Duration::from_millis(1500), Duration::from_secs(30)).await;
    for (plural, ns, name) in &objects {
        let key = format!("{plural}/{ns}/{name}");
        let now = get(&tc, plural, Some(ns), name);
        match before.get(&key) {
            None => assert!(
                now.is_none(),
                "{key} was created by the fix; the rollback deletes it"
            ),
            Some(orig) if plural == "endpointslices" => {
                // The EndpointSlice controller owns these: once the selector is back it makes
                // its slice again (generated name); the content must be what it was.
                let _ = now;
                let back: Vec<Value> = list(&tc, "endpointslices", Some(ns))
                    .into_iter()
                    .filter(|s| {
                        s["metadata"]["labels"]["kubernetes.io/service-name"]
                            == orig["metadata"]["labels"]["kubernetes.io/service-name"]
                    })
                    .collect();
                assert_eq!(back.len(), 1, "one slice for the Service again: {back:#?}");
                assert_eq!(back[0]["endpoints"], orig["endpoints"]);
                assert_eq!(back[0]["ports"], orig["ports"]);
            }
            Some(orig) => {
                let now = now.unwrap_or_else(|| panic!("{key} is gone after the rollback"));
                assert_eq!(essence(&now), essence(orig), "{key} restored");
            }
        }
    }
    // A second rollback has nothing to do (and writes nothing).
    let rb2 = plugin(
        &tc,
        dir.path(),
        &["rollback", backup.to_str().unwrap(), "--yes"],
    )
    .await;
    rb2.ok();
    assert!(
        rb2.writes().is_empty(),
        "{}\n{}",
        describe_log(&rb2.writes()),
        rb2.both()
    );
}

/// A user who may read everything the plugin reads but write nothing.
fn reader() -> User {
    User {
        name: "reader".into(),
        token: "reader-token".into(),
        groups: vec!["system:authenticated".into()],
        rules: vec![Rule::resources(
            &["get", "list", "watch"],
            &["*"],
            &["*"],
            &[],
        )],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_permissions_are_listed_and_nothing_is_written() {
    let tc = start(
        A,
        Options {
            without_etcd: true,
            users: vec![reader()],
            ..Default::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = tc.context("reader");
    let mut args = etcd_args(&["--yes"]);
    args.extend(["--context".to_string(), ctx]);
    let r = plugin(&tc, dir.path(), &strs(&args)).await;
    println!("{}", r.stderr);
    r.expect_code(5);
    assert!(r.writes().is_empty(), "{}", describe_log(&r.writes()));
    for want in [
        "create",
        "secrets",
        "prometheuses",
        "services",
        "endpoints",
        "endpointslices",
        "servicemonitors",
    ] {
        assert!(
            r.stderr.contains(want),
            "the list names {want}:\n{}",
            r.stderr
        );
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no backup when nothing can be written"
    );

    // The scenario's own limited user (get/list services in kube-system only).
    let mut args = etcd_args(&["--yes"]);
    args.extend(["--context".to_string(), tc.context("limited")]);
    let r = plugin(&tc, dir.path(), &strs(&args)).await;
    println!("{}", r.stderr);
    r.expect_code(5);
    assert!(r.writes().is_empty(), "{}", describe_log(&r.writes()));
    assert!(r.stderr.contains("prometheuses"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_terminal_and_no_yes_asks_nothing_and_writes_nothing() {
    let tc = start_light(A).await;
    let dir = tempfile::tempdir().unwrap();
    for sub in [
        vec!["etcd"],
        vec!["secret"],
        vec!["servicemonitor"],
        vec!["endpoints"],
    ] {
        let mut args: Vec<String> = sub.iter().map(|s| s.to_string()).collect();
        args.push("--no-probe".into());
        if sub[0] == "etcd" || sub[0] == "secret" {
            args.extend(corpus_cert_args());
        }
        let r = plugin(&tc, dir.path(), &strs(&args)).await;
        r.expect_code(4);
        assert!(
            r.stderr.contains("--yes"),
            "the message says how to go ahead:\n{}",
            r.stderr
        );
        assert!(r.writes().is_empty(), "{}", describe_log(&r.writes()));
        assert_no_key_material(&r, &key());
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no backup"
    );
}

/// The corpus' failing cases (MANIFEST.tsv), plus missing files: each exits non-zero naming the
/// file, with no request to the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_make_no_request() {
    let tc = start_light(A).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(corpus("MANIFEST.tsv")).unwrap();
    let mut cases: Vec<[String; 3]> = Vec::new();
    for line in manifest.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f[3].starts_with("ok") {
            continue;
        }
        cases.push([f[0].into(), f[1].into(), f[2].into()]);
    }
    let missing = dir.path().join("no-such-key.pem");
    cases.push(["-".into(), "-".into(), missing.display().to_string()]);
    cases.push([
        dir.path().join("no-such-ca.pem").display().to_string(),
        "-".into(),
        "-".into(),
    ]);
    assert!(cases.len() > 30, "{}", cases.len());
    let defaults = ["good-ca.pem", "good-client.pem", "good-client-key.pem"];
    for (i, case) in cases.iter().enumerate() {
        let files: Vec<std::path::PathBuf> = (0..3)
            .map(|k| {
                if case[k] == "-" {
                    corpus(defaults[k])
                } else if Path::new(&case[k]).is_absolute() {
                    case[k].clone().into()
                } else {
                    corpus(&case[k])
                }
            })
            .collect();
        let bad: Vec<String> = (0..3)
            .filter(|k| case[*k] != "-")
            .map(|k| files[k].file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        // Alternate the commands that read certificates.
        let sub = if i % 2 == 0 { "etcd" } else { "secret" };
        let args = vec![
            sub.to_string(),
            "--yes".into(),
            "--no-probe".into(),
            "--ca".into(),
            files[0].display().to_string(),
            "--cert".into(),
            files[1].display().to_string(),
            "--key".into(),
            files[2].display().to_string(),
        ];
        let r = plugin(&tc, dir.path(), &strs(&args)).await;
        assert_ne!(r.code, 0, "{case:?} must fail:\n{}", r.both());
        assert!(
            r.log.is_empty(),
            "{case:?}: no request before the inputs are valid:\n{}",
            describe_log(&r.log.iter().collect::<Vec<_>>())
        );
        assert!(
            bad.iter().any(|b| r.stderr.contains(b.as_str())),
            "{case:?}: the message names the file ({bad:?}):\n{}",
            r.stderr
        );
        let all = r.both();
        assert!(!all.contains("PRIVATE KEY-----"), "{case:?}: {all}");
        for f in &files {
            if f.is_file() && std::fs::read_to_string(f).is_ok_and(|t| t.contains("PRIVATE KEY")) {
                for l in key_lines(f) {
                    assert!(
                        l.len() < 20 || !all.contains(&l),
                        "{case:?}: key material of {} in the output",
                        f.display()
                    );
                }
            }
        }
        eprintln!("{case:?}: {}", r.stderr.lines().next().unwrap_or(""));
    }
    // Other local inputs: a directory in no known layout, bad endpoints, bad backup files.
    let empty_dir = dir.path().join("empty");
    std::fs::create_dir(&empty_dir).unwrap();
    let not_yaml = dir.path().join("not-a-backup.yaml");
    std::fs::write(&not_yaml, "kind: [unclosed\n").unwrap();
    let empty_s = empty_dir.display().to_string();
    let not_yaml_s = not_yaml.display().to_string();
    let missing_backup = dir.path().join("missing-backup.yaml").display().to_string();
    let ca = corpus("good-ca.pem").display().to_string();
    let cert = corpus("good-client.pem").display().to_string();
    let key_s = corpus("good-client-key.pem").display().to_string();
    let missing_dir = dir.path().join("no-such-dir").display().to_string();
    let missing_values = dir
        .path()
        .join("no-such-dir/values.yaml")
        .display()
        .to_string();
    let others: Vec<(Vec<&str>, &str)> = vec![
        (vec!["etcd", "--yes", "--from-dir", &empty_s], "empty"),
        (
            vec!["secret", "--yes", "--from-dir", &missing_backup],
            "missing-backup.yaml",
        ),
        (
            vec![
                "etcd",
                "--yes",
                "--no-probe",
                "--ca",
                &ca,
                "--cert",
                &cert,
                "--key",
                &key_s,
                "--endpoints",
                "not-an-address",
            ],
            "not-an-address",
        ),
        (
            vec!["endpoints", "--yes", "--endpoints", "10.0.0.1,300.1.1.1"],
            "300.1.1.1",
        ),
        (
            vec!["rollback", &missing_backup, "--yes"],
            "missing-backup.yaml",
        ),
        (vec!["rollback", &not_yaml_s, "--yes"], "not-a-backup.yaml"),
        (
            vec![
                "etcd",
                "--yes",
                "--no-probe",
                "--ca",
                &ca,
                "--cert",
                &cert,
                "--key",
                &key_s,
                "--backup-dir",
                &missing_dir,
            ],
            "no-such-dir",
        ),
        (
            vec![
                "servicemonitor",
                "--dry-run=client",
                "--helm-values",
                &missing_values,
            ],
            "no-such-dir",
        ),
    ];
    for (args, names) in others {
        let r = plugin(&tc, dir.path(), &args).await;
        assert_ne!(r.code, 0, "{args:?} must fail:\n{}", r.both());
        assert!(
            r.log.is_empty(),
            "{args:?}: no request:\n{}",
            describe_log(&r.log.iter().collect::<Vec<_>>())
        );
        assert!(
            r.stderr.contains(names),
            "{args:?}: names {names}:\n{}",
            r.stderr
        );
        eprintln!("{args:?}: {}", r.stderr.lines().next().unwrap_or(""));
    }
    assert_eq!(tc.cluster.faults.writes(), 0);
}

/// A renewed client certificate: the next run updates the Secret's data, shows only digests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_updates_the_secret() {
    let tc = start_light(B).await;
    let dir = tempfile::tempdir().unwrap();
    // Someone's own secret already mounted: it stays.
    let s = &tc.cluster.store;
    let prt = s.rt("prometheuses");
    let name = "prometheus-kube-prometheus-prometheus";
    // The operator writes the Prometheus' status meanwhile: read again on a conflict, as Helm
    // would.
    for attempt in 0.. {
        let mut p = s.get(&prt, Some("monitoring"), name).unwrap();
        p["spec"]["secrets"] = json!(["my-own"]);
        match s.update(&prt, Some("monitoring"), name, p, &WriteCtx::update("helm")) {
            Ok(_) => break,
            Err(e) if e.code == 409 && attempt < 50 => continue,
            Err(e) => panic!("updating the Prometheus: {e:?}"),
        }
    }
    plugin(&tc, dir.path(), &strs(&etcd_args(&["--yes"])))
        .await
        .ok();
    let p = get(&tc, "prometheuses", Some("monitoring"), name).unwrap();
    assert_eq!(p["spec"]["secrets"], json!(["my-own", "etcd-client-cert"]));
    let old = get(&tc, "secrets", Some("monitoring"), "etcd-client-cert").unwrap();

    let rsa_key = corpus("rsa-client-key-pkcs8.pem");
    let args = vec![
        "secret".to_string(),
        "--yes".into(),
        "--no-probe".into(),
        "--ca".into(),
        corpus("good-ca.pem").display().to_string(),
        "--cert".into(),
        corpus("rsa-client.pem").display().to_string(),
        "--key".into(),
        rsa_key.display().to_string(),
    ];
    let r = plugin(&tc, dir.path(), &strs(&args)).await;
    r.ok();
    println!("{}", r.stdout);
    assert_no_key_material(&r, &rsa_key);
    assert_no_key_material(&r, &key());
    assert!(
        r.stdout.contains("Secret monitoring/etcd-client-cert"),
        "{}",
        r.stdout
    );
    let writes = r.writes();
    assert_eq!(
        writes.len(),
        1,
        "only the Secret: {}",
        describe_log(&writes)
    );
    let new = get(&tc, "secrets", Some("monitoring"), "etcd-client-cert").unwrap();
    assert_eq!(new["data"]["etcd-ca"], old["data"]["etcd-ca"]);
    assert_ne!(new["data"]["etcd-client"], old["data"]["etcd-client"]);
    assert_ne!(
        new["data"]["etcd-client-key"],
        old["data"]["etcd-client-key"]
    );
    // A backup of the old Secret exists (it holds the old key: 0600).
    let p = get(&tc, "prometheuses", Some("monitoring"), name).unwrap();
    assert_eq!(p["spec"]["secrets"], json!(["my-own", "etcd-client-cert"]));
}

/// Connections cut around writes: the run either converges by itself or stops with a partial
/// report, and the next run finishes; no write is made twice in a way that fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_around_writes_converge() {
    let tc = start_light(A).await;
    let dir = tempfile::tempdir().unwrap();
    // The Secret's create is applied but its answer lost; the Service patch is lost unapplied.
    tc.cluster.faults.drop_at_write(1, true);
    tc.cluster.faults.drop_at_write(3, false);
    let r = plugin(&tc, dir.path(), &strs(&etcd_args(&["--yes"]))).await;
    println!("{}", r.stderr);
    if r.code != 0 {
        r.expect_code(1);
        assert!(
            r.stderr.contains("run the same command again"),
            "{}",
            r.stderr
        );
        plugin(&tc, dir.path(), &strs(&etcd_args(&["--yes"])))
            .await
            .ok();
    }
    let again = plugin(&tc, dir.path(), &strs(&etcd_args(&["--yes"]))).await;
    again.ok();
    assert!(
        again.writes().is_empty(),
        "{}",
        describe_log(&again.writes())
    );
    let svc = get(&tc, "services", Some("kube-system"), SVC).unwrap();
    assert!(svc["spec"]["selector"].is_null());
}

/// 409 on every try: the run stops after its rounds with a partial report naming the backup,
/// and the rollback of that backup undoes what was applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_conflicts_stop_with_a_partial_report_that_rolls_back() {
    let tc = start_light(A).await;
    let dir = tempfile::tempdir().unwrap();
    let prom_before = get(
        &tc,
        "prometheuses",
        Some("monitoring"),
        "prom-prometheus-operator-prometheus",
    )
    .unwrap();
    tc.cluster
        .faults
        .fail_next_writes(Some("services"), 100, FaultKind::Conflict);
    let r = plugin(&tc, dir.path(), &strs(&etcd_args(&["--yes"]))).await;
    println!("{}", r.stderr);
    r.expect_code(1);
    tc.cluster.faults.reset();
    assert!(r.stderr.contains("409"), "{}", r.stderr);
    assert!(r.stderr.contains("applied: "), "{}", r.stderr);
    assert!(
        r.stderr.contains("Secret monitoring/etcd-client-cert"),
        "{}",
        r.stderr
    );
    let backup = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("promfix-backup-")
        })
        .expect("a backup file");
    assert!(
        r.stderr
            .contains(&*backup.file_name().unwrap().to_string_lossy()),
        "{}",
        r.stderr
    );
    let rb = plugin(
        &tc,
        dir.path(),
        &["rollback", backup.to_str().unwrap(), "--yes"],
    )
    .await;
    rb.ok();
    assert!(get(&tc, "secrets", Some("monitoring"), "etcd-client-cert").is_none());
    let prom = get(
        &tc,
        "prometheuses",
        Some("monitoring"),
        "prom-prometheus-operator-prometheus",
    )
    .unwrap();
    assert_eq!(prom["spec"], prom_before["spec"]);
}

/// The most verbose run (and its server dry run) prints no key material either (the global
/// check in `common_plugin::plugin` covers every run; this one turns verbosity up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_runs_print_no_key_material() {
    let tc = start_light(A).await;
    let dir = tempfile::tempdir().unwrap();
    let r = plugin(
        &tc,
        dir.path(),
        &strs(&etcd_args(&["-vvv", "--dry-run=server"])),
    )
    .await;
    r.ok();
    let r = plugin(&tc, dir.path(), &strs(&etcd_args(&["-vvv", "--yes"]))).await;
    r.ok();
    assert_no_key_material(&r, &key());
    let backup = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("promfix-backup-")
        })
        .expect("a backup file");
    let rb = plugin(
        &tc,
        dir.path(),
        &["-vvv", "rollback", backup.to_str().unwrap(), "--yes"],
    )
    .await;
    rb.ok();
    // The rollback deletes the Secret: its plan names it, without its data.
    assert!(
        rb.stdout.contains("Secret monitoring/etcd-client-cert"),
        "{}",
        rb.stdout
    );
}
