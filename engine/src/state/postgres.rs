//! The postgres backend: state in a PostgreSQL database, for teams and CI.
//!
//! Stack syntax: `backend postgres { url = secret("env:OBP_STATE_URL") schema = "obp"
//! workspace = "prod" }`. Three tables in `schema` (created on first use):
//!
//! - `states`: one row per write (`workspace`, `serial`, `lineage`, the state as JSON text,
//!   when and by whom). Rows are never updated or deleted, so every previous state stays
//!   available as history; the current state is the workspace's newest row.
//! - `journal`: entries appended as resources complete, committed before `append` returns;
//!   [`Backend::read`] replays them over the newest state, and a write folds them in (it
//!   inserts the new state and deletes the workspace's journal rows in one transaction).
//! - `locks`: one row per locked workspace naming the holder ([`LockInfo`]).
//!
//! Writes are checked: a state of another lineage, or with a serial lower than the stored
//! one (newest row plus journal entries), is refused with [`StateError::Conflict`].
//!
//! The lock is `pg_try_advisory_lock` on a key derived from the schema and workspace, held by
//! a dedicated connection for the whole operation, plus the holder row. A second operation
//! fails at once, naming the holder from that row. If the holding process dies, the server
//! ends its session and releases the advisory lock by itself; the holder row it leaves is
//! replaced by the next operation that takes the lock.
//!
//! The lock lives exactly as long as its session, so a holder whose session ends (a network
//! cut, `pg_terminate_backend`, a server restart) has lost it, and another run can take it. The
//! holder notices: every journal append and state write first checks the lock session with a
//! round trip, and a heartbeat checks it every [`HEARTBEAT`] in between; once lost,
//! [`Backend::lost`] says so, appends and writes fail with [`StateError::LockLost`], and the
//! apply walker starts nothing more.

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::{Backend, JournalEntry, LockGuard, LockInfo, State, FORMAT_VERSION};
use crate::audit::{Record, GENESIS};
use crate::errors::StateError;
use crate::pg::{quote_ident, Client, Target};

/// How often a held lock's session is checked between writes.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// How long releasing a lock waits for its holder row to be removed.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(2);

/// State in PostgreSQL, one workspace of one schema.
pub struct PostgresBackend {
    target: Target,
    schema: String,
    workspace: String,
    /// The connection for reads, writes and appends (locks get their own).
    client: Mutex<Option<Client>>,
    /// Whether the schema and tables were checked by this instance.
    ready: Mutex<bool>,
    /// The session of the lock this backend took, while its guard lives.
    session: std::sync::Mutex<Weak<LockSession>>,
    /// Set once the lock's session was found gone; stays set.
    lost: Arc<std::sync::Mutex<Option<String>>>,
    heartbeat: Duration,
}

/// The dedicated connection holding the advisory lock.
struct LockSession {
    client: Client,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Checks a schema name: a plain PostgreSQL identifier of at most 63 bytes.
pub fn check_schema(schema: &str) -> Result<(), String> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with("pg_");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`schema` must be a lowercase identifier (letters, digits, `_`; at most 63 bytes; not `pg_…`), not `{schema}`"
        ))
    }
}

/// Checks a workspace name: letters, digits, `_`, `.`, `-`, at most 64 characters.
pub fn check_workspace(workspace: &str) -> Result<(), String> {
    let ok = !workspace.is_empty()
        && workspace.len() <= 64
        && workspace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`workspace` must be 1 to 64 letters, digits, `_`, `.` or `-`, not `{workspace}`"
        ))
    }
}

impl PostgresBackend {
    /// A backend for `workspace` in `schema` of the database `target` names.
    pub fn new(target: Target, schema: &str, workspace: &str) -> Result<PostgresBackend, String> {
        check_schema(schema)?;
        check_workspace(workspace)?;
        Ok(PostgresBackend {
            target,
            schema: schema.to_owned(),
            workspace: workspace.to_owned(),
            client: Mutex::new(None),
            ready: Mutex::new(false),
            session: std::sync::Mutex::new(Weak::new()),
            lost: Arc::new(std::sync::Mutex::new(None)),
            heartbeat: HEARTBEAT,
        })
    }

