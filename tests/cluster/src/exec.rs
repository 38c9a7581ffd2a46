//! `pods/exec` over WebSocket (`v4.channel.k8s.io`, `v5.channel.k8s.io`): runs the real command in a
//! bubblewrap mount namespace where the pod's volumes appear at their container paths.
//!
//! What a real cluster (kube-apiserver 1.30+ with the containerd runtime) does, and so what this
//! does:
//!
//! - The API server validates the request (`ExecLocation` in
//!   kubernetes pkg/registry/core/pod/strategy.go): pod not found → 404; a container that is not in
//!   the pod → 400 `container X is not valid for pod Y`; no container with several → 400
//!   `a container name must be specified for pod Y, choose one of: [a b]`; no node → 400.
//! - A WebSocket request offering `v5.channel.k8s.io` is served by the API server's stream
//!   translator (staging/src/k8s.io/apiserver/pkg/util/proxy/streamtranslator.go, websocket.go):
//!   it accepts only `v5.channel.k8s.io`, upgrades first, then reaches the kubelet over SPDY; any
//!   kubelet error arrives as an `InternalError` Status on the error channel (3).
//! - Any other request is proxied to the kubelet, whose WebSocket server
//!   (kubelet cri/streaming/remotecommand/websocket.go) accepts `""`, `channel.k8s.io`,
//!   `base64.channel.k8s.io`, `v4.channel.k8s.io`, `v4.base64.channel.k8s.io`, the first one the
//!   client lists; none → 403 (golang.org/x/net/websocket). Kubelet errors before the upgrade are
//!   plain-text HTTP answers (`container not found ("c")` with 500, as `streaming.WriteError`
//!   sends a non-gRPC error).
//! - SPDY is not served here: a request without a WebSocket upgrade that passes every check gets
//!   a 400 Status saying so (kubectl 1.27–1.29 print it as `Error from server (BadRequest): ...`).
//! - Exit codes: containerd returns `CodeExitError{"error executing command [argv], exit code N"}`
//!   (containerd internal/cri/server/streaming.go), the kubelet writes
//!   `command terminated with non-zero exit code: <that>`; through the translator the inner text is
//!   client-go's `command terminated with exit code N`.
//! - A missing executable (distroless images) fails in containerd before the process starts:
//!   `failed to exec in container: failed to start exec "<id>": OCI runtime exec failed: exec
//!   failed: unable to start container process: exec: "sh": executable file not found in $PATH:
//!   unknown`, an `InternalError` Status (the translator wraps it once more, so kubectl 1.30+
//!   prints `Internal error occurred: Internal error occurred: error executing command in
//!   container: ...`). The exit code 126 with the OCI text on stdout is Docker's (cri-dockerd)
//!   behaviour, not containerd's, and is not reproduced. A distroless view (`has_shell == false`)
//!   holds only `/bin/prometheus` and `/bin/promtool`; in a view with a shell, bwrap's own
//!   `execvp` failure is read back as runc's text.
//! - `tty=true` runs the process on a pseudo-terminal (stderr joins stdout, as with the kubelet);
//!   the resize channel (4) sets its size. The process gets the container's environment (image
//!   PATH, HOSTNAME), not the test process's.
//! - The session ends as the API server ends it: the Status on channel 3, a close frame with
//!   1000 (client-go treats only that as a clean end), then waiting for the client's close.
//!
//! The API server must serve these connections over HTTP/1.1 with upgrades enabled
//! (`serve_connection_with_upgrades` / `.with_upgrades()`); kubectl and kube-rs both upgrade
//! over HTTP/1.1 (client-go's gorilla dialer does not offer h2).

use crate::api::Body;
use crate::cluster::Cluster;
use crate::kubelet::PodView;
use crate::status::ApiError;
use base64::Engine;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::Value;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// `v5.channel.k8s.io`: v4 plus the close signal (channel 255).
pub const V5: &str = "v5.channel.k8s.io";
/// `v4.channel.k8s.io`: binary frames, a JSON Status on the error channel.
pub const V4: &str = "v4.channel.k8s.io";
/// `v4.base64.channel.k8s.io`: text frames, `'0'+channel` then base64.
pub const V4_BASE64: &str = "v4.base64.channel.k8s.io";
/// `channel.k8s.io`: binary frames, the error channel carries plain text.
pub const CHANNEL: &str = "channel.k8s.io";
/// `base64.channel.k8s.io`.
pub const BASE64_CHANNEL: &str = "base64.channel.k8s.io";

/// The subprotocols of the kubelet's (containerd's) WebSocket server, reached when the client does
/// not offer v5. `""` is chosen when the client sends no `Sec-WebSocket-Protocol`.
const KUBELET_PROTOCOLS: &[&str] = &["", CHANNEL, BASE64_CHANNEL, V4, V4_BASE64];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// The PATH of the images the pods run (the Prometheus image's, and most others').
const IMAGE_PATH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// What a distroless Prometheus image holds: its binaries, no shell, no busybox.
const DISTROLESS_BINARIES: &[&str] = &["/bin/prometheus", "/bin/promtool"];

// ---------------------------------------------------------------------------------------------
// Shared helpers (also used by `proxy`).

/// A Status error response, as the API server writes it.
pub(crate) fn status_response(e: &ApiError) -> Response<Body> {
    let body = serde_json::to_vec(&e.to_status()).unwrap_or_default();
    let mut b = Response::builder()
        .status(StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .header("Cache-Control", "no-cache, private");
    if let Some(r) = e.retry_after {
        b = b.header(header::RETRY_AFTER, r.to_string());
    }
    b.body(crate::api::full(body))
        .expect("status response headers are valid")
}

/// A plain-text answer, as Go's `http.Error` / a raw `ResponseWriter.Write` of text sends it.
pub(crate) fn text_response(code: u16, text: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff")
        .body(crate::api::full(text.to_string()))
        .expect("text response headers are valid")
}

/// `%XX` and `+` decoding of one query component (Go's `url.QueryUnescape`); invalid escapes are
/// kept as they are.
pub(crate) fn query_unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query of a request as (key, value) pairs in order, decoded.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (query_unescape(k), query_unescape(v)),
            None => (query_unescape(p), String::new()),
        })
        .collect()
}

/// Go's `%q` of a plain string (what `fmt.Sprintf("%q", s)` prints for printable text).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// Request options.

/// `PodExecOptions` as the API server decodes them from the query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOptions {
    pub command: Vec<String>,
    pub container: String,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// A bool query parameter as apimachinery's `Convert_Slice_string_To_bool` reads it: absent →
/// false; `0` or `false` (any case) → false; anything else → true.
fn query_bool(pairs: &[(String, String)], key: &str) -> bool {
    match pairs.iter().find(|(k, _)| k == key) {
        None => false,
        Some((_, v)) => !(v == "0" || v.eq_ignore_ascii_case("false")),
    }
}

impl ExecOptions {
    pub fn from_query(query: Option<&str>) -> Self {
        let pairs = query_pairs(query);
        ExecOptions {
            command: pairs
                .iter()
                .filter(|(k, _)| k == "command")
                .map(|(_, v)| v.clone())
                .collect(),
            container: pairs
                .iter()
                .find(|(k, _)| k == "container")
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
            stdin: query_bool(&pairs, "stdin"),
            stdout: query_bool(&pairs, "stdout"),
            stderr: query_bool(&pairs, "stderr"),
            tty: query_bool(&pairs, "tty"),
        }
    }

    /// The streams the kubelet opens (`remotecommand.NewOptions`): with a TTY, stderr is off.
    fn effective_stderr(&self) -> bool {
        self.stderr && !self.tty
    }
}

/// Container names of a pod in `podutil.VisitContainers` order: init, regular, ephemeral.
fn container_names(pod: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(cs) = pod["spec"][list].as_array() {
            for c in cs {
                if let Some(n) = c["name"].as_str() {
                    names.push(n.to_string());
                }
            }
        }
    }
    names
}

/// `validateContainer` of pkg/registry/core/pod/strategy.go.
#[allow(clippy::result_large_err)]
pub(crate) fn validate_container(
    pod: &Value,
    pod_name: &str,
    container: &str,
) -> Result<String, ApiError> {
    if container.is_empty() {
        let regular: Vec<&str> = pod["spec"]["containers"]
            .as_array()
            .map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect())
            .unwrap_or_default();
        match regular.len() {
            1 => Ok(regular[0].to_string()),
            0 => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {pod_name}"
            ))),
            _ => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                container_names(pod).join(" ")
            ))),
        }
    } else if container_names(pod).iter().any(|n| n == container) {
        Ok(container.to_string())
    } else {
        Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {pod_name}"
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// WebSocket upgrade.

/// `wsstream.IsWebSocketRequest`: `Upgrade: websocket` and a `Connection` header naming upgrade.
pub fn is_websocket_request(headers: &HeaderMap) -> bool {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return false;
    }
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// `httpstream.IsUpgradeRequest`: a `Connection` header naming upgrade (SPDY or WebSocket).
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// The protocols the client offers, from the first `Sec-WebSocket-Protocol` header, comma-split
/// and trimmed (as golang.org/x/net/websocket and `IsWebSocketRequestWithStreamCloseProtocol` read it).
pub fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(|v| v.split(',').map(|p| p.trim().to_string()).collect())
        .unwrap_or_default()
}

/// Which server answers the WebSocket: the API server's translator (the client offers v5) or the
/// kubelet (everything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    Translator,
    Kubelet,
}

/// `wsstream`'s `handshake`: the first protocol the client lists that the server allows; no
/// header → `""`. `None`: nothing matches (the server answers 403).
pub fn negotiate(offered: &[String], allowed: &[&str]) -> Option<String> {
    let offered: Vec<&str> = if offered.is_empty() {
        vec![""]
    } else {
        offered.iter().map(String::as_str).collect()
    };
    offered
        .into_iter()
        .find(|p| allowed.contains(p))
        .map(str::to_string)
}

