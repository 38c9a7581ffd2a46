//! kubectl-promfix library
pub mod certs;
