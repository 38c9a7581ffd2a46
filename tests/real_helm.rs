//! `--helm-values` against real Helm (helm.sh/helm/v4, built by tests/k8s/build) on the REAL
//! control plane: the values file the etcd fix writes must survive `helm upgrade`.
//!
//! Scenario a (kubespray: external etcd under systemd, no etcd pod) with its old chart's objects
//! replaced by a Helm release of tests/charts/kube-etcd-mini (kube-prometheus-stack's kube-etcd
//! Service, Endpoints and ServiceMonitor and its Prometheus, same values keys, names and labels),
//! installed as the seed left it: the kube-etcd Service on 2379 scraped over plain http, and a
//! Prometheus that already mounts another Secret. The fix runs with `--helm-values`, then
//! `helm upgrade -f <the user's values> -f <the plugin's values>`, as the plugin tells the user to.
//!
//! What real Helm decides here, and no code of ours: whether it adopts the Endpoints the plugin
//! wrote (its ownership metadata check), how `-f` files merge (lists are replaced whole), and
//! what the chart's templates render from the values.

mod common_real;

use common_real::*;
use promfix_testcluster::real::{Bins, RealCluster, RealOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const NS: &str = "monitoring";
const RELEASE: &str = "prometheus";
/// kube-prometheus-stack's fullname for release `prometheus`: "prometheus-kube-prometheus".
const ETCD: &str = "prometheus-kube-prometheus-kube-etcd";
const PROMETHEUS: &str = "prometheus-kube-prometheus-prometheus";
const MOUNT: &str = "/etc/prometheus/secrets/etcd-client-cert";
/// A Secret the user's values already list in `prometheus.prometheusSpec.secrets`.
const OTHER: &str = "other-secret";

fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/charts/kube-etcd-mini")
}

/// Real helm against the cluster, its cache, configuration and data in `home` (nothing in ~).
fn helm(rc: &RealCluster, home: &Path, args: &[&str]) -> Run {
    let bin = Bins::get()
        .and_then(|b| b.helm())
        .unwrap_or_else(|e| panic!("{e:#}"));
    let mut cmd = Command::new(bin);
    cmd.env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .args(args)
        .arg("--kubeconfig")
        .arg(rc.kubeconfig())
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .current_dir(home);
    output(&format!("helm {}", args.join(" ")), cmd)
}

