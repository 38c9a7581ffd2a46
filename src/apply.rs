//! The one executor every fix shares: pre-flight access review, backup, writes with
//! preconditions and bounded retries, and rollback from a backup.

use crate::cli::{DryRun, WriteOpts};
use crate::error::{Error, Result, api_message};
use crate::kube::{Kube, Res};
use crate::output::interact::{self, Step};
use crate::output::{interrupt, plan_view};
use crate::plan::{Change, ObjectRef, Op, Plan, guarded_merge_patch};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The verb each change needs.
fn verb(op: &Op) -> &'static str {
    match op {
        Op::Create => "create",
        Op::MergePatch { .. } | Op::Restart { .. } => "patch",
        Op::Delete { .. } => "delete",
    }
}

/// What a change does, in one word, for progress lines and errors.
pub fn verb_word(c: &Change) -> &'static str {
    match c.op {
        Op::Restart { .. } => "restart",
        _ => verb(&c.op),
    }
}

fn res_of(o: &ObjectRef) -> Result<Res> {
    Res::by_plural(&o.plural)
        .ok_or_else(|| Error::Internal(format!("unknown resource {}", o.plural)))
}

/// Ask the API server, before the first write, whether every write of the plan is allowed; list
/// every denied one at once.
pub async fn preflight(kube: &Kube, plan: &Plan) -> Result<()> {
    let checks = plan.changes.iter().map(|c| async move {
        let res = res_of(&c.object)?;
        let name = match c.op {
            Op::Create => None,
            _ => Some(c.object.name.as_str()),
        };
        let ok = kube
            .can_i(verb(&c.op), &res, None, c.object.namespace.as_deref(), name)
            .await?;
        Ok::<_, Error>((!ok).then(|| {
            format!(
                "{} {}{} (needed to {})",
                verb(&c.op),
                c.object.plural,
                c.object
                    .namespace
                    .as_ref()
                    .map(|n| format!(" in namespace {n}"))
                    .unwrap_or_default(),
                c.object.display()
            )
        }))
    });
    let mut denied: Vec<String> = Vec::new();
    for r in futures::future::join_all(checks).await {
        if let Some(d) = r?
            && !denied.contains(&d)
        {
            denied.push(d);
        }
    }
    if denied.is_empty() {
        Ok(())
    } else {
        Err(Error::Forbidden(denied))
    }
}

/// One entry of a backup: the object as it was (None: it did not exist; rollback deletes it)
/// and what the run wrote.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BackupItem {
    pub api_version: String,
    pub kind: String,
    pub plural: String,
    pub namespace: Option<String>,
    pub name: String,
    pub before: Option<Value>,
    /// What the run wrote; rollback restores only the fields that differ between `before` and
    /// it. Absent in the backups of earlier versions: rollback then restores whole objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<After>,
}

/// The object as the run wrote it: as planned (written before the write), then as the API
/// server stored it (its answer to the write).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct After {
    /// None: the run deleted it.
    pub object: Option<Value>,
    /// The API server's answer: a field holds exactly this until someone changes it. Otherwise
    /// (as planned) the server's defaults are told apart by leniency: a field still holds what
    /// was written while every value written is there.
    #[serde(default)]
    pub stored: bool,
}

impl BackupItem {
    /// The entry of a change's object, as it was read and as the change writes it.
    fn of(c: &Change) -> Self {
        BackupItem {
            api_version: c.object.api_version.clone(),
            kind: c.object.kind.clone(),
            plural: c.object.plural.clone(),
            namespace: c.object.namespace.clone(),
            name: c.object.name.clone(),
            before: c.before.clone(),
            after: Some(After {
                object: c.after.clone(),
                stored: false,
            }),
        }
    }

    fn is(&self, o: &ObjectRef) -> bool {
        self.plural == o.plural && self.namespace == o.namespace && self.name == o.name
    }
}

/// The backup file: every object a plan touches, as it was before.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Backup {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub context: String,
    pub created: String,
    pub items: Vec<BackupItem>,
}

/// Write the backup of a plan (mode 0600: it can hold key material) and return its path.
pub fn write_backup(plan: &Plan, context: &str, dir: &Path, command: &str) -> Result<PathBuf> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let backup = Backup {
        api_version: "promfix.kubectl/v1".into(),
        kind: "Backup".into(),
        context: context.into(),
        created: now.to_string(),
        items: plan.changes.iter().map(BackupItem::of).collect(),
    };
    let text = serde_yaml_ng::to_string(&backup).map_err(|source| Error::Yaml {
        what: "internal: backup".into(),
        source,
    })?;
    // Names carry the second; a second backup within the same second gets a suffix.
    let mut n = 1;
    loop {
        let path = if n == 1 {
            dir.join(format!("promfix-backup-{command}-{now}.yaml"))
        } else {
            dir.join(format!("promfix-backup-{command}-{now}-{n}.yaml"))
        };
        match write_private(&path, text.as_bytes()) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(source) => return Err(Error::Backup { path, source }),
        }
    }
}

/// Add to an existing backup the objects of `plan` it does not hold yet (a later round of the
/// same run, after a 409, may touch objects the first round did not plan). The objects it
/// already holds keep their first state (that is what the run started from) and take the
/// re-planned state as what the run writes.
pub fn extend_backup(path: &Path, plan: &Plan) -> Result<()> {
    let mut backup = read_backup(path)?;
    let mut changed = false;
    for c in &plan.changes {
        match backup.items.iter_mut().find(|i| i.is(&c.object)) {
            Some(held) => {
                let after = Some(After {
                    object: c.after.clone(),
                    stored: false,
                });
                if held.after != after {
                    held.after = after;
                    changed = true;
                }
            }
            None => {
                backup.items.push(BackupItem::of(c));
                changed = true;
            }
        }
    }
    if !changed {
        return Ok(());
    }
    rewrite_backup(path, &backup)
}

/// Record in the backup the objects as the API server stored them after the run's writes.
pub fn record_stored(path: &Path, stored: &[(ObjectRef, Value)]) -> Result<()> {
    if stored.is_empty() {
        return Ok(());
    }
    let mut backup = read_backup(path)?;
    for (object, v) in stored {
        if let Some(item) = backup.items.iter_mut().find(|i| i.is(object)) {
            item.after = Some(After {
                object: Some(v.clone()),
                stored: true,
            });
        }
    }
    rewrite_backup(path, &backup)
}

/// Write a backup over its file: aside (0600), then renamed over, never half written.
fn rewrite_backup(path: &Path, backup: &Backup) -> Result<()> {
    let text = serde_yaml_ng::to_string(backup).map_err(|source| Error::Yaml {
        what: "internal: backup".into(),
        source,
    })?;
    let tmp = path.with_extension("yaml.tmp");
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, text.as_bytes())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| Error::Backup {
            path: path.to_path_buf(),
            source,
        })
}

/// Create a file readable only by its owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

pub fn read_backup(path: &Path) -> Result<Backup> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Input(format!(
            "cannot read the backup file {}: {e}",
            path.display()
        ))
    })?;
    let b: Backup = serde_yaml_ng::from_str(&text).map_err(|e| {
        Error::Input(format!(
            "{} is not a kubectl-promfix backup file: {e}",
            path.display()
        ))
    })?;
    if b.kind != "Backup" {
        return Err(Error::Input(format!(
            "{} is not a kubectl-promfix backup file (kind {})",
            path.display(),
            b.kind
        )));
    }
    Ok(b)
}

