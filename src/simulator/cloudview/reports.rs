//! CloudView v1 report configurations (seed 002 lines 1823-2404): list, get, data,
//! create, patch and delete, with a fixed catalogue of mandates and policies.
//!
//! Documented behaviour reproduced: configuration answers carry every key and
//! `accounts[].id` is `null` [002:2109] [002:2218] [002:2343], while list items show
//! the connector id there [002:1861] and only `reportId`, `title`, `type`, `format`,
//! `accounts` [002:1840-1864]; `mandateId` is accepted as a number or text
//! [002:2200] [002:2329] and answered as text [002:2234]; DELETE takes a JSON array of
//! ids and answers 204 [002:2372-2392]; paging is 0-based (Q-V1-1).
//!
//! Simulator choices where the docs are silent:
//! * `type` is `MANDATE` [002:1856] or `POLICY` (the other kind is never spelled),
//!   exactly; `format` is `ON_SCREEN` only [002:2184-2185]; anything else is a 400.
//! * A MANDATE report needs a mandate of the catalogue; its policies are optional
//!   (the sample's mandate report has two [002:2193-2199]) but must be known. A
//!   POLICY report needs at least one known policy; a `mandateId` on it is dropped
//!   (answered `null`).
//! * At least one account, each naming (`cloudType`, `accountId`) of a CloudView
//!   connector the user can see, as group membership requires; otherwise a 400 that
//!   names them. `id` in the body is ignored (the PATCH sample sends the id the list
//!   shows for another account [002:2313] [002:1861-1862]); a missing `name` becomes
//!   the connector's name. Repeated accounts or policies count once.
//! * Titles need not be unique (nothing says they must).
//! * PATCH merges: a key left out keeps its value, `null` clears it, lists are
//!   replaced whole; the result is validated like a create. `type` and `mandateId`
//!   are treated as fixed (nothing in [002:2238-2361] shows them changing); what a
//!   change of either does is set per tenant ([`FixedFieldChange`], admin API).
//!   `createdOn` and `reportId` stay; the answer names the patched report (the
//!   documented answer names another [002:2330-2336]).
//! * DELETE is all or nothing: any unknown id is a 404 naming the unknown ones and
//!   nothing is deleted; an empty array or a body that is not an array of ids is a 400.
//! * Report data is served at `/reports/report_data/{id}` as the table names it (its
//!   sample calls the configuration path, Q-V1-7): the catalogue's mandate and a
//!   summary; the simulator has no evaluations, so the requirement tree is empty.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{CvError, CvResult, paging, spring_page};
use crate::simulator::clock::{self, Millis};
use crate::simulator::error::SimError;
use crate::simulator::http;
use crate::simulator::server::{Incoming, Shared, SimHandle};
use crate::simulator::state::{CloudKind, Connector, Tenant};

/// What a PATCH (not the admin API) does with a `type` or `mandateId` unlike the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FixedFieldChange {
    /// 400: the operator must delete and create (the safe reading).
    #[default]
    Reject,
    /// 200 with the old values kept, silently.
    Ignore,
    /// The new values are taken like any other field.
    Apply,
}

/// An account of a report: the connector of (`cloudType`, `accountId`) when stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportAccount {
    pub cloud_type: String,
    pub account_id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportPolicy {
    pub policy_id: String,
    pub cloud_type: String,
}

/// One report configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub report_id: String,
    pub title: String,
    pub report_type: String,
    pub format: String,
    pub description: Option<String>,
    pub mandate_id: Option<u64>,
    pub accounts: Vec<ReportAccount>,
    pub policies: Vec<ReportPolicy>,
    pub created_on: Millis,
}

/// A tenant's report configurations and how its PATCH treats fixed fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Reports {
    pub configs: Vec<Report>,
    pub on_fixed_field_change: FixedFieldChange,
}

struct MandateEntry {
    id: u64,
    name: &'static str,
    publisher: Option<&'static str>,
    version: Option<&'static str>,
    release_date: Option<&'static str>,
    last_modified: Option<&'static str>,
}

/// The mandates of the sample [002:1908-1921]; details only where the report data
/// sample gives them [002:1975-1982].
const MANDATES: [MandateEntry; 3] = [
    MandateEntry {
        id: 2481,
        name: "Cloud Controls Matrix (CCM)",
        publisher: Some("Cloud Security Alliance (CSA)"),
        version: Some("Ver 3.0.1"),
        release_date: Some("2016-10-05T00:00:00.000+0000"),
        last_modified: Some("2018-05-28T11:20:10.000+0000"),
    },
    MandateEntry {
        id: 2441,
        name: "Payment Card Industry Data Security Standard (PCI-DSS)",
        publisher: None,
        version: None,
        release_date: None,
        last_modified: None,
    },
    MandateEntry {
        id: 2443,
        name: "ISO/IEC 27001:2013",
        publisher: None,
        version: None,
        release_date: None,
        last_modified: None,
    },
];

