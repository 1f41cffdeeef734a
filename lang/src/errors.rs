//! Typed errors of the phases after parsing: names and modules (E02xx), types (E03xx) and
//! evaluation (E04xx). Each variant carries spans and data; [`IntoDiagnostic`] renders them.

use thiserror::Error;

use crate::diagnostics::{Diagnostic, IntoDiagnostic};
use crate::span::Span;

/// Module loading and name resolution.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum NameError {
    /// A name that is not a parameter, `let`, module alias, local or builtin.
    #[error("unknown name `{name}`")]
    UnknownName {
        span: Span,
        name: String,
        suggestion: Option<String>,
        help: Option<String>,
    },
    /// `use x.y` where no file provides module `x.y`.
    #[error("module `{name}` not found")]
    ModuleNotFound {
        span: Span,
        name: String,
        searched: Vec<String>,
    },
    /// Modules that import each other in a loop.
    #[error("import cycle: {}", chain.join(" → "))]
    ImportCycle { span: Span, chain: Vec<String> },
    /// Two declarations of the same name in one module.
    #[error("`{name}` is declared twice")]
    Duplicate {
        span: Span,
        first: Span,
        name: String,
    },
    /// A call to a function that is not a builtin nor a local function.
    #[error("unknown function `{name}`")]
    UnknownFunction {
        span: Span,
        name: String,
        suggestion: Option<String>,
    },
    /// Imports nested deeper than the limit.
    #[error("modules nested deeper than {limit} levels")]
    TooDeep { span: Span, limit: usize },
    /// A `use` argument the module does not declare as a param.
    #[error("module `{module}` has no param `{name}`")]
    UnknownArgument {
        span: Span,
        module: String,
        name: String,
        suggestion: Option<String>,
    },
    /// A required param (no default) not given by `use`.
    #[error("missing argument `{name}` for module `{module}`")]
    MissingArgument {
        span: Span,
        param: Span,
        module: String,
        name: String,
    },
    /// A stack param with neither a default nor a `--var` value.
    #[error("the stack's param `{name}` has no value")]
    MissingVar { span: Span, name: String },
    /// A declaration in a place where it has no meaning.
    #[error("{what} is not allowed {place}")]
    NotAllowed {
        span: Span,
        what: String,
        place: String,
        help: String,
    },
    /// A reference to a resource that is not declared in this module.
    #[error("unknown resource `{rtype}.{name}`")]
    UnknownResource {
        span: Span,
        rtype: String,
        name: String,
        suggestion: Option<String>,
    },
    /// A file or directory that cannot be read.
    #[error("cannot read `{path}`: {reason}")]
    Unreadable {
        span: Option<Span>,
        path: String,
        reason: String,
    },
    /// A stack or module path that is neither a `.obp` file nor a directory of them: its
    /// content is never read, so a path to another kind of file leaks none of it.
    #[error(
        "`{path}` is not a blueprint: a stack or module is a `.obp` file or a directory of them"
    )]
    NotBlueprint { span: Option<Span>, path: String },
    /// `alias.name` where the module has no output `name`.
    #[error("module `{module}` has no output `{name}`")]
    UnknownOutput {
        span: Span,
        module: String,
        name: String,
        suggestion: Option<String>,
    },
    /// A call with the wrong number of arguments; `name` is already quoted as needed.
    #[error("{name} takes {expected} argument(s), found {found}")]
    Arity {
        span: Span,
        name: String,
        expected: String,
        found: usize,
    },
}

