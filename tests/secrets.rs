//! Secrets never appear: distinctive canary values for every way a secret reaches obp — a
//! secret path (`OBP_SECRET_…`), an `env:` secret holding a provider's admin URL (its password),
//! a value wrongly given with `--var` for a Secret-typed param, and an admin URL whose server is
//! down — while the real binary runs every command that prints or writes (validate, plan and
//! `plan --json`, a saved plan, apply, show and `show --json`, output, drift, state list, the
//! error paths, destroy). No canary may appear in any stdout or stderr, nor in any file the
//! runs leave in the stack directory (state, journal, backup, lock, saved plan, rendered tree,
//! audit trail).
//!
//! Needs the PostgreSQL test server (`OBP_TEST_PG_URL`, started by `scripts/test`): the role's
//! password is resolved and sent as a SCRAM verifier, so the value really flows through obp.
//! The same run with `backend postgres` also searches every row of the backend's tables.

use std::path::Path;
use std::process::Command;

const STACK: &str = r#"
stack canary {}
BACKEND

param admin: Secret = secret("tenants/canary/admin")

provider gitops {
  dir = "out"
}

provider postgres {
  url = secret("env:CANARY_PG_URL")
}

resource postgres.role app {
  name = "ROLE"
  login = true
  password = secret("tenants/canary/db")
}

resource k8s.namespace ns {
  metadata = { name = "canary" }
}

resource k8s.external_secret creds {
  metadata = { name = "creds", namespace = k8s.namespace.ns.metadata.name }
  data = { PASSWORD = secret("tenants/canary/db"), ADMIN = admin }
}

output admin = admin
output role = postgres.role.app.name
"#;

struct Run {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    canaries: Vec<String>,
    transcript: String,
}

