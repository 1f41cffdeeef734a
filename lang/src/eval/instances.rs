//! `for each` expansion of resources and modules, meta-arguments (`depends_on`, `lifecycle`,
//! `provider`), and the walk that assembles the final [`Config`].

use std::sync::Arc;

use indexmap::IndexMap;

use super::config::{
    BackendConfig, Config, Dependency, Instance, Lifecycle, Moved, PolicyInfo, ProviderConfig,
    StackInfo,
};
use super::keyed::Keyed;
use super::refs::{flatten, key_suffix, key_text, Step};
use super::{
    Children, Ctx, Deps, Evaluator, Inst, InstId, Keys, Memo, Reported, SlotKey, Target, R,
};
use crate::ast::{Expr, ExprKind, ForEach, Record};
use crate::diagnostics::suggest;
use crate::errors::EvalError;
use crate::span::Span;
use crate::types::describe;
use crate::value::{Env, Value};

/// Resource body entries that configure obp rather than the resource.
pub(crate) const META: &[&str] = &["depends_on", "lifecycle", "provider"];

const LIFECYCLE_KEYS: &[&str] = &[
    "prevent_destroy",
    "prevent_destroy_help",
    "create_before_destroy",
    "ignore_changes",
];

impl<'p> Evaluator<'p> {
    /// Expands a `for each` into (key, env-with-each) pairs, in collection order.
    fn expand(
        &mut self,
        for_each: &ForEach,
        inst: InstId,
        outer: &Env,
    ) -> R<Vec<(Option<String>, Env)>> {
        let ctx = Ctx {
            inst,
            env: outer.clone(),
        };
        let collection = self.eval(&for_each.collection, &ctx)?;
        if collection.contains_unknown() {
            return Err(self.report(EvalError::Unknown {
                span: for_each.collection.span,
                what: "the `for each` collection".to_owned(),
                help: "instances must be known while planning: build the collection from params and lets, not from computed attributes".to_owned(),
            }));
        }
        let elements: Vec<(Option<String>, Value)> = match collection {
            Value::List(items) => items.iter().map(|v| (None, v.clone())).collect(),
            Value::Record(fields) => fields
                .iter()
                .map(|(k, v)| (Some(k.clone()), v.clone()))
                .collect(),
            other => {
                return Err(self.report(EvalError::ForEach {
                    span: for_each.collection.span,
                    message: format!(
                        "`for each` needs a list or a map, found {}",
                        describe(&other)
                    ),
                    help: "write a list of names, a list of records with a `name`, or a map"
                        .to_owned(),
                }))
            }
        };
        let mut out: Vec<(Option<String>, Env)> = Vec::with_capacity(elements.len());
        let mut seen: IndexMap<String, usize> = IndexMap::new();
        for (position, (map_key, value)) in elements.into_iter().enumerate() {
            let key = match (&for_each.key, map_key, &value) {
                (Some(key_expr), _, _) => {
                    let each = record([("index", Value::Int(position as i64)), ("value", value.clone())]);
                    let key_ctx = Ctx { inst, env: outer.bind("each", each) };
                    let key = self.eval(key_expr, &key_ctx)?;
                    match key {
                        Value::Str(_) | Value::Int(_) => key_text(&key),
                        other => {
                            return Err(self.report(EvalError::ForEach {
                                span: key_expr.span,
                                message: format!("a `for each` key must be a string or an integer, found {}", describe(&other)),
                                help: "make the key expression return a string".to_owned(),
                            }))
                        }
                    }
                }
                (None, Some(map_key), _) => map_key,
                (None, None, Value::Str(text)) => text.clone(),
                (None, None, Value::Record(fields)) => match fields.get("name") {
                    Some(Value::Str(name)) => name.clone(),
                    _ => {
                        return Err(self.report(EvalError::ForEach {
                            span: for_each.collection.span,
                            message: format!("element {position} has no string field `name` to key it by"),
                            help: "add `key EXPR` after the collection, such as `for each tenants key each.value.id`".to_owned(),
                        }))
                    }
                },
                (None, None, other) => {
                    return Err(self.report(EvalError::ForEach {
                        span: for_each.collection.span,
                        message: format!("cannot derive a stable key from {}", describe(other)),
                        help: "use a list of strings, a map, or add `key EXPR`".to_owned(),
                    }))
                }
            };
            if key.is_empty() {
                return Err(self.report(EvalError::ForEach {
                    span: for_each.collection.span,
                    message: format!("element {position} has an empty key"),
                    help: "every instance needs a non-empty key".to_owned(),
                }));
            }
            if let Some(first) = seen.get(&key) {
                return Err(self.report(EvalError::ForEach {
                    span: for_each.collection.span,
                    message: format!(
                        "duplicate key {} (elements {first} and {position})",
                        key_suffix(&key)
                    ),
                    help: "keys name instances in state, so they must be unique".to_owned(),
                }));
            }
            seen.insert(key.clone(), position);
            let each = record([
                ("key", Value::Str(key.clone())),
                ("value", value),
                ("index", Value::Int(position as i64)),
            ]);
            out.push((Some(key), outer.bind("each", each)));
        }
        Ok(out)
    }

