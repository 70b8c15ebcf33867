//! CloudView v1 user scope: the groups and cloud accounts a user may see
//! (`/users/{userName}/scope`, `/users/{userName}/groupScope`).

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use crate::qualys::client::{QualysClient, Rest};
use crate::qualys::error::QualysError;
use crate::qualys::lenient::{self, de};
use crate::qualys::observer::Family;
use crate::qualys::qps::connector::CloudKind;
use crate::qualys::transport::{Safety, segment};

const BASE: &str = "/cloudview-api/rest/v1";

/// A group in a user's scope. Scope answers name a group `title` and give
/// its member count, where the group API says `name` and lists `connectors`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScopeGroup {
    #[serde(deserialize_with = "de::opt_string", alias = "groupId", alias = "groupUuid")]
    pub uuid: Option<String>,
    #[serde(deserialize_with = "de::opt_string", alias = "name")]
    pub title: Option<String>,
    #[serde(deserialize_with = "de::opt_u64")]
    pub connector_count: Option<u64>,
}

/// A connector's account granted to the user directly, not through a group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DirectAccount {
    #[serde(deserialize_with = "de::opt_string")]
    pub connector_uuid: Option<String>,
    /// AWS account id, Azure subscription id or GCP project id.
    #[serde(deserialize_with = "de::opt_string")]
    pub account_identifier: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub cloud_type: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub connector_name: Option<String>,
}

/// What a user is granted in one cloud.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CloudScope {
    /// Absent or `null` reads as empty: nothing granted directly.
    #[serde(deserialize_with = "de::list")]
    pub direct_account_scope: Vec<DirectAccount>,
    /// AWS only. `None` when the answer has no `regions` (always so for Azure
    /// and GCP). The docs do not say what an empty or absent list grants, so
    /// it is reported as read and not interpreted here.
    #[serde(deserialize_with = "opt_strings")]
    pub regions: Option<Vec<String>>,
}

impl CloudScope {
    pub fn account_identifiers(&self) -> impl Iterator<Item = &str> {
        self.direct_account_scope
            .iter()
            .filter_map(|a| a.account_identifier.as_deref())
    }
}

/// A user's scope as `GET /users/{userName}/scope` and both updates answer it.
///
/// Absent fields: no `groups` reads as no groups. A cloud type missing from
/// the answer is kept as `None` (the raw fields say "not reported", for a
/// diff that must not mistake silence for a revocation); the accessors
/// ([`UserScope::cloud`], [`UserScope::accounts`], [`UserScope::regions`])
/// read it as nothing granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct UserScope {
    #[serde(deserialize_with = "de::list")]
    pub groups: Vec<ScopeGroup>,
    #[serde(rename = "AWS", alias = "aws", deserialize_with = "opt_object")]
    pub aws: Option<CloudScope>,
    #[serde(rename = "AZURE", alias = "azure", deserialize_with = "opt_object")]
    pub azure: Option<CloudScope>,
    #[serde(rename = "GCP", alias = "gcp", deserialize_with = "opt_object")]
    pub gcp: Option<CloudScope>,
}

static NOTHING: CloudScope = CloudScope {
    direct_account_scope: Vec::new(),
    regions: None,
};

impl UserScope {
    /// The cloud's part of the answer as sent; `None` if it was not reported
    /// (and always for OCI, which CloudView scopes do not cover).
    pub fn reported(&self, kind: CloudKind) -> Option<&CloudScope> {
        match kind {
            CloudKind::Aws => self.aws.as_ref(),
            CloudKind::Azure => self.azure.as_ref(),
            CloudKind::Gcp => self.gcp.as_ref(),
            CloudKind::Oci => None,
        }
    }

    /// The cloud's scope, a cloud not reported granting nothing.
    pub fn cloud(&self, kind: CloudKind) -> &CloudScope {
        self.reported(kind).unwrap_or(&NOTHING)
    }

    /// Account identifiers granted directly in that cloud.
    pub fn accounts(&self, kind: CloudKind) -> Vec<&str> {
        self.cloud(kind).account_identifiers().collect()
    }

    /// AWS regions granted; empty when none are reported.
    pub fn regions(&self) -> &[String] {
        self.cloud(CloudKind::Aws).regions.as_deref().unwrap_or_default()
    }

    pub fn group_uuids(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().filter_map(|g| g.uuid.as_deref())
    }
}

