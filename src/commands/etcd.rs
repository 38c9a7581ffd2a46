//! `kubectl promfix etcd|secret|endpoints|servicemonitor`: local inputs first (no request before
//! they are valid), then observe → plan → show → confirm → pre-flight → back up → apply (re-read
//! and re-plan on 409, a bounded number of times).

use crate::apply;
use crate::certs::{self, CertError};
use crate::cli::{DryRun, EtcdArgs, GlobalOpts, TlsFrom};
use crate::error::{Error, Result};
use crate::fixes::etcd::{self as fix, Observed, Pems, TlsMode, Wanted};
use crate::kube::{self as k, Kube};
use crate::output::interact::{self, Step};
use crate::output::plan_view;
use crate::plan::Plan;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Which part of the fix a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steps {
    All,
    Secret,
    Endpoints,
    ServiceMonitor,
}

impl Steps {
    fn name(self) -> &'static str {
        match self {
            Steps::All => "etcd",
            Steps::Secret => "secret",
            Steps::Endpoints => "endpoints",
            Steps::ServiceMonitor => "servicemonitor",
        }
    }
    fn secret(self) -> bool {
        matches!(self, Steps::All | Steps::Secret)
    }
    fn endpoints(self) -> bool {
        matches!(self, Steps::All | Steps::Endpoints)
    }
    fn servicemonitor(self) -> bool {
        matches!(self, Steps::All | Steps::ServiceMonitor)
    }
}

/// How many times the whole observe → plan → apply round runs when writes meet 409 Conflict.
const ROUNDS: usize = 5;

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
        return pick_candidate(certs::intake::discover(dir)?);
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

fn endpoint_hosts(eps: &[certs::intake::Endpoint]) -> Vec<String> {
    let mut v: Vec<String> = eps.iter().map(|e| e.host_str()).collect();
    v.dedup();
    v
}

/// Choose the Prometheus resource: `--prometheus`, the only one, or ask.
async fn choose_prometheus(kube: &Kube, ns: Option<&str>, name: Option<&str>) -> Result<Value> {
    let all = kube.list(&k::PROMETHEUSES, ns, None).await?;
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
                "{}/{}",
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
    Ok(all[i].clone())
}

