//! `verify` as pure functions: which pods belong to a Prometheus, whether a pod predates the
//! Secret's mount (stale), what the mounted files must hash to and what `sha256sum` in the pod
//! said, the life of the client certificate in the Secret, and (in [`targets`]) what Prometheus' own targets API says and why a target is down.
//!
//! No I/O here: `commands::verify` reads the cluster, execs and proxies, and hands the answers to
//! these functions. Key material never leaves this module: only SHA-256 digests are compared.

pub mod report;
pub mod targets;

use crate::certs::life::{self, CertLife, LifeError};
use crate::crd::PrometheusSpec;
use base64::Engine;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};
use serde::Serialize;
use serde_json::Value;
use sha2::Digest;
use std::collections::BTreeMap;

/// Where the operator mounts `spec.secrets` entries.
pub const SECRETS_DIR: &str = "/etc/prometheus/secrets";
/// The container that runs Prometheus in the operator's pods.
pub const CONTAINER: &str = "prometheus";

pub use crate::json::{is_ready, name, namespace};

/// The directory a Secret listed in `spec.secrets` is mounted at.
pub fn secret_dir(secret: &str) -> String {
    format!("{SECRETS_DIR}/{secret}")
}

/// Whether the Prometheus lists the Secret in `spec.secrets`.
pub fn lists_secret(prom: &Value, secret: &str) -> bool {
    PrometheusSpec::of(prom).lists_secret(secret)
}

/// The pods of a Prometheus or PrometheusAgent (every replica of every shard): labelled
/// `prometheus=<name>` (older operators) or `operator.prometheus.io/name=<name>`, in its
/// namespace, of its kind (`app.kubernetes.io/name`), sorted by name.
pub fn pods_of<'a>(prom: &Value, pods: &'a [Value]) -> Vec<&'a Value> {
    let (ns, n) = (namespace(prom), name(prom));
    let mut out: Vec<&Value> = pods
        .iter()
        .filter(|p| namespace(p) == ns)
        .filter(|p| {
            let l = &p["metadata"]["labels"];
            (l["prometheus"].as_str() == Some(n)
                || l["operator.prometheus.io/name"].as_str() == Some(n))
                && crate::crd::pod_is_of_kind(prom, l)
        })
        .collect();
    out.sort_by(|a, b| name(a).cmp(name(b)));
    out.dedup_by(|a, b| name(a) == name(b));
    out
}

/// How many pods the Prometheus asks for (replicas × shards).
pub fn expected_pods(prom: &Value) -> usize {
    usize::try_from(PrometheusSpec::of(prom).pods()).unwrap_or(usize::MAX)
}

/// The progress of the rollout: `1/2 pods updated, 0/2 ready`, out of the pods the
/// Prometheus asks for. Updated: not stale (the pod mounts the Secret, at the StatefulSet's
/// revision); ready: updated and Ready.
pub fn rollout_progress(expected: usize, pods: &[(Value, Option<String>)]) -> String {
    let updated = pods.iter().filter(|(_, stale)| stale.is_none()).count();
    let ready = pods
        .iter()
        .filter(|(p, stale)| stale.is_none() && is_ready(p))
        .count();
    let total = expected.max(updated);
    format!("{updated}/{total} pods updated, {ready}/{total} ready")
}

/// How many shards the Prometheus has (`spec.shards`, default 1).
pub fn shards_of(prom: &Value) -> u64 {
    PrometheusSpec::of(prom).shards()
}

/// The shard the Prometheus Operator's relabeling gives a target address: its `hashmod` action
/// on `__address__` with modulus `shards` (promcfg.go, appendShardingRelabelingWithLabel), as
/// Prometheus computes it (relabel.go: MD5 of the value, its last 8 bytes big-endian, mod n).
pub fn shard_for(address: &str, shards: u64) -> u64 {
    use md5::{Digest, Md5};
    let sum = Md5::digest(address.as_bytes());
    let mut last = [0u8; 8];
    last.copy_from_slice(&sum[8..16]);
    u64::from_be_bytes(last) % shards.max(1)
}

/// The addresses of `addresses` the hashmod gives shard `shard` of `shards`.
pub fn owned_by(addresses: &[String], shards: u64, shard: u64) -> Vec<String> {
    addresses
        .iter()
        .filter(|a| shard_for(a, shards) == shard)
        .cloned()
        .collect()
}

/// The shard a pod belongs to ("0" when the operator does not say).
pub fn shard_of(pod: &Value) -> String {
    pod["metadata"]["labels"]["operator.prometheus.io/shard"]
        .as_str()
        .unwrap_or("0")
        .to_string()
}

/// Whether the pod spec mounts the Secret into the prometheus container at its directory.
pub fn mounts_secret(pod: &Value, secret: &str) -> bool {
    let vols: Vec<&str> = pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["secret"]["secretName"].as_str() == Some(secret))
        .filter_map(|v| v["name"].as_str())
        .collect();
    if vols.is_empty() {
        return false;
    }
    let dir = secret_dir(secret);
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["name"] == CONTAINER)
        .flat_map(|c| c["volumeMounts"].as_array().cloned().unwrap_or_default())
        .any(|m| {
            m["name"].as_str().is_some_and(|n| vols.contains(&n))
                && m["mountPath"].as_str().map(|p| p.trim_end_matches('/')) == Some(dir.as_str())
        })
}

/// Why a pod is stale (created before the Secret was listed in `spec.secrets`), or None.
/// Only meaningful when the Prometheus lists the Secret: a pod without the mount, or one from an
/// older revision of its StatefulSet (the operator has changed the template since).
pub fn stale_reason(pod: &Value, sts: Option<&Value>, secret: &str) -> Option<String> {
    if !mounts_secret(pod, secret) {
        return Some(format!(
            "created before Secret {secret} was listed in spec.secrets: its spec has no volume for it \
             (pods are immutable; the StatefulSet replaces it)"
        ));
    }
    if let Some(sts) = sts {
        let want = sts["status"]["updateRevision"].as_str().unwrap_or("");
        let have = pod["metadata"]["labels"]["controller-revision-hash"]
            .as_str()
            .unwrap_or("");
        if !want.is_empty() && !have.is_empty() && want != have {
            return Some(format!(
                "from revision {have}, older than the StatefulSet's {want} (the rollout has not reached it yet)"
            ));
        }
    }
    if pod["metadata"]["deletionTimestamp"].is_string() {
        return Some("being deleted (the rollout is replacing it)".into());
    }
    None
}