    /// Checks the lock session every `interval` instead of [`HEARTBEAT`] (for tests).
    pub fn with_heartbeat(mut self, interval: Duration) -> PostgresBackend {
        self.heartbeat = interval;
        self
    }

    fn lost_error(&self, reason: &str) -> StateError {
        StateError::LockLost {
            location: self.describe(),
            reason: reason.to_owned(),
        }
    }

    fn mark_lost(&self, reason: String) {
        let mut lost = self.lost.lock().unwrap_or_else(|e| e.into_inner());
        lost.get_or_insert(reason);
    }

    /// Fails unless the lock this backend holds (if it holds one) is still held: its
    /// session answers. Called before every append and write.
    async fn check_lock(&self) -> Result<(), StateError> {
        if let Some(lost) = self.lost() {
            return Err(lost);
        }
        let session = self
            .session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .upgrade();
        let Some(session) = session else {
            return Ok(());
        };
        if let Err(reason) = session.alive().await {
            self.mark_lost(reason);
            return Err(self.lost().unwrap_or_else(|| self.lost_error("")));
        }
        Ok(())
    }

    /// Checks the lock session on a timer while its guard lives, so that a lost lock is
    /// noticed even when nothing is being written; it ends with the guard.
    fn spawn_heartbeat(&self, session: Weak<LockSession>) {
        let interval = self.heartbeat;
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let shared = self.lost.clone();
        handle.spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(session) = session.upgrade() else {
                    return;
                };
                if let Err(reason) = session.alive().await {
                    shared
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(reason);
                    return;
                }
            }
        });
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    pub fn workspace(&self) -> &str {
        &self.workspace
    }

    /// `"schema".table`
    fn table(&self, name: &str) -> String {
        format!("{}.{name}", quote_ident(&self.schema))
    }

    fn io(&self, reason: impl Into<String>) -> StateError {
        StateError::Io {
            path: self.describe(),
            reason: self.target.redact(&reason.into()),
        }
    }

    fn db(&self, error: &tokio_postgres::Error) -> StateError {
        self.io(self.target.error(error))
    }

    /// The session-level advisory lock key of this workspace (non-negative, so it reads
    /// back the same from `pg_locks`).
    pub fn lock_key(&self) -> i64 {
        key(&format!(
            "obp-state-lock:{}:{}",
            self.schema, self.workspace
        ))
    }

    /// The transaction-level key that serialises writes (and table creation).
    fn write_key(&self) -> i64 {
        key(&format!(
            "obp-state-write:{}:{}",
            self.schema, self.workspace
        ))
    }

    /// The shared connection, opened (or reopened) as needed, with the tables in place.
    async fn client(&self) -> Result<tokio::sync::MappedMutexGuard<'_, Client>, StateError> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.target.connect().await.map_err(|e| self.io(e))?);
        }
        let mut client = tokio::sync::MutexGuard::map(guard, |c| c.as_mut().expect("connected"));
        self.setup(&mut client).await?;
        Ok(client)
    }

    /// Creates the schema and tables when missing (once per backend instance).
    async fn setup(&self, client: &mut Client) -> Result<(), StateError> {
        let mut ready = self.ready.lock().await;
        if *ready {
            return Ok(());
        }
        let schema = quote_ident(&self.schema);
        let states = self.table("states");
        let journal = self.table("journal");
        let locks = self.table("locks");
        let audit = self.table("audit");
        let ddl = format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {states} (
               id bigserial PRIMARY KEY,
               workspace text NOT NULL,
               serial bigint NOT NULL,
               lineage text NOT NULL,
               state text NOT NULL,
               written_at timestamptz NOT NULL DEFAULT now(),
               written_by text NOT NULL DEFAULT ''
             );
             CREATE INDEX IF NOT EXISTS states_workspace_id ON {states} (workspace, id);
             CREATE TABLE IF NOT EXISTS {journal} (
               id bigserial PRIMARY KEY,
               workspace text NOT NULL,
               entry text NOT NULL,
               appended_at timestamptz NOT NULL DEFAULT now()
             );
             CREATE INDEX IF NOT EXISTS journal_workspace_id ON {journal} (workspace, id);
             CREATE TABLE IF NOT EXISTS {locks} (
               workspace text PRIMARY KEY,
               info text NOT NULL,
               locked_at timestamptz NOT NULL DEFAULT now()
             );
             CREATE TABLE IF NOT EXISTS {audit} (
               id bigserial PRIMARY KEY,
               workspace text NOT NULL,
               record text NOT NULL,
               recorded_at timestamptz NOT NULL DEFAULT now()
             );
             CREATE INDEX IF NOT EXISTS audit_workspace_id ON {audit} (workspace, id);
             CREATE OR REPLACE FUNCTION {schema}.obp_audit_append_only() RETURNS trigger
               LANGUAGE plpgsql AS $$
               BEGIN
                 RAISE EXCEPTION 'the obp audit trail is append-only: % is refused', TG_OP;
               END $$;
             CREATE OR REPLACE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON {audit}
               FOR EACH ROW EXECUTE FUNCTION {schema}.obp_audit_append_only();
             CREATE OR REPLACE TRIGGER audit_no_truncate BEFORE TRUNCATE ON {audit}
               FOR EACH STATEMENT EXECUTE FUNCTION {schema}.obp_audit_append_only();"
        );
        let txn = client.transaction().await.map_err(|e| self.db(&e))?;
        // Concurrent `CREATE … IF NOT EXISTS` can still collide: serialise them.
        txn.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&key("obp-state-setup")],
        )
        .await
        .map_err(|e| self.db(&e))?;
        txn.batch_execute(&ddl).await.map_err(|e| self.db(&e))?;
        txn.commit().await.map_err(|e| self.db(&e))?;
        *ready = true;
        Ok(())
    }

    /// Every stored state of the workspace, oldest first: (serial, lineage).
    pub async fn history(&self) -> Result<Vec<(u64, String)>, StateError> {
        let sql = format!(
            "SELECT serial, lineage FROM {} WHERE workspace = $1 ORDER BY id",
            self.table("states")
        );
        let client = self.client().await?;
        let rows = client
            .query(&sql, &[&self.workspace])
            .await
            .map_err(|e| self.db(&e))?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, String>(1)))
            .collect())
    }

    fn corrupt(&self, what: &str, error: impl std::fmt::Display) -> StateError {
        StateError::Corrupt {
            path: format!("{} ({what})", self.describe()),
            reason: error.to_string(),
        }
    }

    /// The holder row, if any.
    async fn holder(&self, client: &Client) -> Result<Option<LockInfo>, StateError> {
        let sql = format!(
            "SELECT info FROM {} WHERE workspace = $1",
            self.table("locks")
        );
        let row = client
            .query_opt(&sql, &[&self.workspace])
            .await
            .map_err(|e| self.db(&e))?;
        match row {
            None => Ok(None),
            Some(row) => serde_json::from_str(row.get::<_, &str>(0))
                .map(Some)
                .map_err(|e| self.corrupt("lock row", e)),
        }
    }

    /// The server process holding the workspace's advisory lock, if a session holds it.
    async fn lock_session(&self, client: &Client) -> Result<Option<i32>, StateError> {
        let row = client
            .query_opt(
                "SELECT pid FROM pg_locks
                 WHERE locktype = 'advisory' AND granted AND objsubid = 1
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND ((classid::bigint << 32) | objid::bigint) = $1
                 LIMIT 1",
                &[&self.lock_key()],
            )
            .await
            .map_err(|e| self.db(&e))?;
        Ok(row.map(|r| r.get::<_, i32>(0)))
    }
}

