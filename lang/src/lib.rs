//! The obp blueprint language, from source text to an evaluated, checked configuration.
//!
//! Pipeline: [`loader`] reads the stack and the modules it imports ([`parse`] turns each file
//! into an [`ast`]), [`index`] tables each module's declarations, [`resolve`] checks names
//! statically, and [`eval`] produces a deterministic [`Config`] whose resource instances carry
//! addresses, attribute [`value`]s and dependency edges. [`fmt`] formats source text.
//! Every failure is a [`diagnostics::Diagnostic`] with a code from the catalogue.
//!
//! This crate knows nothing of providers or of Odoo: resource types are just names here.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("obp-doctest-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! std::fs::write(dir.join("stack.obp"), r#"
//! stack demo {}
//! resource postgres.role owner { name = "odoo_acme" }
//! resource postgres.database db { owner = postgres.role.owner.name }
//! "#).unwrap();
//! let checked = obp_lang::check_stack(&dir, &obp_lang::Options::default());
//! let config = checked.config.expect("valid stack");
//! assert_eq!(config.resources[1].address, "postgres.database.db");
//! assert_eq!(config.resources[1].deps[0].address, "postgres.role.owner");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

pub mod ast;
pub mod diagnostics;
pub mod errors;
pub mod eval;
pub mod fmt;
pub mod index;
pub mod loader;
pub mod parse;
pub mod resolve;
pub mod span;
pub mod stdlib;
pub mod types;
pub mod value;

use std::path::{Path, PathBuf};

pub use diagnostics::Diagnostic;
pub use eval::{Config, EvalOptions};
pub use span::SourceMap;

use diagnostics::{Diagnostics, IntoDiagnostic};
use errors::NameError;
use index::ModuleIndex;
use loader::SearchPath;

/// Stack size for the checking thread: deep but bounded recursion never reaches it, and the
/// pages are only reserved, not used, unless needed.
const STACK_SIZE: usize = 256 * 1024 * 1024;

/// How to check a stack.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where `use a.b` looks; defaults to [`SearchPath::for_stack`].
    pub search: Option<SearchPath>,
    pub eval: EvalOptions,
}

/// What checking a stack produced.
pub struct Checked {
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
    /// The evaluated configuration; `None` when there were errors or the root is a module.
    pub config: Option<Config>,
    /// The root declared `module …`: it was checked but not evaluated (it needs arguments).
    pub is_module: bool,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Loads, resolves and evaluates the stack at `path` (a directory or one `.obp` file).
pub fn check_stack(path: &Path, options: &Options) -> Checked {
    let path: PathBuf = path.to_path_buf();
    let options = options.clone();
    let work = move || check_on_this_thread(&path, &options);
    std::thread::Builder::new()
        .name("obp-check".to_owned())
        .stack_size(STACK_SIZE)
        .spawn(work)
        .map(|handle| handle.join())
        .unwrap_or_else(|_| Err(Box::new("could not start the checking thread")))
        .unwrap_or_else(|_| Checked {
            sources: SourceMap::new(),
            diagnostics: vec![internal_error()],
            config: None,
            is_module: false,
        })
}

fn internal_error() -> Diagnostic {
    NameError::Unreadable {
        span: None,
        path: "<internal>".to_owned(),
        reason: "the checker stopped unexpectedly; please report this with the input".to_owned(),
    }
    .into_diagnostic()
}

fn check_on_this_thread(path: &Path, options: &Options) -> Checked {
    let mut sources = SourceMap::new();
    let mut diagnostics = Diagnostics::new();
    let stack_dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let search = options
        .search
        .clone()
        .unwrap_or_else(|| SearchPath::for_stack(&stack_dir));
    let program = loader::load(path, search, &mut sources, &mut diagnostics);
    let mut name_errors = Vec::new();
    let indexes: Vec<ModuleIndex<'_>> = program
        .modules
        .iter()
        .map(|m| ModuleIndex::build(m, &mut name_errors))
        .collect();
    for error in name_errors {
        diagnostics.push(error);
    }
    let is_module = indexes.first().is_some_and(|i| i.module_decl.is_some());
    if !program.modules.is_empty() {
        resolve::check(&program, &indexes, &mut diagnostics);
    }
    if let Some(root) = indexes.first() {
        let declares_something = !root.resources.is_empty()
            || !root.uses.is_empty()
            || !root.outputs.is_empty()
            || !root.lets.is_empty()
            || !root.params.is_empty()
            || root.stack.is_some()
            || root.module_decl.is_some();
        if !declares_something && !diagnostics.has_errors() {
            let span = program.modules[0]
                .files
                .first()
                .map(|f| span::Span::new(f.id, 0, 0));
            let mut empty = Diagnostic::error("E0111", "the stack declares nothing")
                .help("add a `stack`, a `resource` or a `use` declaration; `obp explain E0111` shows a minimal stack");
            if let Some(span) = span {
                empty = empty.primary(span, "nothing is declared in this file");
            }
            diagnostics.push(empty);
        }
    }
    let mut config = None;
    if !diagnostics.has_errors() && !is_module && !program.modules.is_empty() {
        let (evaluated, eval_diagnostics) = eval::evaluate(&program, &indexes, &options.eval);
        diagnostics.extend(eval_diagnostics);
        config = evaluated;
    }
    // The same mistake seen through several instances is reported once.
    let mut unique: Vec<Diagnostic> = Vec::new();
    for diagnostic in diagnostics.into_vec() {
        if !unique.contains(&diagnostic) {
            unique.push(diagnostic);
        }
    }
    Checked {
        sources,
        diagnostics: unique,
        config,
        is_module,
    }
}
