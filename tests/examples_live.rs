//! The examples that manage data-plane resources, applied for real by the `obp` binary
//! against the test servers (`scripts/servers/*.sh`: PostgreSQL, Redis, PowerDNS and moto for
//! S3, whose versioning the buckets use), the way an operator runs them:
//!
//! apply → an empty second plan → the rendered tree (snapshot + the Odoo rules) and every
//! database, role, ACL user, bucket and DNS record checked directly on its server → a destroy
//! that protection refuses in production → `protect = false` → destroy → every one of them
//! checked gone. Secrets are generated per run and must appear nowhere: not in the output,
//! the state or the rendered files.
//!
//! One test per example (and per environment of `multi-env`). The examples share tenant names
//! (`acme` …), so the tests take turns ([`SERIAL`]). A test that fails half-way removes what
//! its example left on the servers before it ends ([`Cleanup`]), so the next test, or the next
//! run, starts from clean servers; `a_failed_example_leaves_nothing_on_the_servers` checks
//! that.

mod kube;
mod tree;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;

/// Held by each test for its whole run: the examples share names on the servers.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn server_env(name: &str, script: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests through scripts/test, or start the server with \
             `bash scripts/servers/{script}.sh start DIR` and load DIR/{script}.env"
        )
    })
}

#[derive(Clone)]
struct Servers {
    pg_url: String,
    redis_url: String,
    pdns_url: String,
    pdns_key: String,
    s3_endpoint: String,
    s3_access: String,
    s3_secret: String,
}

impl Servers {
    fn from_env() -> Servers {
        Servers {
            pg_url: server_env("OBP_TEST_PG_URL", "postgres"),
            redis_url: server_env("OBP_TEST_REDIS_URL", "redis"),
            pdns_url: server_env("OBP_TEST_PDNS_URL", "pdns"),
            pdns_key: server_env("OBP_TEST_PDNS_KEY", "pdns"),
            s3_endpoint: server_env("OBP_TEST_MOTO_ENDPOINT", "moto"),
            s3_access: server_env("OBP_TEST_MOTO_ACCESS_KEY", "moto"),
            s3_secret: server_env("OBP_TEST_MOTO_SECRET_KEY", "moto"),
        }
    }

    /// What the examples' `secret("env:…")` provider credentials name, on the test servers.
    fn admin_env(&self, name: &str) -> Option<&str> {
        Some(match name {
            "PG_ADMIN_URL"
            | "ACME_PG_ADMIN_URL"
            | "PG_SHARED_ADMIN_URL"
            | "PG_GLOBEX_ADMIN_URL" => &self.pg_url,
            "REDIS_ADMIN_URL" => &self.redis_url,
            "PDNS_API_KEY" => &self.pdns_key,
            "S3_ACCESS_KEY" => &self.s3_access,
            "S3_SECRET_KEY" => &self.s3_secret,
            _ => return None,
        })
    }
}

/// One example copied to a temporary directory, with the variables and environment it runs
/// with.
struct Example {
    name: String,
    dir: tempfile::TempDir,
    vars: Vec<String>,
    env: BTreeMap<String, String>,
    /// Values of the generated tenant secrets, which must never be written anywhere.
    secret_values: Vec<String>,
}

