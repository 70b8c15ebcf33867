//! Reading manifests from files and directories: multi-document YAML (or JSON)
//! into JSON values, each remembering where it came from.

use std::path::{Path, PathBuf};

use std::cell::RefCell;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// One document of a manifest file.
#[derive(Debug, Clone)]
pub struct Document {
    pub source: PathBuf,
    /// Position of the document in its file, from 1.
    pub index: usize,
    pub value: Value,
    /// What the document says that JSON cannot hold faithfully: a key given
    /// twice, an integer out of range (`path: message`). The value keeps the
    /// first key and `null` for the integer; the document must be refused.
    pub problems: Vec<String>,
}

impl Document {
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }
    pub fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    pub fn namespace(&self) -> Option<&str> {
        self.value.pointer("/metadata/namespace").and_then(Value::as_str)
    }
    /// `file#N Kind/name`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{}#{} {}/{}",
            self.source.display(),
            self.index,
            self.kind(),
            self.name()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}#{index}: not valid YAML: {message}")]
    Yaml {
        path: PathBuf,
        index: usize,
        message: String,
    },
}

/// Read every `.yaml`, `.yml` and `.json` file under the given paths (directories
/// recursively, in name order). Empty documents are skipped; `List` objects are
/// flattened into their items.
pub fn read_paths(paths: &[PathBuf]) -> Result<Vec<Document>, ManifestError> {
    let mut files = Vec::new();
    for path in paths {
        collect_files(path, &mut files)?;
    }
    let mut documents = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| ManifestError::Io {
            path: file.clone(),
            source,
        })?;
        documents.extend(parse_documents(&file, &text)?);
    }
    Ok(documents)
}

fn collect_files(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let meta = std::fs::metadata(path).map_err(|source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_file() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let entries = std::fs::read_dir(path).map_err(|source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    children.sort();
    for child in children {
        if child.is_dir() {
            collect_files(&child, files)?;
        } else if child
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            files.push(child);
        }
    }
    Ok(())
}

/// Split a multi-document YAML text into JSON values.
pub fn parse_documents(source: &Path, text: &str) -> Result<Vec<Document>, ManifestError> {
    let mut documents = Vec::new();
    for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        let problems = RefCell::new(Vec::new());
        let value = Strict {
            path: String::new(),
            problems: &problems,
        }
        .deserialize(doc)
        .map_err(|e| ManifestError::Yaml {
            path: source.to_path_buf(),
            index,
            message: e.to_string(),
        })?;
        let problems = problems.into_inner();
        let document = |value: Value| Document {
            source: source.to_path_buf(),
            index,
            value,
            problems: problems.clone(),
        };
        match value {
            Value::Null if problems.is_empty() => {}
            Value::Object(ref map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
                for item in map.get("items").and_then(Value::as_array).into_iter().flatten() {
                    documents.push(document(item.clone()));
                }
            }
            value => documents.push(document(value)),
        }
    }
    Ok(documents)
}

/// Reads YAML into JSON as the API server's decoder does, strictly: a mapping
/// key given twice and an integer that fits no 64-bit field are recorded as
/// problems of the document (with their path) instead of one value silently
/// winning or the whole file being called "not valid YAML".
struct Strict<'a> {
    path: String,
    problems: &'a RefCell<Vec<String>>,
}

impl Strict<'_> {
    fn child(&self, step: &str) -> Self {
        let path = match (self.path.is_empty(), step.starts_with('[')) {
            (true, _) | (false, true) => format!("{}{step}", self.path),
            (false, false) => format!("{}.{step}", self.path),
        };
        Strict {
            path,
            problems: self.problems,
        }
    }

    fn problem(&self, message: String) {
        let at = if self.path.is_empty() { "(document)" } else { &self.path };
        self.problems.borrow_mut().push(format!("{at}: {message}"));
    }

    fn out_of_range(&self, shown: &str) -> Value {
        self.problem(format!(
            "{shown} is out of range: integer fields hold at most {} (and at least {})",
            i64::MAX,
            i64::MIN
        ));
        Value::Null
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(match i64::try_from(v) {
            Ok(n) => Value::from(n),
            Err(_) => self.out_of_range(&v.to_string()),
        })
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(self.out_of_range(&v.to_string()))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(self.out_of_range(&v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // Digits beyond u128 arrive as a float: still an integer the user wrote.
        if v.fract() == 0.0 && v.abs() >= 9.3e18 {
            return Ok(self.out_of_range(&format!("{v:e}")));
        }
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child(&format!("[{}]", items.len())))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self.child(&key))?;
            if object.contains_key(&key) {
                self.child(&key).problem(format!(
                    "duplicate key {key:?} in one mapping (kubectl refuses it too); keep one"
                ));
            } else {
                object.insert(key, value);
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Document> {
        parse_documents(Path::new("m.yaml"), text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_duplicate_key_is_a_problem_of_its_document_naming_the_path() {
        let docs = parse("kind: AwsConnector\nspec:\n  apps:\n    - name: AI\n      name: CI\n  arn: a\n  arn: b\n");
        assert_eq!(
            docs[0].problems,
            [
                "spec.apps[0].name: duplicate key \"name\" in one mapping (kubectl refuses it too); keep one",
                "spec.arn: duplicate key \"arn\" in one mapping (kubectl refuses it too); keep one",
            ]
        );
        assert_eq!(docs[0].value["spec"]["arn"], "a", "the second value never wins");
    }

    #[test]
    fn huge_integers_are_out_of_range_values_of_their_field() {
        let docs = parse(
            "spec:\n  a: 99999999999999999999\n  b: -99999999999999999999\n  c: 1000000000000000000000000000000000000000000\n  d: 9223372036854775807\n  e: 1.5\n",
        );
        let problems = &docs[0].problems;
        assert_eq!(problems.len(), 3, "{problems:?}");
        for (field, p) in [
            "spec.a: 99999999999999999999",
            "spec.b: -99999999999999999999",
            "spec.c: ",
        ]
        .iter()
        .zip(problems)
        {
            assert!(p.starts_with(field) && p.contains("out of range"), "{p}");
        }
        assert_eq!(docs[0].value["spec"]["d"], i64::MAX);
        assert_eq!(docs[0].value["spec"]["e"], 1.5);
    }

    #[test]
    fn plain_documents_and_lists_read_as_before() {
        let docs =
            parse("---\n# only a comment\n---\nkind: List\nitems:\n  - {kind: A}\n  - {kind: B}\n---\nkind: C\n");
        let kinds: Vec<&str> = docs.iter().map(Document::kind).collect();
        assert_eq!(kinds, ["A", "B", "C"]);
        assert!(docs.iter().all(|d| d.problems.is_empty()));
        assert_eq!(docs[2].index, 3);
    }
}
