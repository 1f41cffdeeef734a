//! The Kubernetes provider against a real kube-apiserver and etcd (`scripts/servers/kubernetes.sh`,
//! which writes `OBP_TEST_KUBECONFIG`): only the controllers deletes need run there (garbage
//! collector, namespace, claim protection), no kubelet and no workload controllers, so where
//! those would report status (a Deployment's replicas, a Job's outcome, a claim's binding) the test
//! writes `/status` through the API as they would. Each test works in a namespace of its own,
//! and every check on the cluster side reads the server directly, not through the provider:
//! objects as the tests' own admin (the kubeconfig's `obp-tests` context), and the requests obp
//! made (as the current context's user) from the server's audit log ([`Cluster::requests`]).
//! One test applies every example's rendered tree with strict field validation, which
//! checks the renders against the real schemas and the CRDs of `tests/support/crds/`.

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use kube::{Client, Config};
use obp_engine::plan::{plan, Action, PlanOptions};
use obp_engine::provider::ResourceRef;
use obp_engine::state::{Backend, JournalEntry, ResourceState, State};
use obp_providers::kinds::KINDS;
use serde_json::{json, Value as Json};

use super::{actions, failures, owned_by, provider, Stack};

/// The test server's kubeconfig; never skips.
fn kubeconfig_path() -> String {
    std::env::var("OBP_TEST_KUBECONFIG").unwrap_or_else(|_| {
        panic!(
            "OBP_TEST_KUBECONFIG is not set: start the test server with `bash scripts/servers/kubernetes.sh start DIR` \
             and load DIR/kubernetes.env (`set -a; . DIR/kubernetes.env; set +a`); `bash scripts/test` does both"
        )
    })
}

/// The test server's audit log; never skips.
fn audit_log_path() -> String {
    std::env::var("OBP_TEST_KUBE_AUDIT_LOG").unwrap_or_else(|_| {
        panic!(
            "OBP_TEST_KUBE_AUDIT_LOG is not set: start the test server with `bash scripts/servers/kubernetes.sh start DIR` \
             and load DIR/kubernetes.env (`set -a; . DIR/kubernetes.env; set +a`); `bash scripts/test` does both"
        )
    })
}

/// The kubeconfig's context for the tests' own requests, which the audit log leaves out.
const TESTS_CONTEXT: &str = "obp-tests";

/// A client of the test server as the user of `context` (default: the current context, obp's).
async fn client(context: Option<&str>) -> Client {
    let kubeconfig = Kubeconfig::read_from(kubeconfig_path()).unwrap();
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .unwrap_or_else(|e| panic!("the test server's kubeconfig, context {context:?}: {e}"));
    Client::try_from(config).unwrap()
}

/// A namespace name no other test (or earlier run against the same server) uses.
fn unique_namespace(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{:x}", std::process::id(), nanos % 0xfffff)
}

/// The test's side of the server: its own admin client (not audited), a client as obp's user
/// (for [`Cluster::requests`]' barrier only), and the test's namespace.
struct Cluster {
    client: Client,
    as_obp: Client,
    namespace: String,
}

/// The name prefix of [`Cluster::requests`]' barrier objects (never created).
const BARRIER: &str = "obp-audit-barrier";

impl Cluster {
    async fn connect(namespace: String) -> Cluster {
        Cluster {
            client: client(Some(TESTS_CONTEXT)).await,
            as_obp: client(None).await,
            namespace,
        }
    }

