//! The canonical formatter behind `obp fmt`: prints a parsed file back in the one layout the
//! language has, keeping every comment.
//!
//! Layout: two-space indentation; one item, entry, check, rule or match arm per line;
//! declaration bodies and `key { … }` blocks always span lines; expression records and lists
//! stay on one line when they fit in 100 columns and hold no comment and no `"""` block; at
//! most one blank line, and only where the source had one.
//!
//! The printer walks the AST in source order into one buffer (`printer.rs`). Each construct
//! with a line of its own is a `body::Node`, and comments are placed around nodes by position
//! (`body.rs`), so the output depends only on the tree, the comments and where the source had
//! blank lines: formatting the output again changes nothing.

mod body;
mod comments;
mod exprs;
mod items;
mod printer;
mod spans;
mod strings;
mod types;

#[cfg(test)]
mod tests;

use crate::ast::File;
use crate::parse::{parse, Comment, SyntaxError};
use crate::span::FileId;

use printer::Printer;

/// Parses `source` and formats it; returns the syntax errors instead when there are any.
pub fn format_source(file: FileId, source: &str) -> Result<String, Vec<SyntaxError>> {
    let parsed = parse(file, source);
    match parsed.file {
        Some(ast) if parsed.errors.is_empty() => Ok(format_file(&ast, &parsed.comments, source)),
        _ => Err(parsed.errors),
    }
}

/// Formats a parsed file; `comments` and `source` are what [`parse`] was given and returned.
pub fn format_file(file: &File, comments: &[Comment], source: &str) -> String {
    let mut printer = Printer::new(source, comments);
    printer.file(file);
    printer.finish()
}
