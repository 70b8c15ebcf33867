//! One tree for both request formats. XML repeated elements and JSON arrays become
//! repeated keys, so `"ActivationModule": ["VM", "SCA"]`, `<ActivationModule>VM</…><ActivationModule>SCA</…>`,
//! the GCP "arrays at every level" form and a single un-wrapped object all read alike.

use quick_xml::events::Event;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    Map(Vec<(String, Node)>),
}

static EMPTY: [(String, Node); 0] = [];

impl Node {
    pub fn entries(&self) -> &[(String, Node)] {
        match self {
            Node::Map(entries) => entries,
            Node::Text(_) => &EMPTY,
        }
    }

    /// Children named `key`; exact spelling first, otherwise ignoring case (the docs
    /// spell field names both ways, e.g. `authrecord.applicationId`).
    pub fn all<'a, 'k>(&'a self, key: &'k str) -> impl Iterator<Item = &'a Node> + use<'a, 'k> {
        let exact = self.entries().iter().any(|(k, _)| k == key);
        self.entries()
            .iter()
            .filter(move |(k, _)| if exact { k == key } else { k.eq_ignore_ascii_case(key) })
            .map(|(_, v)| v)
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.all(key).next()
    }

    /// Text content; an empty element reads as `""`.
    pub fn text(&self) -> Option<&str> {
        match self {
            Node::Text(s) => Some(s),
            Node::Map(entries) if entries.is_empty() => Some(""),
            Node::Map(_) => None,
        }
    }

    pub fn get_text(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Node::text)
    }

    /// Every descendant (or self) named `key`, depth first.
    pub fn descendants<'a>(&'a self, key: &str, out: &mut Vec<&'a Node>) {
        for (k, v) in self.entries() {
            if k.eq_ignore_ascii_case(key) {
                out.push(v);
            } else {
                v.descendants(key, out);
            }
        }
    }
}

pub fn from_json_value(value: &serde_json::Value) -> Node {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries = Vec::new();
            for (k, v) in map {
                push_json(&mut entries, k, v);
            }
            Node::Map(entries)
        }
        serde_json::Value::String(s) => Node::Text(s.clone()),
        serde_json::Value::Null => Node::Text(String::new()),
        other => Node::Text(other.to_string()),
    }
}

fn push_json(entries: &mut Vec<(String, Node)>, key: &str, value: &serde_json::Value) {
    match value {
        serde_json::Value::Array(items) => {
            for item in items {
                push_json(entries, key, item);
            }
        }
        serde_json::Value::Null => {}
        other => entries.push((key.to_string(), from_json_value(other))),
    }
}

pub fn parse_json(body: &str) -> Result<Node, String> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("invalid JSON: {e}"))?;
    if !value.is_object() {
        return Err("the JSON body must be an object".into());
    }
    Ok(from_json_value(&value))
}

struct Frame {
    name: String,
    entries: Vec<(String, Node)>,
    text: String,
}

impl Frame {
    fn into_node(self) -> (String, Node) {
        let node = if self.entries.is_empty() {
            Node::Text(self.text)
        } else {
            let mut entries = self.entries;
            if !self.text.trim().is_empty() {
                // Attribute-form Criteria: `<Criteria field=".." operator="..">value</Criteria>`.
                entries.push(("value".to_string(), Node::Text(self.text)));
            }
            Node::Map(entries)
        };
        (self.name, node)
    }
}

fn open_frame(start: &quick_xml::events::BytesStart<'_>) -> Result<Frame, String> {
    let name = start.local_name().as_ref().to_string();
    let mut entries = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| format!("invalid XML attribute: {e}"))?;
        let key = AsRef::<str>::as_ref(&attr.key).to_string();
        if key.starts_with("xmlns") || key.starts_with("xsi:") {
            continue;
        }
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("invalid XML attribute: {e}"))?;
        entries.push((key, Node::Text(value.into_owned())));
    }
    Ok(Frame {
        name,
        entries,
        text: String::new(),
    })
}

