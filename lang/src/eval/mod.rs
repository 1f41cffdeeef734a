//! The evaluator: turns a resolved [`Program`] into a [`Config`] of resource instances with
//! stable addresses, attribute values and dependency edges.
//!
//! Evaluation is lazy and memoised per slot (a param, `let`, output, resource attribute,
//! `for each` expansion of one module instance), so declarations may appear in any order and
//! a value that depends on itself is reported as a cycle instead of looping. Each slot also
//! remembers which resource instances its value read; that set becomes the graph's edges.

pub mod config;
mod expr;
mod instances;
mod keyed;
mod parts;
mod policies;
mod refs;

use std::collections::BTreeMap;
use std::sync::Arc;

use indexmap::IndexMap;
use rustc_hash::{FxHashMap, FxHashSet};

pub use config::{
    BackendConfig, Config, Dependency, Instance, Lifecycle, Moved, PolicyFinding, PolicyInfo,
    ProviderConfig, StackInfo,
};
pub use policies::{Level as PolicyLevel, PolicyMode};

use crate::diagnostics::{Diagnostics, IntoDiagnostic};
use crate::errors::EvalError;
use crate::index::ModuleIndex;
use crate::loader::{ModuleId, Program};
use crate::span::Span;
use crate::value::{Env, Value};

/// Limits and inputs of one evaluation.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Values for the stack's own params (`--var name=value`).
    pub vars: IndexMap<String, Value>,
    /// Expression steps allowed before giving up (E0407).
    pub step_budget: u64,
    /// Deepest nesting of evaluation (E0411).
    pub max_depth: usize,
    /// Whether `policy` blocks are checked, and which soft ones are overridden.
    pub policies: PolicyMode,
}

impl Default for EvalOptions {
    fn default() -> EvalOptions {
        EvalOptions {
            vars: IndexMap::new(),
            step_budget: 20_000_000,
            max_depth: 1_000,
            policies: PolicyMode::default(),
        }
    }
}

/// An error already turned into a diagnostic; callers just stop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reported;

pub(crate) type R<T> = Result<T, Reported>;

/// Index of a module instance.
pub(crate) type InstId = usize;

/// A module instance: the stack itself, or one `use` (one per `for each` key).
pub(crate) struct Inst<'p> {
    module: ModuleId,
    /// Address prefix, such as `t["acme"]`; empty for the stack.
    prefix: String,
    /// The instance that wrote the `use`, and the declaration.
    parent: Option<(InstId, &'p crate::ast::UseDecl)>,
    /// `each` for the arguments, when the `use` has `for each`.
    each: Env,
}

/// What a dependency points at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Target {
    Resource(String),
    /// Every resource under a module instance prefix.
    Module(String),
}

pub(crate) type Deps = BTreeMap<Target, (Span, bool)>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SlotKey {
    Param(InstId, String),
    Let(InstId, String),
    Output(InstId, String),
    Attr(InstId, usize, Option<String>, String),
    Instances(InstId, usize),
    Children(InstId, String),
}

/// Instances of one resource declaration: key and `each` binding.
pub(crate) type Keys = Arc<keyed::Keyed<Env>>;

/// The module instances of one `use`: key and instance.
pub(crate) type Children = Arc<keyed::Keyed<InstId>>;

#[derive(Clone)]
pub(crate) enum Memo {
    Value(Value),
    Keys(Keys),
    Children(Children),
}

enum Slot {
    InProgress,
    Done(Memo, Deps),
    Failed,
}

/// Where an expression is evaluated: which module instance, which local bindings.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub inst: InstId,
    pub env: Env,
}

pub(crate) struct Evaluator<'p> {
    program: &'p Program,
    indexes: &'p [ModuleIndex<'p>],
    options: &'p EvalOptions,
    insts: Vec<Inst<'p>>,
    memo: FxHashMap<SlotKey, Slot>,
    /// Slots being computed, outermost first, with where each was needed. Their names are
    /// only written when a cycle is reported ([`Evaluator::slot_name`]): formatting one per
    /// read cost a tenth of evaluation at 1,000 tenants.
    active: Vec<(SlotKey, Span)>,
    deps: Vec<Deps>,
    diagnostics: Diagnostics,
    steps: u64,
    depth: usize,
    budget_spent: bool,
    checked_params: FxHashSet<(InstId, String)>,
    /// Every `policy` block met while visiting, with its module instance.
    policy_decls: Vec<(InstId, &'p crate::ast::PolicyDecl)>,
    /// Element-level dependencies of the slots whose values have them (see `parts.rs`).
    parts: FxHashMap<SlotKey, Arc<parts::Parts>>,
}

