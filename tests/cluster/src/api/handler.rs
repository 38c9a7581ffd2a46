//! One request: latency, authentication, request info, authorization, routing, the verbs, faults
//! and the request log.

// ApiError is the crate's error type (status.rs); its size is not this module's to change.
#![allow(clippy::result_large_err)]

use super::server::Dropped;
use super::{Body, full};
use crate::auth::{Attributes, User};
use crate::cluster::Cluster;
use crate::faults::{FaultKind, LogEntry};
use crate::patch::{self, PatchType};
use crate::resources::ResourceType;
use crate::selectors::{Selector, field_matches};
use crate::status::{ApiError, ApiResult, Cause};
use crate::store::{DeletePre, WriteCtx};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::Notify;

/// kube-apiserver's default `--request-timeout`: how long a non-watch request may last.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The decoded query string, in order, repeated keys kept.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query(pub Vec<(String, String)>);

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    pub(crate) fn parse(q: &str) -> Query {
        Query(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (pct_decode(k), pct_decode(v))
                })
                .collect(),
        )
    }
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn all(&self, k: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// A boolean parameter as the real server parses it (`true`, `1`, ...: strconv.ParseBool).
    pub(crate) fn flag(&self, k: &str) -> bool {
        matches!(
            self.get(k),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True")
        )
    }
}

pub(crate) fn json_response(code: u16, v: &Value) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(full(body))
        .unwrap_or_else(|_| Response::new(full("")))
}

pub(crate) fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(s) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn text_response(code: u16, s: &str) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(full(s.to_string()))
        .unwrap_or_else(|_| Response::new(full("")))
}

/// What the request is about (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go).
#[derive(Debug, Clone, Default)]
pub(crate) struct Info {
    pub resource_request: bool,
    pub verb: String,
    pub group: String,
    pub version: String,
    pub namespace: String,
    pub resource: String,
    pub name: String,
    pub subresource: String,
    /// The path segments after resource/name/subresource (proxy paths).
    pub rest: Vec<String>,
}

impl Info {
    pub(crate) fn parse(method: &Method, path: &str, q: &Query) -> Info {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut info = Info {
            verb: method.as_str().to_ascii_lowercase(),
            ..Info::default()
        };
        let rest: &[&str] = match segs.first() {
            Some(&"api") if segs.len() >= 3 && !segs[2].is_empty() => {
                info.version = segs[1].into();
                &segs[2..]
            }
            Some(&"apis") if segs.len() >= 4 && !segs[3].is_empty() => {
                info.group = segs[1].into();
                info.version = segs[2].into();
                &segs[3..]
            }
            _ => return info,
        };
        info.resource_request = true;
        let mut parts: Vec<&str> = rest.to_vec();
        if parts[0] == "namespaces" && parts.len() > 1 {
            info.namespace = parts[1].into();
            if parts.len() > 2 && parts[2] != "status" && parts[2] != "finalize" {
                parts = parts[2..].to_vec();
            }
        }
        info.resource = parts[0].into();
        if parts.len() >= 2 {
            info.name = parts[1].into();
        }
        if parts.len() >= 3 {
            info.subresource = parts[2].into();
            info.rest = parts[3..].iter().map(|s| s.to_string()).collect();
        }
        let named = !info.name.is_empty();
        info.verb = match *method {
            Method::GET | Method::HEAD => {
                if q.flag("watch") {
                    "watch"
                } else if named {
                    "get"
                } else {
                    "list"
                }
            }
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE => {
                if named {
                    "delete"
                } else {
                    "deletecollection"
                }
            }
            _ => "",
        }
        .to_string();
        info
    }

    fn attributes(&self, path: &str) -> Attributes {
        Attributes {
            verb: self.verb.clone(),
            resource_request: self.resource_request,
            api_group: self.group.clone(),
            api_version: self.version.clone(),
            resource: self.resource.clone(),
            subresource: self.subresource.clone(),
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            path: path.to_string(),
        }
    }
}

fn header_str(req: &Request<Incoming>, h: header::HeaderName) -> &str {
    req.headers()
        .get(h)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Serve one request (the hyper service).
pub(crate) async fn handle(
    cluster: Arc<Cluster>,
    req: Request<Incoming>,
    kill: Arc<Notify>,
) -> Result<Response<Body>, Dropped> {
    let latency = cluster.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut entry = LogEntry {
        method: req.method().as_str().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().unwrap_or("").to_string(),
        content_type: header_str(&req, header::CONTENT_TYPE).to_string(),
        ..LogEntry::default()
    };
    entry.is_write = is_write_request(req.method(), req.uri().path());
    let out = route(&cluster, req, &mut entry, &kill).await;
    entry.status = match &out {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    };
    cluster.faults.record(entry);
    out
}

/// A write: POST, PUT, PATCH or DELETE of a resource, not of an access review (they store
/// nothing) nor of exec/attach/portforward/proxy (they stream).
fn is_write_request(method: &Method, path: &str) -> bool {
    if !matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        return false;
    }
    let info = Info::parse(method, path, &Query::default());
    info.resource_request
        && info.group != "authorization.k8s.io"
        && !matches!(
            info.subresource.as_str(),
            "exec" | "attach" | "portforward" | "proxy"
        )
}

