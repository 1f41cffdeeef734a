//! Parser unit tests: one line per case, snapshotting the span-free AST.

use super::parse;
use crate::span::FileId;

fn ast(source: &str) -> String {
    let parsed = parse(FileId(0), source);
    assert!(parsed.errors.is_empty(), "errors: {:?}", parsed.errors);
    serde_json::to_string(&parsed.file.expect("a file")).expect("serialisable")
}

fn errors(source: &str) -> Vec<String> {
    parse(FileId(0), source)
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn precedence_follows_the_table() {
    let mul_binds_tighter = ast("let a = 1 + 2 * 3");
    assert!(mul_binds_tighter.contains(r#"{"Binary":["Add",{"kind":{"Literal":{"Int":1}}"#));
    let and_binds_tighter = ast("let a = x || y && z");
    assert!(and_binds_tighter.contains(r#"{"Binary":["Or""#));
    let left_assoc = ast("let a = 1 - 2 - 3");
    assert!(left_assoc.contains(r#"{"Binary":["Sub",{"kind":{"Binary":["Sub""#));
}

#[test]
fn keywords_are_valid_record_keys_and_members() {
    ast(r#"let a = { type = "ClusterIP", if = 1 }.type"#);
}

#[test]
fn strings_unescape_and_dedent() {
    let text = ast("let a = \"\"\"\n    a\n      b\\n\n    \"\"\"");
    assert!(text.contains(r#""a\n  b\n""#), "{text}");
    let unicode = ast(r#"let a = "\u{48}i \${x}""#);
    assert!(unicode.contains(r#""Hi ${x}""#), "{unicode}");
}

#[test]
fn doc_comments_attach_to_the_next_item() {
    let text = ast("/// the name\n/// of it\nparam name: string\n// plain\nlet x = 1");
    assert!(text.contains(r#""doc":"the name\nof it""#), "{text}");
    assert!(text.contains(r#""doc":null"#), "{text}");
}

#[test]
fn bad_escapes_and_numbers_are_reported() {
    assert_eq!(errors(r#"let a = "\q""#), ["unknown escape sequence `\\q`"]);
    assert_eq!(
        errors("let a = 99999999999999999999"),
        ["number `99999999999999999999` is out of range"]
    );
}

#[test]
fn long_operator_chains_are_refused_not_overflowed() {
    let chain = "let a = 1".to_owned() + &" + 1".repeat(10_000);
    assert_eq!(errors(&chain), ["nesting deeper than 256 levels"]);
    let prefixes = "let a = ".to_owned() + &"-".repeat(10_000) + "1";
    assert_eq!(errors(&prefixes), ["nesting deeper than 256 levels"]);
}
