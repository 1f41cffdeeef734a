//! `s3.object`: a small text object such as a marker or a short configuration file. The
//! object's ETag is recorded, so `read` downloads the content only when the ETag changed; a
//! changed content or content type out of band is drift.

use std::collections::BTreeMap;

use obp_engine::provider::{ProviderError, Recorded};
use rusty_s3::Method;
use serde_json::{json, Value as Json};

use super::client::{Client, Request};
use super::{invalid, names};

/// The largest content obp writes: objects here are markers and small files.
pub const MAX_CONTENT: usize = 1024 * 1024;

/// The content type when none is written.
pub const DEFAULT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// Checks an object's attributes as written.
pub fn validate(inputs: &BTreeMap<String, Json>) -> Vec<ProviderError> {
    let mut errors = Vec::new();
    if let Some(Json::String(bucket)) = inputs.get("bucket") {
        if let Some(problem) = names::bucket_name_problem(bucket) {
            errors.push(invalid("bucket", problem));
        }
    }
    if let Some(Json::String(key)) = inputs.get("key") {
        if let Some(problem) = names::object_key_problem(key) {
            errors.push(invalid("key", problem));
        }
    }
    if let Some(content) = inputs.get("content") {
        if let Some(error) = check_content(content) {
            errors.push(error);
        }
    }
    if let Some(Json::String(content_type)) = inputs.get("content_type") {
        if let Some(error) = check_content_type(content_type) {
            errors.push(error);
        }
    }
    errors
}

fn check_content(content: &Json) -> Option<ProviderError> {
    match content {
        Json::String(text) if text.len() > MAX_CONTENT => Some(invalid(
            "content",
            format!(
                "is {} bytes; `s3.object` is for small text objects (at most {MAX_CONTENT} bytes)",
                text.len()
            ),
        )),
        _ if obp_engine::resolve::contains_secret(content) => Some(invalid(
            "content",
            "secret values are never written to objects (nor recorded in state); give the workload the secret instead",
        )),
        _ => None,
    }
}

fn check_content_type(content_type: &str) -> Option<ProviderError> {
    let ok = content_type.contains('/')
        && content_type.len() <= 256
        && content_type
            .chars()
            .all(|c| c.is_ascii_graphic() || c == ' ');
    (!ok).then(|| {
        invalid(
            "content_type",
            format!(
                "`{}` is not a media type such as text/plain",
                content_type.escape_default()
            ),
        )
    })
}

struct Target<'a> {
    bucket: &'a str,
    key: &'a str,
}

fn target(inputs: &BTreeMap<String, Json>) -> Result<Target<'_>, ProviderError> {
    let bucket = inputs
        .get("bucket")
        .and_then(Json::as_str)
        .ok_or_else(|| invalid("bucket", "an `s3.object` needs a `bucket`"))?;
    if let Some(problem) = names::bucket_name_problem(bucket) {
        return Err(invalid("bucket", problem));
    }
    let key = inputs
        .get("key")
        .and_then(Json::as_str)
        .ok_or_else(|| invalid("key", "an `s3.object` needs a `key`"))?;
    if let Some(problem) = names::object_key_problem(key) {
        return Err(invalid("key", problem));
    }
    Ok(Target { bucket, key })
}

fn content_type_of(inputs: &BTreeMap<String, Json>) -> &str {
    inputs
        .get("content_type")
        .and_then(Json::as_str)
        .unwrap_or(DEFAULT_CONTENT_TYPE)
}

/// Creates or replaces the object: creating and updating are the same PUT.
pub async fn put(
    client: &Client,
    inputs: &BTreeMap<String, Json>,
) -> Result<Recorded, ProviderError> {
    let Target { bucket, key } = target(inputs)?;
    let content = match inputs.get("content") {
        Some(value @ Json::String(text)) => match check_content(value) {
            Some(error) => return Err(error),
            None => text.clone(),
        },
        Some(other) => {
            return Err(
                check_content(other).unwrap_or_else(|| invalid("content", "must be a string"))
            )
        }
        None => return Err(invalid("content", "an `s3.object` needs `content`")),
    };
    let content_type = content_type_of(inputs);
    if let Some(error) = check_content_type(content_type) {
        return Err(error);
    }
    let response = client
        .send(
            Method::Put,
            Request::object(bucket, key).body(content_type, content.into_bytes()),
        )
        .await
        .map_err(|failure| match failure.code() {
            Some("NoSuchBucket") => ProviderError::Remote(format!(
                "cannot write object `{key}`: there is no bucket `{bucket}`"
            )),
            _ => failure.into_error(
                "content",
                &format!("writing object `{key}` to bucket `{bucket}`"),
            ),
        })?;
    let mut outputs = BTreeMap::new();
    if let Some(etag) = response.header("etag") {
        outputs.insert("etag".to_owned(), json!(etag));
    }
    Ok(Recorded {
        inputs: inputs.clone(),
        outputs,
    })
}

