//! Issue 13, item 10: the README's ClusterRole is what the code needs. Each rule of the role in
//! README.md's `## RBAC` names the subcommands that need it (`# [doctor, verify] ...`). For each
//! subcommand, a token user holds exactly the rules tagged with it, runs the subcommand on the
//! real control plane through the request-logging proxy, and:
//! - the subcommand does its whole job (its exit code, no "forbidden" on stderr), and the real
//!   authorizer refused none of its requests (no 403 in the log);
//! - every rule of its role was used by at least one of its requests (no stale rights).

mod common_readme;
mod common_real;

use common_real::*;

use promfix_testcluster::faults::LogEntry;
use promfix_testcluster::real::{RealCluster, RealOptions, TokenUser};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// One rule of the README's role, with the subcommands its comment names.
#[derive(Debug, Clone)]
struct Rule {
    groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
    commands: Vec<String>,
    yaml: String,
}

/// The rules of the README's ClusterRole with their `# [cmd, ...]` tags (the last bracketed
/// comment above each rule).
fn readme_rules() -> Vec<Rule> {
    let role = common_readme::readme_role().expect("README.md's ## RBAC has the ClusterRole");
    let parsed: Value = serde_yaml_ng::from_str(&role).expect("the README's role is YAML");
    let rules = parsed["rules"].as_array().expect("rules").clone();
    // The tags, in rule order.
    let mut tags: Vec<Vec<String>> = Vec::new();
    let mut pending: Option<Vec<String>> = None;
    for line in role.lines() {
        let t = line.trim();
        if let Some(c) = t.strip_prefix("# [")
            && let Some((names, _)) = c.split_once(']')
        {
            pending = Some(names.split(',').map(|n| n.trim().to_string()).collect());
        }
        if t.starts_with("- apiGroups:") {
            tags.push(pending.take().unwrap_or_default());
        }
    }
    assert_eq!(
        tags.len(),
        rules.len(),
        "a tag comment above every rule:\n{role}"
    );
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    rules
        .iter()
        .zip(tags)
        .map(|(r, commands)| {
            assert!(!commands.is_empty(), "rule without `# [subcommands]`: {r}");
            Rule {
                groups: strs(&r["apiGroups"]),
                resources: strs(&r["resources"]),
                verbs: strs(&r["verbs"]),
                commands,
                yaml: serde_yaml_ng::to_string(&vec![r]).unwrap_or_default(),
            }
        })
        .collect()
}

/// What the authorizer sees of a request: (verb, group, resource[/subresource]); None for
/// non-resource paths (discovery, /version), which every authenticated user may get.
fn attributes(e: &LogEntry) -> Option<(String, String, String)> {
    let path = e.path.split('?').next().unwrap_or("");
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segs.as_slice() {
        ["api", _v, rest @ ..] => (String::new(), rest.to_vec()),
        ["apis", g, _v, rest @ ..] => (g.to_string(), rest.to_vec()),
        _ => return None,
    };
    if rest.is_empty() {
        return None;
    }
    let (resource, name, sub) = if rest[0] == "namespaces" && rest.len() >= 3 {
        (rest[2], rest.get(3).copied(), rest.get(4).copied())
    } else {
        (rest[0], rest.get(1).copied(), rest.get(2).copied())
    };
    let resource = match sub {
        Some(s) => format!("{resource}/{s}"),
        None => resource.to_string(),
    };
    let watch = e
        .query
        .split('&')
        .any(|q| q == "watch=true" || q == "watch=1");
    let verb = match (e.method.as_str(), name) {
        ("GET", Some(_)) => "get",
        ("GET", None) if watch => "watch",
        ("GET", None) => "list",
        ("POST", _) => "create",
        ("PATCH", _) => "patch",
        ("PUT", _) => "update",
        ("DELETE", Some(_)) => "delete",
        ("DELETE", None) => "deletecollection",
        _ => return None,
    };
    Some((verb.to_string(), group, resource))
}

fn allows(r: &Rule, (verb, group, resource): &(String, String, String)) -> bool {
    let verb_ok = r.verbs.iter().any(|v| v == verb || v == "*")
        // exec over WebSocket is a GET the API server also authorizes as create (1.30+).
        || (resource == "pods/exec" && verb == "get" && r.verbs.iter().any(|v| v == "create"));
    r.groups.iter().any(|g| g == group || g == "*")
        && r.resources.iter().any(|x| x == resource || x == "*")
        && verb_ok
}

fn role_yaml(name: &str, rules: &[&Rule]) -> String {
    let mut s = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {name}\nrules:\n"
    );
    for r in rules {
        s.push_str(&r.yaml);
    }
    s
}

