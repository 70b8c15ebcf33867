//! Everything a simulator can be started with. `SimConfig::default()` is tuned for
//! tests (generous limits, instant state transitions); the CLI flags default to what
//! Qualys documents.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::faults::FaultRule;

/// One account that can log in. Accounts are separate tenants unless two share a
/// `tenant` name (Qualys scopes connectors by subscription, and a user of the same
/// subscription sees the same connectors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSpec {
    pub name: String,
    pub password: String,
    /// Subscription the user belongs to; defaults to the user name.
    #[serde(default)]
    pub tenant: Option<String>,
}

impl UserSpec {
    pub fn new(name: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            password: password.into(),
            tenant: None,
        }
    }

    pub fn tenant(&self) -> &str {
        self.tenant.as_deref().unwrap_or(&self.name)
    }
}

/// Per-user call budget, as the `X-RateLimit-*` and `X-Concurrency-*` headers describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitConfig {
    /// Calls allowed per window and user.
    pub limit: u32,
    /// Window length in seconds.
    pub window_sec: u64,
    /// Calls a user may have in flight at once.
    pub concurrency: u32,
    /// The gateway sends its rate headers with empty values (seen in the field).
    #[serde(default)]
    pub gateway_empty_headers: bool,
}

impl RateLimitConfig {
    /// What Qualys documents and uses by default: 300 calls an hour, 2 at a time.
    pub fn documented() -> Self {
        Self {
            limit: 300,
            window_sec: 3600,
            concurrency: 2,
            gateway_empty_headers: false,
        }
    }

    /// Large enough that tests and the demo never meet it.
    pub fn generous() -> Self {
        Self {
            limit: 1_000_000,
            window_sec: 3600,
            concurrency: 1_000,
            gateway_empty_headers: false,
        }
    }
}

/// What read responses show of write-only secrets (Azure `authenticationKey`, OCI
/// `privateKey`/`passphrase`, GCP key file). The docs disagree (quirk Q-SEM-9): AM&T 2.0
/// says "never replayed", 3.0 samples echo the Azure key, sometimes masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "camelCase")]
pub enum SecretEcho {
    #[default]
    Never,
    Masked,
    Verbatim,
}

/// The Qualys-side AWS accounts that customer roles trust (`qualysAwsAccountId`, base account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsBaseAccounts {
    pub global: String,
    pub gov: String,
    pub china: String,
}

impl Default for AwsBaseAccounts {
    fn default() -> Self {
        Self {
            global: "205767712438".into(),
            gov: "011234567917".into(),
            china: "011234568917".into(),
        }
    }
}

/// How a simulator is started.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to bind; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Accounts; empty means a single `demo:demo`.
    pub users: Vec<UserSpec>,
    pub rate_limit: RateLimitConfig,
    /// Time each connector state (QUEUED, RUNNING, PROCESSING) lasts before the next.
    pub state_step: Duration,
    /// Time an Azure org test-connection job takes to complete.
    pub job_delay: Duration,
    /// Lifetime of gateway JWTs.
    pub token_ttl: Duration,
    pub secret_echo: SecretEcho,
    /// Element name used for each app list in responses (`ConnectorAppInfoQList` in most
    /// samples, `ConnectorAppInfoQLList` in the parameter tables).
    pub app_info_list_name: String,
    pub aws_base_accounts: AwsBaseAccounts,
    /// Management groups a test-connection job finds for any Azure tenant not configured
    /// otherwise through the admin API.
    pub default_management_groups: Vec<String>,
    /// Faults active from the start.
    pub faults: Vec<FaultRule>,
    /// Seed of the random draws behind probabilistic faults.
    pub seed: u64,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            users: Vec::new(),
            rate_limit: RateLimitConfig::generous(),
            state_step: Duration::ZERO,
            job_delay: Duration::ZERO,
            token_ttl: Duration::from_secs(4 * 3600),
            secret_echo: SecretEcho::Never,
            app_info_list_name: "ConnectorAppInfoQList".into(),
            aws_base_accounts: AwsBaseAccounts::default(),
            default_management_groups: vec![
                "Tenant Root Group".into(),
                "TestingManagementGroup".into(),
                "Production".into(),
                "Development".into(),
            ],
            faults: Vec::new(),
            seed: 0x5EED,
            max_body_bytes: 8 * 1024 * 1024,
        }
    }
}

impl SimConfig {
    /// The configured users, or the single demo account.
    pub fn effective_users(&self) -> Vec<UserSpec> {
        if self.users.is_empty() {
            // The API user, and a second user of the same subscription whose
            // CloudView scope the examples manage.
            vec![
                UserSpec::new("demo", "demo"),
                UserSpec {
                    tenant: Some("demo".into()),
                    ..UserSpec::new("demo_analyst", "demo_analyst")
                },
            ]
        } else {
            self.users.clone()
        }
    }
}
