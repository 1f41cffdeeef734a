//! A lexical scan before pest: checks text, delimiters, strings and nesting depth, and
//! collects comments for the formatter and `///` documentation.
//!
//! Doing this first gives exact "unclosed `{`" / "unterminated string" errors and refuses
//! input nested deeper than [`MAX_NESTING`] before the recursive-descent parser sees it.

use super::error::SyntaxError;
use crate::span::{FileId, Span};

/// Deepest bracket and interpolation nesting accepted.
pub const MAX_NESTING: usize = 128;
/// Largest source file accepted, in bytes.
pub const MAX_FILE_SIZE: usize = 8 * 1024 * 1024;

/// A comment as written, with its span (the text includes the `//` or `/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub span: Span,
    pub text: String,
    /// Starts a line of its own (only whitespace before it on that line).
    pub own_line: bool,
}

impl Comment {
    pub fn is_doc(&self) -> bool {
        self.text.starts_with("///") && !self.text.starts_with("////")
    }
}

#[derive(Clone, Copy)]
enum Frame {
    Bracket(char, usize),
    Str(usize),
    MultiStr(usize),
    Interp(usize),
}

/// Scans `source`; returns the comments, or the first error that makes parsing pointless.
pub fn scan(file: FileId, source: &str) -> Result<Vec<Comment>, SyntaxError> {
    let span = |start: usize, end: usize| Span::new(file, start, end);
    if source.len() > MAX_FILE_SIZE {
        return Err(SyntaxError::TooLarge {
            span: span(0, 0),
            size: source.len(),
            limit: MAX_FILE_SIZE,
        });
    }
    if let Some((at, ch)) = source
        .char_indices()
        .find(|(_, c)| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(SyntaxError::NotText {
            span: span(at, at + ch.len_utf8()),
            reason: format!("control character U+{:04X}", ch as u32),
        });
    }

    let bytes = source.as_bytes();
    let mut comments = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match stack.last().copied() {
            Some(Frame::Str(open)) => match b {
                b'\\' => i += 2,
                b'"' => {
                    stack.pop();
                    i += 1;
                }
                b'\n' => return Err(unterminated(&stack, span(open, i))),
                b'$' if bytes.get(i + 1) == Some(&b'{') => {
                    push(&mut stack, Frame::Interp(i), span(i, i + 2))?;
                    i += 2;
                }
                _ => i += 1,
            },
            Some(Frame::MultiStr(_)) => {
                if bytes[i..].starts_with(b"\"\"\"") {
                    stack.pop();
                    i += 3;
                } else if b == b'\\' {
                    i += 2;
                } else if b == b'$' && bytes.get(i + 1) == Some(&b'{') {
                    push(&mut stack, Frame::Interp(i), span(i, i + 2))?;
                    i += 2;
                } else {
                    i += 1;
                }
            }
            _ => {
                // Code, either at top level, inside brackets, or inside `${ … }`.
                match b {
                    b'/' if bytes.get(i + 1) == Some(&b'/') => {
                        let end = source[i..].find('\n').map_or(source.len(), |n| i + n);
                        comments.push(comment(source, file, i, end));
                        i = end;
                    }
                    b'/' if bytes.get(i + 1) == Some(&b'*') => {
                        let Some(close) = source[i + 2..].find("*/") else {
                            return Err(SyntaxError::UnterminatedComment {
                                span: span(i, i + 2),
                            });
                        };
                        let end = i + 2 + close + 2;
                        comments.push(comment(source, file, i, end));
                        i = end;
                    }
                    b'"' => {
                        if bytes[i..].starts_with(b"\"\"\"") {
                            push(&mut stack, Frame::MultiStr(i), span(i, i + 3))?;
                            i += 3;
                        } else {
                            push(&mut stack, Frame::Str(i), span(i, i + 1))?;
                            i += 1;
                        }
                    }
                    b'(' | b'[' | b'{' => {
                        push(&mut stack, Frame::Bracket(b as char, i), span(i, i + 1))?;
                        i += 1;
                    }
                    b')' | b']' | b'}' => {
                        let found = b as char;
                        match stack.last().copied() {
                            Some(Frame::Interp(_)) if found == '}' => {
                                stack.pop();
                            }
                            Some(Frame::Bracket(open, at)) if closes(open, found) => {
                                let _ = at;
                                stack.pop();
                            }
                            Some(Frame::Bracket(open, at)) => {
                                return Err(SyntaxError::Mismatched {
                                    open: Some(span(at, at + 1)),
                                    close: span(i, i + 1),
                                    expected: Some(closing(open)),
                                    found,
                                })
                            }
                            Some(Frame::Interp(at)) => {
                                return Err(SyntaxError::UnterminatedInterpolation {
                                    span: span(at, at + 2),
                                })
                            }
                            _ => {
                                return Err(SyntaxError::Mismatched {
                                    open: None,
                                    close: span(i, i + 1),
                                    expected: None,
                                    found,
                                })
                            }
                        }
                        i += 1;
                    }
                    _ => i += 1,
                }
            }
        }
    }
    // Report the innermost unfinished construct: it is where the text went wrong.
    match stack.last().copied() {
        None => Ok(comments),
        Some(Frame::Str(open)) => Err(unterminated(&stack, span(open, source.len()))),
        Some(Frame::MultiStr(open)) => Err(SyntaxError::UnterminatedString {
            span: span(open, open + 3),
            multiline: true,
        }),
        Some(Frame::Interp(open)) => Err(SyntaxError::UnterminatedInterpolation {
            span: span(open, open + 2),
        }),
        Some(Frame::Bracket(open, at)) => Err(SyntaxError::Unclosed {
            open: span(at, at + 1),
            delimiter: open,
        }),
    }
}

