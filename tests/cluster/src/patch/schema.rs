//! The type facts the real API server takes from its OpenAPI schema (structured-merge-diff) and
//! from the Go struct tags (strategic merge patch), for the fields of the served types.
//!
//! Sources: k8s.io/api/core/v1/types.go, apps/v1/types.go, discovery/v1/types.go and
//! apimachinery/pkg/apis/meta/v1/types.go (`+listType`, `+listMapKey`, `+mapType`, `+structType`,
//! `patchStrategy`, `patchMergeKey`); k8s.io/apimachinery/pkg/util/managedfields/internal
//! schemaconv: a list without `x-kubernetes-list-type` but with `patchStrategy: merge` is
//! associative, keyed by its merge key (a set without one); every other list is atomic.
//! Custom resources follow the prometheus-operator CRDs: objects granular, lists atomic except
//! Prometheus `spec.secrets` (`+listType:=set`, prometheus-operator PR #6762), label selectors
//! atomic (`x-kubernetes-map-type: atomic`, from metav1.LabelSelector's `+structType=atomic`).
//!
//! Fields not listed are "deduced": objects granular, lists atomic, scalars leaves.

use crate::resources::ResourceType;

/// A named struct whose fields are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S {
    Root(&'static str),
    ObjectMeta,
    ServiceSpec,
    ServiceStatus,
    ServicePort,
    PodTemplateSpec,
    PodSpec,
    Container,
    EnvVar,
    EnvVarSource,
    Volume,
    StatefulSetSpec,
    DaemonSetSpec,
    PodStatus,
    NodeSpec,
    NodeStatus,
    PrometheusSpec,
    MonitorSpec,
}

/// How a list is merged by server-side apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L {
    Atomic,
    Set,
    /// Associative, keyed by these fields (with their schema defaults).
    Map(&'static [(&'static str, Option<&'static str>)]),
}

/// The type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Scalar,
    /// Replaced as a whole (atomic map, atomic struct, atomic list).
    Atomic,
    /// Unknown structure: objects granular (all keys fields), lists atomic.
    Deduced,
    Struct(S),
    /// `map[string]string`, granular.
    StrMap,
    List(L, &'static Ty),
}

/// One field: its type, whether Go's zero value of the parent carries it as `{}` (a non-pointer
/// struct), and its strategic-merge-patch strategy (`Some(key)` = patchStrategy merge, "" = no key).
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub ty: Ty,
    pub zero: bool,
    pub smp_merge: Option<&'static str>,
}

const fn f(ty: Ty) -> Field {
    Field {
        ty,
        zero: false,
        smp_merge: None,
    }
}
const fn z(ty: Ty) -> Field {
    Field {
        ty,
        zero: true,
        smp_merge: None,
    }
}
const fn m(ty: Ty, key: &'static str) -> Field {
    Field {
        ty,
        zero: false,
        smp_merge: Some(key),
    }
}

static SCALAR: Ty = Ty::Scalar;
static ATOMIC: Ty = Ty::Atomic;
static DEDUCED: Ty = Ty::Deduced;
static PORT: Ty = Ty::Struct(S::ServicePort);
static CONTAINER: Ty = Ty::Struct(S::Container);
static VOLUME: Ty = Ty::Struct(S::Volume);
static ENVVAR: Ty = Ty::Struct(S::EnvVar);

const NAME_KEY: &[(&str, Option<&str>)] = &[("name", None)];
const TYPE_KEY: &[(&str, Option<&str>)] = &[("type", None)];
const IP_KEY: &[(&str, Option<&str>)] = &[("ip", None)];

/// The root type of a resource's objects.
pub fn root(rt: &ResourceType) -> Ty {
    Ty::Struct(S::Root(rt.kind))
}

/// Whether the struct is a built-in type (Go zero values apply); custom resources are unstructured.
pub fn builtin(s: S) -> bool {
    !matches!(
        s,
        S::Root("Prometheus")
            | S::Root("ServiceMonitor")
            | S::Root("PodMonitor")
            | S::PrometheusSpec
            | S::MonitorSpec
    )
}

