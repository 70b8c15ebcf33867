//! Spends one Qualys account's rate budget across concurrent callers.
//!
//! Qualys limits calls per window and concurrent calls, per API and user, and
//! reports both in `X-RateLimit-*` / `X-Concurrency-Limit-*` headers (sometimes
//! absent, sometimes empty). The governor keeps one bucket per API family:
//! a concurrency gate sized from the headers, a local estimate of the calls
//! left in the window, and a "blocked until" instant set by `ToWait-Sec` or by
//! a throttled answer. Callers wait here instead of being refused by Qualys.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::config::RateLimits;
use super::observer::Family;
use super::share::{Priority, Share, Verdict};

/// Rate-limit facts read from one response. Missing or empty headers are `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RateHeaders {
    pub limit: Option<u32>,
    pub window: Option<Duration>,
    pub remaining: Option<u32>,
    pub to_wait: Option<Duration>,
    pub concurrency_limit: Option<u32>,
    pub concurrency_running: Option<u32>,
}

impl RateHeaders {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let num = |name: &str| -> Option<f64> {
            let v = headers.get(name)?.to_str().ok()?.trim();
            v.parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0)
        };
        let int = |name: &str| num(name).map(|n| n.min(f64::from(u32::MAX)) as u32);
        Self {
            limit: int("x-ratelimit-limit"),
            window: num("x-ratelimit-window-sec").map(Duration::from_secs_f64),
            remaining: int("x-ratelimit-remaining"),
            to_wait: num("x-ratelimit-towait-sec").map(Duration::from_secs_f64),
            concurrency_limit: int("x-concurrency-limit-limit"),
            concurrency_running: int("x-concurrency-limit-running"),
        }
    }
}

#[derive(Debug)]
struct BucketState {
    concurrency: u32,
    running: u32,
    window_limit: Option<u32>,
    window: Option<Duration>,
    /// Calls we believe are left in the current window; `None` when Qualys
    /// never said (then only throttles slow us down).
    remaining: Option<u32>,
    blocked_until: Option<Instant>,
    /// Sequence of the newest dispatched call, and of the newest response
    /// whose `Remaining` was applied (older answers must not undo newer ones).
    dispatched: u64,
    applied: u64,
    consecutive_throttles: u32,
    /// The newest rate headers Qualys sent, as sent (not our estimate).
    reported: Option<RateHeaders>,
}

struct Bucket {
    state: Mutex<BucketState>,
    changed: Notify,
}

/// One governor per Qualys account.
pub struct RateGovernor {
    limits: RateLimits,
    buckets: [Bucket; 3],
    /// The operator's own share, across families.
    share: Share,
}

/// A dispatched call holding a concurrency slot until dropped.
pub struct Permit<'a> {
    bucket: &'a Bucket,
    seq: u64,
}

/// Why `acquire` gave up: the budget frees up later than the caller may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTooLong(pub Duration);

impl RateGovernor {
    pub fn new(limits: RateLimits) -> Self {
        let bucket = || Bucket {
            state: Mutex::new(BucketState {
                concurrency: limits.initial_concurrency.clamp(1, limits.max_concurrency.max(1)),
                running: 0,
                window_limit: None,
                window: None,
                remaining: None,
                blocked_until: None,
                dispatched: 0,
                applied: 0,
                consecutive_throttles: 0,
                reported: None,
            }),
            changed: Notify::new(),
        };
        Self {
            buckets: [bucket(), bucket(), bucket()],
            limits,
            share: Share::default(),
        }
    }

    /// The operator's share of the limit (see [`Share`]).
    pub fn share(&self) -> &Share {
        &self.share
    }