    /// The requests obp's user made so far about the test's namespace (objects in it and the
    /// Namespace itself), from the server's audit log: one event per request (stage
    /// ResponseComplete, level Request: `verb`, `requestURI`, `objectRef`, `requestObject`,
    /// `responseStatus`), in the order the server received them. A request's event can land a
    /// moment after its response, so this first reads an object that does not exist as obp's
    /// user and waits (10 s at most) until that barrier is in the log: every request that had
    /// completed before it is in the log too.
    async fn requests(&self) -> Vec<Json> {
        static BARRIERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let barrier = format!(
            "{BARRIER}-{}",
            BARRIERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(self.as_obp.clone(), &self.namespace);
        assert!(config_maps.get_opt(&barrier).await.unwrap().is_none());
        let path = audit_log_path();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading the audit log {path}: {e}"));
            // The last line may be half written: it is skipped until complete.
            let mut events: Vec<Json> = text
                .lines()
                .filter_map(|line| serde_json::from_str::<Json>(line).ok())
                .filter(|e| e["stage"] == "ResponseComplete" && self.concerns(e))
                .collect();
            if events
                .iter()
                .any(|e| e["objectRef"]["name"] == barrier.as_str())
            {
                events.retain(|e| {
                    !e["objectRef"]["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with(BARRIER))
                });
                // RFC 3339 with microseconds, in UTC: the text sorts as the time.
                events.sort_by(|a, b| {
                    a["requestReceivedTimestamp"]
                        .as_str()
                        .cmp(&b["requestReceivedTimestamp"].as_str())
                });
                return events;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the audit log {path} has no event for {barrier} after 10 s: start the server with \
                 `scripts/servers/kubernetes.sh`, which writes its audit policy"
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// Whether an audit event is about the test's namespace or an object in it.
    fn concerns(&self, event: &Json) -> bool {
        let object = &event["objectRef"];
        object["namespace"] == self.namespace.as_str()
            || (object["resource"] == "namespaces" && object["name"] == self.namespace.as_str())
    }

    /// The API of `apiVersion`/`kind`, in the test's namespace when the kind is namespaced.
    async fn api(&self, api_version: &str, kind: &str) -> Api<DynamicObject> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let (resource, capabilities) =
            discovery::pinned_kind(&self.client, &GroupVersionKind::gvk(group, version, kind))
                .await
                .unwrap_or_else(|e| panic!("the server does not serve {kind} {api_version}: {e}"));
        if capabilities.scope == Scope::Namespaced {
            Api::namespaced_with(self.client.clone(), &self.namespace, &resource)
        } else {
            Api::all_with(self.client.clone(), &resource)
        }
    }

    async fn get(&self, api_version: &str, kind: &str, name: &str) -> Option<Json> {
        let object = self
            .api(api_version, kind)
            .await
            .get_opt(name)
            .await
            .unwrap();
        object.map(|o| serde_json::to_value(o).unwrap())
    }

    /// Server-side applies `object` (in the test's namespace) as another field manager.
    async fn apply_as(&self, manager: &str, mut object: Json) -> Json {
        let api_version = object["apiVersion"].as_str().unwrap().to_owned();
        let kind = object["kind"].as_str().unwrap().to_owned();
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        object["metadata"]["namespace"] = json!(self.namespace);
        let applied = self
            .api(&api_version, &kind)
            .await
            .patch(&name, &PatchParams::apply(manager), &Patch::Apply(&object))
            .await
            .unwrap();
        serde_json::to_value(applied).unwrap()
    }

    /// A merge patch by `manager`, as `kubectl edit` or `kubectl label` would make.
    async fn merge_as(
        &self,
        manager: &str,
        api_version: &str,
        kind: &str,
        name: &str,
        patch: Json,
    ) {
        let params = PatchParams {
            field_manager: Some(manager.to_owned()),
            ..PatchParams::default()
        };
        self.api(api_version, kind)
            .await
            .patch(name, &params, &Patch::Merge(&patch))
            .await
            .unwrap();
    }

    /// Writes an object's status as its controller (or the kubelet) would.
    async fn set_status(&self, api_version: &str, kind: &str, name: &str, status: Json) {
        let params = PatchParams {
            field_manager: Some("test-controller".to_owned()),
            ..PatchParams::default()
        };
        self.api(api_version, kind)
            .await
            .patch_status(name, &params, &Patch::Merge(&json!({ "status": status })))
            .await
            .unwrap_or_else(|e| panic!("status of {kind} {name} refused: {e}"));
    }

    /// Requests the API server has served for `resource` so far, from its own metrics:
    /// (GETs of one object, LISTs across namespaces). Other tests' namespace deletions list
    /// per namespace, which is counted apart.
    async fn request_counts(&self, resource: &str) -> (u64, u64) {
        let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
        let text = self.client.request_text(request).await.unwrap();
        let count = |verb: &str, scope: &str| -> u64 {
            text.lines()
                .filter(|l| l.starts_with("apiserver_request_total{"))
                .filter(|l| {
                    l.contains(&format!("resource=\"{resource}\""))
                        && l.contains(&format!("verb=\"{verb}\""))
                        && l.contains(&format!("scope=\"{scope}\""))
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>() as u64
        };
        (count("GET", "resource"), count("LIST", "cluster"))
    }

    async fn create_namespace(&self) {
        let namespaces = self.api("v1", "Namespace").await;
        let object: DynamicObject = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}),
        )
        .unwrap();
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    }

    async fn delete(&self, api_version: &str, kind: &str, name: &str) {
        self.api(api_version, kind)
            .await
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }

    /// Plays the controllers of the kinds the provider waits for, every 100 ms until the
    /// returned handle is dropped: Deployments report every replica ready at their
    /// generation, claims are Bound.
    fn controllers(&self) -> Controllers {
        let cluster = Cluster {
            client: self.client.clone(),
            as_obp: self.as_obp.clone(),
            namespace: self.namespace.clone(),
        };
        Controllers(tokio::spawn(async move {
            loop {
                let deployments = cluster.api("apps/v1", "Deployment").await;
                for d in deployments.list(&Default::default()).await.unwrap().items {
                    let d = serde_json::to_value(d).unwrap();
                    let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
                    let ready = json!({"observedGeneration": d["metadata"]["generation"], "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas});
                    if ready
                        .as_object()
                        .unwrap()
                        .iter()
                        .all(|(k, v)| d["status"][k] == *v)
                    {
                        continue;
                    }
                    let name = d["metadata"]["name"].as_str().unwrap();
                    cluster
                        .set_status("apps/v1", "Deployment", name, ready)
                        .await;
                }
                let claims = cluster.api("v1", "PersistentVolumeClaim").await;
                for c in claims.list(&Default::default()).await.unwrap().items {
                    let c = serde_json::to_value(c).unwrap();
                    if c["status"]["phase"] != "Bound" {
                        let name = c["metadata"]["name"].as_str().unwrap();
                        cluster
                            .set_status(
                                "v1",
                                "PersistentVolumeClaim",
                                name,
                                json!({"phase": "Bound"}),
                            )
                            .await;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }))
    }
}

/// The stand-in controllers of [`Cluster::controllers`]; they stop when this is dropped.
struct Controllers(tokio::task::JoinHandle<()>);

impl Drop for Controllers {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The requests of `events` ([`Cluster::requests`]) that write: all but reads and watches.
fn writes(events: &[Json]) -> Vec<&Json> {
    events
        .iter()
        .filter(|e| !matches!(e["verb"].as_str(), Some("get" | "list" | "watch")))
        .collect()
}

/// One line per audit event, for assertion messages: verb, URI, response code.
fn describe(events: &[&Json]) -> String {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {} -> {}",
                e["verb"].as_str().unwrap_or("?"),
                e["requestURI"].as_str().unwrap_or("?"),
                e["responseStatus"]["code"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts that `write` is a server-side apply (a PATCH; `managedFields` shows `Apply`) as
/// field manager `obp` with strict field validation, forced exactly when `force` is, and
/// answered with `code`.
fn assert_obp_apply(write: &Json, force: bool, code: u16) {
    let uri = write["requestURI"].as_str().unwrap();
    let query: Vec<&str> = uri
        .split_once('?')
        .map_or("", |(_, q)| q)
        .split('&')
        .collect();
    assert_eq!(write["verb"], "patch", "{uri}");
    assert!(query.contains(&"fieldManager=obp"), "{uri}");
    assert!(query.contains(&"fieldValidation=Strict"), "{uri}");
    assert_eq!(query.contains(&"force=true"), force, "{uri}");
    assert!(
        force || !query.iter().any(|q| q.starts_with("force")),
        "{uri}"
    );
    assert_eq!(write["responseStatus"]["code"], code, "{uri}");
}

/// A stack whose kubeconfig points at the test server, with its own namespace.
struct Fixture {
    stack: Stack,
    cluster: Cluster,
}

impl std::ops::Deref for Fixture {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.stack
    }
}

impl Fixture {
    /// `body` names the test's namespace `NS`; it is created first unless the stack does.
    async fn new(prefix: &str, body: &str) -> Fixture {
        let stack = Stack::new();
        std::fs::copy(kubeconfig_path(), stack.dir.path().join("kubeconfig")).unwrap();
        let cluster = Cluster::connect(unique_namespace(prefix)).await;
        let fx = Fixture { stack, cluster };
        if !body.contains("resource k8s.namespace") {
            fx.cluster.create_namespace().await;
        }
        fx.write("", body);
        fx
    }

    /// Writes the stack: the provider block with `extra` options, then `body`.
    fn write(&self, extra: &str, body: &str) {
        self.edit(&format!(
            "{}{}",
            provider(extra),
            body.replace("NS", &self.cluster.namespace)
        ));
    }
}

const TENANT: &str = r#"
resource k8s.namespace ns { metadata = { name = "NS" } }
resource k8s.config_map conf {
  metadata = { name = "odoo-conf", namespace = k8s.namespace.ns.metadata.name }
  data = { "odoo.conf" = "[options]\nproxy_mode = True\n" }
}
resource k8s.deployment web {
  metadata = { name = "web", namespace = k8s.namespace.ns.metadata.name, labels = { app = "web", tier = "front" } }
  spec = {
    replicas = 2,
    selector = { matchLabels = { app = "web" } },
    template = {
      metadata = { labels = { app = "web" } },
      spec = { containers = [{ name = "odoo", image = "odoo:18", args = ["--config", k8s.config_map.conf.metadata.name] }] },
    },
  }
}
resource k8s.external_secret db {
  metadata = { name = "db", namespace = k8s.namespace.ns.metadata.name }
  data = { PASSWORD = secret("tenants/acme/db") }
}
resource k8s.middleware headers {
  metadata = { name = "headers", namespace = k8s.namespace.ns.metadata.name }
  spec = { headers = { stsSeconds = 31536000, customResponseHeaders = { Server = "" } } }
}
resource k8s.persistent_volume_claim files {
  metadata = { name = "files", namespace = k8s.namespace.ns.metadata.name }
  spec = { accessModes = ["ReadWriteOnce"], resources = { requests = { storage = "1Gi" } } }
}
resource k8s.certificate tls {
  metadata = { name = "web-tls", namespace = k8s.namespace.ns.metadata.name }
  spec = { secretName = "web-tls", dnsNames = ["erp.acme.example"], issuerRef = { name = "letsencrypt", kind = "ClusterIssuer" } }
}
output web_uid = k8s.deployment.web.uid
"#;

#[tokio::test]
async fn live_apply_creates_objects_and_a_second_plan_is_empty() {
    let fx = Fixture::new("create", TENANT).await;
    let _controllers = fx.cluster.controllers();
    let first = fx.converge().await;
    assert_eq!(first.count(Action::Create), 7);

    // Every write was one server-side apply as `obp`, without force: a PATCH per object in the
    // server's audit log (201: it created the object), and `Apply` as obp's only operation on
    // each object.
    let requests = fx.cluster.requests().await;
    let writes = writes(&requests);
    assert_eq!(writes.len(), 7, "{}", describe(&writes));
    for write in &writes {
        assert_obp_apply(write, false, 201);
    }
    let mut written: Vec<_> = writes
        .iter()
        .map(|w| w["objectRef"]["resource"].as_str().unwrap())
        .collect();
    written.sort_unstable();
    assert_eq!(
        written,
        [
            "certificates",
            "configmaps",
            "deployments",
            "externalsecrets",
            "middlewares",
            "namespaces",
            "persistentvolumeclaims"
        ]
    );
    // (Not the Namespace: obp sets only its name, so it owns no field there, and the server
    // keeps no empty managedFields entry.)
    for (api_version, kind, name) in [
        ("v1", "ConfigMap", "odoo-conf"),
        ("apps/v1", "Deployment", "web"),
        ("external-secrets.io/v1", "ExternalSecret", "db"),
        ("traefik.io/v1alpha1", "Middleware", "headers"),
        ("v1", "PersistentVolumeClaim", "files"),
        ("cert-manager.io/v1", "Certificate", "web-tls"),
    ] {
        let object = fx
            .cluster
            .get(api_version, kind, name)
            .await
            .unwrap_or_else(|| panic!("{kind} {name} was not created"));
        assert_eq!(
            owned_by(&object, "obp")
                .iter()
                .map(|(op, _)| op.as_str())
                .collect::<Vec<_>>(),
            ["Apply"],
            "obp applies {kind} {name} as one field manager: {object}"
        );
    }
    let conf = fx
        .cluster
        .get("v1", "ConfigMap", "odoo-conf")
        .await
        .unwrap();
    assert_eq!(conf["data"]["odoo.conf"], "[options]\nproxy_mode = True\n");

    let web = fx
        .cluster
        .get("apps/v1", "Deployment", "web")
        .await
        .unwrap();
    assert_eq!(web["spec"]["replicas"], 2);
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["--config", "odoo-conf"])
    );
    assert_eq!(
        owned_by(&web, "obp")
            .iter()
            .map(|(op, _)| op.as_str())
            .collect::<Vec<_>>(),
        ["Apply"],
        "obp applies as one field manager"
    );
    let secret = fx
        .cluster
        .get("external-secrets.io/v1", "ExternalSecret", "db")
        .await
        .unwrap();
    assert_eq!(
        secret["spec"]["data"][0]["remoteRef"]["key"],
        "tenants/acme/db"
    );
    assert_eq!(secret["spec"]["secretStoreRef"]["name"], "obp-secrets");
    let headers = fx
        .cluster
        .get("traefik.io/v1alpha1", "Middleware", "headers")
        .await
        .unwrap();
    assert_eq!(headers["spec"]["headers"]["stsSeconds"], 31536000);
    // Outputs come from the server.
    let ns = fx.cluster.namespace.as_str();
    let state = fx.state().await;
    let recorded = &state.resources["k8s.deployment.web"].outputs;
    assert_eq!(recorded["uid"], web["metadata"]["uid"]);
    assert_eq!(recorded["namespace"], ns);
    assert_eq!(
        recorded["resource_version"],
        web["metadata"]["resourceVersion"]
    );
    assert_eq!(
        state.resources["k8s.namespace.ns"].outputs["namespace"],
        Json::Null
    );
    assert_eq!(state.outputs["web_uid"], web["metadata"]["uid"]);

    let second = fx.plan().await;
    assert!(
        !second.has_changes() && second.drift.is_empty(),
        "a second plan is empty: {:?} {:?}",
        actions(&second),
        second.drift
    );
}

#[tokio::test]
async fn live_a_changed_field_updates_through_server_side_apply() {
    let fx = Fixture::new("update", TENANT).await;
    let _controllers = fx.cluster.controllers();
    fx.converge().await;
    let before = fx.cluster.requests().await.len();
    fx.write(
        "",
        &TENANT
            .replace("replicas = 2", "replicas = 3")
            .replace(", tier = \"front\"", ""),
    );
    let update = fx.plan().await;
    assert_eq!(
        actions(&update),
        [("k8s.deployment.web".to_owned(), Action::Update)]
    );
    let report = fx.apply(&update).await;
    assert!(report.ok(), "{:?}", failures(&report));
    let web = fx
        .cluster
        .get("apps/v1", "Deployment", "web")
        .await
        .unwrap();
    assert_eq!(web["spec"]["replicas"], 3);
    assert_eq!(web["metadata"]["generation"], 2);
    assert_eq!(
        web["metadata"]["labels"],
        json!({"app": "web"}),
        "a field obp stops applying is removed by server-side apply"
    );
    // The update was exactly one server-side apply, to the Deployment's own path.
    let requests = fx.cluster.requests().await;
    let writes = writes(&requests[before..]);
    assert_eq!(writes.len(), 1, "{}", describe(&writes));
    assert_obp_apply(writes[0], false, 200);
    assert_eq!(
        writes[0]["requestURI"].as_str().unwrap().split('?').next(),
        Some(
            format!(
                "/apis/apps/v1/namespaces/{}/deployments/web",
                fx.cluster.namespace
            )
            .as_str()
        )
    );
    assert!(!fx.plan().await.has_changes());
}

const SHARED_CONFIG: &str = r#"
resource k8s.config_map shared {
  metadata = { name = "shared", namespace = "NS" }
  data = { mode = "ours", extra = "x" }
}
"#;

#[tokio::test]
async fn live_a_conflicting_field_manager_is_reported_and_force_takes_over() {
    let fx = Fixture::new("conflict", SHARED_CONFIG).await;
    fx.cluster
        .apply_as(
            "helm",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": {"mode": "theirs"}}),
        )
        .await;
    let report = fx.apply(&fx.plan().await).await;
    let errors = failures(&report);
    assert_eq!(errors.len(), 1, "{errors:?}");
    for expected in [
        format!("ConfigMap {}/shared", fx.cluster.namespace),
        "`.data.mode` owned by field manager \"helm\"".to_owned(),
        "set `force_conflicts = true`".to_owned(),
    ] {
        assert!(
            errors[0].contains(&expected),
            "{expected:?} not in: {}",
            errors[0]
        );
    }
    let live = fx.cluster.get("v1", "ConfigMap", "shared").await.unwrap();
    assert_eq!(
        live["data"],
        json!({"mode": "theirs"}),
        "nothing was written"
    );
    // One apply without force, refused with 409 Conflict.
    let requests = fx.cluster.requests().await;
    let refused = writes(&requests);
    assert_eq!(refused.len(), 1, "{}", describe(&refused));
    assert_obp_apply(refused[0], false, 409);

    fx.write(", force_conflicts = true", SHARED_CONFIG);
    fx.converge().await;
    let live = fx.cluster.get("v1", "ConfigMap", "shared").await.unwrap();
    assert_eq!(live["data"], json!({"mode": "ours", "extra": "x"}));
    assert!(
        owned_by(&live, "helm").is_empty(),
        "helm lost the field: {live}"
    );
    // `force_conflicts = true` is one apply with `force=true`.
    let requests = fx.cluster.requests().await;
    let forced = writes(&requests);
    assert_eq!(forced.len(), 2, "{}", describe(&forced));
    assert_obp_apply(forced[1], true, 200);
}

const JOBS: &str = r#"
resource k8s.job migrate {
  metadata = { name = "migrate", namespace = "NS" }
  spec = { backoffLimit = 0, template = { spec = { restartPolicy = "Never", containers = [{ name = "m", image = "odoo:18" }] } } }
}
resource k8s.config_map after {
  metadata = { name = "after", namespace = "NS" }
  data = { job = k8s.job.migrate.uid }
}
"#;

/// Waits for the Job to exist, then reports `status` for it as the Job controller would.
async fn finish_job(fx: &Fixture, status: Json) {
    for _ in 0..100 {
        if fx.cluster.get("batch/v1", "Job", "migrate").await.is_some() {
            fx.cluster
                .set_status("batch/v1", "Job", "migrate", status)
                .await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the Job was never created");
}

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn live_a_failed_job_fails_the_apply_with_its_reason() {
    let fx = Fixture::new("job-failed", JOBS).await;
    let plan = fx.plan().await;
    let at = now();
    let (report, ()) = tokio::join!(
        fx.apply(&plan),
        finish_job(
            &fx,
            json!({"startTime": at, "failed": 1, "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastTransitionTime": at},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastTransitionTime": at},
            ]})
        )
    );
    assert_eq!(
        failures(&report),
        [format!("creating `k8s.job.migrate` failed: Job {}/migrate is not ready: the Job failed (BackoffLimitExceeded: Job has reached the specified backoff limit)", fx.cluster.namespace)]
    );
    assert!(fx.cluster.get("v1", "ConfigMap", "after").await.is_none());
}

#[tokio::test]
async fn live_a_completed_job_lets_dependents_go_on() {
    let fx = Fixture::new("job-done", JOBS).await;
    let plan = fx.plan().await;
    let at = now();
    let (report, ()) = tokio::join!(
        fx.apply(&plan),
        finish_job(
            &fx,
            json!({"startTime": at, "completionTime": at, "succeeded": 1, "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": at},
                {"type": "Complete", "status": "True", "lastTransitionTime": at},
            ]})
        )
    );
    assert!(report.ok(), "{:?}", failures(&report));
    let job = fx.cluster.get("batch/v1", "Job", "migrate").await.unwrap();
    let after = fx.cluster.get("v1", "ConfigMap", "after").await.unwrap();
    assert_eq!(after["data"]["job"], job["metadata"]["uid"]);
}

#[tokio::test]
async fn live_destroy_with_background_propagation_deletes_and_waits_until_gone() {
    let both = format!(
        "{SHARED_CONFIG}{}",
        SHARED_CONFIG.replace("shared", "other")
    );
    let fx = Fixture::new("destroy", &both).await;
    fx.write(", propagation_policy = \"Background\"", &both);
    fx.converge().await;
    fx.cluster.delete("v1", "ConfigMap", "shared").await;
    let destroy = fx
        .plan_with(PlanOptions {
            destroy: true,
            ..PlanOptions::default()
        })
        .await;
    assert_eq!(destroy.count(Action::Delete), 2);
    let before = fx.cluster.requests().await.len();
    let report = fx.apply(&destroy).await;
    assert!(report.ok(), "{:?}", failures(&report));
    assert!(fx.cluster.get("v1", "ConfigMap", "other").await.is_none());
    assert!(fx.state().await.resources.is_empty());
    // Both deletes were sent with the configured policy; the one deleted by hand found nothing.
    let requests = fx.cluster.requests().await;
    let deletes = writes(&requests[before..]);
    let mut sent: Vec<_> = deletes
        .iter()
        .map(|d| {
            assert_eq!(d["verb"], "delete");
            assert_eq!(d["requestObject"]["propagationPolicy"], "Background");
            (
                d["objectRef"]["name"].as_str().unwrap(),
                d["responseStatus"]["code"].as_u64().unwrap(),
            )
        })
        .collect();
    sent.sort_unstable();
    assert_eq!(
        sent,
        [("other", 200), ("shared", 404)],
        "{}",
        describe(&deletes)
    );
}

#[tokio::test]
async fn live_refresh_detects_out_of_band_changes_on_managed_fields_only() {
    let fx = Fixture::new("drift", TENANT).await;
    let _controllers = fx.cluster.controllers();
    fx.converge().await;

    fx.cluster
        .merge_as(
            "kubectl-label",
            "v1",
            "ConfigMap",
            "odoo-conf",
            json!({"metadata": {"labels": {"team": "ops"}}}),
        )
        .await;
    assert!(
        !fx.plan().await.has_changes(),
        "a label someone else added is not drift"
    );

    fx.cluster
        .merge_as(
            "kubectl-edit",
            "v1",
            "ConfigMap",
            "odoo-conf",
            json!({"data": {"odoo.conf": "hacked"}}),
        )
        .await;
    let plan = fx.plan().await;
    assert_eq!(plan.drift.len(), 1, "{:?}", plan.drift);
    assert_eq!(
        (plan.drift[0].address.as_str(), plan.drift[0].kind.as_str()),
        ("k8s.config_map.conf", "changed")
    );
    assert_eq!(plan.drift[0].diffs[0].path, "data[\"odoo.conf\"]");
    assert_eq!(
        actions(&plan),
        [("k8s.config_map.conf".to_owned(), Action::Update)]
    );
    // The hand edit made `kubectl-edit` the owner: taking the field back needs force.
    let report = fx.apply(&plan).await;
    let errors = failures(&report);
    assert!(
        errors.len() == 1 && errors[0].contains("\"kubectl-edit\""),
        "{errors:?}"
    );
    fx.write(", force_conflicts = true", TENANT);
    fx.converge().await;
    let conf = fx
        .cluster
        .get("v1", "ConfigMap", "odoo-conf")
        .await
        .unwrap();
    assert_eq!(conf["data"]["odoo.conf"], "[options]\nproxy_mode = True\n");
    assert_eq!(conf["metadata"]["labels"], json!({"team": "ops"}));

    fx.cluster
        .delete("traefik.io/v1alpha1", "Middleware", "headers")
        .await;
    let plan = fx.plan().await;
    assert!(plan
        .drift
        .iter()
        .any(|d| d.address == "k8s.middleware.headers" && d.kind == "deleted"));
    assert_eq!(
        actions(&plan),
        [("k8s.middleware.headers".to_owned(), Action::Create)]
    );
}

#[tokio::test]
async fn live_import_adopts_existing_objects() {
    let fx = Fixture::new(
        "import",
        r#"
resource k8s.config_map legacy {
  metadata = { name = "legacy", namespace = "NS", labels = { app = "odoo" } }
  data = { key = "value" }
}
resource k8s.manifest route {
  api_version = "traefik.io/v1alpha1"
  kind = "IngressRoute"
  metadata = { name = "route", namespace = "NS" }
  spec = { entryPoints = ["websecure"], routes = [{ kind = "Rule", match = "Host(`a.example`)" }] }
}
resource k8s.namespace other { metadata = { name = "NS-other" } }
resource k8s.deployment web {
  metadata = { name = "web", namespace = "NS" }
  spec = { selector = { matchLabels = { app = "web" } }, template = { metadata = { labels = { app = "web" } }, spec = { containers = [{ name = "odoo", image = "odoo:18" }] } } }
}
"#,
    )
    .await;
    fx.cluster.create_namespace().await;
    // Created as `kubectl apply --server-side` would: the server fills in its defaults
    // (strategy, revisionHistoryLimit, the container's terminationMessagePath …), which no
    // field manager owns.
    fx.cluster
        .apply_as(
            "kubectl",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "odoo", "image": "odoo:18"}]}}}}),
        )
        .await;
    Cluster::connect(format!("{}-other", fx.cluster.namespace))
        .await
        .create_namespace()
        .await;
    fx.cluster
        .apply_as(
            "kubectl-create",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "legacy", "labels": {"app": "odoo"}, "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}}, "data": {"key": "value"}}),
        )
        .await;
    fx.cluster
        .apply_as(
            "kubectl-create",
            json!({"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute", "metadata": {"name": "route"}, "spec": {"entryPoints": ["websecure"], "routes": [{"kind": "Rule", "match": "Host(`a.example`)"}]}}),
        )
        .await;
    let ns = fx.cluster.namespace.clone();
    let provider = fx.provider();
    let mut state = fx.state().await;
    for (address, rtype, id) in [
        (
            "k8s.config_map.legacy",
            "k8s.config_map",
            format!("{ns}/legacy"),
        ),
        (
            "k8s.manifest.route",
            "k8s.manifest",
            format!("traefik.io/v1alpha1/IngressRoute/{ns}/route"),
        ),
        (
            "k8s.namespace.other",
            "k8s.namespace",
            format!("{ns}-other"),
        ),
        ("k8s.deployment.web", "k8s.deployment", format!("{ns}/web")),
    ] {
        let recorded = provider
            .import(
                &ResourceRef {
                    order: None,
                    address,
                    rtype,
                },
                &id,
            )
            .await
            .unwrap_or_else(|e| panic!("import of {id} failed: {e}"));
        assert!(recorded.outputs["uid"].is_string());
        state.apply_entry(&JournalEntry::Put {
            address: address.to_owned(),
            resource: ResourceState::new(rtype, "kubernetes", "", recorded, Vec::new()),
        });
    }
    assert_eq!(
        state.resources["k8s.config_map.legacy"].inputs["metadata"],
        json!({"name": "legacy", "namespace": ns, "labels": {"app": "odoo"}}),
        "server fields and tool annotations are not adopted"
    );
    fx.backend.write(&state).await.unwrap();
    let plan = fx.plan().await;
    assert!(
        !plan.has_changes(),
        "imported objects match the configuration: {:?} {:?}",
        actions(&plan),
        plan.changes.iter().map(|c| &c.diffs).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn live_a_kind_the_server_does_not_serve_is_a_clear_error() {
    let fx = Fixture::new(
        "unserved",
        r#"
resource k8s.manifest widget {
  api_version = "example.com/v1"
  kind = "Widget"
  metadata = { name = "w", namespace = "NS" }
}
"#,
    )
    .await;
    let report = fx.apply(&fx.plan().await).await;
    assert_eq!(
        failures(&report),
        ["creating `k8s.manifest.widget` failed: the cluster does not serve kind Widget in API version example.com/v1: install its CustomResourceDefinition (or check `apiVersion`/`kind`) first"]
    );
}

#[tokio::test]
async fn live_readiness_waits_time_out_naming_what_is_missing() {
    let body = r#"
resource k8s.deployment web {
  metadata = { name = "web", namespace = "NS" }
  spec = { replicas = 2, selector = { matchLabels = { app = "web" } }, template = { metadata = { labels = { app = "web" } }, spec = { containers = [{ name = "odoo", image = "odoo:18" }] } } }
}
"#;
    let fx = Fixture::new("readiness", body).await;
    fx.edit(&format!(
        "{}{}",
        provider("").replace("\"2s\"", "\"1s\""),
        body.replace("NS", &fx.cluster.namespace)
    ));
    // Nothing reports the pods: only the controller's first look, one replica ready.
    let plan = fx.plan().await;
    let half_ready = async {
        for _ in 0..100 {
            if fx
                .cluster
                .get("apps/v1", "Deployment", "web")
                .await
                .is_some()
            {
                fx.cluster
                    .set_status("apps/v1", "Deployment", "web", json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 1, "availableReplicas": 1}))
                    .await;
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the Deployment was never created");
    };
    let (report, ()) = tokio::join!(fx.apply(&plan), half_ready);
    assert_eq!(
        failures(&report),
        [format!("creating `k8s.deployment.web` failed: timed out after 1s waiting for Deployment {}/web to be ready: 1 of 2 replicas ready, 1 of 2 replicas available (raise `wait_timeout`, or set `wait = false` on the kubernetes provider not to wait)", fx.cluster.namespace)]
    );
    // The controller catches up: the next apply finds it ready.
    let _controllers = fx.cluster.controllers();
    fx.converge().await;
}

#[tokio::test]
async fn live_claims_wait_for_binding_unless_their_class_waits_for_a_consumer() {
    let fx = Fixture::new(
        "claims",
        r#"
resource k8s.persistent_volume_claim late {
  metadata = { name = "late", namespace = "NS" }
  spec = { storageClassName = "NS-local", accessModes = ["ReadWriteOnce"], resources = { requests = { storage = "1Gi" } } }
}
resource k8s.persistent_volume_claim stuck {
  metadata = { name = "stuck", namespace = "NS" }
  spec = { storageClassName = "NS-fast", accessModes = ["ReadWriteOnce"], resources = { requests = { storage = "1Gi" } } }
}
"#,
    )
    .await;
    fx.edit(
        &std::fs::read_to_string(fx.dir.path().join("stack.obp"))
            .unwrap()
            .replace("\"2s\"", "\"500ms\""),
    );
    // Storage classes are cluster-wide: named after the test's namespace.
    for (class, mode) in [("local", "WaitForFirstConsumer"), ("fast", "Immediate")] {
        fx.cluster
            .apply_as(
                "kubectl",
                json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": format!("{}-{class}", fx.cluster.namespace)}, "provisioner": "example.com/none", "volumeBindingMode": mode}),
            )
            .await;
    }
    // No provisioner runs: both claims stay Pending, as the server creates them.
    let report = fx.apply(&fx.plan().await).await;
    assert_eq!(
        report.succeeded,
        [(
            "k8s.persistent_volume_claim.late".to_owned(),
            Action::Create
        )]
    );
    assert_eq!(
        failures(&report),
        [format!("creating `k8s.persistent_volume_claim.stuck` failed: timed out after 500ms waiting for PersistentVolumeClaim {}/stuck to be ready: the claim is Pending, not Bound (raise `wait_timeout`, or set `wait = false` on the kubernetes provider not to wait)", fx.cluster.namespace)]
    );
}

#[tokio::test]
async fn live_a_field_the_crd_schema_does_not_declare_is_refused_by_the_server() {
    let fx = Fixture::new(
        "schema",
        r#"
resource k8s.middleware headers {
  metadata = { name = "headers", namespace = "NS" }
  spec = { headers = { stsSecond = 60 } }
}
"#,
    )
    .await;
    let report = fx.apply(&fx.plan().await).await;
    let errors = failures(&report);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains(&format!(
            "applying Middleware {}/headers",
            fx.cluster.namespace
        )) && errors[0].contains(".spec.headers.stsSecond: field not declared in schema"),
        "{errors:?}"
    );
    assert!(fx
        .cluster
        .get("traefik.io/v1alpha1", "Middleware", "headers")
        .await
        .is_none());
}

