//! Element-level dependencies: which element of a list or record value read which resources.
//!
//! Dependencies are tracked per slot (a param, `let` or output). A slot whose value is a
//! collection built element by element — `map(xs, f)`, possibly behind `if` or passed on
//! through params and outputs — also remembers [`Parts`]: the dependencies of each element,
//! and of its shape (which elements exist). A reader that takes one element (`dbs[key]`,
//! `module.output[key]`, `lookup(dbs, key, default)`, `has(dbs, key)`) then depends on that
//! element and the shape only, not on every resource any element read. Without this, every
//! tenant's resource that looks up its own entry in a list built from all tenants would
//! depend on every tenant (a graph quadratic in the tenants).
//!
//! Whole reads keep depending on everything, so the parts only ever narrow a read to a
//! subset of what the slot as a whole depends on.

use std::collections::HashMap;
use std::sync::Arc;

use super::refs::{flatten, key_text, Step};
use super::{Ctx, Deps, Evaluator, SlotKey, R};
use crate::ast::{Expr, ExprKind};
use crate::value::Value;

/// The dependencies of a collection value's shape and of each of its elements.
#[derive(Debug, Default, Clone)]
pub(crate) struct Parts {
    /// What the shape (which keys or positions exist) depends on.
    pub spine: Deps,
    /// By element: a list position in decimal, or a record key.
    pub items: HashMap<String, Deps>,
}

fn extend(into: &mut Deps, from: &Deps) {
    for (target, info) in from {
        into.entry(target.clone()).or_insert(*info);
    }
}

impl<'p> Evaluator<'p> {
    /// Runs `f` with its dependencies collected apart instead of merged into the current
    /// slot; the caller decides what to merge.
    pub(crate) fn quiet<T>(&mut self, f: impl FnOnce(&mut Self) -> R<T>) -> (R<T>, Deps) {
        self.deps.push(Deps::new());
        let result = f(self);
        let deps = self.deps.pop().unwrap_or_default();
        (result, deps)
    }

    pub(crate) fn merge(&mut self, deps: &Deps) {
        if let Some(top) = self.deps.last_mut() {
            extend(top, deps);
        }
    }

    /// Merges what reading element `key` of a value needs: its part and the shape when the
    /// value has parts, else everything (`all`).
    pub(crate) fn merge_part(&mut self, all: &Deps, parts: Option<&Parts>, key: Option<&Value>) {
        match (parts, key) {
            (Some(parts), Some(key)) => {
                self.merge(&parts.spine);
                if let Some(item) = parts.items.get(&key_text(key)) {
                    self.merge(item);
                }
            }
            _ => self.merge(all),
        }
    }

    /// Reads slot `slot` (with `read` the first time) and merges only what element `key`
    /// needs when the slot has parts, else everything it depends on. A memoised slot with
    /// parts is read without collecting its whole dependency set, which would cost as much
    /// as the collection is large on every element read.
    pub(crate) fn read_part(
        &mut self,
        slot: &SlotKey,
        key: &Value,
        read: impl FnOnce(&mut Self) -> R<Value>,
    ) -> R<Value> {
        if let (Some(parts), Some(value)) = (self.parts.get(slot).cloned(), self.memo_value(slot)) {
            self.merge_part(&Deps::new(), Some(&parts), Some(key));
            return Ok(value);
        }
        let (value, all) = self.quiet(read);
        let parts = self.parts.get(slot).cloned();
        self.merge_part(&all, parts.as_deref(), Some(key));
        value
    }

    /// The slot behind a plain name in `ctx`: a param or a `let` (not a local).
    pub(crate) fn named_slot(&self, ctx: &Ctx, name: &str) -> Option<SlotKey> {
        if ctx.env.get(name).is_some() {
            return None;
        }
        let index = self.index(ctx.inst);
        if index.params.contains_key(name) {
            Some(SlotKey::Param(ctx.inst, name.to_owned()))
        } else if index.lets.contains_key(name) {
            Some(SlotKey::Let(ctx.inst, name.to_owned()))
        } else {
            None
        }
    }

