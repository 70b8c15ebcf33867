//! CloudView v1 report configurations (issue 18): the seed's samples
//! (`tests/fixtures/cloudview-reports/`) replayed against the simulator over raw
//! HTTP and against the client, the simulator's decisions where the docs are
//! silent, paging, faults and the admin API.

#[path = "simulator_support.rs"]
mod support;

use std::time::Duration;

use qualys_operator::qualys::cloudview::reports::{
    ReportAccountKey, ReportAccountWrite, ReportFormat, ReportPolicyWrite, ReportType, ReportWrite,
};
use qualys_operator::qualys::{AccountConfig, QualysClient, QualysError};
use serde_json::{Value, json};
use support::*;

const REPORTS: &str = "/cloudview-api/rest/v1/reports";
const TENANT: &str = "demo";
/// The account of every configuration sample [002:2110], its connector's name [002:2108].
const QUALYS_DEV: &str = "383031258652";
const BEST_PRACTICES: &str = "1b8a3200-dbb3-11e7-b820-0518e3f8c979";
const CIS: &str = "68dc5320-8677-11e8-9d84-85bffa8eeea9";

fn sample(name: &str) -> String {
    let path = format!("{}/tests/fixtures/cloudview-reports/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .skip_while(|l| l.starts_with('#') || l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn sample_json(name: &str) -> Value {
    serde_json::from_str(&sample(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

fn without(v: &Value, drop: &[&str]) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        for k in drop {
            o.remove(*k);
        }
    }
    v
}

fn is_cloudview_time(s: &str) -> bool {
    regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$")
        .unwrap_or_else(|e| panic!("{e}"))
        .is_match(s)
}

/// An AWS connector with the CSA app (so a CloudView connector) for `account`.
fn aws_connector(sim: &SimHandle, account: &str, name: &str) -> u64 {
    let arn = format!("arn:aws:iam::{account}:role/QualysCloudViewRole");
    sim.create_connector(
        TENANT,
        CloudKind::Aws,
        json!({
            "name": name,
            "arn": arn,
            "externalId": "ext",
            "connectorAppInfos": {"set": {"ConnectorAppInfoQList": [
                {"set": {"ConnectorAppInfo": {"name": "CSA", "identifier": arn}}}
            ]}}
        }),
    )
    .unwrap_or_else(|e| panic!("connector: {e}"))
}

/// A simulator whose tenant has the samples' `Qualys_Dev` connector, and a raw client.
async fn setup() -> (SimHandle, Api) {
    let sim = start().await;
    let api = Api::new(&sim);
    aws_connector(&sim, QUALYS_DEV, "Qualys_Dev");
    (sim, api)
}

/// The CloudView connector id of `Qualys_Dev`.
fn qualys_dev_uuid(sim: &SimHandle) -> String {
    let world = sim.state()["world"]["tenants"][TENANT]["connectors"].clone();
    world
        .as_object()
        .and_then(|cs| cs.values().find(|c| c["name"] == "Qualys_Dev"))
        .and_then(|c| c["cloudviewUuid"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no Qualys_Dev connector in {world}"))
}

fn client(sim: &SimHandle) -> QualysClient {
    let base = sim.base_url();
    let mut config = AccountConfig::new(&base, &base, "demo", "demo");
    config.timeouts.request = Duration::from_secs(5);
    config.timeouts.retry_base = Duration::from_millis(5);
    config.timeouts.max_retries = 2;
    QualysClient::new(config).unwrap_or_else(|e| panic!("client: {e}"))
}

async fn create(api: &Api, body: &Value) -> Reply {
    api.basic("POST", REPORTS, Some(&body.to_string())).await
}

async fn created_id(api: &Api, body: &Value) -> String {
    let reply = create(api, body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["reportId"]
        .as_str()
        .unwrap_or_else(|| panic!("no reportId: {}", reply.body))
        .to_string()
}

fn policy_body(title: &str) -> Value {
    json!({
        "title": title, "type": "POLICY", "format": "ON_SCREEN", "description": null,
        "policies": [{"policyId": CIS, "cloudType": "AWS"}],
        "accounts": [{"cloudType": "AWS", "accountId": QUALYS_DEV}]
    })
}

#[tokio::test]
async fn documented_requests_get_documented_answers() {
    let (sim, api) = setup().await;
    let mandates = api.basic("GET", &format!("{REPORTS}/mandates"), None).await;
    assert_eq!(mandates.status, 200);
    assert_eq!(mandates.json(), sample_json("mandates_response.json"));
    let policies = api.basic("GET", &format!("{REPORTS}/policies"), None).await;
    assert_eq!(policies.json(), sample_json("policies_response.json"));

    // Create: the sample request verbatim (mandateId a number).
    let reply = api.basic("POST", REPORTS, Some(&sample("create_request.json"))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let created = reply.json();
    let documented = sample_json("create_response.json");
    assert_eq!(keys(&created), keys(&documented));
    assert_eq!(
        without(&created, &["reportId", "createdOn"]),
        without(&documented, &["reportId", "createdOn"])
    );
    let id = created["reportId"].as_str().unwrap_or_default().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "reportId is a UUID: {id}");
    let created_on = created["createdOn"].as_str().unwrap_or_default().to_string();
    assert!(is_cloudview_time(&created_on), "{created_on}");

    // Get: the configuration sample's shape, the create's values.
    let got = api.basic("GET", &format!("{REPORTS}/{id}"), None).await.json();
    assert_eq!(keys(&got), keys(&sample_json("get_response.json")));
    assert_eq!(got, created);

    // Patch: the sample request verbatim; the answer is the sample's but for the
    // id (the patched one) and createdOn (kept from the create).
    let reply = api
        .basic("PATCH", &format!("{REPORTS}/{id}"), Some(&sample("patch_request.json")))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let patched = reply.json();
    let mut expected = sample_json("patch_response.json");
    expected["reportId"] = json!(id);
    expected["createdOn"] = json!(created_on);
    assert_eq!(patched, expected);

    // List: the documented item keys, and the connector id in the accounts (the list
    // sample shows one where configuration answers show null).
    let page = api
        .basic("GET", &format!("{REPORTS}?pageNo=0&pageSize=3"), None)
        .await
        .json();
    let documented = sample_json("list_response.json");
    for key in keys(&documented) {
        assert!(page.get(&key).is_some(), "page envelope lacks {key}");
    }
    assert_eq!(keys(&page["content"][0]), keys(&documented["content"][0]));
    assert_eq!(
        keys(&page["content"][0]["accounts"][0]),
        keys(&documented["content"][0]["accounts"][0])
    );
    assert_eq!(
        page["content"][0]["accounts"][0]["id"],
        json!(qualys_dev_uuid(&sim)),
        "{page}"
    );

    // Report data: the sample's keys, and the sample's mandate for 2481.
    let data = api.basic("GET", &format!("{REPORTS}/report_data/{id}"), None).await;
    assert_eq!(data.status, 200, "{}", data.body);
    let data = data.json();
    let documented = sample_json("report_data_response.json");
    assert_eq!(keys(&data), keys(&documented));
    assert_eq!(keys(&data["summary"]), keys(&documented["summary"]));
    assert_eq!(data["mandate"], documented["mandate"]);
    assert_eq!(data["summary"]["policiesCount"], 2);

    // Delete, samples 2 then 1: the documented ids, seeded by hand.
    for report_id in [
        "9cce6540-4b36-11e9-be40-09d60abc9fcd",
        "fbfd2de0-4af4-11e9-9fd1-1344989d5139",
    ] {
        let mut body = sample_json("create_request.json");
        body["reportId"] = json!(report_id);
        sim.seed_report(TENANT, body).unwrap_or_else(|e| panic!("seed: {e}"));
    }
    let reply = api
        .basic("DELETE", REPORTS, Some(&sample("delete_request_two.json")))
        .await;
    assert_eq!((reply.status, reply.body.as_str()), (204, ""));
    let left: Vec<Value> = sim.reports(TENANT).iter().map(|r| r["reportId"].clone()).collect();
    assert_eq!(left, vec![json!(id)], "both documented ids deleted in one call");
    let again = api
        .basic("DELETE", REPORTS, Some(&sample("delete_request_one.json")))
        .await;
    assert_eq!(again.status, 404, "already deleted: {}", again.body);
}

#[tokio::test]
async fn validation_follows_the_documented_rules() {
    let (sim, api) = setup().await;
    let base = sample_json("create_request.json");
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        if value.is_null() && key != "description" {
            body.as_object_mut().map(|o| o.remove(key));
        } else {
            body[key] = value;
        }
        body
    };
    let refused = [
        ("format PDF", with("format", json!("PDF"))),
        ("no format", with("format", Value::Null)),
        ("unknown type", with("type", json!("COMPLIANCE"))),
        ("type in lower case", with("type", json!("mandate"))),
        ("mandate report without mandate", with("mandateId", Value::Null)),
        ("unknown mandate", with("mandateId", json!(9999))),
        ("no title", with("title", json!("  "))),
        ("no accounts", with("accounts", json!([]))),
        (
            "account without connector",
            with("accounts", json!([{"cloudType": "AWS", "accountId": "999999999999"}])),
        ),
        (
            "account without cloudType",
            with("accounts", json!([{"accountId": QUALYS_DEV}])),
        ),
        (
            "OCI account",
            with("accounts", json!([{"cloudType": "OCI", "accountId": QUALYS_DEV}])),
        ),
        (
            "unknown policy on a mandate report",
            with(
                "policies",
                json!([{"policyId": "00000000-0000-0000-0000-000000000000", "cloudType": "AWS"}]),
            ),
        ),
        (
            "policy of another cloud",
            with("policies", json!([{"policyId": CIS, "cloudType": "AZURE"}])),
        ),
        ("policy report without policies", {
            let mut b = policy_body("p");
            b["policies"] = json!([]);
            b
        }),
        ("policy report with an unknown policy", {
            let mut b = policy_body("p");
            b["policies"] = json!([{"policyId": "nope", "cloudType": "AWS"}]);
            b
        }),
        ("a list for a body", json!([base.clone()])),
    ];
    for (what, body) in &refused {
        let reply = create(&api, body).await;
        assert_eq!(reply.status, 400, "{what}: {}", reply.body);
        assert_eq!(reply.json()["path"], REPORTS, "{what}: Spring error body");
    }
    let (_, no_connector) = refused
        .iter()
        .find(|(what, _)| *what == "account without connector")
        .unwrap_or_else(|| panic!("case missing"));
    let unknown = create(&api, no_connector).await;
    assert!(
        unknown.body.contains("AWS/999999999999"),
        "names the account: {}",
        unknown.body
    );
    assert_eq!(api.basic("POST", REPORTS, Some("{not json")).await.status, 400);
    assert!(sim.reports(TENANT).is_empty(), "nothing refused was stored");

    // A connector the user can no longer see does not count.
    let hidden = aws_connector(&sim, "222222222222", "hidden");
    sim.mark_out_of_scope(TENANT, &[hidden]);
    let body = with("accounts", json!([{"cloudType": "aws", "accountId": "222222222222"}]));
    assert_eq!(create(&api, &body).await.status, 400);
    sim.clear_out_of_scope(TENANT);
    let ok = create(&api, &body).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        ok.json()["accounts"],
        json!([{"name": "hidden", "id": null, "accountId": "222222222222", "cloudType": "AWS"}]),
        "cloudType is upper-cased, the name defaults to the connector's"
    );

    // Accepted variations.
    let text_mandate = create(&api, &with("mandateId", json!(" 2441"))).await.json();
    assert_eq!(text_mandate["mandateId"], "2441");
    let mut policy = policy_body("p");
    policy["mandateId"] = json!("2481");
    policy["policies"] = json!([{"policyId": CIS}, {"policyId": CIS, "cloudType": "AWS"}]);
    policy["accounts"] = json!([
        {"cloudType": "AWS", "accountId": QUALYS_DEV, "name": "mine", "id": "ignored"},
        {"cloudType": "AWS", "accountId": QUALYS_DEV}
    ]);
    let policy = create(&api, &policy).await;
    assert_eq!(policy.status, 200, "{}", policy.body);
    let policy = policy.json();
    assert_eq!(policy["mandateId"], Value::Null, "a policy report has no mandate");
    assert_eq!(policy["policies"], json!([{"policyId": CIS, "cloudType": "AWS"}]));
    assert_eq!(
        policy["accounts"],
        json!([{"name": "mine", "id": null, "accountId": QUALYS_DEV, "cloudType": "AWS"}])
    );
    let twice = create(&api, &with("title", json!("Mandate_Report_Piblic_API"))).await;
    assert_eq!(twice.status, 200, "titles need not be unique");

    // Unknown ids and methods.
    let nobody = "11111111-2222-3333-4444-555555555555";
    for (method, path) in [
        ("GET", format!("{REPORTS}/{nobody}")),
        ("GET", format!("{REPORTS}/report_data/{nobody}")),
        ("PATCH", format!("{REPORTS}/{nobody}")),
    ] {
        let reply = api.basic(method, &path, Some(&sample("patch_request.json"))).await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.body);
    }
    assert_eq!(api.basic("PUT", REPORTS, Some("{}")).await.status, 405);
    assert_eq!(api.basic("GET", &format!("{REPORTS}/a/b/c"), None).await.status, 404);
}

#[tokio::test]
async fn delete_is_one_call_and_all_or_nothing() {
    let (sim, api) = setup().await;
    let a = created_id(&api, &policy_body("a")).await;
    let b = created_id(&api, &policy_body("b")).await;
    let c = created_id(&api, &policy_body("c")).await;
    let unknown = "11111111-2222-3333-4444-555555555555";
    let reply = api
        .basic("DELETE", REPORTS, Some(&json!([a, unknown]).to_string()))
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert!(reply.body.contains(unknown), "names the unknown id: {}", reply.body);
    assert_eq!(sim.reports(TENANT).len(), 3, "nothing deleted");
    for bad in ["[]", "{\"ids\": []}", "[1, 2]", "nope"] {
        let reply = api.basic("DELETE", REPORTS, Some(bad)).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
    }
    sim.reset_counters();
    let reply = api.basic("DELETE", REPORTS, Some(&json!([a, b]).to_string())).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(sim.count("DELETE", REPORTS), 1);
    let left: Vec<Value> = sim.reports(TENANT).iter().map(|r| r["reportId"].clone()).collect();
    assert_eq!(left, vec![json!(c)]);
}

#[tokio::test]
async fn patch_merges_and_fixed_fields_follow_the_tenant_rule() {
    let (sim, api) = setup().await;
    let id = created_id(&api, &sample_json("create_request.json")).await;
    let path = format!("{REPORTS}/{id}");
    let before = api.basic("GET", &path, None).await.json();

    let renamed = api.basic("PATCH", &path, Some(r#"{"title": "renamed"}"#)).await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let mut expected = before.clone();
    expected["title"] = json!("renamed");
    assert_eq!(renamed.json(), expected, "a key left out keeps its value");
    let cleared = api
        .basic("PATCH", &path, Some(r#"{"description": null, "policies": null}"#))
        .await
        .json();
    assert_eq!(
        (&cleared["description"], &cleared["policies"]),
        (&Value::Null, &json!([]))
    );

    for change in [
        r#"{"mandateId": "2441"}"#,
        r#"{"mandateId": 2443}"#,
        r#"{"type": "POLICY"}"#,
    ] {
        let reply = api.basic("PATCH", &path, Some(change)).await;
        assert_eq!(reply.status, 400, "{change} is refused by default: {}", reply.body);
    }
    let same = api
        .basic("PATCH", &path, Some(r#"{"mandateId": 2481, "type": "MANDATE"}"#))
        .await;
    assert_eq!(same.status, 200, "unchanged fixed fields are fine: {}", same.body);

    let settings = api
        .admin(
            "PUT",
            &format!("/_sim/tenants/{TENANT}/reports/settings"),
            Some(json!({"onFixedFieldChange": "ignore"})),
        )
        .await;
    assert_eq!(settings.status, 200, "{}", settings.body);
    let ignored = api
        .basic("PATCH", &path, Some(r#"{"mandateId": "2441", "title": "t2"}"#))
        .await
        .json();
    assert_eq!(
        (&ignored["mandateId"], &ignored["title"]),
        (&json!("2481"), &json!("t2"))
    );

    sim.set_report_fixed_field_change(TENANT, FixedFieldChange::Apply);
    let applied = api.basic("PATCH", &path, Some(r#"{"mandateId": "2441"}"#)).await.json();
    assert_eq!(applied["mandateId"], "2441");
    let to_policy = api
        .basic(
            "PATCH",
            &path,
            Some(&json!({"type": "POLICY", "policies": [{"policyId": BEST_PRACTICES}]}).to_string()),
        )
        .await;
    assert_eq!(to_policy.status, 200, "{}", to_policy.body);
    let to_policy = to_policy.json();
    assert_eq!(
        (&to_policy["type"], &to_policy["mandateId"]),
        (&json!("POLICY"), &Value::Null)
    );
    assert_eq!(to_policy["createdOn"], before["createdOn"], "createdOn is kept");
    let invalid = api.basic("PATCH", &path, Some(r#"{"format": "PDF"}"#)).await;
    assert_eq!(invalid.status, 400, "a patch is validated like a create");
}

#[tokio::test]
async fn list_pages_are_zero_based() {
    let (sim, api) = setup().await;
    for n in 0..5 {
        sim.seed_report(TENANT, policy_body(&format!("r{n}")))
            .unwrap_or_else(|e| panic!("seed: {e}"));
    }
    let page = |n: u32| {
        let api = &api;
        async move {
            api.basic("GET", &format!("{REPORTS}?pageNo={n}&pageSize=2"), None)
                .await
                .json()
        }
    };
    let first = page(0).await;
    assert_eq!(
        (
            &first["totalElements"],
            &first["totalPages"],
            &first["first"],
            &first["last"],
            &first["number"]
        ),
        (&json!(5), &json!(3), &json!(true), &json!(false), &json!(0))
    );
    assert_eq!(first["content"][0]["title"], "r0");
    let last = page(2).await;
    assert_eq!(last["content"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        (&last["last"], &last["content"][0]["title"]),
        (&json!(true), &json!("r4"))
    );
    assert_eq!(page(3).await["content"], json!([]));
    assert_eq!(
        api.basic("GET", &format!("{REPORTS}?pageSize=0"), None).await.status,
        400
    );
}

fn write(title: &str) -> ReportWrite {
    ReportWrite {
        title: title.into(),
        report_type: ReportType::Mandate,
        format: ReportFormat::OnScreen,
        description: Some("CCM".into()),
        mandate_id: Some("2481".into()),
        policies: vec![ReportPolicyWrite {
            policy_id: BEST_PRACTICES.into(),
            cloud_type: "AWS".into(),
        }],
        accounts: vec![ReportAccountWrite {
            account_id: QUALYS_DEV.into(),
            cloud_type: "AWS".into(),
            name: None,
            connector_id: None,
        }],
    }
}

#[tokio::test]
async fn client_round_trip_on_the_simulator() {
    let (sim, _api) = setup().await;
    let client = client(&sim);
    let mandates = client.mandates().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        mandates
            .iter()
            .map(|m| m.id.clone().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["2481", "2441", "2443"]
    );
    let policies = client.policies().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(policies.len(), 2);

    let created = client
        .create_report(&write("ops"))
        .await
        .unwrap_or_else(|e| panic!("create: {e}"));
    let id = created.report_id.clone().unwrap_or_default();
    assert_eq!(created.mandate_id.as_deref(), Some("2481"));
    assert_eq!(
        created.accounts.as_ref().unwrap()[0].name.as_deref(),
        Some("Qualys_Dev")
    );
    let got = client.get_report(&id).await.unwrap_or_else(|e| panic!("get: {e}"));
    assert_eq!(got, created);

    let listed = client.list_reports().await.unwrap_or_else(|e| panic!("list: {e}"));
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].report_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        listed.items[0].account_keys(),
        Some(vec![ReportAccountKey::new("AWS", QUALYS_DEV)])
    );
    assert_eq!(listed.items[0].policies, None, "the list does not carry policies");

    let mut change = write("ops renamed");
    change.policies.push(ReportPolicyWrite {
        policy_id: CIS.into(),
        cloud_type: "AWS".into(),
    });
    change.description = None;
    let patched = client
        .patch_report(&id, &change)
        .await
        .unwrap_or_else(|e| panic!("patch: {e}"));
    assert_eq!(patched.title.as_deref(), Some("ops renamed"));
    assert_eq!(patched.description, None);
    assert_eq!(
        patched.policy_ids(),
        Some(vec![BEST_PRACTICES.to_string(), CIS.to_string()])
    );
    assert_eq!(patched.created_on, created.created_on);

    let mut other_mandate = change.clone();
    other_mandate.mandate_id = Some("2441".into());
    match client.patch_report(&id, &other_mandate).await {
        Err(QualysError::InvalidRequest { message, .. }) => assert!(message.contains("mandateId"), "{message}"),
        other => panic!("a mandate change is refused: {other:?}"),
    }
    let mut pdf = write("pdf");
    pdf.format = ReportFormat::Other("PDF".into());
    assert!(matches!(
        client.create_report(&pdf).await,
        Err(QualysError::InvalidRequest { .. })
    ));
    assert!(matches!(
        client.get_report("11111111-2222-3333-4444-555555555555").await,
        Err(QualysError::NotFound { .. })
    ));

    let data = client.report_data(&id).await.unwrap_or_else(|e| panic!("data: {e}"));
    assert_eq!(
        data.mandate.and_then(|m| m.name).as_deref(),
        Some("Cloud Controls Matrix (CCM)")
    );
    assert_eq!(data.summary.and_then(|s| s.policies_count), Some(2));

    let second = client
        .create_report(&write("second"))
        .await
        .unwrap_or_else(|e| panic!("create: {e}"))
        .report_id
        .unwrap_or_default();
    sim.reset_counters();
    client.delete_reports(&[]).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.count("*", "*"), 0, "nothing sent for no ids");
    client
        .delete_reports(&[id, second])
        .await
        .unwrap_or_else(|e| panic!("delete: {e}"));
    assert_eq!(sim.count("DELETE", REPORTS), 1, "one call for two ids");
    assert!(sim.reports(TENANT).is_empty());
}

#[tokio::test]
async fn client_lists_every_page() {
    let (sim, _api) = setup().await;
    for n in 0..205 {
        sim.seed_report(TENANT, policy_body(&format!("r{n}")))
            .unwrap_or_else(|e| panic!("seed: {e}"));
    }
    let listed = client(&sim)
        .list_reports()
        .await
        .unwrap_or_else(|e| panic!("list: {e}"));
    assert_eq!((listed.items.len(), listed.pages), (205, 3));
    let mut ids: Vec<_> = listed.items.iter().filter_map(|r| r.report_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 205);
}

/// The documented answers, served verbatim, decode through the client.
#[tokio::test]
async fn client_reads_the_documented_answers() {
    let (sim, _api) = setup().await;
    let serve = |endpoint: &str, file: &str| {
        sim.add_fault(FaultRule::new(
            endpoint,
            FaultAction::Status {
                status: 200,
                body: Some(sample(file)),
            },
        ));
    };
    serve("GET /cloudview-api/rest/v1/reports", "list_response.json");
    serve("GET /cloudview-api/rest/v1/reports/mandates", "mandates_response.json");
    serve("GET /cloudview-api/rest/v1/reports/policies", "policies_response.json");
    serve("GET /cloudview-api/rest/v1/reports/{id}", "get_response.json");
    serve(
        "GET /cloudview-api/rest/v1/reports/report_data/{id}",
        "report_data_response.json",
    );
    serve("POST /cloudview-api/rest/v1/reports", "create_response.json");
    serve("PATCH /cloudview-api/rest/v1/reports/{id}", "patch_response.json");
    let client = client(&sim);

    // `last: false` with the same page served again: the repeat ends the walk.
    let listed = client.list_reports().await.unwrap_or_else(|e| panic!("list: {e}"));
    assert_eq!((listed.items.len(), listed.pages), (1, 2));
    assert_eq!(
        listed.items[0].account_keys(),
        Some(vec![ReportAccountKey::new("AWS", "111111111111")])
    );
    assert_eq!(client.mandates().await.map(|m| m.len()).ok(), Some(3));
    assert_eq!(client.policies().await.map(|p| p.len()).ok(), Some(2));
    // The samples' get and patch answers name other reports than their requests.
    let asked = "9cce6540-4b36-11e9-be40-09d60abc9fcd";
    let got = client.get_report(asked).await.unwrap_or_else(|e| panic!("get: {e}"));
    assert_eq!(got.report_id.as_deref(), Some(asked));
    assert_eq!(got.mandate_id.as_deref(), Some("2481"));
    assert_eq!(got.accounts.as_ref().unwrap()[0].connector_id, None);
    let created = client
        .create_report(&write("Mandate_Report_Piblic_API"))
        .await
        .unwrap_or_else(|e| panic!("create: {e}"));
    assert_eq!(
        created.report_id.as_deref(),
        Some("b2f0e120-56b9-11e9-abce-d1748f389748")
    );
    let patched_id = "7fb67360-4d40-11e9-a00f-f18386b5a29f";
    let patched = client
        .patch_report(patched_id, &write("Mandate_Report"))
        .await
        .unwrap_or_else(|e| panic!("patch: {e}"));
    assert_eq!(patched.report_id.as_deref(), Some(patched_id));
    assert_eq!(patched.created_on.as_deref(), Some("2019-03-27T09:06:23+0000"));
    let data = client.report_data(asked).await.unwrap_or_else(|e| panic!("data: {e}"));
    assert_eq!(data.summary.and_then(|s| s.controls_count), Some(68));
}

#[tokio::test]
async fn faults_reach_the_report_routes_and_writes_are_not_blindly_repeated() {
    let (sim, _api) = setup().await;
    let client = client(&sim);
    let id = client
        .create_report(&write("base"))
        .await
        .unwrap_or_else(|e| panic!("create: {e}"))
        .report_id
        .unwrap_or_default();
    let one_503 = |endpoint: &str| {
        sim.add_fault(
            FaultRule::new(
                endpoint,
                FaultAction::Status {
                    status: 503,
                    body: None,
                },
            )
            .times(1),
        );
    };

    // Reads and the whole-body PATCH are repeated after a server error.
    sim.reset_counters();
    one_503("GET /cloudview-api/rest/v1/reports/{id}");
    client.get_report(&id).await.unwrap_or_else(|e| panic!("get: {e}"));
    one_503("PATCH /cloudview-api/rest/v1/reports/{id}");
    client
        .patch_report(&id, &write("patched"))
        .await
        .unwrap_or_else(|e| panic!("patch: {e}"));
    assert_eq!(sim.count("GET", &format!("{REPORTS}/{{id}}")), 2);
    assert_eq!(sim.count("PATCH", &format!("{REPORTS}/{{id}}")), 2);

    // A create is not.
    sim.reset_counters();
    one_503("POST /cloudview-api/rest/v1/reports");
    let err = client.create_report(&write("x")).await;
    assert!(matches!(err, Err(QualysError::Server { status: 503, .. })), "{err:?}");
    assert_eq!(sim.count("POST", REPORTS), 1);
    sim.add_fault(
        FaultRule::new(
            "POST /cloudview-api/rest/v1/reports",
            FaultAction::CommitThenFail { mode: LossMode::Drop },
        )
        .times(1),
    );
    let lost = client.create_report(&write("lost answer")).await;
    assert!(lost.as_ref().is_err_and(QualysError::is_ambiguous), "{lost:?}");
    assert_eq!(sim.count("POST", REPORTS), 2, "sent once more, not retried");
    assert!(
        sim.reports(TENANT).iter().any(|r| r["title"] == "lost answer"),
        "the create happened"
    );

    // Nor is a delete; one call, whatever the ids.
    sim.reset_counters();
    sim.add_fault(
        FaultRule::new(
            "DELETE /cloudview-api/rest/v1/reports",
            FaultAction::CommitThenFail { mode: LossMode::Drop },
        )
        .times(1),
    );
    let all: Vec<String> = sim
        .reports(TENANT)
        .iter()
        .filter_map(|r| r["reportId"].as_str().map(str::to_string))
        .collect();
    assert_eq!(all.len(), 2);
    let deleted = client.delete_reports(&all).await;
    assert!(deleted.as_ref().is_err_and(QualysError::is_ambiguous), "{deleted:?}");
    assert_eq!(sim.count("DELETE", REPORTS), 1);
    assert!(sim.reports(TENANT).is_empty(), "the delete happened");
}

#[tokio::test]
async fn admin_api_seeds_lists_edits_and_deletes_reports() {
    let (sim, api) = setup().await;
    let admin = format!("/_sim/tenants/{TENANT}/reports");
    // Seeded with the configuration sample's id and values: a report made by hand.
    let documented = sample_json("get_response.json");
    let mut body = sample_json("create_request.json");
    body["title"] = json!("Mandate_Report");
    body["reportId"] = documented["reportId"].clone();
    let seeded = api.admin("POST", &admin, Some(body)).await;
    assert_eq!(seeded.status, 200, "{}", seeded.body);
    let id = seeded.json()["reportId"].as_str().unwrap_or_default().to_string();
    assert_eq!(json!(id), documented["reportId"]);
    let got = api.basic("GET", &format!("{REPORTS}/{id}"), None).await.json();
    assert_eq!(without(&got, &["createdOn"]), without(&documented, &["createdOn"]));
    let listed = api.admin("GET", &admin, None).await.json();
    assert_eq!(listed, json!([got]));
    let adopted = client(&sim)
        .list_reports()
        .await
        .unwrap_or_else(|e| panic!("list: {e}"));
    assert_eq!(adopted.items[0].title.as_deref(), Some("Mandate_Report"));

    // Edited behind the operator's back, fixed fields included.
    sim.reset_counters();
    let edited = api
        .admin(
            "PATCH",
            &format!("{admin}/{id}"),
            Some(json!({"title": "edited in the UI", "mandateId": "2443"})),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    let read = client(&sim)
        .get_report(&id)
        .await
        .unwrap_or_else(|e| panic!("get: {e}"));
    assert_eq!(
        (read.title.as_deref(), read.mandate_id.as_deref()),
        (Some("edited in the UI"), Some("2443"))
    );
    assert_eq!(sim.count("*", "*"), 1, "admin calls are not counted");
    sim.edit_report(TENANT, &id, json!({"description": "by hand"}))
        .unwrap_or_else(|e| panic!("edit: {e}"));
    assert_eq!(sim.reports(TENANT)[0]["description"], "by hand");

    // Refusals.
    let bad = api
        .admin(
            "POST",
            &admin,
            Some(json!({"title": "x", "type": "MANDATE", "format": "PDF"})),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let dup = api.admin("POST", &admin, Some(json!({"reportId": id}))).await;
    assert_eq!(dup.status, 400);
    assert_eq!(
        api.admin("PATCH", &format!("{admin}/nope"), Some(json!({})))
            .await
            .status,
        404
    );
    let settings = api
        .admin(
            "PUT",
            &format!("{admin}/settings"),
            Some(json!({"onFixedFieldChange": "sometimes"})),
        )
        .await;
    assert_eq!(settings.status, 400);

    let gone = api.admin("DELETE", &format!("{admin}/{id}"), None).await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(api.basic("GET", &format!("{REPORTS}/{id}"), None).await.status, 404);
    assert_eq!(api.admin("DELETE", &format!("{admin}/{id}"), None).await.status, 404);
}