#[tokio::test]
async fn live_foreground_deletion_waits_until_the_dependents_are_gone() {
    let fx = Fixture::new("foreground", SHARED_CONFIG).await;
    fx.converge().await;
    let owner = fx.cluster.get("v1", "ConfigMap", "shared").await.unwrap();
    // A dependent, as a controller makes one: the garbage collector deletes it first.
    fx.cluster
        .apply_as(
            "test-controller",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dependent", "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "shared", "uid": owner["metadata"]["uid"], "blockOwnerDeletion": true}
            ]}}),
        )
        .await;
    fx.edit(
        &std::fs::read_to_string(fx.dir.path().join("stack.obp"))
            .unwrap()
            .replace("\"2s\"", "\"60s\""),
    );
    let destroy = fx
        .plan_with(PlanOptions {
            destroy: true,
            refresh: true,
            ..PlanOptions::default()
        })
        .await;
    let report = fx.apply(&destroy).await;
    assert!(report.ok(), "{:?}", failures(&report));
    // Foreground: the owner is gone only after its dependent.
    assert!(fx
        .cluster
        .get("v1", "ConfigMap", "dependent")
        .await
        .is_none());
    assert!(fx.cluster.get("v1", "ConfigMap", "shared").await.is_none());
}

#[tokio::test]
async fn live_destroy_deletes_a_namespace_with_everything_in_it() {
    let fx = Fixture::new("teardown", TENANT).await;
    let _controllers = fx.cluster.controllers();
    fx.converge().await;
    fx.edit(
        &std::fs::read_to_string(fx.dir.path().join("stack.obp"))
            .unwrap()
            .replace("\"2s\"", "\"120s\""),
    );
    let destroy = fx
        .plan_with(PlanOptions {
            destroy: true,
            refresh: true,
            ..PlanOptions::default()
        })
        .await;
    assert_eq!(destroy.count(Action::Delete), 7);
    let before = fx.cluster.requests().await.len();
    let report = fx.apply(&destroy).await;
    assert!(report.ok(), "{:?}", failures(&report));
    // The namespace controller emptied and removed the namespace before obp saw it gone.
    assert!(fx
        .cluster
        .get("v1", "Namespace", &fx.cluster.namespace)
        .await
        .is_none());
    assert!(fx.state().await.resources.is_empty());

    // One delete per object, each of an object that was there, with the Foreground policy;
    // dependents before what they reference, everything before its namespace.
    let requests = fx.cluster.requests().await;
    let deletes = writes(&requests[before..]);
    assert_eq!(deletes.len(), 7, "{}", describe(&deletes));
    for delete in &deletes {
        assert_eq!(delete["verb"], "delete", "{}", describe(&deletes));
        assert!(
            matches!(delete["responseStatus"]["code"].as_u64(), Some(200 | 202)),
            "{}",
            describe(&deletes)
        );
        assert_eq!(
            delete["requestObject"]["propagationPolicy"],
            "Foreground",
            "{}",
            describe(&deletes)
        );
    }
    let position = |resource: &str| {
        deletes
            .iter()
            .position(|d| d["objectRef"]["resource"] == resource)
            .unwrap_or_else(|| panic!("no delete of {resource}:\n{}", describe(&deletes)))
    };
    assert!(
        position("deployments") < position("configmaps"),
        "{}",
        describe(&deletes)
    );
    for resource in [
        "deployments",
        "configmaps",
        "externalsecrets",
        "middlewares",
        "persistentvolumeclaims",
        "certificates",
    ] {
        assert!(
            position(resource) < position("namespaces"),
            "{resource} are deleted before their namespace:\n{}",
            describe(&deletes)
        );
    }
}