/// Write the Helm values override file (`--helm-values FILE`), `notes` as comments at its top,
/// and say so.
pub fn write_helm_values(path: &Path, values: &Value, notes: &[String]) -> Result<()> {
    let mut text = String::new();
    for n in notes {
        text.push_str("# note: ");
        text.push_str(&n.replace('\n', "\n# "));
        text.push('\n');
    }
    text.push_str(&serde_yaml_ng::to_string(values).unwrap_or_default());
    std::fs::write(path, text).map_err(|e| {
        Error::Input(format!(
            "cannot write the Helm values file {}: {e}",
            path.display()
        ))
    })?;
    eprintln!("Helm values override written to {}", path.display());
    Ok(())
}

/// Write the files of `--gitops-dir` for the plan (one per GitOps owner of a changed object),
/// and say what was written and what they cannot carry.
pub fn write_gitops(out: &GitOpsOut, plan: &Plan) -> Result<()> {
    let values = out.values.and_then(|f| f(plan));
    let (files, notes) = crate::gitops::owner_files(plan, values.as_ref());
    for n in &notes {
        eprintln!("note: --gitops-dir: {n}");
    }
    if files.is_empty() {
        eprintln!(
            "note: --gitops-dir: nothing written to {}: no object this plan changes is kept by Argo CD or Flux",
            out.dir.display()
        );
        return Ok(());
    }
    std::fs::create_dir_all(out.dir).map_err(|e| {
        Error::Input(format!(
            "cannot create the --gitops-dir directory {}: {e}",
            out.dir.display()
        ))
    })?;
    for f in files {
        let path = out.dir.join(&f.file_name);
        std::fs::write(&path, f.text())
            .map_err(|e| Error::Input(format!("cannot write {}: {e}", path.display())))?;
        eprintln!(
            "GitOps: the change for {} written to {}",
            f.owner.describe(),
            path.display()
        );
    }
    Ok(())
}

/// Whether an error is worth retrying the same write for (throttling, server errors, a dropped
/// connection), with the delay the server asked for.
fn transient(e: &kube::Error) -> Option<Option<Duration>> {
    match e {
        kube::Error::Api(s) if s.code == 429 => Some(
            s.details
                .as_ref()
                .map(|d| Duration::from_secs(u64::from(d.retry_after_seconds)))
                .filter(|d| !d.is_zero()),
        ),
        kube::Error::Api(s) if s.code >= 500 => Some(None),
        kube::Error::Api(_) => None,
        kube::Error::HyperError(_) | kube::Error::Service(_) => Some(None),
        _ => None,
    }
}

/// How many times one write is tried on transient errors.
pub const WRITE_ATTEMPTS: u32 = 5;

/// Write one change, retrying transient failures with backoff. A 409 is returned to the caller,
/// which re-reads and re-plans.
pub async fn write(
    kube: &Kube,
    change: &Change,
) -> std::result::Result<Option<Value>, kube::Error> {
    let res = Res::by_plural(&change.object.plural).ok_or_else(|| {
        kube::Error::Service(format!("unknown resource {}", change.object.plural).into())
    })?;
    let ns = change.object.namespace.as_deref();
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let r = match &change.op {
            Op::Create => kube
                .create(&res, change.after.as_ref().unwrap_or(&Value::Null))
                .await
                .map(Some),
            Op::MergePatch { patch } => kube
                .merge_patch(&res, ns, &change.object.name, patch)
                .await
                .map(Some),
            Op::Restart { patch } => kube
                .strategic_merge_patch(&res, ns, &change.object.name, patch)
                .await
                .map(Some),
            Op::Delete {
                uid,
                resource_version,
            } => {
                match kube
                    .delete(&res, ns, &change.object.name, uid, resource_version)
                    .await
                {
                    Ok(()) => Ok(None),
                    // already gone: the goal is reached
                    Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
                    Err(e) => Err(e),
                }
            }
        };
        match r {
            Ok(v) => return Ok(v),
            Err(e) => match transient(&e) {
                Some(wait) if attempt < WRITE_ATTEMPTS => {
                    tokio::time::sleep(wait.unwrap_or(delay)).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                _ => return Err(e),
            },
        }
    }
}

/// How many observe → plan → write rounds a run makes when writes meet 409 Conflict.
pub const ROUNDS: usize = 8;

/// The pause before round `round` (1, 2, ...) after a 409: 100 ms doubling, at most 1 s, as
/// client-go's retry helpers back off. A controller busy writing an object's status (the
/// operator during a rollout) bumps its resourceVersion many times a second; back to back,
/// every guarded write of that object would meet a 409 again.
pub fn conflict_backoff(round: usize) -> std::time::Duration {
    let ms = 100u64.saturating_mul(1u64 << round.saturating_sub(1).min(10));
    std::time::Duration::from_millis(ms.min(1000))
}

/// What runs once the first plan is shown (etcd writes its Helm values file there).
pub type Shown<'a> = dyn Fn(&Plan) -> Result<()> + 'a;

/// The chart values that carry a plan's change (kube-prometheus-stack's), for the commands that
/// have them.
pub type ValuesOf<'a> = dyn Fn(&Plan) -> Option<Value> + 'a;

/// `--gitops-dir`: where the change goes in the form each GitOps owner of its objects takes.
pub struct GitOpsOut<'a> {
    pub dir: &'a Path,
    pub values: Option<&'a ValuesOf<'a>>,
}

/// The one executor of every command that writes: rounds of observe + plan → (first round:
/// show, dry run, confirm, pre-flight) → back up → write. A 409 Conflict reads again and
/// re-plans (at most `ROUNDS` rounds); any other failure stops with an error that says what was
/// applied, what was not, and where the backup is.
pub struct Executor<'a> {
    pub kube: &'a Kube,
    pub write: &'a WriteOpts,
    /// The backup's name part (`promfix-backup-<name>-<time>.yaml`), written before the first
    /// write; a later round (after a 409) adds the objects it lacks to the same file. A
    /// rollback writes one too: it is a change like any other, and its own backup undoes it.
    pub backup_as: &'a str,
    /// The confirmation question for a plan.
    pub ask: fn(&Plan) -> String,
    /// The progress line of a change.
    pub label: fn(&Change) -> String,
    /// The wave of a change: the changes of one wave are written concurrently, the waves one
    /// after the other in ascending order; a change may rely only on those of earlier waves.
    /// None: one change at a time, in plan order.
    pub wave: Option<fn(&Change) -> usize>,
    /// Called with the first plan once it is shown (before a dry run ends or the question).
    pub shown: Option<&'a Shown<'a>>,
    /// `--gitops-dir`: written once the first plan is shown (a dry run too).
    pub gitops: Option<GitOpsOut<'a>>,
}

fn ask_apply(plan: &Plan) -> String {
    format!("Apply these {} changes?", plan.changes.len())
}

fn label_verb(c: &Change) -> String {
    format!("{} {}", verb_word(c), c.object.display())
}

