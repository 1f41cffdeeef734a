//! Type contracts: a param's declared type is checked against the value it receives
//! (argument or default), recursively through lists, maps and records, including the
//! builtin string formats `Ident`, `Hostname`, `Image`, `Duration`, `Quantity` and `Cidr`.
//!
//! Values known only after apply pass every contract: they are checked by providers.

use std::collections::HashMap;

use crate::ast::{Literal, TypeExpr, TypeKind};
use crate::diagnostics::suggest;
use crate::errors::TypeError;
use crate::span::Span;
use crate::value::{Deferred, TemplatePart, Value};

/// Builtin type names; anything else must be a `type` alias.
pub const BUILTIN_TYPES: &[&str] = &[
    "any", "string", "int", "float", "bool", "null", "list", "map", "Ident", "Hostname", "Image",
    "Duration", "Quantity", "Cidr", "Secret",
];

/// Deepest alias chain followed (`type A = B`, `type B = C` …) before assuming a cycle.
const MAX_ALIAS_DEPTH: usize = 32;

/// The `type` aliases visible in one module.
pub type Aliases<'a> = HashMap<String, &'a TypeExpr>;

/// Reports type names that are neither builtin nor aliases.
pub fn unknown_types(ty: &TypeExpr, aliases: &Aliases<'_>, out: &mut Vec<TypeError>) {
    match &ty.kind {
        TypeKind::Named(name) => {
            if !BUILTIN_TYPES.contains(&name.name.as_str()) && !aliases.contains_key(&name.name) {
                let candidates = BUILTIN_TYPES
                    .iter()
                    .copied()
                    .chain(aliases.keys().map(String::as_str));
                out.push(TypeError::UnknownType {
                    span: name.span,
                    name: name.name.clone(),
                    suggestion: suggest::did_you_mean(&name.name, candidates),
                });
            }
        }
        TypeKind::List(inner) | TypeKind::Map(inner) => unknown_types(inner, aliases, out),
        TypeKind::Record(fields) => {
            for field in fields {
                unknown_types(&field.ty, aliases, out);
            }
        }
        TypeKind::Union(items) => {
            for item in items {
                unknown_types(item, aliases, out);
            }
        }
        TypeKind::Literal(_) => {}
    }
}

/// Renders a type as users write it.
pub fn display(ty: &TypeExpr) -> String {
    match &ty.kind {
        TypeKind::Named(name) => name.name.clone(),
        TypeKind::List(inner) => format!("list<{}>", display(inner)),
        TypeKind::Map(inner) => format!("map<{}>", display(inner)),
        TypeKind::Record(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|f| {
                    format!(
                        "{}{}: {}",
                        f.name.name,
                        if f.optional { "?" } else { "" },
                        display(&f.ty)
                    )
                })
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        TypeKind::Literal(literal) => display_literal(literal),
        TypeKind::Union(items) => items.iter().map(display).collect::<Vec<_>>().join(" | "),
    }
}

fn display_literal(literal: &Literal) -> String {
    match literal {
        Literal::Null => "null".to_owned(),
        Literal::Bool(b) => b.to_string(),
        Literal::Int(i) => i.to_string(),
        Literal::Float(f) => format!("{f:?}"),
        Literal::Str(s) => format!("{s:?}"),
    }
}

/// A short description of a value for messages: its literal for scalars, else its type.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::Str(s) if s.chars().count() <= 60 => format!("{s:?}"),
        Value::Str(_) => "a long string".to_owned(),
        other => other.type_name().to_owned(),
    }
}

/// Where a value came from, for error labels.
#[derive(Clone, Copy)]
pub struct Origin {
    /// The expression that produced the value.
    pub span: Span,
    /// The declared type.
    pub declared: Span,
}

/// Checks `value` against `ty`; `name` starts the path shown in messages (`tenants[1].tier`).
pub fn check(
    value: &Value,
    ty: &TypeExpr,
    aliases: &Aliases<'_>,
    origin: Origin,
    name: &str,
) -> Result<(), TypeError> {
    let hide = mentions_secret(ty, aliases, 0);
    Checker {
        aliases,
        origin,
        hide,
    }
    .check(value, ty, name, 0)
}