/// A non-negative 63-bit key from SHA-256 of `text`.
fn key(text: &str) -> i64 {
    let digest = Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(bytes) & 0x7fff_ffff_ffff_ffff) as i64
}

impl LockSession {
    /// Whether the session still answers (and so still holds its advisory lock: only its own
    /// session can release it).
    async fn alive(&self) -> Result<(), String> {
        if self.client.is_closed() {
            return Err("its database session ended".to_owned());
        }
        self.client
            .simple_query("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "its database session ended ({})",
                    crate::pg::describe_error(&e)
                )
            })
    }
}

/// Holds the advisory lock through its own connection; dropping it removes the holder row,
/// releases the advisory lock and closes the connection.
struct PostgresLock {
    info: LockInfo,
    client: Option<Arc<LockSession>>,
    delete: String,
    workspace: String,
    key: i64,
}

impl LockGuard for PostgresLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for PostgresLock {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let delete = std::mem::take(&mut self.delete);
        let workspace = std::mem::take(&mut self.workspace);
        let id = self.info.id.clone();
        let key = self.key;
        let release = async move {
            // Bounded: a session cut off without a reset must not hold the command up.
            let _ = tokio::time::timeout(RELEASE_TIMEOUT, async {
                let _ = client.client.execute(&delete, &[&workspace, &id]).await;
                // Released here, not when the server notices the closed connection: a
                // command started right after this one must find the lock free.
                let _ = client
                    .client
                    .execute("SELECT pg_advisory_unlock($1)", &[&key])
                    .await;
            })
            .await;
            drop(client);
        };
        // Best effort: if the runtime is gone, closing the connection still releases the
        // advisory lock on the server, and the next lock replaces the row.
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
            // Wait for it (the CLI's runtime): a task spawned here is dropped when the command
            // returns and its runtime shuts down, which left the row of a run that ended
            // normally, naming a holder long gone.
            tokio::task::block_in_place(|| handle.block_on(release));
        } else {
            handle.spawn(release);
        }
    }
}

