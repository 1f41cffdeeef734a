//! A test-only in-memory provider for the engine's own tests and benchmarks (feature
//! `testing`; the obp binary never enables it). It keeps objects in a map, can be told to fail
//! on chosen addresses (or to panic, or to fail reads: faults a real server cannot be made to
//! produce on demand), and counts calls.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::Value as Json;

use crate::errors::StateError;
use crate::plan::Action;
use crate::provider::{
    AttrSchema, AttrType, ChangeRef, Effect, Impact, ListKey, Provider, ProviderError, Recorded,
    ReplaceOn, ResourceRef, ResourceSchema,
};
use crate::state::{Backend, JournalEntry, LockGuard, LockInfo, State};

/// An object as stored: the address it was created for and its attributes.
pub type Stored = (String, BTreeMap<String, Json>);

/// Objects by generated id (as real systems identify objects, independent of obp
/// addresses), plus failure injection.
#[derive(Default)]
pub struct MemoryProvider {
    /// id → (address it was created for, attributes)
    pub objects: Mutex<BTreeMap<String, Stored>>,
    pub fail_on: Mutex<BTreeSet<String>>,
    /// Addresses whose create, update or delete panics.
    pub panic_on: Mutex<BTreeSet<String>>,
    /// Addresses whose read fails.
    pub fail_reads: Mutex<BTreeSet<String>>,
    /// Addresses whose create, update or delete takes this long (a slow server).
    pub slow: Mutex<BTreeMap<String, std::time::Duration>>,
    /// What every call (read included) takes when no address is slower: a remote API.
    pub latency: Mutex<Option<std::time::Duration>>,
    pub calls: Mutex<Vec<String>>,
    /// Declares `mem.thing` without its replace rules: a second provider serving one type
    /// with another schema (as GitOps and Kubernetes both serve `k8s.*`).
    pub lenient: bool,
    /// Orders its `mem.thing` resources (as a GitOps provider renders sync waves).
    pub ordering: bool,
    next_id: Mutex<u64>,
}

impl MemoryProvider {
    pub fn new() -> MemoryProvider {
        MemoryProvider::default()
    }

    /// A provider that orders its `mem.thing` resources (see [`MemoryProvider::ordering`]).
    pub fn ordering() -> MemoryProvider {
        MemoryProvider {
            ordering: true,
            ..MemoryProvider::default()
        }
    }

    /// A provider whose `mem.thing` has no replace rules (see [`MemoryProvider::lenient`]).
    pub fn lenient() -> MemoryProvider {
        MemoryProvider {
            lenient: true,
            ..MemoryProvider::default()
        }
    }

    /// Makes every operation on `address` fail.
    pub fn fail(&self, address: &str) {
        if let Ok(mut set) = self.fail_on.lock() {
            set.insert(address.to_owned());
        }
    }

    /// Makes create, update and delete of `address` panic.
    pub fn panic(&self, address: &str) {
        if let Ok(mut set) = self.panic_on.lock() {
            set.insert(address.to_owned());
        }
    }

    /// Makes create, update and delete of `address` take `delay`.
    pub fn slow(&self, address: &str, delay: std::time::Duration) {
        if let Ok(mut slow) = self.slow.lock() {
            slow.insert(address.to_owned(), delay);
        }
    }

    /// Makes every call, reads included, take `delay` (unless [`MemoryProvider::slow`] says
    /// more for its address).
    pub fn latency(&self, delay: std::time::Duration) {
        if let Ok(mut latency) = self.latency.lock() {
            *latency = Some(delay);
        }
    }

    async fn pause(&self, address: &str) {
        let delay = self
            .slow
            .lock()
            .ok()
            .and_then(|s| s.get(address).copied())
            .or_else(|| self.latency.lock().ok().and_then(|l| *l));
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
    }

    /// Makes reading `address` fail (an unreachable server).
    pub fn fail_read(&self, address: &str) {
        if let Ok(mut set) = self.fail_reads.lock() {
            set.insert(address.to_owned());
        }
    }

    /// Clears every injected failure and panic.
    pub fn heal(&self) {
        for set in [&self.fail_on, &self.panic_on, &self.fail_reads] {
            if let Ok(mut set) = set.lock() {
                set.clear();
            }
        }
    }

    /// Deletes the object created for `address` behind obp's back.
    pub fn vanish(&self, address: &str) {
        if let Ok(mut objects) = self.objects.lock() {
            objects.retain(|_, (created_for, _)| created_for != address);
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
        if self.panic_on.lock().is_ok_and(|p| p.contains(address)) {
            panic!("injected panic on {address}");
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

/// Schemas: `mem.thing` (open; `name`, anything under `spec.template`, and `data` once
/// `frozen` was true force replacement; lists named `ports` are keyed by `port`) and `mem.strict` (closed).
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
            replace_on: vec![
                ReplaceOn::path("spec.template"),
                ReplaceOn::once("frozen", "data"),
            ],
            list_keys: vec![ListKey::new("ports", "port")],
            doc: "a thing in memory",
        },
        ResourceSchema {
            rtype: "mem.strict".to_owned(),
            attributes: vec![
                AttrSchema::new("size", AttrType::Int).required(),
                AttrSchema::new("label", AttrType::String),
            ],
            open: false,
            replace_on: Vec::new(),
            list_keys: Vec::new(),
            doc: "a closed schema",
        },
    ]
}

#[async_trait]
impl Provider for MemoryProvider {
    fn kind(&self) -> &str {
        "mem"
    }

