//! Crash safety of the real binary: `obp apply` and `obp destroy` of a stack of thousands of
//! files (GitOps `file.text`, no server needed) are SIGKILLed at random points, again and
//! again. After every kill the state must read back (state file plus journal), and every change
//! the killed run reported done must be in it; after the kills a plain run must converge, the
//! next plan must be empty, `obp drift` must find nothing (obp's own writes are not drift), and
//! the files on disk must be exactly the ones state records. A killed run leaves its lock; the
//! test clears it as a user would, with the id the lock error names.
//!
//! A first Ctrl-C stops an apply cleanly: the lock released, the state written whole.
//!
//! Defaults keep it short for CI (2 cores): `OBP_CRASH_RESOURCES` (default 500) and
//! `OBP_CRASH_KILLS` (default 30 per command) make a longer run; `OBP_CRASH_SEED` repeats one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use obp_engine::state::local::LocalBackend;
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

struct Stack {
    dir: tempfile::TempDir,
    count: usize,
}

impl Stack {
    fn new(count: usize) -> Stack {
        let stack = Stack {
            dir: tempfile::tempdir().unwrap(),
            count,
        };
        stack.version(0);
        stack
    }

    /// Rewrites the stack so that every file gets new content: each apply has `count` changes.
    fn version(&self, version: u64) {
        let keys: Vec<String> = (0..self.count).map(|n| format!("\"f{n:05}\"")).collect();
        let source = format!(
            "stack crash {{}}\nprovider gitops {{ dir = \"out\" }}\nresource file.text f for each [{}] {{\n  path = \"files/${{each.key}}.txt\"\n  content = \"${{each.key}} version {version}\\n\"\n}}\n",
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

    /// Starts `args`, SIGKILLs it after `delay`; returns its output so far.
    fn kill_after(&self, args: &[&str], delay: Duration) -> String {
        let log = self.path().join("killed.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut child = self
            .command(args)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let output = std::fs::read_to_string(&log).unwrap();
        self.clear_stale_lock();
        output
    }

    /// A killed run leaves its lock: clear it as a user would, with the id it names.
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

    fn state(&self) -> State {
        let backend = LocalBackend::new(self.path().join("obp.state.json"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(backend.read())
            .unwrap_or_else(|e| panic!("state unreadable after a kill: {e}"))
            .unwrap_or_default()
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

/// Addresses a killed run reported done (`ADDRESS: created after …`).
fn reported(log: &str, verb: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| line.split_once(&format!(": {verb} after ")))
        .map(|(address, _)| address.to_owned())
        .collect()
}

#[test]
fn killed_applies_and_destroys_lose_nothing_and_converge() {
    let count = setting("OBP_CRASH_RESOURCES", 500) as usize;
    let kills = setting("OBP_CRASH_KILLS", 30);
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
    eprintln!("crash test: {count} resources, {kills} kills per command, OBP_CRASH_SEED={seed}");
    let mut random = Random(seed);
    let stack = Stack::new(count);

    // A first full apply measures how long one takes; kills fall anywhere inside that.
    let started = Instant::now();
    stack.converge_and_check(&["apply", "-auto-approve"], "the first apply");
    let full = started.elapsed().as_millis() as u64;
    eprintln!("one full apply (with its checks): {full} ms");
    // A killed run's lock stops the next run, which names the id that clears it.
    let mut child = stack
        .command(&["apply", "-auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = stack.path().join("obp.state.json.lock");
    while !lock.exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = child.kill();
    let _ = child.wait();
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

    let mut version = 0;
    for round in 0..kills {
        version += 1;
        stack.version(version);
        let delay = Duration::from_millis(random.below(full));
        let log = stack.kill_after(&["apply", "-auto-approve"], delay);
        let state = stack.state();
        for address in reported(&log, "updated") {
            let content = state.resources.get(&address).and_then(|r| {
                r.inputs
                    .get("content")
                    .and_then(|c| c.as_str())
                    .map(str::to_owned)
            });
            assert!(
                content.is_some_and(|c| c.ends_with(&format!("version {version}\n"))),
                "apply kill {round} after {delay:?}: `{address}` was reported updated but state lost it"
            );
        }
    }
    stack.converge_and_check(&["apply", "-auto-approve"], "applies after kills");

    for round in 0..kills {
        // Give each destroy something to do.
        if stack.state().resources.len() < count / 4 {
            stack.converge_and_check(&["apply", "-auto-approve"], "a re-apply between destroys");
        }
        let delay = Duration::from_millis(random.below(full));
        let log = stack.kill_after(&["destroy", "-auto-approve"], delay);
        let state = stack.state();
        for address in reported(&log, "destroyed") {
            assert!(
                !state.resources.contains_key(&address),
                "destroy kill {round} after {delay:?}: `{address}` was reported destroyed but is still in state"
            );
        }
    }
    stack.converge_and_check(&["destroy", "-auto-approve"], "destroys after kills");
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
