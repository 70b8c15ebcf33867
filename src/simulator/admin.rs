//! Observation and out-of-band control, for tests, benchmarks and demos: over HTTP
//! under `/_sim/` (no authentication: the simulator is a local tool) and as methods
//! of [`SimHandle`] for in-process tests. Admin calls are not counted, rate limited or
//! subject to faults.

use std::time::Duration;

use axum::response::Response;
use serde_json::{Value, json};

use super::config::RateLimitConfig;
use super::counters::Counter;
use super::error::SimError;
use super::faults::FaultRule;
use super::http;
use super::qps::{fields, tree};
use super::server::{Incoming, Shared, SimHandle};
use super::state::{AzureTenant, CloudKind, Connector};

fn bad(message: impl Into<String>) -> SimError {
    SimError::BadRequest(message.into())
}

/// The whole state, settled to the current (simulated) time.
pub fn state(shared: &Shared) -> Value {
    let now = shared.clock.now();
    let mut inner = shared.lock();
    for tenant in inner.world.tenants.values_mut() {
        tenant.settle(now, shared.step_ms());
    }
    json!({
        "now": now,
        "world": serde_json::to_value(&inner.world).unwrap_or(Value::Null),
        "faults": inner.faults.rules(),
        "rateLimit": inner.rate.snapshot(),
        "users": shared.users.iter().map(|u| json!({ "name": u.name, "tenant": u.tenant() })).collect::<Vec<_>>(),
    })
}

pub fn reset(shared: &Shared) {
    let world = {
        let mut w = super::state::World::new();
        for u in &shared.users {
            w.tenant(u.tenant());
        }
        w
    };
    let mut inner = shared.lock();
    inner.world = world;
    inner.counters.clear();
    inner.rate.reset();
    inner.faults.clear();
    inner.faults.reseed(shared.config.seed);
    for rule in &shared.config.faults {
        inner.faults.add(rule.clone());
    }
}

fn apply_admin_fields(c: &mut Connector, body: &Value, now: i64) -> Result<(), SimError> {
    let was_disabled = c.disabled;
    let node = tree::from_json_value(body);
    fields::apply(c, &node).map_err(|e| bad(e.message))?;
    fields::validate(c).map_err(|e| bad(e.message))?;
    if let Some(flag) = body.get("badCredentials").and_then(Value::as_bool) {
        c.bad_credentials = flag;
    }
    if was_disabled && !c.disabled {
        c.sync.start_run(now);
    }
    Ok(())
}

/// Creates a connector as someone in the Qualys UI would (no licence check, not counted).
pub fn create_connector(shared: &Shared, tenant: &str, kind: CloudKind, body: &Value) -> Result<u64, SimError> {
    let now = shared.clock.now();
    let mut inner = shared.lock();
    let id = inner.world.allocate_id();
    let mut c = Connector::new(id, kind, now);
    apply_admin_fields(&mut c, body, now)?;
    if !c.disabled {
        c.sync.start_run(now);
    }
    inner.world.tenant(tenant).connectors.insert(id, c);
    Ok(id)
}

