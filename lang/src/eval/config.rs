//! The evaluated configuration: what the engine consumes. Deterministic: the same input
//! gives byte-identical JSON, and [`Config::hash`] fingerprints it for saved plans.

use std::sync::Arc;

use indexmap::IndexMap;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::span::Span;
use crate::value::Value;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Config {
    pub stack: Option<StackInfo>,
    pub providers: Vec<ProviderConfig>,
    pub backend: Option<BackendConfig>,
    /// Every resource instance, modules depth-first in declaration order.
    pub resources: Vec<Instance>,
    /// The stack's outputs.
    pub outputs: IndexMap<String, Value>,
    pub moved: Vec<Moved>,
    pub policies: Vec<PolicyInfo>,
    /// What the policies said about the resources (left out of the hash: overrides change
    /// findings, not the configuration).
    #[serde(skip)]
    pub findings: Vec<PolicyFinding>,
}

impl Config {
    /// SHA-256 (hex) of the configuration's JSON form.
    pub fn hash(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        hex(&Sha256::digest(json.as_bytes()))
    }

    /// Pretty JSON, for snapshots and `obp show`.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn resource(&self, address: &str) -> Option<&Instance> {
        self.resources.iter().find(|r| r.address == address)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `stack NAME { … }`
#[derive(Debug, Clone, Serialize)]
pub struct StackInfo {
    pub name: String,
    pub attrs: IndexMap<String, Value>,
    #[serde(skip)]
    pub span: Span,
}

/// `provider KIND [as ALIAS] { … }`
#[derive(Debug, Clone, Serialize)]
pub struct ProviderConfig {
    pub kind: String,
    pub alias: Option<String>,
    pub attrs: IndexMap<String, Value>,
    /// Resources this configuration reads (it can only be used after they exist).
    pub deps: Vec<String>,
    #[serde(skip)]
    pub span: Span,
}

impl ProviderConfig {
    /// The name resources use to select it: the alias, else the kind.
    pub fn name(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.kind)
    }
}

/// `backend KIND { … }`
#[derive(Debug, Clone, Serialize)]
pub struct BackendConfig {
    pub kind: String,
    pub attrs: IndexMap<String, Value>,
    #[serde(skip)]
    pub span: Span,
}

/// One resource instance.
#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    /// `t["acme"].postgres.database.db`
    pub address: String,
    /// The module instance part of the address (`t["acme"]`), empty at the stack's root.
    pub module: String,
    /// `postgres.database`
    #[serde(rename = "type")]
    pub rtype: String,
    pub name: String,
    /// The `for each` key, if any.
    pub key: Option<String>,
    /// The provider configuration it uses (`provider = "…"`, else the type's prefix).
    pub provider: String,
    pub attrs: IndexMap<String, Value>,
    /// Other instances it must follow, sorted by address.
    pub deps: Vec<Dependency>,
    pub lifecycle: Lifecycle,
    /// The `resource` declaration.
    #[serde(skip)]
    pub span: Span,
    /// Where each attribute is written, for diagnostics from later phases; one map per
    /// declaration, shared by its instances.
    #[serde(skip)]
    pub attr_spans: Arc<IndexMap<String, Span>>,
}

/// An edge of the dependency graph.
#[derive(Debug, Clone, Serialize)]
pub struct Dependency {
    pub address: String,
    /// From `depends_on` rather than from a reference.
    pub explicit: bool,
    /// The reference or `depends_on` entry that created it.
    #[serde(skip)]
    pub span: Span,
}

/// `lifecycle { … }`
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Lifecycle {
    pub prevent_destroy: bool,
    /// What to tell someone whose plan would destroy the resource: a blueprint author knows
    /// which of their params lifts the protection; the engine does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prevent_destroy_help: Option<String>,
    pub create_before_destroy: bool,
    pub ignore_changes: Vec<String>,
}

/// `moved { from = "…" to = "…" }`
#[derive(Debug, Clone, Serialize)]
pub struct Moved {
    pub from: String,
    pub to: String,
    #[serde(skip)]
    pub span: Span,
}

/// A policy found in the stack or a module (evaluated by governance, not here).
#[derive(Debug, Clone, Serialize)]
pub struct PolicyInfo {
    pub name: String,
    pub level: String,
    pub module: String,
    pub rules: usize,
    #[serde(skip)]
    pub span: Span,
}

/// One policy rule that matched one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PolicyFinding {
    /// Qualified policy name, such as `guard.odoo_workloads`.
    pub policy: String,
    /// `hard`, `soft` or `advisory`.
    pub level: String,
    /// `deny` or `warn`.
    pub effect: String,
    pub address: String,
    pub message: String,
    /// A `soft` denial allowed by `--override-policy`.
    pub overridden: bool,
    /// Whether it stops the plan.
    pub blocking: bool,
}
