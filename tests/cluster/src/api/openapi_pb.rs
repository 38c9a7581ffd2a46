//! `/openapi/v2` as protobuf (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`), the
//! form kubectl's discovery client asks for (`OpenAPISchema()`; kubectl 1.27's apply and create
//! read it for patch metadata and the fieldValidation parameter). The JSON document of
//! `api::openapi::v2` is encoded as gnostic's `openapi.v2.Document` (field numbers of
//! google/gnostic openapiv2/OpenAPIv2.proto); vendor extensions and defaults are `Any.yaml`.

use serde_json::Value;

#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn varint(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }
    fn key(&mut self, n: u32, wire: u8) {
        self.varint((u64::from(n) << 3) | u64::from(wire));
    }
    fn bytes(&mut self, n: u32, b: &[u8]) {
        self.key(n, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, n: u32, v: Option<&Value>) {
        if let Some(s) = v.and_then(Value::as_str)
            && !s.is_empty()
        {
            self.bytes(n, s.as_bytes());
        }
    }
    fn strs(&mut self, n: u32, v: Option<&Value>) {
        match v {
            Some(Value::Array(a)) => {
                for s in a.iter().filter_map(Value::as_str) {
                    self.bytes(n, s.as_bytes());
                }
            }
            Some(Value::String(s)) => self.bytes(n, s.as_bytes()),
            _ => {}
        }
    }
    fn boolean(&mut self, n: u32, v: Option<&Value>) {
        if v.and_then(Value::as_bool) == Some(true) {
            self.key(n, 0);
            self.varint(1);
        }
    }
    fn int(&mut self, n: u32, v: Option<&Value>) {
        if let Some(i) = v.and_then(Value::as_i64)
            && i != 0
        {
            self.key(n, 0);
            self.varint(i as u64);
        }
    }
    fn double(&mut self, n: u32, v: Option<&Value>) {
        if let Some(f) = v.and_then(Value::as_f64)
            && f != 0.0
        {
            self.key(n, 1);
            self.0.extend_from_slice(&f.to_le_bytes());
        }
    }
    fn msg(&mut self, n: u32, m: W) {
        self.bytes(n, &m.0);
    }
    fn any(&mut self, n: u32, v: Option<&Value>) {
        if let Some(v) = v {
            self.msg(n, any(v));
        }
    }
    fn anys(&mut self, n: u32, v: Option<&Value>) {
        if let Some(a) = v.and_then(Value::as_array) {
            for x in a {
                self.msg(n, any(x));
            }
        }
    }
    /// Every `x-...` member of `obj` as a NamedAny at field `n`.
    fn extensions(&mut self, n: u32, obj: &Value) {
        if let Some(m) = obj.as_object() {
            for (k, v) in m.iter().filter(|(k, _)| k.starts_with("x-")) {
                let mut named = W::default();
                named.bytes(1, k.as_bytes());
                named.msg(2, any(v));
                self.msg(n, named);
            }
        }
    }
}

/// gnostic `Any { yaml = 2 }`.
fn any(v: &Value) -> W {
    let mut w = W::default();
    let yaml = serde_yaml_ng::to_string(v).unwrap_or_default();
    w.bytes(2, yaml.as_bytes());
    w
}

fn schema(v: &Value) -> W {
    let mut w = W::default();
    w.str(1, v.get("$ref"));
    w.str(2, v.get("format"));
    w.str(3, v.get("title"));
    w.str(4, v.get("description"));
    w.any(5, v.get("default"));
    w.double(6, v.get("multipleOf"));
    w.double(7, v.get("maximum"));
    w.boolean(8, v.get("exclusiveMaximum"));
    w.double(9, v.get("minimum"));
    w.boolean(10, v.get("exclusiveMinimum"));
    w.int(11, v.get("maxLength"));
    w.int(12, v.get("minLength"));
    w.str(13, v.get("pattern"));
    w.int(14, v.get("maxItems"));
    w.int(15, v.get("minItems"));
    w.boolean(16, v.get("uniqueItems"));
    w.int(17, v.get("maxProperties"));
    w.int(18, v.get("minProperties"));
    w.strs(19, v.get("required"));
    w.anys(20, v.get("enum"));
    match v.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut a = W::default();
            a.key(2, 0);
            a.varint(u64::from(*b));
            w.msg(21, a);
        }
        Some(s @ Value::Object(_)) => {
            let mut a = W::default();
            a.msg(1, schema(s));
            w.msg(21, a);
        }
        _ => {}
    }
    if let Some(t) = v.get("type") {
        let mut ti = W::default();
        ti.strs(1, Some(t));
        w.msg(22, ti);
    }
    match v.get("items") {
        Some(Value::Array(a)) => {
            let mut ii = W::default();
            for s in a {
                ii.msg(1, schema(s));
            }
            w.msg(23, ii);
        }
        Some(s @ Value::Object(_)) => {
            let mut ii = W::default();
            ii.msg(1, schema(s));
            w.msg(23, ii);
        }
        _ => {}
    }
    if let Some(a) = v.get("allOf").and_then(Value::as_array) {
        for s in a {
            w.msg(24, schema(s));
        }
    }
    if let Some(p) = v.get("properties").and_then(Value::as_object) {
        let mut props = W::default();
        for (k, s) in p {
            props.msg(1, named(k, schema(s)));
        }
        w.msg(25, props);
    }
    w.str(26, v.get("discriminator"));
    w.boolean(27, v.get("readOnly"));
    w.any(30, v.get("example"));
    w.extensions(31, v);
    w
}

