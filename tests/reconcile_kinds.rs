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
    let second_applied = applied(&results, SECOND_SCAN);
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

/// Renaming a group in the manifest: CloudView cannot rename (no API), so the
/// plan must not offer an Update it cannot carry out (a perpetual "update").
#[tokio::test]
async fn renaming_a_group_is_not_a_perpetual_update() {
    let mut env = Env::examples().await;
    env.converge().await;
    let mut docs = example_documents();
    doc_mut(&mut docs, "ConnectorGroup", "platform-team")["spec"]["name"] = json!("Platform");
    env.set_documents(docs);
    let first = env.plan().await;
    let _ = env.try_apply().await;
    let second = env.plan().await;
    let group = object(&second, GROUP);
    let updates = group.actions.iter().any(|a| matches!(a, Action::Update { .. }));
    assert!(
        !updates,
        "after apply the rename is still planned as an update:\nfirst plan:\n{}\nsecond plan:\n{}",
        first.render(),
        second.render()
    );
}

/// Changing the cloud account a connector is for (its natural key) updates the
/// recorded connector in place and converges.
#[tokio::test]
async fn changing_a_connectors_account_updates_it_and_converges() {
    let edits: [(&str, &str, &str, serde_json::Value, &str); 4] = [
        (
            AWS,
            "AwsConnector",
            "aws-prod",
            json!({"arn": "arn:aws:iam::555555555555:role/R"}),
            "spec.arn",
        ),
        (
            AZURE,
            "AzureConnector",
            "azure-prod",
            json!({"subscriptionId": "11111111-2222-4333-8444-555555555555"}),
            "spec.subscriptionId",
        ),
        (
            GCP,
            "GcpConnector",
            "gcp-analytics",
            json!({"projectId": "other-project-1"}),
            "spec.projectId",
        ),
        (
            OCI,
            "OciConnector",
            "oci-finance",
            json!({"tenantId": "ocid1.tenancy.oc1..other"}),
            "spec.tenantId",
        ),
    ];
    let mut failures = Vec::new();
    for (reference, kind, name, patch, path) in edits {
        let mut env = Env::examples().await;
        env.converge().await;
        let id = env.id(reference);
        let mut docs = example_documents();
        // The snapshot-scan registration names aws-prod's account: once the
        // connector moves to another account, Qualys rightly refuses it.
        docs.retain(|d| d.kind() != "SnapshotScanRegistration");
        let doc = doc_mut(&mut docs, kind, name);
        for (k, v) in patch.as_object().into_iter().flatten() {
            doc["spec"][k] = v.clone();
        }
        env.set_documents(docs);
        let plan = env.plan().await;
        let p = object(&plan, reference);
        let named: Vec<String> = p
            .actions
            .iter()
            .flat_map(|a| match a {
                Action::Update { changes, .. } => changes.iter().map(|c| c.path.clone()).collect(),
                _ => Vec::new(),
            })
            .collect();
        if !named.iter().any(|n| n == path) {
            failures.push(format!("{reference}: {path} not planned:\n{}", plan.render()));
            continue;
        }
        let results = env.try_apply().await.unwrap_or_else(|e| panic!("{e}"));
        if let Some((p, a)) = results.iter().find(|(_, a)| a.failure.is_some()) {
            failures.push(format!(
                "{reference}: apply of {} failed: {:?}",
                p.object,
                a.failure.as_ref().map(ToString::to_string)
            ));
            continue;
        }
        let after = env.plan().await;
        if !after.is_empty() {
            failures.push(format!("{reference}: perpetual diff:\n{}", after.render()));
        }
        if env.id(reference) != id {
            failures.push(format!("{reference}: replaced instead of updated"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `managementPolicy: ObserveOnly`: drift is reported, never written; a missing
/// object is reported, never created.
#[tokio::test]
async fn observe_only_reports_and_never_writes() {
    let mut docs = example_documents();
    doc_mut(&mut docs, "AwsConnector", "aws-prod")["spec"]["managementPolicy"] = json!("ObserveOnly");
    doc_mut(&mut docs, "OciConnector", "oci-finance")["spec"]["managementPolicy"] = json!("ObserveOnly");
    let mut env = Env::new(docs).await;
    // Someone made the AWS connector by hand; nobody made the OCI one.
    let id = env
        .sim
        .create_connector(
            &env.tenant,
            SimCloud::Aws,
            json!({"name": "by hand", "arn": "arn:aws:iam::123456789012:role/QualysConnectorRole", "runFrequency": 60}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let plan = env.plan().await;
    let aws = object(&plan, AWS);
    assert_eq!(aws.external_id, Some(id.to_string()), "{}", plan.render());
    assert!(
        matches!(aws.actions.as_slice(), [Action::ReportDrift { changes, .. }] if changes.iter().any(|c| c.path == "spec.runFrequencyMinutes")),
        "{}",
        plan.render()
    );
    assert!(
        matches!(object(&plan, OCI).actions.as_slice(), [Action::NotFound { .. }]),
        "{}",
        plan.render()
    );
    let before = env.sim.connector(&env.tenant, id);
    let _ = env.try_apply().await;
    assert_eq!(
        env.sim.connector(&env.tenant, id),
        before,
        "ObserveOnly wrote to Qualys"
    );
    assert!(env.connectors_of("OCI").is_empty(), "ObserveOnly created a connector");
    assert_eq!(env.sim.count("*", "/qps/rest/3.0/update/am/awsassetdataconnector/*"), 0);
}
