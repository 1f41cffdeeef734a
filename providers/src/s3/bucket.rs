//! `s3.bucket`: the bucket itself plus the settings obp manages on it — versioning, lifecycle
//! rules and tags. Each setting is managed only when the blueprint writes it: `read` fetches
//! exactly those from the server, so an out-of-band change shows as drift, and a setting the
//! server does not implement is reported as [`ProviderError::NotSupported`] naming it.
//!
//! Lifecycle rules are compared in a canonical form (defaults filled in, rules sorted by id),
//! and a server that silently drops part of a rule (Garage keeps only expirations and
//! multipart-upload aborts) is caught by reading the rules back after writing them.
//!
//! Deleting a bucket deletes nothing in it: a non-empty bucket is an error that says what to do.

use std::collections::BTreeMap;
use std::time::Duration;

use obp_engine::provider::{ProviderError, Recorded, ResourceRef};
use rusty_s3::Method;
use serde_json::{json, Map, Value as Json};

use super::client::{Client, Request};
use super::xml;
use super::{invalid, names};

/// The fields a lifecycle rule may have.
const RULE_FIELDS: &[&str] = &[
    "id",
    "prefix",
    "enabled",
    "expiration_days",
    "noncurrent_expiration_days",
    "abort_incomplete_multipart_days",
    "transitions",
];

/// Storage classes a transition may name.
const STORAGE_CLASSES: &[&str] = &[
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "GLACIER_IR",
    "DEEP_ARCHIVE",
];

/// One lifecycle rule in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    pub id: String,
    pub prefix: String,
    pub enabled: bool,
    pub expiration_days: Option<i64>,
    /// Only ever read from a server (a rule written by another tool).
    pub expiration_date: Option<String>,
    pub noncurrent_expiration_days: Option<i64>,
    pub abort_incomplete_multipart_days: Option<i64>,
    /// Sorted by days.
    pub transitions: Vec<(i64, String)>,
}

impl Rule {
    /// The attribute form: only what is set (`enabled` only when false).
    pub fn to_json(&self) -> Json {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        out.insert("prefix".into(), json!(self.prefix));
        if !self.enabled {
            out.insert("enabled".into(), json!(false));
        }
        let mut days = |name: &str, value: Option<i64>| {
            if let Some(v) = value {
                out.insert(name.into(), json!(v));
            }
        };
        days("expiration_days", self.expiration_days);
        days(
            "noncurrent_expiration_days",
            self.noncurrent_expiration_days,
        );
        days(
            "abort_incomplete_multipart_days",
            self.abort_incomplete_multipart_days,
        );
        if let Some(date) = &self.expiration_date {
            out.insert("expiration_date".into(), json!(date));
        }
        if !self.transitions.is_empty() {
            out.insert(
                "transitions".into(),
                Json::Array(
                    self.transitions
                        .iter()
                        .map(|(d, c)| json!({ "days": d, "storage_class": c }))
                        .collect(),
                ),
            );
        }
        Json::Object(out)
    }

    /// The fields set, by attribute name, for finding what a server dropped.
    fn fields(&self) -> Vec<(&'static str, Json)> {
        let mut out = Vec::new();
        if let Some(v) = self.expiration_days {
            out.push(("expiration_days", json!(v)));
        }
        if let Some(v) = self.noncurrent_expiration_days {
            out.push(("noncurrent_expiration_days", json!(v)));
        }
        if let Some(v) = self.abort_incomplete_multipart_days {
            out.push(("abort_incomplete_multipart_days", json!(v)));
        }
        if !self.transitions.is_empty() {
            out.push(("transitions", json!(self.transitions)));
        }
        out
    }

