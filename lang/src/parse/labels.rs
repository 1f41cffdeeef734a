//! Human names for grammar rules and the translation of pest errors into [`SyntaxError`].

use pest::error::{Error, ErrorVariant, InputLocation};

use super::error::SyntaxError;
use super::Rule;
use crate::span::{FileId, Span};

/// A readable name for every rule; exhaustive, so a new rule cannot ship without one.
pub fn rule_label(rule: Rule) -> &'static str {
    match rule {
        Rule::EOI => "end of file",
        Rule::WHITESPACE => "whitespace",
        Rule::COMMENT => "a comment",
        Rule::word | Rule::entry_key => "a name",
        Rule::ident_char => "a letter, digit or `_`",
        Rule::type_term => "a type",
        Rule::infix => "an operator",
        Rule::prefix | Rule::primary => "an expression",
        Rule::postfix => "`(`, `.` or `[`",
        Rule::item => "a declaration",
        Rule::keyword => "a keyword",
        Rule::ident => "a name (letters, digits, `_`; not a keyword)",
        Rule::kw_module => "`module`",
        Rule::kw_stack => "`stack`",
        Rule::kw_provider => "`provider`",
        Rule::kw_backend => "`backend`",
        Rule::kw_param => "`param`",
        Rule::kw_type => "`type`",
        Rule::kw_let => "`let`",
        Rule::kw_resource => "`resource`",
        Rule::kw_use => "`use`",
        Rule::kw_output => "`output`",
        Rule::kw_policy => "`policy`",
        Rule::kw_moved => "`moved`",
        Rule::kw_as => "`as`",
        Rule::kw_for => "`for`",
        Rule::kw_each => "`each`",
        Rule::kw_key => "`key`",
        Rule::kw_check => "`check`",
        Rule::kw_message => "`message`",
        Rule::kw_when => "`when`",
        Rule::kw_if => "`if`",
        Rule::kw_then => "`then`",
        Rule::kw_else => "`else`",
        Rule::kw_match => "`match`",
        Rule::null_lit
        | Rule::true_lit
        | Rule::false_lit
        | Rule::float_lit
        | Rule::int_lit
        | Rule::string
        | Rule::mstring
        | Rule::list
        | Rule::record
        | Rule::paren
        | Rule::lambda
        | Rule::if_expr
        | Rule::match_expr
        | Rule::expr
        | Rule::neg_op
        | Rule::not_op => "an expression",
        Rule::string_text | Rule::mstring_text => "string text",
        Rule::escape => "an escape sequence",
        Rule::interp => "`${`",
        Rule::type_expr
        | Rule::type_list
        | Rule::type_map
        | Rule::type_record
        | Rule::type_literal
        | Rule::type_name => "a type",
        Rule::type_field => "a record field type (`name: type`)",
        Rule::optional_mark => "`?`",
        Rule::or_op
        | Rule::and_op
        | Rule::eq_op
        | Rule::ne_op
        | Rule::le_op
        | Rule::ge_op
        | Rule::lt_op
        | Rule::gt_op
        | Rule::in_op
        | Rule::add_op
        | Rule::sub_op
        | Rule::mul_op
        | Rule::div_op
        | Rule::rem_op => "an operator",
        Rule::call => "`(`",
        Rule::member => "`.`",
        Rule::index => "`[`",
        Rule::lambda_params => "function parameters",
        Rule::match_arm => "a match arm (`pattern => value`)",
        Rule::pattern | Rule::neg_int => "a pattern (a literal or `_`)",
        Rule::wildcard => "`_`",
        Rule::entry => "a field (`name = value` or `name { … }`)",
        Rule::file => "a declaration",
        Rule::dotted_name => "a dotted name such as `odoo.tenant`",
        Rule::module_decl => "`module`",
        Rule::stack_decl => "`stack`",
        Rule::provider_decl => "`provider`",
        Rule::backend_decl => "`backend`",
        Rule::param_decl => "`param`",
        Rule::param_check => "`check`",
        Rule::type_decl => "`type`",
        Rule::let_decl => "`let`",
        Rule::resource_type => "a resource type such as `postgres.role`",
        Rule::resource_decl => "`resource`",
        Rule::for_each => "`for each`",
        Rule::module_source => "a module name or a quoted path",
        Rule::use_decl => "`use`",
        Rule::output_decl => "`output`",
        Rule::policy_decl => "`policy`",
        Rule::policy_rule | Rule::policy_effect => "`deny` or `warn`",
        Rule::moved_decl => "`moved`",
    }
}

/// Converts pest's error into a [`SyntaxError`] with readable expectations.
pub fn convert(file: FileId, source: &str, error: Error<Rule>) -> SyntaxError {
    let position = match error.location {
        InputLocation::Pos(pos) => pos,
        InputLocation::Span((start, _)) => start,
    };
    let (found, end) = token_at(source, position);
    let span = Span::new(file, position, end);
    let mut expected: Vec<String> = Vec::new();
    if let ErrorVariant::ParsingError { positives, .. } = &error.variant {
        for rule in positives {
            let label = rule_label(*rule).to_owned();
            if !expected.contains(&label) {
                expected.push(label);
            }
        }
    }
    // A list of every declaration keyword says less than its summary.
    let declarations = [
        "`module`",
        "`stack`",
        "`provider`",
        "`backend`",
        "`param`",
        "`type`",
        "`let`",
        "`resource`",
        "`use`",
        "`output`",
        "`policy`",
        "`moved`",
    ];
    if declarations.iter().all(|d| expected.iter().any(|e| e == d)) {
        expected.retain(|e| !declarations.contains(&e.as_str()));
        expected.push(
            "a declaration (`stack`, `resource`, `use`, `let`, `param`, `output` …)".to_owned(),
        );
    }
    if let ErrorVariant::CustomError { message } = &error.variant {
        expected.push(message.clone());
    }
    SyntaxError::Unexpected {
        span,
        expected,
        found,
    }
}

/// Describes the token at `position` and where it ends.
fn token_at(source: &str, position: usize) -> (String, usize) {
    let rest = source.get(position..).unwrap_or("");
    let Some(first) = rest.chars().next() else {
        return ("end of file".to_owned(), position);
    };
    if first.is_alphanumeric() || first == '_' {
        let len: usize = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .map(char::len_utf8)
            .sum();
        return (format!("`{}`", &rest[..len]), position + len);
    }
    (format!("`{first}`"), position + first.len_utf8())
}
