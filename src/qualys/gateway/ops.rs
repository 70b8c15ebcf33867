//! Gateway operations on [`QualysClient`]: Azure organization connectors.

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::org::{
    GatewayPage, Job, JobSummaryEntry, ManagementGroups, MemberConnector, OrgConnector, OrgConnectorWrite,
    OrgCredentials, TestConnectionJob,
};
use crate::qualys::client::{Paged, QualysClient, Rest};
use crate::qualys::error::QualysError;
use crate::qualys::lenient;
use crate::qualys::observer::Family;
use crate::qualys::transport::{Safety, segment};

const ORG: &str = "/connectors/v1.0/org/azure";
const MEMBER: &str = "/connectors/v1.0/azure";
const PAGE_SIZE: u64 = 100;
const MAX_PAGES: u32 = 10_000;

/// Ids go out as JSON numbers when they are numeric (as documented).
fn id_value(id: &str) -> Value {
    match id.trim().parse::<u64>() {
        Ok(n) => json!(n),
        Err(_) => json!(id),
    }
}

fn ids_value(ids: &[String]) -> Value {
    Value::Array(ids.iter().map(|i| id_value(i)).collect())
}

fn body_of<T: serde::Serialize>(v: &T) -> Result<Value, QualysError> {
    serde_json::to_value(v).map_err(|e| QualysError::Config {
        message: format!("cannot encode request: {e}"),
    })
}

impl QualysClient {
    /// Starts a test of Azure credentials; poll [`Self::org_job`] with the uuid.
    pub async fn org_test_connection(&self, credentials: &OrgCredentials) -> Result<String, QualysError> {
        let url = self.gateway_url(&format!("{ORG}/test/"))?;
        let resp: TestConnectionJob = self
            .rest_json(Rest {
                family: Family::Gateway,
                operation: "org.test_connection",
                method: Method::POST,
                url,
                body: Some(body_of(credentials)?),
                safety: Safety::Idempotent,
            })
            .await?;
        if let Some(code) = resp
            .response_code
            .as_deref()
            .filter(|c| !c.eq_ignore_ascii_case("SUCCESS"))
        {
            return Err(QualysError::InvalidRequest {
                code: code.to_ascii_uppercase(),
                field: None,
                message: resp.response_message.unwrap_or_else(|| code.to_owned()),
            });
        }
        resp.job_uuid
            .ok_or_else(|| QualysError::undecodable("test connection answered without a jobUuid"))
    }

    pub async fn org_job(&self, job_uuid: &str) -> Result<Job, QualysError> {
        let url = self.gateway_url(&format!("{ORG}/job/{}", segment(job_uuid)))?;
        self.rest_json(Rest {
            family: Family::Gateway,
            operation: "org.job",
            method: Method::GET,
            url,
            body: None,
            safety: Safety::Read,
        })
        .await
    }

    /// Creates an org connector. Never retried after an ambiguous failure.
    pub async fn create_org_connector(&self, write: &OrgConnectorWrite) -> Result<OrgConnector, QualysError> {
        let url = self.gateway_url(&format!("{ORG}/"))?;
        self.rest_json(Rest {
            family: Family::Gateway,
            operation: "org.create",
            method: Method::POST,
            url,
            body: Some(body_of(write)?),
            safety: Safety::Unsafe,
        })
        .await
    }

    /// Edits an org connector (PUT, per the newer documentation).
    pub async fn edit_org_connector(&self, id: &str, write: &OrgConnectorWrite) -> Result<OrgConnector, QualysError> {
        let url = self.gateway_url(&format!("{ORG}/{}", segment(id)))?;
        self.rest_json(Rest {
            family: Family::Gateway,
            operation: "org.edit",
            method: Method::PUT,
            url,
            body: Some(body_of(write)?),
            safety: Safety::Idempotent,
        })
        .await
    }

