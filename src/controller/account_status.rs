//! `QualysAccount` status: can the operator log in, and which portal version
//! answers. One cheap call per resync; no finalizer (nothing in Qualys to clean up).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use super::conditions::{Reason, Verdict, conditions};
use super::context::{Shared, jitter};
use super::reconciler::Error;
use super::status::{FIELD_MANAGER, reason_for};
use crate::crd::QualysAccount;
use crate::metrics::AccountLabels;
use crate::qualys::Family;

pub struct AccountContext {
    pub shared: Arc<Shared>,
}

pub async fn reconcile(account: Arc<QualysAccount>, ctx: Arc<AccountContext>) -> Result<Requeue, Error> {
    let namespace = account.namespace().unwrap_or_default();
    let name = account.name_any();
    let shared = &ctx.shared;
    let (verdict, version, rate) = match shared.accounts.resolve(&namespace, &name).await {
        Err(e) => (Verdict::failed(Reason::ReferenceNotReady, e.to_string()), None, None),
        Ok(resolved) => {
            let (verdict, version) = match resolved.client.portal_version().await {
                Ok(v) => (
                    Verdict::available("logged in to Qualys"),
                    v.portal().map(str::to_string),
                ),
                Err(e) => (Verdict::failed(reason_for(&e), e.to_string()), None),
            };
            // The connector API's budget: every connector kind spends it.
            let governor = resolved.client.governor();
            let reported = governor.reported(Family::Qps);
            let usage = governor.share().usage(reported.as_ref());
            let effective = super::budget::effective_resync(shared, &resolved, shared.settings.resync);
            (verdict, version, Some((reported, usage, effective)))
        }
    };
    let previous = serde_json::to_value(&account.status)?;
    let previous_conditions: Vec<Condition> =
        serde_json::from_value(previous.get("conditions").cloned().unwrap_or(Value::Null)).unwrap_or_default();
    let mut status = json!({
        "conditions": conditions(&previous_conditions, &verdict, account.metadata.generation, Timestamp::now()),
        "observedGeneration": account.metadata.generation,
    });
    if let Some(v) = version {
        status["portalVersion"] = Value::String(v);
    }
    if let Some((_, usage, effective)) = &rate {
        let labels = AccountLabels {
            account: format!("{namespace}/{name}"),
        };
        let metrics = &shared.metrics;
        if let Some(share) = effective.share_per_hour {
            metrics.budget_per_hour.get_or_create(&labels).set(share.floor() as i64);
        }
        metrics
            .observation_calls
            .get_or_create(&labels)
            .set(i64::from(effective.calls_per_cycle));
        metrics
            .effective_resync
            .get_or_create(&labels)
            .set(i64::try_from(effective.interval.as_secs()).unwrap_or(i64::MAX));
        if let Some(usage) = usage {
            metrics
                .used_per_hour
                .get_or_create(&labels)
                .set(i64::from(usage.per_hour()));
        }
    }
    if let Some((reported, usage, effective)) = rate {
        let mut rate = json!({
            "observationCalls": effective.calls_per_cycle,
            "effectiveResyncInterval": format_duration(effective.interval),
        });
        if let Some(share) = effective.share_per_hour {
            rate["budgetPerHour"] = json!(share.floor() as u64);
        }
        if let Some(usage) = usage {
            rate["usedPerHour"] = json!(usage.per_hour());
            rate["budgetWaitSeconds"] = json!(usage.longest_wait.as_secs());
        }
        if let Some(reported) = reported {
            rate["limit"] = json!(reported.limit);
            rate["remaining"] = json!(reported.remaining);
            rate["windowSeconds"] = json!(reported.window.map(|w| w.as_secs()));
        }
        status["rateLimit"] = rate;
    }
    if !verdict.synced {
        status["lastError"] = Value::String(verdict.message.clone());
    }
    let comparable = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.retain(|_, x| !x.is_null());
        }
        v
    };
    if comparable(&previous) != comparable(&status) {
        let api: Api<QualysAccount> = Api::namespaced(shared.client.clone(), &namespace);
        let patch = json!({"apiVersion": "qualys-operator.io/v1alpha1", "kind": "QualysAccount", "status": status});
        api.patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
            .await?;
    }
    let wait = if verdict.ready {
        shared.settings.resync
    } else {
        Duration::from_secs(60)
    };
    Ok(Requeue::requeue(jitter(wait)))
}

pub fn error_policy(_: Arc<QualysAccount>, error: &Error, _: Arc<AccountContext>) -> Requeue {
    tracing::warn!(error = %error, "QualysAccount reconcile failed");
    Requeue::requeue(jitter(Duration::from_secs(30)))
}

/// `1h2m3s`-style, as `spec.resyncInterval` is written.
fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}
