//! The kube-proxy fix, as pure functions: kube-proxy serves its metrics on `metricsBindAddress`,
//! which kubeadm leaves at its default `127.0.0.1:10249` (empty in the ConfigMap, or written
//! out): Prometheus, scraping the node IP, gets `connection refused`.
//!
//! 1. The ConfigMap holding kube-proxy's `--config` file, found through the DaemonSet (the
//!    container's `--config=PATH`, the volumeMount under which PATH lies, that volume's
//!    ConfigMap and key; kubeadm: ConfigMap `kube-proxy`, key `config.conf`), gets
//!    `metricsBindAddress: 0.0.0.0:<port>` (`"[::]:<port>"` when the address or kube-proxy's
//!    `bindAddress` is IPv6). The embedded YAML is edited as text: exactly one
//!    line changes (or one line is appended when the field is absent); comments, key order,
//!    quoting and every other line stay as they were.
//! 2. The DaemonSet is restarted as `kubectl rollout restart` does it (kubectl
//!    polymorphichelpers/objectrestarter.go: `spec.template.metadata.annotations
//!    ["kubectl.kubernetes.io/restartedAt"] = time.Now().Format(time.RFC3339)`, sent as a
//!    strategic merge patch), because kube-proxy reads its config file only at start.
//!
//! A restart is planned when the ConfigMap changes now, or when it was changed by this tool
//! (its managedFields entry's time) after some kube-proxy pod started: a run that stopped
//! between the two writes finishes the job when repeated, a repeated run after success writes
//! nothing.

use crate::error::{Error, Result};
use crate::json::str_list;
use crate::kube::FIELD_MANAGER;
use crate::plan::{Change, ObjectRef, Op, Plan, guarded_merge_patch, helm_release};
use serde_json::{Value, json};

/// kube-proxy's metrics port (`ports.ProxyStatusPort`).
pub const METRICS_PORT: u16 = 10249;
/// The annotation `kubectl rollout restart` sets on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// What the fix reads: kube-system's DaemonSets and ConfigMaps, and the pods of the kube-proxy
/// DaemonSet.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub daemonsets: Vec<Value>,
    pub configmaps: Vec<Value>,
    pub pods: Vec<Value>,
    /// kube-system's Services (to check that one selects kube-proxy on its metrics port).
    pub services: Vec<Value>,
}

/// Where kube-proxy's configuration file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSource {
    pub namespace: String,
    pub daemonset: String,
    pub configmap: String,
    pub key: String,
    /// The `--config` path inside the container.
    pub path: String,
}

/// The kube-proxy container of a pod template: named `kube-proxy`, or running a `kube-proxy`
/// binary.
fn proxy_container(ds: &Value) -> Option<&Value> {
    let cs = ds["spec"]["template"]["spec"]["containers"].as_array()?;
    cs.iter().find(|c| c["name"] == "kube-proxy").or_else(|| {
        cs.iter().find(|c| {
            str_list(&c["command"])
                .first()
                .is_some_and(|a| a.rsplit('/').next() == Some("kube-proxy"))
        })
    })
}

