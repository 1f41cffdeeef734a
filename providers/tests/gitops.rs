//! The GitOps provider end to end through the engine: the rendered tree of a small
//! multi-tenant stack (golden snapshot), an empty second plan, a hand edit as drift,
//! destroy leaving foreign files alone, and git commits when asked.

mod common;

use std::path::{Path, PathBuf};

use common::Run;
use obp_engine::plan::Action;

const STACK: &str = r#"
stack tenants {}
provider gitops { dir = "out" }

let tenants = {
  acme   = { replicas = 2, host = "erp.acme.example" },
  globex = { replicas = 1, host = "erp.globex.example" },
}

resource k8s.namespace ns for each tenants {
  metadata = { name = "odoo-${each.key}", labels = { tenant = each.key } }
}

resource k8s.external_secret db for each tenants {
  metadata = { name = "odoo-db", namespace = k8s.namespace.ns[each.key].metadata.name }
  data = { PASSWORD = secret("tenants/${each.key}/db") }
}

resource k8s.deployment web for each tenants {
  metadata = { name = "odoo-web", namespace = k8s.namespace.ns[each.key].metadata.name }
  spec = {
    replicas = each.value.replicas
    selector = { matchLabels = { app = "odoo" } }
    template = {
      metadata = { labels = { app = "odoo" } }
      spec = {
        containers = [{
          name = "odoo"
          image = "ghcr.io/acme/odoo:17.0@sha256:${repeat("ab", 32)}"
          env = [{ name = "PASSWORD", valueFrom = { secretKeyRef = { name = "odoo-db", key = "PASSWORD" } } }]
          ports = [{ containerPort = 8069 }, { containerPort = 8072 }]
        }]
      }
    }
  }
}

resource file.text conf for each tenants {
  path = "odoo-${each.key}/odoo.conf"
  content = "[options]\nproxy_mode = True\nlist_db = False\n"
}
"#;

/// Every file under `root` with its path, sorted: the rendered tree as one text.
fn tree(root: &Path) -> String {
    let mut files = Vec::new();
    collect(root, root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|(path, text)| format!("=== {path}\n{text}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            let relative = path.strip_prefix(root).unwrap().display().to_string();
            out.push((relative, std::fs::read_to_string(&path).unwrap_or_default()));
        }
    }
}

/// Where the stack of `run` renders.
fn out(run: &Run) -> PathBuf {
    run.dir.path().join("out")
}

#[tokio::test]
async fn renders_a_deterministic_tree_and_a_second_plan_is_empty() {
    let run = Run::new(STACK);
    let first = run.plan(false).await;
    assert_eq!(first.count(Action::Create), 8);
    run.apply(&first).await;
    insta::assert_snapshot!("multi_tenant_tree", tree(&out(&run)));
    assert!(!run.plan(false).await.has_changes());
    // The same input renders byte-identical files in another directory.
    let again = Run::new(STACK);
    again.apply(&again.plan(false).await).await;
    assert_eq!(tree(&out(&run)), tree(&out(&again)));
}

/// The flavour says how the tree carries the apply order: Argo CD sync waves by default (a
/// Deployment after the Namespace and ExternalSecret it uses), none when `plain`, and a clear
/// refusal for what is not built (`flux`) or unknown.
#[tokio::test]
async fn the_flavour_decides_whether_the_tree_carries_sync_waves() {
    let argocd = Run::new(STACK);
    argocd.apply(&argocd.plan(false).await).await;
    let web =
        std::fs::read_to_string(out(&argocd).join("odoo-acme/deployment-odoo-web.yaml")).unwrap();
    assert!(web.contains("argocd.argoproj.io/sync-wave: '1'"), "{web}");
    let namespace =
        std::fs::read_to_string(out(&argocd).join("_cluster/namespace-odoo-acme.yaml")).unwrap();
    assert!(
        namespace.contains("argocd.argoproj.io/sync-wave: '0'"),
        "{namespace}"
    );
    let conf = std::fs::read_to_string(out(&argocd).join("odoo-acme/odoo.conf")).unwrap();
    assert!(!conf.contains("sync-wave"), "plain files carry no order");

    let plain = Run::new(&STACK.replace(
        "provider gitops { dir = \"out\" }",
        "provider gitops {\n  dir = \"out\"\n  flavour = \"plain\"\n}",
    ));
    plain.apply(&plain.plan(false).await).await;
    assert!(!tree(&out(&plain)).contains("sync-wave"));
    assert!(!plain.plan(false).await.has_changes());

    for (flavour, says) in [("flux", "not built yet"), ("spinnaker", "\"argocd\"")] {
        let error = obp_providers::gitops::GitOps::new(
            Path::new("."),
            &std::collections::BTreeMap::from([("flavour".to_owned(), serde_json::json!(flavour))]),
        )
        .unwrap_err();
        assert!(error.to_string().contains(says), "{flavour}: {error}");
    }
}

