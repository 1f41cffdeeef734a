//! The error-code catalogue: every code obp can emit, its title, and its long form
//! (printed by `obp explain CODE`, kept in `codes/E0xxx.md`).
//!
//! Blocks of a hundred per phase: E01 syntax, E02 modules and names, E03 types,
//! E04 evaluation, E05 graph, E06 state and plan, E07 providers and apply, E08 policies,
//! E09 the command line itself (arguments, terminal and output, commands used on the wrong
//! thing).

/// One catalogue entry.
#[derive(Debug, Clone, Copy)]
pub struct CodeInfo {
    pub code: &'static str,
    pub title: &'static str,
    /// Markdown: meaning, a failing example, the output, the fix.
    pub doc: &'static str,
}

macro_rules! catalogue {
    ($($code:literal => $title:literal,)*) => {
        /// Every registered code, in order.
        pub const ALL: &[CodeInfo] = &[
            $(CodeInfo { code: $code, title: $title, doc: include_str!(concat!("codes/", $code, ".md")) },)*
        ];
    };
}

catalogue! {
    "E0101" => "syntax error",
    "E0102" => "unterminated string",
    "E0103" => "unterminated interpolation",
    "E0104" => "invalid escape sequence",
    "E0105" => "nesting too deep",
    "E0106" => "file too large",
    "E0107" => "invalid number literal",
    "E0108" => "file is not UTF-8 text",
    "E0109" => "unclosed delimiter",
    "E0110" => "mismatched closing delimiter",
    "E0111" => "stack declares nothing",
    "E0201" => "unknown name",
    "E0202" => "module not found",
    "E0203" => "import cycle",
    "E0204" => "duplicate declaration",
    "E0205" => "unknown function",
    "E0206" => "modules nested too deep",
    "E0207" => "unknown module argument",
    "E0208" => "missing required argument",
    "E0209" => "declaration not allowed here",
    "E0210" => "unknown resource",
    "E0211" => "cannot read source",
    "E0212" => "unknown module output",
    "E0213" => "wrong number of arguments",
    "E0214" => "not a blueprint file",
    "E0301" => "type mismatch",
    "E0302" => "unknown type",
    "E0303" => "invalid identifier",
    "E0304" => "invalid hostname",
    "E0305" => "image not pinned by digest",
    "E0306" => "invalid duration",
    "E0307" => "invalid quantity",
    "E0308" => "check failed",
    "E0309" => "unknown record field",
    "E0310" => "missing record field",
    "E0311" => "invalid CIDR range",
    "E0401" => "invalid operand types",
    "E0402" => "division by zero",
    "E0403" => "missing key or index",
    "E0404" => "no match arm",
    "E0405" => "invalid function argument",
    "E0406" => "evaluation cycle",
    "E0407" => "evaluation budget exhausted",
    "E0408" => "invalid for each",
    "E0409" => "value known only after apply",
    "E0410" => "secret used as a plain value",
    "E0411" => "evaluation nested too deep",
    "E0412" => "duplicate key",
    "E0413" => "arithmetic overflow",
    "E0414" => "invalid meta-argument",
    "E0501" => "dependency cycle",
    "E0502" => "address matches nothing",
    "E0601" => "state is locked",
    "E0602" => "state is corrupt",
    "E0603" => "cannot access state",
    "E0604" => "saved plan is stale (configuration)",
    "E0605" => "saved plan is stale (state)",
    "E0606" => "unreadable saved plan",
    "E0607" => "no such lock",
    "E0608" => "state from a newer obp",
    "E0609" => "address not in state",
    "E0610" => "address already in state",
    "E0611" => "prevent_destroy",
    "E0612" => "invalid moved block",
    "E0613" => "state write refused",
    "E0614" => "output directory holds the state",
    "E0615" => "two resources claim one object",
    "E0617" => "state journal damaged",
    "E0618" => "state lock lost",
    "E0619" => "audit trail broken",
    "E0701" => "no provider for a resource type",
    "E0702" => "invalid attribute",
    "E0703" => "provider configuration",
    "E0704" => "provider operation failed",
    "E0705" => "still unknown after apply",
    "E0706" => "provider configured from an unapplied resource",
    "E0707" => "unsafe path in an output directory",
    "E0710" => "name the Kubernetes API rejects",
    "E0711" => "system namespace",
    "E0712" => "reserved PostgreSQL name",
    "E0713" => "invalid Traefik rule",
    "E0714" => "value the Kubernetes API rejects",
    "E0720" => "cannot read a resource",
    "E0721" => "the object to create already exists",
    "E0801" => "policy denied",
    "E0802" => "policy warning",
    "E0803" => "policy condition is not a bool",
    "E0804" => "unknown policy level",
    "E0805" => "policy undecided while planning",
    "E0806" => "unknown policy override",
    "E0807" => "policy cannot be overridden",
    "E0901" => "invalid --var",
    "E0902" => "unknown error code",
    "E0903" => "a module where a stack is needed",
    "E0904" => "address not declared",
    "E0905" => "no such output",
    "E0906" => "import failed",
    "E0907" => "confirmation needed",
    "E0908" => "cannot read or write",
    "E0909" => "invalid command line",
    "E0910" => "internal error",
    "E0911" => "var file not data",
    "E0912" => "init target not usable",
}

/// Finds a code's entry; accepts `E0201`, `e0201` and `0201`.
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    let wanted = code.trim().to_ascii_uppercase();
    let wanted = if wanted.starts_with('E') {
        wanted
    } else {
        format!("E{wanted}")
    };
    ALL.iter().find(|info| info.code == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_has_its_own_document() {
        for info in ALL {
            let first = info.doc.lines().next().unwrap_or_default();
            assert!(
                first.starts_with(&format!("# {}", info.code)),
                "{} document starts with {first:?}",
                info.code
            );
            for section in ["## Example", "## Fix"] {
                assert!(info.doc.contains(section), "{} lacks {section}", info.code);
            }
        }
    }

    #[test]
    fn codes_are_unique_and_sorted() {
        for pair in ALL.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{} / {}",
                pair[0].code,
                pair[1].code
            );
        }
    }

    #[test]
    fn lookup_is_lenient_about_case_and_prefix() {
        assert_eq!(lookup("e0201").map(|c| c.code), Some("E0201"));
        assert_eq!(lookup("0201").map(|c| c.code), Some("E0201"));
        assert!(lookup("E9999").is_none());
    }
}
