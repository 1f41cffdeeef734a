//! Command-line interface: argument parsing and dispatch; one file per subcommand.

mod eval;
mod explain;
mod fmt;
mod output;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
}

impl StackArgs {
    pub fn path(&self) -> PathBuf {
        self.path.clone().unwrap_or_else(|| PathBuf::from("."))
    }

    /// Checking options with the `--var` values.
    pub fn options(&self) -> anyhow::Result<obp_lang::Options> {
        let mut options = obp_lang::Options::default();
        for var in &self.vars {
            let Some((name, value)) = var.split_once('=') else {
                anyhow::bail!("`--var {var}` needs the form NAME=VALUE");
            };
            options
                .eval
                .vars
                .insert(name.trim().to_owned(), obp_lang::value::parse_var(value));
        }
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

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = output::Color::from_flag(&cli.color);
    let result = match cli.command {
        Command::Validate { stack, json } => validate::run(&stack, json, color),
        Command::Eval { stack } => eval::run(&stack, color),
        Command::Fmt { paths, check } => fmt::run(&paths, check, color),
        Command::Explain { code } => explain::run(code.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            output::error(&format!("{error:#}"), color);
            ExitCode::FAILURE
        }
    }
}