/// Azure reports a new subscription under an organization connector's tenant
/// (`{"subscriptionId": "...", "managementGroup": "..."}`). When the org connector
/// creates connectors for new subscriptions, Qualys creates and attaches a member
/// connector by itself, as the documented member list shows; returns its id.
pub fn discover_subscription(
    shared: &Shared,
    tenant: &str,
    org_id: u64,
    body: &Value,
) -> Result<Option<u64>, SimError> {
    let subscription = body
        .get("subscriptionId")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("expected {\"subscriptionId\": ..., \"managementGroup\": ...}"))?;
    let now = shared.clock.now();
    let mut inner = shared.lock();
    let id = inner.world.allocate_id();
    let t = inner.world.tenant(tenant);
    let org = t
        .org_connectors
        .get(&org_id)
        .ok_or_else(|| SimError::NotFound(format!("org connector {org_id}")))?;
    if !org.create_for_new_subscriptions {
        return Ok(None);
    }
    let group = body
        .get("managementGroup")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| org.included_mem.first().cloned())
        .unwrap_or_else(|| org.tenant_id.clone());
    let mut c = Connector::new(id, CloudKind::Azure, now);
    c.name = format!("{}{subscription}", org.connector_prefix_name);
    c.run_frequency = org.connector_run_frequency.total_minutes();
    for (key, value) in [
        ("directoryId", org.tenant_id.as_str()),
        ("applicationId", org.application_id.as_str()),
        ("subscriptionId", subscription),
    ] {
        c.auth_record.insert(key.to_string(), value.to_lowercase());
    }
    c.org_connector_id = Some(org_id);
    c.parent_id = Some(format!("/providers/Microsoft.Management/managementGroups/{group}"));
    c.sync.start_run(now);
    t.connectors.insert(id, c);
    Ok(Some(id))
}

/// Changes fields of a connector behind the operator's back (drift). The body uses the
/// QPS JSON object shape (`{"name": "x", "activation": {"set": {"ActivationModule": ["VM"]}}}`)
/// plus `badCredentials`.
pub fn edit_connector(shared: &Shared, tenant: &str, id: u64, body: &Value) -> Result<(), SimError> {
    let now = shared.clock.now();
    let mut inner = shared.lock();
    let t = inner.world.tenant(tenant);
    t.settle(now, shared.step_ms());
    let c = t
        .connectors
        .get_mut(&id)
        .ok_or_else(|| SimError::NotFound(format!("connector {id}")))?;
    let mut edited = c.clone();
    apply_admin_fields(&mut edited, body, now)?;
    *c = edited;
    Ok(())
}

pub fn delete_connector(shared: &Shared, tenant: &str, id: u64) -> Result<(), SimError> {
    let mut inner = shared.lock();
    inner
        .world
        .tenant(tenant)
        .connectors
        .remove(&id)
        .map(|_| ())
        .ok_or_else(|| SimError::NotFound(format!("connector {id}")))
}

pub fn set_bad_credentials(shared: &Shared, tenant: &str, id: u64, bad: bool) -> Result<(), SimError> {
    edit_connector(shared, tenant, id, &json!({ "badCredentials": bad }))
}

fn counters(shared: &Shared) -> Vec<Counter> {
    shared.lock().counters.rows()
}

fn ids_of(body: &Value) -> Result<Vec<u64>, SimError> {
    body.get("ids")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_u64).collect())
        .ok_or_else(|| bad("expected {\"ids\": [...]}"))
}

fn parse_json_body(incoming: &Incoming) -> Result<Value, SimError> {
    if incoming.body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(&incoming.body).map_err(|e| bad(format!("invalid JSON: {e}")))
}

fn fault_rules(body: Value) -> Result<Vec<FaultRule>, SimError> {
    let list = match body {
        Value::Array(items) => items,
        Value::Object(ref o) if o.contains_key("faults") => match o.get("faults") {
            Some(Value::Array(items)) => items.clone(),
            _ => return Err(bad("faults must be an array")),
        },
        other => vec![other],
    };
    list.into_iter()
        .map(|r| serde_json::from_value(r).map_err(|e| bad(format!("invalid fault rule: {e}"))))
        .collect()
}

fn parse_id(s: &str) -> Result<u64, SimError> {
    s.parse().map_err(|_| bad(format!("{s:?} is not an id")))
}

