//! A small, hardened, namespace-aware XML tree.
//!
//! Every XML consumer in sdk-ap (the ebMS parser, canonicalisation, WS-Security, SMP verification) reads the same
//! tree, so the element that a signature covers is the very element the message handler reads. The parser refuses
//! DTDs (and so every entity declaration), resolves namespaces itself, normalises line endings and attribute values
//! as an XML 1.0 processor without a DTD must, and enforces the size limits in [`ParseLimits`].

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::borrow::Cow;

/// The namespace bound to the `xml` prefix by definition.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace of namespace declarations themselves.
pub const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Limits applied while parsing untrusted XML. Each is a named setting of the caller.
#[derive(Debug, Clone)]
pub struct ParseLimits {
    /// Largest accepted document, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted element nesting.
    pub max_depth: usize,
    /// Most nodes (elements, text, comments, processing instructions) in one document.
    pub max_nodes: usize,
    /// Most attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_bytes: 16 * 1024 * 1024,
            max_depth: 64,
            max_nodes: 200_000,
            max_attributes: 256,
        }
    }
}

/// Why a document was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DomError {
    #[error("XML is not well-formed at byte {position}: {reason}")]
    Malformed { position: u64, reason: String },
    #[error("XML document type declarations (DTDs, entities) are refused")]
    DtdRefused,
    #[error("XML encoding {0:?} is not supported; only UTF-8 is accepted")]
    UnsupportedEncoding(String),
    #[error("XML limit exceeded: {limit} (at most {max})")]
    LimitExceeded { limit: &'static str, max: usize },
    #[error("namespace prefix {0:?} is not declared")]
    UnboundPrefix(String),
    #[error("attribute {0:?} appears twice on one element")]
    DuplicateAttribute(String),
    #[error("the document has no root element")]
    NoRoot,
}

/// Index of a node in its [`Document`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(u32);

impl NodeId {
    /// The position of the node in document order (nodes are stored in the order they were parsed).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A qualified name as written: the prefix (if any) and the local part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub prefix: Option<String>,
    pub local: String,
}

impl Name {
    /// The name as written in the source, `prefix:local` or `local`.
    pub fn qualified(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.clone(),
        }
    }
}

/// A namespace declaration written on an element (`xmlns="…"` has prefix `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceDeclaration {
    pub prefix: Option<String>,
    pub uri: String,
}

/// An attribute, namespace declarations excluded. `value` is already normalised and unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: Name,
    pub namespace: Option<String>,
    pub value: String,
}

/// An element with its resolved namespace, its own declarations and attributes, and its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: Name,
    pub namespace: Option<String>,
    pub namespace_declarations: Vec<NamespaceDeclaration>,
    pub attributes: Vec<Attribute>,
    pub children: Vec<NodeId>,
    pub parent: NodeId,
}

/// One node of the tree. The node at index 0 is the document itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Document {
        children: Vec<NodeId>,
    },
    Element(Element),
    /// Character data, with line endings normalised and references resolved (CDATA sections become text).
    Text {
        text: String,
        parent: NodeId,
    },
    Comment {
        text: String,
        parent: NodeId,
    },
    ProcessingInstruction {
        target: String,
        data: String,
        parent: NodeId,
    },
}

/// A parsed XML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    nodes: Vec<Node>,
    root: NodeId,
}

const DOCUMENT: NodeId = NodeId(0);

impl Document {
    /// Parses `xml` under `limits`.
    pub fn parse(xml: &[u8], limits: &ParseLimits) -> Result<Document, DomError> {
        if xml.len() > limits.max_bytes {
            return Err(DomError::LimitExceeded {
                limit: "max_bytes",
                max: limits.max_bytes,
            });
        }
        Parser::new(xml, limits).run()
    }

    /// Parses with [`ParseLimits::default`].
    pub fn parse_str(xml: &str) -> Result<Document, DomError> {
        Self::parse(xml.as_bytes(), &ParseLimits::default())
    }

    /// The document node (parent of the root element and of any top-level comments and PIs).
    pub fn document_node(&self) -> NodeId {
        DOCUMENT
    }

