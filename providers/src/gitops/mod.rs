//! The GitOps provider, obp's embedded default: renders Kubernetes objects and plain files
//! into a directory that Argo CD or Flux reconciles. Needs no cluster and no credentials.
//!
//! Layout: one directory per namespace (so per tenant with namespace-per-tenant stacks) under
//! the configured `dir`, one file per object, a `kustomization.yaml` per directory and one at
//! the root. Files are written atomically and never through a symlink ([`files`]); destroy
//! removes only files obp recorded; after each apply one pass ([`sweep`]) removes generated
//! files no resource owns and rewrites the kustomizations; a hand edit is drift, shown as a
//! unified diff and overwritten by the next apply. With
//! `commit = true` the directory's git repository gets a commit summarising each apply.

mod files;
mod render;
mod sweep;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use obp_engine::provider::{
    AttrSchema, AttrType, Claim, Owned, Provider, ProviderError, Recorded, ResourceRef,
    ResourceSchema, Sweep,
};
use serde_json::{json, Value as Json};

pub use files::{TEMP_SUFFIX, UNSAFE_PATH};
pub use render::HEADER;

use crate::attrs::check_options;
use crate::attrs::invalid;
use crate::kinds;
use crate::manifest::{self, bool_option, text_option, SecretStore};

/// The catalogue code of an output directory that holds the state.
pub const STATE_INSIDE: &str = "E0614";

/// How the rendered tree tells its GitOps controller the apply order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Argo CD: every object carries `argocd.argoproj.io/sync-wave`, its wave in the
    /// dependency graph. Argo CD applies a wave only once every object of the earlier waves is
    /// synced and healthy, so a backup checkpoint Job that fails (Degraded) holds back the
    /// upgrade Job and the new image of the waves after it. The default: Argo CD is the
    /// GitOps controller most teams run, and ordering needs nothing else in the tree.
    ArgoCd,
    /// No ordering: the controller applies the tree at once (what obp rendered before).
    Plain,
}

/// The annotation Argo CD orders a sync by.
pub const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";

/// Configuration of one GitOps output directory.
#[derive(Debug, Clone)]
pub struct GitOps {
    root: PathBuf,
    store: SecretStore,
    commit: bool,
    flavour: Flavour,
    /// The root with every existing part resolved: what claims and the state check compare.
    resolved_root: PathBuf,
}

