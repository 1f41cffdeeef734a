//! The GitOps provider alone, without the language or the engine: for N tenants of three
//! objects each (Namespace, Deployment, ConfigMap with a multi-line odoo.conf) it measures
//! - `validate`: plan's checks (manifest, typed round trip, API rules, symlink checks),
//! - `write`: creating every file (temp file and rename per file),
//! - `sweep`: rewriting the kustomizations once,
//! - `read`: reading every file back and comparing it with its render (a no-op refresh),
//! - `yaml`: the YAML emitter alone on the same manifests, beside serde_norway.
//!
//! Run with `cargo bench -p obp-providers --bench gitops`; `cargo test --benches` runs a
//! small, quick version.

use std::collections::BTreeMap;
use std::time::Instant;

use obp_engine::provider::{Owned, Provider, Recorded, ResourceRef};
use obp_providers::gitops::GitOps;
use serde_json::{json, Value as Json};

fn tenant(n: usize) -> Vec<Resource> {
    let name = format!("t{n:05}");
    let inputs = |value: Json| -> BTreeMap<String, Json> {
        value
            .as_object()
            .expect("an object")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    vec![
        (
            format!("k8s.namespace.ns[\"{name}\"]"),
            "k8s.namespace",
            inputs(json!({ "metadata": { "name": name, "labels": { "tenant": name } } })),
        ),
        (
            format!("k8s.config_map.conf[\"{name}\"]"),
            "k8s.config_map",
            inputs(json!({
                "metadata": { "name": "odoo-conf", "namespace": name },
                "data": { "odoo.conf": format!("[options]\nproxy_mode = True\ndbfilter = ^{name}$\nworkers = 4\n") }
            })),
        ),
        (
            format!("k8s.deployment.web[\"{name}\"]"),
            "k8s.deployment",
            inputs(json!({
                "metadata": { "name": "odoo-web", "namespace": name, "labels": { "app": "odoo", "tenant": name } },
                "spec": {
                    "replicas": 2,
                    "selector": { "matchLabels": { "app": "odoo", "tenant": name } },
                    "template": {
                        "metadata": { "labels": { "app": "odoo", "tenant": name } },
                        "spec": { "containers": [{
                            "name": "odoo",
                            "image": "docker.io/library/odoo:17.0",
                            "args": ["--config", "/etc/odoo/odoo.conf"],
                            "ports": [{ "name": "http", "containerPort": 8069 }],
                            "resources": { "requests": { "cpu": "500m", "memory": "1Gi" } }
                        }] }
                    }
                }
            })),
        ),
    ]
}

type Resource = (String, &'static str, BTreeMap<String, Json>);

fn reference(resource: &Resource) -> ResourceRef<'_> {
    ResourceRef {
        order: None,
        address: &resource.0,
        rtype: resource.1,
    }
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

async fn run(tenants: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let provider = GitOps::new(dir.path(), &BTreeMap::new()).expect("provider");
    let resources: Vec<_> = (0..tenants).flat_map(tenant).collect();

    let started = Instant::now();
    for resource in &resources {
        let problems = provider.validate(&reference(resource), &resource.2);
        assert!(problems.is_empty(), "{problems:?}");
    }
    let validate = ms(started);

    let started = Instant::now();
    let mut recorded: Vec<Recorded> = Vec::with_capacity(resources.len());
    for resource in &resources {
        let written = provider.create(&reference(resource), &resource.2).await;
        recorded.push(written.expect("create"));
    }
    let write = ms(started);

    let owned: Vec<Owned<'_>> = resources
        .iter()
        .zip(&recorded)
        .map(|((_, rtype, _), r)| Owned {
            rtype,
            inputs: &r.inputs,
            outputs: &r.outputs,
        })
        .collect();
    let started = Instant::now();
    provider.sweep(&owned, true).await.expect("sweep");
    let sweep = ms(started);

    let started = Instant::now();
    for (resource, prior) in resources.iter().zip(&recorded) {
        let live = provider.read(&reference(resource), prior).await;
        assert!(live.expect("read").is_some_and(|l| &l == prior));
    }
    let read = ms(started);

    let manifests: Vec<Json> = resources
        .iter()
        .map(|(_, _, inputs)| json!(inputs))
        .collect();
    let started = Instant::now();
    for manifest in &manifests {
        obp_lang::stdlib::yaml::block_yaml(manifest, true).expect("yaml");
    }
    let ours = ms(started);
    let started = Instant::now();
    for manifest in &manifests {
        serde_norway::to_string(manifest).expect("yaml");
    }
    let reference_yaml = ms(started);

    println!(
        "{tenants:>8} {:>7} {validate:>10.1} {write:>10.1} {sweep:>10.1} {read:>10.1} {ours:>10.1} {reference_yaml:>12.1}",
        resources.len()
    );
}

fn main() {
    // `cargo test --benches` runs this without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if quick { &[50] } else { &[1_000, 5_000] };
    println!(
        "{:>8} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "tenants", "files", "validate", "write", "sweep", "read", "yaml", "serde_norway"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for &tenants in sizes {
        runtime.block_on(run(tenants));
    }
}
