//! Readiness of live objects after an apply, judged from their status the way
//! `kubectl rollout status` and `kubectl wait` do: Deployments and StatefulSets have rolled
//! out, Jobs have completed (a failed Job fails the apply), claims are bound, custom resource
//! definitions are established (so objects of their kind can follow). Other kinds are ready
//! as soon as the server accepted them.

use serde_json::Value as Json;

/// What the status of an object says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Not yet; the text says what is still missing.
    Pending(String),
    /// Will not become ready (a failed Job, a rollout past its deadline).
    Failed(String),
}

/// Whether the kind has a readiness rule at all.
pub fn has_rule(api_version: &str, kind: &str) -> bool {
    rule(api_version, kind).is_some()
}

type Rule = fn(&Json) -> Readiness;

fn rule(api_version: &str, kind: &str) -> Option<Rule> {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    match (group, kind) {
        ("apps", "Deployment") => Some(deployment),
        ("apps", "StatefulSet") => Some(stateful_set),
        ("batch", "Job") => Some(job),
        ("", "PersistentVolumeClaim") => Some(claim),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Some(definition),
        _ => None,
    }
}

/// The readiness of a live object of the given kind.
pub fn check(api_version: &str, kind: &str, object: &Json) -> Readiness {
    match rule(api_version, kind) {
        Some(rule) => rule(object),
        None => Readiness::Ready,
    }
}

fn count(status: &Json, field: &str) -> i64 {
    // Controllers leave zero counts out.
    status.get(field).and_then(Json::as_i64).unwrap_or(0)
}

fn condition<'a>(object: &'a Json, kind: &str) -> Option<&'a Json> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind && c["status"] == "True")
}

fn describe(condition: &Json) -> String {
    let reason = condition["reason"].as_str().unwrap_or("");
    let message = condition["message"].as_str().unwrap_or("");
    match (reason.is_empty(), message.is_empty()) {
        (false, false) => format!("{reason}: {message}"),
        (false, true) => reason.to_owned(),
        (true, false) => message.to_owned(),
        (true, true) => "no reason given".to_owned(),
    }
}

/// The controller has seen the latest spec; otherwise what is missing.
fn observed(object: &Json) -> Option<String> {
    let generation = object["metadata"]["generation"].as_i64().unwrap_or(0);
    match object["status"]["observedGeneration"].as_i64() {
        Some(seen) if seen >= generation => None,
        Some(seen) => Some(format!(
            "the controller has observed generation {seen}, not yet {generation}"
        )),
        None => Some(format!(
            "the controller has not observed generation {generation} yet"
        )),
    }
}

fn replicas_missing(object: &Json, fields: &[(&str, &str)]) -> Vec<String> {
    let desired = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let status = &object["status"];
    let mut missing = Vec::new();
    for (field, word) in fields {
        let have = count(status, field);
        if have < desired {
            missing.push(format!("{have} of {desired} replicas {word}"));
        }
    }
    let total = count(status, "replicas");
    let updated = count(status, "updatedReplicas");
    if total > updated && updated >= desired {
        missing.push(format!(
            "{} old replicas pending termination",
            total - updated
        ));
    }
    missing
}

fn deployment(object: &Json) -> Readiness {
    if let Some(stalled) = object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded")
    {
        return Readiness::Failed(format!("the rollout stalled ({})", describe(stalled)));
    }
    if let Some(missing) = observed(object) {
        return Readiness::Pending(missing);
    }
    let missing = replicas_missing(
        object,
        &[
            ("updatedReplicas", "updated"),
            ("readyReplicas", "ready"),
            ("availableReplicas", "available"),
        ],
    );
    if missing.is_empty() {
        Readiness::Ready
    } else {
        Readiness::Pending(missing.join(", "))
    }
}

fn stateful_set(object: &Json) -> Readiness {
    if let Some(missing) = observed(object) {
        return Readiness::Pending(missing);
    }
    let on_delete = object["spec"]["updateStrategy"]["type"] == "OnDelete";
    let mut fields = vec![
        ("readyReplicas", "ready"),
        ("availableReplicas", "available"),
    ];
    if !on_delete {
        fields.insert(0, ("updatedReplicas", "updated"));
    }
    let missing = replicas_missing(object, &fields);
    if missing.is_empty() {
        Readiness::Ready
    } else {
        Readiness::Pending(missing.join(", "))
    }
}

