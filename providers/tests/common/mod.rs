//! Shared by the provider tests that run against real servers: a stack in a temporary
//! directory planned and applied through the engine, unique names, and test secrets.

#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Once};

use obp_engine::apply::{apply, ApplyOptions, ApplyReport, Quiet};
use obp_engine::plan::{plan, Action, Plan, PlanOptions};
use obp_engine::state::local::LocalBackend;
use obp_engine::state::Backend;
use obp_lang::Diagnostic;

/// The value of a variable a `scripts/servers/NAME.sh` script writes; never skips.
pub fn server_env(variable: &str, script: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!(
            "{variable} is not set: start the test server with `bash scripts/servers/{script}.sh start DIR` \
             and load DIR/{script}.env (`set -a; . DIR/{script}.env; set +a`); `bash scripts/test` does both"
        )
    })
}

/// Test secrets, set once before any test connects anywhere (so no other thread reads the
/// environment while it changes): `secret("test/pw1")` … `secret("test/pw3")`.
pub const SECRETS: &[(&str, &str)] = &[
    ("OBP_SECRET_TEST_PW1", "pw1-Zq'x\"\\;--8vT"),
    ("OBP_SECRET_TEST_PW2", "pw2-second-password-9aa"),
    ("OBP_SECRET_TEST_PW3", "pw3-third-password-k2"),
];

/// The value of `secret("test/pwN")`.
pub fn secret(n: usize) -> &'static str {
    SECRETS[n - 1].1
}

pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (name, value) in SECRETS {
            std::env::set_var(name, value);
        }
    });
}

/// A name no other test (or earlier run) uses: `PREFIX_<pid>_<n>_<time>`.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{:x}", std::process::id(), nanos % 0xfffff)
}

/// A stack directory with its local state.
pub struct Run {
    pub dir: tempfile::TempDir,
    pub backend: Arc<LocalBackend>,
}

impl Run {
    pub fn new(text: &str) -> Run {
        init();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stack.obp"), text).unwrap();
        let backend = Arc::new(LocalBackend::new(dir.path().join("obp.state.json")));
        Run { dir, backend }
    }

    pub fn edit(&self, text: &str) {
        std::fs::write(self.dir.path().join("stack.obp"), text).unwrap();
    }

    fn config(&self) -> obp_lang::Config {
        config(self.dir.path())
    }

    /// Plans, returning the diagnostics on failure.
    pub async fn try_plan(&self, destroy: bool) -> Result<Plan, Vec<Diagnostic>> {
        self.plan_config(&self.config(), destroy).await
    }

    /// Plans; errors come back rendered as the CLI shows them, source lines included.
    pub async fn try_plan_rendered(&self, destroy: bool) -> Result<Plan, String> {
        let checked = obp_lang::check_stack(self.dir.path(), &obp_lang::Options::default());
        let render =
            |d: &[Diagnostic]| obp_lang::diagnostics::render::to_text(d, &checked.sources, false);
        let config = checked
            .config
            .clone()
            .ok_or_else(|| render(&checked.diagnostics))?;
        self.plan_config(&config, destroy)
            .await
            .map_err(|d| render(&d))
    }

    async fn plan_config(
        &self,
        config: &obp_lang::Config,
        destroy: bool,
    ) -> Result<Plan, Vec<Diagnostic>> {
        let providers = obp_providers::configure(config, self.dir.path())?;
        let state = self.backend.read().await.unwrap().unwrap_or_default();
        plan(
            config,
            state,
            &providers,
            &PlanOptions {
                destroy,
                refresh: true,
                ..PlanOptions::default()
            },
        )
        .await
    }

    pub async fn plan(&self, destroy: bool) -> Plan {
        self.try_plan(destroy)
            .await
            .unwrap_or_else(|d| panic!("plan failed: {d:#?}"))
    }

    /// Applies, then lets every provider finish as `obp apply` does (the GitOps provider
    /// commits there when asked).
    pub async fn try_apply(&self, made: &Plan) -> ApplyReport {
        let config = self.config();
        let providers = obp_providers::configure(&config, self.dir.path()).unwrap();
        let state = self.backend.read().await.unwrap().unwrap_or_default();
        let report = apply(
            made,
            state,
            &providers,
            self.backend.clone(),
            &ApplyOptions::default(),
            Arc::new(Quiet),
        )
        .await;
        for name in providers.names() {
            if let Some(provider) = providers.get(name) {
                if let Err(error) = provider.finish("obp apply: test").await {
                    panic!("provider {name} could not finish: {error}");
                }
            }
        }
        report
    }

    pub async fn apply(&self, made: &Plan) {
        let report = self.try_apply(made).await;
        assert!(report.ok(), "apply failed: {report:#?}");
    }

    /// Plans and applies; returns the plan.
    pub async fn converge(&self) -> Plan {
        let made = self.plan(false).await;
        self.apply(&made).await;
        made
    }

    pub async fn destroy(&self) {
        let made = self.plan(true).await;
        self.apply(&made).await;
    }

    /// The stack's providers, configured as `obp apply` configures them.
    pub fn providers(&self) -> obp_engine::provider::Providers {
        obp_providers::configure(&self.config(), self.dir.path()).unwrap()
    }

    /// The state file as text.
    pub fn state_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("obp.state.json")).unwrap_or_default()
    }
}

pub fn config(dir: &Path) -> obp_lang::Config {
    let checked = obp_lang::check_stack(dir, &obp_lang::Options::default());
    let text =
        obp_lang::diagnostics::render::to_text(&checked.diagnostics, &checked.sources, false);
    checked
        .config
        .unwrap_or_else(|| panic!("invalid stack:\n{text}"))
}

/// The changes of a plan that do something, as (address, action).
pub fn actions(made: &Plan) -> Vec<(String, Action)> {
    made.changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| (c.address.clone(), c.action))
        .collect()
}

/// The addresses a plan reports as drifted.
pub fn drifted(made: &Plan) -> Vec<String> {
    made.drift.iter().map(|d| d.address.clone()).collect()
}

/// The messages of diagnostics, one string.
pub fn messages(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect::<Vec<_>>()
        .join("\n")
}
