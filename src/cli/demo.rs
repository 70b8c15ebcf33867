//! `demo`: the main job on the embedded simulator. Starts a local Qualys,
//! plans and applies the bundled examples, shows the states, changes a
//! connector behind the operator's back, shows the drift and corrects it.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::manifests::{render_results, render_states};
use super::state::State;
use super::workspace::{AccountOptions, CliError, Workspace};
use crate::manifest;
use crate::metrics::Metrics;
use crate::reconcile::account::UrlOverrides;
use crate::simulator::{CloudKind as SimCloud, SimConfig, Simulator};

/// The examples, compiled in so the demo needs nothing but the binary.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/00-account.yaml",
        include_str!("../../examples/00-account.yaml"),
    ),
    (
        "examples/01-secrets.yaml",
        include_str!("../../examples/01-secrets.yaml"),
    ),
    (
        "examples/aws-connector.yaml",
        include_str!("../../examples/aws-connector.yaml"),
    ),
    (
        "examples/azure-connector.yaml",
        include_str!("../../examples/azure-connector.yaml"),
    ),
    (
        "examples/azure-org-connector.yaml",
        include_str!("../../examples/azure-org-connector.yaml"),
    ),
    (
        "examples/connector-group.yaml",
        include_str!("../../examples/connector-group.yaml"),
    ),
    (
        "examples/gcp-connector.yaml",
        include_str!("../../examples/gcp-connector.yaml"),
    ),
    (
        "examples/global-scan-configuration.yaml",
        include_str!("../../examples/global-scan-configuration.yaml"),
    ),
    (
        "examples/oci-connector.yaml",
        include_str!("../../examples/oci-connector.yaml"),
    ),
    (
        "examples/snapshot-scan-registration.yaml",
        include_str!("../../examples/snapshot-scan-registration.yaml"),
    ),
    (
        "examples/user-scope.yaml",
        include_str!("../../examples/user-scope.yaml"),
    ),
    (
        "examples/cloudview-report.yaml",
        include_str!("../../examples/cloudview-report.yaml"),
    ),
];

/// The examples as a workspace.
pub fn example_workspace() -> Result<Workspace, CliError> {
    let mut docs = Vec::new();
    for (name, text) in EXAMPLES {
        docs.extend(manifest::parse_documents(Path::new(name), text)?);
    }
    Workspace::from_documents(docs)
}

fn heading(text: &str) {
    println!("\n=== {text} ===");
}

pub async fn run() -> Result<ExitCode, CliError> {
    let sim = Simulator::start(SimConfig {
        state_step: Duration::from_millis(200),
        job_delay: Duration::from_millis(200),
        ..SimConfig::default()
    })
    .await
    .map_err(|e| CliError::Account(format!("starting the simulator: {e}")))?;
    let base = sim.base_url();
    println!("Qualys simulator listening on {base} (user demo, password demo)");
    let ws = example_workspace()?;
    let metrics = Metrics::new();
    // The one endpoint rule of every command: the simulator's URL stands for
    // all three API families, whatever the example account says.
    let options = AccountOptions {
        overrides: UrlOverrides {
            api_url: Some(base),
            ..UrlOverrides::default()
        },
        ..AccountOptions::default()
    };
    let conn = ws.connect(&options, metrics.clone())?;
    print!("{}", conn.endpoints.render());
    let (client, account) = (conn.client, conn.state_key);
    let mut state = State::default();
    let tenant = sim
        .users()
        .first()
        .map(|u| u.tenant().to_string())
        .unwrap_or_else(|| "demo".into());
    // The group example also lists an AWS account nobody manages here: someone
    // created its connector by hand in the Qualys UI.
    sim.create_connector(
        &tenant,
        SimCloud::Aws,
        serde_json::json!({
            "name": "legacy (created in the UI)",
            "arn": "arn:aws:iam::210987654321:role/Legacy",
            "externalId": "legacy",
            "connectorAppInfos": {"set": {"ConnectorAppInfoQList": [
                {"set": {"ConnectorAppInfo": {"name": "CSA", "identifier": "arn:aws:iam::210987654321:role/Legacy"}}}
            ]}}
        }),
    )
    .map_err(|e| CliError::Account(format!("seeding the simulator: {e}")))?;

    heading("plan: the examples against an empty Qualys");
    let snap = ws.observe(&client, &state, &account).await?;
    print!("{}", ws.plan(&snap, &state, &account).render());

    heading("apply");
    let results = ws.apply(&client, &snap, &mut state, &account, None).await?;
    print!("{}", render_results(&results));
    let failures = results
        .iter()
        .filter(|(p, a)| a.failure.is_some() || super::manifests::has_conflict(p))
        .count();

    // Let the simulator's connectors move through QUEUED → RUNNING → PROCESSING → FINISHED.
    tokio::time::sleep(Duration::from_millis(800)).await;
    heading("states in Qualys");
    let snap = ws.observe(&client, &state, &account).await?;
    print!("{}", render_states(&ws.states(&snap, &state, &account)));

    heading("plan again: nothing to do");
    print!("{}", ws.plan(&snap, &state, &account).render());

    heading("someone edits the AWS connector in the Qualys UI");
    let aws_id = state
        .entry(&account, "AwsConnector/default/aws-prod")
        .and_then(|e| e.external_id.clone())
        .and_then(|id| id.parse::<u64>().ok());
    if let Some(id) = aws_id {
        sim.edit_connector(
            &tenant,
            id,
            serde_json::json!({"runFrequency": 1440, "description": "changed by hand"}),
        )
        .map_err(|e| CliError::Account(format!("editing the simulator: {e}")))?;
        println!("runFrequency 240 -> 1440 and a new description on connector {id}");
    }
    let snap = ws.observe(&client, &state, &account).await?;
    let drift = ws.plan(&snap, &state, &account);
    print!("{}", drift.render());

    heading("apply corrects the drift");
    let results = ws.apply(&client, &snap, &mut state, &account, None).await?;
    print!("{}", render_results(&results));
    let snap = ws.observe(&client, &state, &account).await?;
    let after = ws.plan(&snap, &state, &account);
    print!("{}", after.render());

    heading("Qualys API calls");
    println!(
        "{} calls in total for {} objects, over two applies and five plans",
        metrics.total_qualys_calls(),
        ws.objects.len()
    );
    sim.shutdown().await;
    Ok(if failures == 0 && after.is_empty() && !drift.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
