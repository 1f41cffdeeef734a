//! The Kubernetes kinds obp knows by resource type (`k8s.deployment` …), shared by the GitOps
//! and Kubernetes providers, and their validation against the k8s-openapi types: a manifest
//! must deserialise into its type and serialise back without losing a field, so misspelled
//! or misplaced fields are caught before anything is written.

use k8s_openapi::api::{apps, autoscaling, batch, core, networking, policy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use obp_engine::provider::{ListKey, ReplaceOn};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value as Json;

/// One problem in a manifest, at a dotted path such as `spec.template.spec.containers[0].image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

type Check = fn(&Json) -> Vec<Problem>;

/// A Kubernetes kind known by resource type.
pub struct Kind {
    /// The part after `k8s.`, such as `deployment`.
    pub name: &'static str,
    pub api_version: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub check: Check,
    pub doc: &'static str,
}

macro_rules! kinds {
    ($($name:literal => $api:literal, $kind:literal, $namespaced:literal, $check:expr, $doc:literal;)*) => {
        /// Every kind, sorted by resource type.
        pub static KINDS: &[Kind] = &[
            $(Kind { name: $name, api_version: $api, kind: $kind, namespaced: $namespaced, check: $check, doc: $doc },)*
        ];
    };
}

kinds! {
    "certificate" => "cert-manager.io/v1", "Certificate", true, metadata_only, "a cert-manager Certificate";
    "config_map" => "v1", "ConfigMap", true, typed::<core::v1::ConfigMap>, "a ConfigMap";
    "cron_job" => "batch/v1", "CronJob", true, typed::<batch::v1::CronJob>, "a CronJob";
    "deployment" => "apps/v1", "Deployment", true, typed::<apps::v1::Deployment>, "a Deployment";
    "external_secret" => "external-secrets.io/v1", "ExternalSecret", true, metadata_only, "an ExternalSecret: `data` maps keys to secret(\"path\") references (or `{ secret, property }`), `data_from` reads whole secrets, `template` shapes the Secret";
    "horizontal_pod_autoscaler" => "autoscaling/v2", "HorizontalPodAutoscaler", true, typed::<autoscaling::v2::HorizontalPodAutoscaler>, "a HorizontalPodAutoscaler";
    "ingress_route" => "traefik.io/v1alpha1", "IngressRoute", true, metadata_only, "a Traefik IngressRoute";
    "job" => "batch/v1", "Job", true, typed::<batch::v1::Job>, "a Job";
    "limit_range" => "v1", "LimitRange", true, typed::<core::v1::LimitRange>, "a LimitRange";
    "manifest" => "", "", true, metadata_only, "any object: set `api_version` and `kind`";
    "middleware" => "traefik.io/v1alpha1", "Middleware", true, metadata_only, "a Traefik Middleware";
    "namespace" => "v1", "Namespace", false, typed::<core::v1::Namespace>, "a Namespace";
    "network_policy" => "networking.k8s.io/v1", "NetworkPolicy", true, typed::<networking::v1::NetworkPolicy>, "a NetworkPolicy";
    "persistent_volume_claim" => "v1", "PersistentVolumeClaim", true, typed::<core::v1::PersistentVolumeClaim>, "a PersistentVolumeClaim";
    "pod_disruption_budget" => "policy/v1", "PodDisruptionBudget", true, typed::<policy::v1::PodDisruptionBudget>, "a PodDisruptionBudget";
    "resource_quota" => "v1", "ResourceQuota", true, typed::<core::v1::ResourceQuota>, "a ResourceQuota";
    "service" => "v1", "Service", true, typed::<core::v1::Service>, "a Service";
    "service_account" => "v1", "ServiceAccount", true, typed::<core::v1::ServiceAccount>, "a ServiceAccount";
    "stateful_set" => "apps/v1", "StatefulSet", true, typed::<apps::v1::StatefulSet>, "a StatefulSet";
}

/// The kind for resource type `k8s.NAME`.
pub fn by_type(rtype: &str) -> Option<&'static Kind> {
    let name = rtype.strip_prefix("k8s.")?;
    KINDS.iter().find(|k| k.name == name)
}

/// The fields the API server refuses to change on an existing object of this kind
/// (`ValidateImmutableField` and friends in k8s.io/kubernetes `pkg/apis/*/validation`, v1.37):
/// a change to one of them is planned as a replacement, not an update the server would refuse.
/// Names and namespaces are not listed: a new name is a new object, which update already
/// handles by creating it and deleting the old one.
pub fn replace_on(kind: &Kind) -> Vec<ReplaceOn> {
    let paths: &[&str] = match kind.name {
        // The pod template too: a Job runs it once; a new template is a new run.
        "job" => &[
            "spec.selector",
            "spec.template",
            "spec.completions",
            "spec.completionMode",
            "spec.podFailurePolicy",
            "spec.backoffLimitPerIndex",
            "spec.managedBy",
            "spec.successPolicy",
        ],
        "deployment" => &["spec.selector"],
        "stateful_set" => &[
            "spec.selector",
            "spec.volumeClaimTemplates",
            "spec.serviceName",
            "spec.podManagementPolicy",
        ],
        // A claim's spec is frozen but for its requests (which may only grow) and its
        // volume attributes class.
        "persistent_volume_claim" => &[
            "spec.accessModes",
            "spec.selector",
            "spec.storageClassName",
            "spec.volumeName",
            "spec.volumeMode",
            "spec.dataSource",
            "spec.dataSourceRef",
        ],
        "service" => &[
            "spec.clusterIP",
            "spec.clusterIPs",
            "spec.loadBalancerClass",
        ],
        "config_map" => {
            return ["immutable", "data", "binaryData"]
                .into_iter()
                .map(|path| ReplaceOn::once("immutable", path))
                .collect()
        }
        _ => &[],
    };
    paths.iter().map(|path| ReplaceOn::path(path)).collect()
}

