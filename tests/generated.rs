//! What the binary generates for people and their tools: the resource reference
//! (`obp doc`, kept in `docs/resources.md`, which must never go stale) and shell completion
//! scripts (`obp completions SHELL`), checked by the shells themselves where they are installed.

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
