//! The backup scripts odoo.backup renders, run for real with the tools the backup image holds
//! (sh, pg_dump/pg_restore, the aws CLI, sha256sum, awk, GNU date; initdb and pg_ctl for the
//! restore verification) against the test PostgreSQL and S3 (moto) servers of
//! `scripts/servers/`: a tenant database with data and filestore files is backed up, the copy
//! is verified in a scratch server, the database and files are dropped, restored, and compared
//! with what they were.
//!
//! The scripts are the text of the example's ConfigMap and their environment is the one the
//! example's pods get, name by name; only what points at a cluster is changed: the servers'
//! addresses and credentials (the pods read them from Secrets), the bucket names (unique per
//! run, so runs never meet), the database name given as the first argument, and the pods'
//! mount points (`/work`, `/scratch`, `/var/lib/odoo`), which become directories of a
//! temporary directory. A script that would fail in the pod fails here.

mod tree;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;

fn server_env(name: &str, script: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests through scripts/test, or start the server with \
             `bash scripts/servers/{script}.sh start DIR` and load DIR/{script}.env"
        )
    })
}

/// The test servers and what reaches them.
struct Servers {
    pg_admin_url: String,
    pg: url::Url,
    s3_endpoint: String,
    s3_access: String,
    s3_secret: String,
}

impl Servers {
    fn from_env() -> Servers {
        let pg_admin_url = server_env("OBP_TEST_PG_URL", "postgres");
        Servers {
            pg: url::Url::parse(&pg_admin_url).expect("OBP_TEST_PG_URL is a URL"),
            pg_admin_url,
            s3_endpoint: server_env("OBP_TEST_MOTO_ENDPOINT", "moto"),
            s3_access: server_env("OBP_TEST_MOTO_ACCESS_KEY", "moto"),
            s3_secret: server_env("OBP_TEST_MOTO_SECRET_KEY", "moto"),
        }
    }

    /// The admin URL with another database.
    fn url_of(&self, database: &str) -> String {
        let mut url = self.pg.clone();
        url.set_path(database);
        url.to_string()
    }
}

/// PATH with the test server's PostgreSQL tools first (`OBP_TEST_PG_BIN`, from
/// `scripts/servers/postgres.sh`: distribution packages keep initdb and pg_ctl off PATH).
fn tools_path() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    match std::env::var("OBP_TEST_PG_BIN") {
        Ok(bin) if !bin.is_empty() => format!("{bin}:{path}"),
        _ => path,
    }
}

