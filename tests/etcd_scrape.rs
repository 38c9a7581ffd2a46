//! Acceptance tests of issue 3 with real etcd and real Prometheus: after `kubectl promfix etcd`
//! the etcd targets are up in every Prometheus replica — scenario (a) with kubespray's files,
//! scenario (c) with `--from-dir` on kubeadm's pki directory and serviceDiscoveryRole
//! EndpointSlice (the stale controller-made slices go, the mirrored ones come, and Prometheus
//! scrapes exactly the members).

mod common_plugin;

use common_plugin::*;
use promfix_testcluster::harness::{Options, TestCluster};
use promfix_testcluster::store::WriteCtx;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The etcd job's active targets, as one Prometheus pod sees them (through pods/proxy).
async fn etcd_targets(tc: &TestCluster, pod: &str) -> Option<Vec<Value>> {
    tc.active_targets("monitoring", pod, "etcd").await
}

fn uids(tc: &TestCluster, pods: &[String]) -> Vec<Value> {
    pods.iter()
        .map(|p| {
            get(tc, "pods", Some("monitoring"), p).expect("Prometheus pod")["metadata"]["uid"]
                .clone()
        })
        .collect()
}

async fn wait_rolled(tc: &TestCluster, pods: &[String], before: &[Value]) {
    eventually(
        "the Prometheus pods to be replaced and Ready",
        180,
        || async {
            pods.iter()
                .enumerate()
                .all(|(i, p)| {
                    get(tc, "pods", Some("monitoring"), p).is_some_and(|pod| {
                        pod["metadata"]["uid"] != before[i]
                            && promfix_testcluster::harness::is_ready(&pod)
                    })
                })
                .then_some(())
        },
    )
    .await;
}

/// Wait for every replica to be replaced (the operator rolls them to mount the Secret) and for
/// the etcd targets to be exactly `want` (host:port) and up.
async fn wait_targets_up(tc: &TestCluster, pods: &[String], before: &[Value], want: &[String]) {
    let t0 = Instant::now();
    if !before.is_empty() {
        wait_rolled(tc, pods, before).await;
        eprintln!("pods rolled after {:.1}s", t0.elapsed().as_secs_f64());
    }
    let mut want = want.to_vec();
    want.sort();
    for pod in pods {
        let mut last = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(t) = etcd_targets(tc, pod).await {
                let mut addrs: Vec<String> = t
                    .iter()
                    .filter_map(|t| {
                        t["labels"]["__address__"]
                            .as_str()
                            .or(t["discoveredLabels"]["__address__"].as_str())
                            .map(str::to_string)
                    })
                    .collect();
                addrs.sort();
                if addrs == want && t.iter().all(|t| t["health"] == "up") {
                    break;
                }
                last = t;
            }
            assert!(
                Instant::now() < deadline,
                "{pod}: the etcd targets {want:?} are not all up: {last:#?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    eprintln!("etcd targets up after {:.1}s", t0.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_on_scenario_a_turns_the_etcd_targets_up() {
    let t0 = Instant::now();
    let tc = start(A, Options::default()).await;
    tc.wait_prometheus_ready(Duration::from_secs(90))
        .await
        .expect("Prometheus pods ready");
    let pods: Vec<String> = (0..2)
        .map(|i| format!("prometheus-prom-prometheus-operator-prometheus-{i}"))
        .collect();
    // Before: no etcd target is up.
    for pod in &pods {
        let t = eventually("Prometheus' targets API", 60, || etcd_targets(&tc, pod)).await;
        assert!(t.iter().all(|t| t["health"] != "up"), "{pod}: {t:?}");
    }
    let before = uids(&tc, &pods);
    let dir = tempfile::tempdir().unwrap();
    let (certs, key) = cluster_cert_args(&tc);
    // With the probe: this machine reaches the members, so it must say so.
    let mut args = vec!["etcd".to_string(), "--yes".into(), "--no-verify".into()];
    args.extend(certs);
    let r = plugin(&tc, dir.path(), &strs(&args)).await;
    r.ok();
    assert_no_key_material(&r, &key);
    for m in ["2.11", "2.12", "2.13"] {
        let ep = format!("127.{}.{m}:2379", tc.net());
        assert!(
            r.stderr
                .lines()
                .any(|l| l.starts_with("probe ") && l.contains(&format!("{ep}: ok"))),
            "the probe of {ep} succeeds:\n{}",
            r.stderr
        );
    }
    let want: Vec<String> = ["2.11", "2.12", "2.13"]
        .iter()
        .map(|m| format!("127.{}.{m}:2379", tc.net()))
        .collect();
    wait_targets_up(&tc, &pods, &before, &want).await;
    second_run_writes_nothing(&tc, dir.path(), &args).await;
    eprintln!("total {:.1}s", t0.elapsed().as_secs_f64());
}

/// A ready pod with the etcd Service's selector labels, at an address where no etcd listens:
/// the EndpointSlice controller lists it in its slices, which go stale when the selector goes.
fn add_decoy_etcd_pod(tc: &TestCluster, ip: &str) {
    let s = &tc.cluster.store;
    // Its own node with the decoy's address: the kubelet gives a hostNetwork pod its node's IP
    // (whatever status the test writes first, the kubelet's own status follows).
    let nodes = s.rt("nodes");
    let node = s
        .create(
            &nodes,
            None,
            json!({"metadata": {"name": "node-decoy", "labels": {"kubernetes.io/hostname": "node-decoy", "kubernetes.io/os": "linux"}}}),
            &WriteCtx::update("kubelet"),
        )
        .unwrap();
    let mut with_status = node.clone();
    with_status["status"] = json!({"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": "node-decoy"}],
        "conditions": [{"type": "Ready", "status": "True"}]});
    let mut ctx = WriteCtx::update("kubelet");
    ctx.subresource = Some("status".into());
    s.update(&nodes, None, "node-decoy", with_status, &ctx)
        .unwrap();
    let pods = s.rt("pods");
    let pod = s
        .create(
            &pods,
            Some("kube-system"),
            json!({"metadata": {"name": "etcd-decoy", "namespace": "kube-system", "labels": {"component": "etcd"}},
                   "spec": {"nodeName": "node-decoy", "hostNetwork": true, "containers": [{"name": "etcd", "image": "registry.k8s.io/etcd:3.5.21-0"}]}}),
            &WriteCtx::update("test"),
        )
        .unwrap();
    let mut with_status = pod.clone();
    with_status["status"] = json!({"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": ip,
        "conditions": [{"type": "Ready", "status": "True"}]});
    let mut ctx = WriteCtx::update("kubelet");
    ctx.subresource = Some("status".into());
    s.update(&pods, Some("kube-system"), "etcd-decoy", with_status, &ctx)
        .unwrap();
}

