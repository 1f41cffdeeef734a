//! The postgres state backend against a real PostgreSQL (`scripts/servers/postgres.sh`):
//! one lock per workspace across backends (the loser fails at once, naming the holder),
//! history rows, refused stale and foreign writes, journal replay after a crash,
//! force-unlock, and plan/apply through the engine.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use obp_engine::apply::{apply, ApplyOptions, Quiet};
use obp_engine::errors::StateError;
use obp_engine::pg::{Client, SslMode, Target};
use obp_engine::plan::{plan, PlanOptions};
use obp_engine::provider::{Providers, Recorded};
use obp_engine::state::postgres::PostgresBackend;
use obp_engine::state::{Backend, JournalEntry, LockInfo, ResourceState, State};
use obp_engine::testing::MemoryProvider;

const SCHEMA: &str = "obp_test";

fn url() -> String {
    std::env::var("OBP_TEST_PG_URL").unwrap_or_else(|_| {
        panic!(
            "OBP_TEST_PG_URL is not set: start the test server with `bash scripts/servers/postgres.sh start DIR` \
             and load DIR/postgres.env (`set -a; . DIR/postgres.env; set +a`); `bash scripts/test` does both"
        )
    })
}

fn workspace() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "ws-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

fn backend(workspace: &str) -> PostgresBackend {
    let target = Target::parse(&url(), None, None).unwrap();
    PostgresBackend::new(target, SCHEMA, workspace).unwrap()
}

async fn sql() -> Client {
    Target::parse(&url(), Some(SslMode::Disable), None)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn count(table: &str, workspace: &str) -> i64 {
    sql()
        .await
        .query_one(
            &format!("SELECT count(*) FROM {SCHEMA}.{table} WHERE workspace = $1"),
            &[&workspace],
        )
        .await
        .unwrap()
        .get(0)
}

fn resource(n: i64) -> ResourceState {
    let mut recorded = Recorded::default();
    recorded.inputs.insert("n".into(), n.into());
    ResourceState::new("mem.thing", "mem", "", recorded, vec![])
}

fn put(address: &str, n: i64) -> JournalEntry {
    JournalEntry::Put {
        address: address.to_owned(),
        resource: resource(n),
    }
}

#[tokio::test]
async fn one_lock_per_workspace_and_the_loser_names_the_holder() {
    let ws = workspace();
    let first = backend(&ws);
    let second = backend(&ws);
    // Both at once: exactly one wins.
    let (a, b) = tokio::join!(
        first.lock(LockInfo::new("apply")),
        second.lock(LockInfo::new("apply"))
    );
    assert!(
        a.is_ok() != b.is_ok(),
        "exactly one of two concurrent locks wins"
    );
    let (guard, loser) = match (a, b) {
        (Ok(guard), Err(error)) => (guard, error),
        (Err(error), Ok(guard)) => (guard, error),
        _ => unreachable!(),
    };
    let StateError::Locked {
        holder: Some(holder),
        ..
    } = loser
    else {
        panic!("the loser must name the holder: {loser:?}");
    };
    assert_eq!(holder.id, guard.info().id);
    // A third attempt fails fast, with the holder in the message.
    let started = Instant::now();
    let error = backend(&ws)
        .lock(LockInfo::new("plan"))
        .await
        .err()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = error.to_string();
    assert!(
        text.contains(&guard.info().id) && text.contains("apply"),
        "{text}"
    );
    // Another workspace is independent.
    assert!(backend(&workspace())
        .lock(LockInfo::new("apply"))
        .await
        .is_ok());
    // Released on drop.
    drop(guard);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match first.lock(LockInfo::new("apply")).await {
            Ok(_) => break,
            Err(error) if Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("the lock was not released: {error}"),
        }
    }
}

/// The lock is free as soon as its holder's guard is dropped (as a command ends), not once
/// the server has noticed the closed connection: the next command must not find it held.
/// (The CLI's runtime has threads, so the guard's drop waits for the release.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_lock_is_free_for_the_very_next_command() {
    // Asked on a connection already open, right after the drop: no time for the server to
    // notice a closed connection first.
    let observer = sql().await;
    for _ in 0..20 {
        let ws = workspace();
        let holder = backend(&ws);
        let key = holder.lock_key();
        let guard = holder.lock(LockInfo::new("apply")).await.unwrap();
        drop(guard);
        let held: i64 = observer
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
                 AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1",
                &[&key],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(held, 0, "the advisory lock outlived its guard");
        assert!(backend(&ws).lock(LockInfo::new("plan")).await.is_ok());
    }
}

