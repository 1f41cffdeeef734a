//! The only place diagnostics become text (rustc-like, via codespan-reporting) or JSON.
//!
//! Text output is for a terminal, and what it quotes is not trusted: a source file or a value
//! may hold ESC, BEL, a carriage return or a bidirectional override that would act on the
//! terminal instead of showing. Every message, file name and source excerpt is therefore
//! escaped ([`escape_controls`]), and a source line longer than [`MAX_LINE`] bytes is cut to
//! the part the labels point at, so a file that is not obp at all (a key file named by
//! mistake) is never echoed beyond a short excerpt. Line and column numbers stay those of
//! the original text. JSON output is escaped by serde and quotes no source.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label as CsLabel, LabelStyle};
use codespan_reporting::files::{Error as FilesError, Files, Location, SimpleFile};
use codespan_reporting::term::{self, termcolor};
use serde_json::json;

use super::{Diagnostic, Severity};
use crate::span::{FileId, SourceMap};

/// Longest source line quoted whole (bytes); longer lines are cut around the labels.
pub const MAX_LINE: usize = 160;
/// Bytes kept on each side of a label in a cut line.
const CONTEXT: usize = 40;

/// Renders diagnostics as rustc-style text; with `color`, ANSI colours are included.
pub fn to_text(diagnostics: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
    let mut buffer = if color {
        termcolor::Buffer::ansi()
    } else {
        termcolor::Buffer::no_color()
    };
    let config = term::Config::default();
    for diagnostic in diagnostics {
        let shown = Shown::new(sources, diagnostic);
        let converted = convert(diagnostic, &shown);
        if term::emit_to_write_style(&mut buffer, &config, &shown, &converted).is_err() {
            // A span outside its file is a bug upstream; still say what went wrong.
            buffer_plain(&mut buffer, diagnostic);
        }
    }
    String::from_utf8_lossy(buffer.as_slice()).into_owned()
}

fn buffer_plain(buffer: &mut termcolor::Buffer, diagnostic: &Diagnostic) {
    use std::io::Write;
    let _ = writeln!(
        buffer,
        "error[{}]: {}",
        diagnostic.code,
        escape_controls(&diagnostic.message)
    );
}

/// Whether a character would act on a terminal rather than show: control characters other
/// than newline and tab (C0, DEL, C1 such as CSI), and the bidirectional embeddings,
/// overrides and isolates that reorder what is displayed.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every unsafe character written as a Rust-style escape such as `\u{1b}`.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One replaced piece of a shown file: `old` bytes of the source became `new` bytes.
#[derive(Debug, Clone)]
struct Edit {
    old: Range<usize>,
    new: Range<usize>,
}

/// The text of one source file as it is shown: escaped, long lines cut.
struct ShownFile {
    file: SimpleFile<String, String>,
    /// Sorted, non-overlapping.
    edits: Vec<Edit>,
}

impl ShownFile {
    /// Builds the shown text of `source`; `marks` are the label ranges in it.
    fn new(name: &str, source: &str, marks: &[Range<usize>]) -> ShownFile {
        let mut text = String::with_capacity(source.len());
        let mut edits = Vec::new();
        let mut replace = |text: &mut String, old: Range<usize>, with: &str| {
            let start = text.len();
            text.push_str(with);
            edits.push(Edit {
                old,
                new: start..text.len(),
            });
        };
        let mut line_start = 0;
        for line in source.split_inclusive('\n') {
            let body_end = line_start + line.trim_end_matches('\n').len();
            let (from, to) = window(source, line_start..body_end, marks);
            if from > line_start {
                replace(&mut text, line_start..from, "…");
            }
            for (offset, c) in source[from..to].char_indices() {
                let at = from + offset;
                let crlf = c == '\r' && at + 1 == body_end && source[body_end..].starts_with('\n');
                if is_unsafe(c) && !crlf {
                    replace(
                        &mut text,
                        at..at + c.len_utf8(),
                        &escape_controls(&c.to_string()),
                    );
                } else {
                    text.push(c);
                }
            }
            if to < body_end {
                replace(&mut text, to..body_end, "…");
            }
            text.push_str(&source[body_end..line_start + line.len()]);
            line_start += line.len();
        }
        ShownFile {
            file: SimpleFile::new(escape_controls(name).into_owned(), text),
            edits,
        }
    }

    /// Where a byte offset of the source is in the shown text.
    fn to_shown(&self, offset: usize) -> usize {
        let at = self.edits.partition_point(|e| e.old.start <= offset);
        match at.checked_sub(1).map(|i| &self.edits[i]) {
            None => offset,
            Some(edit) if offset == edit.old.start => edit.new.start,
            Some(edit) if offset < edit.old.end => edit.new.end,
            Some(edit) => edit.new.end + (offset - edit.old.end),
        }
    }

    /// Where a byte offset of the shown text is in the source.
    fn to_source(&self, offset: usize) -> usize {
        let at = self.edits.partition_point(|e| e.new.start <= offset);
        match at.checked_sub(1).map(|i| &self.edits[i]) {
            None => offset,
            Some(edit) if offset < edit.new.end => edit.old.start,
            Some(edit) => edit.old.end + (offset - edit.new.end),
        }
    }
}

