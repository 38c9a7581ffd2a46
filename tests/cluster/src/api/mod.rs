//! The HTTPS API server: routing, authentication and authorization, discovery, CRUD, watch,
//! Table output, patches (via `crate::patch`), dryRun, fault injection and the request log.
//!
//! OWNER: api helper.
