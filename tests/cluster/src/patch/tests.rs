use super::*;
use crate::resources::Registry;
use crate::store::WriteCtx;

fn rt(plural: &str) -> ResourceType {
    Registry::new(true).by_plural(plural).unwrap().clone()
}

fn entry<'a>(obj: &'a Value, manager: &str, op: &str) -> Option<&'a Value> {
    obj["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == op)
}

/// A Service as helm creates it (Update operation, owning spec.selector), tracked as the store does.
fn helm_service() -> Value {
    let mut svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-etcd", "namespace": "kube-system", "uid": "u1", "resourceVersion": "10",
                     "creationTimestamp": "2024-01-01T00:00:00Z",
                     "labels": {"app.kubernetes.io/managed-by": "Helm"}},
        "spec": {"clusterIP": "None", "selector": {"component": "etcd"},
                 "ports": [{"name": "http-metrics", "port": 2379, "protocol": "TCP", "targetPort": 2379}]}});
    crate::managed::track(None, &mut svc, "v1", &WriteCtx::update("helm"));
    svc
}

#[test]
fn content_types_ignore_parameters() {
    assert_eq!(
        PatchType::from_content_type("application/apply-patch+yaml; charset=utf-8"),
        Some(PatchType::Apply)
    );
    assert_eq!(
        PatchType::from_content_type("application/strategic-merge-patch+json"),
        Some(PatchType::Strategic)
    );
    assert_eq!(
        PatchType::from_content_type("application/json-patch+json"),
        Some(PatchType::Json)
    );
    assert_eq!(
        PatchType::from_content_type("application/merge-patch+json"),
        Some(PatchType::Merge)
    );
    assert_eq!(PatchType::from_content_type("application/json"), None);
}

/// patch.go applyJSPatch: `patchObj.Apply` errors become
/// `errors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)`,
/// i.e. 422 Invalid with the generic message of apimachinery/pkg/api/errors (the jsonpatch text
/// is not in the body); a patch that does not decode is 400 BadRequest.
#[test]
fn json_patch_test_failure_and_bad_path_are_422() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}});
    let r = rt("configmaps");
    let ok = patch(
        &r,
        &cm,
        br#"[{"op":"test","path":"/data/k","value":"v"},{"op":"replace","path":"/data/k","value":"w"}]"#,
        PatchType::Json,
    )
    .unwrap();
    assert_eq!(ok["data"]["k"], "w");
    for body in [
        &br#"[{"op":"test","path":"/data/k","value":"nope"}]"#[..],
        br#"[{"op":"remove","path":"/data/missing"}]"#,
        br#"[{"op":"replace","path":"/spec/x","value":1}]"#,
        br#"[{"op":"frobnicate","path":"/data/k"}]"#,
    ] {
        let e = patch(&r, &cm, body, PatchType::Json).unwrap_err();
        assert_eq!(e.code, 422, "{}", String::from_utf8_lossy(body));
        assert_eq!(e.reason, "Invalid");
        assert_eq!(
            e.message,
            "the server rejected our request due to an error in our request"
        );
        assert!(e.causes.is_empty());
    }
    let e = patch(&r, &cm, br#"{"op":"add"}"#, PatchType::Json).unwrap_err();
    assert_eq!(e.code, 400);
    assert_eq!(
        e.message,
        "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
    );
    let e = patch(&r, &cm, b"[{", PatchType::Json).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (400, "unexpected end of JSON input")
    );
}

/// RFC 7386 (evanphx/json-patch MergePatch): null deletes, lists are replaced; a body that is not
/// JSON is ErrBadJSONPatch, a 400.
#[test]
fn merge_patch_null_deletes_and_lists_replace() {
    let r = rt("services");
    let svc = helm_service();
    let out = patch(
        &r,
        &svc,
        br#"{"spec":{"selector":null,"ports":[{"port":2381}]},"metadata":{"labels":{"x":"y"}}}"#,
        PatchType::Merge,
    )
    .unwrap();
    assert!(out["spec"].get("selector").is_none());
    // replaced, then defaulted (protocol TCP, targetPort = port)
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 2381, "protocol": "TCP", "targetPort": 2381}])
    );
    assert_eq!(out["metadata"]["labels"]["x"], "y");
    assert_eq!(
        out["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "Helm"
    );
    let e = patch(&r, &svc, b"{nope", PatchType::Merge).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (400, "Invalid JSON Patch"));
}

