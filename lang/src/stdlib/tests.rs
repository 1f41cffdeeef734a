//! Tests for the builtins: a passing and a failing case for every function (checked by
//! `every_function_has_a_passing_and_a_failing_case`), the table invariants, and a sweep
//! calling every function with awkward arguments to show none of them panics.

use std::sync::Arc;

use super::*;
use crate::ast::{Expr, ExprKind, Literal};
use crate::span::Span;
use crate::value::{Deferred, Env, Lambda, SecretRef, TemplatePart};

type Callback = fn(Vec<Value>) -> Result<Value, FnError>;

/// Stands in for the evaluator: applies every lambda with a fixed Rust callback.
struct Fake(Callback);

impl Apply for Fake {
    fn apply(&mut self, func: &Value, args: Vec<Value>) -> Result<Value, FnError> {
        assert!(matches!(func, Value::Func(_)), "only lambdas are applied");
        (self.0)(args)
    }
}

fn unavailable(_: Vec<Value>) -> Result<Value, FnError> {
    Err(FnError::Reported)
}

fn first(args: Vec<Value>) -> Result<Value, FnError> {
    Ok(args.into_iter().next().unwrap_or(Value::Null))
}

fn double(args: Vec<Value>) -> Result<Value, FnError> {
    match args.as_slice() {
        [Value::Int(n)] => Ok(Value::Int(n * 2)),
        _ => Err(FnError::Reported),
    }
}

fn is_even(args: Vec<Value>) -> Result<Value, FnError> {
    match args.as_slice() {
        [Value::Int(n)] => Ok(Value::Bool(n % 2 == 0)),
        _ => Err(FnError::Reported),
    }
}

fn is_even_or_unknown(args: Vec<Value>) -> Result<Value, FnError> {
    match args.as_slice() {
        [Value::Unknown(_)] => Ok(unknown("x.y")),
        _ => is_even(args),
    }
}

fn name_of(args: Vec<Value>) -> Result<Value, FnError> {
    match args.as_slice() {
        [Value::Record(fields)] => Ok(fields.get("name").cloned().unwrap_or(Value::Null)),
        _ => Err(FnError::Reported),
    }
}

fn one(_: Vec<Value>) -> Result<Value, FnError> {
    Ok(Value::Int(1))
}

fn pair(args: Vec<Value>) -> Result<Value, FnError> {
    Ok(Value::list(args))
}

fn lambda(params: &[&str]) -> Value {
    Value::Func(Arc::new(Lambda {
        params: params.iter().map(|p| p.to_string()).collect(),
        body: Arc::new(Expr {
            kind: ExprKind::Literal(Literal::Null),
            span: Span::default(),
        }),
        env: Env::empty(),
        instance: 0,
    }))
}

fn f() -> Value {
    lambda(&["x"])
}

fn s(text: &str) -> Value {
    Value::str(text)
}

fn i(n: i64) -> Value {
    Value::Int(n)
}

fn fl(x: f64) -> Value {
    Value::Float(x)
}

fn b(x: bool) -> Value {
    Value::Bool(x)
}

fn null() -> Value {
    Value::Null
}

fn list(items: Vec<Value>) -> Value {
    Value::list(items)
}

fn strs(items: &[&str]) -> Value {
    list(items.iter().map(|t| s(t)).collect())
}

fn ints(items: &[i64]) -> Value {
    list(items.iter().map(|n| i(*n)).collect())
}

