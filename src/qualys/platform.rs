//! Well-known Qualys platforms and their default URLs.
//!
//! Public sources disagree on some hosts (see the API notes on platform tables),
//! so this is a convenience only: an explicit URL always wins over the table.

use super::config::ConfigError;
use super::endpoints::{EndpointSources, UrlSet, resolve_endpoints};

/// URLs of one Qualys platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    pub name: &'static str,
    /// QPS / API server.
    pub api_url: &'static str,
    /// Connectors gateway (JWT auth).
    pub gateway_url: &'static str,
}

const PLATFORMS: &[Platform] = &[
    p(
        "US1",
        "https://qualysapi.qualys.com",
        "https://gateway.qg1.apps.qualys.com",
    ),
    p(
        "US2",
        "https://qualysapi.qg2.apps.qualys.com",
        "https://gateway.qg2.apps.qualys.com",
    ),
    p(
        "US3",
        "https://qualysapi.qg3.apps.qualys.com",
        "https://gateway.qg3.apps.qualys.com",
    ),
    p(
        "US4",
        "https://qualysapi.qg4.apps.qualys.com",
        "https://gateway.qg4.apps.qualys.com",
    ),
    p(
        "EU1",
        "https://qualysapi.qualys.eu",
        "https://gateway.qg1.apps.qualys.eu",
    ),
    p(
        "EU2",
        "https://qualysapi.qg2.apps.qualys.eu",
        "https://gateway.qg2.apps.qualys.eu",
    ),
    p(
        "EU3",
        "https://qualysapi.qg3.apps.qualys.it",
        "https://gateway.qg3.apps.qualys.it",
    ),
    p(
        "IN1",
        "https://qualysapi.qg1.apps.qualys.in",
        "https://gateway.qg1.apps.qualys.in",
    ),
    p(
        "CA1",
        "https://qualysapi.qg1.apps.qualys.ca",
        "https://gateway.qg1.apps.qualys.ca",
    ),
    p(
        "AE1",
        "https://qualysapi.qg1.apps.qualys.ae",
        "https://gateway.qg1.apps.qualys.ae",
    ),
    p(
        "UK1",
        "https://qualysapi.qg1.apps.qualys.co.uk",
        "https://gateway.qg1.apps.qualys.co.uk",
    ),
    p(
        "AU1",
        "https://qualysapi.qg1.apps.qualys.com.au",
        "https://gateway.qg1.apps.qualys.com.au",
    ),
    p(
        "KSA1",
        "https://qualysapi.qg1.apps.qualysksa.com",
        "https://gateway.qg1.apps.qualysksa.com",
    ),
];

const fn p(name: &'static str, api_url: &'static str, gateway_url: &'static str) -> Platform {
    Platform {
        name,
        api_url,
        gateway_url,
    }
}

impl Platform {
    /// Looks a platform up by name, ignoring case and separators (`us1`, `US-1`, `US 1`).
    pub fn by_name(name: &str) -> Option<Platform> {
        let wanted: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        PLATFORMS.iter().copied().find(|p| p.name.eq_ignore_ascii_case(&wanted))
    }

    /// Every known platform, in table order.
    pub fn all() -> &'static [Platform] {
        PLATFORMS
    }
}

/// The URLs an account uses after applying "explicit wins over platform".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUrls {
    pub api_url: String,
    pub gateway_url: String,
}

/// Resolves an account's URLs from an optional platform name and optional
/// explicit URLs; each explicit URL overrides the platform default.
pub fn resolve_urls(
    platform: Option<&str>,
    api_url: Option<&str>,
    gateway_url: Option<&str>,
) -> Result<ResolvedUrls, ConfigError> {
    let account = UrlSet {
        api_url,
        gateway_url,
        cloudview_url: None,
    };
    let e = resolve_endpoints(&EndpointSources {
        account,
        platform,
        ..EndpointSources::default()
    })?;
    Ok(ResolvedUrls {
        api_url: e.qps.url,
        gateway_url: e.gateway.url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_and_separator_insensitive() {
        assert_eq!(Platform::by_name("us-2").map(|p| p.name), Some("US2"));
        assert_eq!(Platform::by_name("ksa1").map(|p| p.name), Some("KSA1"));
        assert!(Platform::by_name("MARS1").is_none());
        assert_eq!(Platform::all().len(), 13);
    }

    #[test]
    fn explicit_urls_win() {
        let r = resolve_urls(Some("EU1"), Some("https://api.example"), None).unwrap();
        assert_eq!(r.api_url, "https://api.example");
        assert_eq!(r.gateway_url, "https://gateway.qg1.apps.qualys.eu");
        assert!(matches!(
            resolve_urls(None, Some("https://a"), None),
            Err(ConfigError::MissingUrl("gateway_url"))
        ));
        assert!(matches!(
            resolve_urls(Some("X9"), None, None),
            Err(ConfigError::UnknownPlatform(_))
        ));
    }
}
