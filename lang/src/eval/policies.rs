//! Policy evaluation: every rule of every `policy` block, wherever it is declared (a pack
//! used as a module applies to the whole stack), against every resource instance of the
//! configuration.
//!
//! In a rule, `resource` is `{ type, name, address, module, key, provider, attrs }`: the
//! instance's identity and its attributes under `attrs` (kept apart so that a resource's own
//! `name` or `type` attribute never hides the identity); `resources` lists every instance in
//! that shape, for rules about what a stack must hold beside a resource (a backup schedule in
//! a production namespace). Levels follow Sentinel's
//! enforcement levels: `hard` (the default) denials are errors, `soft` ones are errors unless
//! overridden by name (`--override-policy`), `advisory` ones are warnings; `warn` rules are
//! always warnings. A condition that reads values known only after apply cannot be decided
//! while planning: it is reported as a warning rather than guessed.

use std::collections::BTreeSet;

use indexmap::IndexMap;

use super::config::{Config, Instance, PolicyFinding};
use super::{Ctx, Evaluator, InstId};
use crate::ast::{PolicyDecl, PolicyEffect, PolicyRule};
use crate::diagnostics::Diagnostic;
use crate::errors::PolicyError;
use crate::types::describe;
use crate::value::{Env, Value};

/// How a policy's denials are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Hard,
    Soft,
    Advisory,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Hard => "hard",
            Level::Soft => "soft",
            Level::Advisory => "advisory",
        }
    }

    fn parse(name: &str) -> Option<Level> {
        match name {
            "hard" => Some(Level::Hard),
            "soft" => Some(Level::Soft),
            "advisory" => Some(Level::Advisory),
            _ => None,
        }
    }
}

/// Whether and how policies are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyMode {
    /// Check every policy; `overrides` names the `soft` policies allowed to deny this once
    /// (by qualified name such as `guard.odoo_workloads`, or by bare name).
    Enforce { overrides: BTreeSet<String> },
    /// Do not evaluate policies (destroying, reading state, drawing the graph).
    Skip,
}

impl Default for PolicyMode {
    fn default() -> PolicyMode {
        PolicyMode::Enforce {
            overrides: BTreeSet::new(),
        }
    }
}

/// One policy as checked: where it is declared, its qualified name and how it is enforced.
struct Checked<'a> {
    inst: InstId,
    decl: &'a PolicyDecl,
    name: String,
    level: Level,
    overridden: bool,
}

/// What one rule said about one resource.
enum Outcome {
    Pass,
    Match(String),
    /// Not decidable while planning: the condition reads values known only after apply,
    /// or a secret reference (whose value policies never see).
    Undecided {
        secret: bool,
    },
    /// The rule is broken (an evaluation error, already reported): skip it from now on.
    Broken,
}

impl<'p> Evaluator<'p> {
    /// Checks the collected policies against the configuration's resources.
    pub(crate) fn check_policies(&mut self, config: &mut Config) {
        let overrides = match &self.options.policies {
            PolicyMode::Skip => return,
            PolicyMode::Enforce { overrides } => overrides.clone(),
        };
        let declared = std::mem::take(&mut self.policy_decls);
        let known: BTreeSet<String> = declared
            .iter()
            .flat_map(|(inst, decl)| {
                [
                    self.describe(*inst, &decl.name.name),
                    decl.name.name.clone(),
                ]
            })
            .collect();
        for name in overrides.iter().filter(|n| !known.contains(*n)) {
            self.diagnostics.push(PolicyError::UnknownOverride {
                name: name.clone(),
                known: known.iter().cloned().collect(),
            });
        }
        if declared.is_empty() {
            return;
        }
        let subjects: Vec<Value> = config.resources.iter().map(subject).collect();
        // Shared by every rule's environment (one `Arc`, never copied per resource).
        let all = Value::List(std::sync::Arc::new(subjects.clone()));
        for (inst, decl) in declared {
            let qualified = self.describe(inst, &decl.name.name);
            let level = match &decl.level {
                None => Level::Hard,
                Some(level) => match Level::parse(&level.name) {
                    Some(parsed) => parsed,
                    None => {
                        self.diagnostics.push(PolicyError::UnknownLevel {
                            span: level.span,
                            level: level.name.clone(),
                        });
                        continue;
                    }
                },
            };
            let overridden = overrides.contains(&qualified) || overrides.contains(&decl.name.name);
            if overridden && level != Level::Soft {
                self.diagnostics.push(PolicyError::NotOverridable {
                    span: decl.name.span,
                    policy: qualified.clone(),
                    level: decl
                        .level
                        .as_ref()
                        .map_or("hard", |l| l.name.as_str())
                        .to_owned(),
                });
            }
            let policy = Checked {
                inst,
                decl,
                name: qualified,
                level,
                overridden,
            };
            for rule in &decl.rules {
                self.check_rule(&policy, rule, config, &subjects, &all);
            }
        }
    }

