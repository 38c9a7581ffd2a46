//! kubectl-promfix: fixes Prometheus Operator scrapes of the Kubernetes control plane.
//!
//! The shape: `cli` (parsing) → `kube` (cluster access, the only place that talks to the API) →
//! pure domain logic (`certs`: intake and validation; `fixes`: observe → plan) → `output`
//! (tables, diffs, yaml/json, progress, prompts).
//!
//! Every fix runs one pipeline; each step has one owner:
//!
//! ```text
//!  observe ──▶ plan ──▶ show ──▶ confirm ──▶ back up ──▶ apply ──▶ verify
//!  commands::*  fixes::*  output::   output::    apply::     apply::    commands::verify
//!  (reads via   (pure:    plan_view  interact    Executor    Executor   (reads, exec, the pod
//!   kube::Kube)  Observed            (--yes,     (the file   (guarded    proxy) + verify::*
//!                → Plan)             no TTY)     before any  writes,     (pure: files, targets,
//!                                                write)      409 → re-   the Secret's cert)
//!                                                            plan)
//! ```
//!
//! `gitops` (pure) turns a plan into the form each Argo CD or Flux owner takes (`--gitops-dir`).
//! `doctor` is observe → judge: `doctor::collect` reads, `doctor::rules` judges (pure),
//! `commands::doctor` prints. `rollback` replays a backup through the same executor.

pub mod apply;
pub mod certs;
pub mod cli;
pub mod commands;
pub mod crd;
pub mod doctor;
pub mod error;
pub mod fanout;
pub mod fields;
pub mod fixes;
pub mod gitops;
pub mod json;
pub mod kube;
pub mod output;
pub mod plan;
pub mod selector;
pub mod verify;

use cli::{Cli, Command};
pub use error::{Error, Result};

/// How a successful run ended (mapped to an exit code by `main`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done, or nothing to do.
    Ok,
    /// Verification failed (verify) or problems found (doctor).
    Problems,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Problems => 3,
        }
    }
}

/// Run one command line.
pub async fn run(cli: Cli) -> Result<Outcome> {
    use commands::etcd::Steps;
    let g = &cli.global;
    match &cli.command {
        Command::Etcd(e) => {
            let steps = if e.renew { Steps::Renew } else { Steps::All };
            commands::etcd::run(g, &e.args(), steps).await
        }
        Command::Secret(a) => commands::etcd::run(g, a, Steps::Secret).await,
        Command::Endpoints(a) => commands::etcd::run(g, a, Steps::Endpoints).await,
        Command::Servicemonitor(a) => commands::etcd::run(g, a, Steps::ServiceMonitor).await,
        Command::Rollback { file, force, write } => {
            commands::rollback::run(g, file, *force, write).await
        }
        Command::Verify { .. } => commands::verify::run(&cli).await,
        Command::Doctor { .. } => commands::doctor::run(&cli).await,
        Command::KubeProxy { .. } => commands::kube_proxy::run(&cli).await,
        Command::ControlPlane { .. } => commands::control_plane::run(&cli).await,
        Command::Kubelet { .. } => commands::kubelet::run(&cli).await,
        Command::Completion { shell } => {
            output::completion::print(*shell);
            Ok(Outcome::Ok)
        }
        Command::Version { client, output } => commands::version::run(g, *client, *output).await,
    }
}
