//! The S3 provider end to end through the engine, against real servers on loopback:
//!
//! - Garage (`scripts/servers/garage.sh`): bucket + lifecycle expiration + object, an empty
//!   second plan, an in-place lifecycle change, out-of-band changes (made with plain signed
//!   requests, not through the provider) found by refresh and undone by apply, a non-empty
//!   bucket refusing destroy, destroy leaving nothing behind, credentials absent from state,
//!   and NotSupported errors for what Garage does not implement (versioning, noncurrent
//!   version expiration, bucket tags, bucket policies);
//! - moto (`scripts/servers/moto.sh`), for what Garage lacks: versioning, bucket policies and
//!   bucket tags, round trip and drift.
//!
//! Hostile bucket names and object keys are refused at plan time, at the blueprint line.
//! Tests needing a server fail (never skip) when its variables are missing: `scripts/test`
//! starts the servers and exports them.

mod common;

use std::time::Duration;

use common::{server_env, Run};
use obp_engine::apply::ApplyReport;
use obp_engine::plan::{Action, Plan};
use rusty_s3::{Bucket, Method, UrlStyle};

/// A server the tests talk to, from the variables its script wrote.
#[derive(Clone)]
struct Server {
    endpoint: String,
    region: String,
    /// Variable names holding the credentials, for `secret("env:…")`.
    access_var: &'static str,
    secret_var: &'static str,
}

fn garage() -> Server {
    let script = "garage";
    let server = Server {
        endpoint: server_env("OBP_TEST_S3_ENDPOINT", script),
        region: server_env("OBP_TEST_S3_REGION", script),
        access_var: "OBP_TEST_S3_ACCESS_KEY",
        secret_var: "OBP_TEST_S3_SECRET_KEY",
    };
    server_env(server.access_var, script);
    server_env(server.secret_var, script);
    server
}

fn moto() -> Server {
    let script = "moto";
    let server = Server {
        endpoint: server_env("OBP_TEST_MOTO_ENDPOINT", script),
        region: "us-east-1".to_owned(),
        access_var: "OBP_TEST_MOTO_ACCESS_KEY",
        secret_var: "OBP_TEST_MOTO_SECRET_KEY",
    };
    server_env(server.access_var, script);
    server_env(server.secret_var, script);
    server
}

/// A bucket name no other test (or earlier run) uses.
fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("obp-{tag}-{:x}-{:x}", std::process::id(), nanos % (1 << 40))
}

impl Server {
    fn provider_block(&self) -> String {
        format!(
            "provider s3 {{\n  endpoint = \"{}\"\n  region = \"{}\"\n  access_key = secret(\"env:{}\")\n  secret_key = secret(\"env:{}\")\n}}\n",
            self.endpoint, self.region, self.access_var, self.secret_var
        )
    }

    fn direct(&self) -> Direct {
        Direct {
            http: reqwest::Client::new(),
            endpoint: format!("{}/", self.endpoint.trim_end_matches('/'))
                .parse()
                .unwrap(),
            region: self.region.clone(),
            key: std::env::var(self.access_var).unwrap(),
            secret: std::env::var(self.secret_var).unwrap(),
        }
    }
}

/// Plain signed requests to the server, bypassing the provider: how the tests make changes
/// out of band and check what is really there.
struct Direct {
    http: reqwest::Client,
    endpoint: url::Url,
    region: String,
    key: String,
    secret: String,
}

