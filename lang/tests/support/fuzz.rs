//! The no-panic harnesses' shared machinery: seeds, mutations, the time-bounded runner, the
//! panic hook, saving failing inputs and the run itself. Included (not copied) by
//! `lang/tests/no_panic.rs` (lexer, parser, formatter, checker, evaluator) and by the root
//! crate's `tests/no_panic_plan.rs` (plan, which needs the engine and the providers), each with
//! its own `exercise` function.
//!
//! Seeds are every `.obp` file of the repository (`blueprints/`, `examples/`, `tests/cases/`).
//! Each input is a seed changed by one to four mutations, byte-level (flip, insert, delete,
//! duplicate, splice in a hostile byte sequence, truncate) or token-level (delete, duplicate,
//! swap, or replace a token with a keyword, an extreme number or a token of another seed),
//! chosen with `arbitrary` from a deterministic random stream.
//!
//! Variables: `OBP_FUZZ_CASES` (inputs; each harness has its default), `OBP_FUZZ_SEED` (random
//! stream, default fixed so runs repeat), `OBP_FUZZ_THREADS` (workers, default 1),
//! `OBP_FUZZ_SECONDS` (time bound per input, default 10), `OBP_FUZZ_SAVE` (a directory where
//! failing inputs are written).

use std::panic;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use arbitrary::Unstructured;

/// Evaluation steps allowed per input (see [`check`]).
const EVAL_BUDGET: u64 = 2_000_000;

pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Every `.obp` file under `dir` (outside snapshot directories), unsorted.
pub fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "snapshots") {
                collect(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "obp") {
            out.push(path);
        }
    }
}

/// Every `.obp` file of the repository at `root`, sorted, as text.
pub fn seeds(root: &Path) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    for dir in ["blueprints", "examples", "tests/cases"] {
        collect(&root.join(dir), &mut files);
    }
    files.sort();
    files
        .into_iter()
        .filter_map(|f| std::fs::read(f).ok())
        .collect()
}

/// Byte sequences that have broken parsers before: delimiters, string and interpolation
/// starts, escapes, control and multi-byte characters, a UTF-8 fragment.
const HOSTILE: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"(",
    b")",
    b"\"",
    b"${",
    b"\\",
    b"\\u{",
    b"\n",
    b"\r",
    b"\t",
    b"\0",
    b"\x1b[31m",
    b"\x07",
    b"//",
    b"/*",
    b"*/",
    b"#",
    "é".as_bytes(),
    "€".as_bytes(),
    "\u{202e}".as_bytes(),
    b"\xe2\x82",
    b"\xff",
    b"<<EOT\n",
    b"EOT\n",
    b"=",
    b"=>",
    b",",
    b".",
    b"..",
    b"?",
    b":",
    b"!",
    b"&&",
    b"||",
    b"-",
    b"+",
    b"*",
    b"/",
    b"%",
];

/// Tokens worth planting: keywords, operators and extreme numbers.
const TOKENS: &[&str] = &[
    "stack",
    "module",
    "param",
    "let",
    "output",
    "resource",
    "use",
    "as",
    "for",
    "each",
    "if",
    "else",
    "match",
    "in",
    "true",
    "false",
    "null",
    "type",
    "policy",
    "deny",
    "warn",
    "when",
    "message",
    "moved",
    "from",
    "to",
    "depends_on",
    "lifecycle",
    "provider",
    "backend",
    "check",
    "secret",
    "fn",
    "key",
    "self",
    "each.value",
    "each.key",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1e308",
    "1e309",
    "0.0",
    "-0",
    "00",
    "0x10",
    "1_000",
    "\"\"",
    "\"${x}\"",
    "[]",
    "{}",
    "x",
    "_",
    "a.b.c",
    "string",
    "int",
    "Secret",
    "any",
    "list<any>",
    "map<string>",
    "|",
    "=>",
    "...",
];

/// Splits text into tokens: runs of word characters, runs of spaces, single others.
fn tokens(text: &[u8]) -> Vec<&[u8]> {
    let class = |b: u8| -> u8 {
        if b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80 {
            0
        } else if b.is_ascii_whitespace() {
            1
        } else {
            2
        }
    };
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=text.len() {
        let split = i == text.len() || class(text[i]) != class(text[i - 1]) || class(text[i]) == 2;
        if split {
            out.push(&text[start..i]);
            start = i;
        }
    }
    out
}

