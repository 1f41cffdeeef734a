//! The Redis provider: ACL users, such as one per tenant limited to its key prefix.
//!
//! ```text
//! provider redis { url = secret("env:REDIS_ADMIN_URL") }
//! resource redis.acl_user acme {
//!   name = "odoo-acme"
//!   password = secret("tenants/acme/redis")
//!   key_patterns = ["tenant:acme:*"]
//!   categories = ["+@read", "+@write", "-@dangerous"]
//! }
//! ```
//!
//! Users are written with one `ACL SETUSER name reset on|off #sha256 ~pattern … &channel …
//! +@category … +command …`, sent as an argument vector (no command text is ever assembled,
//! so no value can inject a rule). The password travels as its SHA-256 (`#…`), which is also
//! all Redis stores; state records that hash (never the password) to spot a password changed
//! by hand. `read` parses `ACL GETUSER`: flags, key and channel patterns are compared
//! directly, and the command rules against what the server reported right after obp wrote
//! them (Redis rewrites `+@read` and friends into its own canonical list).
//!
//! With `acl_save = true` the provider runs `ACL SAVE` after each change, for servers that
//! keep users in an ACL file.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use obp_engine::provider::{
    AttrSchema, AttrType, EnvSecrets, Provider, ProviderError, Recorded, ResourceRef,
    ResourceSchema, Secrets,
};
use redis::aio::MultiplexedConnection;
use redis::Value;
use serde_json::{json, Value as Json};

use crate::attrs::{
    config_value, invalid, overlay, resolve_secret, same_set, sha256_hex, shown, Inputs,
    CHANGED_OUTSIDE,
};

/// Longest user name accepted.
pub const MAX_USER: usize = 128;

/// A configured Redis server.
pub struct Redis {
    url: Json,
    acl_save: bool,
    secrets: Arc<dyn Secrets>,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
}

impl Redis {
    /// From the provider block: `url` (required), `acl_save`.
    pub fn new(attrs: &BTreeMap<String, Json>) -> Result<Redis, ProviderError> {
        Redis::with_secrets(attrs, Arc::new(EnvSecrets))
    }

    pub fn with_secrets(
        attrs: &BTreeMap<String, Json>,
        secrets: Arc<dyn Secrets>,
    ) -> Result<Redis, ProviderError> {
        const KNOWN: &[&str] = &["url", "acl_save"];
        crate::attrs::check_options(attrs, KNOWN)?;
        let url = crate::attrs::admin_url(attrs, "REDIS_ADMIN_URL")?;
        let acl_save = match attrs.get("acl_save") {
            None | Some(Json::Null) => false,
            Some(Json::Bool(b)) => *b,
            Some(_) => {
                return Err(ProviderError::Config(
                    "`acl_save` must be true or false".to_owned(),
                ))
            }
        };
        Ok(Redis {
            url,
            acl_save,
            secrets,
            connection: tokio::sync::Mutex::new(None),
        })
    }

    async fn connection(&self) -> Result<(MultiplexedConnection, Redact), ProviderError> {
        let url = config_value(self.secrets.as_ref(), "url", &self.url)?;
        let redact = Redact::new(&url);
        let mut guard = self.connection.lock().await;
        if let Some(connection) = guard.as_ref() {
            return Ok((connection.clone(), redact));
        }
        let client = redis::Client::open(url.as_str()).map_err(|e| {
            ProviderError::Config(redact.apply(&format!(
                "`url` is not a Redis URL ({e}; the URL itself is not shown)"
            )))
        })?;
        let connection = tokio::time::timeout(
            Duration::from_secs(15),
            client.get_multiplexed_async_connection(),
        )
        .await
        .map_err(|_| {
            ProviderError::Remote(format!(
                "cannot connect to Redis at {}: timed out",
                redact.location
            ))
        })?
        .map_err(|e| {
            ProviderError::Remote(redact.apply(&format!(
                "cannot connect to Redis at {}: {e}",
                redact.location
            )))
        })?;
        *guard = Some(connection.clone());
        Ok((connection, redact))
    }

