//! Errors of the command line itself (arguments, commands used on the wrong thing, terminal
//! and file input/output), as data: each has a code of the E09 block and a help line, and is
//! printed like every other diagnostic.

use obp_lang::diagnostics::IntoDiagnostic;
use obp_lang::Diagnostic;
use thiserror::Error;

/// A failure of a command before or around the work the library does.
#[derive(Debug, Error)]
pub enum CliError {
    /// `--var` without `=`.
    #[error("`--var {var}` needs the form NAME=VALUE")]
    BadVar { var: String },
    #[error("cannot create a stack in `{dir}`: {reason}")]
    Init { dir: String, reason: String },
    #[error("var file `{path}`, line {line}: {message}")]
    VarFile {
        path: String,
        line: usize,
        message: String,
    },
    /// `obp explain` with a code the catalogue does not have.
    #[error("unknown error code `{code}`")]
    UnknownCode { code: String },
    /// A command that needs a stack was given a module.
    #[error("{path} is a module, not a stack: {what}")]
    NotAStack { path: String, what: &'static str },
    /// `obp import` of an address the configuration does not declare.
    #[error("`{address}` is not declared in the configuration")]
    NotDeclared {
        address: String,
        suggestion: Option<String>,
    },
    /// `obp output --name` of an output state does not hold.
    #[error("no output `{name}` in state")]
    NoOutput {
        name: String,
        suggestion: Option<String>,
    },
    /// The provider could not read the object to import.
    #[error("import of `{id}` as `{address}` failed: {message}")]
    ImportFailed {
        address: String,
        id: String,
        message: String,
    },
    /// apply or destroy without `--auto-approve` and without a terminal to ask on.
    #[error("{operation} needs confirmation, and standard input is not a terminal")]
    NeedsConfirmation { operation: &'static str },
    /// The command stopped on a panic: a bug in obp, never the user's input.
    #[error("obp stopped on an internal error: {message}")]
    Internal { message: String },
    /// Reading or writing the terminal, standard output or a file failed.
    #[error("cannot {what}: {error}")]
    Io {
        what: String,
        #[source]
        error: std::io::Error,
    },
}

impl CliError {
    pub fn io(what: impl Into<String>, error: std::io::Error) -> CliError {
        CliError::Io {
            what: what.into(),
            error,
        }
    }
}

impl From<serde_json::Error> for CliError {
    fn from(error: serde_json::Error) -> CliError {
        CliError::io("write JSON", std::io::Error::other(error))
    }
}

impl IntoDiagnostic for CliError {
    fn into_diagnostic(self) -> Diagnostic {
        let message = self.to_string();
        match self {
            CliError::BadVar { .. } => Diagnostic::error("E0901", message).help(
                "write `--var NAME=VALUE`, such as `--var replicas=3` or `--var 'tags=[\"a\"]'`",
            ),
            CliError::Init { .. } => Diagnostic::error("E0912", message).help(
                "name a new or empty directory and one of the templates: `obp init DIR --template dedicated`",
            ),
            CliError::VarFile { .. } => Diagnostic::error("E0911", message).help(
                "write one `name = value` per line with data values (`replicas = 3`, `tags = [\"a\"]`, `password = secret(\"path\")`), or a JSON object in a `.json` file",
            ),
            CliError::UnknownCode { .. } => {
                Diagnostic::error("E0902", message).help("run `obp explain` to list all codes")
            }
            CliError::NotAStack { .. } => Diagnostic::error("E0903", message)
                .help("run the command on a stack that uses the module (`use NAME as ALIAS { … }`)"),
            CliError::NotDeclared { suggestion, .. } => Diagnostic::error("E0904", message)
                .maybe_help(suggestion)
                .help("declare the resource first; `obp validate` prints how many instances the stack has"),
            CliError::NoOutput { suggestion, .. } => Diagnostic::error("E0905", message)
                .maybe_help(suggestion)
                .help("outputs are recorded by apply; `obp output` lists those in state"),
            CliError::ImportFailed { .. } => Diagnostic::error("E0906", message)
                .help("check the ID: for the GitOps provider it is a path under the provider's directory, for the others the object's name"),
            CliError::NeedsConfirmation { .. } => Diagnostic::error("E0907", message)
                .help("run it in a terminal, pass --auto-approve, or apply a saved plan (`obp plan -out FILE`, then `obp apply FILE`)"),
            CliError::Internal { .. } => Diagnostic::error("E0910", message)
                .help("this is a bug in obp: state keeps what was recorded before it; run `obp plan` to see where things stand, and report the command and this message"),
            CliError::Io { .. } => Diagnostic::error("E0908", message)
                .help("check free space and permissions of the file or terminal written to"),
        }
    }
}

/// What every command returns.
pub type CliResult<T> = Result<T, CliError>;