/// One mutation of `input`, chosen by `u`; `other` is another seed to take tokens from.
fn mutate(u: &mut Unstructured<'_>, input: &mut Vec<u8>, other: &[u8]) -> arbitrary::Result<()> {
    let len = input.len();
    let at = if len == 0 {
        0
    } else {
        u.choose_index(len + 1)?
    };
    match u.int_in_range(0..=10u8)? {
        0 if len > 0 => {
            let i = at.min(len - 1);
            input[i] ^= 1 << u.int_in_range(0..=7u8)?;
        }
        1 => input.insert(at, u.arbitrary()?),
        2 if len > 0 => {
            let end = (at + u.int_in_range(1..=16usize)?).min(len);
            input.drain(at.min(end)..end);
        }
        3 if len > 0 => {
            let end = (at + u.int_in_range(1..=64usize)?).min(len);
            let piece = input[at.min(end)..end].to_vec();
            let to = u.choose_index(len + 1)?;
            input.splice(to..to, piece);
        }
        4 => {
            let piece = *u.choose(HOSTILE)?;
            input.splice(at..at, piece.iter().copied());
        }
        5 => input.truncate(at),
        6..=10 => {
            let toks = tokens(input);
            if toks.is_empty() {
                return Ok(());
            }
            let i = u.choose_index(toks.len())?;
            let mut parts: Vec<Vec<u8>> = toks.iter().map(|t| t.to_vec()).collect();
            match u.int_in_range(0..=4u8)? {
                0 => {
                    parts.remove(i);
                }
                1 => {
                    let copy = parts[i].clone();
                    parts.insert(i, copy);
                }
                2 => {
                    let j = u.choose_index(parts.len())?;
                    parts.swap(i, j);
                }
                3 => parts[i] = u.choose(TOKENS)?.as_bytes().to_vec(),
                _ => {
                    let theirs = tokens(other);
                    if !theirs.is_empty() {
                        parts[i] = theirs[u.choose_index(theirs.len())?].to_vec();
                    }
                }
            }
            *input = parts.concat();
        }
        _ => {}
    }
    Ok(())
}

/// Input `n` of the stream `seed`: it depends only on these two, whatever the thread count.
fn input(seeds: &[Vec<u8>], seed: u64, n: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut entropy = vec![0u8; 512];
    rng.fill(&mut entropy);
    let mut u = Unstructured::new(&entropy);
    let mut input = seeds[rng.usize(..seeds.len())].clone();
    let other = &seeds[rng.usize(..seeds.len())];
    let mutations = rng.usize(1..=4);
    for _ in 0..mutations {
        if mutate(&mut u, &mut input, other).is_err() {
            break;
        }
    }
    input
}

/// What went wrong with one input.
#[derive(Debug)]
pub enum Failure {
    Panic(String),
    Hang,
    /// A stage returned something it must never return (such as a format that changes when
    /// formatted again).
    Broken(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Panic(message) => write!(f, "panic: {message}"),
            Failure::Hang => f.write_str("no result within the time bound"),
            Failure::Broken(what) => f.write_str(what),
        }
    }
}

/// How far an input went: `Reached(true)` when it got to the harness's last stage (evaluated
/// without errors; handed to plan), `Reached(false)` when an earlier stage refused it with
/// diagnostics (which is fine: the harness looks for panics and hangs, and counts these only
/// to show that the last stage was exercised).
pub struct Reached(pub bool);

/// One harness's work on one input, in a scratch directory of its worker.
pub type Exercise = fn(&[u8], &Path) -> Result<Reached, Failure>;

thread_local! {
    /// The last panic message on this thread (the hook records it, the harness reads it).
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The last panic message on this thread.
pub fn last_panic() -> String {
    LAST_PANIC
        .with(|p| p.borrow_mut().take())
        .unwrap_or_default()
}

/// The checker runs on its own thread: its panic message is kept here.
static ANY_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn last_panic_anywhere() -> String {
    ANY_PANIC
        .lock()
        .map(|mut p| p.take().unwrap_or_default())
        .unwrap_or_default()
}

fn install_hook() {
    panic::set_hook(Box::new(|info| {
        let message = format!("{info}");
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(message.clone()));
        if let Ok(mut any) = ANY_PANIC.lock() {
            *any = Some(message);
        }
    }));
}

/// Writes the input as `main.obp` in `dir` and checks the stack it makes (load, resolve,
/// types, evaluation, policies) as the CLI does, with the built-in module library. A panic of
/// the checker (which `check_stack` turns into an `<internal>` diagnostic) is a failure.
pub fn check(input: &[u8], dir: &Path) -> Result<obp_lang::Checked, Failure> {
    // The raw bytes, so non-UTF-8 input reaches the loader as is.
    std::fs::write(dir.join("main.obp"), input).map_err(|e| Failure::Panic(e.to_string()))?;
    let mut options = obp_lang::Options {
        search: Some(obp_lang::loader::SearchPath {
            dirs: Vec::new(),
            builtin: true,
        }),
        ..obp_lang::Options::default()
    };
    // A tenth of the default step budget: a runaway computation (a mutated `fib(40)`) then
    // stops in well under a second even in a debug build on a busy machine, so the time
    // bound measures hangs, not the budget (whose own limit the E0407 case checks).
    options.eval.step_budget = EVAL_BUDGET;
    let checked = obp_lang::check_stack(dir, &options);
    if let Some(internal) = checked
        .diagnostics
        .iter()
        .find(|d| d.message.contains("<internal>"))
    {
        return Err(Failure::Panic(format!(
            "checker: {} ({})",
            internal.message,
            last_panic_anywhere()
        )));
    }
    Ok(checked)
}

