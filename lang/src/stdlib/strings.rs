//! String functions: case, trimming, searching, splitting, joining, formatting, regular
//! expressions and conversion to text.

use regex::Regex;

use super::{Args, FnError};
use crate::value::Value;

type Result<T> = std::result::Result<T, FnError>;

pub(super) fn join(a: &mut Args<'_>) -> Result<Value> {
    let sep = a.str(0)?;
    let items = a.strings(1)?;
    let input = items
        .iter()
        .fold(sep.len(), |n, s| n.saturating_add(s.len()));
    let size = items.iter().try_fold(
        sep.len().checked_mul(items.len().saturating_sub(1)),
        |n, s| Some(n.and_then(|n| n.checked_add(s.len()))),
    );
    a.check_size(1, size.flatten(), input)?;
    Ok(Value::Str(items.join(sep)))
}

pub(super) fn split(a: &mut Args<'_>) -> Result<Value> {
    let sep = a.str(0)?;
    let text = a.str(1)?;
    let parts: Vec<Value> = if text.is_empty() {
        Vec::new()
    } else if sep.is_empty() {
        text.chars().map(|c| Value::Str(c.to_string())).collect()
    } else {
        text.split(sep).map(Value::str).collect()
    };
    Ok(Value::list(parts))
}

pub(super) fn lower(a: &mut Args<'_>) -> Result<Value> {
    Ok(Value::Str(a.str(0)?.to_lowercase()))
}

pub(super) fn upper(a: &mut Args<'_>) -> Result<Value> {
    Ok(Value::Str(a.str(0)?.to_uppercase()))
}

pub(super) fn trim(a: &mut Args<'_>) -> Result<Value> {
    Ok(Value::str(a.str(0)?.trim()))
}

pub(super) fn trim_prefix(a: &mut Args<'_>) -> Result<Value> {
    let text = a.str(0)?;
    let prefix = a.str(1)?;
    Ok(Value::str(text.strip_prefix(prefix).unwrap_or(text)))
}

pub(super) fn trim_suffix(a: &mut Args<'_>) -> Result<Value> {
    let text = a.str(0)?;
    let suffix = a.str(1)?;
    Ok(Value::str(text.strip_suffix(suffix).unwrap_or(text)))
}

pub(super) fn starts_with(a: &mut Args<'_>) -> Result<Value> {
    Ok(Value::Bool(a.str(0)?.starts_with(a.str(1)?)))
}

pub(super) fn ends_with(a: &mut Args<'_>) -> Result<Value> {
    Ok(Value::Bool(a.str(0)?.ends_with(a.str(1)?)))
}

pub(super) fn replace(a: &mut Args<'_>) -> Result<Value> {
    let text = a.str(0)?;
    let from = a.str(1)?;
    let to = a.str(2)?;
    if from.is_empty() {
        return Err(a.error(1, "the text to replace (argument 2) must not be empty"));
    }
    if to.len() > from.len() {
        let count = text.matches(from).count();
        let size = count
            .checked_mul(to.len() - from.len())
            .and_then(|growth| growth.checked_add(text.len()));
        a.check_size(2, size, text.len())?;
    }
    Ok(Value::Str(text.replace(from, to)))
}

pub(super) fn substr(a: &mut Args<'_>) -> Result<Value> {
    let text = a.str(0)?;
    let start = a.count(1, "the start")?;
    let len = a.count(2, "the length")?;
    Ok(Value::Str(text.chars().skip(start).take(len).collect()))
}

