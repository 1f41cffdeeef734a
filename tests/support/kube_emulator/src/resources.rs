//! The API resources the emulator serves and its discovery documents (`/api`, `/apis`,
//! `/api/v1`, `/apis/{group}/{version}`): the built-in kinds obp knows plus the CRD groups
//! of cert-manager, external-secrets and Traefik, as an installed cluster would list them.

use serde_json::{json, Value as Json};

/// One served resource (a REST collection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceType {
    /// Empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    /// The URL name: `deployments`.
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    /// Has a `/status` subresource: writes to the main resource leave `status` alone.
    pub status: bool,
}

impl ResourceType {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, as the server names it in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

macro_rules! resources {
    ($($group:literal $version:literal $plural:literal $singular:literal $kind:literal $namespaced:literal $status:literal;)*) => {
        /// Every resource served, in discovery order.
        pub static RESOURCES: &[ResourceType] = &[
            $(ResourceType { group: $group, version: $version, plural: $plural, singular: $singular, kind: $kind, namespaced: $namespaced, status: $status },)*
        ];
    };
}

resources! {
    "" "v1" "namespaces" "namespace" "Namespace" false true;
    "" "v1" "configmaps" "configmap" "ConfigMap" true false;
    "" "v1" "secrets" "secret" "Secret" true false;
    "" "v1" "services" "service" "Service" true true;
    "" "v1" "serviceaccounts" "serviceaccount" "ServiceAccount" true false;
    "" "v1" "persistentvolumeclaims" "persistentvolumeclaim" "PersistentVolumeClaim" true true;
    "" "v1" "limitranges" "limitrange" "LimitRange" true false;
    "" "v1" "resourcequotas" "resourcequota" "ResourceQuota" true true;
    "" "v1" "pods" "pod" "Pod" true true;
    "apps" "v1" "deployments" "deployment" "Deployment" true true;
    "apps" "v1" "statefulsets" "statefulset" "StatefulSet" true true;
    "batch" "v1" "jobs" "job" "Job" true true;
    "batch" "v1" "cronjobs" "cronjob" "CronJob" true true;
    "autoscaling" "v2" "horizontalpodautoscalers" "horizontalpodautoscaler" "HorizontalPodAutoscaler" true true;
    "networking.k8s.io" "v1" "networkpolicies" "networkpolicy" "NetworkPolicy" true false;
    "networking.k8s.io" "v1" "ingresses" "ingress" "Ingress" true true;
    "policy" "v1" "poddisruptionbudgets" "poddisruptionbudget" "PodDisruptionBudget" true true;
    "storage.k8s.io" "v1" "storageclasses" "storageclass" "StorageClass" false false;
    "apiextensions.k8s.io" "v1" "customresourcedefinitions" "customresourcedefinition" "CustomResourceDefinition" false true;
    "cert-manager.io" "v1" "certificates" "certificate" "Certificate" true true;
    "cert-manager.io" "v1" "issuers" "issuer" "Issuer" true true;
    "cert-manager.io" "v1" "clusterissuers" "clusterissuer" "ClusterIssuer" false true;
    "external-secrets.io" "v1beta1" "externalsecrets" "externalsecret" "ExternalSecret" true true;
    "external-secrets.io" "v1beta1" "secretstores" "secretstore" "SecretStore" true true;
    "external-secrets.io" "v1beta1" "clustersecretstores" "clustersecretstore" "ClusterSecretStore" false true;
    "traefik.io" "v1alpha1" "ingressroutes" "ingressroute" "IngressRoute" true false;
    "traefik.io" "v1alpha1" "middlewares" "middleware" "Middleware" true false;
}

/// The resource served at `group`/`version`/`plural`.
pub fn by_plural(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource of a kind (kinds are unique in this table).
pub fn by_kind(kind: &str) -> Option<&'static ResourceType> {
    RESOURCES.iter().find(|r| r.kind == kind)
}

/// Groups other than core, in order of first appearance.
fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

const VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// `GET /api`: the core group's versions.
pub fn core_versions() -> Json {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    })
}

fn group_json(group: &str, version: &str) -> Json {
    let gv = format!("{group}/{version}");
    json!({
        "name": group,
        "versions": [{"groupVersion": gv, "version": version}],
        "preferredVersion": {"groupVersion": gv, "version": version},
    })
}

/// `GET /apis`: every group.
pub fn group_list() -> Json {
    let groups: Vec<Json> = groups()
        .into_iter()
        .map(|(g, v)| group_json(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/{group}`.
pub fn group(group: &str) -> Option<Json> {
    let (g, v) = groups().into_iter().find(|(g, _)| *g == group)?;
    let mut doc = group_json(g, v);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// `GET /api/v1` or `GET /apis/{group}/{version}`; `None` for a version not served.
pub fn resource_list(group: &str, version: &str) -> Option<Json> {
    let served: Vec<&ResourceType> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for r in served {
        resources.push(json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": VERBS,
        }));
        if r.status {
            resources.push(json!({
                "name": format!("{}/status", r.plural),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}
