//! The simulator as the benchmark runs it (rate limit, latency), and the
//! classification of its per-endpoint counters.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;

use qualys_operator::simulator::{Counter, FaultAction, FaultRule, RateLimitConfig, SimConfig, SimHandle, Simulator};

use crate::Options;
use crate::workload::Mix;

pub async fn start(opts: &Options) -> SimHandle {
    let config = SimConfig {
        rate_limit: rate_limit(opts),
        state_step: Duration::from_millis(opts.state_step_ms),
        job_delay: Duration::from_millis(opts.job_delay_ms),
        faults: latency(opts),
        ..SimConfig::default()
    };
    Simulator::start(config)
        .await
        .unwrap_or_else(|e| panic!("starting the simulator: {e}"))
}

pub fn rate_limit(opts: &Options) -> RateLimitConfig {
    RateLimitConfig {
        limit: opts.rate_limit,
        window_sec: opts.rate_window_sec,
        concurrency: opts.concurrency,
        gateway_empty_headers: false,
    }
}

fn latency(opts: &Options) -> Vec<FaultRule> {
    if opts.latency_ms == 0 {
        return Vec::new();
    }
    vec![FaultRule::new("*", FaultAction::Latency { ms: opts.latency_ms })]
}

/// A fresh rate window (the client of the next phase starts from a full budget).
pub fn fresh_budget(sim: &SimHandle, opts: &Options) {
    sim.set_rate_limit(rate_limit(opts));
}

/// The Qualys object family a route belongs to, for the per-kind columns.
pub fn route_kind(route: &str) -> &'static str {
    let r = route.to_ascii_lowercase();
    if r.contains("awsassetdataconnector") {
        "AwsConnector"
    } else if r.contains("azureassetdataconnector") {
        "AzureConnector"
    } else if r.contains("gcpassetdataconnector") {
        "GcpConnector"
    } else if r.contains("ociassetdataconnector") {
        "OciConnector"
    } else if r.contains("/org/azure") || r.contains("/connectors/v1.0/azure") {
        "AzureOrgConnector"
    } else if r.contains("/cloudview-api/") {
        "ConnectorGroup"
    } else if r.contains("globalscanconfiguration") {
        "GlobalScanConfiguration"
    } else {
        "other"
    }
}

/// API calls seen by the simulator, by category.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Calls {
    /// Every authenticated API call (QPS, gateway, CloudView), throttled answers included.
    pub total: u64,
    /// Paged listings: QPS `search`, gateway org list, CloudView group list.
    pub searches: u64,
    /// Reads of one object (GET by id, org members, job polls).
    pub gets: u64,
    /// Everything else: create, update, delete, run, attach, membership, test connection.
    pub writes: u64,
    /// Of the writes, accepted creates (connector, org connector, group, global scan).
    pub creates: u64,
    /// `POST /auth` (gateway token; not rate limited by Qualys).
    pub auth: u64,
    /// 409 (QPS) / 429 (gateway, CloudView) throttles on the wire, included in the above.
    pub throttled: u64,
    /// Other error answers (4xx/5xx), included in the above.
    pub errors: u64,
    /// Accepted (non-throttled) listing calls per kind.
    pub searches_by_kind: BTreeMap<String, u64>,
    pub writes_by_route: BTreeMap<String, u64>,
    /// Every counter row, `METHOD route status`.
    pub rows: BTreeMap<String, u64>,
}

impl Calls {
    pub fn from_counters(rows: &[Counter]) -> Self {
        let mut c = Calls::default();
        for row in rows {
            let n = row.count;
            let route = row.route.as_str();
            *c.rows
                .entry(format!("{} {} {}", row.method, route, row.status))
                .or_default() += n;
            if route == "/auth" {
                c.auth += n;
                continue;
            }
            c.total += n;
            let throttled = matches!(row.status, 409 | 429);
            if throttled {
                c.throttled += n;
            } else if row.status >= 400 {
                c.errors += n;
            }
            let is_listing = route.contains("/qps/rest/3.0/search/")
                || (row.method == "GET"
                    && (route == "/connectors/v1.0/org/azure" || route == "/cloudview-api/rest/v1/groups"));
            if is_listing {
                c.searches += n;
                if !throttled {
                    *c.searches_by_kind.entry(route_kind(route).to_string()).or_default() += n;
                }
            } else if row.method == "GET" || route.contains("/qps/rest/3.0/get/") {
                c.gets += n;
            } else {
                c.writes += n;
                let create = route.contains("/qps/rest/3.0/create/")
                    || (row.method == "POST"
                        && (route == "/connectors/v1.0/org/azure" || route == "/cloudview-api/rest/v1/groups"));
                if create && row.status < 300 {
                    c.creates += n;
                }
                *c.writes_by_route
                    .entry(format!("{} {} {}", row.method, route, row.status))
                    .or_default() += n;
            }
        }
        c
    }