impl Example {
    fn new(name: &str, vars: &[(&str, &str)], servers: &Servers) -> Example {
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(Path::new("examples").join(name))
            .unwrap()
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "obp") {
                std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
            }
        }
        let mut example = Example {
            name: name.to_owned(),
            dir,
            vars: vars.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            env: BTreeMap::new(),
            secret_values: Vec::new(),
        };
        example.set_secrets(servers);
        example
    }

    /// Every `secret(…)` the configuration references gets a value: provider credentials
    /// point at the test servers, tenant secrets get a fresh random value.
    fn set_secrets(&mut self, servers: &Servers) {
        let vars: Vec<(&str, &str)> = self
            .vars
            .iter()
            .filter_map(|var| var.split_once('='))
            .collect();
        let config = tree::evaluate(self.dir.path(), &vars, &self.name);
        let mut paths = BTreeSet::new();
        secret_paths(&serde_json::to_value(&config).unwrap(), &mut paths);
        for path in paths {
            let variable = obp_engine::provider::EnvSecrets::variable(&path);
            let value = match path.strip_prefix("env:") {
                Some(name) => servers
                    .admin_env(name)
                    .unwrap_or_else(|| panic!("{}: the test does not know `{path}`", self.name))
                    .to_owned(),
                None => {
                    let value = format!("obp-live-{}", uuid::Uuid::new_v4().simple());
                    self.secret_values.push(value.clone());
                    value
                }
            };
            self.env.insert(variable, value);
        }
    }

    fn obp(&self, args: &[&str]) -> Output {
        obp_in(self.dir.path(), &self.vars, &self.env, args)
    }

    fn run_ok(&self, args: &[&str]) -> String {
        let output = self.obp(args);
        let text = output_text(&output);
        assert!(
            output.status.success(),
            "{} `obp {}` failed:\n{text}",
            self.name,
            args.join(" ")
        );
        self.assert_no_secret(&format!("the output of `obp {}`", args.join(" ")), &text);
        text
    }

    fn assert_no_secret(&self, what: &str, text: &str) {
        for value in &self.secret_values {
            assert!(
                !text.contains(value),
                "{}: a secret value is in {what}",
                self.name
            );
        }
    }

    /// The state file and what it holds.
    fn state(&self) -> (PathBuf, Json) {
        let path =
            state_path(self.dir.path()).unwrap_or_else(|| panic!("{}: no state file", self.name));
        let text = std::fs::read_to_string(&path).unwrap();
        self.assert_no_secret("the state", &text);
        (path, serde_json::from_str(&text).unwrap())
    }
}

/// Runs the `obp` binary in `dir` with these `--var` values and environment.
fn obp_in(dir: &Path, vars: &[String], env: &BTreeMap<String, String>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_obp"));
    command.current_dir(dir).args(args);
    for var in vars {
        command.args(["--var", var]);
    }
    command.envs(env).env("NO_COLOR", "1");
    command.output().unwrap()
}

/// The state file (the examples keep it beside the stack, or under `state/`), if any.
fn state_path(dir: &Path) -> Option<PathBuf> {
    let candidates = [dir.join("obp.state.json")].into_iter().chain(
        std::fs::read_dir(dir.join("state"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json")),
    );
    let mut found: Vec<PathBuf> = candidates.filter(|p| p.exists()).collect();
    found.sort();
    found.pop()
}

/// Removes what an example left on the servers when its test stops on a failure (a failed
/// check or a panic, so while unwinding): `obp destroy` with the protection lifted, then,
/// for each object its state still names, the server's own command. A test that reaches its
/// end has destroyed everything and checked the servers itself, so the guard does nothing.
///
/// The work runs on a thread of its own (with its own runtime: the test's is busy
/// unwinding), and nothing it meets can panic the test a second time (which would abort).
struct Cleanup {
    name: String,
    dir: PathBuf,
    vars: Vec<String>,
    env: BTreeMap<String, String>,
    servers: Servers,
}

impl Cleanup {
    fn new(example: &Example, servers: &Servers) -> Cleanup {
        Cleanup {
            name: example.name.clone(),
            dir: example.dir.path().to_path_buf(),
            vars: example.vars.clone(),
            env: example.env.clone(),
            servers: servers.clone(),
        }
    }

    fn run(&self) {
        eprintln!(
            "{}: the test failed; removing what it left on the servers",
            self.name
        );
        let stack = self.dir.join("stack.obp");
        if let Some(text) = std::fs::read_to_string(&stack)
            .ok()
            .filter(|text| !text.contains("protect = false"))
        {
            if let Some(unprotected) = unprotected(&text) {
                let _ = std::fs::write(&stack, unprotected);
            }
        }
        let destroy = obp_in(
            &self.dir,
            &self.vars,
            &self.env,
            &["destroy", "--auto-approve"],
        );
        if !destroy.status.success() {
            eprintln!(
                "{}: `obp destroy` after the failure:\n{}",
                self.name,
                output_text(&destroy)
            );
        }
        let Some(state) = state_path(&self.dir)
            .and_then(|path| std::fs::read_to_string(path).ok())
            .and_then(|text| serde_json::from_str::<Json>(&text).ok())
        else {
            return;
        };
        let left = objects(&state);
        if left.is_empty() {
            return;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            for object in removal_order(&left) {
                remove(&self.servers, object).await;
                if exists(&self.servers, object).await {
                    eprintln!("{}: {object:?} is still on its server", self.name);
                }
            }
        });
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let cleanup = Cleanup {
            name: self.name.clone(),
            dir: self.dir.clone(),
            vars: self.vars.clone(),
            env: self.env.clone(),
            servers: self.servers.clone(),
        };
        // A panic on that thread (a server gone too) ends there, reported by its message.
        let _ = std::thread::spawn(move || cleanup.run()).join();
    }
}

fn output_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn secret_paths(value: &Json, out: &mut BTreeSet<String>) {
    match value {
        Json::Object(map) => {
            if let Some(Json::String(path)) = map.get("$secret") {
                out.insert(path.clone());
            }
            map.values().for_each(|v| secret_paths(v, out));
        }
        Json::Array(items) => items.iter().for_each(|v| secret_paths(v, out)),
        _ => {}
    }
}

/// A data-plane object an example manages, as recorded in its state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Object {
    Role(String),
    Database(String),
    AclUser(String),
    Bucket(String),
    Record {
        zone: String,
        name: String,
        rtype: String,
    },
}

