//! Checks of postgres resource inputs: every name and literal that can reach a statement.
//! They run in `validate` (plan) and again before any statement.

use std::collections::{BTreeMap, BTreeSet};

use obp_engine::provider::ProviderError;
use obp_engine::resolve::is_unknown;
use serde_json::Value as Json;

use crate::attrs::{check_name, invalid, shown, Inputs, CHANGED_OUTSIDE};

/// PostgreSQL's NAMEDATALEN - 1: longer names are silently truncated by the server.
pub const MAX_NAME: usize = 63;

/// Privileges each `object_type` of `postgres.grant` accepts.
pub const PRIVILEGES: &[(&str, &[&str])] = &[
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

/// Roles PostgreSQL reserves (`public`, `none` and the role keywords) or creates itself
/// (the bootstrap superuser `postgres`); names starting with `pg_` are reserved as well.
pub const RESERVED_ROLES: &[&str] = &[
    "current_role",
    "current_user",
    "none",
    "postgres",
    "public",
    "session_user",
];

/// Databases every PostgreSQL server has: the maintenance database and the templates every
/// `CREATE DATABASE` copies.
pub const RESERVED_DATABASES: &[&str] = &["postgres", "template0", "template1"];

/// The code of a reserved role or database name.
const RESERVED: &str = "E0712";

/// Refuses a role name PostgreSQL reserves or owns.
pub fn reserved_role(attribute: &str, name: &str) -> Result<(), ProviderError> {
    if name.starts_with("pg_") || RESERVED_ROLES.contains(&name) {
        return Err(ProviderError::Rejected {
            code: RESERVED,
            attribute: Some(attribute.to_owned()),
            message: format!("role {} is reserved by PostgreSQL", shown(name)),
            help: "pick another role name: `public`, `none`, `current_user`, `current_role`, `session_user`, `postgres` and names starting with `pg_` belong to PostgreSQL".to_owned(),
        });
    }
    Ok(())
}

/// Refuses a database name every server has.
pub fn reserved_database(attribute: &str, name: &str) -> Result<(), ProviderError> {
    if RESERVED_DATABASES.contains(&name) {
        return Err(ProviderError::Rejected {
            code: RESERVED,
            attribute: Some(attribute.to_owned()),
            message: format!("database {} is reserved by PostgreSQL", shown(name)),
            help: "pick another database name: `postgres`, `template0` and `template1` belong to the server (for a tenant, rename the tenant)".to_owned(),
        });
    }
    Ok(())
}

/// All problems with a resource's configured inputs (values not known yet are skipped).
pub fn check_inputs(rtype: &str, inputs: &BTreeMap<String, Json>) -> Vec<ProviderError> {
    check(rtype, inputs, false)
}

/// The checks for recorded inputs (state): the same, except that a password may be the
/// "changed outside obp" marker a refresh recorded.
pub fn check_prior(rtype: &str, inputs: &BTreeMap<String, Json>) -> Vec<ProviderError> {
    check(rtype, inputs, true)
}

fn check(rtype: &str, inputs: &BTreeMap<String, Json>, prior: bool) -> Vec<ProviderError> {
    let i = Inputs(inputs);
    let mut errors = Vec::new();
    let mut push = |result: Result<(), ProviderError>| {
        if let Err(error) = result {
            errors.push(error);
        }
    };
    let name = |attribute: &str, what: &str| -> Result<(), ProviderError> {
        if !i.known(attribute) {
            return Ok(());
        }
        match i.str_opt(attribute)? {
            Some(value) => check_name(attribute, value, what, MAX_NAME),
            None => Ok(()),
        }
    };
    let role_name = |attribute: &str| -> Result<(), ProviderError> {
        name(attribute, "role")?;
        if let Some(value) = i
            .str_opt(attribute)
            .ok()
            .flatten()
            .filter(|_| i.known(attribute))
        {
            reserved_role(attribute, value)?;
        }
        Ok(())
    };
    let limit = |attribute: &str| -> Result<(), ProviderError> {
        match i.int_opt(attribute)? {
            Some(n) if !(-1..=i64::from(i32::MAX)).contains(&n) => Err(invalid(
                attribute,
                format!("`{attribute}` must be -1 (no limit) or a positive number, not {n}"),
            )),
            _ => Ok(()),
        }
    };
    match rtype {
        "postgres.role" => {
            push(role_name("name"));
            push(limit("connection_limit"));
            for (flag, _, default) in super::ROLE_FLAGS {
                push(i.bool_or(flag, *default).map(|_| ()));
            }
            let marker = prior && i.get("password") == Some(&Json::String(CHANGED_OUTSIDE.into()));
            if i.known("password") && !marker {
                push(i.secret_opt("password").map(|_| ()));
            }
        }
        "postgres.database" => {
            push(name("name", "database"));
            if let Some(database) = i.str_opt("name").ok().flatten().filter(|_| i.known("name")) {
                push(reserved_database("name", database));
            }
            push(role_name("owner"));
            push(name("template", "template database"));
            push(limit("connection_limit"));
            push(text("encoding", &i, 32, |c| {
                c.is_ascii_alphanumeric() || c == '_' || c == '-'
            }));
            for locale in ["lc_collate", "lc_ctype"] {
                push(text(locale, &i, MAX_NAME, |c| {
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
                            push(check_param_name(key));
                            push(param_text(key, value).map(|_| ()));
                        }
                    }
                    Some(_) => push(Err(invalid("parameters", "`parameters` must be a map"))),
                }
            }
        }
        "postgres.extension" => {
            push(name("database", "database"));
            push(name("schema", "schema"));
            if i.known("name") {
                push(match i.str_opt("name") {
                    Ok(Some(ext)) => text_value("name", ext, MAX_NAME, |c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
                    }),
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                });
            }
        }
        "postgres.schema" => {
            push(name("database", "database"));
            push(name("name", "schema"));
            push(role_name("owner"));
            if let Ok(Some(schema)) = i.str_opt("name") {
                if i.known("name") && (schema.starts_with("pg_") || schema == "information_schema")
                {
                    push(Err(invalid(
                        "name",
                        format!("schema name {} is reserved by PostgreSQL", shown(schema)),
                    )));
                }
            }
        }
        "postgres.grant" => {
            push(name("database", "database"));
            push(role_name("role"));
            push(name("schema", "schema"));
            let object_type = i
                .str_opt("object_type")
                .ok()
                .flatten()
                .filter(|_| i.known("object_type"));
            match object_type {
                Some(kind) if !PRIVILEGES.iter().any(|(k, _)| *k == kind) => {
                    push(Err(invalid(
                        "object_type",
                        format!(
                            "`object_type` must be one of database, schema, table, sequence, not {}",
                            shown(kind)
                        ),
                    )));
                }
                Some("database") if i.get("schema").is_some() => {
                    push(Err(invalid(
                        "schema",
                        "`schema` does not apply to object_type \"database\"",
                    )));
                }
                Some(kind) if kind != "database" && i.get("schema").is_none() => {
                    push(Err(invalid(
                        "schema",
                        format!("object_type \"{kind}\" needs the `schema`"),
                    )));
                }
                Some(_) => {}
                None => {}
            }
            if object_type.is_some() && i.known("privileges") {
                push(privileges(i).map(|_| ()));
            }
        }
        _ => {}
    }
    errors
}

