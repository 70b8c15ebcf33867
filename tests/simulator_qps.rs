//! QPS 3.0 endpoints of the simulator, driven with the documentation's samples as raw
//! XML and JSON bodies.

#[path = "simulator_support.rs"]
mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

const AWS: &str = "awsassetdataconnector";
const AZURE: &str = "azureassetdataconnector";
const GCP: &str = "gcpassetdataconnector";
const OCI: &str = "ociassetdataconnector";

#[tokio::test]
async fn aws_xml_lifecycle_follows_the_samples() {
    let sim = start().await;
    let api = Api::new(&sim);
    sim.set_tag_name("demo", 42458382, "USA");

    let created = api.qps_xml("create", AWS, None, Some(&fixture("aws_create.xml"))).await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.body.starts_with("<?xml"));
    assert_eq!(created.xml("responseCode").as_deref(), Some("SUCCESS"));
    assert_eq!(created.xml("count").as_deref(), Some("1"));
    assert_eq!(created.xml("connectorState").as_deref(), Some("QUEUED"));
    assert_eq!(created.xml("type").as_deref(), Some("AWS"));
    // The sample's ARN has no account field: Qualys shows "" (quirk Q-AWS-1).
    assert!(
        created.body.contains("<awsAccountId></awsAccountId>"),
        "{}",
        created.body
    );
    assert_eq!(
        xml_values(&created.body, "ActivationModule"),
        ["CLOUDVIEW", "CERTVIEW", "VM"]
    );
    assert!(
        created
            .body
            .contains("<defaultTags><list><TagSimple><id>42458382</id><name>USA</name>")
    );
    assert!(
        created
            .body
            .contains("<ConnectorAppInfoQList><list><ConnectorAppInfo><name>AI</name>")
    );
    assert!(created.body.contains("<tagMetadata><id>42458382</id>"));
    assert_eq!(created.xml("qualysAwsAccountId").as_deref(), Some("205767712438"));
    assert!(
        created.xml("isDeleted").is_none(),
        "isDeleted sent as true is read-only and ignored"
    );
    let id: u64 = created
        .xml("id")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id"));

    let got = api.qps_xml("get", AWS, Some(id), None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.xml("connectorState").as_deref(), Some("FINISHED_SUCCESS"));
    let last = got.xml("lastSync").unwrap_or_default();
    let next = got.xml("nextSync").unwrap_or_default();
    let last: jiff::Timestamp = last.parse().unwrap_or_else(|e| panic!("{e}"));
    let next: jiff::Timestamp = next.parse().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        next.as_second() - last.as_second(),
        300 * 60,
        "nextSync = lastSync + runFrequency"
    );
    assert_eq!(got.xml("isDeleted").as_deref(), Some("false"));

    let updated = api
        .qps_xml("update", AWS, Some(id), Some(&fixture("aws_update.xml")))
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert!(updated.body.contains(&format!(
        "<data><AwsAssetDataConnector><id>{id}</id></AwsAssetDataConnector></data>"
    )));
    assert!(updated.xml("name").is_none(), "update answers with the id only");

    let got = api.qps_xml("get", AWS, Some(id), None).await;
    assert_eq!(got.xml("name").as_deref(), Some("AWSConnector API Updated"));
    assert_eq!(got.xml("runFrequency").as_deref(), Some("120"));
    assert_eq!(xml_values(&got.body, "ActivationModule"), ["CLOUDVIEW", "VM"]);
    assert_eq!(
        xml_values(&got.body, "name").len(),
        1 + 1 + 3 + 3,
        "connector, tag, three apps and their tags"
    );

    let found = api.qps_xml("search", AWS, None, Some(&fixture("aws_search.xml"))).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.xml("count").as_deref(), Some("1"));
    assert_eq!(found.xml("hasMoreRecords").as_deref(), Some("false"));

    let ran = api.qps_xml("run", AWS, Some(id), None).await;
    assert_eq!(ran.status, 200, "{}", ran.body);
    assert_eq!(ran.xml("connectorState").as_deref(), Some("QUEUED"));

    let deleted = api.qps_xml("delete", AWS, Some(id), None).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.xml("id"), Some(id.to_string()));
    let gone = api.qps_xml("get", AWS, Some(id), None).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.xml("responseCode").as_deref(), Some("OBJECT_NOT_FOUND"));
    assert!(gone.xml("errorMessage").is_some());
}

