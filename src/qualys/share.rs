//! The operator's own share of a Qualys user's rate limit, kept as a hard cap
//! with priorities.
//!
//! Qualys counts calls per user and window, and every other script using the
//! same user spends from that count. The governor's buckets follow what
//! Qualys reports; the share is the part the operator allows itself on top of
//! that: at most `cap` calls in any window of Qualys' length (a sliding log,
//! so no burst at a window edge exceeds it). Within the share, writes and run
//! requests may use all of it, reads for objects whose spec changed 90%, and
//! routine observation 80%: when observation fills its part, a write still
//! finds room at once.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::governor::RateHeaders;

/// Which calls go first when the share is spent. Ordered: later wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Routine refreshes of the shared snapshots.
    Observation,
    /// Reads for an object whose spec changed, or to confirm a write.
    Changed,
    /// Creates, updates, deletes and run requests.
    Write,
}

impl Priority {
    /// The part of the share calls of this priority may fill.
    pub fn part(self) -> f64 {
        match self {
            Self::Observation => 0.8,
            Self::Changed => 0.9,
            Self::Write => 1.0,
        }
    }

    /// Calls of this priority a window of `cap` calls may hold: its part,
    /// but always at least one call fewer than the next priority up (when
    /// the cap allows), so that even a small share keeps a call free for
    /// each higher priority instead of rounding the difference away.
    fn calls_in(self, cap: f64) -> usize {
        let own = (cap * self.part()).floor().max(1.0) as usize;
        match self {
            Self::Write => own,
            Self::Changed => own.min(Self::Write.calls_in(cap).saturating_sub(1)).max(1),
            Self::Observation => own.min(Self::Changed.calls_in(cap).saturating_sub(1)).max(1),
        }
    }
}

tokio::task_local! {
    static READ_PRIORITY: Priority;
}

/// Runs `work` with its reads at `priority` (writes are always [`Priority::Write`]).
pub async fn reads_at<F: Future>(priority: Priority, work: F) -> F::Output {
    READ_PRIORITY.scope(priority, work).await
}

/// The priority of a read made by the current task.
pub fn read_priority() -> Priority {
    READ_PRIORITY.try_with(|p| *p).unwrap_or(Priority::Observation)
}

/// How much of the limit the operator takes: a fixed number of calls per
/// hour, or a percent of the limit Qualys reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareSetting {
    pub calls_per_hour: Option<u32>,
    pub percent: u8,
}

impl ShareSetting {
    /// Calls per hour; `None` while Qualys has not reported a limit and no
    /// fixed number is set (then nothing is capped or stretched).
    pub fn per_hour(&self, reported: Option<&RateHeaders>) -> Option<f64> {
        if let Some(calls) = self.calls_per_hour {
            return Some(f64::from(calls));
        }
        let (limit, window) = reported_limit(reported)?;
        Some(f64::from(limit) * 3600.0 / window.as_secs_f64() * f64::from(self.percent.clamp(1, 100)) / 100.0)
    }

    /// The cap as calls per window of Qualys' length (an hour when Qualys
    /// reported none and a fixed number is set).
    fn per_window(&self, reported: Option<&RateHeaders>) -> Option<(f64, Duration)> {
        let window = reported_limit(reported).map_or(Duration::from_secs(3600), |(_, w)| w);
        let per_hour = self.per_hour(reported)?;
        Some(((per_hour * window.as_secs_f64() / 3600.0).max(1.0), window))
    }
}

fn reported_limit(reported: Option<&RateHeaders>) -> Option<(u32, Duration)> {
    let reported = reported?;
    Some((reported.limit?, reported.window.filter(|w| !w.is_zero())?))
}

#[derive(Debug)]
struct ShareState {
    setting: Option<ShareSetting>,
    /// When each call inside the current window left, oldest first.
    sent: VecDeque<Instant>,
    /// The longest any call waited for budget (its share, a pause Qualys asked for, or a free concurrent call) in the last window.
    longest_wait: Option<(Duration, Instant)>,
    /// The window the cap was last applied over.
    window: Duration,
}

/// One per account (every API family spends it).
#[derive(Debug)]
pub struct Share {
    state: Mutex<ShareState>,
}

