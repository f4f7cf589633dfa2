//! Canonical XML without comments over a [`Document`]: Exclusive XML Canonicalisation 1.0
//! (<http://www.w3.org/2001/10/xml-exc-c14n#>, with an InclusiveNamespaces PrefixList) and inclusive Canonical XML
//! 1.0 (<http://www.w3.org/TR/2001/REC-xml-c14n-20010315>).
//!
//! The input is a [`NodeSet`]: the subtree of one element (a same-document `#id` reference) or the whole document,
//! optionally minus one excluded subtree (the enveloped-signature transform). Output streams into any
//! [`std::io::Write`], so a digest can be computed without holding the canonical form in memory.

use crate::dom::{Document, Element, Node, NodeId, XML_NS};
use std::io::{self, Write};

/// Algorithm URI of Exclusive XML Canonicalisation 1.0 without comments.
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// Algorithm URI of Exclusive XML Canonicalisation 1.0 with comments (recognised, never produced).
pub const EXC_C14N_WITH_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
/// Algorithm URI of Canonical XML 1.0 without comments.
pub const C14N_10: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
/// Algorithm URI of Canonical XML 1.0 with comments (recognised, never produced).
pub const C14N_10_WITH_COMMENTS: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
/// The token that names the default namespace in an InclusiveNamespaces PrefixList.
pub const DEFAULT_PREFIX_TOKEN: &str = "#default";

/// Which canonicalisation (both without comments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum C14nMode {
    /// Exclusive XML Canonicalisation 1.0. `inclusive_prefixes` is the InclusiveNamespaces PrefixList: these
    /// prefixes (`#default` for the default namespace) are treated as inclusive Canonical XML treats them.
    Exclusive { inclusive_prefixes: Vec<String> },
    /// Canonical XML 1.0 (inclusive): every in-scope namespace and the `xml:*` attributes of ancestors of the apex.
    Inclusive,
}

impl C14nMode {
    /// Exclusive canonicalisation with an empty PrefixList.
    pub fn exclusive() -> Self {
        C14nMode::Exclusive {
            inclusive_prefixes: Vec::new(),
        }
    }

    /// The algorithm of this mode, without its PrefixList.
    pub fn algorithm(&self) -> crate::algorithms::C14nAlgorithm {
        match self {
            C14nMode::Exclusive { .. } => crate::algorithms::C14nAlgorithm::Exclusive,
            C14nMode::Inclusive => crate::algorithms::C14nAlgorithm::Inclusive,
        }
    }

    /// The algorithm URI of this mode.
    pub fn uri(&self) -> &'static str {
        match self {
            C14nMode::Exclusive { .. } => EXC_C14N,
            C14nMode::Inclusive => C14N_10,
        }
    }
}

/// The nodes to canonicalise: everything below (and including) `apex`, except the subtree at `excluded`.
///
/// `apex` is an element (the subtree selected by a same-document `#id` reference) or the document node (the whole
/// document, URI `""`). Comments are never part of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSet {
    pub apex: NodeId,
    pub excluded: Option<NodeId>,
}

impl NodeSet {
    /// The subtree of `element`.
    pub fn subtree(element: NodeId) -> Self {
        NodeSet {
            apex: element,
            excluded: None,
        }
    }

    /// The whole document.
    pub fn document(doc: &Document) -> Self {
        NodeSet {
            apex: doc.document_node(),
            excluded: None,
        }
    }

    /// This set minus the subtree rooted at `excluded` (the enveloped-signature transform).
    pub fn without(self, excluded: NodeId) -> Self {
        NodeSet {
            excluded: Some(excluded),
            ..self
        }
    }
}

/// Canonicalises `set` of `doc` under `mode`, writing the octets to `out`.
pub fn canonicalize<W: Write>(doc: &Document, set: &NodeSet, mode: &C14nMode, out: W) -> io::Result<()> {
    let mut writer = Canonicalizer::new(doc, set, mode, out);
    writer.run()?;
    writer.out.flush_all()
}

/// Canonicalises `set` of `doc` under `mode` into a byte vector.
pub fn canonicalize_to_vec(doc: &Document, set: &NodeSet, mode: &C14nMode) -> Vec<u8> {
    let mut out = Vec::new();
    canonicalize(doc, set, mode, &mut out).expect("writing to a Vec cannot fail");
    out
}

