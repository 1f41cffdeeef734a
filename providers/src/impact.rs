//! What a planned change does beyond writing its object, for the plan's blast radius
//! (`Provider::impact`): one classification shared by the GitOps and Kubernetes providers, and
//! the data effects of PostgreSQL databases and S3 buckets.
//!
//! Kubernetes objects are grouped by their `obp.dev/tenant` label and a Job's purpose is read
//! from its `obp.dev/effect` label: the blueprint says which objects belong to a tenant and
//! which Job upgrades a schema or restores data; nothing here knows Odoo.

use std::collections::BTreeMap;

use obp_engine::plan::Action;
use obp_engine::provider::{ChangeRef, Effect, Impact};
use serde_json::Value as Json;

/// The label naming the group (tenant) an object's changes are counted in.
pub const TENANT_LABEL: &str = "obp.dev/tenant";

/// The label saying what running a Job does: `schema-upgrade` or `data-restore` (any other
/// value, or none: it runs a job).
pub const EFFECT_LABEL: &str = "obp.dev/effect";

/// The impact of a change to a Kubernetes object (`k8s.*`).
pub fn kubernetes(change: &ChangeRef<'_>) -> Impact {
    let attrs = change.after.or(change.before);
    let metadata = |key: &str| {
        attrs
            .and_then(|a| a.get("metadata"))
            .and_then(|m| m.get(key))
    };
    let label = |key: &str| {
        metadata("labels")
            .and_then(|l| l.get(key))
            .and_then(Json::as_str)
    };
    let effects = match change.rtype.strip_prefix("k8s.").unwrap_or_default() {
        "deployment" | "stateful_set" => workload(change),
        "job" if matches!(change.action, Action::Create | Action::Replace) => {
            vec![match label(EFFECT_LABEL) {
                Some("schema-upgrade") => Effect::SchemaUpgrade,
                Some("data-restore") => Effect::DataRestore,
                _ => Effect::RunsJob,
            }]
        }
        // A claim's volume goes with it (unless its storage class retains volumes, which
        // obp cannot see); its pods cannot run while it is recreated.
        "persistent_volume_claim" => match change.action {
            Action::Replace => vec![Effect::DataChange, Effect::Downtime],
            Action::Delete => vec![Effect::DataChange],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    Impact {
        group: label(TENANT_LABEL).map(str::to_owned),
        effects,
        name: metadata("name").and_then(Json::as_str).map(str::to_owned),
    }
}

/// A Deployment's or StatefulSet's effects: a new pod template restarts its pods, with
/// downtime when the old pods stop before new ones are ready (a `Recreate` strategy, a single
/// StatefulSet replica) or the object itself is replaced or deleted.
fn workload(change: &ChangeRef<'_>) -> Vec<Effect> {
    let spec = |attrs: Option<&BTreeMap<String, Json>>| attrs.and_then(|a| a.get("spec")).cloned();
    match change.action {
        Action::Replace | Action::Delete => return vec![Effect::Downtime],
        Action::Update => {}
        _ => return Vec::new(),
    }
    let template_changes = change.diffs.iter().any(|d| {
        d.path
            .strip_prefix("spec.template")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    });
    let Some(spec) = spec(change.after) else {
        return Vec::new();
    };
    // `replicas` defaults to 1; none running, nothing restarts. An `OnDelete` StatefulSet
    // keeps its pods until someone deletes them.
    let replicas = spec.get("replicas").and_then(Json::as_i64).unwrap_or(1);
    let strategy = |field: &str| {
        spec.get(field)
            .and_then(|s| s.get("type"))
            .and_then(Json::as_str)
    };
    if !template_changes || replicas == 0 || strategy("updateStrategy") == Some("OnDelete") {
        return Vec::new();
    }
    let stateful = change.rtype == "k8s.stateful_set";
    if strategy("strategy") == Some("Recreate") || (stateful && replicas == 1) {
        vec![Effect::Downtime]
    } else {
        vec![Effect::Restart]
    }
}

/// The impact of a change to a PostgreSQL database or an S3 bucket: replacing or deleting one
/// removes what it stores (a bucket must be emptied first: obp never deletes objects), and a
/// replaced database is unavailable in between. The object's `name` is shown.
pub fn data_store(change: &ChangeRef<'_>) -> Impact {
    let attrs = change.after.or(change.before);
    let effects = match (change.rtype, change.action) {
        ("postgres.database", Action::Replace) => vec![Effect::DataChange, Effect::Downtime],
        ("postgres.database" | "s3.bucket", Action::Replace | Action::Delete) => {
            vec![Effect::DataChange]
        }
        _ => Vec::new(),
    };
    Impact {
        group: None,
        effects,
        name: attrs
            .and_then(|a| a.get("name"))
            .and_then(Json::as_str)
            .map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use obp_engine::plan::AttrDiff;
    use serde_json::json;

    fn attrs(value: Json) -> BTreeMap<String, Json> {
        serde_json::from_value(value).unwrap()
    }

    fn diff(path: &str) -> AttrDiff {
        AttrDiff {
            path: path.to_owned(),
            before: Some(json!(1)),
            after: Some(json!(2)),
            forces_replace: false,
            sensitive: false,
        }
    }

    fn effects(
        rtype: &str,
        action: Action,
        after: &BTreeMap<String, Json>,
        path: &str,
    ) -> Vec<Effect> {
        let diffs = [diff(path)];
        let change = ChangeRef {
            address: "x",
            rtype,
            action,
            before: Some(after),
            after: (action != Action::Delete).then_some(after),
            diffs: &diffs,
        };
        kubernetes(&change).effects
    }

    #[test]
    fn workloads_restart_or_go_down_by_their_rollout() {
        let deployment = |strategy: &str, replicas: i64| {
            attrs(
                json!({"metadata": {"name": "web", "labels": {"obp.dev/tenant": "acme"}},
                          "spec": {"replicas": replicas, "strategy": {"type": strategy}}}),
            )
        };
        let image = "spec.template.spec.containers[name=odoo].image";
        let rolling = deployment("RollingUpdate", 2);
        assert_eq!(
            effects("k8s.deployment", Action::Update, &rolling, image),
            [Effect::Restart]
        );
        assert_eq!(
            effects("k8s.deployment", Action::Update, &rolling, "spec.replicas"),
            []
        );
        assert_eq!(
            effects(
                "k8s.deployment",
                Action::Update,
                &deployment("Recreate", 2),
                image
            ),
            [Effect::Downtime]
        );
        assert_eq!(
            effects(
                "k8s.deployment",
                Action::Update,
                &deployment("RollingUpdate", 0),
                image
            ),
            []
        );
        assert_eq!(
            effects("k8s.deployment", Action::Replace, &rolling, "spec.selector"),
            [Effect::Downtime]
        );
        assert_eq!(
            effects("k8s.deployment", Action::Create, &rolling, image),
            []
        );
        let single = attrs(json!({"metadata": {"name": "pg"}, "spec": {"replicas": 1}}));
        assert_eq!(
            effects("k8s.stateful_set", Action::Update, &single, image),
            [Effect::Downtime]
        );
        let on_delete = attrs(
            json!({"metadata": {"name": "pg"}, "spec": {"replicas": 3, "updateStrategy": {"type": "OnDelete"}}}),
        );
        assert_eq!(
            effects("k8s.stateful_set", Action::Update, &on_delete, image),
            []
        );
        let change = ChangeRef {
            address: "x",
            rtype: "k8s.deployment",
            action: Action::Update,
            before: Some(&rolling),
            after: Some(&rolling),
            diffs: &[],
        };
        let impact = kubernetes(&change);
        assert_eq!(
            (impact.group.as_deref(), impact.name.as_deref()),
            (Some("acme"), Some("web"))
        );
    }

    #[test]
    fn jobs_say_what_they_run_by_their_effect_label() {
        let job = |effect: Option<&str>| {
            let labels = effect.map_or(json!({}), |e| json!({ EFFECT_LABEL: e }));
            attrs(json!({"metadata": {"name": "j", "labels": labels}, "spec": {}}))
        };
        let path = "spec.template";
        assert_eq!(
            effects("k8s.job", Action::Create, &job(None), path),
            [Effect::RunsJob]
        );
        assert_eq!(
            effects(
                "k8s.job",
                Action::Replace,
                &job(Some("schema-upgrade")),
                path
            ),
            [Effect::SchemaUpgrade]
        );
        assert_eq!(
            effects("k8s.job", Action::Create, &job(Some("data-restore")), path),
            [Effect::DataRestore]
        );
        assert_eq!(
            effects(
                "k8s.job",
                Action::Delete,
                &job(Some("schema-upgrade")),
                path
            ),
            []
        );
        let claim = attrs(json!({"metadata": {"name": "data"}}));
        assert_eq!(
            effects("k8s.persistent_volume_claim", Action::Delete, &claim, path),
            [Effect::DataChange]
        );
    }

    #[test]
    fn databases_and_buckets_replaced_or_deleted_change_data() {
        let database = attrs(json!({"name": "acme"}));
        let impact = |rtype: &str, action: Action| {
            data_store(&ChangeRef {
                address: "x",
                rtype,
                action,
                before: Some(&database),
                after: (action != Action::Delete).then_some(&database),
                diffs: &[],
            })
        };
        assert_eq!(
            impact("postgres.database", Action::Replace).effects,
            [Effect::DataChange, Effect::Downtime]
        );
        assert_eq!(
            impact("postgres.database", Action::Delete).effects,
            [Effect::DataChange]
        );
        assert_eq!(impact("postgres.database", Action::Update).effects, []);
        assert_eq!(
            impact("s3.bucket", Action::Delete).effects,
            [Effect::DataChange]
        );
        assert_eq!(impact("postgres.role", Action::Delete).effects, []);
        assert_eq!(
            impact("s3.bucket", Action::Delete).name.as_deref(),
            Some("acme")
        );
    }
}