fn names(v: &[Change]) -> String {
    if v.is_empty() {
        "nothing".to_string()
    } else {
        v.iter()
            .map(|c| c.object.display())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl<'a> Executor<'a> {
    /// An executor that backs up under the command's name and asks "Apply these n changes?".
    pub fn new(kube: &'a Kube, write: &'a WriteOpts, command: &'a str) -> Self {
        Executor {
            kube,
            write,
            backup_as: command,
            ask: ask_apply,
            label: label_verb,
            wave: None,
            shown: None,
            gitops: None,
        }
    }

    /// Run the rounds; `observe_plan` reads the cluster and plans (called once per round).
    /// Returns the first plan, the changes written (none for a client dry run or an empty
    /// plan) and the backup file.
    pub async fn run(&self, observe_plan: impl AsyncFnMut() -> Result<Plan>) -> Result<Ran> {
        let mut first: Option<Plan> = None;
        let mut backup: Option<PathBuf> = None;
        let applied = self.rounds(observe_plan, &mut first, &mut backup).await?;
        if !applied.is_empty() {
            // Ctrl-C from here on (verify, a rollout) says the changes were written.
            interrupt::written();
        }
        Ok(Ran {
            plan: first.unwrap_or_default(),
            applied,
            backup,
        })
    }

    async fn rounds(
        &self,
        mut observe_plan: impl AsyncFnMut() -> Result<Plan>,
        first: &mut Option<Plan>,
        backup_out: &mut Option<PathBuf>,
    ) -> Result<Vec<Change>> {
        let (kube, write) = (self.kube, self.write);
        let mut backup: Option<PathBuf> = None;
        let mut applied: Vec<Change> = Vec::new();
        // What the last round that met a 409 had left to do.
        let mut pending: Vec<Change> = Vec::new();
        // The changes shown and confirmed (those of the first plan, and any confirmed again).
        let mut confirmed = Plan::default();
        for round in 0..ROUNDS {
            let plan = observe_plan().await?;
            if round == 0 {
                // With -o the objects are the output (to redirect into a file): the plan goes
                // to stderr.
                let shown = plan_view::render(&plan, write.show_secrets);
                if write.output.is_some() {
                    eprint!("{shown}");
                } else {
                    print!("{shown}");
                }
                if let Some(f) = self.shown {
                    f(&plan)?;
                }
                if let Some(g) = &self.gitops {
                    write_gitops(g, &plan)?;
                }
                *first = Some(plan.clone());
                if write.dry_run == DryRun::Client {
                    if let Some(fmt) = write.output {
                        print!("{}", plan_view::objects(&plan, fmt, write.show_secrets));
                    }
                    return Ok(Vec::new());
                }
                if plan.is_empty() {
                    return Ok(Vec::new());
                }
                // A server dry run changes nothing: no question to ask (as kubectl).
                interact::confirm(&(self.ask)(&plan), write.yes || kube.server_dry_run)?;
                preflight(kube, &plan).await?;
                confirmed = plan.clone();
            } else if plan.is_empty() {
                // Re-read after a 409 and nothing is left to do: the write that "conflicted"
                // had landed (its answer was lost with a cut connection) or someone made the
                // same change.
                return Ok(applied);
            } else {
                // Re-planned after a 409: what was not shown and confirmed is asked again.
                let new: Vec<Change> = unconfirmed(&plan, &confirmed)
                    .into_iter()
                    .cloned()
                    .collect();
                if !new.is_empty() {
                    self.confirm_again(&plan, &new, &applied, &backup).await?;
                    confirmed.changes.extend(new);
                }
            }
            if write.dry_run == DryRun::None {
                let command = self.backup_as;
                match &backup {
                    // A later round: the same backup, with any object it lacks.
                    Some(p) => extend_backup(p, &plan)?,
                    None => {
                        let dir = write
                            .backup_dir
                            .clone()
                            .unwrap_or_else(|| PathBuf::from("."));
                        let p = write_backup(&plan, &kube.context, &dir, command)?;
                        eprintln!(
                            "backup: {} (restore with `kubectl promfix rollback {}`)",
                            p.display(),
                            p.display()
                        );
                        interrupt::backed_up(command, &p);
                        *backup_out = Some(p.clone());
                        backup = Some(p);
                    }
                }
            }
            // Ctrl-C from here on says what may have been written (nothing for a dry run: no
            // backup is known then).
            interrupt::writing();
            let mut stored = Vec::new();
            let written = self.write_waves(&plan, &mut applied, &mut stored).await;
            // What the API server stored, as what the run wrote: rollback then tells its
            // defaults from what others changed since.
            if let Some(p) = &backup
                && !kube.server_dry_run
                && let Err(e) = record_stored(p, &stored)
            {
                eprintln!("warning: {e} (the backup holds the objects as planned)");
            }
            match written {
                Written::All => return Ok(applied),
                Written::Conflict { left } => {
                    pending = left;
                    tokio::time::sleep(conflict_backoff(round + 1)).await;
                }
                Written::Failed { message, left } => {
                    return Err(Error::Partial {
                        message,
                        applied: names(&applied),
                        pending: names(&left),
                        backup: backup_name(&backup),
                    });
                }
            }
        }
        Err(Error::Partial {
            message: format!(
                "the objects kept changing while this ran ({ROUNDS} rounds of 409 Conflict)"
            ),
            applied: names(&applied),
            pending: if pending.is_empty() {
                "the rest of the plan".into()
            } else {
                names(&pending)
            },
            backup: backup_name(&backup),
        })
    }
}

impl Executor<'_> {
    /// A re-planned round (after a 409) holds changes that were not shown and confirmed (the
    /// cluster changed under the run): show them on stderr and ask again. With --yes (which
    /// confirms only the plan shown) stop with an error that says what differs; a server dry run
    /// writes nothing and goes on.
    async fn confirm_again(
        &self,
        plan: &Plan,
        new: &[Change],
        applied: &[Change],
        backup: &Option<PathBuf>,
    ) -> Result<()> {
        let (kube, write) = (self.kube, self.write);
        let shown = Plan {
            changes: new.to_vec(),
            ..Plan::default()
        };
        eprintln!(
            "\nThe cluster changed while this ran: after a 409 Conflict the plan, read again, has changes that were not shown and confirmed:"
        );
        eprint!("{}", plan_view::render(&shown, write.show_secrets));
        if kube.server_dry_run {
            return Ok(());
        }
        let what = new
            .iter()
            .map(|c| format!("{} {}", verb_word(c), c.object.display()))
            .collect::<Vec<_>>()
            .join(", ");
        if write.yes {
            return Err(Error::Partial {
                message: format!(
                    "the cluster changed under this run: after a 409 Conflict the plan, read again, is not the one confirmed (--yes confirms only the plan shown): new or different: {what}\n  re-run the command to review the new plan"
                ),
                applied: names(applied),
                pending: names(&plan.changes),
                backup: backup_name(backup),
            });
        }
        let question = format!(
            "The plan changed while this ran (the new changes are above). {}",
            (self.ask)(plan)
        );
        if let Err(e) = interact::confirm(&question, false) {
            if !applied.is_empty() {
                eprintln!(
                    "applied before the plan changed: {}\nbackup: {}",
                    names(applied),
                    backup_name(backup)
                );
            }
            return Err(e);
        }
        preflight(kube, plan).await
    }
}

/// A patch without its resourceVersion precondition (it changes with every read).
fn unguarded(patch: &Value) -> Value {
    let mut p = patch.clone();
    if let Some(m) = p.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        if m.is_empty() {
            p.as_object_mut().map(|o| o.remove("metadata"));
        }
    }
    p
}

/// Whether `new` (of a re-planned round) is a change that was confirmed as `old`: the same
/// object, the same operation and the same contents (patches without their resourceVersion
/// precondition; a created object as planned; a deletion of the same object, by uid; a restart
/// whatever its timestamp).
pub fn same_change(new: &Change, old: &Change) -> bool {
    new.object == old.object
        && match (&new.op, &old.op) {
            (Op::MergePatch { patch: a }, Op::MergePatch { patch: b }) => {
                unguarded(a) == unguarded(b)
            }
            (Op::Restart { .. }, Op::Restart { .. }) => true,
            (Op::Create, Op::Create) => new.after == old.after,
            (Op::Delete { uid: a, .. }, Op::Delete { uid: b, .. }) => a == b,
            _ => false,
        }
}

/// The changes of a re-planned round that the confirmed plan does not hold.
pub fn unconfirmed<'p>(plan: &'p Plan, confirmed: &Plan) -> Vec<&'p Change> {
    plan.changes
        .iter()
        .filter(|c| !confirmed.changes.iter().any(|o| same_change(c, o)))
        .collect()
}

/// Whether a re-planned round is a subset of the confirmed plan: the same changes, or fewer.
pub fn is_subset(plan: &Plan, confirmed: &Plan) -> bool {
    unconfirmed(plan, confirmed).is_empty()
}

