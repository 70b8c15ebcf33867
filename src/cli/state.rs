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
    /// UserScope: the entries the object added (see `UserScopeStatus::granted`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub granted: Vec<String>,
    /// SnapshotScanRegistration: what it registered last (see its status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<String>,
    /// CloudViewReport: see `CloudViewReportStatus::confirmed_hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_hash: Option<String>,
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

    /// Fails unless [`Self::save`] can work: the directory accepts a new file
    /// and the path is not a directory or read-only. `apply` calls it before
    /// its first write to Qualys, so an unwritable path costs nothing.
    pub fn check_writable(path: &Path) -> Result<(), StateError> {
        let err = |message: String| StateError::Io {
            path: path.to_path_buf(),
            message,
        };
        if path.is_dir() {
            return Err(err("is a directory; give a file path with --state".into()));
        }
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().readonly()
        {
            return Err(err("is read-only".into()));
        }
        let tmp = Self::temp_path(path);
        let probe = Self::ensure_dir(path).and_then(|()| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map(drop)
        });
        let _ = std::fs::remove_file(&tmp);
        probe.map_err(|e| err(format!("cannot be written: {e}")))
    }

    fn ensure_dir(path: &Path) -> std::io::Result<()> {
        match path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => std::fs::create_dir_all(dir),
            None => Ok(()),
        }
    }

    /// Next to the file (same file system, so the rename is atomic), unique per process.
    fn temp_path(path: &Path) -> PathBuf {
        let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(format!(".{}.tmp", std::process::id()));
        path.with_file_name(name)
    }

    /// Write atomically (temp file + rename) so an interrupted apply never
    /// leaves a truncated file that would forget created ids; the temp file
    /// is removed when anything fails.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let err = |e: std::io::Error| StateError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| StateError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::ensure_dir(path).map_err(err)?;
        let tmp = Self::temp_path(path);
        let written = std::fs::write(&tmp, text)
            .and_then(|()| std::fs::File::open(&tmp).and_then(|f| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(err)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".tmp"))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn a_failed_save_leaves_no_temp_file_and_the_old_state_intact() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // A non-empty directory where the file should be: the rename fails.
        let path = dir.path().join("state.json");
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(path.join("keep"), "x").unwrap_or_else(|e| panic!("{e}"));
        let state = State {
            version: 1,
            ..State::default()
        };
        assert!(state.save(&path).is_err());
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
        assert!(
            State::check_writable(&path).is_err(),
            "a directory is not writable as a state file"
        );
    }

    #[test]
    fn saves_replace_the_file_and_check_writable_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("sub").join("state.json");
        State::check_writable(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!path.exists(), "the check creates no state file");
        let mut state = State {
            version: 1,
            ..State::default()
        };
        state.entry_mut("https://a", "AwsConnector/default/x").external_id = Some("1".into());
        state.save(&path).unwrap_or_else(|e| panic!("{e}"));
        state.save(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(State::load(&path).ok(), Some(state));
        assert_eq!(leftovers(&dir.path().join("sub")), Vec::<String>::new());
        // The parent is a file: nothing can be written below it.
        let under_file = path.join("state.json");
        assert!(State::check_writable(&under_file).is_err());
    }
}
