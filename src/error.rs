//! The library's typed errors. Every variant says what happened, which file or object, and what
//! to do; none carries key material.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Certs(#[from] crate::certs::CertError),

    #[error("cannot read the kubeconfig: {0}\n  hint: pass --kubeconfig FILE or set KUBECONFIG")]
    Kubeconfig(String),

    #[error(
        "cannot reach the cluster ({context}): {source}\n  hint: check the context with `kubectl cluster-info`"
    )]
    Connect {
        context: String,
        #[source]
        source: kube::Error,
    },

    /// A request got no answer from the API server: the connection failed (refused, timed out,
    /// TLS, DNS).
    #[error("{}", unreachable_message(server, context, *failure, detail))]
    Unreachable {
        /// The server URL of the kubeconfig's cluster.
        server: String,
        context: String,
        failure: Failure,
        /// The innermost cause, as the client library says it.
        detail: String,
    },

    /// An API call failed: what was being done, on which object, and the client's error.
    #[error("{action} {object}: {}", api_text(source))]
    Api {
        action: &'static str,
        object: String,
        #[source]
        source: kube::Error,
    },

    /// A request to the API server could not be built (a bug of this side).
    #[error("internal: cannot build the request {what}: {source}")]
    Request {
        what: String,
        #[source]
        source: http::Error,
    },

    /// A YAML document could not be read or written: which one.
    #[error("{what}: {source}")]
    Yaml {
        what: String,
        #[source]
        source: serde_yaml_ng::Error,
    },

    /// A JSON document could not be read or written: which one.
    #[error("{what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },

    /// A base64 text could not be decoded: which (never the text itself: it may be a key).
    #[error("{what} is not valid base64")]
    Base64 {
        what: String,
        #[source]
        source: base64::DecodeError,
    },

    /// A TLS client could not be set up: what was being set up (the error names the problem,
    /// never key bytes).
    #[error("{what}: {source}")]
    Tls {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// What Prometheus' HTTP API answered cannot be used: what it said.
    #[error("{0}")]
    Prometheus(String),

    /// A file could not be read or written (other than the backup): what and which.
    #[error("{what} {}: {source}", path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The terminal could not be read (a prompt's answer).
    #[error("cannot read the answer: {source}")]
    Terminal {
        #[source]
        source: dialoguer::Error,
    },

    /// A step did not finish in its time: what it waited for.
    #[error("{what}: no answer within {}s", .after.as_secs())]
    Timeout {
        what: String,
        after: std::time::Duration,
    },

    #[error("{0}")]
    Input(String),

    #[error("{what} not found: {hint}")]
    NotFound { what: String, hint: String },

    #[error(
        "nothing was changed: confirmation needed and no terminal to ask on\n  hint: review the plan above (or --dry-run=client) and re-run with --yes"
    )]
    NoTty,

    #[error("nothing was changed: not confirmed")]
    Declined,

    /// Ctrl-C at a prompt (the terminal in raw mode reads it as a key, not as SIGINT): `main`
    /// says what Ctrl-C says anywhere else and exits 130.
    #[error("interrupted")]
    Interrupted,

    #[error("missing permissions, nothing was changed:\n{}", .0.iter().map(|m| format!("  - {m}")).collect::<Vec<_>>().join("\n"))]
    Forbidden(Vec<String>),

    #[error("cannot write the backup file {path}: {source}")]
    Backup {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{message}\n  applied: {applied}\n  not applied: {pending}\n  backup: {backup}\n  hint: fix the cause and run the same command again (it continues where it stopped), or `kubectl promfix rollback {backup}`"
    )]
    Partial {
        message: String,
        applied: String,
        pending: String,
        backup: String,
    },

    /// A rollback would overwrite what someone changed since the backed-up run: each field.
    #[error(
        "rollback stopped, nothing more was written: since the backed-up run, someone changed fields it wrote:\n{}\n  hint: look at these changes; re-run with --force to restore the fields anyway (the changes listed are then lost)",
        .0.iter().map(|m| format!("  - {m}")).collect::<Vec<_>>().join("\n")
    )]
    RollbackConflict(Vec<String>),

    /// doctor could not check a single row: why, per cluster.
    #[error(
        "nothing could be checked:\n{}\n  hint: doctor reads the active targets of each Prometheus the operator runs; fix what is named above and run it again",
        .0.iter().map(|m| format!("  - {m}")).collect::<Vec<_>>().join("\n")
    )]
    NothingChecked(Vec<String>),

    /// A DaemonSet's rollout did not finish in `--timeout` (its config is written).
    #[error(
        "rollout of DaemonSet {namespace}/{name} did not finish within {timeout} ({last})\n  hint: the config is written; watch it with `kubectl -n {namespace} rollout status daemonset/{name}`"
    )]
    Rollout {
        namespace: String,
        name: String,
        timeout: String,
        last: String,
    },

    /// No kubelet's `/configz` answered: the first node's error.
    #[error(
        "no kubelet's /configz could be read (first: {first})\n  hint: reading it needs `get` on nodes/proxy"
    )]
    NoConfigz { first: String },

    /// A rule of this program was broken (a bug): what.
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// The process exit code for this error (see `cli::EXIT_CODES`).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NoTty | Error::Declined => 4,
            Error::Interrupted => 130,
            Error::Forbidden(_) => 5,
            _ => 1,
        }
    }

    /// The error of a request to `server` (context `context`): [`Error::Unreachable`] when the
    /// connection failed, else an API error with the action and object it concerned.
    pub fn request(
        server: &str,
        context: &str,
        action: &'static str,
        object: impl Into<String>,
        e: kube::Error,
    ) -> Self {
        match transport_failure(&e) {
            Some((failure, detail)) => Error::Unreachable {
                server: server.to_string(),
                context: context.to_string(),
                failure,
                detail,
            },
            None => Error::api(action, object, e),
        }
    }

    /// An API error with the action and object it concerned.
    pub fn api(action: &'static str, object: impl Into<String>, e: kube::Error) -> Self {
        Error::Api {
            action,
            object: object.into(),
            source: e,
        }
    }

    /// The HTTP status of an API error, if it is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api {
                source: kube::Error::Api(s),
                ..
            } => Some(s.code),
            _ => None,
        }
    }
}

