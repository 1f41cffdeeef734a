//! Declaration builders: one function per top-level item kind.

use pest::iterators::Pair;

use super::lexical::Comment;
use super::{Builder, Rule};
use crate::ast::{
    BackendDecl, Check, DottedName, ForEach, Item, ItemKind, LetDecl, ModuleDecl, ModuleSource,
    MovedDecl, OutputDecl, ParamDecl, PolicyDecl, PolicyEffect, PolicyRule, ProviderDecl,
    ResourceDecl, ResourceType, StackDecl, TypeDecl, UseDecl,
};
use crate::span::Span;

impl Builder {
    /// Builds one item; `comments` after `previous_end` supply its `///` documentation.
    pub(super) fn item(
        &mut self,
        pair: Pair<'_, Rule>,
        comments: &[Comment],
        previous_end: u32,
    ) -> Option<Item> {
        let span = self.span(&pair.as_span());
        let rule = pair.as_rule();
        let mut parts: Vec<Pair<'_, Rule>> = pair.into_inner().collect();
        // Keywords carry no meaning once the rule is known.
        parts.retain(|p| !is_keyword(p.as_rule()));
        let kind = match rule {
            Rule::module_decl => ItemKind::Module(ModuleDecl {
                name: self.dotted(parts.pop()?),
            }),
            Rule::stack_decl => {
                let mut parts = parts.into_iter();
                let name = self.ident(parts.next()?);
                let body = parts.next().map(|b| self.record(b));
                ItemKind::Stack(StackDecl { name, body })
            }
            Rule::provider_decl => {
                let body = self.record(parts.pop()?);
                let mut parts = parts.into_iter();
                let kind = self.ident(parts.next()?);
                let alias = parts.next().map(|a| self.ident(a));
                ItemKind::Provider(ProviderDecl { kind, alias, body })
            }
            Rule::backend_decl => {
                let mut parts = parts.into_iter();
                let kind = self.ident(parts.next()?);
                let body = self.record(parts.next()?);
                ItemKind::Backend(BackendDecl { kind, body })
            }
            Rule::param_decl => {
                let mut parts = parts.into_iter();
                let name = self.ident(parts.next()?);
                let ty = self.type_expr(parts.next()?);
                let mut default = None;
                let mut checks = Vec::new();
                for part in parts {
                    match part.as_rule() {
                        Rule::expr => default = Some(self.expr(part)),
                        Rule::param_check => {
                            let check_span = self.span(&part.as_span());
                            let mut exprs = part
                                .into_inner()
                                .filter(|p| p.as_rule() == Rule::expr)
                                .map(|p| self.expr(p));
                            let condition = exprs.next()?;
                            let message = exprs.next()?;
                            checks.push(Check {
                                condition,
                                message,
                                span: check_span,
                            });
                        }
                        _ => self.unexpected_rule(&part),
                    }
                }
                ItemKind::Param(ParamDecl {
                    name,
                    ty,
                    default,
                    checks,
                })
            }
            Rule::type_decl => {
                let mut parts = parts.into_iter();
                let name = self.ident(parts.next()?);
                let ty = self.type_expr(parts.next()?);
                ItemKind::Type(TypeDecl { name, ty })
            }
            Rule::let_decl => {
                let mut parts = parts.into_iter();
                let name = self.ident(parts.next()?);
                let value = self.expr(parts.next()?);
                ItemKind::Let(LetDecl { name, value })
            }
            Rule::resource_decl => {
                let mut parts = parts.into_iter();
                let rtype = self.resource_type(parts.next()?)?;
                let name = self.ident(parts.next()?);
                let mut for_each = None;
                let mut body = None;
                for part in parts {
                    match part.as_rule() {
                        Rule::for_each => for_each = Some(self.for_each(part)?),
                        Rule::record => body = Some(self.record(part)),
                        _ => self.unexpected_rule(&part),
                    }
                }
                ItemKind::Resource(ResourceDecl {
                    rtype,
                    name,
                    for_each,
                    body: body?,
                })
            }
            Rule::use_decl => {
                let mut parts = parts.into_iter();
                let source = self.module_source(parts.next()?)?;
                let alias = self.ident(parts.next()?);
                let mut for_each = None;
                let mut args = None;
                for part in parts {
                    match part.as_rule() {
                        Rule::for_each => for_each = Some(self.for_each(part)?),
                        Rule::record => args = Some(self.record(part)),
                        _ => self.unexpected_rule(&part),
                    }
                }
                ItemKind::Use(UseDecl {
                    source,
                    alias,
                    for_each,
                    args,
                })
            }
            Rule::output_decl => {
                let mut parts = parts.into_iter();
                let name = self.ident(parts.next()?);
                let value = self.expr(parts.next()?);
                ItemKind::Output(OutputDecl { name, value })
            }
            Rule::policy_decl => {
                let mut parts = parts.into_iter().peekable();
                let name = self.ident(parts.next()?);
                let level = match parts.peek() {
                    Some(p) if p.as_rule() == Rule::ident => parts.next().map(|p| self.ident(p)),
                    _ => None,
                };
                let mut rules = Vec::new();
                for rule in parts {
                    let rule_span = self.span(&rule.as_span());
                    let mut effect = PolicyEffect::Deny;
                    let mut exprs = Vec::new();
                    for part in rule.into_inner() {
                        match part.as_rule() {
                            Rule::policy_effect if part.as_str().starts_with("warn") => {
                                effect = PolicyEffect::Warn;
                            }
                            Rule::expr => exprs.push(self.expr(part)),
                            _ => {}
                        }
                    }
                    let mut exprs = exprs.into_iter();
                    let (Some(condition), Some(message)) = (exprs.next(), exprs.next()) else {
                        continue;
                    };
                    rules.push(PolicyRule {
                        effect,
                        condition,
                        message,
                        span: rule_span,
                    });
                }
                ItemKind::Policy(PolicyDecl { name, level, rules })
            }
            Rule::moved_decl => ItemKind::Moved(MovedDecl {
                body: self.record(parts.pop()?),
            }),
            _ => {
                // The grammar only lists declarations here.
                return None;
            }
        };
        Some(Item {
            doc: doc_before(span, previous_end, comments),
            kind,
            span,
        })
    }

