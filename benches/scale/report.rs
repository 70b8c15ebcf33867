//! The tables docs/benchmarks.md is made of.

use std::fmt::Write as _;
use std::process::Command;

use serde::Serialize;

use crate::Options;
use crate::cli::CliRun;
use crate::controller::ControllerRun;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub ram_mib: u64,
    pub kernel: String,
    pub load: String,
    /// `git rev-parse --short HEAD`, with `+dirty` when src/ has uncommitted changes.
    pub commit: String,
}

impl Machine {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let ram_mib = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kib| kib / 1024)
            .unwrap_or(0);
        let kernel = Command::new("uname")
            .arg("-r")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let load = std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        let git = |args: &[&str]| {
            Command::new("git")
                .args(args)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let mut commit = git(&["rev-parse", "--short", "HEAD"]);
        if !git(&["status", "--porcelain", "--", "src"]).is_empty() {
            commit.push_str("+dirty");
        }
        Machine {
            cpu,
            cores,
            ram_mib,
            kernel,
            load,
            commit,
        }
    }

    pub fn line(&self) -> String {
        format!(
            "machine: {} ({} cores), {} MiB RAM, Linux {}, load average {}; commit {}",
            self.cpu, self.cores, self.ram_mib, self.kernel, self.load, self.commit
        )
    }
}

fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.0}×", a as f64 / b as f64)
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Calls per hour at a 10-minute resync interval, from calls per interval.
fn per_hour_10m(per_interval: f64) -> f64 {
    per_interval * 6.0
}

/// The plan after apply must be empty and search-only within the expected
/// pages; the apply must not fail, throttle an outcome or duplicate; the
/// baseline ratio at 1,000 must be at least 50×.
pub fn cli_missed(r: &CliRun) -> bool {
    r.noop_objects_with_actions > 0
        || r.noop_plan.calls.writes > 0
        || r.noop_plan.calls.searches > r.expected_searches
        || !r.failures.is_empty()
        || r.throttled_outcomes > 0
        || r.holdings.duplicates > 0
        || (r.n >= 1000 && r.baseline.calls.total < 50 * r.noop_plan.calls.total)
}

pub fn controller_missed(r: &ControllerRun) -> bool {
    !r.all_ready
        || r.holdings.duplicates > 0
        || r.steady.calls.writes > 0
        || r.drift_corrected < r.drift_k
        || r.reasons_seen.contains_key("Throttled")
        || (r.n >= 5000 && r.operator_end.peak_rss_kib > 100 * 1024)
}

fn kinds_line(mix: &crate::workload::Mix) -> String {
    format!(
        "{} AWS, {} Azure, {} GCP, {} OCI, {} org, {} groups, {} global scan",
        mix.aws, mix.azure, mix.gcp, mix.oci, mix.orgs, mix.groups, mix.global_scan
    )
}