fn objects(state: &Json) -> BTreeSet<Object> {
    let mut out = BTreeSet::new();
    for resource in state["resources"].as_object().unwrap().values() {
        let input = |key: &str| {
            resource["inputs"][key]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        let object = match resource["type"].as_str().unwrap_or_default() {
            "postgres.role" => Object::Role(input("name")),
            "postgres.database" => Object::Database(input("name")),
            "redis.acl_user" => Object::AclUser(input("name")),
            "s3.bucket" => Object::Bucket(input("name")),
            "dns.record" => Object::Record {
                zone: input("zone"),
                name: input("name"),
                rtype: input("type"),
            },
            _ => continue,
        };
        out.insert(object);
    }
    out
}

/// Dependents first: records and buckets, ACL users, databases, then the roles owning them.
fn removal_order(objects: &BTreeSet<Object>) -> Vec<&Object> {
    let rank = |object: &Object| match object {
        Object::Record { .. } => 0,
        Object::Bucket(_) => 1,
        Object::AclUser(_) => 2,
        Object::Database(_) => 3,
        Object::Role(_) => 4,
    };
    let mut ordered: Vec<&Object> = objects.iter().collect();
    ordered.sort_by_key(|o| rank(o));
    ordered
}

async fn postgres(servers: &Servers) -> tokio_postgres::Client {
    let config: tokio_postgres::Config = servers.pg_url.parse().unwrap();
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// Removes `object` with its server's own command (not through obp); what cannot be removed
/// is said on stderr.
async fn remove(servers: &Servers, object: &Object) {
    let quoted = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let outcome: Result<(), String> = match object {
        Object::Database(name) => postgres(servers)
            .await
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quoted(name)
            ))
            .await
            .map_err(|e| e.to_string()),
        Object::Role(name) => postgres(servers)
            .await
            .batch_execute(&format!("DROP ROLE IF EXISTS {}", quoted(name)))
            .await
            .map_err(|e| e.to_string()),
        Object::AclUser(name) => {
            let client = redis::Client::open(servers.redis_url.as_str()).unwrap();
            let mut connection = client.get_multiplexed_async_connection().await.unwrap();
            redis::cmd("ACL")
                .arg("DELUSER")
                .arg(name)
                .query_async::<i64>(&mut connection)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Object::Bucket(name) => {
            use rusty_s3::S3Action;
            let bucket = rusty_s3::Bucket::new(
                servers.s3_endpoint.parse().unwrap(),
                rusty_s3::UrlStyle::Path,
                name.clone(),
                "eu-central-1",
            )
            .unwrap();
            let credentials =
                rusty_s3::Credentials::new(servers.s3_access.clone(), servers.s3_secret.clone());
            let url = rusty_s3::actions::DeleteBucket::new(&bucket, &credentials)
                .sign(std::time::Duration::from_secs(60));
            match reqwest::Client::new().delete(url).send().await {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(format!("DELETE bucket: {}", response.status())),
                Err(e) => Err(e.to_string()),
            }
        }
        Object::Record { zone, name, rtype } => {
            let change = serde_json::json!({ "rrsets": [
                { "name": format!("{name}."), "type": rtype, "changetype": "DELETE" }
            ] });
            let response = pdns(
                servers,
                reqwest::Method::PATCH,
                &format!("/zones/{zone}."),
                Some(change),
            )
            .await;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!("PATCH zone: {}", response.status()))
            }
        }
    };
    if let Err(error) = outcome {
        eprintln!("removing {object:?}: {error}");
    }
}