/// Output buffering: canonical output is produced in many tiny pieces, so they are gathered before each write.
struct Buffered<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

const OUTPUT_BUFFER: usize = 8 * 1024;

impl<W: Write> Buffered<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.buf.len() + bytes.len() > OUTPUT_BUFFER {
            self.inner.write_all(&self.buf)?;
            self.buf.clear();
            if bytes.len() > OUTPUT_BUFFER {
                return self.inner.write_all(bytes);
            }
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    fn put_str(&mut self, s: &str) -> io::Result<()> {
        self.put(s.as_bytes())
    }

    fn flush_all(&mut self) -> io::Result<()> {
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        self.inner.flush()
    }

    /// Text node escaping (C14N 1.0 §2.3): `&`, `<`, `>` and carriage return.
    fn put_text(&mut self, s: &str) -> io::Result<()> {
        self.put_escaped(s, |b| match b {
            b'&' => Some("&amp;"),
            b'<' => Some("&lt;"),
            b'>' => Some("&gt;"),
            b'\r' => Some("&#xD;"),
            _ => None,
        })
    }

    /// Attribute value escaping (C14N 1.0 §2.3): `&`, `<`, `"`, tab, line feed and carriage return.
    fn put_attribute_value(&mut self, s: &str) -> io::Result<()> {
        self.put_escaped(s, |b| match b {
            b'&' => Some("&amp;"),
            b'<' => Some("&lt;"),
            b'"' => Some("&quot;"),
            b'\t' => Some("&#x9;"),
            b'\n' => Some("&#xA;"),
            b'\r' => Some("&#xD;"),
            _ => None,
        })
    }

    fn put_escaped(&mut self, s: &str, escape: impl Fn(u8) -> Option<&'static str>) -> io::Result<()> {
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, b) in bytes.iter().enumerate() {
            // Every escaped byte is ASCII, so slicing at it never splits a UTF-8 sequence.
            if let Some(rep) = escape(*b) {
                self.put(&bytes[start..i])?;
                self.put_str(rep)?;
                start = i + 1;
            }
        }
        self.put(&bytes[start..])
    }
}

enum Step {
    Enter(NodeId),
    Leave {
        element: NodeId,
        scope_mark: usize,
        rendered_mark: usize,
    },
}

/// A namespace binding; the default namespace has prefix "" and an undeclared default namespace has uri "".
type Binding<'d> = (&'d str, &'d str);

struct Canonicalizer<'d, W: Write> {
    doc: &'d Document,
    set: NodeSet,
    mode: &'d C14nMode,
    out: Buffered<W>,
    /// Namespace bindings in scope at the current element, innermost last.
    scope: Vec<Binding<'d>>,
    /// Namespace declarations rendered by output ancestors of the current element, innermost last.
    rendered: Vec<Binding<'d>>,
}

impl<'d, W: Write> Canonicalizer<'d, W> {
    fn new(doc: &'d Document, set: &NodeSet, mode: &'d C14nMode, out: W) -> Self {
        Canonicalizer {
            doc,
            set: *set,
            mode,
            out: Buffered {
                inner: out,
                buf: Vec::with_capacity(OUTPUT_BUFFER),
            },
            scope: Vec::new(),
            rendered: Vec::new(),
        }
    }

    fn run(&mut self) -> io::Result<()> {
        let doc = self.doc;
        if Some(self.set.apex) == self.set.excluded {
            return Ok(());
        }
        if self.set.apex == doc.document_node() {
            return self.run_document();
        }
        // Bindings declared by ancestors of the apex are in scope (they matter for inclusive c14n and PrefixList).
        let mut ancestors = Vec::new();
        let mut cur = doc.parent(self.set.apex);
        while let Some(a) = cur {
            if let Some(e) = doc.element(a) {
                ancestors.push(e);
            }
            cur = doc.parent(a);
        }
        for e in ancestors.iter().rev() {
            push_declarations(&mut self.scope, e);
        }
        self.walk(self.set.apex)
    }

