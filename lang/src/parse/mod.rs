//! Source text to AST: a lexical scan, the pest grammar (`grammar/obp.pest`), and AST
//! builders split by grammar section (`decl`, `expr`, `types`, `strings`).
//!
//! pest stays inside this module: its errors become [`SyntaxError`]s here and the AST never
//! holds a pest type.

mod decl;
pub mod error;
mod expr;
mod labels;
pub mod lexical;
mod strings;
mod types;

use pest::Parser as _;

pub use error::SyntaxError;
pub use lexical::Comment;

use crate::ast::File;
use crate::span::{FileId, Span};

#[derive(pest_derive::Parser)]
#[grammar = "grammar/obp.pest"]
struct ObpParser;

/// Deepest expression tree the builders accept (operators, prefixes, calls).
pub const MAX_EXPR_DEPTH: usize = 256;

/// What parsing one file produced.
#[derive(Debug)]
pub struct Parsed {
    /// The tree, unless the file could not be parsed at all.
    pub file: Option<File>,
    /// All comments, in source order (for the formatter).
    pub comments: Vec<Comment>,
    pub errors: Vec<SyntaxError>,
}

/// Parses one source file.
pub fn parse(file_id: FileId, source: &str) -> Parsed {
    let comments = match lexical::scan(file_id, source) {
        Ok(comments) => comments,
        Err(error) => {
            return Parsed {
                file: None,
                comments: Vec::new(),
                errors: vec![error],
            }
        }
    };
    let pairs = match ObpParser::parse(Rule::file, source) {
        Ok(pairs) => pairs,
        Err(error) => {
            return Parsed {
                file: None,
                comments,
                errors: vec![labels::convert(file_id, source, error)],
            }
        }
    };
    let mut comment_ends = std::collections::HashMap::new();
    for comment in &comments {
        let start = comment.span.start as usize;
        comment_ends.insert(comment.span.end as usize, start);
        comment_ends.insert(start + comment.text.len(), start);
    }
    let mut builder = Builder {
        file: file_id,
        errors: Vec::new(),
        depth: 0,
        comment_ends,
    };
    let mut items: Vec<crate::ast::Item> = Vec::new();
    for pair in pairs.take(1) {
        for item in pair.into_inner() {
            if item.as_rule() == Rule::EOI {
                continue;
            }
            let previous_end = items.last().map_or(0, |i| i.span.end);
            if let Some(item) = builder.item(item, &comments, previous_end) {
                items.push(item);
            }
        }
    }
    Parsed {
        file: Some(File { id: file_id, items }),
        comments,
        errors: builder.errors,
    }
}

/// Turns pest pairs into AST nodes, collecting errors the grammar cannot express.
pub(crate) struct Builder {
    file: FileId,
    errors: Vec<SyntaxError>,
    depth: usize,
    /// End offset → start offset of every comment, to trim spans.
    comment_ends: std::collections::HashMap<usize, usize>,
}

impl Builder {
    /// A node's span without the whitespace and comments pest includes at its end.
    fn span(&self, span: &pest::Span<'_>) -> Span {
        let text = span.as_str();
        let start = span.start();
        let mut len = text.len();
        loop {
            len = text[..len].trim_end().len();
            match self.comment_ends.get(&(start + len)) {
                Some(comment_start) if *comment_start >= start && *comment_start < start + len => {
                    len = comment_start - start;
                }
                _ => break,
            }
        }
        Span::new(self.file, start, start + len)
    }

    fn error(&mut self, error: SyntaxError) {
        self.errors.push(error);
    }

    /// A pair the grammar cannot produce at this position: a bug in the builder, reported
    /// as a syntax error rather than a panic.
    #[track_caller]
    fn unexpected_rule(&mut self, pair: &pest::iterators::Pair<'_, Rule>) {
        let span = self.span(&pair.as_span());
        self.error(SyntaxError::Unexpected {
            span,
            expected: vec![format!(
                "not {} (internal: {})",
                labels::rule_label(pair.as_rule()),
                std::panic::Location::caller()
            )],
            found: labels::rule_label(pair.as_rule()).to_owned(),
        });
    }
}

#[cfg(test)]
mod tests;