/// The audit table keeps what obp appends: chained records, in order, per workspace; UPDATE,
/// DELETE and TRUNCATE are refused (obp never needs them); and a record edited by someone who
/// can lift that guard (the table's owner) breaks the chain where it was edited.
#[tokio::test]
async fn the_audit_trail_is_append_only_and_an_edit_breaks_its_chain() {
    use obp_engine::audit::{verify, Record};
    let ws = workspace();
    let trail_of = backend(&ws);
    for command in ["plan", "apply", "destroy"] {
        trail_of.audit(Record::new(command, "acme")).await.unwrap();
    }
    // Another workspace's records are another chain.
    backend(&workspace())
        .audit(Record::new("plan", "other"))
        .await
        .unwrap();
    let trail = trail_of.audit_trail().await.unwrap();
    let commands: Vec<&str> = trail.iter().map(|r| r.command.as_str()).collect();
    assert_eq!(commands, ["plan", "apply", "destroy"]);
    assert_eq!(verify(&trail), Ok(3));

    let admin = sql().await;
    for statement in [
        format!("UPDATE {SCHEMA}.audit SET record = record WHERE workspace = $1"),
        format!("DELETE FROM {SCHEMA}.audit WHERE workspace = $1"),
    ] {
        let error = admin.execute(&statement, &[&ws]).await.unwrap_err();
        assert!(
            error.to_string().contains("append-only")
                || format!("{error:?}").contains("append-only"),
            "{statement}: {error:?}"
        );
    }
    assert!(admin
        .batch_execute(&format!("TRUNCATE {SCHEMA}.audit"))
        .await
        .is_err());

    // The owner lifts the guard for one edit of the second record (in one transaction, so
    // no other test sees the guard down).
    admin
        .batch_execute(&format!(
            "BEGIN;
             ALTER TABLE {SCHEMA}.audit DISABLE TRIGGER audit_append_only;
             UPDATE {SCHEMA}.audit SET record = replace(record, '\"exit\":0', '\"exit\":1')
               WHERE id = (SELECT id FROM {SCHEMA}.audit WHERE workspace = '{ws}' ORDER BY id LIMIT 1 OFFSET 1);
             ALTER TABLE {SCHEMA}.audit ENABLE TRIGGER audit_append_only;
             COMMIT;"
        ))
        .await
        .unwrap();
    let edited = trail_of.audit_trail().await.unwrap();
    assert_eq!(edited[1].exit, 1);
    assert_eq!(verify(&edited).unwrap_err().position, 2);
}

#[tokio::test]
async fn history_accumulates_and_stale_or_foreign_writes_are_refused() {
    let ws = workspace();
    let backend = backend(&ws);
    assert_eq!(backend.read().await.unwrap(), None);
    let mut state = State::new();
    backend.write(&state).await.unwrap();
    let stored = backend.read().await.unwrap().unwrap();
    assert!(
        !stored.lineage.is_empty(),
        "the first write assigns a lineage"
    );
    state = stored;
    let stale = state.clone();
    for n in 1..=3 {
        state.apply_entry(&put(&format!("mem.thing.t{n}"), n));
        backend.write(&state).await.unwrap();
    }
    assert_eq!(backend.read().await.unwrap().unwrap(), state);
    let history = backend.history().await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|(serial, _)| *serial)
            .collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert_eq!(count("states", &ws).await, 4);

    // A write from a run that read serial 0 is refused, and nothing is stored.
    let error = backend.write(&stale).await.unwrap_err();
    assert!(matches!(error, StateError::Conflict { .. }), "{error:?}");
    assert!(
        error.to_string().contains("older than the stored serial 3"),
        "{error}"
    );
    // So is another lineage, even with a higher serial.
    let mut foreign = state.clone();
    foreign.lineage = "another-stack".to_owned();
    foreign.serial += 10;
    let error = backend.write(&foreign).await.unwrap_err();
    assert!(error.to_string().contains("lineage"), "{error}");
    assert_eq!(count("states", &ws).await, 4);
    assert_eq!(backend.read().await.unwrap().unwrap(), state);
}