impl Default for Share {
    fn default() -> Self {
        Self {
            state: Mutex::new(ShareState {
                setting: None,
                sent: VecDeque::new(),
                longest_wait: None,
                window: Duration::from_secs(3600),
            }),
        }
    }
}

/// What the share says of a call now.
pub(super) enum Verdict {
    /// Within the cap: counted as sent.
    Go,
    /// Over this priority's part: not before this.
    WaitUntil(Instant),
}

/// The share's use, for status and metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShareUse {
    /// Calls allowed per window and the window.
    pub cap: f64,
    pub window: Duration,
    /// Calls the operator made in the last window.
    pub used: u32,
    /// The longest a call waited for budget (its share, a pause Qualys asked for, or a free concurrent call)
    /// in the last window.
    pub longest_wait: Duration,
}

impl ShareUse {
    /// Calls used in the last window, per hour.
    pub fn per_hour(&self) -> u32 {
        let per_hour = f64::from(self.used) * 3600.0 / self.window.as_secs_f64().max(1e-3);
        per_hour.round().min(f64::from(u32::MAX)) as u32
    }
}

impl Share {
    pub fn set(&self, setting: Option<ShareSetting>) {
        self.lock().setting = setting;
    }

    /// Counts a call of `priority` as leaving now if it fits.
    pub(super) fn take(&self, priority: Priority, reported: Option<&RateHeaders>, now: Instant) -> Verdict {
        let mut s = self.lock();
        if s.setting.is_none() {
            return Verdict::Go;
        }
        let Some((cap, window)) = s.setting.and_then(|set| set.per_window(reported)) else {
            // No limit known yet (the first call reports it): nothing to
            // cap, but the call is the operator's and counts.
            let window = s.window;
            expire(&mut s.sent, window, now);
            s.sent.push_back(now);
            return Verdict::Go;
        };
        expire(&mut s.sent, window, now);
        s.window = window;
        // The parts nest (80% < 90% < 100%): whenever a higher priority
        // waits, every lower one waits too, so a write never queues behind
        // observation.
        let part = priority.calls_in(cap);
        if s.sent.len() < part {
            s.sent.push_back(now);
            return Verdict::Go;
        }
        // The call that must leave the window before one more fits.
        let leaving = s.sent.len() - part;
        let frees = s.sent.get(leaving).map_or(now, |t| *t + window);
        Verdict::WaitUntil(frees.max(now + Duration::from_millis(10)))
    }

    /// Records that a call waited `waited` for budget (its share, a pause Qualys asked for, or a free concurrent call).
    pub(super) fn waited(&self, waited: Duration, now: Instant) {
        let mut s = self.lock();
        let window = s.window;
        let keep = s
            .longest_wait
            .is_some_and(|(d, at)| d >= waited && now.saturating_duration_since(at) < window);
        if !keep && !waited.is_zero() {
            s.longest_wait = Some((waited, now));
        }
    }

