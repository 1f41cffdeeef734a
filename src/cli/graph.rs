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

/// `obp providers [PATH]`.
#[derive(clap::Args)]
pub struct ProvidersArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Print the providers and their resource types as JSON
    #[arg(long)]
    pub json: bool,
}

pub async fn providers(args: &ProvidersArgs, color: Color) -> CliResult<ExitCode> {
    let Ok(stack) = Stack::load(&args.stack, color, Policies::Skip) else {
        return Ok(ExitCode::FAILURE);
    };
    if args.json {
        let listed: Vec<_> = stack
            .providers
            .names()
            .filter_map(|name| {
                let provider = stack.providers.get(name)?;
                let types: Vec<_> = provider
                    .schemas()
                    .into_iter()
                    .map(|s| serde_json::json!({ "type": s.rtype, "doc": s.doc }))
                    .collect();
                Some(serde_json::json!({ "name": name, "kind": provider.kind(), "types": types }))
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&listed)?)?;
        return Ok(ExitCode::SUCCESS);
    }
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