#[tokio::test]
async fn aws_json_answers_with_string_booleans_and_typed_arrays() {
    let sim = start().await;
    let api = Api::new(&sim);
    let (status, body) = api
        .qps_json("create", AWS, None, Some(&fixture("aws_create.json")))
        .await;
    assert_eq!(status, 200, "{body}");
    let sr = &body["ServiceResponse"];
    assert_eq!(sr["responseCode"], "SUCCESS");
    assert_eq!(sr["count"], 1);
    assert!(sr["data"].is_array());
    let c = first(&body, "AwsAssetDataConnector");
    assert!(c["id"].is_string(), "the AWS create sample quotes the id");
    assert_eq!(c["disabled"], "false");
    assert_eq!(c["allRegions"], "true");
    assert_eq!(c["isRemediationEnabled"], "true");
    assert_eq!(c["runFrequency"], 240);
    assert_eq!(c["awsAccountId"], "123456789012");
    assert_eq!(c["activation"], json!({"ActivationModule": ["CLOUDVIEW", "SCA", "VM"]}));
    assert_eq!(c["defaultTags"]["list"][0]["TagSimple"]["id"], 42458382);
    assert_eq!(c["connectorAppInfos"]["list"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        c["connectorAppInfos"]["list"][0]["ConnectorAppInfoQList"]["list"][0]["ConnectorAppInfo"]["name"],
        "AI"
    );
    let id = id_of(&c);

    let (status, body) = api
        .qps_json("update", AWS, Some(id), Some(&fixture("aws_update.json")))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(first(&body, "AwsAssetDataConnector"), json!({"id": id}));
    let (_, body) = api.qps_json("get", AWS, Some(id), None).await;
    let c = first(&body, "AwsAssetDataConnector");
    assert_eq!(c["id"], id, "reads carry numeric ids");
    assert_eq!(c["allRegions"], "false");
    assert_eq!(c["activation"]["ActivationModule"], json!(["CLOUDVIEW", "PC", "SCA"]));
    assert_eq!(c["cloudviewUuid"].as_str().map(str::len), Some(36));

    let (status, body) = api
        .qps_json("create", AWS, None, Some(&fixture("aws_create_regions.json")))
        .await;
    assert_eq!(status, 200, "{body}");
    let c = first(&body, "AwsAssetDataConnector");
    assert_eq!(c["allRegions"], "false");
    // Stored, but no documented answer lists the regions (Q-COL-8).
    assert!(c.get("endpoints").is_none(), "{c}");
    let stored = sim.connector("demo", id_of(&c)).unwrap_or_else(|| panic!("stored"));
    assert_eq!(stored.endpoints, ["af-south-1", "eu-south-1"]);
    assert!(
        c.get("activation").is_none(),
        "no modules and no CI/CSA app: no activation"
    );

    // Delete by filter (the sample's tagName criterion) removes every match.
    sim.set_tag_name("demo", 42458382, "Outdated");
    let (status, body) = api
        .qps_json("delete", AWS, None, Some(&fixture("aws_delete_filter.json")))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ServiceResponse"]["count"], 1);
    let (status, body) = api
        .qps_json("delete", AWS, None, Some(&fixture("aws_delete_filter.xml")))
        .await;
    assert_eq!((status, &body["ServiceResponse"]["count"]), (200, &json!(0)));
}

#[tokio::test]
async fn aws_cps_schedule_is_stored_and_echoed() {
    let sim = start().await;
    let api = Api::new(&sim);
    let created = api
        .qps_xml("create", AWS, None, Some(&fixture("aws_create_cps.xml")))
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.xml("isCPSEnabled").as_deref(), Some("true"));
    assert!(
        created
            .body
            .contains("<connectorScanSetting><isCustomScanConfigEnabled>true</isCustomScanConfigEnabled>")
    );
    assert!(
        created
            .body
            .contains("<daysOfWeek><list><Day>SUN</Day><Day>MON</Day><Day>TUE</Day></list></daysOfWeek>")
    );
    assert_eq!(created.xml("startDate").as_deref(), Some("31/05/2022"));
    assert_eq!(created.xml("awsAccountId").as_deref(), Some("111122223333"));
}

