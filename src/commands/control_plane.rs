//! `kubectl promfix control-plane`: observe → plan (ServiceMonitors, Services, Endpoints to the
//! secure ports) → show → confirm → pre-flight → back up → apply (`apply::Executor`: re-plan on
//! 409), then print the node-side manifest edits.

use crate::Outcome;
use crate::apply::{self, Executor};
use crate::cli::{Cli, Command, DryRun};
use crate::error::{Error, Result};
use crate::fixes::control_plane::{self as fix, Observed, Wanted};
use crate::kube::{self as k, Kube};

/// Run the command (its flags are in `cli.command`, the global ones in `cli.global`).
pub async fn run(cli: &Cli) -> Result<Outcome> {
    let Command::ControlPlane {
        write,
        helm,
        gitops,
        ca_file,
    } = &cli.command
    else {
        return Err(Error::Internal("wrong command".into()));
    };
    if let Some(ca) = ca_file
        && !ca.starts_with('/')
    {
        return Err(Error::Input(format!(
            "--ca-file {ca:?}: give the absolute path of the CA file inside the Prometheus pods (e.g. /etc/prometheus/secrets/<secret>/ca.crt)"
        )));
    }
    let w = Wanted {
        ca_file: ca_file.clone(),
    };
    let mut kube =
        Kube::connect(&cli.global, cli.global.context.first().map(String::as_str)).await?;
    kube.server_dry_run = write.dry_run == DryRun::Server;
    if !kube.serves(&k::SERVICEMONITORS).await? {
        return Err(Error::NotFound {
            what: "the Prometheus Operator (monitoring.coreos.com/v1 servicemonitors)".into(),
            hint: "this cluster does not serve the operator's resources; install kube-prometheus-stack or kube-prometheus first".into(),
        });
    }
    let mut edits = Vec::new();
    let first_obs: std::cell::RefCell<Option<Observed>> = std::cell::RefCell::new(None);
    let values = |_: &crate::plan::Plan| {
        let obs = first_obs.borrow();
        obs.as_ref().map(|o| fix::helm_values(o, &w))
    };
    let exec = Executor {
        gitops: gitops.gitops_dir.as_deref().map(|dir| apply::GitOpsOut {
            dir,
            values: Some(&values),
        }),
        ..Executor::new(&kube, write, "control-plane")
    };
    let ran = exec
        .run(async || {
            let obs = observe(&kube).await?;
            let (plan, e) = fix::plan(&obs, &w);
            edits = e;
            if first_obs.borrow().is_none() {
                *first_obs.borrow_mut() = Some(obs);
            }
            Ok(plan)
        })
        .await?;
    if let (Some(path), Some(obs)) = (&helm.helm_values, &*first_obs.borrow()) {
        apply::write_helm_values(path, &fix::helm_values(obs, &w), &[])?;
    }
    match write.output {
        // With -o, stdout is the objects (client dry run) or the one document.
        Some(_) => eprint!("{}", fix::render_edits(&edits)),
        None => print!("{}", fix::render_edits(&edits)),
    }
    if let Some(fmt) = write.output
        && write.dry_run != DryRun::Client
    {
        let mut doc = ran.document("control-plane", write, kube.server_dry_run);
        doc["nodeEdits"] = serde_json::to_value(&edits).unwrap_or_default();
        apply::print_document(fmt, &doc);
    }
    Ok(Outcome::Ok)
}

/// Every ServiceMonitor; the Services and Endpoints of the namespaces the component monitors
/// select (kube-system at least); kube-system's control-plane pods.
async fn observe(kube: &Kube) -> Result<Observed> {
    let (sms, pods) = tokio::try_join!(
        kube.list(&k::SERVICEMONITORS, None, None),
        kube.list(&k::PODS, Some("kube-system"), Some("tier=control-plane")),
    )?;
    let mut namespaces: Vec<Option<String>> = vec![Some("kube-system".into())];
    let probe = Observed {
        service_monitors: sms.clone(),
        ..Default::default()
    };
    for c in &fix::COMPONENTS {
        for sm in fix::monitors(&probe, c) {
            let own = sm["metadata"]["namespace"].as_str().unwrap_or("default");
            let nss = &sm["spec"]["namespaceSelector"];
            if nss["any"] == true {
                namespaces = vec![None];
                break;
            }
            let names: Vec<String> = match nss["matchNames"].as_array() {
                Some(a) if !a.is_empty() => a
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect(),
                _ => vec![own.to_string()],
            };
            for n in names {
                if !namespaces.contains(&Some(n.clone())) && !namespaces.contains(&None) {
                    namespaces.push(Some(n));
                }
            }
        }
    }
    let mut obs = Observed {
        service_monitors: sms,
        pods,
        ..Default::default()
    };
    for n in &namespaces {
        let (svcs, eps) = tokio::try_join!(
            kube.list(&k::SERVICES, n.as_deref(), None),
            kube.list(&k::ENDPOINTS, n.as_deref(), None),
        )?;
        obs.services.extend(svcs);
        obs.endpoints.extend(eps);
    }
    Ok(obs)
}
