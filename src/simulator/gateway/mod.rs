//! The connectors gateway (`/connectors/v1.0/...`): Azure organization connectors,
//! their test-connection jobs and member connectors; and snapshot scan registration
//! (`/conn/snapshot/v1.0/...`). Plain JSON, Bearer auth.

mod members;
mod org;
mod quartz;
pub mod snapshot;
mod views;

use std::collections::BTreeMap;

use axum::response::Response;
use serde_json::{Value, json};

use super::config::UserSpec;
use super::http;
use super::server::{Incoming, Shared};

/// A gateway failure: HTTP status plus the `responseCode`/`responseMessage` body (the
/// docs name the codes but show no body; this shape mirrors the test-connection answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GwError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl GwError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code: "BAD_REQUEST",
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: 404,
            code: "NOT_FOUND",
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: 409,
            code: "CONFLICT",
            message: message.into(),
        }
    }
}

pub type GwResult = Result<Response, GwError>;

pub fn error(status: u16, code: &str, message: &str) -> Response {
    http::json(status, &json!({ "responseCode": code, "responseMessage": message }))
}

pub const LICENCE_MESSAGE: &str = "You have reached the maximum number of connectors allowed for your license. \
                                   Contact your Technical Account Manager (TAM) or Qualys Support to modify the limit.";

pub fn licence_error() -> Response {
    error(403, "FORBIDDEN", LICENCE_MESSAGE)
}

/// `?pageNumber=&pageSize=` (0-based; default size 50, a simulator choice).
pub fn paging(query: &BTreeMap<String, String>) -> Result<(usize, usize), GwError> {
    let read = |key: &str, default: usize| -> Result<usize, GwError> {
        match query.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| GwError::bad_request(format!("{key} must be an integer"))),
        }
    };
    let size = read("pageSize", 50)?;
    if size == 0 {
        return Err(GwError::bad_request("pageSize must be at least 1"));
    }
    Ok((read("pageNumber", 0)?, size))
}

/// The gateway page envelope (README §6).
pub fn page(items: Vec<Value>, page_number: usize, page_size: usize) -> Value {
    let total = items.len();
    let total_pages = total.div_ceil(page_size);
    let content: Vec<Value> = items
        .into_iter()
        .skip(page_number.saturating_mul(page_size))
        .take(page_size)
        .collect();
    json!({
        "currentPage": page_number,
        "currentPageSize": content.len(),
        "totalPages": total_pages,
        "numberOfElements": content.len(),
        "hasContent": !content.is_empty(),
        "hasNext": page_number + 1 < total_pages,
        "hasPrevious": page_number > 0,
        "first": page_number == 0,
        "last": page_number + 1 >= total_pages,
        "content": content,
    })
}

