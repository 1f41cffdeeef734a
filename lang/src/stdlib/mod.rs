//! The standard library: the pure builtin functions blueprints can call, with their
//! signatures and one-line docs, the arity table for static checks, and [`call`] for the
//! evaluator.
//!
//! Every builtin is deterministic and never panics. The rules every function follows:
//!
//! - An argument the function must read that is [`Value::Unknown`] fails with
//!   [`FnError::Unknown`]; one that is a [`Value::Secret`] (or an unknown template that
//!   embeds a secret) fails with [`FnError::Secret`], so a secret is never turned into text
//!   or a number.
//! - Functions that only move values around (`merge`, `deep_merge`, `concat`, `coalesce`,
//!   `lookup`, `keys`, `values`, `length`, `map`/`filter` results, `to_map`, `zipmap`,
//!   `slice`, `reverse`, `flatten`, `distinct`) pass secrets and unknowns inside lists and
//!   records through untouched.
//! - `to_json`, `to_yaml`, `sha256` and `base64_encode` refuse any argument containing a
//!   secret or an unknown.
//! - Functions that can grow their input (`repeat`, `range`, `indent`, `join`, `replace`,
//!   `regex_replace`) refuse to build a result larger than [`MAX_SIZE`] elements or bytes
//!   (a result no larger than the inputs is always allowed).
//! - Integer overflow is an [`FnError::Arg`], never a wrap-around.

mod collections;
mod encoding;
mod higher_order;
mod numbers;
mod strings;
#[cfg(test)]
mod tests;
pub mod yaml;

use indexmap::IndexMap;

use crate::value::Value;

/// The largest result, in list elements or string bytes, a builtin builds beyond the size
/// of its inputs.
pub const MAX_SIZE: usize = 1_000_000;

/// Why a builtin call failed; the evaluator turns it into a diagnostic at the call site.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FnError {
    /// Wrong number of arguments.
    #[error("`{name}` takes {expected} argument(s), found {found}")]
    Arity {
        name: &'static str,
        expected: &'static str,
        found: usize,
    },
    /// An argument has the wrong type or value; `index` is 0-based.
    #[error("{message}")]
    Arg { index: usize, message: String },
    /// An argument is only known after apply.
    #[error("argument {} is only known after apply", index + 1)]
    Unknown { index: usize },
    /// An argument is (or contains, where the function must read it) a secret reference.
    #[error("argument {} is a secret reference", index + 1)]
    Secret { index: usize },
    /// A lambda passed in failed; the evaluator has already reported why.
    #[error("a function argument failed")]
    Reported,
}

/// Lets higher-order builtins call lambdas back through the evaluator.
pub trait Apply {
    fn apply(&mut self, func: &Value, args: Vec<Value>) -> Result<Value, FnError>;
}

/// A builtin's name, signature and one-line documentation.
#[derive(Debug)]
pub struct FnInfo {
    pub name: &'static str,
    pub signature: &'static str,
    pub doc: &'static str,
}

