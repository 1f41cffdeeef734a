//! `obp validate`: parse, check and evaluate a stack, and find every dependency cycle among
//! its resources (without state: what plan would find in the configuration).

use std::process::ExitCode;

use obp_lang::diagnostics::{render, IntoDiagnostic};

use super::errors::CliResult;
use super::output::{self, say, Color};

/// `obp validate [PATH]`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub stack: super::StackArgs,
    /// Print diagnostics as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args, color: Color) -> CliResult<ExitCode> {
    let Args { stack, json } = args;
    let json = *json;
    let path = stack.path();
    let path = path.as_path();
    let mut checked = obp_lang::check_stack(path, &stack.options()?);
    if let Some(config) = checked.config.as_ref().filter(|_| !checked.has_errors()) {
        let cycles = obp_engine::graph::cycles(config);
        checked
            .diagnostics
            .extend(cycles.into_iter().map(IntoDiagnostic::into_diagnostic));
    }
    if json {
        let rendered = render::to_json(&checked.diagnostics, &checked.sources);
        say!("{}", serde_json::to_string_pretty(&rendered)?)?;
    } else {
        output::diagnostics(&checked.diagnostics, &checked.sources, color);
    }
    if checked.has_errors() {
        return Ok(ExitCode::FAILURE);
    }
    if !json {
        match &checked.config {
            Some(config) => {
                let stack = config
                    .stack
                    .as_ref()
                    .map_or_else(|| path.display().to_string(), |s| s.name.clone());
                say!(
                    "stack `{stack}` is valid: {} resource instance{}, {} output{}",
                    config.resources.len(),
                    if config.resources.len() == 1 { "" } else { "s" },
                    config.outputs.len(),
                    if config.outputs.len() == 1 { "" } else { "s" },
                )?;
            }
            None if checked.is_module => {
                say!(
                    "module {} is valid (checked, not evaluated: it needs arguments)",
                    path.display()
                )?;
            }
            None => say!("{} is valid", path.display())?,
        }
    }
    Ok(ExitCode::SUCCESS)
}