    /// The instances of resource declaration `resource` in module instance `inst`.
    pub(crate) fn resource_keys(&mut self, inst: InstId, resource: usize, span: Span) -> R<Keys> {
        let decl = self.index(inst).resources[resource];
        let memo = self.slot(SlotKey::Instances(inst, resource), span, |ev| {
            let keys = match &decl.for_each {
                None => vec![(None, Env::empty())],
                Some(for_each) => ev.expand(for_each, inst, &Env::empty())?,
            };
            Ok(Memo::Keys(Arc::new(Keyed::new(keys))))
        })?;
        match memo {
            Memo::Keys(keys) => Ok(keys),
            _ => Err(Reported),
        }
    }

    /// The module instances created by `use … as alias` in `inst`.
    pub(crate) fn children(&mut self, inst: InstId, alias: &str, span: Span) -> R<Children> {
        let Some(decl) = self.index(inst).uses.get(alias).copied() else {
            return Err(Reported);
        };
        let Some(module) = self.program.modules[self.insts[inst].module]
            .imports
            .get(&decl.source.span())
            .copied()
        else {
            return Err(Reported); // The loader reported why.
        };
        let memo = self.slot(SlotKey::Children(inst, alias.to_owned()), span, |ev| {
            let keys = match &decl.for_each {
                None => vec![(None, Env::empty())],
                Some(for_each) => ev.expand(for_each, inst, &Env::empty())?,
            };
            let parent_prefix = ev.insts[inst].prefix.clone();
            let mut children = Vec::with_capacity(keys.len());
            for (key, env) in keys {
                let mut prefix = if parent_prefix.is_empty() {
                    alias.to_owned()
                } else {
                    format!("{parent_prefix}.{alias}")
                };
                if let Some(key) = &key {
                    prefix.push_str(&key_suffix(key));
                }
                let id = ev.insts.len();
                ev.insts.push(Inst {
                    module,
                    prefix,
                    parent: Some((inst, decl)),
                    each: env,
                });
                children.push((key, id));
            }
            Ok(Memo::Children(Arc::new(Keyed::new(children))))
        })?;
        match memo {
            Memo::Children(children) => Ok(children),
            _ => Err(Reported),
        }
    }

    /// Evaluates the whole program.
    pub(crate) fn run(&mut self) -> Config {
        let mut config = Config::default();
        self.visit(0, &mut config);
        let ctx = Ctx {
            inst: 0,
            env: Env::empty(),
        };
        let root = self.index(0);
        if let Some((decl, span)) = root.stack {
            let attrs = self.body(decl.body.as_ref(), &ctx).unwrap_or_default();
            config.stack = Some(StackInfo {
                name: decl.name.name.clone(),
                attrs,
                span,
            });
        }
        for (decl, span) in root.providers.clone() {
            self.deps.push(Deps::new());
            let attrs = self.body(Some(&decl.body), &ctx);
            let deps = self.deps.pop().unwrap_or_default();
            if let Ok(attrs) = attrs {
                config.providers.push(ProviderConfig {
                    kind: decl.kind.name.clone(),
                    alias: decl.alias.as_ref().map(|a| a.name.clone()),
                    attrs,
                    deps: deps
                        .keys()
                        .filter_map(|t| match t {
                            Target::Resource(a) => Some(a.clone()),
                            Target::Module(_) => None,
                        })
                        .collect(),
                    span,
                });
            }
        }
        if let Some((decl, span)) = root.backend {
            if let Ok(attrs) = self.body(Some(&decl.body), &ctx) {
                config.backend = Some(BackendConfig {
                    kind: decl.kind.name.clone(),
                    attrs,
                    span,
                });
            }
        }
        for decl in root.outputs.values() {
            if let Ok(value) = self.output(0, &decl.name, decl.name.span) {
                if value.contains_func() {
                    self.report(EvalError::Operands {
                        span: decl.value.span,
                        message: format!(
                            "output `{}` is a function; outputs must be data",
                            decl.name.name
                        ),
                    });
                    continue;
                }
                config.outputs.insert(decl.name.name.clone(), value);
            }
        }
        self.expand_module_deps(&mut config);
        if !self.diagnostics.has_errors() {
            self.check_policies(&mut config);
        }
        config
    }

