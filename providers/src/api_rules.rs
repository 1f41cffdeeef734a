//! The Kubernetes API server's own per-field rules, checked at plan time so that a manifest
//! the server would reject never reaches a GitOps directory or a cluster.
//!
//! Ported from upstream: the name and value rules of `k8s.io/apimachinery/pkg/util/validation`
//! (`IsDNS1123Label`, `IsDNS1123Subdomain`, `IsDNS1035Label`, `IsQualifiedName`,
//! `IsValidLabelValue`, `IsValidPortName`, `IsValidPortNum`, `IsRelaxedEnvVarName`, `IsConfigMapKey`),
//! `resource.ParseQuantity`, and which rule applies to which field in
//! `k8s.io/kubernetes/pkg/apis/{core,apps,batch,networking}/validation` (Service and Namespace
//! names are labels, most other names subdomains, CronJob names at most 52 characters, …).
//! Traefik's rule syntax and allow-lists follow Traefik v3.
//!
//! [`check`] reads nothing but the manifest (`apiVersion`, `kind` and the fields), so a test
//! can feed the same manifests to a real API server and compare. Fields of the wrong JSON type
//! are left to the typed check in [`crate::kinds`].

use std::net::IpAddr;

use obp_lang::types::parse_cidr;
use serde_json::{Map, Value as Json};

/// Names, label keys and values the API server refuses.
pub const NAME: &str = "E0710";
/// A Namespace object for a namespace the cluster itself owns.
pub const SYSTEM_NAMESPACE: &str = "E0711";
/// A Traefik rule or allow-list entry that does not parse as what it claims to be.
pub const TRAEFIK: &str = "E0713";
/// Ports, address ranges and quantities outside what the API server accepts.
pub const VALUE: &str = "E0714";

/// Namespaces every cluster has and no stack may own.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-node-lease", "kube-public", "kube-system"];

/// One field the API server would refuse, at a dotted path such as `spec.ports[0].name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The catalogue code of the rule.
    pub code: &'static str,
    pub path: String,
    pub message: String,
    pub help: &'static str,
}

