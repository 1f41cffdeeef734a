//! String literals: escape decoding, `${…}` parts and multi-line dedent.

use pest::iterators::Pair;

use super::error::SyntaxError;
use super::{Builder, Rule};
use crate::ast::{StrLit, StrPart};

/// A piece of a string before dedenting: raw text splits into lines, escapes and
/// interpolations are content that is never re-indented.
enum Piece {
    Raw(String),
    Escaped(String),
    Interp(crate::ast::Expr),
}

impl Builder {
    /// Builds a `string` or `mstring` pair.
    pub(super) fn string(&mut self, pair: Pair<'_, Rule>) -> StrLit {
        let multiline = pair.as_rule() == Rule::mstring;
        let mut pieces = Vec::new();
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::string_text | Rule::mstring_text => {
                    pieces.push(Piece::Raw(part.as_str().to_owned()))
                }
                Rule::escape => {
                    let text = self.escape(&part);
                    pieces.push(Piece::Escaped(text));
                }
                Rule::interp => {
                    let inner = part.into_inner().next();
                    if let Some(expr) = inner {
                        let expr = self.expr(expr);
                        pieces.push(Piece::Interp(expr));
                    }
                }
                _ => self.unexpected_rule(&part),
            }
        }
        let parts = if multiline {
            dedent(pieces)
        } else {
            join(pieces)
        };
        StrLit { parts, multiline }
    }

    fn escape(&mut self, pair: &Pair<'_, Rule>) -> String {
        let text = pair.as_str();
        let decoded = match text {
            "\\n" => Some("\n".to_owned()),
            "\\r" => Some("\r".to_owned()),
            "\\t" => Some("\t".to_owned()),
            "\\\\" => Some("\\".to_owned()),
            "\\\"" => Some("\"".to_owned()),
            "\\$" => Some("$".to_owned()),
            _ => None,
        };
        if let Some(decoded) = decoded {
            return decoded;
        }
        if let Some(decoded) = text.strip_prefix("\\u").and_then(unicode_escape) {
            return decoded;
        }
        self.error(SyntaxError::InvalidEscape {
            span: self.span(&pair.as_span()),
            escape: text.to_owned(),
        });
        String::new()
    }
}

/// Decodes the `{XXXX}` of `\u{XXXX}`.
fn unicode_escape(rest: &str) -> Option<String> {
    let body = rest.strip_prefix('{')?;
    let close = body.find('}')?;
    let code = u32::from_str_radix(&body[..close], 16).ok()?;
    char::from_u32(code).map(String::from)
}

fn join(pieces: Vec<Piece>) -> Vec<StrPart> {
    let mut parts: Vec<StrPart> = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Raw(text) | Piece::Escaped(text) => push_text(&mut parts, &text),
            Piece::Interp(expr) => parts.push(StrPart::Interp(expr)),
        }
    }
    parts
}

fn push_text(parts: &mut Vec<StrPart>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(StrPart::Text(last)) = parts.last_mut() {
        last.push_str(text);
    } else {
        parts.push(StrPart::Text(text.to_owned()));
    }
}

/// Splits pieces into lines, drops a blank first and last line, and removes the smallest
/// indentation shared by the non-blank lines.
fn dedent(pieces: Vec<Piece>) -> Vec<StrPart> {
    let mut lines: Vec<Vec<Piece>> = vec![Vec::new()];
    for piece in pieces {
        match piece {
            Piece::Raw(text) => {
                let mut first = true;
                for segment in text.split('\n') {
                    if !first {
                        lines.push(Vec::new());
                    }
                    first = false;
                    if !segment.is_empty() {
                        lines
                            .last_mut()
                            .unwrap_or(&mut Vec::new())
                            .push(Piece::Raw(segment.to_owned()));
                    }
                }
            }
            other => {
                if let Some(line) = lines.last_mut() {
                    line.push(other);
                }
            }
        }
    }
    let blank = |line: &Vec<Piece>| {
        line.iter()
            .all(|p| matches!(p, Piece::Raw(t) if t.trim().is_empty()))
    };
    if lines.len() > 1 && lines.first().is_some_and(blank) {
        lines.remove(0);
    }
    if lines.len() > 1 && lines.last().is_some_and(blank) {
        lines.pop();
    }
    let indent_of = |line: &Vec<Piece>| match line.first() {
        Some(Piece::Raw(t)) => t.len() - t.trim_start_matches([' ', '\t']).len(),
        _ => 0,
    };
    let indent = lines
        .iter()
        .filter(|l| !blank(l))
        .map(indent_of)
        .min()
        .unwrap_or(0);
    let mut parts = Vec::new();
    let count = lines.len();
    for (n, line) in lines.into_iter().enumerate() {
        let mut strip = indent;
        for piece in line {
            match piece {
                Piece::Raw(text) => {
                    let cut = text
                        .char_indices()
                        .take_while(|(i, c)| *i < strip && (*c == ' ' || *c == '\t'))
                        .count();
                    strip = strip.saturating_sub(cut);
                    push_text(&mut parts, &text[cut..]);
                }
                Piece::Escaped(text) => {
                    strip = 0;
                    push_text(&mut parts, &text);
                }
                Piece::Interp(expr) => {
                    strip = 0;
                    parts.push(StrPart::Interp(expr));
                }
            }
        }
        if n + 1 < count {
            push_text(&mut parts, "\n");
        }
    }
    parts
}
