//! `pods/proxy` (to the pod's real Prometheus) and `nodes/proxy` (the kubelet's `/configz`,
//! `/metrics`).
//!
//! OWNER: runtime helper.
