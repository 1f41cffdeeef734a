//! The GitOps provider, obp's embedded default: renders Kubernetes objects and plain files
//! into a directory that Argo CD or Flux reconciles. Needs no cluster and no credentials.
//!
//! Layout: one directory per namespace (so per tenant with namespace-per-tenant stacks) under
//! the configured `dir`, one file per object, a `kustomization.yaml` per directory and one at
//! the root. Files are written atomically; destroy removes only files obp recorded; a hand
//! edit is drift, shown as a unified diff and overwritten by the next apply. With
//! `commit = true` the directory's git repository gets a commit summarising each apply.

mod render;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use obp_engine::provider::{
    AttrSchema, AttrType, Provider, ProviderError, Recorded, ResourceRef, ResourceSchema,
};
use serde_json::{json, Value as Json};

pub use render::HEADER;

use crate::attrs::check_options;
use crate::attrs::invalid;
use crate::kinds;
use crate::manifest::{self, bool_option, text_option, SecretStore};

/// Configuration of one GitOps output directory.
#[derive(Debug, Clone)]
pub struct GitOps {
    root: PathBuf,
    store: SecretStore,
    commit: bool,
    /// Serialises kustomization rewrites between parallel applies.
    layout: std::sync::Arc<Mutex<()>>,
}

impl GitOps {
    /// `dir` is relative to the stack directory unless absolute.
    pub fn new(stack_dir: &Path, attrs: &BTreeMap<String, Json>) -> Result<GitOps, ProviderError> {
        let mut known = vec!["dir", "commit"];
        known.extend_from_slice(SecretStore::OPTIONS);
        check_options(attrs, &known)?;
        Ok(GitOps {
            root: stack_dir.join(text_option(attrs, "dir", "out")?),
            store: SecretStore::from_options(attrs)?,
            commit: bool_option(attrs, "commit", false)?,
            layout: std::sync::Arc::new(Mutex::new(())),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file for a resource and its content.
    fn render(
        &self,
        rtype: &str,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<(String, String), ProviderError> {
        if rtype == "file.text" {
            let path = inputs
                .get("path")
                .and_then(Json::as_str)
                .ok_or_else(|| invalid("path", "`file.text` needs a `path`"))?;
            check_relative(path)?;
            let content = match inputs.get("content") {
                Some(Json::String(text)) => text.clone(),
                Some(other) if other.get("$secret").is_some() || other.get("$template").is_some() => {
                    return Err(invalid("content", "secret values are never written to files; reference them from the workload instead"))
                }
                _ => return Err(invalid("content", "`file.text` needs `content` as a string")),
            };
            return Ok((path.to_owned(), content));
        }
        let kind = kinds::by_type(rtype)
            .ok_or_else(|| invalid("", format!("unknown resource type `{rtype}`")))?;
        let manifest = manifest::manifest(kind, inputs, &self.store)?;
        if let Some(problem) = manifest::check(kind, &manifest).into_iter().next() {
            return Err(problem);
        }
        let path = render::relative_path(kind, &manifest)?;
        Ok((path, render::yaml(&manifest)?))
    }

    /// An absolute path under the root, refusing anything that could leave it.
    fn full_path(&self, relative: &str) -> Result<PathBuf, ProviderError> {
        check_relative(relative)?;
        Ok(self.root.join(relative))
    }

    fn write(&self, relative: &str, content: &str) -> Result<(), ProviderError> {
        let path = self.full_path(relative)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let temp = path.with_extension("obp-tmp");
        std::fs::write(&temp, content).map_err(|e| io(&temp, e))?;
        std::fs::rename(&temp, &path).map_err(|e| io(&path, e))?;
        self.relayout(relative)
    }

    fn remove(&self, relative: &str) -> Result<(), ProviderError> {
        let path = self.full_path(relative)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path, e)),
        }
        self.relayout(relative)
    }

    /// Rewrites the kustomization of the file's directory and of the root.
    fn relayout(&self, relative: &str) -> Result<(), ProviderError> {
        let _guard = self
            .layout
            .lock()
            .map_err(|_| ProviderError::Remote("layout lock poisoned".to_owned()))?;
        let Some(first) = Path::new(relative).components().next() else {
            return Ok(());
        };
        if Path::new(relative).components().count() > 1 {
            let dir = self.root.join(first.as_os_str());
            kustomize(&dir, &generated_files(&dir))?;
        }
        let subdirs: Vec<String> = std::fs::read_dir(&self.root)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().join("kustomization.yaml").is_file())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let mut resources = generated_files(&self.root);
        resources.extend(subdirs);
        kustomize(&self.root, &resources)
    }

