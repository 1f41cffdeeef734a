//! Command-line interface: argument parsing and dispatch; one file per subcommand.
//!
//! Commands write their results only through [`output::say!`] (a closed pipe is a quiet end,
//! not a panic) and fail only with coded errors ([`errors::CliError`] or diagnostics).

// Output goes through `output::say!`, never `println!` (which panics on a closed pipe).
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod apply;
mod drift;
mod errors;
mod eval;
mod explain;
mod fmt;
mod graph;
mod interrupt;
mod output;
mod plan;
mod stack;
mod state;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use errors::CliError;

/// obp ("Odoo BluePrint"): infrastructure as code for Odoo stacks.
#[derive(Parser)]
#[command(name = "obp", version, about, long_about = None)]
struct Cli {
    /// Colour: auto (when stderr is a terminal), always, never
    #[arg(long, global = true, default_value = "auto", value_parser = ["auto", "always", "never"])]
    color: String,
    #[command(subcommand)]
    command: Command,
}

/// The stack to work on and values for its params.
#[derive(clap::Args, Clone)]
pub struct StackArgs {
    /// Stack directory or file (default: the current directory)
    pub path: Option<PathBuf>,
    /// A value for one of the stack's params: NAME=VALUE (VALUE is JSON, or plain text)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Let a soft policy deny this once, after review (validate, plan, apply; repeatable)
    #[arg(long = "override-policy", value_name = "POLICY")]
    pub overrides: Vec<String>,
}

impl StackArgs {
    pub fn path(&self) -> PathBuf {
        self.path.clone().unwrap_or_else(|| PathBuf::from("."))
    }

