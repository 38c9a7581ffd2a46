//! Table output (`application/json;as=Table;v=v1;g=meta.k8s.io`) as kubectl get asks for it.
//!
//! Columns and cells follow kube-apiserver's printers (pkg/printers/internalversion/printers.go,
//! 1.27–1.33). The server always generates the wide columns (priority 1) — the registry's
//! TableConvertor passes `Wide: true` — and kubectl hides them unless `-o wide`.
//! Custom resources follow apiextensions-apiserver's tableconvertor: a Name column, then the
//! CRD's additionalPrinterColumns (or a single Age column when the CRD lists none).
//! Ages are k8s.io/apimachinery/pkg/util/duration.HumanDuration of now − creationTimestamp.
//! Column descriptions are the SwaggerDoc texts printers.go references, as k8s.io/api 1.33 has
//! them (EndpointSlice columns from discovery/v1beta1 and DaemonSet ones from extensions/v1beta1,
//! the types printers.go names).

use crate::resources::ResourceType;
use serde_json::{Map, Value, json};

/// `metav1.ObjectMeta{}.SwaggerDoc()["name"]`.
const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
/// `metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]`.
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const CONTAINERS_DESC: &str = "Names of each container in the template.";
const IMAGES_DESC: &str = "Images referenced by each container in the template.";

fn col(name: &str, ty: &str, desc: &str, priority: i64) -> Value {
    let mut c =
        json!({"name": name, "type": ty, "format": "", "description": desc, "priority": priority});
    if name == "Name" {
        c["format"] = json!("name");
    }
    c
}

fn name_col() -> Value {
    col("Name", "string", NAME_DESC, 0)
}

fn age_col() -> Value {
    col("Age", "string", AGE_DESC, 0)
}

/// apimachinery `duration.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    } else if secs < 0 {
        return "0s".into();
    } else if secs < 60 * 2 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

