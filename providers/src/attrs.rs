//! Typed access to resource inputs and the checks the server providers share: secret
//! references, names, and the "live value over prior" rule of `read`.

use std::collections::{BTreeMap, BTreeSet};

use obp_engine::provider::{ProviderError, Secrets};
use obp_engine::resolve::is_unknown;
use serde_json::Value as Json;

/// What `read` puts in place of a password that was changed (or set) outside obp: the plan
/// then shows `password` as changed, and apply sets it again from the secret.
pub const CHANGED_OUTSIDE: &str = "(changed outside obp)";

/// A provider error about one attribute (a dotted path; empty for the resource as a whole).
pub fn invalid(attribute: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::Invalid {
        attribute: (!attribute.is_empty()).then(|| attribute.to_owned()),
        message: message.into(),
    }
}

/// Refuses options not in `known`, listing the known ones.
pub fn check_options(attrs: &BTreeMap<String, Json>, known: &[&str]) -> Result<(), ProviderError> {
    match attrs.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(key) => Err(ProviderError::Config(format!(
            "unknown option `{key}` (known: {})",
            known.join(", ")
        ))),
    }
}

/// The admin `url` of a server provider: required, a secret reference (usually) or text;
/// `example` names the environment variable shown in the error.
pub fn admin_url(attrs: &BTreeMap<String, Json>, example: &str) -> Result<Json, ProviderError> {
    let url = attrs.get("url").cloned().ok_or_else(|| {
        ProviderError::Config(format!(
            "`url` is required, such as `url = secret(\"env:{example}\")`"
        ))
    })?;
    if !(url.is_string() || url.get("$secret").is_some()) {
        return Err(ProviderError::Config(
            "`url` must be a secret reference or a string".to_owned(),
        ));
    }
    Ok(url)
}

/// Read access to one resource's inputs; `null` counts as absent.
#[derive(Clone, Copy)]
pub struct Inputs<'a>(pub &'a BTreeMap<String, Json>);

impl<'a> Inputs<'a> {
    pub fn get(&self, name: &str) -> Option<&'a Json> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// Whether the value is known (not a value only apply will know).
    pub fn known(&self, name: &str) -> bool {
        self.get(name).is_none_or(|v| !is_unknown(v))
    }

    pub fn str_opt(&self, name: &str) -> Result<Option<&'a str>, ProviderError> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid(name, format!("`{name}` must be a string"))),
        }
    }

    pub fn str_req(&self, name: &str) -> Result<&'a str, ProviderError> {
        self.str_opt(name)?
            .ok_or_else(|| invalid(name, format!("`{name}` is required")))
    }

    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, ProviderError> {
        match self.get(name) {
            None => Ok(default),
            Some(Json::Bool(b)) => Ok(*b),
            Some(_) => Err(invalid(name, format!("`{name}` must be true or false"))),
        }
    }

    pub fn int_opt(&self, name: &str) -> Result<Option<i64>, ProviderError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| invalid(name, format!("`{name}` must be an integer"))),
        }
    }

    /// A list of strings (absent is empty).
    pub fn strings(&self, name: &str) -> Result<Vec<&'a str>, ProviderError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Json::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .ok_or_else(|| invalid(name, format!("`{name}` must be a list of strings")))
                })
                .collect(),
            Some(_) => Err(invalid(name, format!("`{name}` must be a list of strings"))),
        }
    }

    /// The path of a `secret("…")` reference; a plain string is refused so that no password
    /// is ever written into the configuration or the state.
    pub fn secret_opt(&self, name: &str) -> Result<Option<&'a str>, ProviderError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => match value.get("$secret").and_then(Json::as_str) {
                Some(path) => Ok(Some(path)),
                None if value.is_string() => Err(invalid(
                    name,
                    format!("`{name}` must be a secret reference such as `secret(\"tenants/acme/db\")`, not a plain string (it would be stored in state)"),
                )),
                None => Err(invalid(name, format!("`{name}` must be a secret reference"))),
            },
        }
    }
}

/// Resolves a secret reference at apply time.
pub fn resolve_secret(
    secrets: &dyn Secrets,
    attribute: &str,
    path: &str,
) -> Result<String, ProviderError> {
    let value = secrets.resolve(path)?;
    if value.is_empty() {
        return Err(invalid(
            attribute,
            format!("secret `{path}` is empty; refusing to set an empty password"),
        ));
    }
    Ok(value)
}

