//! Azure organization connectors on the connectors gateway (plain JSON).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::qualys::lenient::{self, de, ser};
use crate::qualys::secret::Secret;

/// A run interval as the gateway writes it: `{"hours": 1, "minutes": 0}`.
/// Reads also accept a number or a string of minutes (`"60"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RunFrequency {
    pub hours: u32,
    pub minutes: u32,
}

impl RunFrequency {
    pub fn from_minutes(total: u32) -> Self {
        Self {
            hours: total / 60,
            minutes: total % 60,
        }
    }

    pub fn total_minutes(self) -> u32 {
        self.hours * 60 + self.minutes
    }
}

impl<'de> Deserialize<'de> for RunFrequency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        if v.is_object() {
            let h = lenient::field_u64(&v, "hours").unwrap_or(0);
            let m = lenient::field_u64(&v, "minutes").unwrap_or(0);
            let total = u32::try_from(h * 60 + m).map_err(serde::de::Error::custom)?;
            return Ok(Self::from_minutes(total));
        }
        lenient::unsigned(&v)
            .and_then(|m| u32::try_from(m).ok())
            .map(Self::from_minutes)
            .ok_or_else(|| serde::de::Error::custom("run frequency is neither {hours, minutes} nor minutes"))
    }
}

fn opt_frequency<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RunFrequency>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.filter(|v| !v.is_null())
        .and_then(|v| RunFrequency::deserialize(v).ok()))
}

/// An app of an organization connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgApp {
    #[serde(default, deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub identifier: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string", serialize_with = "ser::opt_id")]
    pub tag_id: Option<String>,
}

/// Create / edit body. Every field is sent (the gateway documents them all as
/// mandatory, including the ones it will not let change).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgConnectorWrite {
    pub name: String,
    pub description: String,
    pub tenant_id: String,
    pub tenant_name: String,
    pub application_id: String,
    #[serde(serialize_with = "expose")]
    pub secret_value: Secret,
    /// At most 30 characters; cannot change after creation.
    pub connector_prefix_name: String,
    pub connector_app_infos: Vec<OrgApp>,
    pub org_run_frequency: RunFrequency,
    pub connector_run_frequency: RunFrequency,
    pub included_mem: Vec<String>,
    pub excluded_mem: Vec<String>,
    pub is_create_connector_for_new_subscriptions_automatically: bool,
    pub is_disable_connectors_for_deleted_management_groups: bool,
    pub is_remediation_enabled: bool,
    #[serde(rename = "autoActivateCV")]
    pub auto_activate_cv: bool,
    pub auto_activate_cert_view: bool,
    #[serde(rename = "autoActivatePC")]
    pub auto_activate_pc: bool,
    #[serde(rename = "autoActivateSCA")]
    pub auto_activate_sca: bool,
    #[serde(rename = "autoActivateVM")]
    pub auto_activate_vm: bool,
    #[serde(serialize_with = "ser::ids")]
    pub default_tag_ids: Vec<String>,
}

impl fmt::Debug for OrgConnectorWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrgConnectorWrite")
            .field("name", &self.name)
            .field("tenant_id", &self.tenant_id)
            .field("application_id", &self.application_id)
            .field("secret_value", &self.secret_value)
            .field("connector_prefix_name", &self.connector_prefix_name)
            .finish_non_exhaustive()
    }
}

fn expose<S: Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose())
}

/// Credentials for test-connection.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgCredentials {
    pub tenant_id: String,
    pub application_id: String,
    #[serde(serialize_with = "expose")]
    pub secret_value: Secret,
}

impl fmt::Debug for OrgCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrgCredentials")
            .field("tenant_id", &self.tenant_id)
            .field("application_id", &self.application_id)
            .field("secret_value", &self.secret_value)
            .finish()
    }
}

/// An organization connector as read: detail, list summary and status view
/// share this type (each fills what it has; request-style `is…` names are
/// accepted as aliases).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrgConnector {
    #[serde(deserialize_with = "de::opt_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub uuid: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub description: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub organization_id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub organization_name: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub tenant_id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub application_id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub customer_id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub user_uuid: Option<String>,
    #[serde(deserialize_with = "de::opt_string", alias = "username")]
    pub user_name: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub created_by: Option<String>,
    #[serde(rename = "type", deserialize_with = "de::opt_string")]
    pub cloud_type: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub state: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub last_error: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub last_synced: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub next_sync: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub last_successful_sync: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub connector_prefix_name: Option<String>,
    #[serde(deserialize_with = "opt_frequency", alias = "runFrequency")]
    pub org_run_frequency: Option<RunFrequency>,
    #[serde(deserialize_with = "opt_frequency")]
    pub connector_run_frequency: Option<RunFrequency>,
    #[serde(deserialize_with = "de::strings")]
    pub default_tag_ids: Vec<String>,
    #[serde(deserialize_with = "de::list")]
    pub connector_app_infos: Vec<OrgApp>,
    #[serde(deserialize_with = "de::strings")]
    pub connector_capabilities: Vec<String>,
    #[serde(deserialize_with = "de::strings")]
    pub included_mem: Vec<String>,
    #[serde(deserialize_with = "de::strings")]
    pub excluded_mem: Vec<String>,
    pub member_configurations: Option<ManagementGroups>,
    #[serde(
        deserialize_with = "de::opt_bool",
        alias = "isCreateConnectorForNewSubscriptionsAutomatically"
    )]
    pub create_connector_for_new_subscriptions_automatically: Option<bool>,
    #[serde(
        deserialize_with = "de::opt_bool",
        alias = "isDisableConnectorsForDeletedManagementGroups"
    )]
    pub disable_connectors_for_deleted_management_groups: Option<bool>,
    #[serde(deserialize_with = "de::opt_bool", alias = "isRemediationEnabled")]
    pub remediation_enabled: Option<bool>,
    #[serde(deserialize_with = "de::opt_bool", alias = "isDisabled")]
    pub disabled: Option<bool>,
    #[serde(deserialize_with = "de::opt_bool", alias = "isDeleted")]
    pub deleted: Option<bool>,
    #[serde(rename = "autoActivateCV", deserialize_with = "de::opt_bool")]
    pub auto_activate_cv: Option<bool>,
    #[serde(deserialize_with = "de::opt_bool")]
    pub auto_activate_cert_view: Option<bool>,
    #[serde(rename = "autoActivatePC", deserialize_with = "de::opt_bool")]
    pub auto_activate_pc: Option<bool>,
    #[serde(rename = "autoActivateSCA", deserialize_with = "de::opt_bool")]
    pub auto_activate_sca: Option<bool>,
    #[serde(rename = "autoActivateVM", deserialize_with = "de::opt_bool")]
    pub auto_activate_vm: Option<bool>,
    #[serde(deserialize_with = "de::opt_u64")]
    pub number_of_connectors_attached: Option<u64>,
}