/// Every field of `manifest` the API server (or Traefik) would refuse.
pub fn check(manifest: &Json) -> Vec<Rejection> {
    let mut out = Out::default();
    let kind = manifest.get("kind").and_then(Json::as_str).unwrap_or("");
    let api_version = manifest
        .get("apiVersion")
        .and_then(Json::as_str)
        .unwrap_or("");
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    // RBAC objects are named by path segments (`system:…`), not subdomains.
    let subdomain_names = group != "rbac.authorization.k8s.io";
    if let Some(metadata) = manifest.get("metadata") {
        object_metadata(kind, subdomain_names, metadata, &mut out);
    }
    let spec = manifest.get("spec");
    let at = |field: &str| format!("spec.{field}");
    match (group, kind) {
        ("", "Pod") => {
            if let Some(spec) = spec {
                pod_spec(spec, "spec", &[], &mut out);
            }
        }
        ("apps", "Deployment" | "StatefulSet" | "ReplicaSet" | "DaemonSet") | ("batch", "Job") => {
            if let Some(spec) = spec {
                workload(spec, "spec", &mut out);
            }
        }
        ("batch", "CronJob") => {
            if let Some(job) = spec.and_then(|s| s.get("jobTemplate")) {
                labels_at(
                    job.pointer("/metadata/labels"),
                    &at("jobTemplate.metadata.labels"),
                    &mut out,
                );
                if let Some(job_spec) = job.get("spec") {
                    workload(job_spec, &at("jobTemplate.spec"), &mut out);
                }
            }
        }
        ("", "ConfigMap" | "Secret") => {
            for field in ["data", "binaryData", "stringData"] {
                for (key, _) in entries(manifest.get(field)) {
                    out.name(format!("{field}.{key}"), config_map_key(key));
                }
            }
        }
        ("external-secrets.io", "ExternalSecret") => {
            // Each entry becomes a key of the Kubernetes Secret the operator writes.
            for (i, entry) in items(spec.and_then(|s| s.get("data"))) {
                if let Some(key) = entry.get("secretKey").and_then(Json::as_str) {
                    out.name(format!("spec.data[{i}].secretKey"), config_map_key(key));
                }
            }
        }
        ("", "Service") => {
            if let Some(spec) = spec {
                service(spec, &mut out);
            }
        }
        ("networking.k8s.io", "NetworkPolicy") => {
            if let Some(spec) = spec {
                network_policy(spec, &mut out);
            }
        }
        ("", "ResourceQuota") => {
            quantities(spec.and_then(|s| s.get("hard")), &at("hard"), &mut out);
        }
        ("", "LimitRange") => {
            for (i, limit) in items(spec.and_then(|s| s.get("limits"))) {
                for field in [
                    "max",
                    "min",
                    "default",
                    "defaultRequest",
                    "maxLimitRequestRatio",
                ] {
                    quantities(
                        limit.get(field),
                        &format!("spec.limits[{i}].{field}"),
                        &mut out,
                    );
                }
            }
        }
        ("", "PersistentVolumeClaim") => {
            quantities(
                spec.and_then(|s| s.pointer("/resources/requests")),
                &at("resources.requests"),
                &mut out,
            );
        }
        ("traefik.io" | "traefik.containo.us", "IngressRoute") => {
            for (i, route) in items(spec.and_then(|s| s.get("routes"))) {
                if let Some(rule) = route.get("match").and_then(Json::as_str) {
                    if let Err(message) = traefik_rule(rule) {
                        out.push(TRAEFIK, format!("spec.routes[{i}].match"), message, "build Traefik rules only from host names, paths and address ranges (the odoo.ingress params are typed for that)");
                    }
                }
                for (j, service) in items(route.get("services")) {
                    port_ref(
                        service.get("port"),
                        &format!("spec.routes[{i}].services[{j}].port"),
                        &mut out,
                    );
                }
            }
        }
        ("traefik.io" | "traefik.containo.us", "Middleware") => {
            for list in ["ipAllowList", "ipWhiteList"] {
                let path = format!("spec.{list}.sourceRange");
                for (i, entry) in items(
                    spec.and_then(|s| s.get(list))
                        .and_then(|l| l.get("sourceRange")),
                ) {
                    let text = entry.as_str().unwrap_or("");
                    if parse_cidr(text).is_none() && text.parse::<IpAddr>().is_err() {
                        out.push(TRAEFIK, format!("{path}[{i}]"), format!("{} is not an IP address or a CIDR range", shown(text)), "write an address such as 203.0.113.7 or a range such as 203.0.113.0/24");
                    }
                }
            }
        }
        _ => {}
    }
    out.0
}

#[derive(Default)]
struct Out(Vec<Rejection>);

impl Out {
    fn push(&mut self, code: &'static str, path: String, message: String, help: &'static str) {
        self.0.push(Rejection {
            code,
            path,
            message,
            help,
        });
    }

    /// A name rule's error, if any.
    fn name(&mut self, path: String, result: Result<(), String>) {
        if let Err(message) = result {
            self.push(NAME, path, message, NAME_HELP);
        }
    }
}

const NAME_HELP: &str = "change it as the message says: the API server refuses the whole object otherwise (`obp explain E0710` lists the rule of each field)";

