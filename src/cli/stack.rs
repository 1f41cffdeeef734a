//! Loading a stack for the engine commands: check and evaluate it, configure its providers
//! and its state backend.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use obp_engine::provider::Providers;
use obp_engine::state::local::LocalBackend;
use obp_engine::state::{Backend, LockGuard, LockInfo, State};
use obp_lang::{Config, Diagnostic, SourceMap};

use super::errors::CliError;
use super::output::{self, Color};
use super::StackArgs;

/// A loaded stack, ready to plan.
pub struct Stack {
    pub sources: SourceMap,
    pub config: Config,
    pub providers: Providers,
    pub backend: Arc<dyn Backend>,
    pub color: Color,
    /// The environment the stack runs as: its block's `environment`, else the value given
    /// to an `environment` param (`--var environment=staging`); for the audit trail.
    pub environment: Option<String>,
}

/// Why loading stopped (the diagnostics were printed).
pub struct Failed;

/// Whether loading checks the stack's policies: when moving towards the configuration
/// (plan, apply), not when destroying it or reading state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policies {
    Check,
    Skip,
}

impl Policies {
    /// Checked when planning towards the configuration, skipped when destroying it.
    pub fn unless_destroying(destroy: bool) -> Policies {
        if destroy {
            Policies::Skip
        } else {
            Policies::Check
        }
    }
}

impl Stack {
    /// Checks, evaluates and configures the stack; what stops it is printed.
    pub fn load(args: &StackArgs, color: Color, policies: Policies) -> Result<Stack, Failed> {
        let path = args.path();
        let mut options = args.options().map_err(|error| {
            output::fail(error, color);
            Failed
        })?;
        if policies == Policies::Skip {
            options.eval.policies = obp_lang::eval::PolicyMode::Skip;
        }
        let checked = obp_lang::check_stack(&path, &options);
        output::diagnostics(&checked.diagnostics, &checked.sources, color);
        if checked.has_errors() {
            return Err(Failed);
        }
        let Some(config) = checked.config else {
            let error = CliError::NotAStack {
                path: path.display().to_string(),
                what: "only a stack has resources to plan, apply or read state for",
            };
            output::fail(error, color);
            return Err(Failed);
        };
        let dir = stack_dir(&path);
        let providers = match obp_providers::configure(&config, &dir) {
            Ok(providers) => providers,
            Err(diagnostics) => {
                output::diagnostics(&diagnostics, &checked.sources, color);
                return Err(Failed);
            }
        };
        let backend = match backend(&config, &dir) {
            Ok(backend) => backend,
            Err(diagnostic) => {
                output::diagnostics(&[diagnostic], &checked.sources, color);
                return Err(Failed);
            }
        };
        let environment = config
            .stack
            .as_ref()
            .and_then(|s| s.attrs.get("environment"))
            .and_then(|v| v.as_str())
            .or_else(|| {
                options
                    .eval
                    .vars
                    .get("environment")
                    .and_then(|v| v.as_str())
            })
            .map(str::to_owned);
        Ok(Stack {
            sources: checked.sources,
            config,
            providers,
            backend,
            color,
            environment,
        })
    }

    /// Reports every dependency cycle of the configuration at once (the engine stops at the
    /// first it meets).
    pub fn acyclic(&self) -> Result<(), Failed> {
        let cycles: Vec<Diagnostic> = obp_engine::graph::cycles(&self.config)
            .into_iter()
            .map(obp_lang::diagnostics::IntoDiagnostic::into_diagnostic)
            .collect();
        if cycles.is_empty() {
            Ok(())
        } else {
            self.report(&cycles);
            Err(Failed)
        }
    }

    pub fn report(&self, diagnostics: &[Diagnostic]) {
        output::diagnostics(diagnostics, &self.sources, self.color);
    }

    /// Takes the state lock or prints who holds it.
    pub async fn lock(&self, operation: &str) -> Result<Box<dyn LockGuard>, Failed> {
        self.backend
            .lock(LockInfo::new(operation))
            .await
            .map_err(|e| self.fail(e))
    }

    pub async fn state(&self) -> Result<State, Failed> {
        match self.backend.read().await {
            Ok(state) => Ok(state.unwrap_or_default()),
            Err(e) => Err(self.fail(e)),
        }
    }

