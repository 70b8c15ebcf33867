//! The JSON shapes of the gateway: OrgConnector (create/edit/detail), its summary (list),
//! its "view" (status, valid orgs: other field names, string frequencies) and MemberConnector.

use serde_json::{Value, json};

use super::org::Ctx;
use super::stable_uuid;
use crate::simulator::clock::{self, Millis};
use crate::simulator::state::{AppInfo, Connector, OrgConnector, Phase, Tenant};

fn apps(apps: &[AppInfo]) -> Value {
    apps.iter()
        .map(|a| json!({ "name": a.name, "identifier": a.identifier, "tagId": a.tag_id, "tagMetadata": null }))
        .collect()
}

pub fn state(org: &OrgConnector, now: Millis, step_ms: i64) -> &'static str {
    match org.sync.phase(now, step_ms) {
        Phase::Finished { errors: false } => "FINISHED_SUCCESS",
        Phase::Finished { errors: true } => "FINISHED_ERRORS",
        _ => "PENDING",
    }
}

fn period(org: &OrgConnector) -> i64 {
    i64::try_from(org.org_run_frequency.total_minutes()).unwrap_or(0) * 60_000
}

fn last_synced(org: &OrgConnector) -> String {
    clock::gateway_time(org.sync.last_sync.unwrap_or(org.created))
}

fn next_sync(org: &OrgConnector, step_ms: i64) -> Value {
    org.sync
        .next_sync(step_ms, period(org))
        .map(clock::gateway_time)
        .map(Value::String)
        .unwrap_or(Value::Null)
}

fn capabilities(org: &OrgConnector) -> Vec<String> {
    org.apps.iter().map(|a| a.name.clone()).collect()
}

pub fn org_connector(org: &OrgConnector, tenant: &Tenant, ctx: &Ctx<'_>) -> Value {
    let step = ctx.shared.step_ms();
    json!({
        "id": org.id,
        "name": org.name,
        "description": org.description,
        "uuid": org.uuid,
        "orgRunFrequency": org.org_run_frequency,
        "connectorRunFrequency": org.connector_run_frequency,
        "lastSynced": last_synced(org),
        "nextSync": next_sync(org, step),
        "type": "AZURE",
        "customerId": tenant.customer_id,
        "userUuid": stable_uuid(&ctx.user.name),
        "userName": ctx.user.name,
        "lastError": org.sync.last_error,
        "state": state(org, ctx.now, step),
        "connectorPrefixName": org.connector_prefix_name,
        "defaultTagIds": org.default_tag_ids,
        "connectorAppInfos": apps(&org.apps),
        "connectorCapabilities": capabilities(org),
        "lastSuccessfulSync": org.sync.last_success.map(clock::gateway_time),
        "createdBy": ctx.user.name,
        "organizationId": org.organization_id,
        "tenantId": org.tenant_id,
        "applicationId": org.application_id,
        "autoActivateVM": org.auto_activate_vm,
        "autoActivatePC": org.auto_activate_pc,
        "autoActivateSCA": org.auto_activate_sca,
        "autoActivateCertView": org.auto_activate_cert_view,
        "autoActivateCV": org.auto_activate_cv,
        "includedMem": org.included_mem,
        "excludedMem": org.excluded_mem,
        "createConnectorForNewSubscriptionsAutomatically": org.create_for_new_subscriptions,
        "disableConnectorsForDeletedManagementGroups": org.disable_for_deleted_groups,
        "disabled": org.disabled,
        "deleted": false,
        "remediationEnabled": org.remediation_enabled,
    })
}

pub fn summary(org: &OrgConnector, tenant: &Tenant, ctx: &Ctx<'_>) -> Value {
    let attached = tenant
        .connectors
        .values()
        .filter(|c| c.org_connector_id == Some(org.id))
        .count();
    json!({
        "id": org.id,
        "organizationId": org.organization_id,
        "name": org.name,
        "uuid": org.uuid,
        "type": "AZURE",
        "state": state(org, ctx.now, ctx.shared.step_ms()),
        "connectorCapabilities": capabilities(org),
        "lastSynced": last_synced(org),
        "numberOfConnectorsAttached": attached,
    })
}

pub fn view(org: &OrgConnector, tenant: &Tenant, ctx: &Ctx<'_>) -> Value {
    let step = ctx.shared.step_ms();
    json!({
        "id": org.id,
        "organizationId": org.organization_id,
        "name": org.name,
        "connectorPrefixName": org.connector_prefix_name,
        "runFrequency": org.org_run_frequency.total_minutes().to_string(),
        "connectorRunFrequency": org.connector_run_frequency.total_minutes().to_string(),
        "lastSynced": last_synced(org),
        "customerId": tenant.customer_id,
        "userUuid": stable_uuid(&ctx.user.name),
        "userName": ctx.user.name,
        "type": "AZURE",
        "lastError": org.sync.last_error,
        "isDeleted": false,
        "isDisabled": org.disabled,
        "description": org.description,
        "state": state(org, ctx.now, step),
        "nextSync": next_sync(org, step),
        "isRemediationEnabled": org.remediation_enabled,
        "organizationName": org.tenant_name,
        "uuid": org.uuid,
        "isAssignStaticTagToAssetsPulledByThatConnector": false,
        "isAssignStaticTagToConnectors": false,
        "connectorAppInfos": apps(&org.apps),
        "defaultTagIds": org.default_tag_ids,
        "memberConfigurations": { "includedMembers": org.included_mem, "excludedMembers": org.excluded_mem },
        "createConnectorForNewSubscriptionsAutomatically": org.create_for_new_subscriptions,
        "disableConnectorsForDeletedManagementGroups": org.disable_for_deleted_groups,
        "createStaticTagsForManagementGroups": false,
    })
}

pub fn member(c: &Connector, tenant: &Tenant, ctx: &Ctx<'_>) -> Value {
    let org = c.org_connector_id.and_then(|id| tenant.org_connectors.get(&id));
    let mut modules: Vec<String> = c
        .activation
        .iter()
        .map(|m| match m.as_str() {
            "VM" => "QWEB_VM".to_string(),
            "PC" => "QWEB_PC".to_string(),
            "SCA" => "QWEB_SCA".to_string(),
            other => other.to_string(),
        })
        .collect();
    if c.has_cloudview_app() && !modules.iter().any(|m| m == "CLOUDVIEW") {
        modules.push("CLOUDVIEW".into());
    }
    json!({
        "id": c.id,
        "uuid": c.cloudview_uuid.clone().unwrap_or_else(|| stable_uuid(&format!("connector-{}", c.id))),
        "customerId": tenant.customer_id,
        "userUuid": stable_uuid(&ctx.user.name),
        "username": ctx.user.name,
        "name": c.name,
        "description": c.description.clone().unwrap_or_default(),
        "defaultTagIds": if c.default_tags.is_empty() { Value::Null } else { json!(c.default_tags) },
        "state": c.state(ctx.now, ctx.shared.step_ms()),
        "cloudType": "AZURE",
        "isRemediationEnabled": c.is_remediation_enabled,
        "isDisabled": c.disabled,
        "isDeleted": false,
        "scanUuid": null,
        "activatedModules": modules,
        "connectorAppInfos": apps(&c.apps),
        "lastSynced": c.sync.last_sync.map(clock::gateway_time),
        "isAttachedToOrgConnector": org.is_some(),
        "organizationId": org.map(|o| o.organization_id.clone()),
        "organizationConnectorId": org.map(|o| o.id),
        "parentId": c.parent_id,
    })
}
