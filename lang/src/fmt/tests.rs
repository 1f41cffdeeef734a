//! Formatter tests: one line per case (source in, expected text out); every case also checks
//! idempotence, meaning, comments and layout through `check`.

use super::{format_file, format_source};
use crate::parse::lexical::MAX_NESTING;
use crate::parse::{parse, MAX_EXPR_DEPTH};
use crate::span::FileId;

fn format(source: &str) -> String {
    format_source(FileId(0), source)
        .unwrap_or_else(|errors| panic!("syntax errors in {source:?}: {errors:?}"))
}

/// The tree without spans: equal strings mean equal meaning.
fn meaning(source: &str) -> String {
    let parsed = parse(FileId(0), source);
    assert!(parsed.errors.is_empty(), "errors: {:?}", parsed.errors);
    serde_json::to_string(&parsed.file.expect("a file")).expect("serialisable")
}

/// Comment texts, sorted; block comments without trailing whitespace on their lines.
fn comments(source: &str) -> Vec<String> {
    let mut texts: Vec<String> = parse(FileId(0), source)
        .comments
        .iter()
        .map(|c| {
            c.text
                .lines()
                .map(str::trim_end)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    texts.sort();
    texts
}

/// What every output must satisfy, whatever the input.
#[track_caller]
fn assert_invariants(source: &str, output: &str) {
    assert_eq!(format(output), output, "not idempotent for {source:?}");
    assert_eq!(
        meaning(output),
        meaning(source),
        "meaning changed:\n{output}"
    );
    assert_eq!(
        comments(output),
        comments(source),
        "comments changed:\n{output}"
    );
    assert!(!output.contains('\r'), "CR in output:\n{output}");
    assert!(
        output.is_empty() || (output.ends_with('\n') && !output.ends_with("\n\n")),
        "not exactly one trailing newline:\n{output:?}"
    );
    for line in output.lines() {
        assert!(
            !line.ends_with([' ', '\t']),
            "trailing whitespace: {line:?}"
        );
    }
}

/// Formats `source`, expects `expected`, and checks the invariants.
#[track_caller]
fn check(source: &str, expected: &str) {
    let output = format(source);
    assert_eq!(output, expected, "formatting {source:?}");
    assert_invariants(source, &output);
}

/// One case per line: `case!(source => expected)`, or `case!(source => same)` for a source
/// that is already canonical.
macro_rules! case {
    ($source:expr => same) => {
        check(&$source, &$source)
    };
    ($source:expr => $expected:expr) => {
        check(&$source, &$expected)
    };
}

// ───────────────────────────── items ─────────────────────────────

#[test]
fn module_and_stack() {
    case!("module   odoo.tenant" => "module odoo.tenant\n");
    case!("stack saas" => "stack saas\n");
    case!("stack saas {}" => "stack saas {}\n");
    case!("stack saas { environment = \"prod\" region=\"eu\" }" => "stack saas {\n  environment = \"prod\"\n  region = \"eu\"\n}\n");
}

#[test]
fn provider_and_backend() {
    case!("provider gitops{repo=\"r\"}" => "provider gitops {\n  repo = \"r\"\n}\n");
    case!("provider k8s as edge { }" => "provider k8s as edge {}\n");
    case!("backend local { path = \"./state\", lock = true }" => "backend local {\n  path = \"./state\"\n  lock = true\n}\n");
}

#[test]
fn params_with_types_defaults_and_checks() {
    case!("param name:string" => "param name: string\n");
    case!("param n : int = 2" => "param n: int = 2\n");
    case!("param n: int = 2 check n > 0 message \"positive\" check n<10 message \"small\"" => "param n: int = 2\n  check n > 0 message \"positive\"\n  check n < 10 message \"small\"\n");
    case!("param n: int check n > 0 message \"m\"" => "param n: int\n  check n > 0 message \"m\"\n");
}

#[test]
fn type_expressions() {
    case!("type T = \"a\"|\"b\"" => "type T = \"a\" | \"b\"\n");
    case!("type T = list< map<int> >" => "type T = list<map<int>>\n");
    case!("type T = {name:string,tier?:Tier,}" => "type T = { name: string, tier?: Tier }\n");
    case!("type T = {}" => "type T = {}\n");
    case!("type T = 1 | 2.50 | true | false | null" => "type T = 1 | 2.5 | true | false | null\n");
    case!("type T = list<{ a: \"x\" | \"y\" }> | map<{}>" => "type T = list<{ a: \"x\" | \"y\" }> | map<{}>\n");
}

#[test]
fn let_output_and_moved() {
    case!("let  x=1" => "let x = 1\n");
    case!("output url = \"https://${host}\"" => "output url = \"https://${host}\"\n");
    case!("moved { from = \"a.b.c\", to = \"a.b.d\" }" => "moved {\n  from = \"a.b.c\"\n  to = \"a.b.d\"\n}\n");
}

#[test]
fn resources_and_for_each() {
    case!("resource postgres.role owner { name = \"x\" }" => "resource postgres.role owner {\n  name = \"x\"\n}\n");
    case!("resource k8s.service s {}" => "resource k8s.service s {}\n");
    case!("resource a.b c for each xs { n = each }" => "resource a.b c for each xs {\n  n = each\n}\n");
    case!("resource a.b c for each [1,2] key k(x) {}" => "resource a.b c for each [1, 2] key k(x) {}\n");
}

#[test]
fn uses() {
    case!("use odoo.db as db" => "use odoo.db as db\n");
    case!("use \"./lib/x.obp\" as x {}" => "use \"./lib/x.obp\" as x {}\n");
    case!("use m as t for each ts key t.name { name = t.name }" => "use m as t for each ts key t.name {\n  name = t.name\n}\n");
}

#[test]
fn policies() {
    case!("policy p deny { deny when a > 1 message \"m\" warn when b message \"w\" }" => "policy p deny {\n  deny when a > 1 message \"m\"\n  warn when b message \"w\"\n}\n");
    case!("policy p {}" => "policy p {}\n");
    case!("policy p warn{}" => "policy p warn {}\n");
}

#[test]
fn blank_lines_between_items_are_kept_once_and_never_added() {
    case!("let a = 1\nlet b = 2" => "let a = 1\nlet b = 2\n");
    case!("let a = 1\n\n\n\nlet b = 2" => "let a = 1\n\nlet b = 2\n");
    case!("\n\n\nlet a = 1\n\n\n" => "let a = 1\n");
    case!("let a = 1 let b = 2" => "let a = 1\nlet b = 2\n");
}

#[test]
fn empty_files() {
    case!("" => "");
    case!("  \n\n\t\n" => "");
}

// ───────────────────────────── expressions ─────────────────────────────

#[test]
fn literals() {
    case!("let a = [null, true, false, 42, 1_000_000]" => "let a = [null, true, false, 42, 1000000]\n");
    case!("let a = [1.0, 0.50, 1.5e300, 1.0E-7, 2.5E+3, 1_0.2_5]" => "let a = [1.0, 0.5, 1.5e300, 1.0e-7, 2500.0, 10.25]\n");
    case!("let a = 100000000000000000000.0" => "let a = 1.0e20\n");
}

#[test]
fn operators() {
    case!("let a = 1+2*3-4/5%6" => "let a = 1 + 2 * 3 - 4 / 5 % 6\n");
    case!("let a = x==y!=z" => "let a = x == y != z\n");
    case!("let a = [a<b, a<=b, a>b, a>=b]" => "let a = [a < b, a <= b, a > b, a >= b]\n");
    case!("let a = x and(y) or(z)" => "let a = x && (y) || (z)\n");
    case!("let a = not x" => "let a = !x\n");
    case!("let a = - - x" => "let a = --x\n");
    case!("let a = x in [1] && !(y in {})" => "let a = x in [1] && !(y in {})\n");
    case!("let a = x in xs" => "let a = x in xs\n");
    case!("let a = (1 + 2) * -(3)" => "let a = (1 + 2) * -(3)\n");
    case!("let a = x - -1" => "let a = x - -1\n");
}

#[test]
fn access_calls_lambdas_and_conditionals() {
    case!("let a = x.y [ 0 ] ( 1 , 2 , ) .type" => "let a = x.y[0](1, 2).type\n");
    case!("let a = f()" => "let a = f()\n");
    case!("let a = xs.map((x) => x * 2)" => "let a = xs.map(x => x * 2)\n");
    case!("let a = (a, b,) => a + b" => "let a = (a, b) => a + b\n");
    case!("let a = () => 1" => "let a = () => 1\n");
    case!("let a = if x then 1 else if y then 2 else 3" => "let a = if x then 1 else if y then 2 else 3\n");
    case!("let a = ((x))" => "let a = ((x))\n");
}

#[test]
fn match_arms_one_per_line() {
    case!("let a = match x { 1 => \"a\", -2|3 => \"b\", 1.5 => c, \"s\" => d, null | true | false => e, _ => f }" => "let a = match x {\n  1 => \"a\",\n  -2 | 3 => \"b\",\n  1.5 => c,\n  \"s\" => d,\n  null | true | false => e,\n  _ => f,\n}\n");
    case!("let a = match x {}" => "let a = match x {}\n");
    // Arms end with `,`: `a\n-2 => b` would read as `a - 2`.
    case!("let a = match x { 1 => a, -2 => b }" => "let a = match x {\n  1 => a,\n  -2 => b,\n}\n");
    case!("let a = match x { _ => match y { _ => 1 } }" => "let a = match x {\n  _ => match y {\n    _ => 1,\n  },\n}\n");
}

#[test]
fn lists() {
    case!("let a = [ ]" => "let a = []\n");
    case!("let a = [1,2,3,]" => "let a = [1, 2, 3]\n");
    case!("let a = [[1], [], [2, [3]]]" => "let a = [[1], [], [2, [3]]]\n");
}

#[test]
fn records() {
    case!("let a = { }" => "let a = {}\n");
    case!("let a = {a=1;b=\"x\"\nc=[1]}" => "let a = { a = 1, b = \"x\", c = [1] }\n");
    case!("let a = { \"quoted key\" = 1, \"k${x}\" = 2, type = 3 }" => "let a = { \"quoted key\" = 1, \"k${x}\" = 2, type = 3 }\n");
    case!("let a = { x = { y = { z = 1 } } }" => "let a = { x = { y = { z = 1 } } }\n");
}

#[test]
fn block_entries_are_always_multi_line() {
    case!("let a = { b { c = 1 } }" => "let a = {\n  b {\n    c = 1\n  }\n}\n");
    case!("stack s { a { b { c = 1 } } e {} }" => "stack s {\n  a {\n    b {\n      c = 1\n    }\n  }\n  e {}\n}\n");
    case!("stack s { a = { b = 1 } }" => "stack s {\n  a = { b = 1 }\n}\n");
}

#[test]
fn operator_named_block_keys_keep_a_comma() {
    // Without the comma `x\nand { … }` would read as `x && { … }`.
    case!("stack s { a = x, and { b = 1 } }" => "stack s {\n  a = x,\n  and {\n    b = 1\n  }\n}\n");
    case!("stack s { a = x, or {} in {} }" => "stack s {\n  a = x,\n  or {}\n  in {}\n}\n");
    case!("stack s { a = x, and = 1 }" => "stack s {\n  a = x\n  and = 1\n}\n");
}

#[test]
fn long_records_and_lists_break_at_one_hundred_columns() {
    // `let a = { k = "…" }` is 18 columns plus the text.
    let fits = format!("let a = {{ k = \"{}\" }}\n", "x".repeat(82));
    assert_eq!(fits.len(), 101);
    case!(fits => same);
    let long = "x".repeat(83);
    case!(format!("let a = {{ k = \"{long}\" }}") => format!("let a = {{\n  k = \"{long}\"\n}}\n"));
    let item = "y".repeat(40);
    case!(format!("let a = [\"{item}\", \"{item}\", \"{item}\"]") => format!("let a = [\n  \"{item}\",\n  \"{item}\",\n  \"{item}\",\n]\n"));
    // The `,` after an element counts: a 99-column record plus `,` fits, one more does not.
    let element = "z".repeat(87);
    case!(format!("let a = [\n  {{ k = \"{element}\" }},\n  {long},\n]\n") => same);
    case!(format!("let a = [{{ k = \"{element}z\" }}, {long}]") => format!("let a = [\n  {{\n    k = \"{element}z\"\n  }},\n  {long},\n]\n"));
}

#[test]
fn nested_bodies_indent_two_spaces() {
    case!("resource k8s.deployment web { spec { template { containers = [{ name = \"odoo\", env { A = \"1\" } }] } } }" => "resource k8s.deployment web {\n  spec {\n    template {\n      containers = [\n        {\n          name = \"odoo\"\n          env {\n            A = \"1\"\n          }\n        },\n      ]\n    }\n  }\n}\n");
}

#[test]
fn blank_lines_between_entries_are_kept_once() {
    case!("stack s {\n\n  a = 1\n\n\n  b = 2\n  c = 3\n\n}" => "stack s {\n  a = 1\n\n  b = 2\n  c = 3\n}\n");
    case!("let a = [\n  1,\n\n  2, // c\n]" => "let a = [\n  1,\n\n  2, // c\n]\n");
}

// ───────────────────────────── strings ─────────────────────────────

#[test]
fn single_line_strings_are_re_escaped() {
    case!(r#"let a = "q\" b\\ n\n t\t r\r d\${x} $ \$y""# => "let a = \"q\\\" b\\\\ n\\n t\\t r\\r d\\${x} $ $y\"\n");
    case!(r#"let a = "\u{48}i \u{7} \u{1b} é""# => "let a = \"Hi \\u{7} \\u{1b} é\"\n");
    case!(r#"let a = "a ${ b + 1 } c ${"d ${e}"}""# => "let a = \"a ${b + 1} c ${\"d ${e}\"}\"\n");
    case!(r#"let a = "$${x}""# => "let a = \"$${x}\"\n");
}

#[test]
fn interpolations_stay_on_one_line() {
    case!("let a = \"${ { b = [1,\n 2] }.b } ${ match x { _ => 1 } } ${ \"\"\"\n  t\n\"\"\" }\"" => "let a = \"${{ b = [1, 2] }.b} ${match x { _ => 1 }} ${\"\"\"t\"\"\"}\"\n");
    case!(format!("let a = \"${{{{ k = \"{}\" }}}}\"", "x".repeat(120)) => format!("let a = \"${{{{ k = \"{}\" }}}}\"\n", "x".repeat(120)));
}

#[test]
fn multi_line_strings_print_as_indented_blocks() {
    case!("let a = \"\"\"\n      one\n        two\n      \"\"\"" => "let a = \"\"\"\n  one\n    two\n\"\"\"\n");
    case!("let a = \"\"\"single\"\"\"" => "let a = \"\"\"\n  single\n\"\"\"\n");
    case!("stack s { a = \"\"\"\n  x\n\n  y ${z}\n  \"\"\" }" => "stack s {\n  a = \"\"\"\n    x\n\n    y ${z}\n  \"\"\"\n}\n");
    case!("let a = \"\"\"\n\n  first line blank\n  last line blank\n\n\"\"\"" => "let a = \"\"\"\n\n  first line blank\n  last line blank\n\n\"\"\"\n");
}

#[test]
fn multi_line_strings_escape_what_the_block_needs() {
    case!("let a = \"\"\"\n  q \"\"\\\" \\\\ \\${x} \"\"\\\"\"\"\\\"\n\"\"\"" => "let a = \"\"\"\n  q \"\"\\\" \\\\ \\${x} \"\"\\\"\"\"\\\"\n\"\"\"\n");
    case!("let a = \"\"\"\n  ends with a quote \"\n\"\"\"" => "let a = \"\"\"\n  ends with a quote \"\n\"\"\"\n");
    // Trailing whitespace stays in the text, its last character escaped.
    case!("let a = \"\"\"\n  x  \n   \n  y\t\n\"\"\"" => "let a = \"\"\"\n  x \\u{20}\n  \\u{20}\n  y\\t\n\"\"\"\n");
    case!("let a = \"\"\"\n  a\\r\n  \\u{1}b\n\"\"\"" => "let a = \"\"\"\n  a\\r\n  \\u{1}b\n\"\"\"\n");
}

#[test]
fn multi_line_strings_fall_back_to_one_line_when_a_block_would_lose_indentation() {
    case!("let a = \"\"\"\\u{20} x\n   y\"\"\"" => "let a = \"\"\"\\u{20} x\\n   y\"\"\"\n");
    case!("let a = \"\"\"\"\"\"" => "let a = \"\"\"\"\"\"\n");
    case!("let a = \"\"\"\\n\"\"\"" => "let a = \"\"\"\\n\"\"\"\n");
    case!("let a = \"\"\"\\t\\\"\"\"\"" => "let a = \"\"\"\\t\\\"\"\"\"\n");
}

#[test]
fn records_holding_multi_line_strings_break() {
    case!("let a = { s = \"\"\"\n  x\n\"\"\" }" => "let a = {\n  s = \"\"\"\n    x\n  \"\"\"\n}\n");
    case!("let a = [\"\"\"\n  x\n\"\"\"]" => "let a = [\n  \"\"\"\n    x\n  \"\"\",\n]\n");
}

#[test]
fn crlf_becomes_lf() {
    case!("let a = 1\r\n\r\n// c\r\nlet b = {\r\n  c = 2\r\n}\r\n" => "let a = 1\n\n// c\nlet b = { c = 2 }\n");
    // CRs inside a multi-line string are text: they stay, escaped.
    case!("let a = \"\"\"\r\n  x\r\n  \"\"\"" => "let a = \"\"\"\n  x\\r\n\"\"\"\n");
}

// ───────────────────────────── comments ─────────────────────────────

#[test]
fn comments_before_items_and_at_the_end_of_the_file() {
    case!("// header\n\n/// Docs.\n/// More docs.\nlet a = 1\n/* block */\nlet b = 2\n\n// the end\n" => same);
    case!("// only a comment" => "// only a comment\n");
    case!("/* a\n   b  \n */" => "/* a\n   b\n */\n");
    case!("let a = 1 // trailing\n// next\nlet b = 2 /* x */ /* y */" => "let a = 1 // trailing\n// next\nlet b = 2 /* x */ /* y */\n");
}

#[test]
fn comments_in_bodies() {
    case!("stack s {\n  // before a\n  a = 1 // after a\n\n  // before b\n  b {\n    c = 2 // after c\n    // end of b\n  }\n  // end of s\n}\n" => same);
    case!("stack s { // after the brace\n a = 1 }" => "stack s { // after the brace\n  a = 1\n}\n");
    case!("stack s {\n  // nothing else\n}" => "stack s {\n  // nothing else\n}\n");
    case!("stack s { /* inline */ }" => "stack s { /* inline */\n}\n");
}

#[test]
fn comments_in_lists_and_matches_break_them() {
    case!("let a = [1, // one\n 2]" => "let a = [\n  1, // one\n  2,\n]\n");
    case!("let a = [1, /* one */ 2]" => "let a = [\n  1, /* one */\n  2,\n]\n");
    case!("let a = [\n  // first\n  1\n  // end\n]" => "let a = [\n  // first\n  1,\n  // end\n]\n");
    case!("let a = { b = 1 /* c */ }" => "let a = {\n  b = 1 /* c */\n}\n");
    case!("let a = match x { // m\n 1 => 2 // one\n // rest\n _ => 3 }" => "let a = match x { // m\n  1 => 2, // one\n  // rest\n  _ => 3,\n}\n");
}

#[test]
fn comments_in_checks_and_rules() {
    case!("param n: int = 1 // header\n  // first check\n  check n > 0 message \"m\" // why\n  check n < 9 message \"n\"\n" => same);
    case!("policy p deny { // rules\n  // first\n  deny when a message \"m\" // one\n  // end\n}\n" => same);
}

#[test]
fn odd_comments_move_before_their_construct() {
    case!("resource /* odd */ a.b c {}" => "/* odd */\nresource a.b c {}\n");
    case!("let a = 1 + // inside\n  2" => "// inside\nlet a = 1 + 2\n");
    case!("stack s { a = f(1, /* arg */ 2) }" => "stack s {\n  /* arg */\n  a = f(1, 2)\n}\n");
    case!("let a = \"x ${ y /* in */ } z\"" => "/* in */\nlet a = \"x ${y} z\"\n");
    case!("type T = { /* c */ a: int, // d\n b: int }" => "/* c */\n// d\ntype T = { a: int, b: int }\n");
    case!("let a = match /* subject */ x { _ => 1 }" => "let a = match x { /* subject */\n  _ => 1,\n}\n");
    case!("let a = match x /* s */\n { _ => 1 }" => "let a = match x { /* s */\n  _ => 1,\n}\n");
    case!("let a = match x\n /* s */ { _ => 1 }" => "let a = match x {\n  /* s */\n  _ => 1,\n}\n");
    case!("policy p /* c */ deny\n // d\n {}" => "/* c */\npolicy p deny {\n  // d\n}\n");
    case!("policy p deny /* c */ {}" => "policy p deny { /* c */\n}\n");
    case!("stack s { a /* k */ = 1 }" => "stack s {\n  /* k */\n  a = 1\n}\n");
    case!("let a = [1, f(/* e */)]" => "let a = [\n  1,\n  /* e */\n  f(),\n]\n");
    case!("let a = [1\n  , // after the comma\n  2]" => "let a = [\n  1, // after the comma\n  2,\n]\n");
}

#[test]
fn moved_comments_never_change_documentation() {
    // A moved comment goes above the `///` run, which stays the item's documentation.
    case!("/// doc\nresource /* c */ a.b c {}" => "/* c */\n/// doc\nresource a.b c {}\n");
    // Moved `///` comments would become documentation above the item: they stay in its header.
    case!("let /// not docs\n  a = 1" => "let /// not docs\n  a = 1\n");
    case!("module /// x\n/// y\na.b" => "module /// x\n  /// y\n  a.b\n");
    case!("resource /// x\n a.b c { d = 1 }" => "resource /// x\n  a.b c {\n  d = 1\n}\n");
    // Moved doc and non-doc comments: the non-doc one goes last and ends the run.
    case!("let /* a */ /// b\n x = 1" => "/// b\n/* a */\nlet x = 1\n");
    // `///` after a block comment on the same line is not documentation; it stays there.
    case!("/* a */ /// b\nlet x = 1\n" => same);
}

#[test]
fn blank_lines_around_comments() {
    case!("let a = 1\n\n// about b\nlet b = 2\n" => same);
    case!("let a = 1\n// about b\n\nlet b = 2\n" => same);
    case!("let a = 1\n\n\nlet /* c */ b = 2" => "let a = 1\n\n/* c */\nlet b = 2\n");
    case!("stack s {\n  a = 1\n\n  // end\n\n}" => "stack s {\n  a = 1\n\n  // end\n}\n");
}

// ───────────────────────────── whole files ─────────────────────────────

#[test]
fn the_corpus_of_every_construct_is_canonical() {
    case!(include_str!("test_data/all_constructs.obp") => same);
}

#[test]
fn comments_anywhere_keep_every_invariant() {
    let source = "param n: int = 1 check n > 0 message \"m ${n}\"\nstack s { a = [1, { b = 2 }] c { d = match n { 1 => 2, _ => 3 } } }\nresource a.b c for each xs key x { e = f(1) + -2 }\npolicy p deny { deny when n > 1 message \"x\" }\n";
    let mut checked = 0;
    for at in source.match_indices(' ').map(|(at, _)| at) {
        for comment in ["/* c */", "// c\n", "\n/// c\n"] {
            let variant = format!("{} {comment}{}", &source[..at], &source[at..]);
            if parse(FileId(0), &variant).errors.is_empty() {
                assert_invariants(&variant, &format(&variant));
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} variants parsed");
}

#[test]
fn syntax_errors_are_returned_not_formatted() {
    assert!(format_source(FileId(0), "let = 1").is_err());
    assert!(format_source(FileId(0), "let a = {").is_err());
}

#[test]
fn format_file_takes_a_parsed_file() {
    let source = "let a={b=1}// c";
    let parsed = parse(FileId(0), source);
    let file = parsed.file.expect("a file");
    assert_eq!(
        format_file(&file, &parsed.comments, source),
        "let a = { b = 1 } // c\n"
    );
}

#[test]
fn the_deepest_input_the_parser_accepts_formats() {
    let depth = MAX_NESTING - 1;
    let sources = [
        format!("let a = {}1{}", "[".repeat(depth), "]".repeat(depth)),
        format!("let a = {}1{}", "{ a = ".repeat(depth), " }".repeat(depth)),
        format!(
            "stack s {{ {}a = 1{} }}",
            "a { ".repeat(depth - 1),
            " }".repeat(depth - 1)
        ),
        format!(
            "let a = {}x{}",
            "\"${".repeat(depth / 2),
            "}\"".repeat(depth / 2)
        ),
        format!("let a = 1{}", " + 1".repeat(MAX_EXPR_DEPTH - 1)),
        format!("let a = {}1", "-".repeat(MAX_EXPR_DEPTH - 1)),
    ];
    for source in sources {
        assert_invariants(&source, &format(&source));
    }
}
