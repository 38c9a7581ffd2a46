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
use std::collections::HashSet;
use std::sync::Arc;
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
    /// With a label or field selector: the objects (namespace, name) the client was told match,
    /// so a change that makes an object match is ADDED and one that makes it stop is DELETED,
    /// as the watch cache does with the previous object.
    present: Option<HashSet<(String, String)>>,
}

fn key_of(o: &Value) -> (String, String) {
    (
        o["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        o["metadata"]["name"].as_str().unwrap_or("").to_string(),
    )
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

    fn matches(&self, o: &Value) -> bool {
        self.a.filter.as_ref().is_ok_and(|f| f.matches(o))
    }

    /// What the client sees of a store event: nothing, or the event type to send.
    fn translate(&mut self, e: &Event) -> Option<EventKind> {
        if e.resource != self.a.rt.qualified() || (self.a.ns.is_some() && e.namespace != self.a.ns)
        {
            return None;
        }
        let now = self.matches(&e.object);
        let Some(present) = self.present.as_mut() else {
            return now.then_some(e.kind);
        };
        let k = key_of(&e.object);
        let was = present.contains(&k);
        match (e.kind, was, now) {
            (EventKind::Deleted, true, _) => {
                present.remove(&k);
                Some(EventKind::Deleted)
            }
            (EventKind::Deleted, false, _) => None,
            (_, false, true) => {
                present.insert(k);
                Some(EventKind::Added)
            }
            (_, true, true) => Some(EventKind::Modified),
            (_, true, false) => {
                present.remove(&k);
                Some(EventKind::Deleted)
            }
            (_, false, false) => None,
        }
    }

    /// Handle one store event in order: every event moves the watch's resourceVersion on.
    async fn store_event(&mut self, e: Event) -> bool {
        if e.rv <= self.last_rv {
            return true;
        }
        self.last_rv = e.rv;
        match self.translate(&e) {
            Some(kind) => self.event(kind, Arc::unwrap_or_clone(e.object)).await,
            None => true,
        }
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
        let selective = self.a.filter.as_ref().is_ok_and(|f| !f.is_empty());
        if rv_param.is_empty() || rv_param == "0" {
            let (items, rv) = store.list(&self.a.rt, self.a.ns.as_deref());
            self.last_rv = rv;
            let items: Vec<Arc<Value>> = items.into_iter().filter(|o| self.matches(o)).collect();
            if selective {
                self.present = Some(items.iter().map(|o| key_of(o)).collect());
            }
            for o in items {
                if !self.event(EventKind::Added, Arc::unwrap_or_clone(o)).await {
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
            if selective {
                // what matches now stands for what matched at `since`
                let (items, _) = store.list(&self.a.rt, self.a.ns.as_deref());
                self.present = Some(
                    items
                        .iter()
                        .filter(|o| self.matches(o))
                        .map(|o| key_of(o))
                        .collect(),
                );
            }
            self.last_rv = since;
            match store.events_since(&self.a.rt, self.a.ns.as_deref(), since) {
                Ok(evs) => {
                    for e in evs {
                        if !self.store_event(e).await {
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
                        if !self.store_event(e).await { return; }
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
    let s = Streamer {
        a,
        tx,
        last_rv: 0,
        present: None,
    };
    tokio::spawn(s.run());
    let body: Body = BodyExt::boxed(StreamBody::new(rx));
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap_or_else(|_| Response::new(super::full("")))
}
