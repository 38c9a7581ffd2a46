//! `kubectl promfix doctor`: read-only diagnosis of every control-plane scrape, one table per
//! cluster (`--context` repeated, or `--all-contexts`, concurrently). Exit 3 when a problem is
//! found, 0 when none.

use crate::Outcome;
use crate::cli::{Cli, Command, Output};
use crate::doctor::{self, Report, Status};
use crate::error::{Error, Result};
use crate::kube::Kube;
use serde_json::json;

/// One cluster's result: its report, or why it could not be read.
type ClusterResult = (String, Result<Report>);

async fn one(cli: &Cli, context: Option<String>) -> ClusterResult {
    let label = context.clone().unwrap_or_default();
    let kube = match Kube::connect(&cli.global, context.as_deref()).await {
        Ok(k) => k,
        Err(e) => return (label, Err(e)),
    };
    let ctx = kube.context.clone();
    let ev = doctor::collect::collect(
        &kube,
        cli.global.namespace.as_deref(),
        cli.global.verbose > 0,
    )
    .await;
    (ctx.clone(), Ok(doctor::diagnose(&ctx, &ev)))
}

/// Run the command (its flags are in `cli.command`, the global ones in `cli.global`).
pub async fn run(cli: &Cli) -> Result<Outcome> {
    let Command::Doctor {
        all_contexts,
        output,
    } = &cli.command
    else {
        return Err(Error::Other("internal: wrong command".into()));
    };
    let contexts: Vec<Option<String>> = if *all_contexts {
        let all = Kube::contexts(&cli.global)?;
        if all.is_empty() {
            return Err(Error::Kubeconfig("the kubeconfig has no contexts".into()));
        }
        all.into_iter().map(Some).collect()
    } else if cli.global.context.is_empty() {
        vec![None]
    } else {
        let mut seen = Vec::new();
        for c in &cli.global.context {
            if !seen.contains(c) {
                seen.push(c.clone());
            }
        }
        seen.into_iter().map(Some).collect()
    };
    let results: Vec<ClusterResult> =
        futures::future::join_all(contexts.into_iter().map(|c| one(cli, c))).await;

    // A single cluster that cannot be read is an error (exit 1); with several, the others are
    // still reported and the failures named.
    if results.len() == 1
        && let Err(_) = &results[0].1
    {
        let (_, r) = results.into_iter().next().expect("one result");
        return r.map(|_| Outcome::Ok);
    }
    let problems: usize = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .map(Report::problems)
        .sum();
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(c, r)| r.as_ref().err().map(|e| format!("{c}: {e}")))
        .collect();
    match output {
        Some(Output::Json) | Some(Output::Yaml) => {
            let clusters: Vec<serde_json::Value> = results
                .iter()
                .map(|(c, r)| match r {
                    Ok(rep) => serde_json::to_value(rep).unwrap_or_default(),
                    Err(e) => json!({"context": c, "error": e.to_string()}),
                })
                .collect();
            let doc = json!({"problems": problems, "clusters": clusters});
            let text = if *output == Some(Output::Yaml) {
                serde_yaml_ng::to_string(&doc).map_err(|e| Error::Other(e.to_string()))?
            } else {
                serde_json::to_string_pretty(&doc).map_err(|e| Error::Other(e.to_string()))?
            };
            println!("{text}");
        }
        None => {
            let many = results.len() > 1;
            for (c, r) in &results {
                match r {
                    Ok(rep) => print!("{}", render(rep, many, cli.global.verbose > 0)),
                    Err(e) => println!("== {c}: cannot be diagnosed: {e}\n"),
                }
            }
        }
    }
    if problems > 0 {
        return Ok(Outcome::Problems);
    }
    if !failed.is_empty() {
        return Err(Error::Other(format!(
            "could not diagnose: {}",
            failed.join("; ")
        )));
    }
    Ok(Outcome::Ok)
}

/// The human table of one cluster: a line per component, then cause, evidence and fix of each
/// component that is not ok.
pub fn render(rep: &Report, header: bool, verbose: bool) -> String {
    let mut out = String::new();
    if header {
        out.push_str(&format!("== context {}\n", rep.context));
    }
    if !rep.prometheus.is_empty() {
        out.push_str(&format!("Prometheus: {}\n", rep.prometheus.join(", ")));
    }
    out.push_str(&format!(
        "{:<25} {:<8} {:<9} {}\n",
        "COMPONENT", "STATUS", "TARGETS", "CAUSE"
    ));
    for r in &rep.rows {
        let status = match r.status {
            Status::Ok => "ok",
            Status::Problem => "PROBLEM",
            Status::Unknown => "unknown",
        };
        out.push_str(&format!(
            "{:<25} {:<8} {:<9} {}\n",
            r.component.name(),
            status,
            r.targets,
            r.cause
        ));
    }
    for r in rep
        .rows
        .iter()
        .filter(|r| r.status == Status::Problem || (verbose && !r.evidence.is_empty()))
    {
        out.push_str(&format!("\n{}:\n", r.component.name()));
        for e in &r.evidence {
            out.push_str(&format!("  evidence: {e}\n"));
        }
        for f in &r.fix {
            out.push_str(&format!("  fix: {f}\n"));
        }
    }
    for w in &rep.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out.push('\n');
    out
}
