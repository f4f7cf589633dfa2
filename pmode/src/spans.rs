//! Where each value of a TOML document sits, so that errors can name a line and a field.
//!
//! The typed model stays free of span wrappers: the document is read a second time into this tree of spanned
//! nodes, which answers "which line holds `pmode[3].security.signature.algorithm`" and "which P-Mode and field
//! contains byte offset N".

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::ops::Range;

// The protocol by which toml hands out spans (the one `toml::Spanned` uses). We speak it ourselves because
// `Spanned` fails on implicit tables (`[pmode.security.signature]` without a `[pmode.security]` header), which
// have no span; those nodes simply get none here. A test below keeps this in step with the toml version.
const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const SPANNED_START: &str = "$__serde_spanned_private_start";
const SPANNED_END: &str = "$__serde_spanned_private_end";
const SPANNED_VALUE: &str = "$__serde_spanned_private_value";

/// A TOML value with its span in the text, when toml knows it.
#[derive(Debug)]
pub(crate) struct Located {
    span: Option<Range<usize>>,
    node: Node,
}

impl Located {
    fn span(&self) -> Option<Range<usize>> {
        self.span.clone()
    }

    fn get_ref(&self) -> &Node {
        &self.node
    }
}

/// A TOML value with the located children.
#[derive(Debug)]
pub(crate) enum Node {
    Table(Vec<(String, Located)>),
    Array(Vec<Located>),
    Leaf(Option<String>),
}

impl<'de> Deserialize<'de> for Located {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct(
            SPANNED_NAME,
            &[SPANNED_START, SPANNED_END, SPANNED_VALUE],
            LocatedVisitor,
        )
    }
}

/// The value inside a span: read as-is (asking for a span again would recurse forever).
struct SpannedValue(Node);

impl<'de> Deserialize<'de> for SpannedValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(SpannedValue(deserializer.deserialize_any(LocatedVisitor)?.node))
    }
}

struct LocatedVisitor;

fn unlocated(node: Node) -> Located {
    Located { span: None, node }
}