    /// The output slot behind `alias.output` or `alias[key].output` in `ctx`, if `expr` is
    /// one. Finding it reads the module's instances and the key: their dependencies are
    /// merged, and their errors reported (once: the caller stops).
    fn output_slot(&mut self, ctx: &Ctx, expr: &Expr) -> R<Option<SlotKey>> {
        let (root, steps) = flatten(expr);
        let ExprKind::Var(alias) = &root.kind else {
            return Ok(None);
        };
        if ctx.env.get(&alias.name).is_some() {
            return Ok(None);
        }
        let Some(decl) = self.index(ctx.inst).uses.get(alias.name.as_str()) else {
            return Ok(None);
        };
        let (key, field) = match (decl.for_each.is_some(), steps.as_slice()) {
            (false, [Step::Field(field)]) => (None, field),
            (true, [Step::Index(key), Step::Field(field)]) => (Some(*key), field),
            _ => return Ok(None),
        };
        let key = match key {
            Some(key) => Some(key_text(&self.eval(key, ctx)?)),
            None => None,
        };
        let children = self.children(ctx.inst, &alias.name, alias.span)?;
        Ok(children
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, child)| SlotKey::Output(*child, field.name.clone())))
    }

    /// Evaluates `expr` like [`Evaluator::eval`] (same value, same dependencies merged), and
    /// also returns the parts of the value when it is a collection built element by element.
    pub(crate) fn eval_parts(&mut self, expr: &Expr, ctx: &Ctx) -> R<(Value, Option<Arc<Parts>>)> {
        match &expr.kind {
            ExprKind::Paren(inner) => self.nested(expr.span, |ev| ev.eval_parts(inner, ctx)),
            ExprKind::If(condition, then, otherwise) => {
                let (holds, cond_deps) =
                    self.quiet(|ev| ev.condition(condition, ctx, "an `if` condition"));
                self.merge(&cond_deps);
                let branch = if holds? { then } else { otherwise };
                let (value, parts) = self.nested(expr.span, |ev| ev.eval_parts(branch, ctx))?;
                // Which branch is taken shapes the value.
                let parts = parts.map(|mut parts| {
                    extend(&mut Arc::make_mut(&mut parts).spine, &cond_deps);
                    parts
                });
                Ok((value, parts))
            }
            ExprKind::Var(ident) => match self.named_slot(ctx, &ident.name) {
                Some(slot) => {
                    let value = self.eval(expr, ctx)?;
                    Ok((value, self.parts.get(&slot).cloned()))
                }
                None => Ok((self.eval(expr, ctx)?, None)),
            },
            ExprKind::Member(..) => match self.output_slot(ctx, expr)? {
                Some(slot) => {
                    let value = self.eval(expr, ctx)?;
                    Ok((value, self.parts.get(&slot).cloned()))
                }
                None => Ok((self.eval(expr, ctx)?, None)),
            },
            ExprKind::Call(callee, args)
                if args.len() == 2
                    && matches!(&callee.kind, ExprKind::Var(f) if f.name == "map"
                        && ctx.env.get("map").is_none()
                        && !self.index(ctx.inst).has_value("map")) =>
            {
                self.step(expr.span)?;
                self.tracked_map(args, expr.span, ctx)
            }
            _ => Ok((self.eval(expr, ctx)?, None)),
        }
    }

    /// `map(xs, f)` with the dependencies of each application kept apart.
    fn tracked_map(
        &mut self,
        args: &[Expr],
        span: crate::span::Span,
        ctx: &Ctx,
    ) -> R<(Value, Option<Arc<Parts>>)> {
        let (collection, collection_deps) = self.quiet(|ev| ev.eval_parts(&args[0], ctx));
        self.merge(&collection_deps);
        let (collection, collection_parts) = collection?;
        let (function, function_deps) = self.quiet(|ev| ev.eval(&args[1], ctx));
        self.merge(&function_deps);
        let function = function?;
        let keys: Vec<String> = match &collection {
            Value::List(items) => (0..items.len()).map(|i| i.to_string()).collect(),
            Value::Record(fields) => fields.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let mut calls = Vec::with_capacity(keys.len());
        let value = self.invoke(
            "map",
            vec![collection, function],
            args,
            span,
            Some(&mut calls),
        )?;
        if calls.len() != keys.len() {
            return Ok((value, None));
        }
        let mut parts = Parts::default();
        match &collection_parts {
            Some(inner) => {
                parts.spine = inner.spine.clone();
                // Whatever reading the collection needed that no part accounts for belongs to
                // the shape.
                let accounted: std::collections::HashSet<&super::Target> =
                    inner.items.values().flat_map(|d| d.keys()).collect();
                for (target, info) in &collection_deps {
                    if !accounted.contains(target) {
                        parts.spine.entry(target.clone()).or_insert(*info);
                    }
                }
            }
            None => parts.spine = collection_deps,
        }
        extend(&mut parts.spine, &function_deps);
        for (key, mut deps) in keys.into_iter().zip(calls) {
            if let Some(item) = collection_parts.as_ref().and_then(|p| p.items.get(&key)) {
                extend(&mut deps, item);
            }
            parts.items.insert(key, deps);
        }
        Ok((value, Some(Arc::new(parts))))
    }

    /// `lookup(x, key, default)` and `has(x, key)` on a param, `let` or module output read
    /// only the element `key` (and the shape) of `x`.
    pub(crate) fn element_call(
        &mut self,
        name: &'static str,
        args: &[Expr],
        span: crate::span::Span,
        ctx: &Ctx,
    ) -> Option<R<Value>> {
        if !matches!((name, args.len()), ("lookup", 3) | ("has", 2)) {
            return None;
        }
        let slot = match &args[0].kind {
            ExprKind::Var(ident) => self.named_slot(ctx, &ident.name),
            ExprKind::Member(..) => match self.output_slot(ctx, &args[0]) {
                Ok(slot) => slot,
                Err(reported) => return Some(Err(reported)),
            },
            _ => None,
        }?;
        Some((|| {
            let key = self.eval(&args[1], ctx)?;
            let subject = self.read_part(&slot, &key, |ev| ev.eval(&args[0], ctx))?;
            let mut values = vec![subject, key];
            if let Some(default) = args.get(2) {
                values.push(self.eval(default, ctx)?);
            }
            self.invoke(name, values, args, span, None)
        })())
    }
}
