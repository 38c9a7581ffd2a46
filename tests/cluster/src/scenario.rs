//! Scenarios: multi-document YAML of ordinary Kubernetes objects plus at most one `kind: TestCluster`
//! document (etcd peers and certificate layout, kubelet configs, tokens and rights, faults).
//!
//! OWNER: controllers helper.
