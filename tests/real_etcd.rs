//! The seed's etcd fix on the REAL control plane (kube-apiserver, kube-controller-manager,
//! kube-scheduler, etcd, the Prometheus Operator, built from their Go modules): scenario a, a
//! kubespray cluster with external etcd and the old stable/prometheus-operator chart.
//!
//! What the real components decide here, and no code of ours: the API server's validation and
//! patch semantics of every write the plugin makes; the endpoints and EndpointSlice controllers'
//! reaction to the selector removal (the stale slice, kubernetes/kubernetes#118376) and the
//! mirroring controller's slices of the hand-written Endpoints; the operator's StatefulSet (the
//! Secret's volume and mount path) and its generated scrape configuration.

mod common_readme;
mod common_real;

use common_real::*;

use promfix_testcluster::real::{RealCluster, RealOptions, TokenUser};
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const NS: &str = "monitoring";
const PROMETHEUS: &str = "prom-prometheus-operator-prometheus";
const SERVICE: &str = "prom-prometheus-operator-kube-etcd";
const STS: &str = "prometheus-prom-prometheus-operator-prometheus";
const MOUNT: &str = "/etc/prometheus/secrets/etcd-client-cert";

/// `etcd` with the first node's kubespray files, `--yes --no-verify`.
fn fix_args(rc: &RealCluster) -> Vec<String> {
    let mut v = vec!["etcd".to_string()];
    v.extend(rc.kubespray_cert_args());
    v.extend(["--yes".into(), "--no-verify".into()]);
    v
}

/// The backup file an `etcd` run wrote into `dir`.
fn backup_file(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("promfix-backup-etcd-")
        })
        .expect("the backup file")
        .display()
        .to_string()
}

fn slices_of(rc: &RealCluster) -> Vec<Value> {
    slices_of_service(rc, SERVICE)
}

fn slices_of_service(rc: &RealCluster, service: &str) -> Vec<Value> {
    let l = get(
        rc,
        &[
            "endpointslices",
            "-n",
            "kube-system",
            "-l",
            &format!("kubernetes.io/service-name={service}"),
        ],
    )
    .unwrap();
    l["items"].as_array().cloned().unwrap_or_default()
}

fn managed_by(slice: &Value) -> &str {
    slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"]
        .as_str()
        .unwrap_or("")
}

