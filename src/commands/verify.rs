//! `kubectl promfix verify`: for every pod of the chosen Prometheus resource(s), exec into the
//! prometheus container and compare the SHA-256 of each mounted Secret file with the Secret's,
//! then ask that pod's Prometheus for the etcd job's active targets (through pods/proxy) and
//! explain every problem with its fix. Pods from before the Secret was mounted are waited for
//! (or reported with `--no-wait`); targets are waited for until their first scrape after the pod
//! started and after the Secret and ServiceMonitor last changed.

use crate::Outcome;
use crate::cli::{Cli, Command, GlobalOpts, Output};
use crate::error::{Error, Result, api_message};
use crate::fixes::etcd::{self as fix, Observed};
use crate::kube::{self as k, Kube};
use crate::output::interact::{Step, go_duration};
use crate::verify::report::{self, PodReport};
use crate::verify::targets::{self, JobMatch, NoTargetFacts};
use crate::verify::{self as v, name, namespace};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// What to check and how long to wait.
#[derive(Debug, Clone)]
pub struct Params {
    pub secret: String,
    /// `--service-monitor NAMESPACE/NAME`: the etcd ServiceMonitor, when several could be it.
    pub service_monitor: Option<String>,
    pub job: Option<String>,
    pub no_wait: bool,
    pub timeout: Duration,
    /// The etcd client certificate files of this machine, to compare with the Secret's.
    pub node_certs: Vec<crate::certs::life::FileCert>,
}

/// How long one exec may take.
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the rollout and the targets are polled.
const POLL: Duration = Duration::from_secs(2);
/// How long after a ServiceMonitor change verify waits for Prometheus to load a new
/// configuration before it takes the targets as they are (the change may not alter the config).
const CONFIG_GRACE: f64 = 90.0;
/// Seconds after a Secret, ServiceMonitor or Endpoints write before a scrape counts (file sync, reload).
const SYNC_MARGIN: f64 = 2.0;
/// A change younger than this (seconds) may not be in a pod's files for long: scrapes count
/// from when verify saw the files equal to the Secret.
const RECENT_CHANGE: f64 = 180.0;

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Run the command (its flags are in `cli.command`, the global ones in `cli.global`).
pub async fn run(cli: &Cli) -> Result<Outcome> {
    let Command::Verify { prometheus, opts } = &cli.command else {
        return Err(Error::Internal("wrong command".into()));
    };
    let g = &cli.global;
    // The files first: a wrong --from-dir is an error before any request.
    let node_certs = super::node_client_certs(opts.from_dir.as_deref())?;
    let kube = Kube::connect(g, g.context.first().map(String::as_str)).await?;
    require_operator(&kube).await?;
    let proms = select_prometheuses(
        &kube,
        g.namespace.as_deref(),
        prometheus.prometheus.as_deref(),
    )
    .await?;
    let params = Params {
        secret: opts.secret.clone(),
        service_monitor: prometheus.service_monitor.clone(),
        job: opts.job.clone(),
        no_wait: opts.no_wait,
        timeout: opts.timeout,
        node_certs,
    };
    let reports = verify_all(&kube, &proms, &params).await?;
    print_reports(&reports, opts.output);
    Ok(outcome(&reports))
}

/// Verify after a fix (for `kubectl promfix etcd` unless `--no-verify`): the given Prometheus,
/// waiting for its rollout and first scrape up to `timeout`. Prints the table on stdout unless
/// `output` is given (the caller puts the reports into its document).
pub async fn verify_after_fix(
    global: &GlobalOpts,
    prometheus: &Value,
    secret: &str,
    service_monitor: Option<&str>,
    timeout: Duration,
    output: Option<Output>,
) -> Result<(Outcome, Vec<PodReport>)> {
    let kube = Kube::connect(global, global.context.first().map(String::as_str)).await?;
    let params = Params {
        secret: secret.to_string(),
        service_monitor: service_monitor.map(str::to_string),
        job: None,
        no_wait: false,
        timeout,
        // After a fix from files: the files it was given are the Secret's (no comparison).
        node_certs: Vec::new(),
    };
    let reports = verify_all(&kube, std::slice::from_ref(prometheus), &params).await?;
    if output.is_none() {
        print_reports(&reports, None);
    }
    Ok((outcome(&reports), reports))
}

fn outcome(reports: &[PodReport]) -> Outcome {
    if !reports.is_empty() && reports.iter().all(|r| r.ok) {
        Outcome::Ok
    } else {
        Outcome::Problems
    }
}

fn print_reports(reports: &[PodReport], fmt: Option<Output>) {
    match fmt {
        Some(Output::Json) => println!("{}", report::render_json(reports)),
        Some(Output::Yaml) => print!("{}", serde_yaml_ng::to_string(reports).unwrap_or_default()),
        None => print!("{}", report::render_table(reports)),
    }
}

async fn require_operator(kube: &Kube) -> Result<()> {
    if !kube.serves(&k::PROMETHEUSES).await? {
        return Err(Error::NotFound {
            what: "the Prometheus Operator (monitoring.coreos.com/v1 prometheuses)".into(),
            hint: "this cluster does not serve the operator's resources; verify checks Prometheus Operator pods".into(),
        });
    }
    Ok(())
}

