//! Terminal output for the CLI: colour choice, printing diagnostics, and the one writer to
//! standard output that every command uses (through [`say!`] and [`say_raw!`]).
//!
//! A reader that goes away early (`obp show | head`) closes the pipe: writing then fails with
//! EPIPE (Rust ignores SIGPIPE). `println!` would panic; [`Stdout`] instead notes that standard
//! output is gone and drops the rest quietly, so the command finishes its work (an apply is
//! never cut short by a closed pipe) and exits with its usual code. Any other write failure
//! (a full disk behind `>`) is an error (E0908).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use obp_lang::diagnostics::{render, IntoDiagnostic};
use obp_lang::{Diagnostic, SourceMap};

use super::errors::CliError;

/// `--color`: what the user asked for.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Whether this run colours its diagnostics.
#[derive(Clone, Copy)]
pub enum Color {
    Always,
    Never,
}

impl Color {
    /// `auto` colours when stderr is a terminal and `NO_COLOR` is not set.
    pub fn from_choice(choice: ColorChoice) -> Color {
        match choice {
            ColorChoice::Always => Color::Always,
            ColorChoice::Never => Color::Never,
            ColorChoice::Auto
                if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() =>
            {
                Color::Always
            }
            ColorChoice::Auto => Color::Never,
        }
    }

    fn enabled(self) -> bool {
        matches!(self, Color::Always)
    }
}

/// Prints diagnostics to stderr, followed by a count of errors.
pub fn diagnostics(diagnostics: &[Diagnostic], sources: &SourceMap, color: Color) {
    let text = render::to_text(diagnostics, sources, color.enabled());
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    if errors > 0 {
        let _ = writeln!(
            stderr,
            "{} found {errors} error{}",
            paint("error:", color),
            if errors == 1 { "" } else { "s" }
        );
    }
}

/// Prints one coded error (a [`super::errors::CliError`] or any other) to stderr.
pub fn fail(error: impl IntoDiagnostic, color: Color) {
    diagnostics(&[error.into_diagnostic()], &SourceMap::new(), color);
}

/// A status line on stderr (such as what a Ctrl-C does): never fails, since the command's
/// outcome must not depend on whether anyone reads it.
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Set once the reader of standard output has gone away.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Standard output for command results. Each call writes its whole text under the lock, so
/// lines from parallel tasks never interleave.
pub struct Stdout;

impl Stdout {
    /// Writes `text`; a closed pipe is not an error (see the module documentation).
    pub fn write_text(text: &str) -> Result<(), CliError> {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut stdout = std::io::stdout().lock();
        let written = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
        match written {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
                Ok(())
            }
            Err(error) => Err(CliError::io("write to standard output", error)),
            Ok(()) => Ok(()),
        }
    }
}

/// `println!` for command output: returns `Result<(), CliError>`, quiet on a closed pipe.
macro_rules! say {
    () => {
        $crate::cli::output::Stdout::write_text("\n")
    };
    ($($arg:tt)*) => {
        $crate::cli::output::Stdout::write_text(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for command output, like [`say!`] without the newline.
macro_rules! say_raw {
    ($($arg:tt)*) => {
        $crate::cli::output::Stdout::write_text(&format!($($arg)*))
    };
}

pub(crate) use {say, say_raw};

fn paint(text: &str, color: Color) -> String {
    if color.enabled() {
        format!("\u{1b}[1;31m{text}\u{1b}[0m")
    } else {
        text.to_owned()
    }
}