/// The elements of a JSON list with their index (nothing for anything else).
fn items(value: Option<&Json>) -> impl Iterator<Item = (usize, &Json)> {
    value
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

/// The entries of a JSON object (nothing for anything else).
fn entries(value: Option<&Json>) -> impl Iterator<Item = (&String, &Json)> {
    value
        .and_then(Json::as_object)
        .into_iter()
        .flat_map(Map::iter)
}

fn object_metadata(kind: &str, subdomain_names: bool, metadata: &Json, out: &mut Out) {
    if let Some(name) = metadata.get("name").and_then(Json::as_str) {
        let path = "metadata.name".to_owned();
        match kind {
            "Namespace" => {
                out.name(path.clone(), dns1123_label(name));
                if SYSTEM_NAMESPACES.contains(&name) {
                    out.push(
                        SYSTEM_NAMESPACE,
                        path,
                        format!("namespace `{name}` belongs to the cluster: obp would own it, and destroying the stack would delete it"),
                        "use a namespace of your own; to deploy into an existing namespace, do not declare a Namespace object for it",
                    );
                }
            }
            "Service" => out.name(path, dns1035_label(name)),
            "CronJob" => {
                out.name(path.clone(), dns1123_subdomain(name));
                // The controller appends an 11-character suffix to name its Jobs, which
                // must stay DNS-1035 labels (pkg/apis/batch/validation).
                if name.len() > 52 {
                    out.push(NAME, path, format!("a CronJob name is at most 52 characters (its Jobs get an 11-character suffix); {} has {}", shown(name), name.len()), "shorten the name");
                }
            }
            "Job" => {
                out.name(path.clone(), dns1123_subdomain(name));
                // The Job's pods carry its name as the `job-name` label value.
                if name.len() > 63 {
                    out.push(NAME, path, format!("a Job name is at most 63 characters (its pods carry it as a label value); {} has {}", shown(name), name.len()), "shorten the name");
                }
            }
            _ if subdomain_names => out.name(path, dns1123_subdomain(name)),
            _ => {}
        }
    }
    if let Some(namespace) = metadata.get("namespace").and_then(Json::as_str) {
        out.name("metadata.namespace".to_owned(), dns1123_label(namespace));
    }
    labels_at(metadata.get("labels"), "metadata.labels", out);
    for (key, _) in entries(metadata.get("annotations")) {
        out.name(format!("metadata.annotations.{key}"), qualified_name(key));
    }
}

/// Label keys and values (`metadata.labels`, selectors).
fn labels_at(labels: Option<&Json>, path: &str, out: &mut Out) {
    for (key, value) in entries(labels) {
        out.name(format!("{path}.{key}"), qualified_name(key));
        if let Some(value) = value.as_str() {
            out.name(format!("{path}.{key}"), label_value(value));
        }
    }
}

/// A label selector: `matchLabels` and the keys and values of `matchExpressions`.
fn selector(value: Option<&Json>, path: &str, out: &mut Out) {
    let Some(value) = value else { return };
    labels_at(
        value.get("matchLabels"),
        &format!("{path}.matchLabels"),
        out,
    );
    for (i, expression) in items(value.get("matchExpressions")) {
        let here = format!("{path}.matchExpressions[{i}]");
        if let Some(key) = expression.get("key").and_then(Json::as_str) {
            out.name(format!("{here}.key"), qualified_name(key));
        }
        for (j, v) in items(expression.get("values")) {
            if let Some(v) = v.as_str() {
                out.name(format!("{here}.values[{j}]"), label_value(v));
            }
        }
    }
}

/// Deployments, StatefulSets, Jobs: the selector, the pod template, and whether the
/// selector selects the template's pods.
fn workload(spec: &Json, path: &str, out: &mut Out) {
    if let Some(replicas) = spec.get("replicas").and_then(Json::as_i64) {
        if replicas < 0 {
            out.push(
                VALUE,
                format!("{path}.replicas"),
                format!("replicas cannot be negative ({replicas})"),
                "use 0 or more replicas",
            );
        }
    }
    selector(spec.get("selector"), &format!("{path}.selector"), out);
    let template_labels = spec.pointer("/template/metadata/labels");
    labels_at(
        template_labels,
        &format!("{path}.template.metadata.labels"),
        out,
    );
    if let Some(Json::Object(wanted)) = spec.pointer("/selector/matchLabels") {
        for (key, value) in wanted {
            if template_labels.and_then(|l| l.get(key)) != Some(value) {
                out.push(VALUE, format!("{path}.template.metadata.labels"), format!("`selector` does not match template `labels`: the pods lack `{key}` = {value}"), "give the pod template every label of `selector.matchLabels`");
                break;
            }
        }
    }
    // A StatefulSet's claim templates are volumes its containers may mount.
    let claims: Vec<&str> = items(spec.get("volumeClaimTemplates"))
        .filter_map(|(_, claim)| claim.pointer("/metadata/name").and_then(Json::as_str))
        .collect();
    if let Some(pod) = spec.pointer("/template/spec") {
        pod_spec(pod, &format!("{path}.template.spec"), &claims, out);
    }
}

fn pod_spec(spec: &Json, path: &str, claims: &[&str], out: &mut Out) {
    let mut volumes: Vec<&str> = claims.to_vec();
    for (i, volume) in items(spec.get("volumes")) {
        if let Some(name) = volume.get("name").and_then(Json::as_str) {
            let here = format!("{path}.volumes[{i}].name");
            out.name(here.clone(), dns1123_label(name));
            if volumes.contains(&name) {
                out.push(
                    NAME,
                    here,
                    format!("volume {} appears twice", shown(name)),
                    "give each volume its own name",
                );
            }
            volumes.push(name);
        }
    }
    let mut containers = Vec::new();
    let mut ports = Vec::new();
    for list in ["initContainers", "containers"] {
        for (i, container) in items(spec.get(list)) {
            let here = format!("{path}.{list}[{i}]");
            if let Some(name) = container.get("name").and_then(Json::as_str) {
                out.name(format!("{here}.name"), dns1123_label(name));
                if containers.contains(&name) {
                    out.push(
                        NAME,
                        format!("{here}.name"),
                        format!("container {} appears twice", shown(name)),
                        "give each container its own name",
                    );
                }
                containers.push(name);
            }
            for (j, port) in items(container.get("ports")) {
                let at = format!("{here}.ports[{j}]");
                if let Some(name) = port.get("name").and_then(Json::as_str) {
                    out.name(format!("{at}.name"), port_name(name));
                    if ports.contains(&name) {
                        out.push(
                            NAME,
                            format!("{at}.name"),
                            format!("port name {} appears twice in the pod", shown(name)),
                            "give each port its own name",
                        );
                    }
                    ports.push(name);
                }
                port_number(
                    port.get("containerPort"),
                    &format!("{at}.containerPort"),
                    false,
                    out,
                );
                port_number(port.get("hostPort"), &format!("{at}.hostPort"), true, out);
            }
            for (j, env) in items(container.get("env")) {
                if let Some(name) = env.get("name").and_then(Json::as_str) {
                    out.name(format!("{here}.env[{j}].name"), env_var_name(name));
                }
            }
            for (j, mount) in items(container.get("volumeMounts")) {
                if let Some(name) = mount.get("name").and_then(Json::as_str) {
                    if !volumes.contains(&name) {
                        out.push(
                            NAME,
                            format!("{here}.volumeMounts[{j}].name"),
                            format!("no volume named {}", shown(name)),
                            "mount one of the pod's `volumes` by its name",
                        );
                    }
                }
            }
            for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
                for handler in ["httpGet", "tcpSocket", "grpc"] {
                    let port = container
                        .get(probe)
                        .and_then(|p| p.get(handler))
                        .and_then(|h| h.get("port"));
                    port_ref(port, &format!("{here}.{probe}.{handler}.port"), out);
                }
            }
            resources(
                container.get("resources"),
                &format!("{here}.resources"),
                out,
            );
        }
    }
}