#[tokio::test]
async fn a_hand_edit_is_drift_and_apply_restores_it() {
    let run = Run::new(STACK);
    run.apply(&run.plan(false).await).await;
    let file = out(&run).join("odoo-acme/deployment-odoo-web.yaml");
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, original.replace("replicas: 2", "replicas: 5")).unwrap();
    let drifted = run.plan(false).await;
    assert_eq!(drifted.drift.len(), 1);
    let detail = drifted.drift[0].detail.as_deref().unwrap();
    assert!(
        detail.contains("-  replicas: 2") && detail.contains("+  replicas: 5"),
        "{detail}"
    );
    assert_eq!(
        drifted
            .changes
            .iter()
            .find(|c| c.action == Action::Update)
            .map(|c| c.address.as_str()),
        Some("k8s.deployment.web[\"acme\"]")
    );
    run.apply(&drifted).await;
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
}

#[tokio::test]
async fn destroy_removes_only_what_obp_wrote() {
    let run = Run::new(STACK);
    run.apply(&run.plan(false).await).await;
    let foreign = out(&run).join("odoo-acme/notes.yaml");
    std::fs::write(&foreign, "kind: Note\n").unwrap();
    let top = out(&run).join("README.md");
    std::fs::write(&top, "hand written\n").unwrap();
    run.apply(&run.plan(true).await).await;
    let left = tree(&out(&run));
    assert_eq!(
        left,
        "=== README.md\nhand written\n\n=== odoo-acme/notes.yaml\nkind: Note\n"
    );
}

#[tokio::test]
async fn commits_the_directory_when_asked() {
    let git = |dir: &Path, args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .expect("git runs")
    };
    let run = Run::new(&STACK.replace(
        "provider gitops { dir = \"out\" }",
        "provider gitops {\n  dir = \"out\"\n  commit = true\n}",
    ));
    std::fs::create_dir_all(out(&run)).unwrap();
    assert!(git(&out(&run), &["init", "-q"]).status.success());
    git(&out(&run), &["config", "user.email", "obp@example.invalid"]);
    git(&out(&run), &["config", "user.name", "obp tests"]);
    run.apply(&run.plan(false).await).await;
    let log = git(&out(&run), &["log", "--format=%s"]);
    assert_eq!(
        String::from_utf8_lossy(&log.stdout).trim(),
        "obp apply: test"
    );
    let status = git(&out(&run), &["status", "--porcelain"]);
    assert!(status.stdout.is_empty(), "everything is committed");
}

/// Every file under `dir` with its content, following nothing: what must not change.
fn snapshot_of(dir: &Path) -> String {
    if dir.exists() {
        tree(dir)
    } else {
        String::new()
    }
}

/// A directory beside the stack (outside `out/`) holding one file, and its tree.
fn outside(run: &Run) -> (PathBuf, String) {
    let dir = run.dir.path().join("outside");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("precious.txt"), "keep me\n").unwrap();
    let before = snapshot_of(&dir);
    (dir, before)
}

/// The codes and the text of a failed plan's diagnostics.
async fn plan_errors(run: &Run) -> (Vec<&'static str>, String) {
    let diagnostics = run.try_plan(false).await.expect_err("the plan is refused");
    let codes = diagnostics.iter().map(|d| d.code).collect();
    let text = diagnostics
        .iter()
        .map(|d| d.message.clone())
        .collect::<Vec<_>>()
        .join("\n");
    (codes, text)
}