    /// The root (document) element.
    pub fn root(&self) -> NodeId {
        self.root
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// The element at `id`, or `None` for other kinds of node.
    pub fn element(&self, id: NodeId) -> Option<&Element> {
        match &self.nodes[id.index()] {
            Node::Element(e) => Some(e),
            _ => None,
        }
    }

    /// The number of nodes, the document node included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a document has at least its document node and root element.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// All node ids in document order.
    pub fn all_nodes(&self) -> impl Iterator<Item = NodeId> {
        (0..self.nodes.len() as u32).map(NodeId)
    }

    pub fn parent(&self, id: NodeId) -> Option<NodeId> {
        match &self.nodes[id.index()] {
            Node::Document { .. } => None,
            Node::Element(e) => Some(e.parent),
            Node::Text { parent, .. } | Node::Comment { parent, .. } | Node::ProcessingInstruction { parent, .. } => {
                Some(*parent)
            }
        }
    }

    pub fn children(&self, id: NodeId) -> &[NodeId] {
        match &self.nodes[id.index()] {
            Node::Document { children } => children,
            Node::Element(e) => &e.children,
            _ => &[],
        }
    }

    /// Child elements of `id`, in order.
    pub fn child_elements(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.children(id).iter().copied().filter(|c| self.element(*c).is_some())
    }

    /// Child elements of `id` with the given namespace and local name.
    pub fn children_named<'a>(
        &'a self,
        id: NodeId,
        namespace: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = NodeId> + 'a {
        self.child_elements(id).filter(move |c| self.is(*c, namespace, local))
    }

    /// The first child element with the given namespace and local name.
    pub fn first_child(&self, id: NodeId, namespace: &str, local: &str) -> Option<NodeId> {
        self.children_named(id, namespace, local).next()
    }

    /// Whether `id` is an element with this namespace URI and local name.
    pub fn is(&self, id: NodeId, namespace: &str, local: &str) -> bool {
        self.element(id)
            .is_some_and(|e| e.name.local == local && e.namespace.as_deref() == Some(namespace))
    }

    /// The value of the attribute with this namespace (`None` for unqualified) and local name.
    pub fn attribute(&self, id: NodeId, namespace: Option<&str>, local: &str) -> Option<&str> {
        self.element(id)?
            .attributes
            .iter()
            .find(|a| a.name.local == local && a.namespace.as_deref() == namespace)
            .map(|a| a.value.as_str())
    }

    /// The concatenated text of all descendant text nodes.
    pub fn text_content(&self, id: NodeId) -> String {
        let mut out = String::new();
        self.collect_text(id, &mut out);
        out
    }

    fn collect_text(&self, id: NodeId, out: &mut String) {
        match &self.nodes[id.index()] {
            Node::Text { text, .. } => out.push_str(text),
            Node::Element(e) => e.children.iter().for_each(|c| self.collect_text(*c, out)),
            Node::Document { children } => children.iter().for_each(|c| self.collect_text(*c, out)),
            _ => {}
        }
    }

    /// `id` and all nodes below it, in document order.
    pub fn descendants_or_self(&self, id: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut stack = vec![id];
        while let Some(n) = stack.pop() {
            out.push(n);
            stack.extend(self.children(n).iter().rev().copied());
        }
        out
    }

    /// Whether `ancestor` is `id` or one of its ancestors.
    pub fn is_ancestor_or_self(&self, ancestor: NodeId, id: NodeId) -> bool {
        let mut cur = Some(id);
        while let Some(c) = cur {
            if c == ancestor {
                return true;
            }
            cur = self.parent(c);
        }
        false
    }

    /// The namespace bindings in scope at element `id`, innermost winning, as (prefix, uri), sorted by prefix with
    /// the default namespace (`None`) first. An undeclared default namespace (`xmlns=""`) is included with uri "".
    pub fn in_scope_namespaces(&self, id: NodeId) -> Vec<(Option<String>, String)> {
        let mut chain = Vec::new();
        let mut cur = Some(id);
        while let Some(c) = cur {
            if let Some(e) = self.element(c) {
                chain.push(e);
            }
            cur = self.parent(c);
        }
        let mut map: std::collections::BTreeMap<Option<String>, String> = Default::default();
        for e in chain.iter().rev() {
            for d in &e.namespace_declarations {
                map.insert(d.prefix.clone(), d.uri.clone());
            }
        }
        map.into_iter().collect()
    }

