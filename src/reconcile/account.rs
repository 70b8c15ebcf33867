//! A `QualysAccount` spec plus its credentials → the client's configuration.

use crate::crd::QualysAccountSpec;
use crate::crd::account::{CloudViewAuth as SpecAuth, QpsFormat as SpecFormat};
use crate::qualys::{AccountConfig, CloudViewAuth, ConfigError, QpsFormat, Secret, resolve_urls};

/// URLs that replace the account's (the demo points every account at its simulator).
#[derive(Debug, Clone, Default)]
pub struct UrlOverrides {
    pub api_url: Option<String>,
    pub gateway_url: Option<String>,
    pub cloudview_url: Option<String>,
}

pub fn account_config(
    spec: &QualysAccountSpec,
    username: String,
    password: Secret,
    overrides: &UrlOverrides,
) -> Result<AccountConfig, ConfigError> {
    let platform = spec.platform.map(|p| format!("{p:?}"));
    let urls = resolve_urls(
        platform.as_deref(),
        overrides.api_url.as_deref().or(spec.api_url.as_deref()),
        overrides.gateway_url.as_deref().or(spec.gateway_url.as_deref()),
    )?;
    let mut config = AccountConfig::new(urls.api_url, urls.gateway_url, username, password);
    config.cloudview_url = overrides.cloudview_url.clone().or_else(|| spec.cloudview_url.clone());
    config.cloudview_auth = match spec.cloudview_auth {
        SpecAuth::Basic => CloudViewAuth::Basic,
        SpecAuth::Bearer => CloudViewAuth::Bearer,
    };
    config.qps_format = match spec.qps_format {
        SpecFormat::Xml => QpsFormat::Xml,
        SpecFormat::Json => QpsFormat::Json,
    };
    config.validate()?;
    Ok(config)
}
