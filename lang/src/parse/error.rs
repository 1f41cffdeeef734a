//! Syntax errors (E01xx): what the lexical scan and the pest grammar can report.

use thiserror::Error;

use crate::diagnostics::{Diagnostic, IntoDiagnostic};
use crate::span::Span;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SyntaxError {
    /// The grammar met something it did not expect.
    #[error("expected {}, found {found}", list_expected(expected))]
    Unexpected {
        span: Span,
        expected: Vec<String>,
        found: String,
    },
    /// A construct the grammar accepts but the language forbids in this position.
    #[error("{what} is not allowed {place}")]
    NotAllowed {
        span: Span,
        what: &'static str,
        place: &'static str,
    },
    /// A `"` or `"""` string runs to the end of its line or file.
    #[error("unterminated string")]
    UnterminatedString { span: Span, multiline: bool },
    /// A `/* … */` comment never ends.
    #[error("unterminated block comment")]
    UnterminatedComment { span: Span },
    /// A `${` inside a string is never closed by `}`.
    #[error("unterminated interpolation")]
    UnterminatedInterpolation { span: Span },
    /// A backslash escape the language does not know.
    #[error("unknown escape sequence `{escape}`")]
    InvalidEscape { span: Span, escape: String },
    /// Brackets or expressions nest deeper than the parser allows.
    #[error("nesting deeper than {limit} levels")]
    TooDeep { span: Span, limit: usize },
    /// The file exceeds the size limit.
    #[error("file is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        span: Span,
        size: usize,
        limit: usize,
    },
    /// A number that does not fit the integer or float range.
    #[error("number `{text}` is out of range")]
    InvalidNumber { span: Span, text: String },
    /// Bytes that are not UTF-8 text, or control characters such as NUL.
    #[error("file is not UTF-8 text: {reason}")]
    NotText { span: Span, reason: String },
    /// An opening bracket that is never closed.
    #[error("unclosed `{delimiter}`")]
    Unclosed { open: Span, delimiter: char },
    /// A closing bracket that does not match the innermost open one.
    #[error("mismatched closing delimiter `{found}`")]
    Mismatched {
        open: Option<Span>,
        close: Span,
        expected: Option<char>,
        found: char,
    },
}

fn list_expected(expected: &[String]) -> String {
    match expected {
        [] => "something else".to_owned(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn closing(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

impl IntoDiagnostic for SyntaxError {
    fn into_diagnostic(self) -> Diagnostic {
        let message = self.to_string();
        match self {
            SyntaxError::Unexpected { span, found, .. } => Diagnostic::error("E0101", message)
                .primary(span, format!("unexpected {found}"))
                .help("check the syntax near here; `obp explain E0101` shows the grammar in brief"),
            SyntaxError::NotAllowed { span, .. } => Diagnostic::error("E0101", message)
                .primary(span, "not allowed here"),
            SyntaxError::UnterminatedString { span, multiline } => {
                let help = if multiline {
                    "close the string with `\"\"\"`"
                } else {
                    "close the string with `\"` on the same line, or use `\"\"\"` for text over several lines"
                };
                Diagnostic::error("E0102", message)
                    .primary(span, "this string is never closed")
                    .help(help)
            }
            SyntaxError::UnterminatedComment { span } => Diagnostic::error("E0102", message)
                .primary(span, "this comment is never closed")
                .help("close the comment with `*/`"),
            SyntaxError::UnterminatedInterpolation { span } => Diagnostic::error("E0103", message)
                .primary(span, "this `${` is never closed")
                .help("close the interpolation with `}` before the string ends; write `\\${` for a literal `${`"),
            SyntaxError::InvalidEscape { span, .. } => Diagnostic::error("E0104", message)
                .primary(span, "unknown escape")
                .help("valid escapes are \\n \\r \\t \\\\ \\\" \\$ and \\u{…}"),
            SyntaxError::TooDeep { span, .. } => Diagnostic::error("E0105", message)
                .primary(span, "the limit is reached here")
                .help("flatten the structure with `let` bindings or helper modules"),
            SyntaxError::TooLarge { span, .. } => Diagnostic::error("E0106", message)
                .primary(span, "file starts here")
                .help("split the stack into several files or modules"),
            SyntaxError::InvalidNumber { span, .. } => Diagnostic::error("E0107", message)
                .primary(span, "not a valid number")
                .help("integers are 64-bit signed; write larger quantities as strings such as \"64Gi\""),
            SyntaxError::NotText { span, .. } => Diagnostic::error("E0108", message)
                .primary(span, "here")
                .help("obp reads UTF-8 text files; is this a binary file?"),
            SyntaxError::Unclosed { open, delimiter } => Diagnostic::error("E0109", message)
                .primary(open, format!("this `{delimiter}` is never closed"))
                .help(format!("add `{}` to close it", closing(delimiter))),
            SyntaxError::Mismatched {
                open,
                close,
                expected,
                found,
            } => {
                let diagnostic = Diagnostic::error("E0110", message);
                match (open, expected) {
                    (Some(open), Some(expected)) => diagnostic
                        .primary(close, format!("expected `{expected}`"))
                        .secondary(open, "to close this"),
                    _ => diagnostic
                        .primary(close, "nothing to close here")
                        .help(format!("remove this `{found}`")),
                }
            }
        }
    }
}
