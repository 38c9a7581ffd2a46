//! `kubectl promfix doctor`: read-only diagnosis of every control-plane scrape, one table per
//! cluster (`--context` repeated, or `--all-contexts`, concurrently). Exit 0 when every row was
//! checked and none is a problem; 3 when a problem is found or some row could not be checked
//! (unknown because of an error); 1 when nothing could be checked (unreachable server, no
//! operator, no Prometheus). What could not be checked is named on stderr, as `error:` lines.

use crate::Outcome;
use crate::cli::{Cli, Command, Output};
use crate::doctor::{self, Report, Status};
use crate::error::{Error, Result};
use crate::kube::Kube;
use serde_json::json;

/// One cluster's result: its report, or why it could not be read.
pub type ClusterResult = (String, Result<Report>);

async fn one(
    cli: &Cli,
    context: Option<String>,
    node_certs: &[crate::certs::life::FileCert],
) -> ClusterResult {
    let label = context.clone().unwrap_or_default();
    let kube = match Kube::connect(&cli.global, context.as_deref()).await {
        Ok(k) => k,
        Err(e) => return (label, Err(e)),
    };
    let ctx = kube.context.clone();
    // A server that does not answer: one clear error, not a warning per collector.
    let git_version = match kube.reachable().await {
        Ok(v) => v,
        Err(e) => return (ctx, Err(e)),
    };
    let mut ev = doctor::collect::collect(
        &kube,
        cli.global.namespace.as_deref(),
        git_version,
        cli.global.verbose > 0,
    )
    .await;
    ev.node_certs = node_certs.to_vec();
    (ctx.clone(), Ok(doctor::diagnose(&ctx, &ev)))
}

/// The contexts to check: every one of the kubeconfig, the ones given (each once), or the
/// current one (None).
fn contexts(cli: &Cli, all_contexts: bool) -> Result<Vec<Option<String>>> {
    if all_contexts {
        let all = Kube::contexts(&cli.global)?;
        if all.is_empty() {
            return Err(Error::Kubeconfig("the kubeconfig has no contexts".into()));
        }
        return Ok(all.into_iter().map(Some).collect());
    }
    if cli.global.context.is_empty() {
        return Ok(vec![None]);
    }
    let mut seen = Vec::new();
    for c in &cli.global.context {
        if !seen.contains(c) {
            seen.push(c.clone());
        }
    }
    Ok(seen.into_iter().map(Some).collect())
}

/// Run the command (its flags are in `cli.command`, the global ones in `cli.global`).
pub async fn run(cli: &Cli) -> Result<Outcome> {
    let Command::Doctor {
        all_contexts,
        from_dir,
        output,
    } = &cli.command
    else {
        return Err(Error::Internal("wrong command".into()));
    };
    let contexts = contexts(cli, *all_contexts)?;
    // The files first: a wrong --from-dir is an error before any request.
    let node_certs = super::node_client_certs(from_dir.as_deref())?;
    let results: Vec<ClusterResult> =
        futures::future::join_all(contexts.into_iter().map(|c| one(cli, c, &node_certs))).await;
    let many = results.len() > 1;
    match output {
        Some(fmt) => println!("{}", document(&results, *fmt)?),
        None => {
            for (_, r) in &results {
                // Nothing checked: the rows would all say `unknown`; the error says why.
                if let Ok(rep) = r
                    && rep.checked_any()
                {
                    print!("{}", render(rep, many, cli.global.verbose > 0));
                }
            }
        }
    }
    // Warnings, then what could not be checked, on stderr.
    let label = |c: &str| {
        if many {
            format!("[{c}] ")
        } else {
            String::new()
        }
    };
    for (c, r) in &results {
        if let Ok(rep) = r {
            for w in &rep.warnings {
                eprintln!("warning: {}{w}", label(c));
            }
        }
    }
    let verdict = verdict(&results);
    match verdict {
        Verdict::NothingChecked => {
            // A single cluster's own error (unreachable, kubeconfig) as it is.
            if results.len() == 1 {
                let (_, r) = results.into_iter().next().expect("one result");
                match r {
                    Err(e) => return Err(e),
                    Ok(rep) => return Err(Error::NothingChecked(rep.errors)),
                }
            }
            return Err(Error::NothingChecked(
                results.iter().flat_map(|(c, r)| reasons(c, r)).collect(),
            ));
        }
        Verdict::Problems | Verdict::Ok => {
            for (c, r) in &results {
                for e in reasons(c, r) {
                    let e = e.strip_prefix(&format!("{c}: ")).unwrap_or(&e).to_string();
                    eprintln!("error: {}cannot check: {e}", label(c));
                }
            }
        }
    }
    Ok(match verdict {
        Verdict::Ok => Outcome::Ok,
        _ => Outcome::Problems,
    })
}

/// What one cluster could not check: its errors (or why it could not be read at all).
fn reasons(context: &str, r: &Result<Report>) -> Vec<String> {
    match r {
        Err(e) => vec![format!("{context}: {e}")],
        Ok(rep) if rep.unchecked() > 0 => rep
            .errors
            .iter()
            .map(|e| format!("{context}: {e}"))
            .collect(),
        Ok(_) => Vec::new(),
    }
}

/// How a doctor run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every row of every cluster checked, no problem.
    Ok,
    /// A problem found, or some rows (or clusters) could not be checked: exit 3.
    Problems,
    /// Not a single row could be checked: exit 1.
    NothingChecked,
}

