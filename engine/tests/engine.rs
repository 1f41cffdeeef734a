//! Engine behaviour end to end with the in-memory test provider: graph order, plan/apply/destroy
//! round trips, replacement, unknown values, targeting, saved plans, partial failure, locking,
//! drift, moves and lifecycle rules.

use std::sync::Arc;

use obp_engine::apply::{apply, ApplyOptions, Quiet};
use obp_engine::graph::Graph;
use obp_engine::plan::{plan, Action, Plan, PlanOptions};
use obp_engine::provider::Providers;
use obp_engine::state::local::LocalBackend;
use obp_engine::state::{Backend, LockInfo, State};
use obp_engine::testing::{FaultyBackend, MemoryProvider};
use obp_engine::{render, saved};
use obp_lang::Config;
use serde_json::{json, Value as Json};

/// A stack directory with one `stack.obp`, its state backend and a memory provider.
struct Fixture {
    dir: tempfile::TempDir,
    memory: Arc<MemoryProvider>,
    providers: Providers,
    backend: Arc<LocalBackend>,
}

impl Fixture {
    fn new(source: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stack.obp"), source).unwrap();
        let memory = Arc::new(MemoryProvider::new());
        let mut providers = Providers::new();
        providers.insert("mem", memory.clone());
        let backend = Arc::new(LocalBackend::new(dir.path().join("obp.state.json")));
        Fixture {
            dir,
            memory,
            providers,
            backend,
        }
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

    async fn state(&self) -> State {
        self.backend.read().await.unwrap().unwrap_or_default()
    }

    async fn plan_with(&self, options: PlanOptions) -> Plan {
        let state = self.state().await;
        plan(&self.config(), state, &self.providers, &options)
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

    async fn apply(&self, plan: &Plan) -> obp_engine::apply::ApplyReport {
        self.apply_with(plan, self.backend.clone(), &ApplyOptions::default())
            .await
    }

    async fn apply_with(
        &self,
        plan: &Plan,
        backend: Arc<dyn Backend>,
        options: &ApplyOptions,
    ) -> obp_engine::apply::ApplyReport {
        let state = self.state().await;
        apply(
            plan,
            state,
            &self.providers,
            backend,
            options,
            Arc::new(Quiet),
        )
        .await
    }

    async fn destroy_plan(&self) -> Plan {
        self.plan_with(PlanOptions {
            destroy: true,
            refresh: true,
            ..PlanOptions::default()
        })
        .await
    }
}

/// A stack of `count` independent things (every one ready at once).
fn wide(count: usize) -> String {
    let keys: Vec<String> = (0..count).map(|n| format!("\"k{n}\"")).collect();
    format!(
        "stack wide {{}}\nresource mem.thing x for each [{}] {{ name = \"x-${{each.key}}\" }}\n",
        keys.join(", ")
    )
}

fn creates(memory: &MemoryProvider) -> usize {
    memory
        .calls()
        .iter()
        .filter(|c| c.starts_with("create "))
        .count()
}

fn actions(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| (c.address.clone(), c.action))
        .collect()
}

const CHAIN: &str = r#"
stack chain {}
resource mem.thing db { name = "db" }
resource mem.thing app { name = "app", db_id = mem.thing.db.id, label = "uses ${mem.thing.db.id}" }
resource mem.thing web for each ["a", "b"] { name = "web-${each.key}", app = mem.thing.app.name }
output app_id = mem.thing.app.id
"#;

#[tokio::test]
async fn apply_order_follows_dependencies_and_destroy_reverses_it() {
    let fx = Fixture::new(CHAIN);
    let graph = Graph::build(&fx.config(), None).unwrap();
    let order = graph.apply_order();
    let position = |a: &str| order.iter().position(|x| x == a).unwrap();
    assert!(position("mem.thing.db") < position("mem.thing.app"));
    assert!(position("mem.thing.app") < position("mem.thing.web[\"a\"]"));
    let destroy = graph.destroy_order();
    assert_eq!(
        destroy.first().map(String::as_str),
        Some("mem.thing.web[\"b\"]")
    );
    assert_eq!(destroy.last().map(String::as_str), Some("mem.thing.db"));
    assert!(graph
        .to_dot(None)
        .contains("\"mem.thing.app\" -> \"mem.thing.db\";"));
}

#[tokio::test]
async fn cycles_are_reported_with_every_edge() {
    let fx = Fixture::new(
        r#"
stack cyc {}
resource mem.thing a { name = "a", peer = mem.thing.b.name }
resource mem.thing b { name = "b", peer = mem.thing.a.name }
"#,
    );
    let Err(error) = Graph::build(&fx.config(), None) else {
        panic!("a cycle must be refused")
    };
    let diagnostic = obp_lang::diagnostics::IntoDiagnostic::into_diagnostic(error);
    assert_eq!(diagnostic.code, "E0501");
    assert_eq!(
        diagnostic.message,
        "dependency cycle: mem.thing.a → mem.thing.b → mem.thing.a"
    );
    assert_eq!(diagnostic.labels.len(), 2, "one label per edge");
}

#[tokio::test]
async fn round_trip_create_noop_update_replace_destroy() {
    let fx = Fixture::new(CHAIN);
    let first = fx.plan().await;
    assert_eq!(first.count(Action::Create), 4);
    let report = fx.apply(&first).await;
    assert!(report.ok(), "{report:?}");
    let state = fx.state().await;
    assert_eq!(state.resources.len(), 4);
    // Unknown values were resolved from what the provider returned.
    let db_id = state.resources["mem.thing.db"].outputs["id"].clone();
    assert_eq!(state.resources["mem.thing.app"].inputs["db_id"], db_id);
    assert_eq!(
        state.resources["mem.thing.app"].inputs["label"],
        json!(format!("uses {}", db_id.as_str().unwrap()))
    );
    assert_eq!(
        state.outputs["app_id"],
        state.resources["mem.thing.app"].outputs["id"]
    );

    assert!(!fx.plan().await.has_changes(), "a second plan is empty");

    fx.edit(&CHAIN.replace("label = \"uses", "label = \"now uses"));
    let update = fx.plan().await;
    assert_eq!(
        actions(&update),
        [("mem.thing.app".to_owned(), Action::Update)]
    );
    assert!(fx.apply(&update).await.ok());

    fx.edit(&CHAIN.replace("name = \"db\"", "name = \"db2\""));
    let replace = fx.plan().await;
    assert_eq!(
        actions(&replace),
        [
            ("mem.thing.db".to_owned(), Action::Replace),
            ("mem.thing.app".to_owned(), Action::Update)
        ],
        "a forced replacement makes readers of its computed attributes update"
    );
    assert_eq!(
        replace.changes[0].reasons,
        ["`name` cannot be changed in place"]
    );
    assert!(fx.apply(&replace).await.ok());
    assert!(!fx.plan().await.has_changes());

    let destroy = fx
        .plan_with(PlanOptions {
            destroy: true,
            ..PlanOptions::default()
        })
        .await;
    assert_eq!(destroy.count(Action::Delete), 4);
    assert_eq!(
        destroy.changes.first().map(|c| c.address.as_str()),
        Some("mem.thing.web[\"b\"]")
    );
    assert!(fx.apply(&destroy).await.ok());
    assert!(fx.state().await.resources.is_empty());
    assert!(
        fx.memory.objects.lock().unwrap().is_empty(),
        "nothing left behind"
    );
    assert!(fx.memory.object("mem.thing.db").is_none());
}

/// Fields a provider declares immutable (`ReplaceOn`, a Job's pod template) replace the
/// resource when they change, wherever they sit in an open attribute; their siblings update.
#[tokio::test]
async fn a_change_under_an_immutable_path_replaces_and_its_siblings_update() {
    let stack = |parallelism: u32, image: &str, frozen: bool, data: &str| {
        format!(
            r#"
stack jobs {{}}
resource mem.thing job {{
  name = "job"
  spec = {{ parallelism = {parallelism}, template = {{ containers = [{{ image = "{image}" }}] }} }}
  frozen = {frozen}
  data = {{ key = "{data}" }}
}}
"#
        )
    };
    let fx = Fixture::new(&stack(1, "odoo:18", false, "a"));
    assert!(fx.apply(&fx.plan().await).await.ok());

    fx.edit(&stack(2, "odoo:18", false, "a"));
    let update = fx.plan().await;
    assert_eq!(
        actions(&update),
        [("mem.thing.job".to_owned(), Action::Update)]
    );
    assert!(fx.apply(&update).await.ok());

    fx.edit(&stack(2, "odoo:19", false, "a"));
    let replace = fx.plan().await;
    assert_eq!(
        actions(&replace),
        [("mem.thing.job".to_owned(), Action::Replace)]
    );
    assert_eq!(
        replace.changes[0].reasons,
        ["`spec.template.containers` cannot be changed in place"]
    );
    assert!(fx.apply(&replace).await.ok());

    // `data` is frozen only once `frozen` was true before the change.
    fx.edit(&stack(2, "odoo:19", true, "b"));
    assert_eq!(
        actions(&fx.plan().await),
        [("mem.thing.job".to_owned(), Action::Update)]
    );
    assert!(fx.apply(&fx.plan().await).await.ok());
    fx.edit(&stack(2, "odoo:19", true, "c"));
    let frozen = fx.plan().await;
    assert_eq!(
        actions(&frozen),
        [("mem.thing.job".to_owned(), Action::Replace)]
    );
    assert_eq!(
        frozen.changes[0].reasons,
        ["`data.key` cannot be changed in place"]
    );
}

/// The paths and values of a diff, for assertions.
fn diff_rows(diffs: &[obp_engine::plan::AttrDiff]) -> Vec<(String, Option<Json>, Option<Json>)> {
    diffs
        .iter()
        .map(|d| (d.path.clone(), d.before.clone(), d.after.clone()))
        .collect()
}

/// A list of records is diffed element by element, matched by `name` (or the schema's key
/// for that list): one changed leaf is one diff at `list[name=x].leaf`, an added or removed
/// element is one diff holding it whole, and a list without such keys, or reordered, is
/// diffed whole.
#[test]
fn lists_of_records_are_diffed_by_element_key() {
    let schemas = obp_engine::testing::schemas();
    let thing = &schemas[0];
    let container = |name: &str, image: &str| {
        json!({"name": name, "image": image,
               "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
               "ports": [{"port": 8069}, {"port": 8072, "protocol": "TCP"}]})
    };
    let attrs = |containers: Json| {
        std::collections::BTreeMap::from([
            ("pod".to_owned(), json!({ "containers": containers })),
            ("tags".to_owned(), json!(["a", "b"])),
        ])
    };
    let base = attrs(json!([
        container("odoo", "odoo:18"),
        container("cron", "odoo:18")
    ]));
    let diff = |after: &std::collections::BTreeMap<String, Json>| {
        diff_rows(&obp_engine::plan::diff_maps(&base, after, Some(thing)))
    };
    let row =
        |path: &str, before: Option<Json>, after: Option<Json>| (path.to_owned(), before, after);

    // One image: only that leaf, not the list twice.
    let image = attrs(json!([
        container("odoo", "odoo:19"),
        container("cron", "odoo:18")
    ]));
    assert_eq!(
        diff(&image),
        [row(
            "pod.containers[name=odoo].image",
            Some(json!("odoo:18")),
            Some(json!("odoo:19"))
        )]
    );

    // Nested lists are keyed too: one environment variable, one port (by the schema's key).
    let mut nested = container("odoo", "odoo:18");
    nested["env"][1]["value"] = json!("3");
    nested["ports"][1]["protocol"] = json!("UDP");
    let nested = attrs(json!([nested, container("cron", "odoo:18")]));
    assert_eq!(
        diff(&nested),
        [
            row(
                "pod.containers[name=odoo].env[name=B].value",
                Some(json!("2")),
                Some(json!("3"))
            ),
            row(
                "pod.containers[name=odoo].ports[port=8072].protocol",
                Some(json!("TCP")),
                Some(json!("UDP"))
            ),
        ]
    );

    // Added and removed elements, whole; keys that are not plain words are quoted.
    let added = attrs(json!([
        container("odoo", "odoo:18"),
        {"name": "log shipper", "image": "vector:1"},
    ]));
    assert_eq!(
        diff(&added),
        [
            row(
                "pod.containers[name=cron]",
                Some(container("cron", "odoo:18")),
                None
            ),
            row(
                "pod.containers[name=\"log shipper\"]",
                None,
                Some(json!({"name": "log shipper", "image": "vector:1"}))
            ),
        ]
    );

    // A reorder alone is a change: shown as the whole list.
    let reordered = attrs(json!([
        container("cron", "odoo:18"),
        container("odoo", "odoo:18")
    ]));
    assert_eq!(
        diff(&reordered),
        [row(
            "pod.containers",
            base["pod"].get("containers").cloned(),
            reordered["pod"].get("containers").cloned()
        )]
    );

    // Without a distinct key per element (a list of strings, a duplicate name): whole.
    let mut strings = base.clone();
    strings.insert("tags".to_owned(), json!(["a", "c"]));
    assert_eq!(
        diff(&strings),
        [row(
            "tags",
            Some(json!(["a", "b"])),
            Some(json!(["a", "c"]))
        )]
    );
    let twins = json!([container("odoo", "odoo:19"), container("odoo", "odoo:18")]);
    let twins_before = json!([container("odoo", "odoo:18"), container("odoo", "odoo:18")]);
    assert_eq!(
        diff_rows(&obp_engine::plan::diff_maps(
            &attrs(twins_before.clone()),
            &attrs(twins.clone()),
            Some(thing)
        )),
        [row("pod.containers", Some(twins_before), Some(twins))]
    );
}

/// Element paths extend the list's path, so a provider's immutable path (`spec.template`)
/// still replaces the resource for a change inside a list under it, and `ignore_changes` on
/// that path still keeps the change out of the plan.
#[tokio::test]
async fn a_list_element_under_an_immutable_path_replaces_unless_ignored() {
    let stack = |image: &str, ignore: bool| {
        let lifecycle = if ignore {
            "  lifecycle { ignore_changes = [\"spec.template\"] }\n"
        } else {
            ""
        };
        format!(
            r#"
stack jobs {{}}
resource mem.thing job {{
  name = "job"
  spec = {{ template = {{ containers = [{{ name = "odoo", image = "{image}" }}, {{ name = "side", image = "x" }}] }} }}
{lifecycle}}}
"#
        )
    };
    let fx = Fixture::new(&stack("odoo:18", false));
    assert!(fx.apply(&fx.plan().await).await.ok());

    fx.edit(&stack("odoo:19", false));
    let replace = fx.plan().await;
    assert_eq!(
        actions(&replace),
        [("mem.thing.job".to_owned(), Action::Replace)]
    );
    assert_eq!(
        replace.changes[0].reasons,
        ["`spec.template.containers[name=odoo].image` cannot be changed in place"]
    );
    assert!(replace.changes[0].diffs.iter().all(|d| d.forces_replace));

    fx.edit(&stack("odoo:19", true));
    assert_eq!(actions(&fx.plan().await), []);
}

/// Two providers may serve one resource type with different schemas: a resource is planned
/// with the schema of the provider it uses, not of the first one declaring the type.
#[tokio::test]
async fn a_resource_is_planned_with_the_schema_of_its_own_provider() {
    let stack = |name: &str| {
        format!(
            "stack two {{}}\nresource mem.thing a {{ name = \"{name}\" }}\nresource mem.thing b {{ name = \"{name}\", provider = \"lenient\" }}\n"
        )
    };
    let mut fx = Fixture::new(&stack("one"));
    fx.providers
        .insert("lenient", Arc::new(MemoryProvider::lenient()));
    assert!(fx.apply(&fx.plan().await).await.ok());
    fx.edit(&stack("two"));
    assert_eq!(
        actions(&fx.plan().await),
        [
            ("mem.thing.a".to_owned(), Action::Replace),
            ("mem.thing.b".to_owned(), Action::Update),
        ]
    );
}

/// A provider that renders the apply order gets waves: the fewest the dependencies allow,
/// counting dependencies through resources it does not order; a new wave is an update
/// (shown as such), recorded in state, and then no change.
#[tokio::test]
async fn an_ordering_provider_gets_waves_and_a_new_wave_is_an_update() {
    let stack = |through: &str| {
        format!(
            r#"
stack waves {{}}
resource mem.thing a {{ name = "a" }}
resource mem.strict b {{ size = 1, label = mem.thing.a.name }}
resource mem.thing c {{ name = "c", after = {through} }}
resource mem.thing d {{ name = "d" }}
"#
        )
    };
    let mut fx = Fixture::new(&stack("mem.strict.b.label"));
    fx.providers = Providers::new();
    fx.providers
        .insert("mem", Arc::new(MemoryProvider::ordering()));
    let first = fx.plan().await;
    let wave = |plan: &Plan, address: &str| {
        plan.changes
            .iter()
            .find(|c| c.address == address)
            .and_then(|c| c.order)
    };
    assert_eq!(wave(&first, "mem.thing.a"), Some(0));
    assert_eq!(
        wave(&first, "mem.strict.b"),
        None,
        "mem.strict is not ordered"
    );
    assert_eq!(wave(&first, "mem.thing.c"), Some(1), "after a, through b");
    assert_eq!(wave(&first, "mem.thing.d"), Some(0));
    assert!(fx.apply(&first).await.ok());
    assert_eq!(fx.state().await.resources["mem.thing.c"].order, Some(1));
    assert!(!fx.plan().await.has_changes());

    // c no longer waits for anything: its wave drops, and only that changes.
    fx.edit(&stack("\"now\""));
    let moved = fx.plan().await;
    assert_eq!(
        actions(&moved),
        [("mem.thing.c".to_owned(), Action::Update)]
    );
    let diffs: Vec<(&str, Option<&serde_json::Value>)> = moved
        .changes
        .iter()
        .find(|c| c.address == "mem.thing.c")
        .unwrap()
        .diffs
        .iter()
        .map(|d| (d.path.as_str(), d.after.as_ref()))
        .collect();
    assert!(
        diffs.contains(&("(apply order wave)", Some(&json!(0)))),
        "{diffs:?}"
    );
    assert!(fx.apply(&moved).await.ok());
    assert_eq!(fx.state().await.resources["mem.thing.c"].order, Some(0));
    assert!(!fx.plan().await.has_changes());
}

#[tokio::test]
async fn removed_resources_are_deleted_dependents_first() {
    let fx = Fixture::new(CHAIN);
    assert!(fx.apply(&fx.plan().await).await.ok());
    fx.edit("stack chain {}\nresource mem.thing db { name = \"db\" }\n");
    let plan = fx.plan().await;
    let deletes: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.address.as_str())
        .collect();
    assert_eq!(
        deletes,
        [
            "mem.thing.web[\"b\"]",
            "mem.thing.web[\"a\"]",
            "mem.thing.app"
        ]
    );
    let deps_of_app = &plan
        .changes
        .iter()
        .find(|c| c.address == "mem.thing.app")
        .unwrap()
        .deps;
    assert_eq!(
        deps_of_app.len(),
        2,
        "the app waits for both web deletions: {deps_of_app:?}"
    );
    assert!(fx.apply(&plan).await.ok());
    assert_eq!(fx.state().await.resources.len(), 1);
}

