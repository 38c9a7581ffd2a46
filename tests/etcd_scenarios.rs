//! Acceptance tests of issue 3 on the test cluster: `etcd`, `secret`, `endpoints` and
//! `servicemonitor` on scenarios (a), (b), (c) — directly with `--kubeconfig` and through
//! kubectl's plugin mechanism (`kubectl promfix`) — and the clear error of scenario (d).
//! These stories do not scrape etcd: the clusters start without etcd peers and the runs use
//! the corpus' good certificate set with `--no-probe`.

mod common_plugin;

use common_plugin::*;
use promfix_testcluster::harness::TestCluster;
use serde_json::Value;

/// What each scenario calls things.
struct Names {
    prom_ns: &'static str,
    prom: &'static str,
    svc: &'static str,
    sm_ns: &'static str,
    sm: &'static str,
}

fn names(scenario: &str) -> Names {
    match scenario {
        A => Names {
            prom_ns: "monitoring",
            prom: "prom-prometheus-operator-prometheus",
            svc: "prom-prometheus-operator-kube-etcd",
            sm_ns: "monitoring",
            sm: "prom-prometheus-operator-kube-etcd",
        },
        B => Names {
            prom_ns: "monitoring",
            prom: "prometheus-kube-prometheus-prometheus",
            svc: "prometheus-kube-prometheus-kube-etcd",
            sm_ns: "monitoring",
            sm: "prometheus-kube-prometheus-kube-etcd",
        },
        C => Names {
            prom_ns: "monitoring",
            prom: "k8s",
            svc: "etcd",
            sm_ns: "kube-system",
            sm: "etcd",
        },
        other => panic!("no names for {other}"),
    }
}

/// The etcd members' client addresses of the scenario, on this cluster's network.
fn member_ips(tc: &TestCluster) -> Vec<String> {
    let etcd = tc.scenario.spec.etcd.as_ref().expect("scenario has etcd");
    etcd.members
        .iter()
        .map(|m| {
            let o = m.ip.octets();
            format!("127.{}.{}.{}", tc.net(), o[2], o[3])
        })
        .collect()
}