impl PostgresBackend {
    /// The transaction-level key that serialises audit appends of this workspace.
    fn audit_key(&self) -> i64 {
        key(&format!("obp-audit:{}:{}", self.schema, self.workspace))
    }

    fn audit_broken(&self, position: usize, why: String) -> StateError {
        StateError::AuditBroken {
            location: self.describe(),
            position,
            why,
        }
    }
}

#[async_trait]
impl Backend for PostgresBackend {
    fn describe(&self) -> String {
        format!(
            "postgres state {}.states, workspace \"{}\" on {}",
            self.schema,
            self.workspace,
            self.target.describe()
        )
    }

    async fn read(&self) -> Result<Option<State>, StateError> {
        let latest_sql = format!(
            "SELECT state FROM {} WHERE workspace = $1 ORDER BY id DESC LIMIT 1",
            self.table("states")
        );
        let journal_sql = format!(
            "SELECT entry FROM {} WHERE workspace = $1 ORDER BY id",
            self.table("journal")
        );
        let (latest, entries) = {
            let mut client = self.client().await?;
            // One snapshot for both, so a concurrent write cannot fold the journal in between.
            let txn = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(|e| self.db(&e))?;
            let latest = txn
                .query_opt(&latest_sql, &[&self.workspace])
                .await
                .map_err(|e| self.db(&e))?
                .map(|r| r.get::<_, String>(0));
            let entries: Vec<String> = txn
                .query(&journal_sql, &[&self.workspace])
                .await
                .map_err(|e| self.db(&e))?
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect();
            txn.commit().await.map_err(|e| self.db(&e))?;
            (latest, entries)
        };
        let mut state = match latest {
            None => None,
            Some(text) => {
                let state: State =
                    serde_json::from_str(&text).map_err(|e| self.corrupt("newest state", e))?;
                if state.version > FORMAT_VERSION {
                    return Err(StateError::TooNew {
                        path: self.describe(),
                        version: state.version,
                    });
                }
                Some(state)
            }
        };
        if !entries.is_empty() {
            let state = state.get_or_insert_with(State::new);
            for text in entries {
                let entry: JournalEntry =
                    serde_json::from_str(&text).map_err(|e| self.corrupt("journal entry", e))?;
                state.apply_owned(entry);
            }
        }
        Ok(state)
    }

