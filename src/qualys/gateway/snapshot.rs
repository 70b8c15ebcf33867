//! Snapshot-based scan registration on the gateway (`/conn/snapshot/v1.0/...`,
//! Bearer JWT) [001:7203-7353]: an AWS account that has a CloudView connector
//! is registered as a "service account" with a Quartz schedule; a scan of every
//! registered account can be started at once; and the registration removed.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::qualys::client::{QualysClient, Rest, json_body};
use crate::qualys::cron::validate_quartz_cron;
use crate::qualys::error::QualysError;
use crate::qualys::lenient::{self, de};
use crate::qualys::observer::Family;
use crate::qualys::transport::Safety;

const BASE: &str = "/conn/snapshot/v1.0";

/// An instance tag the scans are limited to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotTag {
    pub tag_key: String,
    pub tag_value: String,
}

/// The register-service-account body in the sample's shape [001:7246-7257]:
/// `{"accountId", "schedule", "tags": [{"tagKey", "tagValue"}]}`.
///
/// The parameter table of the same page lists flat `tagkey`, `tagvalue`,
/// `tagkey1`, `tagvalue1` instead of `tags` [001:7225-7231] (Q-SNAP-1), which
/// suggests at most two tags. The sample is what a server was seen to take,
/// so it is what is sent; no limit on the number of tags is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// The AWS account id (12 digits; kept as text so leading zeros survive).
    pub account_id: String,
    /// A Quartz cron expression, see [`crate::qualys::cron`].
    pub schedule: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<SnapshotTag>,
}

/// What register-service-account did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// 200 or 201: registered now.
    Registered,
    /// 304 "Already Registered" [001:7268]. Qualys keeps the registration it
    /// has: a different schedule or tags in this request were not applied.
    /// After a retried request this may be the first attempt's registration.
    AlreadyRegistered,
}

/// What deregister-service-account did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeregisterOutcome {
    /// 204 [001:7350].
    Deregistered,
    /// 404 "Service account not found" [001:7351]: nothing was registered, so
    /// the end state a delete wants holds already.
    NotRegistered,
}

/// One account a snapshot run covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TargetAccount {
    #[serde(deserialize_with = "de::opt_string", alias = "accountId")]
    pub aws_account_id: Option<String>,
    /// Documented as a 7-character placeholder [001:7299]; read as text
    /// whether a number or a string arrives.
    #[serde(deserialize_with = "de::opt_string")]
    pub connector_id: Option<String>,
}

/// The answer of register-scanner-run [001:7294-7311].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SnapshotRun {
    #[serde(deserialize_with = "de::list")]
    pub target_accounts: Vec<TargetAccount>,
    /// AWS region → scanner AMI id.
    #[serde(deserialize_with = "amis")]
    pub amis: BTreeMap<String, String>,
}

impl SnapshotRun {
    pub fn covers(&self, aws_account_id: &str) -> bool {
        self.target_accounts
            .iter()
            .any(|t| t.aws_account_id.as_deref().map(str::trim) == Some(aws_account_id.trim()))
    }
}

/// A region → AMI object; entries without a usable value are dropped rather
/// than failing the whole answer.
fn amis<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?.unwrap_or(Value::Null);
    Ok(match v {
        Value::Object(map) => map
            .into_iter()
            .filter_map(|(region, ami)| lenient::token(&ami).map(|ami| (region, ami)))
            .collect(),
        _ => BTreeMap::new(),
    })
}

/// Refuses, before sending, what Qualys would only answer with its unspecific 400.
fn check(registration: &Registration) -> Result<(), QualysError> {
    let invalid = |field: &str, message: String| QualysError::InvalidRequest {
        code: "CLIENT".into(),
        field: Some(field.into()),
        message,
    };
    if registration.account_id.trim().is_empty() {
        return Err(invalid("accountId", "the AWS account id is required".into()));
    }
    validate_quartz_cron(&registration.schedule).map_err(|e| invalid("schedule", e.to_string()))?;
    if let Some(tag) = registration.tags.iter().find(|t| t.tag_key.trim().is_empty()) {
        return Err(invalid(
            "tags",
            format!("a tag filter needs a key (value {:?})", tag.tag_value),
        ));
    }
    Ok(())
}

/// A 304 reaches the decoder as an error (`rest` hands only 2xx to it), with
/// no body, so `http_error` calls it `HTTP_304`. Qualys' words are accepted
/// too, whatever status carries them.
fn says_already_registered(err: &QualysError) -> bool {
    let words = |m: &str| m.to_ascii_lowercase().contains("already registered");
    match err {
        QualysError::InvalidRequest { code, message, .. } => code == "HTTP_304" || words(message),
        QualysError::Conflict { message } => words(message),
        _ => false,
    }
}

