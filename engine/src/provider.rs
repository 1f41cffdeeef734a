//! The provider contract: everything the engine knows about a provider is this trait and
//! the schemas it declares. Implementations live in the `obp-providers` crate.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value as Json;
use thiserror::Error;

/// The type of an attribute, for validation and rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Int,
    Bool,
    List,
    Map,
    Any,
}

/// One attribute of a resource type.
#[derive(Debug, Clone)]
pub struct AttrSchema {
    pub name: &'static str,
    pub ty: AttrType,
    /// Must be set in the blueprint.
    pub required: bool,
    /// Set by the provider; may also be configured when not `computed_only`.
    pub computed: bool,
    /// Changing it replaces the resource instead of updating it.
    pub force_new: bool,
    /// Never shown in plans (shown as `(sensitive)`).
    pub sensitive: bool,
    pub doc: &'static str,
}

impl AttrSchema {
    pub const fn new(name: &'static str, ty: AttrType) -> AttrSchema {
        AttrSchema {
            name,
            ty,
            required: false,
            computed: false,
            force_new: false,
            sensitive: false,
            doc: "",
        }
    }
    pub const fn required(mut self) -> AttrSchema {
        self.required = true;
        self
    }
    pub const fn computed(mut self) -> AttrSchema {
        self.computed = true;
        self
    }
    pub const fn force_new(mut self) -> AttrSchema {
        self.force_new = true;
        self
    }
    pub const fn sensitive(mut self) -> AttrSchema {
        self.sensitive = true;
        self
    }
    pub const fn doc(mut self, doc: &'static str) -> AttrSchema {
        self.doc = doc;
        self
    }
}

/// One resource type a provider manages.
#[derive(Debug, Clone)]
pub struct ResourceSchema {
    /// `k8s.deployment`
    pub rtype: String,
    pub attributes: Vec<AttrSchema>,
    /// Accepts attributes not listed (free-form objects such as Kubernetes manifests).
    pub open: bool,
    /// Paths inside attributes that cannot change in place (a Job's `spec.template`): what
    /// [`AttrSchema::force_new`] is for a whole attribute, for one field of an open one.
    pub replace_on: Vec<ReplaceOn>,
    /// Lists of records whose elements plan diffs match by a key other than `name` (a
    /// container's `ports` by `containerPort`, as Kubernetes' strategic merge keys do).
    pub list_keys: Vec<ListKey>,
    pub doc: &'static str,
}

impl ResourceSchema {
    pub fn attribute(&self, name: &str) -> Option<&AttrSchema> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Whether a change at `path` (dotted, as in plan diffs) replaces the resource, given
    /// the attributes it had before.
    pub fn replaces_at(&self, path: &str, before: &BTreeMap<String, Json>) -> bool {
        self.replace_on.iter().any(|rule| rule.covers(path, before))
    }

    /// The fields that may identify the elements of a list held in the field `list`, in the
    /// order plan diffs try them: the schema's own keys for that field, then `name`.
    pub fn list_keys(&self, list: &str) -> Vec<&'static str> {
        self.list_keys
            .iter()
            .filter(|rule| rule.list == list)
            .map(|rule| rule.key)
            .chain(std::iter::once(DEFAULT_LIST_KEY))
            .collect()
    }
}

/// The field that identifies the elements of any list of records, unless a schema says
/// otherwise (see [`ListKey`]).
pub const DEFAULT_LIST_KEY: &str = "name";

/// The elements of a list held in a field named `list` (wherever it occurs in an attribute)
/// are matched by their `key` field in plan diffs, when every element has a distinct one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListKey {
    pub list: &'static str,
    pub key: &'static str,
}

impl ListKey {
    pub const fn new(list: &'static str, key: &'static str) -> ListKey {
        ListKey { list, key }
    }
}

/// A field that cannot be changed in place: a change at `path` or below it replaces the
/// resource. With `once`, only after the boolean attribute `once` was true (a Kubernetes
/// ConfigMap with `immutable: true` freezes its `data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplaceOn {
    pub path: &'static str,
    pub once: Option<&'static str>,
}

impl ReplaceOn {
    /// A path that can never change in place.
    pub const fn path(path: &'static str) -> ReplaceOn {
        ReplaceOn { path, once: None }
    }

    /// A path frozen once the boolean attribute `flag` was true.
    pub const fn once(flag: &'static str, path: &'static str) -> ReplaceOn {
        ReplaceOn {
            path,
            once: Some(flag),
        }
    }

    fn covers(&self, path: &str, before: &BTreeMap<String, Json>) -> bool {
        let below = path
            .strip_prefix(self.path)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']));
        below
            && self
                .once
                .is_none_or(|flag| before.get(flag) == Some(&Json::Bool(true)))
    }
}