/// Runs one input on a helper thread, so that a hang is reported after the time bound.
fn bounded(
    exercise: Exercise,
    input: Vec<u8>,
    dir: PathBuf,
    limit: Duration,
) -> Result<Reached, Failure> {
    let (send, receive) = mpsc::channel();
    std::thread::Builder::new()
        .stack_size(64 * 1024 * 1024)
        .spawn(move || {
            let _ = send.send(exercise(&input, &dir));
        })
        .map_err(|e| Failure::Panic(e.to_string()))?;
    match receive.recv_timeout(limit) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Failure::Hang),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(Failure::Panic(last_panic_anywhere())),
    }
}

/// Keeps a failing input as `input-N.obp` in `OBP_FUZZ_SAVE`, as soon as it is found.
fn save(n: usize, input: &[u8]) {
    let Ok(dir) = std::env::var("OBP_FUZZ_SAVE") else {
        return;
    };
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(Path::new(&dir).join(format!("input-{n}.obp")), input);
}

/// Inputs that once broke something (the `.obp` files under `dir`); each must now pass.
/// Returns how many there were.
pub fn regressions(dir: &Path, exercise: Exercise) -> usize {
    install_hook();
    let mut files = Vec::new();
    collect(dir, &mut files);
    files.sort();
    let scratch = tempfile::tempdir().expect("scratch directory");
    let mut failures = Vec::new();
    for file in &files {
        let input = std::fs::read(file).expect("regression input");
        let limit = Duration::from_secs(env_number("OBP_FUZZ_SECONDS", 10));
        if let Err(failure) = bounded(exercise, input, scratch.path().to_path_buf(), limit) {
            failures.push(format!("{}: {failure}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    files.len()
}

/// What a run found.
pub struct Summary {
    /// Inputs checked.
    pub cases: usize,
    /// Inputs that got to the last stage (see [`Reached`]).
    pub reached: usize,
}

/// Runs `OBP_FUZZ_CASES` (else `default_cases`) mutated inputs of `seeds` through `exercise`
/// and fails if any panicked, hung or broke, after reporting all of them. `last_stage` says
/// in words what [`Reached`] counts (such as "evaluated").
pub fn run(
    name: &str,
    seeds: Vec<Vec<u8>>,
    default_cases: u64,
    last_stage: &str,
    exercise: Exercise,
) -> Summary {
    install_hook();
    let seeds = Arc::new(seeds);
    let cases = env_number("OBP_FUZZ_CASES", default_cases) as usize;
    let seed = env_number("OBP_FUZZ_SEED", 0x0b9_f022);
    let threads = env_number("OBP_FUZZ_THREADS", 1).max(1) as usize;
    let limit = Duration::from_secs(env_number("OBP_FUZZ_SECONDS", 10));
    let next = Arc::new(AtomicUsize::new(0));
    let reached = Arc::new(AtomicUsize::new(0));
    let found: Arc<Mutex<Vec<Failure>>> = Arc::default();
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (seeds, next, reached, found) =
                (seeds.clone(), next.clone(), reached.clone(), found.clone());
            let name = name.to_owned();
            std::thread::spawn(move || {
                let scratch = tempfile::tempdir().expect("scratch directory");
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= cases {
                        break;
                    }
                    let input = input(&seeds, seed, n);
                    match bounded(exercise, input.clone(), scratch.path().to_path_buf(), limit) {
                        Err(failure) => {
                            eprintln!("input {n}: {failure}");
                            save(n, &input);
                            if let Ok(mut found) = found.lock() {
                                found.push(failure);
                            }
                        }
                        Ok(Reached(all)) => {
                            if all {
                                reached.fetch_add(1, Ordering::Relaxed);
                            }
                            if (n + 1) % 5000 == 0 {
                                eprintln!(
                                    "{name}: {} inputs checked ({:.0}s)",
                                    n + 1,
                                    started.elapsed().as_secs_f64()
                                );
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    let found = found
        .lock()
        .map(|mut f| std::mem::take(&mut *f))
        .unwrap_or_default();
    let reached = reached.load(Ordering::Relaxed);
    eprintln!(
        "{name}: {cases} mutated inputs from {} seeds (OBP_FUZZ_SEED={seed}), {reached} {last_stage}, in {:.1}s: {} panics, {} hangs, {} broken results",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        found.iter().filter(|f| matches!(f, Failure::Panic(_))).count(),
        found.iter().filter(|f| matches!(f, Failure::Hang)).count(),
        found.iter().filter(|f| matches!(f, Failure::Broken(_))).count(),
    );
    assert!(
        found.is_empty(),
        "{} inputs failed; set OBP_FUZZ_SAVE=DIR to keep them: {:?}",
        found.len(),
        found.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    Summary { cases, reached }
}
