//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it:
//! a lease duration longer than the renew deadline, longer than the retry
//! period; expiry measured from when *this* replica observed the last change
//! of the lease record, with its own clock (clock skew between nodes decides
//! nothing); a timeout on every lease call; the lease released on shutdown.
//!
//! [`Leadership`] is the fence every Qualys write passes right before it is
//! sent: it is fresh only until the renew deadline after the start of the last
//! successful renewal. A follower takes over no earlier than the lease
//! duration after it saw that renewal, so the old leader has stopped writing
//! before the new one starts, whatever its in-flight reconciles are doing.
//! Losing the lease ends the process: a restart is the simplest way to be sure
//! no reconcile of the old term is still running.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::qualys::fence::WriteFence;

/// Lease timing (client-go defaults: 15 s / 10 s / 2 s).
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    /// How long others wait, from when they saw the last renewal, before taking over.
    pub duration: Duration,
    /// How long the leader keeps writing without a successful renewal.
    pub renew_deadline: Duration,
    /// Pause between attempts to acquire or renew.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// The ordering the safety argument needs: duration > renew deadline > retry period.
    pub fn validate(&self) -> Result<(), String> {
        if self.duration <= self.renew_deadline {
            return Err(format!(
                "--lease-duration ({:?}) must be longer than --lease-renew-deadline ({:?})",
                self.duration, self.renew_deadline
            ));
        }
        if self.renew_deadline <= self.retry_period {
            return Err(format!(
                "--lease-renew-deadline ({:?}) must be longer than --lease-retry-period ({:?})",
                self.renew_deadline, self.retry_period
            ));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("lease {namespace}/{name}: {source}")]
    Kube {
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

/// This replica's right to write to Qualys.
#[derive(Debug)]
pub struct Leadership {
    /// `None`: no election (a single replica), always allowed.
    valid_until: Option<Mutex<Option<Instant>>>,
}

impl Leadership {
    /// Without leader election every write is allowed.
    pub fn unelected() -> Arc<Self> {
        Arc::new(Self { valid_until: None })
    }

    /// Elected: no write until the lease is held.
    pub fn elected() -> Arc<Self> {
        Arc::new(Self {
            valid_until: Some(Mutex::new(None)),
        })
    }

    fn set(&self, until: Option<Instant>) {
        if let Some(slot) = &self.valid_until
            && let Ok(mut v) = slot.lock()
        {
            *v = until;
        }
    }

    /// Whether writes are allowed now.
    pub fn is_fresh(&self) -> bool {
        match &self.valid_until {
            None => true,
            Some(slot) => slot
                .lock()
                .ok()
                .and_then(|v| *v)
                .is_some_and(|until| Instant::now() < until),
        }
    }
}

impl WriteFence for Leadership {
    fn check(&self) -> Result<(), String> {
        if self.is_fresh() {
            Ok(())
        } else {
            Err("this replica does not hold a fresh leader lease".into())
        }
    }
}

/// The lease record as last seen, and when this replica saw it change.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    record: (Option<String>, Option<MicroTime>, Option<i32>),
    at: Instant,
}

/// What one attempt concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term {
    Leading,
    Following,
}

fn holder_of(lease: &Lease) -> String {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.clone())
        .unwrap_or_default()
}

/// Try to acquire or renew once. `seen` tracks the record for expiry.
async fn attempt(api: &Api<Lease>, cfg: &LeaseConfig, seen: &mut Option<Seen>) -> Result<Term, kube::Error> {
    let duration_secs = i32::try_from(cfg.duration.as_secs().max(1)).unwrap_or(i32::MAX);
    let now = MicroTime(Timestamp::now());
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(cfg.name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(duration_secs),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(Term::Leading),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Term::Following),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let record = (
        spec.holder_identity.clone(),
        spec.renew_time.clone(),
        spec.lease_duration_seconds,
    );
    let observed_at = match seen {
        Some(s) if s.record == record => s.at,
        _ => Instant::now(),
    };
    *seen = Some(Seen {
        record,
        at: observed_at,
    });
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let held_for =
        Duration::from_secs(u64::try_from(spec.lease_duration_seconds.unwrap_or(duration_secs)).unwrap_or(u64::MAX));
    // Expiry by this replica's clock, from when it saw the record change.
    let expired = observed_at.elapsed() >= held_for;
    if holder != cfg.identity && !holder.is_empty() && !expired {
        return Ok(Term::Following);
    }
    if holder != cfg.identity {
        spec.holder_identity = Some(cfg.identity.clone());
        spec.acquire_time = Some(now.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.renew_time = Some(now);
    spec.lease_duration_seconds = Some(duration_secs);
    // `replace` carries resourceVersion: a concurrent writer makes this a 409.
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(Term::Leading),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Term::Following),
        Err(e) => Err(e),
    }
}