fn route(shared: &Shared, incoming: &Incoming) -> Result<Value, SimError> {
    let rest = incoming.path.trim_start_matches("/_sim").trim_matches('/');
    let parts: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    let method = incoming.method.as_str();
    let ok = || Ok(json!({ "ok": true }));
    match (method, parts.as_slice()) {
        ("GET", ["health"]) => ok(),
        ("GET", ["state"]) => Ok(state(shared)),
        ("POST", ["reset"]) => {
            reset(shared);
            ok()
        }
        ("GET", ["counters"]) => Ok(json!(counters(shared))),
        ("DELETE", ["counters"]) => {
            shared.lock().counters.clear();
            ok()
        }
        ("GET", ["faults"]) => Ok(json!(shared.lock().faults.rules())),
        ("POST", ["faults"]) => {
            let rules = fault_rules(parse_json_body(incoming)?)?;
            let mut inner = shared.lock();
            let ids: Vec<u64> = rules.into_iter().map(|r| inner.faults.add(r)).collect();
            Ok(json!({ "ids": ids }))
        }
        ("DELETE", ["faults"]) => {
            shared.lock().faults.clear();
            ok()
        }
        ("DELETE", ["faults", id]) => {
            if shared.lock().faults.remove(parse_id(id)?) {
                ok()
            } else {
                Err(SimError::NotFound(format!("fault {id}")))
            }
        }
        ("POST", ["clock", "advance"]) => {
            let body = parse_json_body(incoming)?;
            let seconds = body
                .get("seconds")
                .and_then(Value::as_f64)
                .ok_or_else(|| bad("expected {\"seconds\": n}"))?;
            shared.clock.advance((seconds * 1000.0) as i64);
            Ok(json!({ "now": shared.clock.now() }))
        }
        ("PUT" | "PATCH", ["ratelimit"]) => {
            let body = parse_json_body(incoming)?;
            let mut inner = shared.lock();
            let mut merged = serde_json::to_value(&inner.rate.config).unwrap_or(Value::Null);
            if let (Value::Object(m), Value::Object(b)) = (&mut merged, body) {
                m.extend(b);
            }
            let config: RateLimitConfig =
                serde_json::from_value(merged).map_err(|e| bad(format!("invalid rate limit: {e}")))?;
            inner.rate.config = config;
            inner.rate.reset();
            Ok(json!(inner.rate.config))
        }
        ("POST", ["tenants", tenant, "connectors"]) => {
            let body = parse_json_body(incoming)?;
            let kind = body
                .get("type")
                .and_then(Value::as_str)
                .and_then(CloudKind::from_type_name)
                .ok_or_else(|| bad("type must be AWS, AZURE, GCP or OCI"))?;
            Ok(json!({ "id": create_connector(shared, tenant, kind, &body)? }))
        }
        ("GET", ["tenants", tenant, "connectors", id]) => {
            let id = parse_id(id)?;
            let inner = shared.lock();
            let c = inner.world.tenants.get(*tenant).and_then(|t| t.connectors.get(&id));
            c.map(|c| serde_json::to_value(c).unwrap_or(Value::Null))
                .ok_or_else(|| SimError::NotFound(format!("connector {id}")))
        }
        ("PATCH" | "PUT", ["tenants", tenant, "connectors", id]) => {
            edit_connector(shared, tenant, parse_id(id)?, &parse_json_body(incoming)?)?;
            ok()
        }
        ("DELETE", ["tenants", tenant, "connectors", id]) => {
            delete_connector(shared, tenant, parse_id(id)?)?;
            ok()
        }
        ("POST" | "PUT", ["tenants", tenant, "connectors", id, "bad-credentials"]) => {
            let body = parse_json_body(incoming)?;
            let flag = body.get("bad").and_then(Value::as_bool).unwrap_or(true);
            set_bad_credentials(shared, tenant, parse_id(id)?, flag)?;
            ok()
        }
        ("POST", ["tenants", tenant, "out-of-scope"]) => {
            let ids = ids_of(&parse_json_body(incoming)?)?;
            shared.lock().world.tenant(tenant).out_of_scope.extend(ids);
            ok()
        }
        ("DELETE", ["tenants", tenant, "out-of-scope"]) => {
            let body = parse_json_body(incoming)?;
            let mut inner = shared.lock();
            let t = inner.world.tenant(tenant);
            match ids_of(&body) {
                Ok(ids) => t.out_of_scope.retain(|id| !ids.contains(id)),
                Err(_) => t.out_of_scope.clear(),
            }
            ok()
        }
        ("PUT", ["tenants", tenant, "licence"]) => {
            let body = parse_json_body(incoming)?;
            let limit = body
                .get("limit")
                .and_then(Value::as_u64)
                .map(|l| usize::try_from(l).unwrap_or(usize::MAX));
            shared.lock().world.tenant(tenant).licence_limit = limit;
            ok()
        }
        ("PUT", ["tenants", tenant, "azure-tenants", azure_tenant]) => {
            let settings: AzureTenant = serde_json::from_value(parse_json_body(incoming)?)
                .map_err(|e| bad(format!("invalid settings: {e}")))?;
            shared
                .lock()
                .world
                .tenant(tenant)
                .azure_tenants
                .insert((*azure_tenant).to_string(), settings);
            ok()
        }
        ("PUT", ["tenants", tenant, "tags", id]) => {
            let body = parse_json_body(incoming)?;
            let name = body
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("expected {\"name\": ...}"))?;
            shared
                .lock()
                .world
                .tenant(tenant)
                .tag_names
                .insert(parse_id(id)?, name.to_string());
            ok()
        }
        ("POST", ["tenants", tenant, "org-connectors", id, "subscriptions"]) => {
            let created = discover_subscription(shared, tenant, parse_id(id)?, &parse_json_body(incoming)?)?;
            Ok(json!({ "id": created }))
        }
        ("DELETE", ["tenants", tenant, "org-connectors", id]) => {
            let id = parse_id(id)?;
            let mut inner = shared.lock();
            let t = inner.world.tenant(tenant);
            t.org_connectors
                .remove(&id)
                .ok_or_else(|| SimError::NotFound(format!("org connector {id}")))?;
            for c in t.connectors.values_mut().filter(|c| c.org_connector_id == Some(id)) {
                c.org_connector_id = None;
                c.parent_id = None;
            }
            ok()
        }
        (m @ ("GET" | "PUT"), ["users", user, "scope"]) => {
            super::cloudview::scope::admin_http(shared, m, user, &incoming.body)
        }
        (_, ["tenants", tenant, "reports", rest @ ..]) => {
            super::cloudview::reports::admin(shared, method, tenant, rest, &incoming.body)
        }
        ("DELETE", ["tenants", tenant, "groups", uuid]) => {
            let mut inner = shared.lock();
            let t = inner.world.tenant(tenant);
            let before = t.groups.len();
            t.groups.retain(|g| g.uuid != *uuid);
            if t.groups.len() == before {
                Err(SimError::NotFound(format!("group {uuid}")))
            } else {
                ok()
            }
        }
        (_, ["tenants", tenant, "snapshot"]) => super::gateway::snapshot::admin(shared, method, tenant, &incoming.body),
        _ => Err(SimError::NotFound(format!(
            "no admin endpoint {method} {}",
            incoming.path
        ))),
    }
}

