//! QPS 3.0 (`/qps/rest/3.0/{action}/am/{object}[/<id>]`) and the portal version.

pub mod codec;
pub mod connectors;
pub mod fields;
pub mod filter;
pub mod other;
pub mod render;
pub mod tree;
pub mod view;

use codec::{Envelope, Format, QpsError};

use super::clock::Millis;
use super::config::SimConfig;
use super::state::{CloudKind, World};

/// One QPS call, as routed.
pub struct Call<'a> {
    pub action: String,
    pub object: String,
    pub id: Option<u64>,
    pub body: &'a [u8],
    pub fmt: Format,
    /// `?fields=` (README §9).
    pub fields: Vec<String>,
}

pub struct Env<'a> {
    pub cfg: &'a SimConfig,
    pub now: Millis,
    pub step_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Version,
    Op {
        action: String,
        object: String,
        id: Option<String>,
    },
}

/// Recognises QPS paths, with or without a trailing slash, and with the stray `/r`
/// prefix of the global scan configuration samples (Q-DOC-2).
pub fn route(path: &str) -> Option<Route> {
    let path = path
        .strip_prefix("/r")
        .filter(|p| p.starts_with("/qps/"))
        .unwrap_or(path);
    let path = path.trim_end_matches('/');
    if path == "/qps/rest/portal/version" {
        return Some(Route::Version);
    }
    let rest = path.strip_prefix("/qps/rest/3.0/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [action, "am", object] => Some(Route::Op {
            action: action.to_string(),
            object: object.to_string(),
            id: None,
        }),
        [action, "am", object, id] => Some(Route::Op {
            action: action.to_string(),
            object: object.to_string(),
            id: Some(id.to_string()),
        }),
        _ => None,
    }
}

pub fn parse_id(id: Option<&str>) -> Result<Option<u64>, QpsError> {
    id.map(|id| fields::parse_u64(id, "the id in the URL")).transpose()
}

/// Runs one QPS operation against the caller's tenant.
pub fn handle(world: &mut World, tenant_name: &str, call: &Call<'_>, env: &Env<'_>) -> Result<Envelope, QpsError> {
    world.tenant(tenant_name).settle(env.now, env.step_ms);
    let req = if call.action == "get" {
        codec::ServiceRequest::default()
    } else {
        codec::parse_request(call.body)?
    };
    let action = call.action.as_str();
    if let Some(kind) = CloudKind::from_object(&call.object) {
        return match action {
            "create" => connectors::create(world, tenant_name, kind, &req, call, env),
            "update" => connectors::update(world.tenant(tenant_name), kind, &req, call, env),
            "delete" => connectors::delete(world.tenant(tenant_name), kind, &req, call, env),
            "run" => connectors::run(world.tenant(tenant_name), kind, &req, call, env),
            "search" => connectors::search(world.tenant(tenant_name), kind, &req, call, env),
            "get" => connectors::get(world.tenant(tenant_name), kind, call, env),
            other => Err(QpsError::invalid(format!(
                "{other} is not an operation on {}",
                call.object
            ))),
        };
    }
    let tenant = world.tenant(tenant_name);
    match (call.object.to_ascii_lowercase().as_str(), action) {
        ("assetdataconnectorerrors", "search") => other::connector_errors(tenant, &req),
        ("awsbaseaccount", "search") => Ok(other::aws_base_account(call, env, true)),
        ("awsbaseaccount", "get") => Ok(other::aws_base_account(call, env, false)),
        ("globalscanconfiguration", _) => other::global_scan(tenant, action, &req),
        (object, action) => Err(QpsError::invalid(format!("{action} on {object} is not supported"))),
    }
}

/// The version endpoint answers the same in both formats.
pub fn version() -> Envelope {
    other::portal_version()
}
