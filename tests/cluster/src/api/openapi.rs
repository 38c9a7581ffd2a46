//! OpenAPI v2 and v3 documents for the served types.
//!
//! What kubectl 1.27–1.33 reads from them:
//! - k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go: the GV's v3 document, the
//!   PATCH operation whose `x-kubernetes-group-version-kind` is the object's GVK, and a
//!   parameter named `fieldValidation` among its (inline) parameters → server-side validation;
//! - k8s.io/kubectl/pkg/cmd/apply/patcher.go: the same PATCH operation's requestBody content
//!   types (`application/strategic-merge-patch+json` → strategic merge patch), then the component
//!   schema whose `x-kubernetes-group-version-kind` array lists the GVK, walked by
//!   k8s.io/apimachinery/pkg/util/strategicpatch PatchMetaFromOpenAPIV3 (properties, `$ref` /
//!   `allOf[0]`, `items`, `x-kubernetes-patch-merge-key`, `x-kubernetes-patch-strategy`). A key
//!   present in both the manifest and the live object that the schema lacks makes kubectl warn
//!   and fall back, so the schemas list every field of the types (as k8s.io/api 1.33 does).
//! - k8s.io/client-go/openapi3 root: `/openapi/v3` `paths` → `serverRelativeURL` (with the
//!   document's hash as kube-openapi's handler3 computes it: uppercase hex SHA-512).
//!
//! Custom resources follow apiextensions-apiserver's builder: PATCH without strategic merge
//! patch, schemas from the CRD (here the fields kubectl-promfix touches, the rest open).
//!
//! OWNER: compat helper.

use crate::resources::{Registry, ResourceType};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

const REF: &str = "#/components/schemas/";
const C: &str = "io.k8s.api.core.v1.";
const M: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.";

// ---------------------------------------------------------------- schema building blocks

fn st() -> Value {
    json!({"type": "string"})
}
fn i32_() -> Value {
    json!({"type": "integer", "format": "int32"})
}
fn i64_() -> Value {
    json!({"type": "integer", "format": "int64"})
}
fn bo() -> Value {
    json!({"type": "boolean"})
}
fn byte() -> Value {
    json!({"type": "string", "format": "byte"})
}
fn r(name: &str) -> Value {
    json!({"$ref": format!("{REF}{name}")})
}
fn core(name: &str) -> Value {
    r(&format!("{C}{name}"))
}
fn meta(name: &str) -> Value {
    r(&format!("{M}{name}"))
}
fn time_() -> Value {
    meta("Time")
}
fn ios() -> Value {
    r("io.k8s.apimachinery.pkg.util.intstr.IntOrString")
}
fn qty() -> Value {
    r("io.k8s.apimachinery.pkg.api.resource.Quantity")
}
fn arr(items: Value) -> Value {
    json!({"type": "array", "items": items})
}
fn atomic(items: Value) -> Value {
    json!({"type": "array", "items": items, "x-kubernetes-list-type": "atomic"})
}
fn set(items: Value) -> Value {
    json!({"type": "array", "items": items, "x-kubernetes-list-type": "set"})
}
/// A list with a strategic-merge-patch merge key (and the SSA list-map keys).
fn merged(items: Value, key: &str, strategy: &str, map_keys: &[&str]) -> Value {
    let mut v = json!({"type": "array", "items": items,
        "x-kubernetes-patch-merge-key": key, "x-kubernetes-patch-strategy": strategy});
    if !map_keys.is_empty() {
        v["x-kubernetes-list-type"] = json!("map");
        v["x-kubernetes-list-map-keys"] = json!(map_keys);
    }
    v
}
fn strmap() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}})
}
fn map_of(v: Value) -> Value {
    json!({"type": "object", "additionalProperties": v})
}
fn obj(props: &[(&str, Value)]) -> Value {
    let mut p = Map::new();
    for (k, v) in props {
        p.insert((*k).to_string(), v.clone());
    }
    json!({"type": "object", "properties": p})
}
fn req(mut v: Value, required: &[&str]) -> Value {
    v["required"] = json!(required);
    v
}
fn gvk_ext(mut v: Value, group: &str, version: &str, kind: &str) -> Value {
    v["x-kubernetes-group-version-kind"] =
        json!([{"group": group, "kind": kind, "version": version}]);
    v
}
fn top(kind_spec: &[(&str, Value)]) -> Value {
    let mut props: Vec<(&str, Value)> = vec![
        ("apiVersion", st()),
        ("kind", st()),
        ("metadata", meta("ObjectMeta")),
    ];
    props.extend(kind_spec.iter().cloned());
    obj(&props)
}
fn list_of(item: &str) -> Value {
    req(
        obj(&[
            ("apiVersion", st()),
            ("items", arr(r(item))),
            ("kind", st()),
            ("metadata", meta("ListMeta")),
        ]),
        &["items"],
    )
}

/// Meta and util definitions every document carries.
fn meta_defs() -> Vec<(String, Value)> {
    let m = |n: &str| format!("{M}{n}");
    vec![
        (
            m("ObjectMeta"),
            obj(&[
                ("annotations", strmap()),
                ("creationTimestamp", time_()),
                ("deletionGracePeriodSeconds", i64_()),
                ("deletionTimestamp", time_()),
                (
                    "finalizers",
                    json!({"type": "array", "items": {"type": "string", "default": ""},
                "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"}),
                ),
                ("generateName", st()),
                ("generation", i64_()),
                ("labels", strmap()),
                ("managedFields", atomic(meta("ManagedFieldsEntry"))),
                ("name", st()),
                ("namespace", st()),
                (
                    "ownerReferences",
                    merged(meta("OwnerReference"), "uid", "merge", &["uid"]),
                ),
                ("resourceVersion", st()),
                ("selfLink", st()),
                ("uid", st()),
            ]),
        ),
        (
            m("ManagedFieldsEntry"),
            obj(&[
                ("apiVersion", st()),
                ("fieldsType", st()),
                ("fieldsV1", meta("FieldsV1")),
                ("manager", st()),
                ("operation", st()),
                ("subresource", st()),
                ("time", time_()),
            ]),
        ),
        (m("FieldsV1"), json!({"type": "object"})),
        (
            m("OwnerReference"),
            req(
                obj(&[
                    ("apiVersion", st()),
                    ("blockOwnerDeletion", bo()),
                    ("controller", bo()),
                    ("kind", st()),
                    ("name", st()),
                    ("uid", st()),
                ]),
                &["apiVersion", "kind", "name", "uid"],
            ),
        ),
        (m("Time"), json!({"type": "string", "format": "date-time"})),
        (
            m("MicroTime"),
            json!({"type": "string", "format": "date-time"}),
        ),
        (
            m("ListMeta"),
            obj(&[
                ("continue", st()),
                ("remainingItemCount", i64_()),
                ("resourceVersion", st()),
                ("selfLink", st()),
            ]),
        ),
        (
            m("LabelSelector"),
            json!({"type": "object", "properties": {
            "matchExpressions": atomic(meta("LabelSelectorRequirement")),
            "matchLabels": strmap(),
        }, "x-kubernetes-map-type": "atomic"}),
        ),
        (
            m("LabelSelectorRequirement"),
            req(
                obj(&[("key", st()), ("operator", st()), ("values", atomic(st()))]),
                &["key", "operator"],
            ),
        ),
        (
            m("Condition"),
            req(
                obj(&[
                    ("lastTransitionTime", time_()),
                    ("message", st()),
                    ("observedGeneration", i64_()),
                    ("reason", st()),
                    ("status", st()),
                    ("type", st()),
                ]),
                &["type", "status", "lastTransitionTime", "reason", "message"],
            ),
        ),
        (
            m("Patch"),
            json!({"type": "object",
            "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."}),
        ),
        (
            m("Preconditions"),
            obj(&[("resourceVersion", st()), ("uid", st())]),
        ),
        (
            m("DeleteOptions"),
            obj(&[
                ("apiVersion", st()),
                ("dryRun", atomic(st())),
                ("gracePeriodSeconds", i64_()),
                ("ignoreStoreReadErrorWithClusterBreakingPotential", bo()),
                ("kind", st()),
                ("orphanDependents", bo()),
                ("preconditions", meta("Preconditions")),
                ("propagationPolicy", st()),
            ]),
        ),
        (
            m("StatusCause"),
            obj(&[("field", st()), ("message", st()), ("reason", st())]),
        ),
        (
            m("StatusDetails"),
            obj(&[
                ("causes", atomic(meta("StatusCause"))),
                ("group", st()),
                ("kind", st()),
                ("name", st()),
                ("retryAfterSeconds", i32_()),
                ("uid", st()),
            ]),
        ),
        (
            m("Status"),
            obj(&[
                ("apiVersion", st()),
                ("code", i32_()),
                ("details", meta("StatusDetails")),
                ("kind", st()),
                ("message", st()),
                ("metadata", meta("ListMeta")),
                ("reason", st()),
                ("status", st()),
            ]),
        ),
        (
            m("WatchEvent"),
            req(
                obj(&[
                    ("object", r("io.k8s.apimachinery.pkg.runtime.RawExtension")),
                    ("type", st()),
                ]),
                &["type", "object"],
            ),
        ),
        (
            "io.k8s.apimachinery.pkg.runtime.RawExtension".into(),
            json!({"type": "object"}),
        ),
        (
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString".into(),
            json!({"type": "string", "format": "int-or-string"}),
        ),
        (
            "io.k8s.apimachinery.pkg.api.resource.Quantity".into(),
            json!({"type": "string"}),
        ),
    ]
}

fn local_ref() -> Value {
    json!({"type": "object", "properties": {"name": {"type": "string", "default": ""}},
           "x-kubernetes-map-type": "atomic"})
}
fn key_selector() -> Value {
    req(
        json!({"type": "object", "properties": {
            "key": st(), "name": {"type": "string", "default": ""}, "optional": bo()},
            "x-kubernetes-map-type": "atomic"}),
        &["key"],
    )
}
fn key_to_path() -> Value {
    core("KeyToPath")
}

