//! The local backend: `obp.state.json` written atomically (temp file, fsync, rename), an
//! append-only journal for resources completed since, and an exclusive lock file.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{Backend, JournalEntry, LockGuard, LockInfo, State, FORMAT_VERSION};
use crate::errors::StateError;

/// State in a local file; the journal and lock sit beside it.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    path: PathBuf,
}

impl LocalBackend {
    pub fn new(path: impl Into<PathBuf>) -> LocalBackend {
        LocalBackend { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        self.path.with_file_name(name)
    }

    pub fn journal_path(&self) -> PathBuf {
        self.sibling(".journal")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.sibling(".lock")
    }

    fn io(&self, path: &Path, error: std::io::Error) -> StateError {
        StateError::Io {
            path: path.display().to_string(),
            reason: error.to_string(),
        }
    }

    fn read_sync(&self) -> Result<Option<State>, StateError> {
        let mut state = match fs::read(&self.path) {
            Ok(bytes) => {
                let state: State =
                    serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
                        path: self.path.display().to_string(),
                        reason: e.to_string(),
                    })?;
                if state.version > FORMAT_VERSION {
                    return Err(StateError::TooNew {
                        path: self.path.display().to_string(),
                        version: state.version,
                    });
                }
                Some(state)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(self.io(&self.path, e)),
        };
        let journal = self.journal_path();
        match File::open(&journal) {
            Ok(file) => {
                let state = state.get_or_insert_with(State::new);
                for line in BufReader::new(file).lines() {
                    let line = line.map_err(|e| self.io(&journal, e))?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    // A torn last line (crash mid-write) is the only acceptable damage.
                    match serde_json::from_str::<JournalEntry>(&line) {
                        Ok(entry) => state.apply_entry(&entry),
                        Err(_) => break,
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io(&journal, e)),
        }
        Ok(state)
    }

    fn write_sync(&self, state: &State) -> Result<(), StateError> {
        let mut owned;
        let state = if state.lineage.is_empty() {
            owned = state.clone();
            owned.ensure_lineage();
            &owned
        } else {
            state
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| self.io(dir, e))?;
        }
        let temp = self.sibling(".tmp");
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| StateError::Corrupt {
            path: temp.display().to_string(),
            reason: e.to_string(),
        })?;
        {
            let mut file = File::create(&temp).map_err(|e| self.io(&temp, e))?;
            file.write_all(&bytes).map_err(|e| self.io(&temp, e))?;
            file.write_all(b"\n").map_err(|e| self.io(&temp, e))?;
            file.sync_all().map_err(|e| self.io(&temp, e))?;
        }
        if self.path.exists() {
            let backup = self.sibling(".backup");
            fs::copy(&self.path, &backup).map_err(|e| self.io(&backup, e))?;
        }
        fs::rename(&temp, &self.path).map_err(|e| self.io(&self.path, e))?;
        sync_dir(&self.path);
        let journal = self.journal_path();
        match fs::remove_file(&journal) {
            Ok(()) => sync_dir(&journal),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io(&journal, e)),
        }
        Ok(())
    }

    fn append_sync(&self, entries: &[JournalEntry]) -> Result<(), StateError> {
        if entries.is_empty() {
            return Ok(());
        }
        let journal = self.journal_path();
        if let Some(dir) = journal.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| self.io(dir, e))?;
        }
        let mut text = String::new();
        for entry in entries {
            let line = serde_json::to_string(entry).map_err(|e| StateError::Corrupt {
                path: journal.display().to_string(),
                reason: e.to_string(),
            })?;
            text.push_str(&line);
            text.push('\n');
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal)
            .map_err(|e| self.io(&journal, e))?;
        file.write_all(text.as_bytes())
            .map_err(|e| self.io(&journal, e))?;
        file.sync_data().map_err(|e| self.io(&journal, e))?;
        Ok(())
    }
}

/// Makes a rename or removal durable (best effort where directories cannot be synced).
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(handle) = File::open(dir) {
            let _ = handle.sync_all();
        }
    }
}

struct LocalLock {
    path: PathBuf,
    info: LockInfo,
}

