//! The Kubernetes provider end to end. `live` (tests/kubernetes/live.rs) runs it against a real
//! kube-apiserver (`scripts/servers/kubernetes.sh`): create, update, conflicts and force, Jobs,
//! readiness waits, claims, deletes (foreground, namespaces), drift, import, CRD schemas, kinds
//! not served, contexts.
//!
//! The tests in this file use the API emulator (a test double, see
//! `tests/support/kube_emulator/README.md`) only for what the real server cannot show: the
//! exact requests the provider sends (one server-side apply per object, no `force` unless
//! asked, deletes in dependency order with the propagation policy, nothing at all when plan
//! refuses a secret). The engine plans and applies small stacks written to a temporary
//! directory, configured through `provider kubernetes { kubeconfig = … }`, and every check on
//! the cluster side reads the emulator's store directly, not the provider.

#[path = "kubernetes/live.rs"]
mod live;

use std::sync::Arc;

use obp_engine::apply::{apply, ApplyOptions, ApplyReport, Quiet};
use obp_engine::plan::{plan, Action, Plan, PlanOptions};
use obp_engine::provider::{Provider, Providers};
use obp_engine::state::local::LocalBackend;
use obp_engine::state::{Backend, State};
use obp_kube_emulator::{resources, Emulator};
use obp_lang::diagnostics::Diagnostic;
use obp_lang::Config;
use obp_providers::kinds::KINDS;
use serde_json::{json, Value as Json};

/// A stack directory with a local state file; the cluster behind its kubeconfig is the
/// emulator ([`Fixture`]) or the real test server (`live::Fixture`).
struct Stack {
    dir: tempfile::TempDir,
    backend: Arc<LocalBackend>,
}

/// A stack whose kubeconfig points at a fresh emulator.
struct Fixture {
    stack: Stack,
    emulator: Emulator,
}

impl std::ops::Deref for Fixture {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.stack
    }
}

/// The provider block every stack here starts with; `{extra}` adds options.
fn provider(extra: &str) -> String {
    format!("stack demo {{}}\nprovider kubernetes {{ kubeconfig = \"kubeconfig\", wait_timeout = \"2s\"{extra} }}\n")
}

