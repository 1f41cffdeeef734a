//! The postgres provider against a real PostgreSQL (`scripts/servers/postgres.sh`): create,
//! an empty second plan, in-place updates and replacements as the schema says, changes made
//! by hand found as drift and undone, destroy checked in the catalogs, hostile names refused
//! before anything runs, and no secret in state.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{actions, drifted, messages, secret, server_env, unique, Run, SECRETS};
use obp_engine::pg::{Client, SslMode, Target};
use obp_engine::plan::Action;
use obp_engine::provider::{EnvSecrets, Provider, ProviderError, Recorded, ResourceRef};
use obp_providers::postgres::Postgres;
use serde_json::{json, Value as Json};

fn url() -> String {
    server_env("OBP_TEST_PG_URL", "postgres")
}

/// A direct connection (not through the provider) for checks and hand changes.
async fn sql(database: &str) -> Client {
    Target::parse(&url(), Some(SslMode::Disable), None)
        .unwrap()
        .with_database(database)
        .connect()
        .await
        .unwrap()
}

async fn exec(database: &str, statement: &str) {
    sql(database).await.batch_execute(statement).await.unwrap();
}

async fn role_exists(name: &str) -> bool {
    sql("postgres")
        .await
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
        .await
        .unwrap()
        .is_some()
}

async fn database_exists(name: &str) -> bool {
    sql("postgres")
        .await
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .unwrap()
        .is_some()
}

/// (login, superuser, createdb, createrole, replication, connection limit)
async fn role_flags(name: &str) -> (bool, bool, bool, bool, bool, i32) {
    let row = sql("postgres")
        .await
        .query_one(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolconnlimit
             FROM pg_roles WHERE rolname = $1",
            &[&name],
        )
        .await
        .unwrap();
    (
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
    )
}

async fn settings(database: &str) -> Vec<String> {
    let row = sql("postgres")
        .await
        .query_opt(
            "SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
             WHERE d.datname = $1 AND s.setrole = 0",
            &[&database],
        )
        .await
        .unwrap();
    let mut settings: Vec<String> = row
        .and_then(|r| r.get::<_, Option<Vec<String>>>(0))
        .unwrap_or_default();
    settings.sort();
    settings
}

/// Whether `role` can log in with `password` (over TCP with SCRAM).
async fn can_log_in(role: &str, password: &str) -> bool {
    let base = Target::parse(&url(), Some(SslMode::Disable), None).unwrap();
    let host = base.describe();
    let (hostport, _) = host.split_once('/').unwrap();
    let (host, port) = hostport.rsplit_once(':').unwrap();
    let mut config = tokio_postgres::Config::new();
    config
        .host(host)
        .port(port.parse().unwrap())
        .user(role)
        .password(password)
        .dbname("postgres");
    match config.connect(tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            drop(client);
            true
        }
        Err(_) => false,
    }
}

fn role_stack(role: &str, extra: &str) -> String {
    format!(
        r#"
stack pg {{}}
provider postgres {{ url = secret("env:OBP_TEST_PG_URL") }}
resource postgres.role app {{
  name = "{role}"
  password = secret("test/pw1")
  connection_limit = 5
{extra}
}}
"#
    )
}

