//! Issue 14, item 2 (the etcd certificate's life), on the real control plane: the copy of the
//! client certificate in the Secret does not renew when the files on the nodes do.
//! - The seed's fix with a client certificate ten days from its end: verify passes, and says
//!   when it ends, with a warning.
//! - The Secret's copy expires (the test writes an expired one, as time would): real etcd
//!   refuses it, real Prometheus' targets go down, and verify traces their error to the
//!   Secret's certificate and says how to renew it.
//! - doctor reads the same certificate (issue 14.2's doctor half): ten days from its end is a
//!   finding with the targets up; expired, the etcd row's cause is the certificate; renewed, ok.
//! - `etcd --renew` with current files rewrites only the Secret's data (and is refused before
//!   there is a fix to renew): no pod restarts, the files in the pods follow (the node agent syncs Secret volumes as the
//!   kubelet does), the targets come back up.

mod common_real;

use common_real::*;
use promfix_testcluster::real::{RealCluster, RealOptions};
use serde_json::Value;
use std::path::Path;

const NS: &str = "monitoring";
const STS: &str = "prometheus-prom-prometheus-operator-prometheus";
const SECRET: &str = "etcd-client-cert";

fn pod_uids(rc: &RealCluster) -> Vec<String> {
    (0..2)
        .map(|i| {
            let p = get(rc, &["pod", "-n", NS, &format!("{STS}-{i}")]).unwrap();
            p["metadata"]["uid"].as_str().unwrap().to_string()
        })
        .collect()
}

/// `etcd --ca --cert --key` with the node's CA and the given client files, `--yes`, and
/// `extra`.
fn fix_with(rc: &RealCluster, cwd: &Path, cert: &Path, key: &Path, extra: &[&str]) -> Run {
    let ca = rc.etcd_certs_dir.clone().unwrap().join("ca.pem");
    let (ca, cert, key) = (
        ca.display().to_string(),
        cert.display().to_string(),
        key.display().to_string(),
    );
    let mut args = vec!["etcd", "--ca", &ca, "--cert", &cert, "--key", &key, "--yes"];
    args.extend_from_slice(extra);
    plugin(rc, cwd, &args)
}

/// A node's certificate directory in kubespray's layout (`ca.pem`, `node-node1.pem`,
/// `node-node1-key.pem`) holding the CA and these client files.
fn node_dir(rc: &RealCluster, dir: &Path, cert: &Path, key: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let ca = rc.etcd_certs_dir.clone().unwrap().join("ca.pem");
    std::fs::copy(ca, dir.join("ca.pem")).unwrap();
    std::fs::copy(cert, dir.join("node-node1.pem")).unwrap();
    std::fs::copy(key, dir.join("node-node1-key.pem")).unwrap();
    dir.display().to_string()
}

/// doctor's etcd row (`doctor -o json`), and its exit code.
fn doctor_etcd(rc: &RealCluster, cwd: &Path) -> (i32, Value) {
    doctor_etcd_with(rc, cwd, &[])
}

