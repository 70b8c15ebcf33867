//! The one endpoint rule of every command: which URL each API family (QPS,
//! gateway, CloudView) uses and where it came from, and the refusal of a run
//! that would mix a test server with production.

use super::config::ConfigError;
use super::observer::Family;
use super::platform::Platform;

/// One URL per API family, each optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlSet<'a> {
    pub api_url: Option<&'a str>,
    pub gateway_url: Option<&'a str>,
    pub cloudview_url: Option<&'a str>,
}

/// Everything an endpoint may come from, strongest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointSources<'a> {
    /// Command line or environment (`--qualys-url` & co.).
    pub overrides: UrlSet<'a>,
    /// The QualysAccount's `apiUrl`, `gatewayUrl`, `cloudviewUrl`.
    pub account: UrlSet<'a>,
    /// The QualysAccount's `platform`.
    pub platform: Option<&'a str>,
    /// Test-only: stands in for every platform table URL, so a test can prove
    /// the table is not used (the table's hosts are production).
    pub platform_url: Option<&'a str>,
}

/// Where one endpoint's URL came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlSource {
    /// `--qualys-url` (or `QUALYS_URL`), which stands for every family not given its own.
    QualysUrlOverride,
    /// The family's own override (`--gateway-url`, `--cloudview-url` or their variables).
    FamilyOverride,
    /// The account's own field for the family.
    Account,
    /// The platform table.
    Platform(&'static str),
    /// CloudView shares the QPS host when nothing names it.
    SameAsQps,
}

/// One resolved endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub source: UrlSource,
}

/// The three endpoints a run talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub qps: Endpoint,
    pub gateway: Endpoint,
    pub cloudview: Endpoint,
}

fn given(url: Option<&str>) -> Option<&str> {
    url.map(str::trim).filter(|s| !s.is_empty())
}

/// The one endpoint rule of every command, per family: its own override, then
/// `--qualys-url`, then the account's field, then the platform table; CloudView
/// falls back to the QPS endpoint. An override therefore never leaves a family
/// on the account's (possibly production) host.
pub fn resolve_endpoints(sources: &EndpointSources<'_>) -> Result<Endpoints, ConfigError> {
    let platform = match given(sources.platform) {
        Some(name) => Some(Platform::by_name(name).ok_or_else(|| ConfigError::UnknownPlatform(name.to_owned()))?),
        None => None,
    };
    let table = |url: &'static str| {
        let name = platform.map_or("", |p| p.name);
        let url = given(sources.platform_url).unwrap_or(url);
        Endpoint {
            url: url.to_owned(),
            source: UrlSource::Platform(name),
        }
    };
    let pick = |own: Option<&str>, account: Option<&str>| {
        [
            (given(own), UrlSource::FamilyOverride),
            (given(sources.overrides.api_url), UrlSource::QualysUrlOverride),
            (given(account), UrlSource::Account),
        ]
        .into_iter()
        .find_map(|(url, source)| {
            url.map(|u| Endpoint {
                url: u.to_owned(),
                source,
            })
        })
    };
    // For QPS, `--qualys-url` is the family's own override.
    let qps = pick(None, sources.account.api_url)
        .or_else(|| platform.map(|p| table(p.api_url)))
        .ok_or(ConfigError::MissingUrl("api_url"))?;
    let gateway = pick(sources.overrides.gateway_url, sources.account.gateway_url)
        .or_else(|| platform.map(|p| table(p.gateway_url)))
        .ok_or(ConfigError::MissingUrl("gateway_url"))?;
    let cloudview = pick(sources.overrides.cloudview_url, sources.account.cloudview_url).unwrap_or_else(|| Endpoint {
        url: qps.url.clone(),
        source: UrlSource::SameAsQps,
    });
    Ok(Endpoints {
        qps,
        gateway,
        cloudview,
    })
}

/// Whether a host is on this machine or a private network, or public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Private,
    Public,
}

/// Loopback, private and link-local addresses, `localhost`, single-label
/// names and cluster/site-local suffixes are private; everything else public.
pub fn reach(url: &str) -> Reach {
    use std::net::IpAddr;
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase()))
        .unwrap_or_default();
    let private = match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified(),
        Ok(IpAddr::V6(ip)) => {
            let first = ip.segments()[0];
            ip.is_loopback()
                || ip.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback() || v4.is_private())
        }
        Err(_) => {
            let host = host.trim_end_matches('.');
            host.is_empty()
                || !host.contains('.')
                || host == "localhost"
                || [".localhost", ".local", ".internal", ".svc", ".cluster.local"]
                    .iter()
                    .any(|suffix| host.ends_with(suffix))
        }
    };
    if private { Reach::Private } else { Reach::Public }
}

impl Endpoints {
    /// Every family's endpoint, in display order.
    pub fn families(&self) -> [(Family, &Endpoint); 3] {
        [
            (Family::Qps, &self.qps),
            (Family::Gateway, &self.gateway),
            (Family::CloudView, &self.cloudview),
        ]
    }

    pub fn get(&self, family: Family) -> &Endpoint {
        match family {
            Family::Qps => &self.qps,
            Family::Gateway => &self.gateway,
            Family::CloudView => &self.cloudview,
        }
    }

