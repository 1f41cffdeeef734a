//! Command-line interface: argument parsing and dispatch; one file per subcommand.
//!
//! Commands write their results only through [`output::say!`] (a closed pipe is a quiet end,
//! not a panic) and fail only with coded errors ([`errors::CliError`] or diagnostics).

// Output goes through `output::say!`, never `println!` (which panics on a closed pipe).
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod apply;
mod audit;
mod drift;
mod errors;
mod eval;
mod explain;
mod fmt;
mod graph;
mod init;
mod interrupt;
mod output;
mod plan;
mod stack;
mod state;
mod validate;
mod varfile;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use errors::CliError;
use output::ColorChoice;

/// obp ("Odoo BluePrint"): infrastructure as code for Odoo stacks.
#[derive(Parser)]
#[command(name = "obp", version, about, long_about = None)]
struct Cli {
    /// Colour: auto (when stderr is a terminal), always, never
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
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
    /// Values for params from a file: `name = value` lines, or a JSON object (`.json`); `--var` wins
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
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
        for file in &self.var_files {
            options.eval.vars.extend(varfile::read(file)?);
        }
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
    Validate(validate::Args),
    /// Print the evaluated configuration of a stack as JSON
    Eval(StackArgs),
    /// Show what apply would change
    Plan(plan::Args),
    /// Plan and apply (or apply a saved plan: `obp apply FILE`)
    Apply(apply::Args),
    /// Destroy everything the stack manages, dependents first
    Destroy(apply::Args),
    /// Report what changed outside obp since the last apply, changing nothing; exit 2 on drift
    Drift(drift::Args),
    /// Read every resource and record what is live
    Refresh(StackArgs),
    /// Show the state
    Show(state::ShowArgs),
    /// Print the stack's outputs (from state)
    Output(state::OutputArgs),
    /// Inspect or edit state
    #[command(subcommand)]
    State(state::StateCommand),
    /// Adopt an existing object into state: ADDRESS is declared in the stack, ID names the object
    Import(state::ImportArgs),
    /// Print the dependency graph as Graphviz DOT
    Graph(graph::Args),
    /// List the configured providers and the resource types they manage
    Providers(graph::ProvidersArgs),
    /// Remove a lock left behind by a crashed operation
    ForceUnlock(state::UnlockArgs),
    /// Show the audit trail (who ran what, when, with which outcome); `obp audit verify` checks it
    Audit(audit::Args),
    /// Format .obp files canonically (in place, or check with --check)
    Fmt(fmt::Args),
    /// Explain an error code, or list all codes
    Explain(explain::Args),
    /// Create a new stack from a template (an example: quickstart, dedicated, saas, hybrid, multi-env)
    Init(init::Args),
    /// Print the resource reference (every provider's resource types and attributes) as Markdown
    Doc,
    /// Print a completion script for a shell: `obp completions bash > /etc/bash_completion.d/obp`
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
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
    let color = output::Color::from_choice(cli.color);
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
        match &cli.command {
            Command::Validate(args) => validate::run(args, color),
            Command::Eval(stack) => eval::run(stack, color),
            Command::Plan(args) => plan::run(args, color).await,
            Command::Apply(args) => apply::run(args, false, color).await,
            Command::Destroy(args) => apply::run(args, true, color).await,
            Command::Drift(args) => drift::run(args, color).await,
            Command::Refresh(stack) => state::refresh(stack, color).await,
            Command::Show(args) => state::show(args, color).await,
            Command::Output(args) => state::output(args, color).await,
            Command::State(command) => state::state(command, color).await,
            Command::Import(args) => state::import(args, color).await,
            Command::Graph(args) => graph::run(args, color).await,
            Command::Providers(stack) => graph::providers(stack, color).await,
            Command::ForceUnlock(args) => state::force_unlock(args, color).await,
            Command::Audit(args) => audit::run(args, color).await,
            Command::Fmt(args) => fmt::run(args, color),
            Command::Explain(args) => explain::run(args),
            Command::Init(args) => init::run(args),
            Command::Doc => {
                output::say_raw!("{}", obp_providers::reference::markdown())?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Completions { shell } => {
                let mut script = Vec::new();
                clap_complete::generate(
                    *shell,
                    &mut <Cli as clap::CommandFactory>::command(),
                    "obp",
                    &mut script,
                );
                output::say_raw!("{}", String::from_utf8_lossy(&script))?;
                Ok(ExitCode::SUCCESS)
            }
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
