//! `obp explain CODE`: the long form of an error code, or the list of all codes.

use super::errors::{CliError, CliResult};
use super::output::{say, say_raw};
use std::process::ExitCode;

use obp_lang::diagnostics::codes;

/// `obp explain [CODE]`.
#[derive(clap::Args)]
pub struct Args {
    /// A code such as E0201
    pub code: Option<String>,
}

pub fn run(args: &Args) -> CliResult<ExitCode> {
    let Some(code) = args.code.as_deref() else {
        for info in codes::ALL {
            say!("{}  {}", info.code, info.title)?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    match codes::lookup(code) {
        Some(info) => {
            say_raw!("{}", info.doc)?;
            if !info.doc.ends_with('\n') {
                say!()?;
            }
            Ok(ExitCode::SUCCESS)
        }
        None => Err(CliError::UnknownCode {
            code: code.to_owned(),
        }),
    }
}
