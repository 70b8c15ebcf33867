//! The selected QualysAccount → its endpoints (one rule for every command),
//! credentials and client.

use std::sync::Arc;

use super::{CliError, Workspace};
use crate::cli::endpoints::ShownEndpoints;
use crate::crd::QualysAccountSpec;
use crate::metrics::Metrics;
use crate::qualys::{CallObserver, QualysClient, Secret, Timeouts};
use crate::reconcile::account::{UrlOverrides, account_endpoints, config_for};

/// How to reach Qualys when the manifests do not say, or to override them.
#[derive(Debug, Clone, Default)]
pub struct AccountOptions {
    /// Which QualysAccount of the manifests to use.
    pub account: Option<String>,
    pub overrides: UrlOverrides,
    /// From `QUALYS_USERNAME` / `QUALYS_PASSWORD`, never from arguments.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Test-only stand-in for every platform table URL
    /// (`QUALYS_OPERATOR_TEST_PLATFORM_URL`), so tests can prove it stays unused.
    pub platform_url: Option<String>,
    /// Accept endpoints that mix loopback/private and public hosts.
    pub allow_mixed_endpoints: bool,
    /// Client time limits; `None` keeps the client's defaults.
    pub timeouts: Option<Timeouts>,
}

/// A client for the selected account and what the run will talk to.
pub struct Connection {
    pub client: QualysClient,
    /// The key of the account's entries in the state file (its QPS URL).
    pub state_key: String,
    pub endpoints: ShownEndpoints,
}

/// A spec for runs without a QualysAccount: every URL comes from the command line.
fn bare_account_spec() -> QualysAccountSpec {
    QualysAccountSpec {
        platform: None,
        api_url: None,
        gateway_url: None,
        cloudview_url: None,
        cloudview_auth: Default::default(),
        qps_format: Default::default(),
        credentials_secret_ref: crate::crd::account::CredentialsRef {
            name: String::new(),
            username_key: String::new(),
            password_key: String::new(),
        },
        // Every URL comes from the command line, which is the opt-in (and
        // the endpoints are printed before any call).
        allow_insecure_http: true,
        budget: None,
    }
}

impl Workspace {
    /// The client for the selected account, and the account's state key.
    pub fn client(&self, options: &AccountOptions, metrics: Arc<Metrics>) -> Result<(QualysClient, String), CliError> {
        let c = self.connect(options, metrics)?;
        Ok((c.client, c.state_key))
    }

    /// The selected account's endpoints (under the one endpoint rule, refused
    /// when they mix private and public hosts), credentials and client.
    pub fn connect(&self, options: &AccountOptions, observer: Arc<dyn CallObserver>) -> Result<Connection, CliError> {
        let chosen = self.chosen_account(options)?;
        let (account_name, spec, from_secret) = match chosen {
            Some((name, spec)) => {
                let creds = self
                    .inputs
                    .secrets
                    .iter()
                    .find(|((_, secret), _)| *secret == spec.credentials_secret_ref.name)
                    .map(|(_, keys)| {
                        (
                            keys.get(&spec.credentials_secret_ref.username_key)
                                .map(|s| s.expose().to_string()),
                            keys.get(&spec.credentials_secret_ref.password_key).cloned(),
                        )
                    });
                (Some(name), spec, creds)
            }
            None => {
                if options.overrides.api_url.is_none() {
                    return Err(CliError::Account(
                        "no QualysAccount in the manifests: pass --qualys-url (it stands for the gateway and \
                         CloudView too unless --gateway-url / --cloudview-url say otherwise)"
                            .into(),
                    ));
                }
                (None, bare_account_spec(), None)
            }
        };
        let endpoints = account_endpoints(&spec, &options.overrides, options.platform_url.as_deref())
            .map_err(|e| CliError::Account(e.to_string()))?;
        if !options.allow_mixed_endpoints {
            endpoints
                .check_not_mixed()
                .map_err(|e| CliError::Account(e.to_string()))?;
        }
        let (secret_user, secret_pass) = from_secret.unwrap_or((None, None));
        // Where the account says the credentials are, for the message when they are not.
        let wanted = |key: &str| match &account_name {
            Some(name) => format!(
                "QualysAccount {name} reads it from Secret {} key {key:?}, which is not in the manifests",
                spec.credentials_secret_ref.name
            ),
            None => "there is no QualysAccount".into(),
        };
        let username = options.username.clone().or(secret_user).ok_or_else(|| {
            CliError::Account(format!(
                "no Qualys username: set QUALYS_USERNAME ({})",
                wanted(&spec.credentials_secret_ref.username_key)
            ))
        })?;
        let password = options.password.clone().or(secret_pass).ok_or_else(|| {
            CliError::Account(format!(
                "no Qualys password: set QUALYS_PASSWORD ({})",
                wanted(&spec.credentials_secret_ref.password_key)
            ))
        })?;
        let mut config =
            config_for(&spec, &endpoints, username, password).map_err(|e| CliError::Account(e.to_string()))?;
        if let Some(timeouts) = &options.timeouts {
            config.timeouts = timeouts.clone();
        }
        let state_key = config.api_url.clone();
        let client = QualysClient::builder(config)
            .observer(observer)
            .build()
            .map_err(|e| CliError::Account(e.to_string()))?;
        Ok(Connection {
            client,
            state_key,
            endpoints: ShownEndpoints {
                endpoints,
                account: account_name,
                platform_overridden: options.platform_url.is_some(),
            },
        })
    }

    /// The QualysAccount the options select, if the manifests have one.
    pub fn chosen_account(&self, options: &AccountOptions) -> Result<Option<(String, QualysAccountSpec)>, CliError> {
        let list = self.accounts.as_slice();
        let names = || list.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
        match (&options.account, list) {
            (Some(name), _) => list.iter().find(|(n, _)| n == name).cloned().map(Some).ok_or_else(|| {
                CliError::Account(format!(
                    "--account {name}: no QualysAccount of that name in the manifests (found: {})",
                    names()
                ))
            }),
            (None, []) => Ok(None),
            (None, [one]) => Ok(Some(one.clone())),
            (None, many) => Err(CliError::Account(format!(
                "the manifests define {} QualysAccounts ({}); choose one with --account",
                many.len(),
                names()
            ))),
        }
    }
}
