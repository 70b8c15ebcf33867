//! Snapshot-based scan registration (`/conn/snapshot/v1.0/...`, Bearer)
//! [001:7203-7353]: register an AWS account that has a CloudView connector,
//! run a scan of every registered account, deregister.
//!
//! Where the docs are silent (inferred, simulator choices):
//! - Registrations belong to the customer (the tenant), keyed by AWS account id.
//! - Register checks the parameters first (400 "Incorrect Params or connector
//!   is not cloudview" [001:7269], with the cause appended), then the account's
//!   connector (404 "Connector not found" [001:7271] when the account has no AWS
//!   connector, the 400 when none of its connectors is a CloudView one), then
//!   answers 304 "Already Registered" [001:7268] with no body (HTTP allows none)
//!   for an account already registered, whatever schedule or tags this request
//!   carries: there is no update, the first registration stays.
//! - Both tag shapes are taken: the sample's `tags: [{tagKey, tagValue}]`
//!   [001:7250-7255] and the table's flat `tagkey`/`tagvalue`/`tagkey1`/
//!   `tagvalue1` [001:7228-7231] (Q-SNAP-1); a key without its value, or the
//!   reverse, is a 400.
//! - A new registration answers 201 and the documented text [001:7261].
//! - Run answers 404 "Service account not found" [001:7321] when nothing is
//!   registered; `connectorId` is the QPS connector id, whose 7 digits match
//!   the sample's 7-character placeholder [001:7299]. Each run is counted per
//!   account (admin API).
//! - Deregister names no account [001:7337-7342] and speaks of "your registered
//!   service account" [001:7331]: the customer's one registration, so every
//!   registered account goes at once. 204 with no body (a 204 has none, though
//!   the docs print "Successfully deregistered." [001:7346]); 404 when nothing is
//!   registered. Refusing when several accounts are registered would need a
//!   status the docs do not list for this call.
//! - Errors use the gateway's `responseCode`/`responseMessage` body with the
//!   documented texts.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{GwError, GwResult, parse_body, quartz, stable_uuid};
use crate::simulator::clock::Millis;
use crate::simulator::config::UserSpec;
use crate::simulator::error::SimError;
use crate::simulator::http;
use crate::simulator::server::{Incoming, Shared, SimHandle};
use crate::simulator::state::{CloudKind, Tenant};

const INCORRECT: &str = "Incorrect Params or connector is not cloudview";
const REGISTERED: &str = "Successfully registered the service account";

/// Regions the run answer lists scanner AMIs for: the sample's five [001:7302-7308] and a few more.
const AMI_REGIONS: [&str; 8] = [
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "eu-west-1",
    "us-east-1",
    "us-west-2",
];

/// An instance tag a registration limits its scans to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanTag {
    pub tag_key: String,
    pub tag_value: String,
}

/// An AWS account registered for snapshot-based scans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotAccount {
    pub account_id: String,
    pub schedule: String,
    pub tags: Vec<ScanTag>,
    /// The QPS id of the account's CloudView connector at registration.
    pub connector_id: String,
    pub registered: Millis,
    /// Scans started by register-scanner-run.
    pub runs: u64,
    pub last_run: Option<Millis>,
}

fn incorrect(detail: impl std::fmt::Display) -> GwError {
    GwError::bad_request(format!("{INCORRECT}: {detail}"))
}

/// A field by its exact name, else ignoring ASCII case (`tagKey` / `tagkey`).
fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    obj.get(key)
        .or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

fn text(v: &Value, key: &str) -> Result<Option<String>, GwError> {
    match field(v, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(incorrect(format!("{key} must be a string"))),
    }
}

fn pair(v: &Value, key: &str, value: &str) -> Result<Option<ScanTag>, GwError> {
    match (text(v, key)?, text(v, value)?) {
        (Some(tag_key), Some(tag_value)) => Ok(Some(ScanTag { tag_key, tag_value })),
        (None, None) => Ok(None),
        _ => Err(incorrect(format!("{key} and {value} go together"))),
    }
}

fn tags(body: &Value) -> Result<Vec<ScanTag>, GwError> {
    let mut out = Vec::new();
    match field(body, "tags") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                if !item.is_object() {
                    return Err(incorrect("tags must hold {tagKey, tagValue} objects"));
                }
                out.extend(pair(item, "tagKey", "tagValue")?);
            }
        }
        Some(_) => return Err(incorrect("tags must be an array")),
    }
    for suffix in ["", "1"] {
        out.extend(pair(body, &format!("tagkey{suffix}"), &format!("tagvalue{suffix}"))?);
    }
    Ok(out)
}