/// When the pod's prometheus container started (else the pod's start, else its creation).
pub fn started_at(pod: &Value) -> Option<String> {
    let from_status = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == CONTAINER)
        .and_then(|c| c["state"]["running"]["startedAt"].as_str());
    from_status
        .or_else(|| pod["status"]["startTime"].as_str())
        .or_else(|| pod["metadata"]["creationTimestamp"].as_str())
        .map(str::to_string)
}

/// The time of an object's last write, from its managedFields (None without them).
pub fn last_change(obj: &Value) -> Option<String> {
    obj["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .filter_map(|m| m["time"].as_str())
        .max_by(|a, b| {
            parse_time(a)
                .unwrap_or(0.0)
                .total_cmp(&parse_time(b).unwrap_or(0.0))
        })
        .map(str::to_string)
}

/// SHA-256 (hex) of every key of a Secret (`data` base64, `stringData` as is), by key.
pub fn secret_digests(secret: &Value) -> crate::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if let Some(data) = secret["data"].as_object() {
        for (k, v) in data {
            let b64 = v.as_str().unwrap_or("");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|source| crate::Error::Base64 {
                    what: format!("key {k} of the Secret"),
                    source,
                })?;
            out.insert(k.clone(), hex(&sha2::Sha256::digest(&bytes)));
        }
    }
    if let Some(data) = secret["stringData"].as_object() {
        for (k, v) in data {
            let text = v.as_str().unwrap_or("");
            out.insert(k.clone(), hex(&sha2::Sha256::digest(text.as_bytes())));
        }
    }
    Ok(out)
}

/// The life of the client certificate in the etcd Secret (files mode): the keys the
/// ServiceMonitor endpoint's `tlsConfig` names below the Secret's directory, else the ones
/// `kubectl promfix etcd` writes (`etcd-client`, `etcd-ca`). None when the Secret holds no such
/// key.
pub fn secret_cert_life(
    secret: &Value,
    endpoint: Option<&Value>,
    now: i64,
) -> Option<Result<CertLife, LifeError>> {
    let dir = format!("{}/", secret_dir(name(secret)));
    let key_of = |field: &str, default: &str| {
        endpoint
            .and_then(|e| e["tlsConfig"][field].as_str())
            .and_then(|f| f.strip_prefix(&dir))
            .unwrap_or(default)
            .to_string()
    };
    let (cert_key, ca_key) = (
        key_of("certFile", "etcd-client"),
        key_of("caFile", "etcd-ca"),
    );
    let bytes = |k: &str| {
        secret["data"][k]
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
    };
    let cert = bytes(&cert_key)?;
    let ca = bytes(&ca_key);
    let id = format!("{}/{}", namespace(secret), name(secret));
    Some(life::assess(&id, &cert_key, &cert, ca.as_deref(), now))
}

/// When kubectl-promfix last wrote `obj` (its managedFields entry), if it did.
pub fn promfix_wrote_at(obj: &Value) -> Option<k8s_openapi::jiff::Timestamp> {
    managed_fields(obj)
        .iter()
        .filter(|e| e.manager.as_deref() == Some(crate::kube::FIELD_MANAGER))
        .filter_map(|e| e.time.as_ref().map(|t| t.0))
        .max()
}

fn managed_fields(obj: &Value) -> Vec<ManagedFieldsEntry> {
    obj.get("metadata")
        .and_then(|m| serde_json::from_value::<ObjectMeta>(m.clone()).ok())
        .and_then(|m| m.managed_fields)
        .unwrap_or_default()
}

/// Who took back a field that kubectl-promfix wrote into `obj` (the field at `path` in
/// managedFields' `fieldsV1` notation, e.g. `["f:spec", "f:secrets"]`): the manager that owns it
/// now, else the last other manager to write `path`'s parent, after kubectl-promfix wrote
/// `obj` (or, when a forced apply left it no field there, after `fix_at`: when it wrote the
/// rest of the fix). None when kubectl-promfix wrote neither, or nobody else wrote since.
pub fn reverted_by(
    obj: &Value,
    path: &[&str],
    fix_at: Option<k8s_openapi::jiff::Timestamp>,
) -> Option<String> {
    let entries = managed_fields(obj);
    let ours_at = promfix_wrote_at(obj).into_iter().chain(fix_at).max()?;
    let holds = |e: &ManagedFieldsEntry, path: &[&str]| {
        e.fields_v1
            .as_ref()
            .is_some_and(|f| path.iter().try_fold(&f.0, |v, k| v.get(*k)).is_some())
    };
    let since = |e: &&ManagedFieldsEntry| {
        e.manager.as_deref() != Some(crate::kube::FIELD_MANAGER)
            // managedFields times are whole seconds: a revert in the same second counts.
            && e.time.as_ref().is_some_and(|t| t.0 >= ours_at)
    };
    let parent = &path[..path.len().saturating_sub(1)];
    let who = entries
        .iter()
        .filter(since)
        .find(|e| holds(e, path))
        .or_else(|| {
            entries
                .iter()
                .filter(since)
                .filter(|e| holds(e, parent))
                .max_by_key(|e| e.time.as_ref().map(|t| t.0))
        })?;
    Some(format!(
        "{} ({}{})",
        who.manager.as_deref().unwrap_or("an unnamed manager"),
        who.operation.as_deref().unwrap_or("a write"),
        who.time
            .as_ref()
            .map(|t| format!(" at {}", t.0))
            .unwrap_or_default()
    ))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The command run in the pod: `sha256sum` of every key's file (no shell needed; busybox and
/// coreutils print `<hex>  <path>` per readable file and a message on stderr for the others).
pub fn sha256sum_command(secret: &str, keys: &[String]) -> Vec<String> {
    let dir = secret_dir(secret);
    std::iter::once("sha256sum".to_string())
        .chain(keys.iter().map(|k| format!("{dir}/{k}")))
        .collect()
}

/// Parse `sha256sum` output: path → digest.
pub fn parse_sha256sum(stdout: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in stdout.lines() {
        let line = line.trim_end();
        let Some((digest, path)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let path = path.trim_start().trim_start_matches('*');
        if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.insert(path.to_string(), digest.to_ascii_lowercase());
        }
    }
    out
}

/// One key's file in the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCheck {
    pub key: String,
    pub path: String,
    pub status: FileStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// Present, same SHA-256 as the Secret's key.
    Ok,
    /// Not in the pod.
    Missing,
    /// Present with other content (an old copy: the kubelet has not synced yet, or another Secret).
    Differs,
    /// Present, but there is no Secret to compare it with.
    Present,
}

