//! The runnable examples, rendered for real: each one that needs no servers is applied with
//! the GitOps provider into a temporary directory; the tree is snapshotted and the Odoo rules
//! are asserted on the rendered output, not only on snapshots.

mod tree;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use obp_engine::apply::{apply, ApplyOptions, Quiet};
use obp_engine::plan::{plan, PlanOptions};
use obp_engine::state::local::LocalBackend;
use obp_engine::state::Backend;
use serde_json::Value as Json;

/// The providers of a configuration and its plan against empty state; panics naming `what`.
async fn first_plan(
    config: &obp_lang::Config,
    dir: &Path,
    what: &str,
) -> (obp_engine::provider::Providers, obp_engine::plan::Plan) {
    let providers =
        obp_providers::configure(config, dir).unwrap_or_else(|d| panic!("{what}: {d:#?}"));
    let made = plan(
        config,
        Default::default(),
        &providers,
        &PlanOptions::default(),
    )
    .await
    .unwrap_or_else(|d| panic!("{what}: {d:#?}"));
    (providers, made)
}

/// Copies an example to a temporary directory (applying `edit` to each file's text) and
/// applies it; returns the directory and the evaluated configuration.
async fn render(
    example: &str,
    edit: impl Fn(String) -> String,
) -> (tempfile::TempDir, obp_lang::Config) {
    render_with(example, &[], edit).await
}

/// [`render`] with these `--var` values.
async fn render_with(
    example: &str,
    vars: &[(&str, &str)],
    edit: impl Fn(String) -> String,
) -> (tempfile::TempDir, obp_lang::Config) {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(Path::new("examples").join(example))
        .unwrap()
        .flatten()
    {
        if entry.path().extension().is_some_and(|e| e == "obp") {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            std::fs::write(dir.path().join(entry.file_name()), edit(text)).unwrap();
        }
    }
    let config = tree::evaluate(dir.path(), vars, example);
    let (providers, made) = first_plan(&config, dir.path(), example).await;
    let backend = Arc::new(LocalBackend::new(dir.path().join("obp.state.json")));
    let report = apply(
        &made,
        Default::default(),
        &providers,
        backend.clone(),
        &ApplyOptions::default(),
        Arc::new(Quiet),
    )
    .await;
    assert!(report.ok(), "{report:?}");
    let state = backend.read().await.unwrap().unwrap();
    let again = plan(
        &config,
        state,
        &providers,
        &PlanOptions {
            refresh: true,
            ..PlanOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(
        !again.has_changes(),
        "a second plan of {example} is not empty"
    );
    (dir, config)
}

#[tokio::test]
async fn quickstart_renders_a_correct_odoo_stack() {
    let (dir, _config) = render("quickstart", |text| text).await;
    let rendered = tree::files(&dir.path().join("out"));
    insta::assert_snapshot!("quickstart_tree", tree::tree_text(&rendered));
    tree::assert_odoo_rules("quickstart", &rendered);
}

#[tokio::test]
async fn a_release_upgrade_waits_for_a_backup_checkpoint() {
    let with_upgrade = |text: String| {
        text.replace(
            "  modules = [",
            "  upgrade = [\"sale_management\"]\n  modules = [",
        )
    };
    let (_dir, config) = render("quickstart", with_upgrade).await;
    let upgrades: Vec<_> = config
        .resources
        .iter()
        .filter(|r| r.rtype == "k8s.job" && r.name == "upgrade")
        .collect();
    assert_eq!(upgrades.len(), 1, "one upgrade Job for the one database");
    for upgrade in upgrades {
        let checkpoint = upgrade
            .deps
            .iter()
            .find(|d| d.address.contains("checkpoint"));
        assert!(
            checkpoint.is_some(),
            "{} must depend on a backup checkpoint: {:?}",
            upgrade.address,
            upgrade.deps.iter().map(|d| &d.address).collect::<Vec<_>>()
        );
        let graph = obp_engine::graph::Graph::build(&config, None).unwrap();
        let order = graph.apply_order();
        let at = |a: &str| order.iter().position(|x| x == a).unwrap();
        assert!(at(&checkpoint.unwrap().address) < at(&upgrade.address));
    }
}

/// Plans `example`, already rendered into `dir`, again after `edit` changed its files: what a
/// new release of a running stack would show.
async fn replan(
    dir: &Path,
    example: &str,
    vars: &[(&str, &str)],
    edit: impl Fn(String) -> String,
) -> obp_engine::plan::Plan {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "obp") {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            std::fs::write(entry.path(), edit(text)).unwrap();
        }
    }
    let config = tree::evaluate(dir, vars, example);
    let providers = obp_providers::configure(&config, dir).unwrap();
    let backend = LocalBackend::new(dir.join("obp.state.json"));
    let state = backend.read().await.unwrap().unwrap();
    plan(
        &config,
        state,
        &providers,
        &PlanOptions {
            refresh: true,
            ..PlanOptions::default()
        },
    )
    .await
    .unwrap()
}