/// The kube-proxy DaemonSet: the one with a kube-proxy container (kubeadm's `k8s-app:
/// kube-proxy` first when several).
pub fn find_daemonset(daemonsets: &[Value]) -> Result<&Value> {
    let with: Vec<&Value> = daemonsets
        .iter()
        .filter(|d| proxy_container(d).is_some())
        .collect();
    match with.as_slice() {
        [] => Err(Error::Input("no kube-proxy DaemonSet in kube-system (a DaemonSet with a container named kube-proxy); \
                   clusters without kube-proxy (Cilium kube-proxy replacement, some managed clusters) do not need this fix"
            .into())),
        [one] => Ok(one),
        many => many
            .iter()
            .find(|d| d["metadata"]["labels"]["k8s-app"] == "kube-proxy")
            .copied()
            .ok_or_else(|| {
                Error::Input(format!(
                    "several kube-proxy DaemonSets in kube-system: {}",
                    many.iter()
                        .map(|d| d["metadata"]["name"].as_str().unwrap_or(""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }),
    }
}

/// The value of a `--flag=value` or `--flag value` argument.
fn flag_value(args: &[String], flag: &str) -> Option<String> {
    for (i, a) in args.iter().enumerate() {
        if let Some(rest) = a.strip_prefix(flag) {
            if let Some(v) = rest.strip_prefix('=') {
                return Some(v.to_string());
            }
            if rest.is_empty() {
                return args.get(i + 1).cloned();
            }
        }
    }
    None
}

/// Follow the DaemonSet's `--config` path to a ConfigMap key.
pub fn config_source(ds: &Value) -> Result<ConfigSource> {
    let dsname = ds["metadata"]["name"].as_str().unwrap_or("").to_string();
    let ns = ds["metadata"]["namespace"]
        .as_str()
        .unwrap_or("kube-system")
        .to_string();
    let c = proxy_container(ds)
        .ok_or_else(|| Error::Input("the DaemonSet has no kube-proxy container".into()))?;
    let args: Vec<String> = str_list(&c["command"])
        .into_iter()
        .chain(str_list(&c["args"]))
        .collect();
    let path = flag_value(&args, "--config").ok_or_else(|| {
        Error::Input(format!(
            "DaemonSet {ns}/{dsname} runs kube-proxy without --config: its flags are its configuration\n  \
             hint: add --metrics-bind-address=0.0.0.0:{METRICS_PORT} to the container's command"
        ))
    })?;
    // The deepest mount containing the path.
    let mounts = c["volumeMounts"].as_array().cloned().unwrap_or_default();
    let mount = mounts
        .iter()
        .filter_map(|m| {
            let mp = m["mountPath"].as_str()?.trim_end_matches('/');
            let rest = path.strip_prefix(mp)?.strip_prefix('/')?;
            Some((mp.len(), m, rest.to_string()))
        })
        .max_by_key(|(l, _, _)| *l)
        .ok_or_else(|| {
            Error::Input(format!(
                "no volume of DaemonSet {ns}/{dsname} is mounted at {path}"
            ))
        })?;
    let (_, m, rel) = mount;
    let rel = match m["subPath"].as_str().filter(|s| !s.is_empty()) {
        Some(sp) => format!("{sp}/{rel}"),
        None => rel,
    };
    let vname = m["name"].as_str().unwrap_or("");
    let vol = ds["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == vname))
        .ok_or_else(|| {
            Error::Input(format!(
                "DaemonSet {ns}/{dsname} mounts volume {vname:?}, which it does not define"
            ))
        })?;
    let cm = vol["configMap"]["name"].as_str().ok_or_else(|| {
        Error::Input(format!(
            "kube-proxy's config {path} comes from volume {vname:?}, which is not a ConfigMap; edit it where it comes from"
        ))
    })?;
    // `items` map keys to paths; without them every key is a file of its own name.
    let key = match vol["configMap"]["items"].as_array() {
        Some(items) => items
            .iter()
            .find(|i| i["path"].as_str() == Some(rel.as_str()))
            .and_then(|i| i["key"].as_str())
            .map(str::to_string)
            .ok_or_else(|| {
                Error::Input(format!("ConfigMap volume {vname:?} has no item at {rel}"))
            })?,
        None => rel,
    };
    Ok(ConfigSource {
        namespace: ns,
        daemonset: dsname,
        configmap: cm.to_string(),
        key,
        path,
    })
}

/// Split ` # comment` off a plain or quoted scalar.
fn split_comment(s: &str) -> (&str, &str) {
    let mut quote: Option<char> = None;
    let mut prev_space = true;
    for (i, ch) in s.char_indices() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => {}
            None if (ch == '"' || ch == '\'') && prev_space => quote = Some(ch),
            None if ch == '#' && prev_space => return (&s[..i], &s[i..]),
            None => {}
        }
        prev_space = ch == ' ' || ch == '\t';
    }
    (s, "")
}

/// Whether a bind address (`host:port`) listens beyond loopback: `0.0.0.0`, `[::]` or an
/// empty host (Go's `:10249`).
pub fn binds_all(addr: &str) -> bool {
    match addr.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => matches!(
            h.trim_start_matches('[').trim_end_matches(']'),
            "0.0.0.0" | "::" | ""
        ),
        _ => false,
    }
}

/// The port of a bind address, else kube-proxy's default.
fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(METRICS_PORT)
}

/// A bind address as a YAML scalar (`[::]:10249` must be quoted: `[` starts a flow sequence).
fn quoted(addr: &str) -> String {
    if addr.starts_with('[') {
        format!("\"{addr}\"")
    } else {
        addr.to_string()
    }
}

/// The current `metricsBindAddress` of a kube-proxy config file (Some("") when absent, None
/// when the file is not YAML): the one reader doctor and the fix share.
pub fn metrics_bind_address(config: &str) -> Option<String> {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(config).ok()?;
    Some(yaml_str(&v, "metricsBindAddress").to_string())
}

/// A top-level string field of a YAML mapping ("" when absent or not a string).
fn yaml_str<'a>(v: &'a serde_yaml_ng::Value, key: &str) -> &'a str {
    v.get(key).and_then(|x| x.as_str()).unwrap_or("")
}