/// What applying a planned change does beyond writing the object, for the plan's blast
/// radius. Ordered from the most to the least disruptive.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Stored data is recreated or removed (a database, bucket or volume claim replaced or
    /// deleted).
    DataChange,
    /// A job the blueprint marks as restoring data runs.
    DataRestore,
    /// The service is unavailable for a while (a workload replaced, or rolled out by stopping
    /// its pods before starting new ones).
    Downtime,
    /// A job the blueprint marks as upgrading a database schema runs.
    SchemaUpgrade,
    /// Running pods are replaced by new ones, without downtime.
    Restart,
    /// A one-off job runs.
    RunsJob,
}

impl Effect {
    /// The effect in words, as plan text shows it.
    pub fn words(self) -> &'static str {
        match self {
            Effect::DataChange => "data change",
            Effect::DataRestore => "data restore",
            Effect::Downtime => "downtime",
            Effect::SchemaUpgrade => "schema upgrade",
            Effect::Restart => "restart",
            Effect::RunsJob => "runs job",
        }
    }
}

/// A planned change as [`Provider::impact`] sees it. For a resource left as it is,
/// `action` is no-op and `diffs` is empty.
#[derive(Debug, Clone, Copy)]
pub struct ChangeRef<'a> {
    pub address: &'a str,
    pub rtype: &'a str,
    pub action: crate::plan::Action,
    /// Recorded attributes (none for a create).
    pub before: Option<&'a BTreeMap<String, Json>>,
    /// Desired attributes (none for a delete).
    pub after: Option<&'a BTreeMap<String, Json>>,
    pub diffs: &'a [crate::plan::AttrDiff],
}

/// What a provider says about a planned change for the blast radius: the group it belongs to
/// (a tenant: a label the blueprint chooses), its effects, and the name to show for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Impact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<Effect>,
    /// The object's own name (a Kubernetes object's `metadata.name`); the address if none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A failure reported by a provider.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ProviderError {
    /// The provider's own configuration is wrong.
    #[error("provider configuration: {0}")]
    Config(String),
    /// Attribute values the provider rejects; `attribute` is a dotted path when known.
    #[error("{}{message}", attribute.as_ref().map(|a| format!("`{a}`: ")).unwrap_or_default())]
    Invalid {
        attribute: Option<String>,
        message: String,
    },
    /// A refusal with the catalogue code that explains the rule (a Kubernetes name that is
    /// not a DNS label, a symlink in an output directory) and what to do, so the diagnostic
    /// keeps both.
    #[error("{}{message}", attribute.as_ref().map(|a| format!("`{a}`: ")).unwrap_or_default())]
    Rejected {
        code: &'static str,
        attribute: Option<String>,
        message: String,
        help: String,
    },
    /// The remote system refused or failed the operation.
    #[error("{0}")]
    Remote(String),
    /// A feature the target system does not implement.
    #[error("`{attribute}` is not supported by this server: {message}")]
    NotSupported { attribute: String, message: String },
    /// A secret reference that cannot be resolved; `source` says where it was looked up
    /// (`hint`, such as the environment variable to set).
    #[error("secret `{path}` cannot be resolved: {hint}")]
    Secret { path: String, hint: String },
    /// A wait (rollout, job) ran out of time or failed.
    #[error("{0}")]
    NotReady(String),
    /// A create found the object already there (made outside obp, or by an apply that was
    /// killed before it could record it); `id` is what `obp import` takes to adopt it.
    #[error("{message}")]
    AlreadyExists { message: String, id: String },
}

/// Something a planned resource occupies in its provider's world (an object identity, a file),
/// as a text two resources share only when one would overwrite the other. Claims are compared
/// between all resources whose providers have the same kind, so a claim names its place fully
/// (such as the absolute output directory).
pub type Claim = String;

/// A resource in state as [`Provider::sweep`] sees it: its type and recorded attributes.
#[derive(Debug, Clone, Copy)]
pub struct Owned<'a> {
    pub rtype: &'a str,
    pub inputs: &'a BTreeMap<String, Json>,
    pub outputs: &'a BTreeMap<String, Json>,
}

/// What [`Provider::sweep`] found: things in the provider's own territory that no resource owns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sweep {
    /// Each leftover, as a path or name to show (and removed when asked).
    pub strays: Vec<String>,
    /// Listings that do not match what the provider owns (such as a `kustomization.yaml` after
    /// an interrupted apply), rewritten when asked.
    pub outdated: Vec<String>,
}

/// A resource's recorded attributes: what obp configured (`inputs`) and what the provider
/// reported back (`outputs`, e.g. generated ids).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    pub inputs: BTreeMap<String, Json>,
    #[serde(default)]
    pub outputs: BTreeMap<String, Json>,
}

