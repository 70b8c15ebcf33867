//! Issue 20 on a real kube-apiserver: every file `export` writes for a large
//! subscription in every shape (the same seeding as tests/reconcile_export.rs)
//! is accepted by the API server (`kubectl apply --dry-run=server`), with the
//! CRDs' own schema and CEL rules, not only the offline validation.

mod e2e_support;
mod export_shapes;

use std::collections::BTreeSet;
use std::process::Command;

use e2e_support::*;
use export_shapes::{LARGE, seed_every_shape};

const BIN: &str = env!("CARGO_BIN_EXE_qualys-operator");

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_every_exported_file_is_accepted_by_the_api_server() {
    if !e2e() {
        return;
    }
    let env = Env::new("export");
    // The account already in the cluster: the exported one must apply over it.
    env.apply_account();
    let seeded = env.block_on(seed_every_shape(&env.sim, &env.tenant, LARGE));
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

    // Every file is in the kustomization, so applying it applies every file.
    let files: BTreeSet<String> = std::fs::read_dir(&out)
        .expect("exported")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "kustomization.yaml")
        .collect();
    let kustomization: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(out.join("kustomization.yaml")).expect("kustomization"))
            .expect("kustomization YAML");
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    assert_eq!(files, listed, "kustomization.yaml lists every exported file");
    let objects = seeded.standalone.values().sum::<usize>() + seeded.orgs + seeded.groups + 1;
    assert!(files.len() > objects, "{} files for {objects} objects", files.len());

    let result = output(env.kubectl().args(["apply", "--dry-run=server", "-k"]).arg(&out), None);
    assert!(
        result.status.success(),
        "the API server refused exported objects:\n{}",
        text(&result.stderr)
    );
    let accepted = text(&result.stdout)
        .lines()
        .filter(|l| l.contains("(server dry run)"))
        .count();
    // One object per file at least (each connector, org, group, scan, Secret, account).
    assert!(
        accepted >= files.len(),
        "{accepted} object(s) accepted for {} file(s):\n{}",
        files.len(),
        text(&result.stdout)
    );
}