impl Direct {
    async fn send(
        &self,
        method: Method,
        bucket: Option<&str>,
        key: Option<&str>,
        query: &[(&str, &str)],
        body: Option<&str>,
    ) -> (u16, String) {
        let url = match bucket {
            None => self.endpoint.clone(),
            Some(bucket) => {
                let b = Bucket::new(
                    self.endpoint.clone(),
                    UrlStyle::Path,
                    bucket.to_owned(),
                    self.region.clone(),
                )
                .unwrap();
                match key {
                    Some(key) => b.object_url(key).unwrap(),
                    None => b.base_url().clone(),
                }
            }
        };
        let signed = rusty_s3::signing::sign(
            &jiff::Timestamp::now(),
            method,
            url,
            &self.key,
            &self.secret,
            None,
            &self.region,
            60,
            query.iter().copied(),
            std::iter::empty(),
        );
        let method = match method {
            Method::Head => reqwest::Method::HEAD,
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut request = self.http.request(method, signed);
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    async fn get(&self, bucket: &str, sub: &str) -> (u16, String) {
        self.send(Method::Get, Some(bucket), None, &[(sub, "")], None)
            .await
    }

    async fn put(&self, bucket: &str, sub: &str, body: &str) -> (u16, String) {
        self.send(Method::Put, Some(bucket), None, &[(sub, "")], Some(body))
            .await
    }

    async fn bucket_status(&self, bucket: &str) -> u16 {
        self.send(Method::Head, Some(bucket), None, &[], None)
            .await
            .0
    }

    async fn list_buckets(&self) -> String {
        let (status, body) = self.send(Method::Get, None, None, &[], None).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// The one error of a failed apply, as text.
fn failure(report: &ApplyReport) -> String {
    assert!(!report.ok(), "the apply should have failed");
    report
        .failed
        .iter()
        .map(|(address, error)| format!("{address}: {error}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn change<'a>(made: &'a Plan, address: &str) -> &'a obp_engine::plan::Change {
    made.changes
        .iter()
        .find(|c| c.address == address)
        .unwrap_or_else(|| panic!("no change for {address}: {:#?}", made.changes))
}

fn garage_stack(server: &Server, bucket: &str, days: u32) -> String {
    format!(
        r#"stack s3test {{}}
{}
resource s3.bucket data {{
  name = "{bucket}"
  lifecycle_rules = [
    {{ id = "expire-tmp", prefix = "tmp/", expiration_days = {days}, abort_incomplete_multipart_days = 2 }},
  ]
}}

resource s3.object marker {{
  bucket = s3.bucket.data.name
  key = "markers/ready"
  content = "ready\n"
}}
"#,
        server.provider_block()
    )
}

#[tokio::test]
async fn garage_bucket_lifecycle_object_drift_and_destroy() {
    let server = garage();
    let direct = server.direct();
    let bucket = unique("life");
    let run = Run::new(&garage_stack(&server, &bucket, 7));

    // Create: bucket with its lifecycle rule, then the object in it.
    let first = run.plan(false).await;
    assert_eq!(first.count(Action::Create), 2, "{:#?}", first.changes);
    run.apply(&first).await;
    let (status, lifecycle) = direct.get(&bucket, "lifecycle").await;
    assert_eq!(status, 200, "{lifecycle}");
    assert!(lifecycle.contains("<Days>7</Days>"), "{lifecycle}");
    assert!(lifecycle.contains("tmp/"), "{lifecycle}");
    let (status, content) = direct
        .send(Method::Get, Some(&bucket), Some("markers/ready"), &[], None)
        .await;
    assert_eq!((status, content.as_str()), (200, "ready\n"));

    // Nothing to do the second time.
    let second = run.plan(false).await;
    assert!(!second.has_changes(), "{:#?}", second.changes);
    assert!(second.drift.is_empty(), "{:#?}", second.drift);

    // The credentials are secret references: their values are nowhere in state.
    let state = run.state_text();
    assert!(state.contains(&bucket));
    for name in [server.access_var, server.secret_var] {
        let value = std::env::var(name).unwrap();
        assert!(!state.contains(&value), "{name} leaked into state");
        let plan_json = serde_json::to_string(&second).unwrap();
        assert!(!plan_json.contains(&value), "{name} leaked into the plan");
    }

    // Changing the rule updates the bucket in place.
    run.edit(&garage_stack(&server, &bucket, 14));
    let changed = run.plan(false).await;
    assert_eq!(
        change(&changed, "s3.bucket.data").action,
        Action::Update,
        "{:#?}",
        changed.changes
    );
    assert_eq!(changed.count(Action::Replace), 0);
    run.apply(&changed).await;
    let (_, lifecycle) = direct.get(&bucket, "lifecycle").await;
    assert!(lifecycle.contains("<Days>14</Days>"), "{lifecycle}");
    assert!(!run.plan(false).await.has_changes());

    // Out-of-band changes, made without the provider, are drift; apply undoes them.
    let foreign = r#"<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ID>expire-tmp</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>30</Days></Expiration></Rule></LifecycleConfiguration>"#;
    let (status, body) = direct.put(&bucket, "lifecycle", foreign).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = direct
        .send(
            Method::Put,
            Some(&bucket),
            Some("markers/ready"),
            &[],
            Some("tampered\n"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let drifted = run.plan(false).await;
    let addresses: Vec<&str> = drifted.drift.iter().map(|d| d.address.as_str()).collect();
    assert_eq!(
        addresses,
        ["s3.bucket.data", "s3.object.marker"],
        "{:#?}",
        drifted.drift
    );
    let bucket_drift = &drifted.drift[0];
    assert!(
        bucket_drift
            .diffs
            .iter()
            .any(|d| d.path.starts_with("lifecycle_rules")
                && d.after
                    .as_ref()
                    .is_some_and(|a| a.to_string().contains("30"))),
        "{:#?}",
        bucket_drift.diffs
    );
    assert_eq!(change(&drifted, "s3.bucket.data").action, Action::Update);
    assert_eq!(change(&drifted, "s3.object.marker").action, Action::Update);
    run.apply(&drifted).await;
    let (_, lifecycle) = direct.get(&bucket, "lifecycle").await;
    assert!(
        lifecycle.contains("<Days>14</Days>") && !lifecycle.contains("<Days>30</Days>"),
        "{lifecycle}"
    );
    let (_, content) = direct
        .send(Method::Get, Some(&bucket), Some("markers/ready"), &[], None)
        .await;
    assert_eq!(content, "ready\n");
    assert!(!run.plan(false).await.has_changes());

    // Import reads the object back as the blueprint writes it.
    let providers = run.providers();
    let reference = obp_engine::provider::ResourceRef {
        order: None,
        address: "s3.object.adopted",
        rtype: "s3.object",
    };
    let imported = providers
        .get("s3")
        .unwrap()
        .import(&reference, &format!("{bucket}/markers/ready"))
        .await
        .unwrap();
    let expected: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_value(
        serde_json::json!({ "bucket": bucket, "key": "markers/ready", "content": "ready\n" }),
    )
    .unwrap();
    assert_eq!(imported.inputs, expected);

    // A bucket holding objects obp does not manage is not deleted, with a way out.
    let (status, _) = direct
        .send(
            Method::Put,
            Some(&bucket),
            Some("tmp/user-data"),
            &[],
            Some("keep me"),
        )
        .await;
    assert_eq!(status, 200);
    let refused = run.try_apply(&run.plan(true).await).await;
    let message = failure(&refused);
    assert!(
        message.contains(&format!("bucket `{bucket}` is not empty"))
            && message.contains("obp state rm s3.bucket.data"),
        "{message}"
    );
    assert_eq!(direct.bucket_status(&bucket).await, 200, "the bucket stays");
    let (status, _) = direct
        .send(
            Method::Delete,
            Some(&bucket),
            Some("tmp/user-data"),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 204);

    // Destroy leaves nothing behind, as the server itself tells.
    let destroy = run.plan(true).await;
    assert_eq!(destroy.count(Action::Delete), 1, "{:#?}", destroy.changes);
    run.apply(&destroy).await;
    assert_eq!(direct.bucket_status(&bucket).await, 404);
    assert!(!direct.list_buckets().await.contains(&bucket));
    let after = run.plan(false).await;
    assert_eq!(after.count(Action::Create), 2, "state is empty again");
}

#[tokio::test]
async fn garage_reports_what_it_does_not_implement() {
    let server = garage();
    let direct = server.direct();
    let cases = [
        (
            "versioning = true",
            "`versioning` is not supported by this server",
        ),
        (
            "lifecycle_rules = [{ id = \"old\", noncurrent_expiration_days = 30 }]",
            "`lifecycle_rules[0].noncurrent_expiration_days` is not supported by this server",
        ),
        (
            "tags = { team = \"odoo\" }",
            "`tags` is not supported by this server",
        ),
    ];
    for (attribute, expected) in cases {
        let bucket = unique("nosup");
        let run = Run::new(&format!(
            "stack s3test {{}}\n{}\nresource s3.bucket data {{\n  name = \"{bucket}\"\n  {attribute}\n}}\n",
            server.provider_block()
        ));
        let report = run.try_apply(&run.plan(false).await).await;
        let message = failure(&report);
        assert!(message.contains(expected), "{attribute}: {message}");
        // The half-made bucket was removed again, and nothing is in state.
        assert_eq!(direct.bucket_status(&bucket).await, 404, "{attribute}");
        assert!(!run.state_text().contains(&bucket), "{attribute}");
    }

    // Bucket policies: the bucket is created, its policy is not.
    let bucket = unique("nopol");
    let run = Run::new(&format!(
        r#"stack s3test {{}}
{}
resource s3.bucket data {{ name = "{bucket}" }}
resource s3.bucket_policy data {{
  bucket = s3.bucket.data.name
  policy = {{ Version = "2012-10-17", Statement = [{{ Effect = "Deny", Principal = "*", Action = "s3:DeleteBucket", Resource = "arn:aws:s3:::{bucket}" }}] }}
}}
"#,
        server.provider_block()
    ));
    let report = run.try_apply(&run.plan(false).await).await;
    let message = failure(&report);
    assert!(
        message.contains("`policy` is not supported by this server"),
        "{message}"
    );
    run.apply(&run.plan(true).await).await;
    assert_eq!(direct.bucket_status(&bucket).await, 404);
}

fn moto_stack(server: &Server, bucket: &str, team: &str) -> String {
    format!(
        r#"stack s3test {{}}
{}
resource s3.bucket data {{
  name = "{bucket}"
  versioning = true
  lifecycle_rules = [
    {{
      id = "old-versions"
      noncurrent_expiration_days = 30
      transitions = [{{ days = 60, storage_class = "STANDARD_IA" }}]
    }},
  ]
  tags = {{ "obp.dev/purpose" = "filestore", team = "{team}" }}
}}

resource s3.bucket_policy data {{
  bucket = s3.bucket.data.name
  policy = {{
    Version = "2012-10-17"
    Statement = [{{
      Sid = "ReadMarkers"
      Effect = "Allow"
      Principal = "*"
      Action = "s3:GetObject"
      Resource = "arn:aws:s3:::${{s3.bucket.data.name}}/markers/*"
    }}]
  }}
}}
"#,
        server.provider_block()
    )
}

#[tokio::test]
async fn moto_versioning_policy_and_tags_round_trip_and_drift() {
    let server = moto();
    let direct = server.direct();
    let bucket = unique("moto");
    let run = Run::new(&moto_stack(&server, &bucket, "odoo"));
    run.converge().await;

    let (_, versioning) = direct.get(&bucket, "versioning").await;
    assert!(
        versioning.contains("<Status>Enabled</Status>"),
        "{versioning}"
    );
    let (_, tags) = direct.get(&bucket, "tagging").await;
    assert!(
        tags.contains("<Key>team</Key>") && tags.contains("<Value>odoo</Value>"),
        "{tags}"
    );
    let (_, lifecycle) = direct.get(&bucket, "lifecycle").await;
    assert!(
        lifecycle.contains("<NoncurrentDays>30</NoncurrentDays>")
            && lifecycle.contains("STANDARD_IA"),
        "{lifecycle}"
    );
    let (status, policy) = direct.get(&bucket, "policy").await;
    assert_eq!(status, 200, "{policy}");
    let policy: serde_json::Value = serde_json::from_str(&policy).unwrap();
    assert_eq!(
        policy["Statement"][0]["Resource"],
        format!("arn:aws:s3:::{bucket}/markers/*")
    );
    let second = run.plan(false).await;
    assert!(!second.has_changes(), "{:#?}", second.changes);
    assert!(second.drift.is_empty(), "{:#?}", second.drift);
    let state = run.state_text();
    let secret = std::env::var(server.secret_var).unwrap();
    assert!(state.contains("ReadMarkers") && !state.contains(&secret));

    // Changing a tag is an in-place update.
    run.edit(&moto_stack(&server, &bucket, "platform"));
    let retag = run.plan(false).await;
    assert_eq!(change(&retag, "s3.bucket.data").action, Action::Update);
    run.apply(&retag).await;
    let (_, tags) = direct.get(&bucket, "tagging").await;
    assert!(tags.contains("<Value>platform</Value>"), "{tags}");

    // Out of band: versioning suspended, tags replaced, policy rewritten.
    let ns = "http://s3.amazonaws.com/doc/2006-03-01/";
    let (status, body) = direct
        .put(
            &bucket,
            "versioning",
            &format!(r#"<VersioningConfiguration xmlns="{ns}"><Status>Suspended</Status></VersioningConfiguration>"#),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = direct
        .put(
            &bucket,
            "tagging",
            &format!(r#"<Tagging xmlns="{ns}"><TagSet><Tag><Key>team</Key><Value>intruder</Value></Tag></TagSet></Tagging>"#),
        )
        .await;
    assert!(status == 200 || status == 204, "{status} {body}");
    let foreign = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{ "Sid": "Everything", "Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": format!("arn:aws:s3:::{bucket}/*") }],
    });
    let (status, body) = direct.put(&bucket, "policy", &foreign.to_string()).await;
    assert!(status == 200 || status == 204, "{status} {body}");

    let drifted = run.plan(false).await;
    let bucket_drift = drifted
        .drift
        .iter()
        .find(|d| d.address == "s3.bucket.data")
        .unwrap_or_else(|| panic!("{:#?}", drifted.drift));
    let paths: Vec<&str> = bucket_drift.diffs.iter().map(|d| d.path.as_str()).collect();
    assert!(paths.contains(&"versioning"), "{paths:?}");
    assert!(paths.iter().any(|p| p.starts_with("tags")), "{paths:?}");
    assert!(
        drifted
            .drift
            .iter()
            .any(|d| d.address == "s3.bucket_policy.data"),
        "{:#?}",
        drifted.drift
    );
    assert_eq!(change(&drifted, "s3.bucket.data").action, Action::Update);
    assert_eq!(
        change(&drifted, "s3.bucket_policy.data").action,
        Action::Update
    );
    run.apply(&drifted).await;
    let (_, versioning) = direct.get(&bucket, "versioning").await;
    assert!(
        versioning.contains("<Status>Enabled</Status>"),
        "{versioning}"
    );
    let (_, tags) = direct.get(&bucket, "tagging").await;
    assert!(
        tags.contains("<Value>platform</Value>") && !tags.contains("intruder"),
        "{tags}"
    );
    let (_, policy) = direct.get(&bucket, "policy").await;
    assert!(
        policy.contains("ReadMarkers") && !policy.contains("Everything"),
        "{policy}"
    );
    assert!(!run.plan(false).await.has_changes());

    // A policy deleted out of band is planned again.
    let (status, _) = direct
        .send(Method::Delete, Some(&bucket), None, &[("policy", "")], None)
        .await;
    assert!(status == 204 || status == 200);
    let recreate = run.plan(false).await;
    assert!(
        recreate
            .drift
            .iter()
            .any(|d| d.address == "s3.bucket_policy.data" && d.kind == "deleted"),
        "{:#?}",
        recreate.drift
    );
    assert_eq!(
        change(&recreate, "s3.bucket_policy.data").action,
        Action::Create
    );
    run.apply(&recreate).await;

    // Import reads back what the server has.
    let providers = run.providers();
    let s3 = providers.get("s3").unwrap();
    let reference = obp_engine::provider::ResourceRef {
        order: None,
        address: "s3.bucket.adopted",
        rtype: "s3.bucket",
    };
    let imported = s3.import(&reference, &bucket).await.unwrap();
    assert_eq!(imported.inputs["versioning"], serde_json::json!(true));
    assert_eq!(imported.inputs["tags"]["team"], "platform");
    assert_eq!(
        imported.inputs["lifecycle_rules"][0]["noncurrent_expiration_days"],
        30
    );
    let policy_ref = obp_engine::provider::ResourceRef {
        order: None,
        address: "s3.bucket_policy.adopted",
        rtype: "s3.bucket_policy",
    };
    let imported = s3.import(&policy_ref, &bucket).await.unwrap();
    assert_eq!(
        imported.inputs["policy"]["Statement"][0]["Sid"],
        "ReadMarkers"
    );

    // Destroy removes the policy, then the bucket.
    run.apply(&run.plan(true).await).await;
    assert_eq!(direct.bucket_status(&bucket).await, 404);
    let state = run.state_text();
    assert!(!state.contains(&bucket), "{state}");
}

#[tokio::test]
async fn hostile_names_are_refused_at_plan_time_at_their_line() {
    // Validation happens before anything is read, so no server is needed (nothing listens on
    // port 9 of loopback).
    let long = "a".repeat(300);
    let run = Run::new(&format!(
        r#"stack s3test {{}}
provider s3 {{
  endpoint = "http://127.0.0.1:9"
  access_key = secret("env:OBP_TEST_UNUSED_ACCESS")
  secret_key = secret("env:OBP_TEST_UNUSED_SECRET")
}}
resource s3.bucket escape {{
  name = "../x"
}}
resource s3.bucket long {{
  name = "{long}"
}}
resource s3.bucket upper {{ name = "Odoo-Files" }}
resource s3.object escape {{
  bucket = "odoo-files"
  key = "markers/../../other-bucket/x"
  content = "x"
}}
resource s3.bucket rules {{
  name = "odoo-rules"
  lifecycle_rules = [
    {{ id = "ok", expiration_days = 1 }},
    {{
      id = "bad"
      expiration_days = -3
    }},
  ]
}}
"#
    ));
    let errors = run
        .try_plan_rendered(false)
        .await
        .expect_err("the plan fails");
    let expected = [
        ("`../x` is not a valid S3 bucket name", "stack.obp:8:"),
        (
            "it must be 3 to 63 characters long (it has 300)",
            "stack.obp:11:",
        ),
        (
            "`Odoo-Files` is not a valid S3 bucket name",
            "stack.obp:13:",
        ),
        (
            "`markers/../../other-bucket/x` is not a valid object key",
            "stack.obp:16:",
        ),
        (
            "`lifecycle_rules[1].expiration_days`: must be a whole number of days",
            "stack.obp:25:",
        ),
    ];
    for (message, line) in expected {
        let at = errors
            .find(message)
            .unwrap_or_else(|| panic!("`{message}` not in:\n{errors}"));
        let location = errors[at..]
            .find("stack.obp:")
            .map(|i| &errors[at + i..])
            .unwrap_or_default();
        assert!(
            location.starts_with(line),
            "`{message}` should point at {line}, got:\n{errors}"
        );
    }
    let headline = errors
        .lines()
        .find(|l| l.contains("(it has 300)"))
        .unwrap_or_default();
    assert!(
        !headline.contains(&long) && headline.len() < 200,
        "a 300-character name is shortened in the message: {headline}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_clear_error_without_credentials_in_it() {
    let server = garage();
    let run = Run::new(&format!(
        "stack s3test {{}}\nprovider s3 {{\n  endpoint = \"http://127.0.0.1:9\"\n  region = \"{}\"\n  access_key = secret(\"env:{}\")\n  secret_key = secret(\"env:{}\")\n}}\nresource s3.bucket data {{ name = \"{}\" }}\n",
        server.region,
        server.access_var,
        server.secret_var,
        unique("down")
    ));
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        run.try_apply(&run.plan(false).await),
    )
    .await
    .expect("an unreachable endpoint fails fast");
    let message = failure(&report);
    assert!(
        message.contains("cannot reach the S3 endpoint http://127.0.0.1:9/"),
        "{message}"
    );
    for name in [server.access_var, server.secret_var] {
        let value = std::env::var(name).unwrap();
        assert!(!message.contains(&value), "{name} leaked into: {message}");
    }
    assert!(!message.contains("X-Amz-Signature"), "{message}");
}
