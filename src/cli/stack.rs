//! Loading a stack for the engine commands: check and evaluate it, configure its providers
//! and its state backend.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use obp_engine::provider::Providers;
use obp_engine::state::local::LocalBackend;
use obp_engine::state::{Backend, LockGuard, LockInfo, State};
use obp_lang::{Config, Diagnostic, SourceMap};

use super::output::{self, Color};
use super::StackArgs;

/// A loaded stack, ready to plan.
pub struct Stack {
    pub sources: SourceMap,
    pub config: Config,
    pub providers: Providers,
    pub backend: Arc<dyn Backend>,
    pub color: Color,
}

/// Why loading stopped (the diagnostics were printed).
pub struct Failed;

impl Stack {
    pub fn load(args: &StackArgs, color: Color) -> anyhow::Result<Result<Stack, Failed>> {
        let path = args.path();
        let options = args.options()?;
        let checked = obp_lang::check_stack(&path, &options);
        output::diagnostics(&checked.diagnostics, &checked.sources, color);
        if checked.has_errors() {
            return Ok(Err(Failed));
        }
        let Some(config) = checked.config else {
            output::error(
                "this is a module, not a stack: plan a stack that uses it",
                color,
            );
            return Ok(Err(Failed));
        };
        let dir = stack_dir(&path);
        let providers = match obp_providers::configure(&config, &dir) {
            Ok(providers) => providers,
            Err(diagnostics) => {
                output::diagnostics(&diagnostics, &checked.sources, color);
                return Ok(Err(Failed));
            }
        };
        let backend = match backend(&config, &dir) {
            Ok(backend) => backend,
            Err(diagnostic) => {
                output::diagnostics(&[diagnostic], &checked.sources, color);
                return Ok(Err(Failed));
            }
        };
        Ok(Ok(Stack {
            sources: checked.sources,
            config,
            providers,
            backend,
            color,
        }))
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
        other => Err(config_error(format!(
            "unknown backend `{other}` (known: local)"
        ))),
    }
}
