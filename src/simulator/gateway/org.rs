//! Azure organization connectors: test-connection jobs, create/edit/list/detail/delete,
//! run, enable/disable, management groups and the last job summary.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{GwError, GwResult, LICENCE_MESSAGE, page, paging, views};
use crate::simulator::clock::{self, Millis};
use crate::simulator::config::UserSpec;
use crate::simulator::http;
use crate::simulator::server::Shared;
use crate::simulator::state::{AppInfo, HoursMinutes, Job, OrgConnector, SyncState, Tenant};

pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub user: &'a UserSpec,
    pub now: Millis,
}

const CREDENTIAL_ERROR: &str = "Authorization exception while validating Azure credentials with cloud";

fn ok(value: &Value) -> GwResult {
    Ok(http::json(200, value))
}

fn string(body: &Value, key: &str) -> Result<Option<String>, GwError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(GwError::bad_request(format!("{key} must be a string"))),
    }
}

fn required(body: &Value, key: &str) -> Result<String, GwError> {
    match string(body, key)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(GwError::bad_request(format!("{key} is mandatory"))),
    }
}

fn boolean(body: &Value, key: &str) -> Result<Option<bool>, GwError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(GwError::bad_request(format!("{key} must be a boolean"))),
    }
}

fn strings(body: &Value, key: &str) -> Result<Option<Vec<String>>, GwError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| GwError::bad_request(format!("{key} must hold strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(GwError::bad_request(format!("{key} must be an array"))),
    }
}

fn ids(body: &Value, key: &str) -> Result<Option<Vec<u64>>, GwError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_u64()
                    .or_else(|| i.as_str().and_then(|s| s.parse().ok()))
                    .ok_or_else(|| GwError::bad_request(format!("{key} must hold tag ids")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(GwError::bad_request(format!("{key} must be an array"))),
    }
}

/// `{hours, minutes}` as in the samples, or plain minutes as the tables say (Q-DATE-3).
fn frequency(body: &Value, key: &str) -> Result<Option<HoursMinutes>, GwError> {
    let bad = || GwError::bad_request(format!("{key} must be {{\"hours\": H, \"minutes\": M}} or minutes"));
    let freq = match body.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => {
            let part = |k: &str| o.get(k).map_or(Ok(0), |v| v.as_u64().ok_or_else(bad));
            HoursMinutes {
                hours: part("hours")?,
                minutes: part("minutes")?,
            }
        }
        Some(Value::Number(n)) => {
            let m = n.as_u64().ok_or_else(bad)?;
            HoursMinutes {
                hours: m / 60,
                minutes: m % 60,
            }
        }
        Some(Value::String(s)) => {
            let m: u64 = s.trim().parse().map_err(|_| bad())?;
            HoursMinutes {
                hours: m / 60,
                minutes: m % 60,
            }
        }
        Some(_) => return Err(bad()),
    };
    if freq.minutes >= 60 || freq.total_minutes() == 0 {
        return Err(bad());
    }
    Ok(Some(freq))
}

fn apps(body: &Value) -> Result<Option<Vec<AppInfo>>, GwError> {
    let Some(value) = body.get("connectorAppInfos").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let items = value
        .as_array()
        .ok_or_else(|| GwError::bad_request("connectorAppInfos must be an array"))?;
    let mut out: Vec<AppInfo> = Vec::new();
    for item in items {
        let name = item
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_uppercase();
        if !["AI", "CI", "CSA"].contains(&name.as_str()) {
            return Err(GwError::bad_request(format!(
                "connectorAppInfos: unknown app name {name:?}"
            )));
        }
        let identifier = string(item, "identifier")?;
        let tag_id = match item.get("tagId") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .ok_or_else(|| GwError::bad_request("tagId must be a tag id or null"))?,
            ),
        };
        out.retain(|a| a.name != name);
        out.push(AppInfo {
            name,
            identifier,
            tag_id,
        });
    }
    if out.is_empty() {
        return Err(GwError::bad_request("connectorAppInfos must name at least one app"));
    }
    Ok(Some(out))
}

fn find(tenant: &Tenant, id: u64) -> Result<&OrgConnector, GwError> {
    match tenant.org_connectors.get(&id) {
        Some(org) if !tenant.out_of_scope.contains(&id) => Ok(org),
        _ => Err(GwError::not_found(format!("Organization connector {id} not found"))),
    }
}

