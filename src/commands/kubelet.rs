//! `kubectl promfix kubelet`: read every node's kubelet `/configz` through `nodes/proxy`
//! (bounded concurrency), report the kubelets that refuse Prometheus' token, and print (or write
//! with `--script FILE`) the node-side fix. Writes nothing to the cluster.

use crate::Outcome;
use crate::cli::{Cli, Command, Output};
use crate::error::{Error, Result, api_message};
use crate::fixes::kubelet::{self as fix, Finding};
use crate::kube::{self as k, Kube};
use futures::StreamExt;
use serde_json::{Value, json};

/// How many `/configz` reads run at once.
const CONCURRENCY: usize = 8;

/// Run the command (its flags are in `cli.command`, the global ones in `cli.global`).
pub async fn run(cli: &Cli) -> Result<Outcome> {
    let Command::Kubelet { script, output } = &cli.command else {
        return Err(Error::Internal("wrong command".into()));
    };
    let kube = Kube::connect(&cli.global, cli.global.context.first().map(String::as_str)).await?;
    let nodes = kube.list(&k::NODES, None, None).await?;
    let names: Vec<String> = nodes
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    let findings = read_configz(&kube, names).await;
    let affected: Vec<&str> = findings
        .iter()
        .filter(|f| f.affected)
        .map(|f| f.node.as_str())
        .collect();
    let kubeadm = !affected.is_empty() && kubeadm_config_map(&kube).await;
    let mut script_path = None;
    if let Some(p) = script {
        write_script(p, &fix::script(&affected, kubeadm))?;
        eprintln!("script written to {}", p.display());
        script_path = Some(p.display().to_string());
    }
    show(
        &findings,
        &affected,
        script_path.as_deref(),
        kubeadm,
        *output,
    );
    if findings.iter().all(|f| f.error.is_some()) && !findings.is_empty() {
        return Err(Error::NoConfigz {
            first: findings[0].error.clone().unwrap_or_default(),
        });
    }
    Ok(Outcome::Ok)
}

/// Every node's `/configz`, assessed (at most CONCURRENCY reads at once), sorted by node.
async fn read_configz(kube: &Kube, names: Vec<String>) -> Vec<Finding> {
    let mut findings: Vec<Finding> = futures::stream::iter(names)
        .map(|node| {
            let kube = kube.clone();
            async move {
                let path = format!("/api/v1/nodes/{node}/proxy/configz");
                match kube.get_text(&path).await {
                    Ok(body) => match serde_json::from_str::<Value>(&body) {
                        Ok(v) => fix::assess(&node, &v),
                        Err(e) => fix::unknown(&node, format!("not JSON: {e}")),
                    },
                    Err(e) => fix::unknown(&node, api_message(&e)),
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    findings.sort_by(|a, b| a.node.cmp(&b.node));
    findings
}

/// kubeadm writes the nodes' kubelet config back from its ConfigMap on upgrades: the fix names
/// it when it exists (unreadable: not named, with a warning).
async fn kubeadm_config_map(kube: &Kube) -> bool {
    match kube
        .get_opt(&k::CONFIGMAPS, Some("kube-system"), "kubelet-config")
        .await
    {
        Ok(cm) => cm.is_some(),
        Err(e) => {
            eprintln!(
                "warning: cannot tell whether this is kubeadm (ConfigMap {}): {e}",
                fix::KUBEADM_CONFIG_MAP
            );
            false
        }
    }
}

/// The findings as a document (`-o`) or the table with the fix.
fn show(
    findings: &[Finding],
    affected: &[&str],
    script_path: Option<&str>,
    kubeadm: bool,
    output: Option<Output>,
) {
    match output {
        Some(fmt) => {
            let v = json!({
                "nodes": findings,
                "affected": affected,
                "script": script_path,
                "kubeadmConfigMap": kubeadm.then_some(fix::KUBEADM_CONFIG_MAP),
            });
            let text = match fmt {
                Output::Json => serde_json::to_string_pretty(&v).unwrap_or_default() + "\n",
                Output::Yaml => serde_yaml_ng::to_string(&v).unwrap_or_default(),
            };
            print!("{text}");
        }
        None => print!("{}", fix::render(findings, script_path, kubeadm)),
    }
}

/// Write the script, mode 0755 (replacing an older one).
fn write_script(path: &std::path::Path, text: &str) -> Result<()> {
    let err = |source: std::io::Error| Error::File {
        what: "cannot write the script",
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(path, text).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(err)?;
    }
    Ok(())
}
