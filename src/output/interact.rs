//! Prompts (dialoguer) and progress (indicatif), each falling back to plain behaviour without a
//! terminal: no prompt (an error says what flag to pass), plain progress lines on stderr.

use crate::error::{Error, Result};
use std::io::IsTerminal;

/// Whether we may ask: stdin and stderr are terminals.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Ask to go ahead unless `yes`. No terminal and no `yes`: an error that says so.
pub fn confirm(prompt: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !interactive() {
        return Err(Error::NoTty);
    }
    let ok = dialoguer::Confirm::new()
        .with_prompt(prompt)
        .default(false)
        .interact()
        .map_err(|e| Error::Other(format!("cannot read the answer: {e}")))?;
    if ok { Ok(()) } else { Err(Error::Declined) }
}

/// Choose one of several items on a terminal; without one, an error listing them and the flag.
pub fn choose(what: &str, items: &[String], flag_hint: &str) -> Result<usize> {
    if items.len() == 1 {
        return Ok(0);
    }
    if !interactive() {
        return Err(Error::Input(format!(
            "several {what} found; choose one with {flag_hint}:\n{}",
            items
                .iter()
                .map(|i| format!("  - {i}"))
                .collect::<Vec<_>>()
                .join("\n")
        )));
    }
    dialoguer::Select::new()
        .with_prompt(format!("Which {what}?"))
        .items(items)
        .default(0)
        .interact()
        .map_err(|e| Error::Other(format!("cannot read the answer: {e}")))
}

/// A step in progress: a spinner on a terminal, a plain line otherwise.
pub struct Step {
    bar: Option<indicatif::ProgressBar>,
    label: String,
}

impl Step {
    pub fn start(label: impl Into<String>) -> Step {
        let label = label.into();
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message(label.clone());
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
            Step {
                bar: Some(bar),
                label,
            }
        } else {
            eprintln!("... {label}");
            Step { bar: None, label }
        }
    }

    pub fn done(self, result: &str) {
        match self.bar {
            Some(b) => b.finish_with_message(format!("{} {}: {result}", tick(), self.label)),
            None => eprintln!("ok  {}: {result}", self.label),
        }
    }

    pub fn fail(self, why: &str) {
        match self.bar {
            Some(b) => b.abandon_with_message(format!("{} {}: {why}", cross(), self.label)),
            None => eprintln!("err {}: {why}", self.label),
        }
    }
}

fn tick() -> &'static str {
    if super::color_enabled() {
        "\x1b[32m✓\x1b[0m"
    } else {
        "✓"
    }
}

fn cross() -> &'static str {
    if super::color_enabled() {
        "\x1b[31m✗\x1b[0m"
    } else {
        "✗"
    }
}
