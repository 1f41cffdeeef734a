//! Static checks before evaluation: declaration placement, names, function calls and their
//! arity, resource references, module arguments and outputs, and type names.
//!
//! Everything here is reported together, so one run shows all naming mistakes.

use crate::ast::{Expr, ExprKind, ForEach, ItemKind, Record, StrPart, UseDecl};
use crate::diagnostics::{suggest, Diagnostics};
use crate::errors::NameError;
use crate::index::ModuleIndex;
use crate::loader::{ModuleId, Program};
use crate::stdlib;
use crate::types;

/// The one builtin that is not a pure function: it makes a secret reference.
pub const SECRET_FN: &str = "secret";

/// Checks every module of `program`; `indexes[i]` belongs to `program.modules[i]`.
pub fn check(program: &Program, indexes: &[ModuleIndex<'_>], diagnostics: &mut Diagnostics) {
    for (id, index) in indexes.iter().enumerate() {
        let mut resolver = Resolver {
            program,
            indexes,
            module: id,
            index,
            scope: Vec::new(),
            errors: Vec::new(),
            duplicates: Vec::new(),
        };
        resolver.module();
        for error in resolver.errors {
            diagnostics.push(error);
        }
        for error in resolver.duplicates {
            diagnostics.push(error);
        }
        let mut type_errors = Vec::new();
        for param in index.params.values() {
            types::unknown_types(&param.ty, &index.types, &mut type_errors);
        }
        for alias in index.types.values() {
            types::unknown_types(alias, &index.types, &mut type_errors);
        }
        for error in type_errors {
            diagnostics.push(error);
        }
    }
}

struct Resolver<'a, 'p> {
    program: &'p Program,
    indexes: &'a [ModuleIndex<'p>],
    module: ModuleId,
    index: &'a ModuleIndex<'p>,
    /// Local names (lambda parameters, `each`, `resource` in policies), innermost last.
    scope: Vec<String>,
    errors: Vec<NameError>,
    /// Keys written twice in one record or block.
    duplicates: Vec<crate::errors::EvalError>,
}

impl Resolver<'_, '_> {
    fn module(&mut self) {
        let is_root = self.module == 0;
        let module = &self.program.modules[self.module];
        for item in self.index.items.clone() {
            match &item.kind {
                ItemKind::Stack(_) | ItemKind::Provider(_) | ItemKind::Backend(_) if !is_root => {
                    let what = match &item.kind {
                        ItemKind::Stack(_) => "`stack`",
                        ItemKind::Provider(_) => "`provider`",
                        _ => "`backend`",
                    };
                    self.errors.push(NameError::NotAllowed {
                        span: item.span,
                        what: what.to_owned(),
                        place: "in a module".to_owned(),
                        help: "declare it in the stack that uses this module".to_owned(),
                    });
                }
                ItemKind::Module(decl) if module.named && decl.name.joined() != module.name => {
                    self.errors.push(NameError::NotAllowed {
                        span: decl.name.span,
                        what: format!("`module {}`", decl.name.joined()),
                        place: format!("in the file imported as `{}`", module.name),
                        help: format!(
                            "write `module {}` or import the module by its own name",
                            module.name
                        ),
                    });
                }
                _ => {}
            }
            match &item.kind {
                ItemKind::Stack(decl) => self.optional_record(decl.body.as_ref()),
                ItemKind::Provider(decl) => self.record(&decl.body),
                ItemKind::Backend(decl) => self.record(&decl.body),
                ItemKind::Param(decl) => {
                    if let Some(default) = &decl.default {
                        self.expr(default);
                    }
                    for check in &decl.checks {
                        self.expr(&check.condition);
                        self.expr(&check.message);
                    }
                }
                ItemKind::Let(decl) => self.expr(&decl.value),
                ItemKind::Output(decl) => self.expr(&decl.value),
                ItemKind::Resource(decl) => {
                    let each = self.for_each(decl.for_each.as_ref());
                    self.record(&decl.body);
                    self.scope.truncate(self.scope.len() - each);
                }
                ItemKind::Use(decl) => self.use_decl(decl),
                ItemKind::Policy(decl) => {
                    self.scope.push("resource".to_owned());
                    self.scope.push("resources".to_owned());
                    for rule in &decl.rules {
                        self.expr(&rule.condition);
                        self.expr(&rule.message);
                    }
                    self.scope.truncate(self.scope.len() - 2);
                }
                ItemKind::Moved(decl) => self.record(&decl.body),
                ItemKind::Module(_) | ItemKind::Type(_) => {}
            }
        }
    }