    pub fn of(sim: &SimHandle) -> Self {
        Self::from_counters(&sim.counters())
    }
}

/// The listing calls one observation of every kind needs: ceil(n/100) per
/// connector kind, ceil(groups/100) for groups, one for the global scan
/// configuration, and list + get + members per org connector (the gateway's
/// list carries no settings; DESIGN.md §3 names this exception).
pub fn expected_observe(mix: &Mix) -> BTreeMap<String, u64> {
    let pages = |n: usize| (n.max(1)).div_ceil(100) as u64;
    let mut m = BTreeMap::new();
    m.insert("AwsConnector".to_string(), pages(mix.aws));
    m.insert("AzureConnector".to_string(), pages(mix.azure));
    m.insert("GcpConnector".to_string(), pages(mix.gcp));
    m.insert("OciConnector".to_string(), pages(mix.oci));
    m.insert("AzureOrgConnector".to_string(), 1 + 2 * mix.orgs as u64);
    m.insert("ConnectorGroup".to_string(), pages(mix.groups));
    m.insert("GlobalScanConfiguration".to_string(), 1);
    m
}

/// Of those, the paged listings alone (the org gets and member reads are
/// single-object reads).
pub fn expected_searches(mix: &Mix) -> u64 {
    let pages = |n: usize| (n.max(1)).div_ceil(100) as u64;
    pages(mix.aws) + pages(mix.azure) + pages(mix.gcp) + pages(mix.oci) + 1 + pages(mix.groups) + 1
}

/// What the simulator holds, and how many natural keys appear more than once.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Holdings {
    pub connectors: BTreeMap<String, u64>,
    pub orgs: u64,
    pub groups: u64,
    pub global_scan: bool,
    /// Natural keys (AWS account, Azure subscription, GCP project, OCI tenancy,
    /// org tenant, group name) held by more than one object.
    pub duplicates: u64,
}

pub fn holdings(sim: &SimHandle) -> Holdings {
    let state = sim.state();
    let mut h = Holdings::default();
    let mut keys: HashMap<String, u64> = HashMap::new();
    for tenant in state["world"]["tenants"]
        .as_object()
        .into_iter()
        .flat_map(|t| t.values())
    {
        for c in tenant["connectors"].as_object().into_iter().flat_map(|m| m.values()) {
            let kind = c["kind"].as_str().unwrap_or("?").to_string();
            *h.connectors.entry(kind.clone()).or_default() += 1;
            let auth = &c["authRecord"];
            let key = [
                c["arn"].as_str(),
                auth["subscriptionId"].as_str(),
                auth["projectId"].as_str(),
                auth["tenantId"].as_str(),
            ]
            .into_iter()
            .flatten()
            .next()
            .unwrap_or("")
            .to_string();
            *keys.entry(format!("{kind}/{key}")).or_default() += 1;
        }
        for o in tenant["orgConnectors"].as_object().into_iter().flat_map(|m| m.values()) {
            h.orgs += 1;
            *keys
                .entry(format!("org/{}", o["tenantId"].as_str().unwrap_or("")))
                .or_default() += 1;
        }
        for g in tenant["groups"].as_array().into_iter().flatten() {
            h.groups += 1;
            *keys
                .entry(format!("group/{}", g["name"].as_str().unwrap_or("")))
                .or_default() += 1;
        }
        h.global_scan |= !tenant["globalScan"].is_null();
    }
    h.duplicates = keys.values().filter(|n| **n > 1).map(|n| n - 1).sum();
    h
}

/// Connectors in the simulator by object name (`name` field), for drift.
pub fn connector_ids_by_name(sim: &SimHandle) -> HashMap<String, (u64, String)> {
    let state = sim.state();
    let mut out = HashMap::new();
    for tenant in state["world"]["tenants"]
        .as_object()
        .into_iter()
        .flat_map(|t| t.values())
    {
        for c in tenant["connectors"].as_object().into_iter().flat_map(|m| m.values()) {
            if let (Some(name), Some(id)) = (c["name"].as_str(), c["id"].as_u64()) {
                out.insert(name.to_string(), (id, c["kind"].as_str().unwrap_or("").to_string()));
            }
        }
    }
    out
}

pub fn tenant(sim: &SimHandle) -> String {
    sim.users()
        .first()
        .map(|u| u.tenant().to_string())
        .unwrap_or_else(|| "demo".into())
}

/// The stored description of connector `id`, as the simulator holds it.
pub fn description(sim: &SimHandle, id: u64) -> Option<String> {
    sim.connector(&tenant(sim), id)?.description
}
