//! Fault injection (latency, the next N writes answering 409/500/429, dropped connections) and the
//! request log (method, path, query, content type, status) that tests read.
//!
//! A *write* is a POST, PUT, PATCH or DELETE of a resource that passed authentication and
//! authorization, except the creation of (Self)SubjectAccessReviews (they store nothing).

use std::sync::Mutex;
use std::time::Duration;

/// What a faulted write answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// 409 Conflict with the store's text for that object (`the object has been modified; ...`).
    Conflict,
    /// 500 InternalError.
    Internal,
    /// 429 TooManyRequests with a `Retry-After` header.
    TooManyRequests { retry_after_secs: u32 },
    /// The connection is closed without a response; the write is not applied.
    DropBeforeApply,
    /// The write is applied, then the connection is closed without a response.
    DropAfterApply,
}

/// One request, as the server saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogEntry {
    pub method: String,
    pub path: String,
    /// The raw query string (without `?`).
    pub query: String,
    pub content_type: String,
    /// The status answered; 0 when the connection was dropped without a response.
    pub status: u16,
    /// The authenticated user's name ("" when unauthenticated).
    pub user: String,
    pub is_write: bool,
}

#[derive(Debug, Default)]
struct State {
    latency: Duration,
    /// (resource plural or any, remaining count, kind), consumed in order.
    pending: Vec<(Option<String>, usize, FaultKind)>,
    /// Absolute write number to cut, and whether after applying it.
    drop_at: Vec<(usize, bool)>,
    writes: usize,
    log: Vec<LogEntry>,
}

/// Faults and the request log of one cluster.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<State>,
}

impl Faults {
    pub fn new() -> Self {
        Faults::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Delay every request by `d` (zero: none).
    pub fn set_latency(&self, d: Duration) {
        self.lock().latency = d;
    }

    pub fn latency(&self) -> Duration {
        self.lock().latency
    }

    /// The next `n` writes (of `resource`, a plural like `secrets`, or of any resource) fail with `kind`.
    pub fn fail_next_writes(&self, resource: Option<&str>, n: usize, kind: FaultKind) {
        if n > 0 {
            self.lock()
                .pending
                .push((resource.map(str::to_string), n, kind));
        }
    }

    /// Cut the connection of the `k`-th write from now (1 = the next write), before or after
    /// applying it.
    pub fn drop_at_write(&self, k: usize, after_apply: bool) {
        let mut s = self.lock();
        let at = s.writes + k.max(1);
        s.drop_at.push((at, after_apply));
    }

    /// Forget every pending fault (latency included).
    pub fn reset(&self) {
        let mut s = self.lock();
        s.pending.clear();
        s.drop_at.clear();
        s.latency = Duration::ZERO;
    }

    /// Count one write of `resource` and say which fault, if any, it gets.
    pub fn on_write(&self, resource: &str) -> Option<FaultKind> {
        let mut s = self.lock();
        s.writes += 1;
        let n = s.writes;
        if let Some(i) = s.drop_at.iter().position(|(at, _)| *at == n) {
            let (_, after) = s.drop_at.remove(i);
            return Some(if after {
                FaultKind::DropAfterApply
            } else {
                FaultKind::DropBeforeApply
            });
        }
        let i = s
            .pending
            .iter()
            .position(|(r, left, _)| *left > 0 && r.as_deref().is_none_or(|r| r == resource))?;
        let kind = s.pending[i].2;
        s.pending[i].1 -= 1;
        if s.pending[i].1 == 0 {
            s.pending.remove(i);
        }
        Some(kind)
    }

    /// Append to the request log.
    pub fn record(&self, entry: LogEntry) {
        self.lock().log.push(entry);
    }

    /// Every request so far (since the last `clear_log`).
    pub fn log(&self) -> Vec<LogEntry> {
        self.lock().log.clone()
    }

    pub fn clear_log(&self) {
        self.lock().log.clear();
    }

    /// How many writes were made so far (faulted ones included).
    pub fn writes(&self) -> usize {
        self.lock().writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_faults_by_resource_and_drops() {
        let f = Faults::new();
        f.fail_next_writes(Some("secrets"), 2, FaultKind::Internal);
        f.fail_next_writes(None, 1, FaultKind::Conflict);
        assert_eq!(f.on_write("services"), Some(FaultKind::Conflict));
        assert_eq!(f.on_write("services"), None);
        assert_eq!(f.on_write("secrets"), Some(FaultKind::Internal));
        f.drop_at_write(2, true);
        assert_eq!(f.on_write("secrets"), Some(FaultKind::Internal));
        assert_eq!(f.on_write("secrets"), Some(FaultKind::DropAfterApply));
        assert_eq!(f.on_write("secrets"), None);
        assert_eq!(f.writes(), 6);
    }
}