/// Container requests and limits: quantities, not negative, requests within limits.
fn resources(value: Option<&Json>, path: &str, out: &mut Out) {
    let Some(value) = value else { return };
    let requests = value.get("requests");
    let limits = value.get("limits");
    quantities(requests, &format!("{path}.requests"), out);
    quantities(limits, &format!("{path}.limits"), out);
    for (name, request) in entries(requests) {
        let limit = limits
            .and_then(|l| l.get(name))
            .and_then(Json::as_str)
            .and_then(|q| quantity(q).ok());
        let request_value = request.as_str().and_then(|q| quantity(q).ok());
        if let (Some(request_value), Some(limit)) = (request_value, limit) {
            if request_value > limit {
                out.push(
                    VALUE,
                    format!("{path}.requests.{name}"),
                    format!(
                        "the {name} request {} is above its limit",
                        shown(request.as_str().unwrap_or(""))
                    ),
                    "a request must be less than or equal to the limit",
                );
            }
        }
    }
}

/// A map of resource names to quantities: each parses and is not negative.
fn quantities(value: Option<&Json>, path: &str, out: &mut Out) {
    for (name, q) in entries(value) {
        let here = format!("{path}.{name}");
        match q {
            Json::String(text) => match quantity(text) {
                Ok(v) if v < 0.0 => out.push(
                    VALUE,
                    here,
                    format!(
                        "{} is negative; quantities here must be 0 or more",
                        shown(text)
                    ),
                    QUANTITY_HELP,
                ),
                Ok(_) => {}
                Err(message) => out.push(VALUE, here, message, QUANTITY_HELP),
            },
            Json::Number(n) if n.as_f64().is_some_and(|v| v < 0.0) => {
                out.push(
                    VALUE,
                    here,
                    format!("{n} is negative; quantities here must be 0 or more"),
                    QUANTITY_HELP,
                );
            }
            _ => {}
        }
    }
}

