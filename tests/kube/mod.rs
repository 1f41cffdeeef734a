//! The test Kubernetes API server (`scripts/servers/kubernetes.sh`, which writes
//! `OBP_TEST_KUBECONFIG`) for the example tests: syncing a rendered GitOps tree the way Argo CD
//! does (server-side apply with strict field validation, over what the previous sync left),
//! and standing in for the controllers a cluster without kubelets lacks, so obp's readiness
//! waits see what a real cluster would report.
//!
//! The tests' own requests use the kubeconfig's `obp-tests` context, which the server's audit
//! log leaves out; obp itself uses the current context.

#![allow(dead_code)]

use std::collections::BTreeMap;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use kube::{Client, Config};
use serde_json::{json, Value as Json};

/// The test server's kubeconfig; never skips.
pub fn kubeconfig_path() -> String {
    std::env::var("OBP_TEST_KUBECONFIG").unwrap_or_else(|_| {
        panic!(
            "OBP_TEST_KUBECONFIG is not set: run the tests through scripts/test, or start the \
             server with `bash scripts/servers/kubernetes.sh start DIR` and load DIR/kubernetes.env"
        )
    })
}

pub struct Cluster {
    pub client: Client,
}

impl Cluster {
    pub async fn connect() -> Cluster {
        let kubeconfig = Kubeconfig::read_from(kubeconfig_path()).unwrap();
        let options = KubeConfigOptions {
            context: Some("obp-tests".to_owned()),
            ..KubeConfigOptions::default()
        };
        let config = Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .unwrap();
        Cluster {
            client: Client::try_from(config).unwrap(),
        }
    }

    /// The API of an object's kind (`namespace` for namespaced kinds), or why there is none.
    async fn api(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Api<DynamicObject>, String> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, capabilities) = discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| format!("{kind} {api_version} is not served: {e}"))?;
        Ok(match namespace {
            Some(namespace) if capabilities.scope == Scope::Namespaced => {
                Api::namespaced_with(self.client.clone(), namespace, &resource)
            }
            _ => Api::all_with(self.client.clone(), &resource),
        })
    }

    /// An object as the server has it, if it exists.
    pub async fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Json> {
        let api = self.api(api_version, kind, namespace).await.unwrap();
        let object = api.get_opt(name).await.unwrap()?;
        Some(serde_json::to_value(object).unwrap())
    }

    /// The names of the objects of a kind in `namespace`.
    pub async fn names(&self, api_version: &str, kind: &str, namespace: &str) -> Vec<String> {
        let api = self.api(api_version, kind, Some(namespace)).await.unwrap();
        let list = api.list(&ListParams::default()).await.unwrap();
        list.items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .collect()
    }

    /// Syncs a rendered tree (files by path): every manifest server-side applied with strict
    /// field validation, Namespaces first, each namespace renamed `NAME-suffix` so trees that
    /// share names do not meet. Returns what the server refused, one line each.
    pub async fn sync_tree(&self, files: &BTreeMap<String, String>, suffix: &str) -> Vec<String> {
        let mut manifests = tree_manifests(files);
        manifests.sort_by_key(|(_, object)| object["kind"] != "Namespace");
        let mut refused = Vec::new();
        for (file, mut object) in manifests {
            rename_namespaces(&mut object, suffix);
            let api_version = object["apiVersion"].as_str().unwrap_or_default().to_owned();
            let kind = object["kind"].as_str().unwrap_or_default().to_owned();
            let namespace = object["metadata"]["namespace"].as_str().map(str::to_owned);
            let api = match self.api(&api_version, &kind, namespace.as_deref()).await {
                Ok(api) => api,
                Err(error) => {
                    refused.push(format!("{file}: {error}"));
                    continue;
                }
            };
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let params = PatchParams::apply("argocd-controller")
                .validation(kube::api::ValidationDirective::Strict);
            match api.patch(&name, &params, &Patch::Apply(&object)).await {
                Ok(_) => {}
                // The server quotes a refused object whole (a Job's template runs to
                // kilobytes): the provider's own trimming keeps the field and the reason.
                Err(kube::Error::Api(status)) => refused.push(format!(
                    "{file}: {} ({})",
                    obp_providers::kubernetes::shorten_values(&status.message),
                    status.code
                )),
                Err(error) => refused.push(format!("{file}: {error}")),
            }
        }
        refused
    }

    /// Deletes the namespaces `sync_tree` made with `suffix` (the namespace controller
    /// removes what is in them).
    pub async fn delete_synced(&self, files: &BTreeMap<String, String>, suffix: &str) {
        let namespaces = self.api("v1", "Namespace", None).await.unwrap();
        for (_, mut object) in tree_manifests(files) {
            if object["kind"] == "Namespace" {
                rename_namespaces(&mut object, suffix);
                let name = object["metadata"]["name"].as_str().unwrap_or_default();
                let _ = namespaces.delete(name, &DeleteParams::background()).await;
            }
        }
    }

    /// Deletes a namespace (and what is in it) and waits until it is gone.
    pub async fn delete_namespace(&self, name: &str) {
        let namespaces = self.api("v1", "Namespace", None).await.unwrap();
        let _ = namespaces.delete(name, &DeleteParams::background()).await;
        for _ in 0..600 {
            if namespaces.get_opt(name).await.unwrap().is_none() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("namespace {name} was not deleted within 60 s");
    }

    /// Plays, every 100 ms in `namespace` until the handle is dropped, the controllers and
    /// kubelets this cluster does not run: Deployments and StatefulSets report every replica
    /// ready at their generation, Jobs complete, claims are bound.
    pub fn controllers(&self, namespace: &str) -> Controllers {
        let client = self.client.clone();
        let namespace = namespace.to_owned();
        Controllers(tokio::spawn(async move {
            let cluster = Cluster { client };
            loop {
                cluster.play(&namespace).await;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }))
    }

    async fn play(&self, namespace: &str) {
        let now = jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap()
            .to_string();
        let kinds: [(&str, &str, StatusOf); 4] = [
            ("apps/v1", "Deployment", rolled_out),
            ("apps/v1", "StatefulSet", rolled_out),
            ("batch/v1", "Job", completed),
            ("v1", "PersistentVolumeClaim", bound),
        ];
        for (api_version, kind, status_of) in kinds {
            let Ok(api) = self.api(api_version, kind, Some(namespace)).await else {
                continue;
            };
            let Ok(list) = api.list(&ListParams::default()).await else {
                continue;
            };
            for object in list.items {
                let object = serde_json::to_value(object).unwrap();
                let Some(status) = status_of(&object, &now) else {
                    continue;
                };
                let name = object["metadata"]["name"].as_str().unwrap_or_default();
                let params = PatchParams {
                    field_manager: Some("test-controller".to_owned()),
                    ..PatchParams::default()
                };
                // A conflict with a deletion in progress is the next round's business.
                let _ = api
                    .patch_status(name, &params, &Patch::Merge(&json!({ "status": status })))
                    .await;
            }
        }
    }
}

/// The status a stand-in controller writes for an object (at time `now`), `None` when the
/// object already has it.
type StatusOf = fn(&Json, &str) -> Option<Json>;

/// The status a workload controller reports once every replica runs the current template;
/// `None` when it already says so.
fn rolled_out(object: &Json, _now: &str) -> Option<Json> {
    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let mut status = json!({
        "observedGeneration": object["metadata"]["generation"],
        "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas,
        "availableReplicas": replicas,
    });
    if object["kind"] == "StatefulSet" {
        status["currentReplicas"] = json!(replicas);
        let revision = format!(
            "{}-1",
            object["metadata"]["name"].as_str().unwrap_or_default()
        );
        status["currentRevision"] = json!(revision);
        status["updateRevision"] = json!(revision);
    }
    let done = status
        .as_object()
        .unwrap()
        .iter()
        .all(|(k, v)| object["status"][k] == *v);
    (!done).then_some(status)
}

fn completed(object: &Json, now: &str) -> Option<Json> {
    let complete = object["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Complete"));
    (!complete).then(|| {
        json!({"startTime": now, "completionTime": now, "succeeded": 1, "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
            {"type": "Complete", "status": "True", "lastTransitionTime": now},
        ]})
    })
}

