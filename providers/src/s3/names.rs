//! Naming rules checked at plan time, so a bad bucket name or object key is reported at the
//! blueprint line that wrote it instead of by the server halfway through an apply.

/// Why `name` is not a valid S3 bucket name (the general-purpose bucket rules), if it isn't.
pub fn bucket_name_problem(name: &str) -> Option<String> {
    let shown = shorten(name);
    let length = name.chars().count();
    if !(3..=63).contains(&length) {
        return Some(format!(
            "`{shown}` is not a valid S3 bucket name: it must be 3 to 63 characters long (it has {length})"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return Some(format!(
            "`{shown}` is not a valid S3 bucket name: only lowercase letters, digits, dots and hyphens are allowed (found `{}`)",
            bad.escape_default()
        ));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        return Some(format!(
            "`{shown}` is not a valid S3 bucket name: it must start and end with a letter or a digit"
        ));
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Some(format!(
            "`{shown}` is not a valid S3 bucket name: each dot-separated part must start and end with a letter or a digit (no `..`, `.-` or `-.`)"
        ));
    }
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit()))
    {
        return Some(format!(
            "`{shown}` is not a valid S3 bucket name: it must not look like an IP address"
        ));
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Some(format!(
                "`{shown}` is not a valid S3 bucket name: the prefix `{prefix}` is reserved"
            ));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return Some(format!(
                "`{shown}` is not a valid S3 bucket name: the suffix `{suffix}` is reserved"
            ));
        }
    }
    None
}

/// Why `key` is not an object key obp writes, if it isn't: keys are sent in the URL path, so
/// `.`/`..` segments (which URL normalisation would resolve into another bucket or object),
/// control characters and backslashes are refused.
pub fn object_key_problem(key: &str) -> Option<String> {
    let shown = shorten(key);
    if key.is_empty() {
        return Some("an object key cannot be empty".to_owned());
    }
    if key.len() > 1024 {
        return Some(format!(
            "`{shown}` is too long for an object key: at most 1024 bytes (it has {})",
            key.len()
        ));
    }
    if key.starts_with('/') {
        return Some(format!(
            "`{shown}` is not a valid object key: it must not start with `/`"
        ));
    }
    if let Some(bad) = key.chars().find(|c| c.is_control() || *c == '\\') {
        return Some(format!(
            "`{shown}` is not a valid object key: `{}` is not allowed",
            bad.escape_default()
        ));
    }
    if key
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Some(format!(
            "`{shown}` is not a valid object key: `.` and `..` path segments are not allowed"
        ));
    }
    None
}

/// At most 60 characters of `text`, for messages.
fn shorten(text: &str) -> String {
    if text.chars().count() <= 60 {
        return text.escape_default().to_string();
    }
    let head: String = text.chars().take(40).collect();
    format!(
        "{}… ({} characters)",
        head.escape_default(),
        text.chars().count()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_bucket_names() {
        for name in ["abc", "odoo-acme-filestore", "backups.example.com", "a1b"] {
            assert_eq!(bucket_name_problem(name), None, "{name}");
        }
        assert_eq!(bucket_name_problem(&"a".repeat(63)), None);
    }

    #[test]
    fn refuses_hostile_bucket_names() {
        let cases = [
            ("../x", "only lowercase letters"),
            ("ab", "3 to 63"),
            ("Acme", "only lowercase letters"),
            ("-abc", "start and end"),
            ("a..b", "no `..`"),
            ("192.168.1.10", "IP address"),
            ("xn--abc", "reserved"),
            ("bucket-s3alias", "reserved"),
            ("a b c", "found ` `"),
            ("a/b/c", "found `/`"),
        ];
        for (name, expected) in cases {
            let problem = bucket_name_problem(name).unwrap_or_default();
            assert!(problem.contains(expected), "{name}: {problem}");
        }
        let long = bucket_name_problem(&"a".repeat(300)).unwrap();
        assert!(long.contains("it has 300"), "{long}");
        assert!(long.len() < 200, "the name is shortened: {long}");
    }

    #[test]
    fn refuses_hostile_object_keys() {
        assert_eq!(object_key_problem("markers/ready.txt"), None);
        for key in ["", "../x", "a/./b", "a/..", "/abs", "a\\b", "a\nb"] {
            assert!(object_key_problem(key).is_some(), "{key:?}");
        }
        assert!(object_key_problem(&"k".repeat(1025)).is_some());
    }
}
