//! obp ("Odoo BluePrint") as a library: the command line of the `obp` binary, which only
//! calls [`main`]. The work itself lives in the `obp-lang`, `obp-engine` and `obp-providers`
//! crates; this crate parses arguments, runs one command and presents its results.

mod cli;

pub use cli::main;
