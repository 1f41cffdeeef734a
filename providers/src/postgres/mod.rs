//! The PostgreSQL provider: login roles, databases with a parameter baseline, extensions,
//! schemas and grants on a server obp reaches with an admin URL.
//!
//! ```text
//! provider postgres { url = secret("env:PG_ADMIN_URL") sslmode = "verify-full" }
//! ```
//!
//! Safety rules:
//! - names are checked in `validate` (so `plan` points at the blueprint line) and again before
//!   any statement runs: ASCII letters, digits, `_`, `.`, `-`, at most 63 bytes (PostgreSQL
//!   silently truncates longer names); identifiers are still always double-quoted and
//!   literals single-quoted;
//! - passwords are secret references, resolved at apply time only, sent as a SCRAM-SHA-256
//!   verifier computed here (the plain password never reaches the server or its logs) and
//!   never recorded: state keeps the reference plus a fingerprint (SHA-256 of the stored
//!   verifier, when the admin may read `pg_authid`) that makes a hand-changed password drift;
//! - roles default to NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION.
//!
//! `read` queries the catalogs and returns the live value of every managed attribute, so a
//! parameter, flag or owner changed by hand shows as drift in `plan`.

mod sql;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use obp_engine::pg::{quote_ident, quote_literal, sqlstate, Client, SslMode, Target};
use obp_engine::provider::{
    AttrSchema, AttrType, EnvSecrets, Provider, ProviderError, Recorded, ResourceRef,
    ResourceSchema, Secrets,
};
use serde_json::{json, Value as Json};

use crate::attrs::{
    config_value, invalid, overlay, resolve_secret, same_set, sha256_hex, Inputs, CHANGED_OUTSIDE,
};
pub use sql::{check_inputs, check_prior, param_text};

/// A configured PostgreSQL server.
pub struct Postgres {
    url: Json,
    sslmode: Option<SslMode>,
    root_cert: Option<PathBuf>,
    secrets: Arc<dyn Secrets>,
    admin: tokio::sync::Mutex<Option<Arc<Client>>>,
}

impl Postgres {
    /// From the provider block: `url` (required), `sslmode`, `sslrootcert`.
    pub fn new(attrs: &BTreeMap<String, Json>) -> Result<Postgres, ProviderError> {
        Postgres::with_secrets(attrs, Arc::new(EnvSecrets))
    }

    pub fn with_secrets(
        attrs: &BTreeMap<String, Json>,
        secrets: Arc<dyn Secrets>,
    ) -> Result<Postgres, ProviderError> {
        const KNOWN: &[&str] = &["url", "sslmode", "sslrootcert"];
        crate::attrs::check_options(attrs, KNOWN)?;
        let url = crate::attrs::admin_url(attrs, "PG_ADMIN_URL")?;
        let sslmode = match attrs.get("sslmode") {
            None | Some(Json::Null) => None,
            Some(Json::String(mode)) => Some(SslMode::parse(mode).ok_or_else(|| {
                ProviderError::Config(format!(
                    "unknown sslmode `{mode}` (known: {})",
                    SslMode::NAMES.join(", ")
                ))
            })?),
            Some(_) => {
                return Err(ProviderError::Config(
                    "`sslmode` must be a string".to_owned(),
                ))
            }
        };
        let root_cert = match attrs.get("sslrootcert") {
            None | Some(Json::Null) => None,
            Some(Json::String(path)) if !path.is_empty() => Some(PathBuf::from(path)),
            Some(_) => {
                return Err(ProviderError::Config(
                    "`sslrootcert` must be a path".to_owned(),
                ))
            }
        };
        Ok(Postgres {
            url,
            sslmode,
            root_cert,
            secrets,
            admin: tokio::sync::Mutex::new(None),
        })
    }

    fn target(&self) -> Result<Target, ProviderError> {
        let url = config_value(self.secrets.as_ref(), "url", &self.url)?;
        Target::parse(&url, self.sslmode, self.root_cert.as_deref())
            .map_err(|e| ProviderError::Config(format!("`url`: {e}")))
    }

    /// The admin connection (to the URL's database), opened once and reopened if it dropped.
    async fn admin(&self) -> Result<(Arc<Client>, Target), ProviderError> {
        let target = self.target()?;
        let mut guard = self.admin.lock().await;
        if let Some(client) = guard.as_ref().filter(|c| !c.is_closed()) {
            return Ok((client.clone(), target));
        }
        let client = Arc::new(target.connect().await.map_err(ProviderError::Remote)?);
        *guard = Some(client.clone());
        Ok((client, target))
    }

    /// A connection to `database` (for extensions, schemas and grants inside it); `None`
    /// when the database does not exist.
    async fn connect_to(&self, database: &str) -> Result<Option<(Client, Target)>, ProviderError> {
        let (admin, base) = self.admin().await?;
        let exists = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
            .await
            .map_err(|e| remote(&base, "reading pg_database", &e))?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let target = base.with_database(database);
        let client = target.connect().await.map_err(ProviderError::Remote)?;
        Ok(Some((client, target)))
    }

