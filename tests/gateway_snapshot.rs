//! Issue 18: snapshot-based scan registration (`/conn/snapshot/v1.0/...`)
//! [001:7203-7353], the client against the simulator over real HTTP, and the
//! documentation's samples (`tests/fixtures/qualys-docs/snapshot_*`) replayed
//! against both: the simulator answers the documented request, the client
//! reads the documented answer.

#[path = "simulator_support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use support::{Api, FaultAction, FaultRule, LossMode, SimConfig, SimHandle, UserSpec, start, start_with};

use qualys_operator::qualys::cron::validate_quartz_cron;
use qualys_operator::qualys::fence::WriteFence;
use qualys_operator::qualys::{
    AccountConfig, DeregisterOutcome, QualysClient, QualysError, RegisterOutcome, Registration, SnapshotTag, Timeouts,
};
use qualys_operator::simulator::CloudKind as SimCloud;

const BASE: &str = "/conn/snapshot/v1.0";
const REGISTER: &str = "/conn/snapshot/v1.0/register-service-account";
const RUN: &str = "/conn/snapshot/v1.0/register-scanner-run";
const DEREGISTER: &str = "/conn/snapshot/v1.0/deregister-service-account";
/// The sample's `95xxxxxxxxx75` as a real (12-digit) AWS account id.
const ACCOUNT: &str = "951234567875";

/// The sample text without its `#` header.
fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/qualys-docs/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .skip_while(|l| l.starts_with('#') || l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn tenant(sim: &SimHandle) -> String {
    sim.users()
        .first()
        .map(|u| u.tenant().to_string())
        .unwrap_or_else(|| "demo".into())
}

/// An AWS connector for `account`, with the CloudView (CSA) app or without.
fn aws_connector(sim: &SimHandle, account: &str, cloudview: bool) -> u64 {
    let arn = format!("arn:aws:iam::{account}:role/Qualys");
    let mut fields = json!({"name": format!("aws {account} {cloudview}"), "arn": arn, "externalId": "ext"});
    if cloudview {
        fields["connectorAppInfos"] = json!({"set": {"ConnectorAppInfoQList": [
            {"set": {"ConnectorAppInfo": {"name": "CSA", "identifier": arn}}}
        ]}});
    }
    sim.create_connector(&tenant(sim), SimCloud::Aws, fields)
        .unwrap_or_else(|e| panic!("seeding a connector: {e}"))
}

fn client_with(sim: &SimHandle, fence: Option<Arc<dyn WriteFence>>) -> QualysClient {
    let base = sim.base_url();
    let mut config = AccountConfig::new(&base, &base, "demo", "demo");
    config.timeouts = Timeouts {
        request: Duration::from_secs(5),
        retry_base: Duration::from_millis(10),
        ..Timeouts::default()
    };
    let builder = QualysClient::builder(config);
    let builder = match fence {
        Some(fence) => builder.fence(fence),
        None => builder,
    };
    builder.build().unwrap_or_else(|e| panic!("client: {e}"))
}

fn client(sim: &SimHandle) -> QualysClient {
    client_with(sim, None)
}

fn registration(account: &str, schedule: &str) -> Registration {
    Registration {
        account_id: account.into(),
        schedule: schedule.into(),
        tags: vec![SnapshotTag {
            tag_key: "Owner".into(),
            tag_value: "test".into(),
        }],
    }
}

fn runs(sim: &SimHandle, account: &str) -> u64 {
    sim.snapshot_accounts(&tenant(sim))
        .iter()
        .find(|a| a.account_id == account)
        .map_or(0, |a| a.runs)
}

/// The register request sample [001:7247-7256], sent as printed (its account
/// placeholder filled), is answered as documented: the text [001:7261], then 304.
#[tokio::test]
async fn the_documented_register_request_is_answered_as_documented() {
    let sim = start().await;
    let connector = aws_connector(&sim, ACCOUNT, true);
    let api = Api::new(&sim);
    let token = api.token().await;
    let body = fixture("snapshot_register_request.json").replace("95xxxxxxxxx75", ACCOUNT);

    let first = api.bearer(&token, "POST", REGISTER, Some(&body)).await;
    assert!(matches!(first.status, 200 | 201), "{} {}", first.status, first.body);
    assert_eq!(first.body, "Successfully registered the service account");

    let again = api.bearer(&token, "POST", REGISTER, Some(&body)).await;
    assert_eq!(again.status, 304, "{}", again.body);
    assert_eq!(again.body, "", "a 304 carries no body");

    let stored = sim.snapshot_accounts(&tenant(&sim));
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].account_id, ACCOUNT);
    assert_eq!(stored[0].schedule, "0 0 2 ? * * *");
    assert_eq!(
        (stored[0].tags[0].tag_key.as_str(), stored[0].tags[0].tag_value.as_str()),
        ("Owner", "test")
    );
    assert_eq!(stored[0].connector_id, connector.to_string());

    // The register sample has no Authorization header; the simulator wants a token anyway (Q-SNAP-2).
    let anonymous = api
        .http
        .post(format!("{}{REGISTER}", api.base))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(anonymous.ok(), Some(401));
}