/// Whether a type has `Secret` anywhere in it (through aliases): a value given for it, such
/// as `--var admin_password=…` where a secret reference is expected, is then never shown.
fn mentions_secret(ty: &TypeExpr, aliases: &Aliases<'_>, depth: usize) -> bool {
    if depth > MAX_ALIAS_DEPTH {
        return false;
    }
    match &ty.kind {
        TypeKind::Named(name) if name.name == "Secret" => true,
        TypeKind::Named(name) => aliases
            .get(&name.name)
            .is_some_and(|target| mentions_secret(target, aliases, depth + 1)),
        TypeKind::List(inner) | TypeKind::Map(inner) => mentions_secret(inner, aliases, depth),
        TypeKind::Record(fields) => fields
            .iter()
            .any(|f| mentions_secret(&f.ty, aliases, depth)),
        TypeKind::Union(items) => items.iter().any(|t| mentions_secret(t, aliases, depth)),
        TypeKind::Literal(_) => false,
    }
}

/// What a mismatch says about a value it must not show.
fn hidden(value: &Value) -> String {
    format!(
        "a {} (not shown: the declared type holds a Secret)",
        value.type_name()
    )
}

struct Checker<'a, 'b> {
    aliases: &'a Aliases<'b>,
    origin: Origin,
    /// The declared type holds a Secret: describe values by their type only.
    hide: bool,
}

impl Checker<'_, '_> {
    fn context(&self, path: &str) -> String {
        format!("in `{path}`: ")
    }

    fn mismatch(
        &self,
        path: &str,
        expected: String,
        value: &Value,
        help: Option<String>,
    ) -> TypeError {
        TypeError::Mismatch {
            span: self.origin.span,
            declared: Some(self.origin.declared),
            context: self.context(path),
            expected,
            found: if self.hide {
                hidden(value)
            } else {
                describe(value)
            },
            help,
        }
    }