/// The codes and messages of an apply's failures.
fn apply_errors(report: &obp_engine::apply::ApplyReport) -> (Vec<&'static str>, String) {
    use obp_lang::diagnostics::IntoDiagnostic;
    let diagnostics: Vec<_> = report
        .failed
        .iter()
        .map(|(_, e)| e.clone().into_diagnostic())
        .collect();
    let text = diagnostics
        .iter()
        .map(|d| d.message.clone())
        .collect::<Vec<_>>()
        .join("\n");
    (diagnostics.iter().map(|d| d.code).collect(), text)
}

#[tokio::test]
async fn a_symlinked_namespace_directory_is_refused_at_plan_and_at_apply() {
    let run = Run::new(STACK);
    let (outside, before) = outside(&run);
    // Planned before the symlink appears, so apply meets it too.
    let made = run.plan(false).await;
    std::fs::create_dir_all(out(&run)).unwrap();
    std::os::unix::fs::symlink("../outside", out(&run).join("odoo-acme")).unwrap();

    let (codes, text) = plan_errors(&run).await;
    assert!(codes.iter().all(|c| *c == "E0707"), "{codes:?}: {text}");
    assert!(text.contains("odoo-acme` is a symlink"), "{text}");

    let report = run.try_apply(&made).await;
    let (codes, text) = apply_errors(&report);
    assert!(
        !codes.is_empty() && codes.iter().all(|c| *c == "E0707"),
        "{codes:?}: {text}"
    );
    assert!(text.contains("odoo-acme` is a symlink"), "{text}");
    assert_eq!(snapshot_of(&outside), before, "nothing was written outside");
    // The other tenant was written as usual.
    assert!(out(&run)
        .join("odoo-globex/deployment-odoo-web.yaml")
        .is_file());
}

#[tokio::test]
async fn a_symlinked_file_or_temp_file_is_never_written_through() {
    for planted in [
        "deployment-odoo-web.yaml",
        // The temp file, under today's name and the name obp used before.
        "deployment-odoo-web.yaml.obp-tmp",
    ] {
        let run = Run::new(STACK);
        let (outside, before) = outside(&run);
        let made = run.plan(false).await;
        let dir = out(&run).join("odoo-acme");
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink("../../outside/precious.txt", dir.join(planted)).unwrap();
        if planted.ends_with(".obp-tmp") {
            std::os::unix::fs::symlink(
                "../../outside/precious.txt",
                dir.join("deployment-odoo-web.obp-tmp"),
            )
            .unwrap();
        }

        let (codes, text) = plan_errors(&run).await;
        assert_eq!(codes, ["E0707"], "{planted}: {text}");
        assert!(text.contains(&format!("{planted}` is a symlink")), "{text}");

        let report = run.try_apply(&made).await;
        let (codes, text) = apply_errors(&report);
        assert_eq!(codes, ["E0707"], "{planted}: {text}");
        assert_eq!(
            snapshot_of(&outside),
            before,
            "{planted}: outside is unchanged"
        );
        assert!(
            std::fs::symlink_metadata(dir.join(planted))
                .unwrap()
                .file_type()
                .is_symlink(),
            "{planted}: the symlink itself is left for the user to look at"
        );
    }
}

#[tokio::test]
async fn destroy_never_deletes_through_a_symlinked_directory() {
    let run = Run::new(STACK);
    run.apply(&run.plan(false).await).await;
    // Planned before the swap (a saved plan); plan itself refuses afterwards.
    let made = run.plan(true).await;
    // The namespace directory is swapped for a symlink to a copy outside.
    let (outside, _) = outside(&run);
    let dir = out(&run).join("odoo-acme");
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        std::fs::copy(entry.path(), outside.join(entry.file_name())).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink("../outside", &dir).unwrap();
    let before = snapshot_of(&outside);
    assert_eq!(plan_errors(&run).await.0[0], "E0707");

    let report = run.try_apply(&made).await;
    let (codes, text) = apply_errors(&report);
    assert!(
        !codes.is_empty() && codes.iter().all(|c| *c == "E0707"),
        "{codes:?}: {text}"
    );
    assert_eq!(snapshot_of(&outside), before, "nothing outside was deleted");
}

