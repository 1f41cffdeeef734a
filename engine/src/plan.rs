//! Planning: compares the configuration with state (refreshed from providers) and decides,
//! per resource instance, create / update / replace / delete / no-op, with attribute diffs
//! and the reasons behind replacements.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use obp_lang::diagnostics::{suggest, Diagnostic, IntoDiagnostic};
use obp_lang::eval::Instance;
use obp_lang::Config;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::claims;
use crate::codec;
use crate::errors::{ApplyError, GraphError, StateError};
use crate::graph::{Graph, Origin};
use crate::provider::{
    AttrType, ChangeRef, Impact, Provider, ProviderError, Providers, Recorded, ResourceRef,
    ResourceSchema,
};
use crate::resolve::{self, Lookup};
use crate::state::{ResourceState, State};

/// The saved-plan and JSON format version.
pub const PLAN_FORMAT: u32 = 1;

/// The diff path of a new wave in the apply order (not an attribute: the engine's own).
pub const ORDER_PATH: &str = "(apply order wave)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Replace,
    Delete,
}

impl Action {
    /// The action as plans name it in JSON (`create`, `update`, `replace`, `delete`, `noop`).
    pub fn name(self) -> &'static str {
        match self {
            Action::NoOp => "noop",
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

/// One attribute that changes; `path` is dotted (`spec.replicas`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrDiff {
    pub path: String,
    pub before: Option<Json>,
    pub after: Option<Json>,
    /// Changing it forces replacement.
    pub forces_replace: bool,
    /// Never show the values.
    pub sensitive: bool,
}

/// The planned change of one resource instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub address: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub provider: String,
    pub module: String,
    pub action: Action,
    /// Recorded attributes before (from refreshed state).
    pub before: Option<Recorded>,
    /// Desired inputs; values known only after apply stay as markers.
    pub after: Option<BTreeMap<String, Json>>,
    pub diffs: Vec<AttrDiff>,
    /// Why it is replaced or deleted, in words.
    pub reasons: Vec<String>,
    /// Addresses it waits for (dependencies for create/update, dependents for delete).
    pub deps: Vec<String>,
    pub create_before_destroy: bool,
    /// Its group (a tenant) and effects, for the blast radius (none for no-ops).
    #[serde(default)]
    pub impact: Impact,
    /// Its wave in the apply order, for a provider that renders the order
    /// ([`crate::provider::Provider::orders`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<u32>,
}

/// A difference between state and the live system found by refresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub address: String,
    /// `changed` or `deleted`; for leftovers no resource owns (`address` is then their
    /// path), `stray` or `outdated`.
    pub kind: String,
    pub diffs: Vec<AttrDiff>,
    /// A provider's own explanation, such as a unified diff of a file.
    pub detail: Option<String>,
    /// What was read (for `changed`): apply records it, so that state says what is live even
    /// for resources it leaves alone — such as obp's own write that a crash kept from state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<Recorded>,
}

/// A complete plan; written by `plan -out` and applied by `apply FILE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format: u32,
    /// Fingerprint of the configuration the plan was made from.
    pub config_hash: String,
    /// The state it was made against.
    pub lineage: String,
    pub serial: u64,
    pub destroy: bool,
    /// Shared, so apply hands them to its tasks without copying (a fleet's plan is large).
    pub changes: Vec<Arc<Change>>,
    pub drift: Vec<Drift>,
    /// `moved` blocks honoured: (from, to).
    pub moved: Vec<(String, String)>,
    /// The stack's outputs after apply (markers where not known yet).
    pub outputs: BTreeMap<String, Json>,
    /// The stack directory and `--var` values it was planned with (for `apply FILE`).
    #[serde(default)]
    pub stack: String,
    #[serde(default)]
    pub vars: BTreeMap<String, Json>,
    /// Soft policies overridden for this plan (`--override-policy`), kept for `apply FILE`.
    #[serde(default)]
    pub overrides: Vec<String>,
    /// What the policies said about the configuration (denials that did not block, warnings).
    #[serde(default)]
    pub policies: Vec<obp_lang::eval::PolicyFinding>,
}

impl Plan {
    /// Whether applying would change anything.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp)
            || !self.moved.is_empty()
            || self.has_leftovers()
    }

    /// Whether refresh found leftovers that apply removes or repairs (see [`claims`]).
    pub fn has_leftovers(&self) -> bool {
        self.drift
            .iter()
            .any(|d| d.kind == claims::STRAY || d.kind == claims::OUTDATED)
    }

    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
}

/// What to plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Only these addresses (by prefix) and what they depend on.
    pub targets: Vec<String>,
    /// Leave these addresses (by prefix) alone.
    pub excludes: Vec<String>,
    /// Plan to destroy everything in state.
    pub destroy: bool,
    /// Read live objects first to find drift (default on).
    pub refresh: bool,
}