/// The core/v1 definitions (k8s.io/api/core/v1 types.go, 1.33).
fn core_defs() -> Vec<(String, Value)> {
    let c = |n: &str| format!("{C}{n}");
    let sel_term = obj(&[
        ("matchExpressions", atomic(core("NodeSelectorRequirement"))),
        ("matchFields", atomic(core("NodeSelectorRequirement"))),
    ]);
    let pod_affinity_term = obj(&[
        ("labelSelector", meta("LabelSelector")),
        ("matchLabelKeys", atomic(st())),
        ("mismatchLabelKeys", atomic(st())),
        ("namespaceSelector", meta("LabelSelector")),
        ("namespaces", atomic(st())),
        ("topologyKey", st()),
    ]);
    let weighted = obj(&[
        ("podAffinityTerm", core("PodAffinityTerm")),
        ("weight", i32_()),
    ]);
    let pod_aff = obj(&[
        (
            "preferredDuringSchedulingIgnoredDuringExecution",
            atomic(core("WeightedPodAffinityTerm")),
        ),
        (
            "requiredDuringSchedulingIgnoredDuringExecution",
            atomic(core("PodAffinityTerm")),
        ),
    ]);
    let handler = obj(&[
        ("exec", core("ExecAction")),
        ("httpGet", core("HTTPGetAction")),
        ("sleep", obj(&[("seconds", i64_())])),
        ("tcpSocket", core("TCPSocketAction")),
    ]);
    let container = obj(&[
        ("args", atomic(st())),
        ("command", atomic(st())),
        ("env", merged(core("EnvVar"), "name", "merge", &["name"])),
        ("envFrom", atomic(core("EnvFromSource"))),
        ("image", st()),
        ("imagePullPolicy", st()),
        (
            "lifecycle",
            obj(&[
                ("postStart", core("LifecycleHandler")),
                ("preStop", core("LifecycleHandler")),
                ("stopSignal", st()),
            ]),
        ),
        ("livenessProbe", core("Probe")),
        ("name", st()),
        (
            "ports",
            merged(
                core("ContainerPort"),
                "containerPort",
                "merge",
                &["containerPort", "protocol"],
            ),
        ),
        ("readinessProbe", core("Probe")),
        (
            "resizePolicy",
            atomic(obj(&[("resourceName", st()), ("restartPolicy", st())])),
        ),
        ("resources", core("ResourceRequirements")),
        ("restartPolicy", st()),
        ("securityContext", core("SecurityContext")),
        ("startupProbe", core("Probe")),
        ("stdin", bo()),
        ("stdinOnce", bo()),
        ("terminationMessagePath", st()),
        ("terminationMessagePolicy", st()),
        ("tty", bo()),
        (
            "volumeDevices",
            merged(
                obj(&[("devicePath", st()), ("name", st())]),
                "devicePath",
                "merge",
                &["devicePath"],
            ),
        ),
        (
            "volumeMounts",
            merged(core("VolumeMount"), "mountPath", "merge", &["mountPath"]),
        ),
        ("workingDir", st()),
    ]);
    let secret_projection = obj(&[
        ("items", atomic(key_to_path())),
        ("name", st()),
        ("optional", bo()),
    ]);
    let downward_items = atomic(obj(&[
        ("fieldRef", core("ObjectFieldSelector")),
        ("mode", i32_()),
        ("path", st()),
        ("resourceFieldRef", core("ResourceFieldSelector")),
    ]));
    let container_state = obj(&[
        ("running", obj(&[("startedAt", time_())])),
        (
            "terminated",
            obj(&[
                ("containerID", st()),
                ("exitCode", i32_()),
                ("finishedAt", time_()),
                ("message", st()),
                ("reason", st()),
                ("signal", i32_()),
                ("startedAt", time_()),
            ]),
        ),
        ("waiting", obj(&[("message", st()), ("reason", st())])),
    ]);
    let container_status = obj(&[
        ("allocatedResources", map_of(qty())),
        (
            "allocatedResourcesStatus",
            atomic(json!({"type": "object"})),
        ),
        ("containerID", st()),
        ("image", st()),
        ("imageID", st()),
        ("lastState", core("ContainerState")),
        ("name", st()),
        ("ready", bo()),
        ("resources", core("ResourceRequirements")),
        ("restartCount", i32_()),
        ("started", bo()),
        ("state", core("ContainerState")),
        ("stopSignal", st()),
        ("user", json!({"type": "object"})),
        (
            "volumeMounts",
            merged(
                obj(&[
                    ("mountPath", st()),
                    ("name", st()),
                    ("readOnly", bo()),
                    ("recursiveReadOnly", st()),
                ]),
                "mountPath",
                "merge",
                &["mountPath"],
            ),
        ),
    ]);
    let volume = obj(&[
        ("awsElasticBlockStore", json!({"type": "object"})),
        ("azureDisk", json!({"type": "object"})),
        ("azureFile", json!({"type": "object"})),
        (
            "cephfs",
            obj(&[
                ("monitors", atomic(st())),
                ("path", st()),
                ("readOnly", bo()),
                ("secretFile", st()),
                ("secretRef", local_ref()),
                ("user", st()),
            ]),
        ),
        (
            "cinder",
            obj(&[
                ("fsType", st()),
                ("readOnly", bo()),
                ("secretRef", local_ref()),
                ("volumeID", st()),
            ]),
        ),
        (
            "configMap",
            obj(&[
                ("defaultMode", i32_()),
                ("items", atomic(key_to_path())),
                ("name", st()),
                ("optional", bo()),
            ]),
        ),
        (
            "csi",
            obj(&[
                ("driver", st()),
                ("fsType", st()),
                ("nodePublishSecretRef", local_ref()),
                ("readOnly", bo()),
                ("volumeAttributes", strmap()),
            ]),
        ),
        (
            "downwardAPI",
            obj(&[("defaultMode", i32_()), ("items", downward_items.clone())]),
        ),
        ("emptyDir", obj(&[("medium", st()), ("sizeLimit", qty())])),
        (
            "ephemeral",
            obj(&[(
                "volumeClaimTemplate",
                json!({"type": "object", "properties": {"metadata": meta("ObjectMeta"), "spec": {"type": "object"}}}),
            )]),
        ),
        (
            "fc",
            obj(&[
                ("fsType", st()),
                ("lun", i32_()),
                ("readOnly", bo()),
                ("targetWWNs", atomic(st())),
                ("wwids", atomic(st())),
            ]),
        ),
        (
            "flexVolume",
            obj(&[
                ("driver", st()),
                ("fsType", st()),
                ("options", strmap()),
                ("readOnly", bo()),
                ("secretRef", local_ref()),
            ]),
        ),
        ("flocker", json!({"type": "object"})),
        ("gcePersistentDisk", json!({"type": "object"})),
        ("gitRepo", json!({"type": "object"})),
        ("glusterfs", json!({"type": "object"})),
        (
            "hostPath",
            req(obj(&[("path", st()), ("type", st())]), &["path"]),
        ),
        ("image", obj(&[("pullPolicy", st()), ("reference", st())])),
        (
            "iscsi",
            obj(&[
                ("chapAuthDiscovery", bo()),
                ("chapAuthSession", bo()),
                ("fsType", st()),
                ("initiatorName", st()),
                ("iqn", st()),
                ("iscsiInterface", st()),
                ("lun", i32_()),
                ("portals", atomic(st())),
                ("readOnly", bo()),
                ("secretRef", local_ref()),
                ("targetPortal", st()),
            ]),
        ),
        ("name", st()),
        (
            "nfs",
            req(
                obj(&[("path", st()), ("readOnly", bo()), ("server", st())]),
                &["server", "path"],
            ),
        ),
        (
            "persistentVolumeClaim",
            req(
                obj(&[("claimName", st()), ("readOnly", bo())]),
                &["claimName"],
            ),
        ),
        ("photonPersistentDisk", json!({"type": "object"})),
        ("portworxVolume", json!({"type": "object"})),
        (
            "projected",
            obj(&[
                ("defaultMode", i32_()),
                (
                    "sources",
                    atomic(obj(&[
                        (
                            "clusterTrustBundle",
                            obj(&[
                                ("labelSelector", meta("LabelSelector")),
                                ("name", st()),
                                ("optional", bo()),
                                ("path", st()),
                                ("signerName", st()),
                            ]),
                        ),
                        ("configMap", secret_projection.clone()),
                        ("downwardAPI", obj(&[("items", downward_items.clone())])),
                        ("podCertificate", json!({"type": "object"})),
                        ("secret", secret_projection.clone()),
                        (
                            "serviceAccountToken",
                            req(
                                obj(&[
                                    ("audience", st()),
                                    ("expirationSeconds", i64_()),
                                    ("path", st()),
                                ]),
                                &["path"],
                            ),
                        ),
                    ])),
                ),
            ]),
        ),
        ("quobyte", json!({"type": "object"})),
        (
            "rbd",
            obj(&[
                ("fsType", st()),
                ("image", st()),
                ("keyring", st()),
                ("monitors", atomic(st())),
                ("pool", st()),
                ("readOnly", bo()),
                ("secretRef", local_ref()),
                ("user", st()),
            ]),
        ),
        (
            "scaleIO",
            obj(&[
                ("fsType", st()),
                ("gateway", st()),
                ("protectionDomain", st()),
                ("readOnly", bo()),
                ("secretRef", local_ref()),
                ("sslEnabled", bo()),
                ("storageMode", st()),
                ("storagePool", st()),
                ("system", st()),
                ("volumeName", st()),
            ]),
        ),
        (
            "secret",
            obj(&[
                ("defaultMode", i32_()),
                ("items", atomic(key_to_path())),
                ("optional", bo()),
                ("secretName", st()),
            ]),
        ),
        (
            "storageos",
            obj(&[
                ("fsType", st()),
                ("readOnly", bo()),
                ("secretRef", local_ref()),
                ("volumeName", st()),
                ("volumeNamespace", st()),
            ]),
        ),
        ("vsphereVolume", json!({"type": "object"})),
    ]);
    let pod_spec = req(
        obj(&[
            ("activeDeadlineSeconds", i64_()),
            (
                "affinity",
                obj(&[
                    (
                        "nodeAffinity",
                        obj(&[
                            (
                                "preferredDuringSchedulingIgnoredDuringExecution",
                                atomic(obj(&[
                                    ("preference", core("NodeSelectorTerm")),
                                    ("weight", i32_()),
                                ])),
                            ),
                            (
                                "requiredDuringSchedulingIgnoredDuringExecution",
                                json!({"type": "object", "properties": {"nodeSelectorTerms": atomic(core("NodeSelectorTerm"))}, "x-kubernetes-map-type": "atomic"}),
                            ),
                        ]),
                    ),
                    ("podAffinity", pod_aff.clone()),
                    ("podAntiAffinity", pod_aff),
                ]),
            ),
            ("automountServiceAccountToken", bo()),
            (
                "containers",
                merged(core("Container"), "name", "merge", &["name"]),
            ),
            (
                "dnsConfig",
                obj(&[
                    ("nameservers", atomic(st())),
                    ("options", atomic(obj(&[("name", st()), ("value", st())]))),
                    ("searches", atomic(st())),
                ]),
            ),
            ("dnsPolicy", st()),
            ("enableServiceLinks", bo()),
            (
                "ephemeralContainers",
                merged(json!({"type": "object"}), "name", "merge", &["name"]),
            ),
            (
                "hostAliases",
                merged(
                    obj(&[("hostnames", atomic(st())), ("ip", st())]),
                    "ip",
                    "merge",
                    &["ip"],
                ),
            ),
            ("hostIPC", bo()),
            ("hostNetwork", bo()),
            ("hostPID", bo()),
            ("hostUsers", bo()),
            ("hostname", st()),
            ("hostnameOverride", st()),
            (
                "imagePullSecrets",
                merged(local_ref(), "name", "merge", &["name"]),
            ),
            (
                "initContainers",
                merged(core("Container"), "name", "merge", &["name"]),
            ),
            ("nodeName", st()),
            (
                "nodeSelector",
                json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}, "x-kubernetes-map-type": "atomic"}),
            ),
            ("os", req(obj(&[("name", st())]), &["name"])),
            ("overhead", map_of(qty())),
            ("preemptionPolicy", st()),
            ("priority", i32_()),
            ("priorityClassName", st()),
            ("readinessGates", atomic(obj(&[("conditionType", st())]))),
            (
                "resourceClaims",
                merged(
                    obj(&[
                        ("name", st()),
                        ("resourceClaimName", st()),
                        ("resourceClaimTemplateName", st()),
                    ]),
                    "name",
                    "merge,retainKeys",
                    &["name"],
                ),
            ),
            ("resources", core("ResourceRequirements")),
            ("restartPolicy", st()),
            ("runtimeClassName", st()),
            ("schedulerName", st()),
            (
                "schedulingGates",
                merged(obj(&[("name", st())]), "name", "merge", &["name"]),
            ),
            ("securityContext", core("PodSecurityContext")),
            ("serviceAccount", st()),
            ("serviceAccountName", st()),
            ("setHostnameAsFQDN", bo()),
            ("shareProcessNamespace", bo()),
            ("subdomain", st()),
            ("terminationGracePeriodSeconds", i64_()),
            ("tolerations", atomic(core("Toleration"))),
            (
                "topologySpreadConstraints",
                merged(
                    obj(&[
                        ("labelSelector", meta("LabelSelector")),
                        ("matchLabelKeys", atomic(st())),
                        ("maxSkew", i32_()),
                        ("minDomains", i32_()),
                        ("nodeAffinityPolicy", st()),
                        ("nodeTaintsPolicy", st()),
                        ("topologyKey", st()),
                        ("whenUnsatisfiable", st()),
                    ]),
                    "topologyKey",
                    "merge",
                    &["topologyKey", "whenUnsatisfiable"],
                ),
            ),
            (
                "volumes",
                merged(core("Volume"), "name", "merge,retainKeys", &["name"]),
            ),
        ]),
        &["containers"],
    );
    let pod_status = obj(&[
        (
            "conditions",
            merged(
                obj(&[
                    ("lastProbeTime", time_()),
                    ("lastTransitionTime", time_()),
                    ("message", st()),
                    ("observedGeneration", i64_()),
                    ("reason", st()),
                    ("status", st()),
                    ("type", st()),
                ]),
                "type",
                "merge",
                &["type"],
            ),
        ),
        ("containerStatuses", atomic(core("ContainerStatus"))),
        (
            "ephemeralContainerStatuses",
            atomic(core("ContainerStatus")),
        ),
        ("extendedResourceClaimStatus", json!({"type": "object"})),
        ("hostIP", st()),
        ("hostIPs", merged(obj(&[("ip", st())]), "ip", "merge", &[])),
        ("initContainerStatuses", atomic(core("ContainerStatus"))),
        ("message", st()),
        ("nominatedNodeName", st()),
        ("observedGeneration", i64_()),
        ("phase", st()),
        ("podIP", st()),
        (
            "podIPs",
            merged(obj(&[("ip", st())]), "ip", "merge", &["ip"]),
        ),
        ("qosClass", st()),
        ("reason", st()),
        ("resize", st()),
        (
            "resourceClaimStatuses",
            merged(
                obj(&[("name", st()), ("resourceClaimName", st())]),
                "name",
                "merge,retainKeys",
                &["name"],
            ),
        ),
        ("startTime", time_()),
    ]);
    let node_condition = obj(&[
        ("lastHeartbeatTime", time_()),
        ("lastTransitionTime", time_()),
        ("message", st()),
        ("reason", st()),
        ("status", st()),
        ("type", st()),
    ]);
    vec![
        (
            c("Service"),
            gvk_ext(
                top(&[
                    ("spec", core("ServiceSpec")),
                    ("status", core("ServiceStatus")),
                ]),
                "",
                "v1",
                "Service",
            ),
        ),
        (
            c("ServiceList"),
            gvk_ext(list_of(&c("Service")), "", "v1", "ServiceList"),
        ),
        (
            c("ServiceSpec"),
            obj(&[
                ("allocateLoadBalancerNodePorts", bo()),
                ("clusterIP", st()),
                ("clusterIPs", atomic(st())),
                ("externalIPs", atomic(st())),
                ("externalName", st()),
                ("externalTrafficPolicy", st()),
                ("healthCheckNodePort", i32_()),
                ("internalTrafficPolicy", st()),
                ("ipFamilies", atomic(st())),
                ("ipFamilyPolicy", st()),
                ("loadBalancerClass", st()),
                ("loadBalancerIP", st()),
                ("loadBalancerSourceRanges", atomic(st())),
                (
                    "ports",
                    merged(core("ServicePort"), "port", "merge", &["port", "protocol"]),
                ),
                ("publishNotReadyAddresses", bo()),
                (
                    "selector",
                    json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}, "x-kubernetes-map-type": "atomic"}),
                ),
                ("sessionAffinity", st()),
                (
                    "sessionAffinityConfig",
                    obj(&[("clientIP", obj(&[("timeoutSeconds", i32_())]))]),
                ),
                ("trafficDistribution", st()),
                ("type", st()),
            ]),
        ),
        (
            c("ServicePort"),
            req(
                obj(&[
                    ("appProtocol", st()),
                    ("name", st()),
                    ("nodePort", i32_()),
                    ("port", i32_()),
                    ("protocol", st()),
                    ("targetPort", ios()),
                ]),
                &["port"],
            ),
        ),
        (
            c("ServiceStatus"),
            obj(&[
                (
                    "conditions",
                    merged(meta("Condition"), "type", "merge", &["type"]),
                ),
                (
                    "loadBalancer",
                    obj(&[(
                        "ingress",
                        atomic(obj(&[
                            ("hostname", st()),
                            ("ip", st()),
                            ("ipMode", st()),
                            (
                                "ports",
                                atomic(obj(&[
                                    ("error", st()),
                                    ("port", i32_()),
                                    ("protocol", st()),
                                ])),
                            ),
                        ])),
                    )]),
                ),
            ]),
        ),
        (
            c("Endpoints"),
            gvk_ext(
                top(&[("subsets", atomic(core("EndpointSubset")))]),
                "",
                "v1",
                "Endpoints",
            ),
        ),
        (
            c("EndpointsList"),
            gvk_ext(list_of(&c("Endpoints")), "", "v1", "EndpointsList"),
        ),
        (
            c("EndpointSubset"),
            obj(&[
                ("addresses", atomic(core("EndpointAddress"))),
                ("notReadyAddresses", atomic(core("EndpointAddress"))),
                ("ports", atomic(core("EndpointPort"))),
            ]),
        ),
        (
            c("EndpointAddress"),
            req(
                json!({"type": "object", "properties": {
            "hostname": st(), "ip": {"type": "string", "default": ""}, "nodeName": st(),
            "targetRef": core("ObjectReference")}, "x-kubernetes-map-type": "atomic"}),
                &["ip"],
            ),
        ),
        (
            c("EndpointPort"),
            req(
                json!({"type": "object", "properties": {
            "appProtocol": st(), "name": st(), "port": {"type": "integer", "format": "int32", "default": 0},
            "protocol": st()}, "x-kubernetes-map-type": "atomic"}),
                &["port"],
            ),
        ),
        (
            c("ObjectReference"),
            json!({"type": "object", "properties": {
            "apiVersion": st(), "fieldPath": st(), "kind": st(), "name": st(), "namespace": st(),
            "resourceVersion": st(), "uid": st()}, "x-kubernetes-map-type": "atomic"}),
        ),
        (
            c("Secret"),
            gvk_ext(
                top(&[
                    ("data", map_of(byte())),
                    ("immutable", bo()),
                    ("stringData", strmap()),
                    ("type", st()),
                ]),
                "",
                "v1",
                "Secret",
            ),
        ),
        (
            c("SecretList"),
            gvk_ext(list_of(&c("Secret")), "", "v1", "SecretList"),
        ),
        (
            c("ConfigMap"),
            gvk_ext(
                top(&[
                    ("binaryData", map_of(byte())),
                    ("data", strmap()),
                    ("immutable", bo()),
                ]),
                "",
                "v1",
                "ConfigMap",
            ),
        ),
        (
            c("ConfigMapList"),
            gvk_ext(list_of(&c("ConfigMap")), "", "v1", "ConfigMapList"),
        ),
        (
            c("Namespace"),
            gvk_ext(
                top(&[
                    ("spec", obj(&[("finalizers", atomic(st()))])),
                    (
                        "status",
                        obj(&[
                            (
                                "conditions",
                                merged(
                                    obj(&[
                                        ("lastTransitionTime", time_()),
                                        ("message", st()),
                                        ("reason", st()),
                                        ("status", st()),
                                        ("type", st()),
                                    ]),
                                    "type",
                                    "merge",
                                    &["type"],
                                ),
                            ),
                            ("phase", st()),
                        ]),
                    ),
                ]),
                "",
                "v1",
                "Namespace",
            ),
        ),
        (
            c("NamespaceList"),
            gvk_ext(list_of(&c("Namespace")), "", "v1", "NamespaceList"),
        ),
        (
            c("ServiceAccount"),
            gvk_ext(
                top(&[
                    ("automountServiceAccountToken", bo()),
                    ("imagePullSecrets", atomic(local_ref())),
                    (
                        "secrets",
                        merged(core("ObjectReference"), "name", "merge", &["name"]),
                    ),
                ]),
                "",
                "v1",
                "ServiceAccount",
            ),
        ),
        (
            c("ServiceAccountList"),
            gvk_ext(
                list_of(&c("ServiceAccount")),
                "",
                "v1",
                "ServiceAccountList",
            ),
        ),
        (
            c("Node"),
            gvk_ext(
                top(&[
                    (
                        "spec",
                        obj(&[
                            ("configSource", json!({"type": "object"})),
                            ("externalID", st()),
                            ("podCIDR", st()),
                            (
                                "podCIDRs",
                                json!({"type": "array", "items": {"type": "string", "default": ""}, "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"}),
                            ),
                            ("providerID", st()),
                            (
                                "taints",
                                atomic(obj(&[
                                    ("effect", st()),
                                    ("key", st()),
                                    ("timeAdded", time_()),
                                    ("value", st()),
                                ])),
                            ),
                            ("unschedulable", bo()),
                        ]),
                    ),
                    (
                        "status",
                        obj(&[
                            (
                                "addresses",
                                merged(
                                    obj(&[("address", st()), ("type", st())]),
                                    "type",
                                    "merge",
                                    &["type"],
                                ),
                            ),
                            ("allocatable", map_of(qty())),
                            ("capacity", map_of(qty())),
                            (
                                "conditions",
                                merged(node_condition, "type", "merge", &["type"]),
                            ),
                            ("config", json!({"type": "object"})),
                            (
                                "daemonEndpoints",
                                obj(&[("kubeletEndpoint", obj(&[("Port", i32_())]))]),
                            ),
                            ("declaredFeatures", atomic(st())),
                            ("features", obj(&[("supplementalGroupsPolicy", bo())])),
                            (
                                "images",
                                atomic(obj(&[("names", atomic(st())), ("sizeBytes", i64_())])),
                            ),
                            (
                                "nodeInfo",
                                obj(&[
                                    ("architecture", st()),
                                    ("bootID", st()),
                                    ("containerRuntimeVersion", st()),
                                    ("kernelVersion", st()),
                                    ("kubeProxyVersion", st()),
                                    ("kubeletVersion", st()),
                                    ("machineID", st()),
                                    ("operatingSystem", st()),
                                    ("osImage", st()),
                                    ("swap", obj(&[("capacity", i64_())])),
                                    ("systemUUID", st()),
                                ]),
                            ),
                            ("phase", st()),
                            ("runtimeHandlers", atomic(json!({"type": "object"}))),
                            (
                                "volumesAttached",
                                atomic(obj(&[("devicePath", st()), ("name", st())])),
                            ),
                            ("volumesInUse", atomic(st())),
                        ]),
                    ),
                ]),
                "",
                "v1",
                "Node",
            ),
        ),
        (
            c("NodeList"),
            gvk_ext(list_of(&c("Node")), "", "v1", "NodeList"),
        ),
        (
            c("NodeSelectorTerm"),
            json!({"type": "object", "properties": sel_term["properties"].clone(), "x-kubernetes-map-type": "atomic"}),
        ),
        (
            c("NodeSelectorRequirement"),
            req(
                obj(&[("key", st()), ("operator", st()), ("values", atomic(st()))]),
                &["key", "operator"],
            ),
        ),
        (
            c("PodAffinityTerm"),
            req(pod_affinity_term, &["topologyKey"]),
        ),
        (
            c("WeightedPodAffinityTerm"),
            req(weighted, &["weight", "podAffinityTerm"]),
        ),
        (
            c("Pod"),
            gvk_ext(
                top(&[("spec", core("PodSpec")), ("status", core("PodStatus"))]),
                "",
                "v1",
                "Pod",
            ),
        ),
        (
            c("PodList"),
            gvk_ext(list_of(&c("Pod")), "", "v1", "PodList"),
        ),
        (c("PodSpec"), pod_spec),
        (c("PodStatus"), pod_status),
        (
            c("PodTemplateSpec"),
            obj(&[("metadata", meta("ObjectMeta")), ("spec", core("PodSpec"))]),
        ),
        (c("Container"), req(container, &["name"])),
        (
            c("ContainerStatus"),
            req(
                container_status,
                &["name", "ready", "restartCount", "image", "imageID"],
            ),
        ),
        (c("ContainerState"), container_state),
        (
            c("ContainerPort"),
            req(
                obj(&[
                    ("containerPort", i32_()),
                    ("hostIP", st()),
                    ("hostPort", i32_()),
                    ("name", st()),
                    ("protocol", st()),
                ]),
                &["containerPort"],
            ),
        ),
        (
            c("EnvVar"),
            req(
                obj(&[
                    ("name", st()),
                    ("value", st()),
                    (
                        "valueFrom",
                        obj(&[
                            ("configMapKeyRef", key_selector()),
                            ("fieldRef", core("ObjectFieldSelector")),
                            ("fileKeyRef", json!({"type": "object"})),
                            ("resourceFieldRef", core("ResourceFieldSelector")),
                            ("secretKeyRef", key_selector()),
                        ]),
                    ),
                ]),
                &["name"],
            ),
        ),
        (
            c("EnvFromSource"),
            obj(&[
                (
                    "configMapRef",
                    json!({"type": "object", "properties": {"name": st(), "optional": bo()}, "x-kubernetes-map-type": "atomic"}),
                ),
                ("prefix", st()),
                (
                    "secretRef",
                    json!({"type": "object", "properties": {"name": st(), "optional": bo()}, "x-kubernetes-map-type": "atomic"}),
                ),
            ]),
        ),
        (
            c("ObjectFieldSelector"),
            req(
                json!({"type": "object", "properties": {"apiVersion": st(), "fieldPath": st()}, "x-kubernetes-map-type": "atomic"}),
                &["fieldPath"],
            ),
        ),
        (
            c("ResourceFieldSelector"),
            req(
                json!({"type": "object", "properties": {"containerName": st(), "divisor": qty(), "resource": st()}, "x-kubernetes-map-type": "atomic"}),
                &["resource"],
            ),
        ),
        (
            c("KeyToPath"),
            req(
                obj(&[("key", st()), ("mode", i32_()), ("path", st())]),
                &["key", "path"],
            ),
        ),
        (c("LifecycleHandler"), handler),
        (c("ExecAction"), obj(&[("command", atomic(st()))])),
        (
            c("HTTPGetAction"),
            req(
                obj(&[
                    ("host", st()),
                    (
                        "httpHeaders",
                        atomic(req(
                            obj(&[("name", st()), ("value", st())]),
                            &["name", "value"],
                        )),
                    ),
                    ("path", st()),
                    ("port", ios()),
                    ("scheme", st()),
                ]),
                &["port"],
            ),
        ),
        (
            c("TCPSocketAction"),
            req(obj(&[("host", st()), ("port", ios())]), &["port"]),
        ),
        (
            c("Probe"),
            obj(&[
                ("exec", core("ExecAction")),
                ("failureThreshold", i32_()),
                (
                    "grpc",
                    req(obj(&[("port", i32_()), ("service", st())]), &["port"]),
                ),
                ("httpGet", core("HTTPGetAction")),
                ("initialDelaySeconds", i32_()),
                ("periodSeconds", i32_()),
                ("successThreshold", i32_()),
                ("tcpSocket", core("TCPSocketAction")),
                ("terminationGracePeriodSeconds", i64_()),
                ("timeoutSeconds", i32_()),
            ]),
        ),
        (
            c("ResourceRequirements"),
            obj(&[
                (
                    "claims",
                    json!({"type": "array", "items": {"type": "object", "properties": {"name": st(), "request": st()}},
                "x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map"}),
                ),
                ("limits", map_of(qty())),
                ("requests", map_of(qty())),
            ]),
        ),
        (
            c("SecurityContext"),
            obj(&[
                ("allowPrivilegeEscalation", bo()),
                (
                    "appArmorProfile",
                    obj(&[("localhostProfile", st()), ("type", st())]),
                ),
                (
                    "capabilities",
                    obj(&[("add", atomic(st())), ("drop", atomic(st()))]),
                ),
                ("privileged", bo()),
                ("procMount", st()),
                ("readOnlyRootFilesystem", bo()),
                ("runAsGroup", i64_()),
                ("runAsNonRoot", bo()),
                ("runAsUser", i64_()),
                (
                    "seLinuxOptions",
                    obj(&[
                        ("level", st()),
                        ("role", st()),
                        ("type", st()),
                        ("user", st()),
                    ]),
                ),
                (
                    "seccompProfile",
                    obj(&[("localhostProfile", st()), ("type", st())]),
                ),
                (
                    "windowsOptions",
                    obj(&[
                        ("gmsaCredentialSpec", st()),
                        ("gmsaCredentialSpecName", st()),
                        ("hostProcess", bo()),
                        ("runAsUserName", st()),
                    ]),
                ),
            ]),
        ),
        (
            c("PodSecurityContext"),
            obj(&[
                (
                    "appArmorProfile",
                    obj(&[("localhostProfile", st()), ("type", st())]),
                ),
                ("fsGroup", i64_()),
                ("fsGroupChangePolicy", st()),
                ("runAsGroup", i64_()),
                ("runAsNonRoot", bo()),
                ("runAsUser", i64_()),
                ("seLinuxChangePolicy", st()),
                (
                    "seLinuxOptions",
                    obj(&[
                        ("level", st()),
                        ("role", st()),
                        ("type", st()),
                        ("user", st()),
                    ]),
                ),
                (
                    "seccompProfile",
                    obj(&[("localhostProfile", st()), ("type", st())]),
                ),
                ("supplementalGroups", atomic(i64_())),
                ("supplementalGroupsPolicy", st()),
                (
                    "sysctls",
                    atomic(req(
                        obj(&[("name", st()), ("value", st())]),
                        &["name", "value"],
                    )),
                ),
                (
                    "windowsOptions",
                    obj(&[
                        ("gmsaCredentialSpec", st()),
                        ("gmsaCredentialSpecName", st()),
                        ("hostProcess", bo()),
                        ("runAsUserName", st()),
                    ]),
                ),
            ]),
        ),
        (
            c("Toleration"),
            obj(&[
                ("effect", st()),
                ("key", st()),
                ("operator", st()),
                ("tolerationSeconds", i64_()),
                ("value", st()),
            ]),
        ),
        (c("Volume"), req(volume, &["name"])),
        (
            c("VolumeMount"),
            req(
                obj(&[
                    ("mountPath", st()),
                    ("mountPropagation", st()),
                    ("name", st()),
                    ("readOnly", bo()),
                    ("recursiveReadOnly", st()),
                    ("subPath", st()),
                    ("subPathExpr", st()),
                ]),
                &["name", "mountPath"],
            ),
        ),
        (
            c("PodExecOptions"),
            gvk_ext(
                obj(&[
                    ("apiVersion", st()),
                    ("command", atomic(st())),
                    ("container", st()),
                    ("kind", st()),
                    ("stderr", bo()),
                    ("stdin", bo()),
                    ("stdout", bo()),
                    ("tty", bo()),
                ]),
                "",
                "v1",
                "PodExecOptions",
            ),
        ),
    ]
}

