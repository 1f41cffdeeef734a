//! Resolves values known only after apply (`{"$unknown": …}`, `{"$template": …}`) against
//! state: at plan time for resources that already exist and will keep their attributes, at
//! apply time once the resources they read have been applied.

use serde_json::{Map, Value as Json};

use crate::state::State;

/// What a reference may read at this point.
pub trait Lookup {
    /// The value at `path` of `address`, if it is known now.
    fn lookup(&self, address: &str, path: &[String]) -> Option<Json>;
}

impl Lookup for State {
    fn lookup(&self, address: &str, path: &[String]) -> Option<Json> {
        self.resources.get(address)?.lookup(path).cloned()
    }
}

/// Replaces every resolvable marker inside `value`; returns whether unknowns remain.
pub fn resolve(value: &mut Json, lookup: &dyn Lookup) -> bool {
    match value {
        Json::Array(items) => {
            let mut unknown = false;
            for item in items {
                unknown |= resolve(item, lookup);
            }
            unknown
        }
        Json::Object(map) => {
            if let Some(resolved) = resolve_marker(map, lookup) {
                *value = resolved;
                return is_unknown(value);
            }
            if is_marker(map, "$unknown") || is_marker(map, "$template") {
                return true;
            }
            let mut unknown = false;
            for item in map.values_mut() {
                unknown |= resolve(item, lookup);
            }
            unknown
        }
        _ => false,
    }
}

fn is_marker(map: &Map<String, Json>, key: &str) -> bool {
    map.len() == 1 && map.contains_key(key)
}

/// Whether a JSON value is (or contains) an unresolved marker.
pub fn is_unknown(value: &Json) -> bool {
    match value {
        Json::Array(items) => items.iter().any(is_unknown),
        Json::Object(map) => {
            is_marker(map, "$unknown")
                || (is_marker(map, "$template") && template_has_unknown(map))
                || map.values().any(is_unknown)
        }
        _ => false,
    }
}

fn template_has_unknown(map: &Map<String, Json>) -> bool {
    map.get("$template")
        .and_then(Json::as_array)
        .is_some_and(|parts| parts.iter().any(|p| p.is_object() && !is_secret(p)))
}

/// Whether a JSON value is a secret reference.
pub fn is_secret(value: &Json) -> bool {
    matches!(value, Json::Object(map) if is_marker(map, "$secret"))
}

/// Whether a JSON value is or contains a secret reference.
pub fn contains_secret(value: &Json) -> bool {
    match value {
        Json::Array(items) => items.iter().any(contains_secret),
        Json::Object(map) => is_secret(value) || map.values().any(contains_secret),
        _ => false,
    }
}

fn resolve_marker(map: &Map<String, Json>, lookup: &dyn Lookup) -> Option<Json> {
    if is_marker(map, "$unknown") {
        let inner = map.get("$unknown")?;
        let address = inner.get("address")?.as_str()?;
        let path: Vec<String> = inner
            .get("path")?
            .as_array()?
            .iter()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect();
        return lookup.lookup(address, &path);
    }
    if is_marker(map, "$template") {
        let parts = map.get("$template")?.as_array()?;
        let mut text = String::new();
        let mut out: Vec<Json> = Vec::new();
        for part in parts {
            let mut part = part.clone();
            if part.is_object() && !is_secret(&part) {
                resolve(&mut part, lookup);
            }
            match part {
                Json::String(s) => text.push_str(&s),
                Json::Number(n) => text.push_str(&n.to_string()),
                Json::Bool(b) => text.push_str(&b.to_string()),
                other => {
                    // Still a marker (secret or unknown): keep it as a template part.
                    if !text.is_empty() {
                        out.push(Json::String(std::mem::take(&mut text)));
                    }
                    out.push(other);
                }
            }
        }
        if out.is_empty() {
            return Some(Json::String(text));
        }
        if !text.is_empty() {
            out.push(Json::String(text));
        }
        let mut result = Map::new();
        result.insert("$template".to_owned(), Json::Array(out));
        return Some(Json::Object(result));
    }
    None
}

/// Renders a template whose secret parts are resolved by `secret`; `None` if a part is unknown.
pub fn render_template(
    parts: &[Json],
    secret: &mut dyn FnMut(&str) -> Option<String>,
) -> Option<String> {
    let mut text = String::new();
    for part in parts {
        match part {
            Json::String(s) => text.push_str(s),
            Json::Object(map) if is_marker(map, "$secret") => {
                text.push_str(&secret(map.get("$secret")?.as_str()?)?);
            }
            _ => return None,
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Fixed;
    impl Lookup for Fixed {
        fn lookup(&self, address: &str, path: &[String]) -> Option<Json> {
            (address == "a.b.c" && path == ["id"]).then(|| json!("42"))
        }
    }

    #[test]
    fn resolves_refs_and_templates_but_keeps_secrets() {
        let mut value = json!({
            "id": {"$unknown": {"address": "a.b.c", "path": ["id"]}},
            "url": {"$template": ["x-", {"$unknown": {"address": "a.b.c", "path": ["id"]}}, "-", {"$secret": "s"}]},
            "other": {"$unknown": {"address": "z.z.z", "path": ["id"]}},
        });
        assert!(resolve(&mut value, &Fixed));
        assert_eq!(value["id"], json!("42"));
        assert_eq!(
            value["url"],
            json!({"$template": ["x-42-", {"$secret": "s"}]})
        );
        assert!(is_unknown(&value["other"]));
        assert!(!is_unknown(&value["url"]));
    }
}
