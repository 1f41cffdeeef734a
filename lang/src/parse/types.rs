//! Type expression builders: named types, `list<T>`, `map<T>`, record types, literal unions.

use pest::iterators::Pair;

use super::error::SyntaxError;
use super::{Builder, Rule};
use crate::ast::{Literal, TypeExpr, TypeField, TypeKind};

impl Builder {
    /// Builds a `type_expr` pair; a single alternative is not wrapped in a union.
    pub(super) fn type_expr(&mut self, pair: Pair<'_, Rule>) -> TypeExpr {
        let span = self.span(&pair.as_span());
        let mut terms: Vec<TypeExpr> = pair.into_inner().map(|t| self.type_term(t)).collect();
        if terms.len() == 1 {
            if let Some(term) = terms.pop() {
                return term;
            }
        }
        TypeExpr {
            kind: TypeKind::Union(terms),
            span,
        }
    }

    fn type_term(&mut self, pair: Pair<'_, Rule>) -> TypeExpr {
        let span = self.span(&pair.as_span());
        let rule = pair.as_rule();
        let kind = match rule {
            Rule::type_list | Rule::type_map => {
                let inner = match pair.into_inner().next() {
                    Some(inner) => self.type_expr(inner),
                    None => return self.any_type(span),
                };
                if rule == Rule::type_list {
                    TypeKind::List(Box::new(inner))
                } else {
                    TypeKind::Map(Box::new(inner))
                }
            }
            Rule::type_record => {
                let mut fields = Vec::new();
                for field in pair.into_inner() {
                    let mut name = None;
                    let mut optional = false;
                    let mut ty = None;
                    for part in field.into_inner() {
                        match part.as_rule() {
                            Rule::word => name = Some(self.ident(part)),
                            Rule::optional_mark => optional = true,
                            Rule::type_expr => ty = Some(self.type_expr(part)),
                            _ => self.unexpected_rule(&part),
                        }
                    }
                    if let (Some(name), Some(ty)) = (name, ty) {
                        fields.push(TypeField { name, optional, ty });
                    }
                }
                TypeKind::Record(fields)
            }
            Rule::type_literal => match pair.into_inner().next() {
                Some(lit) if lit.as_rule() == Rule::string => {
                    let text = self.string(lit).as_plain();
                    match text {
                        Some(text) => TypeKind::Literal(Literal::Str(text)),
                        None => {
                            self.error(SyntaxError::NotAllowed {
                                span,
                                what: "interpolation",
                                place: "in a type",
                            });
                            return self.any_type(span);
                        }
                    }
                }
                Some(lit) => TypeKind::Literal(self.literal(&lit)),
                None => return self.any_type(span),
            },
            Rule::type_name => match pair.into_inner().next() {
                Some(name) => TypeKind::Named(self.ident(name)),
                None => return self.any_type(span),
            },
            _ => {
                self.unexpected_rule(&pair);
                return self.any_type(span);
            }
        };
        TypeExpr { kind, span }
    }

    fn any_type(&self, span: crate::span::Span) -> TypeExpr {
        TypeExpr {
            kind: TypeKind::Named(crate::ast::Ident {
                name: "any".to_owned(),
                span,
            }),
            span,
        }
    }
}
