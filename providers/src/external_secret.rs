//! `k8s.external_secret` ⇄ an external-secrets.io ExternalSecret, the one place a blueprint's
//! `secret("path")` references become Kubernetes objects: the operator reads the values from
//! the secret store and writes the Secret, so no value ever passes through obp.
//!
//! Rendered as `external-secrets.io/v1`: the External Secrets Operator serves only v1 since
//! 0.17 (v1beta1 was deprecated in 0.16 and removed after), and every release since 0.16
//! serves v1, so v1 is what a current cluster accepts.
//!
//! Attributes (every field checked here, with the attribute path in the error):
//! - `data`: `{ KEY = secret("path") }`, or `{ KEY = { secret = secret("path"), property =
//!   "user", version = "3", decoding = "Base64" } }` for one key of a JSON secret;
//! - `data_from`: `[{ extract = secret("path") }]` (every key of a JSON secret, with the same
//!   `property`/`version`/`decoding`) or `[{ find = { path = "apps/acme", name = "^db-", tags
//!   = { team = "erp" } } }]`, each with an optional `rewrite` list passed through;
//! - `template`: the Secret the operator writes (`target.template`, engine v2): `type`,
//!   `metadata = { labels, annotations }`, `data = { KEY = "{{ .user }}:{{ .password }}" }`,
//!   `merge_policy` (`Replace` or `Merge`);
//! - `creation_policy` (`Owner`, `Orphan`, `Merge`, `None`), `deletion_policy` (`Delete`,
//!   `Merge`, `Retain`), and `store`, `store_kind`, `refresh_interval` over the provider's
//!   defaults.

use std::collections::BTreeMap;

use obp_engine::provider::ProviderError;
use serde_json::{json, Map, Value as Json};

use crate::attrs::invalid;
use crate::manifest::SecretStore;

pub const API_VERSION: &str = "external-secrets.io/v1";

const ATTRIBUTES: &[&str] = &[
    "metadata",
    "data",
    "data_from",
    "template",
    "creation_policy",
    "deletion_policy",
    "store",
    "store_kind",
    "refresh_interval",
];
const DECODINGS: &[&str] = &["Auto", "Base64", "Base64URL", "None"];
const CREATION_POLICIES: &[&str] = &["Owner", "Orphan", "Merge", "None"];
const DELETION_POLICIES: &[&str] = &["Delete", "Merge", "Retain"];
const MERGE_POLICIES: &[&str] = &["Replace", "Merge"];
/// The template engine obp writes; `{{ .key }}` in template data.
const ENGINE_VERSION: &str = "v2";

/// The ExternalSecret for these attributes.
pub fn manifest(
    inputs: &BTreeMap<String, Json>,
    store: &SecretStore,
) -> Result<Json, ProviderError> {
    if let Some(key) = inputs.keys().find(|k| !ATTRIBUTES.contains(&k.as_str())) {
        return Err(invalid(
            key,
            format!(
                "`k8s.external_secret` has no attribute `{key}` (it has {})",
                ATTRIBUTES.join(", ")
            ),
        ));
    }
    let metadata = inputs
        .get("metadata")
        .cloned()
        .ok_or_else(|| invalid("metadata", "missing `metadata`"))?;
    let mut spec = Map::new();
    spec.insert(
        "refreshInterval".into(),
        json!(text(inputs, "refresh_interval")?.unwrap_or(&store.refresh_interval)),
    );
    spec.insert(
        "secretStoreRef".into(),
        json!({
            "name": text(inputs, "store")?.unwrap_or(&store.name),
            "kind": text(inputs, "store_kind")?.unwrap_or(&store.kind),
        }),
    );
    let mut target = Map::new();
    target.insert(
        "name".into(),
        metadata.get("name").cloned().unwrap_or(Json::Null),
    );
    target.insert(
        "creationPolicy".into(),
        json!(one_of(inputs, "creation_policy", CREATION_POLICIES)?.unwrap_or("Owner")),
    );
    if let Some(policy) = one_of(inputs, "deletion_policy", DELETION_POLICIES)? {
        target.insert("deletionPolicy".into(), json!(policy));
    }
    if let Some(template) = inputs.get("template") {
        target.insert("template".into(), secret_template(template)?);
    }
    spec.insert("target".into(), Json::Object(target));
    match (inputs.get("data"), inputs.get("data_from")) {
        (None, None) => {
            return Err(invalid(
                "data",
                "an ExternalSecret needs `data` (keys read one by one) or `data_from` (every key of a secret, or the secrets a search finds)",
            ))
        }
        (data, data_from) => {
            if let Some(data) = data {
                spec.insert("data".into(), data_entries(data)?);
            }
            if let Some(data_from) = data_from {
                spec.insert("dataFrom".into(), data_from_entries(data_from)?);
            }
        }
    }
    Ok(json!({
        "apiVersion": API_VERSION,
        "kind": "ExternalSecret",
        "metadata": metadata,
        "spec": spec,
    }))
}

