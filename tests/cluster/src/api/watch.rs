//! Watches: one JSON event per line (`{"type":"ADDED","object":{...}}`), streamed over HTTP/2 or
//! HTTP/1.1 chunked, from a resourceVersion (history) or from now with synthetic ADDED events for
//! the existing objects, with bookmarks, `timeoutSeconds` and 410 Expired as an ERROR event.

use super::Body;
use super::handler::{WatchArgs, bytes_frame, error_response};
use crate::status::ApiError;
use crate::store::{Event, EventKind};
use futures::SinkExt;
use http::{Response, header};
use http_body_util::{BodyExt, StreamBody};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

/// How often a watch with `allowWatchBookmarks` gets a bookmark (the cacher's bookmarkFrequency).
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);
/// Without `timeoutSeconds` the real server ends a watch after 30 to 60 minutes.
const DEFAULT_TIMEOUT: u64 = 1800;

type Tx = futures::channel::mpsc::Sender<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>>;

fn line(kind: &str, object: Value) -> Vec<u8> {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    v.push(b'\n');
    v
}

struct Streamer {
    a: WatchArgs,
    tx: Tx,
    last_rv: u64,
}

impl Streamer {
    async fn send(&mut self, b: Vec<u8>) -> bool {
        self.tx.send(bytes_frame(b)).await.is_ok()
    }

    fn object(&self, obj: Value) -> Value {
        if self.a.table {
            let rv = obj["metadata"]["resourceVersion"].clone();
            super::table::to_table(
                &self.a.rt,
                &[obj],
                json!({"resourceVersion": rv}),
                &self.a.include_object,
            )
        } else {
            obj
        }
    }

    async fn event(&mut self, kind: EventKind, obj: Value) -> bool {
        let o = self.object(obj);
        self.send(line(kind.as_str(), o)).await
    }

    fn selected(&self, e: &Event) -> bool {
        e.resource == self.a.rt.qualified()
            && (self.a.ns.is_none() || e.namespace == self.a.ns)
            && self.a.filter.as_ref().is_ok_and(|f| f.matches(&e.object))
    }

    fn bookmark(&self, initial_end: bool) -> Vec<u8> {
        let mut meta = json!({"resourceVersion": self.last_rv.to_string()});
        if !self.a.rt.custom {
            meta["creationTimestamp"] = Value::Null;
        }
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(
            "BOOKMARK",
            json!({"kind": self.a.rt.kind, "apiVersion": self.a.rt.api_version(), "metadata": meta}),
        )
    }

    async fn run(mut self) {
        let store = self.a.cluster.store.clone();
        // subscribe first: nothing written between the snapshot and the live stream is lost
        let mut rx = store.subscribe();
        let rv_param = self.a.resource_version.clone().unwrap_or_default();
        if rv_param.is_empty() || rv_param == "0" {
            let (items, rv) = store.list(&self.a.rt, self.a.ns.as_deref());
            self.last_rv = rv;
            let filter_ok = self.a.filter.as_ref().ok();
            let items: Vec<Value> = items
                .into_iter()
                .filter(|o| filter_ok.is_some_and(|f| f.matches(o)))
                .collect();
            for o in items {
                if !self.event(EventKind::Added, o).await {
                    return;
                }
            }
            if self.a.send_initial_events && self.a.bookmarks {
                let b = self.bookmark(true);
                if !self.send(b).await {
                    return;
                }
            }
        } else {
            let Ok(since) = rv_param.parse::<u64>() else {
                return;
            };
            self.last_rv = since;
            match store.events_since(&self.a.rt, self.a.ns.as_deref(), since) {
                Ok(evs) => {
                    for e in evs {
                        if e.rv <= self.last_rv {
                            continue;
                        }
                        self.last_rv = e.rv;
                        if self.selected(&e) && !self.event(e.kind, e.object).await {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = self.send(line("ERROR", e.to_status())).await;
                    return;
                }
            }
        }
        let timeout = Duration::from_secs(self.a.timeout.unwrap_or(DEFAULT_TIMEOUT));
        let deadline = Instant::now() + timeout;
        // the cacher sends a bookmark shortly before the deadline and then every minute
        let mut next_bookmark = if timeout > Duration::from_secs(2) {
            (deadline - Duration::from_secs(2)).min(Instant::now() + BOOKMARK_EVERY)
        } else {
            Instant::now() + BOOKMARK_EVERY
        };
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tokio::time::sleep_until(next_bookmark), if self.a.bookmarks => {
                    let b = self.bookmark(false);
                    if !self.send(b).await { return; }
                    next_bookmark = Instant::now() + BOOKMARK_EVERY;
                }
                _ = tick.tick() => {
                    if self.tx.is_closed() { return; }
                }
                r = rx.recv() => match r {
                    Ok(e) => {
                        if e.rv <= self.last_rv || !self.selected(&e) {
                            continue;
                        }
                        self.last_rv = e.rv;
                        if !self.event(e.kind, e.object).await { return; }
                    }
                    // too far behind or the store is gone: end the watch, the client watches again
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                },
            }
        }
    }
}

/// Answer a watch request.
pub(crate) async fn watch(a: WatchArgs) -> Response<Body> {
    if let Err(e) = &a.filter {
        return error_response(e);
    }
    if let Some(rv) = &a.resource_version
        && !rv.is_empty()
        && rv.parse::<u64>().is_err()
    {
        return error_response(&ApiError::bad_request(format!(
            "resourceVersion: Invalid value: \"{rv}\": strconv.ParseUint: parsing \"{rv}\": invalid syntax"
        )));
    }
    let (tx, rx) = futures::channel::mpsc::channel(64);
    let s = Streamer { a, tx, last_rv: 0 };
    tokio::spawn(s.run());
    let body: Body = BodyExt::boxed(StreamBody::new(rx));
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap_or_else(|_| Response::new(super::full("")))
}