#[tokio::test]
async fn targeting_takes_dependencies_and_exclude_leaves_things_alone() {
    let fx = Fixture::new(CHAIN);
    let targeted = fx
        .plan_with(PlanOptions {
            targets: vec!["mem.thing.app".into()],
            refresh: true,
            ..PlanOptions::default()
        })
        .await;
    assert_eq!(
        actions(&targeted),
        [
            ("mem.thing.db".to_owned(), Action::Create),
            ("mem.thing.app".to_owned(), Action::Create)
        ]
    );
    let excluded = fx
        .plan_with(PlanOptions {
            excludes: vec!["mem.thing.web".into()],
            refresh: true,
            ..PlanOptions::default()
        })
        .await;
    assert_eq!(excluded.count(Action::Create), 2);
    let state = fx.state().await;
    let error = plan(
        &fx.config(),
        state,
        &fx.providers,
        &PlanOptions {
            targets: vec!["mem.thing.nope".into()],
            ..PlanOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(error[0].code, "E0502");
}

#[tokio::test]
async fn a_saved_plan_is_refused_when_config_or_state_changed() {
    let fx = Fixture::new(CHAIN);
    let planned = fx.plan().await;
    let file = fx.dir.path().join("plan.obpplan");
    saved::write(&file, &planned).unwrap();
    let loaded = saved::read(&file).unwrap();
    assert_eq!(loaded, planned);
    saved::check_fresh(&loaded, &fx.config().hash(), &fx.state().await).unwrap();

    fx.edit(&CHAIN.replace("\"db\"", "\"other\""));
    let stale = saved::check_fresh(&loaded, &fx.config().hash(), &fx.state().await).unwrap_err();
    assert!(matches!(
        stale,
        obp_engine::errors::StateError::StaleConfig { .. }
    ));

    fx.edit(CHAIN);
    assert!(fx.apply(&fx.plan().await).await.ok());
    let stale = saved::check_fresh(&loaded, &fx.config().hash(), &fx.state().await).unwrap_err();
    assert!(matches!(
        stale,
        obp_engine::errors::StateError::StaleState { .. }
    ));
}

#[tokio::test]
async fn a_failure_skips_dependents_keeps_successes_and_a_rerun_converges() {
    let fx = Fixture::new(CHAIN);
    fx.memory.fail("mem.thing.app");
    let report = fx.apply(&fx.plan().await).await;
    assert_eq!(
        report.succeeded,
        [("mem.thing.db".to_owned(), Action::Create)]
    );
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, "mem.thing.app");
    assert_eq!(
        report.skipped,
        [
            (
                "mem.thing.web[\"a\"]".to_owned(),
                "mem.thing.app".to_owned()
            ),
            (
                "mem.thing.web[\"b\"]".to_owned(),
                "mem.thing.app".to_owned()
            )
        ]
    );
    let state = fx.state().await;
    assert_eq!(state.resources.keys().collect::<Vec<_>>(), ["mem.thing.db"]);
    fx.memory.heal();
    let rerun = fx.plan().await;
    assert_eq!(rerun.count(Action::Create), 3);
    assert!(fx.apply(&rerun).await.ok());
    assert!(!fx.plan().await.has_changes());
}

#[tokio::test]
async fn a_second_operation_fails_fast_on_the_lock_and_writes_nothing() {
    let fx = Fixture::new(CHAIN);
    let guard = fx.backend.lock(LockInfo::new("apply")).await.unwrap();
    let error = fx.backend.lock(LockInfo::new("apply")).await.err().unwrap();
    let diagnostic = obp_lang::diagnostics::IntoDiagnostic::into_diagnostic(error);
    assert_eq!(diagnostic.code, "E0601");
    assert!(
        diagnostic.message.contains("apply since"),
        "{}",
        diagnostic.message
    );
    assert!(diagnostic.message.contains(&guard.info().id));
    assert!(!fx.dir.path().join("obp.state.json").exists());
    drop(guard);
    assert!(fx.backend.lock(LockInfo::new("apply")).await.is_ok());
}

#[tokio::test]
async fn drift_is_reported_and_planned_back() {
    let fx = Fixture::new(CHAIN);
    assert!(fx.apply(&fx.plan().await).await.ok());
    fx.memory
        .tamper("mem.thing.db", "name", json!("hand-edited"));
    let plan = fx.plan().await;
    assert_eq!(plan.drift.len(), 1);
    assert_eq!(plan.drift[0].diffs[0].path, "name");
    assert_eq!(
        actions(&plan)[0],
        ("mem.thing.db".to_owned(), Action::Replace)
    );
}

#[tokio::test]
async fn moved_blocks_rename_without_destroying() {
    let fx = Fixture::new("stack m {}\nresource mem.thing old { name = \"x\" }\n");
    assert!(fx.apply(&fx.plan().await).await.ok());
    fx.edit("stack m {}\nresource mem.thing new { name = \"x\" }\nmoved {\n  from = \"mem.thing.old\"\n  to = \"mem.thing.new\"\n}\n");
    let plan = fx.plan().await;
    assert_eq!(
        plan.moved,
        [("mem.thing.old".to_owned(), "mem.thing.new".to_owned())]
    );
    assert!(actions(&plan).is_empty(), "{:?}", actions(&plan));
    assert!(fx.apply(&plan).await.ok());
    assert!(fx.state().await.resources.contains_key("mem.thing.new"));
    assert!(!fx.plan().await.has_changes());
}

#[tokio::test]
async fn lifecycle_rules_are_honoured() {
    let fx = Fixture::new(
        "stack l {}\nresource mem.thing keep {\n  name = \"k\"\n  size = 1\n  lifecycle {\n    prevent_destroy = true\n    ignore_changes = [\"size\"]\n  }\n}\n",
    );
    assert!(fx.apply(&fx.plan().await).await.ok());
    fx.edit(
        &std::fs::read_to_string(fx.dir.path().join("stack.obp"))
            .unwrap()
            .replace("size = 1", "size = 2"),
    );
    assert!(!fx.plan().await.has_changes(), "ignored attribute");
    let state = fx.state().await;
    let destroy = plan(
        &fx.config(),
        state,
        &fx.providers,
        &PlanOptions {
            destroy: true,
            ..PlanOptions::default()
        },
    )
    .await;
    assert_eq!(destroy.unwrap_err()[0].code, "E0611");
}

#[tokio::test]
async fn schema_errors_point_at_the_attribute() {
    let fx = Fixture::new("stack s {}\nresource mem.strict x {\n  label = 3\n  colour = \"red\"\n}\nresource mem.thingy y {}\n");
    let state = fx.state().await;
    let errors = plan(&fx.config(), state, &fx.providers, &PlanOptions::default())
        .await
        .unwrap_err();
    let codes: Vec<&str> = errors.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["E0701", "E0702", "E0702", "E0702"], "{errors:#?}");
    assert!(errors
        .iter()
        .any(|d| d.help.iter().any(|h| h.contains("mem.thing"))));
}

