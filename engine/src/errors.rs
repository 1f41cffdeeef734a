//! Typed engine errors: graph (E05xx), state and plan (E06xx), providers and apply (E07xx).
//! Each converts into the shared diagnostic model.

use obp_lang::diagnostics::{Diagnostic, IntoDiagnostic};
use obp_lang::span::Span;
use thiserror::Error;

use crate::provider::ProviderError;
use crate::state::LockInfo;

/// Dependency graph problems.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum GraphError {
    /// Resources that depend on each other in a loop; each edge carries the span that made it.
    #[error("dependency cycle: {}", render_cycle(.edges))]
    Cycle { edges: Vec<(String, String, Span)> },
    /// `-target` or `-exclude` that matches no resource.
    #[error("`{pattern}` matches no resource")]
    NoMatch { pattern: String },
}

fn render_cycle(edges: &[(String, String, Span)]) -> String {
    let mut names: Vec<&str> = edges.iter().map(|(from, _, _)| from.as_str()).collect();
    if let Some((first, _, _)) = edges.first() {
        names.push(first);
    }
    names.join(" → ")
}

impl IntoDiagnostic for GraphError {
    fn into_diagnostic(self) -> Diagnostic {
        let message = self.to_string();
        match self {
            GraphError::Cycle { edges } => {
                let mut diagnostic = Diagnostic::error("E0501", message)
                    .help("break the cycle: remove a reference or a `depends_on` entry on one of these edges");
                for (n, (from, to, span)) in edges.iter().enumerate() {
                    let text = format!("`{from}` depends on `{to}` here");
                    diagnostic = if n == 0 {
                        diagnostic.primary(*span, text)
                    } else {
                        diagnostic.secondary(*span, text)
                    };
                }
                diagnostic
            }
            GraphError::NoMatch { .. } => Diagnostic::error("E0502", message)
                .help("addresses look like `t[\"acme\"].postgres.database.db`; `obp state list` shows them"),
        }
    }
}

/// State, locking and saved-plan problems.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum StateError {
    /// Another operation holds the lock.
    #[error("state is locked{}", holder.as_ref().map(|h| format!(" by {} ({} since {}, lock id {})", h.who, h.operation, h.created, h.id)).unwrap_or_default())]
    Locked {
        path: String,
        holder: Option<Box<LockInfo>>,
    },
    /// A lock file that names no holder (empty or damaged: a run killed while taking it,
    /// by an obp that did not create lock files atomically, or a hand edit).
    #[error("state is locked by `{path}`, which names no holder (the file is empty or damaged)")]
    LockUnreadable { path: String },
    /// The state file cannot be parsed.
    #[error("state `{path}` is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    /// Reading or writing state failed.
    #[error("cannot access `{path}`: {reason}")]
    Io { path: String, reason: String },
    /// A saved plan made for another configuration.
    #[error("the saved plan is stale: the configuration changed since it was made")]
    StaleConfig { planned: String, current: String },
    /// A saved plan made against another state.
    #[error("the saved plan is stale: the state changed since it was made (planned against serial {planned_serial}, now {current_serial})")]
    StaleState {
        planned_serial: u64,
        current_serial: u64,
        lineage_changed: bool,
    },
    /// A saved plan file that cannot be read.
    #[error("cannot read saved plan `{path}`: {reason}")]
    BadPlanFile { path: String, reason: String },
    /// `force-unlock` with no lock present.
    #[error("no lock with id `{id}` is held")]
    NotLocked { id: String },
    /// `force-unlock` with the id of another lock.
    #[error("the lock is held with id `{}`, not `{id}`", holder.id)]
    LockMismatch { id: String, holder: Box<LockInfo> },
    /// State written by a newer obp.
    #[error("state `{path}` has format version {version}, newer than this obp understands")]
    TooNew { path: String, version: u32 },
    /// A `state` subcommand naming an address that is not in state.
    #[error("no resource `{address}` in state")]
    NoSuchAddress {
        address: String,
        suggestion: Option<String>,
    },
    /// `state mv` onto an address that is taken.
    #[error("`{address}` already exists in state")]
    AddressTaken { address: String },
    /// A plan that would destroy a resource protected by `prevent_destroy`.
    #[error("`{address}` has lifecycle.prevent_destroy set, but this plan would destroy it")]
    PreventDestroy {
        address: String,
        span: Option<Span>,
        /// The blueprint's own `lifecycle.prevent_destroy_help`, when it has one.
        help: Option<String>,
    },
    /// A `moved` block whose source and target cannot both be honoured.
    #[error("cannot move `{from}` to `{to}`: {reason}")]
    BadMove {
        from: String,
        to: String,
        reason: String,
        span: Span,
    },
    /// A state write or lock change the backend refuses because state moved on elsewhere.
    #[error("state at {location} was not changed: {reason}")]
    Conflict { location: String, reason: String },
    /// Two resources that would occupy the same object or file (one would overwrite the other,
    /// and destroying one would delete what the other wrote).
    #[error("`{first}` and `{second}` both claim {claim}")]
    Collision {
        first: String,
        second: String,
        claim: String,
        spans: (Option<Span>, Option<Span>),
    },
    /// A complete journal entry that cannot be read (only a torn last line is expected damage).
    #[error("the state journal `{path}` is damaged at line {line}: {reason}")]
    JournalDamaged {
        path: String,
        line: usize,
        reason: String,
    },
    /// The lock this run held is gone (its database session ended): another run may hold it.
    #[error("the state lock on {location} was lost: {reason}")]
    LockLost { location: String, reason: String },
    /// The audit trail does not verify: a record was edited, removed, inserted or damaged.
    #[error("the audit trail of {location} is broken at record {position}: {why}")]
    AuditBroken {
        location: String,
        position: usize,
        why: String,
    },
}

