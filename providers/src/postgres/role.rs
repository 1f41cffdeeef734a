//! `postgres.role`: a role with its flags, connection limit and password. The password is a
//! secret reference sent as a SCRAM-SHA-256 verifier computed here, and recorded only as the
//! SHA-256 of the verifier the server stores (when the admin may read `pg_authid`), so a
//! password changed by hand is drift.

use std::collections::BTreeMap;

use async_trait::async_trait;
use obp_engine::pg::{quote_ident, quote_literal, sqlstate, Client, Target};
use obp_engine::provider::{AttrType, ProviderError, Recorded, ResourceSchema};
use serde_json::{json, Value as Json};

use super::client::{create_new, remote, run, Server};
use super::sql::{errors, limit, role_name};
use super::{attr, named, recorded, ResourceType};
use crate::attrs::{overlay, resolve_secret, sha256_hex, Inputs, CHANGED_OUTSIDE};

pub(super) struct Role;

/// The boolean options of a role: attribute, CREATE ROLE keyword (`NO…` when false) and
/// default. `read` selects their `pg_roles` columns in this order, then `rolconnlimit`.
const ROLE_FLAGS: &[(&str, &str, bool)] = &[
    ("login", "LOGIN", true),
    ("superuser", "SUPERUSER", false),
    ("create_db", "CREATEDB", false),
    ("create_role", "CREATEROLE", false),
    ("replication", "REPLICATION", false),
];

#[async_trait]
impl ResourceType for Role {
    fn rtype(&self) -> &'static str {
        "postgres.role"
    }

    fn schema(&self) -> ResourceSchema {
        ResourceSchema {
            rtype: self.rtype().to_owned(),
            attributes: vec![
                attr("name", AttrType::String)
                    .required()
                    .force_new()
                    .doc("role name (at most 63 bytes)"),
                attr("login", AttrType::Bool).doc("may log in (default true)"),
                attr("password", AttrType::String)
                    .sensitive()
                    .doc("a secret reference; sent as a SCRAM verifier, never stored"),
                attr("connection_limit", AttrType::Int)
                    .doc("connections the role may hold (default -1: no limit)"),
                attr("superuser", AttrType::Bool).doc("default false"),
                attr("create_db", AttrType::Bool).doc("default false"),
                attr("create_role", AttrType::Bool).doc("default false"),
                attr("replication", AttrType::Bool).doc("default false"),
                attr("password_fingerprint", AttrType::String)
                    .computed()
                    .doc("SHA-256 of the stored verifier, to spot hand changes"),
            ],
            open: false,
            replace_on: Vec::new(),
            list_keys: Vec::new(),
            doc: "a PostgreSQL role (NOSUPERUSER NOCREATEDB NOCREATEROLE unless asked)",
        }
    }

    fn check(&self, i: Inputs<'_>, prior: bool) -> Vec<ProviderError> {
        let mut results = vec![role_name(i, "name"), limit(i, "connection_limit")];
        for (flag, _, default) in ROLE_FLAGS {
            results.push(i.bool_or(flag, *default).map(|_| ()));
        }
        let marker = prior && i.get("password") == Some(&Json::String(CHANGED_OUTSIDE.into()));
        if i.known("password") && !marker {
            results.push(i.secret_opt("password").map(|_| ()));
        }
        errors(results)
    }

    async fn create(
        &self,
        server: &Server,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        let i = Inputs(inputs);
        let (admin, target) = server.admin().await?;
        let name = i.str_req("name")?;
        let statement = format!(
            "CREATE ROLE {} WITH {}",
            quote_ident(name),
            options(server, i)?
        );
        create_new(&admin, &target, &statement, name).await?;
        role_recorded(&admin, &target, inputs).await
    }

    async fn update(
        &self,
        server: &Server,
        _prior: &Recorded,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        let i = Inputs(inputs);
        let (admin, target) = server.admin().await?;
        let statement = format!(
            "ALTER ROLE {} WITH {}",
            quote_ident(i.str_req("name")?),
            options(server, i)?
        );
        run(&admin, &target, &statement).await?;
        role_recorded(&admin, &target, inputs).await
    }

    async fn delete(&self, server: &Server, prior: &Recorded) -> Result<(), ProviderError> {
        let i = Inputs(&prior.inputs);
        let (admin, target) = server.admin().await?;
        run(
            &admin,
            &target,
            &format!("DROP ROLE IF EXISTS {}", quote_ident(i.str_req("name")?)),
        )
        .await
    }

    async fn read(
        &self,
        server: &Server,
        prior: &Recorded,
    ) -> Result<Option<Recorded>, ProviderError> {
        let (admin, target) = server.admin().await?;
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

    fn import_inputs(&self, id: &[&str]) -> Option<BTreeMap<String, Json>> {
        named(id)
    }
}

/// The option list of CREATE/ALTER ROLE, password included (as a SCRAM verifier).
fn options(server: &Server, i: Inputs<'_>) -> Result<String, ProviderError> {
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
            let password = resolve_secret(server.secrets(), "password", path)?;
            let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
            options.push(format!("PASSWORD {}", quote_literal(&verifier)));
        }
        None => options.push("PASSWORD NULL".to_owned()),
    }
    Ok(options.join(" "))
}

/// What to record for a role: its inputs and the fingerprint of the stored verifier.
async fn role_recorded(
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