    /// The share's use now; `None` while no cap is known.
    pub fn usage(&self, reported: Option<&RateHeaders>) -> Option<ShareUse> {
        let mut s = self.lock();
        let (cap, window) = s.setting.and_then(|set| set.per_window(reported))?;
        let now = Instant::now();
        expire(&mut s.sent, window, now);
        let longest_wait = s
            .longest_wait
            .filter(|(_, at)| now.saturating_duration_since(*at) < window)
            .map_or(Duration::ZERO, |(d, _)| d);
        Some(ShareUse {
            cap,
            window,
            used: u32::try_from(s.sent.len()).unwrap_or(u32::MAX),
            longest_wait,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ShareState> {
        // Plain counters: still usable after a panic elsewhere.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn expire(sent: &mut VecDeque<Instant>, window: Duration, now: Instant) {
    while sent
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        sent.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documented() -> RateHeaders {
        RateHeaders {
            limit: Some(300),
            window: Some(Duration::from_secs(3600)),
            ..RateHeaders::default()
        }
    }

    fn half() -> ShareSetting {
        ShareSetting {
            calls_per_hour: None,
            percent: 50,
        }
    }

    #[test]
    fn the_share_per_hour_follows_the_setting_and_the_reported_limit() {
        let documented = documented();
        assert_eq!(half().per_hour(Some(&documented)), Some(150.0));
        let fixed = ShareSetting {
            calls_per_hour: Some(40),
            percent: 20,
        };
        assert_eq!(fixed.per_hour(Some(&documented)), Some(40.0));
        assert_eq!(fixed.per_hour(None), Some(40.0));
        let minutes = RateHeaders {
            limit: Some(100),
            window: Some(Duration::from_secs(600)),
            ..RateHeaders::default()
        };
        assert_eq!(half().per_hour(Some(&minutes)), Some(300.0));
        assert_eq!(half().per_hour(None), None, "nothing known: no share");
        let zero_window = RateHeaders {
            window: Some(Duration::ZERO),
            ..documented
        };
        assert_eq!(half().per_hour(Some(&zero_window)), None);
        // A fixed number with a reported window: per window of that length.
        assert_eq!(fixed.per_window(Some(&minutes)).map(|(c, _)| c.round()), Some(7.0));
    }

    #[tokio::test(start_paused = true)]
    async fn observation_leaves_a_fifth_of_the_share_to_writes() {
        let share = Share::default();
        share.set(Some(half()));
        let reported = documented();
        let now = Instant::now();
        let mut observed = 0;
        while matches!(share.take(Priority::Observation, Some(&reported), now), Verdict::Go) {
            observed += 1;
        }
        assert_eq!(observed, 120, "80% of 150");
        let mut changed = 0;
        while matches!(share.take(Priority::Changed, Some(&reported), now), Verdict::Go) {
            changed += 1;
        }
        assert_eq!(changed, 15, "up to 90%");
        let mut written = 0;
        while matches!(share.take(Priority::Write, Some(&reported), now), Verdict::Go) {
            written += 1;
        }
        assert_eq!(written, 15, "the rest of the 150");
        // Nothing more until the first call leaves the window, an hour later.
        match share.take(Priority::Write, Some(&reported), now) {
            Verdict::WaitUntil(at) => assert_eq!(at - now, Duration::from_secs(3600)),
            Verdict::Go => panic!("over the cap"),
        }
        let usage = share.usage(Some(&reported)).map(|u| (u.used, u.cap));
        assert_eq!(usage, Some((150, 150.0)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_longest_wait_is_reported_for_one_window() {
        let share = Share::default();
        share.set(Some(ShareSetting {
            calls_per_hour: Some(10),
            percent: 50,
        }));
        let now = Instant::now();
        share.waited(Duration::from_secs(3), now);
        share.waited(Duration::from_secs(1), now);
        assert_eq!(share.usage(None).map(|u| u.longest_wait), Some(Duration::from_secs(3)));
        tokio::time::advance(Duration::from_secs(3601)).await;
        assert_eq!(share.usage(None).map(|u| u.longest_wait), Some(Duration::ZERO));
    }

    #[test]
    fn a_small_share_still_keeps_a_call_for_each_higher_priority() {
        // 1,600 calls per hour in a 15 s window: 6.67 calls.
        let cap = 1600.0 * 15.0 / 3600.0;
        let calls = |p: Priority| p.calls_in(cap);
        assert_eq!(
            (
                calls(Priority::Observation),
                calls(Priority::Changed),
                calls(Priority::Write)
            ),
            (4, 5, 6)
        );
        // Large shares keep their percentages.
        assert_eq!(
            (Priority::Observation.calls_in(150.0), Priority::Changed.calls_in(150.0)),
            (120, 135)
        );
        // A share of one call cannot reserve anything.
        assert_eq!(Priority::Observation.calls_in(1.0), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_made_before_qualys_reports_a_limit_count_as_used() {
        let share = Share::default();
        share.set(Some(half()));
        let now = Instant::now();
        assert!(matches!(share.take(Priority::Observation, None, now), Verdict::Go));
        assert_eq!(share.usage(Some(&documented())).map(|u| u.used), Some(1));
    }

    #[test]
    fn without_a_setting_nothing_is_capped() {
        let share = Share::default();
        let now = Instant::now();
        for _ in 0..1000 {
            assert!(matches!(
                share.take(Priority::Observation, Some(&documented()), now),
                Verdict::Go
            ));
        }
        assert_eq!(share.usage(Some(&documented())), None);
    }
}