/// The strategic merge keys (`patchMergeKey` in k8s.io/api) of the lists whose elements have
/// no `name`, so that a plan diff shows a changed port or mount, not the whole list: a
/// container's `ports` by `containerPort`, a Service's by `port` (tried in this order; a list
/// where no key identifies every element is diffed whole), mounts by path, host aliases by IP.
pub static LIST_KEYS: &[ListKey] = &[
    ListKey::new("ports", "containerPort"),
    ListKey::new("ports", "port"),
    ListKey::new("volumeMounts", "mountPath"),
    ListKey::new("volumeDevices", "devicePath"),
    ListKey::new("hostAliases", "ip"),
    ListKey::new("conditions", "type"),
    ListKey::new("topologySpreadConstraints", "topologyKey"),
];

/// Deserialises into `T` and back; reports type errors and fields the type does not have.
fn typed<T: DeserializeOwned + Serialize>(manifest: &Json) -> Vec<Problem> {
    let parsed: Result<T, _> = serde_path_to_error::deserialize(manifest.clone());
    match parsed {
        Err(error) => vec![Problem {
            path: clean_path(&error.path().to_string()),
            message: error.inner().to_string(),
        }],
        Ok(object) => match serde_json::to_value(&object) {
            Ok(back) => {
                let mut problems = Vec::new();
                lost_fields(manifest, &back, "", &mut problems);
                problems
            }
            Err(error) => vec![Problem {
                path: String::new(),
                message: error.to_string(),
            }],
        },
    }
}

/// Custom resources: only `metadata` has a known schema.
fn metadata_only(manifest: &Json) -> Vec<Problem> {
    let Some(metadata) = manifest.get("metadata") else {
        return vec![Problem {
            path: "metadata".to_owned(),
            message: "missing `metadata`".to_owned(),
        }];
    };
    typed::<ObjectMeta>(metadata)
        .into_iter()
        .map(|p| Problem {
            path: join("metadata", &p.path),
            message: p.message,
        })
        .collect()
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (_, true) => prefix.to_owned(),
        _ if path.starts_with('[') => format!("{prefix}{path}"),
        _ => format!("{prefix}.{path}"),
    }
}

fn clean_path(path: &str) -> String {
    if path == "." {
        String::new()
    } else {
        path.to_owned()
    }
}

/// Fields in `input` that did not survive the round trip through the typed object.
fn lost_fields(input: &Json, back: &Json, path: &str, out: &mut Vec<Problem>) {
    match (input, back) {
        (Json::Object(a), Json::Object(b)) => {
            for (key, value) in a {
                let here = join(path, key);
                match b.get(key) {
                    Some(other) => lost_fields(value, other, &here, out),
                    None if value.is_null() => {}
                    None => out.push(Problem {
                        path: here,
                        message: format!("unknown field `{key}`"),
                    }),
                }
            }
        }
        (Json::Array(a), Json::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                lost_fields(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Whether `name` is a DNS-1123 subdomain (what Kubernetes accepts for most names): it can
/// never contain `/` or `..`, so it is also safe as a file name.
/// That is the language's `Hostname` rule without its `*.` wildcard.
pub fn is_dns_subdomain(name: &str) -> bool {
    !name.starts_with("*.") && obp_lang::types::is_hostname(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_are_sorted_and_unique() {
        for pair in KINDS.windows(2) {
            assert!(pair[0].name < pair[1].name);
        }
    }

    #[test]
    fn misspelled_and_mistyped_fields_are_found() {
        let deployment = by_type("k8s.deployment").unwrap();
        let manifest = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {}, "template": {"spec": {"containers": [{"name": "odoo", "imagePullPolcy": "Always"}]}}}
        });
        let problems = (deployment.check)(&manifest);
        assert_eq!(
            problems,
            [Problem {
                path: "spec.template.spec.containers[0].imagePullPolcy".into(),
                message: "unknown field `imagePullPolcy`".into()
            }]
        );
        let wrong_type = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": "two", "selector": {}, "template": {}}});
        let problems = (deployment.check)(&wrong_type);
        assert_eq!(problems[0].path, "spec.replicas");
    }

    #[test]
    fn names_that_could_escape_a_directory_are_not_subdomains() {
        assert!(is_dns_subdomain("odoo-web.acme"));
        for bad in ["../../etc", "a/b", "..", "", "A", "-a", "*.acme"] {
            assert!(!is_dns_subdomain(bad), "{bad}");
        }
    }
}
