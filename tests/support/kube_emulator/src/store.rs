//! The emulator's object store: objects by (group, resource, namespace, name), a global
//! `resourceVersion` counter, `generation`, field ownership per field manager
//! (`metadata.managedFields`) with server-side apply conflicts, merge patches, replaces with
//! optimistic concurrency, and the status rules that stand in for controllers.
//!
//! Field ownership is tracked per leaf path; lists are atomic (one owner for the whole list,
//! unlike a real server's merge keys such as `containers[name=…]`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value as Json};

use crate::resources::{self, ResourceType};

/// A path of object keys from the root, such as `["spec", "replicas"]`.
pub type FieldPath = Vec<String>;

/// Identifies one stored object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub group: String,
    pub plural: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(rt: &ResourceType, namespace: &str, name: &str) -> Key {
        Key {
            group: rt.group.to_owned(),
            plural: rt.plural.to_owned(),
            namespace: if rt.namespaced {
                namespace.to_owned()
            } else {
                String::new()
            },
            name: name.to_owned(),
        }
    }

    fn resource(&self) -> &'static ResourceType {
        resources::RESOURCES
            .iter()
            .find(|r| r.group == self.group && r.plural == self.plural)
            .expect("keys are made from served resources")
    }
}

/// One field manager's ownership, as in `metadata.managedFields`.
#[derive(Debug, Clone, PartialEq)]
struct Managed {
    manager: String,
    /// `Apply` or `Update`.
    operation: &'static str,
    api_version: String,
    time: String,
    fields: BTreeSet<FieldPath>,
}

#[derive(Debug, Clone)]
struct Stored {
    object: Json,
    managers: Vec<Managed>,
}

/// A failed request, rendered as a Kubernetes `Status`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Json,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: json!({}),
        }
    }

    pub fn not_found(rt: &ResourceType, name: &str) -> ApiError {
        ApiError {
            details: json!({"name": name, "group": rt.group, "kind": rt.plural}),
            ..ApiError::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", rt.qualified()),
            )
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// The `Status` body.
    pub fn status(&self) -> Json {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        })
    }
}

type Result<T> = std::result::Result<T, ApiError>;

/// All objects and the rules that play controllers.
#[derive(Debug)]
pub struct Store {
    objects: BTreeMap<Key, Stored>,
    revision: u64,
    uids: u64,
    /// Status to set on every write of an object, instead of the automatic rules.
    scripted: BTreeMap<Key, Json>,
    /// Whether the automatic status rules run (Deployments ready at once, Jobs complete …).
    pub auto_status: bool,
}

impl Default for Store {
    fn default() -> Store {
        let mut store = Store {
            objects: BTreeMap::new(),
            revision: 0,
            uids: 0,
            scripted: BTreeMap::new(),
            auto_status: true,
        };
        let namespaces = resources::by_kind("Namespace").expect("served");
        for name in ["default", "kube-system"] {
            store
                .create(
                    namespaces,
                    "",
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
                    "kube-apiserver",
                )
                .expect("a fresh store accepts its namespaces");
        }
        store
    }
}

/// Keys that identify or describe an object rather than configure it.
const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "selfLink",
];

/// The leaf paths an object sets (what a manager owns by setting them).
fn leaves(object: &Json, rt: &ResourceType) -> BTreeSet<FieldPath> {
    fn walk(value: &Json, path: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
        match value {
            Json::Object(map) if !map.is_empty() => {
                for (key, item) in map {
                    path.push(key.clone());
                    walk(item, path, out);
                    path.pop();
                }
            }
            Json::Null => {}
            _ => {
                out.insert(path.clone());
            }
        }
    }
    let mut out = BTreeSet::new();
    let Some(map) = object.as_object() else {
        return out;
    };
    for (key, value) in map {
        match key.as_str() {
            "apiVersion" | "kind" => {}
            "status" if rt.status => {}
            "metadata" => {
                if let Some(metadata) = value.as_object() {
                    for (field, item) in metadata {
                        if !SERVER_METADATA.contains(&field.as_str()) {
                            let mut path = vec!["metadata".to_owned(), field.clone()];
                            walk(item, &mut path, &mut out);
                        }
                    }
                }
            }
            _ => {
                let mut path = vec![key.clone()];
                walk(value, &mut path, &mut out);
            }
        }
    }
    out
}

