//! The CLI's memory between runs: which Qualys id each manifest object maps to,
//! the hash of the secrets last sent, and the last run request acted on. The
//! controller keeps the same facts in `status`; the CLI writes them to a JSON
//! file and feeds them back as status, so both share one core.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_requested_at: Option<String>,
}

/// Entries per account (its API URL) and object (`Kind/namespace/name`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    #[serde(default)]
    pub accounts: BTreeMap<String, BTreeMap<String, Entry>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path}: {message}")]
    Io { path: PathBuf, message: String },
}

impl State {
    pub fn load(path: &Path) -> Result<Self, StateError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| StateError::Io {
                path: path.to_path_buf(),
                message: format!("not a qualys-operator state file: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self {
                version: 1,
                ..Self::default()
            }),
            Err(e) => Err(StateError::Io {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        }
    }

    /// Write atomically (temp file + rename) so an interrupted apply never
    /// leaves a truncated file that would forget created ids.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let err = |e: std::io::Error| StateError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| StateError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }

    pub fn entry(&self, account: &str, object: &str) -> Option<&Entry> {
        self.accounts.get(account)?.get(object)
    }

    pub fn entry_mut(&mut self, account: &str, object: &str) -> &mut Entry {
        self.accounts
            .entry(account.to_string())
            .or_default()
            .entry(object.to_string())
            .or_default()
    }
}