/// Plans `config` against `state`. Errors come back as diagnostics, all of them at once.
pub async fn plan(
    config: &Config,
    state: State,
    providers: &Providers,
    options: &PlanOptions,
) -> Result<Plan, Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    let (lineage, serial) = (state.lineage.clone(), state.serial);
    let mut prior = state;
    let moved = apply_moves(config, &mut prior, &mut diagnostics);
    let graph = Graph::build(config, Some(&prior)).map_err(|e| vec![e.into_diagnostic()])?;

    // Which provider and schema manage each configured resource.
    let mut managers: HashMap<&str, (&str, &ResourceSchema)> = HashMap::new();
    for resource in &config.resources {
        match providers.for_resource(&resource.provider, &resource.rtype) {
            Some((name, _)) => {
                if let Some(schema) = providers.schema_of(name, &resource.rtype) {
                    managers.insert(&resource.address, (name, schema));
                }
            }
            None if resource.rtype.split('.').next() != Some(resource.provider.as_str()) => {
                diagnostics.push(
                    ApplyError::ProviderConfig {
                        name: resource.provider.clone(),
                        message: format!(
                        "`{}` asks for provider `{}`, but no provider of that name manages `{}`",
                        resource.address, resource.provider, resource.rtype
                    ),
                        span: Some(resource.span),
                    }
                    .into_diagnostic()
                    .maybe_help(suggest::did_you_mean(&resource.provider, providers.names())),
                )
            }
            None => diagnostics.push(
                ApplyError::NoProvider {
                    rtype: resource.rtype.clone(),
                    span: resource.span,
                    suggestion: suggest::did_you_mean(&resource.rtype, providers.resource_types()),
                }
                .into_diagnostic(),
            ),
        }
    }
    // Each resource's attributes as JSON, converted once: validation, claims and the
    // change itself all read them.
    let mut inputs: HashMap<&str, BTreeMap<String, Json>> = config
        .resources
        .iter()
        .filter(|r| managers.contains_key(r.address.as_str()))
        .map(|r| (r.address.as_str(), codec::to_json_map(&r.attrs)))
        .collect();
    for resource in &config.resources {
        if let Some((name, schema)) = managers.get(resource.address.as_str()) {
            let json = &inputs[resource.address.as_str()];
            validate(resource, json, schema, name, providers, &mut diagnostics);
        }
    }
    if diagnostics.is_empty() {
        let names: HashMap<&str, &str> = managers.iter().map(|(a, (n, _))| (*a, *n)).collect();
        diagnostics.extend(claims::collisions(config, &inputs, providers, &names));
    }
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }

    let mut drift = if options.refresh {
        refresh(&mut prior, providers).await?
    } else {
        Vec::new()
    };
    if options.refresh {
        drift.extend(claims::strays(&prior, providers).await?);
    }

    let selected =
        select(config, &prior, &graph, options).map_err(|e| vec![e.into_diagnostic()])?;
    let mut actions: HashMap<String, Action> = HashMap::new();
    let mut changes = Vec::new();
    if !options.destroy {
        let by_address: HashMap<&str, &Instance> = config
            .resources
            .iter()
            .map(|r| (r.address.as_str(), r))
            .collect();
        // Walked once for the changes and once more for the waves of the resources whose
        // provider writes the order into what it renders.
        let apply_order = graph.apply_order();
        let ordered: HashMap<&str, &str> = config
            .resources
            .iter()
            .filter_map(|r| {
                let (name, _) = managers.get(r.address.as_str())?;
                providers
                    .get(name)
                    .is_some_and(|p| p.orders(&r.rtype))
                    .then_some((r.address.as_str(), *name))
            })
            .collect();
        let waves = crate::order::waves(&graph, &apply_order, &ordered);
        for address in apply_order {
            let Some(resource) = by_address.get(address.as_str()) else {
                continue;
            };
            if !selected.contains(&address) {
                continue;
            }
            let (provider, schema) = managers[address.as_str()];
            let json = inputs.remove(address.as_str()).unwrap_or_default();
            let provider_impl = providers.get(provider).map(|p| &**p);
            let change = plan_resource(
                resource,
                json,
                (provider, schema),
                &prior,
                &actions,
                provider_impl,
                waves.get(address.as_str()).copied(),
            );
            if change.action == Action::Replace && resource.lifecycle.prevent_destroy {
                diagnostics.push(
                    StateError::PreventDestroy {
                        address: address.clone(),
                        span: Some(resource.span),
                        help: resource.lifecycle.prevent_destroy_help.clone(),
                    }
                    .into_diagnostic(),
                );
            }
            actions.insert(address.clone(), change.action);
            changes.push(change);
        }
    }
    // Deletions: orphans, or everything when destroying; dependents go first.
    let mut dependents_in_state: HashMap<&str, Vec<&str>> = HashMap::new();
    for (address, recorded) in &prior.resources {
        for dep in &recorded.deps {
            dependents_in_state
                .entry(dep.as_str())
                .or_default()
                .push(address.as_str());
        }
    }
    // In address order already (state is sorted); a dep listed twice counts once.
    dependents_in_state.values_mut().for_each(Vec::dedup);
    for address in graph.destroy_order() {
        let Some(recorded) = prior.resources.get(&address) else {
            continue;
        };
        let orphan = graph
            .node(&address)
            .is_some_and(|n| graph.graph[n].origin == Origin::Orphan);
        if !(options.destroy || orphan) || !selected.contains(&address) {
            continue;
        }
        if options.destroy {
            if let Some(resource) = config.resource(&address) {
                if resource.lifecycle.prevent_destroy {
                    diagnostics.push(
                        StateError::PreventDestroy {
                            address: address.clone(),
                            span: Some(resource.span),
                            help: resource.lifecycle.prevent_destroy_help.clone(),
                        }
                        .into_diagnostic(),
                    );
                }
            }
        }
        let dependents: Vec<String> = dependents_in_state
            .get(address.as_str())
            .into_iter()
            .flatten()
            .filter(|a| selected.contains(**a))
            .map(|a| (*a).to_owned())
            .collect();
        let change = Change {
            address: address.clone(),
            rtype: recorded.rtype.clone(),
            provider: recorded.provider.clone(),
            module: recorded.module.clone(),
            action: Action::Delete,
            before: Some(recorded.recorded()),
            after: None,
            diffs: Vec::new(),
            reasons: vec![if options.destroy {
                "destroy was requested".to_owned()
            } else {
                "it is no longer in the configuration".to_owned()
            }],
            deps: dependents,
            create_before_destroy: false,
            impact: Impact::default(),
            order: None,
        };
        changes.push(assess(
            change,
            providers.get(&recorded.provider).map(|p| &**p),
        ));
    }
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    inherit_groups(&mut changes);
    claims::order_after_deletes(&mut changes, providers);
    let outputs = if options.destroy {
        BTreeMap::new()
    } else {
        plan_outputs(config, &prior, &actions)
    };
    Ok(Plan {
        format: PLAN_FORMAT,
        config_hash: config.hash(),
        lineage,
        serial,
        destroy: options.destroy,
        changes: changes.into_iter().map(Arc::new).collect(),
        drift,
        moved,
        outputs,
        stack: String::new(),
        vars: BTreeMap::new(),
        overrides: Vec::new(),
        policies: config.findings.clone(),
    })
}