    /// Checks a `for each` and binds `each` for what follows; returns how many names it bound.
    fn for_each(&mut self, for_each: Option<&ForEach>) -> usize {
        let Some(for_each) = for_each else { return 0 };
        self.expr(&for_each.collection);
        self.scope.push("each".to_owned());
        if let Some(key) = &for_each.key {
            self.expr(key);
        }
        1
    }

    fn use_decl(&mut self, decl: &UseDecl) {
        let each = self.for_each(decl.for_each.as_ref());
        if let Some(args) = &decl.args {
            self.record(args);
        }
        self.scope.truncate(self.scope.len() - each);
        let Some(target) = self.program.modules[self.module]
            .imports
            .get(&decl.source.span())
        else {
            return; // The loader reported why.
        };
        let target_index = &self.indexes[*target];
        let module_name = self.program.modules[*target].name.clone();
        let given: Vec<(String, crate::span::Span)> = decl
            .args
            .iter()
            .flat_map(|r| r.entries.iter())
            .filter_map(|e| e.key.plain().map(|k| (k, e.key.span())))
            .collect();
        for (name, span) in &given {
            if !target_index.params.contains_key(name.as_str()) {
                self.errors.push(NameError::UnknownArgument {
                    span: *span,
                    module: module_name.clone(),
                    name: name.clone(),
                    suggestion: suggest::did_you_mean(name, target_index.params.keys().copied()),
                });
            }
        }
        for (name, param) in &target_index.params {
            if param.default.is_none() && !given.iter().any(|(g, _)| g == name) {
                let span = decl.alias.span;
                self.errors.push(NameError::MissingArgument {
                    span,
                    param: param.name.span,
                    module: module_name.clone(),
                    name: (*name).to_owned(),
                });
            }
        }
    }

    fn optional_record(&mut self, record: Option<&Record>) {
        if let Some(record) = record {
            self.record(record);
        }
    }

    fn record(&mut self, record: &Record) {
        let mut seen: std::collections::HashMap<String, crate::span::Span> =
            std::collections::HashMap::new();
        for entry in &record.entries {
            if let Some(key) = entry.key.plain() {
                if let Some(first) = seen.get(&key) {
                    self.duplicates
                        .push(crate::errors::EvalError::DuplicateKey {
                            span: entry.key.span(),
                            first: *first,
                            key: key.clone(),
                        });
                } else {
                    seen.insert(key, entry.key.span());
                }
            }
            if let crate::ast::Key::Str(lit, _) = &entry.key {
                self.string_parts(&lit.parts);
            }
            self.expr(&entry.value);
        }
    }

    fn string_parts(&mut self, parts: &[StrPart]) {
        for part in parts {
            if let StrPart::Interp(expr) = part {
                self.expr(expr);
            }
        }
    }

    fn is_local(&self, name: &str) -> bool {
        self.scope.iter().any(|s| s == name)
    }

