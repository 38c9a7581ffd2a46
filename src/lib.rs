//! kubectl-promfix library
