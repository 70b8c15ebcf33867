//! QPS search filters and paging preferences.

use serde_json::Value;

use crate::qualys::lenient;
use crate::qualys::tree::{Node, TEXT_KEY};

/// Filter operators. Spelled on the wire as Qualys does, `NOT EQUALS` with a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    Greater,
    Lesser,
    In,
    Contains,
}

impl Operator {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equals => "EQUALS",
            Self::NotEquals => "NOT EQUALS",
            Self::Greater => "GREATER",
            Self::Lesser => "LESSER",
            Self::In => "IN",
            Self::Contains => "CONTAINS",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let norm: String = s.trim().to_ascii_uppercase().replace('_', " ");
        Some(match norm.as_str() {
            "EQUALS" => Self::Equals,
            "NOT EQUALS" => Self::NotEquals,
            "GREATER" => Self::Greater,
            "LESSER" => Self::Lesser,
            "IN" => Self::In,
            "CONTAINS" => Self::Contains,
            _ => return None,
        })
    }
}

/// One `Criteria` filter; several combine with AND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criteria {
    pub field: String,
    pub operator: Operator,
    pub value: String,
}

impl Criteria {
    pub fn new(field: impl Into<String>, operator: Operator, value: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            operator,
            value: value.into(),
        }
    }

    pub fn equals(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(field, Operator::Equals, value)
    }

    /// `IN` with the comma-separated value Qualys expects.
    pub fn any_of<I, S>(field: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined = values
            .into_iter()
            .map(|s| s.as_ref().to_owned())
            .collect::<Vec<_>>()
            .join(",");
        Self::new(field, Operator::In, joined)
    }

    /// XML attribute form, the one the documentation uses most.
    pub(crate) fn to_xml(&self) -> String {
        use quick_xml::escape::escape;
        format!(
            "<Criteria field=\"{}\" operator=\"{}\">{}</Criteria>",
            escape(self.field.as_str()),
            self.operator.as_str(),
            escape(self.value.as_str())
        )
    }

    pub(crate) fn to_json_node(&self) -> Node {
        Node::object()
            .with("field", Node::text(&self.field))
            .with("operator", Node::text(self.operator.as_str()))
            .with("value", Node::text(&self.value))
    }

    /// Reads either XML form (attributes + text, or child elements) or the JSON form.
    pub fn from_value(v: &Value) -> Option<Self> {
        let field = lenient::field_token(v, "field")?;
        let operator = Operator::parse(&lenient::field_token(v, "operator")?)?;
        let value = lenient::field_text(v, "value")
            .or_else(|| lenient::field_text(v, TEXT_KEY))
            .unwrap_or_default();
        Some(Self { field, operator, value })
    }
}

/// QPS `preferences`: offsets are 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preferences {
    pub start_from_offset: Option<u64>,
    pub start_from_id: Option<u64>,
    pub limit_results: Option<u64>,
}

impl Preferences {
    pub fn page(offset: u64, limit: u64) -> Self {
        Self {
            start_from_offset: Some(offset),
            start_from_id: None,
            limit_results: Some(limit),
        }
    }

    pub(crate) fn to_node(self) -> Node {
        Node::object()
            .with_opt("startFromOffset", self.start_from_offset.map(Node::number))
            .with_opt("startFromId", self.start_from_id.map(Node::number))
            .with_opt("limitResults", self.limit_results.map(Node::number))
    }

    pub fn from_value(v: &Value) -> Self {
        Self {
            start_from_offset: lenient::field_u64(v, "startFromOffset"),
            start_from_id: lenient::field_u64(v, "startFromId"),
            limit_results: lenient::field_u64(v, "limitResults"),
        }
    }
}
