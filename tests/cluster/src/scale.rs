//! Scenarios for large clusters: [`generate`] writes the text of a kubeadm cluster with N nodes
//! and kube-prometheus-stack (as the `e-*` scenarios lay it out), for doctor's scale test and the
//! benchmarks (100 / 1,000 / 5,000 nodes).
//!
//! What the cluster holds:
//! - `node-00001` .. `node-NNNNN` (node-00001 the control plane with kubeadm's mirror pods:
//!   etcd, kube-apiserver, kube-scheduler, kube-controller-manager), node IPs `127.0.X.Y` from
//!   127.0.2.1 on (250 per X), moved to 127.NET.X.Y by the loader;
//! - each kubelet's `/configz` (the TestCluster document's `kubelets`: held in memory, served by
//!   nodes/proxy; no per-node process). Token authentication is off (authorization Webhook,
//!   anonymous requests on) on the nodes the [`Kubelets`] variant says: by default every 100th
//!   node from node-00002 on ([`webhook_off_nodes`] counts them); none ([`Kubelets::AllUp`]); or
//!   every worker, all but node-00001 ([`Kubelets::WorkersForbidden`]). Those kubelets answer
//!   Prometheus 403, as a real kubelet does for `system:anonymous` when its token webhook is off
//!   (a `forbidden` listener); the others answer `/metrics` over https (`secure-metrics`);
//! - kube-proxy: kubeadm's ConfigMap with `metricsBindAddress` unset (127.0.0.1:10249) and the
//!   DaemonSet (whose controller makes one pod per node, mounting the ConfigMap); each pod serves
//!   its metrics on node-local loopback only, so every kube-proxy target is refused (until
//!   `kubectl promfix kube-proxy`);
//! - the operator's kubelet Service and Endpoints (every node), the chart's Services and
//!   ServiceMonitors for kubelet, kube-proxy, scheduler and controller-manager (healthy: the
//!   mirror pods bind their secure ports to 0.0.0.0, so they answer on node-00001), the
//!   Prometheus (scrapeInterval 30s) and its service account as a scenario user with the chart's
//!   ClusterRole rights.
//!
//! `net` is the network octet the cluster is meant for: addresses are written `127.0.X.Y`, which
//! the loader moves to the octet the harness picks, so the same text serves any octet; it is
//! recorded in the header only.

use std::fmt::Write;

/// Nodes per third octet of the node addresses.
const PER_OCTET: usize = 250;

/// The name of node `i` (0-based).
pub fn node_name(i: usize) -> String {
    format!("node-{:05}", i + 1)
}

/// The address of node `i` (0-based), as written in the scenario (`127.0.X.Y`).
pub fn node_ip(i: usize) -> String {
    format!("127.0.{}.{}", 2 + i / PER_OCTET, 1 + i % PER_OCTET)
}

/// Which kubelets run with token authentication off (and so answer Prometheus 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kubelets {
    /// Every 100th node from node-00002 on.
    #[default]
    EveryHundredth,
    /// None: every kubelet target is up.
    AllUp,
    /// Every worker (all nodes but the control plane, node-00001).
    WorkersForbidden,
}

impl Kubelets {
    /// Whether node `i` (0-based) runs with token authentication off.
    pub fn webhook_off(self, i: usize) -> bool {
        match self {
            Kubelets::EveryHundredth => i % 100 == 1,
            Kubelets::AllUp => false,
            Kubelets::WorkersForbidden => i > 0,
        }
    }

    /// How many of `nodes` nodes have token authentication off.
    pub fn webhook_off_nodes(self, nodes: usize) -> usize {
        (0..nodes).filter(|i| self.webhook_off(*i)).count()
    }
}

/// Whether node `i` (0-based) runs with token authentication off ([`Kubelets::EveryHundredth`]).
pub fn webhook_off(i: usize) -> bool {
    Kubelets::EveryHundredth.webhook_off(i)
}

/// How many of `nodes` nodes have token authentication off ([`Kubelets::EveryHundredth`]).
pub fn webhook_off_nodes(nodes: usize) -> usize {
    Kubelets::EveryHundredth.webhook_off_nodes(nodes)
}

const SA: &str = "prometheus-kube-prometheus-prometheus";
const VERSION: &str = "v1.33.1";

fn helm_meta(out: &mut String, app: &str) {
    let _ = write!(
        out,
        "  annotations:\n    meta.helm.sh/release-name: prometheus\n    meta.helm.sh/release-namespace: monitoring\n  labels:\n    app: {app}\n    app.kubernetes.io/instance: prometheus\n    app.kubernetes.io/managed-by: Helm\n    app.kubernetes.io/part-of: kube-prometheus-stack\n    app.kubernetes.io/version: 77.11.1\n    chart: kube-prometheus-stack-77.11.1\n    heritage: Helm\n    release: prometheus\n"
    );
}