/// Runs a command; panics with its output when it fails.
fn run(what: &str, command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| {
        panic!(
            "{what}: cannot run {command:?}: {e} (the backup tools are sh, psql, pg_dump, \
                 pg_restore, initdb, pg_ctl, setpriv and the aws CLI: `pip install awscli`)"
        )
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{what} failed:\n{text}");
    text
}

fn psql(servers: &Servers, database: &str, sql: &str) -> String {
    run(
        &format!("psql on {database}"),
        Command::new("psql").arg(servers.url_of(database)).args([
            "-v",
            "ON_ERROR_STOP=1",
            "-Atq",
            "-c",
            sql,
        ]),
    )
}

/// The aws CLI as the tests' own client of moto.
fn aws(servers: &Servers, args: &[&str]) -> String {
    run(
        &format!("aws {}", args.join(" ")),
        Command::new("aws")
            .env_clear()
            .env("PATH", tools_path())
            .env("AWS_ACCESS_KEY_ID", &servers.s3_access)
            .env("AWS_SECRET_ACCESS_KEY", &servers.s3_secret)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .args([
                "--endpoint-url",
                &servers.s3_endpoint,
                "--region",
                "us-east-1",
            ])
            .args(args),
    )
}

/// Every object of a bucket with its content (binary parts replaced), by key.
fn objects(servers: &Servers, bucket: &str, scratch: &Path) -> BTreeMap<String, String> {
    let copy = scratch.join(format!("copy-of-{bucket}"));
    let _ = std::fs::remove_dir_all(&copy);
    aws(
        servers,
        &[
            "s3",
            "sync",
            "--only-show-errors",
            &format!("s3://{bucket}/"),
            copy.to_str().unwrap(),
        ],
    );
    read_tree(&copy)
}

/// The scripts of the example's backup ConfigMap, and the first container (init containers
/// first) of `cron_job` for `tenant`, as rendered.
fn rendered(example: &str, cron_job: &str, tenant: &str) -> (BTreeMap<String, String>, Json) {
    let all = tree::resources(example, &[]);
    let scripts = all
        .iter()
        .find(|(rtype, _, a)| {
            rtype == "k8s.config_map"
                && a["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("-backup-scripts"))
        })
        .map(|(_, _, a)| {
            a["data"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_else(|| panic!("{example}: no backup scripts"));
    let (_, _, job) = all
        .iter()
        .find(|(rtype, address, _)| {
            rtype == "k8s.cron_job" && address.ends_with(&format!("{cron_job}[\"{tenant}\"]"))
        })
        .unwrap_or_else(|| panic!("{example}: no {cron_job} CronJob for {tenant}"));
    let pod = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let container = ["initContainers", "containers"]
        .iter()
        .find_map(|k| pod[*k].as_array().and_then(|c| c.first()))
        .unwrap()
        .clone();
    (scripts, container)
}

/// A place standing in for one run's pod: its mounts, scripts and environment.
struct Pod {
    root: PathBuf,
    env: BTreeMap<String, String>,
}

impl Pod {
    /// The pod's mount points under `root`, the scripts written there with those paths, and the
    /// container's environment with the servers' addresses and credentials.
    fn new(
        root: &Path,
        scripts: &BTreeMap<String, String>,
        container: &Json,
        servers: &Servers,
        buckets: &BTreeMap<&str, String>,
    ) -> Pod {
        for dir in ["work", "scratch", "odoo", "scripts", "home"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        let at = |dir: &str| root.join(dir).display().to_string();
        for (name, text) in scripts {
            for mount in ["/work/", "/var/lib/odoo/"] {
                assert!(
                    name != "backup.sh" || text.contains(mount),
                    "{name} no longer uses {mount}: update this test's mount points"
                );
            }
            let text = text
                .replace("/var/lib/odoo/", &format!("{}/", at("odoo")))
                .replace("/work/", &format!("{}/", at("work")))
                .replace("/scratch", &at("scratch"));
            std::fs::write(root.join("scripts").join(name), text).unwrap();
        }
        let mut env = BTreeMap::new();
        env.insert("PATH".to_owned(), tools_path());
        for entry in container["env"].as_array().into_iter().flatten() {
            let name = entry["name"].as_str().unwrap().to_owned();
            let value = match (name.as_str(), entry["value"].as_str()) {
                ("BACKUP_ENDPOINT" | "FILESTORE_ENDPOINT", Some(_)) => servers.s3_endpoint.clone(),
                ("BACKUP_BUCKET" | "FILESTORE_BUCKET", Some(v)) if !v.is_empty() => {
                    buckets[name.as_str()].clone()
                }
                ("PGHOST", _) => servers.pg.host_str().unwrap().to_owned(),
                ("PGPORT", _) => servers.pg.port().unwrap_or(5432).to_string(),
                ("PGUSER", _) => servers.pg.username().to_owned(),
                ("HOME", _) => at("home"),
                (_, Some(v)) => v.to_owned(),
                // What the pod reads from Secrets.
                ("PGPASSWORD", None) => servers.pg.password().unwrap().to_owned(),
                ("AWS_ACCESS_KEY_ID" | "FILESTORE_ACCESS_KEY_ID", None) => {
                    servers.s3_access.clone()
                }
                ("AWS_SECRET_ACCESS_KEY" | "FILESTORE_SECRET_ACCESS_KEY", None) => {
                    servers.s3_secret.clone()
                }
                (other, None) => panic!("the test does not know what {other} holds: {entry}"),
            };
            env.insert(name, value);
        }
        // The test server's certificate is signed by its own CA.
        if let Ok(ca) = std::env::var("OBP_TEST_PG_CA") {
            env.insert("PGSSLROOTCERT".to_owned(), ca);
        }
        env.insert("AWS_CONFIG_FILE".to_owned(), "/dev/null".to_owned());
        env.insert(
            "AWS_SHARED_CREDENTIALS_FILE".to_owned(),
            "/dev/null".to_owned(),
        );
        Pod {
            root: root.to_path_buf(),
            env,
        }
    }

    /// Each Job's pod starts with an empty /work.
    fn fresh_work(&self) {
        std::fs::remove_dir_all(self.root.join("work")).unwrap();
        std::fs::create_dir(self.root.join("work")).unwrap();
    }

    fn script(&self, name: &str, args: &[&str]) -> Command {
        let mut command = Command::new("/bin/sh");
        command
            .arg(self.root.join("scripts").join(name))
            .args(args)
            .env_clear()
            .envs(&self.env);
        command
    }
}

/// Removes what the test made on the servers, whatever the outcome.
struct Cleanup<'a> {
    servers: &'a Servers,
    database: String,
    buckets: Vec<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.servers.pg_admin_url)
            .args([
                "-qc",
                &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database),
            ])
            .output();
        for bucket in &self.buckets {
            let _ = Command::new("aws")
                .env("AWS_ACCESS_KEY_ID", &self.servers.s3_access)
                .env("AWS_SECRET_ACCESS_KEY", &self.servers.s3_secret)
                .args(["--endpoint-url", &self.servers.s3_endpoint])
                .args(["--region", "us-east-1", "s3", "rb", "--force"])
                .arg(format!("s3://{bucket}"))
                .output();
        }
    }
}

/// What the test compares before and after: every table's rows, in order.
fn database_content(servers: &Servers, database: &str) -> String {
    psql(
        servers,
        database,
        "SELECT 'users', id, login FROM res_users ORDER BY id; \
         SELECT 'modules', name, state FROM ir_module_module ORDER BY id; \
         SELECT 'attachments', name, store_fname FROM ir_attachment ORDER BY id",
    )
}

const ODOO_TABLES: &str = "\
    CREATE TABLE res_users (id serial PRIMARY KEY, login text NOT NULL UNIQUE); \
    INSERT INTO res_users (login) VALUES ('__system__'), ('admin'), ('portal'); \
    CREATE TABLE ir_module_module (id serial PRIMARY KEY, name text NOT NULL, state text); \
    INSERT INTO ir_module_module (name, state) VALUES ('base', 'installed'), \
      ('attachment_s3', 'installed'), ('crm', 'uninstalled'); \
    CREATE TABLE ir_attachment (id serial PRIMARY KEY, name text, store_fname text); \
    INSERT INTO ir_attachment (name, store_fname) VALUES \
      ('invoice.pdf', '3f/3f786850e387550fdab836ed7e6dc881de23001b'), \
      ('logo.png', 'a9/a9993e364706816aba3e25717850c26c9cd0d89d')";

/// The files the attachments above name, with their contents.
fn attachment_files() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "3f/3f786850e387550fdab836ed7e6dc881de23001b".to_owned(),
            "%PDF-1.7 an invoice\n".to_owned(),
        ),
        (
            "a9/a9993e364706816aba3e25717850c26c9cd0d89d".to_owned(),
            "a logo\n".to_owned(),
        ),
    ])
}