    fn check(
        &self,
        value: &Value,
        ty: &TypeExpr,
        path: &str,
        depth: usize,
    ) -> Result<(), TypeError> {
        if depth > MAX_ALIAS_DEPTH {
            return Err(TypeError::Mismatch {
                span: self.origin.span,
                declared: Some(ty.span),
                context: self.context(path),
                expected: "a type that does not refer to itself".to_owned(),
                found: display(ty),
                help: Some("type aliases must not form a cycle".to_owned()),
            });
        }
        if matches!(value, Value::Unknown(d) if !matches!(d.as_ref(), Deferred::Template(_))) {
            return Ok(());
        }
        match &ty.kind {
            TypeKind::Named(name) => self.named(value, &name.name, ty, path, depth),
            TypeKind::Literal(literal) => {
                if literal_matches(literal, value) {
                    Ok(())
                } else {
                    Err(self.mismatch(path, display_literal(literal), value, None))
                }
            }
            TypeKind::List(inner) => match value {
                Value::List(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item, inner, &format!("{path}[{i}]"), depth)?;
                    }
                    Ok(())
                }
                _ => Err(self.mismatch(path, display(ty), value, None)),
            },
            TypeKind::Map(inner) => match value {
                Value::Record(fields) => {
                    for (key, item) in fields.iter() {
                        self.check(item, inner, &format!("{path}[{key:?}]"), depth)?;
                    }
                    Ok(())
                }
                _ => Err(self.mismatch(path, display(ty), value, None)),
            },
            TypeKind::Record(declared) => {
                let Value::Record(fields) = value else {
                    return Err(self.mismatch(path, "a record".to_owned(), value, None));
                };
                for key in fields.keys() {
                    if !declared.iter().any(|f| f.name.name == *key) {
                        return Err(TypeError::UnknownField {
                            span: self.origin.span,
                            declared: Some(ty.span),
                            context: self.context(path),
                            field: key.clone(),
                            suggestion: suggest::did_you_mean(
                                key,
                                declared.iter().map(|f| f.name.name.as_str()),
                            ),
                        });
                    }
                }
                for field in declared {
                    match fields.get(&field.name.name) {
                        Some(item) => self.check(
                            item,
                            &field.ty,
                            &format!("{path}.{}", field.name.name),
                            depth,
                        )?,
                        None if field.optional => {}
                        None => {
                            return Err(TypeError::MissingField {
                                span: self.origin.span,
                                declared: Some(field.name.span),
                                context: self.context(path),
                                field: field.name.name.clone(),
                            })
                        }
                    }
                }
                Ok(())
            }
            TypeKind::Union(items) => {
                let mut first_error = None;
                for item in items {
                    match self.check(value, item, path, depth) {
                        Ok(()) => return Ok(()),
                        Err(error) => {
                            first_error.get_or_insert(error);
                        }
                    }
                }
                let literals: Vec<String> = items
                    .iter()
                    .filter_map(|t| match &t.kind {
                        TypeKind::Literal(Literal::Str(s)) => Some(s.clone()),
                        _ => None,
                    })
                    .collect();
                if literals.len() == items.len() {
                    let help = value.as_str().filter(|_| !self.hide).and_then(|s| {
                        suggest::did_you_mean(s, literals.iter().map(String::as_str))
                    });
                    return Err(self.mismatch(
                        path,
                        format!("one of {}", display(ty)),
                        value,
                        help,
                    ));
                }
                // A single structured alternative explains itself better than the union.
                if items.len() == 1 {
                    if let Some(error) = first_error {
                        return Err(error);
                    }
                }
                Err(self.mismatch(path, display(ty), value, None))
            }
        }
    }

    fn named(
        &self,
        value: &Value,
        name: &str,
        ty: &TypeExpr,
        path: &str,
        depth: usize,
    ) -> Result<(), TypeError> {
        let is_template = matches!(value, Value::Unknown(_));
        let ok = match name {
            "any" => !value.contains_func(),
            "string" => matches!(value, Value::Str(_)) || (is_template && !value.contains_secret()),
            "int" => matches!(value, Value::Int(_)),
            "float" => matches!(value, Value::Int(_) | Value::Float(_)),
            "bool" => matches!(value, Value::Bool(_)),
            "null" => matches!(value, Value::Null),
            "list" => matches!(value, Value::List(_)),
            "map" => matches!(value, Value::Record(_)),
            "Secret" => {
                matches!(value, Value::Secret(_)) || (is_template && value.contains_secret())
            }
            "Ident" => return self.format(value, "Ident", path, is_template),
            "Hostname" => return self.format(value, "Hostname", path, is_template),
            "Image" => return self.format(value, "Image", path, is_template),
            "Duration" => return self.format(value, "Duration", path, is_template),
            "Quantity" => return self.format(value, "Quantity", path, is_template),
            "Cidr" => return self.format(value, "Cidr", path, is_template),
            alias => {
                return match self.aliases.get(alias) {
                    Some(target) => self.check(value, target, path, depth + 1),
                    // Unknown names are reported by the resolver; accept here.
                    None => Ok(()),
                };
            }
        };
        if ok {
            return Ok(());
        }
        let help = match (name, value) {
            ("string", Value::Secret(_)) | ("string", Value::Unknown(_)) => {
                Some("declare the param as `Secret` to accept a secret reference".to_owned())
            }
            ("Secret", Value::Str(_)) => Some(
                "pass `secret(\"path\")`: secret values are never written in blueprints".to_owned(),
            ),
            _ => None,
        };
        Err(self.mismatch(path, display(ty), value, help))
    }

    fn format(
        &self,
        value: &Value,
        kind: &'static str,
        path: &str,
        is_template: bool,
    ) -> Result<(), TypeError> {
        if is_template && !value.contains_secret() {
            // Built from values known after apply: the format can only be checked then.
            return Ok(());
        }
        let text = match value {
            Value::Str(s) => s.clone(),
            Value::Int(i) if kind == "Quantity" => {
                return if *i >= 0 {
                    Ok(())
                } else {
                    Err(self.format_error(kind, i.to_string(), path))
                }
            }
            Value::Float(f) if kind == "Quantity" => {
                return if *f >= 0.0 {
                    Ok(())
                } else {
                    Err(self.format_error(kind, f.to_string(), path))
                }
            }
            other => return Err(self.mismatch(path, format!("{kind} (a string)"), other, None)),
        };
        let valid = match kind {
            "Ident" => is_ident(&text),
            "Hostname" => is_hostname(&text),
            "Image" => is_pinned_image(&text),
            "Duration" => is_duration(&text),
            "Cidr" => parse_cidr(&text).is_some(),
            _ => is_quantity(&text),
        };
        if valid {
            Ok(())
        } else {
            Err(self.format_error(kind, text, path))
        }
    }

    fn format_error(&self, kind: &'static str, value: String, path: &str) -> TypeError {
        let value = if self.hide {
            "(not shown: the declared type holds a Secret)".to_owned()
        } else {
            value
        };
        let (code, rule) = match kind {
            "Ident" => ("E0303", "an Ident is 2 to 31 characters: a lowercase letter, then lowercase letters, digits or `-`, not ending in `-`"),
            "Hostname" => ("E0304", "a Hostname is lowercase DNS labels of 1 to 63 letters, digits or `-` separated by dots, at most 253 characters; `*.` may start it"),
            "Image" => ("E0305", "pin the image by digest: `registry/repo@sha256:<64 hex digits>` (a tag may stay before the `@`)"),
            "Duration" => ("E0306", "a Duration is numbers with units ms, s, m, h or d, such as `90s` or `1h30m`"),
            "Cidr" => ("E0311", "a Cidr is an IPv4 or IPv6 address range ADDRESS/BITS, such as `10.0.0.0/8`, `203.0.113.7/32` or `2001:db8::/32`"),
            _ => ("E0307", "a Quantity is a non-negative number with an optional suffix: m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei, such as `500m` or `4Gi`"),
        };
        TypeError::Format {
            code,
            span: self.origin.span,
            declared: Some(self.origin.declared),
            context: self.context(path),
            kind,
            value,
            rule,
        }
    }
}

