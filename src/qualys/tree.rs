//! Generic trees between the wire and the typed models.
//!
//! Decoding: XML is turned into a `serde_json::Value` under "anything may
//! repeat" rules, so XML and JSON bodies go through the same tolerant typed
//! decoding. Encoding: requests are built once as an ordered [`Node`] tree and
//! rendered as XML or JSON.

use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::Event;
use quick_xml::reader::Reader;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};

/// Key holding an element's text when the element also has attributes or children.
pub const TEXT_KEY: &str = "$text";

/// Parses JSON like [`xml_to_value`] treats XML: a key repeated in one object
/// (the GCP search sample repeats `"list"`, the JSON mirror of repeated XML
/// elements) keeps every value, as an array, where a map would keep the last.
pub fn json_to_value(text: &str) -> Result<Value, serde_json::Error> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    struct Tolerant;

    impl<'de> DeserializeSeed<'de> for Tolerant {
        type Value = Value;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Tolerant {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(Tolerant)? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut fields = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                let value = map.next_value_seed(Tolerant)?;
                match fields.get_mut(&key) {
                    None => {
                        fields.insert(key, value);
                    }
                    Some(existing) => {
                        let mut items = match existing.take() {
                            Value::Array(items) => items,
                            single => vec![single],
                        };
                        match value {
                            Value::Array(more) => items.extend(more),
                            single => items.push(single),
                        }
                        *existing = Value::Array(items);
                    }
                }
            }
            Ok(Value::Object(fields))
        }
    }

    let mut de = serde_json::Deserializer::from_str(text);
    let value = Tolerant.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Parses an XML document into `(root element name, value)`.
