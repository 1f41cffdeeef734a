//! Loads a stack and every module it imports, by dotted name from the blueprint search path
//! or by path relative to the importing file; reports missing modules and import cycles.
//!
//! Search order for `use a.b`: `<stack dir>/blueprints/`, each directory in `OBP_PATH`
//! (colon-separated), then the blueprint library built into obp (the repository's
//! `blueprints/`). Module `a.b` is the file `a/b.obp` or all `*.obp` files in `a/b/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};

use crate::ast::{File, ItemKind, ModuleSource, UseDecl};
use crate::diagnostics::Diagnostics;
use crate::errors::NameError;
use crate::parse::{self, Comment};
use crate::span::{SourceMap, Span};

/// The blueprint library shipped inside the binary.
static BUILTIN: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../blueprints");

/// Display prefix for files of the built-in library.
pub const BUILTIN_PREFIX: &str = "<builtin>/";

/// Deepest chain of imports accepted.
pub const MAX_MODULE_DEPTH: usize = 32;

/// Index of a module in [`Program::modules`]; the stack itself is module 0.
pub type ModuleId = usize;

/// A stack with all the modules it imports, parsed.
#[derive(Debug, Default)]
pub struct Program {
    pub modules: Vec<Module>,
}

/// One module: the files that make it up and where each of its `use` declarations leads.
#[derive(Debug)]
pub struct Module {
    /// `odoo.tenant`, a path for path imports, or the stack directory for the root.
    pub name: String,
    pub files: Vec<File>,
    pub comments: Vec<Vec<Comment>>,
    /// Resolved imports, keyed by the span of the `use` declaration's source.
    pub imports: HashMap<Span, ModuleId>,
    /// Whether it was imported by dotted name (its `module` header must match).
    pub named: bool,
}

/// Where modules come from.
#[derive(Debug, Clone)]
pub struct SearchPath {
    pub dirs: Vec<PathBuf>,
    /// Also search the built-in library.
    pub builtin: bool,
}

impl SearchPath {
    /// The default search path for a stack in `stack_dir`.
    pub fn for_stack(stack_dir: &Path) -> SearchPath {
        let mut dirs = vec![stack_dir.join("blueprints")];
        if let Some(paths) = std::env::var_os("OBP_PATH") {
            dirs.extend(std::env::split_paths(&paths).filter(|p| !p.as_os_str().is_empty()));
        }
        SearchPath {
            dirs,
            builtin: true,
        }
    }
}

/// The source files of one module, before parsing.
struct Sources {
    /// (display name, text)
    files: Vec<(String, FileText)>,
    /// Identity for cycle detection and de-duplication.
    key: String,
    /// Directory that relative imports in these files start from (None for built-in files).
    dir: Option<PathBuf>,
}

struct Loader<'a> {
    sources: &'a mut SourceMap,
    diagnostics: &'a mut Diagnostics,
    search: SearchPath,
    program: Program,
    by_key: HashMap<String, ModuleId>,
    /// Modules being loaded, outermost first, for cycle reports.
    in_progress: Vec<String>,
    dirs: Vec<Option<PathBuf>>,
}

/// Loads the stack at `path` (a directory of `*.obp` files or one file).
pub fn load(
    path: &Path,
    search: SearchPath,
    sources: &mut SourceMap,
    diagnostics: &mut Diagnostics,
) -> Program {
    let mut loader = Loader {
        sources,
        diagnostics,
        search,
        program: Program::default(),
        by_key: HashMap::new(),
        in_progress: Vec::new(),
        dirs: Vec::new(),
    };
    let root = match read_stack(path) {
        Ok(root) => root,
        Err(Unreadable::NotBlueprint) => {
            loader.diagnostics.push(NameError::NotBlueprint {
                span: None,
                path: path.display().to_string(),
            });
            return loader.program;
        }
        Err(Unreadable::Reason(reason)) => {
            loader.diagnostics.push(NameError::Unreadable {
                span: None,
                path: path.display().to_string(),
                reason,
            });
            return loader.program;
        }
    };
    loader.load_module(root, path.display().to_string(), false, 0);
    loader.program
}

/// Why a stack or module path gives no sources.
enum Unreadable {
    /// Neither a `.obp` file nor a directory: not read at all.
    NotBlueprint,
    Reason(String),
}

