//! `QualysAccount`: where a Qualys subscription's APIs are and how to log in.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::QualysStatus;

pub const URL_PATTERN: &str = "^https?://[^\\s/]+(/[^\\s]*)?$";

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
pub struct QualysAccountSpec {
    /// Shared platform whose well-known URLs fill in any URL not set below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// QPS API server, e.g. `https://qualysapi.qualys.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = URL_PATTERN))]
    pub api_url: Option<String>,
    /// Gateway (JWT-authenticated APIs), e.g. `https://gateway.qg1.apps.qualys.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = URL_PATTERN))]
    pub gateway_url: Option<String>,
    /// CloudView v1 API; defaults to apiUrl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = URL_PATTERN))]
    pub cloudview_url: Option<String>,
    #[serde(default)]
    pub cloudview_auth: CloudViewAuth,
    #[serde(default)]
    pub qps_format: QpsFormat,
    pub credentials_secret_ref: CredentialsRef,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QualysAccountStatus {
    #[serde(flatten)]
    pub common: QualysStatus,
    /// Qualys portal version reported by the account's API server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal_version: Option<String>,
    /// Rate budget as Qualys last reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitStatus>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitStatus {
    pub limit: Option<u32>,
    pub remaining: Option<u32>,
    pub window_seconds: Option<u32>,
}
