//! An ordered YAML document and its serialisation as gopkg.in/yaml.v2 writes a `yaml.MapSlice`
//! (what the Prometheus Operator marshals its generated configuration with): keys in insertion
//! order, two-space indentation, sequences of a mapping not indented (`key:\n- item`), plain
//! scalars unless they would read back as something else, then double-quoted.

/// A YAML value with ordered mappings.
#[derive(Debug, Clone, PartialEq)]
pub enum Y {
    Str(String),
    Bool(bool),
    Int(i64),
    Seq(Vec<Y>),
    Map(Vec<(String, Y)>),
}

impl Y {
    pub fn s(v: impl Into<String>) -> Y {
        Y::Str(v.into())
    }
    pub fn strs<I: IntoIterator<Item = S>, S: Into<String>>(v: I) -> Y {
        Y::Seq(v.into_iter().map(|x| Y::Str(x.into())).collect())
    }
    /// A mapping from (key, value) pairs.
    pub fn map<const N: usize>(items: [(&str, Y); N]) -> Y {
        Y::Map(items.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
    /// Append a key to a mapping (no-op on other values).
    pub fn push(&mut self, k: &str, v: Y) {
        if let Y::Map(m) = self {
            m.push((k.to_string(), v));
        }
    }

    /// From JSON (object keys in their JSON order, which for serde_json is sorted).
    pub fn from_json(v: &serde_json::Value) -> Y {
        use serde_json::Value as V;
        match v {
            V::Null => Y::Str(String::new()),
            V::Bool(b) => Y::Bool(*b),
            V::Number(n) => match n.as_i64() {
                Some(i) => Y::Int(i),
                None => Y::Str(n.to_string()),
            },
            V::String(s) => Y::Str(s.clone()),
            V::Array(a) => Y::Seq(a.iter().map(Y::from_json).collect()),
            V::Object(o) => Y::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Y::from_json(v)))
                    .collect(),
            ),
        }
    }

    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        match self {
            Y::Map(m) if !m.is_empty() => write_map(&mut out, m, 0),
            Y::Seq(s) if !s.is_empty() => write_seq(&mut out, s, 0),
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
        out
    }
}

fn scalar(y: &Y) -> String {
    match y {
        Y::Str(s) => quote(s),
        Y::Bool(b) => b.to_string(),
        Y::Int(i) => i.to_string(),
        Y::Seq(_) => "[]".into(),
        Y::Map(_) => "{}".into(),
    }
}

fn is_empty_coll(y: &Y) -> bool {
    matches!(y, Y::Seq(s) if s.is_empty()) || matches!(y, Y::Map(m) if m.is_empty())
}

fn write_map(out: &mut String, m: &[(String, Y)], ind: usize) {
    for (k, v) in m {
        out.push_str(&" ".repeat(ind));
        out.push_str(&quote(k));
        out.push(':');
        match v {
            Y::Map(mm) if !mm.is_empty() => {
                out.push('\n');
                write_map(out, mm, ind + 2);
            }
            Y::Seq(s) if !s.is_empty() => {
                out.push('\n');
                write_seq(out, s, ind);
            }
            _ => {
                out.push(' ');
                out.push_str(&scalar(v));
                out.push('\n');
            }
        }
    }
}

fn write_seq(out: &mut String, s: &[Y], ind: usize) {
    for v in s {
        out.push_str(&" ".repeat(ind));
        out.push('-');
        match v {
            Y::Map(mm) if !mm.is_empty() => {
                // first key on the dash line, the rest indented by two
                let mut first = String::new();
                write_map(&mut first, mm, ind + 2);
                out.push(' ');
                out.push_str(first.trim_start());
            }
            Y::Seq(ss) if !ss.is_empty() => {
                out.push('\n');
                write_seq(out, ss, ind + 2);
            }
            _ => {
                let _ = is_empty_coll(v);
                out.push(' ');
                out.push_str(&scalar(v));
                out.push('\n');
            }
        }
    }
}

/// A string as yaml.v2 writes it: plain when it reads back as the same string, else
/// double-quoted.
pub fn quote(s: &str) -> String {
    if needs_quotes(s) {
        serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
    } else {
        s.to_string()
    }
}

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    // YAML 1.1 booleans and nulls (yaml.v2 resolves these)
    if [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
    ]
    .contains(&lower.as_str())
    {
        return true;
    }
    // numbers
    if s.parse::<f64>().is_ok()
        || s.strip_prefix("0x")
            .is_some_and(|h| i64::from_str_radix(h, 16).is_ok())
        || [".inf", "-.inf", "+.inf", ".nan"].contains(&lower.as_str())
    {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "!&*[]{}|>'\"%@`#,?:".contains(first) {
        return true;
    }
    if first == '-' && (s.len() == 1 || s[1..].starts_with(' ')) {
        return true;
    }
    if s.starts_with(' ') || s.ends_with(' ') || s.ends_with(':') {
        return true;
    }
    if s.contains(": ") || s.contains(" #") || s.chars().any(|c| c.is_control()) {
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_like_yaml_v2() {
        let y = Y::map([
            (
                "global",
                Y::map([
                    ("scrape_interval", Y::s("30s")),
                    ("evaluation_interval", Y::s("30s")),
                ]),
            ),
            (
                "scrape_configs",
                Y::Seq(vec![Y::map([
                    ("job_name", Y::s("serviceMonitor/default/test/0")),
                    ("honor_labels", Y::Bool(false)),
                    (
                        "relabel_configs",
                        Y::Seq(vec![
                            Y::map([
                                ("source_labels", Y::strs(["job"])),
                                ("target_label", Y::s("__tmp_prometheus_job_name")),
                            ]),
                            Y::map([("regex", Y::s("$(SHARD)")), ("replacement", Y::s(""))]),
                            Y::map([("modulus", Y::Int(1)), ("regex", Y::s("0"))]),
                        ]),
                    ),
                ])]),
            ),
        ]);
        assert_eq!(
            y.to_yaml(),
            "global:\n  scrape_interval: 30s\n  evaluation_interval: 30s\nscrape_configs:\n- job_name: serviceMonitor/default/test/0\n  honor_labels: false\n  relabel_configs:\n  - source_labels:\n    - job\n    target_label: __tmp_prometheus_job_name\n  - regex: $(SHARD)\n    replacement: \"\"\n  - modulus: 1\n    regex: \"0\"\n"
        );
        assert_eq!(quote("(bar);true"), "(bar);true");
        assert_eq!(quote("${1}"), "${1}");
        assert_eq!(quote("(.+)(?::d+)"), "(.+)(?::d+)");
    }
}