#[tokio::test]
async fn filters_preferences_and_refusals() {
    let sim = start().await;
    let api = Api::new(&sim);
    for i in 0..5 {
        let body = fixture("aws_create.json").replace("AWS Connector Via API", &format!("conn-{i}"));
        let (status, _) = api.qps_json("create", AWS, None, Some(&body)).await;
        assert_eq!(status, 200);
    }
    let page = r#"{"ServiceRequest": {"preferences": {"startFromOffset": 1, "limitResults": 2},
        "filters": {"Criteria": [{"field": "name", "operator": "CONTAINS", "value": "CONN-"}]}}}"#;
    let (status, body) = api.qps_json("search", AWS, None, Some(page)).await;
    assert_eq!(status, 200, "{body}");
    let sr = &body["ServiceResponse"];
    assert_eq!((&sr["count"], &sr["hasMoreRecords"]), (&json!(2), &json!("true")));
    let last_id = sr["lastId"].as_u64().unwrap_or_else(|| panic!("lastId: {sr}"));
    let next = format!(
        r#"<ServiceRequest><preferences><startFromId>{}</startFromId><limitResults>10</limitResults></preferences></ServiceRequest>"#,
        last_id + 1
    );
    let reply = api.qps_xml("search", AWS, None, Some(&next)).await;
    assert_eq!(
        (reply.xml("count").as_deref(), reply.xml("hasMoreRecords").as_deref()),
        (Some("3"), Some("false"))
    );

    let (_, all) = api.qps_json("search", AWS, None, None).await;
    let ids: Vec<u64> = all["ServiceResponse"]["data"]
        .as_array()
        .map(|items| items.iter().map(|i| id_of(&i["AwsAssetDataConnector"])).collect())
        .unwrap_or_default();
    let in_filter = format!(
        r#"<ServiceRequest><filters><Criteria field="id" operator="IN">{},{}</Criteria><Criteria field="id" operator="GREATER">{}</Criteria></filters></ServiceRequest>"#,
        ids[0], ids[1], ids[0]
    );
    let reply = api.qps_xml("search", AWS, None, Some(&in_filter)).await;
    assert_eq!(reply.xml("count").as_deref(), Some("1"));
    let not_equals = r#"{"ServiceRequest": {"filters": {"Criteria": [{"field": "name", "operator": "NOT EQUALS", "value": "conn-0"}]}}}"#;
    let (status, body) = api.qps_json("search", AWS, None, Some(not_equals)).await;
    assert_eq!((status, &body["ServiceResponse"]["count"]), (200, &json!(4)));
    for action in ["update", "delete"] {
        let body = not_equals.replace(
            "\"filters\"",
            r#""data": {"AwsAssetDataConnector": {"description": "x"}}, "filters""#,
        );
        let (status, reply) = api.qps_json(action, AWS, None, Some(&body)).await;
        assert_eq!(status, 400, "{action}: {reply}");
        assert_eq!(reply["ServiceResponse"]["responseCode"], "INVALID_REQUEST");
    }
    // No id and no filter would touch everything: refused.
    let (status, _) = api.qps_json("delete", AWS, None, None).await;
    assert_eq!(status, 400);
    let unknown =
        r#"{"ServiceRequest": {"filters": {"Criteria": [{"field": "colour", "operator": "EQUALS", "value": "x"}]}}}"#;
    let (status, body) = api.qps_json("search", AWS, None, Some(unknown)).await;
    assert_eq!(status, 400, "{body}");
    let wrong_op = r#"{"ServiceRequest": {"filters": {"Criteria": [{"field": "disabled", "operator": "CONTAINS", "value": "x"}]}}}"#;
    assert_eq!(api.qps_json("search", AWS, None, Some(wrong_op)).await.0, 400);
    // Update by filter changes every match.
    let by_filter = r#"{"ServiceRequest": {"filters": {"Criteria": [{"field": "name", "operator": "CONTAINS", "value": "conn-"}]},
        "data": {"AwsAssetDataConnector": {"runFrequency": 720}}}}"#;
    let (status, body) = api.qps_json("update", AWS, None, Some(by_filter)).await;
    assert_eq!((status, &body["ServiceResponse"]["count"]), (200, &json!(5)));
}

