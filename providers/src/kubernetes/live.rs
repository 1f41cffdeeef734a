//! Live objects → what obp records: the projection of a live object onto the fields obp set
//! (so that defaults and fields other managers own are not drift), and the object an import
//! adopts (the fields some manager set, without status and server-managed metadata).

use serde_json::{Map, Value as Json};

/// The live values at the paths present in `desired`.
///
/// Maps are projected key by key (keys the server or other managers added are left out; keys
/// obp set that are gone are left out too, so they show as removed). Lists of the same
/// length are projected item by item, so that server defaults inside list items (such as a
/// container's `terminationMessagePath`) are not drift; other lists are taken as they are.
/// A zero value obp set that the server dropped counts as unchanged: Go's `omitempty` drops
/// `null`, `""`, `0`, `false` and empty maps and lists when the server stores the object
/// (an env var written `value: ""` comes back without `value`).
pub fn project(desired: &Json, live: &Json) -> Json {
    project_under(desired, live, "")
}

/// Maps whose values are resource quantities (a container's `requests` and `limits`, a
/// quota's `hard`, a LimitRange's `max` …): the server stores those in canonical form
/// (`9000m` becomes `9`, `14336Mi` becomes `14Gi`), which is not drift.
const QUANTITY_MAPS: &[&str] = &[
    "requests",
    "limits",
    "hard",
    "max",
    "min",
    "default",
    "defaultRequest",
    "maxLimitRequestRatio",
    "overhead",
    "capacity",
];

/// [`project`] of a value found under map key `key`.
fn project_under(desired: &Json, live: &Json, key: &str) -> Json {
    match (desired, live) {
        (Json::Object(want), Json::Object(have)) => {
            let quantities = QUANTITY_MAPS.contains(&key);
            let mut out = Map::new();
            for (name, wanted) in want {
                match have.get(name) {
                    Some(Json::String(value))
                        if (quantities || name == "sizeLimit") && same_quantity(wanted, value) =>
                    {
                        out.insert(name.clone(), wanted.clone());
                    }
                    Some(value) => {
                        out.insert(name.clone(), project_under(wanted, value, name));
                    }
                    None if is_empty(wanted) => {
                        out.insert(name.clone(), wanted.clone());
                    }
                    None => {}
                }
            }
            Json::Object(out)
        }
        (Json::Array(want), Json::Array(have)) if want.len() == have.len() => Json::Array(
            want.iter()
                .zip(have)
                .map(|(w, h)| project_under(w, h, key))
                .collect(),
        ),
        (_, live) => live.clone(),
    }
}

/// Whether the quantity obp wrote and the one the server holds are the same amount.
fn same_quantity(wanted: &Json, live: &str) -> bool {
    let Some(wanted) = wanted.as_str() else {
        return false;
    };
    match (
        crate::api_rules::quantity(wanted),
        crate::api_rules::quantity(live),
    ) {
        // The server's canonical form is exact; the margin only absorbs f64 rounding.
        (Ok(a), Ok(b)) => (a - b).abs() <= 1e-12 * a.abs().max(b.abs()),
        _ => false,
    }
}

fn is_empty(value: &Json) -> bool {
    match value {
        Json::Null => true,
        Json::String(text) => text.is_empty(),
        Json::Number(n) => n.as_f64() == Some(0.0),
        Json::Bool(b) => !b,
        Json::Object(map) => map.is_empty(),
        Json::Array(items) => items.is_empty(),
    }
}

/// The parts of a live object that some field manager set, read from its `managedFields`
/// (FieldsV1, every manager together): what people and tools configured, without the
/// defaults the server filled in, which nobody owns. Identity fields are always kept. `None`
/// when the object records no managed fields (then there is nothing to tell defaults by).
pub fn owned(live: &Json) -> Option<Json> {
    let mut union = Map::new();
    for entry in live["metadata"]["managedFields"].as_array()? {
        if let Some(Json::Object(fields)) = entry.get("fieldsV1") {
            merge(&mut union, fields);
        }
    }
    if union.is_empty() {
        return None;
    }
    let mut out = select(live, &union);
    for key in ["apiVersion", "kind"] {
        if let Some(value) = live.get(key) {
            out[key] = value.clone();
        }
    }
    for key in ["name", "namespace"] {
        if let Some(value) = live["metadata"].get(key) {
            out["metadata"][key] = value.clone();
        }
    }
    Some(out)
}

/// Adds the field set `from` to `into` (both FieldsV1 maps).
fn merge(into: &mut Map<String, Json>, from: &Map<String, Json>) {
    for (key, sub) in from {
        let slot = into
            .entry(key.clone())
            .or_insert_with(|| Json::Object(Map::new()));
        if let (Json::Object(slot), Json::Object(sub)) = (slot, sub) {
            merge(slot, sub);
        }
    }
}