/// A string attribute, if set.
fn text<'a>(
    inputs: &'a BTreeMap<String, Json>,
    name: &str,
) -> Result<Option<&'a str>, ProviderError> {
    match inputs.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(invalid(name, "must be a non-empty string")),
    }
}

/// A string attribute that must be one of `allowed`, if set.
fn one_of<'a>(
    inputs: &'a BTreeMap<String, Json>,
    name: &str,
    allowed: &[&str],
) -> Result<Option<&'a str>, ProviderError> {
    let value = text(inputs, name)?;
    check_one_of(name, value, allowed)?;
    Ok(value)
}

fn check_one_of(path: &str, value: Option<&str>, allowed: &[&str]) -> Result<(), ProviderError> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(invalid(
            path,
            format!("`{v}` is not one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

/// The path of a `secret("path")` reference, or `None` if `value` is not one.
fn secret_path(value: &Json) -> Option<&str> {
    let map = value.as_object().filter(|m| m.len() == 1)?;
    map.get("$secret")?.as_str()
}

/// A record's fields, refusing any not in `known`.
fn record<'a>(
    value: &'a Json,
    path: &str,
    known: &[&str],
    what: &str,
) -> Result<&'a Map<String, Json>, ProviderError> {
    let map = value
        .as_object()
        .ok_or_else(|| invalid(path, format!("must be {what}")))?;
    if let Some(key) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(
            &format!("{path}.{key}"),
            format!("unknown field `{key}` (known: {})", known.join(", ")),
        ));
    }
    Ok(map)
}

/// An optional string field of a record.
fn field<'a>(
    map: &'a Map<String, Json>,
    path: &str,
    name: &str,
) -> Result<Option<&'a str>, ProviderError> {
    match map.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(invalid(
            &format!("{path}.{name}"),
            "must be a non-empty string",
        )),
    }
}

/// `remoteRef` (and `extract`): the secret's path, and which property, version and decoding.
fn remote_ref(map: &Map<String, Json>, path: &str, reference: &str) -> Result<Json, ProviderError> {
    let key = map.get(reference).and_then(secret_path).ok_or_else(|| {
        invalid(
            &format!("{path}.{reference}"),
            "must be a secret(\"path\") reference",
        )
    })?;
    let mut out = Map::new();
    out.insert("key".into(), json!(key));
    if let Some(property) = field(map, path, "property")? {
        out.insert("property".into(), json!(property));
    }
    if let Some(version) = field(map, path, "version")? {
        out.insert("version".into(), json!(version));
    }
    let decoding = field(map, path, "decoding")?;
    check_one_of(&format!("{path}.decoding"), decoding, DECODINGS)?;
    if let Some(decoding) = decoding {
        out.insert("decodingStrategy".into(), json!(decoding));
    }
    Ok(Json::Object(out))
}

fn data_entries(data: &Json) -> Result<Json, ProviderError> {
    let Json::Object(data) = data else {
        return Err(invalid(
            "data",
            "`data` must map secret keys to secret(\"path\") references",
        ));
    };
    let mut entries = Vec::new();
    for (key, value) in data {
        let path = format!("data.{key}");
        let remote = match secret_path(value) {
            Some(secret) => json!({ "key": secret }),
            None if value.is_object() => remote_ref(
                record(value, &path, &["secret", "property", "version", "decoding"], "a secret(\"path\") reference or `{ secret = secret(\"path\"), property = \"…\" }`")?,
                &path,
                "secret",
            )?,
            None => {
                return Err(invalid(
                    &path,
                    "must be a secret(\"path\") reference, or `{ secret = secret(\"path\"), property = \"key\" }` for one key of a JSON secret",
                ))
            }
        };
        entries.push(json!({ "secretKey": key, "remoteRef": remote }));
    }
    Ok(Json::Array(entries))
}

