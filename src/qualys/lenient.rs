//! Tolerant readers over `serde_json::Value`: Qualys sends booleans and numbers
//! as strings, single items where lists are expected (and the reverse), and
//! wraps collections in `list` / `set` in some answers but not others.

use serde::{Deserialize, Deserializer, Serializer};
use serde_json::Value;

use super::tree::TEXT_KEY;

/// Field of an object; exact name first, then ASCII case-insensitive.
pub fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = match v {
        Value::Object(o) => o,
        Value::Array(items) if items.len() == 1 => return field(&items[0], key),
        _ => return None,
    };
    obj.get(key)
        .or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// First present field among several spellings.
pub fn field_any<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| field(v, k))
}

/// Text of a scalar, number or boolean; `None` for null, empty text, objects
/// without text.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => items.iter().find_map(text),
        Value::Object(o) => o.get(TEXT_KEY).and_then(text),
        Value::Null => None,
    }
}

/// Trimmed text, for ids and enum values.
pub fn token(v: &Value) -> Option<String> {
    text(v).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

pub fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::Array(items) => items.iter().find_map(boolean),
        _ => {
            // `>false` is a documentation artefact seen in several samples.
            let t = token(v)?;
            let t = t.trim_start_matches('>');
            if t.eq_ignore_ascii_case("true") || t == "1" {
                Some(true)
            } else if t.eq_ignore_ascii_case("false") || t == "0" {
                Some(false)
            } else {
                None
            }
        }
    }
}

pub fn unsigned(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        _ => token(v)?.parse().ok(),
    }
}

pub fn field_text(v: &Value, key: &str) -> Option<String> {
    field(v, key).and_then(text)
}

pub fn field_token(v: &Value, key: &str) -> Option<String> {
    field(v, key).and_then(token)
}

pub fn field_bool(v: &Value, key: &str) -> Option<bool> {
    field(v, key).and_then(boolean)
}

pub fn field_u64(v: &Value, key: &str) -> Option<u64> {
    field(v, key).and_then(unsigned)
}

/// One-or-many: an array's elements, nothing for null or blank text, else the
/// value itself.
pub fn many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().flat_map(many).collect(),
        Value::Null => Vec::new(),
        Value::String(s) if s.trim().is_empty() => Vec::new(),
        other => vec![other],
    }
}

const WRAPPERS: &[&str] = &["list", "set", "add"];

/// Items named `item` inside a collection, looking through `list` / `set` /
/// `add` wrappers, arrays, and the extra container names given (e.g. the
/// `ConnectorAppInfoQList` level), at any depth.
pub fn items<'a>(collection: &'a Value, item: &str, containers: &[&str]) -> Vec<&'a Value> {
    let mut out = Vec::new();
    collect(collection, item, containers, &mut out);
    out
}

fn collect<'a>(v: &'a Value, item: &str, containers: &[&str], out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(values) => values.iter().for_each(|x| collect(x, item, containers, out)),
        Value::Object(obj) => {
            for (key, child) in obj {
                if key == item {
                    out.extend(many(child));
                } else if WRAPPERS.contains(&key.as_str()) || containers.contains(&key.as_str()) {
                    collect(child, item, containers, out);
                }
            }
        }
        _ => {}
    }
}

/// Like [`items`], but `None` when the collection field itself is absent, so a
/// reader can tell "not echoed" from "empty".
pub fn field_items<'a>(v: &'a Value, key: &str, item: &str, containers: &[&str]) -> Option<Vec<&'a Value>> {
    field(v, key).map(|c| items(c, item, containers))
}

/// Serde adapters for the plain-JSON families (gateway, CloudView).
pub mod de {
    use super::*;

    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Option::<Value>::deserialize(d)?.as_ref().and_then(text))
    }

    pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        Ok(Option::<Value>::deserialize(d)?.as_ref().and_then(boolean))
    }

    pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Ok(Option::<Value>::deserialize(d)?.as_ref().and_then(unsigned))
    }

    /// A list of strings from an array, a single value, or null; numbers become text.
    pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let v = Option::<Value>::deserialize(d)?.unwrap_or(Value::Null);
        Ok(many(&v).into_iter().filter_map(text).collect())
    }

    /// A list of `T` from an array, a single object, or null.
    pub fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: serde::de::DeserializeOwned,
    {
        let v = Option::<Value>::deserialize(d)?.unwrap_or(Value::Null);
        many(&v)
            .into_iter()
            .map(|x| T::deserialize(x.clone()).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// Serde adapters for outgoing ids: numeric ids go out as JSON numbers.
pub mod ser {
    use super::*;

    pub fn id<S: Serializer>(id: &str, s: S) -> Result<S::Ok, S::Error> {
        match id.trim().parse::<u64>() {
            Ok(n) => s.serialize_u64(n),
            Err(_) => s.serialize_str(id),
        }
    }

    pub fn opt_id<S: Serializer>(id: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        match id.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(v) => self::id(v, s),
            None => s.serialize_none(),
        }
    }

    pub fn ids<S: Serializer>(ids: &[String], s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(ids.len()))?;
        for i in ids {
            match i.trim().parse::<u64>() {
                Ok(n) => seq.serialize_element(&n)?,
                Err(_) => seq.serialize_element(i)?,
            }
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_are_read_leniently() {
        assert_eq!(boolean(&json!("false")), Some(false));
        assert_eq!(boolean(&json!(" TRUE ")), Some(true));
        assert_eq!(boolean(&json!(">false")), Some(false));
        assert_eq!(boolean(&json!([false, true])), Some(false));
        assert_eq!(boolean(&json!("maybe")), None);
        assert_eq!(unsigned(&json!("\n 240 ")), Some(240));
        assert_eq!(unsigned(&json!(240)), Some(240));
        assert_eq!(text(&json!(1680606)), Some("1680606".into()));
        assert_eq!(text(&json!("")), None);
        assert_eq!(text(&json!({"$text": "v", "field": "x"})), Some("v".into()));
    }

    #[test]
    fn collections_look_through_wrappers() {
        let shapes = [
            json!({"list": {"ActivationModule": ["CLOUDVIEW", "VM"]}}),
            json!({"ActivationModule": ["CLOUDVIEW", "VM"]}),
            json!({"set": [{"ActivationModule": "CLOUDVIEW"}, {"ActivationModule": "VM"}]}),
            json!([{"list": {"ActivationModule": "CLOUDVIEW"}}, {"list": {"ActivationModule": "VM"}}]),
        ];
        for shape in &shapes {
            let got: Vec<_> = items(shape, "ActivationModule", &[])
                .into_iter()
                .filter_map(text)
                .collect();
            assert_eq!(got, vec!["CLOUDVIEW", "VM"], "{shape}");
        }
        assert!(items(&json!(""), "X", &[]).is_empty());
    }
}
