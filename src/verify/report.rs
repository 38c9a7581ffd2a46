//! The result of `verify`, one entry per pod, and its renderings: a table per pod, or JSON.

use super::FileCheck;
use super::FileStatus;
use super::targets::{Cause, Target};
use crate::certs::life::CertLife;
use serde::Serialize;

/// What was found for one Prometheus pod.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PodReport {
    /// `<namespace>/<name>` of the Prometheus resource.
    pub prometheus: String,
    /// `PrometheusAgent` for an agent (absent: a Prometheus).
    #[serde(default, skip_serializing_if = "is_plain_prometheus")]
    pub kind: String,
    pub namespace: String,
    pub pod: String,
    pub shard: String,
    /// Why the pod predates the Secret's mount (None: it does not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
    /// The Secret whose files were checked.
    pub secret: String,
    pub files: Vec<FileCheck>,
    /// Why the files could not be checked (exec failed, no Secret...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files_error: Option<String>,
    /// Which targets count as etcd's.
    pub job: String,
    pub targets: Vec<Target>,
    /// Why the targets could not be read, or why there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets_notes: Vec<String>,
    /// A sharded Prometheus: the etcd addresses the operator's hashmod relabeling gives this
    /// pod's shard (empty: the shard owns none, and has no etcd target to scrape).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_targets: Option<Vec<String>>,
    /// The client certificate in the Secret: its expiry, and whether the Secret's CA signed it
    /// (files mode, when the Secret holds one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<CertLife>,
    /// How it compares with this machine's client certificate files (`--from-dir`, or a node's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_files: Option<crate::certs::life::Compared>,
    /// What is not wrong yet (a client certificate near its end).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Every problem, in plain words (empty: verified).
    pub problems: Vec<String>,
    pub ok: bool,
}

impl PodReport {
    /// Fill `problems` and `ok` from what was found.
    pub fn conclude(&mut self) {
        let mut p = Vec::new();
        if let Some(s) = &self.stale {
            p.push(format!("stale pod: {s}"));
        }
        p.extend(self.file_problems());
        p.extend(self.shard_problems());
        p.extend(self.target_problems());
        self.ok = p.is_empty();
        self.problems = p;
    }

    /// The files: the error reading them, the missing ones, the ones that differ.
    fn file_problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(e) = &self.files_error {
            p.push(e.clone());
        }
        let missing: Vec<&str> = self
            .files
            .iter()
            .filter(|f| f.status == FileStatus::Missing)
            .map(|f| f.path.as_str())
            .collect();
        if !missing.is_empty() {
            p.push(format!(
                "missing files in the pod: {} (the Secret is not mounted there)",
                missing.join(", ")
            ));
        }
        let differ: Vec<&str> = self
            .files
            .iter()
            .filter(|f| f.status == FileStatus::Differs)
            .map(|f| f.path.as_str())
            .collect();
        if !differ.is_empty() {
            p.push(format!(
                "files differ from the Secret (an old copy; the kubelet syncs Secret changes within a minute or two): {}",
                differ.join(", ")
            ));
        }
        p
    }

    /// The shard's own targets that are not among the pod's.
    fn shard_problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(owned) = &self.shard_targets {
            for a in owned {
                if !self
                    .targets
                    .iter()
                    .any(|t| scrape_address(&t.scrape_url) == a)
                {
                    p.push(format!(
                        "target {a} belongs to shard {} (the operator's hashmod of the address) and is not among this pod's targets",
                        self.shard
                    ));
                }
            }
        }
        p
    }

    /// The targets: none (with why), the notes, the certificate's problem, each one down or not
    /// scraped yet.
    fn target_problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let owns_none = self.shard_targets.as_ref().is_some_and(Vec::is_empty);
        if self.targets.is_empty() && owns_none {
            // Nothing to scrape here: the other shards own every etcd target.
        } else if self.targets.is_empty() {
            if self.targets_notes.is_empty() {
                p.push(format!("no etcd target ({})", self.job));
            } else {
                p.push(format!(
                    "no etcd target ({}): {}",
                    self.job,
                    self.targets_notes.join(" ")
                ));
            }
        } else {
            p.extend(self.targets_notes.iter().cloned());
        }
        if let Some(c) = &self.client_cert {
            p.extend(c.problem());
            p.extend(self.node_files.as_ref().and_then(|n| n.problem(c)));
        }
        // A refused handshake the Secret's certificate explains (expired, another CA's) is
        // traced to it, rather than to a certificate from the wrong CA in general.
        let traced = self.client_cert.as_ref().filter(|c| c.explains_refusal());
        for t in &self.targets {
            match t.health.as_str() {
                "up" => {}
                "down" => p.push(match (traced, t.cause) {
                    (
                        Some(c),
                        Some(Cause::BadCertificate | Cause::Expired | Cause::ConnectionClosed),
                    ) => format!(
                        "target {} is down: etcd refused the client certificate ({}): {}",
                        t.scrape_url,
                        t.last_error,
                        c.describe()
                    ),
                    _ => format!(
                        "target {} is down: {}",
                        t.scrape_url,
                        t.explanation.as_deref().unwrap_or(&t.last_error)
                    ),
                }),
                _ => p.push(format!("target {} has not been scraped yet", t.scrape_url)),
            }
        }
        p
    }
}