impl Fixture {
    async fn new(body: &str) -> Fixture {
        let stack = Stack::new();
        let emulator = Emulator::start().await;
        emulator
            .write_kubeconfig(&stack.dir.path().join("kubeconfig"))
            .unwrap();
        stack.edit(&format!("{}{body}", provider("")));
        Fixture { stack, emulator }
    }
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

const TENANT: &str = r#"
resource k8s.namespace ns { metadata = { name = "acme" } }
resource k8s.config_map conf {
  metadata = { name = "odoo-conf", namespace = k8s.namespace.ns.metadata.name }
  data = { "odoo.conf" = "[options]\nproxy_mode = True\n" }
}
resource k8s.deployment web {
  metadata = { name = "web", namespace = k8s.namespace.ns.metadata.name, labels = { app = "web", tier = "front" } }
  spec = {
    replicas = 2,
    selector = { matchLabels = { app = "web" } },
    template = {
      metadata = { labels = { app = "web" } },
      spec = { containers = [{ name = "odoo", image = "odoo:18", args = ["--config", k8s.config_map.conf.metadata.name] }] },
    },
  }
}
resource k8s.external_secret db {
  metadata = { name = "db", namespace = k8s.namespace.ns.metadata.name }
  data = { PASSWORD = secret("tenants/acme/db") }
}
resource k8s.manifest strip {
  api_version = "traefik.io/v1alpha1"
  kind = "Middleware"
  metadata = { name = "strip", namespace = k8s.namespace.ns.metadata.name }
  spec = { stripPrefix = { prefixes = ["/web"] } }
}
resource k8s.persistent_volume_claim files {
  metadata = { name = "files", namespace = k8s.namespace.ns.metadata.name }
  spec = { accessModes = ["ReadWriteOnce"], resources = { requests = { storage = "1Gi" } } }
}
resource k8s.certificate tls {
  metadata = { name = "web-tls", namespace = k8s.namespace.ns.metadata.name }
  spec = { secretName = "web-tls", dnsNames = ["erp.acme.example"], issuerRef = { name = "letsencrypt", kind = "ClusterIssuer" } }
}
output web_uid = k8s.deployment.web.uid
"#;

#[tokio::test]
async fn apply_creates_objects_and_a_second_plan_is_empty() {
    let fx = Fixture::new(TENANT).await;
    let first = fx.converge().await;
    assert_eq!(first.count(Action::Create), 7);

    let namespace = fx.emulator.get("Namespace", "", "acme").expect("namespace");
    assert_eq!(namespace["metadata"]["name"], "acme");
    let conf = fx.emulator.get("ConfigMap", "acme", "odoo-conf").unwrap();
    assert_eq!(conf["data"]["odoo.conf"], "[options]\nproxy_mode = True\n");
    let web = fx.emulator.get("Deployment", "acme", "web").unwrap();
    assert_eq!(web["spec"]["replicas"], 2);
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["--config", "odoo-conf"])
    );
    assert_eq!(
        owned_by(&web, "obp")
            .iter()
            .map(|(op, _)| op.as_str())
            .collect::<Vec<_>>(),
        ["Apply"],
        "obp applies as one field manager"
    );
    let secret = fx.emulator.get("ExternalSecret", "acme", "db").unwrap();
    assert_eq!(
        secret["spec"]["data"],
        json!([{"secretKey": "PASSWORD", "remoteRef": {"key": "tenants/acme/db"}}])
    );
    assert_eq!(secret["spec"]["secretStoreRef"]["name"], "obp-secrets");
    let strip = fx.emulator.get("Middleware", "acme", "strip").unwrap();
    assert_eq!(strip["spec"]["stripPrefix"]["prefixes"], json!(["/web"]));
    assert!(fx
        .emulator
        .get("PersistentVolumeClaim", "acme", "files")
        .is_some());

    // Every write was a server-side apply as `obp`, without force.
    let writes: Vec<_> = fx
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert_eq!(writes.len(), 7, "{writes:?}");
    for write in &writes {
        assert_eq!(write.method, "PATCH");
        assert_eq!(
            write.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        assert!(write.query.contains("fieldManager=obp"), "{write:?}");
        assert!(!write.query.contains("force"), "{write:?}");
    }

    // Outputs come from the server.
    let state = fx.state().await;
    let recorded = &state.resources["k8s.deployment.web"].outputs;
    assert_eq!(recorded["uid"], web["metadata"]["uid"]);
    assert_eq!(recorded["namespace"], "acme");
    assert!(recorded["resource_version"].is_string());
    assert_eq!(
        state.resources["k8s.namespace.ns"].outputs["namespace"],
        Json::Null
    );
    assert_eq!(state.outputs["web_uid"], web["metadata"]["uid"]);

    let second = fx.plan().await;
    assert!(
        !second.has_changes() && second.drift.is_empty(),
        "a second plan is empty: {:?} {:?}",
        actions(&second),
        second.drift
    );
}

#[tokio::test]
async fn a_changed_field_updates_through_server_side_apply() {
    let fx = Fixture::new(TENANT).await;
    fx.converge().await;
    fx.emulator.clear_log();
    fx.edit(&format!(
        "{}{}",
        provider(""),
        TENANT
            .replace("replicas = 2", "replicas = 3")
            .replace(", tier = \"front\"", "")
    ));
    let update = fx.plan().await;
    assert_eq!(
        actions(&update),
        [("k8s.deployment.web".to_owned(), Action::Update)]
    );
    let report = fx.apply(&update).await;
    assert!(report.ok(), "{:?}", failures(&report));

    let web = fx.emulator.get("Deployment", "acme", "web").unwrap();
    assert_eq!(web["spec"]["replicas"], 3);
    assert_eq!(web["metadata"]["generation"], 2);
    assert_eq!(
        web["metadata"]["labels"],
        json!({"app": "web"}),
        "a field obp stops applying is removed by server-side apply"
    );
    let writes: Vec<_> = fx
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(
        (writes[0].method.as_str(), writes[0].path.as_str()),
        ("PATCH", "/apis/apps/v1/namespaces/acme/deployments/web")
    );
    assert!(!fx.plan().await.has_changes());
}

const SHARED_CONFIG: &str = r#"
resource k8s.config_map shared {
  metadata = { name = "shared", namespace = "default" }
  data = { mode = "ours", extra = "x" }
}
"#;