/// The policies of the sample [002:1938-1955]: (id, title, cloudType).
const POLICIES: [(&str, &str, &str); 2] = [
    (
        "1b8a3200-dbb3-11e7-b820-0518e3f8c979",
        "AWS Best Practices Policy",
        "AWS",
    ),
    (
        "68dc5320-8677-11e8-9d84-85bffa8eeea9",
        "CIS Amazon Web Services Foundations Benchmark",
        "AWS",
    ),
];

const MANDATE: &str = "MANDATE";
const POLICY: &str = "POLICY";
const ON_SCREEN: &str = "ON_SCREEN";

fn bad(message: impl Into<String>) -> CvError {
    CvError::new(400, message)
}

fn not_found(id: &str) -> CvError {
    CvError::new(404, format!("Report {id} not found"))
}

/// A visible CloudView connector of that cloud and account.
fn connector<'a>(tenant: &'a Tenant, cloud_type: &str, account: &str) -> Option<&'a Connector> {
    tenant
        .connectors
        .values()
        .filter(|c| {
            c.kind.type_name() == cloud_type && c.cloudview_uuid.is_some() && !tenant.out_of_scope.contains(&c.id)
        })
        .find(|c| c.account_identifier().is_some_and(|a| a.eq_ignore_ascii_case(account)))
}

fn account_json(a: &ReportAccount, id: Option<String>) -> Value {
    json!({ "name": a.name, "id": id, "accountId": a.account_id, "cloudType": a.cloud_type })
}

/// The configuration answer of get, create and patch.
fn config_json(r: &Report) -> Value {
    json!({
        "reportId": r.report_id,
        "title": r.title,
        "type": r.report_type,
        "format": r.format,
        "accounts": r.accounts.iter().map(|a| account_json(a, None)).collect::<Vec<_>>(),
        "description": r.description,
        "policies": r.policies.iter()
            .map(|p| json!({ "policyId": p.policy_id, "cloudType": p.cloud_type }))
            .collect::<Vec<_>>(),
        "mandateId": r.mandate_id.map(|m| m.to_string()),
        "createdOn": clock::cloudview_time(r.created_on),
    })
}

/// Accounts with the connector id filled in, as the list and the report data show them.
fn accounts_with_ids(r: &Report, tenant: &Tenant) -> Vec<Value> {
    r.accounts
        .iter()
        .map(|a| {
            let id = connector(tenant, &a.cloud_type, &a.account_id).and_then(|c| c.cloudview_uuid.clone());
            account_json(a, id)
        })
        .collect()
}

fn list_item_json(r: &Report, tenant: &Tenant) -> Value {
    json!({
        "reportId": r.report_id,
        "title": r.title,
        "type": r.report_type,
        "format": r.format,
        "accounts": accounts_with_ids(r, tenant),
    })
}

/// The report data: the mandate and the summary; no evaluations exist in the
/// simulator, so the requirement tree is empty and every count of it zero.
fn data_json(r: &Report, tenant: &Tenant) -> Value {
    let mandate = r.mandate_id.and_then(|id| MANDATES.iter().find(|m| m.id == id));
    json!({
        "mandate": mandate.map(|m| json!({
            "id": m.id, "name": m.name, "publisher": m.publisher, "version": m.version,
            "releaseDate": m.release_date, "lastModified": m.last_modified,
        })),
        "requirements": [],
        "summary": {
            "mandatesCount": usize::from(mandate.is_some()),
            "requirementsCount": 0,
            "mandateName": mandate.map(|m| m.name),
            "mandatePassPercent": 0,
            "accounts": accounts_with_ids(r, tenant),
            "controlsCount": 0,
            "totalEvaluationsCount": 0,
            "policiesCount": r.policies.len(),
        },
    })
}

fn mandates_json() -> Value {
    MANDATES.iter().map(|m| json!({ "id": m.id, "name": m.name })).collect()
}

fn policies_json() -> Value {
    POLICIES
        .iter()
        .map(|(id, title, cloud)| json!({ "id": id, "title": title, "cloudType": cloud }))
        .collect()
}

