//! `QualysAccount`: where a Qualys subscription's APIs are and how to log in.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::QualysStatus;

pub const URL_PATTERN: &str = "^https?://[^\\s/]+(/[^\\s]*)?$";

/// `http://` URLs only with the explicit opt-in.
const INSECURE_RULE: &str = "(has(self.allowInsecureHttp) && self.allowInsecureHttp) || \
     [has(self.apiUrl) ? self.apiUrl : '', has(self.gatewayUrl) ? self.gatewayUrl : '', \
     has(self.cloudviewUrl) ? self.cloudviewUrl : ''].all(u, !u.startsWith('http://'))";
const INSECURE_MESSAGE: &str = "an http:// URL sends the Qualys password in cleartext: use https://, or set \
     allowInsecureHttp: true (a local simulator or a proxy on the same host only)";

/// No credentials in a URL: they belong in the Secret.
const NO_USERINFO_RULE: &str = "!self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@')";
const NO_USERINFO_MESSAGE: &str =
    "must not contain user:password@; put the credentials in the Secret named by credentialsSecretRef";

/// Well-known shared Qualys platforms; explicit URLs always win over these.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum Platform {
    US1,
    US2,
    US3,
    US4,
    EU1,
    EU2,
    EU3,
    IN1,
    CA1,
    AE1,
    UK1,
    AU1,
    KSA1,
}

/// How CloudView v1 calls authenticate; tenants differ.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub enum CloudViewAuth {
    #[default]
    Basic,
    Bearer,
}

/// Body format for QPS calls.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub enum QpsFormat {
    #[default]
    Xml,
    Json,
}

/// The Secret with the Qualys user's credentials.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsRef {
    #[schemars(length(min = 1))]
    pub name: String,
    #[serde(default = "default_username_key")]
    pub username_key: String,
    #[serde(default = "default_password_key")]
    pub password_key: String,
}

/// The operator's share of the API user's rate limit (the connector API's
/// `X-RateLimit-Limit` per `X-RateLimit-Window-Sec`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// Calls per hour, whatever Qualys reports; wins over `percent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub calls_per_hour: Option<u32>,
    /// Percent of the limit Qualys reports (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub percent: Option<u8>,
}

fn default_username_key() -> String {
    "username".into()
}
fn default_password_key() -> String {
    "password".into()
}

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "qualys-operator.io",
    version = "v1alpha1",
    kind = "QualysAccount",
    namespaced,
    status = "QualysAccountStatus",
    shortname = "qacct",
    category = "qualys",
    doc = "A Qualys subscription: API endpoints and the Secret with the API user's credentials."
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.platform) || (has(self.apiUrl) && has(self.gatewayUrl))").message("set platform, or both apiUrl and gatewayUrl").field_path(".apiUrl"))]
#[x_kube(validation = Rule::new(INSECURE_RULE).message(INSECURE_MESSAGE).field_path(".allowInsecureHttp"))]
pub struct QualysAccountSpec {
    /// Shared platform whose well-known URLs fill in any URL not set below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// QPS API server, e.g. `https://qualysapi.qualys.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = URL_PATTERN), length(max = 2048))]
    #[x_kube(validation = Rule::new(NO_USERINFO_RULE).message(NO_USERINFO_MESSAGE))]
    pub api_url: Option<String>,
    /// Gateway (JWT-authenticated APIs), e.g. `https://gateway.qg1.apps.qualys.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = URL_PATTERN), length(max = 2048))]
    #[x_kube(validation = Rule::new(NO_USERINFO_RULE).message(NO_USERINFO_MESSAGE))]
    pub gateway_url: Option<String>,
    /// CloudView v1 API; defaults to apiUrl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = URL_PATTERN), length(max = 2048))]
    #[x_kube(validation = Rule::new(NO_USERINFO_RULE).message(NO_USERINFO_MESSAGE))]
    pub cloudview_url: Option<String>,
    #[serde(default)]
    pub cloudview_auth: CloudViewAuth,
    #[serde(default)]
    pub qps_format: QpsFormat,
    pub credentials_secret_ref: CredentialsRef,
    /// Allow `http://` URLs. The Qualys password then travels in cleartext:
    /// only for a local simulator or a TLS-terminating proxy on the same host.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_insecure_http: bool,
    /// How much of the API user's rate limit the operator may spend on its
    /// own: observation stretches its interval to fit. Default: half of the
    /// limit Qualys reports, leaving the rest to other tools using the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
}

