//! The operator's share of an account's Qualys rate limit, and the
//! observation interval that fits in it.
//!
//! Qualys gives an API user a few hundred calls per hour, shared with every
//! other tool using that user. Observation (paged searches) is the only
//! spending that grows with time rather than with changes, so it is what
//! stretches: writes, runs and objects whose spec changed are not slowed.

use std::time::Duration;

use super::accounts::ResolvedAccount;
use super::observer::ObserverHub;
use crate::crd::account::Budget;
use crate::qualys::Family;
use crate::qualys::governor::RateHeaders;

/// Percent of the reported limit the operator takes when the spec says nothing.
pub const DEFAULT_PERCENT: u8 = 50;
/// Part of the share observation may use: the rest stays free for writes.
const OBSERVATION_PART: f64 = 0.8;

/// Calls per hour the operator may spend on its own; `None` while Qualys has
/// not reported a limit and the spec sets none (then nothing is stretched).
pub fn share_per_hour(budget: Option<&Budget>, reported: Option<&RateHeaders>) -> Option<f64> {
    if let Some(calls) = budget.and_then(|b| b.calls_per_hour) {
        return Some(f64::from(calls));
    }
    let reported = reported?;
    let limit = f64::from(reported.limit?);
    let window = reported.window.filter(|w| !w.is_zero())?.as_secs_f64();
    let percent = f64::from(budget.and_then(|b| b.percent).unwrap_or(DEFAULT_PERCENT).clamp(1, 100));
    Some(limit * 3600.0 / window * percent / 100.0)
}

/// The interval at which observing every kind (`calls_per_cycle` calls)
/// stays within its part of the share: the wished-for `requested`, or longer.
pub fn observation_interval(requested: Duration, calls_per_cycle: u32, share_per_hour: Option<f64>) -> Duration {
    let Some(share) = share_per_hour.filter(|s| *s > 0.0) else {
        return requested;
    };
    let needed = f64::from(calls_per_cycle) * 3600.0 / (share * OBSERVATION_PART);
    // Whole seconds: status shows it, and sub-second precision buys nothing.
    requested.max(Duration::from_secs(needed.ceil() as u64))
}

/// ACCOUNT's share per hour and observation cost per cycle, and the interval
/// an object that wishes to be observed every `requested` is observed at.
pub fn effective_resync(hub: &ObserverHub, account: &ResolvedAccount, requested: Duration) -> Effective {
    let reported = account.client.governor().reported(Family::Qps);
    let share = share_per_hour(account.budget.as_ref(), reported.as_ref());
    let calls = hub.calls_per_cycle(&account.key);
    Effective {
        share_per_hour: share,
        calls_per_cycle: calls,
        interval: observation_interval(requested, calls, share),
    }
}

/// What [`effective_resync`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effective {
    pub share_per_hour: Option<f64>,
    pub calls_per_cycle: u32,
    pub interval: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reported(limit: u32, window_s: u64) -> RateHeaders {
        RateHeaders {
            limit: Some(limit),
            window: Some(Duration::from_secs(window_s)),
            ..RateHeaders::default()
        }
    }

    #[test]
    fn the_share_is_half_the_reported_limit_unless_the_spec_says_otherwise() {
        let documented = reported(300, 3600);
        assert_eq!(share_per_hour(None, Some(&documented)), Some(150.0));
        let percent = Budget {
            calls_per_hour: None,
            percent: Some(20),
        };
        assert_eq!(share_per_hour(Some(&percent), Some(&documented)), Some(60.0));
        let fixed = Budget {
            calls_per_hour: Some(40),
            percent: Some(20),
        };
        assert_eq!(share_per_hour(Some(&fixed), Some(&documented)), Some(40.0));
        assert_eq!(share_per_hour(Some(&fixed), None), Some(40.0));
        // A window in minutes: per hour all the same.
        assert_eq!(share_per_hour(None, Some(&reported(100, 600))), Some(300.0));
        assert_eq!(share_per_hour(None, None), None, "nothing known: no share");
        assert_eq!(share_per_hour(None, Some(&reported(300, 0))), None);
    }

    #[test]
    fn observation_stretches_to_fit_and_never_shrinks_the_wish() {
        let ten_minutes = Duration::from_secs(600);
        // 5,000 connectors: 54 calls a cycle; 150/h share, 120/h for observation.
        assert_eq!(
            observation_interval(ten_minutes, 54, Some(150.0)),
            Duration::from_secs(1620)
        );
        // 1,000 connectors fit at 10 minutes: 14 calls, 84/h.
        assert_eq!(observation_interval(ten_minutes, 14, Some(150.0)), ten_minutes);
        assert_eq!(observation_interval(ten_minutes, 54, None), ten_minutes);
        for calls in [1, 14, 54, 500] {
            for share in [10.0, 150.0, 5000.0] {
                let every = observation_interval(ten_minutes, calls, Some(share));
                let per_hour = f64::from(calls) * 3600.0 / every.as_secs_f64();
                assert!(
                    per_hour <= share * OBSERVATION_PART + 1e-9,
                    "{calls} calls every {every:?} = {per_hour}/h > {share}/h"
                );
            }
        }
    }
}
