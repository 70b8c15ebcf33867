//! QPS 3.0 cloud connectors (AWS, Azure, GCP, OCI): one read model, one
//! partial write model, and their wire shapes.

use std::fmt;

use serde_json::Value;

use super::scan::ScanConfig;
use crate::qualys::lenient::{self, field, field_bool, field_items, field_text, field_token, field_u64};
use crate::qualys::secret::Secret;
use crate::qualys::tree::Node;

/// The cloud of a QPS connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CloudKind {
    Aws,
    Azure,
    Gcp,
    Oci,
}

impl CloudKind {
    pub const ALL: [CloudKind; 4] = [Self::Aws, Self::Azure, Self::Gcp, Self::Oci];

    /// QPS object name in URLs.
    pub fn object(self) -> &'static str {
        match self {
            Self::Aws => "awsassetdataconnector",
            Self::Azure => "azureassetdataconnector",
            Self::Gcp => "gcpassetdataconnector",
            Self::Oci => "ociassetdataconnector",
        }
    }

    /// Element name inside `data`.
    pub fn element(self) -> &'static str {
        match self {
            Self::Aws => "AwsAssetDataConnector",
            Self::Azure => "AzureAssetDataConnector",
            Self::Gcp => "GcpAssetDataConnector",
            Self::Oci => "OciAssetDataConnector",
        }
    }

    /// Qualys' `type` value, also the CloudView `cloudType`.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::Aws => "AWS",
            Self::Azure => "AZURE",
            Self::Gcp => "GCP",
            Self::Oci => "OCI",
        }
    }

    /// Lower-case name used in operation labels (`aws.create`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::Azure => "azure",
            Self::Gcp => "gcp",
            Self::Oci => "oci",
        }
    }

    pub fn from_type_name(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.type_name().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for CloudKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name())
    }
}

/// A tag reference (`TagSimple`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRef {
    pub id: String,
    pub name: Option<String>,
}

/// One app of a connector (`ConnectorAppInfo`): AI, CI or CSA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorApp {
    pub name: String,
    /// Cloud account identifier: AWS role ARN, Azure subscription id, GCP
    /// project id, OCI tenancy OCID. Reads may carry another id (Azure
    /// sometimes echoes the application id).
    pub identifier: Option<String>,
    /// Reads often omit it: `None` means "not echoed", not "no tag".
    pub tag_id: Option<String>,
}

/// Element names Qualys uses for the middle level of `connectorAppInfos`.
const APP_CONTAINERS: &[&str] = &["ConnectorAppInfoQList", "ConnectorAppInfoQLList"];

/// A connector as Qualys reports it. Every field is optional because answers
/// differ by operation and cloud (update and OCI run echo only the id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connector {
    pub kind: Option<CloudKind>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub connector_state: Option<String>,
    pub last_sync: Option<String>,
    pub next_sync: Option<String>,
    pub last_error: Option<String>,
    pub disabled: Option<bool>,
    /// Minutes.
    pub run_frequency: Option<u32>,
    pub remediation_enabled: Option<bool>,
    /// As reported, including the `CLOUDVIEW` module Qualys adds by itself.
    pub activation: Option<Vec<String>>,
    pub default_tags: Option<Vec<TagRef>>,
    pub apps: Option<Vec<ConnectorApp>>,
    pub all_regions: Option<bool>,
    /// AWS region codes of `endpoints`.
    pub regions: Option<Vec<String>>,
    pub arn: Option<String>,
    pub external_id: Option<String>,
    pub aws_account_id: Option<String>,
    pub qualys_aws_account_id: Option<String>,
    pub gov_cloud: Option<bool>,
    pub china: Option<bool>,
    pub cps_enabled: Option<bool>,
    pub custom_scan_config_enabled: Option<bool>,
    pub scan_config: Option<ScanConfig>,
    pub cloudview_uuid: Option<String>,
    pub is_deleted: Option<bool>,
    pub is_attached_to_org_connector: Option<bool>,
    pub subscription_name: Option<String>,
    pub application_id: Option<String>,
    pub directory_id: Option<String>,
    pub subscription_id: Option<String>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub user_id: Option<String>,
    pub fingerprint: Option<String>,
    pub home_region: Option<String>,
}