    /// Runs one command given as an argument vector.
    async fn command(&self, args: &[String]) -> Result<Value, ProviderError> {
        let (mut connection, redact) = self.connection().await?;
        let mut cmd = redis::cmd(&args[0]);
        for arg in &args[1..] {
            cmd.arg(arg);
        }
        let result: Result<Value, _> = cmd.query_async(&mut connection).await;
        match result {
            Ok(value) => Ok(value),
            Err(e) => {
                if e.is_io_error() || e.is_connection_dropped() {
                    // Reconnect on the next call.
                    *self.connection.lock().await = None;
                }
                let verb = args.iter().take(2).cloned().collect::<Vec<_>>().join(" ");
                Err(ProviderError::Remote(
                    redact.apply(&format!("{verb} failed: {e}")),
                ))
            }
        }
    }

    async fn get_user(&self, name: &str) -> Result<Option<LiveUser>, ProviderError> {
        let value = self
            .command(&["ACL".to_owned(), "GETUSER".to_owned(), name.to_owned()])
            .await?;
        Ok(LiveUser::parse(&value))
    }

    async fn set_user(&self, inputs: &BTreeMap<String, Json>) -> Result<Recorded, ProviderError> {
        let i = Inputs(inputs);
        let name = i.str_req("name")?;
        let mut args = vec![
            "ACL".to_owned(),
            "SETUSER".to_owned(),
            name.to_owned(),
            "reset".to_owned(),
            if i.bool_or("enabled", true)? {
                "on"
            } else {
                "off"
            }
            .to_owned(),
        ];
        let mut outputs = BTreeMap::new();
        if let Some(path) = i.secret_opt("password")? {
            let password = resolve_secret(self.secrets.as_ref(), "password", path)?;
            let hash = sha256_hex(password.as_bytes());
            args.push(format!("#{hash}"));
            outputs.insert("password_sha256".to_owned(), json!(hash));
        }
        for pattern in i.strings("key_patterns")? {
            args.push(format!("~{pattern}"));
        }
        for channel in i.strings("channels")? {
            args.push(format!("&{channel}"));
        }
        for rule in i.strings("categories")? {
            args.push(rule.to_owned());
        }
        for rule in i.strings("commands")? {
            args.push(rule.to_owned());
        }
        self.command(&args).await?;
        let live = self.get_user(name).await?.ok_or_else(|| {
            ProviderError::Remote(format!(
                "user {} vanished right after ACL SETUSER",
                shown(name)
            ))
        })?;
        outputs.insert("acl_commands".to_owned(), json!(live.commands));
        self.save().await?;
        Ok(Recorded {
            inputs: inputs.clone(),
            outputs,
        })
    }

    async fn save(&self) -> Result<(), ProviderError> {
        if self.acl_save {
            self.command(&["ACL".to_owned(), "SAVE".to_owned()]).await?;
        }
        Ok(())
    }
}

/// Hides the admin URL and its password in messages.
struct Redact {
    hidden: Vec<String>,
    location: String,
}

impl Redact {
    fn new(url: &str) -> Redact {
        let mut hidden = vec![url.to_owned()];
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let (credentials, host) = match rest.rsplit_once('@') {
            Some((credentials, host)) => (Some(credentials), host),
            None => (None, rest),
        };
        if let Some(credentials) = credentials {
            let password = credentials.split_once(':').map_or(credentials, |(_, p)| p);
            if password.len() >= 3 {
                hidden.push(password.to_owned());
            }
        }
        let location = host.split(['/', '?']).next().unwrap_or("?").to_owned();
        Redact { hidden, location }
    }

    fn apply(&self, message: &str) -> String {
        let mut out = message.to_owned();
        // Short (or empty) texts would hide unrelated characters everywhere.
        for text in self.hidden.iter().filter(|t| t.len() >= 3) {
            out = out.replace(text.as_str(), "(hidden)");
        }
        out
    }
}

/// What `ACL GETUSER` reports.
#[derive(Debug, Default, PartialEq)]
struct LiveUser {
    enabled: bool,
    passwords: Vec<String>,
    commands: String,
    keys: Vec<String>,
    channels: Vec<String>,
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Okay => Some("OK".to_owned()),
        _ => None,
    }
}

fn items(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) | Value::Set(items) => items.iter().filter_map(text).collect(),
        other => text(other)
            .map(|t| t.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
    }
}

