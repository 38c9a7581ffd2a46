//! `kubectl-promfix`: parse, run, map the outcome to an exit code (see `cli::EXIT_CODES`).
//!
//! Two hidden entry points come before the parser:
//! - `kubectl-promfix __complete WORDS...` (also when run as `kubectl_complete-promfix`): the
//!   completion protocol kubectl uses for plugins (see `output::completion`);
//! - `kubectl-promfix __write-completions DIR`: regenerates `completions/` (scripts, man page, shim).
//!
//! Ctrl-C exits 130 and says what was written (see `output::interrupt`).

use clap::FromArgMatches;
use kubectl_promfix::cli::Cli;
use kubectl_promfix::output::completion;
use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

/// The name usage and help show: `kubectl promfix` when run as the plugin binary (argv[0]
/// `kubectl-promfix`, which is how kubectl runs it), else the name it was run by.
fn display_name(argv0: Option<&OsString>) -> String {
    let stem = program_stem(argv0);
    match stem.as_str() {
        "" | "kubectl-promfix" => "kubectl promfix".to_string(),
        other => other.to_string(),
    }
}

/// The program's file name without directory and `.exe` (either separator: Windows paths too).
fn program_stem(argv0: Option<&OsString>) -> String {
    let a = argv0
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = a.rsplit(['/', '\\']).next().unwrap_or("");
    match base.len().checked_sub(4) {
        Some(i)
            if base
                .get(i..)
                .is_some_and(|e| e.eq_ignore_ascii_case(".exe")) =>
        {
            base[..i].to_string()
        }
        _ => base.to_string(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(1)
        })
}

/// Ctrl-C: end the step in progress, say what was written (nothing, or the changes with how to
/// check and undo them: `output::interrupt`) and exit 130 as a shell reports SIGINT. A task of
/// its own, so it runs while the command waits or blocks (a prompt).
async fn on_ctrl_c() {
    use kubectl_promfix::output::{interact, interrupt};
    if tokio::signal::ctrl_c().await.is_ok() {
        interact::interrupt_step();
        eprintln!("{}", interrupt::message(&interrupt::current()));
        std::process::exit(130);
    }
}

fn complete(words: &[OsString]) -> ExitCode {
    let words: Vec<String> = words
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let answer = rt.block_on(completion::complete(&words));
    print!("{}", answer.render());
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let is_shim = program_stem(args.first()) == completion::SHIM_NAME;
    if is_shim {
        return complete(&args[1..]);
    }
    match args.get(1).and_then(|a| a.to_str()) {
        Some("__complete") => return complete(&args[2..]),
        Some("__write-completions") => {
            let dir = args
                .get(2)
                .map(Path::new)
                .unwrap_or(Path::new("completions"));
            return match completion::write_all(dir) {
                Ok(files) => {
                    for f in files {
                        eprintln!("wrote {}", f.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: cannot write {}: {e}", dir.display());
                    ExitCode::from(1)
                }
            };
        }
        _ => {}
    }

    let matches =
        kubectl_promfix::cli::command_named(&display_name(args.first())).get_matches_from(&args);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    runtime.spawn(on_ctrl_c());
    match runtime.block_on(kubectl_promfix::run(cli)) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(e) => {
            eprintln!("{}", kubectl_promfix::output::render_error(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::display_name;
    use std::ffi::OsString;

    #[test]
    fn usage_names_the_plugin_as_kubectl_runs_it() {
        for (argv0, want) in [
            ("/home/u/.krew/bin/kubectl-promfix", "kubectl promfix"),
            ("kubectl-promfix", "kubectl promfix"),
            ("C:\\krew\\bin\\kubectl-promfix.exe", "kubectl promfix"),
            ("/usr/local/bin/promfix", "promfix"),
        ] {
            assert_eq!(display_name(Some(&OsString::from(argv0))), want, "{argv0}");
        }
        assert_eq!(display_name(None), "kubectl promfix");
    }
}