/// The verification's scratch PostgreSQL refuses to run as root: as root, the scripts run as
/// the `postgres` user (the postgres image's user in the pod), who must own the pod's paths.
fn as_postgres_user(command: &mut Command, root: &Path) {
    if run("id -u", Command::new("id").arg("-u")).trim() != "0" {
        return;
    }
    let uid: u32 = run(
        "id -u postgres",
        Command::new("id").args(["-u", "postgres"]),
    )
    .trim()
    .parse()
    .unwrap();
    let gid: u32 = run(
        "id -g postgres",
        Command::new("id").args(["-g", "postgres"]),
    )
    .trim()
    .parse()
    .unwrap();
    run(
        "chown",
        Command::new("chown")
            .args(["-R", &format!("{uid}:{gid}")])
            .arg(root),
    );
    let mut parent = root.parent();
    // The temporary directories above it must let that user through (the system's own
    // temporary directory already does).
    let system_tmp = std::env::temp_dir();
    while let Some(dir) = parent.filter(|d| d.starts_with(&system_tmp) && *d != system_tmp) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir).unwrap().permissions().mode();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o011)).unwrap();
        parent = dir.parent();
    }
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = command
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
        .collect();
    *command = Command::new("setpriv");
    command
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
            "--",
        ])
        .arg(program)
        .args(args)
        .env_clear()
        .envs(envs);
}

