//! QPS 3.0 operations on [`QualysClient`].

use reqwest::Method;
use serde_json::Value;

use super::account_info::{AwsBaseAccount, ConnectorErrorEntry, PortalVersion};
use super::connector::{CloudKind, Connector, ConnectorWrite};
use super::criteria::{Criteria, Preferences};
use super::envelope::{ServiceRequest, ServiceResponse};
use super::scan::{GLOBAL_SCAN_ELEMENT, GLOBAL_SCAN_OBJECT, ScanConfig};
use crate::qualys::client::{Paged, QualysClient};
use crate::qualys::config::QpsFormat;
use crate::qualys::error::QualysError;
use crate::qualys::transport::{Safety, segment};

/// Page size for every QPS search (the documented maximum per call).
pub const PAGE_SIZE: u64 = 100;
/// Guard against a server that keeps saying `hasMoreRecords`.
const MAX_PAGES: u32 = 10_000;

#[derive(Clone, Copy)]
enum Action {
    Create,
    Update,
    Delete,
    Run,
    Search,
    Get,
}

impl Action {
    fn path(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Run => "run",
            Self::Search => "search",
            Self::Get => "get",
        }
    }
}

/// Static operation labels (`aws.create`, …) for metrics.
fn op(kind: CloudKind, action: Action) -> &'static str {
    const LABELS: [[&str; 6]; 4] = [
        [
            "aws.create",
            "aws.update",
            "aws.delete",
            "aws.run",
            "aws.search",
            "aws.get",
        ],
        [
            "azure.create",
            "azure.update",
            "azure.delete",
            "azure.run",
            "azure.search",
            "azure.get",
        ],
        [
            "gcp.create",
            "gcp.update",
            "gcp.delete",
            "gcp.run",
            "gcp.search",
            "gcp.get",
        ],
        [
            "oci.create",
            "oci.update",
            "oci.delete",
            "oci.run",
            "oci.search",
            "oci.get",
        ],
    ];
    let k = match kind {
        CloudKind::Aws => 0,
        CloudKind::Azure => 1,
        CloudKind::Gcp => 2,
        CloudKind::Oci => 3,
    };
    let a = match action {
        Action::Create => 0,
        Action::Update => 1,
        Action::Delete => 2,
        Action::Run => 3,
        Action::Search => 4,
        Action::Get => 5,
    };
    LABELS[k][a]
}

fn connector_path(kind: CloudKind, action: Action, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("/qps/rest/3.0/{}/am/{}/{}", action.path(), kind.object(), segment(id)),
        None => format!("/qps/rest/3.0/{}/am/{}", action.path(), kind.object()),
    }
}

fn not_found_if_empty(resp: &ServiceResponse, element: &str, what: &str) -> Result<(), QualysError> {
    if resp.count == Some(0) || (resp.data.is_none() && resp.objects(element).is_empty()) {
        return Err(QualysError::NotFound {
            message: format!("{what}: Qualys answered with no object"),
        });
    }
    Ok(())
}

fn require_id(id: &str) -> Result<&str, QualysError> {
    let t = id.trim();
    if t.is_empty() {
        // An empty id would turn "update one" into "update every match".
        return Err(QualysError::InvalidRequest {
            code: "CLIENT".into(),
            field: Some("id".into()),
            message: "a connector id is required".into(),
        });
    }
    Ok(t)
}

impl QualysClient {
    /// The client for calls about `kind`: OCI connectors speak JSON whatever
    /// the account's format, as every documented OCI request and response does.
    fn for_kind(&self, kind: CloudKind) -> QualysClient {
        match kind {
            CloudKind::Oci => self.with_qps_format(QpsFormat::Json),
            _ => self.clone(),
        }
    }

    /// Creates a connector and returns it as Qualys echoes it. Never retried
    /// after an ambiguous failure: search by natural key before trying again.
    pub async fn create_connector(&self, kind: CloudKind, write: &ConnectorWrite) -> Result<Connector, QualysError> {
        let req = ServiceRequest::with_data(kind.element(), write.to_node());
        let path = connector_path(kind, Action::Create, None);
        let resp = self
            .for_kind(kind)
            .qps(
                op(kind, Action::Create),
                Method::POST,
                &path,
                Some(&req),
                Safety::Unsafe,
            )
            .await?;
        let obj = resp
            .objects(kind.element())
            .into_iter()
            .next()
            .ok_or_else(|| QualysError::undecodable("create answered without the created connector"))?;
        let created = Connector::from_value(Some(kind), obj);
        if created.id.is_none() {
            return Err(QualysError::undecodable("created connector has no id"));
        }
        Ok(created)
    }