    async fn connect_existing(&self, database: &str) -> Result<(Client, Target), ProviderError> {
        self.connect_to(database)
            .await?
            .ok_or_else(|| ProviderError::Remote(format!("database {database:?} does not exist")))
    }
}

fn remote(target: &Target, what: &str, error: &tokio_postgres::Error) -> ProviderError {
    ProviderError::Remote(format!("{what}: {}", target.error(error)))
}

/// Runs one statement (utility statements take no parameters: every name and literal in
/// `statement` went through [`quote_ident`] / [`quote_literal`] after validation).
async fn run(client: &Client, target: &Target, statement: &str) -> Result<(), ProviderError> {
    client.batch_execute(statement).await.map_err(|e| {
        let verb: String = statement
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        remote(target, &verb, &e)
    })
}

/// Runs a `CREATE …` statement; an object that is already there (SQLSTATE 42710, 42P04,
/// 42P06: made outside obp, or by an apply killed before it recorded it) is reported as such,
/// with the id `obp import` takes to adopt it.
async fn create(
    client: &Client,
    target: &Target,
    statement: &str,
    id: &str,
) -> Result<(), ProviderError> {
    const DUPLICATE: [&str; 3] = ["42710", "42P04", "42P06"];
    client.batch_execute(statement).await.map_err(|e| {
        let verb: String = statement
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        match sqlstate(&e) {
            Some(code) if DUPLICATE.contains(&code) => ProviderError::AlreadyExists {
                message: format!("{verb}: {}", target.error(&e)),
                id: id.to_owned(),
            },
            _ => remote(target, &verb, &e),
        }
    })
}

fn attr(name: &'static str, ty: AttrType) -> AttrSchema {
    AttrSchema::new(name, ty)
}

/// The resource types this provider manages.
pub fn schemas() -> Vec<ResourceSchema> {
    vec![
        ResourceSchema {
            rtype: "postgres.role".to_owned(),
            attributes: vec![
                attr("name", AttrType::String).required().force_new().doc("role name (at most 63 bytes)"),
                attr("login", AttrType::Bool).doc("may log in (default true)"),
                attr("password", AttrType::String).sensitive().doc("a secret reference; sent as a SCRAM verifier, never stored"),
                attr("connection_limit", AttrType::Int).doc("connections the role may hold (default -1: no limit)"),
                attr("superuser", AttrType::Bool).doc("default false"),
                attr("create_db", AttrType::Bool).doc("default false"),
                attr("create_role", AttrType::Bool).doc("default false"),
                attr("replication", AttrType::Bool).doc("default false"),
                attr("password_fingerprint", AttrType::String).computed().doc("SHA-256 of the stored verifier, to spot hand changes"),
            ],
            open: false,
            doc: "a PostgreSQL role (NOSUPERUSER NOCREATEDB NOCREATEROLE unless asked)",
        },
        ResourceSchema {
            rtype: "postgres.database".to_owned(),
            attributes: vec![
                attr("name", AttrType::String).required().force_new().doc("database name (at most 63 bytes)"),
                attr("owner", AttrType::String).doc("owning role (default: the admin user)"),
                attr("encoding", AttrType::String).force_new().doc("default UTF8"),
                attr("template", AttrType::String).force_new().doc("default template0"),
                attr("lc_collate", AttrType::String).force_new(),
                attr("lc_ctype", AttrType::String).force_new(),
                attr("parameters", AttrType::Map).doc("ALTER DATABASE … SET name = value; when given, the whole set: other settings are RESET"),
                attr("connection_limit", AttrType::Int).doc("default -1: no limit"),
            ],
            open: false,
            doc: "a PostgreSQL database with its parameter baseline",
        },
        ResourceSchema {
            rtype: "postgres.extension".to_owned(),
            attributes: vec![
                attr("database", AttrType::String).required().force_new(),
                attr("name", AttrType::String).required().force_new().doc("unaccent, pg_trgm …"),
                attr("schema", AttrType::String).doc("schema to create it in (default: the database's first schema in search_path)"),
            ],
            open: false,
            doc: "an extension created in one database",
        },
        ResourceSchema {
            rtype: "postgres.schema".to_owned(),
            attributes: vec![
                attr("database", AttrType::String).required().force_new(),
                attr("name", AttrType::String).required().force_new(),
                attr("owner", AttrType::String),
            ],
            open: false,
            doc: "a schema in one database",
        },
        ResourceSchema {
            rtype: "postgres.grant".to_owned(),
            attributes: vec![
                attr("database", AttrType::String).required().force_new(),
                attr("role", AttrType::String).required().force_new(),
                attr("object_type", AttrType::String).required().force_new().doc("database, schema, table (all tables of `schema`) or sequence (all sequences of `schema`)"),
                attr("schema", AttrType::String).force_new().doc("the schema, for object_type schema, table and sequence"),
                attr("privileges", AttrType::List).required().doc("such as [\"CONNECT\"] or [\"SELECT\"]"),
            ],
            open: false,
            doc: "privileges of a role on a database, a schema, or all tables or sequences of a schema",
        },
    ]
}