    fn xml(&self) -> String {
        let mut out = String::from("<Rule>");
        out.push_str(&xml::element("ID", &self.id));
        // An empty filter is the documented way to say "every object"; an empty <Prefix/>
        // is not understood by every server.
        if self.prefix.is_empty() {
            out.push_str("<Filter></Filter>");
        } else {
            out.push_str(&format!(
                "<Filter>{}</Filter>",
                xml::element("Prefix", &self.prefix)
            ));
        }
        out.push_str(&xml::element(
            "Status",
            if self.enabled { "Enabled" } else { "Disabled" },
        ));
        for (days, class) in &self.transitions {
            out.push_str(&format!(
                "<Transition><Days>{days}</Days>{}</Transition>",
                xml::element("StorageClass", class)
            ));
        }
        if let Some(days) = self.expiration_days {
            out.push_str(&format!("<Expiration><Days>{days}</Days></Expiration>"));
        } else if let Some(date) = &self.expiration_date {
            out.push_str(&format!(
                "<Expiration>{}</Expiration>",
                xml::element("Date", date)
            ));
        }
        if let Some(days) = self.noncurrent_expiration_days {
            out.push_str(&format!(
                "<NoncurrentVersionExpiration><NoncurrentDays>{days}</NoncurrentDays></NoncurrentVersionExpiration>"
            ));
        }
        if let Some(days) = self.abort_incomplete_multipart_days {
            out.push_str(&format!(
                "<AbortIncompleteMultipartUpload><DaysAfterInitiation>{days}</DaysAfterInitiation></AbortIncompleteMultipartUpload>"
            ));
        }
        out.push_str("</Rule>");
        out
    }
}

/// Parses `lifecycle_rules` as written; every problem is reported with its path.
pub fn parse_rules(value: &Json) -> (Vec<Rule>, Vec<ProviderError>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    let items = match value {
        Json::Null => return (rules, errors),
        Json::Array(items) => items,
        _ => {
            errors.push(invalid("lifecycle_rules", "must be a list of rules"));
            return (rules, errors);
        }
    };
    if items.len() > 1000 {
        errors.push(invalid(
            "lifecycle_rules",
            format!("at most 1000 rules (found {})", items.len()),
        ));
    }
    let mut ids = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("lifecycle_rules[{i}]");
        let Json::Object(fields) = item else {
            errors.push(invalid(
                &at,
                "a lifecycle rule is a record such as { id = \"expire-tmp\", prefix = \"tmp/\", expiration_days = 7 }",
            ));
            continue;
        };
        let before = errors.len();
        for key in fields.keys() {
            if !RULE_FIELDS.contains(&key.as_str()) {
                errors.push(invalid(
                    &format!("{at}.{key}"),
                    format!(
                        "a lifecycle rule has no field `{key}` (known: {})",
                        RULE_FIELDS.join(", ")
                    ),
                ));
            }
        }
        let field = |name: &str| fields.get(name).filter(|v| !v.is_null());
        let id = match field("id") {
            Some(Json::String(id)) if !id.is_empty() && id.chars().count() <= 255 => id.clone(),
            Some(_) => {
                errors.push(invalid(
                    &format!("{at}.id"),
                    "must be a string of 1 to 255 characters",
                ));
                String::new()
            }
            None => {
                errors.push(invalid(
                    &at,
                    "a lifecycle rule needs an `id` (a name that stays the same, such as \"expire-tmp\")",
                ));
                String::new()
            }
        };
        if !id.is_empty() {
            if let Some(first) = ids.insert(id.clone(), i) {
                errors.push(invalid(
                    &format!("{at}.id"),
                    format!("`{id}` is already the id of lifecycle_rules[{first}]"),
                ));
            }
        }
        let prefix = match field("prefix") {
            None => String::new(),
            Some(Json::String(p)) if p.len() <= 1024 => p.clone(),
            Some(_) => {
                errors.push(invalid(
                    &format!("{at}.prefix"),
                    "must be a string of at most 1024 bytes",
                ));
                String::new()
            }
        };
        let enabled = match field("enabled") {
            None => true,
            Some(Json::Bool(b)) => *b,
            Some(_) => {
                errors.push(invalid(&format!("{at}.enabled"), "must be true or false"));
                true
            }
        };
        let mut days = |name: &str, min: i64| -> Option<i64> {
            let value = field(name)?;
            match value.as_i64() {
                Some(d) if d >= min => Some(d),
                _ => {
                    errors.push(invalid(
                        &format!("{at}.{name}"),
                        format!("must be a whole number of days, at least {min}"),
                    ));
                    None
                }
            }
        };
        let expiration_days = days("expiration_days", 1);
        let noncurrent_expiration_days = days("noncurrent_expiration_days", 1);
        let abort_incomplete_multipart_days = days("abort_incomplete_multipart_days", 1);
        let mut transitions = Vec::new();
        match field("transitions") {
            None => {}
            Some(Json::Array(list)) => {
                for (j, t) in list.iter().enumerate() {
                    let tat = format!("{at}.transitions[{j}]");
                    let Json::Object(t) = t else {
                        errors.push(invalid(
                            &tat,
                            "a transition is a record such as { days = 30, storage_class = \"GLACIER\" }",
                        ));
                        continue;
                    };
                    if let Some(key) = t
                        .keys()
                        .find(|k| !["days", "storage_class"].contains(&k.as_str()))
                    {
                        errors.push(invalid(
                            &format!("{tat}.{key}"),
                            format!(
                                "a transition has no field `{key}` (known: days, storage_class)"
                            ),
                        ));
                    }
                    let days = t.get("days").and_then(Json::as_i64).filter(|d| *d >= 0);
                    if days.is_none() {
                        errors.push(invalid(
                            &format!("{tat}.days"),
                            "a transition needs `days`, a whole number of at least 0",
                        ));
                    }
                    let class = t.get("storage_class").and_then(Json::as_str);
                    if !class.is_some_and(|c| STORAGE_CLASSES.contains(&c)) {
                        errors.push(invalid(
                            &format!("{tat}.storage_class"),
                            format!(
                                "a transition needs `storage_class`, one of {}",
                                STORAGE_CLASSES.join(", ")
                            ),
                        ));
                    }
                    if let (Some(d), Some(c)) = (days, class) {
                        transitions.push((d, c.to_owned()));
                    }
                }
            }
            Some(_) => errors.push(invalid(
                &format!("{at}.transitions"),
                "must be a list of { days, storage_class } records",
            )),
        }
        transitions.sort();
        if errors.len() == before
            && expiration_days.is_none()
            && noncurrent_expiration_days.is_none()
            && abort_incomplete_multipart_days.is_none()
            && transitions.is_empty()
        {
            errors.push(invalid(
                &at,
                "a lifecycle rule does nothing without one of expiration_days, noncurrent_expiration_days, abort_incomplete_multipart_days or transitions",
            ));
        }
        rules.push(Rule {
            id,
            prefix,
            enabled,
            expiration_days,
            expiration_date: None,
            noncurrent_expiration_days,
            abort_incomplete_multipart_days,
            transitions,
        });
    }
    (rules, errors)
}