impl IntoDiagnostic for StateError {
    fn into_diagnostic(self) -> Diagnostic {
        let message = self.to_string();
        match self {
            StateError::Locked { .. } => Diagnostic::error("E0601", message).help(
                "wait for the other operation to finish; if it crashed, run `obp force-unlock LOCK_ID`",
            ),
            StateError::LockUnreadable { .. } => Diagnostic::error("E0601", message).help(
                "if no obp is working on this state, remove the lock with `obp force-unlock unreadable`",
            ),
            StateError::Corrupt { .. } => Diagnostic::error("E0602", message)
                .help("restore the `.backup` file beside it (the state before the last apply; `obp plan` then shows what that apply created as creates), or fix the JSON by hand"),
            StateError::Io { .. } => Diagnostic::error("E0603", message)
                .help("check that the path exists and is writable"),
            StateError::StaleConfig { .. } => Diagnostic::error("E0604", message)
                .help("run `obp plan -out FILE` again and review the new plan"),
            StateError::StaleState { .. } => Diagnostic::error("E0605", message)
                .help("someone applied in between; run `obp plan -out FILE` again and review the new plan"),
            StateError::BadPlanFile { .. } => Diagnostic::error("E0606", message)
                .help("saved plans are written by `obp plan -out FILE`"),
            StateError::NotLocked { .. } | StateError::LockMismatch { .. } => {
                Diagnostic::error("E0607", message)
                    .help("the lock id is printed by the operation that found the state locked")
            }
            StateError::TooNew { .. } => Diagnostic::error("E0608", message)
                .help("upgrade obp to the version that wrote this state"),
            StateError::NoSuchAddress { suggestion, .. } => Diagnostic::error("E0609", message)
                .maybe_help(suggestion)
                .help("`obp state list` shows every address in state"),
            StateError::AddressTaken { .. } => Diagnostic::error("E0610", message)
                .help("remove or move the existing resource first"),
            StateError::PreventDestroy { span, help, .. } => {
                let diagnostic = Diagnostic::error("E0611", message).help(help.unwrap_or_else(|| {
                    "remove `prevent_destroy` first if destroying it is really intended".to_owned()
                }));
                match span {
                    Some(span) => diagnostic.primary(span, "protected here"),
                    None => diagnostic,
                }
            }
            StateError::BadMove { span, .. } => Diagnostic::error("E0612", message)
                .primary(span, "this `moved` block")
                .help("`from` must be in state and `to` must be free and declared in the configuration"),
            StateError::Conflict { .. } => Diagnostic::error("E0613", message)
                .help("another run changed the state since this one read it; run the command again (and review the new plan)"),
            StateError::Collision { first, second, spans, .. } => {
                let mut diagnostic = Diagnostic::error("E0615", message).help(
                    "give one of them another name or namespace (names are normalised, so `a-b`, `a_b` and `A-B` are one name), or declare the object once",
                );
                if let Some(span) = spans.0 {
                    diagnostic = diagnostic.primary(span, format!("`{first}` declared here"));
                }
                if let Some(span) = spans.1 {
                    diagnostic = diagnostic.secondary(span, format!("`{second}` declared here"));
                }
                diagnostic
            }
            StateError::JournalDamaged { .. } => Diagnostic::error("E0617", message)
                .help("nothing was read or written; the entries before that line are intact: keep a copy of the journal, delete the damaged line (or everything from it on), then run `obp plan`: it reads the live objects and shows what state lost"),
            StateError::LockLost { .. } => Diagnostic::error("E0618", message)
                .help("this run started nothing new after it noticed and did not write its final state; wait for any other run to finish, then run `obp plan` to see what is left"),
            StateError::AuditBroken { .. } => Diagnostic::error("E0619", message)
                .help("the records before it hold; compare the trail with a copy kept elsewhere (`obp audit --json`, the head hash `obp audit verify` prints) to see what was changed, and find out who had write access"),
        }
    }
}

