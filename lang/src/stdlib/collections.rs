//! Collection functions: inspecting, combining, reordering and building lists and records.
//! Elements are moved, never read, unless the function must compare them, so secrets and
//! unknowns inside pass through.

use std::collections::HashSet;
use std::sync::Arc;

use indexmap::IndexMap;

use super::{check_readable, Args, FnError, Num};
use crate::value::Value;

type Result<T> = std::result::Result<T, FnError>;

pub(super) fn length(a: &mut Args<'_>) -> Result<Value> {
    let n = match a.readable(0)? {
        Value::List(items) => items.len(),
        Value::Record(fields) => fields.len(),
        Value::Str(s) => s.chars().count(),
        _ => return Err(a.type_error(0, "a list, record or string")),
    };
    int_result(a, 0, n)
}

fn int_result(a: &Args<'_>, index: usize, n: usize) -> Result<Value> {
    i64::try_from(n)
        .map(Value::Int)
        .map_err(|_| a.error(index, "the result does not fit in an int"))
}

pub(super) fn keys(a: &mut Args<'_>) -> Result<Value> {
    let fields = a.record(0)?;
    Ok(Value::list(fields.keys().map(Value::str).collect()))
}

pub(super) fn values(a: &mut Args<'_>) -> Result<Value> {
    a.record(0)?;
    match a.take(0) {
        Value::Record(fields) => Ok(Value::list(fields.values().cloned().collect())),
        _ => Ok(Value::list(Vec::new())),
    }
}

pub(super) fn contains(a: &mut Args<'_>) -> Result<Value> {
    match a.readable(0)? {
        Value::List(items) => {
            let needle = a.raw(1);
            if needle.contains_unknown() {
                return Err(FnError::Unknown { index: 1 });
            }
            if items.iter().any(|item| item.equals(needle)) {
                Ok(Value::Bool(true))
            } else if items.iter().any(Value::contains_unknown) {
                Err(FnError::Unknown { index: 0 })
            } else {
                Ok(Value::Bool(false))
            }
        }
        Value::Record(fields) => Ok(Value::Bool(fields.contains_key(a.str(1)?))),
        Value::Str(text) => Ok(Value::Bool(text.contains(a.str(1)?))),
        _ => Err(a.type_error(0, "a list, record or string")),
    }
}

pub(super) fn has(a: &mut Args<'_>) -> Result<Value> {
    let fields = a.record(0)?;
    Ok(Value::Bool(fields.contains_key(a.str(1)?)))
}

pub(super) fn lookup(a: &mut Args<'_>) -> Result<Value> {
    let fields = a.record(0)?;
    let key = a.str(1)?;
    match fields.get_index_of(key) {
        Some(position) => match a.take(0) {
            Value::Record(fields) => Ok(fields
                .get_index(position)
                .map(|(_, value)| value.clone())
                .unwrap_or(Value::Null)),
            _ => Ok(Value::Null),
        },
        None => Ok(a.take(2)),
    }
}

pub(super) fn coalesce(a: &mut Args<'_>) -> Result<Value> {
    let first = a.values.iter().position(|v| !matches!(v, Value::Null));
    Ok(first.map(|index| a.take(index)).unwrap_or(Value::Null))
}

/// The record arguments, moved out; null arguments are skipped.
fn records(a: &mut Args<'_>) -> Result<Vec<IndexMap<String, Value>>> {
    let mut out = Vec::with_capacity(a.len());
    for index in 0..a.len() {
        if matches!(a.raw(index), Value::Null) {
            continue;
        }
        a.record(index)?;
        if let Value::Record(fields) = a.take(index) {
            out.push(Arc::unwrap_or_clone(fields));
        }
    }
    Ok(out)
}

pub(super) fn merge(a: &mut Args<'_>) -> Result<Value> {
    let mut out = IndexMap::new();
    for fields in records(a)? {
        out.extend(fields);
    }
    Ok(Value::record(out))
}

pub(super) fn deep_merge(a: &mut Args<'_>) -> Result<Value> {
    let mut out = IndexMap::new();
    for fields in records(a)? {
        deep_merge_into(&mut out, fields);
    }
    Ok(Value::record(out))
}

fn deep_merge_into(base: &mut IndexMap<String, Value>, over: IndexMap<String, Value>) {
    for (key, value) in over {
        match value {
            Value::Record(fields) => {
                if let Some(Value::Record(existing)) = base.get_mut(&key) {
                    deep_merge_into(Arc::make_mut(existing), Arc::unwrap_or_clone(fields));
                } else {
                    base.insert(key, Value::Record(fields));
                }
            }
            value => {
                base.insert(key, value);
            }
        }
    }
}