#[tokio::test]
async fn validation_errors_use_the_qualys_shape() {
    let sim = start().await;
    let api = Api::new(&sim);
    let no_arn = r#"<ServiceRequest><data><AwsAssetDataConnector><name>x</name></AwsAssetDataConnector></data></ServiceRequest>"#;
    let reply = api.qps_xml("create", AWS, None, Some(no_arn)).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.xml("responseCode").as_deref(), Some("INVALID_REQUEST"));
    assert!(reply.xml("errorMessage").unwrap_or_default().contains("arn"));
    let spaced = fixture("aws_create.xml").replace("<runFrequency>300<", "<runFrequency>\n300\n<");
    assert_eq!(api.qps_xml("create", AWS, None, Some(&spaced)).await.status, 400);
    let bad_module = fixture("aws_create.xml").replace("CERTVIEW", "WAS");
    assert_eq!(api.qps_xml("create", AWS, None, Some(&bad_module)).await.status, 400);
    assert_eq!(
        api.qps_xml("create", AWS, None, Some("<ServiceRequest><data>"))
            .await
            .status,
        400
    );
    let (status, body) = api.qps_json("create", AWS, None, Some("{\"ServiceRequest\": ")).await;
    assert_eq!(
        (status, &body["ServiceResponse"]["responseCode"]),
        (400, &json!("INVALID_REQUEST"))
    );
    let wrong_type = fixture("azure_create.xml");
    assert_eq!(api.qps_xml("create", AWS, None, Some(&wrong_type)).await.status, 400);
    let azure_without_key = fixture("azure_create.json").replace("\"authenticationKey\"", "\"otherKey\"");
    let (status, body) = api.qps_json("create", AZURE, None, Some(&azure_without_key)).await;
    assert_eq!(status, 400);
    assert!(
        body["ServiceResponse"]["responseErrorDetails"]["errorMessage"]
            .as_str()
            .unwrap_or("")
            .contains("authenticationKey")
    );
    assert_eq!(api.qps_xml("get", AWS, None, None).await.status, 400, "get needs an id");
    assert_eq!(
        api.qps("GET", "/qps/rest/3.0/get/am/awsassetdataconnector/abc", None, false)
            .await
            .status,
        400
    );
    assert_eq!(sim.count("*", "/qps/*"), 9);
}

#[tokio::test]
async fn azure_create_update_search_get() {
    let sim = start().await;
    let api = Api::new(&sim);
    let created = api
        .qps_xml("create", AZURE, None, Some(&fixture("azure_create.xml")))
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    // Azure create echoes an empty authRecord and neither tags nor activation (samples).
    assert!(created.body.contains("<authRecord/>"));
    assert!(!created.body.contains("<activation>"));
    assert!(!created.body.contains("authenticationKey"));
    let id: u64 = created.xml("id").and_then(|s| s.parse().ok()).unwrap_or(0);

    let (status, body) = api
        .qps_json("create", AZURE, None, Some(&fixture("azure_create.json")))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(first(&body, "AzureAssetDataConnector")["authRecord"], json!({}));

    // Path id wins over the body's id 2004 (Q-SEM-7); the sample wraps the request in <root>.
    let updated = api
        .qps_xml("update", AZURE, Some(id), Some(&fixture("azure_update.xml")))
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.xml("id"), Some(id.to_string()));
    let (status, body) = api
        .qps_json("update", AZURE, Some(id), Some(&fixture("azure_update.json")))
        .await;
    assert_eq!(status, 200, "{body}");

    let (_, body) = api.qps_json("get", AZURE, Some(id), None).await;
    let c = first(&body, "AzureAssetDataConnector");
    assert_eq!(c["name"], "Azure Connector");
    assert_eq!(c["runFrequency"], 300);
    assert_eq!(
        c["authRecord"]["subscriptionId"],
        "9de9e0a7-4f67-4812-917d-2246853844e1"
    );
    assert!(
        c["authRecord"].get("authenticationKey").is_none(),
        "secrets are never echoed by default"
    );
    assert_eq!(c["activation"]["ActivationModule"], json!(["CLOUDVIEW", "VM"]));
    assert_eq!(c["subscriptionName"], "subscription-9de9e0a7");
    assert_eq!(c["isAttachedToOrgConnector"], "false");

    // The JSON search sample (minus the fields that are not true here) finds it again after
    // we set the sample's module and tag.
    let patch = json!({"activation": {"set": {"ActivationModule": ["VM", "SCA"]}}, "name": "Azure Connector Via API"});
    sim.edit_connector("demo", id, patch).unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = api
        .qps_json("search", AZURE, None, Some(&fixture("azure_search.json")))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ServiceResponse"]["count"], 1, "{body}");
    let found = api
        .qps_xml("search", AZURE, None, Some(&fixture("azure_search.xml")))
        .await;
    assert_eq!(found.xml("count").as_deref(), Some("1"), "{}", found.body);
    // Azure/GCP XML responses wrap each app list in its own <list> (Q-COL-3).
    assert!(found.body.contains("<connectorAppInfos><list><ConnectorAppInfoQList>"));
    assert_eq!(xml_values(&found.body, "name").len(), 8);
}