/// The protocol the real server selects for this request, and which side answers it.
pub(crate) fn select_protocol(headers: &HeaderMap) -> (Path, Option<String>) {
    let offered = offered_protocols(headers);
    if offered.iter().any(|p| p == V5) {
        (Path::Translator, Some(V5.to_string()))
    } else {
        (Path::Kubelet, negotiate(&offered, KUBELET_PROTOCOLS))
    }
}

/// How frames are written and read on the negotiated protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Codec {
    base64: bool,
    /// A JSON Status on the error channel (v4, v5); else the failure message as text.
    json_status: bool,
    /// Channel 255 closes a stream (v5).
    stream_close: bool,
}

impl Codec {
    fn of(protocol: &str) -> Codec {
        Codec {
            base64: protocol == BASE64_CHANNEL || protocol == V4_BASE64,
            json_status: protocol == V4 || protocol == V4_BASE64 || protocol == V5,
            stream_close: protocol == V5,
        }
    }

    fn frame(&self, channel: u8, data: &[u8]) -> Message {
        if self.base64 {
            let mut s = String::with_capacity(1 + data.len() * 4 / 3 + 4);
            s.push((b'0' + channel) as char);
            s.push_str(&base64::engine::general_purpose::STANDARD.encode(data));
            Message::text(s)
        } else {
            let mut v = Vec::with_capacity(data.len() + 1);
            v.push(channel);
            v.extend_from_slice(data);
            Message::binary(v)
        }
    }

