//! The Kubernetes provider's configuration: the options of a `provider kubernetes { … }`
//! block, checked when the stack is loaded (unknown options and bad values are errors before
//! anything talks to a cluster).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::api::PropagationPolicy;
use obp_engine::provider::ProviderError;
use serde_json::Value as Json;

use crate::attrs::check_options;
use crate::manifest::{bool_option, text_option, SecretStore};

/// Options a `provider kubernetes` block accepts (besides [`SecretStore::OPTIONS`]).
pub const OPTIONS: &[&str] = &[
    "kubeconfig",
    "context",
    "field_manager",
    "force_conflicts",
    "wait",
    "wait_timeout",
    "propagation_policy",
];

/// A configured Kubernetes provider.
#[derive(Debug, Clone)]
pub struct Settings {
    /// An explicit kubeconfig file; `None` infers (`KUBECONFIG`, `~/.kube/config`, in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// A kubeconfig context other than the current one.
    pub context: Option<String>,
    /// The server-side apply field manager.
    pub field_manager: String,
    /// Take over fields other managers own instead of failing on conflicts.
    pub force_conflicts: bool,
    /// Wait for rollouts, Jobs, claims and deletions to finish.
    pub wait: bool,
    pub wait_timeout: Duration,
    pub propagation_policy: PropagationPolicy,
    pub store: SecretStore,
}

impl Settings {
    /// Reads the options; a relative `kubeconfig` is relative to the stack directory.
    pub fn new(
        stack_dir: &Path,
        attrs: &BTreeMap<String, Json>,
    ) -> Result<Settings, ProviderError> {
        let mut known = OPTIONS.to_vec();
        known.extend_from_slice(SecretStore::OPTIONS);
        check_options(attrs, &known)?;
        let optional = |name: &str| -> Result<Option<String>, ProviderError> {
            attrs
                .contains_key(name)
                .then(|| text_option(attrs, name, ""))
                .transpose()
        };
        let kubeconfig = optional("kubeconfig")?.map(|path| stack_dir.join(path));
        let wait_timeout = text_option(attrs, "wait_timeout", "5m")?;
        let wait_timeout = parse_duration(&wait_timeout).ok_or_else(|| {
            ProviderError::Config(format!(
                "`wait_timeout` must be a duration such as \"90s\", \"5m\" or \"1h30m\", found \"{wait_timeout}\""
            ))
        })?;
        let propagation_policy = match text_option(attrs, "propagation_policy", "Foreground")?
            .as_str()
        {
            "Foreground" => PropagationPolicy::Foreground,
            "Background" => PropagationPolicy::Background,
            "Orphan" => PropagationPolicy::Orphan,
            other => {
                return Err(ProviderError::Config(format!(
                    "`propagation_policy` must be \"Foreground\", \"Background\" or \"Orphan\", found \"{other}\""
                )))
            }
        };
        Ok(Settings {
            kubeconfig,
            context: optional("context")?,
            field_manager: text_option(attrs, "field_manager", "obp")?,
            force_conflicts: bool_option(attrs, "force_conflicts", false)?,
            wait: bool_option(attrs, "wait", true)?,
            wait_timeout,
            propagation_policy,
            store: SecretStore::from_options(attrs)?,
        })
    }
}

/// Parses `"90s"`, `"5m"`, `"1h30m"`, `"500ms"`: one or more number–unit pairs, units `ms`,
/// `s`, `m`, `h`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let part = match &rest[..unit] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60)?),
            "h" => Duration::from_secs(number.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(part)?;
        rest = &rest[unit..];
    }
    Some(total)
}

/// A duration as written in configuration (`5m`, `1m30s`, `250ms`).
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if !millis.is_multiple_of(1000) {
        return format!("{millis}ms");
    }
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(attrs: Json) -> Result<Settings, ProviderError> {
        let attrs: BTreeMap<String, Json> = serde_json::from_value(attrs).unwrap();
        Settings::new(Path::new("/stack"), &attrs)
    }

    #[test]
    fn defaults_and_values() {
        let s = settings(json!({})).unwrap();
        assert_eq!(s.field_manager, "obp");
        assert!(!s.force_conflicts && s.wait);
        assert_eq!(s.wait_timeout, Duration::from_secs(300));
        assert_eq!(s.propagation_policy, PropagationPolicy::Foreground);
        assert_eq!(s.kubeconfig, None);
        assert_eq!(s.store.name, "obp-secrets");
        let s = settings(json!({"kubeconfig": "kube/config", "context": "prod", "propagation_policy": "Orphan", "wait_timeout": "1h30m", "secret_store": "vault"})).unwrap();
        assert_eq!(s.kubeconfig, Some(PathBuf::from("/stack/kube/config")));
        assert_eq!(s.context.as_deref(), Some("prod"));
        assert_eq!(s.propagation_policy, PropagationPolicy::Orphan);
        assert_eq!(s.wait_timeout, Duration::from_secs(5400));
        assert_eq!(s.store.name, "vault");
    }

    #[test]
    fn bad_options_are_clear_errors() {
        let cases = [
            (json!({"namespace": "x"}), "unknown option `namespace` (known: kubeconfig, context, field_manager, force_conflicts, wait, wait_timeout, propagation_policy, secret_store, secret_store_kind, refresh_interval)"),
            (json!({"wait_timeout": "5 minutes"}), "`wait_timeout` must be a duration such as \"90s\", \"5m\" or \"1h30m\", found \"5 minutes\""),
            (json!({"propagation_policy": "foreground"}), "`propagation_policy` must be \"Foreground\", \"Background\" or \"Orphan\", found \"foreground\""),
            (json!({"force_conflicts": "yes"}), "`force_conflicts` must be true or false"),
            (json!({"context": ""}), "`context` must be a non-empty string"),
        ];
        for (attrs, message) in cases {
            let error = settings(attrs).unwrap_err();
            assert_eq!(error, ProviderError::Config(message.to_owned()));
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m30s"), Some(Duration::from_secs(150)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        for bad in ["", "5", "m", "5x", "-1s", "1.5m"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(150)), "2m30s");
        assert_eq!(format_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h");
    }
}