/// Provider, validation and apply problems.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ApplyError {
    /// A resource type no configured provider manages.
    #[error("no provider manages resource type `{rtype}`")]
    NoProvider {
        rtype: String,
        span: Span,
        suggestion: Option<String>,
    },
    /// An attribute the provider's schema rejects (unknown, missing, wrong type, invalid).
    #[error("`{address}`: {message}")]
    Invalid {
        address: String,
        message: String,
        span: Span,
        help: Option<String>,
    },
    /// A provider refused with its own code ([`ProviderError::Rejected`]): a value the target
    /// system's own rules refuse, or an unsafe place to write. `subject` says what was refused
    /// (`` `k8s.service.web` ``, ``creating `file.text.conf` ``, ``provider `gitops` ``).
    ///
    /// [`ProviderError::Rejected`]: crate::provider::ProviderError::Rejected
    #[error("{subject}: {message}")]
    Rejected {
        code: &'static str,
        subject: String,
        message: String,
        span: Option<Span>,
        help: String,
    },
    /// A provider's own configuration is unusable.
    #[error("provider `{name}`: {message}")]
    ProviderConfig {
        name: String,
        message: String,
        span: Option<Span>,
    },
    /// The provider failed an operation on a resource.
    #[error("{action} `{address}` failed: {message}")]
    Failed {
        address: String,
        action: String,
        message: String,
    },
    /// A value that should be known after its resource was applied is still unknown.
    #[error("`{address}`: {what} is still unknown after apply")]
    StillUnknown { address: String, what: String },
    /// A create found its object already there.
    #[error("creating `{address}` failed: {message}")]
    AlreadyExists {
        address: String,
        id: String,
        message: String,
    },
    /// Reading a resource from its provider failed (refresh, drift): what is live is unknown.
    #[error("cannot read `{address}` from provider `{provider}`: {message}{}", if *others > 0 { format!(" (and {others} more resources could not be read)") } else { String::new() })]
    ReadFailed {
        address: String,
        provider: String,
        message: String,
        /// How many further failures this one stands for (long lists are cut).
        others: usize,
    },
    /// A provider configured from a resource that does not exist yet.
    #[error("provider `{name}` is configured from `{dependency}`, which is not applied yet")]
    ProviderDependsOnResource {
        name: String,
        dependency: String,
        span: Span,
    },
}

impl ApplyError {
    /// The error for a provider's failure of `action` on `address`: its own code when the
    /// provider refused with one, else E0704.
    pub fn from_provider(address: &str, action: &str, error: ProviderError) -> ApplyError {
        match error {
            ProviderError::AlreadyExists { message, id } => ApplyError::AlreadyExists {
                address: address.to_owned(),
                id,
                message,
            },
            ProviderError::Rejected { code, ref help, .. } => ApplyError::Rejected {
                subject: format!("{action} `{address}`"),
                code,
                help: help.clone(),
                message: error.to_string(),
                span: None,
            },
            other => ApplyError::Failed {
                address: address.to_owned(),
                action: action.to_owned(),
                message: other.to_string(),
            },
        }
    }
}

impl IntoDiagnostic for ApplyError {
    fn into_diagnostic(self) -> Diagnostic {
        let message = self.to_string();
        match self {
            ApplyError::NoProvider { span, suggestion, .. } => Diagnostic::error("E0701", message)
                .primary(span, "declared here")
                .maybe_help(suggestion)
                .help("`obp providers` lists the resource types each provider manages"),
            ApplyError::Invalid { span, help, .. } => Diagnostic::error("E0702", message)
                .primary(span, "here")
                .maybe_help(help),
            ApplyError::ProviderConfig { span, .. } => {
                let diagnostic = Diagnostic::error("E0703", message)
                    .help("check the `provider` block of the stack");
                match span {
                    Some(span) => diagnostic.primary(span, "configured here"),
                    None => diagnostic,
                }
            }
            ApplyError::Failed { .. } => Diagnostic::error("E0704", message)
                .help("fix the cause and run apply again: everything that succeeded is in state"),
            ApplyError::AlreadyExists { address, id, .. } => Diagnostic::error("E0721", message)
                .help(format!("if it is the object this resource stands for (an earlier apply made it and was stopped before recording it), adopt it: `obp import '{address}' '{id}'`, then run apply again; otherwise rename the resource or remove the object")),
            ApplyError::ReadFailed { .. } => Diagnostic::error("E0720", message)
                .help("check that the provider's server is reachable and its credentials are valid, then run the command again; `-refresh=false` plans from state without reading (and cannot see drift)"),
            ApplyError::StillUnknown { .. } => Diagnostic::error("E0705", message)
                .help("the provider did not report this attribute; check its name against the provider's schema"),
            ApplyError::ProviderDependsOnResource { span, dependency, .. } => {
                Diagnostic::error("E0706", message)
                    .primary(span, "configured here")
                    .help(format!("apply the dependency first with `obp apply -target '{dependency}'`, then apply the rest"))
            }
            ApplyError::Rejected { code, help, span, .. } => {
                let diagnostic = Diagnostic::error(code, message).help(help);
                match span {
                    Some(span) => diagnostic.primary(span, "here"),
                    None => diagnostic,
                }
            }
        }
    }
}
