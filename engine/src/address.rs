//! Resource addresses (`t["acme"].postgres.database.db`) and matching by prefix.

/// Whether `address` is `pattern` itself or lies under it: `t["acme"]` matches
/// `t["acme"].postgres.role.owner`; `postgres.role.owner` matches its `["key"]` instances.
pub fn matches(pattern: &str, address: &str) -> bool {
    let pattern = pattern.trim();
    if pattern.is_empty() {
        return false;
    }
    match address.strip_prefix(pattern) {
        Some(rest) => rest.is_empty() || rest.starts_with('.') || rest.starts_with('['),
        None => false,
    }
}

/// The first module step of an address (`t["acme"]`), or `None` at the stack root.
pub fn tenant_of(module: &str) -> Option<&str> {
    if module.is_empty() {
        return None;
    }
    // The first step ends at the first `.` outside a `["…"]` key.
    let mut in_key = false;
    for (i, c) in module.char_indices() {
        match c {
            '"' => in_key = !in_key,
            '.' if !in_key => return Some(&module[..i]),
            _ => {}
        }
    }
    Some(module)
}

/// The module instance enclosing `module` (`acme.instance` for `acme.instance.pg`), or `""`
/// at the stack root.
pub fn parent_module(module: &str) -> &str {
    // The last step starts after the last `.` outside a `["…"]` key.
    let mut in_key = false;
    let mut last = None;
    for (i, c) in module.char_indices() {
        match c {
            '"' => in_key = !in_key,
            '.' if !in_key => last = Some(i),
            _ => {}
        }
    }
    last.map_or("", |i| &module[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_steps() {
        assert!(matches("t[\"acme\"]", "t[\"acme\"].postgres.role.owner"));
        assert!(matches("postgres.role.owner", "postgres.role.owner[\"a\"]"));
        assert!(!matches("postgres.role.own", "postgres.role.owner"));
        assert!(!matches("t", "tt.postgres.role.x"));
    }

    #[test]
    fn tenants_are_first_module_steps() {
        assert_eq!(tenant_of("t[\"a.b\"].inner"), Some("t[\"a.b\"]"));
        assert_eq!(tenant_of("platform"), Some("platform"));
        assert_eq!(tenant_of(""), None);
    }

    #[test]
    fn parents_drop_the_last_module_step() {
        assert_eq!(parent_module("acme.instance.pg"), "acme.instance");
        assert_eq!(parent_module("t[\"a.b\"].inner"), "t[\"a.b\"]");
        assert_eq!(parent_module("t[\"a.b\"]"), "");
        assert_eq!(parent_module(""), "");
    }
}
