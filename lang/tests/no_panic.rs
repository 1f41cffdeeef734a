//! No panic on any input: a mutation harness over the lexer, parser, formatter, resolver,
//! type checker, evaluator and diagnostic rendering.
//!
//! Inputs are mutated `.obp` files of the repository (`support/fuzz.rs`, shared with the
//! root crate's `tests/no_panic_plan.rs`, which takes the inputs that evaluate on to `plan`).
//! For every input:
//!
//! - parsing, formatting, checking a stack made of it (`check_stack`: load, resolve, types,
//!   evaluation, policies) and rendering its diagnostics must not panic;
//! - each input must finish within the time bound;
//! - when `fmt` accepts the input, formatting its output again changes nothing.
//!
//! The normal test run checks a bounded number of inputs (a few seconds). A long run:
//!
//! ```sh
//! OBP_FUZZ_CASES=100000 OBP_FUZZ_THREADS=2 nice -n 10 \
//!     cargo test --release -p obp-lang --test no_panic -- --nocapture
//! ```
//!
//! Variables (see `support/fuzz.rs`): `OBP_FUZZ_CASES` (inputs, default 300), `OBP_FUZZ_SEED`,
//! `OBP_FUZZ_THREADS`, `OBP_FUZZ_SECONDS`, `OBP_FUZZ_SAVE`. Inputs that once failed are kept in
//! `tests/no_panic/` and checked on every run.

#[path = "support/fuzz.rs"]
mod fuzz;

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use fuzz::{Failure, Reached};
use obp_lang::diagnostics::render;
use obp_lang::span::FileId;

/// Runs every stage on one input, in `dir` (a scratch directory of this worker).
fn exercise(input: &[u8], dir: &Path) -> Result<Reached, Failure> {
    let text = String::from_utf8_lossy(input).into_owned();
    let id = FileId(0);
    let formatted = panic::catch_unwind(|| {
        let _ = obp_lang::parse::parse(id, &text);
        obp_lang::fmt::format_source(id, &text).ok()
    })
    .map_err(|_| Failure::Panic(fuzz::last_panic()))?;
    if let Some(once) = formatted {
        let twice = panic::catch_unwind(|| obp_lang::fmt::format_source(id, &once))
            .map_err(|_| Failure::Panic(fuzz::last_panic()))?;
        if twice.ok().as_deref() != Some(once.as_str()) {
            return Err(Failure::Broken(
                "formatting the formatted text changes it".to_owned(),
            ));
        }
    }
    let checked = fuzz::check(input, dir)?;
    panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = render::to_text(&checked.diagnostics, &checked.sources, false);
        let _ = render::to_json(&checked.diagnostics, &checked.sources);
        if let Some(config) = &checked.config {
            let _ = config.to_json_pretty();
        }
    }))
    .map_err(|_| Failure::Panic(fuzz::last_panic()))?;
    Ok(Reached(checked.config.is_some() && !checked.has_errors()))
}

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the lang crate sits in the repository")
}

/// Inputs that once broke something; each must now pass every stage.
#[test]
fn regressions_pass() {
    fuzz::regressions(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/no_panic"),
        exercise,
    );
}

#[test]
fn mutated_inputs_never_panic_hang_or_format_unstably() {
    let seeds = fuzz::seeds(repository());
    assert!(seeds.len() > 50, "found only {} seed files", seeds.len());
    let summary = fuzz::run("no_panic", seeds, 300, "evaluated", exercise);
    // Some inputs must survive mutation and evaluate, or the later stages go untested.
    assert!(
        summary.reached > 0,
        "none of {} inputs evaluated",
        summary.cases
    );
}