/// An object as `T`; `None` for null or anything that is not an object, so
/// one odd cloud entry does not make the whole scope unreadable.
fn opt_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    match Option::<Value>::deserialize(d)? {
        Some(v @ Value::Object(_)) => T::deserialize(v).map(Some).map_err(serde::de::Error::custom),
        _ => Ok(None),
    }
}

/// A list of strings, keeping "absent or null" apart from "empty".
fn opt_strings<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?
        .filter(|v| !v.is_null())
        .map(|v| lenient::many(&v).into_iter().filter_map(lenient::text).collect()))
}

/// Body of `POST users/{userName}/groupScope`: the documented key is
/// `groupsIds` (double s; the prose says `groupIds`, Q-GRP-4). Both sides are
/// always present, as in the sample, empty when there is nothing to do.
pub(crate) fn group_scope_body(add: &[String], remove: &[String]) -> Value {
    json!({
        "add": {"groupsIds": add},
        "remove": {"groupsIds": remove},
    })
}

/// Account changes of one `POST users/{userName}/scope?cloudType=` call.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AccountScopeChange<'a> {
    pub add_accounts: &'a [String],
    pub remove_accounts: &'a [String],
    pub add_regions: &'a [String],
    pub remove_regions: &'a [String],
}

/// Body of `POST users/{userName}/scope?cloudType=`. `regions` goes out only
/// for AWS, the one cloud it applies to (always both sides then, as in the
/// sample); for the others a region is refused before anything is sent.
pub(crate) fn account_scope_body(kind: CloudKind, change: AccountScopeChange<'_>) -> Result<Value, QualysError> {
    let cloud = scope_cloud_type(kind)?;
    if kind != CloudKind::Aws && !(change.add_regions.is_empty() && change.remove_regions.is_empty()) {
        return Err(QualysError::InvalidRequest {
            code: "CLIENT".into(),
            field: Some("regions".into()),
            message: format!("regions apply to AWS only, not to {cloud}"),
        });
    }
    let side = |accounts: &[String], regions: &[String]| {
        let mut m = Map::new();
        m.insert("accountIdentifiers".into(), json!(accounts));
        if kind == CloudKind::Aws {
            m.insert("regions".into(), json!(regions));
        }
        Value::Object(m)
    };
    Ok(json!({
        "add": side(change.add_accounts, change.add_regions),
        "remove": side(change.remove_accounts, change.remove_regions),
    }))
}

/// CloudView's `cloudType` for user scopes; OCI has none.
fn scope_cloud_type(kind: CloudKind) -> Result<&'static str, QualysError> {
    match kind {
        CloudKind::Aws | CloudKind::Azure | CloudKind::Gcp => Ok(kind.type_name()),
        CloudKind::Oci => Err(QualysError::InvalidRequest {
            code: "CLIENT".into(),
            field: Some("cloudType".into()),
            message: "CloudView user scopes cover AWS, AZURE and GCP only".into(),
        }),
    }
}

/// `/users/{userName}` with the name percent-encoded (user names may hold `@`).
fn user_path(user: &str) -> Result<String, QualysError> {
    if user.trim().is_empty() {
        return Err(QualysError::InvalidRequest {
            code: "CLIENT".into(),
            field: Some("userName".into()),
            message: "a user name is required".into(),
        });
    }
    Ok(format!("{BASE}/users/{}", segment(user)))
}

impl QualysClient {
    /// The groups, accounts and AWS regions `user` may see.
    pub async fn user_scope(&self, user: &str) -> Result<UserScope, QualysError> {
        let url = self.cloudview_url(&format!("{}/scope", user_path(user)?))?;
        self.rest_json(Rest {
            family: Family::CloudView,
            operation: "user_scope.get",
            method: Method::GET,
            url,
            body: None,
            safety: Safety::Read,
        })
        .await
    }