/// A stable UUID-shaped identifier derived from a seed (user uuids, member uuids).
pub fn stable_uuid(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(seed.as_bytes());
    let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn parse_body(incoming: &Incoming) -> Result<Value, GwError> {
    let text = std::str::from_utf8(&incoming.body).map_err(|_| GwError::bad_request("the body is not UTF-8"))?;
    if text.trim().is_empty() {
        return Err(GwError::bad_request("a JSON body is required"));
    }
    serde_json::from_str(text).map_err(|e| GwError::bad_request(format!("invalid JSON: {e}")))
}

/// A list of ids: a JSON array (numbers or strings), or the bare `1,2` of one sample (Q-ORG-9).
fn parse_ids(incoming: &Incoming) -> Result<Vec<u64>, GwError> {
    let text = String::from_utf8_lossy(&incoming.body);
    let trimmed = text.trim();
    let inner = trimmed
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(trimmed);
    let ids = inner
        .split(',')
        .map(|s| s.trim().trim_matches('"'))
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| GwError::bad_request(format!("{s:?} is not a connector id")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        return Err(GwError::bad_request("a list of connector ids is required"));
    }
    Ok(ids)
}

fn parse_path_id(s: &str) -> Result<u64, GwError> {
    s.parse()
        .map_err(|_| GwError::not_found(format!("no connector with id {s}")))
}

pub fn http(shared: &Shared, user: &UserSpec, incoming: &Incoming) -> Response {
    match route(shared, user, incoming) {
        Ok(response) => response,
        Err(e) => error(e.status, e.code, &e.message),
    }
}

fn route(shared: &Shared, user: &UserSpec, incoming: &Incoming) -> GwResult {
    if let Some(rest) = incoming.path.strip_prefix("/conn/snapshot/v1.0/") {
        return snapshot::route(shared, user, incoming, rest);
    }
    let Some(rest) = incoming.path.strip_prefix("/connectors/v1.0/") else {
        return Err(GwError::not_found("unknown API"));
    };
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let method = incoming.method.as_str();
    let now = shared.clock.now();
    let mut inner = shared.lock();
    let ctx = org::Ctx { shared, user, now };
    let tenant = inner.world.tenant(user.tenant());
    tenant.settle(now, shared.step_ms());
    match (method, parts.as_slice()) {
        ("POST", ["org", "azure", "test"]) => org::test_connection(tenant, &ctx, &parse_body(incoming)?),
        ("GET", ["org", "azure", "job", job]) => org::job(tenant, &ctx, job),
        ("POST", ["org", "azure"]) => {
            let id = inner.world.allocate_org_id();
            let tenant = inner.world.tenant(user.tenant());
            org::create(tenant, &ctx, id, &parse_body(incoming)?)
        }
        ("GET", ["org", "azure"]) => org::list(tenant, &ctx, &incoming.query),
        ("POST", ["org", "azure", "run"]) => org::run(tenant, &ctx, &parse_ids(incoming)?),
        ("POST", ["org", "azure", "management-groups"]) => {
            org::management_groups(tenant, &ctx, &parse_body(incoming)?, &incoming.query)
        }
        ("GET", ["org", "azure", "management-groups", id]) => org::attached_groups(tenant, parse_path_id(id)?),
        ("PUT" | "POST", ["org", "azure", "status"]) => {
            let action = incoming
                .query
                .get("action")
                .map(|a| a.to_ascii_uppercase())
                .unwrap_or_default();
            org::set_status(tenant, &ctx, &action, &parse_ids(incoming)?)
        }
        ("GET", ["org", "azure", "member-connectors", id]) => {
            members::of_org(tenant, &ctx, parse_path_id(id)?, &incoming.query)
        }
        ("GET", ["org", "azure", "last-job-summary", id]) => {
            org::last_job_summary(tenant, parse_path_id(id)?, &incoming.query)
        }
        ("GET", ["org", "azure", id]) => org::detail(tenant, &ctx, parse_path_id(id)?),
        // The docs give POST [001:7675] and PUT [003:412] for edit (Q-ORG-1).
        ("PUT" | "POST", ["org", "azure", id]) => org::edit(tenant, &ctx, parse_path_id(id)?, &parse_body(incoming)?),
        ("DELETE", ["org", "azure", id]) => org::delete(tenant, parse_path_id(id)?),
        ("PUT" | "POST", ["azure", "attach"]) => members::attach(tenant, &ctx, &parse_body(incoming)?),
        ("PUT" | "POST", ["azure", "detach"]) => members::detach(tenant, &ctx, &parse_ids(incoming)?),
        ("GET", ["azure", "valid-org-connectors", id]) => {
            members::valid_orgs(tenant, &ctx, parse_path_id(id)?, &incoming.query)
        }
        (_, ["org", "azure"] | ["org", "azure", _] | ["azure", "attach" | "detach"]) => Err(GwError {
            status: 405,
            code: "METHOD_NOT_ALLOWED",
            message: format!("{method} is not allowed here"),
        }),
        _ => Err(GwError::not_found("unknown API")),
    }
}