#[tokio::test]
async fn the_journal_is_replayed_after_a_crash_and_folded_by_the_next_write() {
    let ws = workspace();
    let mut state = State::new();
    state.ensure_lineage();
    {
        let crashed = backend(&ws);
        crashed.write(&state).await.unwrap();
        crashed.append(&[put("mem.thing.a", 1)]).await.unwrap();
        crashed
            .append(&[
                put("mem.thing.b", 2),
                JournalEntry::Remove {
                    address: "mem.thing.a".into(),
                },
            ])
            .await
            .unwrap();
        // The process dies here: no final write.
    }
    assert_eq!(count("journal", &ws).await, 3);
    let recovered = backend(&ws);
    let read = recovered.read().await.unwrap().unwrap();
    assert_eq!(read.serial, 3);
    assert_eq!(read.lineage, state.lineage);
    assert_eq!(read.resources.keys().collect::<Vec<_>>(), ["mem.thing.b"]);
    // A write from before the crash would lose the journal: refused.
    assert!(matches!(
        recovered.write(&state).await,
        Err(StateError::Conflict { .. })
    ));
    recovered.write(&read).await.unwrap();
    assert_eq!(count("journal", &ws).await, 0);
    assert_eq!(recovered.read().await.unwrap().unwrap(), read);
}

#[tokio::test]
async fn force_unlock_refuses_a_live_session_and_clears_a_dead_one() {
    let ws = workspace();
    let backend = backend(&ws);
    let guard = backend.lock(LockInfo::new("apply")).await.unwrap();
    let id = guard.info().id.clone();
    assert!(matches!(
        backend.force_unlock("not-the-id").await,
        Err(StateError::LockMismatch { .. })
    ));
    // The holder is alive (its session is connected): refused, with the server pid.
    let error = backend.force_unlock(&id).await.unwrap_err();
    assert!(matches!(error, StateError::Conflict { .. }), "{error:?}");
    assert!(
        error.to_string().contains("pg_terminate_backend"),
        "{error}"
    );
    // Simulate a crash: the holder's session ends without releasing anything.
    std::mem::forget(guard);
    let admin = sql().await;
    let key = backend.lock_key();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks
             WHERE locktype = 'advisory' AND objsubid = 1
               AND ((classid::bigint << 32) | objid::bigint) = $1",
            &[&key],
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let held = loop {
        match backend.force_unlock(&id).await {
            Ok(held) => break held,
            Err(StateError::Conflict { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("force-unlock failed: {error}"),
        }
    };
    assert_eq!(held.id, id);
    assert_eq!(count("locks", &ws).await, 0);
    assert!(matches!(
        backend.force_unlock(&id).await,
        Err(StateError::NotLocked { .. })
    ));
    assert!(backend.lock(LockInfo::new("apply")).await.is_ok());
}

#[tokio::test]
async fn plan_and_apply_through_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stack.obp"),
        r#"
stack s {}
resource mem.thing db { name = "db" }
resource mem.thing app { name = "app", db_id = mem.thing.db.id }
output app_id = mem.thing.app.id
"#,
    )
    .unwrap();
    let checked = obp_lang::check_stack(dir.path(), &obp_lang::Options::default());
    let config = checked.config.expect("valid stack");
    let memory = Arc::new(MemoryProvider::new());
    let mut providers = Providers::new();
    providers.insert("mem", memory.clone());
    let ws = workspace();
    let backend: Arc<dyn Backend> = Arc::new(backend(&ws));
    let _lock = backend.lock(LockInfo::new("apply")).await.unwrap();
    let options = PlanOptions {
        refresh: true,
        ..PlanOptions::default()
    };
    let state = backend.read().await.unwrap().unwrap_or_default();
    let made = plan(&config, state.clone(), &providers, &options)
        .await
        .unwrap();
    let report = apply(
        &made,
        state,
        &providers,
        backend.clone(),
        &ApplyOptions::default(),
        Arc::new(Quiet),
    )
    .await;
    assert!(report.ok(), "{report:?}");
    let stored = backend.read().await.unwrap().unwrap();
    assert_eq!(stored.resources.len(), 2);
    assert!(stored.outputs.contains_key("app_id"));
    let again = plan(&config, stored, &providers, &options).await.unwrap();
    assert!(!again.has_changes());
    // Journal entries were folded into the final write.
    assert_eq!(count("journal", &ws).await, 0);
    assert!(count("states", &ws).await >= 1);
}