    /// Partial update of one connector: only `Some` fields are sent. Qualys
    /// answers with the id only, so read the connector again for its state.
    pub async fn update_connector(&self, kind: CloudKind, id: &str, write: &ConnectorWrite) -> Result<(), QualysError> {
        let id = require_id(id)?;
        let req = ServiceRequest::with_data(kind.element(), write.to_node());
        let path = connector_path(kind, Action::Update, Some(id));
        let resp = self
            .for_kind(kind)
            .qps(
                op(kind, Action::Update),
                Method::POST,
                &path,
                Some(&req),
                Safety::Idempotent,
            )
            .await?;
        not_found_if_empty(&resp, kind.element(), "update")
    }

    /// Deletes one connector. `NotFound` when Qualys deleted nothing.
    pub async fn delete_connector(&self, kind: CloudKind, id: &str) -> Result<(), QualysError> {
        let id = require_id(id)?;
        let path = connector_path(kind, Action::Delete, Some(id));
        let resp = self
            .for_kind(kind)
            .qps(op(kind, Action::Delete), Method::POST, &path, None, Safety::Unsafe)
            .await?;
        not_found_if_empty(&resp, kind.element(), "delete")
    }

    /// Starts a sync. Returns what Qualys echoes: the full connector for
    /// AWS/Azure/GCP, only the id for OCI.
    pub async fn run_connector(&self, kind: CloudKind, id: &str) -> Result<Connector, QualysError> {
        let id = require_id(id)?;
        let path = connector_path(kind, Action::Run, Some(id));
        let resp = self
            .for_kind(kind)
            .qps(op(kind, Action::Run), Method::POST, &path, None, Safety::Unsafe)
            .await?;
        not_found_if_empty(&resp, kind.element(), "run")?;
        Ok(resp
            .objects(kind.element())
            .first()
            .map(|v| Connector::from_value(Some(kind), v))
            .unwrap_or_else(|| Connector {
                kind: Some(kind),
                id: Some(id.to_owned()),
                ..Connector::default()
            }))
    }

    /// One connector by id. `NotFound` may mean "outside the caller's scope".
    pub async fn get_connector(&self, kind: CloudKind, id: &str) -> Result<Connector, QualysError> {
        let id = require_id(id)?;
        let path = connector_path(kind, Action::Get, Some(id));
        let resp = self
            .for_kind(kind)
            .qps(op(kind, Action::Get), Method::GET, &path, None, Safety::Read)
            .await?;
        not_found_if_empty(&resp, kind.element(), "get")?;
        resp.objects(kind.element())
            .first()
            .map(|v| Connector::from_value(Some(kind), v))
            .ok_or_else(|| QualysError::NotFound {
                message: format!("connector {id}"),
            })
    }

    /// Every connector of a kind matching all `filters` (none = all), fetched
    /// 100 per call.
    pub async fn search_connectors(
        &self,
        kind: CloudKind,
        filters: &[Criteria],
    ) -> Result<Paged<Connector>, QualysError> {
        let path = connector_path(kind, Action::Search, None);
        let pages = self
            .for_kind(kind)
            .qps_search_all(op(kind, Action::Search), &path, kind.element(), filters)
            .await?;
        Ok(Paged {
            items: pages
                .items
                .iter()
                .map(|v| Connector::from_value(Some(kind), v))
                .collect(),
            pages: pages.pages,
        })
    }

    /// Sync errors Qualys recorded for one connector (any cloud).
    pub async fn search_connector_errors(&self, connector_id: &str) -> Result<Paged<ConnectorErrorEntry>, QualysError> {
        let id = require_id(connector_id)?;
        let pages = self
            .qps_search_all(
                "connector_errors.search",
                "/qps/rest/3.0/search/am/assetdataconnectorerrors",
                "AssetDataConnectorErrors",
                &[Criteria::equals("id", id)],
            )
            .await?;
        Ok(Paged {
            items: pages.items.iter().map(ConnectorErrorEntry::from_value).collect(),
            pages: pages.pages,
        })
    }

