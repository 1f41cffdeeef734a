//! Changes the API server refuses to make in place, on the real server: a Job's pod template
//! is immutable, so a new image for a Job is planned as a replacement (the old Job deleted and
//! gone, then the new one created), never as the update the server would refuse.

use obp_engine::plan::Action;
use serde_json::{json, Value as Json};

use super::{actions, failures, now, Fixture};

fn jobs(image: &str) -> String {
    format!(
        r#"
resource k8s.job migrate {{
  metadata = {{ name = "migrate", namespace = "NS" }}
  spec = {{ backoffLimit = 0, template = {{ spec = {{ restartPolicy = "Never", containers = [{{ name = "m", image = "{image}" }}] }} }} }}
}}
resource k8s.config_map after {{
  metadata = {{ name = "after", namespace = "NS" }}
  data = {{ job = k8s.job.migrate.uid }}
}}
"#
    )
}

/// Waits for a Job `migrate` other than `old` (by uid) and reports it complete, as the Job
/// controller would.
async fn complete_new_job(fx: &Fixture, old: Option<&Json>) {
    for _ in 0..200 {
        if let Some(job) = fx.cluster.get("batch/v1", "Job", "migrate").await {
            if Some(&job["metadata"]["uid"]) != old {
                let at = now();
                fx.cluster
                    .set_status(
                        "batch/v1",
                        "Job",
                        "migrate",
                        json!({"startTime": at, "completionTime": at, "succeeded": 1, "conditions": [
                            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": at},
                            {"type": "Complete", "status": "True", "lastTransitionTime": at},
                        ]}),
                    )
                    .await;
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no new Job was created");
}

#[tokio::test]
async fn live_a_job_whose_template_changes_is_replaced_not_updated() {
    let fx = Fixture::new("job-replace", &jobs("odoo:18")).await;
    let first = fx.plan().await;
    let (report, ()) = tokio::join!(fx.apply(&first), complete_new_job(&fx, None));
    assert!(report.ok(), "{:?}", failures(&report));
    let old = fx.cluster.get("batch/v1", "Job", "migrate").await.unwrap();

    fx.write("", &jobs("odoo:19"));
    let release = fx.plan().await;
    assert_eq!(
        actions(&release),
        [
            ("k8s.job.migrate".to_owned(), Action::Replace),
            ("k8s.config_map.after".to_owned(), Action::Update),
        ]
    );
    assert_eq!(
        release.changes[0].reasons,
        ["`spec.template.spec.containers[name=m].image` cannot be changed in place"]
    );
    let (report, ()) = tokio::join!(
        fx.apply(&release),
        complete_new_job(&fx, Some(&old["metadata"]["uid"]))
    );
    assert!(report.ok(), "{:?}", failures(&report));

    let new = fx.cluster.get("batch/v1", "Job", "migrate").await.unwrap();
    assert_ne!(new["metadata"]["uid"], old["metadata"]["uid"]);
    assert_eq!(
        new["spec"]["template"]["spec"]["containers"][0]["image"],
        "odoo:19"
    );
    let after = fx.cluster.get("v1", "ConfigMap", "after").await.unwrap();
    assert_eq!(after["data"]["job"], new["metadata"]["uid"]);
    assert!(!fx.plan().await.has_changes());
}
