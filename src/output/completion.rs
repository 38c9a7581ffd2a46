//! Shell completion: the scripts generated from the clap definition (`kubectl promfix completion
//! <shell>`), the man page, and the dynamic protocol kubectl uses for plugins.
//!
//! kubectl 1.26+ completes `kubectl promfix <TAB>` by running `kubectl_complete-promfix` (found on
//! PATH) with the words typed after `promfix`, the last one being the word under the cursor (`""`
//! when the cursor is after a space). The answer is cobra's: one candidate per line, optionally
//! `\t` and a description, then a last line `:<directive>`. The shim in
//! `completions/kubectl_complete-promfix` runs `kubectl-promfix __complete <words>`, answered here
//! from the clap definition (subcommands, flags, enumerated values) plus live values: kubeconfig
//! contexts for `--context`, namespaces for `-n/--namespace` and Prometheus resources for
//! `--prometheus` (from the API, with a short timeout).

use crate::cli::GlobalOpts;
use clap_complete::{Generator, Shell};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The completion script for a shell, for `kubectl-promfix`.
pub fn script(shell: Shell) -> String {
    let mut cmd = crate::cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub fn print(shell: Shell) {
    print!("{}", script(shell));
}

const BIN: &str = "kubectl-promfix";

/// The shim kubectl runs for plugin completion (`kubectl_complete-promfix` on PATH).
pub const SHIM_NAME: &str = "kubectl_complete-promfix";
pub const SHIM: &str = r#"#!/bin/sh
# kubectl (1.26+) runs this with the words typed after `kubectl promfix` when TAB is pressed.
# kubectl-promfix answers with one candidate per line and a last line `:<directive>` (cobra's protocol).
# Install: copy (or link) this file next to kubectl-promfix on PATH, e.g. into ~/.krew/bin/.
exec kubectl-promfix __complete "$@"
"#;

/// The man page (roff), generated with clap_mangen: the root's sections, then one subsection per
/// subcommand (synopsis, description, options) under COMMANDS, and the exit codes as EXIT STATUS.
/// One page, so nothing refers to per-subcommand pages that are not installed.
pub fn man_page() -> String {
    fn section(
        man: &clap_mangen::Man,
        f: fn(&clap_mangen::Man, &mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> String {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = f(man, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
    /// Drop roff's per-render preamble (the `Aq` string definition) and the `.SH` heading.
    fn body(s: &str) -> String {
        s.lines()
            .filter(|l| !l.starts_with(".ie \\n(.g") && !l.starts_with(".el .ds Aq"))
            .filter(|l| !l.starts_with(".SH "))
            .map(|l| format!("{l}\n"))
            .collect()
    }
    let root = clap_mangen::Man::new(crate::cli::command());
    let mut page = String::new();
    page.push_str(&section(&root, clap_mangen::Man::render_title));
    for f in [
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
    ] {
        let s = section(&root, f);
        page.push_str(&body_keep_heading(&s));
    }
    page.push_str(".SH COMMANDS\n");
    for sub in crate::cli::command().get_subcommands() {
        if sub.is_hide_set() {
            continue;
        }
        let name = format!("kubectl promfix {}", sub.get_name());
        let man = clap_mangen::Man::new(sub.clone().bin_name(&name));
        page.push_str(&format!(".SS \"{}\"\n", name.replace('-', "\\-")));
        page.push_str(&body(&section(
            &man,
            clap_mangen::Man::render_description_section,
        )));
        page.push_str(".PP\n");
        page.push_str(&body(&section(
            &man,
            clap_mangen::Man::render_synopsis_section,
        )));
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            page.push_str(&body(&section(
                &man,
                clap_mangen::Man::render_options_section,
            )));
        }
    }
    page.push_str(".SH \"EXIT STATUS\"\n");
    page.push_str(&body(&section(
        &root,
        clap_mangen::Man::render_extra_section,
    )));
    page.push_str(&body_keep_heading(&section(
        &root,
        clap_mangen::Man::render_version_section,
    )));
    page
}

/// A rendered section without roff's per-render preamble, heading kept.
fn body_keep_heading(s: &str) -> String {
    s.lines()
        .filter(|l| !l.starts_with(".ie \\n(.g") && !l.starts_with(".el .ds Aq"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Every generated file of `completions/`: (file name, contents).
pub fn generated_files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell] {
        files.push((shell.file_name(BIN), script(shell)));
    }
    files.push((format!("{BIN}.1"), man_page()));
    files.push((SHIM_NAME.to_string(), SHIM.to_string()));
    files
}

/// Write every generated file into `dir` (`kubectl-promfix __write-completions completions`).
pub fn write_all(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, text) in generated_files() {
        let path = dir.join(&name);
        std::fs::write(&path, text)?;
        #[cfg(unix)]
        if name == SHIM_NAME {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
        written.push(path);
    }
    Ok(written)
}

/// cobra's ShellCompDirective bits (spf13/cobra completions.go).
pub mod directive {
    /// Let the shell complete file names (the default).
    pub const DEFAULT: u32 = 0;
    /// An error occurred; the shell shows no candidates.
    pub const ERROR: u32 = 1;
    /// No space after the completion.
    pub const NO_SPACE: u32 = 2;
    /// No file completion when there are no candidates.
    pub const NO_FILE_COMP: u32 = 4;
    /// The candidates are file extensions to filter by.
    pub const FILTER_FILE_EXT: u32 = 8;
    /// Complete directory names only.
    pub const FILTER_DIRS: u32 = 16;
    /// Keep the order of the candidates.
    pub const KEEP_ORDER: u32 = 32;
}

/// Values only the cluster or the kubeconfig knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Live {
    Contexts,
    Namespaces,
    /// Prometheus resources, in the namespace given with -n when there is one.
    Prometheuses {
        namespace: Option<String>,
    },
}

/// What to answer for the words typed so far, before live lookups.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// The kubeconfig flags typed so far (for live lookups).
    pub global: GlobalOpts,
    /// The word being completed (after any `--flag=`).
    pub prefix: String,
    /// Put before every candidate (`--namespace=` when completing `--namespace=mon`).
    pub lead: String,
    /// Static candidates: (value, description).
    pub candidates: Vec<(String, String)>,
    pub live: Option<Live>,
    pub directive: u32,
}

/// The answer: candidates and the directive, printed as cobra does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completions {
    pub candidates: Vec<(String, String)>,
    pub directive: u32,
}

impl Completions {
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (value, desc) in &self.candidates {
            out.push_str(value);
            if !desc.is_empty() {
                out.push('\t');
                out.push_str(desc);
            }
            out.push('\n');
        }
        out.push_str(&format!(":{}\n", self.directive));
        out
    }
}

fn first_line(s: Option<&clap::builder::StyledStr>) -> String {
    s.map(|s| s.to_string())
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Whether an option consumes the next word as its value (`--flag VALUE`).
fn takes_separate_value(arg: &clap::Arg) -> bool {
    arg.get_action().takes_values() && arg.get_num_args().is_none_or(|r| r.min_values() > 0)
}

fn value_candidates(arg: &clap::Arg) -> Vec<(String, String)> {
    arg.get_possible_values()
        .into_iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| (v.get_name().to_string(), first_line(v.get_help())))
        .collect()
}

/// The answer for an option's value.
fn complete_value(arg: &clap::Arg, global: &GlobalOpts, a: &mut Analysis) {
    let id = arg.get_id().as_str();
    a.directive = directive::NO_FILE_COMP;
    match id {
        "context" => a.live = Some(Live::Contexts),
        "namespace" => a.live = Some(Live::Namespaces),
        "prometheus" => {
            a.live = Some(Live::Prometheuses {
                namespace: global.namespace.clone(),
            })
        }
        _ => {
            a.candidates = value_candidates(arg);
            if a.candidates.is_empty() {
                a.directive = path_directive(arg);
            }
        }
    }
}

/// Files for FILE values, directories for DIR values, nothing for the rest.
fn path_directive(arg: &clap::Arg) -> u32 {
    use clap::ValueHint;
    let names: Vec<String> = arg
        .get_value_names()
        .map(|n| n.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    let hint = arg.get_value_hint();
    if hint == ValueHint::DirPath || names.iter().any(|n| n == "DIR") {
        directive::FILTER_DIRS
    } else if matches!(hint, ValueHint::FilePath | ValueHint::AnyPath)
        || names.iter().any(|n| n == "FILE")
    {
        directive::DEFAULT
    } else {
        directive::NO_FILE_COMP
    }
}

fn record_global(id: &str, value: &str, g: &mut GlobalOpts) {
    match id {
        "kubeconfig" => g.kubeconfig = Some(PathBuf::from(value)),
        "context" => g.context.push(value.to_string()),
        "namespace" => g.namespace = Some(value.to_string()),
        _ => {}
    }
}

fn find_long<'c>(cmd: &'c clap::Command, name: &str) -> Option<&'c clap::Arg> {
    cmd.get_arguments().find(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|al| al.contains(&name))
    })
}