#[tokio::test]
async fn live_a_secret_outside_external_secret_data_is_refused_before_any_request() {
    let fx = Fixture::new(
        "secret",
        r#"
resource k8s.config_map leak {
  metadata = { name = "leak", namespace = "NS" }
  data = { password = secret("tenants/acme/db") }
}
"#,
    )
    .await;
    let config = fx.config();
    let providers = fx.providers(&config);
    let Err(diagnostics) = plan(
        &config,
        State::default(),
        &providers,
        &PlanOptions {
            refresh: true,
            ..PlanOptions::default()
        },
    )
    .await
    else {
        panic!("a secret in a ConfigMap must be refused");
    };
    assert!(
        diagnostics[0]
            .message
            .contains("secret references cannot be written into a manifest"),
        "{:?}",
        diagnostics[0].message
    );
    let requests = fx.cluster.requests().await;
    assert!(
        requests.is_empty(),
        "nothing reached the cluster:\n{}",
        describe(&requests.iter().collect::<Vec<_>>())
    );
}

/// The provider's options are checked when the stack loads, before any cluster is contacted
/// (this one needs no server).
#[test]
fn provider_options_are_checked_when_the_stack_loads() {
    let stack = Stack::new();
    stack.edit(&format!(
        "{}{SHARED_CONFIG}",
        provider(", propagaton_policy = \"Orphan\"")
    ));
    let config = stack.config();
    let Err(diagnostics) = obp_providers::configure(&config, stack.dir.path()) else {
        panic!("an unknown option must be refused");
    };
    assert!(
        diagnostics[0]
            .message
            .contains("unknown option `propagaton_policy`"),
        "{:?}",
        diagnostics[0].message
    );
}

