//! Issue 5: the kinds with special rules. One GlobalScanConfiguration per
//! account; organization connector fields the gateway cannot change; group
//! membership computed from the difference; run requests.

#[path = "reconcile_support.rs"]
mod support;

use serde_json::json;
use support::*;

use qualys_operator::reconcile::plan::Action;

const SECOND_SCAN: &str = "GlobalScanConfiguration/default/second";

/// A second GlobalScanConfiguration for the same account is a conflict, not an
/// overwrite, before and after the first exists.
#[tokio::test]
async fn a_second_global_scan_configuration_is_a_conflict_not_an_overwrite() {
    let mut docs = example_documents();
    let mut second = doc_mut(&mut docs, "GlobalScanConfiguration", "perimeter-scans").clone();
    second["metadata"]["name"] = json!("second");
    second["spec"]["scanPrefix"] = json!("other-prefix");
    docs.extend(documents("second.yaml", &second.to_string()));
    let mut env = Env::new(docs).await;
    let plan = env.plan().await;
    assert!(
        matches!(object(&plan, SCAN).actions.first(), Some(Action::Create { .. })),
        "{}",
        plan.render()
    );
    let reasons = conflicts(object(&plan, SECOND_SCAN));
    assert_eq!(reasons.len(), 1, "{}", plan.render());
    assert!(
        reasons[0].contains(SCAN),
        "the conflict names the holder: {}",
        reasons[0]
    );
    let results = env.try_apply().await.unwrap_or_else(|e| panic!("{e}"));
    let (_, second_applied) = results
        .iter()
        .find(|(p, _)| p.object == SECOND_SCAN)
        .unwrap_or_else(|| panic!("no result"));
    assert!(second_applied.log.is_empty(), "{:?}", second_applied.log);
    assert_eq!(
        env.world()["globalScan"]["scanPrefix"],
        "cps",
        "the first one wins, never overwritten"
    );
    // And on every later run.
    let plan = env.plan().await;
    assert!(object(&plan, SCAN).actions.is_empty(), "{}", plan.render());
    assert_eq!(conflicts(object(&plan, SECOND_SCAN)).len(), 1, "{}", plan.render());
    env.sim.reset_counters();
    let _ = env.try_apply().await;
    assert_eq!(
        env.sim.count("*", "*/globalscanconfiguration"),
        1,
        "only the search: {:?}",
        env.sim.counters()
    );
    assert_eq!(env.world()["globalScan"]["scanPrefix"], "cps");
}

/// Changing a field the gateway cannot edit is reported, not attempted.
#[tokio::test]
async fn org_fields_the_gateway_cannot_change_are_a_conflict() {
    for (field, value) in [
        ("connectorPrefixName", json!("fabrikam")),
        ("applicationId", json!("11111111-2222-4333-8444-555555555555")),
        ("name", json!("renamed")),
    ] {
        let mut env = Env::examples().await;
        env.converge().await;
        let mut docs = example_documents();
        doc_mut(&mut docs, "AzureOrgConnector", "contoso")["spec"][field] = value;
        env.set_documents(docs);
        let plan = env.plan().await;
        let reasons = conflicts(object(&plan, ORG));
        assert_eq!(reasons.len(), 1, "{field}:\n{}", plan.render());
        assert!(reasons[0].contains(&format!("spec.{field}")), "{field}: {}", reasons[0]);
        env.sim.reset_counters();
        let _ = env.try_apply().await;
        assert_eq!(
            env.sim.count("PUT", "/connectors/v1.0/org/azure/*"),
            0,
            "{field}: {:?}",
            env.sim.counters()
        );
        assert_eq!(
            env.sim.count("POST", "/connectors/v1.0/org/azure/*"),
            0,
            "{field}: {:?}",
            env.sim.counters()
        );
    }
}