/// The config with `metricsBindAddress: 0.0.0.0:<port>` (the port kept when one was set), or
/// None when it already listens on every address. Only that line changes; a missing field is
/// appended as one line. The result is checked: it parses, and differs from the input in that
/// field only.
pub fn set_metrics_bind_address(config: &str) -> Result<Option<String>> {
    let parsed: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(config).map_err(|source| Error::Yaml {
            what: "kube-proxy's config is not YAML".into(),
            source,
        })?;
    if !parsed.is_mapping() {
        return Err(Error::Input(
            "kube-proxy's config is not a YAML mapping".into(),
        ));
    }
    let current = yaml_str(&parsed, "metricsBindAddress").to_string();
    if binds_all(&current) {
        return Ok(None);
    }
    // IPv6: `[::]` (kube-proxy's default follows bindAddress: `[::1]:10249` for an IPv6 one).
    let ipv6 = match current.rsplit_once(':') {
        Some((h, _)) => h.contains(':'),
        None => yaml_str(&parsed, "bindAddress").contains(':'),
    };
    let any = if ipv6 { "[::]" } else { "0.0.0.0" };
    let want = format!("{any}:{}", port_of(&current));
    let mut out = String::with_capacity(config.len() + 40);
    let mut done = false;
    for line in config.split_inclusive('\n') {
        if !done && let Some(rest) = line.strip_prefix("metricsBindAddress:") {
            let body = rest.trim_end_matches(['\n', '\r']);
            let eol = &rest[body.len()..];
            let (_, comment) = split_comment(body.trim());
            out.push_str("metricsBindAddress: ");
            out.push_str(&quoted(&want));
            if !comment.is_empty() {
                out.push(' ');
                out.push_str(comment);
            }
            out.push_str(eol);
            done = true;
        } else {
            out.push_str(line);
        }
    }
    if !done {
        let eol = if config.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(eol);
        }
        out.push_str(&format!("metricsBindAddress: {}{eol}", quoted(&want)));
    }
    // Check: the same document but for that field.
    let after: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&out).map_err(|source| Error::Yaml {
            what: "internal: the edited config does not parse".into(),
            source,
        })?;
    let mut expect = parsed.clone();
    if let Some(m) = expect.as_mapping_mut() {
        m.insert(
            serde_yaml_ng::Value::String("metricsBindAddress".into()),
            serde_yaml_ng::Value::String(want.clone()),
        );
    }
    if after != expect {
        return Err(Error::Input("kube-proxy's config has a layout this tool does not edit safely (metricsBindAddress \
                    inside a flow mapping or a multi-line value)\n  hint: set metricsBindAddress: 0.0.0.0:10249 \
                    with `kubectl -n kube-system edit configmap kube-proxy`"
            .into()));
    }
    Ok(Some(out))
}

