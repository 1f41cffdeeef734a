//! The local backend: `obp.state.json` written atomically (temp file, fsync, rename), an
//! append-only journal for resources completed since, and an exclusive lock file.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{Backend, JournalEntry, LockGuard, LockInfo, State, FORMAT_VERSION};
use crate::audit::{Record, GENESIS};
use crate::errors::StateError;

/// The id `force-unlock` takes for a lock file that names no holder.
pub const UNREADABLE_LOCK: &str = "unreadable";

/// State in a local file; the journal and lock sit beside it.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    path: PathBuf,
    /// The id of the lock this backend took, while its guard lives: every write first checks
    /// that the lock file still names it (a `force-unlock` and another run may have taken it).
    held: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl LocalBackend {
    pub fn new(path: impl Into<PathBuf>) -> LocalBackend {
        LocalBackend {
            path: path.into(),
            held: Default::default(),
        }
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

    /// The audit trail: one JSON record per line.
    pub fn audit_path(&self) -> PathBuf {
        self.sibling(".audit")
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
        match fs::read(&journal) {
            Ok(bytes) => {
                let state = state.get_or_insert_with(State::new);
                for entry in journal_entries(&journal, &bytes)? {
                    state.apply_owned(entry);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io(&journal, e)),
        }
        Ok(state)
    }

    /// Fails when the lock this backend took no longer names it.
    fn check_lock(&self) -> Result<(), StateError> {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(id) = held else {
            return Ok(());
        };
        let path = self.lock_path();
        let holder = fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str::<LockInfo>(&text).ok());
        match holder {
            Some(holder) if holder.id == id => Ok(()),
            Some(holder) => Err(StateError::LockLost {
                location: self.describe(),
                reason: format!(
                    "`{}` now names lock {} ({} by {})",
                    path.display(),
                    holder.id,
                    holder.operation,
                    holder.who
                ),
            }),
            None => Err(StateError::LockLost {
                location: self.describe(),
                reason: format!("`{}` was removed (force-unlock?)", path.display()),
            }),
        }
    }

    fn write_sync(&self, state: &State) -> Result<(), StateError> {
        self.check_lock()?;
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
        {
            // Streamed: a fleet's state is tens of megabytes of JSON, not worth holding twice.
            let file = File::create(&temp).map_err(|e| self.io(&temp, e))?;
            let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
            serde_json::to_writer_pretty(&mut out, state).map_err(|e| {
                if e.is_io() {
                    self.io(&temp, e.into())
                } else {
                    StateError::Corrupt {
                        path: temp.display().to_string(),
                        reason: e.to_string(),
                    }
                }
            })?;
            out.write_all(b"\n").map_err(|e| self.io(&temp, e))?;
            let file = out
                .into_inner()
                .map_err(|e| self.io(&temp, e.into_error()))?;
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
        self.check_lock()?;
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
            .read(true)
            .open(&journal)
            .map_err(|e| self.io(&journal, e))?;
        cut_torn_tail(&mut file).map_err(|e| self.io(&journal, e))?;
        file.write_all(text.as_bytes())
            .map_err(|e| self.io(&journal, e))?;
        file.sync_data().map_err(|e| self.io(&journal, e))?;
        Ok(())
    }
}

impl LocalBackend {
    /// Appends under an exclusive lock on the trail itself (commands that hold no state lock,
    /// such as plan, append too), chained to the last complete record.
    fn audit_sync(&self, record: Record) -> Result<Record, StateError> {
        let path = self.audit_path();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| self.io(dir, e))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(|e| self.io(&path, e))?;
        file.lock().map_err(|e| self.io(&path, e))?;
        cut_torn_tail(&mut file).map_err(|e| self.io(&path, e))?;
        let prev = match last_line(&mut file).map_err(|e| self.io(&path, e))? {
            None => GENESIS.to_owned(),
            Some(line) => match serde_json::from_slice::<Record>(&line) {
                Ok(last) => last.hash,
                // Reading the whole trail says at which record it breaks.
                Err(e) => {
                    let count = self.audit_trail_sync()?.len();
                    return Err(StateError::AuditBroken {
                        location: self.describe(),
                        position: count,
                        why: format!("it cannot be read ({e})"),
                    });
                }
            },
        };
        let sealed = record.sealed(&prev);
        let mut line = serde_json::to_string(&sealed).map_err(|e| StateError::Corrupt {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        line.push('\n');
        file.write_all(line.as_bytes())
            .map_err(|e| self.io(&path, e))?;
        file.sync_data().map_err(|e| self.io(&path, e))?;
        Ok(sealed)
    }

    fn audit_trail_sync(&self) -> Result<Vec<Record>, StateError> {
        let path = self.audit_path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(&path, e)),
        };
        let mut records = Vec::new();
        // A torn last line (a crash mid-append) was never acknowledged: not a record.
        let complete = match bytes.iter().rposition(|b| *b == b'\n') {
            Some(end) => &bytes[..=end],
            None => &[][..],
        };
        for line in complete.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let record =
                serde_json::from_slice::<Record>(line).map_err(|e| StateError::AuditBroken {
                    location: self.describe(),
                    position: records.len() + 1,
                    why: format!("it cannot be read ({e})"),
                })?;
            records.push(record);
        }
        Ok(records)
    }
}

