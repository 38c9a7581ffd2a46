//! `kubectl promfix kube-proxy`: observe → plan (ConfigMap line + rollout restart) → show →
//! confirm → pre-flight → back up → apply (`apply::Executor`: re-read and re-plan on 409) →
//! wait for the rollout as `kubectl rollout status` does.

use crate::Outcome;
use crate::apply::{self, Executor};
use crate::cli::{Cli, Command, DryRun};
use crate::error::{Error, Result};
use crate::fixes::kube_proxy::{self as fix, Observed};
use crate::kube::{self as k, Kube};
use crate::output::interact::{Step, go_duration};
use crate::output::interrupt;
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime};

/// Run the command (its flags are in `cli.command`, the global ones in `cli.global`).
pub async fn run(cli: &Cli) -> Result<Outcome> {
    let Command::KubeProxy {
        write,
        gitops,
        timeout,
    } = &cli.command
    else {
        return Err(Error::Internal("wrong command".into()));
    };
    let mut kube =
        Kube::connect(&cli.global, cli.global.context.first().map(String::as_str)).await?;
    kube.server_dry_run = write.dry_run == DryRun::Server;
    let exec = Executor {
        gitops: gitops
            .gitops_dir
            .as_deref()
            .map(|dir| apply::GitOpsOut { dir, values: None }),
        ..Executor::new(&kube, write, "kube-proxy")
    };
    let ran = exec
        .run(async || {
            let obs = observe(&kube).await?;
            let now = fix::rfc3339(SystemTime::now());
            fix::plan(&obs, &now).map(|(p, _)| p)
        })
        .await?;
    let restarted = ran
        .applied
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
    if let Some(fmt) = write.output
        && write.dry_run != DryRun::Client
    {
        apply::print_document(fmt, &ran.document("kube-proxy", write, kube.server_dry_run));
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

/// Wait until the DaemonSet's rollout finished, as `kubectl rollout status` decides it.
async fn wait_rollout(kube: &Kube, ns: Option<&str>, name: &str, timeout: Duration) -> Result<()> {
    let label = format!(
        "rollout of DaemonSet {}/{name}",
        ns.unwrap_or("kube-system")
    );
    let ns_shown = ns.unwrap_or("kube-system");
    // Ctrl-C from here on: the config is written, the rollout is checked with kubectl.
    interrupt::check_with(format!(
        "`kubectl -n {ns_shown} rollout status daemonset/{name}` or `kubectl promfix doctor`"
    ));
    let mut step = Step::start(label.clone());
    let start = Instant::now();
    let deadline = start + timeout;
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
                step.fail(&e.to_string());
                return Ok(());
            }
        };
        let progress = fix::rollout_progress(&ds);
        if Instant::now() >= deadline {
            step.fail(&format!(
                "not finished after {} (--timeout): {progress}",
                go_duration(timeout)
            ));
            return Err(Error::Rollout {
                namespace: ns_shown.to_string(),
                name: name.to_string(),
                timeout: go_duration(timeout),
                last,
            });
        }
        step.progress(&progress, start.elapsed(), timeout);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