pub fn http(shared: &Shared, incoming: &Incoming) -> Response {
    match route(shared, incoming) {
        Ok(value) => http::json(200, &value),
        Err(e) => http::json(e.status(), &json!({ "error": e.to_string() })),
    }
}

/// The same controls, for tests that run the simulator in-process.
impl SimHandle {
    /// The whole state as JSON (what `GET /_sim/state` returns).
    pub fn state(&self) -> Value {
        state(&self.shared)
    }

    /// Request counters by method, route and status.
    pub fn counters(&self) -> Vec<Counter> {
        counters(&self.shared)
    }

    /// Requests whose method and route match (`*` globs), whatever their status.
    pub fn count(&self, method: &str, route_glob: &str) -> u64 {
        self.counters()
            .iter()
            .filter(|c| {
                (method == "*" || c.method.eq_ignore_ascii_case(method)) && super::faults::glob(route_glob, &c.route)
            })
            .map(|c| c.count)
            .sum()
    }

    pub fn reset_counters(&self) {
        self.shared.lock().counters.clear();
    }

    /// Back to an empty Qualys (connectors, counters, rate usage, faults from the config).
    pub fn reset(&self) {
        reset(&self.shared);
    }

    pub fn add_fault(&self, rule: FaultRule) -> u64 {
        self.shared.lock().faults.add(rule)
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Restarts the dice of probabilistic fault rules from `seed`, so a fault
    /// storm can be replayed.
    pub fn reseed_faults(&self, seed: u64) {
        self.shared.lock().faults.reseed(seed);
    }

    pub fn set_rate_limit(&self, config: RateLimitConfig) {
        let mut inner = self.shared.lock();
        inner.rate.config = config;
        inner.rate.reset();
    }

    /// Moves simulated time forward (schedules, token expiry, rate windows).
    pub fn advance_clock(&self, by: Duration) {
        self.shared
            .clock
            .advance(i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 4));
    }

