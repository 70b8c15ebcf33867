//! Issue 5: applying the examples converges (no perpetual diff) for all seven
//! kinds, with QPS in XML and in JSON; observation is batched (ceil(N/100)
//! searches, no GET per object).

#[path = "reconcile_support.rs"]
mod support;

use serde_json::{Value, json};
use support::*;

use qualys_operator::qualys::QpsFormat;
use qualys_operator::reconcile::plan::Action;

fn with_format(format: &str) -> Vec<qualys_operator::manifest::Document> {
    let mut docs = example_documents();
    doc_mut(&mut docs, "QualysAccount", "default")["spec"]["qpsFormat"] = Value::String(format.into());
    docs
}

async fn converges(format: &str, expected: QpsFormat) {
    let mut env = Env::new(with_format(format)).await;
    assert_eq!(env.client.qps_format(), expected, "qpsFormat {format} not honoured");
    let first = env.plan().await;
    for reference in ALL {
        let p = object(&first, reference);
        assert!(
            matches!(p.actions.first(), Some(Action::Create { .. })),
            "{format}: {reference} should be created first:\n{}",
            first.render()
        );
    }
    let results = env.apply().await;
    for reference in ALL {
        let applied = applied(&results, reference);
        assert!(applied.created, "{format}: {reference} not created: {:?}", applied.log);
        assert!(applied.external_id.is_some(), "{format}: {reference} has no id");
    }
    // What Qualys holds now: one of each, plus the legacy AWS connector.
    assert_eq!(env.connectors_of("AWS").len(), 2, "{format}");
    for cloud in ["AZURE", "GCP", "OCI"] {
        assert_eq!(env.connectors_of(cloud).len(), 1, "{format}: {cloud}");
    }
    let world = env.world();
    assert_eq!(world["orgConnectors"].as_object().map(|m| m.len()), Some(1), "{format}");
    assert_eq!(world["groups"].as_array().map(Vec::len), Some(1), "{format}");
    assert!(world["globalScan"].is_object(), "{format}: {}", world["globalScan"]);

    let again = env.plan().await;
    assert!(again.is_empty(), "{format}: perpetual diff:\n{}", again.render());
    for reference in ALL {
        let p = object(&again, reference);
        assert!(p.actions.is_empty(), "{format}: {reference}: {:?}", p.actions);
        assert!(p.external_id.is_some(), "{format}: {reference} not mapped");
    }
    // Still empty once the simulator's connectors have finished their first runs,
    // and after an apply that has nothing to do.
    env.sim.advance_clock(std::time::Duration::from_secs(60));
    let results = env.apply().await;
    for (p, a) in &results {
        assert!(
            a.log.is_empty(),
            "{format}: {}: an idle apply wrote: {:?}",
            p.object,
            a.log
        );
    }
    let again = env.plan().await;
    assert!(again.is_empty(), "{format}: diff after idle apply:\n{}", again.render());
}

#[tokio::test]
async fn examples_converge_with_qps_xml() {
    converges("Xml", QpsFormat::Xml).await;
}

#[tokio::test]
async fn examples_converge_with_qps_json() {
    converges("Json", QpsFormat::Json).await;
}

/// The group, org members and the global scan configuration read back the same
/// in both formats: an object written in JSON plans empty when read in XML.
#[tokio::test]
async fn written_in_json_read_in_xml_is_still_converged() {
    let mut env = Env::new(with_format("Json")).await;
    env.converge().await;
    let xml = Env {
        client: env.client.with_qps_format(QpsFormat::Xml),
        ..env
    };
    let plan = xml.plan().await;
    assert!(plan.is_empty(), "{}", plan.render());
}

/// Each kind alone converges too (no hidden dependency on the others, except the
/// group's members and the org's member connector, which come with it).
#[tokio::test]
async fn each_kind_alone_converges() {
    let wanted: [(&str, &[&str]); 7] = [
        ("AwsConnector", &["AwsConnector"]),
        ("AzureConnector", &["AzureConnector"]),
        ("GcpConnector", &["GcpConnector"]),
        ("OciConnector", &["OciConnector"]),
        ("AzureOrgConnector", &["AzureOrgConnector", "AzureConnector"]),
        ("ConnectorGroup", &["ConnectorGroup", "GcpConnector", "AwsConnector"]),
        ("GlobalScanConfiguration", &["GlobalScanConfiguration"]),
    ];
    for (label, kinds) in wanted {
        let docs: Vec<_> = example_documents()
            .into_iter()
            .filter(|d| matches!(d.kind(), "Secret" | "QualysAccount") || kinds.contains(&d.kind()))
            .collect();
        let mut env = Env::new(docs).await;
        let first = env.plan().await;
        assert!(!first.is_empty(), "{label}: nothing to create");
        env.apply().await;
        let plan = env.plan().await;
        assert!(plan.is_empty(), "{label}: perpetual diff:\n{}", plan.render());
    }
}

/// `n` AWS connectors in Qualys, each with its own account.
fn seed_aws(env: &Env, n: u64) {
    for i in 0..n {
        let account = format!("{:012}", 300_000_000_000u64 + i);
        env.sim
            .create_connector(
                &env.tenant,
                SimCloud::Aws,
                json!({"name": format!("bulk-{i}"), "arn": format!("arn:aws:iam::{account}:role/R"), "externalId": "x"}),
            )
            .unwrap_or_else(|e| panic!("seed: {e}"));
    }
}

