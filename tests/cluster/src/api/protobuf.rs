//! Decoding of `application/vnd.kubernetes.protobuf` request bodies for the few types kubectl's
//! typed clients send that way (`kubectl create configmap|secret|namespace|serviceaccount`,
//! `kubectl auth can-i`): the `k8s\0` envelope around a `runtime.Unknown`
//! (k8s.io/apimachinery/pkg/runtime/generated.proto) whose `raw` is the object, decoded by the
//! field numbers of k8s.io/api/{core,authorization}/v1/generated.proto and
//! k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto. Responses are always JSON.

use base64::Engine;
use serde_json::{Map, Value, json};

#[derive(Clone, Copy)]
enum F {
    Str,
    I64,
    Bool,
    Msg(Schema),
    RepMsg(Schema),
    RepStr,
    MapStr,
    MapBytes,
    /// meta/v1 Time {seconds = 1, nanos = 2} as RFC 3339.
    Time,
}

type Schema = &'static [(u32, &'static str, F)];

const TYPE_META: Schema = &[(1, "apiVersion", F::Str), (2, "kind", F::Str)];

const OWNER_REF: Schema = &[
    (1, "kind", F::Str),
    (3, "name", F::Str),
    (4, "uid", F::Str),
    (5, "apiVersion", F::Str),
    (6, "controller", F::Bool),
    (7, "blockOwnerDeletion", F::Bool),
];

const OBJECT_META: Schema = &[
    (1, "name", F::Str),
    (2, "generateName", F::Str),
    (3, "namespace", F::Str),
    (5, "uid", F::Str),
    (6, "resourceVersion", F::Str),
    (7, "generation", F::I64),
    (8, "creationTimestamp", F::Time),
    (9, "deletionTimestamp", F::Time),
    (10, "deletionGracePeriodSeconds", F::I64),
    (11, "labels", F::MapStr),
    (12, "annotations", F::MapStr),
    (13, "ownerReferences", F::RepMsg(OWNER_REF)),
    (14, "finalizers", F::RepStr),
];

const CONFIG_MAP: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "data", F::MapStr),
    (3, "binaryData", F::MapBytes),
    (4, "immutable", F::Bool),
];

const SECRET: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "data", F::MapBytes),
    (3, "type", F::Str),
    (4, "stringData", F::MapStr),
    (5, "immutable", F::Bool),
];

const LOCAL_OBJECT_REF: Schema = &[(1, "name", F::Str)];

const OBJECT_REF: Schema = &[
    (1, "kind", F::Str),
    (2, "namespace", F::Str),
    (3, "name", F::Str),
    (4, "uid", F::Str),
    (5, "apiVersion", F::Str),
];

const SERVICE_ACCOUNT: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "secrets", F::RepMsg(OBJECT_REF)),
    (3, "imagePullSecrets", F::RepMsg(LOCAL_OBJECT_REF)),
    (4, "automountServiceAccountToken", F::Bool),
];

const NAMESPACE: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "spec", F::Msg(&[(1, "finalizers", F::RepStr)])),
    (3, "status", F::Msg(&[(1, "phase", F::Str)])),
];

const RESOURCE_ATTRIBUTES: Schema = &[
    (1, "namespace", F::Str),
    (2, "verb", F::Str),
    (3, "group", F::Str),
    (4, "version", F::Str),
    (5, "resource", F::Str),
    (6, "subresource", F::Str),
    (7, "name", F::Str),
];

const NON_RESOURCE_ATTRIBUTES: Schema = &[(1, "path", F::Str), (2, "verb", F::Str)];

const SSAR: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (
        2,
        "spec",
        F::Msg(&[
            (1, "resourceAttributes", F::Msg(RESOURCE_ATTRIBUTES)),
            (2, "nonResourceAttributes", F::Msg(NON_RESOURCE_ATTRIBUTES)),
        ]),
    ),
];

const SAR: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (
        2,
        "spec",
        F::Msg(&[
            (1, "resourceAttributes", F::Msg(RESOURCE_ATTRIBUTES)),
            (2, "nonResourceAttributes", F::Msg(NON_RESOURCE_ATTRIBUTES)),
            (3, "user", F::Str),
            (4, "groups", F::RepStr),
            (6, "uid", F::Str),
        ]),
    ),
];

fn schema_of(api_version: &str, kind: &str) -> Option<Schema> {
    Some(match (api_version, kind) {
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => SSAR,
        ("authorization.k8s.io/v1", "SubjectAccessReview") => SAR,
        _ => return None,
    })
}

/// One raw field: number and value.
enum Raw<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*i)?;
        *i += 1;
        out |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

