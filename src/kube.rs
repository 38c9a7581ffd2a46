//! Cluster access: the only module that talks to the API server. Objects travel as JSON values.

use crate::cli::GlobalOpts;
use crate::error::{Error, Result};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

/// The field manager recorded for every write.
pub const FIELD_MANAGER: &str = "kubectl-promfix";

/// A resource type the tool reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Res {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
}

impl Res {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(self.group, self.version, self.kind),
            self.plural,
        )
    }

    /// By plural name, for the types the tool knows.
    pub fn by_plural(plural: &str) -> Option<Res> {
        ALL.iter().copied().find(|r| r.plural == plural)
    }
}

macro_rules! res {
    ($name:ident, $g:expr, $v:expr, $k:expr, $p:expr, $ns:expr) => {
        pub const $name: Res = Res {
            group: $g,
            version: $v,
            kind: $k,
            plural: $p,
            namespaced: $ns,
        };
    };
}
res!(NAMESPACES, "", "v1", "Namespace", "namespaces", false);
res!(SECRETS, "", "v1", "Secret", "secrets", true);
res!(SERVICES, "", "v1", "Service", "services", true);
res!(ENDPOINTS, "", "v1", "Endpoints", "endpoints", true);
res!(PODS, "", "v1", "Pod", "pods", true);
res!(CONFIGMAPS, "", "v1", "ConfigMap", "configmaps", true);
res!(NODES, "", "v1", "Node", "nodes", false);
res!(
    ENDPOINTSLICES,
    "discovery.k8s.io",
    "v1",
    "EndpointSlice",
    "endpointslices",
    true
);
res!(DAEMONSETS, "apps", "v1", "DaemonSet", "daemonsets", true);
res!(
    STATEFULSETS,
    "apps",
    "v1",
    "StatefulSet",
    "statefulsets",
    true
);
res!(
    PROMETHEUSES,
    "monitoring.coreos.com",
    "v1",
    "Prometheus",
    "prometheuses",
    true
);
res!(
    PROMETHEUSAGENTS,
    "monitoring.coreos.com",
    "v1alpha1",
    "PrometheusAgent",
    "prometheusagents",
    true
);
res!(
    SERVICEMONITORS,
    "monitoring.coreos.com",
    "v1",
    "ServiceMonitor",
    "servicemonitors",
    true
);
res!(
    PODMONITORS,
    "monitoring.coreos.com",
    "v1",
    "PodMonitor",
    "podmonitors",
    true
);

res!(
    SCRAPECONFIGS,
    "monitoring.coreos.com",
    "v1alpha1",
    "ScrapeConfig",
    "scrapeconfigs",
    true
);

const ALL: &[Res] = &[
    NAMESPACES,
    SECRETS,
    SERVICES,
    ENDPOINTS,
    PODS,
    CONFIGMAPS,
    NODES,
    ENDPOINTSLICES,
    DAEMONSETS,
    STATEFULSETS,
    PROMETHEUSES,
    PROMETHEUSAGENTS,
    SERVICEMONITORS,
    PODMONITORS,
    SCRAPECONFIGS,
];

/// The resource of a Prometheus-like object: `prometheusagents` for a PrometheusAgent (the
/// operator's agent mode, which mounts `spec.secrets` and selects ServiceMonitors the same way),
/// `prometheuses` otherwise.
pub fn prometheus_res(obj: &Value) -> &'static Res {
    if crate::crd::is_agent(obj) {
        &PROMETHEUSAGENTS
    } else {
        &PROMETHEUSES
    }
}

/// A connected client and the context it came from.
#[derive(Clone)]
pub struct Kube {
    pub client: kube::Client,
    pub context: String,
    /// The server URL of the context's cluster (for messages).
    pub server: String,
    /// Send every write with dryRun=All.
    pub server_dry_run: bool,
}

/// Page size of every list: memory stays bounded on large clusters.
const PAGE: u32 = 500;

fn describe(res: &Res, ns: Option<&str>, name: &str) -> String {
    match ns.filter(|_| res.namespaced) {
        Some(ns) => format!("{} {ns}/{name}", res.kind),
        None => format!("{} {name}", res.kind),
    }
}