/// Whether `object` exists, asked directly of its server (not through obp).
async fn exists(servers: &Servers, object: &Object) -> bool {
    match object {
        Object::Role(name) | Object::Database(name) => {
            let client = postgres(servers).await;
            let query = if matches!(object, Object::Role(_)) {
                "SELECT count(*) FROM pg_roles WHERE rolname = $1"
            } else {
                "SELECT count(*) FROM pg_database WHERE datname = $1"
            };
            let count: i64 = client.query_one(query, &[name]).await.unwrap().get(0);
            count == 1
        }
        Object::AclUser(name) => {
            let client = redis::Client::open(servers.redis_url.as_str()).unwrap();
            let mut connection = client.get_multiplexed_async_connection().await.unwrap();
            let user: redis::Value = redis::cmd("ACL")
                .arg("GETUSER")
                .arg(name)
                .query_async(&mut connection)
                .await
                .unwrap();
            user != redis::Value::Nil
        }
        Object::Bucket(name) => {
            let endpoint: url::Url = servers.s3_endpoint.parse().unwrap();
            let bucket = rusty_s3::Bucket::new(
                endpoint,
                rusty_s3::UrlStyle::Path,
                name.clone(),
                "eu-central-1",
            )
            .unwrap();
            let credentials =
                rusty_s3::Credentials::new(servers.s3_access.clone(), servers.s3_secret.clone());
            use rusty_s3::S3Action;
            let url = rusty_s3::actions::HeadBucket::new(&bucket, Some(&credentials))
                .sign(std::time::Duration::from_secs(60));
            let status = reqwest::Client::new()
                .head(url)
                .send()
                .await
                .unwrap()
                .status();
            assert!(
                status.is_success() || status == reqwest::StatusCode::NOT_FOUND,
                "HEAD bucket {name}: {status}"
            );
            status.is_success()
        }
        Object::Record { zone, name, rtype } => {
            let zone = pdns_zone(servers, zone)
                .await
                .unwrap_or_else(|| panic!("zone {zone} is gone"));
            zone["rrsets"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|set| set["name"] == format!("{name}.") && set["type"] == rtype.as_str())
        }
    }
}