const QUANTITY_HELP: &str = "write a quantity such as \"500m\", \"2\", \"1Gi\" or \"10G\"";

fn service(spec: &Json, out: &mut Out) {
    let ports: Vec<(usize, &Json)> = items(spec.get("ports")).collect();
    let mut names = Vec::new();
    for (i, port) in &ports {
        let at = format!("spec.ports[{i}]");
        match port.get("name").and_then(Json::as_str) {
            Some(name) => {
                out.name(format!("{at}.name"), dns1123_label(name));
                if names.contains(&name) {
                    out.push(
                        NAME,
                        format!("{at}.name"),
                        format!("port name {} appears twice", shown(name)),
                        "give each port its own name",
                    );
                }
                names.push(name);
            }
            None if ports.len() > 1 => out.push(
                NAME,
                format!("{at}.name"),
                "a Service with several ports must name each of them".to_owned(),
                "add `name` to every port",
            ),
            None => {}
        }
        port_number(port.get("port"), &format!("{at}.port"), false, out);
        port_number(port.get("nodePort"), &format!("{at}.nodePort"), true, out);
        port_ref(port.get("targetPort"), &format!("{at}.targetPort"), out);
    }
    labels_at(spec.get("selector"), "spec.selector", out);
}

fn network_policy(spec: &Json, out: &mut Out) {
    selector(spec.get("podSelector"), "spec.podSelector", out);
    for (direction, peers) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in items(spec.get(direction)) {
            let here = format!("spec.{direction}[{i}]");
            for (j, peer) in items(rule.get(peers)) {
                let at = format!("{here}.{peers}[{j}]");
                selector(peer.get("podSelector"), &format!("{at}.podSelector"), out);
                selector(
                    peer.get("namespaceSelector"),
                    &format!("{at}.namespaceSelector"),
                    out,
                );
                if let Some(block) = peer.get("ipBlock") {
                    let cidr = block.get("cidr").and_then(Json::as_str);
                    let parsed = cidr.and_then(parse_cidr);
                    if let (Some(text), None) = (cidr, parsed) {
                        out.push(
                            VALUE,
                            format!("{at}.ipBlock.cidr"),
                            format!("{} is not a CIDR range", shown(text)),
                            CIDR_HELP,
                        );
                    }
                    for (k, except) in items(block.get("except")) {
                        let text = except.as_str().unwrap_or("");
                        match (parse_cidr(text), parsed) {
                            (None, _) => out.push(
                                VALUE,
                                format!("{at}.ipBlock.except[{k}]"),
                                format!("{} is not a CIDR range", shown(text)),
                                CIDR_HELP,
                            ),
                            (Some(inner), Some(outer)) if !within(inner, outer) => out.push(
                                VALUE,
                                format!("{at}.ipBlock.except[{k}]"),
                                format!("{} is not inside `cidr`", shown(text)),
                                "list in `except` only ranges inside `cidr`",
                            ),
                            _ => {}
                        }
                    }
                }
            }
            for (j, port) in items(rule.get("ports")) {
                let at = format!("{here}.ports[{j}]");
                port_ref(port.get("port"), &format!("{at}.port"), out);
                if let Some(end) = port.get("endPort") {
                    port_number(Some(end), &format!("{at}.endPort"), false, out);
                    let start = port.get("port").and_then(Json::as_i64);
                    match (start, end.as_i64()) {
                        (Some(start), Some(end)) if end < start => out.push(
                            VALUE,
                            format!("{at}.endPort"),
                            format!("endPort {end} is below port {start}"),
                            "make endPort at least port",
                        ),
                        (None, _) => out.push(
                            VALUE,
                            format!("{at}.endPort"),
                            "endPort needs a numeric `port`".to_owned(),
                            "give `port` as a number",
                        ),
                        _ => {}
                    }
                }
            }
        }
    }
}