/// `--prometheus NAME` (in `-n` or any namespace); else every Prometheus that selects an etcd
/// ServiceMonitor; else (none does) every Prometheus, so the report says why.
pub async fn select_prometheuses(
    kube: &Kube,
    ns: Option<&str>,
    name_opt: Option<&str>,
) -> Result<Vec<Value>> {
    let all = kube.list_prometheuses(ns).await?;
    let where_ = ns
        .map(|n| format!("namespace {n}"))
        .unwrap_or_else(|| "any namespace".into());
    if let Some(n) = name_opt {
        let found: Vec<Value> = all.into_iter().filter(|p| name(p) == n).collect();
        if found.is_empty() {
            return Err(Error::NotFound {
                what: format!("Prometheus {n} in {where_}"),
                hint: "check with `kubectl get prometheuses -A`; pass -n NAMESPACE and --prometheus NAME"
                    .into(),
            });
        }
        return Ok(found);
    }
    if all.is_empty() {
        return Err(Error::NotFound {
            what: format!("a Prometheus resource in {where_}"),
            hint: "check with `kubectl get prometheuses -A`; pass -n NAMESPACE".into(),
        });
    }
    let (sms, nss) = tokio::try_join!(
        kube.list(&k::SERVICEMONITORS, None, None),
        kube.list(&k::NAMESPACES, None, None),
    )?;
    let selecting: Vec<Value> = all
        .iter()
        .filter(|p| {
            let obs = Observed {
                prometheus: (*p).clone(),
                service_monitors: sms.clone(),
                namespaces: nss.clone(),
                ..Default::default()
            };
            fix::find_etcd_service_monitor(&obs).is_some()
        })
        .cloned()
        .collect();
    Ok(if selecting.is_empty() { all } else { selecting })
}

/// Verify every pod of every given Prometheus.
pub async fn verify_all(kube: &Kube, proms: &[Value], p: &Params) -> Result<Vec<PodReport>> {
    let mut out = Vec::new();
    for prom in proms {
        out.extend(verify_prometheus(kube, prom, p).await?);
    }
    Ok(out)
}

/// The cluster facts about the etcd scrape of one Prometheus.
struct Facts {
    prom: Value,
    secret: Option<Value>,
    /// The etcd ServiceMonitor and whether this Prometheus selects it.
    sm: Option<(Value, usize, bool)>,
    namespaces: Vec<Value>,
    services: Vec<Value>,
    endpoints: Vec<Value>,
    /// Secrets the etcd endpoint's tlsConfig references (in the ServiceMonitor's namespace).
    ref_secrets: Vec<Value>,
}

async fn observe(
    kube: &Kube,
    prom: &Value,
    secret: &str,
    service_monitor: Option<&str>,
) -> Result<Facts> {
    let (ns, n) = (namespace(prom).to_string(), name(prom).to_string());
    let (prom_now, sec, sms, nss) = tokio::try_join!(
        kube.get_opt(k::prometheus_res(prom), Some(&ns), &n),
        kube.get_opt(&k::SECRETS, Some(&ns), secret),
        kube.list(&k::SERVICEMONITORS, None, None),
        kube.list(&k::NAMESPACES, None, None),
    )?;
    let prom = prom_now.ok_or_else(|| Error::NotFound {
        what: format!("{} {ns}/{n}", crate::crd::kind_of(prom)),
        hint: "it was deleted while this ran".into(),
    })?;
    let mut obs = Observed {
        prometheus: prom.clone(),
        service_monitors: sms,
        namespaces: nss,
        service_monitor_choice: service_monitor.map(str::to_string),
        ..Default::default()
    };
    if let Some(tied) = fix::etcd_service_monitor_tie(&obs) {
        return Err(Error::Input(format!(
            "{} ServiceMonitors selected by Prometheus {ns}/{n} could be etcd's: {}; choose one with --service-monitor NAMESPACE/NAME",
            tied.len(),
            tied.join(", ")
        )));
    }
    let mut sm = fix::find_etcd_service_monitor(&obs).map(|(s, i)| (s.clone(), i, true));
    if sm.is_none() {
        // One that exists but this Prometheus does not select: found as if it selected all.
        let real = std::mem::take(&mut obs.prometheus);
        obs.prometheus = json!({"metadata": real["metadata"].clone(),
            "spec": {"serviceMonitorSelector": {}, "serviceMonitorNamespaceSelector": {}}});
        sm = fix::find_etcd_service_monitor(&obs).map(|(s, i)| (s.clone(), i, false));
        obs.prometheus = real;
    }
    let (mut services, mut endpoints) = (Vec::new(), Vec::new());
    if let Some((m, _, _)) = &sm {
        let sel = label_selector_string(&m["spec"]["selector"]);
        services = kube.list(&k::SERVICES, None, sel.as_deref()).await?;
        services
            .retain(|s| crate::selector::matches(&m["spec"]["selector"], &s["metadata"]["labels"]));
        for s in &services {
            if let Some(e) = kube
                .get_opt(&k::ENDPOINTS, Some(namespace(s)), name(s))
                .await?
            {
                endpoints.push(e);
            }
        }
    }
    let mut ref_secrets = Vec::new();
    if let Some((m, i, _)) = &sm {
        let mut names: Vec<String> = v::secret_refs(&m["spec"]["endpoints"][*i])
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        names.dedup();
        for n in names {
            if let Some(x) = kube.get_opt(&k::SECRETS, Some(namespace(m)), &n).await? {
                ref_secrets.push(x);
            }
        }
    }
    Ok(Facts {
        prom,
        secret: sec,
        sm,
        namespaces: obs.namespaces,
        services,
        endpoints,
        ref_secrets,
    })
}