impl Kube {
    /// Connect with the kubeconfig (`--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`) and context.
    pub async fn connect(global: &GlobalOpts, context: Option<&str>) -> Result<Kube> {
        let kubeconfig = read_kubeconfig(global)?;
        let name = context
            .map(str::to_string)
            .or_else(|| kubeconfig.current_context.clone())
            .unwrap_or_default();
        if let Some(c) = context
            && !kubeconfig.contexts.iter().any(|x| x.name == c)
        {
            return Err(Error::Kubeconfig(format!(
                "context {c:?} is not in the kubeconfig (contexts: {})",
                kubeconfig
                    .contexts
                    .iter()
                    .map(|x| x.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let opts = KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &opts)
            .await
            .map_err(|e| Error::Kubeconfig(e.to_string()))?;
        // kube-rs retries 429/503/504 by itself (15 times, backoff up to 1000 s) under
        // apply::write's own bounded retries: a throttling server kept a run going for many
        // minutes. apply::write is the one retry policy (bounded, honours Retry-After).
        config.default_retry = false;
        let server = config.cluster_url.to_string();
        let server = server.strip_suffix('/').unwrap_or(&server).to_string();
        let client = kube::Client::try_from(config).map_err(|source| Error::Connect {
            context: name.clone(),
            source,
        })?;
        Ok(Kube {
            client,
            context: name,
            server,
            server_dry_run: false,
        })
    }

    /// All context names of the kubeconfig.
    pub fn contexts(global: &GlobalOpts) -> Result<Vec<String>> {
        let kubeconfig = read_kubeconfig(global)?;
        Ok(kubeconfig.contexts.into_iter().map(|c| c.name).collect())
    }

    /// The error of a request: which server could not be reached, or the API error.
    pub fn err(&self, action: &'static str, object: impl Into<String>, e: kube::Error) -> Error {
        Error::request(&self.server, &self.context, action, object, e)
    }

    /// Whether the API server answers at all (`GET /version`): [`Error::Unreachable`] when the
    /// connection fails; any answer (even an error status) is Ok.
    /// The server's `/version`.
    pub async fn server_version(&self) -> Result<k8s_openapi::apimachinery::pkg::version::Info> {
        self.client
            .apiserver_version()
            .await
            .map_err(|e| self.err("get", "/version", e))
    }

    /// Whether the server answers at all (a transport failure is the error); its gitVersion
    /// when `/version` answered with one.
    pub async fn reachable(&self) -> Result<Option<String>> {
        match self.client.apiserver_version().await {
            Err(e) if crate::error::transport_failure(&e).is_some() => {
                Err(self.err("get", "/version", e))
            }
            Ok(v) => Ok(Some(v.git_version)),
            Err(_) => Ok(None),
        }
    }

    fn api(&self, res: &Res, ns: Option<&str>) -> Api<DynamicObject> {
        let ar = res.api_resource();
        match ns.filter(|_| res.namespaced) {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        }
    }

    fn to_value(res: &Res, o: DynamicObject) -> Value {
        let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
        // List items of built-in types come without apiVersion/kind: put them back.
        v["apiVersion"] = json!(res.api_version());
        v["kind"] = json!(res.kind);
        v
    }

    fn from_value(v: &Value) -> Result<DynamicObject> {
        serde_json::from_value(v.clone()).map_err(|source| Error::Json {
            what: "internal: object does not serialize".into(),
            source,
        })
    }

    /// List (paginated) in one namespace or all, with an optional label selector.
    pub async fn list(
        &self,
        res: &Res,
        ns: Option<&str>,
        labels: Option<&str>,
    ) -> Result<Vec<Value>> {
        let api = self.api(res, ns);
        let mut out = Vec::new();
        let mut lp = ListParams::default().limit(PAGE);
        if let Some(l) = labels {
            lp = lp.labels(l);
        }
        loop {
            let page = api.list(&lp).await.map_err(|e| {
                self.err(
                    "list",
                    format!("{} in {}", res.plural, ns.unwrap_or("all namespaces")),
                    e,
                )
            })?;
            let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
            out.extend(page.items.into_iter().map(|o| Self::to_value(res, o)));
            match next {
                Some(c) => lp = lp.continue_token(&c),
                None => break,
            }
        }
        Ok(out)
    }

    /// Every Prometheus and, where the cluster serves them, every PrometheusAgent in `ns`
    /// (agents after the Prometheuses). An agent list the server does not serve (404: an
    /// operator without the resource) or this user may not read (403) adds none.
    pub async fn list_prometheuses(&self, ns: Option<&str>) -> Result<Vec<Value>> {
        let (proms, agents) = tokio::join!(
            self.list(&PROMETHEUSES, ns, None),
            self.list(&PROMETHEUSAGENTS, ns, None),
        );
        let mut all = proms?;
        match agents {
            Ok(a) => all.extend(a),
            Err(Error::Api {
                source: kube::Error::Api(s),
                ..
            }) if s.code == 404 => {}
            // Optional: a role written before agents existed still fixes Prometheus resources,
            // but the user must know agents were not looked at.
            Err(Error::Api {
                source: kube::Error::Api(s),
                ..
            }) if s.code == 403 => eprintln!(
                "note: cannot list PrometheusAgents ({}): only Prometheus resources are considered; \
                 grant list on monitoring.coreos.com prometheusagents (README, RBAC) to include agents",
                s.message
            ),
            Err(e) => return Err(e),
        }
        Ok(all)
    }

    /// One page of a list (`limit` items from `continue_token`): callers that fold items as they
    /// come keep memory bounded by the page, not the cluster. Returns the items and the next
    /// continue token.
    pub async fn list_page(
        &self,
        res: &Res,
        ns: Option<&str>,
        labels: Option<&str>,
        limit: u32,
        continue_token: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>)> {
        let api = self.api(res, ns);
        let mut lp = ListParams::default().limit(limit.max(1));
        if let Some(l) = labels {
            lp = lp.labels(l);
        }
        if let Some(c) = continue_token {
            lp = lp.continue_token(c);
        }
        let page = api.list(&lp).await.map_err(|e| {
            self.err(
                "list",
                format!("{} in {}", res.plural, ns.unwrap_or("all namespaces")),
                e,
            )
        })?;
        let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
        Ok((
            page.items
                .into_iter()
                .map(|o| Self::to_value(res, o))
                .collect(),
            next,
        ))
    }

    /// SubjectAccessReview: may `user` (with `groups`) do what `attributes` says? `attributes` is
    /// `{"resourceAttributes": {..}}` or `{"nonResourceAttributes": {"verb": .., "path": ..}}`.
    pub async fn subject_access_review(
        &self,
        user: &str,
        groups: &[String],
        attributes: Value,
    ) -> Result<bool> {
        let mut spec = attributes;
        spec["user"] = json!(user);
        spec["groups"] = json!(groups);
        let body = json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": spec
        });
        let req = http::Request::post("/apis/authorization.k8s.io/v1/subjectaccessreviews")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap_or_default())
            .map_err(|source| Error::Request {
                what: "SubjectAccessReview".into(),
                source,
            })?;
        let answer: Value = self
            .client
            .request(req)
            .await
            .map_err(|e| self.err("create", "SubjectAccessReview", e))?;
        Ok(answer["status"]["allowed"].as_bool() == Some(true))
    }

    /// Get, or None when it does not exist.
    pub async fn get_opt(&self, res: &Res, ns: Option<&str>, name: &str) -> Result<Option<Value>> {
        self.api(res, ns)
            .get_opt(name)
            .await
            .map(|o| o.map(|o| Self::to_value(res, o)))
            .map_err(|e| self.err("get", describe(res, ns, name), e))
    }

    /// Get a namespaced built-in object as its `k8s-openapi` type, or None when it does not exist.
    pub async fn get_typed<K>(&self, ns: &str, name: &str) -> Result<Option<K>>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        Api::<K>::namespaced(self.client.clone(), ns)
            .get_opt(name)
            .await
            .map_err(|e| self.err("get", format!("{} {ns}/{name}", K::kind(&())), e))
    }