/// Strips a pattern's rule prefix: `~p`, `%R~p`, `%W~p`, `%RW~p` (keys) or `&p` (channels).
fn strip_rule(rule: &str, sigil: char) -> String {
    let rule = match rule.strip_prefix('%') {
        Some(rest) => rest.split_once('~').map_or(rest, |(_, p)| p),
        None => rule.strip_prefix(sigil).unwrap_or(rule),
    };
    rule.to_owned()
}

impl LiveUser {
    fn parse(value: &Value) -> Option<LiveUser> {
        let pairs: Vec<(String, &Value)> = match value {
            Value::Nil => return None,
            Value::Array(items) => items
                .chunks(2)
                .filter_map(|pair| match pair {
                    [k, v] => text(k).map(|k| (k, v)),
                    _ => None,
                })
                .collect(),
            Value::Map(pairs) => pairs
                .iter()
                .filter_map(|(k, v)| text(k).map(|k| (k, v)))
                .collect(),
            _ => return None,
        };
        let mut user = LiveUser::default();
        for (key, value) in pairs {
            match key.as_str() {
                "flags" => user.enabled = items(value).iter().any(|f| f == "on"),
                "passwords" => user.passwords = items(value),
                "commands" => user.commands = text(value).unwrap_or_default(),
                "keys" => {
                    user.keys = items(value).iter().map(|k| strip_rule(k, '~')).collect();
                }
                "channels" => {
                    user.channels = items(value).iter().map(|c| strip_rule(c, '&')).collect();
                }
                _ => {}
            }
        }
        Some(user)
    }
}

/// The resource types this provider manages.
pub fn schemas() -> Vec<ResourceSchema> {
    vec![ResourceSchema {
        rtype: "redis.acl_user".to_owned(),
        attributes: vec![
            AttrSchema::new("name", AttrType::String)
                .required()
                .force_new()
                .doc("user name: letters, digits, `_ . : -` (not `default`)"),
            AttrSchema::new("password", AttrType::String)
                .sensitive()
                .doc("a secret reference; sent and recorded as its SHA-256 only"),
            AttrSchema::new("key_patterns", AttrType::List)
                .doc("key glob patterns without `~`, such as [\"tenant:acme:*\"]"),
            AttrSchema::new("channels", AttrType::List).doc("Pub/Sub channel patterns without `&`"),
            AttrSchema::new("categories", AttrType::List)
                .doc("category rules such as [\"+@read\", \"+@write\", \"-@dangerous\"]"),
            AttrSchema::new("commands", AttrType::List)
                .doc("command rules such as [\"+ping\", \"-flushall\", \"+client|setname\"]"),
            AttrSchema::new("enabled", AttrType::Bool).doc("default true"),
            AttrSchema::new("password_sha256", AttrType::String).computed(),
            AttrSchema::new("acl_commands", AttrType::String)
                .computed()
                .doc("the command rules as the server reported them after apply"),
        ],
        open: false,
        replace_on: Vec::new(),
        list_keys: Vec::new(),
        doc: "a Redis ACL user",
    }]
}

/// All problems with an ACL user's inputs (values not known yet are skipped).
pub fn check_inputs(inputs: &BTreeMap<String, Json>, prior: bool) -> Vec<ProviderError> {
    let i = Inputs(inputs);
    let mut errors = Vec::new();
    if i.known("name") {
        match i.str_opt("name") {
            Ok(Some(name)) => {
                if let Err(e) = check_user_name(name) {
                    errors.push(e);
                }
            }
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    let marker = prior && i.get("password") == Some(&Json::String(CHANGED_OUTSIDE.into()));
    if i.known("password") && !marker {
        if let Err(e) = i.secret_opt("password") {
            errors.push(e);
        }
    }
    if let Err(e) = i.bool_or("enabled", true) {
        errors.push(e);
    }
    let list =
        |attribute: &str, check: &dyn Fn(&str) -> Result<(), String>| -> Vec<ProviderError> {
            if !i.known(attribute) {
                return Vec::new();
            }
            match i.strings(attribute) {
                Err(e) => vec![e],
                Ok(values) => values
                    .into_iter()
                    .filter_map(|v| check(v).err())
                    .map(|message| invalid(attribute, message))
                    .collect(),
            }
        };
    errors.extend(list("key_patterns", &|p| {
        pattern(p, "key pattern", &['~', '%', '&'])
    }));
    errors.extend(list("channels", &|p| {
        pattern(p, "channel pattern", &['&', '~', '%'])
    }));
    errors.extend(list("categories", &|rule| {
        let ok = (rule.starts_with("+@") || rule.starts_with("-@"))
            && rule.len() > 2
            && rule.len() <= 64
            && rule[2..]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-');
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{} is not a category rule (`+@name` or `-@name`)",
                shown(rule)
            ))
        }
    }));
    errors.extend(list("commands", &|rule| {
        let body = rule.strip_prefix('+').or_else(|| rule.strip_prefix('-'));
        let ok = body.is_some_and(|body| {
            let mut parts = body.splitn(2, '|');
            let word = |w: &str| {
                !w.is_empty()
                    && w.len() <= 64
                    && w.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
            };
            parts.next().is_some_and(|c| word(c) && c.chars().next().is_some_and(|f| f.is_ascii_lowercase()))
                && parts.next().is_none_or(word)
        });
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{} is not a command rule (`+command`, `-command` or `+command|subcommand`, lowercase)",
                shown(rule)
            ))
        }
    }));
    errors
}

