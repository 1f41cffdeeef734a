//! `obp eval`: print the evaluated configuration as JSON (secrets stay references).

use super::errors::{CliError, CliResult};
use super::output::say;
use std::process::ExitCode;

use super::output::{self, Color};

pub fn run(stack: &super::StackArgs, color: Color) -> CliResult<ExitCode> {
    let path = stack.path();
    let path = path.as_path();
    let checked = obp_lang::check_stack(path, &stack.options()?);
    output::diagnostics(&checked.diagnostics, &checked.sources, color);
    match checked.config {
        Some(config) if !checked.has_errors() => {
            say!("{}", config.to_json_pretty())?;
            Ok(ExitCode::SUCCESS)
        }
        _ if checked.is_module && !checked.has_errors() => Err(CliError::NotAStack {
            path: path.display().to_string(),
            what: "it cannot be evaluated without arguments",
        }),
        _ => Ok(ExitCode::FAILURE),
    }
}
