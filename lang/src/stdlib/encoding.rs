//! Encoding functions: JSON and YAML text, base64, SHA-256 digests and image digest checks.
//! Whatever they turn into text must hold no secret and no unknown anywhere inside.

use base64::Engine as _;
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

/// Block YAML, YAML 1.1 ambiguous strings quoted (see [`super::yaml`]).
pub(super) fn yaml_text(json: serde_json::Value) -> std::result::Result<String, String> {
    super::yaml::block_yaml(&json, false)
}

pub(super) fn from_json(a: &mut Args<'_>) -> Result<Value> {
    let text = a.str(0)?;
    serde_json::from_str::<serde_json::Value>(text)
        .map(|json| Value::from_json(&json))
        .map_err(|e| a.error(0, format!("invalid JSON: {e}")))
}
