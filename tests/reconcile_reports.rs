//! Issue 18: `CloudViewReport` through the core and the CLI against the
//! simulator. Observation is the report list; a report is read in full only
//! when the list cannot settle it. A change of title, description, accounts
//! or policies is one PATCH of the whole configuration; type and mandateId
//! cannot change (a Conflict that writes nothing).

#[path = "reconcile_support.rs"]
mod support;

use serde_json::{Value, json};
use support::*;

use qualys_operator::reconcile::plan::Action;

const TITLE: &str = "aws-prod CCM compliance";
const DESCRIPTION: &str = "Cloud Controls Matrix over the production AWS account";
const CIS: &str = "68dc5320-8677-11e8-9d84-85bffa8eeea9";
/// Every report call: the list, one report, creates, PATCHes and deletes.
const REPORTS: &str = "/cloudview-api/rest/v1/reports*";
const ONE_REPORT: &str = "/cloudview-api/rest/v1/reports/{id}";

fn report_doc(docs: &mut [qualys_operator::manifest::Document]) -> &mut Value {
    doc_mut(docs, "CloudViewReport", "aws-prod-ccm")
}

/// The simulator's configuration of the report `id` (as a get answers it).
fn stored(env: &Env, id: &str) -> Value {
    env.sim
        .reports(&env.tenant)
        .into_iter()
        .find(|r| r["reportId"] == id)
        .unwrap_or_else(|| panic!("report {id} is not in Qualys: {:?}", env.sim.reports(&env.tenant)))
}

fn accounts(report: &Value) -> Vec<String> {
    let mut a: Vec<String> = report["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            format!(
                "{}:{}",
                a["cloudType"].as_str().unwrap_or(""),
                a["accountId"].as_str().unwrap_or("")
            )
        })
        .collect();
    a.sort();
    a
}

/// Calls that change reports in Qualys.
fn report_writes(env: &Env) -> u64 {
    ["POST", "PATCH", "DELETE"]
        .iter()
        .map(|m| env.sim.count(m, REPORTS))
        .sum()
}

/// The example converged: the id the state file recorded.
async fn converged() -> (Env, String) {
    let mut env = Env::examples().await;
    env.converge().await;
    let id = env.id(REPORT);
    (env, id)
}

#[tokio::test]
async fn the_example_converges_and_a_no_change_run_reads_only_the_list() {
    let mut env = Env::examples().await;
    let plan = env.plan().await;
    let [Action::Create { fields }] = object(&plan, REPORT).actions.as_slice() else {
        panic!("one create:\n{}", plan.render())
    };
    assert_eq!(
        paths(fields),
        [
            "spec.accounts",
            "spec.description",
            "spec.format",
            "spec.mandateId",
            "spec.title",
            "spec.type"
        ]
    );
    let results = env.apply().await;
    let created = applied(&results, REPORT);
    assert!(created.created, "{:?}", created.log);
    let id = env.id(REPORT);
    let report = stored(&env, &id);
    assert_eq!(report["title"], TITLE);
    assert_eq!(report["type"], "MANDATE");
    assert_eq!(report["format"], "ON_SCREEN");
    assert_eq!(report["mandateId"], "2481");
    assert_eq!(report["description"], DESCRIPTION);
    assert_eq!(accounts(&report), ["AWS:123456789012"]);
    assert_eq!(
        created.created_on.as_ref(),
        report["createdOn"].as_str().map(str::to_string).as_ref()
    );

    // The write recorded what it sent: nothing is read in full after it.
    env.sim.reset_counters();
    let plan = env.plan().await;
    assert!(plan.is_empty(), "{}", plan.render());
    assert_eq!(object(&plan, REPORT).external_id.as_deref(), Some(id.as_str()));
    env.sim.reset_counters();
    let results = env.apply().await;
    assert!(
        applied(&results, REPORT).log.is_empty(),
        "{:?}",
        applied(&results, REPORT).log
    );
    assert_eq!(
        env.sim.count("GET", "/cloudview-api/rest/v1/reports"),
        1,
        "{:?}",
        env.sim.counters()
    );
    assert_eq!(
        env.sim.count("*", REPORTS),
        1,
        "only the list: {:?}",
        env.sim.counters()
    );
}

