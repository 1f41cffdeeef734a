//! Checking benchmark: the saas example (odoo.shared with the odoo.policies pack) with its
//! tenant list replaced by N generated starter tenants, checked and evaluated by
//! `check_stack`, with policies and without (`PolicyMode::Skip`), so the cost of the policy
//! pass shows on its own. Run with `cargo bench -p obp-lang`.
//!
//! A plain harness rather than criterion: each figure is one full check of a large stack,
//! reported as the best of three runs.

use std::time::{Duration, Instant};

use obp_lang::eval::PolicyMode;

fn stack(tenants: usize) -> String {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/saas/stack.obp"
    ))
    .expect("examples/saas/stack.obp");
    let start = example.find("  tenants = [").expect("the tenant list");
    let end = start + example[start..].find("  ]\n").expect("its end") + 4;
    format!(
        "{}  tenants = map(range({tenants}), i => {{ name = \"t${{i}}\", type = \"starter\" }})\n{}",
        &example[..start],
        &example[end..]
    )
}

fn best_of_three(run: impl Fn() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut resources = 0;
    for _ in 0..3 {
        let started = Instant::now();
        resources = run();
        best = best.min(started.elapsed());
    }
    (best, resources)
}

fn main() {
    println!("| tenants | resources | check with policies | without | policy pass |");
    println!("|---|---|---|---|---|");
    // `OBP_BENCH_TENANTS=300` runs one size (for profiling).
    let sizes: Vec<usize> = match std::env::var("OBP_BENCH_TENANTS") {
        Ok(n) => vec![n.parse().expect("OBP_BENCH_TENANTS is a number")],
        Err(_) => vec![100, 500, 1_000],
    };
    for tenants in sizes {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("stack.obp"), stack(tenants)).expect("write the stack");
        let check = |policies: PolicyMode| {
            let mut options = obp_lang::Options::default();
            options.eval.policies = policies;
            let checked = obp_lang::check_stack(dir.path(), &options);
            let config = checked.config.unwrap_or_else(|| {
                panic!(
                    "{}",
                    obp_lang::diagnostics::render::to_text(
                        &checked.diagnostics,
                        &checked.sources,
                        false
                    )
                )
            });
            config.resources.len()
        };
        let (with, resources) = best_of_three(|| check(PolicyMode::default()));
        let (without, _) = best_of_three(|| check(PolicyMode::Skip));
        println!(
            "| {tenants} | {resources} | {} ms | {} ms | {} ms |",
            with.as_millis(),
            without.as_millis(),
            with.saturating_sub(without).as_millis()
        );
    }
}
