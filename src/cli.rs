//! The command line: clap definitions only. Global kubectl-style flags are flattened into every
//! subcommand, so `kubectl promfix etcd -n monitoring` and `kubectl promfix -n monitoring etcd` both work.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Exit codes, documented in `--help` and the README.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success (doctor: every component checked, nothing wrong found; verify: everything verified)
  1  error: the cluster, a file or an input could not be used (the message says which and what to do); doctor: nothing could be checked
  2  usage error (unknown flag, bad value)
  3  verification failed (verify), or problems found or some components not checked (doctor: rows unknown because of an error)
  4  not confirmed: no --yes and no terminal to ask on, or the answer was no
  5  missing permissions: the pre-flight access review denied writes (all of them are listed)
130  interrupted (Ctrl-C): stderr says whether anything was written and, if so, how to check it and how to roll it back";

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-promfix",
    bin_name = "kubectl promfix",
    version,
    about = "Fix Prometheus Operator scrapes of the Kubernetes control plane",
    long_about = "Fix Prometheus Operator scrapes of the Kubernetes control plane: etcd client certificates \
(`etcd`), and diagnose the scheduler, controller-manager, kube-proxy and kubelet targets (`doctor`).\n\n\
Every change is planned first, shown, confirmed (or --yes), backed up, and written with preconditions.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// The help heading of the flags every subcommand takes (kubectl's `options`).
pub const GLOBAL: &str = "Global options";

/// Flags every kubectl user expects.
#[derive(Debug, Clone, Args, Default)]
pub struct GlobalOpts {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (repeat for doctor)
    #[arg(long, global = true, value_name = "NAME", help_heading = GLOBAL)]
    pub context: Vec<String>,
    /// The Prometheus namespace (default: where the Prometheus resources are, else `monitoring`)
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE", help_heading = GLOBAL)]
    pub namespace: Option<String>,
    /// More detail (repeat for more); never prints key material
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DryRun {
    /// Write for real
    #[default]
    None,
    /// Print the objects that would be written; send nothing
    Client,
    /// Send every write with dryRun=All; the server checks and stores nothing
    Server,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Yaml,
    Json,
}

/// How a change is planned, shown, confirmed and written.
#[derive(Debug, Clone, Args, Default)]
pub struct WriteOpts {
    /// none: write; client: print what would be written; server: send with dryRun=All
    #[arg(long, value_enum, default_value_t = DryRun::None, num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: DryRun,
    /// Print the planned objects as yaml or json (with --dry-run=client) or the result
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<Output>,
    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Where to write the backup of every object before it is changed (default: current directory)
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Show Secret data in --dry-run output (it is redacted otherwise)
    #[arg(long)]
    pub show_secrets: bool,
}

/// For the commands whose objects Helm charts render (etcd's, control-plane's).
#[derive(Debug, Clone, Args, Default)]
pub struct HelmValuesOpt {
    /// Write the equivalent Helm values override to FILE (for objects Helm manages)
    #[arg(long, value_name = "FILE")]
    pub helm_values: Option<PathBuf>,
}

/// For the commands whose objects Argo CD or Flux may keep (etcd's, control-plane's, kube-proxy's).
#[derive(Debug, Clone, Args, Default)]
pub struct GitOpsOpt {
    /// Also write the change in the form each GitOps owner of a changed object takes (Flux
    /// HelmRelease values or post-renderer patches, Argo CD Helm values, Kustomize patches) into DIR
    #[arg(long, value_name = "DIR")]
    pub gitops_dir: Option<PathBuf>,
}

/// Where the etcd client certificates come from.
#[derive(Debug, Clone, Args, Default)]
pub struct CertSource {
    /// The etcd CA certificate (PEM)
    #[arg(long, value_name = "FILE", requires_all = ["cert", "key"])]
    pub ca: Option<PathBuf>,
    /// The client certificate for etcd (PEM)
    #[arg(long, value_name = "FILE", requires_all = ["ca", "key"])]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM: PKCS#1, PKCS#8 or SEC1)
    #[arg(long, value_name = "FILE", requires_all = ["ca", "cert"])]
    pub key: Option<PathBuf>,
    /// A directory in a known layout (kubespray, kubeadm, RKE2, k3s)
    #[arg(long, value_name = "DIR", conflicts_with_all = ["ca", "cert", "key"])]
    pub from_dir: Option<PathBuf>,
}

/// The Secret that carries the certificates.
#[derive(Debug, Clone, Args)]
pub struct SecretNames {
    /// Name of the Secret
    #[arg(long, default_value = "etcd-client-cert", value_name = "NAME")]
    pub secret_name: String,
    /// Key of the CA certificate in the Secret
    #[arg(long, default_value = "etcd-ca", value_name = "KEY")]
    pub ca_secret_key: String,
    /// Key of the client certificate in the Secret
    #[arg(long, default_value = "etcd-client", value_name = "KEY")]
    pub cert_secret_key: String,
    /// Key of the client key in the Secret
    #[arg(long, default_value = "etcd-client-key", value_name = "KEY")]
    pub key_secret_key: String,
}

/// etcd's addresses.
#[derive(Debug, Clone, Args, Default)]
pub struct EndpointOpts {
    /// etcd member IPs (default: from the kube-apiserver pod's --etcd-servers)
    #[arg(long, value_delimiter = ',', value_name = "IP[,IP...]")]
    pub endpoints: Vec<String>,
    /// etcd client port
    #[arg(long, default_value_t = 2379)]
    pub port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum TlsFrom {
    /// caFile/certFile/keyFile under /etc/prometheus/secrets/<secret>/ (needs spec.secrets, rolls the pods)
    #[default]
    File,
    /// The operator's Secret references (no mount, no restart; the Secret lives in the ServiceMonitor's namespace)
    Secret,
}

/// ServiceMonitor TLS settings.
#[derive(Debug, Clone, Args, Default)]
pub struct TlsOpts {
    /// file: mounted files; secret: the operator's secret references
    #[arg(long, value_enum)]
    pub tls_from: Option<TlsFrom>,
    /// The name to verify etcd's serving certificate against
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
    /// Do not verify etcd's serving certificate (not recommended)
    #[arg(long)]
    pub insecure_skip_verify: bool,
}

/// Which Prometheus.
#[derive(Debug, Clone, Args, Default)]
pub struct PrometheusSel {
    /// The Prometheus resource (needed without a terminal when there are several)
    #[arg(long, value_name = "NAME")]
    pub prometheus: Option<String>,
    /// The etcd ServiceMonitor, when several could be it
    #[arg(long, value_name = "NAMESPACE/NAME", value_parser = parse_namespaced_name)]
    pub service_monitor: Option<String>,
}

/// `NAMESPACE/NAME`, both parts non-empty.
pub fn parse_namespaced_name(s: &str) -> crate::Result<String> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(s.to_string())
        }
        _ => Err(crate::Error::Input(format!(
            "{s:?} is not NAMESPACE/NAME (e.g. monitoring/kube-etcd)"
        ))),
    }
}