    pub async fn get_org_connector(&self, id: &str) -> Result<OrgConnector, QualysError> {
        let url = self.gateway_url(&format!("{ORG}/{}", segment(id)))?;
        self.rest_json(Rest {
            family: Family::Gateway,
            operation: "org.get",
            method: Method::GET,
            url,
            body: None,
            safety: Safety::Read,
        })
        .await
    }

    /// Every org connector, optionally narrowed by a gateway `query` string.
    pub async fn list_org_connectors(&self, query: Option<&str>) -> Result<Paged<OrgConnector>, QualysError> {
        let query = query.map(str::to_owned);
        self.gateway_pages("org.list", Method::GET, &format!("{ORG}/"), None, query.as_deref())
            .await
    }

    /// Marks org connectors for running; returns Qualys' confirmation text.
    pub async fn run_org_connectors(&self, ids: &[String]) -> Result<String, QualysError> {
        let url = self.gateway_url(&format!("{ORG}/run/"))?;
        self.rest(
            Rest {
                family: Family::Gateway,
                operation: "org.run",
                method: Method::POST,
                url,
                body: Some(ids_value(ids)),
                safety: Safety::Unsafe,
            },
            |reply| Ok(reply.text().trim().to_owned()),
        )
        .await
    }

    /// Management groups of a tenant (run a test connection first so they are fresh).
    pub async fn org_management_groups(
        &self,
        tenant_id: &str,
        application_id: &str,
    ) -> Result<Paged<String>, QualysError> {
        let body = json!({"tenantId": tenant_id, "applicationId": application_id});
        self.gateway_pages(
            "org.management_groups",
            Method::POST,
            &format!("{ORG}/management-groups/"),
            Some(body),
            None,
        )
        .await
    }

    pub async fn org_attached_management_groups(&self, id: &str) -> Result<ManagementGroups, QualysError> {
        let url = self.gateway_url(&format!("{ORG}/management-groups/{}", segment(id)))?;
        self.rest_json(Rest {
            family: Family::Gateway,
            operation: "org.attached_groups",
            method: Method::GET,
            url,
            body: None,
            safety: Safety::Read,
        })
        .await
    }

    /// Enables or disables org connectors; returns their new views.
    pub async fn set_org_connectors_enabled(
        &self,
        ids: &[String],
        enabled: bool,
    ) -> Result<Vec<OrgConnector>, QualysError> {
        let mut url = self.gateway_url(&format!("{ORG}/status/"))?;
        url.query_pairs_mut()
            .append_pair("action", if enabled { "ENABLE" } else { "DISABLE" });
        let page: GatewayPage<OrgConnector> = self
            .rest(
                Rest {
                    family: Family::Gateway,
                    operation: "org.status",
                    method: Method::PUT,
                    url,
                    body: Some(ids_value(ids)),
                    safety: Safety::Idempotent,
                },
                |reply| page_or_list(&reply),
            )
            .await?;
        Ok(page.content)
    }

    /// Attaches a member connector to an org connector.
    pub async fn attach_member_connector(
        &self,
        connector_id: &str,
        org_connector_id: &str,
    ) -> Result<MemberConnector, QualysError> {
        let url = self.gateway_url(&format!("{MEMBER}/attach"))?;
        let body =
            json!({"connectorId": id_value(connector_id), "organizationConnectorId": id_value(org_connector_id)});
        self.rest_json(Rest {
            family: Family::Gateway,
            operation: "org.attach",
            method: Method::PUT,
            url,
            body: Some(body),
            safety: Safety::Idempotent,
        })
        .await
    }

    /// Detaches member connectors (by member connector id) from their org.
    pub async fn detach_member_connectors(
        &self,
        connector_ids: &[String],
    ) -> Result<Vec<MemberConnector>, QualysError> {
        let url = self.gateway_url(&format!("{MEMBER}/detach"))?;
        let page: GatewayPage<MemberConnector> = self
            .rest(
                Rest {
                    family: Family::Gateway,
                    operation: "org.detach",
                    method: Method::PUT,
                    url,
                    body: Some(ids_value(connector_ids)),
                    safety: Safety::Idempotent,
                },
                |reply| page_or_list(&reply),
            )
            .await?;
        Ok(page.content)
    }

