//! `pods/exec` over WebSocket (`v4.channel.k8s.io`, `v5.channel.k8s.io`): runs the real command in a
//! bubblewrap mount namespace where the pod's volumes appear at their container paths.
//!
//! OWNER: exec helper. The api layer authenticates and authorizes (`create` on `pods/exec`), then
//! calls `handle`.

use crate::api::Body;
use crate::cluster::Cluster;
use http::{Request, Response};
use hyper::body::Incoming;
use std::sync::Arc;

/// Serve `GET|POST /api/v1/namespaces/{ns}/pods/{pod}/exec?command=..&container=..&stdout=1..`.
pub async fn handle(
    cluster: Arc<Cluster>,
    req: Request<Incoming>,
    namespace: &str,
    pod: &str,
) -> Response<Body> {
    let _ = (cluster, req, namespace, pod);
    Response::builder()
        .status(501)
        .body(crate::api::full("exec is not implemented yet"))
        .expect("static response")
}
