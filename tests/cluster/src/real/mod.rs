//! Test clusters on the real Kubernetes control plane: kube-apiserver, kube-controller-manager and
//! kube-scheduler from `k8s.io/kubernetes`, etcd, the Prometheus Operator's CRDs, built from their
//! Go modules by `tests/k8s/build`, in a network namespace of the cluster's own with non-loopback
//! addresses (`netns.rs`).
//!
//! This is where the stand-in (`api/`, `store.rs`, `patch/`, `controllers/`) is being replaced;
//! ARCHITECTURE.md says which tests already run here.

pub mod agent;
pub mod bins;
pub mod cluster;
pub mod control_plane;
pub mod netns;
pub mod pki;
pub mod proxy;

pub use agent::{AgentOptions, NodeAgent};
pub use bins::Bins;
pub use cluster::{RealCluster, RealOptions};
pub use control_plane::{ControlPlane, ControlPlaneOptions, TokenUser};
pub use netns::NetNs;

use crate::peers::log_tail;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::{Child, Command};

/// A component's process inside the namespace, its output in `logs/<name>.log`; killed on drop
/// (and when the test process dies: PR_SET_PDEATHSIG).
pub struct Proc {
    pub name: String,
    pub log: PathBuf,
    child: std::sync::Mutex<Child>,
}

impl Proc {
    /// Start `bin args` inside `ns` with an empty environment but PATH.
    pub fn spawn(ns: &NetNs, name: &str, bin: &Path, args: &[String], logs: &Path) -> Result<Proc> {
        let log = logs.join(format!("{name}.log"));
        let f =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut c = Command::new(bin);
        c.args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(f.try_clone()?)
            .stderr(f)
            .kill_on_drop(true);
        ns.enter_on_exec(&mut c)?;
        crate::peers::die_with_parent(&mut c);
        let child = c
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Proc {
            name: name.into(),
            log,
            child: std::sync::Mutex::new(child),
        })
    }

    /// An error with the end of its log if the process has exited.
    pub fn check_running(&self) -> Result<()> {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "{} exited ({status}); the end of its log ({}):\n{}",
                self.name,
                self.log.display(),
                log_tail(&self.log, 40)
            );
        }
        Ok(())
    }
}