    fn body(&mut self, body: Option<&Record>, ctx: &Ctx) -> R<IndexMap<String, Value>> {
        match body {
            Some(record) => self.record(record, ctx),
            None => Ok(IndexMap::new()),
        }
    }

    /// Evaluates one module instance and, depth-first, the instances it uses.
    fn visit(&mut self, inst: InstId, config: &mut Config) {
        let index = self.index(inst);
        let ctx = Ctx {
            inst,
            env: Env::empty(),
        };
        for (name, decl) in &index.params {
            let _ = self.param(inst, name, decl.name.span);
        }
        for decl in index.lets.values() {
            let _ = self.var(&decl.name, &ctx);
        }
        for resource in 0..index.resources.len() {
            self.resource_instances(inst, resource, config);
        }
        for decl in index.outputs.values() {
            let _ = self.output(inst, &decl.name, decl.name.span);
        }
        let prefix = self.insts[inst].prefix.clone();
        for decl in &index.policies {
            self.policy_decls.push((inst, decl));
            config.policies.push(PolicyInfo {
                name: decl.name.name.clone(),
                level: decl
                    .level
                    .as_ref()
                    .map_or_else(|| "hard".to_owned(), |l| l.name.clone()),
                module: prefix.clone(),
                rules: decl.rules.len(),
                span: decl.name.span,
            });
        }
        for (decl, span) in &index.moved {
            if let Ok(Some(moved)) = self.moved(&decl.body, *span, &ctx) {
                config.moved.push(moved);
            }
        }
        for alias in index.uses.keys() {
            let span = index.uses[alias].alias.span;
            if let Ok(children) = self.children(inst, alias, span) {
                for (_, child) in children.iter() {
                    self.visit(*child, config);
                }
            }
        }
    }

    fn moved(&mut self, body: &Record, span: Span, ctx: &Ctx) -> R<Option<Moved>> {
        let fields = self.record(body, ctx)?;
        let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
        match (text("from"), text("to")) {
            (Some(from), Some(to)) if fields.len() == 2 => {
                if let Some(bad) = [&from, &to].into_iter().find(|a| !is_address(a)) {
                    return Err(self.report(EvalError::BadMove {
                        span,
                        message: format!("{bad:?} is not a resource address"),
                        help: "an address is `TYPE.NAME`, optionally with `[\"key\"]` and module instances before it, such as `postgres.role.owner` or `t[\"acme\"].postgres.role.owner`".to_owned(),
                    }));
                }
                let prefix = &self.insts[ctx.inst].prefix;
                let qualify = |a: String| {
                    if prefix.is_empty() {
                        a
                    } else {
                        format!("{prefix}.{a}")
                    }
                };
                Ok(Some(Moved {
                    from: qualify(from),
                    to: qualify(to),
                    span,
                }))
            }
            _ => Err(self.report(EvalError::MetaArgument {
                span,
                message: "`moved` needs exactly `from` and `to`, both address strings".to_owned(),
                help: "write `moved { from = \"postgres.role.old\" to = \"postgres.role.new\" }`"
                    .to_owned(),
            })),
        }
    }

