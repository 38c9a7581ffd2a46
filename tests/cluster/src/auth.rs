//! Users (bearer tokens) and their rights (RBAC-like rules), SelfSubjectAccessReview and
//! SubjectAccessReview evaluation.
//!
//! Matching follows k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/rbac.go (`RuleAllows`,
//! `ResourceMatches` with `*/subresource`, `NonResourceURLMatches` with a trailing `*`), and every
//! authenticated user gets what the default ClusterRoles `system:basic-user`, `system:discovery`
//! and `system:public-info-viewer` grant (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go).

// ApiError is the crate's error type (status.rs); its size is not this module's to change.
#![allow(clippy::result_large_err)]

use crate::status::ApiError;
use serde_json::{Value, json};

/// One RBAC-like rule (as in a Role/ClusterRole). Empty `namespaces` = every namespace (a
/// ClusterRole binding); `resources` may name subresources as `pods/exec`; `*` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub namespaces: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

impl Rule {
    /// Everything, everywhere (`cluster-admin`).
    pub fn all() -> Rule {
        Rule {
            verbs: vec!["*".into()],
            api_groups: vec!["*".into()],
            resources: vec!["*".into()],
            non_resource_urls: vec!["*".into()],
            ..Rule::default()
        }
    }

    /// `verbs` on `resources` of `api_groups` (in `namespaces`; empty = all).
    pub fn resources(
        verbs: &[&str],
        api_groups: &[&str],
        resources: &[&str],
        namespaces: &[&str],
    ) -> Rule {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Rule {
            verbs: v(verbs),
            api_groups: v(api_groups),
            resources: v(resources),
            namespaces: v(namespaces),
            ..Rule::default()
        }
    }
}

/// A user with a bearer token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    /// e.g. `admin`, `system:serviceaccount:monitoring:prometheus`.
    pub name: String,
    pub token: String,
    pub groups: Vec<String>,
    pub rules: Vec<Rule>,
}

/// What a request asks to do, as the authorizer sees it (k8s.io/apiserver authorizer.Attributes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    /// A request for a resource (else for a non-resource URL `path`).
    pub resource_request: bool,
    pub api_group: String,
    pub api_version: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// "" for cluster-scoped requests and lists across all namespaces.
    pub namespace: String,
    /// The URL path (non-resource requests).
    pub path: String,
}

impl Attributes {
    pub fn resource(
        verb: &str,
        api_group: &str,
        resource: &str,
        subresource: &str,
        namespace: &str,
        name: &str,
    ) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource_request: true,
            api_group: api_group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: namespace.into(),
            name: name.into(),
            ..Attributes::default()
        }
    }

    pub fn non_resource(verb: &str, path: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            path: path.into(),
            ..Attributes::default()
        }
    }
}

/// The 403 the real server answers for a denied request (responsewriters.Forbidden and
/// `forbiddenMessage` in k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go, with
/// `apierrors.NewForbidden`).
pub fn forbidden(user: &str, a: &Attributes) -> ApiError {
    if !a.resource_request {
        return ApiError::forbidden_path(user, &a.verb, &a.path);
    }
    let mut resource = a.resource.clone();
    if !a.subresource.is_empty() {
        resource = format!("{resource}/{}", a.subresource);
    }
    let scope = if a.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{}\"", a.namespace)
    };
    let why = format!(
        "User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
        a.verb, a.api_group
    );
    let qualified = if a.api_group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.api_group)
    };
    let message = if qualified.is_empty() {
        format!("forbidden: {why}")
    } else if a.name.is_empty() {
        format!("{qualified} is forbidden: {why}")
    } else {
        format!("{qualified} \"{}\" is forbidden: {why}", a.name)
    };
    let mut e = ApiError::forbidden_path(user, &a.verb, &a.path);
    e.message = message;
    e.name = (!a.name.is_empty()).then(|| a.name.clone());
    e.group = (!a.api_group.is_empty()).then(|| a.api_group.clone());
    e.kind = (!a.resource.is_empty()).then(|| a.resource.clone());
    e
}

