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

#[derive(Subcommand)]
enum Command {
    /// Parse, check and evaluate a stack; exit 1 on errors
    Validate {
        /// Stack directory or file (default: the current directory)
        path: Option<PathBuf>,
        /// Print diagnostics as JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// Print the evaluated configuration of a stack as JSON
    Eval {
        /// Stack directory or file (default: the current directory)
        path: Option<PathBuf>,
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
        Command::Validate { path, json } => validate::run(&stack_path(path), json, color),
        Command::Eval { path } => eval::run(&stack_path(path), color),
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

fn stack_path(path: Option<PathBuf>) -> PathBuf {
    path.unwrap_or_else(|| PathBuf::from("."))
}
