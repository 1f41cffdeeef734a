//! The Kubernetes provider: applies `k8s.*` resources to a live cluster through kube-rs.
//!
//! Every kind is resolved through API discovery (built-in kinds, CRDs such as Traefik,
//! cert-manager and external-secrets, and anything a `k8s.manifest` names) and written with
//! server-side apply as one field manager (`field_manager`, default `obp`). Conflicts with
//! other managers fail the apply unless `force_conflicts = true`. After an apply the provider
//! waits (unless `wait = false`) for Deployments and StatefulSets to roll out, Jobs to
//! complete and claims to bind; deletes use the configured propagation policy and wait for
//! the object to be gone. `read` reports drift only on the fields obp set. Attributes render
//! to manifests exactly as for the GitOps provider ([`crate::manifest`]).

mod cluster;
mod live;
pub mod readiness;
pub mod settings;

pub use cluster::shorten_values;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use obp_engine::provider::{
    read_each, AttrSchema, AttrType, Provider, ProviderError, Recorded, ResourceRef, ResourceSchema,
};
use serde_json::Value as Json;

use crate::attrs::invalid;
use crate::kinds::{self, Kind};
use crate::manifest;
use cluster::Cluster;
use readiness::Readiness;
pub use settings::Settings;

/// The longest pause between two polls of an object being waited for.
const MAX_POLL: Duration = Duration::from_secs(2);
/// The first pause; it doubles up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(100);

/// A configured Kubernetes provider.
pub struct Kubernetes {
    settings: Settings,
    cluster: Cluster,
}

/// Which object a manifest names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    api_version: String,
    kind: String,
    name: String,
    /// As written in the manifest; the client's default namespace applies when absent.
    namespace: Option<String>,
}

impl Identity {
    fn of(manifest: &Json) -> Result<Identity, ProviderError> {
        let text = |value: &Json| value.as_str().map(str::to_owned);
        Ok(Identity {
            api_version: text(&manifest["apiVersion"])
                .ok_or_else(|| invalid("api_version", "missing `apiVersion`"))?,
            kind: text(&manifest["kind"]).ok_or_else(|| invalid("kind", "missing `kind`"))?,
            name: text(&manifest["metadata"]["name"])
                .ok_or_else(|| invalid("metadata.name", "missing `metadata.name`"))?,
            namespace: text(&manifest["metadata"]["namespace"]),
        })
    }
}

/// A manifest's object on the server: its kind and the namespace it lives in.
struct Located {
    identity: Identity,
    /// `None` for cluster-scoped kinds.
    namespace: Option<String>,
    api: Api<DynamicObject>,
    /// The kind across every namespace, for reading many objects in one LIST.
    all: Api<DynamicObject>,
}

impl Located {
    /// `Deployment acme/web`, `Namespace acme`.
    fn describe(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{} {namespace}/{}", self.identity.kind, self.identity.name),
            None => format!("{} {}", self.identity.kind, self.identity.name),
        }
    }
}

/// A recorded resource to read: its kind, the manifest obp would apply, where it lives.
struct ReadTarget {
    kind: &'static Kind,
    desired: Json,
    located: Located,
}

/// The objects of a kind named in `wanted` (namespace, name), listed across namespaces in
/// pages of 500; others' objects are dropped page by page.
async fn list_all(
    api: &Api<DynamicObject>,
    wanted: &HashSet<(Option<String>, String)>,
) -> Result<HashMap<(Option<String>, String), DynamicObject>, kube::Error> {
    let mut objects = HashMap::new();
    let mut params = ListParams::default().limit(500);
    loop {
        let page = api.list(&params).await?;
        let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
        for object in page.items {
            let key = (
                object.metadata.namespace.clone(),
                object.metadata.name.clone().unwrap_or_default(),
            );
            if wanted.contains(&key) {
                objects.insert(key, object);
            }
        }
        match next {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(objects),
        }
    }
}

fn to_json(object: &DynamicObject) -> Result<Json, ProviderError> {
    serde_json::to_value(object)
        .map_err(|e| ProviderError::Remote(format!("cannot read the server's object: {e}")))
}