    /// Whether the API server serves a type (the Prometheus Operator's CRDs may be missing).
    pub async fn serves(&self, res: &Res) -> Result<bool> {
        let path = if res.group.is_empty() {
            format!("/api/{}", res.version)
        } else {
            format!("/apis/{}/{}", res.group, res.version)
        };
        let req = http::Request::get(&path)
            .body(Vec::new())
            .map_err(|source| Error::Request {
                what: format!("GET {path}"),
                source,
            })?;
        match self.client.request::<Value>(req).await {
            Ok(list) => Ok(list["resources"]
                .as_array()
                .is_some_and(|a| a.iter().any(|r| r["name"].as_str() == Some(res.plural)))),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(self.err("discover", path, e)),
        }
    }

    fn post_params(&self) -> PostParams {
        PostParams {
            dry_run: self.server_dry_run,
            field_manager: Some(FIELD_MANAGER.into()),
        }
    }

    /// Create (raw kube error kept for retry decisions).
    pub async fn create(&self, res: &Res, obj: &Value) -> std::result::Result<Value, kube::Error> {
        let ns = obj["metadata"]["namespace"].as_str();
        let o: DynamicObject =
            serde_json::from_value(obj.clone()).map_err(kube::Error::SerdeError)?;
        self.api(res, ns)
            .create(&self.post_params(), &o)
            .await
            .map(|o| Self::to_value(res, o))
    }

