//! **Test double.** A small in-process Kubernetes API server for obp's Kubernetes provider
//! tests: plain HTTP on `127.0.0.1:<random port>`, speaking the REST protocol kube-rs uses
//! (discovery, GET/LIST/POST/PUT/PATCH/DELETE, server-side apply with field managers and
//! conflicts, resource versions, `Status` errors, status subresources).
//!
//! It is not a Kubernetes: see `README.md` beside this crate for what it does not emulate.
//! Tests drive it through [`Emulator`]: read and change its store directly (bypassing the
//! provider under test), script object statuses, and inspect the requests it received.
//!
//! ```no_run
//! # async fn example() {
//! let emulator = obp_kube_emulator::Emulator::start().await;
//! let dir = tempfile_dir();
//! emulator.write_kubeconfig(&dir.join("kubeconfig")).unwrap();
//! # }
//! # fn tempfile_dir() -> std::path::PathBuf { std::env::temp_dir() }
//! ```

pub mod resources;
pub mod store;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value as Json};

use crate::resources::ResourceType;
use crate::store::{ApiError, Key, Store};

/// One request the emulator received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
}

/// One `DELETE` of an object, in the order received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub kind: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
    /// `propagationPolicy` from the request's `DeleteOptions`, if any.
    pub propagation_policy: Option<String>,
    /// Whether the object existed (a 404 was returned otherwise).
    pub existed: bool,
}

#[derive(Default)]
struct Shared {
    store: Store,
    requests: Vec<Recorded>,
    deletions: Vec<Deletion>,
}