pub(super) fn format(a: &mut Args<'_>) -> Result<Value> {
    let fmt = a.str(0)?;
    let mut out = String::with_capacity(fmt.len());
    let mut next = 1;
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = match chars.next() {
            Some('%') => {
                out.push('%');
                continue;
            }
            Some(verb @ ('s' | 'd')) => verb,
            Some(other) => {
                return Err(a.error(
                    0,
                    format!("unknown placeholder `%{other}`: use %s, %d or %% for a literal %"),
                ))
            }
            None => {
                return Err(a.error(
                    0,
                    "the format ends with a lone `%` (write %% for a literal %)",
                ))
            }
        };
        if next >= a.len() {
            return Err(a.error(
                0,
                format!(
                    "the format has more placeholders than the {} argument(s) given",
                    a.len() - 1
                ),
            ));
        }
        let value = a.readable(next)?;
        match (verb, value) {
            ('d', Value::Int(i)) => out.push_str(&i.to_string()),
            ('d', _) => return Err(a.type_error(next, "an int for %d")),
            (_, value) => match scalar_text(value) {
                Some(Ok(text)) => out.push_str(&text),
                Some(Err(message)) => return Err(a.error(next, message)),
                None => return Err(a.type_error(next, "a string, number or bool for %s")),
            },
        }
        next += 1;
    }
    if next < a.len() {
        return Err(a.error(
            next,
            format!(
                "the format has {} placeholder(s) but {} argument(s) were given",
                next - 1,
                a.len() - 1
            ),
        ));
    }
    Ok(Value::Str(out))
}

pub(super) fn indent(a: &mut Args<'_>) -> Result<Value> {
    let spaces = a.count(0, "the number of spaces")?;
    let text = a.str(1)?;
    let indented = text
        .split('\n')
        .skip(1)
        .filter(|line| !line.is_empty())
        .count();
    let size = indented
        .checked_mul(spaces)
        .and_then(|growth| growth.checked_add(text.len()));
    a.check_size(0, size, text.len())?;
    // Only built when some line gets it: the size check bounds `spaces` only then.
    let pad = if indented == 0 {
        String::new()
    } else {
        " ".repeat(spaces)
    };
    let mut out = String::with_capacity(size.unwrap_or(0));
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&pad);
            }
        }
        out.push_str(line);
    }
    Ok(Value::Str(out))
}

pub(super) fn repeat(a: &mut Args<'_>) -> Result<Value> {
    let text = a.str(0)?;
    let count = a.count(1, "the count")?;
    a.check_size(1, text.len().checked_mul(count), text.len())?;
    Ok(Value::Str(text.repeat(count)))
}

fn regex(a: &Args<'_>, index: usize) -> Result<Regex> {
    let pattern = a.str(index)?;
    Regex::new(pattern).map_err(|e| a.error(index, format!("invalid regular expression: {e}")))
}

pub(super) fn regex_match(a: &mut Args<'_>) -> Result<Value> {
    let text = a.str(0)?;
    let re = regex(a, 1)?;
    Ok(Value::Bool(re.is_match(text)))
}

pub(super) fn regex_replace(a: &mut Args<'_>) -> Result<Value> {
    let text = a.str(0)?;
    let re = regex(a, 1)?;
    let replacement = a.str(2)?;
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for caps in re.captures_iter(text) {
        let Some(whole) = caps.get(0) else { continue };
        out.push_str(text.get(last..whole.start()).unwrap_or_default());
        caps.expand(replacement, &mut out);
        last = whole.end();
        a.check_size(2, Some(out.len()), text.len())?;
    }
    out.push_str(text.get(last..).unwrap_or_default());
    Ok(Value::Str(out))
}

pub(super) fn to_string(a: &mut Args<'_>) -> Result<Value> {
    let value = a.readable(0)?;
    match scalar_text(value) {
        Some(text) => Ok(Value::Str(text.map_err(|message| a.error(0, message))?)),
        None => Err(a.type_error(0, "a string, number or bool (use to_json for others)")),
    }
}

/// The text of a string, number or bool; `None` for other types, an error for a float
/// that is not finite.
fn scalar_text(value: &Value) -> Option<std::result::Result<String, String>> {
    Some(Ok(match value {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => return Some(float_text(*f)),
        _ => return None,
    }))
}

/// A float as text: the shortest decimal form that reads back the same, always with a `.`
/// so it stays recognisable as a float (`2.0`, `0.1`, `-3.5`).
pub(super) fn float_text(f: f64) -> std::result::Result<String, String> {
    if !f.is_finite() {
        return Err(format!("{f} is not a finite number"));
    }
    let text = f.to_string();
    if text.contains('.') {
        Ok(text)
    } else {
        Ok(format!("{text}.0"))
    }
}
