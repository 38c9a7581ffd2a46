//! The HTTPS API server: routing, authentication and authorization, discovery, CRUD, watch,
//! Table output, patches (via `crate::patch`), dryRun, fault injection and the request log.
//!
//! - `start(cluster)` serves HTTPS on `cluster.api_ip()` (a free port) with a per-cluster CA;
//!   HTTP/2 and HTTP/1.1 by ALPN, upgrades (WebSocket exec) on HTTP/1.1. `ApiServer { addr, url,
//!   ca_pem }` stops serving when dropped.
//! - `write_kubeconfig(path, &server, &users)`: cluster and context `promfix-test` (first user),
//!   `promfix-test-<user>` for the others, bearer tokens, mode 0600.
//! - Every request: latency (`Faults::set_latency`), bearer authentication (401), RBAC-like
//!   authorization (`auth.rs`, 403 with the real texts), routing, the request log.
//! - Resource verbs as the real server answers them (`handler.rs`); watches (`watch.rs`);
//!   `pods/exec` → `crate::exec::handle`, `pods/proxy` → `crate::proxy::handle_pod`,
//!   `nodes/proxy` → `crate::proxy::handle_node`; discovery, OpenAPI and Table from
//!   `discovery.rs`, `openapi.rs` (+ `openapi_pb.rs` for the protobuf v2 form), `table.rs`.
//! - Request bodies in JSON, YAML, or (for the types kubectl's typed clients send)
//!   Kubernetes protobuf (`protobuf.rs`); responses are always JSON.
//! - `testing`: a bare in-process cluster and an HTTPS client for tests.

pub mod discovery;
mod handler;
#[cfg(test)]
mod kubectl_tests;
pub mod openapi;
pub mod openapi_pb;
pub mod protobuf;
pub mod server;
pub mod table;
pub mod testing;
#[cfg(test)]
mod tests;
mod watch;

pub use server::{ApiServer, start, write_kubeconfig};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};

/// The response body type of every handler (also exec and proxy).
pub type Body = BoxBody<Bytes, std::io::Error>;

/// A complete body.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}
