//! Fault injection (latency, the next N writes answering 409/500/429, dropped connections) and the
//! request log (method, path, query, content type, status) that tests read.
//!
//! OWNER: api helper.