fn find_short(cmd: &clap::Command, c: char) -> Option<&clap::Arg> {
    cmd.get_arguments().find(|a| a.get_short() == Some(c))
}

/// Work out the answer for `words` (the last one is being completed) from the clap definition.
pub fn analyze(words: &[String]) -> Analysis {
    let mut root = crate::cli::command();
    root.build();
    let (done, current) = match words.split_last() {
        Some((last, rest)) => (rest, last.as_str()),
        None => (&[][..], ""),
    };
    let mut a = Analysis::default();
    let mut cmd = &root;
    let mut positionals = 0usize;
    let mut only_positionals = false;
    // The option whose value is the next word.
    let mut pending: Option<&clap::Arg> = None;
    // Options given already (offered again only when they can repeat, as cobra does).
    let mut given: Vec<String> = Vec::new();
    for w in done {
        if let Some(arg) = pending.take() {
            record_global(arg.get_id().as_str(), w, &mut a.global);
            continue;
        }
        if only_positionals {
            positionals += 1;
        } else if w == "--" {
            only_positionals = true;
        } else if let Some(long) = w.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            if let Some(arg) = find_long(cmd, name) {
                given.push(arg.get_id().to_string());
                match value {
                    Some(v) => record_global(arg.get_id().as_str(), v, &mut a.global),
                    None if takes_separate_value(arg) => pending = Some(arg),
                    None => {}
                }
            }
        } else if let Some(shorts) = w.strip_prefix('-').filter(|s| !s.is_empty()) {
            for (i, c) in shorts.char_indices() {
                let Some(arg) = find_short(cmd, c) else { break };
                given.push(arg.get_id().to_string());
                if arg.get_action().takes_values() {
                    let rest = &shorts[i + c.len_utf8()..];
                    let rest = rest.strip_prefix('=').unwrap_or(rest);
                    if rest.is_empty() {
                        if takes_separate_value(arg) {
                            pending = Some(arg);
                        }
                    } else {
                        record_global(arg.get_id().as_str(), rest, &mut a.global);
                    }
                    break;
                }
            }
        } else if let Some(sub) = cmd.find_subcommand(w) {
            cmd = sub;
            positionals = 0;
        } else {
            positionals += 1;
        }
    }

    a.prefix = current.to_string();
    if let Some(arg) = pending {
        let g = a.global.clone();
        complete_value(arg, &g, &mut a);
        return a;
    }
    if !only_positionals
        && let Some(long) = current.strip_prefix("--")
        && let Some((name, value)) = long.split_once('=')
    {
        if let Some(arg) = find_long(cmd, name) {
            a.lead = format!("--{name}=");
            a.prefix = value.to_string();
            let g = a.global.clone();
            complete_value(arg, &g, &mut a);
        } else {
            a.directive = directive::NO_FILE_COMP;
        }
        return a;
    }
    if !only_positionals && current.starts_with('-') {
        a.candidates = cmd
            .get_arguments()
            .filter(|arg| !arg.is_hide_set() && !arg.is_positional())
            .filter(|arg| {
                !given.iter().any(|g| g == arg.get_id().as_str())
                    || matches!(
                        arg.get_action(),
                        clap::ArgAction::Append | clap::ArgAction::Count
                    )
            })
            .filter_map(|arg| {
                let help = first_line(arg.get_help());
                match (arg.get_long(), arg.get_short()) {
                    (Some(l), _) => Some((format!("--{l}"), help)),
                    (None, Some(s)) => Some((format!("-{s}"), help)),
                    (None, None) => None,
                }
            })
            .collect();
        a.directive = directive::NO_FILE_COMP;
        return a;
    }
    if cmd.has_subcommands() && positionals == 0 && !only_positionals {
        a.candidates = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
            .map(|s| (s.get_name().to_string(), first_line(s.get_about())))
            .collect();
        a.directive = directive::NO_FILE_COMP;
        return a;
    }
    let pos: Vec<&clap::Arg> = cmd.get_positionals().filter(|p| !p.is_hide_set()).collect();
    match pos.get(positionals).or_else(|| {
        pos.last()
            .filter(|p| p.get_num_args().is_some_and(|r| r.max_values() > 1))
    }) {
        Some(arg) => {
            let g = a.global.clone();
            complete_value(arg, &g, &mut a);
        }
        None => a.directive = directive::NO_FILE_COMP,
    }
    a
}