    fn check_rule(
        &mut self,
        checked: &Checked<'_>,
        rule: &PolicyRule,
        config: &mut Config,
        subjects: &[Value],
        all: &Value,
    ) {
        let (policy, level, overridden) =
            (checked.name.as_str(), checked.level, checked.overridden);
        for (resource, subject) in config.resources.iter().zip(subjects) {
            let finding = match self.outcome(checked.inst, rule, subject, all, policy, resource) {
                Outcome::Pass => continue,
                Outcome::Broken => return,
                Outcome::Undecided { secret } => {
                    self.diagnostics.push(PolicyError::Undecided {
                        span: resource.span,
                        rule: rule.span,
                        policy: policy.to_owned(),
                        address: resource.address.clone(),
                        secret,
                    });
                    continue;
                }
                Outcome::Match(message) => PolicyFinding {
                    policy: policy.to_owned(),
                    level: level.name().to_owned(),
                    effect: match rule.effect {
                        PolicyEffect::Deny => "deny",
                        PolicyEffect::Warn => "warn",
                    }
                    .to_owned(),
                    address: resource.address.clone(),
                    message,
                    overridden: overridden && level == Level::Soft,
                    blocking: rule.effect == PolicyEffect::Deny
                        && (level == Level::Hard || (level == Level::Soft && !overridden)),
                },
            };
            self.diagnostics.push(PolicyError::Finding {
                span: resource.span,
                rule: rule.span,
                policy_span: checked.decl.name.span,
                finding: finding.clone(),
            });
            config.findings.push(finding);
        }
    }

    /// Evaluates one rule for one resource. Errors that only say "known after apply" make
    /// the rule undecided for this resource; any other error is the policy's own bug.
    fn outcome(
        &mut self,
        inst: InstId,
        rule: &PolicyRule,
        subject: &Value,
        all: &Value,
        policy: &str,
        resource: &Instance,
    ) -> Outcome {
        let ctx = Ctx {
            inst,
            env: Env::empty()
                .bind("resource", subject.clone())
                .bind("resources", all.clone()),
        };
        let mark = self.diagnostics.len();
        // A policy reads resources; it adds no edge to the graph.
        self.deps.push(Default::default());
        let condition = self.eval(&rule.condition, &ctx);
        let outcome = match condition {
            Ok(Value::Bool(false)) => Outcome::Pass,
            Ok(Value::Bool(true)) => match self.eval(&rule.message, &ctx) {
                Ok(Value::Str(text)) => Outcome::Match(text),
                Ok(other) if !other.contains_unknown() && !other.contains_secret() => {
                    Outcome::Match(describe(&other))
                }
                Ok(other) => Outcome::Undecided {
                    secret: !other.contains_unknown(),
                },
                Err(_) => Outcome::Broken,
            },
            Ok(value) if value.contains_unknown() => Outcome::Undecided { secret: false },
            Ok(value) if value.contains_secret() => Outcome::Undecided { secret: true },
            Ok(other) => {
                self.diagnostics.push(PolicyError::NotBool {
                    span: rule.condition.span,
                    policy: policy.to_owned(),
                    found: describe(&other),
                });
                Outcome::Broken
            }
            Err(_) => Outcome::Broken,
        };
        self.deps.pop();
        let raised = self.diagnostics.split_off(mark);
        let only = |code: &str| raised.iter().all(|d| d.code == code);
        if matches!(outcome, Outcome::Broken) && !raised.is_empty() {
            if only("E0409") {
                return Outcome::Undecided { secret: false };
            }
            if only("E0410") {
                return Outcome::Undecided { secret: true };
            }
        }
        let context = format!("while policy `{policy}` checked `{}`", resource.address);
        for diagnostic in raised {
            let diagnostic: Diagnostic = diagnostic.help(context.clone());
            self.diagnostics.push(diagnostic);
        }
        outcome
    }
}

/// The record a rule sees as `resource`.
fn subject(resource: &Instance) -> Value {
    let text = |s: &str| Value::Str(s.to_owned());
    let mut fields = IndexMap::new();
    fields.insert("type".to_owned(), text(&resource.rtype));
    fields.insert("name".to_owned(), text(&resource.name));
    fields.insert("address".to_owned(), text(&resource.address));
    fields.insert("module".to_owned(), text(&resource.module));
    fields.insert(
        "key".to_owned(),
        resource.key.as_deref().map_or(Value::Null, text),
    );
    fields.insert("provider".to_owned(), text(&resource.provider));
    fields.insert("attrs".to_owned(), Value::record(resource.attrs.clone()));
    Value::record(fields)
}