#[tokio::test]
async fn a_file_text_under_a_symlinked_directory_is_refused() {
    let run = Run::new(
        r#"
stack s {}
provider gitops { dir = "out" }
resource file.text conf { path = "config/odoo/odoo.conf", content = "[options]\n" }
"#,
    );
    let (outside, before) = outside(&run);
    let made = run.plan(false).await;
    std::fs::create_dir_all(out(&run).join("config")).unwrap();
    std::os::unix::fs::symlink("../../outside", out(&run).join("config/odoo")).unwrap();
    let (codes, text) = plan_errors(&run).await;
    assert_eq!(codes, ["E0707"], "{text}");
    let report = run.try_apply(&made).await;
    assert_eq!(apply_errors(&report).0, ["E0707"]);
    assert_eq!(snapshot_of(&outside), before);
}

#[tokio::test]
async fn an_output_directory_holding_the_state_is_refused() {
    for (provider, backend) in [
        ("provider gitops { dir = \".\" }", ""),
        (
            "provider gitops { dir = \"out\" }",
            "backend local { path = \"out/state.json\" }",
        ),
        // The same place spelled another way.
        ("provider gitops { dir = \"./sub/..\" }", ""),
    ] {
        let run = Run::new(&format!(
            "stack s {{}}\n{backend}\n{provider}\nresource file.text f {{ path = \"obp.state.json\", content = \"{{}}\" }}\n"
        ));
        std::fs::create_dir_all(run.dir.path().join("sub")).unwrap();
        let (codes, text) = plan_errors(&run).await;
        assert_eq!(codes, ["E0614"], "{provider} {backend}: {text}");
        assert!(text.contains("contains the state file"), "{text}");
    }
}

const COLLIDING: &str = r#"
stack s {}
provider gitops { dir = "out" }
let keys = { "a-b" = 1, a_b = 2, c = 3 }
resource k8s.config_map settings for each keys {
  metadata = { name = "s-${replace(each.key, "_", "-")}", namespace = "shop" }
  data = { key = each.key }
}
resource file.text plain { path = "shop/configmap-s-c.yaml", content = "x" }
resource k8s.namespace one { metadata = { name = "shop" } }
resource k8s.namespace two { metadata = { name = "shop" } }
"#;

#[tokio::test]
async fn resources_rendering_one_file_are_refused_naming_both() {
    let run = Run::new(COLLIDING);
    let rendered = run.try_plan_rendered(false).await.expect_err("collisions");
    let diagnostics = run.try_plan(false).await.unwrap_err();
    let codes: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["E0615", "E0615", "E0615"], "{rendered}");
    for pair in [
        (
            "k8s.config_map.settings[\"a-b\"]",
            "k8s.config_map.settings[\"a_b\"]",
        ),
        ("k8s.config_map.settings[\"c\"]", "file.text.plain"),
        ("k8s.namespace.one", "k8s.namespace.two"),
    ] {
        let line = format!("`{}` and `{}` both claim", pair.0, pair.1);
        assert!(rendered.contains(&line), "{line}\n{rendered}");
    }
    // Both declarations are pointed at.
    assert!(
        rendered.contains("`k8s.namespace.two` declared here"),
        "{rendered}"
    );
    assert!(
        rendered.contains("`k8s.namespace.one` declared here"),
        "{rendered}"
    );
}

/// `count` ConfigMaps in one namespace.
fn config_maps(count: usize) -> String {
    format!(
        r#"
stack s {{}}
provider gitops {{ dir = "out" }}
resource k8s.config_map c for each map(range({count}), i => "${{i}}") {{
  metadata = {{ name = "c-${{each.value}}", namespace = "shop" }}
  data = {{ n = "${{each.value}}" }}
}}
"#
    )
}