/// The part of a line that is shown: all of it when short, else a window around the labels
/// on it (or its start), on character boundaries.
fn window(source: &str, line: Range<usize>, marks: &[Range<usize>]) -> (usize, usize) {
    if line.len() <= MAX_LINE {
        return (line.start, line.end);
    }
    let on_line: Vec<&Range<usize>> = marks
        .iter()
        .filter(|m| m.start <= line.end && m.end >= line.start)
        .collect();
    let first = on_line.iter().map(|m| m.start).min().unwrap_or(line.start);
    let last = on_line.iter().map(|m| m.end).max().unwrap_or(line.start);
    let from = first.saturating_sub(CONTEXT).max(line.start);
    let to = (last + CONTEXT)
        .min(line.end)
        .min(from + MAX_LINE)
        .max(from);
    (floor(source, from), floor(source, to))
}

fn floor(text: &str, mut index: usize) -> usize {
    while index > 0 && !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// The files one diagnostic quotes, as shown.
struct Shown<'a> {
    sources: &'a SourceMap,
    files: BTreeMap<FileId, ShownFile>,
}

impl<'a> Shown<'a> {
    fn new(sources: &'a SourceMap, diagnostic: &Diagnostic) -> Shown<'a> {
        let mut marks: BTreeMap<FileId, Vec<Range<usize>>> = BTreeMap::new();
        for label in &diagnostic.labels {
            if (label.span.file.0 as usize) < sources.len() {
                marks
                    .entry(label.span.file)
                    .or_default()
                    .push(label.span.range());
            }
        }
        let files = marks
            .into_iter()
            .map(|(id, marks)| {
                let shown = ShownFile::new(sources.name(id), sources.source(id), &marks);
                (id, shown)
            })
            .collect();
        Shown { sources, files }
    }

    fn file(&self, id: FileId) -> Result<&ShownFile, FilesError> {
        self.files.get(&id).ok_or(FilesError::FileMissing)
    }

    /// A source range as a range of the shown text.
    fn range(&self, id: FileId, range: Range<usize>) -> Range<usize> {
        match self.files.get(&id) {
            Some(file) => file.to_shown(range.start)..file.to_shown(range.end),
            None => range,
        }
    }
}

impl<'a> Files<'a> for Shown<'_> {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, FilesError> {
        Ok(self.file(id)?.file.name().as_str())
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, FilesError> {
        Ok(self.file(id)?.file.source().as_str())
    }

    fn line_index(&'a self, id: FileId, byte_index: usize) -> Result<usize, FilesError> {
        self.file(id)?.file.line_index((), byte_index)
    }

    fn line_range(&'a self, id: FileId, line_index: usize) -> Result<Range<usize>, FilesError> {
        self.file(id)?.file.line_range((), line_index)
    }

    /// Line and column in the original source, not in the escaped or cut text.
    fn location(&'a self, id: FileId, byte_index: usize) -> Result<Location, FilesError> {
        let original = self.file(id)?.to_source(byte_index);
        Files::location(self.sources, id, original)
    }
}

fn convert(diagnostic: &Diagnostic, shown: &Shown<'_>) -> CsDiagnostic<FileId> {
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
            let range = shown.range(label.span.file, label.span.range());
            CsLabel::new(style, label.span.file, range)
                .with_message(escape_controls(&label.message).into_owned())
        })
        .collect();
    base.with_code(diagnostic.code)
        .with_message(escape_controls(&diagnostic.message).into_owned())
        .with_labels(labels)
        .with_notes(
            diagnostic
                .help
                .iter()
                .map(|h| format!("help: {}", escape_controls(h)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Span;

    fn render_one(source: &str, range: Range<usize>, message: &str) -> String {
        let mut sources = SourceMap::new();
        let file = sources.add("main\u{1b}[2J.obp", source);
        let diagnostic = Diagnostic::error("E0101", message)
            .primary(Span::new(file, range.start, range.end), "label \u{7}")
            .help("help \u{9b}31m");
        to_text(&[diagnostic], &sources, false)
    }

    #[test]
    fn control_characters_are_escaped_everywhere() {
        let text = render_one(
            "let x = \"\u{1b}]0;title\u{7}\" // \u{202e}gnp.exe\n",
            8..21,
            "found \u{1b}[31m",
        );
        for raw in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}'] {
            assert!(!text.contains(raw), "{raw:?} printed raw:\n{text}");
        }
        assert!(text.contains("\\u{1b}]0;title\\u{7}"), "{text}");
        assert!(text.contains("\\u{202e}gnp.exe"), "{text}");
        assert!(text.contains("main\\u{1b}[2J.obp:1:9"), "{text}");
        // The caret still sits under the (escaped) string.
        let line = text
            .lines()
            .find(|l| l.contains("let x"))
            .unwrap_or_default();
        let carets = text.lines().find(|l| l.contains('^')).unwrap_or_default();
        assert_eq!(line.find("\"\\u{1b}"), carets.find('^'), "{text}");
    }

    #[test]
    fn long_lines_are_cut_around_the_label_with_original_columns() {
        let source = format!("{}BAD{}secret-tail\n", "a".repeat(500), "b".repeat(500));
        let text = render_one(&source, 500..503, "syntax error");
        assert!(!text.contains("secret-tail"), "{text}");
        assert!(text.contains("BAD"), "{text}");
        assert!(text.contains(":1:501"), "{text}");
        let longest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        assert!(
            longest < MAX_LINE + 20,
            "a line of {longest} characters:\n{text}"
        );
    }

    #[test]
    fn crlf_line_ends_stay_quiet() {
        let text = render_one("let x = 1\r\nlet y = 2\r\n", 11..14, "here");
        assert!(!text.contains("\\u{d}"), "{text}");
        assert!(text.contains(":2:1"), "{text}");
    }
}