/// Gives the lease up so a follower takes over at its next attempt instead
/// of after a whole lease duration (a rolling update would wait that long).
async fn release(api: &Api<Lease>, cfg: &LeaseConfig) {
    let released = async {
        let mut lease = api.get(&cfg.name).await?;
        if holder_of(&lease) != cfg.identity {
            return Ok(());
        }
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        api.replace(&cfg.name, &PostParams::default(), &lease).await.map(|_| ())
    };
    match tokio::time::timeout(cfg.retry_period, released).await {
        Ok(Ok(())) => tracing::info!(lease = %cfg.name, "released leadership"),
        Ok(Err(e)) => tracing::warn!(lease = %cfg.name, error = %e, "could not release the lease"),
        Err(_) => tracing::warn!(lease = %cfg.name, "releasing the lease timed out"),
    }
}

fn timed_out() -> kube::Error {
    kube::Error::Service(Box::new(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "lease call timed out",
    )))
}

/// Run the election until the lease is lost or `shutdown` turns true.
/// `leading` turns true once the lease is held; on return the fence is closed
/// (and on shutdown the lease released): the caller should exit.
pub async fn run(
    client: Client,
    cfg: LeaseConfig,
    leadership: Arc<Leadership>,
    leading: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), LeaderError> {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let mut seen = None;
    // Start of the last successful renewal, while leading.
    let mut renewed_at: Option<Instant> = None;
    let result = loop {
        let started = Instant::now();
        // A renewal may not outlive the renew deadline; an acquisition may not
        // outlive the retry period.
        let budget = match renewed_at {
            Some(at) => cfg.renew_deadline.saturating_sub(at.elapsed()),
            None => cfg.retry_period,
        };
        let outcome = tokio::select! {
            r = tokio::time::timeout(budget, attempt(&api, &cfg, &mut seen)) => r.unwrap_or_else(|_| Err(timed_out())),
            _ = shutdown.wait_for(|s| *s) => break Ok(()),
        };
        match (outcome, renewed_at) {
            (Ok(Term::Leading), was) => {
                if was.is_none() {
                    tracing::info!(lease = %cfg.name, identity = %cfg.identity, "acquired leadership");
                }
                renewed_at = Some(started);
                leadership.set(Some(started + cfg.renew_deadline));
                leading.send_replace(true);
            }
            (Ok(Term::Following), Some(_)) => {
                tracing::error!(lease = %cfg.name, "lost leadership to another replica");
                break Ok(());
            }
            (Ok(Term::Following), None) => {}
            (Err(e), Some(at)) if at.elapsed() >= cfg.renew_deadline => {
                tracing::error!(lease = %cfg.name, error = %e, "could not renew the lease within the renew deadline");
                break Err(LeaderError::Kube {
                    namespace: cfg.namespace.clone(),
                    name: cfg.name.clone(),
                    source: e,
                });
            }
            (Err(e), _) => {
                tracing::warn!(lease = %cfg.name, error = %e, "lease call failed; retrying");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(cfg.retry_period) => {}
            _ = shutdown.wait_for(|s| *s) => break Ok(()),
        }
    };
    // Close the fence before anything else: no write of this term from now on.
    leadership.set(None);
    leading.send_replace(false);
    if renewed_at.is_some() {
        release(&api, &cfg).await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_fence_closes_at_the_renew_deadline_without_a_renewal() {
        let leadership = Leadership::elected();
        assert!(leadership.check().is_err(), "no write before the lease is held");
        leadership.set(Some(Instant::now() + Duration::from_secs(10)));
        assert!(leadership.check().is_ok());
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(leadership.is_fresh());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!leadership.is_fresh(), "stale at the renew deadline");
        assert!(Leadership::unelected().is_fresh(), "a single replica always writes");
    }

    #[test]
    fn timings_must_be_ordered() {
        let cfg = |d, r, p| LeaseConfig {
            name: "l".into(),
            namespace: "n".into(),
            identity: "i".into(),
            duration: Duration::from_secs(d),
            renew_deadline: Duration::from_secs(r),
            retry_period: Duration::from_secs(p),
        };
        assert!(cfg(15, 10, 2).validate().is_ok());
        assert!(cfg(10, 10, 2).validate().is_err());
        assert!(cfg(15, 2, 2).validate().is_err());
    }
}
