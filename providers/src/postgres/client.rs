//! The connection to one PostgreSQL server, shared by every resource type: the admin URL
//! (a secret reference resolved only when obp first connects), the admin session opened once,
//! sessions to other databases, and the statement runners that turn errors into
//! [`ProviderError`]s without showing the URL.

use std::path::PathBuf;
use std::sync::Arc;

use obp_engine::pg::{sqlstate, Client, SslMode, Target};
use obp_engine::provider::{ProviderError, Secrets};
use serde_json::Value as Json;

use crate::attrs::config_value;

/// How to reach the server, and the admin session once open.
pub(super) struct Server {
    url: Json,
    sslmode: Option<SslMode>,
    root_cert: Option<PathBuf>,
    secrets: Arc<dyn Secrets>,
    admin: tokio::sync::Mutex<Option<Arc<Client>>>,
}

impl Server {
    pub(super) fn new(
        url: Json,
        sslmode: Option<SslMode>,
        root_cert: Option<PathBuf>,
        secrets: Arc<dyn Secrets>,
    ) -> Server {
        Server {
            url,
            sslmode,
            root_cert,
            secrets,
            admin: tokio::sync::Mutex::new(None),
        }
    }

    /// Where secret references (the URL, role passwords) are resolved.
    pub(super) fn secrets(&self) -> &dyn Secrets {
        self.secrets.as_ref()
    }

    fn target(&self) -> Result<Target, ProviderError> {
        let url = config_value(self.secrets.as_ref(), "url", &self.url)?;
        Target::parse(&url, self.sslmode, self.root_cert.as_deref())
            .map_err(|e| ProviderError::Config(format!("`url`: {e}")))
    }

    /// The admin connection (to the URL's database), opened once and reopened if it dropped.
    pub(super) async fn admin(&self) -> Result<(Arc<Client>, Target), ProviderError> {
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
    pub(super) async fn connect_to(
        &self,
        database: &str,
    ) -> Result<Option<(Client, Target)>, ProviderError> {
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

    pub(super) async fn connect_existing(
        &self,
        database: &str,
    ) -> Result<(Client, Target), ProviderError> {
        self.connect_to(database)
            .await?
            .ok_or_else(|| ProviderError::Remote(format!("database {database:?} does not exist")))
    }
}

pub(super) fn remote(target: &Target, what: &str, error: &tokio_postgres::Error) -> ProviderError {
    ProviderError::Remote(format!("{what}: {}", target.error(error)))
}

/// The first two words of a statement (`CREATE ROLE`, `ALTER DATABASE`), to say which one
/// failed without repeating its names and literals.
fn verb(statement: &str) -> String {
    statement
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs one statement (utility statements take no parameters: every name and literal in
/// `statement` went through `quote_ident` / `quote_literal` after validation).
pub(super) async fn run(
    client: &Client,
    target: &Target,
    statement: &str,
) -> Result<(), ProviderError> {
    client
        .batch_execute(statement)
        .await
        .map_err(|e| remote(target, &verb(statement), &e))
}

/// Runs a `CREATE …` statement; an object that is already there (SQLSTATE 42710, 42P04,
/// 42P06: made outside obp, or by an apply killed before it recorded it) is reported as such,
/// with the id `obp import` takes to adopt it.
pub(super) async fn create_new(
    client: &Client,
    target: &Target,
    statement: &str,
    id: &str,
) -> Result<(), ProviderError> {
    const DUPLICATE: [&str; 3] = ["42710", "42P04", "42P06"];
    client.batch_execute(statement).await.map_err(|e| {
        let verb = verb(statement);
        match sqlstate(&e) {
            Some(code) if DUPLICATE.contains(&code) => ProviderError::AlreadyExists {
                message: format!("{verb}: {}", target.error(&e)),
                id: id.to_owned(),
            },
            _ => remote(target, &verb, &e),
        }
    })
}
