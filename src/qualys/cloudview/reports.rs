//! CloudView v1 report configurations (`/cloudview-api/rest/v1/reports`), from the
//! CloudView 1.8 notes, seed 002 lines 1823-2404.
//!
//! # What a read that leaves a field out means
//! Configuration answers (get, create, patch) carry every key, `null` included
//! (`accounts[].id` is `null` in all three [002:2109] [002:2218] [002:2343]), so:
//! * a list field (`accounts`, `policies`) that is absent is **unknown**
//!   (`None`): the list view (#31) shows only `reportId`, `title`, `type`,
//!   `format` and `accounts` [002:1838-1864], so a diff must read the
//!   configuration by id; `null` or `[]` is **empty** (`Some(vec![])`);
//! * a scalar (`description`, `mandateId`, `createdOn`) is `None` when absent,
//!   `null` or blank alike; only a configuration read says it is really unset.
//!
//! # Identity of accounts
//! `accounts[].id` (the connector id, per the syntax [002:2181]) is `null` in
//! configuration answers and a UUID in the list sample [002:1861]; the PATCH
//! sample sends for account 383031258652 the id the list sample shows for
//! account 111111111111 [002:2313] [002:1861-1862]. An account is therefore
//! identified by (`cloudType`, `accountId`) only ([`ReportAccount::key`]).
//!
//! # What PATCH may change
//! The PATCH body is the whole ReportConfig syntax [002:2271-2291] and the
//! sample sends every field [002:2306-2329]; the prose under PATCH is copied
//! from the evaluations API [002:2240-2241] and says nothing about which
//! fields may change. `title`, `description`, `accounts` and `policies` are
//! what a configuration update is for; **`type` and `mandateId` are treated as
//! immutable** (the safe reading: they define what the report is, and nothing
//! shows them changing), so a change of either means delete and create. The
//! simulator can be told to reject, ignore or apply such a change.
//! [`QualysClient::patch_report`] always sends the whole body, so a PATCH that
//! merges and one that replaces give the same result.

use reqwest::Method;
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::qualys::client::{Paged, QualysClient, Rest, json_body};
use crate::qualys::error::QualysError;
use crate::qualys::lenient::{self, de};
use crate::qualys::observer::Family;
use crate::qualys::transport::{Safety, segment};

const REPORTS: &str = "/cloudview-api/rest/v1/reports";

/// `type`: a mandate report or a policy report [002:2190]. Only `MANDATE` is
/// spelled in the docs [002:1856]; `POLICY` is this client's (and the
/// simulator's) spelling of the other kind, a guess the seed cannot confirm.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportType {
    Mandate,
    Policy,
    /// Anything else Qualys answers, kept verbatim.
    Other(String),
}

impl ReportType {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Mandate => "MANDATE",
            Self::Policy => "POLICY",
            Self::Other(s) => s,
        }
    }

    /// Case-insensitive on read: what matters is which kind Qualys means.
    pub fn parse(text: &str) -> Self {
        let t = text.trim();
        if t.eq_ignore_ascii_case("MANDATE") {
            Self::Mandate
        } else if t.eq_ignore_ascii_case("POLICY") {
            Self::Policy
        } else {
            Self::Other(t.to_owned())
        }
    }
}

/// `format`: "Currently, only On-Screen format supported" [002:2184-2185].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum ReportFormat {
    #[default]
    OnScreen,
    Other(String),
}

impl ReportFormat {
    pub fn as_str(&self) -> &str {
        match self {
            Self::OnScreen => "ON_SCREEN",
            Self::Other(s) => s,
        }
    }

    pub fn parse(text: &str) -> Self {
        let t = text.trim();
        if t.eq_ignore_ascii_case("ON_SCREEN") {
            Self::OnScreen
        } else {
            Self::Other(t.to_owned())
        }
    }
}

