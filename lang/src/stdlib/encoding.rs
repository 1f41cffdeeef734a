//! Encoding functions: JSON and YAML text, base64, SHA-256 digests and image digest checks.
//! Whatever they turn into text must hold no secret and no unknown anywhere inside.

use std::sync::LazyLock;

use base64::Engine as _;
use regex::Regex;
use sha2::{Digest as _, Sha256};

use super::{check_plain, Args, FnError};
use crate::value::Value;

type Result<T> = std::result::Result<T, FnError>;

pub(super) fn is_digest(a: &mut Args<'_>) -> Result<Value> {
    let image = a.str(0)?;
    let pinned = image.split_once('@').is_some_and(|(name, digest)| {
        !name.is_empty()
            && !name.contains(char::is_whitespace)
            && digest.strip_prefix("sha256:").is_some_and(|hex| {
                hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            })
    });
    Ok(Value::Bool(pinned))
}

/// A string argument that is about to be encoded or hashed.
fn plain_str<'v>(a: &'v Args<'_>, index: usize) -> Result<&'v str> {
    check_plain(index, a.raw(index))?;
    a.str(index)
}

pub(super) fn sha256(a: &mut Args<'_>) -> Result<Value> {
    let text = plain_str(a, 0)?;
    let digest = Sha256::digest(text.as_bytes());
    let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Value::Str(hex))
}

pub(super) fn base64_encode(a: &mut Args<'_>) -> Result<Value> {
    let text = plain_str(a, 0)?;
    Ok(Value::Str(
        base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
    ))
}

pub(super) fn base64_decode(a: &mut Args<'_>) -> Result<Value> {
    let encoded = a.str(0)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.as_bytes())
        .map_err(|e| a.error(0, format!("invalid base64: {e}")))?;
    String::from_utf8(bytes)
        .map(Value::Str)
        .map_err(|_| a.error(0, "the decoded bytes are not UTF-8 text"))
}

/// The JSON form of an argument that is about to be turned into text.
fn plain_json(a: &Args<'_>, index: usize) -> Result<serde_json::Value> {
    let value = a.raw(index);
    check_plain(index, value)?;
    if let Some(f) = non_finite(value) {
        return Err(a.error(index, format!("{f} is not a finite number")));
    }
    value
        .to_plain_json()
        .ok_or_else(|| a.error(index, "a function cannot be turned into text"))
}

/// The first float inside that is not finite (JSON and YAML have no form for it).
fn non_finite(value: &Value) -> Option<f64> {
    match value {
        Value::Float(f) if !f.is_finite() => Some(*f),
        Value::List(items) => items.iter().find_map(non_finite),
        Value::Record(fields) => fields.values().find_map(non_finite),
        _ => None,
    }
}

pub(super) fn to_json(a: &mut Args<'_>) -> Result<Value> {
    let json = plain_json(a, 0)?;
    serde_json::to_string(&json)
        .map(Value::Str)
        .map_err(|e| a.error(0, format!("cannot write JSON: {e}")))
}

pub(super) fn to_yaml(a: &mut Args<'_>) -> Result<Value> {
    let json = plain_json(a, 0)?;
    yaml_text(json)
        .map(Value::Str)
        .map_err(|e| a.error(0, format!("cannot write YAML: {e}")))
}

/// Plain scalars that serde_norway (YAML 1.2) writes unquoted but a YAML 1.1 reader
/// (PyYAML, the go-yaml v2 behind Kubernetes) reads as something other than a string:
/// yes/no/on/off/y/n, `=`, `<<`, and numbers in underscore, sexagesimal, binary or hex form.
/// Ordinary numbers are included too; serde_norway quotes those already.
static YAML11_AMBIGUOUS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:[yYnN]|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|=|<<",
        r"|[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        r"|[0-9][0-9_]*(?::[0-5]?[0-9])*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?",
        r"|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?))$",
    ))
    .expect("the YAML 1.1 pattern is valid")
});

/// Block YAML through serde_norway, with the strings in [`YAML11_AMBIGUOUS`] single-quoted
/// so YAML 1.1 and 1.2 readers both read them back as strings. serde_norway cannot be told
/// to quote a string, so each such string goes through it as a unique placeholder (a prefix
/// no input string contains, an index and a `.`) that is then replaced by the quoted text.
pub(super) fn yaml_text(
    json: serde_json::Value,
) -> std::result::Result<String, serde_norway::Error> {
    let mut prefix = String::from("obp-yaml-quoted-");
    while mentions(&json, &prefix) {
        prefix.push('x');
    }
    let mut quoted = Vec::new();
    let json = mark_ambiguous(json, &prefix, &mut quoted);
    let text = serde_norway::to_string(&json)?;
    if quoted.is_empty() {
        return Ok(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(&prefix) {
        out.push_str(&rest[..at]);
        let after = &rest[at + prefix.len()..];
        let found = after.split_once('.').and_then(|(digits, tail)| {
            let original = quoted.get(digits.parse::<usize>().ok()?)?;
            Some((original, tail))
        });
        match found {
            Some((original, tail)) => {
                out.push('\'');
                out.push_str(original);
                out.push('\'');
                rest = tail;
            }
            None => {
                out.push_str(&prefix);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether any string or key inside contains `needle`.
fn mentions(json: &serde_json::Value, needle: &str) -> bool {
    match json {
        serde_json::Value::String(s) => s.contains(needle),
        serde_json::Value::Array(items) => items.iter().any(|item| mentions(item, needle)),
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.contains(needle) || mentions(v, needle)),
        _ => false,
    }
}

/// Replaces every ambiguous string and key by `{prefix}{index}.`, collecting the originals.
fn mark_ambiguous(
    json: serde_json::Value,
    prefix: &str,
    quoted: &mut Vec<String>,
) -> serde_json::Value {
    let mark = |s: String, quoted: &mut Vec<String>| {
        if YAML11_AMBIGUOUS.is_match(&s) {
            quoted.push(s);
            format!("{prefix}{}.", quoted.len() - 1)
        } else {
            s
        }
    };
    match json {
        serde_json::Value::String(s) => serde_json::Value::String(mark(s, quoted)),
        serde_json::Value::Array(items) => serde_json::Value::Array(
            items
                .into_iter()
                .map(|item| mark_ambiguous(item, prefix, quoted))
                .collect(),
        ),
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .map(|(k, v)| (mark(k, quoted), mark_ambiguous(v, prefix, quoted)))
                .collect(),
        ),
        other => other,
    }
}

pub(super) fn from_json(a: &mut Args<'_>) -> Result<Value> {
    let text = a.str(0)?;
    serde_json::from_str::<serde_json::Value>(text)
        .map(|json| Value::from_json(&json))
        .map_err(|e| a.error(0, format!("invalid JSON: {e}")))
}