#[tokio::test]
async fn role_create_update_replace_drift_destroy() {
    let role = unique("obp_role");
    let run = Run::new(&role_stack(&role, ""));
    let created = run.converge().await;
    assert_eq!(
        actions(&created),
        [("postgres.role.app".to_owned(), Action::Create)]
    );
    // Tenants are never superusers, and cannot create databases or roles.
    assert_eq!(
        role_flags(&role).await,
        (true, false, false, false, false, 5)
    );
    assert!(can_log_in(&role, secret(1)).await);
    assert!(!run.plan(false).await.has_changes(), "second plan is empty");

    // No secret value in state: only the reference (and no verifier either).
    let state = run.state_text();
    for (_, value) in SECRETS {
        assert!(!state.contains(value), "a secret value leaked into state");
    }
    assert!(state.contains("\"$secret\": \"test/pw1\""), "{state}");
    assert!(!state.contains("SCRAM-SHA-256"), "{state}");

    // In place: connection limit and password.
    run.edit(
        &role_stack(&role, "")
            .replace("connection_limit = 5", "connection_limit = 7")
            .replace("test/pw1", "test/pw2"),
    );
    let updated = run.converge().await;
    assert_eq!(
        actions(&updated),
        [("postgres.role.app".to_owned(), Action::Update)]
    );
    assert_eq!(role_flags(&role).await.5, 7);
    assert!(can_log_in(&role, secret(2)).await);
    assert!(!can_log_in(&role, secret(1)).await);
    assert!(!run.plan(false).await.has_changes());

    // By hand: superuser and a new password; both are drift and apply undoes them.
    exec(
        "postgres",
        &format!("ALTER ROLE \"{role}\" SUPERUSER CREATEDB PASSWORD 'typed-by-hand'"),
    )
    .await;
    let drift = run.plan(false).await;
    assert_eq!(drifted(&drift), ["postgres.role.app"]);
    let paths: Vec<&str> = drift.drift[0]
        .diffs
        .iter()
        .map(|d| d.path.as_str())
        .collect();
    assert_eq!(paths, ["create_db", "password", "superuser"], "{drift:#?}");
    assert_eq!(
        actions(&drift),
        [("postgres.role.app".to_owned(), Action::Update)]
    );
    run.apply(&drift).await;
    assert_eq!(
        role_flags(&role).await,
        (true, false, false, false, false, 7)
    );
    assert!(can_log_in(&role, secret(2)).await);
    assert!(!can_log_in(&role, "typed-by-hand").await);
    assert!(!run.plan(false).await.has_changes());

    // A new name replaces the role.
    let renamed = unique("obp_role");
    run.edit(
        &role_stack(&renamed, "")
            .replace("connection_limit = 5", "connection_limit = 7")
            .replace("test/pw1", "test/pw2"),
    );
    let replaced = run.converge().await;
    assert_eq!(
        actions(&replaced),
        [("postgres.role.app".to_owned(), Action::Replace)]
    );
    assert!(!role_exists(&role).await);
    assert!(role_exists(&renamed).await);

    // Deleted by hand: planned again as a create.
    exec("postgres", &format!("DROP ROLE \"{renamed}\"")).await;
    let recreate = run.plan(false).await;
    assert_eq!(recreate.drift[0].kind, "deleted");
    assert_eq!(
        actions(&recreate),
        [("postgres.role.app".to_owned(), Action::Create)]
    );
    run.apply(&recreate).await;

    run.destroy().await;
    assert!(!role_exists(&renamed).await, "destroy left the role behind");
    assert!(!run.state_text().contains(&renamed));
}

fn database_stack(role: &str, db: &str, parameters: &str, encoding: &str) -> String {
    format!(
        r#"
stack pg {{}}
provider postgres {{ url = secret("env:OBP_TEST_PG_URL") }}
resource postgres.role owner {{
  name = "{role}"
  password = secret("test/pw3")
  superuser = false
  create_db = false
  create_role = false
}}
resource postgres.database db {{
  name = "{db}"
  owner = postgres.role.owner.name
  encoding = "{encoding}"
  template = "template0"
  parameters = {parameters}
}}
resource postgres.extension trgm {{
  database = postgres.database.db.name
  name = "pg_trgm"
}}
resource postgres.extension unaccent {{
  database = postgres.database.db.name
  name = "unaccent"
}}
resource postgres.schema reports {{
  database = postgres.database.db.name
  name = "reports"
  owner = postgres.role.owner.name
}}
"#
    )
}

