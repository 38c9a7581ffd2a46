//! Strategic merge patch, the server half: a port of
//! k8s.io/apimachinery/pkg/util/strategicpatch/patch.go `StrategicMergeMapPatch` with
//! `MergeParallelList: true, IgnoreUnmatchedNulls: true`, over the merge keys of
//! [`super::schema`].

use super::schema::{self, Ty};
use serde_json::{Map, Value};

/// Errors, as `interpretStrategicMergePatchError` in
/// apiserver/pkg/endpoints/handlers/patch.go sorts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmpErr {
    /// 400 BadRequest with this message (mergepatch.ErrBadJSONDoc, ErrBadPatchFormatFor*).
    Bad(String),
    /// 422 (mergepatch.ErrNoListOfLists, ErrPatchContentNotMatchRetainKeys).
    Unprocessable(String),
    /// Any other error: not a Status, so the server answers 500 with the error text.
    Other(String),
}

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList";

// mergepatch/errors.go
const ERR_BAD_PRIMITIVE: &str = "invalid patch format of primitive list";
const ERR_BAD_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const ERR_BAD_SET_ORDER: &str = "invalid patch format of setElementOrder list";
const ERR_NO_LIST_OF_LISTS: &str = "lists of lists are not supported";

type R<T> = Result<T, SmpErr>;

