//! Gateway (`/auth`, Azure org connectors) and CloudView v1 groups of the simulator,
//! driven with raw HTTP and the documentation's sample bodies.

#[path = "simulator_support.rs"]
mod support;

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use support::*;

const TENANT: &str = "7a7a7a7a-1111-2222-3333-444444444444";

#[tokio::test]
async fn auth_issues_expiring_jwts_without_rate_headers() {
    let sim = start().await;
    let api = Api::new(&sim);
    let reply = api.login().await;
    assert_eq!(reply.status, 201);
    assert!(
        reply.header("x-ratelimit-limit").is_none(),
        "/auth carries no rate headers"
    );
    let parts: Vec<&str> = reply.body.split('.').collect();
    assert_eq!(parts.len(), 3);
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .unwrap_or_default();
    let claims: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
    let lifetime = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
    assert_eq!(lifetime, 4 * 3600);
    assert_eq!(Api::as_user(&sim, "demo", "wrong").login().await.status, 401);
    let no_token = api
        .http
        .post(format!("{}/auth", api.base))
        .form(&[("username", "demo"), ("password", "demo")]);
    assert_eq!(no_token.send().await.map(|r| r.status().as_u16()).unwrap_or(0), 400);

    let token = reply.body;
    let list = api.bearer(&token, "GET", "/connectors/v1.0/org/azure/", None).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.header("x-ratelimit-remaining").is_some());
    assert_eq!(
        api.basic("GET", "/connectors/v1.0/org/azure/", None).await.status,
        401,
        "the gateway wants a Bearer token"
    );
    let forged = format!("{}x", token);
    assert_eq!(
        api.bearer(&forged, "GET", "/connectors/v1.0/org/azure/", None)
            .await
            .status,
        401
    );
    sim.advance_clock(Duration::from_secs(4 * 3600 + 1));
    let expired = api.bearer(&token, "GET", "/connectors/v1.0/org/azure/", None).await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.json()["responseCode"], "UNAUTHORIZED");
}

