//! What the binary generates for people and their tools: the resource reference
//! (`obp doc`, kept in `docs/resources.md`, which must never go stale), shell completion
//! scripts (`obp completions SHELL`, parsed by bash itself) and the JSON events of
//! `apply --json` / `destroy --json`, and the stacks `obp init` writes.

use std::process::Command;

fn obp(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_obp"))
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "obp {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_resource_reference_in_the_repository_is_the_generated_one() {
    let generated = obp(&["doc"]);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/resources.md");
    if std::env::var_os("OBP_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let kept = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        kept == generated,
        "docs/resources.md is stale: run `OBP_UPDATE_DOCS=1 cargo test --test generated` and commit it"
    );
    for rtype in [
        "k8s.deployment",
        "postgres.database",
        "s3.bucket",
        "redis.acl_user",
        "dns.record",
        "file.text",
    ] {
        assert!(generated.contains(&format!("### `{rtype}`")), "{rtype}");
    }
}

#[test]
fn completion_scripts_name_every_command_and_parse_in_their_shell() {
    let bash = obp(&["completions", "bash"]);
    for command in [
        "plan",
        "apply",
        "destroy",
        "audit",
        "doc",
        "completions",
        "force-unlock",
    ] {
        assert!(
            bash.contains(command),
            "{command} missing from the bash completions"
        );
    }
    // `bash -n` parses without running; bash is part of every machine the tests run on.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("obp.bash");
    std::fs::write(&script, &bash).unwrap();
    let status = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the bash completion script does not parse"
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        assert!(obp(&["completions", shell]).contains("obp"), "{shell}");
    }
}

fn run_in(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_obp"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object: {line}: {e}"))
        })
        .collect()
}

#[test]
fn apply_and_destroy_print_one_json_event_per_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stack.obp"),
        "stack s {}\nresource file.text note for each [\"a\", \"b\"] {\n  path = \"${each.key}.txt\"\n  content = each.key\n}\n",
    )
    .unwrap();

    // Without --auto-approve nothing can confirm: only the plan, then E0907.
    let (code, stdout, stderr) = run_in(dir.path(), &["apply", "--json"]);
    assert_eq!(code, 1);
    let refused = events(&stdout);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["type"], "plan");
    assert!(stderr.contains("E0907"), "{stderr}");

    let (code, stdout, _) = run_in(dir.path(), &["apply", "--json", "--auto-approve"]);
    assert_eq!(code, 0);
    let applied = events(&stdout);
    let kinds: Vec<&str> = applied
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"plan"));
    assert_eq!(kinds.last(), Some(&"done"));
    for address in ["file.text.note[\"a\"]", "file.text.note[\"b\"]"] {
        for kind in ["started", "finished"] {
            assert_eq!(
                applied
                    .iter()
                    .filter(|e| e["type"] == kind
                        && e["address"] == address
                        && e["action"] == "create")
                    .count(),
                1,
                "{kind} {address}: {stdout}"
            );
        }
    }
    let done = applied.last().unwrap();
    assert_eq!(done["ok"], true);
    assert_eq!(done["added"], 2);
    assert_eq!(done["failed"], serde_json::json!([]));

    let (code, stdout, _) = run_in(dir.path(), &["destroy", "--json", "--auto-approve"]);
    assert_eq!(code, 0);
    let destroyed = events(&stdout);
    assert_eq!(destroyed.last().unwrap()["destroyed"], 2);
    assert_eq!(destroyed[0]["plan"]["destroy"], true);
}

#[test]
fn every_init_template_is_a_stack_that_validates() {
    let dir = tempfile::tempdir().unwrap();
    for template in ["quickstart", "dedicated", "saas", "hybrid", "multi-env"] {
        let (code, stdout, stderr) =
            run_in(dir.path(), &["init", template, "--template", template]);
        assert_eq!(code, 0, "{template}: {stdout}{stderr}");
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(template)
            .join("stack.obp");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(template).join("stack.obp")).unwrap(),
            std::fs::read_to_string(example).unwrap(),
            "{template}: the template is the example"
        );
        let (code, stdout, stderr) = run_in(dir.path(), &["validate", template]);
        assert_eq!(code, 0, "{template}: {stdout}{stderr}");
    }
}