#[tokio::test]
async fn plan_output_snapshots() {
    let fx = Fixture::new(CHAIN);
    assert!(fx.apply(&fx.plan().await).await.ok());
    fx.edit(
        &(CHAIN
            .replace("name = \"db\"", "name = \"db2\"")
            .replace("[\"a\", \"b\"]", "[\"a\"]")
            + "resource mem.thing extra { name = \"e\", password = secret(\"db/extra\") }\n"),
    );
    let plan = fx.plan().await;
    insta::assert_snapshot!("plan_human", render::human(&plan, false));
    let mut json = render::json(&plan);
    json["lineage"] = json!("(lineage)");
    json["config_hash"] = json!("(hash)");
    insta::assert_json_snapshot!("plan_json", json);
}

/// The blast radius groups a plan's changes by the group their provider reports (a tenant),
/// or the one their module's resources agree on, and lists each group's effects; changes
/// beside several tenants' resources, or at the root, are shared.
#[tokio::test]
async fn the_blast_radius_groups_changes_and_their_effects_by_tenant() {
    let stack = |image: &str, release: &str, acme_size: u32, pool_size: u32| {
        format!(
            r#"
stack br {{}}
let image = "{image}"
use lib.tenant as t for each ["acme", "globex"] {{
  name = each.value
  image = image
  release = "{release}"
  size = if each.value == "acme" then {acme_size} else 1
}}
use lib.pool as pool {{ size = {pool_size} }}
resource mem.thing router {{ name = "router", spec = {{ template = {{ image = "traefik:3" }} }}, pod = {{ replicas = {pool_size} }} }}
"#
        )
    };
    let fx = Fixture::new(&stack("odoo:18", "r1", 1, 1));
    std::fs::create_dir_all(fx.dir.path().join("blueprints/lib")).unwrap();
    std::fs::write(
        fx.dir.path().join("blueprints/lib/tenant.obp"),
        r#"
module lib.tenant
param name: string
param image: string
param release: string
param size: int
resource mem.thing web { name = "web-${name}", tenant = name, pod = { containers = [{ name = "odoo", image = image }] } }
resource mem.thing upgrade { name = "upgrade-${name}-${release}", tenant = name, job = true }
resource mem.thing db { name = "db-${name}", size = size }
"#,
    )
    .unwrap();
    std::fs::write(
        fx.dir.path().join("blueprints/lib/pool.obp"),
        r#"
module lib.pool
param size: int
resource mem.thing a { name = "pool-acme", tenant = "acme" }
resource mem.thing g { name = "pool-globex", tenant = "globex" }
resource mem.thing spare { name = "pool-spare", size = size }
"#,
    )
    .unwrap();
    assert!(fx.apply(&fx.plan().await).await.ok());

    // A new image for everyone, a new release (a new upgrade job per tenant), a bigger
    // database for acme, a change to the pool's own resource and the router's pods.
    fx.edit(&stack("odoo:19", "r2", 2, 2));
    let plan = fx.plan().await;
    let groups: Vec<(String, Option<String>)> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| (c.address.clone(), c.impact.group.clone()))
        .collect();
    assert!(
        groups.contains(&(
            "t[\"acme\"].mem.thing.db".to_owned(),
            Some("acme".to_owned())
        )),
        "a tenant's unlabelled database takes its module's group: {groups:?}"
    );
    assert!(
        groups.contains(&("pool.mem.thing.spare".to_owned(), None)),
        "beside two tenants' resources it stays shared: {groups:?}"
    );
    let text = render::human(&plan, false);
    let section = &text[text
        .find("\nBlast radius:")
        .expect("a blast radius section")..];
    insta::assert_snapshot!("blast_radius_human", section);
    insta::assert_json_snapshot!("blast_radius_json", render::json(&plan)["blast_radius"]);

    // A plan whose providers say nothing about groups or effects has no such section.
    assert!(fx.apply(&plan).await.ok());
    fx.edit(&stack("odoo:19", "r2", 2, 2).replace("name = \"router\"", "name = \"router\", x = 1"));
    let quiet = render::human(&fx.plan().await, false);
    assert!(!quiet.contains("Blast radius"), "{quiet}");
}

