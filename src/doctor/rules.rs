//! One rule per component: the evidence in, one row out. Pure.

use super::{
    Component, ErrorClass, Evidence, KubeletEvidence, Monitor, Rbac, Row, ServiceEvidence,
    StaticPod, Status, Targets, is_loopback_host,
};

/// The fix commands (written by the fixes of this crate; see `crate::cli::Command`).
pub const FIX_CONTROL_PLANE: &str = "kubectl promfix control-plane";
pub const FIX_KUBE_PROXY: &str = "kubectl promfix kube-proxy";
pub const FIX_KUBELET: &str = "kubectl promfix kubelet --script fix-kubelet.sh";
pub const FIX_ETCD: &str = "kubectl promfix etcd";
/// kubeadm rewrites the node's kubelet config from this ConfigMap on `kubeadm upgrade node`.
pub const KUBEADM_KUBELET_CONFIG: &str = "kubeadm: also set authentication.webhook.enabled: true in ConfigMap kube-system/kubelet-config (`kubectl -n kube-system edit configmap kubelet-config`), or the next `kubeadm upgrade node` writes /var/lib/kubelet/config.yaml back from it";

/// The row of one component.
pub fn row(c: Component, ev: &Evidence) -> Row {
    if let Some(m) = &ev.managed
        && matches!(
            c,
            Component::Etcd | Component::KubeScheduler | Component::KubeControllerManager
        )
    {
        return managed_row(c, ev, m);
    }
    let mut r = targets_row(c, ev);
    if c == Component::Etcd {
        etcd_cert_life(ev, &mut r);
    }
    scrape_configs(c, ev, &mut r);
    r
}

/// Where a ScrapeConfig scrapes the component: named in the evidence, since promfix's fixes
/// change ServiceMonitors (and their Services and Endpoints), not ScrapeConfigs.
fn scrape_configs(c: Component, ev: &Evidence, r: &mut Row) {
    let scs: Vec<&Monitor> = monitors_of(ev, c)
        .into_iter()
        .filter(|m| m.kind == "ScrapeConfig")
        .collect();
    for m in &scs {
        let line = format!(
            "ScrapeConfig {}/{} scrapes {} ({} on ports {}{})",
            m.namespace,
            m.name,
            c.name(),
            m.schemes.join(","),
            m.ports.join(","),
            if m.client_cert {
                ", with a client certificate"
            } else {
                ""
            }
        );
        r.evidence.push(line);
    }
    if !scs.is_empty() && r.status == Status::Problem {
        r.fix.push(format!(
            "where ScrapeConfig {}/{} is the scrape that fails, edit it (its staticConfigs, scheme, tlsConfig): promfix's fixes change ServiceMonitors, their Services and Endpoints",
            scs[0].namespace, scs[0].name
        ));
    }
}

/// kube-prometheus-stack's `defaultRules.rules` keys of the alerts on a component that only a
/// scrape of it can satisfy.
fn rule_keys(c: Component) -> &'static [&'static str] {
    match c {
        Component::Etcd => &["etcd"],
        Component::KubeScheduler => &["kubeSchedulerAlerting", "kubeSchedulerRecording"],
        Component::KubeControllerManager => &["kubeControllerManager"],
        _ => &[],
    }
}

/// EKS' own metrics API path of a control-plane component (EKS 1.28 and newer).
fn eks_metrics_path(c: Component) -> Option<&'static str> {
    match c {
        Component::KubeScheduler => {
            Some("/apis/metrics.eks.amazonaws.com/v1/ksh/container/metrics")
        }
        Component::KubeControllerManager => {
            Some("/apis/metrics.eks.amazonaws.com/v1/kcm/container/metrics")
        }
        _ => None,
    }
}

/// The row of etcd, the scheduler or the controller-manager where a provider runs the control
/// plane: their endpoints are not reachable from the cluster, by design, so no fix of promfix
/// applies; what does is to stop scraping them and turn off the alerts that only they satisfy
/// (or, on EKS, scrape the provider's metrics API instead).
fn managed_row(c: Component, ev: &Evidence, m: &super::managed::Managed) -> Row {
    let mut r = targets_row(c, ev);
    r.evidence.extend(
        m.signs
            .iter()
            .map(|s| format!("managed control plane ({}): {s}", m.provider)),
    );
    if r.status == Status::Ok {
        return r;
    }
    r.unchecked = false;
    r.fix.clear();
    let rules: Vec<String> = rule_keys(c)
        .iter()
        .map(|k| format!("defaultRules.rules.{k}=false"))
        .collect();
    let values = std::iter::once(format!("{}.enabled=false", c.values_key()))
        .chain(rules.iter().cloned())
        .map(|v| format!("--set {v}"))
        .collect::<Vec<_>>()
        .join(" ");
    let stop = format!(
        "stop scraping it and turn off its alerts: kube-prometheus-stack `helm upgrade ... --reuse-values {values}` (without Helm: delete its ServiceMonitor and the PrometheusRule groups of its alerts)"
    );
    let total = r.total.unwrap_or(0);
    let monitors = monitors_of(ev, c);
    if total == 0 && ev.targets_read && !monitors.is_empty() {
        // The chart's monitor finds nothing to scrape (no such pods, so no endpoints): its
        // `absent(up{job=...} == 1)` alert fires for ever.
        r.status = Status::Problem;
        r.cause = format!(
            "{} runs the control plane: {} is not in the cluster, so {} {}/{} finds nothing to scrape and the alert on its absence fires for ever; no promfix fix applies",
            m.provider,
            c.name(),
            monitors[0].kind,
            monitors[0].namespace,
            monitors[0].name,
        );
        r.fix.push(stop);
        return r;
    }
    if total == 0 && ev.targets_read {
        r.status = Status::Ok;
        r.cause = format!(
            "not scraped, as is right: {} runs the control plane, and {} is not reachable from the cluster by design; keep the alerts that need its scrape off too (kube-prometheus-stack: {})",
            m.provider,
            c.name(),
            rules.join(", ")
        );
        return r;
    }
    if ev.targets_read {
        r.status = Status::Problem;
        r.cause = format!(
            "{} runs the control plane: {}'s metrics endpoint is not reachable from the cluster, by design, so these targets are never up and the alerts on them fire for ever; no promfix fix applies",
            m.provider,
            c.name()
        );
    } else {
        r.status = Status::Unknown;
        r.cause = format!(
            "{} runs the control plane: {}'s metrics endpoint is not reachable from the cluster, by design (Prometheus' targets could not be read: whether it is scraped is not known)",
            m.provider,
            c.name()
        );
    }
    r.fix.push(stop);
    if let Some(path) = eks_metrics_path(c) {
        match m.eks_metrics_api {
            Some(false) => r.evidence.push(
                "the API server does not serve metrics.eks.amazonaws.com/v1 (EKS before 1.28, or an older platform version)".into(),
            ),
            _ => r.fix.push(format!(
                "or scrape EKS' own metrics of it through the API server: https://kubernetes.default.svc{path} (a scrape job with the service account's token and CA; Prometheus' ClusterRole needs get on metrics.eks.amazonaws.com kcm/metrics and ksh/metrics)"
            )),
        }
    }
    r
}

/// What the etcd client certificate in the scrape's Secret says (kubeadm renews the files on
/// the nodes every year; the copy in the Secret does not renew): its end in the evidence; an
/// expired one, one the Secret's CA does not sign, or one within 30 days of its end is a
/// finding, and the cause of a refused handshake when it explains it.
fn etcd_cert_life(ev: &Evidence, r: &mut Row) {
    const RENEW: &str = "after the files on the etcd nodes are renewed (`kubeadm certs renew`), run `kubectl promfix etcd --renew` on a control-plane node (or with --from-dir / --ca/--cert/--key of the renewed files): it rewrites only the Secret's data, no pod restarts";
    if ev.etcd_certs.is_empty() {
        return;
    }
    r.evidence
        .extend(ev.etcd_certs.iter().map(|l| l.describe()));
    let compared: Vec<_> = if ev.node_certs.is_empty() {
        Vec::new()
    } else {
        ev.etcd_certs
            .iter()
            .map(|l| (l, l.compare(&ev.node_certs)))
            .collect()
    };
    r.evidence
        .extend(compared.iter().map(|(l, c)| c.describe(l)));
    let refused = ev
        .targets
        .get(&Component::Etcd)
        .is_some_and(|t| t.has(ErrorClass::Tls) || t.has(ErrorClass::Other));
    let explains = ev.etcd_certs.iter().find(|l| l.explains_refusal());
    let said = |r: &Row, what: &str| {
        if r.status == Status::Problem && !r.cause.is_empty() {
            format!("{}; also {what}", r.cause)
        } else if r.status == Status::Ok {
            format!("every target is up, but {what}")
        } else if r.cause.is_empty() {
            what.to_string()
        } else {
            format!("{}; {what}", r.cause)
        }
    };
    if let (true, Some(l)) = (refused, explains) {
        // The handshake etcd refuses is this certificate's doing: it is the cause.
        r.status = Status::Problem;
        r.cause = format!(
            "etcd refuses the scrape's client certificate: {}",
            l.problem().unwrap_or_default()
        );
        r.fix.retain(|f| !f.starts_with(FIX_ETCD));
        r.fix.insert(0, RENEW.to_string());
        return;
    }
    let findings: Vec<String> = ev
        .etcd_certs
        .iter()
        .filter_map(|l| l.problem().or_else(|| l.warning()))
        .chain(compared.iter().filter_map(|(l, c)| c.problem(l)))
        .collect();
    if findings.is_empty() {
        return;
    }
    r.cause = said(r, &findings.join("; "));
    r.status = Status::Problem;
    if !r.fix.iter().any(|f| f == RENEW) {
        r.fix.push(RENEW.to_string());
    }
}