fn matches_any(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

fn resource_matches(rule: &Rule, a: &Attributes) -> bool {
    let combined = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    rule.resources.iter().any(|r| {
        r == "*"
            || *r == combined
            || (!a.subresource.is_empty()
                && r.len() == a.subresource.len() + 2
                && r.starts_with("*/")
                && r.ends_with(a.subresource.as_str()))
    })
}

fn url_matches(rule: &Rule, path: &str) -> bool {
    rule.non_resource_urls.iter().any(|u| {
        u == "*" || u == path || (u.ends_with('*') && path.starts_with(u.trim_end_matches('*')))
    })
}

/// Whether one rule allows the request.
pub fn rule_allows(rule: &Rule, a: &Attributes) -> bool {
    if !matches_any(&rule.verbs, &a.verb) {
        return false;
    }
    if !a.resource_request {
        return url_matches(rule, &a.path);
    }
    if rule.resources.is_empty() {
        return false;
    }
    if !rule.namespaces.is_empty() && !rule.namespaces.contains(&a.namespace) {
        return false;
    }
    matches_any(&rule.api_groups, &a.api_group)
        && resource_matches(rule, a)
        && (rule.resource_names.is_empty() || rule.resource_names.contains(&a.name))
}

/// What every authenticated user may do: `system:basic-user`, `system:discovery`,
/// `system:public-info-viewer`.
pub fn default_rules() -> Vec<Rule> {
    let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        Rule {
            verbs: v(&["get"]),
            non_resource_urls: v(&[
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/openapi",
                "/openapi/*",
                "/version",
                "/version/",
                "/healthz",
                "/livez",
                "/readyz",
            ]),
            ..Rule::default()
        },
        Rule::resources(
            &["create"],
            &["authorization.k8s.io"],
            &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            &[],
        ),
        Rule::resources(
            &["create"],
            &["authentication.k8s.io"],
            &["selfsubjectreviews"],
            &[],
        ),
    ]
}

/// The users of one cluster.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub users: Vec<User>,
}

impl Auth {
    pub fn new(users: Vec<User>) -> Self {
        Auth { users }
    }

    /// The user of an `Authorization` header value (`Bearer <token>`).
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<&User> {
        let h = authorization?.trim();
        let (scheme, token) = h.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let token = token.trim();
        if token.is_empty() {
            return None;
        }
        self.users.iter().find(|u| u.token == token)
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// Whether `user` may do what `attrs` describe.
    pub fn allowed(&self, user: &User, attrs: &Attributes) -> bool {
        default_rules()
            .iter()
            .chain(user.rules.iter())
            .any(|r| rule_allows(r, attrs))
    }

    /// The decision and the RBAC-style reason for it (the reason is empty on a denial, as RBAC
    /// gives none when it merely has no rule that allows).
    pub fn decide(
        &self,
        user: Option<&User>,
        groups: &[String],
        attrs: &Attributes,
    ) -> (bool, String) {
        let authenticated = user.is_some() || groups.iter().any(|g| g == "system:authenticated");
        if authenticated && default_rules().iter().any(|r| rule_allows(r, attrs)) {
            let role = if attrs.resource_request {
                "system:basic-user"
            } else {
                "system:discovery"
            };
            return (
                true,
                format!(
                    "RBAC: allowed by ClusterRoleBinding \"{role}\" of ClusterRole \"{role}\" to Group \"system:authenticated\""
                ),
            );
        }
        if let Some(u) = user
            && u.rules.iter().any(|r| rule_allows(r, attrs))
        {
            return (
                true,
                format!(
                    "RBAC: allowed by ClusterRoleBinding \"promfix-test:{0}\" of ClusterRole \"promfix-test:{0}\" to User \"{0}\"",
                    u.name
                ),
            );
        }
        (false, String::new())
    }

    /// Evaluate a SelfSubjectAccessReview (`self_review`, for `requester`) or a
    /// SubjectAccessReview (for `spec.user` / `spec.groups`): the review object as the real
    /// server answers it, with `status.allowed` and `status.reason`.
    pub fn review(
        &self,
        requester: &User,
        review: &Value,
        self_review: bool,
    ) -> Result<Value, ApiError> {
        let spec = review.get("spec").cloned().unwrap_or(json!({}));
        let attrs = if let Some(ra) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
            let s = |k: &str| ra.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Attributes {
                verb: s("verb"),
                resource_request: true,
                api_group: s("group"),
                api_version: s("version"),
                resource: s("resource"),
                subresource: s("subresource"),
                name: s("name"),
                namespace: s("namespace"),
                path: String::new(),
            }
        } else if let Some(nr) = spec.get("nonResourceAttributes").filter(|v| v.is_object()) {
            let s = |k: &str| nr.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Attributes::non_resource(&s("verb"), &s("path"))
        } else {
            let kind = if self_review {
                "SelfSubjectAccessReview"
            } else {
                "SubjectAccessReview"
            };
            let mut e = ApiError::bad_request(String::new());
            e.code = 422;
            e.reason = "Invalid".into();
            e.message = format!(
                "{kind}.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified"
            );
            e.group = Some("authorization.k8s.io".into());
            e.kind = Some(kind.into());
            e.causes = vec![crate::status::Cause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified".into(),
                field: "spec.resourceAttributes".into(),
            }];
            return Err(e);
        };
        let (allowed, reason) = if self_review {
            self.decide(Some(requester), &requester.groups, &attrs)
        } else {
            let name = spec.get("user").and_then(Value::as_str).unwrap_or("");
            let groups: Vec<String> = spec
                .get("groups")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|g| g.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            self.decide(self.user(name), &groups, &attrs)
        };
        let mut out = review.clone();
        if !out.is_object() {
            out = json!({});
        }
        out["apiVersion"] = json!("authorization.k8s.io/v1");
        out["kind"] = json!(if self_review {
            "SelfSubjectAccessReview"
        } else {
            "SubjectAccessReview"
        });
        let mut meta = out
            .get("metadata")
            .filter(|m| m.is_object())
            .cloned()
            .unwrap_or(json!({}));
        if meta.get("creationTimestamp").is_none() {
            meta["creationTimestamp"] = Value::Null;
        }
        out["metadata"] = meta;
        out["spec"] = spec;
        let mut status = json!({"allowed": allowed});
        if !reason.is_empty() {
            status["reason"] = json!(reason);
        }
        out["status"] = status;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited() -> User {
        User {
            name: "limited".into(),
            token: "t".into(),
            groups: vec![],
            rules: vec![
                Rule::resources(
                    &["get", "list"],
                    &[""],
                    &["configmaps", "pods/log"],
                    &["monitoring"],
                ),
                Rule {
                    resource_names: vec!["one".into()],
                    ..Rule::resources(&["get"], &[""], &["secrets"], &["monitoring"])
                },
                Rule::resources(&["create"], &[""], &["*/exec"], &[]),
            ],
        }
    }