    async fn write(&self, state: &State) -> Result<(), StateError> {
        self.check_lock().await?;
        let mut state = state.clone();
        state.ensure_lineage();
        let text = serde_json::to_string(&state).map_err(|e| self.corrupt("state to write", e))?;
        let latest_sql = format!(
            "SELECT serial, lineage FROM {} WHERE workspace = $1 ORDER BY id DESC LIMIT 1",
            self.table("states")
        );
        let count_sql = format!(
            "SELECT count(*) FROM {} WHERE workspace = $1",
            self.table("journal")
        );
        let insert_sql = format!(
            "INSERT INTO {} (workspace, serial, lineage, state, written_by) VALUES ($1, $2, $3, $4, $5)",
            self.table("states")
        );
        let clear_sql = format!("DELETE FROM {} WHERE workspace = $1", self.table("journal"));
        let writer = LockInfo::new("write").who;
        let workspace = &self.workspace;
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(|e| self.db(&e))?;
        txn.execute("SELECT pg_advisory_xact_lock($1)", &[&self.write_key()])
            .await
            .map_err(|e| self.db(&e))?;
        let latest = txn
            .query_opt(&latest_sql, &[workspace])
            .await
            .map_err(|e| self.db(&e))?;
        let journal: i64 = txn
            .query_one(&count_sql, &[workspace])
            .await
            .map_err(|e| self.db(&e))?
            .get(0);
        let stored_serial = latest.as_ref().map_or(0, |r| r.get::<_, i64>(0)) + journal;
        if let Some(row) = &latest {
            let lineage: String = row.get(1);
            if lineage != state.lineage {
                return Err(StateError::Conflict {
                    location: self.describe(),
                    reason: format!(
                        "the state to write has lineage {}, but the stored state has lineage {lineage}",
                        state.lineage
                    ),
                });
            }
        }
        let serial = i64::try_from(state.serial).unwrap_or(i64::MAX);
        if serial < stored_serial {
            return Err(StateError::Conflict {
                location: self.describe(),
                reason: format!("serial {serial} is older than the stored serial {stored_serial}"),
            });
        }
        txn.execute(
            &insert_sql,
            &[workspace, &serial, &state.lineage, &text, &writer],
        )
        .await
        .map_err(|e| self.db(&e))?;
        txn.execute(&clear_sql, &[workspace])
            .await
            .map_err(|e| self.db(&e))?;
        txn.commit().await.map_err(|e| self.db(&e))?;
        Ok(())
    }