#[tokio::test]
async fn dependencies_cross_modules_and_for_each_instances() {
    let fx = Fixture::new(
        r#"
stack mods {}
resource mem.thing shared { name = "shared" }
use lib.tenant as t for each ["acme", "globex"] {
  name = each.value
  shared_id = mem.thing.shared.id
}
resource mem.thing report { name = "report", sources = [t["acme"].db_id, t["globex"].db_id] }
"#,
    );
    std::fs::create_dir_all(fx.dir.path().join("blueprints/lib")).unwrap();
    std::fs::write(
        fx.dir.path().join("blueprints/lib/tenant.obp"),
        r#"
module lib.tenant
param name: string
param shared_id: any
resource mem.thing db { name = "db-${name}", shared = shared_id }
resource mem.thing app { name = "app-${name}", db = mem.thing.db.id }
output db_id = mem.thing.db.id
"#,
    )
    .unwrap();
    let config = fx.config();
    let graph = Graph::build(&config, None).unwrap();
    assert_eq!(
        graph.dependencies("t[\"acme\"].mem.thing.db"),
        ["mem.thing.shared"]
    );
    assert_eq!(
        graph.dependencies("t[\"acme\"].mem.thing.app"),
        ["t[\"acme\"].mem.thing.db"]
    );
    assert_eq!(
        graph.dependencies("mem.thing.report"),
        ["t[\"acme\"].mem.thing.db", "t[\"globex\"].mem.thing.db"]
    );
    let order = graph.apply_order();
    let position = |a: &str| order.iter().position(|x| x == a).unwrap();
    assert!(position("mem.thing.shared") < position("t[\"globex\"].mem.thing.db"));
    assert!(position("t[\"globex\"].mem.thing.db") < position("mem.thing.report"));
    // Values flow through module outputs at apply time.
    let report = fx.apply(&fx.plan().await).await;
    assert!(report.ok(), "{report:?}");
    let state = fx.state().await;
    let acme_db = state.resources["t[\"acme\"].mem.thing.db"].outputs["id"].clone();
    assert_eq!(
        state.resources["mem.thing.report"].inputs["sources"][0],
        acme_db
    );
    assert_eq!(
        state.resources["t[\"acme\"].mem.thing.db"].inputs["shared"],
        state.resources["mem.thing.shared"].outputs["id"]
    );
}