#[derive(Debug, Clone, Args)]
pub struct VerifyOpts {
    /// The mounted Secret to check
    #[arg(long, default_value = "etcd-client-cert", value_name = "NAME")]
    pub secret: String,
    /// Compare the Secret's client certificate with the files of this directory (an etcd node's;
    /// default: those of this machine, if any)
    #[arg(long, value_name = "DIR")]
    pub from_dir: Option<PathBuf>,
    /// The scrape job to check (default: the etcd ServiceMonitor's job)
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
    /// Report stale pods instead of waiting for their rollout
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for rollouts and the first scrape
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: std::time::Duration,
    /// Print the result as json
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<Output>,
}

#[derive(Debug, Clone, Args)]
pub struct EtcdArgs {
    #[command(flatten)]
    pub source: CertSource,
    #[command(flatten)]
    pub names: SecretNames,
    #[command(flatten)]
    pub endpoints: EndpointOpts,
    #[command(flatten)]
    pub tls: TlsOpts,
    #[command(flatten)]
    pub prometheus: PrometheusSel,
    #[command(flatten)]
    pub write: WriteOpts,
    #[command(flatten)]
    pub helm: HelmValuesOpt,
    #[command(flatten)]
    pub gitops: GitOpsOpt,
    /// Do not try an mTLS handshake and GET /metrics against each reachable etcd endpoint first
    #[arg(long = "no-probe", action = clap::ArgAction::SetFalse)]
    pub probe: bool,
    /// Rewrite the etcd scrape even when Prometheus reports all its targets up (without it, a
    /// working scrape, e.g. kubeadm's plain-HTTP metrics port 2381, is left as it is, unless
    /// --tls-from, --server-name or --insecure-skip-verify ask for a TLS setting)
    #[arg(long)]
    pub replace_working_scrape: bool,
    /// `etcd` only: the verify that follows the fix (None for `secret`, `endpoints` and
    /// `servicemonitor`, which do not verify).
    #[arg(skip)]
    pub verify: Option<AfterFix>,
}

