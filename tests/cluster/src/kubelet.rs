//! The kubelet: per-pod root directories where each pod's volumes are files (secret volumes: one
//! file per key, decoded bytes), the pod's processes (the real Prometheus for container
//! `prometheus`), pod status (Ready after a configurable delay), and `/configz` per node.
//!
//! OWNER: runtime helper.

/// The kubelet of every node of one cluster.
#[derive(Debug, Default)]
pub struct Kubelet {}

impl Kubelet {
    pub fn new() -> Self {
        Kubelet {}
    }
}
