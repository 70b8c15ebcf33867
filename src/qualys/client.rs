//! `QualysClient`: one per Qualys account, cheap to clone.

use std::fmt;
use std::sync::Arc;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::config::{AccountConfig, CloudViewAuth, ConfigError, QpsFormat};
use super::error::QualysError;
use super::fence::WriteFence;
use super::governor::RateGovernor;
use super::observer::{CallObserver, Family};
use super::qps::envelope::{ServiceRequest, ServiceResponse};
use super::transport::{AuthKind, Call, Reply, Safety, Transport, http_error, join_url};

/// All results of a paged listing, and how many calls it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub pages: u32,
}

/// A plain-JSON request to the gateway or CloudView.
pub(crate) struct Rest {
    pub family: Family,
    pub operation: &'static str,
    pub method: Method,
    pub url: reqwest::Url,
    pub body: Option<Value>,
    pub safety: Safety,
}

/// Client for one Qualys account (QPS 3.0, connectors gateway, CloudView v1).
/// Owns the account's rate governor and gateway token cache, so clones share
/// the budget: create one per account, clone it freely.
#[derive(Clone)]
pub struct QualysClient {
    transport: Arc<Transport>,
    qps_format: QpsFormat,
}

impl fmt::Debug for QualysClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QualysClient")
            .field("config", &self.transport.config)
            .field("qps_format", &self.qps_format)
            .finish()
    }
}

/// Builds a [`QualysClient`].
pub struct QualysClientBuilder {
    config: AccountConfig,
    observer: Option<Arc<dyn CallObserver>>,
    fence: Option<Arc<dyn WriteFence>>,
}

impl QualysClientBuilder {
    /// Receives one record per HTTP exchange (for metrics).
    /// Every call that can change Qualys passes `fence` right before it is sent.
    pub fn fence(mut self, fence: Arc<dyn WriteFence>) -> Self {
        self.fence = Some(fence);
        self
    }

    pub fn observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn build(self) -> Result<QualysClient, ConfigError> {
        let qps_format = self.config.qps_format;
        Ok(QualysClient {
            transport: Arc::new(Transport::new(self.config, self.observer, self.fence)?),
            qps_format,
        })
    }
}

impl QualysClient {
    pub fn new(config: AccountConfig) -> Result<Self, ConfigError> {
        Self::builder(config).build()
    }

    pub fn builder(config: AccountConfig) -> QualysClientBuilder {
        QualysClientBuilder {
            config,
            observer: None,
            fence: None,
        }
    }

    /// The same account (shared budget and token) speaking another QPS format.
    pub fn with_qps_format(&self, format: QpsFormat) -> Self {
        Self {
            transport: self.transport.clone(),
            qps_format: format,
        }
    }

    pub fn qps_format(&self) -> QpsFormat {
        self.qps_format
    }

    pub fn config(&self) -> &AccountConfig {
        &self.transport.config
    }

    pub fn governor(&self) -> &RateGovernor {
        self.transport.governor()
    }

    /// A QPS call: envelope in the client's format, `responseCode` judged.
    pub(crate) async fn qps(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        request: Option<&ServiceRequest>,
        safety: Safety,
    ) -> Result<ServiceResponse, QualysError> {
        let url = join_url(&self.transport.config.api_url, path)?;
        let (accept, body) = match self.qps_format {
            QpsFormat::Xml => ("application/xml", request.map(|r| r.encode(QpsFormat::Xml))),
            QpsFormat::Json => ("application/json", request.map(|r| r.encode(QpsFormat::Json))),
        };
        let call = Call {
            family: Family::Qps,
            operation,
            method,
            url,
            accept,
            body: body.map(|(b, ct)| (b.into_bytes(), ct)),
            safety,
            auth: AuthKind::Basic,
        };
        self.transport.execute(&call, decode_qps).await
    }

    /// A plain-JSON call to the gateway or CloudView; `decode` sees the raw
    /// answer only when it was a success.
    pub(crate) async fn rest<T>(
        &self,
        request: Rest,
        decode: impl Fn(Reply) -> Result<T, QualysError>,
    ) -> Result<T, QualysError> {
        let Rest {
            family,
            operation,
            method,
            url,
            body,
            safety,
        } = request;
        let auth = match family {
            Family::CloudView if self.transport.config.cloudview_auth == CloudViewAuth::Basic => AuthKind::Basic,
            Family::Qps => AuthKind::Basic,
            _ => AuthKind::Bearer,
        };
        let call = Call {
            family,
            operation,
            method,
            url,
            accept: "application/json",
            body: body.map(|b| (b.to_string().into_bytes(), "application/json")),
            safety,
            auth,
        };
        self.transport
            .execute(&call, |reply| {
                if reply.status.is_success() {
                    decode(reply)
                } else {
                    Err(http_error(family, reply.status, &reply.body))
                }
            })
            .await
    }

    /// [`Self::rest`] decoding a JSON body into `T`.
    pub(crate) async fn rest_json<T: DeserializeOwned>(&self, request: Rest) -> Result<T, QualysError> {
        self.rest(request, |reply| json_body(&reply)).await
    }

    pub(crate) fn gateway_url(&self, path: &str) -> Result<reqwest::Url, QualysError> {
        join_url(&self.transport.config.gateway_url, path)
    }

    pub(crate) fn cloudview_url(&self, path: &str) -> Result<reqwest::Url, QualysError> {
        join_url(self.transport.config.cloudview_url(), path)
    }
}

fn decode_qps(reply: Reply) -> Result<ServiceResponse, QualysError> {
    if !reply.status.is_success() {
        return Err(http_error(Family::Qps, reply.status, &reply.body));
    }
    ServiceResponse::decode(&reply.body)
}

/// Parses a JSON body, naming what arrived instead when it is not JSON.
pub(crate) fn json_body<T: DeserializeOwned>(reply: &Reply) -> Result<T, QualysError> {
    serde_json::from_slice(&reply.body).map_err(|e| {
        let text = reply.text();
        let what = match super::qps::envelope::sniff(&text) {
            super::qps::envelope::Sniffed::Empty => "empty body".to_owned(),
            super::qps::envelope::Sniffed::Html => {
                format!("HTML page: {}", super::qps::envelope::html_title(&text))
            }
            _ => e.to_string(),
        };
        QualysError::undecodable(what)
    })
}