/// A scalar field as Jackson would bind it to a `String`: text, numbers and booleans
/// as text, `null` as nothing.
fn scalar(v: &Value, key: &str) -> Result<Option<String>, CvError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(bad(format!("{key} must be a string"))),
    }
}

fn objects<'a>(v: &'a Value, key: &str) -> Result<Vec<&'a Map<String, Value>>, CvError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_object().ok_or_else(|| bad(format!("{key} must hold objects"))))
            .collect(),
        _ => Err(bad(format!("{key} must be an array"))),
    }
}

fn member(obj: &Map<String, Value>, key: &str, list: &str) -> Result<Option<String>, CvError> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => Ok(scalar(v, &format!("{list}[].{key}"))?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())),
    }
}

#[derive(Debug, Clone, Default)]
struct AccountIn {
    cloud_type: Option<String>,
    account_id: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct PolicyIn {
    policy_id: Option<String>,
    cloud_type: Option<String>,
}

/// A configuration before validation: a stored report, then a body merged over it.
#[derive(Debug, Clone, Default)]
struct Draft {
    title: Option<String>,
    report_type: Option<String>,
    format: Option<String>,
    description: Option<String>,
    mandate_id: Option<String>,
    accounts: Vec<AccountIn>,
    policies: Vec<PolicyIn>,
}

impl Draft {
    fn of(r: &Report) -> Self {
        Self {
            title: Some(r.title.clone()),
            report_type: Some(r.report_type.clone()),
            format: Some(r.format.clone()),
            description: r.description.clone(),
            mandate_id: r.mandate_id.map(|m| m.to_string()),
            accounts: r
                .accounts
                .iter()
                .map(|a| AccountIn {
                    cloud_type: Some(a.cloud_type.clone()),
                    account_id: Some(a.account_id.clone()),
                    name: Some(a.name.clone()),
                })
                .collect(),
            policies: r
                .policies
                .iter()
                .map(|p| PolicyIn {
                    policy_id: Some(p.policy_id.clone()),
                    cloud_type: Some(p.cloud_type.clone()),
                })
                .collect(),
        }
    }