    pub fn fail(&self, error: impl obp_lang::diagnostics::IntoDiagnostic) -> Failed {
        self.report(&[error.into_diagnostic()]);
        Failed
    }
}

/// The directory a stack path stands for (a file's parent).
pub fn stack_dir(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }
}

/// `backend postgres { url = secret("env:OBP_STATE_URL") schema = "obp" workspace = "prod" }`,
/// with optional `sslmode` and `sslrootcert`. The URL is resolved from the environment here
/// (a secret reference, or a plain string) and never printed.
fn postgres_backend(
    attrs: &indexmap::IndexMap<String, obp_lang::value::Value>,
) -> Result<Arc<dyn Backend>, String> {
    use obp_engine::pg::{SslMode, Target};
    use obp_engine::provider::{EnvSecrets, Secrets};
    use obp_engine::state::postgres::PostgresBackend;
    use obp_lang::value::Value;

    const KNOWN: &[&str] = &["url", "schema", "workspace", "sslmode", "sslrootcert"];
    if let Some(key) = attrs.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(format!(
            "unknown option `{key}` (known: {})",
            KNOWN.join(", ")
        ));
    }
    let text = |name: &str, default: Option<&str>| -> Result<Option<String>, String> {
        match attrs.get(name) {
            None | Some(Value::Null) => Ok(default.map(str::to_owned)),
            Some(Value::Str(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(format!("`{name}` must be a non-empty string")),
        }
    };
    let url = match attrs.get("url") {
        Some(Value::Secret(secret)) => EnvSecrets.resolve(&secret.path).map_err(|_| {
            format!(
                "`url`: secret `{}` is not set (environment variable `{}`)",
                secret.path,
                EnvSecrets::variable(&secret.path)
            )
        })?,
        Some(Value::Str(url)) if !url.is_empty() => url.clone(),
        None => {
            return Err(
                "`url` is required, such as `url = secret(\"env:OBP_STATE_URL\")`".to_owned(),
            )
        }
        Some(_) => return Err("`url` must be a secret reference or a string".to_owned()),
    };
    let sslmode = match text("sslmode", None)? {
        None => None,
        Some(mode) => Some(SslMode::parse(&mode).ok_or_else(|| {
            format!(
                "unknown sslmode `{mode}` (known: {})",
                SslMode::NAMES.join(", ")
            )
        })?),
    };
    let root = text("sslrootcert", None)?.map(PathBuf::from);
    let target =
        Target::parse(&url, sslmode, root.as_deref()).map_err(|e| format!("`url`: {e}"))?;
    let schema = text("schema", Some("obp"))?.unwrap_or_default();
    let workspace = text("workspace", Some("default"))?.unwrap_or_default();
    Ok(Arc::new(PostgresBackend::new(target, &schema, &workspace)?))
}

/// The state backend the stack declares (`backend local { path = … }`), else a local file
/// `obp.state.json` in the stack directory.
fn backend(config: &Config, dir: &Path) -> Result<Arc<dyn Backend>, Diagnostic> {
    let Some(declared) = &config.backend else {
        return Ok(Arc::new(LocalBackend::new(dir.join("obp.state.json"))));
    };
    let config_error = |message: String| {
        obp_lang::diagnostics::IntoDiagnostic::into_diagnostic(
            obp_engine::errors::ApplyError::ProviderConfig {
                name: format!("backend {}", declared.kind),
                message,
                span: Some(declared.span),
            },
        )
    };
    match declared.kind.as_str() {
        "local" => {
            let path = match declared.attrs.get("path") {
                None => "obp.state.json".to_owned(),
                Some(obp_lang::value::Value::Str(path)) if !path.is_empty() => path.clone(),
                Some(_) => {
                    return Err(config_error("`path` must be a non-empty string".to_owned()))
                }
            };
            Ok(Arc::new(LocalBackend::new(dir.join(path))))
        }
        "postgres" => postgres_backend(&declared.attrs).map_err(config_error),
        other => Err(config_error(format!(
            "unknown backend `{other}` (known: local, postgres)"
        ))),
    }
}