async fn route(
    c: &Arc<Cluster>,
    req: Request<Incoming>,
    entry: &mut LogEntry,
    kill: &Arc<Notify>,
) -> Result<Response<Body>, Dropped> {
    let Some(user) = c
        .auth
        .authenticate(
            req.headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        )
        .cloned()
    else {
        return Ok(error_response(&ApiError::unauthorized()));
    };
    entry.user = user.name.clone();
    let q = Query::parse(req.uri().query().unwrap_or(""));
    let path = req.uri().path().to_string();
    let info = Info::parse(req.method(), &path, &q);
    let attrs = info.attributes(&path);
    if !c.auth.allowed(&user, &attrs) {
        return Ok(error_response(&crate::auth::forbidden(&user.name, &attrs)));
    }
    // The WebSocket GET of exec/attach/portforward is authorized as `get` (the verb of its
    // method); from 1.35 (AuthorizePodWebsocketUpgradeCreatePermission, beta and on by default)
    // the requester must also be allowed to `create` it.
    if info.resource == "pods"
        && matches!(info.subresource.as_str(), "exec" | "attach" | "portforward")
        && info.verb != "create"
        && minor_version(&c.version) >= 35
    {
        let mut create = attrs.clone();
        create.verb = "create".into();
        if !c.auth.allowed(&user, &create) {
            return Ok(error_response(&crate::auth::forbidden(&user.name, &create)));
        }
    }
    if !info.resource_request {
        return Ok(non_resource(c, &req, &path));
    }
    resource(c, req, &user, &info, &q, entry, kill).await
}

