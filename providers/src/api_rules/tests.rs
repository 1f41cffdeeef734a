//! Table-driven tests of the API server's rules: valid and invalid values per rule (taken
//! from upstream's own tests in k8s.io/apimachinery/pkg/util/validation where they exist),
//! then whole manifests with the code and path each problem is reported at.

use serde_json::json;

use super::*;

type NameRule = fn(&str) -> Result<(), String>;

#[test]
fn name_rules_accept_and_refuse_like_the_api_server() {
    let long = |n: usize| "a".repeat(n);
    let table: &[(&str, NameRule, Vec<String>, Vec<String>)] = &[
        (
            "DNS-1123 label",
            dns1123_label,
            vec![
                "a".into(),
                "ab".into(),
                "a-1".into(),
                "0".into(),
                "1-odoo".into(),
                long(63),
            ],
            vec![
                "".into(),
                "A".into(),
                "odoo.acme".into(),
                "Odoo_Web".into(),
                "-a".into(),
                "a-".into(),
                "a b".into(),
                "a\n".into(),
                long(64),
            ],
        ),
        (
            "DNS-1035 label",
            dns1035_label,
            vec!["a".into(), "odoo-web".into(), "a1".into(), long(63)],
            vec![
                "".into(),
                "1a".into(),
                "odoo.acme".into(),
                "a-".into(),
                "A".into(),
                long(64),
            ],
        ),
        (
            "DNS-1123 subdomain",
            dns1123_subdomain,
            vec![
                "a".into(),
                "odoo.acme".into(),
                "0.a-b.c".into(),
                format!("{}.{}.{}.{}", long(63), long(63), long(63), long(61)),
            ],
            vec![
                "".into(),
                "a..b".into(),
                ".a".into(),
                "a.".into(),
                "Odoo_Web".into(),
                "a_b".into(),
                "a/b".into(),
                format!("{}.{}.{}.{}", long(63), long(63), long(63), long(62)),
            ],
        ),
        (
            "qualified name (label keys)",
            qualified_name,
            vec![
                "app".into(),
                "app.kubernetes.io/name".into(),
                "A_b.c-D".into(),
                "k8s-app".into(),
                format!("x/{}", long(63)),
            ],
            vec![
                "".into(),
                "/a".into(),
                "a/".into(),
                "a b".into(),
                "_a".into(),
                "a/b/c".into(),
                "UPPER.io/a".into(),
                format!("x/{}", long(64)),
                long(64),
            ],
        ),
        (
            "label value",
            label_value,
            vec![
                "".into(),
                "odoo".into(),
                "A_b.c-D".into(),
                "1".into(),
                long(63),
            ],
            vec![
                "a b".into(),
                "-a".into(),
                "a-".into(),
                "a/b".into(),
                "é".into(),
                long(64),
            ],
        ),
        (
            "port name (IANA_SVC_NAME)",
            port_name,
            vec![
                "http".into(),
                "web-1".into(),
                "a".into(),
                "1a".into(),
                "websocket".into(),
                long(15),
            ],
            vec![
                "".into(),
                "1234".into(),
                "a--b".into(),
                "-a".into(),
                "a-".into(),
                "HTTP".into(),
                "a_b".into(),
                "odoo-websocket-port".into(),
                long(16),
            ],
        ),
        (
            "environment variable name",
            env_var_name,
            vec![
                "PGHOST".into(),
                "a.b-c_d".into(),
                "_X".into(),
                ".x".into(),
                "1A".into(),
                "A B".into(),
            ],
            vec!["".into(), "A=B".into(), "A\n".into(), "Ä".into()],
        ),
        (
            "ConfigMap key",
            config_map_key,
            vec![
                "odoo.conf".into(),
                "10-odoo.sh".into(),
                ".hidden".into(),
                "A_b".into(),
            ],
            vec![
                "".into(),
                ".".into(),
                "..".into(),
                "..x".into(),
                "a/b".into(),
                "a b".into(),
                long(254),
            ],
        ),
    ];
    for (rule, check, valid, invalid) in table {
        for value in valid {
            assert_eq!(check(value), Ok(()), "{rule}: {value:?} should be valid");
        }
        for value in invalid {
            assert!(check(value).is_err(), "{rule}: {value:?} should be invalid");
        }
    }
}