#[tokio::test]
async fn files_left_by_an_interrupted_apply_are_reported_and_removed() {
    // Converge 3, grow to 5 (as the killed apply did), keep what it left on disk, then
    // converge back to 3 with the leftovers restored: obp's files that state does not know,
    // a temp file, and a kustomization listing them.
    let run = Run::new(&config_maps(5));
    run.converge().await;
    let dir = out(&run).join("shop");
    let kept: Vec<(PathBuf, String)> = [
        "configmap-c-3.yaml",
        "configmap-c-4.yaml",
        "kustomization.yaml",
    ]
    .iter()
    .map(|name| {
        (
            dir.join(name),
            std::fs::read_to_string(dir.join(name)).unwrap(),
        )
    })
    .collect();
    run.edit(&config_maps(3));
    run.converge().await;
    for (path, text) in &kept {
        std::fs::write(path, text).unwrap();
    }
    std::fs::write(dir.join("configmap-c-5.yaml.obp-tmp"), "half a fi").unwrap();
    // A foreign file (no header) is the user's and stays.
    std::fs::write(dir.join("notes.yaml"), "kind: Note\n").unwrap();

    let made = run.plan(false).await;
    let mut found: Vec<(String, String)> = made
        .drift
        .iter()
        .map(|d| {
            let path = d.address.rsplit('/').next().unwrap_or_default().to_owned();
            (d.kind.clone(), path)
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("outdated".to_owned(), "kustomization.yaml".to_owned()),
            ("stray".to_owned(), "configmap-c-3.yaml".to_owned()),
            ("stray".to_owned(), "configmap-c-4.yaml".to_owned()),
            ("stray".to_owned(), "configmap-c-5.yaml.obp-tmp".to_owned()),
        ]
    );
    assert!(made.has_changes(), "apply has something to do");
    let shown = obp_engine::render::human(&made, false);
    assert!(
        shown.contains("configmap-c-3.yaml was written by obp but no resource owns it"),
        "{shown}"
    );

    run.apply(&made).await;
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "configmap-c-0.yaml",
            "configmap-c-1.yaml",
            "configmap-c-2.yaml",
            "kustomization.yaml",
            "notes.yaml"
        ]
    );
    let kustomization = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
    assert!(!kustomization.contains("c-3"), "{kustomization}");
    assert!(
        kustomization.contains("configmap-c-2.yaml"),
        "{kustomization}"
    );
    let again = run.plan(false).await;
    assert!(
        !again.has_changes() && again.drift.is_empty(),
        "{:?}",
        again.drift
    );
}

#[tokio::test]
async fn a_kustomization_an_interrupted_apply_left_behind_is_rewritten() {
    let run = Run::new(&config_maps(3));
    run.converge().await;
    // Killed after the files and state were written, before the kustomizations were.
    let path = out(&run).join("shop/kustomization.yaml");
    let full = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, full.replace("- configmap-c-2.yaml\n", "")).unwrap();
    std::fs::remove_file(out(&run).join("kustomization.yaml")).unwrap();
    let made = run.plan(false).await;
    let kinds: Vec<&str> = made.drift.iter().map(|d| d.kind.as_str()).collect();
    assert_eq!(kinds, ["outdated", "outdated"], "{:?}", made.drift);
    run.apply(&made).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), full);
    assert!(out(&run).join("kustomization.yaml").is_file());
    assert!(!run.plan(false).await.has_changes());
}

#[tokio::test]
async fn a_resource_renamed_without_moved_keeps_its_file() {
    let stack = |name: &str| {
        format!(
            "stack s {{}}\nprovider gitops {{ dir = \"out\" }}\nresource k8s.config_map {name} {{\n  metadata = {{ name = \"settings\", namespace = \"shop\" }}\n  data = {{ a = \"1\" }}\n}}\n"
        )
    };
    let run = Run::new(&stack("old"));
    run.converge().await;
    run.edit(&stack("new"));
    let made = run.plan(false).await;
    let create = made
        .changes
        .iter()
        .find(|c| c.address == "k8s.config_map.new")
        .unwrap();
    assert_eq!(
        create.deps,
        ["k8s.config_map.old"],
        "the create waits for the delete"
    );
    run.apply(&made).await;
    assert!(out(&run).join("shop/configmap-settings.yaml").is_file());
    let again = run.plan(false).await;
    assert!(!again.has_changes(), "{:?}", common::actions(&again));
}
