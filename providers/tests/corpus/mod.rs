//! Manifests that are valid but for one field, and the rule (code and path) that field
//! breaks: the API server's rules as obp checks them at plan time. The same list can be sent
//! to a real kube-apiserver (each mutated manifest must be refused with 422 Invalid, each base
//! manifest accepted), so obp's port of the rules and the server cannot drift apart unseen.

#![allow(dead_code)]

use serde_json::{json, Value as Json};

/// One defect: `value` written at JSON `pointer` of the base manifest `base`, which
/// obp must report with `code` at the dotted `path`.
pub struct Defect {
    pub base: &'static str,
    pub pointer: &'static str,
    pub value: Json,
    pub code: &'static str,
    pub path: &'static str,
}

/// Complete objects the API server accepts, by name.
pub fn bases() -> Vec<(&'static str, Json)> {
    let pod = json!({
        "containers": [{
            "name": "odoo",
            "image": "odoo:17.0",
            "ports": [{"name": "http", "containerPort": 8069}],
            "env": [{"name": "PGHOST", "value": "db"}],
            "readinessProbe": {"httpGet": {"path": "/web/health", "port": "http"}},
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
            "volumeMounts": [{"name": "config", "mountPath": "/etc/odoo"}]
        }],
        "volumes": [{"name": "config", "configMap": {"name": "odoo-config"}}]
    });
    vec![
        (
            "namespace",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "odoo-acme"}}),
        ),
        (
            "config_map",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "odoo-config", "namespace": "odoo-acme", "labels": {"app.kubernetes.io/name": "odoo"}}, "data": {"odoo.conf": "[options]\n"}}),
        ),
        (
            "service",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "odoo-acme", "namespace": "odoo-acme"},
            "spec": {"selector": {"app": "odoo"}, "ports": [{"name": "http", "port": 8069, "targetPort": "http"}, {"name": "websocket", "port": 8072, "targetPort": 8072}]}}),
        ),
        (
            "deployment",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "odoo-acme-web", "namespace": "odoo-acme"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "odoo"}}, "template": {"metadata": {"labels": {"app": "odoo"}}, "spec": pod.clone()}}}),
        ),
        (
            "cron_job",
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "odoo-acme-backup", "namespace": "odoo-acme"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "backup", "image": "tools:1"}]}}}}}}),
        ),
        (
            "network_policy",
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "allow-egress-db", "namespace": "odoo-acme"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "10.20.0.0/24", "except": ["10.20.0.128/25"]}}], "ports": [{"protocol": "TCP", "port": 5432}]}]}}),
        ),
        (
            "resource_quota",
            json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "odoo-quota", "namespace": "odoo-acme"},
            "spec": {"hard": {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "20"}}}),
        ),
    ]
}