pub fn test_connection(tenant: &mut Tenant, ctx: &Ctx<'_>, body: &Value) -> GwResult {
    let tenant_id = required(body, "tenantId")?;
    let application_id = required(body, "applicationId")?;
    required(body, "secretValue")?;
    let bad = tenant.azure_tenants.get(&tenant_id).is_some_and(|t| t.bad_credentials);
    let job = Job {
        uuid: uuid::Uuid::new_v4().to_string(),
        tenant_id,
        application_id,
        created: ctx.now,
        completes: ctx.now + ctx.shared.job_ms(),
        error: bad.then(|| CREDENTIAL_ERROR.to_string()),
    };
    let uuid = job.uuid.clone();
    tenant.jobs.insert(uuid.clone(), job);
    ok(&json!({ "responseMessage": null, "responseCode": "SUCCESS", "jobUuid": uuid }))
}

fn job_status(job: &Job, now: Millis) -> &'static str {
    match (now >= job.completes, &job.error) {
        (false, _) => "IN_PROGRESS",
        (true, None) => "COMPLETED",
        (true, Some(_)) => "FAILED",
    }
}

pub fn job(tenant: &Tenant, ctx: &Ctx<'_>, uuid: &str) -> GwResult {
    let job = tenant
        .jobs
        .get(uuid)
        .ok_or_else(|| GwError::not_found(format!("job {uuid} not found")))?;
    let done = ctx.now >= job.completes;
    ok(&json!({
        "status": job_status(job, ctx.now),
        "error": if done { job.error.clone() } else { None },
        "createOn": clock::gateway_time(job.created),
        "updatedOn": clock::gateway_time(if done { job.completes } else { job.created }),
    }))
}

pub fn create(tenant: &mut Tenant, ctx: &Ctx<'_>, id: u64, body: &Value) -> GwResult {
    let name = required(body, "name")?;
    let tenant_id = required(body, "tenantId")?;
    let tenant_name = required(body, "tenantName")?;
    let application_id = required(body, "applicationId")?;
    let secret_value = required(body, "secretValue")?;
    let prefix = required(body, "connectorPrefixName")?;
    if prefix.chars().count() > 30 {
        return Err(GwError::bad_request("connectorPrefixName: character limit is 30"));
    }
    let apps = apps(body)?.ok_or_else(|| GwError::bad_request("connectorAppInfos is mandatory"))?;
    let org_freq =
        frequency(body, "orgRunFrequency")?.ok_or_else(|| GwError::bad_request("orgRunFrequency is mandatory"))?;
    let conn_freq = frequency(body, "connectorRunFrequency")?
        .ok_or_else(|| GwError::bad_request("connectorRunFrequency is mandatory"))?;
    if tenant.licence_exhausted() {
        return Err(GwError {
            status: 403,
            code: "FORBIDDEN",
            message: LICENCE_MESSAGE.into(),
        });
    }
    if let Some(existing) = tenant
        .org_connectors
        .values()
        .find(|o| o.tenant_id == tenant_id || o.name == name)
    {
        return Err(GwError::conflict(format!(
            "An organization connector already exists for this tenant or name (id {})",
            existing.id
        )));
    }
    let mut sync = SyncState::default();
    sync.start_run(ctx.now);
    let org = OrgConnector {
        id,
        uuid: uuid::Uuid::new_v4().to_string(),
        organization_id: uuid::Uuid::new_v4().to_string(),
        name,
        description: string(body, "description")?,
        tenant_id,
        tenant_name,
        application_id,
        secret_value,
        connector_prefix_name: prefix,
        apps,
        org_run_frequency: org_freq,
        connector_run_frequency: conn_freq,
        included_mem: strings(body, "includedMem")?.unwrap_or_default(),
        excluded_mem: strings(body, "excludedMem")?.unwrap_or_default(),
        create_for_new_subscriptions: boolean(body, "isCreateConnectorForNewSubscriptionsAutomatically")?
            .unwrap_or(false),
        disable_for_deleted_groups: boolean(body, "isDisableConnectorsForDeletedManagementGroups")?.unwrap_or(false),
        auto_activate_vm: boolean(body, "autoActivateVM")?.unwrap_or(false),
        auto_activate_pc: boolean(body, "autoActivatePC")?.unwrap_or(false),
        auto_activate_sca: boolean(body, "autoActivateSCA")?.unwrap_or(false),
        auto_activate_cert_view: boolean(body, "autoActivateCertView")?.unwrap_or(false),
        auto_activate_cv: boolean(body, "autoActivateCV")?.unwrap_or(false),
        remediation_enabled: boolean(body, "isRemediationEnabled")?.unwrap_or(false),
        default_tag_ids: ids(body, "defaultTagIds")?.unwrap_or_default(),
        disabled: false,
        created: ctx.now,
        sync,
        job_errors: Vec::new(),
    };
    let view = views::org_connector(&org, tenant, ctx);
    tenant.org_connectors.insert(id, org);
    ok(&view)
}