/// Evaluates `program`; returns the configuration (if evaluation got far enough) and diagnostics.
pub fn evaluate<'p>(
    program: &'p Program,
    indexes: &'p [ModuleIndex<'p>],
    options: &'p EvalOptions,
) -> (Option<Config>, Diagnostics) {
    let mut evaluator = Evaluator {
        program,
        indexes,
        options,
        insts: vec![Inst {
            module: 0,
            prefix: String::new(),
            parent: None,
            each: Env::empty(),
        }],
        memo: FxHashMap::default(),
        active: Vec::new(),
        deps: vec![Deps::new()],
        diagnostics: Diagnostics::new(),
        steps: 0,
        depth: 0,
        budget_spent: false,
        checked_params: FxHashSet::default(),
        policy_decls: Vec::new(),
        parts: FxHashMap::default(),
    };
    let config = evaluator.run();
    for moved in &config.moved {
        if config.resource(&moved.to).is_none() {
            evaluator.diagnostics.push(crate::errors::EvalError::BadMove {
                span: moved.span,
                message: format!("`to` names `{}`, which is not declared", moved.to),
                help: "`to` is the resource's new address: declare it, or correct the address (`obp validate` checks it, `obp plan` moves the state entry)".to_owned(),
            });
        }
    }
    let failed = evaluator.diagnostics.has_errors();
    (
        if failed { None } else { Some(config) },
        evaluator.diagnostics,
    )
}

impl<'p> Evaluator<'p> {
    pub(crate) fn report(&mut self, error: impl IntoDiagnostic) -> Reported {
        self.diagnostics.push(error);
        Reported
    }

    pub(crate) fn index(&self, inst: InstId) -> &'p ModuleIndex<'p> {
        &self.indexes[self.insts[inst].module]
    }

    /// Counts one step against the budget.
    pub(crate) fn step(&mut self, span: Span) -> R<()> {
        self.steps += 1;
        if self.steps > self.options.step_budget {
            if !self.budget_spent {
                self.budget_spent = true;
                return Err(self.report(EvalError::Budget {
                    span,
                    limit: self.options.step_budget,
                }));
            }
            return Err(Reported);
        }
        Ok(())
    }

    /// Runs `compute` at one nesting level deeper, refusing past the limit.
    pub(crate) fn nested<T>(
        &mut self,
        span: Span,
        compute: impl FnOnce(&mut Self) -> R<T>,
    ) -> R<T> {
        if self.depth >= self.options.max_depth {
            return Err(self.report(EvalError::TooDeep {
                span,
                limit: self.options.max_depth,
            }));
        }
        self.depth += 1;
        let result = compute(self);
        self.depth -= 1;
        result
    }

    /// Records that the value being computed reads `target`.
    pub(crate) fn depend(&mut self, target: Target, span: Span, explicit: bool) {
        if let Some(top) = self.deps.last_mut() {
            top.entry(target).or_insert((span, explicit));
        }
    }

    fn merge_deps(&mut self, deps: &Deps) {
        if let Some(top) = self.deps.last_mut() {
            for (target, info) in deps {
                top.entry(target.clone()).or_insert(*info);
            }
        }
    }

