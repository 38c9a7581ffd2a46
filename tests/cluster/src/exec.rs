//! `pods/exec` over WebSocket (`v4.channel.k8s.io`, `v5.channel.k8s.io`): runs the real command in a
//! bubblewrap mount namespace where the pod's volumes appear at their container paths.
//!
//! OWNER: runtime helper.
