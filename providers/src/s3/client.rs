//! HTTP access to one S3-compatible endpoint: every request is presigned with AWS Signature
//! Version 4 by `rusty-s3` (credentials resolved from secret references at that moment and
//! dropped right after) and sent with reqwest. S3 error documents are decoded into
//! [`Failure`], which callers turn into [`ProviderError`]s naming the attribute concerned, so
//! a server's `NotImplemented` (HTTP 501) becomes [`ProviderError::NotSupported`].

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use md5::Digest as _;
use obp_engine::provider::{ProviderError, Secrets};
use rusty_s3::{Bucket, Method, UrlStyle};
use url::Url;

use super::xml;

/// How long a presigned request stays valid: it is sent right away.
const SIGNATURE_LIFETIME: u64 = 300;

/// Where the credentials come from: secret reference paths, never values.
#[derive(Debug, Clone)]
pub struct CredentialRefs {
    pub access_key: String,
    pub secret_key: String,
}

/// A configured endpoint.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoint: Url,
    region: String,
    style: UrlStyle,
    credentials: CredentialRefs,
    secrets: Arc<dyn Secrets>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint.as_str())
            .field("region", &self.region)
            .field("style", &self.style)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// One request: `bucket` alone addresses the bucket, with `key` an object; `query` holds
/// sub-resources such as `("lifecycle", "")`.
#[derive(Debug, Default)]
pub struct Request<'a> {
    pub bucket: &'a str,
    pub key: Option<&'a str>,
    pub query: Vec<(&'a str, &'a str)>,
    /// Lowercase names; sent and signed.
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
}

impl<'a> Request<'a> {
    pub fn bucket(bucket: &'a str) -> Request<'a> {
        Request {
            bucket,
            ..Request::default()
        }
    }

    pub fn object(bucket: &'a str, key: &'a str) -> Request<'a> {
        Request {
            bucket,
            key: Some(key),
            ..Request::default()
        }
    }

    /// A bucket sub-resource such as `?lifecycle`.
    pub fn sub(bucket: &'a str, resource: &'a str) -> Request<'a> {
        Request {
            bucket,
            query: vec![(resource, "")],
            ..Request::default()
        }
    }

    /// A body with its `Content-MD5`, which S3 requires for configuration documents.
    pub fn body(mut self, content_type: &str, body: Vec<u8>) -> Request<'a> {
        let md5 =
            base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body).as_slice());
        self.headers.push(("content-md5", md5));
        self.headers.push(("content-type", content_type.to_owned()));
        self.body = Some(body);
        self
    }
}

/// A successful answer.
#[derive(Debug)]
pub struct Response {
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A failed request.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The server answered with an error status; `code` is S3's error code when given.
    Status {
        status: u16,
        code: String,
        message: String,
    },
    /// No answer (connection refused, timeout, TLS) or a local problem.
    Other(ProviderError),
}

impl Failure {
    /// The S3 error code, if the server answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            Failure::Status { code, .. } => Some(code),
            Failure::Other(_) => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Failure::Status { status, .. } => Some(*status),
            Failure::Other(_) => None,
        }
    }

    /// Whether the server does not implement the operation at all.
    pub fn not_implemented(&self) -> bool {
        matches!(self, Failure::Status { status, code, .. }
            if *status == 501 || code == "NotImplemented")
    }

    /// Whether the addressed bucket, object or sub-resource does not exist.
    pub fn not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// The error for users: `attribute` names what was being set or read when the server
    /// does not implement it.
    pub fn into_error(self, attribute: &str, doing: &str) -> ProviderError {
        if self.not_implemented() {
            let detail = match &self {
                Failure::Status { message, .. } if !message.is_empty() => {
                    format!(" ({message})")
                }
                _ => String::new(),
            };
            return ProviderError::NotSupported {
                attribute: attribute.to_owned(),
                message: format!(
                    "the server answered NotImplemented to {doing}{detail}; remove `{attribute}` \
                     from the resource or use a server that implements it"
                ),
            };
        }
        match self {
            Failure::Status {
                status,
                code,
                message,
            } => {
                let code = if code.is_empty() {
                    String::new()
                } else {
                    format!(" {code}")
                };
                let message = if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                };
                ProviderError::Remote(format!("{doing} failed: HTTP {status}{code}{message}"))
            }
            Failure::Other(error) => error,
        }
    }
}

impl Client {
    pub fn new(
        endpoint: Url,
        region: String,
        path_style: bool,
        credentials: CredentialRefs,
        secrets: Arc<dyn Secrets>,
    ) -> Result<Client, ProviderError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("obp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            http,
            endpoint,
            region,
            style: if path_style {
                UrlStyle::Path
            } else {
                UrlStyle::VirtualHost
            },
            credentials,
            secrets,
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Sends `request`; any status outside 2xx is a [`Failure::Status`].
    pub async fn send(&self, method: Method, request: Request<'_>) -> Result<Response, Failure> {
        let bucket = Bucket::new(
            self.endpoint.clone(),
            self.style,
            request.bucket.to_owned(),
            self.region.clone(),
        )
        .map_err(|e| {
            Failure::Other(ProviderError::Config(format!(
                "endpoint `{}`: {e}",
                self.endpoint
            )))
        })?;
        let url = match request.key {
            Some(key) => bucket.object_url(key).map_err(|e| {
                Failure::Other(ProviderError::Invalid {
                    attribute: Some("key".to_owned()),
                    message: format!("`{key}` cannot be part of a URL: {e}"),
                })
            })?,
            None => bucket.base_url().clone(),
        };
        let mut query = request.query.clone();
        query.sort();
        let mut headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        headers.sort();
        let key = self
            .secrets
            .resolve(&self.credentials.access_key)
            .map_err(Failure::Other)?;
        let secret = self
            .secrets
            .resolve(&self.credentials.secret_key)
            .map_err(Failure::Other)?;
        let signed = rusty_s3::signing::sign(
            &jiff::Timestamp::now(),
            method,
            url,
            &key,
            &secret,
            None,
            &self.region,
            SIGNATURE_LIFETIME,
            query.iter().copied(),
            headers.iter().copied(),
        );
        drop((key, secret));
        let http_method = match method {
            Method::Head => reqwest::Method::HEAD,
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.http.request(http_method, signed);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        } else if matches!(method, Method::Put | Method::Post) {
            builder = builder.header("content-length", "0");
        }
        let response = builder.send().await.map_err(|e| {
            // reqwest's message carries the URL, which is presigned: leave it out.
            Failure::Other(ProviderError::Remote(format!(
                "cannot reach the S3 endpoint {}: {}",
                self.endpoint,
                chain(e.without_url())
            )))
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| {
                Failure::Other(ProviderError::Remote(format!(
                    "reading the answer of {} failed: {}",
                    self.endpoint,
                    chain(e.without_url())
                )))
            })?
            .to_vec();
        if (200..300).contains(&status) {
            return Ok(Response { headers, body });
        }
        let (code, message) = xml::error_document(&body).unwrap_or_default();
        Err(Failure::Status {
            status,
            code,
            message,
        })
    }
}

/// An error with its causes, `a: b: c`.
fn chain(error: reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