/// Fields that cannot change after creation (Q-ORG-3): resending the same value is fine,
/// a different one is a 400.
pub fn edit(tenant: &mut Tenant, ctx: &Ctx<'_>, id: u64, body: &Value) -> GwResult {
    let mut org = find(tenant, id)?.clone();
    let fixed: [(&str, &str); 6] = [
        ("name", &org.name),
        ("tenantId", &org.tenant_id),
        ("tenantName", &org.tenant_name),
        ("applicationId", &org.application_id),
        ("connectorPrefixName", &org.connector_prefix_name),
        ("secretValue", &org.secret_value),
    ];
    for (key, current) in fixed {
        if let Some(given) = string(body, key)?
            && given != current
        {
            return Err(GwError::bad_request(format!(
                "{key} cannot be edited after the connector is created"
            )));
        }
    }
    if let Some(new_apps) = apps(body)? {
        for app in &new_apps {
            let known = org.apps.iter().any(|a| a.identifier == app.identifier);
            if app.identifier.is_some() && !known {
                return Err(GwError::bad_request("connectorAppInfos identifier cannot be edited"));
            }
        }
        org.apps = new_apps;
    }
    if let Some(v) = string(body, "description")? {
        org.description = Some(v);
    }
    if let Some(v) = frequency(body, "orgRunFrequency")? {
        org.org_run_frequency = v;
    }
    if let Some(v) = frequency(body, "connectorRunFrequency")? {
        org.connector_run_frequency = v;
    }
    if let Some(v) = strings(body, "includedMem")? {
        org.included_mem = v;
    }
    if let Some(v) = strings(body, "excludedMem")? {
        org.excluded_mem = v;
    }
    let flags: [(&str, &mut bool); 8] = [
        (
            "isCreateConnectorForNewSubscriptionsAutomatically",
            &mut org.create_for_new_subscriptions,
        ),
        (
            "isDisableConnectorsForDeletedManagementGroups",
            &mut org.disable_for_deleted_groups,
        ),
        ("autoActivateVM", &mut org.auto_activate_vm),
        ("autoActivatePC", &mut org.auto_activate_pc),
        ("autoActivateSCA", &mut org.auto_activate_sca),
        ("autoActivateCertView", &mut org.auto_activate_cert_view),
        ("autoActivateCV", &mut org.auto_activate_cv),
        ("isRemediationEnabled", &mut org.remediation_enabled),
    ];
    for (key, slot) in flags {
        if let Some(v) = boolean(body, key)? {
            *slot = v;
        }
    }
    if let Some(v) = ids(body, "defaultTagIds")? {
        org.default_tag_ids = v;
    }
    // An edit answers PENDING with fresh sync times (sample [001:7780-7857]).
    org.sync.start_run(ctx.now);
    let view = views::org_connector(&org, tenant, ctx);
    tenant.org_connectors.insert(id, org);
    ok(&view)
}

fn query_matches(org: &OrgConnector, ctx: &Ctx<'_>, query: &str) -> bool {
    // Token syntax is undocumented (Q-ORG-12): `token:value` terms joined by spaces or "and".
    let state = views::state(org, ctx.now, ctx.shared.step_ms());
    query
        .split(" and ")
        .flat_map(|part| part.split(" AND "))
        .filter_map(|term| term.split_once(':'))
        .all(|(token, value)| {
            let value = value.trim().trim_matches('"');
            let eq = |have: &str| have.eq_ignore_ascii_case(value);
            match token.trim() {
                "id" => eq(&org.id.to_string()),
                "name" => org.name.to_lowercase().contains(&value.to_lowercase()),
                "description" => org
                    .description
                    .as_deref()
                    .unwrap_or("")
                    .to_lowercase()
                    .contains(&value.to_lowercase()),
                "status" | "state" => eq(state),
                "remediationEnabled" => eq(&org.remediation_enabled.to_string()),
                "isEnabled" => eq(&(!org.disabled).to_string()),
                "isDisabled" => eq(&org.disabled.to_string()),
                "organizationId" => eq(&org.organization_id),
                "tenantId" => eq(&org.tenant_id),
                "applicationId" => eq(&org.application_id),
                _ => false,
            }
        })
}