fn named(name: &str, value: W) -> W {
    let mut w = W::default();
    w.bytes(1, name.as_bytes());
    w.msg(2, value);
    w
}

/// A non-body parameter sub-schema. Query and formData have `allowEmptyValue` (5) and shift the
/// rest by one; header and path do not.
fn sub_schema(v: &Value, with_allow_empty: bool) -> W {
    let mut w = W::default();
    let o = u32::from(with_allow_empty);
    w.boolean(1, v.get("required"));
    w.str(2, v.get("in"));
    w.str(3, v.get("description"));
    w.str(4, v.get("name"));
    if with_allow_empty {
        w.boolean(5, v.get("allowEmptyValue"));
    }
    w.str(5 + o, v.get("type"));
    w.str(6 + o, v.get("format"));
    w.str(8 + o, v.get("collectionFormat"));
    w.any(9 + o, v.get("default"));
    w.boolean(19 + o, v.get("uniqueItems"));
    w.anys(20 + o, v.get("enum"));
    w.extensions(22 + o, v);
    w
}

fn parameter(v: &Value) -> W {
    let mut p = W::default();
    if v.get("in").and_then(Value::as_str) == Some("body") {
        let mut b = W::default();
        b.str(1, v.get("description"));
        b.str(2, v.get("name"));
        b.str(3, v.get("in"));
        b.boolean(4, v.get("required"));
        if let Some(s) = v.get("schema") {
            b.msg(5, schema(s));
        }
        b.extensions(6, v);
        p.msg(1, b);
    } else {
        let mut nb = W::default();
        match v.get("in").and_then(Value::as_str).unwrap_or("") {
            "header" => nb.msg(1, sub_schema(v, false)),
            "formData" => nb.msg(2, sub_schema(v, true)),
            "path" => nb.msg(4, sub_schema(v, false)),
            _ => nb.msg(3, sub_schema(v, true)),
        }
        p.msg(2, nb);
    }
    p
}

fn parameters_item(v: &Value) -> W {
    let mut w = W::default();
    if let Some(r) = v.get("$ref") {
        let mut j = W::default();
        j.str(1, Some(r));
        j.str(2, v.get("description"));
        w.msg(2, j);
    } else {
        w.msg(1, parameter(v));
    }
    w
}

fn responses(v: &Value) -> W {
    let mut w = W::default();
    if let Some(m) = v.as_object() {
        for (code, r) in m.iter().filter(|(k, _)| !k.starts_with("x-")) {
            let mut rv = W::default();
            if let Some(re) = r.get("$ref") {
                let mut j = W::default();
                j.str(1, Some(re));
                rv.msg(2, j);
            } else {
                let mut resp = W::default();
                resp.str(1, r.get("description"));
                if let Some(s) = r.get("schema") {
                    let mut si = W::default();
                    si.msg(1, schema(s));
                    resp.msg(2, si);
                }
                resp.extensions(5, r);
                rv.msg(1, resp);
            }
            w.msg(1, named(code, rv));
        }
    }
    w.extensions(2, v);
    w
}

fn operation(v: &Value) -> W {
    let mut w = W::default();
    w.strs(1, v.get("tags"));
    w.str(2, v.get("summary"));
    w.str(3, v.get("description"));
    w.str(5, v.get("operationId"));
    w.strs(6, v.get("produces"));
    w.strs(7, v.get("consumes"));
    if let Some(a) = v.get("parameters").and_then(Value::as_array) {
        for p in a {
            w.msg(8, parameters_item(p));
        }
    }
    if let Some(r) = v.get("responses") {
        w.msg(9, responses(r));
    }
    w.strs(10, v.get("schemes"));
    w.boolean(11, v.get("deprecated"));
    w.extensions(13, v);
    w
}

fn path_item(v: &Value) -> W {
    let mut w = W::default();
    w.str(1, v.get("$ref"));
    for (n, m) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (6, "options"),
        (7, "head"),
        (8, "patch"),
    ] {
        if let Some(op) = v.get(m) {
            w.msg(n, operation(op));
        }
    }
    if let Some(a) = v.get("parameters").and_then(Value::as_array) {
        for p in a {
            w.msg(9, parameters_item(p));
        }
    }
    w.extensions(10, v);
    w
}