/// The field `name` of struct `s`; unknown fields are deduced.
pub fn field(s: S, name: &str) -> Field {
    use Ty::*;
    let known: Option<Field> = match s {
        S::Root(kind) => match (kind, name) {
            (_, "apiVersion" | "kind") => Some(f(Scalar)),
            ("Prometheus" | "ServiceMonitor" | "PodMonitor", "metadata") => {
                Some(f(Struct(S::ObjectMeta)))
            }
            (_, "metadata") => Some(z(Struct(S::ObjectMeta))),
            ("Service", "spec") => Some(z(Struct(S::ServiceSpec))),
            ("Service", "status") => Some(z(Struct(S::ServiceStatus))),
            ("Pod", "spec") => Some(z(Struct(S::PodSpec))),
            ("Pod", "status") => Some(z(Struct(S::PodStatus))),
            ("StatefulSet", "spec") => Some(z(Struct(S::StatefulSetSpec))),
            ("DaemonSet", "spec") => Some(z(Struct(S::DaemonSetSpec))),
            ("StatefulSet" | "DaemonSet" | "Namespace", "status") => Some(z(Deduced)),
            ("Namespace", "spec") => Some(z(Deduced)),
            ("Node", "spec") => Some(z(Struct(S::NodeSpec))),
            ("Node", "status") => Some(z(Struct(S::NodeStatus))),
            ("Secret", "data" | "stringData") | ("ConfigMap", "data" | "binaryData") => {
                Some(f(StrMap))
            }
            // +listType=atomic (core/v1 Endpoints.Subsets, discovery/v1 EndpointSlice)
            ("Endpoints", "subsets") | ("EndpointSlice", "endpoints" | "ports") => {
                Some(f(List(L::Atomic, &ATOMIC)))
            }
            // ServiceAccount.Secrets: patchStrategy merge, patchMergeKey name, +listType=map
            ("ServiceAccount", "secrets") => Some(m(List(L::Map(NAME_KEY), &ATOMIC), "name")),
            ("ServiceAccount", "imagePullSecrets") => Some(f(List(L::Atomic, &ATOMIC))),
            ("Prometheus", "spec") => Some(f(Struct(S::PrometheusSpec))),
            ("ServiceMonitor" | "PodMonitor", "spec") => Some(f(Struct(S::MonitorSpec))),
            _ => None,
        },
        S::ObjectMeta => match name {
            "labels" | "annotations" => Some(f(StrMap)),
            // +listType=set, patchStrategy merge
            "finalizers" => Some(m(List(L::Set, &SCALAR), "")),
            // OwnerReference is +structType=atomic; +listType=map +listMapKey=uid
            "ownerReferences" => Some(m(List(L::Map(&[("uid", None)]), &ATOMIC), "uid")),
            "managedFields" => Some(f(Atomic)),
            _ => Some(f(Scalar)),
        },
        S::ServiceSpec => match name {
            // +listType=map +listMapKey=port +listMapKey=protocol; patchMergeKey port.
            // protocol defaults to TCP in the OpenAPI schema, which SSA uses for the key.
            "ports" => Some(m(
                List(L::Map(&[("port", None), ("protocol", Some("TCP"))]), &PORT),
                "port",
            )),
            // +mapType=atomic
            "selector" => Some(f(Atomic)),
            "clusterIPs" | "externalIPs" | "ipFamilies" | "loadBalancerSourceRanges" => {
                Some(f(List(L::Atomic, &SCALAR)))
            }
            "sessionAffinityConfig" => Some(f(Deduced)),
            _ => Some(f(Scalar)),
        },
        S::ServiceStatus => match name {
            "loadBalancer" => Some(z(Deduced)),
            "conditions" => Some(m(List(L::Map(TYPE_KEY), &DEDUCED), "type")),
            _ => None,
        },
        S::ServicePort => Some(f(Scalar)),
        S::PodTemplateSpec => match name {
            "metadata" => Some(z(Struct(S::ObjectMeta))),
            "spec" => Some(z(Struct(S::PodSpec))),
            _ => None,
        },
        S::PodSpec => match name {
            "volumes" => Some(m(List(L::Map(NAME_KEY), &VOLUME), "name")),
            "containers" | "initContainers" | "ephemeralContainers" => {
                Some(m(List(L::Map(NAME_KEY), &CONTAINER), "name"))
            }
            "imagePullSecrets" => Some(m(List(L::Map(NAME_KEY), &ATOMIC), "name")),
            "hostAliases" => Some(m(List(L::Map(IP_KEY), &DEDUCED), "ip")),
            "topologySpreadConstraints" => Some(m(
                List(
                    L::Map(&[("topologyKey", None), ("whenUnsatisfiable", None)]),
                    &DEDUCED,
                ),
                "topologyKey",
            )),
            "schedulingGates" | "resourceClaims" => {
                Some(m(List(L::Map(NAME_KEY), &DEDUCED), "name"))
            }
            // +mapType=atomic
            "nodeSelector" => Some(f(Atomic)),
            "tolerations" | "readinessGates" => Some(f(List(L::Atomic, &ATOMIC))),
            _ => None,
        },
        S::Container => match name {
            // +listType=map +listMapKey=containerPort +listMapKey=protocol
            "ports" => Some(m(
                List(
                    L::Map(&[("containerPort", None), ("protocol", Some("TCP"))]),
                    &DEDUCED,
                ),
                "containerPort",
            )),
            "env" => Some(m(List(L::Map(NAME_KEY), &ENVVAR), "name")),
            "volumeMounts" => Some(m(
                List(L::Map(&[("mountPath", None)]), &DEDUCED),
                "mountPath",
            )),
            "volumeDevices" => Some(m(
                List(L::Map(&[("devicePath", None)]), &DEDUCED),
                "devicePath",
            )),
            "resources" => Some(z(Deduced)),
            "args" | "command" | "envFrom" | "resizePolicy" => Some(f(List(L::Atomic, &ATOMIC))),
            _ => None,
        },
        S::EnvVar => match name {
            "valueFrom" => Some(f(Struct(S::EnvVarSource))),
            _ => Some(f(Scalar)),
        },
        // SecretKeySelector, ConfigMapKeySelector, ObjectFieldSelector, ResourceFieldSelector:
        // +structType=atomic
        S::EnvVarSource => Some(f(Atomic)),
        S::Volume => None,
        S::StatefulSetSpec => match name {
            // metav1.LabelSelector: +structType=atomic
            "selector" => Some(f(Atomic)),
            "template" => Some(z(Struct(S::PodTemplateSpec))),
            "updateStrategy" => Some(z(Deduced)),
            "volumeClaimTemplates" => Some(f(List(L::Atomic, &ATOMIC))),
            _ => None,
        },
        S::DaemonSetSpec => match name {
            "selector" => Some(f(Atomic)),
            "template" => Some(z(Struct(S::PodTemplateSpec))),
            "updateStrategy" => Some(z(Deduced)),
            _ => None,
        },
        S::PodStatus => match name {
            "conditions" => Some(m(List(L::Map(TYPE_KEY), &DEDUCED), "type")),
            "podIPs" | "hostIPs" => Some(m(List(L::Map(IP_KEY), &DEDUCED), "ip")),
            _ => None,
        },
        S::NodeSpec => match name {
            "podCIDRs" => Some(m(List(L::Set, &SCALAR), "")),
            _ => None,
        },
        S::NodeStatus => match name {
            "conditions" | "addresses" => Some(m(List(L::Map(TYPE_KEY), &DEDUCED), "type")),
            "daemonEndpoints" | "nodeInfo" => Some(z(Deduced)),
            _ => None,
        },
        S::PrometheusSpec => match name {
            // +listType:=set (prometheus-operator PR #6762)
            "secrets" => Some(f(List(L::Set, &SCALAR))),
            // map[string]string without x-kubernetes-map-type: granular
            "nodeSelector" => Some(f(StrMap)),
            // serviceMonitorSelector, podMonitorNamespaceSelector, ...: metav1.LabelSelector
            n if n.ends_with("Selector") => Some(f(Atomic)),
            _ => None,
        },
        // monitoring.coreos.com_servicemonitors.yaml: selector `x-kubernetes-map-type: atomic`,
        // scrapeProtocols `x-kubernetes-list-type: set`, endpoints without a list type (atomic)
        S::MonitorSpec => match name {
            "selector" => Some(f(Atomic)),
            "scrapeProtocols" => Some(f(List(L::Set, &SCALAR))),
            _ => None,
        },
    };
    known.unwrap_or(f(Deduced))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ports_are_keyed_by_port_and_protocol() {
        let fl = field(S::ServiceSpec, "ports");
        assert_eq!(fl.smp_merge, Some("port"));
        match fl.ty {
            Ty::List(L::Map(keys), _) => {
                assert_eq!(keys, &[("port", None), ("protocol", Some("TCP"))])
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(field(S::ServiceSpec, "selector").ty, Ty::Atomic);
        assert!(field(S::Root("Service"), "spec").zero);
        assert!(!builtin(S::Root("Prometheus")));
    }
}