///
/// * an element with neither attributes nor child elements becomes its text
///   (possibly `""`);
/// * otherwise it becomes an object: attributes and children by name, a
///   repeated child name turning into an array, non-blank text under
///   [`TEXT_KEY`];
/// * namespace declarations and `xsi:` attributes are dropped.
pub fn xml_to_value(text: &str) -> Result<(String, Value), String> {
    struct Frame {
        name: String,
        fields: Map<String, Value>,
        has_children: bool,
        text: String,
    }

    fn finish(frame: Frame) -> Value {
        if frame.fields.is_empty() && !frame.has_children {
            return Value::String(frame.text);
        }
        let mut fields = frame.fields;
        if !frame.text.trim().is_empty() {
            fields.insert(TEXT_KEY.to_owned(), Value::String(frame.text));
        }
        Value::Object(fields)
    }

    fn add_child(parent: &mut Frame, name: String, value: Value) {
        parent.has_children = true;
        match parent.fields.get_mut(&name) {
            None => {
                parent.fields.insert(name, value);
            }
            // `finish` never yields an array, so an array here came from repetition.
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }

    fn open(e: &quick_xml::events::BytesStart<'_>) -> Result<Frame, String> {
        let name = local(e.name().as_ref()).to_owned();
        let mut fields = Map::new();
        for attr in e.attributes() {
            let attr = attr.map_err(|err| err.to_string())?;
            let key = attr.key.as_ref();
            if key == "xmlns" || key.starts_with("xmlns:") || key.starts_with("xsi:") {
                continue;
            }
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|err| err.to_string())?;
            fields.insert(local(key).to_owned(), Value::String(value.into_owned()));
        }
        Ok(Frame {
            name,
            fields,
            has_children: false,
            text: String::new(),
        })
    }

    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<(String, Value)> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("XML error at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(e) => stack.push(open(&e)?),
            Event::Empty(e) => {
                let frame = open(&e)?;
                let name = frame.name.clone();
                let value = finish(frame);
                match stack.last_mut() {
                    Some(parent) => add_child(parent, name, value),
                    None => root = Some((name, value)),
                }
            }
            Event::End(_) => {
                let frame = stack.pop().ok_or("unbalanced end tag")?;
                let name = frame.name.clone();
                let value = finish(frame);
                match stack.last_mut() {
                    Some(parent) => add_child(parent, name, value),
                    None => root = Some((name, value)),
                }
            }
            Event::Text(t) => {
                if let Some(frame) = stack.last_mut() {
                    frame.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(frame) = stack.last_mut() {
                    frame.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(frame) = stack.last_mut() {
                    if let Ok(Some(ch)) = r.resolve_char_ref() {
                        frame.text.push(ch);
                    } else if let Some(s) = resolve_predefined_entity(&r) {
                        frame.text.push_str(s);
                    } else {
                        frame.text.push('&');
                        frame.text.push_str(&r);
                        frame.text.push(';');
                    }
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
        if root.is_some() && stack.is_empty() {
            break;
        }
    }
    if !stack.is_empty() {
        return Err("truncated XML document".into());
    }
    root.ok_or_else(|| "no XML element".into())
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// An ordered request tree. Scalars keep their JSON type; XML prints them as text.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    /// A decimal integer (kept as text so ids of any size survive).
    Number(String),
    Bool(bool),
    Null,
    /// Rendered in XML as one element per item, all named after the parent key.
    List(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl Node {
    pub fn text(s: impl Into<String>) -> Self {
        Self::Text(s.into())
    }

    /// A Qualys id: a JSON number when it is one, else a string.
    pub fn id(s: &str) -> Self {
        let t = s.trim();
        if !t.is_empty() && t.len() < 20 && t.bytes().all(|b| b.is_ascii_digit()) {
            Self::Number(t.to_owned())
        } else {
            Self::Text(s.to_owned())
        }
    }

    pub fn number(n: impl Into<u64>) -> Self {
        Self::Number(n.into().to_string())
    }

    pub fn object() -> Self {
        Self::Object(Vec::new())
    }

    /// Appends a field (builder style).
    pub fn with(mut self, key: &str, value: Node) -> Self {
        if let Self::Object(fields) = &mut self {
            fields.push((key.to_owned(), value));
        }
        self
    }

    /// Appends a field when there is a value.
    pub fn with_opt(self, key: &str, value: Option<Node>) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// Renders `<name>…</name>`.
    pub fn to_xml(&self, name: &str) -> String {
        let mut out = String::new();
        write_xml(&mut out, name, self);
        out
    }

    pub fn to_json(&self) -> Value {
        // Serialising a Node cannot fail: every variant maps onto JSON.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

fn write_xml(out: &mut String, name: &str, node: &Node) {
    match node {
        Node::List(items) => {
            for item in items {
                write_xml(out, name, item);
            }
        }
        Node::Null => {
            out.push('<');
            out.push_str(name);
            out.push_str("/>");
        }
        Node::Text(s) | Node::Number(s) => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            out.push_str(&escape(s.as_str()));
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        Node::Bool(b) => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            out.push_str(if *b { "true" } else { "false" });
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        Node::Object(fields) => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            for (key, value) in fields {
                write_xml(out, key, value);
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Text(s) => serializer.serialize_str(s),
            Node::Number(s) => match s.parse::<u64>() {
                Ok(n) => serializer.serialize_u64(n),
                Err(_) => serializer.serialize_str(s),
            },
            Node::Bool(b) => serializer.serialize_bool(*b),
            Node::Null => serializer.serialize_unit(),
            Node::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_json_keys_keep_every_value() {
        let v = json_to_value(r#"{"a": {"list": [{"x": 1}], "list": [{"x": 2}], "k": "v"}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v["a"]["list"], serde_json::json!([{"x": 1}, {"x": 2}]));
        assert_eq!(v["a"]["k"], "v");
        let v = json_to_value(r#"{"s": "one", "s": "two", "n": 1.5}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v["s"], serde_json::json!(["one", "two"]));
        assert!(json_to_value("{} trailing").is_err());
    }
    use serde_json::json;

    #[test]
    fn xml_repeats_become_arrays_and_leaves_text() {
        let (root, v) = xml_to_value(
            r#"<?xml version="1.0"?><R xmlns:xsi="x" xsi:noNamespaceSchemaLocation="y"><a>1</a><b><c>x</c><c>y</c></b><e/><f k="v">t</f><g>&lt;&#xd;&amp;</g></R>"#,
        )
        .unwrap();
        assert_eq!(root, "R");
        assert_eq!(
            v,
            json!({"a": "1", "b": {"c": ["x", "y"]}, "e": "", "f": {"k": "v", "$text": "t"}, "g": "<\r&"})
        );
    }

    #[test]
    fn broken_xml_is_an_error() {
        assert!(xml_to_value("<a><b></a>").is_err());
        assert!(xml_to_value("<a><b>").is_err());
        assert!(xml_to_value("").is_err());
    }

    #[test]
    fn node_renders_lists_as_repeated_elements() {
        let n = Node::object()
            .with(
                "set",
                Node::object().with("Day", Node::List(vec![Node::text("SUN"), Node::text("MON")])),
            )
            .with("id", Node::id("42"))
            .with("flag", Node::Bool(true))
            .with("s", Node::text("a<b"));
        assert_eq!(
            n.to_xml("x"),
            "<x><set><Day>SUN</Day><Day>MON</Day></set><id>42</id><flag>true</flag><s>a&lt;b</s></x>"
        );
        assert_eq!(
            n.to_json(),
            json!({"set": {"Day": ["SUN", "MON"]}, "id": 42, "flag": true, "s": "a<b"})
        );
        assert_eq!(Node::id("abc"), Node::text("abc"));
    }
}
