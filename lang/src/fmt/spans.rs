//! Where nodes really end, and which nested constructs claim the comments inside them.
//!
//! The formatter computes ends from the last token of each node rather than trusting a
//! node's span to stop there (pest spans can run on over trailing whitespace and comments).

use crate::ast::{Check, Expr, ExprKind, ForEach, Item, ItemKind, ParamDecl, TypeExpr, TypeKind};

/// A half-open byte range `start..end` of the source.
pub(super) type Range = (u32, u32);

pub(super) fn contains(ranges: &[Range], at: u32) -> bool {
    ranges.iter().any(|&(start, end)| start <= at && at < end)
}

/// End of the last token of an expression.
pub(super) fn expr_end(mut expr: &Expr) -> u32 {
    loop {
        expr = match &expr.kind {
            ExprKind::Unary(_, last) | ExprKind::Binary(_, _, last) | ExprKind::If(_, _, last) => {
                last
            }
            ExprKind::Lambda(_, body) => body,
            _ => return expr.span.end,
        }
    }
}

/// End of the last token of a type (a union's own span may run on).
pub(super) fn type_end(ty: &TypeExpr) -> u32 {
    match &ty.kind {
        TypeKind::Union(terms) => terms.last().map_or(ty.span.end, type_end),
        _ => ty.span.end,
    }
}

pub(super) fn check_end(check: &Check) -> u32 {
    expr_end(&check.message)
}

fn for_each_end(for_each: &ForEach) -> u32 {
    expr_end(for_each.key.as_ref().unwrap_or(&for_each.collection))
}

/// End of a param's `name: Type [= default]`, where its checks begin.
pub(super) fn param_header_end(param: &ParamDecl) -> u32 {
    param
        .default
        .as_ref()
        .map_or_else(|| type_end(&param.ty), expr_end)
}

/// End of the last token of an item.
pub(super) fn item_end(item: &Item) -> u32 {
    match &item.kind {
        ItemKind::Module(module) => module.name.span.end,
        ItemKind::Stack(stack) => stack
            .body
            .as_ref()
            .map_or(stack.name.span.end, |b| b.span.end),
        ItemKind::Provider(provider) => provider.body.span.end,
        ItemKind::Backend(backend) => backend.body.span.end,
        ItemKind::Param(param) => param
            .checks
            .last()
            .map_or_else(|| param_header_end(param), check_end),
        ItemKind::Type(decl) => type_end(&decl.ty),
        ItemKind::Let(decl) => expr_end(&decl.value),
        ItemKind::Resource(resource) => resource.body.span.end,
        ItemKind::Use(decl) => match (&decl.args, &decl.for_each) {
            (Some(args), _) => args.span.end,
            (None, Some(for_each)) => for_each_end(for_each),
            (None, None) => decl.alias.span.end,
        },
        ItemKind::Output(decl) => expr_end(&decl.value),
        ItemKind::Moved(moved) => moved.body.span.end,
        // `policy … { … }` ends with its brace, so its span is exact.
        ItemKind::Policy(_) => item.span.end,
    }
}

/// Where a policy's rule list starts: after its name and level.
pub(super) fn policy_header_end(item: &Item) -> u32 {
    match &item.kind {
        ItemKind::Policy(policy) => policy.level.as_ref().unwrap_or(&policy.name).span.end,
        _ => item.span.start,
    }
}

/// The outermost records, lists and matches in an expression: each prints the comments
/// inside it itself. Strings are not entered: `${…}` is printed on one line, so comments
/// inside it move out to the enclosing line-level construct.
pub(super) fn expr_containers(expr: &Expr, out: &mut Vec<Range>) {
    match &expr.kind {
        ExprKind::Record(record) => out.push((record.span.start, record.span.end)),
        ExprKind::List(_) | ExprKind::Match(..) => out.push((expr.span.start, expr.span.end)),
        ExprKind::Literal(_) | ExprKind::Str(_) | ExprKind::Var(_) => {}
        ExprKind::Member(inner, _) | ExprKind::Unary(_, inner) | ExprKind::Paren(inner) => {
            expr_containers(inner, out)
        }
        ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
            expr_containers(a, out);
            expr_containers(b, out);
        }
        ExprKind::Call(callee, args) => {
            expr_containers(callee, out);
            args.iter().for_each(|arg| expr_containers(arg, out));
        }
        ExprKind::If(a, b, c) => {
            expr_containers(a, out);
            expr_containers(b, out);
            expr_containers(c, out);
        }
        ExprKind::Lambda(_, body) => expr_containers(body, out),
    }
}

/// The ranges inside an item whose comments are printed by nested constructs.
pub(super) fn item_containers(item: &Item) -> Vec<Range> {
    let mut out = Vec::new();
    let for_each = |for_each: &Option<ForEach>, out: &mut Vec<Range>| {
        if let Some(for_each) = for_each {
            expr_containers(&for_each.collection, out);
            if let Some(key) = &for_each.key {
                expr_containers(key, out);
            }
        }
    };
    match &item.kind {
        ItemKind::Module(_) | ItemKind::Type(_) => {}
        ItemKind::Stack(stack) => {
            if let Some(body) = &stack.body {
                out.push((body.span.start, body.span.end));
            }
        }
        ItemKind::Provider(provider) => {
            out.push((provider.body.span.start, provider.body.span.end))
        }
        ItemKind::Backend(backend) => out.push((backend.body.span.start, backend.body.span.end)),
        ItemKind::Moved(moved) => out.push((moved.body.span.start, moved.body.span.end)),
        ItemKind::Resource(resource) => {
            for_each(&resource.for_each, &mut out);
            out.push((resource.body.span.start, resource.body.span.end));
        }
        ItemKind::Use(decl) => {
            for_each(&decl.for_each, &mut out);
            if let Some(args) = &decl.args {
                out.push((args.span.start, args.span.end));
            }
        }
        ItemKind::Param(param) => {
            if let Some(default) = &param.default {
                expr_containers(default, &mut out);
            }
            if let Some(last) = param.checks.last() {
                out.push((param_header_end(param), check_end(last)));
            }
        }
        ItemKind::Let(decl) => expr_containers(&decl.value, &mut out),
        ItemKind::Output(decl) => expr_containers(&decl.value, &mut out),
        ItemKind::Policy(_) => out.push((policy_header_end(item), item.span.end)),
    }
    out
}