/// The run response sample [001:7295-7310], served verbatim, decodes through the client.
#[tokio::test]
async fn the_documented_run_answer_is_read_by_the_client() {
    let sim = start().await;
    sim.add_fault(FaultRule::new(
        format!("GET {RUN}"),
        FaultAction::Status {
            status: 200,
            body: Some(fixture("snapshot_run_response.json")),
        },
    ));
    let run = client(&sim)
        .run_snapshot_scan()
        .await
        .unwrap_or_else(|e| panic!("the documented answer does not decode: {e}"));
    assert_eq!(run.target_accounts.len(), 1);
    assert_eq!(run.target_accounts[0].aws_account_id.as_deref(), Some("95xxxxxxxxx75"));
    assert_eq!(run.target_accounts[0].connector_id.as_deref(), Some("xxxxxxx"));
    assert!(run.covers("95xxxxxxxxx75"));
    assert_eq!(
        run.amis.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-southeast-1"
        ]
    );
    assert_eq!(run.amis["ap-northeast-3"], "ami-07xxxxxxxxxxe7");
}

/// Register, 304, run, deregister, deregister again, through the client.
#[tokio::test]
async fn the_client_registers_runs_and_deregisters_idempotently() {
    let sim = start().await;
    let connector = aws_connector(&sim, ACCOUNT, true);
    let qualys = client(&sim);

    assert_eq!(
        qualys
            .register_service_account(&registration(ACCOUNT, "0 0 2 ? * * *"))
            .await,
        Ok(RegisterOutcome::Registered)
    );
    // A different schedule changes nothing: Qualys keeps the first registration.
    assert_eq!(
        qualys
            .register_service_account(&registration(ACCOUNT, "0 30 4 ? * MON"))
            .await,
        Ok(RegisterOutcome::AlreadyRegistered)
    );
    assert_eq!(sim.snapshot_accounts(&tenant(&sim))[0].schedule, "0 0 2 ? * * *");
    assert_eq!(sim.count("POST", REGISTER), 2);

    let run = qualys.run_snapshot_scan().await.unwrap_or_else(|e| panic!("run: {e}"));
    assert!(run.covers(ACCOUNT), "{run:?}");
    assert_eq!(run.target_accounts[0].connector_id, Some(connector.to_string()));
    assert!(run.amis.contains_key("ap-south-1") && run.amis.values().all(|a| a.starts_with("ami-")));
    assert_eq!(runs(&sim, ACCOUNT), 1, "the run was counted once");

    assert_eq!(
        qualys.deregister_service_account().await,
        Ok(DeregisterOutcome::Deregistered)
    );
    assert!(sim.snapshot_accounts(&tenant(&sim)).is_empty());
    assert_eq!(
        qualys.deregister_service_account().await,
        Ok(DeregisterOutcome::NotRegistered),
        "a second delete finds nothing and says so without failing"
    );
    assert_eq!(sim.count("DELETE", DEREGISTER), 2);

    match qualys.run_snapshot_scan().await {
        Err(QualysError::NotFound { message }) => {
            assert!(message.contains("no AWS account is registered"), "{message}");
            assert!(message.contains("Service account not found"), "{message}");
        }
        other => panic!("a run with nothing registered: {other:?}"),
    }
}

