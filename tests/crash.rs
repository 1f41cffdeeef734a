//! Crash safety of the real binary: `obp apply` and `obp destroy` of a stack of thousands of
//! files (GitOps `file.text`, no server needed) are SIGKILLed at random points, again and
//! again. After every kill the state must read back (state file plus journal), and every change
//! the killed run reported done must be in it; after the kills a plain run must converge, the
//! next plan must be empty, `obp drift` must find nothing (obp's own writes are not drift), and
//! the files on disk must be exactly the ones state records. A killed run leaves its lock; the
//! test clears it as a user would, with the id the lock error names.
//!
//! The same kills run on a stack whose state is in the PostgreSQL backend (`backend postgres`,
//! a schema of its own per run on the test server, `OBP_TEST_PG_URL`, which `scripts/test`
//! starts). There a killed run's advisory lock ends with its database session: after every
//! kill the next command must take the lock at once, without `force-unlock`.
//!
//! A first Ctrl-C stops an apply cleanly: the lock released, the state written whole.
//!
//! Defaults keep it short for CI (2 cores): `OBP_CRASH_RESOURCES` (default 500; with the
//! PostgreSQL backend `OBP_CRASH_PG_RESOURCES`, default 200) and `OBP_CRASH_KILLS` (default 30
//! per command) make a longer run; `OBP_CRASH_SEED` repeats one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use obp_engine::pg::{SslMode, Target};
use obp_engine::state::local::LocalBackend;
use obp_engine::state::postgres::PostgresBackend;
use obp_engine::state::{Backend, State};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift), so a failing run can be repeated by its seed.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}

/// When a killed run is killed.
#[derive(Debug, Clone, Copy)]
enum When {
    /// This long after it started: anywhere, from loading the stack to writing the state.
    AfterStart(Duration),
    /// This long after it reported its first change: inside the walk, or at its end.
    AfterFirstChange(Duration),
}

/// What a killed run left.
struct Killed {
    /// Its stdout and stderr until the kill.
    output: String,
    /// Whether it was still running when killed (else it had ended on its own).
    running: bool,
}

impl Killed {
    /// Whether the kill fell while the run was making or recording changes: after it reported
    /// one, before it ended.
    fn mid_change(&self) -> bool {
        self.running && self.output.contains(" after ")
    }
}

/// Where a stack keeps its state.
enum StateAt {
    /// `obp.state.json` (with its journal and lock file) in the stack directory.
    File,
    /// `backend postgres` on the test server, in `schema` (created by obp, dropped at the end);
    /// obp reads the URL from `OBP_CRASH_STATE_URL`.
    Postgres { url: String, schema: String },
}

/// The workspace of the PostgreSQL state.
const WORKSPACE: &str = "crash";

struct Stack {
    dir: tempfile::TempDir,
    count: usize,
    state_at: StateAt,
}

impl Stack {
    fn new(count: usize) -> Stack {
        Stack::with_state(count, StateAt::File)
    }

