//! The dependency graph, built by small passes: resources from the configuration, their
//! reference and `depends_on` edges, orphans from state with their recorded edges, then
//! validation (every cycle reported with the source span of each edge).
//!
//! Edges point from a resource to what it depends on; apply walks them dependencies-first,
//! destroy walks them the other way.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

use obp_lang::span::Span;
use obp_lang::Config;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::address;
use crate::errors::GraphError;
use crate::state::State;

/// Where a node comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Declared in the configuration.
    Config,
    /// Only in state: it was removed from the configuration.
    Orphan,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub address: String,
    pub origin: Origin,
}

/// Why an edge exists.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    /// The reference or `depends_on` entry (none for edges recorded in state).
    pub span: Option<Span>,
    pub explicit: bool,
}

pub struct Graph {
    pub graph: DiGraph<Node, Edge>,
    index: HashMap<String, NodeIndex>,
}

impl Graph {
    /// Builds and validates the graph of `config` plus the orphans in `state`.
    pub fn build(config: &Config, state: Option<&State>) -> Result<Graph, GraphError> {
        let mut graph = Graph {
            graph: DiGraph::with_capacity(config.resources.len(), config.resources.len()),
            index: HashMap::with_capacity(config.resources.len()),
        };
        graph.add_resources(config);
        graph.add_reference_edges(config);
        if let Some(state) = state {
            graph.add_orphans(state);
        }
        graph.validate()?;
        Ok(graph)
    }

    fn add(&mut self, address: &str, origin: Origin) -> NodeIndex {
        if let Some(existing) = self.index.get(address) {
            return *existing;
        }
        let node = self.graph.add_node(Node {
            address: address.to_owned(),
            origin,
        });
        self.index.insert(address.to_owned(), node);
        node
    }

    /// Pass 1: every resource instance of the configuration.
    fn add_resources(&mut self, config: &Config) {
        for resource in &config.resources {
            self.add(&resource.address, Origin::Config);
        }
    }

    /// Pass 2: edges from references and `depends_on`.
    fn add_reference_edges(&mut self, config: &Config) {
        for resource in &config.resources {
            let from = self.index[&resource.address];
            for dep in &resource.deps {
                if let Some(to) = self.index.get(&dep.address) {
                    self.graph.add_edge(
                        from,
                        *to,
                        Edge {
                            span: Some(dep.span),
                            explicit: dep.explicit,
                        },
                    );
                }
            }
        }
    }

    /// Pass 3: resources only in state, with the dependencies recorded when they were applied.
    fn add_orphans(&mut self, state: &State) {
        let orphans: Vec<&String> = state
            .resources
            .keys()
            .filter(|a| !self.index.contains_key(*a))
            .collect();
        for address in &orphans {
            self.add(address, Origin::Orphan);
        }
        for address in orphans {
            let from = self.index[address];
            for dep in &state.resources[address].deps {
                if let Some(to) = self.index.get(dep) {
                    self.graph.add_edge(
                        from,
                        *to,
                        Edge {
                            span: None,
                            explicit: false,
                        },
                    );
                }
            }
        }
    }

    /// Pass 4: no cycles. Each cycle is reported once, starting at its smallest address.
    fn validate(&self) -> Result<(), GraphError> {
        let mut cycles = Vec::new();
        for component in tarjan_scc(&self.graph) {
            let is_cycle =
                component.len() > 1 || self.graph.contains_edge(component[0], component[0]);
            if !is_cycle {
                continue;
            }
            cycles.push(self.cycle_edges(&component));
        }
        cycles.sort_by(|a, b| a.first().map(|e| &e.0).cmp(&b.first().map(|e| &e.0)));
        match cycles.into_iter().next() {
            Some(edges) => Err(GraphError::Cycle { edges }),
            None => Ok(()),
        }
    }

