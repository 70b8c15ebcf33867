//! User scopes: the groups and connector accounts each user of a subscription may
//! see (`/users/{userName}/scope`, `/users/{userName}/groupScope`, [000:417-683]).
//!
//! Simulator choices where the docs are silent:
//! - A user name that is not a user of the caller's subscription is a 404, as for
//!   groups; the docs give no status.
//! - Group ids must name existing groups (404 naming them, as `groups/connectors`
//!   does); nothing changes when one is missing.
//! - Added accounts must belong to a CloudView connector of that cloud type (400
//!   naming them, as `groups/connectors`): the answer shows the connector's uuid and
//!   name. Removing an account needs no connector.
//! - `regions` belong to AWS alone [000:621-622]: with another cloud type they are a
//!   400 rather than silently dropped.
//! - An id both added and removed in one call ends up granted: removals apply first.
//!   This is what the account-scope sample shows [000:626-683] (it adds and removes
//!   `XXXXXXXXXXXX` and answers it granted), though its ids are redacted.
//! - A granted group or account whose group or connector has gone is not shown.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{CvError, CvResult};
use crate::simulator::config::UserSpec;
use crate::simulator::error::SimError;
use crate::simulator::http;
use crate::simulator::server::{Shared, SimHandle};
use crate::simulator::state::{Connector, Tenant};

/// The cloud types a scope covers, in answer order.
const CLOUD_TYPES: [&str; 3] = ["AWS", "AZURE", "GCP"];

/// What one user is granted, as stored (and as the admin API reads and writes it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UserScopeGrants {
    /// Group uuids, in the order granted.
    pub groups: Vec<String>,
    /// Account identifiers granted directly, by cloud type (`AWS`, `AZURE`, `GCP`).
    pub accounts: BTreeMap<String, Vec<String>>,
    /// AWS regions.
    pub regions: Vec<String>,
}

/// A CloudView connector of the caller's subscription for a cloud account, among those
/// its v1 connector list shows (ids marked out of the caller's scope are not).
fn connector<'a>(tenant: &'a Tenant, cloud_type: &str, account: &str) -> Option<&'a Connector> {
    tenant
        .connectors
        .values()
        .filter(|c| {
            c.kind.type_name() == cloud_type && c.cloudview_uuid.is_some() && !tenant.out_of_scope.contains(&c.id)
        })
        // Azure subscription ids are GUIDs: CloudView matches them without regard to case.
        .find(|c| c.account_identifier().is_some_and(|a| a.eq_ignore_ascii_case(account)))
}

fn render(grants: &UserScopeGrants, tenant: &Tenant) -> Value {
    let groups: Vec<Value> = grants
        .groups
        .iter()
        .filter_map(|uuid| tenant.groups.iter().find(|g| &g.uuid == uuid))
        .map(|g| json!({ "uuid": g.uuid, "title": g.name, "connectorCount": g.members.len() }))
        .collect();
    let mut out = json!({ "groups": groups });
    for cloud_type in CLOUD_TYPES {
        let direct: Vec<Value> = grants
            .accounts
            .get(cloud_type)
            .into_iter()
            .flatten()
            .filter_map(|account| connector(tenant, cloud_type, account))
            .map(|c| {
                json!({
                    "connectorUuid": c.cloudview_uuid,
                    "accountIdentifier": c.account_identifier(),
                    "cloudType": cloud_type,
                    "connectorName": c.name,
                })
            })
            .collect();
        let mut cloud = json!({ "directAccountScope": direct });
        if cloud_type == "AWS" {
            cloud["regions"] = json!(grants.regions);
        }
        out[cloud_type] = cloud;
    }
    out
}

/// A path segment as sent (`john.doe%40example.com`); `+` stays a plus in a path.
fn decode_segment(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The user the path names, if it belongs to the caller's subscription.
fn target(users: &[UserSpec], caller: &UserSpec, raw: &str) -> Result<String, CvError> {
    let name = decode_segment(raw);
    // The docs give no status for an unknown user; 404 is how Spring resources
    // (and the simulator's groups) answer a missing object.
    users
        .iter()
        .find(|u| u.name == name && u.tenant() == caller.tenant())
        .map(|u| u.name.clone())
        .ok_or_else(|| CvError::new(404, format!("User {name} not found")))
}

fn parse_body(body: &[u8]) -> Result<Value, CvError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(CvError::new(400, "Required request body is missing"));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| CvError::new(400, format!("invalid JSON body: {e}")))?;
    if !v.is_object() {
        return Err(CvError::new(400, "the request body must be a JSON object"));
    }
    Ok(v)
}