async fn pdns(
    servers: &Servers,
    method: reqwest::Method,
    path: &str,
    body: Option<Json>,
) -> reqwest::Response {
    for _ in 0..20 {
        let mut request = reqwest::Client::new()
            .request(
                method.clone(),
                format!("{}/api/v1/servers/localhost{path}", servers.pdns_url),
            )
            .header("X-API-Key", &servers.pdns_key);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        // SQLite contention inside PowerDNS answers 500: ask again.
        if !response.status().is_server_error() {
            return response;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("PowerDNS kept answering 500 to {method} {path}");
}

async fn pdns_zone(servers: &Servers, zone: &str) -> Option<Json> {
    let response = pdns(
        servers,
        reqwest::Method::GET,
        &format!("/zones/{zone}."),
        None,
    )
    .await;
    response
        .status()
        .is_success()
        .then(|| response.json())?
        .await
        .ok()
}

/// Applies an example, checks it, destroys it and checks the servers are clean again.
/// `databases`: whether the example manages databases on a server (dev runs PostgreSQL in
/// the cluster instead); `protected`: whether its data is protected from destroy (staging,
/// prod).
async fn round_trip(
    example: &Example,
    servers: &Servers,
    snapshot: &str,
    databases: bool,
    protected: bool,
) {
    let _cleanup = Cleanup::new(example, servers);
    example.run_ok(&["apply", "--auto-approve", "--parallelism", "4"]);

    let plan = example.obp(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}: a second plan must be empty:\n{}",
        example.name,
        output_text(&plan)
    );

    let rendered = tree::files(&example.dir.path().join("out"));
    for (path, text) in &rendered {
        example.assert_no_secret(path, text);
    }
    insta::assert_snapshot!(snapshot, tree::tree_text(&rendered));
    tree::assert_odoo_rules(&example.name, &rendered);
    next_release_over_the_previous(example, &rendered).await;

    let (_, state) = example.state();
    let managed = objects(&state);
    assert_eq!(
        managed.iter().any(|o| matches!(o, Object::Database(_))),
        databases,
        "{}: databases managed on the server: {managed:?}",
        example.name
    );
    on_servers(example, servers, &managed, true, "after apply").await;

    if protected {
        let refused = example.obp(&["destroy", "--auto-approve"]);
        let text = output_text(&refused);
        assert!(
            !refused.status.success() && text.contains("E0611"),
            "{}: production data is protected from destroy:\n{text}",
            example.name
        );
        on_servers(example, servers, &managed, true, "after a refused destroy").await;
        unprotect(&example.dir.path().join("stack.obp"));
        example.run_ok(&["apply", "--auto-approve"]);
    }
    example.run_ok(&["destroy", "--auto-approve", "--parallelism", "4"]);
    on_servers(example, servers, &managed, false, "after destroy").await;
    let left: Vec<String> = tree::files(&example.dir.path().join("out"))
        .into_keys()
        .filter(|p| !p.ends_with("kustomization.yaml"))
        .collect();
    assert!(left.is_empty(), "{}: destroy left {left:?}", example.name);
}

/// The rendered tree is synced to the test Kubernetes API server as Argo CD would (server-side
/// apply, strict field validation); then the next release — new image digests and one more
/// module to upgrade — is applied by obp and its tree synced over the first. The server must
/// accept every object both times: a Job whose template changed in place, or any other
/// immutable field, would be refused here as it would be in a cluster.
async fn next_release_over_the_previous(example: &Example, rendered: &BTreeMap<String, String>) {
    let cluster = kube::Cluster::connect().await;
    let suffix = kube::unique_suffix();
    let refused = cluster.sync_tree(rendered, &suffix).await;
    assert!(
        refused.is_empty(),
        "{}: the API server refused the render:\n{}",
        example.name,
        refused.join("\n")
    );

    let stack = example.dir.path().join("stack.obp");
    let text = std::fs::read_to_string(&stack).unwrap();
    std::fs::write(&stack, next_release(&text)).unwrap();
    example.run_ok(&["apply", "--auto-approve", "--parallelism", "4"]);
    let next = tree::files(&example.dir.path().join("out"));
    let jobs = |tree: &BTreeMap<String, String>, part: &str| -> BTreeMap<String, String> {
        tree.iter()
            .filter(|(path, _)| path.contains("/job-") && path.contains(part))
            .map(|(path, text)| (path.clone(), text.clone()))
            .collect()
    };
    let init = jobs(rendered, "-init.yaml");
    assert!(!init.is_empty(), "{}: no init Job", example.name);
    assert_eq!(
        jobs(&next, "-init.yaml"),
        init,
        "{}: the install-once init Jobs must not change with a release",
        example.name
    );
    let upgrades = jobs(&next, "-upgrade-");
    assert!(
        !upgrades.is_empty() && upgrades.keys().all(|path| !rendered.contains_key(path)),
        "{}: the release's upgrade Jobs are new Jobs, named after it: {:?}",
        example.name,
        upgrades.keys()
    );
    let refused = cluster.sync_tree(&next, &suffix).await;
    assert!(
        refused.is_empty(),
        "{}: the API server refused the next release over the previous one:\n{}",
        example.name,
        refused.join("\n")
    );
    cluster.delete_synced(&next, &suffix).await;
}

/// The stack of the next release: every Odoo image gets a new digest, and the release updates
/// one more module (or, where the stack upgrades none, `crm`).
fn next_release(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.split_once("@sha256:") {
            Some((image, rest)) if image.contains("odoo") && rest.len() >= 64 => {
                let (digest, tail) = rest.split_at(64);
                let next: String = digest
                    .chars()
                    .map(|c| {
                        let n = c.to_digit(16).unwrap_or(0);
                        std::char::from_digit((n + 1) % 16, 16).unwrap_or('0')
                    })
                    .collect();
                format!("{image}@sha256:{next}{tail}")
            }
            _ => line.to_owned(),
        };
        match line.split_once("upgrade = [") {
            Some((indent, rest)) if indent.trim().is_empty() => {
                out.push_str(&format!("{indent}upgrade = [\"account\", {rest}\n"));
            }
            _ => {
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    if !text.contains("upgrade = [") {
        // The first Odoo stack module of the file gets an upgrade list.
        // After the image of the first Odoo stack module (the one that runs Odoo).
        let mut at = 0;
        for line in out.lines() {
            at += line.len() + 1;
            if line.starts_with("  image = ") {
                out.insert_str(at, "  upgrade = [\"crm\"]\n");
                return out;
            }
        }
        panic!("no Odoo stack module with an image in:\n{text}");
    }
    out
}

/// Asks each object's server whether it is there, as `present` says it must be.
async fn on_servers(
    example: &Example,
    servers: &Servers,
    objects: &BTreeSet<Object>,
    present: bool,
    when: &str,
) {
    for object in objects {
        let found = exists(servers, object).await;
        assert_eq!(
            found,
            present,
            "{}: {object:?} {} on its server {when}",
            example.name,
            if found { "is still" } else { "is not" }
        );
    }
}

/// Decommissioning: `protect = false` in every Odoo stack module of the file.
fn unprotect(stack: &Path) {
    let text = std::fs::read_to_string(stack).unwrap();
    let out = unprotected(&text)
        .unwrap_or_else(|| panic!("{}: no Odoo stack module to unprotect", stack.display()));
    std::fs::write(stack, out).unwrap();
}

/// `text` with `protect = false` in every Odoo stack module; `None` when it has none.
fn unprotected(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut changed = false;
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.starts_with("use odoo.")
            && line.ends_with('{')
            && !line.contains("odoo.environments")
        {
            out.push_str("  protect = false\n");
            changed = true;
        }
    }
    changed.then_some(out)
}

/// The zone the dedicated example's records live in (it manages records, not the zone):
/// created for the test, deleted at its end, and on a failure by the guard.
struct Zone {
    servers: Servers,
    deleted: bool,
}

impl Zone {
    const NAME: &str = "acme.example";

    async fn create(servers: &Servers) -> Zone {
        let zone = serde_json::json!({ "name": format!("{}.", Zone::NAME), "kind": "Native", "nameservers": [] });
        if pdns_zone(servers, Zone::NAME).await.is_none() {
            let created = pdns(servers, reqwest::Method::POST, "/zones", Some(zone)).await;
            assert!(
                created.status().is_success(),
                "creating the {} zone: {}",
                Zone::NAME,
                created.status()
            );
        }
        Zone {
            servers: servers.clone(),
            deleted: false,
        }
    }

    async fn delete(mut self) {
        let path = format!("/zones/{}.", Zone::NAME);
        let deleted = pdns(&self.servers, reqwest::Method::DELETE, &path, None).await;
        assert!(
            deleted.status().is_success(),
            "deleting the {} zone: {}",
            Zone::NAME,
            deleted.status()
        );
        self.deleted = true;
    }
}

impl Drop for Zone {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        let servers = self.servers.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let path = format!("/zones/{}.", Zone::NAME);
            runtime.block_on(pdns(&servers, reqwest::Method::DELETE, &path, None));
        })
        .join();
    }
}

