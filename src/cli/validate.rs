//! `obp validate`: parse, check and evaluate a stack.

use std::process::ExitCode;

use obp_lang::diagnostics::render;

use super::output::{self, Color};

pub fn run(stack: &super::StackArgs, json: bool, color: Color) -> anyhow::Result<ExitCode> {
    let path = stack.path();
    let path = path.as_path();
    let checked = obp_lang::check_stack(path, &stack.options()?);
    if json {
        let rendered = render::to_json(&checked.diagnostics, &checked.sources);
        println!("{}", serde_json::to_string_pretty(&rendered)?);
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
                println!(
                    "stack `{stack}` is valid: {} resource instance{}, {} output{}",
                    config.resources.len(),
                    if config.resources.len() == 1 { "" } else { "s" },
                    config.outputs.len(),
                    if config.outputs.len() == 1 { "" } else { "s" },
                );
            }
            None if checked.is_module => {
                println!(
                    "module {} is valid (checked, not evaluated: it needs arguments)",
                    path.display()
                );
            }
            None => println!("{} is valid", path.display()),
        }
    }
    Ok(ExitCode::SUCCESS)
}
