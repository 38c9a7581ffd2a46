//! The kubelet's Events (client-go's `record` package, core/v1 Events): created in the pod's
//! namespace, named `<pod>.<nanoseconds in hex>`, from source `kubelet` on the node, about the pod
//! or one of its containers (`spec.containers{name}`). Sent in the background; a failure is lost,
//! as an event the broadcaster cannot write is.

use super::api::ApiClient;
use crate::store::now_rfc3339;
use serde_json::{Value, json};

/// Record an Event about `pod` (and its container at `field_path`, if any).
pub fn record(
    api: &ApiClient,
    node: &str,
    pod: &Value,
    field_path: Option<String>,
    warning: bool,
    reason: &str,
    message: String,
) {
    let meta = &pod["metadata"];
    let ns = meta["namespace"].as_str().unwrap_or("default").to_string();
    let name = meta["name"].as_str().unwrap_or("");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let now = now_rfc3339();
    let mut involved = json!({"kind": "Pod", "namespace": ns, "name": name,
        "uid": meta["uid"], "apiVersion": "v1", "resourceVersion": meta["resourceVersion"]});
    if let Some(f) = field_path {
        involved["fieldPath"] = json!(f);
    }
    let event = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{nanos:x}"), "namespace": ns},
        "involvedObject": involved,
        "reason": reason, "message": message,
        "source": {"component": "kubelet", "host": node},
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        "type": if warning { "Warning" } else { "Normal" },
        "eventTime": null, "reportingComponent": "kubelet", "reportingInstance": node,
    });
    let api = api.clone();
    tokio::spawn(async move {
        let _ = api
            .post(&format!("/api/v1/namespaces/{ns}/events"), &event)
            .await;
    });
}
