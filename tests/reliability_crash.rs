//! Crash consistency and transient faults of `kubectl promfix etcd` on scenario (a), with the
//! BUILT binary against the test cluster:
//! - for every write k of an uninterrupted run, the connection is cut at write k (before and
//!   after the server applies it), and separately the process is killed right after write k
//!   succeeds; a re-run converges to exactly the objects of an uninterrupted run, and a rollback
//!   from the interrupted run's backup restores the objects as they were before;
//! - 409, 500, 429 (Retry-After) and latency spikes at every write: bounded retries, then
//!   success; past the bound a clear error saying what was applied, what was not, and the backup
//!   (exit 1);
//! - a real concurrent writer labelling the objects between the run's reads and writes: 409,
//!   re-read, and both its labels and the fix are there in the end.

mod reliability_common;

use promfix_testcluster::faults::FaultKind;
use promfix_testcluster::harness::{Options, TestCluster};
use reliability_common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// The resource plural of a write's path (`/api/v1/namespaces/x/secrets/name` → `secrets`).
fn plural_of(path: &str) -> String {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /api/v1/namespaces/NS/PLURAL[/NAME] or /apis/G/V/namespaces/NS/PLURAL[/NAME]
    if let Some(i) = parts.iter().position(|p| *p == "namespaces")
        && parts.len() > i + 2
    {
        return parts[i + 2].to_string();
    }
    let base = if parts.first() == Some(&"api") { 2 } else { 3 };
    parts.get(base).unwrap_or(&"").to_string()
}

/// What an uninterrupted run does: the objects before and after, and its writes (method, plural).
struct Reference {
    before: BTreeMap<String, Value>,
    after: BTreeMap<String, Value>,
    writes: Vec<(String, String)>,
}

