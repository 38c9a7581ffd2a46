//! `kubectl promfix etcd|secret|endpoints|servicemonitor`: local inputs first (no request before
//! they are valid), then observe → plan → show → confirm → pre-flight → back up → apply (re-read
//! and re-plan on 409, a bounded number of times).

use crate::apply::{self, Executor};
use crate::certs::{self, CertError};
use crate::cli::{DryRun, EtcdArgs, GlobalOpts, TlsFrom};
use crate::error::{Error, Result};
use crate::fixes::etcd::{self as fix, Observed, Pems, TlsMode, Wanted};
use crate::kube::{self as k, Kube};
use crate::output::interact;
use crate::plan::Plan;
use crate::selector;
use serde_json::Value;
use std::time::{Duration, SystemTime};

/// Which part of the fix a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steps {
    All,
    /// `etcd --renew`: the Secret's data only, from the current files, for a fix in place.
    Renew,
    Secret,
    Endpoints,
    ServiceMonitor,
}

impl Steps {
    fn name(self) -> &'static str {
        match self {
            Steps::All | Steps::Renew => "etcd",
            Steps::Secret => "secret",
            Steps::Endpoints => "endpoints",
            Steps::ServiceMonitor => "servicemonitor",
        }
    }
    fn secret(self) -> bool {
        matches!(self, Steps::All | Steps::Secret | Steps::Renew)
    }
    fn endpoints(self) -> bool {
        matches!(self, Steps::All | Steps::Endpoints)
    }
    fn servicemonitor(self) -> bool {
        matches!(self, Steps::All | Steps::ServiceMonitor)
    }
}