    /// Grants `add` and revokes `remove` groups (by uuid); answers the updated
    /// scope. Adding a granted group or removing an absent one changes nothing,
    /// so the call may be repeated.
    pub async fn update_group_scope(
        &self,
        user: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<UserScope, QualysError> {
        let url = self.cloudview_url(&format!("{}/groupScope", user_path(user)?))?;
        self.rest_json(Rest {
            family: Family::CloudView,
            operation: "user_scope.update_groups",
            method: Method::POST,
            url,
            body: Some(group_scope_body(add, remove)),
            safety: Safety::Idempotent,
        })
        .await
    }

    /// Grants and revokes accounts of one cloud directly, and for AWS regions;
    /// answers the updated scope. Regions for another cloud, and OCI, are
    /// refused before sending.
    pub async fn update_account_scope(
        &self,
        user: &str,
        kind: CloudKind,
        add_accounts: &[String],
        remove_accounts: &[String],
        add_regions: &[String],
        remove_regions: &[String],
    ) -> Result<UserScope, QualysError> {
        let body = account_scope_body(
            kind,
            AccountScopeChange {
                add_accounts,
                remove_accounts,
                add_regions,
                remove_regions,
            },
        )?;
        let mut url = self.cloudview_url(&format!("{}/scope", user_path(user)?))?;
        url.query_pairs_mut().append_pair("cloudType", kind.type_name());
        self.rest_json(Rest {
            family: Family::CloudView,
            operation: "user_scope.update_accounts",
            method: Method::POST,
            url,
            body: Some(body),
            safety: Safety::Idempotent,
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../testdata/", $name))
        };
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn direct(uuid: &str, account: &str, cloud: &str, name: &str) -> DirectAccount {
        DirectAccount {
            connector_uuid: Some(uuid.into()),
            account_identifier: Some(account.into()),
            cloud_type: Some(cloud.into()),
            connector_name: Some(name.into()),
        }
    }

    fn group(uuid: &str, title: &str, count: u64) -> ScopeGroup {
        ScopeGroup {
            uuid: Some(uuid.into()),
            title: Some(title.into()),
            connector_count: Some(count),
        }
    }

    /// [000:440-494]
    #[test]
    fn get_scope_sample_decodes_field_by_field() {
        let scope: UserScope = serde_json::from_str(fixture!("user_scope_get.json")).unwrap();
        let expected = UserScope {
            groups: vec![group("52660405-27d3-3f69-b764-b0061ab4c494", "Example_group", 2)],
            aws: Some(CloudScope {
                direct_account_scope: vec![direct(
                    "af50f5c0-c8c2-11e9-945e-77a38645daea",
                    "XXXXXXXXXXXX",
                    "AWS",
                    "AWS_Connector_1",
                )],
                regions: Some(strings(&["us-east-1", "us-east-2"])),
            }),
            azure: Some(CloudScope {
                direct_account_scope: vec![direct(
                    "2e0c1660-d061-11e9-ad71-df4fba75b3c5",
                    "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX",
                    "AZURE",
                    "Azure_Connector_2",
                )],
                regions: None,
            }),
            gcp: Some(CloudScope {
                direct_account_scope: vec![direct(
                    "66e7d1f0-c8c2-11e9-9fcb-85661d3ad949",
                    "gcp-demo",
                    "GCP",
                    "GCP_Connector_3",
                )],
                regions: None,
            }),
        };
        assert_eq!(scope, expected);
        assert_eq!(scope.accounts(CloudKind::Gcp), ["gcp-demo"]);
        assert_eq!(scope.regions(), ["us-east-1", "us-east-2"]);
        assert_eq!(
            scope.group_uuids().collect::<Vec<_>>(),
            ["52660405-27d3-3f69-b764-b0061ab4c494"]
        );
    }

    /// [000:507-573]
    #[test]
    fn group_scope_sample_request_and_answer() {
        let body = group_scope_body(
            &strings(&["52660405-27d3-3f69-b764-b0061ab4c494"]),
            &strings(&["9d665fd0-f15d-379f-8b11-b39cd4ebfd9e"]),
        );
        assert_eq!(
            body,
            serde_json::from_str::<Value>(fixture!("user_group_scope_request.json")).unwrap()
        );
        let scope: UserScope = serde_json::from_str(fixture!("user_group_scope_response.json")).unwrap();
        assert_eq!(
            scope.groups,
            [group("52660405-27d3-3f69-b764-b0061ab4c494", "new-group", 2)]
        );
        let aws = scope.reported(CloudKind::Aws).unwrap();
        assert!(aws.direct_account_scope.is_empty());
        assert_eq!(aws.regions, Some(vec![]), "an empty list is not an absent one");
        assert_eq!(scope.reported(CloudKind::Azure), Some(&CloudScope::default()));
        assert_eq!(scope.reported(CloudKind::Gcp), Some(&CloudScope::default()));
    }

    /// [000:584-683]
    #[test]
    fn account_scope_sample_request_and_answer() {
        let account = strings(&["XXXXXXXXXXXX"]);
        let body = account_scope_body(
            CloudKind::Aws,
            AccountScopeChange {
                add_accounts: &account,
                remove_accounts: &account,
                add_regions: &strings(&["us-east-1", "us-east-2"]),
                remove_regions: &strings(&["eu-west-1"]),
            },
        )
        .unwrap();
        assert_eq!(
            body,
            serde_json::from_str::<Value>(fixture!("user_account_scope_request.json")).unwrap()
        );
        let scope: UserScope = serde_json::from_str(fixture!("user_account_scope_response.json")).unwrap();
        assert_eq!(
            scope.groups,
            [group("52660405-27d3-3f69-b764-b0061ab4c494", "new_sample_group", 2)]
        );
        assert_eq!(
            scope.cloud(CloudKind::Aws).direct_account_scope,
            [direct(
                "af50f5c0-c8c2-11e9-945e-77a38645daea",
                "XXXXXXXXXXXX",
                "AWS",
                "AWS_Connector"
            )]
        );
        assert_eq!(scope.regions(), ["us-east-1", "us-east-2"]);
        assert!(scope.accounts(CloudKind::Azure).is_empty());
        assert_eq!(
            scope.cloud(CloudKind::Gcp).direct_account_scope,
            [direct(
                "66e7d1f0-c8c2-11e9-9fcb-85661d3ad949",
                "gcp-demo",
                "GCP",
                "GCP_Connector"
            )]
        );
    }

    #[test]
    fn regions_go_out_for_aws_only() {
        let none: &[String] = &[];
        let accounts = strings(&["gcp-demo"]);
        let gcp = account_scope_body(
            CloudKind::Gcp,
            AccountScopeChange {
                add_accounts: &accounts,
                ..AccountScopeChange::default()
            },
        )
        .unwrap();
        assert_eq!(
            gcp,
            json!({"add": {"accountIdentifiers": ["gcp-demo"]}, "remove": {"accountIdentifiers": []}})
        );
        let regions = strings(&["us-east-1"]);
        for kind in [CloudKind::Azure, CloudKind::Gcp] {
            let err = account_scope_body(
                kind,
                AccountScopeChange {
                    add_accounts: none,
                    remove_accounts: none,
                    add_regions: none,
                    remove_regions: &regions,
                },
            )
            .unwrap_err();
            assert!(
                matches!(&err, QualysError::InvalidRequest { field: Some(f), .. } if f == "regions"),
                "{err:?}"
            );
        }
        let oci = account_scope_body(CloudKind::Oci, AccountScopeChange::default()).unwrap_err();
        assert!(matches!(&oci, QualysError::InvalidRequest { field: Some(f), .. } if f == "cloudType"));
    }

    #[test]
    fn absent_parts_are_nothing_granted_but_stay_told_apart() {
        let scope: UserScope = serde_json::from_str(r#"{"AWS": {"directAccountScope": null}, "GCP": "n/a"}"#).unwrap();
        assert!(scope.groups.is_empty());
        assert_eq!(scope.reported(CloudKind::Aws), Some(&CloudScope::default()));
        assert_eq!(scope.reported(CloudKind::Azure), None, "not reported");
        assert_eq!(scope.reported(CloudKind::Gcp), None, "not an object");
        assert!(scope.accounts(CloudKind::Azure).is_empty());
        assert!(scope.regions().is_empty());
        let lenient: UserScope = serde_json::from_str(
            r#"{"groups": {"uuid": "g", "title": "t", "connectorCount": "3"},
                "aws": {"directAccountScope": {"accountIdentifier": 123456789012}, "regions": "us-east-1"}}"#,
        )
        .unwrap();
        assert_eq!(lenient.groups, [group("g", "t", 3)]);
        assert_eq!(lenient.accounts(CloudKind::Aws), ["123456789012"]);
        assert_eq!(lenient.regions(), ["us-east-1"]);
    }

    #[test]
    fn user_names_are_percent_encoded_and_required() {
        assert_eq!(
            user_path("john.doe@example.com").unwrap(),
            "/cloudview-api/rest/v1/users/john.doe%40example.com"
        );
        assert_eq!(user_path("a/b c").unwrap(), "/cloudview-api/rest/v1/users/a%2Fb%20c");
        assert!(user_path("  ").is_err());
    }
}