impl GitOps {
    /// `dir` is relative to the stack directory unless absolute.
    pub fn new(stack_dir: &Path, attrs: &BTreeMap<String, Json>) -> Result<GitOps, ProviderError> {
        let mut known = vec!["dir", "commit", "flavour"];
        known.extend_from_slice(SecretStore::OPTIONS);
        check_options(attrs, &known)?;
        let root = stack_dir.join(text_option(attrs, "dir", "out")?);
        let flavour = match text_option(attrs, "flavour", "argocd")?.as_str() {
            "argocd" => Flavour::ArgoCd,
            "plain" => Flavour::Plain,
            "flux" => {
                return Err(ProviderError::Config(
                    "`flavour = \"flux\"` is not built yet (Kustomization stages with dependsOn): use \"argocd\" (sync waves) or \"plain\"".to_owned(),
                ))
            }
            other => {
                return Err(ProviderError::Config(format!(
                    "`flavour` is \"argocd\" (sync waves, the default) or \"plain\" (no order), not \"{other}\""
                )))
            }
        };
        Ok(GitOps {
            resolved_root: files::resolved(&root),
            root,
            store: SecretStore::from_options(attrs)?,
            commit: bool_option(attrs, "commit", false)?,
            flavour,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file for a resource and its content.
    fn render(
        &self,
        resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
        checks: Checks,
    ) -> Result<(String, String), ProviderError> {
        let (path, body) = self.target(resource.rtype, inputs, checks)?;
        let content = match body {
            Body::Text(text) => text,
            Body::Manifest(mut manifest) => {
                if let (Flavour::ArgoCd, Some(wave)) = (self.flavour, resource.order) {
                    annotate(&mut manifest, SYNC_WAVE, &wave.to_string());
                }
                render::yaml(&manifest)?
            }
        };
        Ok((path, content))
    }

    /// The file for a resource and what goes in it, before it is written out as text:
    /// plan needs only the path, and YAML is the costliest step of a render.
    fn target(
        &self,
        rtype: &str,
        inputs: &BTreeMap<String, Json>,
        checks: Checks,
    ) -> Result<(String, Body), ProviderError> {
        if rtype == "file.text" {
            let path = inputs
                .get("path")
                .and_then(Json::as_str)
                .ok_or_else(|| invalid("path", "`file.text` needs a `path`"))?;
            files::check_relative(path)?;
            let content = match inputs.get("content") {
                Some(Json::String(text)) => text.clone(),
                Some(other) if other.get("$secret").is_some() || other.get("$template").is_some() => {
                    return Err(invalid("content", "secret values are never written to files; reference them from the workload instead"))
                }
                _ => return Err(invalid("content", "`file.text` needs `content` as a string")),
            };
            return Ok((path.to_owned(), Body::Text(content)));
        }
        let kind = kinds::by_type(rtype)
            .ok_or_else(|| invalid("", format!("unknown resource type `{rtype}`")))?;
        let manifest = manifest::manifest(kind, inputs, &self.store)?;
        if checks == Checks::Run {
            if let Some(problem) = manifest::check(kind, &manifest).into_iter().next() {
                return Err(problem);
            }
        }
        let path = render::relative_path(kind, &manifest)?;
        Ok((path, Body::Manifest(manifest)))
    }

    fn write(&self, relative: &str, content: &str) -> Result<(), ProviderError> {
        files::write(&self.root, relative, content)
    }

    fn remove(&self, relative: &str) -> Result<(), ProviderError> {
        files::remove_file(&self.root, relative)
    }

    fn read_file(&self, relative: &str) -> Result<Option<String>, ProviderError> {
        files::read(&self.root, relative)
    }

    /// Refuses an output directory that holds `state` (the state file, or its journal, backup,
    /// lock or temp file beside it): a rendered file could overwrite it, and the sweep of
    /// strays and the kustomizations would treat the stack directory as obp's.
    pub fn check_state_outside(&self, state: &Path) -> Result<(), ProviderError> {
        let state = files::resolved(state);
        if !state.starts_with(&self.resolved_root) {
            return Ok(());
        }
        Err(ProviderError::Rejected {
            code: STATE_INSIDE,
            attribute: None,
            message: format!(
                "the output directory `{}` contains the state file `{}` (and its journal, backup and lock)",
                self.root.display(),
                state.display()
            ),
            help: "give the provider a directory of its own, such as `dir = \"out\"`, or keep the state elsewhere with `backend local { path = \"…\" }`".to_owned(),
        })
    }

    fn recorded(inputs: &BTreeMap<String, Json>, path: String) -> Recorded {
        Recorded {
            inputs: inputs.clone(),
            outputs: BTreeMap::from([("path".to_owned(), json!(path))]),
        }
    }
}

/// What goes in a resource's file.
enum Body {
    Manifest(Json),
    Text(String),
}

/// Whether [`GitOps::target`] runs the kind's checks (the typed round trip and the API
/// rules): plan's validation and every write do; finding the path a resource claims, or what
/// obp wrote from inputs it checked then, need not repeat them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checks {
    Run,
    Skip,
}

/// Sets `metadata.annotations[key]` of a manifest.
fn annotate(manifest: &mut Json, key: &str, value: &str) {
    if let Some(metadata) = manifest.get_mut("metadata").and_then(Json::as_object_mut) {
        let annotations = metadata
            .entry("annotations")
            .or_insert_with(|| Json::Object(Default::default()));
        if let Some(map) = annotations.as_object_mut() {
            map.insert(key.to_owned(), json!(value));
        }
    }
}

/// Removes an annotation obp added from attributes read back, and the annotations map it
/// leaves empty when the configuration had none.
fn unannotate(inputs: &mut BTreeMap<String, Json>, key: &str, prior: &BTreeMap<String, Json>) {
    let Some(metadata) = inputs.get_mut("metadata").and_then(Json::as_object_mut) else {
        return;
    };
    let emptied = match metadata
        .get_mut("annotations")
        .and_then(Json::as_object_mut)
    {
        Some(annotations) => {
            annotations.remove(key);
            annotations.is_empty()
        }
        None => false,
    };
    let had_annotations = prior
        .get("metadata")
        .is_some_and(|m| m.get("annotations").is_some());
    if emptied && !had_annotations {
        metadata.remove("annotations");
    }
}

/// Resource schemas: every known Kubernetes kind plus `file.text`.
pub fn schemas() -> Vec<ResourceSchema> {
    let mut schemas = manifest::kind_schemas(&[AttrSchema::new("path", AttrType::String)
        .computed()
        .doc("the file written, relative to the output directory")]);
    schemas.push(ResourceSchema {
        rtype: "file.text".to_owned(),
        attributes: vec![
            AttrSchema::new("path", AttrType::String)
                .required()
                .force_new()
                .doc("relative to the output directory"),
            AttrSchema::new("content", AttrType::String).required(),
        ],
        open: false,
        replace_on: Vec::new(),
        list_keys: Vec::new(),
        doc: "a plain text file, such as a rendered odoo.conf",
    });
    schemas
}

#[async_trait]
impl Provider for GitOps {
    fn kind(&self) -> &str {
        "gitops"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        schemas()
    }

    fn orders(&self, rtype: &str) -> bool {
        self.flavour == Flavour::ArgoCd && rtype.starts_with("k8s.")
    }

    fn validate(
        &self,
        _resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Vec<ProviderError> {
        // With values known only after apply the manifest cannot be rendered yet: apply
        // renders (and so checks) it once they are known.
        if inputs.values().any(obp_engine::resolve::is_unknown) {
            return Vec::new();
        }
        // A symlink planted where the file goes is refused now, before anything is written
        // (apply checks again as it writes).
        match self
            .target(_resource.rtype, inputs, Checks::Run)
            .and_then(|(path, _)| files::check_writable(&self.root, &path))
        {
            Ok(()) => Vec::new(),
            Err(error) => vec![error],
        }
    }

    /// The file a resource is written to, under the resolved root: two resources rendering
    /// the same object (kind, namespace and name) or the same `file.text` path claim one file.
    fn claims(&self, resource: &ResourceRef<'_>, inputs: &BTreeMap<String, Json>) -> Vec<Claim> {
        if inputs.values().any(obp_engine::resolve::is_unknown) {
            return Vec::new();
        }
        match self.target(resource.rtype, inputs, Checks::Skip) {
            Ok((path, _)) => vec![format!("`{}`", self.resolved_root.join(path).display())],
            Err(_) => Vec::new(),
        }
    }

    async fn sweep(&self, owned: &[Owned<'_>], remove: bool) -> Result<Sweep, ProviderError> {
        sweep::sweep(&self.root, owned, remove)
    }

    async fn create(
        &self,
        resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        let (path, content) = self.render(resource, inputs, Checks::Run)?;
        if let Some(existing) = self.read_file(&path)? {
            if existing != content && !existing.starts_with(HEADER) {
                return Err(ProviderError::Remote(format!(
                    "`{path}` already exists and was not written by obp; move it away or import it"
                )));
            }
        }
        self.write(&path, &content)?;
        Ok(Self::recorded(inputs, path))
    }

    async fn update(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        let (path, content) = self.render(resource, inputs, Checks::Run)?;
        let old = prior
            .outputs
            .get("path")
            .and_then(Json::as_str)
            .map(str::to_owned);
        self.write(&path, &content)?;
        if let Some(old) = old.filter(|o| *o != path) {
            self.remove(&old)?;
        }
        Ok(Self::recorded(inputs, path))
    }

    async fn delete(
        &self,
        _resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<(), ProviderError> {
        match prior.outputs.get("path").and_then(Json::as_str) {
            Some(path) => self.remove(path),
            None => Ok(()),
        }
    }

    async fn read(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<Option<Recorded>, ProviderError> {
        let Some(path) = prior.outputs.get("path").and_then(Json::as_str) else {
            return Ok(None);
        };
        let Some(text) = self.read_file(path)? else {
            return Ok(None);
        };
        let expected = self
            .render(resource, &prior.inputs, Checks::Skip)
            .map(|(_, c)| c)
            .ok();
        if expected.as_deref() == Some(text.as_str()) {
            return Ok(Some(prior.clone()));
        }
        let inputs = if resource.rtype == "file.text" {
            let mut inputs = prior.inputs.clone();
            inputs.insert("content".to_owned(), json!(text));
            inputs
        } else {
            let kind = kinds::by_type(resource.rtype).ok_or_else(|| invalid("", "unknown kind"))?;
            match render::attributes(kind, &text, &prior.inputs, &self.store) {
                Some(mut inputs) => {
                    // The wave is obp's own (the state holds it), not an attribute.
                    unannotate(&mut inputs, SYNC_WAVE, &prior.inputs);
                    inputs
                }
                None => BTreeMap::from([("unparseable_file".to_owned(), json!(path))]),
            }
        };
        Ok(Some(Recorded {
            inputs,
            outputs: prior.outputs.clone(),
        }))
    }

    async fn import(
        &self,
        resource: &ResourceRef<'_>,
        id: &str,
    ) -> Result<Recorded, ProviderError> {
        let text = self.read_file(id)?.ok_or_else(|| {
            ProviderError::Remote(format!("no file `{id}` under {}", self.root.display()))
        })?;
        let inputs = if resource.rtype == "file.text" {
            BTreeMap::from([
                ("path".to_owned(), json!(id)),
                ("content".to_owned(), json!(text)),
            ])
        } else {
            let kind = kinds::by_type(resource.rtype).ok_or_else(|| invalid("", "unknown kind"))?;
            let mut inputs = render::attributes(kind, &text, &BTreeMap::new(), &self.store)
                .ok_or_else(|| {
                    ProviderError::Remote(format!("`{id}` is not a manifest of kind {}", kind.kind))
                })?;
            unannotate(&mut inputs, SYNC_WAVE, &BTreeMap::new());
            inputs
        };
        Ok(Self::recorded(&inputs, id.to_owned()))
    }

    fn impact(&self, change: &obp_engine::provider::ChangeRef<'_>) -> obp_engine::provider::Impact {
        crate::impact::kubernetes(change)
    }

    fn describe_drift(
        &self,
        resource: &ResourceRef<'_>,
        recorded: &Recorded,
        _live: &Recorded,
    ) -> Option<String> {
        let path = recorded.outputs.get("path")?.as_str()?;
        let expected = self
            .render(resource, &recorded.inputs, Checks::Skip)
            .ok()?
            .1;
        let actual = self.read_file(path).ok()??;
        let diff = similar::TextDiff::from_lines(&expected, &actual);
        Some(
            diff.unified_diff()
                .context_radius(2)
                .header(
                    &format!("{path} (as obp wrote it)"),
                    &format!("{path} (on disk)"),
                )
                .to_string(),
        )
    }

    async fn finish(&self, summary: &str) -> Result<(), ProviderError> {
        if !self.commit {
            return Ok(());
        }
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .arg("-C")
                .arg(&self.root)
                .args(args)
                .output()
                .map_err(|e| ProviderError::Remote(format!("cannot run git: {e}")))
        };
        let status = git(&["status", "--porcelain", "--", "."])?;
        if !status.status.success() {
            return Err(ProviderError::Remote(format!(
                "`commit = true` needs {} inside a git repository: {}",
                self.root.display(),
                String::from_utf8_lossy(&status.stderr).trim()
            )));
        }
        if status.stdout.is_empty() {
            return Ok(());
        }
        git(&["add", "-A", "--", "."])?;
        let commit = git(&["commit", "-q", "-m", summary, "--", "."])?;
        if commit.status.success() {
            Ok(())
        } else {
            Err(ProviderError::Remote(format!(
                "git commit failed: {}",
                String::from_utf8_lossy(&commit.stderr).trim()
            )))
        }
    }
}
