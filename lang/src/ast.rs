//! The syntax tree. Every node carries a [`Span`]; no pest types appear here.
//!
//! Serialising an AST ignores spans, so two trees compare equal when they mean the same
//! (the formatter's round-trip test relies on this).

use serde::Serialize;

use crate::span::{FileId, Span};

/// One parsed source file.
#[derive(Debug, Clone, Serialize)]
pub struct File {
    #[serde(skip)]
    pub id: FileId,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A top-level declaration with its `///` documentation, if any.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub doc: Option<String>,
    pub kind: ItemKind,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub enum ItemKind {
    Module(ModuleDecl),
    Stack(StackDecl),
    Provider(ProviderDecl),
    Backend(BackendDecl),
    Param(ParamDecl),
    Type(TypeDecl),
    Let(LetDecl),
    Resource(ResourceDecl),
    Use(UseDecl),
    Output(OutputDecl),
    Policy(PolicyDecl),
    Moved(MovedDecl),
}

/// `module odoo.tenant`
#[derive(Debug, Clone, Serialize)]
pub struct ModuleDecl {
    pub name: DottedName,
}

#[derive(Debug, Clone, Serialize)]
pub struct DottedName {
    pub parts: Vec<Ident>,
    pub span: Span,
}

impl DottedName {
    pub fn joined(&self) -> String {
        self.parts
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// `stack saas { environment = "prod" }`
#[derive(Debug, Clone, Serialize)]
pub struct StackDecl {
    pub name: Ident,
    pub body: Option<Record>,
}

/// `provider gitops [as alias] { … }`
#[derive(Debug, Clone, Serialize)]
pub struct ProviderDecl {
    pub kind: Ident,
    pub alias: Option<Ident>,
    pub body: Record,
}

/// `backend local { … }`
#[derive(Debug, Clone, Serialize)]
pub struct BackendDecl {
    pub kind: Ident,
    pub body: Record,
}

/// `param name: Type [= default] [check COND message MSG]*`
#[derive(Debug, Clone, Serialize)]
pub struct ParamDecl {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub condition: Expr,
    pub message: Expr,
    pub span: Span,
}

/// `type Tier = "starter" | "standard"`
#[derive(Debug, Clone, Serialize)]
pub struct TypeDecl {
    pub name: Ident,
    pub ty: TypeExpr,
}

/// `let name = expr`
#[derive(Debug, Clone, Serialize)]
pub struct LetDecl {
    pub name: Ident,
    pub value: Expr,
}

/// `resource postgres.role owner [for each …] { … }`
#[derive(Debug, Clone, Serialize)]
pub struct ResourceDecl {
    pub rtype: ResourceType,
    pub name: Ident,
    pub for_each: Option<ForEach>,
    pub body: Record,
}

/// `provider.kind`, such as `k8s.deployment`.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceType {
    pub provider: Ident,
    pub kind: Ident,
    pub span: Span,
}

impl ResourceType {
    pub fn joined(&self) -> String {
        format!("{}.{}", self.provider.name, self.kind.name)
    }
}

/// `for each EXPR [key EXPR]`
#[derive(Debug, Clone, Serialize)]
pub struct ForEach {
    pub collection: Expr,
    pub key: Option<Expr>,
    pub span: Span,
}

/// `use odoo.tenant as t [for each …] [{ args }]`
#[derive(Debug, Clone, Serialize)]
pub struct UseDecl {
    pub source: ModuleSource,
    pub alias: Ident,
    pub for_each: Option<ForEach>,
    pub args: Option<Record>,
}

#[derive(Debug, Clone, Serialize)]
pub enum ModuleSource {
    /// `odoo.tenant`, looked up in the blueprint search path.
    Named(DottedName),
    /// `"./lib/x.obp"`, relative to the importing file.
    Path { path: String, span: Span },
}

impl ModuleSource {
    pub fn span(&self) -> Span {
        match self {
            ModuleSource::Named(name) => name.span,
            ModuleSource::Path { span, .. } => *span,
        }
    }
}

/// `output url = expr`
#[derive(Debug, Clone, Serialize)]
pub struct OutputDecl {
    pub name: Ident,
    pub value: Expr,
}

/// `policy NAME [level] { deny|warn when COND message MSG … }`
#[derive(Debug, Clone, Serialize)]
pub struct PolicyDecl {
    pub name: Ident,
    pub level: Option<Ident>,
    pub rules: Vec<PolicyRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PolicyEffect {
    Deny,
    Warn,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyRule {
    pub effect: PolicyEffect,
    pub condition: Expr,
    pub message: Expr,
    pub span: Span,
}

/// `moved { from = "…" to = "…" }`
#[derive(Debug, Clone, Serialize)]
pub struct MovedDecl {
    pub body: Record,
}

// ───────────────────────────── types ─────────────────────────────

#[derive(Debug, Clone, Serialize)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub enum TypeKind {
    /// A built-in (`string`, `Ident` …) or a `type` alias.
    Named(Ident),
    List(Box<TypeExpr>),
    Map(Box<TypeExpr>),
    Record(Vec<TypeField>),
    /// A literal type: `"starter"`, `3`, `true`, `null`.
    Literal(Literal),
    Union(Vec<TypeExpr>),
}

#[derive(Debug, Clone, Serialize)]
pub struct TypeField {
    pub name: Ident,
    pub optional: bool,
    pub ty: TypeExpr,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

// ───────────────────────────── expressions ─────────────────────────────

#[derive(Debug, Clone, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub enum ExprKind {
    Literal(Literal),
    Str(StrLit),
    List(Vec<Expr>),
    Record(Record),
    Var(Ident),
    Member(Box<Expr>, Ident),
    Index(Box<Expr>, Box<Expr>),
    Call(Box<Expr>, Vec<Expr>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    Match(Box<Expr>, Vec<MatchArm>),
    Lambda(Vec<Ident>, std::sync::Arc<Expr>),
    Paren(Box<Expr>),
}

/// A string literal: text and `${…}` parts, already unescaped (and dedented if multi-line).
#[derive(Debug, Clone, Serialize)]
pub struct StrLit {
    pub parts: Vec<StrPart>,
    pub multiline: bool,
}

impl StrLit {
    /// The text when the string has no interpolation.
    pub fn as_plain(&self) -> Option<String> {
        let mut text = String::new();
        for part in &self.parts {
            match part {
                StrPart::Text(t) => text.push_str(t),
                StrPart::Interp(_) => return None,
            }
        }
        Some(text)
    }
}

#[derive(Debug, Clone, Serialize)]
pub enum StrPart {
    Text(String),
    Interp(Expr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }

    /// Binding power, higher binds tighter; mirrors the Pratt table in `parse/expr.rs`.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne => 3,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::In => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 6,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MatchArm {
    pub patterns: Vec<Pattern>,
    pub body: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pattern {
    pub kind: PatternKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum PatternKind {
    Wildcard,
    Literal(Literal),
}

/// `{ key = value … }`; also the body of every block.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub entries: Vec<Entry>,
    pub span: Span,
}

impl Record {
    /// The entry with a plain key `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.key.plain().as_deref() == Some(name))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub key: Key,
    pub value: Expr,
    /// Written as a block (`key { … }`) rather than `key = { … }`; kept for the formatter.
    pub block: bool,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub enum Key {
    Word(Ident),
    Str(StrLit, Span),
}

impl Key {
    pub fn span(&self) -> Span {
        match self {
            Key::Word(ident) => ident.span,
            Key::Str(_, span) => *span,
        }
    }

    /// The key's text when it needs no evaluation.
    pub fn plain(&self) -> Option<String> {
        match self {
            Key::Word(ident) => Some(ident.name.clone()),
            Key::Str(lit, _) => lit.as_plain(),
        }
    }
}