#[tokio::test]
async fn database_parameters_extensions_schema() {
    let role = unique("obp_owner");
    let db = unique("obp_db");
    let baseline = r#"{ statement_timeout = "60s", lock_timeout = "10s", work_mem = "16MB" }"#;
    let run = Run::new(&database_stack(&role, &db, baseline, "UTF8"));
    let created = run.converge().await;
    assert_eq!(created.count(Action::Create), 5);
    let owner: String = sql("postgres")
        .await
        .query_one(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1",
            &[&db],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, role);
    assert_eq!(
        settings(&db).await,
        ["lock_timeout=10s", "statement_timeout=60s", "work_mem=16MB"]
    );
    let extensions: Vec<String> = sql(&db)
        .await
        .query("SELECT extname::text FROM pg_extension ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(extensions, ["pg_trgm", "plpgsql", "unaccent"]);
    let schema_owner: String = sql(&db)
        .await
        .query_one(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'reports'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(schema_owner, role);
    assert!(!run.plan(false).await.has_changes(), "second plan is empty");

    // Change one value, drop one, add one: an in-place update; the dropped one is RESET.
    let changed = r#"{ statement_timeout = "30s", work_mem = "32MB", idle_in_transaction_session_timeout = "10min" }"#;
    run.edit(&database_stack(&role, &db, changed, "UTF8"));
    let update = run.converge().await;
    assert_eq!(
        actions(&update),
        [("postgres.database.db".to_owned(), Action::Update)]
    );
    assert_eq!(
        settings(&db).await,
        [
            "idle_in_transaction_session_timeout=10min",
            "statement_timeout=30s",
            "work_mem=32MB"
        ]
    );

    // By hand: a value changed, one reset, one added, the schema given away.
    exec(
        "postgres",
        &format!(
            "ALTER DATABASE \"{db}\" SET work_mem = '1GB'; ALTER DATABASE \"{db}\" RESET statement_timeout; \
             ALTER DATABASE \"{db}\" SET lock_timeout = '1s'"
        ),
    )
    .await;
    exec(&db, "ALTER SCHEMA reports OWNER TO obp_admin").await;
    let drift = run.plan(false).await;
    assert_eq!(
        drifted(&drift),
        ["postgres.database.db", "postgres.schema.reports"]
    );
    let paths: Vec<&str> = drift.drift[0]
        .diffs
        .iter()
        .map(|d| d.path.as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "parameters.lock_timeout",
            "parameters.statement_timeout",
            "parameters.work_mem"
        ]
    );
    run.apply(&drift).await;
    assert_eq!(
        settings(&db).await,
        [
            "idle_in_transaction_session_timeout=10min",
            "statement_timeout=30s",
            "work_mem=32MB"
        ]
    );
    assert!(!run.plan(false).await.has_changes());

    // Encoding cannot change in place: the plan replaces the database.
    run.edit(&database_stack(&role, &db, changed, "SQL_ASCII"));
    let replace = run.plan(false).await;
    let change = replace
        .changes
        .iter()
        .find(|c| c.address == "postgres.database.db")
        .unwrap();
    assert_eq!(change.action, Action::Replace);
    assert!(
        change.reasons.iter().any(|r| r.contains("encoding")),
        "{:?}",
        change.reasons
    );

    run.edit(&database_stack(&role, &db, changed, "UTF8"));
    run.destroy().await;
    assert!(
        !database_exists(&db).await,
        "destroy left the database behind"
    );
    assert!(!role_exists(&role).await, "destroy left the role behind");
}

fn grant_stack(owner: &str, reader: &str, db: &str, privileges: &str) -> String {
    format!(
        r#"
stack pg {{}}
provider postgres {{ url = secret("env:OBP_TEST_PG_URL") }}
resource postgres.role owner {{ name = "{owner}" }}
resource postgres.role reader {{ name = "{reader}" connection_limit = 4 }}
resource postgres.database db {{ name = "{db}" owner = postgres.role.owner.name }}
resource postgres.grant connect {{
  role = postgres.role.reader.name
  database = postgres.database.db.name
  schema = null
  object_type = "database"
  privileges = ["CONNECT"]
}}
resource postgres.grant tables {{
  role = postgres.role.reader.name
  database = postgres.database.db.name
  schema = "public"
  object_type = "table"
  privileges = {privileges}
}}
resource postgres.grant sequences {{
  role = postgres.role.reader.name
  database = postgres.database.db.name
  schema = "public"
  object_type = "sequence"
  privileges = ["SELECT"]
}}
"#
    )
}

async fn table_privileges(db: &str, role: &str) -> Vec<String> {
    let mut out = Vec::new();
    for privilege in ["SELECT", "INSERT", "UPDATE", "DELETE"] {
        let granted: bool = sql(db)
            .await
            .query_one(
                "SELECT has_table_privilege($1, 'public.items', $2)",
                &[&role, &privilege],
            )
            .await
            .unwrap()
            .get(0);
        if granted {
            out.push(privilege.to_owned());
        }
    }
    out
}

#[tokio::test]
async fn grants_follow_the_blueprint_shape() {
    let owner = unique("obp_gowner");
    let reader = unique("obp_reader");
    let db = unique("obp_gdb");
    let run = Run::new(&grant_stack(&owner, &reader, &db, r#"["SELECT"]"#));
    let first = run.converge().await;
    assert_eq!(first.count(Action::Create), 6);
    // Odoo creates tables later: the new table lacks the grant, which is drift, and apply
    // grants it.
    exec(
        &db,
        "CREATE TABLE public.items (id serial PRIMARY KEY, name text)",
    )
    .await;
    // A new table lacks the grant: drift, and apply grants it.
    let drift = run.plan(false).await;
    assert!(
        drifted(&drift).contains(&"postgres.grant.tables".to_owned()),
        "{drift:#?}"
    );
    run.apply(&drift).await;
    assert_eq!(table_privileges(&db, &reader).await, ["SELECT"]);
    let connect: bool = sql("postgres")
        .await
        .query_one(
            "SELECT bool_or(a.grantee = r.oid AND a.privilege_type = 'CONNECT')
             FROM pg_database d, aclexplode(d.datacl) a, pg_roles r
             WHERE d.datname = $1 AND r.rolname = $2",
            &[&db, &reader],
        )
        .await
        .unwrap()
        .get(0);
    assert!(connect);
    assert!(!run.plan(false).await.has_changes(), "second plan is empty");

    // More privileges: in place.
    run.edit(&grant_stack(
        &owner,
        &reader,
        &db,
        r#"["SELECT", "INSERT"]"#,
    ));
    let more = run.converge().await;
    assert_eq!(
        actions(&more),
        [("postgres.grant.tables".to_owned(), Action::Update)]
    );
    assert_eq!(table_privileges(&db, &reader).await, ["SELECT", "INSERT"]);

    // By hand: a revoke and an extra grant are drift; apply restores exactly the list.
    exec(
        &db,
        &format!("REVOKE INSERT ON public.items FROM \"{reader}\"; GRANT DELETE ON public.items TO \"{reader}\""),
    )
    .await;
    let drift = run.plan(false).await;
    assert_eq!(drifted(&drift), ["postgres.grant.tables"]);
    run.apply(&drift).await;
    assert_eq!(table_privileges(&db, &reader).await, ["SELECT", "INSERT"]);

    run.destroy().await;
    assert!(!database_exists(&db).await);
    assert!(!role_exists(&reader).await);
    assert!(!role_exists(&owner).await);
}

#[tokio::test]
async fn hostile_names_are_refused_before_anything_runs() {
    let sentinel = unique("obp_sentinel");
    exec("postgres", &format!("CREATE ROLE \"{sentinel}\" NOLOGIN")).await;
    let long = "a".repeat(300);
    let hostile = [
        (format!("x\\\"; DROP ROLE {sentinel}; --"), "not allowed"),
        ("../x".to_owned(), "not allowed"),
        (long.clone(), "300 bytes"),
    ];
    for (name, expected) in &hostile {
        let run = Run::new(&role_stack(name, ""));
        let diagnostics = run
            .try_plan(false)
            .await
            .expect_err("plan must refuse the name");
        let text = messages(&diagnostics);
        assert!(text.contains("`name`") && text.contains(expected), "{text}");
        assert!(diagnostics.iter().all(|d| d.code == "E0702"), "{text}");
        // The diagnostic points at the attribute's line in the stack.
        assert!(diagnostics.iter().all(|d| !d.labels.is_empty()));
    }
    // Straight to the provider (as a hand-edited saved plan would): refused too.
    let provider = Postgres::with_secrets(
        &BTreeMap::from([("url".to_owned(), json!({"$secret": "env:OBP_TEST_PG_URL"}))]),
        Arc::new(EnvSecrets),
    )
    .unwrap();
    for (rtype, inputs) in [
        (
            "postgres.role",
            json!({ "name": format!("{sentinel}\"; DROP ROLE {sentinel}; --") }),
        ),
        ("postgres.database", json!({ "name": "../x" })),
        ("postgres.database", json!({ "name": long })),
        (
            "postgres.database",
            json!({ "name": "ok", "parameters": { "work_mem = '1'; DROP ROLE x; --": "1" } }),
        ),
        (
            "postgres.grant",
            json!({ "database": "postgres", "role": sentinel, "object_type": "database", "privileges": ["CONNECT; DROP ROLE x"] }),
        ),
    ] {
        let inputs: BTreeMap<String, Json> = inputs
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let reference = ResourceRef {
            order: None,
            address: "postgres.x.y",
            rtype,
        };
        let error = provider.create(&reference, &inputs).await.unwrap_err();
        assert!(
            matches!(
                error,
                ProviderError::Invalid {
                    attribute: Some(_),
                    ..
                }
            ),
            "{error:?}"
        );
    }
    assert!(role_exists(&sentinel).await, "a hostile name executed");
    assert!(!database_exists("ok").await);
    exec("postgres", &format!("DROP ROLE \"{sentinel}\"")).await;
}

/// Roles and databases PostgreSQL reserves are refused at plan with their own code (E0712),
/// and straight to the provider before any statement: the server's `postgres` role and
/// `template1` database stay as they were.
#[tokio::test]
async fn reserved_roles_and_databases_are_refused_before_anything_runs() {
    let owner = unique("obp_owner");
    let stack = format!(
        r#"
stack pg {{}}
provider postgres {{ url = secret("env:OBP_TEST_PG_URL") }}
resource postgres.role superuser {{
  name = "postgres"
  connection_limit = 1
}}
resource postgres.role everyone {{
  name = "public"
}}
resource postgres.database template {{
  name = "template1"
  owner = "{owner}"
}}
resource postgres.database owned_by_pg {{
  name = "{owner}"
  owner = "pg_monitor"
}}
"#
    );
    let had_postgres = role_exists("postgres").await;
    let diagnostics = Run::new(&stack)
        .try_plan(false)
        .await
        .expect_err("plan must refuse reserved names");
    let text = messages(&diagnostics);
    assert_eq!(diagnostics.len(), 4, "{text}");
    assert!(diagnostics.iter().all(|d| d.code == "E0712"), "{text}");
    assert!(diagnostics.iter().all(|d| !d.labels.is_empty()), "{text}");
    for name in [
        "\"postgres\"",
        "\"public\"",
        "\"template1\"",
        "\"pg_monitor\"",
    ] {
        assert!(text.contains(name), "{name} not named: {text}");
    }
    let provider = Postgres::with_secrets(
        &BTreeMap::from([("url".to_owned(), json!({"$secret": "env:OBP_TEST_PG_URL"}))]),
        Arc::new(EnvSecrets),
    )
    .unwrap();
    for (rtype, inputs) in [
        (
            "postgres.role",
            json!({ "name": "postgres", "superuser": false, "login": false }),
        ),
        (
            "postgres.database",
            json!({ "name": "template1", "owner": owner }),
        ),
    ] {
        let inputs: BTreeMap<String, Json> = inputs
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let reference = ResourceRef {
            order: None,
            address: "postgres.x.y",
            rtype,
        };
        let error = provider.create(&reference, &inputs).await.unwrap_err();
        assert!(
            matches!(error, ProviderError::Rejected { code: "E0712", .. }),
            "{error:?}"
        );
    }
    assert_eq!(
        role_exists("postgres").await,
        had_postgres,
        "the postgres role changed"
    );
    assert!(!role_exists("public").await);
    assert!(database_exists("template1").await);
    assert!(!database_exists(&owner).await);
}

#[tokio::test]
async fn plain_password_and_missing_secret_are_clear_errors() {
    let role = unique("obp_plain");
    let run = Run::new(&role_stack(&role, "").replace("secret(\"test/pw1\")", "\"hunter2\""));
    let text = messages(&run.try_plan(false).await.unwrap_err());
    assert!(
        text.contains("`password`") && text.contains("secret reference"),
        "{text}"
    );

    let run = Run::new(&role_stack(&role, "").replace("test/pw1", "test/not-set-anywhere"));
    let made = run.plan(false).await;
    let report = run.try_apply(&made).await;
    assert!(!report.ok());
    let message = format!("{:?}", report.failed);
    assert!(
        message.contains("secret `test/not-set-anywhere` cannot be resolved"),
        "{message}"
    );
    assert!(!role_exists(&role).await);
}

#[tokio::test]
async fn tls_modes_and_bad_urls() {
    let ca = server_env("OBP_TEST_PG_CA", "postgres");
    let reference = ResourceRef {
        order: None,
        address: "postgres.role.none",
        rtype: "postgres.role",
    };
    let prior = Recorded {
        inputs: BTreeMap::from([("name".to_owned(), json!(unique("obp_absent")))]),
        outputs: BTreeMap::new(),
    };
    let provider = |extra: Json| {
        let mut attrs =
            BTreeMap::from([("url".to_owned(), json!({"$secret": "env:OBP_TEST_PG_URL"}))]);
        for (k, v) in extra.as_object().unwrap() {
            attrs.insert(k.clone(), v.clone());
        }
        Postgres::new(&attrs).unwrap()
    };
    // The server's certificate checked against its CA and name.
    let verified = provider(json!({ "sslmode": "verify-full", "sslrootcert": ca }));
    assert_eq!(verified.read(&reference, &prior).await.unwrap(), None);
    for mode in ["disable", "prefer", "require", "verify-ca"] {
        let p = provider(json!({ "sslmode": mode, "sslrootcert": ca }));
        assert_eq!(p.read(&reference, &prior).await.unwrap(), None, "{mode}");
    }
    // Without the CA the self-signed certificate is refused, and no password shows.
    let unverified =
        provider(json!({ "sslmode": "verify-full", "sslrootcert": "/nonexistent/ca.pem" }));
    let error = unverified
        .read(&reference, &prior)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("sslrootcert"), "{error}");
    let password = url()
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(creds, _)| creds.split_once(':'))
        .map(|(_, p)| p.to_owned())
        .unwrap();
    // A wrong password: the server's refusal, never the URL.
    let wrong = url().replace(&password, "wrong-password");
    let p = Postgres::new(&BTreeMap::from([("url".to_owned(), json!(wrong))])).unwrap();
    let error = p.read(&reference, &prior).await.unwrap_err().to_string();
    assert!(error.contains("password authentication failed"), "{error}");
    assert!(
        !error.contains("wrong-password") && !error.contains(&password),
        "{error}"
    );
    // An unknown option is a configuration error.
    let bad = Postgres::new(&BTreeMap::from([
        ("url".to_owned(), json!("postgres://h/db")),
        ("sslmod".to_owned(), json!("x")),
    ]));
    assert!(matches!(bad, Err(ProviderError::Config(_))));
}

/// `obp import` of each resource type by its id shape, against objects made by hand; a
/// malformed id or a type the provider does not manage is refused naming the id shapes.
#[tokio::test]
async fn every_type_imports_by_its_id() {
    let role = unique("obp_imp");
    let db = unique("obp_impdb");
    // CREATE DATABASE cannot share a statement batch (an implicit transaction).
    exec(
        "postgres",
        &format!("CREATE ROLE \"{role}\" CONNECTION LIMIT 3"),
    )
    .await;
    exec(
        "postgres",
        &format!("CREATE DATABASE \"{db}\" OWNER \"{role}\""),
    )
    .await;
    exec(
        &db,
        &format!(
            "CREATE SCHEMA reports AUTHORIZATION \"{role}\"; CREATE EXTENSION pg_trgm SCHEMA reports; \
             GRANT USAGE ON SCHEMA reports TO \"{role}\""
        ),
    )
    .await;
    let provider = Postgres::new(&BTreeMap::from([(
        "url".to_owned(),
        json!({"$secret": "env:OBP_TEST_PG_URL"}),
    )]))
    .unwrap();
    let import = |rtype: &'static str, id: String| {
        let provider = &provider;
        async move {
            let reference = ResourceRef {
                order: None,
                address: "postgres.x.imported",
                rtype,
            };
            provider.import(&reference, &id).await
        }
    };

    let imported = import("postgres.role", role.clone()).await.unwrap();
    assert_eq!(imported.inputs["name"], json!(role));
    assert_eq!(imported.inputs["connection_limit"], json!(3));
    // Values at their default are left out, as a blueprint that does not set them.
    assert_eq!(imported.inputs.get("superuser"), None);
    // Attributes without a default (owner, schema) are adopted only once the blueprint sets
    // them: import records the object's identity, and the first plan aligns the rest.
    let names = |imported: Recorded| imported.inputs.into_keys().collect::<Vec<_>>();
    let imported = import("postgres.database", db.clone()).await.unwrap();
    assert_eq!(names(imported), ["name"]);
    let imported = import("postgres.schema", format!("{db}/reports"))
        .await
        .unwrap();
    assert_eq!(names(imported), ["database", "name"]);
    let imported = import("postgres.extension", format!("{db}/pg_trgm"))
        .await
        .unwrap();
    assert_eq!(imported.inputs["database"], json!(db));
    assert_eq!(imported.inputs["name"], json!("pg_trgm"));
    let imported = import("postgres.grant", format!("{db}/{role}/schema/reports"))
        .await
        .unwrap();
    assert_eq!(imported.inputs["object_type"], json!("schema"));
    // The owner holds every schema privilege by default.
    assert_eq!(imported.inputs["privileges"], json!(["CREATE", "USAGE"]));

    let missing = import("postgres.schema", format!("{db}/absent"))
        .await
        .unwrap_err()
        .to_string();
    assert!(missing.contains("does not exist"), "{missing}");
    for (rtype, id) in [
        ("postgres.role", format!("{db}/{role}")),
        ("postgres.extension", "pg_trgm".to_owned()),
        ("postgres.grant", format!("{db}/{role}")),
        ("postgres.table", role.clone()),
    ] {
        let error = import(rtype, id.clone()).await.unwrap_err().to_string();
        assert!(
            error.contains(&format!("cannot import `{id}` as {rtype}"))
                && error.contains("DATABASE/ROLE/OBJECT_TYPE[/SCHEMA] (grants)"),
            "{error}"
        );
    }
    exec("postgres", &format!("DROP DATABASE \"{db}\"")).await;
    exec("postgres", &format!("DROP ROLE \"{role}\"")).await;
}
