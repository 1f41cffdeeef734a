//! Top-level declarations: the file's items one after another, headers on one line,
//! bodies one entry per line, param checks and policy rules on lines of their own.

use super::body::{Body, Node};
use super::printer::Printer;
use super::spans;
use super::strings::literal;
use super::types::type_expr;
use crate::ast::{
    Check, File, ForEach, Item, ItemKind, Literal, ModuleSource, ParamDecl, PolicyDecl,
    PolicyEffect, PolicyRule, Record,
};

impl Printer<'_> {
    /// The whole file: items with the comments between them, then any at the end.
    pub(super) fn file(&mut self, file: &File) {
        let close = u32::try_from(self.source.len()).unwrap_or(u32::MAX);
        let nodes = file.items.iter().map(Node::Item).collect();
        self.body(&Body {
            open: 0,
            close,
            nodes,
        });
        self.leftover_comments();
    }

    pub(super) fn item(&mut self, item: &Item) {
        match &item.kind {
            ItemKind::Module(module) => {
                self.keyword("module");
                self.write(&module.name.joined());
            }
            ItemKind::Stack(stack) => {
                self.keyword("stack");
                self.write(&stack.name.name);
                if let Some(body) = &stack.body {
                    self.decl_body(body);
                }
            }
            ItemKind::Provider(provider) => {
                self.keyword("provider");
                self.write(&provider.kind.name);
                if let Some(alias) = &provider.alias {
                    self.write(" as ");
                    self.write(&alias.name);
                }
                self.decl_body(&provider.body);
            }
            ItemKind::Backend(backend) => {
                self.keyword("backend");
                self.write(&backend.kind.name);
                self.decl_body(&backend.body);
            }
            ItemKind::Param(param) => self.param(param),
            ItemKind::Type(decl) => {
                self.keyword("type");
                self.write(&decl.name.name);
                self.write(" = ");
                self.write(&type_expr(&decl.ty));
            }
            ItemKind::Let(decl) => {
                self.keyword("let");
                self.write(&decl.name.name);
                self.write(" = ");
                self.expr(&decl.value);
            }
            ItemKind::Resource(resource) => {
                self.keyword("resource");
                self.write(&resource.rtype.joined());
                self.write(" ");
                self.write(&resource.name.name);
                self.for_each(&resource.for_each);
                self.decl_body(&resource.body);
            }
            ItemKind::Use(decl) => {
                self.keyword("use");
                match &decl.source {
                    ModuleSource::Named(name) => self.write(&name.joined()),
                    ModuleSource::Path { path, .. } => {
                        self.write(&literal(&Literal::Str(path.clone())))
                    }
                }
                self.write(" as ");
                self.write(&decl.alias.name);
                self.for_each(&decl.for_each);
                if let Some(args) = &decl.args {
                    self.decl_body(args);
                }
            }
            ItemKind::Output(decl) => {
                self.keyword("output");
                self.write(&decl.name.name);
                self.write(" = ");
                self.expr(&decl.value);
            }
            ItemKind::Policy(policy) => self.policy(item, policy),
            ItemKind::Moved(moved) => {
                self.keyword("moved");
                self.record_broken(&moved.body);
            }
        }
    }

    /// An item's keyword and the space after it. `///` comments found inside the item's
    /// header (see `body.rs`) are kept here, one per line, the header continuing on the
    /// next line: above the item they would become its documentation.
    fn keyword(&mut self, keyword: &str) {
        self.write(keyword);
        self.write(" ");
        let comments = std::mem::take(&mut self.header_comments);
        if comments.is_empty() {
            return;
        }
        self.indent();
        for index in comments {
            self.comment(index);
            self.start_line(false);
        }
        // Continuation lines are indented; the item's body is not.
        self.flush_indent();
        self.dedent();
    }

    /// ` { … }` of a declaration: always one entry per line.
    fn decl_body(&mut self, body: &Record) {
        self.write(" ");
        self.record_broken(body);
    }

    /// ` for each EXPR [key EXPR]`, on the header line.
    fn for_each(&mut self, for_each: &Option<ForEach>) {
        let Some(for_each) = for_each else { return };
        self.write(" for each ");
        self.expr(&for_each.collection);
        if let Some(key) = &for_each.key {
            self.write(" key ");
            self.expr(key);
        }
    }

    /// `param name: Type = default`, each check on its own line one level deeper.
    fn param(&mut self, param: &ParamDecl) {
        self.keyword("param");
        self.write(&param.name.name);
        self.write(": ");
        self.write(&type_expr(&param.ty));
        if let Some(default) = &param.default {
            self.write(" = ");
            self.expr(default);
        }
        let Some(last) = param.checks.last() else {
            return;
        };
        let body = Body {
            open: spans::param_header_end(param),
            close: spans::check_end(last),
            nodes: param.checks.iter().map(Node::Check).collect(),
        };
        self.indent();
        self.body(&body);
        self.dedent();
    }

    pub(super) fn check(&mut self, check: &Check) {
        self.write("check ");
        self.expr(&check.condition);
        self.write(" message ");
        self.expr(&check.message);
    }

    /// `policy NAME [LEVEL] {`, one rule per line, `}`.
    fn policy(&mut self, item: &Item, policy: &PolicyDecl) {
        self.keyword("policy");
        self.write(&policy.name.name);
        if let Some(level) = &policy.level {
            self.write(" ");
            self.write(&level.name);
        }
        let open = spans::policy_header_end(item);
        let close = item.span.end;
        if self.body_is_empty(open, close, policy.rules.len()) {
            self.write(" {}");
            return;
        }
        let nodes = policy.rules.iter().map(Node::Rule).collect();
        self.bracketed(" {", Body { open, close, nodes }, "}");
    }

    pub(super) fn rule(&mut self, rule: &PolicyRule) {
        self.write(match rule.effect {
            PolicyEffect::Deny => "deny when ",
            PolicyEffect::Warn => "warn when ",
        });
        self.expr(&rule.condition);
        self.write(" message ");
        self.expr(&rule.message);
    }
}