/// The last line of a file that ends with a newline, without it; `None` if empty.
fn last_line(file: &mut File) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    // Read back in blocks until the newline before the last line (or the start).
    let mut tail: Vec<u8> = Vec::new();
    let mut end = len - 1;
    loop {
        let start = end.saturating_sub(64 * 1024);
        let mut block = vec![0u8; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&tail);
        tail = block;
        if let Some(at) = tail.iter().rposition(|b| *b == b'\n') {
            return Ok(Some(tail[at + 1..].to_vec()));
        }
        if start == 0 {
            return Ok(Some(tail));
        }
        end = start;
    }
}

/// The entries of a journal. Every entry is one line ending in `\n`, written whole by one
/// append; a crash mid-append can only leave an incomplete last line (no `\n`), which was never
/// acknowledged and is skipped. A complete line that is not an entry is damage nothing explains:
/// an error, never a reason to drop the entries after it.
fn journal_entries(path: &Path, bytes: &[u8]) -> Result<Vec<JournalEntry>, StateError> {
    let complete = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(end) => &bytes[..=end],
        None => &[][..],
    };
    let mut entries = Vec::new();
    for (n, line) in complete.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let entry = serde_json::from_slice::<JournalEntry>(line).map_err(|e| {
            StateError::JournalDamaged {
                path: path.display().to_string(),
                line: n + 1,
                reason: e.to_string(),
            }
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

/// Removes an incomplete last line (left by a crash mid-append) before appending, so the
/// next entry starts on a line of its own instead of being glued to the fragment.
fn cut_torn_tail(file: &mut File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    // The usual case: the journal ends with a complete line.
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    // Look back in blocks for the last newline.
    let mut end = len;
    let mut block = vec![0u8; 64 * 1024];
    loop {
        let start = end.saturating_sub(block.len() as u64);
        let size = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block[..size])?;
        if let Some(at) = block[..size].iter().rposition(|b| *b == b'\n') {
            file.set_len(start + at as u64 + 1)?;
            return file.sync_data();
        }
        if start == 0 {
            file.set_len(0)?;
            return file.sync_data();
        }
        end = start;
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
    /// The backend's record of the lock it holds, cleared on drop.
    held: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl LockGuard for LocalLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for LocalLock {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.as_deref() == Some(self.info.id.as_str()) {
            *held = None;
        }
        drop(held);
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

    async fn has_journal(&self) -> Result<bool, StateError> {
        let journal = self.journal_path();
        match fs::metadata(&journal) {
            Ok(meta) => Ok(meta.len() > 0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io(&journal, e)),
        }
    }

    async fn audit(&self, record: Record) -> Result<Record, StateError> {
        self.audit_sync(record)
    }

    async fn audit_trail(&self) -> Result<Vec<Record>, StateError> {
        self.audit_trail_sync()
    }

    async fn lock(&self, info: LockInfo) -> Result<Box<dyn LockGuard>, StateError> {
        let path = self.lock_path();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| self.io(dir, e))?;
        }
        // The lock file appears complete or not at all: written under a unique name, then
        // linked into place (which fails if a lock exists), so no run ever sees an empty one.
        let temp = self.sibling(&format!(".lock.{}.tmp", info.id));
        let text = serde_json::to_string_pretty(&info).unwrap_or_default();
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })();
        let linked = written.and_then(|()| fs::hard_link(&temp, &path));
        let _ = fs::remove_file(&temp);
        // A filesystem without hard links: create it in place (not atomic, but exclusive).
        let linked = match linked {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .and_then(|mut file| {
                    file.write_all(text.as_bytes())?;
                    file.sync_all()
                }),
            other => other,
        };
        match linked {
            Ok(()) => {
                sync_dir(&path);
                *self.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(info.id.clone());
                Ok(Box::new(LocalLock {
                    path,
                    info,
                    held: self.held.clone(),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = fs::read_to_string(&path).unwrap_or_default();
                match serde_json::from_str::<LockInfo>(&text) {
                    Ok(holder) => Err(StateError::Locked {
                        path: path.display().to_string(),
                        holder: Some(Box::new(holder)),
                    }),
                    Err(_) => Err(StateError::LockUnreadable {
                        path: path.display().to_string(),
                    }),
                }
            }
            Err(e) => Err(self.io(&path, e)),
        }
    }

    /// Removes the lock with id `id`; a lock file that names no holder is removed with the id
    /// [`UNREADABLE_LOCK`] (which the lock error names).
    async fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        let path = self.lock_path();
        let text =
            fs::read_to_string(&path).map_err(|_| StateError::NotLocked { id: id.to_owned() })?;
        let held = match serde_json::from_str::<LockInfo>(&text) {
            Ok(held) => held,
            Err(_) if id == UNREADABLE_LOCK => LockInfo {
                id: id.to_owned(),
                who: "nobody named".to_owned(),
                operation: "an unknown operation".to_owned(),
                created: "an unknown time".to_owned(),
                pid: 0,
            },
            Err(_) => {
                return Err(StateError::LockUnreadable {
                    path: path.display().to_string(),
                })
            }
        };
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

    #[tokio::test]
    async fn entries_appended_after_a_torn_line_are_never_lost() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path().join("obp.state.json"));
        let put = |n: i64| JournalEntry::Put {
            address: format!("t.x.a{n}"),
            resource: resource(n),
        };
        backend.append(&[put(1)]).await.unwrap();
        // A crash mid-append leaves a fragment; the next run appends after it.
        let mut file = OpenOptions::new()
            .append(true)
            .open(backend.journal_path())
            .unwrap();
        file.write_all(b"{\"op\":\"put\",\"addr").unwrap();
        drop(file);
        assert_eq!(backend.read().await.unwrap().unwrap().resources.len(), 1);
        for n in 2..=300 {
            backend.append(&[put(n)]).await.unwrap();
        }
        let read = backend.read().await.unwrap().unwrap();
        assert_eq!(
            read.resources.len(),
            300,
            "no entry after the fragment is lost"
        );
        assert_eq!(read.serial, 300);
    }

    #[tokio::test]
    async fn a_damaged_complete_entry_is_an_error_and_overwrites_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path().join("obp.state.json"));
        let mut state = State::new();
        state.ensure_lineage();
        backend.write(&state).await.unwrap();
        let before = fs::read(backend.path()).unwrap();
        let line = |n: i64| {
            serde_json::to_string(&JournalEntry::Put {
                address: format!("t.x.a{n}"),
                resource: resource(n),
            })
            .unwrap()
        };
        fs::write(
            backend.journal_path(),
            format!("{}\ngarbage\n{}\n", line(1), line(2)),
        )
        .unwrap();
        let Err(StateError::JournalDamaged { line, .. }) = backend.read().await else {
            panic!("a damaged entry in the middle must be an error");
        };
        assert_eq!(line, 2);
        assert_eq!(fs::read(backend.path()).unwrap(), before);
        assert!(backend.journal_path().exists());
    }

    #[test]
    fn a_torn_tail_is_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        for (text, kept) in [
            ("", ""),
            ("{\"a\"", ""),
            ("one\n", "one\n"),
            ("one\ntwo\n{\"to", "one\ntwo\n"),
        ] {
            fs::write(&path, text).unwrap();
            let mut file = OpenOptions::new()
                .append(true)
                .read(true)
                .open(&path)
                .unwrap();
            cut_torn_tail(&mut file).unwrap();
            assert_eq!(fs::read_to_string(&path).unwrap(), kept);
        }
        // A fragment longer than one block.
        let long = format!("one\n{}", "x".repeat(200_000));
        fs::write(&path, long).unwrap();
        let mut file = OpenOptions::new()
            .append(true)
            .read(true)
            .open(&path)
            .unwrap();
        cut_torn_tail(&mut file).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "one\n");
    }

    #[tokio::test]
    async fn a_holder_whose_lock_was_taken_over_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path().join("obp.state.json"));
        let guard = backend.lock(LockInfo::new("apply")).await.unwrap();
        let put = JournalEntry::Put {
            address: "t.x.a".into(),
            resource: resource(1),
        };
        backend.append(std::slice::from_ref(&put)).await.unwrap();
        // Someone force-unlocks it and another run takes the lock.
        let other = LocalBackend::new(dir.path().join("obp.state.json"));
        other.force_unlock(&guard.info().id).await.unwrap();
        let _theirs = other.lock(LockInfo::new("apply")).await.unwrap();
        let error = backend.append(&[put]).await.unwrap_err();
        assert!(matches!(error, StateError::LockLost { .. }), "{error:?}");
        assert!(matches!(
            backend.write(&State::new()).await,
            Err(StateError::LockLost { .. })
        ));
        assert_eq!(backend.read().await.unwrap().unwrap().serial, 1);
        // Dropping the stale guard leaves the other run's lock alone.
        drop(guard);
        assert!(other.lock_path().exists());
    }
}
