//! The obp engine: dependency graph, state, plan and apply over the evaluated configuration.
//!
//! It knows providers only through the [`provider::Provider`] trait and knows nothing of Odoo.
//! Entry points: [`graph::Graph::build`], [`plan::plan`], [`apply::apply`], the state
//! [`state::Backend`]s and [`render`] for plan output.

pub mod address;
pub mod apply;
pub mod audit;
pub mod claims;
pub mod codec;
pub mod errors;
pub mod graph;
pub mod order;
pub mod pg;
pub mod plan;
pub mod provider;
pub mod render;
pub mod resolve;
pub mod saved;
pub mod state;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use obp_lang::eval::Config;
