//! Issue 18: `SnapshotScanRegistration` through the core and the CLI against
//! the simulator. Qualys has no read for registrations: registering again is
//! the observation (304 when Qualys holds it), a schedule change deregisters
//! first (which removes every registration), and deletion deregisters.

#[path = "reconcile_support.rs"]
mod support;

use serde_json::json;
use support::*;

use qualys_operator::reconcile::plan::Action;

const REGISTRATION: &str = "SnapshotScanRegistration/default/aws-prod-snapshots";

fn registered(env: &Env) -> Vec<(String, String)> {
    env.sim
        .snapshot_accounts(&env.tenant)
        .into_iter()
        .map(|a| (a.account_id, a.schedule))
        .collect()
}

fn doc(docs: &mut [qualys_operator::manifest::Document]) -> &mut serde_json::Value {
    doc_mut(docs, "SnapshotScanRegistration", "aws-prod-snapshots")
}

#[tokio::test]
async fn the_example_registers_once_then_only_confirms() {
    let mut env = Env::examples().await;
    env.converge().await;
    assert_eq!(
        registered(&env),
        [("123456789012".to_string(), "0 0 2 ? * * *".to_string())]
    );
    let accounts = env.sim.snapshot_accounts(&env.tenant);
    assert_eq!(accounts[0].tags.len(), 1, "{accounts:?}");
    let entry = env.state.entry(&env.account, REGISTRATION).cloned().unwrap_or_default();
    assert_eq!(entry.registration.as_deref(), Some("0 0 2 ? * * * | Owner=platform"));
    // A no-change apply sends the registration once, and Qualys answers 304.
    env.sim.reset_counters();
    env.apply().await;
    let sent: Vec<String> = env
        .sim
        .counters()
        .iter()
        .filter(|c| c.route.contains("/conn/snapshot/"))
        .map(|c| format!("{} {} {}", c.method, c.route, c.status))
        .collect();
    assert_eq!(
        sent,
        ["POST /conn/snapshot/v1.0/register-service-account 304"],
        "{:?}",
        env.sim.counters()
    );

    // Deregistered by hand: the next apply puts it back.
    env.sim.clear_snapshot_accounts(&env.tenant);
    env.apply().await;
    assert_eq!(registered(&env).len(), 1, "registered again");
}

#[tokio::test]
async fn a_new_schedule_deregisters_then_registers() {
    let mut env = Env::examples().await;
    env.converge().await;
    let mut docs = example_documents();
    doc(&mut docs)["spec"]["schedule"] = json!("0 30 3 ? * MON-FRI *");
    env.set_documents(docs);
    let plan = env.plan().await;
    let actions = &object(&plan, REGISTRATION).actions;
    assert!(
        matches!(
            actions.as_slice(),
            [Action::Deregister { .. }, Action::Register { confirm: false, .. }]
        ),
        "{}",
        plan.render()
    );
    assert!(
        plan.render().contains("every snapshot-scan registration"),
        "{}",
        plan.render()
    );
    env.converge().await;
    assert_eq!(
        registered(&env),
        [("123456789012".to_string(), "0 30 3 ? * MON-FRI *".to_string())]
    );
}

#[tokio::test]
async fn an_invalid_schedule_is_refused_offline_naming_the_field() {
    let mut docs = example_documents();
    doc(&mut docs)["spec"]["schedule"] = json!("0 0 25 ? * * *");
    let mut env = Env::new(docs).await;
    let plan = env.plan().await;
    let reasons = conflicts(object(&plan, REGISTRATION));
    assert_eq!(reasons.len(), 1, "{}", plan.render());
    assert!(reasons[0].starts_with("spec.schedule: "), "{}", reasons[0]);
    env.sim.reset_counters();
    let _ = env.try_apply().await;
    assert_eq!(env.sim.count("*", "/conn/snapshot/*"), 0, "{:?}", env.sim.counters());
}

#[tokio::test]
async fn deletion_deregisters_and_orphan_keeps_it() {
    for (policy, kept) in [("Delete", false), ("Orphan", true)] {
        let mut env = Env::examples().await;
        let mut docs = example_documents();
        doc(&mut docs)["spec"]["deletionPolicy"] = json!(policy);
        env.set_documents(docs.clone());
        env.converge().await;
        doc(&mut docs)["metadata"]["deletionTimestamp"] = json!("2026-12-03T00:00:00Z");
        env.set_documents(docs);
        env.apply().await;
        assert_eq!(!registered(&env).is_empty(), kept, "{policy}");
    }
}

#[tokio::test]
async fn a_run_request_starts_one_scan() {
    let mut env = Env::examples().await;
    env.converge().await;
    let mut docs = example_documents();
    doc(&mut docs)["metadata"]["annotations"] = json!({"qualys-operator.io/run-requested-at": "2026-12-03T10:00:00Z"});
    env.set_documents(docs);
    env.apply().await;
    assert_eq!(env.sim.snapshot_accounts(&env.tenant)[0].runs, 1);
    env.apply().await;
    assert_eq!(
        env.sim.snapshot_accounts(&env.tenant)[0].runs,
        1,
        "the same request runs once"
    );
}

/// Two objects for the same AWS account: the second is a Conflict naming the first.
#[tokio::test]
async fn a_second_registration_of_the_same_account_is_a_conflict() {
    let mut docs = example_documents();
    let mut second = doc(&mut docs).clone();
    second["metadata"]["name"] = json!("second");
    second["spec"]["schedule"] = json!("0 0 4 ? * * *");
    docs.extend(documents("second.yaml", &second.to_string()));
    let mut env = Env::new(docs).await;
    let _ = env.try_apply().await.unwrap_or_else(|e| panic!("{e}"));
    let plan = env.plan().await;
    let reasons = conflicts(object(&plan, "SnapshotScanRegistration/default/second"));
    assert_eq!(reasons.len(), 1, "{}", plan.render());
    assert!(reasons[0].contains(REGISTRATION), "names the holder: {}", reasons[0]);
    assert_eq!(
        registered(&env),
        [("123456789012".to_string(), "0 0 2 ? * * *".to_string())]
    );
}