fn addresses(slice: &Value) -> Vec<String> {
    let mut v: Vec<String> = slice["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["addresses"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    v.sort();
    v
}

/// The operator's generated configuration (Secret prometheus-<name>, prometheus.yaml.gz).
fn generated_config(rc: &RealCluster) -> Option<String> {
    let s = get(
        rc,
        &["secret", "-n", NS, &format!("prometheus-{PROMETHEUS}")],
    )?;
    let b64 = s["data"]["prometheus.yaml.gz"].as_str()?;
    use base64::Engine;
    let gz = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let mut out = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut out)
        .ok()?;
    Some(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_etcd_fix_holds_on_the_real_control_plane() {
    let rc = start(A, RealOptions::default()).await;
    let members: Vec<String> = rc
        .etcd
        .as_ref()
        .unwrap()
        .members
        .iter()
        .map(|m| m.ip.to_string())
        .collect();

    // Before: the selector finds no etcd pod (kubespray runs etcd under systemd), so the real
    // EndpointSlice controller's slice is empty, and the real operator has reconciled the
    // Prometheus into a StatefulSet without the Secret.
    let empty = rc
        .wait_for(
            "the EndpointSlice controller's slice",
            Duration::from_secs(60),
            || async {
                Ok(slices_of(&rc)
                    .into_iter()
                    .find(|s| managed_by(s) == "endpointslice-controller.k8s.io"))
            },
        )
        .await
        .unwrap();
    assert!(addresses(&empty).is_empty(), "{empty}");
    let sts = rc
        .wait_for(
            "the operator's StatefulSet",
            Duration::from_secs(90),
            || async { Ok(get(&rc, &["statefulset", "-n", NS, STS])) },
        )
        .await
        .unwrap();
    assert!(!sts.to_string().contains("etcd-client-cert"), "{sts}");

    // The fix, with the files the kube-apiserver uses (as the seed did).
    let dir = rc.etcd_certs_dir.clone().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let ca = dir.join("ca.pem").display().to_string();
    let cert = dir.join("node-node1.pem").display().to_string();
    let key = dir.join("node-node1-key.pem").display().to_string();
    let args = [
        "etcd",
        "--ca",
        &ca,
        "--cert",
        &cert,
        "--key",
        &key,
        "--yes",
        "--no-verify",
    ];
    let run = plugin(&rc, cwd.path(), &args);
    assert_eq!(
        run.code, 0,
        "etcd on the real API server\n--- stdout\n{}\n--- stderr\n{}",
        run.stdout, run.stderr
    );

    // What the real API server now holds.
    let secret = get(&rc, &["secret", "-n", NS, "etcd-client-cert"]).expect("the Secret");
    let mut keys: Vec<&str> = secret["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["etcd-ca", "etcd-client", "etcd-client-key"]);
    let prom = get(&rc, &["prometheus", "-n", NS, PROMETHEUS]).unwrap();
    assert!(
        prom["spec"]["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "etcd-client-cert"),
        "{}",
        prom["spec"]
    );
    let svc = get(&rc, &["service", "-n", "kube-system", SERVICE]).unwrap();
    assert!(svc["spec"].get("selector").is_none(), "{}", svc["spec"]);
    let ep = get(&rc, &["endpoints", "-n", "kube-system", SERVICE]).unwrap();
    let mut ips: Vec<String> = ep["subsets"][0]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["ip"].as_str().unwrap().to_string())
        .collect();
    ips.sort();
    let mut want = members.clone();
    want.sort();
    assert_eq!(ips, want, "{ep}");
    assert_eq!(ep["subsets"][0]["ports"][0]["port"], 2379, "{ep}");
    let sm = get(&rc, &["servicemonitor", "-n", NS, SERVICE]).unwrap();
    let endpoint = &sm["spec"]["endpoints"][0];
    assert_eq!(endpoint["scheme"], "https", "{endpoint}");
    assert_eq!(
        endpoint["tlsConfig"]["caFile"],
        format!("{MOUNT}/etcd-ca"),
        "{endpoint}"
    );
    assert_eq!(
        endpoint["tlsConfig"]["certFile"],
        format!("{MOUNT}/etcd-client"),
        "{endpoint}"
    );
    assert_eq!(
        endpoint["tlsConfig"]["keyFile"],
        format!("{MOUNT}/etcd-client-key"),
        "{endpoint}"
    );

    // The real controllers: the EndpointSlice controller's stale slice is gone (the plugin deletes
    // it: with the selector removed the controller no longer manages it, #118376), and the
    // mirroring controller mirrors the hand-written Endpoints.
    let mirrored = rc
        .wait_for(
            "the mirroring controller's slice with the members",
            Duration::from_secs(60),
            || async {
                let s = slices_of(&rc);
                let stale = s
                    .iter()
                    .any(|s| managed_by(s) == "endpointslice-controller.k8s.io");
                Ok(s.into_iter()
                    .find(|s| managed_by(s) == "endpointslicemirroring-controller.k8s.io" && !stale)
                    .filter(|s| addresses(s) == want))
            },
        )
        .await
        .unwrap();
    assert_eq!(addresses(&mirrored), want);

    // The real operator: the Secret is a volume of the StatefulSet, mounted where the
    // ServiceMonitor's files point, and its configuration scrapes etcd over https with them.
    rc.wait_for(
        "the operator to mount the Secret",
        Duration::from_secs(90),
        || async {
            let sts = get(&rc, &["statefulset", "-n", NS, STS]).unwrap();
            let mounted = sts["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["name"] == "prometheus")
                .flat_map(|c| c["volumeMounts"].as_array().cloned().unwrap_or_default())
                .any(|m| m["mountPath"] == MOUNT);
            let volume = sts["spec"]["template"]["spec"]["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["secret"]["secretName"] == "etcd-client-cert");
            Ok((mounted && volume).then_some(()))
        },
    )
    .await
    .unwrap();
    let config = rc
        .wait_for(
            "the operator's etcd scrape job over https",
            Duration::from_secs(90),
            || async {
                Ok(generated_config(&rc)
                    .filter(|c| c.contains(&format!("ca_file: {MOUNT}/etcd-ca"))))
            },
        )
        .await
        .unwrap();
    let job = config
        .split("- job_name: ")
        .find(|j| j.starts_with(&format!("serviceMonitor/{NS}/{SERVICE}/0")))
        .unwrap_or_else(|| panic!("no etcd job in the generated configuration:\n{config}"));
    for want in [
        "scheme: https".to_string(),
        format!("cert_file: {MOUNT}/etcd-client"),
        format!("key_file: {MOUNT}/etcd-client-key"),
    ] {
        assert!(job.contains(&want), "{want} in the generated job:\n{job}");
    }

    // A second run against the fixed cluster changes nothing.
    let again = plugin(&rc, cwd.path(), &args);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    let all = format!("{}{}", again.stdout, again.stderr);
    assert!(all.contains("Nothing to change"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_cluster_role_is_enough_for_the_real_authorizer_and_reads_alone_are_not() {
    let rc = start(
        A,
        RealOptions {
            users: vec![TokenUser::new("promfix"), TokenUser::new("reader")],
            ..Default::default()
        },
    )
    .await;
    let role =
        common_readme::readme_role().expect("README.md's ## RBAC section has the ClusterRole");
    let reader_role = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
rules:
- apiGroups: ["", "discovery.k8s.io", "monitoring.coreos.com"]
  resources: ["*"]
  verbs: ["get", "list"]
- apiGroups: ["authorization.k8s.io"]
  resources: ["selfsubjectaccessreviews"]
  verbs: ["create"]
"#;
    for (role_yaml, user) in [(role.as_str(), "promfix"), (reader_role, "reader")] {
        let file = rc.cp.dir().join(format!("role-{user}.yaml"));
        std::fs::write(&file, role_yaml).unwrap();
        rc.cp
            .kubectl_ok(&["apply", "-f", &file.display().to_string()])
            .unwrap();
        let name: Value = serde_yaml_ng::from_str(role_yaml).unwrap();
        let name = name["metadata"]["name"].as_str().unwrap().to_string();
        rc.cp
            .kubectl_ok(&[
                "create",
                "clusterrolebinding",
                &format!("{user}-binding"),
                &format!("--clusterrole={name}"),
                &format!("--user={user}"),
            ])
            .unwrap();
    }
    let cwd = tempfile::tempdir().unwrap();
    let fix = fix_args(&rc);
    let args: Vec<&str> = fix.iter().map(String::as_str).collect();

    // Reads alone: every refused write is named at once (the real authorizer's answers to the
    // plugin's SelfSubjectAccessReviews), exit 5, and nothing is written.
    let denied = plugin_as(&rc, cwd.path(), Some("reader"), &args);
    assert_eq!(denied.code, 5, "{}\n{}", denied.stdout, denied.stderr);
    for what in [
        "create secrets",
        "patch prometheuses",
        "patch services",
        "patch servicemonitors",
    ] {
        assert!(
            denied.stderr.contains(what),
            "{what:?} in:\n{}",
            denied.stderr
        );
    }
    assert!(get(&rc, &["secret", "-n", NS, "etcd-client-cert"]).is_none());

    // The scenario's `limited` user (get/list services in kube-system only, plus what
    // system:basic-user grants every authenticated user: access reviews) is told all it lacks.
    let limited = plugin_as(&rc, cwd.path(), Some("limited"), &args);
    assert_eq!(limited.code, 5, "{}\n{}", limited.stdout, limited.stderr);
    for what in [
        "missing permissions, nothing was changed",
        "list prometheuses",
        "create secrets",
    ] {
        assert!(
            limited.stderr.contains(what),
            "{what:?} in:\n{}",
            limited.stderr
        );
    }

    // The README's ClusterRole: the fix, then its rollback.
    let ok = plugin_as(&rc, cwd.path(), Some("promfix"), &args);
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    assert!(get(&rc, &["secret", "-n", NS, "etcd-client-cert"]).is_some());
    let backup = backup_file(cwd.path());
    let rolled = plugin_as(
        &rc,
        cwd.path(),
        Some("promfix"),
        &["rollback", &backup, "--yes"],
    );
    assert_eq!(rolled.code, 0, "{}\n{}", rolled.stdout, rolled.stderr);
    let svc = get(&rc, &["service", "-n", "kube-system", SERVICE]).unwrap();
    assert_eq!(
        svc["spec"]["selector"]["component"], "etcd",
        "{}",
        svc["spec"]
    );
    assert!(get(&rc, &["secret", "-n", NS, "etcd-client-cert"]).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_between_the_plugin_and_the_real_api_server_converge() {
    use promfix_testcluster::faults::FaultKind;
    let rc = start(A, RealOptions::default()).await;
    let cwd = tempfile::tempdir().unwrap();
    let fix = fix_args(&rc);
    let args: Vec<&str> = fix.iter().map(String::as_str).collect();
    let kc = rc.proxy_kubeconfig.clone();

    // Transient answers (twice each: the retry meets the fault again): retried, and the result is
    // what the real API server holds after an undisturbed run.
    rc.faults()
        .fail_next_writes(Some("prometheuses"), 2, FaultKind::Conflict);
    rc.faults()
        .fail_next_writes(Some("services"), 2, FaultKind::Internal);
    rc.faults().fail_next_writes(
        Some("servicemonitors"),
        1,
        FaultKind::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    let run = plugin_with(&kc, cwd.path(), None, &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let log = rc.faults().log();
    let answered = |code: u16, plural: &str| {
        log.iter()
            .filter(|e| e.status == code && e.path.contains(plural))
            .count()
    };
    // At least the two injected: the real operator writes the Prometheus' status meanwhile, and
    // the real API server may refuse a patch on a stale resourceVersion too.
    assert!(answered(409, "/prometheuses/") >= 2, "{log:#?}");
    assert_eq!(answered(500, "/services/"), 2, "{log:#?}");
    assert_eq!(answered(429, "/servicemonitors/"), 1, "{log:#?}");
    assert!(
        log.iter().all(|e| e.user == "admin"),
        "every request is the admin's: {log:#?}"
    );
    let by_verb = |m: &str| log.iter().filter(|e| e.method == m).count();
    eprintln!(
        "etcd through the proxy: {} requests (GET {}, POST {}, PATCH {}, DELETE {})",
        log.len(),
        by_verb("GET"),
        by_verb("POST"),
        by_verb("PATCH"),
        by_verb("DELETE")
    );
    let svc = get(&rc, &["service", "-n", "kube-system", SERVICE]).unwrap();
    assert!(svc["spec"].get("selector").is_none(), "{}", svc["spec"]);
    let sm = get(&rc, &["servicemonitor", "-n", NS, SERVICE]).unwrap();
    assert_eq!(sm["spec"]["endpoints"][0]["scheme"], "https");

    // Back to the start, then connections cut around writes: the Secret's create is applied but
    // its answer lost, the Service patch is lost unapplied. A second run (if the first gave up)
    // converges, and a third writes nothing.
    let backup = backup_file(cwd.path());
    let rolled = plugin_with(&kc, cwd.path(), None, &["rollback", &backup, "--yes"]);
    assert_eq!(rolled.code, 0, "{}\n{}", rolled.stdout, rolled.stderr);
    rc.faults().drop_at_write(1, true);
    rc.faults().drop_at_write(3, false);
    let first = plugin_with(&kc, cwd.path(), None, &args);
    if first.code != 0 {
        assert_eq!(first.code, 1, "{}\n{}", first.stdout, first.stderr);
        assert!(
            first.stderr.contains("run the same command again"),
            "{}",
            first.stderr
        );
        let second = plugin_with(&kc, cwd.path(), None, &args);
        assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    }
    rc.faults().clear_log();
    let third = plugin_with(&kc, cwd.path(), None, &args);
    assert_eq!(third.code, 0, "{}\n{}", third.stdout, third.stderr);
    let writes: Vec<_> = rc
        .faults()
        .log()
        .into_iter()
        .filter(|e| e.is_write)
        .collect();
    assert!(
        writes.is_empty(),
        "a converged cluster was written again: {writes:#?}"
    );
    let svc = get(&rc, &["service", "-n", "kube-system", SERVICE]).unwrap();
    assert!(svc["spec"].get("selector").is_none(), "{}", svc["spec"]);
}

/// kubeadm's stacked etcd (scenario b, kube-prometheus-stack): the chart's `component: etcd`
/// selector finds the etcd static pods, so the fix keeps it and moves only the port; the real
/// endpoints and EndpointSlice controllers follow the Service (issue 13, item 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_kubeadm_the_selector_that_finds_the_etcd_pods_stays() {
    const SVC: &str = "prometheus-kube-prometheus-kube-etcd";
    let rc = start(B, RealOptions::default()).await;
    let member = rc.etcd.as_ref().unwrap().members[0].ip.to_string();
    // The real endpoints controller lists the etcd pod on the metrics port first.
    rc.wait_for(
        "the etcd pod in the Service's Endpoints",
        Duration::from_secs(60),
        || async {
            let ep = get(&rc, &["endpoints", "-n", "kube-system", SVC]);
            Ok(ep.filter(|e| e["subsets"][0]["addresses"][0]["targetRef"]["name"] == "etcd-node1"))
        },
    )
    .await
    .unwrap();
    let dir = rc.etcd_certs_dir.clone().unwrap().display().to_string();
    let cwd = tempfile::tempdir().unwrap();
    let run = plugin(
        &rc,
        cwd.path(),
        &["etcd", "--from-dir", &dir, "--yes", "--no-verify"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        !run.stdout.contains("patch Endpoints"),
        "hand-written Endpoints:\n{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("delete EndpointSlice"),
        "{}",
        run.stdout
    );
    let svc = get(&rc, &["service", "-n", "kube-system", SVC]).unwrap();
    assert_eq!(
        svc["spec"]["selector"]["component"], "etcd",
        "{}",
        svc["spec"]
    );
    assert_eq!(svc["spec"]["ports"][0]["port"], 2379, "{}", svc["spec"]);
    // The controllers follow: the pod, on the client port.
    let ep = rc
        .wait_for(
            "the endpoints controller to follow the port",
            Duration::from_secs(60),
            || async {
                let ep = get(&rc, &["endpoints", "-n", "kube-system", SVC]);
                Ok(ep.filter(|e| e["subsets"][0]["ports"][0]["port"] == 2379))
            },
        )
        .await
        .unwrap();
    assert_eq!(
        ep["subsets"][0]["addresses"][0]["ip"],
        member.as_str(),
        "{ep}"
    );
    assert_eq!(
        ep["subsets"][0]["addresses"][0]["targetRef"]["name"], "etcd-node1",
        "{ep}"
    );
    let slice = rc
        .wait_for(
            "the EndpointSlice controller to follow the port",
            Duration::from_secs(60),
            || async {
                Ok(slices_of_service(&rc, SVC).into_iter().find(|s| {
                    managed_by(s) == "endpointslice-controller.k8s.io"
                        && s["ports"][0]["port"] == 2379
                }))
            },
        )
        .await
        .unwrap();
    assert_eq!(addresses(&slice), vec![member]);
    let sm = get(&rc, &["servicemonitor", "-n", NS, SVC]).unwrap();
    assert_eq!(
        sm["spec"]["endpoints"][0]["scheme"], "https",
        "{}",
        sm["spec"]
    );
    // And the fixed cluster needs nothing more.
    let again = plugin(
        &rc,
        cwd.path(),
        &["etcd", "--from-dir", &dir, "--yes", "--no-verify"],
    );
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(
        again.stdout.contains("Nothing to change"),
        "{}",
        again.stdout
    );
}

/// `ignoreNamespaceSelectors: true` on the Prometheus: the real operator looks for the
/// ServiceMonitor's Services only in its own namespace, whatever its namespaceSelector says, so
/// the fix makes the selector-free etcd Service there (issue 13, item 6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_ignore_namespace_selectors_the_service_goes_where_the_operator_looks() {
    let rc = start(A, RealOptions::default()).await;
    rc.cp
        .kubectl_ok(&[
            "patch",
            "prometheus",
            PROMETHEUS,
            "-n",
            NS,
            "--type=merge",
            "--field-manager=helm",
            "-p",
            r#"{"spec":{"ignoreNamespaceSelectors":true}}"#,
        ])
        .unwrap();
    // What the real operator makes of it: the etcd job discovers endpoints in `monitoring` only.
    let job_namespaces = |config: &str| -> Option<String> {
        let job = config
            .split("- job_name: ")
            .find(|j| j.starts_with(&format!("serviceMonitor/{NS}/{SERVICE}/0")))?;
        let at = job.find("namespaces:")?;
        Some(job[at..].lines().take(3).collect::<Vec<_>>().join(" "))
    };
    let ns_line = rc
        .wait_for(
            "the operator's config with ignoreNamespaceSelectors",
            Duration::from_secs(90),
            || async {
                Ok(generated_config(&rc)
                    .and_then(|c| job_namespaces(&c))
                    .filter(|l| l.contains("- monitoring")))
            },
        )
        .await
        .unwrap();
    assert!(!ns_line.contains("kube-system"), "{ns_line}");

    let cwd = tempfile::tempdir().unwrap();
    let fix = fix_args(&rc);
    let args: Vec<&str> = fix.iter().map(String::as_str).collect();
    let run = plugin(&rc, cwd.path(), &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("ignoreNamespaceSelectors"),
        "{}",
        run.stdout
    );
    // A selector-free Service with the ServiceMonitor's labels and its Endpoints in `monitoring`;
    // the chart's Service in kube-system is left as it was.
    let svc = get(&rc, &["service", "-n", NS, SERVICE]).expect("the etcd Service in monitoring");
    assert!(svc["spec"].get("selector").is_none(), "{}", svc["spec"]);
    let sm = get(&rc, &["servicemonitor", "-n", NS, SERVICE]).unwrap();
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&svc["metadata"]["labels"][k], v, "{}", svc["metadata"]);
    }
    let ep = get(&rc, &["endpoints", "-n", NS, SERVICE]).expect("its Endpoints");
    assert_eq!(
        ep["subsets"][0]["addresses"].as_array().unwrap().len(),
        3,
        "{ep}"
    );
    let chart = get(&rc, &["service", "-n", "kube-system", SERVICE]).unwrap();
    assert_eq!(
        chart["spec"]["selector"]["component"], "etcd",
        "{}",
        chart["spec"]
    );
    let again = plugin(&rc, cwd.path(), &args);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(
        again.stdout.contains("Nothing to change"),
        "{}",
        again.stdout
    );
}

/// Two ServiceMonitors that could both be etcd's: refused, both named, until one is chosen with
/// `--service-monitor` (issue 13, item 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tie_between_etcd_service_monitors_is_refused_until_one_is_chosen() {
    let rc = start(A, RealOptions::default()).await;
    let mut copy = get(&rc, &["servicemonitor", "-n", NS, SERVICE]).unwrap();
    copy["metadata"] = serde_json::json!({"name": "kube-etcd-copy", "namespace": NS,
        "labels": copy["metadata"]["labels"].clone()});
    let file = rc.cp.dir().join("copy.json");
    std::fs::write(&file, copy.to_string()).unwrap();
    rc.cp
        .kubectl_ok(&["create", "-f", &file.display().to_string()])
        .unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let fix = fix_args(&rc);
    let mut args: Vec<&str> = fix.iter().map(String::as_str).collect();
    let tie = plugin(&rc, cwd.path(), &args);
    assert_ne!(tie.code, 0, "{}\n{}", tie.stdout, tie.stderr);
    for want in [
        format!("{NS}/{SERVICE}"),
        format!("{NS}/kube-etcd-copy"),
        "--service-monitor".to_string(),
    ] {
        assert!(tie.stderr.contains(&want), "{want:?} in:\n{}", tie.stderr);
    }
    assert!(
        get(&rc, &["secret", "-n", NS, "etcd-client-cert"]).is_none(),
        "written despite the tie"
    );
    let choice = format!("{NS}/kube-etcd-copy");
    args.extend(["--service-monitor", &choice]);
    let chosen = plugin(&rc, cwd.path(), &args);
    assert_eq!(chosen.code, 0, "{}\n{}", chosen.stdout, chosen.stderr);
    let sm = get(&rc, &["servicemonitor", "-n", NS, "kube-etcd-copy"]).unwrap();
    assert_eq!(
        sm["spec"]["endpoints"][0]["scheme"], "https",
        "{}",
        sm["spec"]
    );
    let other = get(&rc, &["servicemonitor", "-n", NS, SERVICE]).unwrap();
    assert!(
        other["spec"]["endpoints"][0].get("scheme").is_none(),
        "{}",
        other["spec"]
    );
}

/// The seed's story end to end on the real control plane, with the node agent running the
/// operator's Prometheus pods (real Prometheus 3, Kubernetes service discovery with its own
/// service account): no etcd target, the fix, the Secret's files in both replicas, every member
/// scraped over mTLS and up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_story_ends_with_every_etcd_target_up_in_both_replicas() {
    let rc = start(A, RealOptions::default()).await;
    let pods: Vec<String> = (0..2).map(|i| format!("{STS}-{i}")).collect();
    // Before: Prometheus runs, discovers, and has no etcd target at all.
    for p in &pods {
        let t = rc
            .wait_for(
                "Prometheus answering its targets",
                Duration::from_secs(120),
                || async { Ok(targets(&rc, NS, p, "kube-etcd")) },
            )
            .await
            .unwrap();
        assert!(t.is_empty(), "{p}: {t:?}");
    }
    let uids: Vec<String> = pods
        .iter()
        .map(|p| {
            get(&rc, &["pod", "-n", NS, p]).unwrap()["metadata"]["uid"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let cwd = tempfile::tempdir().unwrap();
    // The whole command, verify included: it waits for the rollout, reads the files in each pod
    // with exec (the API server upgrades to the node agent's kubelet API) and the targets
    // through pods/proxy.
    let mut args = vec!["etcd"];
    let certs = rc.kubespray_cert_args();
    args.extend(certs.iter().map(String::as_str));
    args.push("--yes");
    let run = plugin(&rc, cwd.path(), &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("verified: 2 pod(s): files present and equal to the Secret, etcd targets up"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(
        run.stdout
            .matches("ok (sha256 equal to the Secret's)")
            .count(),
        6,
        "three files in each of two pods: {}",
        run.stdout
    );
    let want = etcd_member_urls(&rc);
    let agent = rc.agent.as_ref().expect("the node agent runs");
    for (p, old) in pods.iter().zip(&uids) {
        // The real StatefulSet controller rolls the pod to mount the Secret...
        rc.wait_for(
            "the pod rolled with the Secret mounted",
            Duration::from_secs(180),
            || async {
                let pod = get(&rc, &["pod", "-n", NS, p]);
                let rolled = pod
                    .as_ref()
                    .is_some_and(|o| o["metadata"]["uid"] != old.as_str());
                Ok(
                    (rolled && agent.volume_dir(NS, p, "secret-etcd-client-cert").is_some())
                        .then_some(()),
                )
            },
        )
        .await
        .unwrap();
        let dir = agent.volume_dir(NS, p, "secret-etcd-client-cert").unwrap();
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with(".."))
            .collect();
        files.sort();
        assert_eq!(
            files,
            ["etcd-ca", "etcd-client", "etcd-client-key"],
            "{p}: {}",
            dir.display()
        );
        // ...and its Prometheus scrapes every member over mTLS with them.
        let up = wait_targets_up(&rc, NS, p, "kube-etcd", &want, Duration::from_secs(180)).await;
        assert!(up.iter().all(|t| t.2.is_empty()), "{p}: {up:?}");
    }

    // The seed's chart scrapes etcd only. With etcd fixed, doctor does not pass: the other
    // components are not monitored at all (their `absent(up{job=...})` alerts fire), a finding.
    let doc = plugin(&rc, cwd.path(), &["doctor", "-o", "json"]);
    assert_eq!(doc.code, 3, "{}\n{}", doc.stdout, doc.stderr);
    let v: Value = serde_json::from_str(&doc.stdout).expect("doctor -o json is one document");
    let rows = v["clusters"][0]["rows"].as_array().expect("rows");
    let status = |c: &str| {
        rows.iter()
            .find(|r| r["component"] == c)
            .unwrap_or_else(|| panic!("no row for {c}: {v:#}"))
    };
    assert_eq!(status("etcd")["status"], "ok", "{v:#}");
    for c in [
        "kube-scheduler",
        "kube-controller-manager",
        "kube-proxy",
        "kubelet",
    ] {
        let r = status(c);
        assert_eq!(r["status"], "not-monitored", "{c}: {r:#}");
        assert_eq!(r["unchecked"], false, "{c}: {r:#}");
        assert!(r["total"].is_null(), "{c}: {r:#}");
    }
    assert!(
        status("kube-scheduler")["cause"]
            .as_str()
            .unwrap()
            .contains("KubeSchedulerDown"),
        "{v:#}"
    );
    // Counted: the four the seeds are about; the apiserver and CoreDNS are reported only.
    assert_eq!(v["problems"], 4, "{v:#}");
    assert_eq!(status("apiserver")["status"], "not-monitored", "{v:#}");
    let table = plugin(&rc, cwd.path(), &["doctor"]);
    assert_eq!(table.code, 3, "{}", table.stderr);
    assert!(
        table.stdout.lines().any(|l| l.starts_with("kube-scheduler")
            && l.contains("NOT-MONITORED")
            && l.contains("not monitored")),
        "{}",
        table.stdout
    );
    // The fix for the scheduler and controller-manager says plainly that it creates nothing,
    // instead of calling the cluster fine.
    let cp = plugin(&rc, cwd.path(), &["control-plane", "--dry-run"]);
    assert_eq!(cp.code, 0, "{}", cp.stderr);
    for c in ["kube-scheduler", "kube-controller-manager"] {
        assert!(
            cp.stdout.contains(&format!(
                "not fixed: {c} is not monitored: no ServiceMonitor scrapes it"
            )),
            "{}",
            cp.stdout
        );
    }
    assert!(
        cp.stdout.contains("Nothing this command can change")
            && !cp.stdout.contains("already as it should be"),
        "{}",
        cp.stdout
    );
}

/// Ctrl-C while `etcd` waits for the Prometheus rollout, after its writes: piped, the wait
/// prints a line when the counts change (pods updated/ready out of the replicas, the elapsed
/// time and `--timeout`); SIGINT exits 130 and says the changes were written, names the backup,
/// how to check them (`kubectl promfix verify`) and the rollback line, which restores the
/// cluster as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_waiting_for_the_rollout_says_the_changes_were_written_and_how_to_undo_them() {
    use std::io::BufRead;
    use std::time::Instant;
    let rc = start(A, RealOptions::default()).await;
    let cwd = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec!["etcd".into()];
    args.extend(rc.kubespray_cert_args());
    args.extend(["--yes", "--timeout", "4m", "--backup-dir"].map(String::from));
    args.push(backups.path().display().to_string());
    let mut child = Command::new(BIN)
        .arg("--kubeconfig")
        .arg(rc.kubeconfig())
        .args(&args)
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .current_dir(cwd.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running kubectl-promfix");
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for l in std::io::BufReader::new(stderr).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut stdout_pipe = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout_pipe.read_to_string(&mut s);
        s
    });

    // Stderr up to the first progress line of the rollout wait, then a few polls more.
    const WAIT: &str = "... waiting for the rollout of Prometheus";
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut first_progress: Option<Instant> = None;
    loop {
        let left = match first_progress {
            Some(t) => (t + Duration::from_secs(7)).saturating_duration_since(Instant::now()),
            None => deadline.saturating_duration_since(Instant::now()),
        };
        if left.is_zero() {
            break;
        }
        match lines.recv_timeout(left) {
            Ok(l) => {
                if first_progress.is_none() && l.starts_with(WAIT) && l.contains("(elapsed ") {
                    first_progress = Some(Instant::now());
                }
                seen.push(l);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let progress: Vec<&String> = seen
        .iter()
        .filter(|l| l.starts_with(WAIT) && l.contains("(elapsed "))
        .collect();
    assert!(
        !progress.is_empty(),
        "no progress line of the rollout wait within 180 s (the process {}):\n{}",
        match child.try_wait() {
            Ok(Some(s)) => format!("exited: {s}"),
            _ => "still runs".into(),
        },
        seen.join("\n")
    );
    for l in &progress {
        assert!(
            l.contains("/2 pods updated, ") && l.contains("/2 ready (elapsed "),
            "the counts out of the 2 replicas: {l}"
        );
        assert!(l.ends_with(" of 4m0s)"), "the timeout (--timeout 4m): {l}");
    }
    // Piped, a line only when the counts change (the wait polls every 2 s; 7 s were read).
    let counts = |l: &str| {
        l.split(": ")
            .nth(1)
            .unwrap_or("")
            .split(" (elapsed")
            .next()
            .unwrap_or("")
            .to_string()
    };
    for w in progress.windows(2) {
        assert_ne!(
            counts(w[0]),
            counts(w[1]),
            "a line without a change:\n{}\n{}",
            w[0],
            w[1]
        );
    }

    // Ctrl-C (SIGINT to the process, as a terminal sends it).
    let pid = child.id().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(kill.success(), "kill -INT {pid}");
    let until = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= until {
            let _ = child.kill();
            panic!("still running 30 s after SIGINT:\n{}", seen.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    reader.join().unwrap();
    seen.extend(lines.try_iter());
    let stderr = seen.join("\n");
    let stdout = stdout.join().unwrap();
    eprintln!(
        "kubectl-promfix {} -> {status}\n--- stdout\n{stdout}--- stderr\n{stderr}",
        args.join(" ")
    );
    assert!(
        !format!("{stdout}{stderr}").contains("PRIVATE KEY-----"),
        "key material in the output"
    );
    assert_eq!(status.code(), Some(130), "{status}\n{stderr}");
    let backup = backup_file(backups.path());
    for want in [
        format!("interrupted: the changes were written (backup: {backup})"),
        "check them: `kubectl promfix verify`".to_string(),
        format!("undo them: `kubectl promfix rollback {backup}`"),
    ] {
        assert!(stderr.contains(&want), "{want:?} in:\n{stderr}");
    }
    assert!(
        stderr.lines().any(
            |l| l.starts_with("err waiting for the rollout of Prometheus")
                && l.ends_with(": interrupted")
        ),
        "the wait ends as interrupted:\n{stderr}"
    );
    assert!(
        !stdout.contains("verified:"),
        "no verdict after an interrupted wait:\n{stdout}"
    );

    // The rollback line it printed restores the cluster as it was.
    let undo = plugin(&rc, cwd.path(), &["rollback", &backup, "--yes"]);
    assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);
    assert!(
        get(&rc, &["secret", "-n", NS, "etcd-client-cert"]).is_none(),
        "the Secret the run created is deleted"
    );
    let prom = get(&rc, &["prometheus", "-n", NS, PROMETHEUS]).unwrap();
    assert!(
        !prom["spec"].to_string().contains("etcd-client-cert"),
        "{}",
        prom["spec"]
    );
    let svc = get(&rc, &["service", "-n", "kube-system", SERVICE]).unwrap();
    assert!(
        svc["spec"].get("selector").is_some(),
        "the selector is back: {}",
        svc["spec"]
    );
}