/// The minor version of a `gitVersion` (`v1.33.1` → 33).
pub(crate) fn minor_version(git_version: &str) -> u32 {
    git_version
        .trim_start_matches('v')
        .split('.')
        .nth(1)
        .and_then(|m| {
            m.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// `gitVersion` → the rest of the real `/version` document.
pub(crate) fn version_info(git_version: &str) -> Value {
    let v = git_version.trim_start_matches('v');
    let mut it = v.split(['.', '-', '+']);
    let major = it.next().unwrap_or("1").to_string();
    let minor = it.next().unwrap_or("0").to_string();
    let minor_n: u32 = minor.parse().unwrap_or(0);
    let go = match minor_n {
        0..=26 => "go1.19.13",
        27 => "go1.20.13",
        28 => "go1.20.14",
        29 => "go1.21.13",
        30 => "go1.22.8",
        31 => "go1.22.12",
        32 => "go1.23.8",
        _ => "go1.24.2",
    };
    use sha2::Digest;
    let commit: String = sha2::Sha256::digest(git_version.as_bytes())
        .iter()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut out = json!({
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": commit,
        "gitTreeState": "clean",
        "buildDate": "2025-05-15T08:19:41Z",
        "goVersion": go,
        "compiler": "gc",
        "platform": "linux/amd64",
    });
    if minor_n >= 33 {
        // 1.33 adds the emulation and compatibility versions (k8s.io/apimachinery/pkg/version/types.go)
        out["emulationMajor"] = json!(major);
        out["emulationMinor"] = json!(minor);
        out["minCompatibilityMajor"] = json!(major);
        out["minCompatibilityMinor"] = json!((minor_n - 1).to_string());
    }
    out
}

fn non_resource(c: &Arc<Cluster>, req: &Request<Incoming>, path: &str) -> Response<Body> {
    use super::{discovery, openapi};
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return error_response(&ApiError::method_not_allowed());
    }
    let registry = c.store.registry();
    let accept = header_str(req, header::ACCEPT);
    let p = path.trim_end_matches('/');
    let segs: Vec<&str> = p.trim_start_matches('/').split('/').collect();
    if segs.as_slice() == ["openapi", "v2"] && super::openapi_pb::wants_protobuf(accept) {
        let body = super::openapi_pb::encode(&openapi::v2(registry));
        return Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, super::openapi_pb::CONTENT_TYPE)
            .body(full(body))
            .unwrap_or_else(|_| Response::new(full("")));
    }
    let found: Option<(Value, String)> = match segs.as_slice() {
        ["version"] => Some((version_info(&c.version), String::new())),
        ["healthz"] | ["livez"] | ["readyz"] => return text_response(200, "ok"),
        ["api"] => discovery::aggregated(registry, accept, true)
            .or_else(|| Some((discovery::api_versions(c), String::new()))),
        ["api", "v1"] => Some((discovery::core_resources(registry), String::new())),
        ["apis"] => discovery::aggregated(registry, accept, false)
            .or_else(|| Some((discovery::api_group_list(registry), String::new()))),
        ["apis", g] => discovery::api_group(registry, g).map(|v| (v, String::new())),
        ["apis", g, v] => discovery::group_resources(registry, g, v).map(|v| (v, String::new())),
        ["openapi", "v2"] => Some((openapi::v2(registry), String::new())),
        ["openapi", "v3"] => Some((openapi::v3_index(registry), String::new())),
        ["openapi", "v3", ..] => {
            let rest = p.trim_start_matches("/openapi/v3/");
            openapi::v3_doc(registry, rest).map(|v| (v, String::new()))
        }
        _ => None,
    };
    match found {
        Some((v, ct)) => {
            let mut r = json_response(200, &v);
            if !ct.is_empty()
                && let Ok(h) = HeaderValue::from_str(&ct)
            {
                r.headers_mut().insert(header::CONTENT_TYPE, h);
            }
            r
        }
        None if segs.first().is_some_and(|s| *s == "api" || *s == "apis") => {
            error_response(&ApiError::path_not_found())
        }
        None => text_response(404, "404 page not found\n"),
    }
}

/// The default field manager: the user agent up to the first `/`, printable characters, at
/// most 128 bytes (`managerOrUserAgent` / `prefixFromUserAgent` in
/// k8s.io/apiserver/pkg/endpoints/handlers/rest.go).
pub(crate) fn manager_or_user_agent(manager: Option<&str>, user_agent: &str) -> String {
    if let Some(m) = manager.filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    let prefix = user_agent.split('/').next().unwrap_or("");
    let mut out = String::new();
    for ch in prefix.chars() {
        if ch.is_control() {
            continue;
        }
        if out.len() + ch.len_utf8() > 128 {
            break;
        }
        out.push(ch);
    }
    out
}

/// `<Kind>.meta.k8s.io "" is invalid: <field>: <detail>` (422), as the handlers answer invalid
/// Create/Update/Patch/DeleteOptions.
fn options_invalid(kind: &str, field: &str, reason: &str, detail: &str) -> ApiError {
    let mut e = ApiError::bad_request(format!(
        "{kind}.meta.k8s.io \"\" is invalid: {field}: {detail}"
    ));
    e.code = 422;
    e.reason = "Invalid".into();
    e.group = Some("meta.k8s.io".into());
    e.kind = Some(kind.into());
    e.causes = vec![Cause {
        reason: reason.into(),
        message: detail.into(),
        field: field.into(),
    }];
    e
}

/// `dryRun` values: only `All` (ValidateDryRun in
/// k8s.io/apimachinery/pkg/apis/meta/v1/validation/validation.go).
fn dry_run(values: &[&str], options_kind: &str) -> ApiResult<bool> {
    if values.is_empty() {
        return Ok(false);
    }
    if values.iter().all(|v| *v == "All") {
        return Ok(true);
    }
    let list = serde_json::to_string(values).unwrap_or_default();
    Err(options_invalid(
        options_kind,
        "dryRun",
        "FieldValueNotSupported",
        &format!("Unsupported value: {list}: supported values: \"All\""),
    ))
}

fn media_type(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The object must be a JSON object whose `metadata` (if any) is an object, as the decoder into
/// the typed object requires (`transformDecodeError` in handlers/rest.go words the failure).
fn check_shape(rt: &ResourceType, v: &Value) -> ApiResult<()> {
    let fail = |detail: String| {
        Err(ApiError::bad_request(format!(
            "{kind} in version \"{ver}\" cannot be handled as a {kind}: {detail}",
            kind = rt.kind,
            ver = rt.version
        )))
    };
    if !v.is_object() {
        return fail(format!(
            "json: cannot unmarshal {} into Go value of type struct",
            json_type(v)
        ));
    }
    match v.get("metadata") {
        None | Some(Value::Null) | Some(Value::Object(_)) => Ok(()),
        Some(m) => fail(format!(
            "json: cannot unmarshal {} into Go struct field {}.metadata of type v1.ObjectMeta",
            json_type(m),
            rt.kind
        )),
    }
}

/// Decode a request body (JSON or YAML) into an object of type `rt`.
fn decode(rt: &ResourceType, body: &[u8], content_type: &str) -> ApiResult<Value> {
    let v: Value = match media_type(content_type).as_str() {
        "" | "application/json" | "*/*" => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?,
        "application/yaml" => serde_yaml_ng::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))?,
        "application/vnd.kubernetes.protobuf" if !rt.custom => {
            match super::protobuf::decode(body) {
                Ok(v) => v,
                Err(_) => {
                    return Err(ApiError::unsupported_media_type(
                        content_type,
                        &["application/json", "application/yaml"],
                    ));
                }
            }
        }
        _ => {
            let accepted: &[&str] = if rt.custom {
                &["application/json", "application/yaml"]
            } else {
                &[
                    "application/json",
                    "application/yaml",
                    "application/vnd.kubernetes.protobuf",
                ]
            };
            return Err(ApiError::unsupported_media_type(content_type, accepted));
        }
    };
    check_shape(rt, &v)?;
    if let Some(av) = v.get("apiVersion").and_then(Value::as_str)
        && !av.is_empty()
        && av != rt.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    Ok(v)
}

/// Types whose delete answers the deleted object (`ReturnDeletedObject: true` in their
/// registries: pods, services, serviceaccounts, namespaces, custom resources); the others
/// answer a Success Status with the uid (`finalizeDelete` in
/// k8s.io/apiserver/pkg/registry/generic/registry/store.go).
fn returns_deleted_object(rt: &ResourceType) -> bool {
    rt.custom
        || (rt.group.is_empty()
            && matches!(
                rt.plural,
                "pods" | "services" | "serviceaccounts" | "namespaces"
            ))
}

fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .any(|m| m.split(';').any(|p| p.trim() == "as=Table"))
}

/// Remove `apiVersion`/`kind` from list items of built-in types: the real server's JSON lists of
/// built-in types carry them only on the list.
fn strip_type_meta(rt: &ResourceType, items: &mut [Value]) {
    if rt.custom {
        return;
    }
    for i in items {
        if let Some(m) = i.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
        }
    }
}