impl IntoDiagnostic for NameError {
    fn into_diagnostic(self) -> Diagnostic {
        let message = self.to_string();
        match self {
            NameError::UnknownName {
                span,
                suggestion,
                help,
                ..
            } => Diagnostic::error("E0201", message)
                .primary(span, "not found in this scope")
                .maybe_help(suggestion)
                .maybe_help(help),
            NameError::ModuleNotFound {
                span,
                searched,
                name,
            } => {
                let diagnostic = Diagnostic::error("E0202", message)
                    .primary(span, "no such module")
                    .help(format!("searched: {}", searched.join(", ")));
                if name.contains('/') || name.ends_with(".obp") {
                    diagnostic.help("a quoted module path is relative to the file that imports it")
                } else {
                    diagnostic.help("module `a.b` is the file `a/b.obp` under a blueprint root; add a root with OBP_PATH")
                }
            }
            NameError::ImportCycle { span, .. } => Diagnostic::error("E0203", message)
                .primary(span, "this import closes the cycle")
                .help("move what both modules need into a third module"),
            NameError::Duplicate { span, first, .. } => Diagnostic::error("E0204", message)
                .primary(span, "declared again here")
                .secondary(first, "first declared here")
                .help("rename one of them"),
            NameError::UnknownFunction {
                span, suggestion, ..
            } => Diagnostic::error("E0205", message)
                .primary(span, "not a function")
                .maybe_help(suggestion)
                .help("`obp explain E0205` lists the builtin functions"),
            NameError::TooDeep { span, .. } => Diagnostic::error("E0206", message)
                .primary(span, "this import goes past the limit")
                .help("flatten the module hierarchy"),
            NameError::UnknownArgument {
                span, suggestion, ..
            } => Diagnostic::error("E0207", message)
                .primary(span, "unknown argument")
                .maybe_help(suggestion),
            NameError::MissingArgument {
                span, param, name, ..
            } => Diagnostic::error("E0208", message)
                .primary(span, format!("`{name}` is not given here"))
                .secondary(param, "declared without a default here")
                .help(format!("add `{name} = …` to the arguments")),
            NameError::MissingVar { span, name } => Diagnostic::error("E0208", message)
                .primary(span, "declared without a default here")
                .help(format!(
                    "pass `--var {name}=…` on the command line, or give the param a default"
                )),
            NameError::NotAllowed { span, help, .. } => Diagnostic::error("E0209", message)
                .primary(span, "not allowed here")
                .help(help),
            NameError::UnknownResource {
                span, suggestion, ..
            } => Diagnostic::error("E0210", message)
                .primary(span, "no such resource in this module")
                .maybe_help(suggestion),
            NameError::Unreadable { span, reason, .. } => {
                let help = if reason.contains(".obp") {
                    "a module folder must hold at least one `.obp` file"
                } else {
                    "check the path and its permissions"
                };
                let diagnostic = Diagnostic::error("E0211", message).help(help);
                match span {
                    Some(span) => diagnostic.primary(span, "needed here"),
                    None => diagnostic,
                }
            }
            NameError::NotBlueprint { span, .. } => {
                let diagnostic = Diagnostic::error("E0214", message)
                    .help("name a file ending in `.obp`, or a directory holding `.obp` files");
                match span {
                    Some(span) => diagnostic.primary(span, "imported here"),
                    None => diagnostic,
                }
            }
            NameError::UnknownOutput {
                span, suggestion, ..
            } => Diagnostic::error("E0212", message)
                .primary(span, "no such output")
                .maybe_help(suggestion),
            NameError::Arity { span, .. } => {
                Diagnostic::error("E0213", message).primary(span, "in this call")
            }
        }
    }
}