/// Encode an OpenAPI v2 JSON document as a gnostic `openapi.v2.Document`.
pub fn encode(doc: &Value) -> Vec<u8> {
    let mut w = W::default();
    w.str(1, doc.get("swagger"));
    if let Some(i) = doc.get("info") {
        let mut info = W::default();
        info.str(1, i.get("title"));
        info.str(2, i.get("version"));
        info.str(3, i.get("description"));
        info.extensions(7, i);
        w.msg(2, info);
    }
    w.str(3, doc.get("host"));
    w.str(4, doc.get("basePath"));
    w.strs(5, doc.get("schemes"));
    w.strs(6, doc.get("consumes"));
    w.strs(7, doc.get("produces"));
    if let Some(p) = doc.get("paths").and_then(Value::as_object) {
        let mut paths = W::default();
        paths.extensions(1, &doc["paths"]);
        for (k, item) in p.iter().filter(|(k, _)| !k.starts_with("x-")) {
            paths.msg(2, named(k, path_item(item)));
        }
        w.msg(8, paths);
    }
    if let Some(d) = doc.get("definitions").and_then(Value::as_object) {
        let mut defs = W::default();
        for (k, s) in d {
            defs.msg(1, named(k, schema(s)));
        }
        w.msg(9, defs);
    }
    if let Some(ps) = doc.get("parameters").and_then(Value::as_object) {
        let mut pd = W::default();
        for (k, p) in ps {
            pd.msg(1, named(k, parameter(p)));
        }
        w.msg(10, pd);
    }
    if let Some(sec) = doc.get("security").and_then(Value::as_array) {
        for req in sec {
            let mut sr = W::default();
            if let Some(m) = req.as_object() {
                for (k, scopes) in m {
                    let mut sa = W::default();
                    sa.strs(1, Some(scopes));
                    sr.msg(1, named(k, sa));
                }
            }
            w.msg(12, sr);
        }
    }
    if let Some(sd) = doc.get("securityDefinitions").and_then(Value::as_object) {
        let mut defs = W::default();
        for (k, d) in sd {
            let mut item = W::default();
            if d.get("type").and_then(Value::as_str) == Some("apiKey") {
                let mut ak = W::default();
                ak.str(1, d.get("type"));
                ak.str(2, d.get("name"));
                ak.str(3, d.get("in"));
                ak.str(4, d.get("description"));
                item.msg(2, ak);
            } else {
                let mut basic = W::default();
                basic.str(1, d.get("type"));
                basic.str(2, d.get("description"));
                item.msg(1, basic);
            }
            defs.msg(1, named(k, item));
        }
        w.msg(13, defs);
    }
    w.extensions(16, doc);
    w.0
}

/// Whether an `Accept` header asks for the protobuf form.
pub fn wants_protobuf(accept: &str) -> bool {
    accept
        .split(',')
        .map(|m| m.split(';').next().unwrap_or("").trim())
        .any(|m| {
            m == "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
                || m == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        })
}

/// The content type the kube-openapi handler answers the protobuf form with.
pub const CONTENT_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_documents_with_nested_messages() {
        let doc = json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.27.16"},
            "paths": {"/api/v1/namespaces/{namespace}/configmaps/{name}": {
                "patch": {"operationId": "patchCoreV1NamespacedConfigMap", "consumes": ["application/json-patch+json"],
                          "parameters": [{"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true},
                                         {"name": "body", "in": "body", "required": true, "schema": {"type": "object"}}],
                          "responses": {"200": {"description": "OK", "schema": {"$ref": "#/definitions/io.k8s.api.core.v1.ConfigMap"}}},
                          "x-kubernetes-action": "patch"},
                "parameters": [{"$ref": "#/parameters/name-abc"}]}},
            "definitions": {"io.k8s.api.core.v1.ConfigMap": {"type": "object", "properties": {"data": {"type": "object", "additionalProperties": {"type": "string"}}},
                "x-kubernetes-group-version-kind": [{"group": "", "kind": "ConfigMap", "version": "v1"}]}},
        });
        let b = encode(&doc);
        // field 1 (swagger) comes first: tag 0x0a, length 3, "2.0"
        assert_eq!(&b[..5], b"\x0a\x032.0");
        let s = String::from_utf8_lossy(&b);
        for needle in [
            "fieldValidation",
            "x-kubernetes-group-version-kind",
            "#/definitions/io.k8s.api.core.v1.ConfigMap",
            "patchCoreV1NamespacedConfigMap",
        ] {
            assert!(s.contains(needle), "{needle}");
        }
        assert!(wants_protobuf(
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
        ));
        assert!(!wants_protobuf("application/json"));
    }
}
