//! The fixes: each observes, then plans (pure functions here), for the executor to apply.

pub mod etcd;