fn check_user_name(name: &str) -> Result<(), ProviderError> {
    crate::attrs::check_name("name", name, "user", MAX_USER)?;
    if name.contains("..") {
        return Err(invalid(
            "name",
            format!("user name {} is not allowed", shown(name)),
        ));
    }
    if name == "default" {
        return Err(invalid(
            "name",
            "the `default` user is the server's own; manage it in the server configuration",
        ));
    }
    Ok(())
}

fn pattern(value: &str, what: &str, sigils: &[char]) -> Result<(), String> {
    if value.is_empty() || value.len() > 512 {
        return Err(format!("a {what} must be 1 to 512 characters"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{what} {} holds whitespace or control characters",
            shown(value)
        ));
    }
    if value.starts_with(sigils) {
        return Err(format!(
            "write the {what} {} without its rule prefix (obp adds it)",
            shown(value)
        ));
    }
    Ok(())
}

fn first_error(errors: Vec<ProviderError>) -> Result<(), ProviderError> {
    match errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn check_type(rtype: &str) -> Result<(), ProviderError> {
    if rtype == "redis.acl_user" {
        Ok(())
    } else {
        Err(invalid(
            "",
            format!("the redis provider does not manage `{rtype}`"),
        ))
    }
}

#[async_trait]
impl Provider for Redis {
    fn kind(&self) -> &str {
        "redis"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        schemas()
    }

    fn validate(
        &self,
        _resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Vec<ProviderError> {
        check_inputs(inputs, false)
    }

    async fn create(
        &self,
        resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        check_type(resource.rtype)?;
        first_error(check_inputs(inputs, false))?;
        let name = Inputs(inputs).str_req("name")?;
        if self.get_user(name).await?.is_some() {
            return Err(ProviderError::AlreadyExists {
                message: format!("ACL user {} already exists", shown(name)),
                id: name.to_owned(),
            });
        }
        self.set_user(inputs).await
    }

    async fn update(
        &self,
        resource: &ResourceRef<'_>,
        _prior: &Recorded,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        check_type(resource.rtype)?;
        first_error(check_inputs(inputs, false))?;
        self.set_user(inputs).await
    }

    async fn delete(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<(), ProviderError> {
        check_type(resource.rtype)?;
        first_error(check_inputs(&prior.inputs, true))?;
        let name = Inputs(&prior.inputs).str_req("name")?;
        self.command(&["ACL".to_owned(), "DELUSER".to_owned(), name.to_owned()])
            .await?;
        self.save().await
    }

    async fn read(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<Option<Recorded>, ProviderError> {
        check_type(resource.rtype)?;
        first_error(check_inputs(&prior.inputs, true))?;
        let name = Inputs(&prior.inputs).str_req("name")?;
        let Some(live) = self.get_user(name).await? else {
            return Ok(None);
        };
        let mut inputs = prior.inputs.clone();
        let mut outputs = prior.outputs.clone();
        overlay(
            &mut inputs,
            "enabled",
            json!(live.enabled),
            Some(json!(true)),
            |a, b| a == b,
        );
        let set = |a: &Json, b: &Json| same_set(a, b, false);
        overlay(
            &mut inputs,
            "key_patterns",
            json!(live.keys),
            Some(json!([])),
            set,
        );
        overlay(
            &mut inputs,
            "channels",
            json!(live.channels),
            Some(json!([])),
            set,
        );
        match prior.outputs.get("acl_commands").and_then(Json::as_str) {
            Some(recorded) if recorded == live.commands => {}
            Some(_) => {
                // Changed by hand: show the live rules (Redis's canonical form).
                let mut tokens: Vec<&str> = live.commands.split_whitespace().collect();
                if tokens.first() == Some(&"-@all") {
                    tokens.remove(0);
                }
                let (categories, commands): (Vec<&str>, Vec<&str>) =
                    tokens.into_iter().partition(|t| t.contains('@'));
                inputs.insert("categories".to_owned(), json!(categories));
                if !commands.is_empty() || inputs.contains_key("commands") {
                    inputs.insert("commands".to_owned(), json!(commands));
                }
            }
            None => {
                // Imported: adopt what is there.
                outputs.insert("acl_commands".to_owned(), json!(live.commands));
            }
        }
        let configured = Inputs(&prior.inputs).get("password").is_some();
        let recorded = prior.outputs.get("password_sha256").and_then(Json::as_str);
        match (configured, recorded) {
            (true, Some(hash)) if live.passwords == [hash] => {}
            (true, Some(_)) => {
                inputs.insert("password".to_owned(), json!(CHANGED_OUTSIDE));
            }
            (true, None) => {}
            (false, _) if !live.passwords.is_empty() => {
                inputs.insert("password".to_owned(), json!(CHANGED_OUTSIDE));
            }
            (false, _) => {}
        }
        Ok(Some(Recorded { inputs, outputs }))
    }

    async fn import(
        &self,
        resource: &ResourceRef<'_>,
        id: &str,
    ) -> Result<Recorded, ProviderError> {
        check_type(resource.rtype)?;
        check_user_name(id)?;
        let prior = Recorded {
            inputs: BTreeMap::from([("name".to_owned(), json!(id))]),
            outputs: BTreeMap::new(),
        };
        let mut recorded = self
            .read(resource, &prior)
            .await?
            .ok_or_else(|| ProviderError::Remote(format!("no ACL user {}", shown(id))))?;
        // A password found on import is unknown to obp: the next apply sets it.
        if let Some(live) = self.get_user(id).await? {
            if let [hash] = live.passwords.as_slice() {
                recorded
                    .outputs
                    .insert("password_sha256".to_owned(), json!(hash));
            }
        }
        Ok(recorded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getuser_replies_are_parsed() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![
            bulk("flags"),
            Value::Array(vec![bulk("on"), bulk("sanitize-payload")]),
            bulk("passwords"),
            Value::Array(vec![bulk("ab12")]),
            bulk("commands"),
            bulk("-@all +@read"),
            bulk("keys"),
            bulk("~tenant:acme:* %R~ro:*"),
            bulk("channels"),
            bulk("&news"),
        ]);
        let user = LiveUser::parse(&reply).unwrap();
        assert!(user.enabled);
        assert_eq!(user.passwords, ["ab12"]);
        assert_eq!(user.keys, ["tenant:acme:*", "ro:*"]);
        assert_eq!(user.channels, ["news"]);
        assert_eq!(LiveUser::parse(&Value::Nil), None);
    }

    #[test]
    fn hostile_inputs_are_rejected() {
        let inputs: BTreeMap<String, Json> = [
            ("name".to_owned(), json!("../x")),
            ("password".to_owned(), json!("plain")),
            ("key_patterns".to_owned(), json!(["a b", "~x"])),
            ("categories".to_owned(), json!(["+@read", "allcommands"])),
            ("commands".to_owned(), json!(["+get", "+GET; flushall"])),
        ]
        .into_iter()
        .collect();
        assert_eq!(check_inputs(&inputs, false).len(), 6);
        let long = BTreeMap::from([("name".to_owned(), json!("u".repeat(300)))]);
        assert!(check_inputs(&long, false)[0]
            .to_string()
            .contains("300 bytes"));
    }

    #[test]
    fn urls_are_redacted() {
        let redact = Redact::new("redis://admin:s3cret@10.0.0.1:6379/0");
        assert_eq!(redact.location, "10.0.0.1:6379");
        assert_eq!(redact.apply("x s3cret y"), "x (hidden) y");
    }
}
