//! `obp eval`: print the evaluated configuration as JSON (secrets stay references).

use std::process::ExitCode;

use super::output::{self, Color};

pub fn run(stack: &super::StackArgs, color: Color) -> anyhow::Result<ExitCode> {
    let path = stack.path();
    let path = path.as_path();
    let checked = obp_lang::check_stack(path, &stack.options()?);
    output::diagnostics(&checked.diagnostics, &checked.sources, color);
    match checked.config {
        Some(config) if !checked.has_errors() => {
            println!("{}", config.to_json_pretty());
            Ok(ExitCode::SUCCESS)
        }
        _ if checked.is_module && !checked.has_errors() => {
            output::error(
                "this is a module: it cannot be evaluated without arguments; evaluate a stack that uses it",
                color,
            );
            Ok(ExitCode::FAILURE)
        }
        _ => Ok(ExitCode::FAILURE),
    }
}