    /// Refuses a mix of private and public hosts: that is a test server on one
    /// family and production on another, which would send test writes (and the
    /// credentials) to production.
    pub fn check_not_mixed(&self) -> Result<(), ConfigError> {
        let families = self.families();
        let private = families.iter().find(|(_, e)| reach(&e.url) == Reach::Private);
        let public = families.iter().find(|(_, e)| reach(&e.url) == Reach::Public);
        match (private, public) {
            (Some((pf, p)), Some((qf, q))) => Err(ConfigError::MixedEndpoints {
                private: format!("{} {}", pf.label(), p.url),
                public: format!("{} {}", qf.label(), q.url),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources<'a>(overrides: UrlSet<'a>, account: UrlSet<'a>, platform: Option<&'a str>) -> EndpointSources<'a> {
        EndpointSources {
            overrides,
            account,
            platform,
            platform_url: None,
        }
    }

    fn urls(e: &Endpoints) -> [&str; 3] {
        [&e.qps.url, &e.gateway.url, &e.cloudview.url]
    }

    const LOCAL: &str = "http://127.0.0.1:18090";

    #[test]
    fn qualys_url_alone_overrides_every_family_of_a_platform_account() {
        let only_qps = UrlSet {
            api_url: Some(LOCAL),
            ..UrlSet::default()
        };
        let account = UrlSet {
            cloudview_url: Some("https://cv.example"),
            gateway_url: Some("https://gw.example"),
            ..UrlSet::default()
        };
        for (account, platform) in [
            (UrlSet::default(), Some("US2")),
            (account, None),
            (account, Some("EU1")),
        ] {
            let e = resolve_endpoints(&sources(only_qps, account, platform)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(urls(&e), [LOCAL; 3], "{account:?} {platform:?}");
            assert!(
                e.families()
                    .iter()
                    .all(|(_, e)| e.source == UrlSource::QualysUrlOverride)
            );
        }
    }

    #[test]
    fn each_family_override_beats_qualys_url_which_beats_the_account_and_the_table() {
        let overrides = UrlSet {
            api_url: Some(LOCAL),
            gateway_url: Some("http://127.0.0.1:2"),
            cloudview_url: None,
        };
        let account = UrlSet {
            api_url: Some("https://a.example"),
            gateway_url: Some("https://g.example"),
            cloudview_url: Some("https://c.example"),
        };
        let e = resolve_endpoints(&sources(overrides, account, Some("US1"))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(urls(&e), [LOCAL, "http://127.0.0.1:2", LOCAL]);
        assert_eq!(e.gateway.source, UrlSource::FamilyOverride);
        // No override: the account's fields, then the platform, CloudView following QPS.
        let e = resolve_endpoints(&sources(
            UrlSet::default(),
            UrlSet {
                api_url: Some("https://a.example"),
                ..UrlSet::default()
            },
            Some("US2"),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            urls(&e),
            [
                "https://a.example",
                "https://gateway.qg2.apps.qualys.com",
                "https://a.example"
            ]
        );
        assert_eq!(e.qps.source, UrlSource::Account);
        assert_eq!(e.gateway.source, UrlSource::Platform("US2"));
        assert_eq!(e.cloudview.source, UrlSource::SameAsQps);
    }

    #[test]
    fn the_test_stand_in_replaces_every_table_url_and_nothing_else() {
        let mut s = sources(UrlSet::default(), UrlSet::default(), Some("US2"));
        s.platform_url = Some("http://127.0.0.1:3");
        let e = resolve_endpoints(&s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(urls(&e), ["http://127.0.0.1:3"; 3]);
        s.overrides.api_url = Some(LOCAL);
        let e = resolve_endpoints(&s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(urls(&e), [LOCAL; 3]);
    }

    #[test]
    fn private_and_public_hosts_are_told_apart() {
        for url in [
            LOCAL,
            "http://localhost:8080",
            "http://[::1]:80",
            "https://10.1.2.3",
            "http://192.168.0.5",
            "http://172.20.0.1",
            "http://qualys-simulator",
            "http://sim.qualys-system.svc:8080",
            "http://sim.qualys-system.svc.cluster.local",
        ] {
            assert_eq!(reach(url), Reach::Private, "{url}");
        }
        for url in [
            "https://qualysapi.qualys.com",
            "https://gateway.qg2.apps.qualys.com",
            "https://8.8.8.8",
            "https://api.example.com",
        ] {
            assert_eq!(reach(url), Reach::Public, "{url}");
        }
    }

    #[test]
    fn a_mix_of_private_and_public_hosts_is_refused_naming_both() {
        let s = sources(
            UrlSet::default(),
            UrlSet {
                api_url: Some(LOCAL),
                ..UrlSet::default()
            },
            Some("US2"),
        );
        let e = resolve_endpoints(&s).unwrap_or_else(|e| panic!("{e}"));
        let err = e.check_not_mixed().expect_err("mixed").to_string();
        assert!(err.contains("QPS http://127.0.0.1:18090"), "{err}");
        assert!(err.contains("gateway https://gateway.qg2.apps.qualys.com"), "{err}");
        assert!(err.contains("--allow-mixed-endpoints"), "{err}");
        let mut all_local = s;
        all_local.overrides.api_url = Some(LOCAL);
        assert_eq!(resolve_endpoints(&all_local).map(|e| e.check_not_mixed()), Ok(Ok(())));
        let all_public = sources(UrlSet::default(), UrlSet::default(), Some("US2"));
        assert_eq!(resolve_endpoints(&all_public).map(|e| e.check_not_mixed()), Ok(Ok(())));
    }
}