impl Run {
    /// Runs `obp ARGS` in the stack directory; returns its exit code and keeps its output.
    fn obp(&mut self, args: &[&str], env: &[(&str, &str)]) -> i32 {
        let output = Command::new(env!("CARGO_BIN_EXE_obp"))
            .args(args)
            .current_dir(self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        // The command line itself holds the `--var` canary: it is shown masked.
        let mut shown = args.join(" ");
        for canary in &self.canaries {
            shown = shown.replace(canary.as_str(), "<canary>");
        }
        self.transcript.push_str(&format!(
            "$ obp {shown}\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
        output.status.code().unwrap_or(-1)
    }

    /// Every canary found in the transcript or in any file under the stack directory.
    fn leaks(&self) -> Vec<String> {
        let mut found = Vec::new();
        for canary in &self.canaries {
            if self.transcript.contains(canary.as_str()) {
                found.push(format!("{canary} in command output"));
            }
        }
        scan(self.dir.path(), &self.canaries, &mut found);
        found
    }
}

fn scan(dir: &Path, canaries: &[String], found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            scan(&path, canaries, found);
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for canary in canaries {
            if text.contains(canary.as_str()) {
                found.push(format!("{canary} in {}", path.display()));
            }
        }
    }
}

#[test]
fn no_secret_value_appears_in_output_plans_state_or_rendered_files() {
    canary_run(None);
}

#[test]
fn no_secret_value_appears_in_the_postgres_state_backend() {
    let schema = format!(
        "canary_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    canary_run(Some(&schema));
}

/// Every command over the canary stack; with `schema`, state lives in the PostgreSQL backend
/// under that schema, and its tables are searched too (then dropped).
fn canary_run(schema: Option<&str>) {
    let admin_url = std::env::var("OBP_TEST_PG_URL").expect(
        "OBP_TEST_PG_URL is not set: start the test server with `bash scripts/servers/postgres.sh start DIR` \
         and load DIR/postgres.env; `bash scripts/test` does both",
    );
    let parsed = url::Url::parse(&admin_url).unwrap();
    let admin_password = parsed.password().unwrap().to_owned();
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let db_password = format!("canary-db-{unique}");
    let admin_secret = format!("canary-admin-{unique}");
    let var_value = format!("canary-var-{unique}");
    let down_password = format!("canary-down-{unique}");
    let mut down = parsed.clone();
    down.set_port(Some(1)).unwrap();
    down.set_password(Some(&down_password)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let backend = schema.map_or(String::new(), |schema| {
        format!("backend postgres {{\n  url = secret(\"env:CANARY_PG_URL\")\n  schema = \"{schema}\"\n  workspace = \"canary\"\n}}\n")
    });
    std::fs::write(
        dir.path().join("stack.obp"),
        // Both tests run at once against one server: each has a role of its own.
        STACK
            .replace("BACKEND", &backend)
            .replace("ROLE", &format!("canary_{}", &unique[..12])),
    )
    .unwrap();
    let mut run = Run {
        dir,
        env: vec![
            ("CANARY_PG_URL".into(), admin_url.clone()),
            ("OBP_SECRET_TENANTS_CANARY_DB".into(), db_password.clone()),
            (
                "OBP_SECRET_TENANTS_CANARY_ADMIN".into(),
                admin_secret.clone(),
            ),
        ],
        canaries: vec![
            db_password,
            admin_secret,
            var_value.clone(),
            down_password,
            admin_password,
        ],
        transcript: String::new(),
    };

    assert_eq!(run.obp(&["validate", "."], &[]), 0);
    assert_eq!(run.obp(&["plan", ".", "-out", "p.obpplan"], &[]), 0);
    assert_eq!(run.obp(&["plan", ".", "--json"], &[]), 0);
    assert_eq!(run.obp(&["apply", "p.obpplan"], &[]), 0);
    assert_eq!(run.obp(&["show", "."], &[]), 0);
    assert_eq!(run.obp(&["show", ".", "--json"], &[]), 0);
    assert_eq!(run.obp(&["output", "."], &[]), 0);
    assert_eq!(run.obp(&["drift", "."], &[]), 0);
    assert_eq!(run.obp(&["state", "list", "."], &[]), 0);
    // Error paths: a value given for a Secret-typed param, and an admin URL whose server is
    // down (its password must not be part of the error).
    let var = format!("admin={var_value}");
    assert_eq!(run.obp(&["plan", ".", "--var", &var], &[]), 1);
    assert_eq!(
        run.obp(&["plan", "."], &[("CANARY_PG_URL", down.as_str())]),
        1,
        "{}",
        run.transcript
    );
    assert_eq!(run.obp(&["destroy", ".", "--auto-approve"], &[]), 0);

    let mut leaks = run.leaks();
    if let Some(schema) = schema {
        let rows = backend_rows(&admin_url, schema);
        assert!(
            rows.contains("canary"),
            "the backend holds no state: {rows}"
        );
        assert!(
            // A row's text form doubles the quotes inside a field.
            rows.replace("\"\"", "\"").contains("\"command\":\"apply\""),
            "the backend holds no audit trail: {rows}"
        );
        for canary in &run.canaries {
            if rows.contains(canary.as_str()) {
                leaks.push(format!(
                    "{canary} in the backend's tables (schema {schema})"
                ));
            }
        }
    }
    if schema.is_none() {
        let trail = std::fs::read_to_string(run.dir.path().join("obp.state.json.audit"))
            .expect("the audit trail beside the state");
        assert!(trail.lines().count() >= 5, "{trail}");
    }
    assert!(
        leaks.is_empty(),
        "secret values leaked:\n{}\n\ntranscript:\n{}",
        leaks.join("\n"),
        run.transcript
    );
    // The test saw the real thing: the role was created with the canary password and the
    // error paths did fail for the reasons meant.
    assert!(
        run.transcript.contains("postgres.role.app: created"),
        "{}",
        run.transcript
    );
    assert!(run.transcript.contains("E0301"), "{}", run.transcript);
}

/// Every row of every table in `schema` as text, read directly from the server; the schema is
/// dropped afterwards.
fn backend_rows(url: &str, schema: &str) -> String {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config: tokio_postgres::Config = url.parse().unwrap();
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let tables = client
            .query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
                &[&schema],
            )
            .await
            .unwrap();
        assert!(!tables.is_empty(), "no tables in schema {schema}");
        let mut rows = String::new();
        for table in tables {
            let name: String = table.get(0);
            let query = format!("SELECT t::text FROM \"{schema}\".\"{name}\" t");
            for row in client.query(query.as_str(), &[]).await.unwrap() {
                rows.push_str(&row.get::<_, String>(0));
                rows.push('\n');
            }
        }
        client
            .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .await
            .unwrap();
        rows
    })
}
