//! One module per command: each glues inputs, `kube`, the fixes' pure planning, `apply` and
//! `output` together.

pub mod control_plane;
pub mod doctor;
pub mod etcd;
pub mod kube_proxy;
pub mod kubelet;
pub mod rollback;
pub mod verify;
pub mod version;
