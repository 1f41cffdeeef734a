//! Apply and refresh against a slow remote API: every call of the in-memory provider takes
//! 50 ms, as a round trip to a cloud API may. Two graphs:
//! - `wide`: N independent resources; the bound is N × latency / parallelism;
//! - `chains`: N resources in chains of depth D; the bound is the larger of that and the
//!   critical path, D × latency;
//!
//! and `refresh`: a plan of the applied wide graph, N reads, `READ_CONCURRENCY` at a time.
//! Prints measured time, the bound and their ratio (issue 20's target: apply within 1.2× of
//! its bound). Run with `cargo bench -p obp-engine --bench latency`;
//! `cargo test --benches` runs a small, quick version.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use obp_engine::apply::{apply, ApplyOptions, Quiet};
use obp_engine::plan::{plan, PlanOptions};
use obp_engine::provider::{Providers, READ_CONCURRENCY};
use obp_engine::state::local::LocalBackend;
use obp_engine::state::{Backend, State};
use obp_engine::testing::MemoryProvider;
use obp_lang::eval::{Config, Dependency, Instance, Lifecycle};
use obp_lang::span::Span;
use obp_lang::value::Value;

const LATENCY: Duration = Duration::from_millis(50);
const PARALLELISM: usize = 10;

/// `n` resources; with `depth`, resource i waits for i - 1 unless it starts a chain.
fn config(n: usize, depth: Option<usize>) -> Config {
    let resources = (0..n)
        .map(|i| {
            let deps = match depth {
                Some(depth) if i % depth != 0 => vec![Dependency {
                    address: format!("mem.thing.r{}", i - 1),
                    explicit: true,
                    span: Span::default(),
                }],
                _ => Vec::new(),
            };
            Instance {
                address: format!("mem.thing.r{i}"),
                module: String::new(),
                rtype: "mem.thing".to_owned(),
                name: format!("r{i}"),
                key: None,
                provider: "mem".to_owned(),
                attrs: IndexMap::from([("name".to_owned(), Value::str(format!("r{i}")))]),
                deps,
                lifecycle: Lifecycle::default(),
                span: Span::default(),
                attr_spans: Default::default(),
            }
        })
        .collect();
    Config {
        resources,
        ..Config::default()
    }
}

fn row(name: &str, n: usize, measured: Duration, bound: Duration) {
    println!(
        "{name:>8} {n:>6} {:>10.0} {:>10.0} {:>7.2}",
        measured.as_secs_f64() * 1000.0,
        bound.as_secs_f64() * 1000.0,
        measured.as_secs_f64() / bound.as_secs_f64()
    );
}

async fn run(n: usize, depth: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(dir.path().join("obp.state.json")));
    let memory = Arc::new(MemoryProvider::new());
    memory.latency(LATENCY);
    let mut providers = Providers::new();
    providers.insert("mem", memory);
    let options = ApplyOptions {
        parallelism: PARALLELISM,
        ..ApplyOptions::default()
    };
    let per_slot = |count: usize, slots: usize| LATENCY * count.div_ceil(slots) as u32;
    for (name, depth) in [("wide", None), ("chains", Some(depth))] {
        let config = config(n, depth);
        let made = plan(&config, State::new(), &providers, &PlanOptions::default())
            .await
            .expect("plan");
        let started = Instant::now();
        let report = apply(
            &made,
            State::new(),
            &providers,
            backend.clone(),
            &options,
            Arc::new(Quiet),
        )
        .await;
        let measured = started.elapsed();
        assert!(report.ok(), "apply failed");
        let critical = LATENCY * depth.unwrap_or(1) as u32;
        row(name, n, measured, per_slot(n, PARALLELISM).max(critical));
        if name == "wide" {
            let state = report.state;
            let refresh = PlanOptions {
                refresh: true,
                ..PlanOptions::default()
            };
            let started = Instant::now();
            let replan = plan(&config, state, &providers, &refresh)
                .await
                .expect("plan");
            assert!(!replan.has_changes());
            row(
                "refresh",
                n,
                started.elapsed(),
                per_slot(n, READ_CONCURRENCY),
            );
        }
    }
}

fn main() {
    // `cargo test --benches` runs this without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (n, depth) = if quick { (40, 4) } else { (400, 20) };
    println!(
        "{:>8} {:>6} {:>10} {:>10} {:>7}",
        "graph", "n", "ms", "bound ms", "ratio"
    );
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(n, depth));
}
