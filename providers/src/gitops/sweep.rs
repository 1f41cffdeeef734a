//! One pass over the output directory after an apply (and, without changing anything, at plan
//! and drift): files obp generated that no resource in state owns (left by an interrupted
//! apply, or by a resource removed while its file was being written) and leftover temp files
//! are strays, removed; every `kustomization.yaml` is rebuilt from the files state owns.
//!
//! Writing kustomizations here, once per directory per apply, instead of after every file
//! keeps an apply linear in the number of files; doing it from what is on disk and in state,
//! not from what this run wrote, repairs the tree after an apply that was killed.
//!
//! Foreign files (without obp's header) are never touched; symlinks are neither followed nor
//! removed.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io::Read;
use std::path::Path;

use obp_engine::provider::{Owned as InState, ProviderError, Sweep};
use serde_json::{json, Value as Json};

use super::files::{self, TEMP_SUFFIX};
use super::render::{self, HEADER};

const KUSTOMIZATION: &str = "kustomization.yaml";

/// Files owned by resources in state, relative to the root.
struct Owned {
    /// Every file (objects and `file.text`).
    all: HashSet<String>,
    /// Files of Kubernetes objects: what kustomizations list.
    objects: HashSet<String>,
}

impl Owned {
    fn new(owned: &[InState<'_>]) -> Owned {
        let mut all = HashSet::new();
        let mut objects = HashSet::new();
        for resource in owned {
            let Some(path) = resource.outputs.get("path").and_then(Json::as_str) else {
                continue;
            };
            all.insert(path.to_owned());
            if resource.rtype != "file.text" {
                objects.insert(path.to_owned());
            }
        }
        Owned { all, objects }
    }
}

/// One directory's listing, without following symlinks.
#[derive(Default)]
struct Listing {
    files: Vec<String>,
    dirs: Vec<String>,
}

fn list(dir: &Path) -> Result<Listing, ProviderError> {
    let mut listing = Listing::default();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(listing),
        Err(e) => return Err(files::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| files::io(dir, e))?;
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if kind.is_dir() {
            listing.dirs.push(name);
        } else if kind.is_file() {
            listing.files.push(name);
        }
        // Symlinks and other entries are not obp's: neither followed nor removed.
    }
    listing.files.sort();
    listing.dirs.sort();
    Ok(listing)
}

/// Whether the file starts with obp's generated header (reads only that much).
fn generated(path: &Path) -> bool {
    let mut start = vec![0; HEADER.len()];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut start))
        .is_ok_and(|()| start == HEADER.as_bytes())
}

/// Finds strays and outdated kustomizations under `root`; with `remove`, removes the strays
/// and rewrites the kustomizations.
pub fn sweep(root: &Path, owned: &[InState<'_>], remove: bool) -> Result<Sweep, ProviderError> {
    let mut found = Sweep::default();
    if !root.is_dir() {
        return Ok(found);
    }
    let owned = Owned::new(owned);
    let top = list(root)?;
    // Subdirectories (by name) that list a kustomization once this pass is done.
    let mut kustomized = BTreeSet::new();
    // Hidden directories (`.git` of `commit = true`) are never obp's.
    for dir in top.dirs.iter().filter(|d| !d.starts_with('.')) {
        let path = root.join(dir);
        let listing = list(&path)?;
        let mut objects = Vec::new();
        for name in &listing.files {
            let relative = format!("{dir}/{name}");
            if owned.objects.contains(&relative) && name.ends_with(".yaml") {
                objects.push(name.clone());
            } else if is_stray(&path.join(name), name, owned.all.contains(&relative)) {
                stray(&path.join(name), remove, &mut found)?;
            }
        }
        for sub in listing.dirs.iter().filter(|d| !d.starts_with('.')) {
            temp_files(&path.join(sub), remove, &mut found)?;
        }
        if kustomize(&path, &listing, &objects, remove, &mut found)? {
            kustomized.insert(dir.clone());
        }
        if remove && objects.is_empty() {
            // Only succeeds when nothing (foreign) is left in it.
            let _ = fs::remove_dir(&path);
        }
    }
    let mut resources: Vec<String> = Vec::new();
    for name in &top.files {
        if owned.objects.contains(name) && name.ends_with(".yaml") {
            resources.push(name.clone());
        } else if is_stray(&root.join(name), name, owned.all.contains(name)) {
            stray(&root.join(name), remove, &mut found)?;
        }
    }
    resources.extend(kustomized);
    kustomize(root, &top, &resources, remove, &mut found)?;
    Ok(found)
}

/// A temp file left by an interrupted write, or a generated manifest no resource owns.
fn is_stray(path: &Path, name: &str, owned: bool) -> bool {
    if name.ends_with(TEMP_SUFFIX) {
        return true;
    }
    !owned && name.ends_with(".yaml") && name != KUSTOMIZATION && generated(path)
}

fn stray(path: &Path, remove: bool, found: &mut Sweep) -> Result<(), ProviderError> {
    if remove {
        files::remove(path)?;
    }
    found.strays.push(path.display().to_string());
    Ok(())
}

/// Temp files anywhere below `dir` (deeper `file.text` paths), not in hidden directories.
fn temp_files(dir: &Path, remove: bool, found: &mut Sweep) -> Result<(), ProviderError> {
    let listing = list(dir)?;
    for name in listing.files.iter().filter(|n| n.ends_with(TEMP_SUFFIX)) {
        stray(&dir.join(name), remove, found)?;
    }
    for sub in listing.dirs.iter().filter(|d| !d.starts_with('.')) {
        temp_files(&dir.join(sub), remove, found)?;
    }
    Ok(())
}

/// Brings `dir/kustomization.yaml` to list `resources` (removed when there are none, unless
/// it is a foreign one). Returns whether the directory has a kustomization afterwards.
fn kustomize(
    dir: &Path,
    listing: &Listing,
    resources: &[String],
    remove: bool,
    found: &mut Sweep,
) -> Result<bool, ProviderError> {
    let path = dir.join(KUSTOMIZATION);
    let present = listing.files.iter().any(|f| f == KUSTOMIZATION);
    let current = if present {
        fs::read_to_string(&path).ok()
    } else {
        None
    };
    if resources.is_empty() {
        let ours = current.as_deref().is_some_and(|t| t.starts_with(HEADER));
        if ours {
            found.outdated.push(path.display().to_string());
            if remove {
                files::remove(&path)?;
            }
        }
        return Ok(present && !ours);
    }
    let text = kustomization(resources)?;
    if current.as_deref() != Some(text.as_str()) {
        found.outdated.push(path.display().to_string());
        if remove {
            files::write(dir, KUSTOMIZATION, &text)?;
        }
    }
    Ok(true)
}

/// The text of a kustomization listing `resources` (sorted).
pub fn kustomization(resources: &[String]) -> Result<String, ProviderError> {
    let mut sorted = resources.to_vec();
    sorted.sort();
    let manifest: BTreeMap<&str, Json> = BTreeMap::from([
        ("apiVersion", json!("kustomize.config.k8s.io/v1beta1")),
        ("kind", json!("Kustomization")),
        ("resources", json!(sorted)),
    ]);
    render::yaml(&json!(manifest))
}