/// Rules sorted by id, for comparisons.
fn canonical(mut rules: Vec<Rule>) -> Vec<Rule> {
    rules.sort();
    rules
}

/// Rules as written, in canonical form (`None` when they do not parse).
fn written_rules(value: Option<&Json>) -> Option<Vec<Rule>> {
    let (rules, errors) = parse_rules(value.unwrap_or(&Json::Null));
    errors.is_empty().then(|| canonical(rules))
}

pub fn lifecycle_document(rules: &[Rule]) -> String {
    let mut out = format!("<LifecycleConfiguration xmlns=\"{}\">", xml::NS);
    for rule in rules {
        out.push_str(&rule.xml());
    }
    out.push_str("</LifecycleConfiguration>");
    out
}

/// Reads a `<LifecycleConfiguration>` answer.
pub fn parse_lifecycle(body: &str) -> Result<Vec<Rule>, String> {
    let document = xml::parse(body, "lifecycle configuration")?;
    let mut rules = Vec::new();
    for rule in xml::children(document.root_element(), "Rule") {
        let days = |parent: &str, name: &str| {
            xml::child(rule, parent)
                .and_then(|p| xml::text(p, name))
                .and_then(|t| t.trim().parse::<i64>().ok())
        };
        let filter = xml::child(rule, "Filter");
        let prefix = filter
            .and_then(|f| {
                xml::text(f, "Prefix")
                    .or_else(|| xml::child(f, "And").and_then(|a| xml::text(a, "Prefix")))
            })
            .or_else(|| xml::text(rule, "Prefix"))
            .unwrap_or_default();
        let mut transitions: Vec<(i64, String)> = xml::children(rule, "Transition")
            .into_iter()
            .filter_map(|t| {
                let days = xml::text(t, "Days")?.trim().parse().ok()?;
                Some((days, xml::text(t, "StorageClass").unwrap_or_default()))
            })
            .collect();
        transitions.sort();
        rules.push(Rule {
            id: xml::text(rule, "ID").unwrap_or_default(),
            prefix,
            enabled: xml::text(rule, "Status").as_deref() != Some("Disabled"),
            expiration_days: days("Expiration", "Days"),
            expiration_date: xml::child(rule, "Expiration").and_then(|e| xml::text(e, "Date")),
            noncurrent_expiration_days: days("NoncurrentVersionExpiration", "NoncurrentDays"),
            abort_incomplete_multipart_days: days(
                "AbortIncompleteMultipartUpload",
                "DaysAfterInitiation",
            ),
            transitions,
        });
    }
    Ok(canonical(rules))
}