    /// The namespace URI bound to `prefix` (None = default namespace) at element `id`.
    pub fn lookup_namespace(&self, id: NodeId, prefix: Option<&str>) -> Option<String> {
        if prefix == Some("xml") {
            return Some(XML_NS.to_string());
        }
        let mut cur = Some(id);
        while let Some(c) = cur {
            if let Some(e) = self.element(c) {
                if let Some(d) = e.namespace_declarations.iter().find(|d| d.prefix.as_deref() == prefix) {
                    return if d.uri.is_empty() { None } else { Some(d.uri.clone()) };
                }
            }
            cur = self.parent(c);
        }
        None
    }
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    limits: &'a ParseLimits,
    nodes: Vec<Node>,
    stack: Vec<NodeId>,
    root: Option<NodeId>,
}

impl<'a> Parser<'a> {
    fn new(xml: &'a [u8], limits: &'a ParseLimits) -> Self {
        let mut reader = Reader::from_reader(xml);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        Parser {
            reader,
            limits,
            nodes: vec![Node::Document { children: Vec::new() }],
            stack: vec![DOCUMENT],
            root: None,
        }
    }

    fn malformed(&self, reason: impl Into<String>) -> DomError {
        DomError::Malformed {
            position: self.reader.buffer_position(),
            reason: reason.into(),
        }
    }

    fn run(mut self) -> Result<Document, DomError> {
        let mut buf_events = 0usize;
        loop {
            let event = self.reader.read_event().map_err(|e| self.malformed(e.to_string()))?;
            buf_events += 1;
            let _ = buf_events;
            match event {
                Event::Decl(decl) => {
                    if let Some(enc) = decl.encoding() {
                        let enc = enc.map_err(|e| self.malformed(e.to_string()))?;
                        let enc = String::from_utf8_lossy(&enc).to_string();
                        if !enc.eq_ignore_ascii_case("utf-8") && !enc.eq_ignore_ascii_case("utf8") {
                            return Err(DomError::UnsupportedEncoding(enc));
                        }
                    }
                }
                Event::DocType(_) => return Err(DomError::DtdRefused),
                Event::Start(start) => {
                    let id = self.open_element(&start)?;
                    self.stack.push(id);
                    if self.stack.len() > self.limits.max_depth + 1 {
                        return Err(DomError::LimitExceeded {
                            limit: "max_depth",
                            max: self.limits.max_depth,
                        });
                    }
                }
                Event::Empty(start) => {
                    self.open_element(&start)?;
                }
                Event::End(_) => {
                    if self.stack.len() <= 1 {
                        return Err(self.malformed("unexpected end tag"));
                    }
                    self.stack.pop();
                }
                Event::Text(text) => {
                    let raw = std::str::from_utf8(text.as_ref()).map_err(|_| self.malformed("invalid UTF-8"))?;
                    let normalised = normalise_line_endings(raw);
                    let unescaped = unescape(&normalised).map_err(|e| self.malformed(e))?;
                    self.push_text(unescaped)?;
                }
                Event::CData(cdata) => {
                    let raw = std::str::from_utf8(cdata.as_ref()).map_err(|_| self.malformed("invalid UTF-8"))?;
                    check_chars(raw).map_err(|e| self.malformed(e))?;
                    let normalised = normalise_line_endings(raw).into_owned();
                    self.push_text(normalised)?;
                }
                Event::Comment(comment) => {
                    let raw = std::str::from_utf8(comment.as_ref()).map_err(|_| self.malformed("invalid UTF-8"))?;
                    check_chars(raw).map_err(|e| self.malformed(e))?;
                    let text = normalise_line_endings(raw).into_owned();
                    let parent = *self.stack.last().expect("stack has the document");
                    self.add_node(Node::Comment { text, parent })?;
                }
                Event::PI(pi) => {
                    let raw = std::str::from_utf8(pi.as_ref()).map_err(|_| self.malformed("invalid UTF-8"))?;
                    check_chars(raw).map_err(|e| self.malformed(e))?;
                    let raw = normalise_line_endings(raw);
                    let (target, data) = match raw.find(|c: char| c.is_ascii_whitespace()) {
                        Some(i) => (raw[..i].to_string(), raw[i..].trim_start().to_string()),
                        None => (raw.to_string(), String::new()),
                    };
                    if target.eq_ignore_ascii_case("xml") {
                        return Err(self.malformed("misplaced XML declaration"));
                    }
                    let parent = *self.stack.last().expect("stack has the document");
                    self.add_node(Node::ProcessingInstruction { target, data, parent })?;
                }
                Event::Eof => break,
            }
        }
        if self.stack.len() != 1 {
            return Err(self.malformed("unexpected end of document"));
        }
        let root = self.root.ok_or(DomError::NoRoot)?;
        Ok(Document {
            nodes: self.nodes,
            root,
        })
    }