struct Ctx<'a> {
    c: &'a Arc<Cluster>,
    rt: ResourceType,
    ns: Option<String>,
    name: String,
    info: &'a Info,
    q: &'a Query,
    user: &'a User,
    accept: String,
    content_type: String,
    user_agent: String,
}

impl Ctx<'_> {
    fn ns(&self) -> Option<&str> {
        self.ns.as_deref()
    }
    fn sub(&self) -> Option<String> {
        (!self.info.subresource.is_empty()).then(|| self.info.subresource.clone())
    }
}

async fn resource(
    c: &Arc<Cluster>,
    req: Request<Incoming>,
    user: &User,
    info: &Info,
    q: &Query,
    entry: &mut LogEntry,
    kill: &Arc<Notify>,
) -> Result<Response<Body>, Dropped> {
    let registry = c.store.registry();
    let Some(rt) = registry
        .by_path(&info.group, &info.version, &info.resource)
        .cloned()
    else {
        return Ok(error_response(&ApiError::path_not_found()));
    };
    // a namespaced path for a cluster-scoped type (other than namespaces/{name}) names nothing
    if !rt.namespaced && !info.namespace.is_empty() && rt.plural != "namespaces" {
        return Ok(error_response(&ApiError::path_not_found()));
    }
    let ns = (rt.namespaced && !info.namespace.is_empty()).then(|| info.namespace.clone());
    if rt.namespaced && ns.is_none() && !info.name.is_empty() {
        return Ok(error_response(&ApiError::path_not_found()));
    }
    let sub = info.subresource.as_str();
    if !sub.is_empty() {
        if !rt.has_subresource(sub) {
            return Ok(error_response(&ApiError::path_not_found()));
        }
        match (rt.group, rt.plural, sub) {
            ("", "pods", "exec") => {
                return Ok(crate::exec::handle(c.clone(), req, &info.namespace, &info.name).await);
            }
            ("", "pods", "proxy") => {
                let rest = proxy_rest(req.uri().path(), &info.name);
                return Ok(crate::proxy::handle_pod(
                    c.clone(),
                    req,
                    &info.namespace,
                    &info.name,
                    &rest,
                )
                .await);
            }
            ("", "nodes", "proxy") => {
                let rest = proxy_rest(req.uri().path(), &info.name);
                return Ok(crate::proxy::handle_node(c.clone(), req, &info.name, &rest).await);
            }
            (_, _, "status") => {
                if !matches!(info.verb.as_str(), "get" | "update" | "patch") {
                    return Ok(error_response(&ApiError::method_not_allowed()));
                }
            }
            _ => return Ok(error_response(&ApiError::path_not_found())),
        }
    } else if !rt.verbs.contains(&info.verb.as_str())
        || (info.name.is_empty() && matches!(info.verb.as_str(), "update" | "patch"))
        || (!info.name.is_empty() && info.verb == "create")
    {
        return Ok(error_response(&ApiError::method_not_allowed()));
    }
    if rt.namespaced && ns.is_none() && info.verb == "create" {
        return Ok(error_response(&ApiError::path_not_found()));
    }
    let review = rt.group == "authorization.k8s.io";
    let is_write = entry.is_write;
    let ctx = Ctx {
        c,
        rt,
        ns,
        name: info.name.clone(),
        info,
        q,
        user,
        accept: header_str(&req, header::ACCEPT).to_string(),
        content_type: header_str(&req, header::CONTENT_TYPE).to_string(),
        user_agent: header_str(&req, header::USER_AGENT).to_string(),
    };
    match info.verb.as_str() {
        "get" => return Ok(result(get(&ctx))),
        "list" => return Ok(result(list(&ctx))),
        "watch" => return Ok(super::watch::watch(ctx.watch_args()).await),
        _ => {}
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(error_response(&ApiError::bad_request(e.to_string()))),
    };
    if review {
        return Ok(result(access_review(&ctx, &body)));
    }
    // faults apply to writes that would reach the store
    let mut drop_after = false;
    if is_write {
        match c.faults.on_write(ctx.rt.plural) {
            None => {}
            Some(FaultKind::Conflict) => {
                let name = if ctx.name.is_empty() {
                    serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|v| v["metadata"]["name"].as_str().map(str::to_string))
                        .unwrap_or_default()
                } else {
                    ctx.name.clone()
                };
                return Ok(error_response(&ApiError::conflict_modified(&ctx.rt, &name)));
            }
            Some(FaultKind::Internal) => {
                return Ok(error_response(&ApiError::internal("injected fault")));
            }
            Some(FaultKind::TooManyRequests { retry_after_secs }) => {
                return Ok(error_response(&ApiError::too_many_requests(
                    retry_after_secs,
                )));
            }
            Some(FaultKind::DropBeforeApply) => {
                kill.notify_one();
                return Err(Dropped);
            }
            Some(FaultKind::DropAfterApply) => drop_after = true,
        }
    }
    let resp = match info.verb.as_str() {
        "create" => result(create(&ctx, &body)),
        "update" => result(update(&ctx, &body)),
        "patch" => result(patch_object(&ctx, &body)),
        "delete" => result(delete(&ctx, &body)),
        "deletecollection" => result(delete_collection(&ctx, &body)),
        _ => error_response(&ApiError::method_not_allowed()),
    };
    if drop_after {
        kill.notify_one();
        return Err(Dropped);
    }
    Ok(resp)
}

