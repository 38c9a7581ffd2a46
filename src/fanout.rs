//! Adaptive fan-out: many small reads of one API server (a `/configz` per failing node), as many
//! at once as the server answers fast, fewer when it slows down or throttles.
//!
//! The [`Controller`] is the policy, pure and clock-free (the caller passes `now`), so it is
//! unit-tested without a server. It starts at [`Limits::start`] requests in flight and judges
//! the server by a smoothed latency (a moving average, so one slow answer, such as the first on
//! a new connection, is no verdict) against the fastest answer seen (which drifts up towards the
//! average, an eighth of the gap per round trip, so a server slow for a while becomes the
//! measure): while it stays under twice
//! the fastest (+5 ms), each answer adds one (the limit doubles each round trip) up to
//! [`Limits::max`]; between twice and four times (+20 ms) the limit holds; past that it is cut
//! by a tenth, once per round trip. A 429 (API Priority and Fairness rejecting the request)
//! halves the limit (once per round trip, however many 429s one burst brings back), after which
//! it grows by one per round trip only (as TCP after a loss), and no
//! request starts before the `Retry-After` the server gave (else an exponential wait from
//! 250 ms, at most [`Limits::max_wait`]); the throttled request is tried again, at most
//! [`Limits::attempts`] times in all.
//!
//! [`for_each`] runs requests under a controller and hands each result to a sink as it arrives,
//! so the caller folds results without holding them.

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Bounds of the fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests in flight at the start.
    pub start: usize,
    /// Never fewer in flight than this (while there is work).
    pub min: usize,
    /// Never more.
    pub max: usize,
    /// Tries of one request that keeps being throttled (the first included).
    pub attempts: u32,
    /// The longest pause after a 429, whatever its Retry-After says.
    pub max_wait: Duration,
}

/// doctor's per-node reads: 16 at first (the fixed number it used before), up to 128.
pub const NODE_READS: Limits = Limits {
    start: 16,
    min: 1,
    max: 128,
    attempts: 5,
    max_wait: Duration::from_secs(10),
};

/// The first wait after a 429 without Retry-After; it doubles on each further one.
const FIRST_WAIT: Duration = Duration::from_millis(250);

/// What one request came back as, for the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt<T, E> {
    /// An answer (an error status included): the server took it.
    Done(Result<T, E>),
    /// 429 Too Many Requests, with the server's Retry-After when it gave one.
    Throttled(Option<Duration>),
}

/// The concurrency policy (see the module docs).
#[derive(Debug, Clone)]
pub struct Controller {
    limits: Limits,
    limit: f64,
    /// The fastest answer seen: what "fast" is measured against.
    fastest: Option<Duration>,
    /// The moving average of the latencies (a fifth of each new answer).
    smoothed: Option<Duration>,
    /// A 429 was seen: from then on the limit grows by one per round trip, not per answer.
    throttled_once: bool,
    paused_until: Option<Instant>,
    next_wait: Duration,
    last_cut: Option<Instant>,
    /// The highest limit reached (for `-v` and the benchmark notes).
    pub peak: usize,
    pub throttled: usize,
}

impl Controller {
    pub fn new(limits: Limits) -> Controller {
        let limits = Limits {
            min: limits.min.max(1),
            max: limits.max.max(limits.min.max(1)),
            attempts: limits.attempts.max(1),
            ..limits
        };
        let start = limits.start.clamp(limits.min, limits.max);
        Controller {
            limits,
            limit: start as f64,
            fastest: None,
            smoothed: None,
            throttled_once: false,
            paused_until: None,
            next_wait: FIRST_WAIT,
            last_cut: None,
            peak: start,
            throttled: 0,
        }
    }

    /// Requests that may be in flight now.
    pub fn limit(&self) -> usize {
        (self.limit as usize).clamp(self.limits.min, self.limits.max)
    }

    /// Whether new requests must wait (a 429's Retry-After), and until when.
    pub fn paused_until(&self, now: Instant) -> Option<Instant> {
        self.paused_until.filter(|t| *t > now)
    }

