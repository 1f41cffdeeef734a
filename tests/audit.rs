//! The audit trail, through the real binary: every command that plans or changes state
//! appends one record beside local state (who, where, what, the plan's hash, the tenants it
//! touched, each resource's outcome, the exit code); a failed apply is recorded with what
//! failed and what was done; `obp audit` filters by tenant and time; commands run at the same
//! time never fork the chain; `obp audit verify` holds on the trail as written.
//! (A record edited by hand: `tests/cases/cli/audit_tampered.obp`; the PostgreSQL table:
//! `engine/tests/postgres_backend.rs`.) Needs the PostgreSQL test server (`OBP_TEST_PG_URL`):
//! a role whose password is missing is what makes an apply fail half-way.

use std::path::Path;
use std::process::Command;

use serde_json::Value as Json;

const STACK: &str = r#"
stack audited { environment = "staging" }

provider gitops { dir = "out" }

provider postgres { url = secret("env:OBP_TEST_PG_URL") }

resource k8s.config_map acme {
  metadata = { name = "settings", namespace = "odoo-acme", labels = { "obp.dev/tenant" = "acme" } }
  data = { mode = "MODE" }
}
// Its password is resolved only when it is created: without it the create fails.
resource postgres.role app {
  name = "ROLE"
  login = true
  password = secret("tenants/audit/app")
}
"#;

/// The stack with its own role name (tests run at once against one server).
fn stack(mode: &str, role: &str) -> String {
    STACK.replace("MODE", mode).replace("ROLE", role)
}

fn obp(dir: &Path, args: &[&str]) -> (i32, String) {
    obp_with(dir, args, &[])
}

fn obp_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_obp"))
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .env("OBP_AUDIT_USER", "ops@example")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// A role name of this run: ROLE in [`STACK`].
fn role() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("audit_{}_{nanos:x}", std::process::id())
}

fn records(dir: &Path, args: &[&str]) -> Vec<Json> {
    let mut all = vec!["audit", "--json"];
    all.extend_from_slice(args);
    let (code, text) = obp(dir, &all);
    assert_eq!(code, 0, "{text}");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn commands_are_recorded_with_their_outcome_and_the_chain_holds() {
    let dir = tempfile::tempdir().unwrap();
    let role = role();
    let write = |mode: &str| {
        std::fs::write(dir.path().join("stack.obp"), stack(mode, &role)).unwrap();
    };
    write("one");
    // No password for the role yet: its create fails, the ConfigMap's succeeds.
    let (code, text) = obp(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(code, 1, "{text}");
    let password = [("OBP_SECRET_TENANTS_AUDIT_APP", "audit-canary-password")];
    let (code, text) = obp_with(dir.path(), &["apply", "--auto-approve"], &password);
    assert_eq!(code, 0, "{text}");
    write("two");
    let (code, text) = obp(dir.path(), &["plan"]);
    assert_eq!(code, 0, "{text}");

    let trail = records(dir.path(), &[]);
    let commands: Vec<(&str, i64)> = trail
        .iter()
        .map(|r| (r["command"].as_str().unwrap(), r["exit"].as_i64().unwrap()))
        .collect();
    assert_eq!(commands, [("apply", 1), ("apply", 0), ("plan", 0)]);
    for record in &trail {
        assert_eq!(record["user"], "ops@example");
        assert_eq!(record["stack"], "audited");
        assert_eq!(record["environment"], "staging");
        assert!(record["host"].as_str().is_some_and(|h| !h.is_empty()));
        assert_eq!(record["plan"].as_str().map(str::len), Some(64));
    }
    let outcome = |record: &Json, address: &str| {
        record["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["address"] == address)
            .map(|o| (o["action"].clone(), o["result"].clone()))
    };
    let failed = &trail[0];
    assert_eq!(
        outcome(failed, "postgres.role.app"),
        Some(("create".into(), "failed".into()))
    );
    assert_eq!(
        outcome(failed, "k8s.config_map.acme"),
        Some(("create".into(), "done".into()))
    );
    assert_eq!(failed["tenants"], serde_json::json!(["acme"]));
    // The rerun creates only what failed; the plan shows the update to come.
    assert_eq!(
        outcome(&trail[1], "postgres.role.app"),
        Some(("create".into(), "done".into()))
    );
    assert_eq!(outcome(&trail[1], "k8s.config_map.acme"), None);
    assert_eq!(
        outcome(&trail[2], "k8s.config_map.acme"),
        Some(("update".into(), "planned".into()))
    );

    // Filters: by tenant (the records whose plan touched it), by time.
    assert_eq!(records(dir.path(), &["--tenant", "acme"]).len(), 2);
    assert!(records(dir.path(), &["--tenant", "globex"]).is_empty());
    assert_eq!(records(dir.path(), &["--since", "2000-01-01"]).len(), 3);
    assert!(records(dir.path(), &["--since", "2999-01-01"]).is_empty());
    let (code, text) = obp(dir.path(), &["audit"]);
    assert_eq!(code, 0);
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.contains("ops@example@")
                && l.contains(
                    "  apply  exit 1  env staging  2 changes (1 not done)  tenants acme"
                )),
        "{text}"
    );

    let (code, text) = obp(dir.path(), &["audit", "verify"]);
    assert_eq!(code, 0, "{text}");
    let head = trail[2]["hash"].as_str().unwrap();
    assert_eq!(
        text.trim(),
        format!("The audit trail holds: 3 records, head {head}.")
    );
    let trail_text = std::fs::read_to_string(dir.path().join("obp.state.json.audit")).unwrap();
    assert!(!trail_text.contains("audit-canary-password"));

    let (code, text) = obp(dir.path(), &["destroy", "--auto-approve"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        records(dir.path(), &[]).last().unwrap()["command"],
        "destroy"
    );
}

#[test]
fn commands_at_the_same_time_never_fork_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.obp"), stack("one", &role())).unwrap();
    // Eight at once: the losers of the state lock fail fast (E0601) and record nothing; every
    // append, whoever makes it, takes the trail's own lock too.
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..3 {
                    let (code, text) = obp(dir.path(), &["plan", "--refresh=false"]);
                    assert!(code == 0 || text.contains("E0601"), "{text}");
                }
            });
        }
    });
    let trail = records(dir.path(), &[]);
    assert!(trail.len() >= 3, "{} records", trail.len());
    let (code, text) = obp(dir.path(), &["audit", "verify"]);
    assert_eq!(code, 0, "{text}");
}

/// A stack that takes its environment as a param (one file, one state per environment, as
/// the multi-env example) is recorded with the environment it ran as.
#[test]
fn the_environment_given_as_a_param_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stack.obp"),
        "stack per_env {}\nparam environment: string = \"dev\"\nbackend local { path = \"state/${environment}.json\" }\nresource file.text note { path = \"${environment}.txt\", content = environment }\n",
    )
    .unwrap();
    let (code, text) = obp(
        dir.path(),
        &["apply", "--auto-approve", "--var", "environment=prod"],
    );
    assert_eq!(code, 0, "{text}");
    let trail = records(dir.path(), &["--var", "environment=prod"]);
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0]["environment"], "prod");
    assert!(dir.path().join("state/prod.json.audit").exists());
}