/// A value that does not satisfy its declared type.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum TypeError {
    /// The value's shape differs from the declared type.
    #[error("{context}expected {expected}, found {found}")]
    Mismatch {
        span: Span,
        declared: Option<Span>,
        context: String,
        expected: String,
        found: String,
        help: Option<String>,
    },
    /// A type name that is neither builtin nor declared with `type`.
    #[error("unknown type `{name}`")]
    UnknownType {
        span: Span,
        name: String,
        suggestion: Option<String>,
    },
    /// A string that is not in the format a builtin type requires.
    #[error("{context}`{value}` is not a valid {kind}")]
    Format {
        code: &'static str,
        span: Span,
        declared: Option<Span>,
        context: String,
        kind: &'static str,
        value: String,
        rule: &'static str,
    },
    /// A param `check` that evaluated to false.
    #[error("check failed: {message}")]
    CheckFailed {
        span: Span,
        check: Span,
        message: String,
    },
    /// A record field the record type does not declare.
    #[error("{context}unknown field `{field}`")]
    UnknownField {
        span: Span,
        declared: Option<Span>,
        context: String,
        field: String,
        suggestion: Option<String>,
    },
    /// A required record field that is absent.
    #[error("{context}missing field `{field}`")]
    MissingField {
        span: Span,
        declared: Option<Span>,
        context: String,
        field: String,
    },
}

fn with_declared(diagnostic: Diagnostic, declared: Option<Span>) -> Diagnostic {
    match declared {
        Some(span) => diagnostic.secondary(span, "type declared here"),
        None => diagnostic,
    }
}

impl IntoDiagnostic for TypeError {
    fn into_diagnostic(self) -> Diagnostic {
        let message = self.to_string();
        match self {
            TypeError::Mismatch {
                span,
                declared,
                expected,
                help,
                ..
            } => with_declared(
                Diagnostic::error("E0301", message).primary(span, format!("expected {expected}")),
                declared,
            )
            .maybe_help(help),
            TypeError::UnknownType {
                span, suggestion, ..
            } => Diagnostic::error("E0302", message)
                .primary(span, "not a known type")
                .maybe_help(suggestion)
                .help("builtin types: string, int, float, bool, any, list<T>, map<T>, Ident, Hostname, Image, Duration, Quantity, Cidr, Secret"),
            TypeError::Format {
                code,
                span,
                declared,
                kind,
                rule,
                ..
            } => with_declared(
                Diagnostic::error(code, message).primary(span, format!("not a valid {kind}")),
                declared,
            )
            .help(rule),
            TypeError::CheckFailed { span, check, .. } => Diagnostic::error("E0308", message)
                .primary(span, "this value")
                .secondary(check, "fails this check"),
            TypeError::UnknownField {
                span,
                declared,
                suggestion,
                ..
            } => with_declared(
                Diagnostic::error("E0309", message).primary(span, "in this value"),
                declared,
            )
            .maybe_help(suggestion),
            TypeError::MissingField {
                span,
                declared,
                field,
                ..
            } => with_declared(
                Diagnostic::error("E0310", message).primary(span, "in this value"),
                declared,
            )
            .help(format!("add `{field} = …`")),
        }
    }
}

/// Evaluation failures.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum EvalError {
    /// An operator applied to values it does not accept.
    #[error("{message}")]
    Operands { span: Span, message: String },
    /// Integer division or remainder by zero.
    #[error("division by zero")]
    DivisionByZero { span: Span },
    /// A record key or list index that is absent.
    #[error("{message}")]
    Missing {
        span: Span,
        message: String,
        suggestion: Option<String>,
    },
    /// A `match` where no arm accepts the value.
    #[error("no match arm for {value}")]
    NoMatch { span: Span, value: String },
    /// A builtin rejected an argument.
    #[error("{message}")]
    BadArgument { span: Span, message: String },
    /// Values that depend on themselves.
    #[error("evaluation cycle: {}", chain.join(" → "))]
    Cycle {
        span: Span,
        first: Span,
        chain: Vec<String>,
    },
    /// The step budget ran out (a runaway computation).
    #[error("evaluation took more than {limit} steps")]
    Budget { span: Span, limit: u64 },
    /// A problem with a `for each` collection or its keys.
    #[error("{message}")]
    ForEach {
        span: Span,
        message: String,
        help: String,
    },
    /// A value needed now that is only known after apply.
    #[error("{what} is only known after apply")]
    Unknown {
        span: Span,
        what: String,
        help: String,
    },
    /// A secret reference used where its plain value would be needed.
    #[error("{what}")]
    Secret { span: Span, what: String },
    /// Calls or references nested past the limit (usually unbounded recursion).
    #[error("evaluation nested deeper than {limit} levels")]
    TooDeep { span: Span, limit: usize },
    /// A record with the same key twice.
    #[error("duplicate key `{key}`")]
    DuplicateKey {
        span: Span,
        first: Span,
        key: String,
    },
    /// Arithmetic whose result does not fit: 64-bit integers, or finite floats.
    #[error("arithmetic overflow in `{op}`")]
    Overflow { span: Span, op: String },
    /// `depends_on`, `lifecycle` or `provider` written wrongly.
    #[error("{message}")]
    MetaArgument {
        span: Span,
        message: String,
        help: String,
    },
    /// A `moved` block whose `from` or `to` is not a resource address, or whose `to` is not
    /// declared: refused when the stack is checked, not only once `from` is in state.
    #[error("invalid `moved` block: {message}")]
    BadMove {
        span: Span,
        message: String,
        help: String,
    },
}

