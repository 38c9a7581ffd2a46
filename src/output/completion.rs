//! Shell completion scripts generated from the clap definition.

use crate::cli::Cli;
use clap::CommandFactory;
use clap_complete::Shell;

/// The completion script for a shell, for `kubectl-promfix` (and so `kubectl promfix`).
pub fn script(shell: Shell) -> String {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "kubectl-promfix", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub fn print(shell: Shell) {
    print!("{}", script(shell));
}
