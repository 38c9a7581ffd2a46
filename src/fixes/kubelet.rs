//! The kubelet fix (node side only).