    /// JSON merge patch (the patch carries its resourceVersion precondition).
    pub async fn merge_patch(
        &self,
        res: &Res,
        ns: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> std::result::Result<Value, kube::Error> {
        let pp = PatchParams {
            dry_run: self.server_dry_run,
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        self.api(res, ns)
            .patch(name, &pp, &Patch::Merge(patch))
            .await
            .map(|o| Self::to_value(res, o))
    }

    /// Strategic merge patch (built-in types only), as `kubectl patch` and `kubectl rollout
    /// restart` send it. No precondition: the patch names only the fields it sets.
    pub async fn strategic_merge_patch(
        &self,
        res: &Res,
        ns: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> std::result::Result<Value, kube::Error> {
        let pp = PatchParams {
            dry_run: self.server_dry_run,
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        self.api(res, ns)
            .patch(name, &pp, &Patch::Strategic(patch))
            .await
            .map(|o| Self::to_value(res, o))
    }

    /// Replace (PUT) with the object's resourceVersion as precondition.
    pub async fn replace(&self, res: &Res, obj: &Value) -> std::result::Result<Value, kube::Error> {
        let ns = obj["metadata"]["namespace"].as_str();
        let name = obj["metadata"]["name"].as_str().unwrap_or("");
        let o: DynamicObject =
            serde_json::from_value(obj.clone()).map_err(kube::Error::SerdeError)?;
        self.api(res, ns)
            .replace(name, &self.post_params(), &o)
            .await
            .map(|o| Self::to_value(res, o))
    }

    /// Delete with uid and resourceVersion preconditions.
    pub async fn delete(
        &self,
        res: &Res,
        ns: Option<&str>,
        name: &str,
        uid: &str,
        rv: &str,
    ) -> std::result::Result<(), kube::Error> {
        let dp = DeleteParams {
            dry_run: self.server_dry_run,
            preconditions: Some(Preconditions {
                uid: (!uid.is_empty()).then(|| uid.to_string()),
                resource_version: (!rv.is_empty()).then(|| rv.to_string()),
            }),
            ..Default::default()
        };
        if !self.server_dry_run {
            return self.api(res, ns).delete(name, &dp).await.map(|_| ());
        }
        // kube-rs sends a DELETE's dryRun only in the DeleteOptions body; put it in the query
        // too, as kubectl does, so the dry run shows in audit and request logs (the body, which
        // the API server prefers, says the same).
        use kube::Resource as _;
        let ar = res.api_resource();
        let path = format!(
            "{}/{}?dryRun=All",
            DynamicObject::url_path(&ar, ns.filter(|_| res.namespaced)),
            name
        );
        let body = serde_json::to_vec(&dp).map_err(kube::Error::SerdeError)?;
        let req = http::Request::delete(&path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(kube::Error::HttpError)?;
        self.client.request::<Value>(req).await.map(|_| ())
    }

    /// SelfSubjectAccessReview: may the current user do `verb` on the resource?
    pub async fn can_i(
        &self,
        verb: &str,
        res: &Res,
        subresource: Option<&str>,
        ns: Option<&str>,
        name: Option<&str>,
    ) -> Result<bool> {
        let mut attrs = json!({"verb": verb, "group": res.group, "resource": res.plural});
        if let Some(s) = subresource {
            attrs["subresource"] = json!(s);
        }
        if let Some(ns) = ns.filter(|_| res.namespaced) {
            attrs["namespace"] = json!(ns);
        }
        if let Some(n) = name {
            attrs["name"] = json!(n);
        }
        let body = json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs}
        });
        let req = http::Request::post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap_or_default())
            .map_err(|source| Error::Request {
                what: "SelfSubjectAccessReview".into(),
                source,
            })?;
        let answer: Value = self
            .client
            .request(req)
            .await
            .map_err(|e| self.err("create", "SelfSubjectAccessReview", e))?;
        Ok(answer["status"]["allowed"].as_bool() == Some(true))
    }

    /// A raw GET of `path` (pods/proxy, nodes/proxy), without a body.
    fn raw_get(path: &str) -> std::result::Result<http::Request<Vec<u8>>, kube::Error> {
        http::Request::get(path)
            .body(Vec::new())
            .map_err(kube::Error::HttpError)
    }

    /// A raw GET whose body is read as it arrives (an answer too large to hold at once).
    pub async fn get_stream(
        &self,
        path: &str,
    ) -> std::result::Result<impl tokio::io::AsyncRead + Send + Unpin + use<>, kube::Error> {
        use tokio_util::compat::FuturesAsyncReadCompatExt;
        Ok(self
            .client
            .request_stream(Self::raw_get(path)?)
            .await?
            .compat())
    }

    /// A raw GET returning text.
    pub async fn get_text(&self, path: &str) -> std::result::Result<String, kube::Error> {
        self.client.request_text(Self::raw_get(path)?).await
    }

    /// A raw GET for a fan-out of many (`crate::fanout`): a 429 comes back as
    /// [`Attempt::Throttled`](crate::fanout::Attempt) with the server's `Retry-After` (API
    /// Priority and Fairness sets the header on a plain-text body, which kube-rs' error parsing
    /// drops), any other answer as the text or the error.
    pub async fn get_text_paced(&self, path: &str) -> crate::fanout::Attempt<String, kube::Error> {
        use crate::fanout::Attempt;
        let req = match Self::raw_get(path) {
            Ok(r) => r.map(kube::client::Body::from),
            Err(e) => return Attempt::Done(Err(e)),
        };
        let res = match self.client.send(req).await {
            Ok(r) => r,
            Err(e) => return Attempt::Done(Err(e)),
        };
        let status = res.status();
        let retry_after = res
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::fanout::parse_retry_after);
        if status == http::StatusCode::TOO_MANY_REQUESTS
            || (status == http::StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some())
        {
            return Attempt::Throttled(retry_after);
        }
        let body = match res.into_body().collect_bytes().await {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => return Attempt::Done(Err(e)),
        };
        if !status.is_success() {
            let s = kube::core::Status::failure(body.trim(), "proxied request failed")
                .with_code(status.as_u16());
            return Attempt::Done(Err(kube::Error::Api(s.boxed())));
        }
        Attempt::Done(Ok(body))
    }