/// Checks `tags` as written.
pub fn check_tags(value: &Json) -> Vec<ProviderError> {
    let mut errors = Vec::new();
    let Json::Object(tags) = value else {
        return errors;
    };
    if tags.len() > 50 {
        errors.push(invalid(
            "tags",
            format!("at most 50 tags (found {})", tags.len()),
        ));
    }
    let allowed = |c: char| c.is_alphanumeric() || " +-=._:/@".contains(c);
    for (key, value) in tags {
        let at = format!("tags[{}]", serde_json::to_string(key).unwrap_or_default());
        if key.is_empty() || key.chars().count() > 128 || !key.chars().all(allowed) {
            errors.push(invalid(
                &at,
                format!(
                    "`{}` is not a valid tag key: 1 to 128 letters, digits, spaces or + - = . _ : / @",
                    key.escape_default()
                ),
            ));
        } else if key.starts_with("aws:") {
            errors.push(invalid(&at, "tag keys starting with `aws:` are reserved"));
        }
        match value {
            Json::String(v) if v.chars().count() <= 256 && v.chars().all(allowed) => {}
            Json::String(_) => errors.push(invalid(
                &at,
                "a tag value is at most 256 letters, digits, spaces or + - = . _ : / @",
            )),
            _ if obp_engine::resolve::is_unknown(value) => {}
            _ if obp_engine::resolve::contains_secret(value) => errors.push(invalid(
                &at,
                "tags are readable by anyone who can list the bucket: never put secrets in them",
            )),
            _ => errors.push(invalid(&at, "a tag value must be a string")),
        }
    }
    errors
}