    /// Evaluates every instance of one resource declaration into `config`.
    fn resource_instances(&mut self, inst: InstId, resource: usize, config: &mut Config) {
        let decl = self.index(inst).resources[resource];
        let span = decl.name.span;
        let Ok(keys) = self.resource_keys(inst, resource, span) else {
            return;
        };
        let rtype = decl.rtype.joined();
        // The same for every instance: written once per declaration, shared by all.
        let attr_spans = Arc::new(attribute_spans(&decl.body));
        for (key, env) in keys.iter() {
            let address = self.address(inst, &rtype, &decl.name.name, key.as_deref());
            self.deps.push(Deps::new());
            // The `for each` collection's own references are dependencies too.
            let _ = self.resource_keys(inst, resource, span);
            let mut attrs = IndexMap::new();
            let mut failed = false;
            let ctx = Ctx {
                inst,
                env: env.clone(),
            };
            for entry in &decl.body.entries {
                let Some(name) = entry.key.plain() else {
                    self.report(EvalError::MetaArgument {
                        span: entry.key.span(),
                        message: "resource attribute names cannot be interpolated".to_owned(),
                        help: "write the attribute name literally; build dynamic keys inside a nested record".to_owned(),
                    });
                    failed = true;
                    continue;
                };
                if META.contains(&name.as_str()) {
                    continue;
                }
                match self.attribute(inst, resource, key.clone(), &name, entry.span) {
                    Ok(Some(value)) => {
                        if value.contains_func() {
                            self.report(EvalError::Operands {
                                span: entry.value.span,
                                message: format!(
                                    "attribute `{name}` is a function; attributes must be data"
                                ),
                            });
                            failed = true;
                        }
                        attrs.insert(name, value);
                    }
                    Ok(None) => {}
                    Err(Reported) => failed = true,
                }
            }
            let explicit = self.depends_on(decl.body.get("depends_on").map(|e| &e.value), &ctx);
            let lifecycle = self.lifecycle(decl.body.get("lifecycle").map(|e| &e.value), &ctx);
            let provider = self.provider_meta(decl.body.get("provider").map(|e| &e.value), &ctx);
            let mut deps = self.deps.pop().unwrap_or_default();
            if let Ok(explicit) = &explicit {
                for (target, span) in explicit {
                    deps.insert(target.clone(), (*span, true));
                }
            }
            let (Ok(lifecycle), Ok(provider)) = (lifecycle, provider) else {
                continue;
            };
            if failed || explicit.is_err() {
                continue;
            }
            let deps = deps
                .into_iter()
                .filter(|(t, _)| *t != Target::Resource(address.clone()))
                .map(|(target, (span, explicit))| match target {
                    Target::Resource(address) => Dependency {
                        address,
                        explicit,
                        span,
                    },
                    // Expanded once every instance is known.
                    Target::Module(prefix) => Dependency {
                        address: format!("module:{prefix}"),
                        explicit,
                        span,
                    },
                })
                .collect();
            config.resources.push(Instance {
                address,
                module: self.insts[inst].prefix.clone(),
                rtype: rtype.clone(),
                name: decl.name.name.clone(),
                key: key.clone(),
                provider: provider.unwrap_or_else(|| decl.rtype.provider.name.clone()),
                attrs,
                deps,
                lifecycle,
                span,
                attr_spans: attr_spans.clone(),
            });
        }
    }

    /// `depends_on = [postgres.role.owner, t, t["acme"], k8s.job.init["x"]]`
    fn depends_on(&mut self, value: Option<&Expr>, ctx: &Ctx) -> R<Vec<(Target, Span)>> {
        let Some(value) = value else {
            return Ok(Vec::new());
        };
        let ExprKind::List(items) = &value.kind else {
            return Err(self.report(EvalError::MetaArgument {
                span: value.span,
                message: "`depends_on` must be a list of resources or modules".to_owned(),
                help: "write `depends_on = [postgres.database.db, backup]`".to_owned(),
            }));
        };
        let mut targets = Vec::new();
        for item in items {
            targets.extend(self.dependency_target(item, ctx)?);
        }
        Ok(targets)
    }