fn bound(object: &Json, _now: &str) -> Option<Json> {
    (object["status"]["phase"] != "Bound").then(|| json!({"phase": "Bound"}))
}

/// The stand-in controllers of [`Cluster::controllers`]; they stop when this is dropped.
pub struct Controllers(tokio::task::JoinHandle<()>);

impl Drop for Controllers {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The Kubernetes objects of a rendered tree, `(file, object)`, without the kustomizations
/// (Argo CD reads those; they are not objects of the cluster).
pub fn tree_manifests(files: &BTreeMap<String, String>) -> Vec<(String, Json)> {
    let mut manifests = Vec::new();
    for (file, text) in files {
        if !file.ends_with(".yaml") {
            continue;
        }
        for document in serde_norway::Deserializer::from_str(text) {
            let object: Json =
                serde::Deserialize::deserialize(document).unwrap_or_else(|e| panic!("{file}: {e}"));
            if object["apiVersion"].is_string() && object["kind"] != "Kustomization" {
                manifests.push((file.clone(), object));
            }
        }
    }
    manifests
}

/// Renames the object's namespace (or the Namespace itself) to `NAME-suffix`.
fn rename_namespaces(object: &mut Json, suffix: &str) {
    let renamed = |name: &Json| json!(format!("{}-{suffix}", name.as_str().unwrap_or_default()));
    if object["kind"] == "Namespace" {
        object["metadata"]["name"] = renamed(&object["metadata"]["name"]);
    } else if object["metadata"]["namespace"].is_string() {
        object["metadata"]["namespace"] = renamed(&object["metadata"]["namespace"]);
    }
}

/// A suffix no other tree on the server uses (namespaces stay DNS labels: ≤ 63 bytes).
pub fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", std::process::id() % 0xfff, nanos % 0xffff)
}