/// The parts of `live` the FieldsV1 set `fields` names: `f:NAME` a map key, `k:{…}` the list
/// item with those key fields, `v:…` the set item with that value, `i:N` the Nth item, `.` the
/// value's own presence. An empty set owns the whole value.
fn select(live: &Json, fields: &Map<String, Json>) -> Json {
    if fields.is_empty() {
        return live.clone();
    }
    let sub = |value: &Json| match value {
        Json::Object(map) => map.clone(),
        _ => Map::new(),
    };
    match live {
        Json::Object(map) => Json::Object(
            fields
                .iter()
                .filter_map(|(key, nested)| {
                    let name = key.strip_prefix("f:")?;
                    Some((name.to_owned(), select(map.get(name)?, &sub(nested))))
                })
                .collect(),
        ),
        Json::Array(items) => Json::Array(
            items
                .iter()
                .enumerate()
                .filter_map(|(index, item)| {
                    fields.iter().find_map(|(key, nested)| {
                        let matches = if let Some(keys) = key.strip_prefix("k:") {
                            match serde_json::from_str::<Json>(keys) {
                                Ok(Json::Object(keys)) => {
                                    keys.iter().all(|(k, v)| item.get(k) == Some(v))
                                }
                                _ => false,
                            }
                        } else if let Some(value) = key.strip_prefix("v:") {
                            serde_json::from_str::<Json>(value).is_ok_and(|v| v == *item)
                        } else if let Some(at) = key.strip_prefix("i:") {
                            at.parse::<usize>() == Ok(index)
                        } else {
                            false
                        };
                        matches.then(|| select(item, &sub(nested)))
                    })
                })
                .collect(),
        ),
        other => other.clone(),
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
    fn zero_values_the_server_omits_are_not_drift() {
        let desired = json!({"env": [{"name": "BUCKET", "value": ""}], "readOnly": false, "port": 0, "image": "x"});
        let stored = json!({"env": [{"name": "BUCKET"}]});
        // The zero values read back as written; `image`, which is not one, is gone.
        let quota = json!({"spec": {"hard": {"limits.cpu": "9000m", "requests.memory": "7168Mi", "pods": "20"}}});
        let canonical =
            json!({"spec": {"hard": {"limits.cpu": "9", "requests.memory": "7Gi", "pods": "21"}}});
        assert_eq!(
            project(&quota, &canonical),
            json!({"spec": {"hard": {"limits.cpu": "9000m", "requests.memory": "7168Mi", "pods": "21"}}}),
            "a canonical quantity is the same amount; another amount is drift"
        );
        assert_eq!(
            project(&desired, &stored),
            json!({"env": [{"name": "BUCKET", "value": ""}], "readOnly": false, "port": 0})
        );
    }

    #[test]
    fn owned_fields_leave_out_server_defaults() {
        // As a real API server returns a Deployment made by `kubectl create` (abridged).
        let live = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "t", "uid": "u", "labels": {"app": "web"},
                "managedFields": [
                    {"manager": "kubectl-create", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {
                        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                        "f:spec": {"f:selector": {}, "f:template": {"f:spec": {"f:containers": {
                            "k:{\"name\":\"odoo\"}": {".": {}, "f:name": {}, "f:image": {}, "f:ports": {"k:{\"containerPort\":8069,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}
                        }, "f:tolerations": {}}}}
                    }},
                    {"manager": "kubectl-scale", "operation": "Update", "fieldsType": "FieldsV1", "subresource": "scale", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
                    {"manager": "kube-controller-manager", "operation": "Update", "fieldsType": "FieldsV1", "subresource": "status", "fieldsV1": {"f:status": {"f:replicas": {}}}}
                ]},
            "spec": {
                "replicas": 3, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
                "template": {"spec": {
                    "containers": [{"name": "odoo", "image": "odoo:18", "imagePullPolicy": "IfNotPresent",
                        "ports": [{"containerPort": 8069, "protocol": "TCP"}]}],
                    "dnsPolicy": "ClusterFirst", "tolerations": [{"key": "a", "operator": "Exists"}]
                }}
            },
            "status": {"replicas": 3},
        });
        assert_eq!(
            clean(&owned(&live).unwrap()),
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "t", "labels": {"app": "web"}},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"spec": {
                        "containers": [{"name": "odoo", "image": "odoo:18", "ports": [{"containerPort": 8069}]}],
                        "tolerations": [{"key": "a", "operator": "Exists"}]
                    }}
                },
            })
        );
        let unmanaged = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(owned(&unmanaged), None);
    }

    #[test]
    fn owned_set_and_indexed_items() {
        let live = json!({
            "metadata": {"name": "n", "managedFields": [{"fieldsV1": {"f:spec": {"f:finalizers": {"v:\"a\"": {}}, "f:list": {"i:1": {}}}}}]},
            "spec": {"finalizers": ["a", "b"], "list": [1, 2, 3]},
        });
        assert_eq!(
            owned(&live).unwrap(),
            json!({"metadata": {"name": "n"}, "spec": {"finalizers": ["a"], "list": [2]}})
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