const CIDR_HELP: &str = "write an IPv4 or IPv6 range such as 10.0.0.0/8 or 2001:db8::/32";

/// A port number field: 1–65535 (0 also where it means "unset").
fn port_number(value: Option<&Json>, path: &str, zero_ok: bool, out: &mut Out) {
    let Some(n) = value.and_then(Json::as_i64) else {
        return;
    };
    let unset = n == 0 && zero_ok;
    if !(unset || (1..=65535).contains(&n)) {
        out.push(
            VALUE,
            path.to_owned(),
            format!("port {n} is outside 1–65535"),
            "use a port number from 1 to 65535",
        );
    }
}

/// A port given by number (1–65535) or by name (IANA_SVC_NAME).
fn port_ref(value: Option<&Json>, path: &str, out: &mut Out) {
    match value {
        Some(Json::String(name)) => out.name(path.to_owned(), port_name(name)),
        Some(number) => port_number(Some(number), path, false, out),
        None => {}
    }
}

// ---- the apimachinery rules ---------------------------------------------------------------

fn label_chars(label: &str, first_letter: bool) -> bool {
    let bytes = label.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && (if first_letter {
            bytes[0].is_ascii_lowercase()
        } else {
            alnum(&bytes[0])
        })
        && alnum(&bytes[bytes.len() - 1])
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
}

/// `IsDNS1123Label`: at most 63 lowercase letters, digits and `-`, alphanumeric at both ends.
pub fn dns1123_label(name: &str) -> Result<(), String> {
    if name.len() > 63 {
        return Err(format!(
            "{} is {} characters; a DNS-1123 label is at most 63",
            shown(name),
            name.len()
        ));
    }
    if !label_chars(name, false) {
        return Err(format!("{} is not a DNS-1123 label: lowercase letters, digits and `-`, starting and ending with a letter or digit (such as `odoo-web`)", shown(name)));
    }
    Ok(())
}

/// `IsDNS1035Label`: a DNS-1123 label that starts with a letter (Service names).
pub fn dns1035_label(name: &str) -> Result<(), String> {
    if name.len() > 63 {
        return Err(format!(
            "{} is {} characters; a DNS-1035 label is at most 63",
            shown(name),
            name.len()
        ));
    }
    if !label_chars(name, true) {
        return Err(format!("{} is not a DNS-1035 label: lowercase letters, digits and `-`, starting with a letter and ending with a letter or digit (such as `odoo-web`)", shown(name)));
    }
    Ok(())
}

/// `IsDNS1123Subdomain`: at most 253 characters, DNS-1123 labels joined by `.`.
pub fn dns1123_subdomain(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err(format!(
            "{} is {} characters; a DNS-1123 subdomain is at most 253",
            shown(name),
            name.len()
        ));
    }
    if !name.split('.').all(|label| label_chars(label, false)) {
        return Err(format!("{} is not a DNS-1123 subdomain: lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit (such as `odoo-web`)", shown(name)));
    }
    Ok(())
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, the name part of label keys and label values.
fn qualified_chars(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `IsQualifiedName` (label and annotation keys): an optional DNS-1123 subdomain prefix and
/// `/`, then a name of at most 63 characters.
pub fn qualified_name(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() || dns1123_subdomain(prefix).is_err() {
            return Err(format!(
                "the prefix of key {} must be a DNS-1123 subdomain (such as `app.kubernetes.io`)",
                shown(key)
            ));
        }
    }
    if name.len() > 63 {
        return Err(format!(
            "the name part of key {} is {} characters; at most 63",
            shown(key),
            name.len()
        ));
    }
    if !qualified_chars(name) {
        return Err(format!("key {} is not a qualified name: letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit, with an optional `prefix/`", shown(key)));
    }
    Ok(())
}

