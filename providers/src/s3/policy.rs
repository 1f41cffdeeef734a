//! `s3.bucket_policy`: a bucket's access policy, written in the blueprint as a record and
//! sent as JSON. The live policy is compared structurally (key order and whitespace do not
//! matter), so only a real change out of band shows as drift.

use std::collections::BTreeMap;

use obp_engine::provider::{ProviderError, Recorded};
use rusty_s3::Method;
use serde_json::{json, Value as Json};

use super::client::{Client, Request};
use super::{invalid, names};

/// Checks a policy's attributes as written.
pub fn validate(inputs: &BTreeMap<String, Json>) -> Vec<ProviderError> {
    let mut errors = Vec::new();
    if let Some(Json::String(bucket)) = inputs.get("bucket") {
        if let Some(problem) = names::bucket_name_problem(bucket) {
            errors.push(invalid("bucket", problem));
        }
    }
    if let Some(policy) = inputs.get("policy") {
        errors.extend(check_policy(policy));
    }
    errors
}

fn check_policy(policy: &Json) -> Vec<ProviderError> {
    let mut errors = Vec::new();
    let Json::Object(fields) = policy else {
        return errors;
    };
    if obp_engine::resolve::is_unknown(policy) {
        return errors;
    }
    if !fields.contains_key("Statement") {
        errors.push(invalid(
            "policy",
            "a bucket policy needs a `Statement` list, such as { Version = \"2012-10-17\", Statement = [{ Effect = \"Allow\", … }] }",
        ));
    }
    if obp_engine::resolve::contains_secret(policy) {
        errors.push(invalid(
            "policy",
            "a bucket policy is readable by anyone who may read the bucket's settings: never put secrets in it",
        ));
    }
    errors
}

fn bucket_of(inputs: &BTreeMap<String, Json>) -> Result<&str, ProviderError> {
    let bucket = inputs
        .get("bucket")
        .and_then(Json::as_str)
        .ok_or_else(|| invalid("bucket", "an `s3.bucket_policy` needs a `bucket`"))?;
    match names::bucket_name_problem(bucket) {
        Some(problem) => Err(invalid("bucket", problem)),
        None => Ok(bucket),
    }
}

fn policy_of(inputs: &BTreeMap<String, Json>) -> Result<&Json, ProviderError> {
    let policy = inputs
        .get("policy")
        .filter(|p| p.is_object())
        .ok_or_else(|| invalid("policy", "an `s3.bucket_policy` needs a `policy` record"))?;
    if let Some(error) = check_policy(policy).into_iter().next() {
        return Err(error);
    }
    Ok(policy)
}

/// Sets the bucket's policy: creating and updating are the same PUT.
pub async fn put(
    client: &Client,
    inputs: &BTreeMap<String, Json>,
) -> Result<Recorded, ProviderError> {
    let bucket = bucket_of(inputs)?;
    let policy = policy_of(inputs)?;
    let body = serde_json::to_vec(policy)
        .map_err(|e| invalid("policy", format!("cannot be written as JSON: {e}")))?;
    client
        .send(
            Method::Put,
            Request::sub(bucket, "policy").body("application/json", body),
        )
        .await
        .map_err(|f| {
            f.into_error(
                "policy",
                &format!("setting the policy of bucket `{bucket}`"),
            )
        })?;
    Ok(Recorded {
        inputs: inputs.clone(),
        outputs: BTreeMap::new(),
    })
}

pub async fn delete(client: &Client, prior: &Recorded) -> Result<(), ProviderError> {
    let bucket = bucket_of(&prior.inputs)?;
    match client
        .send(Method::Delete, Request::sub(bucket, "policy"))
        .await
    {
        Ok(_) => Ok(()),
        Err(failure) if failure.not_found() => Ok(()),
        Err(failure) => Err(failure.into_error(
            "policy",
            &format!("deleting the policy of bucket `{bucket}`"),
        )),
    }
}

/// The live policy; `None` when the bucket or its policy is gone.
async fn get(client: &Client, bucket: &str) -> Result<Option<Json>, ProviderError> {
    match client
        .send(Method::Get, Request::sub(bucket, "policy"))
        .await
    {
        Ok(response) => serde_json::from_slice(&response.body)
            .map(Some)
            .map_err(|e| {
                ProviderError::Remote(format!(
                    "the policy of bucket `{bucket}` is not valid JSON: {e}"
                ))
            }),
        Err(failure) if failure.not_found() => Ok(None),
        Err(failure) => Err(failure.into_error(
            "policy",
            &format!("reading the policy of bucket `{bucket}`"),
        )),
    }
}

pub async fn read(client: &Client, prior: &Recorded) -> Result<Option<Recorded>, ProviderError> {
    let bucket = bucket_of(&prior.inputs)?;
    let Some(live) = get(client, bucket).await? else {
        return Ok(None);
    };
    let mut inputs = prior.inputs.clone();
    if prior.inputs.get("policy") != Some(&live) {
        inputs.insert("policy".into(), live);
    }
    Ok(Some(Recorded {
        inputs,
        outputs: prior.outputs.clone(),
    }))
}

pub async fn import(client: &Client, id: &str) -> Result<Recorded, ProviderError> {
    if let Some(problem) = names::bucket_name_problem(id) {
        return Err(invalid("bucket", problem));
    }
    let policy = get(client, id)
        .await?
        .ok_or_else(|| ProviderError::Remote(format!("bucket `{id}` has no policy")))?;
    Ok(Recorded {
        inputs: BTreeMap::from([
            ("bucket".to_owned(), json!(id)),
            ("policy".to_owned(), policy),
        ]),
        outputs: BTreeMap::new(),
    })
}