fn endpoint_ips(ep: &Value) -> Vec<String> {
    let mut v: Vec<String> = ep["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["addresses"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["ip"].as_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

/// The Secret the plugin made (labelled managed-by kubectl-promfix), with its three keys.
fn check_secret(tc: &TestCluster) -> Value {
    let found: Vec<Value> = list(tc, "secrets", None)
        .into_iter()
        .filter(|s| s["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubectl-promfix")
        .collect();
    assert_eq!(found.len(), 1, "one Secret made by the plugin: {found:#?}");
    let s = found.into_iter().next().unwrap();
    let data = s["data"].as_object().expect("Secret data");
    assert_eq!(data.len(), 3, "CA, certificate and key: {:?}", data.keys());
    s
}

fn check_prometheus_mounts(tc: &TestCluster, n: &Names, secret: &Value) {
    let p = get(tc, "prometheuses", Some(n.prom_ns), n.prom).expect("Prometheus");
    let sname = secret["metadata"]["name"].as_str().unwrap();
    let mounted = p["spec"]["secrets"]
        .as_array()
        .is_some_and(|a| a.iter().any(|s| s == sname));
    // Files mode mounts the Secret; Secret-reference mode needs the Secret in the
    // ServiceMonitor's namespace instead.
    let refs = secret["metadata"]["namespace"] == n.sm_ns && !mounted;
    assert!(
        mounted || refs,
        "the Prometheus mounts {sname} or the ServiceMonitor references it: {:#}",
        p["spec"]
    );
}

async fn check_service_and_endpoints(tc: &TestCluster, n: &Names) {
    let svc = get(tc, "services", Some("kube-system"), n.svc).expect("etcd Service");
    // kubeadm's stacked etcd runs as pods the chart's selector finds: the selector stays (the
    // endpoints controller keeps the Endpoints); an external etcd has no pods: it goes.
    let stacked = tc
        .scenario
        .objects_of("Pod")
        .any(|p| p["metadata"]["labels"]["component"] == "etcd");
    if stacked {
        assert_eq!(
            svc["spec"]["selector"]["component"], "etcd",
            "the selector that finds the etcd pods stays: {:#}",
            svc["spec"]
        );
    } else {
        assert!(
            svc["spec"]["selector"].is_null()
                || svc["spec"]["selector"]
                    .as_object()
                    .is_some_and(|m| m.is_empty()),
            "the etcd Service has no selector: {:#}",
            svc["spec"]
        );
    }
    // With the selector kept, the endpoints controller follows the Service's new port.
    let svc_port = svc["spec"]["ports"][0]["targetPort"].clone();
    let ep = eventually("the Endpoints on the Service's port", 20, || async {
        get(tc, "endpoints", Some("kube-system"), n.svc)
            .filter(|ep| !stacked || ep["subsets"][0]["ports"][0]["port"] == svc_port)
    })
    .await;
    let mut want = member_ips(tc);
    want.sort();
    assert_eq!(endpoint_ips(&ep), want, "{ep:#}");
    // The Endpoints port is the Service's port, by name.
    let svc_ports: Vec<&Value> = svc["spec"]["ports"].as_array().unwrap().iter().collect();
    let ep_port = &ep["subsets"][0]["ports"][0];
    assert!(
        svc_ports
            .iter()
            .any(|p| p["name"] == ep_port["name"] && p["targetPort"] == ep_port["port"]),
        "Endpoints port {ep_port} matches a Service port {svc_ports:?}"
    );
}

fn check_servicemonitor(tc: &TestCluster, n: &Names) {
    let sm = get(tc, "servicemonitors", Some(n.sm_ns), n.sm).expect("etcd ServiceMonitor");
    let e = &sm["spec"]["endpoints"][0];
    assert_eq!(e["scheme"], "https", "{sm:#}");
    let tls = &e["tlsConfig"];
    let files =
        tls["caFile"].is_string() && tls["certFile"].is_string() && tls["keyFile"].is_string();
    let refs = tls["ca"]["secret"].is_object()
        && tls["cert"]["secret"].is_object()
        && tls["keySecret"].is_object();
    assert!(files || refs, "TLS files or Secret references: {tls:#}");
}

async fn etcd_converges(scenario: &str, through_kubectl: bool) {
    let tc = start_light(scenario).await;
    let n = names(scenario);
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "etcd".to_string(),
        "--yes".into(),
        "--no-probe".into(),
        "--no-verify".into(),
    ];
    args.extend(corpus_cert_args());
    let r = if through_kubectl {
        kubectl_promfix(&tc, dir.path(), &strs(&args)).await
    } else {
        plugin(&tc, dir.path(), &strs(&args)).await
    };
    r.ok();
    println!("{}", r.stdout);
    assert_no_key_material(&r, &corpus("good-client-key.pem"));
    assert!(!r.writes().is_empty(), "the first run writes");
    // Charts installed with Helm get the warning; kube-prometheus (jsonnet) does not.
    assert_eq!(
        r.stdout.contains("Helm release"),
        scenario != C,
        "Helm warning on {scenario}:\n{}",
        r.stdout
    );
    let secret = check_secret(&tc);
    check_prometheus_mounts(&tc, &n, &secret);
    check_service_and_endpoints(&tc, &n).await;
    check_servicemonitor(&tc, &n);
    // A backup next to where it ran.
    let backups: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("promfix-backup-")
        })
        .collect();
    assert_eq!(backups.len(), 1, "one backup file");
    // Idempotent: a second run changes nothing, counted in the request log.
    let again = plugin(&tc, dir.path(), &strs(&args)).await;
    again.ok();
    assert!(
        again.writes().is_empty(),
        "the second run must not write:\n{}\n{}",
        describe_log(&again.writes()),
        again.both()
    );
    assert!(
        again.stdout.contains("Nothing to change"),
        "{}",
        again.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_on_scenario_a() {
    etcd_converges(A, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_on_scenario_b() {
    etcd_converges(B, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_on_scenario_c() {
    etcd_converges(C, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_through_kubectl_on_scenario_b() {
    etcd_converges(B, true).await;
}

/// `secret`, then `servicemonitor`, then `endpoints`, each touching only its objects; the
/// result equals what `etcd` makes; a second round writes nothing.
async fn steps_converge(scenario: &str, through_kubectl: bool) {
    let tc = start_light(scenario).await;
    let n = names(scenario);
    let dir = tempfile::tempdir().unwrap();
    let run = |args: Vec<String>| {
        let tc = &tc;
        let dir = dir.path().to_path_buf();
        async move {
            if through_kubectl {
                kubectl_promfix(tc, &dir, &strs(&args)).await
            } else {
                plugin(tc, &dir, &strs(&args)).await
            }
        }
    };
    let common = vec!["--yes".to_string(), "--no-probe".into()];
    let mut secret_args = vec!["secret".to_string()];
    secret_args.extend(common.clone());
    secret_args.extend(corpus_cert_args());
    let r = run(secret_args.clone()).await;
    r.ok();
    assert_no_key_material(&r, &corpus("good-client-key.pem"));
    let written: Vec<&str> = r.writes().iter().map(|e| e.path.as_str()).collect();
    assert!(
        written
            .iter()
            .all(|p| p.contains("/secrets") || p.contains("/prometheuses/")),
        "secret writes only the Secret and the Prometheus: {written:?}"
    );
    let secret = check_secret(&tc);
    check_prometheus_mounts(&tc, &n, &secret);

    let mut sm_args = vec!["servicemonitor".to_string()];
    sm_args.extend(common.clone());
    let r = run(sm_args.clone()).await;
    r.ok();
    let written: Vec<&str> = r.writes().iter().map(|e| e.path.as_str()).collect();
    assert!(
        written.iter().all(|p| p.contains("/servicemonitors/")),
        "servicemonitor writes only ServiceMonitors: {written:?}\n{}",
        r.both()
    );
    check_servicemonitor(&tc, &n);

    let mut ep_args = vec!["endpoints".to_string()];
    ep_args.extend(common.clone());
    let r = run(ep_args.clone()).await;
    r.ok();
    let written: Vec<&str> = r.writes().iter().map(|e| e.path.as_str()).collect();
    assert!(
        written.iter().all(|p| p.contains("/services/")
            || p.contains("/endpoints/")
            || p.contains("/endpointslices")),
        "endpoints writes only the Service, Endpoints and slices: {written:?}"
    );
    check_service_and_endpoints(&tc, &n).await;

    for args in [secret_args, sm_args, ep_args] {
        let r = run(args).await;
        r.ok();
        assert!(
            r.writes().is_empty(),
            "second {} must not write:\n{}",
            r.args[0],
            describe_log(&r.writes())
        );
    }
    // And `etcd` finds nothing left to do.
    let mut all = vec!["etcd".to_string(), "--no-verify".into()];
    all.extend(common);
    all.extend(corpus_cert_args());
    let r = run(all).await;
    r.ok();
    assert!(r.writes().is_empty(), "{}", describe_log(&r.writes()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subcommands_on_scenario_a_through_kubectl() {
    steps_converge(A, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subcommands_on_scenario_b() {
    steps_converge(B, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subcommands_on_scenario_c_through_kubectl() {
    steps_converge(C, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_d_without_the_operator_is_a_clear_error() {
    let tc = start_light(D).await;
    let dir = tempfile::tempdir().unwrap();
    for sub in ["etcd", "secret", "endpoints", "servicemonitor"] {
        let mut args = vec![sub.to_string(), "--yes".into(), "--no-probe".into()];
        if sub == "etcd" || sub == "secret" {
            args.extend(corpus_cert_args());
        }
        let r = plugin(&tc, dir.path(), &strs(&args)).await;
        r.expect_code(1);
        assert!(
            r.stderr.contains("Prometheus Operator") && r.stderr.contains("monitoring.coreos.com"),
            "{sub}: the error names the missing operator API:\n{}",
            r.stderr
        );
        assert!(r.writes().is_empty(), "{sub}: nothing written");
        println!("{}", r.stderr);
    }
    let r = kubectl_promfix(&tc, dir.path(), &["servicemonitor", "--yes"]).await;
    r.expect_code(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servicemonitor_alone_says_the_secret_is_not_mounted_yet() {
    let tc = start_light(A).await;
    let dir = tempfile::tempdir().unwrap();
    let r = plugin(&tc, dir.path(), &["servicemonitor", "--dry-run=client"]).await;
    r.ok();
    assert!(
        r.stdout.contains("does not mount Secret etcd-client-cert"),
        "{}",
        r.stdout
    );
    // After `secret`, no such note.
    let mut args = vec!["secret".to_string(), "--yes".into(), "--no-probe".into()];
    args.extend(corpus_cert_args());
    plugin(&tc, dir.path(), &strs(&args)).await.ok();
    let r = plugin(&tc, dir.path(), &["servicemonitor", "--dry-run=client"]).await;
    r.ok();
    assert!(!r.stdout.contains("does not mount"), "{}", r.stdout);
}

/// No etcd ServiceMonitor at all (deleted, or a chart with kubeEtcd disabled): `etcd` creates
/// the ServiceMonitor and a selector-free Service + Endpoints it selects, in one run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_without_any_etcd_servicemonitor_creates_everything() {
    let tc = start_light(A).await;
    let n = names(A);
    let s = &tc.cluster.store;
    s.delete(
        &s.rt("servicemonitors"),
        Some(n.sm_ns),
        n.sm,
        &promfix_testcluster::store::DeletePre::default(),
    )
    .expect("delete the ServiceMonitor");
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "etcd".to_string(),
        "--yes".into(),
        "--no-probe".into(),
        "--no-verify".into(),
    ];
    args.extend(corpus_cert_args());
    let r = plugin(&tc, dir.path(), &strs(&args)).await;
    r.ok();
    println!("{}", r.stdout);
    let sms: Vec<Value> = list(&tc, "servicemonitors", None)
        .into_iter()
        .filter(|sm| sm["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubectl-promfix")
        .collect();
    assert_eq!(sms.len(), 1, "{sms:#?}");
    let sm = &sms[0];
    assert_eq!(sm["spec"]["endpoints"][0]["scheme"], "https");
    // The Service it selects, with the members.
    let sel = sm["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
        .clone();
    let svcs: Vec<Value> = list(&tc, "services", Some("kube-system"))
        .into_iter()
        .filter(|svc| {
            sel.iter()
                .all(|(k, v)| &svc["metadata"]["labels"][k.as_str()] == v)
        })
        .collect();
    assert_eq!(svcs.len(), 1, "one Service selected: {svcs:#?}");
    let svc_name = svcs[0]["metadata"]["name"].as_str().unwrap();
    let ep = get(&tc, "endpoints", Some("kube-system"), svc_name).expect("its Endpoints");
    let mut want = member_ips(&tc);
    want.sort();
    assert_eq!(endpoint_ips(&ep), want);
    let again = plugin(&tc, dir.path(), &strs(&args)).await;
    again.ok();
    assert!(
        again.writes().is_empty(),
        "{}",
        describe_log(&again.writes())
    );
}

/// Scenario (c): after `etcd` and its rollback, the EndpointSlices are as the controllers keep
/// them for a Service with a selector: one controller-made slice, no mirrored one. The members
/// are given at an address the etcd pod does not have, so the fix takes the selector-removing
/// path (a selector that finds the members stays: `etcd_on_scenario_c`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_on_scenario_c_leaves_the_slices_as_the_controllers_make_them() {
    let tc = start_light(C).await;
    let dir = tempfile::tempdir().unwrap();
    let slices = |tc: &TestCluster, manager: &str| -> Vec<Value> {
        list(tc, "endpointslices", Some("kube-system"))
            .into_iter()
            .filter(|s| {
                s["metadata"]["labels"]["kubernetes.io/service-name"] == "etcd"
                    && s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == manager
            })
            .collect()
    };
    // The endpoints controller has listed the etcd pod.
    let t = &tc;
    let ep_before = eventually("the etcd Endpoints with the etcd pod", 20, || async move {
        get(t, "endpoints", Some("kube-system"), "etcd").filter(|e| e["subsets"].is_array())
    })
    .await;
    let mut args = vec![
        "etcd".to_string(),
        "--yes".into(),
        "--no-probe".into(),
        "--no-verify".into(),
        "--endpoints".into(),
        format!("127.{}.2.99", tc.net()),
    ];
    args.extend(corpus_cert_args());
    plugin(&tc, dir.path(), &strs(&args)).await.ok();
    eventually("the mirrored slice", 10, || async move {
        (!slices(t, "endpointslicemirroring-controller.k8s.io").is_empty()).then_some(())
    })
    .await;
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
    plugin(
        &tc,
        dir.path(),
        &["rollback", backup.to_str().unwrap(), "--yes"],
    )
    .await
    .ok();
    eventually(
        "one controller slice and no mirrored one",
        10,
        || async move {
            (slices(t, "endpointslice-controller.k8s.io").len() == 1
                && slices(t, "endpointslicemirroring-controller.k8s.io").is_empty())
            .then_some(())
        },
    )
    .await;
    let ep = get(&tc, "endpoints", Some("kube-system"), "etcd").unwrap();
    assert_eq!(ep["subsets"], ep_before["subsets"]);
    let svc = get(&tc, "services", Some("kube-system"), "etcd").unwrap();
    assert_eq!(
        svc["spec"]["selector"],
        serde_json::json!({"component": "etcd"})
    );
}