    /// (channel, payload) of a frame from the client; `None` for frames to ignore.
    fn parse(&self, msg: &Message) -> Option<(u8, Vec<u8>)> {
        let data: &[u8] = match msg {
            Message::Binary(b) => b,
            Message::Text(t) => t.as_bytes(),
            _ => return None,
        };
        let (&first, rest) = data.split_first()?;
        if self.stream_close && first == CLOSE {
            return Some((CLOSE, rest.to_vec()));
        }
        if self.base64 {
            let ch = first.wrapping_sub(b'0');
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()?;
            Some((ch, decoded))
        } else {
            Some((first, rest.to_vec()))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Status objects on the error channel (metav1.Status marshalled by encoding/json: field order
// metadata, status, message, reason, details, code; empty fields omitted).

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
struct StreamCause {
    #[serde(skip_serializing_if = "String::is_empty")]
    reason: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
struct StreamDetails {
    causes: Vec<StreamCause>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
struct StreamStatus {
    metadata: serde_json::Map<String, Value>,
    status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<StreamDetails>,
    #[serde(skip_serializing_if = "is_zero")]
    code: u16,
}

fn is_zero(c: &u16) -> bool {
    *c == 0
}

impl StreamStatus {
    fn success() -> Self {
        StreamStatus {
            metadata: Default::default(),
            status: "Success",
            message: String::new(),
            reason: String::new(),
            details: None,
            code: 0,
        }
    }

    /// `NonZeroExitCode` with an `ExitCode` cause (kubelet `ServeExec`, translator `codeExitToStatusError`).
    fn exit_code(inner: &str, code: i32) -> Self {
        StreamStatus {
            metadata: Default::default(),
            status: "Failure",
            message: format!("command terminated with non-zero exit code: {inner}"),
            reason: "NonZeroExitCode".into(),
            details: Some(StreamDetails {
                causes: vec![StreamCause {
                    reason: "ExitCode".into(),
                    message: code.to_string(),
                }],
            }),
            code: 0,
        }
    }

    /// `apierrors.NewInternalError(err)`.
    fn internal(err: &str) -> Self {
        StreamStatus {
            metadata: Default::default(),
            status: "Failure",
            message: format!("Internal error occurred: {err}"),
            reason: "InternalError".into(),
            details: Some(StreamDetails {
                causes: vec![StreamCause {
                    reason: String::new(),
                    message: err.to_string(),
                }],
            }),
            code: 500,
        }
    }

    /// What the error channel carries on this protocol: JSON (v4, v5), else the message of a
    /// failure and nothing for success (`v1WriteStatusFunc`).
    fn encode(&self, codec: &Codec) -> Option<Vec<u8>> {
        if codec.json_status {
            serde_json::to_vec(self).ok()
        } else if self.status == "Success" {
            None
        } else {
            Some(self.message.clone().into_bytes())
        }
    }
}

/// How a session ends, before it is put on the error channel of the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    /// The process exited non-zero (or by a signal: 128 + signal, as runc reports it).
    Exit {
        argv: Vec<String>,
        code: i32,
    },
    /// The kubelet refused before streaming (text of its HTTP answer).
    KubeletRefused(String),
    /// The runtime failed to start the process (containerd's error text after
    /// `failed to exec in container: `).
    RuntimeFailed(String),
}

impl Outcome {
    fn status(&self, path: Path) -> StreamStatus {
        match (self, path) {
            (Outcome::Success, _) => StreamStatus::success(),
            (Outcome::Exit { argv, code }, Path::Kubelet) => StreamStatus::exit_code(
                &format!(
                    "error executing command [{}], exit code {code}",
                    argv.join(" ")
                ),
                *code,
            ),
            (Outcome::Exit { code, .. }, Path::Translator) => {
                StreamStatus::exit_code(&format!("command terminated with exit code {code}"), *code)
            }
            (Outcome::KubeletRefused(text), _) => {
                // Only the translator streams before reaching the kubelet; its SPDY client reports
                // a refused upgrade as `unable to upgrade connection: <body>`.
                StreamStatus::internal(&format!("unable to upgrade connection: {text}"))
            }
            (Outcome::RuntimeFailed(text), Path::Kubelet) => StreamStatus::internal(&format!(
                "error executing command in container: failed to exec in container: {text}"
            )),
            (Outcome::RuntimeFailed(text), Path::Translator) => {
                // client-go's v4 error decoder returns the kubelet's message as a plain error;
                // the translator wraps it in NewInternalError again.
                let kubelet = StreamStatus::internal(&format!(
                    "error executing command in container: failed to exec in container: {text}"
                ));
                StreamStatus::internal(&kubelet.message)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The runtime: does the executable exist in the image?

static EXEC_SEQ: AtomicU64 = AtomicU64::new(0);

/// A containerd exec ID: 64 hex digits.
fn exec_id(view: &PodView) -> String {
    use sha2::Digest;
    let n = EXEC_SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = sha2::Sha256::new();
    h.update(view.uid.as_bytes());
    h.update(view.container.as_bytes());
    h.update(n.to_le_bytes());
    h.update(nanos.to_le_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a container path is on the host: inside a mount, or the host's own root (the images'
/// root is the host's, read-only).
fn host_path(view: &PodView, path: &str) -> std::path::PathBuf {
    let mut best: Option<&crate::kubelet::Mount> = None;
    for m in &view.mounts {
        let cp = m.container_path.trim_end_matches('/');
        if (path == cp || path.starts_with(&format!("{cp}/")))
            && best.is_none_or(|b| b.container_path.len() < m.container_path.len())
        {
            best = Some(m);
        }
    }
    match best {
        Some(m) => {
            let cp = m.container_path.trim_end_matches('/');
            let rest = path[cp.len()..].trim_start_matches('/');
            if rest.is_empty() {
                m.host_path.clone()
            } else {
                m.host_path.join(rest)
            }
        }
        None => std::path::PathBuf::from(path),
    }
}

fn is_executable_file(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// runc's lookup of `argv[0]` in the image; `Err` is runc's text after `exec failed: unable to
/// start container process: `.
fn lookup_executable(view: &PodView, argv0: &str) -> Result<(), String> {
    if argv0.contains('/') {
        let exists = if view.has_shell {
            host_path(view, argv0).exists()
        } else {
            DISTROLESS_BINARIES.contains(&argv0) && std::path::Path::new(argv0).exists()
        };
        if exists {
            Ok(())
        } else {
            Err(format!(
                "exec: {}: stat {argv0}: no such file or directory",
                go_quote(argv0)
            ))
        }
    } else {
        let found = !argv0.is_empty()
            && if view.has_shell {
                IMAGE_PATH
                    .iter()
                    .any(|d| is_executable_file(&host_path(view, &format!("{d}/{argv0}"))))
            } else {
                DISTROLESS_BINARIES
                    .iter()
                    .any(|b| b.rsplit('/').next() == Some(argv0))
            };
        if found {
            Ok(())
        } else {
            Err(format!(
                "exec: {}: executable file not found in $PATH",
                go_quote(argv0)
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The handler.

/// The 400 a request without a WebSocket upgrade gets once it passed every check: this server
/// has no SPDY.
fn spdy_unsupported() -> ApiError {
    ApiError::bad_request(
        "Upgrade request required: this API server serves pods/exec over WebSocket only \
         (subprotocol v5.channel.k8s.io or v4.channel.k8s.io); SPDY/3.1 is not supported, \
         use kubectl 1.30 or newer",
    )
}

/// Serve `GET|POST /api/v1/namespaces/{ns}/pods/{pod}/exec?command=..&container=..&stdout=1..`.
pub async fn handle(
    cluster: Arc<Cluster>,
    mut req: Request<Incoming>,
    namespace: &str,
    pod: &str,
) -> Response<Body> {
    let opts = ExecOptions::from_query(req.uri().query());
    // The API server: ExecLocation.
    let pods = cluster.store.rt("pods");
    let obj = match cluster.store.get(&pods, Some(namespace), pod) {
        Ok(o) => o,
        Err(e) => return status_response(&e),
    };
    let container = match validate_container(&obj, pod, &opts.container) {
        Ok(c) => c,
        Err(e) => return status_response(&e),
    };
    if obj["spec"]["nodeName"].as_str().unwrap_or("").is_empty() {
        return status_response(&ApiError::bad_request(format!(
            "pod {pod} does not have a host assigned"
        )));
    }

    // UpgradeAwareHandler with UpgradeRequired: a request that asks for no upgrade at all is
    // refused by the API server itself.
    if !is_upgrade_request(req.headers()) {
        return status_response(&ApiError::bad_request("Upgrade request required"));
    }
    let websocket = is_websocket_request(req.headers());
    let (path, protocol) = if websocket {
        select_protocol(req.headers())
    } else {
        (Path::Kubelet, None)
    };

    // The kubelet's checks (`remotecommand.NewOptions`, then `GetExec`'s container lookup).
    let kubelet_refusal: Option<(u16, String)> =
        if !opts.stdin && !opts.stdout && !opts.effective_stderr() {
            Some((
                400,
                "you must specify at least 1 of stdin, stdout, stderr".to_string(),
            ))
        } else {
            None
        };
    let view = cluster.kubelet.view(namespace, pod, &container);
    let kubelet_refusal = kubelet_refusal.or_else(|| {
        view.is_none().then(|| {
            (
                500,
                format!("container not found ({})", go_quote(&container)),
            )
        })
    });

    if path == Path::Kubelet
        && let Some((code, text)) = &kubelet_refusal
    {
        return text_response(*code, text);
    }
    if !websocket {
        return status_response(&spdy_unsupported());
    }

    let session = ExecSession {
        path,
        opts,
        view,
        refused: kubelet_refusal.map(|(_, text)| Outcome::KubeletRefused(text)),
        netns: None,
    };
    accept_websocket(&mut req, protocol, session)
}

/// One exec session to run once the WebSocket is up.
pub(crate) struct ExecSession {
    /// Which server's texts the session ends with.
    pub path: Path,
    pub opts: ExecOptions,
    /// The container's view (None: the container is gone).
    pub view: Option<PodView>,
    /// A refusal to report on the error channel instead of running anything.
    pub refused: Option<Outcome>,
    /// The pod's network namespace, entered by the process (None: the caller's own).
    pub netns: Option<Arc<std::os::fd::OwnedFd>>,
}

/// golang.org/x/net/websocket's handshake (its checks in its order: method, key, version; no
/// protocol in common → 403), then the session on the upgraded connection.
pub(crate) fn accept_websocket(
    req: &mut Request<Incoming>,
    protocol: Option<String>,
    session: ExecSession,
) -> Response<Body> {
    if req.method() != http::Method::GET {
        return text_response(405, "bad method");
    }
    let Some(key) = req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|k| k.as_bytes().to_vec())
    else {
        return text_response(400, "mismatch challenge/response");
    };
    let version_ok = req
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim() == "13")
        .unwrap_or(false);
    if !version_ok {
        let mut r = text_response(400, "missing or bad WebSocket Version");
        r.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return r;
    }
    let Some(protocol) = protocol else {
        return Response::builder()
            .status(StatusCode::FORBIDDEN)
            .body(crate::api::full(Bytes::new()))
            .expect("static response");
    };

    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
    let on_upgrade = hyper::upgrade::on(req);
    let codec = Codec::of(&protocol);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let ExecSession {
            path,
            opts,
            view,
            refused,
            netns,
        } = session;
        let argv = opts.command.clone();
        session_loop(ws, codec, path, opts, view, argv, refused, netns).await;
    });

    let mut b = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept);
    if !protocol.is_empty() {
        b = b.header(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    b.body(crate::api::full(Bytes::new()))
        .expect("upgrade response headers are valid")
}

type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Events of one session, to the loop that owns the socket's sink.
enum Event {
    Out(u8, Bytes),
    OutDone,
}

#[allow(clippy::too_many_arguments)]
async fn session_loop(
    ws: Ws,
    codec: Codec,
    path: Path,
    opts: ExecOptions,
    view: Option<PodView>,
    argv: Vec<String>,
    refused: Option<Outcome>,
    netns: Option<Arc<std::os::fd::OwnedFd>>,
) {
    let (mut sink, mut stream) = ws.split();
    // client-go creates its streams concurrently with its read loop: a frame that arrives before
    // that is dropped with `Unknown stream id 1, discarding message` on kubectl's stderr. Over a
    // real network the 101 and this first frame are apart by a round trip or so; leave that gap.
    tokio::time::sleep(Duration::from_millis(30)).await;
    // An empty frame on the lowest writable channel tells the client the streams are up.
    let first = if opts.stdout {
        STDOUT
    } else if opts.effective_stderr() {
        STDERR
    } else {
        ERROR
    };
    if sink.send(codec.frame(first, &[])).await.is_err() {
        return;
    }

    let outcome = match (refused, view) {
        (Some(o), _) => o,
        (None, None) => Outcome::KubeletRefused("container not found".into()),
        (None, Some(view)) => {
            run(
                &mut sink,
                &mut stream,
                codec,
                &opts,
                &view,
                argv,
                netns.as_deref(),
            )
            .await
        }
    };
    if let Some(bytes) = outcome.status(path).encode(&codec) {
        let _ = sink.send(codec.frame(ERROR, &bytes)).await;
    }
    // Signal the end and give the client time to read everything and close (streamtranslator
    // `finish`); the kubelet closes right away, which the client sees the same way.
    // golang.org/x/net/websocket closes with 1000 (normal closure): client-go's gorilla reader
    // treats only that as the end of the streams; an empty close frame (1005) is an error there.
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })))
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(m)) = stream.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

type Sink = futures::stream::SplitSink<Ws, Message>;
type Stream = futures::stream::SplitStream<Ws>;

/// Run the command and stream it; returns how it ended.
async fn run(
    sink: &mut Sink,
    stream: &mut Stream,
    codec: Codec,
    opts: &ExecOptions,
    view: &PodView,
    argv: Vec<String>,
    netns: Option<&std::os::fd::OwnedFd>,
) -> Outcome {
    let argv0 = argv.first().cloned().unwrap_or_default();
    // The view of an image with a shell is the host's root (with the volumes): bwrap's own lookup
    // decides there (see `bwrap_exec_failure`); a distroless image has only its binaries.
    if (!view.has_shell || argv0.is_empty())
        && let Err(why) = lookup_executable(view, &argv0)
    {
        return Outcome::RuntimeFailed(format!(
            "failed to start exec {}: OCI runtime exec failed: exec failed: unable to start container process: {why}: unknown",
            go_quote(&exec_id(view))
        ));
    }
    let mut cmd = crate::kubelet::bwrap_command(view, &argv);
    // The container's environment, not the test process's: the image's PATH, the pod's hostname,
    // the home of the image's user (`nobody`: /home in the busybox passwd), TERM with a TTY.
    cmd.env_clear()
        .env("PATH", IMAGE_PATH.join(":"))
        .env("HOSTNAME", &view.pod)
        .env("HOME", "/home");
    if opts.tty {
        cmd.env("TERM", "xterm");
    }
    // The pod's network namespace, as every container of the pod shares it.
    if let Some(fd) = netns
        && let Err(e) = crate::real::netns::enter_on_exec(fd, &mut cmd)
    {
        return Outcome::RuntimeFailed(format!(
            "failed to start exec {}: joining the pod's network namespace: {e:#}: unknown",
            go_quote(&exec_id(view))
        ));
    }
    let (tx, mut rx) = mpsc::channel::<Event>(64);
    let (in_tx, in_rx) = mpsc::channel::<Option<Vec<u8>>>(64);
    let mut pumps = 0;
    // With a TTY the kubelet has no stderr stream: the terminal carries both.
    let stderr_to = if opts.effective_stderr() {
        Some(STDERR)
    } else {
        None
    };
    let mut pty_master: Option<std::os::fd::OwnedFd> = None;
    let mut child = if opts.tty {
        let pty = match Pty::open() {
            Ok(p) => p,
            Err(e) => return Outcome::RuntimeFailed(format!("failed to create a console: {e}")),
        };
        let (slave_in, slave_out, slave_err) = match (
            pty.slave.try_clone(),
            pty.slave.try_clone(),
            pty.slave.try_clone(),
        ) {
            (Ok(a), Ok(b), Ok(c)) => (a, b, c),
            _ => return Outcome::RuntimeFailed("failed to create a console".into()),
        };
        cmd.stdin(Stdio::from(slave_in))
            .stdout(Stdio::from(slave_out))
            .stderr(Stdio::from(slave_err));
        // The process gets the terminal as its controlling terminal (bwrap without
        // --new-session passes it on).
        // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY as _, 0);
                Ok(())
            });
        }
        let spawned = cmd.spawn();
        // Our copies of the terminal's slave side must go, or its reader never sees the end.
        drop(cmd);
        drop(pty.slave);
        let child = match spawned {
            Ok(c) => c,
            Err(e) => return bwrap_missing(view, &e),
        };
        let (reader, writer) = match (pty.master.try_clone(), pty.master.try_clone()) {
            (Ok(r), Ok(w)) => (r, w),
            _ => return Outcome::RuntimeFailed("failed to attach to the console".into()),
        };
        pty_master = Some(pty.master);
        pumps += 1;
        tokio::spawn(pump(
            tokio::fs::File::from_std(std::fs::File::from(reader)),
            STDOUT,
            tx.clone(),
        ));
        if opts.stdin {
            tokio::spawn(feed(
                tokio::fs::File::from_std(std::fs::File::from(writer)),
                in_rx,
            ));
        }
        child
    } else {
        cmd.stdin(if opts.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.stdout(if opts.stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        // Always read: bwrap reports a command it cannot start there.
        cmd.stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return bwrap_missing(view, &e),
        };
        if let Some(out) = child.stdout.take() {
            pumps += 1;
            tokio::spawn(pump(out, STDOUT, tx.clone()));
        }
        if let Some(err) = child.stderr.take() {
            pumps += 1;
            tokio::spawn(pump(err, STDERR, tx.clone()));
        }
        if let Some(stdin) = child.stdin.take() {
            tokio::spawn(feed(stdin, in_rx));
        }
        child
    };
    // The process's stderr is held back while it may still be bwrap's own report of a command
    // it could not start (`bwrap: execvp X: No such file or directory`), which the runtime
    // answers as runc does, not as output.
    let mut held: Vec<u8> = Vec::new();
    let mut holding = !opts.tty;
    let mut in_tx = Some(in_tx);
    drop(tx);

    let mut client_gone = false;
    let mut exit: Option<std::process::ExitStatus> = None;
    let mut gone_deadline: Option<tokio::time::Instant> = None;
    loop {
        if pumps == 0 && exit.is_some() {
            break;
        }
        tokio::select! {
            ev = rx.recv(), if pumps > 0 => match ev {
                Some(Event::Out(ch, data)) => {
                    let mut data = data.to_vec();
                    let mut ch = Some(ch);
                    if ch == Some(STDERR) {
                        if holding {
                            held.extend_from_slice(&data);
                            if could_be_bwrap_exec_failure(&held) {
                                continue;
                            }
                            holding = false;
                            data = std::mem::take(&mut held);
                        }
                        ch = stderr_to;
                    } else if holding && !held.is_empty() {
                        // Output on stdout: the command ran; what was held is its own stderr.
                        holding = false;
                        let h = std::mem::take(&mut held);
                        if let Some(c) = stderr_to
                            && !client_gone
                            && sink.send(codec.frame(c, &h)).await.is_err()
                        {
                            client_gone = true;
                        }
                    } else {
                        holding = false;
                    }
                    if let Some(c) = ch
                        && !data.is_empty()
                        && !client_gone
                        && sink.send(codec.frame(c, &data)).await.is_err()
                    {
                        client_gone = true;
                    }
                }
                Some(Event::OutDone) => pumps -= 1,
                None => pumps = 0,
            },
            msg = stream.next(), if !client_gone => match msg {
                Some(Ok(m @ (Message::Binary(_) | Message::Text(_)))) => {
                    match codec.parse(&m) {
                        Some((STDIN, data)) => {
                            if let Some(t) = &in_tx
                                && !data.is_empty()
                            {
                                let _ = t.send(Some(data)).await;
                            }
                        }
                        Some((CLOSE, chans)) if chans.first() == Some(&STDIN) => {
                            in_tx = None;
                        }
                        Some((RESIZE, size)) => {
                            if let Some(m) = &pty_master {
                                resize(m, &size);
                            }
                        }
                        Some(_) | None => {}
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    // The kubelet closes every stream when the socket closes: stdin EOF.
                    client_gone = true;
                    in_tx = None;
                    gone_deadline = Some(tokio::time::Instant::now() + Duration::from_secs(5));
                }
                Some(Ok(_)) => {}
            },
            st = child.wait(), if exit.is_none() => {
                exit = Some(st.unwrap_or_else(|_| {
                    use std::os::unix::process::ExitStatusExt;
                    std::process::ExitStatus::from_raw(1 << 8)
                }));
                // Nothing more goes to a process that has exited.
                in_tx = None;
            },
            _ = async {
                match gone_deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending::<()>().await,
                }
            } => {
                // The client left and the process did not finish: the runtime kills it.
                let _ = child.kill().await;
                return Outcome::Success;
            }
        }
    }
    let _ = in_tx;
    let Some(status) = exit else {
        return Outcome::Success;
    };
    let code = match status.code() {
        Some(c) => c,
        None => {
            use std::os::unix::process::ExitStatusExt;
            128 + status.signal().unwrap_or(0)
        }
    };
    if holding
        && code == 1
        && let Some(why) = bwrap_exec_failure(&held)
    {
        return Outcome::RuntimeFailed(format!(
            "failed to start exec {}: OCI runtime exec failed: exec failed: unable to start container process: {why}: unknown",
            go_quote(&exec_id(view))
        ));
    }
    if !held.is_empty()
        && let Some(c) = stderr_to
        && !client_gone
    {
        let _ = sink.send(codec.frame(c, &held)).await;
    }
    if code == 0 {
        Outcome::Success
    } else {
        Outcome::Exit { argv, code }
    }
}

const BWRAP_EXECVP: &[u8] = b"bwrap: execvp ";

/// Whether stderr so far may still be (the start of) bwrap's one-line exec failure.
fn could_be_bwrap_exec_failure(held: &[u8]) -> bool {
    if held.len() <= BWRAP_EXECVP.len() {
        BWRAP_EXECVP.starts_with(held)
    } else {
        held.starts_with(BWRAP_EXECVP)
            && held.iter().filter(|&&b| b == b'\n').count() <= 1
            && (!held.contains(&b'\n') || held.ends_with(b"\n"))
    }
}

/// runc's text for bwrap's `bwrap: execvp X: <strerror>` line, if that is what `held` is.
fn bwrap_exec_failure(held: &[u8]) -> Option<String> {
    let line = std::str::from_utf8(held).ok()?.strip_suffix('\n')?;
    let rest = line.strip_prefix("bwrap: execvp ")?;
    let (name, why) = rest.rsplit_once(": ")?;
    Some(match (name.contains('/'), why) {
        (true, "No such file or directory") => format!(
            "exec: {}: stat {name}: no such file or directory",
            go_quote(name)
        ),
        (false, "No such file or directory") => format!(
            "exec: {}: executable file not found in $PATH",
            go_quote(name)
        ),
        (_, "Permission denied") => format!("exec: {}: permission denied", go_quote(name)),
        (_, other) => format!("exec: {}: {}", go_quote(name), other.to_lowercase()),
    })
}

/// The process's stdin: the client's frames in order; `None` or a closed channel is EOF.
async fn feed(mut w: impl tokio::io::AsyncWrite + Unpin, mut rx: mpsc::Receiver<Option<Vec<u8>>>) {
    while let Some(Some(data)) = rx.recv().await {
        if w.write_all(&data).await.is_err() {
            break;
        }
        let _ = w.flush().await;
    }
    // Dropping the writer closes it.
}

fn bwrap_missing(view: &PodView, e: &std::io::Error) -> Outcome {
    Outcome::RuntimeFailed(format!(
        "failed to start exec {}: bwrap (Debian package bubblewrap) could not be started: {e}: unknown",
        go_quote(&exec_id(view))
    ))
}

/// A pseudo-terminal for `tty=true`.
struct Pty {
    master: std::os::fd::OwnedFd,
    slave: std::os::fd::OwnedFd,
}

impl Pty {
    fn open() -> std::io::Result<Pty> {
        use std::os::fd::FromRawFd;
        let mut master: libc::c_int = -1;
        let mut slave: libc::c_int = -1;
        let size = libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two fds into the pointers; name and termios may be null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both fds were just opened and are owned by nothing else.
        let (master, slave) = unsafe {
            (
                std::os::fd::OwnedFd::from_raw_fd(master),
                std::os::fd::OwnedFd::from_raw_fd(slave),
            )
        };
        Ok(Pty { master, slave })
    }
}

/// The resize channel's `{"Width":w,"Height":h}` (remotecommand.TerminalSize) to the terminal.
fn resize(master: &std::os::fd::OwnedFd, json: &[u8]) {
    use std::os::fd::AsRawFd;
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Size {
        width: u16,
        height: u16,
    }
    // The channel is a JSON stream; the last complete object counts.
    let mut last = None;
    for s in serde_json::Deserializer::from_slice(json)
        .into_iter::<Size>()
        .flatten()
    {
        last = Some(s);
    }
    if let Some(s) = last {
        let ws = libc::winsize {
            ws_row: s.height,
            ws_col: s.width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from the pointer; the fd is a pty master we own.
        unsafe {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

async fn pump(mut r: impl tokio::io::AsyncRead + Unpin, ch: u8, tx: mpsc::Sender<Event>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx
                    .send(Event::Out(ch, Bytes::copy_from_slice(&buf[..n])))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
    let _ = tx.send(Event::OutDone).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn query_decoding_follows_the_api_server() {
        let o = ExecOptions::from_query(Some(
            "command=sh&command=-c&command=exit+3&command=a%2Fb&container=prometheus&stdout=true&stderr=1&stdin=false&tty=0",
        ));
        assert_eq!(o.command, vec!["sh", "-c", "exit 3", "a/b"]);
        assert_eq!(o.container, "prometheus");
        assert!(o.stdout && o.stderr && !o.stdin && !o.tty);
        // Convert_Slice_string_To_bool: anything but 0/false is true.
        let o = ExecOptions::from_query(Some("stdin=yes&stdout=FALSE"));
        assert!(o.stdin && !o.stdout);
    }

    #[test]
    fn protocol_selection_matches_translator_and_kubelet() {
        // kubectl 1.30+ (client-go websocket executor) and kube-rs: v5 listed → the translator, v5.
        let h = headers(&[
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            (
                "sec-websocket-protocol",
                "v5.channel.k8s.io, v4.channel.k8s.io, v3.channel.k8s.io, v2.channel.k8s.io",
            ),
        ]);
        assert!(is_websocket_request(&h));
        assert_eq!(select_protocol(&h), (Path::Translator, Some(V5.into())));
        // v5 anywhere in the list selects the translator, which accepts only v5.
        let h = headers(&[(
            "sec-websocket-protocol",
            "v4.channel.k8s.io,v5.channel.k8s.io",
        )]);
        assert_eq!(select_protocol(&h), (Path::Translator, Some(V5.into())));
        // Otherwise the kubelet: the client's order decides.
        let h = headers(&[(
            "sec-websocket-protocol",
            "v3.channel.k8s.io, v4.base64.channel.k8s.io, v4.channel.k8s.io",
        )]);
        assert_eq!(select_protocol(&h), (Path::Kubelet, Some(V4_BASE64.into())));
        let h = headers(&[(
            "sec-websocket-protocol",
            "v3.channel.k8s.io, v2.channel.k8s.io",
        )]);
        assert_eq!(select_protocol(&h), (Path::Kubelet, None));
        assert_eq!(
            select_protocol(&headers(&[])),
            (Path::Kubelet, Some(String::new()))
        );
        // SPDY is not a WebSocket.
        let h = headers(&[
            ("upgrade", "SPDY/3.1"),
            ("connection", "Upgrade"),
            ("x-stream-protocol-version", "v4.channel.k8s.io"),
        ]);
        assert!(!is_websocket_request(&h));
    }

    #[test]
    fn exit_status_texts() {
        // kubelet (containerd) path, v4: staging .../cri-streaming remotecommand exec.go + containerd streaming.go
        let argv = vec!["sh".to_string(), "-c".into(), "exit 3".into()];
        let s = Outcome::Exit {
            argv: argv.clone(),
            code: 3,
        }
        .status(Path::Kubelet);
        assert_eq!(
            String::from_utf8(s.encode(&Codec::of(V4)).unwrap()).unwrap(),
            r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#
        );
        // translator, v5: codeExitToStatusError over client-go's CodeExitError.
        let s = Outcome::Exit { argv, code: 3 }.status(Path::Translator);
        assert_eq!(
            s.message,
            "command terminated with non-zero exit code: command terminated with exit code 3"
        );
        assert_eq!(
            String::from_utf8(StreamStatus::success().encode(&Codec::of(V5)).unwrap()).unwrap(),
            r#"{"metadata":{},"status":"Success"}"#
        );
        // pre-v4 protocols carry the message text only, nothing on success.
        assert_eq!(StreamStatus::success().encode(&Codec::of(CHANNEL)), None);
        // containerd's failure to start, wrapped twice on the translator path (as kubectl 1.31
        // prints it: "Internal error occurred: Internal error occurred: error executing command in container: ...").
        let o = Outcome::RuntimeFailed(
            "failed to start exec \"x\": OCI runtime exec failed: y: unknown".into(),
        );
        assert_eq!(
            o.status(Path::Kubelet).message,
            "Internal error occurred: error executing command in container: failed to exec in container: failed to start exec \"x\": OCI runtime exec failed: y: unknown"
        );
        assert_eq!(
            o.status(Path::Translator).message,
            "Internal error occurred: Internal error occurred: error executing command in container: failed to exec in container: failed to start exec \"x\": OCI runtime exec failed: y: unknown"
        );
        assert_eq!(o.status(Path::Translator).code, 500);
    }

    #[test]
    fn container_validation_texts() {
        let pod = serde_json::json!({"spec": {
            "initContainers": [{"name": "init-config-reloader"}],
            "containers": [{"name": "prometheus"}, {"name": "config-reloader"}]}});
        assert_eq!(
            validate_container(&pod, "prometheus-k8s-0", "")
                .unwrap_err()
                .message,
            "a container name must be specified for pod prometheus-k8s-0, choose one of: [init-config-reloader prometheus config-reloader]"
        );
        let e = validate_container(&pod, "prometheus-k8s-0", "nope").unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "container nope is not valid for pod prometheus-k8s-0"
        );
        assert_eq!(
            validate_container(&pod, "p", "init-config-reloader").unwrap(),
            "init-config-reloader"
        );
    }

    #[test]
    fn bwrap_exec_failures_read_as_runc_reports_them() {
        assert!(could_be_bwrap_exec_failure(b"bwrap: "));
        assert!(could_be_bwrap_exec_failure(b"bwrap: execvp nope"));
        assert!(!could_be_bwrap_exec_failure(b"oops\n"));
        assert!(!could_be_bwrap_exec_failure(b"bwrap: execvp x: y\nmore"));
        assert_eq!(
            bwrap_exec_failure(b"bwrap: execvp nope: No such file or directory\n").as_deref(),
            Some("exec: \"nope\": executable file not found in $PATH")
        );
        assert_eq!(
            bwrap_exec_failure(b"bwrap: execvp /bin/nope: No such file or directory\n").as_deref(),
            Some("exec: \"/bin/nope\": stat /bin/nope: no such file or directory")
        );
        assert_eq!(bwrap_exec_failure(b"other\n"), None);
    }

    #[test]
    fn base64_codec_frames() {
        let c = Codec::of(V4_BASE64);
        let m = c.frame(STDOUT, b"hi\n");
        assert_eq!(m, Message::text("1aGkK"));
        assert_eq!(
            c.parse(&Message::text("0aGkK")),
            Some((STDIN, b"hi\n".to_vec()))
        );
        let c5 = Codec::of(V5);
        assert_eq!(
            c5.parse(&Message::binary(vec![CLOSE, STDIN])),
            Some((CLOSE, vec![STDIN]))
        );
    }
}

/// An in-process HTTP/1.1 server that routes exec, proxy and pod GETs straight to the handlers,
/// and a hand-built `Cluster`, for this module's and `proxy`'s tests.
#[cfg(test)]
pub(crate) mod harness {
    use crate::auth::Auth;
    use crate::cluster::Cluster;
    use crate::faults::Faults;
    use crate::kubelet::{Kubelet, Mount, PodView};
    use crate::resources::Registry;
    use crate::store::{Store, WriteCtx};
    use http::{Request, Response};
    use hyper::body::Incoming;
    use hyper_util::rt::TokioIo;
    use serde_json::{Value, json};
    use std::net::{Ipv4Addr, SocketAddr};
    use std::sync::Arc;

    pub fn cluster(net: u8) -> (Arc<Cluster>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(Registry::new(true));
        let ns = store.rt("namespaces");
        for n in ["default", "monitoring", "kube-system"] {
            store
                .create(
                    &ns,
                    None,
                    json!({"metadata": {"name": n}}),
                    &WriteCtx::update("test"),
                )
                .expect("namespace");
        }
        let c = Cluster {
            store: Arc::new(store),
            dir: dir.path().to_path_buf(),
            net,
            version: "v1.33.1".into(),
            auth: Auth::default(),
            faults: Faults::new(),
            kubelet: Kubelet::new(),
        };
        (Arc::new(c), dir)
    }

    /// A running pod with the given containers (`name`, ports as (name, port)).
    pub fn add_pod(
        c: &Cluster,
        ns: &str,
        name: &str,
        containers: &[(&str, &[(&str, u16)])],
        ip: Option<Ipv4Addr>,
    ) {
        let cs: Vec<Value> = containers
            .iter()
            .map(|(n, ports)| {
                let ps: Vec<Value> = ports
                    .iter()
                    .map(|(pn, p)| json!({"name": pn, "containerPort": p, "protocol": "TCP"}))
                    .collect();
                json!({"name": n, "image": "quay.io/prometheus/prometheus:v3.5.0", "ports": ps})
            })
            .collect();
        let mut status = json!({"phase": "Running"});
        if let Some(ip) = ip {
            status["podIP"] = json!(ip.to_string());
            status["podIPs"] = json!([{"ip": ip.to_string()}]);
        }
        let pods = c.store.rt("pods");
        c.store
            .create(
                &pods,
                Some(ns),
                json!({"metadata": {"name": name, "namespace": ns},
                       "spec": {"nodeName": "node-1", "containers": cs},
                       "status": status}),
                &WriteCtx::update("test"),
            )
            .expect("pod");
    }

    pub fn add_view(
        c: &Cluster,
        ns: &str,
        pod: &str,
        container: &str,
        mounts: Vec<Mount>,
        has_shell: bool,
    ) {
        let root = c.dir.join(format!("pods/{ns}_{pod}"));
        std::fs::create_dir_all(&root).expect("pod root");
        let view = PodView {
            namespace: ns.into(),
            pod: pod.into(),
            uid: format!("uid-{pod}"),
            container: container.into(),
            root,
            mounts,
            ip: Ipv4Addr::new(127, c.net, 1, 5),
            has_shell,
        };
        c.kubelet
            .views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((ns.into(), pod.into(), container.into()), view);
    }

    fn json_response(v: Value) -> Response<crate::api::Body> {
        Response::builder()
            .header("content-type", "application/json")
            .body(crate::api::full(serde_json::to_vec(&v).unwrap_or_default()))
            .expect("response")
    }

    async fn route(c: Arc<Cluster>, req: Request<Incoming>) -> Response<crate::api::Body> {
        let path = req.uri().path().to_string();
        // Just enough discovery for kubectl.
        match path.as_str() {
            "/api" => {
                return json_response(json!({"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}));
            }
            "/apis" => {
                return json_response(
                    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}),
                );
            }
            "/api/v1" => {
                return json_response(
                    json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                    {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
                     "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                     "shortNames": ["po"], "categories": ["all"]},
                    {"name": "pods/exec", "singularName": "", "namespaced": true, "kind": "PodExecOptions", "verbs": ["create", "get"]},
                    {"name": "pods/proxy", "singularName": "", "namespaced": true, "kind": "PodProxyOptions",
                     "verbs": ["create", "delete", "get", "patch", "update"]}]}),
                );
            }
            _ => {}
        }
        let segs: Vec<&str> = path.split('/').collect();
        // "", "api", "v1", "namespaces", ns, "pods", name, sub...
        if segs.len() >= 7 && segs[1] == "api" && segs[3] == "namespaces" && segs[5] == "pods" {
            let (ns, name) = (segs[4].to_string(), segs[6].to_string());
            match segs.get(7) {
                Some(&"exec") => return super::handle(c, req, &ns, &name).await,
                Some(&"proxy") => {
                    let prefix = format!("/api/v1/namespaces/{ns}/pods/{name}/proxy");
                    let rest = path[prefix.len()..].to_string();
                    return crate::proxy::handle_pod(c, req, &ns, &name, &rest).await;
                }
                None => {
                    let pods = c.store.rt("pods");
                    return match c.store.get(&pods, Some(&ns), &name) {
                        Ok(p) => Response::builder()
                            .header("content-type", "application/json")
                            .body(crate::api::full(serde_json::to_vec(&p).unwrap_or_default()))
                            .expect("response"),
                        Err(e) => super::status_response(&e),
                    };
                }
                _ => {}
            }
        }
        if segs.len() >= 6 && segs[1] == "api" && segs[3] == "nodes" && segs[5] == "proxy" {
            let name = segs[4].to_string();
            let prefix = format!("/api/v1/nodes/{name}/proxy");
            let rest = path[prefix.len()..].to_string();
            return crate::proxy::handle_node(c, req, &name, &rest).await;
        }
        super::status_response(&crate::status::ApiError::path_not_found())
    }

    /// Serve the cluster on 127.NET.0.1 (an ephemeral port); the server lives as long as the runtime.
    pub async fn serve(c: Arc<Cluster>) -> SocketAddr {
        let l = tokio::net::TcpListener::bind((Ipv4Addr::new(127, c.net, 0, 1), 0))
            .await
            .expect("bind the test API server");
        let addr = l.local_addr().expect("local addr");
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let c = c.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let c = c.clone();
                        async move { Ok::<_, std::convert::Infallible>(route(c, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(s), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        addr
    }

    /// A plain request (method, path, headers) and the answer: (status, headers, body).
    pub async fn request(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, http::HeaderMap, Vec<u8>) {
        request_body(addr, method, path, headers, Vec::new()).await
    }

    /// `request` with a body.
    pub async fn request_body(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, http::HeaderMap, Vec<u8>) {
        use http_body_util::BodyExt;
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (mut s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string());
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let r = s
            .send_request(
                b.body(http_body_util::Full::new(bytes::Bytes::from(body)))
                    .expect("request"),
            )
            .await
            .expect("send");
        let status = r.status().as_u16();
        let h = r.headers().clone();
        let body = r
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        (status, h, body)
    }
}

#[cfg(test)]
mod wire {
    use super::harness::*;
    use super::*;
    use crate::kubelet::Mount;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    /// What one exec session gave: negotiated protocol, frames per channel, the error channel.
    #[derive(Debug, Default)]
    struct Session {
        protocol: Option<String>,
        first: Option<Vec<u8>>,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
        error: Vec<u8>,
    }

    impl Session {
        fn status(&self) -> Value {
            serde_json::from_slice(&self.error).unwrap_or_else(|e| {
                panic!(
                    "error channel is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(&self.error)
                )
            })
        }
    }

    async fn exec_ws(
        addr: std::net::SocketAddr,
        path_query: &str,
        protocols: &str,
        stdin: &[&[u8]],
        close_stdin_v5: bool,
    ) -> Session {
        let mut req = format!("ws://{addr}{path_query}")
            .into_client_request()
            .expect("request");
        req.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_str(protocols).unwrap(),
        );
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (mut ws, resp) = tokio_tungstenite::client_async(req, tcp)
            .await
            .expect("websocket handshake");
        let mut s = Session {
            protocol: resp
                .headers()
                .get(header::SEC_WEBSOCKET_PROTOCOL)
                .map(|v| v.to_str().unwrap().to_string()),
            ..Default::default()
        };
        for d in stdin {
            let mut f = vec![STDIN];
            f.extend_from_slice(d);
            ws.send(Message::binary(f)).await.expect("stdin");
        }
        if close_stdin_v5 {
            ws.send(Message::binary(vec![CLOSE, STDIN]))
                .await
                .expect("close");
        }
        let read = async {
            while let Some(m) = ws.next().await {
                let Ok(m) = m else { break };
                let data = match m {
                    Message::Binary(b) => b.to_vec(),
                    Message::Close(_) => break,
                    _ => continue,
                };
                if s.first.is_none() {
                    s.first = Some(data.clone());
                }
                match data[0] {
                    STDOUT => s.stdout.extend_from_slice(&data[1..]),
                    STDERR => s.stderr.extend_from_slice(&data[1..]),
                    ERROR => s.error.extend_from_slice(&data[1..]),
                    c => panic!("frame on channel {c}"),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .expect("the session ends");
        s
    }

    fn secret_dir(c: &Cluster) -> Mount {
        let d = c
            .dir
            .join("pods/monitoring_prometheus-k8s-0/volumes/secret-etcd-client-cert");
        std::fs::create_dir_all(&d).unwrap();
        for f in ["ca.crt", "client.crt", "client.key"] {
            std::fs::write(d.join(f), b"x").unwrap();
        }
        Mount {
            host_path: d,
            container_path: "/etc/prometheus/secrets/etcd-client-cert".into(),
            read_only: true,
        }
    }

    fn q(cmd: &[&str], extra: &str) -> String {
        let mut s = String::from("/api/v1/namespaces/monitoring/pods/prometheus-k8s-0/exec?");
        for c in cmd {
            let enc: String = c
                .bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'/' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            s.push_str(&format!("command={enc}&"));
        }
        s.push_str(extra);
        s
    }

    fn prom_cluster(net: u8, has_shell: bool) -> (Arc<Cluster>, tempfile::TempDir) {
        let (c, d) = cluster(net);
        add_pod(
            &c,
            "monitoring",
            "prometheus-k8s-0",
            &[("prometheus", &[("web", 9090)]), ("config-reloader", &[])],
            Some(Ipv4Addr::new(127, net, 1, 5)),
        );
        let m = secret_dir(&c);
        add_view(
            &c,
            "monitoring",
            "prometheus-k8s-0",
            "prometheus",
            vec![m],
            has_shell,
        );
        (c, d)
    }

    use std::net::Ipv4Addr;

    #[tokio::test]
    async fn ls_of_a_bound_secret_dir_over_v4_and_v5() {
        let (c, _d) = prom_cluster(240, true);
        let addr = serve(c).await;
        let path = q(
            &["ls", "/etc/prometheus/secrets/etcd-client-cert/"],
            "container=prometheus&stdout=true&stderr=true",
        );
        for (offer, want) in [
            ("v5.channel.k8s.io, v4.channel.k8s.io", V5),
            ("v4.channel.k8s.io", V4),
        ] {
            let s = exec_ws(addr, &path, offer, &[], false).await;
            assert_eq!(s.protocol.as_deref(), Some(want));
            // The empty frame on stdout announces the streams (kubelet/translator createWebSocketStreams).
            assert_eq!(s.first, Some(vec![STDOUT]));
            assert_eq!(
                String::from_utf8_lossy(&s.stdout),
                "ca.crt\nclient.crt\nclient.key\n"
            );
            assert_eq!(
                s.status(),
                serde_json::json!({"metadata": {}, "status": "Success"})
            );
        }
    }

    #[tokio::test]
    async fn the_process_sees_the_container_environment() {
        let (c, _d) = prom_cluster(249, true);
        let addr = serve(c).await;
        let path = q(
            &["sh", "-c", "echo $HOSTNAME $PATH; pwd; ls /etc/prometheus"],
            "container=prometheus&stdout=true&stderr=true",
        );
        let s = exec_ws(addr, &path, V5, &[], false).await;
        assert_eq!(
            String::from_utf8_lossy(&s.stdout),
            "prometheus-k8s-0 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/\nsecrets\n"
        );
    }

    #[tokio::test]
    async fn tty_sessions_get_a_terminal_and_resizes() {
        let (c, _d) = prom_cluster(242, true);
        let addr = serve(c).await;
        let path = q(
            &[
                "sh",
                "-c",
                "test -t 0 && echo is-a-tty; read x; stty size; echo err >&2",
            ],
            "container=prometheus&stdin=true&stdout=true&stderr=true&tty=true",
        );
        let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
        req.headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(V5));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
        let mut resize = vec![RESIZE];
        resize.extend_from_slice(br#"{"Width":100,"Height":40}"#);
        ws.send(Message::binary(resize)).await.unwrap();
        ws.send(Message::binary(b"\x00go\n".to_vec()))
            .await
            .unwrap();
        let (mut out, mut status) = (Vec::new(), Vec::new());
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Binary(b) = m {
                    match b[0] {
                        STDOUT => out.extend_from_slice(&b[1..]),
                        ERROR => status.extend_from_slice(&b[1..]),
                        c => panic!("channel {c} with a TTY"),
                    }
                }
            }
        })
        .await
        .expect("the session ends");
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains("is-a-tty\r\n"), "{out:?}");
        assert!(out.contains("40 100\r\n"), "{out:?}");
        // stderr goes to the terminal, hence to stdout.
        assert!(out.contains("err\r\n"), "{out:?}");
        let st: Value = serde_json::from_slice(&status).unwrap();
        assert_eq!(st["status"], "Success");
    }

    #[tokio::test]
    async fn non_zero_exit_is_a_status_with_the_exit_code() {
        let (c, _d) = prom_cluster(241, true);
        let addr = serve(c).await;
        let path = q(
            &["sh", "-c", "echo oops >&2; exit 3"],
            "container=prometheus&stdout=1&stderr=1",
        );
        let s = exec_ws(addr, &path, "v4.channel.k8s.io", &[], false).await;
        assert_eq!(String::from_utf8_lossy(&s.stderr), "oops\n");
        let st = s.status();
        assert_eq!(st["status"], "Failure");
        assert_eq!(st["reason"], "NonZeroExitCode");
        assert_eq!(
            st["details"]["causes"],
            serde_json::json!([{"reason": "ExitCode", "message": "3"}])
        );
        assert_eq!(
            st["message"],
            "command terminated with non-zero exit code: error executing command [sh -c echo oops >&2; exit 3], exit code 3"
        );
        let s = exec_ws(addr, &path, "v5.channel.k8s.io", &[], false).await;
        let st = s.status();
        assert_eq!(st["details"]["causes"][0]["message"], "3");
        assert_eq!(
            st["message"],
            "command terminated with non-zero exit code: command terminated with exit code 3"
        );
    }

    #[tokio::test]
    async fn stdin_reaches_the_process() {
        let (c, _d) = prom_cluster(242, true);
        let addr = serve(c).await;
        let path = q(
            &["cat"],
            "container=prometheus&stdin=true&stdout=true&stderr=true",
        );
        // v5: stdin closed with the close channel, then the output and Success.
        let s = exec_ws(
            addr,
            &path,
            "v5.channel.k8s.io",
            &[b"hello\n", b"world\n"],
            true,
        )
        .await;
        assert_eq!(String::from_utf8_lossy(&s.stdout), "hello\nworld\n");
        assert_eq!(s.status()["status"], "Success");

        // v4 has no close channel: the client reads the echo and closes the socket; the process
        // then sees EOF (and nothing more is delivered).
        let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
        req.headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(V4));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
        ws.send(Message::binary(b"\x00ping\n".to_vec()))
            .await
            .unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(Ok(Message::Binary(b))) = ws.next().await {
                if b[0] == STDOUT {
                    out.extend_from_slice(&b[1..]);
                }
                if out.ends_with(b"ping\n") {
                    break;
                }
            }
        })
        .await
        .expect("echo over v4");
        assert_eq!(out, b"ping\n");
        ws.close(None).await.unwrap();
    }

    #[tokio::test]
    async fn a_command_missing_from_the_image_fails_to_start() {
        let (c, _d) = prom_cluster(241, true);
        let addr = serve(c).await;
        let s = exec_ws(
            addr,
            &q(
                &["no-such-tool", "-x"],
                "container=prometheus&stdout=true&stderr=true",
            ),
            V4,
            &[],
            false,
        )
        .await;
        assert!(
            s.stderr.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&s.stderr)
        );
        let m = s.status()["message"].as_str().unwrap().to_string();
        assert!(m.starts_with("Internal error occurred: error executing command in container: failed to exec in container: failed to start exec \""), "{m}");
        assert!(
            m.ends_with("exec: \"no-such-tool\": executable file not found in $PATH: unknown"),
            "{m}"
        );
        // A command whose own stderr starts like bwrap's still streams it.
        let s = exec_ws(
            addr,
            &q(
                &[
                    "sh",
                    "-c",
                    "echo 'bwrap: execvp x: y' >&2; echo out; exit 1",
                ],
                "container=prometheus&stdout=true&stderr=true",
            ),
            V4,
            &[],
            false,
        )
        .await;
        assert_eq!(String::from_utf8_lossy(&s.stderr), "bwrap: execvp x: y\n");
        assert_eq!(String::from_utf8_lossy(&s.stdout), "out\n");
        assert_eq!(s.status()["reason"], "NonZeroExitCode");
    }

    #[tokio::test]
    async fn distroless_image_has_no_shell() {
        let (c, _d) = prom_cluster(243, false);
        let addr = serve(c).await;
        let path = q(
            &["sh", "-c", "ls"],
            "container=prometheus&stdout=true&stderr=true",
        );
        let s = exec_ws(addr, &path, "v4.channel.k8s.io", &[], false).await;
        let st = s.status();
        assert_eq!(st["code"], 500);
        assert_eq!(st["reason"], "InternalError");
        let m = st["message"].as_str().unwrap();
        let re_prefix = "Internal error occurred: error executing command in container: failed to exec in container: failed to start exec \"";
        assert!(m.starts_with(re_prefix), "{m}");
        let id = &m[re_prefix.len()..re_prefix.len() + 64];
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert_eq!(
            &m[re_prefix.len() + 64..],
            "\": OCI runtime exec failed: exec failed: unable to start container process: exec: \"sh\": executable file not found in $PATH: unknown"
        );
        // kubectl 1.30+ (translator): wrapped once more.
        let s = exec_ws(
            addr,
            &q(&["/bin/ls"], "container=prometheus&stdout=true"),
            "v5.channel.k8s.io",
            &[],
            false,
        )
        .await;
        let m = s.status()["message"].as_str().unwrap().to_string();
        assert!(m.starts_with("Internal error occurred: Internal error occurred: error executing command in container: failed to exec in container: failed to start exec"), "{m}");
        assert!(
            m.ends_with("exec: \"/bin/ls\": stat /bin/ls: no such file or directory: unknown"),
            "{m}"
        );
        // The image's own binary runs.
        let s = exec_ws(
            addr,
            &q(
                &["promtool", "--version"],
                "container=prometheus&stdout=true&stderr=true",
            ),
            V5,
            &[],
            false,
        )
        .await;
        assert_eq!(
            s.status()["status"],
            "Success",
            "promtool (Debian package prometheus): {:?}",
            String::from_utf8_lossy(&s.stderr)
        );
    }

    #[tokio::test]
    async fn refusals_before_and_after_the_upgrade() {
        let (c, _d) = prom_cluster(244, true);
        let addr = serve(c).await;
        let ws_headers: &[(&str, &str)] = &[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-protocol", "v4.channel.k8s.io"),
        ];
        // Pod not found: the API server's 404 Status.
        let (code, _, body) = request(
            addr,
            "GET",
            "/api/v1/namespaces/monitoring/pods/nope/exec?command=ls&stdout=true",
            ws_headers,
        )
        .await;
        assert_eq!(code, 404);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["message"], "pods \"nope\" not found");
        // No container with two containers.
        let (code, _, body) = request(addr, "GET", &q(&["ls"], "stdout=true"), ws_headers).await;
        assert_eq!(code, 400);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["message"],
            "a container name must be specified for pod prometheus-k8s-0, choose one of: [prometheus config-reloader]"
        );
        let (code, _, body) = request(
            addr,
            "GET",
            &q(&["ls"], "container=thanos&stdout=true"),
            ws_headers,
        )
        .await;
        assert_eq!(code, 400);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["message"],
            "container thanos is not valid for pod prometheus-k8s-0"
        );
        assert_eq!(v["reason"], "BadRequest");
        // A container the kubelet does not run: the kubelet's text on the v4 path ...
        let (code, _, body) = request(
            addr,
            "GET",
            &q(&["ls"], "container=config-reloader&stdout=true"),
            ws_headers,
        )
        .await;
        assert_eq!(
            (code, String::from_utf8_lossy(&body).as_ref()),
            (500, "container not found (\"config-reloader\")")
        );
        // ... and an InternalError on the error channel through the translator.
        let s = exec_ws(
            addr,
            &q(&["ls"], "container=config-reloader&stdout=true"),
            V5,
            &[],
            false,
        )
        .await;
        assert_eq!(
            s.status()["message"],
            "Internal error occurred: unable to upgrade connection: container not found (\"config-reloader\")"
        );
        // No stream requested.
        let (code, _, body) =
            request(addr, "GET", &q(&["ls"], "container=prometheus"), ws_headers).await;
        assert_eq!(
            (code, String::from_utf8_lossy(&body).as_ref()),
            (400, "you must specify at least 1 of stdin, stdout, stderr")
        );
        // Protocols the kubelet does not speak: 403.
        let mut h = ws_headers.to_vec();
        h[4] = (
            "sec-websocket-protocol",
            "v3.channel.k8s.io, v2.channel.k8s.io",
        );
        let (code, _, _) = request(
            addr,
            "GET",
            &q(&["ls"], "container=prometheus&stdout=true"),
            &h,
        )
        .await;
        assert_eq!(code, 403);
        // SPDY (kubectl 1.27–1.29): a clear 400 Status.
        let spdy: &[(&str, &str)] = &[
            ("connection", "Upgrade"),
            ("upgrade", "SPDY/3.1"),
            ("x-stream-protocol-version", "v4.channel.k8s.io"),
            ("x-stream-protocol-version", "v3.channel.k8s.io"),
        ];
        let (code, _, body) = request(
            addr,
            "POST",
            &q(&["ls"], "container=prometheus&stdout=true"),
            spdy,
        )
        .await;
        assert_eq!(code, 400);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["reason"], "BadRequest");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("SPDY/3.1 is not supported")
        );
        // No upgrade at all: the API server's own refusal.
        let (code, _, body) = request(
            addr,
            "POST",
            &q(&["ls"], "container=prometheus&stdout=true"),
            &[],
        )
        .await;
        assert_eq!(code, 400);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["message"], "Upgrade request required");
        // ... but the same validation first, as a real server's kubelet would refuse.
        let (code, _, _) = request(
            addr,
            "POST",
            "/api/v1/namespaces/monitoring/pods/nope/exec?command=ls&stdout=true",
            spdy,
        )
        .await;
        assert_eq!(code, 404);
    }
}

/// The real kubectl (Debian package kubectl, 1.30+: WebSocket v5 first) against the handlers.
#[cfg(test)]
mod kubectl {
    use super::harness::*;
    use crate::kubelet::Mount;
    use std::net::Ipv4Addr;
    use std::process::Stdio;
    use tokio::io::AsyncWriteExt;