/// The same, with `extra` arguments.
fn doctor_etcd_with(rc: &RealCluster, cwd: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["doctor", "-o", "json"];
    args.extend_from_slice(extra);
    let run = plugin(rc, cwd, &args);
    let v: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor -o json is not JSON ({e}): {}\n{}",
            run.stdout, run.stderr
        )
    });
    let row = v["clusters"][0]["rows"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["component"] == "etcd"))
        .cloned()
        .unwrap_or_else(|| panic!("no etcd row: {v:#}"));
    (run.code, row)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secrets_certificate_is_followed_to_its_end_and_renewed_without_restarts() {
    let rc = start(A, RealOptions::default()).await;
    let pki = rc.pki.clone().expect("the scenario's etcd PKI");
    let cwd = tempfile::tempdir().unwrap();
    let minted = cwd.path().join("minted");

    // Ten days left: --renew before any fix is refused (there is nothing to renew yet)...
    let soon = pki
        .mint_client_for_days(&minted, "prometheus-soon", 10)
        .unwrap();
    let refused = fix_with(&rc, cwd.path(), &soon.cert, &soon.key, &["--renew"]);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains("--renew renews the Secret of a fix in place, and Secret monitoring/etcd-client-cert does not exist: nothing was written"),
        "{}",
        refused.stderr
    );
    assert!(get(&rc, &["secret", "-n", NS, SECRET]).is_none());
    // ...the fix works, verify passes and warns.
    let run = fix_with(&rc, cwd.path(), &soon.cert, &soon.key, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("verified: 2 pod(s): files present and equal to the Secret, etcd targets up"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("client certificate CN=prometheus-soon in Secret monitoring/etcd-client-cert (etcd-client): valid until")
            && run.stdout.contains("warning: the client certificate CN=prometheus-soon in Secret monitoring/etcd-client-cert expires in"),
        "{}",
        run.stdout
    );
    let v = plugin(&rc, cwd.path(), &["verify", "-o", "json"]);
    assert_eq!(v.code, 0, "{}\n{}", v.stdout, v.stderr);
    let doc: Value = serde_json::from_str(&v.stdout).unwrap();
    let first = &doc[0];
    assert_eq!(first["client_cert"]["state"], "expires-soon", "{doc:#}");
    assert_eq!(first["client_cert"]["signed_by_secret_ca"], true, "{doc:#}");
    let left = first["client_cert"]["days_left"].as_i64().unwrap();
    assert!((9..=10).contains(&left), "{doc:#}");
    let uids = pod_uids(&rc);
    // doctor: every etcd target up, and still a finding, with the renewal to run.
    let (code, row) = doctor_etcd(&rc, cwd.path());
    assert_eq!(code, 3, "{row:#}");
    assert_eq!(row["status"], "problem", "{row:#}");
    let cause = row["cause"].as_str().unwrap();
    assert!(
        cause.starts_with("every target is up, but the client certificate CN=prometheus-soon in Secret monitoring/etcd-client-cert expires in"),
        "{row:#}"
    );
    assert!(
        row["fix"]
            .to_string()
            .contains("kubectl promfix etcd --renew"),
        "{row:#}"
    );
    // The node's files were renewed (the same subject, a year on): doctor --from-dir says the
    // Secret's copy is the older one.
    let renewed = pki
        .mint_client(&minted.join("renewed"), "prometheus-soon")
        .unwrap();
    let dir = node_dir(
        &rc,
        &cwd.path().join("node-renewed"),
        &renewed.cert,
        &renewed.key,
    );
    let (_, row) = doctor_etcd_with(&rc, cwd.path(), &["--from-dir", &dir]);
    let cause = row["cause"].as_str().unwrap();
    assert!(
        cause.contains(&format!(
            "is older than {dir}/node-node1.pem on this machine"
        )) && cause.contains("the files were renewed, the Secret's copy was not"),
        "{row:#}"
    );
    // verify says the same of each pod, from the same directory: a problem.
    let v = plugin(
        &rc,
        cwd.path(),
        &["verify", "--from-dir", &dir, "-o", "json"],
    );
    assert_eq!(v.code, 3, "{}\n{}", v.stdout, v.stderr);
    let doc: Value = serde_json::from_str(&v.stdout).unwrap();
    for r in doc.as_array().unwrap() {
        assert_eq!(r["node_files"]["state"], "renewed", "{r:#}");
        assert!(
            r["problems"]
                .to_string()
                .contains("the files were renewed, the Secret's copy was not"),
            "{r:#}"
        );
    }
    // A directory without certificates is an error before any request.
    let empty = cwd.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let empty = empty.display().to_string();
    let bad = plugin(&rc, cwd.path(), &["doctor", "--from-dir", &empty]);
    assert_eq!(bad.code, 1, "{}\n{}", bad.stdout, bad.stderr);
    assert!(
        bad.stderr.contains("no etcd certificates found in"),
        "{}",
        bad.stderr
    );

    // A year on: the copy in the Secret has expired (written here as time would have it).
    let old = pki.mint_expired_client(&minted, "prometheus-old").unwrap();
    let b64 = |p: &Path| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).unwrap())
    };
    let patch = serde_json::json!({"data": {"etcd-client": b64(&old.cert), "etcd-client-key": b64(&old.key)}});
    rc.cp
        .kubectl_ok(&[
            "-n",
            NS,
            "patch",
            "secret",
            SECRET,
            "--type=merge",
            "-p",
            &patch.to_string(),
        ])
        .unwrap();
    let v = plugin(
        &rc,
        cwd.path(),
        &["verify", "--timeout", "3m", "-o", "json"],
    );
    assert_eq!(v.code, 3, "{}\n{}", v.stdout, v.stderr);
    let doc: Value = serde_json::from_str(&v.stdout).unwrap();
    for r in doc.as_array().unwrap() {
        assert_eq!(r["client_cert"]["state"], "expired", "{r:#}");
        let problems: Vec<&str> = r["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("CN=prometheus-old") && p.contains("expired on")),
            "{problems:#?}"
        );
        // The targets whose scrape opened a connection since are down, each traced to the
        // Secret's certificate. (Prometheus rebuilds its TLS transport only when the CA file
        // changes: a keep-alive connection made with the old certificate may still scrape.)
        let down: Vec<&&str> = problems
            .iter()
            .filter(|p| p.contains(" is down: "))
            .collect();
        assert!(!down.is_empty(), "{problems:#?}");
        for p in &down {
            assert!(
                p.contains("etcd refused the client certificate") && p.contains("expired on"),
                "{problems:#?}"
            );
        }
    }

    // doctor traces the refused handshakes to the same certificate.
    let (_, row) = doctor_etcd(&rc, cwd.path());
    assert_eq!(row["status"], "problem", "{row:#}");
    let cause = row["cause"].as_str().unwrap();
    assert!(
        cause.starts_with("etcd refuses the scrape's client certificate: the client certificate CN=prometheus-old in Secret monitoring/etcd-client-cert expired on"),
        "{row:#}"
    );
    assert!(
        row["fix"][0]
            .as_str()
            .unwrap()
            .contains("kubectl promfix etcd --renew"),
        "{row:#}"
    );

    // Renewed: `etcd --renew` with current files changes the Secret's data only.
    let fresh = pki.mint_client(&minted, "prometheus-renewed").unwrap();
    let run = fix_with(&rc, cwd.path(), &fresh.cert, &fresh.key, &["--renew"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("1. patch Secret monitoring/etcd-client-cert")
            && !run.stdout.contains("2. "),
        "only the Secret changes: {}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("verified: 2 pod(s): files present and equal to the Secret, etcd targets up"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("warning: the client certificate"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("--renew: only the data of Secret monitoring/etcd-client-cert changes"),
        "{}",
        run.stdout
    );
    assert_eq!(pod_uids(&rc), uids, "no pod was restarted");
    let dir = node_dir(&rc, &cwd.path().join("node-fresh"), &fresh.cert, &fresh.key);
    let (_, row) = doctor_etcd_with(&rc, cwd.path(), &["--from-dir", &dir]);
    assert_eq!(row["status"], "ok", "{row:#}");
    let evidence = row["evidence"].to_string();
    assert!(
        evidence.contains("CN=prometheus-renewed")
            && evidence.contains(&format!("is the same as {dir}/node-node1.pem")),
        "{row:#}"
    );
    // Once more: nothing to renew, nothing written.
    let again = fix_with(
        &rc,
        cwd.path(),
        &fresh.cert,
        &fresh.key,
        &["--renew", "--no-verify"],
    );
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(
        format!("{}{}", again.stdout, again.stderr)
            .contains("already holds these files: nothing to renew"),
        "{}\n{}",
        again.stdout,
        again.stderr
    );
}