#[test]
fn quantities_parse_like_resource_parse_quantity() {
    for (text, value) in [
        ("1", 1.0),
        ("500m", 0.5),
        ("1Gi", 1073741824.0),
        ("10G", 1e10),
        ("1.5", 1.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("1E-3", 0.001),
        ("+2", 2.0),
        ("-1", -1.0),
        ("0", 0.0),
    ] {
        let parsed = quantity(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(
            (parsed - value).abs() <= 1e-9 * value.abs().max(1.0),
            "{text}: {parsed}"
        );
    }
    for bad in [
        "", "abc", "1Gib", "1 Gi", "1..0", ".", "-", "1e", "1e+-3", "Gi", "1k1", "--1",
    ] {
        assert!(quantity(bad).is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn ranges_nest() {
    let cidr = |t| parse_cidr(t).unwrap();
    assert!(within(cidr("10.1.0.0/16"), cidr("10.0.0.0/8")));
    assert!(!within(cidr("11.0.0.0/16"), cidr("10.0.0.0/8")));
    assert!(!within(cidr("10.0.0.0/7"), cidr("10.0.0.0/8")));
    assert!(within(cidr("10.0.0.0/8"), cidr("0.0.0.0/0")));
    assert!(!within(cidr("2001:db8::/48"), cidr("10.0.0.0/8")));
    assert!(within(cidr("2001:db8:1::/48"), cidr("2001:db8::/32")));
}

#[test]
fn traefik_rules_parse_and_check_their_arguments() {
    for good in [
        "Host(`erp.acme.example`)",
        "(Host(`a.example`) || Host(`b.example`)) && PathPrefix(`/websocket`)",
        "Host(`a.example`) && !ClientIP(`10.0.0.0/8`)",
        "ClientIP(`192.0.2.7`)",
        "Header(`X-A`, `b`) && Method(`GET`)",
    ] {
        assert_eq!(traefik_rule(good), Ok(()), "{good}");
    }
    for bad in [
        // The injection the issue describes: an address range closing the matcher.
        "ClientIP(`0.0.0.0/0`) || Host(`evil.example`) && Host(`x`)`)",
        "Host(`a.example`) && ClientIP(`999.1.1.1/40`)",
        "Host(`a b`)",
        "Host(`a.example`",
        "Host(`a.example`) &&",
        "PathPrefix(`web`)",
        "Hots(`a.example`)",
        "Host(a.example)",
        "Host(`a.example`, `b.example`)",
        "",
    ] {
        assert!(traefik_rule(bad).is_err(), "{bad:?} should be refused");
    }
    let deep = format!("{}Host(`a.example`){}", "(".repeat(100), ")".repeat(100));
    assert!(traefik_rule(&deep).is_err());
}

/// (code, path) of every rejection.
fn found(manifest: Json) -> Vec<(&'static str, String)> {
    check(&manifest)
        .into_iter()
        .map(|r| (r.code, r.path))
        .collect()
}

#[test]
fn names_are_checked_with_the_rule_of_their_kind() {
    let service = |name: &str| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "odoo-acme"}, "spec": {"ports": [{"name": "http", "port": 8069}]}});
    assert_eq!(found(service("odoo-acme")), []);
    assert_eq!(
        found(service("odoo.acme")),
        [(NAME, "metadata.name".into())]
    );
    assert_eq!(found(service("1odoo")), [(NAME, "metadata.name".into())]);
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "odoo.acme", "namespace": "odoo-acme"}, "data": {"odoo.conf": ""}});
    assert_eq!(found(config_map), []);
    let namespace =
        |name: &str| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    assert_eq!(
        found(namespace("odoo.acme")),
        [(NAME, "metadata.name".into())]
    );
    for system in SYSTEM_NAMESPACES {
        assert_eq!(
            found(namespace(system)),
            [(SYSTEM_NAMESPACE, "metadata.name".into())]
        );
    }
    let cron = |name: &str| json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": "n"}, "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}});
    assert_eq!(found(cron(&"a".repeat(52))), []);
    assert_eq!(
        found(cron(&"a".repeat(53))),
        [(NAME, "metadata.name".into())]
    );
    let job = |name: &str| json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": {"template": {"spec": {"containers": []}}}});
    assert_eq!(found(job(&"a".repeat(63))), []);
    assert_eq!(
        found(job(&"a".repeat(64))),
        [(NAME, "metadata.name".into())]
    );
    let custom = json!({"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware", "metadata": {"name": "Odoo_Web"}});
    assert_eq!(found(custom), [(NAME, "metadata.name".into())]);
    let external = json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "db"},
        "spec": {"data": [{"secretKey": "PASSWORD"}, {"secretKey": "a/b"}]}});
    assert_eq!(found(external), [(NAME, "spec.data[1].secretKey".into())]);
    let rbac = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "system:odoo"}});
    assert_eq!(found(rbac), []);
    let namespaced = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "odoo.acme", "labels": {"a b": "x", "tier": "web tier", "ok": "x".repeat(64)}, "annotations": {"obp.dev/ok": "any text at all", "bad key": ""}}, "data": {"a/b": "", "odoo.conf": ""}});
    assert_eq!(
        found(namespaced),
        [
            (NAME, "metadata.namespace".into()),
            (NAME, "metadata.labels.a b".into()),
            (NAME, "metadata.labels.tier".into()),
            (NAME, "metadata.labels.ok".into()),
            (NAME, "metadata.annotations.bad key".into()),
            (NAME, "data.a/b".into()),
        ]
    );
}