#[tokio::test]
async fn a_panicking_provider_fails_its_change_and_skips_its_dependents() {
    let fx = Fixture::new(CHAIN);
    fx.memory.panic("mem.thing.app");
    let report = fx.apply(&fx.plan().await).await;
    assert!(!report.ok(), "a panic is never ok: {report:?}");
    assert_eq!(
        report.succeeded,
        [("mem.thing.db".to_owned(), Action::Create)]
    );
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].0, "mem.thing.app");
    let message = report.failed[0].1.to_string();
    assert!(
        message.contains("panicked") && message.contains("injected panic on mem.thing.app"),
        "{message}"
    );
    assert_eq!(report.skipped.len(), 2, "both webs wait for the app");
    assert!(report.not_started.is_empty() && report.halted.is_none());
    let state = fx.state().await;
    assert_eq!(state.resources.keys().collect::<Vec<_>>(), ["mem.thing.db"]);
    fx.memory.heal();
    assert!(fx.apply(&fx.plan().await).await.ok());
    assert!(!fx.plan().await.has_changes());
}

#[tokio::test]
async fn destroy_forgets_what_it_finds_already_gone() {
    let fx = Fixture::new(CHAIN);
    assert!(fx.apply(&fx.plan().await).await.ok());
    // Removed by hand (or deleted by a destroy killed before it could record it).
    fx.memory.vanish("mem.thing.web[\"a\"]");
    let destroy = fx.destroy_plan().await;
    assert_eq!(destroy.count(Action::Delete), 3);
    let report = fx.apply(&destroy).await;
    assert!(report.ok(), "{report:?}");
    assert!(
        fx.state().await.resources.is_empty(),
        "state still claims {:?}",
        fx.state().await.resources.keys().collect::<Vec<_>>()
    );
    assert!(!fx.destroy_plan().await.has_changes());
}