/// Renames state entries according to `moved` blocks (only where `from` exists and `to` is free).
fn apply_moves(
    config: &Config,
    prior: &mut State,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<(String, String)> {
    let mut moved = Vec::new();
    for block in &config.moved {
        let from_exists = prior.resources.contains_key(&block.from);
        let to_exists = prior.resources.contains_key(&block.to);
        match (from_exists, to_exists) {
            (false, _) => {} // Already moved, or never applied: nothing to do.
            (true, true) => diagnostics.push(
                StateError::BadMove {
                    from: block.from.clone(),
                    to: block.to.clone(),
                    reason: "both addresses exist in state".to_owned(),
                    span: block.span,
                }
                .into_diagnostic(),
            ),
            (true, false) if config.resource(&block.to).is_none() => diagnostics.push(
                StateError::BadMove {
                    from: block.from.clone(),
                    to: block.to.clone(),
                    reason: "the new address is not declared".to_owned(),
                    span: block.span,
                }
                .into_diagnostic(),
            ),
            (true, false) => {
                if let Some(resource) = prior.resources.remove(&block.from) {
                    prior.resources.insert(block.to.clone(), resource);
                    moved.push((block.from.clone(), block.to.clone()));
                }
            }
        }
    }
    moved
}

/// Schema checks for one resource: unknown and missing attributes, basic types.
fn validate(
    resource: &Instance,
    inputs: &BTreeMap<String, Json>,
    schema: &ResourceSchema,
    provider: &str,
    providers: &Providers,
    out: &mut Vec<Diagnostic>,
) {
    let errors_before = out.len();
    let invalid = |message: String, span, help: Option<String>| {
        ApplyError::Invalid {
            address: resource.address.clone(),
            message,
            span,
            help,
        }
        .into_diagnostic()
    };
    for name in resource.attrs.keys() {
        let span = resource
            .attr_spans
            .get(name)
            .copied()
            .unwrap_or(resource.span);
        let Some(attr) = schema.attribute(name) else {
            if !schema.open {
                let help = suggest::did_you_mean(name, schema.attributes.iter().map(|a| a.name));
                out.push(invalid(
                    format!("`{}` has no attribute `{name}`", schema.rtype),
                    span,
                    help,
                ));
            }
            continue;
        };
        let Some(json) = inputs.get(name) else {
            continue;
        };
        if resolve::is_unknown(json) || resolve::is_secret(json) {
            continue;
        }
        // `null` leaves an optional attribute unset (blueprints pass `x = null` through).
        if json.is_null() && !attr.required {
            continue;
        }
        let ok = match attr.ty {
            AttrType::String => json.is_string(),
            AttrType::Int => json.is_i64() || json.is_u64(),
            AttrType::Bool => json.is_boolean(),
            AttrType::List => json.is_array(),
            AttrType::Map => json.is_object(),
            AttrType::Any => true,
        };
        if !ok {
            out.push(invalid(
                format!("`{name}` must be {:?}, found {}", attr.ty, kind_of(json)).to_lowercase(),
                span,
                None,
            ));
        }
    }
    for attr in &schema.attributes {
        if attr.required && !resource.attrs.contains_key(attr.name) {
            out.push(invalid(
                format!("missing required attribute `{}`", attr.name),
                resource.span,
                (!attr.doc.is_empty()).then(|| format!("`{}`: {}", attr.name, attr.doc)),
            ));
        }
    }
    let schema_errors = out.len() > errors_before;
    if let Some(provider) = providers.get(provider).filter(|_| !schema_errors) {
        let reference = ResourceRef {
            order: None,
            address: &resource.address,
            rtype: &resource.rtype,
        };
        for error in provider.validate(&reference, inputs) {
            use crate::provider::ProviderError;
            let span = match &error {
                ProviderError::Invalid {
                    attribute: Some(a), ..
                }
                | ProviderError::Rejected {
                    attribute: Some(a), ..
                } => nearest_span(resource, a),
                _ => resource.span,
            };
            match error {
                ProviderError::Rejected { code, ref help, .. } => out.push(
                    ApplyError::Rejected {
                        code,
                        subject: format!("`{}`", resource.address),
                        message: error.to_string(),
                        span: Some(span),
                        help: help.clone(),
                    }
                    .into_diagnostic(),
                ),
                _ => out.push(invalid(error.to_string(), span, None)),
            }
        }
    }
}

fn kind_of(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a bool",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "a record",
    }
}

