//! Expression evaluation: literals, strings, records, operators, `if`, `match`, calls and
//! lambdas. References to resources and modules are in `refs.rs`.

use std::sync::Arc;

use indexmap::IndexMap;

use super::{Ctx, Evaluator, Reported, SlotKey, R};
use crate::ast::{
    BinaryOp, Expr, ExprKind, Ident, Key, Literal, PatternKind, Record, StrLit, StrPart, UnaryOp,
};
use crate::diagnostics::suggest;
use crate::errors::{EvalError, NameError};
use crate::resolve::SECRET_FN;
use crate::span::Span;
use crate::stdlib::{self, Apply, FnError};
use crate::types::describe;
use crate::value::{Deferred, Lambda, SecretRef, TemplatePart, Value};

pub(crate) fn literal(literal: &Literal) -> Value {
    match literal {
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Int(i) => Value::Int(*i),
        Literal::Float(f) => Value::Float(*f),
        Literal::Str(s) => Value::Str(s.clone()),
    }
}

impl Evaluator<'_> {
    /// Evaluates one expression.
    pub(crate) fn eval(&mut self, expr: &Expr, ctx: &Ctx) -> R<Value> {
        self.step(expr.span)?;
        self.nested(expr.span, |ev| ev.eval_kind(expr, ctx))
    }

    fn eval_kind(&mut self, expr: &Expr, ctx: &Ctx) -> R<Value> {
        match &expr.kind {
            ExprKind::Literal(lit) => Ok(literal(lit)),
            ExprKind::Str(lit) => self.string(lit, ctx),
            ExprKind::List(items) => {
                let mut values = Vec::with_capacity(items.len());
                let mut failed = false;
                for item in items {
                    match self.eval(item, ctx) {
                        Ok(value) => values.push(value),
                        Err(Reported) => failed = true,
                    }
                }
                if failed {
                    Err(Reported)
                } else {
                    Ok(Value::list(values))
                }
            }
            ExprKind::Record(record) => self.record(record, ctx).map(Value::record),
            ExprKind::Var(ident) => self.var(ident, ctx),
            ExprKind::Member(..) | ExprKind::Index(..) => self.traverse(expr, ctx),
            ExprKind::Call(callee, args) => self.call(callee, args, expr.span, ctx),
            ExprKind::Paren(inner) => self.eval(inner, ctx),
            ExprKind::Unary(op, inner) => {
                let value = self.eval(inner, ctx)?;
                self.unary(*op, value, expr.span)
            }
            ExprKind::Binary(op, lhs, rhs) => self.binary(*op, lhs, rhs, expr.span, ctx),
            ExprKind::If(condition, then, otherwise) => {
                if self.condition(condition, ctx, "an `if` condition")? {
                    self.eval(then, ctx)
                } else {
                    self.eval(otherwise, ctx)
                }
            }
            ExprKind::Match(subject, arms) => {
                let value = self.eval(subject, ctx)?;
                self.known(&value, subject.span, "the value of a `match`")?;
                for arm in arms {
                    let hit = arm.patterns.iter().any(|p| match &p.kind {
                        PatternKind::Wildcard => true,
                        PatternKind::Literal(lit) => literal(lit).equals(&value),
                    });
                    if hit {
                        return self.eval(&arm.body, ctx);
                    }
                }
                Err(self.report(EvalError::NoMatch {
                    span: subject.span,
                    value: describe(&value),
                }))
            }
            ExprKind::Lambda(params, body) => Ok(Value::Func(Arc::new(Lambda {
                params: params.iter().map(|p| p.name.clone()).collect(),
                body: body.clone(),
                env: ctx.env.clone(),
                instance: ctx.inst,
            }))),
        }
    }

    /// Evaluates a boolean condition that must be known now.
    pub(crate) fn condition(&mut self, expr: &Expr, ctx: &Ctx, what: &str) -> R<bool> {
        let value = self.eval(expr, ctx)?;
        self.known(&value, expr.span, what)?;
        match value {
            Value::Bool(b) => Ok(b),
            other => Err(self.report(EvalError::Operands {
                span: expr.span,
                message: format!("{what} must be a bool, found {}", describe(&other)),
            })),
        }
    }

    /// Refuses values that are unknown until apply or secret, where a plain value is needed.
    pub(crate) fn known(&mut self, value: &Value, span: Span, what: &str) -> R<()> {
        match value {
            Value::Unknown(deferred) if !value.contains_secret() => Err(self.report(EvalError::Unknown {
                span,
                what: format!("{what} (`{deferred}`)"),
                help: "values computed by providers can be passed to resource attributes or used in strings, but not inspected while planning".to_owned(),
            })),
            Value::Secret(_) | Value::Unknown(_) => Err(self.report(EvalError::Secret {
                span,
                what: format!("{what} cannot be a secret reference"),
            })),
            _ => Ok(()),
        }
    }

    pub(crate) fn record(&mut self, record: &Record, ctx: &Ctx) -> R<IndexMap<String, Value>> {
        let mut fields = IndexMap::new();
        let mut spans: IndexMap<String, Span> = IndexMap::new();
        let mut failed = false;
        for entry in &record.entries {
            let key = match self.key(&entry.key, ctx) {
                Ok(key) => key,
                Err(Reported) => {
                    failed = true;
                    continue;
                }
            };
            if let Some(first) = spans.get(&key) {
                self.report(EvalError::DuplicateKey {
                    span: entry.key.span(),
                    first: *first,
                    key,
                });
                failed = true;
                continue;
            }
            spans.insert(key.clone(), entry.key.span());
            match self.eval(&entry.value, ctx) {
                Ok(value) => {
                    fields.insert(key, value);
                }
                Err(Reported) => failed = true,
            }
        }
        if failed {
            Err(Reported)
        } else {
            Ok(fields)
        }
    }

    pub(crate) fn key(&mut self, key: &Key, ctx: &Ctx) -> R<String> {
        match key {
            Key::Word(ident) => Ok(ident.name.clone()),
            Key::Str(lit, span) => {
                let value = self.string(lit, ctx)?;
                match value {
                    Value::Str(text) => Ok(text),
                    other => {
                        self.known(&other, *span, "a record key")?;
                        Err(Reported)
                    }
                }
            }
        }
    }

    pub(crate) fn string(&mut self, lit: &StrLit, ctx: &Ctx) -> R<Value> {
        let mut text = String::new();
        let mut template: Vec<TemplatePart> = Vec::new();
        for part in &lit.parts {
            match part {
                StrPart::Text(t) => text.push_str(t),
                StrPart::Interp(expr) => {
                    let value = self.eval(expr, ctx)?;
                    match value {
                        Value::Str(s) => text.push_str(&s),
                        Value::Int(i) => text.push_str(&i.to_string()),
                        Value::Float(f) => text.push_str(&f.to_string()),
                        Value::Bool(b) => text.push_str(&b.to_string()),
                        Value::Secret(_) | Value::Unknown(_) => {
                            if !text.is_empty() {
                                template.push(TemplatePart::Text(std::mem::take(&mut text)));
                            }
                            match value {
                                // Nested templates flatten into this one.
                                Value::Unknown(deferred) => match *deferred {
                                    Deferred::Template(parts) => template.extend(parts),
                                    other => template
                                        .push(TemplatePart::Value(Value::Unknown(Box::new(other)))),
                                },
                                other => template.push(TemplatePart::Value(other)),
                            }
                        }
                        other => {
                            return Err(self.report(EvalError::Operands {
                                span: expr.span,
                                message: format!(
                                    "cannot interpolate {} into a string",
                                    describe(&other)
                                ),
                            }))
                        }
                    }
                }
            }
        }
        if template.is_empty() {
            return Ok(Value::Str(text));
        }
        if !text.is_empty() {
            template.push(TemplatePart::Text(text));
        }
        Ok(Value::Unknown(Box::new(Deferred::Template(template))))
    }

    /// A plain name: a local, a param, a `let`, or a module alias.
    pub(crate) fn var(&mut self, ident: &Ident, ctx: &Ctx) -> R<Value> {
        let name = ident.name.as_str();
        if let Some(value) = ctx.env.get(name) {
            return Ok(value.clone());
        }
        let index = self.index(ctx.inst);
        if index.params.contains_key(name) {
            return self.param(ctx.inst, name, ident.span);
        }
        if let Some(decl) = index.lets.get(name) {
            let key = SlotKey::Let(ctx.inst, name.to_owned());
            return self.declared_slot(key, ctx.inst, &decl.value, ident.span);
        }
        if index.uses.contains_key(name) {
            return self.module_value(ctx.inst, ident, &[], ident.span, ctx);
        }
        let candidates: Vec<&str> = ctx
            .env
            .names()
            .into_iter()
            .chain(index.value_names())
            .collect();
        Err(self.report(NameError::UnknownName {
            span: ident.span,
            name: name.to_owned(),
            suggestion: suggest::did_you_mean(name, candidates),
            help: None,
        }))
    }

    fn unary(&mut self, op: UnaryOp, value: Value, span: Span) -> R<Value> {
        self.known(&value, span, "an operand")?;
        match (op, value) {
            (UnaryOp::Neg, Value::Int(i)) => i.checked_neg().map(Value::Int).ok_or_else(|| {
                self.report(EvalError::Overflow {
                    span,
                    op: "-".to_owned(),
                })
            }),
            (UnaryOp::Neg, Value::Float(f)) => Ok(Value::Float(-f)),
            (UnaryOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
            (op, other) => Err(self.report(EvalError::Operands {
                span,
                message: format!(
                    "`{}` cannot be applied to {}",
                    if op == UnaryOp::Neg { "-" } else { "!" },
                    describe(&other)
                ),
            })),
        }
    }

    fn binary(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr, span: Span, ctx: &Ctx) -> R<Value> {
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            let left = self.condition(lhs, ctx, "an operand of a logical operator")?;
            if (op == BinaryOp::And && !left) || (op == BinaryOp::Or && left) {
                return Ok(Value::Bool(left));
            }
            return self
                .condition(rhs, ctx, "an operand of a logical operator")
                .map(Value::Bool);
        }
        let left = self.eval(lhs, ctx)?;
        let right = self.eval(rhs, ctx)?;
        if op == BinaryOp::Add {
            if let Some(joined) = concat_template(&left, &right) {
                return Ok(joined);
            }
        }
        self.known(&left, lhs.span, "an operand")?;
        self.known(&right, rhs.span, "an operand")?;
        let mismatch = |ev: &mut Self, left: &Value, right: &Value| {
            Err(ev.report(EvalError::Operands {
                span,
                message: format!(
                    "`{}` cannot be applied to {} and {}",
                    op.symbol(),
                    describe(left),
                    describe(right)
                ),
            }))
        };
        match op {
            BinaryOp::Eq => Ok(Value::Bool(left.equals(&right))),
            BinaryOp::Ne => Ok(Value::Bool(!left.equals(&right))),
            BinaryOp::In => match (&left, &right) {
                (item, Value::List(items)) => Ok(Value::Bool(items.iter().any(|i| i.equals(item)))),
                (Value::Str(key), Value::Record(fields)) => {
                    Ok(Value::Bool(fields.contains_key(key)))
                }
                (Value::Str(needle), Value::Str(hay)) => {
                    Ok(Value::Bool(hay.contains(needle.as_str())))
                }
                _ => mismatch(self, &left, &right),
            },
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let ordering = match (&left, &right) {
                    (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
                    (a, b) => match (number(a), number(b)) {
                        (Some(x), Some(y)) => x.partial_cmp(&y),
                        _ => None,
                    },
                };
                let Some(ordering) = ordering else {
                    return mismatch(self, &left, &right);
                };
                Ok(Value::Bool(match op {
                    BinaryOp::Lt => ordering.is_lt(),
                    BinaryOp::Le => ordering.is_le(),
                    BinaryOp::Gt => ordering.is_gt(),
                    _ => ordering.is_ge(),
                }))
            }
            BinaryOp::Add => match (left, right) {
                (Value::Str(a), Value::Str(b)) => Ok(Value::Str(a + &b)),
                (Value::List(mut a), Value::List(b)) => {
                    std::sync::Arc::make_mut(&mut a).extend(b.iter().cloned());
                    Ok(Value::List(a))
                }
                (left, right) => self.arithmetic(op, &left, &right, span),
            },
            _ => self.arithmetic(op, &left, &right, span),
        }
    }

    fn arithmetic(&mut self, op: BinaryOp, left: &Value, right: &Value, span: Span) -> R<Value> {
        match (left, right) {
            (Value::Int(a), Value::Int(b)) => {
                let (a, b) = (*a, *b);
                if matches!(op, BinaryOp::Div | BinaryOp::Rem) && b == 0 {
                    return Err(self.report(EvalError::DivisionByZero { span }));
                }
                let result = match op {
                    BinaryOp::Add => a.checked_add(b),
                    BinaryOp::Sub => a.checked_sub(b),
                    BinaryOp::Mul => a.checked_mul(b),
                    BinaryOp::Div => a.checked_div(b),
                    _ => a.checked_rem(b),
                };
                result.map(Value::Int).ok_or_else(|| {
                    self.report(EvalError::Overflow {
                        span,
                        op: op.symbol().to_owned(),
                    })
                })
            }
            (a, b) => match (number(a), number(b)) {
                (Some(x), Some(y)) => {
                    if matches!(op, BinaryOp::Div | BinaryOp::Rem) && y == 0.0 {
                        return Err(self.report(EvalError::DivisionByZero { span }));
                    }
                    let result = match op {
                        BinaryOp::Add => x + y,
                        BinaryOp::Sub => x - y,
                        BinaryOp::Mul => x * y,
                        BinaryOp::Div => x / y,
                        _ => x % y,
                    };
                    if result.is_finite() {
                        Ok(Value::Float(result))
                    } else {
                        Err(self.report(EvalError::Overflow {
                            span,
                            op: op.symbol().to_owned(),
                        }))
                    }
                }
                _ => Err(self.report(EvalError::Operands {
                    span,
                    message: format!(
                        "`{}` cannot be applied to {} and {}",
                        op.symbol(),
                        describe(a),
                        describe(b)
                    ),
                })),
            },
        }
    }

    fn call(&mut self, callee: &Expr, args: &[Expr], span: Span, ctx: &Ctx) -> R<Value> {
        let function = match &callee.kind {
            ExprKind::Var(ident)
                if ctx.env.get(&ident.name).is_none()
                    && !self.index(ctx.inst).has_value(&ident.name) =>
            {
                ident
            }
            _ => {
                let function = self.eval(callee, ctx)?;
                let values = self.args(args, ctx)?;
                return self.apply(&function, values, span);
            }
        };
        let name = function.name.as_str();
        if name == SECRET_FN {
            let values = self.args(args, ctx)?;
            return match values.as_slice() {
                [Value::Str(path)] if !path.trim().is_empty() => {
                    Ok(Value::Secret(SecretRef { path: path.clone() }))
                }
                [other] => {
                    let arg_span = args.first().map_or(span, |a| a.span);
                    self.known(other, arg_span, "the path of a secret")?;
                    Err(self.report(EvalError::BadArgument {
                        span: arg_span,
                        message: format!(
                            "`secret` needs a non-empty path string, found {}",
                            describe(other)
                        ),
                    }))
                }
                _ => Err(self.report(NameError::Arity {
                    span,
                    name: format!("`{SECRET_FN}`"),
                    expected: "1".to_owned(),
                    found: values.len(),
                })),
            };
        }
        let Some(info) = stdlib::lookup(name) else {
            return Err(self.report(NameError::UnknownFunction {
                span: function.span,
                name: name.to_owned(),
                suggestion: suggest::did_you_mean(name, stdlib::FUNCTIONS.iter().map(|f| f.name)),
            }));
        };
        if let Some(result) = self.element_call(info.name, args, span, ctx) {
            return result;
        }
        let values = self.args(args, ctx)?;
        self.invoke(info.name, values, args, span, None)
    }

    /// Calls builtin `name`; with `record`, the dependencies of each function application
    /// are also pushed there, in order (see `parts.rs`).
    pub(crate) fn invoke(
        &mut self,
        name: &'static str,
        values: Vec<Value>,
        args: &[Expr],
        span: Span,
        record: Option<&mut Vec<super::Deps>>,
    ) -> R<Value> {
        let result = {
            let mut applier = Applier {
                evaluator: self,
                span,
                record,
            };
            stdlib::call(name, values, &mut applier)
        };
        result.map_err(|error| {
            let arg_span = |index: usize| args.get(index).map_or(span, |a| a.span);
            match error {
                FnError::Reported => Reported,
                FnError::Arity { name, expected, found } => self.report(NameError::Arity {
                    span,
                    name: format!("`{name}`"),
                    expected: expected.to_owned(),
                    found,
                }),
                FnError::Arg { index, message } => self.report(EvalError::BadArgument {
                    span: arg_span(index),
                    message,
                }),
                FnError::Unknown { index } => self.report(EvalError::Unknown {
                    span: arg_span(index),
                    what: format!("argument {} of `{name}`", index + 1),
                    help: "values computed by providers can be passed to resource attributes or used in strings, but not given to functions".to_owned(),
                }),
                FnError::Secret { index } => self.report(EvalError::Secret {
                    span: arg_span(index),
                    what: format!("`{name}` cannot read a secret reference (argument {})", index + 1),
                }),
            }
        })
    }

    fn args(&mut self, args: &[Expr], ctx: &Ctx) -> R<Vec<Value>> {
        args.iter().map(|a| self.eval(a, ctx)).collect()
    }

    /// Calls a function value.
    pub(crate) fn apply(&mut self, function: &Value, args: Vec<Value>, span: Span) -> R<Value> {
        let Value::Func(lambda) = function else {
            return Err(self.report(EvalError::Operands {
                span,
                message: format!("{} is not a function", describe(function)),
            }));
        };
        if lambda.params.len() != args.len() {
            return Err(self.report(NameError::Arity {
                span,
                name: "this function".to_owned(),
                expected: lambda.params.len().to_string(),
                found: args.len(),
            }));
        }
        let mut env = lambda.env.clone();
        for (param, arg) in lambda.params.iter().zip(args) {
            env = env.bind(param.clone(), arg);
        }
        let ctx = Ctx {
            inst: lambda.instance,
            env,
        };
        let body = lambda.body.clone();
        self.nested(span, |ev| ev.eval(&body, &ctx))
    }
}