    /// A stack whose state is in a schema of its own on the PostgreSQL test server.
    fn postgres(count: usize) -> Stack {
        let url = std::env::var("OBP_TEST_PG_URL").expect(
            "OBP_TEST_PG_URL is not set: start the test server with `bash scripts/servers/postgres.sh start DIR` \
             and load DIR/postgres.env; `bash scripts/test` does both",
        );
        let schema = format!("crash_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        Stack::with_state(count, StateAt::Postgres { url, schema })
    }

    fn with_state(count: usize, state_at: StateAt) -> Stack {
        let stack = Stack {
            dir: tempfile::tempdir().unwrap(),
            count,
            state_at,
        };
        stack.version(0);
        stack
    }

    /// Rewrites the stack so that every file gets new content: each apply has `count` changes.
    fn version(&self, version: u64) {
        let keys: Vec<String> = (0..self.count).map(|n| format!("\"f{n:05}\"")).collect();
        let backend = match &self.state_at {
            StateAt::File => String::new(),
            StateAt::Postgres { schema, .. } => format!(
                "backend postgres {{\n  url = secret(\"env:OBP_CRASH_STATE_URL\")\n  schema = \"{schema}\"\n  workspace = \"{WORKSPACE}\"\n}}\n"
            ),
        };
        let source = format!(
            "stack crash {{}}\n{backend}provider gitops {{ dir = \"out\" }}\nresource file.text f for each [{}] {{\n  path = \"files/${{each.key}}.txt\"\n  content = \"${{each.key}} version {version}\\n\"\n}}\n",
            keys.join(", ")
        );
        std::fs::write(self.dir.path().join("stack.obp"), source).unwrap();
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_obp"));
        command
            .args(args)
            .arg(self.path())
            .current_dir(self.path())
            .env("NO_COLOR", "1");
        if let StateAt::Postgres { url, .. } = &self.state_at {
            command.env("OBP_CRASH_STATE_URL", url);
        }
        command
    }

    /// Runs to the end; returns (exit code, stdout + stderr).
    fn run(&self, args: &[&str]) -> (Option<i32>, String) {
        let output = self.command(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code(), text)
    }

    /// Starts `args`, SIGKILLs it at `when`; returns its output so far.
    fn kill_at(&self, args: &[&str], when: When) -> Killed {
        use std::io::{BufRead, BufReader};
        let log = self.path().join("killed.log");
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        // Stdout is read as it comes, to see the first change reported.
        let (first, changed) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains(" after ") {
                    let _ = first.send(());
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        match when {
            When::AfterStart(delay) => std::thread::sleep(delay),
            When::AfterFirstChange(delay) => {
                // Nothing reported (a run that fails or has nothing to do) kills it at its end.
                if changed.recv_timeout(Duration::from_secs(120)).is_ok() {
                    std::thread::sleep(delay);
                }
            }
        }
        let running = child.try_wait().unwrap().is_none();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let mut output = reader.join().unwrap();
        output.push_str(&std::fs::read_to_string(&log).unwrap());
        self.recover_lock();
        Killed { output, running }
    }

    /// What a user does about the lock of a killed run: with a state file, clear it with the
    /// id it names; with PostgreSQL, nothing — the lock ended with the killed run's session, so
    /// the next command takes it at once.
    fn recover_lock(&self) {
        match &self.state_at {
            StateAt::File => self.clear_stale_lock(),
            StateAt::Postgres { .. } => {
                // The advisory lock ends with the killed run's session, once the server has
                // seen its connection close: on a busy machine that takes a moment.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while self.lock_holder().is_some() && std::time::Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                let (code, output) = self.run(&["plan"]);
                assert_eq!(
                    code,
                    Some(0),
                    "the command after a killed run could not run (a lock left behind?):\n{output}"
                );
            }
        }
    }

    /// A killed run leaves its lock file: clear it as a user would, with the id it names.
    fn clear_stale_lock(&self) {
        let lock = self.path().join("obp.state.json.lock");
        let Ok(text) = std::fs::read_to_string(&lock) else {
            return;
        };
        let (code, output) = self.run(&["plan"]);
        assert_eq!(code, Some(1), "a stale lock must stop plan:\n{output}");
        let id = match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(info) => {
                let id = info["id"].as_str().unwrap().to_owned();
                assert!(
                    output.contains(&id),
                    "the lock error does not name its id:\n{output}"
                );
                id
            }
            // Killed while taking the lock (before this obp took it atomically).
            Err(_) => "unreadable".to_owned(),
        };
        let (code, output) = self.run(&["force-unlock", &id]);
        assert_eq!(code, Some(0), "force-unlock {id}:\n{output}");
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// The state as obp reads it (snapshot plus journal).
    fn state(&self) -> State {
        let backend: Box<dyn Backend> = match &self.state_at {
            StateAt::File => Box::new(LocalBackend::new(self.path().join("obp.state.json"))),
            StateAt::Postgres { url, schema } => Box::new(
                PostgresBackend::new(Target::parse(url, None, None).unwrap(), schema, WORKSPACE)
                    .unwrap(),
            ),
        };
        Stack::runtime()
            .block_on(backend.read())
            .unwrap_or_else(|e| panic!("state unreadable after a kill: {e}"))
            .unwrap_or_default()
    }

    /// Runs `sql` on the PostgreSQL test server (a stack with PostgreSQL state only); returns
    /// the first column of each row as text.
    fn sql(&self, sql: &str) -> Vec<String> {
        let StateAt::Postgres { url, .. } = &self.state_at else {
            panic!("not a stack with PostgreSQL state");
        };
        Stack::runtime().block_on(async {
            let client = Target::parse(url, Some(SslMode::Disable), None)
                .unwrap()
                .connect()
                .await
                .unwrap();
            client
                .simple_query(sql)
                .await
                .unwrap()
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        Some(row.get(0).unwrap_or_default().to_owned())
                    }
                    _ => None,
                })
                .collect()
        })
    }

    /// Every row of `table` in the schema of the stack's PostgreSQL state, as text.
    fn rows(&self, table: &str) -> Vec<String> {
        let StateAt::Postgres { schema, .. } = &self.state_at else {
            panic!("not a stack with PostgreSQL state");
        };
        self.sql(&format!("SELECT t::text FROM \"{schema}\".\"{table}\" t"))
    }

    /// The server process holding the advisory lock of the stack's PostgreSQL state, if any.
    fn lock_holder(&self) -> Option<String> {
        let StateAt::Postgres { url, schema } = &self.state_at else {
            return None;
        };
        let key = PostgresBackend::new(Target::parse(url, None, None).unwrap(), schema, WORKSPACE)
            .unwrap()
            .lock_key();
        self.sql(&format!(
            "SELECT pid::text FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 \
             AND ((classid::bigint << 32) | objid::bigint) = {key}"
        ))
        .into_iter()
        .next()
    }

    /// The rendered files on disk (not temporary ones).
    fn files(&self) -> BTreeSet<String> {
        let dir = self.path().join("out/files");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return BTreeSet::new();
        };
        entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".txt"))
            .collect()
    }

    fn state_files(&self) -> BTreeSet<String> {
        self.state()
            .resources
            .values()
            .filter_map(|r| r.outputs.get("path").and_then(|p| p.as_str()))
            .map(|p| {
                PathBuf::from(p)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    fn converge_and_check(&self, args: &[&str], what: &str) {
        let (code, text) = self.run(args);
        assert_eq!(code, Some(0), "{what} did not converge:\n{text}");
        let destroy = args[0] == "destroy";
        let mut plan = vec!["plan", "-detailed-exitcode"];
        if destroy {
            plan.push("-destroy");
        }
        let (code, text) = self.run(&plan);
        assert_eq!(code, Some(0), "the plan after {what} is not empty:\n{text}");
        if !destroy {
            let (code, text) = self.run(&["drift"]);
            assert_eq!(code, Some(0), "drift after {what}:\n{text}");
        }
        assert_eq!(
            self.files(),
            self.state_files(),
            "files on disk and in state differ after {what}"
        );
        assert_eq!(
            self.state().resources.len(),
            if destroy { 0 } else { self.count }
        );
    }
}

impl Drop for Stack {
    /// Drops the schema of a PostgreSQL state, whatever the outcome.
    fn drop(&mut self) {
        if let StateAt::Postgres { url, schema } = &self.state_at {
            let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
            let _ = Stack::runtime().block_on(async {
                let client = Target::parse(url, Some(SslMode::Disable), None)
                    .ok()?
                    .connect()
                    .await
                    .ok()?;
                client.batch_execute(&drop).await.ok()
            });
        }
    }
}

/// Addresses a killed run reported done (`ADDRESS: created after …`).
fn reported(log: &str, verb: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| line.split_once(&format!(": {verb} after ")))
        .map(|(address, _)| address.to_owned())
        .collect()
}

/// The kills' random stream (`OBP_CRASH_SEED`), after a first converging apply of `stack`.
fn first_apply(stack: &Stack) -> Random {
    let seed = std::env::var("OBP_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        .max(1);
    eprintln!(
        "crash test: {} resources, OBP_CRASH_SEED={seed}",
        stack.count
    );
    stack.converge_and_check(&["apply", "-auto-approve"], "the first apply");
    Random(seed)
}

/// How long `obp ARGS` takes (it must succeed), in milliseconds: the whole run, and from its
/// first reported change to its last (output comes in chunks, so this is where changes are
/// being made, roughly).
fn timed(stack: &Stack, args: &[&str]) -> (u64, u64) {
    use std::io::{BufRead, BufReader};
    let started = Instant::now();
    let mut child = stack
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut changes = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if line.unwrap().contains(" after ") {
            let now = started.elapsed();
            changes = Some((changes.map_or(now, |(first, _)| first), now));
        }
    }
    let status = child.wait().unwrap();
    let whole = started.elapsed();
    assert!(status.success(), "obp {args:?} failed");
    let (first, last) = changes.expect("the run reported no change");
    (whole.as_millis() as u64, (last - first).as_millis() as u64)
}

/// Where kills fall: the time of a whole run, and the span of its reported changes (see
/// [`timed`]). Kills alternate between the two: anywhere in a run, and after its first
/// reported change. A run often goes faster than the one measured (the first is the slowest),
/// so a window in which a run ended before its kill narrows.
struct Windows {
    whole: u64,
    changes: u64,
    attempt: u64,
}

impl Windows {
    fn new((whole, changes): (u64, u64)) -> Windows {
        Windows {
            whole,
            changes,
            attempt: 0,
        }
    }

    fn next(&mut self, random: &mut Random) -> When {
        self.attempt += 1;
        if self.attempt.is_multiple_of(2) {
            When::AfterStart(Duration::from_millis(random.below(self.whole)))
        } else {
            When::AfterFirstChange(Duration::from_millis(random.below(self.changes)))
        }
    }

    /// After a kill at `when` of a run that had already ended.
    fn narrow(&mut self, when: When) {
        let window = match when {
            When::AfterStart(_) => &mut self.whole,
            When::AfterFirstChange(_) => &mut self.changes,
        };
        *window = (*window * 3 / 4).max(1);
    }
}

/// Kills `obp apply` (each rewriting every resource), then `obp destroy`, at random points
/// until `OBP_CRASH_KILLS` of each fell while it was changing resources (after it reported a
/// change, before it ended; kills that fell before or after count as extra). After every kill the state
/// reads back and holds everything the killed run reported done, and the lock is recovered as
/// a user would; at the end a plain run converges.
fn kill_applies_and_destroys(stack: &Stack, random: &mut Random) {
    let kills = setting("OBP_CRASH_KILLS", 30) as usize;
    let mut version = 1;
    stack.version(version);
    let measured = timed(stack, &["apply", "-auto-approve"]);
    let mut windows = Windows::new(measured);
    let (mut attempts, mut killed, mut partial) = (0, 0, 0);
    while killed < kills {
        attempts += 1;
        assert!(
            attempts <= kills * 8,
            "only {killed} of {attempts} kills fell while apply was changing resources"
        );
        version += 1;
        stack.version(version);
        let when = windows.next(random);
        let run = stack.kill_at(&["apply", "-auto-approve"], when);
        let state = stack.state();
        let current = format!("version {version}\n");
        let updated = state
            .resources
            .values()
            .filter(|r| {
                r.inputs
                    .get("content")
                    .and_then(|c| c.as_str())
                    .is_some_and(|c| c.ends_with(&current))
            })
            .count();
        killed += usize::from(run.mid_change());
        if !run.running {
            windows.narrow(when);
        }
        partial += usize::from(0 < updated && updated < stack.count);
        for address in reported(&run.output, "updated") {
            let content = state.resources.get(&address).and_then(|r| {
                r.inputs
                    .get("content")
                    .and_then(|c| c.as_str())
                    .map(str::to_owned)
            });
            assert!(
                content.is_some_and(|c| c.ends_with(&current)),
                "apply kill {attempts} ({when:?}): `{address}` was reported updated but state lost it"
            );
        }
    }
    stack.converge_and_check(&["apply", "-auto-approve"], "applies after kills");
    eprintln!(
        "{attempts} applies killed (one takes {} ms), {killed} while changing resources, {partial} leaving state part-way",
        measured.0
    );

    let measured = timed(stack, &["destroy", "-auto-approve"]);
    let mut windows = Windows::new(measured);
    let (mut attempts, mut killed, mut partial) = (0, 0, 0);
    while killed < kills {
        attempts += 1;
        assert!(
            attempts <= kills * 8,
            "only {killed} of {attempts} kills fell while destroy was removing resources"
        );
        // Each destroy starts from every resource, as the one that measured the window.
        if stack.state().resources.len() < stack.count {
            let (code, text) = stack.run(&["apply", "-auto-approve"]);
            assert_eq!(
                code,
                Some(0),
                "the re-apply after destroy kill {attempts}:\n{text}"
            );
        }
        let when = windows.next(random);
        let run = stack.kill_at(&["destroy", "-auto-approve"], when);
        let state = stack.state();
        killed += usize::from(run.mid_change());
        if !run.running {
            windows.narrow(when);
        }
        partial += usize::from(!state.resources.is_empty() && state.resources.len() < stack.count);
        for address in reported(&run.output, "destroyed") {
            assert!(
                !state.resources.contains_key(&address),
                "destroy kill {attempts} ({when:?}): `{address}` was reported destroyed but is still in state"
            );
        }
    }
    stack.converge_and_check(&["destroy", "-auto-approve"], "destroys after kills");
    eprintln!(
        "{attempts} destroys killed (one takes {} ms), {killed} while destroying resources, {partial} leaving state part-way",
        measured.0
    );
}

/// Starts `obp apply` and SIGKILLs it as soon as `holds_lock` says it holds the lock.
fn kill_holding_the_lock(stack: &Stack, holds_lock: impl Fn() -> bool) {
    // A version no kill round uses: rewriting every file keeps the run long enough to be
    // seen holding the lock.
    stack.version(u64::MAX);
    let mut child = stack
        .command(&["apply", "-auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !holds_lock() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the apply ended before it was seen holding the lock"
        );
        assert!(Instant::now() < deadline, "the apply never took the lock");
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn killed_applies_and_destroys_lose_nothing_and_converge() {
    let stack = Stack::new(setting("OBP_CRASH_RESOURCES", 500) as usize);
    let mut random = first_apply(&stack);
    // A killed run's lock stops the next run, which names the id that clears it.
    let lock = stack.path().join("obp.state.json.lock");
    kill_holding_the_lock(&stack, || lock.exists());
    let text = std::fs::read_to_string(&lock).unwrap();
    let info: serde_json::Value =
        serde_json::from_str(&text).expect("a lock file is never partial");
    let (code, output) = stack.run(&["plan"]);
    assert_eq!(code, Some(1), "a stale lock must stop plan:\n{output}");
    assert!(
        output.contains("obp force-unlock LOCK_ID")
            && output.contains(info["id"].as_str().unwrap()),
        "{output}"
    );
    stack.clear_stale_lock();
    kill_applies_and_destroys(&stack, &mut random);
}

#[test]
fn killed_applies_and_destroys_with_postgres_state_lose_nothing_and_converge() {
    let stack = Stack::postgres(setting("OBP_CRASH_PG_RESOURCES", 200) as usize);
    let mut random = first_apply(&stack);
    // A run killed while it holds the lock: its session ends, and the advisory lock with it.
    kill_holding_the_lock(&stack, || stack.lock_holder().is_some());
    stack.recover_lock();
    assert_eq!(stack.lock_holder(), None, "the lock outlived its run");
    let holders = stack.rows("locks");
    assert!(
        holders.is_empty(),
        "a holder row outlived its run: {holders:?}"
    );
    kill_applies_and_destroys(&stack, &mut random);
    // The journal was folded into the last state written, and no holder row is left: each
    // run replaced the row a killed one left and removed its own as it ended.
    let journal = stack.rows("journal");
    assert!(
        journal.is_empty(),
        "journal rows left after a converged destroy: {journal:?}"
    );
    let holders = stack.rows("locks");
    assert!(holders.is_empty(), "holder rows left: {holders:?}");
}

/// Starts an apply, sends it `signals` SIGINTs once it has created its first file, and
/// returns (exit code, full output).
fn interrupt_apply(stack: &Stack, signals: usize) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader, Read};
    let mut child = stack
        .command(&["apply", "-auto-approve", "--parallelism", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut output = String::new();
    let mut sent = false;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if !sent && line.contains(": created after ") {
            for _ in 0..signals {
                let status = Command::new("kill")
                    .args(["-INT", &child.id().to_string()])
                    .status()
                    .unwrap();
                assert!(status.success());
                std::thread::sleep(Duration::from_millis(50));
            }
            sent = true;
        }
        output.push_str(&line);
        output.push('\n');
    }
    let status = child.wait().unwrap();
    output.push_str(&errors.join().unwrap());
    (status.code(), output)
}

#[test]
fn a_first_ctrl_c_stops_the_apply_cleanly() {
    let stack = Stack::new(1500);
    let (code, output) = interrupt_apply(&stack, 1);
    assert_eq!(code, Some(130), "{output}");
    assert!(
        output.contains("Apply stopped (interrupted by SIGINT)") && output.contains("not started:"),
        "{output}"
    );
    // The lock is released and the state written whole (the journal folded in).
    assert!(
        !stack.path().join("obp.state.json.lock").exists(),
        "lock left behind"
    );
    assert!(
        !stack.path().join("obp.state.json.journal").exists(),
        "journal left open"
    );
    let created = reported(&output, "created");
    let state = stack.state();
    assert_eq!(state.resources.len(), created.len(), "{output}");
    assert!(created.iter().all(|a| state.resources.contains_key(a)));
    assert!(created.len() < 1500);
    stack.converge_and_check(&["apply", "-auto-approve"], "the apply after Ctrl-C");
}

#[test]
fn ctrl_c_outside_the_walk_releases_the_lock() {
    let stack = Stack::new(1500);
    let (code, text) = stack.run(&["apply", "-auto-approve"]);
    assert_eq!(code, Some(0), "{text}");
    // `plan` holds the lock while it reads every file.
    let mut child = stack
        .command(&["plan"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock = stack.path().join("obp.state.json.lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lock.exists() && child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "plan never took the lock");
        std::thread::sleep(Duration::from_millis(1));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Unless plan had finished already, it stopped with 130 and said so.
    if output.status.code() != Some(0) {
        assert_eq!(output.status.code(), Some(130), "{stderr}");
        assert!(
            stderr.contains("SIGINT: stopped; nothing was changed"),
            "{stderr}"
        );
    }
    assert!(!lock.exists(), "the lock was left behind");
}

/// A run killed after its last change and before its final write leaves only journal entries:
/// the next apply has nothing to change, and still folds them into state (before, the journal
/// stayed until some later apply changed something). Made deterministic here by appending the
/// journal entry such a run leaves.
#[test]
fn an_apply_with_nothing_to_change_folds_a_journal_left_behind() {
    let stack = Stack::new(3);
    let (code, output) = stack.run(&["apply", "--auto-approve"]);
    assert_eq!(code, Some(0), "{output}");
    let before = stack.state();
    let (address, resource) = before.resources.iter().next().unwrap();
    let backend = LocalBackend::new(stack.path().join("obp.state.json"));
    Stack::runtime()
        .block_on(backend.append(&[obp_engine::state::JournalEntry::Put {
            address: address.clone(),
            resource: resource.clone(),
        }]))
        .unwrap();
    let journal = stack.path().join("obp.state.json.journal");
    assert!(journal.metadata().unwrap().len() > 0);

    let (code, output) = stack.run(&["apply", "--auto-approve"]);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("No changes"), "{output}");
    assert!(
        std::fs::metadata(&journal).map_or(true, |m| m.len() == 0),
        "the journal was not folded into state"
    );
    let after = stack.state();
    assert_eq!(after.resources, before.resources);
    assert!(after.serial > before.serial, "state was written");
}