/// A string cut short inside `${ … }` is most likely a missing `}`, so blame the interpolation.
fn unterminated(stack: &[Frame], string: Span) -> SyntaxError {
    match stack.iter().rev().nth(1) {
        Some(Frame::Interp(at)) => SyntaxError::UnterminatedInterpolation {
            span: Span::new(string.file, *at, at + 2),
        },
        _ => SyntaxError::UnterminatedString {
            span: string,
            multiline: false,
        },
    }
}

fn push(stack: &mut Vec<Frame>, frame: Frame, at: Span) -> Result<(), SyntaxError> {
    if stack.len() >= MAX_NESTING {
        return Err(SyntaxError::TooDeep {
            span: at,
            limit: MAX_NESTING,
        });
    }
    stack.push(frame);
    Ok(())
}

fn closes(open: char, close: char) -> bool {
    matches!((open, close), ('(', ')') | ('[', ']') | ('{', '}'))
}

fn closing(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

fn comment(source: &str, file: FileId, start: usize, end: usize) -> Comment {
    let line_start = source[..start].rfind('\n').map_or(0, |n| n + 1);
    let own_line = source[line_start..start].trim().is_empty();
    Comment {
        span: Span::new(file, start, end),
        text: source[start..end].trim_end().to_owned(),
        own_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(source: &str) -> SyntaxError {
        scan(FileId(0), source).expect_err("expected a lexical error")
    }

    #[test]
    fn collects_comments() {
        let comments = scan(FileId(0), "let a = 1 // x\n/* y */ let b = 2").unwrap();
        assert_eq!(comments.len(), 2);
        assert!(!comments[0].own_line);
        assert!(comments[1].own_line);
    }

    #[test]
    fn brackets_inside_strings_and_comments_do_not_count() {
        assert!(scan(FileId(0), "let a = \"{[(\" // }\n").is_ok());
    }

    #[test]
    fn reports_unclosed_and_mismatched() {
        assert!(matches!(
            err("let a = {"),
            SyntaxError::Unclosed { delimiter: '{', .. }
        ));
        assert!(matches!(
            err("let a = (]"),
            SyntaxError::Mismatched { found: ']', .. }
        ));
        assert!(matches!(
            err("let a = \"abc\nlet"),
            SyntaxError::UnterminatedString { .. }
        ));
        assert!(matches!(
            err("let a = \"${x"),
            SyntaxError::UnterminatedInterpolation { .. }
        ));
        assert!(matches!(
            err("let a = \"${x\""),
            SyntaxError::UnterminatedInterpolation { .. }
        ));
    }

    #[test]
    fn refuses_deep_nesting_without_recursion() {
        let deep = "let a = ".to_owned() + &"[".repeat(10_000) + &"]".repeat(10_000);
        assert!(matches!(err(&deep), SyntaxError::TooDeep { .. }));
    }
}