    pub fn attempts(&self) -> u32 {
        self.limits.attempts
    }

    /// One round trip, as the fastest answer measures it (at least 1 ms).
    fn round_trip(&self) -> Duration {
        self.fastest
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_millis(1))
    }

    /// Cut at most once per round trip: one burst's answers are one signal.
    fn may_cut(&self, now: Instant) -> bool {
        self.last_cut
            .is_none_or(|t| now.saturating_duration_since(t) >= self.round_trip())
    }

    /// An answer came back after `latency`.
    pub fn on_answer(&mut self, latency: Duration, now: Instant) {
        let smoothed = self.smoothed.map_or(latency, |s| (s * 4 + latency) / 5);
        self.smoothed = Some(smoothed);
        // The fastest drifts up to the average, an eighth of the way per round trip (limit
        // answers): a server slower for a while (its own load) becomes the new measure, so the
        // limit is not held low for good after a slow spell.
        let per_answer = ((8.0 * self.limit.max(1.0)) as u32).max(1);
        let fastest = self.fastest.map_or(latency, |f| {
            (f + smoothed.saturating_sub(f) / per_answer).min(latency)
        });
        self.fastest = Some(fastest);
        self.next_wait = FIRST_WAIT;
        if smoothed <= fastest * 2 + Duration::from_millis(5) {
            self.limit += if self.throttled_once {
                1.0 / self.limit.max(1.0)
            } else {
                1.0
            };
        } else if smoothed > fastest * 4 + Duration::from_millis(20) && self.may_cut(now) {
            self.limit *= 0.9;
            self.last_cut = Some(now);
        }
        self.limit = self
            .limit
            .clamp(self.limits.min as f64, self.limits.max as f64);
        self.peak = self.peak.max(self.limit());
    }

    /// The server answered 429 (with its Retry-After, if any).
    pub fn on_throttled(&mut self, retry_after: Option<Duration>, now: Instant) {
        self.throttled += 1;
        self.throttled_once = true;
        if self.may_cut(now) {
            self.limit = (self.limit / 2.0).max(self.limits.min as f64);
            self.last_cut = Some(now);
        }
        let wait = retry_after
            .unwrap_or(self.next_wait)
            .min(self.limits.max_wait);
        self.next_wait = (self.next_wait * 2).min(self.limits.max_wait);
        let until = now + wait;
        if self.paused_until.is_none_or(|t| t < until) {
            self.paused_until = Some(until);
        }
    }
}

/// `Retry-After` as seconds (`"3"`). The HTTP-date form, and anything else, is None: the
/// caller's own backoff applies.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// What [`for_each`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests sent, retries included.
    pub requests: usize,
    /// 429s received.
    pub throttled: usize,
    /// The highest number allowed in flight.
    pub peak: usize,
}

/// The outcome handed to the sink: the answer, or `None` when the item was still throttled
/// after every attempt.
pub type Outcome<T, E> = Option<Result<T, E>>;