fn data_from_entries(data_from: &Json) -> Result<Json, ProviderError> {
    let Json::Array(items) = data_from else {
        return Err(invalid(
            "data_from",
            "`data_from` must be a list of `{ extract = secret(\"path\") }` or `{ find = { … } }`",
        ));
    };
    let mut entries = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("data_from[{i}]");
        let map = record(
            item,
            &path,
            &[
                "extract", "find", "property", "version", "decoding", "rewrite",
            ],
            "`{ extract = secret(\"path\") }` or `{ find = { path, name, tags } }`",
        )?;
        let mut entry = Map::new();
        match (map.get("extract"), map.get("find")) {
            (Some(_), None) => {
                entry.insert("extract".into(), remote_ref(map, &path, "extract")?);
            }
            (None, Some(find)) => {
                for only_extract in ["property", "version"] {
                    if map.contains_key(only_extract) {
                        return Err(invalid(
                            &format!("{path}.{only_extract}"),
                            "only an `extract` entry reads one property or version",
                        ));
                    }
                }
                let mut out = search(find, &format!("{path}.find"))?;
                let decoding = field(map, &path, "decoding")?;
                check_one_of(&format!("{path}.decoding"), decoding, DECODINGS)?;
                if let Some(decoding) = decoding {
                    out.insert("decodingStrategy".into(), json!(decoding));
                }
                entry.insert("find".into(), Json::Object(out));
            }
            _ => {
                return Err(invalid(
                    &path,
                    "each entry has exactly one of `extract` (a secret(\"path\")) and `find` (a search)",
                ))
            }
        }
        match map.get("rewrite") {
            None => {}
            Some(rewrite @ Json::Array(_)) => {
                no_references(rewrite, &format!("{path}.rewrite"))?;
                entry.insert("rewrite".into(), rewrite.clone());
            }
            Some(_) => {
                return Err(invalid(
                    &format!("{path}.rewrite"),
                    "must be a list of rewrites such as `{ regexp = { source = \"…\", target = \"…\" } }`",
                ))
            }
        }
        entries.push(Json::Object(entry));
    }
    Ok(Json::Array(entries))
}

/// `find`: the secrets of the store that match a path prefix, a name pattern and tags.
fn search(find: &Json, path: &str) -> Result<Map<String, Json>, ProviderError> {
    let map = record(
        find,
        path,
        &["path", "name", "tags"],
        "a search: `{ path, name, tags }`",
    )?;
    let mut out = Map::new();
    if let Some(prefix) = field(map, path, "path")? {
        out.insert("path".into(), json!(prefix));
    }
    if let Some(name) = field(map, path, "name")? {
        out.insert("name".into(), json!({ "regexp": name }));
    }
    match map.get("tags") {
        None => {}
        Some(Json::Object(tags)) if tags.values().all(Json::is_string) => {
            out.insert("tags".into(), Json::Object(tags.clone()));
        }
        Some(_) => {
            return Err(invalid(
                &format!("{path}.tags"),
                "must map tag names to strings",
            ))
        }
    }
    if out.is_empty() {
        return Err(invalid(path, "a search needs `path`, `name` or `tags`"));
    }
    Ok(out)
}