impl Connector {
    /// Reads one connector object. `kind` is the element it came in; the
    /// object's own `type` wins when present.
    pub fn from_value(kind: Option<CloudKind>, v: &Value) -> Self {
        let auth = field(v, "authRecord");
        let auth_token = |key: &str| auth.and_then(|a| field_token(a, key));
        let apps = field_items(v, "connectorAppInfos", "ConnectorAppInfo", APP_CONTAINERS)
            .or_else(|| field_items(v, "connectorApplInfos", "ConnectorAppInfo", APP_CONTAINERS))
            .map(|apps| {
                apps.into_iter()
                    .filter_map(|a| {
                        Some(ConnectorApp {
                            name: field_token(a, "name")?,
                            identifier: field_token(a, "identifier"),
                            tag_id: field_token(a, "tagId")
                                .or_else(|| field(a, "tagMetadata").and_then(|m| field_token(m, "id"))),
                        })
                    })
                    .collect()
            });
        let scan_config = field_items(v, "connectorScanConfig", "ConnectorScanConfiguration", &[])
            .and_then(|configs| configs.first().map(|c| ScanConfig::from_value(c)));
        Self {
            kind: field_token(v, "type")
                .and_then(|t| CloudKind::from_type_name(&t))
                .or(kind),
            id: field_token(v, "id"),
            name: field_text(v, "name"),
            description: field_text(v, "description"),
            connector_state: field_token(v, "connectorState"),
            last_sync: field_token(v, "lastSync"),
            next_sync: field_token(v, "nextSync"),
            last_error: field_text(v, "lastError"),
            disabled: field_bool(v, "disabled"),
            run_frequency: field_u64(v, "runFrequency").and_then(|n| u32::try_from(n).ok()),
            remediation_enabled: field_bool(v, "isRemediationEnabled"),
            activation: field_items(v, "activation", "ActivationModule", &[])
                .map(|m| m.into_iter().filter_map(lenient::token).collect()),
            default_tags: field_items(v, "defaultTags", "TagSimple", &[]).map(|tags| {
                tags.into_iter()
                    .filter_map(|t| {
                        Some(TagRef {
                            id: field_token(t, "id")?,
                            name: field_text(t, "name"),
                        })
                    })
                    .collect()
            }),
            apps,
            all_regions: field_bool(v, "allRegions"),
            regions: field_items(v, "endpoints", "AwsEndpointSimple", &[])
                .map(|e| e.into_iter().filter_map(|r| field_token(r, "regionCode")).collect()),
            arn: field_token(v, "arn"),
            external_id: field_token(v, "externalId"),
            aws_account_id: field_token(v, "awsAccountId"),
            qualys_aws_account_id: field_token(v, "qualysAwsAccountId"),
            gov_cloud: field_bool(v, "isGovCloudConfigured"),
            china: field_bool(v, "isChinaConfigured"),
            cps_enabled: field_bool(v, "isCPSEnabled"),
            custom_scan_config_enabled: field(v, "connectorScanSetting")
                .and_then(|s| field_bool(s, "isCustomScanConfigEnabled")),
            scan_config,
            cloudview_uuid: field_token(v, "cloudviewUuid"),
            is_deleted: field_bool(v, "isDeleted"),
            is_attached_to_org_connector: field_bool(v, "isAttachedToOrgConnector"),
            subscription_name: field_text(v, "subscriptionName"),
            application_id: auth_token("applicationId"),
            directory_id: auth_token("directoryId"),
            subscription_id: auth_token("subscriptionId"),
            project_id: auth_token("projectId"),
            tenant_id: auth_token("tenantId"),
            user_id: auth_token("userId"),
            fingerprint: auth_token("fingerprint"),
            home_region: field_token(v, "homeRegion"),
        }
    }
}

/// An app to set on a connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorAppWrite {
    /// `AI`, `CI` or `CSA`.
    pub name: String,
    pub identifier: String,
    pub tag_id: Option<String>,
}

/// A GCP service-account key file. Debug output redacts it whole.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GcpServiceAccountKey {
    pub key_type: Option<String>,
    pub project_id: Option<String>,
    pub private_key_id: Option<Secret>,
    pub private_key: Option<Secret>,
    pub client_email: Option<String>,
    pub client_id: Option<String>,
    pub auth_uri: Option<String>,
    pub token_uri: Option<String>,
    pub auth_provider_x509_cert_url: Option<String>,
    pub client_x509_cert_url: Option<String>,
}

