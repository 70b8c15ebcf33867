//! The QPS `ServiceRequest` / `ServiceResponse` envelope in XML and JSON.

use serde_json::Value;

use super::criteria::{Criteria, Preferences};
use crate::qualys::config::QpsFormat;
use crate::qualys::error::QualysError;
use crate::qualys::lenient;
use crate::qualys::tree::{self, Node, xml_to_value};

/// A request body. `data` is the object element name and its content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceRequest {
    pub preferences: Option<Preferences>,
    pub filters: Vec<Criteria>,
    pub data: Option<(String, Node)>,
}

impl ServiceRequest {
    pub fn with_data(element: &str, content: Node) -> Self {
        Self {
            data: Some((element.to_owned(), content)),
            ..Self::default()
        }
    }

    /// The body and its `Content-Type`.
    pub fn encode(&self, format: QpsFormat) -> (String, &'static str) {
        match format {
            QpsFormat::Xml => (self.to_xml(), "text/xml"),
            QpsFormat::Json => (self.to_json().to_string(), "application/json"),
        }
    }

    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ServiceRequest>");
        if let Some(p) = self.preferences {
            out.push_str(&p.to_node().to_xml("preferences"));
        }
        if !self.filters.is_empty() {
            out.push_str("<filters>");
            for c in &self.filters {
                out.push_str(&c.to_xml());
            }
            out.push_str("</filters>");
        }
        if let Some((element, content)) = &self.data {
            out.push_str("<data>");
            out.push_str(&content.to_xml(element));
            out.push_str("</data>");
        }
        out.push_str("</ServiceRequest>");
        out
    }

    pub fn to_json(&self) -> Value {
        let mut req = Node::object();
        if let Some(p) = self.preferences {
            req = req.with("preferences", p.to_node());
        }
        if !self.filters.is_empty() {
            let list = self.filters.iter().map(Criteria::to_json_node).collect();
            req = req.with("filters", Node::object().with("Criteria", Node::List(list)));
        }
        if let Some((element, content)) = &self.data {
            req = req.with("data", Node::object().with(element, content.clone()));
        }
        Node::object().with("ServiceRequest", req).to_json()
    }
}

/// A request as read back from XML or JSON (both Criteria forms, optional
/// `<root>` wrapper). The client only encodes; decoding serves tests and tools.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedRequest {
    pub preferences: Option<Preferences>,
    pub filters: Vec<Criteria>,
    /// Object element name and its generic content.
    pub data: Option<(String, Value)>,
}

impl DecodedRequest {
    pub fn decode(body: &str) -> Result<Self, QualysError> {
        let envelope = match sniff(body) {
            Sniffed::Xml => {
                let (root, v) = xml_to_value(body).map_err(QualysError::undecodable)?;
                if root == "ServiceRequest" {
                    v
                } else {
                    lenient::field(&v, "ServiceRequest")
                        .cloned()
                        .ok_or_else(|| QualysError::undecodable(format!("expected ServiceRequest, found <{root}>")))?
                }
            }
            Sniffed::Json => {
                let v: Value = tree::json_to_value(body).map_err(|e| QualysError::undecodable(e.to_string()))?;
                lenient::field(&v, "ServiceRequest").cloned().unwrap_or(v)
            }
            Sniffed::Empty => Value::Null,
            Sniffed::Html | Sniffed::Other => return Err(QualysError::undecodable("not a ServiceRequest")),
        };
        let filters = lenient::field(&envelope, "filters")
            .map(|f| lenient::items(f, "Criteria", &[]))
            .unwrap_or_default()
            .into_iter()
            .filter_map(Criteria::from_value)
            .collect();
        let data = lenient::field(&envelope, "data").and_then(|d| match d {
            Value::Object(o) => o.iter().next().map(|(k, v)| (k.clone(), v.clone())),
            Value::Array(items) => items.iter().find_map(|i| {
                i.as_object()
                    .and_then(|o| o.iter().next())
                    .map(|(k, v)| (k.clone(), v.clone()))
            }),
            _ => None,
        });
        Ok(Self {
            preferences: lenient::field(&envelope, "preferences").map(Preferences::from_value),
            filters,
            data,
        })
    }
}

/// A decoded `ServiceResponse` whose `responseCode` was SUCCESS.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceResponse {
    pub response_code: String,
    pub count: Option<u64>,
    pub has_more_records: Option<bool>,
    pub data: Option<Value>,
}

