//! `obp drift`: what changed outside obp since the last apply, read from the live objects,
//! without changing anything — neither the infrastructure nor the state. Exit 0 when
//! nothing drifted, 2 when something did (for scheduled checks), 1 on errors.

use super::errors::CliResult;
use super::output::{say, say_raw};
use std::process::ExitCode;

use obp_engine::plan::{plan, PlanOptions};
use obp_engine::render;

use super::output::Color;
use super::stack::{Policies, Stack};
use super::StackArgs;

/// `obp drift [PATH]`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Print the drift as JSON
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: &Args, color: Color) -> CliResult<ExitCode> {
    let json = args.json;
    let Ok(stack) = Stack::load(&args.stack, color, Policies::Skip) else {
        return Ok(ExitCode::FAILURE);
    };
    let Ok(_lock) = stack.lock("drift").await else {
        return Ok(ExitCode::FAILURE);
    };
    if stack.acyclic().is_err() {
        return Ok(ExitCode::FAILURE);
    }
    let Ok(state) = stack.state().await else {
        return Ok(ExitCode::FAILURE);
    };
    let options = PlanOptions {
        refresh: true,
        ..PlanOptions::default()
    };
    let made = match plan(&stack.config, state, &stack.providers, &options).await {
        Ok(made) => made,
        Err(diagnostics) => {
            stack.report(&diagnostics);
            return Ok(ExitCode::FAILURE);
        }
    };
    if json {
        let report = serde_json::json!({ "drift": render::drift_json(&made) });
        say!("{}", serde_json::to_string_pretty(&report)?)?;
    } else if made.drift.is_empty() {
        say!("No drift: every object obp manages is as it was last applied.")?;
    } else {
        say_raw!("{}", render::drift(&made))?;
        // Objects obp manages changed or went; leftovers (files no resource owns, a stale
        // kustomization) are not objects of the configuration: apply removes or rewrites them.
        let leftovers = made
            .drift
            .iter()
            .filter(|d| d.kind == "stray" || d.kind == "outdated")
            .count();
        let count = made.drift.len() - leftovers;
        if count > 0 {
            say!(
                "{count} object{} changed outside obp. `obp plan` shows how apply would restore {}; `obp refresh` records {} as {} now.",
                if count == 1 { "" } else { "s" },
                if count == 1 { "it" } else { "them" },
                if count == 1 { "it" } else { "them" },
                if count == 1 { "it is" } else { "they are" },
            )?;
        }
        if leftovers > 0 {
            say!(
                "{leftovers} leftover{} of an interrupted apply: the next `obp apply` removes the files no resource owns and rewrites stale kustomizations.",
                if leftovers == 1 { "" } else { "s" },
            )?;
        }
    }
    Ok(if made.drift.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