/// matchLabels as a label selector string for the list call (None: list all, filter here).
fn label_selector_string(sel: &Value) -> Option<String> {
    let m = sel["matchLabels"].as_object()?;
    if m.is_empty() {
        return None;
    }
    Some(
        m.iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// The pods of the Prometheus and, per pod, why it is stale.
async fn pods_and_staleness(
    kube: &Kube,
    prom: &Value,
    secret: &str,
) -> Result<Vec<(Value, Option<String>)>> {
    let ns = namespace(prom);
    let (pods, stss) = tokio::try_join!(
        kube.list(&k::PODS, Some(ns), None),
        kube.list(&k::STATEFULSETS, Some(ns), None),
    )?;
    let listed = v::lists_secret(prom, secret);
    Ok(v::pods_of(prom, &pods)
        .into_iter()
        .map(|pod| {
            let sts = pod["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|o| o["kind"] == "StatefulSet")
                .and_then(|o| {
                    stss.iter()
                        .find(|s| name(s) == o["name"].as_str().unwrap_or(""))
                });
            let stale = if listed {
                v::stale_reason(pod, sts, secret)
            } else {
                None
            };
            (pod.clone(), stale)
        })
        .collect())
}

fn rollout_done(prom: &Value, pods: &[(Value, Option<String>)]) -> bool {
    pods.len() >= v::expected_pods(prom) && pods.iter().all(|(p, s)| s.is_none() && v::is_ready(p))
}

/// What the checks of every pod compare with, read off the facts once: the job, the files and
/// their digests, since when scrapes count, the scheme, the shards' addresses and the client
/// certificate's life.
struct Expect {
    job: JobMatch,
    /// The ServiceMonitor endpoint's port name.
    sm_port: Option<String>,
    /// Why the cluster's objects give this Prometheus no etcd target (empty: they do).
    no_target_reasons: Vec<String>,
    /// The keys the ServiceMonitor references in Secrets (secret references mode).
    refs: Vec<(String, String)>,
    ref_mode: bool,
    /// (key, path, SHA-256) of each file the pod must hold.
    files: Vec<(String, String, String)>,
    files_note: Option<String>,
    /// The last change of what the scrapes depend on (plus the sync margin).
    changed: f64,
    sm_changed: Option<f64>,
    scheme: Option<String>,
    shards: u64,
    addresses: Vec<String>,
    life: Option<std::result::Result<crate::certs::life::CertLife, crate::certs::life::LifeError>>,
    fix_at: Option<k8s_openapi::jiff::Timestamp>,
}

/// One verification's context: the cluster, the Prometheus, the options and the clock.
struct Run<'a> {
    kube: &'a Kube,
    facts: &'a Facts,
    p: &'a Params,
    pname: String,
    start: Instant,
    deadline: Instant,
}

impl Run<'_> {
    /// `Prometheus` or `PrometheusAgent`.
    fn kind(&self) -> &'static str {
        crate::crd::kind_of(&self.facts.prom)
    }
}

async fn verify_prometheus(kube: &Kube, prom: &Value, p: &Params) -> Result<Vec<PodReport>> {
    let facts = observe(kube, prom, &p.secret, p.service_monitor.as_deref()).await?;
    let start = Instant::now();
    let run = Run {
        kube,
        facts: &facts,
        p,
        pname: format!("{}/{}", namespace(&facts.prom), name(&facts.prom)),
        start,
        deadline: start + p.timeout,
    };
    let pods = wait_for_rollout(&run).await?;
    let e = expect(&facts, p)?;
    let mut reports = Vec::new();
    for (pod, stale) in &pods {
        reports.push(check_pod(&run, &e, pod, stale).await);
    }
    reports.extend(missing_shards(&run, &e, &pods));
    if reports.is_empty() {
        let sts_name = crate::crd::statefulset_name(prom, name(prom), "0");
        // Best effort: without it the report still says there are no pods.
        let sts = kube
            .get_opt(&k::STATEFULSETS, Some(namespace(prom)), &sts_name)
            .await
            .ok()
            .flatten();
        reports.push(no_pods(&run, &e, sts.as_ref()));
    }
    Ok(reports)
}