async fn reference() -> Reference {
    let tc = start(Options::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let before = settled(&tc).await;
    tc.cluster.faults.clear_log();
    let out = run(&tc, dir.path(), &etcd_args(dir.path())).await;
    assert!(
        out.status.success(),
        "uninterrupted run failed:\n{}",
        text(&out)
    );
    let log = tc.cluster.faults.log();
    // The writes that landed (a 409 against the operator's own update of the Prometheus is
    // re-planned and written again).
    let writes: Vec<(String, String)> = writes(&log)
        .iter()
        .filter(|e| (200..300).contains(&e.status))
        .map(|e| (e.method.clone(), plural_of(&e.path)))
        .collect();
    assert!(writes.len() >= 4, "too few writes: {writes:?}");
    let after = settled(&tc).await;
    assert_ne!(before, after, "the run changed nothing");
    // A second run is idempotent: no write.
    tc.cluster.faults.clear_log();
    let out = run(&tc, dir.path(), &etcd_args(dir.path())).await;
    assert!(out.status.success(), "second run failed:\n{}", text(&out));
    let again = tc.cluster.faults.log();
    assert!(
        writes_of(&again).is_empty(),
        "the second run wrote: {:?}",
        writes_of(&again)
    );
    eprintln!("uninterrupted run: {} writes: {writes:?}", writes.len());
    Reference {
        before,
        after,
        writes,
    }
}

fn writes_of(log: &[promfix_testcluster::faults::LogEntry]) -> Vec<String> {
    log.iter()
        .filter(|e| is_object_write(e))
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

/// After an interrupted run: re-run, compare with the reference, roll back from the first backup
/// of the interrupted run, compare with the objects before.
async fn converge_and_roll_back(tc: &TestCluster, dir: &Path, r: &Reference, what: &str) {
    let first_backups = backups(dir);
    let rerun = tempfile::tempdir().unwrap();
    let out = run(tc, rerun.path(), &etcd_args(rerun.path())).await;
    assert!(
        out.status.success(),
        "{what}: the re-run failed:\n{}",
        text(&out)
    );
    let now = settled(tc).await;
    let d = diff(&r.after, &now);
    assert!(d.is_empty(), "{what}: the re-run did not converge:\n{d}");
    // The interrupted run's backup: the first one it wrote (it may write one per round).
    let Some(backup) = first_backups.first() else {
        // Cut before the backup or before any write: nothing to restore from the interrupted
        // run; the objects before are in the re-run's backup.
        let b = backups(rerun.path());
        let b = b.first().expect("the re-run wrote a backup");
        rollback(tc, b, r, what).await;
        return;
    };
    rollback(tc, backup, r, what).await;
}

async fn rollback(tc: &TestCluster, backup: &Path, r: &Reference, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let args = vec![
        "rollback".to_string(),
        backup.display().to_string(),
        "--yes".into(),
        "--backup-dir".into(),
        dir.path().display().to_string(),
    ];
    let out = run(tc, dir.path(), &args).await;
    assert!(
        out.status.success(),
        "{what}: rollback {} failed:\n{}",
        backup.display(),
        text(&out)
    );
    let now = settled(tc).await;
    let d = diff(&r.before, &now);
    assert!(
        d.is_empty(),
        "{what}: rollback from {} did not restore the objects:\n{d}\nbackup:\n{}",
        backup.display(),
        std::fs::read_to_string(backup).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cut_connection_and_kill_converges_and_rolls_back() {
    let t0 = Instant::now();
    let r = reference().await;
    let n = r.writes.len();
    // Cut the connection at write k, before and after the server applies it.
    for k in 1..=n {
        for after_apply in [false, true] {
            let what = format!(
                "connection cut at write {k} ({} {}) {} applying",
                r.writes[k - 1].0,
                r.writes[k - 1].1,
                if after_apply { "after" } else { "before" }
            );
            let tc = start(Options::default()).await;
            let before = settled(&tc).await;
            let d = diff(&r.before, &before);
            assert!(d.is_empty(), "fresh clusters differ:\n{d}");
            let dir = tempfile::tempdir().unwrap();
            tc.cluster.faults.drop_at_write(k, after_apply);
            let out = run(&tc, dir.path(), &etcd_args(dir.path())).await;
            assert_no_panic(&out, &what);
            eprintln!("{what}: exit {:?}", out.status.code());
            // A cut connection is a transient error: retried (a write that did land answers
            // 409 or is found done on re-reading), so the run itself succeeds.
            assert!(
                out.status.success(),
                "{what}: the run did not recover:\n{}",
                text(&out)
            );
            converge_and_roll_back(&tc, dir.path(), &r, &what).await;
        }
    }
    // Kill the process right after write k succeeds. Each request waits 150 ms on the server,
    // so no write of a later wave can land before the kill.
    for k in 1..=n {
        let what = format!(
            "killed after write {k} ({} {})",
            r.writes[k - 1].0,
            r.writes[k - 1].1
        );
        let tc = start(Options::default()).await;
        let dir = tempfile::tempdir().unwrap();
        tc.cluster.faults.clear_log();
        tc.cluster.faults.set_latency(Duration::from_millis(150));
        let mut child = promfix(&tc, dir.path(), &etcd_args(dir.path()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawning kubectl-promfix");
        let deadline = Instant::now() + Duration::from_secs(60);
        let killed = loop {
            let ok = tc
                .cluster
                .faults
                .log()
                .iter()
                .filter(|e| is_object_write(e) && (200..300).contains(&e.status))
                .count();
            if ok >= k {
                child.kill().expect("kill");
                break true;
            }
            if child.try_wait().expect("try_wait").is_some() {
                break false;
            }
            assert!(Instant::now() < deadline, "{what}: the run hangs");
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        let _ = child.wait();
        tc.cluster.faults.set_latency(Duration::ZERO);
        let done = tc
            .cluster
            .faults
            .log()
            .iter()
            .filter(|e| is_object_write(e) && (200..300).contains(&e.status))
            .count();
        eprintln!("{what}: killed={killed}, {done} writes applied");
        assert!(killed, "{what}: the run ended before write {k}");
        // Writes of one wave are concurrent: the kill may find a sibling of write k done too.
        assert!(done >= k, "{what}: killed before write {k}");
        converge_and_roll_back(&tc, dir.path(), &r, &what).await;
    }
    eprintln!("crash consistency: {n} writes, {:?}", t0.elapsed());
}

/// One fault at write k (of the write's resource), the bound not reached: success, and the
/// objects are those of an uninterrupted run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_at_every_write_are_retried() {
    let t0 = Instant::now();
    let r = reference().await;
    let kinds = [
        ("409 Conflict", FaultKind::Conflict),
        ("500 InternalError", FaultKind::Internal),
        (
            "429 Retry-After 1",
            FaultKind::TooManyRequests {
                retry_after_secs: 1,
            },
        ),
    ];
    for (k, (_, plural)) in r.writes.iter().enumerate() {
        for (name, kind) in kinds {
            let what = format!("{name} at write {} ({plural})", k + 1);
            let tc = start(Options::default()).await;
            let dir = tempfile::tempdir().unwrap();
            // Twice in a row: the retry meets the fault again.
            tc.cluster.faults.fail_next_writes(Some(plural), 2, kind);
            let started = Instant::now();
            let out = run(&tc, dir.path(), &etcd_args(dir.path())).await;
            let took = started.elapsed();
            assert_no_panic(&out, &what);
            assert!(out.status.success(), "{what}: not retried:\n{}", text(&out));
            if matches!(kind, FaultKind::TooManyRequests { .. }) {
                assert!(
                    took >= Duration::from_secs(2),
                    "{what}: Retry-After not honoured ({took:?})"
                );
            }
            let now = settled(&tc).await;
            let d = diff(&r.after, &now);
            assert!(d.is_empty(), "{what}: wrong result:\n{d}");
        }
        // A latency spike at this write: 2 s for one request.
        let what = format!("latency spike at write {} ({plural})", k + 1);
        let tc = start(Options::default()).await;
        let dir = tempfile::tempdir().unwrap();
        tc.cluster.faults.clear_log();
        let mut child = promfix(&tc, dir.path(), &etcd_args(dir.path()))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut spiked = false;
        loop {
            let w = tc
                .cluster
                .faults
                .log()
                .iter()
                .filter(|e| is_object_write(e))
                .count();
            if !spiked && w == k {
                tc.cluster.faults.set_latency(Duration::from_secs(2));
                spiked = true;
            } else if spiked && w > k {
                tc.cluster.faults.set_latency(Duration::ZERO);
            }
            if child.try_wait().expect("try_wait").is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tc.cluster.faults.set_latency(Duration::ZERO);
        let out = child.wait_with_output().expect("output");
        assert_no_panic(&out, &what);
        assert!(out.status.success(), "{what}: failed:\n{}", text(&out));
        let d = diff(&r.after, &settled(&tc).await);
        assert!(d.is_empty(), "{what}: wrong result:\n{d}");
    }
    eprintln!("transient faults: {:?}", t0.elapsed());
}

/// Past the bound: exit 1 and an error naming what was applied, what was not, and the backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_past_the_bound_fail_clearly() {
    let t0 = Instant::now();
    let r = reference().await;
    for (k, (_, plural)) in r.writes.iter().enumerate() {
        for (name, kind) in [
            ("409 Conflict", FaultKind::Conflict),
            ("500 InternalError", FaultKind::Internal),
            (
                "429 Retry-After 1",
                FaultKind::TooManyRequests {
                    retry_after_secs: 1,
                },
            ),
        ] {
            // 429 takes a second per attempt: check it at the first write only.
            if matches!(kind, FaultKind::TooManyRequests { .. }) && k > 0 {
                continue;
            }
            let what = format!("{name} forever at write {} ({plural})", k + 1);
            let tc = start(Options::default()).await;
            let dir = tempfile::tempdir().unwrap();
            tc.cluster.faults.fail_next_writes(Some(plural), 1000, kind);
            let out = run(&tc, dir.path(), &etcd_args(dir.path())).await;
            assert_no_panic(&out, &what);
            assert_eq!(out.status.code(), Some(1), "{what}:\n{}", text(&out));
            let err = String::from_utf8_lossy(&out.stderr);
            for want in ["applied:", "not applied:", "backup:", "rollback"] {
                assert!(
                    err.contains(want),
                    "{what}: no {want:?} in:\n{}",
                    text(&out)
                );
            }
            let b = backups(dir.path());
            let b = b.first().expect("a backup was written");
            assert!(
                err.contains(&b.display().to_string()),
                "{what}: the error does not name the backup {}:\n{err}",
                b.display()
            );
            // The retries are bounded: a handful of attempts, not 1000.
            let attempts = tc
                .cluster
                .faults
                .log()
                .iter()
                .filter(|e| is_object_write(e) && plural_of(&e.path) == *plural)
                .count();
            assert!((2..=30).contains(&attempts), "{what}: {attempts} attempts");
            // Nothing lost: re-run (fault gone) converges, rollback restores.
            tc.cluster.faults.reset();
            converge_and_roll_back(&tc, dir.path(), &r, &what).await;
        }
    }
    eprintln!("faults past the bound: {:?}", t0.elapsed());
}

/// A real concurrent writer: another client labels every object the run patches between the
/// run's reads and its writes. The run meets 409, reads again, and the other writer's labels
/// survive next to the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_writer_is_not_overwritten() {
    use promfix_testcluster::store::WriteCtx;
    let r = reference().await;
    let tc = start(Options::default()).await;
    let dir = tempfile::tempdir().unwrap();
    tc.cluster.faults.clear_log();
    tc.cluster.faults.set_latency(Duration::from_millis(100));
    let child = promfix(&tc, dir.path(), &etcd_args(dir.path()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let targets = [
        ("prometheuses", "monitoring", PROM),
        ("servicemonitors", "monitoring", SVC),
        ("services", "kube-system", SVC),
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    // The access reviews come after the reads and before the writes.
    loop {
        let log = tc.cluster.faults.log();
        if log.iter().any(|e| e.path.contains("accessreviews")) {
            break;
        }
        assert!(Instant::now() < deadline, "no access review seen");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let st = &tc.cluster.store;
    for (plural, ns, name) in targets {
        let rt = st.rt(plural);
        let mut o = st.get(&rt, Some(ns), name).expect("object");
        o["metadata"]["labels"]["team"] = "observability".into();
        st.update(&rt, Some(ns), name, o, &WriteCtx::update("kubectl-edit"))
            .unwrap_or_else(|e| panic!("concurrent update of {plural}: {e}"));
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("output"))
        .await
        .unwrap();
    tc.cluster.faults.set_latency(Duration::ZERO);
    assert_no_panic(&out, "concurrent writer");
    assert!(out.status.success(), "{}", text(&out));
    let conflicts = tc
        .cluster
        .faults
        .log()
        .iter()
        .filter(|e| is_object_write(e) && e.status == 409)
        .count();
    assert!(conflicts >= 1, "the run never met the concurrent write");
    // Expected: the uninterrupted result plus the other writer's labels.
    let mut want = r.after.clone();
    for (plural, ns, name) in targets {
        let v = want
            .get_mut(&format!("{plural}/{ns}/{name}"))
            .expect("in the snapshot");
        v["labels"]["team"] = "observability".into();
    }
    // The endpoints controller copies the Service's labels onto its Endpoints, as before the fix.
    let ep = format!("endpoints/kube-system/{SVC}");
    want.get_mut(&ep).expect("endpoints")["labels"]["team"] = "observability".into();
    let d = diff(&want, &settled(&tc).await);
    assert!(
        d.is_empty(),
        "the concurrent writer's change or the fix was lost:\n{d}"
    );
}
