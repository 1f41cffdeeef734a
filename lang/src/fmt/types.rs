//! Type expressions, always on one line: `list<T>`, `map<T>`, `{ name: string, tier?: Tier }`,
//! literal types and unions joined by ` | `.

use super::strings::literal;
use crate::ast::{TypeExpr, TypeKind};

pub(super) fn type_expr(ty: &TypeExpr) -> String {
    match &ty.kind {
        TypeKind::Named(name) => name.name.clone(),
        TypeKind::List(inner) => format!("list<{}>", type_expr(inner)),
        TypeKind::Map(inner) => format!("map<{}>", type_expr(inner)),
        TypeKind::Record(fields) if fields.is_empty() => "{}".to_owned(),
        TypeKind::Record(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|field| {
                    let mark = if field.optional { "?" } else { "" };
                    format!("{}{mark}: {}", field.name.name, type_expr(&field.ty))
                })
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        TypeKind::Literal(lit) => literal(lit),
        TypeKind::Union(terms) => terms.iter().map(type_expr).collect::<Vec<_>>().join(" | "),
    }
}
