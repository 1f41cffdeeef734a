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

mod client;
mod database;
mod extension;
mod grant;
mod role;
mod schema;
mod sql;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use obp_engine::pg::SslMode;
use obp_engine::provider::{
    AttrSchema, AttrType, EnvSecrets, Provider, ProviderError, Recorded, ResourceRef,
    ResourceSchema, Secrets,
};
use serde_json::{json, Value as Json};

use crate::attrs::{invalid, Inputs};
use client::Server;
pub use database::param_text;
pub use sql::{check_inputs, check_prior};

/// A configured PostgreSQL server.
pub struct Postgres {
    server: Server,
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
            server: Server::new(url, sslmode, root_cert, secrets),
        })
    }
}

/// One resource type of this provider (one file each): its schema, its checks and its
/// statements. The provider's verbs look the type up once and hand it the server.
#[async_trait]
trait ResourceType: Send + Sync {
    /// Such as `postgres.role`.
    fn rtype(&self) -> &'static str;

    fn schema(&self) -> ResourceSchema;

    /// Every problem with the inputs (values not known yet are skipped). `prior`: the inputs
    /// come from state, where a refresh may have recorded a password as changed outside obp.
    fn check(&self, i: Inputs<'_>, prior: bool) -> Vec<ProviderError>;

    async fn create(
        &self,
        server: &Server,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError>;

    async fn update(
        &self,
        server: &Server,
        prior: &Recorded,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError>;

    async fn delete(&self, server: &Server, prior: &Recorded) -> Result<(), ProviderError>;

    /// The live object, `None` when it is gone.
    async fn read(
        &self,
        server: &Server,
        prior: &Recorded,
    ) -> Result<Option<Recorded>, ProviderError>;

    /// The inputs naming the object an `obp import` id (split at `/`) points to; `None` when
    /// the id does not have this type's shape.
    fn import_inputs(&self, id: &[&str]) -> Option<BTreeMap<String, Json>>;
}

/// Every resource type, in the order `schemas` lists them.
const TYPES: &[&dyn ResourceType] = &[
    &role::Role,
    &database::Database,
    &extension::Extension,
    &schema::Schema,
    &grant::Grant,
];

fn resource_type(rtype: &str) -> Option<&'static dyn ResourceType> {
    TYPES.iter().copied().find(|t| t.rtype() == rtype)
}

fn known_type(rtype: &str) -> Result<&'static dyn ResourceType, ProviderError> {
    resource_type(rtype).ok_or_else(|| {
        invalid(
            "",
            format!("the postgres provider does not manage `{rtype}`"),
        )
    })
}

fn attr(name: &'static str, ty: AttrType) -> AttrSchema {
    AttrSchema::new(name, ty)
}

/// The resource types this provider manages.
pub fn schemas() -> Vec<ResourceSchema> {
    TYPES.iter().map(|t| t.schema()).collect()
}

#[async_trait]
impl Provider for Postgres {
    fn kind(&self) -> &str {
        "postgres"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        schemas()
    }

    fn impact(&self, change: &obp_engine::provider::ChangeRef<'_>) -> obp_engine::provider::Impact {
        crate::impact::data_store(change)
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
        known_type(resource.rtype)?
            .create(&self.server, inputs)
            .await
    }

    async fn update(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        first_error(check_inputs(resource.rtype, inputs))?;
        known_type(resource.rtype)?
            .update(&self.server, prior, inputs)
            .await
    }

    async fn delete(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<(), ProviderError> {
        first_error(check_prior(resource.rtype, &prior.inputs))?;
        known_type(resource.rtype)?
            .delete(&self.server, prior)
            .await
    }

    async fn read(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<Option<Recorded>, ProviderError> {
        first_error(check_prior(resource.rtype, &prior.inputs))?;
        known_type(resource.rtype)?.read(&self.server, prior).await
    }

    async fn import(
        &self,
        resource: &ResourceRef<'_>,
        id: &str,
    ) -> Result<Recorded, ProviderError> {
        let parts: Vec<&str> = id.split('/').collect();
        let Some(inputs) = resource_type(resource.rtype).and_then(|t| t.import_inputs(&parts))
        else {
            return Err(invalid(
                "",
                format!(
                    "cannot import `{id}` as {}: ids are NAME (roles, databases), DATABASE/NAME (extensions, schemas) or DATABASE/ROLE/OBJECT_TYPE[/SCHEMA] (grants)",
                    resource.rtype
                ),
            ));
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

/// What to record after a create or update: the inputs as given.
fn recorded(inputs: &BTreeMap<String, Json>) -> Recorded {
    Recorded {
        inputs: inputs.clone(),
        outputs: BTreeMap::new(),
    }
}

/// `prior` with the live values of `inputs` (a read's answer).
fn refreshed(inputs: BTreeMap<String, Json>, prior: &Recorded) -> Recorded {
    Recorded {
        inputs,
        outputs: prior.outputs.clone(),
    }
}

/// The inputs of a `NAME` import id (roles, databases).
fn named(id: &[&str]) -> Option<BTreeMap<String, Json>> {
    match id {
        [name] => Some(BTreeMap::from([("name".to_owned(), json!(name))])),
        _ => None,
    }
}

/// The inputs of a `DATABASE/NAME` import id (extensions, schemas).
fn in_database(id: &[&str]) -> Option<BTreeMap<String, Json>> {
    match id {
        [database, name] => Some(BTreeMap::from([
            ("database".to_owned(), json!(database)),
            ("name".to_owned(), json!(name)),
        ])),
        _ => None,
    }
}

fn first_error(errors: Vec<ProviderError>) -> Result<(), ProviderError> {
    match errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(()),
    }
}
