//! The endpoints a run talks to, shown before anything else so a person sees
//! where the credentials and the writes go, and where each URL came from.

use serde_json::{Value, json};

use crate::qualys::Family;
use crate::qualys::endpoints::{Endpoint, Endpoints, UrlSource};

/// Resolved endpoints with what is needed to say where each came from.
#[derive(Debug, Clone)]
pub struct ShownEndpoints {
    pub endpoints: Endpoints,
    /// The QualysAccount used, if any.
    pub account: Option<String>,
    /// The platform table was replaced by the test-only variable.
    pub platform_overridden: bool,
}

impl ShownEndpoints {
    fn source(&self, family: Family, endpoint: &Endpoint) -> String {
        let account = self.account.as_deref().unwrap_or("?");
        match endpoint.source {
            UrlSource::QualysUrlOverride => "--qualys-url / QUALYS_URL".into(),
            UrlSource::FamilyOverride if family == Family::Gateway => "--gateway-url / QUALYS_GATEWAY_URL".into(),
            UrlSource::FamilyOverride => "--cloudview-url / QUALYS_CLOUDVIEW_URL".into(),
            UrlSource::Account => {
                let field = match family {
                    Family::Qps => "apiUrl",
                    Family::Gateway => "gatewayUrl",
                    Family::CloudView => "cloudviewUrl",
                };
                format!("QualysAccount {account} spec.{field}")
            }
            UrlSource::Platform(name) => format!(
                "QualysAccount {account} spec.platform {name}{}",
                if self.platform_overridden {
                    " (replaced by QUALYS_OPERATOR_TEST_PLATFORM_URL)"
                } else {
                    ""
                }
            ),
            UrlSource::SameAsQps => "same as QPS (no CloudView URL given)".into(),
        }
    }

    /// One line per family: `  QPS        URL  (source)`.
    pub fn render(&self) -> String {
        let mut out = String::from("Endpoints:\n");
        for (family, endpoint) in self.endpoints.families() {
            out.push_str(&format!(
                "  {:<10} {}  ({})\n",
                family.label(),
                endpoint.url,
                self.source(family, endpoint)
            ));
        }
        out
    }

    /// `{"qps": {"url", "source"}, "gateway": …, "cloudview": …}`.
    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (family, e) in self.endpoints.families() {
            out.insert(
                family.as_str().into(),
                json!({"url": e.url, "source": self.source(family, e)}),
            );
        }
        Value::Object(out)
    }

    /// The URL of a family, for messages about calls in flight.
    pub fn url(&self, family: Family) -> &str {
        &self.endpoints.get(family).url
    }
}