/// What the provider sees of one resource.
#[derive(Debug, Clone)]
pub struct ResourceRef<'a> {
    pub address: &'a str,
    pub rtype: &'a str,
    /// Its wave in the apply order, for a provider that writes the order into what it
    /// renders ([`Provider::orders`]): the planned one at create and update, the one it was
    /// applied at when it is read back; `None` otherwise.
    pub order: Option<u32>,
}

/// Resolves `secret("path")` references to their values at apply time only.
pub trait Secrets: Send + Sync {
    fn resolve(&self, path: &str) -> Result<String, ProviderError>;
}

/// Reads secrets from environment variables: `secret("tenants/acme/db")` is
/// `OBP_SECRET_TENANTS_ACME_DB`; `secret("env:NAME")` is `NAME`.
#[derive(Debug, Default, Clone)]
pub struct EnvSecrets;

impl EnvSecrets {
    pub fn variable(path: &str) -> String {
        if let Some(name) = path.strip_prefix("env:") {
            return name.to_owned();
        }
        let mut name = String::from("OBP_SECRET_");
        for c in path.chars() {
            name.push(if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            });
        }
        name
    }
}

impl Secrets for EnvSecrets {
    /// An unset or empty variable is an error: an empty secret is always a mistake.
    fn resolve(&self, path: &str) -> Result<String, ProviderError> {
        match std::env::var(Self::variable(path)) {
            Ok(value) if !value.is_empty() => Ok(value),
            Ok(_) => Err(ProviderError::Secret {
                path: path.to_owned(),
                hint: format!("the environment variable {} is empty", Self::variable(path)),
            }),
            Err(_) => Err(ProviderError::Secret {
                path: path.to_owned(),
                hint: format!("set the environment variable {}", Self::variable(path)),
            }),
        }
    }
}

/// How many reads [`read_each`] (and so [`Provider::read_many`] by default) has in flight.
pub const READ_CONCURRENCY: usize = 16;