/// `target.template`: the Secret the operator writes from the values it read.
fn secret_template(template: &Json) -> Result<Json, ProviderError> {
    let map = record(
        template,
        "template",
        &["type", "metadata", "data", "merge_policy"],
        "`{ type, metadata, data, merge_policy }`",
    )?;
    no_references(template, "template")?;
    let mut out = Map::new();
    out.insert("engineVersion".into(), json!(ENGINE_VERSION));
    if let Some(kind) = field(map, "template", "type")? {
        out.insert("type".into(), json!(kind));
    }
    if let Some(metadata) = map.get("metadata") {
        let meta = record(
            metadata,
            "template.metadata",
            &["labels", "annotations"],
            "`{ labels, annotations }`",
        )?;
        for (name, value) in meta {
            if !value
                .as_object()
                .is_some_and(|m| m.values().all(Json::is_string))
            {
                return Err(invalid(
                    &format!("template.metadata.{name}"),
                    "must map names to strings",
                ));
            }
        }
        out.insert("metadata".into(), metadata.clone());
    }
    match map.get("data") {
        None => {}
        Some(Json::Object(data)) if data.values().all(Json::is_string) => {
            out.insert("data".into(), Json::Object(data.clone()));
        }
        Some(_) => {
            return Err(invalid(
                "template.data",
                "must map Secret keys to template strings such as \"{{ .user }}:{{ .password }}\"",
            ))
        }
    }
    let merge = field(map, "template", "merge_policy")?;
    check_one_of("template.merge_policy", merge, MERGE_POLICIES)?;
    if let Some(merge) = merge {
        out.insert("mergePolicy".into(), json!(merge));
    }
    Ok(Json::Object(out))
}

/// Refuses secret references where only plain data belongs (templates, rewrites): the
/// values are the operator's to read, never obp's to write.
fn no_references(value: &Json, path: &str) -> Result<(), ProviderError> {
    match crate::manifest::secret_reference_at(value, path) {
        Some(at) => Err(invalid(
            &at,
            "a secret reference cannot be written here: name it in `data` and use its key in the template (`{{ .KEY }}`)",
        )),
        None => Ok(()),
    }
}

/// Reads an ExternalSecret back into attributes (the inverse of [`manifest`]); `None` if it
/// holds what obp does not write (another template engine, a conversion strategy), so a live
/// object obp could not reproduce is never taken for its own. `prior` decides whether
/// defaults are written out (only when the blueprint wrote them).
pub fn attributes(
    object: &Map<String, Json>,
    prior: &BTreeMap<String, Json>,
    store: &SecretStore,
) -> Option<BTreeMap<String, Json>> {
    let spec = object.get("spec")?;
    let mut out = BTreeMap::from([("metadata".to_owned(), object.get("metadata")?.clone())]);
    if let Some(entries) = spec.get("data") {
        let mut data = Map::new();
        for entry in entries.as_array()? {
            let key = entry.get("secretKey")?.as_str()?;
            data.insert(
                key.to_owned(),
                read_remote(entry.get("remoteRef")?, "secret")?,
            );
        }
        out.insert("data".to_owned(), Json::Object(data));
    }
    if let Some(entries) = spec.get("dataFrom") {
        let mut data_from = Vec::new();
        for entry in entries.as_array()? {
            let mut item = match (entry.get("extract"), entry.get("find")) {
                (Some(extract), None) => read_remote(extract, "extract")?.as_object()?.clone(),
                (None, Some(find)) => read_search(find)?,
                _ => return None,
            };
            if let Some(rewrite) = entry.get("rewrite") {
                item.insert("rewrite".into(), rewrite.clone());
            }
            if entry
                .as_object()?
                .keys()
                .any(|k| !["extract", "find", "rewrite"].contains(&k.as_str()))
            {
                return None;
            }
            data_from.push(Json::Object(item));
        }
        out.insert("data_from".to_owned(), Json::Array(data_from));
    }
    let target = spec.get("target")?;
    if let Some(template) = target.get("template") {
        out.insert("template".to_owned(), read_template(template)?);
    }
    let store_ref = spec.get("secretStoreRef");
    // What the operator does when no deletion policy is written.
    let retain = json!("Retain");
    let optional = [
        (
            "store",
            store_ref.and_then(|s| s.get("name")),
            store.name.as_str(),
        ),
        (
            "store_kind",
            store_ref.and_then(|s| s.get("kind")),
            store.kind.as_str(),
        ),
        (
            "refresh_interval",
            spec.get("refreshInterval"),
            store.refresh_interval.as_str(),
        ),
        ("creation_policy", target.get("creationPolicy"), "Owner"),
        (
            "deletion_policy",
            target.get("deletionPolicy").or(Some(&retain)),
            "Retain",
        ),
    ];
    for (name, value, default) in optional {
        let value = value?.clone();
        // Defaults the blueprint did not write stay implicit, as they were.
        if prior.contains_key(name) || value.as_str() != Some(default) {
            out.insert(name.to_owned(), value);
        }
    }
    Some(out)
}

