//! State: what obp has applied, per resource instance, with `serial` and `lineage`, plus the
//! [`Backend`] trait that stores it and the lock that serialises operations.

pub mod local;
pub mod postgres;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::errors::StateError;
use crate::provider::Recorded;

/// The newest state format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub version: u32,
    /// Increases with every change.
    pub serial: u64,
    /// Identifies one state's history; a saved plan only applies to the same lineage.
    pub lineage: String,
    pub resources: BTreeMap<String, ResourceState>,
    #[serde(default)]
    pub outputs: BTreeMap<String, Json>,
}

impl State {
    /// The state before anything was applied: no lineage yet (the first write assigns one),
    /// so a plan saved against "no state" stays valid until something is applied.
    pub fn new() -> State {
        State {
            version: FORMAT_VERSION,
            serial: 0,
            lineage: String::new(),
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
        }
    }

    /// Gives a state that has none its lineage.
    pub fn ensure_lineage(&mut self) {
        if self.lineage.is_empty() {
            self.lineage = uuid::Uuid::new_v4().to_string();
        }
    }

    /// Applies one journal entry, taking it.
    pub fn apply_owned(&mut self, entry: JournalEntry) {
        match entry {
            JournalEntry::Put { address, resource } => {
                self.resources.insert(address, resource);
            }
            JournalEntry::Remove { address } => {
                self.resources.remove(&address);
            }
            JournalEntry::Outputs { outputs } => self.outputs = outputs,
        }
        self.serial += 1;
    }

    /// Applies one journal entry.
    pub fn apply_entry(&mut self, entry: &JournalEntry) {
        match entry {
            JournalEntry::Put { address, resource } => {
                self.resources.insert(address.clone(), resource.clone());
            }
            JournalEntry::Remove { address } => {
                self.resources.remove(address);
            }
            JournalEntry::Outputs { outputs } => self.outputs = outputs.clone(),
        }
        self.serial += 1;
    }
}

impl Default for State {
    fn default() -> State {
        State::new()
    }
}

/// One applied resource instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResourceState {
    #[serde(rename = "type")]
    pub rtype: String,
    /// The provider configuration name that manages it.
    pub provider: String,
    /// Module instance part of the address (for per-tenant summaries).
    #[serde(default)]
    pub module: String,
    /// What obp configured, resolved (secret references stay references).
    pub inputs: BTreeMap<String, Json>,
    /// What the provider reported back.
    #[serde(default)]
    pub outputs: BTreeMap<String, Json>,
    /// Addresses it depended on when applied (destroy order for orphans).
    #[serde(default)]
    pub deps: Vec<String>,
    /// SHA-256 of inputs and outputs, to spot hand edits of the state file.
    pub hash: String,
    /// Its wave in the apply order when it was applied, for a provider that renders it
    /// ([`crate::provider::Provider::orders`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<u32>,
}

impl ResourceState {
    pub fn new(
        rtype: &str,
        provider: &str,
        module: &str,
        recorded: Recorded,
        deps: Vec<String>,
    ) -> ResourceState {
        let hash = content_hash(&recorded.inputs, &recorded.outputs);
        ResourceState {
            rtype: rtype.to_owned(),
            provider: provider.to_owned(),
            module: module.to_owned(),
            inputs: recorded.inputs,
            outputs: recorded.outputs,
            deps,
            hash,
            order: None,
        }
    }

    /// The same, applied at wave `order`.
    pub fn with_order(mut self, order: Option<u32>) -> ResourceState {
        self.order = order;
        self
    }

    pub fn recorded(&self) -> Recorded {
        Recorded {
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
        }
    }

    /// Whether the content still matches its hash.
    pub fn intact(&self) -> bool {
        content_hash(&self.inputs, &self.outputs) == self.hash
    }

    /// An attribute by path, from outputs first (provider truth), then inputs.
    pub fn lookup(&self, path: &[String]) -> Option<&Json> {
        let (first, rest) = path.split_first()?;
        let mut current = self.outputs.get(first).or_else(|| self.inputs.get(first))?;
        for step in rest {
            current = match current {
                Json::Object(map) => map.get(step)?,
                Json::Array(items) => items.get(step.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(current)
    }
}

/// SHA-256 (hex) of a resource's recorded content.
pub fn content_hash(inputs: &BTreeMap<String, Json>, outputs: &BTreeMap<String, Json>) -> String {
    let text = serde_json::to_string(&(inputs, outputs)).unwrap_or_default();
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A change appended to the journal as soon as one resource completes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum JournalEntry {
    Put {
        address: String,
        resource: ResourceState,
    },
    Remove {
        address: String,
    },
    Outputs {
        outputs: BTreeMap<String, Json>,
    },
}

/// Who holds a lock, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockInfo {
    pub id: String,
    pub who: String,
    pub operation: String,
    pub created: String,
    pub pid: u32,
}

impl LockInfo {
    pub fn new(operation: &str) -> LockInfo {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".to_owned());
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            who: format!("{user}@{host}"),
            operation: operation.to_owned(),
            created: now_rfc3339(),
            pid: std::process::id(),
        }
    }
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Releases a lock when dropped.
pub trait LockGuard: Send + Sync {
    fn info(&self) -> &LockInfo;
}

/// Where state lives. Implementations must make [`Backend::append`] durable before returning,
/// so a crash never loses a completed resource.
#[async_trait]
pub trait Backend: Send + Sync {
    /// A short description for messages (`local file state/obp.state.json`).
    fn describe(&self) -> String;
    /// The current state (with any journal replayed), or `None` if none was written yet.
    async fn read(&self) -> Result<Option<State>, StateError>;
    /// Replaces the state atomically and clears the journal.
    async fn write(&self, state: &State) -> Result<(), StateError>;
    /// Durably appends entries that [`Backend::read`] replays until the next write.
    async fn append(&self, entries: &[JournalEntry]) -> Result<(), StateError>;
    /// Takes the lock or fails at once, naming the holder.
    async fn lock(&self, info: LockInfo) -> Result<Box<dyn LockGuard>, StateError>;
    /// Removes a lock left by a crashed run, if its id matches.
    async fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError>;
    /// Whether journal entries wait to be folded into the next write (a run killed after its
    /// last change and before its final write leaves them; a run with nothing to change
    /// writes state anyway to fold them).
    async fn has_journal(&self) -> Result<bool, StateError>;
    /// Appends a record to the audit trail, chained after the last one (appends from
    /// concurrent commands are serialised); returns it sealed.
    async fn audit(&self, record: crate::audit::Record)
        -> Result<crate::audit::Record, StateError>;
    /// The audit trail, oldest first. A record that cannot be read is
    /// [`StateError::AuditBroken`].
    async fn audit_trail(&self) -> Result<Vec<crate::audit::Record>, StateError>;
    /// Whether the lock this backend took is known to be lost (cheap: no round trip). A
    /// backend that can lose its lock checks it before every write and on a heartbeat.
    fn lost(&self) -> Option<StateError> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_783), (2026, 11, 26));
    }
}