/// Reads a stack or a path-imported module: a directory of `.obp` files, or one `.obp` file.
/// Any other file is refused before it is read, so that its text never reaches a diagnostic.
fn read_stack(path: &Path) -> Result<Sources, Unreadable> {
    let metadata = std::fs::metadata(path).map_err(|e| Unreadable::Reason(e.to_string()))?;
    if !metadata.is_dir() && path.extension().is_none_or(|e| e != "obp") {
        return Err(Unreadable::NotBlueprint);
    }
    if metadata.is_dir() {
        let files = read_dir_sources(path).map_err(Unreadable::Reason)?;
        if files.is_empty() {
            return Err(Unreadable::Reason(
                "the directory holds no `.obp` files".to_owned(),
            ));
        }
        Ok(Sources {
            files,
            key: canonical(path),
            dir: Some(path.to_path_buf()),
        })
    } else {
        Ok(Sources {
            files: vec![(path.display().to_string(), read_text(path))],
            key: canonical(path),
            dir: path.parent().map(Path::to_path_buf),
        })
    }
}

fn canonical(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Why a source file's text is not usable as it is.
enum Unusable {
    Io(String),
    TooLarge(usize),
    NotUtf8 { lossy: String, offset: usize },
}

type FileText = Result<String, Unusable>;

/// Reads a file as bytes so that size and encoding problems become positioned diagnostics.
fn read_text(path: &Path) -> FileText {
    let size = std::fs::metadata(path)
        .map_err(|e| Unusable::Io(e.to_string()))?
        .len() as usize;
    if size > parse::lexical::MAX_FILE_SIZE {
        return Err(Unusable::TooLarge(size));
    }
    let bytes = std::fs::read(path).map_err(|e| Unusable::Io(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| Unusable::NotUtf8 {
        offset: e.utf8_error().valid_up_to(),
        lossy: String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

fn read_dir_sources(dir: &Path) -> Result<Vec<(String, FileText)>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "obp") && p.is_file())
        .collect();
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|p| (p.display().to_string(), read_text(&p)))
        .collect())
}

