//! Issue 20 on a real kube-apiserver: every file `export` writes is accepted
//! by the API server (`kubectl apply --dry-run=server`), with the CRDs' own
//! schema and CEL rules, not only the offline validation.

mod e2e_support;

use std::process::Command;

use e2e_support::*;
use qualys_operator::simulator::CloudKind;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_qualys-operator");

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_every_exported_file_is_accepted_by_the_api_server() {
    if !e2e() {
        return;
    }
    let env = Env::new("export");
    env.apply_account();
    for file in [
        "01-secrets.yaml",
        "aws-connector.yaml",
        "azure-connector.yaml",
        "gcp-connector.yaml",
    ] {
        env.apply_example(file);
    }
    // Objects made in the Qualys UI, in shapes the examples do not have.
    let created = [
        (
            CloudKind::Aws,
            json!({"name": "Gov (UI)", "arn": "arn:aws-us-gov:iam::123456789012:role/Q", "externalId": "x",
                "isGovCloudConfigured": true, "disabled": true, "runFrequency": 60}),
        ),
        (
            CloudKind::Gcp,
            json!({"name": "gcp ui", "authRecord": {"projectId": "ui-project-1", "client_email": "a@b", "private_key": "k"}}),
        ),
        (
            CloudKind::Oci,
            json!({"name": "OCI UI", "homeRegion": "us-ashburn-1", "authRecord": {
                "tenantId": "ocid1.tenancy.oc1..aaaaaaaaui", "userId": "ocid1.user.oc1..aaaaaaaaui",
                "fingerprint": "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99", "privateKey": "k"}}),
        ),
    ];
    for (cloud, fields) in created {
        env.sim
            .create_connector(&env.tenant, cloud, fields)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("exported");
    let run = output(
        Command::new(BIN)
            .arg("export")
            .args([
                "--qualys-url",
                &env.sim.base_url(),
                "--namespace",
                &env.ns,
                "--output-dir",
            ])
            .arg(&out)
            .env("QUALYS_USERNAME", "demo")
            .env("QUALYS_PASSWORD", "demo"),
        None,
    );
    assert!(run.status.success(), "export: {}", text(&run.stderr));
    let files: Vec<_> = std::fs::read_dir(&out)
        .expect("exported")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .collect();
    assert!(files.len() >= 4, "{files:?}");
    let mut refused = Vec::new();
    for file in &files {
        let result = output(env.kubectl().args(["apply", "--dry-run=server", "-f"]).arg(file), None);
        if !result.status.success() {
            refused.push(format!("{}: {}", file.display(), text(&result.stderr)));
        }
    }
    assert!(
        refused.is_empty(),
        "the API server refused exported files:\n{}",
        refused.join("\n")
    );
}
