//! The built Prometheus Operator as an image's entrypoint: its version and the flags it knows
//! (Go's `flag` package, which stops the program at a flag it does not define), so that an
//! image's args of another operator version are passed as far as this one understands them.

use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::path::Path;

/// What `prometheus-operator --help` and `--short-version` say.
#[derive(Debug, Clone)]
pub struct Operator {
    pub version: String,
    flags: BTreeSet<String>,
}

impl Operator {
    /// Ask the binary at `path`.
    pub fn probe_at(path: &Path) -> Result<Operator> {
        let shown = path.display().to_string();
        let run = |arg: &str| -> Result<String> {
            let out = std::process::Command::new(path)
                .arg(arg)
                .output()
                .with_context(|| format!("running {shown} {arg}"))?;
            Ok(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        };
        let version = run("--short-version")?.trim().to_string();
        let flags = parse_flags(&run("--help")?);
        if !flags.contains("kubelet-service") {
            bail!("unexpected output of {shown} --help: no -kubelet-service flag");
        }
        Ok(Operator { version, flags })
    }

    /// Whether `arg` (`--flag=value`, `-flag`, `--flag`) names a flag this operator defines;
    /// what is not a flag (the `start` command) is left to the operator.
    pub fn accepts(&self, arg: &str) -> bool {
        let Some(name) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return true;
        };
        let name = name.split('=').next().unwrap_or(name);
        self.flags.contains(name)
    }
}

/// The flag names of Go's `flag.PrintDefaults` (`  -name type`, the usage on the next line).
fn parse_flags(help: &str) -> BTreeSet<String> {
    help.lines()
        .filter_map(|l| l.strip_prefix("  -"))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_gos_printdefaults_names() {
        let help = "Arguments:\n  -kubelet-service string\n    \tService/Endpoints object\n  -web.enable-tls\n    \tEnable TLS\n";
        let op = Operator {
            version: "0.93.1".into(),
            flags: parse_flags(help),
        };
        assert!(op.accepts("--kubelet-service=kube-system/x"));
        assert!(op.accepts("-web.enable-tls=true"));
        assert!(op.accepts("start"));
        assert!(!op.accepts("--logtostderr=true"));
        assert!(!op.accepts("--config-reloader-cpu=100m"));
    }
}