impl ServiceResponse {
    /// Decodes a body (XML or JSON, sniffed) and turns a non-SUCCESS
    /// `responseCode` into the matching error, whatever the HTTP status was.
    pub fn decode(body: &[u8]) -> Result<Self, QualysError> {
        let raw = RawResponse::decode(body)?;
        if let Some(err) = response_code_error(&raw.response_code, raw.message.as_deref()) {
            return Err(err);
        }
        Ok(raw.response)
    }

    /// Objects of one element type inside `data`, whatever shape `data` has:
    /// `[{"T": {..}}, ..]`, `{"T": {..}}`, `{"T": [..]}`, or XML repeats.
    pub fn objects(&self, element: &str) -> Vec<&Value> {
        let Some(data) = &self.data else { return Vec::new() };
        let mut out = Vec::new();
        for entry in lenient::many(data) {
            if let Some(v) = lenient::field(entry, element) {
                out.extend(lenient::many(v));
            }
        }
        out
    }

    /// Entries of `data` when there is no element wrapper (AWS base account).
    pub fn bare_objects(&self) -> Vec<&Value> {
        self.data.as_ref().map(lenient::many).unwrap_or_default()
    }
}

/// The envelope before `responseCode` is judged, with Qualys' error text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawResponse {
    pub response: ServiceResponse,
    pub response_code: String,
    pub message: Option<String>,
}

impl RawResponse {
    pub(crate) fn decode(body: &[u8]) -> Result<Self, QualysError> {
        let text = std::str::from_utf8(body).map_err(|_| QualysError::undecodable("response is not UTF-8"))?;
        let envelope = match sniff(text) {
            Sniffed::Empty => return Err(QualysError::undecodable("empty response body")),
            Sniffed::Html => return Err(QualysError::undecodable(format!("HTML page: {}", html_title(text)))),
            Sniffed::Other => return Err(QualysError::undecodable(format!("unexpected body: {}", snippet(text)))),
            Sniffed::Xml => {
                let (root, v) = xml_to_value(text).map_err(QualysError::undecodable)?;
                if root == "ServiceResponse" {
                    v
                } else {
                    lenient::field(&v, "ServiceResponse")
                        .cloned()
                        .ok_or_else(|| QualysError::undecodable(format!("expected ServiceResponse, found <{root}>")))?
                }
            }
            Sniffed::Json => {
                let v: Value = tree::json_to_value(text).map_err(|e| QualysError::undecodable(e.to_string()))?;
                match lenient::field(&v, "ServiceResponse") {
                    Some(inner) => inner.clone(),
                    None if lenient::field(&v, "responseCode").is_some() => v,
                    None => return Err(QualysError::undecodable("JSON without ServiceResponse")),
                }
            }
        };
        let response_code = lenient::field_token(&envelope, "responseCode")
            .ok_or_else(|| QualysError::undecodable("ServiceResponse without responseCode"))?;
        let details = lenient::field(&envelope, "responseErrorDetails");
        let message = details
            .and_then(|d| lenient::field_any(d, &["errorMessage", "message"]).and_then(lenient::text))
            .or_else(|| {
                lenient::field_any(&envelope, &["responseMessage", "errorMessage", "message"]).and_then(lenient::text)
            })
            .or_else(|| details.and_then(lenient::text));
        let resolution = details.and_then(|d| lenient::field_text(d, "errorResolution"));
        let message = match (message, resolution) {
            (Some(m), Some(r)) => Some(format!("{m} ({r})")),
            (m, r) => m.or(r),
        };
        Ok(Self {
            response: ServiceResponse {
                response_code: response_code.clone(),
                count: lenient::field_u64(&envelope, "count"),
                has_more_records: lenient::field_bool(&envelope, "hasMoreRecords"),
                data: lenient::field(&envelope, "data").cloned(),
            },
            response_code,
            message,
        })
    }
}