    fn add_node(&mut self, node: Node) -> Result<NodeId, DomError> {
        if self.nodes.len() >= self.limits.max_nodes {
            return Err(DomError::LimitExceeded {
                limit: "max_nodes",
                max: self.limits.max_nodes,
            });
        }
        let id = NodeId(self.nodes.len() as u32);
        let parent = match &node {
            Node::Element(e) => e.parent,
            Node::Text { parent, .. } | Node::Comment { parent, .. } | Node::ProcessingInstruction { parent, .. } => {
                *parent
            }
            Node::Document { .. } => unreachable!("only one document node"),
        };
        self.nodes.push(node);
        match &mut self.nodes[parent.index()] {
            Node::Document { children } => children.push(id),
            Node::Element(e) => e.children.push(id),
            _ => unreachable!("only documents and elements have children"),
        }
        Ok(id)
    }

    fn push_text(&mut self, text: String) -> Result<(), DomError> {
        if text.is_empty() {
            return Ok(());
        }
        let parent = *self.stack.last().expect("stack has the document");
        if parent == DOCUMENT {
            if text.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) {
                return Ok(());
            }
            return Err(self.malformed("text outside the root element"));
        }
        // Adjacent text (text, CDATA, text) is one text node, as in the XPath data model.
        if let Some(&last) = self.children_of(parent).last() {
            if let Node::Text { text: existing, .. } = &mut self.nodes[last.index()] {
                existing.push_str(&text);
                return Ok(());
            }
        }
        self.add_node(Node::Text { text, parent })?;
        Ok(())
    }

    fn children_of(&self, id: NodeId) -> &[NodeId] {
        match &self.nodes[id.index()] {
            Node::Document { children } => children,
            Node::Element(e) => &e.children,
            _ => &[],
        }
    }

    fn lookup(&self, start_from: NodeId, own: &[NamespaceDeclaration], prefix: Option<&str>) -> Option<String> {
        if prefix == Some("xml") {
            return Some(XML_NS.to_string());
        }
        if let Some(d) = own.iter().find(|d| d.prefix.as_deref() == prefix) {
            return Some(d.uri.clone());
        }
        let mut cur = start_from;
        loop {
            match &self.nodes[cur.index()] {
                Node::Element(e) => {
                    if let Some(d) = e.namespace_declarations.iter().find(|d| d.prefix.as_deref() == prefix) {
                        return Some(d.uri.clone());
                    }
                    cur = e.parent;
                }
                _ => return None,
            }
        }
    }

    fn open_element(&mut self, start: &BytesStart) -> Result<NodeId, DomError> {
        let parent = *self.stack.last().expect("stack has the document");
        if parent == DOCUMENT && self.root.is_some() {
            return Err(self.malformed("more than one root element"));
        }
        let qname = std::str::from_utf8(start.name().as_ref())
            .map_err(|_| self.malformed("invalid UTF-8 in element name"))?
            .to_string();
        let name = split_name(&qname).map_err(|e| self.malformed(e))?;
        let mut declarations = Vec::new();
        let mut raw_attributes: Vec<(Name, String)> = Vec::new();
        for (count, attr) in start.attributes().with_checks(true).enumerate() {
            if count >= self.limits.max_attributes {
                return Err(DomError::LimitExceeded {
                    limit: "max_attributes",
                    max: self.limits.max_attributes,
                });
            }
            let attr = attr.map_err(|e| self.malformed(e.to_string()))?;
            let key = std::str::from_utf8(attr.key.as_ref())
                .map_err(|_| self.malformed("invalid UTF-8 in attribute name"))?
                .to_string();
            let raw = std::str::from_utf8(&attr.value).map_err(|_| self.malformed("invalid UTF-8 in attribute"))?;
            let value = normalise_attribute(raw).map_err(|e| self.malformed(e))?;
            if key == "xmlns" {
                declarations.push(NamespaceDeclaration {
                    prefix: None,
                    uri: value,
                });
            } else if let Some(prefix) = key.strip_prefix("xmlns:") {
                if value.is_empty() {
                    return Err(self.malformed(format!("prefix {prefix:?} cannot be undeclared")));
                }
                if prefix == "xmlns" || (prefix == "xml" && value != XML_NS) {
                    return Err(self.malformed(format!("reserved prefix {prefix:?} cannot be declared")));
                }
                if declarations
                    .iter()
                    .any(|d: &NamespaceDeclaration| d.prefix.as_deref() == Some(prefix))
                {
                    return Err(DomError::DuplicateAttribute(key));
                }
                declarations.push(NamespaceDeclaration {
                    prefix: Some(prefix.to_string()),
                    uri: value,
                });
            } else {
                raw_attributes.push((split_name(&key).map_err(|e| self.malformed(e))?, value));
            }
        }
        let namespace = match self.lookup(parent, &declarations, name.prefix.as_deref()) {
            Some(uri) if uri.is_empty() => None,
            Some(uri) => Some(uri),
            None if name.prefix.is_none() => None,
            None => return Err(DomError::UnboundPrefix(name.prefix.clone().unwrap_or_default())),
        };
        let mut attributes: Vec<Attribute> = Vec::with_capacity(raw_attributes.len());
        for (attr_name, value) in raw_attributes {
            let attr_ns = match &attr_name.prefix {
                None => None,
                Some(p) => match self.lookup(parent, &declarations, Some(p)) {
                    Some(uri) if !uri.is_empty() => Some(uri),
                    _ => return Err(DomError::UnboundPrefix(p.clone())),
                },
            };
            if attributes
                .iter()
                .any(|a| a.name.local == attr_name.local && a.namespace == attr_ns)
            {
                return Err(DomError::DuplicateAttribute(attr_name.qualified()));
            }
            attributes.push(Attribute {
                name: attr_name,
                namespace: attr_ns,
                value,
            });
        }
        let id = self.add_node(Node::Element(Element {
            name,
            namespace,
            namespace_declarations: declarations,
            attributes,
            children: Vec::new(),
            parent,
        }))?;
        if parent == DOCUMENT {
            self.root = Some(id);
        }
        Ok(id)
    }
}