/// What `etcd` does after its writes.
#[derive(Debug, Clone, Args)]
pub struct AfterFix {
    /// Do not run `verify` after the change
    #[arg(long)]
    pub no_verify: bool,
    /// How long to wait for the rollout and the first scrape
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: std::time::Duration,
}

/// `etcd`: the fix, then verify.
#[derive(Debug, Clone, Args)]
pub struct EtcdCmd {
    #[command(flatten)]
    pub fix: EtcdArgs,
    /// Renew the Secret of a fix in place from the current files (after `kubeadm certs
    /// renew`): only the Secret's data changes, no pod restarts
    #[arg(long, conflicts_with_all = ["endpoints", "tls_from", "server_name", "insecure_skip_verify", "replace_working_scrape"])]
    pub renew: bool,
    #[command(flatten)]
    pub verify: AfterFix,
}

impl EtcdCmd {
    /// The fix's arguments, with the verify that follows it.
    pub fn args(&self) -> EtcdArgs {
        EtcdArgs {
            verify: Some(self.verify.clone()),
            ..self.fix.clone()
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything for etcd: secret, endpoints, servicemonitor, then verify
    Etcd(EtcdCmd),
    /// Put the etcd client certificates into a Secret and list it in the Prometheus spec.secrets
    Secret(EtcdArgs),
    /// Make the etcd Service selector-free and write its Endpoints with the etcd IPs
    Endpoints(EtcdArgs),
    /// Set scheme https and tlsConfig on the etcd ServiceMonitor endpoint
    Servicemonitor(EtcdArgs),
    /// Prove the mount by exec in every Prometheus pod and the scrape by Prometheus' own targets
    Verify {
        #[command(flatten)]
        prometheus: PrometheusSel,
        #[command(flatten)]
        opts: VerifyOpts,
    },
    /// Diagnose every control-plane target (read-only)
    Doctor {
        /// Every context of the kubeconfig, concurrently
        #[arg(long)]
        all_contexts: bool,
        /// Compare the Secret's etcd client certificate with the files of this directory (an etcd
        /// node's: kubeadm, kubespray, RKE2, k3s layouts; default: those of this machine, if any)
        #[arg(long, value_name = "DIR")]
        from_dir: Option<PathBuf>,
        /// Print the findings as json
        #[arg(short = 'o', long, value_enum)]
        output: Option<Output>,
    },
    /// Let Prometheus scrape kube-proxy: metricsBindAddress 0.0.0.0:10249, then a rollout restart
    KubeProxy {
        #[command(flatten)]
        write: WriteOpts,
        #[command(flatten)]
        gitops: GitOpsOpt,
        /// How long to wait for the rollout
        #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
        timeout: std::time::Duration,
    },
    /// Move the scheduler and controller-manager scrapes to the secure ports (10259/10257, https)
    ControlPlane {
        #[command(flatten)]
        write: WriteOpts,
        #[command(flatten)]
        helm: HelmValuesOpt,
        #[command(flatten)]
        gitops: GitOpsOpt,
        /// Verify the components' serving certificates with this CA file (a path inside the
        /// Prometheus pods, e.g. from spec.secrets) instead of insecureSkipVerify
        #[arg(long, value_name = "PATH")]
        ca_file: Option<String>,
    },
    /// The node-side fix for kubelets answering 403 (token webhook authentication, cadvisor port)
    Kubelet {
        /// Write the fix as a shell script to run on the affected nodes
        #[arg(long, value_name = "FILE")]
        script: Option<PathBuf>,
        /// Print the findings as json
        #[arg(short = 'o', long, value_enum)]
        output: Option<Output>,
    },
    /// Restore the objects saved in a backup file
    Rollback {
        /// The backup file printed by a previous run
        file: PathBuf,
        /// Restore the fields the backed-up run wrote even where someone changed them since
        /// (their change is lost); without it the rollback lists them and stops
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        write: WriteOpts,
    },
    /// Print a shell completion script
    Completion {
        /// The shell
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print the plugin's version, and the server's unless --client
    Version {
        /// The plugin's version only; do not contact the cluster
        #[arg(long)]
        client: bool,
        /// Print the versions as yaml or json
        #[arg(short = 'o', long, value_enum)]
        output: Option<Output>,
    },
}

/// The shells `completion` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

/// Per subcommand: what `-n` means there, and its Examples (short forms of the README's
/// sessions).
const SUBCOMMANDS: &[(&str, &str, &str)] = &[
    (
        "etcd",
        NS_PROMETHEUS,
        "  # The seed's fix, in a kubespray node's /etc/ssl/etcd/ssl
  kubectl promfix etcd --ca ca.pem --cert node-node1.pem --key node-node1-key.pem
  # kubeadm: the pki directory; look at the plan first
  kubectl promfix etcd --from-dir /etc/kubernetes/pki --dry-run
  # Unattended, the result (plan, writes, verify) as one JSON document
  kubectl promfix etcd --from-dir /etc/kubernetes/pki --yes -o json
  # After `kubeadm certs renew`: the Secret gets the renewed files, no pod restarts
  kubectl promfix etcd --renew --from-dir /etc/kubernetes/pki",
    ),
    (
        "secret",
        NS_PROMETHEUS,
        "  kubectl promfix secret --from-dir /etc/kubernetes/pki --dry-run
  kubectl promfix secret --ca ca.pem --cert client.pem --key client-key.pem --yes",
    ),
    (
        "endpoints",
        NS_PROMETHEUS,
        "  kubectl promfix endpoints --from-dir /etc/kubernetes/pki --endpoints 10.0.0.11,10.0.0.12,10.0.0.13 --dry-run",
    ),
    (
        "servicemonitor",
        NS_PROMETHEUS,
        "  kubectl promfix servicemonitor --from-dir /etc/kubernetes/pki --dry-run
  kubectl promfix servicemonitor --from-dir /etc/kubernetes/pki --tls-from secret --yes",
    ),
    (
        "verify",
        "Verify only the Prometheus resources of this namespace (default: every namespace)",
        "  kubectl promfix verify
  kubectl promfix verify -n monitoring --prometheus k8s --timeout 10m
  kubectl promfix verify --no-wait -o json",
    ),
    (
        "doctor",
        "Diagnose only the Prometheus resources of this namespace (default: every namespace)",
        "  kubectl promfix doctor
  kubectl promfix doctor --all-contexts
  kubectl promfix doctor --from-dir /etc/kubernetes/pki    # compare the Secret's etcd certificate with a node's
  kubectl promfix doctor -o json | jq '.clusters[].rows[] | select(.status != \"ok\")'",
    ),
    (
        "kube-proxy",
        "Not used: kube-proxy's ConfigMap and DaemonSet are found in kube-system",
        "  kubectl promfix kube-proxy --dry-run
  kubectl promfix kube-proxy --yes --timeout 10m",
    ),
    (
        "control-plane",
        "Not used: the ServiceMonitors are found in every namespace, their Services where they select",
        "  kubectl promfix control-plane --dry-run
  kubectl promfix control-plane --yes --ca-file /etc/prometheus/secrets/cp-ca/ca.crt",
    ),
    (
        "kubelet",
        "Not used: the kubelets' configuration is read from every node",
        "  kubectl promfix kubelet
  kubectl promfix kubelet --script fix-kubelet.sh",
    ),
    (
        "rollback",
        "Not used: the backup names each object's namespace",
        "  kubectl promfix rollback ./promfix-backup-etcd-1795380771.yaml --dry-run
  kubectl promfix rollback ./promfix-backup-etcd-1795380771.yaml --yes",
    ),
    (
        "completion",
        "",
        "  source <(kubectl promfix completion bash)
  kubectl promfix completion zsh > \"${fpath[1]}/_kubectl-promfix\"",
    ),
    (
        "version",
        "",
        "  kubectl promfix version
  kubectl promfix version --client -o json",
    ),
];

const NS_PROMETHEUS: &str = "The Prometheus' namespace: where the Prometheus resource is found and the Secret is written (default: where the Prometheus resources are, else `monitoring`)";

const ROOT_EXAMPLES: &str = "  kubectl promfix doctor
  kubectl promfix etcd --from-dir /etc/kubernetes/pki --dry-run
  kubectl promfix verify";

/// The command line, as run: clap's definition with each subcommand's own `-n` text and its
/// Examples (and the exit codes in `--help`).
pub fn command() -> clap::Command {
    command_named("kubectl promfix")
}

/// [`command`] with the name usage lines give it (`kubectl promfix`, or the binary's own).
pub fn command_named(bin: &str) -> clap::Command {
    use clap::CommandFactory;
    let examples = |e: &str| format!("Examples:\n{e}");
    let mut cmd = Cli::command()
        .bin_name(bin.to_string())
        .after_help(examples(ROOT_EXAMPLES))
        .after_long_help(format!("{}\n\n{EXIT_CODES}", examples(ROOT_EXAMPLES)));
    // Each subcommand gets its own `-n` (the same flag, described for it); clap then does not
    // propagate the root's there, and the value still reaches `GlobalOpts` as a global's does.
    for (name, ns_help, ex) in SUBCOMMANDS {
        cmd = cmd.mut_subcommand(*name, |sc| {
            let ns = clap::Arg::new("namespace")
                .short('n')
                .long("namespace")
                .value_name("NAMESPACE")
                .global(true)
                .help_heading(GLOBAL)
                .help(*ns_help)
                .hide(ns_help.is_empty());
            sc.arg(ns)
                .after_help(examples(ex))
                .after_long_help(format!("{}\n\n{EXIT_CODES}", examples(ex)))
        });
    }
    cmd
}

/// `30s`, `5m`, `1h`, `1h30m`, or plain seconds.
pub fn parse_duration(s: &str) -> crate::Result<std::time::Duration> {
    let s = s.trim();
    if s.is_empty() {
        return Err(crate::Error::Input("empty duration".into()));
    }
    if let Ok(n) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(n));
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| {
            crate::Error::Input(format!("invalid duration {s:?}: expected e.g. 30s, 5m, 1h"))
        })?;
        num.clear();
        total += match c {
            's' => n,
            'm' => n * 60,
            'h' => n * 3600,
            _ => {
                return Err(crate::Error::Input(format!(
                    "invalid duration {s:?}: unknown unit {c:?} (use s, m or h)"
                )));
            }
        };
    }
    if !num.is_empty() {
        return Err(crate::Error::Input(format!(
            "invalid duration {s:?}: a number needs a unit (s, m or h)"
        )));
    }
    Ok(std::time::Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m").unwrap().as_secs(), 300);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("45").unwrap().as_secs(), 45);
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("5m3").is_err());
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        use clap::FromArgMatches;
        let m = command()
            .try_get_matches_from(std::iter::once("kubectl-promfix").chain(args.iter().copied()))?;
        Cli::from_arg_matches(&m)
    }

    fn help(args: &[&str]) -> String {
        match parse(args) {
            Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => e.render().to_string(),
            other => panic!("{args:?}: no help: {other:?}"),
        }
    }

    #[test]
    fn global_flags_work_before_and_after_the_subcommand() {
        for args in [
            &["-n", "mon", "etcd", "--yes"][..],
            &["etcd", "--yes", "-n", "mon"],
            &["etcd", "--namespace=mon"],
            &["--namespace", "mon", "doctor"],
            &["doctor", "-n", "mon"],
            &["verify", "-n", "mon"],
        ] {
            let c = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert_eq!(c.global.namespace.as_deref(), Some("mon"), "{args:?}");
        }
        assert_eq!(parse(&["doctor"]).unwrap().global.namespace, None);
        let c = parse(&["doctor", "--context", "a", "--context", "b", "-vv"]).unwrap();
        assert_eq!(c.global.context, ["a", "b"]);
        assert_eq!(c.global.verbose, 2);
    }

    #[test]
    fn every_help_lists_its_own_flags_first_then_the_global_ones_then_examples() {
        let names: Vec<String> = command()
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .filter(|n| n != "help")
            .collect();
        assert_eq!(names.len(), SUBCOMMANDS.len(), "{names:?}");
        for (name, ns, _) in SUBCOMMANDS {
            assert!(names.iter().any(|n| n == name), "{name}");
            for flag in ["-h", "--help"] {
                let h = help(&[name, flag]);
                let global = h
                    .find("Global options:")
                    .unwrap_or_else(|| panic!("{name} {flag}: no global block\n{h}"));
                let examples = h.find("Examples:").unwrap_or_else(|| panic!("{name}: {h}"));
                assert!(global < examples, "{name}: {h}");
                assert!(h[global..examples].contains("--kubeconfig"), "{name}: {h}");
                if let Some(own) = h.find("Options:") {
                    assert!(own < global, "{name}: {h}");
                    assert!(!h[own..global].contains("--kubeconfig"), "{name}: {h}");
                }
                // -n says what it means here (or is hidden where nothing takes it).
                let first_words: String =
                    ns.split_whitespace().take(4).collect::<Vec<_>>().join(" ");
                assert_eq!(h.contains("--namespace"), !ns.is_empty(), "{name}: {h}");
                if !ns.is_empty() {
                    let flat = h.split_whitespace().collect::<Vec<_>>().join(" ");
                    assert!(
                        flat.contains(&first_words),
                        "{name}: {first_words:?} in {h}"
                    );
                }
                assert!(
                    h[examples..].contains(&format!("kubectl promfix {name}")),
                    "{name}: {h}"
                );
            }
            assert!(help(&[name, "--help"]).contains("Exit codes:"), "{name}");
        }
        let root = help(&["--help"]);
        assert!(
            root.contains("Examples:") && root.contains("Exit codes:"),
            "{root}"
        );
        assert!(root.contains("version"), "{root}");
    }

    #[test]
    fn the_single_etcd_steps_do_not_offer_verify_flags() {
        for name in ["secret", "endpoints", "servicemonitor"] {
            let h = help(&[name, "--help"]);
            assert!(
                !h.contains("--no-verify") && !h.contains("--timeout"),
                "{name}: {h}"
            );
            assert!(parse(&[name, "--no-verify"]).is_err(), "{name}");
            assert!(parse(&[name, "--timeout", "1m"]).is_err(), "{name}");
        }
        let Command::Etcd(e) = parse(&["etcd", "--no-verify", "--timeout", "1m"])
            .unwrap()
            .command
        else {
            panic!("etcd expected")
        };
        let a = e.args();
        let v = a.verify.expect("etcd verifies");
        assert!(v.no_verify);
        assert_eq!(v.timeout.as_secs(), 60);
        let Command::Secret(s) = parse(&["secret"]).unwrap().command else {
            panic!("secret expected")
        };
        assert!(s.verify.is_none());
        // --helm-values only where Helm renders the objects.
        assert!(parse(&["control-plane", "--helm-values", "v.yaml"]).is_ok());
        for name in ["kube-proxy", "rollback"] {
            let mut a = vec![name];
            if name == "rollback" {
                a.push("b.yaml");
            }
            a.extend(["--helm-values", "v.yaml"]);
            assert_eq!(parse(&a).unwrap_err().exit_code(), 2, "{name}");
        }
    }

    #[test]
    fn completion_offers_only_the_shells_it_writes() {
        let h = help(&["completion", "--help"]);
        for s in ["bash", "zsh", "fish", "powershell"] {
            assert!(h.contains(s), "{h}");
            assert!(parse(&["completion", s]).is_ok(), "{s}");
        }
        assert!(!h.contains("elvish"), "{h}");
        assert!(parse(&["completion", "elvish"]).is_err());
    }

    #[test]
    fn dry_run_forms() {
        for (args, want) in [
            (vec!["etcd", "--dry-run"], DryRun::Client),
            (vec!["etcd", "--dry-run=server"], DryRun::Server),
            (vec!["etcd"], DryRun::None),
        ] {
            let cli = Cli::try_parse_from(std::iter::once("kubectl-promfix").chain(args)).unwrap();
            let Command::Etcd(e) = cli.command else {
                panic!("etcd expected")
            };
            assert_eq!(e.fix.write.dry_run, want);
        }
    }

    #[test]
    fn partial_cert_flags_are_a_usage_error() {
        let e = Cli::try_parse_from(["kubectl-promfix", "etcd", "--ca", "a"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }
}