    /// The AWS accounts Qualys assumes roles from.
    pub async fn aws_base_account(&self) -> Result<AwsBaseAccount, QualysError> {
        let resp = self
            .qps(
                "base_account.get",
                Method::POST,
                "/qps/rest/3.0/search/am/awsbaseaccount",
                None,
                Safety::Read,
            )
            .await?;
        let entry = resp
            .objects("AwsBaseAccount")
            .first()
            .copied()
            .or_else(|| resp.bare_objects().first().copied())
            .ok_or_else(|| QualysError::NotFound {
                message: "no AWS base account".into(),
            })?;
        Ok(AwsBaseAccount::from_value(entry))
    }

    /// Portal and module versions; also a cheap credentials probe.
    pub async fn portal_version(&self) -> Result<PortalVersion, QualysError> {
        let resp = self
            .qps(
                "portal.version",
                Method::GET,
                "/qps/rest/portal/version",
                None,
                Safety::Read,
            )
            .await?;
        resp.objects("Portal-Version")
            .first()
            .map(|v| PortalVersion::from_value(v))
            .ok_or_else(|| QualysError::undecodable("version answer without Portal-Version"))
    }

    /// Creates the account-wide perimeter-scan schedule.
    pub async fn create_global_scan_config(&self, config: &ScanConfig) -> Result<ScanConfig, QualysError> {
        self.write_global_scan("global_scan.create", "create", config, Safety::Unsafe)
            .await
    }

    /// Replaces the account-wide perimeter-scan schedule (it has no id).
    pub async fn update_global_scan_config(&self, config: &ScanConfig) -> Result<ScanConfig, QualysError> {
        self.write_global_scan("global_scan.update", "update", config, Safety::Idempotent)
            .await
    }

    /// The account-wide schedule, `None` when none is configured.
    pub async fn get_global_scan_config(&self) -> Result<Option<ScanConfig>, QualysError> {
        let path = format!("/qps/rest/3.0/search/am/{GLOBAL_SCAN_OBJECT}");
        let resp = self
            .qps("global_scan.search", Method::POST, &path, None, Safety::Read)
            .await?;
        Ok(resp
            .objects(GLOBAL_SCAN_ELEMENT)
            .first()
            .map(|v| ScanConfig::from_value(v)))
    }

    async fn write_global_scan(
        &self,
        operation: &'static str,
        action: &str,
        config: &ScanConfig,
        safety: Safety,
    ) -> Result<ScanConfig, QualysError> {
        let req = ServiceRequest::with_data(GLOBAL_SCAN_ELEMENT, config.to_node());
        let path = format!("/qps/rest/3.0/{action}/am/{GLOBAL_SCAN_OBJECT}");
        let resp = self.qps(operation, Method::POST, &path, Some(&req), safety).await?;
        // Should Qualys answer without the object, what was sent is what is set.
        Ok(resp
            .objects(GLOBAL_SCAN_ELEMENT)
            .first()
            .map(|v| ScanConfig::from_value(v))
            .unwrap_or_else(|| config.clone()))
    }

    /// Pages through a search with `startFromOffset` / `limitResults` until
    /// `hasMoreRecords` is no longer true.
    async fn qps_search_all(
        &self,
        operation: &'static str,
        path: &str,
        element: &str,
        filters: &[Criteria],
    ) -> Result<Paged<Value>, QualysError> {
        let mut items = Vec::new();
        let mut offset = 1u64;
        let mut pages = 0u32;
        loop {
            let req = ServiceRequest {
                preferences: Some(Preferences::page(offset, PAGE_SIZE)),
                filters: filters.to_vec(),
                data: None,
            };
            let resp = self
                .qps(operation, Method::POST, path, Some(&req), Safety::Read)
                .await?;
            pages += 1;
            let found: Vec<Value> = resp.objects(element).into_iter().cloned().collect();
            let n = found.len() as u64;
            items.extend(found);
            if resp.has_more_records != Some(true) {
                break;
            }
            if n == 0 || pages >= MAX_PAGES {
                tracing::warn!(operation, pages, "hasMoreRecords without progress; stopping");
                break;
            }
            offset += n;
        }
        Ok(Paged { items, pages })
    }
}