pub(super) fn concat(a: &mut Args<'_>) -> Result<Value> {
    let mut out = Vec::new();
    for index in 0..a.len() {
        if matches!(a.raw(index), Value::Null) {
            continue;
        }
        out.extend(a.take_list(index)?);
    }
    Ok(Value::list(out))
}

pub(super) fn flatten(a: &mut Args<'_>) -> Result<Value> {
    fn walk(items: Vec<Value>, out: &mut Vec<Value>) {
        for item in items {
            match item {
                Value::List(inner) => walk(Arc::unwrap_or_clone(inner), out),
                item => out.push(item),
            }
        }
    }
    let items = a.take_list(0)?;
    let mut out = Vec::with_capacity(items.len());
    walk(items, &mut out);
    Ok(Value::list(out))
}

pub(super) fn distinct(a: &mut Args<'_>) -> Result<Value> {
    let items = a.take_list(0)?;
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    if items.iter().all(|item| matches!(item, Value::Str(_))) {
        let mut seen = HashSet::new();
        for item in items {
            if let Value::Str(s) = &item {
                if !seen.insert(s.clone()) {
                    continue;
                }
            }
            out.push(item);
        }
    } else {
        for item in items {
            if !out.iter().any(|kept| kept.equals(&item)) {
                out.push(item);
            }
        }
    }
    Ok(Value::list(out))
}

pub(super) fn sort(a: &mut Args<'_>) -> Result<Value> {
    let items = a.list(0)?;
    let mut strings = Vec::new();
    let mut numbers = Vec::new();
    for (j, item) in items.iter().enumerate() {
        check_readable(0, item)?;
        match item {
            Value::Str(s) => strings.push(s.clone()),
            Value::Int(i) => numbers.push(Num::Int(*i)),
            Value::Float(f) => numbers.push(Num::Float(*f)),
            _ => return Err(a.element_error(0, j, "strings or numbers", item)),
        }
        if !strings.is_empty() && !numbers.is_empty() {
            return Err(a.error(
                0,
                "argument 1 mixes strings and numbers; sort needs one or the other",
            ));
        }
    }
    if strings.is_empty() {
        numbers.sort_by(|x, y| x.cmp(*y));
        Ok(Value::list(numbers.into_iter().map(Num::value).collect()))
    } else {
        strings.sort();
        Ok(Value::list(strings.into_iter().map(Value::Str).collect()))
    }
}

pub(super) fn reverse(a: &mut Args<'_>) -> Result<Value> {
    let mut items = a.take_list(0)?;
    items.reverse();
    Ok(Value::list(items))
}

pub(super) fn slice(a: &mut Args<'_>) -> Result<Value> {
    let len = a.list(0)?.len();
    let start = a.count(1, "the start")?;
    let end = a.count(2, "the end")?;
    if start > end {
        return Err(a.error(1, format!("the start ({start}) is after the end ({end})")));
    }
    if end > len {
        return Err(a.error(
            2,
            format!("the end ({end}) is past the length of the list ({len})"),
        ));
    }
    let mut items = a.take_list(0)?;
    items.truncate(end);
    Ok(Value::list(items.split_off(start)))
}

pub(super) fn range(a: &mut Args<'_>) -> Result<Value> {
    let (start, end) = if a.len() == 1 {
        (0, a.int(0)?)
    } else {
        (a.int(0)?, a.int(1)?)
    };
    let count = (i128::from(end) - i128::from(start)).max(0);
    let size = usize::try_from(count).ok();
    a.check_size(a.len() - 1, size, 0)?;
    Ok(Value::list((start..end).map(Value::Int).collect()))
}

pub(super) fn zipmap(a: &mut Args<'_>) -> Result<Value> {
    let keys = a.strings(0)?;
    let count = a.list(1)?.len();
    if keys.len() != count {
        return Err(a.error(
            1,
            format!(
                "there are {} key(s) but {count} value(s); the lists must have the same length",
                keys.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    if let Some(repeated) = keys.iter().find(|key| !seen.insert(**key)) {
        return Err(a.error(0, format!("the key `{repeated}` appears more than once")));
    }
    let keys: Vec<String> = keys.into_iter().map(str::to_owned).collect();
    let values = a.take_list(1)?;
    Ok(Value::record(keys.into_iter().zip(values).collect()))
}
