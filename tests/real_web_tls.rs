//! Issue 13, item 8: a Prometheus that serves HTTPS (`spec.web.tlsConfig`). The real operator
//! gives the real Prometheus its web config; verify reads the targets through the pod proxy's
//! https scheme (`pods/https:NAME:9090/proxy/...`, as `kubectl get --raw` does), so the seed's
//! fix is verified on it too.

mod common_real;

use common_real::*;
use promfix_testcluster::real::{RealCluster, RealOptions};

const NS: &str = "monitoring";
const POD: &str = "prometheus-k8s-0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_serving_https_is_verified_through_the_https_pod_proxy() {
    // kube-prometheus' Prometheus 3 (the seed's v2.13.1 predates the web config file, v2.24,
    // and the real operator leaves web.tlsConfig out for it).
    let rc = RealCluster::start_builtin("c-kube-prometheus", RealOptions::default())
        .await
        .unwrap_or_else(|e| panic!("scenario c on the real control plane: {e:#}"));
    rc.wait_for(
        "Prometheus monitoring/k8s",
        std::time::Duration::from_secs(60),
        || async {
            Ok(rc
                .get_json("/apis/monitoring.coreos.com/v1/namespaces/monitoring/prometheuses/k8s")
                .await
                .ok()
                .flatten())
        },
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e:#}\n{:?}",
            rc.cp.kubectl_ok(&["get", "prometheus,crd", "-A"])
        )
    });
    // The web server's certificate, in a Secret the Prometheus names in spec.web.tlsConfig.
    let cert = rcgen::generate_simple_self_signed(vec!["prometheus".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&crt, cert.cert.pem()).unwrap();
    std::fs::write(&key, cert.signing_key.serialize_pem()).unwrap();
    rc.cp
        .kubectl_ok(&[
            "-n",
            NS,
            "create",
            "secret",
            "generic",
            "prom-web-tls",
            &format!("--from-file=tls.crt={}", crt.display()),
            &format!("--from-file=tls.key={}", key.display()),
        ])
        .unwrap();
    rc.cp
        .kubectl_ok(&[
            "-n",
            NS,
            "patch",
            "prometheus",
            "k8s",
            "--type=merge",
            "-p",
            r#"{"spec":{"web":{"tlsConfig":{"cert":{"secret":{"name":"prom-web-tls","key":"tls.crt"}},"keySecret":{"name":"prom-web-tls","key":"tls.key"}}}}}"#,
        ])
        .unwrap();
    // The Prometheus serves HTTPS only: the plain pod proxy no longer reaches its API.
    let https =
        format!("/api/v1/namespaces/{NS}/pods/https:{POD}:9090/proxy/api/v1/status/runtimeinfo");
    rc.wait_for(
        "Prometheus answering over https",
        std::time::Duration::from_secs(180),
        || async { Ok(rc.cp.kubectl_ok(&["get", "--raw", &https]).ok()) },
    )
    .await
    .unwrap();
    let plain = format!("/api/v1/namespaces/{NS}/pods/{POD}:9090/proxy/api/v1/status/runtimeinfo");
    assert!(
        rc.cp.kubectl_ok(&["get", "--raw", &plain]).is_err(),
        "the Prometheus still answers plain http"
    );

    // The seed's fix, verify included.
    let certs = rc.etcd_certs_dir.clone().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let backups = cwd.path().display().to_string();
    let from = certs.display().to_string();
    let run = plugin(
        &rc,
        cwd.path(),
        &[
            "etcd",
            "--from-dir",
            &from,
            "--yes",
            "--backup-dir",
            &backups,
        ],
    );
    let (stdout, stderr) = (&run.stdout, &run.stderr);
    assert_eq!(run.code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout
            .contains("verified: 2 pod(s): files present and equal to the Secret, etcd targets up"),
        "{stdout}\n{stderr}"
    );
    assert!(!stderr.contains("cannot read the targets"), "{stderr}");
}