#[tokio::test]
async fn gcp_create_update_search() {
    let sim = start().await;
    let api = Api::new(&sim);
    let created = api.qps_xml("create", GCP, None, Some(&fixture("gcp_create.xml"))).await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(
        created
            .body
            .contains("<authRecord><projectId>my-project-1513669048551</projectId></authRecord>")
    );
    assert!(!created.body.contains("PRIVATE KEY"));
    let id: u64 = created.xml("id").and_then(|s| s.parse().ok()).unwrap_or(0);
    // The GCP JSON sample wraps every level in arrays and sends string booleans.
    let (status, body) = api
        .qps_json("create", GCP, None, Some(&fixture("gcp_create.json")))
        .await;
    assert_eq!(status, 200, "{body}");
    let c = first(&body, "GcpAssetDataConnector");
    assert_eq!(c["isRemediationEnabled"], "true");
    assert_eq!(c["connectorAppInfos"]["list"].as_array().map(Vec::len), Some(2));
    assert_eq!(c["authRecord"], json!({"projectId": "my-project-151366xxxx9"}));

    let updated = api
        .qps_xml("update", GCP, Some(id), Some(&fixture("gcp_update.xml")))
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    let gcp_json_id = id_of(&c);
    let (status, _) = api
        .qps_json("update", GCP, Some(gcp_json_id), Some(&fixture("gcp_update.json")))
        .await;
    assert_eq!(status, 200);
    let found = api.qps_xml("search", GCP, None, Some(&fixture("gcp_search.xml"))).await;
    assert_eq!(found.xml("count").as_deref(), Some("1"), "{}", found.body);
    assert_eq!(found.xml("runFrequency").as_deref(), Some("500"));
    let stored = sim.connector("demo", id).unwrap_or_else(|| panic!("stored"));
    assert!(
        stored.auth_record.contains_key("private_key"),
        "the key file is kept although only projectId was resent"
    );
}

