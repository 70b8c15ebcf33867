//! `QualysAccount` references → Qualys clients. One client per account, kept
//! while neither the account nor its Secret changes, so its rate governor and
//! gateway token survive across reconciles.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret as KubeSecret;
use kube::{Api, Client};
use tokio::sync::Mutex;

use crate::crd::QualysAccount;
use crate::metrics::Metrics;
use crate::qualys::fence::WriteFence;
use crate::qualys::{QualysClient, Secret};
use crate::reconcile::account::{UrlOverrides, account_config};

/// Why an account could not be used. Never carries a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("no accountRef and the operator has no default account (--default-account)")]
    NoAccount,
    #[error("QualysAccount {0} not found")]
    Missing(String),
    #[error("Secret {secret} of QualysAccount {account} is missing key {key:?} (or the Secret does not exist)")]
    MissingCredential {
        account: String,
        secret: String,
        key: String,
    },
    #[error("QualysAccount {account}: {message}")]
    Invalid { account: String, message: String },
    #[error("reading QualysAccount {account}: {message}")]
    Kube { account: String, message: String },
}

/// A usable account: its client and the key that names it (`namespace/name`).
#[derive(Debug, Clone)]
pub struct ResolvedAccount {
    pub key: String,
    pub client: QualysClient,
    /// `spec.budget`: the operator's share of the user's rate limit.
    pub budget: Option<crate::crd::account::Budget>,
}

pub struct AccountRegistry {
    client: Client,
    default: Option<(String, String)>,
    overrides: UrlOverrides,
    metrics: Arc<Metrics>,
    /// Every Qualys client's writes pass the leader fence.
    fence: Arc<dyn WriteFence>,
    /// `--qualys-request-timeout`, for every account's client.
    request_timeout: Option<std::time::Duration>,
    cache: Mutex<HashMap<String, (String, QualysClient)>>,
}

impl AccountRegistry {
    pub fn new(
        client: Client,
        default: Option<(String, String)>,
        overrides: UrlOverrides,
        metrics: Arc<Metrics>,
        fence: Arc<dyn WriteFence>,
    ) -> Self {
        Self {
            client,
            default,
            overrides,
            metrics,
            fence,
            request_timeout: None,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn with_request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Which account an object in `namespace` uses.
    pub fn account_for(&self, namespace: &str, account_ref: Option<&str>) -> Result<(String, String), AccountError> {
        match account_ref {
            Some(name) => Ok((namespace.to_string(), name.to_string())),
            None => self.default.clone().ok_or(AccountError::NoAccount),
        }
    }

    /// The client for `namespace/name`, rebuilt only when the account or its Secret changed.
    pub async fn resolve(&self, namespace: &str, name: &str) -> Result<ResolvedAccount, AccountError> {
        let key = format!("{namespace}/{name}");
        let kube_err = |e: kube::Error| AccountError::Kube {
            account: key.clone(),
            message: e.to_string(),
        };
        let account = Api::<QualysAccount>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(kube_err)?
            .ok_or_else(|| AccountError::Missing(key.clone()))?;
        // URLs from --qualys-url-override replace the account's (an operator
        // flag is its own opt-in); the account's own must be safe to use.
        if self.overrides.api_url.is_none()
            && let Some(problem) = account.spec.url_problem()
        {
            return Err(AccountError::Invalid {
                account: key.clone(),
                message: problem,
            });
        }
        let creds = &account.spec.credentials_secret_ref;
        let secret = Api::<KubeSecret>::namespaced(self.client.clone(), namespace)
            .get_opt(&creds.name)
            .await
            .map_err(kube_err)?;
        let value = |k: &str| -> Result<String, AccountError> {
            secret
                .as_ref()
                .and_then(|s| s.data.as_ref())
                .and_then(|d| d.get(k))
                .and_then(|b| String::from_utf8(b.0.clone()).ok())
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| AccountError::MissingCredential {
                    account: key.clone(),
                    secret: creds.name.clone(),
                    key: k.to_string(),
                })
        };
        let username = value(&creds.username_key)?;
        let password = Secret::new(value(&creds.password_key)?);
        let fingerprint = format!(
            "{}/{}",
            account.metadata.resource_version.clone().unwrap_or_default(),
            secret
                .as_ref()
                .and_then(|s| s.metadata.resource_version.clone())
                .unwrap_or_default()
        );
        let mut cache = self.cache.lock().await;
        // The operator's share is the governor's to keep, not a wish.
        let share = Some(super::budget::share_setting(account.spec.budget.as_ref()));
        if let Some((seen, client)) = cache.get(&key)
            && *seen == fingerprint
        {
            client.governor().share().set(share);
            return Ok(ResolvedAccount {
                key,
                client: client.clone(),
                budget: account.spec.budget.clone(),
            });
        }
        let mut config =
            account_config(&account.spec, username, password, &self.overrides).map_err(|e| AccountError::Invalid {
                account: key.clone(),
                message: e.to_string(),
            })?;
        if let Some(timeout) = self.request_timeout {
            config.timeouts.request = timeout;
        }
        let client = QualysClient::builder(config)
            .observer(self.metrics.clone())
            .fence(self.fence.clone())
            .build()
            .map_err(|e| AccountError::Invalid {
                account: key.clone(),
                message: e.to_string(),
            })?;
        client.governor().share().set(share);
        cache.insert(key.clone(), (fingerprint, client.clone()));
        Ok(ResolvedAccount {
            key,
            client,
            budget: account.spec.budget.clone(),
        })
    }
}
