//! The quickstart README's "On a cluster, without GitOps" section, run as written against the
//! test kube-apiserver (`scripts/servers/kubernetes.sh`): the quickstart copied, the provider
//! block the README shows added to its `stack.obp`, then the README's commands with the real
//! `obp` binary. The test plays the controllers and kubelets the server lacks (rollouts, Jobs,
//! volumes), so obp's readiness waits see what a cluster would report.
//!
//! apply → every object on the server, recorded with its uid → an empty second plan → the next
//! release (a new digest, a module to upgrade) applied over it: the init Job untouched, the
//! release's Jobs new → destroy refused (a protected prod tenant) → the decommission command →
//! the namespace gone.

mod kube;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value as Json;

/// The one ```obp block of the README's cluster section.
fn readme_block() -> String {
    let readme = std::fs::read_to_string("examples/quickstart/README.md").unwrap();
    let section = readme
        .split_once("## On a cluster, without GitOps")
        .expect("the README's cluster section")
        .1;
    let block = section
        .split_once("```obp\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("an obp block in the cluster section")
        .0;
    block.to_owned()
}

/// Runs `obp` in `cwd` against the test server (its kubeconfig as the user's).
fn obp(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_obp"))
        .current_dir(cwd)
        .args(args)
        .env("KUBECONFIG", kube::kubeconfig_path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn run_ok(cwd: &Path, args: &[&str]) -> String {
    let output = obp(cwd, args);
    let text = text(&output);
    assert!(
        output.status.success(),
        "`obp {}` failed:\n{text}",
        args.join(" ")
    );
    text
}

// The binary runs while the test's stand-in controllers work: a runtime with threads of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_applies_to_a_cluster_as_its_readme_says() {
    let cluster = kube::Cluster::connect().await;
    // What an interrupted earlier run against the same server left.
    cluster.delete_namespace("odoo-acme").await;
    let work = tempfile::tempdir().unwrap();
    let stack_dir = work.path().join("quickstart");
    std::fs::create_dir(&stack_dir).unwrap();
    std::fs::copy("examples/quickstart/stack.obp", stack_dir.join("stack.obp")).unwrap();
    let stack = stack_dir.join("stack.obp");
    let mut source = std::fs::read_to_string(&stack).unwrap();
    source.push('\n');
    source.push_str(&readme_block());
    std::fs::write(&stack, &source).unwrap();

    let _controllers = cluster.controllers("odoo-acme");
    run_ok(work.path(), &["apply", "quickstart", "--auto-approve"]);

    let state: Json =
        serde_json::from_str(&std::fs::read_to_string(stack_dir.join("obp.state.json")).unwrap())
            .unwrap();
    let resources = state["resources"].as_object().unwrap();
    let on_cluster: Vec<(&String, &Json)> = resources
        .iter()
        .filter(|(_, r)| r["type"].as_str().is_some_and(|t| t.starts_with("k8s.")))
        .collect();
    assert!(
        on_cluster.len() > 20,
        "{} Kubernetes objects",
        on_cluster.len()
    );
    for (address, resource) in &on_cluster {
        assert_eq!(resource["provider"], "k8s", "{address}");
        assert!(
            resource["outputs"]["uid"].is_string(),
            "{address} was recorded without the uid the server gave it"
        );
    }
    let web = cluster
        .get("apps/v1", "Deployment", Some("odoo-acme"), "odoo-acme-web")
        .await
        .expect("the web Deployment on the server");
    let image = web["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        image.starts_with("docker.io/library/odoo:17.0@sha256:"),
        "{image}"
    );
    let secret = cluster
        .get(
            "external-secrets.io/v1",
            "ExternalSecret",
            Some("odoo-acme"),
            "odoo-acme-db",
        )
        .await;
    assert!(secret.is_some(), "the ExternalSecret, served as v1");
    assert!(
        stack_dir.join("out/acme/odoo.conf").exists(),
        "the GitOps provider still writes odoo.conf"
    );
    let init = cluster
        .get("batch/v1", "Job", Some("odoo-acme"), "odoo-acme-init")
        .await
        .expect("the init Job");

    let plan = obp(work.path(), &["plan", "quickstart", "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "a second plan is empty:\n{}",
        text(&plan)
    );

    // The next release: a new Odoo digest and a module to upgrade.
    let digest = image.rsplit_once("@sha256:").unwrap().1;
    let next = source.replace(digest, &"0".repeat(64)).replace(
        "  modules = [\"crm\", \"sale_management\"]\n",
        "  modules = [\"crm\", \"sale_management\"]\n  upgrade = [\"sale_management\"]\n",
    );
    assert_ne!(next, source);
    std::fs::write(&stack, &next).unwrap();
    run_ok(work.path(), &["apply", "quickstart", "--auto-approve"]);
    let web = cluster
        .get("apps/v1", "Deployment", Some("odoo-acme"), "odoo-acme-web")
        .await
        .unwrap();
    assert!(web["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .ends_with(&"0".repeat(64)));
    let init_after = cluster
        .get("batch/v1", "Job", Some("odoo-acme"), "odoo-acme-init")
        .await
        .unwrap();
    assert_eq!(
        init_after["metadata"]["uid"], init["metadata"]["uid"],
        "the install-once init Job is not run again by a release"
    );
    let jobs = cluster.names("batch/v1", "Job", "odoo-acme").await;
    assert!(
        jobs.iter().any(|j| j.starts_with("odoo-acme-upgrade-")),
        "the release's upgrade Job: {jobs:?}"
    );

    let refused = obp(work.path(), &["destroy", "quickstart", "--auto-approve"]);
    assert!(
        !refused.status.success() && text(&refused).contains("E0611"),
        "a prod tenant is protected:\n{}",
        text(&refused)
    );
    run_ok(
        work.path(),
        &[
            "destroy",
            "quickstart",
            "--var",
            "protect=false",
            "--auto-approve",
        ],
    );
    assert!(
        cluster
            .get("v1", "Namespace", None, "odoo-acme")
            .await
            .is_none(),
        "destroy waits until the namespace is gone"
    );
}
