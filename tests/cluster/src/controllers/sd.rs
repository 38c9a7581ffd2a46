//! Prometheus' Kubernetes service discovery (prometheus/prometheus `discovery/kubernetes`:
//! `endpoints.go`, `endpointslice.go`, `pod.go`), computed from the store.
//!
//! Debian's `prometheus` package (2.42.0+ds) is built WITHOUT `kubernetes_sd_configs` ("field
//! kubernetes_sd_configs not found in type config.ScrapeConfig"), so the pod's Prometheus cannot
//! discover targets itself. [`runnable_config`] turns every `kubernetes_sd_configs` entry of the
//! operator's configuration into a `file_sd_configs` entry whose file holds exactly the targets
//! and `__meta_kubernetes_*` labels the real discovery would produce from the cluster's
//! Endpoints / EndpointSlices / Pods / Services. The relabelings the operator generated then run
//! unchanged in the real Prometheus: a stale Endpoints object, a missing port name or a selector
//! that matches nothing behave as they would in a real cluster. The kubelet calls it again
//! whenever those objects change (file SD rereads the files).

use super::{name_of, ns_of, pod_ready};
use crate::store::Store;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// The types discovery reads (plurals): the files change only when one of them does.
pub const INPUTS: &[&str] = &["endpoints", "endpointslices", "pods", "services"];

/// `strutil.SanitizeLabelName`.
pub fn sanitize(n: &str) -> String {
    n.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn b(v: bool) -> Value {
    json!(if v { "true" } else { "false" })
}

/// `<prefix>_label_*`, `_labelpresent_*`, `_annotation_*`, `_annotationpresent_*`.
fn meta_labels(l: &mut Map<String, Value>, prefix: &str, obj: &Value) {
    for (field, name) in [("labels", "label"), ("annotations", "annotation")] {
        if let Some(m) = obj["metadata"][field].as_object() {
            for (k, v) in m {
                let k = sanitize(k);
                l.insert(
                    format!("{prefix}_{name}_{k}"),
                    json!(v.as_str().unwrap_or("")),
                );
                l.insert(format!("{prefix}_{name}present_{k}"), json!("true"));
            }
        }
    }
}

/// `addServiceLabels`.
fn service_labels(l: &mut Map<String, Value>, svc: &Value) {
    l.insert("__meta_kubernetes_service_name".into(), json!(name_of(svc)));
    meta_labels(l, "__meta_kubernetes_service", svc);
}

/// `podLabels`.
fn pod_labels(l: &mut Map<String, Value>, pod: &Value) {
    let p = "__meta_kubernetes_pod";
    l.insert(format!("{p}_name"), json!(name_of(pod)));
    l.insert(
        format!("{p}_ip"),
        json!(pod["status"]["podIP"].as_str().unwrap_or("")),
    );
    l.insert(format!("{p}_ready"), b(pod_ready(pod)));
    l.insert(
        format!("{p}_phase"),
        json!(pod["status"]["phase"].as_str().unwrap_or("")),
    );
    l.insert(
        format!("{p}_node_name"),
        json!(pod["spec"]["nodeName"].as_str().unwrap_or("")),
    );
    l.insert(
        format!("{p}_host_ip"),
        json!(pod["status"]["hostIP"].as_str().unwrap_or("")),
    );
    l.insert(
        format!("{p}_uid"),
        json!(pod["metadata"]["uid"].as_str().unwrap_or("")),
    );
    if let Some(c) = pod["metadata"]["ownerReferences"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["controller"] == true))
    {
        l.insert(format!("{p}_controller_kind"), c["kind"].clone());
        l.insert(format!("{p}_controller_name"), c["name"].clone());
    }
    meta_labels(l, p, pod);
}

fn container_labels(l: &mut Map<String, Value>, c: &Value, port: Option<&Value>) {
    let p = "__meta_kubernetes_pod_container";
    l.insert(format!("{p}_name"), c["name"].clone());
    l.insert(
        format!("{p}_image"),
        json!(c["image"].as_str().unwrap_or("")),
    );
    l.insert(format!("{p}_init"), json!("false"));
    if let Some(port) = port {
        l.insert(
            format!("{p}_port_name"),
            json!(port["name"].as_str().unwrap_or("")),
        );
        l.insert(
            format!("{p}_port_number"),
            json!(port["containerPort"].as_i64().unwrap_or(0).to_string()),
        );
        l.insert(
            format!("{p}_port_protocol"),
            json!(port["protocol"].as_str().unwrap_or("TCP")),
        );
    }
}