    fn read_file(&self, relative: &str) -> Result<Option<String>, ProviderError> {
        let path = self.full_path(relative)?;
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    fn recorded(inputs: &BTreeMap<String, Json>, path: String) -> Recorded {
        Recorded {
            inputs: inputs.clone(),
            outputs: BTreeMap::from([("path".to_owned(), json!(path))]),
        }
    }
}

fn io(path: &Path, error: std::io::Error) -> ProviderError {
    ProviderError::Remote(format!("{}: {error}", path.display()))
}

/// A relative path of normal components only: no `..`, no root, nothing empty.
fn check_relative(path: &str) -> Result<(), ProviderError> {
    let ok = !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        && !path.contains('\\');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "path",
            format!(
                "`{path}` must stay inside the output directory (a relative path without `..`)"
            ),
        ))
    }
}

/// YAML files in `dir` that obp generated (they start with [`HEADER`]), sorted.
fn generated_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.ends_with(".yaml")
                        && name != "kustomization.yaml"
                        && std::fs::read_to_string(e.path()).is_ok_and(|t| t.starts_with(HEADER))
                })
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Writes (or, when there is nothing to list, removes) `dir/kustomization.yaml`.
fn kustomize(dir: &Path, resources: &[String]) -> Result<(), ProviderError> {
    let path = dir.join("kustomization.yaml");
    if resources.is_empty() {
        match std::fs::remove_file(&path) {
            Ok(()) | Err(_) => {}
        }
        // Leave the directory if anything else (not ours) is still in it.
        let _ = std::fs::remove_dir(dir);
        return Ok(());
    }
    let mut sorted = resources.to_vec();
    sorted.sort();
    let manifest = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted,
    });
    let text = render::yaml(&manifest)?;
    if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let temp = dir.join(".kustomization.yaml.obp-tmp");
    std::fs::write(&temp, &text).map_err(|e| io(&temp, e))?;
    std::fs::rename(&temp, &path).map_err(|e| io(&path, e))
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
        match self.render(_resource.rtype, inputs) {
            Ok(_) => Vec::new(),
            Err(error) => vec![error],
        }
    }

    async fn create(
        &self,
        resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        let (path, content) = self.render(resource.rtype, inputs)?;
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
        let (path, content) = self.render(resource.rtype, inputs)?;
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
            .render(resource.rtype, &prior.inputs)
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
            render::attributes(kind, &text, &prior.inputs, &self.store)
                .unwrap_or_else(|| BTreeMap::from([("unparseable_file".to_owned(), json!(path))]))
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
            render::attributes(kind, &text, &BTreeMap::new(), &self.store).ok_or_else(|| {
                ProviderError::Remote(format!("`{id}` is not a manifest of kind {}", kind.kind))
            })?
        };
        Ok(Self::recorded(&inputs, id.to_owned()))
    }

    fn describe_drift(
        &self,
        resource: &ResourceRef<'_>,
        recorded: &Recorded,
        _live: &Recorded,
    ) -> Option<String> {
        let path = recorded.outputs.get("path")?.as_str()?;
        let expected = self.render(resource.rtype, &recorded.inputs).ok()?.1;
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