/// Maps a QPS `responseCode` other than SUCCESS to an error.
pub(crate) fn response_code_error(code: &str, message: Option<&str>) -> Option<QualysError> {
    let upper = code.trim().to_ascii_uppercase();
    if upper == "SUCCESS" {
        return None;
    }
    let message = message.map(str::to_owned).unwrap_or_else(|| upper.clone());
    Some(match upper.as_str() {
        "UNAUTHORIZED" | "INVALID_CREDENTIALS" | "NOT_AUTHENTICATED" | "AUTHENTICATION_FAILED" => {
            QualysError::Unauthorized { message }
        }
        "OBJECT_NOT_FOUND" | "NOT_FOUND" => QualysError::NotFound { message },
        "FORBIDDEN" | "OPERATION_NOT_PERMITTED" | "PERMISSION_DENIED" | "ACCESS_DENIED" => {
            let licence_exhausted = mentions_licence(&message);
            QualysError::Forbidden {
                message,
                licence_exhausted,
            }
        }
        "LICENSE_EXCEEDED" | "LICENCE_EXCEEDED" | "SUBSCRIPTION_LIMIT_EXCEEDED" => QualysError::Forbidden {
            message,
            licence_exhausted: true,
        },
        "OBJECT_ALREADY_EXISTS" | "ALREADY_EXISTS" | "CONFLICT" | "DUPLICATE" => QualysError::Conflict { message },
        "RATE_LIMIT_EXCEEDED" | "CONCURRENCY_LIMIT_EXCEEDED" | "TOO_MANY_REQUESTS" => {
            QualysError::RateLimited { retry_after: None }
        }
        "INTERNAL_ERROR" | "INTERNAL_SERVER_ERROR" | "SERVICE_UNAVAILABLE" => {
            QualysError::Server { status: 200, message }
        }
        _ => QualysError::InvalidRequest {
            code: upper,
            field: field_in_message(&message),
            message,
        },
    })
}

pub(crate) fn mentions_licence(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("licen") || m.contains("maximum number of connectors") || m.contains("subscription expired")
}

/// Best effort: which field an error message names, e.g. `Invalid value for field 'name'`.
pub(crate) fn field_in_message(message: &str) -> Option<String> {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let re = RE
        .get_or_init(|| {
            regex::Regex::new(r#"(?i)\bfield(?:\s+name)?\s*[:=]?\s*['"`\[]?([A-Za-z_][A-Za-z0-9_.]*)"#).ok()
        })
        .as_ref()?;
    re.captures(message)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sniffed {
    Xml,
    Json,
    Html,
    Empty,
    Other,
}

/// What a body is, from its first bytes: Content-Type headers are unreliable.
pub(crate) fn sniff(text: &str) -> Sniffed {
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if t.is_empty() {
        return Sniffed::Empty;
    }
    let head: String = t.chars().take(64).collect::<String>().to_ascii_lowercase();
    if head.starts_with("<!doctype html") || head.starts_with("<html") || head.contains("<html") {
        Sniffed::Html
    } else if head.starts_with('<') {
        Sniffed::Xml
    } else if head.starts_with('{') || head.starts_with('[') {
        Sniffed::Json
    } else {
        Sniffed::Other
    }
}

pub(crate) fn html_title(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    match (lower.find("<title>"), lower.find("</title>")) {
        (Some(a), Some(b)) if b > a + 7 => text[a + 7..b].trim().to_owned(),
        _ => "no title".to_owned(),
    }
}

/// A short, single-line excerpt of a body for error messages.
pub(crate) fn snippet(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s: String = one_line.chars().take(160).collect();
    if one_line.chars().count() > 160 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qualys::qps::criteria::Operator;
    use serde_json::json;

    #[test]
    fn request_roundtrips_in_both_formats() {
        let req = ServiceRequest {
            preferences: Some(Preferences::page(101, 100)),
            filters: vec![
                Criteria::equals("name", "A & B"),
                Criteria::new("id", Operator::NotEquals, "5"),
            ],
            data: Some((
                "AwsAssetDataConnector".into(),
                Node::object().with("name", Node::text("x")),
            )),
        };
        for format in [QpsFormat::Xml, QpsFormat::Json] {
            let (body, _) = req.encode(format);
            let back = DecodedRequest::decode(&body).unwrap();
            assert_eq!(back.filters, req.filters, "{format:?}");
            assert_eq!(back.preferences, req.preferences, "{format:?}");
            let (element, content) = back.data.unwrap();
            assert_eq!(element, "AwsAssetDataConnector");
            assert_eq!(content, json!({"name": "x"}));
        }
    }

    #[test]
    fn both_xml_criteria_forms_and_root_wrapper_decode() {
        let body = r#"<root><ServiceRequest><filters>
            <Criteria field="appCapability.name" operator="EQUALS">AI</Criteria>
            <Criteria><field>id</field><operator>EQUALS</operator><value>842602</value></Criteria>
        </filters></ServiceRequest></root>"#;
        let r = DecodedRequest::decode(body).unwrap();
        assert_eq!(
            r.filters,
            vec![
                Criteria::equals("appCapability.name", "AI"),
                Criteria::equals("id", "842602")
            ]
        );
    }

    #[test]
    fn field_names_are_found_in_messages() {
        assert_eq!(field_in_message("Invalid value for field 'name'"), Some("name".into()));
        assert_eq!(
            field_in_message("field: runFrequency must be > 0"),
            Some("runFrequency".into())
        );
        assert_eq!(field_in_message("something else"), None);
    }
}
