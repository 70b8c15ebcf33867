//! Part 1 (`plan` / `apply` from manifests, the CLI's engine in-process) and
//! part 2 (the per-object GET baseline), against one simulator per size.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde::Serialize;

use qualys_operator::cli::state::State;
use qualys_operator::cli::workspace::{AccountOptions, Workspace};
use qualys_operator::metrics::Metrics;
use qualys_operator::qualys::QualysClient;
use qualys_operator::reconcile::object::Kind;
use qualys_operator::reconcile::plan::{Action, Plan};
use qualys_operator::simulator::SimHandle;

use crate::Options;
use crate::sim::{self, Calls, Holdings};
use crate::workload::{Mix, Workload};

/// Calls and wall time of one phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phase {
    pub calls: Calls,
    pub wall_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CliRun {
    pub n: usize,
    pub mix: Mix,
    /// `plan` against an empty Qualys.
    pub plan_empty: Phase,
    pub planned_creates: usize,
    /// `apply` from empty: observe, execute every plan, observe again (what the CLI does).
    pub apply: Phase,
    /// Objects whose apply failed or conflicted, with the reason.
    pub failures: Vec<String>,
    /// Of those, failures that were a throttle (409/429) reaching the object.
    pub throttled_outcomes: usize,
    pub created: usize,
    /// `plan` right after: must be empty.
    pub noop_plan: Phase,
    pub noop_objects_with_actions: usize,
    /// Listing calls one observation should take, per kind.
    pub expected_observe: BTreeMap<String, u64>,
    pub expected_searches: u64,
    pub holdings: Holdings,
    /// One GET per object: what per-object operators spend per resync.
    pub baseline: Phase,
    pub baseline_errors: usize,
}

fn client(ws: &Workspace) -> (QualysClient, String) {
    ws.client(&AccountOptions::default(), Metrics::new())
        .unwrap_or_else(|e| panic!("client: {e}"))
}

