//! Read-only account facts from QPS: portal version, AWS base account,
//! connector sync errors.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::qualys::lenient;

/// `GET /qps/rest/portal/version`: module name → version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortalVersion {
    pub modules: BTreeMap<String, String>,
}

impl PortalVersion {
    pub fn portal(&self) -> Option<&str> {
        self.modules.get("PortalApplication-VERSION").map(String::as_str)
    }

    pub fn from_value(v: &Value) -> Self {
        let modules = v
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| lenient::text(v).map(|t| (k.clone(), t)))
                    .collect()
            })
            .unwrap_or_default();
        Self { modules }
    }
}

/// The AWS accounts a connector role must trust, per partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsBaseAccount {
    pub global_account_id: Option<String>,
    pub gov_account_id: Option<String>,
    pub china_account_id: Option<String>,
    pub customer_global_account: Option<bool>,
    pub customer_gov_account: Option<bool>,
    pub customer_china_account: Option<bool>,
}

impl AwsBaseAccount {
    pub fn from_value(v: &Value) -> Self {
        Self {
            global_account_id: lenient::field_token(v, "globalAccountId"),
            gov_account_id: lenient::field_token(v, "govAccountId"),
            china_account_id: lenient::field_token(v, "chinaAccountId"),
            customer_global_account: lenient::field_bool(v, "customerGlobalAccount"),
            customer_gov_account: lenient::field_bool(v, "customerGovAccount"),
            customer_china_account: lenient::field_bool(v, "customerChinaAccount"),
        }
    }
}

/// One entry of `search/am/assetdataconnectorerrors`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectorErrorEntry {
    pub error_message: Option<String>,
    /// ISO-8601 as Qualys wrote it (samples even contain stray spaces).
    pub created: Option<String>,
}

impl ConnectorErrorEntry {
    pub fn from_value(v: &Value) -> Self {
        Self {
            error_message: lenient::field_text(v, "errorMessage"),
            created: lenient::field_text(v, "created").map(|s| s.split_whitespace().collect()),
        }
    }
}
