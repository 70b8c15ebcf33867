//! A local Qualys: QPS 3.0, gateway and CloudView v1 on one listener, with
//! Qualys' documented quirks, rate limits and injectable faults.
//!
//! Written from `shared/qualys-api/` alone, independently of [`crate::qualys`], so that
//! disagreements between the client and the documentation show up as test failures.
//! See `docs/simulator.md`.

mod admin;
mod auth;
mod clock;
mod cloudview;
mod config;
mod counters;
mod error;
mod faults;
mod gateway;
mod http;
mod qps;
mod ratelimit;
mod server;
mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub use cloudview::reports::FixedFieldChange;
pub use cloudview::scope::UserScopeGrants;
pub use config::{AwsBaseAccounts, RateLimitConfig, SecretEcho, SimConfig, UserSpec};
pub use counters::Counter;
pub use error::SimError;
pub use faults::{FaultAction, FaultFile, FaultRule, LossMode};
pub use gateway::snapshot::{ScanTag, SnapshotAccount};
pub use server::{SimHandle, Simulator};
pub use state::{AzureTenant, CloudKind, Connector};

/// Arguments of `qualys-operator simulator`.
#[derive(Debug, clap::Args)]
pub struct SimulatorArgs {
    /// Address to listen on (QPS, gateway and CloudView share it).
    #[arg(long, default_value = "127.0.0.1:8080", env = "QUALYS_SIM_LISTEN")]
    pub listen: SocketAddr,
    /// An account, as NAME:PASSWORD (repeatable). Each account is its own subscription.
    /// Without any, a single demo:demo account is created.
    #[arg(long = "user", value_name = "NAME:PASSWORD", value_parser = parse_user)]
    pub users: Vec<UserSpec>,
    /// Calls allowed per user and window (Qualys' documented default: 300).
    #[arg(long, default_value_t = 300)]
    pub rate_limit: u32,
    /// Length of the rate-limit window, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub rate_window_sec: u64,
    /// Calls a user may have in flight at once (Qualys: about 2).
    #[arg(long, default_value_t = 2)]
    pub concurrency: u32,
    /// Turn rate limiting off (a budget no client will reach).
    #[arg(long)]
    pub no_rate_limit: bool,
    /// Send the gateway's rate-limit headers with empty values (seen in the field).
    #[arg(long)]
    pub gateway_empty_rate_headers: bool,
    /// How long each connector state (QUEUED, RUNNING, PROCESSING) lasts, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub state_step_ms: u64,
    /// How long an Azure org test-connection job takes, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub job_delay_ms: u64,
    /// Lifetime of gateway tokens from POST /auth, in seconds.
    #[arg(long, default_value_t = 4 * 3600)]
    pub token_ttl_sec: u64,
    /// What reads show of write-only secrets.
    #[arg(long, value_enum, default_value_t = SecretEcho::Never)]
    pub secret_echo: SecretEcho,
    /// Element name of each app list in responses.
    #[arg(long, default_value = "ConnectorAppInfoQList")]
    pub app_info_list_name: String,
    /// Fault rules to start with (JSON or YAML; see docs/simulator.md).
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
    /// Seed for probabilistic faults.
    #[arg(long)]
    pub seed: Option<u64>,
}

fn parse_user(s: &str) -> Result<UserSpec, String> {
    match s.split_once(':') {
        Some((name, password)) if !name.is_empty() && !password.is_empty() => Ok(UserSpec::new(name, password)),
        _ => Err(format!("expected NAME:PASSWORD, got {s:?}")),
    }
}

impl SimulatorArgs {
    /// The configuration these flags describe.
    pub fn to_config(&self) -> Result<SimConfig, FaultFileError> {
        let mut config = SimConfig {
            listen: self.listen,
            users: self.users.clone(),
            rate_limit: if self.no_rate_limit {
                RateLimitConfig::generous()
            } else {
                RateLimitConfig {
                    limit: self.rate_limit,
                    window_sec: self.rate_window_sec,
                    concurrency: self.concurrency,
                    gateway_empty_headers: false,
                }
            },
            state_step: Duration::from_millis(self.state_step_ms),
            job_delay: Duration::from_millis(self.job_delay_ms),
            token_ttl: Duration::from_secs(self.token_ttl_sec),
            secret_echo: self.secret_echo,
            app_info_list_name: self.app_info_list_name.clone(),
            ..SimConfig::default()
        };
        config.rate_limit.gateway_empty_headers = self.gateway_empty_rate_headers;
        if let Some(path) = &self.faults {
            let file = FaultFile::load(path)?;
            config.faults = file.faults;
            if let Some(seed) = file.seed {
                config.seed = seed;
            }
        }
        if let Some(seed) = self.seed {
            config.seed = seed;
        }
        Ok(config)
    }
}

pub use faults::FaultFileError;

/// Serve the simulator until interrupted.
pub fn serve_cli(args: SimulatorArgs) -> ExitCode {
    let config = match args.to_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .try_init();
        let fault_count = config.faults.len();
        let handle = match Simulator::start(config).await {
            Ok(handle) => handle,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let base = handle.base_url();
        println!("Qualys simulator listening on {base}");
        println!("  QPS:        {base}/qps/rest/3.0/...   (HTTP Basic)");
        println!("  gateway:    {base}/auth, {base}/connectors/v1.0/...   (Bearer JWT)");
        println!("  CloudView:  {base}/cloudview-api/rest/v1/...   (Basic or Bearer)");
        println!("  admin:      {base}/_sim/state, /_sim/counters, /_sim/faults, ...");
        for user in handle.users() {
            println!("  user:       {}:{}", user.name, user.password);
        }
        if fault_count > 0 {
            println!("  faults:     {fault_count} rule(s) active");
        }
        wait_for_stop_signal().await;
        println!("shutting down");
        handle.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Ctrl-C, or SIGTERM (how containers and process supervisors stop a server).
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
            Err(e) => eprintln!("warning: cannot watch SIGTERM: {e}"),
        }
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for Ctrl-C: {e}");
    }
}