/// Read failures reported one by one before the rest are summed up in the last.
pub const READ_FAILURES_SHOWN: usize = 10;

/// Turns read failures into diagnostics: the first few by name, the rest counted.
pub fn read_failures(mut failures: Vec<ApplyError>) -> Vec<Diagnostic> {
    let others = failures.len().saturating_sub(READ_FAILURES_SHOWN);
    failures.truncate(READ_FAILURES_SHOWN);
    if let Some(ApplyError::ReadFailed { others: count, .. }) = failures.last_mut() {
        *count = others;
    }
    failures
        .into_iter()
        .map(IntoDiagnostic::into_diagnostic)
        .collect()
}

/// Reads every resource in state from its provider; updates `prior` and reports drift. A
/// resource that cannot be read is an error: what is live is unknown, so neither "no drift"
/// nor a plan can be claimed.
async fn refresh(prior: &mut State, providers: &Providers) -> Result<Vec<Drift>, Vec<Diagnostic>> {
    // Each provider reads its resources in batches (`Provider::read_many`: concurrent reads,
    // or one LIST for many objects), taken in address order. Only what differs is kept: a
    // fleet's state held twice would double the peak.
    let mut by_provider: BTreeMap<&str, Vec<(&String, &ResourceState)>> = BTreeMap::new();
    for (address, recorded) in &prior.resources {
        if providers.get(&recorded.provider).is_some() {
            by_provider
                .entry(recorded.provider.as_str())
                .or_default()
                .push((address, recorded));
        }
    }
    let mut results: BTreeMap<String, Result<Read, ProviderError>> = BTreeMap::new();
    for (name, resources) in by_provider {
        let Some(provider) = providers.get(name) else {
            continue;
        };
        for batch in resources.chunks(REFRESH_BATCH) {
            let before: Vec<Recorded> = batch.iter().map(|(_, r)| r.recorded()).collect();
            let items: Vec<(ResourceRef<'_>, &Recorded)> = batch
                .iter()
                .zip(&before)
                .map(|((address, recorded), before)| {
                    let reference = ResourceRef {
                        order: recorded.order,
                        address,
                        rtype: &recorded.rtype,
                    };
                    (reference, before)
                })
                .collect();
            let reads = provider.read_many(&items).await;
            for ((address, _), (before, read)) in batch.iter().zip(before.into_iter().zip(reads)) {
                let read = match read {
                    Ok(Some(live)) if live == before => Ok(Read::Same),
                    Ok(Some(live)) => Ok(Read::Changed(Box::new((before, live)))),
                    Ok(None) => Ok(Read::Gone),
                    Err(error) => Err(error),
                };
                results.insert((*address).clone(), read);
            }
        }
    }
    let mut drift = Vec::new();
    let mut failures = Vec::new();
    for (address, live) in results {
        let Some(recorded) = prior.resources.get(&address) else {
            continue;
        };
        let Some(provider) = providers.get(&recorded.provider) else {
            continue;
        };
        match live {
            Ok(Read::Same) => {}
            Ok(Read::Changed(changed)) => {
                let (before, live) = *changed;
                if live.inputs != before.inputs {
                    let reference = ResourceRef {
                        order: recorded.order,
                        address: &address,
                        rtype: &recorded.rtype,
                    };
                    let diffs = diff_maps(&before.inputs, &live.inputs, None);
                    let detail = provider.describe_drift(&reference, &before, &live);
                    drift.push(Drift {
                        address: address.clone(),
                        kind: "changed".to_owned(),
                        diffs,
                        detail,
                        live: Some(live.clone()),
                    });
                }
                if let Some(entry) = prior.resources.get_mut(&address) {
                    *entry = ResourceState::new(
                        &entry.rtype,
                        &entry.provider,
                        &entry.module,
                        live,
                        entry.deps.clone(),
                    )
                    .with_order(entry.order);
                }
            }
            Ok(Read::Gone) => {
                drift.push(Drift {
                    address: address.clone(),
                    kind: "deleted".to_owned(),
                    diffs: Vec::new(),
                    detail: None,
                    live: None,
                });
                prior.resources.remove(&address);
            }
            Err(error) => failures.push(ApplyError::ReadFailed {
                address: address.clone(),
                provider: recorded.provider.clone(),
                message: error.to_string(),
                others: 0,
            }),
        }
    }
    if failures.is_empty() {
        Ok(drift)
    } else {
        Err(read_failures(failures))
    }
}

/// How many resources refresh hands a provider at once: enough for one LIST per kind to
/// cover a fleet's objects, few enough that their recorded copies stay small.
const REFRESH_BATCH: usize = 2_000;

/// What refresh found for one resource.
enum Read {
    Same,
    /// As recorded, and as read.
    Changed(Box<(Recorded, Recorded)>),
    Gone,
}

/// The resources a targeted plan covers.
fn select(
    config: &Config,
    prior: &State,
    graph: &Graph,
    options: &PlanOptions,
) -> Result<BTreeSet<String>, GraphError> {
    let all: BTreeSet<String> = config
        .resources
        .iter()
        .map(|r| r.address.clone())
        .chain(prior.resources.keys().cloned())
        .collect();
    let mut selected = if options.targets.is_empty() {
        all.clone()
    } else {
        let mut roots = Vec::new();
        for pattern in &options.targets {
            let matched: Vec<String> = all
                .iter()
                .filter(|a| crate::address::matches(pattern, a))
                .cloned()
                .collect();
            if matched.is_empty() {
                return Err(GraphError::NoMatch {
                    pattern: pattern.clone(),
                });
            }
            roots.extend(matched);
        }
        if options.destroy {
            // Destroying a target also destroys what depends on it.
            let mut out: BTreeSet<String> = roots.iter().cloned().collect();
            let mut stack = roots;
            while let Some(address) = stack.pop() {
                for dependent in graph.dependents(&address) {
                    if out.insert(dependent.to_owned()) {
                        stack.push(dependent.to_owned());
                    }
                }
            }
            out
        } else {
            graph.with_dependencies(&roots)
        }
    };
    for pattern in &options.excludes {
        let before = selected.len();
        selected.retain(|a| !crate::address::matches(pattern, a));
        if before == selected.len() && !all.iter().any(|a| crate::address::matches(pattern, a)) {
            return Err(GraphError::NoMatch {
                pattern: pattern.clone(),
            });
        }
    }
    Ok(selected)
}

/// Lookups at plan time: state values of resources that keep their attributes.
struct PlanLookup<'a> {
    prior: &'a State,
    actions: &'a HashMap<String, Action>,
}