impl IntoDiagnostic for EvalError {
    fn into_diagnostic(self) -> Diagnostic {
        let message = self.to_string();
        match self {
            EvalError::Operands { span, .. } => {
                Diagnostic::error("E0401", message).primary(span, "in this expression")
            }
            EvalError::DivisionByZero { span } => Diagnostic::error("E0402", message)
                .primary(span, "the divisor is zero")
                .help("guard the division with `if … then … else …`"),
            EvalError::Missing {
                span, suggestion, ..
            } => Diagnostic::error("E0403", message)
                .primary(span, "here")
                .maybe_help(suggestion)
                .help("use `lookup(record, key, default)` or `has(record, key)` when a key may be absent"),
            EvalError::NoMatch { span, .. } => Diagnostic::error("E0404", message)
                .primary(span, "no arm matches")
                .help("add an arm for this value, or a `_ => …` arm"),
            EvalError::BadArgument { span, .. } => {
                Diagnostic::error("E0405", message).primary(span, "this argument")
            }
            EvalError::Cycle { span, first, .. } => Diagnostic::error("E0406", message)
                .primary(span, "needs a value that is still being computed")
                .secondary(first, "which started here")
                .help("break the cycle: one of these values must not depend on the other"),
            EvalError::Budget { span, .. } => Diagnostic::error("E0407", message)
                .primary(span, "while evaluating this")
                .help("look for unbounded recursion or very large ranges"),
            EvalError::ForEach { span, help, .. } => Diagnostic::error("E0408", message)
                .primary(span, "here")
                .help(help),
            EvalError::Unknown { span, help, .. } => Diagnostic::error("E0409", message)
                .primary(span, "not known at plan time")
                .help(help),
            EvalError::Secret { span, .. } => Diagnostic::error("E0410", message)
                .primary(span, "a secret reference")
                .help("secrets stay references: pass them as they are to a resource attribute or a `Secret` param"),
            EvalError::TooDeep { span, .. } => Diagnostic::error("E0411", message)
                .primary(span, "while evaluating this")
                .help("look for a function that calls itself without end"),
            EvalError::DuplicateKey { span, first, .. } => Diagnostic::error("E0412", message)
                .primary(span, "written again here")
                .secondary(first, "first written here")
                .help("remove one of them, or use `merge(a, b)` to override on purpose"),
            EvalError::Overflow { span, .. } => Diagnostic::error("E0413", message)
                .primary(span, "the result is out of range"),
            EvalError::MetaArgument { span, help, .. } => Diagnostic::error("E0414", message)
                .primary(span, "here")
                .help(help),
            EvalError::BadMove { span, help, .. } => Diagnostic::error("E0612", message)
                .primary(span, "this `moved` block")
                .help(help),
        }
    }
}