    pub fn create_connector(&self, tenant: &str, kind: CloudKind, fields: Value) -> Result<u64, SimError> {
        create_connector(&self.shared, tenant, kind, &fields)
    }

    pub fn edit_connector(&self, tenant: &str, id: u64, fields: Value) -> Result<(), SimError> {
        edit_connector(&self.shared, tenant, id, &fields)
    }

    pub fn delete_connector(&self, tenant: &str, id: u64) -> Result<(), SimError> {
        delete_connector(&self.shared, tenant, id)
    }

    /// See [`discover_subscription`]: Qualys creating a member connector itself.
    pub fn discover_subscription(
        &self,
        tenant: &str,
        org_id: u64,
        subscription_id: &str,
        management_group: Option<&str>,
    ) -> Result<Option<u64>, SimError> {
        let body = json!({ "subscriptionId": subscription_id, "managementGroup": management_group });
        discover_subscription(&self.shared, tenant, org_id, &body)
    }

    pub fn set_bad_credentials(&self, tenant: &str, id: u64, bad: bool) -> Result<(), SimError> {
        set_bad_credentials(&self.shared, tenant, id, bad)
    }

    /// The connector as stored (secrets included), settled to now.
    pub fn connector(&self, tenant: &str, id: u64) -> Option<Connector> {
        let now = self.shared.clock.now();
        let mut inner = self.shared.lock();
        let t = inner.world.tenants.get_mut(tenant)?;
        t.settle(now, self.shared.step_ms());
        t.connectors.get(&id).cloned()
    }

    /// Makes ids invisible to the tenant (OBJECT_NOT_FOUND / 404), as after a scope change.
    pub fn mark_out_of_scope(&self, tenant: &str, ids: &[u64]) {
        self.shared
            .lock()
            .world
            .tenant(tenant)
            .out_of_scope
            .extend(ids.iter().copied());
    }

    pub fn clear_out_of_scope(&self, tenant: &str) {
        self.shared.lock().world.tenant(tenant).out_of_scope.clear();
    }

    /// Caps the number of connectors (QPS + org) the tenant may have; `None` lifts it.
    pub fn set_licence_limit(&self, tenant: &str, limit: Option<usize>) {
        self.shared.lock().world.tenant(tenant).licence_limit = limit;
    }

    /// The name Qualys shows for a tag id (searchable as `defaultTags.name`).
    pub fn set_tag_name(&self, tenant: &str, id: u64, name: &str) {
        self.shared
            .lock()
            .world
            .tenant(tenant)
            .tag_names
            .insert(id, name.to_string());
    }

    /// How an Azure AD tenant behaves: bad credentials, and its management groups.
    pub fn set_azure_tenant(&self, tenant: &str, azure_tenant_id: &str, settings: AzureTenant) {
        self.shared
            .lock()
            .world
            .tenant(tenant)
            .azure_tenants
            .insert(azure_tenant_id.to_string(), settings);
    }
}
