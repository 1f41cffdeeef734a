//! The connection to a cluster: a kube-rs [`Client`] built lazily from the provider's
//! configuration (explicit kubeconfig and context, or kube-rs inference), kinds resolved
//! through API discovery into [`ApiResource`]s (cached per run), and kube-rs errors turned into
//! [`ProviderError`]s that say what failed and what to do.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::api::{Api, DynamicObject};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{self, ApiCapabilities, ApiResource, Scope};
use kube::{Client, Config};
use obp_engine::provider::ProviderError;
use tokio::sync::OnceCell;

use super::settings::Settings;

/// A kind as the server serves it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// The client and the discovery cache of one configured provider.
pub struct Cluster {
    client: OnceCell<Client>,
    /// `apiVersion` + `kind` → what discovery found. Kinds not served are not remembered:
    /// a CustomResourceDefinition applied earlier in the same run may add them.
    kinds: Mutex<HashMap<(String, String), Resolved>>,
}

impl Cluster {
    pub fn new() -> Cluster {
        Cluster {
            client: OnceCell::new(),
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// The client, connecting on first use.
    pub async fn client(&self, settings: &Settings) -> Result<Client, ProviderError> {
        self.client
            .get_or_try_init(|| connect(settings))
            .await
            .cloned()
    }

    /// Resolves `apiVersion`/`kind` through discovery; `None` when the server does not serve
    /// the kind (such as a custom resource whose CRD is not installed).
    pub async fn resolve(
        &self,
        client: &Client,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<Resolved>, ProviderError> {
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(known) = self.lock().get(&key) {
            return Ok(Some(known.clone()));
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let resolved = match discovery::pinned_kind(client, &gvk).await {
            Ok((resource, capabilities)) => Some(resolved(resource, &capabilities)),
            Err(kube::Error::Discovery(_)) => None,
            Err(kube::Error::Api(status)) if status.code == 404 => None,
            Err(error) => {
                return Err(remote(
                    &format!("discovering {kind} in {api_version}"),
                    error,
                ))
            }
        };
        if let Some(resolved) = &resolved {
            self.lock().insert(key, resolved.clone());
        }
        Ok(resolved)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Resolved>> {
        self.kinds.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn resolved(resource: ApiResource, capabilities: &ApiCapabilities) -> Resolved {
    Resolved {
        resource,
        namespaced: capabilities.scope == Scope::Namespaced,
    }
}

/// An API handle for objects of a resolved kind (in `namespace` when namespaced).
pub fn api(client: Client, kind: &Resolved, namespace: Option<&str>) -> Api<DynamicObject> {
    match (kind.namespaced, namespace) {
        (true, Some(namespace)) => Api::namespaced_with(client, namespace, &kind.resource),
        (true, None) => Api::default_namespaced_with(client, &kind.resource),
        (false, _) => Api::all_with(client, &kind.resource),
    }
}

async fn connect(settings: &Settings) -> Result<Client, ProviderError> {
    let options = KubeConfigOptions {
        context: settings.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match (&settings.kubeconfig, &settings.context) {
        (Some(path), _) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| {
                ProviderError::Config(format!("cannot read kubeconfig {}: {e}", path.display()))
            })?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| {
                    ProviderError::Config(format!(
                        "cannot use kubeconfig {}{}: {e}",
                        path.display(),
                        context_words(settings)
                    ))
                })?
        }
        (None, Some(_)) => Config::from_kubeconfig(&options).await.map_err(|e| {
            ProviderError::Config(format!(
                "cannot use the default kubeconfig{}: {e}",
                context_words(settings)
            ))
        })?,
        (None, None) => Config::infer().await.map_err(|e| {
            ProviderError::Config(format!(
                "no cluster configured: set `kubeconfig`, or KUBECONFIG, or run in a cluster ({e})"
            ))
        })?,
    };
    Client::try_from(config)
        .map_err(|e| ProviderError::Config(format!("cannot build a Kubernetes client: {e}")))
}

fn context_words(settings: &Settings) -> String {
    settings
        .context
        .as_ref()
        .map(|c| format!(" with context `{c}`"))
        .unwrap_or_default()
}

/// Whether an error is the server's 404.
pub fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

/// A kube-rs error as a provider error, prefixed with what was being done.
pub fn remote(doing: &str, error: kube::Error) -> ProviderError {
    match error {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                String::new()
            } else {
                format!("{}, ", status.reason)
            };
            ProviderError::Remote(format!(
                "{doing}: {} ({reason}HTTP {})",
                shorten_values(status.message.trim()),
                status.code
            ))
        }
        other => ProviderError::Remote(format!("{doing}: {other}")),
    }
}

/// Longest rejected value quoted in full in an error; longer ones become `…`.
const MAX_VALUE: usize = 80;

/// The server's message with long `Invalid value: …` parts elided: on an immutable field the
/// API server quotes the whole old object (a Job's pod template runs to kilobytes), which
/// would bury the field name and the reason.
pub fn shorten_values(message: &str) -> String {
    const MARK: &str = "Invalid value: ";
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find(MARK) {
        let (before, after) = rest.split_at(at + MARK.len());
        out.push_str(before);
        let mut values = serde_json::Deserializer::from_str(after).into_iter::<serde_json::Value>();
        let length = match values.next() {
            Some(Ok(_)) => values.byte_offset(),
            _ => 0,
        };
        if length > MAX_VALUE {
            out.push('…');
            rest = &after[length..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A server-side apply conflict (409 from other field managers) in words: which fields, which
/// managers, and how to take them over.
pub fn conflict(what: &str, status: &kube::core::Status, field_manager: &str) -> ProviderError {
    let mut by_manager: Vec<(String, Vec<String>)> = Vec::new();
    for cause in status
        .details
        .iter()
        .flat_map(|d| &d.causes)
        .filter(|c| c.reason == "FieldManagerConflict")
    {
        let manager = cause
            .message
            .split('"')
            .nth(1)
            .unwrap_or("another manager")
            .to_owned();
        match by_manager.iter_mut().find(|(m, _)| *m == manager) {
            Some((_, fields)) => fields.push(cause.field.clone()),
            None => by_manager.push((manager, vec![cause.field.clone()])),
        }
    }
    let owners = if by_manager.is_empty() {
        status.message.trim().to_owned()
    } else {
        by_manager
            .iter()
            .map(|(manager, fields)| {
                let fields: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
                format!("{} owned by field manager \"{manager}\"", fields.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    ProviderError::Remote(format!(
        "server-side apply of {what} as field manager \"{field_manager}\" conflicts with other field managers: {owners}. \
         Change the value where it is managed, or set `force_conflicts = true` on the kubernetes provider if obp should take these fields over"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_invalid_values_are_elided() {
        // As a real kube-apiserver answers a changed Job template (the quoted object abridged
        // here; it is kilobytes long).
        let template = format!(
            r#"{{"labels":{{"job-name":"migrate"}},"Spec":{{"Containers":[{{"Name":"m","Image":"odoo:18","Args":null}}],"Filler":"{}"}}}}"#,
            "x".repeat(200)
        );
        let message = format!(
            "Job.batch \"migrate\" is invalid: spec.template: Invalid value: {template}: field is immutable"
        );
        assert_eq!(
            shorten_values(&message),
            "Job.batch \"migrate\" is invalid: spec.template: Invalid value: …: field is immutable"
        );
        // Short values stay: they are what the user has to fix.
        let name = "Deployment.apps \"Web\" is invalid: metadata.name: Invalid value: \"Web\": a lowercase RFC 1123 subdomain must consist of …, [spec.replicas: Invalid value: -1: must be greater than or equal to 0]";
        assert_eq!(shorten_values(name), name);
        assert_eq!(
            shorten_values("Invalid value: {unbalanced"),
            "Invalid value: {unbalanced"
        );
    }
}
