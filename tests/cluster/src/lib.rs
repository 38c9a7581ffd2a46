//! The kubectl-promfix test cluster: a Kubernetes API server stand-in that behaves like the real
//! one on every path the plugin uses, with the controllers that matter (endpoints, EndpointSlices,
//! the Prometheus Operator, the kubelet's secret volumes, exec and proxy), driving real peers
//! (etcd, Prometheus, kubectl) started by the harness.
//!
//! Nothing in the plugin (`src/`) depends on this crate.

// ApiError mirrors a Status object and is returned everywhere; boxing it would only add noise.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod auth;
pub mod cluster;
pub mod components;
pub mod controllers;
pub mod exec;
pub mod faults;
pub mod harness;
pub mod kubelet;
pub mod managed;
pub mod patch;
pub mod peers;
pub mod proxy;
pub mod real;
pub mod resources;
pub mod sandbox;
pub mod scale;
pub mod scenario;
pub mod selectors;
pub mod static_pods;
pub mod status;
pub mod store;