    async fn kubectl_env(
        server: std::net::SocketAddr,
        home: &std::path::Path,
        args: &[&str],
        env: (&str, &str),
    ) -> (i32, String, String) {
        run_kubectl(server, home, args, None, Some(env)).await
    }

    async fn kubectl(
        server: std::net::SocketAddr,
        home: &std::path::Path,
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> (i32, String, String) {
        run_kubectl(server, home, args, stdin, None).await
    }

    async fn run_kubectl(
        server: std::net::SocketAddr,
        home: &std::path::Path,
        args: &[&str],
        stdin: Option<&[u8]>,
        env: Option<(&str, &str)>,
    ) -> (i32, String, String) {
        let mut cmd = tokio::process::Command::new("kubectl");
        cmd.env_clear();
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        cmd.env("HOME", home)
            .env("KUBECONFIG", home.join("kubeconfig"))
            .env("PATH", "/usr/bin:/bin")
            .arg(format!("--server=http://{server}"))
            .arg(format!("--cache-dir={}", home.join("cache").display()))
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("kubectl (Debian package kubectl) cannot be run: {e}"));
        if let (Some(data), Some(mut w)) = (stdin, child.stdin.take()) {
            w.write_all(data).await.expect("stdin");
            drop(w);
        }
        let out =
            tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
                .await
                .expect("kubectl finishes")
                .expect("kubectl output");
        // client-go's own race (see `session`), not the server's doing: its log line is dropped.
        let stderr: String = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| !l.contains("Unknown stream id"))
            .map(|l| format!("{l}\n"))
            .collect();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
        )
    }

    #[tokio::test]
    async fn kubectl_exec_runs_over_websocket() {
        let net = 245;
        let (c, d) = cluster(net);
        add_pod(
            &c,
            "monitoring",
            "prometheus-k8s-0",
            &[("prometheus", &[("web", 9090)]), ("config-reloader", &[])],
            Some(Ipv4Addr::new(127, net, 1, 5)),
        );
        add_pod(
            &c,
            "monitoring",
            "distroless-0",
            &[("prometheus", &[("web", 9090)])],
            Some(Ipv4Addr::new(127, net, 1, 6)),
        );
        let secret = c.dir.join("secret");
        std::fs::create_dir_all(&secret).unwrap();
        std::fs::write(secret.join("client.crt"), b"x").unwrap();
        add_view(
            &c,
            "monitoring",
            "prometheus-k8s-0",
            "prometheus",
            vec![Mount {
                host_path: secret,
                container_path: "/etc/prometheus/secrets/etcd-client-cert".into(),
                read_only: true,
            }],
            true,
        );
        add_view(
            &c,
            "monitoring",
            "distroless-0",
            "prometheus",
            vec![],
            false,
        );
        let home = d.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join("kubeconfig"), "apiVersion: v1\nkind: Config\n").unwrap();
        let addr = serve(c).await;
        let ns = ["-n", "monitoring"];

        let (rc, out, err) = kubectl(
            addr,
            &home,
            &[
                ns[0],
                ns[1],
                "exec",
                "prometheus-k8s-0",
                "-c",
                "prometheus",
                "--",
                "ls",
                "/etc/prometheus/secrets/etcd-client-cert/",
            ],
            None,
        )
        .await;
        assert_eq!((rc, out.as_str()), (0, "client.crt\n"), "stderr: {err}");

        let (rc, _, err) = kubectl(
            addr,
            &home,
            &[
                ns[0],
                ns[1],
                "exec",
                "prometheus-k8s-0",
                "-c",
                "prometheus",
                "--",
                "sh",
                "-c",
                "exit 3",
            ],
            None,
        )
        .await;
        assert_eq!(rc, 3);
        assert_eq!(err, "command terminated with exit code 3\n");

        let (rc, out, err) = kubectl(
            addr,
            &home,
            &[
                ns[0],
                ns[1],
                "exec",
                "-i",
                "prometheus-k8s-0",
                "-c",
                "prometheus",
                "--",
                "cat",
            ],
            Some(b"hello\n"),
        )
        .await;
        assert_eq!((rc, out.as_str()), (0, "hello\n"), "stderr: {err}");

        let (rc, _, err) = kubectl(
            addr,
            &home,
            &[ns[0], ns[1], "exec", "distroless-0", "--", "sh"],
            None,
        )
        .await;
        assert_eq!(rc, 1);
        assert!(
            err.starts_with("error: Internal error occurred: Internal error occurred: error executing command in container: failed to exec in container: failed to start exec \""),
            "{err}"
        );
        assert!(
            err.ends_with("OCI runtime exec failed: exec failed: unable to start container process: exec: \"sh\": executable file not found in $PATH: unknown\n"),
            "{err}"
        );

        let (rc, _, err) = kubectl(
            addr,
            &home,
            &[
                ns[0],
                ns[1],
                "exec",
                "prometheus-k8s-0",
                "-c",
                "thanos",
                "--",
                "ls",
            ],
            None,
        )
        .await;
        assert_eq!(rc, 1);
        assert_eq!(
            err,
            "Error from server (BadRequest): container thanos is not valid for pod prometheus-k8s-0\n"
        );

        // -it on a terminal (script(1), Debian package bsdutils, gives kubectl one): the process
        // runs on a TTY and its exit code comes back.
        let mut cmd = tokio::process::Command::new("script");
        cmd.env_clear()
            .env("HOME", &home)
            .env("KUBECONFIG", home.join("kubeconfig"))
            .env("PATH", "/usr/bin:/bin")
            .env("TERM", "xterm")
            .arg("-qec")
            .arg(format!(
                "kubectl --server=http://{addr} --cache-dir={}/cache -n monitoring exec -it prometheus-k8s-0 -c prometheus -- sh -c 'test -t 1 && echo on-a-tty; exit 4'",
                home.display()
            ))
            .arg("/dev/null")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("script (Debian package bsdutils) cannot be run: {e}"));
        let out =
            tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
                .await
                .expect("kubectl -it finishes")
                .expect("output");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(4), "{text}");
        assert!(text.contains("on-a-tty\r\n"), "{text}");
        assert!(
            text.contains("command terminated with exit code 4"),
            "{text}"
        );

        // A container the kubelet does not run (pending, crashed).
        let (rc, _, err) = kubectl(
            addr,
            &home,
            &[
                ns[0],
                ns[1],
                "exec",
                "prometheus-k8s-0",
                "-c",
                "config-reloader",
                "--",
                "ls",
            ],
            None,
        )
        .await;
        assert_eq!(rc, 1);
        assert_eq!(
            err,
            "error: Internal error occurred: unable to upgrade connection: container not found (\"config-reloader\")\n"
        );

        // kubectl 1.27-1.29 speak SPDY only (as 1.30+ does with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false).
        let mut spdy_home = home.clone();
        spdy_home.push("spdy");
        std::fs::create_dir_all(&spdy_home).unwrap();
        std::fs::write(
            spdy_home.join("kubeconfig"),
            "apiVersion: v1\nkind: Config\n",
        )
        .unwrap();
        let (rc, _, err) = kubectl_env(
            addr,
            &spdy_home,
            &[
                ns[0],
                ns[1],
                "exec",
                "prometheus-k8s-0",
                "-c",
                "prometheus",
                "--",
                "ls",
            ],
            ("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false"),
        )
        .await;
        assert_eq!(rc, 1);
        assert!(
            err.starts_with("Error from server (BadRequest): Upgrade request required: "),
            "{err}"
        );
    }
}