impl FileStatus {
    pub fn word(self) -> &'static str {
        match self {
            FileStatus::Ok => "ok (sha256 equal to the Secret's)",
            FileStatus::Missing => "MISSING",
            FileStatus::Differs => "DIFFERS from the Secret (sha256)",
            FileStatus::Present => "present (no Secret to compare with)",
        }
    }
}

/// Compare the Secret's digests with what `sha256sum` printed in the pod.
pub fn compare_files(
    secret: &str,
    expected: &BTreeMap<String, String>,
    found: &BTreeMap<String, String>,
) -> Vec<FileCheck> {
    let dir = secret_dir(secret);
    expected
        .iter()
        .map(|(k, want)| {
            let path = format!("{dir}/{k}");
            let status = match found.get(&path) {
                None => FileStatus::Missing,
                Some(_) if want.is_empty() => FileStatus::Present,
                Some(d) if d == want => FileStatus::Ok,
                Some(_) => FileStatus::Differs,
            };
            FileCheck {
                key: k.clone(),
                path,
                status,
            }
        })
        .collect()
}

/// Where the operator mounts the TLS material ServiceMonitors reference by Secret (tls-assets).
pub const TLS_ASSETS_DIR: &str = "/etc/prometheus/certs";

/// The Secret references (`ca.secret`, `cert.secret`, `keySecret`) of a ServiceMonitor
/// endpoint's tlsConfig, as (Secret name, key); empty when it uses files.
pub fn secret_refs(endpoint: &Value) -> Vec<(String, String)> {
    let t = &endpoint["tlsConfig"];
    [&t["ca"]["secret"], &t["cert"]["secret"], &t["keySecret"]]
        .into_iter()
        .filter_map(|r| {
            let n = r["name"].as_str().filter(|x| !x.is_empty())?;
            let k = r["key"].as_str().filter(|x| !x.is_empty())?;
            Some((n.to_string(), k.to_string()))
        })
        .collect()
}

/// The file the operator writes a referenced Secret key to in the pod:
/// `/etc/prometheus/certs/0_<namespace>_<name>_<key>` (its `pkg/assets` names a tls-assets key
/// `<source>_<ns>_<name>_<key>`, source 0 a Secret and 1 a ConfigMap).
pub fn tls_asset_path(ns: &str, secret: &str, key: &str) -> String {
    format!("{TLS_ASSETS_DIR}/0_{ns}_{secret}_{key}")
}

/// The same file as older operators name it: `secret_<namespace>_<name>_<key>`.
pub fn legacy_tls_asset_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix(TLS_ASSETS_DIR)?.strip_prefix("/0_")?;
    Some(format!("{TLS_ASSETS_DIR}/secret_{rest}"))
}

/// The paths to look for: each expected one, and a tls-assets file's older name too.
pub fn paths_to_look_for(expected: &[(String, String, String)]) -> Vec<String> {
    expected
        .iter()
        .flat_map(|(_, p, _)| std::iter::once(p.clone()).chain(legacy_tls_asset_path(p)))
        .collect()
}

/// The expected files with each tls-assets path the pod has only under its older name (an
/// older operator's) renamed to that name.
pub fn as_found(
    expected: &[(String, String, String)],
    found: &BTreeMap<String, String>,
) -> Vec<(String, String, String)> {
    expected
        .iter()
        .map(|(k, p, d)| {
            let path = match legacy_tls_asset_path(p) {
                Some(old) if !found.contains_key(p) && found.contains_key(&old) => old,
                _ => p.clone(),
            };
            (k.clone(), path, d.clone())
        })
        .collect()
}

/// Compare expected (key label, path, digest) with what `sha256sum` printed. An empty digest
/// means "no Secret to compare with".
pub fn compare_paths(
    expected: &[(String, String, String)],
    found: &BTreeMap<String, String>,
) -> Vec<FileCheck> {
    expected
        .iter()
        .map(|(key, path, want)| FileCheck {
            key: key.clone(),
            path: path.clone(),
            status: match found.get(path) {
                None => FileStatus::Missing,
                Some(_) if want.is_empty() => FileStatus::Present,
                Some(d) if d == want => FileStatus::Ok,
                Some(_) => FileStatus::Differs,
            },
        })
        .collect()
}

/// Whether the pod's files are an old copy the kubelet has not synced yet: one differs from its
/// Secret's key, or (`tls_assets`: the secret references mode, after a recent change) one is
/// missing. The operator copies the referenced keys into its tls-assets Secret, mounted in every
/// pod, and the kubelet writes the new keys into the running pods after its sync period; a file
/// is missing there until then.
pub fn not_synced_yet(files: &[FileCheck], tls_assets: bool) -> bool {
    files
        .iter()
        .any(|f| f.status == FileStatus::Differs || (tls_assets && f.status == FileStatus::Missing))
}

/// `sha256sum PATH...`.
pub fn sha256sum_paths(paths: &[String]) -> Vec<String> {
    std::iter::once("sha256sum".to_string())
        .chain(paths.iter().cloned())
        .collect()
}