/// The server's text of an API error (the client's text for other errors).
fn api_text(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// An API error as a message: the server's text and code (the client's text for other errors).
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
        other => other.to_string(),
    }
}

/// Why a connection to the API server failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Nothing listens there (wrong host or port, the server is down).
    Refused,
    TimedOut,
    /// The TLS handshake failed (the kubeconfig's CA is not the server's, a proxy in between).
    Tls,
    /// The host name does not resolve.
    Dns,
    /// Another failure to connect.
    Other,
}

/// The failure behind a client error, when the request never got an answer (the connection
/// could not be made): its kind and the innermost cause. None for answers (API errors) and for
/// errors of this side (bad request, bad body).
pub fn transport_failure(e: &kube::Error) -> Option<(Failure, String)> {
    use std::error::Error as _;
    if !matches!(e, kube::Error::HyperError(_) | kube::Error::Service(_)) {
        return None;
    }
    let mut failure: Option<Failure> = None;
    let mut connect = false;
    let mut detail = e.to_string();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(x) = cur {
        let text = x.to_string();
        let lower = text.to_ascii_lowercase();
        // io::Error's source() skips the error it wraps: look at that one too.
        let io = x.downcast_ref::<std::io::Error>();
        let inner = io.and_then(|io| io.get_ref());
        let tls = x.downcast_ref::<rustls::Error>().is_some()
            || inner.is_some_and(|i| i.downcast_ref::<rustls::Error>().is_some());
        let found = match io.map(std::io::Error::kind) {
            Some(std::io::ErrorKind::ConnectionRefused) => Some(Failure::Refused),
            Some(std::io::ErrorKind::TimedOut) => Some(Failure::TimedOut),
            _ if tls => Some(Failure::Tls),
            _ if lower.contains("dns error") || lower.contains("failed to lookup address") => {
                Some(Failure::Dns)
            }
            _ if lower.contains("connection refused") => Some(Failure::Refused),
            _ if lower.contains("timed out") || lower.contains("deadline has elapsed") => {
                Some(Failure::TimedOut)
            }
            _ if lower.contains("certificate") || lower.contains("handshake") => Some(Failure::Tls),
            _ => None,
        };
        // hyper-util's "client error (Connect)": the connection was never made.
        connect |= lower.contains("(connect)") || lower.contains("tcp connect error");
        failure = failure.or(found);
        if !text.is_empty() {
            detail = text;
        }
        cur = x.source();
    }
    match failure {
        Some(f) => Some((f, detail)),
        None if connect => Some((Failure::Other, detail)),
        None => None,
    }
}