/// Lets builtins call lambdas back.
struct Applier<'e, 'p, 'r> {
    evaluator: &'e mut Evaluator<'p>,
    span: Span,
    record: Option<&'r mut Vec<super::Deps>>,
}

impl Apply for Applier<'_, '_, '_> {
    fn apply(&mut self, func: &Value, args: Vec<Value>) -> Result<Value, FnError> {
        let span = self.span;
        let result = match self.record.as_deref_mut() {
            Some(record) => {
                let (result, deps) = self.evaluator.quiet(|ev| ev.apply(func, args, span));
                self.evaluator.merge(&deps);
                record.push(deps);
                result
            }
            None => self.evaluator.apply(func, args, span),
        };
        result.map_err(|_| FnError::Reported)
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// `+` on strings where one side is a template: the result is a template too.
fn concat_template(left: &Value, right: &Value) -> Option<Value> {
    let is_text = |v: &Value| matches!(v, Value::Str(_) | Value::Secret(_) | Value::Unknown(_));
    let has_marker = |v: &Value| matches!(v, Value::Secret(_) | Value::Unknown(_));
    if !(is_text(left) && is_text(right) && (has_marker(left) || has_marker(right))) {
        return None;
    }
    let mut parts = Vec::new();
    for value in [left, right] {
        match value {
            Value::Str(text) => parts.push(TemplatePart::Text(text.clone())),
            Value::Unknown(deferred) => match deferred.as_ref() {
                Deferred::Template(inner) => parts.extend(inner.iter().cloned()),
                _ => parts.push(TemplatePart::Value(value.clone())),
            },
            other => parts.push(TemplatePart::Value(other.clone())),
        }
    }
    Some(Value::Unknown(Box::new(Deferred::Template(parts))))
}
