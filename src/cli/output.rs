//! Terminal output for the CLI: colour choice and printing diagnostics.

use std::io::{IsTerminal, Write};

use obp_lang::diagnostics::render;
use obp_lang::{Diagnostic, SourceMap};

#[derive(Clone, Copy)]
pub enum Color {
    Always,
    Never,
}

impl Color {
    pub fn from_flag(flag: &str) -> Color {
        match flag {
            "always" => Color::Always,
            "never" => Color::Never,
            _ if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() => {
                Color::Always
            }
            _ => Color::Never,
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

/// Prints a one-line error to stderr.
pub fn error(message: &str, color: Color) {
    let _ = writeln!(std::io::stderr(), "{} {message}", paint("error:", color));
}

fn paint(text: &str, color: Color) -> String {
    if color.enabled() {
        format!("\u{1b}[1;31m{text}\u{1b}[0m")
    } else {
        text.to_owned()
    }
}