macro_rules! text_enum_serde {
    ($ty:ty, $de:ident) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        fn $de<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$ty>, D::Error> {
            Ok(Option::<Value>::deserialize(d)?
                .as_ref()
                .and_then(lenient::token)
                .map(|t| <$ty>::parse(&t)))
        }
    };
}

text_enum_serde!(ReportType, de_report_type);
text_enum_serde!(ReportFormat, de_report_format);

/// A present list, `null` being the empty list (see the module doc).
fn present_list<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    lenient::many(&v)
        .into_iter()
        .map(|x| T::deserialize(x.clone()).map_err(serde::de::Error::custom))
        .collect::<Result<Vec<T>, _>>()
        .map(Some)
}

fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.and_then(|v| match v {
        Value::Number(n) => n.as_f64(),
        other => lenient::token(&other)?.parse().ok(),
    }))
}

/// How a report names a cloud account: (`cloudType`, `accountId`), normalised
/// (cloud type upper case, account id lower case: Azure subscription ids are
/// GUIDs CloudView matches without regard to case; AWS ids are digits and GCP
/// project ids lower case anyway).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReportAccountKey {
    pub cloud_type: String,
    pub account_id: String,
}

impl ReportAccountKey {
    pub fn new(cloud_type: &str, account_id: &str) -> Self {
        Self {
            cloud_type: cloud_type.trim().to_ascii_uppercase(),
            account_id: account_id.trim().to_ascii_lowercase(),
        }
    }
}

/// An account of a report configuration, as read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReportAccount {
    /// AWS account id (subscription or project id for the other clouds).
    #[serde(deserialize_with = "de::opt_string")]
    pub account_id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub cloud_type: Option<String>,
    /// The connector's name as the report stores it [002:2182].
    #[serde(deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    /// `id`, the connector id: `null` in configuration answers, so never
    /// identity (see the module doc).
    #[serde(rename = "id", deserialize_with = "de::opt_string")]
    pub connector_id: Option<String>,
}

impl ReportAccount {
    /// `None` when either half is missing.
    pub fn key(&self) -> Option<ReportAccountKey> {
        Some(ReportAccountKey::new(
            self.cloud_type.as_deref()?,
            self.account_id.as_deref()?,
        ))
    }
}

/// A policy a report configuration refers to, as read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReportPolicy {
    #[serde(deserialize_with = "de::opt_string")]
    pub policy_id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub cloud_type: Option<String>,
}

/// A report configuration as Qualys answers it: a list item (#31), or the
/// answer of get (#35), create (#36) and patch (#37). See the module doc for
/// what `None` means per field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReportConfig {
    #[serde(deserialize_with = "de::opt_string")]
    pub report_id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub title: Option<String>,
    #[serde(rename = "type", deserialize_with = "de_report_type")]
    pub report_type: Option<ReportType>,
    #[serde(deserialize_with = "de_report_format")]
    pub format: Option<ReportFormat>,
    #[serde(deserialize_with = "de::opt_string")]
    pub description: Option<String>,
    /// Text even though the mandate list has numeric ids: answers send
    /// `"2481"` [002:2125], the mandate list `2481` [002:1910]; both read as
    /// `"2481"` here and in [`Mandate::id`].
    #[serde(deserialize_with = "de::opt_string")]
    pub mandate_id: Option<String>,
    #[serde(deserialize_with = "present_list")]
    pub accounts: Option<Vec<ReportAccount>>,
    #[serde(deserialize_with = "present_list")]
    pub policies: Option<Vec<ReportPolicy>>,
    /// `2019-03-27T08:52:58+0000` [002:2126]; set by Qualys, kept by PATCH.
    #[serde(deserialize_with = "de::opt_string")]
    pub created_on: Option<String>,
}

impl ReportConfig {
    /// The accounts' keys, sorted and without repeats; `None` when the read did
    /// not carry the accounts.
    pub fn account_keys(&self) -> Option<Vec<ReportAccountKey>> {
        let mut keys: Vec<ReportAccountKey> = self.accounts.as_ref()?.iter().filter_map(ReportAccount::key).collect();
        keys.sort();
        keys.dedup();
        Some(keys)
    }

