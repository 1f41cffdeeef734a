//! obp's port of the API server's field rules (`providers/src/api_rules.rs`) against the real
//! server: the corpus `api_rules.rs` checks obp with (`providers/tests/corpus`) is sent to the
//! test kube-apiserver too, as dry-run server-side applies with strict field validation.
//! Every base manifest must be accepted and every defect refused as invalid, so a rule obp
//! enforces that the server does not (or the other way round, for the corpus) fails here.

#[path = "../corpus/mod.rs"]
mod corpus;

use kube::api::{Api, DynamicObject, Patch, PatchParams, ValidationDirective};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use serde_json::{json, Value as Json};

use super::{unique_namespace, Cluster};

/// The namespace the corpus writes its objects to; the test puts them in its own.
const CORPUS_NAMESPACE: &str = "odoo-acme";

/// Dry-run server-side apply with strict field validation: the server's verdict, without
/// writing anything.
async fn verdict(cluster: &Cluster, mut object: Json) -> Result<(), kube::Error> {
    if object["metadata"]["namespace"] == CORPUS_NAMESPACE {
        object["metadata"]["namespace"] = json!(cluster.namespace);
    }
    let api_version = object["apiVersion"].as_str().unwrap();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, object["kind"].as_str().unwrap());
    let (resource, capabilities) = discovery::pinned_kind(&cluster.client, &gvk).await.unwrap();
    let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
        Some(namespace) if capabilities.scope == Scope::Namespaced => {
            Api::namespaced_with(cluster.client.clone(), namespace, &resource)
        }
        _ => Api::all_with(cluster.client.clone(), &resource),
    };
    let name = object["metadata"]["name"].as_str().unwrap().to_owned();
    let params = PatchParams::apply("obp")
        .dry_run()
        .validation(ValidationDirective::Strict);
    api.patch(&name, &params, &Patch::Apply(&object))
        .await
        .map(drop)
}

/// Whether the server refused the object for the defect: as invalid (422), or in the two ways
/// it refuses before validating: an invalid namespace name cannot exist (404), and a
/// quantity it cannot parse fails the object's conversion (500, "quantities must match").
fn refused_for_the_defect(defect: &corpus::Defect, status: &kube::core::Status) -> bool {
    match status.code {
        422 => true,
        404 => defect.path == "metadata.namespace" && status.reason == "NotFound",
        500 => defect.code == "E0714" && status.message.contains("quantities must match"),
        _ => false,
    }
}

#[tokio::test]
async fn live_the_api_rules_corpus_gets_the_same_verdict_from_the_server() {
    let cluster = Cluster::connect(unique_namespace("corpus")).await;
    cluster.create_namespace().await;
    let mut disagreements = Vec::new();
    for (name, manifest) in corpus::bases() {
        if let Err(error) = verdict(&cluster, manifest).await {
            disagreements.push(format!("base {name}: refused by the server: {error}"));
        }
    }
    let mut refused = 0;
    for defect in corpus::defects() {
        // A Namespace named `kube-system` is valid to the server (it exists); obp refuses to
        // manage system namespaces as a rule of its own (E0711), not one of the server's.
        if defect.code == "E0711" {
            continue;
        }
        let manifest = corpus::apply(&defect).unwrap();
        let what = format!(
            "{} with {} = {} ({} at {})",
            defect.base, defect.pointer, defect.value, defect.code, defect.path
        );
        match verdict(&cluster, manifest).await {
            Ok(()) => disagreements.push(format!("{what}: accepted by the server")),
            Err(kube::Error::Api(status)) if refused_for_the_defect(&defect, &status) => {
                refused += 1
            }
            Err(error) => disagreements.push(format!("{what}: refused, but not for it: {error}")),
        }
    }
    assert!(
        disagreements.is_empty(),
        "obp's API rules and the server disagree:\n{}",
        disagreements.join("\n")
    );
    assert!(refused >= 20, "only {refused} defects were sent");
}
