//! Response values and their two encodings. `A` of single-key objects is the QPS
//! "list of typed items" (`"list": [{"TagSimple": {..}}]` ⇔ `<list><TagSimple>..</TagSimple></list>`);
//! `A` of scalars is a repeated element (`"ActivationModule": ["VM"]` ⇔ `<ActivationModule>VM</ActivationModule>`).

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq)]
pub enum V {
    S(String),
    N(i64),
    B(bool),
    O(Vec<(String, V)>),
    A(Vec<V>),
}

impl V {
    pub fn s(s: impl Into<String>) -> V {
        V::S(s.into())
    }

    pub fn n(n: u64) -> V {
        V::N(i64::try_from(n).unwrap_or(i64::MAX))
    }

    pub fn obj(entries: Vec<(&str, V)>) -> V {
        V::O(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// `[{"<key>": item}, ...]`
    pub fn typed_list(key: &str, items: Vec<V>) -> V {
        V::A(
            items
                .into_iter()
                .map(|item| V::O(vec![(key.to_string(), item)]))
                .collect(),
        )
    }

    fn is_scalar(&self) -> bool {
        matches!(self, V::S(_) | V::N(_) | V::B(_))
    }
}

/// JSON encoding; `string_bools` renders booleans as `"true"`/`"false"` like the
/// AWS/Azure/GCP samples do.
pub fn to_json(v: &V, string_bools: bool) -> serde_json::Value {
    match v {
        V::S(s) => serde_json::Value::String(s.clone()),
        V::N(n) => serde_json::Value::from(*n),
        V::B(b) if string_bools => serde_json::Value::String(b.to_string()),
        V::B(b) => serde_json::Value::Bool(*b),
        V::O(entries) => {
            let mut map = serde_json::Map::new();
            for (k, v) in entries {
                map.insert(k.clone(), to_json(v, string_bools));
            }
            serde_json::Value::Object(map)
        }
        V::A(items) => serde_json::Value::Array(items.iter().map(|i| to_json(i, string_bools)).collect()),
    }
}

/// JSON text of `v`, keeping every entry of an object in order, repeated keys
/// included: the GCP search sample repeats `"list"` inside `connectorAppInfos`,
/// the JSON mirror of repeated XML elements, and a client must cope with it.
pub fn to_json_text(v: &V, string_bools: bool) -> String {
    fn write(out: &mut String, v: &V, string_bools: bool) {
        match v {
            V::O(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(':');
                    write(out, v, string_bools);
                }
                out.push('}');
            }
            V::A(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(out, item, string_bools);
                }
                out.push(']');
            }
            scalar => out.push_str(&to_json(scalar, string_bools).to_string()),
        }
    }
    let mut out = String::new();
    write(&mut out, v, string_bools);
    out
}

fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

fn scalar_text(v: &V) -> String {
    match v {
        V::S(s) => escape(s),
        V::N(n) => n.to_string(),
        V::B(b) => b.to_string(),
        V::O(_) | V::A(_) => String::new(),
    }
}

/// Writes the content of an object (its entries as elements).
pub fn xml_content(out: &mut String, entries: &[(String, V)]) {
    for (k, v) in entries {
        xml_element(out, k, v);
    }
}

pub fn xml_element(out: &mut String, key: &str, v: &V) {
    match v {
        V::O(entries) => {
            let mut inner = String::new();
            xml_content(&mut inner, entries);
            wrap(out, key, &inner);
        }
        V::A(items) if items.iter().all(V::is_scalar) => {
            for item in items {
                let _ = write!(out, "<{key}>{}</{key}>", scalar_text(item));
            }
        }
        V::A(items) => {
            let mut inner = String::new();
            for item in items {
                match item {
                    V::O(entries) => xml_content(&mut inner, entries),
                    other => xml_element(&mut inner, key, other),
                }
            }
            wrap(out, key, &inner);
        }
        scalar => {
            let _ = write!(out, "<{key}>{}</{key}>", scalar_text(scalar));
        }
    }
}

fn wrap(out: &mut String, key: &str, inner: &str) {
    if inner.is_empty() {
        let _ = write!(out, "<{key}/>");
    } else {
        let _ = write!(out, "<{key}>{inner}</{key}>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_encode_as_qps_does() {
        let v = V::obj(vec![
            (
                "activation",
                V::obj(vec![(
                    "list",
                    V::obj(vec![("ActivationModule", V::A(vec![V::s("VM")]))]),
                )]),
            ),
            (
                "defaultTags",
                V::obj(vec![(
                    "list",
                    V::typed_list("TagSimple", vec![V::obj(vec![("id", V::n(7))])]),
                )]),
            ),
            ("disabled", V::B(false)),
            ("empty", V::O(vec![])),
        ]);
        let mut xml = String::new();
        xml_element(&mut xml, "X", &v);
        assert_eq!(
            xml,
            "<X><activation><list><ActivationModule>VM</ActivationModule></list></activation>\
             <defaultTags><list><TagSimple><id>7</id></TagSimple></list></defaultTags><disabled>false</disabled><empty/></X>"
        );
        let json = to_json(&v, true);
        assert_eq!(json["defaultTags"]["list"][0]["TagSimple"]["id"], 7);
        assert_eq!(json["disabled"], "false");
    }
}