/// The test server serves every kind obp knows, at obp's API version and with the same scope.
#[tokio::test]
async fn live_the_server_serves_every_kind_obp_knows() {
    let client = client(Some(TESTS_CONTEXT)).await;
    for kind in KINDS.iter().filter(|k| k.name != "manifest") {
        let (group, version) = kind
            .api_version
            .rsplit_once('/')
            .unwrap_or(("", kind.api_version));
        let (resource, capabilities) =
            discovery::pinned_kind(&client, &GroupVersionKind::gvk(group, version, kind.kind))
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "the server does not serve {} {}: {e}",
                        kind.kind, kind.api_version
                    )
                });
        assert_eq!(resource.api_version, kind.api_version, "{}", kind.kind);
        assert_eq!(
            capabilities.scope == Scope::Namespaced,
            kind.namespaced,
            "{}",
            kind.kind
        );
    }
}

/// The manifests of one rendered example tree (an insta snapshot of `tests/examples.rs` or
/// `tests/examples_live.rs`, which keep them in step with the blueprints): `(file, object)`.
fn tree_manifests(snapshot: &std::path::Path) -> Vec<(String, Json)> {
    let text = std::fs::read_to_string(snapshot).unwrap();
    let mut manifests = Vec::new();
    for section in text.split("\n=== ").skip(1) {
        let (file, body) = section.split_once('\n').unwrap();
        if !file.ends_with(".yaml") {
            continue;
        }
        for document in serde_norway::Deserializer::from_str(body) {
            let object: Json = serde::Deserialize::deserialize(document)
                .unwrap_or_else(|e| panic!("{file} in {}: {e}", snapshot.display()));
            if object["apiVersion"].is_string() && object["kind"] != "Kustomization" {
                manifests.push((file.to_owned(), object));
            }
        }
    }
    manifests
}

