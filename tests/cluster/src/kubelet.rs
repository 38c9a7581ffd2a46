//! The kubelet: per-pod root directories where each pod's volumes are files (secret volumes: one
//! file per key, decoded bytes), the pod's processes (the real Prometheus for container
//! `prometheus`), pod status (Ready after a configurable delay), and `/configz` per node.
//!
//! OWNER: runtime helper.
