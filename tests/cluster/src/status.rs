//! API errors, sent as the real API server sends them: a `Status` object with status, message,
//! reason, details and code. Message texts follow k8s.io/apimachinery/pkg/api/errors.

use crate::resources::ResourceType;
use serde_json::{Value, json};

/// One cause inside `details.causes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// An API error: turns into a `Status` body and an HTTP status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    /// `details.name`, `details.group`, `details.kind`.
    pub name: Option<String>,
    pub group: Option<String>,
    pub kind: Option<String>,
    pub causes: Vec<Cause>,
    /// Seconds for a `Retry-After` header and `details.retryAfterSeconds`.
    pub retry_after: Option<u32>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} {})", self.message, self.code, self.reason)
    }
}

impl std::error::Error for ApiError {}

pub type ApiResult<T> = Result<T, ApiError>;

fn base(code: u16, reason: &str, message: String) -> ApiError {
    ApiError {
        code,
        reason: reason.to_string(),
        message,
        name: None,
        group: None,
        kind: None,
        causes: Vec::new(),
        retry_after: None,
    }
}

fn with_resource(mut e: ApiError, rt: &ResourceType, name: &str) -> ApiError {
    if !name.is_empty() {
        e.name = Some(name.to_string());
    }
    if !rt.group.is_empty() {
        e.group = Some(rt.group.to_string());
    }
    e.kind = Some(rt.plural.to_string());
    e
}

