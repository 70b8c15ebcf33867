//! `Ready` and `Synced` conditions, computed by a pure function so every
//! reason a person can see is unit-tested. `lastTransitionTime` moves only
//! when a condition's status changes.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Reasons the operator reports, stable for alerts and Argo CD health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Qualys matches the spec.
    Available,
    /// Just created; Qualys has not synced the connector yet.
    Creating,
    /// Qualys answered with an error.
    QualysError,
    /// The Qualys user's credentials (or the cloud credentials) were refused.
    CredentialsInvalid,
    /// Waiting for the Qualys rate budget.
    Throttled,
    /// A referenced Secret, account or member object is missing or not ready.
    ReferenceNotReady,
    /// A create may have happened but its result was lost; checking before retrying.
    CreateIncomplete,
    /// `qualys-operator.io/paused` is set.
    Paused,
    /// Kept in Qualys on deletion (no delete API, or deletionPolicy Orphan).
    Retained,
    /// Several Qualys objects match, or MustCreate found one: a person decides.
    Conflict,
    /// The spec cannot be applied as written.
    InvalidSpec,
    /// ObserveOnly and Qualys differs from the spec.
    DriftDetected,
    /// ObserveOnly and Qualys has no such object.
    NotFound,
    /// Written to Qualys but not read since: Ready is Unknown until the next refresh.
    Unconfirmed,
    /// A delete in Qualys failed; the finalizer stays until it succeeds.
    DeletionFailed,
    /// The object changed while a create was being prepared; nothing was sent.
    CreateDeferred,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "Available",
            Self::Creating => "Creating",
            Self::QualysError => "QualysError",
            Self::CredentialsInvalid => "CredentialsInvalid",
            Self::Throttled => "Throttled",
            Self::ReferenceNotReady => "ReferenceNotReady",
            Self::CreateIncomplete => "CreateIncomplete",
            Self::Paused => "Paused",
            Self::Retained => "Retained",
            Self::Conflict => "Conflict",
            Self::InvalidSpec => "InvalidSpec",
            Self::DriftDetected => "DriftDetected",
            Self::NotFound => "NotFound",
            Self::Unconfirmed => "Unconfirmed",
            Self::DeletionFailed => "DeletionFailed",
            Self::CreateDeferred => "CreateDeferred",
        }
    }

    /// Errors a retry cannot fix without a change by a person.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Conflict | Self::InvalidSpec | Self::CredentialsInvalid)
    }
}

/// What one reconcile concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Qualys matches the spec (or, for ObserveOnly, the object exists and matches).
    pub ready: bool,
    /// The last attempt to make Qualys match succeeded.
    pub synced: bool,
    pub reason: Reason,
    pub message: String,
}

impl Verdict {
    pub fn available(message: impl Into<String>) -> Self {
        Self {
            ready: true,
            synced: true,
            reason: Reason::Available,
            message: message.into(),
        }
    }

    /// Written, not read since: Ready is Unknown; Synced says whether the
    /// write went through (`synced`).
    pub fn unconfirmed(message: impl Into<String>, synced: bool) -> Self {
        Self {
            ready: false,
            synced,
            reason: Reason::Unconfirmed,
            message: message.into(),
        }
    }

    pub fn failed(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            ready: false,
            synced: false,
            reason,
            message: message.into(),
        }
    }
}

fn condition(
    type_: &str,
    ok: bool,
    reason: Reason,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let status = match (ok, reason) {
        (true, _) => "True",
        // Not read since the last write: neither ready nor known to be wrong.
        (false, Reason::Unconfirmed) => "Unknown",
        (false, _) => "False",
    };
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.as_str().into(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: Time(now),
    }
}

/// The new conditions, keeping `lastTransitionTime` of any condition whose
/// status did not change.
pub fn conditions(
    previous: &[Condition],
    verdict: &Verdict,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let synced_reason = if verdict.synced {
        Reason::Available
    } else {
        verdict.reason
    };
    let synced_message = if verdict.synced {
        "the last reconcile succeeded"
    } else {
        verdict.message.as_str()
    };
    let fresh = [
        condition(
            "Ready",
            verdict.ready,
            verdict.reason,
            &verdict.message,
            generation,
            now,
        ),
        condition("Synced", verdict.synced, synced_reason, synced_message, generation, now),
    ];
    fresh
        .into_iter()
        .map(|mut c| {
            if let Some(old) = previous.iter().find(|p| p.type_ == c.type_ && p.status == c.status) {
                c.last_transition_time = old.last_transition_time.clone();
            }
            c
        })
        .collect()
}

/// Whether two condition lists say the same thing (ignoring transition times),
/// so unchanged status is not written again.
pub fn same(a: &[Condition], b: &[Condition]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.type_ == y.type_
                && x.status == y.status
                && x.reason == y.reason
                && x.message == y.message
                && x.observed_generation == y.observed_generation
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let first = conditions(&[], &Verdict::available("ok"), Some(1), at(100));
        let second = conditions(&first, &Verdict::available("still ok"), Some(2), at(200));
        assert_eq!(second[0].last_transition_time, Time(at(100)));
        assert_eq!(second[0].message, "still ok");
        let third = conditions(&second, &Verdict::failed(Reason::QualysError, "boom"), Some(2), at(300));
        assert_eq!(third[0].status, "False");
        assert_eq!(third[0].reason, "QualysError");
        assert_eq!(third[0].last_transition_time, Time(at(300)));
        assert_eq!(third[1].reason, "QualysError");
    }

    #[test]
    fn sameness_ignores_time_only() {
        let a = conditions(&[], &Verdict::available("ok"), Some(1), at(1));
        let b = conditions(&[], &Verdict::available("ok"), Some(1), at(2));
        assert!(same(&a, &b));
        let c = conditions(&[], &Verdict::available("ok"), Some(2), at(2));
        assert!(!same(&a, &c));
    }

    #[test]
    fn an_unconfirmed_write_is_neither_ready_nor_failed() {
        let c = conditions(
            &[],
            &Verdict::failed(Reason::Unconfirmed, "not read back"),
            Some(1),
            at(1),
        );
        assert_eq!(c[0].status, "Unknown");
        assert_eq!(c[0].reason, "Unconfirmed");
    }

    #[test]
    fn terminal_reasons_do_not_hot_loop() {
        assert!(Reason::Conflict.is_terminal());
        assert!(!Reason::Throttled.is_terminal());
    }
}