type Impl = fn(&mut Args<'_>) -> Result<Value, FnError>;

struct Builtin {
    min: usize,
    max: Option<usize>,
    imp: Impl,
}

/// Declares every builtin once: the public [`FUNCTIONS`] table and the dispatch table
/// are generated from the same list, so they cannot drift apart. Keep it sorted by name.
macro_rules! builtins {
    ($($name:literal ($min:literal, $max:expr) => $imp:path, $sig:literal, $doc:literal;)*) => {
        /// All builtins, sorted by name (for `did you mean` and docs).
        pub static FUNCTIONS: &[FnInfo] = &[
            $(FnInfo { name: $name, signature: $sig, doc: $doc },)*
        ];

        fn builtin(name: &str) -> Option<Builtin> {
            match name {
                $($name => Some(Builtin { min: $min, max: $max, imp: $imp }),)*
                _ => None,
            }
        }
    };
}

builtins! {
    "abs" (1, Some(1)) => numbers::abs,
        "abs(n: number) -> number",
        "The absolute value of a number; fails on integer overflow.";
    "all" (2, Some(2)) => higher_order::all,
        "all(items: list, predicate: fn(item) -> bool) -> bool",
        "Whether the predicate is true for every item (true for an empty list).";
    "any" (2, Some(2)) => higher_order::any,
        "any(items: list, predicate: fn(item) -> bool) -> bool",
        "Whether the predicate is true for at least one item (false for an empty list).";
    "base64_decode" (1, Some(1)) => encoding::base64_decode,
        "base64_decode(encoded: string) -> string",
        "Decodes standard padded base64; fails on invalid input or a result that is not UTF-8.";
    "base64_encode" (1, Some(1)) => encoding::base64_encode,
        "base64_encode(text: string) -> string",
        "Encodes a string as standard padded base64.";
    "coalesce" (1, None) => collections::coalesce,
        "coalesce(values: any...) -> any",
        "The first argument that is not null (an unknown counts as not null), or null.";
    "concat" (1, None) => collections::concat,
        "concat(lists: list...) -> list",
        "Joins lists end to end; null arguments are skipped.";
    "contains" (2, Some(2)) => collections::contains,
        "contains(haystack: list | record | string, needle: any) -> bool",
        "Whether a list has an element equal to needle, a record has key needle, or a string has substring needle.";
    "deep_merge" (1, None) => collections::deep_merge,
        "deep_merge(records: record...) -> record",
        "Merges records recursively: nested records merge, anything else is replaced by the later value; null arguments are skipped.";
    "distinct" (1, Some(1)) => collections::distinct,
        "distinct(items: list) -> list",
        "The list without repeated elements, keeping the first occurrence of each.";
    "ends_with" (2, Some(2)) => strings::ends_with,
        "ends_with(text: string, suffix: string) -> bool",
        "Whether text ends with suffix.";
    "filter" (2, Some(2)) => higher_order::filter,
        "filter(items: list, predicate: fn(item) -> bool) -> list",
        "The items for which the predicate returns true, in order.";
    "flatten" (1, Some(1)) => collections::flatten,
        "flatten(items: list) -> list",
        "Replaces nested lists by their elements, recursively.";
    "format" (1, None) => strings::format,
        "format(format: string, args: string | number | bool...) -> string",
        "Substitutes args into %s (string, number or bool) and %d (int) placeholders; %% is a literal %.";
    "from_json" (1, Some(1)) => encoding::from_json,
        "from_json(text: string) -> any",
        "Parses a JSON document into a value.";
    "has" (2, Some(2)) => collections::has,
        "has(record: record, key: string) -> bool",
        "Whether the record has the key.";
    "indent" (2, Some(2)) => strings::indent,
        "indent(spaces: int, text: string) -> string",
        "Prefixes every line but the first with spaces (empty lines stay empty).";
    "is_digest" (1, Some(1)) => encoding::is_digest,
        "is_digest(image: string) -> bool",
        "Whether an image reference is pinned by digest: `name@sha256:` and 64 lowercase hex digits.";
    "join" (2, Some(2)) => strings::join,
        "join(separator: string, items: list<string>) -> string",
        "Concatenates strings with the separator between them.";
    "keys" (1, Some(1)) => collections::keys,
        "keys(record: record) -> list<string>",
        "The record's keys, in order.";
    "length" (1, Some(1)) => collections::length,
        "length(value: list | record | string) -> int",
        "The number of elements of a list, entries of a record, or characters of a string.";
    "lookup" (3, Some(3)) => collections::lookup,
        "lookup(record: record, key: string, default: any) -> any",
        "The value under key (even if null), or default when the key is absent.";
    "lower" (1, Some(1)) => strings::lower,
        "lower(text: string) -> string",
        "The text in lower case.";
    "map" (2, Some(2)) => higher_order::map,
        "map(items: list | record, f: fn(item) -> any | fn(key, value) -> any) -> list | record",
        "Applies f to each list element, or to each record value (to key and value if f takes two parameters), keeping record keys.";
    "max" (1, None) => numbers::max,
        "max(numbers: list<number> | number...) -> number",
        "The largest number, given as one list or as several arguments.";
    "merge" (1, None) => collections::merge,
        "merge(records: record...) -> record",
        "Merges records shallowly, later keys winning; null arguments are skipped.";
    "min" (1, None) => numbers::min,
        "min(numbers: list<number> | number...) -> number",
        "The smallest number, given as one list or as several arguments.";
    "range" (1, Some(2)) => collections::range,
        "range([start: int,] end: int) -> list<int>",
        "The integers from start (default 0) up to but excluding end; empty if end <= start.";
    "regex_match" (2, Some(2)) => strings::regex_match,
        "regex_match(text: string, pattern: string) -> bool",
        "Whether the regular expression matches anywhere in text (anchor with ^ and $).";
    "regex_replace" (3, Some(3)) => strings::regex_replace,
        "regex_replace(text: string, pattern: string, replacement: string) -> string",
        "Replaces every match of the regular expression; the replacement may use $1 or ${name}.";
    "repeat" (2, Some(2)) => strings::repeat,
        "repeat(text: string, count: int) -> string",
        "The text repeated count times.";
    "replace" (3, Some(3)) => strings::replace,
        "replace(text: string, from: string, to: string) -> string",
        "Replaces every occurrence of a non-empty substring.";
    "reverse" (1, Some(1)) => collections::reverse,
        "reverse(items: list) -> list",
        "The list in reverse order.";
    "sha256" (1, Some(1)) => encoding::sha256,
        "sha256(text: string) -> string",
        "The SHA-256 digest of the UTF-8 text, as lowercase hex.";
    "slice" (3, Some(3)) => collections::slice,
        "slice(items: list, start: int, end: int) -> list",
        "The elements from index start up to but excluding end; requires 0 <= start <= end <= length.";
    "sort" (1, Some(1)) => collections::sort,
        "sort(items: list<string> | list<number>) -> list",
        "Sorts strings (by code point) or numbers ascending; a mix of both is an error.";
    "split" (2, Some(2)) => strings::split,
        "split(separator: string, text: string) -> list<string>",
        "Splits text at every separator (into characters if the separator is empty); empty text gives [].";
    "starts_with" (2, Some(2)) => strings::starts_with,
        "starts_with(text: string, prefix: string) -> bool",
        "Whether text starts with prefix.";
    "substr" (3, Some(3)) => strings::substr,
        "substr(text: string, start: int, length: int) -> string",
        "Up to length characters of text from character index start (clamped to the end).";
    "sum" (1, Some(1)) => numbers::sum,
        "sum(numbers: list<number>) -> number",
        "The sum of the numbers (0 for an empty list); a float anywhere gives a float.";
    "to_float" (1, Some(1)) => numbers::to_float,
        "to_float(value: number | string) -> float",
        "Converts a number or a decimal string to a float.";
    "to_int" (1, Some(1)) => numbers::to_int,
        "to_int(value: number | string) -> int",
        "Converts a number (truncating toward zero) or a decimal integer string to an int.";
    "to_json" (1, Some(1)) => encoding::to_json,
        "to_json(value: any) -> string",
        "Compact JSON text, record keys in order.";
    "to_map" (2, Some(2)) => higher_order::to_map,
        "to_map(items: list, key: fn(item) -> string) -> record",
        "A record of the items keyed by the string the key function returns; a repeated key is an error.";
    "to_string" (1, Some(1)) => strings::to_string,
        "to_string(value: string | number | bool) -> string",
        "The text form of a string, number or bool.";
    "to_yaml" (1, Some(1)) => encoding::to_yaml,
        "to_yaml(value: any) -> string",
        "Block-style YAML text, record keys in order.";
    "trim" (1, Some(1)) => strings::trim,
        "trim(text: string) -> string",
        "The text without leading and trailing whitespace.";
    "trim_prefix" (2, Some(2)) => strings::trim_prefix,
        "trim_prefix(text: string, prefix: string) -> string",
        "The text without prefix, if it starts with it (removed once).";
    "trim_suffix" (2, Some(2)) => strings::trim_suffix,
        "trim_suffix(text: string, suffix: string) -> string",
        "The text without suffix, if it ends with it (removed once).";
    "upper" (1, Some(1)) => strings::upper,
        "upper(text: string) -> string",
        "The text in upper case.";
    "values" (1, Some(1)) => collections::values,
        "values(record: record) -> list",
        "The record's values, in key order.";
    "zipmap" (2, Some(2)) => collections::zipmap,
        "zipmap(keys: list<string>, values: list) -> record",
        "A record pairing each key with the value at the same index; lengths must match, keys must not repeat.";
}

/// The builtin called `name`, if there is one.
pub fn lookup(name: &str) -> Option<&'static FnInfo> {
    FUNCTIONS
        .binary_search_by(|info| info.name.cmp(name))
        .ok()
        .and_then(|index| FUNCTIONS.get(index))
}