fn apps_defs() -> Vec<(String, Value)> {
    let a = |n: &str| format!("io.k8s.api.apps.v1.{n}");
    let cond = obj(&[
        ("lastTransitionTime", time_()),
        ("message", st()),
        ("reason", st()),
        ("status", st()),
        ("type", st()),
    ]);
    vec![
        (
            a("StatefulSet"),
            gvk_ext(
                top(&[
                    (
                        "spec",
                        req(
                            obj(&[
                                ("minReadySeconds", i32_()),
                                ("ordinals", obj(&[("start", i32_())])),
                                (
                                    "persistentVolumeClaimRetentionPolicy",
                                    obj(&[("whenDeleted", st()), ("whenScaled", st())]),
                                ),
                                ("podManagementPolicy", st()),
                                ("replicas", i32_()),
                                ("revisionHistoryLimit", i32_()),
                                ("selector", meta("LabelSelector")),
                                ("serviceName", st()),
                                ("template", core("PodTemplateSpec")),
                                (
                                    "updateStrategy",
                                    obj(&[
                                        (
                                            "rollingUpdate",
                                            obj(&[
                                                ("maxUnavailable", ios()),
                                                ("partition", i32_()),
                                            ]),
                                        ),
                                        ("type", st()),
                                    ]),
                                ),
                                (
                                    "volumeClaimTemplates",
                                    atomic(json!({"type": "object", "properties": {
                    "apiVersion": st(), "kind": st(), "metadata": meta("ObjectMeta"),
                    "spec": {"type": "object"}, "status": {"type": "object"}}})),
                                ),
                            ]),
                            &["selector", "template"],
                        ),
                    ),
                    (
                        "status",
                        req(
                            obj(&[
                                ("availableReplicas", i32_()),
                                ("collisionCount", i32_()),
                                (
                                    "conditions",
                                    merged(cond.clone(), "type", "merge", &["type"]),
                                ),
                                ("currentReplicas", i32_()),
                                ("currentRevision", st()),
                                ("observedGeneration", i64_()),
                                ("readyReplicas", i32_()),
                                ("replicas", i32_()),
                                ("updateRevision", st()),
                                ("updatedReplicas", i32_()),
                            ]),
                            &["replicas"],
                        ),
                    ),
                ]),
                "apps",
                "v1",
                "StatefulSet",
            ),
        ),
        (
            a("StatefulSetList"),
            gvk_ext(list_of(&a("StatefulSet")), "apps", "v1", "StatefulSetList"),
        ),
        (
            a("DaemonSet"),
            gvk_ext(
                top(&[
                    (
                        "spec",
                        req(
                            obj(&[
                                ("minReadySeconds", i32_()),
                                ("revisionHistoryLimit", i32_()),
                                ("selector", meta("LabelSelector")),
                                ("template", core("PodTemplateSpec")),
                                (
                                    "updateStrategy",
                                    obj(&[
                                        (
                                            "rollingUpdate",
                                            obj(&[("maxSurge", ios()), ("maxUnavailable", ios())]),
                                        ),
                                        ("type", st()),
                                    ]),
                                ),
                            ]),
                            &["selector", "template"],
                        ),
                    ),
                    (
                        "status",
                        req(
                            obj(&[
                                ("collisionCount", i32_()),
                                ("conditions", merged(cond, "type", "merge", &["type"])),
                                ("currentNumberScheduled", i32_()),
                                ("desiredNumberScheduled", i32_()),
                                ("numberAvailable", i32_()),
                                ("numberMisscheduled", i32_()),
                                ("numberReady", i32_()),
                                ("numberUnavailable", i32_()),
                                ("observedGeneration", i64_()),
                                ("updatedNumberScheduled", i32_()),
                            ]),
                            &[
                                "currentNumberScheduled",
                                "numberMisscheduled",
                                "desiredNumberScheduled",
                                "numberReady",
                            ],
                        ),
                    ),
                ]),
                "apps",
                "v1",
                "DaemonSet",
            ),
        ),
        (
            a("DaemonSetList"),
            gvk_ext(list_of(&a("DaemonSet")), "apps", "v1", "DaemonSetList"),
        ),
        (
            "io.k8s.api.autoscaling.v1.Scale".into(),
            gvk_ext(
                top(&[
                    ("spec", obj(&[("replicas", i32_())])),
                    (
                        "status",
                        req(
                            obj(&[("replicas", i32_()), ("selector", st())]),
                            &["replicas"],
                        ),
                    ),
                ]),
                "autoscaling",
                "v1",
                "Scale",
            ),
        ),
    ]
}