impl Lookup for PlanLookup<'_> {
    fn lookup(&self, address: &str, path: &[String]) -> Option<Json> {
        match self.actions.get(address) {
            Some(Action::Create | Action::Replace) => None,
            _ => self.prior.lookup(address, path),
        }
    }
}

/// The change for one configured resource; `inputs` are its attributes as JSON.
/// (`order`: its wave, for a provider that renders the apply order; a new wave is an update.)
fn plan_resource(
    resource: &Instance,
    inputs: BTreeMap<String, Json>,
    (provider, schema): (&str, &ResourceSchema),
    prior: &State,
    actions: &HashMap<String, Action>,
    provider_impl: Option<&dyn Provider>,
    order: Option<u32>,
) -> Change {
    let lookup = PlanLookup { prior, actions };
    let mut after = inputs;
    for json in after.values_mut() {
        resolve::resolve(json, &lookup);
    }
    let before = prior.resources.get(&resource.address);
    if let Some(before) = before {
        for path in &resource.lifecycle.ignore_changes {
            keep_prior(&mut after, &before.inputs, path);
        }
    }
    let deps: Vec<String> = resource.deps.iter().map(|d| d.address.clone()).collect();
    let base = Change {
        address: resource.address.clone(),
        rtype: resource.rtype.clone(),
        provider: provider.to_owned(),
        module: resource.module.clone(),
        action: Action::Create,
        before: None,
        after: None,
        diffs: Vec::new(),
        reasons: Vec::new(),
        deps,
        create_before_destroy: resource.lifecycle.create_before_destroy,
        impact: Impact::default(),
        order,
    };
    let Some(before) = before else {
        let diffs = diff_maps(&BTreeMap::new(), &after, Some(schema));
        return assess(
            Change {
                after: Some(after),
                diffs,
                ..base
            },
            provider_impl,
        );
    };
    let mut diffs = diff_maps(&before.inputs, &after, Some(schema));
    if order.is_some() && before.order != order {
        // What the provider renders changes with the wave (a sync-wave annotation).
        diffs.push(AttrDiff {
            path: ORDER_PATH.to_owned(),
            before: before.order.map(Json::from),
            after: order.map(Json::from),
            forces_replace: false,
            sensitive: false,
        });
    }
    // An attribute read from a replaced resource is unknown again even if the text matches.
    if before.rtype != resource.rtype {
        return assess(
            Change {
                action: Action::Replace,
                before: Some(before.recorded()),
                after: Some(after),
                reasons: vec![format!("its type changed from `{}`", before.rtype)],
                diffs,
                ..base
            },
            provider_impl,
        );
    }
    let reasons: Vec<String> = diffs
        .iter()
        .filter(|d| d.forces_replace)
        .map(|d| format!("`{}` cannot be changed in place", d.path))
        .collect();
    let action = if diffs.is_empty() {
        Action::NoOp
    } else if reasons.is_empty() {
        Action::Update
    } else {
        Action::Replace
    };
    if action == Action::NoOp {
        // Nothing to apply or show: keep no copies (plans of large stacks are mostly no-ops),
        // only the group, which resources of the same module without one of their own take.
        let reference = ChangeRef {
            address: &resource.address,
            rtype: &resource.rtype,
            action,
            before: Some(&before.inputs),
            after: Some(&after),
            diffs: &[],
        };
        let group = provider_impl.and_then(|p| p.impact(&reference).group);
        return Change {
            action,
            impact: Impact {
                group,
                ..Impact::default()
            },
            ..base
        };
    }
    assess(
        Change {
            action,
            before: Some(before.recorded()),
            after: Some(after),
            diffs,
            reasons,
            ..base
        },
        provider_impl,
    )
}