impl QualysAccountSpec {
    /// Why these URLs may not be used as written, naming the field and the fix.
    /// The schema says the same; this also covers objects stored before it did.
    pub fn url_problem(&self) -> Option<String> {
        let urls = [
            ("apiUrl", &self.api_url),
            ("gatewayUrl", &self.gateway_url),
            ("cloudviewUrl", &self.cloudview_url),
        ];
        for (field, url) in urls {
            let Some(url) = url else { continue };
            let authority = url
                .split_once("://")
                .map_or("", |(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default());
            if authority.contains('@') {
                return Some(format!("spec.{field} {NO_USERINFO_MESSAGE}"));
            }
            if url.starts_with("http://") && !self.allow_insecure_http {
                return Some(format!("spec.{field}: {INSECURE_MESSAGE}"));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(api_url: &str, allow_insecure_http: bool) -> QualysAccountSpec {
        QualysAccountSpec {
            platform: None,
            api_url: Some(api_url.into()),
            gateway_url: Some("https://gateway.example".into()),
            cloudview_url: None,
            cloudview_auth: CloudViewAuth::Basic,
            qps_format: QpsFormat::Xml,
            credentials_secret_ref: CredentialsRef {
                name: "c".into(),
                username_key: "username".into(),
                password_key: "password".into(),
            },
            allow_insecure_http,
            budget: None,
        }
    }

    #[test]
    fn cleartext_needs_the_opt_in_and_credentials_never_go_in_a_url() {
        assert_eq!(spec("https://qualysapi.example", false).url_problem(), None);
        let refused = spec("http://127.0.0.1:8080", false).url_problem().unwrap_or_default();
        assert!(
            refused.contains("spec.apiUrl") && refused.contains("allowInsecureHttp"),
            "{refused}"
        );
        assert_eq!(spec("http://127.0.0.1:8080", true).url_problem(), None);
        let userinfo = spec("https://user:pw@qualysapi.example/", true)
            .url_problem()
            .unwrap_or_default();
        assert!(
            userinfo.contains("spec.apiUrl") && !userinfo.contains("pw"),
            "{userinfo}"
        );
        assert_eq!(spec("https://qualysapi.example/a@b", false).url_problem(), None);
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QualysAccountStatus {
    #[serde(flatten)]
    pub common: QualysStatus,
    /// Qualys portal version reported by the account's API server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal_version: Option<String>,
    /// The connector (QPS) API's rate budget for this user, as Qualys last
    /// reported it in its `X-RateLimit-*` headers (written once per resync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitStatus>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitStatus {
    /// Calls allowed per window (`X-RateLimit-Limit`).
    pub limit: Option<u32>,
    /// Calls left in the current window (`X-RateLimit-Remaining`), shared
    /// with every other tool using the same Qualys user.
    pub remaining: Option<u32>,
    /// The window (`X-RateLimit-Window-Sec`).
    pub window_seconds: Option<u32>,
    /// The operator's share per hour (`spec.budget`, else half the limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_per_hour: Option<u32>,
    /// Calls the operator itself made in the last window, per hour: never
    /// above `budgetPerHour` (the share is a hard cap, not a target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_per_hour: Option<u32>,
    /// The longest any call waited for budget in the last window (the
    /// share, a pause Qualys asked for, or a free concurrent call), in
    /// seconds: how far the budget holds the operator back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_wait_seconds: Option<u32>,
    /// Calls one observation of every kind costs (paged searches, org details).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation_calls: Option<u32>,
    /// The interval objects with the default resync are observed at, stretched
    /// so observation fits in the budget, e.g. `10m0s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_resync_interval: Option<String>,
}
