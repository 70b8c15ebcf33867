//! Rate limits, faults, counters and the admin API of the simulator.

#[path = "simulator_support.rs"]
mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

const AWS: &str = "awsassetdataconnector";

fn limited(limit: u32, concurrency: u32) -> SimConfig {
    SimConfig {
        rate_limit: RateLimitConfig {
            limit,
            window_sec: 60,
            concurrency,
            gateway_empty_headers: false,
        },
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn qps_answers_409_and_the_gateway_429_when_the_budget_is_spent() {
    let sim = start_with(limited(2, 10)).await;
    let api = Api::new(&sim);
    let first = api.qps("GET", "/qps/rest/portal/version", None, false).await;
    assert_eq!(first.status, 200);
    for (name, value) in [
        ("x-ratelimit-limit", "2"),
        ("x-ratelimit-window-sec", "60"),
        ("x-ratelimit-remaining", "1"),
        ("x-ratelimit-towait-sec", "0"),
        ("x-concurrency-limit-limit", "10"),
        ("x-concurrency-limit-running", "1"),
    ] {
        assert_eq!(first.header(name), Some(value), "{name}");
    }
    let token = api.token().await; // /auth is not counted against the budget
    assert_eq!(
        api.qps("GET", "/qps/rest/portal/version", None, false).await.status,
        200
    );
    let over = api.qps("GET", "/qps/rest/portal/version", None, false).await;
    assert_eq!(over.status, 409);
    assert_eq!(over.xml("responseCode").as_deref(), Some("RATE_LIMIT_EXCEEDED"));
    let wait: u64 = over
        .header("x-ratelimit-towait-sec")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!((1..=60).contains(&wait), "{wait}");
    let gw = api.bearer(&token, "GET", "/connectors/v1.0/org/azure/", None).await;
    assert_eq!(gw.status, 429);
    assert_eq!(gw.json()["responseCode"], "TOO_MANY_REQUESTS");
    assert!(gw.header("x-ratelimit-towait-sec").is_some());
    assert_eq!(
        api.basic("GET", "/cloudview-api/rest/v1/groups", None).await.status,
        429
    );
    sim.advance_clock(Duration::from_secs(61));
    assert_eq!(
        api.qps("GET", "/qps/rest/portal/version", None, false).await.status,
        200,
        "a new window"
    );
    assert_eq!(sim.count("GET", "/qps/rest/portal/version"), 4);
}

#[tokio::test]
async fn concurrency_cap_and_empty_gateway_headers() {
    let mut config = limited(1000, 1);
    config.rate_limit.gateway_empty_headers = true;
    let sim = start_with(config).await;
    sim.add_fault(FaultRule::new("GET /qps/rest/portal/version", FaultAction::Latency { ms: 300 }).times(1));
    let api = Api::new(&sim);
    let slow = api.qps("GET", "/qps/rest/portal/version", None, false);
    let fast = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        api.qps("GET", "/qps/rest/portal/version", None, false).await
    };
    let (slow, fast) = tokio::join!(slow, fast);
    assert_eq!(slow.status, 200);
    assert_eq!(fast.status, 409, "the second concurrent call is refused");
    assert_eq!(fast.header("x-concurrency-limit-running"), Some("1"));
    let token = api.token().await;
    let gw = api.bearer(&token, "GET", "/connectors/v1.0/org/azure/", None).await;
    assert_eq!(gw.status, 200);
    assert_eq!(gw.header("x-ratelimit-limit"), Some(""), "present but empty");
}

#[tokio::test]
async fn counted_and_probabilistic_faults() {
    let sim = start().await;
    let api = Api::new(&sim);
    let create = "POST /qps/rest/3.0/create/am/aws*";
    sim.add_fault(
        FaultRule::new(
            create,
            FaultAction::Status {
                status: 503,
                body: None,
            },
        )
        .times(2),
    );
    for _ in 0..2 {
        let reply = api.qps_xml("create", AWS, None, Some(&fixture("aws_create.xml"))).await;
        assert_eq!(reply.status, 503);
    }
    assert_eq!(
        api.qps_xml("create", AWS, None, Some(&fixture("aws_create.xml")))
            .await
            .status,
        200
    );
    sim.add_fault(FaultRule::new("*", FaultAction::Html { status: 502 }).probability(0.0));
    assert_eq!(api.qps_xml("search", AWS, None, None).await.status, 200);
    sim.clear_faults();
    sim.add_fault(FaultRule::new("*/search/*", FaultAction::Html { status: 502 }).probability(1.0));
    let html = api.qps_xml("search", AWS, None, None).await;
    assert_eq!(html.status, 502);
    assert!(html.header("content-type").unwrap_or("").starts_with("text/html"));
    assert!(html.body.contains("<html>"));
    sim.clear_faults();

    sim.add_fault(FaultRule::new("*", FaultAction::Malformed).times(2));
    let xml = api.qps_xml("search", AWS, None, None).await;
    assert_eq!(xml.status, 200);
    assert!(xml.body.starts_with("<?xml") && !xml.body.contains("</ServiceResponse>"));
    let json = api.qps("POST", &qps_path("search", AWS, None), None, true).await;
    assert!(serde_json::from_str::<serde_json::Value>(&json.body).is_err());

    sim.add_fault(
        FaultRule::new(
            "*",
            FaultAction::ErrorCode {
                code: "UNAUTHORIZED".into(),
                status: 200,
            },
        )
        .times(1),
    );
    let odd = api.qps_xml("search", AWS, None, None).await;
    assert_eq!(
        (odd.status, odd.xml("responseCode").as_deref()),
        (200, Some("UNAUTHORIZED"))
    );

    sim.add_fault(FaultRule::new("*create*", FaultAction::LicenceExhausted).times(1));
    let licence = api.qps_xml("create", AWS, None, Some(&fixture("aws_create.xml"))).await;
    assert_eq!(licence.status, 403);
    let token = api.token().await;
    sim.add_fault(FaultRule::new("POST /connectors/v1.0/org/azure", FaultAction::LicenceExhausted).times(1));
    let gw = api
        .bearer(
            &token,
            "POST",
            "/connectors/v1.0/org/azure/",
            Some(&fixture("org_create.json")),
        )
        .await;
    assert_eq!(gw.status, 403);
    sim.add_fault(FaultRule::new("*", FaultAction::RateLimited).times(1).for_user("demo"));
    assert_eq!(api.qps_xml("search", AWS, None, None).await.status, 409);
    assert_eq!(api.qps_xml("search", AWS, None, None).await.status, 200);
    assert!(
        sim.state()["faults"].as_array().is_some_and(Vec::is_empty),
        "counted faults are used up"
    );
}

#[tokio::test]
async fn commit_then_fail_stores_the_create_but_loses_the_answer() {
    let sim = start().await;
    let api = Api::new(&sim);
    sim.add_fault(FaultRule::new("*/create/*", FaultAction::CommitThenFail { mode: LossMode::Drop }).times(1));
    let lost = api
        .http
        .post(format!("{}{}", api.base, qps_path("create", AWS, None)))
        .basic_auth("demo", Some("demo"))
        .body(fixture("aws_create.json"))
        .send()
        .await;
    let outcome = match lost {
        Err(e) => Err(e),
        Ok(resp) => resp.text().await.map(|_| ()),
    };
    assert!(outcome.is_err(), "the response must be lost");
    let (_, found) = api.qps_json("search", AWS, None, None).await;
    assert_eq!(found["ServiceResponse"]["count"], 1, "but the connector exists");

    sim.add_fault(FaultRule::new("*/create/*", FaultAction::CommitThenFail { mode: LossMode::Hang }).times(1));
    let hung = api
        .http
        .post(format!("{}{}", api.base, qps_path("create", AWS, None)))
        .basic_auth("demo", Some("demo"))
        .timeout(Duration::from_millis(300))
        .body(fixture("aws_create.json"))
        .send()
        .await;
    assert!(hung.is_err_and(|e| e.is_timeout()));
    let (_, found) = api.qps_json("search", AWS, None, None).await;
    assert_eq!(found["ServiceResponse"]["count"], 2);

    sim.add_fault(FaultRule::new("GET *", FaultAction::Hang).times(1));
    let hang = api
        .http
        .get(format!("{}/qps/rest/portal/version", api.base))
        .basic_auth("demo", Some("demo"));
    assert!(
        hang.timeout(Duration::from_millis(200))
            .send()
            .await
            .is_err_and(|e| e.is_timeout())
    );
    // Shutdown releases hanging requests.
    tokio::time::timeout(Duration::from_secs(5), sim.shutdown())
        .await
        .unwrap_or_else(|_| panic!("shutdown hung"));
}

#[tokio::test]
async fn admin_http_api_observes_and_edits_behind_the_operators_back() {
    let sim = start().await;
    let api = Api::new(&sim);
    let created = api
        .admin(
            "POST",
            "/_sim/tenants/demo/connectors",
            Some(json!({
                "type": "AWS", "name": "made in the UI", "arn": "arn:aws:iam::123456789012:role/ui"
            })),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.json()["id"].as_u64().unwrap_or(0);
    let drift = api
        .admin(
            "PATCH",
            &format!("/_sim/tenants/demo/connectors/{id}"),
            Some(json!({"name": "renamed", "runFrequency": 60})),
        )
        .await;
    assert_eq!(drift.status, 200, "{}", drift.body);
    let (_, got) = api.qps_json("get", AWS, Some(id), None).await;
    assert_eq!(first(&got, "AwsAssetDataConnector")["name"], "renamed");
    let bad = api
        .admin(
            "POST",
            &format!("/_sim/tenants/demo/connectors/{id}/bad-credentials"),
            Some(json!({"bad": true})),
        )
        .await;
    assert_eq!(bad.status, 200);

    let counters = api.admin("GET", "/_sim/counters", None).await.json();
    assert_eq!(
        counters,
        json!([{"method": "GET", "route": "/qps/rest/3.0/get/am/awsassetdataconnector/{id}", "status": 200, "count": 1}])
    );
    let state = api.admin("GET", "/_sim/state", None).await.json();
    assert_eq!(
        state["world"]["tenants"]["demo"]["connectors"][id.to_string()]["badCredentials"],
        true
    );

    let scope = api
        .admin("POST", "/_sim/tenants/demo/out-of-scope", Some(json!({"ids": [id]})))
        .await;
    assert_eq!(scope.status, 200);
    assert_eq!(api.qps_json("get", AWS, Some(id), None).await.0, 404);
    api.admin("DELETE", "/_sim/tenants/demo/out-of-scope", None).await;
    let fault = api
        .admin(
            "POST",
            "/_sim/faults",
            Some(json!({"endpoint": "*", "times": 1, "action": {"type": "status", "status": 500}})),
        )
        .await;
    assert_eq!(fault.status, 200, "{}", fault.body);
    assert_eq!(api.qps_json("get", AWS, Some(id), None).await.0, 500);
    assert_eq!(
        api.admin(
            "POST",
            "/_sim/faults",
            Some(json!({"endpoint": "*", "action": {"type": "nope"}}))
        )
        .await
        .status,
        400
    );

    let removed = api
        .admin("DELETE", &format!("/_sim/tenants/demo/connectors/{id}"), None)
        .await;
    assert_eq!(removed.status, 200);
    assert_eq!(api.qps_json("get", AWS, Some(id), None).await.0, 404);
    let limit = api.admin("PUT", "/_sim/ratelimit", Some(json!({"limit": 1}))).await;
    assert_eq!(limit.json()["limit"], 1);
    api.qps_json("search", AWS, None, None).await;
    assert_eq!(api.qps_json("search", AWS, None, None).await.0, 409);
    let advanced = api
        .admin("POST", "/_sim/clock/advance", Some(json!({"seconds": 3600})))
        .await;
    assert_eq!(advanced.status, 200);
    assert_eq!(api.qps_json("search", AWS, None, None).await.0, 200);

    assert_eq!(api.admin("POST", "/_sim/reset", None).await.status, 200);
    assert_eq!(api.admin("GET", "/_sim/counters", None).await.json(), json!([]));
    assert_eq!(api.admin("GET", "/_sim/nope", None).await.status, 404);
}

#[test]
fn fault_files_and_cli_flags() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("faults.yaml");
    std::fs::write(
        &path,
        "seed: 42\nfaults:\n  - endpoint: 'POST /qps/rest/3.0/create/am/aws*'\n    times: 2\n    action: {type: commitThenFail}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let file = FaultFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.seed, Some(42));
    assert_eq!(file.faults[0].times, Some(2));
    assert_eq!(
        file.faults[0].action,
        FaultAction::CommitThenFail { mode: LossMode::Drop }
    );
    assert!(FaultFile::load(&dir.path().join("missing.yaml")).is_err());
}