/// Group membership changes are computed from the difference: one add call for
/// the new account, nothing for the unchanged ones, one remove for the dropped.
#[tokio::test]
async fn group_membership_is_changed_by_difference() {
    let mut env = Env::examples().await;
    env.converge().await;
    let other = "444444444444";
    env.sim
        .create_connector(
            &env.tenant,
            SimCloud::Aws,
            json!({"name": "other", "arn": format!("arn:aws:iam::{other}:role/R"), "connectorAppInfos": {"set":
                {"ConnectorAppInfoQList": [{"set": {"ConnectorAppInfo": {"name": "CSA"}}}]}}}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let mut docs = example_documents();
    doc_mut(&mut docs, "ConnectorGroup", "platform-team")["spec"]["members"]["accounts"] =
        json!([{"cloudType": "AWS", "accountIdentifier": other}]);
    env.set_documents(docs);
    let plan = env.plan().await;
    let changes = single_update(&plan, GROUP);
    assert_eq!(paths(changes), ["spec.members"]);
    let before = changes[0].before.clone().unwrap_or_default().to_string();
    let after = changes[0].after.clone().unwrap_or_default().to_string();
    assert!(
        before.contains(LEGACY_AWS_ACCOUNT) && !after.contains(LEGACY_AWS_ACCOUNT),
        "{before} -> {after}"
    );
    assert!(after.contains(other), "{after}");
    env.sim.reset_counters();
    env.apply().await;
    // One add and one remove, both for AWS.
    assert_eq!(
        env.sim.count("POST", "/cloudview-api/rest/v1/groups/connectors"),
        2,
        "{:?}",
        env.sim.counters()
    );
    let members = env.world()["groups"][0]["members"].to_string();
    assert!(
        members.contains(other) && !members.contains(LEGACY_AWS_ACCOUNT),
        "{members}"
    );
    assert!(
        members.contains("analytics-prod-42") && members.contains("123456789012"),
        "{members}"
    );
    let plan = env.plan().await;
    assert!(plan.is_empty(), "{}", plan.render());
}

/// A member reference that matches no connector object is a note, not a change.
#[tokio::test]
async fn an_unresolved_group_member_is_a_note() {
    let mut docs = example_documents();
    doc_mut(&mut docs, "ConnectorGroup", "platform-team")["spec"]["members"]["connectors"] =
        json!([{"kind": "GcpConnector", "name": "gcp-analytics"}, {"kind": "AwsConnector", "name": "nobody"}]);
    let mut env = Env::new(docs).await;
    env.converge().await;
    let plan = env.plan().await;
    let group = object(&plan, GROUP);
    assert!(group.notes.iter().any(|n| n.contains("nobody")), "{}", plan.render());
}

/// `qualys-operator.io/run-requested-at`: one run per new value; a disabled
/// connector is not run (a note says why).
#[tokio::test]
async fn a_run_request_runs_once() {
    let mut env = Env::examples().await;
    env.converge().await;
    let mut docs = example_documents();
    doc_mut(&mut docs, "OciConnector", "oci-finance")["metadata"]["annotations"] =
        json!({"qualys-operator.io/run-requested-at": "2027-01-01T00:00:00Z"});
    env.set_documents(docs.clone());
    let plan = env.plan().await;
    let busy = busy(&plan);
    assert_eq!(busy.len(), 1, "{}", plan.render());
    assert!(
        matches!(busy[0].actions.as_slice(), [Action::Run { requested_at, .. }] if requested_at == "2027-01-01T00:00:00Z"),
        "{}",
        plan.render()
    );
    env.sim.reset_counters();
    env.apply().await;
    assert_eq!(
        env.sim.count("*", "/qps/rest/3.0/run/am/ociassetdataconnector/*"),
        1,
        "{:?}",
        env.sim.counters()
    );
    let plan = env.plan().await;
    assert!(plan.is_empty(), "ran once:\n{}", plan.render());

    // Disabled: skipped with a note.
    doc_mut(&mut docs, "OciConnector", "oci-finance")["metadata"]["annotations"] =
        json!({"qualys-operator.io/run-requested-at": "2027-02-02T00:00:00Z"});
    doc_mut(&mut docs, "OciConnector", "oci-finance")["spec"]["disabled"] = json!(true);
    env.set_documents(docs);
    let plan = env.plan().await;
    let oci = object(&plan, OCI);
    assert!(
        !oci.actions.iter().any(|a| matches!(a, Action::Run { .. })),
        "{}",
        plan.render()
    );
    assert!(oci.notes.iter().any(|n| n.contains("disabled")), "{}", plan.render());
}

/// A newly created org member is attached in the same apply as the org.
#[tokio::test]
async fn the_org_member_is_attached_on_first_apply() {
    let mut env = Env::examples().await;
    env.apply().await;
    let azure = env.num_id(AZURE);
    let stored = env.sim.connector(&env.tenant, azure).unwrap_or_else(|| panic!("gone"));
    assert_eq!(stored.org_connector_id.map(|i| i.to_string()), Some(env.id(ORG)));
}