/// 404 "Connector not found" and 400 "... connector is not cloudview" become
/// errors that name the account and the cause.
#[tokio::test]
async fn registration_errors_name_the_account_and_the_cause() {
    let sim = start().await;
    let qualys = client(&sim);

    match qualys
        .register_service_account(&registration(ACCOUNT, "0 0 2 ? * * *"))
        .await
    {
        Err(QualysError::NotFound { message }) => {
            assert!(
                message.contains(ACCOUNT) && message.contains("has no connector"),
                "{message}"
            );
            assert!(message.contains("Connector not found"), "{message}");
        }
        other => panic!("no connector: {other:?}"),
    }

    aws_connector(&sim, ACCOUNT, false);
    match qualys
        .register_service_account(&registration(ACCOUNT, "0 0 2 ? * * *"))
        .await
    {
        Err(QualysError::InvalidRequest { message, .. }) => {
            assert!(
                message.contains(ACCOUNT) && message.contains("not CloudView-enabled"),
                "{message}"
            );
            assert!(message.contains("connector is not cloudview"), "{message}");
        }
        other => panic!("no CloudView connector: {other:?}"),
    }

    // A schedule the client can tell is wrong never leaves.
    sim.reset_counters();
    match qualys
        .register_service_account(&registration(ACCOUNT, "0 2 * * *"))
        .await
    {
        Err(QualysError::InvalidRequest { field, message, .. }) => {
            assert_eq!(field.as_deref(), Some("schedule"));
            assert!(message.contains("Unix cron"), "{message}");
        }
        other => panic!("a Unix cron: {other:?}"),
    }
    assert_eq!(sim.count("*", &format!("{BASE}/*")), 0);
    assert!(sim.snapshot_accounts(&tenant(&sim)).is_empty());
}

/// The table's flat `tagkey/tagvalue/tagkey1/tagvalue1` [001:7228-7231] is
/// taken as well as the sample's `tags` array; half a pair is a 400.
#[tokio::test]
async fn the_flat_tag_parameters_of_the_table_are_accepted() {
    let sim = start().await;
    aws_connector(&sim, ACCOUNT, true);
    let api = Api::new(&sim);
    let token = api.token().await;

    let half = json!({"accountId": ACCOUNT, "schedule": "0 0 2 ? * * *", "tagkey": "Owner"});
    let refused = api.bearer(&token, "POST", REGISTER, Some(&half.to_string())).await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.json()["responseMessage"]
            .as_str()
            .is_some_and(|m| m.starts_with("Incorrect Params or connector is not cloudview")),
        "{}",
        refused.body
    );

    let flat = json!({
        "accountId": ACCOUNT, "schedule": "0 0 2 ? * * *",
        "tagkey": "Owner", "tagvalue": "test", "tagkey1": "Env", "tagvalue1": "prod"
    });
    let reply = api.bearer(&token, "POST", REGISTER, Some(&flat.to_string())).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let tags: Vec<(String, String)> = sim.snapshot_accounts(&tenant(&sim))[0]
        .tags
        .iter()
        .map(|t| (t.tag_key.clone(), t.tag_value.clone()))
        .collect();
    assert_eq!(tags, [("Owner".into(), "test".into()), ("Env".into(), "prod".into())]);
}