#[tokio::test]
async fn oci_uses_objects_native_booleans_and_short_forms() {
    let sim = start().await;
    let api = Api::new(&sim);
    let (status, body) = api
        .qps_json("create", OCI, None, Some(&fixture("oci_create.json")))
        .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["ServiceResponse"]["data"];
    assert!(data.is_object(), "OCI data is an object: {body}");
    let c = &data["OciAssetDataConnector"];
    assert!(c["id"].is_string());
    assert_eq!(c["disabled"], false);
    assert_eq!(c["tags"], json!([]));
    assert_eq!(
        c["authRecord"],
        json!({"tenantId": "ocid1.tenancy.oc1..aaaaaaaatenancy"})
    );
    let id = id_of(c);
    let stored = sim.connector("demo", id).unwrap_or_else(|| panic!("stored"));
    assert!(
        stored.is_remediation_enabled,
        "the sample's [false, true] reads as its last value"
    );
    assert!(stored.auth_record["privateKey"].contains("&#xd;"), "stored verbatim");

    let update = fixture("oci_update.json").replace("\"id\": \"1\"", &format!("\"id\": \"{id}\""));
    let (status, body) = api.qps_json("update", OCI, Some(id), Some(&update)).await;
    assert_eq!(status, 200, "{body}");
    let c = &body["ServiceResponse"]["data"]["OciAssetDataConnector"];
    assert_eq!(
        (&c["name"], &c["disabled"]),
        (&json!("TestConnector3"), &json!(true)),
        "OCI update returns the object"
    );
    assert!(c["connectorAppInfos"]["list"]["ConnectorAppInfoQList"]["list"]["ConnectorAppInfo"].is_object());

    let (status, body) = api.qps_json("run", OCI, Some(id), None).await;
    assert_eq!(status, 400, "disabled connectors cannot run: {body}");
    sim.edit_connector("demo", id, json!({"disabled": false}))
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = api.qps_json("run", OCI, Some(id), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["ServiceResponse"]["data"]["OciAssetDataConnector"],
        json!({"id": id.to_string()})
    );

    let (status, body) = api.qps_json("search", OCI, None, None).await;
    assert_eq!(status, 200);
    let sr = &body["ServiceResponse"];
    assert_eq!(sr["hasMoreRecords"], false);
    let c = &sr["data"]["OciAssetDataConnector"][0];
    assert_eq!(c["homeRegion"], "us-ashburn-1");
    assert!(c["authRecord"].get("privateKey").is_none());
    assert_eq!(c["authRecord"]["userId"], "ocid1.user.oc1..aaaaaaaauser");
    let (status, body) = api.qps_json("get", OCI, Some(id), None).await;
    assert_eq!(
        (
            status,
            &body["ServiceResponse"]["data"]["OciAssetDataConnector"]["type"]
        ),
        (200, &json!("OCI"))
    );
}

#[tokio::test]
async fn run_rules_for_disabled_connectors() {
    let sim = start().await;
    let api = Api::new(&sim);
    let disabled = fixture("aws_create.json").replace("\"disabled\": false", "\"disabled\": true");
    let (_, body) = api.qps_json("create", AWS, None, Some(&disabled)).await;
    let off = id_of(&first(&body, "AwsAssetDataConnector"));
    let (_, body) = api.qps_json("get", AWS, Some(off), None).await;
    assert_eq!(first(&body, "AwsAssetDataConnector")["connectorState"], "DISABLED");
    let (status, body) = api.qps_json("run", AWS, Some(off), None).await;
    assert_eq!(
        (status, &body["ServiceResponse"]["responseCode"]),
        (400, &json!("INVALID_REQUEST"))
    );
    let all =
        r#"{"ServiceRequest": {"filters": {"Criteria": [{"field": "type", "operator": "EQUALS", "value": "AWS"}]}}}"#;
    assert_eq!(api.qps_json("run", AWS, None, Some(all)).await.0, 400, "all disabled");
    let (_, body) = api
        .qps_json("create", AWS, None, Some(&fixture("aws_create.json")))
        .await;
    let on = id_of(&first(&body, "AwsAssetDataConnector"));
    let (status, body) = api.qps_json("run", AWS, None, Some(all)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ServiceResponse"]["count"], 1, "only the enabled one runs");
    assert_eq!(id_of(&first(&body, "AwsAssetDataConnector")), on);
}

#[tokio::test]
async fn states_advance_with_time_and_bad_credentials_fail_runs() {
    let sim = start_with(SimConfig {
        state_step: Duration::from_secs(1),
        ..SimConfig::default()
    })
    .await;
    let api = Api::new(&sim);
    let (_, body) = api
        .qps_json("create", GCP, None, Some(&fixture("gcp_create.json")))
        .await;
    let id = id_of(&first(&body, "GcpAssetDataConnector"));
    let state = |body: &serde_json::Value| first(body, "GcpAssetDataConnector")["connectorState"].clone();
    for expected in ["QUEUED", "RUNNING", "PROCESSING", "FINISHED_SUCCESS"] {
        let (_, body) = api.qps_json("get", GCP, Some(id), None).await;
        assert_eq!(state(&body), expected);
        sim.advance_clock(Duration::from_millis(1000));
    }
    sim.set_bad_credentials("demo", id, true)
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, body) = api.qps_json("run", GCP, Some(id), None).await;
    assert_eq!(state(&body), "QUEUED");
    sim.advance_clock(Duration::from_secs(3));
    let (_, body) = api.qps_json("get", GCP, Some(id), None).await;
    assert_eq!(state(&body), "FINISHED_ERRORS");
    assert!(
        first(&body, "GcpAssetDataConnector")["lastError"]
            .as_str()
            .unwrap_or("")
            .contains("401")
    );

    let errors = format!(
        r#"<ServiceRequest><filters><Criteria field="id" operator="EQUALS">{id}</Criteria></filters></ServiceRequest>"#
    );
    let reply = api
        .qps_xml("search", "assetdataconnectorerrors", None, Some(&errors))
        .await;
    assert_eq!(reply.xml("count").as_deref(), Some("1"), "{}", reply.body);
    assert!(reply.body.contains("<AssetDataConnectorErrors><errorMessage>"));
    let none = api
        .qps_xml(
            "search",
            "assetdataconnectorerrors",
            None,
            Some(&fixture("errors_search.xml")),
        )
        .await;
    assert_eq!((none.status, none.xml("count").as_deref()), (200, Some("0")));
    assert!(!none.body.contains("<data>"));

    // Scheduled runs follow runFrequency once nextSync has passed.
    sim.set_bad_credentials("demo", id, false)
        .unwrap_or_else(|e| panic!("{e}"));
    sim.advance_clock(Duration::from_secs(240 * 60 + 10));
    let (_, body) = api.qps_json("get", GCP, Some(id), None).await;
    assert_eq!(state(&body), "FINISHED_SUCCESS");
    sim.edit_connector("demo", id, json!({"disabled": true}))
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, body) = api.qps_json("get", GCP, Some(id), None).await;
    assert_eq!(state(&body), "DISABLED");
    assert!(first(&body, "GcpAssetDataConnector").get("nextSync").is_none());
}