/// Give `user` exactly the README's rules tagged `command`.
fn grant(rc: &RealCluster, user: &str, command: &str, rules: &[Rule]) -> Vec<Rule> {
    let mine: Vec<&Rule> = rules
        .iter()
        .filter(|r| r.commands.iter().any(|c| c == command))
        .collect();
    assert!(!mine.is_empty(), "no README rule names {command}");
    let role = format!("promfix-{command}");
    let file = rc.cp.dir().join(format!("{role}.yaml"));
    std::fs::write(&file, role_yaml(&role, &mine)).unwrap();
    rc.cp
        .kubectl_ok(&["apply", "-f", &file.display().to_string()])
        .unwrap();
    // Applied, not created: a command may run twice (doctor before and after the etcd fix).
    let binding = rc.cp.dir().join(format!("{role}-{user}.yaml"));
    std::fs::write(
        &binding,
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {role}-{user}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: {role}\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: {user}\n"
        ),
    )
    .unwrap();
    rc.cp
        .kubectl_ok(&["apply", "-f", &binding.display().to_string()])
        .unwrap();
    mine.into_iter().cloned().collect()
}

/// Run `command` as its own user with exactly its rules; check the job was done with them and
/// that each rule was needed.
fn check(
    rc: &RealCluster,
    cwd: &Path,
    command: &str,
    rules: &[Rule],
    args: &[&str],
    codes: &[i32],
    failures: &mut Vec<String>,
) -> BTreeSet<(String, String, String)> {
    let user = format!("u-{command}");
    let mine = grant(rc, &user, command, rules);
    rc.faults().clear_log();
    let run = plugin_with(&rc.proxy_kubeconfig, cwd, Some(&user), args);
    let log: Vec<LogEntry> = rc
        .faults()
        .log()
        .into_iter()
        .filter(|e| e.user == user)
        .collect();
    let used: BTreeSet<(String, String, String)> = log.iter().filter_map(attributes).collect();
    let refused: Vec<String> = log
        .iter()
        .filter(|e| e.status == 403)
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    let uncovered: Vec<&(String, String, String)> = used
        .iter()
        .filter(|a| !mine.iter().any(|r| allows(r, a)))
        .collect();
    eprintln!("{command}: its requests (verb, group, resource): {used:?}");
    let mut fail = |m: String| failures.push(format!("{command}: {m}\n  its requests: {used:?}"));
    if !refused.is_empty() || !uncovered.is_empty() {
        fail(format!(
            "the README's rules for it do not cover its requests: refused {refused:?}; not in its rules {uncovered:?}"
        ));
    }
    if !codes.contains(&run.code) {
        fail(format!(
            "exited {} (want {codes:?})\n{}\n{}",
            run.code, run.stdout, run.stderr
        ));
    }
    let lower = run.stderr.to_lowercase();
    if lower.contains("forbidden") || lower.contains("cannot ") {
        fail(format!("something was refused or skipped:\n{}", run.stderr));
    }
    used
}

/// Rules a command needs only where something fails, which these runs' scenarios do not
/// show: doctor reads a kubelet's `/configz` (nodes/proxy) only for nodes whose kubelet target
/// is down or missing (issue 16); scenario a does not monitor the kubelet at all. tests/doctor.rs
/// shows those reads where workers' kubelets answer 403. rollback patches a PrometheusAgent
/// only to undo a fix made to one (tests/real_agent.rs); these runs fix a Prometheus.
const CONDITIONAL: &[(&str, &str)] = &[("doctor", "nodes/proxy"), ("rollback", "prometheusagents")];

/// The rules tagged `command` that none of its runs used.
fn stale(command: &str, rules: &[Rule], used: &BTreeSet<(String, String, String)>) -> Vec<String> {
    rules
        .iter()
        .filter(|r| r.commands.iter().any(|c| c == command))
        .filter(|r| {
            !CONDITIONAL
                .iter()
                .any(|(c, res)| *c == command && r.resources.iter().any(|x| x == res))
        })
        .filter(|r| !used.iter().any(|a| allows(r, a)))
        .map(|r| r.yaml.replace('\n', " "))
        .collect()
}