/// The row of one component from its targets and the evidence about them.
fn targets_row(c: Component, ev: &Evidence) -> Row {
    let t = ev.targets.get(&c).cloned().unwrap_or_default();
    let mut r = Row {
        component: c,
        status: Status::Unknown,
        up: (t.total() > 0).then_some(t.up),
        total: (t.total() > 0).then(|| t.total()),
        cause: String::new(),
        evidence: target_evidence(&t),
        fix: Vec::new(),
        unchecked: false,
    };
    if t.total() == 0 {
        no_targets(c, ev, &mut r);
        return r;
    }
    if t.down == 0 && t.up == 0 {
        r.cause = format!("{} target(s) discovered, not scraped yet", t.pending);
        return r;
    }
    if t.down == 0 {
        r.status = Status::Ok;
        r.cause = "every target is up".into();
        return r;
    }
    r.status = Status::Problem;
    match c {
        Component::KubeScheduler | Component::KubeControllerManager => {
            control_plane(c, ev, &t, &mut r)
        }
        Component::KubeProxy => kube_proxy(ev, &t, &mut r),
        Component::Kubelet => kubelet(ev, &t, &mut r),
        Component::Etcd => etcd(ev, &t, &mut r),
        Component::Apiserver | Component::Coredns => generic(c, ev, &t, &mut r),
    }
    if r.cause.is_empty() {
        generic(c, ev, &t, &mut r);
    }
    r
}

/// The kubernetes-mixin alert (shipped by kube-prometheus-stack and kube-prometheus) that fires
/// while nothing scrapes the component: `absent(up{job="..."} == 1)`.
fn absent_alert(c: Component) -> Option<&'static str> {
    match c {
        Component::Apiserver => Some("KubeAPIDown"),
        Component::Kubelet => Some("KubeletDown"),
        Component::KubeScheduler => Some("KubeSchedulerDown"),
        Component::KubeControllerManager => Some("KubeControllerManagerDown"),
        Component::KubeProxy => Some("KubeProxyDown"),
        Component::Etcd | Component::Coredns => None,
    }
}

fn target_evidence(t: &Targets) -> Vec<String> {
    let mut e = Vec::new();
    if t.total() == 0 {
        return e;
    }
    let jobs: Vec<&str> = t.jobs.iter().map(String::as_str).collect();
    e.push(format!(
        "Prometheus job(s) {}: {} up, {} down, {} not scraped yet",
        jobs.join(", "),
        t.up,
        t.down,
        t.pending
    ));
    for (url, err) in t.samples.iter().take(2) {
        e.push(format!("{url}: {err}"));
    }
    e
}

/// Insecure and secure ports of the scheduler and controller-manager.
fn ports(c: Component) -> (u16, u16) {
    match c {
        Component::KubeScheduler => (10251, 10259),
        _ => (10252, 10257),
    }
}

fn pods_of(ev: &Evidence, c: Component) -> &[StaticPod] {
    ev.static_pods.get(&c).map(Vec::as_slice).unwrap_or(&[])
}

fn monitors_of(ev: &Evidence, c: Component) -> Vec<&Monitor> {
    ev.monitors
        .iter()
        .filter(|m| m.component == Some(c))
        .collect()
}

fn services_of(ev: &Evidence, c: Component) -> Vec<&ServiceEvidence> {
    ev.services
        .iter()
        .filter(|s| s.component == Some(c))
        .collect()
}

/// `1.17.9` and later 1.17, `1.18.6`+ , `1.19`+: kubeadm writes `--port=0`.
pub fn kubeadm_disables_insecure_port(version: &str) -> bool {
    let v = version.trim_start_matches('v');
    let mut it = v.split(['.', '-', '+']);
    let (Some(Ok(major)), Some(Ok(minor)), patch) = (
        it.next().map(str::parse::<u32>),
        it.next().map(str::parse::<u32>),
        it.next().and_then(|p| p.parse::<u32>().ok()),
    ) else {
        return false;
    };
    if major != 1 {
        return major > 1;
    }
    match minor {
        0..=16 => false,
        17 => patch.is_some_and(|p| p >= 9),
        18 => patch.is_some_and(|p| p >= 6),
        _ => true,
    }
}

/// A control-plane pod's port flags, as evidence.
fn port_flags(p: &StaticPod) -> String {
    let flags: Vec<String> = ["port", "secure-port", "bind-address"]
        .iter()
        .filter_map(|f| p.flag(f).map(|v| format!("--{f}={v}")))
        .collect();
    format!(
        "pod kube-system/{} on {} ({}): {}",
        p.name,
        p.node,
        p.version.as_deref().unwrap_or("version unknown"),
        if flags.is_empty() {
            "no --port/--secure-port/--bind-address flags".to_string()
        } else {
            flags.join(" ")
        }
    )
}

/// Why the insecure port of a control-plane component refuses: its flags or its version.
fn insecure_port_off(pods: &[StaticPod]) -> String {
    if let Some(p) = pods.iter().find(|p| p.flag("port") == Some("0")) {
        format!("{} runs with --port=0", p.name)
    } else if let Some(p) = pods.iter().find(|p| {
        p.version
            .as_deref()
            .is_some_and(kubeadm_disables_insecure_port)
    }) {
        format!(
            "{} is {} (kubeadm sets --port=0 from 1.17.9 and 1.19 on; newer releases have no insecure port)",
            p.name,
            p.version.as_deref().unwrap_or("")
        )
    } else {
        "nothing answers there".to_string()
    }
}