pub async fn delete(client: &Client, prior: &Recorded) -> Result<(), ProviderError> {
    let Target { bucket, key } = target(&prior.inputs)?;
    match client
        .send(Method::Delete, Request::object(bucket, key))
        .await
    {
        Ok(_) => Ok(()),
        Err(failure) if failure.not_found() => Ok(()),
        Err(failure) => Err(failure.into_error(
            "key",
            &format!("deleting object `{key}` from bucket `{bucket}`"),
        )),
    }
}

/// What the server holds at the object's key, or `None` when nothing is there.
struct Live {
    etag: Option<String>,
    content_type: Option<String>,
    content: Option<String>,
}

async fn fetch(
    client: &Client,
    bucket: &str,
    key: &str,
    body: bool,
) -> Result<Option<Live>, ProviderError> {
    let method = if body { Method::Get } else { Method::Head };
    let response = match client.send(method, Request::object(bucket, key)).await {
        Ok(response) => response,
        Err(failure) if failure.not_found() => return Ok(None),
        Err(failure) => {
            return Err(failure.into_error(
                "content",
                &format!("reading object `{key}` of bucket `{bucket}`"),
            ))
        }
    };
    let size: usize = response
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(response.body.len());
    let content = body.then(|| match String::from_utf8(response.body.clone()) {
        Ok(text) if text.len() <= MAX_CONTENT => text,
        _ => format!("<{size} bytes that are not small text>"),
    });
    Ok(Some(Live {
        etag: response.header("etag").map(str::to_owned),
        content_type: response.header("content-type").map(str::to_owned),
        content,
    }))
}

pub async fn read(client: &Client, prior: &Recorded) -> Result<Option<Recorded>, ProviderError> {
    let Target { bucket, key } = target(&prior.inputs)?;
    let Some(head) = fetch(client, bucket, key, false).await? else {
        return Ok(None);
    };
    let mut inputs = prior.inputs.clone();
    let recorded_etag = prior.outputs.get("etag").and_then(Json::as_str);
    if head.etag.is_none() || head.etag.as_deref() != recorded_etag {
        if let Some(live) = fetch(client, bucket, key, true).await? {
            if let Some(content) = live.content {
                if prior.inputs.get("content").and_then(Json::as_str) != Some(content.as_str()) {
                    inputs.insert("content".into(), json!(content));
                }
            }
        }
    }
    if prior.inputs.contains_key("content_type") {
        if let Some(live) = head.content_type {
            if live != content_type_of(&prior.inputs) {
                inputs.insert("content_type".into(), json!(live));
            }
        }
    }
    Ok(Some(Recorded {
        inputs,
        outputs: prior.outputs.clone(),
    }))
}

/// Adopts an object; `id` is `BUCKET/KEY`.
pub async fn import(client: &Client, id: &str) -> Result<Recorded, ProviderError> {
    let (bucket, key) = id.split_once('/').ok_or_else(|| {
        ProviderError::Remote(format!(
            "`{id}` is not an object id: write BUCKET/KEY, such as backups/markers/ready"
        ))
    })?;
    let inputs = BTreeMap::from([
        ("bucket".to_owned(), json!(bucket)),
        ("key".to_owned(), json!(key)),
    ]);
    target(&inputs)?;
    let live = fetch(client, bucket, key, true).await?.ok_or_else(|| {
        ProviderError::Remote(format!("there is no object `{key}` in bucket `{bucket}`"))
    })?;
    let mut inputs = inputs;
    inputs.insert("content".into(), json!(live.content.unwrap_or_default()));
    if let Some(content_type) = live.content_type.filter(|t| t != DEFAULT_CONTENT_TYPE) {
        inputs.insert("content_type".into(), json!(content_type));
    }
    let mut outputs = BTreeMap::new();
    if let Some(etag) = live.etag {
        outputs.insert("etag".to_owned(), json!(etag));
    }
    Ok(Recorded { inputs, outputs })
}
