//! `plan` and `apply`: the core straight from manifest files.

use std::path::PathBuf;
use std::process::ExitCode;

use super::state::State;
use super::workspace::{AccountOptions, CliError, Workspace};
use crate::metrics::Metrics;
use crate::qualys::Secret;
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

/// Arguments shared by `plan` and `apply`.
#[derive(Debug, Clone, clap::Args)]
pub struct ManifestArgs {
    /// Manifest files or directories (multi-document YAML; Secrets and QualysAccounts included).
    #[arg(short = 'f', long = "filename", required = true)]
    pub paths: Vec<PathBuf>,
    /// The QualysAccount to use when the manifests define several.
    #[arg(long)]
    pub account: Option<String>,
    /// QPS API URL (also used for the gateway and CloudView unless given).
    #[arg(long, env = "QUALYS_URL")]
    pub qualys_url: Option<String>,
    #[arg(long, env = "QUALYS_GATEWAY_URL")]
    pub gateway_url: Option<String>,
    #[arg(long, env = "QUALYS_CLOUDVIEW_URL")]
    pub cloudview_url: Option<String>,
    /// Where created ids and sent-secret hashes are remembered between runs.
    #[arg(long, default_value = "qualys-operator.state.json")]
    pub state: PathBuf,
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

impl ManifestArgs {
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
        }
    }
}

/// `plan`: exit 0 when nothing would change, 2 when something would, 1 on error.
pub async fn plan(args: ManifestArgs) -> Result<ExitCode, CliError> {
    let ws = Workspace::load(&args.paths)?;
    let metrics = Metrics::new();
    let (client, account) = ws.client(&args.account_options(), metrics.clone())?;
    let state = State::load(&args.state)?;
    let snap = ws.observe(&client).await?;
    let plan = ws.plan(&snap, &state, &account);
    match args.output {
        Output::Text => {
            print!("{}", plan.render());
            println!("Qualys API calls: {}", metrics.total_qualys_calls());
        }
        Output::Json => {
            let json = serde_json::json!({
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
}

/// `apply`: execute the plan, print each action's outcome and the resulting states.
pub async fn apply(args: ManifestArgs) -> Result<ExitCode, CliError> {
    let ws = Workspace::load(&args.paths)?;
    let metrics = Metrics::new();
    let (client, account) = ws.client(&args.account_options(), metrics.clone())?;
    let mut state = State::load(&args.state)?;
    let snap = ws.observe(&client).await?;
    let results = ws
        .apply(&client, &snap, &mut state, &account, Some(&args.state))
        .await?;
    let after = ws.observe(&client).await?;
    let failed = results
        .iter()
        .filter(|(p, a)| a.failure.is_some() || has_conflict(p))
        .count();
    match args.output {
        Output::Text => {
            print!("{}", render_results(&results));
            print!("{}", render_states(&ws.states(&after, &state, &account)));
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
            let json = serde_json::json!({"results": items, "qualysApiCalls": metrics.total_qualys_calls()});
            println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