/// Ends the session holding `backend`'s advisory lock, as a network cut or a DBA would.
async fn terminate_lock_session(backend: &PostgresBackend) {
    let ended: bool = sql()
        .await
        .query_one(
            "SELECT bool_or(pg_terminate_backend(pid)) FROM pg_locks
             WHERE locktype = 'advisory' AND objsubid = 1
               AND ((classid::bigint << 32) | objid::bigint) = $1",
            &[&backend.lock_key()],
        )
        .await
        .unwrap()
        .get::<_, Option<bool>>(0)
        .unwrap_or(false);
    assert!(ended, "no session held the lock");
}

#[tokio::test]
async fn a_lost_lock_session_is_noticed_by_the_heartbeat() {
    let ws = workspace();
    let backend = backend(&ws).with_heartbeat(Duration::from_millis(100));
    let _guard = backend.lock(LockInfo::new("apply")).await.unwrap();
    assert!(backend.lost().is_none());
    terminate_lock_session(&backend).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while backend.lost().is_none() {
        assert!(Instant::now() < deadline, "the heartbeat never noticed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let error = backend.append(&[put("mem.thing.a", 1)]).await.unwrap_err();
    assert!(matches!(error, StateError::LockLost { .. }), "{error:?}");
    assert_eq!(
        count("journal", &ws).await,
        0,
        "nothing written after the loss"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_that_loses_its_lock_mid_way_starts_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<String> = (0..20).map(|n| format!("\"k{n}\"")).collect();
    std::fs::write(
        dir.path().join("stack.obp"),
        format!(
            "stack s {{}}\nresource mem.thing x for each [{}] {{ name = \"x-${{each.key}}\" }}\n",
            keys.join(", ")
        ),
    )
    .unwrap();
    let checked = obp_lang::check_stack(dir.path(), &obp_lang::Options::default());
    let config = checked.config.expect("valid stack");
    let memory = Arc::new(MemoryProvider::new());
    let mut providers = Providers::new();
    providers.insert("mem", memory.clone());
    let ws = workspace();
    // No heartbeat during the walk: the check before each append must catch it on its own.
    let holder = Arc::new(backend(&ws).with_heartbeat(Duration::from_secs(3600)));
    let _lock = holder.lock(LockInfo::new("apply")).await.unwrap();
    let state = holder.read().await.unwrap().unwrap_or_default();
    let made = plan(&config, state.clone(), &providers, &PlanOptions::default())
        .await
        .unwrap();

    /// Ends the lock session when the fifth change starts.
    struct CutAtFifth(Arc<PostgresBackend>, AtomicU32);
    impl obp_engine::apply::Progress for CutAtFifth {
        fn started(&self, _: &obp_engine::plan::Change) {
            if self.1.fetch_add(1, Ordering::SeqCst) == 4 {
                let backend = self.0.clone();
                std::thread::spawn(move || {
                    tokio::runtime::Runtime::new()
                        .unwrap()
                        .block_on(terminate_lock_session(&backend));
                })
                .join()
                .unwrap();
            }
        }
    }
    let options = ApplyOptions {
        parallelism: 1,
        ..ApplyOptions::default()
    };
    let report = apply(
        &made,
        state,
        &providers,
        holder.clone(),
        &options,
        Arc::new(CutAtFifth(holder.clone(), AtomicU32::new(0))),
    )
    .await;
    assert!(
        matches!(report.state_error, Some(StateError::LockLost { .. })),
        "{report:?}"
    );
    assert!(report.halted.as_deref().unwrap_or("").contains("lock"));
    assert_eq!(report.succeeded.len(), 4);
    assert_eq!(
        report.unrecorded.len(),
        1,
        "the fifth ran but was not recorded"
    );
    assert_eq!(report.not_started.len(), 15);
    assert_eq!(
        memory.calls().len(),
        5,
        "nothing started after the loss: {:?}",
        memory.calls()
    );
    // The four recorded before the loss are in the journal; no final write happened.
    assert_eq!(count("journal", &ws).await, 4);
    assert_eq!(count("states", &ws).await, 0);
    // And the lock is free for the next run, which sees the four.
    let next = backend(&ws);
    let _next_lock = next.lock(LockInfo::new("apply")).await.unwrap();
    assert_eq!(next.read().await.unwrap().unwrap().resources.len(), 4);
}
