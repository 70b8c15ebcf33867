//! Read-only CloudView v1 views of the tenant's QPS connectors that have the CI or CSA
//! app (they carry a `cloudviewUuid`), with the groups their account belongs to.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{CvError, CvResult, paging, spring_page};
use crate::simulator::clock::{self, Millis};
use crate::simulator::http;
use crate::simulator::server::Shared;
use crate::simulator::state::{CloudKind, Connector, Tenant};

fn kind(cloud: &str) -> Result<CloudKind, CvError> {
    match cloud.to_ascii_lowercase().as_str() {
        "aws" => Ok(CloudKind::Aws),
        "azure" => Ok(CloudKind::Azure),
        "gcp" => Ok(CloudKind::Gcp),
        _ => Err(CvError::new(404, "No handler found")),
    }
}

fn view(c: &Connector, tenant: &Tenant, shared: &Shared, now: Millis) -> Value {
    let cloud_type = c.kind.type_name();
    let account = c.account_identifier();
    let groups: Vec<Value> = tenant
        .groups
        .iter()
        .filter(|g| {
            g.members
                .iter()
                .any(|(t, a)| t == cloud_type && Some(a) == account.as_ref())
        })
        .map(|g| json!({ "name": g.name, "uuid": g.uuid }))
        .collect();
    let state = match c.state(now, shared.step_ms()) {
        "FINISHED_SUCCESS" => "SUCCESS",
        "FINISHED_ERRORS" => "ERROR",
        "DISABLED" => "DISABLED",
        _ => "PENDING",
    };
    let mut v = json!({
        "name": c.name,
        "description": c.description.clone().unwrap_or_default(),
        "connectorId": c.cloudview_uuid,
        "provider": cloud_type,
        "state": state,
        "totalAssets": 0,
        "error": c.sync.last_error.clone().unwrap_or_default(),
        "lastSyncedOn": c.sync.last_sync.map(clock::cloudview_time),
        "groups": groups,
    });
    let auth = |k: &str| c.auth_record.get(k).cloned();
    let extra = match c.kind {
        CloudKind::Aws => json!({
            "arn": c.arn,
            "externalId": c.external_id,
            "awsAccountId": c.aws_account_id(),
            "baseAccountId": shared.config.aws_base_accounts.global,
            "isChinaRegion": c.aws_partition() == "china",
            "isGovCloud": c.aws_partition() == "gov",
            "isPortalConnector": true,
            "portalConnectorUuid": c.cloudview_uuid,
        }),
        CloudKind::Azure => json!({
            "applicationId": auth("applicationId"),
            "subscriptionId": auth("subscriptionId"),
            "directoryId": auth("directoryId"),
            "isGovCloud": c.gov_cloud(),
        }),
        CloudKind::Gcp | CloudKind::Oci => json!({ "projectId": auth("projectId") }),
    };
    if let (Value::Object(base), Value::Object(more)) = (&mut v, extra) {
        base.extend(more);
    }
    v
}

fn cloudview_connectors(tenant: &Tenant, kind: CloudKind) -> impl Iterator<Item = &Connector> {
    tenant
        .connectors
        .values()
        .filter(move |c| c.kind == kind && c.cloudview_uuid.is_some() && !tenant.out_of_scope.contains(&c.id))
}

pub fn list(tenant: &Tenant, shared: &Shared, cloud: &str, query: &BTreeMap<String, String>, now: Millis) -> CvResult {
    let kind = kind(cloud)?;
    let (number, size) = paging(query)?;
    let items = cloudview_connectors(tenant, kind)
        .map(|c| view(c, tenant, shared, now))
        .collect();
    Ok(http::json(200, &spring_page(items, number, size)))
}

pub fn detail(tenant: &Tenant, shared: &Shared, cloud: &str, id: &str, now: Millis) -> CvResult {
    let kind = kind(cloud)?;
    let c = cloudview_connectors(tenant, kind)
        .find(|c| c.cloudview_uuid.as_deref() == Some(id))
        .ok_or_else(|| CvError::new(404, format!("Connector {id} not found")))?;
    Ok(http::json(200, &view(c, tenant, shared, now)))
}