/// A provider option that is a secret reference or (for tests and local setups) a plain
/// string, resolved when the provider first connects.
pub fn config_value(
    secrets: &dyn Secrets,
    name: &str,
    value: &Json,
) -> Result<String, ProviderError> {
    if let Some(path) = value.get("$secret").and_then(Json::as_str) {
        return secrets.resolve(path).map_err(|_| {
            ProviderError::Config(format!(
                "`{name}`: secret `{path}` is not set (environment variable `{}`)",
                obp_engine::provider::EnvSecrets::variable(path)
            ))
        });
    }
    match value {
        Json::String(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err(ProviderError::Config(format!(
            "`{name}` must be a secret reference or a non-empty string"
        ))),
    }
}

/// Checks one name: ASCII letters, digits, `_`, `.` and `-`, starting with a letter, digit
/// or `_`, at most `max` bytes. Names that pass cannot break out of quoting, traverse
/// paths or be truncated by the server.
pub fn check_name(
    attribute: &str,
    name: &str,
    what: &str,
    max: usize,
) -> Result<(), ProviderError> {
    if name.is_empty() {
        return Err(invalid(attribute, format!("{what} name must not be empty")));
    }
    if name.len() > max {
        return Err(invalid(
            attribute,
            format!(
                "{what} name is {} bytes long; the limit is {max} (longer names would be truncated by the server)",
                name.len()
            ),
        ));
    }
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !(first_ok && rest_ok) {
        return Err(invalid(
            attribute,
            format!(
                "{what} name {} is not allowed: use ASCII letters, digits, `_`, `.` and `-`, starting with a letter, digit or `_`",
                shown(name)
            ),
        ));
    }
    Ok(())
}

/// A name for messages: quoted, control characters escaped, long names shortened.
pub fn shown(name: &str) -> String {
    let mut text: String = name.chars().take(40).collect();
    if name.chars().count() > 40 {
        text.push('…');
    }
    format!("{text:?}")
}

/// The `read` rule for one managed attribute: where the configuration set it, the live value
/// (or the prior value when `same` says they are equivalent); where it did not, the live value
/// only when it differs from the default (so a hand change is drift either way).
pub fn overlay(
    inputs: &mut BTreeMap<String, Json>,
    name: &str,
    live: Json,
    default: Option<Json>,
    same: impl Fn(&Json, &Json) -> bool,
) {
    match inputs.get(name).filter(|v| !v.is_null()) {
        Some(prior) if same(prior, &live) => {}
        Some(_) => {
            inputs.insert(name.to_owned(), live);
        }
        None => {
            if default.as_ref().is_some_and(|d| !same(d, &live)) {
                inputs.insert(name.to_owned(), live);
            }
        }
    }
}

/// Lists compared as sets of strings (case-insensitive when `fold`).
pub fn same_set(a: &Json, b: &Json, fold: bool) -> bool {
    let set = |v: &Json| -> Option<BTreeSet<String>> {
        v.as_array().map(|items| {
            items
                .iter()
                .filter_map(Json::as_str)
                .map(|s| {
                    if fold {
                        s.to_ascii_uppercase()
                    } else {
                        s.to_owned()
                    }
                })
                .collect()
        })
    };
    match (set(a), set(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        assert!(check_name("name", "odoo_acme-1.x", "role", 63).is_ok());
        for bad in [
            "a\"; DROP ROLE x; --",
            "../x",
            "",
            " a",
            "a b",
            "é",
            ".x",
            "-x",
        ] {
            let error = check_name("name", bad, "role", 63).unwrap_err();
            assert!(
                matches!(error, ProviderError::Invalid { attribute: Some(ref a), .. } if a == "name")
            );
        }
        let long = "a".repeat(300);
        let message = check_name("name", &long, "role", 63)
            .unwrap_err()
            .to_string();
        assert!(message.contains("300 bytes"), "{message}");
    }

    #[test]
    fn overlay_rule() {
        let mut inputs = BTreeMap::from([("login".to_owned(), json!(true))]);
        overlay(
            &mut inputs,
            "login",
            json!(false),
            Some(json!(true)),
            |a, b| a == b,
        );
        assert_eq!(inputs["login"], json!(false));
        overlay(
            &mut inputs,
            "superuser",
            json!(false),
            Some(json!(false)),
            |a, b| a == b,
        );
        assert!(!inputs.contains_key("superuser"));
        overlay(
            &mut inputs,
            "superuser",
            json!(true),
            Some(json!(false)),
            |a, b| a == b,
        );
        assert_eq!(inputs["superuser"], json!(true));
    }

    #[test]
    fn secrets_must_be_references() {
        let inputs = BTreeMap::from([("password".to_owned(), json!("hunter2"))]);
        assert!(Inputs(&inputs).secret_opt("password").is_err());
        let inputs = BTreeMap::from([("password".to_owned(), json!({"$secret": "a/b"}))]);
        assert_eq!(Inputs(&inputs).secret_opt("password").unwrap(), Some("a/b"));
    }
}