/// A new image digest for the quickstart's tenant shows, per Deployment, only the container
/// images that change (`…containers[name=odoo].image`), not the containers list twice.
#[tokio::test]
async fn a_new_image_digest_plans_only_the_changed_images() {
    let (dir, _config) = render("quickstart", |text| text).await;
    let old = "17876da7997cebd7e521fd6cbf57e531d06fe93e4df7359d434130d86a0b49ca";
    let new = "0000000000000000000000000000000000000000000000000000000000000017";
    let made = replan(dir.path(), "quickstart", &[], |text| text.replace(old, new)).await;
    let text = obp_engine::render::human(&made, false);
    assert!(
        !text.contains("containers = ["),
        "a whole containers list in the plan:\n{text}"
    );
    insta::assert_snapshot!("quickstart_new_digest_plan", text);
    let json = obp_engine::render::json(&made);
    let diffs: Vec<Json> = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "noop")
        .map(|c| serde_json::json!({ "address": c["address"], "diffs": c["diffs"] }))
        .collect();
    insta::assert_json_snapshot!("quickstart_new_digest_diffs", diffs);
}

/// A release in the multi-env example's dev environment (a new candidate digest and one
/// more module to upgrade) has its blast radius per tenant: the tenant's pods go down and come
/// back (Recreate: a ReadWriteOnce filestore), its schema upgrade Job runs (the blueprint
/// labels it so), and the plan's JSON carries the same.
#[tokio::test]
async fn a_release_shows_its_blast_radius_per_tenant() {
    let dev = [("environment", "dev")];
    let (dir, _config) = render_with("multi-env", &dev, |text| text).await;
    let old = "092740a34329f3e3d1fd6a86ce82536099c01feedd45da643f3cb9d943cf273b";
    let new = "0000000000000000000000000000000000000000000000000000000000000018";
    let made = replan(dir.path(), "multi-env", &dev, |text| {
        text.replace(old, new).replace(
            "upgrade = [\"sale_management\", \"stock\"]",
            "upgrade = [\"sale_management\", \"stock\", \"crm\"]",
        )
    })
    .await;
    let text = obp_engine::render::human(&made, false);
    let section = &text[text.find("\nBlast radius:").expect(&text)..];
    insta::assert_snapshot!("multi_env_release_blast_radius", section);
    let json = obp_engine::render::json(&made);
    insta::assert_json_snapshot!("multi_env_release_blast_radius_json", json["blast_radius"]);
}

/// Every example plans on a machine without any server: the configuration evaluates, every
/// provider accepts its configuration, and every resource passes its provider's validation
/// (every Kubernetes manifest is checked against its k8s-openapi type).
/// Every example, with the variables of each of its environments.
const EVERY_EXAMPLE: &[(&str, &[(&str, &str)])] = &[
    ("quickstart", &[]),
    ("dedicated", &[]),
    ("saas", &[]),
    ("hybrid", &[]),
    ("multi-env", &[("environment", "dev")]),
    ("multi-env", &[("environment", "staging")]),
    ("multi-env", &[("environment", "prod")]),
];

#[tokio::test]
async fn every_example_plans_without_servers() {
    for (example, vars) in EVERY_EXAMPLE {
        let dir = Path::new("examples").join(example);
        let what = format!("{example} {vars:?}");
        let config = tree::evaluate(&dir, vars, &what);
        let (_, made) = first_plan(&config, &dir, &what).await;
        assert_eq!(
            made.count(obp_engine::plan::Action::Create),
            config.resources.len(),
            "{example}"
        );
        assert!(config.resources.len() > 20, "{example} is a whole stack");
    }
}