fn resolve_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

/// Parses an XML document into a map holding its root element.
pub fn parse_xml(body: &str) -> Result<Node, String> {
    let mut reader = quick_xml::Reader::from_str(body);
    let mut stack = vec![Frame {
        name: String::new(),
        entries: Vec::new(),
        text: String::new(),
    }];
    loop {
        let event = reader.read_event().map_err(|e| format!("invalid XML: {e}"))?;
        match event {
            Event::Start(start) => stack.push(open_frame(&start)?),
            Event::Empty(start) => {
                let (name, node) = open_frame(&start)?.into_node();
                if let Some(parent) = stack.last_mut() {
                    parent.entries.push((name, node));
                }
            }
            Event::End(_) => {
                if stack.len() < 2 {
                    return Err("invalid XML: unbalanced end tag".into());
                }
                if let Some(frame) = stack.pop() {
                    let (name, node) = frame.into_node();
                    if let Some(parent) = stack.last_mut() {
                        parent.entries.push((name, node));
                    }
                }
            }
            Event::Text(text) => {
                if let Some(frame) = stack.last_mut() {
                    frame.text.push_str(&text.xml10_content());
                }
            }
            Event::CData(data) => {
                if let Some(frame) = stack.last_mut() {
                    frame.text.push_str(&data.xml10_content());
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = if reference.is_char_ref() {
                    reference.resolve_char_ref().ok().flatten()
                } else {
                    resolve_entity(&reference.xml10_content())
                };
                let Some(c) = resolved else {
                    return Err(format!("invalid XML: unknown entity &{};", reference.xml10_content()));
                };
                if let Some(frame) = stack.last_mut() {
                    frame.text.push(c);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if stack.len() != 1 {
        return Err("invalid XML: unexpected end of document".into());
    }
    let root = stack
        .pop()
        .map(|f| Node::Map(f.entries))
        .unwrap_or(Node::Map(Vec::new()));
    if root.entries().is_empty() {
        return Err("invalid XML: no root element".into());
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_and_json_read_alike() {
        let xml = parse_xml(
            r#"<?xml version="1.0"?><ServiceRequest><filters><Criteria field="name" operator="EQUALS">A &amp; B</Criteria></filters>
            <data><X><activation><set><ActivationModule>VM</ActivationModule><ActivationModule>SCA</ActivationModule></set></activation><k>a&#xd;b</k><e/></X></data></ServiceRequest>"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let json = parse_json(
            r#"{"ServiceRequest": {"filters": {"Criteria": [{"field": "name", "operator": "EQUALS", "value": "A & B"}]},
            "data": [{"X": [{"activation": {"set": {"ActivationModule": ["VM", "SCA"]}}, "k": "a\rb", "e": ""}]}]}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // JSON objects come back with sorted keys; order within a key is what matters.
        fn sorted(n: &Node) -> Node {
            match n {
                Node::Text(t) => Node::Text(t.clone()),
                Node::Map(e) => {
                    let mut e: Vec<(String, Node)> = e.iter().map(|(k, v)| (k.clone(), sorted(v))).collect();
                    e.sort_by(|a, b| a.0.cmp(&b.0));
                    Node::Map(e)
                }
            }
        }
        assert_eq!(sorted(&xml), sorted(&json));
        let sr = xml.get("ServiceRequest").unwrap_or_else(|| panic!("no request"));
        let crit = sr
            .get("filters")
            .and_then(|f| f.get("Criteria"))
            .unwrap_or_else(|| panic!("no criteria"));
        assert_eq!(crit.get_text("value"), Some("A & B"));
    }

    #[test]
    fn broken_xml_is_an_error() {
        assert!(parse_xml("<a><b></a>").is_err());
        assert!(parse_xml("<a>").is_err());
        assert!(parse_json("[1]").is_err());
    }
}