    #[test]
    fn rbac_matching() {
        let a = Auth::new(vec![limited()]);
        let u = limited();
        let r = |verb, res, sub, ns, name| Attributes::resource(verb, "", res, sub, ns, name);
        assert!(a.allowed(&u, &r("list", "configmaps", "", "monitoring", "")));
        assert!(!a.allowed(&u, &r("list", "configmaps", "", "default", "")));
        assert!(!a.allowed(&u, &r("list", "configmaps", "", "", "")));
        assert!(!a.allowed(&u, &r("delete", "configmaps", "", "monitoring", "x")));
        assert!(a.allowed(&u, &r("get", "pods", "log", "monitoring", "p")));
        assert!(!a.allowed(&u, &r("get", "pods", "", "monitoring", "p")));
        assert!(a.allowed(&u, &r("get", "secrets", "", "monitoring", "one")));
        assert!(!a.allowed(&u, &r("get", "secrets", "", "monitoring", "two")));
        assert!(!a.allowed(&u, &r("list", "secrets", "", "monitoring", "")));
        assert!(a.allowed(&u, &r("create", "pods", "exec", "x", "p")));
        // basic-user / discovery for everyone
        assert!(a.allowed(&u, &Attributes::non_resource("get", "/apis/apps/v1")));
        assert!(a.allowed(&u, &Attributes::non_resource("get", "/version")));
        assert!(!a.allowed(&u, &Attributes::non_resource("get", "/metrics")));
        assert!(a.allowed(
            &u,
            &Attributes::resource(
                "create",
                "authorization.k8s.io",
                "selfsubjectaccessreviews",
                "",
                "",
                ""
            )
        ));
    }

    #[test]
    fn forbidden_texts() {
        // k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go forbiddenMessage
        let e = forbidden(
            "limited",
            &Attributes::resource("create", "", "pods", "exec", "monitoring", "prom-0"),
        );
        assert_eq!(
            e.message,
            "pods \"prom-0\" is forbidden: User \"limited\" cannot create resource \"pods/exec\" in API group \"\" in the namespace \"monitoring\""
        );
        assert_eq!(e.kind.as_deref(), Some("pods"));
        let e = forbidden(
            "limited",
            &Attributes::resource("list", "apps", "statefulsets", "", "", ""),
        );
        assert_eq!(
            e.message,
            "statefulsets.apps is forbidden: User \"limited\" cannot list resource \"statefulsets\" in API group \"apps\" at the cluster scope"
        );
        let e = forbidden("limited", &Attributes::non_resource("get", "/metrics"));
        assert_eq!(
            e.message,
            "forbidden: User \"limited\" cannot get path \"/metrics\""
        );
    }

    #[test]
    fn access_reviews() {
        let admin = User {
            name: "admin".into(),
            token: "a".into(),
            groups: vec![],
            rules: vec![Rule::all()],
        };
        let a = Auth::new(vec![admin.clone(), limited()]);
        let r = a
            .review(
                &limited(),
                &json!({"spec": {"resourceAttributes": {"verb": "list", "resource": "secrets", "namespace": "monitoring"}}}),
                true,
            )
            .unwrap();
        assert_eq!(r["status"], json!({"allowed": false}));
        assert_eq!(r["kind"], "SelfSubjectAccessReview");
        let r = a
            .review(
                &admin,
                &json!({"spec": {"user": "limited", "resourceAttributes": {"verb": "list", "resource": "configmaps", "namespace": "monitoring"}}}),
                false,
            )
            .unwrap();
        assert_eq!(r["status"]["allowed"], true);
        assert!(a.review(&admin, &json!({"spec": {}}), true).is_err());
    }
}