/// Deregister names no account: it removes every account the customer
/// registered, and only that customer's.
#[tokio::test]
async fn deregister_removes_the_customers_whole_registration() {
    let sim = start_with(SimConfig {
        users: vec![UserSpec::new("demo", "demo"), UserSpec::new("other", "other")],
        ..SimConfig::default()
    })
    .await;
    let second = "123456789012";
    aws_connector(&sim, ACCOUNT, true);
    aws_connector(&sim, second, true);
    sim.seed_snapshot_account("other", json!({"accountId": "210987654321", "schedule": "0 0 3 ? * *"}))
        .unwrap_or_else(|e| panic!("seed: {e}"));
    let qualys = client(&sim);
    for account in [ACCOUNT, second] {
        assert_eq!(
            qualys
                .register_service_account(&registration(account, "0 0 2 ? * * *"))
                .await,
            Ok(RegisterOutcome::Registered)
        );
    }
    let run = qualys.run_snapshot_scan().await.unwrap_or_else(|e| panic!("run: {e}"));
    assert!(run.covers(ACCOUNT) && run.covers(second) && !run.covers("210987654321"));
    assert_eq!((runs(&sim, ACCOUNT), runs(&sim, second)), (1, 1));

    let api = Api::new(&sim);
    let token = api.token().await;
    let gone = api.bearer(&token, "DELETE", DEREGISTER, None).await;
    assert_eq!((gone.status, gone.body.as_str()), (204, ""));
    assert!(sim.snapshot_accounts(&tenant(&sim)).is_empty());
    assert_eq!(
        sim.snapshot_accounts("other").len(),
        1,
        "another customer keeps its registration"
    );

    let again = api.bearer(&token, "DELETE", DEREGISTER, None).await;
    assert_eq!(again.status, 404);
    assert_eq!(again.json()["responseMessage"], "Service account not found");
    let run = api.bearer(&token, "GET", RUN, None).await;
    assert_eq!(run.status, 404);
    assert_eq!(run.json()["responseMessage"], "Service account not found");
}

/// A registration made by hand (admin API) is found by the client as 304, and
/// the admin API shows the run counts.
#[tokio::test]
async fn a_registration_made_by_hand_reads_as_already_registered() {
    let sim = start().await;
    let connector = aws_connector(&sim, ACCOUNT, true);
    let api = Api::new(&sim);
    let path = format!("/_sim/tenants/{}/snapshot", tenant(&sim));
    let seeded = api
        .admin(
            "POST",
            &path,
            Some(json!({"accountId": ACCOUNT, "schedule": "0 0 5 ? * SUN", "tagkey": "Team", "tagvalue": "a"})),
        )
        .await;
    assert_eq!(seeded.status, 200, "{}", seeded.body);
    let bad = api
        .admin(
            "POST",
            &path,
            Some(json!({"accountId": ACCOUNT, "schedule": "0 5 * * *"})),
        )
        .await;
    assert_eq!(bad.status, 400, "the UI refuses a bad schedule too");

    let qualys = client(&sim);
    assert_eq!(
        qualys
            .register_service_account(&registration(ACCOUNT, "0 0 2 ? * * *"))
            .await,
        Ok(RegisterOutcome::AlreadyRegistered)
    );
    qualys.run_snapshot_scan().await.unwrap_or_else(|e| panic!("run: {e}"));
    let listed = api.admin("GET", &path, None).await.json();
    let account = &listed["serviceAccounts"][0];
    assert_eq!(account["accountId"], ACCOUNT);
    assert_eq!(account["schedule"], "0 0 5 ? * SUN");
    assert_eq!(account["connectorId"], connector.to_string());
    assert_eq!(account["tags"], json!([{"tagKey": "Team", "tagValue": "a"}]));
    assert_eq!(account["runs"], 1);

    assert_eq!(api.admin("DELETE", &path, None).await.status, 200);
    assert_eq!(
        qualys.deregister_service_account().await,
        Ok(DeregisterOutcome::NotRegistered)
    );
}

struct Switch(AtomicBool);