#[tokio::test]
async fn apply_forgets_what_it_finds_gone_even_when_the_recreate_fails() {
    let fx = Fixture::new(CHAIN);
    assert!(fx.apply(&fx.plan().await).await.ok());
    fx.memory.vanish("mem.thing.web[\"a\"]");
    fx.memory.fail("mem.thing.web[\"a\"]");
    let report = fx.apply(&fx.plan().await).await;
    assert_eq!(report.failed.len(), 1);
    assert!(!fx
        .state()
        .await
        .resources
        .contains_key("mem.thing.web[\"a\"]"));
}

#[tokio::test]
async fn a_failed_state_write_stops_starting_changes_and_names_what_did_not_start() {
    let fx = Fixture::new(&wide(40));
    let plan = fx.plan().await;
    let faulty = Arc::new(FaultyBackend::new(fx.backend.clone()));
    faulty.fail_after(3);
    let options = ApplyOptions {
        parallelism: 2,
        ..ApplyOptions::default()
    };
    let report = fx.apply_with(&plan, faulty.clone(), &options).await;
    assert!(!report.ok());
    assert!(report.state_error.is_some());
    assert_eq!(
        report.halted.as_deref(),
        Some("state can no longer be written")
    );
    // After the failed append only the changes already running may finish.
    let created = creates(&fx.memory);
    assert!(
        created <= report.succeeded.len() + options.parallelism && created < 10,
        "{created} creates started, {} recorded",
        report.succeeded.len()
    );
    assert_eq!(report.succeeded.len() + report.unrecorded.len(), created);
    assert!(!report.unrecorded.is_empty());
    assert_eq!(report.not_started.len(), 40 - created, "{report:?}");
    // The journal keeps what was recorded; the final write was not attempted over it.
    let state = fx.state().await;
    assert_eq!(state.resources.len(), report.succeeded.len());
}

