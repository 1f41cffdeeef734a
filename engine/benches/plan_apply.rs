//! Engine benchmarks on generated graphs with the in-memory provider: for 1,000 / 10,000 /
//! 20,000 resources (each depends on one earlier resource, a tree) it measures
//! - `plan`: a first plan against empty state,
//! - `apply`: applying it (journal with group commits, final state write),
//! - `replan`: a new process reads that state and plans again (refresh included, no changes),
//!   which is what `obp plan` on an applied stack does,
//!
//! each in its own process so that memory one phase freed does not count for the next; peak
//! RSS is the process's `VmHWM`. Run with `cargo bench -p obp-engine`.
//!
//! A plain harness rather than criterion: apply is stateful and peak memory is one of the
//! figures to report.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use indexmap::IndexMap;
use obp_engine::apply::{apply, ApplyOptions, Quiet};
use obp_engine::plan::{plan, PlanOptions};
use obp_engine::provider::Providers;
use obp_engine::state::local::LocalBackend;
use obp_engine::state::{Backend, State};
use obp_engine::testing::MemoryProvider;
use obp_lang::eval::{Config, Dependency, Instance, Lifecycle};
use obp_lang::span::Span;
use obp_lang::value::Value;

fn config(n: usize) -> Config {
    let resources = (0..n)
        .map(|i| {
            let mut attrs = IndexMap::new();
            attrs.insert("name".to_owned(), Value::str(format!("r{i}")));
            attrs.insert("size".to_owned(), Value::Int(i as i64));
            attrs.insert(
                "labels".to_owned(),
                Value::record(IndexMap::from([(
                    "tenant".to_owned(),
                    Value::str(format!("t{}", i % 100)),
                )])),
            );
            let deps = if i == 0 {
                Vec::new()
            } else {
                vec![Dependency {
                    address: format!("mem.thing.r{}", (i - 1) / 2),
                    explicit: false,
                    span: Span::default(),
                }]
            };
            Instance {
                address: format!("mem.thing.r{i}"),
                module: String::new(),
                rtype: "mem.thing".to_owned(),
                name: format!("r{i}"),
                key: None,
                provider: "mem".to_owned(),
                attrs,
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

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A memory provider that already holds the objects recorded in `state` (as after apply).
fn providers_for(state: Option<&State>) -> Providers {
    let memory = Arc::new(MemoryProvider::new());
    if let Some(state) = state {
        let mut objects = memory.objects.lock().expect("objects");
        for (address, resource) in &state.resources {
            let id = resource.outputs["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            objects.insert(id, (address.clone(), resource.inputs.clone()));
        }
    }
    let mut providers = Providers::new();
    providers.insert("mem", memory);
    providers
}

/// One phase in this process; prints `ms MiB`.
fn phase(name: &str, n: usize, dir: &Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(dir.join("obp.state.json")));
    let options = PlanOptions {
        refresh: true,
        ..PlanOptions::default()
    };
    let config = config(n);
    runtime.block_on(async {
        match name {
            "plan" => {
                let started = Instant::now();
                let made = plan(&config, State::new(), &providers_for(None), &options)
                    .await
                    .expect("plan");
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                assert_eq!(made.changes.len(), n);
                print!("{ms:>10.1} {:>10.1}", peak_rss_mib());
            }
            "apply" => {
                let providers = providers_for(None);
                let made = plan(&config, State::new(), &providers, &options)
                    .await
                    .expect("plan");
                let started = Instant::now();
                let report = apply(
                    &made,
                    State::new(),
                    &providers,
                    backend.clone(),
                    &ApplyOptions::default(),
                    Arc::new(Quiet),
                )
                .await;
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                assert!(report.ok(), "apply failed");
                print!("{ms:>10.1} {:>10.1}", peak_rss_mib());
            }
            _ => {
                let started = Instant::now();
                let state = backend.read().await.expect("read").expect("state");
                let providers = providers_for(Some(&state));
                let made = plan(&config, state, &providers, &options)
                    .await
                    .expect("plan");
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                assert!(!made.has_changes());
                print!("{ms:>10.1} {:>10.1}", peak_rss_mib());
            }
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--phase") {
        let name = &args[at + 1];
        let n: usize = args[at + 2].parse().expect("a size");
        phase(name, n, Path::new(&args[at + 3]));
        return;
    }
    // `cargo test --benches` runs this without `--bench`: keep that quick.
    let quick = !args.iter().any(|a| a == "--bench");
    let sizes: &[usize] = if quick {
        &[1_000]
    } else {
        &[1_000, 10_000, 20_000]
    };
    println!(
        "{:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "n", "plan ms", "plan MiB", "apply ms", "apply MiB", "replan ms", "replan MiB"
    );
    for &n in sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        print!("{n:>8}");
        for name in ["plan", "apply", "replan"] {
            use std::io::Write;
            let _ = std::io::stdout().flush();
            let status = std::process::Command::new(&args[0])
                .args([
                    "--phase",
                    name,
                    &n.to_string(),
                    &dir.path().display().to_string(),
                ])
                .status()
                .expect("run a phase");
            assert!(status.success(), "phase {name} failed");
        }
        println!();
    }
}
