//! CloudView v1 connector groups and the `groups` of v1 connectors.

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::qualys::client::{Paged, QualysClient, Rest, json_body};
use crate::qualys::error::QualysError;
use crate::qualys::lenient::{self, de};
use crate::qualys::observer::Family;
use crate::qualys::qps::connector::CloudKind;
use crate::qualys::transport::{Safety, segment};

const BASE: &str = "/cloudview-api/rest/v1";
const PAGE_SIZE: u64 = 100;
const MAX_PAGES: u32 = 10_000;

/// A connector inside a group: identified by cloud account, not connector id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupMember {
    #[serde(deserialize_with = "de::opt_string")]
    pub connector_uuid: Option<String>,
    /// AWS account id, Azure subscription id or GCP project id.
    #[serde(deserialize_with = "de::opt_string")]
    pub account_identifier: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub cloud_type: Option<String>,
}

/// A connector group. Create answers `groupId`, the rest `uuid`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Group {
    #[serde(deserialize_with = "de::opt_string", alias = "title")]
    pub name: Option<String>,
    #[serde(deserialize_with = "de::opt_string", alias = "groupId", alias = "groupUuid")]
    pub uuid: Option<String>,
    #[serde(deserialize_with = "de::list")]
    pub connectors: Vec<GroupMember>,
}

/// `{"name", "uuid"}` as listed in a v1 connector's `groups`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupRef {
    #[serde(deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "de::opt_string", alias = "groupId")]
    pub uuid: Option<String>,
}

/// A CloudView v1 connector, reduced to what group management needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CloudViewConnector {
    #[serde(deserialize_with = "de::opt_string")]
    pub connector_id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub description: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub provider: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub state: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub aws_account_id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub subscription_id: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub project_id: Option<String>,
    #[serde(deserialize_with = "de::list")]
    pub groups: Vec<GroupRef>,
    /// `""` or `" "` on healthy connectors: read as `None`.
    #[serde(deserialize_with = "de::opt_string")]
    pub error: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub last_synced_on: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub portal_connector_uuid: Option<String>,
}

impl CloudViewConnector {
    /// The cloud account this connector stands for (what groups reference).
    pub fn account_identifier(&self) -> Option<&str> {
        self.aws_account_id
            .as_deref()
            .or(self.subscription_id.as_deref())
            .or(self.project_id.as_deref())
    }
}

/// Spring Data page envelope used by CloudView v1.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default, bound = "T: DeserializeOwned")]
pub struct SpringPage<T> {
    #[serde(deserialize_with = "de::list")]
    pub content: Vec<T>,
    #[serde(deserialize_with = "de::opt_bool")]
    pub last: Option<bool>,
    #[serde(deserialize_with = "de::opt_u64")]
    pub total_pages: Option<u64>,
    #[serde(deserialize_with = "de::opt_u64")]
    pub total_elements: Option<u64>,
    #[serde(deserialize_with = "de::opt_u64")]
    pub number: Option<u64>,
}

impl<T> Default for SpringPage<T> {
    fn default() -> Self {
        Self {
            content: Vec::new(),
            last: None,
            total_pages: None,
            total_elements: None,
            number: None,
        }
    }
}

/// Body of `POST groups/connectors`: both lists are always present (as in the
/// documented sample), empty when there is nothing to do on that side.
pub(crate) fn membership_body(account_identifiers: &[String], add: &[String], remove: &[String]) -> Value {
    json!({
        "accountIdentifiers": account_identifiers,
        "add": {"groupIds": add},
        "remove": {"groupIds": remove},
    })
}

/// CloudView's `cloudType` for a connector kind; OCI has no CloudView v1 API.
fn cloud_type(kind: CloudKind) -> Result<&'static str, QualysError> {
    match kind {
        CloudKind::Aws => Ok("AWS"),
        CloudKind::Azure => Ok("AZURE"),
        CloudKind::Gcp => Ok("GCP"),
        CloudKind::Oci => Err(QualysError::InvalidRequest {
            code: "CLIENT".into(),
            field: Some("cloudType".into()),
            message: "CloudView groups support AWS, AZURE and GCP only".into(),
        }),
    }
}

impl QualysClient {
    /// Every group visible to the user (there is no name filter: page through).
    pub async fn list_groups(&self) -> Result<Paged<Group>, QualysError> {
        self.cloudview_pages("groups.list", &format!("{BASE}/groups")).await
    }