/// The strings under `body[side][key]`, the first of `keys` present; nothing when absent.
fn strings(body: &Value, side: &str, keys: &[&str]) -> Result<Vec<String>, CvError> {
    let Some(section) = body.get(side).filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let Some(list) = keys.iter().find_map(|k| section.get(*k)) else {
        return Ok(Vec::new());
    };
    match list {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| CvError::new(400, format!("{side}.{} must hold strings", keys[0])))
            })
            .collect(),
        _ => Err(CvError::new(400, format!("{side}.{} must be an array", keys[0]))),
    }
}

/// Removes `remove`, then appends what of `add` is missing: an id in both stays.
fn apply(list: &mut Vec<String>, add: &[String], remove: &[String], same: impl Fn(&str, &str) -> bool) {
    list.retain(|have| !remove.iter().any(|r| same(have, r)));
    for a in add {
        if !list.iter().any(|have| same(have, a)) {
            list.push(a.clone());
        }
    }
}

fn missing_groups(tenant: &Tenant, ids: &[String]) -> Vec<String> {
    ids.iter()
        .filter(|id| !tenant.groups.iter().any(|g| &g.uuid == *id))
        .cloned()
        .collect()
}

/// Each account as its connector spells it, or the ones without a connector.
fn resolve_accounts(tenant: &Tenant, cloud_type: &str, accounts: &[String]) -> Result<Vec<String>, Vec<String>> {
    let (found, missing): (Vec<_>, Vec<_>) = accounts
        .iter()
        .map(|a| {
            connector(tenant, cloud_type, a)
                .and_then(Connector::account_identifier)
                .ok_or(a)
        })
        .partition(Result::is_ok);
    if missing.is_empty() {
        Ok(found.into_iter().filter_map(Result::ok).collect())
    } else {
        Err(missing.into_iter().filter_map(Result::err).cloned().collect())
    }
}

fn no_connector(cloud_type: &str, accounts: &[String]) -> String {
    format!(
        "No {cloud_type} CloudView connector for account(s): {}",
        accounts.join(", ")
    )
}

/// `GET /users/{userName}/scope`; a user nobody granted anything has an empty scope.
pub fn get(users: &[UserSpec], caller: &UserSpec, tenant: &Tenant, raw_name: &str) -> CvResult {
    let name = target(users, caller, raw_name)?;
    let grants = tenant.user_scopes.get(&name).cloned().unwrap_or_default();
    Ok(http::json(200, &render(&grants, tenant)))
}

/// `POST /users/{userName}/groupScope` with `{"add": {"groupsIds": [...]}, "remove": {...}}`.
pub fn update_groups(
    users: &[UserSpec],
    caller: &UserSpec,
    tenant: &mut Tenant,
    raw_name: &str,
    body: &[u8],
) -> CvResult {
    let name = target(users, caller, raw_name)?;
    let body = parse_body(body)?;
    // The sample and example spell it `groupsIds`, the prose `groupIds` (Q-GRP-4):
    // either is taken, the documented one first.
    let keys = ["groupsIds", "groupIds"];
    let add = strings(&body, "add", &keys)?;
    let remove = strings(&body, "remove", &keys)?;
    let missing = missing_groups(tenant, &[add.clone(), remove.clone()].concat());
    if !missing.is_empty() {
        return Err(CvError::new(404, format!("Group(s) not found: {}", missing.join(", "))));
    }
    let grants = tenant.user_scopes.entry(name.clone()).or_default();
    apply(&mut grants.groups, &add, &remove, |a, b| a == b);
    let grants = grants.clone();
    Ok(http::json(200, &render(&grants, tenant)))
}

/// `POST /users/{userName}/scope?cloudType=` with accounts (and, for AWS, regions)
/// to add and remove.
pub fn update_accounts(
    users: &[UserSpec],
    caller: &UserSpec,
    tenant: &mut Tenant,
    raw_name: &str,
    query: &BTreeMap<String, String>,
    body: &[u8],
) -> CvResult {
    let name = target(users, caller, raw_name)?;
    let Some(cloud_type) = query.get("cloudType").map(|c| c.trim().to_ascii_uppercase()) else {
        return Err(CvError::new(
            400,
            "Required request parameter 'cloudType' is not present",
        ));
    };
    if !CLOUD_TYPES.contains(&cloud_type.as_str()) {
        return Err(CvError::new(400, "cloudType must be AWS, AZURE or GCP"));
    }
    let body = parse_body(body)?;
    let add = strings(&body, "add", &["accountIdentifiers"])?;
    let remove = strings(&body, "remove", &["accountIdentifiers"])?;
    let add_regions = strings(&body, "add", &["regions"])?;
    let remove_regions = strings(&body, "remove", &["regions"])?;
    if cloud_type != "AWS" && !(add_regions.is_empty() && remove_regions.is_empty()) {
        return Err(CvError::new(
            400,
            format!("regions apply to AWS connectors only, not to {cloud_type}"),
        ));
    }
    let add = resolve_accounts(tenant, &cloud_type, &add)
        .map_err(|missing| CvError::new(400, no_connector(&cloud_type, &missing)))?;
    let grants = tenant.user_scopes.entry(name.clone()).or_default();
    let accounts = grants.accounts.entry(cloud_type.clone()).or_default();
    apply(accounts, &add, &remove, |a, b| a.eq_ignore_ascii_case(b));
    apply(&mut grants.regions, &add_regions, &remove_regions, |a, b| a == b);
    let grants = grants.clone();
    Ok(http::json(200, &render(&grants, tenant)))
}

