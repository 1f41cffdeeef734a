//! The audit trail: one record per command that plans, changes or edits a stack's state,
//! appended where the state lives (a JSON-lines file beside local state, an append-only table
//! in the PostgreSQL backend) and chained by hash, so that a record edited, removed or
//! inserted afterwards is found (`obp audit verify`).
//!
//! A record says who ran what, where, against which plan, and what became of each resource:
//! addresses, actions and outcomes, never a value. Each record holds the hash of the one
//! before it (`prev`; the first holds [`GENESIS`]) and its own (`hash`: SHA-256 of its
//! canonical JSON with `hash` empty), so changing any field of any record, or dropping one,
//! breaks the chain from there on.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev` of a trail's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One command's entry in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// When the command ended (RFC 3339, UTC).
    pub time: String,
    pub user: String,
    pub host: String,
    /// `plan`, `apply`, `destroy`, `force-unlock`, `import`, `refresh`, `state rm` …
    pub command: String,
    pub stack: String,
    #[serde(default)]
    pub environment: Option<String>,
    /// The hash of the plan the command made or applied.
    #[serde(default)]
    pub plan: Option<String>,
    /// The plan's release class, once classes are declared.
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default)]
    pub approvals: Vec<String>,
    /// Policies overridden for this run (`--override-policy`).
    #[serde(default)]
    pub overrides: Vec<String>,
    /// The tenants the plan touched (its blast radius groups).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// What became of each resource the command planned to change.
    #[serde(default)]
    pub results: Vec<Outcome>,
    /// A word on what else the command did (the lock it removed, the address it moved).
    #[serde(default)]
    pub detail: Option<String>,
    /// The command's exit code.
    pub exit: i32,
    #[serde(default)]
    pub prev: String,
    #[serde(default)]
    pub hash: String,
}

/// What became of one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub address: String,
    /// `create`, `update`, `replace`, `delete`.
    pub action: String,
    /// `done`, `failed`, `skipped`, `not started`, `interrupted`, `not recorded`, `planned`.
    pub result: String,
}

impl Record {
    /// A record of `command` on `stack`, by this process's user on this host, now.
    pub fn new(command: &str, stack: &str) -> Record {
        Record {
            time: now(),
            user: user(),
            host: host(),
            command: command.to_owned(),
            stack: stack.to_owned(),
            environment: None,
            plan: None,
            class: None,
            approvals: Vec::new(),
            overrides: Vec::new(),
            tenants: Vec::new(),
            results: Vec::new(),
            detail: None,
            exit: 0,
            prev: String::new(),
            hash: String::new(),
        }
    }

    /// The record chained after the record whose hash is `prev`.
    pub fn sealed(mut self, prev: &str) -> Record {
        self.prev = prev.to_owned();
        self.hash = self.digest();
        self
    }

    /// SHA-256 (hex) of the record's JSON with `hash` empty.
    fn digest(&self) -> String {
        let unsealed = Record {
            hash: String::new(),
            ..self.clone()
        };
        let json = serde_json::to_string(&unsealed).unwrap_or_default();
        hex(&Sha256::digest(json.as_bytes()))
    }
}

/// SHA-256 (hex) of a plan as it is saved (`plan -out`): its configuration hash, the state
/// serial and lineage it was made against, and every change. Streamed into the hash: a
/// fleet's plan is never held a second time as text or as a JSON tree.
pub fn plan_hash(plan: &crate::plan::Plan) -> String {
    struct Hashing(Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hashing = Hashing(Sha256::new());
    // Serialising a plan cannot fail (no maps with non-string keys); a failure would only
    // make the hash that of a prefix, never a panic.
    let _ = serde_json::to_writer(&mut hashing, plan);
    hex(&hashing.0.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where and why a trail's chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// 1-based position of the first record that does not hold.
    pub position: usize,
    pub why: String,
}

/// Checks a whole trail, oldest first: every record's hash is its own, and every record names
/// the one before it. Returns how many records hold.
pub fn verify(records: &[Record]) -> Result<usize, Broken> {
    let mut prev = GENESIS.to_owned();
    for (i, record) in records.iter().enumerate() {
        let position = i + 1;
        if record.prev != prev {
            return Err(Broken {
                position,
                why: "it does not follow the record before it (a record was removed, inserted or reordered there)".to_owned(),
            });
        }
        if record.digest() != record.hash {
            return Err(Broken {
                position,
                why: "its content does not match its hash (it was edited)".to_owned(),
            });
        }
        prev = record.hash.clone();
    }
    Ok(records.len())
}

/// The time now, RFC 3339 in UTC to the second.
fn now() -> String {
    crate::state::now_rfc3339()
}

/// Who runs this process: `OBP_AUDIT_USER` (a CI job naming the person it runs for), else
/// the login name.
fn user() -> String {
    ["OBP_AUDIT_USER", "USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail(n: usize) -> Vec<Record> {
        let mut prev = GENESIS.to_owned();
        (0..n)
            .map(|i| {
                let record = Record {
                    exit: i as i32,
                    ..Record::new("apply", "acme")
                }
                .sealed(&prev);
                prev = record.hash.clone();
                record
            })
            .collect()
    }

    #[test]
    fn a_chain_holds_and_any_change_breaks_it_where_it_was_made() {
        let records = trail(4);
        assert_eq!(verify(&records), Ok(4));

        let mut edited = records.clone();
        edited[2].user = "someone-else".to_owned();
        assert_eq!(verify(&edited).unwrap_err().position, 3);

        let mut removed = records.clone();
        removed.remove(1);
        assert_eq!(verify(&removed).unwrap_err().position, 2);

        // Re-sealing an edited record does not help: the next one names the old hash.
        let mut resealed = records.clone();
        resealed[1].exit = 9;
        let prev = resealed[0].hash.clone();
        resealed[1] = resealed[1].clone().sealed(&prev);
        assert_eq!(verify(&resealed).unwrap_err().position, 3);
    }
}
