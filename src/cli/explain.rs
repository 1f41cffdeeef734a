//! `obp explain CODE`: the long form of an error code, or the list of all codes.

use std::process::ExitCode;

use obp_lang::diagnostics::codes;

pub fn run(code: Option<&str>) -> anyhow::Result<ExitCode> {
    let Some(code) = code else {
        for info in codes::ALL {
            println!("{}  {}", info.code, info.title);
        }
        return Ok(ExitCode::SUCCESS);
    };
    match codes::lookup(code) {
        Some(info) => {
            print!("{}", info.doc);
            if !info.doc.ends_with('\n') {
                println!();
            }
            Ok(ExitCode::SUCCESS)
        }
        None => anyhow::bail!("unknown error code `{code}`; run `obp explain` to list all codes"),
    }
}