/// Plans of N connectors in Qualys make ceil(N/100) searches and no GET.
#[tokio::test]
async fn plan_searches_once_per_hundred_connectors() {
    let aws_only: Vec<_> = example_documents()
        .into_iter()
        .filter(|d| matches!(d.kind(), "Secret" | "QualysAccount" | "AwsConnector"))
        .collect();
    for n in [1u64, 99, 100, 101, 250] {
        let sim = start_sim().await;
        let env = Env::on(sim, workspace(aws_only.clone()));
        seed_aws(&env, n);
        env.sim.reset_counters();
        let plan = env.plan().await;
        assert!(
            matches!(object(&plan, AWS).actions.first(), Some(Action::Create { .. })),
            "N={n}: {}",
            plan.render()
        );
        let searches = env.sim.count("*", "/qps/rest/3.0/search/am/awsassetdataconnector");
        assert_eq!(searches, n.div_ceil(100), "N={n}: {:?}", env.sim.counters());
        assert_eq!(
            env.sim.count("*", "/qps/rest/3.0/get/*"),
            0,
            "N={n}: {:?}",
            env.sim.counters()
        );
        let all: u64 = env.sim.counters().iter().map(|c| c.count).sum();
        assert_eq!(
            all,
            searches,
            "N={n}: only the AWS search is needed: {:?}",
            env.sim.counters()
        );
    }
}

/// The same for the four cloud kinds at once, with the managed connectors among
/// the N: every object is matched from the batched snapshot.
#[tokio::test]
async fn plan_of_applied_examples_makes_one_search_per_kind_and_no_gets() {
    let mut env = Env::examples().await;
    env.converge().await;
    for cloud in [SimCloud::Azure, SimCloud::Gcp, SimCloud::Oci] {
        for i in 0..120 {
            let fields = match cloud {
                SimCloud::Azure => json!({"name": format!("z{i}"), "authRecord": {
                    "applicationId": "a", "directoryId": "d", "subscriptionId": format!("sub-{i}"), "authenticationKey": "k"}}),
                SimCloud::Gcp => json!({"name": format!("g{i}"), "authRecord": {
                    "projectId": format!("proj-{i}"), "client_email": "e@x", "private_key": "k"}}),
                _ => json!({"name": format!("o{i}"), "homeRegion": "us-ashburn-1", "authRecord": {
                    "tenantId": format!("ocid1.tenancy.oc1..t{i}"), "userId": "u", "fingerprint": "f", "privateKey": "k"}}),
            };
            env.sim
                .create_connector(&env.tenant, cloud, fields)
                .unwrap_or_else(|e| panic!("seed: {e}"));
        }
    }
    env.sim.reset_counters();
    let plan = env.plan().await;
    assert!(plan.is_empty(), "{}", plan.render());
    for object in ["aws", "azure", "gcp", "oci"] {
        let route = format!("/qps/rest/3.0/search/am/{object}assetdataconnector");
        let expected = if object == "aws" { 1 } else { 2 };
        assert_eq!(
            env.sim.count("*", &route),
            expected,
            "{object}: {:?}",
            env.sim.counters()
        );
    }
    assert_eq!(env.sim.count("*", "/qps/rest/3.0/get/*"), 0, "{:?}", env.sim.counters());
    assert_eq!(
        env.sim.count("*", "/cloudview-api/rest/v1/groups"),
        1,
        "{:?}",
        env.sim.counters()
    );
    assert_eq!(
        env.sim.count("*", "/cloudview-api/rest/v1/reports"),
        1,
        "{:?}",
        env.sim.counters()
    );
    // A plan of nine objects stays far from one call per object per kind.
    let all: u64 = env.sim.counters().iter().map(|c| c.count).sum();
    assert!(all <= 15, "{all} calls: {:?}", env.sim.counters());
}

/// The simulator's fidelity variants (secrets echoed masked or verbatim, the
/// `ConnectorAppInfoQLList` spelling, slow state transitions) do not make a diff.
#[tokio::test]
async fn converges_against_the_simulators_fidelity_variants() {
    use qualys_operator::simulator::SecretEcho;
    for (label, config) in [
        (
            "secrets masked, QLList",
            SimConfig {
                secret_echo: SecretEcho::Masked,
                app_info_list_name: "ConnectorAppInfoQLList".into(),
                ..SimConfig::default()
            },
        ),
        (
            "secrets verbatim, slow states",
            SimConfig {
                secret_echo: SecretEcho::Verbatim,
                state_step: std::time::Duration::from_secs(3600),
                ..SimConfig::default()
            },
        ),
    ] {
        for format in ["Xml", "Json"] {
            let sim = Simulator::start(config.clone()).await.unwrap_or_else(|e| panic!("{e}"));
            seed_legacy(&sim);
            let mut env = Env::on(sim, workspace(with_format(format)));
            env.apply().await;
            let plan = env.plan().await;
            assert!(plan.is_empty(), "{label}, {format}:\n{}", plan.render());
        }
    }
}