impl WriteFence for Switch {
    fn check(&self) -> Result<(), String> {
        if self.0.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("not the leader".into())
        }
    }
}

/// The run is a `GET` that starts scans: fenced like a write, never repeated
/// once it may have arrived, and a 429 is waited out.
#[tokio::test]
async fn the_run_is_a_fenced_write_that_is_never_repeated_blindly() {
    let sim = start().await;
    aws_connector(&sim, ACCOUNT, true);
    let fence = Arc::new(Switch(AtomicBool::new(false)));
    let qualys = client_with(&sim, Some(fence.clone()));
    sim.seed_snapshot_account(
        &tenant(&sim),
        json!({"accountId": ACCOUNT, "schedule": "0 0 2 ? * * *"}),
    )
    .unwrap_or_else(|e| panic!("seed: {e}"));

    for result in [
        qualys.run_snapshot_scan().await.map(|_| ()),
        qualys
            .register_service_account(&registration(ACCOUNT, "0 0 2 ? * * *"))
            .await
            .map(|_| ()),
        qualys.deregister_service_account().await.map(|_| ()),
    ] {
        assert!(matches!(result, Err(QualysError::Fenced { .. })), "{result:?}");
    }
    assert_eq!(sim.count("*", &format!("{BASE}/*")), 0, "nothing was sent");
    fence.0.store(true, Ordering::SeqCst);

    // The scan started, the answer was lost: not repeated.
    sim.add_fault(
        FaultRule::new(
            format!("GET {RUN}"),
            FaultAction::CommitThenFail { mode: LossMode::Drop },
        )
        .times(1),
    );
    let lost = qualys.run_snapshot_scan().await;
    assert!(lost.as_ref().is_err_and(QualysError::is_ambiguous), "{lost:?}");
    assert_eq!(sim.count("GET", RUN), 1);
    assert_eq!(runs(&sim, ACCOUNT), 1);

    // A server error is not retried either: it may have started scans.
    sim.add_fault(
        FaultRule::new(
            format!("GET {RUN}"),
            FaultAction::Status {
                status: 500,
                body: None,
            },
        )
        .times(1),
    );
    let failed = qualys.run_snapshot_scan().await;
    assert!(
        matches!(failed, Err(QualysError::Server { status: 500, .. })),
        "{failed:?}"
    );
    assert_eq!(sim.count("GET", RUN), 2);

    // 429 [001:7323]: throttled, so nothing ran; waited out and sent again.
    sim.add_fault(FaultRule::new(format!("GET {RUN}"), FaultAction::RateLimited).times(1));
    let run = qualys
        .run_snapshot_scan()
        .await
        .unwrap_or_else(|e| panic!("after a 429: {e}"));
    assert!(run.covers(ACCOUNT));
    assert_eq!(sim.count("GET", RUN), 4);
    assert_eq!(runs(&sim, ACCOUNT), 2);

    // An answer that is not JSON is an error, not an empty run.
    sim.add_fault(FaultRule::new(format!("GET {RUN}"), FaultAction::Malformed).times(1));
    let garbled = qualys.run_snapshot_scan().await;
    assert!(matches!(garbled, Err(QualysError::Undecodable { .. })), "{garbled:?}");
}