/// Read everything the plan needs, once, reads in parallel where independent.
async fn observe(kube: &Kube, prom: &Value, w: &Wanted) -> Result<Observed> {
    let prom_ns = prom["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let prom_name = prom["metadata"]["name"].as_str().unwrap_or("").to_string();
    let (prom_now, sms, nss, prom_ns_secret) = tokio::try_join!(
        kube.get_opt(&k::PROMETHEUSES, Some(&prom_ns), &prom_name),
        kube.list(&k::SERVICEMONITORS, None, None),
        kube.list(&k::NAMESPACES, None, None),
        kube.get_opt(&k::SECRETS, Some(&prom_ns), &w.secret_name),
    )?;
    let prometheus = prom_now.ok_or_else(|| Error::NotFound {
        what: format!("Prometheus {prom_ns}/{prom_name}"),
        hint: "it was deleted while this ran".into(),
    })?;
    let mut obs = Observed {
        prometheus,
        service_monitors: sms,
        namespaces: nss,
        ..Default::default()
    };
    let found = fix::find_etcd_service_monitor(&obs).map(|(sm, _)| sm.clone());
    // The namespaces the etcd Service, its Endpoints and slices live in.
    let mut svc_namespaces: Vec<String> = vec!["kube-system".into()];
    if let Some(sm) = &found {
        if let Some(names) = sm["spec"]["namespaceSelector"]["matchNames"].as_array() {
            svc_namespaces = names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect();
        } else if sm["spec"]["namespaceSelector"]["any"].as_bool() != Some(true) {
            svc_namespaces = vec![
                sm["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .to_string(),
            ];
        }
    }
    let any_ns = found
        .as_ref()
        .is_some_and(|sm| sm["spec"]["namespaceSelector"]["any"].as_bool() == Some(true));
    let scopes: Vec<Option<String>> = if any_ns {
        vec![None]
    } else {
        svc_namespaces.iter().cloned().map(Some).collect()
    };
    // The Secret in the ServiceMonitor's namespace (secret references), read with the Services.
    let sm_secret_ns = found
        .as_ref()
        .and_then(|sm| sm["metadata"]["namespace"].as_str())
        .filter(|ns| *ns != prom_ns)
        .map(str::to_string);
    let per_scope = futures::future::try_join_all(scopes.iter().map(|ns| async move {
        let ns = ns.as_deref();
        tokio::try_join!(
            kube.list(&k::SERVICES, ns, None),
            kube.list(&k::ENDPOINTS, ns, None),
            kube.list(&k::ENDPOINTSLICES, ns, Some(fix::SERVICE_NAME_LABEL)),
        )
    }));
    let sm_secret = async {
        match &sm_secret_ns {
            Some(ns) => kube.get_opt(&k::SECRETS, Some(ns), &w.secret_name).await,
            None => Ok(None),
        }
    };
    let (per_scope, sm_secret) = tokio::try_join!(per_scope, sm_secret)?;
    for (svcs, eps, slices) in per_scope {
        obs.services.extend(svcs);
        obs.endpoints.extend(eps);
        obs.endpoint_slices.extend(slices);
    }
    obs.secrets.extend(prom_ns_secret);
    obs.secrets.extend(sm_secret);
    Ok(obs)
}

/// The command line of every container of the pods matching a label selector in kube-system.
async fn kube_system_args(kube: &Kube, labels: &str) -> Result<Vec<Vec<String>>> {
    let pods = kube
        .list(&k::PODS, Some("kube-system"), Some(labels))
        .await?;
    Ok(pods
        .iter()
        .flat_map(|p| {
            p["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|c| {
            c["command"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(c["args"].as_array().into_iter().flatten())
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect()
        })
        .collect())
}

/// The etcd members: the stacked etcd pods' `--advertise-client-urls` (kubeadm: the apiserver
/// itself talks to etcd on 127.0.0.1, which Prometheus cannot use), else the kube-apiserver
/// pods' `--etcd-servers` (external etcd, as kubespray runs it).
async fn endpoints_from_cluster(kube: &Kube) -> Result<Vec<certs::intake::Endpoint>> {
    let mut out: Vec<certs::intake::Endpoint> = Vec::new();
    // Both lists at once (one round trip): stacked etcd pods win over the apiserver's flags.
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

/// When a read is refused: every read and write the command needs that the user may not do,
/// as one `Forbidden` error (exit 5); the original error when the reviews find nothing missing.
/// `prom_ns`: the Prometheus namespace when known (else the checks are for all namespaces).
async fn all_missing(kube: &Kube, prom_ns: Option<&str>, steps: Steps, original: Error) -> Error {
    let ks = Some("kube-system");
    let mut checks: Vec<(&str, k::Res, Option<&str>)> = vec![
        ("list", k::PROMETHEUSES, prom_ns),
        ("get", k::PROMETHEUSES, prom_ns),
        ("list", k::SERVICEMONITORS, None),
        ("list", k::NAMESPACES, None),
        ("list", k::SERVICES, ks),
        ("list", k::ENDPOINTS, ks),
        ("list", k::ENDPOINTSLICES, ks),
        ("get", k::SECRETS, prom_ns),
    ];
    if steps.secret() {
        checks.push(("create", k::SECRETS, prom_ns));
        checks.push(("patch", k::PROMETHEUSES, prom_ns));
    }
    if steps.endpoints() {
        checks.push(("list", k::PODS, ks));
        checks.push(("patch", k::SERVICES, ks));
        checks.push(("patch", k::ENDPOINTS, ks));
        checks.push(("delete", k::ENDPOINTSLICES, ks));
    }
    if steps.servicemonitor() {
        checks.push(("patch", k::SERVICEMONITORS, prom_ns));
    }
    let reviews = futures::future::join_all(
        checks
            .iter()
            .map(|(verb, res, ns)| kube.can_i(verb, res, None, *ns, None)),
    )
    .await;
    let mut denied = Vec::new();
    for ((verb, res, ns), allowed) in checks.iter().zip(reviews) {
        match allowed {
            Ok(true) => {}
            Ok(false) => denied.push(format!(
                "{verb} {}{}",
                res.plural,
                match ns.filter(|_| res.namespaced) {
                    Some(ns) => format!(" in namespace {ns}"),
                    None if res.namespaced => " in all namespaces".to_string(),
                    None => String::new(),
                }
            )),
            Err(_) => return original,
        }
    }
    if denied.is_empty() {
        original
    } else {
        Error::Forbidden(denied)
    }
}

/// The plan for the chosen steps.
fn plan(obs: &Observed, w: &Wanted, steps: Steps) -> Result<(Plan, TlsMode)> {
    let (mode, note) = fix::tls_mode(&obs.prometheus, w);
    let mut plan = Plan::default();
    if let Some(n) = note {
        plan.notes.push(n);
    }
    let found = fix::find_etcd_service_monitor(obs);
    let prom_ns = obs.prometheus["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
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
    if steps.endpoints() {
        let Some((sm, idx)) = found else {
            return Err(Error::NotFound {
                what: "an etcd ServiceMonitor selected by this Prometheus".into(),
                hint: "run `kubectl promfix servicemonitor` (or `etcd`) first, which creates one"
                    .into(),
            });
        };
        plan.extend(fix::plan_endpoints(obs, w, sm, idx).map_err(Error::Input)?);
    }
    if steps.servicemonitor() {
        plan.extend(fix::plan_servicemonitor(obs, w, mode, found).map_err(Error::Input)?);
    }
    Ok((plan, mode))
}

/// Run a command of the etcd family.
pub async fn run(global: &GlobalOpts, args: &EtcdArgs, steps: Steps) -> Result<crate::Outcome> {
    // 1. Local inputs, validated before any request.
    let certs = if steps.secret() {
        Some(load_certs(args)?)
    } else {
        None
    };
    let mut endpoints = Vec::new();
    for e in &args.endpoints.endpoints {
        endpoints.extend(certs::intake::parse_endpoint_list(e, args.endpoints.port)?);
    }
    let mut w = Wanted::with_defaults();
    w.secret_name = args.names.secret_name.clone();
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

    // 2. The cluster.
    let mut kube = Kube::connect(global, global.context.first().map(String::as_str)).await?;
    kube.server_dry_run = args.write.dry_run == DryRun::Server;
    // Discovery, the Prometheus resources and the etcd members in one round trip; the errors
    // in that order (no operator first).
    let need_endpoints = steps.endpoints() || (args.probe && certs.is_some());
    let (served, prom, found_endpoints) = tokio::join!(
        kube.serves(&k::PROMETHEUSES),
        choose_prometheus(
            &kube,
            global.namespace.as_deref(),
            args.prometheus.prometheus.as_deref(),
        ),
        async {
            if need_endpoints && endpoints.is_empty() {
                Some(endpoints_from_cluster(&kube).await)
            } else {
                None
            }
        },
    );
    // A refused read: list every permission the command lacks at once (exit 5), not the first.
    let (served, prom, found_endpoints) = match (served, prom, found_endpoints) {
        (Err(e), ..) | (_, Err(e), _) | (.., Some(Err(e))) if e.status() == Some(403) => {
            return Err(all_missing(&kube, global.namespace.as_deref(), steps, e).await);
        }
        other => other,
    };
    if !served? {
        return Err(Error::NotFound {
            what: "the Prometheus Operator (monitoring.coreos.com/v1 prometheuses)".into(),
            hint: "this cluster does not serve the operator's resources; install kube-prometheus-stack or kube-prometheus first".into(),
        });
    }
    let prom = prom?;
    if need_endpoints {
        if let Some(found) = found_endpoints {
            endpoints = found?;
        }
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
        for e in &endpoints {
            let r = certs::probe::probe(
                e,
                c,
                w.server_name.as_deref(),
                w.insecure_skip_verify,
                Duration::from_secs(3),
            )
            .await;
            if r.is_ok() {
                eprintln!("probe {e}: {}", r.outcome);
            } else {
                eprintln!("warning: probe {e}: {}", r.outcome);
            }
        }
    }

    // 4. Rounds of observe → plan → apply.
    let mut backup: Option<PathBuf> = None;
    let mut applied: Vec<String> = Vec::new();
    for round in 0..ROUNDS {
        let obs = match observe(&kube, &prom, &w).await {
            Err(e) if e.status() == Some(403) => {
                let ns = prom["metadata"]["namespace"].as_str();
                return Err(all_missing(&kube, ns, steps, e).await);
            }
            r => r?,
        };
        let (plan, mode) = plan(&obs, &w, steps)?;
        if round == 0 {
            print!("{}", plan_view::render(&plan, args.write.show_secrets));
            if let Some(path) = &args.write.helm_values
                && plan.changes.iter().any(|c| c.helm.is_some())
            {
                let text =
                    serde_yaml_ng::to_string(&fix::helm_values(&w, mode)).unwrap_or_default();
                std::fs::write(path, text).map_err(|e| {
                    Error::Input(format!(
                        "cannot write the Helm values file {}: {e}",
                        path.display()
                    ))
                })?;
                eprintln!("Helm values override written to {}", path.display());
            }
            if args.write.dry_run == DryRun::Client {
                if let Some(fmt) = args.write.output {
                    print!(
                        "{}",
                        plan_view::objects(&plan, fmt, args.write.show_secrets)
                    );
                }
                return Ok(crate::Outcome::Ok);
            }
            if plan.is_empty() {
                return Ok(crate::Outcome::Ok);
            }
            interact::confirm(
                &format!("Apply these {} changes?", plan.changes.len()),
                args.write.yes,
            )?;
            apply::preflight(&kube, &plan).await?;
        } else if plan.is_empty() {
            // A write whose answer was lost (a cut connection, retried into 409) did land:
            // re-reading shows nothing left to do. That is success, not "kept changing".
            return Ok(crate::Outcome::Ok);
        }
        if args.write.dry_run == DryRun::None {
            let dir = args
                .write
                .backup_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("."));
            let p = apply::write_backup(&plan, &kube.context, &dir, steps.name())?;
            if backup.is_none() {
                eprintln!(
                    "backup: {} (restore with `kubectl promfix rollback {}`)",
                    p.display(),
                    p.display()
                );
            }
            backup.get_or_insert(p);
        }
        // Two waves of concurrent writes: first the Secret and the Service (what the others
        // rely on: the Prometheus may only reference an existing Secret, the Endpoints and the
        // stale slices only change once the selector is gone), then everything else. Within a
        // wave the writes are independent.
        let mut conflict = false;
        let waves: [Vec<usize>; 2] = {
            let first = |c: &crate::plan::Change| {
                matches!(c.object.plural.as_str(), "secrets" | "services")
            };
            let idx = 0..plan.changes.len();
            [
                idx.clone().filter(|&i| first(&plan.changes[i])).collect(),
                idx.filter(|&i| !first(&plan.changes[i])).collect(),
            ]
        };
        let mut done: Vec<bool> = vec![false; plan.changes.len()];
        for wave in &waves {
            let results = futures::future::join_all(
                wave.iter().map(|&i| apply::write(&kube, &plan.changes[i])),
            )
            .await;
            let mut failed: Option<(usize, kube::Error)> = None;
            for (&i, r) in wave.iter().zip(results) {
                let change = &plan.changes[i];
                let step =
                    Step::start(format!("{} {}", verb_word(change), change.object.display()));
                match r {
                    Ok(_) => {
                        step.done(if kube.server_dry_run {
                            "ok (server dry run)"
                        } else {
                            "done"
                        });
                        applied.push(change.object.display());
                        done[i] = true;
                    }
                    Err(kube::Error::Api(s)) if s.code == 409 => {
                        step.fail("changed meanwhile (409): reading again");
                        conflict = true;
                    }
                    Err(e) => {
                        step.fail(&e.to_string());
                        if failed.is_none() {
                            failed = Some((i, e));
                        }
                    }
                }
            }
            if let Some((i, e)) = failed {
                let change = &plan.changes[i];
                return Err(Error::Partial {
                    message: format!(
                        "{} {}: {}",
                        verb_word(change),
                        change.object.display(),
                        api_message(&e)
                    ),
                    applied: if applied.is_empty() {
                        "nothing".into()
                    } else {
                        applied.join(", ")
                    },
                    pending: plan
                        .changes
                        .iter()
                        .zip(&done)
                        .filter(|(_, d)| !**d)
                        .map(|(c, _)| c.object.display())
                        .collect::<Vec<_>>()
                        .join(", "),
                    backup: backup
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "(none)".into()),
                });
            }
            if conflict {
                break;
            }
        }
        if !conflict {
            if steps == Steps::All && !args.no_verify && !kube.server_dry_run {
                eprintln!(
                    "Prometheus rolls its pods to mount the Secret; check with `kubectl promfix verify`."
                );
            }
            return Ok(crate::Outcome::Ok);
        }
    }
    Err(Error::Partial {
        message: format!(
            "the objects kept changing while this ran ({ROUNDS} rounds of 409 Conflict)"
        ),
        applied: if applied.is_empty() {
            "nothing".into()
        } else {
            applied.join(", ")
        },
        pending: "the rest of the plan".into(),
        backup: backup
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(none)".into()),
    })
}

fn verb_word(c: &crate::plan::Change) -> &'static str {
    match c.op {
        crate::plan::Op::Create => "create",
        crate::plan::Op::MergePatch { .. } => "patch",
        crate::plan::Op::Delete { .. } => "delete",
    }
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
        other => other.to_string(),
    }
}

/// Map a certificate error to the library error (kept for callers that load certs alone).
pub fn cert_error(e: CertError) -> Error {
    Error::Certs(e)
}
