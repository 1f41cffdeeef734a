//! Higher-order functions: `map`, `filter`, `all`, `any` and `to_map` call a lambda back
//! through the evaluator's [`Apply`](super::Apply) for each element, in order.

use indexmap::IndexMap;

use super::{check_readable, Args, FnError};
use crate::value::Value;

type Result<T> = std::result::Result<T, FnError>;

/// Calls the lambda with the arguments.
fn call(a: &mut Args<'_>, func: &Value, args: Vec<Value>) -> Result<Value> {
    a.apply.apply(func, args)
}

/// A predicate's answer; anything but a bool is an error blamed on the lambda (argument 2).
fn truth(a: &Args<'_>, result: &Value, element: usize) -> Result<Option<bool>> {
    match result {
        Value::Bool(b) => Ok(Some(*b)),
        Value::Unknown(_) if !result.contains_secret() => Ok(None),
        _ => {
            check_readable(1, result)?;
            Err(a.error(
                1,
                format!(
                    "the predicate must return a bool, but returned {} for element [{element}]",
                    result.type_name()
                ),
            ))
        }
    }
}

pub(super) fn map(a: &mut Args<'_>) -> Result<Value> {
    let func = a.func(1)?;
    match a.readable(0)? {
        Value::List(_) => {
            let items = a.take_list(0)?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(call(a, &func, vec![item])?);
            }
            Ok(Value::list(out))
        }
        Value::Record(_) => {
            let pairs = matches!(&func, Value::Func(lambda) if lambda.params.len() == 2);
            let Value::Record(fields) = a.take(0) else {
                return Ok(Value::record(IndexMap::new()));
            };
            let mut out = IndexMap::with_capacity(fields.len());
            for (key, value) in std::sync::Arc::unwrap_or_clone(fields) {
                let args = if pairs {
                    vec![Value::Str(key.clone()), value]
                } else {
                    vec![value]
                };
                let result = call(a, &func, args)?;
                out.insert(key, result);
            }
            Ok(Value::record(out))
        }
        _ => Err(a.type_error(0, "a list or a record")),
    }
}

pub(super) fn filter(a: &mut Args<'_>) -> Result<Value> {
    let func = a.func(1)?;
    let items = a.take_list(0)?;
    let mut out = Vec::new();
    for (j, item) in items.into_iter().enumerate() {
        let result = call(a, &func, vec![item.clone()])?;
        match truth(a, &result, j)? {
            Some(true) => out.push(item),
            Some(false) => {}
            None => return Err(FnError::Unknown { index: 1 }),
        }
    }
    Ok(Value::list(out))
}

pub(super) fn all(a: &mut Args<'_>) -> Result<Value> {
    quantify(a, false)
}

pub(super) fn any(a: &mut Args<'_>) -> Result<Value> {
    quantify(a, true)
}

/// `all` (decisive answer false) and `any` (decisive answer true): stops at the first
/// decisive answer; if there is none but some answer was unknown, the result is unknown.
fn quantify(a: &mut Args<'_>, decisive: bool) -> Result<Value> {
    let func = a.func(1)?;
    let items = a.take_list(0)?;
    let mut unknown = false;
    for (j, item) in items.into_iter().enumerate() {
        let result = call(a, &func, vec![item])?;
        match truth(a, &result, j)? {
            Some(answer) if answer == decisive => return Ok(Value::Bool(decisive)),
            Some(_) => {}
            None => unknown = true,
        }
    }
    if unknown {
        Err(FnError::Unknown { index: 1 })
    } else {
        Ok(Value::Bool(!decisive))
    }
}

pub(super) fn to_map(a: &mut Args<'_>) -> Result<Value> {
    let func = a.func(1)?;
    let items = a.take_list(0)?;
    let mut out = IndexMap::with_capacity(items.len());
    for (j, item) in items.into_iter().enumerate() {
        let key = call(a, &func, vec![item.clone()])?;
        check_readable(1, &key)?;
        let Value::Str(key) = key else {
            return Err(a.error(
                1,
                format!(
                    "the key function must return a string, but returned {} for element [{j}]",
                    key.type_name()
                ),
            ));
        };
        if out.contains_key(&key) {
            return Err(a.error(
                0,
                format!(
                    "the key `{key}` is produced by more than one element (again by element [{j}])"
                ),
            ));
        }
        out.insert(key, item);
    }
    Ok(Value::record(out))
}
