//! The controllers that matter: endpoints, EndpointSlices (incl. mirroring), and the Prometheus
//! Operator (StatefulSet, pods, scrape configuration from ServiceMonitors/PodMonitors).
//!
//! OWNER: controllers helper.
