//! The Kubernetes provider end to end, against a real kube-apiserver and etcd
//! (`scripts/servers/kubernetes.sh`): the engine plans and applies small stacks written to a
//! temporary directory, configured through `provider kubernetes { kubeconfig = … }`. This file
//! is the shared harness ([`Stack`] and helpers); the tests are in `kubernetes/live.rs`: create,
//! update, conflicts and force, Jobs, readiness waits, claims, deletes (foreground, namespaces),
//! drift, import, CRD schemas, kinds not served, contexts, and the exact requests obp sends,
//! read from the server's audit log (one server-side apply per object, no `force` unless asked,
//! deletes in dependency order with the propagation policy, nothing at all when plan refuses a
//! secret).

#[path = "kubernetes/live.rs"]
mod live;

use std::sync::Arc;

use obp_engine::apply::{apply, ApplyOptions, ApplyReport, Quiet};
use obp_engine::plan::{plan, Action, Plan, PlanOptions};
use obp_engine::provider::{Provider, Providers};
use obp_engine::state::local::LocalBackend;
use obp_engine::state::{Backend, State};
use obp_lang::diagnostics::Diagnostic;
use obp_lang::Config;
use serde_json::Value as Json;

/// A stack directory with a local state file; the cluster behind its kubeconfig is the real
/// test server (`live::Fixture`).
struct Stack {
    dir: tempfile::TempDir,
    backend: Arc<LocalBackend>,
}

/// The provider block every stack here starts with; `{extra}` adds options.
fn provider(extra: &str) -> String {
    format!("stack demo {{}}\nprovider kubernetes {{ kubeconfig = \"kubeconfig\", wait_timeout = \"2s\"{extra} }}\n")
}

impl Stack {
    fn new() -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(LocalBackend::new(dir.path().join("obp.state.json")));
        Stack { dir, backend }
    }

    fn edit(&self, source: &str) {
        std::fs::write(self.dir.path().join("stack.obp"), source).unwrap();
    }

    fn config(&self) -> Config {
        let checked = obp_lang::check_stack(self.dir.path(), &obp_lang::Options::default());
        let text =
            obp_lang::diagnostics::render::to_text(&checked.diagnostics, &checked.sources, false);
        checked
            .config
            .unwrap_or_else(|| panic!("invalid stack:\n{text}"))
    }

    fn providers(&self, config: &Config) -> Providers {
        obp_providers::configure(config, self.dir.path())
            .unwrap_or_else(|d| panic!("provider configuration failed: {d:?}"))
    }

    async fn state(&self) -> State {
        self.backend.read().await.unwrap().unwrap_or_default()
    }

    async fn try_plan_with(&self, options: PlanOptions) -> Result<Plan, Vec<Diagnostic>> {
        let config = self.config();
        let providers = self.providers(&config);
        plan(&config, self.state().await, &providers, &options).await
    }

    async fn plan_with(&self, options: PlanOptions) -> Plan {
        self.try_plan_with(options)
            .await
            .unwrap_or_else(|d| panic!("plan failed: {d:?}"))
    }

    async fn plan(&self) -> Plan {
        self.plan_with(PlanOptions {
            refresh: true,
            ..PlanOptions::default()
        })
        .await
    }

    async fn apply(&self, plan: &Plan) -> ApplyReport {
        let providers = self.providers(&self.config());
        apply(
            plan,
            self.state().await,
            &providers,
            self.backend.clone(),
            &ApplyOptions::default(),
            Arc::new(Quiet),
        )
        .await
    }

    /// Plans and applies; panics unless everything succeeded.
    async fn converge(&self) -> Plan {
        let plan = self.plan().await;
        let report = self.apply(&plan).await;
        assert!(report.ok(), "apply failed: {:?}", report.failed);
        plan
    }

    /// The provider for direct calls (import).
    fn provider(&self) -> Arc<dyn Provider> {
        let config = self.config();
        self.providers(&config)
            .get("kubernetes")
            .expect("configured")
            .clone()
    }
}

fn actions(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| (c.address.clone(), c.action))
        .collect()
}

fn failures(report: &ApplyReport) -> Vec<String> {
    report.failed.iter().map(|(_, e)| e.to_string()).collect()
}

/// The fields a manager owns on an object, as FieldsV1.
fn owned_by(object: &Json, manager: &str) -> Vec<(String, Json)> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["manager"] == manager)
        .map(|m| {
            (
                m["operation"].as_str().unwrap_or_default().to_owned(),
                m["fieldsV1"].clone(),
            )
        })
        .collect()
}
