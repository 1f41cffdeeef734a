//! `postgres.grant`: the privileges of a role on a database, a schema, or all tables or
//! sequences of a schema. Applying one grants what is listed and revokes the role's other
//! privileges on the object, so the list is the whole set.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use obp_engine::pg::{quote_ident, Client, Target};
use obp_engine::provider::{AttrType, ProviderError, Recorded, ResourceSchema};
use serde_json::{json, Value as Json};

use super::client::{remote, run, Server};
use super::sql::{errors, name, role_name};
use super::{attr, recorded, refreshed, ResourceType};
use crate::attrs::{invalid, same_set, shown, Inputs};

pub(super) struct Grant;

/// Privileges each `object_type` of `postgres.grant` accepts.
const PRIVILEGES: &[(&str, &[&str])] = &[
    ("database", &["CONNECT", "CREATE", "TEMPORARY"]),
    ("schema", &["USAGE", "CREATE"]),
    (
        "table",
        &[
            "SELECT",
            "INSERT",
            "UPDATE",
            "DELETE",
            "TRUNCATE",
            "REFERENCES",
            "TRIGGER",
        ],
    ),
    ("sequence", &["USAGE", "SELECT", "UPDATE"]),
];

#[async_trait]
impl ResourceType for Grant {
    fn rtype(&self) -> &'static str {
        "postgres.grant"
    }

    fn schema(&self) -> ResourceSchema {
        ResourceSchema {
            rtype: self.rtype().to_owned(),
            attributes: vec![
                attr("database", AttrType::String).required().force_new(),
                attr("role", AttrType::String).required().force_new(),
                attr("object_type", AttrType::String).required().force_new().doc("database, schema, table (all tables of `schema`) or sequence (all sequences of `schema`)"),
                attr("schema", AttrType::String).force_new().doc("the schema, for object_type schema, table and sequence"),
                attr("privileges", AttrType::List).required().doc("such as [\"CONNECT\"] or [\"SELECT\"]"),
            ],
            open: false,
            replace_on: Vec::new(),
            list_keys: Vec::new(),
            doc: "privileges of a role on a database, a schema, or all tables or sequences of a schema",
        }
    }

    fn check(&self, i: Inputs<'_>, _prior: bool) -> Vec<ProviderError> {
        let mut results = vec![
            name(i, "database", "database"),
            role_name(i, "role"),
            name(i, "schema", "schema"),
        ];
        let object_type = i
            .str_opt("object_type")
            .ok()
            .flatten()
            .filter(|_| i.known("object_type"));
        match object_type {
            Some(kind) if !PRIVILEGES.iter().any(|(k, _)| *k == kind) => {
                results.push(Err(invalid(
                    "object_type",
                    format!(
                        "`object_type` must be one of database, schema, table, sequence, not {}",
                        shown(kind)
                    ),
                )));
            }
            Some("database") if i.get("schema").is_some() => {
                results.push(Err(invalid(
                    "schema",
                    "`schema` does not apply to object_type \"database\"",
                )));
            }
            Some(kind) if kind != "database" && i.get("schema").is_none() => {
                results.push(Err(invalid(
                    "schema",
                    format!("object_type \"{kind}\" needs the `schema`"),
                )));
            }
            Some(_) => {}
            None => {}
        }
        // Absent only in what `obp import` reads back (the schema requires it of a
        // blueprint): the live privileges are then the answer, not an error.
        if object_type.is_some() && i.get("privileges").is_some() && i.known("privileges") {
            results.push(privileges(i).map(|_| ()));
        }
        errors(results)
    }

    async fn create(
        &self,
        server: &Server,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        apply_grant(server, Inputs(inputs)).await?;
        Ok(recorded(inputs))
    }

    async fn update(
        &self,
        server: &Server,
        _prior: &Recorded,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        apply_grant(server, Inputs(inputs)).await?;
        Ok(recorded(inputs))
    }

    async fn delete(&self, server: &Server, prior: &Recorded) -> Result<(), ProviderError> {
        revoke_grant(server, Inputs(&prior.inputs)).await
    }

    async fn read(
        &self,
        server: &Server,
        prior: &Recorded,
    ) -> Result<Option<Recorded>, ProviderError> {
        read_grant(server, prior).await
    }

    fn import_inputs(&self, id: &[&str]) -> Option<BTreeMap<String, Json>> {
        let [database, role, object_type, rest @ ..] = id else {
            return None;
        };
        if rest.len() > 1 {
            return None;
        }
        let mut inputs = BTreeMap::from([
            ("database".to_owned(), json!(database)),
            ("role".to_owned(), json!(role)),
            ("object_type".to_owned(), json!(object_type)),
        ]);
        if let [schema] = rest {
            inputs.insert("schema".to_owned(), json!(schema));
        }
        Some(inputs)
    }
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