/// Go's `%v` of a decoded JSON value (`map[a:b c:[1 2]]`), for error texts.
pub fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_fmt).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_fmt(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

fn err_no_merge_key(m: &Map<String, Value>, k: &str) -> SmpErr {
    SmpErr::Other(format!(
        "map: {} does not contain declared merge key: {k}",
        go_fmt(&Value::Object(m.clone()))
    ))
}

fn err_bad_patch_type(t: &Value, m: &Map<String, Value>) -> SmpErr {
    SmpErr::Other(format!(
        "unknown patch type: {} in map: {}",
        go_fmt(t),
        go_fmt(&Value::Object(m.clone()))
    ))
}

/// Applies `patch` to `original`, both objects of type `ty`.
pub fn strategic_merge(original: &Value, patch: &Value, ty: Ty) -> R<Value> {
    let o = original
        .as_object()
        .cloned()
        .ok_or_else(|| SmpErr::Bad("invalid JSON document".into()))?;
    let p = patch
        .as_object()
        .cloned()
        .ok_or_else(|| SmpErr::Bad("invalid JSON document".into()))?;
    Ok(Value::Object(merge_map(o, p, ty)?))
}

/// The field facts of key `k` under a value of type `ty`: (child type, patch strategy merge key).
fn lookup(ty: Ty, k: &str) -> (Ty, Option<&'static str>) {
    match ty {
        Ty::Struct(s) => {
            let f = schema::field(s, k);
            (f.ty, f.smp_merge)
        }
        Ty::StrMap => (Ty::Scalar, None),
        _ => (Ty::Deduced, None),
    }
}

fn elem_of(ty: Ty) -> Ty {
    match ty {
        Ty::List(_, e) => *e,
        _ => Ty::Deduced,
    }
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    ty: Ty,
) -> R<Map<String, Value>> {
    if let Some(d) = patch.get(DIRECTIVE).cloned() {
        return match d.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(err_bad_patch_type(&d, &patch)),
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    merge_patch_into_original(&mut original, &mut patch, ty)?;
    let keys: Vec<String> = patch.keys().cloned().collect();
    for key in keys {
        let Some(patch_v) = patch.remove(&key) else {
            continue;
        };
        let (k, is_delete_list) = if let Some(rest) = key.strip_prefix(DELETE_PRIMITIVE) {
            match rest.strip_prefix('/') {
                Some(k) => (k.to_string(), true),
                None => return Err(SmpErr::Bad(ERR_BAD_PRIMITIVE.into())),
            }
        } else {
            (key.clone(), false)
        };
        if patch_v.is_null() {
            original.remove(&k);
            continue;
        }
        let Some(orig_v) = original.get(&k) else {
            if !is_delete_list {
                let mut v = patch_v;
                discard_nulls(&mut v);
                match remove_directives(v) {
                    Some(v) => {
                        original.insert(k, v);
                    }
                    None => {
                        original.remove(&k);
                    }
                }
            }
            continue;
        };
        if std::mem::discriminant(orig_v) != std::mem::discriminant(&patch_v) {
            if !is_delete_list {
                let mut v = patch_v;
                discard_nulls(&mut v);
                match remove_directives(v) {
                    Some(v) => {
                        original.insert(k, v);
                    }
                    None => {
                        original.remove(&k);
                    }
                }
            }
            continue;
        }
        let (cty, merge_key) = lookup(ty, &k);
        let orig_v = original.remove(&k).unwrap_or(Value::Null);
        let merged = match (orig_v, patch_v) {
            (Value::Object(o), Value::Object(p)) => Value::Object(merge_map(o, p, cty)?),
            (Value::Array(o), Value::Array(p)) => {
                Value::Array(merge_slice_handler(o, p, cty, merge_key, is_delete_list)?)
            }
            (_, p) => match remove_directives(p) {
                Some(v) => v,
                None => continue,
            },
        };
        original.insert(k, merged);
    }
    Ok(original)
}

fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, c| !c.is_null());
            for c in m.values_mut() {
                discard_nulls(c);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// removeDirectives; also drops the other `$` keys, which decoding into the typed object drops.
fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE) {
                return None;
            }
            let mut out = Map::new();
            for (k, c) in m {
                if k.starts_with('$') {
                    continue;
                }
                if let Some(c) = remove_directives(c) {
                    out.insert(k, c);
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(a) => Some(Value::Array(
            a.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

fn apply_retain_keys(original: &mut Map<String, Value>, patch: &mut Map<String, Value>) -> R<()> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Some(list) = retain.as_array() else {
        return Err(SmpErr::Bad(ERR_BAD_RETAIN_KEYS.into()));
    };
    let keep: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
    for (k, v) in patch.iter() {
        if v.is_null() || k.starts_with(DELETE_PRIMITIVE) || k.starts_with(SET_ORDER) {
            continue;
        }
        if !keep.contains(&k.as_str()) {
            return Err(SmpErr::Bad(ERR_BAD_RETAIN_KEYS.into()));
        }
    }
    original.retain(|k, _| keep.contains(&k.as_str()));
    Ok(())
}

fn merge_patch_into_original(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    ty: Ty,
) -> R<()> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order_v) = patch.remove(&key) else {
            continue;
        };
        let Some(order) = order_v.as_array().cloned() else {
            return Err(SmpErr::Other(format!(
                "expected a []interface {{}}, but received a {}",
                go_type(&order_v)
            )));
        };
        let Some(orig_key) = key
            .strip_prefix(SET_ORDER)
            .and_then(|r| r.strip_prefix('/'))
        else {
            return Err(SmpErr::Bad(ERR_BAD_SET_ORDER.into()));
        };
        let orig_key = orig_key.to_string();
        let orig_list = original.get(&orig_key).cloned();
        let patch_list = patch.get(&orig_key).cloned();
        let orig_items = match &orig_list {
            Some(Value::Array(a)) => a.clone(),
            Some(other) => {
                return Err(SmpErr::Other(format!(
                    "expected a []interface {{}}, but received a {}",
                    go_type(other)
                )));
            }
            None => Vec::new(),
        };
        let patch_items = match &patch_list {
            Some(Value::Array(a)) => a.clone(),
            Some(other) => {
                return Err(SmpErr::Other(format!(
                    "expected a []interface {{}}, but received a {}",
                    go_type(other)
                )));
            }
            None => Vec::new(),
        };
        let (cty, merge_key) = lookup(ty, &orig_key);
        let mk = merge_key.unwrap_or("");
        validate_patch_with_set_order(&patch_items, &order, mk)?;
        let merged = match (orig_list.is_some(), patch_list.is_some()) {
            (true, false) => orig_items.clone(),
            (false, true) => match remove_directives(Value::Array(patch_items.clone())) {
                Some(Value::Array(a)) => a,
                _ => continue,
            },
            (true, true) => merge_slice_handler(
                orig_items.clone(),
                patch_items.clone(),
                cty,
                merge_key,
                false,
            )?,
            (false, false) => continue,
        };
        let (patch_part, server_only) = partition(&merged, &order, mk)?;
        let is_map = slice_is_map(&orig_items, &patch_items)?;
        let both =
            normalize_element_order(patch_part, server_only, &order, &orig_items, mk, is_map)?;
        original.insert(orig_key.clone(), Value::Array(both));
        patch.remove(&orig_key);
    }
    Ok(())
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "map[string]interface {}",
        Value::Array(_) => "[]interface {}",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::Null => "<nil>",
    }
}

