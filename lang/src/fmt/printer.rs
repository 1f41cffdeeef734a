//! The output buffer: lazy indentation (so blank lines carry no spaces), the current column,
//! and the three layout modes with the "try it on one line" helper.

use crate::parse::Comment;

/// Widest line an inline record or list may end on.
pub(super) const MAX_WIDTH: usize = 100;
/// Spaces per indentation level.
pub(super) const INDENT_WIDTH: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Records and lists choose their layout; comments are printed.
    Normal,
    /// Measuring whether a record or list fits on one line: nested records and lists stay
    /// inline, anything that must break writes a newline (which fails the attempt), and
    /// comments are left alone because the attempt may be thrown away.
    TryInline,
    /// Inside `${…}`: everything on one line whatever its width, never a comment (the
    /// enclosing line-level construct printed them before itself).
    Flat,
}

pub(super) struct Printer<'a> {
    pub(super) source: &'a str,
    /// All comments of the file, by position.
    pub(super) comments: Vec<Comment>,
    /// Which comments have been written (or claimed by a construct that will write them).
    pub(super) claimed: Vec<bool>,
    /// `///` comments for the header of the item being printed (see `body::Leading`).
    pub(super) header_comments: Vec<usize>,
    pub(super) mode: Mode,
    /// Columns the next one-line attempt must leave free (for a `,` that follows it).
    pub(super) reserve: usize,
    out: String,
    indent: usize,
    /// A newline was written and the next text must first get the indentation.
    pending_indent: bool,
}

impl<'a> Printer<'a> {
    pub(super) fn new(source: &'a str, comments: &[Comment]) -> Printer<'a> {
        let mut comments = comments.to_vec();
        comments.sort_by_key(|c| c.span.start);
        Printer {
            source,
            claimed: vec![false; comments.len()],
            comments,
            header_comments: Vec::new(),
            mode: Mode::Normal,
            reserve: 0,
            out: String::new(),
            indent: 0,
            pending_indent: false,
        }
    }

    /// The finished text: LF line endings and exactly one trailing newline (none if empty).
    pub(super) fn finish(self) -> String {
        let text = self.out.trim_end_matches('\n');
        if text.is_empty() {
            String::new()
        } else {
            format!("{text}\n")
        }
    }

    /// Writes text, indenting first if a line just started. Lines after a newline inside
    /// `text` are taken as already laid out (multi-line strings, block comments).
    pub(super) fn write(&mut self, text: &str) {
        if !text.is_empty() {
            self.flush_indent();
            self.out.push_str(text);
        }
    }

    pub(super) fn flush_indent(&mut self) {
        if self.pending_indent {
            self.pending_indent = false;
            for _ in 0..self.indent * INDENT_WIDTH {
                self.out.push(' ');
            }
        }
    }

    pub(super) fn newline(&mut self) {
        self.out.push('\n');
        self.pending_indent = true;
    }

    /// Starts the line for the next construct, after an empty line if `blank`; nothing at
    /// the very start of the file.
    pub(super) fn start_line(&mut self, blank: bool) {
        if self.out.is_empty() {
            return;
        }
        self.newline();
        if blank {
            self.out.push('\n');
        }
    }

    pub(super) fn indent(&mut self) {
        self.indent += 1;
    }

    pub(super) fn dedent(&mut self) {
        self.indent = self.indent.saturating_sub(1);
    }

    fn current_line(&self) -> &str {
        let start = self.out.rfind('\n').map_or(0, |n| n + 1);
        &self.out[start..]
    }

    /// Column after the text written so far on the current line.
    pub(super) fn column(&self) -> usize {
        let pending = if self.pending_indent {
            self.indent * INDENT_WIDTH
        } else {
            0
        };
        self.current_line().chars().count() + pending
    }

    /// Indentation, in spaces, of the line being written.
    pub(super) fn line_indent(&self) -> usize {
        if self.pending_indent {
            return self.indent * INDENT_WIDTH;
        }
        let line = self.current_line();
        line.len() - line.trim_start_matches(' ').len()
    }

    /// Runs `print` in [`Mode::Flat`].
    pub(super) fn flat(&mut self, print: impl FnOnce(&mut Self)) {
        let saved = self.mode;
        self.mode = Mode::Flat;
        print(self);
        self.mode = saved;
    }

    /// Prints with `print` in [`Mode::TryInline`] and keeps the result if it stayed on one
    /// line within [`MAX_WIDTH`]; otherwise erases it and returns false.
    pub(super) fn try_inline(&mut self, print: impl FnOnce(&mut Self)) -> bool {
        let reserve = std::mem::take(&mut self.reserve);
        let mark = self.out.len();
        let pending = self.pending_indent;
        let saved = self.mode;
        self.mode = Mode::TryInline;
        print(self);
        self.mode = saved;
        let fits = !self.out[mark..].contains('\n') && self.column() + reserve <= MAX_WIDTH;
        if !fits {
            self.out.truncate(mark);
            self.pending_indent = pending;
        }
        fits
    }
}