/// Where the certificate files are, from the flags, a layout directory, or the running
/// kube-apiserver's arguments on this node.
fn cert_paths(args: &EtcdArgs) -> Result<certs::intake::CertPaths> {
    let s = &args.source;
    if let (Some(ca), Some(cert), Some(key)) = (&s.ca, &s.cert, &s.key) {
        return Ok(certs::intake::CertPaths {
            ca: ca.clone(),
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    if let Some(dir) = &s.from_dir {
        let found = certs::intake::discover(dir)?;
        // One directory holds one cluster's sets (kubeadm always makes both
        // apiserver-etcd-client and healthcheck-client), all signed by the same etcd CA, listed
        // best first: without a terminal take the first rather than fail.
        if found.len() > 1 && !interact::interactive() {
            eprintln!(
                "note: {} certificate sets in {}; using {} (choose another with --ca/--cert/--key)",
                found.len(),
                dir.display(),
                found[0]
            );
            return Ok(found[0].paths.clone());
        }
        return pick_candidate(found);
    }
    // On a control-plane node: what the running kube-apiserver uses.
    if let Some(paths) = apiserver_process_paths() {
        return Ok(paths);
    }
    let mut found = Vec::new();
    for dir in [
        "/etc/kubernetes/pki",
        "/etc/ssl/etcd/ssl",
        "/var/lib/rancher/rke2/server/tls/etcd",
        "/var/lib/rancher/k3s/server/tls/etcd",
    ] {
        if let Ok(c) = certs::intake::discover(std::path::Path::new(dir)) {
            found.extend(c);
        }
    }
    if found.is_empty() {
        return Err(Error::Input(
            "no etcd client certificates given and none found on this machine (no kube-apiserver process, no \
             kubeadm/kubespray/RKE2/k3s directory)\n  hint: pass --ca FILE --cert FILE --key FILE, or --from-dir DIR"
                .into(),
        ));
    }
    pick_candidate(found)
}

fn pick_candidate(c: Vec<certs::intake::Candidate>) -> Result<certs::intake::CertPaths> {
    let labels: Vec<String> = c.iter().map(ToString::to_string).collect();
    let i = interact::choose("certificate sets", &labels, "--ca/--cert/--key")?;
    Ok(c[i].paths.clone())
}

/// The kube-apiserver's `--etcd-*` files from /proc, when one runs here.
fn apiserver_process_paths() -> Option<certs::intake::CertPaths> {
    let rd = std::fs::read_dir("/proc").ok()?;
    for e in rd.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(bytes) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args = certs::intake::split_proc_cmdline(&bytes);
        if args.first().is_some_and(|a| a.ends_with("kube-apiserver"))
            && let Ok(parsed) = certs::intake::parse_apiserver_args(&args, 2379)
            && let Some(p) = parsed.paths()
        {
            return Some(p);
        }
    }
    None
}

/// Load and validate the certificates: every problem is an error naming the file; warnings print.
pub fn load_certs(args: &EtcdArgs) -> Result<certs::ValidatedCerts> {
    let paths = cert_paths(args)?;
    let (validated, warnings) = certs::load_and_validate(&paths, SystemTime::now())?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok(validated)
}

/// Endpoints objects hold IP addresses only (the API server rejects names): every member must
/// be given as an IP.
fn require_ips(eps: &[certs::intake::Endpoint], source: &str) -> Result<()> {
    let names: Vec<String> = eps
        .iter()
        .filter(|e| !matches!(e.host, certs::intake::Host::Ip(_)))
        .map(|e| e.host_str())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    Err(Error::Input(format!(
        "{source} names {} instead of IP addresses; an Endpoints object can list only IPs\n  hint: pass the etcd members' IPs with --endpoints IP[,IP...]",
        names.join(", ")
    )))
}

/// The directories the run writes files into exist (checked before any request).
fn check_output_paths(args: &EtcdArgs) -> Result<()> {
    if let Some(dir) = &args.write.backup_dir
        && args.write.dry_run == DryRun::None
        && !dir.is_dir()
    {
        return Err(Error::Input(format!(
            "the backup directory {} does not exist or is not a directory\n  hint: create it, or pass another --backup-dir",
            dir.display()
        )));
    }
    if let Some(file) = &args.helm.helm_values {
        let parent = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !parent.is_dir() || file.is_dir() {
            return Err(Error::Input(format!(
                "cannot write the Helm values file {}: its directory does not exist or it is a directory",
                file.display()
            )));
        }
    }
    Ok(())
}

fn endpoint_hosts(eps: &[certs::intake::Endpoint]) -> Vec<String> {
    let mut v: Vec<String> = eps.iter().map(|e| e.host_str()).collect();
    v.dedup();
    v
}

/// Choose the Prometheus resource: `--prometheus`, the only one, or ask.
/// Returns it and every other Prometheus and PrometheusAgent of the cluster (read in the same
/// list: all namespaces, as the ServiceMonitors are).
async fn choose_prometheus(
    kube: &Kube,
    ns: Option<&str>,
    name: Option<&str>,
) -> Result<(Value, Vec<Value>)> {
    let cluster = kube.list_prometheuses(None).await?;
    let all: Vec<Value> = cluster
        .iter()
        .filter(|p| ns.is_none_or(|n| p["metadata"]["namespace"].as_str() == Some(n)))
        .cloned()
        .collect();
    let all: Vec<Value> = match name {
        Some(n) => all
            .into_iter()
            .filter(|p| p["metadata"]["name"].as_str() == Some(n))
            .collect(),
        None => all,
    };
    if all.is_empty() {
        let where_ = ns
            .map(|n| format!("namespace {n}"))
            .unwrap_or_else(|| "any namespace".into());
        return Err(Error::NotFound {
            what: match name {
                Some(n) => format!("Prometheus {n} in {where_}"),
                None => format!("a Prometheus resource in {where_}"),
            },
            hint:
                "check with `kubectl get prometheuses -A`; pass -n NAMESPACE and --prometheus NAME"
                    .into(),
        });
    }
    let labels: Vec<String> = all
        .iter()
        .map(|p| {
            format!(
                "{}{}/{}",
                if crate::crd::is_agent(p) {
                    "PrometheusAgent "
                } else {
                    ""
                },
                p["metadata"]["namespace"].as_str().unwrap_or(""),
                p["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    let i = interact::choose(
        "Prometheus resources",
        &labels,
        "--prometheus NAME (and -n NAMESPACE)",
    )?;
    let chosen = all[i].clone();
    let id = |p: &Value| {
        (
            crate::crd::kind_of(p),
            p["metadata"]["namespace"].clone(),
            p["metadata"]["name"].clone(),
        )
    };
    let others = cluster
        .into_iter()
        .filter(|p| id(p) != id(&chosen))
        .collect();
    Ok((chosen, others))
}

/// Every ServiceMonitor and every Namespace (the reads of `observe` that depend on nothing).
async fn cluster_lists(kube: &Kube) -> Result<(Vec<Value>, Vec<Value>)> {
    tokio::try_join!(
        kube.list(READ_SERVICEMONITORS.res, None, None),
        kube.list(READ_NAMESPACES.res, None, None),
    )
}

/// Read everything the plan needs, once, in two waves of concurrent reads: the Prometheus, the
/// ServiceMonitors and Namespaces; then what the etcd ServiceMonitor and the Prometheus' namespace
/// lead to (Services, Endpoints, EndpointSlices, the Secrets). `fresh`: the ServiceMonitors and
/// Namespaces just read together with `prom` (the first round), so the first wave is skipped.
async fn observe(
    kube: &Kube,
    prom: &Value,
    others: &[Value],
    w: &Wanted,
    fresh: Option<(Vec<Value>, Vec<Value>)>,
) -> Result<Observed> {
    let prom_ns = prom["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let prom_name = prom["metadata"]["name"].as_str().unwrap_or("").to_string();
    let (prom_now, sms, nss) = match fresh {
        Some((sms, nss)) => (Some(prom.clone()), sms, nss),
        None => tokio::try_join!(
            kube.get_opt(k::prometheus_res(prom), Some(&prom_ns), &prom_name),
            kube.list(READ_SERVICEMONITORS.res, None, None),
            kube.list(READ_NAMESPACES.res, None, None),
        )?,
    };
    let prometheus = prom_now.ok_or_else(|| Error::NotFound {
        what: format!("{} {prom_ns}/{prom_name}", crate::crd::kind_of(prom)),
        hint: "it was deleted while this ran".into(),
    })?;
    let mut obs = Observed {
        prometheus,
        service_monitors: sms,
        namespaces: nss,
        service_monitor_choice: w.service_monitor.clone(),
        others: others.to_vec(),
        ..Default::default()
    };
    // Which one is etcd's depends on the Services they select (an application's etcd
    // ServiceMonitor selects none in kube-system), read next: the candidates' first.
    let candidates: Vec<Value> = fix::etcd_service_monitor_candidates(&obs)
        .into_iter()
        .map(|(sm, _, _)| sm.clone())
        .collect();
    let found = candidates.first().cloned();
    // The namespaces the etcd Service, its Endpoints and slices live in: where the operator
    // looks for each candidate's Services (its rule, with the Prometheus'
    // ignoreNamespaceSelectors); without one, kube-system, where it is made.
    let mut scopes: Vec<Option<String>> = Vec::new();
    for sm in &candidates {
        match selector::monitor_namespaces(&obs.prometheus, sm) {
            None => scopes = vec![None],
            Some(v) => {
                for n in v {
                    if !scopes.contains(&None) && !scopes.contains(&Some(n.clone())) {
                        scopes.push(Some(n));
                    }
                }
            }
        }
    }
    if scopes.is_empty() {
        scopes.push(Some("kube-system".into()));
    }
    let mut secret_nss = vec![prom_ns.clone()];
    if let Some(sm) = &found
        && let Some(ns) = sm["metadata"]["namespace"].as_str()
        && ns != prom_ns
    {
        secret_nss.push(ns.to_string());
    }
    // Every scope's Services, Endpoints and EndpointSlices and every Secret at once.
    let per_scope = futures::future::try_join_all(scopes.iter().map(|ns| async move {
        let ns = ns.as_deref();
        tokio::try_join!(
            kube.list(READ_SERVICES.res, ns, None),
            kube.list(READ_ENDPOINTS.res, ns, None),
            kube.list(READ_ENDPOINTSLICES.res, ns, Some(fix::SERVICE_NAME_LABEL)),
        )
    }));
    let secrets = futures::future::try_join_all(
        secret_nss
            .iter()
            .map(|ns| kube.get_opt(READ_SECRET.res, Some(ns), &w.secret_name)),
    );
    let (per_scope, secrets) = tokio::try_join!(per_scope, secrets)?;
    for (svcs, eps, slices) in per_scope {
        obs.services.extend(svcs);
        obs.endpoints.extend(eps);
        obs.endpoint_slices.extend(slices);
    }
    obs.secrets.extend(secrets.into_iter().flatten());
    Ok(obs)
}

/// The command line of every container of the pods matching a label selector in kube-system.
async fn kube_system_args(kube: &Kube, labels: &str) -> Result<Vec<Vec<String>>> {
    let pods = kube
        .list(READ_PODS.res, Some("kube-system"), Some(labels))
        .await?;
    Ok(pods
        .iter()
        .flat_map(|p| {
            p["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|c| crate::json::command_line(&c))
        .collect())
}

/// The etcd members: the stacked etcd pods' `--advertise-client-urls` (kubeadm: the apiserver
/// itself talks to etcd on 127.0.0.1, which Prometheus cannot use), else the kube-apiserver
/// pods' `--etcd-servers` (external etcd, as kubespray runs it).
async fn endpoints_from_cluster(kube: &Kube) -> Result<Vec<certs::intake::Endpoint>> {
    let mut out: Vec<certs::intake::Endpoint> = Vec::new();
    // Both lists at once (one round trip): the stacked etcd pods win over the apiserver's flags.
    let (etcd_pods, apiserver_pods) = tokio::try_join!(
        kube_system_args(kube, "component=etcd"),
        kube_system_args(kube, "component=kube-apiserver"),
    )?;
    for args in etcd_pods {
        for (i, a) in args.iter().enumerate() {
            let value = match a.strip_prefix("--advertise-client-urls") {
                Some(rest) if rest.starts_with('=') => Some(rest[1..].to_string()),
                Some("") => args.get(i + 1).cloned(),
                _ => None,
            };
            if let Some(v) = value
                && let Ok(eps) = certs::intake::parse_etcd_servers(&v, 2379)
            {
                for e in eps {
                    if !out.contains(&e) {
                        out.push(e);
                    }
                }
            }
        }
    }
    if !out.is_empty() {
        return Ok(out);
    }
    for args in apiserver_pods {
        if let Ok(parsed) = certs::intake::parse_apiserver_args(&args, 2379) {
            for e in parsed.servers {
                if !out.contains(&e) {
                    out.push(e);
                }
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Input(
            "no etcd endpoints: none given, no etcd pod in kube-system, and no kube-apiserver pod naming --etcd-servers\n  hint: pass --endpoints IP[,IP...] (and --port if not 2379)".into(),
        ));
    }
    Ok(out)
}

/// Where an access of the etcd fix is asked for: the namespace given (or the Prometheus'),
/// every namespace, or kube-system.
#[derive(Debug, Clone, Copy)]
enum Scope {
    Given,
    All,
    KubeSystem,
}

/// One access of the etcd fix: the verb, the resource, where, and why. The reads below are the
/// ones the fix makes (each read names its entry), and the access list after a 403 is made of
/// the same entries, so the two cannot drift apart.
#[derive(Debug, Clone, Copy)]
struct Access {
    verb: &'static str,
    res: &'static k::Res,
    scope: Scope,
    why: &'static str,
}

impl Access {
    const fn new(
        verb: &'static str,
        res: &'static k::Res,
        scope: Scope,
        why: &'static str,
    ) -> Self {
        Access {
            verb,
            res,
            scope,
            why,
        }
    }

    /// The namespace the access review asks about (None: all namespaces).
    fn namespace<'a>(&self, given: Option<&'a str>) -> Option<&'a str> {
        match self.scope {
            Scope::Given => given,
            Scope::All => None,
            Scope::KubeSystem => Some("kube-system"),
        }
    }
}

const READ_PROMETHEUSES: Access = Access::new(
    "list",
    &k::PROMETHEUSES,
    Scope::Given,
    "find the Prometheus",
);
const READ_SERVICEMONITORS: Access = Access::new(
    "list",
    &k::SERVICEMONITORS,
    Scope::All,
    "find the etcd ServiceMonitor",
);
const READ_NAMESPACES: Access = Access::new(
    "list",
    &k::NAMESPACES,
    Scope::All,
    "match its namespaceSelector",
);
const READ_PODS: Access = Access::new(
    "list",
    &k::PODS,
    Scope::KubeSystem,
    "read the etcd members from the control-plane pods",
);
const READ_SERVICES: Access = Access::new(
    "list",
    &k::SERVICES,
    Scope::KubeSystem,
    "read the etcd Service",
);
const READ_ENDPOINTS: Access = Access::new(
    "list",
    &k::ENDPOINTS,
    Scope::KubeSystem,
    "read its Endpoints",
);
const READ_ENDPOINTSLICES: Access = Access::new(
    "list",
    &k::ENDPOINTSLICES,
    Scope::KubeSystem,
    "read its EndpointSlices",
);
const READ_SECRET: Access = Access::new("get", &k::SECRETS, Scope::Given, "read the Secret");

/// Every read of the etcd fix, in the order the access list shows them.
const READS: [Access; 8] = [
    READ_PROMETHEUSES,
    READ_SERVICEMONITORS,
    READ_NAMESPACES,
    READ_PODS,
    READ_SERVICES,
    READ_ENDPOINTS,
    READ_ENDPOINTSLICES,
    READ_SECRET,
];

/// The writes the steps will make.
fn writes(steps: Steps) -> Vec<Access> {
    use Scope::{Given, KubeSystem};
    let mut out = Vec::new();
    if steps.secret() {
        out.push(Access::new(
            "create",
            &k::SECRETS,
            Given,
            "write the certificate Secret",
        ));
        out.push(Access::new(
            "patch",
            &k::PROMETHEUSES,
            Given,
            "list the Secret in spec.secrets",
        ));
    }
    if steps.endpoints() {
        out.push(Access::new(
            "patch",
            &k::SERVICES,
            KubeSystem,
            "remove the etcd Service's selector",
        ));
        out.push(Access::new(
            "patch",
            &k::ENDPOINTS,
            KubeSystem,
            "write the etcd Endpoints",
        ));
        out.push(Access::new(
            "delete",
            &k::ENDPOINTSLICES,
            KubeSystem,
            "delete stale EndpointSlices",
        ));
    }
    if steps.servicemonitor() {
        out.push(Access::new(
            "patch",
            &k::SERVICEMONITORS,
            Given,
            "set https and tlsConfig",
        ));
    }
    out
}

/// A read was forbidden: list every read this command needs, and every write its steps will
/// make, that the user may not do (one SelfSubjectAccessReview each, concurrently), so one round
/// of RBAC changes is enough.
async fn forbidden_reads(kube: &Kube, ns: Option<&str>, steps: Steps, e: Error) -> Error {
    if e.status() != Some(403) {
        return e;
    }
    let checks: Vec<Access> = READS.into_iter().chain(writes(steps)).collect();
    let reviews = futures::future::join_all(
        checks
            .iter()
            .map(|a| kube.can_i(a.verb, a.res, None, a.namespace(ns), None)),
    )
    .await;
    let mut denied = Vec::new();
    for (a, allowed) in checks.into_iter().zip(reviews) {
        match allowed {
            Ok(true) => {}
            Ok(false) => denied.push(format!(
                "{} {}{} (needed to {})",
                a.verb,
                a.res.plural,
                a.namespace(ns)
                    .map(|n| format!(" in namespace {n}"))
                    .unwrap_or_else(|| " in all namespaces".into()),
                a.why
            )),
            // No access reviews either: the error as the server gave it.
            Err(_) => return Error::Forbidden(vec![e.to_string()]),
        }
    }
    if denied.is_empty() {
        denied.push(e.to_string());
    }
    Error::Forbidden(denied)
}

/// The Helm values override for the steps that ran: values of a step that did not run (e.g. the
/// members, unknown to `secret`) would be wrong, such as `kubeEtcd.endpoints: []`.
fn helm_values(
    w: &Wanted,
    mode: TlsMode,
    steps: Steps,
    obs: &Observed,
    plan: &Plan,
) -> fix::HelmValues {
    let mut hv = fix::helm_values(w, mode, obs, plan);
    let v = &mut hv.values;
    if let Some(etcd) = v.get_mut("kubeEtcd").and_then(Value::as_object_mut) {
        if !steps.endpoints() {
            etcd.remove("endpoints");
            etcd.remove("service");
        }
        if !steps.servicemonitor() {
            etcd.remove("serviceMonitor");
        }
    }
    if !steps.servicemonitor() {
        // The notes are about what the chart renders of the ServiceMonitor.
        hv.notes.clear();
    }
    if let Some(m) = v.as_object_mut() {
        if !steps.secret() && !steps.servicemonitor() {
            m.remove("prometheus");
        }
        if m.get("kubeEtcd")
            .and_then(Value::as_object)
            .is_some_and(|e| e.is_empty())
        {
            m.remove("kubeEtcd");
        }
    }
    hv
}

/// Whether Helm manages an object the etcd fix writes: the Prometheus, the etcd ServiceMonitor
/// or the Service it selects.
fn helm_manages_fix_objects(obs: &Observed) -> bool {
    if crate::plan::helm_release(&obs.prometheus).is_some() {
        return true;
    }
    fix::find_etcd_service_monitor(obs).is_some_and(|(sm, _)| {
        crate::plan::helm_release(sm).is_some()
            || fix::services_of(obs, sm)
                .iter()
                .any(|svc| crate::plan::helm_release(svc).is_some())
    })
}

/// The plan for the chosen steps.
fn plan(obs: &Observed, w: &Wanted, steps: Steps) -> Result<(Plan, TlsMode)> {
    let (mode, note) = fix::tls_mode(&obs.prometheus, w);
    let mut plan = Plan::default();
    if let Some(n) = note {
        plan.notes.push(n);
    }
    if let Some(tied) = fix::etcd_service_monitor_tie(obs) {
        return Err(Error::Input(format!(
            "{} ServiceMonitors selected by Prometheus {}/{} could be etcd's: {}; choose one with --service-monitor NAMESPACE/NAME",
            tied.len(),
            obs.prometheus["metadata"]["namespace"]
                .as_str()
                .unwrap_or(""),
            obs.prometheus["metadata"]["name"].as_str().unwrap_or(""),
            tied.join(", ")
        )));
    }
    if let Some(c) = &obs.service_monitor_choice
        && fix::etcd_service_monitor_candidates(obs).is_empty()
    {
        return Err(Error::Input(format!(
            "--service-monitor {c}: no such ServiceMonitor is selected by Prometheus {}/{} (or it selects Services outside kube-system only)",
            obs.prometheus["metadata"]["namespace"]
                .as_str()
                .unwrap_or(""),
            obs.prometheus["metadata"]["name"].as_str().unwrap_or(""),
        )));
    }
    let found = fix::find_etcd_service_monitor(obs);
    let prom_ns = obs.prometheus["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    if steps == Steps::Renew {
        return Ok((renew_plan(obs, w, mode, found)?, mode));
    }
    if steps.secret() {
        let mut nss = Vec::new();
        if mode == TlsMode::Files {
            nss.push(prom_ns.clone());
        } else {
            nss.push(
                found
                    .map(|(sm, _)| {
                        sm["metadata"]["namespace"]
                            .as_str()
                            .unwrap_or("")
                            .to_string()
                    })
                    .unwrap_or(prom_ns.clone()),
            );
        }
        plan.extend(fix::plan_secret(obs, w, mode, &nss));
    }
    let sm_plan = if steps.servicemonitor() {
        Some(fix::plan_servicemonitor(obs, w, mode, found)?)
    } else {
        None
    };
    if steps.endpoints() {
        // Without an etcd ServiceMonitor, `etcd` creates one: the Service and Endpoints follow
        // the one it is about to create.
        let created = sm_plan.as_ref().and_then(|p| {
            p.changes
                .iter()
                .find(|c| c.object.plural == "servicemonitors" && c.before.is_none())
                .and_then(|c| c.after.clone())
        });
        let (sm, idx) = match (found, &created) {
            (Some((sm, idx)), _) => (sm, idx),
            (None, Some(sm)) => (sm, 0),
            (None, None) => {
                return Err(Error::NotFound {
                    what: "an etcd ServiceMonitor selected by this Prometheus".into(),
                    hint:
                        "run `kubectl promfix servicemonitor` (or `etcd`) first, which creates one"
                            .into(),
                });
            }
        };
        plan.extend(fix::plan_endpoints(obs, w, sm, idx)?);
    }
    if let Some(sm_plan) = sm_plan {
        if mode == TlsMode::Files {
            let changed = sm_plan
                .changes
                .iter()
                .find(|c| c.object.plural == "servicemonitors")
                .and_then(|c| c.after.as_ref());
            if let Some(sm) = changed {
                plan.notes
                    .extend(fix::others_without_the_files(obs, sm, &w.secret_name));
            }
        }
        plan.extend(sm_plan);
        // Alone, `servicemonitor` points at files only `secret` mounts.
        let mounted = crate::crd::PrometheusSpec::of(&obs.prometheus).lists_secret(&w.secret_name);
        if !steps.secret() && mode == TlsMode::Files && !mounted {
            plan.notes.push(format!(
                "{} {prom_ns}/{} does not mount Secret {} yet: the files this ServiceMonitor names exist only after `kubectl promfix secret` (or `etcd`)",
                crate::crd::kind_of(&obs.prometheus),
                obs.prometheus["metadata"]["name"].as_str().unwrap_or(""),
                w.secret_name
            ));
        }
    }
    Ok((plan, mode))
}

/// `etcd --renew`: the Secret of a fix in place gets the current files, and nothing else
/// changes (no pod restarts: the kubelet updates the mounted files). Refused where the fix is
/// not in place, since completing it is more than a renewal: no Secret yet, or a Prometheus
/// that does not mount it.
fn renew_plan(
    obs: &Observed,
    w: &Wanted,
    mode: TlsMode,
    found: Option<(&Value, usize)>,
) -> Result<Plan> {
    let ns = match (mode, found) {
        (TlsMode::SecretRefs, Some((sm, _))) => sm["metadata"]["namespace"].as_str(),
        _ => obs.prometheus["metadata"]["namespace"].as_str(),
    }
    .unwrap_or("default")
    .to_string();
    let prometheus = format!(
        "{} {}/{}",
        crate::crd::kind_of(&obs.prometheus),
        obs.prometheus["metadata"]["namespace"]
            .as_str()
            .unwrap_or(""),
        obs.prometheus["metadata"]["name"].as_str().unwrap_or("")
    );
    let mut plan = fix::plan_secret(obs, w, mode, std::slice::from_ref(&ns));
    let without_renew =
        "run `kubectl promfix etcd` without --renew (the whole fix; it shows its plan first)";
    if plan
        .changes
        .iter()
        .any(|c| c.object.plural == "secrets" && c.before.is_none())
    {
        return Err(Error::Input(format!(
            "--renew renews the Secret of a fix in place, and Secret {ns}/{} does not exist: nothing was written\n  hint: {without_renew}",
            w.secret_name
        )));
    }
    if plan.changes.iter().any(|c| c.object.plural != "secrets") {
        return Err(Error::Input(format!(
            "--renew changes only the Secret's data, and {prometheus} does not list Secret {} in spec.secrets (its pods do not mount it): nothing was written\n  hint: {without_renew}; listing it rolls the pods",
            w.secret_name
        )));
    }
    if plan.changes.is_empty() {
        plan.notes.push(format!(
            "Secret {ns}/{} already holds these files: nothing to renew",
            w.secret_name
        ));
    } else {
        plan.notes.push(format!(
            "--renew: only the data of Secret {ns}/{} changes; no pod restarts (the kubelet updates the files {prometheus} mounts, Prometheus reads them at its next connection)",
            w.secret_name
        ));
    }
    Ok(plan)
}

/// Run a command of the etcd family. With `-o json|yaml` (and not a client dry run, whose
/// output is the planned objects) stdout gets one document: the plan, what was written, the
/// backup, and verify's reports; progress and notes go to stderr.
pub async fn run(global: &GlobalOpts, args: &EtcdArgs, steps: Steps) -> Result<crate::Outcome> {
    let (outcome, prom, ran) = run_fix(global, args, steps).await?;
    let document = |verify: Option<Value>| {
        if let Some(fmt) = args.write.output
            && args.write.dry_run != DryRun::Client
        {
            let mut doc = ran.document(
                steps.name(),
                &args.write,
                args.write.dry_run == DryRun::Server,
            );
            doc["verify"] = verify.unwrap_or(Value::Null);
            apply::print_document(fmt, &doc);
        }
    };
    // `etcd` proves its fix: the pods roll, the files are there, the targets come up.
    if let Some(after) = args.verify.as_ref().filter(|v| !v.no_verify)
        && args.write.dry_run == DryRun::None
        && let Some(prom) = prom
    {
        eprintln!(
            "\nVerifying (skip with --no-verify): the Prometheus pods roll, mount the Secret, and scrape etcd ..."
        );
        let (outcome, reports) = crate::commands::verify::verify_after_fix(
            global,
            &prom,
            &args.names.secret_name,
            args.prometheus.service_monitor.as_deref(),
            after.timeout,
            args.write.output,
        )
        .await?;
        document(Some(serde_json::json!({
            "verified": outcome == crate::Outcome::Ok,
            "pods": reports,
        })));
        return Ok(outcome);
    }
    document(None);
    Ok(outcome)
}

/// The fix itself; returns the Prometheus it worked on (None for a client dry run) and what
/// the executor did.
async fn run_fix(
    global: &GlobalOpts,
    args: &EtcdArgs,
    steps: Steps,
) -> Result<(crate::Outcome, Option<Value>, apply::Ran)> {
    // 1. Local inputs, validated before any request.
    let (certs, mut endpoints, mut w) = local_inputs(args, steps)?;
    // 2. The cluster.
    let mut kube = Kube::connect(global, global.context.first().map(String::as_str)).await?;
    kube.server_dry_run = args.write.dry_run == DryRun::Server;
    let first = first_reads(&kube, global, args, steps, certs.is_some(), &mut endpoints).await?;
    let FirstReads {
        prom,
        others,
        lists,
    } = first;
    let ns = global.namespace.as_deref();
    let prom_ns = prom["metadata"]["namespace"].as_str().or(ns);
    if steps.endpoints() || (args.probe && certs.is_some()) {
        w.ips = endpoint_hosts(&endpoints);
        if let Some(p) = endpoints.first() {
            w.port = if args.endpoints.endpoints.is_empty() {
                p.port
            } else {
                args.endpoints.port
            };
        }
    }
    // 3. Probe etcd from here (warnings only: this machine may not reach etcd).
    if args.probe
        && let Some(c) = &certs
    {
        probe_members(c, &endpoints, steps, &mut w).await?;
    }
    // 4. Rounds of observe → plan → apply.
    let (ran, held) = rounds(&kube, args, steps, &w, (&prom, &others), prom_ns, lists).await?;
    if args.write.dry_run == DryRun::Client || held {
        // Held back: nothing was written, so there is nothing to verify either.
        return Ok((crate::Outcome::Ok, None, ran));
    }
    if !ran.applied.is_empty()
        && args.verify.as_ref().is_some_and(|v| v.no_verify)
        && !kube.server_dry_run
    {
        eprintln!(
            "Prometheus rolls its pods to mount the Secret; check with `kubectl promfix verify`."
        );
    }
    Ok((crate::Outcome::Ok, Some(prom), ran))
}

/// The certificates, the endpoints given and what the fix wants, from the command line alone.
fn local_inputs(
    args: &EtcdArgs,
    steps: Steps,
) -> Result<(
    Option<certs::ValidatedCerts>,
    Vec<certs::intake::Endpoint>,
    Wanted,
)> {
    let certs = if steps.secret() {
        Some(load_certs(args)?)
    } else {
        None
    };
    let mut endpoints = Vec::new();
    for e in &args.endpoints.endpoints {
        endpoints.extend(certs::intake::parse_endpoint_list(e, args.endpoints.port)?);
    }
    if steps.endpoints() {
        require_ips(&endpoints, "--endpoints")?;
    }
    check_output_paths(args)?;
    let mut w = Wanted::with_defaults();
    w.secret_name = args.names.secret_name.clone();
    w.service_monitor = args.prometheus.service_monitor.clone();
    w.ca_key = args.names.ca_secret_key.clone();
    w.cert_key = args.names.cert_secret_key.clone();
    w.key_key = args.names.key_secret_key.clone();
    w.port = args.endpoints.port;
    w.server_name = args.tls.server_name.clone();
    w.insecure_skip_verify = args.tls.insecure_skip_verify;
    w.tls_mode = args.tls.tls_from.map(|t| match t {
        TlsFrom::File => TlsMode::Files,
        TlsFrom::Secret => TlsMode::SecretRefs,
    });
    if let Some(c) = &certs {
        w.pems = Some(Pems {
            ca: c.ca_pem().to_vec(),
            cert: c.cert_pem().to_vec(),
            key: c.key_pem().to_vec(),
        });
    }
    Ok((certs, endpoints, w))
}

/// What the first wave of reads found: the Prometheus, and the ServiceMonitors and Namespaces
/// read with it (observe's first round uses them).
struct FirstReads {
    prom: Value,
    /// The cluster's other Prometheus and PrometheusAgent resources.
    others: Vec<Value>,
    lists: Option<(Vec<Value>, Vec<Value>)>,
}

/// One wave of reads that depend on nothing: discovery, the Prometheus resources, the etcd
/// members (into `endpoints`, when none were given and a step needs them), every
/// ServiceMonitor and Namespace. The errors in that order (no operator first); a 403 lists every
/// access the command needs.
async fn first_reads(
    kube: &Kube,
    global: &GlobalOpts,
    args: &EtcdArgs,
    steps: Steps,
    has_certs: bool,
    endpoints: &mut Vec<certs::intake::Endpoint>,
) -> Result<FirstReads> {
    let ns = global.namespace.as_deref();
    let find_members = (steps.endpoints() || (args.probe && has_certs)) && endpoints.is_empty();
    let (served, prom, members, lists) = tokio::join!(
        kube.serves(&k::PROMETHEUSES),
        choose_prometheus(kube, ns, args.prometheus.prometheus.as_deref()),
        async {
            if find_members {
                Some(endpoints_from_cluster(kube).await)
            } else {
                None
            }
        },
        cluster_lists(kube),
    );
    let served = match served {
        Ok(v) => v,
        Err(e) => return Err(forbidden_reads(kube, ns, steps, e).await),
    };
    if !served {
        return Err(Error::NotFound {
            what: "the Prometheus Operator (monitoring.coreos.com/v1 prometheuses)".into(),
            hint: "this cluster does not serve the operator's resources; install kube-prometheus-stack or kube-prometheus first".into(),
        });
    }
    let (prom, others) = match prom {
        Ok(p) => p,
        Err(e) => return Err(forbidden_reads(kube, ns, steps, e).await),
    };
    let prom_ns = prom["metadata"]["namespace"].as_str().or(ns);
    if let Some(members) = members {
        *endpoints = match members {
            Ok(e) => e,
            Err(e) => return Err(forbidden_reads(kube, prom_ns, steps, e).await),
        };
        if steps.endpoints() {
            require_ips(endpoints, "the cluster's etcd server list")?;
        }
    }
    let lists = match lists {
        Ok(l) => Some(l),
        Err(e) => return Err(forbidden_reads(kube, prom_ns, steps, e).await),
    };
    Ok(FirstReads {
        prom,
        others,
        lists,
    })
}

/// Probe the members with the certificates, all at once; the lines in the order of the
/// members. What the probes learned goes into the plan, rather than a warning above a plan that
/// will fail: a name every certificate carries becomes the serverName, https to a plain-http
/// port stops the run.
async fn probe_members(
    c: &certs::ValidatedCerts,
    endpoints: &[certs::intake::Endpoint],
    steps: Steps,
    w: &mut Wanted,
) -> Result<()> {
    let probes = futures::future::join_all(endpoints.iter().map(|e| {
        certs::probe::probe(
            e,
            c,
            w.server_name.as_deref(),
            w.insecure_skip_verify,
            Duration::from_secs(3),
        )
    }))
    .await;
    for (e, r) in endpoints.iter().zip(&probes) {
        if r.is_ok() {
            eprintln!("probe {e}: {}", r.outcome);
        } else {
            eprintln!("warning: probe {e}: {}", r.outcome);
        }
    }
    let outcomes: Vec<&certs::probe::ProbeOutcome> = probes.iter().map(|r| &r.outcome).collect();
    match certs::probe::learn(&outcomes) {
        certs::probe::Learned::ServerName(name)
            if w.server_name.is_none() && !w.insecure_skip_verify =>
        {
            let again =
                futures::future::join_all(endpoints.iter().map(|e| {
                    certs::probe::probe(e, c, Some(&name), false, Duration::from_secs(3))
                }))
                .await;
            if again.iter().all(|r| r.is_ok()) {
                eprintln!(
                    "note: the members' certificates do not name the addresses Prometheus scrapes, but all name {name:?}: the ServiceMonitor gets serverName: {name} (the probe with it: ok; choose another with --server-name)"
                );
                w.server_name = Some(name);
            }
        }
        certs::probe::Learned::PlainHttp if steps.servicemonitor() => {
            return Err(Error::Input(format!(
                "every etcd member answered plain HTTP on port {} ({}): a scrape with scheme https and client certificates cannot work there\n  hint: give the members' TLS client port (--port, usually 2379), or, for a plain-http metrics listener (kubeadm's --listen-metrics-urls on 2381), leave the ServiceMonitor on http: nothing was written",
                w.port,
                endpoints
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        _ => {}
    }
    Ok(())
}

/// The rounds of observe → plan → apply through the executor (with the Helm values file once
/// the first plan is shown); what it did, and whether a working scrape was held back.
async fn rounds(
    kube: &Kube,
    args: &EtcdArgs,
    steps: Steps,
    w: &Wanted,
    (prom, others): (&Value, &[Value]),
    prom_ns: Option<&str>,
    mut lists: Option<(Vec<Value>, Vec<Value>)>,
) -> Result<(apply::Ran, bool)> {
    let mode = std::cell::Cell::new(None);
    // What the first round saw, and whether it held a working scrape back (for the values).
    let first_obs: std::cell::RefCell<Option<Observed>> = std::cell::RefCell::new(None);
    let held = std::cell::Cell::new(false);
    let helm_file = |plan: &Plan| {
        let obs = first_obs.borrow().clone();
        helm_file(args, steps, w, mode.get().zip(obs), held.get(), plan)
    };
    // The chart values of the change, for an owner that takes them (a Flux HelmRelease, an
    // Argo CD Helm source); none when a working scrape was held back (nothing to carry).
    let values = |plan: &Plan| {
        let obs = first_obs.borrow().clone()?;
        let mode = mode.get()?;
        (!held.get()).then(|| helm_values(w, mode, steps, &obs, plan).values)
    };
    let exec = Executor {
        shown: Some(&helm_file),
        wave: Some(fix::write_wave),
        gitops: args
            .gitops
            .gitops_dir
            .as_deref()
            .map(|dir| apply::GitOpsOut {
                dir,
                values: Some(&values),
            }),
        ..Executor::new(kube, &args.write, steps.name())
    };
    let mut first = true;
    let ran = exec
        .run(async || {
            let obs = match observe(kube, prom, others, w, lists.take()).await {
                Ok(o) => o,
                Err(e) if first => return Err(forbidden_reads(kube, prom_ns, steps, e).await),
                Err(e) => return Err(e),
            };
            let round0 = std::mem::replace(&mut first, false);
            if round0 {
                *first_obs.borrow_mut() = Some(obs.clone());
            }
            let (plan, m) = plan(&obs, w, steps)?;
            mode.set(Some(m));
            // A scrape that works is not rewritten unless asked (the first round decides):
            // --replace-working-scrape, or a TLS option that names the scrape wanted.
            let asked = args.replace_working_scrape
                || args.tls.tls_from.is_some()
                || args.tls.server_name.is_some()
                || args.tls.insecure_skip_verify;
            if round0
                && !asked
                && plan.changes.iter().any(fix::rewrites_scrape)
                && let Some((sm, _)) = fix::find_etcd_service_monitor(&obs)
            {
                let targets = etcd_targets(kube, prom, sm).await;
                let (plan, h) = fix::hold_working_scrape(plan, &targets, false);
                held.set(h);
                return Ok(plan);
            }
            Ok(plan)
        })
        .await?;
    Ok((ran, held.get()))
}

/// The Helm values override, once the first plan is shown, when Helm manages an object of the
/// fix: also for an empty plan (the fix is in place, and the values keep it there). `first`:
/// the TLS mode and what the first round saw; `held`: it held a working scrape back.
fn helm_file(
    args: &EtcdArgs,
    steps: Steps,
    w: &Wanted,
    first: Option<(TlsMode, Observed)>,
    held: bool,
    plan: &Plan,
) -> Result<()> {
    let Some(path) = &args.helm.helm_values else {
        return Ok(());
    };
    let Some((mode, obs)) = first else {
        return Ok(());
    };
    if held {
        eprintln!(
            "note: --helm-values: {} not written: the etcd scrape already works and nothing was changed, so there is no fix for the values to carry",
            path.display()
        );
        return Ok(());
    }
    if !plan.changes.iter().any(|c| c.helm.is_some()) && !helm_manages_fix_objects(&obs) {
        eprintln!(
            "note: --helm-values: {} not written: Helm manages none of the objects this fix writes (the Prometheus, the etcd ServiceMonitor, its Service)",
            path.display()
        );
        return Ok(());
    }
    let hv = helm_values(w, mode, steps, &obs, plan);
    for n in &hv.notes {
        eprintln!("note: {n}");
    }
    apply::write_helm_values(path, &hv.values, &hv.notes)?;
    Ok(())
}

/// The etcd ServiceMonitor's active targets (scrape URL, health) as Prometheus reports them:
/// one Ready pod per shard, through pods/proxy. Empty when they cannot be read (nothing is held
/// back then).
async fn etcd_targets(kube: &Kube, prom: &Value, sm: &Value) -> Vec<(String, String)> {
    use crate::verify as v;
    let ns = v::namespace(prom);
    let Ok(pods) = kube.list(&k::PODS, Some(ns), None).await else {
        return Vec::new();
    };
    let mut by_shard: std::collections::BTreeMap<String, &Value> = Default::default();
    for p in v::pods_of(prom, &pods)
        .into_iter()
        .filter(|p| v::is_ready(p))
    {
        by_shard.entry(v::shard_of(p)).or_insert(p);
    }
    let job = v::targets::JobMatch::ServiceMonitor {
        namespace: v::namespace(sm).to_string(),
        name: v::name(sm).to_string(),
    };
    let mut out = Vec::new();
    for pod in by_shard.values() {
        let path = v::targets_path(prom, ns, v::name(pod), &v::route_prefix(prom, Some(pod)));
        let Ok(text) = kube.get_text(&path).await else {
            return Vec::new();
        };
        let Ok(answer) = serde_json::from_str::<Value>(&text) else {
            return Vec::new();
        };
        match v::targets::parse_targets(&answer, &job) {
            Ok(t) => out.extend(t.into_iter().map(|t| (t.scrape_url, t.health))),
            Err(_) => return Vec::new(),
        }
    }
    out
}

/// Map a certificate error to the library error (kept for callers that load certs alone).
pub fn cert_error(e: CertError) -> Error {
    Error::Certs(e)
}