/// The part of a proxy path after `{name}/proxy`: "" or starting with `/`.
fn proxy_rest(path: &str, name: &str) -> String {
    let marker = format!("/{name}/proxy");
    match path.find(&marker) {
        Some(i) => path[i + marker.len()..].to_string(),
        None => String::new(),
    }
}

fn result(r: ApiResult<(u16, Value)>) -> Response<Body> {
    match r {
        Ok((code, v)) => json_response(code, &v),
        Err(e) => error_response(&e),
    }
}

fn get(x: &Ctx) -> ApiResult<(u16, Value)> {
    let obj = x.c.store.get(&x.rt, x.ns(), &x.name)?;
    if wants_table(&x.accept) {
        let rv = obj["metadata"]["resourceVersion"].clone();
        return Ok((
            200,
            super::table::to_table(
                &x.rt,
                &[obj],
                json!({"resourceVersion": rv}),
                x.q.get("includeObject").unwrap_or(""),
            ),
        ));
    }
    Ok((200, obj))
}

/// Label and field selectors of a list, watch or deletecollection.
pub(crate) struct Filter {
    pub labels: Selector,
    pub fields: String,
    /// The name of a watch of one object (`.../configmaps/x?watch=1`).
    pub name: Option<String>,
}

impl Filter {
    pub(crate) fn from_query(q: &Query) -> ApiResult<Filter> {
        let labels =
            Selector::parse(q.get("labelSelector").unwrap_or("")).map_err(ApiError::bad_request)?;
        let fields = q.get("fieldSelector").unwrap_or("").to_string();
        field_matches(&fields, &json!({})).map_err(ApiError::bad_request)?;
        Ok(Filter {
            labels,
            fields,
            name: None,
        })
    }
    pub(crate) fn matches(&self, obj: &Value) -> bool {
        self.labels.matches_object(obj)
            && field_matches(&self.fields, obj).unwrap_or(false)
            && self
                .name
                .as_ref()
                .is_none_or(|n| obj["metadata"]["name"].as_str() == Some(n))
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.trim().is_empty()
    }
}

/// The key of an object relative to the list's prefix (`name`, or `ns/name` across namespaces):
/// the order of a real list and the start of a continue token.
fn rel_key(rt: &ResourceType, all_namespaces: bool, obj: &Value) -> String {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    if rt.namespaced && all_namespaces {
        format!(
            "{}/{}",
            obj["metadata"]["namespace"].as_str().unwrap_or(""),
            name
        )
    } else {
        name.to_string()
    }
}

/// Decode a continue token (`DecodeContinue` in k8s.io/apiserver/pkg/storage/continue.go).
fn decode_continue(token: &str) -> Result<(u64, String), String> {
    let data = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|e| {
            let at = match e {
                base64::DecodeError::InvalidByte(i, _) => i,
                base64::DecodeError::InvalidLastSymbol(i, _) => i,
                base64::DecodeError::InvalidLength(i) => i,
                base64::DecodeError::InvalidPadding => token.len(),
            };
            format!("continue key is not valid: illegal base64 data at input byte {at}")
        })?;
    let v: Value =
        serde_json::from_slice(&data).map_err(|e| format!("continue key is not valid: {e}"))?;
    if v["v"].as_str() != Some("meta.k8s.io/v1") {
        return Err(
            "continue key is not valid: server does not recognize this encoded version".into(),
        );
    }
    let rv = v["rv"].as_u64().unwrap_or(0);
    if rv == 0 {
        return Err("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)".into());
    }
    let start = v["start"].as_str().unwrap_or("").to_string();
    if start.is_empty() {
        return Err(
            "continue key is not valid: encoded start key empty (version meta.k8s.io/v1)".into(),
        );
    }
    Ok((rv, start))
}

fn encode_continue(rv: u64, start: &str) -> String {
    let v = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start});
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&v).unwrap_or_default())
}

/// The selected objects of a list request, with the list metadata.
fn list_items(x: &Ctx) -> ApiResult<(Vec<Value>, Value)> {
    let filter = Filter::from_query(x.q)?;
    let limit: i64 = match x.q.get("limit") {
        None | Some("") => 0,
        Some(l) => l.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "strconv.ParseInt: parsing {}: invalid syntax",
                serde_json::to_string(l).unwrap_or_default()
            ))
        })?,
    };
    let cont = x.q.get("continue").filter(|c| !c.is_empty());
    let mut start: Option<String> = None;
    let mut list_rv = None;
    if let Some(tok) = cont {
        if let Some(rv) = x.q.get("resourceVersion")
            && !rv.is_empty()
            && rv != "0"
        {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        let (rv, s) = decode_continue(tok)
            .map_err(|e| ApiError::bad_request(format!("invalid continue token: {e}")))?;
        list_rv = Some(rv);
        start = Some(s);
    }
    let all_ns = x.ns.is_none();
    let (items, rv) = x.c.store.list(&x.rt, x.ns());
    let list_rv = list_rv.unwrap_or(rv);
    let mut keyed: Vec<(String, Arc<Value>)> = items
        .into_iter()
        .map(|o| (rel_key(&x.rt, all_ns, &o), o))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut selected: Vec<(String, Arc<Value>)> = keyed
        .into_iter()
        .filter(|(k, _)| start.as_ref().is_none_or(|s| k.as_str() >= s.as_str()))
        .filter(|(_, o)| filter.matches(o))
        .collect();
    let mut meta = json!({"resourceVersion": list_rv.to_string()});
    if limit > 0 && selected.len() > limit as usize {
        let remaining = selected.len() - limit as usize;
        selected.truncate(limit as usize);
        let last = selected.last().map(|(k, _)| k.clone()).unwrap_or_default();
        meta["continue"] = json!(encode_continue(list_rv, &format!("{last}\u{0}")));
        if filter.is_empty() {
            meta["remainingItemCount"] = json!(remaining);
        }
    }
    Ok((
        selected
            .into_iter()
            .map(|(_, o)| Arc::unwrap_or_clone(o))
            .collect(),
        meta,
    ))
}

