//! `kubectl promfix version`: the plugin's version and, unless `--client`, the server's, as
//! `kubectl version` prints them (and, like it, an error after the plugin's line when the server
//! cannot be reached).

use crate::Outcome;
use crate::cli::{GlobalOpts, Output};
use crate::error::Result;
use crate::kube::Kube;
use serde_json::{Value, json};

/// The plugin's version, `v` and the crate version.
pub fn plugin_version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// The text form: one line per version known.
pub fn render(server: Option<&str>) -> String {
    let mut out = format!("Plugin Version: {}\n", plugin_version());
    if let Some(s) = server {
        out.push_str(&format!("Server Version: {s}\n"));
    }
    out
}

fn document(server: Option<Value>) -> Value {
    let mut doc = json!({ "pluginVersion": plugin_version() });
    if let Some(s) = server {
        doc["serverVersion"] = s;
    }
    doc
}

pub async fn run(global: &GlobalOpts, client: bool, output: Option<Output>) -> Result<Outcome> {
    let server = if client {
        None
    } else {
        let kube = Kube::connect(global, global.context.first().map(String::as_str)).await;
        Some(match kube {
            Ok(k) => k.server_version().await,
            Err(e) => Err(e),
        })
    };
    let (info, err) = match server {
        None => (None, None),
        Some(Ok(i)) => (Some(i), None),
        Some(Err(e)) => (None, Some(e)),
    };
    match output {
        Some(fmt) => {
            let doc = document(
                info.as_ref()
                    .map(|i| serde_json::to_value(i).unwrap_or_default()),
            );
            crate::apply::print_document(fmt, &doc);
        }
        None => print!("{}", render(info.as_ref().map(|i| i.git_version.as_str()))),
    }
    match err {
        Some(e) => Err(e),
        None => Ok(Outcome::Ok),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_document() {
        let v = plugin_version();
        assert!(v.starts_with('v') && v.len() > 1);
        assert_eq!(render(None), format!("Plugin Version: {v}\n"));
        assert_eq!(
            render(Some("v1.37.2")),
            format!("Plugin Version: {v}\nServer Version: v1.37.2\n")
        );
        let d = document(Some(json!({"gitVersion": "v1.37.2"})));
        assert_eq!(d["pluginVersion"], v);
        assert_eq!(d["serverVersion"]["gitVersion"], "v1.37.2");
        assert!(document(None).get("serverVersion").is_none());
    }
}