fn discovery_defs() -> Vec<(String, Value)> {
    let d = |n: &str| format!("io.k8s.api.discovery.v1.{n}");
    vec![
        (
            d("EndpointSlice"),
            req(
                gvk_ext(
                    top(&[
                        ("addressType", st()),
                        ("endpoints", atomic(r(&d("Endpoint")))),
                        ("ports", atomic(r(&d("EndpointPort")))),
                    ]),
                    "discovery.k8s.io",
                    "v1",
                    "EndpointSlice",
                ),
                &["addressType", "endpoints"],
            ),
        ),
        (
            d("EndpointSliceList"),
            gvk_ext(
                list_of(&d("EndpointSlice")),
                "discovery.k8s.io",
                "v1",
                "EndpointSliceList",
            ),
        ),
        (
            d("Endpoint"),
            req(
                obj(&[
                    ("addresses", set(st())),
                    (
                        "conditions",
                        obj(&[("ready", bo()), ("serving", bo()), ("terminating", bo())]),
                    ),
                    ("deprecatedTopology", strmap()),
                    (
                        "hints",
                        obj(&[
                            ("forNodes", atomic(obj(&[("name", st())]))),
                            ("forZones", atomic(obj(&[("name", st())]))),
                        ]),
                    ),
                    ("hostname", st()),
                    ("nodeName", st()),
                    ("targetRef", core("ObjectReference")),
                    ("zone", st()),
                ]),
                &["addresses"],
            ),
        ),
        (
            d("EndpointPort"),
            json!({"type": "object", "properties": {
            "appProtocol": st(), "name": st(), "port": i32_(), "protocol": st()},
            "x-kubernetes-map-type": "atomic"}),
        ),
    ]
}

