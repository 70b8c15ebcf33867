//! Prometheus metrics: reconciles per kind and outcome, and every outbound
//! Qualys call by family, operation and outcome (static labels only: never
//! error text, which would make cardinality unbounded).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::qualys::{CallObserver, CallRecord};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub kind: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FamilyLabels {
    pub family: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadyLabels {
    pub kind: &'static str,
    pub ready: &'static str,
}

/// A QualysAccount, `namespace/name`: as many series as accounts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AccountLabels {
    pub account: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub family: &'static str,
    pub operation: &'static str,
    pub outcome: &'static str,
}

/// Every metric the operator exports, registered once.
pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ReconcileLabels, Counter>,
    pub reconcile_duration: Family<KindLabels, Histogram>,
    pub qualys_calls: Family<CallLabels, Counter>,
    pub qualys_call_duration: Family<CallLabels, Histogram>,
    pub leader: Gauge,
    pub budget_wait: Family<FamilyLabels, Counter<f64>>,
    pub managed: Family<ReadyLabels, Gauge>,
    pub budget_per_hour: Family<AccountLabels, Gauge>,
    pub observation_calls: Family<AccountLabels, Gauge>,
    pub effective_resync: Family<AccountLabels, Gauge>,
    pub used_per_hour: Family<AccountLabels, Gauge>,
    /// Last Ready state per object, to keep `managed` exact.
    ready_by_object: std::sync::Mutex<std::collections::HashMap<String, (&'static str, &'static str)>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("qualys_operator");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let reconcile_duration =
            Family::<KindLabels, Histogram>::new_with_constructor(seconds_histogram as fn() -> Histogram);
        let qualys_calls = Family::<CallLabels, Counter>::default();
        let qualys_call_duration =
            Family::<CallLabels, Histogram>::new_with_constructor(seconds_histogram as fn() -> Histogram);
        let leader = Gauge::default();
        let budget_wait = Family::<FamilyLabels, Counter<f64>>::default();
        let managed = Family::<ReadyLabels, Gauge>::default();
        let budget_per_hour = Family::<AccountLabels, Gauge>::default();
        let observation_calls = Family::<AccountLabels, Gauge>::default();
        let effective_resync = Family::<AccountLabels, Gauge>::default();
        let used_per_hour = Family::<AccountLabels, Gauge>::default();
        registry.register("reconciles", "Reconciles by kind and outcome", reconciles.clone());
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            reconcile_duration.clone(),
        );
        registry.register(
            "qualys_calls",
            "Qualys API calls by family, operation and outcome",
            qualys_calls.clone(),
        );
        registry.register(
            "qualys_call_duration_seconds",
            "Qualys API call duration on the wire",
            qualys_call_duration.clone(),
        );
        registry.register("leader", "1 when this replica holds the leader lease", leader.clone());
        registry.register(
            "rate_budget_wait_seconds",
            "Time calls waited for the account's Qualys rate budget",
            budget_wait.clone(),
        );
        registry.register(
            "managed_objects",
            "Objects under management by kind and Ready state",
            managed.clone(),
        );
        registry.register(
            "account_budget_per_hour",
            "Qualys calls per hour the operator may spend for the account (spec.budget, else half the reported limit)",
            budget_per_hour.clone(),
        );
        registry.register(
            "account_observation_calls",
            "Qualys calls one observation of every kind costs for the account",
            observation_calls.clone(),
        );
        registry.register(
            "account_effective_resync_seconds",
            "The default resync interval as stretched to fit the account's budget",
            effective_resync.clone(),
        );
        registry.register(
            "account_used_per_hour",
            "Qualys calls the operator made for the account in the last rate window, per hour",
            used_per_hour.clone(),
        );
        Self {
            registry,
            reconciles,
            reconcile_duration,
            qualys_calls,
            qualys_call_duration,
            leader,
            budget_wait,
            managed,
            budget_per_hour,
            observation_calls,
            effective_resync,
            used_per_hour,
            ready_by_object: Default::default(),
        }
    }
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn reconciled(&self, kind: &'static str, outcome: &'static str, duration: Duration) {
        self.reconciles.get_or_create(&ReconcileLabels { kind, outcome }).inc();
        self.reconcile_duration
            .get_or_create(&KindLabels { kind })
            .observe(duration.as_secs_f64());
    }

    /// Record an object's Ready state (`None`: no longer managed).
    pub fn object_ready(&self, object: &str, kind: &'static str, ready: Option<bool>) {
        let mut map = self.ready_by_object.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, r)) = map.remove(object) {
            self.managed.get_or_create(&ReadyLabels { kind: k, ready: r }).dec();
        }
        if let Some(ready) = ready {
            let r = if ready { "true" } else { "false" };
            self.managed.get_or_create(&ReadyLabels { kind, ready: r }).inc();
            map.insert(object.to_string(), (kind, r));
        }
    }

    /// Total Qualys calls recorded so far (all labels), for summaries.
    pub fn total_qualys_calls(&self) -> u64 {
        let text = self.encode();
        text.lines()
            .filter(|l| l.starts_with("qualys_operator_qualys_calls_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        match prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            Ok(()) => out,
            Err(_) => String::from("# encoding failed\n"),
        }
    }
}

impl CallObserver for Metrics {
    fn on_budget_wait(&self, family: crate::qualys::Family, waited: Duration) {
        if !waited.is_zero() {
            self.budget_wait
                .get_or_create(&FamilyLabels {
                    family: family.as_str(),
                })
                .inc_by(waited.as_secs_f64());
        }
    }

    fn on_call(&self, record: &CallRecord) {
        let labels = CallLabels {
            family: record.family.as_str(),
            operation: record.operation,
            outcome: record.outcome,
        };
        self.qualys_calls.get_or_create(&labels).inc();
        self.qualys_call_duration
            .get_or_create(&labels)
            .observe(record.duration.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qualys::Family as ApiFamily;

    #[test]
    fn calls_are_counted_with_static_labels() {
        let metrics = Metrics::default();
        let record = CallRecord {
            family: ApiFamily::Qps,
            operation: "aws.create",
            outcome: "ok",
            duration: Duration::from_millis(12),
            attempt: 1,
        };
        metrics.on_call(&record);
        metrics.on_call(&record);
        metrics.reconciled("AwsConnector", "ok", Duration::from_millis(3));
        let text = metrics.encode();
        assert!(
            text.contains(r#"qualys_operator_qualys_calls_total{family="qps",operation="aws.create",outcome="ok"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"qualys_operator_reconciles_total{kind="AwsConnector",outcome="ok"} 1"#),
            "{text}"
        );
        assert_eq!(metrics.total_qualys_calls(), 2);
    }

    #[test]
    fn managed_objects_follow_each_objects_latest_state() {
        let metrics = Metrics::default();
        metrics.object_ready("a", "AwsConnector", Some(false));
        metrics.object_ready("a", "AwsConnector", Some(true));
        metrics.object_ready("b", "AwsConnector", Some(true));
        metrics.on_budget_wait(ApiFamily::Qps, Duration::from_millis(1500));
        let text = metrics.encode();
        assert!(
            text.contains(r#"qualys_operator_managed_objects{kind="AwsConnector",ready="true"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"qualys_operator_managed_objects{kind="AwsConnector",ready="false"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"qualys_operator_rate_budget_wait_seconds_total{family="qps"} 1.5"#),
            "{text}"
        );
        metrics.object_ready("b", "AwsConnector", None);
        assert!(
            metrics
                .encode()
                .contains(r#"qualys_operator_managed_objects{kind="AwsConnector",ready="true"} 1"#)
        );
    }
}