/// The tenant of `user`, if the simulator has that user.
fn tenant_of(shared: &Shared, user: &str) -> Result<String, SimError> {
    shared
        .user(user)
        .map(|u| u.tenant().to_string())
        .ok_or_else(|| SimError::NotFound(format!("user {user}")))
}

/// What `user` is granted, as stored.
fn admin_get(shared: &Shared, user: &str) -> Result<UserScopeGrants, SimError> {
    let tenant = tenant_of(shared, user)?;
    let mut inner = shared.lock();
    Ok(inner
        .world
        .tenant(&tenant)
        .user_scopes
        .get(user)
        .cloned()
        .unwrap_or_default())
}

/// Replaces `user`'s whole scope, as an administrator would in the UI. Groups and
/// connectors must exist, as there; accounts are stored as their connector spells them.
fn admin_set(shared: &Shared, user: &str, grants: UserScopeGrants) -> Result<UserScopeGrants, SimError> {
    let tenant_name = tenant_of(shared, user)?;
    let mut inner = shared.lock();
    let tenant = inner.world.tenant(&tenant_name);
    let missing = missing_groups(tenant, &grants.groups);
    if !missing.is_empty() {
        return Err(SimError::BadRequest(format!(
            "no such group(s): {}",
            missing.join(", ")
        )));
    }
    let mut stored = UserScopeGrants::default();
    apply(&mut stored.groups, &grants.groups, &[], |a, b| a == b);
    apply(&mut stored.regions, &grants.regions, &[], |a, b| a == b);
    for (cloud_type, accounts) in &grants.accounts {
        let cloud_type = cloud_type.to_ascii_uppercase();
        if !CLOUD_TYPES.contains(&cloud_type.as_str()) {
            return Err(SimError::BadRequest(format!(
                "accounts are keyed by AWS, AZURE or GCP, not {cloud_type}"
            )));
        }
        let resolved = resolve_accounts(tenant, &cloud_type, accounts)
            .map_err(|missing| SimError::BadRequest(no_connector(&cloud_type, &missing)))?;
        let list = stored.accounts.entry(cloud_type).or_default();
        apply(list, &resolved, &[], |a, b| a.eq_ignore_ascii_case(b));
    }
    tenant.user_scopes.insert(user.to_string(), stored.clone());
    Ok(stored)
}

/// `GET` / `PUT /_sim/users/{user}/scope`: the stored grants, whole (the `PUT` body
/// is a [`UserScopeGrants`], e.g. `{"groups": [uuid], "accounts": {"AWS": [id]},
/// "regions": ["us-east-1"]}`; it answers what was stored).
pub fn admin_http(shared: &Shared, method: &str, raw_user: &str, body: &[u8]) -> Result<Value, SimError> {
    let user = decode_segment(raw_user);
    let grants = match method {
        "PUT" => {
            let grants: UserScopeGrants =
                serde_json::from_slice(body).map_err(|e| SimError::BadRequest(format!("invalid user scope: {e}")))?;
            admin_set(shared, &user, grants)?
        }
        _ => admin_get(shared, &user)?,
    };
    Ok(serde_json::to_value(grants).unwrap_or(Value::Null))
}

impl SimHandle {
    /// What `user` is granted, as stored; empty for a user nobody granted anything.
    pub fn user_scope(&self, user: &str) -> Result<UserScopeGrants, SimError> {
        admin_get(&self.shared, user)
    }

    /// Replaces `user`'s scope behind the operator's back (a grant made by hand);
    /// returns what was stored.
    pub fn set_user_scope(&self, user: &str, grants: UserScopeGrants) -> Result<UserScopeGrants, SimError> {
        admin_set(&self.shared, user, grants)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_decode_without_turning_plus_into_space() {
        assert_eq!(decode_segment("john.doe%40example.com"), "john.doe@example.com");
        assert_eq!(decode_segment("a+b%2Fc"), "a+b/c");
        assert_eq!(decode_segment("100%"), "100%");
        assert_eq!(decode_segment("%zz%4"), "%zz%4");
    }

    #[test]
    fn an_id_both_added_and_removed_stays() {
        let mut list = vec!["a".to_string(), "b".to_string()];
        apply(
            &mut list,
            &["b".into(), "c".into()],
            &["a".into(), "b".into()],
            |x, y| x == y,
        );
        assert_eq!(list, ["b", "c"]);
    }
}