fn authorization_defs() -> Vec<(String, Value)> {
    let z = |n: &str| format!("io.k8s.api.authorization.v1.{n}");
    let resource_attrs = obj(&[
        (
            "fieldSelector",
            obj(&[
                ("rawSelector", st()),
                (
                    "requirements",
                    atomic(obj(&[
                        ("key", st()),
                        ("operator", st()),
                        ("values", atomic(st())),
                    ])),
                ),
            ]),
        ),
        ("group", st()),
        (
            "labelSelector",
            obj(&[
                ("rawSelector", st()),
                ("requirements", atomic(meta("LabelSelectorRequirement"))),
            ]),
        ),
        ("name", st()),
        ("namespace", st()),
        ("resource", st()),
        ("subresource", st()),
        ("verb", st()),
        ("version", st()),
    ]);
    let non_resource = obj(&[("path", st()), ("verb", st())]);
    let status = req(
        obj(&[
            ("allowed", bo()),
            ("denied", bo()),
            ("evaluationError", st()),
            ("reason", st()),
        ]),
        &["allowed"],
    );
    vec![
        (
            z("SelfSubjectAccessReview"),
            req(
                gvk_ext(
                    top(&[
                        (
                            "spec",
                            obj(&[
                                ("nonResourceAttributes", non_resource.clone()),
                                ("resourceAttributes", resource_attrs.clone()),
                            ]),
                        ),
                        ("status", status.clone()),
                    ]),
                    "authorization.k8s.io",
                    "v1",
                    "SelfSubjectAccessReview",
                ),
                &["spec"],
            ),
        ),
        (
            z("SubjectAccessReview"),
            req(
                gvk_ext(
                    top(&[
                        (
                            "spec",
                            obj(&[
                                ("extra", map_of(atomic(st()))),
                                ("groups", atomic(st())),
                                ("nonResourceAttributes", non_resource),
                                ("resourceAttributes", resource_attrs),
                                ("uid", st()),
                                ("user", st()),
                            ]),
                        ),
                        ("status", status),
                    ]),
                    "authorization.k8s.io",
                    "v1",
                    "SubjectAccessReview",
                ),
                &["spec"],
            ),
        ),
    ]
}

/// The prometheus-operator CRDs as the apiextensions server publishes them: the structural
/// schema (the fields kubectl-promfix reads and writes spelled out; the rest of spec left open
/// with x-kubernetes-preserve-unknown-fields so nothing the real CRD accepts is refused here).
fn monitoring_defs() -> Vec<(String, Value)> {
    let p = |n: &str| format!("com.coreos.monitoring.v1.{n}");
    let open = |mut v: Value| {
        v["x-kubernetes-preserve-unknown-fields"] = json!(true);
        v
    };
    let secret_key = obj(&[("key", st()), ("name", st()), ("optional", bo())]);
    let secret_or_cm = obj(&[
        ("configMap", secret_key.clone()),
        ("secret", secret_key.clone()),
    ]);
    let tls = open(obj(&[
        ("ca", secret_or_cm.clone()),
        ("caFile", st()),
        ("cert", secret_or_cm),
        ("certFile", st()),
        ("insecureSkipVerify", bo()),
        ("keyFile", st()),
        ("keySecret", secret_key.clone()),
        ("serverName", st()),
    ]));
    let relabel = atomic(open(obj(&[
        ("action", st()),
        ("modulus", i64_()),
        ("regex", st()),
        ("replacement", st()),
        ("separator", st()),
        ("sourceLabels", arr(st())),
        ("targetLabel", st()),
    ])));
    let endpoint = open(obj(&[
        (
            "authorization",
            open(obj(&[("credentials", secret_key.clone()), ("type", st())])),
        ),
        ("bearerTokenFile", st()),
        ("bearerTokenSecret", secret_key.clone()),
        ("honorLabels", bo()),
        ("honorTimestamps", bo()),
        ("interval", st()),
        ("metricRelabelings", relabel.clone()),
        ("params", map_of(arr(st()))),
        ("path", st()),
        ("port", st()),
        ("relabelings", relabel),
        ("scheme", st()),
        ("scrapeTimeout", st()),
        ("targetPort", ios()),
        ("tlsConfig", tls),
    ]));
    let ns_sel = obj(&[("any", bo()), ("matchNames", arr(st()))]);
    let label_sel = json!({"type": "object", "properties": {
        "matchExpressions": arr(req(obj(&[("key", st()), ("operator", st()), ("values", arr(st()))]), &["key", "operator"])),
        "matchLabels": strmap()}, "x-kubernetes-map-type": "atomic"});
    let status = open(obj(&[
        ("availableReplicas", i32_()),
        (
            "conditions",
            merged(
                obj(&[
                    ("lastTransitionTime", time_()),
                    ("message", st()),
                    ("observedGeneration", i64_()),
                    ("reason", st()),
                    ("status", st()),
                    ("type", st()),
                ]),
                "type",
                "merge",
                &["type"],
            ),
        ),
        ("paused", bo()),
        ("replicas", i32_()),
        ("selector", st()),
        ("shards", i32_()),
        ("unavailableReplicas", i32_()),
        ("updatedReplicas", i32_()),
    ]));
    vec![
        (
            p("Prometheus"),
            req(
                gvk_ext(
                    top(&[
                        (
                            "spec",
                            open(obj(&[
                                ("configMaps", arr(st())),
                                ("containers", arr(open(json!({"type": "object"})))),
                                ("enableAdminAPI", bo()),
                                ("externalLabels", strmap()),
                                ("image", st()),
                                ("nodeSelector", strmap()),
                                ("paused", bo()),
                                ("podMonitorNamespaceSelector", label_sel.clone()),
                                ("podMonitorSelector", label_sel.clone()),
                                ("replicas", i32_()),
                                ("retention", st()),
                                ("ruleNamespaceSelector", label_sel.clone()),
                                ("ruleSelector", label_sel.clone()),
                                ("scrapeInterval", st()),
                                ("secrets", arr(st())),
                                ("serviceAccountName", st()),
                                ("serviceMonitorNamespaceSelector", label_sel.clone()),
                                ("serviceMonitorSelector", label_sel.clone()),
                                ("shards", i32_()),
                                ("version", st()),
                                ("volumeMounts", arr(open(json!({"type": "object"})))),
                                ("volumes", arr(open(json!({"type": "object"})))),
                            ])),
                        ),
                        ("status", status),
                    ]),
                    "monitoring.coreos.com",
                    "v1",
                    "Prometheus",
                ),
                &["spec"],
            ),
        ),
        (
            p("PrometheusList"),
            gvk_ext(
                list_of(&p("Prometheus")),
                "monitoring.coreos.com",
                "v1",
                "PrometheusList",
            ),
        ),
        (
            p("ServiceMonitor"),
            req(
                gvk_ext(
                    top(&[(
                        "spec",
                        req(
                            open(obj(&[
                                ("attachMetadata", obj(&[("node", bo())])),
                                ("endpoints", arr(endpoint.clone())),
                                ("jobLabel", st()),
                                ("namespaceSelector", ns_sel.clone()),
                                ("podTargetLabels", arr(st())),
                                ("sampleLimit", i64_()),
                                ("selector", label_sel.clone()),
                                ("targetLabels", arr(st())),
                            ])),
                            &["selector"],
                        ),
                    )]),
                    "monitoring.coreos.com",
                    "v1",
                    "ServiceMonitor",
                ),
                &["spec"],
            ),
        ),
        (
            p("ServiceMonitorList"),
            gvk_ext(
                list_of(&p("ServiceMonitor")),
                "monitoring.coreos.com",
                "v1",
                "ServiceMonitorList",
            ),
        ),
        (
            p("PodMonitor"),
            req(
                gvk_ext(
                    top(&[(
                        "spec",
                        req(
                            open(obj(&[
                                ("jobLabel", st()),
                                ("namespaceSelector", ns_sel),
                                ("podMetricsEndpoints", arr(endpoint)),
                                ("podTargetLabels", arr(st())),
                                ("sampleLimit", i64_()),
                                ("selector", label_sel),
                            ])),
                            &["selector"],
                        ),
                    )]),
                    "monitoring.coreos.com",
                    "v1",
                    "PodMonitor",
                ),
                &["spec"],
            ),
        ),
        (
            p("PodMonitorList"),
            gvk_ext(
                list_of(&p("PodMonitor")),
                "monitoring.coreos.com",
                "v1",
                "PodMonitorList",
            ),
        ),
    ]
}

/// Every definition, keyed by its full name.
fn all_defs() -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in meta_defs()
        .into_iter()
        .chain(core_defs())
        .chain(apps_defs())
        .chain(discovery_defs())
        .chain(authorization_defs())
        .chain(monitoring_defs())
    {
        m.insert(k, v);
    }
    m
}

/// Definition name of a served type's object schema.
fn def_name(t: &ResourceType) -> String {
    match t.group {
        "" => format!("{C}{}", t.kind),
        "apps" => format!("io.k8s.api.apps.v1.{}", t.kind),
        "discovery.k8s.io" => format!("io.k8s.api.discovery.v1.{}", t.kind),
        "authorization.k8s.io" => format!("io.k8s.api.authorization.v1.{}", t.kind),
        "monitoring.coreos.com" => format!("com.coreos.monitoring.v1.{}", t.kind),
        g => format!("{g}.{}.{}", t.version, t.kind),
    }
}

/// Collects the names of the definitions reachable from `roots`.
fn reachable(defs: &Map<String, Value>, roots: &[String]) -> Vec<String> {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "$ref" {
                        if let Some(s) = x.as_str().and_then(|s| s.strip_prefix(REF)) {
                            out.push(s.to_string());
                        }
                    } else {
                        refs(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut seen: Vec<String> = Vec::new();
    let mut todo: Vec<String> = roots.to_vec();
    while let Some(n) = todo.pop() {
        if seen.contains(&n) {
            continue;
        }
        if let Some(d) = defs.get(&n) {
            let mut found = Vec::new();
            refs(d, &mut found);
            todo.extend(found);
        }
        seen.push(n);
    }
    seen.sort();
    seen
}

/// kube-openapi v3 wraps referenced property and item schemas in `allOf` (with a default).
fn v3_wrap(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let nx = match k.as_str() {
                    "properties" | "additionalProperties" => match x {
                        Value::Object(props) if k == "properties" => Value::Object(
                            props
                                .iter()
                                .map(|(pk, pv)| (pk.clone(), wrap_ref(&v3_wrap(pv))))
                                .collect(),
                        ),
                        other => wrap_ref(&v3_wrap(other)),
                    },
                    "items" => wrap_ref(&v3_wrap(x)),
                    _ => v3_wrap(x),
                };
                out.insert(k.clone(), nx);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(v3_wrap).collect()),
        other => other.clone(),
    }
}

fn wrap_ref(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("$ref") => {
            json!({"allOf": [v.clone()], "default": {}})
        }
        other => other.clone(),
    }
}

// ---------------------------------------------------------------- operations

const DRY_RUN: &str = "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed";
const FIELD_MANAGER: &str = "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.";
const FIELD_MANAGER_PATCH: &str = "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint. This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch).";
const FIELD_VALIDATION: &str = "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.";
const FORCE: &str = "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.";
const PRETTY: &str = "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).";
const NAMESPACE: &str = "object name and auth scope, such as for teams and projects";

#[derive(Clone)]
struct Param {
    name: &'static str,
    location: &'static str,
    desc: String,
    ty: &'static str,
    required: bool,
}

fn q(name: &'static str, desc: &str, ty: &'static str) -> Param {
    Param {
        name,
        location: "query",
        desc: desc.to_string(),
        ty,
        required: false,
    }
}

fn list_params() -> Vec<Param> {
    vec![
        q(
            "allowWatchBookmarks",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored.",
            "boolean",
        ),
        q(
            "continue",
            "The continue option should be set when retrieving more results from the server.",
            "string",
        ),
        q(
            "fieldSelector",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
            "string",
        ),
        q(
            "labelSelector",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
            "string",
        ),
        q(
            "limit",
            "limit is a maximum number of responses to return for a list call.",
            "integer",
        ),
        q(
            "resourceVersion",
            "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset",
            "string",
        ),
        q(
            "resourceVersionMatch",
            "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset",
            "string",
        ),
        q(
            "sendInitialEvents",
            "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection.",
            "boolean",
        ),
        q(
            "timeoutSeconds",
            "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.",
            "integer",
        ),
        q(
            "watch",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.",
            "boolean",
        ),
    ]
}

