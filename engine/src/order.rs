//! The apply order as waves, for providers that write it into what they render
//! ([`crate::provider::Provider::orders`]: a GitOps tree that Argo CD syncs wave by wave).
//!
//! A resource of such a provider gets the smallest wave later than that of every resource of
//! the same provider it depends on, directly or through resources of other providers (a
//! database created by the PostgreSQL provider between two manifests still orders them): the
//! longest-path layering of the graph, which uses as few waves as the dependencies allow.

use std::collections::HashMap;

use crate::graph::Graph;

/// The wave of every resource in `ordered` (address → the provider that orders it); the
/// others only pass dependencies through. `order` is the graph's apply order.
pub fn waves(
    graph: &Graph,
    order: &[String],
    ordered: &HashMap<&str, &str>,
) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    let mut providers: Vec<&str> = ordered.values().copied().collect();
    providers.sort_unstable();
    providers.dedup();
    if providers.is_empty() {
        return out;
    }
    for provider in providers {
        // For a resource `provider` orders: its wave. For any other: the earliest wave a
        // resource `provider` orders that depends on it may take.
        let mut level: HashMap<&str, u32> = HashMap::new();
        for address in order {
            let earliest = graph
                .dependencies(address)
                .into_iter()
                .map(|dep| {
                    let wave = level.get(dep).copied().unwrap_or(0);
                    if ordered.get(dep) == Some(&provider) {
                        wave + 1
                    } else {
                        wave
                    }
                })
                .max()
                .unwrap_or(0);
            level.insert(address.as_str(), earliest);
            if ordered.get(address.as_str()) == Some(&provider) {
                out.insert(address.clone(), earliest);
            }
        }
    }
    out
}
