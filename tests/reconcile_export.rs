//! Issue 20: `export` writes manifests for what Qualys holds; planning them
//! against the same Qualys shows nothing but secret notes, and applying them
//! makes zero writes. Real binary, real HTTP to the simulator.

#[path = "reconcile_support.rs"]
mod support;

mod export_shapes;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::*;

use qualys_operator::reconcile::plan::Action;

const BIN: &str = env!("CARGO_BIN_EXE_qualys-operator");

/// Runs the binary off the runtime thread: the simulator answers on it.
async fn export(sim: &SimHandle, dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("export")
        .args(["--qualys-url", &sim.base_url(), "--output-dir"])
        .arg(dir)
        .args(extra)
        .env("QUALYS_USERNAME", "demo")
        .env("QUALYS_PASSWORD", "demo")
        .env_remove("QUALYS_URL");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{BIN}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Exports everything into a fresh directory and returns it (kept alive by
/// the `TempDir`) with the Qualys calls the export made and its output.
async fn export_counted(sim: &SimHandle) -> (tempfile::TempDir, std::path::PathBuf, u64, String) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("exported");
    sim.reset_counters();
    let (code, stdout, stderr) = export(sim, &out, &[]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let calls = sim.counters().iter().map(|c| c.count).sum();
    (dir, out, calls, stdout)
}

/// Connectors made by hand in every shape the plan must take back unchanged.
fn populate(sim: &SimHandle, n: usize) {
    let tenant = tenant(sim);
    let create = |cloud, fields: Value| {
        sim.create_connector(&tenant, cloud, fields)
            .unwrap_or_else(|e| panic!("{e}"));
    };
    for i in 0..n {
        let gov = i % 11 == 0;
        let arn = format!(
            "arn:{}:iam::{:012}:role/Qualys",
            if gov { "aws-us-gov" } else { "aws" },
            500_000_000_000u64 + i as u64
        );
        create(
            SimCloud::Aws,
            json!({"name": format!("Prod AWS #{i}"), "description": "made in the UI",
                "arn": arn, "externalId": format!("ext-{i}"), "disabled": i % 7 == 0, "isGovCloudConfigured": gov,
                "runFrequency": 60 + (i % 5) * 60,
                "activation": {"set": {"ActivationModule": ["VM", "PC"]}},
                "defaultTags": {"set": {"TagSimple": [{"id": 100 + i}]}},
                "connectorAppInfos": {"set": {"ConnectorAppInfoQList": [
                    {"set": {"ConnectorAppInfo": {"name": "AI", "identifier": arn}}},
                    {"set": {"ConnectorAppInfo": {"name": "CI", "identifier": "custom-id", "tagId": 77}}}]}}}),
        );
        create(
            SimCloud::Gcp,
            json!({"name": format!("analytics {i}"), "authRecord": {"projectId": format!("proj-{i:04}-x"),
                "client_email": "x@y", "private_key": "k"}}),
        );
        create(
            SimCloud::Azure,
            json!({"name": "same name", "authRecord": {
                "applicationId": format!("5e7f9a1b-3c5d-4e7f-9a1b-{i:012}"),
                "directoryId": "0c6d8e2a-4b1f-4a3c-9d5e-7f8a9b0c1d2e",
                "subscriptionId": format!("7A9C2E4F-1B3D-4F6A-8C0E-{i:012}"), "authenticationKey": "k"},
                "connectorAppInfos": {"set": {"ConnectorAppInfoQList": [
                    {"set": {"ConnectorAppInfo": {"name": "CSA", "identifier": format!("7a9c2e4f-1b3d-4f6a-8c0e-{i:012}")}}}]}}}),
        );
    }
}

#[tokio::test]
async fn export_then_plan_is_empty_but_for_secret_notes_and_apply_writes_nothing() {
    // Every kind, created by the examples (an org with a member it created
    // itself, a group with members, the global scan), plus hand-made shapes.
    let mut env = Env::examples().await;
    env.converge().await;
    let org = env.id(ORG);
    env.sim
        .discover_subscription(
            &env.tenant,
            org.parse().unwrap_or_default(),
            "1204278a-0000-4000-8000-00000000000a",
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    populate(&env.sim, 40);

    let (_dir, out, calls, _) = export_counted(&env.sim).await;
    // ceil(N/100) per connector kind + org list, get and members + groups + global scan.
    assert!(
        calls <= 4 + 3 + 1 + 1 + 2,
        "export used {calls} calls: {:?}",
        env.sim.counters()
    );
    assert!(out.join("kustomization.yaml").exists());

    let docs = qualys_operator::manifest::read_paths(std::slice::from_ref(&out)).unwrap_or_else(|e| panic!("{e}"));
    let kinds = |k: &str| docs.iter().filter(|d| d.kind() == k).count();
    assert_eq!(kinds("AwsConnector"), 1 + 40 + 1, "example + hand-made + legacy");
    // azure-prod and the member Qualys created are the org's: left to it.
    assert_eq!(
        kinds("AzureConnector"),
        40,
        "an org's members are not exported on their own"
    );
    assert_eq!(kinds("AzureOrgConnector"), 1);
    assert_eq!(kinds("ConnectorGroup"), 1);
    assert_eq!(kinds("GlobalScanConfiguration"), 1);
    let names: std::collections::BTreeSet<&str> = docs
        .iter()
        .filter(|d| d.kind() == "AzureConnector")
        .map(|d| d.name())
        .collect();
    assert_eq!(
        names.len(),
        40,
        "unique DNS-1123 names for 40 connectors all called 'same name'"
    );
    let text = std::fs::read_to_string(out.join("azureconnector-same-name-2.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains("qualys-operator.io/external-id"), "{text}");
    assert!(!text.contains("CLOUDVIEW"), "server-added values are left out");

    // Plan the export against the same Qualys, with a fresh state: adoption by
    // id, no change but the secrets nobody has filled in yet.
    env.set_documents(docs);
    env.state = Default::default();
    let plan = env.plan().await;
    for p in &plan.objects {
        let unexpected: Vec<&Action> = p
            .actions
            .iter()
            .filter(|a| !matches!(a, Action::Adopt { .. }))
            .collect();
        assert!(unexpected.is_empty(), "{}: {unexpected:?}\n{}", p.object, plan.render());
    }
    let secret_notes = plan
        .objects
        .iter()
        .filter(|p| p.notes.iter().any(|n| n.starts_with("secret unknown")))
        .count();
    assert_eq!(
        secret_notes,
        40 + 41 + 1 + 1,
        "Azure, GCP, OCI and org secrets are unknown"
    );
    env.sim.reset_counters();
    env.apply().await;
    let writes: Vec<String> = env
        .sim
        .counters()
        .iter()
        .filter(|c| !c.route.contains("/search/") && c.method != "GET" && !c.route.ends_with("/auth"))
        .map(|c| format!("{} {} x{}", c.method, c.route, c.count))
        .collect();
    assert!(writes.is_empty(), "apply of the export wrote: {writes:?}");
}

/// Actions other than Adopt, per object, and how many objects carry a secret note.
fn not_adopt(plan: &qualys_operator::reconcile::plan::Plan) -> (Vec<String>, usize) {
    let unexpected = plan
        .objects
        .iter()
        .filter_map(|p| {
            let other: Vec<&Action> = p
                .actions
                .iter()
                .filter(|a| !matches!(a, Action::Adopt { .. }))
                .collect();
            (!other.is_empty()).then(|| format!("{}: {other:?}", p.object))
        })
        .collect();
    let notes = plan
        .objects
        .iter()
        .filter(|p| p.notes.iter().any(|n| n.starts_with("secret unknown")))
        .count();
    (unexpected, notes)
}

/// Calls other than reads (searches, GETs, the token).
fn writes(sim: &SimHandle) -> Vec<String> {
    sim.counters()
        .iter()
        .filter(|c| !c.route.contains("/search/") && c.method != "GET" && !c.route.ends_with("/auth"))
        .map(|c| format!("{} {} x{}", c.method, c.route, c.count))
        .collect()
}

#[tokio::test]
async fn a_large_subscription_in_every_shape_exports_to_manifests_that_adopt_without_a_write() {
    use export_shapes::{LARGE, pages, seed_every_shape};
    let sim = start_sim().await;
    // The examples only give the client its account: nothing is applied.
    let mut env = Env::on(sim, workspace(example_documents()));
    let seeded = seed_every_shape(&env.sim, &env.tenant, LARGE).await;

    let (_dir, out, calls, stdout) = export_counted(&env.sim).await;

    // The bound: ceil(N/100) per kind, plus one per org connector and
    // per group detail (and the one token the gateway needs).
    let listed: u64 = seeded.listed.values().map(|n| pages(*n)).sum();
    let bound = listed + pages(seeded.orgs) + pages(seeded.groups) + 1 + seeded.orgs as u64 + seeded.groups as u64 + 1;
    let mut counters = env.sim.counters();
    counters.sort_by(|a, b| a.route.cmp(&b.route));
    let table: Vec<String> = counters
        .iter()
        .map(|c| format!("{} {} {} x{}", c.method, c.route, c.status, c.count))
        .collect();
    assert!(
        calls <= bound,
        "export used {calls} calls, bound {bound}:\n{}",
        table.join("\n")
    );
    assert!(
        counters.iter().all(|c| c.status < 300),
        "export's calls all succeed:\n{}",
        table.join("\n")
    );
    assert!(
        stdout.contains(&format!("with {calls} Qualys API calls")),
        "export reports the calls it made ({calls}): {stdout}"
    );
    println!("export: {calls} calls (bound {bound})\n{}", table.join("\n"));

    let docs = qualys_operator::manifest::read_paths(std::slice::from_ref(&out)).unwrap_or_else(|e| panic!("{e}"));
    let count = |k: &str| docs.iter().filter(|d| d.kind() == k).count();
    for (kind, cloud) in [
        ("AwsConnector", SimCloud::Aws),
        ("AzureConnector", SimCloud::Azure),
        ("GcpConnector", SimCloud::Gcp),
        ("OciConnector", SimCloud::Oci),
    ] {
        assert_eq!(
            count(kind),
            seeded.standalone[&cloud],
            "{kind}: members are left to their org"
        );
    }
    assert_eq!(count("AzureOrgConnector"), seeded.orgs);
    assert_eq!(count("ConnectorGroup"), seeded.groups);
    assert_eq!(count("GlobalScanConfiguration"), 1);
    for kind in [
        "AwsConnector",
        "AzureConnector",
        "GcpConnector",
        "OciConnector",
        "AzureOrgConnector",
    ] {
        let names: std::collections::BTreeSet<&str> =
            docs.iter().filter(|d| d.kind() == kind).map(|d| d.name()).collect();
        assert_eq!(names.len(), count(kind), "{kind}: names are unique");
        assert!(
            names.iter().all(|n| n.len() <= 63
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')),
            "{kind}: DNS-1123 names: {names:?}"
        );
    }

    // Qualys never lists the regions of an `allRegions: false` connector
    // (Q-COL-8): export says so on exactly those files and leaves
    // `spec.regions` out, which leaves the regions as Qualys has them.
    let mut noted_files = 0;
    for doc in docs.iter().filter(|d| d.kind() == "AwsConnector") {
        let id = doc.value["metadata"]["annotations"]["qualys-operator.io/external-id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let file = out.join(format!("awsconnector-{}.yaml", doc.name()));
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let noted = text.contains("Qualys does not list this connector's regions");
        assert_eq!(
            noted,
            seeded.aws_regions.contains_key(&id),
            "{}:\n{text}",
            file.display()
        );
        if noted {
            assert!(doc.value["spec"].get("regions").is_none(), "{text}");
            noted_files += 1;
        }
    }
    assert_eq!(noted_files, seeded.aws_regions.len());

    // Plan the export against the same Qualys with a fresh state: adoption by
    // id, nothing else but the secrets nobody has filled in yet.
    env.set_documents(docs);
    env.state = Default::default();
    let plan = env.plan().await;
    let (unexpected, notes) = not_adopt(&plan);
    assert!(
        unexpected.is_empty(),
        "{} object(s) would change:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    let secrets = seeded.standalone[&SimCloud::Azure]
        + seeded.standalone[&SimCloud::Gcp]
        + seeded.standalone[&SimCloud::Oci]
        + seeded.orgs;
    assert_eq!(notes, secrets, "Azure, GCP, OCI and org secrets are unknown");

    env.sim.reset_counters();
    env.apply().await;
    let wrote = writes(&env.sim);
    assert!(wrote.is_empty(), "apply of the export wrote: {wrote:?}");
    // Adopted: the next plan, with the state apply wrote, is empty but for the notes.
    let plan = env.plan().await;
    let still: Vec<String> = plan
        .objects
        .iter()
        .filter(|p| !p.actions.is_empty())
        .map(|p| format!("{}: {:?}", p.object, p.actions))
        .collect();
    assert!(still.is_empty(), "after adoption:\n{}", still.join("\n"));
}

#[tokio::test]
async fn export_filters_and_dry_run_write_nothing() {
    let mut env = Env::examples().await;
    env.converge().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("dry");
    let (code, stdout, stderr) = export(
        &env.sim,
        &out,
        &["--dry-run", "--kind", "AwsConnector", "--name-regex", "^aws-"],
    )
    .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(!out.exists(), "dry run writes nothing");
    assert!(stdout.contains("would write awsconnector-aws-prod.yaml"), "{stdout}");
    assert!(!stdout.contains("legacy"), "the name filter applies: {stdout}");
    assert!(!stdout.contains("gcpconnector"), "the kind filter applies: {stdout}");

    let (code, _, stderr) = export(&env.sim, &out, &["--kind", "AwsConector"]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("--kind AwsConector: not a kind"), "{stderr}");
}