    fn expr(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Literal(_) => {}
            ExprKind::Str(lit) => self.string_parts(&lit.parts),
            ExprKind::List(items) => items.iter().for_each(|i| self.expr(i)),
            ExprKind::Record(record) => self.record(record),
            ExprKind::Var(ident) => self.name(ident),
            ExprKind::Member(base, field) => {
                if self.resource_reference(base, field) {
                    return;
                }
                self.module_output(base, field);
                self.expr(base);
            }
            ExprKind::Index(base, index) => {
                self.expr(base);
                self.expr(index);
            }
            ExprKind::Call(callee, args) => {
                self.call(callee, args.len(), expr.span);
                args.iter().for_each(|a| self.expr(a));
            }
            ExprKind::Unary(_, inner) | ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::Binary(_, lhs, rhs) => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::If(c, t, e) => {
                self.expr(c);
                self.expr(t);
                self.expr(e);
            }
            ExprKind::Match(subject, arms) => {
                self.expr(subject);
                arms.iter().for_each(|a| self.expr(&a.body));
            }
            ExprKind::Lambda(params, body) => {
                let count = params.len();
                self.scope.extend(params.iter().map(|p| p.name.clone()));
                self.expr(body);
                self.scope.truncate(self.scope.len() - count);
            }
        }
    }

    fn name(&mut self, ident: &crate::ast::Ident) {
        let name = ident.name.as_str();
        if self.is_local(name) || self.index.has_value(name) {
            return;
        }
        let help = if name == "each" {
            Some("`each` exists only inside a `for each` resource or `use`".to_owned())
        } else if stdlib::lookup(name).is_some() || name == SECRET_FN {
            Some(format!("`{name}` is a function: call it as `{name}(…)`"))
        } else {
            self.index
                .resource_types
                .iter()
                .find(|t| t.split('.').next() == Some(name))
                .map(|kind| format!("resource references are written `{kind}.<name>.<attribute>`"))
        };
        let candidates: Vec<&str> = self
            .scope
            .iter()
            .map(String::as_str)
            .chain(self.index.value_names())
            .collect();
        self.errors.push(NameError::UnknownName {
            span: ident.span,
            name: name.to_owned(),
            suggestion: suggest::did_you_mean(name, candidates),
            help,
        });
    }

    /// `type.kind.name` where `type.kind` is declared here; returns whether `base.field` was one.
    fn resource_reference(&mut self, base: &Expr, field: &crate::ast::Ident) -> bool {
        let ExprKind::Member(root, kind) = &base.kind else {
            return false;
        };
        let ExprKind::Var(provider) = &root.kind else {
            return false;
        };
        if self.is_local(&provider.name) || self.index.has_value(&provider.name) {
            return false;
        }
        let rtype = format!("{}.{}", provider.name, kind.name);
        if !self.index.resource_types.contains(&rtype) {
            return false;
        }
        if self.index.resource(&rtype, &field.name).is_none() {
            let names: Vec<&str> = self
                .index
                .resources
                .iter()
                .filter(|r| r.rtype.joined() == rtype)
                .map(|r| r.name.name.as_str())
                .collect();
            self.errors.push(NameError::UnknownResource {
                span: base.span.to(field.span),
                rtype,
                name: field.name.clone(),
                suggestion: suggest::did_you_mean(&field.name, names),
            });
        }
        true
    }

    /// `alias.output` or `alias[key].output` for a module imported here.
    fn module_output(&mut self, base: &Expr, field: &crate::ast::Ident) {
        let alias = match &base.kind {
            ExprKind::Var(alias) => alias,
            ExprKind::Index(inner, _) => match &inner.kind {
                ExprKind::Var(alias) => alias,
                _ => return,
            },
            _ => return,
        };
        if self.is_local(&alias.name) {
            return;
        }
        let Some(decl) = self.index.uses.get(alias.name.as_str()) else {
            return;
        };
        // `alias.x` on a `for each` module is a key lookup by field syntax, not an output.
        if decl.for_each.is_some() && matches!(base.kind, ExprKind::Var(_)) {
            return;
        }
        let Some(target) = self.program.modules[self.module]
            .imports
            .get(&decl.source.span())
        else {
            return;
        };
        let outputs = &self.indexes[*target].outputs;
        if !outputs.contains_key(field.name.as_str()) {
            self.errors.push(NameError::UnknownOutput {
                span: field.span,
                module: self.program.modules[*target].name.clone(),
                name: field.name.clone(),
                suggestion: suggest::did_you_mean(&field.name, outputs.keys().copied()),
            });
        }
    }

    fn call(&mut self, callee: &Expr, count: usize, span: crate::span::Span) {
        let ExprKind::Var(ident) = &callee.kind else {
            self.expr(callee);
            return;
        };
        let name = ident.name.as_str();
        if self.is_local(name) || self.index.has_value(name) {
            return; // A function value; checked when called.
        }
        let arity = if name == SECRET_FN {
            Some((1, Some(1)))
        } else {
            stdlib::arity(name)
        };
        let Some((min, max)) = arity else {
            let candidates = stdlib::FUNCTIONS.iter().map(|f| f.name).chain([SECRET_FN]);
            self.errors.push(NameError::UnknownFunction {
                span: ident.span,
                name: name.to_owned(),
                suggestion: suggest::did_you_mean(name, candidates),
            });
            return;
        };
        if count < min || max.is_some_and(|max| count > max) {
            let expected = match max {
                Some(max) if max == min => min.to_string(),
                Some(max) => format!("{min} to {max}"),
                None => format!("at least {min}"),
            };
            self.errors.push(NameError::Arity {
                span,
                name: format!("`{name}`"),
                expected,
                found: count,
            });
        }
    }
}
