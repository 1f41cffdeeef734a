//! Case headers: leading `//@` lines of a case file (or its `main.obp`) hold TOML.

use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Valid: the evaluated configuration is snapshotted.
    Ok,
    /// Invalid: exactly the listed codes are reported; the diagnostics are snapshotted.
    Error,
    /// Run the binary with `args`; exit code and output are snapshotted.
    Cli,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub expect: Expect,
    #[serde(default)]
    pub codes: Vec<String>,
    #[serde(default)]
    pub args: Vec<String>,
    pub exit: Option<i32>,
    /// Several commands run one after another (instead of `args`); `["$write", PATH, TEXT]`
    /// writes a file in the work directory between commands.
    #[serde(default)]
    pub steps: Vec<Vec<String>>,
    /// The exit code of each step.
    #[serde(default)]
    pub exits: Vec<i32>,
    /// Run in a temporary copy of the case (for commands that write state or output).
    #[serde(default)]
    pub workdir: bool,
    /// Evaluation step budget, for cases about the budget.
    pub budget: Option<u64>,
    /// What the case is about, for readers.
    #[serde(default)]
    #[allow(dead_code)]
    pub about: String,
}

impl Header {
    pub fn read(path: &Path) -> Result<Header, String> {
        let file = if path.is_dir() {
            path.join("main.obp")
        } else {
            path.to_path_buf()
        };
        let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let text = String::from_utf8_lossy(&bytes);
        let toml_text: String = text
            .lines()
            .map_while(|line| line.strip_prefix("//@"))
            .map(|line| format!("{}\n", line.trim()))
            .collect();
        if toml_text.is_empty() {
            return Err(format!("{}: no `//@` header", file.display()));
        }
        toml::from_str(&toml_text).map_err(|e| format!("{}: bad header: {e}", file.display()))
    }
}
