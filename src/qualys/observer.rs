//! Per-call hook, so the metrics layer can count every HTTP exchange.

use std::fmt;
use std::time::Duration;

/// The API family a call belongs to; each has its own rate budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Qps,
    Gateway,
    CloudView,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qps => "qps",
            Self::Gateway => "gateway",
            Self::CloudView => "cloudview",
        }
    }

    /// For people: `QPS`, `gateway`, `CloudView`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Qps => "QPS",
            Self::Gateway => "gateway",
            Self::CloudView => "CloudView",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Self::Qps => 0,
            Self::Gateway => 1,
            Self::CloudView => 2,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One HTTP exchange (a logical call that was throttled or retried produces
/// one record per attempt, which is what spends Qualys' budget).
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub family: Family,
    /// e.g. `aws.create`, `connector.search`, `org.list`.
    pub operation: &'static str,
    /// `ok` or a [`QualysError::category`](super::QualysError::category).
    pub outcome: &'static str,
    /// Time on the wire, governor waits excluded.
    pub duration: Duration,
    /// 1 for the first attempt of a logical call.
    pub attempt: u32,
}

/// Receives a [`CallRecord`] after every HTTP exchange. Must be cheap and must
/// not block: it runs on the calling task.
pub trait CallObserver: Send + Sync {
    fn on_call(&self, record: &CallRecord);

    /// Time a call waited for the account's rate budget before being sent.
    fn on_budget_wait(&self, _family: Family, _waited: Duration) {}

    /// What a call is doing while its caller waits (for a progress display).
    fn on_progress(&self, _event: &Progress<'_>) {}
}

/// A step of one logical call, reported as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress<'a> {
    /// An attempt is about to be sent; its [`CallRecord`] follows when it ends.
    Sending {
        family: Family,
        operation: &'static str,
        attempt: u32,
    },
    /// The attempt failed and is repeated after `wait`.
    Retrying {
        family: Family,
        operation: &'static str,
        attempt: u32,
        wait: Duration,
        reason: &'a str,
    },
    /// The call has waited `waited` so far for the account's rate budget.
    Queued {
        family: Family,
        operation: &'static str,
        waited: Duration,
        reason: &'a str,
    },
    /// Qualys throttled the call; it is repeated after `wait`.
    RateLimited {
        family: Family,
        operation: &'static str,
        wait: Duration,
        reason: &'a str,
    },
}

impl<F> CallObserver for F
where
    F: Fn(&CallRecord) + Send + Sync,
{
    fn on_call(&self, record: &CallRecord) {
        self(record)
    }
}
