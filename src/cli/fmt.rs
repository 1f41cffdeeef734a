//! `obp fmt`: canonical formatting (placeholder until the formatter lands).

use std::path::PathBuf;
use std::process::ExitCode;

use super::output::Color;

pub fn run(_paths: &[PathBuf], _check: bool, _color: Color) -> anyhow::Result<ExitCode> {
    anyhow::bail!("formatter not merged yet")
}