    fn dependency_target(&mut self, item: &Expr, ctx: &Ctx) -> R<Vec<(Target, Span)>> {
        let (root, steps) = flatten(item);
        let bad = |ev: &mut Self| {
            Err(ev.report(EvalError::MetaArgument {
                span: item.span,
                message: "a `depends_on` entry must name a resource (`type.kind.name`) or a module alias".to_owned(),
                help: "references to attributes already create dependencies; list only what has no reference".to_owned(),
            }))
        };
        let ExprKind::Var(ident) = &root.kind else {
            return bad(self);
        };
        let index = self.index(ctx.inst);
        if index.uses.contains_key(ident.name.as_str()) {
            let children = self.children(ctx.inst, &ident.name, ident.span)?;
            return match steps.as_slice() {
                [] => Ok(children
                    .iter()
                    .map(|(_, id)| (Target::Module(self.insts[*id].prefix.clone()), item.span))
                    .collect()),
                [Step::Index(key_expr)] => {
                    let key = self.eval(key_expr, ctx)?;
                    let key = key_text(&key);
                    match children.get(Some(&key)) {
                        Some(id) => Ok(vec![(
                            Target::Module(self.insts[*id].prefix.clone()),
                            item.span,
                        )]),
                        None => Err(self.report(EvalError::Missing {
                            span: key_expr.span,
                            message: format!(
                                "module `{}` has no instance {}",
                                ident.name,
                                key_suffix(&key)
                            ),
                            suggestion: None,
                        })),
                    }
                }
                _ => bad(self),
            };
        }
        let (Some(Step::Field(kind)), Some(Step::Field(name))) = (steps.first(), steps.get(1))
        else {
            return bad(self);
        };
        let rtype = format!("{}.{}", ident.name, kind.name);
        let Some(resource) = index.resource(&rtype, &name.name) else {
            let names: Vec<&str> = index
                .resources
                .iter()
                .filter(|r| r.rtype.joined() == rtype)
                .map(|r| r.name.name.as_str())
                .collect();
            return Err(self.report(crate::errors::NameError::UnknownResource {
                span: item.span,
                rtype,
                name: name.name.clone(),
                suggestion: suggest::did_you_mean(&name.name, names),
            }));
        };
        let keys = self.resource_keys(ctx.inst, resource, item.span)?;
        match &steps[2..] {
            [] => Ok(keys
                .iter()
                .map(|(key, _)| {
                    (
                        Target::Resource(self.address(
                            ctx.inst,
                            &rtype,
                            &name.name,
                            key.as_deref(),
                        )),
                        item.span,
                    )
                })
                .collect()),
            [Step::Index(key_expr)] => {
                let key = self.eval(key_expr, ctx)?;
                let key = key_text(&key);
                if !keys.contains(&key) {
                    return Err(self.report(EvalError::Missing {
                        span: key_expr.span,
                        message: format!(
                            "`{rtype}.{}` has no instance {}",
                            name.name,
                            key_suffix(&key)
                        ),
                        suggestion: None,
                    }));
                }
                Ok(vec![(
                    Target::Resource(self.address(ctx.inst, &rtype, &name.name, Some(&key))),
                    item.span,
                )])
            }
            _ => bad(self),
        }
    }

    fn lifecycle(&mut self, value: Option<&Expr>, ctx: &Ctx) -> R<Lifecycle> {
        let Some(value) = value else {
            return Ok(Lifecycle::default());
        };
        let evaluated = self.eval(value, ctx)?;
        let Value::Record(fields) = evaluated else {
            return Err(self.report(EvalError::MetaArgument {
                span: value.span,
                message: "`lifecycle` must be a block".to_owned(),
                help: "write `lifecycle { prevent_destroy = true }`".to_owned(),
            }));
        };
        let mut lifecycle = Lifecycle::default();
        for (name, field) in std::sync::Arc::unwrap_or_clone(fields) {
            match (name.as_str(), field) {
                ("prevent_destroy", Value::Bool(b)) => lifecycle.prevent_destroy = b,
                ("prevent_destroy_help", Value::Str(text)) => lifecycle.prevent_destroy_help = Some(text),
                ("create_before_destroy", Value::Bool(b)) => lifecycle.create_before_destroy = b,
                ("ignore_changes", Value::List(items)) if items.iter().all(|i| i.as_str().is_some()) => {
                    lifecycle.ignore_changes = items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect();
                }
                (known, other) if LIFECYCLE_KEYS.contains(&known) => {
                    return Err(self.report(EvalError::MetaArgument {
                        span: value.span,
                        message: format!("`lifecycle.{known}` has the wrong type ({})", describe(&other)),
                        help: "prevent_destroy and create_before_destroy are bools; prevent_destroy_help is a string; ignore_changes is a list of attribute paths such as \"spec.replicas\"".to_owned(),
                    }))
                }
                (unknown, _) => {
                    let help = suggest::did_you_mean(unknown, LIFECYCLE_KEYS.iter().copied())
                        .unwrap_or_else(|| format!("known options: {}", LIFECYCLE_KEYS.join(", ")));
                    return Err(self.report(EvalError::MetaArgument {
                        span: value.span,
                        message: format!("unknown lifecycle option `{unknown}`"),
                        help,
                    }));
                }
            }
        }
        Ok(lifecycle)
    }