/// handlers/patch.go + installer.go: custom resources do not accept strategic merge patch: 415
/// with negotiation.NewUnsupportedMediaTypeError's message listing the accepted types.
#[test]
fn strategic_merge_patch_of_a_custom_resource_is_415() {
    let r = rt("prometheuses");
    let p = json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus", "metadata": {"name": "k8s"}});
    let e = patch(&r, &p, br#"{"spec":{}}"#, PatchType::Strategic).unwrap_err();
    assert_eq!(e.code, 415);
    assert_eq!(e.reason, "UnsupportedMediaType");
    assert_eq!(
        e.message,
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    );
}

/// strategicpatch: metadata labels/annotations merge (null removes a key), finalizers merge as a
/// primitive list, ownerReferences merge by uid (core/v1 + metav1 patch tags).
#[test]
fn smp_metadata() {
    let r = rt("configmaps");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "a", "labels": {"a": "1", "b": "2"}, "finalizers": ["x"],
                     "ownerReferences": [{"uid": "u1", "name": "o1", "kind": "K", "apiVersion": "v1"}]},
        "data": {"k": "v", "k2": "v2"}});
    let out = patch(
        &r,
        &cm,
        br#"{"metadata":{"labels":{"a":null,"c":"3"},"finalizers":["y"],
             "ownerReferences":[{"uid":"u2","name":"o2","kind":"K","apiVersion":"v1"},{"uid":"u1","name":"renamed"}]},
             "data":{"k2":null,"k3":"v3"}}"#,
        PatchType::Strategic,
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
    // strategicpatch mergeSortedSlice: an item the live list does not have cannot be ordered
    // against it and goes before the server-only items
    assert_eq!(out["metadata"]["finalizers"], json!(["y", "x"]));
    assert_eq!(
        out["metadata"]["ownerReferences"],
        json!([{"uid": "u2", "name": "o2", "kind": "K", "apiVersion": "v1"},
               {"uid": "u1", "name": "renamed", "kind": "K", "apiVersion": "v1"}])
    );
    assert_eq!(out["data"], json!({"k": "v", "k3": "v3"}));
    // $deleteFromPrimitiveList
    let out = patch(
        &r,
        &out,
        br#"{"metadata":{"$deleteFromPrimitiveList/finalizers":["x"]}}"#,
        PatchType::Strategic,
    )
    .unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["y"]));
}

/// Service spec.ports merge by `port` (patchMergeKey), selector is a map (merged; null removes a
/// key; `$patch: replace` and `$retainKeys` replace it).
#[test]
fn smp_service_ports_and_selector() {
    let r = rt("services");
    let mut svc = helm_service();
    svc["spec"]["ports"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "peer", "port": 2380, "protocol": "TCP", "targetPort": 2380}));
    svc["spec"]["selector"]["tier"] = json!("control-plane");
    let out = patch(
        &r,
        &svc,
        br#"{"spec":{"ports":[{"port":2379,"name":"https-metrics"},{"port":2381,"name":"new"}],
             "selector":{"tier":null}}}"#,
        PatchType::Strategic,
    )
    .unwrap();
    assert_eq!(
        out["spec"]["ports"],
        json!([{"name": "https-metrics", "port": 2379, "protocol": "TCP", "targetPort": 2379},
               {"name": "new", "port": 2381, "protocol": "TCP", "targetPort": 2381},
               {"name": "peer", "port": 2380, "protocol": "TCP", "targetPort": 2380}])
    );
    assert_eq!(out["spec"]["selector"], json!({"component": "etcd"}));
    let out2 = patch(
        &r,
        &out,
        br#"{"spec":{"selector":{"$patch":"replace","k8s-app":"etcd"}}}"#,
        PatchType::Strategic,
    )
    .unwrap();
    assert_eq!(out2["spec"]["selector"], json!({"k8s-app": "etcd"}));
    let out3 = patch(
        &r,
        &out,
        br#"{"spec":{"selector":{"$retainKeys":["x"],"x":"y"}}}"#,
        PatchType::Strategic,
    )
    .unwrap();
    assert_eq!(out3["spec"]["selector"], json!({"x": "y"}));
    // a key in the patch that $retainKeys does not list: mergepatch.ErrBadPatchFormatForRetainKeys, 400
    let e = patch(
        &r,
        &out,
        br#"{"spec":{"selector":{"$retainKeys":["x"],"z":"y"}}}"#,
        PatchType::Strategic,
    )
    .unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (400, "invalid patch format of retainKeys")
    );
    // selector: null removes it
    let out4 = patch(
        &r,
        &out,
        br#"{"spec":{"selector":null}}"#,
        PatchType::Strategic,
    )
    .unwrap();
    assert!(out4["spec"].get("selector").is_none());
    // $patch: delete of a port, by merge key
    let out5 = patch(
        &r,
        &out,
        br#"{"spec":{"ports":[{"$patch":"delete","port":2380}]}}"#,
        PatchType::Strategic,
    )
    .unwrap();
    let ports: Vec<i64> = out5["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_i64().unwrap())
        .collect();
    assert_eq!(ports, vec![2379, 2381]);
    // the order in the patch list is kept; server-only items keep their live order
    // $patch: replace of the whole list
    let out6 = patch(
        &r,
        &out,
        br#"{"spec":{"ports":[{"$patch":"replace"},{"port":9000}]}}"#,
        PatchType::Strategic,
    )
    .unwrap();
    assert_eq!(
        out6["spec"]["ports"],
        json!([{"port": 9000, "protocol": "TCP", "targetPort": 9000}])
    );
    // strategicpatch mergeSliceWithSpecialElements: `$patch: merge` in a list is an error that is
    // not a Status (500)
    let e = patch(
        &r,
        &out,
        br#"{"spec":{"ports":[{"$patch":"merge"}]}}"#,
        PatchType::Strategic,
    )
    .unwrap_err();
    assert_eq!(e.code, 500);
    assert_eq!(
        e.message,
        "merging lists cannot yet be specified in the patch"
    );
}