fn split_name(qname: &str) -> Result<Name, String> {
    // Not the full XML Name production, but enough that no name can carry markup, whitespace or control
    // characters into a canonical form.
    let bad = |c: char| {
        matches!(
            c,
            '<' | '>' | '&' | '"' | '\'' | '=' | '/' | '?' | '!' | ';' | ',' | '(' | ')' | '[' | ']' | '{' | '}'
        ) || matches!(c, '`' | '\\')
            || c.is_whitespace()
            || !is_xml_char(c)
    };
    if qname.chars().any(bad) || qname.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.') {
        return Err(format!("invalid name {qname:?}"));
    }
    let mut parts = qname.splitn(3, ':');
    let first = parts.next().unwrap_or_default();
    match (parts.next(), parts.next()) {
        (None, _) if !first.is_empty() => Ok(Name {
            prefix: None,
            local: first.to_string(),
        }),
        (Some(local), None) if !first.is_empty() && !local.is_empty() => Ok(Name {
            prefix: Some(first.to_string()),
            local: local.to_string(),
        }),
        _ => Err(format!("invalid qualified name {qname:?}")),
    }
}

/// XML 1.0 §2.11: `\r\n` and lone `\r` become `\n`.
fn normalise_line_endings(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\r') {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
}

/// XML 1.0 §3.3.3 for CDATA-typed attributes (there is no DTD): line endings normalised, then each literal
/// whitespace character becomes a space; characters written as references are kept as they are.
fn normalise_attribute(raw: &str) -> Result<String, String> {
    if raw.contains('<') {
        return Err("'<' in an attribute value".to_string());
    }
    if !raw.contains(['\t', '\n', '\r']) {
        return unescape(raw);
    }
    let eol = normalise_line_endings(raw);
    let spaced: String = eol
        .chars()
        .map(|c| if matches!(c, '\t' | '\n') { ' ' } else { c })
        .collect();
    unescape(&spaced)
}

