//! Runtime values: what expressions evaluate to and what the evaluated configuration holds.
//!
//! Besides plain data there are two markers the engine must respect: [`SecretRef`] (a
//! reference to a secret, never its value) and [`Deferred`] (a value only known after
//! apply, such as a computed attribute of a resource not yet created).

use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::ast::Expr;

/// An evaluated value.
///
/// Lists and records are shared (`Arc`): evaluation hands the same value to many readers
/// (a tenant list read by every tenant's resources), and a clone must not copy it.
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Arc<Vec<Value>>),
    /// Records and maps share one representation; insertion order is kept.
    Record(Arc<IndexMap<String, Value>>),
    /// `secret("path")`: a reference, resolved only by a provider at apply time.
    Secret(SecretRef),
    /// Known only after apply.
    Unknown(Box<Deferred>),
    /// A function value (lambda); lives only during evaluation.
    Func(Arc<Lambda>),
}

/// A reference to a secret held elsewhere (`secret("tenants/acme/db")`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SecretRef {
    pub path: String,
}

/// How to compute a value once apply has made it known.
#[derive(Debug, Clone, PartialEq)]
pub enum Deferred {
    /// An attribute of a resource instance: `address` plus the path inside it.
    Attr { address: String, path: Vec<String> },
    /// A string built from text and deferred or secret parts.
    Template(Vec<TemplatePart>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    Text(String),
    /// A [`Value::Unknown`] or [`Value::Secret`].
    Value(Value),
}

/// A lambda with the local bindings it captured.
#[derive(Debug)]
pub struct Lambda {
    pub params: Vec<String>,
    pub body: Arc<Expr>,
    pub env: Env,
    /// The module instance whose names the body sees.
    pub instance: usize,
}

/// Local bindings (lambda parameters, `each`), innermost first.
#[derive(Debug, Clone, Default)]
pub struct Env(Option<Arc<Binding>>);

#[derive(Debug)]
struct Binding {
    name: String,
    value: Value,
    parent: Env,
}

impl Env {
    pub fn empty() -> Env {
        Env(None)
    }

    pub fn bind(&self, name: impl Into<String>, value: Value) -> Env {
        Env(Some(Arc::new(Binding {
            name: name.into(),
            value,
            parent: self.clone(),
        })))
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        let mut current = self.0.as_ref();
        while let Some(binding) = current {
            if binding.name == name {
                return Some(&binding.value);
            }
            current = binding.parent.0.as_ref();
        }
        None
    }