#[tokio::test]
async fn an_edit_in_qualys_of_description_and_accounts_is_corrected() {
    let (mut env, id) = converged().await;
    env.sim
        .edit_report(
            &env.tenant,
            &id,
            json!({"description": "edited by hand", "accounts": [
                {"cloudType": "AWS", "accountId": "123456789012"},
                {"cloudType": "AWS", "accountId": LEGACY_AWS_ACCOUNT}
            ]}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    env.sim.reset_counters();
    let plan = env.plan().await;
    // The list shows the accounts; the full read it leads to, the description.
    let changes = single_update(&plan, REPORT);
    assert_eq!(paths(changes), ["spec.accounts", "spec.description"]);
    assert_eq!(changes[1].before, Some(json!("edited by hand")));
    assert_eq!(env.sim.count("GET", ONE_REPORT), 1, "{:?}", env.sim.counters());
    env.sim.reset_counters();
    env.converge().await;
    assert_eq!(
        env.sim.count("PATCH", ONE_REPORT),
        1,
        "one PATCH: {:?}",
        env.sim.counters()
    );
    let report = stored(&env, &id);
    assert_eq!(report["description"], DESCRIPTION);
    assert_eq!(accounts(&report), ["AWS:123456789012"]);
    assert_eq!(env.id(REPORT), id, "the same report");
}

/// The documented cost of reading the list only: an edit in Qualys of only
/// the description is not seen while nothing else differs; the next spec
/// change reads the report in full, and its PATCH puts the description back.
#[tokio::test]
async fn a_description_only_edit_is_seen_at_the_next_full_read() {
    let (mut env, id) = converged().await;
    env.sim
        .edit_report(&env.tenant, &id, json!({"description": "edited by hand"}))
        .unwrap_or_else(|e| panic!("{e}"));
    env.sim.reset_counters();
    let plan = env.plan().await;
    assert!(plan.is_empty(), "not visible in the list:\n{}", plan.render());
    assert_eq!(env.sim.count("GET", ONE_REPORT), 0, "{:?}", env.sim.counters());

    let mut docs = example_documents();
    report_doc(&mut docs)["spec"]["title"] = json!("aws-prod CCM");
    env.set_documents(docs);
    let plan = env.plan().await;
    let changes = single_update(&plan, REPORT);
    assert_eq!(paths(changes), ["spec.description", "spec.title"]);
    env.converge().await;
    let report = stored(&env, &id);
    assert_eq!(
        (&report["title"], &report["description"]),
        (&json!("aws-prod CCM"), &json!(DESCRIPTION))
    );
}

#[tokio::test]
async fn a_spec_change_of_policies_is_read_in_full_then_written_once() {
    let (mut env, id) = converged().await;
    let mut docs = example_documents();
    report_doc(&mut docs)["spec"]["policies"] = json!([{"cloudType": "AWS", "policyId": CIS.to_uppercase()}]);
    env.set_documents(docs);
    env.sim.reset_counters();
    let plan = env.plan().await;
    let changes = single_update(&plan, REPORT);
    assert_eq!(paths(changes), ["spec.policies"]);
    assert_eq!(changes[0].before, Some(json!([])), "read in full: no policies");
    assert_eq!(env.sim.count("GET", ONE_REPORT), 1, "{:?}", env.sim.counters());
    env.converge().await;
    assert_eq!(
        stored(&env, &id)["policies"],
        json!([{"policyId": CIS, "cloudType": "AWS"}])
    );
}

#[tokio::test]
async fn a_change_of_type_or_mandate_is_a_conflict_that_writes_nothing() {
    let (mut env, id) = converged().await;
    let cases = [
        (
            "spec.type",
            json!({"type": "POLICY", "mandateId": null, "policies": [{"cloudType": "AWS", "policyId": CIS}]}),
        ),
        ("spec.mandateId", json!({"mandateId": "2441"})),
    ];
    for (field, spec) in cases {
        let mut docs = example_documents();
        for (k, v) in spec.as_object().into_iter().flatten() {
            match v {
                Value::Null => {
                    report_doc(&mut docs)["spec"].as_object_mut().map(|s| s.remove(k));
                }
                v => report_doc(&mut docs)["spec"][k] = v.clone(),
            }
        }
        env.set_documents(docs);
        let plan = env.plan().await;
        let reasons = conflicts(object(&plan, REPORT));
        assert_eq!(reasons.len(), 1, "{field}:\n{}", plan.render());
        assert!(
            reasons[0].contains(field) && reasons[0].contains(&id) && reasons[0].contains("deletionPolicy Delete"),
            "{}",
            reasons[0]
        );
        env.sim.reset_counters();
        let results = env.try_apply().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(applied(&results, REPORT).failure.is_none());
        assert_eq!(report_writes(&env), 0, "{field}: {:?}", env.sim.counters());
        let report = stored(&env, &id);
        assert_eq!(
            (&report["type"], &report["mandateId"]),
            (&json!("MANDATE"), &json!("2481"))
        );
    }
}

#[tokio::test]
async fn deletion_policy_delete_deletes_the_report_and_orphan_keeps_it() {
    for (policy, kept) in [("Delete", false), ("Orphan", true)] {
        let mut docs = example_documents();
        report_doc(&mut docs)["spec"]["deletionPolicy"] = json!(policy);
        let mut env = Env::new(docs.clone()).await;
        env.converge().await;
        let id = env.id(REPORT);
        report_doc(&mut docs)["metadata"]["deletionTimestamp"] = json!("2026-12-03T00:00:00Z");
        env.set_documents(docs);
        env.sim.reset_counters();
        let results = env.apply().await;
        let done = applied(&results, REPORT);
        assert_eq!(done.deleted, !kept, "{policy}: {:?}", done.log);
        assert_eq!(
            env.sim.count("DELETE", "/cloudview-api/rest/v1/reports"),
            u64::from(!kept),
            "{policy}: {:?}",
            env.sim.counters()
        );
        let ids: Vec<Value> = env
            .sim
            .reports(&env.tenant)
            .iter()
            .map(|r| r["reportId"].clone())
            .collect();
        assert_eq!(ids.contains(&json!(id)), kept, "{policy}: {ids:?}");
        // A second run has nothing left to do.
        let plan = env.plan().await;
        assert!(plan.is_empty(), "{policy}:\n{}", plan.render());
    }
}

#[tokio::test]
async fn a_report_made_by_hand_with_the_title_is_adopted_and_corrected() {
    let mut env = Env::examples().await;
    let by_hand = env
        .sim
        .seed_report(
            &env.tenant,
            json!({"title": TITLE, "type": "MANDATE", "format": "ON_SCREEN", "mandateId": 2481,
                "description": "made in the UI",
                "accounts": [{"cloudType": "AWS", "accountId": LEGACY_AWS_ACCOUNT}]}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let plan = env.plan().await;
    let actions = &object(&plan, REPORT).actions;
    let [Action::Adopt { id, .. }, Action::Update { changes, .. }] = actions.as_slice() else {
        panic!("adopt, then update:\n{}", plan.render())
    };
    assert_eq!(id, &by_hand);
    assert_eq!(paths(changes), ["spec.accounts", "spec.description"]);
    env.converge().await;
    assert_eq!(env.id(REPORT), by_hand);
    assert_eq!(env.sim.reports(&env.tenant).len(), 1, "adopted, not duplicated");
    let report = stored(&env, &by_hand);
    assert_eq!(report["description"], DESCRIPTION);
    assert_eq!(accounts(&report), ["AWS:123456789012"]);
}

#[tokio::test]
async fn a_made_by_hand_report_of_another_mandate_is_a_conflict_not_a_patch() {
    let mut env = Env::examples().await;
    let by_hand = env
        .sim
        .seed_report(
            &env.tenant,
            json!({"title": TITLE, "type": "MANDATE", "format": "ON_SCREEN", "mandateId": "2443",
                "accounts": [{"cloudType": "AWS", "accountId": LEGACY_AWS_ACCOUNT}]}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let plan = env.plan().await;
    let reasons = conflicts(object(&plan, REPORT));
    assert_eq!(reasons.len(), 1, "{}", plan.render());
    assert!(
        reasons[0].contains("spec.mandateId") && reasons[0].contains(&by_hand),
        "{}",
        reasons[0]
    );
    env.sim.reset_counters();
    let _ = env.try_apply().await;
    assert_eq!(report_writes(&env), 0, "{:?}", env.sim.counters());
}

#[tokio::test]
async fn observe_only_reports_drift_and_a_missing_report_without_writing() {
    let mut docs = example_documents();
    report_doc(&mut docs)["spec"]["managementPolicy"] = json!("ObserveOnly");
    let mut env = Env::new(docs.clone()).await;
    let plan = env.plan().await;
    let [Action::NotFound { reason }] = object(&plan, REPORT).actions.as_slice() else {
        panic!("not found:\n{}", plan.render())
    };
    assert!(reason.contains(TITLE), "{reason}");

    let id = env
        .sim
        .seed_report(
            &env.tenant,
            json!({"title": TITLE, "type": "MANDATE", "format": "ON_SCREEN", "mandateId": "2481",
                "description": "made in the UI",
                "accounts": [{"cloudType": "AWS", "accountId": LEGACY_AWS_ACCOUNT}]}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let before = stored(&env, &id);
    let plan = env.plan().await;
    let [Action::ReportDrift { id: drifting, changes }] = object(&plan, REPORT).actions.as_slice() else {
        panic!("drift only:\n{}", plan.render())
    };
    assert_eq!(drifting, &id);
    assert_eq!(paths(changes), ["spec.accounts", "spec.description"]);
    env.sim.reset_counters();
    let results = env.try_apply().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(applied(&results, REPORT).failure.is_none());
    assert_eq!(report_writes(&env), 0, "{:?}", env.sim.counters());
    assert_eq!(stored(&env, &id), before, "untouched");
}

#[tokio::test]
async fn an_account_without_a_cloudview_connector_is_an_error_naming_it() {
    let mut docs = example_documents();
    report_doc(&mut docs)["spec"]["accounts"] = json!([
        {"cloudType": "AWS", "accountId": "123456789012"},
        {"cloudType": "GCP", "accountId": "no-such-project"}
    ]);
    let mut env = Env::new(docs).await;
    let results = env.try_apply().await.unwrap_or_else(|e| panic!("{e}"));
    let done = applied(&results, REPORT);
    let failure = done.failure.as_ref().map(ToString::to_string).unwrap_or_default();
    assert!(failure.contains("no-such-project"), "{failure}");
    assert!(!done.created, "{:?}", done.log);
    assert!(env.sim.reports(&env.tenant).is_empty());
}

/// Two objects with one title: one Qualys report, held by the first.
#[tokio::test]
async fn a_second_object_with_the_title_is_a_conflict_naming_the_holder() {
    let (mut env, id) = converged().await;
    let mut docs = example_documents();
    let mut twin = report_doc(&mut docs).clone();
    twin["metadata"]["name"] = json!("aws-prod-ccm-twin");
    docs.extend(documents("twin.yaml", &twin.to_string()));
    env.set_documents(docs);
    let plan = env.plan().await;
    let reasons = conflicts(object(&plan, "CloudViewReport/default/aws-prod-ccm-twin"));
    assert_eq!(reasons.len(), 1, "{}", plan.render());
    assert!(
        reasons[0].contains(REPORT) && reasons[0].contains(&id),
        "{}",
        reasons[0]
    );
    assert!(object(&plan, REPORT).actions.is_empty(), "{}", plan.render());
    env.sim.reset_counters();
    let _ = env.try_apply().await;
    assert_eq!(report_writes(&env), 0, "{:?}", env.sim.counters());
    assert_eq!(env.sim.reports(&env.tenant).len(), 1);
}

/// The same in one run, before either exists: the report list read before
/// the run cannot show what the first creates, and Qualys lets titles repeat.
#[tokio::test]
async fn two_objects_with_one_title_in_one_run_create_one_report() {
    let mut docs = example_documents();
    let mut twin = report_doc(&mut docs).clone();
    twin["metadata"]["name"] = json!("aws-prod-ccm-twin");
    docs.extend(documents("twin.yaml", &twin.to_string()));
    let mut env = Env::new(docs).await;
    let twin = "CloudViewReport/default/aws-prod-ccm-twin";
    let plan = env.plan().await;
    assert!(matches!(
        object(&plan, REPORT).actions.as_slice(),
        [Action::Create { .. }]
    ));
    let reasons = conflicts(object(&plan, twin));
    assert_eq!(reasons.len(), 1, "{}", plan.render());
    assert!(
        reasons[0].contains(REPORT) && reasons[0].contains(TITLE),
        "{}",
        reasons[0]
    );
    let results = env.try_apply().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(applied(&results, REPORT).created);
    assert_eq!(conflicts(object_of(&results, twin)).len(), 1);
    assert_eq!(
        env.sim.reports(&env.tenant).len(),
        1,
        "{:?}",
        env.sim.reports(&env.tenant)
    );
    // Once it exists, the twin meets the holder's claim.
    let plan = env.plan().await;
    let reasons = conflicts(object(&plan, twin));
    assert!(
        reasons.len() == 1 && reasons[0].contains(&env.id(REPORT)),
        "{}",
        plan.render()
    );
}

fn object_of<'a>(
    results: &'a [(
        qualys_operator::reconcile::plan::ObjectPlan,
        qualys_operator::reconcile::execute::Applied,
    )],
    reference: &str,
) -> &'a qualys_operator::reconcile::plan::ObjectPlan {
    results
        .iter()
        .map(|(p, _)| p)
        .find(|p| p.object == reference)
        .unwrap_or_else(|| panic!("{reference} was not applied"))
}
