//! The QPS envelope: reading a `ServiceRequest` (XML or JSON, sniffed from the body)
//! and writing a `ServiceResponse` (format chosen by `Accept`).

use super::render::{self, V};
use super::tree::{self, Node};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xml,
    Json,
}

impl Format {
    /// XML unless the client asks for JSON (README §4).
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.to_ascii_lowercase().contains("json") => Format::Json,
            _ => Format::Xml,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Xml => "application/xml",
            Format::Json => "application/json",
        }
    }
}

/// A QPS failure, rendered as a `ServiceResponse` with an error `responseCode`.
/// The codes and statuses are simulator-defined: the docs show only `SUCCESS` (Q-ENV-12).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct QpsError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl QpsError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code: "INVALID_REQUEST",
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: 404,
            code: "OBJECT_NOT_FOUND",
            message: message.into(),
        }
    }

    pub fn licence() -> Self {
        Self {
            status: 403,
            code: "LICENSE_LIMIT_EXCEEDED",
            message: "You have reached the maximum number of connectors allowed for your license. Contact your \
                      Technical Account Manager (TAM) or Qualys Support to modify the limit."
                .into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    Contains,
    In,
    Greater,
    Lesser,
}

impl Operator {
    fn parse(s: &str) -> Option<Self> {
        let normalized: String = s.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_uppercase();
        match normalized.as_str() {
            "EQUALS" => Some(Operator::Equals),
            "NOT EQUALS" => Some(Operator::NotEquals),
            "CONTAINS" => Some(Operator::Contains),
            "IN" => Some(Operator::In),
            "GREATER" => Some(Operator::Greater),
            "LESSER" => Some(Operator::Lesser),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criterion {
    pub field: String,
    pub operator: Operator,
    pub value: String,
}

/// A parsed `ServiceRequest`.
#[derive(Debug, Clone, Default)]
pub struct ServiceRequest {
    /// 1-based.
    pub start_from_offset: Option<usize>,
    pub start_from_id: Option<u64>,
    pub limit_results: Option<usize>,
    pub criteria: Vec<Criterion>,
    /// The `data` element's children.
    pub data: Option<Node>,
}

impl ServiceRequest {
    /// The object element of `data` (e.g. `AwsAssetDataConnector`).
    pub fn object(&self, element: &str) -> Result<Option<&Node>, QpsError> {
        let Some(data) = &self.data else { return Ok(None) };
        if data.entries().is_empty() {
            return Ok(None);
        }
        match data.get(element) {
            Some(node) => Ok(Some(node)),
            None => {
                let found: Vec<&str> = data.entries().iter().map(|(k, _)| k.as_str()).collect();
                Err(QpsError::invalid(format!(
                    "expected <{element}> in data, found {}",
                    found.join(", ")
                )))
            }
        }
    }
}

fn strict_usize(s: &str, what: &str) -> Result<usize, QpsError> {
    s.parse()
        .map_err(|_| QpsError::invalid(format!("{what} must be an integer without spaces, got {s:?}")))
}

/// Parses a body; an empty body is an empty request (get/run/delete by id, search-all).
pub fn parse_request(body: &[u8]) -> Result<ServiceRequest, QpsError> {
    let text = std::str::from_utf8(body).map_err(|_| QpsError::invalid("the body is not UTF-8"))?;
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Ok(ServiceRequest::default());
    }
    // Content-Type is unreliable in the docs' own samples (Q-ENV-10): sniff.
    let doc = if trimmed.starts_with('{') {
        tree::parse_json(trimmed)
    } else {
        tree::parse_xml(trimmed)
    }
    .map_err(QpsError::invalid)?;
    let request = find_request(&doc).ok_or_else(|| QpsError::invalid("the body has no ServiceRequest"))?;
    let mut out = ServiceRequest::default();
    if let Some(prefs) = request.get("preferences") {
        if let Some(v) = prefs.get_text("startFromOffset") {
            let offset = strict_usize(v, "startFromOffset")?;
            if offset == 0 {
                return Err(QpsError::invalid("startFromOffset starts at 1"));
            }
            out.start_from_offset = Some(offset);
        }
        if let Some(v) = prefs.get_text("startFromId") {
            out.start_from_id = Some(
                v.parse()
                    .map_err(|_| QpsError::invalid(format!("startFromId must be an integer, got {v:?}")))?,
            );
        }
        if let Some(v) = prefs.get_text("limitResults") {
            let limit = strict_usize(v, "limitResults")?;
            if limit == 0 {
                return Err(QpsError::invalid("limitResults must be at least 1"));
            }
            out.limit_results = Some(limit);
        }
    }
    if let Some(filters) = request.get("filters") {
        for criteria in filters.all("Criteria") {
            out.criteria.push(parse_criterion(criteria)?);
        }
    }
    out.data = request.get("data").cloned();
    Ok(out)
}

fn find_request(doc: &Node) -> Option<&Node> {
    if let Some(r) = doc.get("ServiceRequest") {
        return Some(r);
    }
    // Some samples wrap the request in `<root>` (Q-ENV-7).
    doc.entries().iter().find_map(|(_, child)| child.get("ServiceRequest"))
}

fn parse_criterion(node: &Node) -> Result<Criterion, QpsError> {
    let field = node
        .get_text("field")
        .ok_or_else(|| QpsError::invalid("Criteria without field"))?;
    let operator_text = node
        .get_text("operator")
        .ok_or_else(|| QpsError::invalid("Criteria without operator"))?;
    let operator = Operator::parse(operator_text)
        .ok_or_else(|| QpsError::invalid(format!("unsupported operator {operator_text:?}")))?;
    // The JSON delete sample carries the value under "tagName" (Q-DOC-7).
    let value = node
        .get_text("value")
        .or_else(|| node.get_text("tagName"))
        .unwrap_or("");
    Ok(Criterion {
        field: field.trim().to_string(),
        operator,
        value: value.to_string(),
    })
}

/// What goes into a `ServiceResponse` besides `responseCode`.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Schema file named in `xsi:noNamespaceSchemaLocation`.
    pub xsd: &'static str,
    pub count: Option<usize>,
    pub has_more: Option<bool>,
    pub last_id: Option<u64>,
    /// Already shaped for the chosen format (array of typed items for JSON, or the
    /// OCI object form).
    pub data: Option<V>,
    /// Native JSON booleans (OCI) instead of strings.
    pub native_bools: bool,
}

impl Envelope {
    pub fn new(xsd: &'static str) -> Self {
        Self {
            xsd,
            count: None,
            has_more: None,
            last_id: None,
            data: None,
            native_bools: false,
        }
    }
}

pub fn render_success(env: &Envelope, fmt: Format) -> String {
    render(env, fmt, "SUCCESS", None)
}

pub fn render_error(err: &QpsError, fmt: Format) -> String {
    render_error_parts(err.code, &err.message, fmt)
}

pub fn render_error_parts(code: &str, message: &str, fmt: Format) -> String {
    render(&Envelope::new("error.xsd"), fmt, code, Some(message))
}

fn render(env: &Envelope, fmt: Format, code: &str, error: Option<&str>) -> String {
    let mut entries: Vec<(String, V)> = vec![("responseCode".into(), V::s(code))];
    if let Some(message) = error {
        entries.push((
            "responseErrorDetails".into(),
            V::obj(vec![
                ("errorMessage", V::s(message)),
                (
                    "errorResolution",
                    V::s("Check the request against the API documentation and try again."),
                ),
            ]),
        ));
    }
    if let Some(count) = env.count {
        entries.push(("count".into(), V::n(count as u64)));
    }
    if let Some(more) = env.has_more {
        entries.push(("hasMoreRecords".into(), V::B(more)));
    }
    if let Some(last_id) = env.last_id {
        entries.push(("lastId".into(), V::n(last_id)));
    }
    if let Some(data) = &env.data {
        entries.push(("data".into(), data.clone()));
    }
    match fmt {
        Format::Json => render::to_json_text(&V::obj(vec![("ServiceResponse", V::O(entries))]), !env.native_bools),
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
            out.push_str(&format!(
                "<ServiceResponse xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
                 xsi:noNamespaceSchemaLocation=\"https://qualysapi.qualys.com/qps/xsd/3.0/am/{}\">",
                env.xsd
            ));
            render::xml_content(&mut out, &entries);
            out.push_str("</ServiceResponse>");
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_and_both_criteria_forms() {
        let xml = br#"<root><ServiceRequest><preferences><startFromOffset>3</startFromOffset><limitResults>2</limitResults></preferences>
            <filters><Criteria field="name" operator="NOT  EQUALS">x</Criteria>
            <Criteria><field>id</field><operator>IN</operator><value>1,2</value></Criteria></filters></ServiceRequest></root>"#;
        let r = parse_request(xml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.start_from_offset, Some(3));
        assert_eq!(r.limit_results, Some(2));
        assert_eq!(r.criteria[0].operator, Operator::NotEquals);
        assert_eq!(r.criteria[1].value, "1,2");
    }

    #[test]
    fn numbers_with_line_breaks_are_refused() {
        let xml = b"<ServiceRequest><preferences><limitResults>\n10\n</limitResults></preferences></ServiceRequest>";
        assert_eq!(
            parse_request(xml).map(|_| ()).map_err(|e| e.code),
            Err("INVALID_REQUEST")
        );
    }
}
