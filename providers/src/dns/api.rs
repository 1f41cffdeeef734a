//! The PowerDNS HTTP API calls the provider needs, with errors turned into provider errors.

use obp_engine::provider::{ProviderError, Secrets};
use reqwest::StatusCode;
use serde_json::{json, Value as Json};

use super::records::RecordSet;

pub struct Api {
    client: reqwest::Client,
    base: String,
    key: Key,
}

/// The API key: text, or a secret reference resolved for each request.
pub enum Key {
    Plain(String),
    Secret(String),
}

impl Key {
    fn value(&self) -> Result<String, ProviderError> {
        match self {
            Key::Plain(text) => Ok(text.clone()),
            Key::Secret(path) => obp_engine::provider::EnvSecrets.resolve(path),
        }
    }
}

/// A record set as the server holds it.
pub struct LiveSet {
    pub ttl: u64,
    pub records: Vec<String>,
}

fn remote(error: reqwest::Error) -> ProviderError {
    // The request URL never carries secrets (the key travels in a header).
    ProviderError::Remote(format!("PowerDNS API: {error}"))
}

async fn refused(response: reqwest::Response) -> ProviderError {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<Json>(&body)
        .ok()
        .and_then(|j| j.get("error").and_then(Json::as_str).map(str::to_owned))
        .unwrap_or(body);
    ProviderError::Remote(format!("PowerDNS answered {status}: {message}"))
}

impl Api {
    pub fn new(url: &str, key: Key, server: &str) -> Result<Api, ProviderError> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| ProviderError::Config(format!("cannot build an HTTP client: {e}")))?;
        Ok(Api {
            client,
            base: format!(
                "{}/api/v1/servers/{server}/zones",
                url.trim_end_matches('/')
            ),
            key,
        })
    }

    fn zone_url(&self, zone: &str) -> String {
        format!("{}/{zone}", self.base)
    }

    /// Sends the request `build` makes, with the API key; a server error is retried a few
    /// times with backoff, as PowerDNS backends report transient contention (such as SQLite
    /// locks) that way. The last answer is returned, whatever its status.
    async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ProviderError> {
        let key = self.key.value()?;
        let mut delay = std::time::Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            let response = build(&self.client)
                .header("X-API-Key", &key)
                .send()
                .await
                .map_err(remote)?;
            attempt += 1;
            if !response.status().is_server_error() || attempt == 6 {
                return Ok(response);
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }

    pub async fn zone(&self, zone: &str) -> Result<Option<Json>, ProviderError> {
        let url = self.zone_url(zone);
        let response = self.send(|client| client.get(&url)).await?;
        match response.status() {
            StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY => Ok(None),
            status if status.is_success() => response.json().await.map(Some).map_err(remote),
            _ => Err(refused(response).await),
        }
    }

    pub async fn create_zone(
        &self,
        zone: &str,
        kind: &str,
        nameservers: &[String],
    ) -> Result<(), ProviderError> {
        let body = json!({ "name": zone, "kind": kind, "nameservers": nameservers });
        let response = self
            .send(|client| client.post(&self.base).json(&body))
            .await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(refused(response).await)
        }
    }

    pub async fn delete_zone(&self, zone: &str) -> Result<(), ProviderError> {
        let url = self.zone_url(zone);
        let response = self.send(|client| client.delete(&url)).await?;
        match response.status() {
            StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY => Ok(()),
            status if status.is_success() => Ok(()),
            _ => Err(refused(response).await),
        }
    }

    /// Sends a record set change.
    async fn patch(&self, zone: &str, rrset: Json) -> Result<(), ProviderError> {
        let body = json!({ "rrsets": [rrset] });
        let url = self.zone_url(zone);
        let response = self.send(|client| client.patch(&url).json(&body)).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(refused(response).await)
        }
    }

    /// Replaces the whole set: the server then holds exactly these records.
    pub async fn replace(&self, set: &RecordSet) -> Result<(), ProviderError> {
        let records: Vec<Json> = set
            .records
            .iter()
            .map(|c| json!({ "content": c, "disabled": false }))
            .collect();
        self.patch(
            &set.zone,
            json!({ "name": set.name, "type": set.rtype, "ttl": set.ttl, "changetype": "REPLACE", "records": records }),
        )
        .await
    }

    pub async fn delete_set(&self, set: &RecordSet) -> Result<(), ProviderError> {
        if self.zone(&set.zone).await?.is_none() {
            return Ok(());
        }
        self.patch(
            &set.zone,
            json!({ "name": set.name, "type": set.rtype, "changetype": "DELETE" }),
        )
        .await
    }

    pub async fn find_set(
        &self,
        zone: &str,
        name: &str,
        rtype: &str,
    ) -> Result<Option<LiveSet>, ProviderError> {
        let Some(zone) = self.zone(zone).await? else {
            return Ok(None);
        };
        let sets = zone
            .get("rrsets")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        let found = sets.into_iter().find(|s| {
            s.get("name").and_then(Json::as_str) == Some(name)
                && s.get("type").and_then(Json::as_str) == Some(rtype)
        });
        Ok(found.map(|set| {
            let mut records: Vec<String> = set
                .get("records")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .filter(|r| r.get("disabled") != Some(&Json::Bool(true)))
                .filter_map(|r| r.get("content").and_then(Json::as_str).map(str::to_owned))
                .collect();
            records.sort();
            LiveSet {
                ttl: set.get("ttl").and_then(Json::as_u64).unwrap_or(0),
                records,
            }
        }))
    }
}
