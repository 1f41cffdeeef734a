//! The S3 provider: buckets (versioning, lifecycle rules, tags), bucket policies and small
//! objects on AWS S3 or any S3-compatible server (Garage, MinIO, Ceph RGW, moto …).
//!
//! ```text
//! provider s3 {
//!   endpoint   = "https://s3.eu-central-1.amazonaws.com"
//!   region     = "eu-central-1"              // default us-east-1
//!   access_key = secret("env:S3_ACCESS_KEY") // secret references only
//!   secret_key = secret("env:S3_SECRET_KEY")
//!   path_style = true                        // default: https://host/bucket/key
//! }
//! ```
//!
//! Requests are signed with AWS Signature Version 4 (presigned by `rusty-s3`); the credentials
//! are resolved from their secret references for each request and are never recorded or
//! logged. Features a server does not implement (Garage has no versioning, bucket policies or
//! bucket tags) are reported as [`ProviderError::NotSupported`] naming the attribute.

mod bucket;
mod client;
mod names;
mod object;
mod policy;
mod xml;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use obp_engine::provider::{
    AttrSchema, AttrType, EnvSecrets, Provider, ProviderError, Recorded, ResourceRef,
    ResourceSchema, Secrets,
};
use serde_json::Value as Json;

pub use client::CredentialRefs;
pub use names::{bucket_name_problem, object_key_problem};

use crate::attrs::invalid;
use client::Client;

/// Options of a `provider s3` block.
const OPTIONS: &[&str] = &[
    "endpoint",
    "region",
    "access_key",
    "secret_key",
    "path_style",
];

/// A configured S3 endpoint.
#[derive(Debug, Clone)]
pub struct S3 {
    client: Client,
}

impl S3 {
    /// Reads a `provider s3` block; secrets are resolved through the environment
    /// ([`EnvSecrets`]) when requests are made.
    pub fn new(attrs: &BTreeMap<String, Json>) -> Result<S3, ProviderError> {
        S3::with_secrets(attrs, Arc::new(EnvSecrets))
    }

    pub fn with_secrets(
        attrs: &BTreeMap<String, Json>,
        secrets: Arc<dyn Secrets>,
    ) -> Result<S3, ProviderError> {
        crate::attrs::check_options(attrs, OPTIONS)?;
        let endpoint = match attrs.get("endpoint") {
            Some(Json::String(text)) => parse_endpoint(text)?,
            Some(_) => {
                return Err(ProviderError::Config(
                    "`endpoint` must be a URL such as \"https://s3.eu-central-1.amazonaws.com\""
                        .to_owned(),
                ))
            }
            None => {
                return Err(ProviderError::Config(
                    "`endpoint` is required, such as \"https://s3.eu-central-1.amazonaws.com\" or \"http://127.0.0.1:3900\""
                        .to_owned(),
                ))
            }
        };
        let region = match attrs.get("region") {
            None => "us-east-1".to_owned(),
            Some(Json::String(region))
                if !region.is_empty()
                    && region
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                region.clone()
            }
            Some(_) => {
                return Err(ProviderError::Config(
                    "`region` must be a region name such as \"eu-central-1\"".to_owned(),
                ))
            }
        };
        let path_style = match attrs.get("path_style") {
            None => true,
            Some(Json::Bool(b)) => *b,
            Some(_) => {
                return Err(ProviderError::Config(
                    "`path_style` must be true or false".to_owned(),
                ))
            }
        };
        let credentials = CredentialRefs {
            access_key: secret_ref(attrs, "access_key", "S3_ACCESS_KEY")?,
            secret_key: secret_ref(attrs, "secret_key", "S3_SECRET_KEY")?,
        };
        Ok(S3 {
            client: Client::new(endpoint, region, path_style, credentials, secrets)?,
        })
    }
}