impl Kubernetes {
    /// Reads the provider options (nothing connects until the first operation).
    pub fn new(
        stack_dir: &Path,
        attrs: &BTreeMap<String, Json>,
    ) -> Result<Kubernetes, ProviderError> {
        Ok(Kubernetes {
            settings: Settings::new(stack_dir, attrs)?,
            cluster: Cluster::new(),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn kind(rtype: &str) -> Result<&'static Kind, ProviderError> {
        kinds::by_type(rtype).ok_or_else(|| invalid("", format!("unknown resource type `{rtype}`")))
    }

    /// The manifest for a resource's attributes, validated like the GitOps provider does.
    fn manifest(
        &self,
        rtype: &str,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<(&'static Kind, Json), ProviderError> {
        let kind = Kubernetes::kind(rtype)?;
        let manifest = manifest::manifest(kind, inputs, &self.settings.store)?;
        if let Some(problem) = manifest::check(kind, &manifest).into_iter().next() {
            return Err(problem);
        }
        let identity = Identity::of(&manifest)?;
        // Names of arbitrary kinds (`k8s.manifest`, such as RBAC's `system:…`) are left to
        // the server to judge.
        if kind.name != "manifest" && !kinds::is_dns_subdomain(&identity.name) {
            return Err(invalid(
                "metadata.name",
                format!(
                    "`{}` is not a valid Kubernetes name (lowercase letters, digits, `-` and `.`)",
                    identity.name
                ),
            ));
        }
        if kind.name != "manifest" && !kind.namespaced && identity.namespace.is_some() {
            return Err(invalid(
                "metadata.namespace",
                format!(
                    "{} is cluster-scoped: remove `metadata.namespace`",
                    kind.kind
                ),
            ));
        }
        Ok((kind, manifest))
    }

    /// Finds where a manifest's object lives. `Ok(None)`: the server does not serve its kind.
    async fn locate(
        &self,
        identity: &Identity,
        recorded_namespace: Option<&str>,
    ) -> Result<Option<Located>, ProviderError> {
        let client = self.cluster.client(&self.settings).await?;
        let Some(kind) = self
            .cluster
            .resolve(&client, &identity.api_version, &identity.kind)
            .await?
        else {
            return Ok(None);
        };
        let namespace = if kind.namespaced {
            Some(
                recorded_namespace
                    .map(str::to_owned)
                    .or_else(|| identity.namespace.clone())
                    .unwrap_or_else(|| client.default_namespace().to_owned()),
            )
        } else {
            if let Some(namespace) = &identity.namespace {
                return Err(invalid(
                    "metadata.namespace",
                    format!(
                        "{} is cluster-scoped, but `metadata.namespace` is \"{namespace}\"",
                        identity.kind
                    ),
                ));
            }
            None
        };
        let all = Api::all_with(client.clone(), &kind.resource);
        let api = cluster::api(client, &kind, namespace.as_deref());
        Ok(Some(Located {
            identity: identity.clone(),
            namespace,
            api,
            all,
        }))
    }

    /// What reading a recorded resource needs; `Ok(None)` when the server does not serve its
    /// kind (so the object cannot exist).
    async fn read_target(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<Option<ReadTarget>, ProviderError> {
        let kind = Kubernetes::kind(resource.rtype)?;
        let desired = manifest::manifest(kind, &prior.inputs, &self.settings.store)?;
        let identity = Identity::of(&desired)?;
        let namespace = prior.outputs.get("namespace").and_then(Json::as_str);
        let located = self.locate(&identity, namespace).await?;
        Ok(located.map(|located| ReadTarget {
            kind,
            desired,
            located,
        }))
    }

    /// The live values of the attributes obp manages (so differences from state are drift).
    fn read_result(
        &self,
        target: &ReadTarget,
        live: &DynamicObject,
        prior: &Recorded,
    ) -> Result<Recorded, ProviderError> {
        let live = to_json(live)?;
        let projected = live::project(&target.desired, &live);
        let inputs =
            manifest::attributes(target.kind, projected, &prior.inputs, &self.settings.store)
                .unwrap_or_else(|| {
                    BTreeMap::from([("unrecognised_live_object".to_owned(), live::clean(&live))])
                });
        Ok(Recorded {
            inputs,
            outputs: outputs(&target.located, &live),
        })
    }

    /// [`Kubernetes::locate`], failing for kinds the server does not serve.
    async fn locate_served(&self, identity: &Identity) -> Result<Located, ProviderError> {
        self.locate(identity, None).await?.ok_or_else(|| {
            ProviderError::Remote(format!(
                "the cluster does not serve kind {} in API version {}: install its CustomResourceDefinition (or check `apiVersion`/`kind`) first",
                identity.kind, identity.api_version
            ))
        })
    }

    /// Server-side applies a manifest and waits for it to be ready; returns the live object.
    async fn apply_manifest(&self, manifest: &Json) -> Result<(Located, Json), ProviderError> {
        let identity = Identity::of(manifest)?;
        let located = self.locate_served(&identity).await?;
        let what = located.describe();
        // Strict, as kubectl: a field the server's schema does not know is an error, never
        // silently dropped.
        let mut params = PatchParams::apply(&self.settings.field_manager)
            .validation(kube::api::ValidationDirective::Strict);
        if self.settings.force_conflicts {
            params = params.force();
        }
        let applied = located
            .api
            .patch(&identity.name, &params, &Patch::Apply(manifest))
            .await
            .map_err(|error| match error {
                kube::Error::Api(status) if status.code == 409 => {
                    cluster::conflict(&what, &status, &self.settings.field_manager)
                }
                other => cluster::remote(&format!("applying {what}"), other),
            })?;
        let mut object = to_json(&applied)?;
        if self.settings.wait {
            object = self.wait_ready(&located, object).await?;
        }
        Ok((located, object))
    }

    /// Polls until the object is ready by its kind's rule, failed, or out of time.
    async fn wait_ready(&self, located: &Located, mut object: Json) -> Result<Json, ProviderError> {
        let identity = &located.identity;
        if !readiness::has_rule(&identity.api_version, &identity.kind) {
            return Ok(object);
        }
        let timeout = self.settings.wait_timeout;
        let deadline = Instant::now() + timeout;
        let mut pause = FIRST_POLL;
        loop {
            let mut state = readiness::check(&identity.api_version, &identity.kind, &object);
            if matches!(state, Readiness::Pending(_)) && identity.kind == "PersistentVolumeClaim" {
                state = self
                    .claim_waits_for_consumer(&object)
                    .await
                    .unwrap_or(state);
            }
            match state {
                Readiness::Ready => return Ok(object),
                Readiness::Failed(why) => {
                    return Err(ProviderError::NotReady(format!(
                        "{} is not ready: {why}",
                        located.describe()
                    )))
                }
                Readiness::Pending(missing) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(ProviderError::NotReady(format!(
                            "timed out after {} waiting for {} to be ready: {missing} (raise `wait_timeout`, or set `wait = false` on the kubernetes provider not to wait)",
                            settings::format_duration(timeout),
                            located.describe()
                        )));
                    }
                    tokio::time::sleep(pause.min(deadline - now)).await;
                    pause = (pause * 2).min(MAX_POLL);
                    let current = located
                        .api
                        .get_opt(&identity.name)
                        .await
                        .map_err(|e| {
                            cluster::remote(&format!("reading {}", located.describe()), e)
                        })?
                        .ok_or_else(|| {
                            ProviderError::NotReady(format!(
                                "{} was deleted while obp waited for it to be ready",
                                located.describe()
                            ))
                        })?;
                    object = to_json(&current)?;
                }
            }
        }
    }

    /// A pending claim whose storage class binds volumes only for a first consuming pod
    /// (`volumeBindingMode: WaitForFirstConsumer`) is as ready as it gets before its pod
    /// exists. `None` when that cannot be told.
    async fn claim_waits_for_consumer(&self, claim: &Json) -> Option<Readiness> {
        if claim["status"]["phase"] != "Pending" {
            return None;
        }
        let client = self.cluster.client(&self.settings).await.ok()?;
        let kind = self
            .cluster
            .resolve(&client, "storage.k8s.io/v1", "StorageClass")
            .await
            .ok()??;
        let classes: Api<DynamicObject> = cluster::api(client, &kind, None);
        let class = match claim["spec"]["storageClassName"].as_str() {
            Some(name) => to_json(&classes.get_opt(name).await.ok()??).ok()?,
            None => classes
                .list(&Default::default())
                .await
                .ok()?
                .items
                .iter()
                .filter_map(|c| to_json(c).ok())
                .find(|c| {
                    c["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"]
                        == "true"
                })?,
        };
        (class["volumeBindingMode"] == "WaitForFirstConsumer").then_some(Readiness::Ready)
    }

    /// Deletes an object (gone already is fine) and, when waiting, polls until it is gone.
    async fn delete_object(
        &self,
        identity: &Identity,
        namespace: Option<&str>,
    ) -> Result<(), ProviderError> {
        let Some(located) = self.locate(identity, namespace).await? else {
            // Its kind is no longer served, so no object of it exists.
            return Ok(());
        };
        let params = DeleteParams {
            propagation_policy: Some(self.settings.propagation_policy.clone()),
            ..DeleteParams::default()
        };
        match located.api.delete(&identity.name, &params).await {
            Ok(_) => {}
            Err(error) if cluster::is_not_found(&error) => return Ok(()),
            Err(error) => {
                return Err(cluster::remote(
                    &format!("deleting {}", located.describe()),
                    error,
                ))
            }
        }
        if !self.settings.wait {
            return Ok(());
        }
        let deadline = Instant::now() + self.settings.wait_timeout;
        let mut pause = FIRST_POLL;
        loop {
            let current = located
                .api
                .get_opt(&identity.name)
                .await
                .map_err(|e| cluster::remote(&format!("reading {}", located.describe()), e))?;
            let Some(current) = current else {
                return Ok(());
            };
            let now = Instant::now();
            if now >= deadline {
                let finalizers = current.metadata.finalizers.unwrap_or_default();
                let why = if finalizers.is_empty() {
                    String::new()
                } else {
                    format!(" (finalizers: {})", finalizers.join(", "))
                };
                return Err(ProviderError::NotReady(format!(
                    "timed out after {} waiting for {} to be deleted{why}",
                    settings::format_duration(self.settings.wait_timeout),
                    located.describe()
                )));
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(MAX_POLL);
        }
    }

    fn recorded(inputs: &BTreeMap<String, Json>, located: &Located, object: &Json) -> Recorded {
        Recorded {
            inputs: inputs.clone(),
            outputs: outputs(located, object),
        }
    }

    /// Where a recorded object lives: its identity and the namespace it was applied to.
    fn recorded_identity(
        &self,
        rtype: &str,
        recorded: &Recorded,
    ) -> Result<(Identity, Option<String>), ProviderError> {
        let kind = Kubernetes::kind(rtype)?;
        let manifest = manifest::manifest(kind, &recorded.inputs, &self.settings.store)?;
        let identity = Identity::of(&manifest)?;
        let namespace = recorded
            .outputs
            .get("namespace")
            .and_then(Json::as_str)
            .map(str::to_owned);
        Ok((identity, namespace))
    }
}

/// What obp records from a live object.
fn outputs(located: &Located, object: &Json) -> BTreeMap<String, Json> {
    BTreeMap::from([
        ("uid".to_owned(), object["metadata"]["uid"].clone()),
        (
            "resource_version".to_owned(),
            object["metadata"]["resourceVersion"].clone(),
        ),
        (
            "namespace".to_owned(),
            located.namespace.clone().map_or(Json::Null, Json::String),
        ),
    ])
}

/// Resource schemas: every known Kubernetes kind, with the outputs recorded from the cluster.
pub fn schemas() -> Vec<ResourceSchema> {
    manifest::kind_schemas(&[
        AttrSchema::new("uid", AttrType::String)
            .computed()
            .doc("the object's uid, set by the cluster"),
        AttrSchema::new("resource_version", AttrType::String)
            .computed()
            .doc("the object's resourceVersion when obp last applied or read it"),
        AttrSchema::new("namespace", AttrType::Any)
            .computed()
            .doc("the namespace the object lives in (null for cluster-scoped kinds)"),
    ])
}

/// Parses an import id: `NAME` or `NAMESPACE/NAME`; for `k8s.manifest`,
/// `API_VERSION/KIND/[NAMESPACE/]NAME` (the kind is the first segment starting with an
/// uppercase letter, so `traefik.io/v1alpha1/Middleware/acme/strip` works).
fn parse_import_id(kind: &Kind, id: &str) -> Result<Identity, ProviderError> {
    let bad = |expected: &str| {
        ProviderError::Remote(format!(
            "cannot import `{id}` as k8s.{}: expected {expected}",
            kind.name
        ))
    };
    let segments: Vec<&str> = id.split('/').collect();
    let (api_version, kind_name, rest) = if kind.name == "manifest" {
        let expected = "`API_VERSION/KIND/NAMESPACE/NAME` or `API_VERSION/KIND/NAME`";
        let at = segments
            .iter()
            .position(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
            .filter(|at| *at > 0)
            .ok_or_else(|| bad(expected))?;
        (
            segments[..at].join("/"),
            segments[at].to_owned(),
            &segments[at + 1..],
        )
    } else {
        (
            kind.api_version.to_owned(),
            kind.kind.to_owned(),
            &segments[..],
        )
    };
    let (namespace, name) = match rest {
        [name] => (None, *name),
        [namespace, name] => (Some((*namespace).to_owned()), *name),
        _ => return Err(bad("`NAMESPACE/NAME` or `NAME`")),
    };
    if name.is_empty() || namespace.as_deref() == Some("") {
        return Err(bad("`NAMESPACE/NAME` or `NAME`"));
    }
    Ok(Identity {
        api_version,
        kind: kind_name,
        name: name.to_owned(),
        namespace,
    })
}

fn yaml(manifest: &Json) -> Option<String> {
    obp_lang::stdlib::yaml_text(manifest.clone()).ok()
}

#[async_trait]
impl Provider for Kubernetes {
    fn kind(&self) -> &str {
        "kubernetes"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        schemas()
    }

    fn validate(
        &self,
        resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Vec<ProviderError> {
        // With values known only after apply the manifest cannot be rendered yet: apply
        // renders (and so checks) it once they are known.
        if inputs.values().any(obp_engine::resolve::is_unknown) {
            return Vec::new();
        }
        match self.manifest(resource.rtype, inputs) {
            Ok(_) => Vec::new(),
            Err(error) => vec![error],
        }
    }

    /// The object on this provider's cluster: API group, kind, namespace and name (the
    /// version is left out: one object is served under every version of its group).
    fn claims(
        &self,
        resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Vec<obp_engine::provider::Claim> {
        if inputs.values().any(obp_engine::resolve::is_unknown) {
            return Vec::new();
        }
        let Ok((_, manifest)) = self.manifest(resource.rtype, inputs) else {
            return Vec::new();
        };
        let Ok(identity) = Identity::of(&manifest) else {
            return Vec::new();
        };
        let group = identity.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let object = match &identity.namespace {
            Some(namespace) => format!("{namespace}/{}", identity.name),
            None => identity.name.clone(),
        };
        let kubeconfig = self
            .settings
            .kubeconfig
            .as_ref()
            .map_or("the default kubeconfig".to_owned(), |k| {
                format!("`{}`", k.display())
            });
        let context = self
            .settings
            .context
            .as_ref()
            .map_or("its current context".to_owned(), |c| {
                format!("context `{c}`")
            });
        let kind = if group.is_empty() {
            identity.kind.clone()
        } else {
            format!("{}.{group}", identity.kind)
        };
        vec![format!(
            "{kind} `{object}` on the cluster of {kubeconfig}, {context}"
        )]
    }

    async fn create(
        &self,
        resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        let (_, manifest) = self.manifest(resource.rtype, inputs)?;
        let (located, object) = self.apply_manifest(&manifest).await?;
        Ok(Kubernetes::recorded(inputs, &located, &object))
    }

    async fn update(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        let (_, manifest) = self.manifest(resource.rtype, inputs)?;
        let (located, object) = self.apply_manifest(&manifest).await?;
        // A new name, namespace, group or kind is a new object: the old one goes. (A new
        // version of the same group and kind is the same object.)
        if let Ok((old, old_namespace)) = self.recorded_identity(resource.rtype, prior) {
            let group = |api_version: &str| {
                api_version
                    .rsplit_once('/')
                    .map_or(String::new(), |(g, _)| g.to_owned())
            };
            let new = &located.identity;
            let old_namespace = old_namespace.or_else(|| old.namespace.clone());
            let moved = group(&old.api_version) != group(&new.api_version)
                || old.kind != new.kind
                || old.name != new.name
                || old_namespace
                    .as_ref()
                    .is_some_and(|ns| located.namespace.as_ref() != Some(ns));
            if moved {
                self.delete_object(&old, old_namespace.as_deref()).await?;
            }
        }
        Ok(Kubernetes::recorded(inputs, &located, &object))
    }

    async fn delete(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<(), ProviderError> {
        let (identity, namespace) = self.recorded_identity(resource.rtype, prior)?;
        self.delete_object(&identity, namespace.as_deref()).await
    }

    async fn read(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<Option<Recorded>, ProviderError> {
        let Some(target) = self.read_target(resource, prior).await? else {
            return Ok(None);
        };
        let live = target
            .located
            .api
            .get_opt(&target.located.identity.name)
            .await
            .map_err(|e| cluster::remote(&format!("reading {}", target.located.describe()), e))?;
        match live {
            Some(live) => self.read_result(&target, &live, prior).map(Some),
            None => Ok(None),
        }
    }

    /// Reads every object of a kind that more than one item names with one LIST across
    /// namespaces (paged), the others with a GET each: refreshing a fleet makes about one call
    /// per kind instead of one per object. Where the credentials may not list a kind across
    /// namespaces, its objects are read one by one.
    async fn read_many(
        &self,
        items: &[(ResourceRef<'_>, &Recorded)],
    ) -> Vec<Result<Option<Recorded>, ProviderError>> {
        let mut targets = Vec::with_capacity(items.len());
        for (resource, prior) in items {
            targets.push(self.read_target(resource, prior).await);
        }
        let mut by_kind: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
        for (n, target) in targets.iter().enumerate() {
            if let Ok(Some(target)) = target {
                let identity = &target.located.identity;
                by_kind
                    .entry((&identity.api_version, &identity.kind))
                    .or_default()
                    .push(n);
            }
        }
        let mut listed: Vec<Option<Option<DynamicObject>>> =
            (0..items.len()).map(|_| None).collect();
        for indexes in by_kind.values().filter(|indexes| indexes.len() > 1) {
            let Some(Ok(Some(first))) = targets.get(indexes[0]) else {
                continue;
            };
            let key = |n: usize| match targets.get(n) {
                Some(Ok(Some(target))) => Some((
                    target.located.namespace.clone(),
                    target.located.identity.name.clone(),
                )),
                _ => None,
            };
            let wanted: HashSet<_> = indexes.iter().filter_map(|&n| key(n)).collect();
            let Ok(mut objects) = list_all(&first.located.all, &wanted).await else {
                continue; // Read one by one below, which reports any error per object.
            };
            let identity = &first.located.identity;
            // A list's items carry no apiVersion and kind: the list names them once.
            let types = kube::api::TypeMeta {
                api_version: identity.api_version.clone(),
                kind: identity.kind.clone(),
            };
            for &n in indexes {
                if let Some(key) = key(n) {
                    let mut object = objects.remove(&key);
                    if let Some(object) = &mut object {
                        object.types.get_or_insert_with(|| types.clone());
                    }
                    listed[n] = Some(object);
                }
            }
        }
        // What no LIST covered is read one by one (a kind read once, or credentials that may
        // not list across namespaces).
        let mut out = Vec::with_capacity(items.len());
        let mut single = Vec::new();
        for (n, target) in targets.into_iter().enumerate() {
            let (resource, prior) = &items[n];
            out.push(match (target, listed[n].take()) {
                (Err(error), _) => Err(error),
                (Ok(None), _) => Ok(None),
                (Ok(Some(target)), Some(Some(live))) => {
                    self.read_result(&target, &live, prior).map(Some)
                }
                (Ok(Some(_)), Some(None)) => Ok(None),
                (Ok(Some(_)), None) => {
                    single.push((n, (resource.clone(), *prior)));
                    Ok(None) // Replaced by the read below.
                }
            });
        }
        let (positions, rest): (Vec<usize>, Vec<_>) = single.into_iter().unzip();
        for (n, read) in positions.into_iter().zip(read_each(self, &rest).await) {
            out[n] = read;
        }
        out
    }

    async fn import(
        &self,
        resource: &ResourceRef<'_>,
        id: &str,
    ) -> Result<Recorded, ProviderError> {
        let kind = Kubernetes::kind(resource.rtype)?;
        let identity = parse_import_id(kind, id)?;
        let located = self.locate_served(&identity).await?;
        let live = located
            .api
            .get_opt(&identity.name)
            .await
            .map_err(|e| cluster::remote(&format!("reading {}", located.describe()), e))?
            .ok_or_else(|| {
                ProviderError::Remote(format!("{} does not exist", located.describe()))
            })?;
        let live = to_json(&live)?;
        // Only what someone set: adopting the server's defaults would plan their removal.
        let adopted = live::clean(&live::owned(&live).unwrap_or_else(|| live.clone()));
        let inputs = manifest::attributes(kind, adopted, &BTreeMap::new(), &self.settings.store)
            .ok_or_else(|| {
                ProviderError::Remote(format!(
                    "{} does not have the shape of a k8s.{} obp can manage",
                    located.describe(),
                    kind.name
                ))
            })?;
        Ok(Kubernetes::recorded(&inputs, &located, &live))
    }

    fn impact(&self, change: &obp_engine::provider::ChangeRef<'_>) -> obp_engine::provider::Impact {
        crate::impact::kubernetes(change)
    }

    fn describe_drift(
        &self,
        resource: &ResourceRef<'_>,
        recorded: &Recorded,
        live: &Recorded,
    ) -> Option<String> {
        let kind = kinds::by_type(resource.rtype)?;
        let store = &self.settings.store;
        let before = yaml(&manifest::manifest(kind, &recorded.inputs, store).ok()?)?;
        let after = yaml(&manifest::manifest(kind, &live.inputs, store).ok()?)?;
        let diff = similar::TextDiff::from_lines(&before, &after);
        Some(
            diff.unified_diff()
                .context_radius(2)
                .header(
                    &format!("{} (as obp applied it)", resource.address),
                    &format!("{} (live, fields obp manages)", resource.address),
                )
                .to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_ids() {
        let deployment = kinds::by_type("k8s.deployment").unwrap();
        assert_eq!(
            parse_import_id(deployment, "acme/web").unwrap(),
            Identity {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "web".into(),
                namespace: Some("acme".into())
            }
        );
        let namespace = kinds::by_type("k8s.namespace").unwrap();
        assert_eq!(parse_import_id(namespace, "acme").unwrap().namespace, None);
        let manifest = kinds::by_type("k8s.manifest").unwrap();
        let middleware =
            parse_import_id(manifest, "traefik.io/v1alpha1/Middleware/acme/strip").unwrap();
        assert_eq!(
            (
                middleware.api_version.as_str(),
                middleware.kind.as_str(),
                middleware.namespace.as_deref(),
                middleware.name.as_str()
            ),
            ("traefik.io/v1alpha1", "Middleware", Some("acme"), "strip")
        );
        assert_eq!(
            parse_import_id(manifest, "v1/Namespace/acme").unwrap().name,
            "acme"
        );
        for bad in ["a/b/c", "", "/web"] {
            assert!(parse_import_id(deployment, bad).is_err(), "{bad}");
        }
        assert!(parse_import_id(manifest, "acme/web").is_err());
    }
}