fn parse_time(v: &Value) -> Option<time::OffsetDateTime> {
    let s = v.as_str()?;
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// printers.go `translateTimestampSince`: "<unknown>" for a missing timestamp.
fn since(v: &Value) -> String {
    match parse_time(v) {
        Some(t) => {
            let d = time::OffsetDateTime::now_utc() - t;
            human_duration(d.whole_seconds())
        }
        None => "<unknown>".into(),
    }
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn len_of(v: &Value, ptr: &str) -> i64 {
    match v.pointer(ptr) {
        Some(Value::Object(m)) => m.len() as i64,
        Some(Value::Array(a)) => a.len() as i64,
        _ => 0,
    }
}

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

/// `labels.FormatLabels`: sorted `k=v` joined by commas, "<none>" when empty.
fn format_labels(v: Option<&Value>) -> String {
    let Some(Value::Object(m)) = v else {
        return "<none>".into();
    };
    if m.is_empty() {
        return "<none>".into();
    }
    let mut pairs: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// `metav1.FormatLabelSelector`: the selector's string form, "<none>" when empty.
fn format_label_selector(v: Option<&Value>) -> String {
    let Some(sel) = v else {
        return "<none>".into();
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(Value::Object(m)) = sel.get("matchLabels") {
        for (k, v) in m {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let key = e["key"].as_str().unwrap_or("").to_string();
        let mut vals: Vec<&str> = e["values"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        vals.sort();
        let text = match e["operator"].as_str().unwrap_or("") {
            "In" => format!("{key} in ({})", vals.join(",")),
            "NotIn" => format!("{key} notin ({})", vals.join(",")),
            "Exists" => key.clone(),
            "DoesNotExist" => format!("!{key}"),
            _ => return "<error>".into(),
        };
        reqs.push((key, text));
    }
    if reqs.is_empty() {
        return "<none>".into();
    }
    // labels.Selector sorts its requirements by key.
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    reqs.into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// `layoutContainerCells`: container names and images joined by commas.
fn containers(obj: &Value, ptr: &str) -> (String, String) {
    let cs = arr(obj, ptr);
    let names: Vec<&str> = cs.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = cs.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

fn columns(rt: &ResourceType) -> Vec<Value> {
    let n = name_col();
    let a = age_col();
    match (rt.group, rt.plural) {
        ("", "namespaces") => vec![
            n,
            col("Status", "string", "The status of the namespace", 0),
            a,
        ],
        ("", "secrets") => vec![
            n,
            col(
                "Type",
                "string",
                "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
                0,
            ),
            col(
                "Data",
                "string",
                "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4",
                0,
            ),
            a,
        ],
        ("", "services") => vec![
            n,
            col(
                "Type",
                "string",
                "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types",
                0,
            ),
            col(
                "Cluster-IP",
                "string",
                "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
                0,
            ),
            col(
                "External-IP",
                "string",
                "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.",
                0,
            ),
            col(
                "Port(s)",
                "string",
                "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
                0,
            ),
            a,
            col(
                "Selector",
                "string",
                "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/",
                1,
            ),
        ],
        ("", "endpoints") => vec![
            n,
            col(
                "Endpoints",
                "string",
                "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.",
                0,
            ),
            a,
        ],
        ("", "pods") => vec![
            n,
            col(
                "Ready",
                "string",
                "The aggregate readiness state of this pod for accepting traffic.",
                0,
            ),
            col(
                "Status",
                "string",
                "The aggregate status of the containers in this pod.",
                0,
            ),
            col(
                "Restarts",
                "string",
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                0,
            ),
            a,
            col(
                "IP",
                "string",
                "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
                1,
            ),
            col(
                "Node",
                "string",
                "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
                1,
            ),
            col(
                "Nominated Node",
                "string",
                "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.",
                1,
            ),
            col(
                "Readiness Gates",
                "string",
                "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
                1,
            ),
        ],
        ("", "configmaps") => vec![
            n,
            col(
                "Data",
                "string",
                "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
                0,
            ),
            a,
        ],
        ("", "nodes") => vec![
            n,
            col("Status", "string", "The status of the node", 0),
            col("Roles", "string", "The roles of the node", 0),
            a,
            col(
                "Version",
                "string",
                "Kubelet Version reported by the node.",
                0,
            ),
            col(
                "Internal-IP",
                "string",
                "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).",
                1,
            ),
            col(
                "External-IP",
                "string",
                "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).",
                1,
            ),
            col(
                "OS-Image",
                "string",
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
                1,
            ),
            col(
                "Kernel-Version",
                "string",
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
                1,
            ),
            col(
                "Container-Runtime",
                "string",
                "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
                1,
            ),
        ],
        ("", "serviceaccounts") => vec![
            n,
            col(
                "Secrets",
                "string",
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret",
                0,
            ),
            a,
        ],
        ("discovery.k8s.io", "endpointslices") => vec![
            n,
            col(
                "AddressType",
                "string",
                "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.",
                0,
            ),
            col(
                "Ports",
                "string",
                "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil port value, it indicates \"all ports\". Each slice may include a maximum of 100 ports.",
                0,
            ),
            col(
                "Endpoints",
                "string",
                "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.",
                0,
            ),
            a,
        ],
        ("apps", "statefulsets") => vec![
            n,
            col("Ready", "string", "Number of the pod with ready state", 0),
            a,
            col("Containers", "string", CONTAINERS_DESC, 1),
            col("Images", "string", IMAGES_DESC, 1),
        ],
        ("apps", "daemonsets") => vec![
            n,
            col(
                "Desired",
                "integer",
                "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
                0,
            ),
            col(
                "Current",
                "integer",
                "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
                0,
            ),
            col(
                "Ready",
                "integer",
                "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
                0,
            ),
            col(
                "Up-to-date",
                "integer",
                "The total number of nodes that are running updated daemon pod",
                0,
            ),
            col(
                "Available",
                "integer",
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
                0,
            ),
            col(
                "Node Selector",
                "string",
                "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
                0,
            ),
            a,
            col("Containers", "string", CONTAINERS_DESC, 1),
            col("Images", "string", IMAGES_DESC, 1),
            col(
                "Selector",
                "string",
                "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
                1,
            ),
        ],
        _ if rt.custom => crd_columns(rt)
            .into_iter()
            .map(|c| {
                let desc = if c.description.is_empty() {
                    format!(
                        "Custom resource definition column (in JSONPath format): {}",
                        c.json_path
                    )
                } else {
                    c.description.to_string()
                };
                let mut v = col(c.name, c.ty, &desc, c.priority);
                if c.name == "Name" {
                    v["format"] = json!("name");
                }
                v
            })
            .fold(vec![n], |mut acc, c| {
                acc.push(c);
                acc
            }),
        // The default table (rest.defaultTableConvertor): Name and Created At.
        _ => vec![n, col("Created At", "date", AGE_DESC, 0)],
    }
}

/// One CRD additionalPrinterColumn.
struct CrdColumn {
    name: &'static str,
    ty: &'static str,
    json_path: &'static str,
    description: &'static str,
    priority: i64,
}

/// The prometheus-operator CRDs' additionalPrinterColumns (kubebuilder printcolumn markers in
/// pkg/apis/monitoring/v1/prometheus_types.go); ServiceMonitor and PodMonitor have none, so the
/// apiextensions server serves its default Age column (serveDefaultColumnsIfEmpty).
fn crd_columns(rt: &ResourceType) -> Vec<CrdColumn> {
    let age_default = CrdColumn {
        name: "Age",
        ty: "date",
        json_path: ".metadata.creationTimestamp",
        description: AGE_DESC,
        priority: 0,
    };
    match rt.plural {
        "prometheuses" => vec![
            CrdColumn {
                name: "Version",
                ty: "string",
                json_path: ".spec.version",
                description: "The version of Prometheus",
                priority: 0,
            },
            CrdColumn {
                name: "Desired",
                ty: "integer",
                json_path: ".spec.replicas",
                description: "The number of desired replicas",
                priority: 0,
            },
            CrdColumn {
                name: "Ready",
                ty: "integer",
                json_path: ".status.availableReplicas",
                description: "The number of ready replicas",
                priority: 0,
            },
            CrdColumn {
                name: "Reconciled",
                ty: "string",
                json_path: ".status.conditions[?(@.type == 'Reconciled')].status",
                description: "",
                priority: 0,
            },
            CrdColumn {
                name: "Available",
                ty: "string",
                json_path: ".status.conditions[?(@.type == 'Available')].status",
                description: "",
                priority: 0,
            },
            CrdColumn {
                name: "Age",
                ty: "date",
                json_path: ".metadata.creationTimestamp",
                description: "",
                priority: 0,
            },
            CrdColumn {
                name: "Paused",
                ty: "boolean",
                json_path: ".status.paused",
                description: "Whether the resource reconciliation is paused or not",
                priority: 1,
            },
        ],
        _ => vec![age_default],
    }
}

/// Evaluates the simple JSONPaths the CRD columns use: `.a.b` and `.a[?(@.k == 'v')].f`.
fn eval_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    let mut rest = path.strip_prefix('.')?;
    while !rest.is_empty() {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let (field, after) = rest.split_at(end);
        if !field.is_empty() {
            cur = cur.get(field)?;
        }
        rest = after;
        if let Some(r) = rest.strip_prefix("[?(@.") {
            let close = r.find(")]")?;
            let cond = &r[..close];
            let (k, v) = cond.split_once("==")?;
            let (k, v) = (k.trim(), v.trim().trim_matches('\'').trim_matches('"'));
            cur = cur
                .as_array()?
                .iter()
                .find(|e| e.get(k).and_then(Value::as_str) == Some(v))?;
            rest = &r[close + 2..];
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    Some(cur)
}

/// apiextensions tableconvertor `cellForJSONValue` (strings via the JSONPath printer).
fn crd_cell(ty: &str, v: Option<&Value>) -> Value {
    let Some(v) = v else {
        return Value::Null;
    };
    match ty {
        "string" => match v {
            Value::String(s) => json!(s),
            Value::Null => Value::Null,
            other => json!(other.to_string()),
        },
        "integer" => match v {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .map(|i| json!(i))
                .unwrap_or(Value::Null),
            _ => Value::Null,
        },
        "number" => match v {
            Value::Number(_) => v.clone(),
            _ => Value::Null,
        },
        "boolean" => match v {
            Value::Bool(b) => json!(b),
            _ => Value::Null,
        },
        "date" => match v {
            Value::String(_) => match parse_time(v) {
                Some(_) => json!(since(v)),
                None => json!("<invalid>"),
            },
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

fn pod_cells(pod: &Value) -> (Vec<Value>, Option<Value>) {
    let phase = s(pod, "/status/phase");
    let mut reason = phase.to_string();
    if !s(pod, "/status/reason").is_empty() {
        reason = s(pod, "/status/reason").to_string();
    }
    for c in arr(pod, "/status/conditions") {
        if s(c, "/type") == "PodScheduled" && s(c, "/reason") == "SchedulingGated" {
            reason = "SchedulingGated".into();
        }
    }
    let conditions = match phase {
        "Succeeded" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]),
        ),
        "Failed" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]),
        ),
        _ => None,
    };
    let init_specs = arr(pod, "/spec/initContainers");
    let restartable = |name: &str| {
        init_specs
            .iter()
            .any(|c| s(c, "/name") == name && s(c, "/restartPolicy") == "Always")
    };
    let mut total = arr(pod, "/spec/containers").len() as i64;
    total += init_specs
        .iter()
        .filter(|c| s(c, "/restartPolicy") == "Always")
        .count() as i64;
    let mut ready = 0i64;
    let mut restarts = 0i64;
    let mut restartable_restarts = 0i64;
    let mut last_restart: Option<time::OffsetDateTime> = None;
    let mut last_restartable_restart: Option<time::OffsetDateTime> = None;
    let later = |a: Option<time::OffsetDateTime>, b: Option<time::OffsetDateTime>| match (a, b) {
        (Some(x), Some(y)) => Some(if y > x { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    };
    let n_init = init_specs.len();
    let mut initializing = false;
    for (i, c) in arr(pod, "/status/initContainerStatuses").iter().enumerate() {
        restarts += int(c, "/restartCount");
        let finished = c
            .pointer("/lastState/terminated/finishedAt")
            .and_then(parse_time);
        last_restart = later(last_restart, finished);
        let name = s(c, "/name");
        if restartable(name) {
            restartable_restarts += int(c, "/restartCount");
            last_restartable_restart = later(last_restartable_restart, finished);
        }
        let term = c.pointer("/state/terminated");
        let waiting_reason = s(c, "/state/waiting/reason");
        if term.is_some() && int(c, "/state/terminated/exitCode") == 0 {
            continue;
        }
        if restartable(name) && c.get("started").and_then(Value::as_bool) == Some(true) {
            if c.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = term {
            let r = s(t, "/reason");
            if r.is_empty() {
                let sig = int(t, "/signal");
                reason = if sig != 0 {
                    format!("Init:Signal:{sig}")
                } else {
                    format!("Init:ExitCode:{}", int(t, "/exitCode"))
                };
            } else {
                reason = format!("Init:{r}");
            }
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{n_init}");
        }
        initializing = true;
        break;
    }
    let initialized = arr(pod, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == "Initialized" && s(c, "/status") == "True");
    if !initializing || initialized {
        restarts = restartable_restarts;
        last_restart = last_restartable_restart;
        let mut has_running = false;
        for c in arr(pod, "/status/containerStatuses").iter().rev() {
            restarts += int(c, "/restartCount");
            last_restart = later(
                last_restart,
                c.pointer("/lastState/terminated/finishedAt")
                    .and_then(parse_time),
            );
            let waiting = s(c, "/state/waiting/reason");
            let term = c.pointer("/state/terminated");
            if c.pointer("/state/waiting").is_some() && !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = term {
                let r = s(t, "/reason");
                if !r.is_empty() {
                    reason = r.to_string();
                } else {
                    let sig = int(t, "/signal");
                    reason = if sig != 0 {
                        format!("Signal:{sig}")
                    } else {
                        format!("ExitCode:{}", int(t, "/exitCode"))
                    };
                }
            } else if c.get("ready").and_then(Value::as_bool) == Some(true)
                && c.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = arr(pod, "/status/conditions")
                .iter()
                .any(|c| s(c, "/type") == "Ready" && s(c, "/status") == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.into();
        }
    }
    let deleting = pod.pointer("/metadata/deletionTimestamp").is_some();
    if deleting && s(pod, "/status/reason") == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }
    let restarts_str = match last_restart {
        Some(t) if restarts != 0 => {
            let d = time::OffsetDateTime::now_utc() - t;
            format!("{restarts} ({} ago)", human_duration(d.whole_seconds()))
        }
        _ => restarts.to_string(),
    };
    let mut ip = arr(pod, "/status/podIPs")
        .first()
        .map(|p| s(p, "/ip"))
        .unwrap_or("")
        .to_string();
    if ip.is_empty() {
        ip = "<none>".into();
    }
    let none_if_empty = |x: &str| {
        if x.is_empty() {
            "<none>".to_string()
        } else {
            x.to_string()
        }
    };
    let gates = arr(pod, "/spec/readinessGates");
    let readiness = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conds = arr(pod, "/status/conditions");
        let t = gates
            .iter()
            .filter(|g| {
                conds
                    .iter()
                    .find(|c| s(c, "/type") == s(g, "/conditionType"))
                    .is_some_and(|c| s(c, "/status") == "True")
            })
            .count();
        format!("{t}/{}", gates.len())
    };
    (
        vec![
            json!(s(pod, "/metadata/name")),
            json!(format!("{ready}/{total}")),
            json!(reason),
            json!(restarts_str),
            json!(since(&pod["metadata"]["creationTimestamp"])),
            json!(ip),
            json!(none_if_empty(s(pod, "/spec/nodeName"))),
            json!(none_if_empty(s(pod, "/status/nominatedNodeName"))),
            json!(readiness),
        ],
        conditions,
    )
}

/// printers.go `formatEndpoints` (all ports): up to 3 `ip:port`, then " + N more...".
fn format_endpoints(ep: &Value) -> String {
    let subsets = arr(ep, "/subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    let max = 3usize;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for ss in subsets {
        let addrs = arr(ss, "/addresses");
        let ports = arr(ss, "/ports");
        if ports.is_empty() {
            count += addrs.len();
            for a in addrs {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(s(a, "/ip").to_string());
            }
            continue;
        }
        for p in ports {
            count += addrs.len();
            for a in addrs {
                if list.len() == max {
                    more = true;
                    break;
                }
                let ip = s(a, "/ip");
                let port = int(p, "/port");
                // net.JoinHostPort brackets IPv6 addresses.
                if ip.contains(':') {
                    list.push(format!("[{ip}]:{port}"));
                } else {
                    list.push(format!("{ip}:{port}"));
                }
            }
        }
    }
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count - max);
    }
    ret
}

fn list_with_more(list: Vec<String>, more: bool, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count - max);
    }
    if ret.is_empty() {
        return "<unset>".into();
    }
    ret
}

fn format_discovery_ports(slice: &Value) -> String {
    let max = 3;
    let (mut list, mut more, mut count) = (Vec::new(), false, 0);
    for p in arr(slice, "/ports") {
        if list.len() < max {
            let n = if let Some(port) = p.get("port").and_then(Value::as_i64) {
                port.to_string()
            } else if let Some(name) = p.get("name").and_then(Value::as_str) {
                name.to_string()
            } else {
                "*".to_string()
            };
            list.push(n);
        } else if list.len() == max {
            more = true;
        }
        count += 1;
    }
    list_with_more(list, more, count, max)
}

fn format_discovery_endpoints(slice: &Value) -> String {
    let max = 3;
    let (mut list, mut more, mut count) = (Vec::new(), false, 0);
    for e in arr(slice, "/endpoints") {
        for a in arr(e, "/addresses") {
            if list.len() < max {
                list.push(a.as_str().unwrap_or("").to_string());
            } else if list.len() == max {
                more = true;
            }
            count += 1;
        }
    }
    list_with_more(list, more, count, max)
}

fn service_cells(svc: &Value) -> Vec<Value> {
    let ty = match s(svc, "/spec/type") {
        "" => "ClusterIP",
        t => t,
    };
    let mut cluster_ip = arr(svc, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if cluster_ip.is_empty() {
        cluster_ip = match s(svc, "/spec/clusterIP") {
            "" => "<none>".into(),
            ip => ip.into(),
        };
    }
    let external: Vec<&str> = arr(svc, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external_ip = match ty {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let mut lb: Vec<String> = arr(svc, "/status/loadBalancer/ingress")
                .iter()
                .filter_map(|i| {
                    let ip = s(i, "/ip");
                    let host = s(i, "/hostname");
                    if !ip.is_empty() {
                        Some(ip.to_string())
                    } else if !host.is_empty() {
                        Some(host.to_string())
                    } else {
                        None
                    }
                })
                .collect();
            lb.sort();
            lb.dedup();
            // The server generates the wide form: no 16-byte clipping.
            let mut all = lb.clone();
            all.extend(external.iter().map(|e| e.to_string()));
            if !external.is_empty() {
                all.join(",")
            } else if !lb.is_empty() {
                lb.join(",")
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => s(svc, "/spec/externalName").to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = arr(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let proto = match s(p, "/protocol") {
                "" => "TCP",
                x => x,
            };
            let node_port = int(p, "/nodePort");
            if node_port > 0 {
                format!("{}:{}/{}", int(p, "/port"), node_port, proto)
            } else {
                format!("{}/{}", int(p, "/port"), proto)
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    vec![
        json!(s(svc, "/metadata/name")),
        json!(ty),
        json!(cluster_ip),
        json!(external_ip),
        json!(ports),
        json!(since(&svc["metadata"]["creationTimestamp"])),
        json!(format_labels(svc.pointer("/spec/selector"))),
    ]
}

fn node_cells(node: &Value) -> Vec<Value> {
    let mut status: Vec<String> = Vec::new();
    if let Some(c) = arr(node, "/status/conditions")
        .iter()
        .rfind(|c| s(c, "/type") == "Ready")
    {
        if s(c, "/status") == "True" {
            status.push("Ready".into());
        } else {
            status.push("NotReady".into());
        }
    }
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if node
        .pointer("/spec/unschedulable")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        status.push("SchedulingDisabled".into());
    }
    let mut roles: Vec<String> = Vec::new();
    if let Some(Value::Object(labels)) = node.pointer("/metadata/labels") {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role.to_string());
                }
            } else if k == "kubernetes.io/role" && v.as_str().is_some_and(|v| !v.is_empty()) {
                roles.push(v.as_str().unwrap_or("").to_string());
            }
        }
    }
    roles.sort();
    roles.dedup();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let addr = |ty: &str| {
        arr(node, "/status/addresses")
            .iter()
            .find(|a| s(a, "/type") == ty)
            .map(|a| s(a, "/address").to_string())
            .unwrap_or_else(|| "<none>".into())
    };
    let unknown = |x: &str| {
        if x.is_empty() {
            "<unknown>".to_string()
        } else {
            x.to_string()
        }
    };
    vec![
        json!(s(node, "/metadata/name")),
        json!(status.join(",")),
        json!(roles),
        json!(since(&node["metadata"]["creationTimestamp"])),
        json!(s(node, "/status/nodeInfo/kubeletVersion")),
        json!(addr("InternalIP")),
        json!(addr("ExternalIP")),
        json!(unknown(s(node, "/status/nodeInfo/osImage"))),
        json!(unknown(s(node, "/status/nodeInfo/kernelVersion"))),
        json!(unknown(s(node, "/status/nodeInfo/containerRuntimeVersion"))),
    ]
}

fn cells(rt: &ResourceType, obj: &Value) -> (Vec<Value>, Option<Value>) {
    let name = json!(s(obj, "/metadata/name"));
    let age = json!(since(&obj["metadata"]["creationTimestamp"]));
    let c = match (rt.group, rt.plural) {
        ("", "namespaces") => vec![name, json!(s(obj, "/status/phase")), age],
        ("", "secrets") => vec![
            name,
            json!(s(obj, "/type")),
            json!(len_of(obj, "/data")),
            age,
        ],
        ("", "services") => service_cells(obj),
        ("", "endpoints") => vec![name, json!(format_endpoints(obj)), age],
        ("", "pods") => return pod_cells(obj),
        ("", "configmaps") => vec![
            name,
            json!(len_of(obj, "/data") + len_of(obj, "/binaryData")),
            age,
        ],
        ("", "nodes") => node_cells(obj),
        ("", "serviceaccounts") => vec![name, json!(len_of(obj, "/secrets")), age],
        ("discovery.k8s.io", "endpointslices") => vec![
            name,
            json!(s(obj, "/addressType")),
            json!(format_discovery_ports(obj)),
            json!(format_discovery_endpoints(obj)),
            age,
        ],
        ("apps", "statefulsets") => {
            let (names, images) = containers(obj, "/spec/template/spec/containers");
            let desired = obj
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            vec![
                name,
                json!(format!("{}/{}", int(obj, "/status/readyReplicas"), desired)),
                age,
                json!(names),
                json!(images),
            ]
        }
        ("apps", "daemonsets") => {
            let (names, images) = containers(obj, "/spec/template/spec/containers");
            vec![
                name,
                json!(int(obj, "/status/desiredNumberScheduled")),
                json!(int(obj, "/status/currentNumberScheduled")),
                json!(int(obj, "/status/numberReady")),
                json!(int(obj, "/status/updatedNumberScheduled")),
                json!(int(obj, "/status/numberAvailable")),
                json!(format_labels(
                    obj.pointer("/spec/template/spec/nodeSelector")
                )),
                age,
                json!(names),
                json!(images),
                json!(format_label_selector(obj.pointer("/spec/selector"))),
            ]
        }
        _ if rt.custom => {
            let mut v = vec![name];
            for c in crd_columns(rt) {
                v.push(crd_cell(c.ty, eval_path(obj, c.json_path)));
            }
            v
        }
        _ => vec![name, obj["metadata"]["creationTimestamp"].clone()],
    };
    (c, None)
}

/// The `Table` of `objects` (`include_object`: the `includeObject` parameter: None, Metadata,
/// Object; anything else counts as the default, Metadata).
pub fn to_table(
    rt: &ResourceType,
    objects: &[Value],
    list_meta: Value,
    include_object: &str,
) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let (cells, conditions) = cells(rt, o);
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(cells));
            if let Some(c) = conditions {
                row.insert("conditions".into(), c);
            }
            let object = match include_object {
                "None" => Value::Null,
                "Object" => o.clone(),
                _ => json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o.get("metadata").cloned().unwrap_or_else(|| json!({})),
                }),
            };
            row.insert("object".into(), object);
            Value::Object(row)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns(rt),
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    fn rt(plural: &str) -> ResourceType {
        Registry::new(true).by_plural(plural).unwrap().clone()
    }

    fn ago(secs: i64) -> String {
        let t = time::OffsetDateTime::now_utc() - time::Duration::seconds(secs);
        t.replace_nanosecond(0)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    }

    fn names(t: &Value) -> Vec<String> {
        t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn human_durations_as_apimachinery() {
        // k8s.io/apimachinery/pkg/util/duration/duration_test.go cases.
        assert_eq!(human_duration(1), "1s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(310), "5m10s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 10 * 60), "3h10m");
        assert_eq!(human_duration(8 * 3600), "8h");
        assert_eq!(human_duration(3 * 86400), "3d");
        assert_eq!(human_duration(3 * 86400 + 5 * 3600), "3d5h");
        assert_eq!(human_duration(30 * 86400), "30d");
        assert_eq!(human_duration(-5), "<invalid>");
    }

    #[test]
    fn service_row_with_two_ports() {
        let svc = json!({"metadata": {"name": "etcd", "creationTimestamp": ago(310)},
            "spec": {"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"],
                     "ports": [{"name": "client", "port": 2379, "protocol": "TCP"},
                               {"name": "metrics", "port": 2381, "protocol": "TCP"}]}});
        let t = to_table(&rt("services"), &[svc], json!({"resourceVersion": "7"}), "");
        assert_eq!(t["kind"], "Table");
        assert_eq!(
            names(&t),
            [
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age",
                "Selector"
            ]
        );
        assert_eq!(t["columnDefinitions"][6]["priority"], 1);
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        let row = &t["rows"][0];
        assert_eq!(
            row["cells"],
            json!([
                "etcd",
                "ClusterIP",
                "None",
                "<none>",
                "2379/TCP,2381/TCP",
                "5m10s",
                "<none>"
            ])
        );
        assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(row["object"]["metadata"]["name"], "etcd");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn endpoints_truncate_after_three() {
        let ep = json!({"metadata": {"name": "e", "creationTimestamp": ago(5)},
            "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}, {"ip": "10.0.0.4"}],
                         "ports": [{"port": 2379}, {"port": 2381}]}]});
        let t = to_table(&rt("endpoints"), &[ep], json!({}), "None");
        assert_eq!(
            t["rows"][0]["cells"][1],
            "10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379 + 5 more..."
        );
        assert!(t["rows"][0]["object"].is_null());
        let empty = json!({"metadata": {"name": "e"}});
        let t = to_table(&rt("endpoints"), &[empty], json!({}), "");
        assert_eq!(t["rows"][0]["cells"], json!(["e", "<none>", "<unknown>"]));
    }

    #[test]
    fn pod_row_running_ready() {
        let pod = json!({"metadata": {"name": "prometheus-k8s-0", "creationTimestamp": ago(3 * 86400)},
            "spec": {"nodeName": "node-1", "containers": [{"name": "prometheus"}, {"name": "config-reloader"}]},
            "status": {"phase": "Running", "podIPs": [{"ip": "127.0.1.5"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    {"name": "prometheus", "ready": true, "restartCount": 0, "state": {"running": {}}},
                    {"name": "config-reloader", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        let t = to_table(&rt("pods"), &[pod], json!({}), "Object");
        assert_eq!(
            names(&t),
            [
                "Name",
                "Ready",
                "Status",
                "Restarts",
                "Age",
                "IP",
                "Node",
                "Nominated Node",
                "Readiness Gates"
            ]
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "prometheus-k8s-0",
                "1/2",
                "CrashLoopBackOff",
                "0",
                "3d",
                "127.0.1.5",
                "node-1",
                "<none>",
                "<none>"
            ])
        );
        assert_eq!(t["rows"][0]["object"]["status"]["phase"], "Running");
    }

    #[test]
    fn other_builtin_rows() {
        let sec = json!({"metadata": {"name": "etcd-certs", "creationTimestamp": ago(30)},
            "type": "Opaque", "data": {"ca.crt": "", "tls.crt": "", "tls.key": ""}});
        let t = to_table(&rt("secrets"), &[sec], json!({}), "");
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["etcd-certs", "Opaque", 3, "30s"])
        );
        let node = json!({"metadata": {"name": "cp-1", "creationTimestamp": ago(600),
                "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "nodeInfo": {"kubeletVersion": "v1.30.2"}}});
        let t = to_table(&rt("nodes"), &[node], json!({}), "");
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "cp-1",
                "Ready",
                "control-plane",
                "10m",
                "v1.30.2",
                "<none>",
                "<none>",
                "<unknown>",
                "<unknown>",
                "<unknown>"
            ])
        );
        let sts = json!({"metadata": {"name": "prometheus-k8s", "creationTimestamp": ago(60)},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "prometheus", "image": "quay.io/prometheus/prometheus:v2.54.1"}]}}},
            "status": {"readyReplicas": 1}});
        let t = to_table(&rt("statefulsets"), &[sts], json!({}), "");
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "prometheus-k8s",
                "1/2",
                "60s",
                "prometheus",
                "quay.io/prometheus/prometheus:v2.54.1"
            ])
        );
        let slice = json!({"metadata": {"name": "etcd-abcde", "creationTimestamp": ago(1)},
            "addressType": "IPv4", "ports": [{"name": "client", "port": 2379}],
            "endpoints": [{"addresses": ["127.0.0.10"]}]});
        let t = to_table(&rt("endpointslices"), &[slice], json!({}), "");
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["etcd-abcde", "IPv4", "2379", "127.0.0.10", "1s"])
        );
        let ds = json!({"metadata": {"name": "node-exporter", "creationTimestamp": ago(1)},
            "spec": {"selector": {"matchLabels": {"app": "node-exporter"}},
                     "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": []}}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                       "updatedNumberScheduled": 3, "numberAvailable": 2}});
        let t = to_table(&rt("daemonsets"), &[ds], json!({}), "");
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "node-exporter",
                3,
                3,
                2,
                3,
                2,
                "kubernetes.io/os=linux",
                "1s",
                "",
                "",
                "app=node-exporter"
            ])
        );
    }

    #[test]
    fn custom_resource_columns() {
        let prom = json!({"metadata": {"name": "k8s", "creationTimestamp": ago(120)},
            "spec": {"version": "v2.54.1", "replicas": 2},
            "status": {"availableReplicas": 2, "paused": false,
                "conditions": [{"type": "Available", "status": "True"}, {"type": "Reconciled", "status": "True"}]}});
        let t = to_table(&rt("prometheuses"), &[prom], json!({}), "");
        assert_eq!(
            names(&t),
            [
                "Name",
                "Version",
                "Desired",
                "Ready",
                "Reconciled",
                "Available",
                "Age",
                "Paused"
            ]
        );
        assert_eq!(
            t["columnDefinitions"][4]["description"],
            "Custom resource definition column (in JSONPath format): .status.conditions[?(@.type == 'Reconciled')].status"
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["k8s", "v2.54.1", 2, 2, "True", "True", "2m", false])
        );
        let sm = json!({"metadata": {"name": "etcd", "creationTimestamp": ago(4)}});
        let t = to_table(&rt("servicemonitors"), &[sm], json!({}), "");
        assert_eq!(names(&t), ["Name", "Age"]);
        assert_eq!(t["columnDefinitions"][1]["type"], "date");
        assert_eq!(t["rows"][0]["cells"], json!(["etcd", "4s"]));
    }
}