/// `change` with what its provider says of its group and effects.
fn assess(mut change: Change, provider: Option<&dyn Provider>) -> Change {
    if let Some(provider) = provider {
        let reference = ChangeRef {
            address: &change.address,
            rtype: &change.rtype,
            action: change.action,
            before: change.before.as_ref().map(|r| &r.inputs),
            after: change.after.as_ref(),
            diffs: &change.diffs,
        };
        let mut impact = provider.impact(&reference);
        impact.effects.sort_unstable();
        impact.effects.dedup();
        change.impact = impact;
    }
    change
}

/// Gives each change without a group of its own the group its module's resources agree on:
/// the nearest enclosing module instance (its own first) where some resource has a group, if
/// they all have the same one. A tenant's database, which carries no labels, is so counted
/// with the tenant's Kubernetes objects; what sits beside several tenants' objects stays
/// shared. Then forgets the groups of no-ops, which are neither shown nor counted.
fn inherit_groups(changes: &mut [Change]) {
    let mut by_module: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for change in changes.iter() {
        if let Some(group) = &change.impact.group {
            by_module
                .entry(change.module.as_str())
                .or_default()
                .insert(group.as_str());
        }
    }
    let inherited: Vec<Option<String>> = changes
        .iter()
        .map(|change| {
            if change.impact.group.is_some() || change.action == Action::NoOp {
                return None;
            }
            let mut module = change.module.as_str();
            while !module.is_empty() {
                if let Some(groups) = by_module.get(module) {
                    let only = groups.first().filter(|_| groups.len() == 1);
                    return only.map(|group| (*group).to_owned());
                }
                module = crate::address::parent_module(module);
            }
            None
        })
        .collect();
    for (change, group) in changes.iter_mut().zip(inherited) {
        if change.action == Action::NoOp {
            change.impact = Impact::default();
        } else if group.is_some() {
            change.impact.group = group;
        }
    }
}