fn value_at<'a>(object: &'a Json, path: &[String]) -> Option<&'a Json> {
    let mut current = object;
    for step in path {
        current = current.as_object()?.get(step)?;
    }
    Some(current)
}

/// Removes the field at `path`, and parents left empty by it.
fn remove_at(object: &mut Json, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    fn go(value: &mut Json, parents: &[String], last: &str) {
        let Some(map) = value.as_object_mut() else {
            return;
        };
        match parents.split_first() {
            None => {
                map.remove(last);
            }
            Some((first, rest)) => {
                if let Some(child) = map.get_mut(first) {
                    go(child, rest, last);
                    if child.as_object().is_some_and(Map::is_empty) && first != "metadata" {
                        map.remove(first);
                    }
                }
            }
        }
    }
    go(object, parents, last);
}

fn overlaps(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// RFC 7386 merge of `patch` into `target` (`null` removes).
fn merge(target: &mut Json, patch: &Json) {
    match (target.as_object_mut(), patch) {
        (Some(map), Json::Object(changes)) => {
            for (key, value) in changes {
                if value.is_null() {
                    map.remove(key);
                } else if value.is_object() && map.get(key).is_some_and(Json::is_object) {
                    merge(map.get_mut(key).expect("checked"), value);
                } else {
                    let mut fresh = Json::Object(Map::new());
                    if value.is_object() {
                        merge(&mut fresh, value);
                    } else {
                        fresh = value.clone();
                    }
                    map.insert(key.clone(), fresh);
                }
            }
        }
        (_, Json::Object(_)) => {
            *target = Json::Object(Map::new());
            merge(target, patch);
        }
        (_, other) => *target = other.clone(),
    }
}

/// The object without `metadata` and `status`: what `generation` counts changes of.
fn spec_part(object: &Json) -> Json {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    copy
}

/// `managedFields` in the FieldsV1 format (`{"f:spec": {"f:replicas": {}}}`).
fn fields_v1(fields: &BTreeSet<FieldPath>) -> Json {
    let mut root = Map::new();
    for path in fields {
        let mut current = &mut root;
        for step in path {
            current = current
                .entry(format!("f:{step}"))
                .or_insert_with(|| Json::Object(Map::new()))
                .as_object_mut()
                .expect("only objects are inserted");
        }
    }
    Json::Object(root)
}

/// A dotted field path as the API server prints it: `.spec.replicas`.
pub fn dotted(path: &[String]) -> String {
    path.iter().map(|p| format!(".{p}")).collect()
}

/// The current time in RFC 3339 (UTC, seconds).
pub fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Store {
    fn next_revision(&mut self) -> String {
        self.revision += 1;
        self.revision.to_string()
    }

    /// The current global resource version.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// An object as the API returns it (with `managedFields`).
    fn render(stored: &Stored) -> Json {
        let mut object = stored.object.clone();
        let managed: Vec<Json> = stored
            .managers
            .iter()
            .map(|m| {
                json!({
                    "manager": m.manager,
                    "operation": m.operation,
                    "apiVersion": m.api_version,
                    "time": m.time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": fields_v1(&m.fields),
                })
            })
            .collect();
        if !managed.is_empty() {
            object["metadata"]["managedFields"] = Json::Array(managed);
        }
        object
    }

    pub fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Result<Json> {
        self.objects
            .get(&Key::new(rt, namespace, name))
            .map(Store::render)
            .ok_or_else(|| ApiError::not_found(rt, name))
    }

    /// The objects of a resource, in one namespace or all, filtered by label and field
    /// selectors (equality forms only).
    pub fn list(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Json> {
        let labels = parse_selector(label_selector)?;
        let fields = parse_selector(field_selector)?;
        let mut items = Vec::new();
        for (key, stored) in &self.objects {
            if key.group != rt.group || key.plural != rt.plural {
                continue;
            }
            if namespace.is_some_and(|ns| ns != key.namespace) {
                continue;
            }
            let object = &stored.object;
            let label_ok = labels.iter().all(|(k, op, v)| {
                let actual = object["metadata"]["labels"].get(k).and_then(Json::as_str);
                match op {
                    SelectorOp::Eq => actual == Some(v.as_str()),
                    SelectorOp::Ne => actual != Some(v.as_str()),
                    SelectorOp::Exists => actual.is_some(),
                }
            });
            let field_ok = fields.iter().all(|(k, op, v)| {
                let path: Vec<String> = k.split('.').map(str::to_owned).collect();
                let actual = value_at(object, &path).and_then(Json::as_str);
                match op {
                    SelectorOp::Eq => actual == Some(v.as_str()),
                    SelectorOp::Ne => actual != Some(v.as_str()),
                    SelectorOp::Exists => actual.is_some(),
                }
            });
            if label_ok && field_ok {
                items.push(Store::render(stored));
            }
        }
        Ok(json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": rt.api_version(),
            "metadata": {"resourceVersion": self.revision.to_string()},
            "items": items,
        }))
    }

    /// Checks the body's identity against the URL and fills in what the URL implies.
    fn check_identity(
        rt: &ResourceType,
        namespace: &str,
        name: Option<&str>,
        body: &mut Json,
    ) -> Result<String> {
        if !body.is_object() {
            return Err(ApiError::bad_request("the body must be an object"));
        }
        if let Some(api) = body.get("apiVersion").and_then(Json::as_str) {
            if api != rt.api_version() {
                return Err(ApiError::bad_request(format!(
                    "apiVersion `{api}` does not match {} served here",
                    rt.api_version()
                )));
            }
        }
        if let Some(kind) = body.get("kind").and_then(Json::as_str) {
            if kind != rt.kind {
                return Err(ApiError::bad_request(format!(
                    "kind `{kind}` does not match {} served here",
                    rt.kind
                )));
            }
        }
        body["apiVersion"] = json!(rt.api_version());
        body["kind"] = json!(rt.kind);
        if !body.get("metadata").is_some_and(Json::is_object) {
            body["metadata"] = json!({});
        }
        let body_name = body["metadata"].get("name").and_then(Json::as_str);
        let name = match (name, body_name) {
            (Some(url), Some(body)) if url != body => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({body}) does not match the name on the URL ({url})"
                )))
            }
            (Some(url), _) => url.to_owned(),
            (None, Some(body)) => body.to_owned(),
            (None, None) => {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    format!("{} is invalid: metadata.name: Required value", rt.kind),
                ))
            }
        };
        body["metadata"]["name"] = json!(name);
        if rt.namespaced {
            match body["metadata"].get("namespace").and_then(Json::as_str) {
                Some(ns) if ns != namespace => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                _ => body["metadata"]["namespace"] = json!(namespace),
            }
        } else if let Some(map) = body["metadata"].as_object_mut() {
            map.remove("namespace");
        }
        Ok(name)
    }

    fn require_namespace(&self, rt: &ResourceType, namespace: &str) -> Result<()> {
        if !rt.namespaced {
            return Ok(());
        }
        let namespaces = resources::by_kind("Namespace").expect("served");
        if self
            .objects
            .contains_key(&Key::new(namespaces, "", namespace))
        {
            Ok(())
        } else {
            Err(ApiError {
                details: json!({"name": namespace, "kind": "namespaces"}),
                ..ApiError::new(
                    404,
                    "NotFound",
                    format!("namespaces \"{namespace}\" not found"),
                )
            })
        }
    }

    fn new_object(&mut self, mut body: Json, rt: &ResourceType) -> Json {
        self.uids += 1;
        let uid = format!("00000000-0000-4000-8000-{:012x}", self.uids);
        let metadata = &mut body["metadata"];
        metadata["uid"] = json!(uid);
        metadata["creationTimestamp"] = json!(now());
        metadata["generation"] = json!(1);
        for field in ["resourceVersion", "managedFields", "deletionTimestamp"] {
            if let Some(map) = metadata.as_object_mut() {
                map.remove(field);
            }
        }
        if rt.status {
            if let Some(map) = body.as_object_mut() {
                map.remove("status");
            }
        }
        body
    }

    /// `POST`: creates an object; the manager owns every field it set.
    pub fn create(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        mut body: Json,
        manager: &str,
    ) -> Result<Json> {
        let name = Store::check_identity(rt, namespace, None, &mut body)?;
        self.require_namespace(rt, namespace)?;
        let key = Key::new(rt, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError {
                details: json!({"name": name, "group": rt.group, "kind": rt.plural}),
                ..ApiError::new(
                    409,
                    "AlreadyExists",
                    format!("{} \"{name}\" already exists", rt.qualified()),
                )
            });
        }
        let mut object = self.new_object(body, rt);
        object["metadata"]["resourceVersion"] = json!(self.next_revision());
        let fields = leaves(&object, rt);
        let managers = vec![Managed {
            manager: manager.to_owned(),
            operation: "Update",
            api_version: rt.api_version(),
            time: now(),
            fields,
        }];
        self.objects
            .insert(key.clone(), Stored { object, managers });
        self.after_write(&key);
        Ok(Store::render(&self.objects[&key]))
    }

    /// `PATCH` with `application/apply-patch+yaml`: server-side apply. Returns the object and
    /// whether it was created.
    pub fn apply(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        mut body: Json,
        manager: &str,
        force: bool,
    ) -> Result<(Json, bool)> {
        Store::check_identity(rt, namespace, Some(name), &mut body)?;
        if body["metadata"].get("resourceVersion").is_some() {
            self.check_version(rt, namespace, name, &body)?;
        }
        let key = Key::new(rt, namespace, name);
        let applied = leaves(&body, rt);
        let (mut object, mut managers, created) = match self.objects.get(&key) {
            Some(stored) => (stored.object.clone(), stored.managers.clone(), false),
            None => {
                self.require_namespace(rt, namespace)?;
                let skeleton = json!({
                    "apiVersion": rt.api_version(),
                    "kind": rt.kind,
                    "metadata": body["metadata"].clone(),
                });
                (self.new_object(skeleton, rt), Vec::new(), true)
            }
        };
        let before = object.clone();

        // Conflicts: fields another manager owns whose value this apply would change.
        let mut conflicts: Vec<(String, FieldPath)> = Vec::new();
        for other in managers.iter().filter(|m| m.manager != manager) {
            for owned in &other.fields {
                let touched = applied.iter().any(|p| overlaps(p, owned));
                if touched && value_at(&object, owned) != value_at(&body, owned) {
                    conflicts.push((other.manager.clone(), owned.clone()));
                }
            }
        }
        if !conflicts.is_empty() && !force {
            return Err(conflict_error(rt, &conflicts));
        }
        for (other, path) in &conflicts {
            for m in managers.iter_mut().filter(|m| &m.manager == other) {
                m.fields.remove(path);
            }
        }
        managers.retain(|m| !m.fields.is_empty());

        // Fields this manager applied before and no longer does are removed, unless shared.
        let previous: BTreeSet<FieldPath> = managers
            .iter()
            .find(|m| m.manager == manager && m.operation == "Apply")
            .map(|m| m.fields.clone())
            .unwrap_or_default();
        for path in previous.difference(&applied) {
            let shared = managers
                .iter()
                .filter(|m| !(m.manager == manager && m.operation == "Apply"))
                .any(|m| m.fields.iter().any(|f| overlaps(f, path)));
            if !shared {
                remove_at(&mut object, path);
            }
        }
        let mut patch = body.clone();
        if let Some(map) = patch.as_object_mut() {
            if rt.status {
                map.remove("status");
            }
            if let Some(metadata) = map.get_mut("metadata").and_then(Json::as_object_mut) {
                for field in SERVER_METADATA {
                    metadata.remove(*field);
                }
            }
        }
        merge(&mut object, &patch);
        match managers
            .iter_mut()
            .find(|m| m.manager == manager && m.operation == "Apply")
        {
            Some(entry) if entry.fields == applied => {}
            Some(entry) => {
                entry.fields = applied;
                entry.time = now();
            }
            None => managers.push(Managed {
                manager: manager.to_owned(),
                operation: "Apply",
                api_version: rt.api_version(),
                time: now(),
                fields: applied,
            }),
        }
        managers.retain(|m| !m.fields.is_empty());
        let unchanged = !created
            && object == before
            && self
                .objects
                .get(&key)
                .is_some_and(|s| s.managers == managers);
        if unchanged {
            return Ok((Store::render(&self.objects[&key]), false));
        }
        self.store(key.clone(), object, &before, managers, created);
        Ok((Store::render(&self.objects[&key]), created))
    }

    fn check_version(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        body: &Json,
    ) -> Result<()> {
        let wanted = body["metadata"]["resourceVersion"].as_str();
        let current = self
            .objects
            .get(&Key::new(rt, namespace, name))
            .and_then(|s| s.object["metadata"]["resourceVersion"].as_str());
        match (wanted, current) {
            (Some(w), Some(c)) if w != c => Err(ApiError {
                details: json!({"name": name, "group": rt.group, "kind": rt.plural}),
                ..ApiError::new(
                    409,
                    "Conflict",
                    format!(
                        "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                        rt.qualified()
                    ),
                )
            }),
            _ => Ok(()),
        }
    }

    /// Saves a written object: `generation` counts changes outside metadata and status, every
    /// write gets a new `resourceVersion`, and the status rules run.
    fn store(
        &mut self,
        key: Key,
        mut object: Json,
        before: &Json,
        managers: Vec<Managed>,
        created: bool,
    ) {
        if !created && spec_part(&object) != spec_part(before) {
            let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
            object["metadata"]["generation"] = json!(generation + 1);
        }
        object["metadata"]["resourceVersion"] = json!(self.next_revision());
        self.objects
            .insert(key.clone(), Stored { object, managers });
        self.after_write(&key);
    }

    /// A write as operation `Update` by `manager` (merge patch, replace, or an out-of-band
    /// edit): the manager takes the fields whose values changed from everyone else.
    fn update_fields(
        rt: &ResourceType,
        managers: &mut Vec<Managed>,
        before: &Json,
        after: &Json,
        manager: &str,
    ) {
        let old = leaves(before, rt);
        let new = leaves(after, rt);
        let changed: BTreeSet<FieldPath> = new
            .iter()
            .filter(|p| value_at(before, p) != value_at(after, p))
            .cloned()
            .collect();
        let removed: BTreeSet<FieldPath> = old.difference(&new).cloned().collect();
        for m in managers.iter_mut() {
            m.fields
                .retain(|f| !changed.iter().chain(&removed).any(|c| overlaps(c, f)));
        }
        managers.retain(|m| !m.fields.is_empty() || m.manager == manager);
        match managers
            .iter_mut()
            .find(|m| m.manager == manager && m.operation == "Update")
        {
            Some(entry) => {
                entry.fields.extend(changed);
                entry.time = now();
            }
            None => managers.push(Managed {
                manager: manager.to_owned(),
                operation: "Update",
                api_version: rt.api_version(),
                time: now(),
                fields: changed,
            }),
        }
        managers.retain(|m| !m.fields.is_empty());
    }

    /// `PATCH` with `application/merge-patch+json` (also used for strategic merge patches).
    pub fn merge_patch(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        patch: &Json,
        manager: &str,
        status_only: bool,
    ) -> Result<Json> {
        self.check_version(rt, namespace, name, patch)?;
        let key = Key::new(rt, namespace, name);
        let stored = self
            .objects
            .get(&key)
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let before = stored.object.clone();
        let mut object = before.clone();
        let mut patch = patch.clone();
        if let Some(map) = patch.as_object_mut() {
            map.remove("apiVersion");
            map.remove("kind");
            if status_only {
                map.retain(|k, _| k == "status");
            } else if rt.status {
                map.remove("status");
            }
            if let Some(metadata) = map.get_mut("metadata").and_then(Json::as_object_mut) {
                for field in SERVER_METADATA {
                    metadata.remove(*field);
                }
            }
        }
        merge(&mut object, &patch);
        self.finish_update(rt, key, object, before, manager, status_only)
    }

    /// `PUT`: replaces the object (or its status); a stale `metadata.resourceVersion` is a
    /// 409 conflict.
    pub fn replace(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        mut body: Json,
        manager: &str,
        status_only: bool,
    ) -> Result<Json> {
        Store::check_identity(rt, namespace, Some(name), &mut body)?;
        self.check_version(rt, namespace, name, &body)?;
        let key = Key::new(rt, namespace, name);
        let stored = self
            .objects
            .get(&key)
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let before = stored.object.clone();
        let object = if status_only {
            let mut object = before.clone();
            match body.get("status") {
                Some(status) => object["status"] = status.clone(),
                None => {
                    if let Some(map) = object.as_object_mut() {
                        map.remove("status");
                    }
                }
            }
            object
        } else {
            let mut object = body;
            for field in SERVER_METADATA {
                if let Some(value) = before["metadata"].get(*field) {
                    object["metadata"][*field] = value.clone();
                }
            }
            if rt.status {
                match before.get("status") {
                    Some(status) => object["status"] = status.clone(),
                    None => {
                        if let Some(map) = object.as_object_mut() {
                            map.remove("status");
                        }
                    }
                }
            }
            object
        };
        self.finish_update(rt, key, object, before, manager, status_only)
    }

    fn finish_update(
        &mut self,
        rt: &ResourceType,
        key: Key,
        object: Json,
        before: Json,
        manager: &str,
        status_only: bool,
    ) -> Result<Json> {
        if object == before {
            return Ok(Store::render(&self.objects[&key]));
        }
        let mut managers = self.objects[&key].managers.clone();
        if !status_only {
            Store::update_fields(rt, &mut managers, &before, &object, manager);
            self.store(key.clone(), object, &before, managers, false);
        } else {
            let mut object = object;
            object["metadata"]["resourceVersion"] = json!(self.next_revision());
            self.objects
                .insert(key.clone(), Stored { object, managers });
        }
        Ok(Store::render(&self.objects[&key]))
    }

    /// `DELETE`: removes the object at once (there is no garbage collector: a namespace
    /// takes its objects with it, nothing else cascades). Returns the object as deleted.
    pub fn delete(&mut self, rt: &ResourceType, namespace: &str, name: &str) -> Result<Json> {
        let key = Key::new(rt, namespace, name);
        let stored = self
            .objects
            .remove(&key)
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        self.scripted.remove(&key);
        if rt.kind == "Namespace" {
            self.objects.retain(|k, _| k.namespace != name);
        }
        self.revision += 1;
        let mut object = Store::render(&stored);
        object["metadata"]["deletionTimestamp"] = json!(now());
        Ok(object)
    }

    /// Sets `status` now (as a controller would), with a new resource version.
    pub fn set_status(&mut self, key: &Key, status: Json) -> bool {
        let revision = self.next_revision();
        match self.objects.get_mut(key) {
            Some(stored) => {
                stored.object["status"] = status;
                stored.object["metadata"]["resourceVersion"] = json!(revision);
                true
            }
            None => false,
        }
    }

    /// Makes every write of `key` set this status instead of the automatic rules.
    pub fn script_status(&mut self, key: Key, status: Json) {
        self.scripted.insert(key.clone(), status.clone());
        if let Some(stored) = self.objects.get_mut(&key) {
            stored.object["status"] = status;
        }
    }

    /// Changes an object directly, as an `Update` by `manager` (an edit made outside obp).
    pub fn modify(&mut self, key: &Key, manager: &str, edit: impl FnOnce(&mut Json)) -> bool {
        let Some(stored) = self.objects.get(key) else {
            return false;
        };
        let before = stored.object.clone();
        let mut object = before.clone();
        edit(&mut object);
        let rt = key.resource();
        let mut managers = stored.managers.clone();
        Store::update_fields(rt, &mut managers, &before, &object, manager);
        self.store(key.clone(), object, &before, managers, false);
        true
    }

    /// The status rules run after every write of an object's main resource.
    fn after_write(&mut self, key: &Key) {
        let status = match self.scripted.get(key) {
            Some(status) => Some(status.clone()),
            None if self.auto_status => self
                .objects
                .get(key)
                .and_then(|s| automatic_status(&s.object)),
            None => None,
        };
        if let (Some(status), Some(stored)) = (status, self.objects.get_mut(key)) {
            stored.object["status"] = status;
        }
    }
}