/// The connection to run a grant's statements on: the admin one for database
/// privileges, one to the database otherwise. `None` if the database is gone.
async fn grant_client(
    server: &Server,
    target: &GrantTarget<'_>,
) -> Result<Option<(GrantClient, Target)>, ProviderError> {
    if target.object_type == "database" {
        let (admin, t) = server.admin().await?;
        return Ok(Some((GrantClient::Shared(admin), t)));
    }
    Ok(server
        .connect_to(target.database)
        .await?
        .map(|(c, t)| (GrantClient::Own(c), t)))
}

/// The privileges the role holds directly on the object (for tables and sequences: on
/// every one of them). `None` when the role, database or schema does not exist; for a
/// schema without tables (or sequences), the `expected` set, as nothing can differ.
async fn live_privileges(
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
async fn apply_grant(server: &Server, i: Inputs<'_>) -> Result<(), ProviderError> {
    let grant = GrantTarget::from(i)?;
    let wanted: BTreeSet<String> = privileges(i)?;
    let (client, target) = grant_client(server, &grant).await?.ok_or_else(|| {
        ProviderError::Remote(format!("database {:?} does not exist", grant.database))
    })?;
    let live = live_privileges(client.get(), &target, &grant, &BTreeSet::new())
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

async fn revoke_grant(server: &Server, i: Inputs<'_>) -> Result<(), ProviderError> {
    let grant = GrantTarget::from(i)?;
    let wanted = privileges(i)?;
    let Some((client, target)) = grant_client(server, &grant).await? else {
        return Ok(());
    };
    if live_privileges(client.get(), &target, &grant, &wanted)
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

async fn read_grant(server: &Server, prior: &Recorded) -> Result<Option<Recorded>, ProviderError> {
    let i = Inputs(&prior.inputs);
    let grant = GrantTarget::from(i)?;
    let expected = privileges(i).unwrap_or_default();
    let Some((client, target)) = grant_client(server, &grant).await? else {
        return Ok(None);
    };
    let Some(live) = live_privileges(client.get(), &target, &grant, &expected).await? else {
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
    Ok(Some(refreshed(inputs, prior)))
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

/// The grant's privileges, upper-cased (`TEMP` is `TEMPORARY`), checked against its
/// `object_type`.
fn privileges(i: Inputs<'_>) -> Result<BTreeSet<String>, ProviderError> {
    let kind = i.str_req("object_type")?;
    let allowed = PRIVILEGES
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, p)| *p)
        .ok_or_else(|| {
            invalid(
                "object_type",
                format!("unknown object_type {}", shown(kind)),
            )
        })?;
    let listed = i.strings("privileges")?;
    if listed.is_empty() {
        return Err(invalid(
            "privileges",
            "`privileges` must list at least one privilege (delete the grant to revoke them all)",
        ));
    }
    let mut out = BTreeSet::new();
    for privilege in listed {
        let mut upper = privilege.trim().to_ascii_uppercase();
        if upper == "TEMP" {
            upper = "TEMPORARY".to_owned();
        }
        if !allowed.contains(&upper.as_str()) {
            return Err(invalid(
                "privileges",
                format!(
                    "{} is not a privilege on a {kind} (allowed: {})",
                    shown(privilege),
                    allowed.join(", ")
                ),
            ));
        }
        out.insert(upper);
    }
    Ok(out)
}
