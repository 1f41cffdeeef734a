//! No panic on any input, as far as `plan`: the mutated inputs of the language harness
//! (`lang/tests/no_panic.rs`, whose seeds, mutations and bounded runner this file shares
//! through `lang/tests/support/fuzz.rs`) that check and evaluate without errors go on through
//! everything `obp plan` does after evaluation: the dependency cycles, configuring the
//! providers they declare (GitOps into the scratch directory; PostgreSQL, Redis, DNS, S3 and
//! Kubernetes too, which connect to nothing until a resource is read, created or changed), and
//! a real plan with empty state — graph build, provider matching, schema checks, each
//! provider's offline validation (Kubernetes manifests and the API server's field rules,
//! PostgreSQL names, S3 buckets and keys…), collisions between claims, the leftover sweep of
//! the GitOps directory, diffing — then renders the plan (text and JSON) and saves and reads
//! it back as `plan -out` and `apply FILE` do. A panic or an input over the time bound fails
//! the test and is saved (`OBP_FUZZ_SAVE`); a saved plan that does not read back as the same
//! plan is a broken result.
//!
//! The normal test run checks a bounded number of inputs (a few seconds). A long run:
//!
//! ```sh
//! OBP_FUZZ_CASES=60000 OBP_FUZZ_THREADS=2 nice -n 10 \
//!     cargo test --test no_panic_plan -- --nocapture
//! ```
//!
//! Variables as in the language harness (`OBP_FUZZ_CASES`, default 300, `OBP_FUZZ_SEED`,
//! `OBP_FUZZ_THREADS`, `OBP_FUZZ_SECONDS`, `OBP_FUZZ_SAVE`). Inputs that once failed are kept
//! in `tests/no_panic_plan/` and checked on every run.

#[path = "../lang/tests/support/fuzz.rs"]
mod fuzz;

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use fuzz::{Failure, Reached};
use obp_engine::plan::{plan, Plan, PlanOptions};
use obp_engine::state::State;
use obp_lang::diagnostics::render;

/// Checks the input as a stack and, when it evaluates, plans it with empty state.
/// `Reached(true)`: it evaluated and went to the plan stage (whatever the plan said).
fn exercise(input: &[u8], dir: &Path) -> Result<Reached, Failure> {
    // A few levels down, so that a mutated `dir = ".."` of the GitOps provider still
    // points inside the scratch directory rather than at the machine's temp directory.
    let dir = dir.join("a/b/c/stack");
    std::fs::create_dir_all(&dir).map_err(|e| Failure::Panic(e.to_string()))?;
    let checked = fuzz::check(input, &dir)?;
    let Some(config) = checked.config.as_ref().filter(|_| !checked.has_errors()) else {
        return Ok(Reached(false));
    };
    panic::catch_unwind(AssertUnwindSafe(|| {
        // What `obp plan` does after evaluation (src/cli/stack.rs and plan.rs).
        let cycles = obp_engine::graph::cycles(config);
        if !cycles.is_empty() {
            return Ok(Reached(true));
        }
        let providers = match obp_providers::configure(config, &dir) {
            Ok(providers) => providers,
            Err(diagnostics) => {
                let _ = render::to_text(&diagnostics, &checked.sources, false);
                return Ok(Reached(true));
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::Panic(e.to_string()))?;
        let options = PlanOptions {
            refresh: true,
            ..PlanOptions::default()
        };
        let made = runtime.block_on(plan(config, State::default(), &providers, &options));
        let made = match made {
            Ok(made) => made,
            Err(diagnostics) => {
                let _ = render::to_text(&diagnostics, &checked.sources, false);
                let _ = render::to_json(&diagnostics, &checked.sources);
                return Ok(Reached(true));
            }
        };
        let _ = obp_engine::render::human(&made, false);
        let _ = obp_engine::render::json(&made);
        let saved = dir.join("p.obpplan");
        let read_back =
            obp_engine::saved::write(&saved, &made).and_then(|()| obp_engine::saved::read(&saved));
        match read_back {
            Ok(read) if read == made => Ok(Reached(true)),
            Ok(read) => Err(Failure::Broken(format!(
                "the saved plan reads back differently: {}",
                first_difference(&made, &read)
            ))),
            Err(error) => Err(Failure::Broken(format!(
                "the saved plan does not read back: {error}"
            ))),
        }
    }))
    .map_err(|_| Failure::Panic(fuzz::last_panic()))?
}

/// The first change (by address) that differs between two plans, for the failure message.
fn first_difference(a: &Plan, b: &Plan) -> String {
    a.changes
        .iter()
        .zip(&b.changes)
        .find(|(x, y)| x != y)
        .map_or_else(
            || "outside the changes".to_owned(),
            |(x, _)| x.address.clone(),
        )
}

fn contains(text: &[u8], part: &[u8]) -> bool {
    text.windows(part.len()).any(|w| w == part)
}

/// Inputs that once broke `plan`; each must now pass.
#[test]
fn regressions_pass() {
    fuzz::regressions(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/no_panic_plan"),
        exercise,
    );
}

#[test]
fn mutated_inputs_never_panic_or_hang_in_plan() {
    // Seeds that reach the plan stage as they are (some then fail it on purpose, such as the
    // collision and API-rule cases): most mutations of a stack that evaluates still evaluate,
    // while a module or a case written to fail evaluation never gets near a plan.
    let scratch = tempfile::tempdir().expect("scratch directory");
    let seeds: Vec<Vec<u8>> = fuzz::seeds(Path::new(env!("CARGO_MANIFEST_DIR")))
        .into_iter()
        // Modules (no `stack` line) and cases written to fail (tests/cases/README.md) are
        // skipped without checking them: checking the Odoo library takes a while.
        .filter(|seed| seed.starts_with(b"stack ") || contains(seed, b"\nstack "))
        .filter(|seed| !contains(seed, b"//@ expect = \"error\""))
        .filter(|seed| match exercise(seed, scratch.path()) {
            Ok(Reached(evaluated)) => evaluated,
            Err(failure) => panic!("a seed fails as it is: {failure}"),
        })
        .collect();
    assert!(seeds.len() > 30, "only {} seed files evaluate", seeds.len());
    let summary = fuzz::run("no_panic_plan", seeds, 300, "reached plan", exercise);
    // The point of this harness: inputs must get as far as a plan.
    assert!(
        summary.reached * 10 >= summary.cases,
        "only {} of {} inputs reached plan",
        summary.reached,
        summary.cases
    );
}