fn mirror_pod(out: &mut String, component: &str, image: &str, command: &[&str]) {
    let node = node_name(0);
    let ip = node_ip(0);
    let _ = write!(
        out,
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {component}-{node}\n  namespace: kube-system\n  annotations:\n    kubernetes.io/config.source: file\n    kubernetes.io/config.mirror: 0a1b2c3d4e5f60718293a4b5c6d7e8f9\n  labels:\n    component: {component}\n    tier: control-plane\nspec:\n  nodeName: {node}\n  hostNetwork: true\n  priorityClassName: system-node-critical\n  containers:\n    - name: {component}\n      image: {image}\n      command:\n"
    );
    for c in command {
        let _ = writeln!(out, "        - {c}");
    }
    let _ = write!(
        out,
        "status:\n  phase: Running\n  hostIP: {ip}\n  podIP: {ip}\n  podIPs:\n    - {{ip: {ip}}}\n  startTime: \"2025-06-01T08:00:00Z\"\n  conditions:\n    - {{type: Ready, status: \"True\", lastTransitionTime: \"2025-06-01T08:00:10Z\"}}\n    - {{type: ContainersReady, status: \"True\", lastTransitionTime: \"2025-06-01T08:00:10Z\"}}\n"
    );
}

fn service(out: &mut String, suffix: &str, port: u16, selector: &str) {
    let _ = write!(
        out,
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: prometheus-kube-prometheus-{suffix}\n  namespace: kube-system\n"
    );
    helm_meta(out, &format!("kube-prometheus-stack-{suffix}"));
    let _ = write!(
        out,
        "    jobLabel: {suffix}\nspec:\n  clusterIP: None\n  ports:\n    - {{name: http-metrics, port: {port}, protocol: TCP, targetPort: {port}}}\n  selector:\n    {selector}\n  type: ClusterIP\n"
    );
}

fn service_monitor(out: &mut String, suffix: &str, https: bool) {
    let _ = write!(
        out,
        "---\napiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: prometheus-kube-prometheus-{suffix}\n  namespace: monitoring\n"
    );
    helm_meta(out, &format!("kube-prometheus-stack-{suffix}"));
    let _ = write!(
        out,
        "spec:\n  endpoints:\n    - bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token\n      port: http-metrics\n"
    );
    if https {
        let _ = write!(
            out,
            "      scheme: https\n      tlsConfig:\n        caFile: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt\n        insecureSkipVerify: true\n"
        );
    }
    let _ = write!(
        out,
        "  jobLabel: jobLabel\n  namespaceSelector:\n    matchNames: [kube-system]\n  selector:\n    matchLabels:\n      app: kube-prometheus-stack-{suffix}\n      release: prometheus\n"
    );
}

/// The scenario text of a kubeadm cluster with `nodes` nodes (at least 1, at most 250 × 250),
/// every 100th kubelet answering 403.
pub fn generate(nodes: usize, net: u8) -> String {
    generate_with(nodes, net, Kubelets::EveryHundredth)
}