#[tokio::test]
async fn dedicated() {
    let _serial = SERIAL.lock().await;
    let servers = Servers::from_env();
    let zone = Zone::create(&servers).await;
    // Where obp reaches the APIs (the pods keep the endpoints written in the examples).
    let vars = [
        ("s3_api", servers.s3_endpoint.as_str()),
        ("dns_api", servers.pdns_url.as_str()),
    ];
    let example = Example::new("dedicated", &vars, &servers);
    round_trip(&example, &servers, "dedicated_tree", true, true).await;
    zone.delete().await;
}

/// The quickstart needs no server but the API server: its render and next release synced.
#[tokio::test]
async fn quickstart() {
    let _serial = SERIAL.lock().await;
    let servers = Servers::from_env();
    let example = Example::new("quickstart", &[], &servers);
    example.run_ok(&["apply", "--auto-approve"]);
    let rendered = tree::files(&example.dir.path().join("out"));
    next_release_over_the_previous(&example, &rendered).await;
}

#[tokio::test]
async fn saas() {
    let _serial = SERIAL.lock().await;
    let servers = Servers::from_env();
    let example = Example::new("saas", &[("s3_api", &servers.s3_endpoint)], &servers);
    round_trip(&example, &servers, "saas_tree", true, true).await;
}

#[tokio::test]
async fn hybrid() {
    let _serial = SERIAL.lock().await;
    let servers = Servers::from_env();
    let example = Example::new("hybrid", &[("s3_api", &servers.s3_endpoint)], &servers);
    round_trip(&example, &servers, "hybrid_tree", true, true).await;
}