    /// Org connectors a member connector may be attached to.
    pub async fn valid_org_connectors(&self, connector_id: &str) -> Result<Paged<OrgConnector>, QualysError> {
        let path = format!("{MEMBER}/valid-org-connectors/{}", segment(connector_id));
        self.gateway_pages("org.valid_org_connectors", Method::GET, &path, None, None)
            .await
    }

    pub async fn org_member_connectors(&self, id: &str) -> Result<Paged<MemberConnector>, QualysError> {
        let path = format!("{ORG}/member-connectors/{}", segment(id));
        self.gateway_pages("org.member_connectors", Method::GET, &path, None, None)
            .await
    }

    /// Errors of the org connector's last run.
    pub async fn org_last_job_summary(&self, id: &str) -> Result<Vec<JobSummaryEntry>, QualysError> {
        let url = self.gateway_url(&format!("{ORG}/last-job-summary/{}", segment(id)))?;
        let page: GatewayPage<JobSummaryEntry> = self
            .rest(
                Rest {
                    family: Family::Gateway,
                    operation: "org.last_job_summary",
                    method: Method::GET,
                    url,
                    body: None,
                    safety: Safety::Read,
                },
                |reply| page_or_list(&reply),
            )
            .await?;
        Ok(page.content)
    }

    /// Deletes an org connector (its members are detached, not deleted).
    pub async fn delete_org_connector(&self, id: &str) -> Result<(), QualysError> {
        let url = self.gateway_url(&format!("{ORG}/{}", segment(id)))?;
        self.rest(
            Rest {
                family: Family::Gateway,
                operation: "org.delete",
                method: Method::DELETE,
                url,
                body: None,
                safety: Safety::Unsafe,
            },
            |_| Ok(()),
        )
        .await
    }

    /// Walks `pageNumber` from 0 with `pageSize` 100 until the envelope says stop.
    async fn gateway_pages<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<Value>,
        query: Option<&str>,
    ) -> Result<Paged<T>, QualysError> {
        let mut items = Vec::new();
        let mut page_number = 0u64;
        let mut pages = 0u32;
        loop {
            let mut url = self.gateway_url(path)?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("pageNumber", &page_number.to_string());
                q.append_pair("pageSize", &PAGE_SIZE.to_string());
                if let Some(query) = query {
                    q.append_pair("query", query);
                }
            }
            let page: GatewayPage<T> = self
                .rest(
                    Rest {
                        family: Family::Gateway,
                        operation,
                        method: method.clone(),
                        url,
                        body: body.clone(),
                        safety: Safety::Read,
                    },
                    |reply| page_or_list(&reply),
                )
                .await?;
            pages += 1;
            let more = page.has_more(page_number);
            items.extend(page.content);
            if !more || pages >= MAX_PAGES {
                break;
            }
            page_number += 1;
        }
        Ok(Paged { items, pages })
    }
}

/// A page envelope, or a bare array / object treated as a one-page answer.
fn page_or_list<T: DeserializeOwned>(reply: &crate::qualys::transport::Reply) -> Result<GatewayPage<T>, QualysError> {
    let v: Value = crate::qualys::client::json_body(reply)?;
    let is_page = v.is_object() && lenient::field(&v, "content").is_some();
    let page = if is_page {
        serde_json::from_value::<GatewayPage<T>>(v)
    } else {
        let content = lenient::many(&v).into_iter().cloned().collect::<Vec<_>>();
        serde_json::from_value::<Vec<T>>(Value::Array(content)).map(|content| GatewayPage {
            content,
            last: Some(true),
            ..GatewayPage::default()
        })
    };
    page.map_err(|e| QualysError::undecodable(e.to_string()))
}