    /// Keys present replace, `null` clears; unknown keys are ignored (Spring's
    /// default), read-only ones (`reportId`, `createdOn`) too.
    fn merge(&mut self, body: &Map<String, Value>) -> Result<(), CvError> {
        for (key, v) in body {
            match key.as_str() {
                "title" => self.title = scalar(v, key)?,
                "type" => self.report_type = scalar(v, key)?,
                "format" => self.format = scalar(v, key)?,
                "description" => self.description = scalar(v, key)?,
                "mandateId" => self.mandate_id = scalar(v, key)?,
                "accounts" => {
                    self.accounts = objects(v, key)?
                        .into_iter()
                        .map(|o| {
                            Ok(AccountIn {
                                cloud_type: member(o, "cloudType", key)?,
                                account_id: member(o, "accountId", key)?,
                                name: member(o, "name", key)?,
                            })
                        })
                        .collect::<Result<_, CvError>>()?;
                }
                "policies" => {
                    self.policies = objects(v, key)?
                        .into_iter()
                        .map(|o| {
                            Ok(PolicyIn {
                                policy_id: member(o, "policyId", key)?,
                                cloud_type: member(o, "cloudType", key)?,
                            })
                        })
                        .collect::<Result<_, CvError>>()?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn validate(self, tenant: &Tenant, report_id: String, created_on: Millis) -> Result<Report, CvError> {
        let title = self
            .title
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| bad("title is required"))?;
        let format = self.format.unwrap_or_default();
        if format != ON_SCREEN {
            return Err(bad(format!("format {format:?} is not supported: only ON_SCREEN is")));
        }
        let report_type = self.report_type.unwrap_or_default();
        if report_type != MANDATE && report_type != POLICY {
            return Err(bad(format!("type {report_type:?} is not supported: MANDATE or POLICY")));
        }
        let policies = validate_policies(self.policies)?;
        let mandate_id = if report_type == MANDATE {
            let text = self
                .mandate_id
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .ok_or_else(|| bad("mandateId is required for a MANDATE report"))?;
            let id = text
                .parse::<u64>()
                .ok()
                .filter(|id| MANDATES.iter().any(|m| m.id == *id))
                .ok_or_else(|| bad(format!("mandateId {text} is not a supported mandate")))?;
            Some(id)
        } else {
            if policies.is_empty() {
                return Err(bad("a POLICY report needs at least one policy"));
            }
            None
        };
        let accounts = validate_accounts(self.accounts, tenant)?;
        Ok(Report {
            report_id,
            title,
            report_type,
            format,
            description: self.description,
            mandate_id,
            accounts,
            policies,
            created_on,
        })
    }
}

fn validate_policies(policies: Vec<PolicyIn>) -> Result<Vec<ReportPolicy>, CvError> {
    let mut out: Vec<ReportPolicy> = Vec::new();
    let mut unknown = Vec::new();
    for p in policies {
        let id = p.policy_id.ok_or_else(|| bad("policies[].policyId is required"))?;
        let Some((known, _, cloud)) = POLICIES.iter().find(|(known, _, _)| known.eq_ignore_ascii_case(&id)) else {
            unknown.push(id);
            continue;
        };
        if let Some(given) = &p.cloud_type
            && !given.eq_ignore_ascii_case(cloud)
        {
            return Err(bad(format!("policy {id} is a {cloud} policy, not {given}")));
        }
        if !out.iter().any(|o| o.policy_id == *known) {
            out.push(ReportPolicy {
                policy_id: (*known).to_string(),
                cloud_type: (*cloud).to_string(),
            });
        }
    }
    if !unknown.is_empty() {
        return Err(bad(format!("Unknown policy id(s): {}", unknown.join(", "))));
    }
    Ok(out)
}

fn validate_accounts(accounts: Vec<AccountIn>, tenant: &Tenant) -> Result<Vec<ReportAccount>, CvError> {
    if accounts.is_empty() {
        return Err(bad("accounts must name at least one account"));
    }
    let mut out: Vec<ReportAccount> = Vec::new();
    let mut unknown = Vec::new();
    for a in accounts {
        let (Some(cloud), Some(account_id)) = (a.cloud_type, a.account_id) else {
            return Err(bad("accounts[] need cloudType and accountId"));
        };
        let cloud = cloud.to_ascii_uppercase();
        if !matches!(
            CloudKind::from_type_name(&cloud),
            Some(CloudKind::Aws | CloudKind::Azure | CloudKind::Gcp)
        ) {
            return Err(bad(format!("cloudType {cloud:?} must be AWS, AZURE or GCP")));
        }
        let Some(c) = connector(tenant, &cloud, &account_id) else {
            unknown.push(format!("{cloud}/{account_id}"));
            continue;
        };
        let seen = out
            .iter()
            .any(|o| o.cloud_type == cloud && o.account_id.eq_ignore_ascii_case(&account_id));
        if !seen {
            out.push(ReportAccount {
                name: a.name.unwrap_or_else(|| c.name.clone()),
                cloud_type: cloud,
                account_id,
            });
        }
    }
    if !unknown.is_empty() {
        return Err(bad(format!(
            "No CloudView connector for account(s): {}",
            unknown.join(", ")
        )));
    }
    Ok(out)
}

fn body_object(body: &[u8]) -> Result<Map<String, Value>, CvError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(bad("the body must be a JSON object")),
        Err(e) => Err(bad(format!("invalid JSON body: {e}"))),
    }
}

/// The body's `type` / `mandateId` where they differ from the stored report's.
fn fixed_field_changes(r: &Report, body: &Map<String, Value>) -> Result<Vec<&'static str>, CvError> {
    let mut changed = Vec::new();
    if let Some(v) = body.get("type")
        && scalar(v, "type")?.as_deref() != Some(r.report_type.as_str())
    {
        changed.push("type");
    }
    if r.report_type == MANDATE
        && let Some(v) = body.get("mandateId")
    {
        let given = scalar(v, "mandateId")?.map(|m| m.trim().to_string());
        if given != r.mandate_id.map(|m| m.to_string()) {
            changed.push("mandateId");
        }
    }
    Ok(changed)
}

fn find<'a>(tenant: &'a Tenant, id: &str) -> Result<&'a Report, CvError> {
    tenant
        .reports
        .configs
        .iter()
        .find(|r| r.report_id.eq_ignore_ascii_case(id))
        .ok_or_else(|| not_found(id))
}

fn create(tenant: &mut Tenant, body: &[u8], now: Millis) -> Result<Report, CvError> {
    create_with_id(tenant, &body_object(body)?, uuid::Uuid::new_v4().to_string(), now)
}

fn create_with_id(tenant: &mut Tenant, body: &Map<String, Value>, id: String, now: Millis) -> Result<Report, CvError> {
    let mut draft = Draft::default();
    draft.merge(body)?;
    let report = draft.validate(tenant, id, now)?;
    tenant.reports.configs.push(report.clone());
    Ok(report)
}