/// What the user should know besides the changes: a `--metrics-bind-address` flag next to
/// `--config` (ignored: "This parameter is ignored if a config file is specified by --config",
/// kube-proxy's flag help; kubernetes/kubernetes#108737), and whether any Service selects the
/// kube-proxy pods on the metrics port (else no ServiceMonitor can scrape them).
fn notes(obs: &Observed, ds: &Value, config: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(c) = proxy_container(ds) {
        let args: Vec<String> = str_list(&c["command"])
            .into_iter()
            .chain(str_list(&c["args"]))
            .collect();
        if let Some(v) = flag_value(&args, "--metrics-bind-address") {
            out.push(format!(
                "the DaemonSet also passes --metrics-bind-address={v}, which kube-proxy ignores when --config is given: \
                 the config file's metricsBindAddress is what counts"
            ));
        }
    }
    let port = port_of(&metrics_bind_address(config).unwrap_or_default());
    let labels = &ds["spec"]["template"]["metadata"]["labels"];
    let selected = obs.services.iter().any(|svc| {
        let sel = &svc["spec"]["selector"];
        sel.as_object()
            .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels[k] == *v))
            && svc["spec"]["ports"].as_array().is_some_and(|ps| {
                ps.iter().any(|p| {
                    p["targetPort"].as_u64() == Some(u64::from(port))
                        || (p["targetPort"].is_null()
                            && p["port"].as_u64() == Some(u64::from(port)))
                })
            })
    });
    if !selected {
        out.push(format!(
            "no Service in kube-system selects the kube-proxy pods on port {port}: nothing scrapes them yet \
             (kube-prometheus-stack: kubeProxy.enabled: true creates the Service and ServiceMonitor)"
        ));
    }
    out
}

/// When this tool last wrote the ConfigMap (its managedFields entry), RFC 3339.
fn written_by_us_at(cm: &Value) -> Option<&str> {
    cm["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .filter(|m| m["manager"] == FIELD_MANAGER)
        .filter_map(|m| m["time"].as_str())
        .max()
}

/// The restart patch `kubectl rollout restart` sends.
pub fn restart_patch(now_rfc3339: &str) -> Value {
    json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now_rfc3339}}}}})
}