    /// The policy ids, sorted and without repeats; `None` when not carried.
    pub fn policy_ids(&self) -> Option<Vec<String>> {
        let mut ids: Vec<String> = self
            .policies
            .as_ref()?
            .iter()
            .filter_map(|p| p.policy_id.as_deref().map(|id| id.trim().to_owned()))
            .collect();
        ids.sort();
        ids.dedup();
        Some(ids)
    }
}

/// An account in a create or patch body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportAccountWrite {
    pub account_id: String,
    pub cloud_type: String,
    /// The connector's name; the create sample sends it [002:2204].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The connector id (`id`); the create sample leaves it out [002:2202-2206]
    /// and answers never return it, so it is optional.
    #[serde(rename = "id", skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<String>,
}

/// A policy in a create or patch body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportPolicyWrite {
    pub policy_id: String,
    pub cloud_type: String,
}

/// The ReportConfig body of create and patch [002:2156-2176]. Every key is
/// sent, `null` where there is nothing, so a PATCH states the whole
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportWrite {
    pub title: String,
    #[serde(rename = "type")]
    pub report_type: ReportType,
    pub format: ReportFormat,
    pub description: Option<String>,
    /// Sent as text, as the syntax [002:2167] and the PATCH sample [002:2329]
    /// have it (the create sample's number [002:2200] is the exception).
    /// `None` for a policy report.
    pub mandate_id: Option<String>,
    pub policies: Vec<ReportPolicyWrite>,
    pub accounts: Vec<ReportAccountWrite>,
}

/// A mandate of `GET /reports/mandates` [002:1908-1921].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Mandate {
    /// Numeric in the list (`2481`), read as text to compare with
    /// [`ReportConfig::mandate_id`].
    #[serde(deserialize_with = "de::opt_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub name: Option<String>,
}

/// A policy of `GET /reports/policies` [002:1938-1955].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Policy {
    #[serde(deserialize_with = "de::opt_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub title: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub cloud_type: Option<String>,
}

/// `mandate` of the report data [002:1975-1982].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MandateDetail {
    #[serde(deserialize_with = "de::opt_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub publisher: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub version: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub release_date: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub last_modified: Option<String>,
}

/// `summary` of the report data [002:2056-2072].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReportDataSummary {
    #[serde(deserialize_with = "de::opt_u64")]
    pub mandates_count: Option<u64>,
    #[serde(deserialize_with = "de::opt_u64")]
    pub requirements_count: Option<u64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub mandate_name: Option<String>,
    #[serde(deserialize_with = "opt_f64")]
    pub mandate_pass_percent: Option<f64>,
    #[serde(deserialize_with = "de::list")]
    pub accounts: Vec<ReportAccount>,
    #[serde(deserialize_with = "de::opt_u64")]
    pub controls_count: Option<u64>,
    #[serde(deserialize_with = "de::opt_u64")]
    pub total_evaluations_count: Option<u64>,
    #[serde(deserialize_with = "de::opt_u64")]
    pub policies_count: Option<u64>,
}

/// The data of a report (#34), read-only. The requirement tree nests
/// `requirements`, `controlObjectives` and `controls` to varying depth
/// [002:1983-2054] and is kept as JSON.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReportData {
    pub mandate: Option<MandateDetail>,
    #[serde(deserialize_with = "de::list")]
    pub requirements: Vec<Value>,
    pub summary: Option<ReportDataSummary>,
}

/// A plain array, or the same wrapped in a page (`content`).
fn array_or_page<T: DeserializeOwned>(v: Value) -> Result<Vec<T>, QualysError> {
    let items = match lenient::field(&v, "content") {
        Some(content) if v.is_object() => content.clone(),
        _ => v,
    };
    if !items.is_array() {
        return Err(QualysError::undecodable("expected a JSON array"));
    }
    serde_json::from_value(items).map_err(|e| QualysError::undecodable(e.to_string()))
}