    fn provider_meta(&mut self, value: Option<&Expr>, ctx: &Ctx) -> R<Option<String>> {
        let Some(value) = value else { return Ok(None) };
        match self.eval(value, ctx)? {
            Value::Str(name) if !name.is_empty() => Ok(Some(name)),
            other => Err(self.report(EvalError::MetaArgument {
                span: value.span,
                message: format!("`provider` must name a provider configuration, found {}", describe(&other)),
                help: "write `provider = \"alias\"` where the stack declares `provider KIND as alias { … }`".to_owned(),
            })),
        }
    }

    /// Replaces `module:PREFIX` dependencies with every resource under that prefix.
    fn expand_module_deps(&self, config: &mut Config) {
        let addresses: Vec<(String, String)> = config
            .resources
            .iter()
            .map(|r| (r.address.clone(), r.module.clone()))
            .collect();
        for resource in &mut config.resources {
            let mut expanded: Vec<Dependency> = Vec::new();
            for dep in resource.deps.drain(..) {
                match dep.address.strip_prefix("module:") {
                    Some(prefix) => {
                        for (address, module) in &addresses {
                            let inside =
                                module == prefix || module.starts_with(&format!("{prefix}."));
                            if inside && *address != resource.address {
                                expanded.push(Dependency {
                                    address: address.clone(),
                                    explicit: dep.explicit,
                                    span: dep.span,
                                });
                            }
                        }
                    }
                    None => expanded.push(dep),
                }
            }
            expanded.sort_by(|a, b| a.address.cmp(&b.address));
            expanded.dedup_by(|a, b| a.address == b.address);
            resource.deps = expanded;
        }
    }
}

fn record<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::record(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Where each attribute of a resource body is written, and the fields inside it.
fn attribute_spans(body: &Record) -> IndexMap<String, Span> {
    let mut spans = IndexMap::new();
    for entry in &body.entries {
        let Some(name) = entry.key.plain() else {
            continue;
        };
        if META.contains(&name.as_str()) {
            continue;
        }
        spans.insert(name.clone(), entry.span);
        nested_spans(&name, &entry.value, &mut spans);
    }
    spans
}

/// Spans of the fields written literally inside an attribute (`spec.template.spec
/// .containers[0].image`), so later phases can point at the exact line of a nested field.
fn nested_spans(prefix: &str, expr: &Expr, out: &mut IndexMap<String, Span>) {
    match &expr.kind {
        ExprKind::Record(record) => {
            for entry in &record.entries {
                let Some(key) = entry.key.plain() else {
                    continue;
                };
                let path = format!("{prefix}.{key}");
                out.insert(path.clone(), entry.span);
                nested_spans(&path, &entry.value, out);
            }
        }
        ExprKind::List(items) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("{prefix}[{i}]");
                out.insert(path.clone(), item.span);
                nested_spans(&path, item, out);
            }
        }
        ExprKind::Paren(inner) => nested_spans(prefix, inner, out),
        _ => {}
    }
}

/// Whether `text` has the shape of a resource address: module instances (`alias` or
/// `alias["key"]`), then `provider.kind.name`, the name optionally keyed (`["key"]`).
/// Identifiers are letters, digits, `_` and `-`, starting with a letter or `_`; keys are
/// quoted and hold no `"`, backslash or control character.
pub(crate) fn is_address(text: &str) -> bool {
    let mut segments = 0;
    let mut rest = text;
    loop {
        let ident_len = rest
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
            .map_or(rest.len(), |(i, _)| i);
        let ident = &rest[..ident_len];
        if !ident.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return false;
        }
        segments += 1;
        rest = &rest[ident_len..];
        if let Some(keyed) = rest.strip_prefix("[\"") {
            let Some(end) = keyed.find('"') else {
                return false;
            };
            let key = &keyed[..end];
            if key.chars().any(|c| c == '\\' || c.is_control()) {
                return false;
            }
            rest = match keyed[end + 1..].strip_prefix(']') {
                Some(after) => after,
                None => return false,
            };
        }
        match rest.strip_prefix('.') {
            Some(after) => rest = after,
            None => return rest.is_empty() && segments >= 3,
        }
    }
}