/// PodSpec containers/volumes merge by name, env by name, volumeMounts by mountPath, container
/// ports by containerPort (core/v1 patch tags), in a StatefulSet template.
#[test]
fn smp_pod_template_lists() {
    let r = rt("statefulsets");
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "prometheus-k8s"},
        "spec": {"template": {"spec": {
            "containers": [{"name": "prometheus", "image": "p:1",
                            "env": [{"name": "A", "value": "1"}],
                            "ports": [{"containerPort": 9090, "name": "web", "protocol": "TCP"}],
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/prometheus/config"}]},
                           {"name": "config-reloader", "image": "r:1"}],
            "volumes": [{"name": "config", "secret": {"secretName": "prometheus-k8s"}}]}}}});
    let out = patch(
        &r,
        &sts,
        br#"{"spec":{"template":{"spec":{
            "containers":[{"name":"prometheus",
                           "env":[{"name":"B","value":"2"}],
                           "ports":[{"containerPort":9090,"name":"http"}],
                           "volumeMounts":[{"name":"etcd","mountPath":"/etc/prometheus/secrets/etcd","readOnly":true}]}],
            "volumes":[{"name":"etcd","secret":{"secretName":"etcd-client-cert"}}]}}}}"#,
        PatchType::Strategic,
    )
    .unwrap();
    let c = &out["spec"]["template"]["spec"]["containers"];
    assert_eq!(c.as_array().unwrap().len(), 2);
    assert_eq!(c[0]["image"], "p:1");
    assert_eq!(
        c[0]["env"],
        json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}])
    );
    assert_eq!(
        c[0]["ports"],
        json!([{"containerPort": 9090, "name": "http", "protocol": "TCP"}])
    );
    assert_eq!(c[0]["volumeMounts"].as_array().unwrap().len(), 2);
    assert_eq!(
        out["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // kubectl's client-side apply sends $setElementOrder: the patch list's order wins
    let out2 = patch(
        &r,
        &out,
        br#"{"spec":{"template":{"spec":{
            "$setElementOrder/containers":[{"name":"config-reloader"},{"name":"prometheus"}],
            "containers":[{"name":"config-reloader","image":"r:2"}]}}}}"#,
        PatchType::Strategic,
    )
    .unwrap();
    let names: Vec<&str> = out2["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["config-reloader", "prometheus"]);
    assert_eq!(
        out2["spec"]["template"]["spec"]["containers"][0]["image"],
        "r:2"
    );
    assert!(
        out2["spec"]["template"]["spec"]
            .get("$setElementOrder/containers")
            .is_none()
    );
}

