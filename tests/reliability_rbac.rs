//! Least privilege, with the BUILT binary against scenario (a):
//! - a user who may read but not write gets every missing permission listed at once (exit 5)
//!   and nothing is written; the scenario's `limited` user (almost nothing) gets a clear error
//!   and nothing is written;
//! - the minimal ClusterRole: the rules `etcd` and `rollback` use (from the admin's request
//!   log) are enough, and removing any single verb breaks `etcd` or `rollback`;
//! - the ClusterRole of README.md's `## RBAC` section (or, while the README has none, the copy
//!   below) is exactly that role, and `etcd` + `rollback` work with a token holding only it.

mod common_readme;
mod reliability_common;

use common_readme::readme_role;

use promfix_testcluster::auth::{Rule, User};
use promfix_testcluster::faults::LogEntry;
use promfix_testcluster::harness::{Options, TestCluster};
use reliability_common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

use std::time::Instant;

/// The role the tests show is needed (kept in sync with README.md's `## RBAC` block).
const ROLE: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: kubectl-promfix
rules:
- apiGroups: [""]
  resources: ["endpoints"]
  verbs: ["get", "list", "patch"]
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create", "delete"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "patch"]
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list", "create", "delete"]
- apiGroups: ["monitoring.coreos.com"]
  resources: ["prometheuses"]
  verbs: ["get", "list", "patch"]
- apiGroups: ["monitoring.coreos.com"]
  resources: ["servicemonitors"]
  verbs: ["get", "list", "patch"]
"#;

/// (apiGroup, resource[/subresource], verb) of a resource request; None for discovery and
/// access reviews (every authenticated user may make them).
fn attrs(e: &LogEntry) -> Option<(String, String, String)> {
    let parts: Vec<&str> = e.path.trim_matches('/').split('/').collect();
    let (group, base) = match parts.first() {
        Some(&"api") if parts.len() >= 3 => (String::new(), 2),
        Some(&"apis") if parts.len() >= 4 => (parts[1].to_string(), 3),
        _ => return None,
    };
    if e.path.contains("accessreviews") {
        return None;
    }
    let mut rest = &parts[base..];
    if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
        rest = &rest[2..];
    }
    let resource = match rest.len() {
        1 | 2 => rest[0].to_string(),
        _ => format!("{}/{}", rest[0], rest[2]),
    };
    let named = rest.len() >= 2;
    let verb = match e.method.as_str() {
        "GET" if e.query.contains("watch=") => "watch",
        "GET" if named => "get",
        "GET" => "list",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" if named => "delete",
        "DELETE" => "deletecollection",
        _ => return None,
    };
    Some((group, resource, verb.to_string()))
}

type Needs = BTreeSet<(String, String, String)>;

/// Reads the commands make when granted and go on without (saying so): listing PrometheusAgents,
/// which a role written before agents existed does not grant.
const OPTIONAL: &[(&str, &str, &str)] = &[("monitoring.coreos.com", "prometheusagents", "list")];

fn optional() -> Needs {
    OPTIONAL
        .iter()
        .map(|(g, r, v)| (g.to_string(), r.to_string(), v.to_string()))
        .collect()
}

/// What `user` asked for (the operator stand-in talks to the API server too, as the admin).
fn needs(log: &[LogEntry], user: &str) -> Needs {
    log.iter()
        .filter(|e| e.user == user)
        .filter_map(attrs)
        .collect()
}

/// Cluster-wide rules granting exactly `n`.
fn rules_of(n: &Needs) -> Vec<Rule> {
    let mut by: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (g, r, v) in n {
        by.entry((g.clone(), r.clone()))
            .or_default()
            .push(v.clone());
    }
    by.into_iter()
        .map(|((g, r), verbs)| Rule {
            verbs,
            api_groups: vec![g],
            resources: vec![r],
            ..Default::default()
        })
        .collect()
}