fn literal_matches(literal: &Literal, value: &Value) -> bool {
    match (literal, value) {
        (Literal::Null, Value::Null) => true,
        (Literal::Bool(a), Value::Bool(b)) => a == b,
        (Literal::Int(a), Value::Int(b)) => a == b,
        (Literal::Float(a), Value::Float(b)) => a == b,
        (Literal::Str(a), Value::Str(b)) => a == b,
        _ => false,
    }
}

/// An address range `ADDRESS/BITS` (IPv4 with 0–32 bits or IPv6 with 0–128), as Go's
/// `net.ParseCIDR` (and so the Kubernetes API and Traefik) reads it.
pub fn parse_cidr(text: &str) -> Option<(std::net::IpAddr, u8)> {
    let (address, bits) = text.split_once('/')?;
    let address: std::net::IpAddr = address.parse().ok()?;
    if bits.is_empty() || bits.len() > 3 || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bits: u8 = bits.parse().ok()?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((address, bits))
}

/// `^[a-z][a-z0-9-]{1,30}$`, not ending in `-`: usable as a DNS label and database name part.
pub fn is_ident(text: &str) -> bool {
    let bytes = text.as_bytes();
    (2..=31).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && !text.ends_with('-')
}

/// RFC 1123 hostname in lowercase, optionally starting with a `*.` wildcard.
pub fn is_hostname(text: &str) -> bool {
    let name = text.strip_prefix("*.").unwrap_or(text);
    !name.is_empty()
        && text.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// `name[:tag]@sha256:<64 lowercase hex>`.
pub fn is_pinned_image(text: &str) -> bool {
    let Some((name, digest)) = text.split_once('@') else {
        return false;
    };
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return false;
    };
    !name.is_empty()
        && !name.contains(char::is_whitespace)
        && hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One or more `<digits><unit>` groups with units ms, s, m, h, d.
pub fn is_duration(text: &str) -> bool {
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "s", "m", "h", "d"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        match unit {
            Some(unit) => rest = &rest[unit.len()..],
            None => return false,
        }
    }
    true
}

/// A Kubernetes resource quantity: a decimal number with an optional SI or binary suffix.
pub fn is_quantity(text: &str) -> bool {
    let number_len = text
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let (number, suffix) = text.split_at(number_len);
    let number_ok = !number.is_empty()
        && number.matches('.').count() <= 1
        && !number.starts_with('.')
        && !number.ends_with('.');
    number_ok
        && [
            "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
        ]
        .contains(&suffix)
}

/// Whether a deferred template mentions a secret (used by `Secret` checks of templates).
pub fn template_has_secret(parts: &[TemplatePart]) -> bool {
    parts
        .iter()
        .any(|p| matches!(p, TemplatePart::Value(v) if v.contains_secret()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(
            is_ident("acme")
                && is_ident("a1-b")
                && !is_ident("Acme")
                && !is_ident("a")
                && !is_ident("ab-")
                && !is_ident("../x")
        );
        assert!(
            is_hostname("erp.acme.example")
                && is_hostname("*.acme.example")
                && !is_hostname("-x.example")
                && !is_hostname("a..b")
                && !is_hostname("ACME.example")
        );
        let digest = "a".repeat(64);
        assert!(is_pinned_image(&format!(
            "ghcr.io/odoo/odoo:17.0@sha256:{digest}"
        )));
        assert!(!is_pinned_image("odoo:17.0") && !is_pinned_image("odoo@sha256:abc"));
        assert!(
            is_duration("90s")
                && is_duration("1h30m")
                && is_duration("250ms")
                && !is_duration("1.5h")
                && !is_duration("h")
        );
        assert!(
            is_quantity("500m")
                && is_quantity("4Gi")
                && is_quantity("0.5")
                && !is_quantity("4GB")
                && !is_quantity("-1")
                && !is_quantity("")
        );
        for good in [
            "10.0.0.0/8",
            "0.0.0.0/0",
            "203.0.113.7/32",
            "2001:db8::/32",
            "::/0",
        ] {
            assert!(parse_cidr(good).is_some(), "{good}");
        }
        for bad in [
            "999.1.1.1/40",
            "10.0.0.0/33",
            "10.0.0.0",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "::/129",
            "x/8",
            "10.0.0.0/8\n",
        ] {
            assert!(parse_cidr(bad).is_none(), "{bad}");
        }
    }
}
