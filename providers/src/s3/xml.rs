//! The few XML documents S3 speaks, written by hand (escaped) and read with `roxmltree` by
//! local element name, so namespaced and plain answers parse alike.

use roxmltree::{Document, Node};

/// The namespace S3 documents are written in.
pub const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Escapes text for an element or attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `<name>text</name>`, escaped.
pub fn element(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", escape(text))
}

/// Parses a document; the message says what was expected.
pub fn parse<'a>(body: &'a str, what: &str) -> Result<Document<'a>, String> {
    Document::parse(body).map_err(|e| format!("the server's {what} is not valid XML: {e}"))
}

/// Child elements called `name`.
pub fn children<'a, 'input>(node: Node<'a, 'input>, name: &str) -> Vec<Node<'a, 'input>> {
    node.children()
        .filter(|c| c.is_element() && c.tag_name().name() == name)
        .collect()
}

/// The first child element called `name`.
pub fn child<'a, 'input>(node: Node<'a, 'input>, name: &str) -> Option<Node<'a, 'input>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// The text of the first child element called `name` (empty when it has none).
pub fn text(node: Node<'_, '_>, name: &str) -> Option<String> {
    child(node, name).map(|c| c.text().unwrap_or_default().to_owned())
}

/// The code and message of an S3 `<Error>` document.
pub fn error_document(body: &[u8]) -> Option<(String, String)> {
    let body = std::str::from_utf8(body).ok()?;
    let document = Document::parse(body).ok()?;
    let root = document.root_element();
    if root.tag_name().name() != "Error" {
        return None;
    }
    Some((
        text(root, "Code").unwrap_or_default(),
        text(root, "Message").unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            element("Key", "a<b&\"c\""),
            "<Key>a&lt;b&amp;&quot;c&quot;</Key>"
        );
    }

    #[test]
    fn reads_error_documents() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NotImplemented</Code><Message>Unimplemented action: PutBucketVersioning</Message><Resource>/b</Resource></Error>"#;
        assert_eq!(
            error_document(body),
            Some((
                "NotImplemented".to_owned(),
                "Unimplemented action: PutBucketVersioning".to_owned()
            ))
        );
        assert_eq!(error_document(b"not xml"), None);
    }

    #[test]
    fn finds_namespaced_children() {
        let body = format!(
            r#"<Tagging xmlns="{NS}"><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>"#
        );
        let document = parse(&body, "tagging").unwrap();
        let set = child(document.root_element(), "TagSet").unwrap();
        let tag = children(set, "Tag")[0];
        assert_eq!(text(tag, "Key").as_deref(), Some("k"));
        assert_eq!(text(tag, "Value").as_deref(), Some("v"));
    }
}
