//! A `QualysAccount` spec plus its credentials → the client's configuration.

use crate::crd::QualysAccountSpec;
use crate::crd::account::{CloudViewAuth as SpecAuth, QpsFormat as SpecFormat};
use crate::qualys::endpoints::{EndpointSources, Endpoints, UrlSet, resolve_endpoints};
use crate::qualys::{AccountConfig, CloudViewAuth, ConfigError, QpsFormat, Secret};

/// URLs that replace the account's (the demo points every account at its simulator).
#[derive(Debug, Clone, Default)]
pub struct UrlOverrides {
    pub api_url: Option<String>,
    pub gateway_url: Option<String>,
    pub cloudview_url: Option<String>,
}

/// The endpoints of an account under the one endpoint rule
/// ([`resolve_endpoints`]); `platform_url` is the test-only stand-in for the
/// platform table.
pub fn account_endpoints(
    spec: &QualysAccountSpec,
    overrides: &UrlOverrides,
    platform_url: Option<&str>,
) -> Result<Endpoints, ConfigError> {
    let platform = spec.platform.map(|p| format!("{p:?}"));
    resolve_endpoints(&EndpointSources {
        overrides: UrlSet {
            api_url: overrides.api_url.as_deref(),
            gateway_url: overrides.gateway_url.as_deref(),
            cloudview_url: overrides.cloudview_url.as_deref(),
        },
        account: UrlSet {
            api_url: spec.api_url.as_deref(),
            gateway_url: spec.gateway_url.as_deref(),
            cloudview_url: spec.cloudview_url.as_deref(),
        },
        platform: platform.as_deref(),
        platform_url,
    })
}

pub fn account_config(
    spec: &QualysAccountSpec,
    username: String,
    password: Secret,
    overrides: &UrlOverrides,
) -> Result<AccountConfig, ConfigError> {
    let endpoints = account_endpoints(spec, overrides, None)?;
    config_for(spec, &endpoints, username, password)
}

/// The client configuration for an account whose endpoints are resolved.
pub fn config_for(
    spec: &QualysAccountSpec,
    endpoints: &Endpoints,
    username: String,
    password: Secret,
) -> Result<AccountConfig, ConfigError> {
    let mut config = AccountConfig::new(&endpoints.qps.url, &endpoints.gateway.url, username, password);
    config.cloudview_url = Some(endpoints.cloudview.url.clone());
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