/// Policy checks (E08xx): what `policy` blocks say about the resources, and policies that
/// cannot be applied as written.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum PolicyError {
    /// A rule matched a resource: a denial (an error when it blocks) or a warning.
    #[error("policy `{}` {} `{}`: {}{}", finding.policy, if finding.effect == "deny" { "denies" } else { "warns about" }, finding.address, finding.message, if finding.overridden { " (overridden)" } else { "" })]
    Finding {
        span: Span,
        rule: Span,
        policy_span: Span,
        finding: crate::eval::PolicyFinding,
    },
    /// A condition that evaluated to something other than a bool.
    #[error("the condition of a rule of policy `{policy}` is {found}, not a bool")]
    NotBool {
        span: Span,
        policy: String,
        found: String,
    },
    /// A level other than hard, soft or advisory.
    #[error("unknown policy level `{level}`")]
    UnknownLevel { span: Span, level: String },
    /// A condition that reads values obp does not have while planning.
    #[error("policy `{policy}` cannot decide on `{address}` while planning")]
    Undecided {
        span: Span,
        rule: Span,
        policy: String,
        address: String,
        /// The condition reads a secret reference (rather than a value known after apply).
        secret: bool,
    },
    /// `--override-policy NAME` where no policy has that name.
    #[error("`--override-policy {name}` names no policy of this stack")]
    UnknownOverride { name: String, known: Vec<String> },
    /// `--override-policy` for a policy that is not `soft`.
    #[error("policy `{policy}` is {level}: only soft policies can be overridden")]
    NotOverridable {
        span: Span,
        policy: String,
        level: String,
    },
}

impl IntoDiagnostic for PolicyError {
    fn into_diagnostic(self) -> Diagnostic {
        let message = self.to_string();
        match self {
            PolicyError::Finding {
                span,
                rule,
                policy_span,
                finding,
            } => {
                let diagnostic = if finding.blocking {
                    Diagnostic::error("E0801", message)
                } else {
                    Diagnostic::warning("E0802", message)
                };
                let diagnostic = diagnostic
                    .primary(span, "this resource")
                    .secondary(rule, "this rule");
                let diagnostic = if policy_span.file == rule.file {
                    diagnostic
                } else {
                    diagnostic.secondary(policy_span, "the policy")
                };
                match (finding.blocking, finding.level.as_str()) {
                    (true, "soft") => diagnostic.help(format!(
                        "change the resource so the rule holds; or, once reviewed, allow it with `--override-policy {}`",
                        finding.policy
                    )),
                    (true, _) => diagnostic.help(
                        "change the resource so the rule holds, or the rule if it is wrong: a hard policy cannot be overridden",
                    ),
                    (false, _) => diagnostic,
                }
            }
            PolicyError::NotBool { span, .. } => Diagnostic::error("E0803", message)
                .primary(span, "this condition")
                .help("a rule's condition must be true (the rule matches) or false"),
            PolicyError::UnknownLevel { span, .. } => Diagnostic::error("E0804", message)
                .primary(span, "here")
                .help("write `hard` (the default), `soft` or `advisory`"),
            PolicyError::Undecided {
                span, rule, secret, ..
            } => Diagnostic::warning("E0805", message)
                .primary(span, "this resource")
                .secondary(rule, "this rule")
                .help(if secret {
                    "the condition reads a secret reference, whose value policies never see: test other attributes"
                } else {
                    "the condition reads attributes known only after apply: test values that are known while planning"
                }),
            PolicyError::UnknownOverride { known, .. } => Diagnostic::error("E0806", message)
                .help(if known.is_empty() {
                    "this stack declares no policy".to_owned()
                } else {
                    format!("the policies are: {}", known.join(", "))
                }),
            PolicyError::NotOverridable { span, .. } => Diagnostic::error("E0807", message)
                .primary(span, "declared here")
                .help("fix what the policy denies, or declare the policy `soft` if overriding it must be possible"),
        }
    }
}
