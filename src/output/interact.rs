//! Prompts (dialoguer) and progress (indicatif), each falling back to plain behaviour without a
//! terminal: no prompt (an error says what flag to pass), plain progress lines on stderr.

use crate::error::{Error, Result};
use std::io::IsTerminal;
use std::time::Duration;

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
        .map_err(answer_error)?;
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
        .map_err(answer_error)
}

/// A prompt's failure: Ctrl-C (the terminal, in raw mode, hands it over as a key and the
/// prompt answers `Interrupted`) is an interruption like any other, not a terminal error.
fn answer_error(source: dialoguer::Error) -> Error {
    match &source {
        dialoguer::Error::IO(e) if e.kind() == std::io::ErrorKind::Interrupted => {
            Error::Interrupted
        }
        _ => Error::Terminal { source },
    }
}

/// A step in progress: a spinner on a terminal, a plain line otherwise.
pub struct Step {
    bar: Option<indicatif::ProgressBar>,
    label: String,
    /// Which step this is, for the one Ctrl-C marks as interrupted.
    id: u64,
    /// The progress last shown (piped output prints a line only when it changes).
    last: Option<String>,
}

/// The step in progress now (the last started and not ended: id, spinner, label), for Ctrl-C.
type Active = Option<(u64, Option<indicatif::ProgressBar>, String)>;
static ACTIVE: std::sync::Mutex<Active> = std::sync::Mutex::new(None);
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn active() -> std::sync::MutexGuard<'static, Active> {
    ACTIVE.lock().unwrap_or_else(|e| e.into_inner())
}

impl Step {
    pub fn start(label: impl Into<String>) -> Step {
        let label = label.into();
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bar = if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message(label.clone());
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
            Some(bar)
        } else {
            eprintln!("... {label}");
            None
        };
        *active() = Some((id, bar.clone(), label.clone()));
        Step {
            bar,
            label,
            id,
            last: None,
        }
    }

    /// How far a wait is: on a terminal the spinner's message shows the progress and the time
    /// (`elapsed 12s of 5m0s`); piped, a line is printed only when `progress` (the counts)
    /// changes, carrying the time.
    pub fn progress(&mut self, progress: &str, elapsed: Duration, timeout: Duration) {
        match &self.bar {
            Some(b) => b.set_message(progress_line(&self.label, progress, elapsed, timeout)),
            None => {
                if let Some(line) = piped_line(
                    self.last.as_deref(),
                    &self.label,
                    progress,
                    elapsed,
                    timeout,
                ) {
                    eprintln!("{line}");
                }
            }
        }
        self.last = Some(progress.to_string());
    }

    pub fn done(self, result: &str) {
        self.end();
        match self.bar {
            Some(b) => b.finish_with_message(format!("{} {}: {result}", tick(), self.label)),
            None => eprintln!("ok  {}: {result}", self.label),
        }
    }

    pub fn fail(self, why: &str) {
        self.end();
        match self.bar {
            Some(b) => b.abandon_with_message(format!("{} {}: {why}", cross(), self.label)),
            None => eprintln!("err {}: {why}", self.label),
        }
    }

    fn end(&self) {
        let mut a = active();
        if a.as_ref().is_some_and(|(id, _, _)| *id == self.id) {
            *a = None;
        }
    }
}

/// Ctrl-C: end the step in progress, if any, as interrupted (the spinner stays with a cross;
/// piped, an `err LABEL: interrupted` line).
pub fn interrupt_step() {
    if let Some((_, bar, label)) = active().take() {
        match bar {
            Some(b) => b.abandon_with_message(format!("{} {label}: interrupted", cross())),
            None => eprintln!("err {label}: interrupted"),
        }
    }
}

/// A duration as Go prints it, to the second: `0s`, `12s`, `5m0s`, `1h2m3s`.
pub fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// `LABEL: PROGRESS (elapsed 12s of 5m0s)`.
pub fn progress_line(label: &str, progress: &str, elapsed: Duration, timeout: Duration) -> String {
    format!(
        "{label}: {progress} (elapsed {} of {})",
        go_duration(elapsed),
        go_duration(timeout)
    )
}

/// The line piped output prints for a progress update: `... LABEL: PROGRESS (elapsed ..)`,
/// or none when the progress is the one last shown (only the time moved).
pub fn piped_line(
    last: Option<&str>,
    label: &str,
    progress: &str,
    elapsed: Duration,
    timeout: Duration,
) -> Option<String> {
    (last != Some(progress))
        .then(|| format!("... {}", progress_line(label, progress, elapsed, timeout)))
}

/// `done/total` for a count of a wait.
pub fn fraction(done: usize, total: usize) -> String {
    format!("{done}/{total}")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_c_at_a_prompt_is_an_interruption() {
        let io = |k| dialoguer::Error::IO(std::io::Error::new(k, "read interrupted"));
        let e = answer_error(io(std::io::ErrorKind::Interrupted));
        assert!(matches!(e, Error::Interrupted), "{e}");
        assert_eq!(e.exit_code(), 130);
        let e = answer_error(io(std::io::ErrorKind::BrokenPipe));
        assert!(e.to_string().starts_with("cannot read the answer"), "{e}");
    }

    #[test]
    fn durations_read_as_go_prints_them() {
        for (secs, want) in [
            (0, "0s"),
            (12, "12s"),
            (60, "1m0s"),
            (90, "1m30s"),
            (300, "5m0s"),
            (3600, "1h0m0s"),
            (3723, "1h2m3s"),
        ] {
            assert_eq!(go_duration(Duration::from_secs(secs)), want, "{secs}");
        }
        // to the second: a wait's elapsed time is not shown in fractions
        assert_eq!(go_duration(Duration::from_millis(12_900)), "12s");
    }

    #[test]
    fn a_progress_line_carries_the_counts_the_elapsed_time_and_the_timeout() {
        assert_eq!(
            progress_line(
                "waiting for the rollout",
                &format!("{} pods updated, {} ready", fraction(1, 2), fraction(0, 2)),
                Duration::from_secs(12),
                Duration::from_secs(300),
            ),
            "waiting for the rollout: 1/2 pods updated, 0/2 ready (elapsed 12s of 5m0s)"
        );
    }

    #[test]
    fn piped_output_prints_a_line_only_when_the_counts_change() {
        let t = Duration::from_secs(240);
        let mut last: Option<String> = None;
        let mut lines = Vec::new();
        for (secs, counts) in [
            (0, "0/2 ready"),
            (2, "0/2 ready"),
            (4, "1/2 ready"),
            (6, "1/2 ready"),
            (8, "2/2 ready"),
        ] {
            if let Some(l) = piped_line(
                last.as_deref(),
                "rollout",
                counts,
                Duration::from_secs(secs),
                t,
            ) {
                lines.push(l);
            }
            last = Some(counts.to_string());
        }
        assert_eq!(
            lines,
            [
                "... rollout: 0/2 ready (elapsed 0s of 4m0s)",
                "... rollout: 1/2 ready (elapsed 4s of 4m0s)",
                "... rollout: 2/2 ready (elapsed 8s of 4m0s)",
            ]
        );
    }
}
