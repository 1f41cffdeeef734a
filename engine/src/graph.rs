//! The dependency graph, built by small passes: resources from the configuration, their
//! reference and `depends_on` edges, orphans from state with their recorded edges, then
//! validation (every cycle reported with the source span of each edge: one cycle path per
//! strongly connected component, see [`Graph::cycles`]).
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
    /// Builds and validates the graph of `config` plus the orphans in `state`; on cycles,
    /// the first of [`Graph::cycles`] (use [`cycles`] to report them all).
    pub fn build(config: &Config, state: Option<&State>) -> Result<Graph, GraphError> {
        let graph = Graph::assemble(config, state);
        match graph.cycles().into_iter().next() {
            Some(cycle) => Err(cycle),
            None => Ok(graph),
        }
    }

    /// The graph of `config` plus the orphans in `state`, not validated.
    fn assemble(config: &Config, state: Option<&State>) -> Graph {
        let mut graph = Graph {
            graph: DiGraph::with_capacity(config.resources.len(), config.resources.len()),
            index: HashMap::with_capacity(config.resources.len()),
        };
        graph.add_resources(config);
        graph.add_reference_edges(config);
        if let Some(state) = state {
            graph.add_orphans(state);
        }
        graph
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

    /// Pass 4: every cycle. Each strongly connected component that is a cycle is reported
    /// once, as one cycle through it: the shortest path from its smallest address back to
    /// that address (listing every elementary cycle could take exponential time; breaking
    /// the reported one shows the next on the following run). Sorted by that address.
    pub fn cycles(&self) -> Vec<GraphError> {
        let mut cycles = Vec::new();
        for component in tarjan_scc(&self.graph) {
            let is_cycle =
                component.len() > 1 || self.graph.contains_edge(component[0], component[0]);
            if is_cycle {
                cycles.push(self.cycle_edges(&component));
            }
        }
        cycles.sort_by(|a, b| a.first().map(|e| &e.0).cmp(&b.first().map(|e| &e.0)));
        cycles
            .into_iter()
            .map(|edges| GraphError::Cycle { edges })
            .collect()
    }

    /// One cycle through a strongly connected component, as (from, to, span) edges: a
    /// breadth-first search from the smallest address back to it, successors in address
    /// order, so the path is the shortest and the same on every run.
    fn cycle_edges(&self, component: &[NodeIndex]) -> Vec<(String, String, Span)> {
        let members: BTreeSet<NodeIndex> = component.iter().copied().collect();
        let address = |n: NodeIndex| self.graph[n].address.as_str();
        let Some(start) = component
            .iter()
            .copied()
            .min_by(|a, b| address(*a).cmp(address(*b)))
        else {
            return Vec::new();
        };
        // How each node was first reached: (previous node, span of the edge).
        let mut reached: HashMap<NodeIndex, (NodeIndex, Span)> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut closing = None;
        'search: while let Some(current) = queue.pop_front() {
            let mut next: Vec<_> = self
                .graph
                .edges_directed(current, Direction::Outgoing)
                .filter(|e| members.contains(&e.target()))
                .map(|e| (e.target(), e.weight().span.unwrap_or_default()))
                .collect();
            next.sort_by(|a, b| (address(a.0), a.1).cmp(&(address(b.0), b.1)));
            for (target, span) in next {
                if target == start {
                    closing = Some((current, span));
                    break 'search;
                }
                if let std::collections::hash_map::Entry::Vacant(entry) = reached.entry(target) {
                    entry.insert((current, span));
                    queue.push_back(target);
                }
            }
        }
        let Some((last, span)) = closing else {
            return Vec::new();
        };
        let mut edges = vec![(address(last).to_owned(), address(start).to_owned(), span)];
        let mut node = last;
        while node != start {
            let Some(&(previous, span)) = reached.get(&node) else {
                break;
            };
            edges.push((address(previous).to_owned(), address(node).to_owned(), span));
            node = previous;
        }
        edges.reverse();
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

/// Every dependency cycle among the resources of `config`, for `obp validate` (which has no
/// state) and before planning: see [`Graph::cycles`].
pub fn cycles(config: &Config) -> Vec<GraphError> {
    Graph::assemble(config, None).cycles()
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
