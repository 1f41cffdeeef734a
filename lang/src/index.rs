//! Per-module declaration tables, built once and shared by the resolver and the evaluator;
//! duplicate declarations are reported here.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;

use crate::ast::{
    BackendDecl, Item, ItemKind, LetDecl, ModuleDecl, MovedDecl, OutputDecl, ParamDecl, PolicyDecl,
    ProviderDecl, ResourceDecl, StackDecl, UseDecl,
};
use crate::errors::NameError;
use crate::loader::Module;
use crate::span::Span;
use crate::types::Aliases;

/// What one module declares, by kind.
#[derive(Default)]
pub struct ModuleIndex<'p> {
    pub module_decl: Option<(&'p ModuleDecl, Span)>,
    pub stack: Option<(&'p StackDecl, Span)>,
    pub backend: Option<(&'p BackendDecl, Span)>,
    pub providers: Vec<(&'p ProviderDecl, Span)>,
    pub params: IndexMap<&'p str, &'p ParamDecl>,
    pub lets: IndexMap<&'p str, &'p LetDecl>,
    pub uses: IndexMap<&'p str, &'p UseDecl>,
    pub outputs: IndexMap<&'p str, &'p OutputDecl>,
    /// Resources in declaration order; `resource_ids` finds one by type and name.
    pub resources: Vec<&'p ResourceDecl>,
    pub resource_ids: HashMap<(String, String), usize>,
    pub resource_types: HashSet<String>,
    pub types: Aliases<'p>,
    pub policies: Vec<&'p PolicyDecl>,
    pub moved: Vec<(&'p MovedDecl, Span)>,
    /// Every item with its documentation, for docs and tooling.
    pub items: Vec<&'p Item>,
}

impl<'p> ModuleIndex<'p> {
    /// Indexes `module`, pushing an error for every name declared twice.
    pub fn build(module: &'p Module, errors: &mut Vec<NameError>) -> ModuleIndex<'p> {
        let mut index = ModuleIndex::default();
        // Params, lets and module aliases share one namespace: all are plain names in expressions.
        let mut values: HashMap<&str, Span> = HashMap::new();
        let mut outputs: HashMap<&str, Span> = HashMap::new();
        let mut types: HashMap<&str, Span> = HashMap::new();
        let mut resources: HashMap<(String, String), Span> = HashMap::new();
        let mut providers: HashMap<String, Span> = HashMap::new();
        let mut duplicate = |seen: &mut HashMap<&'p str, Span>, name: &'p str, span: Span| {
            if let Some(first) = seen.get(name) {
                errors.push(NameError::Duplicate {
                    span,
                    first: *first,
                    name: name.to_owned(),
                });
                false
            } else {
                seen.insert(name, span);
                true
            }
        };
        let mut other_duplicates = Vec::new();
        for file in &module.files {
            for item in &file.items {
                index.items.push(item);
                match &item.kind {
                    ItemKind::Module(decl) => {
                        if let Some((_, first)) = index.module_decl {
                            other_duplicates.push((item.span, first, "module".to_owned()));
                        } else {
                            index.module_decl = Some((decl, item.span));
                        }
                    }
                    ItemKind::Stack(decl) => {
                        if let Some((_, first)) = index.stack {
                            other_duplicates.push((decl.name.span, first, "stack".to_owned()));
                        } else {
                            index.stack = Some((decl, decl.name.span));
                        }
                    }
                    ItemKind::Backend(decl) => {
                        if let Some((_, first)) = index.backend {
                            other_duplicates.push((decl.kind.span, first, "backend".to_owned()));
                        } else {
                            index.backend = Some((decl, decl.kind.span));
                        }
                    }
                    ItemKind::Provider(decl) => {
                        let name = decl.alias.as_ref().unwrap_or(&decl.kind);
                        let key = name.name.clone();
                        if let Some(first) = providers.get(&key) {
                            other_duplicates.push((name.span, *first, format!("provider {key}")));
                        } else {
                            providers.insert(key, name.span);
                            index.providers.push((decl, item.span));
                        }
                    }
                    ItemKind::Param(decl) => {
                        if duplicate(&mut values, &decl.name.name, decl.name.span) {
                            index.params.insert(&decl.name.name, decl);
                        }
                    }
                    ItemKind::Let(decl) => {
                        if duplicate(&mut values, &decl.name.name, decl.name.span) {
                            index.lets.insert(&decl.name.name, decl);
                        }
                    }
                    ItemKind::Use(decl) => {
                        if duplicate(&mut values, &decl.alias.name, decl.alias.span) {
                            index.uses.insert(&decl.alias.name, decl);
                        }
                    }
                    ItemKind::Output(decl) => {
                        if duplicate(&mut outputs, &decl.name.name, decl.name.span) {
                            index.outputs.insert(&decl.name.name, decl);
                        }
                    }
                    ItemKind::Type(decl) => {
                        if duplicate(&mut types, &decl.name.name, decl.name.span) {
                            index.types.insert(decl.name.name.clone(), &decl.ty);
                        }
                    }
                    ItemKind::Resource(decl) => {
                        let key = (decl.rtype.joined(), decl.name.name.clone());
                        if let Some(first) = resources.get(&key) {
                            other_duplicates.push((
                                decl.name.span,
                                *first,
                                format!("{}.{}", key.0, key.1),
                            ));
                        } else {
                            resources.insert(key.clone(), decl.name.span);
                            index.resource_types.insert(key.0.clone());
                            index.resource_ids.insert(key, index.resources.len());
                            index.resources.push(decl);
                        }
                    }
                    ItemKind::Policy(decl) => {
                        if let Some(first) = index
                            .policies
                            .iter()
                            .find(|p| p.name.name == decl.name.name)
                        {
                            other_duplicates.push((
                                decl.name.span,
                                first.name.span,
                                format!("policy {}", decl.name.name),
                            ));
                        } else {
                            index.policies.push(decl);
                        }
                    }
                    ItemKind::Moved(decl) => index.moved.push((decl, item.span)),
                }
            }
        }
        for (span, first, name) in other_duplicates {
            errors.push(NameError::Duplicate { span, first, name });
        }
        index
    }

    /// Whether `name` is a module-level value (param, let or module alias).
    pub fn has_value(&self, name: &str) -> bool {
        self.params.contains_key(name)
            || self.lets.contains_key(name)
            || self.uses.contains_key(name)
    }

    /// All module-level value names, for suggestions.
    pub fn value_names(&self) -> impl Iterator<Item = &str> {
        self.params
            .keys()
            .chain(self.lets.keys())
            .chain(self.uses.keys())
            .copied()
    }

    pub fn resource(&self, rtype: &str, name: &str) -> Option<usize> {
        self.resource_ids
            .get(&(rtype.to_owned(), name.to_owned()))
            .copied()
    }
}