/// Reads a directory's files with their contents, by relative path.
fn read_tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let key = path.strip_prefix(root).unwrap().display().to_string();
                let bytes = std::fs::read(&path).unwrap();
                out.insert(key, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    out
}

/// Where the tenant's attachments live in a round trip.
#[derive(Clone, Copy, PartialEq)]
enum Filestore {
    /// The tenant's own bucket, beside another tenant's.
    Bucket,
    /// The instance's volume, mounted at /var/lib/odoo.
    Claim,
}

/// The tenant `tenant` of `example`: a database with Odoo's tables and attachment files is
/// backed up by the rendered CronJob's script and environment, the copy is verified as the
/// weekly verification does (fetch, then a restore into a scratch server), the database and
/// files are lost, and `restore.sh` puts both back as they were; a damaged backup is then
/// refused before anything is touched.
fn round_trip(example: &str, tenant: &str, filestore: Filestore) {
    let servers = Servers::from_env();
    let id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let database = format!("obp_backups_{id}");
    let mut buckets = BTreeMap::from([("BACKUP_BUCKET", format!("obp-backups-{id}"))]);
    if filestore == Filestore::Bucket {
        buckets.insert("FILESTORE_BUCKET", format!("obp-filestore-{id}-{tenant}"));
    }
    let other_tenant = format!("obp-filestore-{id}-other");
    let _cleanup = Cleanup {
        servers: &servers,
        database: database.clone(),
        buckets: buckets
            .values()
            .cloned()
            .chain([other_tenant.clone()])
            .collect(),
    };
    let scratch = tempfile::tempdir().unwrap();
    let (scripts, container) = rendered(example, "backup", tenant);
    assert!(
        scripts.contains_key("restore.sh"),
        "{:?}",
        scripts.keys().collect::<Vec<_>>()
    );
    // The backup and restore pods mount the same claim; the verification mounts none.
    let pod = Pod::new(
        &scratch.path().join("pod"),
        &scripts,
        &container,
        &servers,
        &buckets,
    );
    let claim_files = pod.root.join("odoo/filestore").join(&database);

    // The tenant: a database with Odoo's tables, and its attachments.
    psql(
        &servers,
        "postgres",
        &format!("CREATE DATABASE \"{database}\""),
    );
    psql(&servers, &database, ODOO_TABLES);
    let before = database_content(&servers, &database);
    for bucket in buckets.values().chain([&other_tenant]) {
        aws(&servers, &["s3", "mb", &format!("s3://{bucket}")]);
    }
    let files = match filestore {
        Filestore::Bucket => scratch.path().join("files"),
        Filestore::Claim => claim_files.clone(),
    };
    for (key, content) in attachment_files() {
        let path = files.join(&key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
    }
    let attachments = || match filestore {
        Filestore::Bucket => objects(&servers, &buckets["FILESTORE_BUCKET"], scratch.path()),
        Filestore::Claim => read_tree(&claim_files),
    };
    if filestore == Filestore::Bucket {
        aws(
            &servers,
            &[
                "s3",
                "sync",
                "--only-show-errors",
                files.to_str().unwrap(),
                &format!("s3://{}/", buckets["FILESTORE_BUCKET"]),
            ],
        );
    }
    // Another tenant's attachment, which no backup of this tenant may hold.
    let others = scratch.path().join("other.txt");
    std::fs::write(&others, "another tenant's payroll\n").unwrap();
    aws(
        &servers,
        &[
            "s3",
            "cp",
            "--only-show-errors",
            others.to_str().unwrap(),
            &format!("s3://{other_tenant}/c1/c1dfd96eea8cc2b62785275bca38ac261256e278"),
        ],
    );
    assert_eq!(attachments(), attachment_files());

    // The scheduled backup, as the CronJob runs it:
    // `/bin/sh /scripts/backup.sh DATABASE RETENTION_DAYS KIND`, with the test's database.
    let mut args: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[..3], ["/bin/sh", "/scripts/backup.sh", tenant]);
    args[2] = &database;
    let out = run("backup.sh", &mut pod.script("backup.sh", &args[2..]));
    assert!(out.contains("done"), "{out}");
    let stored = objects(&servers, &buckets["BACKUP_BUCKET"], scratch.path());
    let prefix = format!("{}/{database}/", pod.env["BACKUP_PREFIX"]);
    let latest = stored
        .get(&format!("{prefix}LATEST"))
        .unwrap_or_else(|| panic!("no LATEST in {:?}", stored.keys().collect::<Vec<_>>()))
        .trim()
        .to_owned();
    assert!(latest.ends_with("-scheduled"), "{latest}");
    let copied: BTreeMap<String, String> = stored
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(&format!("{prefix}{latest}/filestore/"))
                .map(|k| (k.to_owned(), v.clone()))
        })
        .collect();
    assert_eq!(
        copied,
        attachment_files(),
        "the backup holds the tenant's files"
    );
    assert!(
        !stored.values().any(|v| v.contains("payroll")),
        "a backup holds another tenant's file: {:?}",
        stored.keys().collect::<Vec<_>>()
    );
    for file in ["db.dump", "db.dump.sha256"] {
        assert!(
            stored.contains_key(&format!("{prefix}{latest}/{file}")),
            "{file}"
        );
    }

    // The weekly verification: fetch (tools image), then restore into a scratch server
    // (postgres image) and count users and installed modules.
    let (scripts, fetch) = rendered(example, "verify", tenant);
    let verify = Pod::new(
        &scratch.path().join("verify-pod"),
        &scripts,
        &fetch,
        &servers,
        &buckets,
    );
    let out = run("fetch.sh", &mut verify.script("fetch.sh", &[&database]));
    assert!(out.contains("checksum ok"), "{out}");
    let mut check = verify.script("verify.sh", &[]);
    as_postgres_user(&mut check, &verify.root);
    let out = run("verify.sh", &mut check);
    assert!(
        out.contains("verified: 3 users, 2 installed modules"),
        "{out}"
    );

    // Both lost: the database dropped and made anew, the attachments deleted.
    psql(
        &servers,
        "postgres",
        &format!("DROP DATABASE \"{database}\" WITH (FORCE)"),
    );
    psql(
        &servers,
        "postgres",
        &format!("CREATE DATABASE \"{database}\""),
    );
    match filestore {
        Filestore::Bucket => {
            let bucket = format!("s3://{}/", buckets["FILESTORE_BUCKET"]);
            aws(
                &servers,
                &["s3", "rm", "--recursive", "--only-show-errors", &bucket],
            );
        }
        Filestore::Claim => std::fs::remove_dir_all(&claim_files).unwrap(),
    }
    assert!(attachments().is_empty());

    // restore.sh, with the backup pod's environment and mounts.
    pod.fresh_work();
    let out = run("restore.sh", &mut pod.script("restore.sh", &[&database]));
    assert!(
        out.contains(&format!("restored {database} from {latest}")),
        "{out}"
    );
    assert_eq!(database_content(&servers, &database), before);
    assert_eq!(attachments(), attachment_files());

    // A damaged backup is refused before anything is touched.
    psql(
        &servers,
        &database,
        "INSERT INTO res_users (login) VALUES ('after')",
    );
    let changed = database_content(&servers, &database);
    let dump = scratch.path().join("damaged.dump");
    std::fs::write(&dump, "not a dump").unwrap();
    aws(
        &servers,
        &[
            "s3",
            "cp",
            "--only-show-errors",
            dump.to_str().unwrap(),
            &format!("s3://{}/{prefix}{latest}/db.dump", buckets["BACKUP_BUCKET"]),
        ],
    );
    pod.fresh_work();
    let refused = pod.script("restore.sh", &[&database]).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("is damaged"), "{stderr}");
    assert_eq!(database_content(&servers, &database), changed);
}

/// A shared platform's tenant on S3 (the saas example's `acme`): its backup copies its own
/// bucket, read with its own credentials, and no other tenant's.
#[test]
fn a_saas_tenant_on_s3_is_backed_up_verified_and_restored() {
    round_trip("saas", "acme", Filestore::Bucket);
}

/// A dedicated tenant on a volume (the quickstart's `acme`): its backup copies the mounted
/// claim, and the restore writes the files back into it.
#[test]
fn a_tenant_on_a_volume_is_backed_up_verified_and_restored() {
    round_trip("quickstart", "acme", Filestore::Claim);
}
