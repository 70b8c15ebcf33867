//! What the client needs to know about one Qualys account.

use std::fmt;
use std::time::Duration;

use super::secret::Secret;

/// How CloudView v1 calls authenticate: tenants differ (some accept Basic on
/// the API host, others only the gateway JWT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloudViewAuth {
    #[default]
    Basic,
    Bearer,
}

/// Wire format of QPS `ServiceRequest` / `ServiceResponse` bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QpsFormat {
    #[default]
    Xml,
    Json,
}

/// Time limits and retry bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeouts {
    pub connect: Duration,
    /// Whole exchange, request sent to body read.
    pub request: Duration,
    /// Longest a single call may spend waiting for rate-limit budget before it
    /// gives up with `RateLimited`.
    pub max_rate_limit_wait: Duration,
    /// Extra attempts for reads and idempotent writes after a transient failure.
    pub max_retries: u32,
    /// First backoff step; doubles per attempt, with jitter.
    pub retry_base: Duration,
    /// Gateway token lifetime assumed when the JWT does not say.
    pub token_lifetime: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
            max_rate_limit_wait: Duration::from_secs(600),
            max_retries: 3,
            retry_base: Duration::from_millis(500),
            token_lifetime: Duration::from_secs(4 * 3600),
        }
    }
}

/// Starting assumptions of the rate governor, before Qualys' headers say more.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// Concurrent calls per API family until `X-Concurrency-Limit-Limit` is
    /// seen. Qualys' default is about 2 per API per subscription.
    pub initial_concurrency: u32,
    /// Upper bound on concurrency even when Qualys advertises more.
    pub max_concurrency: u32,
    /// Wait after a throttle or an exhausted budget when no header tells how long.
    pub fallback_wait: Duration,
    /// Upper bound of the growing fallback wait.
    pub max_fallback_wait: Duration,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            initial_concurrency: 2,
            max_concurrency: 8,
            fallback_wait: Duration::from_secs(5),
            max_fallback_wait: Duration::from_secs(120),
        }
    }
}

/// One Qualys account: URLs, credentials and client behaviour.
#[derive(Clone)]
pub struct AccountConfig {
    /// QPS API server, e.g. `https://qualysapi.qualys.com`.
    pub api_url: String,
    /// Connectors gateway, e.g. `https://gateway.qg1.apps.qualys.com`.
    pub gateway_url: String,
    /// CloudView v1 host; `None` means `api_url`.
    pub cloudview_url: Option<String>,
    pub cloudview_auth: CloudViewAuth,
    pub qps_format: QpsFormat,
    pub username: String,
    pub password: Secret,
    pub timeouts: Timeouts,
    pub limits: RateLimits,
    /// `None` means `qualys-operator/<version>`.
    pub user_agent: Option<String>,
}

impl AccountConfig {
    pub fn new(
        api_url: impl Into<String>,
        gateway_url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        Self {
            api_url: api_url.into(),
            gateway_url: gateway_url.into(),
            cloudview_url: None,
            cloudview_auth: CloudViewAuth::default(),
            qps_format: QpsFormat::default(),
            username: username.into(),
            password: password.into(),
            timeouts: Timeouts::default(),
            limits: RateLimits::default(),
            user_agent: None,
        }
    }

    pub fn cloudview_url(&self) -> &str {
        self.cloudview_url
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.api_url)
    }

    pub fn user_agent(&self) -> String {
        self.user_agent
            .clone()
            .unwrap_or_else(|| format!("qualys-operator/{}", env!("CARGO_PKG_VERSION")))
    }

    /// Checks the URLs parse, are http(s) and carry no embedded credentials
    /// (which would leak into error messages that quote the URL).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (what, url) in [
            ("api_url", self.api_url.as_str()),
            ("gateway_url", self.gateway_url.as_str()),
            ("cloudview_url", self.cloudview_url()),
        ] {
            let parsed = reqwest::Url::parse(url).map_err(|e| ConfigError::InvalidUrl(what, e.to_string()))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ConfigError::InvalidUrl(
                    what,
                    format!("unsupported scheme {}", parsed.scheme()),
                ));
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(ConfigError::InvalidUrl(
                    what,
                    "credentials must not be part of the URL".into(),
                ));
            }
        }
        if self.username.is_empty() {
            return Err(ConfigError::MissingCredentials);
        }
        if self.limits.initial_concurrency == 0 || self.limits.max_concurrency == 0 {
            return Err(ConfigError::Invalid("concurrency limits must be at least 1".into()));
        }
        Ok(())
    }
}

impl fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountConfig")
            .field("api_url", &self.api_url)
            .field("gateway_url", &self.gateway_url)
            .field("cloudview_url", &self.cloudview_url)
            .field("cloudview_auth", &self.cloudview_auth)
            .field("qps_format", &self.qps_format)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("timeouts", &self.timeouts)
            .field("limits", &self.limits)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// Why an account configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown Qualys platform {0:?}")]
    UnknownPlatform(String),
    #[error("{0} is required (no platform default applies)")]
    MissingUrl(&'static str),
    #[error(
        "{private} is a loopback/private host but {public} is public: refusing to send one run to both \
         (a test server and production). Give --qualys-url to send every API family to one URL, set each \
         of --qualys-url, --gateway-url and --cloudview-url, or pass --allow-mixed-endpoints if this is intended"
    )]
    MixedEndpoints { private: String, public: String },
    #[error("{0} is not a usable URL: {1}")]
    InvalidUrl(&'static str, String),
    #[error("a username is required")]
    MissingCredentials,
    #[error("{0}")]
    Invalid(String),
    #[error("HTTP client: {0}")]
    Http(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_password() {
        let c = AccountConfig::new("https://a", "https://g", "alice", "s3cr3t-pw");
        let text = format!("{c:?}");
        assert!(!text.contains("s3cr3t-pw"), "{text}");
        assert!(text.contains("[REDACTED]"));
    }

    #[test]
    fn urls_with_userinfo_are_refused() {
        let c = AccountConfig::new("https://u:p@a.example", "https://g.example", "alice", "pw");
        assert!(matches!(c.validate(), Err(ConfigError::InvalidUrl("api_url", _))));
        let ok = AccountConfig::new("https://a.example", "https://g.example", "alice", "pw");
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.cloudview_url(), "https://a.example");
    }
}