fn fields(b: &[u8]) -> Option<Vec<(u32, Raw<'_>)>> {
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let key = varint(b, &mut i)?;
        let num = u32::try_from(key >> 3).ok()?;
        match key & 7 {
            0 => out.push((num, Raw::Varint(varint(b, &mut i)?))),
            1 => {
                i = i.checked_add(8).filter(|&e| e <= b.len())?;
                out.push((num, Raw::Fixed));
            }
            2 => {
                let len = usize::try_from(varint(b, &mut i)?).ok()?;
                let end = i.checked_add(len).filter(|&e| e <= b.len())?;
                out.push((num, Raw::Bytes(&b[i..end])));
                i = end;
            }
            5 => {
                i = i.checked_add(4).filter(|&e| e <= b.len())?;
                out.push((num, Raw::Fixed));
            }
            _ => return None,
        }
    }
    Some(out)
}

fn string(b: &[u8]) -> Option<Value> {
    Some(Value::String(String::from_utf8(b.to_vec()).ok()?))
}

fn map_entry(b: &[u8], bytes_value: bool) -> Option<(String, Value)> {
    let mut k = String::new();
    let mut v = json!("");
    for (n, r) in fields(b)? {
        if let Raw::Bytes(x) = r {
            match n {
                1 => k = String::from_utf8(x.to_vec()).ok()?,
                2 if bytes_value => v = json!(base64::engine::general_purpose::STANDARD.encode(x)),
                2 => v = string(x)?,
                _ => {}
            }
        }
    }
    Some((k, v))
}

fn time(b: &[u8]) -> Option<Value> {
    let mut secs = 0i64;
    for (n, r) in fields(b)? {
        if let (1, Raw::Varint(v)) = (n, r) {
            secs = v as i64;
        }
    }
    let t = time::OffsetDateTime::from_unix_timestamp(secs).ok()?;
    let s = t
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .ok()?;
    Some(Value::String(s))
}

fn message(b: &[u8], schema: Schema) -> Option<Value> {
    let mut obj = Map::new();
    for (n, r) in fields(b)? {
        let Some((_, name, f)) = schema.iter().find(|(num, _, _)| *num == n) else {
            continue;
        };
        let name = name.to_string();
        match (f, r) {
            (F::Str, Raw::Bytes(x)) => {
                obj.insert(name, string(x)?);
            }
            (F::I64, Raw::Varint(v)) => {
                obj.insert(name, json!(v as i64));
            }
            (F::Bool, Raw::Varint(v)) => {
                obj.insert(name, json!(v != 0));
            }
            (F::Msg(s), Raw::Bytes(x)) => {
                obj.insert(name, message(x, s)?);
            }
            (F::Time, Raw::Bytes(x)) => {
                obj.insert(name, time(x)?);
            }
            (F::RepMsg(s), Raw::Bytes(x)) => {
                let v = message(x, s)?;
                push(&mut obj, name, v);
            }
            (F::RepStr, Raw::Bytes(x)) => {
                let v = string(x)?;
                push(&mut obj, name, v);
            }
            (F::MapStr | F::MapBytes, Raw::Bytes(x)) => {
                let (k, v) = map_entry(x, matches!(f, F::MapBytes))?;
                let m = obj.entry(name).or_insert_with(|| json!({}));
                if let Some(m) = m.as_object_mut() {
                    m.insert(k, v);
                }
            }
            _ => return None,
        }
    }
    Some(Value::Object(obj))
}

fn push(obj: &mut Map<String, Value>, name: String, v: Value) {
    let a = obj.entry(name).or_insert_with(|| json!([]));
    if let Some(a) = a.as_array_mut() {
        a.push(v);
    }
}

/// Decode a protobuf request body into the JSON object, if its type is one this server reads.
/// `Err` carries the kind found (or "" for a body that is not a Kubernetes protobuf envelope).
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(&[0x6b, 0x38, 0x73, 0x00][..])
        .ok_or_else(String::new)?;
    let mut type_meta = json!({});
    let mut raw: &[u8] = &[];
    for (n, r) in fields(rest).ok_or_else(String::new)? {
        match (n, r) {
            (1, Raw::Bytes(x)) => {
                type_meta = message(x, TYPE_META).ok_or_else(String::new)?;
            }
            (2, Raw::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    let av = type_meta["apiVersion"].as_str().unwrap_or("").to_string();
    let kind = type_meta["kind"].as_str().unwrap_or("").to_string();
    let schema = schema_of(&av, &kind).ok_or_else(|| kind.clone())?;
    let mut obj = message(raw, schema).ok_or_else(|| kind.clone())?;
    obj["apiVersion"] = json!(av);
    obj["kind"] = json!(kind);
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![((n << 3) | 2) as u8, payload.len() as u8];
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn a_config_map_as_kubectl_create_sends_it() {
        let meta = [field(1, b"x"), field(3, b"monitoring")].concat();
        let entry = [field(1, b"a"), field(2, b"b")].concat();
        let cm = [field(1, &meta), field(2, &entry)].concat();
        let tm = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let unknown = [field(1, &tm), field(2, &cm)].concat();
        let body = [&[0x6b, 0x38, 0x73, 0x00][..], &unknown].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "monitoring"}, "data": {"a": "b"}})
        );
        assert!(decode(b"{}").is_err());
    }
}
