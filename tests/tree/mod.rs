//! Shared by the example tests that render without servers (`tests/examples.rs`) and those
//! applied against real servers (`tests/examples_live.rs`): evaluating a stack, reading a
//! rendered GitOps tree, and checking the Odoo rules on it.

// Each test binary that includes this module uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

/// Checks and evaluates the stack in `dir` with these `--var` values; panics with the
/// rendered diagnostics, after `what`, when it is not valid.
pub fn evaluate(dir: &Path, vars: &[(&str, &str)], what: &str) -> obp_lang::Config {
    let mut options = obp_lang::Options::default();
    for (name, value) in vars {
        options
            .eval
            .vars
            .insert((*name).to_owned(), obp_lang::value::Value::str(*value));
    }
    let checked = obp_lang::check_stack(dir, &options);
    let text =
        obp_lang::diagnostics::render::to_text(&checked.diagnostics, &checked.sources, false);
    checked.config.unwrap_or_else(|| panic!("{what}:\n{text}"))
}

/// The resources of an example's configuration (with `vars`) as JSON attributes, with their
/// type and address: `(type, address, attributes)`.
pub fn resources(example: &str, vars: &[(&str, &str)]) -> Vec<(String, String, Json)> {
    let config = evaluate(&Path::new("examples").join(example), vars, example);
    config
        .resources
        .iter()
        .map(|r| {
            let attrs =
                obp_engine::codec::to_json(&obp_lang::value::Value::record(r.attrs.clone()));
            (r.rtype.clone(), r.address.clone(), attrs)
        })
        .collect()
}

/// The modules an odoo.conf loads server-wide (`server_wide_modules = a,b`).
pub fn server_wide_modules(conf: &str) -> Vec<&str> {
    conf.lines()
        .find_map(|l| l.strip_prefix("server_wide_modules = "))
        .map_or_else(Vec::new, |modules| modules.split(',').collect())
}