/// The answer about `report_id`, named so whatever id it carried.
fn pinned(mut report: ReportConfig, report_id: &str, call: &'static str) -> ReportConfig {
    let requested = report_id.trim().to_owned();
    if let Some(answered) = report
        .report_id
        .as_deref()
        .filter(|a| !a.eq_ignore_ascii_case(&requested))
    {
        tracing::debug!(call, report_id = %requested, %answered, "report answer named another reportId; keeping the requested one");
    }
    report.report_id = Some(requested);
    report
}

/// `["id", ...]` [002:2372-2373] [002:2386-2387].
fn delete_body(report_ids: &[String]) -> Value {
    Value::from(report_ids.iter().map(|id| id.trim()).collect::<Vec<_>>())
}

fn write_body(report: &ReportWrite) -> Result<Value, QualysError> {
    serde_json::to_value(report).map_err(|e| QualysError::Config {
        message: format!("report body does not encode: {e}"),
    })
}

impl QualysClient {
    /// Every report configuration (all pages). Items carry what the list view
    /// shows; read one by id for its `description`, `policies` and `mandateId`.
    pub async fn list_reports(&self) -> Result<Paged<ReportConfig>, QualysError> {
        self.cloudview_pages("reports.list", REPORTS).await
    }

    /// One configuration. Its `reportId` is the one asked for: the documented
    /// answer names another report than the request [002:2096-2102].
    pub async fn get_report(&self, report_id: &str) -> Result<ReportConfig, QualysError> {
        let url = self.cloudview_url(&format!("{REPORTS}/{}", segment(report_id)))?;
        let report: ReportConfig = self
            .rest_json(Rest {
                family: Family::CloudView,
                operation: "reports.get",
                method: Method::GET,
                url,
                body: None,
                safety: Safety::Read,
            })
            .await?;
        Ok(pinned(report, report_id, "get"))
    }

    /// `GET /reports/report_data/{reportId}` (the path the table names; its
    /// sample calls the configuration path instead, quirk Q-V1-7).
    pub async fn report_data(&self, report_id: &str) -> Result<ReportData, QualysError> {
        let url = self.cloudview_url(&format!("{REPORTS}/report_data/{}", segment(report_id)))?;
        self.rest_json(Rest {
            family: Family::CloudView,
            operation: "reports.data",
            method: Method::GET,
            url,
            body: None,
            safety: Safety::Read,
        })
        .await
    }

    /// Creates a report configuration. Never retried once it may have arrived:
    /// titles need not be unique, so a blind retry could make two.
    pub async fn create_report(&self, report: &ReportWrite) -> Result<ReportConfig, QualysError> {
        let url = self.cloudview_url(REPORTS)?;
        let created: ReportConfig = self
            .rest_json(Rest {
                family: Family::CloudView,
                operation: "reports.create",
                method: Method::POST,
                url,
                body: Some(write_body(report)?),
                safety: Safety::Unsafe,
            })
            .await?;
        if created.report_id.is_none() {
            return Err(QualysError::undecodable("report create answered without reportId"));
        }
        Ok(created)
    }

    /// Replaces the configuration of `report_id` with `report` (the whole body
    /// is sent, so repeating it is harmless). The answer's `reportId` is taken
    /// from the request: the documented answer names another report
    /// [002:2330-2336].
    pub async fn patch_report(&self, report_id: &str, report: &ReportWrite) -> Result<ReportConfig, QualysError> {
        let url = self.cloudview_url(&format!("{REPORTS}/{}", segment(report_id)))?;
        let patched: ReportConfig = self
            .rest_json(Rest {
                family: Family::CloudView,
                operation: "reports.patch",
                method: Method::PATCH,
                url,
                body: Some(write_body(report)?),
                safety: Safety::Idempotent,
            })
            .await?;
        Ok(pinned(patched, report_id, "patch"))
    }