/// Accepted argument counts, for a static arity check before evaluation: (min, max or
/// None for variadic).
pub fn arity(name: &str) -> Option<(usize, Option<usize>)> {
    builtin(name).map(|b| (b.min, b.max))
}

/// Calls builtin `name` (must exist in FUNCTIONS).
pub fn call(name: &str, args: Vec<Value>, apply: &mut dyn Apply) -> Result<Value, FnError> {
    let (Some(info), Some(builtin)) = (lookup(name), builtin(name)) else {
        return Err(FnError::Arg {
            index: 0,
            message: format!("there is no builtin function `{name}`"),
        });
    };
    let found = args.len();
    if found < builtin.min || builtin.max.is_some_and(|max| found > max) {
        return Err(FnError::Arity {
            name: info.name,
            expected: expected_count(builtin.min, builtin.max),
            found,
        });
    }
    let mut args = Args {
        name: info.name,
        values: args,
        apply,
    };
    (builtin.imp)(&mut args)
}

/// How [`FnError::Arity`] words the accepted argument counts.
fn expected_count(min: usize, max: Option<usize>) -> &'static str {
    match (min, max) {
        (0, None) => "any number of",
        (1, None) => "at least 1",
        (2, None) => "at least 2",
        (1, Some(1)) => "1",
        (2, Some(2)) => "2",
        (3, Some(3)) => "3",
        (1, Some(2)) => "1 or 2",
        (2, Some(3)) => "2 or 3",
        _ => "a different number of",
    }
}

