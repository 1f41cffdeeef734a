//! Checks of postgres resource inputs: every name and literal that can reach a statement.
//! They run in `validate` (plan) and again before any statement: [`check_inputs`] and
//! [`check_prior`] hand the inputs to their resource type's own `check`, which uses the
//! shared rules here (names, reserved names, connection limits, restricted text).

use std::collections::BTreeMap;

use obp_engine::provider::ProviderError;
use serde_json::Value as Json;

use crate::attrs::{check_name, invalid, shown, Inputs};

/// PostgreSQL's NAMEDATALEN - 1: longer names are silently truncated by the server.
pub const MAX_NAME: usize = 63;

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
    match super::resource_type(rtype) {
        Some(resource_type) => resource_type.check(Inputs(inputs), prior),
        None => Vec::new(),
    }
}

/// The errors among `results`, in order.
pub(super) fn errors(results: Vec<Result<(), ProviderError>>) -> Vec<ProviderError> {
    results.into_iter().filter_map(Result::err).collect()
}

/// An optional name attribute (`what`: role, database, schema …), when known.
pub(super) fn name(i: Inputs<'_>, attribute: &str, what: &str) -> Result<(), ProviderError> {
    if !i.known(attribute) {
        return Ok(());
    }
    match i.str_opt(attribute)? {
        Some(value) => check_name(attribute, value, what, MAX_NAME),
        None => Ok(()),
    }
}

/// An optional role name attribute: a name, and not one PostgreSQL reserves.
pub(super) fn role_name(i: Inputs<'_>, attribute: &str) -> Result<(), ProviderError> {
    name(i, attribute, "role")?;
    if let Some(value) = i
        .str_opt(attribute)
        .ok()
        .flatten()
        .filter(|_| i.known(attribute))
    {
        reserved_role(attribute, value)?;
    }
    Ok(())
}

/// An optional connection limit: -1 or a positive `int4`.
pub(super) fn limit(i: Inputs<'_>, attribute: &str) -> Result<(), ProviderError> {
    match i.int_opt(attribute)? {
        Some(n) if !(-1..=i64::from(i32::MAX)).contains(&n) => Err(invalid(
            attribute,
            format!("`{attribute}` must be -1 (no limit) or a positive number, not {n}"),
        )),
        _ => Ok(()),
    }
}

/// An optional string attribute of limited characters.
pub(super) fn text(
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

pub(super) fn text_value(
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
}
