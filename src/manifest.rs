//! Reading manifests from files and directories: multi-document YAML (or JSON)
//! into JSON values, each remembering where it came from.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// One document of a manifest file.
#[derive(Debug, Clone)]
pub struct Document {
    pub source: PathBuf,
    /// Position of the document in its file, from 1.
    pub index: usize,
    pub value: Value,
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
        let value = Value::deserialize(doc).map_err(|e| ManifestError::Yaml {
            path: source.to_path_buf(),
            index,
            message: e.to_string(),
        })?;
        match value {
            Value::Null => {}
            Value::Object(ref map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
                for item in map.get("items").and_then(Value::as_array).into_iter().flatten() {
                    documents.push(Document {
                        source: source.to_path_buf(),
                        index,
                        value: item.clone(),
                    });
                }
            }
            value => documents.push(Document {
                source: source.to_path_buf(),
                index,
                value,
            }),
        }
    }
    Ok(documents)
}