pub fn markdown(opts: &Options, machine: &Machine, load_after: &str, cli: &[CliRun], ctl: &[ControllerRun]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}; load average after: {load_after}", machine.line());
    let _ = writeln!(
        s,
        "settings: latency {} ms per call, rate limit {} calls per {} s (Qualys: per 3600 s, {}× compressed), concurrency {}, state step {} ms",
        opts.latency_ms,
        opts.rate_limit,
        opts.rate_window_sec,
        3600 / opts.rate_window_sec.max(1),
        opts.concurrency,
        opts.state_step_ms
    );
    if !cli.is_empty() {
        let _ = writeln!(s, "\n### plan / apply from manifests\n");
        let _ = writeln!(
            s,
            "| N | plan from empty | apply from empty: calls | creates | other writes | searches | gets | 409/429 on the wire | failed objects (throttled) | duplicates | wall | at 300 calls/h |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in cli {
            let creates = r.apply.calls.creates;
            let ok_apply = r.apply.calls.total - r.apply.calls.throttled;
            let _ = writeln!(
                s,
                "| {} | {} calls, {:.1} s | {} | {} | {} | {} | {} | {} | {} ({}) | {} | {:.0} s | {:.1} h |",
                r.n,
                r.plan_empty.calls.total,
                r.plan_empty.wall_s,
                r.apply.calls.total,
                creates,
                r.apply.calls.writes.saturating_sub(creates),
                r.apply.calls.searches,
                r.apply.calls.gets,
                r.apply.calls.throttled,
                r.failures.len(),
                r.throttled_outcomes,
                r.holdings.duplicates,
                r.apply.wall_s,
                ok_apply as f64 / 300.0
            );
        }
        let _ = writeln!(s, "\n### no-change plan after apply\n");
        let _ = writeln!(
            s,
            "| N | objects | calls | searches (target ≤ Σ ceil(n/100)) | org reads | writes | objects with actions | wall |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for r in cli {
            let c = &r.noop_plan.calls;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} ({}) | {} | {} | {} | {:.2} s |",
                r.n,
                kinds_line(&r.mix),
                c.total,
                c.searches,
                r.expected_searches,
                c.gets,
                c.writes,
                r.noop_objects_with_actions,
                r.noop_plan.wall_s
            );
        }
        let _ = writeln!(s, "\nsearches per kind in the no-change plan (actual / expected):\n");
        let _ = writeln!(
            s,
            "| N | AWS | Azure | GCP | OCI | org (list+get+members) | groups | global scan |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for r in cli {
            let c = &r.noop_plan.calls;
            let get = |k: &str| c.searches_by_kind.get(k).copied().unwrap_or(0);
            let exp = |k: &str| r.expected_observe.get(k).copied().unwrap_or(0);
            let org_actual = get("AzureOrgConnector") + c.gets;
            let _ = writeln!(
                s,
                "| {} | {}/{} | {}/{} | {}/{} | {}/{} | {}/{} | {}/{} | {}/{} |",
                r.n,
                get("AwsConnector"),
                exp("AwsConnector"),
                get("AzureConnector"),
                exp("AzureConnector"),
                get("GcpConnector"),
                exp("GcpConnector"),
                get("OciConnector"),
                exp("OciConnector"),
                org_actual,
                exp("AzureOrgConnector"),
                get("ConnectorGroup"),
                exp("ConnectorGroup"),
                get("GlobalScanConfiguration"),
                exp("GlobalScanConfiguration"),
            );
        }
        let _ = writeln!(s, "\n### per-object GET baseline vs batched observation (one resync)\n");
        let _ = writeln!(
            s,
            "| N | baseline: calls per resync | wall | ours: calls per resync | wall | ratio | baseline calls/h at 10-min resync | ours calls/h at 10-min resync | budget |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
        for r in cli {
            let b = r.baseline.calls.total - r.baseline.calls.throttled;
            let o = r.noop_plan.calls.total - r.noop_plan.calls.throttled;
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} s | {} | {:.2} s | {} | {:.0} | {:.0} | 300/h |",
                r.n,
                b,
                r.baseline.wall_s,
                o,
                r.noop_plan.wall_s,
                ratio(b, o),
                per_hour_10m(b as f64),
                per_hour_10m(o as f64)
            );
        }
    }
    if !ctl.is_empty() {
        let _ = writeln!(s, "\n### controller (`qualys-operator run`) on a real kube-apiserver\n");
        let _ = writeln!(
            s,
            "| N | create in k8s | apply → all Ready | calls | creates | other writes | gets | searches | 409/429 on the wire | objects ever Throttled | duplicates | operator peak RSS | operator CPU (converge) | apiserver / etcd CPU (converge) |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in ctl {
            let c = &r.converge.calls;
            let creates = c.creates;
            let _ = writeln!(
                s,
                "| {} | {:.0} s | {:.0} s{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s | {:.0} s / {:.0} s |",
                r.n,
                r.create_s,
                r.converge.wall_s,
                if r.all_ready { "" } else { " (timed out)" },
                c.total,
                creates,
                c.writes.saturating_sub(creates),
                c.gets,
                c.searches,
                c.throttled,
                r.reasons_seen.get("Throttled").copied().unwrap_or(0),
                r.holdings.duplicates,
                mib(r.operator_end.peak_rss_kib),
                r.operator_converge.cpu_s,
                r.control_plane_converge_cpu_s
                    .get("kube-apiserver")
                    .copied()
                    .unwrap_or(0.0),
                r.control_plane_converge_cpu_s.get("etcd").copied().unwrap_or(0.0),
            );
        }
        let _ = writeln!(s, "\n### controller steady state (no drift) and drift correction\n");
        let _ = writeln!(
            s,
            "| N | resync | window | calls | searches | gets | writes | calls per resync (target searches ≤ Σ ceil(n/100)) | calls/h at this resync | calls/h at 10-min resync | operator CPU in window | drift k | calls to correct (writes + gets) | searches in drift window | time to correct |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in ctl {
            let c = &r.steady.calls;
            let per_interval = c.total as f64 / r.steady_intervals.max(1e-9);
            let _ = writeln!(
                s,
                "| {} | {} s | {:.0} s | {} | {} | {} | {} | {:.1} ({}) | {:.0} | {:.0} | {:.2} s | {} | {} + {} | {} | {:.0} s |",
                r.n,
                r.resync_s,
                r.steady.wall_s,
                c.total,
                c.searches,
                c.gets,
                c.writes,
                per_interval,
                r.expected_searches_per_interval,
                per_interval * 3600.0 / r.resync_s as f64,
                per_hour_10m(per_interval),
                r.operator_steady_cpu_s,
                r.drift_k,
                r.drift.calls.writes,
                r.drift.calls.gets,
                r.drift.calls.searches,
                r.drift.wall_s,
            );
        }
        let _ = writeln!(s, "\n### the budget: the operator's share as a cap (issue 17)\n");
        let _ = writeln!(
            s,
            "| N | share per window | calls per object to converge | apply → all Ready ÷ (N ÷ share) | steady calls/h vs share/h (wall clock) | effective resync (status) | saturated: budget/h, used/h (searches, gets, writes) | spec change → Qualys: median, max |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for r in ctl {
            let b = &r.budget;
            let share_per_hour = b.share_per_window * 3600.0 / opts.rate_window_sec.max(1) as f64;
            let per_hour = |p: &crate::cli::Phase| p.calls.total as f64 * 3600.0 / p.wall_s.max(1e-9);
            let mut changes = b.spec_change_s.clone();
            changes.sort_by(f64::total_cmp);
            let median = changes.get(changes.len() / 2).copied().unwrap_or(f64::NAN);
            let max = changes.last().copied().unwrap_or(f64::NAN);
            let c = &b.saturated.calls;
            let _ = writeln!(
                s,
                "| {} | {:.0} calls / {} s | {:.3} | {:.2} ({:.0} s ÷ {:.0} s) | {:.0} vs {:.0} | {} | {} / {:.0} ({}, {}, {}) | {:.2} s, {:.2} s |",
                r.n,
                b.share_per_window,
                opts.rate_window_sec,
                r.converge.calls.total as f64 / r.n.max(1) as f64,
                r.converge.wall_s / b.physical_s.max(1e-9),
                r.converge.wall_s,
                b.physical_s,
                per_hour(&r.steady),
                share_per_hour,
                b.status_steady["effectiveResyncInterval"].as_str().unwrap_or("?"),
                b.saturated_calls_per_hour,
                per_hour(&b.saturated),
                c.searches,
                c.gets,
                c.writes,
                median,
                max,
            );
        }
        let _ = writeln!(
            s,
            "\nReady reasons seen during convergence (objects) and Warning events:\n"
        );
        for r in ctl {
            let _ = writeln!(
                s,
                "- N = {}{}: reasons {:?}; warnings {:?}; operator VmHWM {}, VmRSS after the steady window {}",
                r.n,
                if r.operator_env.is_empty() {
                    String::new()
                } else {
                    format!(" (operator env {})", r.operator_env.join(" "))
                },
                r.reasons_seen,
                r.warning_events,
                mib(r.operator_end.peak_rss_kib),
                mib(r.operator_steady_rss_kib)
            );
        }
    }
    s
}
