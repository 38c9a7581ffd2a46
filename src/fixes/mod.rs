//! The fixes: each observes, then plans (pure functions here), for the executor to apply.

pub mod control_plane;
pub mod etcd;
pub mod kube_proxy;
pub mod kubelet;
