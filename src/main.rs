//! `kubectl-promfix`: parse, run, map the outcome to an exit code (see `cli::EXIT_CODES`).

use clap::Parser;
use kubectl_promfix::cli::Cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(kubectl_promfix::run(cli)) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(e) => {
            eprintln!("{}", kubectl_promfix::output::render_error(&e));
            ExitCode::from(e.exit_code())
        }
    }
}
