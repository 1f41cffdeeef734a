//! Literals: numbers written so they reparse to the same value, and strings re-escaped —
//! `"…"`, or `"""` blocks indented under their line when the dedent rules give the text back.

use super::printer::{Mode, Printer, INDENT_WIDTH};
use crate::ast::{Expr, Literal, PatternKind, StrLit, StrPart};

/// A piece of a string: adjacent text merged, empty text dropped.
enum Seg<'e> {
    Text(String),
    Interp(&'e Expr),
}

fn segments(parts: &[StrPart]) -> Vec<Seg<'_>> {
    let mut segs = Vec::new();
    for part in parts {
        match part {
            StrPart::Text(text) if text.is_empty() => {}
            StrPart::Text(text) => match segs.last_mut() {
                Some(Seg::Text(last)) => last.push_str(text),
                _ => segs.push(Seg::Text(text.clone())),
            },
            StrPart::Interp(expr) => segs.push(Seg::Interp(expr)),
        }
    }
    segs
}

/// Splits pieces at newlines in their text: one list of pieces per line.
fn lines<'e>(segs: &[Seg<'e>]) -> Vec<Vec<Seg<'e>>> {
    let mut lines = Vec::new();
    let mut line = Vec::new();
    for seg in segs {
        match seg {
            Seg::Interp(expr) => line.push(Seg::Interp(expr)),
            Seg::Text(text) => {
                for (i, piece) in text.split('\n').enumerate() {
                    if i > 0 {
                        lines.push(std::mem::take(&mut line));
                    }
                    if !piece.is_empty() {
                        line.push(Seg::Text(piece.to_owned()));
                    }
                }
            }
        }
    }
    lines.push(line);
    lines
}

/// Whether printing `lines` as an indented `"""` block reparses to the same text: the
/// parser removes the smallest indentation of the non-blank lines, so one line must start
/// right at the block's indentation, i.e. not with a space or tab of its own.
fn block_keeps_text(lines: &[Vec<Seg<'_>>]) -> bool {
    lines.iter().any(|line| match line.first() {
        Some(Seg::Interp(_)) => true,
        Some(Seg::Text(text)) => !text.starts_with([' ', '\t']),
        None => false,
    })
}

pub(super) fn literal(lit: &Literal) -> String {
    match lit {
        Literal::Null => "null".to_owned(),
        Literal::Bool(value) => value.to_string(),
        Literal::Int(value) => value.to_string(),
        Literal::Float(value) => float(*value),
        Literal::Str(text) => {
            let mut out = String::from("\"");
            escape_inline(text, &mut out);
            out.push('"');
            out
        }
    }
}

pub(super) fn pattern(kind: &PatternKind) -> String {
    match kind {
        PatternKind::Wildcard => "_".to_owned(),
        PatternKind::Literal(lit) => literal(lit),
    }
}

/// The shortest text that reads back as the same `f64`, in the grammar's float form:
/// digits, `.`, digits, then an optional exponent (`1.0`, `0.5`, `1.5e300`, `1.0e-7`).
pub(super) fn float(value: f64) -> String {
    let text = format!("{value:?}");
    let (mantissa, exponent) = match text.split_once('e') {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (text.as_str(), None),
    };
    let mut out = mantissa.to_owned();
    if !mantissa.contains('.') {
        out.push_str(".0");
    }
    if let Some(exponent) = exponent {
        out.push('e');
        out.push_str(exponent);
    }
    out
}

fn unicode_escape(c: char, out: &mut String) {
    out.push_str(&format!("\\u{{{:x}}}", c as u32));
}

/// Escapes text for a string on one line: quotes, backslashes, line breaks, tabs, `${`
/// and every other control character.
fn escape_inline(text: &str, out: &mut String) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c if c.is_control() => unicode_escape(c, out),
            c => out.push(c),
        }
    }
}

/// Escapes text on one line of a `"""` block: backslashes, `${`, control characters but
/// tab, every third quote in a row (so no `"""` appears), and the line's last character if
/// it is whitespace (lines never end in whitespace, and the escape keeps it in the text).
/// `quotes` counts the unescaped quotes just written; `ends_line` says this text ends it.
fn escape_block(text: &str, ends_line: bool, quotes: &mut usize, out: &mut String) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let last = ends_line && chars.peek().is_none();
        if c == '"' && *quotes < 2 {
            out.push('"');
            *quotes += 1;
            continue;
        }
        *quotes = 0;
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            ' ' if last => out.push_str("\\u{20}"),
            '\t' if last => out.push_str("\\t"),
            '\t' => out.push('\t'),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => unicode_escape(c, out),
            c => out.push(c),
        }
    }
}

impl Printer<'_> {
    pub(super) fn string(&mut self, string: &StrLit) {
        let segs = segments(&string.parts);
        if !string.multiline {
            self.quoted(&segs, "\"", false);
            return;
        }
        let lines = lines(&segs);
        if segs.is_empty() || self.mode == Mode::Flat || !block_keeps_text(&lines) {
            // One line, with a leading space escaped so the dedent cannot take it.
            self.quoted(&segs, "\"\"\"", true);
        } else {
            self.block(&lines);
        }
    }

    /// A string on one line between `delimiter`s.
    fn quoted(&mut self, segs: &[Seg<'_>], delimiter: &str, guard_leading_space: bool) {
        self.write(delimiter);
        for (i, seg) in segs.iter().enumerate() {
            match seg {
                Seg::Text(text) => {
                    let mut out = String::new();
                    let rest = match text.strip_prefix(' ') {
                        Some(rest) if i == 0 && guard_leading_space => {
                            out.push_str("\\u{20}");
                            rest
                        }
                        _ => text,
                    };
                    escape_inline(rest, &mut out);
                    self.write(&out);
                }
                Seg::Interp(expr) => self.interp(expr),
            }
        }
        self.write(delimiter);
    }

    /// A `"""` block: content one level deeper than the line holding the opening quotes,
    /// the closing quotes at that line's indentation, empty lines without indentation.
    fn block(&mut self, lines: &[Vec<Seg<'_>>]) {
        if self.mode == Mode::TryInline {
            // A block spans lines, so the attempt has failed already.
            self.write("\n");
            return;
        }
        let indent = self.line_indent();
        let content_indent = " ".repeat(indent + INDENT_WIDTH);
        self.write("\"\"\"");
        for line in lines {
            self.write("\n");
            if line.is_empty() {
                continue;
            }
            self.write(&content_indent);
            let mut quotes = 0;
            for (i, seg) in line.iter().enumerate() {
                match seg {
                    Seg::Text(text) => {
                        let mut out = String::new();
                        escape_block(text, i + 1 == line.len(), &mut quotes, &mut out);
                        self.write(&out);
                    }
                    Seg::Interp(expr) => {
                        quotes = 0;
                        self.interp(expr);
                    }
                }
            }
        }
        self.write("\n");
        self.write(&" ".repeat(indent));
        self.write("\"\"\"");
    }

    /// `${expr}`, always on one line.
    fn interp(&mut self, expr: &Expr) {
        self.write("${");
        self.flat(|p| p.expr(expr));
        self.write("}");
    }
}
