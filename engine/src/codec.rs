//! Lossless JSON encoding of configuration values for state and saved plans.
//!
//! Plain data maps to plain JSON. Markers use single-key objects: `{"$secret": "path"}`,
//! `{"$unknown": {"address": …, "path": […]}}` and `{"$template": [parts]}`, where a part is a
//! string or a marker. Secret *values* never exist here: only references.

use obp_lang::value::{Deferred, SecretRef, TemplatePart, Value};
use serde_json::{json, Map, Value as Json};

/// Encodes named values (a resource's or a provider's attributes, `--var` values) as the
/// attribute map providers, state and saved plans hold.
pub fn to_json_map<'a>(
    entries: impl IntoIterator<Item = (&'a String, &'a Value)>,
) -> std::collections::BTreeMap<String, Json> {
    entries
        .into_iter()
        .map(|(k, v)| (k.clone(), to_json(v)))
        .collect()
}

/// Encodes a value; lambdas (which cannot reach a configuration) become `null`.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Null | Value::Func(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Str(s) => Json::String(s.clone()),
        Value::List(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Record(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
        ),
        Value::Secret(secret) => json!({ "$secret": secret.path }),
        Value::Unknown(deferred) => match deferred.as_ref() {
            Deferred::Attr { address, path } => {
                json!({ "$unknown": { "address": address, "path": path } })
            }
            Deferred::Template(parts) => {
                let parts: Vec<Json> = parts
                    .iter()
                    .map(|p| match p {
                        TemplatePart::Text(t) => Json::String(t.clone()),
                        TemplatePart::Value(v) => to_json(v),
                    })
                    .collect();
                json!({ "$template": parts })
            }
        },
    }
}

/// Decodes what [`to_json`] wrote.
pub fn from_json(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0))),
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => Value::list(items.iter().map(from_json).collect()),
        Json::Object(map) => marker(map).unwrap_or_else(|| {
            Value::record(map.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }),
    }
}

fn marker(map: &Map<String, Json>) -> Option<Value> {
    if map.len() != 1 {
        return None;
    }
    let (key, inner) = map.iter().next()?;
    match key.as_str() {
        "$secret" => Some(Value::Secret(SecretRef {
            path: inner.as_str()?.to_owned(),
        })),
        "$unknown" => {
            let address = inner.get("address")?.as_str()?.to_owned();
            let path = inner
                .get("path")?
                .as_array()?
                .iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect();
            Some(Value::Unknown(Box::new(Deferred::Attr { address, path })))
        }
        "$template" => {
            let parts = inner
                .as_array()?
                .iter()
                .map(|p| match p {
                    Json::String(s) => TemplatePart::Text(s.clone()),
                    other => TemplatePart::Value(from_json(other)),
                })
                .collect();
            Some(Value::Unknown(Box::new(Deferred::Template(parts))))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        let value = Value::record(
            [
                (
                    "a".to_owned(),
                    Value::Secret(SecretRef { path: "p".into() }),
                ),
                (
                    "b".to_owned(),
                    Value::Unknown(Box::new(Deferred::Template(vec![
                        TemplatePart::Text("x-".into()),
                        TemplatePart::Value(Value::Unknown(Box::new(Deferred::Attr {
                            address: "k8s.x.y".into(),
                            path: vec!["id".into()],
                        }))),
                    ]))),
                ),
                (
                    "c".to_owned(),
                    Value::list(vec![Value::Int(1), Value::Float(1.5)]),
                ),
            ]
            .into_iter()
            .collect(),
        );
        assert!(from_json(&to_json(&value)).equals(&value));
    }
}