/// The order survives into the GitOps render: in every example (Argo CD flavour, the
/// default), every Kubernetes object depends only on objects of earlier sync waves — directly,
/// or through resources obp applies itself (a database, a bucket) — and its file carries its
/// wave (the tree snapshots show the annotations). So a backup checkpoint Job comes before the
/// upgrade Job and both before the new pods.
#[tokio::test]
async fn every_dependency_of_every_example_is_an_earlier_sync_wave() {
    for (example, vars) in EVERY_EXAMPLE {
        let dir = Path::new("examples").join(example);
        let what = format!("{example} {vars:?}");
        let config = tree::evaluate(&dir, vars, &what);
        let (_, made) = first_plan(&config, &dir, &what).await;
        let graph = obp_engine::graph::Graph::build(&config, None).unwrap();
        let wave: std::collections::HashMap<&str, u32> = made
            .changes
            .iter()
            .filter_map(|c| Some((c.address.as_str(), c.order?)))
            .collect();
        let k8s = made.changes.iter().filter(|c| c.rtype.starts_with("k8s."));
        let mut edges = 0;
        for change in k8s {
            let mine = *wave
                .get(change.address.as_str())
                .unwrap_or_else(|| panic!("{what}: {} has no wave", change.address));
            // Every ordered resource reachable through unordered ones is a dependency too.
            let mut stack: Vec<&str> = graph.dependencies(&change.address);
            let mut seen = std::collections::HashSet::new();
            while let Some(dep) = stack.pop() {
                if !seen.insert(dep) {
                    continue;
                }
                match wave.get(dep) {
                    Some(theirs) => {
                        edges += 1;
                        assert!(
                            *theirs < mine,
                            "{what}: {} (wave {mine}) depends on {dep} (wave {theirs})",
                            change.address
                        );
                    }
                    None => stack.extend(graph.dependencies(dep)),
                }
            }
        }
        assert!(
            edges > 30,
            "{what}: only {edges} ordered dependencies checked"
        );
    }
}

/// A stack that opts in with `existing_namespace = true` may run in a namespace it does not
/// own, even one of the cluster's: it renders no Namespace, no quota and no container
/// defaults there, and its NetworkPolicies select its own pods only (a default-deny for all of
/// kube-system would cut off cluster DNS). Without the opt-in the namespace is refused.
#[tokio::test]
async fn a_stack_deploys_into_a_namespace_it_does_not_own_only_when_it_says_so() {
    let into = |namespace: &'static str, opt_in: bool| {
        move |text: String| {
            let extra = if opt_in {
                "\n  existing_namespace = true"
            } else {
                ""
            };
            text.replace(
                "  conf_dir = \"acme\"",
                &format!("  conf_dir = \"acme\"\n  namespace = \"{namespace}\"{extra}"),
            )
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("examples/quickstart/stack.obp").unwrap();
    std::fs::write(
        dir.path().join("stack.obp"),
        into("kube-system", false)(text),
    )
    .unwrap();
    let checked = obp_lang::check_stack(dir.path(), &Default::default());
    let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["E0308"], "{:#?}", checked.diagnostics);
    assert!(checked.diagnostics[0].message.contains("kube-system"));

    for namespace in ["kube-system", "odoo-shared-by-others"] {
        let (dir, _config) = render("quickstart", into(namespace, true)).await;
        let objects = tree::manifests(&tree::files(&dir.path().join("out")));
        let of_kind = |kind: &str| -> Vec<&Json> {
            objects
                .iter()
                .filter(|(_, o)| o["kind"] == kind)
                .map(|(_, o)| o)
                .collect()
        };
        assert!(
            of_kind("Namespace").is_empty(),
            "{namespace}: no Namespace object"
        );
        assert!(of_kind("ResourceQuota").is_empty(), "{namespace}: no quota");
        for limits in of_kind("LimitRange") {
            assert_eq!(limits["spec"]["limits"], Json::Array(vec![]), "{namespace}");
        }
        let policies = of_kind("NetworkPolicy");
        assert!(!policies.is_empty());
        for policy in policies {
            let selected = &policy["spec"]["podSelector"]["matchLabels"];
            assert!(
                selected.as_object().is_some_and(|m| !m.is_empty()),
                "{namespace}: {} selects every pod of the namespace",
                policy["metadata"]["name"]
            );
        }
        assert!(objects
            .iter()
            .all(|(_, o)| o["metadata"]["namespace"].is_null()
                || o["metadata"]["namespace"] == namespace));
    }
}

