//! `/containerLogs/{namespace}/{pod}/{container}` of the kubelet API (`pkg/kubelet/server`
//! `getContainerLogs`), which the API server's `pods/log` reaches: the container's output as the
//! agent writes it (`var/log/pods/<ns>_<pod>_<uid>/<container>/<restarts>.log`), the current run or
//! the one before (`previous`), cut by `tailLines` and `limitBytes`.
//!
//! Not done: `follow` (the answer ends with what is written so far), `timestamps` and
//! `sinceSeconds`/`sinceTime` (the files carry no timestamps: they are the raw output, not the
//! CRI's `<time> stdout F` lines).

use super::Shared;
use crate::api::Body;
use http::{Response, StatusCode, header};
use std::path::{Path, PathBuf};

fn text(code: u16, body: String) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(crate::api::full(body.into_bytes()))
        .expect("static headers")
}

/// The log directory of the pod whose volumes live at `root`
/// (`<node root>/var/lib/kubelet/pods/<uid>`).
fn pod_log_dir(root: &Path, ns: &str, pod: &str) -> Option<PathBuf> {
    let uid = root.file_name()?.to_str()?;
    let node_root = root.ancestors().nth(5)?;
    Some(
        node_root
            .join("var/log/pods")
            .join(format!("{ns}_{pod}_{uid}")),
    )
}

/// The container's log files, oldest run first.
fn runs_of(dir: &Path) -> Vec<PathBuf> {
    let mut runs: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            let n = p.file_stem()?.to_str()?.parse().ok()?;
            (p.extension()? == "log").then_some((n, p))
        })
        .collect();
    runs.sort();
    runs.into_iter().map(|(_, p)| p).collect()
}

/// The query's value of `key`.
fn param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The last `n` lines of `log` (all of it when `n` is None).
pub fn tail(log: &[u8], n: Option<usize>) -> &[u8] {
    let Some(n) = n else { return log };
    let body = log.strip_suffix(b"\n").unwrap_or(log);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return &log[i + 1..];
            }
        }
    }
    if n == 0 { &log[log.len()..] } else { log }
}

/// Serve `path` (`/containerLogs/...`) with its `query`.
pub fn serve(shared: &Shared, path: &str, query: Option<&str>) -> Response<Body> {
    let parts: Vec<&str> = path["/containerLogs/".len()..].split('/').collect();
    let [ns, pod, container] = parts[..] else {
        return text(404, "404 page not found\n".into());
    };
    let Some(dir) = shared
        .pod_dir(ns, pod)
        .and_then(|root| pod_log_dir(&root, ns, pod))
    else {
        return text(404, format!("pod {ns}/{pod} does not exist\n"));
    };
    let runs = runs_of(&dir.join(container));
    let query = query.unwrap_or("");
    let previous = matches!(param(query, "previous"), Some("true" | "1"));
    let file = if previous {
        runs.len().checked_sub(2).map(|i| &runs[i])
    } else {
        runs.last()
    };
    let Some(file) = file else {
        let what = if previous { "previous terminated " } else { "" };
        return text(
            400,
            format!("{what}container {container:?} in pod {pod:?} not found\n"),
        );
    };
    let log = std::fs::read(file).unwrap_or_default();
    let lines = param(query, "tailLines").and_then(|n| n.parse().ok());
    let mut out = tail(&log, lines).to_vec();
    if let Some(limit) = param(query, "limitBytes").and_then(|n| n.parse::<usize>().ok()) {
        out.truncate(limit);
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(crate::api::full(out))
        .expect("static headers")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_lines_count_from_the_end() {
        assert_eq!(tail(b"a\nb\nc\n", Some(2)), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc", Some(1)), b"c");
        assert_eq!(tail(b"a\nb\n", Some(5)), b"a\nb\n");
        assert_eq!(tail(b"a\nb\n", Some(0)), b"");
        assert_eq!(tail(b"a\n", None), b"a\n");
        assert_eq!(param("follow=true&tailLines=3", "tailLines"), Some("3"));
        assert_eq!(param("previous", "previous"), Some(""));
    }

    #[test]
    fn a_pods_log_dir_is_next_to_its_volumes() {
        let root = Path::new("/d/nodes/n1/var/lib/kubelet/pods/u-1");
        assert_eq!(
            pod_log_dir(root, "ns", "p").unwrap(),
            Path::new("/d/nodes/n1/var/log/pods/ns_p_u-1")
        );
    }
}