fn list(x: &Ctx) -> ApiResult<(u16, Value)> {
    let (mut items, meta) = list_items(x)?;
    if wants_table(&x.accept) {
        return Ok((
            200,
            super::table::to_table(&x.rt, &items, meta, x.q.get("includeObject").unwrap_or("")),
        ));
    }
    strip_type_meta(&x.rt, &mut items);
    Ok((
        200,
        json!({
            "kind": format!("{}List", x.rt.kind),
            "apiVersion": x.rt.api_version(),
            "metadata": meta,
            "items": items,
        }),
    ))
}

fn access_review(x: &Ctx, body: &[u8]) -> ApiResult<(u16, Value)> {
    let obj = decode(&x.rt, body, &x.content_type)?;
    let self_review = match x.rt.plural {
        "selfsubjectaccessreviews" => true,
        "subjectaccessreviews" => false,
        _ => return Err(ApiError::method_not_allowed()),
    };
    dry_run(&x.q.all("dryRun"), "CreateOptions")?;
    Ok((201, x.c.auth.review(x.user, &obj, self_review)?))
}

fn manager(x: &Ctx) -> String {
    manager_or_user_agent(x.q.get("fieldManager"), &x.user_agent)
}

fn create(x: &Ctx, body: &[u8]) -> ApiResult<(u16, Value)> {
    let dry = dry_run(&x.q.all("dryRun"), "CreateOptions")?;
    let obj = decode(&x.rt, body, &x.content_type)?;
    let ctx = WriteCtx::update(&manager(x)).dry(dry);
    Ok((201, x.c.store.create(&x.rt, x.ns(), obj, &ctx)?))
}

fn update(x: &Ctx, body: &[u8]) -> ApiResult<(u16, Value)> {
    let dry = dry_run(&x.q.all("dryRun"), "UpdateOptions")?;
    let obj = decode(&x.rt, body, &x.content_type)?;
    if let (Some(ns), Some(b)) = (x.ns(), obj["metadata"]["namespace"].as_str())
        && !b.is_empty()
        && b != ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let mut ctx = WriteCtx::update(&manager(x)).dry(dry);
    ctx.subresource = x.sub();
    Ok((200, x.c.store.update(&x.rt, x.ns(), &x.name, obj, &ctx)?))
}

fn rv_of(o: &Value) -> &str {
    o["metadata"]["resourceVersion"].as_str().unwrap_or("")
}

fn patch_object(x: &Ctx, body: &[u8]) -> ApiResult<(u16, Value)> {
    let dry = dry_run(&x.q.all("dryRun"), "PatchOptions")?;
    let Some(pt) = PatchType::from_content_type(&x.content_type) else {
        let accepted: &[&str] = if x.rt.custom {
            &[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
            ]
        } else {
            &[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
                "application/apply-patch+yaml",
            ]
        };
        return Err(ApiError::unsupported_media_type(&x.content_type, accepted));
    };
    let apply = pt == PatchType::Apply;
    let force = x.q.flag("force");
    let field_manager = x.q.get("fieldManager").unwrap_or("");
    // ValidatePatchOptions (k8s.io/apimachinery/pkg/apis/meta/v1/validation/validation.go)
    if !apply && x.q.get("force").is_some() {
        return Err(options_invalid(
            "PatchOptions",
            "force",
            "FieldValueForbidden",
            "Forbidden: may not be specified for non-apply patch",
        ));
    }
    if apply && field_manager.is_empty() {
        return Err(options_invalid(
            "PatchOptions",
            "fieldManager",
            "FieldValueRequired",
            "Required value: is required for apply patch",
        ));
    }
    let manager = if apply {
        field_manager.to_string()
    } else {
        manager(x)
    };
    // GuaranteedUpdate applies the patch to the newest object again after a conflict with a
    // concurrent write, for as long as the request may last (the API server's default
    // --request-timeout, then 504 Timeout). A count would not do: a writer faster than one
    // patch can win any number of rounds in a row.
    let deadline = std::time::Instant::now() + REQUEST_TIMEOUT;
    loop {
        if std::time::Instant::now() >= deadline {
            return Err(ApiError::timeout());
        }
        let mut ctx = if apply {
            WriteCtx::apply(&manager)
        } else {
            WriteCtx::update(&manager)
        }
        .dry(dry);
        ctx.subresource = x.sub();
        let current = match x.c.store.get(&x.rt, x.ns(), &x.name) {
            Ok(c) => Some(c),
            Err(e) if e.code == 404 && apply && x.sub().is_none() => None,
            Err(e) => return Err(e),
        };
        let Some(cur) = current else {
            let mut obj = patch::apply(&x.rt, None, body, &manager, force)?;
            check_shape(&x.rt, &obj)?;
            if !obj["metadata"].is_object() {
                obj["metadata"] = json!({});
            }
            if obj["metadata"]["name"].as_str().unwrap_or("").is_empty() {
                obj["metadata"]["name"] = json!(x.name);
            }
            match x.c.store.create(&x.rt, x.ns(), obj, &ctx) {
                Ok(o) => return Ok((201, o)),
                Err(e) if e.reason == "AlreadyExists" => {
                    std::thread::yield_now();
                    continue;
                }
                Err(e) => return Err(e),
            }
        };
        let mut new = if apply {
            patch::apply(&x.rt, Some(&cur), body, &manager, force)?
        } else {
            patch::patch(&x.rt, &cur, body, pt)?
        };
        check_shape(&x.rt, &new)?;
        // a resourceVersion in the patch is the user's precondition
        let new_rv = rv_of(&new).to_string();
        if !new_rv.is_empty() && new_rv != rv_of(&cur) {
            return Err(ApiError::conflict_modified(&x.rt, &x.name));
        }
        if new.get("metadata").is_none_or(|m| !m.is_object()) {
            new["metadata"] = json!({});
        }
        new["metadata"]["resourceVersion"] = json!(rv_of(&cur));
        match x.c.store.update(&x.rt, x.ns(), &x.name, new, &ctx) {
            Err(e) if e.code == 409 && e.message.contains("the object has been modified") => {
                std::thread::yield_now();
                continue;
            }
            r => return r.map(|o| (200, o)),
        }
    }
}