/// `host:port` of a scrape URL (`https://10.0.0.1:2379/metrics` → `10.0.0.1:2379`).
pub fn scrape_address(url: &str) -> &str {
    let rest = url.split_once("://").map(|x| x.1).unwrap_or(url);
    rest.split('/').next().unwrap_or(rest)
}

fn pad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(w - n))
    }
}

/// The human form: one block per pod with a files table and a targets table, then a summary.
pub fn render_table(reports: &[PodReport]) -> String {
    let mut out = String::new();
    for r in reports {
        render_pod(r, &mut out);
        render_files(r, &mut out);
        render_targets(r, &mut out);
        for p in &r.problems {
            out.push_str(&format!("  - {p}\n"));
        }
        out.push('\n');
    }
    let failed = reports.iter().filter(|r| !r.ok).count();
    if failed == 0 {
        out.push_str(&format!(
            "verified: {} pod(s): files present and equal to the Secret, etcd targets up\n",
            reports.len()
        ));
    } else {
        out.push_str(&format!(
            "verification FAILED for {failed} of {} pod(s)\n",
            reports.len()
        ));
    }
    out
}

fn is_plain_prometheus(kind: &str) -> bool {
    kind.is_empty() || kind == "Prometheus"
}

/// A pod's header: its Prometheus, name, shard and verdict, staleness, the shard's targets.
fn render_pod(r: &PodReport, out: &mut String) {
    out.push_str(&format!(
        "{} {}  pod {}/{}  (shard {}){}\n",
        if is_plain_prometheus(&r.kind) {
            "Prometheus"
        } else {
            &r.kind
        },
        r.prometheus,
        r.namespace,
        r.pod,
        r.shard,
        if r.ok { "  OK" } else { "  FAILED" }
    ));
    if let Some(s) = &r.stale {
        out.push_str(&format!("  STALE: {s}\n"));
    }
    match r.shard_targets.as_deref() {
        Some([]) => out.push_str(&format!(
            "  shard {} owns no etcd target: the operator's hashmod relabeling gives every address to the other shards\n",
            r.shard
        )),
        Some(owned) => out.push_str(&format!(
            "  shard {} scrapes {} (the operator's hashmod of the addresses)\n",
            r.shard,
            owned.join(", ")
        )),
        None => {}
    }
}

