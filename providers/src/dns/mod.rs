//! The DNS provider: zones and record sets on a PowerDNS authoritative server through its
//! HTTP API (`/api/v1/servers/{server}/zones`). Record sets are replaced as a whole, so the
//! server always holds exactly what the blueprint says; refresh reports records changed by
//! hand as drift.

mod api;
mod records;

use std::collections::BTreeMap;
use std::path::Path;

use async_trait::async_trait;
use obp_engine::provider::{
    AttrSchema, AttrType, Provider, ProviderError, Recorded, ResourceRef, ResourceSchema,
};
use serde_json::{json, Value as Json};

use crate::attrs::invalid;
use api::Api;
pub use records::{canonical, RecordSet};

/// A configured PowerDNS server.
pub struct Dns {
    api: Api,
}

impl Dns {
    /// `url` (the API base such as `http://127.0.0.1:8081`), `api_key` (a secret reference or
    /// text) and `server_id` (default `localhost`).
    pub fn new(_stack_dir: &Path, attrs: &BTreeMap<String, Json>) -> Result<Dns, ProviderError> {
        crate::attrs::check_options(attrs, &["url", "api_key", "server_id"])?;
        let url = attrs.get("url").and_then(Json::as_str).ok_or_else(|| {
            ProviderError::Config("`url` is required, such as \"http://127.0.0.1:8081\"".to_owned())
        })?;
        if reqwest::Url::parse(url).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
            return Err(ProviderError::Config(format!(
                "`url` must be an http(s) URL such as \"http://127.0.0.1:8081\", not `{url}`"
            )));
        }
        // A secret key is read when a request needs it, so plans of new resources work
        // without it.
        let api_key = match attrs.get("api_key") {
            Some(Json::String(key)) => api::Key::Plain(key.clone()),
            Some(value) => match value.get("$secret").and_then(Json::as_str) {
                Some(path) => api::Key::Secret(path.to_owned()),
                None => {
                    return Err(ProviderError::Config(
                        "`api_key` must be a string or a secret reference".to_owned(),
                    ))
                }
            },
            None => {
                return Err(ProviderError::Config(
                    "`api_key` is required (usually a secret reference)".to_owned(),
                ))
            }
        };
        let server = attrs
            .get("server_id")
            .and_then(Json::as_str)
            .unwrap_or("localhost");
        Ok(Dns {
            api: Api::new(url, api_key, server)?,
        })
    }
}

/// Resource schemas: `dns.zone` and `dns.record`.
pub fn schemas() -> Vec<ResourceSchema> {
    vec![
        ResourceSchema {
            rtype: "dns.zone".to_owned(),
            attributes: vec![
                AttrSchema::new("name", AttrType::String)
                    .required()
                    .force_new()
                    .doc("the zone, such as \"acme.example\""),
                AttrSchema::new("kind", AttrType::String)
                    .force_new()
                    .doc("Native (default), Master or Slave"),
                AttrSchema::new("nameservers", AttrType::List)
                    .force_new()
                    .doc("NS records created with the zone"),
            ],
            open: false,
            replace_on: Vec::new(),
            list_keys: Vec::new(),
            doc: "a DNS zone on PowerDNS",
        },
        ResourceSchema {
            rtype: "dns.record".to_owned(),
            attributes: vec![
                AttrSchema::new("zone", AttrType::String)
                    .required()
                    .force_new(),
                AttrSchema::new("name", AttrType::String)
                    .required()
                    .force_new()
                    .doc("a name in the zone, or \"@\" for the apex"),
                AttrSchema::new("type", AttrType::String)
                    .required()
                    .force_new()
                    .doc("A, AAAA, CNAME or TXT"),
                AttrSchema::new("ttl", AttrType::Int),
                AttrSchema::new("records", AttrType::List)
                    .required()
                    .doc("addresses, a target name, or texts"),
            ],
            open: false,
            replace_on: Vec::new(),
            list_keys: Vec::new(),
            doc: "a record set (all records of one name and type)",
        },
    ]
}

fn zone_of(inputs: &BTreeMap<String, Json>, attribute: &str) -> Result<String, ProviderError> {
    let zone = inputs
        .get(attribute)
        .and_then(Json::as_str)
        .ok_or_else(|| invalid(attribute, "must be a zone name"))?;
    records::check_name(zone).map_err(|m| invalid(attribute, m))?;
    Ok(canonical(zone))
}

#[async_trait]
impl Provider for Dns {
    fn kind(&self) -> &str {
        "dns"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        schemas()
    }