#[tokio::test]
async fn live_every_example_render_is_accepted_by_the_api_server() {
    let snapshots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/snapshots");
    let mut trees: Vec<_> = std::fs::read_dir(&snapshots)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("examples") && name.ends_with("_tree.snap")
        })
        .collect();
    trees.sort();
    assert!(trees.len() >= 7, "example trees: {trees:?}");
    let cluster = Cluster::connect(String::new()).await;
    let mut refused = Vec::new();
    let mut applied = 0;
    for tree in &trees {
        // The examples share namespace names: each tree gets its own copies.
        let suffix = unique_namespace("x").rsplit('-').next().unwrap().to_owned();
        let mut manifests = tree_manifests(tree);
        manifests.sort_by_key(|(_, object)| object["kind"] != "Namespace");
        for (file, mut object) in manifests {
            if object["kind"] == "Namespace" {
                let name = object["metadata"]["name"].as_str().unwrap();
                object["metadata"]["name"] = json!(format!("{name}-{suffix}"));
            }
            let namespace = object["metadata"]["namespace"]
                .as_str()
                .map(|n| format!("{n}-{suffix}"));
            if let Some(namespace) = &namespace {
                object["metadata"]["namespace"] = json!(namespace);
            }
            let api_version = object["apiVersion"].as_str().unwrap();
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let kind = object["kind"].as_str().unwrap();
            let gvk = GroupVersionKind::gvk(group, version, kind);
            let (resource, _) = match discovery::pinned_kind(&cluster.client, &gvk).await {
                Ok(found) => found,
                Err(e) => {
                    refused.push(format!(
                        "{}: {file}: {kind} {api_version} is not served: {e}",
                        tree.display()
                    ));
                    continue;
                }
            };
            let api: Api<DynamicObject> = match &namespace {
                Some(namespace) => {
                    Api::namespaced_with(cluster.client.clone(), namespace, &resource)
                }
                None => Api::all_with(cluster.client.clone(), &resource),
            };
            let name = object["metadata"]["name"].as_str().unwrap().to_owned();
            let params =
                PatchParams::apply("obp").validation(kube::api::ValidationDirective::Strict);
            match api.patch(&name, &params, &Patch::Apply(&object)).await {
                Ok(_) => applied += 1,
                Err(e) => refused.push(format!("{}: {file}: {e}", tree.display())),
            }
        }
    }
    assert!(
        refused.is_empty(),
        "refused by the API server:\n{}",
        refused.join("\n")
    );
    assert!(applied > 200, "only {applied} objects applied");
}

