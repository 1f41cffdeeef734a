//! The obp blueprint language: parser, loader, resolver, type contracts, evaluator, formatter.
pub mod ast;
pub mod diagnostics;
pub mod parse;
pub mod span;
pub mod stdlib;
pub mod value;
