//! Expression builders: the Pratt table and every primary form.

use std::cell::RefCell;
use std::sync::LazyLock;

use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::error::SyntaxError;
use super::{Builder, Rule, MAX_EXPR_DEPTH};
use crate::ast::{
    BinaryOp, Entry, Expr, ExprKind, Ident, Key, Literal, MatchArm, Pattern, PatternKind, Record,
    UnaryOp,
};

/// Operator precedence, lowest first; must agree with [`BinaryOp::precedence`].
static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::or_op, Assoc::Left))
        .op(Op::infix(Rule::and_op, Assoc::Left))
        .op(Op::infix(Rule::eq_op, Assoc::Left) | Op::infix(Rule::ne_op, Assoc::Left))
        .op(Op::infix(Rule::lt_op, Assoc::Left)
            | Op::infix(Rule::le_op, Assoc::Left)
            | Op::infix(Rule::gt_op, Assoc::Left)
            | Op::infix(Rule::ge_op, Assoc::Left)
            | Op::infix(Rule::in_op, Assoc::Left))
        .op(Op::infix(Rule::add_op, Assoc::Left) | Op::infix(Rule::sub_op, Assoc::Left))
        .op(Op::infix(Rule::mul_op, Assoc::Left)
            | Op::infix(Rule::div_op, Assoc::Left)
            | Op::infix(Rule::rem_op, Assoc::Left))
        .op(Op::prefix(Rule::neg_op) | Op::prefix(Rule::not_op))
        .op(Op::postfix(Rule::call) | Op::postfix(Rule::member) | Op::postfix(Rule::index))
});

fn is_operator(rule: Rule) -> bool {
    !matches!(
        rule,
        Rule::null_lit
            | Rule::true_lit
            | Rule::false_lit
            | Rule::float_lit
            | Rule::int_lit
            | Rule::string
            | Rule::mstring
            | Rule::list
            | Rule::record
            | Rule::paren
            | Rule::lambda
            | Rule::if_expr
            | Rule::match_expr
            | Rule::ident
    )
}

impl Builder {
    /// Builds an `expr` pair.
    pub(super) fn expr(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let span = self.span(&pair.as_span());
        let pairs = pair.into_inner();
        // Every operator adds one level to the tree; bound the total before recursing.
        let operators = pairs.clone().filter(|p| is_operator(p.as_rule())).count();
        if self.depth + operators > MAX_EXPR_DEPTH {
            self.error(SyntaxError::TooDeep {
                span,
                limit: MAX_EXPR_DEPTH,
            });
            return Expr {
                kind: ExprKind::Literal(Literal::Null),
                span,
            };
        }
        self.depth += operators;
        let expr = self.pratt(pairs);
        self.depth -= operators;
        expr
    }

    fn pratt(&mut self, pairs: Pairs<'_, Rule>) -> Expr {
        let this = RefCell::new(self);
        let expr = PRATT
            .map_primary(|primary| this.borrow_mut().primary(primary))
            .map_prefix(|op, rhs| {
                let span = this.borrow().span(&op.as_span()).to(rhs.span);
                let op = match op.as_rule() {
                    Rule::neg_op => UnaryOp::Neg,
                    _ => UnaryOp::Not,
                };
                Expr {
                    kind: ExprKind::Unary(op, Box::new(rhs)),
                    span,
                }
            })
            .map_postfix(|lhs, op| this.borrow_mut().postfix(lhs, op))
            .map_infix(|lhs, op, rhs| {
                let span = lhs.span.to(rhs.span);
                let op = match op.as_rule() {
                    Rule::or_op => BinaryOp::Or,
                    Rule::and_op => BinaryOp::And,
                    Rule::eq_op => BinaryOp::Eq,
                    Rule::ne_op => BinaryOp::Ne,
                    Rule::lt_op => BinaryOp::Lt,
                    Rule::le_op => BinaryOp::Le,
                    Rule::gt_op => BinaryOp::Gt,
                    Rule::ge_op => BinaryOp::Ge,
                    Rule::in_op => BinaryOp::In,
                    Rule::add_op => BinaryOp::Add,
                    Rule::sub_op => BinaryOp::Sub,
                    Rule::mul_op => BinaryOp::Mul,
                    Rule::div_op => BinaryOp::Div,
                    _ => BinaryOp::Rem,
                };
                Expr {
                    kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                    span,
                }
            })
            .parse(pairs);
        expr
    }

