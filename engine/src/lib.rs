//! The obp engine: dependency graph, state, plan and apply over the evaluated configuration.
//!
//! It knows providers only through the [`provider::Provider`] trait and knows nothing of Odoo.
//! Entry points: [`graph::Graph::build`], [`plan::plan`], [`apply::apply`], and the state
//! [`state::Backend`]s.

pub mod codec;
pub mod errors;
pub mod provider;
pub mod state;

pub use obp_lang::eval::Config;