fn register_outcome(
    account_id: &str,
    result: Result<RegisterOutcome, QualysError>,
) -> Result<RegisterOutcome, QualysError> {
    match result {
        Err(e) if says_already_registered(&e) => Ok(RegisterOutcome::AlreadyRegistered),
        // 404 "Connector not found" [001:7271].
        Err(QualysError::NotFound { message }) => Err(QualysError::NotFound {
            message: format!(
                "AWS account {account_id} has no connector in Qualys; create an AWS connector with the \
                 CloudView app for that account first (Qualys: {message})"
            ),
        }),
        // 400 "Incorrect Params or connector is not cloudview" [001:7269]. The
        // parameters were checked before sending, so the connector is the likely cause.
        Err(QualysError::InvalidRequest { code, field, message }) => Err(QualysError::InvalidRequest {
            code,
            field,
            message: format!(
                "Qualys refused to register AWS account {account_id} for snapshot scans: the account's \
                 connector is not CloudView-enabled (activate the CloudView app on it), or a parameter is \
                 invalid (Qualys: {message})"
            ),
        }),
        other => other,
    }
}

impl QualysClient {
    /// Registers an AWS account for snapshot-based scans on `schedule`.
    ///
    /// Safety: a repeat answers 304, so the call is idempotent and may be
    /// retried after an unclear failure (the retry then reports
    /// [`RegisterOutcome::AlreadyRegistered`]).
    pub async fn register_service_account(&self, registration: &Registration) -> Result<RegisterOutcome, QualysError> {
        check(registration)?;
        let url = self.gateway_url(&format!("{BASE}/register-service-account"))?;
        let body = serde_json::to_value(registration).map_err(|e| QualysError::Config {
            message: format!("cannot encode request: {e}"),
        })?;
        let result = self
            .rest(
                Rest {
                    family: Family::Gateway,
                    operation: "snapshot.register",
                    method: Method::POST,
                    url,
                    body: Some(body),
                    safety: Safety::Idempotent,
                },
                // The success text [001:7261] carries nothing more than the status.
                |reply| {
                    Ok(if reply.text().to_ascii_lowercase().contains("already registered") {
                        RegisterOutcome::AlreadyRegistered
                    } else {
                        RegisterOutcome::Registered
                    })
                },
            )
            .await;
        register_outcome(&registration.account_id, result)
    }

    /// Starts a snapshot scan of every registered account at once.
    ///
    /// A `GET` that changes things: each call starts scans (Q-SNAP-5), so it
    /// is a write to the governor and the write fence (`Safety::Unsafe`), and
    /// never repeated after the request may have arrived. A 429 [001:7323] is
    /// a throttle and waited out like any other (nothing ran).
    pub async fn run_snapshot_scan(&self) -> Result<SnapshotRun, QualysError> {
        let url = self.gateway_url(&format!("{BASE}/register-scanner-run"))?;
        self.rest(
            Rest {
                family: Family::Gateway,
                operation: "snapshot.run",
                method: Method::GET,
                url,
                body: None,
                safety: Safety::Unsafe,
            },
            |reply| json_body(&reply),
        )
        .await
        .map_err(|e| match e {
            // 404 "Service account not found" [001:7321].
            QualysError::NotFound { message } => QualysError::NotFound {
                message: format!("no AWS account is registered for snapshot scans (Qualys: {message})"),
            },
            other => other,
        })
    }