/// Lists without a patch strategy are replaced: Endpoints subsets, EndpointSlice endpoints;
/// Secret data is a map.
#[test]
fn smp_atomic_lists_and_secret_data() {
    let ep = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "etcd"},
        "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 2379}]}]});
    let out = patch(
        &rt("endpoints"),
        &ep,
        br#"{"subsets":[{"addresses":[{"ip":"10.0.0.2"}]}]}"#,
        PatchType::Strategic,
    )
    .unwrap();
    assert_eq!(out["subsets"], json!([{"addresses": [{"ip": "10.0.0.2"}]}]));
    let es = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "etcd-abc"},
        "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.3"]}]});
    let out = patch(
        &rt("endpointslices"),
        &es,
        br#"{"endpoints":[{"addresses":["10.0.0.2"]}]}"#,
        PatchType::Strategic,
    )
    .unwrap();
    assert_eq!(out["endpoints"], json!([{"addresses": ["10.0.0.2"]}]));
    let sec = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"ca.crt": "QQ==", "old": "Qg=="}});
    let out = patch(
        &rt("secrets"),
        &sec,
        br#"{"data":{"tls.crt":"Qw==","old":null}}"#,
        PatchType::Strategic,
    )
    .unwrap();
    assert_eq!(out["data"], json!({"ca.crt": "QQ==", "tls.crt": "Qw=="}));
}

/// THE trap: helm created the Service (Update operation owning spec.selector); an apply by
/// promfix that omits spec.selector leaves it alone (the applier never owned it).
/// structured-merge-diff merge/update.go Updater.Apply + prune.
#[test]
fn apply_without_selector_keeps_helms_selector() {
    let r = rt("services");
    let svc = helm_service();
    let body = br#"
apiVersion: v1
kind: Service
metadata:
  name: kube-etcd
  namespace: kube-system
  labels:
    app.kubernetes.io/part-of: promfix
spec:
  ports:
  - name: http-metrics
    port: 2379
"#;
    let out = apply(&r, Some(&svc), body, "promfix", false).unwrap();
    assert_eq!(out["spec"]["selector"], json!({"component": "etcd"}));
    assert_eq!(out["spec"]["ports"][0]["protocol"], "TCP");
    assert_eq!(
        out["metadata"]["labels"]["app.kubernetes.io/part-of"],
        "promfix"
    );
    assert!(entry(&out, "promfix", "Apply").is_some());
    assert!(
        entry(&out, "helm", "Update").unwrap()["fieldsV1"]["f:spec"]
            .get("f:selector")
            .is_some()
    );
    // renaming helm's port is a conflict on the list item's field
    let body = br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"kube-etcd","namespace":"kube-system"},
        "spec":{"ports":[{"name":"https-metrics","port":2379}]}}"#;
    let e = apply(&r, Some(&svc), body, "promfix", false).unwrap_err();
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"helm\" using v1: .spec.ports[port=2379,protocol=\"TCP\"].name"
    );
}

#[test]
fn apply_conflicts_with_helm_unless_forced() {
    let r = rt("services");
    let svc = helm_service();
    // same port (shared ownership of its values), a different selector: 1 conflict
    let body = br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"kube-etcd","namespace":"kube-system"},
        "spec":{"selector":{"k8s-app":"etcd"},"ports":[{"name":"http-metrics","port":2379,"targetPort":2379}]}}"#;
    let e = apply(&r, Some(&svc), body, "promfix", false).unwrap_err();
    assert_eq!(e.code, 409);
    assert_eq!(e.reason, "Conflict");
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"helm\" using v1: .spec.selector"
    );
    assert_eq!(
        e.causes,
        vec![Cause {
            reason: "FieldManagerConflict".into(),
            message: "conflict with \"helm\" using v1".into(),
            field: ".spec.selector".into(),
        }]
    );
    // force: ownership moves to the applier
    let out = apply(&r, Some(&svc), body, "promfix", true).unwrap();
    assert_eq!(out["spec"]["selector"], json!({"k8s-app": "etcd"}));
    let helm = entry(&out, "helm", "Update").unwrap();
    assert!(helm["fieldsV1"]["f:spec"].get("f:selector").is_none());
    let mine = entry(&out, "promfix", "Apply").unwrap();
    assert_eq!(
        mine["fieldsV1"],
        json!({"f:spec": {"f:selector": {}, "f:ports": {"k:{\"port\":2379,\"protocol\":\"TCP\"}": {
            ".": {}, "f:name": {}, "f:port": {}, "f:targetPort": {}}}}})
    );
    // shared ownership: helm keeps the port fields it set with the same values
    assert!(
        helm["fieldsV1"]["f:spec"]["f:ports"]["k:{\"port\":2379,\"protocol\":\"TCP\"}"]
            .get("f:port")
            .is_some()
    );
    assert!(mine.get("time").is_some());
    assert_eq!(mine["apiVersion"], "v1");
}

