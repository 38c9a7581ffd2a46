//! What Ctrl-C says. The executor records how far a run got (backup written, writes started,
//! writes done); `main`'s SIGINT handler prints [`message`] of that state on stderr and exits
//! 130. Before any write it says nothing was written; after, that the changes were written, how
//! to check them and how to undo them (the backup's rollback line).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How far a run that writes got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Nothing written (no write planned yet, a dry run, or a command that only reads).
    Nothing,
    /// The backup is written; no write has been sent yet.
    BackedUp,
    /// Writes were sent; some may not have landed.
    Writing,
    /// Every change of the plan was written (the command may still be waiting: verify, rollout).
    Written,
}

/// The state Ctrl-C reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub stage: Stage,
    /// The command that writes (`etcd`, `kube-proxy`, `rollback`, ...).
    pub command: String,
    /// The backup written before the writes (a rollback writes its own too).
    pub backup: Option<PathBuf>,
    /// How to check the changes, when the command knows better than its name says.
    pub check: Option<String>,
}

impl State {
    pub const fn new() -> State {
        State {
            stage: Stage::Nothing,
            command: String::new(),
            backup: None,
            check: None,
        }
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

static STATE: Mutex<State> = Mutex::new(State::new());

fn update(f: impl FnOnce(&mut State)) {
    let mut s = STATE.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut s);
}

/// The state now.
pub fn current() -> State {
    STATE.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The backup of `command` is written at `path`; the writes come next.
pub fn backed_up(command: &str, path: &Path) {
    update(|s| {
        s.command = command.to_string();
        s.backup = Some(path.to_path_buf());
        if s.stage == Stage::Nothing {
            s.stage = Stage::BackedUp;
        }
    });
}

/// Writes are being sent (only once a backup is known: a dry run writes nothing).
pub fn writing() {
    update(|s| {
        if s.backup.is_some() {
            s.stage = Stage::Writing;
        }
    });
}

/// Every change was written.
pub fn written() {
    update(|s| {
        if s.backup.is_some() {
            s.stage = Stage::Written;
        }
    });
}

/// How to check the changes (a backticked command line or two), instead of the command's default.
pub fn check_with(hint: impl Into<String>) {
    let hint = hint.into();
    update(|s| s.check = Some(hint));
}

/// How to check what a command wrote, by its name.
pub fn default_check(command: &str) -> String {
    match command {
        "etcd" | "secret" | "endpoints" | "servicemonitor" => "`kubectl promfix verify`".into(),
        "kube-proxy" => "`kubectl -n kube-system rollout status daemonset/kube-proxy` or `kubectl promfix doctor`".into(),
        _ => "`kubectl promfix doctor`".into(),
    }
}

/// What Ctrl-C prints on stderr (no trailing newline).
pub fn message(s: &State) -> String {
    let Some(backup) = s.backup.as_ref().map(|p| p.display().to_string()) else {
        return "interrupted: nothing was written".into();
    };
    let check = s.check.clone().unwrap_or_else(|| default_check(&s.command));
    match s.stage {
        Stage::Nothing | Stage::BackedUp => {
            format!("interrupted: nothing was written (the backup {backup} is not needed)")
        }
        Stage::Writing => format!(
            "interrupted while writing: some of the changes may have been written, others not (backup: {backup})\n  \
             finish them: run the same command again (it writes only what is still missing)\n  \
             check them: {check}\n  \
             undo them: `kubectl promfix rollback {backup}`"
        ),
        Stage::Written => format!(
            "interrupted: the changes were written (backup: {backup}); only the wait was cut short\n  \
             check them: {check}\n  \
             undo them: `kubectl promfix rollback {backup}`"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(stage: Stage, command: &str, backup: Option<&str>) -> State {
        State {
            stage,
            command: command.into(),
            backup: backup.map(PathBuf::from),
            check: None,
        }
    }

    #[test]
    fn before_any_write_nothing_was_written() {
        assert_eq!(message(&State::new()), "interrupted: nothing was written");
        let m = message(&state(Stage::BackedUp, "etcd", Some("./b.yaml")));
        assert!(m.starts_with("interrupted: nothing was written"), "{m}");
        assert!(m.contains("./b.yaml"), "{m}");
        assert!(!m.contains("rollback"), "{m}");
    }

    #[test]
    fn after_the_writes_it_names_the_backup_the_check_and_the_undo() {
        let m = message(&state(
            Stage::Written,
            "etcd",
            Some("/tmp/promfix-backup-etcd-1.yaml"),
        ));
        assert!(
            m.starts_with(
                "interrupted: the changes were written (backup: /tmp/promfix-backup-etcd-1.yaml)"
            ),
            "{m}"
        );
        assert!(m.contains("check them: `kubectl promfix verify`"), "{m}");
        assert!(
            m.contains("undo them: `kubectl promfix rollback /tmp/promfix-backup-etcd-1.yaml`"),
            "{m}"
        );
        let m = message(&state(Stage::Writing, "secret", Some("b.yaml")));
        assert!(m.contains("may have been written"), "{m}");
        assert!(m.contains("run the same command again"), "{m}");
        assert!(m.contains("`kubectl promfix verify`"), "{m}");
        assert!(m.contains("`kubectl promfix rollback b.yaml`"), "{m}");
    }

    #[test]
    fn kube_proxy_is_checked_by_its_rollout_or_doctor() {
        let mut s = state(Stage::Written, "kube-proxy", Some("b.yaml"));
        let m = message(&s);
        assert!(
            m.contains("`kubectl -n kube-system rollout status daemonset/kube-proxy`"),
            "{m}"
        );
        assert!(m.contains("`kubectl promfix doctor`"), "{m}");
        s.check = Some("`kubectl -n kube-system rollout status daemonset/proxy`".into());
        let m = message(&s);
        assert!(m.contains("daemonset/proxy`"), "{m}");
        assert!(m.contains("`kubectl promfix rollback b.yaml`"), "{m}");
    }

    #[test]
    fn a_cut_rollback_says_to_run_it_again_or_undo_it_with_its_own_backup() {
        // A rollback writes its own backup first: it is finished, or undone, like any run.
        let m = message(&state(
            Stage::Writing,
            "rollback",
            Some("promfix-backup-rollback-1.yaml"),
        ));
        assert!(m.contains("run the same command again"), "{m}");
        assert!(
            m.contains("undo them: `kubectl promfix rollback promfix-backup-rollback-1.yaml`"),
            "{m}"
        );
        let m = message(&state(Stage::BackedUp, "rollback", Some("b.yaml")));
        assert!(m.starts_with("interrupted: nothing was written"), "{m}");
    }

    #[test]
    fn the_stages_move_forward_only_with_a_backup() {
        // One test owns the global state (the others use `message` alone).
        writing();
        assert_eq!(current().stage, Stage::Nothing, "a dry run writes nothing");
        backed_up("etcd", Path::new("b.yaml"));
        assert_eq!(current().stage, Stage::BackedUp);
        writing();
        assert_eq!(current().stage, Stage::Writing);
        written();
        assert_eq!(current().stage, Stage::Written);
        // A later round's extended backup does not go back.
        backed_up("etcd", Path::new("b.yaml"));
        assert_eq!(current().stage, Stage::Written);
        check_with("`x`");
        assert!(message(&current()).contains("check them: `x`"));
    }
}
