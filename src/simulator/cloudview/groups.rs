//! Connector groups: list, create, get, and membership by cloud account identifier.
//! There is no delete or rename, as in Qualys (Q-GRP-1).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{CvError, CvResult, paging, spring_page};
use crate::simulator::http;
use crate::simulator::state::{CloudKind, Group, Tenant};

fn connector_uuid(tenant: &Tenant, cloud_type: &str, account: &str) -> Option<String> {
    tenant
        .connectors
        .values()
        .filter(|c| c.kind.type_name() == cloud_type && c.cloudview_uuid.is_some())
        // Account identifiers are GUIDs for Azure: CloudView matches them without regard to case.
        .find(|c| c.account_identifier().is_some_and(|a| a.eq_ignore_ascii_case(account)))
        .and_then(|c| c.cloudview_uuid.clone())
}

fn group_json(group: &Group, tenant: &Tenant) -> Value {
    let connectors: Vec<Value> = group
        .members
        .iter()
        .map(|(cloud_type, account)| {
            json!({
                "connectorUuid": connector_uuid(tenant, cloud_type, account),
                "accountIdentifier": account,
                "cloudType": cloud_type,
            })
        })
        .collect();
    json!({ "name": group.name, "uuid": group.uuid, "connectors": connectors })
}

pub fn list(tenant: &Tenant, query: &BTreeMap<String, String>) -> CvResult {
    let (number, size) = paging(query)?;
    let items = tenant.groups.iter().map(|g| group_json(g, tenant)).collect();
    Ok(http::json(200, &spring_page(items, number, size)))
}

/// `POST /groups?groupName=` (the sample's form, Q-GRP-2). Names must be unique: a
/// duplicate is a 409 (simulator choice; the docs only say "ensure the name is unique").
pub fn create(tenant: &mut Tenant, query: &BTreeMap<String, String>) -> CvResult {
    let name = query.get("groupName").map(|n| n.trim().to_string()).unwrap_or_default();
    if name.is_empty() {
        return Err(CvError::new(
            400,
            "Required request parameter 'groupName' is not present",
        ));
    }
    if tenant.groups.iter().any(|g| g.name == name) {
        return Err(CvError::new(409, format!("A group named {name:?} already exists")));
    }
    let uuid = uuid::Uuid::new_v4().to_string();
    tenant.groups.push(Group {
        uuid: uuid.clone(),
        name: name.clone(),
        members: Vec::new(),
    });
    Ok(http::json(200, &json!({ "name": name, "groupId": uuid })))
}

pub fn detail(tenant: &Tenant, uuid: &str) -> CvResult {
    let group = tenant
        .groups
        .iter()
        .find(|g| g.uuid == uuid)
        .ok_or_else(|| CvError::new(404, format!("Group {uuid} not found")))?;
    Ok(http::json(200, &group_json(group, tenant)))
}

fn group_ids(body: &Value, section: &str) -> Result<Vec<String>, CvError> {
    let Some(section) = body.get(section).filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    // `groupIds` here, `groupsIds` in the user-scope API (Q-GRP-4): take either.
    let list = section.get("groupIds").or_else(|| section.get("groupsIds"));
    match list {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| CvError::new(400, "group ids must be strings"))
            })
            .collect(),
        Some(_) => Err(CvError::new(400, "groupIds must be an array")),
    }
}

/// Adds/removes accounts of one cloud type to/from groups; 204 on success. Accounts must
/// belong to an existing CloudView connector of that type (simulator choice: a 400 names
/// the unknown ones), and groups must exist (404).
pub fn update_connectors(tenant: &mut Tenant, query: &BTreeMap<String, String>, body: &[u8]) -> CvResult {
    let cloud_type = query
        .get("cloudType")
        .map(|c| c.to_ascii_uppercase())
        .unwrap_or_default();
    if !matches!(
        CloudKind::from_type_name(&cloud_type),
        Some(CloudKind::Aws | CloudKind::Azure | CloudKind::Gcp)
    ) {
        return Err(CvError::new(400, "cloudType must be AWS, AZURE or GCP"));
    }
    let body: Value = serde_json::from_slice(body).map_err(|e| CvError::new(400, format!("invalid JSON body: {e}")))?;
    let accounts: Vec<String> = match body.get("accountIdentifiers") {
        Some(Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        _ => {
            return Err(CvError::new(
                400,
                "accountIdentifiers must be an array of account identifiers",
            ));
        }
    };
    if accounts.is_empty() {
        return Err(CvError::new(400, "accountIdentifiers must not be empty"));
    }
    let add = group_ids(&body, "add")?;
    let remove = group_ids(&body, "remove")?;
    for uuid in add.iter().chain(&remove) {
        if !tenant.groups.iter().any(|g| &g.uuid == uuid) {
            return Err(CvError::new(404, format!("Group {uuid} not found")));
        }
    }
    let unknown: Vec<&str> = accounts
        .iter()
        .filter(|a| connector_uuid(tenant, &cloud_type, a).is_none())
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() && !add.is_empty() {
        return Err(CvError::new(
            400,
            format!(
                "No {cloud_type} CloudView connector for account(s): {}",
                unknown.join(", ")
            ),
        ));
    }
    for group in &mut tenant.groups {
        if remove.contains(&group.uuid) {
            group
                .members
                .retain(|(t, a)| !(t == &cloud_type && accounts.iter().any(|x| x.eq_ignore_ascii_case(a))));
        }
        if add.contains(&group.uuid) {
            for account in &accounts {
                let known = group
                    .members
                    .iter()
                    .any(|(t, a)| t == &cloud_type && a.eq_ignore_ascii_case(account));
                if !known {
                    group.members.push((cloud_type.clone(), account.clone()));
                }
            }
        }
    }
    Ok(http::empty(204))
}