/// getConflictMessage with several conflicts.
#[test]
fn apply_reports_several_conflicts() {
    let r = rt("services");
    let svc = helm_service();
    let body = br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"kube-etcd","namespace":"kube-system"},
        "spec":{"selector":{"k8s-app":"etcd"},"clusterIP":"10.0.0.1"}}"#;
    let e = apply(&r, Some(&svc), body, "promfix", false).unwrap_err();
    assert_eq!(
        e.message,
        "Apply failed with 2 conflicts: conflicts with \"helm\" using v1:\n- .spec.clusterIP\n- .spec.selector"
    );
    assert_eq!(e.causes.len(), 2);
}

/// An applier that owned a field and omits it in its next apply removes it (nobody else owns it);
/// applying to nothing creates the object.
#[test]
fn apply_creates_and_prunes_what_the_applier_dropped() {
    let r = rt("services");
    let body1 = br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"etcd","namespace":"kube-system","labels":{"a":"1","b":"2"}},
        "spec":{"clusterIP":"None","ports":[{"name":"m","port":2379}]}}"#;
    let created = apply(&r, None, body1, "promfix", false).unwrap();
    assert_eq!(
        entry(&created, "promfix", "Apply").unwrap()["fieldsV1"],
        json!({"f:metadata": {"f:labels": {"f:a": {}, "f:b": {}}},
               "f:spec": {"f:clusterIP": {}, "f:ports": {"k:{\"port\":2379,\"protocol\":\"TCP\"}": {
                   ".": {}, "f:name": {}, "f:port": {}}}}})
    );
    assert_eq!(created["spec"]["ports"][0]["targetPort"], 2379);
    let body2 = br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"etcd","namespace":"kube-system","labels":{"a":"1"}},
        "spec":{"clusterIP":"None","ports":[{"name":"m","port":2381}]}}"#;
    let next = apply(&r, Some(&created), body2, "promfix", false).unwrap();
    assert_eq!(next["metadata"]["labels"], json!({"a": "1"}));
    let ports: Vec<i64> = next["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_i64().unwrap())
        .collect();
    assert_eq!(ports, vec![2381]);
}

/// A field another manager also owns stays when the applier drops it.
#[test]
fn apply_keeps_a_dropped_field_another_manager_owns() {
    let r = rt("configmaps");
    let body1 = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1","b":"2"}}"#;
    let c1 = apply(&r, None, body1, "one", false).unwrap();
    let body_two =
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"b":"2"}}"#;
    let c2 = apply(&r, Some(&c1), body_two, "two", false).unwrap();
    let body_one_again =
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{}}"#;
    let c3 = apply(&r, Some(&c2), body_one_again, "one", false).unwrap();
    assert_eq!(c3["data"], json!({"b": "2"}));
    // the last applier of b drops it too: data is gone
    let c4 = apply(&r, Some(&c3), body_one_again, "two", false).unwrap();
    assert!(c4.get("data").is_none(), "{c4}");
}

/// versionCheckManager and structuredMergeManager.Apply input checks.
#[test]
fn apply_rejects_wrong_kind_and_managed_fields() {
    let r = rt("services");
    let e = apply(
        &r,
        None,
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
        "m",
        false,
    )
    .unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (400, "invalid object type: /v1, Kind=ConfigMap")
    );
    let e = apply(
        &r,
        None,
        b"apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  managedFields: []\n",
        "m",
        false,
    )
    .unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (400, "metadata.managedFields must be nil")
    );
    let e = apply(&r, None, b"apiVersion: v1\nkind: Service\n", "", false).unwrap_err();
    assert_eq!(e.code, 422);
    assert_eq!(
        e.message,
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
}

