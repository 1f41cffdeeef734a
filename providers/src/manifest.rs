//! Attributes ⇄ Kubernetes manifests, shared by the GitOps and Kubernetes providers.
//!
//! A `k8s.*` resource's attributes are its manifest minus `apiVersion`/`kind` (which come from
//! the resource type); `k8s.manifest` carries them as `api_version`/`kind`;
//! `k8s.external_secret` becomes an external-secrets.io ExternalSecret (`external_secret.rs`). Secret references anywhere else are refused: secret values never reach a
//! manifest. [`attributes`] is the inverse, used to read live objects and files back.

use std::collections::BTreeMap;

use obp_engine::provider::{AttrSchema, AttrType, ProviderError, ResourceSchema};
use serde_json::{json, Map, Value as Json};

use crate::api_rules;
use crate::attrs::invalid;
use crate::external_secret;
use crate::kinds::{self, Kind, KINDS};

/// Store settings for ExternalSecrets that do not name their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretStore {
    pub name: String,
    pub kind: String,
    pub refresh_interval: String,
}

impl SecretStore {
    /// The provider options that configure the store.
    pub const OPTIONS: &'static [&'static str] =
        &["secret_store", "secret_store_kind", "refresh_interval"];

    /// Reads `secret_store`, `secret_store_kind` and `refresh_interval` from provider options.
    pub fn from_options(attrs: &BTreeMap<String, Json>) -> Result<SecretStore, ProviderError> {
        Ok(SecretStore {
            name: text_option(attrs, "secret_store", "obp-secrets")?,
            kind: text_option(attrs, "secret_store_kind", "ClusterSecretStore")?,
            refresh_interval: text_option(attrs, "refresh_interval", "1h")?,
        })
    }
}