/// The parameters of a registration: (account id, schedule, tags).
fn parse(body: &Value) -> Result<(String, String, Vec<ScanTag>), GwError> {
    if !body.is_object() {
        return Err(incorrect("a JSON object is expected"));
    }
    let account = text(body, "accountId")?.ok_or_else(|| incorrect("accountId is required"))?;
    let schedule = match field(body, "schedule") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => return Err(incorrect("schedule is required (a cron expression)")),
    };
    quartz::check(&schedule).map_err(|e| incorrect(format!("schedule: {e}")))?;
    Ok((account, schedule, tags(body)?))
}

/// The QPS id of a CloudView connector of the AWS account.
fn cloudview_connector(tenant: &Tenant, account: &str) -> Result<u64, GwError> {
    let mut aws = tenant
        .connectors
        .values()
        .filter(|c| c.kind == CloudKind::Aws && !tenant.out_of_scope.contains(&c.id) && c.aws_account_id() == account)
        .peekable();
    if aws.peek().is_none() {
        return Err(GwError::not_found("Connector not found"));
    }
    aws.find(|c| c.cloudview_uuid.is_some())
        .map(|c| c.id)
        .ok_or_else(|| GwError::bad_request(INCORRECT))
}

fn register(tenant: &mut Tenant, now: Millis, body: &Value) -> GwResult {
    let (account_id, schedule, tags) = parse(body)?;
    let connector = cloudview_connector(tenant, &account_id)?;
    if tenant.snapshot_accounts.contains_key(&account_id) {
        return Ok(http::empty(304));
    }
    tenant.snapshot_accounts.insert(
        account_id.clone(),
        SnapshotAccount {
            account_id,
            schedule,
            tags,
            connector_id: connector.to_string(),
            registered: now,
            runs: 0,
            last_run: None,
        },
    );
    Ok(http::text(201, REGISTERED))
}

fn ami(region: &str) -> String {
    let hex = stable_uuid(&format!("snapshot-scanner-{region}")).replace('-', "");
    format!("ami-0{}", &hex[..16])
}

fn run(tenant: &mut Tenant, now: Millis) -> GwResult {
    if tenant.snapshot_accounts.is_empty() {
        return Err(GwError::not_found("Service account not found"));
    }
    let targets: Vec<Value> = tenant
        .snapshot_accounts
        .values_mut()
        .map(|a| {
            a.runs += 1;
            a.last_run = Some(now);
            json!({ "awsAccountId": a.account_id, "connectorId": a.connector_id })
        })
        .collect();
    let amis: serde_json::Map<String, Value> = AMI_REGIONS.iter().map(|r| (r.to_string(), json!(ami(r)))).collect();
    Ok(http::json(200, &json!({ "targetAccounts": targets, "amis": amis })))
}

fn deregister(tenant: &mut Tenant) -> GwResult {
    if tenant.snapshot_accounts.is_empty() {
        return Err(GwError::not_found("Service account not found"));
    }
    tenant.snapshot_accounts.clear();
    Ok(http::empty(204))
}

/// `rest` is the path after `/conn/snapshot/v1.0/`.
pub fn route(shared: &Shared, user: &UserSpec, incoming: &Incoming, rest: &str) -> GwResult {
    let now = shared.clock.now();
    let mut inner = shared.lock();
    let tenant = inner.world.tenant(user.tenant());
    match (incoming.method.as_str(), rest.trim_end_matches('/')) {
        ("POST", "register-service-account") => {
            let body = parse_body(incoming).map_err(|e| incorrect(e.message))?;
            register(tenant, now, &body)
        }
        ("GET", "register-scanner-run") => run(tenant, now),
        ("DELETE", "deregister-service-account") => deregister(tenant),
        (method, "register-service-account" | "register-scanner-run" | "deregister-service-account") => Err(GwError {
            status: 405,
            code: "METHOD_NOT_ALLOWED",
            message: format!("{method} is not allowed here"),
        }),
        _ => Err(GwError::not_found("unknown API")),
    }
}

/// A registration made outside the API (the Qualys UI), replacing any of the
/// same account (its run count stays). The body is a register body plus an
/// optional `connectorId`; without one, the account's CloudView connector is
/// used if it has one. The schedule must still be valid.
fn seed(shared: &Shared, tenant: &str, body: &Value) -> Result<(), SimError> {
    let (account_id, schedule, tags) = parse(body).map_err(|e| SimError::BadRequest(e.message))?;
    let now = shared.clock.now();
    let mut inner = shared.lock();
    let t = inner.world.tenant(tenant);
    let connector_id = text(body, "connectorId")
        .ok()
        .flatten()
        .or_else(|| cloudview_connector(t, &account_id).ok().map(|id| id.to_string()))
        .unwrap_or_default();
    let (runs, last_run) = t
        .snapshot_accounts
        .get(&account_id)
        .map_or((0, None), |a| (a.runs, a.last_run));
    t.snapshot_accounts.insert(
        account_id.clone(),
        SnapshotAccount {
            account_id,
            schedule,
            tags,
            connector_id,
            registered: now,
            runs,
            last_run,
        },
    );
    Ok(())
}