/// Merges `body` over the report; `rule` says what to do with fixed fields.
fn update(
    tenant: &mut Tenant,
    id: &str,
    mut body: Map<String, Value>,
    rule: FixedFieldChange,
) -> Result<Report, CvError> {
    let stored = find(tenant, id)?.clone();
    let changed = fixed_field_changes(&stored, &body)?;
    if !changed.is_empty() {
        match rule {
            FixedFieldChange::Reject => {
                return Err(bad(format!(
                    "{} of a report cannot be changed; create a new report",
                    changed.join(" and ")
                )));
            }
            FixedFieldChange::Ignore => {
                for key in &changed {
                    body.remove(*key);
                }
            }
            FixedFieldChange::Apply => {}
        }
    }
    let mut draft = Draft::of(&stored);
    draft.merge(&body)?;
    let report = draft.validate(tenant, stored.report_id.clone(), stored.created_on)?;
    if let Some(slot) = tenant
        .reports
        .configs
        .iter_mut()
        .find(|r| r.report_id == stored.report_id)
    {
        *slot = report.clone();
    }
    Ok(report)
}

fn delete(tenant: &mut Tenant, body: &[u8]) -> CvResult {
    let ids: Vec<String> = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(|s| s.trim().to_string())
                    .ok_or_else(|| bad("report ids must be strings"))
            })
            .collect::<Result<_, _>>()?,
        Ok(_) => return Err(bad("the body must be a JSON array of report ids")),
        Err(e) => return Err(bad(format!("invalid JSON body: {e}"))),
    };
    if ids.is_empty() {
        return Err(bad("no report ids given"));
    }
    let unknown: Vec<&str> = ids
        .iter()
        .filter(|id| find(tenant, id).is_err())
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(CvError::new(
            404,
            format!("Report(s) not found: {}", unknown.join(", ")),
        ));
    }
    tenant
        .reports
        .configs
        .retain(|r| !ids.iter().any(|id| id.eq_ignore_ascii_case(&r.report_id)));
    Ok(http::empty(204))
}

/// Everything under `/cloudview-api/rest/v1/reports`; `rest` is the path after it.
pub fn route(tenant: &mut Tenant, incoming: &Incoming, rest: &[&str], now: Millis) -> CvResult {
    let method = incoming.method.as_str();
    match (method, rest) {
        ("GET", []) => {
            let (number, size) = paging(&incoming.query)?;
            let items = tenant
                .reports
                .configs
                .iter()
                .map(|r| list_item_json(r, tenant))
                .collect();
            Ok(http::json(200, &spring_page(items, number, size)))
        }
        ("POST", []) => Ok(http::json(200, &config_json(&create(tenant, &incoming.body, now)?))),
        ("DELETE", []) => delete(tenant, &incoming.body),
        ("GET", ["mandates"]) => Ok(http::json(200, &mandates_json())),
        ("GET", ["policies"]) => Ok(http::json(200, &policies_json())),
        ("GET", ["report_data", id]) => Ok(http::json(200, &data_json(find(tenant, id)?, tenant))),
        ("GET", [id]) => Ok(http::json(200, &config_json(find(tenant, id)?))),
        ("PATCH", [id]) => {
            let rule = tenant.reports.on_fixed_field_change;
            let body = body_object(&incoming.body)?;
            Ok(http::json(200, &config_json(&update(tenant, id, body, rule)?)))
        }
        (_, [] | [_] | ["report_data", _]) => Err(CvError::new(405, "Request method not supported")),
        _ => Err(CvError::new(404, "No handler found")),
    }
}

fn sim_error(e: CvError) -> SimError {
    if e.status == 404 {
        SimError::NotFound(e.message)
    } else {
        SimError::BadRequest(e.message)
    }
}

fn admin_list(shared: &Shared, tenant: &str) -> Vec<Value> {
    let mut inner = shared.lock();
    inner
        .world
        .tenant(tenant)
        .reports
        .configs
        .iter()
        .map(config_json)
        .collect()
}