#[test]
fn pod_templates_are_checked() {
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "odoo-acme-web", "namespace": "odoo-acme"},
        "spec": {
            "replicas": -1,
            "selector": {"matchLabels": {"app": "odoo"}},
            "template": {
                "metadata": {"labels": {"app": "odoo-other"}},
                "spec": {
                    "volumes": [{"name": "config"}, {"name": "Data"}],
                    "containers": [
                        {
                            "name": "Odoo_Web",
                            "ports": [{"name": "odoo-websocket-port", "containerPort": 70000}, {"name": "http", "containerPort": 8069, "hostPort": 0}],
                            "env": [{"name": "PGHOST"}, {"name": "BAD=NAME"}],
                            "volumeMounts": [{"name": "config"}, {"name": "missing"}],
                            "readinessProbe": {"httpGet": {"port": "HTTP"}},
                            "resources": {"requests": {"cpu": "2", "memory": "lots"}, "limits": {"cpu": "1"}}
                        },
                        {"name": "odoo", "ports": [{"name": "http", "containerPort": 8069}]},
                        {"name": "odoo"}
                    ]
                }
            }
        }
    });
    let c = "spec.template.spec.containers";
    assert_eq!(
        found(deployment),
        [
            (VALUE, "spec.replicas".into()),
            (VALUE, "spec.template.metadata.labels".into()),
            (NAME, "spec.template.spec.volumes[1].name".into()),
            (NAME, format!("{c}[0].name")),
            (NAME, format!("{c}[0].ports[0].name")),
            (VALUE, format!("{c}[0].ports[0].containerPort")),
            (NAME, format!("{c}[0].env[1].name")),
            (NAME, format!("{c}[0].volumeMounts[1].name")),
            (NAME, format!("{c}[0].readinessProbe.httpGet.port")),
            (VALUE, format!("{c}[0].resources.requests.memory")),
            (VALUE, format!("{c}[0].resources.requests.cpu")),
            (NAME, format!("{c}[1].ports[0].name")),
            (NAME, format!("{c}[2].name")),
        ]
    );
    let stateful = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "volumeClaimTemplates": [{"metadata": {"name": "data"}}],
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "postgres", "volumeMounts": [{"name": "data"}, {"name": "other"}]}]}}}});
    assert_eq!(
        found(stateful),
        [(
            NAME,
            "spec.template.spec.containers[0].volumeMounts[1].name".into()
        )]
    );
    let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "odoo-acme-backup", "namespace": "odoo-acme"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"metadata": {"labels": {"a": "b c"}}, "spec": {"containers": [{"name": "Backup"}]}}}}}});
    assert_eq!(
        found(cron),
        [
            (
                NAME,
                "spec.jobTemplate.spec.template.metadata.labels.a".into()
            ),
            (
                NAME,
                "spec.jobTemplate.spec.template.spec.containers[0].name".into()
            ),
        ]
    );
}

