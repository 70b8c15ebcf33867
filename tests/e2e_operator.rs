//! The operator end to end: `qualys-operator run` (the real binary) against a
//! real kube-apiserver + etcd and the Qualys simulator, driven with kubectl as
//! a user would.
//!
//! `scripts/testenv.sh run -- env QUALYS_E2E=1 cargo test --test e2e_operator -- --test-threads=4`
//!
//! Without `QUALYS_E2E=1` every test prints why it skipped and passes; with
//! it, a missing KUBECONFIG or kubectl fails the test, it never skips. Each
//! test owns a namespace (random suffix), an in-process simulator and its own
//! operator process(es) watching only that namespace (see
//! `tests/e2e_support/mod.rs`); the CRDs are applied once per run. On failure
//! the operator logs, the namespace's objects and Events and the simulator's
//! state are printed.
//!
//! The operators run with `--resync-interval 5s --min-resync-interval 5s`, so
//! drift, pause and quiet-period checks take seconds, not minutes.

mod e2e_support;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use e2e_support::*;
use qualys_operator::simulator::{FaultAction, FaultRule, LossMode};
use serde_json::{Value, json};

/// Time for an object to become Ready (with 4 tests on 2 cores).
const READY: Duration = Duration::from_secs(90);
/// Drift must be corrected within the resync interval plus this much (jitter,
/// the shared snapshot's age, the API server and the simulator).
const SLACK: Duration = Duration::from_secs(12);

fn run_frequency(env: &Env, id: &str) -> Option<u64> {
    env.sim_connector(id).and_then(|c| c["runFrequency"].as_u64())
}

