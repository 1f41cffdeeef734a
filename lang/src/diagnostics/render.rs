//! The only place diagnostics become text (rustc-like, via codespan-reporting) or JSON.

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label as CsLabel, LabelStyle};
use codespan_reporting::term::{self, termcolor};
use serde_json::json;

use super::{Diagnostic, Severity};
use crate::span::{FileId, SourceMap};

/// Renders diagnostics as rustc-style text; with `color`, ANSI colours are included.
pub fn to_text(diagnostics: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
    let mut buffer = if color {
        termcolor::Buffer::ansi()
    } else {
        termcolor::Buffer::no_color()
    };
    let config = term::Config::default();
    for diagnostic in diagnostics {
        let converted = convert(diagnostic);
        if term::emit_to_write_style(&mut buffer, &config, sources, &converted).is_err() {
            // A span outside its file is a bug upstream; still say what went wrong.
            buffer_plain(&mut buffer, diagnostic);
        }
    }
    String::from_utf8_lossy(buffer.as_slice()).into_owned()
}

fn buffer_plain(buffer: &mut termcolor::Buffer, diagnostic: &Diagnostic) {
    use std::io::Write;
    let _ = writeln!(buffer, "error[{}]: {}", diagnostic.code, diagnostic.message);
}

fn convert(diagnostic: &Diagnostic) -> CsDiagnostic<FileId> {
    let base = match diagnostic.severity {
        Severity::Error => CsDiagnostic::error(),
        Severity::Warning => CsDiagnostic::warning(),
    };
    let labels = diagnostic
        .labels
        .iter()
        .map(|label| {
            let style = if label.primary {
                LabelStyle::Primary
            } else {
                LabelStyle::Secondary
            };
            CsLabel::new(style, label.span.file, label.span.range()).with_message(&label.message)
        })
        .collect();
    base.with_code(diagnostic.code)
        .with_message(&diagnostic.message)
        .with_labels(labels)
        .with_notes(
            diagnostic
                .help
                .iter()
                .map(|h| format!("help: {h}"))
                .collect(),
        )
}

/// Renders diagnostics as a JSON array, one object per diagnostic, for `--json`.
pub fn to_json(diagnostics: &[Diagnostic], sources: &SourceMap) -> serde_json::Value {
    let items = diagnostics
        .iter()
        .map(|d| {
            let labels: Vec<_> = d
                .labels
                .iter()
                .map(|l| {
                    let (line, column) = sources.line_col(l.span);
                    json!({
                        "file": sources.name(l.span.file),
                        "line": line,
                        "column": column,
                        "start": l.span.start,
                        "end": l.span.end,
                        "message": l.message,
                        "primary": l.primary,
                    })
                })
                .collect();
            json!({
                "code": d.code,
                "severity": d.severity,
                "message": d.message,
                "labels": labels,
                "help": d.help,
            })
        })
        .collect();
    serde_json::Value::Array(items)
}