    fn orders(&self, rtype: &str) -> bool {
        self.ordering && rtype == "mem.thing"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        let mut schemas = schemas();
        if self.lenient {
            for attr in &mut schemas[0].attributes {
                attr.force_new = false;
            }
            schemas[0].replace_on.clear();
        }
        schemas
    }

    /// For blast-radius tests: the group is the `tenant` attribute, the name the `name`
    /// attribute; a thing with `job = true` runs a job when created or replaced, any other
    /// replace is downtime, an update under `pod` a restart.
    fn impact(&self, change: &ChangeRef<'_>) -> Impact {
        let attrs = change.after.or(change.before);
        let text = |key: &str| attrs.and_then(|a| a.get(key)).and_then(Json::as_str);
        let job = attrs.and_then(|a| a.get("job")) == Some(&Json::Bool(true));
        let mut effects = Vec::new();
        match change.action {
            Action::Create | Action::Replace if job => effects.push(Effect::RunsJob),
            Action::Replace => effects.push(Effect::Downtime),
            Action::Update if change.diffs.iter().any(|d| d.path.starts_with("pod.")) => {
                effects.push(Effect::Restart)
            }
            _ => {}
        }
        Impact {
            group: text("tenant").map(str::to_owned),
            effects,
            name: text("name").map(str::to_owned),
        }
    }

    async fn create(
        &self,
        resource: &ResourceRef<'_>,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        self.check("create", resource.address)?;
        self.pause(resource.address).await;
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
        self.pause(resource.address).await;
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
        self.pause(resource.address).await;
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
        let latency = self.latency.lock().ok().and_then(|l| *l);
        if let Some(delay) = latency {
            tokio::time::sleep(delay).await;
        }
        if self
            .fail_reads
            .lock()
            .is_ok_and(|f| f.contains(resource.address))
        {
            return Err(ProviderError::Remote(format!(
                "injected read failure on {}",
                resource.address
            )));
        }
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

/// A backend that passes everything to another one until told to fail: appends after a
/// number of successful ones fail (a disk that fills up), or the lock is lost.
pub struct FaultyBackend {
    pub inner: Arc<dyn Backend>,
    /// Successful appends left before every further append fails; `None`: never fail.
    appends_left: Mutex<Option<usize>>,
    lock_lost: Mutex<bool>,
}

impl FaultyBackend {
    pub fn new(inner: Arc<dyn Backend>) -> FaultyBackend {
        FaultyBackend {
            inner,
            appends_left: Mutex::new(None),
            lock_lost: Mutex::new(false),
        }
    }

    /// Lets `count` more appends succeed, then fails every append and write.
    pub fn fail_after(&self, count: usize) {
        if let Ok(mut left) = self.appends_left.lock() {
            *left = Some(count);
        }
    }

    /// Reports the lock as lost from now on.
    pub fn lose_lock(&self) {
        if let Ok(mut lost) = self.lock_lost.lock() {
            *lost = true;
        }
    }

    fn full(&self) -> StateError {
        StateError::Io {
            path: "faulty state".to_owned(),
            reason: "No space left on device (injected)".to_owned(),
        }
    }

    fn exhausted(&self) -> bool {
        self.appends_left.lock().is_ok_and(|left| *left == Some(0))
    }
}

#[async_trait]
impl Backend for FaultyBackend {
    fn describe(&self) -> String {
        format!("faulty {}", self.inner.describe())
    }

    async fn read(&self) -> Result<Option<State>, StateError> {
        self.inner.read().await
    }

    async fn write(&self, state: &State) -> Result<(), StateError> {
        if self.exhausted() {
            return Err(self.full());
        }
        if let Some(lost) = self.lost() {
            return Err(lost);
        }
        self.inner.write(state).await
    }

    async fn has_journal(&self) -> Result<bool, StateError> {
        self.inner.has_journal().await
    }

    async fn audit(
        &self,
        record: crate::audit::Record,
    ) -> Result<crate::audit::Record, StateError> {
        self.inner.audit(record).await
    }

    async fn audit_trail(&self) -> Result<Vec<crate::audit::Record>, StateError> {
        self.inner.audit_trail().await
    }

    async fn append(&self, entries: &[JournalEntry]) -> Result<(), StateError> {
        if entries.is_empty() {
            return Ok(());
        }
        if let Some(lost) = self.lost() {
            return Err(lost);
        }
        if let Ok(mut left) = self.appends_left.lock() {
            match *left {
                Some(0) => return Err(self.full()),
                Some(n) => *left = Some(n - 1),
                None => {}
            }
        }
        self.inner.append(entries).await
    }

    async fn lock(&self, info: LockInfo) -> Result<Box<dyn LockGuard>, StateError> {
        self.inner.lock(info).await
    }

    async fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        self.inner.force_unlock(id).await
    }

    fn lost(&self) -> Option<StateError> {
        self.lock_lost
            .lock()
            .is_ok_and(|lost| *lost)
            .then(|| StateError::LockLost {
                location: self.describe(),
                reason: "its session ended (injected)".to_owned(),
            })
    }
}