/// `etcd` with scenario a's first node's kubespray client files.
fn etcd_args(rc: &RealCluster, extra: &[&str]) -> Vec<String> {
    let mut v = vec!["etcd".to_string()];
    v.extend(rc.kubespray_cert_args());
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// The fix as the cluster holds it: Service, Endpoints, ServiceMonitor, Prometheus secrets.
fn assert_fixed(rc: &RealCluster, members: &[String], when: &str) {
    let svc = get(rc, &["service", "-n", "kube-system", ETCD]).expect("the etcd Service");
    assert!(
        svc["spec"].get("selector").is_none(),
        "{when}: the Service has no selector: {}",
        svc["spec"]
    );
    assert_eq!(
        svc["spec"]["ports"][0]["port"], 2379,
        "{when}: {}",
        svc["spec"]
    );
    assert_eq!(
        svc["spec"]["ports"][0]["targetPort"], 2379,
        "{when}: {}",
        svc["spec"]
    );
    let ep = get(rc, &["endpoints", "-n", "kube-system", ETCD]).expect("the etcd Endpoints");
    let mut ips: Vec<String> = ep["subsets"][0]["addresses"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a["ip"].as_str().map(String::from))
        .collect();
    ips.sort();
    assert_eq!(ips, members, "{when}: {ep}");
    assert_eq!(ep["subsets"][0]["ports"][0]["port"], 2379, "{when}: {ep}");
    assert_eq!(
        ep["subsets"][0]["ports"][0]["name"], "http-metrics",
        "{when}: {ep}"
    );
    let sm = get(rc, &["servicemonitor", "-n", NS, ETCD]).expect("the etcd ServiceMonitor");
    let e = &sm["spec"]["endpoints"][0];
    assert_eq!(e["scheme"], "https", "{when}: {e}");
    for (k, f) in [
        ("caFile", "etcd-ca"),
        ("certFile", "etcd-client"),
        ("keyFile", "etcd-client-key"),
    ] {
        assert_eq!(e["tlsConfig"][k], format!("{MOUNT}/{f}"), "{when}: {e}");
    }
    let prom = get(rc, &["prometheus", "-n", NS, PROMETHEUS]).expect("the Prometheus");
    let secrets = &prom["spec"]["secrets"];
    for s in [OTHER, "etcd-client-cert"] {
        assert!(
            secrets.as_array().is_some_and(|a| a.iter().any(|x| x == s)),
            "{when}: Prometheus spec.secrets lists {s}: {secrets}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helm_values_survive_a_real_helm_upgrade() {
    let rc =
        RealCluster::start_builtin("a-seed-stable-prometheus-operator", RealOptions::default())
            .await
            .unwrap_or_else(|e| panic!("starting scenario a on the real control plane: {e:#}"));
    let home = tempfile::tempdir().unwrap();
    let cwd = home.path();
    let mut members: Vec<String> = rc
        .etcd
        .as_ref()
        .unwrap()
        .members
        .iter()
        .map(|m| m.ip.to_string())
        .collect();
    members.sort();

    // The old chart's objects of the scenario make way for the release (one Prometheus, one etcd
    // ServiceMonitor: the release's).
    for (kind, ns, name) in [
        ("prometheus", NS, "prom-prometheus-operator-prometheus"),
        ("servicemonitor", NS, "prom-prometheus-operator-kube-etcd"),
        (
            "service",
            "kube-system",
            "prom-prometheus-operator-kube-etcd",
        ),
    ] {
        rc.cp
            .kubectl_ok(&["delete", kind, "-n", ns, name, "--wait=true"])
            .unwrap();
    }
    rc.cp
        .kubectl_ok(&[
            "create",
            "secret",
            "generic",
            OTHER,
            "-n",
            NS,
            "--from-literal=token=not-etcd",
        ])
        .unwrap();

    // The user's values: the seed's broken scrape (http on etcd's TLS client port) and a
    // Prometheus that already mounts another Secret.
    let user = cwd.join("user-values.yaml");
    std::fs::write(
        &user,
        format!(
            "kubeEtcd:\n  service:\n    port: 2379\n    targetPort: 2379\nprometheus:\n  prometheusSpec:\n    secrets:\n      - {OTHER}\n"
        ),
    )
    .unwrap();
    let chart = chart().display().to_string();
    let user_s = user.display().to_string();
    let install = helm(
        &rc,
        cwd,
        &["install", RELEASE, &chart, "-n", NS, "-f", &user_s],
    );
    assert_eq!(install.code, 0, "helm install: {}", install.stderr);
    let svc = get(&rc, &["service", "-n", "kube-system", ETCD]).expect("the release's Service");
    assert_eq!(
        svc["metadata"]["annotations"]["meta.helm.sh/release-name"],
        RELEASE
    );
    assert_eq!(svc["spec"]["selector"]["component"], "etcd", "{svc}");

    // As Flux's helm-controller labels what its release renders (its post-renderer).
    for (ns, kinds) in [
        (NS, "prometheuses,servicemonitors"),
        ("kube-system", "services"),
    ] {
        rc.cp
            .kubectl_ok(&[
                "-n",
                ns,
                "label",
                kinds,
                "-l",
                &format!("app.kubernetes.io/instance={RELEASE}"),
                "helm.toolkit.fluxcd.io/name=kps",
                &format!("helm.toolkit.fluxcd.io/namespace={NS}"),
            ])
            .unwrap();
    }

    // The fix, with the values file, and the HelmRelease's form of the change.
    let values = cwd.join("values-etcd.yaml");
    let values_s = values.display().to_string();
    let gitops = cwd.join("gitops");
    let fix = plugin(
        &rc,
        cwd,
        &etcd_args(
            &rc,
            &[
                "--yes",
                "--no-verify",
                "--helm-values",
                &values_s,
                "--gitops-dir",
                &gitops.display().to_string(),
            ],
        ),
    );
    assert_eq!(fix.code, 0, "etcd --helm-values: {}", fix.stderr);
    assert_fixed(&rc, &members, "after the fix");
    let text = std::fs::read_to_string(&values).expect("the values file is written");
    eprintln!("--- {values_s}\n{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    // The HelmRelease's spec.values are the values file's: helm-controller merges them over the
    // chart's as `helm upgrade -f` does below.
    let hr = std::fs::read_to_string(gitops.join(format!("flux-helmrelease-{NS}-kps.yaml")))
        .unwrap_or_else(|e| panic!("no HelmRelease file: {e}\n{}", fix.stderr));
    let hr: Value = serde_yaml_ng::from_str(&hr).unwrap();
    let file_values: Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(hr["kind"], "HelmRelease");
    assert_eq!(hr["metadata"]["namespace"], NS);
    assert_eq!(hr["spec"]["values"], file_values, "{hr:#}");

    // What the plugin tells the user: upgrade with the values on top of their own.
    let upgrade = helm(
        &rc,
        cwd,
        &[
            "upgrade", RELEASE, &chart, "-n", NS, "-f", &user_s, "-f", &values_s,
        ],
    );
    assert_eq!(
        upgrade.code, 0,
        "helm upgrade -f the plugin's values must succeed:\n{}\n--- values\n{text}",
        upgrade.stderr
    );
    assert_fixed(&rc, &members, "after helm upgrade");
    // Helm owns the Endpoints now (the chart renders it from kubeEtcd.endpoints).
    let ep = get(&rc, &["endpoints", "-n", "kube-system", ETCD]).unwrap();
    assert_eq!(
        ep["metadata"]["annotations"]["meta.helm.sh/release-name"], RELEASE,
        "{ep}"
    );
    assert_eq!(
        ep["metadata"]["annotations"]["meta.helm.sh/release-namespace"], NS,
        "{ep}"
    );
    assert_eq!(
        ep["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm",
        "{ep}"
    );
    let manifest = helm(&rc, cwd, &["get", "manifest", RELEASE, "-n", NS]);
    assert!(
        manifest.stdout.contains("kind: Endpoints"),
        "the release renders the Endpoints: {}",
        manifest.stdout
    );

    // The plugin agrees the fix is in place after the upgrade: nothing to change, and with
    // --helm-values the values are written all the same (the same as before).
    let again_values = cwd.join("values-again.yaml");
    let again_s = again_values.display().to_string();
    let again = plugin(
        &rc,
        cwd,
        &etcd_args(&rc, &["--yes", "--no-verify", "--helm-values", &again_s]),
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    let all = format!("{}{}", again.stdout, again.stderr);
    assert!(
        all.contains("Nothing to change"),
        "the fix holds after helm upgrade:\n{all}"
    );
    let again_text = std::fs::read_to_string(&again_values)
        .expect("the values file is written for an empty plan");
    let a: Value = serde_yaml_ng::from_str(&again_text).unwrap();
    let b: Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(a, b, "--- first\n{text}\n--- again\n{again_text}");

    // And a second upgrade with the values changes nothing either.
    let upgrade2 = helm(
        &rc,
        cwd,
        &[
            "upgrade", RELEASE, &chart, "-n", NS, "-f", &user_s, "-f", &again_s,
        ],
    );
    assert_eq!(upgrade2.code, 0, "{}", upgrade2.stderr);
    assert_fixed(&rc, &members, "after the second helm upgrade");

    // --tls-from secret: the chart renders TLS from file paths only. The values say so and carry
    // the fix as files; the upgrade (server-side apply, forcing past the endpoint this run wrote
    // with Secret references, as the note says) leaves the working file-mode fix.
    let refs_values = cwd.join("values-refs.yaml");
    let refs_s = refs_values.display().to_string();
    let refs = plugin(
        &rc,
        cwd,
        &etcd_args(
            &rc,
            &[
                "--tls-from",
                "secret",
                "--yes",
                "--no-verify",
                "--helm-values",
                &refs_s,
            ],
        ),
    );
    assert_eq!(refs.code, 0, "{}", refs.stderr);
    assert!(
        refs.stderr.contains("cannot render Secret references")
            && refs.stderr.contains("--force-conflicts"),
        "{}",
        refs.stderr
    );
    let sm = get(&rc, &["servicemonitor", "-n", NS, ETCD]).unwrap();
    assert_eq!(
        sm["spec"]["endpoints"][0]["tlsConfig"]["keySecret"]["name"], "etcd-client-cert",
        "{sm}"
    );
    let refs_text = std::fs::read_to_string(&refs_values).unwrap();
    assert!(
        refs_text.starts_with("# note: ") && refs_text.contains("cannot render Secret references"),
        "{refs_text}"
    );
    let upgrade3 = helm(
        &rc,
        cwd,
        &[
            "upgrade",
            RELEASE,
            &chart,
            "-n",
            NS,
            "-f",
            &user_s,
            "-f",
            &refs_s,
            "--force-conflicts",
        ],
    );
    assert_eq!(
        upgrade3.code, 0,
        "{}\n--- values\n{refs_text}",
        upgrade3.stderr
    );
    assert_fixed(
        &rc,
        &members,
        "after helm upgrade with the secret-reference fix's values",
    );
}
