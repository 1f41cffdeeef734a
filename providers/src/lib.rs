//! obp's providers behind the engine's `Provider` trait: the GitOps directory (the embedded
//! default), a live Kubernetes cluster (sharing the Kubernetes kinds in [`kinds`] and their
//! rendering into manifests in [`manifest`]), PostgreSQL (roles, databases, extensions, schemas,
//! grants), Redis (ACL users), DNS (PowerDNS zones and records) and S3-compatible object
//! storage (buckets, policies, objects).
//!
//! [`configure`] turns the stack's `provider` blocks into configured providers.

pub mod api_rules;
pub mod attrs;
pub mod dns;
pub mod external_secret;
pub mod gitops;
pub mod impact;
pub mod kinds;
pub mod kubernetes;
pub mod manifest;
pub mod postgres;
pub mod redis;
pub mod reference;
pub mod s3;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use obp_engine::codec;
use obp_engine::errors::ApplyError;
use obp_engine::provider::Providers;
use obp_lang::diagnostics::{suggest, Diagnostic, IntoDiagnostic};
use obp_lang::Config;
use serde_json::Value as Json;

/// Provider kinds this build knows.
pub const KINDS: &[&str] = &["dns", "gitops", "kubernetes", "postgres", "redis", "s3"];

/// Configures the providers a stack declares; Kubernetes objects and plain files go to a
/// GitOps directory `out/` beside the stack when no provider is declared for them.
pub fn configure(config: &Config, stack_dir: &Path) -> Result<Providers, Vec<Diagnostic>> {
    let mut providers = Providers::new();
    let mut errors = Vec::new();
    let state = local_state_file(config, stack_dir);
    let open_gitops = |attrs: &BTreeMap<String, Json>| -> Result<gitops::GitOps, obp_engine::provider::ProviderError> {
        let provider = gitops::GitOps::new(stack_dir, attrs)?;
        if let Some(state) = &state {
            provider.check_state_outside(state)?;
        }
        Ok(provider)
    };
    for declared in &config.providers {
        let attrs = codec::to_json_map(&declared.attrs);
        if let Some(dependency) = declared.deps.first() {
            errors.push(
                ApplyError::ProviderDependsOnResource {
                    name: declared.name().to_owned(),
                    dependency: dependency.clone(),
                    span: declared.span,
                }
                .into_diagnostic(),
            );
            continue;
        }
        let result =
            match declared.kind.as_str() {
                "gitops" => open_gitops(&attrs)
                    .map(|p| Arc::new(p) as Arc<dyn obp_engine::provider::Provider>),
                "dns" => dns::Dns::new(stack_dir, &attrs)
                    .map(|p| Arc::new(p) as Arc<dyn obp_engine::provider::Provider>),
                "kubernetes" => kubernetes::Kubernetes::new(stack_dir, &attrs)
                    .map(|p| Arc::new(p) as Arc<dyn obp_engine::provider::Provider>),
                "postgres" => postgres::Postgres::new(&attrs)
                    .map(|p| Arc::new(p) as Arc<dyn obp_engine::provider::Provider>),
                "redis" => redis::Redis::new(&attrs)
                    .map(|p| Arc::new(p) as Arc<dyn obp_engine::provider::Provider>),
                "s3" => s3::S3::new(&attrs)
                    .map(|p| Arc::new(p) as Arc<dyn obp_engine::provider::Provider>),
                other => {
                    errors.push(
                        ApplyError::ProviderConfig {
                            name: declared.name().to_owned(),
                            message: format!(
                                "unknown provider kind `{other}` (known: {})",
                                KINDS.join(", ")
                            ),
                            span: Some(declared.span),
                        }
                        .into_diagnostic()
                        .maybe_help(suggest::did_you_mean(other, KINDS.iter().copied())),
                    );
                    continue;
                }
            };
        match result {
            Ok(provider) => providers.insert(declared.name(), provider),
            Err(error) => errors.push(config_error(declared.name(), error, Some(declared.span))),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if providers.schema("k8s.deployment").is_none() {
        let default =
            open_gitops(&BTreeMap::new()).map_err(|e| vec![config_error("gitops", e, None)])?;
        providers.insert("gitops", Arc::new(default));
    }
    Ok(providers)
}

/// The diagnostic for a provider that cannot be configured: its own code when it refused with
/// one (such as an output directory holding the state), else E0703.
fn config_error(
    name: &str,
    error: obp_engine::provider::ProviderError,
    span: Option<obp_lang::span::Span>,
) -> Diagnostic {
    match error {
        obp_engine::provider::ProviderError::Rejected { code, ref help, .. } => {
            ApplyError::Rejected {
                subject: format!("provider `{name}`"),
                code,
                help: help.clone(),
                message: error.to_string(),
                span,
            }
        }
        other => ApplyError::ProviderConfig {
            name: name.to_owned(),
            message: other.to_string(),
            span,
        },
    }
    .into_diagnostic()
}

/// The state file of a stack with local state: `obp.state.json` in the stack directory, or
/// `backend local { path = … }` relative to it (as the CLI opens it); `None` for other backends.
/// Its journal, backup, lock and temp file sit beside it.
pub fn local_state_file(config: &Config, stack_dir: &Path) -> Option<std::path::PathBuf> {
    match &config.backend {
        None => Some(stack_dir.join("obp.state.json")),
        Some(declared) if declared.kind == "local" => match declared.attrs.get("path") {
            None => Some(stack_dir.join("obp.state.json")),
            Some(obp_lang::value::Value::Str(path)) if !path.is_empty() => {
                Some(stack_dir.join(path))
            }
            Some(_) => None,
        },
        Some(_) => None,
    }
}