    /// Waits for a slot and budget, up to `deadline`; `priority` decides
    /// which calls the operator's share lets through first.
    pub async fn acquire(
        &self,
        family: Family,
        priority: Priority,
        deadline: Instant,
    ) -> Result<Permit<'_>, WaitTooLong> {
        let bucket = &self.buckets[family.index()];
        let queued = Instant::now();
        loop {
            let notified = bucket.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // The share is counted by the connector API's window (the
            // budget status reports), whichever family calls.
            let reported = self.reported(Family::Qps);
            let wake_at = {
                let now = Instant::now();
                let mut s = lock(&bucket.state);
                match s.blocked_until {
                    Some(until) if until > now => Some(until),
                    _ if s.running >= s.concurrency => None,
                    _ if s.remaining == Some(0) => {
                        // Budget spent and no word on when it refills: pause for
                        // one call's share of the window, then let one call probe.
                        let until = now + self.pace(&s);
                        s.blocked_until = Some(until);
                        s.remaining = Some(1);
                        tracing::debug!(
                            family = family.as_str(),
                            wait_ms = (until - now).as_millis() as u64,
                            "rate budget spent locally, pausing"
                        );
                        Some(until)
                    }
                    // Taken under the bucket's lock, so concurrent callers
                    // never pass the share together.
                    _ => match self.share.take(priority, reported.as_ref(), now) {
                        Verdict::WaitUntil(until) => Some(until),
                        Verdict::Go => {
                            s.running += 1;
                            s.dispatched += 1;
                            if let Some(r) = s.remaining.as_mut() {
                                *r = r.saturating_sub(1);
                            }
                            self.share.waited(now - queued, now);
                            return Ok(Permit {
                                bucket,
                                seq: s.dispatched,
                            });
                        }
                    },
                }
            };
            match wake_at {
                Some(until) => {
                    if until > deadline {
                        return Err(WaitTooLong(until - Instant::now()));
                    }
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => {}
                        _ = &mut notified => {}
                    }
                }
                None => {
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep_until(deadline) => {
                            return Err(WaitTooLong(Duration::ZERO));
                        }
                    }
                }
            }
        }
    }

    /// Learns from a response's headers. Call before dropping the permit.
    pub fn observe(&self, permit: &Permit<'_>, headers: &RateHeaders) {
        let mut s = lock(&permit.bucket.state);
        if let Some(n) = headers.concurrency_limit.filter(|n| *n > 0) {
            s.concurrency = n.min(self.limits.max_concurrency.max(1));
        }
        if headers.limit.is_some() {
            s.window_limit = headers.limit;
        }
        if headers.window.is_some_and(|w| !w.is_zero()) {
            s.window = headers.window;
        }
        if let Some(r) = headers.remaining
            && permit.seq >= s.applied
        {
            // Calls dispatched after this one are not in Qualys' count yet.
            let later = u32::try_from(s.dispatched - permit.seq).unwrap_or(u32::MAX);
            s.remaining = Some(r.saturating_sub(later));
            s.applied = permit.seq;
        }
        if let Some(wait) = headers.to_wait.filter(|w| !w.is_zero()) {
            block(&mut s, Instant::now() + wait);
        }
        if (headers.limit.is_some() || headers.remaining.is_some()) && permit.seq >= s.applied {
            s.reported = Some(*headers);
        }
        permit.bucket.changed.notify_waiters();
    }

    /// Records a throttled answer (QPS 409, gateway 429) and returns how long
    /// the caller should wait before trying again.
    pub fn throttled(&self, permit: &Permit<'_>, hint: Option<Duration>) -> Duration {
        let mut s = lock(&permit.bucket.state);
        s.consecutive_throttles = s.consecutive_throttles.saturating_add(1);
        let wait = match hint.filter(|w| !w.is_zero()) {
            Some(w) => w,
            None => {
                let base = self.pace(&s);
                let factor = 2u32.saturating_pow(s.consecutive_throttles.saturating_sub(1).min(16));
                base.saturating_mul(factor).min(self.limits.max_fallback_wait)
            }
        };
        block(&mut s, Instant::now() + wait);
        if s.remaining == Some(0) {
            s.remaining = Some(1);
        }
        permit.bucket.changed.notify_waiters();
        wait
    }

    /// Records an answer that was not throttled.
    pub fn succeeded(&self, permit: &Permit<'_>) {
        lock(&permit.bucket.state).consecutive_throttles = 0;
    }

    /// Snapshot for diagnostics and tests: (concurrency, running, remaining).
    pub fn snapshot(&self, family: Family) -> (u32, u32, Option<u32>) {
        let s = lock(&self.buckets[family.index()].state);
        (s.concurrency, s.running, s.remaining)
    }

    /// The rate headers Qualys last sent for `family`, if it ever sent any.
    pub fn reported(&self, family: Family) -> Option<RateHeaders> {
        lock(&self.buckets[family.index()].state).reported
    }

    /// Why a call of `family` would wait now, for a progress display.
    pub fn waiting_reason(&self, family: Family) -> Option<String> {
        let s = lock(&self.buckets[family.index()].state);
        let now = Instant::now();
        match s.blocked_until {
            Some(until) if until > now => Some(format!(
                "paused {} s more: Qualys asked to wait (X-RateLimit-ToWait-Sec, a throttled answer) or the window's budget is spent",
                (until - now).as_secs().max(1)
            )),
            _ if s.running >= s.concurrency => Some(format!(
                "{} of {} concurrent calls allowed by Qualys are running",
                s.running, s.concurrency
            )),
            _ => None,
        }
    }

    fn pace(&self, s: &BucketState) -> Duration {
        match (s.window, s.window_limit) {
            (Some(w), Some(l)) if l > 0 => (w / l).clamp(Duration::from_millis(50), self.limits.max_fallback_wait),
            _ => self.limits.fallback_wait,
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut s = lock(&self.bucket.state);
        s.running = s.running.saturating_sub(1);
        drop(s);
        self.bucket.changed.notify_waiters();
    }
}