#[tokio::test]
async fn global_scan_configuration_is_a_singleton() {
    let sim = start().await;
    let api = Api::new(&sim);
    let empty = api.qps_xml("search", "globalscanconfiguration", None, None).await;
    assert_eq!((empty.status, empty.xml("count").as_deref()), (200, Some("0")));
    let update_first = api
        .qps_xml(
            "update",
            "globalscanconfiguration",
            None,
            Some(&fixture("gsc_update.xml")),
        )
        .await;
    assert_eq!(update_first.status, 404);
    // The samples post to a stray /r/qps/... prefix.
    let created = api
        .qps(
            "POST",
            "/r/qps/rest/3.0/create/am/globalscanconfiguration",
            Some(&fixture("gsc_create.xml")),
            false,
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.body.contains("globalscanconfiguration.xsd"));
    assert!(
        created
            .body
            .contains("<daysOfWeek><list><Day>SUN</Day><Day>TUE</Day></list></daysOfWeek>")
    );
    let again = api
        .qps_xml(
            "create",
            "globalscanconfiguration",
            None,
            Some(&fixture("gsc_create.xml")),
        )
        .await;
    assert_eq!(again.status, 400);
    let updated = api
        .qps(
            "POST",
            "/r/qps/rest/3.0/update/am/globalscanconfiguration",
            Some(&fixture("gsc_update.xml")),
            false,
        )
        .await;
    assert_eq!(updated.xml("scanPrefix").as_deref(), Some("update global scan"));
    let found = api.qps_xml("search", "globalscanconfiguration", None, None).await;
    assert_eq!(
        (found.xml("count").as_deref(), found.xml("hasMoreRecords").as_deref()),
        (Some("1"), Some("false"))
    );
    let (status, body) = api.qps_json("search", "globalscanconfiguration", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        first(&body, "GlobalScanConfiguration")["daysOfWeek"],
        json!({"list": {"Day": ["SUN", "TUE"]}})
    );
}