/// What a healthy cluster's controllers would soon report for an object.
fn automatic_status(object: &Json) -> Option<Json> {
    let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let counts = |mut status: Map<String, Json>, names: &[&str]| {
        // Like the real controllers, zero counts are left out.
        if replicas > 0 {
            for name in names {
                status.insert((*name).to_owned(), json!(replicas));
            }
        }
        Json::Object(status)
    };
    match object["kind"].as_str()? {
        "Deployment" => {
            let mut status = Map::new();
            status.insert("observedGeneration".into(), json!(generation));
            status.insert(
                "conditions".into(),
                json!([{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                       {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]),
            );
            Some(counts(
                status,
                &[
                    "replicas",
                    "updatedReplicas",
                    "readyReplicas",
                    "availableReplicas",
                ],
            ))
        }
        "StatefulSet" => {
            let mut status = Map::new();
            status.insert("observedGeneration".into(), json!(generation));
            let revision = format!("{}-{generation}", object["metadata"]["name"].as_str()?);
            status.insert("currentRevision".into(), json!(revision));
            status.insert("updateRevision".into(), json!(revision));
            Some(counts(
                status,
                &[
                    "replicas",
                    "currentReplicas",
                    "updatedReplicas",
                    "readyReplicas",
                    "availableReplicas",
                ],
            ))
        }
        "Job" => {
            if object
                .get("status")
                .is_some_and(|s| s.get("conditions").is_some())
            {
                return object.get("status").cloned();
            }
            let time = now();
            Some(json!({
                "succeeded": 1,
                "startTime": time,
                "completionTime": time,
                "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": time}],
            }))
        }
        "PersistentVolumeClaim" => Some(json!({"phase": "Bound"})),
        "Namespace" => Some(json!({"phase": "Active"})),
        "CustomResourceDefinition" => Some(json!({"conditions": [
            {"type": "NamesAccepted", "status": "True"},
            {"type": "Established", "status": "True"},
        ]})),
        _ => None,
    }
}