/// `IsValidLabelValue`: empty, or at most 63 letters, digits, `-`, `_` and `.`, starting and
/// ending with a letter or digit.
pub fn label_value(value: &str) -> Result<(), String> {
    if value.len() > 63 {
        return Err(format!(
            "label value {} is {} characters; at most 63",
            shown(value),
            value.len()
        ));
    }
    if !value.is_empty() && !qualified_chars(value) {
        return Err(format!("label value {} is not valid: letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit, no spaces", shown(value)));
    }
    Ok(())
}

/// `IsValidPortName` (IANA_SVC_NAME): at most 15 lowercase letters, digits and `-`, at least
/// one letter, no `--`, not starting or ending with `-`.
pub fn port_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && !name.contains("--")
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!("{} is not a port name (IANA_SVC_NAME): at most 15 lowercase letters, digits and `-`, with a letter, no `--`, not starting or ending with `-` (such as `http`)", shown(name)))
    }
}

/// `IsRelaxedEnvVarName`, which the API server applies since Kubernetes 1.34 (the
/// `RelaxedEnvironmentVariableValidation` gate, on by default): printable ASCII, space
/// included, except `=`. (The older `IsEnvVarName` refused names such as `1PGHOST` that the
/// server now accepts; the live corpus test caught the difference.)
pub fn env_var_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'=');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not an environment variable name: printable ASCII characters except `=`",
            shown(name)
        ))
    }
}

/// `IsConfigMapKey`: at most 253 letters, digits, `-`, `_` and `.`, not `.`, `..` or `..…`.
pub fn config_map_key(key: &str) -> Result<(), String> {
    let ok = !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && key != "."
        && !key.starts_with("..");
    if ok {
        Ok(())
    } else {
        Err(format!("{} is not a ConfigMap key: at most 253 letters, digits, `-`, `_` and `.`, not starting with `..`", shown(key)))
    }
}

/// `resource.ParseQuantity`, as a number: a signed decimal, then a binary suffix (Ki … Ei), a
/// decimal suffix (n, u, m, k, M, G, T, P, E) or an exponent (e3, E-2).
pub fn quantity(text: &str) -> Result<f64, String> {
    let bad = || format!("{} is not a quantity", shown(text));
    let split = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && matches!(c, '+' | '-'))))
        .map_or(text.len(), |(i, _)| i);
    let (number, suffix) = text.split_at(split);
    let digits = number.trim_start_matches(['+', '-']);
    if digits.is_empty() || digits == "." || digits.matches('.').count() > 1 {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let scale = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E']).ok_or_else(bad)?;
            let unsigned = exponent.trim_start_matches(['+', '-']);
            if unsigned.is_empty()
                || !unsigned.bytes().all(|b| b.is_ascii_digit())
                || exponent.len() - unsigned.len() > 1
            {
                return Err(bad());
            }
            let power: i32 = exponent.parse().map_err(|_| bad())?;
            10f64.powi(power)
        }
    };
    Ok(value * scale)
}

/// Whether range `inner` lies inside range `outer` (both of one family).
fn within(inner: (IpAddr, u8), outer: (IpAddr, u8)) -> bool {
    // Both families as 128-bit numbers, an IPv4 address in the top 32 bits, so a prefix
    // length counts from the top in either.
    let bits = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
        IpAddr::V6(v6) => u128::from(v6),
    };
    if inner.0.is_ipv4() != outer.0.is_ipv4() || inner.1 < outer.1 {
        return false;
    }
    let mask = match outer.1 {
        0 => 0,
        n => u128::MAX << (128 - u32::from(n)),
    };
    bits(inner.0) & mask == bits(outer.0) & mask
}

// ---- Traefik rules ---------------------------------------------------------------------

/// Checks a Traefik v3 rule: matchers joined by `&&`, `||`, `!` and parentheses, each with
/// quoted arguments of the right form (a host name for `Host`, an address or range for
/// `ClientIP`, a path starting with `/` for `Path` and `PathPrefix`).
pub fn traefik_rule(rule: &str) -> Result<(), String> {
    let mut parser = Rule {
        text: rule.as_bytes(),
        at: 0,
    };
    parser.expression(0)?;
    parser.space();
    if parser.at != parser.text.len() {
        return Err(format!("unexpected text at byte {} of the rule", parser.at));
    }
    Ok(())
}