/// A running emulator; the server stops when this is dropped.
pub struct Emulator {
    shared: Arc<Mutex<Shared>>,
    address: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Emulator {
    /// Starts a server on a free loopback port, in the current tokio runtime.
    pub async fn start() -> Emulator {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("a bound address");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let for_server = shared.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = for_server.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(&shared, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Emulator {
            shared,
            address,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A kubeconfig whose context `emulator` (namespace `default`) points here. Its current
    /// context is `emulator` unless `current` names another: an extra context `unreachable`
    /// points at a closed port, to show which context a client chose.
    pub fn kubeconfig(&self, current: Option<&str>) -> String {
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: emulator
  cluster:
    server: {url}
- name: unreachable
  cluster:
    server: http://127.0.0.1:9
contexts:
- name: emulator
  context:
    cluster: emulator
    user: tester
    namespace: default
- name: unreachable
  context:
    cluster: unreachable
    user: tester
current-context: {current}
users:
- name: tester
  user: {{}}
",
            url = self.url(),
            current = current.unwrap_or("emulator"),
        )
    }

    /// Writes [`Emulator::kubeconfig`] (current context `emulator`) to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig(None))
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn key(kind: &str, namespace: &str, name: &str) -> Key {
        let rt = resources::by_kind(kind)
            .unwrap_or_else(|| panic!("the emulator does not serve kind {kind}"));
        Key::new(rt, namespace, name)
    }

    /// An object as the API would return it (`namespace` is ignored for cluster-scoped kinds).
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<Json> {
        let rt = resources::by_kind(kind)?;
        self.lock().store.get(rt, namespace, name).ok()
    }

    /// Every object of a kind, in all namespaces.
    pub fn list(&self, kind: &str) -> Vec<Json> {
        let Some(rt) = resources::by_kind(kind) else {
            return Vec::new();
        };
        let list = self
            .lock()
            .store
            .list(rt, None, None, None)
            .unwrap_or_default();
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// Server-side applies `object` as `manager` (another tool sharing the cluster).
    pub fn apply_as(&self, manager: &str, object: Json, force: bool) -> Result<Json, Json> {
        let (rt, namespace, name) = identify(&object)?;
        self.lock()
            .store
            .apply(rt, &namespace, &name, object, manager, force)
            .map(|(o, _)| o)
            .map_err(|e| e.status())
    }

    /// Creates `object` as `manager` (`POST`).
    pub fn create_as(&self, manager: &str, object: Json) -> Result<Json, Json> {
        let (rt, namespace, _) = identify(&object)?;
        self.lock()
            .store
            .create(rt, &namespace, object, manager)
            .map_err(|e| e.status())
    }

    /// Edits an object in place as `manager` (an out-of-band change, like `kubectl edit`).
    /// Returns whether the object existed.
    pub fn modify(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        manager: &str,
        edit: impl FnOnce(&mut Json),
    ) -> bool {
        let key = Emulator::key(kind, namespace, name);
        self.lock().store.modify(&key, manager, edit)
    }

    /// Deletes an object directly (not logged as a request). Returns whether it existed.
    pub fn delete(&self, kind: &str, namespace: &str, name: &str) -> bool {
        let Some(rt) = resources::by_kind(kind) else {
            return false;
        };
        self.lock().store.delete(rt, namespace, name).is_ok()
    }

    /// Sets an object's status now, as its controller would.
    pub fn set_status(&self, kind: &str, namespace: &str, name: &str, status: Json) -> bool {
        let key = Emulator::key(kind, namespace, name);
        self.lock().store.set_status(&key, status)
    }

    /// From now on every write of this object sets `status` instead of the automatic rules
    /// (such as a Job that fails, or a Deployment that never becomes ready).
    pub fn script_status(&self, kind: &str, namespace: &str, name: &str, status: Json) {
        let key = Emulator::key(kind, namespace, name);
        self.lock().store.script_status(key, status);
    }

    /// Turns the automatic status rules on or off (on by default): Deployments and
    /// StatefulSets report every replica ready, Jobs complete, PVCs are `Bound`.
    pub fn set_auto_status(&self, on: bool) {
        self.lock().store.auto_status = on;
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Every `DELETE` of an object so far, in order.
    pub fn deletions(&self) -> Vec<Deletion> {
        self.lock().deletions.clone()
    }

    /// Forgets the recorded requests and deletions.
    pub fn clear_log(&self) {
        let mut shared = self.lock();
        shared.requests.clear();
        shared.deletions.clear();
    }
}

/// The resource, namespace and name of a manifest (namespace `default` when not given).
fn identify(object: &Json) -> Result<(&'static ResourceType, String, String), Json> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let rt = resources::by_kind(kind)
        .ok_or_else(|| ApiError::bad_request(format!("kind `{kind}` is not served")).status())?;
    let name = object["metadata"]["name"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("metadata.name is required").status())?;
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    Ok((rt, namespace.to_owned(), name.to_owned()))
}

type Reply = Response<Full<Bytes>>;

fn reply(code: StatusCode, body: &Json) -> Reply {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid response")
}

fn ok(body: &Json) -> Reply {
    reply(StatusCode::OK, body)
}

fn error(e: &ApiError) -> Reply {
    reply(
        StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &e.status(),
    )
}

/// What a real server answers for paths it does not serve (not a `Status`).
fn page_not_found() -> Reply {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from_static(b"404 page not found\n")))
        .expect("a valid response")
}

/// Where a request points inside a resource path.
struct Target {
    rt: &'static ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

/// Splits `/api/v1/...` or `/apis/{group}/{version}/...` into group, version and the rest.
fn split_prefix(segments: &[&str]) -> Option<(String, String, usize)> {
    match segments {
        ["api", version, ..] => Some((String::new(), (*version).to_owned(), 2)),
        ["apis", group, version, ..] => Some(((*group).to_owned(), (*version).to_owned(), 3)),
        _ => None,
    }
}

fn target(group: &str, version: &str, rest: &[&str]) -> Option<Target> {
    let find = |plural: &str| resources::by_plural(group, version, plural);
    match rest {
        ["namespaces", ns, plural, tail @ ..]
            if *plural != "status" && *plural != "finalize" && find(plural)?.namespaced =>
        {
            let rt = find(plural)?;
            match tail {
                [] => Some(Target {
                    rt,
                    namespace: Some((*ns).to_owned()),
                    name: None,
                    status: false,
                }),
                [name] => Some(Target {
                    rt,
                    namespace: Some((*ns).to_owned()),
                    name: Some((*name).to_owned()),
                    status: false,
                }),
                [name, "status"] if rt.status => Some(Target {
                    rt,
                    namespace: Some((*ns).to_owned()),
                    name: Some((*name).to_owned()),
                    status: true,
                }),
                _ => None,
            }
        }
        [plural, tail @ ..] => {
            let rt = find(plural)?;
            match tail {
                [] => Some(Target {
                    rt,
                    namespace: None,
                    name: None,
                    status: false,
                }),
                [name] if !rt.namespaced => Some(Target {
                    rt,
                    namespace: None,
                    name: Some((*name).to_owned()),
                    status: false,
                }),
                [name, "status"] if !rt.namespaced && rt.status => Some(Target {
                    rt,
                    namespace: None,
                    name: Some((*name).to_owned()),
                    status: true,
                }),
                _ => None,
            }
        }
        [] => None,
    }
}

fn query_params(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-decoding for query strings (`+` is a space).
fn decode(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a request body: JSON, or YAML for apply patches.
fn parse_body(bytes: &[u8], yaml: bool) -> Result<Json, ApiError> {
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(_) if yaml => serde_norway::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}"))),
        Err(e) => Err(ApiError::bad_request(format!("error decoding JSON: {e}"))),
    }
}

async fn handle(shared: &Mutex<Shared>, request: Request<Incoming>) -> Reply {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return error(&ApiError::bad_request(format!("cannot read body: {e}"))),
    };
    let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
    shared.requests.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_type: content_type.clone(),
    });
    let params = query_params(&query);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();

    // Discovery.
    if method == Method::GET {
        match segments.as_slice() {
            ["version"] => {
                return ok(&json!({
                    "major": "1", "minor": "33", "gitVersion": "v1.33.0-obp-emulator",
                    "platform": "linux/amd64",
                }))
            }
            ["api"] => return ok(&resources::core_versions()),
            ["apis"] => return ok(&resources::group_list()),
            ["apis", group] => {
                return resources::group(group).map_or_else(page_not_found, |g| ok(&g))
            }
            ["api", version] => {
                return resources::resource_list("", version)
                    .map_or_else(page_not_found, |l| ok(&l))
            }
            ["apis", group, version] => {
                return resources::resource_list(group, version)
                    .map_or_else(page_not_found, |l| ok(&l))
            }
            _ => {}
        }
    }

    let Some((group, version, skip)) = split_prefix(&segments) else {
        return page_not_found();
    };
    let Some(target) = target(&group, &version, &segments[skip..]) else {
        return page_not_found();
    };
    if params.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return error(&ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: "the emulator does not implement watch".to_owned(),
            details: json!({}),
        });
    }
    let rt = target.rt;
    let namespace = target.namespace.clone().unwrap_or_default();
    let manager = params
        .get("fieldManager")
        .cloned()
        .unwrap_or_else(|| "unknown".to_owned());
    let store = &mut shared.store;
    let result: Result<(StatusCode, Json), ApiError> = match (&method, &target.name) {
        (&Method::GET, None) => store
            .list(
                rt,
                target.namespace.as_deref(),
                params.get("labelSelector").map(String::as_str),
                params.get("fieldSelector").map(String::as_str),
            )
            .map(|l| (StatusCode::OK, l)),
        (&Method::POST, None) => parse_body(&body, false)
            .and_then(|b| store.create(rt, &namespace, b, &manager))
            .map(|o| (StatusCode::CREATED, o)),
        (&Method::GET, Some(name)) => store
            .get(rt, &namespace, name)
            .map(|o| (StatusCode::OK, o)),
        (&Method::PUT, Some(name)) => parse_body(&body, false)
            .and_then(|b| store.replace(rt, &namespace, name, b, &manager, target.status))
            .map(|o| (StatusCode::OK, o)),
        (&Method::PATCH, Some(name)) => match content_type.as_deref() {
            Some("application/apply-patch+yaml") => {
                if !params.contains_key("fieldManager") {
                    Err(ApiError::bad_request(
                        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                    ))
                } else if target.status {
                    Err(ApiError::bad_request(
                        "the emulator does not implement apply on the status subresource",
                    ))
                } else {
                    let force = params.get("force").is_some_and(|f| f == "true");
                    parse_body(&body, true)
                        .and_then(|b| store.apply(rt, &namespace, name, b, &manager, force))
                        .map(|(o, created)| {
                            let code = if created {
                                StatusCode::CREATED
                            } else {
                                StatusCode::OK
                            };
                            (code, o)
                        })
                }
            }
            Some("application/merge-patch+json" | "application/strategic-merge-patch+json") => {
                parse_body(&body, false)
                    .and_then(|b| {
                        store.merge_patch(rt, &namespace, name, &b, &manager, target.status)
                    })
                    .map(|o| (StatusCode::OK, o))
            }
            other => Err(ApiError {
                code: 415,
                reason: "UnsupportedMediaType",
                message: format!(
                    "the body of the request was in an unknown format - accepted media types include: application/apply-patch+yaml, application/merge-patch+json, application/strategic-merge-patch+json (got {})",
                    other.unwrap_or("none")
                ),
                details: json!({}),
            }),
        },
        (&Method::DELETE, Some(name)) if !target.status => {
            let options = parse_body(&body, false).unwrap_or_default();
            let result = store.delete(rt, &namespace, name);
            shared.deletions.push(Deletion {
                kind: rt.kind.to_owned(),
                namespace: namespace.clone(),
                name: name.clone(),
                propagation_policy: options
                    .get("propagationPolicy")
                    .and_then(Json::as_str)
                    .map(str::to_owned),
                existed: result.is_ok(),
            });
            result.map(|o| (StatusCode::OK, o))
        }
        _ => Err(ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: format!("{method} is not supported on {path}"),
            details: json!({}),
        }),
    };
    match result {
        Ok((code, body)) => reply(code, &body),
        Err(e) => error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_targets() {
        let t = target("apps", "v1", &["namespaces", "t", "deployments", "web"]).unwrap();
        assert_eq!(
            (
                t.rt.kind,
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.status
            ),
            ("Deployment", Some("t"), Some("web"), false)
        );
        let t = target("", "v1", &["namespaces", "t"]).unwrap();
        assert_eq!((t.rt.kind, t.name.as_deref()), ("Namespace", Some("t")));
        let t = target("", "v1", &["namespaces", "t", "status"]).unwrap();
        assert!(t.status && t.rt.kind == "Namespace");
        let t = target("batch", "v1", &["namespaces", "t", "jobs", "j", "status"]).unwrap();
        assert!(t.status && t.rt.kind == "Job");
        assert!(target("apps", "v1", &["deployments", "web"]).is_none());
        assert!(target("apps", "v2", &["deployments"]).is_none());
    }

    #[test]
    fn queries_are_decoded() {
        let params = query_params("fieldManager=obp&labelSelector=a%3Db%2Cc&x=a+b");
        assert_eq!(params["fieldManager"], "obp");
        assert_eq!(params["labelSelector"], "a=b,c");
        assert_eq!(params["x"], "a b");
        assert_eq!(decode("100%"), "100%");
    }
}