const COMMANDS_A: &[&str] = &["doctor", "kubelet", "etcd", "verify", "rollback"];
const COMMANDS_E: &[&str] = &["kube-proxy", "control-plane"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subcommand_runs_with_exactly_the_readme_rules_that_name_it() {
    let rules = readme_rules();
    // Every subcommand that talks to the cluster is covered by a rule and by this test.
    let named: BTreeSet<&str> = rules
        .iter()
        .flat_map(|r| r.commands.iter().map(String::as_str))
        .collect();
    let tested: BTreeSet<&str> = COMMANDS_A.iter().chain(COMMANDS_E).copied().collect();
    assert_eq!(
        named, tested,
        "the README's tags and the subcommands this test runs"
    );

    let users = |cmds: &[&str]| RealOptions {
        users: cmds
            .iter()
            .map(|c| TokenUser::new(&format!("u-{c}")))
            .collect(),
        ..Default::default()
    };
    let cwd = tempfile::tempdir().unwrap();
    let backups = cwd.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let bdir = backups.display().to_string();
    let backup_of = |command: &str| {
        std::fs::read_dir(&backups)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.to_string_lossy()
                    .contains(&format!("promfix-backup-{command}-"))
            })
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    let mut failures = Vec::new();
    let f = &mut failures;
    let mut used: std::collections::BTreeMap<&str, BTreeSet<(String, String, String)>> =
        Default::default();
    let mut note = |c: &'static str, u: BTreeSet<(String, String, String)>| {
        used.entry(c).or_default().extend(u)
    };

    // Scenario a, the seed: etcd, its verify and rollback; doctor and kubelet.
    let (a, e) = tokio::join!(
        RealCluster::start_builtin("a-seed-stable-prometheus-operator", users(COMMANDS_A)),
        RealCluster::start_builtin(
            "e-kube-proxy-metrics-bind-address",
            users(&["kube-proxy", "rollback"])
        ),
    );
    let a = a.unwrap_or_else(|e| panic!("scenario a on the real control plane: {e:#}"));
    let e = e.unwrap_or_else(|e| panic!("scenario e-kube-proxy on the real control plane: {e:#}"));
    // Prometheus must answer before doctor and verify can read its targets.
    a.wait_for(
        "Prometheus answering its targets",
        std::time::Duration::from_secs(120),
        || async {
            Ok(a
                .get_json("/api/v1/namespaces/monitoring/pods/prometheus-prom-prometheus-operator-prometheus-0:9090/proxy/api/v1/targets")
                .await
                .ok()
                .flatten())
        },
    )
    .await
    .unwrap();
    note(
        "doctor",
        check(&a, cwd.path(), "doctor", &rules, &["doctor"], &[3], f),
    );
    note(
        "kubelet",
        check(&a, cwd.path(), "kubelet", &rules, &["kubelet"], &[0], f),
    );
    let certs = a.kubespray_cert_args();
    let mut fix: Vec<&str> = vec!["etcd"];
    fix.extend(certs.iter().map(String::as_str));
    fix.extend(["--yes", "--backup-dir", &bdir]);
    note("etcd", check(&a, cwd.path(), "etcd", &rules, &fix, &[0], f));
    note(
        "verify",
        check(&a, cwd.path(), "verify", &rules, &["verify"], &[0], f),
    );
    // After the fix, doctor reads the Secret's client certificate (its life).
    note(
        "doctor",
        check(&a, cwd.path(), "doctor", &rules, &["doctor"], &[0, 3], f),
    );
    let b = backup_of("etcd");
    note(
        "rollback",
        check(
            &a,
            cwd.path(),
            "rollback",
            &rules,
            &["rollback", &b, "--yes", "--backup-dir", &bdir],
            &[0],
            f,
        ),
    );
    drop(a);

    // kube-proxy's ConfigMap and rollout, and its rollback.
    note(
        "kube-proxy",
        check(
            &e,
            cwd.path(),
            "kube-proxy",
            &rules,
            &[
                "kube-proxy",
                "--yes",
                "--timeout",
                "3m",
                "--backup-dir",
                &bdir,
            ],
            &[0],
            f,
        ),
    );
    let b = backup_of("kube-proxy");
    note(
        "rollback",
        check(
            &e,
            cwd.path(),
            "rollback",
            &rules,
            &["rollback", &b, "--yes", "--backup-dir", &bdir],
            &[0],
            f,
        ),
    );
    drop(e);

    // The scheduler and controller-manager on the insecure ports: control-plane writes.
    let c = RealCluster::start_builtin("e-control-plane-insecure-ports", users(COMMANDS_E))
        .await
        .unwrap_or_else(|e| panic!("scenario e-control-plane on the real control plane: {e:#}"));
    note(
        "control-plane",
        check(
            &c,
            cwd.path(),
            "control-plane",
            &rules,
            &["control-plane", "--yes", "--backup-dir", &bdir],
            &[0],
            f,
        ),
    );

    for (command, u) in &used {
        let unused = stale(command, &rules, u);
        if !unused.is_empty() {
            f.push(format!(
                "{command}: README rules tagged with it that none of its runs used: {unused:?}\n  its requests: {u:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