/// DeleteOptions from the body (optional) and the query.
fn delete_pre(x: &Ctx, body: &[u8]) -> ApiResult<DeletePre> {
    let opts: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        decode_options(body)?
    };
    let mut dry: Vec<String> = x.q.all("dryRun").iter().map(|s| s.to_string()).collect();
    if let Some(a) = opts["dryRun"].as_array() {
        dry.extend(a.iter().filter_map(|v| v.as_str().map(str::to_string)));
    }
    let dry_refs: Vec<&str> = dry.iter().map(String::as_str).collect();
    let dry = dry_run(&dry_refs, "DeleteOptions")?;
    let pre = &opts["preconditions"];
    Ok(DeletePre {
        uid: pre["uid"].as_str().map(str::to_string),
        resource_version: pre["resourceVersion"].as_str().map(str::to_string),
        dry_run: dry,
    })
}

fn decode_options(body: &[u8]) -> ApiResult<Value> {
    let v: Value = serde_json::from_slice(body)
        .or_else(|_| serde_yaml_ng::from_slice(body))
        .map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    Ok(v)
}

fn deleted_answer(rt: &ResourceType, gone: Value) -> Value {
    if returns_deleted_object(rt) {
        return gone;
    }
    let mut s = crate::status::success_status(rt, gone["metadata"]["name"].as_str().unwrap_or(""));
    s["details"]["uid"] = gone["metadata"]["uid"].clone();
    s
}