/// What [`Executor::run`] did.
#[derive(Debug, Clone, Default)]
pub struct Ran {
    /// The plan of the first round (the one shown).
    pub plan: Plan,
    /// The changes written, in the order they were.
    pub applied: Vec<Change>,
    /// The backup file written before the first write.
    pub backup: Option<PathBuf>,
}

impl Ran {
    /// The `-o json|yaml` document of a run that wrote (or server-dry-ran) its plan: the plan
    /// (each change and the objects as planned, Secret data redacted unless --show-secrets),
    /// what was written, the backup. Commands add their own parts (`verify`, `nodeEdits`).
    pub fn document(&self, command: &str, write: &WriteOpts, dry_run_server: bool) -> Value {
        let change = |c: &Change| {
            json!({
                "action": verb_word(c),
                "kind": c.object.kind,
                "namespace": c.object.namespace,
                "name": c.object.name,
                "reason": c.reason,
                "helmRelease": c.helm.as_ref().map(|h| h.name.clone()),
                "gitOps": c.before.as_ref().and_then(crate::plan::gitops_owner),
            })
        };
        let objects: Value = serde_json::from_str(&plan_view::objects(
            &self.plan,
            crate::cli::Output::Json,
            write.show_secrets,
        ))
        .unwrap_or(Value::Null);
        json!({
            "apiVersion": "promfix.kubectl/v1",
            "kind": "Run",
            "command": command,
            "dryRun": if dry_run_server { "server" } else { "none" },
            "notes": self.plan.notes,
            "notFixed": self.plan.not_fixed,
            "plan": self.plan.changes.iter().map(change).collect::<Vec<_>>(),
            "objects": objects,
            "applied": self.applied.iter().map(change).collect::<Vec<_>>(),
            "backup": self.backup.as_ref().map(|p| p.display().to_string()),
        })
    }
}

/// Print one `-o json|yaml` document on stdout.
pub fn print_document(fmt: crate::cli::Output, doc: &Value) {
    match fmt {
        crate::cli::Output::Json => {
            println!("{}", serde_json::to_string_pretty(doc).unwrap_or_default())
        }
        crate::cli::Output::Yaml => print!("{}", serde_yaml_ng::to_string(doc).unwrap_or_default()),
    }
}

/// How the writes of one round ended.
enum Written {
    All,
    /// A write met 409 Conflict: read again and re-plan; `left` was not written.
    Conflict {
        left: Vec<Change>,
    },
    /// A write failed (the first in plan order, when several of a wave did).
    Failed {
        message: String,
        left: Vec<Change>,
    },
}

/// The result of one write, for its progress line.
enum Wrote {
    Ok,
    Conflict,
    Failed(kube::Error),
}

impl Executor<'_> {
    /// The plan's indices grouped in waves, in the order they are written.
    fn waves(&self, plan: &Plan) -> Vec<Vec<usize>> {
        let Some(wave) = self.wave else {
            return (0..plan.changes.len()).map(|i| vec![i]).collect();
        };
        let mut keys: Vec<usize> = plan.changes.iter().map(wave).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.iter()
            .map(|k| {
                (0..plan.changes.len())
                    .filter(|&i| wave(&plan.changes[i]) == *k)
                    .collect()
            })
            .collect()
    }

    /// Print the progress lines of the changes from `*shown` to `upto` (those written; the
    /// others were not tried). `step`: the spinner already started for the first of them.
    fn show(
        &self,
        plan: &Plan,
        wrote: &[Option<Wrote>],
        shown: &mut usize,
        upto: usize,
        mut step: Option<Step>,
    ) {
        while *shown < upto {
            let c = &plan.changes[*shown];
            if let Some(r) = &wrote[*shown] {
                let s = step.take().unwrap_or_else(|| Step::start((self.label)(c)));
                match r {
                    Wrote::Ok if self.kube.server_dry_run => s.done("ok (server dry run)"),
                    Wrote::Ok => s.done("done"),
                    Wrote::Conflict => s.fail("changed meanwhile (409): reading again"),
                    Wrote::Failed(e) => s.fail(&api_message(e)),
                }
            }
            *shown += 1;
        }
    }

    /// Write a round's plan wave by wave, each wave's writes at once. The progress lines come in
    /// plan order whatever order the answers come in; after a 409 or a failure the wave's other
    /// writes finish, and no later wave starts.
    async fn write_waves(
        &self,
        plan: &Plan,
        applied: &mut Vec<Change>,
        stored: &mut Vec<(ObjectRef, Value)>,
    ) -> Written {
        let kube = self.kube;
        let n = plan.changes.len();
        let mut wrote: Vec<Option<Wrote>> = (0..n).map(|_| None).collect();
        let mut shown = 0;
        let mut failed: Option<usize> = None;
        let mut conflict = false;
        for wave in self.waves(plan) {
            // One write that is next in plan order: its spinner runs while it is written.
            let step = (wave.len() == 1 && wave[0] == shown)
                .then(|| Step::start((self.label)(&plan.changes[wave[0]])));
            let results =
                futures::future::join_all(wave.iter().map(|&i| write(kube, &plan.changes[i])))
                    .await;
            for (&i, r) in wave.iter().zip(results) {
                wrote[i] = Some(match r {
                    Ok(v) => {
                        applied.push(plan.changes[i].clone());
                        stored.extend(v.map(|v| (plan.changes[i].object.clone(), v)));
                        Wrote::Ok
                    }
                    Err(kube::Error::Api(s)) if s.code == 409 => {
                        conflict = true;
                        Wrote::Conflict
                    }
                    Err(e) => {
                        failed = Some(failed.map_or(i, |f| f.min(i)));
                        Wrote::Failed(e)
                    }
                });
            }
            let stop = conflict || failed.is_some();
            // The lines up to the first change not written yet (all of them when stopping).
            let upto = if stop {
                n
            } else {
                (0..n).find(|&i| wrote[i].is_none()).unwrap_or(n)
            };
            self.show(plan, &wrote, &mut shown, upto, step);
            if stop {
                break;
            }
        }
        let left: Vec<Change> = (0..n)
            .filter(|&i| !matches!(wrote[i], Some(Wrote::Ok)))
            .map(|i| plan.changes[i].clone())
            .collect();
        match failed {
            Some(i) => {
                let error = match &wrote[i] {
                    Some(Wrote::Failed(e)) => api_message(e),
                    _ => String::new(),
                };
                Written::Failed {
                    message: format!("{}: {error}", (self.label)(&plan.changes[i])),
                    left,
                }
            }
            None if conflict => Written::Conflict { left },
            None => Written::All,
        }
    }
}

fn backup_name(b: &Option<PathBuf>) -> String {
    b.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(none)".into())
}

/// Server-owned metadata removed before an object is re-created from a backup.
pub fn strip_server_fields(mut v: Value) -> Value {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "managedFields",
            "generation",
            "selfLink",
        ] {
            m.remove(k);
        }
    }
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
    }
    v
}

/// The plan that restores a backup, given each object's current state (None: absent now).
///
/// Of each object only the fields the backed-up run changed are restored (the difference
/// between its `before` and `after`, at merge-patch paths, lists whole), so what others changed
/// since in other fields stays (a `helm upgrade` that moved the image). A field the run wrote
/// that holds something else now was changed since by someone else: each is listed and the
/// rollback refused ([`Error::RollbackConflict`]) unless `force`. A backup without `after` (of an
/// earlier version) restores whole objects, as those versions did, with a note saying so.
pub fn rollback_plan(backup: &Backup, current: &[Option<Value>], force: bool) -> Result<Plan> {
    let (mut plan, conflicts) = rollback_changes(backup, current);
    if !conflicts.is_empty() {
        if !force {
            return Err(Error::RollbackConflict(conflicts));
        }
        for c in conflicts {
            plan.notes.push(format!(
                "--force: restored although changed since the backed-up run: {c}"
            ));
        }
    }
    // Dependency order: data (ConfigMaps, Secrets) before the workloads that read it, so a
    // restart restored after it reads the restored data (kube-proxy's ConfigMap before the
    // DaemonSet's restart); deletions last, once nothing restored refers to them (the Secret
    // after the Prometheus no longer lists it). Otherwise the reverse order of the writes.
    plan.changes.sort_by_key(rollback_rank);
    Ok(plan)
}