/// [`generate`], with the kubelets `kubelets` says answering 403.
pub fn generate_with(nodes: usize, net: u8, kubelets: Kubelets) -> String {
    let nodes = nodes.clamp(1, PER_OCTET * 250);
    let webhook_off = |i: usize| kubelets.webhook_off(i);
    let mut out = String::with_capacity(4096 + nodes * 2048);
    let _ = write!(
        out,
        "# Generated by promfix_testcluster::scale::generate_with({nodes}, {net}, {kubelets:?}): a kubeadm\n# cluster with {nodes} nodes and kube-prometheus-stack (see the module docs of scale.rs).\n"
    );
    // The TestCluster document: kubelets' /configz, the Prometheus user, the listeners.
    let _ = write!(
        out,
        "apiVersion: promfix.test/v1alpha1\nkind: TestCluster\nspec:\n  version: {VERSION}\n  prometheusOperator: true\n  kubelets:\n"
    );
    for i in 0..nodes {
        let on = !webhook_off(i);
        let _ = writeln!(
            out,
            "    {}: {{address: 0.0.0.0, port: 10250, readOnlyPort: 0, authentication: {{anonymous: {{enabled: {}}}, webhook: {{enabled: {on}, cacheTTL: 0s}}, x509: {{clientCAFile: /etc/kubernetes/pki/ca.crt}}}}, authorization: {{mode: Webhook}}, cgroupDriver: systemd, staticPodPath: /etc/kubernetes/manifests}}",
            node_name(i),
            !on
        );
    }
    let _ = write!(
        out,
        "  users:\n    - name: system:serviceaccount:monitoring:{SA}\n      groups: [system:serviceaccounts, \"system:serviceaccounts:monitoring\", system:authenticated]\n      rules:\n        - {{verbs: [get, list, watch], apiGroups: [\"\"], resources: [nodes, nodes/metrics, services, endpoints, pods]}}\n        - {{verbs: [get], nonResourceURLs: [/metrics, /metrics/cadvisor]}}\n  listeners:\n"
    );
    for i in 0..nodes {
        let b = if webhook_off(i) {
            "forbidden"
        } else {
            "secure-metrics"
        };
        let _ = writeln!(
            out,
            "    - {{ip: {}, port: 10250, behaviour: {b}}}",
            node_ip(i)
        );
    }
    out.push_str("  notReadyDelayMs: 0\n");
    for ns in ["kube-system", "monitoring"] {
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels:\n    kubernetes.io/metadata.name: {ns}\n"
        );
    }
    // Nodes.
    for i in 0..nodes {
        let name = node_name(i);
        let ip = node_ip(i);
        let role = if i == 0 {
            "    node-role.kubernetes.io/control-plane: \"\"\n"
        } else {
            ""
        };
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    kubernetes.io/arch: amd64\n    kubernetes.io/hostname: {name}\n    kubernetes.io/os: linux\n{role}status:\n  addresses:\n    - {{type: InternalIP, address: {ip}}}\n    - {{type: Hostname, address: {name}}}\n  conditions:\n    - {{type: Ready, status: \"True\", reason: KubeletReady, lastHeartbeatTime: \"2025-06-01T08:00:00Z\", lastTransitionTime: \"2025-06-01T08:00:00Z\"}}\n  daemonEndpoints:\n    kubeletEndpoint: {{Port: 10250}}\n  nodeInfo: {{kubeletVersion: {VERSION}, kubeProxyVersion: {VERSION}, containerRuntimeVersion: \"containerd://1.7.27\", operatingSystem: linux, architecture: amd64}}\n"
        );
    }
    // Mirror pods of the control-plane node.
    mirror_pod(
        &mut out,
        "etcd",
        "registry.k8s.io/etcd:3.5.21-0",
        &[
            "etcd",
            "--client-cert-auth=true",
            "--listen-metrics-urls=http://127.0.0.1:2381",
            "--name=node-00001",
        ],
    );
    for (c, bind) in [
        ("kube-scheduler", "0.0.0.0"),
        ("kube-controller-manager", "0.0.0.0"),
    ] {
        let image = format!("registry.k8s.io/{c}:{VERSION}");
        let kc = if c == "kube-scheduler" {
            "scheduler.conf"
        } else {
            "controller-manager.conf"
        };
        let bind_flag = format!("--bind-address={bind}");
        let kubeconfig = format!("--kubeconfig=/etc/kubernetes/{kc}");
        mirror_pod(
            &mut out,
            c,
            &image,
            &[c, &bind_flag, &kubeconfig, "--leader-elect=true"],
        );
    }
    // kube-proxy: ConfigMap and DaemonSet; its controller makes one pod per node, each mounting
    // the ConfigMap at /var/lib/kube-proxy as kubeadm's does. The pods mount no service-account
    // token (a test-cluster economy: 5,000 token volumes to keep fresh).
    out.push_str("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kube-proxy\n  namespace: kube-system\n  labels:\n    app: kube-proxy\ndata:\n  config.conf: |-\n    apiVersion: kubeproxy.config.k8s.io/v1alpha1\n    bindAddress: 0.0.0.0\n    clusterCIDR: 10.244.0.0/16\n    kind: KubeProxyConfiguration\n    metricsBindAddress: \"\"\n    mode: \"\"\n");
    let _ = write!(
        out,
        "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: kube-proxy\n  namespace: kube-system\n  labels:\n    k8s-app: kube-proxy\nspec:\n  selector:\n    matchLabels:\n      k8s-app: kube-proxy\n  template:\n    metadata:\n      labels:\n        k8s-app: kube-proxy\n    spec:\n      hostNetwork: true\n      automountServiceAccountToken: false\n      containers:\n        - name: kube-proxy\n          image: registry.k8s.io/kube-proxy:{VERSION}\n          command: [/usr/local/bin/kube-proxy, --config=/var/lib/kube-proxy/config.conf, --hostname-override=$(NODE_NAME)]\n          env:\n            - name: NODE_NAME\n              valueFrom:\n                fieldRef: {{apiVersion: v1, fieldPath: spec.nodeName}}\n          volumeMounts:\n            - {{name: kube-proxy, mountPath: /var/lib/kube-proxy}}\n      volumes:\n        - name: kube-proxy\n          configMap: {{name: kube-proxy}}\n"
    );
    // Prometheus' service account, the kubelet Service and Endpoints, the chart's exporters.
    let _ = write!(
        out,
        "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {SA}\n  namespace: monitoring\n"
    );
    out.push_str("---\napiVersion: v1\nkind: Service\nmetadata:\n  name: prometheus-kube-prometheus-kubelet\n  namespace: kube-system\n  labels:\n    app.kubernetes.io/managed-by: prometheus-operator\n    app.kubernetes.io/name: kubelet\n    k8s-app: kubelet\nspec:\n  clusterIP: None\n  ports:\n    - {name: https-metrics, port: 10250, protocol: TCP, targetPort: 10250}\n");
    out.push_str("---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: prometheus-kube-prometheus-kubelet\n  namespace: kube-system\n  labels:\n    app.kubernetes.io/managed-by: prometheus-operator\n    app.kubernetes.io/name: kubelet\n    k8s-app: kubelet\nsubsets:\n  - addresses:\n");
    for i in 0..nodes {
        let _ = writeln!(
            out,
            "      - {{ip: {}, targetRef: {{kind: Node, name: {}}}}}",
            node_ip(i),
            node_name(i)
        );
    }
    out.push_str("    ports:\n      - {name: https-metrics, port: 10250, protocol: TCP}\n");
    let _ = write!(
        out,
        "---\napiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: prometheus-kube-prometheus-kubelet\n  namespace: monitoring\n"
    );
    helm_meta(&mut out, "kube-prometheus-stack-kubelet");
    out.push_str("spec:\n  endpoints:\n    - bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token\n      honorLabels: true\n      port: https-metrics\n      scheme: https\n      tlsConfig:\n        caFile: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt\n        insecureSkipVerify: true\n  jobLabel: k8s-app\n  namespaceSelector:\n    matchNames: [kube-system]\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: kubelet\n      k8s-app: kubelet\n");
    service(
        &mut out,
        "kube-scheduler",
        10259,
        "component: kube-scheduler",
    );
    service_monitor(&mut out, "kube-scheduler", true);
    service(
        &mut out,
        "kube-controller-manager",
        10257,
        "component: kube-controller-manager",
    );
    service_monitor(&mut out, "kube-controller-manager", true);
    service(&mut out, "kube-proxy", 10249, "k8s-app: kube-proxy");
    service_monitor(&mut out, "kube-proxy", false);
    let _ = write!(
        out,
        "---\napiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata:\n  name: {SA}\n  namespace: monitoring\n"
    );
    helm_meta(&mut out, "kube-prometheus-stack-prometheus");
    let _ = write!(
        out,
        "spec:\n  image: quay.io/prometheus/prometheus:v3.6.0\n  portName: http-web\n  replicas: 1\n  routePrefix: /\n  scrapeInterval: 30s\n  serviceAccountName: {SA}\n  serviceMonitorNamespaceSelector: {{}}\n  serviceMonitorSelector:\n    matchLabels:\n      release: prometheus\n  podMonitorNamespaceSelector: {{}}\n  podMonitorSelector:\n    matchLabels:\n      release: prometheus\n  version: v3.6.0\n"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn addresses_and_names() {
        assert_eq!(node_name(0), "node-00001");
        assert_eq!(node_ip(0), "127.0.2.1");
        assert_eq!(node_ip(249), "127.0.2.250");
        assert_eq!(node_ip(250), "127.0.3.1");
        assert_eq!(webhook_off_nodes(5000), 50);
        assert_eq!(webhook_off_nodes(1), 0);
        assert_eq!(Kubelets::AllUp.webhook_off_nodes(5000), 0);
        assert_eq!(Kubelets::WorkersForbidden.webhook_off_nodes(5000), 4999);
    }

    #[test]
    fn generated_scenarios_parse() {
        for (n, k) in [
            (1, Kubelets::EveryHundredth),
            (3, Kubelets::WorkersForbidden),
            (100, Kubelets::EveryHundredth),
            (100, Kubelets::AllUp),
        ] {
            let s =
                Scenario::parse(&generate_with(n, 0, k), 42).unwrap_or_else(|e| panic!("{n}: {e}"));
            let forbidden = s
                .spec
                .listeners
                .iter()
                .filter(|l| {
                    format!("{:?}", l.behaviour)
                        .to_lowercase()
                        .contains("forbidden")
                })
                .count();
            assert_eq!(forbidden, k.webhook_off_nodes(n), "{n} {k:?}");
            assert_eq!(s.spec.kubelets.len(), n);
            assert_eq!(s.objects_of("Node").count(), n);
            assert_eq!(s.objects_of("DaemonSet").count(), 1);
            assert!(s.spec.listeners.iter().all(|l| l.ip.octets()[1] == 42));
        }
    }
}
