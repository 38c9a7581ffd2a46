//! Real peers started and stopped by the harness: etcd with client-certificate TLS (its PKI
//! generated per test, in the kubespray or kubeadm file layout) and Prometheus processes.
//!
//! OWNER: runtime helper.