#[tokio::test]
async fn live_the_context_option_picks_the_cluster() {
    let fx = Fixture::new("context", SHARED_CONFIG).await;
    // The test server's kubeconfig plus a current context whose server does not answer.
    let path = fx.dir.path().join("kubeconfig");
    let mut kubeconfig: Json =
        serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let reachable = kubeconfig["current-context"].as_str().unwrap().to_owned();
    kubeconfig["clusters"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "nowhere", "cluster": {"server": "https://127.0.0.1:1"}}));
    let user = kubeconfig["users"][0]["name"].clone();
    kubeconfig["contexts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "unreachable", "context": {"cluster": "nowhere", "user": user}}));
    kubeconfig["current-context"] = json!("unreachable");
    std::fs::write(&path, serde_norway::to_string(&kubeconfig).unwrap()).unwrap();

    fx.write(&format!(", context = \"{reachable}\""), SHARED_CONFIG);
    fx.converge().await;
    assert!(fx.cluster.get("v1", "ConfigMap", "shared").await.is_some());

    // Without it, the kubeconfig's current context is used, and cannot be reached: reading
    // what state holds fails the plan, naming the resource (E0720), before anything is applied.
    fx.write("", &SHARED_CONFIG.replace("shared", "elsewhere"));
    let errors = fx
        .try_plan_with(PlanOptions {
            refresh: true,
            ..PlanOptions::default()
        })
        .await
        .expect_err("a plan that cannot read its resources must fail");
    assert!(
        errors.iter().any(|d| d.code == "E0720"
            && d.message.contains("k8s.config_map.shared")
            && d.message.contains("discovering ConfigMap in v1")),
        "{errors:?}"
    );
    // Planned from state alone, the apply goes to that context and fails there.
    let report = fx
        .apply(
            &fx.plan_with(PlanOptions {
                refresh: false,
                ..PlanOptions::default()
            })
            .await,
        )
        .await;
    let errors = failures(&report);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("applying ConfigMap") || e.contains("discovering ConfigMap in v1")),
        "{errors:?}"
    );
    assert!(fx
        .cluster
        .get("v1", "ConfigMap", "elsewhere")
        .await
        .is_none());
}

