//! The traps a real cluster sets for people fixing etcd scrapes by hand; the test cluster must
//! set each of them too, or it would hide the bugs users hit.

mod common;

use common::*;
use promfix_testcluster::harness::Options;
use serde_json::{Value, json};
use std::time::Duration;

const SVC: &str = "prom-prometheus-operator-kube-etcd";

fn fast() -> Options {
    Options {
        version: Some("v1.33.1".into()),
        without_etcd: true,
        ..Default::default()
    }
}

fn endpoints_yaml(ips: &[&str]) -> String {
    let addrs: Vec<String> = ips.iter().map(|ip| format!("  - ip: {ip}")).collect();
    format!(
        "apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: {SVC}\n  namespace: kube-system\nsubsets:\n- addresses:\n{}\n  ports:\n  - name: http-metrics\n    port: 2379\n    protocol: TCP\n",
        addrs.join("\n")
    )
}

fn store_get(
    tc: &promfix_testcluster::harness::TestCluster,
    plural: &str,
    ns: &str,
    name: &str,
) -> Option<Value> {
    let s = &tc.cluster.store;
    s.get(&s.rt(plural), Some(ns), name).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_written_endpoints_of_a_selector_service_are_overwritten() {
    let tc = start_with(SEED, fast()).await;
    let ip = format!("127.{}.2.11", tc.net());
    ok_stdin(&tc, &["apply", "-f", "-"], endpoints_yaml(&[&ip])).await;
    // The endpoints controller puts back what the selector selects: nothing (no etcd pods).
    eventually(
        "the endpoints controller to overwrite the hand-written Endpoints",
        10,
        || async {
            let ep = store_get(&tc, "endpoints", "kube-system", SVC)?;
            ep.get("subsets")
                .is_none_or(|s| s.as_array().is_none_or(|a| a.is_empty()))
                .then_some(())
        },
    )
    .await;
    // Without the selector the same Endpoints stay.
    ok(
        &tc,
        &[
            "patch",
            "svc",
            SVC,
            "-n",
            "kube-system",
            "--type",
            "json",
            "-p",
            r#"[{"op":"remove","path":"/spec/selector"}]"#,
        ],
    )
    .await;
    ok_stdin(&tc, &["apply", "-f", "-"], endpoints_yaml(&[&ip])).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ep = store_get(&tc, "endpoints", "kube-system", SVC).unwrap();
    assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], json!(ip), "{ep}");
}

