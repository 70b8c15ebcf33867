//! `plan` and `apply`: the core straight from manifest files.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::progress::ProgressReporter;
use super::state::State;
use super::workspace::{AccountOptions, CliError, Connection, Workspace};
use crate::metrics::Metrics;
use crate::qualys::{Secret, Timeouts};
use crate::reconcile::account::UrlOverrides;
use crate::reconcile::execute::Applied;
use crate::reconcile::plan::{Action, ObjectPlan};

/// Output format of `plan` and `apply`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
}

/// The endpoint rule, as `--help` states it (README "Endpoints" says the same).
pub const ENDPOINT_RULE: &str = "Endpoints, per API family (QPS, gateway, CloudView), first match wins: \
the family's own flag (--gateway-url, --cloudview-url); --qualys-url; the QualysAccount's apiUrl, gatewayUrl, \
cloudviewUrl; its platform; for CloudView, the QPS URL. So --qualys-url alone sends everything to that URL. \
They are printed first, with their source. A mix of loopback/private and public hosts is refused unless \
--allow-mixed-endpoints.";

/// Arguments shared by `plan` and `apply`.
#[derive(Debug, Clone, clap::Args)]
pub struct ManifestArgs {
    /// Manifest files or directories (multi-document YAML; Secrets and QualysAccounts included).
    #[arg(short = 'f', long = "filename", required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Where created ids and sent-secret hashes are remembered between runs.
    #[arg(long, default_value = "qualys-operator.state.json")]
    pub state: PathBuf,
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// How to reach Qualys: the same flags and rules for every command.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// The QualysAccount to use when the manifests define several.
    #[arg(long)]
    pub account: Option<String>,
    /// QPS API URL. Overrides the QualysAccount's URLs and platform for every API
    /// family not given its own flag: alone, it is the QPS, gateway and CloudView URL.
    #[arg(long, env = "QUALYS_URL")]
    pub qualys_url: Option<String>,
    /// Gateway URL (org connectors, token); overrides the account and --qualys-url for the gateway.
    #[arg(long, env = "QUALYS_GATEWAY_URL")]
    pub gateway_url: Option<String>,
    /// CloudView URL (connector groups); overrides the account and --qualys-url for CloudView.
    #[arg(long, env = "QUALYS_CLOUDVIEW_URL")]
    pub cloudview_url: Option<String>,
    /// Allow the API families to resolve to a mix of loopback/private and public hosts
    /// (refused by default: that sends one run to a test server and to production).
    #[arg(long)]
    pub allow_mixed_endpoints: bool,
    /// Give up on the whole command after this long (e.g. 90s, 10m); no limit by default
    /// beyond the per-request one.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Longest one HTTP exchange with Qualys may take. A read is tried up to 4 times,
    /// so a server that never answers fails a plan after about 4 × this.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub request_timeout: Duration,
}

/// Seconds to wait for a TCP (and TLS) connection: an address that takes longer is not answering.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `90s`, `10m`, `1h`, `500ms` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration like 90s, 10m or 1h");
    if let Ok(secs) = text.trim().parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let d: jiff::SignedDuration = text.trim().parse().map_err(|_| bad())?;
    Duration::try_from(d).ok().filter(|d| !d.is_zero()).ok_or_else(bad)
}

impl ConnectionArgs {
    /// Credentials come from the environment only: never from an argument,
    /// which would show in `ps` and shell history.
    pub fn account_options(&self) -> AccountOptions {
        AccountOptions {
            account: self.account.clone(),
            overrides: UrlOverrides {
                api_url: self.qualys_url.clone(),
                gateway_url: self.gateway_url.clone(),
                cloudview_url: self.cloudview_url.clone(),
            },
            username: std::env::var("QUALYS_USERNAME").ok().filter(|s| !s.is_empty()),
            password: std::env::var("QUALYS_PASSWORD")
                .ok()
                .filter(|s| !s.is_empty())
                .map(Secret::new),
            platform_url: std::env::var("QUALYS_OPERATOR_TEST_PLATFORM_URL")
                .ok()
                .filter(|s| !s.is_empty()),
            allow_mixed_endpoints: self.allow_mixed_endpoints,
            timeouts: Some(Timeouts {
                connect: CONNECT_TIMEOUT.min(self.request_timeout),
                request: self.request_timeout,
                ..Timeouts::default()
            }),
        }
    }
}

/// The manifests loaded and the account connected; the endpoints printed.
struct Session {
    ws: Workspace,
    conn: Connection,
    metrics: Arc<Metrics>,
}

impl Session {
    fn open(args: &ManifestArgs, progress: &Arc<ProgressReporter>, metrics: Arc<Metrics>) -> Result<Self, CliError> {
        let ws = Workspace::load(&args.paths)?;
        if let Some(note) = ws.ignored_note() {
            eprintln!("{note}");
        }
        let conn = ws.connect(&args.connection.account_options(), progress.clone())?;
        progress.set_endpoints(conn.endpoints.clone());
        if args.output == Output::Text {
            print!("{}", conn.endpoints.render());
        }
        Ok(Self { ws, conn, metrics })
    }
}

