//! The operator's share of an account's Qualys rate limit, and the
//! observation interval that fits in it.
//!
//! Qualys gives an API user a few hundred calls per hour, shared with every
//! other tool using that user. Observation (paged searches) is the only
//! spending that grows with time rather than with changes, so it is what
//! stretches: writes, runs and objects whose spec changed are not slowed.

use std::time::Duration;

use super::accounts::ResolvedAccount;
use super::context::Shared;
use crate::crd::account::Budget;
use crate::qualys::Family;
use crate::qualys::share::{Priority, ShareSetting};
use crate::reconcile::object::Kind;

/// Percent of the reported limit the operator takes when the spec says nothing.
pub const DEFAULT_PERCENT: u8 = 50;

/// The governor's share setting for `spec.budget`.
pub fn share_setting(budget: Option<&Budget>) -> ShareSetting {
    ShareSetting {
        calls_per_hour: budget.and_then(|b| b.calls_per_hour),
        percent: budget.and_then(|b| b.percent).unwrap_or(DEFAULT_PERCENT).clamp(1, 100),
    }
}

/// The interval at which observing every kind (`calls_per_cycle` calls)
/// stays within the part of the share the governor lets routine observation
/// fill (the rest stays free for writes), so it is never held there: the
/// wished-for `requested`, or longer.
pub fn observation_interval(requested: Duration, calls_per_cycle: u32, share_per_hour: Option<f64>) -> Duration {
    let Some(share) = share_per_hour.filter(|s| *s > 0.0) else {
        return requested;
    };
    let needed = f64::from(calls_per_cycle) * 3600.0 / (share * Priority::Observation.part());
    // Whole seconds: status shows it, and sub-second precision buys nothing.
    requested.max(Duration::from_secs(needed.ceil() as u64))
}

/// ACCOUNT's share per hour and observation cost per cycle, and the interval
/// an object that wishes to be observed every `requested` is observed at.
/// Besides the batched reads, a cycle costs one call per object of the kinds
/// observed object by object (a user's scope, a snapshot-scan registration).
pub fn effective_resync(shared: &Shared, account: &ResolvedAccount, requested: Duration) -> Effective {
    let reported = account.client.governor().reported(Family::Qps);
    let share = share_setting(account.budget.as_ref()).per_hour(reported.as_ref());
    let one_by_one: usize = [Kind::UserScope, Kind::SnapshotScan]
        .into_iter()
        .map(|kind| shared.claims(&account.key, kind).len())
        .sum();
    let calls = shared
        .observers
        .calls_per_cycle(&account.key)
        .saturating_add(u32::try_from(one_by_one).unwrap_or(u32::MAX));
    Effective {
        share_per_hour: share,
        calls_per_cycle: calls,
        interval: observation_interval(requested, calls, share),
    }
}

/// How long the operator's writes to ACCOUNT must have paused before a read
/// confirms them: the time three calls take at the share's pace (one second
/// at least), so a run of writes is not interrupted by refreshes and one
/// refresh after the run confirms everything it wrote.
pub fn confirm_quiet(account: &ResolvedAccount) -> Duration {
    let governor = account.client.governor();
    let pace = governor
        .share()
        .usage(governor.reported(Family::Qps).as_ref())
        .map_or(Duration::ZERO, |u| u.window.div_f64(u.cap.max(1.0)));
    (pace * 3).max(Duration::from_secs(1))
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
    use crate::qualys::governor::RateHeaders;

    #[test]
    fn the_share_is_half_the_reported_limit_unless_the_spec_says_otherwise() {
        let documented = RateHeaders {
            limit: Some(300),
            window: Some(Duration::from_secs(3600)),
            ..RateHeaders::default()
        };
        assert_eq!(share_setting(None).per_hour(Some(&documented)), Some(150.0));
        let percent = Budget {
            calls_per_hour: None,
            percent: Some(20),
        };
        assert_eq!(share_setting(Some(&percent)).per_hour(Some(&documented)), Some(60.0));
        let fixed = Budget {
            calls_per_hour: Some(40),
            percent: Some(20),
        };
        assert_eq!(share_setting(Some(&fixed)).per_hour(Some(&documented)), Some(40.0));
        assert_eq!(share_setting(Some(&fixed)).per_hour(None), Some(40.0));
        assert_eq!(share_setting(None).per_hour(None), None, "nothing known: no share");
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
                    per_hour <= share * Priority::Observation.part() + 1e-9,
                    "{calls} calls every {every:?} = {per_hour}/h > {share}/h"
                );
            }
        }
    }
}