    /// Names bound, innermost first (for suggestions).
    pub fn names(&self) -> Vec<&str> {
        let mut names = Vec::new();
        let mut current = self.0.as_ref();
        while let Some(binding) = current {
            names.push(binding.name.as_str());
            current = binding.parent.0.as_ref();
        }
        names
    }
}

impl Value {
    pub fn str(text: impl Into<String>) -> Value {
        Value::Str(text.into())
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items))
    }

    pub fn record(fields: IndexMap<String, Value>) -> Value {
        Value::Record(Arc::new(fields))
    }

    /// The name of this value's type as users write it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Record(_) => "record",
            Value::Secret(_) => "Secret",
            Value::Unknown(_) => "unknown (known after apply)",
            Value::Func(_) => "function",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Whether an unknown value appears anywhere inside.
    pub fn contains_unknown(&self) -> bool {
        match self {
            Value::Unknown(_) => true,
            Value::List(items) => items.iter().any(Value::contains_unknown),
            Value::Record(fields) => fields.values().any(Value::contains_unknown),
            _ => false,
        }
    }

    /// Whether a secret reference appears anywhere inside.
    pub fn contains_secret(&self) -> bool {
        match self {
            Value::Secret(_) => true,
            Value::Unknown(deferred) => match deferred.as_ref() {
                Deferred::Template(parts) => parts.iter().any(|p| match p {
                    TemplatePart::Value(v) => v.contains_secret(),
                    TemplatePart::Text(_) => false,
                }),
                Deferred::Attr { .. } => false,
            },
            Value::List(items) => items.iter().any(Value::contains_secret),
            Value::Record(fields) => fields.values().any(Value::contains_secret),
            _ => false,
        }
    }

    /// Whether a function value appears anywhere inside.
    pub fn contains_func(&self) -> bool {
        match self {
            Value::Func(_) => true,
            Value::List(items) => items.iter().any(Value::contains_func),
            Value::Record(fields) => fields.values().any(Value::contains_func),
            _ => false,
        }
    }

    /// Structural equality; ints and floats compare by value, functions never equal.
    pub fn equals(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Int(a), Value::Float(b)) | (Value::Float(b), Value::Int(a)) => {
                (*a as f64) == *b
            }
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.equals(y))
            }
            (Value::Record(a), Value::Record(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v.equals(w)))
            }
            (Value::Secret(a), Value::Secret(b)) => a == b,
            (Value::Unknown(a), Value::Unknown(b)) => a == b,
            _ => false,
        }
    }

    /// Plain JSON for values without markers; `None` if a secret, unknown or function is inside.
    pub fn to_plain_json(&self) -> Option<serde_json::Value> {
        Some(match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::List(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(Value::to_plain_json)
                    .collect::<Option<Vec<_>>>()?,
            ),
            Value::Record(fields) => {
                let mut map = serde_json::Map::new();
                for (k, v) in fields.iter() {
                    map.insert(k.clone(), v.to_plain_json()?);
                }
                serde_json::Value::Object(map)
            }
            Value::Secret(_) | Value::Unknown(_) | Value::Func(_) => return None,
        })
    }

    /// Converts plain JSON into a value.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(Value::Int)
                .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0))),
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(items) => {
                Value::list(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(map) => Value::record(
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.equals(other)
    }
}

impl fmt::Display for Deferred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Deferred::Attr { address, path } => {
                write!(f, "{address}")?;
                for step in path {
                    write!(f, ".{step}")?;
                }
                Ok(())
            }
            Deferred::Template(parts) => {
                for part in parts {
                    match part {
                        TemplatePart::Text(text) => write!(f, "{text}")?,
                        TemplatePart::Value(Value::Secret(s)) => {
                            write!(f, "${{secret({:?})}}", s.path)?
                        }
                        TemplatePart::Value(Value::Unknown(d)) => write!(f, "${{{d}}}")?,
                        TemplatePart::Value(_) => write!(f, "${{?}}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// Marker-aware JSON: secrets as `{"$secret": path}`, deferred values as
/// `{"$unknown": "address.attr"}` or `{"$template": "text ${…}"}`.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::Float(x) => serializer.serialize_f64(*x),
            Value::Str(s) => serializer.serialize_str(s),
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items.iter() {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Record(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (k, v) in fields.iter() {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Value::Secret(secret) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("$secret", &secret.path)?;
                map.end()
            }
            Value::Unknown(deferred) => {
                let mut map = serializer.serialize_map(Some(1))?;
                match deferred.as_ref() {
                    Deferred::Attr { .. } => {
                        map.serialize_entry("$unknown", &deferred.to_string())?
                    }
                    Deferred::Template(_) => {
                        map.serialize_entry("$template", &deferred.to_string())?
                    }
                }
                map.end()
            }
            Value::Func(_) => serializer.serialize_str("<function>"),
        }
    }
}

/// Parses a `--var name=value` value: JSON when it parses as JSON (numbers, booleans, lists,
/// records, quoted strings), otherwise the text as a string.
pub fn parse_var(text: &str) -> Value {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(json) => Value::from_json(&json),
        Err(_) => Value::Str(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_serialise_without_values() {
        let value = Value::record(IndexMap::from([
            (
                "password".to_owned(),
                Value::Secret(SecretRef { path: "db".into() }),
            ),
            (
                "id".to_owned(),
                Value::Unknown(Box::new(Deferred::Attr {
                    address: "postgres.role.owner".into(),
                    path: vec!["oid".into()],
                })),
            ),
        ]));
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            r#"{"password":{"$secret":"db"},"id":{"$unknown":"postgres.role.owner.oid"}}"#
        );
        assert!(value.contains_secret() && value.contains_unknown());
        assert!(value.to_plain_json().is_none());
    }

    #[test]
    fn numbers_compare_across_int_and_float() {
        assert!(Value::Int(2).equals(&Value::Float(2.0)));
        assert!(!Value::Int(2).equals(&Value::str("2")));
    }
}
