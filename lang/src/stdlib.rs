//! TEMPORARY shim with the stdlib API; replaced by `stdlib/` from the stdlib branch.
use crate::value::Value;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FnError {
    #[error("`{name}` takes {expected} argument(s), found {found}")]
    Arity {
        name: &'static str,
        expected: &'static str,
        found: usize,
    },
    #[error("{message}")]
    Arg { index: usize, message: String },
    #[error("argument {} is only known after apply", index + 1)]
    Unknown { index: usize },
    #[error("argument {} is a secret reference", index + 1)]
    Secret { index: usize },
    #[error("a function argument failed")]
    Reported,
}
pub trait Apply {
    fn apply(&mut self, func: &Value, args: Vec<Value>) -> Result<Value, FnError>;
}
pub struct FnInfo {
    pub name: &'static str,
    pub signature: &'static str,
    pub doc: &'static str,
}
pub static FUNCTIONS: &[FnInfo] = &[FnInfo {
    name: "length",
    signature: "length(x)",
    doc: "",
}];
pub fn lookup(name: &str) -> Option<&'static FnInfo> {
    FUNCTIONS.iter().find(|f| f.name == name)
}
pub fn call(_name: &str, args: Vec<Value>, _apply: &mut dyn Apply) -> Result<Value, FnError> {
    match args.first() {
        Some(Value::List(l)) => Ok(Value::Int(l.len() as i64)),
        _ => Err(FnError::Arg {
            index: 0,
            message: "expected a list".into(),
        }),
    }
}
pub fn arity(name: &str) -> Option<(usize, Option<usize>)> {
    lookup(name).map(|_| (1, Some(1)))
}
