//! Fault injection (latency, the next N writes answering 409/500/429, dropped connections) and the
//! request log (method, path, query, content type, status) that tests read.
//!
//! OWNER: api helper.

/// Faults and the request log of one cluster.
#[derive(Debug, Default)]
pub struct Faults {}

impl Faults {
    pub fn new() -> Self {
        Faults {}
    }
}