// ---------------------------------------------------------------------------
// 1. The examples

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_every_example_reaches_ready_and_qualys_holds_exactly_them() {
    if !e2e() {
        return;
    }
    let mut env = Env::new("examples");
    // The group example lists an AWS account nobody manages here: its
    // connector was created by hand in the Qualys UI.
    let legacy = seed_cloudview_aws(&env, "210987654321", "legacy (created in the UI)");
    env.start_operator(OperatorOptions::default());
    // The user path: the whole directory at once (examples/invalid is not recursed into).
    env.apply_path(&root().join("examples"));

    let objects = EXAMPLES;
    let mut ready = Vec::new();
    for (kind, name) in objects {
        ready.push((kind, name, env.wait_ready(kind, name, READY)));
    }
    let obj = |kind: &str| &ready.iter().find(|(k, _, _)| *k == kind).expect("kind").2;

    // Status: id, generation, Qualys state; finalizer; a Created Event.
    for (kind, name, o) in &ready[1..] {
        let id = external_id(o);
        assert_eq!(
            o["status"]["observedGeneration"], o["metadata"]["generation"],
            "{kind} {name}: observedGeneration"
        );
        if matches!(
            *kind,
            "AwsConnector" | "AzureConnector" | "GcpConnector" | "OciConnector" | "AzureOrgConnector"
        ) {
            assert!(
                !str_at(o, "/status/state").is_empty(),
                "{kind} {name}: no status.state in {}",
                o["status"]
            );
        }
        let finalizers: Vec<&str> = o["metadata"]["finalizers"]
            .as_array()
            .map(|f| f.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(finalizers, ["qualys-operator.io/cleanup"], "{kind} {name}: finalizers");
        let created = env.wait_event(kind, name, "Created", Duration::from_secs(20));
        assert!(
            str_at(&created, "/message").contains(&id),
            "{kind} {name}: the Created Event names the id {id}: {created}"
        );
    }
    let account = obj("QualysAccount");
    assert!(
        account["metadata"]["finalizers"].is_null(),
        "QualysAccount: no finalizer (nothing in Qualys to clean up)"
    );

    // Qualys holds exactly these connectors: one per connector example plus the seeded one.
    let connectors = env.sim_connectors();
    let by_kind = |k: &str| connectors.iter().filter(|c| c["kind"] == k).collect::<Vec<_>>();
    let aws_accounts: BTreeSet<&str> = by_kind("AWS")
        .iter()
        .filter_map(|c| str_at(c, "/arn").split(':').nth(4))
        .collect();
    assert_eq!(
        aws_accounts,
        BTreeSet::from(["123456789012", "210987654321"]),
        "AWS connectors in Qualys"
    );
    assert_eq!(by_kind("AWS").len(), 2, "AWS connectors: {connectors:?}");
    for k in ["AZURE", "GCP", "OCI"] {
        assert_eq!(by_kind(k).len(), 1, "{k} connectors: {connectors:?}");
    }
    assert_eq!(connectors.len(), 5, "no other connector");
    for (kind, name, freq) in [
        ("AwsConnector", "aws-prod", 240),
        ("AzureConnector", "azure-prod", 360),
        ("GcpConnector", "gcp-analytics", 720),
        ("OciConnector", "oci-finance", 1440),
    ] {
        let id = external_id(obj(kind));
        assert_ne!(id, legacy, "{kind} {name} must not take the seeded connector");
        let c = env
            .sim_connector(&id)
            .unwrap_or_else(|| panic!("{kind} {name}: status.externalId {id} is not in Qualys"));
        assert_eq!(c["name"], name, "{kind} {name}: Qualys name defaults to metadata.name");
        assert_eq!(c["runFrequency"], freq, "{kind} {name}: runFrequency");
    }
    let tenant = env.sim_tenant();

    // One org connector, with the Azure connector attached as its member.
    let orgs: Vec<&Value> = tenant["orgConnectors"]
        .as_object()
        .map(|m| m.values().collect())
        .unwrap_or_default();
    assert_eq!(orgs.len(), 1, "org connectors: {orgs:?}");
    let org = orgs[0];
    assert_eq!(org["id"].to_string(), external_id(obj("AzureOrgConnector")));
    assert_eq!(org["tenantId"], "0c6d8e2a-4b1f-4a3c-9d5e-7f8a9b0c1d2e");
    assert_eq!(org["connectorPrefixName"], "contoso");
    let azure = env
        .sim_connector(&external_id(obj("AzureConnector")))
        .expect("azure connector");
    assert_eq!(
        azure["orgConnectorId"], org["id"],
        "the Azure connector is attached to the org connector"
    );

    // One group with the selector's, the named and the listed members.
    let groups = tenant["groups"].as_array().cloned().unwrap_or_default();
    assert_eq!(groups.len(), 1, "groups: {groups:?}");
    let group = &groups[0];
    assert_eq!(group["name"], "Platform team");
    assert_eq!(
        group["uuid"].as_str(),
        Some(external_id(obj("ConnectorGroup")).as_str())
    );
    let members: BTreeSet<(String, String)> = group["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| (str_at(m, "/0").to_uppercase(), str_at(m, "/1").to_lowercase()))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("AWS", "123456789012"),
        ("AWS", "210987654321"),
        ("AZURE", "7a9c2e4f-1b3d-4f6a-8c0e-2d4f6a8b0c1e"),
        ("GCP", "analytics-prod-42"),
    ]
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .into();
    assert_eq!(members, expected, "group members");

    // The global scan configuration.
    let scan = &tenant["globalScan"];
    assert_eq!(scan["scanPrefix"], "cps", "global scan: {scan}");
    assert_eq!(scan["recurrence"], "DAILY");
    assert_eq!(scan["startDate"], "01/15/2027");
    assert_eq!(scan["startTime"], "01:00");
    assert_eq!(scan["timezone"], "UTC");
    assert_eq!(scan["optionProfileId"], 2);

    // Converged: no perpetual diff for any kind. In a quiet period Qualys is
    // only read (searches, gets, the account's login check) and no object's
    // status is rewritten, except the account's live budget figures
    // (`status.rateLimit.remaining`, `usedPerHour` and `budgetWaitSeconds`,
    // which the operator's own reads change).
    std::thread::sleep(Duration::from_secs(2));
    let versions = |env: &Env| -> Vec<(String, Value)> {
        objects
            .iter()
            .map(|(k, n)| {
                let mut o = env.must_get(k, n);
                let seen = if *k == "QualysAccount" {
                    if let Some(rate) = o.pointer_mut("/status/rateLimit").and_then(Value::as_object_mut) {
                        for live in ["remaining", "usedPerHour", "budgetWaitSeconds"] {
                            rate.remove(live);
                        }
                    }
                    o["status"].take()
                } else {
                    o["metadata"]["resourceVersion"].take()
                };
                (format!("{k} {n}"), seen)
            })
            .collect()
    };
    let before = versions(&env);
    env.sim.reset_counters();
    let quiet = RESYNC * 2 + Duration::from_secs(2);
    std::thread::sleep(quiet);
    let writes: Vec<String> = env
        .sim
        .counters()
        .iter()
        // A 304 changed nothing: the snapshot-scan registration is confirmed
        // by registering again (Qualys has no read for it).
        .filter(|c| is_write(&c.method, &c.route) && c.status != 304)
        .map(|c| format!("{} {} {} x{}", c.method, c.route, c.status, c.count))
        .collect();
    assert!(writes.is_empty(), "writes in a quiet {quiet:?}: {writes:?}");
    assert_eq!(versions(&env), before, "no object changed in a quiet {quiet:?}");
}

/// A call that changes Qualys: everything but GETs, searches and logins.
fn is_write(method: &str, route: &str) -> bool {
    !(method == "GET" || route.contains("/search/") || route == "/auth")
}

// ---------------------------------------------------------------------------
// 2. The API server refuses what it must

/// `kubectl apply --dry-run=server`: Err(stderr) when refused.
fn dry_run(env: &Env, args: &[&str], stdin: Option<&str>) -> Result<(), String> {
    let out = output(env.kubectl().args(["apply", "--dry-run=server"]).args(args), stdin);
    if out.status.success() {
        Ok(())
    } else {
        Err(text(&out.stderr))
    }
}

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_invalid_manifests_and_immutable_fields_are_refused_naming_the_field() {
    if !e2e() {
        return;
    }
    let env = Env::new("invalid");
    let mut files: Vec<_> = std::fs::read_dir(root().join("examples/invalid"))
        .expect("examples/invalid")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "examples/invalid has {} manifests", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let body = std::fs::read_to_string(file).expect("read");
        let first = body.lines().next().unwrap_or_default();
        let expect = first
            .strip_prefix("# expect: ")
            .unwrap_or_else(|| panic!("{}: first line is not `# expect: PATH: ...`", file.display()));
        let (path, _) = expect
            .split_once(": ")
            .unwrap_or_else(|| panic!("{}: no PATH in {first:?}", file.display()));
        let shown = file.strip_prefix(root()).unwrap_or(file).display().to_string();
        match dry_run(&env, &["-f", &file.to_string_lossy()], None) {
            Ok(()) => failures.push(format!("{shown}: accepted by the API server")),
            // Literally, not as a pattern: paths hold `[` and `.`.
            Err(stderr) if stderr.contains(path) => {}
            Err(stderr) => failures.push(format!(
                "{shown}: refused, but the message does not name {path}:\n{stderr}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Immutable fields: created for real (no operator watches this namespace), then changed.
    let secret_ref = "  authenticationKeySecretRef: {name: azure-prod-app, key: clientSecret}\n";
    let azure = |subscription: &str| {
        format!(
            "apiVersion: qualys-operator.io/v1alpha1\nkind: AzureConnector\nmetadata:\n  name: immutable\nspec:\n  \
             directoryId: 0c6d8e2a-4b1f-4a3c-9d5e-7f8a9b0c1d2e\n  subscriptionId: {subscription}\n  \
             applicationId: 5e7f9a1b-3c5d-4e7f-9a1b-3c5d7e9f1a2b\n{secret_ref}"
        )
    };
    env.apply(&azure("7a9c2e4f-1b3d-4f6a-8c0e-2d4f6a8b0c1e"));
    let aws_with = |partition: &str, arn: &str| {
        format!(
            "apiVersion: qualys-operator.io/v1alpha1\nkind: AwsConnector\nmetadata:\n  name: immutable\nspec:\n  \
             partition: {partition}\n  arn: {arn}\n  externalId: x\n"
        )
    };
    env.apply(&aws_with("Global", "arn:aws:iam::123456789012:role/R"));
    let group = |name: &str| {
        format!(
            "apiVersion: qualys-operator.io/v1alpha1\nkind: ConnectorGroup\nmetadata:\n  name: immutable\nspec:\n  \
             name: {name}\n"
        )
    };
    env.apply(&group("Before"));
    let cases = [
        (
            "AzureConnector spec.subscriptionId",
            azure("11111111-2222-4333-8444-555555555555"),
            "spec.subscriptionId",
        ),
        (
            "AwsConnector spec.partition",
            aws_with("China", "arn:aws-cn:iam::123456789012:role/R"),
            "spec.partition",
        ),
        ("ConnectorGroup spec.name", group("After"), "spec.name"),
    ];
    for (what, changed, path) in cases {
        match dry_run(&env, &["-f", "-"], Some(&changed)) {
            Ok(()) => failures.push(format!("{what}: a change was accepted")),
            Err(stderr) if stderr.contains(path) && stderr.contains("immutable") => {}
            Err(stderr) => failures.push(format!("{what}: refused without naming {path} as immutable:\n{stderr}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------
// 3. Drift

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_drift_is_corrected_within_the_resync_interval_and_a_quiet_state_only_searches() {
    if !e2e() {
        return;
    }
    let env = Env::with_operator("drift");
    env.apply_account();
    env.apply(&aws("drift", "111111111111", ""));
    let id = external_id(&env.wait_ready("awsconnector", "drift", READY));
    assert_eq!(run_frequency(&env, &id), Some(240));

    env.edit_connector(&id, json!({"runFrequency": 1440, "description": "changed in the UI"}));
    assert_eq!(run_frequency(&env, &id), Some(1440), "the out-of-band edit took");
    let edited = Instant::now();
    wait_for(
        "the drifted runFrequency to be corrected",
        RESYNC + SLACK,
        || match run_frequency(&env, &id) {
            Some(240) => Ok(()),
            other => Err(format!("runFrequency {other:?}")),
        },
    );
    println!("drift corrected after {:?}", edited.elapsed());
    let c = env.sim_connector(&id).expect("connector");
    assert_eq!(
        c["description"], "changed in the UI",
        "a description the spec does not set is not the operator's to clear"
    );
    let updated = env.wait_event("AwsConnector", "drift", "Updated", Duration::from_secs(10));
    assert!(
        str_at(&updated, "/message").contains("runFrequency"),
        "the Updated Event names the field: {updated}"
    );
    env.wait_ready("awsconnector", "drift", READY);

    // Steady state: nothing to change, so nothing is written, not even status; it still observes.
    std::thread::sleep(Duration::from_secs(2));
    env.sim.reset_counters();
    let version = env.must_get("awsconnector", "drift")["metadata"]["resourceVersion"].clone();
    let quiet = RESYNC * 2 + Duration::from_secs(2);
    std::thread::sleep(quiet);
    assert_eq!(
        env.must_get("awsconnector", "drift")["metadata"]["resourceVersion"],
        version,
        "an unchanged object's status is not rewritten"
    );
    let counters = env.sim.counters();
    let writes: Vec<String> = counters
        .iter()
        .filter(|c| !(c.route.contains("/search/") || c.route.ends_with("/portal/version")))
        .map(|c| format!("{} {} {} x{}", c.method, c.route, c.status, c.count))
        .collect();
    assert!(
        writes.is_empty(),
        "in {quiet:?} without drift the operator made calls other than searches: {writes:?}"
    );
    // The account's login check runs once per resync, not on its own status updates.
    let logins: u64 = counters
        .iter()
        .filter(|c| c.route.ends_with("/portal/version"))
        .map(|c| c.count)
        .sum();
    assert!(
        logins <= 4,
        "the account's check is a hot loop: {logins} portal/version calls in {quiet:?}"
    );
    let searches: u64 = counters
        .iter()
        .filter(|c| c.route.contains("/search/am/awsassetdataconnector"))
        .map(|c| c.count)
        .sum();
    assert!(
        searches >= 1,
        "the operator keeps observing (resync {RESYNC:?}): {searches} AWS searches in {quiet:?}"
    );
    assert!(
        searches <= 6,
        "observation is batched per resync, not a hot loop: {searches} AWS searches in {quiet:?}"
    );

    // Another field drifts: corrected too, and its Event names that field.
    env.edit_connector(&id, json!({"name": "renamed in the UI"}));
    wait_for("the drifted name to be corrected", RESYNC + SLACK, || {
        let name = env.sim_connector(&id).map(|c| c["name"].clone());
        if name == Some(json!("drift")) {
            Ok(())
        } else {
            Err(format!("name {name:?}"))
        }
    });

    // Deleted in Qualys behind the operator's back: created again, once.
    env.sim
        .delete_connector(&env.tenant, id.parse().expect("numeric id"))
        .expect("delete in the simulator");
    let recreated = wait_for(
        "the deleted connector to be created again",
        RESYNC + SLACK,
        || match env.sim_aws_for("111111111111").as_slice() {
            [one] => Ok(one["id"].to_string()),
            other => Err(format!("{} connectors", other.len())),
        },
    );
    assert_ne!(recreated, id);
    let o = wait_for("status.externalId to follow", Duration::from_secs(20), || {
        let o = env.must_get("awsconnector", "drift");
        if str_at(&o, "/status/externalId") == recreated {
            Ok(o)
        } else {
            Err(o["status"].to_string())
        }
    });
    assert_eq!(condition(&o, "Synced").map(|c| c.0), Some("True".into()));
    std::thread::sleep(RESYNC);
    assert_eq!(env.sim_aws_for("111111111111").len(), 1, "created once, not again");

    // Every action has its own Event, with its own message (not a repeat of the first).
    let messages = |reason: &str| -> Vec<String> {
        env.events_for("AwsConnector", "drift", reason)
            .iter()
            .map(|e| str_at(e, "/message").to_string())
            .collect()
    };
    wait_for("an Updated Event naming spec.name", Duration::from_secs(10), || {
        let m = messages("Updated");
        if m.iter().any(|m| m.contains("spec.name")) {
            Ok(())
        } else {
            Err(format!("{m:?}"))
        }
    });
    wait_for("an Event naming the re-created id", Duration::from_secs(10), || {
        let all: Vec<String> = env
            .events()
            .iter()
            .filter(|e| e["involvedObject"]["name"] == "drift")
            .map(|e| format!("{} {}", str_at(e, "/reason"), str_at(e, "/message")))
            .collect();
        if all.iter().any(|m| m.contains(&recreated)) {
            Ok(())
        } else {
            Err(format!("{all:?}"))
        }
    });
}

// ---------------------------------------------------------------------------
// 4. Deletion

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_deletion_policies_do_what_they_say() {
    if !e2e() {
        return;
    }
    let mut env = Env::new("deletion");
    seed_cloudview_aws(&env, "222222222222", "group member");
    env.start_operator(OperatorOptions::default());
    env.apply_account();
    for (name, account, policy) in [
        ("del-delete", "200000000001", "Delete"),
        ("del-orphan", "200000000002", "Orphan"),
        ("del-disable", "200000000003", "Disable"),
    ] {
        env.apply(&aws(name, account, &format!("  deletionPolicy: {policy}\n")));
    }
    env.apply(
        "apiVersion: qualys-operator.io/v1alpha1
kind: ConnectorGroup
metadata:
  name: del-group
spec:
  name: Deleted group
  members:
    accounts:
      - cloudType: AWS
        accountIdentifier: \"222222222222\"
",
    );
    env.apply_example("global-scan-configuration.yaml");
    let id = |kind: &str, name: &str| external_id(&env.wait_ready(kind, name, READY));
    let delete_id = id("awsconnector", "del-delete");
    let orphan_id = id("awsconnector", "del-orphan");
    let disable_id = id("awsconnector", "del-disable");
    let group_id = id("connectorgroup", "del-group");
    id("globalscanconfiguration", "perimeter-scans");
    let group_members = |env: &Env| {
        env.sim_tenant()["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| g["uuid"] == group_id.as_str())
            .map(|g| g["members"].as_array().map(Vec::len).unwrap_or(0))
    };
    assert_eq!(group_members(&env), Some(1), "the group has its member before deletion");

    for (kind, name) in [
        ("awsconnector", "del-delete"),
        ("awsconnector", "del-orphan"),
        ("awsconnector", "del-disable"),
        ("connectorgroup", "del-group"),
        ("globalscanconfiguration", "perimeter-scans"),
    ] {
        env.delete(kind, name);
    }
    for (kind, name) in [
        ("awsconnector", "del-delete"),
        ("awsconnector", "del-orphan"),
        ("awsconnector", "del-disable"),
        ("connectorgroup", "del-group"),
        ("globalscanconfiguration", "perimeter-scans"),
    ] {
        env.wait_gone(kind, name, READY);
    }

    assert!(env.sim_connector(&delete_id).is_none(), "Delete removes the connector");
    let orphan = env.sim_connector(&orphan_id).expect("Orphan leaves the connector");
    assert_eq!(orphan["disabled"], false, "Orphan leaves it as it was");
    let disabled = env.sim_connector(&disable_id).expect("Disable leaves the connector");
    assert_eq!(disabled["disabled"], true, "Disable disables it");
    assert_eq!(
        group_members(&env),
        Some(0),
        "the group stays in Qualys (no delete API) without members"
    );
    assert!(
        !env.sim_tenant()["globalScan"].is_null(),
        "the global scan configuration stays in Qualys (no delete API)"
    );

    env.wait_event("AwsConnector", "del-delete", "Deleted", Duration::from_secs(10));
    env.wait_event("AwsConnector", "del-disable", "Disabled", Duration::from_secs(10));
    let orphaned = env.wait_event("AwsConnector", "del-orphan", "Retained", Duration::from_secs(10));
    assert!(str_at(&orphaned, "/message").contains("Orphan"), "{orphaned}");
    let group = env.wait_event("ConnectorGroup", "del-group", "Retained", Duration::from_secs(10));
    assert!(
        str_at(&group, "/message").contains("no API to delete"),
        "the group's Event says why it is kept: {group}"
    );
    let scan = env.wait_event(
        "GlobalScanConfiguration",
        "perimeter-scans",
        "Retained",
        Duration::from_secs(10),
    );
    assert!(
        str_at(&scan, "/message").contains("no API to delete"),
        "the scan configuration's Event says why it is kept: {scan}"
    );
}

/// The account is gone (deleted first, as `kubectl delete -f dir/` may do):
/// an object that would need Qualys to clean up stays, and says why; an
/// Orphan one needs nothing from Qualys and goes; switching a stuck one to
/// Orphan (what its message advises) lets it go.
#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_deletion_without_the_account_keeps_only_what_needs_qualys() {
    if !e2e() {
        return;
    }
    let env = Env::with_operator("noaccount");
    env.apply_account();
    env.apply(&aws("needs-qualys", "210000000001", "  deletionPolicy: Delete\n"));
    env.apply(&aws("lets-go", "210000000002", "  deletionPolicy: Orphan\n"));
    let needs_id = external_id(&env.wait_ready("awsconnector", "needs-qualys", READY));
    let lets_go_id = external_id(&env.wait_ready("awsconnector", "lets-go", READY));
    env.delete("qualysaccount", "default");
    env.wait_gone("qualysaccount", "default", Duration::from_secs(30));

    env.delete("awsconnector", "lets-go");
    env.delete("awsconnector", "needs-qualys");
    env.wait_gone("awsconnector", "lets-go", Duration::from_secs(30));
    assert!(env.sim_connector(&lets_go_id).is_some(), "Orphan: kept in Qualys");

    // Delete cannot be carried out without the account: the object stays and says why.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        env.get("awsconnector", "needs-qualys").is_some(),
        "a connector to delete is not let go without deleting it"
    );
    assert!(env.sim_connector(&needs_id).is_some());
    let warning = wait_for(
        "a Warning saying why the deletion waits",
        Duration::from_secs(30),
        || {
            env.events()
                .into_iter()
                .find(|e| e["involvedObject"]["name"] == "needs-qualys" && e["type"] == "Warning")
                .ok_or_else(|| "no Warning Event".to_string())
        },
    );
    assert!(
        str_at(&warning, "/message").contains("default"),
        "the Warning names the missing account: {warning}"
    );
    ok(
        env.kubectl().args([
            "patch",
            "awsconnector",
            "needs-qualys",
            "--type=merge",
            "-p",
            r#"{"spec":{"deletionPolicy":"Orphan"}}"#,
        ]),
        None,
    );
    env.wait_gone("awsconnector", "needs-qualys", Duration::from_secs(30));
    assert!(env.sim_connector(&needs_id).is_some(), "Orphan: kept in Qualys");
}

// ---------------------------------------------------------------------------
// 5. Pause

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_a_paused_object_is_left_alone_until_resumed_and_can_still_be_deleted() {
    if !e2e() {
        return;
    }
    let env = Env::with_operator("pause");
    env.apply_account();
    env.apply(&aws("paused", "300000000001", "  deletionPolicy: Orphan\n"));
    let id = external_id(&env.wait_ready("awsconnector", "paused", READY));

    env.annotate("awsconnector", "paused", "qualys-operator.io/paused=true");
    let o = env.wait_condition(
        "awsconnector",
        "paused",
        "False",
        Some("Paused"),
        Duration::from_secs(30),
    );
    assert_eq!(external_id(&o), id, "a paused object keeps its id");
    env.sim.reset_counters();
    env.edit_connector(&id, json!({"runFrequency": 1440}));
    // Two resync intervals and then some: an unpaused object would be corrected by now.
    std::thread::sleep(RESYNC * 2 + Duration::from_secs(4));
    assert_eq!(
        run_frequency(&env, &id),
        Some(1440),
        "a paused object's drift is not corrected"
    );
    assert_eq!(env.calls("POST", "*/update/am/*"), 0, "nothing is written while paused");
    let (_, reason, _) = condition(&env.must_get("awsconnector", "paused"), "Ready").expect("Ready");
    assert_eq!(reason, "Paused");

    env.annotate("awsconnector", "paused", "qualys-operator.io/paused-");
    let resumed = Instant::now();
    wait_for(
        "the drift to be corrected once resumed",
        RESYNC + SLACK,
        || match run_frequency(&env, &id) {
            Some(240) => Ok(()),
            other => Err(format!("runFrequency {other:?}")),
        },
    );
    println!("corrected {:?} after resuming", resumed.elapsed());
    env.wait_ready("awsconnector", "paused", READY);

    // Paused again, then deleted: the finalizer still runs.
    env.annotate("awsconnector", "paused", "qualys-operator.io/paused=true");
    env.wait_condition(
        "awsconnector",
        "paused",
        "False",
        Some("Paused"),
        Duration::from_secs(30),
    );
    env.delete("awsconnector", "paused");
    env.wait_gone("awsconnector", "paused", Duration::from_secs(60));
    assert!(
        env.sim_connector(&id).is_some(),
        "deletionPolicy Orphan: the connector stays in Qualys"
    );
}

// ---------------------------------------------------------------------------
// 6. Run requests

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_each_new_run_requested_at_value_runs_the_connector_once() {
    if !e2e() {
        return;
    }
    let env = Env::with_operator("runs");
    env.apply_account();
    env.apply(&aws("runs", "300000000002", ""));
    env.wait_ready("awsconnector", "runs", READY);
    let runs = || env.calls("POST", "/qps/rest/3.0/run/am/awsassetdataconnector*");
    assert_eq!(runs(), 0, "no run without a request");
    let last_run = |env: &Env| str_at(&env.must_get("awsconnector", "runs"), "/status/lastRunRequestedAt").to_string();

    let t1 = "2027-01-01T00:00:00Z";
    env.annotate(
        "awsconnector",
        "runs",
        &format!("qualys-operator.io/run-requested-at={t1}"),
    );
    wait_for("status.lastRunRequestedAt = t1", Duration::from_secs(30), || {
        let seen = last_run(&env);
        if seen == t1 { Ok(()) } else { Err(seen) }
    });
    assert_eq!(runs(), 1, "one run call for t1");
    env.wait_event("AwsConnector", "runs", "RunRequested", Duration::from_secs(10));

    // Other reconciles (a metadata change, resyncs) and the same value again: no second run.
    env.annotate("awsconnector", "runs", "e2e.qualys-operator.io/touched=1");
    env.annotate(
        "awsconnector",
        "runs",
        &format!("qualys-operator.io/run-requested-at={t1}"),
    );
    std::thread::sleep(RESYNC + Duration::from_secs(3));
    assert_eq!(runs(), 1, "the same value is not run twice");

    let t2 = "2027-01-02T00:00:00Z";
    env.annotate(
        "awsconnector",
        "runs",
        &format!("qualys-operator.io/run-requested-at={t2}"),
    );
    wait_for("status.lastRunRequestedAt = t2", Duration::from_secs(30), || {
        let seen = last_run(&env);
        if seen == t2 { Ok(()) } else { Err(seen) }
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(runs(), 2, "one more run call for t2");
}

// ---------------------------------------------------------------------------
// 7. Adoption

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_existing_connectors_are_adopted_by_annotation_or_natural_key_never_duplicated() {
    if !e2e() {
        return;
    }
    let mut env = Env::new("adopt");
    // Two connectors for one account (names are not unique in Qualys): only
    // the annotation can say which one is meant.
    let first = seed_cloudview_aws(&env, "400000000001", "twin a");
    let second = seed_cloudview_aws(&env, "400000000001", "twin b");
    let by_key = seed_cloudview_aws(&env, "400000000002", "found by account");
    let twin_c = seed_cloudview_aws(&env, "400000000003", "ambiguous c");
    let twin_d = seed_cloudview_aws(&env, "400000000003", "ambiguous d");
    env.start_operator(OperatorOptions::default());
    env.apply_account();

    let annotated = aws("by-annotation", "400000000001", "").replace(
        "  name: by-annotation\n",
        &format!("  name: by-annotation\n  annotations:\n    qualys-operator.io/external-id: \"{second}\"\n"),
    );
    env.apply(&annotated);
    env.apply(&aws("by-key", "400000000002", ""));
    env.apply(&aws("ambiguous", "400000000003", ""));

    let o = env.wait_ready("awsconnector", "by-annotation", READY);
    assert_eq!(external_id(&o), second, "the annotation's id is adopted");
    let o = env.wait_ready("awsconnector", "by-key", READY);
    assert_eq!(
        external_id(&o),
        by_key,
        "the one connector of the ARN's account is adopted"
    );
    let o = env.wait_condition("awsconnector", "ambiguous", "False", Some("Conflict"), READY);
    let (_, _, message) = condition(&o, "Ready").expect("Ready");
    assert!(
        message.contains(&twin_c) && message.contains(&twin_d),
        "the conflict names both candidates: {message}"
    );
    let adopted = env.wait_event("AwsConnector", "by-annotation", "Adopted", Duration::from_secs(10));
    assert!(str_at(&adopted, "/message").contains(&second), "{adopted}");
    env.wait_event("AwsConnector", "by-key", "Adopted", Duration::from_secs(10));

    assert_eq!(
        env.calls("POST", "/qps/rest/3.0/create/*"),
        0,
        "nothing is created when Qualys already has it"
    );
    assert_eq!(env.sim_connectors().len(), 5, "no new connector");
    assert_eq!(env.sim_aws_for("400000000001").len(), 2);
    assert!(env.sim_connector(&first).is_some());
    // The adopted connector now follows the spec.
    assert_eq!(
        env.sim_connector(&second).expect("adopted")["name"],
        "by-annotation",
        "the adopted connector follows the spec"
    );
}

// ---------------------------------------------------------------------------
// 8. Secrets

fn secret(name: &str, key: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: Opaque\nstringData:\n  {key}: \"{value}\"\n"
    )
}

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_a_rotated_secret_is_pushed_and_a_missing_one_is_reported_never_leaked() {
    if !e2e() {
        return;
    }
    let env = Env::with_operator("secrets");
    env.apply_account();
    env.apply_example("01-secrets.yaml");
    env.apply_example("azure-connector.yaml");
    let o = env.wait_ready("azureconnector", "azure-prod", READY);
    let id = external_id(&o);
    let first_hash = str_at(&o, "/status/secretHash").to_string();
    assert!(!first_hash.is_empty(), "status.secretHash is set: {}", o["status"]);
    let original = "REPLACE-ME~azure-client-secret";
    let stored = |env: &Env| env.sim_connector(&id).expect("connector")["authRecord"].to_string();
    assert!(
        stored(&env).contains(original),
        "Qualys got the secret: {}",
        stored(&env)
    );

    let rotated = format!("rotated~{:012x}", fastrand::u64(..));
    let updates = || env.calls("POST", "/qps/rest/3.0/update/am/azureassetdataconnector*");
    let before = updates();
    env.apply(&secret("azure-prod-app", "clientSecret", &rotated));
    let changed = Instant::now();
    wait_for("the rotated secret to reach Qualys", Duration::from_secs(20), || {
        if stored(&env).contains(&rotated) && updates() > before {
            Ok(())
        } else {
            Err(format!("{} update calls; authRecord {}", updates(), stored(&env)))
        }
    });
    println!("rotation pushed after {:?}", changed.elapsed());
    let o = wait_for("status.secretHash to change", Duration::from_secs(20), || {
        let o = env.must_get("azureconnector", "azure-prod");
        let hash = str_at(&o, "/status/secretHash");
        if !hash.is_empty() && hash != first_hash {
            Ok(o)
        } else {
            Err(hash.to_string())
        }
    });
    assert!(!o["status"].to_string().contains(&rotated));

    // A Secret that does not exist yet.
    env.apply(
        "apiVersion: qualys-operator.io/v1alpha1
kind: AzureConnector
metadata:
  name: azure-late
spec:
  directoryId: 0c6d8e2a-4b1f-4a3c-9d5e-7f8a9b0c1d2e
  subscriptionId: 9b9b9b9b-1b3d-4f6a-8c0e-2d4f6a8b0c1e
  applicationId: 5e7f9a1b-3c5d-4e7f-9a1b-3c5d7e9f1a2b
  authenticationKeySecretRef:
    name: azure-late-secret
    key: clientSecret
",
    );
    let o = env.wait_condition(
        "azureconnector",
        "azure-late",
        "False",
        Some("ReferenceNotReady"),
        READY,
    );
    let (_, _, message) = condition(&o, "Ready").expect("Ready");
    assert!(
        message.contains("azure-late-secret"),
        "the condition names the Secret: {message}"
    );
    assert!(
        !env.sim_connectors()
            .iter()
            .any(|c| c["authRecord"].to_string().contains("9b9b9b9b")),
        "nothing is created without its Secret"
    );
    let late = format!("late~{:012x}", fastrand::u64(..));
    env.apply(&secret("azure-late-secret", "clientSecret", &late));
    let created = Instant::now();
    // The Secret is watched: well before the 30s retry of a missing reference.
    env.wait_ready("azureconnector", "azure-late", Duration::from_secs(25));
    println!("ready {:?} after its Secret appeared", created.elapsed());

    // The values never show: not in status, Events or the operator's log.
    let objects = ok(env.kubectl().args(["get", "azureconnectors", "-o", "yaml"]), None);
    let events = ok(env.kubectl().args(["get", "events", "-o", "yaml"]), None);
    let log = env.logs();
    for value in [original, rotated.as_str(), late.as_str()] {
        for (what, haystack) in [("objects", &objects), ("Events", &events), ("operator log", &log)] {
            assert!(!haystack.contains(value), "a secret value appears in the {what}");
        }
    }
}

// ---------------------------------------------------------------------------
// 9. Crash safety

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_an_operator_killed_after_a_lost_create_converges_without_a_duplicate() {
    if !e2e() {
        return;
    }
    let mut env = Env::with_operator("crash");
    env.apply_account();
    env.wait_ready("qualysaccount", "default", READY);
    // The create is carried out, and its answer never comes.
    env.sim.add_fault(
        FaultRule::new(
            "POST /qps/rest/3.0/create/am/awsassetdataconnector",
            FaultAction::CommitThenFail { mode: LossMode::Hang },
        )
        .times(1),
    );
    env.apply(&aws("crash", "500000000001", ""));
    wait_for("Qualys to store the connector", Duration::from_secs(60), || {
        match env.sim_aws_for("500000000001").len() {
            0 => Err("not yet".to_string()),
            n => Ok(n),
        }
    });
    env.operators[0].kill();
    let o = env.must_get("awsconnector", "crash");
    assert!(
        !str_at(&o, "/metadata/annotations/qualys-operator.io~1create-pending").is_empty(),
        "intent was recorded before the create: {}",
        o["metadata"]
    );
    assert!(
        str_at(&o, "/status/externalId").is_empty(),
        "the id was never learnt: {}",
        o["status"]
    );

    // (The hung create is never answered, so the counters do not show it.)
    let creates = |env: &Env| env.calls("POST", "/qps/rest/3.0/create/am/awsassetdataconnector");
    let before = creates(&env);
    env.start_operator(OperatorOptions::default());
    let o = env.wait_ready("awsconnector", "crash", READY);
    let stored = env.sim_aws_for("500000000001");
    assert_eq!(stored.len(), 1, "exactly one connector for the ARN: {stored:?}");
    assert_eq!(external_id(&o), stored[0]["id"].to_string());
    assert_eq!(creates(&env), before, "the restarted operator does not create again");
    let adopted = env.wait_event("AwsConnector", "crash", "Adopted", Duration::from_secs(10));
    assert!(
        str_at(&adopted, "/message").contains(&external_id(&o)),
        "recovery says what it found: {adopted}"
    );

    // The same with the connection dropped instead: the operator lives on and recovers by itself.
    env.sim.add_fault(
        FaultRule::new(
            "POST /qps/rest/3.0/create/am/awsassetdataconnector",
            FaultAction::CommitThenFail { mode: LossMode::Drop },
        )
        .times(1),
    );
    let before = creates(&env);
    env.apply(&aws("dropped", "500000000002", ""));
    let o = env.wait_ready("awsconnector", "dropped", READY);
    let stored = env.sim_aws_for("500000000002");
    assert_eq!(stored.len(), 1, "exactly one connector for the ARN: {stored:?}");
    assert_eq!(external_id(&o), stored[0]["id"].to_string());
    assert!(creates(&env) - before <= 1, "one create call for the object");
}

// ---------------------------------------------------------------------------
// 10. Leader election

fn lease_holder(env: &Env, lease: &str) -> Result<String, String> {
    let o = env.get("lease", lease).ok_or("no Lease yet")?;
    let holder = str_at(&o, "/spec/holderIdentity");
    if holder.is_empty() {
        Err(format!("no holder: {}", o["spec"]))
    } else {
        Ok(holder.to_string())
    }
}

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_two_replicas_elect_one_leader_and_the_other_takes_over_when_it_dies() {
    if !e2e() {
        return;
    }
    let mut env = Env::new("leader");
    env.apply_account();
    let lease = "qo-leader";
    let identities = [format!("{}-a", env.ns), format!("{}-b", env.ns)];
    for identity in &identities {
        env.start_operator(OperatorOptions {
            leader_election: true,
            identity: Some(identity.clone()),
            ..OperatorOptions::default()
        });
    }
    let holder = wait_for("a leader", Duration::from_secs(30), || lease_holder(&env, lease));
    let leader = identities
        .iter()
        .position(|i| *i == holder)
        .unwrap_or_else(|| panic!("the Lease names {holder}, not one of {identities:?}"));
    let follower = 1 - leader;
    env.apply(&aws("le-first", "600000000001", ""));
    env.wait_ready("awsconnector", "le-first", READY);
    assert_eq!(
        lease_holder(&env, lease).as_deref(),
        Ok(holder.as_str()),
        "one stable leader"
    );
    let follower_log = env.operators[follower].log_text();
    assert!(
        !follower_log.contains("controllers started") && !follower_log.contains("reconcile"),
        "the standby does not reconcile:\n{follower_log}"
    );
    assert!(
        env.operators[leader].log_text().contains("acquired leadership"),
        "the leader says so"
    );

    env.operators[leader].kill();
    let killed = Instant::now();
    let next = wait_for(
        "the standby to take over",
        Duration::from_secs(30),
        || match lease_holder(&env, lease) {
            Ok(h) if h == identities[follower] => Ok(h),
            other => Err(format!("{other:?}")),
        },
    );
    println!("{next} took over {:?} after the leader died", killed.elapsed());
    assert!(env.operators[follower].alive(), "the new leader runs");
    env.apply(&aws("le-second", "600000000002", ""));
    env.wait_ready("awsconnector", "le-second", READY);
    for account in ["600000000001", "600000000002"] {
        assert_eq!(env.sim_aws_for(account).len(), 1, "one connector for {account}");
    }
}

/// One global scan configuration per account: a second object is a
/// Conflict, and stays one across resyncs without taking the first one's
/// place (the first stays Ready and Qualys keeps its settings).
#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_a_second_global_scan_configuration_conflicts_without_displacing_the_first() {
    if !e2e() {
        return;
    }
    let env = Env::with_operator("twoscans");
    env.apply_account();
    let scan = |name: &str, prefix: &str| {
        fill(
            "apiVersion: qualys-operator.io/v1alpha1
kind: GlobalScanConfiguration
metadata:
  name: {{NAME}}
spec:
  optionProfileId: 2
  recurrence: DAILY
  scanPrefix: {{PREFIX}}
  startDate: \"01/15/2027\"
  startTime: \"01:00\"
  timezone: UTC
",
            &[("NAME", name), ("PREFIX", prefix)],
        )
    };
    env.apply(&scan("first", "first"));
    env.wait_ready("globalscanconfiguration", "first", READY);
    env.apply(&scan("second", "second"));
    env.wait_condition("globalscanconfiguration", "second", "False", Some("Conflict"), READY);
    // Several resyncs of both.
    std::thread::sleep(RESYNC * 4);
    let first = env.must_get("globalscanconfiguration", "first");
    assert_eq!(
        condition(&first, "Ready").map(|(s, r, _)| (s, r)),
        Some(("True".to_string(), "Available".to_string())),
        "the first keeps the account's configuration: {}",
        first["status"]
    );
    let second = env.must_get("globalscanconfiguration", "second");
    assert_eq!(
        condition(&second, "Ready").map(|(_, r, _)| r),
        Some("Conflict".to_string()),
        "{}",
        second["status"]
    );
    assert_eq!(env.sim_tenant()["globalScan"]["scanPrefix"], "first");
}

// ---------------------------------------------------------------------------
// 11. Health and metrics

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_health_readiness_and_metrics_are_served() {
    if !e2e() {
        return;
    }
    let env = Env::with_operator("metrics");
    env.apply_account();
    env.apply(&aws("metrics", "700000000001", ""));
    env.wait_ready("awsconnector", "metrics", READY);
    let port = env.operators[0].metrics_port;
    for path in ["/healthz", "/readyz"] {
        wait_for(
            &format!("{path} to answer 200"),
            Duration::from_secs(20),
            || match http_get(port, path) {
                Some((200, _)) => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
    }
    // The account shows the budget Qualys reports (the simulator's: 1,000,000 per 3600 s).
    let account = wait_for("QualysAccount status.rateLimit", Duration::from_secs(30), || {
        let o = env.must_get("qualysaccount", "default");
        if o["status"]["rateLimit"]["limit"].is_u64() {
            Ok(o)
        } else {
            Err(o["status"].to_string())
        }
    });
    let rate = &account["status"]["rateLimit"];
    assert_eq!(rate["limit"], 1_000_000, "{rate}");
    assert_eq!(rate["windowSeconds"], 3600, "{rate}");
    assert!(
        rate["remaining"].as_u64().is_some_and(|r| r < 1_000_000),
        "remaining counts the operator's calls: {rate}"
    );
    // Half the reported limit; observation that small needs no stretching.
    assert_eq!(rate["budgetPerHour"], 500_000, "{rate}");
    assert_eq!(rate["effectiveResyncInterval"], "5s", "{rate}");
    assert!(rate["observationCalls"].as_u64().is_some(), "{rate}");
    // The operator's own calls, per hour, inside the share it keeps to.
    assert!(
        rate["usedPerHour"].as_u64().is_some_and(|u| u > 0 && u <= 500_000),
        "{rate}"
    );
    assert!(rate["budgetWaitSeconds"].as_u64().is_some(), "{rate}");
    let (status, body) = http_get(port, "/metrics").expect("/metrics answers");
    assert!(
        body.lines()
            .any(|l| l.starts_with("qualys_operator_account_used_per_hour{") && !l.ends_with(" 0")),
        "the account's own usage:\n{body}"
    );
    assert_eq!(status, 200);
    let line = |prefix: &str| body.lines().find(|l| l.starts_with(prefix)).map(str::to_string);
    assert!(
        line("qualys_operator_reconciles_total{").is_some_and(|l| l.contains("kind=\"AwsConnector\"")),
        "reconciles by kind:\n{body}"
    );
    assert!(
        line("qualys_operator_qualys_calls_total{").is_some(),
        "Qualys calls:\n{body}"
    );
    assert!(
        line("qualys_operator_leader ").is_some_and(|l| l.ends_with(" 1")),
        "{body}"
    );
    assert!(
        line("qualys_operator_account_budget_per_hour{").is_some_and(|l| l.ends_with(" 500000")),
        "the account's budget:\n{body}"
    );
    assert!(
        line("qualys_operator_account_effective_resync_seconds{").is_some_and(|l| l.ends_with(" 5")),
        "the account's effective resync:\n{body}"
    );
    wait_for(
        "managed_objects to count the Ready connector",
        Duration::from_secs(20),
        || {
            let (_, body) = http_get(port, "/metrics").ok_or("no answer")?;
            body.lines()
                .find(|l| {
                    l.starts_with("qualys_operator_managed_objects{")
                        && l.contains("kind=\"AwsConnector\"")
                        && l.contains("ready=\"true\"")
                })
                .filter(|l| l.ends_with(" 1"))
                .map(|_| ())
                .ok_or_else(|| {
                    body.lines()
                        .filter(|l| l.contains("managed_objects"))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
        },
    );
}

/// A kubeconfig for ServiceAccount SA of the test namespace (a TokenRequest
/// token, the shared API server's address and CA).
fn service_account_kubeconfig(env: &Env, sa: &str, dir: &Path) -> PathBuf {
    let token = ok(env.kubectl().args(["create", "token", sa, "--duration", "1h"]), None);
    let config: Value = serde_json::from_str(&ok(
        kubectl().args(["config", "view", "--raw", "--minify", "--flatten", "-o", "json"]),
        None,
    ))
    .expect("kubeconfig JSON");
    let cluster = &config["clusters"][0]["cluster"];
    let path = dir.join(format!("{sa}.kubeconfig"));
    let yaml = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": cluster}],
        "users": [{"name": sa, "user": {"token": token.trim()}}],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": sa}}],
        "current-context": "e2e",
    });
    std::fs::write(&path, yaml.to_string()).expect("write kubeconfig");
    path
}

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_readyz_waits_for_every_cache_to_sync() {
    if !e2e() {
        return;
    }
    let mut env = Env::new("readyz");
    // Everything the operator needs in its namespace, except reading one
    // kind: that kind's cache cannot sync, so the replica must stay unready.
    let others = "qualysaccounts, qualysaccounts/status, awsconnectors, awsconnectors/status, \
                  azureconnectors, azureconnectors/status, ociconnectors, ociconnectors/status, \
                  azureorgconnectors, azureorgconnectors/status, connectorgroups, connectorgroups/status, \
                  userscopes, userscopes/status, snapshotscanregistrations, \
                  snapshotscanregistrations/status, cloudviewreports, cloudviewreports/status, \
                  globalscanconfigurations, globalscanconfigurations/status, gcpconnectors/status";
    let crd_reader = format!("qo-readyz-{}", env.ns);
    env.apply(&fill(
        "apiVersion: v1
kind: ServiceAccount
metadata:
  name: limited
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: limited
rules:
  - apiGroups: [qualys-operator.io]
    resources: [{{OTHERS}}]
    verbs: ['*']
  - apiGroups: ['', events.k8s.io]
    resources: [secrets, events]
    verbs: ['*']
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: limited
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: limited}
subjects: [{kind: ServiceAccount, name: limited, namespace: {{NS}}}]
",
        &[("OTHERS", others), ("NS", &env.ns)],
    ));
    ok(
        kubectl().args(["apply", "-f", "-"]),
        Some(&fill(
            "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{NAME}}
rules:
  - apiGroups: [apiextensions.k8s.io]
    resources: [customresourcedefinitions]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{NAME}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {{NAME}}}
subjects: [{kind: ServiceAccount, name: limited, namespace: {{NS}}}]
",
            &[("NAME", &crd_reader), ("NS", &env.ns)],
        )),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = service_account_kubeconfig(&env, "limited", dir.path());
    env.start_operator(OperatorOptions {
        env: vec![("KUBECONFIG".into(), kubeconfig.to_string_lossy().into_owned())],
        ..OperatorOptions::default()
    });
    let port = env.operators[0].metrics_port;
    wait_for("/healthz to answer 200", Duration::from_secs(30), || {
        match http_get(port, "/healthz") {
            Some((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    // Every other cache syncs within a second or two; this one never does.
    let unready_since = Instant::now();
    while unready_since.elapsed() < Duration::from_secs(10) {
        let answer = http_get(port, "/readyz");
        assert!(
            matches!(answer, Some((503, _))),
            "/readyz answered {answer:?} while GcpConnectors cannot be listed:\n{}",
            env.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Granted: the watch's next retry lists them, and the replica is ready.
    env.apply(&fill(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: limited-gcp
rules:
  - apiGroups: [qualys-operator.io]
    resources: [gcpconnectors]
    verbs: [get, list, watch, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: limited-gcp
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: limited-gcp}
subjects: [{kind: ServiceAccount, name: limited, namespace: {{NS}}}]
",
        &[("NS", &env.ns)],
    ));
    wait_for(
        "/readyz to answer 200 once granted",
        Duration::from_secs(90),
        || match http_get(port, "/readyz") {
            Some((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    ok(
        kubectl().args([
            "delete",
            "clusterrole,clusterrolebinding",
            &crd_reader,
            "--ignore-not-found",
        ]),
        None,
    );
}

// ---------------------------------------------------------------------------
// 12. No CRDs

/// An API server that knows nothing: every request is a 404 Status.
fn empty_api_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                use std::io::{BufRead, BufReader, Write};
                let Ok(clone) = stream.try_clone() else { return };
                let mut reader = BufReader::new(clone);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    let mut first = true;
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        if line == "\r\n" && !first {
                            break;
                        }
                        first = false;
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
                        return;
                    }
                    let status = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"not found","reason":"NotFound","code":404}"#;
                    let reply = format!(
                        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{status}",
                        status.len()
                    );
                    if stream.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_missing_crds_stop_the_operator_with_a_clear_message() {
    if !e2e() {
        return;
    }
    // Not the shared API server (other tests need the CRDs): one that has none.
    let port = empty_api_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: empty\n  cluster:\n    server: http://127.0.0.1:{port}\n\
             users:\n- name: nobody\n  user: {{}}\ncontexts:\n- name: empty\n  context:\n    cluster: empty\n    \
             user: nobody\ncurrent-context: empty\n"
        ),
    )
    .expect("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_qualys-operator"))
        .args(["run", "--metrics-addr", &format!("127.0.0.1:{}", free_port())])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("qualys-operator run");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "the operator kept running without its CRDs:\n{}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = child.wait_with_output().expect("output");
    let stderr = text(&out.stderr);
    assert!(!status.success(), "exit status {status}");
    assert!(stderr.contains("CRDs not installed"), "{stderr}");
    for crd in [
        "qualysaccounts.qualys-operator.io",
        "awsconnectors.qualys-operator.io",
        "globalscanconfigurations.qualys-operator.io",
    ] {
        assert!(stderr.contains(crd), "the message names {crd}:\n{stderr}");
    }
    assert!(
        stderr.contains("kubectl apply -f crds/"),
        "the message says what to do:\n{stderr}"
    );
}

/// Issue 18: a UserScope on the control plane. It grants what it lists,
/// records only that as its own (a grant made by hand before is not), puts
/// back what is removed behind its back, and on deletion revokes exactly its
/// own grants.
#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_a_user_scope_grants_corrects_and_revokes_only_its_own_grants() {
    if !e2e() {
        return;
    }
    use qualys_operator::simulator::UserScopeGrants;
    const USER: &str = "demo_analyst";
    let mut env = Env::new("userscope");
    let legacy = "210987654321";
    seed_cloudview_aws(&env, legacy, "legacy (created in the UI)");
    let by_hand = UserScopeGrants {
        accounts: [("AWS".to_string(), vec![legacy.to_string()])].into(),
        ..UserScopeGrants::default()
    };
    env.sim.set_user_scope(USER, by_hand).unwrap_or_else(|e| panic!("{e}"));
    env.start_operator(OperatorOptions::default());
    env.apply_account();
    env.apply_example("connector-group.yaml");
    env.apply_example("user-scope.yaml");
    let group = external_id(&env.wait_ready("ConnectorGroup", "platform-team", READY));
    let scope = env.wait_ready("UserScope", "demo-analyst", READY);
    assert_eq!(external_id(&scope), USER);
    let grants = |env: &Env| env.sim.user_scope(USER).unwrap_or_else(|e| panic!("{e}"));
    let g = grants(&env);
    assert_eq!(g.groups, vec![group.clone()]);
    let mut regions = g.regions.clone();
    regions.sort();
    assert_eq!(regions, ["eu-west-1", "us-east-1"]);
    assert_eq!(
        g.accounts.get("AWS").cloned().unwrap_or_default(),
        vec![legacy.to_string()]
    );
    let mut owned: Vec<String> = scope["status"]["granted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    owned.sort();
    assert_eq!(
        owned,
        [
            format!("group:{group}"),
            "region:eu-west-1".into(),
            "region:us-east-1".into()
        ],
        "the hand grant is not the object's"
    );

    // Behind the operator's back: a granted region is revoked.
    let mut drifted = grants(&env);
    drifted.regions.retain(|r| r != "eu-west-1");
    env.sim.set_user_scope(USER, drifted).unwrap_or_else(|e| panic!("{e}"));
    wait_for("the revoked region to be granted again", RESYNC * 2 + SLACK, || {
        let g = grants(&env);
        if g.regions.iter().any(|r| r == "eu-west-1") {
            Ok(())
        } else {
            Err(format!("{g:?}"))
        }
    });

    env.delete("UserScope", "demo-analyst");
    env.wait_gone("UserScope", "demo-analyst", READY);
    let g = grants(&env);
    assert!(
        g.groups.is_empty() && g.regions.is_empty(),
        "its own grants are revoked: {g:?}"
    );
    assert_eq!(
        g.accounts.get("AWS").cloned().unwrap_or_default(),
        vec![legacy.to_string()],
        "the hand grant survives"
    );
}

/// Issue 18: a SnapshotScanRegistration on the control plane. Registered once
/// (Ready, state REGISTERED), confirmed at each resync with a 304, put back
/// within a resync after a deregistration by hand, deregistered on deletion.
#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_a_snapshot_scan_registration_is_registered_restored_and_deregistered() {
    if !e2e() {
        return;
    }
    let mut env = Env::new("snapshot");
    env.start_operator(OperatorOptions::default());
    env.apply_account();
    env.apply_example("01-secrets.yaml");
    env.apply_example("aws-connector.yaml");
    env.wait_ready("AwsConnector", "aws-prod", READY);
    env.apply_example("snapshot-scan-registration.yaml");
    let o = env.wait_ready("SnapshotScanRegistration", "aws-prod-snapshots", READY);
    assert_eq!(str_at(&o, "/status/state"), "REGISTERED");
    assert_eq!(str_at(&o, "/status/registration"), "0 0 2 ? * * * | Owner=platform");
    let tenant = env
        .sim
        .users()
        .first()
        .map(|u| u.tenant().to_string())
        .unwrap_or_default();
    let accounts = |env: &Env| env.sim.snapshot_accounts(&tenant);
    assert_eq!(accounts(&env).len(), 1);
    assert_eq!(accounts(&env)[0].schedule, "0 0 2 ? * * *");

    env.sim.clear_snapshot_accounts(&tenant);
    wait_for("the registration to be put back", RESYNC * 2 + SLACK, || {
        if accounts(&env).is_empty() {
            Err("not registered".into())
        } else {
            Ok(())
        }
    });

    env.delete("SnapshotScanRegistration", "aws-prod-snapshots");
    env.wait_gone("SnapshotScanRegistration", "aws-prod-snapshots", READY);
    assert!(accounts(&env).is_empty(), "deregistered: {:?}", accounts(&env));
}

/// Issue 18: a CloudViewReport on the control plane: created (Ready), an
/// out-of-band change of its accounts corrected within a resync, deleted with
/// the object.
#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_a_cloudview_report_is_created_corrected_and_deleted() {
    if !e2e() {
        return;
    }
    let mut env = Env::new("report");
    let legacy = "210987654321";
    seed_cloudview_aws(&env, legacy, "legacy (created in the UI)");
    env.start_operator(OperatorOptions::default());
    env.apply_account();
    env.apply_example("01-secrets.yaml");
    env.apply_example("aws-connector.yaml");
    env.wait_ready("AwsConnector", "aws-prod", READY);
    env.apply_example("cloudview-report.yaml");
    let o = env.wait_ready("CloudViewReport", "aws-prod-ccm", READY);
    let id = external_id(&o);
    let tenant = env
        .sim
        .users()
        .first()
        .map(|u| u.tenant().to_string())
        .unwrap_or_default();
    let report = |env: &Env| {
        env.sim
            .reports(&tenant)
            .into_iter()
            .find(|r| r["reportId"] == id.as_str())
    };
    let accounts = |r: &Value| -> Vec<String> {
        r["accounts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| str_at(a, "/accountId").to_string())
            .collect()
    };
    let r = report(&env).unwrap_or_else(|| panic!("report {id} not in Qualys"));
    assert_eq!(r["title"], "aws-prod CCM compliance");
    assert_eq!(r["mandateId"], "2481");
    assert_eq!(accounts(&r), ["123456789012"]);
    assert_eq!(env.sim.reports(&tenant).len(), 1, "exactly one report");

    env.sim
        .edit_report(
            &tenant,
            &id,
            json!({"accounts": [{"cloudType": "AWS", "accountId": legacy}]}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for("the report's accounts to be corrected", RESYNC * 2 + SLACK, || {
        let r = report(&env).ok_or("gone")?;
        if accounts(&r) == ["123456789012"] {
            Ok(())
        } else {
            Err(format!("{:?}", accounts(&r)))
        }
    });
    assert_eq!(
        env.sim.reports(&tenant).len(),
        1,
        "corrected in place, never re-created"
    );

    env.delete("CloudViewReport", "aws-prod-ccm");
    env.wait_gone("CloudViewReport", "aws-prod-ccm", READY);
    assert!(report(&env).is_none(), "deleted in Qualys (deletionPolicy Delete)");
}

/// Two objects with one natural key applied together (Qualys allows duplicate
/// report titles): one creates, the other is a Conflict naming it, and Qualys
/// holds one report.
#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_two_objects_with_one_natural_key_applied_together_create_once() {
    if !e2e() {
        return;
    }
    let mut env = Env::new("twins");
    env.start_operator(OperatorOptions::default());
    env.apply_account();
    env.apply_example("01-secrets.yaml");
    env.apply_example("aws-connector.yaml");
    env.wait_ready("AwsConnector", "aws-prod", READY);
    let report = |name: &str| {
        format!(
            "apiVersion: qualys-operator.io/v1alpha1
kind: CloudViewReport
metadata:
  name: {name}
spec:
  title: one title
  type: MANDATE
  mandateId: \"2481\"
  accounts:
    - cloudType: AWS
      accountId: \"123456789012\"
"
        )
    };
    env.apply(&format!("{}---\n{}", report("twin-a"), report("twin-b")));
    let tenant = env
        .sim
        .users()
        .first()
        .map(|u| u.tenant().to_string())
        .unwrap_or_default();
    wait_for("one twin Ready and the other a Conflict", READY, || {
        let reason = |name: &str| -> String {
            env.get("CloudViewReport", name)
                .and_then(|o| {
                    o["status"]["conditions"]
                        .as_array()?
                        .iter()
                        .find(|c| c["type"] == "Ready")
                        .map(|c| format!("{}/{}", str_at(c, "/status"), str_at(c, "/reason")))
                })
                .unwrap_or_default()
        };
        let (a, b) = (reason("twin-a"), reason("twin-b"));
        let mut seen = [a.clone(), b.clone()];
        seen.sort();
        if seen[0] == "False/Conflict" && seen[1].starts_with("True/") {
            Ok(())
        } else {
            Err(format!("twin-a {a}, twin-b {b}"))
        }
    });
    assert_eq!(env.sim.reports(&tenant).len(), 1, "{:?}", env.sim.reports(&tenant));
}
