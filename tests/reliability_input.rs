//! Bad input and key leaks, with the BUILT binary against a scenario (a) test cluster:
//! - every case of the certificate corpus (tests/corpus/MANIFEST.tsv): a clear error naming the
//!   file, or success where the input is valid; never a panic, and never a request to the cluster
//!   for bad input;
//! - every subcommand, at every verbosity, in dry-run (client and server), in error paths and
//!   with `-o yaml|json`: stdout and stderr never hold the key's bytes, PEM lines or base64;
//!   backup files are mode 0600.

mod reliability_common;

use promfix_testcluster::auth::{Rule, User};
use promfix_testcluster::faults::FaultKind;
use promfix_testcluster::harness::Options;
use reliability_common::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn etcd_with(ca: &Path, cert: &Path, key: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = s(&["etcd", "--yes", "--no-verify", "--no-probe"]);
    for (f, p) in [("--ca", ca), ("--cert", cert), ("--key", key)] {
        a.push(f.into());
        a.push(p.display().to_string());
    }
    a.extend(s(extra));
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_case_errors_clearly_without_a_request() {
    let t0 = Instant::now();
    let tc = start(Options::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let corpus = Path::new(CORPUS);
    let manifest = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    let mut cases: Vec<([PathBuf; 3], String)> = Vec::new();
    for line in manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 4, "bad manifest line {line:?}");
        let pick = |c: &str, d: &str| corpus.join(if c == "-" { d } else { c });
        cases.push((
            [
                pick(cols[0], "good-ca.pem"),
                pick(cols[1], "good-client.pem"),
                pick(cols[2], "good-client-key.pem"),
            ],
            cols[3].to_string(),
        ));
    }
    // Inputs made here: a missing file, a directory, /dev/null.
    let [ca, cert, _] = good_certs();
    cases.push((
        [ca.clone(), cert.clone(), dir.path().join("missing-key.pem")],
        "NotFound".into(),
    ));
    cases.push((
        [ca.clone(), dir.path().to_path_buf(), cert.clone()],
        "IsDirectory".into(),
    ));
    cases.push((
        [ca.clone(), cert.clone(), PathBuf::from("/dev/null")],
        "Empty".into(),
    ));
    assert!(cases.len() >= 55, "only {} cases", cases.len());
    let frags = key_fragments(&good_certs()[2]);
    let mut ok = 0;
    for ([ca, cert, key], expected) in &cases {
        let what = format!(
            "--ca {} --cert {} --key {} (expected {expected})",
            ca.display(),
            cert.display(),
            key.display()
        );
        tc.cluster.faults.clear_log();
        let valid = expected.starts_with("ok");
        let extra: &[&str] = if valid { &["--dry-run=client"] } else { &[] };
        let out = run(&tc, dir.path(), &etcd_with(ca, cert, key, extra)).await;
        assert_no_panic(&out, &what);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_no_key(&err, &frags, &what);
        assert_no_key(&String::from_utf8_lossy(&out.stdout), &frags, &what);
        if valid {
            assert!(
                out.status.success(),
                "{what}: valid input refused:\n{}",
                text(&out)
            );
            ok += 1;
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{what}:\n{}", text(&out));
        let named = [ca, cert, key]
            .iter()
            .any(|p| err.contains(&p.display().to_string()));
        assert!(named, "{what}: the error names no file:\n{err}");
        let log = tc.cluster.faults.log();
        assert!(
            log.is_empty(),
            "{what}: requests were sent for bad input: {:?}",
            log.iter()
                .map(|e| format!("{} {}", e.method, e.path))
                .collect::<Vec<_>>()
        );
        eprintln!("{expected}: {}", err.lines().next().unwrap_or(""));
    }
    eprintln!(
        "{} corpus cases ({ok} valid) in {:?}",
        cases.len(),
        t0.elapsed()
    );
}

/// A reader: every read the etcd family needs, no write.
fn reader() -> User {
    User {
        name: "reader".into(),
        token: "reader-token-0123456789".into(),
        groups: vec!["system:authenticated".into()],
        rules: vec![Rule::resources(
            &["get", "list"],
            &["", "discovery.k8s.io", "monitoring.coreos.com"],
            &["*"],
            &[],
        )],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_output_ever_holds_the_key() {
    let t0 = Instant::now();
    let tc = start(Options {
        users: vec![reader()],
        ..Default::default()
    })
    .await;
    let work = tempfile::tempdir().unwrap();
    let mut frags = key_fragments(&good_certs()[2]);
    frags.extend(key_fragments(&rotated(work.path()).1));
    assert!(frags.len() > 200);
    let certs = cert_args();
    let backup_dir = work.path().display().to_string();
    let mut runs: Vec<(String, Vec<String>)> = Vec::new();
    let with = |cmd: &str, extra: &[&str]| {
        let mut a = vec![cmd.to_string()];
        a.extend(s(&[
            "--no-verify",
            "--no-probe",
            "--backup-dir",
            &backup_dir,
        ]));
        a.extend(certs.iter().cloned());
        a.extend(s(extra));
        a
    };
    for cmd in ["etcd", "secret", "endpoints", "servicemonitor"] {
        for v in [&[][..], &["-v"], &["-vv"], &["-vvv"]] {
            for mode in [
                &["--dry-run=client"][..],
                &["--dry-run=client", "-o", "yaml"],
                &["--dry-run=client", "-o", "json"],
                &["--dry-run=server", "--yes"],
                &["--dry-run=server", "--yes", "-o", "yaml"],
                &["--dry-run=server", "--yes", "-o", "json"],
                // no --yes and no terminal: exit 4 after showing the plan
                &[],
            ] {
                let mut extra: Vec<&str> = v.to_vec();
                extra.extend(mode);
                runs.push((format!("{cmd} {}", extra.join(" ")), with(cmd, &extra)));
            }
        }
    }
    // Error paths: forbidden (the reader), a write failing past the bound, a bad key.
    for v in ["-v", "-vvv"] {
        let mut a = with("etcd", &["--yes", v]);
        a.extend(s(&["--context", &tc.context("reader")]));
        runs.push((format!("etcd as reader {v}"), a));
    }
    // The check can fail: --show-secrets is the explicit request to print the Secret's data.
    let out = run(
        &tc,
        work.path(),
        &with(
            "etcd",
            &["--dry-run=client", "-o", "yaml", "--show-secrets"],
        ),
    )
    .await;
    assert!(
        holds_key(&String::from_utf8_lossy(&out.stdout), &frags),
        "the leak check finds nothing even with --show-secrets:\n{}",
        text(&out)
    );
    let mut result = Vec::new();
    for (what, args) in &runs {
        let out = run(&tc, work.path(), args).await;
        assert_no_panic(&out, what);
        assert_no_key(
            &String::from_utf8_lossy(&out.stdout),
            &frags,
            &format!("{what}: stdout"),
        );
        assert_no_key(
            &String::from_utf8_lossy(&out.stderr),
            &frags,
            &format!("{what}: stderr"),
        );
        result.push((what.clone(), out.status.code()));
    }
    // The reader is refused with exit 5 and nothing is written.
    for (what, code) in &result {
        if what.contains("reader") {
            assert_eq!(*code, Some(5), "{what}");
        }
    }
    // Real runs at every verbosity and with -o: the first creates the Secret, the next change
    // it (a key rotation: new key bytes), the last are no-ops.
    let rot = tempfile::tempdir().unwrap();
    for (i, v) in ["-v", "-vv", "-vvv"].iter().enumerate() {
        let mut a = with(
            "etcd",
            &["--yes", v, "-o", if i % 2 == 0 { "yaml" } else { "json" }],
        );
        if i == 1 {
            // another key: the Secret's data changes, the old and new key must both stay hidden
            let (cert, key) = rotated(rot.path());
            a = with("etcd", &["--yes", v]);
            let pos = a.iter().position(|x| x == "--cert").unwrap();
            a[pos + 1] = cert.display().to_string();
            a[pos + 3] = key.display().to_string();
        }
        let out = run(&tc, work.path(), &a).await;
        assert!(out.status.success(), "etcd {v}:\n{}", text(&out));
        assert_no_key(
            &String::from_utf8_lossy(&out.stdout),
            &frags,
            "real run stdout",
        );
        assert_no_key(
            &String::from_utf8_lossy(&out.stderr),
            &frags,
            "real run stderr",
        );
    }
    // A write failing past the bound, verbose.
    tc.cluster
        .faults
        .fail_next_writes(Some("secrets"), 1000, FaultKind::Internal);
    let out = run(&tc, work.path(), &with("etcd", &["--yes", "-vvv"])).await;
    tc.cluster.faults.reset();
    assert_no_panic(&out, "500 forever");
    assert_no_key(
        &String::from_utf8_lossy(&out.stdout),
        &frags,
        "500 forever stdout",
    );
    assert_no_key(
        &String::from_utf8_lossy(&out.stderr),
        &frags,
        "500 forever stderr",
    );

    // Rollback of every backup (they hold the Secret as it was), in every mode.
    let bs = backups(work.path());
    assert!(!bs.is_empty(), "no backup was written");
    for b in &bs {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(b).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", b.display());
    }
    let rb_dir = tempfile::tempdir().unwrap();
    for b in bs.iter().rev() {
        for extra in [
            &["--dry-run=client"][..],
            &["--dry-run=client", "-o", "yaml"],
            &["--dry-run=client", "-o", "json"],
            &["--dry-run=server", "--yes", "-vvv"],
            &["--yes", "-vv"],
        ] {
            let mut a = vec!["rollback".to_string(), b.display().to_string()];
            a.extend(s(&["--backup-dir", &rb_dir.path().display().to_string()]));
            a.extend(s(extra));
            let what = format!("rollback {} {}", b.display(), extra.join(" "));
            let out = run(&tc, work.path(), &a).await;
            assert_no_panic(&out, &what);
            assert_no_key(&String::from_utf8_lossy(&out.stdout), &frags, &what);
            assert_no_key(&String::from_utf8_lossy(&out.stderr), &frags, &what);
        }
    }
    // verify and doctor (whatever they do in this build), at every verbosity.
    for cmd in [&["verify", "--no-wait", "--timeout", "5s"][..], &["doctor"]] {
        for v in ["-v", "-vv", "-vvv"] {
            for o in [&[][..], &["-o", "json"]] {
                let mut a = s(cmd);
                a.push(v.into());
                a.extend(s(o));
                let what = a.join(" ");
                let out = run(&tc, work.path(), &a).await;
                assert_no_panic(&out, &what);
                assert_no_key(&String::from_utf8_lossy(&out.stdout), &frags, &what);
                assert_no_key(&String::from_utf8_lossy(&out.stderr), &frags, &what);
            }
        }
    }
    for b in backups(rb_dir.path()) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&b).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", b.display());
    }
    eprintln!("{} leak checks in {:?}", runs.len() + 40, t0.elapsed());
}

/// Another client certificate and key signed by the corpus CA? The corpus has the RSA client
/// (signed by good-ca): use it as the rotated pair.
fn rotated(_dir: &Path) -> (PathBuf, PathBuf) {
    let d = Path::new(CORPUS);
    (d.join("rsa-client.pem"), d.join("rsa-client-key-pkcs8.pem"))
}
