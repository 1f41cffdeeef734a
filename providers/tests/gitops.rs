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
