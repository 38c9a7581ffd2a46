//! One running test cluster: the store, the API server, the controllers, the kubelet and the
//! peers it started. Dropping it (or calling `shutdown`) stops everything it started.
//!
//! OWNER: integration (wires the modules together).