    async fn append(&self, entries: &[JournalEntry]) -> Result<(), StateError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.check_lock().await?;
        let texts: Vec<String> = entries
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<_, _>>()
            .map_err(|e| self.corrupt("journal entry to append", e))?;
        // One statement: all entries commit together (and durably) or not at all.
        let sql = format!(
            "INSERT INTO {} (workspace, entry) SELECT $1, e FROM unnest($2::text[]) WITH ORDINALITY AS t(e, n) ORDER BY n",
            self.table("journal")
        );
        let client = self.client().await?;
        client
            .execute(&sql, &[&self.workspace, &texts])
            .await
            .map_err(|e| self.db(&e))?;
        Ok(())
    }

    async fn has_journal(&self) -> Result<bool, StateError> {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE workspace = $1)",
            self.table("journal")
        );
        let client = self.client().await?;
        let row = client
            .query_one(&sql, &[&self.workspace])
            .await
            .map_err(|e| self.db(&e))?;
        Ok(row.get(0))
    }

    async fn audit(&self, record: Record) -> Result<Record, StateError> {
        let last_sql = format!(
            "SELECT record, count(*) OVER () FROM {} WHERE workspace = $1 ORDER BY id DESC LIMIT 1",
            self.table("audit")
        );
        let insert_sql = format!(
            "INSERT INTO {} (workspace, record) VALUES ($1, $2)",
            self.table("audit")
        );
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(|e| self.db(&e))?;
        // One append at a time per workspace, so two commands never chain to the same record.
        txn.execute("SELECT pg_advisory_xact_lock($1)", &[&self.audit_key()])
            .await
            .map_err(|e| self.db(&e))?;
        let last = txn
            .query_opt(&last_sql, &[&self.workspace])
            .await
            .map_err(|e| self.db(&e))?
            .map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1)));
        let prev = match last {
            None => GENESIS.to_owned(),
            Some((text, count)) => {
                serde_json::from_str::<Record>(&text)
                    .map_err(|e| {
                        self.audit_broken(
                            usize::try_from(count).unwrap_or(0),
                            format!("it cannot be read ({e})"),
                        )
                    })?
                    .hash
            }
        };
        let sealed = record.sealed(&prev);
        let text = serde_json::to_string(&sealed).map_err(|e| StateError::Corrupt {
            path: self.table("audit"),
            reason: e.to_string(),
        })?;
        txn.execute(&insert_sql, &[&self.workspace, &text])
            .await
            .map_err(|e| self.db(&e))?;
        txn.commit().await.map_err(|e| self.db(&e))?;
        Ok(sealed)
    }

    async fn audit_trail(&self) -> Result<Vec<Record>, StateError> {
        let sql = format!(
            "SELECT record FROM {} WHERE workspace = $1 ORDER BY id",
            self.table("audit")
        );
        let client = self.client().await?;
        let rows = client
            .query(&sql, &[&self.workspace])
            .await
            .map_err(|e| self.db(&e))?;
        rows.iter()
            .enumerate()
            .map(|(i, row)| {
                serde_json::from_str::<Record>(&row.get::<_, String>(0))
                    .map_err(|e| self.audit_broken(i + 1, format!("it cannot be read ({e})")))
            })
            .collect()
    }

    async fn lock(&self, info: LockInfo) -> Result<Box<dyn LockGuard>, StateError> {
        // Make sure the tables exist before the dedicated connection uses them.
        drop(self.client().await?);
        let client = self.target.connect().await.map_err(|e| self.io(e))?;
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&self.lock_key()])
            .await
            .map_err(|e| self.db(&e))?
            .get(0);
        if !taken {
            // The holder writes its row just after taking the lock: look twice.
            let mut holder = self.holder(&client).await?;
            if holder.is_none() {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                holder = self.holder(&client).await?;
            }
            return Err(StateError::Locked {
                path: self.describe(),
                holder: holder.map(Box::new),
            });
        }
        let text = serde_json::to_string(&info).map_err(|e| self.corrupt("lock info", e))?;
        let upsert = format!(
            "INSERT INTO {} (workspace, info) VALUES ($1, $2)
             ON CONFLICT (workspace) DO UPDATE SET info = EXCLUDED.info, locked_at = now()",
            self.table("locks")
        );
        client
            .execute(&upsert, &[&self.workspace, &text])
            .await
            .map_err(|e| self.db(&e))?;
        let session = Arc::new(LockSession { client });
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(&session);
        *self.lost.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.spawn_heartbeat(Arc::downgrade(&session));
        Ok(Box::new(PostgresLock {
            info,
            client: Some(session),
            delete: format!(
                "DELETE FROM {} WHERE workspace = $1 AND info::json->>'id' = $2",
                self.table("locks")
            ),
            workspace: self.workspace.clone(),
            key: self.lock_key(),
        }))
    }

    fn lost(&self) -> Option<StateError> {
        let lost = self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone();
        lost.map(|reason| self.lost_error(&reason))
    }

    /// Removes the holder row of a lock whose id is `id`, when its holder is gone.
    ///
    /// It cannot release the advisory lock of a session that is still connected: only that
    /// session (or the server ending it) can. So when a live session still holds the lock —
    /// a hung obp, not a crashed one — this refuses with [`StateError::Conflict`] naming the
    /// server process id, and leaves the row; stop that process, or end its session with
    /// `SELECT pg_terminate_backend(PID)` (which needs the right to signal it), then run
    /// `force-unlock` again. A crashed holder's session is already gone, and its advisory
    /// lock with it.
    async fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        let delete = format!("DELETE FROM {} WHERE workspace = $1", self.table("locks"));
        let client = self.client().await?;
        let Some(held) = self.holder(&client).await? else {
            return Err(StateError::NotLocked { id: id.to_owned() });
        };
        if held.id != id {
            return Err(StateError::LockMismatch {
                id: id.to_owned(),
                holder: Box::new(held),
            });
        }
        if let Some(pid) = self.lock_session(&client).await? {
            return Err(StateError::Conflict {
                location: self.describe(),
                reason: format!(
                    "the lock {id} is still held by a connected session (server process {pid}); stop that obp process, or end the session with `SELECT pg_terminate_backend({pid})`, then force-unlock again"
                ),
            });
        }
        client
            .execute(&delete, &[&self.workspace])
            .await
            .map_err(|e| self.db(&e))?;
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_schema("obp").is_ok());
        assert!(check_schema("obp\"; drop table x; --").is_err());
        assert!(check_schema(&"a".repeat(64)).is_err());
        assert!(check_schema("pg_catalog").is_err());
        assert!(check_workspace("prod-eu.1").is_ok());
        assert!(check_workspace("../x").is_err());
        assert!(check_workspace("").is_err());
    }

    #[test]
    fn lock_keys_are_stable_and_non_negative() {
        assert_eq!(key("a"), key("a"));
        assert_ne!(key("a"), key("b"));
        assert!((0..100).all(|n| key(&n.to_string()) >= 0));
    }
}
