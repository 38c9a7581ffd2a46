//! The Prometheus binary the kubelet runs for a pod's `prometheus` container: Debian's
//! `prometheus` package (`/usr/bin/prometheus`).

use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// Where Debian's `prometheus` package installs the server.
pub const PATH: &str = "/usr/bin/prometheus";

/// The installed Prometheus: path, version and the flags it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prometheus {
    pub path: PathBuf,
    /// e.g. `2.42.0+ds`.
    pub version: String,
    /// Long flag names without dashes (`web.listen-address`), from `prometheus --help`.
    pub flags: BTreeSet<String>,
}

impl Prometheus {
    /// Whether `arg` (`--flag=value`, `--flag`, `--no-flag`) names a flag this Prometheus knows.
    /// Flags `--help` does not list (hidden ones such as `--storage.tsdb.wal-compression`) are
    /// tried on the binary itself (`prometheus <arg> --version`), once per flag name.
    pub fn accepts(&self, arg: &str) -> bool {
        static PROBED: Mutex<BTreeMap<String, bool>> = Mutex::new(BTreeMap::new());
        let Some(name) = arg.strip_prefix("--") else {
            return true; // not a flag: leave it to Prometheus
        };
        let name = name.split('=').next().unwrap_or(name);
        if self.flags.contains(name)
            || name
                .strip_prefix("no-")
                .is_some_and(|n| self.flags.contains(n))
        {
            return true;
        }
        let mut probed = PROBED.lock().unwrap_or_else(|p| p.into_inner());
        // Per binary: the Debian one and the built one know different flags.
        let key = format!("{}\0{name}", self.path.display());
        if let Some(ok) = probed.get(&key) {
            return *ok;
        }
        let ok = std::process::Command::new(&self.path)
            .args([arg, "--version"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        probed.insert(key, ok);
        ok
    }
}

/// Parse `prometheus --version`'s first line: `prometheus, version 2.42.0+ds (branch: ...)`.
pub fn parse_version(out: &str) -> Option<String> {
    let line = out.lines().next()?;
    let rest = line.split("version ").nth(1)?;
    Some(rest.split_whitespace().next()?.to_string())
}

/// Parse kingpin's `--help`: every `--name` that starts a flag line.
pub fn parse_flags(help: &str) -> BTreeSet<String> {
    help.lines()
        .filter_map(|l| {
            let t = l.trim_start();
            let t = if t.starts_with('-') && !t.starts_with("--") {
                t.split_once(", ").map(|(_, r)| r).unwrap_or(t)
            } else {
                t
            };
            let n = t.strip_prefix("--")?;
            let n = n.strip_prefix("[no-]").unwrap_or(n);
            let end = n
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_'))
                .unwrap_or(n.len());
            (end > 0 && l.starts_with(' ')).then(|| n[..end].to_string())
        })
        .collect()
}

fn probe() -> Result<Prometheus> {
    let path = PathBuf::from(PATH);
    if !path.exists() {
        bail!(
            "{PATH} not found: install the Debian package `prometheus` (apt-get install prometheus)"
        );
    }
    probe_at(path)
}

/// The Prometheus binary at `path`: its version and flags.
pub fn probe_at(path: PathBuf) -> Result<Prometheus> {
    let shown = path.display().to_string();
    let out = std::process::Command::new(&path)
        .arg("--version")
        .output()
        .with_context(|| format!("running {shown} --version"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let version = parse_version(&text)
        .with_context(|| format!("unexpected output of {shown} --version: {text}"))?;
    let help = std::process::Command::new(&path)
        .arg("--help")
        .output()
        .with_context(|| format!("running {shown} --help"))?;
    let help = format!(
        "{}{}",
        String::from_utf8_lossy(&help.stdout),
        String::from_utf8_lossy(&help.stderr)
    );
    let flags = parse_flags(&help);
    if !flags.contains("web.listen-address") {
        bail!("unexpected output of {shown} --help: no --web.listen-address flag");
    }
    Ok(Prometheus {
        path,
        version,
        flags,
    })
}

/// The installed Prometheus (probed once per process).
pub fn find() -> Result<Prometheus> {
    static FOUND: OnceLock<std::result::Result<Prometheus, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| probe().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_debian_prometheus_and_its_flags() {
        let p = find().unwrap();
        assert!(p.version.starts_with("2."), "{}", p.version);
        assert!(p.accepts("--web.enable-lifecycle"));
        assert!(p.accepts("--storage.tsdb.path=/prometheus"));
        assert!(p.accepts("--web.route-prefix=/"));
        assert!(p.accepts("--storage.tsdb.wal-compression")); // hidden in --help
        assert!(!p.accepts("--web.enable-otlp-receiver")); // Prometheus 3
        assert!(!p.accepts("--storage.tsdb.no-lockfile"));
    }

    #[test]
    fn parses_version_line() {
        assert_eq!(
            parse_version("prometheus, version 2.42.0+ds (branch: debian/sid, revision: x)\n"),
            Some("2.42.0+ds".to_string())
        );
    }
}
