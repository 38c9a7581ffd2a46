//! `kubectl promfix rollback FILE`: restore the fields the backed-up run changed as they were
//! (others' changes since stay; a field the run wrote that someone changed since stops the
//! rollback unless --force), in dependency order, after backing up their present state (a
//! rollback is undone like any run).

use crate::apply::{self, Executor};
use crate::cli::{DryRun, GlobalOpts, WriteOpts};
use crate::error::{Error, Result};
use crate::kube::{Kube, Res};
use std::path::Path;

pub async fn run(
    global: &GlobalOpts,
    file: &Path,
    force: bool,
    write: &WriteOpts,
) -> Result<crate::Outcome> {
    // The file first: no request before it is known to be a backup.
    let backup = apply::read_backup(file)?;
    for item in &backup.items {
        if let Some(b) = &item.before {
            Kube::check_object(b)?;
        }
        if Res::by_plural(&item.plural).is_none() {
            return Err(Error::Input(format!(
                "{}: unknown resource {:?}",
                file.display(),
                item.plural
            )));
        }
    }
    // The objects belong to the cluster the backup was taken from.
    let context = global
        .context
        .first()
        .cloned()
        .unwrap_or_else(|| backup.context.clone());
    let mut kube = Kube::connect(
        global,
        Some(&context).filter(|c| !c.is_empty()).map(String::as_str),
    )
    .await?;
    kube.server_dry_run = write.dry_run == DryRun::Server;
    // Rounds: read → plan → write; a 409 (a controller or someone else changed an object since
    // it was read, e.g. the operator updating the Prometheus' status) reads again and re-plans.
    // A rollback is a change too: it writes its own backup first (its rollback undoes it).
    let exec = Executor {
        ask: apply::rollback_question,
        label: apply::rollback_label,
        ..Executor::new(&kube, write, "rollback")
    };
    let ran = exec
        .run(async || {
            // Every object at once (the resources were checked above).
            let current = futures::future::try_join_all(backup.items.iter().map(|item| async {
                let res = Res::by_plural(&item.plural)
                    .ok_or_else(|| Error::Input(format!("unknown resource {}", item.plural)))?;
                kube.get_opt(&res, item.namespace.as_deref(), &item.name)
                    .await
            }))
            .await?;
            apply::rollback_plan(&backup, &current, force)
        })
        .await?;
    if let Some(fmt) = write.output
        && write.dry_run != DryRun::Client
    {
        let mut doc = ran.document("rollback", write, kube.server_dry_run);
        doc["restoredFrom"] = serde_json::json!(file.display().to_string());
        apply::print_document(fmt, &doc);
    }
    Ok(crate::Outcome::Ok)
}