impl OrgConnector {
    /// Included management groups, whichever field carried them.
    pub fn included_members(&self) -> &[String] {
        match &self.member_configurations {
            Some(m) if self.included_mem.is_empty() => &m.included_members,
            _ => &self.included_mem,
        }
    }
}

/// Management groups attached to an org connector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ManagementGroups {
    #[serde(deserialize_with = "de::strings")]
    pub included_members: Vec<String>,
    #[serde(deserialize_with = "de::strings")]
    pub excluded_members: Vec<String>,
}

/// A subscription-level connector that can belong to an org connector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MemberConnector {
    #[serde(deserialize_with = "de::opt_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub uuid: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub description: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub customer_id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub user_uuid: Option<String>,
    #[serde(deserialize_with = "de::opt_string", alias = "userName")]
    pub username: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub state: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub cloud_type: Option<String>,
    #[serde(deserialize_with = "de::opt_bool", alias = "remediationEnabled")]
    pub is_remediation_enabled: Option<bool>,
    #[serde(deserialize_with = "de::opt_bool", alias = "disabled")]
    pub is_disabled: Option<bool>,
    #[serde(deserialize_with = "de::opt_bool", alias = "deleted")]
    pub is_deleted: Option<bool>,
    #[serde(deserialize_with = "de::strings")]
    pub activated_modules: Vec<String>,
    #[serde(deserialize_with = "de::list")]
    pub connector_app_infos: Vec<OrgApp>,
    #[serde(deserialize_with = "de::strings")]
    pub default_tag_ids: Vec<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub last_synced: Option<String>,
    #[serde(deserialize_with = "de::opt_bool")]
    pub is_attached_to_org_connector: Option<bool>,
    #[serde(deserialize_with = "de::opt_string")]
    pub organization_id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub organization_connector_id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub parent_id: Option<String>,
}

/// Answer of test-connection: a job to poll.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TestConnectionJob {
    #[serde(deserialize_with = "de::opt_string")]
    pub response_code: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub response_message: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub job_uuid: Option<String>,
}

/// State of a gateway job (`createOn` is Qualys' spelling).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Job {
    #[serde(deserialize_with = "de::opt_string")]
    pub status: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub error: Option<String>,
    #[serde(deserialize_with = "de::opt_string", alias = "createOn")]
    pub created_on: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub updated_on: Option<String>,
}

impl Job {
    /// Only `COMPLETED` is documented; anything carrying an error, or named
    /// like a failure, is treated as finished too.
    pub fn is_finished(&self) -> bool {
        self.is_failed()
            || self
                .status
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("COMPLETED"))
    }

    pub fn is_failed(&self) -> bool {
        self.error.as_deref().is_some_and(|e| !e.trim().is_empty())
            || self.status.as_deref().is_some_and(|s| {
                let s = s.to_ascii_uppercase();
                s.contains("FAIL") || s.contains("ERROR")
            })
    }
}

/// One error of an org connector's last run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobSummaryEntry {
    #[serde(rename = "type", deserialize_with = "de::opt_string")]
    pub entry_type: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub error_msg: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub created: Option<String>,
}

/// The gateway's page envelope.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default, bound = "T: serde::de::DeserializeOwned")]
pub struct GatewayPage<T> {
    #[serde(deserialize_with = "de::opt_u64")]
    pub current_page: Option<u64>,
    #[serde(deserialize_with = "de::opt_u64")]
    pub total_pages: Option<u64>,
    #[serde(deserialize_with = "de::opt_u64")]
    pub number_of_elements: Option<u64>,
    #[serde(deserialize_with = "de::list")]
    pub content: Vec<T>,
    #[serde(deserialize_with = "de::opt_bool")]
    pub has_next: Option<bool>,
    #[serde(deserialize_with = "de::opt_bool")]
    pub last: Option<bool>,
}

impl<T> Default for GatewayPage<T> {
    fn default() -> Self {
        Self {
            current_page: None,
            total_pages: None,
            number_of_elements: None,
            content: Vec::new(),
            has_next: None,
            last: None,
        }
    }
}

impl<T> GatewayPage<T> {
    /// Whether another page follows `page_number` (0-based).
    pub fn has_more(&self, page_number: u64) -> bool {
        if self.content.is_empty() {
            return false;
        }
        match (self.has_next, self.last, self.total_pages) {
            (Some(next), _, _) => next,
            (None, Some(last), _) => !last,
            (None, None, Some(total)) => page_number + 1 < total,
            _ => false,
        }
    }
}
