//! Per-endpoint request counters, keyed by method, route (path with ids as `{id}`) and
//! status, for tests and benchmarks that count API calls.

use std::collections::BTreeMap;

use serde::Serialize;

/// The path with numeric ids and UUIDs replaced by `{id}` and no trailing slash.
pub fn route(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    let mut out = String::with_capacity(trimmed.len());
    for segment in trimmed.split('/').skip(1) {
        out.push('/');
        let is_number = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
        if is_number || looks_like_uuid(segment) {
            out.push_str("{id}");
        } else {
            out.push_str(segment);
        }
    }
    if out.is_empty() { "/".into() } else { out }
}

fn looks_like_uuid(s: &str) -> bool {
    s.len() >= 32 && s.contains('-') && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// One counter row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counter {
    pub method: String,
    pub route: String,
    pub status: u16,
    pub count: u64,
}

#[derive(Debug, Default)]
pub struct Counters {
    map: BTreeMap<(String, String, u16), u64>,
}

impl Counters {
    pub fn record(&mut self, method: &str, route: &str, status: u16) {
        *self
            .map
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }

    pub fn rows(&self) -> Vec<Counter> {
        self.map
            .iter()
            .map(|((method, route, status), count)| Counter {
                method: method.clone(),
                route: route.clone(),
                status: *status,
                count: *count,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_uuids_become_placeholders() {
        assert_eq!(
            route("/qps/rest/3.0/get/am/awsassetdataconnector/123/"),
            "/qps/rest/3.0/get/am/awsassetdataconnector/{id}"
        );
        assert_eq!(
            route("/cloudview-api/rest/v1/groups/2d16e55b-d01a-3fcb-8239-3d4ea04bc54a"),
            "/cloudview-api/rest/v1/groups/{id}"
        );
        assert_eq!(route("/connectors/v1.0/org/azure/"), "/connectors/v1.0/org/azure");
    }
}