/// A number read from an argument.
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    fn cmp(self, other: Num) -> std::cmp::Ordering {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a.cmp(&b),
            (a, b) => a.as_f64().total_cmp(&b.as_f64()),
        }
    }

    fn value(self) -> Value {
        match self {
            Num::Int(i) => Value::Int(i),
            Num::Float(f) => Value::Float(f),
        }
    }
}

static NULL: Value = Value::Null;

/// The arguments of one call, with the readers every builtin uses to get typed views of
/// them (and the marker and type errors those produce).
struct Args<'a> {
    name: &'static str,
    values: Vec<Value>,
    apply: &'a mut dyn Apply,
}

impl Args<'_> {
    fn len(&self) -> usize {
        self.values.len()
    }

    /// Argument `index` as passed (null if absent; arity is checked before the call).
    fn raw(&self, index: usize) -> &Value {
        self.values.get(index).unwrap_or(&NULL)
    }

    /// Moves argument `index` out, leaving null behind.
    fn take(&mut self, index: usize) -> Value {
        self.values
            .get_mut(index)
            .map(|value| std::mem::replace(value, Value::Null))
            .unwrap_or(Value::Null)
    }

    fn error(&self, index: usize, message: impl std::fmt::Display) -> FnError {
        FnError::Arg {
            index,
            message: format!("`{}`: {message}", self.name),
        }
    }

    fn type_error(&self, index: usize, expected: &str) -> FnError {
        self.error(
            index,
            format!(
                "argument {} must be {expected}, found {}",
                index + 1,
                self.raw(index).type_name()
            ),
        )
    }

    /// The error for an element of argument `index` that is not what the function needs.
    fn element_error(
        &self,
        index: usize,
        element: usize,
        expected: &str,
        found: &Value,
    ) -> FnError {
        self.error(
            index,
            format!(
                "argument {} must contain only {expected}, but element [{element}] is {}",
                index + 1,
                found.type_name()
            ),
        )
    }

    /// Argument `index`, which the function reads: fails if it is a secret or unknown.
    fn readable(&self, index: usize) -> Result<&Value, FnError> {
        let value = self.raw(index);
        check_readable(index, value)?;
        Ok(value)
    }

    fn str(&self, index: usize) -> Result<&str, FnError> {
        match self.readable(index)? {
            Value::Str(s) => Ok(s),
            _ => Err(self.type_error(index, "a string")),
        }
    }

    fn int(&self, index: usize) -> Result<i64, FnError> {
        match self.readable(index)? {
            Value::Int(i) => Ok(*i),
            _ => Err(self.type_error(index, "an int")),
        }
    }

    /// A non-negative int argument, as a count or an index.
    fn count(&self, index: usize, what: &str) -> Result<usize, FnError> {
        let n = self.int(index)?;
        usize::try_from(n).map_err(|_| {
            self.error(
                index,
                format!(
                    "{what} (argument {}) must not be negative, found {n}",
                    index + 1
                ),
            )
        })
    }

    fn num(&self, index: usize) -> Result<Num, FnError> {
        match self.readable(index)? {
            Value::Int(i) => Ok(Num::Int(*i)),
            Value::Float(f) => Ok(Num::Float(*f)),
            _ => Err(self.type_error(index, "a number")),
        }
    }

    /// A list argument; its elements are not checked.
    fn list(&self, index: usize) -> Result<&[Value], FnError> {
        match self.readable(index)? {
            Value::List(items) => Ok(items),
            _ => Err(self.type_error(index, "a list")),
        }
    }

    /// A list argument moved out of the call; its elements are not checked.
    fn take_list(&mut self, index: usize) -> Result<Vec<Value>, FnError> {
        self.list(index)?;
        match self.take(index) {
            Value::List(items) => Ok(std::sync::Arc::unwrap_or_clone(items)),
            _ => Ok(Vec::new()),
        }
    }

    /// A record argument; its values are not checked.
    fn record(&self, index: usize) -> Result<&IndexMap<String, Value>, FnError> {
        match self.readable(index)? {
            Value::Record(fields) => Ok(fields),
            _ => Err(self.type_error(index, "a record")),
        }
    }

    /// The string elements of list argument `index`.
    fn strings(&self, index: usize) -> Result<Vec<&str>, FnError> {
        let items = self.list(index)?;
        let mut out = Vec::with_capacity(items.len());
        for (j, item) in items.iter().enumerate() {
            check_readable(index, item)?;
            match item {
                Value::Str(s) => out.push(s.as_str()),
                _ => return Err(self.element_error(index, j, "strings", item)),
            }
        }
        Ok(out)
    }

    /// A lambda argument (higher-order builtins).
    fn func(&mut self, index: usize) -> Result<Value, FnError> {
        match self.raw(index) {
            Value::Func(_) => Ok(self.take(index)),
            _ => Err(self.type_error(index, "a function")),
        }
    }

    /// Fails unless a result of `size` elements or bytes is within [`MAX_SIZE`] or no
    /// larger than the `input` it was built from. `None` means the size overflowed.
    fn check_size(&self, index: usize, size: Option<usize>, input: usize) -> Result<(), FnError> {
        match size {
            Some(size) if size <= MAX_SIZE.max(input) => Ok(()),
            _ => Err(self.error(
                index,
                format!("the result would exceed the limit of {MAX_SIZE} elements or bytes"),
            )),
        }
    }
}

/// Fails if a value the function must read is a secret or unknown (an unknown template
/// that embeds a secret counts as a secret: it stays unreadable after apply too).
fn check_readable(index: usize, value: &Value) -> Result<(), FnError> {
    match value {
        Value::Secret(_) => Err(FnError::Secret { index }),
        Value::Unknown(_) if value.contains_secret() => Err(FnError::Secret { index }),
        Value::Unknown(_) => Err(FnError::Unknown { index }),
        _ => Ok(()),
    }
}

/// Fails if a value that is about to be turned into text in full contains a secret or an
/// unknown anywhere inside.
fn check_plain(index: usize, value: &Value) -> Result<(), FnError> {
    if value.contains_secret() {
        Err(FnError::Secret { index })
    } else if value.contains_unknown() {
        Err(FnError::Unknown { index })
    } else {
        Ok(())
    }
}

/// Block YAML for plain JSON, quoting strings a YAML 1.1 reader (Kubernetes) would misread;
/// the same text `to_yaml` produces.
pub fn yaml_text(json: serde_json::Value) -> std::result::Result<String, String> {
    encoding::yaml_text(json)
}