fn delete_params() -> Vec<Param> {
    vec![
        q("dryRun", DRY_RUN, "string"),
        q(
            "gracePeriodSeconds",
            "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.",
            "integer",
        ),
        q(
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error. A resource is considered corrupt if it can not be retrieved from the underlying storage successfully because of a) its data can not be transformed e.g. decryption failure, or b) it fails to decode into an object. NOTE: unsafe deletion ignores finalizer constraints, skips precondition checks, and removes the object from the storage. WARNING: This may potentially break the cluster if the workload associated with the resource being unsafe-deleted relies on normal deletion flow. Use only if you REALLY know what you are doing. The default value is false, and the user must opt in to enable it",
            "boolean",
        ),
        q(
            "orphanDependents",
            "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both.",
            "boolean",
        ),
        q(
            "propagationPolicy",
            "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.",
            "string",
        ),
    ]
}

fn write_params(patch: bool) -> Vec<Param> {
    let mut v = vec![
        q("dryRun", DRY_RUN, "string"),
        q(
            "fieldManager",
            if patch {
                FIELD_MANAGER_PATCH
            } else {
                FIELD_MANAGER
            },
            "string",
        ),
        q("fieldValidation", FIELD_VALIDATION, "string"),
    ];
    if patch {
        v.push(q("force", FORCE, "boolean"));
    }
    v
}

struct Op {
    method: &'static str,
    action: &'static str,
    id: String,
    desc: String,
    gvk: Option<(String, String, String)>,
    params: Vec<Param>,
    /// Request body definition and the content types it is accepted as.
    body: Option<(String, Vec<&'static str>)>,
    /// Response definition (None: a plain string, as for connect and log).
    response: Option<String>,
    codes: Vec<&'static str>,
    produces: Vec<&'static str>,
    tag: String,
}

struct PathItem {
    path: String,
    ops: Vec<Op>,
    params: Vec<Param>,
}

fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    let first = group.split('.').next().unwrap_or(group);
    let parts: Vec<&str> = if group.ends_with(".k8s.io") {
        vec![first]
    } else {
        group.split('.').collect()
    };
    parts
        .iter()
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn tag_of(t: &ResourceType) -> String {
    let camel = group_camel(t.group);
    let mut c = camel.chars();
    let lower = match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    };
    format!("{lower}_{}", t.version)
}

fn produces_of(t: &ResourceType) -> Vec<&'static str> {
    if t.custom {
        vec!["application/json", "application/yaml"]
    } else {
        vec![
            "application/json",
            "application/yaml",
            "application/vnd.kubernetes.protobuf",
        ]
    }
}

fn patch_types(t: &ResourceType) -> Vec<&'static str> {
    let mut v = vec![
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
    ];
    if !t.custom {
        v.push("application/strategic-merge-patch+json");
    }
    if !t.custom {
        // kube-apiserver 1.32+ also accepts CBOR apply patches; JSON clients never send them.
    }
    v
}

fn paths_for(t: &ResourceType) -> Vec<PathItem> {
    let def = def_name(t);
    let gvk = |kind: &str| Some((t.group.to_string(), t.version.to_string(), kind.to_string()));
    let gv = group_camel(t.group) + &t.version[..1].to_uppercase() + &t.version[1..];
    let ns = if t.namespaced { "Namespaced" } else { "" };
    let prefix = t.prefix();
    let base = if t.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", t.plural)
    } else {
        format!("{prefix}/{}", t.plural)
    };
    let tag = tag_of(t);
    let produces = produces_of(t);
    let mk = |method: &'static str,
              action: &'static str,
              id: String,
              desc: String,
              kind: &str,
              params: Vec<Param>,
              body: Option<(String, Vec<&'static str>)>,
              response: Option<String>,
              codes: Vec<&'static str>| Op {
        method,
        action,
        id,
        desc,
        gvk: gvk(kind),
        params,
        body,
        response,
        codes,
        produces: produces.clone(),
        tag: tag.clone(),
    };
    let mut ns_param = vec![];
    if t.namespaced {
        ns_param.push(Param {
            name: "namespace",
            location: "path",
            desc: NAMESPACE.into(),
            ty: "string",
            required: true,
        });
    }
    let pretty = q("pretty", PRETTY, "string");
    let name_param = |what: &str| Param {
        name: "name",
        location: "path",
        desc: format!("name of the {what}"),
        ty: "string",
        required: true,
    };
    let list_def = format!("{def}List");
    let k = t.kind;
    let mut out = Vec::new();

    // Create-only review types.
    if t.verbs == ["create"] {
        out.push(PathItem {
            path: base,
            ops: vec![mk(
                "post",
                "post",
                format!("create{gv}{ns}{k}"),
                format!("create a {k}"),
                k,
                write_params(false),
                Some((def.clone(), vec!["*/*"])),
                Some(def.clone()),
                vec!["200", "201", "202", "401"],
            )],
            params: vec![pretty.clone()],
        });
        return out;
    }

    let mut coll_params = ns_param.clone();
    coll_params.push(pretty.clone());
    let mut coll_ops = vec![
        mk(
            "get",
            "list",
            format!("list{gv}{ns}{k}"),
            format!("list or watch objects of kind {k}"),
            k,
            list_params(),
            None,
            Some(list_def.clone()),
            vec!["200", "401"],
        ),
        mk(
            "post",
            "post",
            format!("create{gv}{ns}{k}"),
            format!("create {}", article(k)),
            k,
            write_params(false),
            Some((def.clone(), vec!["*/*"])),
            Some(def.clone()),
            vec!["200", "201", "202", "401"],
        ),
    ];
    if t.verbs.contains(&"deletecollection") {
        let mut p = vec![q(
            "continue",
            "The continue option should be set when retrieving more results from the server.",
            "string",
        )];
        p.extend(delete_params());
        p.extend(
            list_params()
                .into_iter()
                .filter(|x| !matches!(x.name, "continue" | "allowWatchBookmarks" | "watch")),
        );
        coll_ops.push(mk(
            "delete",
            "deletecollection",
            format!("deletecollection{gv}{ns}{k}"),
            format!("delete collection of {k}"),
            k,
            p,
            Some((format!("{M}DeleteOptions"), vec!["*/*"])),
            Some(format!("{M}Status")),
            vec!["200", "401"],
        ));
    }
    out.push(PathItem {
        path: base.clone(),
        ops: coll_ops,
        params: coll_params,
    });

    let mut item_params = vec![name_param(k)];
    item_params.extend(ns_param.clone());
    item_params.push(pretty.clone());
    out.push(PathItem {
        path: format!("{base}/{{name}}"),
        ops: vec![
            mk(
                "get",
                "get",
                format!("read{gv}{ns}{k}"),
                format!("read the specified {k}"),
                k,
                vec![],
                None,
                Some(def.clone()),
                vec!["200", "401"],
            ),
            mk(
                "put",
                "put",
                format!("replace{gv}{ns}{k}"),
                format!("replace the specified {k}"),
                k,
                write_params(false),
                Some((def.clone(), vec!["*/*"])),
                Some(def.clone()),
                vec!["200", "201", "401"],
            ),
            mk(
                "delete",
                "delete",
                format!("delete{gv}{ns}{k}"),
                format!("delete {}", article(k)),
                k,
                delete_params(),
                Some((format!("{M}DeleteOptions"), vec!["*/*"])),
                Some(format!("{M}Status")),
                vec!["200", "202", "401"],
            ),
            mk(
                "patch",
                "patch",
                format!("patch{gv}{ns}{k}"),
                format!("partially update the specified {k}"),
                k,
                write_params(true),
                Some((format!("{M}Patch"), patch_types(t))),
                Some(def.clone()),
                vec!["200", "201", "401"],
            ),
        ],
        params: item_params.clone(),
    });

    for sub in t.subresources {
        let cap = {
            let mut c = sub.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        };
        let path = format!("{base}/{{name}}/{sub}");
        match *sub {
            "status" | "scale" => {
                let (d, kind, what) = if *sub == "status" {
                    (
                        def.clone(),
                        k.to_string(),
                        format!("status of the specified {k}"),
                    )
                } else {
                    (
                        "io.k8s.api.autoscaling.v1.Scale".to_string(),
                        "Scale".to_string(),
                        format!("scale of the specified {k}"),
                    )
                };
                let g = if *sub == "scale" {
                    Some(("autoscaling".into(), "v1".into(), "Scale".into()))
                } else {
                    gvk(k)
                };
                let mut ops = vec![
                    mk(
                        "get",
                        "get",
                        format!("read{gv}{ns}{k}{cap}"),
                        format!("read {what}"),
                        &kind,
                        vec![],
                        None,
                        Some(d.clone()),
                        vec!["200", "401"],
                    ),
                    mk(
                        "put",
                        "put",
                        format!("replace{gv}{ns}{k}{cap}"),
                        format!("replace {what}"),
                        &kind,
                        write_params(false),
                        Some((d.clone(), vec!["*/*"])),
                        Some(d.clone()),
                        vec!["200", "201", "401"],
                    ),
                    mk(
                        "patch",
                        "patch",
                        format!("patch{gv}{ns}{k}{cap}"),
                        format!("partially update {what}"),
                        &kind,
                        write_params(true),
                        Some((format!("{M}Patch"), patch_types(t))),
                        Some(d.clone()),
                        vec!["200", "201", "401"],
                    ),
                ];
                for op in &mut ops {
                    op.gvk = g.clone();
                }
                let mut params = vec![name_param(&kind)];
                params.extend(ns_param.clone());
                params.push(pretty.clone());
                out.push(PathItem { path, ops, params });
            }
            "exec" | "proxy" | "attach" | "portforward" => {
                let opt_kind = format!(
                    "{k}{}Options",
                    if *sub == "portforward" {
                        "PortForward".to_string()
                    } else {
                        cap.clone()
                    }
                );
                let methods: &[&'static str] = match *sub {
                    "exec" | "attach" | "portforward" => &["get", "post"],
                    _ => &["get", "put", "post", "delete", "options", "head", "patch"],
                };
                let mut qp: Vec<Param> = match *sub {
                    "exec" => vec![
                        q(
                            "command",
                            "Command is the remote command to execute. argv array. Not executed within a shell.",
                            "string",
                        ),
                        q(
                            "container",
                            "Container in which to execute the command. Defaults to only container if there is only one container in the pod.",
                            "string",
                        ),
                        q(
                            "stderr",
                            "Redirect the standard error stream of the pod for this call.",
                            "boolean",
                        ),
                        q(
                            "stdin",
                            "Redirect the standard input stream of the pod for this call. Defaults to false.",
                            "boolean",
                        ),
                        q(
                            "stdout",
                            "Redirect the standard output stream of the pod for this call.",
                            "boolean",
                        ),
                        q(
                            "tty",
                            "TTY if true indicates that a tty will be allocated for the exec call. Defaults to false.",
                            "boolean",
                        ),
                    ],
                    "proxy" => vec![q(
                        "path",
                        &format!(
                            "Path is the URL path to use for the current proxy request to {}.",
                            if k == "Node" { "node" } else { "pod" }
                        ),
                        "string",
                    )],
                    _ => vec![],
                };
                let mut params = vec![Param {
                    name: "name",
                    location: "path",
                    desc: format!("name of the {opt_kind}"),
                    ty: "string",
                    required: true,
                }];
                params.extend(ns_param.clone());
                params.append(&mut qp);
                let ops: Vec<Op> = methods
                    .iter()
                    .map(|m| {
                        let mcap = {
                            let mut c = m.chars();
                            c.next()
                                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                                .unwrap_or_default()
                        };
                        Op {
                            method: m,
                            action: "connect",
                            id: format!("connect{gv}{mcap}{ns}{k}{cap}"),
                            desc: format!("connect {} requests to {sub} of {k}", m.to_uppercase()),
                            gvk: gvk(&opt_kind),
                            params: vec![],
                            body: None,
                            response: None,
                            codes: vec!["200", "401"],
                            produces: vec!["*/*"],
                            tag: tag.clone(),
                        }
                    })
                    .collect();
                out.push(PathItem {
                    path: path.clone(),
                    ops,
                    params: params.clone(),
                });
                if *sub == "proxy" {
                    let mut p2 = vec![Param {
                        name: "name",
                        location: "path",
                        desc: format!("name of the {opt_kind}"),
                        ty: "string",
                        required: true,
                    }];
                    p2.extend(ns_param.clone());
                    p2.push(Param {
                        name: "path",
                        location: "path",
                        desc: "path to the resource".into(),
                        ty: "string",
                        required: true,
                    });
                    p2.push(q(
                        "path",
                        &format!(
                            "Path is the URL path to use for the current proxy request to {}.",
                            if k == "Node" { "node" } else { "pod" }
                        ),
                        "string",
                    ));
                    let ops2: Vec<Op> = methods
                        .iter()
                        .map(|m| {
                            let mcap = {
                                let mut c = m.chars();
                                c.next()
                                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                                    .unwrap_or_default()
                            };
                            Op {
                                method: m,
                                action: "connect",
                                id: format!("connect{gv}{mcap}{ns}{k}ProxyWithPath"),
                                desc: format!(
                                    "connect {} requests to proxy of {k}",
                                    m.to_uppercase()
                                ),
                                gvk: gvk(&opt_kind),
                                params: vec![],
                                body: None,
                                response: None,
                                codes: vec!["200", "401"],
                                produces: vec!["*/*"],
                                tag: tag.clone(),
                            }
                        })
                        .collect();
                    out.push(PathItem {
                        path: format!("{path}/{{path}}"),
                        ops: ops2,
                        params: p2,
                    });
                }
            }
            "log" => {
                let mut params = vec![name_param(k)];
                params.extend(ns_param.clone());
                params.extend([
                    q("container", "The container for which to stream logs. Defaults to only container if there is one container in the pod.", "string"),
                    q("follow", "Follow the log stream of the pod. Defaults to false.", "boolean"),
                    q("insecureSkipTLSVerifyBackend", "insecureSkipTLSVerifyBackend indicates that the apiserver should not confirm the validity of the serving certificate of the backend it is connecting to.", "boolean"),
                    q("limitBytes", "If set, the number of bytes to read from the server before terminating the log output.", "integer"),
                    pretty.clone(),
                    q("previous", "Return previous terminated container logs. Defaults to false.", "boolean"),
                    q("sinceSeconds", "A relative time in seconds before the current time from which to show logs.", "integer"),
                    q("stream", "Specify which container log stream to return to the client. Acceptable values are \"All\", \"Stdout\" and \"Stderr\". If not specified, \"All\" is used, and both stdout and stderr are returned interleaved. Note that when \"TailLines\" is specified, \"Stream\" can only be set to nil or \"All\".", "string"),
                    q("tailLines", "If set, the number of lines from the end of the logs to show.", "integer"),
                    q("timestamps", "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. Defaults to false.", "boolean"),
                ]);
                out.push(PathItem {
                    path,
                    ops: vec![Op {
                        method: "get",
                        action: "get",
                        id: format!("read{gv}{ns}{k}Log"),
                        desc: format!("read log of the specified {k}"),
                        gvk: gvk(k),
                        params: vec![],
                        body: None,
                        response: None,
                        codes: vec!["200", "401"],
                        produces: vec![
                            "text/plain",
                            "application/json",
                            "application/yaml",
                            "application/vnd.kubernetes.protobuf",
                        ],
                        tag: tag.clone(),
                    }],
                    params,
                });
            }
            _ => {}
        }
    }

    if t.namespaced {
        let mut p = list_params();
        p.push(pretty);
        out.push(PathItem {
            path: format!("{prefix}/{}", t.plural),
            ops: vec![mk(
                "get",
                "list",
                format!("list{gv}{k}ForAllNamespaces"),
                format!("list or watch objects of kind {k}"),
                k,
                vec![],
                None,
                Some(list_def),
                vec!["200", "401"],
            )],
            params: p,
        });
    }
    out
}