    /// Creates a group; names must be unique. Never retried after an ambiguous
    /// failure (find it by name instead).
    pub async fn create_group(&self, name: &str) -> Result<Group, QualysError> {
        let mut url = self.cloudview_url(&format!("{BASE}/groups"))?;
        url.query_pairs_mut().append_pair("groupName", name);
        let mut group: Group = self
            .rest_json(Rest {
                family: Family::CloudView,
                operation: "groups.create",
                method: Method::POST,
                url,
                body: None,
                safety: Safety::Unsafe,
            })
            .await?;
        if group.uuid.is_none() {
            return Err(QualysError::undecodable("group create answered without groupId"));
        }
        group.name.get_or_insert_with(|| name.to_owned());
        Ok(group)
    }

    pub async fn get_group(&self, uuid: &str) -> Result<Group, QualysError> {
        let url = self.cloudview_url(&format!("{BASE}/groups/{}", segment(uuid)))?;
        self.rest_json(Rest {
            family: Family::CloudView,
            operation: "groups.get",
            method: Method::GET,
            url,
            body: None,
            safety: Safety::Read,
        })
        .await
    }

    /// Adds the accounts to `add` groups and removes them from `remove` groups,
    /// for one cloud type per call.
    pub async fn update_group_membership(
        &self,
        kind: CloudKind,
        account_identifiers: &[String],
        add: &[String],
        remove: &[String],
    ) -> Result<(), QualysError> {
        let mut url = self.cloudview_url(&format!("{BASE}/groups/connectors"))?;
        url.query_pairs_mut().append_pair("cloudType", cloud_type(kind)?);
        let body = membership_body(account_identifiers, add, remove);
        self.rest(
            Rest {
                family: Family::CloudView,
                operation: "groups.update_connectors",
                method: Method::POST,
                url,
                body: Some(body),
                safety: Safety::Idempotent,
            },
            |_| Ok(()),
        )
        .await
    }

    /// CloudView v1 connectors of a cloud, with their `groups`.
    pub async fn list_cloudview_connectors(&self, kind: CloudKind) -> Result<Paged<CloudViewConnector>, QualysError> {
        let path = format!("{BASE}/{}/connectors", cloud_type(kind)?.to_ascii_lowercase());
        self.cloudview_pages("cloudview_connectors.list", &path).await
    }

    pub async fn get_cloudview_connector(
        &self,
        kind: CloudKind,
        connector_id: &str,
    ) -> Result<CloudViewConnector, QualysError> {
        let path = format!(
            "{BASE}/{}/connectors/{}",
            cloud_type(kind)?.to_ascii_lowercase(),
            segment(connector_id)
        );
        let url = self.cloudview_url(&path)?;
        self.rest_json(Rest {
            family: Family::CloudView,
            operation: "cloudview_connectors.get",
            method: Method::GET,
            url,
            body: None,
            safety: Safety::Read,
        })
        .await
    }

    /// Walks `pageNo` from 0 until `last`. The base of `pageNo` is
    /// inconsistent in the docs, so repeated items (same page twice) are
    /// dropped and an all-repeat page ends the walk.
    pub(super) async fn cloudview_pages<T: DeserializeOwned + PartialEq>(
        &self,
        operation: &'static str,
        path: &str,
    ) -> Result<Paged<T>, QualysError> {
        let mut items: Vec<T> = Vec::new();
        let mut page_no = 0u64;
        let mut pages = 0u32;
        loop {
            let mut url = self.cloudview_url(path)?;
            url.query_pairs_mut()
                .append_pair("pageNo", &page_no.to_string())
                .append_pair("pageSize", &PAGE_SIZE.to_string());
            let page: SpringPage<T> = self
                .rest(
                    Rest {
                        family: Family::CloudView,
                        operation,
                        method: Method::GET,
                        url,
                        body: None,
                        safety: Safety::Read,
                    },
                    |reply| {
                        let v: Value = json_body(&reply)?;
                        if v.is_array() {
                            let content =
                                serde_json::from_value(v).map_err(|e| QualysError::undecodable(e.to_string()))?;
                            return Ok(SpringPage {
                                content,
                                last: Some(true),
                                ..SpringPage::default()
                            });
                        }
                        if lenient::field(&v, "content").is_none() {
                            return Err(QualysError::undecodable("page without content"));
                        }
                        serde_json::from_value(v).map_err(|e| QualysError::undecodable(e.to_string()))
                    },
                )
                .await?;
            pages += 1;
            let before = items.len();
            let got = page.content.len();
            for item in page.content {
                if !items.contains(&item) {
                    items.push(item);
                }
            }
            let last = match (page.last, page.total_pages) {
                (Some(last), _) => last,
                (None, Some(total)) => page_no + 1 >= total,
                (None, None) => true,
            };
            if last || got == 0 || items.len() == before || pages >= MAX_PAGES {
                break;
            }
            page_no += 1;
        }
        Ok(Paged { items, pages })
    }
}
