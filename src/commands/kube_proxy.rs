//! `kubectl promfix kube-proxy`: observe → plan (ConfigMap line + rollout restart) → show →
//! confirm → pre-flight → back up → apply (re-read and re-plan on 409) → wait for the rollout
//! as `kubectl rollout status` does.
//!
//! The shared executor of the node-side fixes (`execute`) lives here too: `control-plane` uses it.

use crate::Outcome;
use crate::apply;
use crate::cli::{Cli, Command, DryRun, WriteOpts};
use crate::error::{Error, Result};
use crate::fixes::kube_proxy::{self as fix, Observed};
use crate::kube::{self as k, Kube};
use crate::output::interact::{self, Step};
use crate::output::plan_view;
use crate::plan::{Change, Op, Plan};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// How many times the whole observe → plan → apply round runs when writes meet 409 Conflict.
const ROUNDS: usize = 5;

/// Run the command (its flags are in `cli.command`, the global ones in `cli.global`).
pub async fn run(cli: &Cli) -> Result<Outcome> {
    let Command::KubeProxy { write, timeout } = &cli.command else {
        return Err(Error::Other("internal: wrong command".into()));
    };
    let mut kube =
        Kube::connect(&cli.global, cli.global.context.first().map(String::as_str)).await?;
    kube.server_dry_run = write.dry_run == DryRun::Server;
    let written = execute(&kube, write, "kube-proxy", async || {
        let obs = observe(&kube).await?;
        let now = fix::rfc3339(SystemTime::now());
        fix::plan(&obs, &now).map(|(p, _)| p).map_err(Error::Input)
    })
    .await?;
    let restarted = written
        .iter()
        .find(|c| c.object.kind == "DaemonSet")
        .cloned();
    if let Some(c) = restarted
        && !kube.server_dry_run
    {
        wait_rollout(
            &kube,
            c.object.namespace.as_deref(),
            &c.object.name,
            *timeout,
        )
        .await?;
    }
    Ok(Outcome::Ok)
}

