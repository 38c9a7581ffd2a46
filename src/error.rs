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

    /// An API call failed: what was being done, on which object.
    #[error("{action} {object}: {message}")]
    Api {
        action: &'static str,
        object: String,
        message: String,
        code: Option<u16>,
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

    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The process exit code for this error (see `cli::EXIT_CODES`).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NoTty | Error::Declined => 4,
            Error::Forbidden(_) => 5,
            _ => 1,
        }
    }

    /// An API error with the action and object it concerned.
    pub fn api(action: &'static str, object: impl Into<String>, e: kube::Error) -> Self {
        let (message, code) = match &e {
            kube::Error::Api(s) => (s.message.clone(), Some(s.code)),
            other => (other.to_string(), None),
        };
        Error::Api {
            action,
            object: object.into(),
            message,
            code,
        }
    }

    /// The HTTP status of an API error, if it is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { code, .. } => *code,
            _ => None,
        }
    }
}
