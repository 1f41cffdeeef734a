//! Number functions: extremes, sums, absolute values and conversions to int and float.
//! Integer arithmetic is checked: overflow is an error, never a wrap-around.

use super::{check_readable, Args, FnError, Num};
use crate::value::Value;

type Result<T> = std::result::Result<T, FnError>;

pub(super) fn abs(a: &mut Args<'_>) -> Result<Value> {
    match a.num(0)? {
        Num::Int(i) => i.checked_abs().map(Value::Int).ok_or_else(|| {
            a.error(
                0,
                format!("the absolute value of {i} does not fit in an int"),
            )
        }),
        Num::Float(f) => Ok(Value::Float(f.abs())),
    }
}

/// The numbers of `min`/`max`: one list argument, or every argument.
fn numbers(a: &Args<'_>) -> Result<Vec<Num>> {
    if a.len() == 1 {
        let items = match a.readable(0)? {
            Value::Int(i) => return Ok(vec![Num::Int(*i)]),
            Value::Float(f) => return Ok(vec![Num::Float(*f)]),
            Value::List(items) => items,
            _ => return Err(a.type_error(0, "a list of numbers or a number")),
        };
        let mut out = Vec::with_capacity(items.len());
        for (j, item) in items.iter().enumerate() {
            check_readable(0, item)?;
            match item {
                Value::Int(i) => out.push(Num::Int(*i)),
                Value::Float(f) => out.push(Num::Float(*f)),
                _ => return Err(a.element_error(0, j, "numbers", item)),
            }
        }
        if out.is_empty() {
            return Err(a.error(0, "argument 1 is an empty list"));
        }
        Ok(out)
    } else {
        (0..a.len()).map(|index| a.num(index)).collect()
    }
}

pub(super) fn min(a: &mut Args<'_>) -> Result<Value> {
    extreme(a, std::cmp::Ordering::Less)
}

pub(super) fn max(a: &mut Args<'_>) -> Result<Value> {
    extreme(a, std::cmp::Ordering::Greater)
}

/// The first number that no other number beats in the `wanted` direction.
fn extreme(a: &Args<'_>, wanted: std::cmp::Ordering) -> Result<Value> {
    let mut best: Option<Num> = None;
    for n in numbers(a)? {
        if best.is_none_or(|b| n.cmp(b) == wanted) {
            best = Some(n);
        }
    }
    Ok(best.map(Num::value).unwrap_or(Value::Null))
}

pub(super) fn sum(a: &mut Args<'_>) -> Result<Value> {
    let items = a.list(0)?;
    let mut int_total: Option<i64> = Some(0);
    let mut float_total = 0.0_f64;
    let mut any_float = false;
    for (j, item) in items.iter().enumerate() {
        check_readable(0, item)?;
        match item {
            Value::Int(i) => {
                int_total = int_total.and_then(|t| t.checked_add(*i));
                float_total += *i as f64;
            }
            Value::Float(f) => {
                any_float = true;
                float_total += f;
            }
            _ => return Err(a.element_error(0, j, "numbers", item)),
        }
    }
    if any_float {
        if float_total.is_finite() {
            Ok(Value::Float(float_total))
        } else {
            Err(a.error(0, "the sum is not a finite number"))
        }
    } else {
        int_total
            .map(Value::Int)
            .ok_or_else(|| a.error(0, "the sum does not fit in an int"))
    }
}

pub(super) fn to_int(a: &mut Args<'_>) -> Result<Value> {
    match a.readable(0)? {
        Value::Int(i) => Ok(Value::Int(*i)),
        Value::Float(f) => {
            let t = f.trunc();
            // i64::MIN is exactly representable; i64::MAX + 1 is the first float past the range.
            if t.is_finite() && t >= i64::MIN as f64 && t < -(i64::MIN as f64) {
                Ok(Value::Int(t as i64))
            } else {
                Err(a.error(0, format!("{f} does not fit in an int")))
            }
        }
        Value::Str(s) => s
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| a.error(0, format!("{s:?} is not an integer that fits in an int"))),
        _ => Err(a.type_error(0, "a number or a string")),
    }
}

pub(super) fn to_float(a: &mut Args<'_>) -> Result<Value> {
    match a.readable(0)? {
        Value::Int(i) => Ok(Value::Float(*i as f64)),
        Value::Float(f) => Ok(Value::Float(*f)),
        Value::Str(s) => match s.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(a.error(0, format!("{s:?} is not a finite decimal number"))),
        },
        _ => Err(a.type_error(0, "a number or a string")),
    }
}
