//! Leader election on a `coordination.k8s.io/v1` Lease, with optimistic
//! concurrency on every write so two replicas can never both believe they lead.
//! Losing the lease ends the process: a restart is the simplest way to be sure
//! no reconcile of the old term is still running.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;

/// Lease timing: a leader renews every `renew`, others take over once the
/// lease is `duration` old.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    pub duration: Duration,
    pub renew: Duration,
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

/// What one attempt concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term {
    Leading,
    Following,
}

/// Try to acquire or renew once.
async fn attempt(api: &Api<Lease>, cfg: &LeaseConfig, now: Timestamp) -> Result<Term, kube::Error> {
    let duration_secs = i32::try_from(cfg.duration.as_secs()).unwrap_or(i32::MAX);
    let existing = api.get_opt(&cfg.name).await?;
    let Some(mut lease) = existing else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(cfg.name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(duration_secs),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
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
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let expired = spec.renew_time.as_ref().is_none_or(|t| {
        let secs = i64::from(spec.lease_duration_seconds.unwrap_or(duration_secs));
        now.as_second() - t.0.as_second() > secs
    });
    if holder != cfg.identity && !holder.is_empty() && !expired {
        return Ok(Term::Following);
    }
    if holder != cfg.identity {
        spec.holder_identity = Some(cfg.identity.clone());
        spec.acquire_time = Some(MicroTime(now));
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.renew_time = Some(MicroTime(now));
    spec.lease_duration_seconds = Some(duration_secs);
    // `replace` carries resourceVersion: a concurrent writer makes this a 409.
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(Term::Leading),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Term::Following),
        Err(e) => Err(e),
    }
}

/// Run the election forever. `leading` turns true once the lease is held; the
/// function returns (and the caller should exit) when it is lost.
pub async fn run(client: Client, cfg: LeaseConfig, leading: watch::Sender<bool>) -> Result<(), LeaderError> {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let retry = Duration::from_secs(2);
    let mut held_since_renew: Option<tokio::time::Instant> = None;
    loop {
        let term = attempt(&api, &cfg, Timestamp::now()).await;
        match (term, held_since_renew) {
            (Ok(Term::Leading), _) => {
                if held_since_renew.is_none() {
                    tracing::info!(lease = %cfg.name, identity = %cfg.identity, "acquired leadership");
                }
                held_since_renew = Some(tokio::time::Instant::now());
                leading.send_replace(true);
                tokio::time::sleep(cfg.renew).await;
            }
            (Ok(Term::Following), Some(_)) => {
                tracing::error!(lease = %cfg.name, "lost leadership to another replica");
                leading.send_replace(false);
                return Ok(());
            }
            (Ok(Term::Following), None) => tokio::time::sleep(retry).await,
            (Err(e), Some(since)) if since.elapsed() >= cfg.duration => {
                leading.send_replace(false);
                return Err(LeaderError::Kube {
                    namespace: cfg.namespace.clone(),
                    name: cfg.name.clone(),
                    source: e,
                });
            }
            (Err(e), _) => {
                tracing::warn!(lease = %cfg.name, error = %e, "lease renewal failed; retrying");
                tokio::time::sleep(retry).await;
            }
        }
    }
}
