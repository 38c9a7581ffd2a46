//! One module per command: each glues inputs, `kube`, the fixes' pure planning, `apply` and
//! `output` together.

pub mod etcd;
pub mod rollback;