    /// Deletes report configurations in one call (`DELETE` with a JSON array
    /// body, quirk Q-V1-8): one write however many ids. Nothing is sent for an
    /// empty list. Not retried once it may have arrived; after an ambiguous
    /// failure or a `NotFound` (the simulator refuses the whole call when one
    /// id is unknown), list again and delete what is still there.
    pub async fn delete_reports(&self, report_ids: &[String]) -> Result<(), QualysError> {
        if report_ids.is_empty() {
            return Ok(());
        }
        let url = self.cloudview_url(REPORTS)?;
        self.rest(
            Rest {
                family: Family::CloudView,
                operation: "reports.delete",
                method: Method::DELETE,
                url,
                body: Some(delete_body(report_ids)),
                safety: Safety::Unsafe,
            },
            |_| Ok(()),
        )
        .await
    }

    /// The mandates a report may use (`GET /reports/mandates`).
    pub async fn mandates(&self) -> Result<Vec<Mandate>, QualysError> {
        self.report_catalogue("reports.mandates", "mandates").await
    }

    /// The policies a report may use (`GET /reports/policies`).
    pub async fn policies(&self) -> Result<Vec<Policy>, QualysError> {
        self.report_catalogue("reports.policies", "policies").await
    }

    async fn report_catalogue<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        leaf: &str,
    ) -> Result<Vec<T>, QualysError> {
        let url = self.cloudview_url(&format!("{REPORTS}/{leaf}"))?;
        self.rest(
            Rest {
                family: Family::CloudView,
                operation,
                method: Method::GET,
                url,
                body: None,
                safety: Safety::Read,
            },
            |reply| array_or_page(json_body(&reply)?),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    //! The seed's samples (`tests/fixtures/cloudview-reports/`, each with its
    //! seed lines and repairs in its header) against the codecs.

    use super::*;
    use crate::qualys::cloudview::groups::SpringPage;
    use serde_json::json;

    macro_rules! sample {
        ($name:literal) => {
            strip_header(include_str!(concat!(
                "../../../tests/fixtures/cloudview-reports/",
                $name
            )))
        };
    }

    fn strip_header(text: &str) -> String {
        text.lines()
            .skip_while(|l| l.starts_with('#') || l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn value(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    fn qualys_dev() -> ReportAccountKey {
        ReportAccountKey::new("AWS", "383031258652")
    }

    const BEST_PRACTICES: &str = "1b8a3200-dbb3-11e7-b820-0518e3f8c979";
    const CIS: &str = "68dc5320-8677-11e8-9d84-85bffa8eeea9";

    #[test]
    fn list_sample_decodes_with_unknown_detail_fields() {
        let page: SpringPage<ReportConfig> = serde_json::from_str(&sample!("list_response.json")).unwrap();
        assert_eq!(page.content.len(), 1);
        assert_eq!(
            (page.last, page.total_pages, page.number),
            (Some(false), Some(2), Some(0))
        );
        let item = &page.content[0];
        assert_eq!(item.report_id.as_deref(), Some("84685b50-4d43-11e9-9496-d5e5ac80c6e2"));
        assert_eq!(item.report_type, Some(ReportType::Mandate));
        assert_eq!(item.format, Some(ReportFormat::OnScreen));
        assert_eq!(
            item.account_keys(),
            Some(vec![ReportAccountKey::new("AWS", "111111111111")])
        );
        let account = &item.accounts.as_ref().unwrap()[0];
        assert_eq!(account.name.as_deref(), Some("User_John"));
        assert_eq!(
            account.connector_id.as_deref(),
            Some("5a4f0630-39ab-11e9-a7c7-6f7103922bbf"),
            "the list shows the connector id"
        );
        assert_eq!(item.policies, None, "not in the list view: unknown, not empty");
        assert_eq!(item.policy_ids(), None);
        assert_eq!((&item.mandate_id, &item.created_on), (&None, &None));
    }

    #[test]
    fn catalogue_samples_decode_with_ids_as_text() {
        let mandates = array_or_page::<Mandate>(value(&sample!("mandates_response.json"))).unwrap();
        let got: Vec<(&str, &str)> = mandates
            .iter()
            .map(|m| (m.id.as_deref().unwrap(), m.name.as_deref().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("2481", "Cloud Controls Matrix (CCM)"),
                ("2441", "Payment Card Industry Data Security Standard (PCI-DSS)"),
                ("2443", "ISO/IEC 27001:2013"),
            ]
        );
        let policies = array_or_page::<Policy>(value(&sample!("policies_response.json"))).unwrap();
        assert_eq!(policies.len(), 2);
        assert_eq!(policies[0].id.as_deref(), Some(BEST_PRACTICES));
        assert_eq!(
            policies[1].title.as_deref(),
            Some("CIS Amazon Web Services Foundations Benchmark")
        );
        assert_eq!(policies[1].cloud_type.as_deref(), Some("AWS"));
        let paged = array_or_page::<Mandate>(json!({"content": [{"id": 1, "name": "x"}]})).unwrap();
        assert_eq!(paged[0].id.as_deref(), Some("1"));
        assert!(array_or_page::<Mandate>(json!({"id": 1})).is_err());
    }

    fn assert_documented_config(r: &ReportConfig, report_id: &str, title: &str, created_on: &str) {
        assert_eq!(r.report_id.as_deref(), Some(report_id));
        assert_eq!(r.title.as_deref(), Some(title));
        assert_eq!(r.report_type, Some(ReportType::Mandate));
        assert_eq!(r.format, Some(ReportFormat::OnScreen));
        assert_eq!(r.description.as_deref(), Some("CCM"));
        assert_eq!(r.mandate_id.as_deref(), Some("2481"));
        assert_eq!(r.account_keys(), Some(vec![qualys_dev()]));
        let account = &r.accounts.as_ref().unwrap()[0];
        assert_eq!(account.connector_id, None, "null in configuration answers");
        assert_eq!(account.name.as_deref(), Some("Qualys_Dev"));
        assert_eq!(r.policy_ids(), Some(vec![BEST_PRACTICES.to_owned(), CIS.to_owned()]));
        assert_eq!(r.created_on.as_deref(), Some(created_on));
    }

    #[test]
    fn configuration_samples_decode() {
        let got: ReportConfig = serde_json::from_str(&sample!("get_response.json")).unwrap();
        assert_documented_config(
            &got,
            "b81d8331-506d-11e9-ba0b-2d8c133f63e9",
            "Mandate_Report",
            "2019-03-27T08:52:58+0000",
        );
        let created: ReportConfig = serde_json::from_str(&sample!("create_response.json")).unwrap();
        assert_documented_config(
            &created,
            "b2f0e120-56b9-11e9-abce-d1748f389748",
            "Mandate_Report_Piblic_API",
            "2019-04-04T09:11:58+0000",
        );
        let patched: ReportConfig = serde_json::from_str(&sample!("patch_response.json")).unwrap();
        assert_documented_config(
            &patched,
            "47cb7ef0-4ed5-11e9-83e9-0f51c0d025db",
            "Mandate_Report",
            "2019-03-27T09:06:23+0000",
        );
    }

    #[test]
    fn absent_lists_are_unknown_and_null_lists_empty() {
        let absent: ReportConfig = serde_json::from_value(json!({"reportId": "r"})).unwrap();
        assert_eq!((absent.accounts, absent.policies), (None, None));
        let null: ReportConfig = serde_json::from_value(json!({"accounts": null, "policies": null})).unwrap();
        assert_eq!((null.accounts, null.policies), (Some(vec![]), Some(vec![])));
        let odd: ReportConfig = serde_json::from_value(json!({
            "type": " policy ", "format": "PDF", "mandateId": 2441, "description": "  ",
            "accounts": {"accountId": 383031258652u64, "cloudType": "aws"}
        }))
        .unwrap();
        assert_eq!(odd.report_type, Some(ReportType::Policy));
        assert_eq!(odd.format, Some(ReportFormat::Other("PDF".into())));
        assert_eq!(odd.mandate_id.as_deref(), Some("2441"));
        assert_eq!(odd.description, None);
        assert_eq!(
            odd.account_keys(),
            Some(vec![qualys_dev()]),
            "a single object is a list of one"
        );
        assert_eq!(
            ReportAccountKey::new("azure", "ABCD-01"),
            ReportAccountKey::new("AZURE", "abcd-01")
        );
    }

    fn documented_write(title: &str, connector_id: Option<&str>) -> ReportWrite {
        ReportWrite {
            title: title.into(),
            report_type: ReportType::Mandate,
            format: ReportFormat::OnScreen,
            description: Some("CCM".into()),
            mandate_id: Some("2481".into()),
            policies: [BEST_PRACTICES, CIS]
                .into_iter()
                .map(|id| ReportPolicyWrite {
                    policy_id: id.into(),
                    cloud_type: "AWS".into(),
                })
                .collect(),
            accounts: vec![ReportAccountWrite {
                account_id: "383031258652".into(),
                cloud_type: "AWS".into(),
                name: Some("Qualys_Dev".into()),
                connector_id: connector_id.map(Into::into),
            }],
        }
    }

    #[test]
    fn write_bodies_match_the_request_samples() {
        let patch = documented_write("Mandate_Report", Some("5a4f0630-39ab-11e9-a7c7-6f7103922bbf"));
        assert_eq!(write_body(&patch).unwrap(), value(&sample!("patch_request.json")));
        // The create sample sends mandateId as a number (Q-V1-7); the syntax says text.
        let mut expected = value(&sample!("create_request.json"));
        assert_eq!(expected["mandateId"], json!(2481));
        expected["mandateId"] = json!("2481");
        assert_eq!(
            write_body(&documented_write("Mandate_Report_Piblic_API", None)).unwrap(),
            expected
        );
        let mut policy = documented_write("p", None);
        policy.report_type = ReportType::Policy;
        policy.mandate_id = None;
        policy.description = None;
        let body = write_body(&policy).unwrap();
        assert_eq!(body["type"], "POLICY");
        assert_eq!((&body["mandateId"], &body["description"]), (&Value::Null, &Value::Null));
        assert!(body.get("mandateId").is_some(), "every key is sent");
    }

    #[test]
    fn report_data_sample_decodes() {
        let data: ReportData = serde_json::from_str(&sample!("report_data_response.json")).unwrap();
        let mandate = data.mandate.unwrap();
        assert_eq!(mandate.id.as_deref(), Some("2481"));
        assert_eq!(mandate.publisher.as_deref(), Some("Cloud Security Alliance (CSA)"));
        assert_eq!(mandate.release_date.as_deref(), Some("2016-10-05T00:00:00.000+0000"));
        assert_eq!(data.requirements.len(), 1);
        assert_eq!(data.requirements[0]["document"]["section"], "AIS");
        let summary = data.summary.unwrap();
        assert_eq!(summary.mandate_pass_percent, Some(38.18));
        assert_eq!(
            (
                summary.requirements_count,
                summary.controls_count,
                summary.policies_count
            ),
            (Some(16), Some(68), Some(2))
        );
        assert_eq!(summary.accounts[0].account_id.as_deref(), Some("791005424431"));
    }

    #[test]
    fn delete_body_matches_the_samples() {
        let one = value(&sample!("delete_request_one.json"));
        let two = value(&sample!("delete_request_two.json"));
        let ids = [
            " 9cce6540-4b36-11e9-be40-09d60abc9fcd".to_owned(),
            "fbfd2de0-4af4-11e9-9fd1-1344989d5139\n".to_owned(),
        ];
        assert_eq!(delete_body(&ids[..1]), one);
        assert_eq!(delete_body(&ids), two);
    }
}