/// Leaf values of a record by dotted path (`spec.template.spec.containers[0].image`).
fn leaves(value: &Json, path: String, out: &mut BTreeMap<String, Json>) {
    match value {
        Json::Object(map) => map
            .iter()
            .for_each(|(k, v)| leaves(v, format!("{path}.{k}"), out)),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| leaves(v, format!("{path}[{i}]"), out)),
        other => {
            out.insert(path, other.clone());
        }
    }
}

/// A starter and an enterprise tenant, otherwise identical, differ only where the tenant type
/// declares something: sizing (replicas, requests/limits, workers and Odoo limits, storage,
/// connection limit), backup schedule and retention, rollout ring — and what follows from
/// them (quota totals, spreading and sticky sessions for several replicas, a config checksum).
#[tokio::test]
async fn a_starter_and_an_enterprise_tenant_differ_only_in_declared_ways() {
    let quickstart = std::fs::read_to_string("examples/quickstart/stack.obp").unwrap();
    let lets: String = quickstart
        .lines()
        .filter(|l| l.starts_with("let ") || l.starts_with("param "))
        .map(|l| format!("{l}\n"))
        .collect();
    let start = quickstart.find("use odoo.dedicated as acme {").unwrap();
    let end = start + quickstart[start..].find("\n}\n").unwrap() + 3;
    let tenant = quickstart[start..end].replace(
        "  conf_dir = \"acme\"",
        "  conf_dir = \"acme\"\n  filestore = { kind = \"pvc\", access_mode = \"ReadWriteMany\" }",
    );
    assert!(tenant.contains("tenant_type = \"starter\""));
    let stack = format!(
        "stack tiers {{}}\n{lets}\n{}\n{}",
        tenant.replace("as acme", "as small"),
        tenant
            .replace("as acme", "as large")
            .replace("tenant_type = \"starter\"", "tenant_type = \"enterprise\"")
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.obp"), stack).unwrap();
    let config = tree::evaluate(dir.path(), &[], "the starter/enterprise stack");

    let sized_lines = [
        "workers",
        "limit_memory_soft",
        "limit_memory_hard",
        "limit_time_cpu",
        "limit_time_real",
        "limit_request",
        "max_cron_threads",
    ];
    let declared = |rtype: &str, path: &str| {
        path.ends_with(".obp.dev/ring")
            || path.ends_with(".obp.dev/tenant-type")
            || path.ends_with(".obp.dev/config-checksum")
            || path == ".spec.replicas"
            || path.contains(".resources.limits.")
            || path.contains(".resources.requests.")
            || path.starts_with(".spec.hard.")
            || path.contains(".podAntiAffinity.")
            || path.contains(".sticky.cookie.")
            || (rtype == "k8s.pod_disruption_budget"
                && (path == ".spec.maxUnavailable" || path == ".spec.minAvailable"))
            || (rtype == "k8s.cron_job"
                && (path == ".spec.schedule" || path.contains(".containers[0].command[")))
    };
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut undeclared = Vec::new();
    let small: Vec<_> = config
        .resources
        .iter()
        .filter(|r| r.address.starts_with("small."))
        .collect();
    let large_count = config
        .resources
        .iter()
        .filter(|r| r.address.starts_with("large."))
        .count();
    assert_eq!(
        small.len(),
        large_count,
        "both tenants have the same resources"
    );
    for resource in small {
        let twin = config
            .resource(&format!("large.{}", &resource.address["small.".len()..]))
            .unwrap_or_else(|| panic!("no enterprise twin of {}", resource.address));
        let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
        leaves(
            &obp_engine::codec::to_json(&obp_lang::value::Value::record(resource.attrs.clone())),
            String::new(),
            &mut a,
        );
        leaves(
            &obp_engine::codec::to_json(&obp_lang::value::Value::record(twin.attrs.clone())),
            String::new(),
            &mut b,
        );
        let paths: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for path in paths {
            let (x, y) = (a.get(path), b.get(path));
            if x == y {
                continue;
            }
            if let (Some(Json::String(x)), Some(Json::String(y))) = (x, y) {
                // Rendered files: only sized lines may differ.
                if x.lines().count() == y.lines().count() && x.contains('\n') {
                    for (p, q) in x.lines().zip(y.lines()).filter(|(p, q)| p != q) {
                        let key = p.split([' ', '=']).next().unwrap_or_default();
                        let connection_limit =
                            p.contains("CONNECTION LIMIT") && q.contains("CONNECTION LIMIT");
                        if sized_lines.contains(&key) || connection_limit {
                            let what = if connection_limit {
                                "CONNECTION LIMIT"
                            } else {
                                key
                            };
                            *seen.entry(what.to_owned()).or_default() += 1;
                        } else {
                            undeclared.push(format!("{} {path}: {p:?} -> {q:?}", resource.address));
                        }
                    }
                    continue;
                }
            }
            if declared(&resource.rtype, path) {
                let what = if path == ".spec.replicas" {
                    "replicas"
                } else if path.contains("storage") {
                    "storage"
                } else if path == ".spec.schedule" {
                    "backup schedule"
                } else {
                    "other"
                };
                *seen.entry(what.to_owned()).or_default() += 1;
            } else {
                undeclared.push(format!("{} {path}: {x:?} -> {y:?}", resource.address));
            }
        }
    }
    assert!(
        undeclared.is_empty(),
        "differences the tenant type does not declare:\n{}",
        undeclared.join("\n")
    );
    for expected in [
        "replicas",
        "storage",
        "backup schedule",
        "workers",
        "limit_memory_hard",
        "max_cron_threads",
        "CONNECTION LIMIT",
    ] {
        assert!(
            seen.contains_key(expected),
            "the types should differ in {expected}: {seen:?}"
        );
    }
}

/// The saas example with `n` generated starter tenants, evaluated.
fn saas_with_tenants(n: usize) -> obp_lang::Config {
    let example = std::fs::read_to_string("examples/saas/stack.obp").unwrap();
    let start = example.find("  tenants = [").unwrap();
    let end = start + example[start..].find("  ]\n").unwrap() + 4;
    let stack = format!(
        "{}  tenants = map(range({n}), i => {{ name = \"t${{i}}\", type = \"starter\" }})\n{}",
        &example[..start],
        &example[end..]
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.obp"), stack).unwrap();
    tree::evaluate(dir.path(), &[], &format!("saas with {n} tenants"))
}

/// On a shared platform, a tenant's resources wait for that tenant's database, init Job and
/// backup checkpoint, never for another tenant's: the graph grows linearly with the tenants
/// (it grew with their square while dependencies were tracked per value only).
#[test]
fn tenants_of_a_shared_platform_do_not_wait_for_each_other() {
    let edges = |config: &obp_lang::Config| -> usize {
        config.resources.iter().map(|r| r.deps.len()).sum()
    };
    let small = saas_with_tenants(10);
    let large = saas_with_tenants(40);
    let ratio = edges(&large) as f64 / edges(&small) as f64;
    assert!(
        ratio < 5.0,
        "4 times the tenants gave {ratio:.1} times the edges ({} → {})",
        edges(&small),
        edges(&large)
    );
    // The tenant a key names: `["t7"]`, `["t7/pg_trgm"]`.
    let tenant_of = |address: &str| {
        let (_, key) = address.rsplit_once("[\"")?;
        let tenant = key.trim_end_matches("\"]").split('/').next()?;
        (tenant.starts_with('t') && tenant[1..].parse::<u32>().is_ok()).then(|| tenant.to_owned())
    };
    let mut per_tenant = 0;
    for resource in &large.resources {
        let Some(own) = tenant_of(&resource.address) else {
            continue;
        };
        per_tenant += 1;
        for dep in &resource.deps {
            if let Some(other) = tenant_of(&dep.address) {
                assert_eq!(
                    own, other,
                    "{} depends on another tenant's {}",
                    resource.address, dep.address
                );
            }
        }
    }
    assert!(per_tenant >= 40 * 4, "per-tenant resources: {per_tenant}");
    // What must stay ordered still is: database → init → checkpoint → upgrade → Deployment.
    let graph = obp_engine::graph::Graph::build(&large, None).unwrap();
    let order = graph.apply_order();
    let at = |needle: &str| {
        order
            .iter()
            .position(|a| a.ends_with(needle))
            .unwrap_or_else(|| panic!("no {needle} in the graph"))
    };
    assert!(at("postgres.database.db[\"t7\"]") < at("k8s.job.init[\"t7\"]"));
    assert!(at("k8s.job.init[\"t7\"]") < at("k8s.job.checkpoint[\"t7\"]"));
    assert!(at("k8s.job.checkpoint[\"t7\"]") < at("k8s.job.upgrade[\"t7\"]"));
    assert!(at("k8s.job.upgrade[\"t7\"]") < at("k8s.deployment.web"));
}

/// The containers and init containers of a workload's pod template.
fn pod_containers(rtype: &str, attrs: &Json) -> Vec<Json> {
    let spec = match rtype {
        "k8s.cron_job" => &attrs["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &attrs["spec"]["template"]["spec"],
    };
    ["initContainers", "containers"]
        .iter()
        .filter_map(|k| spec[*k].as_array())
        .flatten()
        .cloned()
        .collect()
}

/// A container's plain environment value.
fn env_value<'a>(container: &'a Json, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?["value"]
        .as_str()
}

/// The Secret a container's environment variable is read from.
fn env_secret<'a>(container: &'a Json, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?["valueFrom"]["secretKeyRef"]["name"]
        .as_str()
}

/// Odoo writes attachments to data_dir only: an instance whose pods keep data_dir on an
/// emptyDir and point at a bucket must load `attachment_s3` server-wide, install it in every
/// database, and switch the database's attachment location to it (after the install, in
/// the init Job's pod), or attachments are lost on restart and differ between replicas.
#[test]
fn an_s3_filestore_installs_and_configures_the_attachment_module() {
    let mut instances = 0;
    for example in ["dedicated", "saas", "hybrid"] {
        let resources = tree::resources(example, &[]);
        let namespace = |attrs: &Json| attrs["metadata"]["namespace"].as_str().map(str::to_owned);
        let on_s3: std::collections::BTreeSet<String> = resources
            .iter()
            .filter(|(rtype, _, _)| rtype == "k8s.deployment")
            .filter(|(rtype, _, attrs)| {
                pod_containers(rtype, attrs)
                    .iter()
                    .any(|c| env_value(c, "AWS_BUCKETNAME").is_some())
            })
            .filter_map(|(_, _, attrs)| namespace(attrs))
            .collect();
        assert!(!on_s3.is_empty(), "{example} has an S3 filestore");
        for ns in on_s3 {
            instances += 1;
            let here: Vec<_> = resources
                .iter()
                .filter(|(_, _, a)| namespace(a).as_deref() == Some(&ns))
                .collect();
            let confs: Vec<&str> = here
                .iter()
                .filter(|(rtype, _, _)| rtype == "k8s.config_map")
                .filter_map(|(_, _, a)| a["data"]["odoo.conf"].as_str())
                .collect();
            assert!(!confs.is_empty(), "{example} {ns}: odoo.conf");
            for conf in confs {
                let modules = tree::server_wide_modules(conf);
                assert!(
                    modules.contains(&"attachment_s3"),
                    "{example} {ns}: attachment_s3 is not loaded server-wide: {}",
                    modules.join(",")
                );
            }
            let inits: Vec<_> = here
                .iter()
                .filter(|(rtype, address, _)| rtype == "k8s.job" && address.contains(".init["))
                .collect();
            assert!(!inits.is_empty(), "{example} {ns}: init Jobs");
            for (_, address, attrs) in inits {
                let spec = &attrs["spec"]["template"]["spec"];
                let installs = |c: &Json| {
                    let args: Vec<&str> = c["args"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Json::as_str)
                        .collect();
                    args.windows(2)
                        .any(|w| w[0] == "-i" && w[1].split(',').any(|m| m == "attachment_s3"))
                };
                let install = spec["initContainers"].as_array().into_iter().flatten();
                assert!(
                    install.clone().any(installs),
                    "{example} {address}: attachment_s3 is not installed first"
                );
                let setup = spec["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| {
                        env_value(c, "OBP_STORAGE_SETUP").is_some_and(|code| {
                            code.contains("set_param('ir_attachment.location', 's3')")
                                && code.contains("force_storage()")
                                && code.contains("commit()")
                        })
                    });
                let setup = setup.unwrap_or_else(|| {
                    panic!("{example} {address}: nothing sets ir_attachment.location = s3")
                });
                let command = setup.to_string();
                assert!(
                    command.contains("odoo shell"),
                    "{example} {address}: {command}"
                );
            }
        }
    }
    assert!(instances >= 3, "instances on S3: {instances}");
}

