//! The node agent's client of the real API server: JSON in, JSON out, with the node's own
//! credentials (a kubeconfig like kubeadm's `/etc/kubernetes/kubelet.conf`).

use anyhow::{Context, Result};
use futures::StreamExt;
use futures::stream::BoxStream;
use kube::core::WatchEvent;
use serde_json::Value;
use std::path::Path;

/// A client of the API server authenticated as one node.
#[derive(Clone)]
pub struct ApiClient {
    client: kube::Client,
}

/// The HTTP status of an API error (None for transport errors).
pub fn status_code(e: &anyhow::Error) -> Option<u16> {
    e.chain()
        .find_map(|c| match c.downcast_ref::<kube::Error>() {
            Some(kube::Error::Api(s)) => Some(s.code),
            _ => None,
        })
}

impl ApiClient {
    /// A client from a kubeconfig file, sending `user_agent` (the API server names the field
    /// manager of a write after it: `kubelet`).
    pub async fn from_kubeconfig(path: &Path, user_agent: &str) -> Result<ApiClient> {
        let kc = kube::config::Kubeconfig::read_from(path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut cfg =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("loading {}", path.display()))?;
        cfg.headers.push((
            http::header::USER_AGENT,
            http::HeaderValue::from_str(user_agent).context("the user agent")?,
        ));
        let client = kube::Client::try_from(cfg).context("building the API client")?;
        Ok(ApiClient { client })
    }

    /// `method path` with an optional JSON body of `content_type`.
    pub async fn call(
        &self,
        method: http::Method,
        path: &str,
        content_type: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut req = http::Request::builder()
            .method(method.clone())
            .uri(path)
            .header("accept", "application/json");
        let bytes = match body {
            Some(b) => {
                req = req.header("content-type", content_type);
                serde_json::to_vec(b)?
            }
            None => Vec::new(),
        };
        let req = req.body(bytes)?;
        let v: Value = self
            .client
            .request(req)
            .await
            .with_context(|| format!("{method} {path}"))?;
        Ok(v)
    }

    /// GET `path`; None when 404.
    pub async fn get(&self, path: &str) -> Result<Option<Value>> {
        match self.call(http::Method::GET, path, "", None).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if status_code(&e) == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.call(http::Method::POST, path, "application/json", Some(body))
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value> {
        self.call(http::Method::PUT, path, "application/json", Some(body))
            .await
    }

    /// A strategic merge patch (what the kubelet sends for node and pod status).
    pub async fn patch_strategic(&self, path: &str, body: &Value) -> Result<Value> {
        self.call(
            http::Method::PATCH,
            path,
            "application/strategic-merge-patch+json",
            Some(body),
        )
        .await
    }

    pub async fn delete(&self, path: &str, options: &Value) -> Result<Value> {
        self.call(
            http::Method::DELETE,
            path,
            "application/json",
            Some(options),
        )
        .await
    }

    /// A watch (`path` carries `watch=1` and its query).
    pub async fn watch(
        &self,
        path: &str,
    ) -> Result<BoxStream<'static, kube::Result<WatchEvent<Value>>>> {
        let req = http::Request::builder()
            .method(http::Method::GET)
            .uri(path)
            .header("accept", "application/json")
            .body(Vec::new())?;
        let s = self
            .client
            .request_events::<Value>(req)
            .await
            .with_context(|| format!("watching {path}"))?;
        Ok(s.boxed())
    }
}