/// Pod and container labels for an address whose targetRef names a pod, the container being the
/// one exposing `port` (by number).
fn target_pod_labels(store: &Store, l: &mut Map<String, Value>, target_ref: &Value, port: i64) {
    if target_ref["kind"] != "Pod" {
        return;
    }
    let prt = store.rt("pods");
    let Ok(pod) = store.get_shared(
        &prt,
        target_ref["namespace"].as_str(),
        target_ref["name"].as_str().unwrap_or(""),
    ) else {
        return;
    };
    pod_labels(l, &pod);
    for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
        for cp in c["ports"].as_array().into_iter().flatten() {
            if cp["containerPort"].as_i64() == Some(port) {
                container_labels(l, c, Some(cp));
                return;
            }
        }
    }
}

fn in_namespaces(o: &Value, namespaces: &[String]) -> bool {
    namespaces.is_empty() || namespaces.iter().any(|n| n == ns_of(o))
}

/// One file_sd target group (a single target).
fn group(addr: String, labels: Map<String, Value>) -> Value {
    json!({"targets": [addr], "labels": labels})
}

/// The targets of role `endpoints`, `endpointslice` or `pod` in `namespaces` (empty: all).
pub fn targets(store: &Store, role: &str, namespaces: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    let svc_rt = store.rt("services");
    match role {
        "endpoints" => {
            let rt = store.rt("endpoints");
            for ep in store.list(&rt, None).0 {
                if !in_namespaces(&ep, namespaces) {
                    continue;
                }
                let mut base = Map::new();
                base.insert("__meta_kubernetes_namespace".into(), json!(ns_of(&ep)));
                base.insert(
                    "__meta_kubernetes_endpoints_name".into(),
                    json!(name_of(&ep)),
                );
                meta_labels(&mut base, "__meta_kubernetes_endpoints", &ep);
                if let Ok(svc) = store.get_shared(&svc_rt, Some(ns_of(&ep)), name_of(&ep)) {
                    service_labels(&mut base, &svc);
                }
                for ss in ep["subsets"].as_array().into_iter().flatten() {
                    for port in ss["ports"].as_array().into_iter().flatten() {
                        for (field, ready) in [("addresses", true), ("notReadyAddresses", false)] {
                            for a in ss[field].as_array().into_iter().flatten() {
                                let pn = port["port"].as_i64().unwrap_or(0);
                                let mut l = base.clone();
                                let e = "__meta_kubernetes_endpoint";
                                l.insert(
                                    format!("{e}_port_name"),
                                    json!(port["name"].as_str().unwrap_or("")),
                                );
                                l.insert(
                                    format!("{e}_port_protocol"),
                                    json!(port["protocol"].as_str().unwrap_or("TCP")),
                                );
                                if let Some(ap) = port["appProtocol"].as_str() {
                                    l.insert(format!("{e}_port_app_protocol"), json!(ap));
                                }
                                l.insert(format!("{e}_ready"), b(ready));
                                if let Some(h) = a["hostname"].as_str() {
                                    l.insert(format!("{e}_hostname"), json!(h));
                                }
                                if let Some(n) = a["nodeName"].as_str() {
                                    l.insert(format!("{e}_node_name"), json!(n));
                                }
                                if a["targetRef"].is_object() {
                                    l.insert(
                                        format!("{e}_address_target_kind"),
                                        a["targetRef"]["kind"].clone(),
                                    );
                                    l.insert(
                                        format!("{e}_address_target_name"),
                                        a["targetRef"]["name"].clone(),
                                    );
                                    target_pod_labels(store, &mut l, &a["targetRef"], pn);
                                }
                                let ip = a["ip"].as_str().unwrap_or("");
                                out.push(group(format!("{ip}:{pn}"), l));
                            }
                        }
                    }
                }
            }
        }
        "endpointslice" => {
            let rt = store.rt("endpointslices");
            for sl in store.list(&rt, None).0 {
                if !in_namespaces(&sl, namespaces) {
                    continue;
                }
                let s = "__meta_kubernetes_endpointslice";
                let mut base = Map::new();
                base.insert("__meta_kubernetes_namespace".into(), json!(ns_of(&sl)));
                base.insert(format!("{s}_name"), json!(name_of(&sl)));
                base.insert(
                    format!("{s}_address_type"),
                    json!(sl["addressType"].as_str().unwrap_or("")),
                );
                meta_labels(&mut base, s, &sl);
                if let Some(svc_name) =
                    sl["metadata"]["labels"]["kubernetes.io/service-name"].as_str()
                    && let Ok(svc) = store.get_shared(&svc_rt, Some(ns_of(&sl)), svc_name)
                {
                    service_labels(&mut base, &svc);
                }
                for port in sl["ports"].as_array().into_iter().flatten() {
                    for ep in sl["endpoints"].as_array().into_iter().flatten() {
                        for addr in ep["addresses"].as_array().into_iter().flatten() {
                            let pn = port["port"].as_i64().unwrap_or(0);
                            let mut l = base.clone();
                            l.insert(format!("{s}_port"), json!(pn.to_string()));
                            l.insert(
                                format!("{s}_port_name"),
                                json!(port["name"].as_str().unwrap_or("")),
                            );
                            l.insert(
                                format!("{s}_port_protocol"),
                                json!(port["protocol"].as_str().unwrap_or("TCP")),
                            );
                            if let Some(ap) = port["appProtocol"].as_str() {
                                l.insert(format!("{s}_port_app_protocol"), json!(ap));
                            }
                            for c in ["ready", "serving", "terminating"] {
                                if let Some(v) = ep["conditions"][c].as_bool() {
                                    l.insert(format!("{s}_endpoint_conditions_{c}"), b(v));
                                }
                            }
                            if let Some(h) = ep["hostname"].as_str() {
                                l.insert(format!("{s}_endpoint_hostname"), json!(h));
                            }
                            if let Some(n) = ep["nodeName"].as_str() {
                                l.insert(format!("{s}_endpoint_node_name"), json!(n));
                            }
                            if ep["targetRef"].is_object() {
                                l.insert(
                                    format!("{s}_address_target_kind"),
                                    ep["targetRef"]["kind"].clone(),
                                );
                                l.insert(
                                    format!("{s}_address_target_name"),
                                    ep["targetRef"]["name"].clone(),
                                );
                                target_pod_labels(store, &mut l, &ep["targetRef"], pn);
                            }
                            out.push(group(format!("{}:{pn}", addr.as_str().unwrap_or("")), l));
                        }
                    }
                }
            }
        }
        "pod" => {
            let rt = store.rt("pods");
            for pod in store.list(&rt, None).0 {
                if !in_namespaces(&pod, namespaces) {
                    continue;
                }
                let Some(ip) = pod["status"]["podIP"].as_str().filter(|s| !s.is_empty()) else {
                    continue;
                };
                let mut base = Map::new();
                base.insert("__meta_kubernetes_namespace".into(), json!(ns_of(&pod)));
                pod_labels(&mut base, &pod);
                for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
                    let ports: Vec<&Value> = c["ports"].as_array().into_iter().flatten().collect();
                    if ports.is_empty() {
                        let mut l = base.clone();
                        container_labels(&mut l, c, None);
                        out.push(group(ip.to_string(), l));
                    }
                    for cp in ports {
                        let mut l = base.clone();
                        container_labels(&mut l, c, Some(cp));
                        out.push(group(
                            format!("{ip}:{}", cp["containerPort"].as_i64().unwrap_or(0)),
                            l,
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    out
}

/// The operator's configuration made runnable by Debian's Prometheus: every
/// `kubernetes_sd_configs` entry replaced by `file_sd_configs` reading a file under `sd_dir`.
/// Returns the configuration and the files (path, JSON content) to write.
pub fn runnable_config(
    store: &Store,
    config: &str,
    sd_dir: &Path,
) -> Result<(String, Vec<(PathBuf, String)>), String> {
    let mut cfg: Value = serde_yaml_ng::from_str(config).map_err(|e| e.to_string())?;
    let mut files = Vec::new();
    if let Some(jobs) = cfg["scrape_configs"].as_array_mut() {
        for job in jobs {
            let Some(sds) = job
                .as_object_mut()
                .and_then(|o| o.remove("kubernetes_sd_configs"))
            else {
                continue;
            };
            let jn = sanitize(job["job_name"].as_str().unwrap_or("job"));
            let mut paths = Vec::new();
            for (i, sd) in sds.as_array().into_iter().flatten().enumerate() {
                let role = sd["role"].as_str().unwrap_or("");
                let nss: Vec<String> = sd["namespaces"]["names"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                let groups = targets(store, role, &nss);
                let path = sd_dir.join(format!("{jn}-{i}.json"));
                files.push((
                    path.clone(),
                    serde_json::to_string_pretty(&groups).unwrap_or_else(|_| "[]".into()),
                ));
                paths.push(json!(path.to_string_lossy()));
            }
            job["file_sd_configs"] = json!([{"files": paths, "refresh_interval": "5s"}]);
        }
    }
    let out = serde_yaml_ng::to_string(&cfg).map_err(|e| e.to_string())?;
    Ok((out, files))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;
    use crate::store::WriteCtx;

    #[test]
    fn endpoints_targets_carry_service_and_pod_meta_labels() {
        let s = Store::new(Registry::new(true));
        let w = WriteCtx::update("t");
        s.create(
            &s.rt("namespaces"),
            None,
            json!({"metadata": {"name": "kube-system"}}),
            &w,
        )
        .unwrap();
        s.create(
            &s.rt("services"),
            Some("kube-system"),
            json!({"metadata": {"name": "kube-etcd", "labels": {"app": "kube-etcd", "release": "prom"}}}),
            &w,
        )
        .unwrap();
        let pod = s
            .create(
                &s.rt("pods"),
                Some("kube-system"),
                json!({"metadata": {"name": "etcd-n1", "labels": {"component": "etcd"}},
                       "spec": {"nodeName": "n1", "containers": [{"name": "etcd", "ports": [{"name": "metrics", "containerPort": 2381}]}]},
                       "status": {"phase": "Running", "podIP": "127.0.1.5"}}),
                &w,
            )
            .unwrap();
        s.create(
            &s.rt("endpoints"),
            Some("kube-system"),
            json!({"metadata": {"name": "kube-etcd"},
                   "subsets": [{"addresses": [{"ip": "127.0.1.5", "nodeName": "n1",
                                 "targetRef": {"kind": "Pod", "name": "etcd-n1", "namespace": "kube-system", "uid": pod["metadata"]["uid"]}},
                                {"ip": "127.0.2.1"}],
                                "ports": [{"name": "http-metrics", "port": 2381, "protocol": "TCP"}]}]}),
            &w,
        )
        .unwrap();
        let t = targets(&s, "endpoints", &["kube-system".to_string()]);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0]["targets"], json!(["127.0.1.5:2381"]));
        let l = &t[0]["labels"];
        assert_eq!(l["__meta_kubernetes_service_label_app"], "kube-etcd");
        assert_eq!(l["__meta_kubernetes_service_labelpresent_release"], "true");
        assert_eq!(l["__meta_kubernetes_endpoint_port_name"], "http-metrics");
        assert_eq!(l["__meta_kubernetes_endpoint_address_target_kind"], "Pod");
        assert_eq!(l["__meta_kubernetes_pod_container_name"], "etcd");
        assert_eq!(l["__meta_kubernetes_pod_container_port_name"], "metrics");
        assert_eq!(l["__meta_kubernetes_endpoint_ready"], "true");
        assert!(t[1]["labels"].get("__meta_kubernetes_pod_name").is_none());
        assert!(targets(&s, "endpoints", &["default".to_string()]).is_empty());
    }

    #[test]
    fn runnable_config_is_accepted_by_debian_promtool() {
        let s = Store::new(Registry::new(true));
        let dir = tempfile::tempdir().unwrap();
        let cfg = "global:\n  scrape_interval: 30s\nscrape_configs:\n- job_name: serviceMonitor/monitoring/x/0\n  kubernetes_sd_configs:\n  - role: endpoints\n    namespaces:\n      names:\n      - kube-system\n    api_server: https://127.0.0.1:1\n  relabel_configs:\n  - source_labels:\n    - job\n    target_label: __tmp_prometheus_job_name\n";
        let (out, files) = runnable_config(&s, cfg, dir.path()).unwrap();
        assert_eq!(files.len(), 1);
        for (p, c) in &files {
            std::fs::write(p, c).unwrap();
        }
        let f = dir.path().join("p.yaml");
        std::fs::write(&f, &out).unwrap();
        let o = std::process::Command::new("promtool")
            .args(["check", "config"])
            .arg(&f)
            .output()
            .expect("promtool not found: install the Debian package `prometheus`");
        assert!(
            o.status.success(),
            "{out}\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }

    async fn http_get(addr: &str, path: &str) -> Option<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut c = tokio::net::TcpStream::connect(addr).await.ok()?;
        c.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut buf = String::new();
        c.read_to_string(&mut buf).await.ok()?;
        let (head, body) = buf.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.0 200").then(|| body.to_string())
    }

    /// End to end with the real Prometheus: the operator's relabelings applied to our
    /// discovered targets keep the etcd Endpoints' address and label it as a real cluster would.
    #[tokio::test]
    async fn real_prometheus_applies_operator_relabelings_to_discovered_targets() {
        let s = Store::new(Registry::new(true));
        let w = WriteCtx::update("t");
        for n in ["kube-system", "monitoring"] {
            s.create(
                &s.rt("namespaces"),
                None,
                json!({"metadata": {"name": n}}),
                &w,
            )
            .unwrap();
        }
        s.create(
            &s.rt("services"),
            Some("kube-system"),
            json!({"metadata": {"name": "kube-etcd", "labels": {"app": "kube-etcd", "release": "prom"}}}),
            &w,
        )
        .unwrap();
        s.create(
            &s.rt("endpoints"),
            Some("kube-system"),
            json!({"metadata": {"name": "kube-etcd"},
                   "subsets": [{"addresses": [{"ip": "127.226.2.1"}],
                                "ports": [{"name": "http-metrics", "port": 2381, "protocol": "TCP"}]}]}),
            &w,
        )
        .unwrap();
        // an Endpoints of another Service (wrong labels) and a wrong port name: dropped
        s.create(
            &s.rt("services"),
            Some("kube-system"),
            json!({"metadata": {"name": "other", "labels": {"app": "other"}}}),
            &w,
        )
        .unwrap();
        s.create(
            &s.rt("endpoints"),
            Some("kube-system"),
            json!({"metadata": {"name": "other"},
                   "subsets": [{"addresses": [{"ip": "127.226.2.2"}], "ports": [{"name": "metrics", "port": 1}]}]}),
            &w,
        )
        .unwrap();
        let p = s
            .create(
                &s.rt("prometheuses"),
                Some("monitoring"),
                json!({"metadata": {"name": "k8s"}, "spec": {"serviceMonitorSelector": {}, "serviceMonitorNamespaceSelector": {}}}),
                &w,
            )
            .unwrap();
        s.create(
            &s.rt("servicemonitors"),
            Some("monitoring"),
            json!({"metadata": {"name": "etcd"}, "spec": {"namespaceSelector": {"matchNames": ["kube-system"]},
                   "selector": {"matchLabels": {"app": "kube-etcd"}}, "endpoints": [{"port": "http-metrics", "interval": "1s"}]}}),
            &w,
        )
        .unwrap();
        let g = super::super::operator::generate(&s, &p, None);
        let cfg = super::super::operator::envsubst(&g.yaml, "prometheus-k8s-0", "0");
        let dir = tempfile::tempdir().unwrap();
        let (cfg, files) = runnable_config(&s, &cfg, dir.path()).unwrap();
        for (p, c) in files {
            std::fs::write(p, c).unwrap();
        }
        let f = dir.path().join("prometheus.yaml");
        std::fs::write(&f, &cfg).unwrap();
        let addr = "127.226.0.9:19090";
        let _child = tokio::process::Command::new("prometheus")
            .arg(format!("--config.file={}", f.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("prometheus not found: install the Debian package `prometheus`");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        let targets = loop {
            if let Some(b) = http_get(addr, "/api/v1/targets").await {
                let v: Value = serde_json::from_str(&b).unwrap();
                if v["data"]["activeTargets"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
                {
                    break v;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "prometheus found no targets"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        let active = targets["data"]["activeTargets"].as_array().unwrap();
        assert_eq!(active.len(), 1, "{targets}");
        let l = &active[0]["labels"];
        assert_eq!(l["instance"], "127.226.2.1:2381");
        assert_eq!(l["job"], "kube-etcd");
        assert_eq!(l["service"], "kube-etcd");
        assert_eq!(l["namespace"], "kube-system");
        assert_eq!(l["endpoint"], "http-metrics");
        assert_eq!(active[0]["scrapePool"], "serviceMonitor/monitoring/etcd/0");
    }
}