fn validate_patch_with_set_order(patch: &[Value], order: &[Value], mk: &str) -> R<()> {
    if order.is_empty() || patch.is_empty() {
        return Ok(());
    }
    let non_delete: Vec<&Value> = if mk.is_empty() {
        patch.iter().collect()
    } else {
        patch
            .iter()
            .filter(|v| v.get(DIRECTIVE).and_then(Value::as_str) != Some("delete"))
            .collect()
    };
    let (mut pi, mut si) = (0, 0);
    while pi < non_delete.len() && si < order.len() {
        if non_delete[pi].get(DIRECTIVE).is_some() && non_delete[pi].is_object() {
            pi += 1;
            continue;
        }
        let eq = if mk.is_empty() {
            non_delete[pi] == &order[si]
        } else {
            let l = non_delete[pi].as_object();
            let r = order[si].as_object();
            match (l, r) {
                (Some(l), Some(r)) => {
                    let lk = l.get(mk).ok_or_else(|| err_no_merge_key(l, mk))?;
                    let rk = r.get(mk).ok_or_else(|| err_no_merge_key(r, mk))?;
                    lk == rk
                }
                _ => {
                    return Err(SmpErr::Other(
                        "expected a map[string]interface {}, but received a different type".into(),
                    ));
                }
            }
        };
        if eq {
            pi += 1;
        }
        si += 1;
    }
    if pi < non_delete.len() && si >= order.len() {
        return Err(SmpErr::Other(format!(
            "the order in patch list:\n{}\n doesn't match {SET_ORDER} list:\n{}",
            go_fmt(&Value::Array(patch.to_vec())),
            go_fmt(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    ty: Ty,
    merge_key: Option<&'static str>,
    is_delete_list: bool,
) -> R<Vec<Value>> {
    if merge_key.is_some() || is_delete_list {
        merge_slice(
            original,
            patch,
            elem_of(ty),
            merge_key.unwrap_or(""),
            is_delete_list,
        )
    } else {
        Ok(patch)
    }
}

/// sliceElementType: all elements of one JSON type, no lists of lists; true for maps.
fn slice_is_map(a: &[Value], b: &[Value]) -> R<bool> {
    let mut prev: Option<std::mem::Discriminant<Value>> = None;
    let mut is_map = false;
    for v in a.iter().chain(b.iter()) {
        let d = std::mem::discriminant(v);
        match prev {
            None => {
                if v.is_array() {
                    return Err(SmpErr::Unprocessable(ERR_NO_LIST_OF_LISTS.into()));
                }
                prev = Some(d);
                is_map = v.is_object();
            }
            Some(p) if p != d => {
                return Err(SmpErr::Other(format!(
                    "list element types are not identical: [{} {}]",
                    go_fmt(&Value::Array(a.to_vec())),
                    go_fmt(&Value::Array(b.to_vec()))
                )));
            }
            _ => {}
        }
    }
    if prev.is_none() {
        return Err(SmpErr::Other(
            "no elements in any of the given slices".into(),
        ));
    }
    Ok(is_map)
}

fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    elem: Ty,
    mk: &str,
    is_delete_list: bool,
) -> R<Vec<Value>> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let is_map = slice_is_map(&original, &patch)?;
    let (original, patch, merged) = if !is_map {
        if is_delete_list {
            return Ok(original
                .into_iter()
                .filter(|v| !patch.contains(v))
                .collect());
        }
        let mut both = original.clone();
        both.extend(patch.iter().cloned());
        (original, patch, dedup_scalars(both))
    } else {
        if mk.is_empty() {
            return Err(SmpErr::Other(
                "cannot merge lists without merge key for type map".into(),
            ));
        }
        let (original, patch) = merge_with_special(original, patch, mk)?;
        let merged = merge_without_special(original.clone(), &patch, mk, elem)?;
        (original, patch, merged)
    };
    let (patch_part, server_only) = partition(&merged, &patch, mk)?;
    normalize_element_order(patch_part, server_only, &patch, &original, mk, is_map)
}

/// deduplicateScalars, with its order (restored by the normalization after it).
fn dedup_scalars(mut s: Vec<Value>) -> Vec<Value> {
    if s.is_empty() {
        return s;
    }
    let mut length = s.len() - 1;
    let mut i = 0;
    while i < length {
        let mut j = i + 1;
        while j <= length {
            if s[i] == s[j] {
                s[j] = s[length].clone();
                s.truncate(length);
                length -= 1;
                continue;
            }
            j += 1;
        }
        i += 1;
    }
    s
}

fn merge_with_special(
    original: Vec<Value>,
    patch: Vec<Value>,
    mk: &str,
) -> R<(Vec<Value>, Vec<Value>)> {
    let mut original = original;
    let mut without = Vec::new();
    let mut replace = false;
    for v in patch {
        let Some(m) = v.as_object() else {
            without.push(v);
            continue;
        };
        match m.get(DIRECTIVE) {
            None => without.push(v),
            Some(d) => match d.as_str() {
                Some("delete") => match m.get(mk) {
                    Some(key) => {
                        let key = key.clone();
                        original.retain(|o| o.get(mk) != Some(&key));
                    }
                    None => return Err(err_no_merge_key(m, mk)),
                },
                Some("replace") => replace = true,
                Some("merge") => {
                    return Err(SmpErr::Other(
                        "merging lists cannot yet be specified in the patch".into(),
                    ));
                }
                _ => return Err(err_bad_patch_type(d, m)),
            },
        }
    }
    if replace {
        return Ok((without, Vec::new()));
    }
    Ok((original, without))
}

fn merge_without_special(
    mut original: Vec<Value>,
    patch: &[Value],
    mk: &str,
    elem: Ty,
) -> R<Vec<Value>> {
    for v in patch {
        let Some(pm) = v.as_object() else { continue };
        let Some(key) = pm.get(mk) else {
            return Err(err_no_merge_key(pm, mk));
        };
        let mut found = None;
        for (i, o) in original.iter().enumerate() {
            let Some(om) = o.as_object() else {
                return Err(SmpErr::Other(format!("value for key {i} is not a map.")));
            };
            if om.get(mk) == Some(key) {
                found = Some(i);
                break;
            }
        }
        match found {
            Some(i) => {
                let om = original[i].as_object().cloned().unwrap_or_default();
                original[i] = Value::Object(merge_map(om, pm.clone(), elem)?);
            }
            None => original.push(v.clone()),
        }
    }
    Ok(original)
}

/// partitionPrimitivesByPresentInList / partitionMapsByPresentInList.
fn partition(merged: &[Value], by: &[Value], mk: &str) -> R<(Vec<Value>, Vec<Value>)> {
    let mut inp = Vec::new();
    let mut server = Vec::new();
    for v in merged {
        let present = if mk.is_empty() {
            by.contains(v)
        } else {
            let Some(m) = v.as_object() else {
                return Err(SmpErr::Other(
                    "expected a map[string]interface {}, but received a different type".into(),
                ));
            };
            let Some(key) = m.get(mk) else {
                return Err(err_no_merge_key(m, mk));
            };
            by.iter().any(|b| b.get(mk) == Some(key))
        };
        if present {
            inp.push(v.clone());
        } else {
            server.push(v.clone());
        }
    }
    Ok((inp, server))
}

fn index(l: &[Value], v: &Value, mk: &str, is_map: bool) -> isize {
    let get = |x: &Value| -> Value {
        if is_map {
            x.get(mk).cloned().unwrap_or(Value::Null)
        } else {
            x.clone()
        }
    };
    let want = get(v);
    l.iter()
        .position(|x| get(x) == want)
        .map(|i| i as isize)
        .unwrap_or(-1)
}

fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    mk: &str,
    is_map: bool,
) -> R<Vec<Value>> {
    let mut to_sort = to_sort;
    let mut to_delete = Vec::new();
    if is_map {
        for v in to_sort.iter().chain(order.iter()) {
            match v.as_object() {
                Some(m) if m.contains_key(mk) => {}
                Some(m) => return Err(err_no_merge_key(m, mk)),
                None => {
                    return Err(SmpErr::Other(
                        "expected a map[string]interface {}, but received a different type".into(),
                    ));
                }
            }
        }
        let (keep, del): (Vec<Value>, Vec<Value>) = to_sort
            .into_iter()
            .partition(|v| v.get(DIRECTIVE).and_then(Value::as_str) != Some("delete"));
        to_sort = keep;
        to_delete = del;
    }
    // sort.SliceStable with the same less function (insertion sort for short lists)
    let less = |a: &Value, b: &Value| -> bool {
        let ia = index(order, a, mk, is_map);
        if ia >= 0 {
            let ib = index(order, b, mk, is_map);
            if ib >= 0 {
                return ia < ib;
            }
        }
        true
    };
    for i in 1..to_sort.len() {
        let mut j = i;
        while j > 0 && less(&to_sort[j], &to_sort[j - 1]) {
            to_sort.swap(j, j - 1);
            j -= 1;
        }
    }
    to_sort.extend(to_delete);
    Ok(to_sort)
}

fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    mk: &str,
    is_map: bool,
) -> R<Vec<Value>> {
    let patch = normalize_slice_order(patch, patch_order, mk, is_map)?;
    let server_only = normalize_slice_order(server_only, server_order, mk, is_map)?;
    // mergeSortedSlice(serverOnly, patch, serverOrder)
    let size = server_only.len() + patch.len();
    let (mut i, mut j) = (0, 0);
    let mut s = Vec::with_capacity(size);
    for _ in 0..size {
        if i >= server_only.len() && j < patch.len() {
            s.push(patch[j].clone());
            j += 1;
        } else if j >= patch.len() && i < server_only.len() {
            s.push(server_only[i].clone());
            i += 1;
        } else {
            let li = index(server_order, &server_only[i], mk, is_map);
            let ri = index(server_order, &patch[j], mk, is_map);
            if li >= 0 && ri >= 0 && li < ri {
                s.push(server_only[i].clone());
                i += 1;
            } else {
                s.push(patch[j].clone());
                j += 1;
            }
        }
    }
    Ok(s)
}