/// The (group, resource, verb) triples a ClusterRole's YAML grants.
fn role_needs(yaml: &str) -> Needs {
    let v: Value = serde_yaml_ng::from_str(yaml).expect("the ClusterRole parses");
    assert_eq!(v["kind"], "ClusterRole", "{yaml}");
    let mut out = Needs::new();
    for r in v["rules"].as_array().expect("rules") {
        let list = |k: &str| -> Vec<String> {
            r[k].as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        assert!(
            r["resourceNames"].is_null(),
            "resourceNames would need the names of the user's objects: {r}"
        );
        for g in list("apiGroups") {
            for res in list("resources") {
                for verb in list("verbs") {
                    out.insert((g.clone(), res.clone(), verb));
                }
            }
        }
    }
    out
}

fn user(name: &str, rules: Vec<Rule>) -> User {
    User {
        name: name.into(),
        token: format!("{name}-token-{}", std::process::id()),
        groups: vec!["system:authenticated".into()],
        rules,
    }
}

fn as_user(args: &[String], tc: &TestCluster, name: &str) -> Vec<String> {
    let mut a = args.to_vec();
    a.push("--context".into());
    a.push(tc.context(name));
    a
}

/// `etcd`, then `rollback` of its backup, as user `name`: (etcd ok, rollback ok, outputs).
async fn etcd_and_rollback(tc: &TestCluster, name: &str) -> (bool, bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = run(tc, dir.path(), &as_user(&etcd_args(dir.path()), tc, name)).await;
    assert_no_panic(&out, "etcd");
    let mut log = text(&out);
    if !out.status.success() {
        return (false, false, log);
    }
    let b = backups(dir.path());
    let Some(b) = b.first() else {
        return (true, false, log + "\n(no backup)");
    };
    let rb = tempfile::tempdir().unwrap();
    let args = vec![
        "rollback".to_string(),
        b.display().to_string(),
        "--yes".into(),
        "--backup-dir".into(),
        rb.path().display().to_string(),
    ];
    let out = run(tc, dir.path(), &as_user(&args, tc, name)).await;
    assert_no_panic(&out, "rollback");
    log.push_str(&text(&out));
    (true, out.status.success(), log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_permissions_are_all_listed_and_nothing_is_written() {
    let t0 = Instant::now();
    // Everything the commands read, nothing they write.
    let reads: Vec<Rule> = role_needs(ROLE)
        .into_iter()
        .filter(|(_, _, v)| matches!(v.as_str(), "get" | "list" | "watch"))
        .map(|(g, r, v)| Rule {
            verbs: vec![v],
            api_groups: vec![g],
            resources: vec![r],
            ..Default::default()
        })
        .collect();
    let tc = start(Options {
        users: vec![user("reader", reads)],
        ..Default::default()
    })
    .await;
    let before = settled(&tc).await;
    let dir = tempfile::tempdir().unwrap();
    tc.cluster.faults.clear_log();
    let out = run(
        &tc,
        dir.path(),
        &as_user(&etcd_args(dir.path()), &tc, "reader"),
    )
    .await;
    assert_no_panic(&out, "etcd as reader");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    // Every write of the plan is listed at once.
    for want in [
        "create secrets in namespace monitoring",
        "patch prometheuses in namespace monitoring",
        "patch services in namespace kube-system",
        "endpoints in namespace kube-system",
        "patch servicemonitors in namespace monitoring",
    ] {
        assert!(err.contains(want), "{want:?} is not listed:\n{err}");
    }
    let log = tc.cluster.faults.log();
    assert!(log.iter().all(|e| !e.is_write), "writes were sent: {log:?}");
    assert!(
        backups(dir.path()).is_empty(),
        "a backup was written for nothing"
    );
    assert!(diff(&before, &settled(&tc).await).is_empty());

    // The scenario's `limited` user may only read Services in kube-system.
    tc.cluster.faults.clear_log();
    let out = run(
        &tc,
        dir.path(),
        &as_user(&etcd_args(dir.path()), &tc, "limited"),
    )
    .await;
    assert_no_panic(&out, "etcd as limited");
    eprintln!("limited user:\n{}", text(&out));
    // Refused at the first read, the command still lists everything it lacks at once.
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "list prometheuses in all namespaces",
        "list servicemonitors in all namespaces",
        "list namespaces",
        "list endpoints in namespace kube-system",
        "list endpointslices in namespace kube-system",
        "list pods in namespace kube-system",
        "create secrets in all namespaces",
        "patch services in namespace kube-system",
        "patch endpoints in namespace kube-system",
        "delete endpointslices in namespace kube-system",
    ] {
        assert!(err.contains(want), "{want:?} is not listed:\n{err}");
    }
    // What it may do is not listed.
    assert!(
        !err.contains("list services in namespace kube-system"),
        "{err}"
    );
    assert!(tc.cluster.faults.log().iter().all(|e| !e.is_write));
    assert!(diff(&before, &settled(&tc).await).is_empty());
    eprintln!("missing permissions: {:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_role_is_exactly_what_is_needed() {
    let t0 = Instant::now();
    // 1. What etcd and rollback use, as a user who may do anything.
    let tc = start(Options {
        users: vec![user("root", vec![Rule::all()])],
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    tc.cluster.faults.clear_log();
    let out = run(
        &tc,
        dir.path(),
        &as_user(&etcd_args(dir.path()), &tc, "root"),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let mut used = needs(&tc.cluster.faults.log(), "root");
    let b = backups(dir.path());
    tc.cluster.faults.clear_log();
    let args = vec![
        "rollback".to_string(),
        b[0].display().to_string(),
        "--yes".into(),
        "--backup-dir".into(),
        dir.path().display().to_string(),
    ];
    let out = run(&tc, dir.path(), &as_user(&args, &tc, "root")).await;
    assert!(out.status.success(), "{}", text(&out));
    used.extend(needs(&tc.cluster.faults.log(), "root"));
    // verify: only when this build has it.
    let out = run(
        &tc,
        dir.path(),
        &s(&["verify", "--no-wait", "--timeout", "5s"]),
    )
    .await;
    let verify_available = !String::from_utf8_lossy(&out.stderr).contains("not available");
    eprintln!("used by etcd + rollback: {used:?}\nverify available: {verify_available}");
    drop(tc);
    let opt = optional();
    assert!(
        opt.is_subset(&used),
        "the optional reads are not made at all: {:?}",
        opt.difference(&used).collect::<Vec<_>>()
    );
    used.retain(|t| !opt.contains(t));

    // 2. Exactly the role.
    let role = role_needs(ROLE);
    assert_eq!(
        used,
        role,
        "the role differs from what the commands use:\n  used only: {:?}\n  role only: {:?}",
        used.difference(&role).collect::<Vec<_>>(),
        role.difference(&used).collect::<Vec<_>>()
    );

    // 3. Enough, and every single verb needed: one cluster per candidate.
    let mut candidates = vec![("full".to_string(), rules_of(&role))];
    for t in &role {
        let mut less = role.clone();
        less.remove(t);
        candidates.push((format!("without {} {} {}", t.2, t.0, t.1), rules_of(&less)));
    }
    for (i, (what, rules)) in candidates.iter().enumerate() {
        let tc = start(Options {
            users: vec![user("candidate", rules.clone())],
            ..Default::default()
        })
        .await;
        let (etcd_ok, rb_ok, out) = etcd_and_rollback(&tc, "candidate").await;
        eprintln!("{what}: etcd {etcd_ok}, rollback {rb_ok}");
        if i == 0 {
            assert!(etcd_ok && rb_ok, "the role is not enough:\n{out}");
            // Without the optional reads the commands work, and say what they did not see.
            assert!(
                out.contains("note: cannot list PrometheusAgents"),
                "no note on the forbidden PrometheusAgents list:\n{out}"
            );
        } else {
            assert!(
                !(etcd_ok && rb_ok),
                "{what}: still works, so the role grants more than needed"
            );
        }
    }

    // 4. The README's block (when the README has one): enough for etcd and rollback, and on the
    //    objects the etcd family writes (secrets, services, endpoints, endpointslices) nothing
    //    beyond the role above, except what other starting points need: patching the Secret (a
    //    new certificate for an existing Secret), creating the Service and its Endpoints (none
    //    there yet) and deleting them (the rollback of that). The README's role also covers
    //    the other subcommands (verify, doctor, kube-proxy, control-plane): their rules on other
    //    resources are theirs to show.
    match readme_role() {
        Some(block) => {
            let granted = role_needs(&block);
            let missing: Vec<_> = role.difference(&granted).collect();
            assert!(
                missing.is_empty(),
                "README.md's ClusterRole lacks what etcd/rollback need: {missing:?}\nthe role:\n{ROLE}"
            );
            let mut allowed = role.clone();
            for (r, v) in [
                ("secrets", "patch"),
                ("services", "create"),
                ("services", "delete"),
                ("endpoints", "create"),
                ("endpoints", "delete"),
            ] {
                allowed.insert((String::new(), r.into(), v.into()));
            }
            let excess: Vec<_> = granted
                .iter()
                .filter(|(g, r, _)| {
                    (g.is_empty() && matches!(r.as_str(), "secrets" | "services" | "endpoints"))
                        || (g == "discovery.k8s.io" && r == "endpointslices")
                })
                .filter(|t| !allowed.contains(*t))
                .collect();
            assert!(
                excess.is_empty(),
                "README.md's ClusterRole grants more than the etcd family needs on the objects it \
                 writes: {excess:?}\nthe role:\n{ROLE}"
            );
            let tc = start(Options {
                users: vec![user("readme", rules_of(&granted))],
                ..Default::default()
            })
            .await;
            let (etcd_ok, rb_ok, out) = etcd_and_rollback(&tc, "readme").await;
            assert!(etcd_ok && rb_ok, "README's role:\n{out}");
        }
        None => eprintln!(
            "README.md has no ```yaml ClusterRole block under `## RBAC`: put this one there:\n{ROLE}"
        ),
    }
    eprintln!("least privilege: {:?}", t0.elapsed());
}