impl GcpServiceAccountKey {
    /// Parses the JSON key file Google issues. The error never quotes the input.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let v: Value =
            serde_json::from_str(json).map_err(|e| format!("service-account key is not JSON (line {})", e.line()))?;
        if !v.is_object() {
            return Err("service-account key is not a JSON object".into());
        }
        let s = |k: &str| field_text(&v, k);
        Ok(Self {
            key_type: s("type"),
            project_id: s("project_id"),
            private_key_id: s("private_key_id").map(Secret::from),
            private_key: s("private_key").map(Secret::from),
            client_email: s("client_email"),
            client_id: s("client_id"),
            auth_uri: s("auth_uri"),
            token_uri: s("token_uri"),
            auth_provider_x509_cert_url: s("auth_provider_x509_cert_url"),
            client_x509_cert_url: s("client_x509_cert_url"),
        })
    }
}

impl fmt::Debug for GcpServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GcpServiceAccountKey([REDACTED])")
    }
}

/// `authRecord` fields to send; which ones apply depends on the cloud.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthRecordWrite {
    // Azure
    pub application_id: Option<String>,
    pub directory_id: Option<String>,
    pub subscription_id: Option<String>,
    pub authentication_key: Option<Secret>,
    // GCP
    pub project_id: Option<String>,
    pub gcp_key: Option<GcpServiceAccountKey>,
    // OCI
    pub tenant_id: Option<String>,
    pub user_id: Option<String>,
    pub fingerprint: Option<String>,
    pub private_key: Option<Secret>,
    pub passphrase: Option<Secret>,
}

impl AuthRecordWrite {
    fn to_node(&self) -> Node {
        let t = |s: &Option<String>| s.as_deref().map(Node::text);
        let secret = |s: &Option<Secret>| s.as_ref().map(|s| Node::text(s.expose()));
        let key = self.gcp_key.as_ref();
        let key_text =
            |f: fn(&GcpServiceAccountKey) -> &Option<String>| key.and_then(|k| f(k).as_deref().map(Node::text));
        let key_secret = |f: fn(&GcpServiceAccountKey) -> &Option<Secret>| {
            key.and_then(|k| f(k).as_ref().map(|s| Node::text(s.expose())))
        };
        // The key file's own project_id is the fallback: the documented request
        // carries only `projectId`, never the snake-case copy.
        let project_id = self
            .project_id
            .clone()
            .or_else(|| key.and_then(|k| k.project_id.clone()));
        Node::object()
            .with_opt("applicationId", t(&self.application_id))
            .with_opt("directoryId", t(&self.directory_id))
            .with_opt("subscriptionId", t(&self.subscription_id))
            .with_opt("authenticationKey", secret(&self.authentication_key))
            .with_opt("projectId", t(&project_id))
            .with_opt(
                "auth_provider_x509_cert_url",
                key_text(|k| &k.auth_provider_x509_cert_url),
            )
            .with_opt("auth_uri", key_text(|k| &k.auth_uri))
            .with_opt("client_email", key_text(|k| &k.client_email))
            .with_opt("client_id", key_text(|k| &k.client_id))
            .with_opt("client_x509_cert_url", key_text(|k| &k.client_x509_cert_url))
            .with_opt("private_key", key_secret(|k| &k.private_key))
            .with_opt("private_key_id", key_secret(|k| &k.private_key_id))
            .with_opt("token_uri", key_text(|k| &k.token_uri))
            .with_opt("type", key_text(|k| &k.key_type))
            .with_opt("tenantId", t(&self.tenant_id))
            .with_opt("userId", t(&self.user_id))
            .with_opt("fingerprint", t(&self.fingerprint))
            .with_opt("privateKey", secret(&self.private_key))
            .with_opt("passphrase", secret(&self.passphrase))
    }
}

/// What to send on create or update. Only `Some` fields go on the wire (Qualys
/// updates are partial); collections are sent with `set` (replace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectorWrite {
    pub name: Option<String>,
    pub description: Option<String>,
    pub disabled: Option<bool>,
    /// Minutes.
    pub run_frequency: Option<u32>,
    pub remediation_enabled: Option<bool>,
    pub activation: Option<Vec<String>>,
    /// Modules to take off (`activation.remove`), for a spec that emptied its list.
    pub remove_activation: Option<Vec<String>>,
    pub default_tag_ids: Option<Vec<String>>,
    /// Tags to take off (`defaultTags.remove`), for a spec that emptied its list.
    pub remove_tag_ids: Option<Vec<String>>,
    pub apps: Option<Vec<ConnectorAppWrite>>,
    pub all_regions: Option<bool>,
    /// AWS region codes (`endpoints`), meaningful when `all_regions` is false.
    pub regions: Option<Vec<String>>,
    pub arn: Option<String>,
    pub external_id: Option<String>,
    pub gov_cloud: Option<bool>,
    /// `isChinaConfigured`: appears only in responses in the docs; sent only if set.
    pub china: Option<bool>,
    pub cps_enabled: Option<bool>,
    pub custom_scan_config_enabled: Option<bool>,
    pub scan_config: Option<ScanConfig>,
    pub home_region: Option<String>,
    pub auth_record: Option<AuthRecordWrite>,
}