/// Copies the prior value at a dotted `path` into `after` (for `ignore_changes`).
fn keep_prior(after: &mut BTreeMap<String, Json>, before: &BTreeMap<String, Json>, path: &str) {
    let steps: Vec<&str> = path.split('.').collect();
    let Some((first, rest)) = steps.split_first() else {
        return;
    };
    let prior_value = before.get(*first).and_then(|v| walk(v, rest));
    match (rest.is_empty(), prior_value) {
        (true, Some(value)) => {
            after.insert((*first).to_owned(), value.clone());
        }
        (true, None) => {
            after.remove(*first);
        }
        (false, prior_value) => {
            let Some(mut target) = after.get_mut(*first) else {
                return;
            };
            for step in &rest[..rest.len() - 1] {
                let Some(next) = target.get_mut(*step) else {
                    return;
                };
                target = next;
            }
            let last = rest[rest.len() - 1];
            if let Json::Object(map) = target {
                match prior_value {
                    Some(value) => {
                        map.insert(last.to_owned(), value.clone());
                    }
                    None => {
                        map.remove(last);
                    }
                }
            }
        }
    }
}

fn walk<'a>(value: &'a Json, steps: &[&str]) -> Option<&'a Json> {
    let mut current = value;
    for step in steps {
        current = current.get(*step)?;
    }
    Some(current)
}

/// Leaf-level differences between two attribute maps (objects are compared key by key,
/// lists of records element by element where a key field identifies each element).
pub fn diff_maps(
    before: &BTreeMap<String, Json>,
    after: &BTreeMap<String, Json>,
    schema: Option<&ResourceSchema>,
) -> Vec<AttrDiff> {
    let mut diffs = Vec::new();
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for key in keys {
        let attr = schema.and_then(|s| s.attribute(key));
        let leaf = Leaf {
            forces_replace: attr.is_some_and(|a| a.force_new),
            sensitive: attr.is_some_and(|a| a.sensitive),
            schema,
            prior: before,
        };
        diff_value(key, key, before.get(key), after.get(key), &leaf, &mut diffs);
    }
    diffs
}

/// What one attribute's leaves share: whether the attribute is replaced or hidden as a whole,
/// and the schema's per-path replace rules with the prior attributes they look at.
struct Leaf<'a> {
    forces_replace: bool,
    sensitive: bool,
    schema: Option<&'a ResourceSchema>,
    prior: &'a BTreeMap<String, Json>,
}

impl Leaf<'_> {
    fn forces_replace(&self, path: &str) -> bool {
        self.forces_replace || self.schema.is_some_and(|s| s.replaces_at(path, self.prior))
    }

    fn diff(&self, path: &str, before: Option<&Json>, after: Option<&Json>) -> AttrDiff {
        AttrDiff {
            path: path.to_owned(),
            before: before.cloned(),
            after: after.cloned(),
            forces_replace: self.forces_replace(path),
            sensitive: self.sensitive,
        }
    }
}

/// Differences at `path`, which is held in the object field `field` (the list keys depend on it).
fn diff_value(
    path: &str,
    field: &str,
    before: Option<&Json>,
    after: Option<&Json>,
    leaf: &Leaf<'_>,
    out: &mut Vec<AttrDiff>,
) {
    // Equal and fully known: no diff anywhere below, so no paths to build (a no-op plan of a
    // fleet compares every attribute of every resource).
    if let (Some(b), Some(a)) = (before, after) {
        if b == a && !resolve::is_unknown(a) {
            return;
        }
    }
    // A record that appears or disappears as a whole is shown field by field.
    let empty = Json::Object(serde_json::Map::new());
    let is_record = |v: Option<&Json>| {
        matches!(v, Some(Json::Object(m))
            if !(m.is_empty() || m.len() == 1 && m.keys().any(|k| k.starts_with('$'))))
    };
    let (before, after) = match (before, after) {
        (None, Some(_)) if is_record(after) => (Some(&empty), after),
        (Some(_), None) if is_record(before) => (before, Some(&empty)),
        other => other,
    };
    match (before, after) {
        (Some(Json::Object(b)), Some(Json::Object(a))) if !is_marker(b) && !is_marker(a) => {
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for key in keys {
                diff_value(
                    &child_path(path, key),
                    key,
                    b.get(key),
                    a.get(key),
                    leaf,
                    out,
                );
            }
            return;
        }
        // Lists no key identifies fall through: diffed whole.
        (Some(Json::Array(b)), Some(Json::Array(a)))
            if b != a && diff_elements(path, field, b, a, leaf, out) =>
        {
            return;
        }
        _ => {}
    }
    let changed = match (before, after) {
        (Some(b), Some(a)) => b != a || resolve::is_unknown(a),
        (None, None) => false,
        _ => true,
    };
    if changed {
        out.push(leaf.diff(path, before, after));
    }
}