    fn validate(
        &self,
        resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Vec<ProviderError> {
        if inputs.values().any(obp_engine::resolve::is_unknown) {
            return Vec::new();
        }
        let result = match resource.rtype {
            "dns.zone" => zone_of(inputs, "name").map(|_| ()),
            _ => RecordSet::from_inputs(inputs).map(|_| ()),
        };
        result.err().into_iter().collect()
    }

    async fn create(
        &self,
        resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        match resource.rtype {
            "dns.zone" => {
                let zone = zone_of(inputs, "name")?;
                let kind = inputs
                    .get("kind")
                    .and_then(Json::as_str)
                    .unwrap_or("Native");
                let nameservers: Vec<String> = inputs
                    .get("nameservers")
                    .and_then(Json::as_array)
                    .map(|list| {
                        list.iter()
                            .filter_map(Json::as_str)
                            .map(canonical)
                            .collect()
                    })
                    .unwrap_or_default();
                self.api.create_zone(&zone, kind, &nameservers).await?;
                Ok(Recorded {
                    inputs: inputs.clone(),
                    outputs: BTreeMap::from([("id".to_owned(), json!(zone))]),
                })
            }
            _ => {
                let set = RecordSet::from_inputs(inputs)?;
                self.api.replace(&set).await?;
                Ok(Recorded {
                    inputs: inputs.clone(),
                    outputs: BTreeMap::from([("fqdn".to_owned(), json!(set.name))]),
                })
            }
        }
    }

    async fn update(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        match resource.rtype {
            // Every zone attribute forces replacement: an update has nothing to do.
            "dns.zone" => Ok(Recorded {
                inputs: inputs.clone(),
                outputs: prior.outputs.clone(),
            }),
            _ => self.create(resource, inputs).await,
        }
    }

    async fn delete(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<(), ProviderError> {
        match resource.rtype {
            "dns.zone" => self.api.delete_zone(&zone_of(&prior.inputs, "name")?).await,
            _ => {
                self.api
                    .delete_set(&RecordSet::from_inputs(&prior.inputs)?)
                    .await
            }
        }
    }

    async fn read(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<Option<Recorded>, ProviderError> {
        match resource.rtype {
            "dns.zone" => {
                let zone = zone_of(&prior.inputs, "name")?;
                Ok(self.api.zone(&zone).await?.map(|_| prior.clone()))
            }
            _ => {
                let wanted = RecordSet::from_inputs(&prior.inputs)?;
                let Some(live) = self
                    .api
                    .find_set(&wanted.zone, &wanted.name, &wanted.rtype)
                    .await?
                else {
                    return Ok(None);
                };
                let mut inputs = prior.inputs.clone();
                // Compared in PowerDNS's canonical form: `target.example.` and `target.example`
                // are the same CNAME, and the blueprint's spelling is kept.
                let mut live_records = live.records.clone();
                live_records.sort();
                if live_records != wanted.records {
                    inputs.insert(
                        "records".to_owned(),
                        json!(records::display(&wanted.rtype, &live.records)),
                    );
                }
                if prior.inputs.contains_key("ttl") || live.ttl != records::DEFAULT_TTL {
                    inputs.insert("ttl".to_owned(), json!(live.ttl));
                }
                Ok(Some(Recorded {
                    inputs,
                    outputs: prior.outputs.clone(),
                }))
            }
        }
    }

    async fn import(
        &self,
        resource: &ResourceRef<'_>,
        id: &str,
    ) -> Result<Recorded, ProviderError> {
        match resource.rtype {
            "dns.zone" => {
                let zone = canonical(id);
                self.api
                    .zone(&zone)
                    .await?
                    .ok_or_else(|| ProviderError::Remote(format!("no zone `{zone}`")))?;
                let name = zone.trim_end_matches('.').to_owned();
                Ok(Recorded {
                    inputs: BTreeMap::from([("name".to_owned(), json!(name))]),
                    outputs: BTreeMap::from([("id".to_owned(), json!(zone))]),
                })
            }
            _ => {
                // `zone/name/TYPE`
                let parts: Vec<&str> = id.split('/').collect();
                let [zone, name, rtype] = parts[..] else {
                    return Err(ProviderError::Remote(
                        "import a record set as `zone/name/TYPE`".to_owned(),
                    ));
                };
                let zone = canonical(zone);
                let name = if name == "@" {
                    zone.clone()
                } else {
                    canonical(name)
                };
                let live = self
                    .api
                    .find_set(&zone, &name, rtype)
                    .await?
                    .ok_or_else(|| {
                        ProviderError::Remote(format!("no {rtype} records at `{name}`"))
                    })?;
                let inputs = BTreeMap::from([
                    ("zone".to_owned(), json!(zone.trim_end_matches('.'))),
                    ("name".to_owned(), json!(name.trim_end_matches('.'))),
                    ("type".to_owned(), json!(rtype)),
                    ("ttl".to_owned(), json!(live.ttl)),
                    (
                        "records".to_owned(),
                        json!(records::display(rtype, &live.records)),
                    ),
                ]);
                Ok(Recorded {
                    inputs,
                    outputs: BTreeMap::from([("fqdn".to_owned(), json!(name))]),
                })
            }
        }
    }
}