#[tokio::test]
async fn version_base_account_and_auth() {
    let sim = start().await;
    let api = Api::new(&sim);
    let xml = api.qps("GET", "/qps/rest/portal/version", None, false).await;
    assert_eq!(xml.status, 200);
    assert!(xml.body.contains("<Portal-Version><PortalApplication-VERSION>"));
    let json = api.qps("GET", "/qps/rest/portal/version", None, true).await.json();
    assert!(json["ServiceResponse"]["data"][0]["Portal-Version"]["WAS-VERSION"].is_string());
    let base = api
        .qps("GET", "/qps/rest/3.0/search/am/awsbaseaccount", None, false)
        .await;
    assert!(
        base.body
            .contains("<data><globalAccountId>205767712438</globalAccountId>"),
        "{}",
        base.body
    );
    let base = api
        .qps("GET", "/qps/rest/3.0/search/am/awsbaseaccount", None, true)
        .await
        .json();
    assert_eq!(base["ServiceResponse"]["data"][0]["customerGlobalAccount"], "false");
    // Trailing slashes are accepted.
    assert_eq!(
        api.qps("POST", "/qps/rest/3.0/search/am/ociassetdataconnector/", None, true)
            .await
            .status,
        200
    );

    let wrong = Api::as_user(&sim, "demo", "nope");
    let reply = wrong.qps("GET", "/qps/rest/portal/version", None, false).await;
    assert_eq!(reply.status, 401);
    assert!(reply.header("x-ratelimit-limit").is_none());
    // The JSON tag samples authenticate with user/password headers.
    let headers = api
        .http
        .get(format!("{}/qps/rest/portal/version", api.base))
        .header("user", "demo")
        .header("password", "demo")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(headers.status().as_u16(), 200);
}

#[tokio::test]
async fn users_are_separate_tenants_and_scope_can_shrink() {
    let sim = start_with(SimConfig {
        users: vec![UserSpec::new("alice", "a"), UserSpec::new("bob", "b")],
        ..SimConfig::default()
    })
    .await;
    let alice = Api::as_user(&sim, "alice", "a");
    let bob = Api::as_user(&sim, "bob", "b");
    let (_, body) = alice
        .qps_json("create", AWS, None, Some(&fixture("aws_create.json")))
        .await;
    let id = id_of(&first(&body, "AwsAssetDataConnector"));
    let (_, body) = bob.qps_json("search", AWS, None, None).await;
    assert_eq!(body["ServiceResponse"]["count"], 0);
    assert_eq!(bob.qps_json("get", AWS, Some(id), None).await.0, 404);
    sim.mark_out_of_scope("alice", &[id]);
    let (status, body) = alice.qps_json("get", AWS, Some(id), None).await;
    assert_eq!(
        (status, &body["ServiceResponse"]["responseCode"]),
        (404, &json!("OBJECT_NOT_FOUND"))
    );
    assert_eq!(
        alice.qps_json("search", AWS, None, None).await.1["ServiceResponse"]["count"],
        0
    );
    sim.clear_out_of_scope("alice");
    assert_eq!(alice.qps_json("get", AWS, Some(id), None).await.0, 200);
    assert_eq!(
        Api::new(&sim).qps_json("search", AWS, None, None).await.0,
        401,
        "no demo user when users are given"
    );
}

#[tokio::test]
async fn masked_secret_echo_and_licence_limit() {
    let sim = start_with(SimConfig {
        secret_echo: SecretEcho::Masked,
        ..SimConfig::default()
    })
    .await;
    let api = Api::new(&sim);
    let (_, body) = api
        .qps_json("create", AZURE, None, Some(&fixture("azure_create.json")))
        .await;
    let id = id_of(&first(&body, "AzureAssetDataConnector"));
    let (_, body) = api.qps_json("get", AZURE, Some(id), None).await;
    assert_eq!(
        first(&body, "AzureAssetDataConnector")["authRecord"]["authenticationKey"],
        "02*****1rog="
    );
    sim.set_licence_limit("demo", Some(1));
    let (status, body) = api
        .qps_json("create", AZURE, None, Some(&fixture("azure_create.json")))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["ServiceResponse"]["responseErrorDetails"]["errorMessage"]
            .as_str()
            .unwrap_or("")
            .contains("license")
    );
}