    fn dotted(&mut self, pair: Pair<'_, Rule>) -> DottedName {
        let span = self.span(&pair.as_span());
        let parts = pair.into_inner().map(|p| self.ident(p)).collect();
        DottedName { parts, span }
    }

    fn resource_type(&mut self, pair: Pair<'_, Rule>) -> Option<ResourceType> {
        let span = self.span(&pair.as_span());
        let mut parts = pair.into_inner();
        let provider = self.ident(parts.next()?);
        let kind = self.ident(parts.next()?);
        Some(ResourceType {
            provider,
            kind,
            span,
        })
    }

    fn for_each(&mut self, pair: Pair<'_, Rule>) -> Option<ForEach> {
        let span = self.span(&pair.as_span());
        let mut exprs = pair
            .into_inner()
            .filter(|p| p.as_rule() == Rule::expr)
            .map(|p| self.expr(p))
            .collect::<Vec<_>>()
            .into_iter();
        let collection = exprs.next()?;
        let key = exprs.next();
        Some(ForEach {
            collection,
            key,
            span,
        })
    }

    fn module_source(&mut self, pair: Pair<'_, Rule>) -> Option<ModuleSource> {
        let inner = pair.into_inner().next()?;
        let span = self.span(&inner.as_span());
        if inner.as_rule() == Rule::dotted_name {
            return Some(ModuleSource::Named(self.dotted(inner)));
        }
        let text = self.string(inner).as_plain();
        match text {
            Some(path) => Some(ModuleSource::Path { path, span }),
            None => {
                self.error(super::SyntaxError::NotAllowed {
                    span,
                    what: "interpolation",
                    place: "in a module path",
                });
                None
            }
        }
    }
}

fn is_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_module
            | Rule::kw_stack
            | Rule::kw_provider
            | Rule::kw_backend
            | Rule::kw_param
            | Rule::kw_type
            | Rule::kw_let
            | Rule::kw_resource
            | Rule::kw_use
            | Rule::kw_output
            | Rule::kw_policy
            | Rule::kw_moved
            | Rule::kw_as
    )
}

/// The `///` lines directly above an item (after the previous one), without their markers.
fn doc_before(item: Span, previous_end: u32, comments: &[Comment]) -> Option<String> {
    let before = comments.partition_point(|c| c.span.end <= item.start);
    let mut lines = Vec::new();
    for comment in comments[..before].iter().rev() {
        if !comment.is_doc() || !comment.own_line || comment.span.start < previous_end {
            break;
        }
        lines.push(comment);
    }
    if lines.is_empty() {
        return None;
    }
    lines.reverse();
    let text = lines
        .iter()
        .map(|c| {
            let body = &c.text[3..];
            body.strip_prefix(' ').unwrap_or(body).to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n");
    Some(text)
}