/// Register is idempotent (a repeat answers 304): retried after a server error
/// or a lost answer, which then reads as already registered.
#[tokio::test]
async fn register_and_deregister_are_retried_safely() {
    let sim = start().await;
    aws_connector(&sim, ACCOUNT, true);
    let qualys = client(&sim);

    sim.add_fault(
        FaultRule::new(
            format!("POST {REGISTER}"),
            FaultAction::Status {
                status: 503,
                body: None,
            },
        )
        .times(1),
    );
    assert_eq!(
        qualys
            .register_service_account(&registration(ACCOUNT, "0 0 2 ? * * *"))
            .await,
        Ok(RegisterOutcome::Registered)
    );
    assert_eq!(sim.count("POST", REGISTER), 2);

    sim.add_fault(
        FaultRule::new(
            format!("DELETE {DEREGISTER}"),
            FaultAction::CommitThenFail { mode: LossMode::Drop },
        )
        .times(1),
    );
    assert_eq!(
        qualys.deregister_service_account().await,
        Ok(DeregisterOutcome::NotRegistered),
        "the lost first attempt deregistered; the repeat finds nothing"
    );
    assert_eq!(sim.count("DELETE", DEREGISTER), 2);
    assert!(sim.snapshot_accounts(&tenant(&sim)).is_empty());

    sim.add_fault(
        FaultRule::new(
            format!("POST {REGISTER}"),
            FaultAction::CommitThenFail { mode: LossMode::Drop },
        )
        .times(1),
    );
    assert_eq!(
        qualys
            .register_service_account(&registration(ACCOUNT, "0 0 2 ? * * *"))
            .await,
        Ok(RegisterOutcome::AlreadyRegistered),
        "the lost first attempt registered; the repeat is told so"
    );
    assert_eq!(sim.snapshot_accounts(&tenant(&sim)).len(), 1);
}

/// The client's validator and the simulator's reading of the Quartz syntax
/// agree: a schedule the client refuses is one the simulator answers 400 to.
#[tokio::test]
async fn client_and_simulator_agree_on_schedules() {
    let sim = start().await;
    aws_connector(&sim, ACCOUNT, true);
    sim.seed_snapshot_account(
        &tenant(&sim),
        json!({"accountId": ACCOUNT, "schedule": "0 0 2 ? * * *"}),
    )
    .unwrap_or_else(|e| panic!("seed: {e}"));
    let api = Api::new(&sim);
    let token = api.token().await;
    let schedules = [
        "0 0 2 ? * * *",
        "0 0 2 ? * *",
        "0 15 10 ? * MON-FRI 2030",
        "0 0/5 14,18 * * ?",
        "*/30 * * ? * * *",
        "0 15 10 L-2 * ?",
        "0 15 10 LW * ?",
        "0 15 10 15W * ?",
        "0 15 10 ? * FRIL",
        "0 15 10 ? * 6#3",
        "0 0 22-2 ? * FRI-MON",
        "0 0 0 ? jan-mar,JUL * 2025/2",
        "0 2 * * *",
        "0 0 2 * * * *",
        "0 0 2 ? * ? *",
        "60 0 2 ? * * *",
        "0 0 24 ? * * *",
        "0 0 2 32 * ? *",
        "0 0 2 ? 13 * *",
        "0 0 2 ? * 0 *",
        "0 0 2 ? * * 2100",
        "0 0 2 ? * * 2030-2025",
        "0 */0 2 ? * * *",
        "0 /5 2 ? * * *",
        "0 0 2 L,5 * ? *",
        "0 0 2 L-31 * ? *",
        "0 0 2 ? * MON#6 *",
        "0 0 2 ? * 9L *",
        "0 0 L ? * * *",
        "0 0 2, ? * * *",
        "0 0 2 ?,1 * * *",
        "0 0 2 ? JANUARY * *",
    ];
    for schedule in schedules {
        let body = json!({"accountId": ACCOUNT, "schedule": schedule}).to_string();
        let reply = api.bearer(&token, "POST", REGISTER, Some(&body)).await;
        let client_ok = validate_quartz_cron(schedule).is_ok();
        assert_eq!(
            reply.status != 400,
            client_ok,
            "{schedule:?}: simulator {} {}, client {:?}",
            reply.status,
            reply.body,
            validate_quartz_cron(schedule)
        );
        if client_ok {
            assert_eq!(reply.status, 304, "{schedule:?}: registered already");
        }
    }
    let refused = schedules.iter().filter(|s| validate_quartz_cron(s).is_err()).count();
    assert!(
        refused >= 15 && refused < schedules.len(),
        "both kinds are in the table"
    );
}