impl<'de> Visitor<'de> for LocatedVisitor {
    type Value = Located;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Located, E> {
        Ok(unlocated(Node::Leaf(None)))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Located, E> {
        Ok(unlocated(Node::Leaf(None)))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Located, E> {
        Ok(unlocated(Node::Leaf(None)))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Located, E> {
        Ok(unlocated(Node::Leaf(None)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Located, E> {
        Ok(unlocated(Node::Leaf(Some(v.to_string()))))
    }
    fn visit_string<E>(self, v: String) -> Result<Located, E> {
        Ok(unlocated(Node::Leaf(Some(v))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Located, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Located>()? {
            items.push(item);
        }
        Ok(unlocated(Node::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Located, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Ok(unlocated(Node::Table(Vec::new())));
        };
        if first == SPANNED_START {
            let start: usize = map.next_value()?;
            let _end_key = map.next_key::<String>()?;
            let end: usize = map.next_value()?;
            let _value_key = map.next_key::<String>()?;
            let SpannedValue(node) = map.next_value()?;
            return Ok(Located {
                span: Some(start..end),
                node,
            });
        }
        let mut entries = vec![(first, map.next_value::<Located>()?)];
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<Located>()?;
            entries.push((key, value));
        }
        Ok(unlocated(Node::Table(entries)))
    }
}

/// The spanned tree of one document plus its text, for line lookups.
pub(crate) struct SpanIndex<'a> {
    text: &'a str,
    root: Vec<(String, Located)>,
}

impl<'a> SpanIndex<'a> {
    /// Reads the document's structure; a syntax error comes back as the toml error.
    pub(crate) fn parse(text: &'a str) -> Result<Self, toml::de::Error> {
        let root = match toml::from_str::<Located>(text)?.node {
            Node::Table(entries) => entries,
            _ => Vec::new(),
        };
        Ok(SpanIndex { text, root })
    }

    /// The 1-based line of a byte offset.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end].iter().filter(|b| **b == b'\n').count() + 1
    }

    fn pmodes(&self) -> &[Located] {
        match self.root.iter().find(|(k, _)| k == "pmode").map(|(_, v)| v.get_ref()) {
            Some(Node::Array(items)) => items,
            _ => &[],
        }
    }

    /// Number of `[[pmode]]` entries.
    pub(crate) fn pmode_count(&self) -> usize {
        self.pmodes().len()
    }

    /// The `id` string of P-Mode `index`, if it has one.
    pub(crate) fn pmode_id(&self, index: usize) -> Option<String> {
        match self.pmodes().get(index)?.get_ref() {
            Node::Table(entries) => entries
                .iter()
                .find(|(k, _)| k == "id")
                .and_then(|(_, v)| match v.get_ref() {
                    Node::Leaf(Some(s)) => Some(s.clone()),
                    _ => None,
                }),
            _ => None,
        }
    }

    /// The line of the deepest existing value along `field` (dotted) inside P-Mode `index`; the P-Mode's own line
    /// when none of the path exists.
    pub(crate) fn line_of_field(&self, index: usize, field: &str) -> Option<usize> {
        let pmode = self.pmodes().get(index)?;
        let mut span = pmode.span()?;
        let mut node = pmode.get_ref();
        for segment in field.split('.') {
            let (name, position) = split_index(segment);
            let Node::Table(entries) = node else { break };
            let Some((_, child)) = entries.iter().find(|(k, _)| k == name) else {
                break;
            };
            span = child.span().unwrap_or(span);
            node = child.get_ref();
            if let Some(i) = position {
                let Node::Array(items) = node else { break };
                let Some(item) = items.get(i) else { break };
                span = item.span().unwrap_or(span);
                node = item.get_ref();
            }
        }
        Some(self.line_of(span.start))
    }

    /// The P-Mode index and dotted field path of the value an error at `at` is about.
    ///
    /// A `[[pmode]]` element's span covers only its header and direct keys; its sub-tables (`[pmode.security]`)
    /// follow it in the text and have spans of their own. So the P-Mode is the last one starting before `at`, and
    /// the field is the smallest value containing `at`, or else the last table header before it.
    pub(crate) fn locate(&self, at: &Range<usize>) -> Option<(usize, String)> {
        let index = self
            .pmodes()
            .iter()
            .rposition(|p| p.span().is_some_and(|s| s.start <= at.start))?;
        let mut flat = Vec::new();
        flatten(self.pmodes()[index].get_ref(), String::new(), &mut flat);
        let containing = flat
            .iter()
            .filter(|(_, span, _)| span.as_ref().is_some_and(|s| contains(s, at)))
            .min_by_key(|(_, span, _)| span.as_ref().map_or(usize::MAX, |s| s.end - s.start));
        let chosen = containing.or_else(|| {
            flat.iter()
                .filter(|(_, span, is_table)| *is_table && span.as_ref().is_some_and(|s| s.start <= at.start))
                .max_by_key(|(_, span, _)| span.as_ref().map(|s| s.start))
        });
        Some((index, chosen.map(|(path, _, _)| path.clone()).unwrap_or_default()))
    }

    /// The line where P-Mode `index` starts.
    pub(crate) fn pmode_line(&self, index: usize) -> Option<usize> {
        self.pmodes()
            .get(index)
            .and_then(|p| p.span())
            .map(|s| self.line_of(s.start))
    }
}

/// Every value below `node` as (dotted path, span, is a table).
fn flatten(node: &Node, prefix: String, out: &mut Vec<(String, Option<Range<usize>>, bool)>) {
    match node {
        Node::Table(entries) => {
            for (key, value) in entries {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                out.push((path.clone(), value.span(), matches!(value.get_ref(), Node::Table(_))));
                flatten(value.get_ref(), path, out);
            }
        }
        Node::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("{prefix}[{i}]");
                out.push((path.clone(), item.span(), matches!(item.get_ref(), Node::Table(_))));
                flatten(item.get_ref(), path, out);
            }
        }
        Node::Leaf(_) => {}
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer != &(0..0)
}

/// `parts[2]` → (`parts`, Some(2)).
fn split_index(segment: &str) -> (&str, Option<usize>) {
    match segment.find('[') {
        Some(open) if segment.ends_with(']') => (&segment[..open], segment[open + 1..segment.len() - 1].parse().ok()),
        _ => (segment, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "[[pmode]]\nid = \"a\"\n\n[pmode.security.signature]\nalgorithm = \"x\"\n\n[[pmode]]\nid = \"b\"\n";

    #[test]
    fn spans_are_known_even_below_implicit_tables() {
        let index = SpanIndex::parse(TEXT).unwrap();
        assert_eq!(index.pmode_count(), 2);
        assert_eq!(index.pmode_id(1).as_deref(), Some("b"));
        assert_eq!(index.pmode_line(1), Some(7));
        // `security` is an implicit table without a span; its child still has one.
        assert_eq!(index.line_of_field(0, "security.signature.algorithm"), Some(5));
        let at = TEXT.find("\"x\"").unwrap();
        assert_eq!(
            index.locate(&(at..at + 3)),
            Some((0, "security.signature.algorithm".to_string()))
        );
    }
}