/// The keys to look for when the Secret does not exist: the files the etcd ServiceMonitor's
/// tlsConfig names under the Secret's directory, else the tool's default key names.
pub fn keys_without_secret(sm: Option<&Value>, secret: &str) -> Vec<String> {
    let dir = format!("{}/", secret_dir(secret));
    let mut keys: Vec<String> = sm
        .and_then(|m| m["spec"]["endpoints"].as_array())
        .into_iter()
        .flatten()
        .flat_map(|e| {
            ["caFile", "certFile", "keyFile"]
                .into_iter()
                .filter_map(|f| e["tlsConfig"][f].as_str())
                .filter_map(|p| p.strip_prefix(&dir))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    keys.sort();
    keys.dedup();
    if keys.is_empty() {
        keys = ["etcd-ca", "etcd-client", "etcd-client-key"]
            .map(String::from)
            .to_vec();
    }
    keys
}

/// Why an exec could not check the files, in plain words (the runtime's text kept at the end).
pub fn exec_failure(message: &str, tool: &str) -> String {
    if message.contains("executable file not found")
        || message.contains("no such file or directory") && message.contains("exec")
    {
        format!(
            "the {CONTAINER} container's image has no `{tool}` (a distroless or scratch image without a shell): \
             the files cannot be checked by exec. Check them another way, e.g. `kubectl debug` with an image \
             that has a shell, or trust the targets check below. ({message})"
        )
    } else {
        format!("exec in the {CONTAINER} container failed: {message}")
    }
}

/// RFC 3339 / Prometheus timestamps to seconds since the epoch (fraction kept). Accepts `Z` and
/// `+hh:mm` offsets; Go's zero time (`0001-01-01T00:00:00Z`) parses to a large negative number.
pub fn parse_time(t: &str) -> Option<f64> {
    let t = t.trim();
    if t.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r).and_then(|x| x.parse::<i64>().ok());
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = &t[19..];
    let (frac, tz) = match rest.strip_prefix('.') {
        Some(r) => {
            let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            let f: f64 = format!("0.{}", &r[..end]).parse().unwrap_or(0.0);
            (f, &r[end..])
        }
        None => (0.0, rest),
    };
    let offset = match tz {
        "Z" | "z" | "" => 0,
        o if o.len() == 6 => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let oh: i64 = o.get(1..3)?.parse().ok()?;
            let om: i64 = o.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = if y2 >= 0 { y2 } else { y2 - 399 } / 400;
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some((days * 86400 + h * 3600 + mi * 60 + sec - offset) as f64 + frac)
}

/// The path prefix a pod's Prometheus serves its API under, as `""` for the root or `/x`.
/// The pod's own `--web.route-prefix` decides (the operator always passes it: the resource's
/// `routePrefix`, else `/`); without one, Prometheus' default, the path of `--web.external-url`;
/// without a pod argument at all, the resource's `routePrefix`, else `externalUrl` path.
pub fn route_prefix(prom: &Value, pod: Option<&Value>) -> String {
    let args: Vec<String> = pod
        .and_then(|p| p["spec"]["containers"].as_array())
        .into_iter()
        .flatten()
        .filter(|c| c["name"] == CONTAINER)
        .flat_map(|c| c["args"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    let arg = |name: &str| {
        args.iter().find_map(|a| {
            a.trim_start_matches('-')
                .strip_prefix(name)
                .and_then(|r| r.strip_prefix('='))
                .map(str::to_string)
        })
    };
    let raw = if let Some(r) = arg("web.route-prefix") {
        r
    } else if let Some(u) = arg("web.external-url") {
        url_path(&u)
    } else {
        let spec = PrometheusSpec::of(prom);
        match spec.route_prefix.filter(|s| !s.is_empty()) {
            Some(r) => r,
            None => spec
                .external_url
                .as_deref()
                .map(url_path)
                .unwrap_or_default(),
        }
    };
    let trimmed = raw.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

fn url_path(u: &str) -> String {
    let after_scheme = u.split_once("://").map(|(_, r)| r).unwrap_or(u);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..]
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .to_string(),
        None => String::new(),
    }
}

/// The pods/proxy base of a pod's Prometheus web server on `port`: with `spec.web.tlsConfig`
/// the operator makes Prometheus serve HTTPS, which the API server's pod proxy reaches with the
/// `https:` scheme before the pod's name (`kubectl get --raw .../pods/https:NAME:9090/proxy/...`).
pub fn prometheus_proxy(prom: &Value, ns: &str, pod: &str, port: u64) -> String {
    let scheme = if prom["spec"]["web"]["tlsConfig"].is_object() {
        "https:"
    } else {
        ""
    };
    format!("/api/v1/namespaces/{ns}/pods/{scheme}{pod}:{port}/proxy")
}

/// The pods/proxy path of a pod's Prometheus targets API.
pub fn targets_path(prom: &Value, ns: &str, pod: &str, prefix: &str) -> String {
    format!(
        "{}{prefix}/api/v1/targets?state=active",
        prometheus_proxy(prom, ns, pod, 9090)
    )
}

/// The pods/proxy path of a pod's Prometheus runtime information (`lastConfigTime`).
pub fn runtimeinfo_path(prom: &Value, ns: &str, pod: &str, prefix: &str) -> String {
    format!(
        "{}{prefix}/api/v1/status/runtimeinfo",
        prometheus_proxy(prom, ns, pod, 9090)
    )
}

/// The pods/proxy path of the configuration a pod's Prometheus has loaded.
pub fn loaded_config_path(prom: &Value, ns: &str, pod: &str, prefix: &str) -> String {
    format!(
        "{}{prefix}/api/v1/status/config",
        prometheus_proxy(prom, ns, pod, 9090)
    )
}

/// Whether the configuration Prometheus has loaded (its `/api/v1/status/config` answer) scrapes
/// the ServiceMonitor endpoint `endpoint` (of `ns/name`, index `idx`) as it is now: the job the
/// operator names `serviceMonitor/NS/NAME/IDX`, with the endpoint's scheme, scrape interval
/// and TLS settings (serverName, insecureSkipVerify, the mounted files). A reload after the
/// change is not enough: `lastConfigTime` counts whole seconds, and a reload can come from
/// another change before the operator wrote this one. None: the answer is not Prometheus'.
pub fn loaded_config_scrapes(
    answer: &str,
    ns: &str,
    name: &str,
    idx: usize,
    endpoint: &Value,
) -> Option<bool> {
    let a: Value = serde_json::from_str(answer).ok()?;
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(a["data"]["yaml"].as_str()?).ok()?;
    let job = format!("serviceMonitor/{ns}/{name}/{idx}");
    let Some(cfg) = yaml["scrape_configs"]
        .as_sequence()?
        .iter()
        .find(|c| c["job_name"].as_str() == Some(job.as_str()))
    else {
        return Some(false);
    };
    let text = |v: &serde_yaml_ng::Value| v.as_str().map(str::to_string);
    let scheme = endpoint["scheme"]
        .as_str()
        .unwrap_or("http")
        .to_ascii_lowercase();
    if text(&cfg["scheme"])
        .unwrap_or_else(|| "http".into())
        .to_ascii_lowercase()
        != scheme
    {
        return Some(false);
    }
    if let Some(i) = endpoint["interval"].as_str()
        && text(&cfg["scrape_interval"]).as_deref() != Some(i)
    {
        return Some(false);
    }
    let tls = &endpoint["tlsConfig"];
    let have = &cfg["tls_config"];
    if text(&have["server_name"]).as_deref() != tls["serverName"].as_str() {
        return Some(false);
    }
    if have["insecure_skip_verify"].as_bool().unwrap_or(false)
        != tls["insecureSkipVerify"].as_bool().unwrap_or(false)
    {
        return Some(false);
    }
    for (field, key) in [
        ("caFile", "ca_file"),
        ("certFile", "cert_file"),
        ("keyFile", "key_file"),
    ] {
        if let Some(f) = tls[field].as_str()
            && text(&have[key]).as_deref() != Some(f)
        {
            return Some(false);
        }
    }
    Some(true)
}

/// When Prometheus last loaded its configuration, from its runtimeinfo answer, if that is at or
/// after `changed`. Prometheus reports `lastConfigTime` in whole seconds (its
/// `prometheus_config_last_reload_success_timestamp_seconds`, truncated), set once every
/// component has applied the new configuration.
pub fn config_loaded_at(runtimeinfo: &str, changed: f64) -> Option<f64> {
    let a: Value = serde_json::from_str(runtimeinfo).ok()?;
    let t = a["data"]["lastConfigTime"].as_str().and_then(parse_time)?;
    (t >= changed).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_loaded_configuration_must_carry_the_endpoint_as_it_is_now() {
        // As Prometheus answers /api/v1/status/config with the operator's generated job.
        let answer = |yaml: &str| json!({"status": "success", "data": {"yaml": yaml}}).to_string();
        let loaded = answer(
            "global:\n  scrape_interval: 30s\nscrape_configs:\n- job_name: serviceMonitor/monitoring/kube-etcd/0\n  scrape_interval: 3s\n  scheme: https\n  tls_config:\n    ca_file: /etc/prometheus/secrets/etcd-client-cert/etcd-ca\n    cert_file: /etc/prometheus/secrets/etcd-client-cert/etcd-client\n    key_file: /etc/prometheus/secrets/etcd-client-cert/etcd-client-key\n    insecure_skip_verify: false\n",
        );
        let mut ep = json!({"port": "http-metrics", "scheme": "https", "interval": "3s",
            "tlsConfig": {"caFile": "/etc/prometheus/secrets/etcd-client-cert/etcd-ca",
                "certFile": "/etc/prometheus/secrets/etcd-client-cert/etcd-client",
                "keyFile": "/etc/prometheus/secrets/etcd-client-cert/etcd-client-key"}});
        let has = |ep: &Value| loaded_config_scrapes(&loaded, "monitoring", "kube-etcd", 0, ep);
        assert_eq!(has(&ep), Some(true));
        // A serverName the loaded configuration does not have yet: not loaded.
        ep["tlsConfig"]["serverName"] = json!("etcd.elsewhere.example");
        assert_eq!(has(&ep), Some(false));
        ep["tlsConfig"]
            .as_object_mut()
            .unwrap()
            .remove("serverName");
        ep["scheme"] = json!("http");
        assert_eq!(has(&ep), Some(false));
        ep["scheme"] = json!("https");
        ep["interval"] = json!("30s");
        assert_eq!(has(&ep), Some(false));
        ep["interval"] = json!("3s");
        // Another index or monitor: not this job.
        assert_eq!(
            loaded_config_scrapes(&loaded, "monitoring", "kube-etcd", 1, &ep),
            Some(false)
        );
        assert_eq!(
            loaded_config_scrapes("not json", "monitoring", "kube-etcd", 0, &ep),
            None
        );
    }

    #[test]
    fn a_field_kubectl_promfix_wrote_and_another_manager_took_back_names_that_manager() {
        let entry = |manager: &str, time: &str, fields: Value| {
            json!({"manager": manager, "operation": "Update", "apiVersion": "monitoring.coreos.com/v1",
                   "time": time, "fieldsType": "FieldsV1", "fieldsV1": fields})
        };
        let prom =
            |entries: Vec<Value>| json!({"metadata": {"name": "k8s", "managedFields": entries}});
        let ours = entry(
            "kubectl-promfix",
            "2026-12-01T10:00:00Z",
            json!({"f:spec": {"f:secrets": {}}}),
        );
        // Argo CD's apply took spec.secrets back (it owns the field now).
        let argo = json!({"manager": "argocd-controller", "operation": "Apply", "time": "2026-12-01T10:05:00Z",
                          "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:secrets": {}, "f:replicas": {}}}});
        let who = reverted_by(
            &prom(vec![ours.clone(), argo]),
            &["f:spec", "f:secrets"],
            None,
        )
        .unwrap();
        assert_eq!(who, "argocd-controller (Apply at 2026-12-01T10:05:00Z)");
        // The field is gone altogether: the last writer of spec after ours.
        let helm = entry(
            "helm",
            "2026-12-02T08:00:00Z",
            json!({"f:spec": {"f:image": {}}}),
        );
        let old = entry(
            "kubectl-edit",
            "2026-11-01T08:00:00Z",
            json!({"f:spec": {"f:image": {}}}),
        );
        let who = reverted_by(
            &prom(vec![old.clone(), ours.clone(), helm.clone()]),
            &["f:spec", "f:secrets"],
            None,
        );
        assert_eq!(
            who.as_deref(),
            Some("helm (Update at 2026-12-02T08:00:00Z)")
        );
        // Only a writer from before ours, or none at all: nobody to name.
        assert_eq!(
            reverted_by(
                &prom(vec![old.clone(), ours]),
                &["f:spec", "f:secrets"],
                None
            ),
            None
        );
        // A forced apply left kubectl-promfix no field here: when it wrote the rest of the
        // fix (the Secret) counts.
        let fix_at = "2026-12-01T10:00:00Z".parse().ok();
        assert_eq!(
            reverted_by(
                &prom(vec![old.clone(), helm]),
                &["f:spec", "f:secrets"],
                fix_at
            )
            .as_deref(),
            Some("helm (Update at 2026-12-02T08:00:00Z)")
        );
        // kubectl-promfix never wrote it: not a reverted fix.
        let other = entry(
            "argocd-controller",
            "2026-12-01T10:05:00Z",
            json!({"f:spec": {"f:secrets": {}}}),
        );
        assert_eq!(
            reverted_by(&prom(vec![old, other]), &["f:spec", "f:secrets"], None),
            None
        );
    }

    fn pod(name: &str, labels: Value, spec: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "monitoring", "labels": labels}, "spec": spec})
    }

    fn mounted_spec(secret: &str) -> Value {
        json!({
            "volumes": [{"name": format!("secret-{secret}"), "secret": {"secretName": secret}}],
            "containers": [{"name": "prometheus", "volumeMounts": [
                {"name": format!("secret-{secret}"), "mountPath": format!("/etc/prometheus/secrets/{secret}"), "readOnly": true}]}]
        })
    }

    #[test]
    fn the_rollout_counts_updated_and_ready_pods_out_of_the_expected() {
        let ready = |n: &str| json!({"metadata": {"name": n}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let not_ready = |n: &str| json!({"metadata": {"name": n}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        let stale = Some("created before Secret x was listed".to_string());
        // One old pod still runs (ready, stale), one was replaced and is not ready yet.
        let pods = vec![(ready("p-0"), stale.clone()), (not_ready("p-1"), None)];
        assert_eq!(rollout_progress(2, &pods), "1/2 pods updated, 0/2 ready");
        let pods = vec![(ready("p-1"), None)];
        assert_eq!(rollout_progress(2, &pods), "1/2 pods updated, 1/2 ready");
        let pods = vec![(ready("p-0"), None), (ready("p-1"), None)];
        assert_eq!(rollout_progress(2, &pods), "2/2 pods updated, 2/2 ready");
        assert_eq!(rollout_progress(2, &[]), "0/2 pods updated, 0/2 ready");
        let pods = vec![(ready("p-0"), stale)];
        assert_eq!(rollout_progress(1, &pods), "0/1 pods updated, 0/1 ready");
    }

    #[test]
    fn shards_follow_prometheus_hashmod() {
        // Computed by Prometheus' own relabel.Process (model/relabel, v3.16.0) with the
        // operator's hashmod rule on __address__.
        for (addr, n, want) in [
            ("10.0.0.1:2379", 2, 0),
            ("10.0.0.1:2379", 3, 2),
            ("10.0.0.2:2379", 2, 0),
            ("10.0.0.3:2379", 2, 1),
            ("198.18.1.11:2379", 2, 0),
            ("198.18.1.12:2379", 2, 1),
            ("198.18.1.12:2379", 3, 2),
            ("198.18.1.13:2379", 3, 2),
            ("127.0.2.11:2379", 3, 1),
        ] {
            assert_eq!(shard_for(addr, n), want, "{addr} mod {n}");
        }
        assert_eq!(shard_for("10.0.0.1:2379", 1), 0);
        assert_eq!(shards_of(&json!({"spec": {"shards": 2}})), 2);
        assert_eq!(shards_of(&json!({"spec": {}})), 1);
    }

    #[test]
    fn pods_of_takes_both_label_styles_every_shard_and_no_other() {
        let prom = json!({"metadata": {"name": "k8s", "namespace": "monitoring"}, "spec": {"replicas": 2, "shards": 2}});
        let pods = vec![
            pod("prometheus-k8s-1", json!({"prometheus": "k8s"}), json!({})),
            pod(
                "prometheus-k8s-shard-1-0",
                json!({"operator.prometheus.io/name": "k8s", "operator.prometheus.io/shard": "1"}),
                json!({}),
            ),
            pod(
                "prometheus-k8s-0",
                json!({"prometheus": "k8s", "operator.prometheus.io/name": "k8s"}),
                json!({}),
            ),
            pod(
                "prometheus-other-0",
                json!({"prometheus": "other"}),
                json!({}),
            ),
        ];
        let names: Vec<&str> = pods_of(&prom, &pods).into_iter().map(name).collect();
        assert_eq!(
            names,
            [
                "prometheus-k8s-0",
                "prometheus-k8s-1",
                "prometheus-k8s-shard-1-0"
            ]
        );
        assert_eq!(expected_pods(&prom), 4);
        assert_eq!(shard_of(&pods[1]), "1");
        assert_eq!(shard_of(&pods[0]), "0");
    }

    #[test]
    fn a_pod_without_the_volume_or_from_an_old_revision_is_stale() {
        let old = pod(
            "p-0",
            json!({"controller-revision-hash": "a"}),
            json!({"containers": [{"name": "prometheus"}]}),
        );
        assert!(
            stale_reason(&old, None, "etcd-client-cert")
                .unwrap()
                .contains("no volume")
        );
        let new = pod(
            "p-0",
            json!({"controller-revision-hash": "b"}),
            mounted_spec("etcd-client-cert"),
        );
        let sts = json!({"status": {"updateRevision": "b"}});
        assert_eq!(stale_reason(&new, Some(&sts), "etcd-client-cert"), None);
        let sts2 = json!({"status": {"updateRevision": "c"}});
        assert!(
            stale_reason(&new, Some(&sts2), "etcd-client-cert")
                .unwrap()
                .contains("older")
        );
        // Mounted elsewhere, or in another container: not the operator's mount.
        let mut odd = mounted_spec("etcd-client-cert");
        odd["containers"][0]["volumeMounts"][0]["mountPath"] = json!("/certs");
        assert!(!mounts_secret(
            &pod("p", json!({}), odd),
            "etcd-client-cert"
        ));
    }

    #[test]
    fn digests_compare_without_showing_content() {
        let secret = json!({"data": {
            "etcd-ca": base64::engine::general_purpose::STANDARD.encode(b"ca"),
            "etcd-client": base64::engine::general_purpose::STANDARD.encode(b"cert"),
            "etcd-client-key": base64::engine::general_purpose::STANDARD.encode(b"key"),
        }});
        let want = secret_digests(&secret).unwrap();
        assert_eq!(want["etcd-ca"].len(), 64);
        assert!(!want.values().any(|d| d.contains("ca") && d == "ca"));
        let dir = "/etc/prometheus/secrets/etcd-client-cert";
        let out = format!(
            "{}  {dir}/etcd-ca\n{}  {dir}/etcd-client\n",
            want["etcd-ca"],
            "0".repeat(64)
        );
        let found = parse_sha256sum(&out);
        let checks = compare_files("etcd-client-cert", &want, &found);
        let st: Vec<(&str, FileStatus)> =
            checks.iter().map(|c| (c.key.as_str(), c.status)).collect();
        assert_eq!(
            st,
            [
                ("etcd-ca", FileStatus::Ok),
                ("etcd-client", FileStatus::Differs),
                ("etcd-client-key", FileStatus::Missing)
            ]
        );
        assert_eq!(
            sha256sum_command("s", &["a".into(), "b".into()]),
            [
                "sha256sum",
                "/etc/prometheus/secrets/s/a",
                "/etc/prometheus/secrets/s/b"
            ]
        );
        assert!(secret_digests(&json!({"data": {"k": "%%%"}})).is_err());
    }

    #[test]
    fn without_a_secret_the_service_monitor_names_the_files() {
        let sm = json!({"spec": {"endpoints": [{"tlsConfig": {
            "caFile": "/etc/prometheus/secrets/s/ca.crt", "certFile": "/etc/prometheus/secrets/s/tls.crt",
            "keyFile": "/elsewhere/tls.key"}}]}});
        assert_eq!(keys_without_secret(Some(&sm), "s"), ["ca.crt", "tls.crt"]);
        assert_eq!(
            keys_without_secret(None, "s"),
            ["etcd-ca", "etcd-client", "etcd-client-key"]
        );
        let want: BTreeMap<String, String> = [("ca.crt".to_string(), String::new())].into();
        let found = parse_sha256sum(&format!(
            "{}  /etc/prometheus/secrets/s/ca.crt\n",
            "a".repeat(64)
        ));
        assert_eq!(
            compare_files("s", &want, &found)[0].status,
            FileStatus::Present
        );
    }

    #[test]
    fn secret_references_map_to_tls_assets() {
        let ep = json!({"tlsConfig": {
            "ca": {"secret": {"name": "etcd-client-cert", "key": "etcd-ca"}},
            "cert": {"secret": {"name": "etcd-client-cert", "key": "etcd-client"}},
            "keySecret": {"name": "etcd-client-cert", "key": "etcd-client-key"}}});
        let refs = secret_refs(&ep);
        assert_eq!(refs.len(), 3);
        assert_eq!(
            refs[2],
            (
                "etcd-client-cert".to_string(),
                "etcd-client-key".to_string()
            )
        );
        // Prometheus Operator v0.93 (the real one's tls-assets Secret) and older operators.
        let path = tls_asset_path("monitoring", "etcd-client-cert", "etcd-ca");
        assert_eq!(
            path,
            "/etc/prometheus/certs/0_monitoring_etcd-client-cert_etcd-ca"
        );
        let old = "/etc/prometheus/certs/secret_monitoring_etcd-client-cert_etcd-ca";
        assert_eq!(legacy_tls_asset_path(&path).as_deref(), Some(old));
        assert_eq!(
            legacy_tls_asset_path("/etc/prometheus/secrets/etcd-client-cert/etcd-ca"),
            None
        );
        let want = vec![
            ("s/etcd-ca".to_string(), path.clone(), "a".repeat(64)),
            (
                "etcd-ca".to_string(),
                "/etc/prometheus/secrets/x/etcd-ca".to_string(),
                "b".repeat(64),
            ),
        ];
        assert_eq!(
            paths_to_look_for(&want),
            vec![
                path.clone(),
                old.to_string(),
                "/etc/prometheus/secrets/x/etcd-ca".to_string()
            ]
        );
        let digest = |p: &str| BTreeMap::from([(p.to_string(), "a".repeat(64))]);
        assert_eq!(as_found(&want, &digest(&path)), want);
        assert_eq!(as_found(&want, &digest(old))[0].1, old);
        assert_eq!(as_found(&want, &BTreeMap::new()), want);
        assert!(secret_refs(&json!({"tlsConfig": {"caFile": "/x"}})).is_empty());
        let exp = vec![("etcd-ca".to_string(), "/p".to_string(), "a".repeat(64))];
        let found = parse_sha256sum(&format!("{}  /p\n", "a".repeat(64)));
        assert_eq!(compare_paths(&exp, &found)[0].status, FileStatus::Ok);
        assert_eq!(sha256sum_paths(&["/p".into()]), ["sha256sum", "/p"]);
    }

    #[test]
    fn sha256_of_known_bytes() {
        let d = secret_digests(&json!({"stringData": {"k": "abc"}})).unwrap();
        assert_eq!(
            d["k"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn times_parse_as_prometheus_and_the_api_write_them() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_time("2020-07-20T08:00:00Z"), Some(1595232000.0));
        let p = parse_time("2020-07-20T08:00:00.25+02:00").unwrap();
        assert!((p - (1595232000.0 - 7200.0 + 0.25)).abs() < 1e-6);
        assert!(parse_time("0001-01-01T00:00:00Z").unwrap() < 0.0);
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(
            parse_time("2020-07-20T08:00:00.123456789Z").map(|x| x.floor()),
            Some(1595232000.0)
        );
    }

    #[test]
    fn last_change_is_the_newest_managed_fields_time() {
        let o = json!({"metadata": {"managedFields": [
            {"manager": "a", "time": "2024-01-01T00:00:00Z"},
            {"manager": "b", "time": "2024-06-01T00:00:00Z"},
            {"manager": "c", "time": "2024-03-01T00:00:00Z"}]}});
        assert_eq!(last_change(&o).as_deref(), Some("2024-06-01T00:00:00Z"));
        assert_eq!(last_change(&json!({})), None);
    }

    #[test]
    fn route_prefix_from_route_prefix_or_external_url() {
        let p = |spec: Value| route_prefix(&json!({"spec": spec}), None);
        assert_eq!(p(json!({})), "");
        assert_eq!(p(json!({"routePrefix": "/"})), "");
        assert_eq!(p(json!({"routePrefix": "/prom/"})), "/prom");
        assert_eq!(
            p(json!({"externalUrl": "http://x.example:9090/prometheus"})),
            "/prometheus"
        );
        assert_eq!(p(json!({"externalUrl": "http://prom.monitoring:9090"})), "");
        assert_eq!(
            p(json!({"externalUrl": "https://a/b", "routePrefix": "/c"})),
            "/c"
        );
        // The pod's arguments decide: the operator passes --web.route-prefix=/ even when
        // externalUrl has a path.
        let prom = json!({"spec": {"externalUrl": "http://x.example/prometheus"}});
        let pod =
            |args: Value| json!({"spec": {"containers": [{"name": "prometheus", "args": args}]}});
        assert_eq!(
            route_prefix(&prom, Some(&pod(json!(["--web.route-prefix=/"])))),
            ""
        );
        assert_eq!(
            route_prefix(&prom, Some(&pod(json!(["--web.route-prefix=/p/"])))),
            "/p"
        );
        // Without --web.route-prefix, Prometheus takes the external URL's path.
        assert_eq!(
            route_prefix(
                &json!({}),
                Some(&pod(json!(["--web.external-url=http://h/ext"])))
            ),
            "/ext"
        );
        assert_eq!(route_prefix(&prom, Some(&pod(json!([])))), "/prometheus");
        assert_eq!(
            targets_path(&json!({}), "monitoring", "p-0", "/prom"),
            "/api/v1/namespaces/monitoring/pods/p-0:9090/proxy/prom/api/v1/targets?state=active"
        );
        // A Prometheus that serves HTTPS is reached through the pod proxy's https scheme.
        let tls = json!({"spec": {"web": {"tlsConfig": {"keySecret": {"name": "web-tls", "key": "tls.key"}}}}});
        assert_eq!(
            targets_path(&tls, "monitoring", "p-0", ""),
            "/api/v1/namespaces/monitoring/pods/https:p-0:9090/proxy/api/v1/targets?state=active"
        );
        assert_eq!(
            runtimeinfo_path(&tls, "monitoring", "p-0", ""),
            "/api/v1/namespaces/monitoring/pods/https:p-0:9090/proxy/api/v1/status/runtimeinfo"
        );
    }

    #[test]
    fn exec_failures_are_explained() {
        let m = "Internal error occurred: error executing command in container: failed to exec in container: failed to start exec \"x\": OCI runtime exec failed: exec failed: unable to start container process: exec: \"sha256sum\": executable file not found in $PATH: unknown";
        let e = exec_failure(m, "sha256sum");
        assert!(e.contains("has no `sha256sum`"), "{e}");
        assert!(e.contains("distroless"));
        assert!(exec_failure("container not found", "sha256sum").starts_with("exec in"));
    }

    #[test]
    fn files_are_an_old_copy_while_one_differs_or_a_tls_asset_is_missing() {
        let f = |status| FileCheck {
            key: "k".into(),
            path: "/p".into(),
            status,
        };
        let ok = f(FileStatus::Ok);
        let missing = f(FileStatus::Missing);
        let differs = f(FileStatus::Differs);
        assert!(!not_synced_yet(std::slice::from_ref(&ok), false));
        assert!(!not_synced_yet(std::slice::from_ref(&ok), true));
        assert!(not_synced_yet(&[ok.clone(), differs.clone()], false));
        assert!(not_synced_yet(&[differs], true));
        // A mounted Secret's missing key stays missing (it is not in the Secret); a tls-assets
        // key appears once the kubelet syncs the operator's new copy.
        assert!(!not_synced_yet(&[ok.clone(), missing.clone()], false));
        assert!(not_synced_yet(&[ok, missing], true));
        assert!(!not_synced_yet(&[], true));
    }

    #[test]
    fn the_config_counts_from_its_load_time_once_loaded_after_the_change() {
        let info = r#"{"status":"success","data":{"startTime":"2026-12-04T02:00:00.5Z","reloadConfigSuccess":true,"lastConfigTime":"2026-12-04T03:10:07Z"}}"#;
        let loaded = parse_time("2026-12-04T03:10:07Z").unwrap();
        assert_eq!(config_loaded_at(info, loaded - 5.0), Some(loaded));
        assert_eq!(config_loaded_at(info, loaded), Some(loaded));
        // Loaded before the change (managedFields times are whole seconds too): not this
        // change's configuration yet.
        assert_eq!(config_loaded_at(info, loaded + 1.0), None);
        assert_eq!(config_loaded_at("not json", loaded - 5.0), None);
        assert_eq!(config_loaded_at(r#"{"data":{}}"#, loaded - 5.0), None);
    }
}
