//! The kubelet's metrics endpoints (`pkg/kubelet/server/server.go` InstallDefaultHandlers):
//! `/metrics` (the legacy registry: `kubelet_node_name`, `kubelet_running_pods`,
//! `kubelet_running_containers`, `kubernetes_build_info`, `process_start_time_seconds`),
//! `/metrics/cadvisor` (cAdvisor's `container_*` series of the node's pods and containers, with
//! timestamps, and `machine_cpu_cores`), `/metrics/resource` (`collectors/resource_metrics.go`)
//! and `/metrics/probes` (its own registry: `process_start_time_seconds`), in the Prometheus
//! text exposition format 0.0.4, with component-base's `[ALPHA]`/`[STABLE]` help prefixes.
//!
//! Simulated, knowingly: the names, labels and types are the kubelet's; the values are not
//! measured per container (there are no cgroups). CPU seconds grow with the pod's time on the
//! node (1 % of a core), memory is a fixed 16 MiB per container; the node's own CPU and memory
//! are this machine's (`/proc/stat`, `/proc/meminfo`). Probe results are not counted.

use std::fmt::Write as _;

/// The node's part of what the agent runs, at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub node: String,
    /// (namespace, pod, uid, seconds on the node), sorted.
    pub pods: Vec<(String, String, String, f64)>,
    /// (namespace, pod, container) of the containers that run a process.
    pub containers: Vec<(String, String, String)>,
    /// When this node's kubelet API started (Unix seconds).
    pub start_time: f64,
    /// Now (Unix milliseconds), cAdvisor's sample timestamps.
    pub now_ms: i64,
    /// This machine: CPU cores, CPU seconds used, memory in use (bytes).
    pub machine: (usize, f64, u64),
}

/// The content type the kubelet's handlers answer with (expfmt's text format).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exposition of `path`, or None for a path the kubelet does not serve.
pub fn render(path: &str, s: &Snapshot) -> Option<String> {
    match path {
        "/metrics" => Some(legacy(s)),
        "/metrics/cadvisor" => Some(cadvisor(s)),
        "/metrics/resource" => Some(resource(s)),
        "/metrics/probes" => Some(start_time(s)),
        _ => None,
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn start_time(s: &Snapshot) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "process_start_time_seconds",
        "gauge",
        "[ALPHA] Start time of the process since unix epoch in seconds.",
    );
    let _ = writeln!(out, "process_start_time_seconds {}", s.start_time);
    out
}

fn legacy(s: &Snapshot) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "kubelet_node_name",
        "gauge",
        "[ALPHA] The node's name. The count is always 1.",
    );
    let _ = writeln!(out, "kubelet_node_name{{node=\"{}\"}} 1", s.node);
    family(
        &mut out,
        "kubelet_running_containers",
        "gauge",
        "[ALPHA] Number of containers currently running",
    );
    let _ = writeln!(
        out,
        "kubelet_running_containers{{container_state=\"running\"}} {}",
        s.containers.len()
    );
    family(
        &mut out,
        "kubelet_running_pods",
        "gauge",
        "[ALPHA] Number of pods that have a running pod sandbox",
    );
    let _ = writeln!(out, "kubelet_running_pods {}", s.pods.len());
    family(
        &mut out,
        "kubernetes_build_info",
        "gauge",
        "[ALPHA] A metric with a constant '1' value labeled by major, minor, git version, git commit, git tree state, build date, Go version, and compiler from which Kubernetes was built, and platform on which it is running.",
    );
    let _ = writeln!(
        out,
        "kubernetes_build_info{{build_date=\"1970-01-01T00:00:00Z\",compiler=\"gc\",git_commit=\"\",git_tree_state=\"\",git_version=\"v1.37.2\",go_version=\"go1.26.8\",major=\"1\",minor=\"37\",platform=\"linux/amd64\"}} 1"
    );
    out + &start_time(s)
}

/// CPU seconds of a pod (and each of its containers) `secs` on the node.
fn cpu(secs: f64) -> f64 {
    (secs * 0.01 * 1e6).round() / 1e6
}

const CONTAINER_MEMORY: u64 = 16 << 20;

fn cadvisor(s: &Snapshot) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "container_cpu_usage_seconds_total",
        "counter",
        "Cumulative cpu time consumed in seconds.",
    );
    let cg = |uid: &str| {
        format!(
            "/kubepods.slice/kubepods-pod{}.slice",
            uid.replace('-', "_")
        )
    };
    for (ns, pod, uid, secs) in &s.pods {
        let _ = writeln!(
            out,
            "container_cpu_usage_seconds_total{{container=\"\",cpu=\"total\",id=\"{}\",image=\"\",name=\"\",namespace=\"{ns}\",pod=\"{pod}\"}} {} {}",
            cg(uid),
            cpu(*secs),
            s.now_ms
        );
        for (_, _, c) in s.containers.iter().filter(|(n, p, _)| n == ns && p == pod) {
            let _ = writeln!(
                out,
                "container_cpu_usage_seconds_total{{container=\"{c}\",cpu=\"total\",id=\"{}/{c}\",image=\"\",name=\"{c}\",namespace=\"{ns}\",pod=\"{pod}\"}} {} {}",
                cg(uid),
                cpu(*secs),
                s.now_ms
            );
        }
    }
    family(
        &mut out,
        "container_memory_working_set_bytes",
        "gauge",
        "Current working set in bytes.",
    );
    for (ns, pod, c) in &s.containers {
        let _ = writeln!(
            out,
            "container_memory_working_set_bytes{{container=\"{c}\",namespace=\"{ns}\",pod=\"{pod}\"}} {CONTAINER_MEMORY} {}",
            s.now_ms
        );
    }
    family(
        &mut out,
        "machine_cpu_cores",
        "gauge",
        "Number of logical CPU cores.",
    );
    let _ = writeln!(
        out,
        "machine_cpu_cores{{boot_id=\"\",machine_id=\"\",system_uuid=\"\"}} {}",
        s.machine.0
    );
    out
}