/// Rendered files by path relative to `root`.
pub fn files(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(relative, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

/// The tree as one text, for a snapshot.
pub fn tree_text(files: &BTreeMap<String, String>) -> String {
    files
        .iter()
        .map(|(p, t)| format!("=== {p}\n{t}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every Kubernetes object of the tree (kustomizations aside), parsed.
pub fn manifests(files: &BTreeMap<String, String>) -> Vec<(String, Json)> {
    files
        .iter()
        .filter(|(path, _)| path.ends_with(".yaml") && !path.ends_with("kustomization.yaml"))
        .map(|(path, text)| (path.clone(), serde_norway::from_str(text).unwrap()))
        .collect()
}

fn containers(pod_spec: &Json) -> Vec<&Json> {
    ["containers", "initContainers"]
        .iter()
        .filter_map(|k| pod_spec.get(*k).and_then(Json::as_array))
        .flatten()
        .collect()
}

pub fn is_digest(image: &str) -> bool {
    image
        .split_once("@sha256:")
        .is_some_and(|(_, hex)| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The rules every rendered Odoo stack keeps: digest-pinned images, requests and limits,
/// non-root pods, probes on serving containers, `/websocket` routed to the gevent port 8072
/// (to 8069 when Odoo runs threaded, in dev), and `odoo.conf` with `list_db = False`, `proxy_mode = True` and no secrets.
pub fn assert_odoo_rules(name: &str, rendered: &BTreeMap<String, String>) {
    let objects = manifests(rendered);
    let mut deployments = 0;
    for (path, object) in &objects {
        let kind = object["kind"].as_str().unwrap_or_default();
        let pod = match kind {
            "Deployment" | "StatefulSet" | "Job" => &object["spec"]["template"]["spec"],
            "CronJob" => &object["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => continue,
        };
        for container in containers(pod) {
            let image = container["image"].as_str().unwrap_or_default();
            assert!(
                is_digest(image),
                "{name} {path}: image {image} is not pinned by digest"
            );
            let limits = &container["resources"]["limits"];
            let requests = &container["resources"]["requests"];
            assert!(
                limits.get("memory").is_some() && requests.get("cpu").is_some(),
                "{name} {path}: {} lacks requests/limits",
                container["name"]
            );
        }
        let non_root = pod["securityContext"]["runAsNonRoot"] == Json::Bool(true);
        assert!(non_root, "{name} {path}: pods must run as non-root");
        if kind == "Deployment" {
            deployments += 1;
            for container in containers(pod)
                .into_iter()
                .filter(|c| c.get("ports").is_some())
            {
                for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                    assert!(
                        container.get(probe).is_some(),
                        "{name} {path}: {} has no {probe}",
                        container["name"]
                    );
                }
            }
        }
    }
    assert!(deployments >= 2, "{name}: an HTTP and a cron Deployment");
    assert_rwo_pods_share_a_node(name, &objects);
    assert_s3_attachments_are_stored_in_s3(name, &objects);

    let routes: Vec<&Json> = objects
        .iter()
        .filter(|(_, o)| o["kind"] == "IngressRoute")
        .flat_map(|(_, route)| route["spec"]["routes"].as_array().into_iter().flatten())
        .collect();
    assert!(!routes.is_empty(), "{name}: Odoo is routed");
    let mut conf_count = 0;
    let mut prefork = false;
    let mut check_conf = |where_: &str, conf: &str| {
        conf_count += 1;
        prefork |= conf
            .lines()
            .filter_map(|l| l.trim().strip_prefix("workers = "))
            .any(|n| n.trim() != "0");
        assert!(
            conf.contains("list_db = False") && conf.contains("proxy_mode = True"),
            "{name} {where_}:\n{conf}"
        );
        assert!(
            !conf.contains("db_password") && !conf.contains("admin_passwd ="),
            "{name} {where_}: no secrets in odoo.conf:\n{conf}"
        );
    };
    for (path, text) in rendered.iter().filter(|(p, _)| p.ends_with(".conf")) {
        check_conf(path, text);
    }
    for (path, object) in objects.iter().filter(|(_, o)| o["kind"] == "ConfigMap") {
        for (key, value) in object["data"].as_object().into_iter().flatten() {
            if key.ends_with(".conf") {
                check_conf(&format!("{path} {key}"), value.as_str().unwrap_or_default());
            }
        }
    }
    assert!(conf_count > 0, "{name}: odoo.conf is rendered");

    // With workers, websockets are served by the gevent process on 8072; a threaded Odoo
    // (dev) serves them on its HTTP port.
    let port = if prefork { 8072 } else { 8069 };
    let websocket_routed = routes.iter().any(|r| {
        r["match"]
            .as_str()
            .unwrap_or_default()
            .contains("/websocket")
            && r["services"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["port"] == port)
    });
    assert!(
        websocket_routed,
        "{name}: /websocket must route to port {port}"
    );
}

/// The pod template of a workload, with the labels its pods get.
fn pod_template(object: &Json) -> Option<&Json> {
    match object["kind"].as_str()? {
        "Deployment" | "StatefulSet" | "Job" => Some(&object["spec"]["template"]),
        "CronJob" => Some(&object["spec"]["jobTemplate"]["spec"]["template"]),
        _ => None,
    }
}

/// Whether every `matchLabels` entry of `selector` is among `labels`.
fn selects(selector: &Json, labels: &Json) -> bool {
    selector["matchLabels"]
        .as_object()
        .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// A ReadWriteOnce claim attaches to one node: every pod that mounts one (the HTTP and cron
/// pods, the init and upgrade Jobs, backups, checkpoints, refreshes) must *require* the node of
/// the others, or it may hang on a multi-attach error until its deadline (a lost backup).
/// Each such pod requires, per node, a pod selected by one selector that selects every pod
/// mounting the claim (its own labels included, so the first pod of the group can start
/// when no other runs), and no pod that does not mount it.
fn assert_rwo_pods_share_a_node(name: &str, objects: &[(String, Json)]) {
    let rwo_claims: Vec<&str> = objects
        .iter()
        .filter(|(_, o)| o["kind"] == "PersistentVolumeClaim")
        .filter(|(_, o)| {
            o["spec"]["accessModes"]
                .as_array()
                .is_some_and(|m| m.iter().any(|a| a == "ReadWriteOnce"))
        })
        .filter_map(|(_, o)| o["metadata"]["name"].as_str())
        .collect();
    for claim in rwo_claims {
        let mounts_claim = |template: &Json| {
            template["spec"]["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|v| v["persistentVolumeClaim"]["claimName"] == claim)
        };
        let templates: Vec<(&String, &Json)> = objects
            .iter()
            .filter_map(|(path, o)| pod_template(o).map(|t| (path, t)))
            .collect();
        let mounting: Vec<_> = templates.iter().filter(|(_, t)| mounts_claim(t)).collect();
        assert!(
            mounting.len() >= 2,
            "{name}: the claim {claim} is mounted by the HTTP and cron pods at least"
        );
        for (path, template) in &mounting {
            let labels = &template["metadata"]["labels"];
            let terms = template["spec"]["affinity"]["podAffinity"]
                ["requiredDuringSchedulingIgnoredDuringExecution"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let term = terms
                .iter()
                .find(|t| t["topologyKey"] == "kubernetes.io/hostname")
                .unwrap_or_else(|| {
                    panic!(
                        "{name} {path}: mounts the ReadWriteOnce claim {claim} without a \
                         required pod affinity to its node"
                    )
                });
            let selector = &term["labelSelector"];
            assert!(
                selects(selector, labels),
                "{name} {path}: its required affinity {selector} does not select the pod \
                 itself, so it cannot start while no other pod of the claim {claim} runs"
            );
            for (other, template) in &templates {
                let selected = selects(selector, &template["metadata"]["labels"]);
                assert_eq!(
                    selected,
                    mounts_claim(template),
                    "{name} {path}: its affinity {selector} {} {other}, which {} {claim}",
                    if selected { "selects" } else { "misses" },
                    if selected { "does not mount" } else { "mounts" },
                );
            }
        }
    }
}

/// Odoo writes attachments to data_dir only: where the HTTP pods point at a bucket
/// (`AWS_BUCKETNAME`), the namespace's odoo.conf must load `attachment_s3` server-wide (the
/// init Jobs install it and switch `ir_attachment.location`; `tests/examples.rs` checks those).
fn assert_s3_attachments_are_stored_in_s3(name: &str, objects: &[(String, Json)]) {
    for (path, object) in objects.iter().filter(|(_, o)| o["kind"] == "Deployment") {
        let on_s3 = containers(&object["spec"]["template"]["spec"])
            .iter()
            .flat_map(|c| c["env"].as_array().into_iter().flatten())
            .any(|e| e["name"] == "AWS_BUCKETNAME");
        if !on_s3 {
            continue;
        }
        let namespace = &object["metadata"]["namespace"];
        let confs: Vec<&str> = objects
            .iter()
            .filter(|(_, o)| o["kind"] == "ConfigMap" && &o["metadata"]["namespace"] == namespace)
            .flat_map(|(_, o)| o["data"].as_object().into_iter().flatten())
            .filter(|(key, _)| key.ends_with(".conf"))
            .filter_map(|(_, text)| text.as_str())
            .collect();
        assert!(!confs.is_empty(), "{name} {path}: no odoo.conf beside it");
        for conf in confs {
            let modules = server_wide_modules(conf);
            assert!(
                modules.contains(&"attachment_s3"),
                "{name} {path}: its pods use a bucket but odoo.conf loads {}",
                modules.join(",")
            );
        }
    }
}
