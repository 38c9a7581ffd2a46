//! `pods/proxy` (to the pod's real Prometheus) and `nodes/proxy` (the kubelet's `/configz`,
//! `/metrics`).
//!
//! OWNER: exec helper. The api layer authenticates and authorizes (`get`/`create`... on
//! `pods/proxy`, `nodes/proxy`), then calls these.

use crate::api::Body;
use crate::cluster::Cluster;
use http::{Request, Response};
use hyper::body::Incoming;
use std::sync::Arc;

/// Serve `/api/v1/namespaces/{ns}/pods/{name_or_name:port}/proxy{rest}` (`rest` starts with `/` or is empty).
pub async fn handle_pod(
    cluster: Arc<Cluster>,
    req: Request<Incoming>,
    namespace: &str,
    name: &str,
    rest: &str,
) -> Response<Body> {
    let _ = (cluster, req, namespace, name, rest);
    Response::builder()
        .status(501)
        .body(crate::api::full("pods/proxy is not implemented yet"))
        .expect("static response")
}

/// Serve `/api/v1/nodes/{name_or_name:port}/proxy{rest}`.
pub async fn handle_node(
    cluster: Arc<Cluster>,
    req: Request<Incoming>,
    node: &str,
    rest: &str,
) -> Response<Body> {
    let _ = (cluster, req, node, rest);
    Response::builder()
        .status(501)
        .body(crate::api::full("nodes/proxy is not implemented yet"))
        .expect("static response")
}