async fn ok_stdin(
    tc: &promfix_testcluster::harness::TestCluster,
    args: &[&str],
    stdin: String,
) -> String {
    let out = kubectl_stdin(tc, args, Some(stdin)).await;
    assert!(
        out.status.success(),
        "kubectl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_that_omits_helms_selector_leaves_it_and_merge_patch_removes_it() {
    let tc = start_with(SEED, fast()).await;
    let svc = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {SVC}\n  namespace: kube-system\nspec:\n  ports:\n  - name: http-metrics\n    port: 2379\n    targetPort: 2379\n"
    );
    ok_stdin(
        &tc,
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "promfix-test",
            "-f",
            "-",
        ],
        svc,
    )
    .await;
    let s = store_get(&tc, "services", "kube-system", SVC).unwrap();
    assert_eq!(
        s["spec"]["selector"],
        json!({"component": "etcd"}),
        "the selector Helm owns must stay: {s}"
    );
    // A conflicting value without force: 409 naming the owner.
    let conflicting = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {SVC}\n  namespace: kube-system\nspec:\n  selector:\n    component: other\n"
    );
    let out = kubectl_stdin(
        &tc,
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "promfix-test",
            "-f",
            "-",
        ],
        Some(conflicting),
    )
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("conflict with \"helm\"") && err.contains(".spec.selector"),
        "{err}"
    );
    // A merge patch with null really removes it.
    ok(
        &tc,
        &[
            "patch",
            "svc",
            SVC,
            "-n",
            "kube-system",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"selector":null}}"#,
        ],
    )
    .await;
    let s = store_get(&tc, "services", "kube-system", SVC).unwrap();
    assert!(s["spec"].get("selector").is_none_or(Value::is_null), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategic_merge_patch_of_custom_resources_answers_415() {
    let tc = start_with(SEED, fast()).await;
    for (kind, name) in [
        ("servicemonitor", SVC),
        ("prometheus", "prom-prometheus-operator-prometheus"),
    ] {
        let out = kubectl(
            &tc,
            &[
                "patch",
                kind,
                name,
                "-n",
                "monitoring",
                "--type",
                "strategic",
                "-p",
                r#"{"spec":{"secrets":["x"]}}"#,
            ],
        )
        .await;
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("UnsupportedMediaType") || err.contains("unknown format"),
            "{kind}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_resource_version_answers_409() {
    let tc = start_with(SEED, fast()).await;
    let old = ok(&tc, &["get", "svc", SVC, "-n", "kube-system", "-o", "json"]).await;
    ok(
        &tc,
        &["label", "svc", SVC, "-n", "kube-system", "touched=yes"],
    )
    .await;
    let (code, err) = {
        let out = kubectl_stdin(&tc, &["replace", "-f", "-"], Some(old)).await;
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!(
            "Operation cannot be fulfilled on services \"{SVC}\": the object has been modified; please apply your changes to the latest version and try again"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_older_than_the_secret_listing_has_no_files_until_rolled() {
    let tc = start_with(
        SEED,
        Options {
            not_ready_delay: Some(Duration::from_millis(1500)),
            ..fast()
        },
    )
    .await;
    tc.wait_prometheus_ready(Duration::from_secs(60))
        .await
        .unwrap();
    let pod = "prometheus-prom-prometheus-operator-prometheus-1";
    let old_uid = store_get(&tc, "pods", "monitoring", pod).unwrap()["metadata"]["uid"].clone();
    ok(
        &tc,
        &[
            "-n",
            "monitoring",
            "create",
            "secret",
            "generic",
            "etcd-client-cert",
            "--from-literal=etcd-ca=x",
        ],
    )
    .await;
    ok(
        &tc,
        &[
            "patch",
            "prometheus",
            "prom-prometheus-operator-prometheus",
            "-n",
            "monitoring",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"secrets":["etcd-client-cert"]}}"#,
        ],
    )
    .await;
    // While the old pod runs, it has no such directory.
    if store_get(&tc, "pods", "monitoring", pod).is_some_and(|p| p["metadata"]["uid"] == old_uid) {
        let view = tc.cluster.kubelet.view("monitoring", pod, "prometheus");
        if let Some(v) = view.filter(|v| Some(v.uid.as_str()) == old_uid.as_str()) {
            assert!(
                !v.mounts.iter().any(|m| m
                    .container_path
                    .starts_with("/etc/prometheus/secrets/etcd-client-cert")),
                "a running pod gained a new volume"
            );
        }
    }
    // Rolled: a new pod (new uid) with the files.
    eventually(
        "the pod to be replaced and mount the secret",
        90,
        || async {
            let p = store_get(&tc, "pods", "monitoring", pod)?;
            if p["metadata"]["uid"] == old_uid {
                return None;
            }
            let v = tc.cluster.kubelet.view("monitoring", pod, "prometheus")?;
            let m = v.mounts.iter().find(|m| {
                m.container_path.trim_end_matches('/') == "/etc/prometheus/secrets/etcd-client-cert"
            })?;
            (std::fs::read(m.host_path.join("etcd-ca")).ok()? == b"x").then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slices_made_for_a_selector_stay_after_it_is_removed() {
    let tc = start_with(SEED, fast()).await;
    let s = &tc.cluster.store;
    // A pod the etcd Service's selector matches, as an etcd static pod would be. The kubelet
    // runs it and writes its status (a status written here would race with the kubelet's).
    let pods = s.rt("pods");
    s.create(
        &pods,
        Some("kube-system"),
        json!({"metadata": {"name": "etcd-fake", "namespace": "kube-system", "labels": {"component": "etcd"}},
               "spec": {"nodeName": "node1", "hostNetwork": true, "containers": [{"name": "etcd", "image": "registry.k8s.io/etcd:3.5.21-0"}]}}),
        &promfix_testcluster::store::WriteCtx::update("test"),
    )
    .unwrap();
    let t = &tc;
    let ip: String = eventually(
        "the kubelet to report the pod Ready with its IP",
        20,
        || async move {
            let s = &t.cluster.store;
            let p = s
                .get(&s.rt("pods"), Some("kube-system"), "etcd-fake")
                .ok()?;
            let ip = p["status"]["podIP"].as_str().filter(|ip| !ip.is_empty())?;
            promfix_testcluster::harness::is_ready(&p).then(|| ip.to_string())
        },
    )
    .await;
    let slice_has_ip = |tc: &promfix_testcluster::harness::TestCluster| {
        let s = &tc.cluster.store;
        let (slices, _) = s.list(&s.rt("endpointslices"), Some("kube-system"));
        slices.into_iter().find(|sl| {
            sl["metadata"]["labels"]["kubernetes.io/service-name"] == SVC
                && sl["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"]
                    == "endpointslice-controller.k8s.io"
                && sl["endpoints"].to_string().contains(&ip)
        })
    };
    eventually(
        "a controller-made slice with the pod's address",
        10,
        || async move { slice_has_ip(t) },
    )
    .await;
    ok(
        &tc,
        &[
            "patch",
            "svc",
            SVC,
            "-n",
            "kube-system",
            "--type",
            "json",
            "-p",
            r#"[{"op":"remove","path":"/spec/selector"}]"#,
        ],
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        slice_has_ip(&tc).is_some(),
        "the stale slice must stay (kubernetes/kubernetes#118376)"
    );
}