/// A non-empty string option with a default.
pub fn text_option(
    attrs: &BTreeMap<String, Json>,
    name: &str,
    default: &str,
) -> Result<String, ProviderError> {
    match attrs.get(name) {
        None => Ok(default.to_owned()),
        Some(Json::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(ProviderError::Config(format!(
            "`{name}` must be a non-empty string"
        ))),
    }
}

/// A boolean option with a default.
pub fn bool_option(
    attrs: &BTreeMap<String, Json>,
    name: &str,
    default: bool,
) -> Result<bool, ProviderError> {
    match attrs.get(name) {
        None => Ok(default),
        Some(Json::Bool(b)) => Ok(*b),
        Some(_) => Err(ProviderError::Config(format!(
            "`{name}` must be true or false"
        ))),
    }
}

/// One schema per known Kubernetes kind (`k8s.NAME`): a required `metadata`, anything else
/// open, plus the provider's own computed attributes.
pub fn kind_schemas(computed: &[AttrSchema]) -> Vec<ResourceSchema> {
    KINDS
        .iter()
        .map(|kind| {
            let mut attributes = vec![AttrSchema::new("metadata", AttrType::Map)
                .required()
                .doc("the object's metadata: name, namespace, labels …")];
            attributes.extend(computed.iter().cloned());
            ResourceSchema {
                rtype: format!("k8s.{}", kind.name),
                attributes,
                open: true,
                replace_on: kinds::replace_on(kind),
                list_keys: kinds::LIST_KEYS.to_vec(),
                doc: kind.doc,
            }
        })
        .collect()
}

/// The Kubernetes object for `k8s.*` attributes.
pub fn manifest(
    kind: &Kind,
    inputs: &BTreeMap<String, Json>,
    store: &SecretStore,
) -> Result<Json, ProviderError> {
    let mut object = Map::new();
    match kind.name {
        "manifest" => {
            let api = inputs
                .get("api_version")
                .and_then(Json::as_str)
                .ok_or_else(|| invalid("api_version", "`k8s.manifest` needs `api_version`"))?;
            let kind_name = inputs
                .get("kind")
                .and_then(Json::as_str)
                .ok_or_else(|| invalid("kind", "`k8s.manifest` needs `kind`"))?;
            object.insert("apiVersion".into(), json!(api));
            object.insert("kind".into(), json!(kind_name));
            for (key, value) in inputs {
                if key != "api_version" && key != "kind" {
                    object.insert(key.clone(), value.clone());
                }
            }
        }
        "external_secret" => {
            let manifest = external_secret::manifest(inputs, store)?;
            no_secrets(&manifest["metadata"], "metadata")?;
            return Ok(manifest);
        }
        _ => {
            object.insert("apiVersion".into(), json!(kind.api_version));
            object.insert("kind".into(), json!(kind.kind));
            for (key, value) in inputs {
                object.insert(key.clone(), value.clone());
            }
        }
    }
    let manifest = Json::Object(object);
    no_secrets(&manifest, "")?;
    Ok(manifest)
}

/// Refuses secret references (and templates built from them) outside ExternalSecret data.
fn no_secrets(value: &Json, path: &str) -> Result<(), ProviderError> {
    match secret_reference_at(value, path) {
        Some(at) => Err(invalid(
            &at,
            "secret references cannot be written into a manifest; put them in a `k8s.external_secret` and read the Kubernetes Secret it creates",
        )),
        None => Ok(()),
    }
}

/// The path of the first secret reference (or template built from one) in `value`, which
/// sits at `path`: nothing but an ExternalSecret's `data` may hold one.
pub fn secret_reference_at(value: &Json, path: &str) -> Option<String> {
    match value {
        Json::Object(map)
            if map.len() == 1 && (map.contains_key("$secret") || map.contains_key("$template")) =>
        {
            Some(path.to_owned())
        }
        Json::Object(map) => map.iter().find_map(|(key, item)| {
            let here = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            secret_reference_at(item, &here)
        }),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| secret_reference_at(item, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Validates a manifest against its kind and then against the API server's own field rules
/// ([`crate::api_rules`]); problems carry the attribute path.
pub fn check(kind: &Kind, manifest: &Json) -> Vec<ProviderError> {
    let mut problems: Vec<ProviderError> = (kind.check)(manifest)
        .into_iter()
        .map(|p| invalid(&p.path, p.message))
        .collect();
    problems.extend(
        api_rules::check(manifest)
            .into_iter()
            .map(|r| ProviderError::Rejected {
                code: r.code,
                attribute: (!r.path.is_empty()).then_some(r.path),
                message: r.message,
                help: r.help.to_owned(),
            }),
    );
    problems
}

/// Reads a manifest back into attributes (the inverse of [`manifest`]); `None` if it does not
/// have the shape of its kind. `prior` decides whether ExternalSecret store defaults are
/// written out (only when the blueprint wrote them).
pub fn attributes(
    kind: &Kind,
    manifest: Json,
    prior: &BTreeMap<String, Json>,
    store: &SecretStore,
) -> Option<BTreeMap<String, Json>> {
    let Json::Object(mut object) = manifest else {
        return None;
    };
    match kind.name {
        "manifest" => {
            let api = object.remove("apiVersion")?;
            let kind_name = object.remove("kind")?;
            let mut out: BTreeMap<String, Json> = object.into_iter().collect();
            out.insert("api_version".into(), api);
            out.insert("kind".into(), kind_name);
            Some(out)
        }
        "external_secret" => external_secret::attributes(&object, prior, store),
        _ => {
            object.remove("apiVersion");
            object.remove("kind");
            Some(object.into_iter().collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::by_type;

    fn store() -> SecretStore {
        SecretStore::from_options(&BTreeMap::new()).unwrap()
    }

    /// Kubernetes lists whose elements have no `name` are diffed by their strategic merge
    /// key: a container port by `containerPort`, a Service port by `port`, a mount by path.
    #[test]
    fn kubernetes_lists_are_diffed_by_their_merge_keys() {
        let schemas = kind_schemas(&[]);
        let schema = |rtype: &str| schemas.iter().find(|s| s.rtype == rtype).unwrap();
        let paths = |rtype: &str, before: Json, after: Json| -> Vec<String> {
            let map = |spec: Json| BTreeMap::from([("spec".to_owned(), spec)]);
            obp_engine::plan::diff_maps(&map(before), &map(after), Some(schema(rtype)))
                .into_iter()
                .map(|d| d.path)
                .collect()
        };
        let pod = |protocol: &str, mount: &str| {
            json!({"template": {"spec": {"containers": [{
                "name": "odoo",
                "ports": [{"name": "http", "containerPort": 8069, "protocol": protocol},
                          {"name": "websocket", "containerPort": 8072}],
                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/odoo"},
                                 {"name": "data", "mountPath": mount}],
            }]}}})
        };
        assert_eq!(
            paths("k8s.deployment", pod("TCP", "/tmp"), pod("UDP", "/scratch")),
            [
                "spec.template.spec.containers[name=odoo].ports[containerPort=8069].protocol",
                "spec.template.spec.containers[name=odoo].volumeMounts[mountPath=/tmp]",
                "spec.template.spec.containers[name=odoo].volumeMounts[mountPath=/scratch]",
            ]
        );
        let service = |target: u16| json!({"ports": [{"port": 80, "targetPort": target}, {"port": 443, "targetPort": 8443}]});
        assert_eq!(
            paths("k8s.service", service(8069), service(8080)),
            ["spec.ports[port=80].targetPort"]
        );
    }

    #[test]
    fn attributes_invert_manifests() {
        let cases = [
            (
                "k8s.config_map",
                json!({"metadata": {"name": "c"}, "data": {"a": "b"}}),
            ),
            (
                "k8s.manifest",
                json!({"api_version": "traefik.io/v1alpha1", "kind": "Middleware", "metadata": {"name": "m"}, "spec": {}}),
            ),
            (
                "k8s.external_secret",
                json!({"metadata": {"name": "db", "namespace": "t"}, "data": {"PASSWORD": {"$secret": "tenants/t/db"}}, "store": "vault"}),
            ),
        ];
        for (rtype, inputs) in cases {
            let kind = by_type(rtype).unwrap();
            let inputs: BTreeMap<String, Json> = serde_json::from_value(inputs).expect("an object");
            let manifest = manifest(kind, &inputs, &store()).unwrap();
            assert_eq!(
                attributes(kind, manifest, &inputs, &store()).as_ref(),
                Some(&inputs),
                "{rtype}"
            );
        }
    }

    #[test]
    fn secrets_outside_external_secret_data_are_refused() {
        let kind = by_type("k8s.config_map").unwrap();
        let inputs = BTreeMap::from([
            ("metadata".to_owned(), json!({"name": "c"})),
            ("data".to_owned(), json!({"pw": {"$secret": "db"}})),
        ]);
        let error = manifest(kind, &inputs, &store()).unwrap_err();
        assert!(
            matches!(&error, ProviderError::Invalid { attribute: Some(a), .. } if a == "data.pw"),
            "{error:?}"
        );
        let kind = by_type("k8s.external_secret").unwrap();
        let inputs = BTreeMap::from([
            (
                "metadata".to_owned(),
                json!({"name": "c", "labels": {"x": {"$secret": "db"}}}),
            ),
            ("data".to_owned(), json!({})),
        ]);
        assert!(manifest(kind, &inputs, &store()).is_err());
    }

    #[test]
    fn options_are_checked() {
        let attrs = BTreeMap::from([("dri".to_owned(), json!("x"))]);
        let error = crate::attrs::check_options(&attrs, &["dir"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "provider configuration: unknown option `dri` (known: dir)"
        );
        let attrs = BTreeMap::from([("secret_store".to_owned(), json!(""))]);
        assert!(SecretStore::from_options(&attrs).is_err());
    }
}