fn article(kind: &str) -> String {
    match kind.chars().next() {
        Some('A' | 'E' | 'I' | 'O' | 'U') => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

fn gvk_obj(g: &(String, String, String)) -> Value {
    json!({"group": g.0, "kind": g.2, "version": g.1})
}

fn v3_param(p: &Param) -> Value {
    let mut v = json!({"name": p.name, "in": p.location, "description": p.desc,
        "schema": {"type": p.ty, "uniqueItems": true}});
    if p.required {
        v["required"] = json!(true);
    }
    v
}

fn v2_param(p: &Param) -> Value {
    let mut v = json!({"uniqueItems": true, "type": p.ty, "description": p.desc,
        "name": p.name, "in": p.location});
    if p.required {
        v["required"] = json!(true);
    }
    v
}

fn status_text(code: &str) -> &'static str {
    match code {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        "401" => "Unauthorized",
        _ => "",
    }
}

fn v3_op(op: &Op) -> Value {
    let mut responses = Map::new();
    for c in &op.codes {
        let mut r = json!({"description": status_text(c)});
        if *c != "401" {
            let schema = match &op.response {
                Some(d) => json!({"$ref": format!("{REF}{d}")}),
                None => json!({"type": "string"}),
            };
            let content: Map<String, Value> = op
                .produces
                .iter()
                .map(|p| ((*p).to_string(), json!({"schema": schema.clone()})))
                .collect();
            r["content"] = Value::Object(content);
        }
        responses.insert((*c).to_string(), r);
    }
    let mut v = json!({
        "tags": [op.tag],
        "description": op.desc,
        "operationId": op.id,
        "responses": responses,
        "x-kubernetes-action": op.action,
    });
    if !op.params.is_empty() {
        v["parameters"] = Value::Array(op.params.iter().map(v3_param).collect());
    }
    if let Some((d, types)) = &op.body {
        let content: Map<String, Value> = types
            .iter()
            .map(|t| {
                (
                    (*t).to_string(),
                    json!({"schema": {"$ref": format!("{REF}{d}")}}),
                )
            })
            .collect();
        v["requestBody"] = json!({"content": content, "required": true});
    }
    if let Some(g) = &op.gvk {
        v["x-kubernetes-group-version-kind"] = gvk_obj(g);
    }
    v
}

fn v2_op(op: &Op) -> Value {
    let mut responses = Map::new();
    for c in &op.codes {
        let mut r = json!({"description": status_text(c)});
        if *c != "401" {
            r["schema"] = match &op.response {
                Some(d) => json!({"$ref": format!("#/definitions/{d}")}),
                None => json!({"type": "string"}),
            };
        }
        responses.insert((*c).to_string(), r);
    }
    let mut params: Vec<Value> = Vec::new();
    if let Some((d, _)) = &op.body {
        params.push(json!({"name": "body", "in": "body", "required": true,
            "schema": {"$ref": format!("#/definitions/{d}")}}));
    }
    params.extend(op.params.iter().map(v2_param));
    let consumes: Vec<&str> = match &op.body {
        Some((_, t)) => t.clone(),
        None => vec!["*/*"],
    };
    let mut v = json!({
        "description": op.desc,
        "consumes": consumes,
        "produces": op.produces,
        "schemes": ["https"],
        "tags": [op.tag],
        "operationId": op.id,
        "responses": responses,
        "x-kubernetes-action": op.action,
    });
    if !params.is_empty() {
        v["parameters"] = Value::Array(params);
    }
    if let Some(g) = &op.gvk {
        v["x-kubernetes-group-version-kind"] = gvk_obj(g);
    }
    v
}

fn response_defs(items: &[PathItem]) -> Vec<String> {
    let mut v = Vec::new();
    for it in items {
        for op in &it.ops {
            if let Some(d) = &op.response {
                v.push(d.clone());
            }
            if let Some((d, _)) = &op.body {
                v.push(d.clone());
            }
        }
    }
    v
}

fn info(version: &str) -> Value {
    json!({"title": "Kubernetes", "version": version})
}

const INFO_VERSION: &str = "v1.33.1";

/// `/openapi/v2`: the Swagger 2.0 document of every served path.
pub fn v2(registry: &Registry) -> Value {
    let defs = all_defs();
    let mut paths = Map::new();
    let mut roots = Vec::new();
    for t in registry.all() {
        let items = paths_for(t);
        roots.extend(response_defs(&items));
        roots.push(def_name(t));
        for it in items {
            let mut p = Map::new();
            for op in &it.ops {
                p.insert(op.method.to_string(), v2_op(op));
            }
            p.insert(
                "parameters".into(),
                Value::Array(it.params.iter().map(v2_param).collect()),
            );
            paths.insert(it.path, Value::Object(p));
        }
    }
    let mut definitions = Map::new();
    for n in reachable(&defs, &roots) {
        if let Some(d) = defs.get(&n) {
            definitions.insert(n, d.clone());
        }
    }
    let text = serde_json::to_string(&Value::Object(definitions))
        .unwrap_or_default()
        .replace(REF, "#/definitions/");
    let definitions: Value = serde_json::from_str(&text).unwrap_or_else(|_| json!({}));
    json!({
        "swagger": "2.0",
        "info": info(INFO_VERSION),
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication", "type": "apiKey", "name": "authorization", "in": "header"}},
        "security": [{"BearerToken": []}],
    })
}

/// The group versions with a v3 document: `api/v1`, `apis/apps/v1` ...
fn gv_paths(registry: &Registry) -> Vec<String> {
    registry
        .group_versions()
        .into_iter()
        .map(|(g, v)| {
            if g.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{g}/{v}")
            }
        })
        .collect()
}

fn discovery_schemas() -> Value {
    let gvd = || meta("GroupVersionForDiscovery");
    let cidr = || meta("ServerAddressByClientCIDR");
    let group = req(
        obj(&[
            ("apiVersion", st()),
            ("kind", st()),
            ("name", st()),
            ("preferredVersion", gvd()),
            ("serverAddressByClientCIDRs", atomic(cidr())),
            ("versions", atomic(gvd())),
        ]),
        &["name", "versions"],
    );
    let schemas = json!({
        format!("{M}APIVersions"): gvk_ext(req(obj(&[
            ("apiVersion", st()),
            ("kind", st()),
            ("serverAddressByClientCIDRs", atomic(cidr())),
            ("versions", atomic(st())),
        ]), &["versions", "serverAddressByClientCIDRs"]), "", "v1", "APIVersions"),
        format!("{M}APIGroupList"): gvk_ext(req(obj(&[
            ("apiVersion", st()),
            ("groups", atomic(meta("APIGroup"))),
            ("kind", st()),
        ]), &["groups"]), "", "v1", "APIGroupList"),
        format!("{M}APIGroup"): gvk_ext(group, "", "v1", "APIGroup"),
        format!("{M}GroupVersionForDiscovery"): req(obj(&[("groupVersion", st()), ("version", st())]), &["groupVersion", "version"]),
        format!("{M}ServerAddressByClientCIDR"): req(obj(&[("clientCIDR", st()), ("serverAddress", st())]), &["clientCIDR", "serverAddress"]),
    });
    v3_wrap(&schemas)
}