#[async_trait]
impl Provider for Postgres {
    fn kind(&self) -> &str {
        "postgres"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        schemas()
    }

    fn validate(
        &self,
        resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Vec<ProviderError> {
        check_inputs(resource.rtype, inputs)
    }

    async fn create(
        &self,
        resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        first_error(check_inputs(resource.rtype, inputs))?;
        let i = Inputs(inputs);
        match resource.rtype {
            "postgres.role" => {
                let (admin, target) = self.admin().await?;
                let name = i.str_req("name")?;
                let statement = format!(
                    "CREATE ROLE {} WITH {}",
                    quote_ident(name),
                    self.role_options(i)?
                );
                create(&admin, &target, &statement, name).await?;
                self.role_recorded(&admin, &target, inputs).await
            }
            "postgres.database" => {
                let (admin, target) = self.admin().await?;
                let name = i.str_req("name")?;
                let mut statement = format!("CREATE DATABASE {}", quote_ident(name));
                if let Some(owner) = i.str_opt("owner")? {
                    statement.push_str(&format!(" OWNER {}", quote_ident(owner)));
                }
                statement.push_str(&format!(
                    " ENCODING {} TEMPLATE {}",
                    quote_literal(i.str_opt("encoding")?.unwrap_or("UTF8")),
                    quote_ident(i.str_opt("template")?.unwrap_or("template0"))
                ));
                if let Some(collate) = i.str_opt("lc_collate")? {
                    statement.push_str(&format!(" LC_COLLATE {}", quote_literal(collate)));
                }
                if let Some(ctype) = i.str_opt("lc_ctype")? {
                    statement.push_str(&format!(" LC_CTYPE {}", quote_literal(ctype)));
                }
                statement.push_str(&format!(
                    " CONNECTION LIMIT {}",
                    i.int_opt("connection_limit")?.unwrap_or(-1)
                ));
                create(&admin, &target, &statement, name).await?;
                self.set_parameters(&admin, &target, name, i, &BTreeMap::new())
                    .await?;
                Ok(recorded(inputs))
            }
            "postgres.extension" => {
                let database = i.str_req("database")?;
                let (client, target) = self.connect_existing(database).await?;
                let name = i.str_req("name")?;
                let mut statement = format!("CREATE EXTENSION {}", quote_ident(name));
                if let Some(schema) = i.str_opt("schema")? {
                    statement.push_str(&format!(" SCHEMA {}", quote_ident(schema)));
                }
                create(&client, &target, &statement, &format!("{database}/{name}")).await?;
                Ok(recorded(inputs))
            }
            "postgres.schema" => {
                let database = i.str_req("database")?;
                let (client, target) = self.connect_existing(database).await?;
                let name = i.str_req("name")?;
                let mut statement = format!("CREATE SCHEMA {}", quote_ident(name));
                if let Some(owner) = i.str_opt("owner")? {
                    statement.push_str(&format!(" AUTHORIZATION {}", quote_ident(owner)));
                }
                create(&client, &target, &statement, &format!("{database}/{name}")).await?;
                Ok(recorded(inputs))
            }
            "postgres.grant" => {
                self.apply_grant(i).await?;
                Ok(recorded(inputs))
            }
            other => Err(unknown_type(other)),
        }
    }

    async fn update(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        first_error(check_inputs(resource.rtype, inputs))?;
        let i = Inputs(inputs);
        match resource.rtype {
            "postgres.role" => {
                let (admin, target) = self.admin().await?;
                let statement = format!(
                    "ALTER ROLE {} WITH {}",
                    quote_ident(i.str_req("name")?),
                    self.role_options(i)?
                );
                run(&admin, &target, &statement).await?;
                self.role_recorded(&admin, &target, inputs).await
            }
            "postgres.database" => {
                let (admin, target) = self.admin().await?;
                let name = quote_ident(i.str_req("name")?);
                if let Some(owner) = i.str_opt("owner")? {
                    run(
                        &admin,
                        &target,
                        &format!("ALTER DATABASE {name} OWNER TO {}", quote_ident(owner)),
                    )
                    .await?;
                }
                run(
                    &admin,
                    &target,
                    &format!(
                        "ALTER DATABASE {name} WITH CONNECTION LIMIT {}",
                        i.int_opt("connection_limit")?.unwrap_or(-1)
                    ),
                )
                .await?;
                self.set_parameters(&admin, &target, i.str_req("name")?, i, &prior.inputs)
                    .await?;
                Ok(recorded(inputs))
            }
            "postgres.extension" => {
                let (client, target) = self.connect_existing(i.str_req("database")?).await?;
                if let Some(schema) = i.str_opt("schema")? {
                    run(
                        &client,
                        &target,
                        &format!(
                            "ALTER EXTENSION {} SET SCHEMA {}",
                            quote_ident(i.str_req("name")?),
                            quote_ident(schema)
                        ),
                    )
                    .await?;
                }
                Ok(recorded(inputs))
            }
            "postgres.schema" => {
                let (client, target) = self.connect_existing(i.str_req("database")?).await?;
                if let Some(owner) = i.str_opt("owner")? {
                    run(
                        &client,
                        &target,
                        &format!(
                            "ALTER SCHEMA {} OWNER TO {}",
                            quote_ident(i.str_req("name")?),
                            quote_ident(owner)
                        ),
                    )
                    .await?;
                }
                Ok(recorded(inputs))
            }
            "postgres.grant" => {
                self.apply_grant(i).await?;
                Ok(recorded(inputs))
            }
            other => Err(unknown_type(other)),
        }
    }

    async fn delete(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<(), ProviderError> {
        first_error(check_prior(resource.rtype, &prior.inputs))?;
        let i = Inputs(&prior.inputs);
        match resource.rtype {
            "postgres.role" => {
                let (admin, target) = self.admin().await?;
                run(
                    &admin,
                    &target,
                    &format!("DROP ROLE IF EXISTS {}", quote_ident(i.str_req("name")?)),
                )
                .await
            }
            "postgres.database" => {
                let (admin, target) = self.admin().await?;
                let statement = format!(
                    "DROP DATABASE IF EXISTS {}",
                    quote_ident(i.str_req("name")?)
                );
                // Connections obp itself just closed may take a moment to go away; anyone
                // else's keep the database (no FORCE: destroy never cuts off a live Odoo).
                let mut attempt = 0;
                loop {
                    match admin.batch_execute(&statement).await {
                        Ok(()) => return Ok(()),
                        Err(e) if sqlstate(&e) == Some("55006") && attempt < 20 => {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                        Err(e) => return Err(remote(&target, "DROP DATABASE", &e)),
                    }
                }
            }
            "postgres.extension" => {
                let Some((client, target)) = self.connect_to(i.str_req("database")?).await? else {
                    return Ok(());
                };
                run(
                    &client,
                    &target,
                    &format!(
                        "DROP EXTENSION IF EXISTS {}",
                        quote_ident(i.str_req("name")?)
                    ),
                )
                .await
            }
            "postgres.schema" => {
                let Some((client, target)) = self.connect_to(i.str_req("database")?).await? else {
                    return Ok(());
                };
                run(
                    &client,
                    &target,
                    &format!("DROP SCHEMA IF EXISTS {}", quote_ident(i.str_req("name")?)),
                )
                .await
            }
            "postgres.grant" => self.revoke_grant(i).await,
            other => Err(unknown_type(other)),
        }
    }

    async fn read(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<Option<Recorded>, ProviderError> {
        first_error(check_prior(resource.rtype, &prior.inputs))?;
        match resource.rtype {
            "postgres.role" => self.read_role(prior).await,
            "postgres.database" => self.read_database(prior).await,
            "postgres.extension" => self.read_extension(prior).await,
            "postgres.schema" => self.read_schema(prior).await,
            "postgres.grant" => self.read_grant(prior).await,
            other => Err(unknown_type(other)),
        }
    }

    async fn import(
        &self,
        resource: &ResourceRef<'_>,
        id: &str,
    ) -> Result<Recorded, ProviderError> {
        let parts: Vec<&str> = id.split('/').collect();
        let inputs: BTreeMap<String, Json> = match (resource.rtype, parts.as_slice()) {
            ("postgres.role" | "postgres.database", [name]) => {
                BTreeMap::from([("name".to_owned(), json!(name))])
            }
            ("postgres.extension" | "postgres.schema", [database, name]) => BTreeMap::from([
                ("database".to_owned(), json!(database)),
                ("name".to_owned(), json!(name)),
            ]),
            ("postgres.grant", [database, role, object_type, rest @ ..]) if rest.len() <= 1 => {
                let mut inputs = BTreeMap::from([
                    ("database".to_owned(), json!(database)),
                    ("role".to_owned(), json!(role)),
                    ("object_type".to_owned(), json!(object_type)),
                ]);
                if let [schema] = rest {
                    inputs.insert("schema".to_owned(), json!(schema));
                }
                inputs
            }
            _ => {
                return Err(invalid(
                    "",
                    format!(
                        "cannot import `{id}` as {}: ids are NAME (roles, databases), DATABASE/NAME (extensions, schemas) or DATABASE/ROLE/OBJECT_TYPE[/SCHEMA] (grants)",
                        resource.rtype
                    ),
                ))
            }
        };
        let prior = Recorded {
            inputs,
            outputs: BTreeMap::new(),
        };
        self.read(resource, &prior)
            .await?
            .ok_or_else(|| ProviderError::Remote(format!("`{id}` does not exist")))
    }
}

fn recorded(inputs: &BTreeMap<String, Json>) -> Recorded {
    Recorded {
        inputs: inputs.clone(),
        outputs: BTreeMap::new(),
    }
}

fn first_error(errors: Vec<ProviderError>) -> Result<(), ProviderError> {
    match errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn unknown_type(rtype: &str) -> ProviderError {
    invalid(
        "",
        format!("the postgres provider does not manage `{rtype}`"),
    )
}

/// The boolean options of a role: attribute, CREATE ROLE keyword (`NO…` when false) and
/// default. `read_role` selects their `pg_roles` columns in this order, then `rolconnlimit`.
pub(crate) const ROLE_FLAGS: &[(&str, &str, bool)] = &[
    ("login", "LOGIN", true),
    ("superuser", "SUPERUSER", false),
    ("create_db", "CREATEDB", false),
    ("create_role", "CREATEROLE", false),
    ("replication", "REPLICATION", false),
];

impl Postgres {
    /// The option list of CREATE/ALTER ROLE, password included (as a SCRAM verifier).
    fn role_options(&self, i: Inputs<'_>) -> Result<String, ProviderError> {
        let mut options = Vec::with_capacity(ROLE_FLAGS.len() + 2);
        for (attribute, keyword, default) in ROLE_FLAGS {
            options.push(if i.bool_or(attribute, *default)? {
                (*keyword).to_owned()
            } else {
                format!("NO{keyword}")
            });
        }
        options.push(format!(
            "CONNECTION LIMIT {}",
            i.int_opt("connection_limit")?.unwrap_or(-1)
        ));
        match i.secret_opt("password")? {
            Some(path) => {
                let password = resolve_secret(self.secrets.as_ref(), "password", path)?;
                let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
                options.push(format!("PASSWORD {}", quote_literal(&verifier)));
            }
            None => options.push("PASSWORD NULL".to_owned()),
        }
        Ok(options.join(" "))
    }

    /// What to record for a role: its inputs and the fingerprint of the stored verifier.
    async fn role_recorded(
        &self,
        admin: &Client,
        target: &Target,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        let mut recorded = recorded(inputs);
        let name = Inputs(inputs).str_req("name")?;
        if let Some(Some(fingerprint)) = password_fingerprint(admin, target, name).await? {
            recorded
                .outputs
                .insert("password_fingerprint".to_owned(), json!(fingerprint));
        }
        Ok(recorded)
    }

    async fn read_role(&self, prior: &Recorded) -> Result<Option<Recorded>, ProviderError> {
        let (admin, target) = self.admin().await?;
        let name = Inputs(&prior.inputs).str_req("name")?;
        let Some(row) = admin
            .query_opt(
                "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolconnlimit
                 FROM pg_roles WHERE rolname = $1",
                &[&name],
            )
            .await
            .map_err(|e| remote(&target, "reading pg_roles", &e))?
        else {
            return Ok(None);
        };
        let mut inputs = prior.inputs.clone();
        let eq = |a: &Json, b: &Json| a == b;
        for (column, (attribute, _, default)) in ROLE_FLAGS.iter().enumerate() {
            let live = json!(row.get::<_, bool>(column));
            overlay(&mut inputs, attribute, live, Some(json!(default)), eq);
        }
        overlay(
            &mut inputs,
            "connection_limit",
            json!(row.get::<_, i32>(ROLE_FLAGS.len())),
            Some(json!(-1)),
            eq,
        );
        let mut outputs = prior.outputs.clone();
        // Password drift, when the admin may read verifiers: a different verifier than the
        // one obp set, or one obp never set.
        if let Some(live) = password_fingerprint(&admin, &target, name).await? {
            let recorded = prior
                .outputs
                .get("password_fingerprint")
                .and_then(Json::as_str);
            let configured = Inputs(&prior.inputs).get("password").is_some();
            match (configured, recorded, live) {
                (true, Some(recorded), Some(live)) if recorded == live => {}
                (true, Some(_), _) => {
                    inputs.insert("password".to_owned(), json!(CHANGED_OUTSIDE));
                }
                (true, None, Some(live)) => {
                    // Imported or recorded without access before: adopt what is there.
                    outputs.insert("password_fingerprint".to_owned(), json!(live));
                }
                (false, _, Some(_)) => {
                    inputs.insert("password".to_owned(), json!(CHANGED_OUTSIDE));
                }
                _ => {}
            }
        }
        Ok(Some(Recorded { inputs, outputs }))
    }

    /// Applies the `parameters` map: SET each value, RESET settings not in it (the live
    /// ones when the map is given, else those obp set before).
    async fn set_parameters(
        &self,
        admin: &Client,
        target: &Target,
        name: &str,
        i: Inputs<'_>,
        prior: &BTreeMap<String, Json>,
    ) -> Result<(), ProviderError> {
        let desired: BTreeMap<String, String> = match i.get("parameters") {
            None => BTreeMap::new(),
            Some(Json::Object(map)) => map
                .iter()
                .map(|(k, v)| Ok((k.clone(), param_text(k, v)?)))
                .collect::<Result<_, ProviderError>>()?,
            Some(_) => return Err(invalid("parameters", "`parameters` must be a map")),
        };
        let managed = i.get("parameters").is_some();
        let live = database_settings(admin, target, name).await?;
        let to_reset: BTreeSet<String> = if managed {
            live.keys().cloned().collect()
        } else {
            prior
                .get("parameters")
                .and_then(Json::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let database = quote_ident(name);
        for key in to_reset.iter().filter(|k| !desired.contains_key(*k)) {
            sql::check_param_name(key)?;
            run(
                admin,
                target,
                &format!("ALTER DATABASE {database} RESET {key}"),
            )
            .await?;
        }
        for (key, value) in &desired {
            if live.get(key) == Some(value) {
                continue;
            }
            run(
                admin,
                target,
                &format!(
                    "ALTER DATABASE {database} SET {key} = {}",
                    quote_literal(value)
                ),
            )
            .await?;
        }
        Ok(())
    }

    async fn read_database(&self, prior: &Recorded) -> Result<Option<Recorded>, ProviderError> {
        let (admin, target) = self.admin().await?;
        let name = Inputs(&prior.inputs).str_req("name")?;
        let Some(row) = admin
            .query_opt(
                "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype, datconnlimit
                 FROM pg_database WHERE datname = $1",
                &[&name],
            )
            .await
            .map_err(|e| remote(&target, "reading pg_database", &e))?
        else {
            return Ok(None);
        };
        let mut inputs = prior.inputs.clone();
        let eq = |a: &Json, b: &Json| a == b;
        overlay(
            &mut inputs,
            "owner",
            json!(row.get::<_, String>(0)),
            None,
            eq,
        );
        overlay(
            &mut inputs,
            "encoding",
            json!(row.get::<_, String>(1)),
            Some(json!("UTF8")),
            |a, b| normalize_encoding(a) == normalize_encoding(b),
        );
        overlay(
            &mut inputs,
            "lc_collate",
            json!(row.get::<_, String>(2)),
            None,
            eq,
        );
        overlay(
            &mut inputs,
            "lc_ctype",
            json!(row.get::<_, String>(3)),
            None,
            eq,
        );
        overlay(
            &mut inputs,
            "connection_limit",
            json!(row.get::<_, i32>(4)),
            Some(json!(-1)),
            eq,
        );
        if let Some(Json::Object(configured)) = prior.inputs.get("parameters") {
            let live = database_settings(&admin, &target, name).await?;
            let same = configured.len() == live.len()
                && configured
                    .iter()
                    .all(|(k, v)| param_text(k, v).ok().as_ref() == live.get(k));
            if !same {
                let map: serde_json::Map<String, Json> = live
                    .into_iter()
                    .map(|(k, v)| {
                        // Keep the configured form (an int, a bool) where the text matches.
                        let value = match configured.get(&k) {
                            Some(c) if param_text(&k, c).ok().as_ref() == Some(&v) => c.clone(),
                            _ => json!(v),
                        };
                        (k, value)
                    })
                    .collect();
                inputs.insert("parameters".to_owned(), Json::Object(map));
            }
        }
        Ok(Some(Recorded {
            inputs,
            outputs: prior.outputs.clone(),
        }))
    }

    async fn read_extension(&self, prior: &Recorded) -> Result<Option<Recorded>, ProviderError> {
        let i = Inputs(&prior.inputs);
        let Some((client, target)) = self.connect_to(i.str_req("database")?).await? else {
            return Ok(None);
        };
        let Some(row) = client
            .query_opt(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                 WHERE e.extname = $1",
                &[&i.str_req("name")?],
            )
            .await
            .map_err(|e| remote(&target, "reading pg_extension", &e))?
        else {
            return Ok(None);
        };
        let mut inputs = prior.inputs.clone();
        overlay(
            &mut inputs,
            "schema",
            json!(row.get::<_, String>(0)),
            None,
            |a, b| a == b,
        );
        Ok(Some(Recorded {
            inputs,
            outputs: prior.outputs.clone(),
        }))
    }

    async fn read_schema(&self, prior: &Recorded) -> Result<Option<Recorded>, ProviderError> {
        let i = Inputs(&prior.inputs);
        let Some((client, target)) = self.connect_to(i.str_req("database")?).await? else {
            return Ok(None);
        };
        let Some(row) = client
            .query_opt(
                "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $1",
                &[&i.str_req("name")?],
            )
            .await
            .map_err(|e| remote(&target, "reading pg_namespace", &e))?
        else {
            return Ok(None);
        };
        let mut inputs = prior.inputs.clone();
        overlay(
            &mut inputs,
            "owner",
            json!(row.get::<_, String>(0)),
            None,
            |a, b| a == b,
        );
        Ok(Some(Recorded {
            inputs,
            outputs: prior.outputs.clone(),
        }))
    }
}

fn normalize_encoding(value: &Json) -> String {
    value
        .as_str()
        .unwrap_or_default()
        .to_ascii_uppercase()
        .replace(['-', '_'], "")
}

/// SHA-256 of the role's stored password verifier: `Ok(None)` when the admin may not read
/// `pg_authid` (drift of passwords is then not detected), `Ok(Some(None))` when the role has
/// no password.
async fn password_fingerprint(
    admin: &Client,
    target: &Target,
    name: &str,
) -> Result<Option<Option<String>>, ProviderError> {
    match admin
        .query_opt(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&name],
        )
        .await
    {
        Ok(Some(row)) => Ok(Some(
            row.get::<_, Option<String>>(0)
                .map(|verifier| sha256_hex(verifier.as_bytes())),
        )),
        Ok(None) => Ok(Some(None)),
        Err(e) if sqlstate(&e) == Some("42501") => Ok(None),
        Err(e) => Err(remote(target, "reading pg_authid", &e)),
    }
}

/// The database's own settings (`ALTER DATABASE … SET`, for all roles).
async fn database_settings(
    admin: &Client,
    target: &Target,
    name: &str,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let row = admin
        .query_opt(
            "SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
             WHERE d.datname = $1 AND s.setrole = 0",
            &[&name],
        )
        .await
        .map_err(|e| remote(target, "reading pg_db_role_setting", &e))?;
    let settings: Vec<String> = row
        .and_then(|r| r.get::<_, Option<Vec<String>>>(0))
        .unwrap_or_default();
    Ok(settings
        .iter()
        .filter_map(|s| s.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

/// Grants: what the object is and how to name it in GRANT/REVOKE.
struct GrantTarget<'a> {
    database: &'a str,
    role: &'a str,
    object_type: &'a str,
    schema: Option<&'a str>,
}

impl<'a> GrantTarget<'a> {
    fn from(i: Inputs<'a>) -> Result<GrantTarget<'a>, ProviderError> {
        Ok(GrantTarget {
            database: i.str_req("database")?,
            role: i.str_req("role")?,
            object_type: i.str_req("object_type")?,
            schema: i.str_opt("schema")?,
        })
    }

    /// `ON …` of GRANT/REVOKE.
    fn on(&self) -> String {
        let schema = quote_ident(self.schema.unwrap_or("public"));
        match self.object_type {
            "database" => format!("DATABASE {}", quote_ident(self.database)),
            "schema" => format!("SCHEMA {schema}"),
            "table" => format!("ALL TABLES IN SCHEMA {schema}"),
            _ => format!("ALL SEQUENCES IN SCHEMA {schema}"),
        }
    }
}

impl Postgres {
    /// The connection to run a grant's statements on: the admin one for database
    /// privileges, one to the database otherwise. `None` if the database is gone.
    async fn grant_client(
        &self,
        target: &GrantTarget<'_>,
    ) -> Result<Option<(GrantClient, Target)>, ProviderError> {
        if target.object_type == "database" {
            let (admin, t) = self.admin().await?;
            return Ok(Some((GrantClient::Shared(admin), t)));
        }
        Ok(self
            .connect_to(target.database)
            .await?
            .map(|(c, t)| (GrantClient::Own(c), t)))
    }

    /// The privileges the role holds directly on the object (for tables and sequences: on
    /// every one of them). `None` when the role, database or schema does not exist; for a
    /// schema without tables (or sequences), the `expected` set, as nothing can differ.
    async fn live_privileges(
        &self,
        client: &Client,
        db: &Target,
        grant: &GrantTarget<'_>,
        expected: &BTreeSet<String>,
    ) -> Result<Option<BTreeSet<String>>, ProviderError> {
        let fail = |e: &tokio_postgres::Error| remote(db, "reading privileges", e);
        let Some(role_row) = client
            .query_opt(
                "SELECT oid FROM pg_roles WHERE rolname = $1",
                &[&grant.role],
            )
            .await
            .map_err(|e| fail(&e))?
        else {
            return Ok(None);
        };
        let role: u32 = role_row.get(0);
        let privileges = |rows: Vec<tokio_postgres::Row>| -> BTreeSet<String> {
            rows.iter().map(|r| r.get::<_, String>(0)).collect()
        };
        match grant.object_type {
            "database" => {
                let exists = client
                    .query_opt(
                        "SELECT 1 FROM pg_database WHERE datname = $1",
                        &[&grant.database],
                    )
                    .await
                    .map_err(|e| fail(&e))?
                    .is_some();
                if !exists {
                    return Ok(None);
                }
                let rows = client
                    .query(
                        "SELECT a.privilege_type FROM pg_database d,
                           aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
                         WHERE d.datname = $1 AND a.grantee = $2",
                        &[&grant.database, &role],
                    )
                    .await
                    .map_err(|e| fail(&e))?;
                Ok(Some(privileges(rows)))
            }
            "schema" => {
                let schema = grant.schema.unwrap_or("public");
                let exists = client
                    .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
                    .await
                    .map_err(|e| fail(&e))?
                    .is_some();
                if !exists {
                    return Ok(None);
                }
                let rows = client
                    .query(
                        "SELECT a.privilege_type FROM pg_namespace n,
                           aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
                         WHERE n.nspname = $1 AND a.grantee = $2",
                        &[&schema, &role],
                    )
                    .await
                    .map_err(|e| fail(&e))?;
                Ok(Some(privileges(rows)))
            }
            kind => {
                let schema = grant.schema.unwrap_or("public");
                let exists = client
                    .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
                    .await
                    .map_err(|e| fail(&e))?
                    .is_some();
                if !exists {
                    return Ok(None);
                }
                let (kinds, acl) = if kind == "table" {
                    ("r,p,v,m,f", "r")
                } else {
                    ("S", "s")
                };
                let total: i64 = client
                    .query_one(
                        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname = $1 AND c.relkind::text = ANY(string_to_array($2::text, ','))",
                        &[&schema, &kinds],
                    )
                    .await
                    .map_err(|e| fail(&e))?
                    .get(0);
                if total == 0 {
                    return Ok(Some(expected.clone()));
                }
                let rows = client
                    .query(
                        "SELECT a.privilege_type, count(DISTINCT c.oid)
                         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
                           aclexplode(coalesce(c.relacl, acldefault($3::text::\"char\", c.relowner))) a
                         WHERE n.nspname = $1 AND c.relkind::text = ANY(string_to_array($2::text, ',')) AND a.grantee = $4
                         GROUP BY a.privilege_type",
                        &[&schema, &kinds, &acl, &role],
                    )
                    .await
                    .map_err(|e| fail(&e))?;
                Ok(Some(
                    rows.iter()
                        .filter(|r| r.get::<_, i64>(1) == total)
                        .map(|r| r.get::<_, String>(0))
                        .collect(),
                ))
            }
        }
    }

    /// Grants the wanted privileges and revokes the role's other ones on the object.
    async fn apply_grant(&self, i: Inputs<'_>) -> Result<(), ProviderError> {
        let grant = GrantTarget::from(i)?;
        let wanted: BTreeSet<String> = sql::privileges(i)?;
        let (client, target) = self.grant_client(&grant).await?.ok_or_else(|| {
            ProviderError::Remote(format!("database {:?} does not exist", grant.database))
        })?;
        let live = self
            .live_privileges(client.get(), &target, &grant, &BTreeSet::new())
            .await?
            .ok_or_else(|| {
                ProviderError::Remote(format!(
                    "role {:?} or the {} does not exist",
                    grant.role,
                    if grant.object_type == "database" {
                        "database"
                    } else {
                        "schema"
                    }
                ))
            })?;
        let role = quote_ident(grant.role);
        let extra: Vec<&str> = live
            .iter()
            .filter(|p| !wanted.contains(*p))
            .map(String::as_str)
            .collect();
        if !extra.is_empty() {
            run(
                client.get(),
                &target,
                &format!("REVOKE {} ON {} FROM {role}", extra.join(", "), grant.on()),
            )
            .await?;
        }
        let list: Vec<&str> = wanted.iter().map(String::as_str).collect();
        run(
            client.get(),
            &target,
            &format!("GRANT {} ON {} TO {role}", list.join(", "), grant.on()),
        )
        .await
    }

    async fn revoke_grant(&self, i: Inputs<'_>) -> Result<(), ProviderError> {
        let grant = GrantTarget::from(i)?;
        let wanted = sql::privileges(i)?;
        let Some((client, target)) = self.grant_client(&grant).await? else {
            return Ok(());
        };
        if self
            .live_privileges(client.get(), &target, &grant, &wanted)
            .await?
            .is_none()
        {
            return Ok(());
        }
        let list: Vec<&str> = wanted.iter().map(String::as_str).collect();
        run(
            client.get(),
            &target,
            &format!(
                "REVOKE {} ON {} FROM {}",
                list.join(", "),
                grant.on(),
                quote_ident(grant.role)
            ),
        )
        .await
    }

    async fn read_grant(&self, prior: &Recorded) -> Result<Option<Recorded>, ProviderError> {
        let i = Inputs(&prior.inputs);
        let grant = GrantTarget::from(i)?;
        let expected = sql::privileges(i).unwrap_or_default();
        let Some((client, target)) = self.grant_client(&grant).await? else {
            return Ok(None);
        };
        let Some(live) = self
            .live_privileges(client.get(), &target, &grant, &expected)
            .await?
        else {
            return Ok(None);
        };
        let mut inputs = prior.inputs.clone();
        let live_json = json!(live.iter().collect::<Vec<_>>());
        match inputs.get("privileges") {
            Some(configured) if same_set(configured, &live_json, true) => {}
            _ => {
                inputs.insert("privileges".to_owned(), live_json);
            }
        }
        Ok(Some(Recorded {
            inputs,
            outputs: prior.outputs.clone(),
        }))
    }
}

enum GrantClient {
    Shared(Arc<Client>),
    Own(Client),
}

impl GrantClient {
    fn get(&self) -> &Client {
        match self {
            GrantClient::Shared(c) => c,
            GrantClient::Own(c) => c,
        }
    }
}