    fn postfix(&mut self, lhs: Expr, op: Pair<'_, Rule>) -> Expr {
        let op_span = self.span(&op.as_span());
        let span = lhs.span.to(op_span);
        let kind = match op.as_rule() {
            Rule::call => {
                let args = op.into_inner().map(|arg| self.expr(arg)).collect();
                ExprKind::Call(Box::new(lhs), args)
            }
            Rule::member => {
                let word = op.into_inner().next().map(|w| self.ident(w));
                match word {
                    Some(word) => ExprKind::Member(Box::new(lhs), word),
                    None => return lhs,
                }
            }
            _ => match op.into_inner().next() {
                Some(index) => {
                    let index = self.expr(index);
                    ExprKind::Index(Box::new(lhs), Box::new(index))
                }
                None => return lhs,
            },
        };
        Expr { kind, span }
    }

    fn primary(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let span = self.span(&pair.as_span());
        let kind = match pair.as_rule() {
            Rule::null_lit | Rule::true_lit | Rule::false_lit | Rule::int_lit | Rule::float_lit => {
                ExprKind::Literal(self.literal(&pair))
            }
            Rule::string | Rule::mstring => ExprKind::Str(self.string(pair)),
            Rule::ident => ExprKind::Var(self.ident(pair)),
            Rule::paren => match pair.into_inner().next() {
                Some(inner) => ExprKind::Paren(Box::new(self.expr(inner))),
                None => ExprKind::Literal(Literal::Null),
            },
            Rule::list => ExprKind::List(pair.into_inner().map(|e| self.expr(e)).collect()),
            Rule::record => ExprKind::Record(self.record(pair)),
            Rule::lambda => {
                let mut params = Vec::new();
                let mut body = None;
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::ident => params.push(self.ident(part)),
                        Rule::lambda_params => {
                            params.extend(part.into_inner().map(|p| self.ident(p)))
                        }
                        Rule::expr => body = Some(self.expr(part)),
                        _ => self.unexpected_rule(&part),
                    }
                }
                let body = body.unwrap_or(Expr {
                    kind: ExprKind::Literal(Literal::Null),
                    span,
                });
                ExprKind::Lambda(params, std::sync::Arc::new(body))
            }
            Rule::if_expr => {
                let mut exprs: Vec<Expr> = pair
                    .into_inner()
                    .filter(|p| p.as_rule() == Rule::expr)
                    .map(|p| self.expr(p))
                    .collect();
                if exprs.len() != 3 {
                    return Expr {
                        kind: ExprKind::Literal(Literal::Null),
                        span,
                    };
                }
                let otherwise = exprs.pop();
                let then = exprs.pop();
                let condition = exprs.pop();
                match (condition, then, otherwise) {
                    (Some(c), Some(t), Some(o)) => {
                        ExprKind::If(Box::new(c), Box::new(t), Box::new(o))
                    }
                    _ => ExprKind::Literal(Literal::Null),
                }
            }
            Rule::match_expr => {
                let mut subject = None;
                let mut arms = Vec::new();
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::kw_match => {}
                        Rule::expr => subject = Some(self.expr(part)),
                        Rule::match_arm => arms.push(self.match_arm(part)),
                        _ => self.unexpected_rule(&part),
                    }
                }
                let subject = subject.unwrap_or(Expr {
                    kind: ExprKind::Literal(Literal::Null),
                    span,
                });
                ExprKind::Match(Box::new(subject), arms)
            }
            _ => {
                self.unexpected_rule(&pair);
                ExprKind::Literal(Literal::Null)
            }
        };
        Expr { kind, span }
    }

    fn match_arm(&mut self, pair: Pair<'_, Rule>) -> MatchArm {
        let span = self.span(&pair.as_span());
        let mut patterns = Vec::new();
        let mut body = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::pattern => {
                    let pattern_span = self.span(&part.as_span());
                    let kind = match part.into_inner().next() {
                        Some(inner) if inner.as_rule() == Rule::wildcard => PatternKind::Wildcard,
                        Some(inner) if inner.as_rule() == Rule::string => {
                            let lit = self.string(inner);
                            match lit.as_plain() {
                                Some(text) => PatternKind::Literal(Literal::Str(text)),
                                None => {
                                    self.error(SyntaxError::NotAllowed {
                                        span: pattern_span,
                                        what: "interpolation",
                                        place: "in a match pattern",
                                    });
                                    PatternKind::Wildcard
                                }
                            }
                        }
                        Some(inner) => PatternKind::Literal(self.literal(&inner)),
                        None => PatternKind::Wildcard,
                    };
                    patterns.push(Pattern {
                        kind,
                        span: pattern_span,
                    });
                }
                Rule::expr => body = Some(self.expr(part)),
                _ => self.unexpected_rule(&part),
            }
        }
        let body = body.unwrap_or(Expr {
            kind: ExprKind::Literal(Literal::Null),
            span,
        });
        MatchArm {
            patterns,
            body,
            span,
        }
    }

    /// Builds a literal token (null, booleans, numbers, negative integer patterns).
    pub(super) fn literal(&mut self, pair: &Pair<'_, Rule>) -> Literal {
        let text = pair.as_str();
        match pair.as_rule() {
            Rule::null_lit => Literal::Null,
            Rule::true_lit => Literal::Bool(true),
            Rule::false_lit => Literal::Bool(false),
            Rule::int_lit | Rule::neg_int => match text.replace('_', "").parse::<i64>() {
                Ok(value) => Literal::Int(value),
                Err(_) => {
                    self.error(SyntaxError::InvalidNumber {
                        span: self.span(&pair.as_span()),
                        text: text.to_owned(),
                    });
                    Literal::Int(0)
                }
            },
            Rule::float_lit => match text.replace('_', "").parse::<f64>() {
                Ok(value) if value.is_finite() => Literal::Float(value),
                _ => {
                    self.error(SyntaxError::InvalidNumber {
                        span: self.span(&pair.as_span()),
                        text: text.to_owned(),
                    });
                    Literal::Float(0.0)
                }
            },
            _ => {
                self.unexpected_rule(pair);
                Literal::Null
            }
        }
    }

    pub(super) fn ident(&mut self, pair: Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_owned(),
            span: self.span(&pair.as_span()),
        }
    }

    /// Builds a `record` pair (also every block body).
    pub(super) fn record(&mut self, pair: Pair<'_, Rule>) -> Record {
        let span = self.span(&pair.as_span());
        let mut entries = Vec::new();
        for entry in pair.into_inner() {
            let entry_span = self.span(&entry.as_span());
            let mut parts = entry.into_inner();
            let key = match parts.next() {
                Some(key) if key.as_rule() == Rule::word => Key::Word(self.ident(key)),
                Some(key) => {
                    let key_span = self.span(&key.as_span());
                    Key::Str(self.string(key), key_span)
                }
                None => continue,
            };
            let Some(value) = parts.next() else { continue };
            let block = value.as_rule() == Rule::record;
            let value = if block {
                let value_span = self.span(&value.as_span());
                Expr {
                    kind: ExprKind::Record(self.record(value)),
                    span: value_span,
                }
            } else {
                self.expr(value)
            };
            entries.push(Entry {
                key,
                value,
                block,
                span: entry_span,
            });
        }
        Record { entries, span }
    }
}