impl LockGuard for LocalLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for LocalLock {
    fn drop(&mut self) {
        // Only remove our own lock, never one a force-unlock let someone else take.
        if let Ok(text) = fs::read_to_string(&self.path) {
            if serde_json::from_str::<LockInfo>(&text).is_ok_and(|held| held.id == self.info.id) {
                let _ = fs::remove_file(&self.path);
            }
        }
    }
}

#[async_trait]
impl Backend for LocalBackend {
    fn describe(&self) -> String {
        format!("local file {}", self.path.display())
    }

    async fn read(&self) -> Result<Option<State>, StateError> {
        self.read_sync()
    }

    async fn write(&self, state: &State) -> Result<(), StateError> {
        self.write_sync(state)
    }

    async fn append(&self, entries: &[JournalEntry]) -> Result<(), StateError> {
        self.append_sync(entries)
    }

    async fn lock(&self, info: LockInfo) -> Result<Box<dyn LockGuard>, StateError> {
        let path = self.lock_path();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| self.io(dir, e))?;
        }
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                let text = serde_json::to_string_pretty(&info).unwrap_or_default();
                file.write_all(text.as_bytes())
                    .map_err(|e| self.io(&path, e))?;
                file.sync_all().map_err(|e| self.io(&path, e))?;
                Ok(Box::new(LocalLock { path, info }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| serde_json::from_str::<LockInfo>(&t).ok());
                Err(StateError::Locked {
                    path: path.display().to_string(),
                    holder: holder.map(Box::new),
                })
            }
            Err(e) => Err(self.io(&path, e)),
        }
    }

    async fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        let path = self.lock_path();
        let text =
            fs::read_to_string(&path).map_err(|_| StateError::NotLocked { id: id.to_owned() })?;
        let held: LockInfo = serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if held.id != id {
            return Err(StateError::LockMismatch {
                id: id.to_owned(),
                holder: Box::new(held),
            });
        }
        fs::remove_file(&path).map_err(|e| self.io(&path, e))?;
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Recorded;
    use crate::state::ResourceState;

    fn resource(n: i64) -> ResourceState {
        let mut recorded = Recorded::default();
        recorded.inputs.insert("n".into(), n.into());
        ResourceState::new("t.x", "p", "", recorded, vec![])
    }

    #[tokio::test]
    async fn journal_replays_after_a_crash_and_write_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path().join("obp.state.json"));
        let mut state = State::new();
        state.ensure_lineage();
        backend.write(&state).await.unwrap();
        backend
            .append(&[JournalEntry::Put {
                address: "t.x.a".into(),
                resource: resource(1),
            }])
            .await
            .unwrap();
        // Simulate a torn line from a crash mid-append.
        let mut file = OpenOptions::new()
            .append(true)
            .open(backend.journal_path())
            .unwrap();
        file.write_all(b"{\"op\":\"put\",\"addr").unwrap();
        let read = backend.read().await.unwrap().unwrap();
        assert_eq!(read.resources.len(), 1);
        assert_eq!(read.serial, 1);
        state.apply_entry(&JournalEntry::Put {
            address: "t.x.a".into(),
            resource: resource(1),
        });
        backend.write(&state).await.unwrap();
        assert!(!backend.journal_path().exists());
        assert_eq!(backend.read().await.unwrap().unwrap(), state);
    }

    #[tokio::test]
    async fn a_second_lock_fails_with_the_holder_and_force_unlock_checks_the_id() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path().join("obp.state.json"));
        let guard = backend.lock(LockInfo::new("apply")).await.unwrap();
        let Err(StateError::Locked {
            holder: Some(holder),
            ..
        }) = backend.lock(LockInfo::new("plan")).await
        else {
            panic!("second lock must fail with the holder");
        };
        assert_eq!(holder.operation, "apply");
        assert!(matches!(
            backend.force_unlock("wrong").await,
            Err(StateError::LockMismatch { .. })
        ));
        let id = guard.info().id.clone();
        std::mem::forget(guard);
        backend.force_unlock(&id).await.unwrap();
        assert!(backend.lock(LockInfo::new("apply")).await.is_ok());
    }
}