/// The wave of a rollback change: 0 data, 1 everything else, 2 deletions.
fn rollback_rank(c: &Change) -> u8 {
    match (&c.op, c.object.kind.as_str()) {
        (Op::Delete { .. }, _) => 2,
        (_, "ConfigMap" | "Secret") => 0,
        _ => 1,
    }
}

/// The confirmation question of a rollback: deletions and re-creations named as such.
pub fn rollback_question(plan: &Plan) -> String {
    let count = |f: fn(&Op) -> bool| plan.changes.iter().filter(|c| f(&c.op)).count();
    let deletes = count(|o| matches!(o, Op::Delete { .. }));
    let creates = count(|o| matches!(o, Op::Create));
    let restores = plan.changes.len() - deletes - creates;
    let mut parts = Vec::new();
    if restores > 0 {
        parts.push(format!("restore {restores} object(s)"));
    }
    if creates > 0 {
        parts.push(format!("re-create {creates} deleted since"));
    }
    if deletes > 0 {
        parts.push(format!("delete {deletes} the backed-up run created"));
    }
    let mut q = parts.join(", ");
    if let Some(first) = q.get(..1) {
        q = format!("{}{}", first.to_uppercase(), &q[1..]);
    }
    format!("{q}?")
}

/// The progress line of a rollback change.
pub fn rollback_label(c: &Change) -> String {
    match c.op {
        Op::Delete { .. } => format!(
            "delete {} (it did not exist before the backed-up run)",
            c.object.display()
        ),
        Op::Create => format!("re-create {}", c.object.display()),
        _ => format!("restore {}", c.object.display()),
    }
}

/// How a value reads in a conflict line: compact JSON, long ones cut; absent as such.
fn shown_value(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(v) => {
            let t = v.to_string();
            if t.chars().count() > 80 {
                format!("{}...", t.chars().take(77).collect::<String>())
            } else {
                t
            }
        }
    }
}

/// One conflict line: the object, the field, what the run wrote and what is there now (for a
/// Secret the field's name only).
fn conflict_line(
    object: &ObjectRef,
    path: &[String],
    wrote: Option<&Value>,
    now: Option<&Value>,
) -> String {
    let field = crate::fields::display_path(path);
    if object.kind == "Secret" {
        format!(
            "{}: {field}: changed since (Secret data is not shown)",
            object.display()
        )
    } else {
        let mut line = format!(
            "{}: {field}: the run wrote {}, now {}",
            object.display(),
            shown_value(wrote),
            shown_value(now)
        );
        // A long value (a list of endpoints): where inside it.
        if let (Some(w), Some(n)) = (wrote, now)
            && (w.is_object() || w.is_array())
        {
            let places: Vec<String> = crate::fields::differences(w, n)
                .into_iter()
                .filter(|(at, _, _)| !at.is_empty())
                .take(3)
                .map(|(at, a, b)| {
                    format!(
                        "{at}: {} -> {}",
                        shown_value(a.as_ref()),
                        shown_value(b.as_ref())
                    )
                })
                .collect();
            if !places.is_empty() {
                line.push_str(&format!(" (differs at {})", places.join("; ")));
            }
        }
        line
    }
}

/// The object without server-owned metadata and status: what rollback compares.
fn comparable(v: &Value) -> Value {
    strip_server_fields(v.clone())
}

/// The current object without status (a write to the main resource never changes it).
fn without_status(cur: &Value) -> Value {
    let mut v = cur.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
    }
    v
}

/// The change that restores a whole object (backups without `after`, and --force on an object
/// the run deleted that exists again).
fn whole_restore(object: ObjectRef, before: &Value, cur: &Value) -> Option<Change> {
    let mut target = strip_server_fields(before.clone());
    target["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"].clone();
    let cur_cmp = without_status(cur);
    let patch = guarded_merge_patch(&cur_cmp, &target)?;
    Some(Change {
        object,
        // Without status: the patch does not touch it, the diff must not show it.
        before: Some(cur_cmp),
        after: Some(target),
        op: Op::MergePatch { patch },
        reason: "restore from the backup".into(),
        helm: None,
    })
}

/// Whether a field still holds what the run wrote: exactly what the API server stored, or (as
/// planned) every value written, whatever the server added.
fn still_holds(wrote: Option<&Value>, now: Option<&Value>, stored: bool) -> bool {
    if stored {
        wrote == now
    } else {
        crate::fields::still_written_opt(wrote, now)
    }
}

/// The change that restores only the fields the run changed; conflicts go to `conflicts`.
fn fields_restore(
    object: ObjectRef,
    before: &Value,
    (after, stored): (&Value, bool),
    cur: &Value,
    conflicts: &mut Vec<String>,
) -> Option<Change> {
    use crate::fields;
    let now_all = comparable(cur);
    let mut patch = Value::Object(Default::default());
    let mut restored = Vec::new();
    for f in fields::changed(&comparable(before), &comparable(after)) {
        let now = fields::get(&now_all, &f.path);
        // Already as before: the write did not land, or someone undid it.
        if now == f.before.as_ref() {
            continue;
        }
        if !still_holds(f.wrote.as_ref(), now, stored) {
            conflicts.push(conflict_line(&object, &f.path, f.wrote.as_ref(), now));
        }
        let value = match (now, &f.before) {
            // An object the run replaced (a removed selector) comes back exactly as it was.
            (Some(n @ Value::Object(_)), Some(b @ Value::Object(_))) => {
                match crate::plan::merge_diff(n, b) {
                    Some(d) => d,
                    None => continue,
                }
            }
            (_, Some(b)) => b.clone(),
            (_, None) => Value::Null,
        };
        fields::set(&mut patch, &f.path, value);
        restored.push(fields::display_path(&f.path));
    }
    if restored.is_empty() {
        return None;
    }
    let cur_cmp = without_status(cur);
    let target = fields::merge_patch(&cur_cmp, &patch);
    patch["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"].clone();
    Some(Change {
        object,
        before: Some(cur_cmp),
        after: Some(target),
        op: Op::MergePatch { patch },
        reason: format!(
            "restore from the backup what the run changed: {}",
            restored.join(", ")
        ),
        helm: None,
    })
}