/// Custom resources: ServiceMonitor spec.endpoints is atomic (no x-kubernetes-list-type in the
/// CRD); Prometheus spec.secrets is a set (`+listType:=set`, prometheus-operator PR #6762), so two
/// managers can each own their secret.
#[test]
fn apply_custom_resource_list_types() {
    let sm_rt = rt("servicemonitors");
    let sm = apply(
        &sm_rt,
        None,
        br#"{"apiVersion":"monitoring.coreos.com/v1","kind":"ServiceMonitor","metadata":{"name":"etcd","namespace":"monitoring"},
            "spec":{"selector":{"matchLabels":{"k8s-app":"etcd"}},"endpoints":[{"port":"metrics","scheme":"https"}]}}"#,
        "promfix",
        false,
    )
    .unwrap();
    assert_eq!(
        entry(&sm, "promfix", "Apply").unwrap()["fieldsV1"],
        json!({"f:spec": {"f:endpoints": {}, "f:selector": {}}})
    );
    let p_rt = rt("prometheuses");
    let mut prom = json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
        "metadata": {"name": "k8s", "namespace": "monitoring", "uid": "u"},
        "spec": {"replicas": 1, "secrets": ["other"]}});
    crate::managed::track(
        None,
        &mut prom,
        "monitoring.coreos.com/v1",
        &WriteCtx::update("helm"),
    );
    let out = apply(
        &p_rt,
        Some(&prom),
        br#"{"apiVersion":"monitoring.coreos.com/v1","kind":"Prometheus","metadata":{"name":"k8s","namespace":"monitoring"},
            "spec":{"secrets":["etcd-client-cert"]}}"#,
        "promfix",
        false,
    )
    .unwrap();
    assert_eq!(out["spec"]["secrets"], json!(["other", "etcd-client-cert"]));
    assert_eq!(
        entry(&out, "promfix", "Apply").unwrap()["fieldsV1"],
        json!({"f:spec": {"f:secrets": {"v:\"etcd-client-cert\"": {}}}})
    );
}

/// Applying the same value another manager owns shares the field; no conflict, no change.
#[test]
fn apply_same_value_shares_ownership() {
    let r = rt("services");
    let svc = helm_service();
    let body = br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"kube-etcd","namespace":"kube-system"},
        "spec":{"selector":{"component":"etcd"}}}"#;
    let out = apply(&r, Some(&svc), body, "promfix", false).unwrap();
    assert!(
        entry(&out, "helm", "Update").unwrap()["fieldsV1"]["f:spec"]
            .get("f:selector")
            .is_some()
    );
    assert_eq!(
        entry(&out, "promfix", "Apply").unwrap()["fieldsV1"],
        json!({"f:spec": {"f:selector": {}}})
    );
    // Apply entries sort before Update entries (sortEncodedManagedFields)
    assert_eq!(out["metadata"]["managedFields"][0]["operation"], "Apply");
}

/// The whole path through the store: helm creates, promfix applies without the selector, then
/// applies the same selector helm set (shared ownership: only managedFields change).
#[test]
fn apply_through_the_store() {
    use crate::store::Store;
    let s = Store::new(Registry::new(true));
    let ns = s.rt("namespaces");
    s.create(
        &ns,
        None,
        json!({"metadata": {"name": "kube-system"}}),
        &WriteCtx::update("test"),
    )
    .unwrap();
    let svc_rt = s.rt("services");
    let created = s
        .create(
            &svc_rt,
            Some("kube-system"),
            json!({"metadata": {"name": "kube-etcd", "labels": {"app": "etcd"}},
                   "spec": {"clusterIP": "None", "selector": {"component": "etcd"},
                            "ports": [{"name": "http-metrics", "port": 2379, "protocol": "TCP", "targetPort": 2379}]}}),
            &WriteCtx::update("helm"),
        )
        .unwrap();
    assert!(entry(&created, "helm", "Update").is_some());
    let body = br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"kube-etcd","namespace":"kube-system"},
        "spec":{"ports":[{"name":"http-metrics","port":2379}]}}"#;
    let obj = apply(&svc_rt, Some(&created), body, "promfix", false).unwrap();
    let stored = s
        .update(
            &svc_rt,
            Some("kube-system"),
            "kube-etcd",
            obj,
            &WriteCtx::apply("promfix"),
        )
        .unwrap();
    assert_eq!(stored["spec"]["selector"], json!({"component": "etcd"}));
    assert!(
        entry(&stored, "promfix", "Apply").is_some(),
        "an apply that only adds ownership is stored: {stored}"
    );
    assert!(entry(&stored, "helm", "Update").is_some());
    // a later Update by helm that changes the port name takes it from promfix
    let mut next = stored.clone();
    next["spec"]["ports"][0]["name"] = json!("metrics");
    let after = s
        .update(
            &svc_rt,
            Some("kube-system"),
            "kube-etcd",
            next,
            &WriteCtx::update("helm"),
        )
        .unwrap();
    let mine = entry(&after, "promfix", "Apply").unwrap();
    assert!(
        mine["fieldsV1"]["f:spec"]["f:ports"]["k:{\"port\":2379,\"protocol\":\"TCP\"}"]
            .get("f:name")
            .is_none()
    );
}