/// The plan: the ConfigMap edit and the restart. `now` is the RFC 3339 time for the restart
/// annotation.
pub fn plan(obs: &Observed, now: &str) -> Result<(Plan, ConfigSource)> {
    let ds = find_daemonset(&obs.daemonsets)?;
    let src = config_source(ds)?;
    let cm = obs
        .configmaps
        .iter()
        .find(|c| c["metadata"]["name"].as_str() == Some(src.configmap.as_str()))
        .ok_or_else(|| {
            Error::Input(format!(
                "ConfigMap {}/{} (kube-proxy's config, volume of DaemonSet {}) does not exist",
                src.namespace, src.configmap, src.daemonset
            ))
        })?;
    let text = cm["data"][&src.key].as_str().ok_or_else(|| {
        Error::Input(format!(
            "ConfigMap {}/{} has no key {:?} (kube-proxy reads {})",
            src.namespace, src.configmap, src.key, src.path
        ))
    })?;
    let mut plan = Plan::default();
    plan.notes.extend(notes(obs, ds, text));
    let edited = set_metrics_bind_address(text)?;
    if let Some(new_text) = &edited {
        let mut after = cm.clone();
        after["data"][&src.key] = json!(new_text);
        if let Some(patch) = guarded_merge_patch(cm, &after) {
            plan.changes.push(Change {
                object: ObjectRef::of(
                    "v1",
                    "ConfigMap",
                    "configmaps",
                    Some(&src.namespace),
                    &src.configmap,
                ),
                before: Some(cm.clone()),
                after: Some(after),
                op: Op::MergePatch { patch },
                reason: format!(
                    "kube-proxy serves metrics on {} only; Prometheus scrapes the node IP",
                    match metrics_bind_address(text).unwrap_or_default() {
                        a if a.is_empty() => "127.0.0.1:10249 (the default)".to_string(),
                        a => a,
                    }
                ),
                helm: helm_release(cm),
            });
        }
    }
    // Pods started before this tool's write of the config still run the old one.
    let stale = written_by_us_at(cm).is_some_and(|t| {
        obs.pods.iter().any(|p| {
            p["metadata"]["creationTimestamp"]
                .as_str()
                .is_some_and(|c| c < t)
        })
    });
    if edited.is_some() || stale {
        let mut after = ds.clone();
        after["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT] = json!(now);
        if ds["spec"]["updateStrategy"]["type"] == "OnDelete" {
            plan.notes.push(format!(
                "DaemonSet {}/{} uses updateStrategy OnDelete: the restart changes the template, but its pods are \
                 replaced only when deleted (`kubectl -n {} delete pod -l <selector>`)",
                src.namespace, src.daemonset, src.namespace
            ));
        }
        plan.changes.push(Change {
            object: ObjectRef::of(
                "apps/v1",
                "DaemonSet",
                "daemonsets",
                Some(&src.namespace),
                &src.daemonset,
            ),
            before: Some(ds.clone()),
            after: Some(after),
            op: Op::Restart {
                patch: restart_patch(now),
            },
            reason: "kube-proxy reads its config only at start: restart as `kubectl rollout restart` does"
                .into(),
            helm: helm_release(ds),
        });
    }
    Ok((plan, src))
}

/// `kubectl rollout status` for a DaemonSet (kubectl polymorphichelpers/rollout_status.go,
/// DaemonSetStatusViewer): Ok(Some(message)) while waiting, Ok(None) when done.
pub fn rollout_status(ds: &Value) -> Result<Option<String>> {
    let name = ds["metadata"]["name"].as_str().unwrap_or("");
    let strategy = ds["spec"]["updateStrategy"]["type"]
        .as_str()
        .unwrap_or("RollingUpdate");
    if strategy != "RollingUpdate" {
        return Err(Error::Input(format!(
            "rollout status is only available for RollingUpdate strategy type (DaemonSet {name} uses {strategy})"
        )));
    }
    let generation = ds["metadata"]["generation"].as_i64().unwrap_or(0);
    let st = &ds["status"];
    let observed = st["observedGeneration"].as_i64().unwrap_or(0);
    if generation > observed {
        return Ok(Some(
            "Waiting for daemon set spec update to be observed...".into(),
        ));
    }
    let desired = st["desiredNumberScheduled"].as_i64().unwrap_or(0);
    let updated = st["updatedNumberScheduled"].as_i64().unwrap_or(0);
    let available = st["numberAvailable"].as_i64().unwrap_or(0);
    if updated < desired {
        return Ok(Some(format!(
            "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."
        )));
    }
    if available < desired {
        return Ok(Some(format!(
            "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available..."
        )));
    }
    Ok(None)
}

/// The progress of a DaemonSet's rollout from its status: `1/3 pods updated, 0/3 available`
/// (out of the desired), or that the controller has not seen the new spec yet.
pub fn rollout_progress(ds: &Value) -> String {
    let generation = ds["metadata"]["generation"].as_i64().unwrap_or(0);
    let st = &ds["status"];
    if generation > st["observedGeneration"].as_i64().unwrap_or(0) {
        return "waiting for the controller to observe the new spec".into();
    }
    let n = |k: &str| st[k].as_i64().unwrap_or(0).max(0);
    let desired = n("desiredNumberScheduled");
    format!(
        "{}/{desired} pods updated, {}/{desired} available",
        n("updatedNumberScheduled"),
        n("numberAvailable")
    )
}

/// RFC 3339 in UTC (`time.RFC3339` of a UTC time: `2006-01-02T15:04:05Z`).
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    crate::certs::validate::rfc3339(i64::try_from(secs).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kubeadm v1.33's config.conf (cmd/kubeadm/app/phases/addons/proxy), with the field set
    /// as many installers write it.
    pub const KUBEADM_CONFIG: &str = include_str!("testdata/kube-proxy-config.conf");

    fn ds() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": {"k8s-app": "kube-proxy"}, "resourceVersion": "7", "generation": 1},
            "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                     "template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}},
                     "spec": {"containers": [{"name": "kube-proxy",
                        "command": ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=$(NODE_NAME)"],
                        "volumeMounts": [{"mountPath": "/var/lib/kube-proxy", "name": "kube-proxy"}, {"mountPath": "/lib/modules", "name": "lib-modules", "readOnly": true}]}],
                     "volumes": [{"name": "kube-proxy", "configMap": {"name": "kube-proxy", "defaultMode": 420}}, {"name": "lib-modules", "hostPath": {"path": "/lib/modules"}}]}}}
        })
    }

    fn cm(text: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "kube-proxy", "namespace": "kube-system", "resourceVersion": "5"},
               "data": {"config.conf": text, "kubeconfig.conf": "apiVersion: v1\nkind: Config\n"}})
    }

    #[test]
    fn finds_the_configmap_through_the_daemonset() {
        let src = config_source(&ds()).unwrap();
        assert_eq!(
            (src.configmap.as_str(), src.key.as_str()),
            ("kube-proxy", "config.conf")
        );
        // renamed ConfigMap and items: follow the volume, not the name
        let mut d = ds();
        d["spec"]["template"]["spec"]["volumes"][0]["configMap"] =
            json!({"name": "proxy-cfg", "items": [{"key": "cfg.yaml", "path": "config.conf"}]});
        let src = config_source(&d).unwrap();
        assert_eq!(
            (src.configmap.as_str(), src.key.as_str()),
            ("proxy-cfg", "cfg.yaml")
        );
        // flag form `--config PATH`
        d["spec"]["template"]["spec"]["containers"][0]["command"] =
            json!(["kube-proxy", "--config", "/var/lib/kube-proxy/config.conf"]);
        assert_eq!(config_source(&d).unwrap().key, "cfg.yaml");
        d["spec"]["template"]["spec"]["containers"][0]["command"] = json!(["kube-proxy"]);
        assert!(
            config_source(&d)
                .unwrap_err()
                .to_string()
                .contains("without --config")
        );
    }

    #[test]
    fn one_line_changes_and_every_other_line_is_kept() {
        let out = set_metrics_bind_address(KUBEADM_CONFIG).unwrap().unwrap();
        let a: Vec<&str> = KUBEADM_CONFIG.lines().collect();
        let b: Vec<&str> = out.lines().collect();
        assert_eq!(a.len(), b.len());
        let diff: Vec<(usize, &str, &str)> = a
            .iter()
            .zip(&b)
            .enumerate()
            .filter(|(_, (x, y))| x != y)
            .map(|(i, (x, y))| (i, *x, *y))
            .collect();
        assert_eq!(diff.len(), 1, "{diff:?}");
        assert_eq!(diff[0].1, "metricsBindAddress: 127.0.0.1:10249");
        assert_eq!(diff[0].2, "metricsBindAddress: 0.0.0.0:10249");
        assert_eq!(out.len(), KUBEADM_CONFIG.len() - 2);
        // again: nothing to do
        assert_eq!(set_metrics_bind_address(&out).unwrap(), None);
    }

    #[test]
    fn empty_quoted_commented_absent_and_crlf_forms() {
        assert_eq!(
            set_metrics_bind_address(
                "kind: KubeProxyConfiguration\nmetricsBindAddress: \"\"\nmode: \"\"\n"
            )
            .unwrap()
            .unwrap(),
            "kind: KubeProxyConfiguration\nmetricsBindAddress: 0.0.0.0:10249\nmode: \"\"\n"
        );
        assert_eq!(
            set_metrics_bind_address(
                "metricsBindAddress: '127.0.0.1:9999' # why\r\nmode: ipvs\r\n"
            )
            .unwrap()
            .unwrap(),
            "metricsBindAddress: 0.0.0.0:9999 # why\r\nmode: ipvs\r\n"
        );
        assert_eq!(
            set_metrics_bind_address("kind: KubeProxyConfiguration\nmode: ipvs")
                .unwrap()
                .unwrap(),
            "kind: KubeProxyConfiguration\nmode: ipvs\nmetricsBindAddress: 0.0.0.0:10249\n"
        );
        // nested key of the same name is not the field
        assert!(
            set_metrics_bind_address("x:\n  metricsBindAddress: 1\n")
                .unwrap()
                .unwrap()
                .ends_with("metricsBindAddress: 0.0.0.0:10249\n")
        );
        assert_eq!(
            set_metrics_bind_address("metricsBindAddress: '[::]:10249'\n").unwrap(),
            None
        );
        assert_eq!(
            set_metrics_bind_address("bindAddress: '::'\nmetricsBindAddress: \"\"\n")
                .unwrap()
                .unwrap(),
            "bindAddress: '::'\nmetricsBindAddress: \"[::]:10249\"\n"
        );
        assert_eq!(
            set_metrics_bind_address("metricsBindAddress: '[::1]:10249'\n")
                .unwrap()
                .unwrap(),
            "metricsBindAddress: \"[::]:10249\"\n"
        );
        assert!(set_metrics_bind_address("{metricsBindAddress: x, a: b}").is_err());
        assert!(set_metrics_bind_address(": : :\n- [").is_err());
        assert!(set_metrics_bind_address("- a\n").is_err());
    }

    #[test]
    fn plan_patches_the_configmap_then_restarts() {
        let obs = Observed {
            daemonsets: vec![ds()],
            configmaps: vec![cm(KUBEADM_CONFIG)],
            pods: vec![],
            services: vec![],
        };
        let (plan, _) = plan(&obs, "2026-01-02T03:04:05Z").unwrap();
        assert_eq!(plan.changes.len(), 2);
        assert!(plan.notes[0].contains("no Service"), "{:?}", plan.notes);
        let Op::MergePatch { patch } = &plan.changes[0].op else {
            panic!()
        };
        assert_eq!(patch["metadata"]["resourceVersion"], "5");
        assert_eq!(patch["data"].as_object().unwrap().len(), 1);
        let Op::Restart { patch } = &plan.changes[1].op else {
            panic!()
        };
        assert_eq!(
            patch,
            &json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-02T03:04:05Z"}}}}})
        );
    }

    #[test]
    fn fixed_config_restarts_only_pods_older_than_our_write() {
        let fixed = set_metrics_bind_address(KUBEADM_CONFIG).unwrap().unwrap();
        let mut c = cm(&fixed);
        c["metadata"]["managedFields"] = json!([{"manager": "kubectl-promfix", "operation": "Update", "time": "2026-01-02T03:00:00Z"}]);
        let pod = |t: &str| json!({"metadata": {"creationTimestamp": t}});
        let mut obs = Observed {
            daemonsets: vec![ds()],
            configmaps: vec![c],
            pods: vec![pod("2026-01-02T03:00:01Z")],
            services: vec![
                json!({"spec": {"selector": {"k8s-app": "kube-proxy"}, "ports": [{"name": "http-metrics", "port": 10249, "targetPort": 10249}]}}),
            ],
        };
        let (p, _) = plan(&obs, "x").unwrap();
        assert!(p.is_empty());
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        obs.pods.push(pod("2026-01-01T00:00:00Z"));
        let (p, _) = plan(&obs, "x").unwrap();
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].object.kind, "DaemonSet");
    }

    #[test]
    fn rollout_status_as_kubectl() {
        let mut d = ds();
        d["metadata"]["generation"] = json!(2);
        d["status"] = json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3});
        assert!(rollout_status(&d).unwrap().unwrap().contains("observed"));
        d["status"]["observedGeneration"] = json!(2);
        d["status"]["updatedNumberScheduled"] = json!(1);
        assert!(
            rollout_status(&d)
                .unwrap()
                .unwrap()
                .contains("1 out of 3 new pods")
        );
        d["status"]["updatedNumberScheduled"] = json!(3);
        d["status"]["numberAvailable"] = json!(2);
        assert!(
            rollout_status(&d)
                .unwrap()
                .unwrap()
                .contains("2 of 3 updated")
        );
        d["status"]["numberAvailable"] = json!(3);
        assert_eq!(rollout_status(&d).unwrap(), None);
        d["spec"]["updateStrategy"]["type"] = json!("OnDelete");
        assert!(rollout_status(&d).is_err());
    }

    #[test]
    fn rollout_progress_counts_updated_and_available_out_of_desired() {
        let mut d = ds();
        d["metadata"]["generation"] = json!(2);
        d["status"] = json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3});
        assert_eq!(
            rollout_progress(&d),
            "waiting for the controller to observe the new spec"
        );
        d["status"]["observedGeneration"] = json!(2);
        d["status"]["updatedNumberScheduled"] = json!(1);
        d["status"]["numberAvailable"] = json!(2);
        assert_eq!(rollout_progress(&d), "1/3 pods updated, 2/3 available");
        d["status"]["updatedNumberScheduled"] = json!(3);
        d["status"]["numberAvailable"] = json!(3);
        assert_eq!(rollout_progress(&d), "3/3 pods updated, 3/3 available");
        // No status yet: zero of zero, not an error.
        d.as_object_mut().unwrap().remove("status");
        d["metadata"]["generation"] = json!(0);
        assert_eq!(rollout_progress(&d), "0/0 pods updated, 0/0 available");
    }

    #[test]
    fn rfc3339_utc() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(std::time::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