/// A pod's files table, its note, the client certificate and the warnings.
fn render_files(r: &PodReport, out: &mut String) {
    let w = r
        .files
        .iter()
        .map(|f| f.path.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    out.push_str(&format!("  {}  STATUS\n", pad("FILE", w)));
    for f in &r.files {
        out.push_str(&format!("  {}  {}\n", pad(&f.path, w), f.status.word()));
    }
    if let Some(e) = &r.files_error {
        out.push_str(&format!("  note: {e}\n"));
    }
    if let Some(c) = &r.client_cert {
        out.push_str(&format!("  {}\n", c.describe()));
        if let Some(n) = &r.node_files {
            out.push_str(&format!("  {}\n", n.describe(c)));
        }
    }
    for w in &r.warnings {
        out.push_str(&format!("  warning: {w}\n"));
    }
}

/// A pod's targets table.
fn render_targets(r: &PodReport, out: &mut String) {
    let uw = r
        .targets
        .iter()
        .map(|t| t.scrape_url.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let scrapes: Vec<String> = r
        .targets
        .iter()
        .map(|t| last_scrape_text(&t.last_scrape))
        .collect();
    let hw = r
        .targets
        .iter()
        .map(|t| t.health.chars().count())
        .max()
        .unwrap_or(0)
        .max("HEALTH".len());
    let lw = scrapes
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
        .max("LAST SCRAPE".len());
    out.push_str(&format!(
        "  {}  {}  {}  ERROR\n",
        pad("TARGET", uw),
        pad("HEALTH", hw),
        pad("LAST SCRAPE", lw)
    ));
    for (t, ls) in r.targets.iter().zip(&scrapes) {
        out.push_str(&format!(
            "  {}  {}  {}  {}\n",
            pad(&t.scrape_url, uw),
            pad(&t.health, hw),
            pad(ls, lw),
            t.last_error
        ));
    }
    if r.targets.is_empty() {
        out.push_str(&format!("  (no etcd target: {})\n", r.job));
    }
}

/// A target's last scrape as Prometheus' own page shows it: `never` for Go's zero time (a target
/// not scraped yet), else the time in UTC with its zone (`2024-01-01 00:00:00 UTC`).
fn last_scrape_text(raw: &str) -> String {
    match crate::verify::parse_time(raw) {
        None => raw.to_string(),
        Some(t) if t < 0.0 => "never".to_string(),
        Some(_) => {
            let s: String = raw.chars().take(19).collect();
            let zone = if raw.ends_with('Z') || raw.len() < 25 {
                "UTC"
            } else {
                &raw[raw.len() - 6..]
            };
            format!("{} {zone}", s.replace('T', " "))
        }
    }
}

/// The JSON form: an array, one entry per pod.
pub fn render_json(reports: &[PodReport]) -> String {
    serde_json::to_string_pretty(reports).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {

    #[test]
    fn last_scrapes_read_as_prometheus_shows_them() {
        assert_eq!(last_scrape_text("0001-01-01T00:00:00Z"), "never");
        assert_eq!(
            last_scrape_text("2024-01-01T00:00:00.123Z"),
            "2024-01-01 00:00:00 UTC"
        );
        assert_eq!(
            last_scrape_text("2024-01-01T02:00:00.123+02:00"),
            "2024-01-01 02:00:00 +02:00"
        );
        let mut r = report(true, "unknown");
        r.targets[0].last_scrape = "0001-01-01T00:00:00Z".into();
        let text = render_table(&[r]);
        let header = text.lines().find(|l| l.contains("HEALTH")).unwrap();
        let row = text.lines().find(|l| l.contains("unknown")).unwrap();
        // Columns fit their widest value: LAST SCRAPE starts where the row's value does.
        assert_eq!(header.find("LAST SCRAPE"), row.find("never"), "{text}");
        assert!(!text.contains("0001-01-01"), "{text}");
    }
    use super::*;
    use crate::verify::FileCheck;

    #[test]
    fn a_shard_is_judged_on_the_addresses_it_owns() {
        // Owns the address its target has: ok, and the report says which shard scrapes it.
        let mut r = report(true, "up");
        r.shard_targets = Some(vec!["127.0.2.11:2379".into()]);
        r.conclude();
        assert!(r.ok, "{:?}", r.problems);
        assert!(render_table(std::slice::from_ref(&r)).contains("shard 0 scrapes 127.0.2.11:2379"));
        // Owns none and has none: ok, not "no etcd target".
        let mut r = report(true, "up");
        r.targets.clear();
        r.shard_targets = Some(vec![]);
        r.conclude();
        assert!(r.ok, "{:?}", r.problems);
        assert!(render_table(std::slice::from_ref(&r)).contains("shard 0 owns no etcd target"));
        // Owns one it does not scrape: a problem naming it.
        let mut r = report(true, "up");
        r.shard_targets = Some(vec!["127.0.2.11:2379".into(), "127.0.2.12:2379".into()]);
        r.conclude();
        assert!(!r.ok);
        assert!(
            r.problems[0].contains("127.0.2.12:2379 belongs to shard 0"),
            "{:?}",
            r.problems
        );
        // Not sharded, no targets: still a problem.
        let mut r = report(true, "up");
        r.targets.clear();
        r.conclude();
        assert!(!r.ok);
        assert_eq!(scrape_address("https://[::1]:2379/metrics"), "[::1]:2379");
    }

    fn report(ok_files: bool, health: &str) -> PodReport {
        let mut r = PodReport {
            prometheus: "monitoring/k8s".into(),
            namespace: "monitoring".into(),
            pod: "prometheus-k8s-0".into(),
            shard: "0".into(),
            secret: "etcd-client-cert".into(),
            job: "scrape pool serviceMonitor/monitoring/kube-etcd/*".into(),
            files: vec![FileCheck {
                key: "etcd-ca".into(),
                path: "/etc/prometheus/secrets/etcd-client-cert/etcd-ca".into(),
                status: if ok_files {
                    FileStatus::Ok
                } else {
                    FileStatus::Missing
                },
            }],
            targets: vec![Target {
                scrape_pool: "serviceMonitor/monitoring/kube-etcd/0".into(),
                job: "kube-etcd".into(),
                scrape_url: "https://127.0.2.11:2379/metrics".into(),
                health: health.into(),
                last_error: String::new(),
                last_scrape: "2024-01-01T00:00:00.123Z".into(),
                cause: None,
                explanation: None,
            }],
            ..Default::default()
        };
        r.conclude();
        r
    }

    #[test]
    fn conclusions_and_renderings() {
        let good = report(true, "up");
        assert!(good.ok, "{:?}", good.problems);
        let bad = report(false, "down");
        assert!(!bad.ok);
        assert!(bad.problems[0].contains("missing files"));
        let t = render_table(&[good.clone(), bad.clone()]);
        assert!(t.contains("FAILED for 1 of 2"), "{t}");
        assert!(t.contains("MISSING"));
        let j: serde_json::Value = serde_json::from_str(&render_json(&[good, bad])).unwrap();
        assert_eq!(j.as_array().unwrap().len(), 2);
        assert_eq!(j[0]["ok"], true);
        assert_eq!(j[1]["files"][0]["status"], "missing");
    }

    #[test]
    fn no_targets_is_a_problem() {
        let mut r = report(true, "up");
        r.targets.clear();
        r.targets_notes = vec!["the Endpoints are empty".into()];
        r.conclude();
        assert!(!r.ok);
        assert!(r.problems[0].contains("the Endpoints are empty"));
    }
}