/// One defect per rule obp ports from the API server.
pub fn defects() -> Vec<Defect> {
    let d = |base, pointer, value: Json, code, path| Defect {
        base,
        pointer,
        value,
        code,
        path,
    };
    let long = |n: usize| Json::String("a".repeat(n));
    vec![
        d(
            "namespace",
            "/metadata/name",
            json!("odoo.acme"),
            "E0710",
            "metadata.name",
        ),
        d(
            "namespace",
            "/metadata/name",
            json!("kube-system"),
            "E0711",
            "metadata.name",
        ),
        d(
            "config_map",
            "/metadata/name",
            json!("Odoo_Config"),
            "E0710",
            "metadata.name",
        ),
        d(
            "config_map",
            "/metadata/namespace",
            json!("odoo.acme"),
            "E0710",
            "metadata.namespace",
        ),
        d(
            "config_map",
            "/metadata/labels/tier",
            json!("web tier"),
            "E0710",
            "metadata.labels.tier",
        ),
        d(
            "config_map",
            "/metadata/labels/tier",
            long(64),
            "E0710",
            "metadata.labels.tier",
        ),
        d("config_map", "/data/a~1b", json!("x"), "E0710", "data.a/b"),
        d(
            "service",
            "/metadata/name",
            json!("odoo.acme"),
            "E0710",
            "metadata.name",
        ),
        d(
            "service",
            "/spec/ports/0/port",
            json!(70000),
            "E0714",
            "spec.ports[0].port",
        ),
        d(
            "service",
            "/spec/ports/0/name",
            json!("Web_HTTP"),
            "E0710",
            "spec.ports[0].name",
        ),
        d(
            "service",
            "/spec/ports/1/targetPort",
            json!("odoo-websocket-port"),
            "E0710",
            "spec.ports[1].targetPort",
        ),
        d(
            "deployment",
            "/spec/template/spec/containers/0/name",
            json!("Odoo_Web"),
            "E0710",
            "spec.template.spec.containers[0].name",
        ),
        d(
            "deployment",
            "/spec/template/spec/containers/0/ports/0/name",
            json!("odoo-http-port-1"),
            "E0710",
            "spec.template.spec.containers[0].ports[0].name",
        ),
        d(
            "deployment",
            "/spec/template/spec/containers/0/ports/0/containerPort",
            json!(0),
            "E0714",
            "spec.template.spec.containers[0].ports[0].containerPort",
        ),
        d(
            "deployment",
            "/spec/template/spec/containers/0/env/0/name",
            json!("PG=HOST"),
            "E0710",
            "spec.template.spec.containers[0].env[0].name",
        ),
        d(
            "deployment",
            "/spec/template/spec/containers/0/resources/requests/cpu",
            json!("2"),
            "E0714",
            "spec.template.spec.containers[0].resources.requests.cpu",
        ),
        d(
            "deployment",
            "/spec/template/spec/containers/0/resources/limits/memory",
            json!("2 GB"),
            "E0714",
            "spec.template.spec.containers[0].resources.limits.memory",
        ),
        d(
            "deployment",
            "/spec/template/spec/volumes/0/name",
            json!("conf"),
            "E0710",
            "spec.template.spec.containers[0].volumeMounts[0].name",
        ),
        d(
            "deployment",
            "/spec/template/metadata/labels/app",
            json!("other"),
            "E0714",
            "spec.template.metadata.labels",
        ),
        d(
            "deployment",
            "/spec/replicas",
            json!(-1),
            "E0714",
            "spec.replicas",
        ),
        d(
            "cron_job",
            "/metadata/name",
            json!("odoo-a-tenant-with-a-long-name-backup-verification-xyz"),
            "E0710",
            "metadata.name",
        ),
        d(
            "network_policy",
            "/spec/egress/0/to/0/ipBlock/cidr",
            json!("999.1.1.1/40"),
            "E0714",
            "spec.egress[0].to[0].ipBlock.cidr",
        ),
        d(
            "network_policy",
            "/spec/egress/0/to/0/ipBlock/except/0",
            json!("10.30.0.0/24"),
            "E0714",
            "spec.egress[0].to[0].ipBlock.except[0]",
        ),
        d(
            "network_policy",
            "/spec/egress/0/ports/0/port",
            json!(65536),
            "E0714",
            "spec.egress[0].ports[0].port",
        ),
        d(
            "resource_quota",
            "/spec/hard/requests.cpu",
            json!("-1"),
            "E0714",
            "spec.hard.requests.cpu",
        ),
    ]
}

/// The base manifest with the defect written in (`None` if the pointer's parent is missing).
pub fn apply(defect: &Defect) -> Option<Json> {
    let (_, mut manifest) = bases().into_iter().find(|(name, _)| *name == defect.base)?;
    let (parent, last) = defect.pointer.rsplit_once('/')?;
    let key = last.replace("~1", "/").replace("~0", "~");
    match manifest.pointer_mut(parent)? {
        Json::Object(map) => {
            map.insert(key, defect.value.clone());
        }
        Json::Array(items) => *items.get_mut(key.parse::<usize>().ok()?)? = defect.value.clone(),
        _ => return None,
    }
    Some(manifest)
}
