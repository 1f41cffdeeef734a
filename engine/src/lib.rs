//! obp engine: resource addresses, dependency graph, state, plan and apply.
//!
//! Knows providers only through the `Provider` trait; knows nothing of Odoo.
//! This crate is filled in by the engine-core issue; today it only re-exports the
//! evaluated configuration it will consume.

pub use obp_lang::eval::Config;