/// Runs a command's work under the progress display and `--timeout`.
async fn supervised<F, Fut>(args: ManifestArgs, work: F) -> Result<ExitCode, CliError>
where
    F: FnOnce(ManifestArgs, Session) -> Fut,
    Fut: std::future::Future<Output = Result<ExitCode, CliError>>,
{
    let metrics = Metrics::new();
    let progress = ProgressReporter::new(metrics.clone());
    let limit = args.connection.timeout;
    progress
        .run(limit, async {
            let session = Session::open(&args, &progress, metrics)?;
            work(args.clone(), session).await
        })
        .await
}

/// `plan`: exit 0 when nothing would change, 2 when something would, 1 on error.
pub async fn plan(args: ManifestArgs) -> Result<ExitCode, CliError> {
    supervised(args, |args, Session { ws, conn, metrics }| async move {
        let state = State::load(&args.state)?;
        let snap = ws.observe(&conn.client, &state, &conn.state_key).await?;
        let plan = ws.plan(&snap, &state, &conn.state_key);
        match args.output {
            Output::Text => {
                print!("{}", plan.render());
                println!("Qualys API calls: {}", metrics.total_qualys_calls());
            }
            Output::Json => {
                let json = serde_json::json!({
                    "endpoints": conn.endpoints.to_json(),
                    "plan": plan,
                    "changes": !plan.is_empty(),
                    "qualysApiCalls": metrics.total_qualys_calls(),
                });
                println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
            }
        }
        Ok(if plan.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        })
    })
    .await
}

/// `apply`: execute the plan, print each action's outcome and the resulting
/// states. The state file is checked writable before the first write to
/// Qualys; if saving it fails later, what was done is still printed.
pub async fn apply(args: ManifestArgs) -> Result<ExitCode, CliError> {
    supervised(args, |args, Session { ws, conn, metrics }| async move {
        let mut state = State::load(&args.state)?;
        State::check_writable(&args.state)?;
        let snap = ws.observe(&conn.client, &state, &conn.state_key).await?;
        let run = ws
            .apply_saving(&conn.client, &snap, &mut state, &conn.state_key, &mut |s: &State| {
                s.save(&args.state)
            })
            .await;
        let after = ws.observe(&conn.client, &state, &conn.state_key).await;
        let results = &run.results;
        let failed = results
            .iter()
            .filter(|(p, a)| a.failure.is_some() || has_conflict(p))
            .count();
        let states = after
            .as_ref()
            .map(|snap| ws.states(snap, &state, &conn.state_key))
            .unwrap_or_default();
        match args.output {
            Output::Text => {
                print!("{}", render_results(results));
                if after.is_ok() {
                    print!("{}", render_states(&states));
                }
                println!("Qualys API calls: {}", metrics.total_qualys_calls());
            }
            Output::Json => {
                let items: Vec<_> = results
                    .iter()
                    .map(|(p, a)| {
                        serde_json::json!({
                            "object": p.object,
                            "ok": a.failure.is_none() && !has_conflict(p),
                            "externalId": a.external_id,
                            "log": a.log,
                            "error": a.failure.as_ref().map(ToString::to_string),
                            "conflicts": p.actions.iter().filter_map(conflict_reason).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                let json = serde_json::json!({
                    "endpoints": conn.endpoints.to_json(),
                    "results": items,
                    "stateSaved": run.save_error.is_none(),
                    "qualysApiCalls": metrics.total_qualys_calls(),
                });
                println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
            }
        }
        if let Some(e) = run.save_error {
            return Err(CliError::StateNotSaved {
                done: results.len(),
                source: e,
            });
        }
        after?;
        Ok(if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
    .await
}

fn conflict_reason(action: &Action) -> Option<String> {
    match action {
        Action::Conflict { reason } | Action::NotFound { reason } => Some(reason.clone()),
        _ => None,
    }
}

pub fn has_conflict(plan: &ObjectPlan) -> bool {
    plan.actions.iter().any(|a| conflict_reason(a).is_some())
}

pub fn render_results(results: &[(ObjectPlan, Applied)]) -> String {
    let mut out = String::new();
    for (plan, applied) in results {
        let conflicts: Vec<String> = plan.actions.iter().filter_map(conflict_reason).collect();
        if applied.log.is_empty() && plan.notes.is_empty() && applied.failure.is_none() && conflicts.is_empty() {
            continue;
        }
        out.push_str(&format!("{}\n", plan.object));
        for line in &applied.log {
            out.push_str(&format!("  ok: {line}\n"));
        }
        if let Some(e) = &applied.failure {
            out.push_str(&format!("  FAILED: {e}\n"));
        }
        for reason in conflicts {
            out.push_str(&format!("  NOT APPLIED: {reason}\n"));
        }
        for note in &plan.notes {
            out.push_str(&format!("  note: {note}\n"));
        }
    }
    out
}

pub fn render_states(states: &[(String, String, String)]) -> String {
    let width = states.iter().map(|(o, _, _)| o.len()).max().unwrap_or(6).max(6);
    let mut out = format!("{:<width$}  {:<38}  {}\n", "OBJECT", "QUALYS ID", "STATE");
    for (object, id, state) in states {
        out.push_str(&format!("{object:<width$}  {id:<38}  {state}\n"));
    }
    out
}