fn parse_endpoint(text: &str) -> Result<url::Url, ProviderError> {
    let problem = |why: &str| {
        ProviderError::Config(format!(
            "`endpoint` `{text}` {why}, such as \"https://s3.eu-central-1.amazonaws.com\""
        ))
    };
    let mut url = url::Url::parse(text).map_err(|_| problem("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(problem("must be an http or https URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(problem("must not carry a query, a fragment or credentials"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The secret path of a credential option: literal values are refused, so keys never end
/// up in a blueprint, a plan or state.
fn secret_ref(
    attrs: &BTreeMap<String, Json>,
    name: &str,
    example: &str,
) -> Result<String, ProviderError> {
    let path = attrs
        .get(name)
        .and_then(|v| v.get("$secret"))
        .and_then(Json::as_str);
    match (attrs.get(name), path) {
        (_, Some(path)) => Ok(path.to_owned()),
        (None, _) => Err(ProviderError::Config(format!(
            "`{name}` is required: a secret reference such as secret(\"env:{example}\")"
        ))),
        (Some(_), None) => Err(ProviderError::Config(format!(
            "`{name}` must be a secret reference such as secret(\"env:{example}\"), never a literal value"
        ))),
    }
}

/// Resource schemas of the S3 provider.
pub fn schemas() -> Vec<ResourceSchema> {
    vec![
        ResourceSchema {
            rtype: "s3.bucket".to_owned(),
            attributes: vec![
                AttrSchema::new("name", AttrType::String)
                    .required()
                    .force_new()
                    .doc("3 to 63 lowercase letters, digits, dots or hyphens"),
                AttrSchema::new("versioning", AttrType::Bool)
                    .doc("keep every version of every object (not implemented by Garage)"),
                AttrSchema::new("lifecycle_rules", AttrType::List).doc(
                    "[{ id, prefix, expiration_days, noncurrent_expiration_days, abort_incomplete_multipart_days, transitions = [{ days, storage_class }], enabled }]",
                ),
                AttrSchema::new("tags", AttrType::Map)
                    .doc("bucket tags (not implemented by Garage)"),
            ],
            open: false,
            replace_on: Vec::new(),
            list_keys: Vec::new(),
            doc: "an S3 bucket; destroying it never deletes objects, so a non-empty bucket is an error",
        },
        ResourceSchema {
            rtype: "s3.bucket_policy".to_owned(),
            attributes: vec![
                AttrSchema::new("bucket", AttrType::String)
                    .required()
                    .force_new()
                    .doc("the bucket's name"),
                AttrSchema::new("policy", AttrType::Map)
                    .required()
                    .doc("the policy document as a record: { Version = \"2012-10-17\", Statement = [...] }"),
            ],
            open: false,
            replace_on: Vec::new(),
            list_keys: Vec::new(),
            doc: "a bucket's access policy (not implemented by Garage)",
        },
        ResourceSchema {
            rtype: "s3.object".to_owned(),
            attributes: vec![
                AttrSchema::new("bucket", AttrType::String)
                    .required()
                    .force_new()
                    .doc("the bucket's name"),
                AttrSchema::new("key", AttrType::String)
                    .required()
                    .force_new()
                    .doc("the object's key, such as markers/ready"),
                AttrSchema::new("content", AttrType::String)
                    .required()
                    .doc("the text (at most 1 MiB)"),
                AttrSchema::new("content_type", AttrType::String)
                    .doc("default text/plain; charset=utf-8"),
                AttrSchema::new("etag", AttrType::String)
                    .computed()
                    .doc("the ETag the server gave the object"),
            ],
            open: false,
            replace_on: Vec::new(),
            list_keys: Vec::new(),
            doc: "a small text object, such as a marker",
        },
    ]
}

fn unknown_type(rtype: &str) -> ProviderError {
    invalid(
        "",
        format!("the s3 provider has no resource type `{rtype}`"),
    )
}

#[async_trait]
impl Provider for S3 {
    fn kind(&self) -> &str {
        "s3"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        schemas()
    }

    fn impact(&self, change: &obp_engine::provider::ChangeRef<'_>) -> obp_engine::provider::Impact {
        crate::impact::data_store(change)
    }

    fn validate(
        &self,
        resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Vec<ProviderError> {
        match resource.rtype {
            "s3.bucket" => bucket::validate(inputs),
            "s3.bucket_policy" => policy::validate(inputs),
            "s3.object" => object::validate(inputs),
            other => vec![unknown_type(other)],
        }
    }

    async fn create(
        &self,
        resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        match resource.rtype {
            "s3.bucket" => bucket::create(&self.client, inputs).await,
            "s3.bucket_policy" => policy::put(&self.client, inputs).await,
            "s3.object" => object::put(&self.client, inputs).await,
            other => Err(unknown_type(other)),
        }
    }

    async fn update(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        match resource.rtype {
            "s3.bucket" => bucket::update(&self.client, prior, inputs).await,
            "s3.bucket_policy" => policy::put(&self.client, inputs).await,
            "s3.object" => object::put(&self.client, inputs).await,
            other => Err(unknown_type(other)),
        }
    }

    async fn delete(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<(), ProviderError> {
        match resource.rtype {
            "s3.bucket" => bucket::delete(&self.client, resource, prior).await,
            "s3.bucket_policy" => policy::delete(&self.client, prior).await,
            "s3.object" => object::delete(&self.client, prior).await,
            other => Err(unknown_type(other)),
        }
    }

    async fn read(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<Option<Recorded>, ProviderError> {
        match resource.rtype {
            "s3.bucket" => bucket::read(&self.client, prior).await,
            "s3.bucket_policy" => policy::read(&self.client, prior).await,
            "s3.object" => object::read(&self.client, prior).await,
            other => Err(unknown_type(other)),
        }
    }

    async fn import(
        &self,
        resource: &ResourceRef<'_>,
        id: &str,
    ) -> Result<Recorded, ProviderError> {
        match resource.rtype {
            "s3.bucket" => bucket::import(&self.client, id).await,
            "s3.bucket_policy" => policy::import(&self.client, id).await,
            "s3.object" => object::import(&self.client, id).await,
            other => Err(unknown_type(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(value: Json) -> BTreeMap<String, Json> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn configuration_needs_secret_references() {
        let ok = S3::new(&attrs(json!({
            "endpoint": "http://127.0.0.1:3900",
            "access_key": { "$secret": "env:A" },
            "secret_key": { "$secret": "env:B" },
        })))
        .unwrap();
        assert_eq!(ok.client.region(), "us-east-1");
        assert_eq!(ok.client.endpoint().as_str(), "http://127.0.0.1:3900/");
        let literal = S3::new(&attrs(json!({
            "endpoint": "http://127.0.0.1:3900",
            "access_key": { "$secret": "env:A" },
            "secret_key": "hunter2",
        })))
        .unwrap_err()
        .to_string();
        assert!(
            literal.contains("`secret_key` must be a secret reference"),
            "{literal}"
        );
        assert!(!literal.contains("hunter2"), "{literal}");
        let unknown = S3::new(&attrs(json!({ "endpoint": "http://x", "bucket": "b" })))
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("unknown option `bucket`"), "{unknown}");
        let endpoint = S3::new(&attrs(json!({ "endpoint": "ftp://x" })))
            .unwrap_err()
            .to_string();
        assert!(endpoint.contains("http or https"), "{endpoint}");
    }
}
