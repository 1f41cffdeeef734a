//! `--var-file FILE`: values for a stack's params from a file, in obp syntax (`name = value`
//! lines, as inside a record: strings, numbers, bools, null, lists, records and
//! `secret("path")`) or JSON (an object, when the file ends in `.json`). Only data: a
//! reference, an operator or a call other than `secret` is refused at its line.

use std::path::Path;

use indexmap::IndexMap;
use obp_lang::ast::{Expr, ExprKind, Literal};
use obp_lang::value::{SecretRef, Value};

use super::errors::CliError;

/// The values a var file gives, in file order.
pub fn read(path: &Path) -> Result<IndexMap<String, Value>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::io("read a var file", e))?;
    let fail = |line: usize, message: String| CliError::VarFile {
        path: path.display().to_string(),
        line,
        message,
    };
    if path.extension().is_some_and(|e| e == "json") {
        return match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(map)) => Ok(map
                .iter()
                .map(|(name, value)| (name.clone(), Value::from_json(value)))
                .collect()),
            Ok(_) => Err(fail(
                1,
                "a JSON var file holds one object: {\"name\": value, …}".into(),
            )),
            Err(e) => Err(fail(e.line(), e.to_string())),
        };
    }
    // The entries of a record, on the lines the user wrote them (the prefix shares line 1).
    let source = format!("let vars = {{{text}\n}}\n");
    let line_of = |offset: u32| source[..offset as usize].matches('\n').count() + 1;
    let parsed = obp_lang::parse::parse(obp_lang::span::FileId(0), &source);
    if let Some(error) = parsed.errors.into_iter().next() {
        let diagnostic = obp_lang::diagnostics::IntoDiagnostic::into_diagnostic(error);
        let line = diagnostic
            .labels
            .first()
            .map_or(1, |label| line_of(label.span.start));
        return Err(fail(line, diagnostic.message));
    }
    let record = parsed
        .file
        .and_then(|file| file.items.into_iter().next())
        .and_then(|item| match item.kind {
            obp_lang::ast::ItemKind::Let(decl) => match decl.value.kind {
                ExprKind::Record(record) => Some(record),
                _ => None,
            },
            _ => None,
        })
        .ok_or_else(|| fail(1, "write one `name = value` per line".into()))?;
    let mut values = IndexMap::new();
    for entry in &record.entries {
        let Some(name) = entry.key.plain() else {
            return Err(fail(
                line_of(entry.span.start),
                "a param name cannot be interpolated".into(),
            ));
        };
        let value = data(&entry.value).map_err(|(at, what)| {
            fail(
                line_of(at.span.start),
                format!("`{name}` must be data (strings, numbers, bools, null, lists, records or secret(\"path\")), found {what}"),
            )
        })?;
        values.insert(name, value);
    }
    Ok(values)
}

/// The value of a data-only expression, or the sub-expression that is not data.
fn data(expr: &Expr) -> Result<Value, (&Expr, &'static str)> {
    Ok(match &expr.kind {
        ExprKind::Literal(Literal::Null) => Value::Null,
        ExprKind::Literal(Literal::Bool(b)) => Value::Bool(*b),
        ExprKind::Literal(Literal::Int(n)) => Value::Int(*n),
        ExprKind::Literal(Literal::Float(x)) => Value::Float(*x),
        ExprKind::Literal(Literal::Str(s)) => Value::Str(s.clone()),
        ExprKind::Str(lit) => Value::Str(lit.as_plain().ok_or((expr, "an interpolated string"))?),
        ExprKind::Paren(inner) => data(inner)?,
        ExprKind::List(items) => Value::List(std::sync::Arc::new(
            items.iter().map(data).collect::<Result<_, _>>()?,
        )),
        ExprKind::Record(record) => {
            let mut fields = IndexMap::new();
            for entry in &record.entries {
                let key = entry.key.plain().ok_or((expr, "an interpolated key"))?;
                fields.insert(key, data(&entry.value)?);
            }
            Value::record(fields)
        }
        ExprKind::Call(callee, args) => match (&callee.kind, args.as_slice()) {
            (ExprKind::Var(name), [arg]) if name.name == "secret" => match data(arg)? {
                Value::Str(path) => Value::Secret(SecretRef { path }),
                _ => return Err((arg, "a secret path that is not a string")),
            },
            _ => return Err((expr, "a function call")),
        },
        ExprKind::Var(_) | ExprKind::Member(..) | ExprKind::Index(..) => {
            return Err((expr, "a reference"))
        }
        _ => return Err((expr, "an expression")),
    })
}