/// lastappliedmanager.go / lastappliedupdater.go: `kubectl apply --server-side` (manager
/// "kubectl") takes over the fields of its own client-side last-applied configuration without
/// conflict and rewrites the annotation; another manager still conflicts.
#[test]
fn kubectl_server_side_upgrade_from_client_side_apply() {
    let r = rt("services");
    let la = r#"{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"name":"s","namespace":"d"},"spec":{"selector":{"a":"b"}}}"#;
    let mut svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "s", "namespace": "d", "uid": "u",
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": format!("{la}\n")}},
        "spec": {"selector": {"a": "b"}}});
    crate::managed::track(
        None,
        &mut svc,
        "v1",
        &WriteCtx::update("kubectl-client-side-apply"),
    );
    let body = br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"d"},"spec":{"selector":{"a":"c"}}}"#;
    let e = apply(&r, Some(&svc), body, "promfix", false).unwrap_err();
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .spec.selector"
    );
    let out = apply(&r, Some(&svc), body, "kubectl", false).unwrap();
    assert_eq!(out["spec"]["selector"], json!({"a": "c"}));
    assert_eq!(
        out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"s\",\"namespace\":\"d\"},\"spec\":{\"selector\":{\"a\":\"c\"}}}\n"
    );
}

/// structuredmerge.go Apply: a configuration that is not a valid typed object (an associative
/// list item without its key, duplicate keys) is not a Status: 500 with the error text.
#[test]
fn apply_rejects_list_items_without_keys_or_duplicated() {
    let r = rt("services");
    let e = apply(
        &r,
        None,
        br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"d"},"spec":{"ports":[{"name":"x"}]}}"#,
        "m",
        false,
    )
    .unwrap_err();
    assert_eq!(e.code, 500);
    assert_eq!(
        e.message,
        "failed to create typed patch object (/v1, Kind=Service; d/s): .spec.ports: element 0: associative list with keys has an element that omits key field \"port\" (and doesn't have default value)"
    );
    let e = apply(
        &r,
        None,
        br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"d"},"spec":{"ports":[{"port":1},{"port":1,"protocol":"TCP"}]}}"#,
        "m",
        false,
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "failed to create typed patch object (/v1, Kind=Service; d/s): .spec.ports: duplicate entries for key [port=1,protocol=\"TCP\"]"
    );
}

/// An applied `null` for a field helm owns is a change of it: a conflict, as in
/// structured-merge-diff (the merged object holds the null until it is decoded).
#[test]
fn apply_null_conflicts_on_an_owned_field() {
    let r = rt("services");
    let svc = helm_service();
    let body = br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"kube-etcd","namespace":"kube-system"},"spec":{"selector":null}}"#;
    let e = apply(&r, Some(&svc), body, "promfix", false).unwrap_err();
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"helm\" using v1: .spec.selector"
    );
    let out = apply(&r, Some(&svc), body, "promfix", true).unwrap();
    assert!(out["spec"].get("selector").is_none());
}

/// strategicpatch handleDirectiveInMergeMap: in a map only `replace` and `delete` are
/// directives; `$patch: merge` is mergepatch.ErrBadPatchType, an error that is not a Status (500).
#[test]
fn smp_patch_merge_in_a_map_is_an_error() {
    let r = rt("services");
    let svc = helm_service();
    let e = patch(
        &r,
        &svc,
        br#"{"spec":{"selector":{"$patch":"merge","a":"b"}}}"#,
        PatchType::Strategic,
    )
    .unwrap_err();
    assert_eq!(e.code, 500);
    assert_eq!(
        e.message,
        "unknown patch type: merge in map: map[$patch:merge a:b]"
    );
    // `$patch: delete` of a map empties it
    let out = patch(
        &r,
        &svc,
        br#"{"metadata":{"labels":{"$patch":"delete"}}}"#,
        PatchType::Strategic,
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({}));
}
