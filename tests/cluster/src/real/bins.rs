//! Where the real components are: the directory `tests/k8s/build` prints (links to its cache).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The built components: kube-apiserver, kube-controller-manager, kube-scheduler, etcd,
/// prometheus-operator, prometheus-config-reloader, prometheus, helm, and `crds/`.
#[derive(Debug, Clone)]
pub struct Bins {
    pub dir: PathBuf,
}

/// `tests/k8s/build` in this checkout.
pub fn build_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s/build")
}

fn locate() -> Result<Bins> {
    if let Some(dir) = std::env::var_os("PROMFIX_K8S_BIN") {
        return Ok(Bins { dir: dir.into() });
    }
    // Not started by tests/run: ask the build script, which builds nothing with --check.
    let script = build_script();
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg("--check")
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "the real control plane is not built: {}\nRun tests/k8s/build (tests/run does), or set PROMFIX_K8S_BIN to the directory it prints",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(Bins {
        dir: String::from_utf8_lossy(&out.stdout).trim().into(),
    })
}

impl Bins {
    /// Found once per process.
    pub fn get() -> Result<&'static Bins> {
        static BINS: OnceLock<Result<Bins, String>> = OnceLock::new();
        BINS.get_or_init(|| locate().map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// A component's binary; the error says how to build it.
    pub fn path(&self, name: &str) -> Result<PathBuf> {
        let p = self.dir.join(name);
        if !p.exists() {
            bail!(
                "{} is missing: run tests/k8s/build (it builds {name} into its cache)",
                p.display()
            );
        }
        Ok(p)
    }

    /// Helm 4 (`helm.sh/helm/v4`'s `cmd/helm`), for the tests that install a chart as a release.
    pub fn helm(&self) -> Result<PathBuf> {
        self.path("helm")
    }

    /// The operator's CRDs (`example/prometheus-operator-crd/*.yaml` of its module).
    pub fn crds(&self) -> PathBuf {
        self.dir.join("crds")
    }
}