#[tokio::test]
async fn a_lost_lock_stops_starting_changes_and_skips_the_final_write() {
    let fx = Fixture::new(&wide(20));
    let plan = fx.plan().await;
    let faulty = Arc::new(FaultyBackend::new(fx.backend.clone()));
    faulty.lose_lock();
    let report = fx
        .apply_with(&plan, faulty.clone(), &ApplyOptions::default())
        .await;
    assert_eq!(creates(&fx.memory), 0);
    assert_eq!(report.not_started.len(), 20);
    assert!(report.halted.unwrap().contains("lock"));
    assert!(matches!(
        report.state_error,
        Some(obp_engine::errors::StateError::LockLost { .. })
    ));
    assert!(!fx.dir.path().join("obp.state.json").exists());
}

#[tokio::test]
async fn a_stop_request_lets_running_changes_finish_and_starts_nothing_new() {
    let fx = Fixture::new(&wide(30));
    let plan = fx.plan().await;
    let options = ApplyOptions {
        parallelism: 1,
        ..ApplyOptions::default()
    };
    /// Asks for a stop when the fifth change starts.
    struct StopAtFifth(obp_engine::apply::Stop, std::sync::atomic::AtomicUsize);
    impl obp_engine::apply::Progress for StopAtFifth {
        fn started(&self, _: &obp_engine::plan::Change) {
            if self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 4 {
                self.0.request("interrupted by SIGINT");
            }
        }
    }
    let state = fx.state().await;
    let report = apply(
        &plan,
        state,
        &fx.providers,
        fx.backend.clone(),
        &options,
        Arc::new(StopAtFifth(options.stop.clone(), 0.into())),
    )
    .await;
    assert_eq!(report.halted.as_deref(), Some("interrupted by SIGINT"));
    assert_eq!(report.succeeded.len(), 5, "the running change finished");
    assert_eq!(report.not_started.len(), 25);
    assert!(report.state_error.is_none());
    // The final state was written (no journal left) and holds the five.
    assert!(!fx.backend.journal_path().exists());
    assert_eq!(fx.state().await.resources.len(), 5);
}