    /// Checking options with the `--var` values.
    pub fn options(&self) -> Result<obp_lang::Options, CliError> {
        let mut options = obp_lang::Options::default();
        for var in &self.vars {
            let Some((name, value)) = var.split_once('=') else {
                return Err(CliError::BadVar { var: var.clone() });
            };
            options
                .eval
                .vars
                .insert(name.trim().to_owned(), obp_lang::value::parse_var(value));
        }
        options.eval.policies = obp_lang::eval::PolicyMode::Enforce {
            overrides: self.overrides.iter().cloned().collect(),
        };
        Ok(options)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Parse, check and evaluate a stack; exit 1 on errors
    Validate {
        #[command(flatten)]
        stack: StackArgs,
        /// Print diagnostics as JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// Print the evaluated configuration of a stack as JSON
    Eval {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Show what apply would change
    Plan {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        plan: plan::PlanArgs,
        /// Save the plan to FILE for `obp apply FILE`
        #[arg(long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print the plan as JSON
        #[arg(long)]
        json: bool,
        /// Exit 0 when nothing changes, 2 when something would, 1 on errors
        #[arg(long = "detailed-exitcode")]
        detailed_exitcode: bool,
        /// Plan to destroy everything
        #[arg(long)]
        destroy: bool,
    },
    /// Plan and apply (or apply a saved plan: `obp apply FILE`)
    Apply {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        plan: plan::PlanArgs,
        /// Do not ask for confirmation
        #[arg(long = "auto-approve")]
        auto_approve: bool,
        /// Changes applied at the same time
        #[arg(long, default_value_t = 10)]
        parallelism: usize,
    },
    /// Destroy everything the stack manages, dependents first
    Destroy {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        plan: plan::PlanArgs,
        #[arg(long = "auto-approve")]
        auto_approve: bool,
        #[arg(long, default_value_t = 10)]
        parallelism: usize,
    },
    /// Report what changed outside obp since the last apply, changing nothing; exit 2 on drift
    Drift {
        #[command(flatten)]
        stack: StackArgs,
        /// Print the drift as JSON
        #[arg(long)]
        json: bool,
    },
    /// Read every resource and record what is live
    Refresh {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Show the state
    Show {
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        json: bool,
    },
    /// Print the stack's outputs (from state)
    Output {
        /// One output
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long)]
        json: bool,
    },
    /// Inspect or edit state
    #[command(subcommand)]
    State(state::StateCommand),
    /// Adopt an existing object into state: ADDRESS is declared in the stack, ID names the object
    Import {
        address: String,
        id: String,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Print the dependency graph as Graphviz DOT
    Graph {
        #[command(flatten)]
        stack: StackArgs,
        /// Only addresses under this module instance (such as t["acme"])
        #[arg(long)]
        module: Option<String>,
    },
    /// List the configured providers and the resource types they manage
    Providers {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Remove a lock left behind by a crashed operation
    ForceUnlock {
        /// The lock id printed by the operation that found the state locked
        id: String,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Format .obp files canonically (in place, or check with --check)
    Fmt {
        /// Files or directories (default: the current directory)
        paths: Vec<PathBuf>,
        /// Do not write; exit 1 if any file is not formatted
        #[arg(long)]
        check: bool,
    },
    /// Explain an error code, or list all codes
    Explain {
        /// A code such as E0201
        code: Option<String>,
    },
}

/// Long options Terraform users type with one dash (`-out`, `-target` …).
const SINGLE_DASH: &[&str] = &[
    "out",
    "target",
    "exclude",
    "var",
    "auto-approve",
    "parallelism",
    "json",
    "detailed-exitcode",
    "refresh",
    "destroy",
    "check",
];

fn arguments() -> Vec<std::ffi::OsString> {
    std::env::args_os()
        .map(|arg| {
            let text = arg.to_string_lossy();
            match text.strip_prefix('-') {
                Some(rest)
                    if !rest.starts_with('-')
                        && SINGLE_DASH
                            .iter()
                            .any(|o| rest == *o || rest.starts_with(&format!("{o}="))) =>
                {
                    format!("-{text}").into()
                }
                _ => arg,
            }
        })
        .collect()
}

/// A command line clap cannot parse: its message (with the usage and a suggestion) under the
/// code E0909; `--help` and `--version` print as usual.
fn usage(error: &clap::Error) -> ExitCode {
    let code = u8::try_from(error.exit_code()).unwrap_or(2);
    if !error.use_stderr() {
        let _ = error.print();
        return ExitCode::from(code);
    }
    let text = error.render().to_string();
    let text = match text.strip_prefix("error: ") {
        Some(rest) => format!("error[E0909]: {rest}"),
        // `obp` or `obp state` alone: clap shows the help.
        None => format!("error[E0909]: a command is missing\n\n{text}"),
    };
    let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());
    ExitCode::from(code)
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(arguments()) {
        Ok(cli) => cli,
        Err(error) => return usage(&error),
    };
    let color = output::Color::from_flag(&cli.color);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            output::fail(CliError::io("start the async runtime", error), color);
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(interrupt::guarded(async move {
        match cli.command {
            Command::Validate { stack, json } => validate::run(&stack, json, color),
            Command::Eval { stack } => eval::run(&stack, color),
            Command::Plan {
                stack,
                plan: plan_args,
                out,
                json,
                detailed_exitcode,
                destroy,
            } => {
                plan::run(
                    &stack,
                    &plan_args,
                    plan::Flags {
                        out,
                        json,
                        detailed_exitcode,
                        destroy,
                    },
                    color,
                )
                .await
            }
            Command::Apply {
                stack,
                plan: plan_args,
                auto_approve,
                parallelism,
            } => {
                apply::run(
                    &stack,
                    &plan_args,
                    apply::Flags {
                        auto_approve,
                        parallelism,
                        destroy: false,
                    },
                    color,
                )
                .await
            }
            Command::Destroy {
                stack,
                plan: plan_args,
                auto_approve,
                parallelism,
            } => {
                apply::run(
                    &stack,
                    &plan_args,
                    apply::Flags {
                        auto_approve,
                        parallelism,
                        destroy: true,
                    },
                    color,
                )
                .await
            }
            Command::Drift { stack, json } => drift::run(&stack, json, color).await,
            Command::Refresh { stack } => state::refresh(&stack, color).await,
            Command::Show { stack, json } => state::show(&stack, json, color).await,
            Command::Output { name, stack, json } => {
                state::output(&stack, name.as_deref(), json, color).await
            }
            Command::State(command) => state::state(&command, color).await,
            Command::Import { address, id, stack } => {
                state::import(&stack, &address, &id, color).await
            }
            Command::Graph { stack, module } => graph::run(&stack, module.as_deref(), color).await,
            Command::Providers { stack } => graph::providers(&stack, color).await,
            Command::ForceUnlock { id, stack } => state::force_unlock(&stack, &id, color).await,
            Command::Fmt { paths, check } => fmt::run(&paths, check, color),
            Command::Explain { code } => explain::run(code.as_deref()),
        }
    }));
    match result {
        Ok(code) => code,
        Err(error) => {
            output::fail(error, color);
            ExitCode::FAILURE
        }
    }
}