fn resource(s: &Snapshot) -> String {
    let mut out = String::new();
    let ts = s.now_ms;
    family(
        &mut out,
        "container_cpu_usage_seconds_total",
        "counter",
        "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
    );
    let secs = |ns: &str, pod: &str| {
        s.pods
            .iter()
            .find(|p| p.0 == ns && p.1 == pod)
            .map_or(0.0, |p| p.3)
    };
    for (ns, pod, c) in &s.containers {
        let v = cpu(secs(ns, pod));
        let _ = writeln!(
            out,
            "container_cpu_usage_seconds_total{{container=\"{c}\",namespace=\"{ns}\",pod=\"{pod}\"}} {v} {ts}"
        );
    }
    family(
        &mut out,
        "node_cpu_usage_seconds_total",
        "counter",
        "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
    );
    let _ = writeln!(out, "node_cpu_usage_seconds_total {} {ts}", s.machine.1);
    family(
        &mut out,
        "node_memory_working_set_bytes",
        "gauge",
        "[STABLE] Current working set of the node in bytes",
    );
    let _ = writeln!(out, "node_memory_working_set_bytes {} {ts}", s.machine.2);
    family(
        &mut out,
        "resource_scrape_error",
        "gauge",
        "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
    );
    out.push_str("resource_scrape_error 0\n");
    out
}

/// This machine's CPU cores, CPU seconds used (user, nice, system, irq, softirq, steal of
/// `/proc/stat`, at 100 ticks a second) and memory in use (MemTotal − MemAvailable).
pub fn machine() -> (usize, f64, u64) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            let f: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            [0, 1, 2, 5, 6, 7].iter().filter_map(|i| f.get(*i)).sum()
        })
        .unwrap_or(0);
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kb = |k: &str| -> u64 {
        info.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let used = kb("MemTotal:").saturating_sub(kb("MemAvailable:")) * 1024;
    (cores, ticks as f64 / 100.0, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot {
        Snapshot {
            node: "node2".into(),
            pods: vec![
                (
                    "kube-system".into(),
                    "kube-proxy-x".into(),
                    "u-1".into(),
                    100.0,
                ),
                ("monitoring".into(), "prom-0".into(), "u-2".into(), 50.0),
            ],
            containers: vec![("monitoring".into(), "prom-0".into(), "prometheus".into())],
            start_time: 1_700_000_000.5,
            now_ms: 1_700_000_100_000,
            machine: (2, 1234.5, 1 << 30),
        }
    }

    /// Every sample line parses as `name{labels} value [timestamp]`, and every family has HELP
    /// and TYPE before its samples.
    fn well_formed(text: &str) {
        let mut typed = std::collections::HashSet::new();
        for l in text.lines() {
            if let Some(r) = l.strip_prefix("# TYPE ") {
                typed.insert(r.split(' ').next().unwrap().to_string());
                continue;
            }
            if l.starts_with("# HELP ") {
                continue;
            }
            let name: String = l
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            assert!(typed.contains(&name), "{l}: no TYPE before it");
            let rest = l.rsplit_once('}').map_or(&l[name.len()..], |(_, r)| r);
            let nums: Vec<&str> = rest.split_whitespace().collect();
            assert!((1..=2).contains(&nums.len()), "{l}");
            assert!(nums[0].parse::<f64>().is_ok(), "{l}");
            assert!(nums.get(1).is_none_or(|t| t.parse::<i64>().is_ok()), "{l}");
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn the_paths_the_kubelet_serves_are_well_formed_expositions() {
        let s = snap();
        for p in [
            "/metrics",
            "/metrics/cadvisor",
            "/metrics/resource",
            "/metrics/probes",
        ] {
            well_formed(&render(p, &s).unwrap_or_else(|| panic!("{p} not served")));
        }
        assert!(render("/metrics/slis", &s).is_none());
        assert!(render("/metricsx", &s).is_none());
    }

    #[test]
    fn the_series_name_the_node_and_its_pods() {
        let s = snap();
        let m = render("/metrics", &s).unwrap();
        assert!(m.contains("kubelet_node_name{node=\"node2\"} 1\n"), "{m}");
        assert!(m.contains("kubelet_running_pods 2\n"), "{m}");
        assert!(
            m.contains("process_start_time_seconds 1700000000.5\n"),
            "{m}"
        );
        let c = render("/metrics/cadvisor", &s).unwrap();
        assert!(
            c.contains("container_cpu_usage_seconds_total{container=\"prometheus\",cpu=\"total\",id=\"/kubepods.slice/kubepods-podu_2.slice/prometheus\",image=\"\",name=\"prometheus\",namespace=\"monitoring\",pod=\"prom-0\"} 0.5 1700000100000\n"),
            "{c}"
        );
        assert!(c.contains("pod=\"kube-proxy-x\"} 1 1700000100000\n"), "{c}");
        let r = render("/metrics/resource", &s).unwrap();
        assert!(
            r.contains("node_cpu_usage_seconds_total 1234.5 1700000100000\n"),
            "{r}"
        );
        assert!(r.contains("resource_scrape_error 0\n"), "{r}");
    }
}