#[tokio::test]
async fn a_conflicting_field_manager_is_reported_and_force_takes_over() {
    let fx = Fixture::new(SHARED_CONFIG).await;
    fx.emulator
        .apply_as(
            "helm",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared", "namespace": "default"}, "data": {"mode": "theirs"}}),
            false,
        )
        .unwrap();

    let plan = fx.plan().await;
    let report = fx.apply(&plan).await;
    let errors = failures(&report);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = &errors[0];
    for expected in [
        "ConfigMap default/shared",
        "`.data.mode` owned by field manager \"helm\"",
        "set `force_conflicts = true`",
    ] {
        assert!(message.contains(expected), "{expected:?} not in: {message}");
    }
    let live = fx.emulator.get("ConfigMap", "default", "shared").unwrap();
    assert_eq!(
        live["data"],
        json!({"mode": "theirs"}),
        "nothing was written"
    );

    fx.edit(&format!(
        "{}{SHARED_CONFIG}",
        provider(", force_conflicts = true")
    ));
    fx.converge().await;
    let live = fx.emulator.get("ConfigMap", "default", "shared").unwrap();
    assert_eq!(live["data"], json!({"mode": "ours", "extra": "x"}));
    assert!(
        owned_by(&live, "helm").is_empty(),
        "helm lost the field: {live}"
    );
    let forced = fx
        .emulator
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PATCH")
        .unwrap();
    assert!(forced.query.contains("force=true"), "{forced:?}");
}

#[tokio::test]
async fn destroy_deletes_dependents_first_with_the_propagation_policy() {
    let fx = Fixture::new(TENANT).await;
    fx.converge().await;
    fx.emulator.clear_log();
    let destroy = fx
        .plan_with(PlanOptions {
            destroy: true,
            refresh: true,
            ..PlanOptions::default()
        })
        .await;
    let report = fx.apply(&destroy).await;
    assert!(report.ok(), "{:?}", failures(&report));
    let deletions = fx.emulator.deletions();
    assert_eq!(deletions.len(), 7, "{deletions:?}");
    let position = |kind: &str| deletions.iter().position(|d| d.kind == kind).unwrap();
    assert!(position("Deployment") < position("ConfigMap"));
    for kind in [
        "Deployment",
        "ConfigMap",
        "ExternalSecret",
        "Middleware",
        "PersistentVolumeClaim",
        "Certificate",
    ] {
        assert!(
            position(kind) < position("Namespace"),
            "{kind} is deleted before its namespace: {deletions:?}"
        );
    }
    assert!(deletions
        .iter()
        .all(|d| d.existed && d.propagation_policy.as_deref() == Some("Foreground")));
    assert!(fx.emulator.get("Namespace", "", "acme").is_none());
    assert!(fx.state().await.resources.is_empty());
}

#[tokio::test]
async fn provider_options_are_checked_when_the_stack_loads() {
    let fx = Fixture::new(SHARED_CONFIG).await;
    fx.edit(&format!(
        "{}{SHARED_CONFIG}",
        provider(", propagaton_policy = \"Orphan\"")
    ));
    let config = fx.config();
    let Err(diagnostics) = obp_providers::configure(&config, fx.dir.path()) else {
        panic!("an unknown option must be refused");
    };
    assert!(
        diagnostics[0]
            .message
            .contains("unknown option `propagaton_policy`"),
        "{:?}",
        diagnostics[0].message
    );
}

#[tokio::test]
async fn secret_references_outside_external_secret_data_are_refused_at_plan() {
    let fx = Fixture::new(
        r#"
resource k8s.config_map leak {
  metadata = { name = "leak", namespace = "default" }
  data = { password = secret("tenants/acme/db") }
}
"#,
    )
    .await;
    let config = fx.config();
    let providers = fx.providers(&config);
    let Err(diagnostics) = plan(
        &config,
        State::default(),
        &providers,
        &PlanOptions::default(),
    )
    .await
    else {
        panic!("a secret in a ConfigMap must be refused");
    };
    assert!(
        diagnostics[0]
            .message
            .contains("secret references cannot be written into a manifest"),
        "{:?}",
        diagnostics[0].message
    );
    assert!(
        fx.emulator.requests().is_empty(),
        "nothing reached the cluster"
    );
}

#[test]
fn the_emulator_serves_every_kind_obp_knows() {
    for kind in KINDS.iter().filter(|k| k.name != "manifest") {
        let served = resources::by_kind(kind.kind)
            .unwrap_or_else(|| panic!("the emulator does not serve {}", kind.kind));
        assert_eq!(served.api_version(), kind.api_version, "{}", kind.kind);
        assert_eq!(served.namespaced, kind.namespaced, "{}", kind.kind);
    }
}