struct Rule<'a> {
    text: &'a [u8],
    at: usize,
}

impl Rule<'_> {
    fn space(&mut self) {
        while self.text.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.space();
        if self.text[self.at..].starts_with(token.as_bytes()) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn expression(&mut self, depth: usize) -> Result<(), String> {
        if depth > 32 {
            return Err("the rule nests too deeply".to_owned());
        }
        self.term(depth)?;
        while self.eat("&&") || self.eat("||") {
            self.term(depth)?;
        }
        Ok(())
    }

    fn term(&mut self, depth: usize) -> Result<(), String> {
        if self.eat("!") {
            return self.term(depth + 1);
        }
        if self.eat("(") {
            self.expression(depth + 1)?;
            return if self.eat(")") {
                Ok(())
            } else {
                Err("a `(` is not closed".to_owned())
            };
        }
        self.space();
        let start = self.at;
        while self
            .text
            .get(self.at)
            .is_some_and(u8::is_ascii_alphanumeric)
        {
            self.at += 1;
        }
        let name = String::from_utf8_lossy(&self.text[start..self.at]).into_owned();
        if !self.eat("(") {
            return Err(format!(
                "expected a matcher such as Host(`example.com`) at byte {start}"
            ));
        }
        let mut args = Vec::new();
        if !self.eat(")") {
            loop {
                args.push(self.string()?);
                if self.eat(")") {
                    break;
                }
                if !self.eat(",") {
                    return Err(format!("expected `,` or `)` in the arguments of {name}"));
                }
            }
        }
        matcher(&name, &args)
    }

    fn string(&mut self) -> Result<String, String> {
        self.space();
        let quote = match self.text.get(self.at) {
            Some(q @ (b'`' | b'"')) => *q,
            _ => return Err("a matcher argument must be quoted with backticks".to_owned()),
        };
        let start = self.at + 1;
        let end = self.text[start..]
            .iter()
            .position(|b| *b == quote)
            .ok_or("an argument's quote is not closed")?;
        self.at = start + end + 1;
        Ok(String::from_utf8_lossy(&self.text[start..start + end]).into_owned())
    }
}

fn matcher(name: &str, args: &[String]) -> Result<(), String> {
    let count = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{name} takes {n} argument(s), found {}",
                args.len()
            ))
        }
    };
    match name {
        "Host" => {
            count(1)?;
            if !obp_lang::types::is_hostname(&args[0].to_ascii_lowercase()) {
                return Err(format!("Host({}) is not a host name", shown(&args[0])));
            }
        }
        "ClientIP" => {
            count(1)?;
            if parse_cidr(&args[0]).is_none() && args[0].parse::<IpAddr>().is_err() {
                return Err(format!(
                    "ClientIP({}) is not an IP address or a CIDR range",
                    shown(&args[0])
                ));
            }
        }
        "Path" | "PathPrefix" => {
            count(1)?;
            if !args[0].starts_with('/') || args[0].chars().any(char::is_control) {
                return Err(format!(
                    "{name}({}) must be a path starting with `/`",
                    shown(&args[0])
                ));
            }
        }
        "Method" => {
            count(1)?;
            if args[0].is_empty() || !args[0].bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!("Method({}) is not an HTTP method", shown(&args[0])));
            }
        }
        "HostRegexp" | "PathRegexp" => count(1)?,
        "Header" | "HeaderRegexp" => count(2)?,
        "Query" | "QueryRegexp" => {
            if !matches!(args.len(), 1 | 2) {
                return Err(format!(
                    "{name} takes 1 or 2 arguments, found {}",
                    args.len()
                ));
            }
        }
        _ => return Err(format!("unknown matcher `{name}`")),
    }
    Ok(())
}

/// A value for messages: quoted, control characters escaped, long values shortened.
fn shown(text: &str) -> String {
    crate::attrs::shown(text)
}

#[cfg(test)]
mod tests;