/// The 409 a real API server returns for apply conflicts.
fn conflict_error(rt: &ResourceType, conflicts: &[(String, FieldPath)]) -> ApiError {
    let api = rt.api_version();
    let causes: Vec<Json> = conflicts
        .iter()
        .map(|(manager, path)| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with \"{manager}\" using {api}"),
                "field": dotted(path),
            })
        })
        .collect();
    let message = if conflicts.len() == 1 {
        let (manager, path) = &conflicts[0];
        format!(
            "Apply failed with 1 conflict: conflict with \"{manager}\" using {api}: {}",
            dotted(path)
        )
    } else {
        let mut text = format!("Apply failed with {} conflicts:", conflicts.len());
        for (manager, path) in conflicts {
            text.push_str(&format!(
                " conflict with \"{manager}\" using {api}: {};",
                dotted(path)
            ));
        }
        text.trim_end_matches(';').to_owned()
    };
    ApiError {
        details: json!({"causes": causes}),
        ..ApiError::new(409, "Conflict", message)
    }
}

enum SelectorOp {
    Eq,
    Ne,
    Exists,
}

fn parse_selector(selector: Option<&str>) -> Result<Vec<(String, SelectorOp, String)>> {
    let mut out = Vec::new();
    for term in selector
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if let Some((k, v)) = term.split_once("!=") {
            out.push((k.trim().to_owned(), SelectorOp::Ne, v.trim().to_owned()));
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            out.push((k.trim().to_owned(), SelectorOp::Eq, v.trim().to_owned()));
        } else if term.contains(' ') || term.contains('(') {
            return Err(ApiError::bad_request(format!(
                "unsupported selector `{term}` (the emulator understands =, == and !=)"
            )));
        } else {
            out.push((term.to_owned(), SelectorOp::Exists, String::new()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployments() -> &'static ResourceType {
        resources::by_kind("Deployment").unwrap()
    }

    fn web(replicas: i64) -> Json {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"a": "1"}}, "spec": {"replicas": replicas}})
    }

    #[test]
    fn apply_conflicts_with_other_managers_unless_forced() {
        let mut store = Store::default();
        let rt = deployments();
        let (created, was_created) = store
            .apply(rt, "default", "web", web(1), "other", false)
            .unwrap();
        assert!(was_created);
        assert_eq!(created["status"]["readyReplicas"], 1);
        assert_eq!(created["metadata"]["generation"], 1);
        // The same values are shared, not conflicts.
        store
            .apply(rt, "default", "web", web(1), "obp", false)
            .unwrap();
        let error = store
            .apply(rt, "default", "web", web(2), "obp", false)
            .unwrap_err();
        assert_eq!(error.code, 409);
        assert_eq!(
            error.message,
            "Apply failed with 1 conflict: conflict with \"other\" using apps/v1: .spec.replicas"
        );
        let (forced, _) = store
            .apply(rt, "default", "web", web(2), "obp", true)
            .unwrap();
        assert_eq!(forced["spec"]["replicas"], 2);
        assert_eq!(forced["metadata"]["generation"], 2);
        let other = forced["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["manager"] == "other")
            .unwrap();
        assert_eq!(
            other["fieldsV1"],
            json!({"f:metadata": {"f:labels": {"f:a": {}}}})
        );
    }

    #[test]
    fn fields_dropped_from_an_apply_are_removed_unless_shared() {
        let mut store = Store::default();
        let rt = deployments();
        store
            .apply(rt, "default", "web", web(1), "obp", false)
            .unwrap();
        let smaller = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1}});
        let (object, _) = store
            .apply(rt, "default", "web", smaller, "obp", false)
            .unwrap();
        assert!(object["metadata"].get("labels").is_none(), "{object}");
        let before = object["metadata"]["resourceVersion"].clone();
        let (again, _) = store
            .apply(rt, "default", "web", object.clone(), "obp", false)
            .unwrap();
        assert_eq!(
            again["metadata"]["resourceVersion"], before,
            "a no-op apply writes nothing"
        );
    }

    #[test]
    fn stale_resource_versions_are_refused() {
        let mut store = Store::default();
        let rt = resources::by_kind("ConfigMap").unwrap();
        let created = store
            .create(
                rt,
                "default",
                json!({"metadata": {"name": "c"}, "data": {"k": "v"}}),
                "me",
            )
            .unwrap();
        let mut stale = created.clone();
        stale["metadata"]["resourceVersion"] = json!("1");
        stale["data"]["k"] = json!("w");
        let error = store
            .replace(rt, "default", "c", stale, "me", false)
            .unwrap_err();
        assert_eq!((error.code, error.reason), (409, "Conflict"));
        let mut fresh = created;
        fresh["data"]["k"] = json!("w");
        let replaced = store
            .replace(rt, "default", "c", fresh, "me", false)
            .unwrap();
        assert_eq!(replaced["data"]["k"], "w");
        assert_eq!(
            store.create(rt, "nowhere", json!({"metadata": {"name": "x"}}), "me"),
            Err(ApiError {
                details: json!({"name": "nowhere", "kind": "namespaces"}),
                ..ApiError::new(404, "NotFound", "namespaces \"nowhere\" not found")
            })
        );
    }

    #[test]
    fn dates_are_rfc3339() {
        let text = now();
        assert_eq!(text.len(), 20, "{text}");
        assert!(text.starts_with("20") && text.ends_with('Z'));
    }
}