fn job(object: &Json) -> Readiness {
    if let Some(failed) = condition(object, "Failed") {
        return Readiness::Failed(format!("the Job failed ({})", describe(failed)));
    }
    if condition(object, "Complete").is_some() {
        return Readiness::Ready;
    }
    let status = &object["status"];
    Readiness::Pending(format!(
        "the Job has not completed (active {}, succeeded {}, failed {})",
        count(status, "active"),
        count(status, "succeeded"),
        count(status, "failed")
    ))
}

fn claim(object: &Json) -> Readiness {
    match object["status"]["phase"].as_str() {
        Some("Bound") => Readiness::Ready,
        Some("Lost") => Readiness::Failed("the claim lost its volume (phase Lost)".to_owned()),
        Some(phase) => Readiness::Pending(format!("the claim is {phase}, not Bound")),
        None => Readiness::Pending("the claim has no phase yet, not Bound".to_owned()),
    }
}

fn definition(object: &Json) -> Readiness {
    if condition(object, "Established").is_some() {
        Readiness::Ready
    } else {
        Readiness::Pending("the CustomResourceDefinition is not established yet".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployments_roll_out() {
        let mut d = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": {"observedGeneration": 1}});
        assert_eq!(
            check("apps/v1", "Deployment", &d),
            Readiness::Pending("the controller has observed generation 1, not yet 2".into())
        );
        d["status"] = json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "readyReplicas": 1, "availableReplicas": 1});
        assert_eq!(
            check("apps/v1", "Deployment", &d),
            Readiness::Pending("1 of 2 replicas ready, 1 of 2 replicas available, 1 old replicas pending termination".into())
        );
        d["status"] = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2});
        assert_eq!(check("apps/v1", "Deployment", &d), Readiness::Ready);
        let zero = json!({"metadata": {"generation": 1}, "spec": {"replicas": 0}, "status": {"observedGeneration": 1}});
        assert_eq!(check("apps/v1", "Deployment", &zero), Readiness::Ready);
        d["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-1\" has timed out progressing."}]);
        assert!(
            matches!(check("apps/v1", "Deployment", &d), Readiness::Failed(m) if m.contains("timed out progressing"))
        );
    }

    #[test]
    fn jobs_complete_or_fail() {
        let pending = json!({"status": {"active": 1}});
        assert_eq!(
            check("batch/v1", "Job", &pending),
            Readiness::Pending(
                "the Job has not completed (active 1, succeeded 0, failed 0)".into()
            )
        );
        let failed = json!({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}});
        assert_eq!(
            check("batch/v1", "Job", &failed),
            Readiness::Failed("the Job failed (BackoffLimitExceeded: Job has reached the specified backoff limit)".into())
        );
        let complete = json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(check("batch/v1", "Job", &complete), Readiness::Ready);
    }

    #[test]
    fn claims_bind_and_other_kinds_are_ready() {
        assert_eq!(
            check(
                "v1",
                "PersistentVolumeClaim",
                &json!({"status": {"phase": "Pending"}})
            ),
            Readiness::Pending("the claim is Pending, not Bound".into())
        );
        assert_eq!(
            check(
                "v1",
                "PersistentVolumeClaim",
                &json!({"status": {"phase": "Bound"}})
            ),
            Readiness::Ready
        );
        assert_eq!(check("v1", "ConfigMap", &json!({})), Readiness::Ready);
        let crd = "CustomResourceDefinition";
        let established =
            json!({"status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert_eq!(
            check("apiextensions.k8s.io/v1", crd, &established),
            Readiness::Ready
        );
        assert!(matches!(
            check("apiextensions.k8s.io/v1", crd, &json!({})),
            Readiness::Pending(_)
        ));
        assert!(!has_rule("example.com/v1", "Deployment"));
        assert!(has_rule("apps/v1", "StatefulSet"));
    }
}
