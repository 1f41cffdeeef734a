//! `obp graph`: the dependency graph as Graphviz DOT, optionally one module subtree, and
//! `obp providers`: the resource types each provider manages.

use super::errors::CliResult;
use super::output::{say, say_raw};
use std::process::ExitCode;

use obp_engine::graph::Graph;

use super::output::Color;
use super::stack::{Policies, Stack};
use super::StackArgs;

/// `obp graph [PATH]`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Only addresses under this module instance (such as t["acme"])
    #[arg(long)]
    pub module: Option<String>,
}

pub async fn run(args: &Args, color: Color) -> CliResult<ExitCode> {
    let module = args.module.as_deref();
    let Ok(stack) = Stack::load(&args.stack, color, Policies::Skip) else {
        return Ok(ExitCode::FAILURE);
    };
    if stack.acyclic().is_err() {
        return Ok(ExitCode::FAILURE);
    }
    let Ok(state) = stack.state().await else {
        return Ok(ExitCode::FAILURE);
    };
    match Graph::build(&stack.config, Some(&state)) {
        Ok(graph) => {
            say_raw!("{}", graph.to_dot(module))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            stack.fail(error);
            Ok(ExitCode::FAILURE)
        }
    }
}

pub async fn providers(args: &StackArgs, color: Color) -> CliResult<ExitCode> {
    let Ok(stack) = Stack::load(args, color, Policies::Skip) else {
        return Ok(ExitCode::FAILURE);
    };
    for name in stack.providers.names() {
        let Some(provider) = stack.providers.get(name) else {
            continue;
        };
        say!("provider {name} ({})", provider.kind())?;
        for schema in provider.schemas() {
            say!("  {:<36} {}", schema.rtype, schema.doc)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
