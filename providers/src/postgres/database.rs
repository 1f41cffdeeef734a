//! `postgres.database`: a database with its owner, encoding, locales, connection limit and
//! parameter baseline (`ALTER DATABASE … SET`; when `parameters` is given it is the whole set,
//! so settings made by hand are reset).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use obp_engine::pg::{quote_ident, quote_literal, sqlstate, Client, Target};
use obp_engine::provider::{AttrType, ProviderError, Recorded, ResourceSchema};
use obp_engine::resolve::is_unknown;
use serde_json::{json, Value as Json};

use super::client::{create_new, remote, run, Server};
use super::sql::{errors, limit, name, reserved_database, role_name, text, MAX_NAME};
use super::{attr, named, recorded, refreshed, ResourceType};
use crate::attrs::{invalid, overlay, shown, Inputs};

pub(super) struct Database;

#[async_trait]
impl ResourceType for Database {
    fn rtype(&self) -> &'static str {
        "postgres.database"
    }

    fn schema(&self) -> ResourceSchema {
        ResourceSchema {
            rtype: self.rtype().to_owned(),
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
            replace_on: Vec::new(),
            list_keys: Vec::new(),
            doc: "a PostgreSQL database with its parameter baseline",
        }
    }

    fn check(&self, i: Inputs<'_>, _prior: bool) -> Vec<ProviderError> {
        let mut results = vec![name(i, "name", "database")];
        if let Some(database) = i.str_opt("name").ok().flatten().filter(|_| i.known("name")) {
            results.push(reserved_database("name", database));
        }
        results.push(role_name(i, "owner"));
        results.push(name(i, "template", "template database"));
        results.push(limit(i, "connection_limit"));
        results.push(text("encoding", &i, 32, |c| {
            c.is_ascii_alphanumeric() || c == '_' || c == '-'
        }));
        for locale in ["lc_collate", "lc_ctype"] {
            results.push(text(locale, &i, MAX_NAME, |c| {
                c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '@')
            }));
        }
        if i.known("parameters") {
            match i.get("parameters") {
                None => {}
                Some(Json::Object(map)) => {
                    for (key, value) in map {
                        if is_unknown(value) {
                            continue;
                        }
                        results.push(check_param_name(key));
                        results.push(param_text(key, value).map(|_| ()));
                    }
                }
                Some(_) => results.push(Err(invalid("parameters", "`parameters` must be a map"))),
            }
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
        create_new(&admin, &target, &statement, name).await?;
        set_parameters(&admin, &target, name, i, &BTreeMap::new()).await?;
        Ok(recorded(inputs))
    }

    async fn update(
        &self,
        server: &Server,
        prior: &Recorded,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        let i = Inputs(inputs);
        let (admin, target) = server.admin().await?;
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
        set_parameters(&admin, &target, i.str_req("name")?, i, &prior.inputs).await?;
        Ok(recorded(inputs))
    }

    async fn delete(&self, server: &Server, prior: &Recorded) -> Result<(), ProviderError> {
        let i = Inputs(&prior.inputs);
        let (admin, target) = server.admin().await?;
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

    async fn read(
        &self,
        server: &Server,
        prior: &Recorded,
    ) -> Result<Option<Recorded>, ProviderError> {
        let (admin, target) = server.admin().await?;
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
        Ok(Some(refreshed(inputs, prior)))
    }

    fn import_inputs(&self, id: &[&str]) -> Option<BTreeMap<String, Json>> {
        named(id)
    }
}

/// Applies the `parameters` map: SET each value, RESET settings not in it (the live
/// ones when the map is given, else those obp set before).
async fn set_parameters(
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
        check_param_name(key)?;
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

fn normalize_encoding(value: &Json) -> String {
    value
        .as_str()
        .unwrap_or_default()
        .to_ascii_uppercase()
        .replace(['-', '_'], "")
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

/// A setting name as `ALTER DATABASE … SET` takes it unquoted: lowercase, `_`, digits, and
/// at most one `.` for extension settings (`pg_trgm.similarity_threshold`).
fn check_param_name(key: &str) -> Result<(), ProviderError> {
    let part_ok = |part: &str| {
        part.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let parts: Vec<&str> = key.split('.').collect();
    if key.len() > MAX_NAME || parts.len() > 2 || !parts.iter().all(|p| part_ok(p)) {
        return Err(invalid(
            "parameters",
            format!(
                "{} is not a setting name (lowercase letters, digits and `_`, optionally `prefix.name`)",
                shown(key)
            ),
        ));
    }
    Ok(())
}

/// A setting's value as text: strings as they are, integers in decimal, booleans `on`/`off`.
pub fn param_text(key: &str, value: &Json) -> Result<String, ProviderError> {
    let text = match value {
        Json::String(s) => s.clone(),
        Json::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Json::Bool(b) => if *b { "on" } else { "off" }.to_owned(),
        _ => {
            return Err(invalid(
                "parameters",
                format!("setting `{key}` must be a string, an integer or a boolean"),
            ))
        }
    };
    if text.contains('\0') || text.len() > 1024 {
        return Err(invalid(
            "parameters",
            format!("setting `{key}` has a value that is too long or holds a NUL byte"),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_values() {
        assert_eq!(param_text("a", &json!(60000)).unwrap(), "60000");
        assert_eq!(param_text("a", &json!(true)).unwrap(), "on");
        assert!(param_text("a", &json!([1])).is_err());
        assert!(check_param_name("pg_trgm.similarity_threshold").is_ok());
        assert!(check_param_name("Work_Mem").is_err());
    }
}
