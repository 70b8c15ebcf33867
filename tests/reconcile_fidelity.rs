//! Issue 14: fidelity to Qualys as documented. Each test is a finding of an
//! outside check (documentation samples served to plan/apply, manifests written
//! outside the project): no destructive diff, no perpetual diff.

#[path = "reconcile_support.rs"]
mod support;

use serde_json::{Value, json};
use support::*;

use qualys_operator::manifest::Document;
use qualys_operator::reconcile::plan::Action;

fn org_spec(docs: &mut [Document]) -> &mut Value {
    &mut doc_mut(docs, "AzureOrgConnector", "contoso")["spec"]
}

/// Detach calls the simulator has answered.
fn detaches(env: &Env) -> u64 {
    env.sim.count("*", "/connectors/v1.0/azure/detach*")
}

fn attached_members(env: &Env, org: &str) -> Vec<u64> {
    let world = env.world();
    let mut ids: Vec<u64> = world["connectors"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, c)| c["orgConnectorId"].as_u64().map(|i| i.to_string()).as_deref() == Some(org))
        .filter_map(|(id, _)| id.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

/// Finding 1: members Qualys creates for new subscriptions are never detached
/// when the spec does not list members.
#[tokio::test]
async fn org_members_qualys_created_are_not_detached_without_members_in_spec() {
    let mut docs = example_documents();
    if let Some(spec) = org_spec(&mut docs).as_object_mut() {
        spec.remove("members");
    }
    let mut env = Env::new(docs).await;
    env.converge().await;
    let org = env.id(ORG);
    let created = env
        .sim
        .discover_subscription(
            &env.tenant,
            org.parse().unwrap_or_default(),
            "1204278a-0000-4000-8000-000000000001",
            Some("mg-new"),
        )
        .unwrap_or_else(|e| panic!("discover: {e}"))
        .unwrap_or_else(|| panic!("the example org creates connectors for new subscriptions"));
    let plan = env.plan().await;
    assert!(
        plan.is_empty(),
        "a Qualys-created member must not be planned away:\n{}",
        plan.render()
    );
    env.apply().await;
    assert_eq!(detaches(&env), 0, "no detach may be sent");
    assert_eq!(attached_members(&env, &org), vec![created]);
}

/// Finding 1, with members listed: `Include` (the default) attaches the listed
/// one and keeps the Qualys-created one; `Exact` detaches what is not listed.
#[tokio::test]
async fn org_member_policy_include_keeps_and_exact_detaches_unlisted_members() {
    let mut env = Env::examples().await;
    env.converge().await;
    let org = env.id(ORG);
    let listed = env.num_id(AZURE);
    let created = env
        .sim
        .discover_subscription(
            &env.tenant,
            org.parse().unwrap_or_default(),
            "1204278a-0000-4000-8000-000000000002",
            None,
        )
        .unwrap_or_else(|e| panic!("discover: {e}"))
        .unwrap_or_else(|| panic!("the example org creates connectors for new subscriptions"));
    let plan = env.plan().await;
    assert!(plan.is_empty(), "Include keeps unlisted members:\n{}", plan.render());
    assert_eq!(attached_members(&env, &org), {
        let mut v = vec![listed, created];
        v.sort_unstable();
        v
    });

    let mut docs = example_documents();
    org_spec(&mut docs)["memberPolicy"] = json!("Exact");
    env.set_documents(docs);
    let plan = env.plan().await;
    let changes = single_update(&plan, ORG);
    assert_eq!(paths(changes), vec!["spec.members"], "{}", plan.render());
    env.converge().await;
    assert_eq!(detaches(&env), 1);
    assert_eq!(attached_members(&env, &org), vec![listed]);
}

/// Finding 1: with no `members`, a member attached by hand is not detached
/// either, and the plan never names `spec.members`.
#[tokio::test]
async fn org_without_members_never_plans_membership() {
    let mut docs = example_documents();
    if let Some(spec) = org_spec(&mut docs).as_object_mut() {
        spec.remove("members");
    }
    let mut env = Env::new(docs).await;
    let plan = env.plan().await;
    let org_plan = object(&plan, ORG);
    let create_paths: Vec<String> = org_plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Create { fields } => Some(fields.iter().map(|f| f.path.clone()).collect::<Vec<_>>()),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(!create_paths.iter().any(|p| p == "spec.members"), "{create_paths:?}");
    env.converge().await;
}

fn aws_spec(docs: &mut [Document]) -> &mut Value {
    &mut doc_mut(docs, "AwsConnector", "aws-prod")["spec"]
}

/// Finding 2: a manifest with regions, as the documented create sample made,
/// converges although reads leave `endpoints` out.
#[tokio::test]
async fn aws_regions_converge_although_reads_do_not_list_them() {
    let mut docs = example_documents();
    aws_spec(&mut docs)["regions"] = json!(["af-south-1", "eu-south-1"]);
    let mut env = Env::new(docs).await;
    env.converge().await;
    let stored = env.stored(AWS);
    assert_eq!(stored.all_regions, Some(false));
    assert_eq!(
        stored.endpoints,
        vec!["af-south-1".to_string(), "eu-south-1".to_string()]
    );
}

/// Finding 2: a manifest that wants all regions plans a change against a
/// connector limited to some regions, although Qualys does not say which.
#[tokio::test]
async fn all_regions_wanted_against_a_limited_connector_is_drift() {
    let mut env = Env::examples().await;
    env.converge().await;
    let id = env.num_id(AWS);
    env.sim
        .edit_connector(
            &env.tenant,
            id,
            json!({"allRegions": false, "endpoints": {"set": {"AwsEndpointSimple": [{"regionCode": "eu-west-1"}]}}}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let plan = env.plan().await;
    assert_eq!(
        paths(single_update(&plan, AWS)),
        vec!["spec.regions"],
        "{}",
        plan.render()
    );
    env.converge().await;
    assert_eq!(env.stored(AWS).all_regions, Some(true));
}

/// Finding 3: the GCP search JSON repeats the `list` key inside
/// `connectorAppInfos`; every app is read, so the plan stays empty.
#[tokio::test]
async fn gcp_apps_survive_repeated_list_keys_in_json() {
    let mut docs = example_documents();
    doc_mut(&mut docs, "QualysAccount", "default")["spec"]["qpsFormat"] = json!("Json");
    let mut env = Env::new(docs).await;
    env.converge().await;
    let (status, body) = env
        .http()
        .qps(
            "/qps/rest/3.0/search/am/gcpassetdataconnector",
            json!({"ServiceRequest": {}}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        body.matches("\"list\":[{\"ConnectorAppInfoQList\"").count() >= 2,
        "the simulator answers in the documented shape: {body}"
    );
}

/// Finding 4: Azure GUIDs written in upper case are matched in group
/// membership and org attachment, and the plan empties.
#[tokio::test]
async fn upper_case_azure_guids_converge_in_groups_and_orgs() {
    let mut docs = example_documents();
    let azure = &mut doc_mut(&mut docs, "AzureConnector", "azure-prod")["spec"];
    for key in ["directoryId", "subscriptionId", "applicationId"] {
        let upper = azure[key].as_str().map(str::to_uppercase);
        azure[key] = json!(upper);
    }
    let org = org_spec(&mut docs);
    for key in ["tenantId", "applicationId"] {
        let upper = org[key].as_str().map(str::to_uppercase);
        org[key] = json!(upper);
    }
    let mut env = Env::new(docs).await;
    env.converge().await;
    let group = &env.world()["groups"][0];
    let azure_members = group["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m[0] == "AZURE")
        .count();
    assert_eq!(azure_members, 1, "{group}");
    assert_eq!(attached_members(&env, &env.id(ORG)), vec![env.num_id(AZURE)]);
}

/// Finding 4: one refused cloud-type batch does not stop the others.
#[tokio::test]
async fn a_refused_membership_batch_does_not_stop_the_next_cloud() {
    let mut docs = example_documents();
    // An AWS account CloudView has no connector for: the AWS batch is refused.
    doc_mut(&mut docs, "ConnectorGroup", "platform-team")["spec"]["members"]["accounts"] =
        json!([{"cloudType": "AWS", "accountIdentifier": "999999999999"}]);
    let mut env = Env::new(docs).await;
    let results = env.try_apply().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(applied(&results, GROUP).failure.is_some(), "the AWS batch is refused");
    let group = &env.world()["groups"][0];
    let gcp = group["members"].as_array().into_iter().flatten().any(|m| m[0] == "GCP");
    assert!(gcp, "the GCP batch is still sent: {group}");
}

/// Finding 5: Azure reads echo the application id as the apps' identifier;
/// a manifest relying on the default identifier plans no change.
#[tokio::test]
async fn azure_app_identifier_echoed_as_application_id_is_no_change() {
    let mut env = Env::examples().await;
    env.converge().await;
    let (_, body) = env
        .http()
        .qps(
            "/qps/rest/3.0/search/am/azureassetdataconnector",
            json!({"ServiceRequest": {}}),
        )
        .await;
    assert!(
        body.contains("\"identifier\":\"5e7f9a1b-3c5d-4e7f-9a1b-3c5d7e9f1a2b\""),
        "the simulator echoes the application id as the documentation does: {body}"
    );
}

/// Finding 7: `defaultTagIds: []` takes the tags off; absent leaves them.
#[tokio::test]
async fn emptied_default_tags_are_removed_and_absent_ones_left_alone() {
    let mut env = Env::examples().await;
    env.converge().await;
    assert_eq!(env.stored(AWS).default_tags, vec![42458382]);

    let mut docs = example_documents();
    if let Some(spec) = aws_spec(&mut docs).as_object_mut() {
        spec.remove("defaultTagIds");
    }
    env.set_documents(docs);
    let plan = env.plan().await;
    assert!(plan.is_empty(), "absent tags are not managed:\n{}", plan.render());

    let mut docs = example_documents();
    aws_spec(&mut docs)["defaultTagIds"] = json!([]);
    env.set_documents(docs);
    let plan = env.plan().await;
    assert_eq!(paths(single_update(&plan, AWS)), vec!["spec.defaultTagIds"]);
    env.converge().await;
    assert!(env.stored(AWS).default_tags.is_empty());
}

/// Finding 8: a group member whose connector has neither CI nor CSA is held
/// back with a note; the rest of the group converges.
#[tokio::test]
async fn a_member_without_cloudview_apps_is_held_back_not_poisoning_the_batch() {
    let mut docs = example_documents();
    doc_mut(&mut docs, "GcpConnector", "gcp-analytics")["spec"]["apps"] = json!([{"name": "AI"}]);
    let mut env = Env::new(docs).await;
    env.converge().await;
    let plan = env.plan().await;
    let notes = &object(&plan, GROUP).notes;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("GcpConnector/gcp-analytics") && n.contains("CI nor the CSA")),
        "{notes:?}"
    );
    let group = &env.world()["groups"][0];
    let clouds: Vec<&str> = group["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m[0].as_str())
        .collect();
    assert!(clouds.contains(&"AWS") && clouds.contains(&"AZURE"), "{group}");
    assert!(!clouds.contains(&"GCP"), "{group}");
}

/// What the spec leaves out, it does not own: removing description,
/// activation, apps or tags from a manifest plans nothing and leaves Qualys as is.
#[tokio::test]
async fn fields_removed_from_the_spec_are_left_alone_in_qualys() {
    let mut env = Env::examples().await;
    env.converge().await;
    let before = env.stored(AWS);
    let mut docs = example_documents();
    if let Some(spec) = aws_spec(&mut docs).as_object_mut() {
        for key in ["description", "activation", "apps", "defaultTagIds"] {
            spec.remove(key);
        }
    }
    env.set_documents(docs);
    let plan = env.plan().await;
    assert!(plan.is_empty(), "{}", plan.render());
    env.sim.reset_counters();
    env.apply().await;
    assert_eq!(env.sim.count("*", "*/update/*"), 0);
    let after = env.stored(AWS);
    assert_eq!(after.description, before.description);
    assert_eq!(after.activation, before.activation);
    assert_eq!(after.apps, before.apps);
    assert_eq!(after.default_tags, before.default_tags);
}