fn control_plane(c: Component, ev: &Evidence, t: &Targets, r: &mut Row) {
    let (insecure, secure) = ports(c);
    let pods = pods_of(ev, c);
    let name = c.name();
    let manifest = c.manifest().unwrap_or("");
    r.evidence.extend(pods.iter().take(3).map(port_flags));
    let loopback_pods: Vec<&StaticPod> = pods
        .iter()
        .filter(|p| p.flag("bind-address").is_some_and(is_loopback_host))
        .collect();
    let current = loopback_pods
        .first()
        .and_then(|p| p.flag("bind-address"))
        .unwrap_or("127.0.0.1");
    let bind_fix = format!(
        "on each control-plane node, edit {manifest}: --bind-address={current} → --bind-address=0.0.0.0 (the kubelet restarts the static pod; with kubeadm also set {}.extraArgs.bind-address in the ClusterConfiguration so upgrades keep it)",
        if c == Component::KubeScheduler {
            "scheduler"
        } else {
            "controllerManager"
        }
    );
    let on_insecure = t.ports.contains(&insecure);
    if on_insecure && (t.has(ErrorClass::Refused) || t.has(ErrorClass::Other)) {
        let why = insecure_port_off(pods);
        r.cause = format!(
            "{name} is scraped on the insecure port {insecure} (http), which is disabled: {why}; the secure port {secure} needs https and a bearer token"
        );
        r.fix.push(FIX_CONTROL_PLANE.to_string());
        if !loopback_pods.is_empty() {
            r.cause.push_str(&format!(
                "; and --bind-address=127.0.0.1, so {secure} also refuses from the node IP"
            ));
            r.fix.push(bind_fix);
        }
        return;
    }
    if t.has(ErrorClass::Refused) && !loopback_pods.is_empty() {
        r.cause = format!(
            "{name} listens on 127.0.0.1 only (--bind-address={}), so {} from the node IP is refused",
            loopback_pods[0].flag("bind-address").unwrap_or(""),
            t.ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        r.fix.push(bind_fix);
        if t.ports.contains(&insecure) || !t.schemes.contains("https") {
            r.fix.insert(0, FIX_CONTROL_PLANE.to_string());
        }
        return;
    }
    if t.has(ErrorClass::HttpToHttps) || (t.ports.contains(&secure) && !t.schemes.contains("https"))
    {
        r.cause = format!("{name} is scraped with http on its secure port {secure}");
        r.fix.push(FIX_CONTROL_PLANE.to_string());
        return;
    }
    if t.has(ErrorClass::Forbidden) || t.has(ErrorClass::Unauthorized) {
        rbac_metrics(ev, r, name);
    }
}

fn rbac_metrics(ev: &Evidence, r: &mut Row, name: &str) {
    if let Some(rb) = ev.rbac.iter().find(|x| x.metrics == Some(false)) {
        r.cause = format!(
            "{name} answers 403: {} may not get the nonResourceURL /metrics",
            rb.user
        );
        r.evidence.push(format!(
            "SubjectAccessReview for {}: get /metrics denied",
            rb.user
        ));
        r.fix.extend(rbac_fix(
            rb,
            "promfix-metrics",
            "--non-resource-url=/metrics",
        ));
    }
}

fn sa_parts(user: &str) -> String {
    user.strip_prefix("system:serviceaccount:")
        .unwrap_or(user)
        .to_string()
}

fn rbac_fix(rb: &Rbac, role: &str, what: &str) -> Vec<String> {
    vec![
        format!("kubectl create clusterrole {role} --verb=get {what}"),
        format!(
            "kubectl create clusterrolebinding {role} --clusterrole={role} --serviceaccount={}",
            sa_parts(&rb.user)
        ),
    ]
}

fn kube_proxy(ev: &Evidence, t: &Targets, r: &mut Row) {
    let k = &ev.kube_proxy;
    if let Some(cm) = &k.configmap {
        r.evidence.push(format!(
            "ConfigMap {cm} config.conf: metricsBindAddress {}",
            match &k.metrics_bind_address {
                Some(a) if !a.trim().is_empty() => a.clone(),
                _ => "unset (default 127.0.0.1:10249)".into(),
            }
        ));
    }
    if let (Some(ds), Some(f)) = (&k.daemonset, &k.flag) {
        r.evidence.push(match &k.config_file {
            // kube-proxy's Options.Complete: with --config, the file is the configuration and
            // the other flags are ignored.
            Some(c) => format!(
                "DaemonSet {ds}: --metrics-bind-address={f}, ignored: kube-proxy reads --config={c} and ignores the other flags"
            ),
            None => format!("DaemonSet {ds}: --metrics-bind-address={f}"),
        });
    }
    if let (Some(ds), None, Some(_)) = (&k.daemonset, &k.config_file, &k.configmap) {
        r.evidence.push(format!(
            "DaemonSet {ds} runs kube-proxy without --config: it does not read the ConfigMap"
        ));
    }
    if !t.has(ErrorClass::Refused) {
        return;
    }
    if k.daemonset.is_none() && k.configmap.is_none() {
        // No kubeadm-style DaemonSet: RKE2 runs kube-proxy as a static pod, k3s inside its
        // own process; their setting lives in the distribution's config.
        r.cause = match ev.kubelets.distribution.as_deref() {
            Some("k3s") => "kube-proxy runs inside the k3s process (no DaemonSet), on 127.0.0.1:10249 unless told otherwise, so Prometheus' connection to :10249 is refused".into(),
            Some("rke2") => "kube-proxy runs as RKE2's static pod (no DaemonSet), on 127.0.0.1:10249 unless told otherwise, so Prometheus' connection to :10249 is refused".into(),
            _ => "nothing answers on :10249 and kube-proxy has no DaemonSet or ConfigMap in kube-system: it runs outside the cluster's objects (a static pod, a systemd unit, or inside a distribution's process), so its metrics address is set on the nodes".into(),
        };
        r.fix.push(match ev.kubelets.distribution.as_deref() {
            Some("k3s") => "on each node: add `kube-proxy-arg: [\"metrics-bind-address=0.0.0.0:10249\"]` to /etc/rancher/k3s/config.yaml (or --kube-proxy-arg=metrics-bind-address=0.0.0.0:10249), then `systemctl restart k3s` (servers) or `k3s-agent` (agents)".into(),
            Some("rke2") => "on each node: add `kube-proxy-arg: [\"metrics-bind-address=0.0.0.0:10249\"]` to /etc/rancher/rke2/config.yaml, then `systemctl restart rke2-server` (servers) or `rke2-agent` (agents); RKE2 rewrites its static pod manifest from it".into(),
            _ => "on each node: start kube-proxy with metricsBindAddress 0.0.0.0:10249 in its config file (or --metrics-bind-address=0.0.0.0:10249 when it runs without --config) and restart it".into(),
        });
        return;
    }
    if (k.configmap.is_some() || k.flag.is_some()) && k.loopback_only() {
        let from = match (&k.config_file, &k.flag) {
            (Some(_), _) | (None, None) => "metricsBindAddress",
            (None, Some(_)) => "--metrics-bind-address",
        };
        r.cause = format!(
            "kube-proxy serves metrics on {} only ({from}), so Prometheus' connection to :10249 is refused",
            k.effective()
        );
        if k.daemonset.is_some() && k.config_file.is_none() {
            r.fix.push(format!(
                "edit DaemonSet {}: --metrics-bind-address=0.0.0.0:10249 (it runs without --config, so `{FIX_KUBE_PROXY}`'s ConfigMap edit would not reach it)",
                k.daemonset.as_deref().unwrap_or("")
            ));
        } else {
            r.fix.push(FIX_KUBE_PROXY.to_string());
        }
    }
}

fn kubelet(ev: &Evidence, t: &Targets, r: &mut Row) {
    let k = &ev.kubelets;
    r.evidence.extend(configz_evidence(k));
    let denied = t.has(ErrorClass::Forbidden) || t.has(ErrorClass::Unauthorized);
    if !denied {
        return;
    }
    // 401: the request was not authenticated and anonymous requests are off. 403: the
    // authorizer refused the user: system:anonymous (token webhook off, anonymous on: the
    // seed's case) or Prometheus' service account (RBAC; prometheus-operator#976).
    let forbidden = t.has(ErrorClass::Forbidden);
    let unauthorized = t.has(ErrorClass::Unauthorized);
    let mut causes = Vec::new();
    if k.webhook_off > 0 {
        let anon_on = k.webhook_off_anonymous;
        let anon_off = k.webhook_off - anon_on;
        if anon_on > 0 {
            causes.push(format!(
                "403 Forbidden: token authentication is off on {anon_on} of {} kubelet(s) with anonymous requests on (authentication.webhook.enabled=false, anonymous.enabled=true), so Prometheus' token is ignored, the request runs as system:anonymous, and authorization Webhook refuses it",
                k.total()
            ));
        }
        if anon_off > 0 {
            causes.push(format!(
                "401 Unauthorized: token authentication is off on {anon_off} of {} kubelet(s) and anonymous requests too (authentication.webhook.enabled=false, anonymous.enabled=false), so Prometheus' token is not authenticated",
                k.total()
            ));
        }
        r.fix.push(FIX_KUBELET.to_string());
        r.fix.push(
            "on each affected node: set authentication.webhook.enabled: true in /var/lib/kubelet/config.yaml (or add --authentication-token-webhook=true to the kubelet args in /etc/systemd/system/kubelet.service.d/10-kubeadm.conf), remove --cadvisor-port=0 if present, then systemctl daemon-reload && systemctl restart kubelet"
                .to_string(),
        );
        if k.kubeadm_config_map {
            r.fix.push(KUBEADM_KUBELET_CONFIG.to_string());
        }
    }
    if let Some(rb) = ev.rbac.iter().find(|x| x.nodes_metrics == Some(false)) {
        causes.push(format!(
            "403 Forbidden: {} may not get nodes/metrics (RBAC)",
            rb.user
        ));
        r.evidence.push(format!(
            "SubjectAccessReview for {}: get nodes/metrics denied",
            rb.user
        ));
        r.fix.extend(rbac_fix(
            rb,
            "promfix-kubelet-metrics",
            "--resource=nodes/metrics",
        ));
    }
    if causes.is_empty() {
        r.cause = match (forbidden, unauthorized) {
            (true, _) => "the kubelets answer 403 Forbidden: their authorizer refuses the user, yet token authentication is on where /configz was read and RBAC allows Prometheus' service account nodes/metrics (is the scrape sending the token? bearerTokenFile / authorization in the ServiceMonitor)".into(),
            _ => "the kubelets answer 401 Unauthorized: the token was not authenticated (expired or of another cluster, or the kubelet's TokenReview to the API server fails) and anonymous requests are off".into(),
        };
        return;
    }
    let seen = match (forbidden, unauthorized) {
        (true, true) => "403 and 401",
        (true, false) => "403",
        _ => "401",
    };
    r.cause = format!("kubelet answers {seen}: {}", causes.join("; and "));
    let refused = t.errors.get(&ErrorClass::Refused).copied().unwrap_or(0);
    if refused > 0 {
        r.cause.push_str(&format!(
            "; {refused} other target(s) refused the connection (nothing listens on the kubelet port)"
        ));
    }
}

/// What the kubelets' `/configz` showed, and which nodes were read.
fn configz_evidence(k: &KubeletEvidence) -> Vec<String> {
    let mut e = Vec::new();
    if k.nodes == 0 {
        return e;
    }
    let sample = if k.webhook_off_sample.is_empty() {
        String::new()
    } else {
        format!(
            " (e.g. {}{})",
            k.webhook_off_sample.join(", "),
            if k.webhook_off > k.webhook_off_sample.len() {
                ", ..."
            } else {
                ""
            }
        )
    };
    e.push(format!(
        "/configz of {} of {} node(s) read; token authentication off with authorization Webhook on {}{sample}",
        k.read,
        k.total(),
        k.webhook_off
    ));
    if !k.unjudged && k.failing + k.missing > 0 {
        let mut which = format!(
            "/configz read where Prometheus' kubelet targets fail: {} node(s) with a target down",
            k.failing
        );
        if k.missing > 0 {
            which.push_str(&format!(", {} without a kubelet target", k.missing));
        }
        if k.compared > 0 {
            which.push_str(&format!(
                "; and, for comparison, {} that answer{}: token authentication on on {} of them",
                k.compared,
                if k.compared == 1 { "s" } else { "" },
                k.compared_token_on
            ));
        }
        e.push(which);
    }
    if k.unreadable > 0 {
        e.push(format!(
            "/configz unreadable on {} node(s) (e.g. {})",
            k.unreadable,
            k.unreadable_sample.join(", ")
        ));
    }
    e
}

fn etcd(ev: &Evidence, t: &Targets, r: &mut Row) {
    etcd_scrape(ev, t, r);
    unmounted(ev, t, r);
}

/// The instances that select the etcd monitor but do not mount the Secret whose files it names:
/// their reloads fail (the etcd job's client cannot read the files) and they keep their old
/// scrape. Their failures are theirs; when they are all the failures, they are the cause.
fn unmounted(ev: &Evidence, t: &Targets, r: &mut Row) {
    if ev.unmounted.is_empty() {
        return;
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut theirs = 0;
    let mut fixes = Vec::new();
    for u in &ev.unmounted {
        r.evidence.push(format!(
            "{}: {} of {} of its own etcd targets up; it does not list Secret {} in spec.secrets, and ServiceMonitor {} names files of it under /etc/prometheus/secrets/{}/",
            u.prometheus, u.up, u.total, u.secret, u.monitor, u.secret
        ));
        if seen.insert(&u.prometheus) {
            theirs += u.total - u.up;
            fixes.push(format!(
                "{FIX_ETCD} -n {} --prometheus {} (mounts Secret {} in it)",
                u.namespace, u.name, u.secret
            ));
        }
    }
    let names: Vec<&str> = seen.iter().map(|s| s.as_str()).collect();
    let cause = format!(
        "{} {} not mount the Secret whose files the etcd ServiceMonitor names: {} configuration reloads fail (unable to read CA cert), so {} keep{} the old scrape",
        names.join(", "),
        if names.len() == 1 { "does" } else { "do" },
        if names.len() == 1 { "its" } else { "their" },
        if names.len() == 1 { "it" } else { "they" },
        if names.len() == 1 { "s" } else { "" },
    );
    if theirs >= t.down || r.cause.is_empty() {
        // Every failure is theirs: what the scrape's errors alone suggest is not the story.
        r.cause = cause;
        r.fix.retain(|f| !f.starts_with(FIX_ETCD));
    } else {
        r.cause = format!("{cause}; the other failures: {}", r.cause);
    }
    r.fix.splice(0..0, fixes);
}

fn etcd_scrape(ev: &Evidence, t: &Targets, r: &mut Row) {
    let pods = pods_of(ev, Component::Etcd);
    for p in pods.iter().take(3) {
        r.evidence.push(format!(
            "pod kube-system/{} on {}: --listen-metrics-urls={} --client-cert-auth={}",
            p.name,
            p.node,
            p.flag("listen-metrics-urls").unwrap_or("(unset)"),
            p.flag("client-cert-auth").unwrap_or("(unset)")
        ));
    }
    let client_certs = monitors_of(ev, Component::Etcd)
        .iter()
        .any(|m| m.client_cert);
    let loopback_metrics = !pods.is_empty()
        && pods.iter().all(|p| {
            p.flag("listen-metrics-urls").is_some_and(|u| {
                u.split(',').all(|u| {
                    is_loopback_host(
                        u.split_once("://")
                            .map(|x| x.1)
                            .unwrap_or(u)
                            .trim_end_matches('/'),
                    )
                })
            })
        });
    let etcd_fix = format!(
        "{FIX_ETCD} (on a control-plane node; or pass --from-dir /etc/kubernetes/pki, or --ca/--cert/--key)"
    );
    if t.has(ErrorClass::Refused) && loopback_metrics {
        r.cause = format!(
            "etcd serves plain-HTTP metrics only on {} (--listen-metrics-urls), and its client port 2379 needs client certificates",
            pods[0].flag("listen-metrics-urls").unwrap_or("")
        );
        r.fix.push(etcd_fix);
        r.fix.push(format!(
            "or, on each control-plane node, edit {}: add the node IP to --listen-metrics-urls (e.g. http://127.0.0.1:2381,http://<node-ip>:2381)",
            Component::Etcd.manifest().unwrap_or("")
        ));
        return;
    }
    if t.has(ErrorClass::Tls) || t.has(ErrorClass::HttpToHttps) || t.has(ErrorClass::Other) {
        // Say of --client-cert-auth what the evidence above shows, nothing else.
        let flag = pods
            .iter()
            .find_map(|p| p.flag("client-cert-auth").map(str::to_string));
        r.cause = match (client_certs, flag.as_deref()) {
            (true, _) => {
                "etcd rejects the scrape's TLS: the client certificate or CA does not match etcd's"
                    .into()
            }
            (false, Some("true")) => {
                "etcd requires client certificates (--client-cert-auth=true, as its pod shows) and the scrape has none"
                    .into()
            }
            (false, Some(v)) => format!(
                "etcd refuses the scrape's TLS, and the scrape has no client certificate (its pod shows --client-cert-auth={v}; the members the scrape reaches may be configured otherwise, or --trusted-ca-file alone asks for one)"
            ),
            (false, None) => {
                "etcd refuses the scrape's TLS and the scrape has no client certificate (etcd's flags are not visible here: it runs outside the cluster, or its pods could not be read); etcd with --client-cert-auth=true needs one"
                    .into()
            }
        };
        r.fix.push(etcd_fix);
    }
}

fn generic(c: Component, ev: &Evidence, t: &Targets, r: &mut Row) {
    if c == Component::Apiserver
        && (t.has(ErrorClass::Forbidden) || t.has(ErrorClass::Unauthorized))
    {
        rbac_metrics(ev, r, c.name());
        if !r.cause.is_empty() {
            return;
        }
    }
    let first = t.samples.first().map(|(_, e)| e.as_str()).unwrap_or("down");
    r.cause = format!("{} target(s) down: {first}", t.down);
}

/// The kubelet row when Prometheus could not be read: every node's `/configz` was, so the row
/// still says which kubelets would refuse Prometheus' token (status stays unknown: no scrape
/// was seen failing).
fn kubelet_config_only(k: &KubeletEvidence, r: &mut Row) {
    r.evidence.extend(configz_evidence(k));
    if k.webhook_off > 0 {
        r.cause.push_str(&format!(
            "; their configuration alone: token authentication is off on {} of {} kubelet(s) with authorization Webhook, so they would refuse Prometheus' token (403 with anonymous requests on, 401 without)",
            k.webhook_off,
            k.total()
        ));
        r.fix.push(FIX_KUBELET.to_string());
    }
}

fn no_targets(c: Component, ev: &Evidence, r: &mut Row) {
    let monitors = monitors_of(ev, c);
    if !ev.targets_read {
        r.unchecked = true;
        r.cause = "not checked: Prometheus' targets could not be read".into();
        if c == Component::Kubelet {
            kubelet_config_only(&ev.kubelets, r);
        }
        return;
    }
    if monitors.is_empty() && !ev.errors.is_empty() {
        // The Prometheus whose targets could not be read may scrape it.
        r.unchecked = true;
        r.cause = format!(
            "not checked: no {} target in the Prometheus read, and the targets of another could not be read",
            c.name()
        );
        return;
    }
    if monitors.is_empty() {
        r.status = Status::NotMonitored;
        let alert = match absent_alert(c) {
            Some(a) => format!(
                "; kube-prometheus-stack's {a} alert (absent(up{{job=\"{}\"}} == 1)) fires for it",
                c.job()
            ),
            None => String::new(),
        };
        r.cause = format!(
            "not monitored: no ServiceMonitor or scrape job in Prometheus scrapes {}{alert}",
            c.name()
        );
        r.fix.push(format!(
            "not a promfix fix (it repairs scrapes that exist; the Service, labels and job belong to the chart that owns the alerts): kube-prometheus-stack: {}.enabled=true and `helm upgrade`; kube-prometheus: apply its {} ServiceMonitor",
            c.values_key(),
            c.name()
        ));
        return;
    }
    for m in &monitors {
        r.evidence.push(format!(
            "{} {}/{} (ports {})",
            m.kind,
            m.namespace,
            m.name,
            m.ports.join(",")
        ));
    }
    let services = services_of(ev, c);
    if let Some(s) = services.iter().find(|s| s.addresses.unwrap_or(0) == 0) {
        r.status = Status::Problem;
        r.cause = match &s.selector {
            Some(sel) => format!(
                "Service {}/{} selects no pod (selector {sel}): its Endpoints are empty",
                s.namespace, s.name
            ),
            None => format!(
                "Service {}/{} has no selector and its Endpoints are empty",
                s.namespace, s.name
            ),
        };
        if c == Component::Etcd {
            r.fix.push(FIX_ETCD.to_string());
        } else if let Some(pods) = ev.static_pods.get(&c)
            && let Some(p) = pods.first()
        {
            r.evidence.push(format!(
                "the {} pods are labelled as {}; compare with the Service's selector",
                c.name(),
                p.name
            ));
        }
        return;
    }
    r.status = Status::Problem;
    r.cause = format!(
        "{} {}/{} selects nothing Prometheus can scrape (no Service or port matches)",
        monitors[0].kind, monitors[0].namespace, monitors[0].name
    );
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    fn pod(name: &str, version: &str, flags: &[&str]) -> StaticPod {
        StaticPod {
            name: name.into(),
            node: "node1".into(),
            version: Some(version.into()),
            flags: parse_flags(&flags.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        }
    }

    fn targets(job: &str, url: &str, health: &str, err: &str) -> Targets {
        let mut t = Targets::default();
        t.add(job, health, url, err);
        t
    }

    const REFUSED: &str = "dial tcp 192.168.2.10:10251: connect: connection refused";

    #[test]
    fn rows_are_unchecked_when_targets_cannot_be_read() {
        let ev = Evidence {
            targets_read: false,
            errors: vec!["the Prometheus Operator's resources are not served".into()],
            ..Default::default()
        };
        let rep = diagnose("c", &ev);
        assert!(
            rep.rows
                .iter()
                .all(|r| r.unchecked && r.status == Status::Unknown),
            "{:?}",
            rep.rows
        );
        assert!(!rep.checked_any());
        assert_eq!(rep.errors, ev.errors);

        // One Prometheus read, another not: a component with targets is checked, one without
        // may be scraped by the unread one.
        let mut ev = Evidence {
            targets_read: true,
            errors: vec!["cannot read the targets of Prometheus b/b".into()],
            ..Default::default()
        };
        ev.targets.insert(
            Component::Etcd,
            targets("kube-etcd", "https://10.0.0.1:2379/metrics", "up", ""),
        );
        let rep = diagnose("c", &ev);
        let etcd = rep
            .rows
            .iter()
            .find(|r| r.component == Component::Etcd)
            .unwrap();
        assert_eq!((etcd.status, etcd.unchecked), (Status::Ok, false));
        assert!(rep.checked_any());
        assert_eq!(rep.unchecked(), Component::ALL.len() - 1);

        // Nothing failed: the components nothing scrapes are checked, and not monitored.
        ev.errors.clear();
        let rep = diagnose("c", &ev);
        assert_eq!(rep.unchecked(), 0);
        assert_eq!(rep.problems(), Component::ALL.len() - 3);
        let s = rep
            .rows
            .iter()
            .find(|r| r.component == Component::KubeScheduler)
            .unwrap();
        assert_eq!(s.status, Status::NotMonitored);
        assert!(
            s.cause.contains("KubeSchedulerDown")
                && s.cause.contains("absent(up{job=\"kube-scheduler\"} == 1)"),
            "{}",
            s.cause
        );
        assert!(
            s.fix[0].contains("kubeScheduler.enabled=true"),
            "{:?}",
            s.fix
        );
        assert_eq!(
            serde_json::to_value(s.status).unwrap(),
            serde_json::json!("not-monitored")
        );
    }

    #[test]
    fn scheduler_on_the_insecure_port_with_port_0() {
        let mut ev = Evidence {
            targets_read: true,
            ..Default::default()
        };
        ev.targets.insert(
            Component::KubeScheduler,
            targets(
                "kube-scheduler",
                "http://192.168.2.10:10251/metrics",
                "down",
                REFUSED,
            ),
        );
        ev.static_pods.insert(
            Component::KubeScheduler,
            vec![pod(
                "kube-scheduler-node1",
                "v1.17.9",
                &["--port=0", "--bind-address=127.0.0.1"],
            )],
        );
        let r = row(Component::KubeScheduler, &ev);
        assert_eq!(r.status, Status::Problem);
        assert!(r.cause.contains("insecure port 10251"), "{}", r.cause);
        assert!(r.cause.contains("--port=0"), "{}", r.cause);
        assert!(r.cause.contains("--bind-address=127.0.0.1"), "{}", r.cause);
        assert_eq!(r.fix[0], FIX_CONTROL_PLANE);
        assert!(r.fix[1].contains("/etc/kubernetes/manifests/kube-scheduler.yaml"));
    }

    #[test]
    fn insecure_port_disabled_by_version_alone() {
        assert!(kubeadm_disables_insecure_port("v1.17.9"));
        assert!(!kubeadm_disables_insecure_port("v1.17.8"));
        assert!(kubeadm_disables_insecure_port("v1.19.0"));
        assert!(!kubeadm_disables_insecure_port("v1.16.15"));
        assert!(!kubeadm_disables_insecure_port("latest"));
        let mut ev = Evidence {
            targets_read: true,
            ..Default::default()
        };
        ev.targets.insert(
            Component::KubeControllerManager,
            targets(
                "kube-controller-manager",
                "http://10.0.0.1:10252/metrics",
                "down",
                REFUSED,
            ),
        );
        ev.static_pods.insert(
            Component::KubeControllerManager,
            vec![pod("kube-controller-manager-node1", "v1.19.3", &[])],
        );
        let r = row(Component::KubeControllerManager, &ev);
        assert!(r.cause.contains("v1.19.3"), "{}", r.cause);
        assert_eq!(r.fix, vec![FIX_CONTROL_PLANE.to_string()]);
    }

    #[test]
    fn secure_port_but_loopback_bind() {
        let mut ev = Evidence {
            targets_read: true,
            ..Default::default()
        };
        ev.targets.insert(
            Component::KubeScheduler,
            targets(
                "kube-scheduler",
                "https://10.0.0.1:10259/metrics",
                "down",
                REFUSED,
            ),
        );
        ev.static_pods.insert(
            Component::KubeScheduler,
            vec![pod(
                "kube-scheduler-node1",
                "v1.33.1",
                &["--bind-address=127.0.0.1"],
            )],
        );
        let r = row(Component::KubeScheduler, &ev);
        assert!(r.cause.contains("127.0.0.1 only"), "{}", r.cause);
        assert_eq!(r.fix.len(), 1);
        assert!(r.fix[0].contains("--bind-address=0.0.0.0"));
    }

    #[test]
    fn kube_proxy_loopback() {
        let mut ev = Evidence {
            targets_read: true,
            ..Default::default()
        };
        ev.targets.insert(
            Component::KubeProxy,
            targets(
                "kube-proxy",
                "http://10.0.0.2:10249/metrics",
                "down",
                REFUSED,
            ),
        );
        ev.kube_proxy.configmap = Some("kube-system/kube-proxy".into());
        ev.kube_proxy.metrics_bind_address = Some("127.0.0.1:10249".into());
        let r = row(Component::KubeProxy, &ev);
        assert!(r.cause.contains("127.0.0.1:10249"), "{}", r.cause);
        assert_eq!(r.fix, vec![FIX_KUBE_PROXY.to_string()]);
        // Unset means the default, also loopback.
        ev.kube_proxy.metrics_bind_address = Some(String::new());
        assert_eq!(
            row(Component::KubeProxy, &ev).fix,
            vec![FIX_KUBE_PROXY.to_string()]
        );
        // kubeadm's DaemonSet: --config, so a --metrics-bind-address flag is ignored and
        // doctor says so (the flag would suggest the opposite).
        ev.kube_proxy.daemonset = Some("kube-system/kube-proxy".into());
        ev.kube_proxy.config_file = Some("/var/lib/kube-proxy/config.conf".into());
        ev.kube_proxy.flag = Some("0.0.0.0:10249".into());
        let r = row(Component::KubeProxy, &ev);
        assert!(
            r.cause
                .contains("127.0.0.1:10249 only (metricsBindAddress)"),
            "{}",
            r.cause
        );
        assert!(
            r.evidence
                .iter()
                .any(|e| e.contains("ignored: kube-proxy reads --config")),
            "{:?}",
            r.evidence
        );
        // A DaemonSet without --config: the flag is what binds; the ConfigMap fix would not help.
        ev.kube_proxy.config_file = None;
        ev.kube_proxy.flag = Some("127.0.0.1:10249".into());
        ev.kube_proxy.metrics_bind_address = Some("0.0.0.0:10249".into());
        let r = row(Component::KubeProxy, &ev);
        assert!(r.cause.contains("(--metrics-bind-address)"), "{}", r.cause);
        assert!(
            r.fix[0].starts_with("edit DaemonSet kube-system/kube-proxy"),
            "{:?}",
            r.fix
        );
        // k3s / RKE2: no DaemonSet, no ConfigMap: where the setting lives, not "nothing to fix".
        ev.kube_proxy = Default::default();
        for (d, file) in [
            ("k3s", "/etc/rancher/k3s/config.yaml"),
            ("rke2", "/etc/rancher/rke2/config.yaml"),
        ] {
            ev.kubelets.distribution = Some(d.into());
            let r = row(Component::KubeProxy, &ev);
            assert_eq!(r.status, Status::Problem);
            assert!(r.cause.contains("no DaemonSet"), "{d}: {}", r.cause);
            assert!(
                r.fix[0].contains(file) && r.fix[0].contains("metrics-bind-address=0.0.0.0:10249"),
                "{d}: {:?}",
                r.fix
            );
        }
        ev.kubelets.distribution = None;
        let r = row(Component::KubeProxy, &ev);
        assert!(
            r.cause.contains("runs outside the cluster's objects"),
            "{}",
            r.cause
        );
    }

    fn kubelet_ev(webhook_off: bool, sar: Option<bool>) -> Evidence {
        kubelet_ev_with(webhook_off, true, "403 Forbidden", sar)
    }

    fn kubelet_ev_with(
        webhook_off: bool,
        anonymous: bool,
        status: &str,
        sar: Option<bool>,
    ) -> Evidence {
        let mut ev = Evidence {
            targets_read: true,
            ..Default::default()
        };
        ev.targets.insert(
            Component::Kubelet,
            targets(
                "kubelet",
                "https://10.0.0.2:10250/metrics",
                "down",
                &format!("server returned HTTP status {status}"),
            ),
        );
        let cfg = serde_json::json!({"authentication": {"webhook": {"enabled": !webhook_off}, "anonymous": {"enabled": anonymous}}, "authorization": {"mode": "Webhook"}});
        ev.kubelets.add("node2", Some(&cfg));
        ev.rbac.push(Rbac {
            user: "system:serviceaccount:monitoring:prom".into(),
            metrics: Some(true),
            nodes_metrics: sar,
        });
        ev
    }

    #[test]
    fn kubelet_403_causes() {
        let r = row(Component::Kubelet, &kubelet_ev(true, Some(true)));
        assert!(
            r.cause.contains("token authentication is off"),
            "{}",
            r.cause
        );
        assert!(!r.cause.contains("nodes/metrics"));
        assert_eq!(r.fix[0], FIX_KUBELET);
        assert!(r.fix[1].contains("10-kubeadm.conf") && r.fix[1].contains("cadvisor-port=0"));

        let r = row(Component::Kubelet, &kubelet_ev(false, Some(false)));
        assert!(r.cause.contains("nodes/metrics"), "{}", r.cause);
        assert!(!r.cause.contains("token authentication is off"));
        assert!(
            r.fix
                .iter()
                .any(|f| f.contains("--serviceaccount=monitoring:prom"))
        );

        let r = row(Component::Kubelet, &kubelet_ev(true, Some(false)));
        assert!(r.cause.contains("nodes/metrics") && r.cause.contains("token authentication"));

        // The seed's case is a 403 as system:anonymous; with anonymous off it is a 401, and
        // the row says which (prometheus-operator#976).
        let r = row(Component::Kubelet, &kubelet_ev(true, Some(true)));
        assert!(
            r.cause.starts_with("kubelet answers 403: 403 Forbidden"),
            "{}",
            r.cause
        );
        assert!(r.cause.contains("system:anonymous"), "{}", r.cause);
        let r = row(
            Component::Kubelet,
            &kubelet_ev_with(true, false, "401 Unauthorized", Some(true)),
        );
        assert!(
            r.cause.starts_with("kubelet answers 401: 401 Unauthorized"),
            "{}",
            r.cause
        );
        assert!(
            r.cause.contains("not authenticated") && !r.cause.contains("system:anonymous"),
            "{}",
            r.cause
        );
        // RBAC: a 403 for the service account.
        let r = row(Component::Kubelet, &kubelet_ev(false, Some(false)));
        assert!(
            r.cause.contains(
                "403 Forbidden: system:serviceaccount:monitoring:prom may not get nodes/metrics"
            ),
            "{}",
            r.cause
        );
        // 401 with token authentication on: the token itself, not the configuration.
        let r = row(
            Component::Kubelet,
            &kubelet_ev_with(false, false, "401 Unauthorized", Some(true)),
        );
        assert!(
            r.cause
                .contains("401 Unauthorized: the token was not authenticated"),
            "{}",
            r.cause
        );
        // kubeadm: the node file is rewritten from kubelet-config by `kubeadm upgrade node`.
        let mut ev = kubelet_ev(true, Some(true));
        assert!(
            !row(Component::Kubelet, &ev)
                .fix
                .iter()
                .any(|f| f.contains("kubelet-config"))
        );
        ev.kubelets.kubeadm_config_map = true;
        let r = row(Component::Kubelet, &ev);
        assert!(
            r.fix.iter().any(|f| f == KUBEADM_KUBELET_CONFIG),
            "{:?}",
            r.fix
        );

        // Refused kubelets besides the 403s are named, not explained away.
        let mut ev = kubelet_ev(true, Some(true));
        if let Some(t) = ev.targets.get_mut(&Component::Kubelet) {
            t.add("kubelet", "down", "https://10.0.0.3:10250/metrics", REFUSED);
        }
        let r = row(Component::Kubelet, &ev);
        assert!(r.cause.contains("1 other target(s) refused"), "{}", r.cause);
    }

    #[test]
    fn a_scrape_config_that_scrapes_a_component_is_named() {
        let mut ev = Evidence {
            targets_read: true,
            ..Default::default()
        };
        ev.monitors.push(crate::doctor::Monitor {
            kind: "ScrapeConfig".into(),
            namespace: "monitoring".into(),
            name: "control-plane".into(),
            component: Some(Component::KubeScheduler),
            ports: vec!["10259".into()],
            schemes: vec!["https".into()],
            ..Default::default()
        });
        ev.targets.insert(
            Component::KubeScheduler,
            targets(
                "kube-scheduler",
                "https://10.0.0.1:10259/metrics",
                "down",
                REFUSED,
            ),
        );
        let r = row(Component::KubeScheduler, &ev);
        assert_eq!(r.status, Status::Problem);
        assert!(
            r.evidence.contains(&"ScrapeConfig monitoring/control-plane scrapes kube-scheduler (https on ports 10259)".to_string()),
            "{:?}",
            r.evidence
        );
        assert!(
            r.fix.last().unwrap().starts_with(
                "where ScrapeConfig monitoring/control-plane is the scrape that fails, edit it"
            ),
            "{:?}",
            r.fix
        );
        // Up: named, nothing to fix.
        ev.targets.insert(
            Component::KubeScheduler,
            targets("kube-scheduler", "https://10.0.0.1:10259/metrics", "up", ""),
        );
        let r = row(Component::KubeScheduler, &ev);
        assert_eq!(r.status, Status::Ok);
        assert!(
            r.fix.is_empty() && r.evidence.iter().any(|e| e.starts_with("ScrapeConfig")),
            "{r:?}"
        );
    }

    #[test]
    fn a_managed_control_plane_is_not_reachable_by_design() {
        let eks = crate::doctor::managed::Managed {
            provider: "EKS".into(),
            signs: vec!["the API server's version v1.31.2-eks-7f9249a is EKS's".into()],
            eks_metrics_api: Some(true),
        };
        let mut ev = Evidence {
            targets_read: true,
            managed: Some(eks.clone()),
            ..Default::default()
        };
        ev.targets.insert(
            Component::KubeScheduler,
            targets(
                "kube-scheduler",
                "https://10.0.0.1:10259/metrics",
                "down",
                REFUSED,
            ),
        );
        // Not scraped: right on a managed control plane, and not a finding.
        let etcd = row(Component::Etcd, &ev);
        assert_eq!(etcd.status, Status::Ok, "{etcd:?}");
        assert!(!etcd.is_finding());
        assert!(
            etcd.cause.contains("EKS runs the control plane")
                && etcd.cause.contains("defaultRules.rules.etcd=false"),
            "{}",
            etcd.cause
        );
        // A monitor that finds nothing there: its absent() alert fires, a problem.
        ev.monitors.push(crate::doctor::Monitor {
            kind: "ServiceMonitor".into(),
            namespace: "monitoring".into(),
            name: "kube-etcd".into(),
            component: Some(Component::Etcd),
            ..Default::default()
        });
        let etcd = row(Component::Etcd, &ev);
        assert_eq!(etcd.status, Status::Problem, "{etcd:?}");
        assert!(
            etcd.cause
                .contains("ServiceMonitor monitoring/kube-etcd finds nothing to scrape"),
            "{}",
            etcd.cause
        );
        assert!(
            etcd.fix[0]
                .contains("--set kubeEtcd.enabled=false --set defaultRules.rules.etcd=false"),
            "{:?}",
            etcd.fix
        );
        // Scraped and down: a problem, whose fix is never `kubectl promfix ...`.
        let s = row(Component::KubeScheduler, &ev);
        assert_eq!(s.status, Status::Problem);
        assert!(
            s.cause.starts_with(
                "EKS runs the control plane: kube-scheduler's metrics endpoint is not reachable"
            ),
            "{}",
            s.cause
        );
        assert!(
            s.fix.iter().all(|f| !f.contains("kubectl promfix")),
            "{:?}",
            s.fix
        );
        assert!(
            s.fix[0].contains("--set kubeScheduler.enabled=false --set defaultRules.rules.kubeSchedulerAlerting=false --set defaultRules.rules.kubeSchedulerRecording=false"),
            "{:?}",
            s.fix
        );
        assert!(
            s.fix[1].contains("/apis/metrics.eks.amazonaws.com/v1/ksh/container/metrics"),
            "{:?}",
            s.fix
        );
        assert!(
            s.evidence
                .iter()
                .any(|e| e.starts_with("managed control plane (EKS): the API server's version")),
            "{:?}",
            s.evidence
        );
        // Without the EKS metrics API, it is not offered.
        ev.managed = Some(crate::doctor::managed::Managed {
            eks_metrics_api: Some(false),
            ..eks
        });
        let s = row(Component::KubeScheduler, &ev);
        assert_eq!(s.fix.len(), 1, "{:?}", s.fix);
        // Other rows are not touched.
        ev.targets.insert(
            Component::KubeProxy,
            targets(
                "kube-proxy",
                "http://10.0.0.1:10249/metrics",
                "down",
                REFUSED,
            ),
        );
        let p = row(Component::KubeProxy, &ev);
        assert!(!p.cause.contains("runs the control plane"), "{}", p.cause);
        // Prometheus unread: what is known is still said, the status unknown.
        ev.targets_read = false;
        ev.targets.clear();
        let c = row(Component::KubeControllerManager, &ev);
        assert_eq!(c.status, Status::Unknown);
        assert!(
            c.cause
                .contains("not reachable from the cluster, by design"),
            "{}",
            c.cause
        );
    }

    #[test]
    fn etcd_failures_of_an_instance_without_the_secret_are_its_own() {
        use crate::doctor::{CertRef, Monitor};
        let sm = Monitor {
            kind: "ServiceMonitor".into(),
            namespace: "monitoring".into(),
            name: "kube-etcd".into(),
            component: Some(Component::Etcd),
            client_cert: true,
            cert_refs: vec![CertRef {
                secret: "etcd-client-cert".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let prom = |kind: &str, name: &str, secrets: serde_json::Value| {
            serde_json::json!({"kind": kind, "apiVersion": "monitoring.coreos.com/v1",
                "metadata": {"namespace": "monitoring", "name": name}, "spec": {"secrets": secrets}})
        };
        let fixed = targets("kube-etcd", "https://10.0.0.1:2379/metrics", "up", "");
        let old = targets(
            "kube-etcd",
            "http://10.0.0.1:2379/metrics",
            "down",
            "server returned HTTP status 400 Bad Request",
        );
        let per_prom = vec![
            (
                prom(
                    "PrometheusAgent",
                    "agent",
                    serde_json::json!(["etcd-client-cert"]),
                ),
                fixed.clone(),
            ),
            (
                prom("Prometheus", "k8s", serde_json::json!([])),
                old.clone(),
            ),
        ];
        let mut ev = Evidence {
            targets_read: true,
            monitors: vec![sm.clone()],
            ..Default::default()
        };
        ev.unmounted = crate::doctor::unmounted(&per_prom, &ev.monitors);
        assert_eq!(ev.unmounted.len(), 1, "{:?}", ev.unmounted);
        crate::doctor::summary::merge(
            &mut ev.targets,
            BTreeMap::from([(Component::Etcd, fixed.clone())]),
        );
        crate::doctor::summary::merge(&mut ev.targets, BTreeMap::from([(Component::Etcd, old)]));
        let r = row(Component::Etcd, &ev);
        assert_eq!(r.status, Status::Problem);
        assert!(
            r.cause.starts_with("Prometheus monitoring/k8s does not mount the Secret whose files the etcd ServiceMonitor names"),
            "{}",
            r.cause
        );
        assert!(!r.cause.contains("does not match"), "{}", r.cause);
        assert_eq!(
            r.fix,
            [
                "kubectl promfix etcd -n monitoring --prometheus k8s (mounts Secret etcd-client-cert in it)"
            ],
        );
        assert!(
            r.evidence
                .iter()
                .any(|e| e
                    .starts_with("Prometheus monitoring/k8s: 0 of 1 of its own etcd targets up")),
            "{:?}",
            r.evidence
        );
        // An instance whose targets are up is not named, even without the Secret.
        let per_prom = vec![(prom("Prometheus", "k8s", serde_json::json!([])), fixed)];
        assert!(crate::doctor::unmounted(&per_prom, &ev.monitors).is_empty());
    }

    #[test]
    fn etcd_loopback_metrics_and_client_certs() {
        let mut ev = Evidence {
            targets_read: true,
            ..Default::default()
        };
        ev.targets.insert(
            Component::Etcd,
            targets("kube-etcd", "http://10.0.0.1:2381/metrics", "down", REFUSED),
        );
        ev.static_pods.insert(
            Component::Etcd,
            vec![pod(
                "etcd-node1",
                "3.5.21-0",
                &[
                    "--listen-metrics-urls=http://127.0.0.1:2381",
                    "--client-cert-auth=true",
                ],
            )],
        );
        let r = row(Component::Etcd, &ev);
        assert!(r.cause.contains("http://127.0.0.1:2381"), "{}", r.cause);
        assert!(r.fix[0].starts_with(FIX_ETCD));

        ev.targets.insert(
            Component::Etcd,
            targets(
                "kube-etcd",
                "https://10.0.0.1:2379/metrics",
                "down",
                "remote error: tls: certificate required",
            ),
        );
        let r = row(Component::Etcd, &ev);
        assert!(r.cause.contains("client certificates"), "{}", r.cause);
        assert!(
            r.cause
                .contains("--client-cert-auth=true, as its pod shows"),
            "{}",
            r.cause
        );
        // The cause says of --client-cert-auth what the evidence row shows, never more.
        ev.static_pods.insert(
            Component::Etcd,
            vec![pod("etcd-node1", "3.5.21-0", &["--client-cert-auth=false"])],
        );
        let r = row(Component::Etcd, &ev);
        assert!(
            r.evidence
                .iter()
                .any(|e| e.contains("--client-cert-auth=false"))
                && r.cause.contains("its pod shows --client-cert-auth=false")
                && !r.cause.contains("--client-cert-auth=true"),
            "{} / {:?}",
            r.cause,
            r.evidence
        );
        ev.static_pods.clear();
        let r = row(Component::Etcd, &ev);
        assert!(
            r.cause.contains("etcd's flags are not visible here"),
            "{}",
            r.cause
        );
    }

    fn life(days_left: i64, state: crate::certs::life::State) -> crate::certs::life::CertLife {
        crate::certs::life::CertLife {
            secret: "monitoring/etcd-client-cert".into(),
            key: "etcd-client".into(),
            subject: "CN=etcd-node-node1".into(),
            not_after: "2027-01-01T00:00:00Z".into(),
            days_left,
            days_since_end: (-days_left).max(0),
            state,
            signed_by_secret_ca: Some(true),
            sha256: "ab".repeat(32),
            not_after_ts: 1_798_761_600,
        }
    }

    #[test]
    fn etcd_client_certificate_life_is_a_finding_and_traces_refusals() {
        use crate::certs::life::State;
        let mut ev = Evidence {
            targets_read: true,
            ..Default::default()
        };
        let url = "https://10.0.0.1:2379/metrics";
        ev.targets
            .insert(Component::Etcd, targets("kube-etcd", url, "up", ""));
        // Valid for long: the row stays ok, the evidence says until when.
        ev.etcd_certs = vec![life(300, State::Valid)];
        let r = row(Component::Etcd, &ev);
        assert_eq!(r.status, Status::Ok, "{r:?}");
        assert!(
            r.evidence.iter().any(|e| e.contains("300 days left")),
            "{r:?}"
        );
        assert!(r.fix.is_empty(), "{r:?}");

        // Within 30 days of its end, targets still up: a finding, with the renewal.
        ev.etcd_certs = vec![life(10, State::ExpiresSoon)];
        let r = row(Component::Etcd, &ev);
        assert_eq!(r.status, Status::Problem, "{r:?}");
        assert!(r.is_finding());
        assert!(
            r.cause.starts_with("every target is up, but ")
                && r.cause.contains("expires in 10 days"),
            "{}",
            r.cause
        );
        assert!(
            r.fix
                .iter()
                .any(|f| f.contains("kubectl promfix etcd --renew")),
            "{r:?}"
        );

        // Expired, and etcd refuses the handshake: the certificate is the cause.
        ev.etcd_certs = vec![life(-3, State::Expired)];
        ev.targets.insert(
            Component::Etcd,
            targets(
                "kube-etcd",
                url,
                "down",
                "remote error: tls: bad certificate",
            ),
        );
        let r = row(Component::Etcd, &ev);
        assert_eq!(r.status, Status::Problem);
        assert!(
            r.cause
                .starts_with("etcd refuses the scrape's client certificate: ")
                && r.cause.contains("expired on 2027-01-01T00:00:00Z"),
            "{}",
            r.cause
        );
        assert!(r.fix[0].contains("--renew"), "{:?}", r.fix);
        assert!(
            !r.fix
                .iter()
                .any(|f| f.starts_with(FIX_ETCD) && !f.contains("--renew")),
            "{:?}",
            r.fix
        );

        // Not signed by the Secret's CA: traced the same way.
        let mut l = life(200, State::Valid);
        l.signed_by_secret_ca = Some(false);
        ev.etcd_certs = vec![l];
        let r = row(Component::Etcd, &ev);
        assert!(
            r.cause.contains("not signed by the CA in the same Secret"),
            "{}",
            r.cause
        );

        // Down for another reason (refused: the port), the certificate valid: not blamed.
        ev.etcd_certs = vec![life(200, State::Valid)];
        ev.targets
            .insert(Component::Etcd, targets("kube-etcd", url, "down", REFUSED));
        let r = row(Component::Etcd, &ev);
        assert!(!r.cause.contains("client certificate CN="), "{}", r.cause);
        assert!(!r.fix.iter().any(|f| f.contains("--renew")), "{:?}", r.fix);
    }

    #[test]
    fn kubelet_evidence_of_the_selected_nodes() {
        use crate::doctor::select::Why;
        // 1,000 nodes, 10 failing: only those and the comparison sample were read; the cause
        // counts against the cluster, the evidence says which were read and why.
        let mut ev = kubelet_ev(true, Some(true));
        ev.kubelets = KubeletEvidence {
            cluster_nodes: Some(1000),
            ..Default::default()
        };
        let off = serde_json::json!({"authentication": {"webhook": {"enabled": false}, "anonymous": {"enabled": true}}, "authorization": {"mode": "Webhook"}});
        let on = serde_json::json!({"authentication": {"webhook": {"enabled": true}}, "authorization": {"mode": "Webhook"}});
        for i in 0..10 {
            ev.kubelets
                .add_selected(&format!("w{i}"), Some(&off), Why::Failing);
        }
        for i in 0..3 {
            ev.kubelets
                .add_selected(&format!("ok{i}"), Some(&on), Why::Healthy);
        }
        let r = row(Component::Kubelet, &ev);
        assert!(
            r.cause
                .contains("token authentication is off on 10 of 1000"),
            "{}",
            r.cause
        );
        let e = r.evidence.join("\n");
        assert!(e.contains("/configz of 13 of 1000 node(s) read"), "{e}");
        assert!(
            e.contains("10 node(s) with a target down")
                && e.contains("for comparison, 3 that answer: token authentication on on 3"),
            "{e}"
        );
    }

    #[test]
    fn kubelet_config_alone_when_prometheus_is_unreadable() {
        use crate::doctor::select::Why;
        let mut ev = Evidence::default();
        let off = serde_json::json!({"authentication": {"webhook": {"enabled": false}}, "authorization": {"mode": "Webhook"}});
        ev.kubelets.add_selected("n1", Some(&off), Why::Unjudged);
        ev.kubelets.add_selected("n2", None, Why::Unjudged);
        let r = row(Component::Kubelet, &ev);
        assert!(r.unchecked);
        assert_eq!(r.status, Status::Unknown);
        assert!(
            r.cause
                .starts_with("not checked: Prometheus' targets could not be read")
                && r.cause.contains("token authentication is off on 1 of 2"),
            "{}",
            r.cause
        );
        assert_eq!(r.fix, vec![FIX_KUBELET.to_string()]);
        assert!(
            r.evidence.iter().any(|e| e.contains("unreadable on 1")),
            "{:?}",
            r.evidence
        );
        // Nothing off: the plain unknown row, with what was read.
        let mut ev = Evidence::default();
        ev.kubelets.add_selected("n1", None, Why::Unjudged);
        let r = row(Component::Kubelet, &ev);
        assert_eq!(
            r.cause,
            "not checked: Prometheus' targets could not be read"
        );
        assert!(r.fix.is_empty());
    }

    #[test]
    fn healthy_and_unknown() {
        let mut ev = Evidence {
            targets_read: true,
            ..Default::default()
        };
        ev.targets.insert(
            Component::KubeProxy,
            targets("kube-proxy", "http://10.0.0.2:10249/metrics", "up", ""),
        );
        // Evidence that would be a problem does not matter when the targets are up.
        ev.kube_proxy.configmap = Some("kube-system/kube-proxy".into());
        let r = row(Component::KubeProxy, &ev);
        assert_eq!(r.status, Status::Ok);
        // Nothing scrapes CoreDNS: not monitored, a finding with the chart's switch as fix.
        let r = row(Component::Coredns, &ev);
        assert_eq!(r.status, Status::NotMonitored);
        assert!(r.fix[0].contains("coreDns.enabled=true"), "{:?}", r.fix);
        let rep = diagnose("ctx", &ev);
        // Counted for the four the seeds are about (kube-proxy is up), not for the apiserver
        // and CoreDNS.
        assert_eq!(rep.problems(), 4);
        // Every component scraped and up: no finding.
        for c in Component::ALL {
            ev.targets
                .insert(c, targets(c.job(), "https://10.0.0.9:1/metrics", "up", ""));
        }
        assert_eq!(diagnose("ctx", &ev).problems(), 0);
    }

    #[test]
    fn monitor_without_targets_and_an_empty_service() {
        let mut ev = Evidence {
            targets_read: true,
            ..Default::default()
        };
        ev.monitors.push(Monitor {
            kind: "ServiceMonitor".into(),
            namespace: "monitoring".into(),
            name: "x-kube-scheduler".into(),
            component: Some(Component::KubeScheduler),
            ports: vec!["http-metrics".into()],
            ..Default::default()
        });
        ev.services.push(ServiceEvidence {
            namespace: "kube-system".into(),
            name: "x-kube-scheduler".into(),
            component: Some(Component::KubeScheduler),
            selector: Some("component=kube-scheduler".into()),
            ports: vec![],
            addresses: Some(0),
        });
        let r = row(Component::KubeScheduler, &ev);
        assert_eq!(r.status, Status::Problem);
        assert!(r.cause.contains("selects no pod"), "{}", r.cause);
    }
}
