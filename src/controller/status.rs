//! Status: computed from the plan, the executor's outcome and the snapshot,
//! then written by server-side apply under a stable field manager, and only
//! when it differs from what the object already shows.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde_json::{Map, Value, json};

use super::conditions::{Reason, Verdict, conditions};
use crate::qualys::QualysError;
use crate::reconcile::execute::{Applied, ExecError};
use crate::reconcile::object::Kind;
use crate::reconcile::plan::{Action, ObjectPlan};
use crate::reconcile::snapshot::Snapshot;

pub const FIELD_MANAGER: &str = "qualys-operator.io/controller";

/// Connector states Qualys reports while a sync is under way.
const IN_PROGRESS: &[&str] = &["QUEUED", "RUNNING", "PROCESSING", "PENDING"];
/// States Qualys' own tools treat as failed.
const FAILED: &[&str] = &["FINISHED_ERRORS", "ERROR", "INCOMPLETE"];

/// The reason a Qualys error is reported under.
pub fn reason_for(error: &QualysError) -> Reason {
    match error.category() {
        "unauthorized" => Reason::CredentialsInvalid,
        "rate_limited" => Reason::Throttled,
        _ => Reason::QualysError,
    }
}

fn exec_reason(error: &ExecError) -> Reason {
    match error {
        ExecError::Qualys { source, .. } => reason_for(source),
        ExecError::Input { .. } => Reason::InvalidSpec,
        ExecError::Intent { .. } => Reason::CreateDeferred,
        ExecError::Guard { .. } => Reason::CreateIncomplete,
    }
}

/// What the reconcile concluded, from its plan and outcome.
pub fn verdict(
    plan: &ObjectPlan,
    applied: &Applied,
    state: Option<&str>,
    qualys_error: Option<&str>,
    paused: bool,
) -> Verdict {
    if paused {
        return Verdict {
            ready: false,
            synced: true,
            reason: Reason::Paused,
            message: "qualys-operator.io/paused is set".into(),
        };
    }
    if let Some(e) = &applied.failure {
        return Verdict::failed(exec_reason(e), e.to_string());
    }
    for action in &plan.actions {
        match action {
            Action::Conflict { reason } => return Verdict::failed(Reason::Conflict, reason.clone()),
            Action::NotFound { reason } => return Verdict::failed(Reason::NotFound, reason.clone()),
            Action::ReportDrift { changes, .. } => {
                let fields: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
                return Verdict {
                    ready: false,
                    synced: true,
                    reason: Reason::DriftDetected,
                    message: format!("Qualys differs in {} (ObserveOnly: not corrected)", fields.join(", ")),
                };
            }
            _ => {}
        }
    }
    match state {
        Some(s) if FAILED.contains(&s) => Verdict {
            ready: false,
            synced: true,
            reason: Reason::QualysError,
            message: format!("Qualys reports {s}: {}", qualys_error.unwrap_or("no detail")),
        },
        Some("DISABLED") => Verdict::available("disabled in Qualys, as the spec says"),
        Some(s) if IN_PROGRESS.contains(&s) => Verdict {
            ready: false,
            synced: true,
            reason: Reason::Creating,
            message: format!("Qualys is synchronising the connector ({s})"),
        },
        _ => Verdict::available("Qualys matches the spec"),
    }
}

/// Facts for status that come from Qualys.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    pub state: Option<String>,
    pub last_error: Option<String>,
    pub last_sync: Option<String>,
    pub next_sync: Option<String>,
    /// Kind-specific read-only values, already in status field names.
    pub extra: Map<String, Value>,
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|v| !v.trim().is_empty())
}

/// What the snapshot says about `id`.
pub fn observed(kind: Kind, snap: &Snapshot, id: Option<&str>) -> Observed {
    let Some(id) = id else { return Observed::default() };
    let mut o = Observed::default();
    if let Some(cloud) = kind.cloud() {
        if let Some(c) = snap.connector(cloud, id) {
            o.state = c.connector_state.clone();
            o.last_error = non_empty(&c.last_error);
            o.last_sync = c.last_sync.clone();
            o.next_sync = c.next_sync.clone();
            let mut put = |k: &str, v: &Option<String>| {
                if let Some(v) = non_empty(v) {
                    o.extra.insert(k.into(), Value::String(v));
                }
            };
            put("cloudviewUuid", &c.cloudview_uuid);
            if kind == Kind::Aws {
                put("awsAccountId", &c.aws_account_id);
                put("qualysAwsAccountId", &c.qualys_aws_account_id);
            }
            if kind == Kind::Azure {
                put("subscriptionName", &c.subscription_name);
            }
        }
        return o;
    }
    match kind {
        Kind::AzureOrg => {
            if let Some(d) = snap.org(id) {
                o.state = d.org.state.clone();
                o.last_error = non_empty(&d.org.last_error);
                o.last_sync = d.org.last_synced.clone();
                o.next_sync = d.org.next_sync.clone();
                if let Some(v) = non_empty(&d.org.organization_id) {
                    o.extra.insert("organizationId".into(), Value::String(v));
                }
                if let Some(v) = non_empty(&d.org.uuid) {
                    o.extra.insert("uuid".into(), Value::String(v));
                }
                let members: Vec<Value> = d.members.iter().map(|m| json!({"id": m})).collect();
                if !members.is_empty() {
                    o.extra.insert("members".into(), Value::Array(members));
                }
            }
        }
        Kind::Group => {
            if let Some(g) = snap.group(id) {
                let members: Vec<Value> = g
                    .connectors
                    .iter()
                    .map(|m| {
                        json!({
                            "cloudType": m.cloud_type.clone().unwrap_or_default().to_uppercase(),
                            "accountIdentifier": m.account_identifier.clone().unwrap_or_default(),
                            "connectorUuid": m.connector_uuid,
                        })
                    })
                    .collect();
                if !members.is_empty() {
                    o.extra.insert("members".into(), Value::Array(members));
                }
            }
        }
        Kind::Report => {
            // Only a full read carries it (see `reconcile::report`).
            if let Some(v) = snap.report_details.get(id).and_then(|r| non_empty(&r.created_on)) {
                o.extra.insert("createdOn".into(), Value::String(v));
            }
        }
        _ => {}
    }
    o
}