/// The pods, after waiting for the rollout: pods from before the Secret was mounted to be
/// replaced (unless --no-wait, or the Secret is not listed).
async fn wait_for_rollout(run: &Run<'_>) -> Result<Vec<(Value, Option<String>)>> {
    let (prom, p) = (&run.facts.prom, run.p);
    let mut pods = pods_and_staleness(run.kube, prom, &p.secret).await?;
    let stale_now = pods.iter().any(|(_, s)| s.is_some());
    if p.no_wait || !v::lists_secret(prom, &p.secret) || rollout_done(prom, &pods) {
        if stale_now {
            eprintln!("note: stale pods are reported as they are (--no-wait)");
        }
        return Ok(pods);
    }
    let mut step = Step::start(format!(
        "waiting for the rollout of {} {} (pods that mount Secret {})",
        run.kind(),
        run.pname,
        p.secret
    ));
    loop {
        if rollout_done(prom, &pods) {
            step.done(&format!("{} pod(s) ready", pods.len()));
            return Ok(pods);
        }
        let progress = v::rollout_progress(v::expected_pods(prom), &pods);
        if Instant::now() >= run.deadline {
            step.fail(&format!(
                "not done after {} (--timeout): {progress}",
                go_duration(p.timeout)
            ));
            return Ok(pods);
        }
        step.progress(&progress, run.start.elapsed(), p.timeout);
        tokio::time::sleep(POLL).await;
        pods = pods_and_staleness(run.kube, prom, &p.secret).await?;
    }
}

/// What every pod is checked against.
fn expect(facts: &Facts, p: &Params) -> Result<Expect> {
    let prom = &facts.prom;
    let (job, sm_port) = match (&p.job, &facts.sm) {
        (Some(j), _) => (JobMatch::Job(j.clone()), None),
        (None, Some((m, i, _))) => (
            JobMatch::ServiceMonitor {
                namespace: namespace(m).to_string(),
                name: name(m).to_string(),
            },
            m["spec"]["endpoints"][*i]["port"]
                .as_str()
                .map(str::to_string),
        ),
        (None, None) => (JobMatch::Job("etcd".into()), None),
    };
    let no_target_reasons = targets::explain_no_targets(&NoTargetFacts {
        prometheus: prom,
        service_monitor: facts.sm.as_ref().map(|(m, _, _)| m),
        selected: facts.sm.as_ref().is_some_and(|(_, _, s)| *s),
        namespaces: &facts.namespaces,
        services: &facts.services,
        endpoints: &facts.endpoints,
        port: sm_port.as_deref(),
    });
    let refs: Vec<(String, String)> = facts
        .sm
        .as_ref()
        .map(|(m, i, _)| v::secret_refs(&m["spec"]["endpoints"][*i]))
        .unwrap_or_default();
    let ref_mode = !refs.is_empty() && p.job.is_none();
    let (files, files_note) = expected_files(facts, p, &refs, ref_mode)?;
    let shards = v::shards_of(prom);
    let addresses = if shards > 1 && p.job.is_none() {
        targets::expected_addresses(&facts.endpoints, sm_port.as_deref())
    } else {
        Vec::new()
    };
    let life = facts.secret.as_ref().filter(|_| !ref_mode).and_then(|s| {
        let endpoint = facts
            .sm
            .as_ref()
            .map(|(m, i, _)| &m["spec"]["endpoints"][*i]);
        v::secret_cert_life(s, endpoint, now_secs() as i64)
    });
    Ok(Expect {
        job,
        sm_port,
        no_target_reasons,
        changed: last_changed(facts, ref_mode),
        sm_changed: facts
            .sm
            .as_ref()
            .and_then(|(m, _, _)| v::last_change(m))
            .and_then(|t| v::parse_time(&t)),
        scheme: wanted_scheme(facts, p),
        refs,
        ref_mode,
        files,
        files_note,
        shards,
        addresses,
        life,
        // When kubectl-promfix wrote the Secret: a revert of the rest of the fix comes after it.
        fix_at: facts.secret.as_ref().and_then(v::promfix_wrote_at),
    })
}

/// The files a pod must hold, (key, path, SHA-256), and a note when a referenced key is missing.
type Files = (Vec<(String, String, String)>, Option<String>);

/// What must be in the pod. Files mode: every key of the Secret under
/// /etc/prometheus/secrets/<secret>/ (without a Secret: the names only, digest empty). Secret
/// references: the referenced keys in the operator's tls-assets directory.
fn expected_files(
    facts: &Facts,
    p: &Params,
    refs: &[(String, String)],
    ref_mode: bool,
) -> Result<Files> {
    if !ref_mode {
        let dir = v::secret_dir(&p.secret);
        let digests = match &facts.secret {
            Some(s) => v::secret_digests(s)?,
            None => v::keys_without_secret(facts.sm.as_ref().map(|(m, _, _)| m), &p.secret)
                .into_iter()
                .map(|k| (k, String::new()))
                .collect(),
        };
        let files = digests
            .into_iter()
            .map(|(k, d)| (k.clone(), format!("{dir}/{k}"), d))
            .collect();
        return Ok((files, None));
    }
    let mut files = Vec::new();
    let mut note = None;
    let sm_ns = facts
        .sm
        .as_ref()
        .map(|(m, _, _)| namespace(m))
        .unwrap_or("");
    for (sname, key) in refs {
        let digest = facts
            .ref_secrets
            .iter()
            .find(|x| name(x) == sname)
            .map(v::secret_digests)
            .transpose()?
            .and_then(|d| d.get(key).cloned());
        if digest.is_none() {
            note = Some(format!(
                "the ServiceMonitor references key {key} of Secret {sm_ns}/{sname}, which does not exist. Fix: \
                 `kubectl promfix secret --tls-from secret`."
            ));
        }
        files.push((
            format!("{sname}/{key}"),
            v::tls_asset_path(sm_ns, sname, key),
            digest.unwrap_or_default(),
        ));
    }
    Ok((files, note))
}