#[tokio::test]
async fn apply_records_what_refresh_read_so_its_own_writes_are_not_drift() {
    let fx = Fixture::new(CHAIN);
    assert!(fx.apply(&fx.plan().await).await.ok());
    // An update whose write landed but which a crash kept from state.
    fx.edit(&CHAIN.replace("name = \"app\"", "name = \"app\", tier = \"gold\""));
    fx.memory.tamper("mem.thing.app", "tier", json!("gold"));
    let converge = fx.plan().await;
    assert_eq!(converge.drift.len(), 1);
    assert!(
        !converge.has_changes(),
        "live already matches the configuration"
    );
    assert!(fx.apply(&converge).await.ok());
    assert!(
        fx.plan().await.drift.is_empty(),
        "obp's own write is reported as drift"
    );
    assert_eq!(
        fx.state().await.resources["mem.thing.app"].inputs["tier"],
        json!("gold")
    );
}

#[tokio::test]
async fn a_resource_that_cannot_be_read_fails_the_plan_naming_it() {
    let fx = Fixture::new(&wide(15));
    assert!(fx.apply(&fx.plan().await).await.ok());
    fx.memory.fail_read("mem.thing.x[\"k3\"]");
    let state = fx.state().await;
    let options = PlanOptions {
        refresh: true,
        ..PlanOptions::default()
    };
    let errors = plan(&fx.config(), state.clone(), &fx.providers, &options)
        .await
        .expect_err("an unreadable resource cannot be planned as unchanged");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, "E0720");
    assert!(errors[0].message.contains("mem.thing.x[\"k3\"]"));
    // Many failures: the first ten by name, the rest counted in the last.
    for n in 0..15 {
        fx.memory.fail_read(&format!("mem.thing.x[\"k{n}\"]"));
    }
    let errors = plan(&fx.config(), state.clone(), &fx.providers, &options)
        .await
        .unwrap_err();
    assert_eq!(errors.len(), 10);
    assert!(errors[9]
        .message
        .contains("and 5 more resources could not be read"));
    // Without refresh, state is planned from as it is.
    assert!(
        plan(&fx.config(), state, &fx.providers, &PlanOptions::default())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn after_a_stop_a_change_that_outlasts_the_grace_period_is_abandoned() {
    let fx = Fixture::new(&wide(6));
    let plan = fx.plan().await;
    fx.memory
        .slow("mem.thing.x[\"k1\"]", std::time::Duration::from_secs(30));
    let options = ApplyOptions {
        parallelism: 2,
        grace: std::time::Duration::from_millis(200),
        ..ApplyOptions::default()
    };
    /// Asks for a stop once the slow change runs.
    struct StopWhenSlowStarts(obp_engine::apply::Stop);
    impl obp_engine::apply::Progress for StopWhenSlowStarts {
        fn started(&self, change: &obp_engine::plan::Change) {
            if change.address == "mem.thing.x[\"k1\"]" {
                self.0.request("interrupted by SIGTERM");
            }
        }
    }
    let started = std::time::Instant::now();
    let state = fx.state().await;
    let report = apply(
        &plan,
        state,
        &fx.providers,
        fx.backend.clone(),
        &options,
        Arc::new(StopWhenSlowStarts(options.stop.clone())),
    )
    .await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the grace period did not bound the wait"
    );
    assert_eq!(report.interrupted, ["mem.thing.x[\"k1\"]"]);
    assert_eq!(report.succeeded.len(), 1, "{report:?}");
    assert_eq!(report.not_started.len(), 4);
    // What finished is in the state written at the end.
    assert!(report.state_error.is_none());
    assert_eq!(fx.state().await.resources.len(), 1);
    assert!(!fx.backend.journal_path().exists());
}