/// How long a live lookup may take: TAB must stay responsive when the cluster is not.
pub const LIVE_TIMEOUT: Duration = Duration::from_secs(3);

async fn live_values(live: &Live, g: &GlobalOpts) -> Vec<(String, String)> {
    use crate::kube::{self as k, Kube};
    match live {
        Live::Contexts => Kube::contexts(g)
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c, String::new()))
            .collect(),
        Live::Namespaces | Live::Prometheuses { .. } => {
            let lookup = async {
                let kube = Kube::connect(g, g.context.first().map(String::as_str))
                    .await
                    .ok()?;
                let (res, ns) = match live {
                    Live::Prometheuses { namespace } => (k::PROMETHEUSES, namespace.as_deref()),
                    _ => (k::NAMESPACES, None),
                };
                let items = kube.list(&res, ns, None).await.ok()?;
                Some(
                    items
                        .iter()
                        .filter_map(|o| {
                            let name = o["metadata"]["name"].as_str()?.to_string();
                            let desc = match live {
                                Live::Prometheuses { .. } => format!(
                                    "Prometheus in {}",
                                    o["metadata"]["namespace"].as_str().unwrap_or("?")
                                ),
                                _ => String::new(),
                            };
                            Some((name, desc))
                        })
                        .collect(),
                )
            };
            tokio::time::timeout(LIVE_TIMEOUT, lookup)
                .await
                .ok()
                .flatten()
                .unwrap_or_default()
        }
    }
}

