//! A test-only in-memory provider for the engine's own tests and benchmarks (feature
//! `testing`; the obp binary never enables it). It keeps objects in a map, can be told to fail
//! on chosen addresses, and counts calls.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::Value as Json;

use crate::provider::{
    AttrSchema, AttrType, Provider, ProviderError, Recorded, ResourceRef, ResourceSchema,
};

/// Objects by generated id (as real systems identify objects, independent of obp
/// addresses), plus failure injection.
#[derive(Default)]
pub struct MemoryProvider {
    /// id → (address it was created for, attributes)
    #[allow(clippy::type_complexity)]
    pub objects: Mutex<BTreeMap<String, (String, BTreeMap<String, Json>)>>,
    pub fail_on: Mutex<BTreeSet<String>>,
    pub calls: Mutex<Vec<String>>,
    next_id: Mutex<u64>,
}

impl MemoryProvider {
    pub fn new() -> MemoryProvider {
        MemoryProvider::default()
    }

    /// Makes every operation on `address` fail.
    pub fn fail(&self, address: &str) {
        if let Ok(mut set) = self.fail_on.lock() {
            set.insert(address.to_owned());
        }
    }

    pub fn heal(&self) {
        if let Ok(mut set) = self.fail_on.lock() {
            set.clear();
        }
    }

    /// Changes the object created for `address` behind obp's back (drift).
    pub fn tamper(&self, address: &str, attribute: &str, value: Json) {
        if let Ok(mut objects) = self.objects.lock() {
            for (created_for, object) in objects.values_mut() {
                if created_for == address {
                    object.insert(attribute.to_owned(), value.clone());
                }
            }
        }
    }

    /// The attributes of the object created for `address`.
    pub fn object(&self, address: &str) -> Option<BTreeMap<String, Json>> {
        let objects = self.objects.lock().ok()?;
        objects
            .values()
            .find(|(a, _)| a == address)
            .map(|(_, o)| o.clone())
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn check(&self, op: &str, address: &str) -> Result<(), ProviderError> {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(format!("{op} {address}"));
        }
        if self.fail_on.lock().is_ok_and(|f| f.contains(address)) {
            return Err(ProviderError::Remote(format!(
                "injected failure on {address}"
            )));
        }
        Ok(())
    }

    fn new_id(&self) -> String {
        let id = self
            .next_id
            .lock()
            .map(|mut n| {
                *n += 1;
                *n
            })
            .unwrap_or(0);
        format!("mem-{id}")
    }

    fn outputs(id: &str) -> BTreeMap<String, Json> {
        BTreeMap::from([("id".to_owned(), Json::String(id.to_owned()))])
    }
}

fn id_of(recorded: &Recorded) -> String {
    recorded
        .outputs
        .get("id")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Schemas: `mem.thing` (open, `name` forces replacement) and `mem.strict` (closed).
pub fn schemas() -> Vec<ResourceSchema> {
    vec![
        ResourceSchema {
            rtype: "mem.thing".to_owned(),
            attributes: vec![
                AttrSchema::new("name", AttrType::String).force_new(),
                AttrSchema::new("password", AttrType::Any).sensitive(),
                AttrSchema::new("id", AttrType::String).computed(),
            ],
            open: true,
            doc: "a thing in memory",
        },
        ResourceSchema {
            rtype: "mem.strict".to_owned(),
            attributes: vec![
                AttrSchema::new("size", AttrType::Int).required(),
                AttrSchema::new("label", AttrType::String),
            ],
            open: false,
            doc: "a closed schema",
        },
    ]
}

#[async_trait]
impl Provider for MemoryProvider {
    fn kind(&self) -> &str {
        "mem"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        schemas()
    }

    async fn create(
        &self,
        resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        self.check("create", resource.address)?;
        let id = self.new_id();
        if let Ok(mut objects) = self.objects.lock() {
            objects.insert(id.clone(), (resource.address.to_owned(), inputs.clone()));
        }
        Ok(Recorded {
            inputs: inputs.clone(),
            outputs: Self::outputs(&id),
        })
    }

    async fn update(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        self.check("update", resource.address)?;
        if let Ok(mut objects) = self.objects.lock() {
            match objects.get_mut(&id_of(prior)) {
                Some((_, object)) => *object = inputs.clone(),
                None => {
                    return Err(ProviderError::Remote(format!(
                        "{} does not exist",
                        resource.address
                    )))
                }
            }
        }
        Ok(Recorded {
            inputs: inputs.clone(),
            outputs: prior.outputs.clone(),
        })
    }

    async fn delete(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<(), ProviderError> {
        self.check("delete", resource.address)?;
        if let Ok(mut objects) = self.objects.lock() {
            objects.remove(&id_of(prior));
        }
        Ok(())
    }

    async fn read(
        &self,
        resource: &ResourceRef<'_>,
        prior: &Recorded,
    ) -> Result<Option<Recorded>, ProviderError> {
        let _ = resource;
        let object = self
            .objects
            .lock()
            .ok()
            .and_then(|o| o.get(&id_of(prior)).cloned());
        Ok(object.map(|(_, inputs)| Recorded {
            inputs,
            outputs: prior.outputs.clone(),
        }))
    }

    async fn import(
        &self,
        resource: &ResourceRef<'_>,
        id: &str,
    ) -> Result<Recorded, ProviderError> {
        self.check("import", resource.address)?;
        let object = self.objects.lock().ok().and_then(|o| o.get(id).cloned());
        match object {
            Some((_, inputs)) => Ok(Recorded {
                inputs,
                outputs: Self::outputs(id),
            }),
            None => Err(ProviderError::Remote(format!("no object `{id}`"))),
        }
    }
}
