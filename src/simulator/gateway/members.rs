//! Member connectors: the QPS Azure connectors attached to an org connector.

use std::collections::BTreeMap;

use serde_json::Value;

use super::org::Ctx;
use super::{GwError, GwResult, page, paging, views};
use crate::simulator::http;
use crate::simulator::state::{CloudKind, Tenant};

fn azure_connector(tenant: &Tenant, id: u64) -> Result<(), GwError> {
    match tenant.connectors.get(&id) {
        Some(c) if c.kind == CloudKind::Azure && !tenant.out_of_scope.contains(&id) => Ok(()),
        _ => Err(GwError::not_found(format!("Azure connector {id} not found"))),
    }
}

fn org_exists(tenant: &Tenant, id: u64) -> Result<(), GwError> {
    if tenant.org_connectors.contains_key(&id) && !tenant.out_of_scope.contains(&id) {
        Ok(())
    } else {
        Err(GwError::not_found(format!("Organization connector {id} not found")))
    }
}

fn id_field(body: &Value, key: &str) -> Result<u64, GwError> {
    body.get(key)
        .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        .ok_or_else(|| GwError::bad_request(format!("{key} is mandatory and must be an id")))
}

/// Attach answers with the member after attaching (the doc sample shows the state before,
/// Q-ORG-11; returning the new state is what a client can rely on).
pub fn attach(tenant: &mut Tenant, ctx: &Ctx<'_>, body: &Value) -> GwResult {
    let connector_id = id_field(body, "connectorId")?;
    let org_id = id_field(body, "organizationConnectorId")?;
    azure_connector(tenant, connector_id)?;
    org_exists(tenant, org_id)?;
    let org = &tenant.org_connectors[&org_id];
    let connector = &tenant.connectors[&connector_id];
    if let Some(current) = connector.org_connector_id {
        return Err(GwError::conflict(format!(
            "Connector {connector_id} is already attached to {current}"
        )));
    }
    let same_tenant = connector
        .auth_record
        .get("directoryId")
        .is_some_and(|d| d.eq_ignore_ascii_case(&org.tenant_id));
    if !same_tenant {
        return Err(GwError::bad_request(format!(
            "Connector {connector_id} does not belong to the tenant of organization connector {org_id}"
        )));
    }
    let group = org
        .included_mem
        .first()
        .cloned()
        .unwrap_or_else(|| org.tenant_id.clone());
    let parent = format!("/providers/Microsoft.Management/managementGroups/{group}");
    if let Some(c) = tenant.connectors.get_mut(&connector_id) {
        c.org_connector_id = Some(org_id);
        c.parent_id = Some(parent);
    }
    Ok(http::json(
        200,
        &views::member(&tenant.connectors[&connector_id], tenant, ctx),
    ))
}

pub fn detach(tenant: &mut Tenant, ctx: &Ctx<'_>, ids: &[u64]) -> GwResult {
    for id in ids {
        azure_connector(tenant, *id)?;
    }
    for id in ids {
        if let Some(c) = tenant.connectors.get_mut(id) {
            c.org_connector_id = None;
            c.parent_id = None;
        }
    }
    let items = ids
        .iter()
        .filter_map(|id| tenant.connectors.get(id))
        .map(|c| views::member(c, tenant, ctx))
        .collect();
    Ok(http::json(200, &page(items, 0, ids.len().max(1))))
}

pub fn of_org(tenant: &Tenant, ctx: &Ctx<'_>, org_id: u64, query: &BTreeMap<String, String>) -> GwResult {
    org_exists(tenant, org_id)?;
    let (number, size) = paging(query)?;
    let items = tenant
        .connectors
        .values()
        .filter(|c| c.org_connector_id == Some(org_id) && !tenant.out_of_scope.contains(&c.id))
        .map(|c| views::member(c, tenant, ctx))
        .collect();
    Ok(http::json(200, &page(items, number, size)))
}

/// Org connectors a member could join: enabled ones of the connector's Azure tenant.
pub fn valid_orgs(tenant: &Tenant, ctx: &Ctx<'_>, connector_id: u64, query: &BTreeMap<String, String>) -> GwResult {
    azure_connector(tenant, connector_id)?;
    let (number, size) = paging(query)?;
    let directory = tenant.connectors[&connector_id].auth_record.get("directoryId");
    let items = tenant
        .org_connectors
        .values()
        .filter(|o| !o.disabled && Some(&o.tenant_id) == directory && !tenant.out_of_scope.contains(&o.id))
        .map(|o| views::view(o, tenant, ctx))
        .collect();
    Ok(http::json(200, &page(items, number, size)))
}