fn rec(pairs: Vec<(&str, Value)>) -> Value {
    Value::record(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn secret(path: &str) -> Value {
    Value::Secret(SecretRef { path: path.into() })
}

fn unknown(address: &str) -> Value {
    Value::Unknown(Box::new(Deferred::Attr {
        address: address.into(),
        path: vec!["id".into()],
    }))
}

/// An unknown template that embeds a secret: `postgres://${secret}@${unknown}`.
fn secret_template() -> Value {
    Value::Unknown(Box::new(Deferred::Template(vec![
        TemplatePart::Text("postgres://".into()),
        TemplatePart::Value(secret("db")),
        TemplatePart::Text("@".into()),
        TemplatePart::Value(unknown("host")),
    ])))
}

const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[derive(Debug)]
enum Expect {
    Is(Value),
    Arg(usize),
    Unknown(usize),
    Secret(usize),
    Arity,
    Reported,
}

struct Case {
    name: &'static str,
    args: Vec<Value>,
    callback: Callback,
    expect: Expect,
}

impl Case {
    fn with(mut self, callback: Callback) -> Case {
        self.callback = callback;
        self
    }
}

fn case(name: &'static str, args: Vec<Value>, expect: Expect) -> Case {
    Case {
        name,
        args,
        callback: unavailable,
        expect,
    }
}

fn ok(name: &'static str, args: Vec<Value>, value: Value) -> Case {
    case(name, args, Expect::Is(value))
}

fn arg(name: &'static str, args: Vec<Value>, index: usize) -> Case {
    case(name, args, Expect::Arg(index))
}

/// Same value and same types all the way down (1 and 1.0 differ here).
fn same(a: &Value, b: &Value) -> bool {
    serde_json::to_string(a).ok() == serde_json::to_string(b).ok() && a.equals(b)
}

fn cases() -> Vec<Case> {
    use Expect::{Arity, Reported, Secret, Unknown};
    vec![
        // abs
        ok("abs", vec![i(-3)], i(3)),
        ok("abs", vec![fl(-2.5)], fl(2.5)),
        arg("abs", vec![i(i64::MIN)], 0),
        arg("abs", vec![s("1")], 0),
        // all
        ok("all", vec![ints(&[2, 4]), f()], b(true)).with(is_even),
        ok("all", vec![ints(&[2, 3]), f()], b(false)).with(is_even),
        ok("all", vec![ints(&[]), f()], b(true)).with(is_even),
        ok("all", vec![list(vec![unknown("a"), i(3)]), f()], b(false)).with(is_even_or_unknown),
        case("all", vec![list(vec![unknown("a"), i(2)]), f()], Unknown(1)).with(is_even_or_unknown),
        arg("all", vec![ints(&[1]), i(1)], 1).with(is_even),
        arg("all", vec![ints(&[1]), f()], 1).with(one),
        case("all", vec![ints(&[1]), f()], Reported),
        // any
        ok("any", vec![ints(&[1, 2]), f()], b(true)).with(is_even),
        ok("any", vec![ints(&[1, 3]), f()], b(false)).with(is_even),
        arg("any", vec![s("x"), f()], 0).with(is_even),
        // base64_decode
        ok("base64_decode", vec![s("aGVsbG8=")], s("hello")),
        arg("base64_decode", vec![s("!!")], 0),
        arg("base64_decode", vec![s("/w==")], 0),
        // base64_encode
        ok("base64_encode", vec![s("hello")], s("aGVsbG8=")),
        case("base64_encode", vec![secret("k")], Secret(0)),
        case("base64_encode", vec![secret_template()], Secret(0)),
        case("base64_encode", vec![unknown("a")], Unknown(0)),
        arg("base64_encode", vec![i(1)], 0),
        // coalesce
        ok("coalesce", vec![null(), null(), i(3), i(4)], i(3)),
        ok("coalesce", vec![null()], null()),
        ok("coalesce", vec![null(), secret("k")], secret("k")),
        ok("coalesce", vec![null(), unknown("a"), i(1)], unknown("a")),
        case("coalesce", vec![], Arity),
        // concat
        ok(
            "concat",
            vec![ints(&[1]), null(), list(vec![i(2), secret("k")])],
            list(vec![i(1), i(2), secret("k")]),
        ),
        arg("concat", vec![ints(&[1]), i(2)], 1),
        case("concat", vec![unknown("a")], Unknown(0)),
        // contains
        ok("contains", vec![ints(&[1, 2]), i(2)], b(true)),
        ok("contains", vec![list(vec![fl(1.0)]), i(1)], b(true)),
        ok("contains", vec![ints(&[1]), i(3)], b(false)),
        ok("contains", vec![list(vec![secret("k")]), secret("k")], b(true)),
        ok("contains", vec![list(vec![unknown("a"), i(1)]), i(1)], b(true)),
        ok("contains", vec![rec(vec![("a", i(1))]), s("a")], b(true)),
        ok("contains", vec![s("hello"), s("ell")], b(true)),
        case("contains", vec![list(vec![unknown("a")]), i(1)], Unknown(0)),
        case("contains", vec![ints(&[1]), unknown("a")], Unknown(1)),
        case("contains", vec![s("x"), secret("k")], Secret(1)),
        case("contains", vec![secret("k"), s("x")], Secret(0)),
        arg("contains", vec![i(5), i(1)], 0),
        arg("contains", vec![rec(vec![("a", i(1))]), i(1)], 1),
        // deep_merge
        ok(
            "deep_merge",
            vec![
                rec(vec![
                    ("a", rec(vec![("x", i(1)), ("y", i(1))])),
                    ("b", ints(&[1])),
                ]),
                null(),
                rec(vec![
                    ("a", rec(vec![("y", i(2)), ("z", secret("k"))])),
                    ("b", ints(&[2])),
                    ("c", unknown("u")),
                ]),
            ],
            rec(vec![
                ("a", rec(vec![("x", i(1)), ("y", i(2)), ("z", secret("k"))])),
                ("b", ints(&[2])),
                ("c", unknown("u")),
            ]),
        ),
        ok(
            "deep_merge",
            vec![rec(vec![("a", i(1))]), rec(vec![("a", rec(vec![("b", i(2))]))])],
            rec(vec![("a", rec(vec![("b", i(2))]))]),
        ),
        arg("deep_merge", vec![rec(vec![]), ints(&[1])], 1),
        // distinct
        ok(
            "distinct",
            vec![list(vec![i(1), i(2), i(1), fl(1.0), s("a"), s("a")])],
            list(vec![i(1), i(2), s("a")]),
        ),
        ok("distinct", vec![strs(&["b", "a", "b"])], strs(&["b", "a"])),
        ok(
            "distinct",
            vec![list(vec![secret("k"), secret("k"), unknown("a")])],
            list(vec![secret("k"), unknown("a")]),
        ),
        arg("distinct", vec![s("x")], 0),
        case("distinct", vec![unknown("a")], Unknown(0)),
        // ends_with
        ok("ends_with", vec![s("abc"), s("bc")], b(true)),
        ok("ends_with", vec![s("abc"), s("ab")], b(false)),
        arg("ends_with", vec![s("abc"), i(1)], 1),
        // filter
        ok("filter", vec![ints(&[1, 2, 3, 4]), f()], ints(&[2, 4])).with(is_even),
        arg("filter", vec![ints(&[1]), f()], 1).with(one),
        arg("filter", vec![ints(&[1]), s("f")], 1).with(is_even),
        case("filter", vec![list(vec![unknown("a")]), f()], Unknown(1)).with(is_even_or_unknown),
        // flatten
        ok(
            "flatten",
            vec![list(vec![
                i(1),
                list(vec![i(2), list(vec![i(3), secret("k")])]),
                list(vec![]),
                rec(vec![]),
            ])],
            list(vec![i(1), i(2), i(3), secret("k"), rec(vec![])]),
        ),
        arg("flatten", vec![rec(vec![])], 0),
        // format
        ok(
            "format",
            vec![s("%s-%d %% %s"), s("a"), i(5), b(true)],
            s("a-5 % true"),
        ),
        ok("format", vec![s("v%s"), fl(1.5)], s("v1.5")),
        ok("format", vec![s("héllo")], s("héllo")),
        arg("format", vec![s("%d"), s("x")], 1),
        arg("format", vec![s("%d"), fl(1.0)], 1),
        arg("format", vec![s("%s %s"), s("a")], 0),
        arg("format", vec![s("%s"), s("a"), s("b")], 2),
        arg("format", vec![s("%x"), i(1)], 0),
        arg("format", vec![s("50%")], 0),
        arg("format", vec![s("%s"), ints(&[1])], 1),
        case("format", vec![s("%s"), secret("k")], Secret(1)),
        case("format", vec![s("%s"), unknown("a")], Unknown(1)),
        // from_json
        ok(
            "from_json",
            vec![s(r#"{"b":1,"a":[true,null,1.5,"x"]}"#)],
            rec(vec![
                ("b", i(1)),
                ("a", list(vec![b(true), null(), fl(1.5), s("x")])),
            ]),
        ),
        arg("from_json", vec![s("{")], 0),
        arg("from_json", vec![s(&"[".repeat(1000))], 0),
        // has
        ok("has", vec![rec(vec![("a", i(1))]), s("a")], b(true)),
        ok("has", vec![rec(vec![("a", i(1))]), s("b")], b(false)),
        arg("has", vec![ints(&[1]), s("a")], 0),
        // indent
        ok("indent", vec![i(2), s("a\nb\n\nc")], s("a\n  b\n\n  c")),
        ok("indent", vec![i(1_000_000), s("single line")], s("single line")),
        arg("indent", vec![i(-1), s("a")], 0),
        arg("indent", vec![i(1_000_000), s("a\nb\nc")], 0),
        // is_digest
        ok("is_digest", vec![s(&format!("nginx@sha256:{DIGEST}"))], b(true)),
        ok(
            "is_digest",
            vec![s(&format!("ghcr.io/acme/odoo:17.0@sha256:{DIGEST}"))],
            b(true),
        ),
        ok("is_digest", vec![s("nginx:1.25")], b(false)),
        ok("is_digest", vec![s(&format!("@sha256:{DIGEST}"))], b(false)),
        ok(
            "is_digest",
            vec![s(&format!("nginx@sha256:{}", DIGEST.to_uppercase()))],
            b(false),
        ),
        ok("is_digest", vec![s(&format!("nginx@sha256:{DIGEST}0"))], b(false)),
        arg("is_digest", vec![i(1)], 0),
        // join
        ok("join", vec![s(", "), strs(&["a", "b"])], s("a, b")),
        ok("join", vec![s(","), strs(&[])], s("")),
        arg("join", vec![s(","), list(vec![s("a"), i(1)])], 1),
        case("join", vec![s(","), list(vec![s("a"), secret("k")])], Secret(1)),
        arg(
            "join",
            vec![s(&"-".repeat(1000)), list(vec![s(""); 2000])],
            1,
        ),
        // keys
        ok("keys", vec![rec(vec![("b", i(1)), ("a", i(2))])], strs(&["b", "a"])),
        arg("keys", vec![ints(&[1])], 0),
        case("keys", vec![unknown("a")], Unknown(0)),
        // length
        ok("length", vec![ints(&[1, 2])], i(2)),
        ok("length", vec![rec(vec![("a", i(1))])], i(1)),
        ok("length", vec![s("héllo")], i(5)),
        ok("length", vec![list(vec![secret("k"), unknown("a")])], i(2)),
        arg("length", vec![i(1)], 0),
        case("length", vec![secret("k")], Secret(0)),
        // lookup
        ok("lookup", vec![rec(vec![("a", i(1))]), s("a"), i(0)], i(1)),
        ok("lookup", vec![rec(vec![("a", i(1))]), s("b"), i(0)], i(0)),
        ok("lookup", vec![rec(vec![("a", null())]), s("a"), i(0)], null()),
        ok(
            "lookup",
            vec![rec(vec![("x", i(0)), ("a", secret("k"))]), s("a"), null()],
            secret("k"),
        ),
        arg("lookup", vec![s("x"), s("a"), i(0)], 0),
        case("lookup", vec![rec(vec![("a", i(1))]), s("a")], Arity),
        // lower
        ok("lower", vec![s("HeLLo É")], s("hello é")),
        arg("lower", vec![i(1)], 0),
        // map
        ok("map", vec![ints(&[1, 2]), f()], ints(&[2, 4])).with(double),
        ok(
            "map",
            vec![rec(vec![("a", i(1)), ("b", i(2))]), f()],
            rec(vec![("a", i(2)), ("b", i(4))]),
        )
        .with(double),
        ok(
            "map",
            vec![rec(vec![("a", secret("k"))]), lambda(&["k", "v"])],
            rec(vec![("a", list(vec![s("a"), secret("k")]))]),
        )
        .with(pair),
        ok("map", vec![list(vec![unknown("a")]), f()], list(vec![unknown("a")])).with(first),
        arg("map", vec![i(1), f()], 0).with(double),
        arg("map", vec![ints(&[1]), i(1)], 1).with(double),
        case("map", vec![ints(&[1]), f()], Reported),
        // max
        ok("max", vec![list(vec![i(1), fl(5.5), i(3)])], fl(5.5)),
        ok("max", vec![i(1), i(7), i(3)], i(7)),
        ok("max", vec![i(7)], i(7)),
        arg("max", vec![ints(&[])], 0),
        arg("max", vec![i(1), s("a")], 1),
        arg("max", vec![strs(&["a"])], 0),
        // merge
        ok(
            "merge",
            vec![
                rec(vec![("a", i(1)), ("b", rec(vec![("x", i(1))]))]),
                null(),
                rec(vec![("b", i(2)), ("c", secret("k"))]),
            ],
            rec(vec![("a", i(1)), ("b", i(2)), ("c", secret("k"))]),
        ),
        arg("merge", vec![rec(vec![]), i(1)], 1),
        case("merge", vec![unknown("a")], Unknown(0)),
        // min
        ok("min", vec![ints(&[3, 1, 2])], i(1)),
        ok("min", vec![i(2), fl(-1.5)], fl(-1.5)),
        case("min", vec![list(vec![unknown("a")])], Unknown(0)),
        arg("min", vec![null()], 0),
        // range
        ok("range", vec![i(3)], ints(&[0, 1, 2])),
        ok("range", vec![i(2), i(5)], ints(&[2, 3, 4])),
        ok("range", vec![i(5), i(2)], ints(&[])),
        ok("range", vec![i(-2)], ints(&[])),
        arg("range", vec![i(0), i(2_000_000)], 1),
        arg("range", vec![i(i64::MIN), i(i64::MAX)], 1),
        arg("range", vec![s("a")], 0),
        case("range", vec![i(1), i(2), i(3)], Arity),
        // regex_match
        ok("regex_match", vec![s("abc123"), s("[0-9]+$")], b(true)),
        ok("regex_match", vec![s("abc"), s("^b")], b(false)),
        arg("regex_match", vec![s("a"), s("(")], 1),
        // regex_replace
        ok(
            "regex_replace",
            vec![s("a1b22"), s("[0-9]+"), s("#")],
            s("a#b#"),
        ),
        ok(
            "regex_replace",
            vec![s("john smith"), s(r"(\w+) (?P<last>\w+)"), s("${last} $1")],
            s("smith john"),
        ),
        arg("regex_replace", vec![s("a"), s("("), s("")], 1),
        arg(
            "regex_replace",
            vec![s(&"a".repeat(1000)), s(""), s(&"x".repeat(2000))],
            2,
        ),
        // repeat
        ok("repeat", vec![s("ab"), i(3)], s("ababab")),
        ok("repeat", vec![s(""), i(i64::MAX)], s("")),
        arg("repeat", vec![s("ab"), i(-1)], 1),
        arg("repeat", vec![s("ab"), i(1_000_000)], 1),
        arg("repeat", vec![s("ab"), i(i64::MAX)], 1),
        // replace
        ok("replace", vec![s("a.b.c"), s("."), s("-")], s("a-b-c")),
        arg("replace", vec![s("abc"), s(""), s("x")], 1),
        arg(
            "replace",
            vec![s(&"a".repeat(1000)), s("a"), s(&"x".repeat(2000))],
            2,
        ),
        // reverse
        ok(
            "reverse",
            vec![list(vec![i(1), secret("k"), i(3)])],
            list(vec![i(3), secret("k"), i(1)]),
        ),
        arg("reverse", vec![s("abc")], 0),
        // sha256
        ok(
            "sha256",
            vec![s("")],
            s("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ),
        ok(
            "sha256",
            vec![s("abc")],
            s("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ),
        case("sha256", vec![secret("k")], Secret(0)),
        case("sha256", vec![secret_template()], Secret(0)),
        case("sha256", vec![unknown("a")], Unknown(0)),
        arg("sha256", vec![i(1)], 0),
        // slice
        ok("slice", vec![ints(&[1, 2, 3, 4]), i(1), i(3)], ints(&[2, 3])),
        ok("slice", vec![ints(&[1, 2]), i(2), i(2)], ints(&[])),
        ok(
            "slice",
            vec![list(vec![unknown("a"), secret("k")]), i(0), i(2)],
            list(vec![unknown("a"), secret("k")]),
        ),
        arg("slice", vec![ints(&[1, 2]), i(1), i(3)], 2),
        arg("slice", vec![ints(&[1, 2]), i(2), i(1)], 1),
        arg("slice", vec![ints(&[1]), i(-1), i(1)], 1),
        // sort
        ok("sort", vec![strs(&["b", "a", "C"])], strs(&["C", "a", "b"])),
        ok(
            "sort",
            vec![list(vec![i(3), fl(1.5), i(-2)])],
            list(vec![i(-2), fl(1.5), i(3)]),
        ),
        ok("sort", vec![ints(&[])], ints(&[])),
        arg("sort", vec![list(vec![i(1), s("a")])], 0),
        arg("sort", vec![list(vec![ints(&[1])])], 0),
        case("sort", vec![list(vec![secret("k")])], Secret(0)),
        // split
        ok("split", vec![s(","), s("a,b,,c")], strs(&["a", "b", "", "c"])),
        ok("split", vec![s(","), s("")], strs(&[])),
        ok("split", vec![s(""), s("hé")], strs(&["h", "é"])),
        arg("split", vec![i(1), s("a")], 0),
        // starts_with
        ok("starts_with", vec![s("abc"), s("ab")], b(true)),
        case("starts_with", vec![secret("k"), s("a")], Secret(0)),
        // substr
        ok("substr", vec![s("héllo"), i(1), i(3)], s("éll")),
        ok("substr", vec![s("abc"), i(2), i(10)], s("c")),
        ok("substr", vec![s("abc"), i(5), i(1)], s("")),
        arg("substr", vec![s("abc"), i(-1), i(1)], 1),
        // sum
        ok("sum", vec![ints(&[1, 2, 3])], i(6)),
        ok("sum", vec![list(vec![i(1), fl(0.5)])], fl(1.5)),
        ok("sum", vec![ints(&[])], i(0)),
        arg("sum", vec![ints(&[i64::MAX, 1])], 0),
        arg("sum", vec![strs(&["a"])], 0),
        // to_float
        ok("to_float", vec![i(1)], fl(1.0)),
        ok("to_float", vec![s("2.5")], fl(2.5)),
        arg("to_float", vec![s("abc")], 0),
        arg("to_float", vec![s("inf")], 0),
        arg("to_float", vec![b(true)], 0),
        // to_int
        ok("to_int", vec![fl(3.9)], i(3)),
        ok("to_int", vec![fl(-3.9)], i(-3)),
        ok("to_int", vec![s("-42")], i(-42)),
        arg("to_int", vec![s("4.2")], 0),
        arg("to_int", vec![fl(1e300)], 0),
        arg("to_int", vec![fl(9_223_372_036_854_775_808.0)], 0),
        arg("to_int", vec![fl(f64::NAN)], 0),
        arg("to_int", vec![s("99999999999999999999")], 0),
        // to_json
        ok(
            "to_json",
            vec![rec(vec![
                ("b", list(vec![i(1), fl(1.5), s("x\"y"), null(), b(true)])),
                ("a", rec(vec![])),
            ])],
            s(r#"{"b":[1,1.5,"x\"y",null,true],"a":{}}"#),
        ),
        case("to_json", vec![rec(vec![("p", secret("k"))])], Secret(0)),
        case("to_json", vec![list(vec![unknown("a")])], Unknown(0)),
        arg("to_json", vec![list(vec![f()])], 0),
        arg("to_json", vec![fl(f64::INFINITY)], 0),
        // to_map
        ok(
            "to_map",
            vec![
                list(vec![
                    rec(vec![("name", s("b")), ("pw", secret("k"))]),
                    rec(vec![("name", s("a"))]),
                ]),
                f(),
            ],
            rec(vec![
                ("b", rec(vec![("name", s("b")), ("pw", secret("k"))])),
                ("a", rec(vec![("name", s("a"))])),
            ]),
        )
        .with(name_of),
        arg(
            "to_map",
            vec![
                list(vec![rec(vec![("name", s("a"))]), rec(vec![("name", s("a"))])]),
                f(),
            ],
            0,
        )
        .with(name_of),
        arg("to_map", vec![ints(&[1]), f()], 1).with(one),
        arg("to_map", vec![ints(&[1]), i(1)], 1).with(one),
        case("to_map", vec![list(vec![secret("k")]), f()], Secret(1)).with(first),
        // to_string
        ok("to_string", vec![i(1)], s("1")),
        ok("to_string", vec![fl(2.0)], s("2.0")),
        ok("to_string", vec![fl(0.1)], s("0.1")),
        ok("to_string", vec![b(true)], s("true")),
        ok("to_string", vec![s("x")], s("x")),
        arg("to_string", vec![ints(&[1])], 0),
        arg("to_string", vec![null()], 0),
        case("to_string", vec![secret("k")], Secret(0)),
        // to_yaml
        ok(
            "to_yaml",
            vec![rec(vec![
                ("name", s("web")),
                ("ports", ints(&[80, 443])),
                ("flag", s("yes")),
                ("env", rec(vec![("B", s("2")), ("A", null())])),
            ])],
            s("name: web\nports:\n- 80\n- 443\nflag: 'yes'\nenv:\n  B: '2'\n  A: null\n"),
        ),
        ok(
            "to_yaml",
            vec![rec(vec![
                ("on", strs(&["off", "N", "1_000", "1:20", "0x1F", "yes sir", "obp-yaml-quoted-0."])),
                ("text", s("line 1\nline 2\n")),
            ])],
            s("'on':\n- 'off'\n- 'N'\n- '1_000'\n- '1:20'\n- '0x1F'\n- yes sir\n- obp-yaml-quoted-0.\ntext: |\n  line 1\n  line 2\n"),
        ),
        case("to_yaml", vec![rec(vec![("p", secret("k"))])], Secret(0)),
        case("to_yaml", vec![unknown("a")], Unknown(0)),
        // trim
        ok("trim", vec![s("  a b \n")], s("a b")),
        arg("trim", vec![i(1)], 0),
        // trim_prefix
        ok("trim_prefix", vec![s("prefix-prefix-x"), s("prefix-")], s("prefix-x")),
        ok("trim_prefix", vec![s("x"), s("p")], s("x")),
        case("trim_prefix", vec![s("a"), unknown("a")], Unknown(1)),
        // trim_suffix
        ok("trim_suffix", vec![s("x.yaml"), s(".yaml")], s("x")),
        arg("trim_suffix", vec![i(1), s("a")], 0),
        // upper
        ok("upper", vec![s("abc")], s("ABC")),
        arg("upper", vec![null()], 0),
        // values
        ok(
            "values",
            vec![rec(vec![("a", secret("k")), ("b", unknown("u"))])],
            list(vec![secret("k"), unknown("u")]),
        ),
        arg("values", vec![ints(&[1])], 0),
        // zipmap
        ok(
            "zipmap",
            vec![strs(&["b", "a"]), list(vec![i(1), secret("k")])],
            rec(vec![("b", i(1)), ("a", secret("k"))]),
        ),
        arg("zipmap", vec![strs(&["a"]), ints(&[1, 2])], 1),
        arg("zipmap", vec![strs(&["a", "a"]), ints(&[1, 2])], 0),
        arg("zipmap", vec![ints(&[1]), ints(&[1])], 0),
    ]
}

fn check(case: &Case) -> Result<(), String> {
    let result = call(case.name, case.args.clone(), &mut Fake(case.callback));
    let fine = match (&case.expect, &result) {
        (Expect::Is(want), Ok(got)) => same(want, got),
        (Expect::Arg(want), Err(FnError::Arg { index, message })) => {
            index == want && message.starts_with(&format!("`{}`: ", case.name))
        }
        (Expect::Unknown(want), Err(FnError::Unknown { index })) => index == want,
        (Expect::Secret(want), Err(FnError::Secret { index })) => index == want,
        (Expect::Arity, Err(FnError::Arity { .. })) => true,
        (Expect::Reported, Err(FnError::Reported)) => true,
        _ => false,
    };
    if fine {
        Ok(())
    } else {
        Err(format!(
            "{}({:?}): expected {:?}, got {:?}",
            case.name, case.args, case.expect, result
        ))
    }
}

#[test]
fn builtins_behave_as_documented() {
    let failures: Vec<String> = cases().iter().filter_map(|c| check(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_function_has_a_passing_and_a_failing_case() {
    let cases = cases();
    for info in FUNCTIONS {
        let mine = || cases.iter().filter(|c| c.name == info.name);
        assert!(
            mine().any(|c| matches!(c.expect, Expect::Is(_))),
            "no passing case for `{}`",
            info.name
        );
        assert!(
            mine().any(|c| !matches!(c.expect, Expect::Is(_))),
            "no failing case for `{}`",
            info.name
        );
    }
    for case in &cases {
        assert!(
            lookup(case.name).is_some(),
            "case for unknown `{}`",
            case.name
        );
    }
}

#[test]
fn table_is_sorted_documented_and_dispatchable() {
    for pair in FUNCTIONS.windows(2) {
        assert!(
            pair[0].name < pair[1].name,
            "{} before {}",
            pair[0].name,
            pair[1].name
        );
    }
    for info in FUNCTIONS {
        assert!(std::ptr::eq(lookup(info.name).unwrap(), info));
        let (min, max) = arity(info.name).unwrap();
        assert_ne!(
            expected_count(min, max),
            "a different number of",
            "{}",
            info.name
        );
        let prefix = format!("{}(", info.name);
        assert!(info.signature.starts_with(&prefix), "{}", info.signature);
        assert!(info.signature.contains(" -> "), "{}", info.signature);
        assert!(
            info.doc.ends_with('.') && !info.doc.contains('\n'),
            "{}: {}",
            info.name,
            info.doc
        );
    }
    assert!(lookup("nope").is_none());
    assert!(arity("nope").is_none());
    assert_eq!(arity("format"), Some((1, None)));
    assert_eq!(arity("range"), Some((1, Some(2))));
}

#[test]
fn unknown_function_and_arity_errors() {
    let mut apply = Fake(unavailable);
    assert!(matches!(
        call("nope", vec![], &mut apply),
        Err(FnError::Arg { index: 0, .. })
    ));
    let err = call("upper", vec![s("a"), s("b")], &mut apply).unwrap_err();
    assert_eq!(
        err,
        FnError::Arity {
            name: "upper",
            expected: "1",
            found: 2
        }
    );
    assert_eq!(err.to_string(), "`upper` takes 1 argument(s), found 2");
    assert_eq!(
        FnError::Secret { index: 0 }.to_string(),
        "argument 1 is a secret reference"
    );
}

#[test]
fn error_messages_name_the_function_and_argument() {
    let err = call(
        "join",
        vec![s(","), list(vec![s("a"), i(1)])],
        &mut Fake(unavailable),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`join`: argument 2 must contain only strings, but element [1] is int"
    );
    let err = call("upper", vec![i(1)], &mut Fake(unavailable)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`upper`: argument 1 must be a string, found int"
    );
}

#[test]
fn merge_keeps_first_positions_and_is_deterministic() {
    let a = rec(vec![("z", i(1)), ("a", i(1))]);
    let b = rec(vec![("m", i(2)), ("z", i(2))]);
    let merged = call("merge", vec![a, b], &mut Fake(unavailable)).unwrap();
    let Value::Record(fields) = merged else {
        panic!("not a record")
    };
    let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(keys, ["z", "a", "m"]);
    assert!(same(&fields["z"], &i(2)));
}

#[test]
fn results_at_the_size_limit_are_allowed() {
    let mut apply = Fake(unavailable);
    let big = call("repeat", vec![s("a"), i(MAX_SIZE as i64)], &mut apply).unwrap();
    assert_eq!(big.as_str().map(str::len), Some(MAX_SIZE));
    let over = call("repeat", vec![s("a"), i(MAX_SIZE as i64 + 1)], &mut apply);
    assert!(matches!(over, Err(FnError::Arg { index: 1, .. })));
    let Value::List(items) = call("range", vec![i(MAX_SIZE as i64)], &mut apply).unwrap() else {
        panic!("not a list")
    };
    assert_eq!(items.len(), MAX_SIZE);
    // Shrinking or same-size results of inputs above the limit are fine.
    let text = "ab".repeat(MAX_SIZE);
    let replaced = call("replace", vec![s(&text), s("a"), s("c")], &mut apply).unwrap();
    assert_eq!(replaced.as_str().map(str::len), Some(text.len()));
}

/// Calls every builtin with every combination of awkward arguments up to three long:
/// whatever the result, nothing may panic.
#[test]
fn no_builtin_panics_on_awkward_arguments() {
    let samples = vec![
        null(),
        b(true),
        i(0),
        i(-1),
        i(i64::MAX),
        i(i64::MIN),
        fl(f64::NAN),
        fl(f64::NEG_INFINITY),
        fl(-0.5),
        s(""),
        s("a,%s\n%d"),
        s("é"),
        list(vec![]),
        list(vec![i(1), s("x"), null()]),
        list(vec![fl(f64::NAN), fl(1.0)]),
        rec(vec![("a", i(1)), ("name", s("n"))]),
        secret("k"),
        unknown("a"),
        secret_template(),
        f(),
    ];
    fn combos(samples: &[Value], len: usize) -> Vec<Vec<Value>> {
        if len == 0 {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for rest in combos(samples, len - 1) {
            for sample in samples {
                let mut args = rest.clone();
                args.push(sample.clone());
                out.push(args);
            }
        }
        out
    }
    let all: Vec<Vec<Vec<Value>>> = (0..=3).map(|n| combos(&samples, n)).collect();
    for info in FUNCTIONS {
        let (min, max) = arity(info.name).unwrap();
        let top = max.unwrap_or(3).min(3);
        let counts = min.saturating_sub(1)..=(top + 1).min(3);
        for combos in all.iter().take(*counts.end() + 1).skip(*counts.start()) {
            for args in combos {
                let _ = call(info.name, args.clone(), &mut Fake(first));
            }
        }
    }
}

#[test]
fn secrets_inside_moved_values_are_never_read() {
    let value = rec(vec![("password", secret("db"))]);
    let mut apply = Fake(first);
    for (name, args) in [
        ("merge", vec![value.clone(), rec(vec![])]),
        ("deep_merge", vec![value.clone()]),
        ("coalesce", vec![null(), value.clone()]),
        ("concat", vec![list(vec![value.clone()])]),
        ("map", vec![list(vec![value.clone()]), f()]),
    ] {
        let out = call(name, args, &mut apply).unwrap();
        assert!(out.contains_secret(), "{name} lost the secret");
    }
}

#[test]
fn yaml_reads_back_as_the_same_data() {
    let tricky = [
        "",
        " lead",
        "trail ",
        "a: b",
        "- x",
        "#c",
        "yes",
        "No",
        "on",
        "~",
        "null",
        "true",
        "1",
        "1.5",
        "0755",
        "1_000",
        "1:20",
        ".inf",
        "'q'",
        "\"d\"",
        "multi\nline",
        "\ttab",
        "é",
        "x # y",
        "&a",
        "*a",
        "!t",
        "%p",
        "@",
        "`",
        "{",
        "[",
        "?",
        "|",
        ">",
        "=",
        "<<",
    ];
    let value = rec(vec![
        ("items", strs(&tricky)),
        (
            "keys",
            Value::record(tricky.iter().map(|t| (t.to_string(), i(1))).collect()),
        ),
        (
            "numbers",
            list(vec![i(-1), fl(0.25), fl(1e300), null(), b(false)]),
        ),
    ]);
    let yaml = call("to_yaml", vec![value.clone()], &mut Fake(unavailable)).unwrap();
    let back: serde_json::Value = serde_norway::from_str(yaml.as_str().unwrap()).unwrap();
    assert_eq!(
        Some(back),
        value.to_plain_json(),
        "{}",
        yaml.as_str().unwrap()
    );
}