/// A report made by hand in the UI: validated like a create, not counted, and
/// `reportId` may be given (to seed the documentation's ids).
fn admin_seed(shared: &Shared, tenant: &str, config: &Value) -> Result<String, SimError> {
    let now = shared.clock.now();
    let body = config
        .as_object()
        .ok_or_else(|| SimError::BadRequest("expected a report configuration object".into()))?;
    let mut inner = shared.lock();
    let t = inner.world.tenant(tenant);
    let id = match body.get("reportId").and_then(Value::as_str) {
        Some(id) if find(t, id).is_ok() => return Err(SimError::BadRequest(format!("report {id} exists"))),
        Some(id) => id.to_string(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    create_with_id(t, body, id, now).map(|r| r.report_id).map_err(sim_error)
}

/// A change made behind the operator's back: merged and validated like a PATCH, with
/// `type` and `mandateId` changeable whatever the tenant's PATCH rule.
fn admin_edit(shared: &Shared, tenant: &str, id: &str, fields: &Value) -> Result<(), SimError> {
    let fields = fields
        .as_object()
        .cloned()
        .ok_or_else(|| SimError::BadRequest("expected an object of report fields".into()))?;
    let mut inner = shared.lock();
    let t = inner.world.tenant(tenant);
    update(t, id, fields, FixedFieldChange::Apply)
        .map(|_| ())
        .map_err(sim_error)
}

fn admin_delete(shared: &Shared, tenant: &str, id: &str) -> Result<(), SimError> {
    let mut inner = shared.lock();
    let t = inner.world.tenant(tenant);
    let before = t.reports.configs.len();
    t.reports.configs.retain(|r| !r.report_id.eq_ignore_ascii_case(id));
    if t.reports.configs.len() == before {
        return Err(SimError::NotFound(format!("report {id}")));
    }
    Ok(())
}

/// `/_sim/tenants/{tenant}/reports...`: list (`GET`), seed (`POST`), one report
/// (`GET`, `PATCH` = out-of-band edit, `DELETE`), and `PUT .../settings`
/// `{"onFixedFieldChange": "reject" | "ignore" | "apply"}`.
pub(crate) fn admin(
    shared: &Shared,
    method: &str,
    tenant: &str,
    rest: &[&str],
    body: &[u8],
) -> Result<Value, SimError> {
    let body = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| SimError::BadRequest(format!("invalid JSON: {e}")))?
    };
    match (method, rest) {
        ("GET", []) => Ok(Value::Array(admin_list(shared, tenant))),
        ("POST", []) => Ok(json!({ "reportId": admin_seed(shared, tenant, &body)? })),
        ("PUT", ["settings"]) => {
            let rule: FixedFieldChange = body
                .get("onFixedFieldChange")
                .cloned()
                .ok_or_else(|| SimError::BadRequest("expected {\"onFixedFieldChange\": ...}".into()))
                .and_then(|v| {
                    serde_json::from_value(v).map_err(|e| SimError::BadRequest(format!("onFixedFieldChange: {e}")))
                })?;
            shared.lock().world.tenant(tenant).reports.on_fixed_field_change = rule;
            Ok(json!({ "ok": true }))
        }
        ("GET", [id]) => {
            let mut inner = shared.lock();
            find(inner.world.tenant(tenant), id).map(config_json).map_err(sim_error)
        }
        ("PATCH", [id]) => {
            admin_edit(shared, tenant, id, &body)?;
            Ok(json!({ "ok": true }))
        }
        ("DELETE", [id]) => {
            admin_delete(shared, tenant, id)?;
            Ok(json!({ "ok": true }))
        }
        _ => Err(SimError::NotFound(format!(
            "no admin endpoint {method} reports/{}",
            rest.join("/")
        ))),
    }
}

/// The same controls, for tests that run the simulator in-process.
impl SimHandle {
    /// The tenant's report configurations, as `GET /reports/{id}` shows them.
    pub fn reports(&self, tenant: &str) -> Vec<Value> {
        admin_list(&self.shared, tenant)
    }

    /// Creates a report as someone in the UI would; returns its `reportId`.
    pub fn seed_report(&self, tenant: &str, config: Value) -> Result<String, SimError> {
        admin_seed(&self.shared, tenant, &config)
    }

    /// Changes a report behind the operator's back (drift): `fields` merged as a PATCH.
    pub fn edit_report(&self, tenant: &str, report_id: &str, fields: Value) -> Result<(), SimError> {
        admin_edit(&self.shared, tenant, report_id, &fields)
    }

    pub fn delete_report(&self, tenant: &str, report_id: &str) -> Result<(), SimError> {
        admin_delete(&self.shared, tenant, report_id)
    }

    /// What the tenant's PATCH does with a new `type` or `mandateId`.
    pub fn set_report_fixed_field_change(&self, tenant: &str, rule: FixedFieldChange) {
        self.shared.lock().world.tenant(tenant).reports.on_fixed_field_change = rule;
    }
}