impl ApiError {
    /// `services "x" not found`
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        with_resource(
            base(
                404,
                "NotFound",
                format!("{} \"{}\" not found", rt.qualified(), name),
            ),
            rt,
            name,
        )
    }

    /// `services "x" already exists`
    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        with_resource(
            base(
                409,
                "AlreadyExists",
                format!("{} \"{}\" already exists", rt.qualified(), name),
            ),
            rt,
            name,
        )
    }

    /// The request outlived the API server's request timeout (`--request-timeout`, 1m0s):
    /// `apierrors.NewTimeoutError`, as the timeout filter sends it.
    pub fn timeout() -> Self {
        base(
            504,
            "Timeout",
            "Timeout: request did not complete within requested timeout - context deadline exceeded"
                .to_string(),
        )
    }

    /// The optimistic-concurrency conflict of a stale resourceVersion.
    pub fn conflict_modified(rt: &ResourceType, name: &str) -> Self {
        Self::conflict(
            rt,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// `Operation cannot be fulfilled on services "x": <why>`
    pub fn conflict(rt: &ResourceType, name: &str, why: &str) -> Self {
        with_resource(
            base(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{}\": {}",
                    rt.qualified(),
                    name,
                    why
                ),
            ),
            rt,
            name,
        )
    }

    /// A server-side apply conflict: `Apply failed with N conflict(s): conflict with "helm" using v1: .spec.selector`.
    pub fn apply_conflicts(
        rt: &ResourceType,
        name: &str,
        conflicts: &[(String, String, String)],
    ) -> Self {
        // (manager, apiVersion, field path)
        let n = conflicts.len();
        let mut message = format!(
            "Apply failed with {} conflict{}: ",
            n,
            if n == 1 { "" } else { "s" }
        );
        let parts: Vec<String> = conflicts
            .iter()
            .map(|(m, v, f)| format!("conflict with \"{m}\" using {v}: {f}"))
            .collect();
        message.push_str(&parts.join("\n"));
        let mut e = with_resource(base(409, "Conflict", message), rt, name);
        e.causes = conflicts
            .iter()
            .map(|(m, v, f)| Cause {
                reason: "FieldManagerConflict".into(),
                message: format!("conflict with \"{m}\" using {v}"),
                field: f.clone(),
            })
            .collect();
        e
    }

    /// `services "x" is forbidden: User "u" cannot get resource "services" in API group "" in the namespace "ns"`
    /// (`... at the cluster scope` for cluster-scoped requests). `resource` may be `pods/exec`.
    pub fn forbidden(
        rt: &ResourceType,
        resource: &str,
        name: &str,
        user: &str,
        verb: &str,
        namespace: Option<&str>,
    ) -> Self {
        let subject = if name.is_empty() {
            rt.qualified()
        } else {
            format!("{} \"{}\"", rt.qualified(), name)
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        let msg = format!(
            "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{}\" {scope}",
            rt.group
        );
        with_resource(base(403, "Forbidden", msg), rt, name)
    }

    /// A forbidden non-resource URL: `forbidden: User "u" cannot get path "/metrics"`.
    pub fn forbidden_path(user: &str, verb: &str, path: &str) -> Self {
        base(
            403,
            "Forbidden",
            format!("forbidden: User \"{user}\" cannot {verb} path \"{path}\""),
        )
    }

    pub fn unauthorized() -> Self {
        base(401, "Unauthorized", "Unauthorized".into())
    }

    /// `Service "x" is invalid: spec.ports[0].port: Required value` — note: Kind, not plural.
    pub fn invalid(rt: &ResourceType, name: &str, causes: Vec<Cause>) -> Self {
        let list: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let detail = if list.len() == 1 {
            list[0].clone()
        } else {
            format!("[{}]", list.join(", "))
        };
        let mut e = base(
            422,
            "Invalid",
            format!("{} \"{}\" is invalid: {}", rt.kind, name, detail),
        );
        e.name = Some(name.to_string());
        if !rt.group.is_empty() {
            e.group = Some(rt.group.to_string());
        }
        e.kind = Some(rt.kind.to_string());
        e.causes = causes;
        e
    }

    /// 415, as sent for a strategic merge patch of a custom resource or an unknown patch type.
    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        let _ = content_type;
        base(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        base(400, "BadRequest", message.into())
    }

    pub fn method_not_allowed() -> Self {
        base(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".into(),
        )
    }

    /// The 404 for a URL that names no served resource.
    pub fn path_not_found() -> Self {
        base(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
        )
    }

    /// 410 for a watch from a compacted resourceVersion.
    pub fn expired(requested: u64, oldest: u64) -> Self {
        base(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = base(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        );
        e.causes = vec![Cause {
            reason: String::new(),
            message,
            field: String::new(),
        }];
        e
    }

    pub fn too_many_requests(retry_after: u32) -> Self {
        let mut e = base(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.".into(),
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// The Status object, as JSON.
    pub fn to_status(&self) -> Value {
        let mut details = serde_json::Map::new();
        if let Some(n) = &self.name {
            details.insert("name".into(), json!(n));
        }
        if let Some(g) = &self.group {
            details.insert("group".into(), json!(g));
        }
        if let Some(k) = &self.kind {
            details.insert("kind".into(), json!(k));
        }
        if !self.causes.is_empty() {
            let causes: Vec<Value> = self
                .causes
                .iter()
                .map(|c| {
                    let mut m = serde_json::Map::new();
                    if !c.reason.is_empty() {
                        m.insert("reason".into(), json!(c.reason));
                    }
                    if !c.message.is_empty() {
                        m.insert("message".into(), json!(c.message));
                    }
                    if !c.field.is_empty() {
                        m.insert("field".into(), json!(c.field));
                    }
                    Value::Object(m)
                })
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if let Some(r) = self.retry_after {
            details.insert("retryAfterSeconds".into(), json!(r));
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

/// The `Status` a successful delete of a resource without finalizers answers with on some paths.
pub fn success_status(rt: &ResourceType, name: &str) -> Value {
    let mut details = json!({"name": name, "kind": rt.plural});
    if !rt.group.is_empty() {
        details["group"] = json!(rt.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn not_found_matches_the_real_body() {
        let r = Registry::new(true);
        let svc = r.by_plural("services").unwrap();
        let s = ApiError::not_found(svc, "kube-etcd").to_status();
        assert_eq!(
            s,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                   "message":"services \"kube-etcd\" not found","reason":"NotFound",
                   "details":{"name":"kube-etcd","kind":"services"},"code":404})
        );
        let p = r.by_plural("prometheuses").unwrap();
        let s = ApiError::not_found(p, "k8s").to_status();
        assert_eq!(
            s["message"],
            "prometheuses.monitoring.coreos.com \"k8s\" not found"
        );
        assert_eq!(s["details"]["group"], "monitoring.coreos.com");
    }

    #[test]
    fn forbidden_text() {
        let r = Registry::new(false);
        let sec = r.by_plural("secrets").unwrap();
        let e = ApiError::forbidden(sec, "secrets", "", "limited", "list", Some("monitoring"));
        assert_eq!(
            e.message,
            "secrets is forbidden: User \"limited\" cannot list resource \"secrets\" in API group \"\" in the namespace \"monitoring\""
        );
        let ns = r.by_plural("namespaces").unwrap();
        let e = ApiError::forbidden(ns, "namespaces", "x", "limited", "get", None);
        assert!(e.message.ends_with("at the cluster scope"));
    }
}