fn slices_of(tc: &TestCluster, svc: &str, manager: &str) -> Vec<Value> {
    list(tc, "endpointslices", Some("kube-system"))
        .into_iter()
        .filter(|sl| {
            sl["metadata"]["labels"]["kubernetes.io/service-name"] == svc
                && sl["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == manager
        })
        .collect()
}

fn slice_ips(slices: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = slices
        .iter()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .flat_map(|e| e["addresses"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

const SLICE_CONTROLLER: &str = "endpointslice-controller.k8s.io";
const MIRROR_CONTROLLER: &str = "endpointslicemirroring-controller.k8s.io";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_on_scenario_c_replaces_stale_slices_and_scrapes_the_members() {
    let t0 = Instant::now();
    let tc = start(C, Options::default()).await;
    let net = tc.net();
    let decoy = format!("127.{net}.2.77");
    let member = format!("127.{net}.2.11");
    add_decoy_etcd_pod(&tc, &decoy);
    tc.wait_prometheus_ready(Duration::from_secs(90))
        .await
        .expect("Prometheus pods ready");
    // Before: controller-made slices with the decoy's address; no mirrored slice.
    let t = &tc;
    let d = &decoy;
    eventually(
        "controller-made slices listing the decoy",
        60,
        || async move {
            slice_ips(&slices_of(t, "etcd", SLICE_CONTROLLER))
                .contains(d)
                .then_some(())
        },
    )
    .await;
    assert!(slices_of(&tc, "etcd", MIRROR_CONTROLLER).is_empty());
    let pods: Vec<String> = (0..2).map(|i| format!("prometheus-k8s-{i}")).collect();
    let before = uids(&tc, &pods);

    let dir = tempfile::tempdir().unwrap();
    let (certs, key) = cluster_cert_args(&tc);
    assert_eq!(certs[0], "--from-dir", "kubeadm layout");
    let mut args = vec!["etcd".to_string(), "--yes".into(), "--no-verify".into()];
    args.extend(certs);
    let r = plugin(&tc, dir.path(), &strs(&args)).await;
    r.ok();
    println!("{}", r.stdout);
    assert_no_key_material(&r, &key);

    // After: the stale slices are gone, the mirrored slice lists exactly the member.
    let t = &tc;
    let m = &member;
    eventually(
        "a mirrored slice with exactly the member",
        60,
        || async move {
            (slices_of(t, "etcd", SLICE_CONTROLLER).is_empty()
                && slice_ips(&slices_of(t, "etcd", MIRROR_CONTROLLER)) == [m.clone()])
            .then_some(())
        },
    )
    .await;
    // Stays so (no controller puts the stale slices back).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(slices_of(&tc, "etcd", SLICE_CONTROLLER).is_empty());
    wait_targets_up(&tc, &pods, &before, &[format!("{member}:2379")]).await;
    second_run_writes_nothing(&tc, dir.path(), &args).await;
    eprintln!("total {:.1}s", t0.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_on_scenario_b_from_the_kubeadm_pki_dir_turns_the_target_up() {
    let t0 = Instant::now();
    let tc = start(B, Options::default()).await;
    tc.wait_prometheus_ready(Duration::from_secs(90))
        .await
        .expect("Prometheus pods ready");
    let pods: Vec<String> = list(&tc, "pods", Some("monitoring"))
        .into_iter()
        .filter(|p| {
            p["metadata"]["labels"]["prometheus"] == "prometheus-kube-prometheus-prometheus"
        })
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    assert!(!pods.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let (certs, key) = cluster_cert_args(&tc);

    // Issue 17, item 3: Prometheus scrapes kubeadm's plain metrics port 2381, and the target is
    // up. That working scrape is left alone: nothing planned, nothing written, and it says so.
    for pod in &pods {
        eventually("the etcd target on 2381 to be up", 90, || async {
            etcd_targets(&tc, pod)
                .await
                .filter(|t| !t.is_empty() && t.iter().all(|t| t["health"] == "up"))
        })
        .await;
    }
    let mut held = vec!["etcd".to_string(), "--yes".into()];
    held.extend(certs.iter().cloned());
    let r = plugin(&tc, dir.path(), &strs(&held)).await;
    r.ok();
    assert!(r.writes().is_empty(), "{}", describe_log(&r.writes()));
    assert!(
        r.both()
            .contains("Prometheus already scrapes etcd: all 1 target(s) are up (http://")
            && r.both().contains(":2381/metrics")
            && r.both().contains("--replace-working-scrape"),
        "{}",
        r.both()
    );
    let mut dry = held.clone();
    dry[1] = "--dry-run".into();
    dry.extend(["-o".to_string(), "json".into()]);
    let r = plugin(&tc, dir.path(), &strs(&dry)).await;
    r.ok();
    let v: Value = serde_json::from_str(&r.stdout).expect("one JSON document");
    assert_eq!(v["items"].as_array().map(Vec::len), Some(0), "{v:#}");

    // Moving to mTLS on the client port on purpose takes the flag.
    let before = uids(&tc, &pods);
    let mut args = vec![
        "etcd".to_string(),
        "--yes".into(),
        "--no-verify".into(),
        "--replace-working-scrape".into(),
    ];
    args.extend(certs);
    let r = kubectl_promfix(&tc, dir.path(), &strs(&args)).await;
    r.ok();
    assert_no_key_material(&r, &key);
    // The member from the etcd pod's --advertise-client-urls, not the apiserver's loopback.
    let member = format!("127.{}.2.11:2379", tc.net());
    assert!(r.stderr.contains(&format!("{member}: ok")), "{}", r.stderr);
    wait_targets_up(&tc, &pods, &before, &[member]).await;
    second_run_writes_nothing(&tc, dir.path(), &args).await;
    eprintln!("total {:.1}s", t0.elapsed().as_secs_f64());
}

/// Once the operator, the controllers and the kubelet are done, running again writes nothing.
async fn second_run_writes_nothing(tc: &TestCluster, dir: &std::path::Path, args: &[String]) {
    let r = plugin(tc, dir, &strs(args)).await;
    r.ok();
    assert!(
        r.writes().is_empty(),
        "the second run writes:\n{}\n{}",
        describe_log(&r.writes()),
        r.both()
    );
}

/// `--tls-from secret`: the operator's Secret references (the Secret in the ServiceMonitor's
/// namespace, copied by the operator into the tls-assets Secret), no mount.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_with_secret_references_on_scenario_c_scrapes_the_member() {
    let t0 = Instant::now();
    let tc = start(C, Options::default()).await;
    tc.wait_prometheus_ready(Duration::from_secs(90))
        .await
        .expect("Prometheus pods ready");
    let pods: Vec<String> = (0..2).map(|i| format!("prometheus-k8s-{i}")).collect();
    let dir = tempfile::tempdir().unwrap();
    let (certs, key) = cluster_cert_args(&tc);
    let mut args = vec![
        "etcd".to_string(),
        "--yes".into(),
        "--no-verify".into(),
        "--tls-from".into(),
        "secret".into(),
    ];
    args.extend(certs);
    let r = plugin(&tc, dir.path(), &strs(&args)).await;
    r.ok();
    println!("{}", r.stdout);
    assert_no_key_material(&r, &key);
    let sm = get(&tc, "servicemonitors", Some("kube-system"), "etcd").unwrap();
    let tls = &sm["spec"]["endpoints"][0]["tlsConfig"];
    assert!(
        tls["keySecret"].is_object() && tls["keyFile"].is_null(),
        "{tls:#}"
    );
    let secret = get(&tc, "secrets", Some("kube-system"), "etcd-client-cert");
    assert!(
        secret.is_some(),
        "the Secret is in the ServiceMonitor's namespace"
    );
    let p = get(&tc, "prometheuses", Some("monitoring"), "k8s").unwrap();
    assert!(
        p["spec"]["secrets"].is_null(),
        "no mount: {:#}",
        p["spec"]["secrets"]
    );
    let member = format!("127.{}.2.11:2379", tc.net());
    wait_targets_up(&tc, &pods, &[], &[member]).await;
    second_run_writes_nothing(&tc, dir.path(), &args).await;
    eprintln!("total {:.1}s", t0.elapsed().as_secs_f64());
}
