//! Shared helpers of the test cluster's integration tests.
#![allow(dead_code)]

use promfix_testcluster::harness::{Options, TestCluster};
use std::process::Output;
use std::time::Duration;

/// The seed's scenario.
pub const SEED: &str = "a-seed-stable-prometheus-operator.yaml";

pub async fn start(name: &str) -> TestCluster {
    TestCluster::start_builtin(name, Options::default())
        .await
        .unwrap_or_else(|e| panic!("starting scenario {name}: {e:#}"))
}

pub async fn start_with(name: &str, opts: Options) -> TestCluster {
    TestCluster::start_builtin(name, opts)
        .await
        .unwrap_or_else(|e| panic!("starting scenario {name}: {e:#}"))
}

/// Run real kubectl (blocking, off the async runtime) and return its output.
pub async fn kubectl(tc: &TestCluster, args: &[&str]) -> Output {
    kubectl_stdin(tc, args, None).await
}

pub async fn kubectl_stdin(tc: &TestCluster, args: &[&str], stdin: Option<String>) -> Output {
    let mut cmd = tc.kubectl();
    cmd.args(args);
    let args_s = args.join(" ");
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        use std::process::Stdio;
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("kubectl {args_s}: {e} (is kubectl on PATH?)"));
        if let Some(s) = stdin
            && let Some(mut i) = child.stdin.take()
        {
            i.write_all(s.as_bytes()).expect("writing kubectl's stdin");
        }
        child.wait_with_output().expect("waiting for kubectl")
    })
    .await
    .expect("kubectl task")
}

/// kubectl must succeed; returns stdout.
pub async fn ok(tc: &TestCluster, args: &[&str]) -> String {
    let out = kubectl(tc, args).await;
    assert!(
        out.status.success(),
        "kubectl {} failed ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// kubectl must fail; returns (exit code, stderr).
pub async fn fails(tc: &TestCluster, args: &[&str]) -> (i32, String) {
    let out = kubectl(tc, args).await;
    assert!(
        !out.status.success(),
        "kubectl {} should have failed:\nstdout: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Poll until `f` gives Some, or panic after `secs`.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