/// Refresh reads a kind's objects with one LIST across namespaces instead of one GET per
/// object (issue 20), and still finds the one object changed by hand. PodTemplates: a kind no
/// other test and no running controller reads one by one, so the server's counts are ours.
#[tokio::test]
async fn live_refresh_lists_each_kind_once_instead_of_reading_each_object() {
    const TEMPLATES: &str = r#"
resource k8s.manifest template for each ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "t10", "t11", "t12"] {
  api_version = "v1"
  kind = "PodTemplate"
  metadata = { name = each.key, namespace = "NS", labels = { tier = "web" } }
  template = { spec = { containers = [{ name = "odoo", image = "odoo:17" }] } }
}
"#;
    let fx = Fixture::new("batch", TEMPLATES).await;
    fx.converge().await;
    let (gets, lists) = fx.cluster.request_counts("podtemplates").await;
    let plan = fx.plan().await;
    let (gets_after, lists_after) = fx.cluster.request_counts("podtemplates").await;
    assert!(
        !plan.has_changes() && plan.drift.is_empty(),
        "{:?}",
        plan.drift
    );
    assert_eq!(
        (gets_after - gets, lists_after - lists),
        (0, 1),
        "12 objects of one kind: one LIST, no GET"
    );

    fx.cluster
        .merge_as(
            "kubectl-edit",
            "v1",
            "PodTemplate",
            "t7",
            json!({"metadata": {"labels": {"tier": "batch"}}}),
        )
        .await;
    let plan = fx.plan().await;
    let drifted: Vec<&str> = plan.drift.iter().map(|d| d.address.as_str()).collect();
    assert_eq!(drifted, [r#"k8s.manifest.template["t7"]"#]);

    // Credentials that may read PodTemplates in this namespace only (a tenant's role): the
    // LIST across namespaces is refused, and each object is read on its own instead.
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": { "name": "reader" },
        "rules": [{ "apiGroups": [""], "resources": ["podtemplates"], "verbs": ["get", "list"] }]
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": { "name": "reader" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "obp-reader" }]
    });
    fx.cluster.apply_as("test-admin", role).await;
    fx.cluster.apply_as("test-admin", binding).await;
    let mut kubeconfig = Kubeconfig::read_from(kubeconfig_path()).unwrap();
    for user in &mut kubeconfig.auth_infos {
        if let Some(auth) = &mut user.auth_info {
            auth.impersonate = Some("obp-reader".to_owned());
        }
    }
    std::fs::write(
        fx.dir.path().join("kubeconfig"),
        serde_norway::to_string(&kubeconfig).unwrap(),
    )
    .unwrap();
    let (gets, _) = fx.cluster.request_counts("podtemplates").await;
    let plan = fx.plan().await;
    let (gets_after, _) = fx.cluster.request_counts("podtemplates").await;
    let drifted: Vec<&str> = plan.drift.iter().map(|d| d.address.as_str()).collect();
    assert_eq!(drifted, [r#"k8s.manifest.template["t7"]"#]);
    assert_eq!(
        gets_after - gets,
        12,
        "one GET per object when listing is refused"
    );
}

#[path = "releases.rs"]
mod releases;

#[path = "rules.rs"]
mod rules;