/// Everything the status subresource will say.
pub struct StatusInput<'a> {
    pub previous: &'a Value,
    pub generation: Option<i64>,
    pub verdict: &'a Verdict,
    pub external_id: Option<String>,
    pub observed: Observed,
    pub last_run_requested_at: Option<String>,
    pub secret_hash: Option<String>,
    pub now: Timestamp,
}

/// The new `status` object. Unchanged facts keep their previous values, so an
/// unchanged object yields an identical status and no write.
pub fn build_status(input: StatusInput<'_>) -> Value {
    let previous_conditions: Vec<Condition> = input
        .previous
        .get("conditions")
        .cloned()
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default();
    let conds = conditions(&previous_conditions, input.verdict, input.generation, input.now);
    let mut status = Map::new();
    status.insert("conditions".into(), serde_json::to_value(conds).unwrap_or(Value::Null));
    if let Some(g) = input.generation {
        status.insert("observedGeneration".into(), json!(g));
    }
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            status.insert(k.into(), Value::String(v));
        }
    };
    put("externalId", input.external_id);
    put("state", input.observed.state);
    let last_error = if input.verdict.synced {
        input.observed.last_error
    } else {
        Some(input.verdict.message.clone())
    };
    put("lastError", last_error);
    put("lastSync", input.observed.last_sync);
    put("nextSync", input.observed.next_sync);
    put("lastRunRequestedAt", input.last_run_requested_at);
    put("secretHash", input.secret_hash);
    status.extend(input.observed.extra);
    Value::Object(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(actions: Vec<Action>) -> ObjectPlan {
        ObjectPlan {
            object: "AwsConnector/ns/a".into(),
            external_id: Some("1".into()),
            actions,
            notes: vec![],
        }
    }

    #[test]
    fn verdicts_name_a_reason_a_person_can_act_on() {
        let applied = Applied::default();
        assert_eq!(
            verdict(&plan(vec![]), &applied, Some("FINISHED_SUCCESS"), None, false).reason,
            Reason::Available
        );
        assert_eq!(
            verdict(&plan(vec![]), &applied, Some("QUEUED"), None, false).reason,
            Reason::Creating
        );
        let v = verdict(
            &plan(vec![]),
            &applied,
            Some("FINISHED_ERRORS"),
            Some("bad role"),
            false,
        );
        assert_eq!((v.reason, v.ready, v.synced), (Reason::QualysError, false, true));
        assert!(v.message.contains("bad role"));
        let conflict = plan(vec![Action::Conflict { reason: "two".into() }]);
        assert_eq!(verdict(&conflict, &applied, None, None, false).reason, Reason::Conflict);
        assert_eq!(
            verdict(&plan(vec![]), &applied, None, None, true).reason,
            Reason::Paused
        );
        let failed = Applied {
            failure: Some(ExecError::Qualys {
                action: "update".into(),
                source: QualysError::Unauthorized { message: "no".into() },
            }),
            ..Applied::default()
        };
        assert_eq!(
            verdict(&plan(vec![]), &failed, None, None, false).reason,
            Reason::CredentialsInvalid
        );
    }

    #[test]
    fn an_unchanged_object_produces_an_identical_status() {
        let verdict = Verdict::available("ok");
        let make = |previous: &Value, secs: i64| {
            build_status(StatusInput {
                previous,
                generation: Some(3),
                verdict: &verdict,
                external_id: Some("7".into()),
                observed: Observed {
                    state: Some("FINISHED_SUCCESS".into()),
                    ..Observed::default()
                },
                last_run_requested_at: None,
                secret_hash: Some("sha256:x".into()),
                now: Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH),
            })
        };
        let first = make(&Value::Null, 100);
        let second = make(&first, 200);
        assert_eq!(first, second);
        assert_eq!(first["externalId"], "7");
        assert_eq!(first["conditions"][0]["type"], "Ready");
    }
}
