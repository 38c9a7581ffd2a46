//! The node agent (`promfix_testcluster::real::agent`) on the real control plane: the kubelet of
//! the scenario's nodes, running the pods the real controllers create and the real scheduler
//! binds.

use promfix_testcluster::real::{AgentOptions, RealCluster, RealOptions};
use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

async fn get(rc: &RealCluster, path: &str) -> Option<Value> {
    rc.get_json(path)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e:#}"))
}

fn apply(rc: &RealCluster, obj: &Value) {
    let file = rc.cp.dir().join("test-object.json");
    std::fs::write(&file, serde_json::to_vec(obj).unwrap()).unwrap();
    rc.cp
        .kubectl_ok(&["apply", "-f", &file.display().to_string()])
        .unwrap_or_else(|e| panic!("{e:#}"));
}

/// The Events about pod `default/<pod>` with `reason`.
fn events(rc: &RealCluster, pod: &str, reason: &str) -> Vec<Value> {
    let out = rc
        .cp
        .kubectl_ok(&[
            "get",
            "events",
            "-n",
            "default",
            "--field-selector",
            &format!("involvedObject.name={pod},reason={reason}"),
            "-o",
            "json",
        ])
        .unwrap();
    serde_json::from_str::<Value>(&out).unwrap()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Poll `f` every 250 ms until it returns Some (failing at once if a component exited), or fail
/// after `timeout` naming `what` (`RealCluster::wait_for` with a closure that may borrow the
/// cluster).
async fn wait<T>(
    rc: &RealCluster,
    what: &str,
    timeout: Duration,
    mut f: impl AsyncFnMut(&RealCluster) -> Option<T>,
) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        rc.check_running().map_err(|e| format!("{e:#}"))?;
        if let Some(v) = f(rc).await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_agent_runs_the_operators_prometheus_pods_on_the_real_control_plane() {
    let t0 = Instant::now();
    let opts = RealOptions {
        // KubeletConfiguration.syncFrequency: how soon a Secret's change reaches its files.
        agent: Some(AgentOptions {
            sync_frequency: Duration::from_secs(5),
            ..Default::default()
        }),
        ..Default::default()
    };
    let rc = RealCluster::start_builtin("a-seed-stable-prometheus-operator", opts)
        .await
        .unwrap_or_else(|e| panic!("starting the cluster: {e:#}"));
    eprintln!("cluster up in {:?}", t0.elapsed());
    let slot = rc.cp.ns.slot;
    let nodes = ["node1", "node2", "node3"];

    // Nodes: a Lease per node, held by the node, and the kubelet's conditions.
    let mut first_renew = Vec::new();
    for n in nodes {
        let path = format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{n}");
        let lease = wait(
            &rc,
            &format!("the Lease of {n}"),
            Duration::from_secs(30),
            async |rc| get(rc, &path).await,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lease["spec"]["holderIdentity"], n, "{lease}");
        assert_eq!(lease["spec"]["leaseDurationSeconds"], 40, "{lease}");
        assert_eq!(
            lease["metadata"]["ownerReferences"][0]["kind"], "Node",
            "{lease}"
        );
        first_renew.push(lease["spec"]["renewTime"].as_str().unwrap().to_string());
    }
    for n in nodes {
        let node = get(&rc, &format!("/api/v1/nodes/{n}")).await.unwrap();
        let conds = node["status"]["conditions"].as_array().unwrap();
        for (t, st) in [
            ("Ready", "True"),
            ("MemoryPressure", "False"),
            ("DiskPressure", "False"),
            ("PIDPressure", "False"),
        ] {
            let c = conds
                .iter()
                .find(|c| c["type"] == t)
                .unwrap_or_else(|| panic!("no {t} condition on {n}: {node}"));
            assert_eq!(c["status"], st, "{node}");
            assert!(
                !c["lastHeartbeatTime"].as_str().unwrap().starts_with("2020"),
                "{n}'s heartbeat is the scenario's: {node}"
            );
        }
        assert_eq!(node["status"]["allocatable"]["pods"], "110", "{node}");
    }

    // Each node is its own user under the Node authorizer: system:node:<name> in system:nodes,
    // refused an object no pod of its own refers to.
    apply(
        &rc,
        &json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "unreferenced", "namespace": "default"},
            "stringData": {"k": "v"}}),
    );
    let agent = rc.agent.as_ref().expect("the agent runs by default");
    let conf = agent.dir().join("nodes/node1/etc/kubernetes/kubelet.conf");
    let as_node = |args: &[&str]| {
        std::process::Command::new("kubectl")
            .arg(format!("--kubeconfig={}", conf.display()))
            .args(args)
            .output()
            .unwrap()
    };
    let who = as_node(&["auth", "whoami", "-o", "json"]);
    let who: Value = serde_json::from_slice(&who.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&who.stderr)));
    assert_eq!(
        who["status"]["userInfo"]["username"], "system:node:node1",
        "{who}"
    );
    assert!(
        who["status"]["userInfo"]["groups"]
            .as_array()
            .unwrap()
            .contains(&json!("system:nodes")),
        "{who}"
    );
    let denied = as_node(&["get", "secret", "unreferenced", "-n", "default"]);
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(
        !denied.status.success() && err.contains("no relationship found between node 'node1'"),
        "the Node authorizer's refusal: {err}"
    );
    // Its writes carry the kubelet's field manager.
    let lease = get(
        &rc,
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node1",
    )
    .await
    .unwrap();
    assert_eq!(
        lease["metadata"]["managedFields"][0]["manager"], "kubelet",
        "{lease}"
    );

    // The operator's StatefulSet, the real StatefulSet controller's pods, the real scheduler's
    // bindings: both replicas Running and Ready with pod IPs of the pod range.
    let names = [
        "prometheus-prom-prometheus-operator-prometheus-0",
        "prometheus-prom-prometheus-operator-prometheus-1",
    ];
    let mut ips = Vec::new();
    for name in names {
        let path = format!("/api/v1/namespaces/monitoring/pods/{name}");
        let pod = wait(
            &rc,
            &format!("pod monitoring/{name} Running and Ready"),
            Duration::from_secs(180),
            async |rc| {
                get(rc, &path)
                    .await
                    .filter(|p| p["status"]["phase"] == "Running" && ready(p))
            },
        )
        .await
        .unwrap_or_else(|e| {
            let pod = std::process::Command::new("kubectl")
                .env("KUBECONFIG", rc.kubeconfig())
                .args(["get", "pods", "-A", "-o", "wide"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            panic!("{e}\n{pod}")
        });
        let ip: Ipv4Addr = pod["status"]["podIP"].as_str().unwrap().parse().unwrap();
        let o = ip.octets();
        assert!(
            o[..3] == [198, 18, slot] && (128..=223).contains(&o[3]),
            "pod IP {ip} outside 198.18.{slot}.128-223"
        );
        assert_eq!(pod["status"]["podIPs"][0]["ip"], ip.to_string(), "{pod}");
        let node = pod["spec"]["nodeName"].as_str().unwrap();
        assert!(nodes.contains(&node), "{pod}");
        let node_ip = rc.cp.ns.addr(10 + node[4..].parse::<u8>().unwrap());
        assert_eq!(pod["status"]["hostIP"], node_ip.to_string(), "{pod}");
        let statuses = pod["status"]["containerStatuses"].as_array().unwrap();
        for c in ["prometheus", "config-reloader"] {
            let st = statuses
                .iter()
                .find(|s| s["name"] == c)
                .unwrap_or_else(|| panic!("no status of {c}: {pod}"));
            assert_eq!(st["ready"], true, "{pod}");
            assert!(st["state"]["running"]["startedAt"].is_string(), "{pod}");
        }
        let init = &pod["status"]["initContainerStatuses"][0];
        assert_eq!(init["name"], "init-config-reloader", "{pod}");
        assert_eq!(init["state"]["terminated"]["exitCode"], 0, "{pod}");
        ips.push(ip);
    }
    assert_ne!(ips[0], ips[1]);
    eprintln!("both Prometheus pods Ready after {:?}", t0.elapsed());

    // The real Prometheus 3, reached from the host through the pod IP.
    for ip in &ips {
        let r = promfix_testcluster::peers::http_request(
            "GET",
            *ip,
            9090,
            "/api/v1/status/buildinfo",
            Duration::from_secs(5),
        )
        .await
        .unwrap_or_else(|e| panic!("buildinfo of {ip}: {e:#}"));
        assert_eq!(r.status, 200, "{}", r.text());
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        let v = b["data"]["version"].as_str().unwrap_or("");
        assert!(v.starts_with("3."), "not Prometheus 3: {b}");
        let r = promfix_testcluster::peers::http_request(
            "GET",
            *ip,
            9090,
            "/api/v1/targets",
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let t: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(t["status"], "success", "{t}");
        assert!(t["data"]["activeTargets"].is_array(), "{t}");
    }

    // Conditions as the status manager leaves them: a True Ready has no reason left over from
    // its False time.
    let pod0 = get(
        &rc,
        &format!("/api/v1/namespaces/monitoring/pods/{}", names[0]),
    )
    .await
    .unwrap();
    let status_manager = pod0["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["subresource"] == "status" && m["manager"] == "kubelet");
    assert!(status_manager.is_some(), "{pod0}");
    for c in pod0["status"]["conditions"].as_array().unwrap() {
        if c["status"] == "True" {
            assert!(
                c.get("reason").is_none() && c.get("message").is_none(),
                "{c}"
            );
        }
    }

    // A graceful deletion of a real container: SIGTERM (Prometheus says so as it exits), the
    // pod deleted by the agent, the StatefulSet controller's new pod (a new UID) Ready again, the
    // old pod's network namespace gone.
    let path1 = format!("/api/v1/namespaces/monitoring/pods/{}", names[1]);
    let old = get(&rc, &path1).await.unwrap();
    let old_uid = old["metadata"]["uid"].as_str().unwrap().to_string();
    let old_node = old["spec"]["nodeName"].as_str().unwrap().to_string();
    let old_ns = format!("promfix-{slot}-p{}", ips[1].octets()[3]);
    assert!(
        std::path::Path::new("/run/netns").join(&old_ns).exists(),
        "no namespace {old_ns} for pod IP {}",
        ips[1]
    );
    rc.cp
        .kubectl_ok(&[
            "delete",
            "pod",
            "-n",
            "monitoring",
            names[1],
            "--wait=false",
        ])
        .unwrap();
    let new = wait(
        &rc,
        "the StatefulSet's new pod Ready",
        Duration::from_secs(120),
        async |rc| {
            get(rc, &path1)
                .await
                .filter(|p| p["metadata"]["uid"] != old_uid.as_str() && ready(p))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let agent = rc.agent.as_ref().unwrap();
    let log = agent
        .dir()
        .join("nodes")
        .join(&old_node)
        .join("var/log/pods")
        .join(format!("monitoring_{}_{old_uid}", names[1]))
        .join("prometheus/0.log");
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    assert!(
        text.contains("exiting gracefully"),
        "Prometheus was not asked to stop (SIGTERM): {text}"
    );
    let old_root = agent
        .dir()
        .join("nodes")
        .join(&old_node)
        .join("var/lib/kubelet/pods")
        .join(&old_uid);
    assert!(!old_root.exists(), "{} left behind", old_root.display());
    let new_ip = new["status"]["podIP"].as_str().unwrap().to_string();
    if new_ip != ips[1].to_string() {
        assert!(
            !std::path::Path::new("/run/netns").join(&old_ns).exists(),
            "{old_ns} left behind"
        );
    }
    eprintln!("a Prometheus pod replaced after {:?}", t0.elapsed());

    // A Secret's change reaches the files of a pod that mounts it (a simulated container).
    apply(
        &rc,
        &json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "reader", "namespace": "default"},
            "spec": {"terminationGracePeriodSeconds": 5,
                "containers": [{"name": "main", "image": "busybox:1.36",
                    "volumeMounts": [{"name": "s", "mountPath": "/s"}]}],
                "volumes": [{"name": "s", "secret": {"secretName": "agent-test"}}]}}),
    );
    // Its Secret does not exist yet: the volume cannot be set up, the pod waits in
    // ContainerCreating (scheduled, no sandbox, no container started).
    let waiting = wait(
        &rc,
        "pod default/reader bound and waiting for its volume",
        Duration::from_secs(60),
        async |rc| {
            get(rc, "/api/v1/namespaces/default/pods/reader")
                .await
                .filter(|p| p["status"]["containerStatuses"].is_array())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting = get(&rc, "/api/v1/namespaces/default/pods/reader")
        .await
        .unwrap_or(waiting);
    assert_eq!(waiting["status"]["phase"], "Pending", "{waiting}");
    assert_eq!(
        waiting["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ContainerCreating",
        "{waiting}"
    );
    assert!(!ready(&waiting), "{waiting}");
    // Volumes come before the sandbox: no pod IP yet.
    assert!(waiting["status"].get("podIP").is_none(), "{waiting}");
    apply(
        &rc,
        &json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "agent-test", "namespace": "default"},
            "stringData": {"token": "first"}}),
    );
    let pod = wait(
        &rc,
        "pod default/reader Ready",
        Duration::from_secs(60),
        async |rc| {
            get(rc, "/api/v1/namespaces/default/pods/reader")
                .await
                .filter(ready)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pod["status"]["containerStatuses"][0]["started"], true);
    // The kubelet's Events: the volume it could not set up, then the container's start.
    let node = pod["spec"]["nodeName"].as_str().unwrap().to_string();
    let failed = events(&rc, "reader", "FailedMount");
    let want = "MountVolume.SetUp failed for volume \"s\" : secret \"agent-test\" not found";
    let e = failed
        .iter()
        .find(|e| e["message"] == want)
        .unwrap_or_else(|| panic!("no FailedMount event saying {want}: {failed:?}"));
    assert_eq!(e["type"], "Warning", "{e}");
    assert_eq!(
        e["source"],
        json!({"component": "kubelet", "host": node}),
        "{e}"
    );
    let started = wait(
        &rc,
        "the Started event",
        Duration::from_secs(10),
        async |rc| events(rc, "reader", "Started").into_iter().next(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        started["involvedObject"]["fieldPath"], "spec.containers{main}",
        "{started}"
    );
    assert_eq!(started["message"], "Container started", "{started}");
    let agent = rc.agent.as_ref().expect("the agent runs by default");
    let dir = agent
        .volume_dir("default", "reader", "s")
        .expect("the pod's secret volume");
    assert_eq!(std::fs::read_to_string(dir.join("token")).unwrap(), "first");
    let data = std::fs::read_link(dir.join("..data")).unwrap();
    assert!(data.to_string_lossy().starts_with(".."), "{data:?}");
    assert_eq!(
        std::fs::read_link(dir.join("token")).unwrap(),
        std::path::Path::new("..data/token")
    );
    // The service-account token volume: a token of the TokenRequest API, ca.crt, namespace.
    let sa_vol = pod["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|v| {
            v["name"]
                .as_str()
                .filter(|n| n.starts_with("kube-api-access-"))
        })
        .expect("the ServiceAccount admission's token volume")
        .to_string();
    let sa_dir = agent.volume_dir("default", "reader", &sa_vol).unwrap();
    assert_eq!(
        std::fs::read_to_string(sa_dir.join("namespace")).unwrap(),
        "default"
    );
    let ca = std::fs::read_to_string(sa_dir.join("ca.crt")).unwrap();
    assert_eq!(ca, std::fs::read_to_string(&rc.cp.pki.ca.cert).unwrap());
    let token = std::fs::read_to_string(sa_dir.join("token")).unwrap();
    assert_eq!(token.split('.').count(), 3, "not a JWT");
    // The real API server takes it as the pod's service account, bound to the pod.
    let review = rc.cp.dir().join("tokenreview.json");
    std::fs::write(
        &review,
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": token.trim()}})
        .to_string(),
    )
    .unwrap();
    let out = rc
        .cp
        .kubectl_ok(&["create", "-o", "json", "-f", &review.display().to_string()])
        .unwrap();
    let _ = std::fs::remove_file(&review);
    // Only the status: the answer echoes the token in its spec.
    let st = serde_json::from_str::<Value>(&out).unwrap()["status"].clone();
    assert_eq!(st["authenticated"], true, "{st}");
    assert_eq!(
        st["user"]["username"], "system:serviceaccount:default:default",
        "{st}"
    );
    assert_eq!(
        st["user"]["extra"]["authentication.kubernetes.io/pod-name"][0], "reader",
        "{st}"
    );

    // A real container that exits: restarted at once, then after the kubelet's back-off.
    apply(
        &rc,
        &json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "crasher", "namespace": "default"},
            "spec": {"terminationGracePeriodSeconds": 1,
                "containers": [{"name": "prometheus", "image": "quay.io/prometheus/prometheus:v3.5.0",
                    "args": ["--config.file=/nonexistent/prometheus.yml"]}]}}),
    );
    let crashed = wait(
        &rc,
        "pod default/crasher in CrashLoopBackOff",
        Duration::from_secs(60),
        async |rc| {
            get(rc, "/api/v1/namespaces/default/pods/crasher")
                .await
                .filter(|p| {
                    let c = &p["status"]["containerStatuses"][0];
                    c["restartCount"].as_u64() >= Some(2)
                        && c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
                })
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let c = &crashed["status"]["containerStatuses"][0];
    // Prometheus exits 2 when it cannot load its configuration (cmd/prometheus: os.Exit(2)).
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 2, "{crashed}");
    assert_eq!(c["lastState"]["terminated"]["reason"], "Error", "{crashed}");
    let msg = c["state"]["waiting"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("back-off 10s restarting failed container=prometheus pod=crasher_default("),
        "{msg}"
    );
    assert_eq!(crashed["status"]["phase"], "Running", "{crashed}");
    let backoff = events(&rc, "crasher", "BackOff");
    let e = backoff
        .first()
        .unwrap_or_else(|| panic!("no BackOff event"));
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("Back-off restarting failed container prometheus in pod crasher_default("),
        "{e}"
    );
    rc.cp
        .kubectl_ok(&["delete", "pod", "crasher", "--wait=false"])
        .unwrap();

    let patched = std::time::Instant::now();
    rc.cp
        .kubectl_ok(&[
            "patch",
            "secret",
            "agent-test",
            "--type=merge",
            "-p",
            r#"{"stringData":{"token":"second"}}"#,
        ])
        .unwrap();
    let file = dir.join("token");
    wait(
        &rc,
        "the Secret's new value in the pod's files",
        Duration::from_secs(30),
        async |_| (std::fs::read_to_string(&file).ok().as_deref() == Some("second")).then_some(()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "the Secret's change reached the files in {:?}",
        patched.elapsed()
    );

    // A graceful deletion is finished by the agent (the pod is gone, not stuck Terminating).
    rc.cp
        .kubectl_ok(&["delete", "pod", "reader", "--wait=false"])
        .unwrap();
    wait(
        &rc,
        "pod default/reader deleted",
        Duration::from_secs(30),
        async |rc| {
            get(rc, "/api/v1/namespaces/default/pods/reader")
                .await
                .is_none()
                .then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let agent = rc.agent.as_ref().unwrap();
    assert!(agent.pod_dir("default", "reader").is_none());

    // Leases are renewed (every 10 s), and no node was tainted by the lifecycle controller.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (n, first) in nodes.iter().zip(&first_renew) {
        let path = format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{n}");
        let lease = get(&rc, &path).await.unwrap();
        assert_ne!(lease["spec"]["renewTime"], first.as_str(), "{n}: {lease}");
        let node = get(&rc, &format!("/api/v1/nodes/{n}")).await.unwrap();
        let taints = node["spec"]["taints"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            !taints.iter().any(|t| t["key"]
                .as_str()
                .is_some_and(|k| k.starts_with("node.kubernetes.io/"))),
            "{n} tainted: {taints:?}"
        );
    }
    if let Ok(secs) = std::env::var("DEBUG_KEEP") {
        eprintln!("DIR {}", rc.cp.dir().display());
        tokio::time::sleep(Duration::from_secs(secs.parse().unwrap())).await;
    }
    rc.check_running().unwrap();
    eprintln!("done in {:?}", t0.elapsed());
}