/// The verdict over all clusters (pure: the exit code's rule).
pub fn verdict(results: &[ClusterResult]) -> Verdict {
    let reports: Vec<&Report> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .collect();
    if !reports.iter().any(|r| r.checked_any()) {
        return Verdict::NothingChecked;
    }
    let failed = results.iter().any(|(_, r)| r.is_err());
    let unchecked = reports.iter().any(|r| r.unchecked() > 0);
    let problems = reports.iter().any(|r| r.problems() > 0);
    if failed || unchecked || problems {
        Verdict::Problems
    } else {
        Verdict::Ok
    }
}

/// The `-o json|yaml` document: every cluster's report (or its error), with the counts.
fn document(results: &[ClusterResult], fmt: Output) -> Result<String> {
    let problems: usize = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .map(Report::problems)
        .sum();
    let unchecked: usize = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .map(Report::unchecked)
        .sum();
    let clusters: Vec<serde_json::Value> = results
        .iter()
        .map(|(c, r)| match r {
            Ok(rep) => serde_json::to_value(rep).unwrap_or_default(),
            Err(e) => json!({"context": c, "error": e.to_string()}),
        })
        .collect();
    let doc = json!({"problems": problems, "unchecked": unchecked, "clusters": clusters});
    match fmt {
        Output::Yaml => serde_yaml_ng::to_string(&doc)
            .map(|t| t.trim_end().to_string())
            .map_err(|source| Error::Yaml {
                what: "internal: the report does not serialize".into(),
                source,
            }),
        Output::Json => serde_json::to_string_pretty(&doc).map_err(|source| Error::Json {
            what: "internal: the report does not serialize".into(),
            source,
        }),
    }
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
    if let Some(m) = &rep.managed {
        out.push_str(&format!(
            "Control plane: run by {} ({})\n",
            m.provider,
            m.signs.join("; ")
        ));
    }
    // The status column as wide as its widest value (8 at least, as before).
    let sw = rep
        .rows
        .iter()
        .map(|r| r.status.word().len())
        .chain([8])
        .max()
        .unwrap_or(8);
    out.push_str(&format!(
        "{:<25} {:<sw$} {:<9} {}\n",
        "COMPONENT", "STATUS", "TARGETS", "CAUSE"
    ));
    for r in &rep.rows {
        out.push_str(&format!(
            "{:<25} {:<sw$} {:<9} {}\n",
            r.component.name(),
            r.status.word(),
            r.targets_text(),
            r.cause
        ));
    }
    for r in rep.rows.iter().filter(|r| {
        (r.status != Status::Ok && !r.fix.is_empty()) || (verbose && !r.evidence.is_empty())
    }) {
        out.push_str(&format!("\n{}:\n", r.component.name()));
        for e in &r.evidence {
            out.push_str(&format!("  evidence: {e}\n"));
        }
        for f in &r.fix {
            out.push_str(&format!("  fix: {f}\n"));
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{Component, Evidence, Targets};

    /// A report with etcd's targets as given; the other components scraped and up unless
    /// `errors` (then only etcd has targets).
    fn report(targets_read: bool, errors: &[&str], etcd: Option<(&str, &str)>) -> Report {
        let mut ev = Evidence {
            targets_read,
            errors: errors.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        };
        if let Some((health, err)) = etcd {
            for c in Component::ALL {
                let mut t = Targets::default();
                if c != Component::Etcd && !errors.is_empty() {
                    continue;
                }
                if c == Component::Etcd {
                    t.add("kube-etcd", health, "https://10.0.0.1:2379/metrics", err);
                } else {
                    t.add(c.job(), "up", "https://10.0.0.2:1/metrics", "");
                }
                ev.targets.insert(c, t);
            }
        }
        doctor::diagnose("c", &ev)
    }

    #[test]
    fn exit_codes_of_doctor() {
        let ok = || ("a".to_string(), Ok(report(true, &[], Some(("up", "")))));
        let dead = || {
            (
                "b".to_string(),
                Err(Error::Input("the connection was refused".into())),
            )
        };
        let nothing = || ("c".to_string(), Ok(report(false, &["no operator"], None)));
        let partly = || {
            (
                "d".to_string(),
                Ok(report(
                    true,
                    &["cannot read Prometheus x/y"],
                    Some(("up", "")),
                )),
            )
        };
        let problem = || {
            (
                "e".to_string(),
                Ok(report(
                    true,
                    &[],
                    Some(("down", "remote error: tls: certificate required")),
                )),
            )
        };
        assert_eq!(verdict(&[ok()]), Verdict::Ok);
        // Nothing read, for whatever reason: exit 1.
        assert_eq!(verdict(&[dead()]), Verdict::NothingChecked);
        assert_eq!(verdict(&[nothing()]), Verdict::NothingChecked);
        assert_eq!(verdict(&[dead(), nothing()]), Verdict::NothingChecked);
        // Some rows unknown because of an error, or a problem: exit 3.
        assert_eq!(verdict(&[partly()]), Verdict::Problems);
        assert_eq!(verdict(&[problem()]), Verdict::Problems);
        assert_eq!(verdict(&[ok(), dead()]), Verdict::Problems);
        assert_eq!(verdict(&[ok(), nothing()]), Verdict::Problems);
        assert_eq!(
            reasons("d", &partly().1),
            vec!["d: cannot read Prometheus x/y"]
        );
        assert!(reasons("a", &ok().1).is_empty());
    }
}
