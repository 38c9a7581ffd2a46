//! `kubectl promfix rollback FILE`: restore the objects of a backup as they were.

use crate::apply;
use crate::cli::{DryRun, GlobalOpts, WriteOpts};
use crate::error::{Error, Result};
use crate::kube::{Kube, Res};
use crate::output::interact::{self, Step};
use crate::output::plan_view;
use std::path::Path;

/// How many times read → plan → restore runs when writes meet 409 Conflict.
const ROUNDS: usize = 5;

pub async fn run(global: &GlobalOpts, file: &Path, write: &WriteOpts) -> Result<crate::Outcome> {
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
    // Rounds of read → plan → restore: a 409 (a controller wrote meanwhile, e.g. the operator
    // updating a Prometheus) means read again and re-plan, as `etcd` does.
    for round in 0..ROUNDS {
        let mut current = Vec::new();
        for item in &backup.items {
            let res = Res::by_plural(&item.plural)
                .ok_or_else(|| Error::Input(format!("unknown resource {}", item.plural)))?;
            current.push(
                kube.get_opt(&res, item.namespace.as_deref(), &item.name)
                    .await?,
            );
        }
        let plan = apply::rollback_plan(&backup, &current);
        if round == 0 {
            print!("{}", plan_view::render(&plan, write.show_secrets));
            if write.dry_run == DryRun::Client {
                if let Some(fmt) = write.output {
                    print!("{}", plan_view::objects(&plan, fmt, write.show_secrets));
                }
                return Ok(crate::Outcome::Ok);
            }
            if plan.is_empty() {
                return Ok(crate::Outcome::Ok);
            }
            interact::confirm(
                &format!("Restore these {} objects?", plan.changes.len()),
                write.yes,
            )?;
            apply::preflight(&kube, &plan).await?;
        } else if plan.is_empty() {
            return Ok(crate::Outcome::Ok);
        }
        let mut conflict = false;
        for change in &plan.changes {
            let step = Step::start(format!("restore {}", change.object.display()));
            match apply::write(&kube, change).await {
                Ok(_) => step.done("done"),
                Err(kube::Error::Api(s)) if s.code == 409 && round + 1 < ROUNDS => {
                    step.fail("changed meanwhile (409): reading again");
                    conflict = true;
                    break;
                }
                Err(e) => {
                    step.fail(&e.to_string());
                    return Err(Error::Other(format!(
                        "restoring {} failed: {e}\n  hint: run the same rollback again; restored objects are left as they are",
                        change.object.display()
                    )));
                }
            }
        }
        if !conflict {
            return Ok(crate::Outcome::Ok);
        }
    }
    Ok(crate::Outcome::Ok)
}
