//! Expressions: operators with single spaces, records and lists on one line when they fit
//! (else one entry or element per line), `match` with one arm per line.

use super::body::{Body, Node};
use super::printer::{Mode, Printer};
use super::strings::{literal, pattern};
use crate::ast::{Entry, Expr, ExprKind, Ident, Key, MatchArm, Record, UnaryOp};
use crate::span::Span;

impl Printer<'_> {
    pub(super) fn expr(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Literal(lit) => self.write(&literal(lit)),
            ExprKind::Str(string) => self.string(string),
            ExprKind::List(elements) => self.list(expr.span, elements),
            ExprKind::Record(record) => self.record(record),
            ExprKind::Var(ident) => self.write(&ident.name),
            ExprKind::Member(target, name) => {
                self.expr(target);
                self.write(".");
                self.write(&name.name);
            }
            ExprKind::Index(target, index) => {
                self.expr(target);
                self.write("[");
                self.expr(index);
                self.write("]");
            }
            ExprKind::Call(callee, args) => {
                self.expr(callee);
                self.write("(");
                self.separated(args, Self::expr);
                self.write(")");
            }
            ExprKind::Unary(op, operand) => {
                self.write(match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Not => "!",
                });
                self.expr(operand);
            }
            ExprKind::Binary(op, left, right) => {
                self.expr(left);
                self.write(" ");
                self.write(op.symbol());
                self.write(" ");
                self.expr(right);
            }
            ExprKind::If(condition, then, otherwise) => {
                self.write("if ");
                self.expr(condition);
                self.write(" then ");
                self.expr(then);
                self.write(" else ");
                self.expr(otherwise);
            }
            ExprKind::Match(subject, arms) => self.match_expr(expr.span, subject, arms),
            ExprKind::Lambda(params, body) => {
                self.lambda_params(params);
                self.write(" => ");
                self.expr(body);
            }
            ExprKind::Paren(inner) => {
                self.write("(");
                self.expr(inner);
                self.write(")");
            }
        }
    }

    /// Prints items with `print`, separated by `, `.
    fn separated<T>(&mut self, items: &[T], mut print: impl FnMut(&mut Self, &T)) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.write(", ");
            }
            print(self, item);
        }
    }

    /// `x` for one parameter, `(a, b)` otherwise.
    fn lambda_params(&mut self, params: &[Ident]) {
        if let [param] = params {
            self.write(&param.name);
            return;
        }
        self.write("(");
        self.separated(params, |p, param| p.write(&param.name));
        self.write(")");
    }

    /// Prints with `inline` if the layout rules and the width allow it, else with `broken`.
    fn inline_or_broken(
        &mut self,
        must_break: bool,
        inline: impl FnOnce(&mut Self),
        broken: impl FnOnce(&mut Self),
    ) {
        match self.mode {
            Mode::Flat => inline(self),
            _ if must_break => broken(self),
            Mode::TryInline => inline(self),
            Mode::Normal => {
                if !self.try_inline(inline) {
                    broken(self);
                }
            }
        }
    }

    fn list(&mut self, span: Span, elements: &[Expr]) {
        let (open, close) = (span.start, span.end);
        if self.body_is_empty(open, close, elements.len()) {
            self.write("[]");
            return;
        }
        let must_break = self.has_comments(open, close);
        self.inline_or_broken(
            must_break,
            |p| {
                p.write("[");
                p.separated(elements, Self::expr);
                p.write("]");
            },
            |p| {
                let nodes = elements.iter().map(Node::Element).collect();
                p.bracketed("[", Body { open, close, nodes }, "]");
            },
        );
    }

    /// An expression record: `{ a = 1, b = "x" }` when it fits, one entry per line when not
    /// (or when it holds a comment or a block entry).
    pub(super) fn record(&mut self, record: &Record) {
        let (open, close) = (record.span.start, record.span.end);
        if self.body_is_empty(open, close, record.entries.len()) {
            self.write("{}");
            return;
        }
        let must_break = record.entries.iter().any(|e| e.block) || self.has_comments(open, close);
        self.inline_or_broken(
            must_break,
            |p| p.record_inline(record),
            |p| p.record_broken(record),
        );
    }

    fn record_inline(&mut self, record: &Record) {
        if record.entries.is_empty() {
            self.write("{}");
            return;
        }
        self.write("{ ");
        self.separated(&record.entries, |p, entry| {
            p.key(&entry.key);
            match &entry.value.kind {
                ExprKind::Record(body) if entry.block => {
                    p.write(" ");
                    p.record_inline(body);
                }
                _ => {
                    p.write(" = ");
                    p.expr(&entry.value);
                }
            }
        });
        self.write(" }");
    }

    /// A record with one entry per line: every declaration body and block entry, and
    /// expression records that cannot be inline. Empty and comment-free, it is `{}`.
    pub(super) fn record_broken(&mut self, record: &Record) {
        let (open, close) = (record.span.start, record.span.end);
        if self.mode == Mode::Flat {
            self.record_inline(record);
        } else if self.body_is_empty(open, close, record.entries.len()) {
            self.write("{}");
        } else {
            let nodes = entry_nodes(&record.entries);
            self.bracketed("{", Body { open, close, nodes }, "}");
        }
    }

    /// `opener`, the body one level deeper, `closer` on a line of its own.
    pub(super) fn bracketed(&mut self, opener: &str, body: Body<'_>, closer: &str) {
        self.write(opener);
        self.indent();
        self.body(&body);
        self.dedent();
        self.newline();
        self.write(closer);
    }

    fn key(&mut self, key: &Key) {
        match key {
            Key::Word(ident) => self.write(&ident.name),
            Key::Str(string, _) => self.string(string),
        }
    }

    /// `key = value`, or `key { … }` for an entry written as a block.
    pub(super) fn entry(&mut self, entry: &Entry) {
        self.key(&entry.key);
        match &entry.value.kind {
            ExprKind::Record(body) if entry.block => {
                self.write(" ");
                self.record_broken(body);
            }
            _ => {
                self.write(" = ");
                self.expr(&entry.value);
            }
        }
    }

    fn match_expr(&mut self, span: Span, subject: &Expr, arms: &[MatchArm]) {
        self.write("match ");
        self.expr(subject);
        // The body owns the comments from `match` on: those in the subject that no nested
        // record or list prints go above the first arm.
        let (open, close) = (span.start, span.end);
        if self.body_is_empty(open, close, arms.len()) {
            self.write(" {}");
        } else if self.mode == Mode::Flat {
            self.write(" { ");
            self.separated(arms, Self::arm);
            self.write(" }");
        } else {
            let nodes = arms.iter().map(Node::Arm).collect();
            self.bracketed(" {", Body { open, close, nodes }, "}");
        }
    }

    pub(super) fn arm(&mut self, arm: &MatchArm) {
        for (i, pat) in arm.patterns.iter().enumerate() {
            if i > 0 {
                self.write(" | ");
            }
            self.write(&pattern(&pat.kind));
        }
        self.write(" => ");
        self.expr(&arm.body);
    }
}

/// Entries as body nodes. Entries are separated by line breaks alone, except before a block
/// entry keyed `and`, `or` or `in` after an `=` entry: without a comma the parser would read
/// that key as an operator continuing the previous value.
pub(super) fn entry_nodes(entries: &[Entry]) -> Vec<Node<'_>> {
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let comma = !entry.block
                && entries.get(i + 1).is_some_and(|next| {
                    next.block
                        && matches!(&next.key, Key::Word(w) if matches!(w.name.as_str(), "and" | "or" | "in"))
                });
            Node::Entry { entry, comma }
        })
        .collect()
}
