//! What resources occupy, across the whole stack: collisions at plan (two resources whose
//! providers say they would write the same object or file, see [`Provider::claims`]) and
//! leftovers no resource owns (see [`Provider::sweep`]), reported at plan and drift and
//! removed after apply.
//!
//! Both work per provider kind, not per provider instance, so two instances writing to one
//! place (two GitOps providers with the same `dir`) are checked together and never take each
//! other's objects for leftovers.

use std::collections::{BTreeMap, HashMap};

use obp_lang::diagnostics::{Diagnostic, IntoDiagnostic};
use obp_lang::Config;
use serde_json::Value as Json;

use crate::errors::{ApplyError, StateError};
use crate::plan::{Action, Change, Drift};
use crate::provider::{Owned, Provider, Providers, ResourceRef};
use crate::state::State;

/// [`Drift::kind`] of a leftover no resource owns (apply removes it).
pub const STRAY: &str = "stray";
/// [`Drift::kind`] of a listing to rewrite, such as a stale `kustomization.yaml`.
pub const OUTDATED: &str = "outdated";

/// Every pair of configured resources that claim the same thing, as E0615 (each later
/// resource against the first that claimed it). `managers` maps addresses to provider names.
pub fn collisions(
    config: &Config,
    inputs: &HashMap<&str, BTreeMap<String, Json>>,
    providers: &Providers,
    managers: &HashMap<&str, &str>,
) -> Vec<Diagnostic> {
    let mut first: HashMap<(String, String), usize> = HashMap::new();
    let mut out = Vec::new();
    for (n, resource) in config.resources.iter().enumerate() {
        let Some(provider) = managers
            .get(resource.address.as_str())
            .and_then(|name| providers.get(name))
        else {
            continue;
        };
        let Some(inputs) = inputs.get(resource.address.as_str()) else {
            continue;
        };
        let reference = ResourceRef {
            order: None,
            address: &resource.address,
            rtype: &resource.rtype,
        };
        let mut claims = provider.claims(&reference, inputs);
        claims.sort();
        claims.dedup();
        for claim in claims {
            let key = (provider.kind().to_owned(), claim);
            match first.get(&key) {
                None => {
                    first.insert(key, n);
                }
                Some(&earlier) => {
                    let other = &config.resources[earlier];
                    out.push(
                        StateError::Collision {
                            first: other.address.clone(),
                            second: resource.address.clone(),
                            claim: key.1,
                            spans: (Some(other.span), Some(resource.span)),
                        }
                        .into_diagnostic(),
                    );
                }
            }
        }
    }
    out
}

/// The resources in `state` that a provider of `kind` may own: those of every provider of
/// that kind, and those whose provider is not configured (never taken for leftovers).
fn owned_by_kind<'a>(state: &'a State, providers: &Providers, kind: &str) -> Vec<Owned<'a>> {
    state
        .resources
        .values()
        .filter(|r| providers.get(&r.provider).is_none_or(|p| p.kind() == kind))
        .map(|r| Owned {
            rtype: &r.rtype,
            inputs: &r.inputs,
            outputs: &r.outputs,
        })
        .collect()
}

/// Configured providers, one per instance (aliases of one instance are swept once).
fn instances(providers: &Providers) -> Vec<(&str, &dyn Provider)> {
    let mut seen: Vec<*const ()> = Vec::new();
    let mut out = Vec::new();
    for name in providers.names() {
        let Some(provider) = providers.get(name) else {
            continue;
        };
        let identity = std::sync::Arc::as_ptr(provider) as *const ();
        if !seen.contains(&identity) {
            seen.push(identity);
            out.push((name, provider.as_ref()));
        }
    }
    out
}

/// Leftovers found at plan time, as drift (nothing is changed).
pub async fn strays(state: &State, providers: &Providers) -> Result<Vec<Drift>, Vec<Diagnostic>> {
    let mut drift = Vec::new();
    let mut errors = Vec::new();
    for (name, provider) in instances(providers) {
        let owned = owned_by_kind(state, providers, provider.kind());
        match provider.sweep(&owned, false).await {
            Ok(found) => {
                let kinds = [(STRAY, found.strays), (OUTDATED, found.outdated)];
                for (kind, paths) in kinds {
                    drift.extend(paths.into_iter().map(|address| Drift {
                        address,
                        kind: kind.to_owned(),
                        diffs: Vec::new(),
                        detail: None,
                        live: None,
                    }));
                }
            }
            Err(error) => errors.push(
                ApplyError::from_provider(name, "checking provider", error).into_diagnostic(),
            ),
        }
    }
    if errors.is_empty() {
        Ok(drift)
    } else {
        Err(errors)
    }
}

/// After an apply: every provider removes its leftovers and repairs its listings, with
/// `state` (as written) saying what is owned. Failures come back per provider.
pub async fn sweep(state: &State, providers: &Providers) -> Vec<(String, ApplyError)> {
    let mut failed = Vec::new();
    for (name, provider) in instances(providers) {
        let owned = owned_by_kind(state, providers, provider.kind());
        if let Err(error) = provider.sweep(&owned, true).await {
            failed.push((
                format!("provider `{name}`"),
                ApplyError::from_provider(name, "cleaning up after", error),
            ));
        }
    }
    failed
}

/// Makes a change that writes what a deleted resource occupied wait for that delete (a
/// resource renamed without a `moved` block: the new one is created, the old one deleted, and
/// run in parallel the delete could remove what the create just wrote). An edge that would
/// close a cycle is left out.
pub fn order_after_deletes(changes: &mut [Change], providers: &Providers) {
    let claims_of = |change: &Change, inputs: &BTreeMap<String, Json>| {
        let reference = ResourceRef {
            order: None,
            address: &change.address,
            rtype: &change.rtype,
        };
        providers
            .get(&change.provider)
            .map(|p| {
                p.claims(&reference, inputs)
                    .into_iter()
                    .map(|c| (p.kind().to_owned(), c))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let mut deleted: HashMap<(String, String), usize> = HashMap::new();
    for (n, change) in changes.iter().enumerate() {
        if change.action == Action::Delete {
            if let Some(before) = &change.before {
                for claim in claims_of(change, &before.inputs) {
                    deleted.insert(claim, n);
                }
            }
        }
    }
    if deleted.is_empty() {
        return;
    }
    let mut edges = Vec::new();
    for (n, change) in changes.iter().enumerate() {
        if !matches!(
            change.action,
            Action::Create | Action::Update | Action::Replace
        ) {
            continue;
        }
        let Some(after) = &change.after else {
            continue;
        };
        for claim in claims_of(change, after) {
            if let Some(&delete) = deleted.get(&claim) {
                edges.push((n, delete));
            }
        }
    }
    let index: HashMap<String, usize> = changes
        .iter()
        .enumerate()
        .map(|(n, c)| (c.address.clone(), n))
        .collect();
    for (writer, delete) in edges {
        let address = changes[delete].address.clone();
        if !changes[writer].deps.contains(&address) && !waits_for(changes, &index, delete, writer) {
            changes[writer].deps.push(address);
        }
    }
}

/// Whether change `from` waits, directly or through others, for change `to`; `index` finds a
/// change by address.
fn waits_for(changes: &[Change], index: &HashMap<String, usize>, from: usize, to: usize) -> bool {
    let mut seen = vec![false; changes.len()];
    let mut stack = vec![from];
    while let Some(n) = stack.pop() {
        if n == to {
            return true;
        }
        if std::mem::replace(&mut seen[n], true) {
            continue;
        }
        stack.extend(changes[n].deps.iter().filter_map(|d| index.get(d.as_str())));
    }
    false
}
