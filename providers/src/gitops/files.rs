//! File system access confined to the output directory: every path is relative and made of
//! normal components, every component under the root is checked with `symlink_metadata` and a
//! symlink is refused (so nothing planted under the root can redirect a write, a read or a
//! remove outside it), temp files are created exclusively (`O_CREAT | O_EXCL`, which never
//! follows a symlink either) and removal unlinks without following.
//!
//! The root itself may be a symlink: it is what the stack declared.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Component, Path, PathBuf};

use obp_engine::provider::ProviderError;

use crate::attrs::invalid;

/// The catalogue code of a refused path under the output directory.
pub const UNSAFE_PATH: &str = "E0707";

/// Suffix of the temp file written beside each file before it is renamed into place.
pub const TEMP_SUFFIX: &str = ".obp-tmp";

/// A relative path of normal components only: no `..`, no root, nothing empty.
pub fn check_relative(path: &str) -> Result<(), ProviderError> {
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

/// The refusal for a symlink (or another unexpected entry) found at `path`.
pub fn refused(path: &Path, what: &str) -> ProviderError {
    ProviderError::Rejected {
        code: UNSAFE_PATH,
        attribute: None,
        message: format!(
            "`{}` is {what}; obp writes, reads and removes only plain files and directories under its output directory",
            path.display()
        ),
        help: format!(
            "remove or move `{}` (nothing was written through it), then run the command again",
            path.display()
        ),
    }
}

pub fn io(path: &Path, error: std::io::Error) -> ProviderError {
    ProviderError::Remote(format!("{}: {error}", path.display()))
}

/// What is at `path`, without following a symlink there.
enum Entry {
    Missing,
    File,
    Dir,
    Symlink,
    Other,
}

fn entry(path: &Path) -> Result<Entry, ProviderError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Ok(Entry::Symlink),
        Ok(meta) if meta.is_dir() => Ok(Entry::Dir),
        Ok(meta) if meta.is_file() => Ok(Entry::File),
        Ok(_) => Ok(Entry::Other),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Entry::Missing),
        Err(e) => Err(io(path, e)),
    }
}

/// The directories between `root` and the file `relative`, checked: `Ok(None)` if one does not
/// exist (and `create` is off), a refusal if one is a symlink or not a directory.
fn parent_dirs(
    root: &Path,
    relative: &str,
    create: bool,
) -> Result<Option<PathBuf>, ProviderError> {
    check_relative(relative)?;
    if create {
        fs::create_dir_all(root).map_err(|e| io(root, e))?;
    }
    let mut dir = root.to_path_buf();
    let components: Vec<Component> = Path::new(relative).components().collect();
    for component in &components[..components.len().saturating_sub(1)] {
        dir.push(component.as_os_str());
        match entry(&dir)? {
            Entry::Dir => {}
            Entry::Missing if create => match fs::create_dir(&dir) {
                Ok(()) => {}
                // A parallel write made it: check what it is like any other.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    if !matches!(entry(&dir)?, Entry::Dir) {
                        return Err(refused(&dir, "not a directory"));
                    }
                }
                Err(e) => return Err(io(&dir, e)),
            },
            Entry::Missing => return Ok(None),
            Entry::Symlink => return Err(refused(&dir, "a symlink")),
            Entry::File | Entry::Other => return Err(refused(&dir, "not a directory")),
        }
    }
    Ok(Some(root.join(relative)))
}

/// The file at `relative`, checked: a refusal if it is a symlink or not a plain file.
fn checked_file(path: &Path) -> Result<bool, ProviderError> {
    match entry(path)? {
        Entry::Missing => Ok(false),
        Entry::File => Ok(true),
        Entry::Symlink => Err(refused(path, "a symlink")),
        Entry::Dir | Entry::Other => Err(refused(path, "not a plain file")),
    }
}

/// `path` with [`TEMP_SUFFIX`] appended to its file name.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(TEMP_SUFFIX);
    path.with_file_name(name)
}

/// Writes `content` to `root/relative` atomically (an exclusive temp file renamed into place).
pub fn write(root: &Path, relative: &str, content: &str) -> Result<(), ProviderError> {
    let Some(path) = parent_dirs(root, relative, true)? else {
        return Err(io(root, std::io::Error::from(ErrorKind::NotFound)));
    };
    checked_file(&path)?;
    let temp = temp_path(&path);
    let mut file = match create_new(&temp) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            // The leftover of an interrupted write is ours to replace; anything else is not.
            checked_file(&temp)?;
            remove(&temp)?;
            create_new(&temp).map_err(|e| io(&temp, e))?
        }
        other => other.map_err(|e| io(&temp, e))?,
    };
    let written = file.write_all(content.as_bytes());
    drop(file);
    if let Err(e) = written.and_then(|()| fs::rename(&temp, &path)) {
        let _ = fs::remove_file(&temp);
        return Err(io(&path, e));
    }
    Ok(())
}

/// Creates a file that did not exist; `O_EXCL` fails on any existing entry, a symlink included.
fn create_new(path: &Path) -> std::io::Result<fs::File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// Removes `root/relative` if it is there; never through or of a symlink.
pub fn remove_file(root: &Path, relative: &str) -> Result<(), ProviderError> {
    let Some(path) = parent_dirs(root, relative, false)? else {
        return Ok(());
    };
    if checked_file(&path)? {
        remove(&path)?;
    }
    Ok(())
}

/// Unlinks `path` (which never follows a symlink); already gone is fine.
pub fn remove(path: &Path) -> Result<(), ProviderError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path, e)),
    }
}

/// The text of `root/relative`, `None` if it does not exist; never read through a symlink.
pub fn read(root: &Path, relative: &str) -> Result<Option<String>, ProviderError> {
    let Some(path) = parent_dirs(root, relative, false)? else {
        return Ok(None);
    };
    if !checked_file(&path)? {
        return Ok(None);
    }
    match fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&path, e)),
    }
}

/// Checks, without changing anything, that writing `root/relative` would not go through a
/// symlink (for plan time, so the refusal comes before anything is written).
pub fn check_writable(root: &Path, relative: &str) -> Result<(), ProviderError> {
    if let Some(path) = parent_dirs(root, relative, false)? {
        checked_file(&path)?;
        match entry(&temp_path(&path))? {
            Entry::Missing | Entry::File => {}
            Entry::Symlink => return Err(refused(&temp_path(&path), "a symlink")),
            Entry::Dir | Entry::Other => {
                return Err(refused(&temp_path(&path), "not a plain file"))
            }
        }
    }
    Ok(())
}

/// `path` made absolute with every existing part resolved (symlinks included), so two
/// spellings of one place compare equal; the parts that do not exist yet are appended as given.
pub fn resolved(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut missing = Vec::new();
    let mut existing = absolute.as_path();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in missing.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}