    /// Removes the registration. The call names no account [001:7337-7342]:
    /// it is the customer's one registration that goes (Q-SNAP-4).
    ///
    /// Safety: idempotent, because a repeat answers 404, which is reported as
    /// [`DeregisterOutcome::NotRegistered`] rather than an error.
    pub async fn deregister_service_account(&self) -> Result<DeregisterOutcome, QualysError> {
        let url = self.gateway_url(&format!("{BASE}/deregister-service-account"))?;
        let result = self
            .rest(
                Rest {
                    family: Family::Gateway,
                    operation: "snapshot.deregister",
                    method: Method::DELETE,
                    url,
                    body: None,
                    safety: Safety::Idempotent,
                },
                |_| Ok(DeregisterOutcome::Deregistered),
            )
            .await;
        match result {
            Err(QualysError::NotFound { message }) => {
                tracing::debug!(%message, "no snapshot service account to deregister");
                Ok(DeregisterOutcome::NotRegistered)
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;
    use serde_json::json;

    use super::*;
    use crate::qualys::transport::http_error;

    fn registration(schedule: &str) -> Registration {
        Registration {
            account_id: "951234567875".into(),
            schedule: schedule.into(),
            tags: vec![SnapshotTag {
                tag_key: "Owner".into(),
                tag_value: "test".into(),
            }],
        }
    }

    /// The request sample [001:7246-7257], with its account placeholder.
    #[test]
    fn the_body_is_the_documented_sample() {
        let ours = serde_json::to_value(Registration {
            account_id: "95xxxxxxxxx75".into(),
            ..registration("0 0 2 ? * * *")
        })
        .unwrap();
        let sample: Value = serde_json::from_str(
            r#"{
  "accountId": "95xxxxxxxxx75",
  "schedule": "0 0 2 ? * * *",
  "tags": [
    {
      "tagKey": "Owner",
      "tagValue": "test"
    }
  ]
}"#,
        )
        .unwrap();
        assert_eq!(ours, sample);
        let untagged = serde_json::to_value(Registration {
            tags: vec![],
            ..registration("0 0 2 ? * * *")
        })
        .unwrap();
        assert_eq!(
            untagged,
            json!({"accountId": "951234567875", "schedule": "0 0 2 ? * * *"})
        );
    }

    /// The response sample [001:7294-7311], its doubled opening `{` removed.
    #[test]
    fn the_documented_run_answer_decodes() {
        let run: SnapshotRun = serde_json::from_str(
            r#"{
  "targetAccounts": [
    {
      "awsAccountId": "95xxxxxxxxx75",
      "connectorId": "xxxxxxx"
    }
  ],
  "amis": {
    "ap-northeast-1": "ami-06xxxxxxxxxxa3",
    "ap-northeast-2": "ami-05xxxxxxxxxx26",
    "ap-northeast-3": "ami-07xxxxxxxxxxe7",
    "ap-south-1": "ami-05xxxxxxxxxxxx02",
    "ap-southeast-1": "ami-09xxxxxxxxxxf5"
  }
}"#,
        )
        .unwrap();
        assert_eq!(
            run.target_accounts,
            vec![TargetAccount {
                aws_account_id: Some("95xxxxxxxxx75".into()),
                connector_id: Some("xxxxxxx".into()),
            }]
        );
        assert!(run.covers("95xxxxxxxxx75") && !run.covers("123"));
        assert_eq!(run.amis.len(), 5);
        assert_eq!(run.amis["ap-south-1"], "ami-05xxxxxxxxxxxx02");
    }

    #[test]
    fn run_answers_are_read_leniently() {
        let run: SnapshotRun = serde_json::from_value(json!({
            "targetAccounts": {"awsAccountId": 951234567875u64, "connectorId": 1680606},
            "amis": {"us-east-1": "ami-1", "eu-west-1": null, "x": ""},
        }))
        .unwrap();
        assert_eq!(run.target_accounts[0].aws_account_id.as_deref(), Some("951234567875"));
        assert_eq!(run.target_accounts[0].connector_id.as_deref(), Some("1680606"));
        assert_eq!(run.amis.keys().collect::<Vec<_>>(), vec!["us-east-1"]);
        let empty: SnapshotRun = serde_json::from_value(json!({"targetAccounts": null, "amis": []})).unwrap();
        assert_eq!(empty, SnapshotRun::default());
    }

    #[test]
    fn bad_registrations_are_refused_before_sending() {
        assert_eq!(check(&registration("0 0 2 ? * * *")), Ok(()));
        for (reg, field, needle) in [
            (registration("0 2 * * *"), "schedule", "Unix cron"),
            (registration("0 0 2 * * * *"), "schedule", "exactly one"),
            (
                Registration {
                    account_id: " ".into(),
                    ..registration("0 0 2 ? * * *")
                },
                "accountId",
                "required",
            ),
            (
                Registration {
                    tags: vec![SnapshotTag {
                        tag_key: "".into(),
                        tag_value: "x".into(),
                    }],
                    ..registration("0 0 2 ? * * *")
                },
                "tags",
                "needs a key",
            ),
        ] {
            match check(&reg) {
                Err(QualysError::InvalidRequest {
                    field: Some(f),
                    message,
                    ..
                }) => {
                    assert_eq!(f, field);
                    assert!(message.contains(needle), "{message}");
                }
                other => panic!("{reg:?}: {other:?}"),
            }
        }
    }

    /// The documented statuses [001:7263-7271] as the transport turns them
    /// into errors, then into outcomes.
    #[test]
    fn documented_register_statuses_become_outcomes_or_named_errors() {
        let gw = |status: u16, body: &str| {
            Err(http_error(
                Family::Gateway,
                StatusCode::from_u16(status).unwrap(),
                body.as_bytes(),
            ))
        };
        let account = "951234567875";
        assert_eq!(
            register_outcome(account, gw(304, "")),
            Ok(RegisterOutcome::AlreadyRegistered),
            "304 has no body: the status alone must say it"
        );
        assert_eq!(
            register_outcome(account, gw(400, "Already Registered")),
            Ok(RegisterOutcome::AlreadyRegistered)
        );
        assert_eq!(
            register_outcome(account, Ok(RegisterOutcome::Registered)),
            Ok(RegisterOutcome::Registered)
        );
        for body in [
            "Connector not found",
            r#"{"responseCode":"NOT_FOUND","responseMessage":"Connector not found"}"#,
        ] {
            match register_outcome(account, gw(404, body)) {
                Err(QualysError::NotFound { message }) => {
                    assert!(message.contains(account) && message.contains("CloudView"), "{message}");
                    assert!(message.contains("Connector not found"), "{message}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        for body in [
            "Incorrect Params or connector is not cloudview",
            r#"{"responseCode":"BAD_REQUEST","responseMessage":"Incorrect Params or connector is not cloudview"}"#,
        ] {
            match register_outcome(account, gw(400, body)) {
                Err(QualysError::InvalidRequest { message, .. }) => {
                    assert!(message.contains("not CloudView-enabled"), "{message}");
                    assert!(message.contains("connector is not cloudview"), "{message}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        assert!(matches!(
            register_outcome(account, gw(401, "Invalid customer or back office entry not exists.")),
            Err(QualysError::Unauthorized { .. })
        ));
    }
}
