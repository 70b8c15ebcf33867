//! CloudView v1 (`/cloudview-api/rest/v1/...`): connector groups and read-only views
//! of the CloudView side of QPS connectors (with their `groups`). Basic or Bearer auth.

mod connectors;
mod groups;
pub(crate) mod reports;
pub mod scope;

use std::collections::BTreeMap;

use axum::response::Response;
use serde_json::{Value, json};

use super::clock;
use super::config::UserSpec;
use super::http;
use super::server::{Incoming, Shared};

/// A CloudView failure, rendered as a Spring Boot error body (the docs show none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CvError {
    pub status: u16,
    pub message: String,
}

impl CvError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

pub type CvResult = Result<Response, CvError>;

fn reason(status: u16) -> &'static str {
    http::status(status).canonical_reason().unwrap_or("Error")
}

pub fn error(status: u16, path: &str, message: &str) -> Response {
    http::json(
        status,
        &json!({
            "timestamp": clock::cloudview_time(jiff::Timestamp::now().as_millisecond()),
            "status": status,
            "error": reason(status),
            "message": message,
            "path": path,
        }),
    )
}

/// `?pageNo=&pageSize=`, 0-based (Q-V1-1), default size 100.
pub fn paging(query: &BTreeMap<String, String>) -> Result<(usize, usize), CvError> {
    let read = |key: &str, default: usize| -> Result<usize, CvError> {
        match query.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| CvError::new(400, format!("{key} must be an integer"))),
        }
    };
    let size = read("pageSize", 100)?;
    if size == 0 {
        return Err(CvError::new(400, "pageSize must be at least 1"));
    }
    Ok((read("pageNo", 0)?, size))
}

/// The Spring Data `Page` envelope (README §6).
pub fn spring_page(items: Vec<Value>, number: usize, size: usize) -> Value {
    let total = items.len();
    let total_pages = total.div_ceil(size);
    let content: Vec<Value> = items.into_iter().skip(number.saturating_mul(size)).take(size).collect();
    let sort = json!({ "unsorted": true, "sorted": false, "empty": true });
    json!({
        "content": content,
        "pageable": {
            "sort": sort, "pageSize": size, "pageNumber": number, "offset": number * size,
            "unpaged": false, "paged": true
        },
        "totalElements": total,
        "last": number + 1 >= total_pages,
        "totalPages": total_pages,
        "first": number == 0,
        "sort": sort,
        "numberOfElements": content.len(),
        "size": size,
        "number": number,
        "empty": content.is_empty(),
    })
}

pub fn http(shared: &Shared, user: &UserSpec, incoming: &Incoming) -> Response {
    match route(shared, user, incoming) {
        Ok(response) => response,
        Err(e) => error(e.status, &incoming.path, &e.message),
    }
}

fn route(shared: &Shared, user: &UserSpec, incoming: &Incoming) -> CvResult {
    let Some(rest) = incoming.path.strip_prefix("/cloudview-api/rest/v1/") else {
        return Err(CvError::new(404, "No handler found"));
    };
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let now = shared.clock.now();
    let mut inner = shared.lock();
    let tenant = inner.world.tenant(user.tenant());
    tenant.settle(now, shared.step_ms());
    match (incoming.method.as_str(), parts.as_slice()) {
        ("GET", ["groups"]) => groups::list(tenant, &incoming.query),
        ("POST", ["groups"]) => groups::create(tenant, &incoming.query),
        ("POST", ["groups", "connectors"]) => groups::update_connectors(tenant, &incoming.query, &incoming.body),
        ("GET", ["groups", uuid]) => groups::detail(tenant, uuid),
        (_, ["reports", rest @ ..]) => reports::route(tenant, incoming, rest, now),
        ("GET", [cloud, "connectors"]) => connectors::list(tenant, shared, cloud, &incoming.query, now),
        ("GET", [cloud, "connectors", id]) => connectors::detail(tenant, shared, cloud, id, now),
        ("GET", ["users", name, "scope"]) => scope::get(&shared.users, user, tenant, name),
        ("POST", ["users", name, "scope"]) => {
            scope::update_accounts(&shared.users, user, tenant, name, &incoming.query, &incoming.body)
        }
        ("POST", ["users", name, "groupScope"]) => {
            scope::update_groups(&shared.users, user, tenant, name, &incoming.body)
        }
        (_, ["users", _, "scope" | "groupScope"]) => Err(CvError::new(405, "Request method not supported")),
        (_, ["groups", ..]) => Err(CvError::new(405, "Request method not supported")),
        _ => Err(CvError::new(404, "No handler found")),
    }
}