fn block(s: &mut BucketState, until: Instant) {
    if s.blocked_until.is_none_or(|b| b < until) {
        s.blocked_until = Some(until);
    }
}

// A poisoned lock only means another task panicked mid-update of plain
// counters; the counters are still usable.
fn lock(m: &Mutex<BucketState>) -> std::sync::MutexGuard<'_, BucketState> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use std::sync::Arc;

    fn limits() -> RateLimits {
        RateLimits {
            initial_concurrency: 2,
            max_concurrency: 8,
            fallback_wait: Duration::from_secs(5),
            max_fallback_wait: Duration::from_secs(60),
        }
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    #[test]
    fn headers_parse_and_tolerate_empty_values() {
        let mut h = HeaderMap::new();
        h.insert("X-RateLimit-Limit", HeaderValue::from_static("300"));
        h.insert("X-RateLimit-Window-Sec", HeaderValue::from_static("3600"));
        h.insert("X-RateLimit-Remaining", HeaderValue::from_static(""));
        h.insert("X-RateLimit-ToWait-Sec", HeaderValue::from_static(" 7 "));
        h.insert("X-Concurrency-Limit-Limit", HeaderValue::from_static("garbage"));
        let r = RateHeaders::from_headers(&h);
        assert_eq!(r.limit, Some(300));
        assert_eq!(r.window, Some(Duration::from_secs(3600)));
        assert_eq!(r.remaining, None);
        assert_eq!(r.to_wait, Some(Duration::from_secs(7)));
        assert_eq!(r.concurrency_limit, None);
        assert_eq!(RateHeaders::from_headers(&HeaderMap::new()), RateHeaders::default());
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_is_capped_and_learned() {
        let g = Arc::new(RateGovernor::new(limits()));
        let a = g.acquire(Family::Qps, Priority::Write, far()).await.unwrap();
        let _b = g.acquire(Family::Qps, Priority::Write, far()).await.unwrap();
        // A third caller waits for a slot rather than failing.
        let g2 = g.clone();
        let third = tokio::spawn(async move { g2.acquire(Family::Qps, Priority::Write, far()).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!third.is_finished());
        g.observe(
            &a,
            &RateHeaders {
                concurrency_limit: Some(1),
                ..Default::default()
            },
        );
        drop(a);
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Limit is now 1 and one call still runs.
        assert!(!third.is_finished());
        assert_eq!(g.snapshot(Family::Qps).0, 1);
        // Other families are independent.
        assert!(g.acquire(Family::Gateway, Priority::Write, far()).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn to_wait_blocks_every_caller() {
        let g = RateGovernor::new(limits());
        let p = g.acquire(Family::Gateway, Priority::Write, far()).await.unwrap();
        g.observe(
            &p,
            &RateHeaders {
                to_wait: Some(Duration::from_secs(30)),
                ..Default::default()
            },
        );
        drop(p);
        let why = g.waiting_reason(Family::Gateway).unwrap_or_default();
        assert!(why.starts_with("paused 30 s more: Qualys asked"), "{why}");
        assert_eq!(g.waiting_reason(Family::Qps), None);
        let start = Instant::now();
        let _p = g.acquire(Family::Gateway, Priority::Write, far()).await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(30));
        // A deadline shorter than the block fails fast with the remaining wait.
        let p2 = g.acquire(Family::Gateway, Priority::Write, far()).await.unwrap();
        g.observe(
            &p2,
            &RateHeaders {
                to_wait: Some(Duration::from_secs(100)),
                ..Default::default()
            },
        );
        let err = g
            .acquire(
                Family::Gateway,
                Priority::Write,
                Instant::now() + Duration::from_secs(10),
            )
            .await
            .err();
        assert!(matches!(err, Some(WaitTooLong(d)) if d > Duration::from_secs(90)));
    }

    #[tokio::test(start_paused = true)]
    async fn spent_window_paces_calls() {
        let g = RateGovernor::new(limits());
        let p = g.acquire(Family::Qps, Priority::Write, far()).await.unwrap();
        g.observe(
            &p,
            &RateHeaders {
                limit: Some(10),
                window: Some(Duration::from_secs(100)),
                remaining: Some(0),
                ..Default::default()
            },
        );
        drop(p);
        let start = Instant::now();
        let _q = g.acquire(Family::Qps, Priority::Write, far()).await.unwrap();
        // One call's share of the window: 100 s / 10.
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn with_observation_at_its_part_a_write_still_goes_at_once() {
        let g = RateGovernor::new(RateLimits {
            initial_concurrency: 8,
            ..limits()
        });
        g.share().set(Some(crate::qualys::share::ShareSetting {
            calls_per_hour: Some(10),
            percent: 50,
        }));
        for _ in 0..8 {
            drop(g.acquire(Family::Qps, Priority::Observation, far()).await.unwrap());
        }
        // 80% of 10 spent on observation: the next observation waits for the
        // first call to leave the hour, a write does not wait at all.
        let start = Instant::now();
        drop(g.acquire(Family::Gateway, Priority::Write, far()).await.unwrap());
        assert_eq!(start.elapsed(), Duration::ZERO);
        let err = g
            .acquire(
                Family::Qps,
                Priority::Observation,
                Instant::now() + Duration::from_secs(60),
            )
            .await
            .err();
        assert!(
            matches!(err, Some(WaitTooLong(d)) if d > Duration::from_secs(3500)),
            "{err:?}"
        );
        drop(g.acquire(Family::Qps, Priority::Write, far()).await.unwrap());
        // The share is spent: even a write waits for the window now.
        let start = Instant::now();
        drop(g.acquire(Family::Qps, Priority::Write, far()).await.unwrap());
        assert!(start.elapsed() >= Duration::from_secs(3599), "{:?}", start.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_without_hint_backs_off_exponentially() {
        let g = RateGovernor::new(limits());
        let p = g.acquire(Family::Qps, Priority::Write, far()).await.unwrap();
        assert_eq!(g.throttled(&p, None), Duration::from_secs(5));
        assert_eq!(g.throttled(&p, None), Duration::from_secs(10));
        assert_eq!(g.throttled(&p, Some(Duration::from_secs(3))), Duration::from_secs(3));
        g.succeeded(&p);
        assert_eq!(g.throttled(&p, None), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn stale_remaining_does_not_undo_newer() {
        let g = RateGovernor::new(RateLimits {
            initial_concurrency: 4,
            ..limits()
        });
        let first = g.acquire(Family::Qps, Priority::Write, far()).await.unwrap();
        let second = g.acquire(Family::Qps, Priority::Write, far()).await.unwrap();
        g.observe(
            &second,
            &RateHeaders {
                remaining: Some(3),
                ..Default::default()
            },
        );
        g.observe(
            &first,
            &RateHeaders {
                remaining: Some(9),
                ..Default::default()
            },
        );
        assert_eq!(g.snapshot(Family::Qps).2, Some(3));
    }
}