#[test]
fn services_policies_and_quotas_are_checked() {
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "odoo"},
        "spec": {"selector": {"app": "a b"}, "ports": [{"name": "http", "port": 0, "targetPort": "http"}, {"port": 8072, "targetPort": 65536}, {"name": "http", "port": 1, "targetPort": "Not_A_Name"}]}});
    assert_eq!(
        found(service),
        [
            (VALUE, "spec.ports[0].port".into()),
            (NAME, "spec.ports[1].name".into()),
            (VALUE, "spec.ports[1].targetPort".into()),
            (NAME, "spec.ports[2].name".into()),
            (NAME, "spec.ports[2].targetPort".into()),
            (NAME, "spec.selector.app".into()),
        ]
    );
    let policy = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p"},
    "spec": {"podSelector": {}, "egress": [{
        "to": [{"ipBlock": {"cidr": "999.1.1.1/40"}}, {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "11.0.0.0/16", "x"]}}],
        "ports": [{"port": 5432}, {"port": 65536}, {"port": 1000, "endPort": 999}, {"port": "postgres"}, {"port": "Postgres_DB"}]
    }]}});
    assert_eq!(
        found(policy),
        [
            (VALUE, "spec.egress[0].to[0].ipBlock.cidr".into()),
            (VALUE, "spec.egress[0].to[1].ipBlock.except[1]".into()),
            (VALUE, "spec.egress[0].to[1].ipBlock.except[2]".into()),
            (VALUE, "spec.egress[0].ports[1].port".into()),
            (VALUE, "spec.egress[0].ports[2].endPort".into()),
            (NAME, "spec.egress[0].ports[4].port".into()),
        ]
    );
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
        "spec": {"hard": {"requests.cpu": "-1", "requests.memory": "4Gi", "pods": "ten", "limits.cpu": "0"}}});
    assert_eq!(
        found(quota),
        [
            (VALUE, "spec.hard.requests.cpu".into()),
            (VALUE, "spec.hard.pods".into())
        ]
    );
    let limits = json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "-500m"}, "defaultRequest": {"memory": "128Mi"}}]}});
    assert_eq!(
        found(limits),
        [(VALUE, "spec.limits[0].default.cpu".into())]
    );
}

#[test]
fn traefik_objects_are_checked() {
    let route = |rule: &str| {
        json!({"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute", "metadata": {"name": "r"},
        "spec": {"routes": [{"kind": "Rule", "match": rule, "services": [{"name": "odoo", "port": 8069}]}]}})
    };
    assert_eq!(
        found(route(
            "Host(`erp.acme.example`) && PathPrefix(`/web/database`)"
        )),
        []
    );
    assert_eq!(
        found(route("Host(`0.0.0.0/0`) || Host(`evil.example`)")),
        [(TRAEFIK, "spec.routes[0].match".into())]
    );
    let allow = |range: &str| {
        json!({"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware", "metadata": {"name": "m"},
        "spec": {"ipAllowList": {"sourceRange": ["192.0.2.1/32", range]}}})
    };
    assert_eq!(found(allow("203.0.113.7")), []);
    assert_eq!(found(allow("2001:db8::/32")), []);
    assert_eq!(
        found(allow("999.1.1.1/40")),
        [(TRAEFIK, "spec.ipAllowList.sourceRange[1]".into())]
    );
    assert_eq!(
        found(allow("0.0.0.0/0`) || Host(`evil.example")),
        [(TRAEFIK, "spec.ipAllowList.sourceRange[1]".into())]
    );
}

#[test]
fn hostile_shapes_do_not_panic() {
    for manifest in [
        json!(null),
        json!([]),
        json!({"kind": 3, "metadata": []}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": 1}, "spec": {"template": {"spec": {"containers": {"a": 1}}}, "selector": {"matchLabels": []}}}),
        json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [null, 1, {"port": "x"}]}}),
        json!({"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute", "spec": {"routes": [{"match": "Host(`é`)\u{0}"}]}}),
    ] {
        let _ = check(&manifest);
    }
}