fn accounts(shared: &Shared, tenant: &str) -> Vec<SnapshotAccount> {
    shared
        .lock()
        .world
        .tenants
        .get(tenant)
        .map(|t| t.snapshot_accounts.values().cloned().collect())
        .unwrap_or_default()
}

/// `/_sim/tenants/{tenant}/snapshot`: `GET` the registrations with their run
/// counts, `POST` seeds one (see [`seed`]), `DELETE` removes them all.
pub fn admin(shared: &Shared, method: &str, tenant: &str, body: &[u8]) -> Result<Value, SimError> {
    match method {
        "GET" => Ok(json!({ "serviceAccounts": accounts(shared, tenant) })),
        "POST" | "PUT" => {
            let body: Value =
                serde_json::from_slice(body).map_err(|e| SimError::BadRequest(format!("invalid JSON: {e}")))?;
            seed(shared, tenant, &body)?;
            Ok(json!({ "ok": true }))
        }
        "DELETE" => {
            shared.lock().world.tenant(tenant).snapshot_accounts.clear();
            Ok(json!({ "ok": true }))
        }
        _ => Err(SimError::NotFound(format!(
            "no admin endpoint {method} /_sim/tenants/{tenant}/snapshot"
        ))),
    }
}

impl SimHandle {
    /// The tenant's snapshot registrations, with how often each was scanned.
    pub fn snapshot_accounts(&self, tenant: &str) -> Vec<SnapshotAccount> {
        accounts(&self.shared, tenant)
    }

    /// Registers an account as if by hand in Qualys (see [`seed`]):
    /// `{"accountId", "schedule", "tags"?, "connectorId"?}`.
    pub fn seed_snapshot_account(&self, tenant: &str, registration: Value) -> Result<(), SimError> {
        seed(&self.shared, tenant, &registration)
    }

    pub fn clear_snapshot_accounts(&self, tenant: &str) {
        self.shared.lock().world.tenant(tenant).snapshot_accounts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tag_shapes_read_the_same() {
        let sample = json!({
            "accountId": "951234567875",
            "schedule": "0 0 2 ? * * *",
            "tags": [{"tagKey": "Owner", "tagValue": "test"}]
        });
        let flat = json!({
            "accountId": 951234567875u64,
            "schedule": "0 0 2 ? * * *",
            "tagkey": "Owner",
            "tagvalue": "test"
        });
        let want = (
            "951234567875".to_string(),
            "0 0 2 ? * * *".to_string(),
            vec![ScanTag {
                tag_key: "Owner".into(),
                tag_value: "test".into(),
            }],
        );
        assert_eq!(parse(&sample), Ok(want.clone()));
        assert_eq!(parse(&flat), Ok(want));
        let two = json!({
            "accountId": "1", "schedule": "0 0 2 ? * *",
            "tagkey": "a", "tagvalue": "1", "tagKey1": "b", "tagValue1": "2"
        });
        assert_eq!(parse(&two).map(|p| p.2.len()), Ok(2));
    }

    #[test]
    fn incorrect_params_say_the_documented_text() {
        for body in [
            json!({"schedule": "0 0 2 ? * * *"}),
            json!({"accountId": "1"}),
            json!({"accountId": "1", "schedule": "0 2 * * *"}),
            json!({"accountId": "1", "schedule": "0 0 2 ? * * *", "tags": {"tagKey": "a"}}),
            json!({"accountId": "1", "schedule": "0 0 2 ? * * *", "tags": [{"tagKey": "a"}]}),
            json!({"accountId": "1", "schedule": "0 0 2 ? * * *", "tagvalue1": "x"}),
            json!(["not", "an", "object"]),
        ] {
            match parse(&body) {
                Err(e) => {
                    assert_eq!(e.status, 400, "{body}");
                    assert!(e.message.starts_with(INCORRECT), "{body}: {}", e.message);
                }
                Ok(p) => panic!("{body} parsed as {p:?}"),
            }
        }
    }

    #[test]
    fn amis_are_stable_and_shaped_like_ami_ids() {
        assert_eq!(ami("us-east-1"), ami("us-east-1"));
        assert_ne!(ami("us-east-1"), ami("eu-west-1"));
        assert!(ami("us-east-1").starts_with("ami-0") && ami("us-east-1").len() == 21);
    }
}