/// A `remoteRef`/`extract` back into `secret("path")` or its record (under `reference`).
fn read_remote(remote: &Json, reference: &str) -> Option<Json> {
    let map = remote.as_object()?;
    let secret = json!({ "$secret": map.get("key")?.as_str()? });
    let mut out = Map::new();
    for (name, value) in map {
        match (name.as_str(), value.as_str()?) {
            ("key", _) => {}
            ("property", v) => {
                out.insert("property".into(), json!(v));
            }
            ("version", v) => {
                out.insert("version".into(), json!(v));
            }
            // The operator's defaults (its CRD writes them into every object).
            ("decodingStrategy", "None")
            | ("conversionStrategy", "Default")
            | ("metadataPolicy", "None") => {}
            ("decodingStrategy", v) => {
                out.insert("decoding".into(), json!(v));
            }
            _ => return None,
        }
    }
    if out.is_empty() && reference == "secret" {
        return Some(secret);
    }
    out.insert(reference.to_owned(), secret);
    Some(Json::Object(out))
}

fn read_search(find: &Json) -> Option<Map<String, Json>> {
    let mut search = Map::new();
    let mut item = Map::new();
    for (name, value) in find.as_object()? {
        match name.as_str() {
            "path" => {
                search.insert("path".into(), value.clone());
            }
            "name" => {
                search.insert("name".into(), value.get("regexp")?.clone());
            }
            "tags" => {
                search.insert("tags".into(), value.clone());
            }
            "conversionStrategy" if value == "Default" => {}
            "decodingStrategy" if value == "None" => {}
            "decodingStrategy" => {
                item.insert("decoding".into(), value.clone());
            }
            _ => return None,
        }
    }
    item.insert("find".into(), Json::Object(search));
    Some(item)
}