/// A value marker such as `{"$secret": path}` or `{"$unknown": …}`: compared whole.
fn is_marker(map: &serde_json::Map<String, Json>) -> bool {
    map.len() == 1 && map.keys().any(|k| k.starts_with('$'))
}

/// Diffs two lists of records element by element, matched by a key field (the first of the
/// schema's keys for `field` that every element of both lists has, distinct): a changed
/// element's leaves at `path[key=value].…`, an added or removed element whole at
/// `path[key=value]`. Returns false, having pushed nothing, when no key identifies every
/// element or the elements both lists keep changed order: the caller diffs the whole list.
fn diff_elements(
    path: &str,
    field: &str,
    before: &[Json],
    after: &[Json],
    leaf: &Leaf<'_>,
    out: &mut Vec<AttrDiff>,
) -> bool {
    let candidates: Vec<&str> = match leaf.schema {
        Some(schema) => schema.list_keys(field),
        None => vec![crate::provider::DEFAULT_LIST_KEY],
    };
    let Some((key, b, a)) = candidates
        .into_iter()
        .find_map(|key| Some((key, keyed(before, key)?, keyed(after, key)?)))
    else {
        return false;
    };
    let (b_at, a_at): (HashMap<&str, &Json>, HashMap<&str, &Json>) = (
        b.iter().map(|(id, v)| (id.as_str(), *v)).collect(),
        a.iter().map(|(id, v)| (id.as_str(), *v)).collect(),
    );
    let kept = |from: &[(String, &Json)], other: &HashMap<&str, &Json>| -> Vec<String> {
        from.iter()
            .filter(|(id, _)| other.contains_key(id.as_str()))
            .map(|(id, _)| id.clone())
            .collect()
    };
    if kept(&b, &a_at) != kept(&a, &b_at) {
        return false;
    }
    // Before's order first, then what after adds, in its order.
    let ids = b.iter().map(|(id, _)| id).chain(
        a.iter()
            .map(|(id, _)| id)
            .filter(|id| !b_at.contains_key(id.as_str())),
    );
    for id in ids {
        let element = format!("{path}[{key}={id}]");
        match (b_at.get(id.as_str()), a_at.get(id.as_str())) {
            (Some(old), Some(new)) => diff_value(&element, "", Some(old), Some(new), leaf, out),
            (old, new) => out.push(leaf.diff(&element, old.copied(), new.copied())),
        }
    }
    true
}

/// Each element's `key` value as path text, or `None` unless every element is a record with
/// a distinct string or integer `key`. Values other than plain words are quoted.
fn keyed<'a>(list: &'a [Json], key: &str) -> Option<Vec<(String, &'a Json)>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(list.len());
    for element in list {
        let Json::Object(map) = element else {
            return None;
        };
        if is_marker(map) {
            return None;
        }
        let id = match map.get(key)? {
            Json::String(text) => {
                let plain = !text.is_empty()
                    && text
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-./:".contains(c));
                if plain {
                    text.clone()
                } else {
                    serde_json::to_string(text).unwrap_or_default()
                }
            }
            Json::Number(number) if number.is_i64() || number.is_u64() => number.to_string(),
            _ => return None,
        };
        if !seen.insert(id.clone()) {
            return None;
        }
        out.push((id, element));
    }
    Some(out)
}

fn plan_outputs(
    config: &Config,
    prior: &State,
    actions: &HashMap<String, Action>,
) -> BTreeMap<String, Json> {
    let lookup = PlanLookup { prior, actions };
    config
        .outputs
        .iter()
        .map(|(name, value)| {
            let mut json = codec::to_json(value);
            resolve::resolve(&mut json, &lookup);
            (name.clone(), json)
        })
        .collect()
}

/// `path.key`, or `path["key"]` when the key is not a plain name (`data["odoo.conf"]`).
fn child_path(path: &str, key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", serde_json::to_string(key).unwrap_or_default())
    }
}

/// The span of the deepest written field on `path` (`spec.template.spec.containers[0].x`
/// falls back to `…containers[0]`, then `…containers`, up to the attribute, then the resource).
fn nearest_span(resource: &Instance, path: &str) -> obp_lang::span::Span {
    let mut current = path;
    loop {
        if let Some(span) = resource.attr_spans.get(current) {
            return *span;
        }
        match current.rfind(['.', '[']) {
            Some(at) if at > 0 => current = &current[..at],
            _ => return resource.span,
        }
    }
}
