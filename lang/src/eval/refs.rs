//! References: member and index chains, params (with their type contracts and checks),
//! module outputs, and resource attributes (which create dependency edges).

use indexmap::IndexMap;

use super::{Ctx, Evaluator, InstId, Reported, SlotKey, Target, R};
use crate::ast::{Expr, ExprKind, Ident};
use crate::diagnostics::suggest;
use crate::errors::{EvalError, NameError, TypeError};
use crate::span::Span;
use crate::types::{self, describe, Origin};
use crate::value::{Deferred, Env, Value};

/// One step of a chain: `.field` or `[index]`.
pub(crate) enum Step<'e> {
    Field(&'e Ident),
    Index(&'e Expr),
}

/// Splits `a.b[c].d` into its root and steps.
pub(crate) fn flatten(expr: &Expr) -> (&Expr, Vec<Step<'_>>) {
    let mut steps = Vec::new();
    let mut current = expr;
    loop {
        match &current.kind {
            ExprKind::Member(base, field) => {
                steps.push(Step::Field(field));
                current = base;
            }
            ExprKind::Index(base, index) => {
                steps.push(Step::Index(index));
                current = base;
            }
            _ => break,
        }
    }
    steps.reverse();
    (current, steps)
}

/// Formats an instance key as it appears in addresses: `["acme"]`.
pub(crate) fn key_suffix(key: &str) -> String {
    format!("[{}]", serde_json::to_string(key).unwrap_or_default())
}

impl Evaluator<'_> {
    /// Evaluates a member/index chain, recognising module and resource references.
    pub(crate) fn traverse(&mut self, expr: &Expr, ctx: &Ctx) -> R<Value> {
        let (root, steps) = flatten(expr);
        if let ExprKind::Var(ident) = &root.kind {
            let name = ident.name.as_str();
            if ctx.env.get(name).is_none() {
                let index = self.index(ctx.inst);
                if index.uses.contains_key(name) {
                    return self.module_value(ctx.inst, ident, &steps, expr.span, ctx);
                }
                if !index.has_value(name) {
                    if let Some(Step::Field(kind)) = steps.first() {
                        let rtype = format!("{name}.{}", kind.name);
                        if index.resource_types.contains(&rtype) {
                            return self.resource_value(&rtype, &steps[1..], expr.span, ctx);
                        }
                    }
                }
            }
        }
        if let (ExprKind::Var(ident), Some(first)) = (&root.kind, steps.first()) {
            if let Some(slot) = self.named_slot(ctx, &ident.name) {
                return self
                    .read_element(slot, steps.as_slice(), first, ctx, |ev| ev.eval(root, ctx));
            }
        }
        let value = self.eval(root, ctx)?;
        self.apply_steps(value, &steps, ctx)
    }

    /// Reads a slot's value through `steps`, depending only on the element the first step
    /// takes (and the value's shape) when the slot knows its parts.
    fn read_element(
        &mut self,
        slot: SlotKey,
        steps: &[Step<'_>],
        first: &Step<'_>,
        ctx: &Ctx,
        read: impl FnOnce(&mut Self) -> R<Value>,
    ) -> R<Value> {
        let (key, span, is_field) = match first {
            Step::Field(field) => (Value::Str(field.name.clone()), field.span, true),
            Step::Index(index) => (self.eval(index, ctx)?, index.span, false),
        };
        let value = self.read_part(&slot, &key, read)?;
        let value = self.step_into(value, key, span, is_field)?;
        self.apply_steps(value, &steps[1..], ctx)
    }

    /// Applies `.field` / `[index]` steps to a value.
    pub(crate) fn apply_steps(
        &mut self,
        mut value: Value,
        steps: &[Step<'_>],
        ctx: &Ctx,
    ) -> R<Value> {
        for step in steps {
            let (key, span) = match step {
                Step::Field(field) => (Value::Str(field.name.clone()), field.span),
                Step::Index(index) => (self.eval(index, ctx)?, index.span),
            };
            value = self.step_into(value, key, span, matches!(step, Step::Field(_)))?;
        }
        Ok(value)
    }

    fn step_into(&mut self, value: Value, key: Value, span: Span, is_field: bool) -> R<Value> {
        match (value, key) {
            (Value::Unknown(deferred), key) => match *deferred {
                Deferred::Attr { address, mut path } => {
                    let step = match key {
                        Value::Str(s) => s,
                        Value::Int(i) => i.to_string(),
                        other => {
                            self.known(&other, span, "an index")?;
                            return Err(Reported);
                        }
                    };
                    path.push(step);
                    Ok(Value::Unknown(Box::new(Deferred::Attr { address, path })))
                }
                template => Err(self.report(EvalError::Operands {
                    span,
                    message: format!("cannot read into the string `{template}`"),
                })),
            },
            (Value::Record(fields), Value::Str(name)) => match fields.get(&name) {
                Some(found) => Ok(found.clone()),
                None => {
                    let suggestion =
                        suggest::did_you_mean(&name, fields.keys().map(String::as_str));
                    Err(self.report(EvalError::Missing {
                        span,
                        message: format!(
                            "no {} `{name}` in this record",
                            if is_field { "field" } else { "key" }
                        ),
                        suggestion,
                    }))
                }
            },
            (Value::List(items), Value::Int(i)) => {
                let len = items.len();
                if i >= 0 && (i as usize) < len {
                    Ok(items[i as usize].clone())
                } else {
                    Err(self.report(EvalError::Missing {
                        span,
                        message: format!("index {i} is out of range for a list of {len}"),
                        suggestion: None,
                    }))
                }
            }
            (Value::Secret(_), _) => Err(self.report(EvalError::Secret {
                span,
                what: "a secret reference has no fields".to_owned(),
            })),
            (value, key) => {
                self.known(&key, span, "an index")?;
                Err(self.report(EvalError::Operands {
                    span,
                    message: format!("cannot index {} with {}", describe(&value), describe(&key)),
                }))
            }
        }
    }

    /// A param's value in a module instance: the argument, else the default; type-checked.
    pub(crate) fn param(&mut self, inst: InstId, name: &str, needed_at: Span) -> R<Value> {
        let index = self.index(inst);
        let Some(decl) = index.params.get(name).copied() else {
            return Err(Reported);
        };
        let key = SlotKey::Param(inst, name.to_owned());
        let value = self.value_slot_parts(key.clone(), needed_at, |ev| {
            let (value, span, parts) = ev.param_source(inst, name, decl)?;
            let aliases = &ev.index(inst).types;
            let origin = Origin {
                span,
                declared: decl.ty.span,
            };
            types::check(&value, &decl.ty, aliases, origin, name).map_err(|e| ev.report(e))?;
            Ok((value, parts))
        })?;
        // Checks may read the param itself, so they run once the value is memoised.
        if !decl.checks.is_empty() && self.checked_params.insert((inst, name.to_owned())) {
            let origin_span = self.param_origin(inst, name, decl);
            let ctx = Ctx {
                inst,
                env: Env::empty(),
            };
            for check in &decl.checks {
                let passed = match self.condition(&check.condition, &ctx, "a `check`") {
                    Ok(passed) => passed,
                    Err(Reported) => {
                        self.fail_slot(key);
                        return Err(Reported);
                    }
                };
                if !passed {
                    let message = match self.eval(&check.message, &ctx) {
                        Ok(Value::Str(text)) => text,
                        Ok(other) => describe(&other),
                        Err(Reported) => String::from("(the message failed to evaluate)"),
                    };
                    self.report(TypeError::CheckFailed {
                        span: origin_span,
                        check: check.span,
                        message,
                    });
                    self.fail_slot(key);
                    return Err(Reported);
                }
            }
        }
        Ok(value)
    }

    /// Where a param's value is written, without evaluating it.
    fn param_origin(&self, inst: InstId, name: &str, decl: &crate::ast::ParamDecl) -> Span {
        if let Some((_, use_decl)) = self.insts[inst].parent {
            if let Some(entry) = use_decl.args.as_ref().and_then(|a| a.get(name)) {
                return entry.value.span;
            }
        }
        decl.default.as_ref().map_or(decl.name.span, |d| d.span)
    }

    fn param_source(
        &mut self,
        inst: InstId,
        name: &str,
        decl: &crate::ast::ParamDecl,
    ) -> R<(Value, Span, Option<std::sync::Arc<super::parts::Parts>>)> {
        match self.insts[inst].parent {
            Some((parent, use_decl)) => {
                if let Some(entry) = use_decl.args.as_ref().and_then(|a| a.get(name)) {
                    let ctx = Ctx {
                        inst: parent,
                        env: self.insts[inst].each.clone(),
                    };
                    let (value, parts) = self.eval_parts(&entry.value, &ctx)?;
                    return Ok((value, entry.value.span, parts));
                }
            }
            None => {
                if let Some(value) = self.options.vars.get(name) {
                    return Ok((value.clone(), decl.name.span, None));
                }
            }
        }
        match &decl.default {
            Some(default) => {
                let ctx = Ctx {
                    inst,
                    env: Env::empty(),
                };
                let (value, parts) = self.eval_parts(default, &ctx)?;
                Ok((value, default.span, parts))
            }
            None => {
                let (span, module) = match self.insts[inst].parent {
                    Some((_, use_decl)) => (
                        use_decl.alias.span,
                        self.program.modules[self.insts[inst].module].name.clone(),
                    ),
                    None => (decl.name.span, "the stack".to_owned()),
                };
                Err(self.report(NameError::MissingArgument {
                    span,
                    param: decl.name.span,
                    module,
                    name: name.to_owned(),
                }))
            }
        }
    }

    /// `alias`, `alias.output`, `alias[key]`, `alias[key].output` and deeper.
    pub(crate) fn module_value(
        &mut self,
        inst: InstId,
        alias: &Ident,
        steps: &[Step<'_>],
        span: Span,
        ctx: &Ctx,
    ) -> R<Value> {
        let children = self.children(inst, &alias.name, alias.span)?;
        let decl_has_for_each = self
            .index(inst)
            .uses
            .get(alias.name.as_str())
            .is_some_and(|u| u.for_each.is_some());
        let mut rest = steps;
        let child = if decl_has_for_each {
            match rest.first() {
                Some(Step::Index(key_expr)) => {
                    let key = self.eval(key_expr, ctx)?;
                    self.known(&key, key_expr.span, "a module instance key")?;
                    let key = key_text(&key);
                    rest = &rest[1..];
                    match children.get(Some(&key)) {
                        Some(id) => *id,
                        None => {
                            let keys = children.keys();
                            return Err(self.report(EvalError::Missing {
                                span: key_expr.span,
                                message: format!(
                                    "module `{}` has no instance {}",
                                    alias.name,
                                    key_suffix(&key)
                                ),
                                suggestion: suggest::did_you_mean(&key, keys),
                            }));
                        }
                    }
                }
                _ => {
                    // The whole set: a map from key to the instance's outputs.
                    let mut map = IndexMap::new();
                    for (key, id) in children.iter() {
                        let outputs = self.all_outputs(*id, span)?;
                        map.insert(key.clone().unwrap_or_default(), outputs);
                    }
                    return self.apply_steps(Value::record(map), rest, ctx);
                }
            }
        } else {
            match children.first() {
                Some((_, id)) => *id,
                None => return Err(Reported),
            }
        };
        match rest.first() {
            Some(Step::Field(field)) => match rest.get(1) {
                Some(next) => {
                    let slot = SlotKey::Output(child, field.name.clone());
                    self.read_element(slot, &rest[1..], next, ctx, |ev| {
                        ev.output(child, field, span)
                    })
                }
                None => self.output(child, field, span),
            },
            _ => {
                let outputs = self.all_outputs(child, span)?;
                self.apply_steps(outputs, rest, ctx)
            }
        }
    }

    fn all_outputs(&mut self, inst: InstId, span: Span) -> R<Value> {
        let names: Vec<&Ident> = self.index(inst).outputs.values().map(|o| &o.name).collect();
        let mut map = IndexMap::new();
        for name in names {
            let value = self.output(inst, name, span)?;
            map.insert(name.name.clone(), value);
        }
        Ok(Value::record(map))
    }

    pub(crate) fn output(&mut self, inst: InstId, field: &Ident, span: Span) -> R<Value> {
        let index = self.index(inst);
        let Some(decl) = index.outputs.get(field.name.as_str()).copied() else {
            let module = self.program.modules[self.insts[inst].module].name.clone();
            return Err(self.report(NameError::UnknownOutput {
                span: field.span,
                module,
                name: field.name.clone(),
                suggestion: suggest::did_you_mean(&field.name, index.outputs.keys().copied()),
            }));
        };
        let key = SlotKey::Output(inst, field.name.clone());
        self.declared_slot(key, inst, &decl.value, span)
    }

    /// The memoised value of a `let` or an output: `expr` evaluated in module instance
    /// `inst`, with its parts (see `parts.rs`).
    pub(crate) fn declared_slot(
        &mut self,
        key: SlotKey,
        inst: InstId,
        expr: &Expr,
        needed_at: Span,
    ) -> R<Value> {
        self.value_slot_parts(key, needed_at, |ev| {
            ev.eval_parts(
                expr,
                &Ctx {
                    inst,
                    env: Env::empty(),
                },
            )
        })
    }

    /// `type.kind.name[key].attr…` (steps start after `type.kind`).
    fn resource_value(
        &mut self,
        rtype: &str,
        steps: &[Step<'_>],
        span: Span,
        ctx: &Ctx,
    ) -> R<Value> {
        let Some(Step::Field(name)) = steps.first() else {
            return Err(self.report(NameError::UnknownResource {
                span,
                rtype: rtype.to_owned(),
                name: String::new(),
                suggestion: None,
            }));
        };
        let index = self.index(ctx.inst);
        let Some(resource) = index.resource(rtype, &name.name) else {
            return Err(self.report(NameError::UnknownResource {
                span,
                rtype: rtype.to_owned(),
                name: name.name.clone(),
                suggestion: None,
            }));
        };
        let decl = index.resources[resource];
        let keys = self.resource_keys(ctx.inst, resource, span)?;
        let mut rest = &steps[1..];
        let key = if decl.for_each.is_some() {
            match rest.first() {
                Some(Step::Index(key_expr)) => {
                    let key = self.eval(key_expr, ctx)?;
                    self.known(&key, key_expr.span, "a resource instance key")?;
                    let key = key_text(&key);
                    rest = &rest[1..];
                    if !keys.contains(&key) {
                        let known = keys.keys();
                        return Err(self.report(EvalError::Missing {
                            span: key_expr.span,
                            message: format!(
                                "`{rtype}.{}` has no instance {}",
                                name.name,
                                key_suffix(&key)
                            ),
                            suggestion: suggest::did_you_mean(&key, known),
                        }));
                    }
                    Some(key)
                }
                _ => {
                    let mut map = IndexMap::new();
                    for (key, _) in keys.iter() {
                        let object = self.resource_object(ctx.inst, resource, key.clone(), span)?;
                        map.insert(key.clone().unwrap_or_default(), object);
                    }
                    return self.apply_steps(Value::record(map), rest, ctx);
                }
            }
        } else {
            None
        };
        match rest.first() {
            Some(Step::Field(attr)) => {
                let address = self.address(ctx.inst, rtype, &name.name, key.as_deref());
                self.depend(Target::Resource(address.clone()), span, false);
                let value =
                    match self.attribute(ctx.inst, resource, key.clone(), &attr.name, span)? {
                        Some(value) => value,
                        None => Value::Unknown(Box::new(Deferred::Attr {
                            address,
                            path: vec![attr.name.clone()],
                        })),
                    };
                self.apply_steps(value, &rest[1..], ctx)
            }
            _ => {
                let object = self.resource_object(ctx.inst, resource, key, span)?;
                self.apply_steps(object, rest, ctx)
            }
        }
    }

    /// All configured attributes of one resource instance, as a record.
    fn resource_object(
        &mut self,
        inst: InstId,
        resource: usize,
        key: Option<String>,
        span: Span,
    ) -> R<Value> {
        let decl = self.index(inst).resources[resource];
        let address = self.address(inst, &decl.rtype.joined(), &decl.name.name, key.as_deref());
        self.depend(Target::Resource(address), span, false);
        let mut map = IndexMap::new();
        for entry in &decl.body.entries {
            let Some(name) = entry.key.plain() else {
                continue;
            };
            if super::instances::META.contains(&name.as_str()) {
                continue;
            }
            if let Some(value) = self.attribute(inst, resource, key.clone(), &name, span)? {
                map.insert(name, value);
            }
        }
        Ok(Value::record(map))
    }

    /// The configured value of one attribute, or `None` when the body does not set it.
    pub(crate) fn attribute(
        &mut self,
        inst: InstId,
        resource: usize,
        key: Option<String>,
        attr: &str,
        span: Span,
    ) -> R<Option<Value>> {
        let decl = self.index(inst).resources[resource];
        let Some(entry) = decl.body.get(attr) else {
            return Ok(None);
        };
        if super::instances::META.contains(&attr) {
            return Ok(None);
        }
        let keys = self.resource_keys(inst, resource, span)?;
        let Some(env) = keys.get(key.as_deref()).cloned() else {
            return Err(Reported);
        };
        self.value_slot(
            SlotKey::Attr(inst, resource, key, attr.to_owned()),
            span,
            |ev| ev.eval(&entry.value, &Ctx { inst, env }),
        )
        .map(Some)
    }

    /// The full address of a resource instance in a module instance.
    pub(crate) fn address(
        &self,
        inst: InstId,
        rtype: &str,
        name: &str,
        key: Option<&str>,
    ) -> String {
        let prefix = &self.insts[inst].prefix;
        let mut address = if prefix.is_empty() {
            format!("{rtype}.{name}")
        } else {
            format!("{prefix}.{rtype}.{name}")
        };
        if let Some(key) = key {
            address.push_str(&key_suffix(key));
        }
        address
    }
}

/// An instance key as text (strings as they are, numbers in decimal).
pub(crate) fn key_text(value: &Value) -> String {
    match value {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        other => describe(other),
    }
}
