//! The HTTPS API server: routing, authentication and authorization, discovery, CRUD, watch,
//! Table output, patches (via `crate::patch`), dryRun, fault injection and the request log.
//!
//! OWNER: api helper.

pub mod discovery;
mod handler;
#[cfg(test)]
mod kubectl_tests;
pub mod openapi;
pub mod openapi_pb;
pub mod protobuf;
mod server;
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
