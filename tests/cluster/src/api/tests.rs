//! In-process tests of the API server over real HTTPS (HTTP/2 and HTTP/1.1).

use super::testing::{LIMITED_TOKEN, TestCluster, start_bare, start_with};
use crate::auth::{Rule, User};
use crate::faults::FaultKind;
use http::Method;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::time::Duration;

async fn cluster(net: u8) -> TestCluster {
    start_bare(net, "v1.33.1")
        .await
        .expect("start the test cluster")
}

fn cm(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_health_and_discovery() {
    let t = cluster(200).await;
    let c = t.admin();
    let v = c.get("/version").await.unwrap();
    assert_eq!(v.status, 200);
    assert_eq!(v.json()["gitVersion"], "v1.33.1");
    assert_eq!(v.json()["minor"], "33");
    let h = c.get("/healthz").await.unwrap();
    assert_eq!((h.status, h.text().as_str()), (200, "ok"));
    assert_eq!(c.get("/readyz").await.unwrap().status, 200);
    assert_eq!(c.get("/api").await.unwrap().json()["kind"], "APIVersions");
    assert_eq!(
        c.get("/api/v1").await.unwrap().json()["kind"],
        "APIResourceList"
    );
    let apis = c.get("/apis").await.unwrap().json();
    assert_eq!(apis["kind"], "APIGroupList");
    assert_eq!(c.get("/apis/apps").await.unwrap().status, 200);
    assert_eq!(c.get("/apis/apps/v1").await.unwrap().status, 200);
    assert_eq!(
        c.get("/apis/nope.example.com/v1").await.unwrap().status,
        404
    );
    assert_eq!(c.get("/openapi/v2").await.unwrap().status, 200);
    assert_eq!(c.get("/openapi/v3").await.unwrap().status, 200);
    // an unknown resource: the Status 404 of the real server
    let r = c.get("/api/v1/widgets").await.unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["message"],
        "the server could not find the requested resource"
    );
    // outside /api and /apis: the mux's plain 404
    let r = c.get("/nothing").await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (404, "404 page not found\n"));
    // the limited user may read discovery and version too (system:discovery)
    let l = t.client(Some(LIMITED_TOKEN));
    assert_eq!(l.get("/apis").await.unwrap().status, 200);
    assert_eq!(l.get("/version").await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_and_forbidden_with_the_real_texts() {
    let t = cluster(201).await;
    let anon = t.client(None);
    let r = anon.get("/api/v1/namespaces").await.unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})
    );
    let r = t.client(Some("wrong")).get("/version").await.unwrap();
    assert_eq!(r.status, 401);
    let l = t.client(Some(LIMITED_TOKEN));
    let r = l
        .get("/api/v1/namespaces/monitoring/secrets")
        .await
        .unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json(),
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
               "message":"secrets is forbidden: User \"limited\" cannot list resource \"secrets\" in API group \"\" in the namespace \"monitoring\"",
               "reason":"Forbidden","details":{"kind":"secrets"},"code":403})
    );
    let r = l.get("/api/v1/namespaces").await.unwrap();
    assert_eq!(
        r.json()["message"],
        "namespaces is forbidden: User \"limited\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
    );
    let r = l
        .get("/apis/apps/v1/namespaces/monitoring/statefulsets/prometheus-k8s")
        .await
        .unwrap();
    assert_eq!(
        r.json()["message"],
        "statefulsets.apps \"prometheus-k8s\" is forbidden: User \"limited\" cannot get resource \"statefulsets\" in API group \"apps\" in the namespace \"monitoring\""
    );
    // the WebSocket GET of exec is authorized as `get` on pods/exec (before 1.35), SPDY's POST as `create`
    let r = l
        .get("/api/v1/namespaces/monitoring/pods/prometheus-k8s-0/exec?command=sh&stdout=1")
        .await
        .unwrap();
    assert_eq!(
        r.json()["message"],
        "pods \"prometheus-k8s-0\" is forbidden: User \"limited\" cannot get resource \"pods/exec\" in API group \"\" in the namespace \"monitoring\""
    );
    let r = l
        .post(
            "/api/v1/namespaces/monitoring/pods/prometheus-k8s-0/exec?command=sh&stdout=1",
            &json!({}),
        )
        .await
        .unwrap();
    assert_eq!(
        r.json()["message"],
        "pods \"prometheus-k8s-0\" is forbidden: User \"limited\" cannot create resource \"pods/exec\" in API group \"\" in the namespace \"monitoring\""
    );
    let r = l.get("/metrics").await.unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["message"],
        "forbidden: User \"limited\" cannot get path \"/metrics\""
    );
    // what limited may do works
    let r = l
        .get("/api/v1/namespaces/monitoring/configmaps")
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    // the log names the user and the status of every request, denied ones included
    let log = t.cluster.faults.log();
    assert!(log.iter().any(|e| e.status == 401 && e.user.is_empty()));
    assert!(
        log.iter()
            .any(|e| e.status == 403 && e.user == "limited" && e.path == "/metrics")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_update_conflict_delete_and_dry_run() {
    let t = cluster(202).await;
    let c = t.admin();
    let base = "/api/v1/namespaces/monitoring/configmaps";
    let r = c.post(base, &cm("a", json!({"app": "x"}))).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    assert_eq!(created["metadata"]["namespace"], "monitoring");
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c.post(base, &cm("a", json!({}))).await.unwrap();
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["message"], "configmaps \"a\" already exists");
    let got = c.get(&format!("{base}/a")).await.unwrap().json();
    assert_eq!(got["kind"], "ConfigMap");
    assert_eq!(got["apiVersion"], "v1");
    // update with the current resourceVersion, then the same again: stale
    let mut upd = got.clone();
    upd["data"]["k"] = json!("w");
    let r = c.put(&format!("{base}/a"), &upd).await.unwrap();
    assert_eq!(r.status, 200);
    assert_ne!(r.json()["metadata"]["resourceVersion"], json!(rv));
    let r = c.put(&format!("{base}/a"), &upd).await.unwrap();
    assert_eq!(r.status, 409);
    assert_eq!(
        r.json()["message"],
        "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again"
    );
    // dryRun: answered, not stored
    let r = c
        .post(&format!("{base}?dryRun=All"), &cm("dry", json!({})))
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(c.get(&format!("{base}/dry")).await.unwrap().status, 404);
    let r = c
        .post(&format!("{base}?dryRun=Yes"), &cm("dry", json!({})))
        .await
        .unwrap();
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["message"],
        "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: [\"Yes\"]: supported values: \"All\""
    );
    // list: items of built-in types carry no apiVersion/kind
    let l = c.get(base).await.unwrap().json();
    assert_eq!(l["kind"], "ConfigMapList");
    assert_eq!(l["apiVersion"], "v1");
    assert!(l["metadata"]["resourceVersion"].is_string());
    assert!(l["items"][0].get("kind").is_none());
    // custom resources' items do
    let p = "/apis/monitoring.coreos.com/v1/namespaces/monitoring/prometheuses";
    let r = c
        .post(p, &json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus", "metadata": {"name": "k8s"}, "spec": {}}))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let l = c.get(p).await.unwrap().json();
    assert_eq!(l["kind"], "PrometheusList");
    assert_eq!(l["items"][0]["kind"], "Prometheus");
    // delete with a stale precondition, dry run, then for real
    let r = c
        .delete(
            &format!("{base}/a"),
            Some(&json!({"preconditions": {"resourceVersion": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 409);
    let r = c
        .delete(&format!("{base}/a"), Some(&json!({"dryRun": ["All"]})))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(c.get(&format!("{base}/a")).await.unwrap().status, 200);
    let r = c.delete(&format!("{base}/a"), None).await.unwrap();
    assert_eq!(r.status, 200);
    let s = r.json();
    // configmaps answer a Success Status with the uid
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["status"], "Success");
    assert_eq!(s["details"]["name"], "a");
    assert_eq!(s["details"]["uid"], created["metadata"]["uid"]);
    assert_eq!(c.get(&format!("{base}/a")).await.unwrap().status, 404);
    // services answer the deleted object
    let svc = "/api/v1/namespaces/kube-system/services";
    c.post(
        svc,
        &json!({"metadata": {"name": "etcd"}, "spec": {"clusterIP": "None"}}),
    )
    .await
    .unwrap();
    let r = c.delete(&format!("{svc}/etcd"), None).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["kind"], "Service");
    // a namespaced type without a namespace in the path cannot be created
    let r = c
        .post("/api/v1/configmaps", &cm("b", json!({})))
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    // bodies that are no objects, or whose metadata is none
    let r = c
        .request(
            Method::POST,
            base,
            Some("application/json"),
            br#"{"metadata":"x"}"#.to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal string into Go struct field ConfigMap.metadata of type v1.ObjectMeta"
    );
    let r = c
        .request(
            Method::POST,
            base,
            Some("application/json"),
            b"[1]".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    c.post(base, &cm("shape", json!({}))).await.unwrap();
    let r = c
        .patch(
            &format!("{base}/shape"),
            "application/merge-patch+json",
            br#"{"metadata":7}"#,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    // an unknown body format
    let r = c
        .request(Method::POST, base, Some("text/plain"), b"x".to_vec())
        .await
        .unwrap();
    assert_eq!(r.status, 415);
    assert_eq!(
        r.json()["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_selectors_and_pagination() {
    let t = cluster(203).await;
    let c = t.admin();
    let base = "/api/v1/namespaces/monitoring/configmaps";
    for (i, n) in ["e", "d", "c", "b", "a"].iter().enumerate() {
        let tier = if i % 2 == 0 { "x" } else { "y" };
        assert_eq!(
            c.post(base, &cm(n, json!({"tier": tier})))
                .await
                .unwrap()
                .status,
            201
        );
    }
    c.post(
        "/api/v1/namespaces/default/configmaps",
        &cm("z", json!({"tier": "x"})),
    )
    .await
    .unwrap();
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let r = c
        .get(&format!("{base}?labelSelector=tier%3Dx"))
        .await
        .unwrap();
    assert_eq!(names(&r.json()), vec!["a", "c", "e"]);
    let r = c
        .get(&format!("{base}?labelSelector=tier+in+(x,y),tier!%3Dx"))
        .await
        .unwrap();
    assert_eq!(names(&r.json()), vec!["b", "d"]);
    let r = c
        .get(&format!("{base}?fieldSelector=metadata.name%3Dc"))
        .await
        .unwrap();
    assert_eq!(names(&r.json()), vec!["c"]);
    let r = c
        .get("/api/v1/configmaps?labelSelector=tier%3Dx")
        .await
        .unwrap();
    // across namespaces, in key order (namespace/name)
    assert_eq!(names(&r.json()), vec!["z", "a", "c", "e"]);
    let r = c
        .get(&format!("{base}?fieldSelector=spec.foo%3Dx"))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    let r = c
        .get(&format!("{base}?labelSelector=a+in+b"))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    // pages of 2: continue tokens and remainingItemCount
    let p1 = c.get(&format!("{base}?limit=2")).await.unwrap().json();
    assert_eq!(names(&p1), vec!["a", "b"]);
    assert_eq!(p1["metadata"]["remainingItemCount"], 3);
    let tok = p1["metadata"]["continue"].as_str().unwrap().to_string();
    let p2 = c
        .get(&format!("{base}?limit=2&continue={tok}"))
        .await
        .unwrap()
        .json();
    assert_eq!(names(&p2), vec!["c", "d"]);
    assert_eq!(
        p2["metadata"]["resourceVersion"],
        p1["metadata"]["resourceVersion"]
    );
    let tok = p2["metadata"]["continue"].as_str().unwrap().to_string();
    let p3 = c
        .get(&format!("{base}?limit=2&continue={tok}"))
        .await
        .unwrap()
        .json();
    assert_eq!(names(&p3), vec!["e"]);
    assert!(p3["metadata"].get("continue").is_none());
    assert!(p3["metadata"].get("remainingItemCount").is_none());
    // with a selector: no remainingItemCount (the real server counts only unfiltered lists)
    let s1 = c
        .get(&format!("{base}?limit=1&labelSelector=tier%3Dy"))
        .await
        .unwrap()
        .json();
    assert_eq!(names(&s1), vec!["b"]);
    assert!(s1["metadata"]["continue"].is_string());
    assert!(s1["metadata"].get("remainingItemCount").is_none());
    // a broken token: the real 400
    let r = c
        .get(&format!("{base}?limit=2&continue=%21%21"))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "invalid continue token: continue key is not valid: illegal base64 data at input byte 0"
    );
    // a Table for kubectl get
    let r = c
        .send(
            Method::GET,
            base,
            &[(
                "accept",
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            )],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b: Value =
        serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(b["kind"], "Table");
    // protobuf asked: JSON answered
    let r = c
        .send(
            Method::GET,
            base,
            &[("accept", "application/vnd.kubernetes.protobuf")],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
}

/// Read watch lines until the stream ends or `n` events arrived.
async fn read_events(resp: http::Response<hyper::body::Incoming>, n: usize) -> Vec<Value> {
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while out.len() < n {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(f))) => f,
            _ => break,
        };
        if let Some(d) = frame.data_ref() {
            buf.extend_from_slice(d);
            while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=i).collect();
                out.push(serde_json::from_slice(&line).unwrap());
            }
        }
    }
    out
}

fn types(evs: &[Value]) -> Vec<(String, String)> {
    evs.iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or("").to_string(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_resource_version_and_live() {
    let t = cluster(204).await;
    let c = t.admin();
    let base = "/api/v1/namespaces/monitoring/configmaps";
    c.post(base, &cm("old", json!({}))).await.unwrap();
    let rv = t.cluster.store.current_rv();
    let a = c.post(base, &cm("a", json!({}))).await.unwrap().json();
    let mut a2 = a.clone();
    a2["data"]["k"] = json!("changed");
    c.put(&format!("{base}/a"), &a2).await.unwrap();
    c.delete(&format!("{base}/a"), None).await.unwrap();
    // from rv: the history, over HTTP/2
    let r = c
        .send(
            Method::GET,
            &format!("{base}?watch=1&resourceVersion={rv}&timeoutSeconds=5"),
            &[],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), http::Version::HTTP_2);
    let evs = read_events(r, 3).await;
    assert_eq!(
        types(&evs),
        vec![
            ("ADDED".into(), "a".into()),
            ("MODIFIED".into(), "a".into()),
            ("DELETED".into(), "a".into())
        ]
    );
    assert_eq!(evs[0]["object"]["kind"], "ConfigMap");
    // without a resourceVersion: ADDED for what exists, then live events, over HTTP/1.1 chunked
    let h1 = c.http1();
    let r = h1
        .send(
            Method::GET,
            &format!("{base}?watch=true&timeoutSeconds=5"),
            &[],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(r.version(), http::Version::HTTP_11);
    assert_eq!(
        r.headers()
            .get("transfer-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("chunked")
    );
    let c2 = c.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c2.post(
            "/api/v1/namespaces/monitoring/configmaps",
            &cm("live", json!({})),
        )
        .await
        .unwrap();
        c2.post(
            "/api/v1/namespaces/default/configmaps",
            &cm("elsewhere", json!({})),
        )
        .await
        .unwrap();
    });
    let evs = read_events(r, 2).await;
    writer.await.unwrap();
    assert_eq!(
        types(&evs),
        vec![
            ("ADDED".into(), "old".into()),
            ("ADDED".into(), "live".into())
        ]
    );
    // the timeout ends the stream; bookmarks come before the deadline
    let r = c
        .send(
            Method::GET,
            &format!(
                "{base}?watch=1&resourceVersion={}&timeoutSeconds=3&allowWatchBookmarks=true",
                t.cluster.store.current_rv()
            ),
            &[],
            vec![],
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let evs = read_events(r, 10).await;
    assert!(started.elapsed() < Duration::from_secs(6));
    assert_eq!(types(&evs), vec![("BOOKMARK".into(), "".into())]);
    assert_eq!(evs[0]["object"]["kind"], "ConfigMap");
    // a compacted resourceVersion: an ERROR event with the Expired Status
    let evs_big = {
        // fill the history past its size so resourceVersion 1 is gone
        let store = &t.cluster.store;
        let rt = store.rt("configmaps");
        let ctx = crate::store::WriteCtx::update("t");
        for i in 0..20_001u32 {
            let n = format!("x{}", i % 2);
            let _ = store.upsert(
                &rt,
                json!({"metadata": {"name": n, "namespace": "default"}, "data": {"i": i.to_string()}}),
                &ctx,
            );
        }
        let r = c
            .send(
                Method::GET,
                &format!("{base}?watch=1&resourceVersion=2"),
                &[],
                vec![],
            )
            .await
            .unwrap();
        read_events(r, 1).await
    };
    assert_eq!(evs_big[0]["type"], "ERROR");
    assert_eq!(evs_big[0]["object"]["code"], 410);
    assert_eq!(evs_big[0]["object"]["reason"], "Expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_subject_access_reviews() {
    let t = cluster(205).await;
    let l = t.client(Some(LIMITED_TOKEN));
    let path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let ssar = |verb: &str, res: &str, ns: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
               "spec": {"resourceAttributes": {"verb": verb, "resource": res, "namespace": ns}}})
    };
    let r = l
        .post(path, &ssar("list", "secrets", "monitoring"))
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["status"]["allowed"], false);
    let r = l
        .post(path, &ssar("list", "configmaps", "monitoring"))
        .await
        .unwrap();
    assert_eq!(r.json()["status"]["allowed"], true);
    assert!(
        r.json()["status"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("RBAC: allowed by")
    );
    // SubjectAccessReview needs the right to create it
    let sar = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                     "spec": {"user": "limited", "resourceAttributes": {"verb": "get", "resource": "services", "namespace": "monitoring"}}});
    let r = l
        .post("/apis/authorization.k8s.io/v1/subjectaccessreviews", &sar)
        .await
        .unwrap();
    assert_eq!(r.status, 403);
    let r = t
        .admin()
        .post("/apis/authorization.k8s.io/v1/subjectaccessreviews", &sar)
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["status"]["allowed"], true);
    // reviews are no writes
    assert_eq!(t.cluster.faults.writes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_and_the_request_log() {
    let t = cluster(206).await;
    let c = t.admin();
    let f = &t.cluster.faults;
    let base = "/api/v1/namespaces/monitoring/secrets";
    let secret = |n: &str| json!({"metadata": {"name": n}, "data": {"a": "Yg=="}});
    f.fail_next_writes(Some("secrets"), 1, FaultKind::Internal);
    f.fail_next_writes(None, 1, FaultKind::Conflict);
    f.fail_next_writes(
        Some("secrets"),
        1,
        FaultKind::TooManyRequests {
            retry_after_secs: 3,
        },
    );
    // a write of another resource is not hit by the secrets faults, but by the any-resource one
    let r = c
        .post(
            "/api/v1/namespaces/monitoring/configmaps",
            &cm("q", json!({})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 409);
    assert_eq!(
        r.json()["message"],
        "Operation cannot be fulfilled on configmaps \"q\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let r = c.post(base, &secret("s")).await.unwrap();
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["reason"], "InternalError");
    let r = c.post(base, &secret("s")).await.unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("3"));
    assert_eq!(r.json()["reason"], "TooManyRequests");
    assert_eq!(r.json()["details"]["retryAfterSeconds"], 3);
    assert_eq!(c.get(&format!("{base}/s")).await.unwrap().status, 404);
    // drops: before the write (nothing stored) and after (stored), on HTTP/2 and HTTP/1.1
    f.drop_at_write(1, false);
    assert!(c.post(base, &secret("before")).await.is_err());
    assert_eq!(c.get(&format!("{base}/before")).await.unwrap().status, 404);
    f.drop_at_write(1, true);
    assert!(c.http1().post(base, &secret("after")).await.is_err());
    assert_eq!(c.get(&format!("{base}/after")).await.unwrap().status, 200);
    f.drop_at_write(2, false);
    assert_eq!(c.post(base, &secret("one")).await.unwrap().status, 201);
    assert!(c.post(base, &secret("two")).await.is_err());
    assert_eq!(f.writes(), 7);
    let log = f.log();
    let writes: Vec<_> = log.iter().filter(|e| e.is_write).collect();
    assert_eq!(writes.len(), 7);
    assert_eq!(
        writes.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![409, 500, 429, 0, 0, 201, 0]
    );
    assert!(
        writes
            .iter()
            .all(|e| e.method == "POST" && e.user == "admin")
    );
    assert_eq!(writes[1].content_type, "application/json");
    assert!(
        log.iter()
            .any(|e| !e.is_write && e.method == "GET" && e.status == 404)
    );
    f.clear_log();
    c.get("/api/v1/namespaces/monitoring/secrets?limit=1")
        .await
        .unwrap();
    let log = f.log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].query, "limit=1");
    // latency
    f.set_latency(Duration::from_millis(300));
    let started = std::time::Instant::now();
    c.get("/version").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_preconditions_and_apply() {
    let t = cluster(207).await;
    let c = t.admin();
    let base = "/api/v1/namespaces/monitoring/configmaps";
    c.post(base, &cm("p", json!({}))).await.unwrap();
    let r = c
        .patch(
            &format!("{base}/p"),
            "application/merge-patch+json",
            br#"{"data":{"x":"1"}}"#,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"]["x"], "1");
    // a resourceVersion in the patch is a precondition
    let r = c
        .patch(
            &format!("{base}/p"),
            "application/merge-patch+json",
            br#"{"metadata":{"resourceVersion":"1"},"data":{"x":"2"}}"#,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 409);
    let r = c
        .patch(&format!("{base}/p"), "text/plain", b"{}")
        .await
        .unwrap();
    assert_eq!(r.status, 415);
    assert_eq!(
        r.json()["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
    );
    // apply needs a field manager; it creates a missing object (201)
    let doc = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ap","namespace":"monitoring"},"data":{"a":"b"}}"#;
    let r = c
        .patch(&format!("{base}/ap"), "application/apply-patch+yaml", doc)
        .await
        .unwrap();
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
    let r = c
        .patch(
            &format!("{base}/ap?fieldManager=promfix&force=true"),
            "application/apply-patch+yaml",
            doc,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let r = c
        .patch(
            &format!("{base}/p?force=true"),
            "application/merge-patch+json",
            b"{}",
        )
        .await
        .unwrap();
    assert_eq!(r.status, 422);
    // a patch of a missing object
    let r = c
        .patch(
            &format!("{base}/nope"),
            "application/merge-patch+json",
            b"{}",
        )
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    // dryRun on patch
    let r = c
        .patch(
            &format!("{base}/p?dryRun=All"),
            "application/merge-patch+json",
            br#"{"data":{"x":"dry"}}"#,
        )
        .await
        .unwrap();
    assert_eq!(r.json()["data"]["x"], "dry");
    assert_eq!(
        c.get(&format!("{base}/p")).await.unwrap().json()["data"]["x"],
        "1"
    );
    // status subresource: only status changes
    let sts = "/apis/apps/v1/namespaces/monitoring/statefulsets";
    c.post(
        sts,
        &json!({"metadata": {"name": "s"}, "spec": {"replicas": 1}}),
    )
    .await
    .unwrap();
    let r = c
        .patch(
            &format!("{sts}/s/status"),
            "application/merge-patch+json",
            br#"{"spec":{"replicas":5},"status":{"readyReplicas":1}}"#,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"]["readyReplicas"], 1);
    assert_eq!(r.json()["spec"]["replicas"], 1);
    let r = c.get(&format!("{sts}/s/status")).await.unwrap();
    assert_eq!(r.json()["kind"], "StatefulSet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_websocket_needs_create_too_from_1_35() {
    let user = |name: &str, verbs: &[&str]| User {
        name: name.into(),
        token: format!("{name}-token"),
        groups: vec![],
        rules: vec![Rule::resources(
            verbs,
            &[""],
            &["pods/exec"],
            &["monitoring"],
        )],
    };
    let path = "/api/v1/namespaces/monitoring/pods/p-0/exec?command=ls&stdout=1";
    let t = start_with(
        212,
        "v1.35.0",
        vec![user("getter", &["get"]), user("both", &["get", "create"])],
    )
    .await
    .unwrap();
    let r = t.client(Some("getter-token")).get(path).await.unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["message"],
        "pods \"p-0\" is forbidden: User \"getter\" cannot create resource \"pods/exec\" in API group \"\" in the namespace \"monitoring\""
    );
    let r = t.client(Some("both-token")).get(path).await.unwrap();
    assert_ne!(r.status, 403);
    // before 1.35, get is enough
    let t = start_with(213, "v1.33.1", vec![user("getter", &["get"])])
        .await
        .unwrap();
    let r = t.client(Some("getter-token")).get(path).await.unwrap();
    assert_ne!(r.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_with_a_selector_sees_objects_enter_and_leave() {
    let t = cluster(216).await;
    let c = t.admin();
    let base = "/api/v1/namespaces/monitoring/configmaps";
    c.post(base, &cm("before", json!({"app": "x"})))
        .await
        .unwrap();
    let r = c
        .send(
            Method::GET,
            &format!("{base}?watch=1&labelSelector=app%3Dx&timeoutSeconds=5"),
            &[],
            vec![],
        )
        .await
        .unwrap();
    let c2 = c.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let base = "/api/v1/namespaces/monitoring/configmaps";
        c2.post(base, &cm("w", json!({"app": "x"}))).await.unwrap();
        let relabel = |app: &str| format!(r#"{{"metadata":{{"labels":{{"app":"{app}"}}}}}}"#);
        for app in ["y", "x"] {
            c2.patch(
                &format!("{base}/w"),
                "application/merge-patch+json",
                relabel(app).as_bytes(),
            )
            .await
            .unwrap();
        }
        c2.post(base, &cm("other", json!({"app": "y"})))
            .await
            .unwrap();
        c2.delete(&format!("{base}/w"), None).await.unwrap();
    });
    let evs = read_events(r, 5).await;
    writer.await.unwrap();
    assert_eq!(
        types(&evs),
        vec![
            ("ADDED".into(), "before".into()),
            ("ADDED".into(), "w".into()),
            ("DELETED".into(), "w".into()),
            ("ADDED".into(), "w".into()),
            ("DELETED".into(), "w".into()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_and_stopping_the_server() {
    use std::os::unix::fs::PermissionsExt;
    let t = cluster(217).await;
    let p = t.kubeconfig().unwrap();
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let kc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    assert_eq!(kc["current-context"], "promfix-test");
    assert_eq!(kc["clusters"][0]["cluster"]["server"], json!(t.server.url));
    assert!(t.server.url.starts_with("https://127.217.0.1:"));
    let ctxs: Vec<&str> = kc["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(ctxs, vec!["promfix-test", "promfix-test-limited"]);
    assert_eq!(kc["users"][1]["user"]["token"], LIMITED_TOKEN);
    assert_eq!(
        super::server::context_name("system:serviceaccount:monitoring:prometheus"),
        "promfix-test-system-serviceaccount-monitoring-prometheus"
    );
    // a watch in flight ends, and nothing answers any more, once the server is dropped
    let c = t.admin();
    let r = c
        .send(Method::GET, "/api/v1/namespaces?watch=1", &[], vec![])
        .await
        .unwrap();
    let TestCluster {
        server,
        cluster: _cluster,
        dir: _dir,
    } = t;
    drop(server);
    let evs = read_events(r, 100).await;
    assert!(evs.len() <= 4);
    assert!(c.get("/version").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_collection_and_namespace_deletion() {
    let t = cluster(218).await;
    let c = t.admin();
    let base = "/api/v1/namespaces/monitoring/configmaps";
    for (n, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        c.post(base, &cm(n, json!({"app": app}))).await.unwrap();
    }
    let r = c
        .delete(&format!("{base}?labelSelector=app%3Dx"), None)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["kind"], "ConfigMapList");
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 2);
    let left = c.get(base).await.unwrap().json();
    assert_eq!(left["items"].as_array().unwrap().len(), 1);
    // a namespace answers as being finalized; what was in it is gone
    let r = c
        .delete("/api/v1/namespaces/monitoring", None)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["kind"], "Namespace");
    assert_eq!(r.json()["status"]["phase"], "Terminating");
    assert!(r.json()["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(c.get(&format!("{base}/c")).await.unwrap().status, 404);
    // the limited user may not delete collections
    let r = t
        .client(Some(LIMITED_TOKEN))
        .delete("/api/v1/namespaces/default/configmaps", None)
        .await
        .unwrap();
    assert_eq!(
        r.json()["message"],
        "configmaps is forbidden: User \"limited\" cannot deletecollection resource \"configmaps\" in API group \"\" in the namespace \"default\""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_survive_concurrent_writes() {
    let t = cluster(219).await;
    let c = t.admin();
    let base = "/api/v1/namespaces/monitoring/configmaps";
    c.post(base, &cm("busy", json!({}))).await.unwrap();
    let store = t.cluster.store.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let writer = std::thread::spawn(move || {
        let rt = store.rt("configmaps");
        let ctx = crate::store::WriteCtx::update("other");
        let mut i = 0u64;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            i += 1;
            // a conditional write (Store::modify writes unconditionally and could undo a patch)
            if let Ok(mut o) = store.get(&rt, Some("monitoring"), "busy") {
                o["metadata"]["annotations"] = json!({"tick": i.to_string()});
                let _ = store.update(&rt, Some("monitoring"), "busy", o, &ctx);
            }
        }
        i
    });
    for k in 0..10 {
        let body = format!(r#"{{"data":{{"k{k}":"v"}}}}"#);
        let r = c
            .patch(
                &format!("{base}/busy"),
                "application/merge-patch+json",
                body.as_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let ticks = writer.join().unwrap();
    assert!(ticks > 10);
    let o = c.get(&format!("{base}/busy")).await.unwrap().json();
    for k in 0..10 {
        assert_eq!(o["data"][format!("k{k}")], "v");
    }
}