fn discovery_doc(path: &str, op_id: &str, tag: &str, desc: &str, response: &str) -> Value {
    let mut schemas = discovery_schemas();
    if let Some(m) = schemas.as_object_mut() {
        let keep = |k: &str| {
            k.ends_with(response)
                || k.ends_with("GroupVersionForDiscovery")
                || k.ends_with("ServerAddressByClientCIDR")
                || (response == "APIGroupList" && k.ends_with("APIGroup"))
        };
        m.retain(|k, _| keep(k));
    }
    json!({
        "openapi": "3.0.0",
        "info": info(INFO_VERSION),
        "paths": {
            path: {"get": {
                "tags": [tag],
                "description": desc,
                "operationId": op_id,
                "responses": {
                    "200": {"description": "OK", "content": {
                        "application/json": {"schema": {"$ref": format!("{REF}{M}{response}")}},
                        "application/yaml": {"schema": {"$ref": format!("{REF}{M}{response}")}},
                        "application/vnd.kubernetes.protobuf": {"schema": {"$ref": format!("{REF}{M}{response}")}}}},
                    "401": {"description": "Unauthorized"}}}}},
        "components": {"schemas": schemas, "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}}},
    })
}

/// `/openapi/v3/{path}`: the document of one group version (`api/v1`, `apis/apps/v1`), or
/// of the discovery paths (`api`, `apis`, `apis/{group}`, `version`); None when not served.
pub fn v3_doc(registry: &Registry, path: &str) -> Option<Value> {
    let path = path.trim_matches('/');
    match path {
        "api" => {
            return Some(discovery_doc(
                "/api/",
                "getCoreAPIVersions",
                "core",
                "get available API versions",
                "APIVersions",
            ));
        }
        "apis" => {
            return Some(discovery_doc(
                "/apis/",
                "getAPIVersions",
                "apis",
                "get available API versions",
                "APIGroupList",
            ));
        }
        _ => {}
    }
    if let Some(g) = path.strip_prefix("apis/")
        && !g.contains('/')
    {
        if !registry.group_versions().iter().any(|(x, _)| *x == g) {
            return None;
        }
        let camel = group_camel(g);
        let mut tag = camel.clone();
        if let Some(f) = tag.get(..1) {
            tag = f.to_lowercase() + &camel[1..];
        }
        return Some(discovery_doc(
            &format!("/apis/{g}/"),
            &format!("get{camel}APIGroup"),
            &tag,
            "get information of a group",
            "APIGroup",
        ));
    }
    if !gv_paths(registry).iter().any(|p| p == path) {
        return None;
    }
    let (group, version) = match path.strip_prefix("api/") {
        Some(v) => ("", v),
        None => path.strip_prefix("apis/")?.split_once('/')?,
    };
    let defs = all_defs();
    let mut paths = Map::new();
    let mut roots = Vec::new();
    for t in registry
        .all()
        .iter()
        .filter(|t| t.group == group && t.version == version)
    {
        let items = paths_for(t);
        roots.extend(response_defs(&items));
        roots.push(def_name(t));
        for it in items {
            let mut p = Map::new();
            for op in &it.ops {
                p.insert(op.method.to_string(), v3_op(op));
            }
            p.insert(
                "parameters".into(),
                Value::Array(it.params.iter().map(v3_param).collect()),
            );
            paths.insert(it.path, Value::Object(p));
        }
    }
    let mut schemas = Map::new();
    for n in reachable(&defs, &roots) {
        if let Some(d) = defs.get(&n) {
            schemas.insert(n, v3_wrap(d));
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": info(INFO_VERSION),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
        },
    }))
}

/// kube-openapi handler3's ETag/hash of a document: uppercase hex SHA-512 of its bytes.
fn doc_hash(doc: &Value) -> String {
    let bytes = serde_json::to_vec(doc).unwrap_or_default();
    Sha512::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// `/openapi/v3`: every document's path with its `serverRelativeURL` (and hash).
pub fn v3_index(registry: &Registry) -> Value {
    let mut names: Vec<String> = vec!["api".into(), "apis".into()];
    let mut groups: Vec<&str> = Vec::new();
    for (g, _) in registry.group_versions() {
        if !g.is_empty() && !groups.contains(&g) {
            groups.push(g);
        }
    }
    names.extend(groups.iter().map(|g| format!("apis/{g}")));
    names.extend(gv_paths(registry));
    let mut paths = Map::new();
    for n in names {
        if let Some(doc) = v3_doc(registry, &n) {
            paths.insert(
                n.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{n}?hash={}", doc_hash(&doc))}),
            );
        }
    }
    json!({"paths": paths})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// query_param_verifier_v3.go supportsQueryParamV3, transcribed.
    fn supports_field_validation(doc: &Value, g: &str, v: &str, k: &str) -> bool {
        for (_, item) in doc["paths"].as_object().unwrap() {
            let Some(op) = item.get("patch") else {
                continue;
            };
            let gvk = &op["x-kubernetes-group-version-kind"];
            if gvk["group"] != g || gvk["version"] != v || gvk["kind"] != k {
                continue;
            }
            return op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation");
        }
        false
    }

    /// patcher.go gvkSupportsPatchOpenAPIV3, transcribed.
    fn supports_smp(doc: &Value, g: &str, v: &str, k: &str) -> bool {
        for (_, item) in doc["paths"].as_object().unwrap() {
            let Some(op) = item.get("patch") else {
                continue;
            };
            let gvk = &op["x-kubernetes-group-version-kind"];
            if gvk["group"] == g && gvk["version"] == v && gvk["kind"] == k {
                return op["requestBody"]["content"]
                    .get("application/strategic-merge-patch+json")
                    .is_some();
            }
        }
        false
    }

    /// strategicpatch PatchMetaFromOpenAPIV3: resolve `allOf[0]` / `$ref`.
    fn resolve<'a>(doc: &'a Value, mut s: &'a Value) -> &'a Value {
        if let Some(a) = s.get("allOf").and_then(Value::as_array) {
            s = &a[0];
        }
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let n = r.trim_start_matches(REF);
            return &doc["components"]["schemas"][n];
        }
        s
    }

    /// The component schema of a GVK (x-kubernetes-group-version-kind array).
    fn component<'a>(doc: &'a Value, g: &str, v: &str, k: &str) -> &'a Value {
        doc["components"]["schemas"]
            .as_object()
            .unwrap()
            .values()
            .find(|s| {
                s["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|a| {
                        a.iter()
                            .any(|x| x["group"] == g && x["version"] == v && x["kind"] == k)
                    })
            })
            .unwrap()
    }

    /// Walks a path of property names (`[]` steps into items), as the patch meta lookup does.
    fn lookup<'a>(doc: &'a Value, mut s: &'a Value, path: &[&str]) -> &'a Value {
        for p in path {
            s = resolve(doc, s);
            if *p == "[]" {
                s = &s["items"];
            } else {
                s = s["properties"]
                    .get(*p)
                    .unwrap_or_else(|| panic!("no field {p}"));
            }
        }
        s
    }

    #[test]
    fn every_served_gvk_supports_field_validation() {
        let r = Registry::new(true);
        for t in r.all() {
            let doc = v3_doc(&r, t.prefix().trim_start_matches('/')).unwrap();
            if t.verbs == ["create"] {
                continue;
            }
            assert!(
                supports_field_validation(&doc, t.group, t.version, t.kind),
                "{}",
                t.kind
            );
            assert_eq!(
                supports_smp(&doc, t.group, t.version, t.kind),
                !t.custom,
                "{}",
                t.kind
            );
        }
    }

    #[test]
    fn patch_metadata_of_the_fields_the_tests_touch() {
        let r = Registry::new(false);
        let doc = v3_doc(&r, "api/v1").unwrap();
        let svc = component(&doc, "", "v1", "Service");
        let ports = lookup(&doc, svc, &["spec", "ports"]);
        assert_eq!(ports["x-kubernetes-patch-merge-key"], "port");
        assert_eq!(ports["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(
            lookup(&doc, svc, &["spec", "ports", "[]", "targetPort"])["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"
        );
        lookup(&doc, svc, &["spec", "selector"]);
        lookup(&doc, svc, &["metadata", "labels"]);
        lookup(&doc, svc, &["metadata", "annotations"]);
        let ep = component(&doc, "", "v1", "Endpoints");
        lookup(&doc, ep, &["subsets", "[]", "addresses", "[]", "ip"]);
        lookup(&doc, ep, &["subsets", "[]", "ports", "[]", "port"]);
        let pod = component(&doc, "", "v1", "Pod");
        assert_eq!(
            lookup(&doc, pod, &["spec", "containers"])["x-kubernetes-patch-merge-key"],
            "name"
        );
        assert_eq!(
            lookup(&doc, pod, &["spec", "volumes"])["x-kubernetes-patch-strategy"],
            "merge,retainKeys"
        );
        lookup(
            &doc,
            pod,
            &["spec", "volumes", "[]", "secret", "items", "[]", "key"],
        );
        assert_eq!(
            lookup(&doc, pod, &["spec", "containers", "[]", "volumeMounts"])["x-kubernetes-patch-merge-key"],
            "mountPath"
        );
        let sec = component(&doc, "", "v1", "Secret");
        lookup(&doc, sec, &["data"]);
        lookup(&doc, sec, &["stringData"]);
        lookup(&doc, sec, &["type"]);
        lookup(&doc, component(&doc, "", "v1", "ConfigMap"), &["data"]);
        let apps = v3_doc(&r, "apis/apps/v1").unwrap();
        let sts = component(&apps, "apps", "v1", "StatefulSet");
        assert_eq!(
            lookup(&apps, sts, &["spec", "template", "spec", "containers"])["x-kubernetes-patch-merge-key"],
            "name"
        );
        let ds = component(&apps, "apps", "v1", "DaemonSet");
        lookup(&apps, ds, &["spec", "template", "metadata", "labels"]);
    }

    #[test]
    fn every_ref_resolves() {
        let r = Registry::new(true);
        fn check(v: &Value, prefix: &str, defs: &Value) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        if k == "$ref" {
                            let n = x.as_str().unwrap().strip_prefix(prefix).unwrap();
                            assert!(defs.get(n).is_some(), "unresolved {n}");
                        } else {
                            check(x, prefix, defs);
                        }
                    }
                }
                Value::Array(a) => a.iter().for_each(|x| check(x, prefix, defs)),
                _ => {}
            }
        }
        let idx = v3_index(&r);
        for (p, e) in idx["paths"].as_object().unwrap() {
            let url = e["serverRelativeURL"].as_str().unwrap();
            assert!(url.starts_with(&format!("/openapi/v3/{p}?hash=")));
            assert_eq!(url.len(), format!("/openapi/v3/{p}?hash=").len() + 128);
            let doc = v3_doc(&r, p).unwrap();
            check(&doc, REF, &doc["components"]["schemas"]);
        }
        assert!(idx["paths"].get("api/v1").is_some());
        assert!(idx["paths"].get("apis/monitoring.coreos.com/v1").is_some());
        assert!(
            v3_index(&Registry::new(false))["paths"]
                .get("apis/monitoring.coreos.com/v1")
                .is_none()
        );
        assert!(v3_doc(&r, "apis/batch/v1").is_none());
        let sw = v2(&r);
        check(&sw, "#/definitions/", &sw["definitions"]);
        let p = &sw["paths"]["/api/v1/namespaces/{namespace}/services/{name}"]["patch"];
        assert!(
            p["consumes"]
                .as_array()
                .unwrap()
                .contains(&json!("application/strategic-merge-patch+json"))
        );
        assert_eq!(p["x-kubernetes-group-version-kind"]["kind"], "Service");
        assert!(
            p["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["name"] == "fieldValidation")
        );
    }

    #[test]
    fn operation_ids_and_subresources() {
        let r = Registry::new(true);
        let doc = v3_doc(&r, "api/v1").unwrap();
        let p = &doc["paths"]["/api/v1/namespaces/{namespace}/services/{name}"]["patch"];
        assert_eq!(p["operationId"], "patchCoreV1NamespacedService");
        assert_eq!(p["tags"], json!(["core_v1"]));
        let exec = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/exec"]["post"];
        assert_eq!(exec["x-kubernetes-action"], "connect");
        assert_eq!(
            exec["x-kubernetes-group-version-kind"]["kind"],
            "PodExecOptions"
        );
        assert_eq!(exec["operationId"], "connectCoreV1PostNamespacedPodExec");
        let m = v3_doc(&r, "apis/monitoring.coreos.com/v1").unwrap();
        let p = &m["paths"]["/apis/monitoring.coreos.com/v1/namespaces/{namespace}/servicemonitors/{name}"]
            ["patch"];
        assert_eq!(
            p["operationId"],
            "patchMonitoringCoreosComV1NamespacedServiceMonitor"
        );
        let scale = &doc["paths"];
        assert!(scale.get("/api/v1/nodes/{name}/proxy/{path}").is_some());
        let apps = v3_doc(&r, "apis/apps/v1").unwrap();
        let sp = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}/scale"]["patch"];
        assert_eq!(
            sp["x-kubernetes-group-version-kind"]["group"],
            "autoscaling"
        );
    }
}