/// kube-system's DaemonSets and ConfigMaps, and the pods of the kube-proxy DaemonSet.
async fn observe(kube: &Kube) -> Result<Observed> {
    let ns = Some("kube-system");
    let (daemonsets, configmaps, services) = tokio::try_join!(
        kube.list(&k::DAEMONSETS, ns, None),
        kube.list(&k::CONFIGMAPS, ns, None),
        kube.list(&k::SERVICES, ns, None),
    )?;
    let mut obs = Observed {
        daemonsets,
        configmaps,
        pods: Vec::new(),
        services,
    };
    if let Ok(ds) = fix::find_daemonset(&obs.daemonsets) {
        let uid = ds["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let sel = match_labels(ds);
        obs.pods = kube
            .list(&k::PODS, ns, (!sel.is_empty()).then_some(sel.as_str()))
            .await?
            .into_iter()
            .filter(|p| {
                p["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|r| r["uid"] == uid.as_str()))
            })
            .collect();
    }
    Ok(obs)
}

/// `k=v,...` from `spec.selector.matchLabels`.
fn match_labels(o: &Value) -> String {
    o["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// A DaemonSet restart as `kubectl rollout restart` sends it: a strategic merge patch.
fn is_restart(c: &Change) -> bool {
    matches!(&c.op, Op::MergePatch { patch }
        if c.object.kind == "DaemonSet"
        && patch["spec"]["template"]["metadata"]["annotations"][fix::RESTARTED_AT].is_string()
        && patch.get("metadata").is_none())
}

/// Write one change: restarts as strategic merge patches (retried on transient errors), the
/// rest through the shared executor.
async fn write_one(kube: &Kube, c: &Change) -> std::result::Result<Option<Value>, kube::Error> {
    if !is_restart(c) {
        return apply::write(kube, c).await;
    }
    let Op::MergePatch { patch } = &c.op else {
        return apply::write(kube, c).await;
    };
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match kube
            .strategic_merge_patch(
                &k::DAEMONSETS,
                c.object.namespace.as_deref(),
                &c.object.name,
                patch,
            )
            .await
        {
            Ok(v) => return Ok(Some(v)),
            Err(kube::Error::Api(s))
                if (s.code == 429 || s.code >= 500) && attempt < apply::WRITE_ATTEMPTS =>
            {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

fn verb_word(c: &Change) -> &'static str {
    if is_restart(c) {
        return "restart";
    }
    match c.op {
        Op::Create => "create",
        Op::MergePatch { .. } => "patch",
        Op::Delete { .. } => "delete",
    }
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
        other => other.to_string(),
    }
}

/// The shared shape: rounds of observe+plan → (first round: show, dry-run, confirm,
/// pre-flight) → back up → write; a 409 re-reads and re-plans. Returns the changes written.
pub(crate) async fn execute(
    kube: &Kube,
    write: &WriteOpts,
    command: &str,
    mut observe_plan: impl AsyncFnMut() -> Result<Plan>,
) -> Result<Vec<Change>> {
    let mut backup: Option<PathBuf> = None;
    let mut applied: Vec<Change> = Vec::new();
    let names = |v: &[Change]| {
        if v.is_empty() {
            "nothing".to_string()
        } else {
            v.iter()
                .map(|c| c.object.display())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    for round in 0..ROUNDS {
        let plan = observe_plan().await?;
        if round == 0 {
            print!("{}", plan_view::render(&plan, write.show_secrets));
            if write.dry_run == DryRun::Client {
                if let Some(fmt) = write.output {
                    print!("{}", plan_view::objects(&plan, fmt, write.show_secrets));
                }
                return Ok(Vec::new());
            }
            if plan.is_empty() {
                return Ok(Vec::new());
            }
            interact::confirm(
                &format!("Apply these {} changes?", plan.changes.len()),
                write.yes,
            )?;
            apply::preflight(kube, &plan).await?;
        } else if plan.is_empty() {
            break;
        }
        if write.dry_run == DryRun::None {
            let dir = write
                .backup_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("."));
            // Backup names carry the second: a re-planned round gets its own file.
            let name = if round == 0 {
                command.to_string()
            } else {
                format!("{command}-round{}", round + 1)
            };
            let p = apply::write_backup(&plan, &kube.context, &dir, &name)?;
            if backup.is_none() {
                eprintln!(
                    "backup: {} (restore with `kubectl promfix rollback {}`)",
                    p.display(),
                    p.display()
                );
            } else {
                eprintln!(
                    "backup of the re-planned changes: {} (restore it first, then {})",
                    p.display(),
                    backup
                        .as_ref()
                        .map(|b| b.display().to_string())
                        .unwrap_or_default()
                );
            }
            backup.get_or_insert(p);
        }
        let mut conflict = false;
        for (i, change) in plan.changes.iter().enumerate() {
            let step = Step::start(format!("{} {}", verb_word(change), change.object.display()));
            match write_one(kube, change).await {
                Ok(_) => {
                    step.done(if kube.server_dry_run {
                        "ok (server dry run)"
                    } else {
                        "done"
                    });
                    applied.push(change.clone());
                }
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    step.fail("changed meanwhile (409): reading again");
                    conflict = true;
                    break;
                }
                Err(e) => {
                    step.fail(&e.to_string());
                    return Err(Error::Partial {
                        message: format!(
                            "{} {}: {}",
                            verb_word(change),
                            change.object.display(),
                            api_message(&e)
                        ),
                        applied: names(&applied),
                        pending: names(&plan.changes[i..]),
                        backup: backup
                            .as_ref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|| "(none)".into()),
                    });
                }
            }
        }
        if !conflict {
            return Ok(applied);
        }
    }
    if applied.is_empty() {
        return Err(Error::Other(format!(
            "the objects kept changing while this ran ({ROUNDS} rounds of 409 Conflict); nothing was changed"
        )));
    }
    Err(Error::Partial {
        message: format!(
            "the objects kept changing while this ran ({ROUNDS} rounds of 409 Conflict)"
        ),
        applied: names(&applied),
        pending: "the rest of the plan".into(),
        backup: backup
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(none)".into()),
    })
}

/// Wait until the DaemonSet's rollout finished, as `kubectl rollout status` decides it.
async fn wait_rollout(kube: &Kube, ns: Option<&str>, name: &str, timeout: Duration) -> Result<()> {
    let label = format!(
        "rollout of DaemonSet {}/{name}",
        ns.unwrap_or("kube-system")
    );
    let step = Step::start(label.clone());
    let deadline = Instant::now() + timeout;
    loop {
        let ds = kube
            .get_opt(&k::DAEMONSETS, ns, name)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: format!("DaemonSet {}/{name}", ns.unwrap_or("")),
                hint: "it was deleted during the rollout".into(),
            })?;
        let last = match fix::rollout_status(&ds) {
            Ok(None) => {
                step.done("successfully rolled out");
                return Ok(());
            }
            Ok(Some(msg)) => msg,
            Err(e) => {
                step.fail(&e);
                return Ok(());
            }
        };
        if Instant::now() >= deadline {
            step.fail(&format!("not finished after {timeout:?}"));
            return Err(Error::Other(format!(
                "{label} did not finish within {timeout:?} ({last})\n  hint: the config is written; watch it with \
                 `kubectl -n {} rollout status daemonset/{name}`",
                ns.unwrap_or("kube-system")
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