/// The host (and port) of a server URL: `https://10.0.0.1:6443/x` → `10.0.0.1:6443`.
fn host_of(server: &str) -> &str {
    let rest = server.split_once("://").map_or(server, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

fn unreachable_message(server: &str, context: &str, failure: Failure, detail: &str) -> String {
    let host = host_of(server);
    let what = match failure {
        Failure::Refused => {
            format!(
                "the connection to the server {host} was refused - did you specify the right host or port?"
            )
        }
        Failure::TimedOut => format!(
            "the connection to the server {host} timed out - is the cluster running, and reachable from this machine (VPN, firewall, proxy)?"
        ),
        Failure::Tls => format!(
            "the TLS handshake with the server {host} failed ({detail}) - is the kubeconfig's certificate-authority(-data) the CA of this server?"
        ),
        Failure::Dns => {
            let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
            format!(
                "the server name {name} does not resolve ({detail}) - is the name right, and is this machine on the cluster's network (DNS, VPN)?"
            )
        }
        Failure::Other => format!("cannot connect to the server {host}: {detail}"),
    };
    let ctx = if context.is_empty() {
        "the current context".to_string()
    } else {
        format!("context {context:?}")
    };
    let check = if context.is_empty() {
        "kubectl config view --minify".to_string()
    } else {
        format!("kubectl config view --minify --context {context}")
    };
    let hint = match failure {
        Failure::Tls => format!(
            "a re-created cluster has a new CA: fetch its kubeconfig again; `{check}` shows what this one holds"
        ),
        _ => format!(
            "check that the cluster is up and that the kubeconfig names the right server (`{check}`), or choose another context with --context"
        ),
    };
    format!("{what}\n  server: {server} ({ctx} of the kubeconfig)\n  hint: {hint}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn service(e: impl std::error::Error + Send + Sync + 'static) -> kube::Error {
        kube::Error::Service(Box::new(e))
    }

    /// An error with a source, as hyper-util wraps the connector's error.
    #[derive(Debug)]
    struct Wrapped(&'static str, io::Error);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.1)
        }
    }

    #[test]
    fn connection_failures_are_told_apart() {
        let refused = service(Wrapped(
            "client error (Connect)",
            io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "tcp connect error: Connection refused (os error 111)",
            ),
        ));
        assert_eq!(
            transport_failure(&refused).map(|f| f.0),
            Some(Failure::Refused)
        );
        let timed_out = service(Wrapped(
            "client error (Connect)",
            io::Error::new(io::ErrorKind::TimedOut, "deadline has elapsed"),
        ));
        assert_eq!(
            transport_failure(&timed_out).map(|f| f.0),
            Some(Failure::TimedOut)
        );
        let tls = service(Wrapped(
            "client error (Connect)",
            io::Error::new(
                io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
            ),
        ));
        let (f, detail) = transport_failure(&tls).unwrap();
        assert_eq!(f, Failure::Tls);
        assert!(detail.contains("UnknownIssuer"), "{detail}");
        let dns = service(Wrapped(
            "client error (Connect)",
            io::Error::other(
                "dns error: failed to lookup address information: Name or service not known",
            ),
        ));
        assert_eq!(transport_failure(&dns).map(|f| f.0), Some(Failure::Dns));
        let other = service(Wrapped(
            "client error (Connect)",
            io::Error::other("no route"),
        ));
        assert_eq!(transport_failure(&other).map(|f| f.0), Some(Failure::Other));
        // Answers and local errors are not connection failures.
        let api = kube::Error::Api(Box::new(
            kube::core::Status::failure("nope", "Forbidden").with_code(403),
        ));
        assert_eq!(transport_failure(&api), None);
        let closed = service(io::Error::other(
            "connection closed before message completed",
        ));
        assert_eq!(transport_failure(&closed), None);
    }

    #[test]
    fn unreachable_names_server_context_failure_and_a_hint() {
        let e = Error::Unreachable {
            server: "https://127.0.0.1:1".into(),
            context: "kind-dev".into(),
            failure: Failure::Refused,
            detail: "Connection refused (os error 111)".into(),
        };
        let m = e.to_string();
        assert!(
            m.starts_with("the connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?"),
            "{m}"
        );
        assert!(
            m.contains("server: https://127.0.0.1:1 (context \"kind-dev\" of the kubeconfig)"),
            "{m}"
        );
        assert!(
            m.contains("hint: ") && m.contains("--context kind-dev"),
            "{m}"
        );
        assert_eq!(e.exit_code(), 1);
        assert_eq!(host_of("https://[::1]:6443/prefix"), "[::1]:6443");
        for f in [
            Failure::TimedOut,
            Failure::Tls,
            Failure::Dns,
            Failure::Other,
        ] {
            let m = unreachable_message("https://k8s.example:6443", "", f, "why");
            assert!(m.contains("k8s.example") && m.contains("hint: "), "{m}");
        }
    }
}