/// `multi-env` in one environment: dev runs PostgreSQL in the cluster and is not protected.
async fn multi_env(environment: &str) {
    let _serial = SERIAL.lock().await;
    let servers = Servers::from_env();
    let example = Example::new("multi-env", &[("environment", environment)], &servers);
    let on_servers = environment != "dev";
    let snapshot = format!("multi_env_{environment}_tree");
    round_trip(&example, &servers, &snapshot, on_servers, on_servers).await;
}

#[tokio::test]
async fn multi_env_dev() {
    multi_env("dev").await;
}

#[tokio::test]
async fn multi_env_staging() {
    multi_env("staging").await;
}

#[tokio::test]
async fn multi_env_prod() {
    multi_env("prod").await;
}

/// A test that fails after its apply leaves nothing behind: the guard destroys what the
/// example made (its production data protected, so the protection is lifted first).
#[tokio::test]
async fn a_failed_example_leaves_nothing_on_the_servers() {
    let _serial = SERIAL.lock().await;
    let servers = Servers::from_env();
    let example = Example::new("saas", &[("s3_api", &servers.s3_endpoint)], &servers);
    let (made, managed) = std::sync::mpsc::channel();
    let failing = {
        let servers = servers.clone();
        tokio::spawn(async move {
            let _cleanup = Cleanup::new(&example, &servers);
            example.run_ok(&["apply", "--auto-approve", "--parallelism", "4"]);
            made.send(objects(&example.state().1)).unwrap();
            panic!("a check fails after the apply");
        })
    };
    assert!(failing.await.unwrap_err().is_panic());
    let managed = managed.recv().unwrap();
    assert!(
        managed.iter().any(|o| matches!(o, Object::Database(_))),
        "{managed:?}"
    );
    for object in &managed {
        assert!(
            !exists(&servers, object).await,
            "{object:?} is still on its server after the failed test"
        );
    }
}