fn written_tags(value: Option<&Json>) -> BTreeMap<String, String> {
    value
        .and_then(Json::as_object)
        .map(|tags| {
            tags.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

pub fn tagging_document(tags: &BTreeMap<String, String>) -> String {
    let mut out = format!("<Tagging xmlns=\"{}\"><TagSet>", xml::NS);
    for (key, value) in tags {
        out.push_str(&format!(
            "<Tag>{}{}</Tag>",
            xml::element("Key", key),
            xml::element("Value", value)
        ));
    }
    out.push_str("</TagSet></Tagging>");
    out
}

pub fn parse_tags(body: &str) -> Result<BTreeMap<String, String>, String> {
    let document = xml::parse(body, "tag set")?;
    let mut tags = BTreeMap::new();
    if let Some(set) = xml::child(document.root_element(), "TagSet") {
        for tag in xml::children(set, "Tag") {
            tags.insert(
                xml::text(tag, "Key").unwrap_or_default(),
                xml::text(tag, "Value").unwrap_or_default(),
            );
        }
    }
    Ok(tags)
}

pub fn versioning_document(enabled: bool) -> String {
    format!(
        "<VersioningConfiguration xmlns=\"{}\">{}</VersioningConfiguration>",
        xml::NS,
        xml::element("Status", if enabled { "Enabled" } else { "Suspended" })
    )
}

/// Whether versioning is on (`Suspended` and never-enabled are both off).
pub fn parse_versioning(body: &str) -> Result<bool, String> {
    let document = xml::parse(body, "versioning configuration")?;
    Ok(xml::text(document.root_element(), "Status").as_deref() == Some("Enabled"))
}

/// Checks a bucket's attributes as written (values known only at apply are skipped).
pub fn validate(inputs: &BTreeMap<String, Json>) -> Vec<ProviderError> {
    let mut errors = Vec::new();
    let known = |name: &str| {
        inputs
            .get(name)
            .filter(|v| !obp_engine::resolve::is_unknown(v))
    };
    if let Some(Json::String(name)) = known("name") {
        if let Some(problem) = names::bucket_name_problem(name) {
            errors.push(invalid("name", problem));
        }
    }
    if let Some(rules) = known("lifecycle_rules") {
        errors.extend(parse_rules(rules).1);
    }
    if let Some(tags) = known("tags") {
        errors.extend(check_tags(tags));
    }
    errors
}

/// The bucket's name from its inputs.
pub fn name_of(inputs: &BTreeMap<String, Json>) -> Result<&str, ProviderError> {
    let name = inputs
        .get("name")
        .and_then(Json::as_str)
        .ok_or_else(|| invalid("name", "an `s3.bucket` needs a `name`"))?;
    match names::bucket_name_problem(name) {
        Some(problem) => Err(invalid("name", problem)),
        None => Ok(name),
    }
}

/// Whether the bucket exists and is reachable with these credentials.
async fn exists(client: &Client, name: &str) -> Result<bool, ProviderError> {
    match client.send(Method::Head, Request::bucket(name)).await {
        Ok(_) => Ok(true),
        Err(failure) if failure.not_found() => Ok(false),
        Err(failure) if failure.status() == Some(403) => Err(ProviderError::Remote(format!(
            "bucket `{name}` exists but these credentials may not use it (bucket names are shared by everyone on the server; pick another name or grant the key access)"
        ))),
        Err(failure) => Err(failure.into_error("name", &format!("checking bucket `{name}`"))),
    }
}

async fn get_versioning(client: &Client, name: &str) -> Result<Option<bool>, ProviderError> {
    match client
        .send(Method::Get, Request::sub(name, "versioning"))
        .await
    {
        Ok(response) => parse_versioning(&response.text())
            .map(Some)
            .map_err(ProviderError::Remote),
        Err(failure) if failure.not_implemented() => Ok(None),
        Err(failure) => Err(failure.into_error(
            "versioning",
            &format!("reading the versioning of bucket `{name}`"),
        )),
    }
}

async fn put_versioning(client: &Client, name: &str, enabled: bool) -> Result<(), ProviderError> {
    let body = versioning_document(enabled).into_bytes();
    client
        .send(
            Method::Put,
            Request::sub(name, "versioning").body("application/xml", body),
        )
        .await
        .map(drop)
        .map_err(|f| {
            f.into_error(
                "versioning",
                &format!(
                    "{} versioning on bucket `{name}`",
                    if enabled { "enabling" } else { "suspending" }
                ),
            )
        })
}

/// The live rules; `None` when the server does not implement lifecycle configuration.
async fn get_lifecycle(client: &Client, name: &str) -> Result<Option<Vec<Rule>>, ProviderError> {
    match client
        .send(Method::Get, Request::sub(name, "lifecycle"))
        .await
    {
        Ok(response) => parse_lifecycle(&response.text())
            .map(Some)
            .map_err(ProviderError::Remote),
        Err(failure) if failure.not_implemented() => Ok(None),
        Err(failure) if failure.code() == Some("NoSuchLifecycleConfiguration") => {
            Ok(Some(Vec::new()))
        }
        Err(failure) => Err(failure.into_error(
            "lifecycle_rules",
            &format!("reading the lifecycle rules of bucket `{name}`"),
        )),
    }
}

/// Writes `rules` (none: removes the configuration) and reads them back: a server that
/// accepted a rule but dropped part of it does not implement that part.
async fn put_lifecycle(client: &Client, name: &str, rules: &[Rule]) -> Result<(), ProviderError> {
    let doing = format!("setting the lifecycle rules of bucket `{name}`");
    if rules.is_empty() {
        return match client
            .send(Method::Delete, Request::sub(name, "lifecycle"))
            .await
        {
            Ok(_) => Ok(()),
            Err(failure) if failure.not_found() => Ok(()),
            Err(failure) => Err(failure.into_error("lifecycle_rules", &doing)),
        };
    }
    let body = lifecycle_document(rules).into_bytes();
    client
        .send(
            Method::Put,
            Request::sub(name, "lifecycle").body("application/xml", body),
        )
        .await
        .map_err(|f| f.into_error("lifecycle_rules", &doing))?;
    // Servers may take a moment to show what was written; only a rule that is there with a
    // field missing counts as dropped.
    let wanted = canonical(rules.to_vec());
    let mut dropped = None;
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let Some(live) = get_lifecycle(client, name).await? else {
            return Ok(());
        };
        if live == wanted {
            return Ok(());
        }
        dropped = first_dropped(rules, &live);
    }
    match dropped {
        Some((index, field)) => Err(ProviderError::NotSupported {
            attribute: format!("lifecycle_rules[{index}].{field}"),
            message: format!(
                "bucket `{name}` accepted the lifecycle rule but the server dropped `{field}`, so it does not implement it (Garage, for one, keeps only expiration_days and abort_incomplete_multipart_days); remove it from the rule"
            ),
        }),
        None => Ok(()),
    }
}

/// The first field of a written rule missing from the live rule of the same id.
fn first_dropped(written: &[Rule], live: &[Rule]) -> Option<(usize, &'static str)> {
    for (index, rule) in written.iter().enumerate() {
        let Some(found) = live.iter().find(|r| r.id == rule.id) else {
            continue;
        };
        let present = found.fields();
        for (field, _) in rule.fields() {
            if !present.iter().any(|(f, _)| *f == field) {
                return Some((index, field));
            }
        }
    }
    None
}

/// The live tags; `None` when the server does not implement bucket tagging.
async fn get_tags(
    client: &Client,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, ProviderError> {
    match client
        .send(Method::Get, Request::sub(name, "tagging"))
        .await
    {
        Ok(response) => parse_tags(&response.text())
            .map(Some)
            .map_err(ProviderError::Remote),
        Err(failure) if failure.not_implemented() => Ok(None),
        Err(failure) if failure.code() == Some("NoSuchTagSet") => Ok(Some(BTreeMap::new())),
        Err(failure) => {
            Err(failure.into_error("tags", &format!("reading the tags of bucket `{name}`")))
        }
    }
}

async fn put_tags(
    client: &Client,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let doing = format!("setting the tags of bucket `{name}`");
    if tags.is_empty() {
        return match client
            .send(Method::Delete, Request::sub(name, "tagging"))
            .await
        {
            Ok(_) => Ok(()),
            Err(failure) if failure.not_found() => Ok(()),
            Err(failure) => Err(failure.into_error("tags", &doing)),
        };
    }
    let body = tagging_document(tags).into_bytes();
    client
        .send(
            Method::Put,
            Request::sub(name, "tagging").body("application/xml", body),
        )
        .await
        .map(drop)
        .map_err(|f| f.into_error("tags", &doing))
}

/// Brings the settings from `prior` (none for a new bucket) to `inputs`. A setting the
/// blueprint stops writing is left as it is, except lifecycle rules and tags, which obp wrote
/// and so removes.
async fn configure(
    client: &Client,
    name: &str,
    prior: Option<&BTreeMap<String, Json>>,
    inputs: &BTreeMap<String, Json>,
) -> Result<(), ProviderError> {
    let before = |attr: &str| prior.and_then(|p| p.get(attr)).filter(|v| !v.is_null());
    let after = |attr: &str| inputs.get(attr).filter(|v| !v.is_null());

    if let Some(wanted) = after("versioning").and_then(Json::as_bool) {
        if before("versioning").and_then(Json::as_bool) != Some(wanted) {
            if wanted {
                put_versioning(client, name, true).await?;
            } else if prior.is_some() && get_versioning(client, name).await? == Some(true) {
                // Turning it off only matters where it is on: a new bucket, or a server
                // without versioning, is already off.
                put_versioning(client, name, false).await?;
            }
        }
    }

    let rules_before = before("lifecycle_rules").and_then(|v| written_rules(Some(v)));
    match after("lifecycle_rules") {
        Some(value) => {
            let (rules, errors) = parse_rules(value);
            if let Some(error) = errors.into_iter().next() {
                return Err(error);
            }
            let changed = rules_before.as_ref() != Some(&canonical(rules.clone()));
            if changed && !(prior.is_none() && rules.is_empty()) {
                put_lifecycle(client, name, &rules).await?;
            }
        }
        None if rules_before.as_ref().is_some_and(|r| !r.is_empty()) => {
            put_lifecycle(client, name, &[]).await?;
        }
        None => {}
    }

    let tags_before = before("tags").map(|v| written_tags(Some(v)));
    match after("tags") {
        Some(value) => {
            if let Some(error) = check_tags(value).into_iter().next() {
                return Err(error);
            }
            let tags = written_tags(Some(value));
            if tags_before.as_ref() != Some(&tags) && !(prior.is_none() && tags.is_empty()) {
                put_tags(client, name, &tags).await?;
            }
        }
        None if tags_before.as_ref().is_some_and(|t| !t.is_empty()) => {
            put_tags(client, name, &BTreeMap::new()).await?;
        }
        None => {}
    }
    Ok(())
}

pub async fn create(
    client: &Client,
    inputs: &BTreeMap<String, Json>,
) -> Result<Recorded, ProviderError> {
    let name = name_of(inputs)?;
    if exists(client, name).await? {
        return Err(ProviderError::AlreadyExists {
            message: format!("bucket `{name}` already exists"),
            id: name.to_owned(),
        });
    }
    let body = if client.region() == "us-east-1" {
        None
    } else {
        Some(
            format!(
                "<CreateBucketConfiguration xmlns=\"{}\">{}</CreateBucketConfiguration>",
                xml::NS,
                xml::element("LocationConstraint", client.region())
            )
            .into_bytes(),
        )
    };
    let mut request = Request::bucket(name);
    if let Some(body) = body {
        request = request.body("application/xml", body);
    }
    client
        .send(Method::Put, request)
        .await
        .map_err(|failure| match failure.code() {
            Some("BucketAlreadyExists") => ProviderError::Remote(format!(
                "bucket `{name}` is taken by someone else (bucket names are shared by everyone on the server); choose another name"
            )),
            Some("BucketAlreadyOwnedByYou") => ProviderError::AlreadyExists {
                message: format!("bucket `{name}` already exists"),
                id: name.to_owned(),
            },
            _ => failure.into_error("name", &format!("creating bucket `{name}`")),
        })?;
    // A bucket that cannot be configured as asked is removed again (it is new and empty),
    // so fixing the blueprint and applying again starts clean.
    if let Err(error) = configure(client, name, None, inputs).await {
        let _ = client.send(Method::Delete, Request::bucket(name)).await;
        return Err(error);
    }
    Ok(Recorded {
        inputs: inputs.clone(),
        outputs: BTreeMap::new(),
    })
}

pub async fn update(
    client: &Client,
    prior: &Recorded,
    inputs: &BTreeMap<String, Json>,
) -> Result<Recorded, ProviderError> {
    let name = name_of(inputs)?;
    configure(client, name, Some(&prior.inputs), inputs).await?;
    Ok(Recorded {
        inputs: inputs.clone(),
        outputs: prior.outputs.clone(),
    })
}

pub async fn delete(
    client: &Client,
    resource: &ResourceRef<'_>,
    prior: &Recorded,
) -> Result<(), ProviderError> {
    let name = name_of(&prior.inputs)?;
    match client.send(Method::Delete, Request::bucket(name)).await {
        Ok(_) => Ok(()),
        Err(failure) if failure.not_found() => Ok(()),
        Err(failure) if failure.code() == Some("BucketNotEmpty") || failure.status() == Some(409) => {
            Err(ProviderError::Remote(format!(
                "bucket `{name}` is not empty, and obp never deletes objects it does not manage. Empty it first (for example `aws s3 rm s3://{name} --recursive`, plus old versions and delete markers when versioning was on) and run the destroy again, or keep the bucket and its data and stop managing it with `obp state rm {}`",
                resource.address
            )))
        }
        Err(failure) => Err(failure.into_error("name", &format!("deleting bucket `{name}`"))),
    }
}

/// The live settings obp manages on this bucket; `None` when the bucket is gone.
pub async fn read(client: &Client, prior: &Recorded) -> Result<Option<Recorded>, ProviderError> {
    let name = name_of(&prior.inputs)?;
    if !exists(client, name).await? {
        return Ok(None);
    }
    let mut inputs = prior.inputs.clone();
    if let Some(recorded) = prior.inputs.get("versioning").and_then(Json::as_bool) {
        if let Some(live) = get_versioning(client, name).await? {
            if live != recorded {
                inputs.insert("versioning".into(), json!(live));
            }
        }
    }
    if let Some(recorded) = prior.inputs.get("lifecycle_rules").filter(|v| !v.is_null()) {
        if let Some(live) = get_lifecycle(client, name).await? {
            if written_rules(Some(recorded)).as_ref() != Some(&live) {
                inputs.insert(
                    "lifecycle_rules".into(),
                    Json::Array(live.iter().map(Rule::to_json).collect()),
                );
            }
        }
    }
    if let Some(recorded) = prior.inputs.get("tags").filter(|v| !v.is_null()) {
        if let Some(live) = get_tags(client, name).await? {
            if written_tags(Some(recorded)) != live {
                inputs.insert("tags".into(), json!(live));
            }
        }
    }
    Ok(Some(Recorded {
        inputs,
        outputs: prior.outputs.clone(),
    }))
}

/// Adopts an existing bucket with the settings the server reports.
pub async fn import(client: &Client, id: &str) -> Result<Recorded, ProviderError> {
    if let Some(problem) = names::bucket_name_problem(id) {
        return Err(invalid("name", problem));
    }
    if !exists(client, id).await? {
        return Err(ProviderError::Remote(format!(
            "there is no bucket `{id}` on {}",
            client.endpoint()
        )));
    }
    let mut inputs = BTreeMap::from([("name".to_owned(), json!(id))]);
    if let Some(versioning) = get_versioning(client, id).await? {
        inputs.insert("versioning".into(), json!(versioning));
    }
    if let Some(rules) = get_lifecycle(client, id).await? {
        inputs.insert(
            "lifecycle_rules".into(),
            Json::Array(rules.iter().map(Rule::to_json).collect()),
        );
    }
    if let Some(tags) = get_tags(client, id).await? {
        inputs.insert("tags".into(), json!(tags));
    }
    Ok(Recorded {
        inputs,
        outputs: BTreeMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_render_and_read_back_alike() {
        let written = json!([
            { "id": "expire-tmp", "prefix": "tmp/", "expiration_days": 7 },
            {
                "id": "archive",
                "noncurrent_expiration_days": 30,
                "abort_incomplete_multipart_days": 2,
                "transitions": [{ "days": 90, "storage_class": "GLACIER" }],
            },
        ]);
        let (rules, errors) = parse_rules(&written);
        assert!(errors.is_empty(), "{errors:?}");
        let document = lifecycle_document(&rules);
        assert!(document.contains("<Prefix>tmp/</Prefix>"), "{document}");
        assert_eq!(
            parse_lifecycle(&document).unwrap(),
            canonical(rules.clone())
        );
        assert_eq!(
            rules[0].to_json(),
            json!({ "id": "expire-tmp", "prefix": "tmp/", "expiration_days": 7 })
        );
    }

    #[test]
    fn rule_problems_name_the_field() {
        let (_, errors) = parse_rules(&json!([
            { "id": "a", "expiration_days": 0 },
            { "prefix": "x/", "expiration_days": 1 },
            { "id": "a", "expiry": 3, "expiration_days": 1 },
            { "id": "b" },
            { "id": "c", "transitions": [{ "days": 1, "storage_class": "COLD" }] },
        ]));
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let expected = [
            "`lifecycle_rules[0].expiration_days`: must be a whole number of days, at least 1",
            "`lifecycle_rules[1]`: a lifecycle rule needs an `id`",
            "`lifecycle_rules[2].expiry`: a lifecycle rule has no field `expiry`",
            "`lifecycle_rules[2].id`: `a` is already the id of lifecycle_rules[0]",
            "`lifecycle_rules[3]`: a lifecycle rule does nothing",
            "`lifecycle_rules[4].transitions[0].storage_class`",
        ];
        for e in expected {
            assert!(
                text.iter().any(|t| t.starts_with(e)),
                "{e} not in {text:#?}"
            );
        }
    }

    #[test]
    fn a_dropped_field_is_found() {
        let (rules, _) = parse_rules(&json!([
            { "id": "keep", "expiration_days": 7 },
            { "id": "old", "prefix": "", "noncurrent_expiration_days": 30, "expiration_days": 9 },
        ]));
        let mut live = rules.clone();
        live[1].noncurrent_expiration_days = None;
        assert_eq!(
            first_dropped(&rules, &live),
            Some((1, "noncurrent_expiration_days"))
        );
        assert_eq!(first_dropped(&rules, &rules), None);
    }

    #[test]
    fn tags_and_versioning_documents() {
        let tags = BTreeMap::from([("obp.dev/purpose".to_owned(), "a&b".to_owned())]);
        assert_eq!(parse_tags(&tagging_document(&tags)).unwrap(), tags);
        assert!(parse_versioning(&versioning_document(true)).unwrap());
        assert!(!parse_versioning(&versioning_document(false)).unwrap());
        assert!(!parse_versioning("<VersioningConfiguration/>").unwrap());
        let errors = check_tags(&json!({ "aws:x": "1", "ok": 2, "": "" }));
        assert_eq!(errors.len(), 3, "{errors:?}");
    }
}
