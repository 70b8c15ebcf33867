//! Issue 18: `UserScope` through the core and the CLI against the simulator.
//! The object owns only what it added (ownership Listed): access granted by
//! hand survives every change of the spec and its deletion; `ownership: All`
//! makes the scope exactly the spec.

#[path = "reconcile_support.rs"]
mod support;

use serde_json::{Value, json};
use support::*;

use qualys_operator::reconcile::plan::Action;
use qualys_operator::simulator::UserScopeGrants;

const USER: &str = "demo_analyst";

fn grants(env: &Env) -> UserScopeGrants {
    env.sim.user_scope(USER).unwrap_or_else(|e| panic!("{e}"))
}

fn aws_accounts(g: &UserScopeGrants) -> Vec<String> {
    let mut accounts = g.accounts.get("AWS").cloned().unwrap_or_default();
    accounts.sort();
    accounts
}

fn granted(env: &Env) -> Vec<String> {
    env.state
        .entry(&env.account, USER_SCOPE)
        .map(|e| e.granted.clone())
        .unwrap_or_default()
}

fn scope_doc(docs: &mut [qualys_operator::manifest::Document]) -> &mut Value {
    doc_mut(docs, "UserScope", "demo-analyst")
}

/// The user had the legacy account and the platform group's uuid was unknown
/// to them; the example adds the group, the production account and two
/// regions, and owns exactly those.
#[tokio::test]
async fn the_example_grants_what_it_lists_and_owns_only_that() {
    let mut env = Env::examples().await;
    // Granted by hand before the operator ever ran.
    env.sim
        .set_user_scope(
            USER,
            UserScopeGrants {
                accounts: [("AWS".to_string(), vec![LEGACY_AWS_ACCOUNT.to_string()])].into(),
                ..UserScopeGrants::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let mut docs = example_documents();
    scope_doc(&mut docs)["spec"]["accounts"]["aws"]["accountIdentifiers"] = json!(["123456789012"]);
    env.set_documents(docs.clone());
    env.converge().await;
    let group = env.id("ConnectorGroup/default/platform-team");
    let g = grants(&env);
    assert_eq!(g.groups, vec![group.clone()]);
    assert_eq!(
        aws_accounts(&g),
        vec!["123456789012".to_string(), LEGACY_AWS_ACCOUNT.to_string()]
    );
    let mut regions = g.regions.clone();
    regions.sort();
    assert_eq!(regions, ["eu-west-1", "us-east-1"]);
    let mut owned = granted(&env);
    owned.sort();
    assert_eq!(
        owned,
        [
            "AWS:123456789012".to_string(),
            format!("group:{group}"),
            "region:eu-west-1".into(),
            "region:us-east-1".into()
        ],
        "the hand-granted legacy account is not owned"
    );
    // A no-change run reads the scope and writes nothing.
    env.sim.reset_counters();
    env.apply().await;
    assert_eq!(env.sim.count("POST", "*/users/*"), 0, "{:?}", env.sim.counters());
    assert_eq!(env.sim.count("GET", "*/users/*/scope"), 1, "{:?}", env.sim.counters());

    // Out-of-band: somebody removes a granted region and adds a GCP project.
    let mut drifted = grants(&env);
    drifted.regions.retain(|r| r != "eu-west-1");
    env.sim.set_user_scope(USER, drifted).unwrap_or_else(|e| panic!("{e}"));
    let plan = env.plan().await;
    let [Action::Update { changes, .. }] = object(&plan, USER_SCOPE).actions.as_slice() else {
        panic!("one update:\n{}", plan.render())
    };
    assert_eq!(paths(changes), ["spec.scope"]);
    env.converge().await;
    assert!(grants(&env).regions.contains(&"eu-west-1".to_string()), "corrected");

    // The spec drops the production account and the hand-granted legacy one
    // it never owned: only the owned one goes.
    scope_doc(&mut docs)["spec"]["accounts"]["aws"]["accountIdentifiers"] = json!([]);
    env.set_documents(docs.clone());
    env.converge().await;
    assert_eq!(aws_accounts(&grants(&env)), vec![LEGACY_AWS_ACCOUNT.to_string()]);
    assert!(!granted(&env).contains(&"AWS:123456789012".to_string()));

    // Deleting the object removes exactly what it granted.
    scope_doc(&mut docs)["metadata"]["deletionTimestamp"] = json!("2026-12-03T00:00:00Z");
    env.set_documents(docs);
    env.apply().await;
    let g = grants(&env);
    assert!(g.groups.is_empty(), "{g:?}");
    assert!(g.regions.is_empty(), "{g:?}");
    assert_eq!(
        aws_accounts(&g),
        vec![LEGACY_AWS_ACCOUNT.to_string()],
        "the hand grant survives"
    );
}

/// `ownership: All` removes what the spec does not list, whoever granted it.
#[tokio::test]
async fn ownership_all_makes_the_scope_exactly_the_spec() {
    let mut env = Env::examples().await;
    env.sim
        .set_user_scope(
            USER,
            UserScopeGrants {
                accounts: [("AWS".to_string(), vec![LEGACY_AWS_ACCOUNT.to_string()])].into(),
                regions: vec!["ap-south-1".into()],
                ..UserScopeGrants::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let mut docs = example_documents();
    scope_doc(&mut docs)["spec"]["ownership"] = json!("All");
    scope_doc(&mut docs)["spec"]["accounts"]["aws"]["accountIdentifiers"] = json!(["123456789012"]);
    env.set_documents(docs);
    env.converge().await;
    let g = grants(&env);
    assert_eq!(aws_accounts(&g), vec!["123456789012".to_string()]);
    let mut regions = g.regions.clone();
    regions.sort();
    assert_eq!(regions, ["eu-west-1", "us-east-1"]);
}

/// A user Qualys does not know is a conflict naming the field, and nothing is written.
#[tokio::test]
async fn an_unknown_user_is_a_conflict_naming_the_field() {
    let mut docs = example_documents();
    scope_doc(&mut docs)["spec"]["userName"] = json!("nobody_here");
    let mut env = Env::new(docs).await;
    let plan = env.plan().await;
    let reasons = conflicts(object(&plan, USER_SCOPE));
    assert_eq!(reasons.len(), 1, "{}", plan.render());
    assert!(
        reasons[0].contains("nobody_here") && reasons[0].contains("spec.userName"),
        "{}",
        reasons[0]
    );
    env.sim.reset_counters();
    let _ = env.try_apply().await;
    assert_eq!(env.sim.count("POST", "*/users/*"), 0, "{:?}", env.sim.counters());
}

/// Groups named by their Qualys name resolve through the group list, and
/// an upper-case uuid is the same group (no perpetual diff).
#[tokio::test]
async fn groups_by_name_and_by_upper_case_uuid_converge() {
    let mut env = Env::examples().await;
    env.converge().await;
    let group = env.id("ConnectorGroup/default/platform-team");
    for entry in [json!({"name": "Platform team"}), json!({"uuid": group.to_uppercase()})] {
        let mut docs = example_documents();
        scope_doc(&mut docs)["spec"]["groups"] = json!([entry]);
        env.set_documents(docs);
        env.converge().await;
        assert_eq!(grants(&env).groups, vec![group.clone()], "{entry}");
    }
}

/// An account without a CloudView connector: Qualys refuses the batch, the
/// error names the account, and the rest of the scope (groups) still goes.
#[tokio::test]
async fn an_account_without_a_cloudview_connector_is_an_error_naming_it() {
    let mut docs = example_documents();
    scope_doc(&mut docs)["spec"]["accounts"]["gcp"] = json!({"accountIdentifiers": ["no-such-project"]});
    let mut env = Env::new(docs).await;
    let results = env.try_apply().await.unwrap_or_else(|e| panic!("{e}"));
    let done = applied(&results, USER_SCOPE);
    let failure = done.failure.as_ref().map(ToString::to_string).unwrap_or_default();
    assert!(failure.contains("no-such-project"), "{failure}");
    let group = env.id("ConnectorGroup/default/platform-team");
    assert_eq!(grants(&env).groups, vec![group.clone()], "the group call went through");
    // Owned although the run failed: deleting the object must revoke it.
    assert!(granted(&env).contains(&format!("group:{group}")), "{:?}", granted(&env));
}

/// Two objects for the same user: the second is a Conflict naming the first,
/// and only the first writes.
#[tokio::test]
async fn a_second_user_scope_for_the_same_user_is_a_conflict() {
    let mut docs = example_documents();
    let mut second = scope_doc(&mut docs).clone();
    second["metadata"]["name"] = json!("second");
    second["spec"]["accounts"] = json!({"aws": {"regions": ["ap-south-1"]}});
    docs.extend(documents("second.yaml", &second.to_string()));
    let mut env = Env::new(docs).await;
    let _ = env.try_apply().await.unwrap_or_else(|e| panic!("{e}"));
    let plan = env.plan().await;
    let reasons = conflicts(object(&plan, "UserScope/default/second"));
    assert_eq!(reasons.len(), 1, "{}", plan.render());
    assert!(reasons[0].contains(USER_SCOPE), "names the holder: {}", reasons[0]);
    assert!(
        !grants(&env).regions.contains(&"ap-south-1".to_string()),
        "the second never wrote"
    );
}