/// Run `fetch` for every item under a [`Controller`], handing each item's outcome to `sink` as
/// it arrives (in completion order).
pub async fn for_each<I, T, E, F, Fut>(
    items: impl IntoIterator<Item = I>,
    limits: Limits,
    fetch: F,
    mut sink: impl FnMut(I, Outcome<T, E>),
) -> Stats
where
    I: Clone,
    F: Fn(I) -> Fut,
    Fut: std::future::Future<Output = Attempt<T, E>>,
{
    let mut ctl = Controller::new(limits);
    let mut queue: VecDeque<(I, u32)> = items.into_iter().map(|i| (i, 1)).collect();
    let mut in_flight = FuturesUnordered::new();
    let mut stats = Stats::default();
    // tokio's clock (paused in tests), as std's Instant the controller takes.
    let clock = || tokio::time::Instant::now().into_std();
    loop {
        let now = clock();
        let paused = ctl.paused_until(now);
        if paused.is_none() {
            while in_flight.len() < ctl.limit() {
                let Some((item, tries)) = queue.pop_front() else {
                    break;
                };
                stats.requests += 1;
                let fut = fetch(item.clone());
                in_flight.push(async move {
                    let t0 = clock();
                    let r = fut.await;
                    (item, tries, r, clock().saturating_duration_since(t0))
                });
            }
        }
        if in_flight.is_empty() {
            match (queue.is_empty(), paused) {
                (true, _) => break,
                (false, Some(t)) => tokio::time::sleep_until(t.into()).await,
                (false, None) => {}
            }
            continue;
        }
        let next = match paused.filter(|_| !queue.is_empty()) {
            Some(t) => tokio::select! {
                r = in_flight.next() => r,
                _ = tokio::time::sleep_until(t.into()) => continue,
            },
            None => in_flight.next().await,
        };
        let Some((item, tries, r, latency)) = next else {
            continue;
        };
        match r {
            Attempt::Done(r) => {
                ctl.on_answer(latency, clock());
                sink(item, Some(r));
            }
            Attempt::Throttled(after) => {
                ctl.on_throttled(after, clock());
                if tries < ctl.attempts() {
                    queue.push_front((item, tries + 1));
                } else {
                    sink(item, None);
                }
            }
        }
    }
    stats.throttled = ctl.throttled;
    stats.peak = ctl.peak;
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn ctl() -> Controller {
        Controller::new(NODE_READS)
    }

    #[test]
    fn grows_while_answers_are_fast_up_to_the_bound() {
        let mut c = ctl();
        let t = Instant::now();
        assert_eq!(c.limit(), 16);
        // One more per fast answer, so a round of 16 answers doubles it.
        for _ in 0..16 {
            c.on_answer(25 * MS, t);
        }
        assert_eq!(c.limit(), 32);
        // One slow answer among fast ones (a new connection's handshake) does not stop it.
        c.on_answer(90 * MS, t);
        c.on_answer(26 * MS, t);
        assert!(c.limit() > 32, "{}", c.limit());
        for _ in 0..1000 {
            c.on_answer(26 * MS, t);
        }
        assert_eq!(c.limit(), NODE_READS.max);
        assert_eq!(c.peak, NODE_READS.max);
    }

    #[test]
    fn slow_answers_stop_the_growth_and_very_slow_ones_cut_it() {
        let mut c = ctl();
        let t = Instant::now();
        c.on_answer(25 * MS, t);
        // Answers settling at more than twice the fastest: the growth stops.
        for _ in 0..10 {
            c.on_answer(100 * MS, t);
        }
        let held = c.limit();
        for _ in 0..10 {
            c.on_answer(100 * MS, t);
        }
        assert_eq!(c.limit(), held);
        // Past four times the fastest: cut by a tenth, once per round trip.
        for _ in 0..20 {
            c.on_answer(300 * MS, t + 100 * MS);
        }
        let cut = c.limit();
        assert!(cut < held, "{cut} < {held}");
        assert!(cut >= held * 9 / 10 - 1, "one cut within one round trip");
        let mut now = t + 100 * MS;
        for _ in 0..10 {
            now += 30 * MS;
            c.on_answer(300 * MS, now);
        }
        assert!(c.limit() < cut, "{} < {cut}", c.limit());
        // A server that stays slow becomes the measure: the limit grows again.
        let low = c.limit();
        for _ in 0..2000 {
            c.on_answer(300 * MS, now);
        }
        assert!(c.limit() > low, "{} > {low}", c.limit());
        // Fast again: the fastest answer is the measure again at once.
        c.on_answer(25 * MS, now);
        assert_eq!(c.fastest, Some(25 * MS));
    }

    #[test]
    fn a_429_halves_once_per_burst_and_pauses_for_retry_after() {
        let mut c = ctl();
        let t = Instant::now();
        for _ in 0..48 {
            c.on_answer(25 * MS, t);
        }
        assert_eq!(c.limit(), 64);
        // A burst of 429s at once (one round trip): halved once.
        for _ in 0..10 {
            c.on_throttled(Some(Duration::from_secs(2)), t);
        }
        assert_eq!(c.limit(), 32);
        assert_eq!(c.throttled, 10);
        assert_eq!(c.paused_until(t), Some(t + Duration::from_secs(2)));
        assert_eq!(c.paused_until(t + Duration::from_secs(2)), None);
        // After a 429, fast answers add one per round trip (32 answers), not one each.
        for _ in 0..32 {
            c.on_answer(25 * MS, t);
        }
        assert_eq!(c.limit(), 32);
        for _ in 0..2 {
            c.on_answer(25 * MS, t);
        }
        assert_eq!(c.limit(), 33);
        // Another 429 a round trip later halves again; the pause never shortens.
        c.on_throttled(Some(Duration::from_secs(1)), t + 30 * MS);
        assert_eq!(c.limit(), 16);
        assert_eq!(c.paused_until(t), Some(t + Duration::from_secs(2)));
        // It never goes below the minimum, nor waits past max_wait.
        for i in 0..20 {
            c.on_throttled(Some(Duration::from_secs(3600)), t + i * 30 * MS);
        }
        assert_eq!(c.limit(), NODE_READS.min);
        assert!(
            c.paused_until(t + NODE_READS.max_wait + Duration::from_secs(1))
                .is_none()
        );
    }

    #[test]
    fn a_429_without_retry_after_waits_exponentially() {
        let mut c = ctl();
        let t = Instant::now();
        c.on_throttled(None, t);
        assert_eq!(c.paused_until(t), Some(t + FIRST_WAIT));
        let t2 = t + Duration::from_secs(1);
        c.on_throttled(None, t2);
        assert_eq!(c.paused_until(t2), Some(t2 + FIRST_WAIT * 2));
        // An answer resets the wait.
        c.on_answer(25 * MS, t2);
        let t3 = t2 + Duration::from_secs(1);
        c.on_throttled(None, t3);
        assert_eq!(c.paused_until(t3), Some(t3 + FIRST_WAIT));
    }

    #[test]
    fn retry_after_values() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 1 "), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after(""), None);
    }

    #[test]
    fn odd_limits_are_made_sane() {
        let c = Controller::new(Limits {
            start: 0,
            min: 0,
            max: 0,
            attempts: 0,
            max_wait: Duration::ZERO,
        });
        assert_eq!(c.limit(), 1);
        assert_eq!(c.attempts(), 1);
    }

    /// A server stand-in: answers after 5 ms, and throttles while more than `cap` requests are
    /// in flight (as APF's queues do when full), with Retry-After 0 s.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn for_each_backs_off_on_429_and_every_item_gets_its_outcome() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let in_flight = AtomicUsize::new(0);
        let peak_seen = AtomicUsize::new(0);
        let cap = 24;
        let mut got = Vec::new();
        let stats = for_each(
            0..500usize,
            NODE_READS,
            |i| {
                let (f, p) = (&in_flight, &peak_seen);
                async move {
                    let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(5 * MS).await;
                    f.fetch_sub(1, Ordering::SeqCst);
                    if now > cap {
                        Attempt::Throttled(Some(Duration::ZERO))
                    } else {
                        Attempt::Done(Ok::<usize, ()>(i * 2))
                    }
                }
            },
            |i, r| got.push((i, r)),
        )
        .await;
        got.sort_by_key(|(i, _)| *i);
        assert_eq!(got.len(), 500);
        assert!(
            got.iter()
                .all(|(i, r)| matches!(r, Some(Ok(v)) if *v == i * 2)),
            "every item answered after its retries"
        );
        assert!(stats.throttled > 0, "{stats:?}");
        assert_eq!(stats.requests, 500 + stats.throttled);
        // It backed off: far fewer 429s than requests, and it stayed near the server's cap.
        assert!(stats.throttled < 100, "{stats:?}");
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn for_each_gives_up_after_the_attempts() {
        let mut got = Vec::new();
        let stats = for_each(
            ["a", "b"],
            NODE_READS,
            |_| async { Attempt::<(), ()>::Throttled(Some(Duration::from_secs(1))) },
            |i, r| got.push((i, r)),
        )
        .await;
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|(_, r)| r.is_none()));
        assert_eq!(stats.requests, 2 * NODE_READS.attempts as usize);
    }
}