/// Resolves the five predefined entities and character references; any other entity reference is an error
/// (there is no DTD to declare it).
fn unescape(raw: &str) -> Result<String, String> {
    if !raw.contains('&') {
        check_chars(raw)?;
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after.find(';').ok_or_else(|| "unterminated reference".to_string())?;
        let name = &after[..semi];
        match name {
            "lt" => out.push('<'),
            "gt" => out.push('>'),
            "amp" => out.push('&'),
            "apos" => out.push('\''),
            "quot" => out.push('"'),
            _ if name.starts_with("#x") => out.push(char_ref(&name[2..], 16)?),
            _ if name.starts_with('#') => out.push(char_ref(&name[1..], 10)?),
            _ => return Err(format!("undeclared entity &{name};")),
        }
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    check_chars(&out)?;
    Ok(out)
}

fn char_ref(digits: &str, radix: u32) -> Result<char, String> {
    if digits.is_empty() || digits.len() > 8 {
        return Err("invalid character reference".to_string());
    }
    let code = u32::from_str_radix(digits, radix).map_err(|_| "invalid character reference".to_string())?;
    let c = char::from_u32(code).ok_or_else(|| "invalid character reference".to_string())?;
    if !is_xml_char(c) {
        return Err(format!("character U+{code:04X} is not allowed in XML"));
    }
    Ok(c)
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn check_chars(s: &str) -> Result<(), String> {
    match s.chars().find(|c| !is_xml_char(*c)) {
        Some(c) => Err(format!("character U+{:04X} is not allowed in XML", c as u32)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_namespaces_and_prefixes() {
        let doc = Document::parse_str(
            r#"<S:Envelope xmlns:S="urn:s" xmlns="urn:d"><S:Header a="1"><x:E xmlns:x="urn:x" x:y="2"/></S:Header><Body/></S:Envelope>"#,
        )
        .unwrap();
        let root = doc.root();
        assert!(doc.is(root, "urn:s", "Envelope"));
        let header = doc.first_child(root, "urn:s", "Header").unwrap();
        assert_eq!(doc.attribute(header, None, "a"), Some("1"));
        let e = doc.first_child(header, "urn:x", "E").unwrap();
        assert_eq!(doc.attribute(e, Some("urn:x"), "y"), Some("2"));
        assert!(doc.first_child(root, "urn:d", "Body").is_some());
        assert_eq!(doc.in_scope_namespaces(e).len(), 3);
    }

    #[test]
    fn refuses_dtd_and_unknown_entities() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>"#;
        assert_eq!(Document::parse_str(bomb), Err(DomError::DtdRefused));
        assert!(matches!(
            Document::parse_str("<a>&x;</a>"),
            Err(DomError::Malformed { .. })
        ));
    }

    #[test]
    fn normalises_text_and_attributes() {
        let doc = Document::parse_str("<a b=\"x\ty&#9;z\r\n\">l1\r\nl2\rl3&#xD;<![CDATA[<c>]]></a>").unwrap();
        let a = doc.root();
        assert_eq!(doc.attribute(a, None, "b"), Some("x y\tz "));
        assert_eq!(doc.text_content(a), "l1\nl2\nl3\r<c>");
    }

    #[test]
    fn refuses_unbound_prefix_duplicates_and_limits() {
        assert!(matches!(Document::parse_str("<p:a/>"), Err(DomError::UnboundPrefix(_))));
        assert!(matches!(
            Document::parse_str(r#"<a xmlns:p="u" xmlns:q="u" p:x="1" q:x="2"/>"#),
            Err(DomError::DuplicateAttribute(_))
        ));
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(matches!(
            Document::parse(deep.as_bytes(), &ParseLimits::default()),
            Err(DomError::LimitExceeded { limit: "max_depth", .. })
        ));
        assert!(Document::parse_str("<a></b>").is_err());
        assert!(Document::parse_str("<a/><b/>").is_err());
        assert!(Document::parse_str("").is_err());
        assert!(Document::parse_str("<a>\u{1}</a>").is_err());
        // Found by the c14n fuzz target: control characters inside CDATA, comments and PIs.
        assert!(Document::parse_str("<a><![CDATA[\u{8}]]></a>").is_err());
        assert!(Document::parse_str("<a><!--\u{8}--></a>").is_err());
        assert!(Document::parse_str("<a><?p \u{8}?></a>").is_err());
    }
}
