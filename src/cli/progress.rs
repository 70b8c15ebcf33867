//! What a command is waiting for, on stderr: retries and rate-limit waits as
//! they happen, and a line every few seconds while Qualys does not answer. It
//! also names the stuck endpoint when the whole-command `--timeout` expires.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use super::endpoints::ShownEndpoints;
use super::workspace::CliError;
use crate::metrics::Metrics;
use crate::qualys::{CallObserver, CallRecord, Family, Progress};

/// How long a call may be silent before a "still waiting" line, and how often it repeats.
const QUIET: Duration = Duration::from_secs(5);

struct InFlight {
    family: Family,
    operation: &'static str,
    since: Instant,
}

/// The CLI's call observer: counts into [`Metrics`] and reports progress.
pub struct ProgressReporter {
    metrics: Arc<Metrics>,
    endpoints: OnceLock<ShownEndpoints>,
    in_flight: Mutex<Vec<InFlight>>,
    last: Mutex<Option<Family>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ProgressReporter {
    pub fn new(metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            metrics,
            endpoints: OnceLock::new(),
            in_flight: Mutex::new(Vec::new()),
            last: Mutex::new(None),
        })
    }

    /// Known once the client is built; lines before that name the family only.
    pub fn set_endpoints(&self, endpoints: ShownEndpoints) {
        let _ = self.endpoints.set(endpoints);
    }

    /// `QPS http://host` (or just `QPS` before the endpoints are known).
    fn target(&self, family: Family) -> String {
        match self.endpoints.get() {
            Some(e) => format!("{} {}", family.label(), e.url(family)),
            None => family.label().to_string(),
        }
    }

    /// The oldest call still waiting for an answer, for a message.
    pub fn stuck(&self) -> String {
        let now = Instant::now();
        let oldest = lock(&self.in_flight)
            .iter()
            .min_by_key(|c| c.since)
            .map(|c| (c.family, c.operation, now - c.since));
        match (oldest, *lock(&self.last)) {
            (Some((family, operation, waited)), _) => format!(
                "waiting for {} ({operation}), no answer for {} s",
                self.target(family),
                waited.as_secs()
            ),
            (None, Some(family)) => format!("last call to {}", self.target(family)),
            (None, None) => "no call to Qualys was made".into(),
        }
    }

    /// One "still waiting" line when a call has been silent for a while.
    fn tick(&self) {
        let now = Instant::now();
        let oldest = lock(&self.in_flight)
            .iter()
            .filter(|c| now - c.since >= QUIET)
            .min_by_key(|c| c.since)
            .map(|c| (c.family, c.operation, now - c.since));
        if let Some((family, operation, waited)) = oldest {
            eprintln!(
                "... waiting for Qualys: {} ({operation}) has not answered for {} s",
                self.target(family),
                waited.as_secs()
            );
        }
    }

    /// Runs `work` with the "still waiting" lines and, when `limit` is set,
    /// gives up after it with an error naming the endpoint being waited for.
    pub async fn run<T>(
        self: &Arc<Self>,
        limit: Option<Duration>,
        work: impl std::future::Future<Output = Result<T, CliError>>,
    ) -> Result<T, CliError> {
        let me = self.clone();
        let ticker = tokio::spawn(async move {
            let mut every = tokio::time::interval_at(Instant::now() + QUIET, QUIET);
            loop {
                every.tick().await;
                me.tick();
            }
        });
        let result = match limit {
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(result) => result,
                Err(_) => Err(CliError::Timeout(format!(
                    "gave up after {} s (--timeout): {}",
                    limit.as_secs_f64(),
                    self.stuck()
                ))),
            },
            None => work.await,
        };
        ticker.abort();
        result
    }
}

impl CallObserver for ProgressReporter {
    fn on_call(&self, record: &CallRecord) {
        self.metrics.on_call(record);
        let mut in_flight = lock(&self.in_flight);
        if let Some(i) = in_flight
            .iter()
            .position(|c| c.family == record.family && c.operation == record.operation)
        {
            in_flight.remove(i);
        }
    }

    fn on_budget_wait(&self, family: Family, waited: Duration) {
        self.metrics.on_budget_wait(family, waited);
    }

    fn on_progress(&self, event: &Progress<'_>) {
        match *event {
            Progress::Sending { family, operation, .. } => {
                *lock(&self.last) = Some(family);
                lock(&self.in_flight).push(InFlight {
                    family,
                    operation,
                    since: Instant::now(),
                });
            }
            Progress::Retrying {
                family,
                operation,
                attempt,
                wait,
                reason,
            } => eprintln!(
                "... retrying {} ({operation}) in {:.1} s: attempt {attempt} failed: {reason}",
                self.target(family),
                wait.as_secs_f64()
            ),
            Progress::Queued {
                family,
                operation,
                waited,
                reason,
            } => eprintln!(
                "... waiting for the {} rate budget ({operation}) for {} s: {reason}",
                family.label(),
                waited.as_secs()
            ),
            Progress::RateLimited {
                family,
                operation,
                wait,
                reason,
            } => eprintln!(
                "... rate-limited by Qualys on {} ({operation}): waiting {:.0} s ({reason})",
                self.target(family),
                wait.as_secs_f64()
            ),
        }
    }
}