pub fn list(tenant: &Tenant, ctx: &Ctx<'_>, query: &BTreeMap<String, String>) -> GwResult {
    let (number, size) = paging(query)?;
    let filter = query.get("query").map(String::as_str).unwrap_or("").trim();
    let items = tenant
        .org_connectors
        .values()
        .filter(|o| !tenant.out_of_scope.contains(&o.id))
        .filter(|o| filter.is_empty() || query_matches(o, ctx, filter))
        .map(|o| views::summary(o, tenant, ctx))
        .collect();
    ok(&page(items, number, size))
}

pub fn detail(tenant: &Tenant, ctx: &Ctx<'_>, id: u64) -> GwResult {
    ok(&views::org_connector(find(tenant, id)?, tenant, ctx))
}

pub fn run(tenant: &mut Tenant, ctx: &Ctx<'_>, ids: &[u64]) -> GwResult {
    for id in ids {
        find(tenant, *id)?;
    }
    let enabled: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| tenant.org_connectors.get(id).is_some_and(|o| !o.disabled))
        .collect();
    if enabled.is_empty() {
        return Err(GwError::bad_request(
            "The selected organization connectors are disabled and cannot be run",
        ));
    }
    for id in &enabled {
        if let Some(org) = tenant.org_connectors.get_mut(id) {
            org.sync.start_run(ctx.now);
        }
    }
    Ok(http::text(
        200,
        format!(
            "A total of {} Organization connectors have been successfully marked for running.",
            enabled.len()
        ),
    ))
}

pub fn management_groups(tenant: &Tenant, ctx: &Ctx<'_>, body: &Value, query: &BTreeMap<String, String>) -> GwResult {
    let tenant_id = required(body, "tenantId")?;
    let application_id = required(body, "applicationId")?;
    let (number, size) = paging(query)?;
    let settings = tenant.azure_tenants.get(&tenant_id);
    if settings.is_some_and(|t| t.bad_credentials) {
        return Err(GwError {
            status: 401,
            code: "UNAUTHORIZED",
            message: CREDENTIAL_ERROR.into(),
        });
    }
    // Groups are known once a test-connection job for this tenant has completed.
    let synced = tenant.jobs.values().any(|j| {
        j.tenant_id == tenant_id && j.application_id == application_id && j.error.is_none() && ctx.now >= j.completes
    });
    let groups = if synced {
        settings
            .and_then(|t| t.management_groups.clone())
            .unwrap_or_else(|| ctx.shared.config.default_management_groups.clone())
    } else {
        Vec::new()
    };
    ok(&page(groups.into_iter().map(Value::String).collect(), number, size))
}

pub fn attached_groups(tenant: &Tenant, id: u64) -> GwResult {
    let org = find(tenant, id)?;
    ok(&json!({ "includedMembers": org.included_mem, "excludedMembers": org.excluded_mem }))
}

pub fn set_status(tenant: &mut Tenant, ctx: &Ctx<'_>, action: &str, ids: &[u64]) -> GwResult {
    let disable = match action {
        "ENABLE" => false,
        "DISABLE" => true,
        _ => return Err(GwError::bad_request("action must be ENABLE or DISABLE")),
    };
    for id in ids {
        find(tenant, *id)?;
    }
    for id in ids {
        if let Some(org) = tenant.org_connectors.get_mut(id) {
            if org.disabled && !disable {
                org.sync.start_run(ctx.now);
            }
            org.disabled = disable;
        }
    }
    let items = ids
        .iter()
        .filter_map(|id| tenant.org_connectors.get(id))
        .map(|o| views::view(o, tenant, ctx))
        .collect();
    ok(&page(items, 0, ids.len().max(1)))
}

pub fn last_job_summary(tenant: &Tenant, id: u64, query: &BTreeMap<String, String>) -> GwResult {
    let org = find(tenant, id)?;
    let (number, size) = paging(query)?;
    let items = match (&org.sync.last_error, org.sync.last_sync) {
        (Some(message), Some(at)) => {
            vec![json!({ "type": null, "errorMsg": message, "created": clock::gateway_time(at) })]
        }
        _ => Vec::new(),
    };
    ok(&page(items, number, size))
}

/// Deleting an org connector detaches its members [001:8572]; the response is 204.
pub fn delete(tenant: &mut Tenant, id: u64) -> GwResult {
    find(tenant, id)?;
    tenant.org_connectors.remove(&id);
    for c in tenant.connectors.values_mut() {
        if c.org_connector_id == Some(id) {
            c.org_connector_id = None;
            c.parent_id = None;
        }
    }
    Ok(http::empty(204))
}