impl ConnectorWrite {
    /// The object element's content, fields in the documented order.
    pub fn to_node(&self) -> Node {
        let set_of =
            |item: &str, nodes: Vec<Node>| Node::object().with("set", Node::object().with(item, Node::List(nodes)));
        Node::object()
            .with_opt("name", self.name.as_deref().map(Node::text))
            .with_opt("description", self.description.as_deref().map(Node::text))
            .with_opt("defaultTags", self.tags_node())
            .with_opt("activation", self.activation_node())
            .with_opt("disabled", self.disabled.map(Node::Bool))
            .with_opt("arn", self.arn.as_deref().map(Node::text))
            .with_opt("externalId", self.external_id.as_deref().map(Node::text))
            .with_opt("isGovCloudConfigured", self.gov_cloud.map(Node::Bool))
            .with_opt("isChinaConfigured", self.china.map(Node::Bool))
            .with_opt("allRegions", self.all_regions.map(Node::Bool))
            .with_opt(
                "endpoints",
                self.regions.as_ref().map(|r| {
                    set_of(
                        "AwsEndpointSimple",
                        r.iter()
                            .map(|code| Node::object().with("regionCode", Node::text(code)))
                            .collect(),
                    )
                }),
            )
            .with_opt("runFrequency", self.run_frequency.map(Node::number))
            .with_opt("isRemediationEnabled", self.remediation_enabled.map(Node::Bool))
            .with_opt("homeRegion", self.home_region.as_deref().map(Node::text))
            .with_opt("authRecord", self.auth_record.as_ref().map(AuthRecordWrite::to_node))
            .with_opt("isCPSEnabled", self.cps_enabled.map(Node::Bool))
            .with_opt(
                "connectorScanSetting",
                self.custom_scan_config_enabled
                    .map(|b| Node::object().with("isCustomScanConfigEnabled", Node::Bool(b))),
            )
            .with_opt(
                "connectorScanConfig",
                self.scan_config
                    .as_ref()
                    .map(|c| set_of("ConnectorScanConfiguration", vec![c.to_node()])),
            )
            .with_opt("connectorAppInfos", self.apps.as_ref().map(|apps| apps_node(apps)))
    }
}

impl ConnectorWrite {
    /// `set` replaces the tags; `remove` (documented for every QList) takes the
    /// listed ones off, which is how a list emptied in the spec is applied.
    fn activation_node(&self) -> Option<Node> {
        let modules =
            |m: &[String]| Node::object().with("ActivationModule", Node::List(m.iter().map(Node::text).collect()));
        let remove = self.remove_activation.as_deref().filter(|m| !m.is_empty());
        if self.activation.is_none() && remove.is_none() {
            return None;
        }
        Some(
            Node::object()
                .with_opt("set", self.activation.as_deref().map(modules))
                .with_opt("remove", remove.map(modules)),
        )
    }

    fn tags_node(&self) -> Option<Node> {
        let tags = |ids: &[String]| {
            Node::object().with(
                "TagSimple",
                Node::List(ids.iter().map(|id| Node::object().with("id", Node::id(id))).collect()),
            )
        };
        let set = self.default_tag_ids.as_deref().filter(|ids| !ids.is_empty());
        let remove = self.remove_tag_ids.as_deref().filter(|ids| !ids.is_empty());
        if set.is_none() && remove.is_none() {
            return None;
        }
        Some(
            Node::object()
                .with_opt("set", set.map(tags))
                .with_opt("remove", remove.map(tags)),
        )
    }
}

/// One `ConnectorAppInfoQList` per app, the shape of most documented requests.
fn apps_node(apps: &[ConnectorAppWrite]) -> Node {
    let qlists = apps
        .iter()
        .map(|a| {
            let info = Node::object()
                .with("name", Node::text(&a.name))
                .with("identifier", Node::text(&a.identifier))
                .with_opt(
                    "tagId",
                    a.tag_id.as_deref().filter(|t| !t.trim().is_empty()).map(Node::id),
                );
            Node::object().with("set", Node::object().with("ConnectorAppInfo", info))
        })
        .collect();
    Node::object().with("set", Node::object().with("ConnectorAppInfoQList", Node::List(qlists)))
}
