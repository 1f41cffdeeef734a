//! `obp fmt`: canonical formatting of `.obp` files, in place or `--check`.

use super::errors::{CliError, CliResult};
use super::output::say;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use obp_lang::diagnostics::IntoDiagnostic;
use obp_lang::errors::NameError;
use obp_lang::SourceMap;

use super::output::{self, Color};

/// `obp fmt [PATHS]…`.
#[derive(clap::Args)]
pub struct Args {
    /// Files or directories (default: the current directory)
    pub paths: Vec<PathBuf>,
    /// Do not write; exit 1 if any file is not formatted
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: &Args, color: Color) -> CliResult<ExitCode> {
    let Args { paths, check } = args;
    let check = *check;
    let roots = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for root in &roots {
        if root.is_dir() {
            collect(root, &mut files);
        } else if root.exists() {
            files.push(root.clone());
        } else {
            output::fail(
                NameError::Unreadable {
                    span: None,
                    path: root.display().to_string(),
                    reason: "no such file or directory".to_owned(),
                },
                color,
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    files.sort();
    let mut failed = false;
    let mut unformatted = Vec::new();
    for file in &files {
        let source = match std::fs::read_to_string(file) {
            Ok(source) => source,
            Err(error) => {
                output::fail(
                    NameError::Unreadable {
                        span: None,
                        path: file.display().to_string(),
                        reason: error.to_string(),
                    },
                    color,
                );
                failed = true;
                continue;
            }
        };
        let mut sources = SourceMap::new();
        let id = sources.add(file.display().to_string(), source.clone());
        match obp_lang::fmt::format_source(id, &source) {
            Ok(formatted) if formatted == source => {}
            Ok(formatted) => {
                if check {
                    unformatted.push(file.clone());
                } else {
                    std::fs::write(file, formatted)
                        .map_err(|e| CliError::io(format!("write {}", file.display()), e))?;
                    say!("formatted {}", file.display())?;
                }
            }
            Err(errors) => {
                let diagnostics: Vec<_> = errors
                    .into_iter()
                    .map(IntoDiagnostic::into_diagnostic)
                    .collect();
                output::diagnostics(&diagnostics, &sources, color);
                failed = true;
            }
        }
    }
    for file in &unformatted {
        say!("not formatted: {}", file.display())?;
    }
    if !unformatted.is_empty() {
        say!(
            "run `obp fmt` to format {} file{}",
            unformatted.len(),
            if unformatted.len() == 1 { "" } else { "s" }
        )?;
    }
    Ok(if failed || !unformatted.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `.obp` files under `dir`, skipping hidden directories, `target/` and generated output.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                collect(&path, out);
            }
        } else if name.ends_with(".obp") {
            out.push(path);
        }
    }
}