    /// How many objects of a cluster-wide type there are, and the first one: a list of one
    /// item whose `remainingItemCount` counts the rest. None when the server does not say
    /// (it may omit the count; the caller then lists them all).
    pub async fn count(&self, res: &Res) -> Result<(Option<usize>, Option<Value>)> {
        let api = self.api(res, None);
        let page = api
            .list(&ListParams::default().limit(1))
            .await
            .map_err(|e| self.err("list", format!("{} in all namespaces", res.plural), e))?;
        let more = page
            .metadata
            .continue_
            .as_deref()
            .is_some_and(|c| !c.is_empty());
        let remaining = page.metadata.remaining_item_count;
        let n = page.items.len();
        let first = page
            .items
            .into_iter()
            .next()
            .map(|o| Self::to_value(res, o));
        let total = match (more, remaining) {
            (false, _) => Some(n),
            (true, Some(r)) => usize::try_from(r).ok().map(|r| r + n),
            (true, None) => None,
        };
        Ok((total, first))
    }

    /// Run a command in a container over WebSocket (`pods/exec`), without stdin and without a
    /// terminal; collects stdout, stderr and the final Status (bounded by `timeout`).
    pub async fn exec(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        argv: &[String],
        timeout: std::time::Duration,
    ) -> Result<ExecOutput> {
        use kube::api::AttachParams;
        use tokio::io::AsyncReadExt;
        let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(self.client.clone(), ns);
        let what = format!("Pod {ns}/{pod} container {container}");
        let run = async {
            let mut p = pods
                .exec(
                    pod,
                    argv.iter().cloned(),
                    &AttachParams::default()
                        .container(container)
                        .stdin(false)
                        .stdout(true)
                        .stderr(true),
                )
                .await
                .map_err(|e| self.err("exec in", what.clone(), e))?;
            let status = p.take_status();
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let (so, se) = (p.stdout(), p.stderr());
            let read_out = async {
                if let Some(mut r) = so {
                    let _ = r.read_to_end(&mut out).await;
                }
            };
            let read_err = async {
                if let Some(mut r) = se {
                    let _ = r.read_to_end(&mut err).await;
                }
            };
            tokio::join!(read_out, read_err);
            let st = match status {
                Some(f) => f.await,
                None => None,
            };
            let _ = p.join().await;
            let (success, message, exit_code) = match st {
                None => (true, String::new(), None),
                Some(s) => {
                    let code = s
                        .details
                        .as_ref()
                        .and_then(|d| d.causes.as_ref())
                        .and_then(|c| {
                            c.iter()
                                .find(|c| c.reason.as_deref() == Some("ExitCode"))
                                .and_then(|c| c.message.as_deref())
                                .and_then(|m| m.parse::<i32>().ok())
                        });
                    (
                        s.status.as_deref() == Some("Success"),
                        s.message.unwrap_or_default(),
                        code,
                    )
                }
            };
            Ok(ExecOutput {
                stdout: out,
                stderr: err,
                success,
                message,
                exit_code,
            })
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                what: format!("exec in {what}"),
                after: timeout,
            }),
        }
    }

    /// Check that a value deserializes as an object (used by rollback on backup files).
    pub fn check_object(v: &Value) -> Result<()> {
        Self::from_value(v).map(|_| ())
    }
}