/// On a shared platform every tenant gets a bucket of its own (attachment_s3 replaces `{db}`
/// in the bucket name), its backup copies that bucket only, read with the tenant's own
/// credentials (a secret store path per tenant), and each bucket's policy lets in only that
/// tenant's principal and the platform's: no tenant's backup holds another's attachments.
#[test]
fn each_saas_tenant_has_its_own_filestore_bucket_credentials_and_backup() {
    let resources = tree::resources("saas", &[]);
    let tenants = ["acme", "globex", "initech", "umbrella", "hooli"];
    let odoo_buckets: std::collections::BTreeSet<String> = resources
        .iter()
        .filter(|(rtype, _, _)| rtype == "k8s.deployment")
        .flat_map(|(rtype, _, a)| pod_containers(rtype, a))
        .filter_map(|c| env_value(&c, "AWS_BUCKETNAME").map(str::to_owned))
        .collect();
    assert_eq!(
        odoo_buckets.into_iter().collect::<Vec<_>>(),
        ["saas-prod-filestore-{db}"]
    );
    let buckets: Vec<&str> = resources
        .iter()
        .filter(|(rtype, address, _)| rtype == "s3.bucket" && address.contains("filestore"))
        .filter_map(|(_, _, a)| a["name"].as_str())
        .collect();
    let external_secret = |name: &str| {
        resources
            .iter()
            .find(|(rtype, _, a)| rtype == "k8s.external_secret" && a["metadata"]["name"] == name)
            .map(|(_, _, a)| a.to_string())
            .unwrap_or_else(|| panic!("no ExternalSecret {name}"))
    };
    for tenant in tenants {
        let own = format!("saas-prod-filestore-{tenant}");
        assert!(buckets.contains(&own.as_str()), "{own} in {buckets:?}");
        let backup = resources
            .iter()
            .find(|(rtype, address, _)| {
                rtype == "k8s.cron_job" && address.ends_with(&format!("backup[\"{tenant}\"]"))
            })
            .unwrap_or_else(|| panic!("no backup CronJob for {tenant}"));
        let containers = pod_containers(&backup.0, &backup.2);
        let container = &containers[0];
        assert_eq!(
            env_value(container, "FILESTORE_BUCKET"),
            Some(own.as_str()),
            "{tenant}'s backup copies another bucket"
        );
        for key in ["FILESTORE_ACCESS_KEY_ID", "FILESTORE_SECRET_ACCESS_KEY"] {
            let secret = env_secret(container, key)
                .unwrap_or_else(|| panic!("{tenant}'s backup has no {key}"));
            let paths = external_secret(secret);
            assert!(
                paths.contains(&format!("odoo/prod/saas/tenants/{tenant}/filestore-")),
                "{tenant}'s backup reads its bucket with {secret}: {paths}"
            );
            for other in tenants.iter().filter(|t| **t != tenant) {
                assert!(
                    !paths.contains(&format!("/tenants/{other}/")),
                    "{tenant}: {paths}"
                );
            }
        }
        let policy = resources
            .iter()
            .find(|(rtype, _, a)| rtype == "s3.bucket_policy" && a["bucket"] == own.as_str())
            .unwrap_or_else(|| panic!("no policy on {own}"));
        let allowed =
            &policy.2["policy"]["Statement"][0]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"];
        assert_eq!(
            allowed,
            &serde_json::json!([
                format!("arn:aws:iam::123456789012:user/odoo-saas-prod-{tenant}"),
                "arn:aws:iam::123456789012:user/odoo-saas-prod"
            ]),
            "{own}"
        );
        assert_eq!(policy.2["policy"]["Statement"][0]["Effect"], "Deny");
    }
}