/// The full answer for `kubectl-promfix __complete <words>`: static candidates from the clap
/// definition, live ones from the kubeconfig and the cluster, filtered by the typed prefix.
pub async fn complete(words: &[String]) -> Completions {
    let mut a = analyze(words);
    if let Some(live) = &a.live {
        a.candidates = live_values(live, &a.global).await;
    }
    let mut seen = std::collections::HashSet::new();
    let candidates = a
        .candidates
        .into_iter()
        .filter(|(v, _)| v.starts_with(&a.prefix) && seen.insert(v.clone()))
        .map(|(v, d)| (format!("{}{v}", a.lead), d))
        .collect();
    Completions {
        candidates,
        directive: a.directive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn names(a: &Analysis) -> Vec<&str> {
        a.candidates.iter().map(|(v, _)| v.as_str()).collect()
    }

    #[test]
    fn subcommands_at_the_top() {
        let a = analyze(&w(&[""]));
        assert!(names(&a).contains(&"etcd"));
        assert!(names(&a).contains(&"rollback"));
        assert!(!names(&a).contains(&"help"));
        assert!(!names(&a).iter().any(|n| n.starts_with("__")));
        assert_eq!(a.directive, directive::NO_FILE_COMP);
        assert!(a.candidates.iter().all(|(_, d)| !d.is_empty()));
    }

    #[test]
    fn flags_of_the_subcommand_including_globals() {
        let a = analyze(&w(&["etcd", "--"]));
        let n = names(&a);
        assert!(n.contains(&"--from-dir"), "{n:?}");
        assert!(n.contains(&"--namespace"), "{n:?}");
        assert!(n.contains(&"--kubeconfig"), "{n:?}");
    }

    #[test]
    fn flags_given_are_not_offered_again_unless_they_repeat() {
        let a = analyze(&w(&["etcd", "--yes", "--context", "a", "-n", "x", "--"]));
        let n = names(&a);
        assert!(!n.contains(&"--yes"), "{n:?}");
        assert!(!n.contains(&"--namespace"), "{n:?}");
        assert!(n.contains(&"--context"), "repeatable: {n:?}");
        assert!(n.contains(&"--dry-run"), "{n:?}");
    }

    #[test]
    fn enumerated_values() {
        let a = analyze(&w(&["etcd", "--tls-from", ""]));
        assert_eq!(names(&a), ["file", "secret"]);
        let a = analyze(&w(&["etcd", "--dry-run=s"]));
        assert_eq!(a.lead, "--dry-run=");
        assert_eq!(a.prefix, "s");
        assert!(names(&a).contains(&"server"));
        let a = analyze(&w(&["completion", ""]));
        assert!(names(&a).contains(&"bash"));
    }

    #[test]
    fn live_values_and_the_flags_typed_before() {
        let a = analyze(&w(&["--kubeconfig", "/k", "etcd", "-n", ""]));
        assert_eq!(a.live, Some(Live::Namespaces));
        assert_eq!(a.global.kubeconfig, Some(PathBuf::from("/k")));
        let a = analyze(&w(&["etcd", "-nmon", "--context=c1", "--prometheus", "k"]));
        assert_eq!(
            a.live,
            Some(Live::Prometheuses {
                namespace: Some("mon".into())
            })
        );
        assert_eq!(a.global.context, ["c1"]);
        assert_eq!(a.prefix, "k");
        let a = analyze(&w(&["doctor", "--context", ""]));
        assert_eq!(a.live, Some(Live::Contexts));
    }

    #[test]
    fn files_and_directories() {
        assert_eq!(analyze(&w(&["rollback", ""])).directive, directive::DEFAULT);
        assert_eq!(
            analyze(&w(&["etcd", "--from-dir", ""])).directive,
            directive::FILTER_DIRS
        );
        assert_eq!(
            analyze(&w(&["etcd", "--ca", ""])).directive,
            directive::DEFAULT
        );
        assert_eq!(
            analyze(&w(&["etcd", "--secret-name", ""])).directive,
            directive::NO_FILE_COMP
        );
    }

    #[test]
    fn nothing_on_odd_input() {
        for words in [
            w(&[]),
            w(&["--", ""]),
            w(&["nope", "x", ""]),
            w(&["-\u{e9}", ""]),
            w(&["--=", "--="]),
        ] {
            let _ = analyze(&words);
        }
    }

    #[test]
    fn rendering() {
        let c = Completions {
            candidates: vec![("a".into(), "desc".into()), ("b".into(), String::new())],
            directive: 4,
        };
        assert_eq!(c.render(), "a\tdesc\nb\n:4\n");
    }
}