/// The deletion of an object (as it is now) that did not exist before the run.
fn delete_change(object: ObjectRef, cur: &Value) -> Change {
    Change {
        object,
        before: Some(cur.clone()),
        after: None,
        op: Op::Delete {
            uid: cur["metadata"]["uid"].as_str().unwrap_or("").into(),
            resource_version: cur["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .into(),
        },
        reason: "it did not exist before".into(),
        helm: None,
    }
}

fn recreate_change(object: ObjectRef, before: &Value) -> Change {
    Change {
        object,
        before: None,
        after: Some(strip_server_fields(before.clone())),
        op: Op::Create,
        reason: "re-create from the backup".into(),
        helm: None,
    }
}

/// The changes that restore a backup and the fields others changed since (conflicts).
fn rollback_changes(backup: &Backup, current: &[Option<Value>]) -> (Plan, Vec<String>) {
    let mut plan = Plan::default();
    let mut conflicts = Vec::new();
    let mut whole = false;
    // Undo in reverse order of the original writes.
    for (item, cur) in backup.items.iter().zip(current).rev() {
        let object = ObjectRef::of(
            &item.api_version,
            &item.kind,
            &item.plural,
            item.namespace.as_deref(),
            &item.name,
        );
        let after = item.after.as_ref().map(|a| a.object.as_ref());
        let stored = item.after.as_ref().is_some_and(|a| a.stored);
        let change = match (&item.before, after, cur) {
            // A backup of an earlier version: the whole object as it was.
            (Some(before), None, Some(cur)) => {
                whole = true;
                whole_restore(object, before, cur)
            }
            (None, None, Some(cur)) => {
                whole = true;
                Some(delete_change(object, cur))
            }
            (Some(before), Some(Some(after)), Some(cur)) => {
                fields_restore(object, before, (after, stored), cur, &mut conflicts)
            }
            (Some(before), Some(Some(_)), None) => {
                conflicts.push(format!(
                    "{}: deleted since (the run changed it; --force re-creates it as it was before)",
                    object.display()
                ));
                Some(recreate_change(object, before))
            }
            // The rollback re-created it already (a later round, after a 409).
            (Some(before), Some(None), Some(cur))
                if crate::fields::still_written(&comparable(before), &comparable(cur)) =>
            {
                None
            }
            (Some(before), Some(None), Some(cur)) => {
                conflicts.push(format!(
                    "{}: exists again (the run deleted it; --force restores it as it was before)",
                    object.display()
                ));
                whole_restore(object, before, cur)
            }
            // Deleted by the run (or a backup of an earlier version): re-created.
            (Some(before), _, None) => Some(recreate_change(object, before)),
            // Created by the run: deleted, unless someone changed what the run wrote.
            (None, Some(wrote), Some(cur)) => {
                let now = comparable(cur);
                for (path, v) in wrote
                    .map(|w| crate::fields::leaves(&comparable(w)))
                    .unwrap_or_default()
                {
                    let n = crate::fields::get(&now, &path);
                    if !still_holds(Some(&v), n, stored) {
                        conflicts.push(conflict_line(&object, &path, Some(&v), n));
                    }
                }
                Some(delete_change(object, cur))
            }
            (None, _, None) => None,
        };
        plan.changes.extend(change);
    }
    if whole {
        plan.notes.push(
            "this backup does not record what its run wrote (an earlier version made it): whole objects are restored as they were, changes made since by others included".into(),
        );
    }
    (plan, conflicts)
}

/// A short, key-free description of a JSON value for messages.
pub fn summary(v: &Value) -> String {
    json!({"kind": v["kind"], "name": v["metadata"]["name"], "namespace": v["metadata"]["namespace"]}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_are_private_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut plan = Plan::default();
        plan.changes.push(Change {
            object: ObjectRef::of(
                "v1",
                "Secret",
                "secrets",
                Some("monitoring"),
                "etcd-client-cert",
            ),
            before: None,
            after: Some(json!({"metadata": {"name": "etcd-client-cert"}})),
            op: Op::Create,
            reason: String::new(),
            helm: None,
        });
        let p = write_backup(&plan, "ctx", dir.path(), "etcd").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let b = read_backup(&p).unwrap();
        assert_eq!(b.items.len(), 1);
        // created by the run → rollback deletes it
        let cur =
            json!({"metadata": {"name": "etcd-client-cert", "uid": "u", "resourceVersion": "5"}});
        let rb = rollback_plan(&b, &[Some(cur)], false).unwrap();
        assert!(matches!(rb.changes[0].op, Op::Delete { .. }));
    }

    fn item(kind: &str, plural: &str, name: &str, before: Option<Value>) -> BackupItem {
        BackupItem {
            api_version: "v1".into(),
            kind: kind.into(),
            plural: plural.into(),
            namespace: Some("kube-system".into()),
            name: name.into(),
            before,
            after: None,
        }
    }

    fn obj(rv: &str, data: Value) -> Value {
        json!({"metadata": {"name": "x", "namespace": "kube-system", "resourceVersion": rv, "uid": "u"}, "spec": data})
    }

    #[test]
    fn conflicts_back_off_doubling_up_to_a_second() {
        let ms: Vec<u128> = (1..ROUNDS)
            .map(|r| conflict_backoff(r).as_millis())
            .collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000, 1000]);
    }

    #[test]
    fn rollback_goes_in_dependency_order_and_names_deletes() {
        // Written in this order by the runs: the Secret created, the Prometheus patched, the
        // ConfigMap patched, then the DaemonSet restarted.
        let b = Backup {
            api_version: "promfix.kubectl/v1".into(),
            kind: "Backup".into(),
            context: "c".into(),
            created: "0".into(),
            items: vec![
                item("Secret", "secrets", "etcd-client-cert", None),
                item(
                    "Prometheus",
                    "prometheuses",
                    "k8s",
                    Some(obj("1", json!({"a": 1}))),
                ),
                item(
                    "ConfigMap",
                    "configmaps",
                    "kube-proxy",
                    Some(obj("1", json!({"c": 1}))),
                ),
                item(
                    "DaemonSet",
                    "daemonsets",
                    "kube-proxy",
                    Some(obj("1", json!({"d": 1}))),
                ),
            ],
        };
        let current = vec![
            Some(obj("5", json!({"secret": true}))),
            Some(obj("5", json!({"a": 2}))),
            Some(obj("5", json!({"c": 2}))),
            Some(obj("5", json!({"d": 2}))),
        ];
        let p = rollback_plan(&b, &current, false).unwrap();
        let order: Vec<(&str, &str)> = p
            .changes
            .iter()
            .map(|c| (c.object.kind.as_str(), verb_word(c)))
            .collect();
        assert_eq!(
            order,
            [
                ("ConfigMap", verb_word(&p.changes[0])),
                ("DaemonSet", verb_word(&p.changes[1])),
                ("Prometheus", verb_word(&p.changes[2])),
                ("Secret", "delete"),
            ]
        );
        assert_eq!(
            rollback_question(&p),
            "Restore 3 object(s), delete 1 the backed-up run created?"
        );
        assert!(
            rollback_label(&p.changes[3]).starts_with("delete Secret"),
            "{}",
            rollback_label(&p.changes[3])
        );
        assert!(rollback_label(&p.changes[0]).starts_with("restore ConfigMap"));
        // A deleted object comes back as a re-creation.
        let p = rollback_plan(&b, &[None, None, None, None], false).unwrap();
        assert_eq!(rollback_question(&p), "Re-create 3 deleted since?");
        assert!(rollback_label(&p.changes[0]).starts_with("re-create ConfigMap"));
    }

    #[test]
    fn rollback_restores_a_removed_selector() {
        let before = json!({"metadata": {"name": "etcd", "namespace": "kube-system", "resourceVersion": "3"},
                            "spec": {"selector": {"component": "etcd"}, "ports": [{"port": 2381}]}});
        let cur = json!({"metadata": {"name": "etcd", "namespace": "kube-system", "resourceVersion": "9"},
                         "spec": {"ports": [{"port": 2379}]}});
        let b = Backup {
            api_version: "promfix.kubectl/v1".into(),
            kind: "Backup".into(),
            context: "c".into(),
            created: "0".into(),
            items: vec![BackupItem {
                api_version: "v1".into(),
                kind: "Service".into(),
                plural: "services".into(),
                namespace: Some("kube-system".into()),
                name: "etcd".into(),
                before: Some(before),
                after: None,
            }],
        };
        let rb = rollback_plan(&b, &[Some(cur)], false).unwrap();
        let Op::MergePatch { patch } = &rb.changes[0].op else {
            panic!("patch expected")
        };
        assert_eq!(patch["spec"]["selector"], json!({"component": "etcd"}));
        assert_eq!(patch["metadata"]["resourceVersion"], "9");
    }
    fn backup_of(items: Vec<BackupItem>) -> Backup {
        Backup {
            api_version: "promfix.kubectl/v1".into(),
            kind: "Backup".into(),
            context: "c".into(),
            created: "0".into(),
            items,
        }
    }

    fn prom(rv: &str, image: &str, secrets: Value) -> Value {
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
               "metadata": {"name": "k8s", "namespace": "monitoring", "resourceVersion": rv, "uid": "u"},
               "spec": {"image": image, "secrets": secrets}, "status": {"available": true}})
    }

    fn patched(before: Value, after: Value) -> BackupItem {
        BackupItem {
            api_version: "monitoring.coreos.com/v1".into(),
            kind: "Prometheus".into(),
            plural: "prometheuses".into(),
            namespace: Some("monitoring".into()),
            name: "k8s".into(),
            before: Some(before),
            after: Some(After {
                object: Some(after),
                stored: false,
            }),
        }
    }

    #[test]
    fn rollback_restores_only_the_fields_the_run_changed() {
        let before = prom("1", "prometheus:v2", json!([]));
        let after = prom("1", "prometheus:v2", json!(["etcd-client-cert"]));
        let b = backup_of(vec![patched(before, after)]);
        // A helm upgrade moved the image since; the operator wrote the status.
        let cur = prom("7", "prometheus:v3", json!(["etcd-client-cert"]));
        let p = rollback_plan(&b, &[Some(cur)], false).unwrap();
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        let Op::MergePatch { patch } = &p.changes[0].op else {
            panic!("a patch")
        };
        assert_eq!(
            patch,
            &json!({"metadata": {"resourceVersion": "7"}, "spec": {"secrets": []}})
        );
        let a = p.changes[0].after.as_ref().unwrap();
        assert_eq!(a["spec"]["image"], "prometheus:v3");
        assert!(
            p.changes[0].reason.contains("spec.secrets"),
            "{}",
            p.changes[0].reason
        );
        // Already as before (the write never landed): nothing to do.
        let cur = prom("7", "prometheus:v3", json!([]));
        assert!(rollback_plan(&b, &[Some(cur)], false).unwrap().is_empty());
    }

    #[test]
    fn a_field_the_run_wrote_and_someone_changed_since_stops_the_rollback_unless_forced() {
        let before = prom("1", "prometheus:v2", json!([]));
        let after = prom("1", "prometheus:v2", json!(["etcd-client-cert"]));
        let b = backup_of(vec![patched(before, after)]);
        let cur = prom("7", "prometheus:v2", json!(["etcd-client-cert", "other"]));
        let e = rollback_plan(&b, &[Some(cur.clone())], false).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        let text = e.to_string();
        assert!(
            text.contains(
                r#"Prometheus monitoring/k8s: spec.secrets: the run wrote ["etcd-client-cert"], now ["etcd-client-cert","other"]"#
            ),
            "{text}"
        );
        assert!(text.contains("--force"), "{text}");
        let p = rollback_plan(&b, &[Some(cur)], true).unwrap();
        let Op::MergePatch { patch } = &p.changes[0].op else {
            panic!("a patch")
        };
        assert_eq!(patch["spec"]["secrets"], json!([]));
        assert!(p.notes[0].starts_with("--force: "), "{:?}", p.notes);
    }

    #[test]
    fn server_defaults_are_no_conflict_and_a_removed_object_comes_back_exactly() {
        let svc = |rv: &str, spec: Value| json!({"kind": "Service", "metadata": {"name": "etcd", "namespace": "kube-system", "resourceVersion": rv}, "spec": spec});
        let before = svc(
            "1",
            json!({"selector": {"component": "etcd"}, "ports": [{"port": 2381, "protocol": "TCP"}]}),
        );
        let after = svc("1", json!({"ports": [{"port": 2379}]}));
        let item = BackupItem {
            api_version: "v1".into(),
            kind: "Service".into(),
            plural: "services".into(),
            namespace: Some("kube-system".into()),
            name: "etcd".into(),
            before: Some(before),
            after: Some(After {
                object: Some(after),
                stored: false,
            }),
        };
        let b = backup_of(vec![item]);
        // The API server defaulted the protocol: still what the run wrote.
        let cur = svc("4", json!({"ports": [{"port": 2379, "protocol": "TCP"}]}));
        let p = rollback_plan(&b, &[Some(cur)], false).unwrap();
        let Op::MergePatch { patch } = &p.changes[0].op else {
            panic!("a patch")
        };
        assert_eq!(
            patch["spec"],
            json!({"selector": {"component": "etcd"}, "ports": [{"port": 2381, "protocol": "TCP"}]})
        );
        // Someone put another selector back: a conflict; forced, the old one exactly.
        let cur = svc(
            "4",
            json!({"selector": {"app": "x"}, "ports": [{"port": 2379}]}),
        );
        let e = rollback_plan(&b, &[Some(cur.clone())], false).unwrap_err();
        assert!(
            e.to_string()
                .contains("spec.selector: the run wrote (absent), now {\"app\":\"x\"}"),
            "{e}"
        );
        let p = rollback_plan(&b, &[Some(cur)], true).unwrap();
        let after = p.changes[0].after.as_ref().unwrap();
        assert_eq!(after["spec"]["selector"], json!({"component": "etcd"}));
    }

    #[test]
    fn created_objects_are_deleted_unless_changed_and_secret_data_is_never_named() {
        let secret = |key: &str| {
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": "etcd-client-cert", "namespace": "monitoring"},
                   "data": {"ca.crt": key}})
        };
        let item = BackupItem {
            api_version: "v1".into(),
            kind: "Secret".into(),
            plural: "secrets".into(),
            namespace: Some("monitoring".into()),
            name: "etcd-client-cert".into(),
            before: None,
            after: Some(After {
                object: Some(secret("QUJD")),
                stored: false,
            }),
        };
        let b = backup_of(vec![item]);
        let mut cur = secret("QUJD");
        cur["metadata"]["uid"] = json!("u1");
        cur["metadata"]["resourceVersion"] = json!("9");
        let p = rollback_plan(&b, &[Some(cur.clone())], false).unwrap();
        assert!(matches!(&p.changes[0].op, Op::Delete { uid, .. } if uid == "u1"));
        // Gone already: nothing to do.
        assert!(rollback_plan(&b, &[None], false).unwrap().is_empty());
        // Someone rotated the key since.
        cur["data"]["ca.crt"] = json!("U0VDUkVU");
        let e = rollback_plan(&b, &[Some(cur.clone())], false).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("Secret monitoring/etcd-client-cert: data[\"ca.crt\"]: changed since (Secret data is not shown)"),
            "{text}"
        );
        assert!(
            !text.contains("U0VDUkVU") && !text.contains("QUJD"),
            "{text}"
        );
        let p = rollback_plan(&b, &[Some(cur)], true).unwrap();
        assert!(matches!(p.changes[0].op, Op::Delete { .. }));
    }

    #[test]
    fn an_object_the_run_patched_and_someone_deleted_since_is_a_conflict() {
        let before = prom("1", "prometheus:v2", json!([]));
        let after = prom("1", "prometheus:v2", json!(["etcd-client-cert"]));
        let b = backup_of(vec![patched(before, after)]);
        let e = rollback_plan(&b, &[None], false).unwrap_err();
        assert!(
            e.to_string()
                .contains("Prometheus monitoring/k8s: deleted since"),
            "{e}"
        );
        let p = rollback_plan(&b, &[None], true).unwrap();
        assert!(matches!(p.changes[0].op, Op::Create));
    }

    #[test]
    fn what_the_api_server_stored_is_held_exactly() {
        let before = prom("1", "prometheus:v2", json!([]));
        let mut stored = prom("2", "prometheus:v2", json!([{"name": "etcd-client-cert"}]));
        let mut item = patched(before, stored.clone());
        item.after.as_mut().unwrap().stored = true;
        let b = backup_of(vec![item.clone()]);
        stored["metadata"]["resourceVersion"] = json!("5");
        assert_eq!(
            rollback_plan(&b, &[Some(stored.clone())], false)
                .unwrap()
                .changes
                .len(),
            1
        );
        // A field added since inside what the run wrote: as planned it would pass for a server
        // default; as stored, it is someone's change.
        stored["spec"]["secrets"][0]["optional"] = json!(true);
        assert!(rollback_plan(&b, &[Some(stored.clone())], false).is_err());
        item.after.as_mut().unwrap().stored = false;
        let b = backup_of(vec![item]);
        assert!(rollback_plan(&b, &[Some(stored)], false).is_ok());
    }

    #[test]
    fn an_object_the_run_deleted_is_re_created_once() {
        let slice = |rv: &str, uid: &str| {
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                   "metadata": {"name": "etcd-x", "namespace": "kube-system", "resourceVersion": rv, "uid": uid},
                   "endpoints": [{"addresses": ["10.0.0.1"]}]})
        };
        let item = BackupItem {
            api_version: "discovery.k8s.io/v1".into(),
            kind: "EndpointSlice".into(),
            plural: "endpointslices".into(),
            namespace: Some("kube-system".into()),
            name: "etcd-x".into(),
            before: Some(slice("1", "u1")),
            after: Some(After {
                object: None,
                stored: false,
            }),
        };
        let b = backup_of(vec![item]);
        let p = rollback_plan(&b, &[None], false).unwrap();
        assert!(matches!(p.changes[0].op, Op::Create));
        // Re-created by the rollback (read again after a 409): done.
        assert!(
            rollback_plan(&b, &[Some(slice("9", "u2"))], false)
                .unwrap()
                .is_empty()
        );
        // Someone else's object of that name: a conflict.
        let mut other = slice("9", "u2");
        other["endpoints"] = json!([]);
        let e = rollback_plan(&b, &[Some(other)], false).unwrap_err();
        assert!(e.to_string().contains("exists again"), "{e}");
    }

    #[test]
    fn old_backups_restore_whole_objects_with_a_note() {
        let mut item = patched(
            prom("1", "prometheus:v2", json!([])),
            prom("1", "prometheus:v2", json!(["etcd-client-cert"])),
        );
        item.after = None;
        let b = backup_of(vec![item]);
        let cur = prom("7", "prometheus:v3", json!(["etcd-client-cert"]));
        let p = rollback_plan(&b, &[Some(cur)], false).unwrap();
        let Op::MergePatch { patch } = &p.changes[0].op else {
            panic!("a patch")
        };
        assert_eq!(patch["spec"]["image"], "prometheus:v2");
        assert!(p.notes[0].contains("whole objects"), "{:?}", p.notes);
        // And an old backup file (no `after`) still reads.
        let text = "apiVersion: promfix.kubectl/v1\nkind: Backup\ncontext: c\ncreated: '0'\nitems:\n- api_version: v1\n  kind: Secret\n  plural: secrets\n  namespace: monitoring\n  name: s\n  before: null\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.yaml");
        std::fs::write(&path, text).unwrap();
        let old = read_backup(&path).unwrap();
        assert!(old.items[0].after.is_none());
    }

    #[test]
    fn a_later_round_records_what_it_writes_and_keeps_the_first_state() {
        let dir = tempfile::tempdir().unwrap();
        let change = |rv: &str, secrets: Value| Change {
            object: ObjectRef::of(
                "monitoring.coreos.com/v1",
                "Prometheus",
                "prometheuses",
                Some("monitoring"),
                "k8s",
            ),
            before: Some(prom(rv, "prometheus:v2", json!([]))),
            after: Some(prom(rv, "prometheus:v2", secrets)),
            op: Op::MergePatch { patch: json!({}) },
            reason: String::new(),
            helm: None,
        };
        let first = Plan {
            changes: vec![change("1", json!(["a"]))],
            ..Plan::default()
        };
        let p = write_backup(&first, "ctx", dir.path(), "etcd").unwrap();
        let again = Plan {
            changes: vec![change("2", json!(["a", "b"]))],
            ..Plan::default()
        };
        extend_backup(&p, &again).unwrap();
        let b = read_backup(&p).unwrap();
        assert_eq!(b.items.len(), 1);
        assert_eq!(
            b.items[0].before.as_ref().unwrap()["metadata"]["resourceVersion"],
            "1"
        );
        let wrote = b.items[0].after.as_ref().unwrap().object.as_ref().unwrap();
        assert_eq!(wrote["spec"]["secrets"], json!(["a", "b"]));
    }

    fn patch_change(name: &str, patch: Value) -> Change {
        Change {
            object: ObjectRef::of("v1", "Service", "services", Some("kube-system"), name),
            before: None,
            after: None,
            op: Op::MergePatch { patch },
            reason: String::new(),
            helm: None,
        }
    }

    #[test]
    fn a_replanned_round_is_a_subset_when_it_holds_only_confirmed_changes() {
        let confirmed = Plan {
            changes: vec![
                patch_change(
                    "a",
                    json!({"metadata": {"resourceVersion": "1"}, "spec": {"x": 1}}),
                ),
                patch_change(
                    "b",
                    json!({"metadata": {"resourceVersion": "1"}, "spec": {"y": 1}}),
                ),
                Change {
                    op: Op::Restart {
                        patch: json!({"t": "10:00"}),
                    },
                    ..patch_change("ds", json!({}))
                },
                Change {
                    op: Op::Delete {
                        uid: "u1".into(),
                        resource_version: "3".into(),
                    },
                    ..patch_change("slice", json!({}))
                },
            ],
            ..Plan::default()
        };
        // The same patches read again (a new resourceVersion), fewer of them, a restart at
        // another time, the same object deleted at another resourceVersion: a subset.
        let again = Plan {
            changes: vec![
                patch_change(
                    "b",
                    json!({"metadata": {"resourceVersion": "5"}, "spec": {"y": 1}}),
                ),
                Change {
                    op: Op::Restart {
                        patch: json!({"t": "10:01"}),
                    },
                    ..patch_change("ds", json!({}))
                },
                Change {
                    op: Op::Delete {
                        uid: "u1".into(),
                        resource_version: "4".into(),
                    },
                    ..patch_change("slice", json!({}))
                },
            ],
            ..Plan::default()
        };
        assert!(is_subset(&again, &confirmed));
        assert!(is_subset(&Plan::default(), &confirmed));
        // A patch with other contents, another object, another operation: not.
        let other = Plan {
            changes: vec![
                patch_change(
                    "a",
                    json!({"metadata": {"resourceVersion": "5"}, "spec": {"x": 2}}),
                ),
                patch_change("c", json!({"spec": {"x": 1}})),
                Change {
                    op: Op::Create,
                    ..patch_change("b", json!({}))
                },
                patch_change(
                    "b",
                    json!({"metadata": {"resourceVersion": "1"}, "spec": {"y": 1}}),
                ),
            ],
            ..Plan::default()
        };
        let names: Vec<&str> = unconfirmed(&other, &confirmed)
            .iter()
            .map(|c| c.object.name.as_str())
            .collect();
        assert_eq!(names, ["a", "c", "b"]);
        assert!(!is_subset(&other, &confirmed));
        // A re-created object (another uid) is another deletion.
        let recreated = Plan {
            changes: vec![Change {
                op: Op::Delete {
                    uid: "u2".into(),
                    resource_version: "4".into(),
                },
                ..patch_change("slice", json!({}))
            }],
            ..Plan::default()
        };
        assert!(!is_subset(&recreated, &confirmed));
    }
}
