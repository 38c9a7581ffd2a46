//! `kubectl promfix kubelet`.

use crate::Outcome;
use crate::cli::{Cli, Command};
use crate::error::{Error, Result};

/// Run the command (its flags are in `cli.command`, the global ones in `cli.global`).
pub async fn run(cli: &Cli) -> Result<Outcome> {
    let Command::Kubelet { .. } = &cli.command else {
        return Err(Error::Other("internal: wrong command".into()));
    };
    Err(Error::Other(
        "`kubectl promfix kubelet` is not available in this build yet".into(),
    ))
}