/// [`Provider::read`] for each item, [`READ_CONCURRENCY`] at a time, results in item order:
/// the default of [`Provider::read_many`], and what a provider that reads some items in bulk
/// does with the rest.
pub async fn read_each<P: Provider + ?Sized>(
    provider: &P,
    items: &[(ResourceRef<'_>, &Recorded)],
) -> Vec<Result<Option<Recorded>, ProviderError>> {
    use futures_util::StreamExt as _;
    let reads: Vec<_> = items
        .iter()
        .map(|(resource, prior)| provider.read(resource, prior))
        .collect();
    futures_util::stream::iter(reads)
        .buffered(READ_CONCURRENCY)
        .collect()
        .await
}

/// A provider: validates, plans, applies and reads resources of the types it declares.
///
/// Attribute values are JSON as encoded by [`crate::codec`]: secret references stay
/// `{"$secret": path}` objects; providers resolve them through [`Secrets`] when they act.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The implementation's kind, such as `gitops`.
    fn kind(&self) -> &str;

    /// Every resource type this provider manages.
    fn schemas(&self) -> Vec<ResourceSchema>;

    /// Whether the provider writes the apply order into what it renders for resources of
    /// type `rtype` (a GitOps tree that Argo CD syncs wave by wave): the engine then gives
    /// each such resource a wave
    /// (`ResourceRef::order` at create and update), plans a change of wave as an update, and
    /// records it in state.
    fn orders(&self, _rtype: &str) -> bool {
        false
    }

    /// Extra validation beyond the schema (formats, combinations).
    fn validate(
        &self,
        _resource: &ResourceRef<'_>,
        _inputs: &BTreeMap<String, Json>,
    ) -> Vec<ProviderError> {
        Vec::new()
    }

    /// Creates the resource; returns what to record.
    async fn create(
        &self,
        resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError>;

    /// Updates the resource in place from `prior` to `inputs`.
    async fn update(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError>;

    /// Deletes the resource.
    async fn delete(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<(), ProviderError>;

    /// Reads the live resource: `None` if it no longer exists. The returned `inputs` are the
    /// live values of the attributes obp manages, so differences from state are drift.
    async fn read(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<Option<Recorded>, ProviderError>;

    /// Reads many resources, one result per item in order (refresh of a whole state). By
    /// default [`read_each`]; a provider that can read many objects in one call (a
    /// Kubernetes LIST) does so.
    async fn read_many(
        &self,
        items: &[(ResourceRef<'_>, &Recorded)],
    ) -> Vec<Result<Option<Recorded>, ProviderError>> {
        read_each(self, items).await
    }

    /// Adopts an existing object identified by `id` into state.
    async fn import(&self, resource: &ResourceRef<'_>, id: &str)
        -> Result<Recorded, ProviderError>;

    /// Called once after an apply that used this provider, with a one-line summary (the GitOps
    /// provider commits its directory here when asked to).
    async fn finish(&self, _summary: &str) -> Result<(), ProviderError> {
        Ok(())
    }

    /// What `inputs` would occupy once applied (see [`Claim`]); empty when the provider cannot
    /// tell yet (values known only after apply) or two resources can never collide.
    fn claims(&self, _resource: &ResourceRef<'_>, _inputs: &BTreeMap<String, Json>) -> Vec<Claim> {
        Vec::new()
    }

    /// Finds what the provider left behind that no resource owns (files of an interrupted
    /// apply, temp files) and, with `remove`, removes it and repairs what lists it. `owned` is
    /// every resource in state managed by a provider of this kind (by type and recorded
    /// attributes), so another instance's objects are never taken for leftovers.
    async fn sweep(&self, _owned: &[Owned<'_>], _remove: bool) -> Result<Sweep, ProviderError> {
        Ok(Sweep::default())
    }

    /// The group and effects of a planned change (see [`Impact`]); asked for every configured
    /// resource, no-ops included, since a resource without a group of its own takes the one
    /// its module's resources agree on. By default none.
    fn impact(&self, _change: &ChangeRef<'_>) -> Impact {
        Impact::default()
    }

    /// A human-readable explanation of live drift for one resource (such as a unified diff),
    /// when the provider can give one.
    fn describe_drift(
        &self,
        _resource: &ResourceRef<'_>,
        _recorded: &Recorded,
        _live: &Recorded,
    ) -> Option<String> {
        None
    }
}

/// The providers configured for one run, by name (alias or kind).
#[derive(Clone, Default)]
pub struct Providers {
    by_name: BTreeMap<String, Arc<dyn Provider>>,
    /// Resource type → the first provider name declaring it (the one a resource of that
    /// type gets when it names none).
    owners: BTreeMap<String, String>,
    /// Provider name → its schemas by resource type. Two providers may serve one type with
    /// different schemas (GitOps and Kubernetes both serve `k8s.*`, with other computed
    /// attributes): a resource is checked against the schema of the provider it uses.
    schemas: BTreeMap<String, BTreeMap<String, ResourceSchema>>,
}

impl Providers {
    pub fn new() -> Providers {
        Providers::default()
    }

    /// Registers a configured provider under `name`.
    pub fn insert(&mut self, name: impl Into<String>, provider: Arc<dyn Provider>) {
        let name = name.into();
        let schemas = self.schemas.entry(name.clone()).or_default();
        for schema in provider.schemas() {
            self.owners
                .entry(schema.rtype.clone())
                .or_insert_with(|| name.clone());
            schemas.insert(schema.rtype.clone(), schema);
        }
        self.by_name.insert(name, provider);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.by_name.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// The provider for a resource: the one named by the resource if it exists, else the
    /// one that declares the resource type.
    ///
    /// A name other than the type's own prefix was chosen with `provider = "…"`: it must
    /// exist and manage the type; there is no silent fallback for it.
    pub fn for_resource(&self, name: &str, rtype: &str) -> Option<(&str, &Arc<dyn Provider>)> {
        if let Some((key, provider)) = self.by_name.get_key_value(name) {
            if self.schema_of(name, rtype).is_some() {
                return Some((key.as_str(), provider));
            }
        }
        let prefix = rtype.split('.').next().unwrap_or(rtype);
        if name != prefix {
            return None;
        }
        let owner = self.owners.get(rtype)?;
        self.by_name
            .get_key_value(owner)
            .map(|(k, p)| (k.as_str(), p))
    }

    /// The schema of `rtype` as the first provider declaring it has it.
    pub fn schema(&self, rtype: &str) -> Option<&ResourceSchema> {
        self.schema_of(self.owners.get(rtype)?, rtype)
    }

    /// The schema of `rtype` as provider `name` declares it.
    pub fn schema_of(&self, name: &str, rtype: &str) -> Option<&ResourceSchema> {
        self.schemas.get(name)?.get(rtype)
    }

    /// Every resource type known, for suggestions.
    pub fn resource_types(&self) -> impl Iterator<Item = &str> {
        self.owners.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_variables_are_derived_from_paths() {
        assert_eq!(
            EnvSecrets::variable("tenants/acme/db"),
            "OBP_SECRET_TENANTS_ACME_DB"
        );
        assert_eq!(EnvSecrets::variable("env:PG_ADMIN_URL"), "PG_ADMIN_URL");
    }
}