fn delete(x: &Ctx, body: &[u8]) -> ApiResult<(u16, Value)> {
    let pre = delete_pre(x, body)?;
    let mut gone = x.c.store.delete(&x.rt, x.ns(), &x.name, &pre)?;
    // The store removes at once; the real server answers a pod (graceful deletion) and a
    // namespace (finalization) as being deleted.
    if x.rt.group.is_empty() && gone["metadata"].is_object() {
        match x.rt.plural {
            "pods" => {
                let grace = serde_json::from_slice::<Value>(body)
                    .ok()
                    .and_then(|o| o["gracePeriodSeconds"].as_i64())
                    .or_else(|| x.q.get("gracePeriodSeconds").and_then(|g| g.parse().ok()))
                    .unwrap_or(30);
                gone["metadata"]["deletionTimestamp"] = json!(crate::store::now_rfc3339());
                gone["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
            }
            "namespaces" => {
                gone["metadata"]["deletionTimestamp"] = json!(crate::store::now_rfc3339());
                if !gone["status"].is_object() {
                    gone["status"] = json!({});
                }
                gone["status"]["phase"] = json!("Terminating");
            }
            _ => {}
        }
    }
    Ok((200, deleted_answer(&x.rt, gone)))
}

fn delete_collection(x: &Ctx, body: &[u8]) -> ApiResult<(u16, Value)> {
    let pre = delete_pre(x, body)?;
    let filter = Filter::from_query(x.q)?;
    let (items, _) = x.c.store.list(&x.rt, x.ns());
    let mut gone = Vec::new();
    for o in items.iter().filter(|o| filter.matches(o)) {
        let name = o["metadata"]["name"].as_str().unwrap_or("");
        let ns = o["metadata"]["namespace"].as_str();
        match x.c.store.delete(&x.rt, ns, name, &pre) {
            Ok(g) => gone.push(g),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    strip_type_meta(&x.rt, &mut gone);
    Ok((
        200,
        json!({
            "kind": format!("{}List", x.rt.kind),
            "apiVersion": x.rt.api_version(),
            "metadata": {"resourceVersion": x.c.store.current_rv().to_string()},
            "items": gone,
        }),
    ))
}

/// What a watch needs from the request.
pub(crate) struct WatchArgs {
    pub cluster: Arc<Cluster>,
    pub rt: ResourceType,
    pub ns: Option<String>,
    pub filter: ApiResult<Filter>,
    pub resource_version: Option<String>,
    pub timeout: Option<u64>,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    pub table: bool,
    pub include_object: String,
}

impl Ctx<'_> {
    fn watch_args(&self) -> WatchArgs {
        let filter = Filter::from_query(self.q).map(|mut f| {
            if !self.name.is_empty() {
                f.name = Some(self.name.clone());
            }
            f
        });
        WatchArgs {
            cluster: self.c.clone(),
            rt: self.rt.clone(),
            ns: self.ns.clone(),
            filter,
            resource_version: self.q.get("resourceVersion").map(str::to_string),
            timeout: self.q.get("timeoutSeconds").and_then(|t| t.parse().ok()),
            bookmarks: self.q.flag("allowWatchBookmarks"),
            send_initial_events: self.q.flag("sendInitialEvents"),
            table: wants_table(&self.accept),
            include_object: self.q.get("includeObject").unwrap_or("").to_string(),
        }
    }
}

/// The body of a response that streams.
pub(crate) fn bytes_frame(b: Vec<u8>) -> Result<hyper::body::Frame<Bytes>, std::io::Error> {
    Ok(hyper::body::Frame::data(Bytes::from(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_info_like_the_real_server() {
        let q = Query::parse("watch=1&labelSelector=a%3Db%2Cc+in+(x)");
        assert_eq!(q.get("labelSelector"), Some("a=b,c in (x)"));
        let i = Info::parse(
            &Method::GET,
            "/api/v1/namespaces/mon/pods/p-0/exec",
            &Query::default(),
        );
        assert_eq!(
            (
                i.verb.as_str(),
                i.namespace.as_str(),
                i.resource.as_str(),
                i.name.as_str(),
                i.subresource.as_str()
            ),
            ("get", "mon", "pods", "p-0", "exec")
        );
        let i = Info::parse(&Method::GET, "/api/v1/namespaces/mon", &Query::default());
        assert_eq!(
            (
                i.verb.as_str(),
                i.resource.as_str(),
                i.name.as_str(),
                i.namespace.as_str()
            ),
            ("get", "namespaces", "mon", "mon")
        );
        let i = Info::parse(&Method::GET, "/apis/apps/v1/statefulsets", &q);
        assert_eq!((i.verb.as_str(), i.group.as_str()), ("watch", "apps"));
        let i = Info::parse(
            &Method::DELETE,
            "/api/v1/namespaces/a/secrets",
            &Query::default(),
        );
        assert_eq!(i.verb, "deletecollection");
        let i = Info::parse(&Method::GET, "/apis/apps", &Query::default());
        assert!(!i.resource_request);
        assert_eq!(i.verb, "get");
        let i = Info::parse(
            &Method::GET,
            "/api/v1/nodes/n1/proxy/configz",
            &Query::default(),
        );
        assert_eq!(
            (i.subresource.as_str(), i.rest.clone()),
            ("proxy", vec!["configz".to_string()])
        );
        assert_eq!(
            proxy_rest("/api/v1/nodes/n1/proxy/configz", "n1"),
            "/configz"
        );
        assert_eq!(proxy_rest("/api/v1/nodes/n1/proxy", "n1"), "");
    }

    #[test]
    fn default_field_manager_is_the_user_agent_executable() {
        // prefixFromUserAgent, k8s.io/apiserver/pkg/endpoints/handlers/rest.go
        assert_eq!(
            manager_or_user_agent(None, "kubectl/v1.33.1 (linux/amd64) kubernetes/8adc0f0"),
            "kubectl"
        );
        assert_eq!(manager_or_user_agent(Some(""), "kube-rs/1.0"), "kube-rs");
        assert_eq!(
            manager_or_user_agent(Some("promfix"), "kubectl/v1"),
            "promfix"
        );
    }

    #[test]
    fn continue_tokens() {
        let t = encode_continue(12, "default/b\u{0}");
        assert_eq!(
            decode_continue(&t).unwrap(),
            (12, "default/b\u{0}".to_string())
        );
        assert!(
            decode_continue("!!!")
                .unwrap_err()
                .starts_with("continue key is not valid: illegal base64 data at input byte 0")
        );
        let bad = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"v":"meta.k8s.io/v1","rv":0,"start":"a"}"#);
        assert_eq!(
            decode_continue(&bad).unwrap_err(),
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
        );
    }

    #[test]
    fn dry_run_values() {
        assert!(!dry_run(&[], "CreateOptions").unwrap());
        assert!(dry_run(&["All"], "CreateOptions").unwrap());
        let e = dry_run(&["foo"], "CreateOptions").unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: [\"foo\"]: supported values: \"All\""
        );
    }

    #[test]
    fn version_document() {
        let v = version_info("v1.33.1");
        assert_eq!(
            (v["major"].as_str(), v["minor"].as_str()),
            (Some("1"), Some("33"))
        );
        assert_eq!(v["platform"], "linux/amd64");
        assert_eq!(v["gitCommit"].as_str().unwrap().len(), 40);
        let v = version_info("v1.27.16");
        assert_eq!(v["minor"], "27");
        assert!(v.get("emulationMajor").is_none());
    }
}
