//! The resource types the test cluster serves, with the discovery facts the real API server
//! publishes for them (kind, namespaced, verbs, short names, subresources).
//!
//! Only what kubectl-promfix and the acceptance tests touch is served; `monitoring.coreos.com`
//! is served only when the scenario installs the Prometheus Operator.

/// Verbs of an ordinary read-write resource, as the real discovery documents list them.
pub const RW_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// One served resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    /// Plural resource name as in URLs (`services`).
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
    pub short_names: &'static [&'static str],
    /// Subresources served, e.g. `status`, `exec`, `proxy`.
    pub subresources: &'static [&'static str],
    /// A custom resource (CRD): strategic merge patch answers 415, as on a real server.
    pub custom: bool,
    /// Categories in discovery (`all`).
    pub categories: &'static [&'static str],
}

impl ResourceType {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `services` or `prometheuses.monitoring.coreos.com`: the form used in error messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The URL prefix of the group version: `/api/v1` or `/apis/apps/v1`.
    pub fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// A request for a subresource of this type is allowed.
    pub fn has_subresource(&self, sub: &str) -> bool {
        self.subresources.contains(&sub)
    }
}

macro_rules! rt {
    ($group:expr, $version:expr, $plural:expr, $singular:expr, $kind:expr, $ns:expr, $verbs:expr, $short:expr, $subs:expr, $custom:expr, $cats:expr) => {
        ResourceType {
            group: $group,
            version: $version,
            plural: $plural,
            singular: $singular,
            kind: $kind,
            namespaced: $ns,
            verbs: $verbs,
            short_names: $short,
            subresources: $subs,
            custom: $custom,
            categories: $cats,
        }
    };
}

/// The built-in resource types (always served).
pub fn builtin() -> Vec<ResourceType> {
    vec![
        rt!(
            "",
            "v1",
            "namespaces",
            "namespace",
            "Namespace",
            false,
            &[
                "create", "delete", "get", "list", "patch", "update", "watch"
            ],
            &["ns"],
            &["status"],
            false,
            &[]
        ),
        rt!(
            "",
            "v1",
            "secrets",
            "secret",
            "Secret",
            true,
            RW_VERBS,
            &[],
            &[],
            false,
            &[]
        ),
        rt!(
            "",
            "v1",
            "services",
            "service",
            "Service",
            true,
            &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch"
            ],
            &["svc"],
            &["status", "proxy"],
            false,
            &["all"]
        ),
        rt!(
            "",
            "v1",
            "endpoints",
            "endpoints",
            "Endpoints",
            true,
            RW_VERBS,
            &["ep"],
            &[],
            false,
            &[]
        ),
        rt!(
            "",
            "v1",
            "pods",
            "pod",
            "Pod",
            true,
            RW_VERBS,
            &["po"],
            &["status", "exec", "proxy", "log"],
            false,
            &["all"]
        ),
        rt!(
            "",
            "v1",
            "configmaps",
            "configmap",
            "ConfigMap",
            true,
            RW_VERBS,
            &["cm"],
            &[],
            false,
            &[]
        ),
        rt!(
            "",
            "v1",
            "nodes",
            "node",
            "Node",
            false,
            RW_VERBS,
            &["no"],
            &["status", "proxy"],
            false,
            &[]
        ),
        rt!(
            "",
            "v1",
            "serviceaccounts",
            "serviceaccount",
            "ServiceAccount",
            true,
            RW_VERBS,
            &["sa"],
            &[],
            false,
            &[]
        ),
        rt!(
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            "endpointslice",
            "EndpointSlice",
            true,
            RW_VERBS,
            &[],
            &[],
            false,
            &[]
        ),
        rt!(
            "apps",
            "v1",
            "statefulsets",
            "statefulset",
            "StatefulSet",
            true,
            RW_VERBS,
            &["sts"],
            &["status", "scale"],
            false,
            &["all"]
        ),
        rt!(
            "apps",
            "v1",
            "daemonsets",
            "daemonset",
            "DaemonSet",
            true,
            RW_VERBS,
            &["ds"],
            &["status"],
            false,
            &["all"]
        ),
        rt!(
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
            "selfsubjectaccessreview",
            "SelfSubjectAccessReview",
            false,
            &["create"],
            &[],
            &[],
            false,
            &[]
        ),
        rt!(
            "authorization.k8s.io",
            "v1",
            "subjectaccessreviews",
            "subjectaccessreview",
            "SubjectAccessReview",
            false,
            &["create"],
            &[],
            &[],
            false,
            &[]
        ),
    ]
}

/// The Prometheus Operator's custom resources (served when the scenario installs the operator).
pub fn prometheus_operator() -> Vec<ResourceType> {
    vec![
        rt!(
            "monitoring.coreos.com",
            "v1",
            "prometheuses",
            "prometheus",
            "Prometheus",
            true,
            RW_VERBS,
            &["prom"],
            &["status", "scale"],
            true,
            &["prometheus-operator"]
        ),
        rt!(
            "monitoring.coreos.com",
            "v1",
            "servicemonitors",
            "servicemonitor",
            "ServiceMonitor",
            true,
            RW_VERBS,
            &["smon"],
            &[],
            true,
            &["prometheus-operator"]
        ),
        rt!(
            "monitoring.coreos.com",
            "v1",
            "podmonitors",
            "podmonitor",
            "PodMonitor",
            true,
            RW_VERBS,
            &["pmon"],
            &[],
            true,
            &["prometheus-operator"]
        ),
    ]
}

/// The set of resource types one cluster serves.
#[derive(Debug, Clone)]
pub struct Registry {
    types: Vec<ResourceType>,
}

impl Registry {
    pub fn new(with_operator: bool) -> Self {
        let mut types = builtin();
        if with_operator {
            types.extend(prometheus_operator());
        }
        Registry { types }
    }

    pub fn all(&self) -> &[ResourceType] {
        &self.types
    }

    /// Look up by group, version and plural as found in a URL.
    pub fn by_path(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// Look up by apiVersion and kind as found in an object.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.api_version() == api_version && t.kind == kind)
    }

    /// Look up a core or grouped type by plural alone (first match): `services`, `endpointslices`.
    pub fn by_plural(&self, plural: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| t.plural == plural)
    }

    /// The group versions served, in discovery order (core first).
    pub fn group_versions(&self) -> Vec<(&'static str, &'static str)> {
        let mut out: Vec<(&'static str, &'static str)> = Vec::new();
        for t in &self.types {
            if !out.contains(&(t.group, t.version)) {
                out.push((t.group, t.version));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_types_only_when_installed() {
        assert!(Registry::new(false).by_plural("prometheuses").is_none());
        let r = Registry::new(true);
        let p = r
            .by_path("monitoring.coreos.com", "v1", "prometheuses")
            .unwrap();
        assert!(p.custom);
        assert_eq!(p.qualified(), "prometheuses.monitoring.coreos.com");
        assert_eq!(r.by_kind("v1", "Service").unwrap().plural, "services");
        assert_eq!(
            r.by_kind("apps/v1", "StatefulSet").unwrap().prefix(),
            "/apis/apps/v1"
        );
    }
}