/// An optional string attribute of limited characters.
fn text(
    attribute: &str,
    i: &Inputs<'_>,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), ProviderError> {
    if !i.known(attribute) {
        return Ok(());
    }
    match i.str_opt(attribute)? {
        Some(value) => text_value(attribute, value, max, allowed),
        None => Ok(()),
    }
}

fn text_value(
    attribute: &str,
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), ProviderError> {
    if value.is_empty() || value.len() > max || !value.chars().all(allowed) {
        return Err(invalid(
            attribute,
            format!(
                "`{attribute}` value {} is not allowed (at most {max} bytes of letters, digits and `_ . - @`)",
                shown(value)
            ),
        ));
    }
    Ok(())
}

/// A setting name as `ALTER DATABASE … SET` takes it unquoted: lowercase, `_`, digits, and
/// at most one `.` for extension settings (`pg_trgm.similarity_threshold`).
pub fn check_param_name(key: &str) -> Result<(), ProviderError> {
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

/// The grant's privileges, upper-cased (`TEMP` is `TEMPORARY`), checked against its
/// `object_type`.
pub fn privileges(i: Inputs<'_>) -> Result<BTreeSet<String>, ProviderError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inputs(value: Json) -> BTreeMap<String, Json> {
        value
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    #[test]
    fn hostile_names_are_rejected_with_the_attribute() {
        let errors = check_inputs(
            "postgres.role",
            &inputs(json!({ "name": "a\"; DROP ROLE x; --", "password": "plain" })),
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        let errors = check_inputs(
            "postgres.database",
            &inputs(
                json!({ "name": "db", "owner": "../x", "parameters": { "work_mem; drop": "1" } }),
            ),
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        let errors = check_inputs(
            "postgres.grant",
            &inputs(
                json!({ "database": "db", "role": "r", "object_type": "table", "privileges": ["SELECT", "ALL"] }),
            ),
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn reserved_roles_and_databases_are_refused_with_their_code() {
        let code = |errors: Vec<ProviderError>| -> Vec<(&'static str, Option<String>)> {
            errors
                .into_iter()
                .map(|e| match e {
                    ProviderError::Rejected {
                        code, attribute, ..
                    } => (code, attribute),
                    other => panic!("not a coded rejection: {other:?}"),
                })
                .collect()
        };
        for role in [
            "public",
            "postgres",
            "none",
            "current_user",
            "session_user",
            "pg_monitor",
            "pg_x",
        ] {
            let errors = check_inputs("postgres.role", &inputs(json!({ "name": role })));
            assert_eq!(code(errors), [("E0712", Some("name".to_owned()))], "{role}");
            let errors = check_inputs(
                "postgres.database",
                &inputs(json!({ "name": "acme", "owner": role })),
            );
            assert_eq!(
                code(errors),
                [("E0712", Some("owner".to_owned()))],
                "{role}"
            );
            let errors = check_inputs(
                "postgres.grant",
                &inputs(
                    json!({ "database": "acme", "role": role, "object_type": "database", "privileges": ["CONNECT"] }),
                ),
            );
            assert_eq!(code(errors), [("E0712", Some("role".to_owned()))], "{role}");
        }
        for database in ["postgres", "template0", "template1"] {
            let errors = check_inputs(
                "postgres.database",
                &inputs(json!({ "name": database, "owner": "odoo" })),
            );
            assert_eq!(
                code(errors),
                [("E0712", Some("name".to_owned()))],
                "{database}"
            );
        }
        // Close to reserved, but not reserved (quoted identifiers are case-sensitive).
        for role in ["odoo", "Public", "postgres_app", "pgx"] {
            assert!(
                check_inputs("postgres.role", &inputs(json!({ "name": role }))).is_empty(),
                "{role}"
            );
        }
        for database in ["template2", "postgres2", "acme"] {
            let errors = check_inputs(
                "postgres.database",
                &inputs(json!({ "name": database, "template": "template0" })),
            );
            assert!(errors.is_empty(), "{database}: {errors:?}");
        }
    }

    #[test]
    fn unknown_values_are_checked_at_apply() {
        let errors = check_inputs(
            "postgres.database",
            &inputs(
                json!({ "name": "db", "owner": { "$unknown": { "address": "postgres.role.r", "path": ["name"] } } }),
            ),
        );
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn parameter_values() {
        assert_eq!(param_text("a", &json!(60000)).unwrap(), "60000");
        assert_eq!(param_text("a", &json!(true)).unwrap(), "on");
        assert!(param_text("a", &json!([1])).is_err());
        assert!(check_param_name("pg_trgm.similarity_threshold").is_ok());
        assert!(check_param_name("Work_Mem").is_err());
    }
}