#[tokio::test]
async fn org_connector_lifecycle() {
    let sim = start_with(SimConfig {
        job_delay: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await;
    let api = Api::new(&sim);
    let token = api.token().await;
    let call = |method: &'static str, path: String, body: Option<String>| {
        let api = &api;
        let token = token.clone();
        async move { api.bearer(&token, method, &path, body.as_deref()).await }
    };
    let base = "/connectors/v1.0";

    // Test connection starts a job; groups appear once it has completed.
    let groups_before = call(
        "POST",
        format!("{base}/org/azure/management-groups/"),
        Some(fixture("org_management_groups.json")),
    )
    .await;
    assert_eq!(groups_before.json()["hasContent"], false);
    let test = call(
        "POST",
        format!("{base}/org/azure/test/"),
        Some(fixture("org_test.json")),
    )
    .await;
    assert_eq!(test.status, 200, "{}", test.body);
    let test = test.json();
    assert_eq!(
        (&test["responseCode"], &test["responseMessage"]),
        (&json!("SUCCESS"), &Value::Null)
    );
    let job = test["jobUuid"].as_str().unwrap_or_default().to_string();
    let status = call("GET", format!("{base}/org/azure/job/{job}"), None).await.json();
    assert_eq!(status["status"], "IN_PROGRESS");
    sim.advance_clock(Duration::from_secs(2));
    let status = call("GET", format!("{base}/org/azure/job/{job}"), None).await.json();
    assert_eq!(
        (&status["status"], &status["error"]),
        (&json!("COMPLETED"), &Value::Null)
    );
    assert!(status["createOn"].as_str().unwrap_or("").ends_with("+00:00"));
    let groups = call(
        "POST",
        format!("{base}/org/azure/management-groups/?pageSize=2"),
        Some(fixture("org_management_groups.json")),
    )
    .await
    .json();
    assert_eq!(
        groups["content"],
        json!(["Tenant Root Group", "TestingManagementGroup"])
    );
    assert_eq!((&groups["totalPages"], &groups["hasNext"]), (&json!(2), &json!(true)));
    assert_eq!(
        call("GET", format!("{base}/org/azure/job/nope"), None).await.status,
        404
    );

    // Create: request names with `is…`, response names without (Q-ORG-4).
    let created = call("POST", format!("{base}/org/azure/"), Some(fixture("org_create.json"))).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let org = created.json();
    let id = org["id"].as_u64().unwrap_or(0);
    assert_eq!(org["state"], "PENDING");
    assert_eq!(org["createConnectorForNewSubscriptionsAutomatically"], true);
    assert_eq!(org["remediationEnabled"], true);
    assert_eq!(org["connectorCapabilities"], json!(["AI", "CI", "CSA"]));
    assert_eq!(org["orgRunFrequency"], json!({"hours": 1, "minutes": 0}));
    assert!(org.get("secretValue").is_none() && org.get("tenantName").is_none());
    let dup = call("POST", format!("{base}/org/azure/"), Some(fixture("org_create.json"))).await;
    assert_eq!((dup.status, &dup.json()["responseCode"]), (409, &json!("CONFLICT")));
    let missing = call("POST", format!("{base}/org/azure/"), Some(r#"{"name": "x"}"#.into())).await;
    assert_eq!(
        (missing.status, &missing.json()["responseCode"]),
        (400, &json!("BAD_REQUEST"))
    );

    // Edit: immutable fields may be resent unchanged, not changed (PUT and POST both accepted).
    let mut edit: Value = serde_json::from_str(&fixture("org_create.json")).unwrap_or(Value::Null);
    edit["description"] = json!("edited");
    edit["orgRunFrequency"] = json!(120);
    let edited = call("PUT", format!("{base}/org/azure/{id}"), Some(edit.to_string())).await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert_eq!(edited.json()["orgRunFrequency"], json!({"hours": 2, "minutes": 0}));
    for (field, value) in [
        ("name", "Other"),
        ("tenantId", "other"),
        ("connectorPrefixName", "other"),
        ("secretValue", "s"),
    ] {
        let mut bad = edit.clone();
        bad[field] = json!(value);
        let reply = call("POST", format!("{base}/org/azure/{id}"), Some(bad.to_string())).await;
        assert_eq!(reply.status, 400, "{field} is not editable");
    }

    let detail = call("GET", format!("{base}/org/azure/{id}"), None).await.json();
    assert_eq!(
        (&detail["description"], &detail["state"]),
        (&json!("edited"), &json!("FINISHED_SUCCESS"))
    );
    let list = call(
        "GET",
        format!("{base}/org/azure/?pageNumber=0&pageSize=10&query=name:Azure"),
        None,
    )
    .await
    .json();
    assert_eq!(list["numberOfElements"], 1);
    assert_eq!(list["content"][0]["numberOfConnectorsAttached"], 0);
    assert_eq!(
        call("GET", format!("{base}/org/azure/?query=tenantId:nope"), None)
            .await
            .json()["numberOfElements"],
        0
    );
    let attached = call("GET", format!("{base}/org/azure/management-groups/{id}"), None)
        .await
        .json();
    assert_eq!(
        attached,
        json!({"includedMembers": ["TestingManagementGroup"], "excludedMembers": []})
    );

    let run = call("POST", format!("{base}/org/azure/run/"), Some(format!("[{id}]"))).await;
    assert_eq!(run.status, 200);
    assert_eq!(
        run.body,
        "A total of 1 Organization connectors have been successfully marked for running."
    );
    let disabled = call(
        "PUT",
        format!("{base}/org/azure/status/?action=DISABLE"),
        Some(format!("[{id}]")),
    )
    .await;
    assert_eq!(disabled.json()["content"][0]["isDisabled"], true);
    assert_eq!(disabled.json()["content"][0]["runFrequency"], "120");
    assert_eq!(
        call("POST", format!("{base}/org/azure/run/"), Some(format!("{id}")))
            .await
            .status,
        400
    );
    let enabled = call(
        "PUT",
        format!("{base}/org/azure/status/?action=ENABLE"),
        Some(format!("[{id}]")),
    )
    .await;
    assert_eq!(enabled.json()["content"][0]["isDisabled"], false);
    assert_eq!(
        call(
            "PUT",
            format!("{base}/org/azure/status/?action=PAUSE"),
            Some(format!("[{id}]"))
        )
        .await
        .status,
        400
    );

    // Members: a QPS Azure connector of the same directory.
    let member = sim
        .create_connector(
            "demo",
            CloudKind::Azure,
            json!({"name": "AI _Pay-As-You-Go", "authRecord": {"applicationId": "a", "directoryId": TENANT,
                "subscriptionId": "s-1", "authenticationKey": "k"},
                "connectorAppInfos": {"set": {"ConnectorAppInfoQList": {"set": {"ConnectorAppInfo": {"name": "CSA"}}}}}}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let valid = call("GET", format!("{base}/azure/valid-org-connectors/{member}"), None)
        .await
        .json();
    assert_eq!(valid["content"][0]["id"], id);
    let attach = json!({"connectorId": member, "organizationConnectorId": id}).to_string();
    let attached = call("PUT", format!("{base}/azure/attach"), Some(attach.clone())).await;
    assert_eq!(attached.status, 200, "{}", attached.body);
    let m = attached.json();
    assert_eq!(
        (&m["isAttachedToOrgConnector"], &m["organizationConnectorId"]),
        (&json!(true), &json!(id))
    );
    assert_eq!(m["activatedModules"], json!(["CLOUDVIEW"]));
    assert_eq!(
        call("PUT", format!("{base}/azure/attach"), Some(attach)).await.status,
        409
    );
    let members = call("GET", format!("{base}/org/azure/member-connectors/{id}"), None)
        .await
        .json();
    assert_eq!(members["content"][0]["id"], member);
    let qps = api
        .qps_json("get", "azureassetdataconnector", Some(member), None)
        .await
        .1;
    assert_eq!(
        first(&qps, "AzureAssetDataConnector")["isAttachedToOrgConnector"],
        "true"
    );
    let detached = call("PUT", format!("{base}/azure/detach"), Some(format!("[{member}]")))
        .await
        .json();
    assert_eq!(detached["content"][0]["isAttachedToOrgConnector"], false);
    assert_eq!(
        call("PUT", format!("{base}/azure/detach"), Some("[999]".into()))
            .await
            .status,
        404
    );

    // Bad Azure credentials: the org run fails and the last job summary says why.
    sim.set_azure_tenant(
        "demo",
        TENANT,
        AzureTenant {
            bad_credentials: true,
            management_groups: None,
        },
    );
    call("POST", format!("{base}/org/azure/run/"), Some(format!("[{id}]"))).await;
    let summary = call("GET", format!("{base}/org/azure/last-job-summary/{id}"), None)
        .await
        .json();
    assert!(
        summary["content"][0]["errorMsg"]
            .as_str()
            .unwrap_or("")
            .contains("exception")
    );
    let groups = call(
        "POST",
        format!("{base}/org/azure/management-groups/"),
        Some(fixture("org_management_groups.json")),
    )
    .await;
    assert_eq!(groups.status, 401);

    let deleted = call("DELETE", format!("{base}/org/azure/{id}"), None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(call("GET", format!("{base}/org/azure/{id}"), None).await.status, 404);
    assert_eq!(call("DELETE", format!("{base}/org/azure/{id}"), None).await.status, 404);
    assert_eq!(
        call("GET", format!("{base}/org/azure/nonsense/extra"), None)
            .await
            .status,
        404
    );
    assert_eq!(call("PATCH", format!("{base}/org/azure/{id}"), None).await.status, 405);
}

#[tokio::test]
async fn org_licence_limit_is_a_403_with_the_documented_message() {
    let sim = start().await;
    let api = Api::new(&sim);
    let token = api.token().await;
    sim.set_licence_limit("demo", Some(0));
    let reply = api
        .bearer(
            &token,
            "POST",
            "/connectors/v1.0/org/azure/",
            Some(&fixture("org_create.json")),
        )
        .await;
    assert_eq!(reply.status, 403);
    assert!(
        reply.json()["responseMessage"]
            .as_str()
            .unwrap_or("")
            .starts_with("You have reached the maximum number")
    );
}

#[tokio::test]
async fn cloudview_groups_with_basic_and_bearer() {
    let sim = start().await;
    let api = Api::new(&sim);
    let (_, gcp) = api
        .qps_json(
            "create",
            "gcpassetdataconnector",
            None,
            Some(&fixture("gcp_create.xml")),
        )
        .await;
    let _ = gcp;
    let v1 = "/cloudview-api/rest/v1";
    let created = api
        .basic("POST", &format!("{v1}/groups?groupName=sample_group"), None)
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let created = created.json();
    assert_eq!(created["name"], "sample_group");
    let gid = created["groupId"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        api.basic("POST", &format!("{v1}/groups?groupName=sample_group"), None)
            .await
            .status,
        409
    );
    assert_eq!(api.basic("POST", &format!("{v1}/groups"), None).await.status, 400);
    let other = api
        .basic("POST", &format!("{v1}/groups?groupName=empty"), None)
        .await
        .json();
    let other_id = other["groupId"].as_str().unwrap_or_default().to_string();

    let body = fixture("group_connectors.json")
        .replace("GROUP_TO_ADD", &gid)
        .replace("GROUP_TO_REMOVE", &other_id);
    let updated = api
        .basic("POST", &format!("{v1}/groups/connectors?cloudType=GCP"), Some(&body))
        .await;
    assert_eq!(updated.status, 204, "{}", updated.body);
    assert!(updated.header("x-ratelimit-limit").is_some());
    let unknown = body.replace("my-project-1513669048551", "no-such-project");
    assert_eq!(
        api.basic("POST", &format!("{v1}/groups/connectors?cloudType=GCP"), Some(&unknown))
            .await
            .status,
        400
    );
    assert_eq!(
        api.basic("POST", &format!("{v1}/groups/connectors?cloudType=OCI"), Some(&body))
            .await
            .status,
        400
    );
    let missing_group = body.replace(&gid, "00000000-0000-0000-0000-000000000000");
    assert_eq!(
        api.basic(
            "POST",
            &format!("{v1}/groups/connectors?cloudType=GCP"),
            Some(&missing_group)
        )
        .await
        .status,
        404
    );

    // Bearer (gateway JWT) works on CloudView too.
    let token = api.token().await;
    let detail = api.bearer(&token, "GET", &format!("{v1}/groups/{gid}"), None).await;
    assert_eq!(detail.status, 200);
    let detail = detail.json();
    assert_eq!(detail["connectors"][0]["accountIdentifier"], "my-project-1513669048551");
    assert_eq!(detail["connectors"][0]["cloudType"], "GCP");
    assert!(detail["connectors"][0]["connectorUuid"].is_string());
    let page = api
        .basic("GET", &format!("{v1}/groups?pageNo=0&pageSize=1"), None)
        .await
        .json();
    assert_eq!(
        (&page["totalElements"], &page["totalPages"], &page["last"]),
        (&json!(2), &json!(2), &json!(false))
    );
    assert_eq!(page["pageable"]["pageSize"], 1);
    let page2 = api
        .basic("GET", &format!("{v1}/groups?pageNo=1&pageSize=1"), None)
        .await
        .json();
    assert_eq!(
        (&page2["first"], &page2["last"], &page2["number"]),
        (&json!(false), &json!(true), &json!(1))
    );
    assert_eq!(
        api.basic(
            "GET",
            &format!("{v1}/groups/{}", "11111111-2222-3333-4444-555555555555"),
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        api.basic("DELETE", &format!("{v1}/groups/{gid}"), None).await.status,
        405,
        "groups cannot be deleted"
    );

    let connectors = api.basic("GET", &format!("{v1}/gcp/connectors"), None).await.json();
    assert_eq!(
        connectors["content"][0]["groups"],
        json!([{"name": "sample_group", "uuid": gid}])
    );
    let cid = connectors["content"][0]["connectorId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let one = api
        .basic("GET", &format!("{v1}/gcp/connectors/{cid}"), None)
        .await
        .json();
    assert_eq!(one["projectId"], "my-project-1513669048551");
    let err = api.basic("GET", &format!("{v1}/aws/connectors/nope"), None).await;
    assert_eq!(err.status, 404);
    assert_eq!(err.json()["path"], format!("{v1}/aws/connectors/nope"));
    assert_eq!(
        Api::as_user(&sim, "demo", "x")
            .basic("GET", &format!("{v1}/groups"), None)
            .await
            .status,
        401
    );
}