/// kube-rs (kube 5, feature `ws`), as the plugin uses it: offers v5 then v4, gets v5.
#[cfg(test)]
mod kube_rs {
    use super::harness::*;
    use crate::kubelet::Mount;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, AttachParams};
    use std::net::Ipv4Addr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn kube_rs_exec_reads_output_stdin_and_status() {
        let net = 248;
        let (c, _d) = cluster(net);
        add_pod(
            &c,
            "monitoring",
            "prometheus-k8s-0",
            &[("prometheus", &[("web", 9090)])],
            Some(Ipv4Addr::new(127, net, 1, 5)),
        );
        let secret = c.dir.join("secret");
        std::fs::create_dir_all(&secret).unwrap();
        for f in ["ca.crt", "client.crt", "client.key"] {
            std::fs::write(secret.join(f), b"x").unwrap();
        }
        add_view(
            &c,
            "monitoring",
            "prometheus-k8s-0",
            "prometheus",
            vec![Mount {
                host_path: secret,
                container_path: "/etc/prometheus/secrets/etcd-client-cert".into(),
                read_only: true,
            }],
            true,
        );
        let addr = serve(c).await;
        let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
        let client = kube::Client::try_from(config).expect("client");
        let pods: Api<Pod> = Api::namespaced(client, "monitoring");

        let mut p = pods
            .exec(
                "prometheus-k8s-0",
                ["ls", "/etc/prometheus/secrets/etcd-client-cert/"],
                &AttachParams::default().container("prometheus").stderr(true),
            )
            .await
            .expect("exec");
        let mut out = String::new();
        p.stdout().unwrap().read_to_string(&mut out).await.unwrap();
        let status = p.take_status().unwrap().await.expect("status");
        assert_eq!(out, "ca.crt\nclient.crt\nclient.key\n");
        assert_eq!(status.status.as_deref(), Some("Success"));
        p.join().await.expect("join");

        let mut p = pods
            .exec(
                "prometheus-k8s-0",
                ["sh", "-c", "exit 3"],
                &AttachParams::default().container("prometheus").stderr(true),
            )
            .await
            .expect("exec");
        let status = p.take_status().unwrap().await.expect("status");
        assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
        let causes = status.details.and_then(|d| d.causes).unwrap_or_default();
        assert_eq!(causes[0].reason.as_deref(), Some("ExitCode"));
        assert_eq!(causes[0].message.as_deref(), Some("3"));

        // stdin through cat; dropping the writer sends the v5 close signal.
        let mut p = pods
            .exec(
                "prometheus-k8s-0",
                ["cat"],
                &AttachParams::default()
                    .container("prometheus")
                    .stdin(true)
                    .stderr(false),
            )
            .await
            .expect("exec");
        let mut w = p.stdin().unwrap();
        w.write_all(b"hello\n").await.unwrap();
        w.shutdown().await.unwrap();
        drop(w);
        let mut out = String::new();
        p.stdout().unwrap().read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello\n");
        let status = p.take_status().unwrap().await.expect("status");
        assert_eq!(status.status.as_deref(), Some("Success"));
    }
}