/// Scrapes older than the last change of the Secret, the ServiceMonitor, the Endpoints (or the
/// referenced Secrets) do not count: that time, plus the sync margin.
fn last_changed(facts: &Facts, ref_mode: bool) -> f64 {
    [
        facts
            .secret
            .as_ref()
            .filter(|_| !ref_mode)
            .and_then(v::last_change),
        facts.sm.as_ref().and_then(|(m, _, _)| v::last_change(m)),
    ]
    .into_iter()
    .flatten()
    .chain(facts.endpoints.iter().filter_map(v::last_change))
    .chain(
        facts
            .ref_secrets
            .iter()
            .filter(|_| ref_mode)
            .filter_map(v::last_change),
    )
    .filter_map(|t| v::parse_time(&t))
    .fold(f64::MIN, f64::max)
        + SYNC_MARGIN
}

/// The scheme the ServiceMonitor asks for: targets with another are from an older config.
fn wanted_scheme(facts: &Facts, p: &Params) -> Option<String> {
    match (&p.job, &facts.sm) {
        (None, Some((m, i, true))) => Some(
            m["spec"]["endpoints"][*i]["scheme"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or("http")
                .to_ascii_lowercase(),
        ),
        _ => None,
    }
}

/// One pod's report: its files, then its targets, then the verdict.
async fn check_pod(run: &Run<'_>, e: &Expect, pod: &Value, stale: &Option<String>) -> PodReport {
    let mut r = pod_report(run, e, pod, stale);
    let files_synced_at = check_files(run, e, pod, stale, &mut r).await;
    // Targets.
    let since = v::started_at(pod)
        .and_then(|t| v::parse_time(&t))
        .unwrap_or(f64::MIN)
        .max(e.changed)
        .max(files_synced_at.unwrap_or(f64::MIN));
    let expected_targets = match (&r.shard_targets, &run.p.job) {
        (Some(owned), _) => owned.len(),
        (None, Some(_)) => 0,
        (None, None) => targets::expected_targets(&run.facts.endpoints, e.sm_port.as_deref()),
    };
    let (step, unread, since) =
        watch_targets(run, e, pod, stale, since, expected_targets, &mut r).await;
    match unread {
        Some(err) => r.targets_notes.push(err),
        None => target_notes(run, e, stale, since, &mut r),
    }
    r.targets_notes.extend(reverted_scheme(run, e));
    r.conclude();
    if let Some(s) = step {
        let counts = targets::targets_progress(&r.targets, since, expected_targets, true);
        if r.ok {
            s.done(&format!("up ({counts})"));
        } else {
            s.fail(&format!("problems found ({counts})"));
        }
    }
    r
}

/// A pod's report before its checks: who it is, its shard's targets, the certificate's life, and
/// why its files cannot be right (no Secret, not listed in spec.secrets).
fn pod_report(run: &Run<'_>, e: &Expect, pod: &Value, stale: &Option<String>) -> PodReport {
    let (prom, p) = (&run.facts.prom, run.p);
    let mut r = PodReport {
        prometheus: run.pname.clone(),
        kind: run.kind().to_string(),
        namespace: namespace(pod).to_string(),
        pod: name(pod).to_string(),
        shard: v::shard_of(pod),
        stale: stale.clone(),
        secret: p.secret.clone(),
        job: e.job.describe(),
        ..Default::default()
    };
    if !e.addresses.is_empty() {
        r.shard_targets = Some(v::owned_by(
            &e.addresses,
            e.shards,
            r.shard.parse().unwrap_or(0),
        ));
    }
    match &e.life {
        Some(Ok(l)) => {
            r.warnings.extend(l.warning());
            r.client_cert = Some(l.clone());
            if !run.p.node_certs.is_empty() {
                r.node_files = Some(l.compare(&run.p.node_certs));
            }
        }
        Some(Err(err)) => r.warnings.push(err.to_string()),
        None => {}
    }
    if e.ref_mode {
        r.secret = e
            .refs
            .iter()
            .map(|(n, _)| n.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(",");
        r.files_error = e.files_note.clone();
    } else if run.facts.secret.is_none() {
        r.files_error = Some(format!(
            "Secret {}/{} does not exist. Fix: `kubectl promfix secret --ca .. --cert .. --key ..` (or `etcd`).",
            namespace(prom),
            p.secret
        ));
    } else if !v::lists_secret(prom, &p.secret) {
        r.files_error = Some(format!(
            "Secret {} is not listed in spec.secrets of {} {}, so it is not mounted.{} Fix: \
             `kubectl promfix secret` (adds it; the pods roll).",
            p.secret,
            run.kind(),
            run.pname,
            reverted_note(prom, &["f:spec", "f:secrets"], "spec.secrets", e.fix_at)
        ));
    }
    r
}

/// The pod's files against the expected digests (waiting for the kubelet to sync a changed
/// Secret): when they were last seen equal after a change, if they were.
async fn check_files(
    run: &Run<'_>,
    e: &Expect,
    pod: &Value,
    stale: &Option<String>,
    r: &mut PodReport,
) -> Option<f64> {
    if e.files.is_empty() {
        r.files_error = Some(format!(
            "Secret {}/{} has no keys",
            namespace(&run.facts.prom),
            run.p.secret
        ));
        return None;
    }
    let sync_started = Instant::now();
    let argv = v::sha256sum_paths(&v::paths_to_look_for(&e.files));
    loop {
        match run
            .kube
            .exec(namespace(pod), name(pod), v::CONTAINER, &argv, EXEC_TIMEOUT)
            .await
        {
            Ok(out) => {
                let stdout = String::from_utf8_lossy(&out.stdout);
                let found = v::parse_sha256sum(&stdout);
                if found.is_empty() && !out.success && out.exit_code.is_none() {
                    add_note(
                        &mut r.files_error,
                        v::exec_failure(&out.message, "sha256sum"),
                    );
                    r.files.clear();
                } else {
                    r.files = v::compare_paths(&v::as_found(&e.files, &found), &found);
                }
            }
            Err(err) => {
                add_note(
                    &mut r.files_error,
                    v::exec_failure(&err.to_string(), "sha256sum"),
                );
                r.files.clear();
            }
        }
        // An old copy: the kubelet syncs Secret changes into running pods after a while. In
        // the secret references mode the files are keys the operator adds to its tls-assets
        // Secret, mounted in every pod: after a recent change, missing ones are not synced yet.
        let tls_assets =
            e.ref_mode && e.files_note.is_none() && now_secs() - e.changed < RECENT_CHANGE;
        let differs = v::not_synced_yet(&r.files, tls_assets);
        if !differs {
            // Equal now, and maybe only just: after a recent change (the kubelet syncs a Secret
            // within a minute or two), only scrapes from here on surely read the new files.
            if sync_started.elapsed() > POLL || now_secs() - e.changed < RECENT_CHANGE {
                return Some(now_secs());
            }
            return None;
        }
        if run.p.no_wait || stale.is_some() || Instant::now() >= run.deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Whether Prometheus has loaded the configuration of the changed ServiceMonitor: Some(the end
/// of the second its runtimeinfo's lastConfigTime names) when that is after the change and the
/// loaded configuration carries the endpoint, Some(the change) once the grace time has passed,
/// else None.
async fn config_loaded(run: &Run<'_>, e: &Expect, pod: &Value, prefix: &str) -> Option<f64> {
    let prom = &run.facts.prom;
    let info = v::runtimeinfo_path(prom, namespace(pod), name(pod), prefix);
    let changed = e.sm_changed?;
    if let Ok(text) = run.kube.get_text(&info).await
        && let Some(t) = v::config_loaded_at(&text, changed)
    {
        // `lastConfigTime` is truncated to the second: scrapes within that second may come
        // before the reload, under the old configuration.
        let after = t + 1.0;
        // Loaded after the change (to the second): and with it, as the configuration shows?
        let Some((sm, idx, _)) = &run.facts.sm else {
            return Some(after);
        };
        let path = v::loaded_config_path(prom, namespace(pod), name(pod), prefix);
        let carries = match run.kube.get_text(&path).await {
            Ok(c) => v::loaded_config_scrapes(
                &c,
                namespace(sm),
                name(sm),
                *idx,
                &sm["spec"]["endpoints"][*idx],
            ),
            Err(_) => None,
        };
        if carries != Some(false) {
            return Some(after);
        }
    }
    (changed + CONFIG_GRACE < now_secs()).then_some(changed)
}

/// Whether a targets answer is the final one: the targets the cluster asks for, each scraped
/// since `since` with the wanted scheme (or none, where none is expected).
fn targets_done(e: &Expect, r: &PodReport, t: &[targets::Target], since: f64, job: bool) -> bool {
    let owns_none = r.shard_targets.as_ref().is_some_and(Vec::is_empty);
    if t.is_empty() {
        // None expected here: the cluster says so, or the other shards own every address.
        return !e.no_target_reasons.is_empty() || owns_none;
    }
    (e.no_target_reasons.is_empty() || job)
        && t.iter().all(|x| targets::scraped_since(x, since))
        && e.scheme.as_deref().is_none_or(|sc| {
            t.iter()
                .all(|x| x.scrape_url.starts_with(&format!("{sc}://")))
        })
}

/// Read the pod's targets until they are final (waiting only for a pod that is not stale),
/// into `r.targets`. The step shown, if any, the error of the last read, if it failed, and since
/// when scrapes count: `since`, or the time Prometheus loaded the changed ServiceMonitor's
/// configuration if later. A reload keeps each target's last scrape and health until its new
/// scrape loop scrapes (Prometheus' `scrapePool.reload` hands the targets to new loops), so a
/// scrape made after the change with the old configuration does not count.
async fn watch_targets(
    run: &Run<'_>,
    e: &Expect,
    pod: &Value,
    stale: &Option<String>,
    mut since: f64,
    expected_targets: usize,
    r: &mut PodReport,
) -> (Option<Step>, Option<String>, f64) {
    let (prom, p) = (&run.facts.prom, run.p);
    let wait_targets = stale.is_none();
    let prefix = v::route_prefix(prom, Some(pod));
    let path = v::targets_path(prom, namespace(pod), name(pod), &prefix);
    let mut step = wait_targets.then(|| {
        Step::start(format!(
            "{}: waiting for the first scrape of the etcd targets",
            name(pod)
        ))
    });
    let mut config_ok = e.sm_changed.is_none_or(|c| c + CONFIG_GRACE < now_secs());
    loop {
        if !config_ok {
            // The ServiceMonitor changed: the operator regenerates the configuration and the
            // reloader makes Prometheus load it; scrapes before that do not count.
            if let Some(loaded) = config_loaded(run, e, pod, &prefix).await {
                config_ok = true;
                since = since.max(loaded);
            }
        }
        let mut done = false;
        let last_err = match run.kube.get_text(&path).await {
            Ok(text) => match serde_json::from_str::<Value>(&text)
                .map_err(|source| Error::Json {
                    what: "the targets API answer is not JSON".into(),
                    source,
                })
                .and_then(|a| targets::parse_targets(&a, &e.job))
            {
                Ok(t) => {
                    done = config_ok && targets_done(e, r, &t, since, p.job.is_some());
                    r.targets = t;
                    None
                }
                Err(err) => Some(err.to_string()),
            },
            Err(err) => Some(format!(
                "cannot read the targets of {} through pods/proxy ({path}): {}",
                name(pod),
                api_message(&err)
            )),
        };
        if done || !wait_targets || Instant::now() >= run.deadline {
            return (step, last_err, since);
        }
        if let Some(s) = step.as_mut() {
            let progress = match &last_err {
                Some(_) => "the targets cannot be read yet".to_string(),
                None => targets::targets_progress(&r.targets, since, expected_targets, config_ok),
            };
            s.progress(&progress, run.start.elapsed(), p.timeout);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What the targets that were read leave to say: why there are none, which were not scraped
/// since.
fn target_notes(run: &Run<'_>, e: &Expect, stale: &Option<String>, since: f64, r: &mut PodReport) {
    let p = run.p;
    let owns_none = r.shard_targets.as_ref().is_some_and(Vec::is_empty);
    if r.targets.is_empty() && owns_none {
        // Said in the report: this shard owns no etcd target.
    } else if r.targets.is_empty() {
        if e.no_target_reasons.is_empty() && stale.is_some() {
            r.targets_notes.push(
                "none yet in this stale pod (not waited for: it still runs without the Secret)"
                    .into(),
            );
        } else if e.no_target_reasons.is_empty() {
            r.targets_notes.push(format!(
                "Prometheus has not discovered them (within {}s); the cluster objects look right",
                p.timeout.as_secs()
            ));
        } else {
            r.targets_notes.extend(e.no_target_reasons.iter().cloned());
        }
    } else {
        if !e.no_target_reasons.is_empty() && p.job.is_none() {
            r.targets_notes.extend(e.no_target_reasons.iter().cloned());
        }
        let unscraped: Vec<&str> = r
            .targets
            .iter()
            .filter(|t| !targets::scraped_since(t, since))
            .map(|t| t.scrape_url.as_str())
            .collect();
        if !unscraped.is_empty() && stale.is_none() {
            r.targets_notes.push(format!(
                "not scraped since the pod started or the Secret/ServiceMonitor changed (within {}s): {}",
                p.timeout.as_secs(),
                unscraped.join(", ")
            ));
        }
    }
}

/// The ServiceMonitor scrapes without https because someone took back the fix: who.
fn reverted_scheme(run: &Run<'_>, e: &Expect) -> Option<String> {
    let (Some((m, i, _)), Some(sc)) = (&run.facts.sm, &e.scheme) else {
        return None;
    };
    if e.ref_mode || sc == "https" {
        return None;
    }
    let note = reverted_note(m, &["f:spec", "f:endpoints"], "spec.endpoints", e.fix_at);
    (!note.is_empty()).then(|| {
        format!(
            "ServiceMonitor {}/{} endpoint {i} scrapes with scheme {sc}.{note}",
            namespace(m),
            name(m)
        )
    })
}

/// Pods the Prometheus asks for that do not exist (a shard's StatefulSet that cannot create
/// them): what they would scrape is scraped by nobody.
fn missing_shards(
    run: &Run<'_>,
    e: &Expect,
    pods: &[(Value, Option<String>)],
) -> Option<PodReport> {
    let prom = &run.facts.prom;
    let (pname, shards) = (&run.pname, e.shards);
    let want = v::expected_pods(prom);
    if pods.is_empty() || pods.len() >= want {
        return None;
    }
    let have: std::collections::BTreeSet<String> =
        pods.iter().map(|(pod, _)| v::shard_of(pod)).collect();
    let missing: Vec<String> = (0..shards)
        .map(|i| i.to_string())
        .filter(|i| !have.contains(i))
        .collect();
    let sts = |i: &str| crate::crd::statefulset_name(prom, name(prom), i);
    let mut r = PodReport {
        prometheus: pname.clone(),
        kind: run.kind().to_string(),
        namespace: namespace(prom).to_string(),
        pod: "(missing)".into(),
        shard: missing.join(","),
        secret: run.p.secret.clone(),
        job: e.job.describe(),
        files_error: Some(format!(
            "{} {pname} asks for {want} pod(s) ({} replica(s) x {shards} shard(s)) and {} exist{}: the etcd targets of a missing shard are scraped by nobody. `kubectl -n {} describe statefulset {}` says why (e.g. a name too long for the 63-byte controller-revision-hash label)",
            run.kind(),
            want / shards as usize,
            pods.len(),
            if missing.is_empty() {
                String::new()
            } else {
                format!("; shard(s) {} have none", missing.join(", "))
            },
            namespace(prom),
            missing.first().map(|i| sts(i)).unwrap_or_else(|| sts("0")),
        )),
        ..Default::default()
    };
    if !e.addresses.is_empty() {
        r.shard_targets = Some(
            missing
                .iter()
                .filter_map(|i| i.parse().ok())
                .flat_map(|i| v::owned_by(&e.addresses, shards, i))
                .collect(),
        );
    }
    r.conclude();
    Some(r)
}

/// The report when the Prometheus has no pods.
fn no_pods(run: &Run<'_>, e: &Expect, sts: Option<&Value>) -> PodReport {
    let prom = &run.facts.prom;
    let why = no_pods_reason(run.kind(), &run.pname, name(prom), sts);
    let mut r = PodReport {
        prometheus: run.pname.clone(),
        kind: run.kind().to_string(),
        namespace: namespace(prom).to_string(),
        pod: "(none)".into(),
        secret: run.p.secret.clone(),
        job: e.job.describe(),
        files_error: Some(why),
        ..Default::default()
    };
    r.conclude();
    r
}

/// Why a Prometheus has no pods: its StatefulSet replacing them (a rollout that deleted every
/// old pod at once, as Parallel pod management does with pods not Ready), scaled to zero, or
/// no StatefulSet at all.
fn no_pods_reason(kind: &str, pname: &str, n: &str, sts: Option<&Value>) -> String {
    let replicas = |s: &Value| s["spec"]["replicas"].as_u64().unwrap_or(1);
    match sts {
        Some(s) if replicas(s) > 0 => format!(
            "{kind} {pname} has no pods right now: its StatefulSet {} is replacing them (a rollout; spec.replicas {}, {} ready); run `kubectl promfix verify` without --no-wait to wait for it",
            name(s),
            replicas(s),
            s["status"]["readyReplicas"].as_u64().unwrap_or(0),
        ),
        Some(s) => format!(
            "{kind} {pname} has no pods: its StatefulSet {} has spec.replicas 0",
            name(s)
        ),
        None => format!(
            "{kind} {pname} has no pods (labelled prometheus={n} or operator.prometheus.io/name={n}), nor StatefulSet; is the operator running?"
        ),
    }
}

/// " kubectl-promfix wrote FIELD; MANAGER ... wrote it since: ..." when the fix was reverted
/// (empty otherwise).
fn reverted_note(
    obj: &Value,
    path: &[&str],
    field: &str,
    fix_at: Option<k8s_openapi::jiff::Timestamp>,
) -> String {
    match v::reverted_by(obj, path, fix_at) {
        Some(who) => format!(
            " kubectl-promfix wrote {field}, and {who} wrote it since: the fix was reverted (self-heal or a sync of a GitOps controller, a `helm upgrade`, or a hand edit); change it where that manager takes it from."
        ),
        None => String::new(),
    }
}

/// Put `note` first, keeping what was said before.
fn add_note(slot: &mut Option<String>, note: String) {
    *slot = Some(match slot.take() {
        Some(before) if before != note => format!("{note} Also: {before}"),
        _ => note,
    });
}

#[cfg(test)]
mod tests {
    use super::no_pods_reason;
    use serde_json::json;

    #[test]
    fn no_pods_tells_a_rollout_from_a_missing_statefulset() {
        let rolling = json!({"metadata": {"name": "prometheus-k8s"},
            "spec": {"replicas": 2}, "status": {"readyReplicas": 0}});
        let r = no_pods_reason("Prometheus", "monitoring/k8s", "k8s", Some(&rolling));
        assert!(
            r.contains("StatefulSet prometheus-k8s is replacing them"),
            "{r}"
        );
        assert!(
            r.contains("spec.replicas 2, 0 ready") && r.contains("without --no-wait"),
            "{r}"
        );
        assert!(!r.contains("operator running"), "{r}");
        let zero = json!({"metadata": {"name": "prometheus-k8s"}, "spec": {"replicas": 0}});
        let r = no_pods_reason("Prometheus", "monitoring/k8s", "k8s", Some(&zero));
        assert!(r.contains("spec.replicas 0"), "{r}");
        let r = no_pods_reason("PrometheusAgent", "monitoring/a", "a", None);
        assert!(
            r.starts_with("PrometheusAgent monitoring/a has no pods"),
            "{r}"
        );
        assert!(
            r.contains("operator.prometheus.io/name=a") && r.contains("operator running"),
            "{r}"
        );
    }
}