fn read_template(template: &Json) -> Option<Json> {
    let mut out = Map::new();
    for (name, value) in template.as_object()? {
        match name.as_str() {
            "engineVersion" if value == ENGINE_VERSION => {}
            "type" | "metadata" | "data" => {
                out.insert(name.clone(), value.clone());
            }
            "mergePolicy" => {
                out.insert("merge_policy".into(), value.clone());
            }
            _ => return None,
        }
    }
    Some(Json::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> SecretStore {
        SecretStore::from_options(&BTreeMap::new()).unwrap()
    }

    fn inputs(value: Json) -> BTreeMap<String, Json> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn every_field_operators_use_renders_and_reads_back() {
        let attrs = inputs(json!({
            "metadata": {"name": "db", "namespace": "acme"},
            "data": {
                "PASSWORD": {"$secret": "apps/acme/db"},
                "USER": {"secret": {"$secret": "apps/acme/db-json"}, "property": "user", "version": "3", "decoding": "Base64"},
            },
            "data_from": [
                {"extract": {"$secret": "apps/acme/smtp"}, "property": "smtp"},
                {"find": {"path": "apps/acme", "name": "^s3-", "tags": {"team": "erp"}}, "rewrite": [{"regexp": {"source": "s3-(.*)", "target": "$1"}}]},
            ],
            "template": {
                "type": "kubernetes.io/basic-auth",
                "metadata": {"labels": {"app": "odoo"}},
                "data": {"url": "postgres://{{ .USER }}:{{ .PASSWORD }}@db/acme"},
                "merge_policy": "Merge",
            },
            "creation_policy": "Merge",
            "deletion_policy": "Delete",
            "store": "vault",
        }));
        let manifest = manifest(&attrs, &store()).unwrap();
        assert_eq!(manifest["apiVersion"], "external-secrets.io/v1");
        let spec = &manifest["spec"];
        assert_eq!(
            spec["data"][1],
            json!({"secretKey": "USER", "remoteRef": {"key": "apps/acme/db-json", "property": "user", "version": "3", "decodingStrategy": "Base64"}})
        );
        assert_eq!(
            spec["dataFrom"],
            json!([
                {"extract": {"key": "apps/acme/smtp", "property": "smtp"}},
                {"find": {"path": "apps/acme", "name": {"regexp": "^s3-"}, "tags": {"team": "erp"}}, "rewrite": [{"regexp": {"source": "s3-(.*)", "target": "$1"}}]},
            ])
        );
        assert_eq!(
            spec["target"],
            json!({"name": "db", "creationPolicy": "Merge", "deletionPolicy": "Delete", "template": {
                "engineVersion": "v2", "type": "kubernetes.io/basic-auth", "metadata": {"labels": {"app": "odoo"}},
                "data": {"url": "postgres://{{ .USER }}:{{ .PASSWORD }}@db/acme"}, "mergePolicy": "Merge"}})
        );
        let object = manifest.as_object().unwrap();
        assert_eq!(attributes(object, &attrs, &store()), Some(attrs));
    }

    #[test]
    fn the_operators_defaults_read_back_as_unset() {
        let attrs = inputs(json!({
            "metadata": {"name": "db"},
            "data": {"PASSWORD": {"$secret": "apps/acme/db"}},
        }));
        let mut live = manifest(&attrs, &store()).unwrap();
        // What the operator's CRD defaults add to every object.
        live["spec"]["data"][0]["remoteRef"]["conversionStrategy"] = json!("Default");
        live["spec"]["data"][0]["remoteRef"]["decodingStrategy"] = json!("None");
        live["spec"]["data"][0]["remoteRef"]["metadataPolicy"] = json!("None");
        live["spec"]["target"]["deletionPolicy"] = json!("Retain");
        assert_eq!(
            attributes(live.as_object().unwrap(), &attrs, &store()),
            Some(attrs.clone())
        );
        // What obp does not write is not taken for its own.
        live["spec"]["data"][0]["remoteRef"]["conversionStrategy"] = json!("Unicode");
        assert_eq!(
            attributes(live.as_object().unwrap(), &attrs, &store()),
            None
        );
    }

    #[test]
    fn mistakes_are_refused_at_their_path() {
        let base = json!({"metadata": {"name": "db"}, "data": {"A": {"$secret": "p"}}});
        let cases = [
            (json!({"data": {"A": "plain"}}), "data.A"),
            (
                json!({"data": {"A": {"secret": {"$secret": "p"}, "propety": "x"}}}),
                "data.A.propety",
            ),
            (
                json!({"data": {"A": {"secret": {"$secret": "p"}, "decoding": "Base32"}}}),
                "data.A.decoding",
            ),
            (json!({"data": {"A": {"property": "x"}}}), "data.A.secret"),
            (
                json!({"data_from": [{"extract": {"$secret": "p"}, "find": {"path": "x"}}]}),
                "data_from[0]",
            ),
            (json!({"data_from": [{"find": {}}]}), "data_from[0].find"),
            (
                json!({"data_from": [{"find": {"path": "x"}, "property": "p"}]}),
                "data_from[0].property",
            ),
            (json!({"data_from": "apps"}), "data_from"),
            (
                json!({"template": {"data": {"url": {"$secret": "p"}}}}),
                "template.data.url",
            ),
            (json!({"template": {"engine": "v1"}}), "template.engine"),
            (
                json!({"template": {"merge_policy": "Overwrite"}}),
                "template.merge_policy",
            ),
            (json!({"creation_policy": "Always"}), "creation_policy"),
            (json!({"target": {}}), "target"),
        ];
        for (change, path) in cases {
            let mut attrs = inputs(base.clone());
            attrs.extend(inputs(change.clone()));
            match manifest(&attrs, &store()) {
                Err(ProviderError::Invalid {
                    attribute: Some(at),
                    ..
                }) => {
                    assert_eq!(at, path, "{change}")
                }
                other => panic!("{change}: {other:?}"),
            }
        }
        let mut neither = inputs(base);
        neither.remove("data");
        assert!(manifest(&neither, &store()).is_err());
    }
}