    /// Document node: PIs before the root element are followed by a line feed, those after it preceded by one.
    fn run_document(&mut self) -> io::Result<()> {
        let doc = self.doc;
        let mut after_root = false;
        for &child in doc.children(doc.document_node()) {
            if Some(child) == self.set.excluded {
                if child == doc.root() {
                    after_root = true;
                }
                continue;
            }
            match doc.node(child) {
                Node::Element(_) => {
                    self.walk(child)?;
                    after_root = true;
                }
                Node::ProcessingInstruction { target, data, .. } => {
                    if after_root {
                        self.out.put(b"\n")?;
                    }
                    self.write_pi(target, data)?;
                    if !after_root {
                        self.out.put(b"\n")?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn walk(&mut self, top: NodeId) -> io::Result<()> {
        let doc = self.doc;
        let mut stack = vec![Step::Enter(top)];
        while let Some(step) = stack.pop() {
            match step {
                Step::Enter(id) => {
                    if Some(id) == self.set.excluded {
                        continue;
                    }
                    match doc.node(id) {
                        Node::Element(e) => {
                            let scope_mark = self.scope.len();
                            let rendered_mark = self.rendered.len();
                            self.start_tag(id, e, id == top)?;
                            stack.push(Step::Leave {
                                element: id,
                                scope_mark,
                                rendered_mark,
                            });
                            stack.extend(e.children.iter().rev().map(|c| Step::Enter(*c)));
                        }
                        Node::Text { text, .. } => self.out.put_text(text)?,
                        Node::ProcessingInstruction { target, data, .. } => self.write_pi(target, data)?,
                        Node::Comment { .. } | Node::Document { .. } => {}
                    }
                }
                Step::Leave {
                    element,
                    scope_mark,
                    rendered_mark,
                } => {
                    let e = doc.element(element).expect("only elements are left");
                    self.out.put(b"</")?;
                    self.write_qname(&e.name.prefix, &e.name.local)?;
                    self.out.put(b">")?;
                    self.scope.truncate(scope_mark);
                    self.rendered.truncate(rendered_mark);
                }
            }
        }
        Ok(())
    }

    fn write_pi(&mut self, target: &str, data: &str) -> io::Result<()> {
        self.out.put(b"<?")?;
        self.out.put_str(target)?;
        if !data.is_empty() {
            self.out.put(b" ")?;
            self.out.put_str(data)?;
        }
        self.out.put(b"?>")
    }

    fn write_qname(&mut self, prefix: &Option<String>, local: &str) -> io::Result<()> {
        if let Some(p) = prefix {
            self.out.put_str(p)?;
            self.out.put(b":")?;
        }
        self.out.put_str(local)
    }

    fn in_scope(&self, prefix: &str) -> Option<&'d str> {
        self.scope.iter().rev().find(|(p, _)| *p == prefix).map(|(_, u)| *u)
    }

    /// The value rendered for `prefix` by the output ancestors; the default namespace starts out empty.
    fn rendered_value(&self, prefix: &str) -> Option<&'d str> {
        match self.rendered.iter().rev().find(|(p, _)| *p == prefix) {
            Some((_, u)) => Some(*u),
            None if prefix.is_empty() => Some(""),
            None => None,
        }
    }

    /// The namespace nodes of `e` that this mode would render if not already rendered, before de-duplication.
    fn candidate_namespaces(&self, e: &'d Element, is_apex: bool) -> Vec<Binding<'d>> {
        let mut candidates: Vec<Binding<'d>> = Vec::new();
        let own = || {
            e.namespace_declarations
                .iter()
                .map(|d| (d.prefix.as_deref().unwrap_or(""), d.uri.as_str()))
        };
        match self.mode {
            C14nMode::Inclusive => {
                if is_apex {
                    // The apex carries every binding in scope (its parent is not in the node set).
                    for (i, (p, _)) in self.scope.iter().enumerate() {
                        if !self.scope[i + 1..].iter().any(|(q, _)| q == p) {
                            candidates.push((p, self.in_scope(p).unwrap_or("")));
                        }
                    }
                } else {
                    // Below the apex, the parent was output with the same bindings except these.
                    candidates.extend(own());
                }
            }
            C14nMode::Exclusive { inclusive_prefixes } => {
                // Visibly utilised: the element's own prefix (or the default namespace) and attribute prefixes.
                candidates.push((
                    e.name.prefix.as_deref().unwrap_or(""),
                    e.namespace.as_deref().unwrap_or(""),
                ));
                for a in &e.attributes {
                    if let (Some(p), Some(ns)) = (&a.name.prefix, &a.namespace) {
                        candidates.push((p.as_str(), ns.as_str()));
                    }
                }
                for listed in inclusive_prefixes {
                    let prefix = if listed == DEFAULT_PREFIX_TOKEN {
                        ""
                    } else {
                        listed.as_str()
                    };
                    if is_apex {
                        if let Some(uri) = self.in_scope(prefix) {
                            candidates.push((prefix, uri));
                        }
                    } else if let Some(binding) = own().find(|(p, _)| *p == prefix) {
                        candidates.push(binding);
                    }
                }
            }
        }
        candidates
    }

    fn start_tag(&mut self, id: NodeId, e: &'d Element, is_apex: bool) -> io::Result<()> {
        push_declarations(&mut self.scope, e);
        let mut render: Vec<Binding<'d>> = Vec::new();
        for (prefix, uri) in self.candidate_namespaces(e, is_apex) {
            // The xml prefix is bound by definition and never declared in canonical form.
            if prefix == "xml" || render.iter().any(|(p, _)| *p == prefix) {
                continue;
            }
            // A non-default prefix cannot be undeclared; only the default namespace can be rendered empty.
            if uri.is_empty() && !prefix.is_empty() {
                continue;
            }
            if self.rendered_value(prefix) != Some(uri) {
                render.push((prefix, uri));
            }
        }
        render.sort_by(|a, b| a.0.cmp(b.0));

        let mut attributes: Vec<(&'d str, &'d str, &'d Option<String>, &'d str)> = e
            .attributes
            .iter()
            .map(|a| {
                (
                    a.namespace.as_deref().unwrap_or(""),
                    a.name.local.as_str(),
                    &a.name.prefix,
                    a.value.as_str(),
                )
            })
            .collect();
        if is_apex && matches!(self.mode, C14nMode::Inclusive) {
            self.inherit_xml_attributes(id, &mut attributes);
        }
        attributes.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));

        self.out.put(b"<")?;
        self.write_qname(&e.name.prefix, &e.name.local)?;
        for (prefix, uri) in &render {
            if prefix.is_empty() {
                self.out.put(b" xmlns=\"")?;
            } else {
                self.out.put(b" xmlns:")?;
                self.out.put_str(prefix)?;
                self.out.put(b"=\"")?;
            }
            self.out.put_attribute_value(uri)?;
            self.out.put(b"\"")?;
        }
        for (_, local, prefix, value) in &attributes {
            self.out.put(b" ")?;
            self.write_qname(prefix, local)?;
            self.out.put(b"=\"")?;
            self.out.put_attribute_value(value)?;
            self.out.put(b"\"")?;
        }
        self.out.put(b">")?;
        self.rendered.extend(render);
        Ok(())
    }

    /// Inclusive C14N 1.0 §2.4: an apex element inherits the `xml:*` attributes of its ancestors that it does not
    /// carry itself, the nearest ancestor winning.
    fn inherit_xml_attributes(
        &self,
        id: NodeId,
        attributes: &mut Vec<(&'d str, &'d str, &'d Option<String>, &'d str)>,
    ) {
        let doc = self.doc;
        let mut cur = doc.parent(id);
        while let Some(a) = cur {
            if let Some(e) = doc.element(a) {
                for attr in &e.attributes {
                    if attr.namespace.as_deref() == Some(XML_NS)
                        && !attributes
                            .iter()
                            .any(|(ns, local, _, _)| *ns == XML_NS && *local == attr.name.local)
                    {
                        attributes.push((XML_NS, attr.name.local.as_str(), &attr.name.prefix, attr.value.as_str()));
                    }
                }
            }
            cur = doc.parent(a);
        }
    }
}

fn push_declarations<'d>(scope: &mut Vec<Binding<'d>>, e: &'d Element) {
    scope.extend(
        e.namespace_declarations
            .iter()
            .map(|d| (d.prefix.as_deref().unwrap_or(""), d.uri.as_str())),
    );
}

#[cfg(test)]
#[path = "c14n_tests.rs"]
mod tests;
