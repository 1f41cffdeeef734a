//! Live objects → what obp records: the projection of a live object onto the fields obp set
//! (so that defaults and fields other managers own are not drift), and the cleaned object an
//! import adopts (without status and server-managed metadata).

use serde_json::{Map, Value as Json};

/// The live values at the paths present in `desired`.
///
/// Maps are projected key by key (keys the server or other managers added are left out; keys
/// obp set that are gone are left out too, so they show as removed). Lists of the same
/// length are projected item by item, so that server defaults inside list items (such as a
/// container's `terminationMessagePath`) are not drift; other lists are taken as they are.
/// A `null`, empty map or empty list obp set that the server dropped counts as unchanged.
pub fn project(desired: &Json, live: &Json) -> Json {
    match (desired, live) {
        (Json::Object(want), Json::Object(have)) => {
            let mut out = Map::new();
            for (key, wanted) in want {
                match have.get(key) {
                    Some(value) => {
                        out.insert(key.clone(), project(wanted, value));
                    }
                    None if is_empty(wanted) => {
                        out.insert(key.clone(), wanted.clone());
                    }
                    None => {}
                }
            }
            Json::Object(out)
        }
        (Json::Array(want), Json::Array(have)) if want.len() == have.len() => {
            Json::Array(want.iter().zip(have).map(|(w, h)| project(w, h)).collect())
        }
        (_, live) => live.clone(),
    }
}

fn is_empty(value: &Json) -> bool {
    match value {
        Json::Null => true,
        Json::Object(map) => map.is_empty(),
        Json::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// Metadata the server sets and obp never configures.
const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Annotations written by tools rather than by people.
const TOOL_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
];

/// Labels the API server sets by itself: every Namespace carries its own name.
const SERVER_LABELS: &[&str] = &["kubernetes.io/metadata.name"];

/// A live object as configuration: no `status`, no server-managed metadata, labels or
/// Namespace finalizer.
pub fn clean(live: &Json) -> Json {
    let mut object = live.clone();
    let Some(map) = object.as_object_mut() else {
        return object;
    };
    map.remove("status");
    // The server gives every Namespace the `kubernetes` finalizer; nobody configures it.
    if map.get("kind").and_then(Json::as_str) == Some("Namespace")
        && map.get("spec") == Some(&serde_json::json!({"finalizers": ["kubernetes"]}))
    {
        map.remove("spec");
    }
    if let Some(metadata) = map.get_mut("metadata").and_then(Json::as_object_mut) {
        for field in SERVER_METADATA {
            metadata.remove(*field);
        }
        remove_keys(metadata, "annotations", TOOL_ANNOTATIONS);
        remove_keys(metadata, "labels", SERVER_LABELS);
    }
    object
}

/// Removes `keys` from the map `metadata[field]`, and the map itself if nothing is left.
fn remove_keys(metadata: &mut Map<String, Json>, field: &str, keys: &[&str]) {
    let Some(map) = metadata.get_mut(field).and_then(Json::as_object_mut) else {
        return;
    };
    for key in keys {
        map.remove(*key);
    }
    if map.is_empty() {
        metadata.remove(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projection_keeps_only_what_obp_set() {
        let desired = json!({
            "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "odoo", "image": "odoo:18"}]}}},
            "data": null,
        });
        let live = json!({
            "metadata": {"name": "web", "uid": "u", "labels": {"app": "web", "added": "x"}},
            "spec": {"replicas": 3, "strategy": {}, "template": {"spec": {"containers": [{"name": "odoo", "image": "odoo:18", "terminationMessagePath": "/dev/termination-log"}]}}},
            "status": {"readyReplicas": 3},
        });
        assert_eq!(
            project(&desired, &live),
            json!({
                "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {}},
                "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "odoo", "image": "odoo:18"}]}}},
                "data": null,
            })
        );
        let removed = json!({"metadata": {"name": "web"}});
        assert_eq!(
            project(&desired, &removed),
            json!({"metadata": {"name": "web", "annotations": {}}, "data": null})
        );
        let more_items =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}});
        assert_eq!(
            project(&desired, &more_items)["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a"}, {"name": "b"}])
        );
    }

    #[test]
    fn cleaning_drops_server_fields() {
        let live = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "t", "uid": "u", "resourceVersion": "7", "managedFields": [],
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}, "labels": {"a": "b"}},
            "data": {"k": "v"},
            "status": {},
        });
        assert_eq!(
            clean(&live),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "t", "labels": {"a": "b"}}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn cleaning_drops_what_the_server_gives_every_namespace() {
        // As a real API server returns a Namespace created with nothing but its name.
        let live = json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "acme", "uid": "u", "labels": {"kubernetes.io/metadata.name": "acme"}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        assert_eq!(
            clean(&live),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "acme"}})
        );
        let labelled = json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "acme", "labels": {"kubernetes.io/metadata.name": "acme", "team": "ops"}},
            "spec": {"finalizers": ["kubernetes", "example.com/keep"]},
        });
        assert_eq!(
            clean(&labelled),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "acme", "labels": {"team": "ops"}}, "spec": {"finalizers": ["kubernetes", "example.com/keep"]}})
        );
    }
}
