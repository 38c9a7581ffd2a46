//! `tests/sandbox` as a user meets it: the built sandbox binary serves a scenario on the real
//! control plane; its two export lines are pasted into a shell and the plugin commands it suggests
//! run there exactly as printed (with `--dry-run` on the writing ones, so nothing changes), with
//! the built `kubectl-promfix` on PATH; then Ctrl-C stops it and it removes what it started.
//!
//! Needs the plugin built next to the sandbox (`cargo build --workspace --all-targets`, which
//! `tests/run` does), the real control plane (`tests/k8s/build`) and the right to create network
//! namespaces.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SANDBOX: &str = env!("CARGO_BIN_EXE_promfix-sandbox");

/// One sandbox at a time: each runs a whole control plane, and the machine may have 2 cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The directory with the built `kubectl-promfix` (cargo puts the workspace's binaries together).
fn plugin_dir() -> PathBuf {
    let dir = Path::new(SANDBOX)
        .parent()
        .expect("the sandbox binary has a directory")
        .to_path_buf();
    assert!(
        dir.join("kubectl-promfix").is_file(),
        "{} has no kubectl-promfix: build it first (cargo build --workspace --all-targets, as tests/run does)",
        dir.display()
    );
    dir
}

fn path_with_plugin() -> std::ffi::OsString {
    let mut dirs = vec![plugin_dir()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH")
}

/// A running sandbox; SIGINT (then SIGKILL) on drop, so that a failed test does not leave it.
struct Sandbox {
    child: Child,
    stderr: tempfile::NamedTempFile,
    lines: mpsc::Receiver<String>,
}

impl Sandbox {
    fn start(scenario: &str) -> Sandbox {
        let stderr = tempfile::NamedTempFile::new().expect("a temp file for the sandbox's stderr");
        let mut child = Command::new(SANDBOX)
            .arg(scenario)
            .env("PATH", path_with_plugin())
            .env_remove("KUBECONFIG")
            .env_remove("ETCD_CERTS_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().expect("reopening the temp file"))
            .spawn()
            .expect("starting the sandbox binary");
        let out = child.stdout.take().expect("the sandbox's stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Sandbox {
            child,
            stderr,
            lines,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// stdout up to and including the `# Ctrl-C` line.
    fn read_until_ctrl_c(&mut self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let done = l.starts_with("# Ctrl-C");
                    got.push(l);
                    if done {
                        return got;
                    }
                }
                Err(e) => panic!(
                    "no `# Ctrl-C` line from the sandbox ({e:?}; exit: {:?})\n--- stdout\n{}\n--- stderr\n{}",
                    self.child.try_wait(),
                    got.join("\n"),
                    self.stderr()
                ),
            }
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    /// Wait up to `timeout` for the exit.
    fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("waiting for the sandbox") {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGINT);
            if self.wait(Duration::from_secs(60)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// What the sandbox printed: its two export lines and the plugin commands it suggests.
struct Printed {
    exports: Vec<String>,
    promfix: Vec<String>,
    /// The network namespace and the control plane's directory, from the header.
    netns: String,
    dir: PathBuf,
}

fn parse(lines: &[String]) -> Printed {
    let all = lines.join("\n");
    let export = |name: &str| {
        let p = format!("export {name}=");
        let found: Vec<&String> = lines.iter().filter(|l| l.starts_with(&p)).collect();
        assert_eq!(found.len(), 1, "one `{p}` line:\n{all}");
        found[0].clone()
    };
    let exports = vec![export("KUBECONFIG"), export("ETCD_CERTS_DIR")];
    assert!(
        lines[0].starts_with("export KUBECONFIG=")
            && lines[1].starts_with("export ETCD_CERTS_DIR="),
        "the export lines come first:\n{all}"
    );
    let promfix = lines
        .iter()
        .filter(|l| l.starts_with("kubectl promfix "))
        .cloned()
        .collect();
    let netns = all
        .split("(network namespace ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .unwrap_or_else(|| panic!("no network namespace in the header:\n{all}"))
        .to_string();
    let dir = lines
        .iter()
        .find_map(|l| l.strip_prefix("# Component logs: "))
        .and_then(|l| l.strip_suffix("/logs"))
        .unwrap_or_else(|| panic!("no `# Component logs:` line:\n{all}"))
        .into();
    Printed {
        exports,
        promfix,
        netns,
        dir,
    }
}

/// Run one suggested command in a fresh shell after the export lines, exactly as printed
/// (`--dry-run` added to a writing command). Returns (exit code, stdout, stderr).
fn run_as_printed(p: &Printed, cmd: &str) -> (i32, String, String) {
    let sub = cmd.split_whitespace().nth(2).unwrap_or("");
    let cmd = if matches!(sub, "doctor" | "verify") {
        cmd.to_string()
    } else {
        format!("{cmd} --dry-run")
    };
    let script = format!("{}\n{}\n{cmd}\n", p.exports[0], p.exports[1]);
    let out = Command::new("timeout")
        .args(["180", "bash", "-c", &script])
        .env("PATH", path_with_plugin())
        .env_remove("KUBECONFIG")
        .env_remove("ETCD_CERTS_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("running bash");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn complains_of_a_missing_file(s: &str) -> bool {
    [
        "does not exist",
        "No such file",
        "no such file",
        "not found",
    ]
    .iter()
    .any(|m| s.contains(m))
}

/// The network namespaces of the sandbox's slot (its own and its pods'), with their inodes.
fn slot_namespaces(netns: &str) -> Vec<(String, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(n, _)| n == netns || n.starts_with(&format!("{netns}-")))
        .filter_map(|(n, p)| Some((n, std::fs::metadata(p).ok()?.ino())))
        .collect()
}

/// SIGINT: the sandbox exits 0 and leaves no namespace, directory or process of its own behind.
fn stop_and_check_cleanup(mut sb: Sandbox, p: &Printed) {
    let running = slot_namespaces(&p.netns);
    assert!(
        running.iter().any(|(n, _)| *n == p.netns),
        "the sandbox's namespace {} is not there while it runs: {running:?}",
        p.netns
    );
    sb.signal(libc::SIGINT);
    let status = sb
        .wait(Duration::from_secs(120))
        .unwrap_or_else(|| panic!("the sandbox did not exit within 120 s of SIGINT"));
    assert!(
        status.success(),
        "the sandbox exited {status} on SIGINT\n--- stderr\n{}",
        sb.stderr()
    );
    assert!(
        !p.dir.exists(),
        "{} (the control plane's directory) is left",
        p.dir.display()
    );
    // Other clusters on the machine may take the slot as soon as it is free: when none holds it,
    // every namespace of the slot would be the sandbox's; otherwise only the ones seen above are.
    let slot: u8 = p
        .netns
        .strip_prefix("promfix-")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a slot in the namespace's name {}", p.netns));
    let left: Vec<(String, u64)> =
        match promfix_testcluster::harness::NetLock::acquire_in("real", slot..=slot) {
            Ok(_held) => slot_namespaces(&p.netns),
            Err(_) => slot_namespaces(&p.netns)
                .into_iter()
                .filter(|n| running.contains(n))
                .collect(),
        };
    assert!(left.is_empty(), "network namespaces left: {left:?}");
    let dir = p.dir.display().to_string();
    let procs: Vec<String> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&dir))
        .collect();
    assert!(procs.is_empty(), "processes left: {procs:?}");
}

#[test]
fn on_kubeadm_the_suggested_etcd_commands_work_as_printed() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut sb = Sandbox::start("b-kube-prometheus-stack.yaml");
    let lines = sb.read_until_ctrl_c(Duration::from_secs(600));
    let p = parse(&lines);
    let out = lines.join("\n");
    assert!(
        p.exports[1].len() > "export ETCD_CERTS_DIR=".len() && !p.exports[1].contains('#'),
        "a kubeadm scenario has its certificates directory:\n{out}"
    );
    let etcd: Vec<&String> = p
        .promfix
        .iter()
        .filter(|c| c.starts_with("kubectl promfix etcd "))
        .collect();
    assert!(
        etcd.iter().any(|c| c.contains("--ca ")),
        "the files by name:\n{out}"
    );
    for cmd in &etcd {
        let (code, stdout, stderr) = run_as_printed(&p, cmd);
        assert!(
            code == 0 && !complains_of_a_missing_file(&stderr),
            "`{cmd} --dry-run` as printed exited {code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- sandbox\n{out}"
        );
    }
    assert!(
        etcd.iter().any(|c| c.contains("--from-dir")),
        "kubeadm: --from-dir is suggested too:\n{out}"
    );
    stop_and_check_cleanup(sb, &p);
}

/// A scenario without etcd members (the e-* ones with kube-proxy pods do not start on the real
/// control plane yet: their kube-proxy ServiceAccount is missing there).
const NO_ETCD: &str = "f-control-plane.yaml";

#[test]
fn without_etcd_both_exports_are_printed_and_doctor_works_as_printed() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut sb = Sandbox::start(NO_ETCD);
    let lines = sb.read_until_ctrl_c(Duration::from_secs(600));
    let p = parse(&lines);
    let out = lines.join("\n");
    assert!(
        p.exports[1].starts_with("export ETCD_CERTS_DIR=  #"),
        "empty, with a comment saying why:\n{out}"
    );
    assert!(
        !p.promfix
            .iter()
            .any(|c| c.contains("promfix etcd") || c.contains("verify")),
        "no etcd command without etcd certificates:\n{out}"
    );
    assert!(
        p.promfix.iter().any(|c| c == "kubectl promfix doctor"),
        "doctor is suggested:\n{out}"
    );
    for cmd in &p.promfix {
        // Prometheus may still be starting when the sandbox prints its lines: doctor then exits 1
        // (nothing could be checked) until its targets answer.
        let deadline = Instant::now() + Duration::from_secs(300);
        let (code, stdout, stderr) = loop {
            let r = run_as_printed(&p, cmd);
            if r.0 != 1 || Instant::now() > deadline {
                break r;
            }
            std::thread::sleep(Duration::from_secs(5));
        };
        // doctor exits 3 when it finds problems, which this scenario has.
        assert!(
            matches!(code, 0 | 3) && !complains_of_a_missing_file(&stderr),
            "`{cmd}` as printed exited {code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- sandbox\n{out}"
        );
        assert!(
            stdout.contains("kube-scheduler") && stdout.contains("PROBLEM"),
            "doctor finds the scenario's insecure ports:\n{stdout}\n--- stderr\n{stderr}"
        );
    }
    stop_and_check_cleanup(sb, &p);
}