/// Read the kubeconfig: `--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`.
fn read_kubeconfig(global: &GlobalOpts) -> Result<Kubeconfig> {
    let read = match &global.kubeconfig {
        Some(p) => Kubeconfig::read_from(p),
        None => Kubeconfig::read(),
    };
    read.map_err(|e| Error::Kubeconfig(kubeconfig_message(&e, global.kubeconfig.is_some())))
}

/// A kubeconfig that cannot be read: which file (named once, unquoted), where that name came
/// from, and why.
pub fn kubeconfig_message(e: &kube::config::KubeconfigError, from_flag: bool) -> String {
    match e {
        kube::config::KubeconfigError::ReadConfig(io, path) => {
            let source = if from_flag {
                "--kubeconfig"
            } else if std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty()) {
                "KUBECONFIG"
            } else {
                "the default"
            };
            format!("{} (from {source}): {io}", path.display())
        }
        other => other.to_string(),
    }
}

/// What a command run with [`Kube::exec`] produced.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The Status said Success (exit code 0).
    pub success: bool,
    /// The Status message when it did not (e.g. the runtime's "executable file not found").
    pub message: String,
    /// The exit code, when the command ran and exited non-zero.
    pub exit_code: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_kubeconfig_is_named_once_without_quotes() {
        let e = Kubeconfig::read_from("/nonexistent/promfix/kubeconfig").unwrap_err();
        let m = kubeconfig_message(&e, true);
        assert_eq!(
            m.matches("/nonexistent/promfix/kubeconfig").count(),
            1,
            "{m}"
        );
        assert!(!m.contains('"') && !m.contains('\''), "{m}");
        assert!(
            m.starts_with("/nonexistent/promfix/kubeconfig (from --kubeconfig): "),
            "{m}"
        );
    }
}