    /// Memoised evaluation of one slot, with cycle detection and dependency tracking.
    pub(crate) fn slot(
        &mut self,
        key: SlotKey,
        needed_at: Span,
        compute: impl FnOnce(&mut Self) -> R<Memo>,
    ) -> R<Memo> {
        match self.memo.get(&key) {
            Some(Slot::Done(memo, deps)) => {
                // Merged straight from the memo table: cloning a large dependency set on
                // every read made reading a shared value cost as much as computing it.
                if let Some(top) = self.deps.last_mut() {
                    for (target, info) in deps {
                        top.entry(target.clone()).or_insert(*info);
                    }
                }
                return Ok(memo.clone());
            }
            Some(Slot::Failed) => return Err(Reported),
            Some(Slot::InProgress) => return Err(self.cycle(&key, needed_at)),
            None => {}
        }
        self.memo.insert(key.clone(), Slot::InProgress);
        self.active.push((key.clone(), needed_at));
        self.deps.push(Deps::new());
        let result = self.nested(needed_at, compute);
        let deps = self.deps.pop().unwrap_or_default();
        self.active.pop();
        match result {
            Ok(memo) => {
                self.merge_deps(&deps);
                self.memo.insert(key, Slot::Done(memo.clone(), deps));
                Ok(memo)
            }
            Err(reported) => {
                self.memo.insert(key, Slot::Failed);
                Err(reported)
            }
        }
    }

    /// A finished slot's value, without merging its dependencies.
    pub(crate) fn memo_value(&self, key: &SlotKey) -> Option<Value> {
        match self.memo.get(key) {
            Some(Slot::Done(Memo::Value(value), _)) => Some(value.clone()),
            _ => None,
        }
    }

    /// Marks a finished slot as failed (a param whose `check` failed after it was computed).
    pub(crate) fn fail_slot(&mut self, key: SlotKey) {
        self.memo.insert(key, Slot::Failed);
    }

    fn cycle(&mut self, key: &SlotKey, needed_at: Span) -> Reported {
        let start = self.active.iter().position(|(k, _)| k == key).unwrap_or(0);
        let mut chain: Vec<String> = self.active[start..]
            .iter()
            .map(|(k, _)| self.slot_name(k))
            .collect();
        if let Some(first) = chain.first().cloned() {
            chain.push(first);
        }
        let first = self
            .active
            .get(start + 1)
            .map_or(needed_at, |(_, span)| *span);
        self.report(EvalError::Cycle {
            span: needed_at,
            first,
            chain,
        })
    }

    /// Like [`Evaluator::value_slot`], keeping the parts `compute` found.
    pub(crate) fn value_slot_parts(
        &mut self,
        key: SlotKey,
        needed_at: Span,
        compute: impl FnOnce(&mut Self) -> R<(Value, Option<Arc<parts::Parts>>)>,
    ) -> R<Value> {
        let slot = key.clone();
        self.value_slot(key, needed_at, |ev| {
            let (value, parts) = compute(ev)?;
            if let Some(parts) = parts {
                ev.parts.insert(slot, parts);
            }
            Ok(value)
        })
    }

    pub(crate) fn value_slot(
        &mut self,
        key: SlotKey,
        needed_at: Span,
        compute: impl FnOnce(&mut Self) -> R<Value>,
    ) -> R<Value> {
        match self.slot(key, needed_at, |ev| compute(ev).map(Memo::Value))? {
            Memo::Value(value) => Ok(value),
            _ => Err(Reported),
        }
    }

    /// A slot's name in cycle reports: `param tier`, `t["acme"].let size`,
    /// `k8s.deployment.web["acme"].spec`.
    fn slot_name(&self, key: &SlotKey) -> String {
        match key {
            SlotKey::Param(inst, name) => self.describe(*inst, &format!("param {name}")),
            SlotKey::Let(inst, name) => self.describe(*inst, &format!("let {name}")),
            SlotKey::Output(inst, name) => self.describe(*inst, &format!("output {name}")),
            SlotKey::Attr(inst, resource, key, attr) => {
                let decl = self.index(*inst).resources[*resource];
                let rtype = decl.rtype.joined();
                let address = self.address(*inst, &rtype, &decl.name.name, key.as_deref());
                format!("{address}.{attr}")
            }
            SlotKey::Instances(inst, resource) => {
                let decl = self.index(*inst).resources[*resource];
                let what = format!("for each of {}.{}", decl.rtype.joined(), decl.name.name);
                self.describe(*inst, &what)
            }
            SlotKey::Children(inst, alias) => {
                self.describe(*inst, &format!("for each of module {alias}"))
            }
        }
    }

    /// A name for messages: `param tier of t["acme"]`.
    pub(crate) fn describe(&self, inst: InstId, what: &str) -> String {
        let prefix = &self.insts[inst].prefix;
        if prefix.is_empty() {
            what.to_owned()
        } else {
            format!("{prefix}.{what}")
        }
    }
}
