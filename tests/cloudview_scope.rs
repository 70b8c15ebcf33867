//! CloudView v1 user scope (issue 18): the documentation's three samples
//! [000:417-683] replayed against the simulator (raw HTTP) and the client, and
//! the simulator's choices where the docs are silent.

#[path = "simulator_support.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use support::*;

use qualys_operator::qualys::fence::WriteFence;
use qualys_operator::qualys::{self, AccountConfig, QualysClient, QualysError, UserScope};

const V1: &str = "/cloudview-api/rest/v1";
const TENANT: &str = "demo";
const AWS_ACCOUNT: &str = "123456789012";
const AZURE_SUB: &str = "9de9e0a7-4f67-4812-917d-2246853844e1";
const GCP_PROJECT: &str = "gcp-demo";
const EMAIL_USER: &str = "john.doe@example.com";

/// A seed sample from `src/qualys/testdata/`.
fn sample(name: &str) -> String {
    let path = format!("{}/src/qualys/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The sample with the documentation's ids (and redactions) replaced by ours,
/// longest first where one contains another.
fn sample_with(name: &str, ids: &[(&str, &str)]) -> String {
    ids.iter().fold(sample(name), |text, (from, to)| text.replace(from, to))
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `demo` administers its subscription, which also holds `user_john` and
/// `john.doe@example.com`; `other` is a different subscription.
async fn sim() -> SimHandle {
    let mut users = vec![UserSpec::new("demo", "demo"), UserSpec::new("other", "other")];
    for name in ["user_john", EMAIL_USER] {
        let mut u = UserSpec::new(name, "pw");
        u.tenant = Some(TENANT.into());
        users.push(u);
    }
    start_with(SimConfig {
        users,
        ..SimConfig::default()
    })
    .await
}

fn client_with(sim: &SimHandle, fence: Option<Arc<dyn WriteFence>>) -> QualysClient {
    let base = sim.base_url();
    let mut config = AccountConfig::new(&base, &base, "demo", "demo");
    config.timeouts.retry_base = Duration::from_millis(10);
    let mut builder = QualysClient::builder(config);
    if let Some(fence) = fence {
        builder = builder.fence(fence);
    }
    builder.build().unwrap_or_else(|e| panic!("client: {e}"))
}

fn client(sim: &SimHandle) -> QualysClient {
    client_with(sim, None)
}

/// A connector with the CI app (so CloudView knows it); returns its CloudView uuid.
fn cloudview_connector(sim: &SimHandle, cloud: CloudKind, name: &str, account: &str) -> String {
    let auth = match cloud {
        CloudKind::Aws => json!({}),
        CloudKind::Azure => json!({"applicationId": "a", "directoryId": "d", "subscriptionId": account,
            "authenticationKey": "k"}),
        _ => json!({"projectId": account, "client_email": "x@y", "private_key": "k"}),
    };
    let arn = format!("arn:aws:iam::{account}:role/scope");
    let mut fields = json!({"name": name, "authRecord": auth, "connectorAppInfos": {"set": {"ConnectorAppInfoQList": [
        {"set": {"ConnectorAppInfo": {"name": "CI", "identifier": account}}}]}}});
    if cloud == CloudKind::Aws {
        fields["arn"] = json!(arn);
    }
    let id = sim
        .create_connector(TENANT, cloud, fields)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    sim.connector(TENANT, id)
        .and_then(|c| c.cloudview_uuid)
        .unwrap_or_else(|| panic!("{name} has no CloudView uuid"))
}

/// A group holding `members` (cloud type, account); returns its uuid.
async fn group(api: &Api, name: &str, members: &[(&str, &str)]) -> String {
    let created = api.basic("POST", &format!("{V1}/groups?groupName={name}"), None).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let uuid = created.json()["groupId"].as_str().unwrap_or_default().to_string();
    for (cloud, account) in members {
        let body = json!({"accountIdentifiers": [account], "add": {"groupIds": [uuid]}});
        let reply = api
            .basic(
                "POST",
                &format!("{V1}/groups/connectors?cloudType={cloud}"),
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(reply.status, 204, "{}", reply.body);
    }
    uuid
}

fn grants(groups: &[&str], accounts: &[(&str, &[&str])], regions: &[&str]) -> UserScopeGrants {
    UserScopeGrants {
        groups: strings(groups),
        accounts: accounts
            .iter()
            .map(|(cloud, ids)| (cloud.to_string(), strings(ids)))
            .collect::<BTreeMap<_, _>>(),
        regions: strings(regions),
    }
}

fn group_titles(scope: &Value) -> Vec<(String, u64)> {
    scope["groups"]
        .as_array()
        .map(|gs| {
            gs.iter()
                .map(|g| {
                    (
                        g["title"].as_str().unwrap_or_default().to_string(),
                        g["connectorCount"].as_u64().unwrap_or(u64::MAX),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn accounts(scope: &Value, cloud: &str) -> Vec<String> {
    scope[cloud]["directAccountScope"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["accountIdentifier"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// [000:434-494]: a scope set by hand as in the sample reads back as the sample.
#[tokio::test]
async fn get_scope_answers_the_documented_sample() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let aws = cloudview_connector(&sim, CloudKind::Aws, "AWS_Connector_1", AWS_ACCOUNT);
    let azure = cloudview_connector(&sim, CloudKind::Azure, "Azure_Connector_2", AZURE_SUB);
    let gcp = cloudview_connector(&sim, CloudKind::Gcp, "GCP_Connector_3", GCP_PROJECT);
    let gid = group(&api, "Example_group", &[("AWS", AWS_ACCOUNT), ("GCP", GCP_PROJECT)]).await;
    sim.set_user_scope(
        "user_john",
        grants(
            &[&gid],
            &[
                ("AWS", &[AWS_ACCOUNT]),
                ("AZURE", &[AZURE_SUB]),
                ("GCP", &[GCP_PROJECT]),
            ],
            &["us-east-1", "us-east-2"],
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let reply = api.basic("GET", &format!("{V1}/users/user_john/scope"), None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let expected = sample_with(
        "user_scope_get.json",
        &[
            ("XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX", AZURE_SUB),
            ("XXXXXXXXXXXX", AWS_ACCOUNT),
            ("52660405-27d3-3f69-b764-b0061ab4c494", &gid),
            ("af50f5c0-c8c2-11e9-945e-77a38645daea", &aws),
            ("2e0c1660-d061-11e9-ad71-df4fba75b3c5", &azure),
            ("66e7d1f0-c8c2-11e9-9fcb-85661d3ad949", &gcp),
        ],
    );
    assert_eq!(reply.json(), parse(&expected));

    let scope = client(&sim)
        .user_scope("user_john")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let documented: UserScope = serde_json::from_str(&expected).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scope, documented);
}

/// [000:507-573]: the documented request (`groupsIds`) answers the documented scope.
#[tokio::test]
async fn group_scope_update_answers_the_documented_sample() {
    let sim = sim().await;
    let api = Api::new(&sim);
    cloudview_connector(&sim, CloudKind::Aws, "a", AWS_ACCOUNT);
    cloudview_connector(&sim, CloudKind::Gcp, "g", GCP_PROJECT);
    let new_group = group(&api, "new-group", &[("AWS", AWS_ACCOUNT), ("GCP", GCP_PROJECT)]).await;
    let old_group = group(&api, "old-group", &[]).await;
    sim.set_user_scope("user_john", grants(&[&old_group], &[], &[]))
        .unwrap_or_else(|e| panic!("{e}"));
    let ids = [
        ("52660405-27d3-3f69-b764-b0061ab4c494", new_group.as_str()),
        ("9d665fd0-f15d-379f-8b11-b39cd4ebfd9e", old_group.as_str()),
    ];

    let request = sample_with("user_group_scope_request.json", &ids);
    let reply = api
        .basic("POST", &format!("{V1}/users/user_john/groupScope"), Some(&request))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        parse(&sample_with("user_group_scope_response.json", &ids))
    );
    assert_eq!(
        sim.user_scope("user_john").map(|g| g.groups).ok(),
        Some(vec![new_group.clone()])
    );

    // The prose's spelling (`groupIds`) is taken too.
    let prose = json!({"remove": {"groupIds": [new_group]}});
    let reply = api
        .basic(
            "POST",
            &format!("{V1}/users/user_john/groupScope"),
            Some(&prose.to_string()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["groups"], json!([]));

    // The client sends the documented body and reads the answer.
    let scope = client(&sim)
        .update_group_scope(
            "user_john",
            std::slice::from_ref(&new_group),
            std::slice::from_ref(&old_group),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scope.group_uuids().collect::<Vec<_>>(), [new_group.as_str()]);
    assert_eq!(scope.groups[0].title.as_deref(), Some("new-group"));
    assert_eq!(scope.groups[0].connector_count, Some(2));
}

/// [000:584-683]: the documented request adds and removes the same (redacted)
/// account and answers it granted, with the regions added.
#[tokio::test]
async fn account_scope_update_answers_the_documented_sample() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let aws = cloudview_connector(&sim, CloudKind::Aws, "AWS_Connector", AWS_ACCOUNT);
    let gcp = cloudview_connector(&sim, CloudKind::Gcp, "GCP_Connector", GCP_PROJECT);
    let gid = group(&api, "new_sample_group", &[("AWS", AWS_ACCOUNT), ("GCP", GCP_PROJECT)]).await;
    sim.set_user_scope("user_john", grants(&[&gid], &[("GCP", &[GCP_PROJECT])], &[]))
        .unwrap_or_else(|e| panic!("{e}"));
    let ids = [
        ("XXXXXXXXXXXX", AWS_ACCOUNT),
        ("52660405-27d3-3f69-b764-b0061ab4c494", gid.as_str()),
        ("af50f5c0-c8c2-11e9-945e-77a38645daea", aws.as_str()),
        ("66e7d1f0-c8c2-11e9-9fcb-85661d3ad949", gcp.as_str()),
    ];

    let request = sample_with("user_account_scope_request.json", &ids);
    let reply = api
        .basic(
            "POST",
            &format!("{V1}/users/user_john/scope?cloudType=AWS"),
            Some(&request),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let expected = sample_with("user_account_scope_response.json", &ids);
    assert_eq!(reply.json(), parse(&expected));

    // The client's request for the same change gets the same answer.
    let reset = grants(&[&gid], &[("GCP", &[GCP_PROJECT])], &["eu-west-1"]);
    sim.set_user_scope("user_john", reset).unwrap_or_else(|e| panic!("{e}"));
    let account = strings(&[AWS_ACCOUNT]);
    let scope = client(&sim)
        .update_account_scope(
            "user_john",
            qualys::CloudKind::Aws,
            &account,
            &account,
            &strings(&["us-east-1", "us-east-2"]),
            &strings(&["eu-west-1"]),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let documented: UserScope = serde_json::from_str(&expected).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scope, documented);
}

/// The client reads the documented answers as Qualys sends them, whatever the
/// simulator would have said.
#[tokio::test]
async fn client_reads_the_documented_answers_verbatim() {
    let sim = sim().await;
    for (endpoint, file) in [
        ("GET /cloudview-api/rest/v1/users/*/scope", "user_scope_get.json"),
        (
            "POST /cloudview-api/rest/v1/users/*/groupScope",
            "user_group_scope_response.json",
        ),
        (
            "POST /cloudview-api/rest/v1/users/*/scope",
            "user_account_scope_response.json",
        ),
    ] {
        sim.add_fault(FaultRule::new(
            endpoint,
            FaultAction::Status {
                status: 200,
                body: Some(sample(file)),
            },
        ));
    }
    let client = client(&sim);
    let got = client.user_scope("user_john").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.groups[0].title.as_deref(), Some("Example_group"));
    assert_eq!(
        got.accounts(qualys::CloudKind::Azure),
        ["XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"]
    );
    assert_eq!(
        got.cloud(qualys::CloudKind::Gcp).direct_account_scope[0]
            .connector_name
            .as_deref(),
        Some("GCP_Connector_3")
    );
    assert_eq!(got.regions(), ["us-east-1", "us-east-2"]);

    let got = client
        .update_group_scope("user_john", &strings(&["52660405-27d3-3f69-b764-b0061ab4c494"]), &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.groups[0].connector_count, Some(2));
    assert_eq!(got.cloud(qualys::CloudKind::Aws).regions, Some(vec![]));

    let got = client
        .update_account_scope("user_john", qualys::CloudKind::Gcp, &[], &[], &[], &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.accounts(qualys::CloudKind::Aws), ["XXXXXXXXXXXX"]);
    assert_eq!(got.accounts(qualys::CloudKind::Gcp), ["gcp-demo"]);
    assert_eq!(sim.count("*", "/cloudview-api/rest/v1/users/user_john/*"), 3);
}

/// Unknown users are a 404 in CloudView's error shape, also for a user of
/// another subscription; a fresh user's scope is empty.
#[tokio::test]
async fn unknown_users_are_not_found() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let reply = api.basic("GET", &format!("{V1}/users/nobody/scope"), None).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["status"], 404);
    assert_eq!(body["error"], "Not Found");
    assert_eq!(body["path"], format!("{V1}/users/nobody/scope"));
    assert!(body["message"].as_str().unwrap_or_default().contains("nobody"));
    for (method, path) in [
        ("GET", format!("{V1}/users/other/scope")),
        ("POST", format!("{V1}/users/nobody/groupScope")),
        ("POST", format!("{V1}/users/nobody/scope?cloudType=AWS")),
    ] {
        let reply = api.basic(method, &path, Some(r#"{"add": {}}"#)).await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.body);
    }
    let err = client(&sim).user_scope("nobody").await.unwrap_err();
    assert!(matches!(err, QualysError::NotFound { .. }), "{err:?}");

    let empty = api.basic("GET", &format!("{V1}/users/user_john/scope"), None).await;
    assert_eq!(
        empty.json(),
        json!({"groups": [], "AWS": {"directAccountScope": [], "regions": []},
               "AZURE": {"directAccountScope": []}, "GCP": {"directAccountScope": []}})
    );
    assert_eq!(
        api.basic("PUT", &format!("{V1}/users/user_john/scope"), Some("{}"))
            .await
            .status,
        405
    );
}

/// A group id that does not exist is a 404 naming it, and nothing changes.
#[tokio::test]
async fn unknown_groups_are_refused_whole() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let gid = group(&api, "real", &[]).await;
    let missing = "00000000-0000-0000-0000-000000000000";
    for body in [
        json!({"add": {"groupsIds": [gid, missing]}}),
        json!({"add": {"groupsIds": [gid]}, "remove": {"groupsIds": [missing]}}),
    ] {
        let reply = api
            .basic(
                "POST",
                &format!("{V1}/users/user_john/groupScope"),
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(reply.status, 404, "{}", reply.body);
        assert!(reply.json()["message"].as_str().unwrap_or_default().contains(missing));
    }
    assert_eq!(
        sim.user_scope("user_john").map(|g| g.groups).ok(),
        Some(vec![]),
        "the valid group was not granted either"
    );
    let err = client(&sim)
        .update_group_scope("user_john", &strings(&[missing]), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, QualysError::NotFound { .. }), "{err:?}");
    for bad in [
        "",
        "[1]",
        r#"{"add": {"groupsIds": "x"}}"#,
        r#"{"add": {"groupsIds": [1]}}"#,
    ] {
        let reply = api
            .basic("POST", &format!("{V1}/users/user_john/groupScope"), Some(bad))
            .await;
        assert_eq!(reply.status, 400, "{bad:?}: {}", reply.body);
    }
}

/// Granting an account needs a CloudView connector of that cloud type for it;
/// revoking one does not.
#[tokio::test]
async fn accounts_without_a_cloudview_connector_are_refused() {
    let sim = sim().await;
    let api = Api::new(&sim);
    cloudview_connector(&sim, CloudKind::Gcp, "g", GCP_PROJECT);
    // A QPS connector without CI or CSA is no CloudView connector.
    sim.create_connector(
        TENANT,
        CloudKind::Aws,
        json!({"name": "vm only", "arn": format!("arn:aws:iam::{AWS_ACCOUNT}:role/x")}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let path = |cloud: &str| format!("{V1}/users/user_john/scope?cloudType={cloud}");
    for (cloud, account) in [("AWS", AWS_ACCOUNT), ("AWS", GCP_PROJECT), ("GCP", "no-such-project")] {
        let body = json!({"add": {"accountIdentifiers": [account]}});
        let reply = api.basic("POST", &path(cloud), Some(&body.to_string())).await;
        assert_eq!(reply.status, 400, "{cloud} {account}: {}", reply.body);
        assert!(reply.json()["message"].as_str().unwrap_or_default().contains(account));
    }
    let revoke = json!({"remove": {"accountIdentifiers": ["no-such-project"]}});
    let reply = api.basic("POST", &path("GCP"), Some(&revoke.to_string())).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    for query in ["", "?cloudType=OCI"] {
        let reply = api
            .basic("POST", &format!("{V1}/users/user_john/scope{query}"), Some("{}"))
            .await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
    }
    let err = client(&sim)
        .update_account_scope(
            "user_john",
            qualys::CloudKind::Aws,
            &strings(&[AWS_ACCOUNT]),
            &[],
            &[],
            &[],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, QualysError::InvalidRequest { .. }), "{err:?}");
}

/// Regions belong to AWS: the simulator refuses them for the other clouds and
/// the client does not even send them.
#[tokio::test]
async fn regions_are_for_aws_only() {
    let sim = sim().await;
    let api = Api::new(&sim);
    cloudview_connector(&sim, CloudKind::Azure, "z", AZURE_SUB);
    let body = json!({"add": {"accountIdentifiers": [AZURE_SUB], "regions": ["us-east-1"]}});
    let reply = api
        .basic(
            "POST",
            &format!("{V1}/users/user_john/scope?cloudType=AZURE"),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(sim.user_scope("user_john").ok(), Some(UserScopeGrants::default()));

    let client = client(&sim);
    for kind in [qualys::CloudKind::Azure, qualys::CloudKind::Gcp, qualys::CloudKind::Oci] {
        let err = client
            .update_account_scope("user_john", kind, &[], &[], &strings(&["us-east-1"]), &[])
            .await
            .unwrap_err();
        assert!(matches!(err, QualysError::InvalidRequest { .. }), "{kind}: {err:?}");
    }
    assert_eq!(
        sim.count("*", "/cloudview-api/*"),
        1,
        "only the raw call reached the simulator"
    );

    // Azure accounts go through; the Azure part of the answer has no regions.
    let scope = client
        .update_account_scope(
            "user_john",
            qualys::CloudKind::Azure,
            &strings(&[&AZURE_SUB.to_uppercase()]),
            &[],
            &[],
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        scope.accounts(qualys::CloudKind::Azure),
        [AZURE_SUB],
        "matched without regard to case, shown as the connector has it"
    );
    assert_eq!(scope.cloud(qualys::CloudKind::Azure).regions, None);
}

/// An id both added and removed in one call ends up granted (removals first),
/// for groups, accounts and regions alike.
#[tokio::test]
async fn add_and_remove_of_the_same_id_keeps_it() {
    let sim = sim().await;
    let api = Api::new(&sim);
    cloudview_connector(&sim, CloudKind::Aws, "a", AWS_ACCOUNT);
    let gid = group(&api, "both", &[]).await;
    let body = json!({"add": {"groupsIds": [gid]}, "remove": {"groupsIds": [gid]}});
    let reply = api
        .basic(
            "POST",
            &format!("{V1}/users/user_john/groupScope"),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(group_titles(&reply.json()), [("both".to_string(), 0)]);

    sim.set_user_scope("user_john", grants(&[], &[("AWS", &[AWS_ACCOUNT])], &["us-west-2"]))
        .unwrap_or_else(|e| panic!("{e}"));
    let body = json!({"add": {"accountIdentifiers": [AWS_ACCOUNT], "regions": ["us-west-2"]},
                      "remove": {"accountIdentifiers": [AWS_ACCOUNT], "regions": ["us-west-2"]}});
    let reply = api
        .basic(
            "POST",
            &format!("{V1}/users/user_john/scope?cloudType=AWS"),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let scope = reply.json();
    assert_eq!(accounts(&scope, "AWS"), [AWS_ACCOUNT]);
    assert_eq!(scope["AWS"]["regions"], json!(["us-west-2"]));

    // Removing alone revokes.
    let body = json!({"remove": {"accountIdentifiers": [AWS_ACCOUNT], "regions": ["us-west-2"]}});
    let scope = api
        .basic(
            "POST",
            &format!("{V1}/users/user_john/scope?cloudType=AWS"),
            Some(&body.to_string()),
        )
        .await
        .json();
    assert!(accounts(&scope, "AWS").is_empty());
    assert_eq!(scope["AWS"]["regions"], json!([]));
}

/// A user name with `@` goes into the path percent-encoded and the simulator
/// finds the user; the admin API reads and writes the same scope.
#[tokio::test]
async fn user_names_are_percent_encoded() {
    let sim = sim().await;
    let api = Api::new(&sim);
    cloudview_connector(&sim, CloudKind::Gcp, "g", GCP_PROJECT);
    let admin_path = "/_sim/users/john.doe%40example.com/scope";
    let put = api
        .admin("PUT", admin_path, Some(json!({"accounts": {"GCP": [GCP_PROJECT]}})))
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(
        put.json(),
        json!({"groups": [], "accounts": {"GCP": [GCP_PROJECT]}, "regions": []})
    );
    assert_eq!(api.admin("GET", admin_path, None).await.json(), put.json());
    assert_eq!(
        sim.user_scope(EMAIL_USER).ok(),
        Some(grants(&[], &[("GCP", &[GCP_PROJECT])], &[]))
    );

    let scope = client(&sim)
        .user_scope(EMAIL_USER)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scope.accounts(qualys::CloudKind::Gcp), [GCP_PROJECT]);
    assert_eq!(
        sim.count("GET", "/cloudview-api/rest/v1/users/john.doe%40example.com/scope"),
        1
    );
    let scope = client(&sim)
        .update_account_scope(
            EMAIL_USER,
            qualys::CloudKind::Gcp,
            &[],
            &strings(&[GCP_PROJECT]),
            &[],
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(scope.accounts(qualys::CloudKind::Gcp).is_empty());
    assert_eq!(sim.user_scope(EMAIL_USER).ok(), Some(grants(&[], &[("GCP", &[])], &[])));

    // The admin API checks what a UI would: the user, groups, connectors, cloud types.
    for (path, body, status) in [
        ("/_sim/users/nobody/scope", json!({}), 404),
        (
            admin_path,
            json!({"groups": ["00000000-0000-0000-0000-000000000000"]}),
            400,
        ),
        (admin_path, json!({"accounts": {"GCP": ["no-such-project"]}}), 400),
        (admin_path, json!({"accounts": {"OCI": ["x"]}}), 400),
        (admin_path, json!({"unknown": 1}), 400),
    ] {
        let reply = api.admin("PUT", path, Some(body.clone())).await;
        assert_eq!(reply.status, status, "{path} {body}: {}", reply.body);
    }
}

/// `connectorCount` follows the group's members, and grants whose group or
/// connector has gone are no longer shown.
#[tokio::test]
async fn answers_follow_groups_and_connectors() {
    let sim = sim().await;
    let api = Api::new(&sim);
    cloudview_connector(&sim, CloudKind::Aws, "a", AWS_ACCOUNT);
    cloudview_connector(&sim, CloudKind::Gcp, "g", GCP_PROJECT);
    let gid = group(&api, "grows", &[("AWS", AWS_ACCOUNT)]).await;
    sim.set_user_scope("user_john", grants(&[&gid], &[("GCP", &[GCP_PROJECT])], &[]))
        .unwrap_or_else(|e| panic!("{e}"));
    let api = &api;
    let get = move || async move {
        api.basic("GET", &format!("{V1}/users/user_john/scope"), None)
            .await
            .json()
    };
    assert_eq!(group_titles(&get().await), [("grows".to_string(), 1)]);
    let body = json!({"accountIdentifiers": [GCP_PROJECT], "add": {"groupIds": [gid]}});
    let reply = api
        .basic(
            "POST",
            &format!("{V1}/groups/connectors?cloudType=GCP"),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(reply.status, 204);
    assert_eq!(group_titles(&get().await), [("grows".to_string(), 2)]);

    let gcp_id = sim
        .state()
        .pointer("/world/tenants/demo/connectors")
        .and_then(Value::as_object)
        .and_then(|cs| cs.values().find(|c| c["kind"] == "GCP").and_then(|c| c["id"].as_u64()))
        .unwrap_or_else(|| panic!("no GCP connector"));
    sim.delete_connector(TENANT, gcp_id).unwrap_or_else(|e| panic!("{e}"));
    assert!(accounts(&get().await, "GCP").is_empty());
    let deleted = api
        .admin("DELETE", &format!("/_sim/tenants/{TENANT}/groups/{gid}"), None)
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(get().await["groups"], json!([]));
}

struct Closed;

impl WriteFence for Closed {
    fn check(&self) -> Result<(), String> {
        Err("not the leader".into())
    }
}

/// The updates are writes: a closed fence stops them while the read goes
/// through, and a server error on one is retried (same effect however often).
#[tokio::test]
async fn updates_are_fenced_writes_that_faults_reach() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let gid = group(&api, "g", &[]).await;
    let fenced = client_with(&sim, Some(Arc::new(Closed)));
    assert!(fenced.user_scope("user_john").await.is_ok());
    let err = fenced
        .update_group_scope("user_john", &strings(&[&gid]), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, QualysError::Fenced { .. }), "{err:?}");
    let err = fenced
        .update_account_scope("user_john", qualys::CloudKind::Aws, &[], &[], &[], &[])
        .await
        .unwrap_err();
    assert!(matches!(err, QualysError::Fenced { .. }), "{err:?}");
    assert_eq!(sim.count("POST", "/cloudview-api/rest/v1/users/*"), 0);

    sim.add_fault(
        FaultRule::new(
            "POST /cloudview-api/rest/v1/users/*/groupScope",
            FaultAction::Status {
                status: 503,
                body: None,
            },
        )
        .times(1),
    );
    sim.add_fault(
        FaultRule::new(
            "POST /cloudview-api/rest/v1/users/*/scope",
            FaultAction::CommitThenFail { mode: LossMode::Drop },
        )
        .times(1),
    );
    let client = client(&sim);
    let scope = client
        .update_group_scope("user_john", &strings(&[&gid]), &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scope.group_uuids().collect::<Vec<_>>(), [gid.as_str()]);
    let counters = sim.counters();
    let status_of = |status: u16| {
        counters
            .iter()
            .filter(|c| c.route.ends_with("/groupScope") && c.status == status)
            .map(|c| c.count)
            .sum::<u64>()
    };
    assert_eq!((status_of(503), status_of(200)), (1, 1));

    let scope = client
        .update_account_scope(
            "user_john",
            qualys::CloudKind::Aws,
            &[],
            &[],
            &strings(&["us-east-1"]),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scope.regions(), ["us-east-1"]);
    assert_eq!(
        sim.count("POST", "/cloudview-api/rest/v1/users/user_john/scope"),
        2,
        "the lost answer was asked again"
    );
}