impl Loader<'_> {
    fn load_module(
        &mut self,
        sources: Sources,
        name: String,
        named: bool,
        depth: usize,
    ) -> ModuleId {
        let id = self.program.modules.len();
        self.by_key.insert(sources.key.clone(), id);
        self.dirs.push(sources.dir.clone());
        self.program.modules.push(Module {
            name,
            files: Vec::new(),
            comments: Vec::new(),
            imports: HashMap::new(),
            named,
        });
        self.in_progress.push(sources.key.clone());
        for (display, text) in sources.files {
            let text = match text {
                Ok(text) => text,
                Err(Unusable::Io(reason)) => {
                    self.diagnostics.push(NameError::Unreadable {
                        span: None,
                        path: display,
                        reason,
                    });
                    continue;
                }
                Err(Unusable::TooLarge(size)) => {
                    let file_id = self.sources.add(display, "");
                    self.diagnostics.push(parse::SyntaxError::TooLarge {
                        span: Span::new(file_id, 0, 0),
                        size,
                        limit: parse::lexical::MAX_FILE_SIZE,
                    });
                    continue;
                }
                Err(Unusable::NotUtf8 { lossy, offset }) => {
                    let file_id = self.sources.add(display, lossy);
                    self.diagnostics.push(parse::SyntaxError::NotText {
                        span: Span::new(file_id, offset, offset + 1),
                        reason: format!("invalid byte at offset {offset}"),
                    });
                    continue;
                }
            };
            let file_id = self.sources.add(display, text);
            let parsed = parse::parse(file_id, self.sources.source(file_id));
            for error in parsed.errors {
                self.diagnostics.push(error);
            }
            if let Some(file) = parsed.file {
                self.program.modules[id].files.push(file);
                self.program.modules[id].comments.push(parsed.comments);
            }
        }
        let uses: Vec<UseDecl> = self.program.modules[id]
            .files
            .iter()
            .flat_map(|f| f.items.iter())
            .filter_map(|item| match &item.kind {
                ItemKind::Use(u) => Some(u.clone()),
                _ => None,
            })
            .collect();
        for decl in uses {
            if let Some(target) = self.import(id, &decl, depth) {
                self.program.modules[id]
                    .imports
                    .insert(decl.source.span(), target);
            }
        }
        self.in_progress.pop();
        id
    }

    fn import(&mut self, from: ModuleId, decl: &UseDecl, depth: usize) -> Option<ModuleId> {
        let span = decl.source.span();
        if depth + 1 > MAX_MODULE_DEPTH {
            self.diagnostics.push(NameError::TooDeep {
                span,
                limit: MAX_MODULE_DEPTH,
            });
            return None;
        }
        let (sources, name, named) = match &decl.source {
            ModuleSource::Named(dotted) => {
                let name = dotted.joined();
                match self.find_named(&name) {
                    Some(sources) => (sources, name, true),
                    None => {
                        let searched = self.searched();
                        self.diagnostics.push(NameError::ModuleNotFound {
                            span,
                            name,
                            searched,
                        });
                        return None;
                    }
                }
            }
            ModuleSource::Path { path, .. } => {
                let Some(base) = self.dirs[from].clone() else {
                    self.diagnostics.push(NameError::NotAllowed {
                        span,
                        what: "a path import".to_owned(),
                        place: "in a built-in module".to_owned(),
                        help: "built-in modules import by dotted name".to_owned(),
                    });
                    return None;
                };
                let full = base.join(path.strip_prefix("./").unwrap_or(path));
                if !full.exists() {
                    self.diagnostics.push(NameError::ModuleNotFound {
                        span,
                        name: path.clone(),
                        searched: vec![full.display().to_string()],
                    });
                    return None;
                }
                match read_stack(&full) {
                    Ok(sources) => (sources, path.clone(), false),
                    Err(Unreadable::NotBlueprint) => {
                        self.diagnostics.push(NameError::NotBlueprint {
                            span: Some(span),
                            path: path.clone(),
                        });
                        return None;
                    }
                    Err(Unreadable::Reason(reason)) => {
                        self.diagnostics.push(NameError::Unreadable {
                            span: Some(span),
                            path: full.display().to_string(),
                            reason,
                        });
                        return None;
                    }
                }
            }
        };
        if let Some(position) = self.in_progress.iter().position(|k| *k == sources.key) {
            let mut chain: Vec<String> = self.in_progress[position..]
                .iter()
                .map(|k| self.display_key(k))
                .collect();
            chain.push(self.display_key(&sources.key));
            self.diagnostics
                .push(NameError::ImportCycle { span, chain });
            return None;
        }
        if let Some(existing) = self.by_key.get(&sources.key) {
            return Some(*existing);
        }
        Some(self.load_module(sources, name, named, depth + 1))
    }

    fn display_key(&self, key: &str) -> String {
        self.by_key
            .get(key)
            .map(|id| self.program.modules[*id].name.clone())
            .unwrap_or_else(|| key.to_owned())
    }

    fn searched(&self) -> Vec<String> {
        let mut searched: Vec<String> = self
            .search
            .dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        if self.search.builtin {
            searched.push("the built-in library".to_owned());
        }
        searched
    }

    fn find_named(&self, name: &str) -> Option<Sources> {
        let relative: PathBuf = name.split('.').collect();
        for dir in &self.search.dirs {
            let file = dir.join(&relative).with_extension("obp");
            if file.is_file() {
                return Some(Sources {
                    files: vec![(file.display().to_string(), read_text(&file))],
                    key: canonical(&file),
                    dir: file.parent().map(Path::to_path_buf),
                });
            }
            let folder = dir.join(&relative);
            if folder.is_dir() {
                if let Ok(files) = read_dir_sources(&folder) {
                    if !files.is_empty() {
                        return Some(Sources {
                            files,
                            key: canonical(&folder),
                            dir: Some(folder),
                        });
                    }
                }
            }
        }
        if self.search.builtin {
            return builtin_sources(&relative);
        }
        None
    }
}

fn builtin_sources(relative: &Path) -> Option<Sources> {
    let file = relative.with_extension("obp");
    if let Some(found) = BUILTIN.get_file(&file) {
        let text = found
            .contents_utf8()
            .map(str::to_owned)
            .ok_or_else(|| Unusable::Io("not UTF-8 text".to_owned()));
        let display = format!("{BUILTIN_PREFIX}{}", file.display());
        return Some(Sources {
            files: vec![(display.clone(), text)],
            key: display,
            dir: None,
        });
    }
    let folder = BUILTIN.get_dir(relative)?;
    let mut files: Vec<_> = folder
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "obp"))
        .map(|f| {
            let text = f
                .contents_utf8()
                .map(str::to_owned)
                .ok_or_else(|| Unusable::Io("not UTF-8 text".to_owned()));
            (format!("{BUILTIN_PREFIX}{}", f.path().display()), text)
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    if files.is_empty() {
        return None;
    }
    Some(Sources {
        files,
        key: format!("{BUILTIN_PREFIX}{}", relative.display()),
        dir: None,
    })
}

/// Names of all modules in the built-in library, sorted (for docs and tests).
pub fn builtin_modules() -> Vec<String> {
    let mut names = Vec::new();
    collect_builtin(&BUILTIN, &mut names);
    names.sort();
    names
}

fn collect_builtin(dir: &Dir<'_>, names: &mut Vec<String>) {
    for file in dir.files() {
        if file.path().extension().is_some_and(|e| e == "obp") {
            let name = file
                .path()
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(".");
            names.push(name);
        }
    }
    for sub in dir.dirs() {
        collect_builtin(sub, names);
    }
}
