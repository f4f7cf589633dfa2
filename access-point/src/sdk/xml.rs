//! Small helpers shared by the SDK parsers and builders: escaping for rendering, and namespace-aware lookups on
//! the shared [`xmldsig::dom::Document`].

use xmldsig::dom::{Document, Node, NodeId, ParseLimits};

/// The UTF-8 byte order mark, which DIGG's example files carry and which XML 1.0 allows.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses `bytes` with the shared hardened DOM after dropping a leading UTF-8 byte order mark.
pub(crate) fn parse_document(bytes: &[u8], limits: &ParseLimits) -> Result<Document, xmldsig::dom::DomError> {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    Document::parse(bytes, limits)
}

/// Escapes text content (`&`, `<`, `>`).
pub(crate) fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes an attribute value written between double quotes.
pub(crate) fn escape_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            _ => out.push(c),
        }
    }
    out
}

/// XPath `normalize-space()`: trims and collapses runs of XML white space to one space.
pub(crate) fn normalize_space(text: &str) -> String {
    text.split([' ', '\t', '\n', '\r'])
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The element children of `parent` with this namespace and local name.
pub(crate) fn children<'a>(doc: &'a Document, parent: NodeId, ns: &'a str, local: &'a str) -> Vec<NodeId> {
    doc.children_named(parent, ns, local).collect()
}

/// The first child element named (`ns`, `local`).
pub(crate) fn child(doc: &Document, parent: NodeId, ns: &str, local: &str) -> Option<NodeId> {
    doc.first_child(parent, ns, local)
}

/// The normalised text of the first child element named (`ns`, `local`).
pub(crate) fn child_text(doc: &Document, parent: NodeId, ns: &str, local: &str) -> Option<String> {
    child(doc, parent, ns, local).map(|id| normalize_space(&doc.text_content(id)))
}

/// Follows a path of (`ns`, `local`) steps from `start`, returning every element reached.
pub(crate) fn select(doc: &Document, start: NodeId, steps: &[(&str, &str)]) -> Vec<NodeId> {
    let mut current = vec![start];
    for (ns, local) in steps {
        current = current
            .iter()
            .flat_map(|&id| doc.children_named(id, ns, local).collect::<Vec<_>>())
            .collect();
    }
    current
}

/// The namespace and local name of an element (`None` for non-elements).
pub(crate) fn element_name(doc: &Document, id: NodeId) -> Option<(Option<&str>, &str)> {
    match doc.node(id) {
        Node::Element(e) => Some((e.namespace.as_deref(), e.name.local.as_str())),
        _ => None,
    }
}

/// The name of an element as written in the source, for messages.
pub(crate) fn qualified_name(doc: &Document, id: NodeId) -> String {
    doc.element(id).map(|e| e.name.qualified()).unwrap_or_default()
}

/// A simple path of the element from the root (`/XHE/Header/ID`), for messages.
pub(crate) fn path_of(doc: &Document, id: NodeId) -> String {
    let mut parts = Vec::new();
    let mut cursor = Some(id);
    while let Some(node) = cursor {
        match doc.element(node) {
            Some(e) => parts.push(e.name.local.clone()),
            None => break,
        }
        cursor = doc.parent(node);
    }
    parts.reverse();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape_text("a<b&c>"), "a&lt;b&amp;c&gt;");
        assert_eq!(escape_attribute("\"x\"<"), "&quot;x&quot;&lt;");
    }

    #[test]
    fn normalizes_space() {
        assert_eq!(normalize_space("  a \n\t b  "), "a b");
        assert_eq!(normalize_space(" \n "), "");
    }

    #[test]
    fn strips_byte_order_mark() {
        let doc = parse_document(b"\xEF\xBB\xBF<a/>", &ParseLimits::default()).unwrap();
        assert_eq!(qualified_name(&doc, doc.root()), "a");
    }
}