    /// One cycle through a strongly connected component, as (from, to, span) edges.
    fn cycle_edges(&self, component: &[NodeIndex]) -> Vec<(String, String, Span)> {
        let members: BTreeSet<NodeIndex> = component.iter().copied().collect();
        let start = *component
            .iter()
            .min_by(|a, b| self.graph[**a].address.cmp(&self.graph[**b].address))
            .unwrap_or(&component[0]);
        // Walk to the smallest successor inside the component until the start comes back.
        let mut path = vec![start];
        let mut seen = BTreeSet::from([start]);
        let mut edges = Vec::new();
        let mut current = start;
        loop {
            let mut next: Vec<_> = self
                .graph
                .edges_directed(current, Direction::Outgoing)
                .filter(|e| members.contains(&e.target()))
                .collect();
            next.sort_by(|a, b| {
                let key = |e: &petgraph::graph::EdgeReference<'_, Edge>| {
                    (e.target() != start, self.graph[e.target()].address.clone())
                };
                key(a).cmp(&key(b))
            });
            let Some(edge) = next
                .into_iter()
                .find(|e| e.target() == start || !seen.contains(&e.target()))
            else {
                break;
            };
            edges.push((
                self.graph[current].address.clone(),
                self.graph[edge.target()].address.clone(),
                edge.weight().span.unwrap_or_default(),
            ));
            if edge.target() == start {
                break;
            }
            current = edge.target();
            seen.insert(current);
            path.push(current);
        }
        edges
    }

    pub fn node(&self, address: &str) -> Option<NodeIndex> {
        self.index.get(address).copied()
    }

    /// Addresses `address` depends on directly.
    pub fn dependencies(&self, address: &str) -> Vec<&str> {
        self.neighbors(address, Direction::Outgoing)
    }

    /// Addresses that depend on `address` directly.
    pub fn dependents(&self, address: &str) -> Vec<&str> {
        self.neighbors(address, Direction::Incoming)
    }

    fn neighbors(&self, address: &str, direction: Direction) -> Vec<&str> {
        let Some(node) = self.node(address) else {
            return Vec::new();
        };
        let mut out: Vec<&str> = self
            .graph
            .neighbors_directed(node, direction)
            .map(|n| self.graph[n].address.as_str())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Every address reachable from `roots` along dependencies (the roots included).
    pub fn with_dependencies(&self, roots: &[String]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<NodeIndex> = roots.iter().filter_map(|r| self.node(r)).collect();
        while let Some(node) = stack.pop() {
            if out.insert(self.graph[node].address.clone()) {
                stack.extend(self.graph.neighbors_directed(node, Direction::Outgoing));
            }
        }
        out
    }

    /// Addresses in an order where every resource comes after its dependencies; ties by address.
    pub fn apply_order(&self) -> Vec<String> {
        let mut remaining: Vec<usize> = self
            .graph
            .node_indices()
            .map(|n| {
                self.graph
                    .neighbors_directed(n, Direction::Outgoing)
                    .count()
            })
            .collect();
        let mut ready: BTreeSet<(String, NodeIndex)> = self
            .graph
            .node_indices()
            .filter(|n| remaining[n.index()] == 0)
            .map(|n| (self.graph[n].address.clone(), n))
            .collect();
        let mut order = Vec::with_capacity(self.graph.node_count());
        while let Some(first) = ready.pop_first() {
            let (address, node) = first;
            order.push(address);
            for dependent in self.graph.neighbors_directed(node, Direction::Incoming) {
                remaining[dependent.index()] -= 1;
                if remaining[dependent.index()] == 0 {
                    ready.insert((self.graph[dependent].address.clone(), dependent));
                }
            }
        }
        order
    }

    /// The reverse of [`Graph::apply_order`]: dependents before what they depend on.
    pub fn destroy_order(&self) -> Vec<String> {
        let mut order = self.apply_order();
        order.reverse();
        order
    }

    /// Graphviz DOT, optionally limited to addresses under `prefix`.
    pub fn to_dot(&self, prefix: Option<&str>) -> String {
        let keep =
            |n: NodeIndex| prefix.is_none_or(|p| address::matches(p, &self.graph[n].address));
        let mut out = String::from("digraph obp {\n  rankdir = \"RL\";\n  node [shape = box];\n");
        let mut nodes: Vec<NodeIndex> = self.graph.node_indices().filter(|n| keep(*n)).collect();
        nodes.sort_by(|a, b| self.graph[*a].address.cmp(&self.graph[*b].address));
        for node in &nodes {
            let style = match self.graph[*node].origin {
                Origin::Config => "",
                Origin::Orphan => " [style = dashed]",
            };
            let _ = writeln!(out, "  {}{style};", quote(&self.graph[*node].address));
        }
        let mut edges: Vec<(String, String, bool)> = self
            .graph
            .edge_references()
            .filter(|e| keep(e.source()) && keep(e.target()))
            .map(|e| {
                (
                    self.graph[e.source()].address.clone(),
                    self.graph[e.target()].address.clone(),
                    e.weight().explicit,
                )
            })
            .collect();
        edges.sort();
        edges.dedup();
        for (from, to, explicit) in edges {
            let style = if explicit { " [style = bold]" } else { "" };
            let _ = writeln!(out, "  {} -> {}{style};", quote(&from), quote(&to));
        }
        out.push_str("}\n");
        out
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
