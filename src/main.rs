//! `kubectl-promfix`: parse, run, map the outcome to an exit code (see `cli::EXIT_CODES`).
//!
//! Two hidden entry points come before the parser:
//! - `kubectl-promfix __complete WORDS...` (also when run as `kubectl_complete-promfix`): the
//!   completion protocol kubectl uses for plugins (see `output::completion`);
//! - `kubectl-promfix __write-completions DIR`: regenerates `completions/` (scripts, man page, shim).

use clap::{CommandFactory, FromArgMatches};
use kubectl_promfix::cli::Cli;
use kubectl_promfix::output::completion;
use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

/// The name usage and help show: `kubectl promfix` when run as the plugin binary (argv[0]
/// `kubectl-promfix`, which is how kubectl runs it), else the name it was run by.
fn display_name(argv0: Option<&OsString>) -> String {
    let stem = argv0
        .and_then(|a| Path::new(a).file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.as_str() {
        "" | "kubectl-promfix" => "kubectl promfix".to_string(),
        other => other.to_string(),
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
    let is_shim = args
        .first()
        .and_then(|a| Path::new(a).file_stem())
        .is_some_and(|s| s == completion::SHIM_NAME);
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

    let matches = Cli::command()
        .bin_name(display_name(args.first()))
        .get_matches_from(&args);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match runtime.block_on(kubectl_promfix::run(cli)) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(e) => {
            eprintln!("{}", kubectl_promfix::output::render_error(&e));
            ExitCode::from(e.exit_code())
        }
    }
}