fn secs(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

/// `plan` with fresh counters and rate budget: the plan and what it cost.
async fn measured_plan(sim: &SimHandle, opts: &Options, ws: &Workspace, state: &State) -> (Plan, Phase) {
    sim.reset_counters();
    sim::fresh_budget(sim, opts);
    let (c, account) = client(ws);
    let t = Instant::now();
    let snap = ws
        .observe(&c, state, &account)
        .await
        .unwrap_or_else(|e| panic!("observe: {e}"));
    let plan = ws.plan(&snap, state, &account);
    let phase = Phase {
        wall_s: secs(t),
        calls: Calls::of(sim),
    };
    (plan, phase)
}

pub async fn run(opts: &Options, n: usize) -> CliRun {
    let sim = sim::start(opts).await;
    let workload = Workload::generate(n, opts.groups, "bench", &sim.base_url());
    let mix = workload.mix;
    let ws = Workspace::from_documents(workload.documents()).unwrap_or_else(|e| panic!("workspace: {e}"));
    let mut state = State::default();
    eprintln!("[cli n={n}] {} objects ({mix:?})", ws.objects.len());

    let (plan, plan_empty) = measured_plan(&sim, opts, &ws, &state).await;
    let planned_creates = plan
        .objects
        .iter()
        .filter(|p| p.actions.iter().any(|a| matches!(a, Action::Create { .. })))
        .count();
    eprintln!(
        "[cli n={n}] plan from empty: {:.1}s, {} calls",
        plan_empty.wall_s, plan_empty.calls.total
    );

    // apply from empty, as `qualys-operator apply` does it
    sim.reset_counters();
    sim::fresh_budget(&sim, opts);
    let (c, account) = client(&ws);
    let t = Instant::now();
    let snap = ws
        .observe(&c, &state, &account)
        .await
        .unwrap_or_else(|e| panic!("observe: {e}"));
    let results = ws
        .apply(&c, &snap, &mut state, &account, None)
        .await
        .unwrap_or_else(|e| panic!("apply: {e}"));
    let _after = ws
        .observe(&c, &state, &account)
        .await
        .unwrap_or_else(|e| panic!("observe after apply: {e}"));
    let apply = Phase {
        wall_s: secs(t),
        calls: Calls::of(&sim),
    };
    let mut failures = Vec::new();
    let mut throttled_outcomes = 0;
    let mut created = 0;
    for (plan, applied) in &results {
        created += usize::from(applied.created);
        if let Some(f) = &applied.failure {
            if f.category() == "rate_limited" {
                throttled_outcomes += 1;
            }
            failures.push(format!("{}: {f}", plan.object));
        }
        for a in &plan.actions {
            if let Action::Conflict { reason } | Action::NotFound { reason } = a {
                failures.push(format!("{}: {reason}", plan.object));
            }
        }
    }
    eprintln!(
        "[cli n={n}] apply from empty: {:.1}s, {} calls ({} created, {} failures)",
        apply.wall_s,
        apply.calls.total,
        created,
        failures.len()
    );
    for f in failures.iter().take(5) {
        eprintln!("    {f}");
    }

    let (plan, noop_plan) = measured_plan(&sim, opts, &ws, &state).await;
    let noop_objects_with_actions = plan.objects.iter().filter(|p| !p.is_noop()).count();
    if noop_objects_with_actions > 0 {
        eprintln!("[cli n={n}] the plan after apply is not empty:\n{}", plan.render());
    }
    eprintln!(
        "[cli n={n}] no-change plan: {:.2}s, {} calls",
        noop_plan.wall_s, noop_plan.calls.total
    );

    let holdings = sim::holdings(&sim);

    // baseline: one GET per object
    sim.reset_counters();
    sim::fresh_budget(&sim, opts);
    let (c, account) = client(&ws);
    let targets: Vec<(Kind, String)> = ws
        .objects
        .iter()
        .filter_map(|o| {
            let kind = Kind::from_kind_name(o["kind"].as_str()?)?;
            let reference = format!(
                "{}/{}/{}",
                o["kind"].as_str()?,
                o["metadata"]["namespace"].as_str()?,
                o["metadata"]["name"].as_str()?
            );
            let id = state.entry(&account, &reference)?.external_id.clone()?;
            Some((kind, id))
        })
        .collect();
    let t = Instant::now();
    let c = Arc::new(c);
    let errors = futures::stream::iter(targets)
        .map(|(kind, id)| {
            let c = c.clone();
            async move { get_one(&c, kind, &id).await }
        })
        .buffer_unordered(opts.concurrency.max(1) as usize)
        .filter(|ok| futures::future::ready(!ok))
        .count()
        .await;
    let baseline = Phase {
        wall_s: secs(t),
        calls: Calls::of(&sim),
    };
    eprintln!(
        "[cli n={n}] baseline (one GET per object): {:.1}s, {} calls, {errors} errors",
        baseline.wall_s, baseline.calls.total
    );

    sim.shutdown().await;
    CliRun {
        n,
        mix,
        plan_empty,
        planned_creates,
        apply,
        failures,
        throttled_outcomes,
        created,
        noop_plan,
        noop_objects_with_actions,
        expected_observe: sim::expected_observe(&mix),
        expected_searches: sim::expected_searches(&mix),
        holdings,
        baseline,
        baseline_errors: errors,
    }
}

/// What a per-object operator does each resync: read the one object it manages.
async fn get_one(client: &QualysClient, kind: Kind, id: &str) -> bool {
    let result = match kind.cloud() {
        Some(cloud) => client.get_connector(cloud, id).await.map(drop),
        None => match kind {
            Kind::AzureOrg => client.get_org_connector(id).await.map(drop),
            Kind::Group => client.get_group(id).await.map(drop),
            _ => client.get_global_scan_config().await.map(drop),
        },
    };
    if let Err(e) = &result {
        eprintln!("    baseline GET {kind:?} {id}: {e}");
    }
    result.is_ok()
}
