//! The `ds:SignedInfo` model: parsed from the DOM, rendered as XML text for embedding into a `wsse:Security` header
//! or an enveloped signature.

use crate::algorithms::{DigestMethod, SignatureMethod, DSIG_NS, ENVELOPED_SIGNATURE, EXC_C14N_NS};
use crate::c14n::{C14nMode, C14N_10, C14N_10_WITH_COMMENTS, EXC_C14N, EXC_C14N_WITH_COMMENTS};
use crate::dom::{Document, Node, NodeId};
use crate::error::DsigError;
use base64::Engine;

/// One `ds:Transform` of a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transform {
    /// `http://www.w3.org/2000/09/xmldsig#enveloped-signature`: the signature element is left out.
    EnvelopedSignature,
    /// Exclusive (with its PrefixList) or inclusive canonicalisation.
    Canonicalize(C14nMode),
    /// Any other algorithm (for example the SwA Attachment-Content-Signature-Transform). Only a resolver of
    /// external references can process it; same-document references with it are refused.
    Other(String),
}

impl Transform {
    pub fn uri(&self) -> &str {
        match self {
            Transform::EnvelopedSignature => ENVELOPED_SIGNATURE,
            Transform::Canonicalize(mode) => mode.uri(),
            Transform::Other(uri) => uri,
        }
    }
}

/// A `ds:Reference`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `""` (the whole document), `#id` (the element with that Id) or an external URI such as `cid:...`.
    pub uri: String,
    pub transforms: Vec<Transform>,
    pub digest_method: DigestMethod,
    /// The raw digest octets (base64-decoded).
    pub digest_value: Vec<u8>,
}

/// A `ds:SignedInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInfo {
    /// The CanonicalizationMethod (used to canonicalise SignedInfo itself before signing).
    pub canonicalization: C14nMode,
    pub signature_method: SignatureMethod,
    pub references: Vec<Reference>,
}

impl SignedInfo {
    /// Parses the `ds:SignedInfo` element at `node`. Unknown algorithms give [`DsigError::UnsupportedAlgorithm`];
    /// whether known ones are acceptable is the [`crate::Policy`]'s decision.
    pub fn parse(doc: &Document, node: NodeId) -> Result<SignedInfo, DsigError> {
        Ok(Self::parse_with_nodes(doc, node)?.0)
    }

    /// Like [`SignedInfo::parse`], also returning the NodeId of each `ds:Reference` element, in order.
    pub fn parse_with_nodes(doc: &Document, node: NodeId) -> Result<(SignedInfo, Vec<NodeId>), DsigError> {
        expect_dsig(doc, node, "SignedInfo")?;
        let children = dsig_children(doc, node)?;
        let mut it = children.iter().copied();
        let c14n_node = it
            .next()
            .ok_or_else(|| missing("CanonicalizationMethod", "SignedInfo"))?;
        expect_dsig(doc, c14n_node, "CanonicalizationMethod")?;
        let canonicalization = match parse_transform(doc, c14n_node)? {
            Transform::Canonicalize(mode) => mode,
            other => {
                return Err(DsigError::UnsupportedAlgorithm {
                    kind: "canonicalization",
                    uri: other.uri().to_string(),
                })
            }
        };
        let method_node = it.next().ok_or_else(|| missing("SignatureMethod", "SignedInfo"))?;
        expect_dsig(doc, method_node, "SignatureMethod")?;
        let signature_method = SignatureMethod::from_uri(algorithm(doc, method_node)?)?;
        if doc.child_elements(method_node).next().is_some() {
            // HMACOutputLength and friends: refused rather than ignored.
            return Err(DsigError::Malformed("SignatureMethod has unexpected parameters".into()));
        }
        let mut references = Vec::new();
        let mut reference_nodes = Vec::new();
        for r in it {
            expect_dsig(doc, r, "Reference")?;
            references.push(parse_reference(doc, r)?);
            reference_nodes.push(r);
        }
        if references.is_empty() {
            return Err(missing("Reference", "SignedInfo"));
        }
        Ok((
            SignedInfo {
                canonicalization,
                signature_method,
                references,
            },
            reference_nodes,
        ))
    }

    /// Renders the element as XML text with the XML-DSig namespace under `prefix` (`""` for the default
    /// namespace). The namespace is not declared here: the enclosing `Signature` element declares it.
    pub fn to_xml(&self, prefix: &str) -> String {
        let p = qualifier(prefix);
        let mut out = format!("<{p}SignedInfo>");
        out.push_str(&transform_xml(
            &p,
            "CanonicalizationMethod",
            &Transform::Canonicalize(self.canonicalization.clone()),
        ));
        out.push_str(&format!(
            "<{p}SignatureMethod Algorithm=\"{}\"/>",
            escape(self.signature_method.uri())
        ));
        for r in &self.references {
            out.push_str(&r.to_xml(prefix));
        }
        out.push_str(&format!("</{p}SignedInfo>"));
        out
    }
}

impl Reference {
    /// Renders the `ds:Reference` element (namespace not declared, see [`SignedInfo::to_xml`]).
    pub fn to_xml(&self, prefix: &str) -> String {
        let p = qualifier(prefix);
        let mut out = format!("<{p}Reference URI=\"{}\">", escape(&self.uri));
        if !self.transforms.is_empty() {
            out.push_str(&format!("<{p}Transforms>"));
            for t in &self.transforms {
                out.push_str(&transform_xml(&p, "Transform", t));
            }
            out.push_str(&format!("</{p}Transforms>"));
        }
        out.push_str(&format!(
            "<{p}DigestMethod Algorithm=\"{}\"/>",
            escape(self.digest_method.uri())
        ));
        out.push_str(&format!(
            "<{p}DigestValue>{}</{p}DigestValue>",
            base64_encode(&self.digest_value)
        ));
        out.push_str(&format!("</{p}Reference>"));
        out
    }
}

fn qualifier(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}:")
    }
}

fn transform_xml(p: &str, element: &str, t: &Transform) -> String {
    match t {
        Transform::Canonicalize(C14nMode::Exclusive { inclusive_prefixes }) if !inclusive_prefixes.is_empty() => {
            format!(
                "<{p}{element} Algorithm=\"{EXC_C14N}\"><ec:InclusiveNamespaces xmlns:ec=\"{EXC_C14N_NS}\" \
                 PrefixList=\"{}\"/></{p}{element}>",
                escape(&inclusive_prefixes.join(" "))
            )
        }
        other => format!("<{p}{element} Algorithm=\"{}\"/>", escape(other.uri())),
    }
}

/// Escapes text for an attribute value or element content.
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes base64 content of an element, ignoring the XML whitespace that may wrap it.
pub(crate) fn base64_decode(text: &str, what: &'static str) -> Result<Vec<u8>, DsigError> {
    let compact: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\r'))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| DsigError::Base64(what))
}

fn missing(what: &str, parent: &str) -> DsigError {
    DsigError::Malformed(format!("{parent} has no {what} where one is required"))
}

pub(crate) fn expect_dsig(doc: &Document, node: NodeId, local: &str) -> Result<(), DsigError> {
    if doc.is(node, DSIG_NS, local) {
        Ok(())
    } else {
        let found = doc
            .element(node)
            .map_or_else(|| "a non-element node".to_string(), |e| e.name.qualified());
        Err(DsigError::Malformed(format!("expected ds:{local}, found {found}")))
    }
}

/// The element children of `node`; text other than whitespace between them is refused (comments and PIs are
/// ignored, as canonicalisation ignores them).
pub(crate) fn dsig_children(doc: &Document, node: NodeId) -> Result<Vec<NodeId>, DsigError> {
    let mut out = Vec::new();
    for &c in doc.children(node) {
        match doc.node(c) {
            Node::Element(_) => out.push(c),
            Node::Text { text, .. } if !text.chars().all(|ch| matches!(ch, ' ' | '\t' | '\n' | '\r')) => {
                return Err(DsigError::Malformed(
                    "unexpected text inside a signature element".into(),
                ))
            }
            _ => {}
        }
    }
    Ok(out)
}

fn algorithm(doc: &Document, node: NodeId) -> Result<&str, DsigError> {
    doc.attribute(node, None, "Algorithm")
        .ok_or_else(|| DsigError::Malformed("an Algorithm attribute is missing".into()))
}

/// Parses a `ds:Transform` or `ds:CanonicalizationMethod` element.
fn parse_transform(doc: &Document, node: NodeId) -> Result<Transform, DsigError> {
    let uri = algorithm(doc, node)?;
    let params = dsig_children(doc, node)?;
    match uri {
        EXC_C14N => {
            let mut prefixes = Vec::new();
            for p in params {
                if !doc.is(p, EXC_C14N_NS, "InclusiveNamespaces") {
                    return Err(DsigError::Malformed("unexpected parameter of exclusive c14n".into()));
                }
                let list = doc.attribute(p, None, "PrefixList").unwrap_or_default();
                prefixes.extend(list.split_ascii_whitespace().map(str::to_string));
            }
            Ok(Transform::Canonicalize(C14nMode::Exclusive {
                inclusive_prefixes: prefixes,
            }))
        }
        C14N_10 | ENVELOPED_SIGNATURE if !params.is_empty() => {
            Err(DsigError::Malformed(format!("transform {uri} takes no parameters")))
        }
        C14N_10 => Ok(Transform::Canonicalize(C14nMode::Inclusive)),
        ENVELOPED_SIGNATURE => Ok(Transform::EnvelopedSignature),
        EXC_C14N_WITH_COMMENTS | C14N_10_WITH_COMMENTS => Err(DsigError::UnsupportedAlgorithm {
            kind: "canonicalization",
            uri: uri.to_string(),
        }),
        other => Ok(Transform::Other(other.to_string())),
    }
}

fn parse_reference(doc: &Document, node: NodeId) -> Result<Reference, DsigError> {
    let uri = doc
        .attribute(node, None, "URI")
        .ok_or_else(|| DsigError::Malformed("a Reference without a URI attribute is not supported".into()))?
        .to_string();
    let children = dsig_children(doc, node)?;
    let mut it = children.iter().copied().peekable();
    let mut transforms = Vec::new();
    if let Some(&t) = it.peek() {
        if doc.is(t, DSIG_NS, "Transforms") {
            it.next();
            for tr in dsig_children(doc, t)? {
                expect_dsig(doc, tr, "Transform")?;
                transforms.push(parse_transform(doc, tr)?);
            }
        }
    }
    let dm = it.next().ok_or_else(|| missing("DigestMethod", "Reference"))?;
    expect_dsig(doc, dm, "DigestMethod")?;
    let digest_method = DigestMethod::from_uri(algorithm(doc, dm)?)?;
    let dv = it.next().ok_or_else(|| missing("DigestValue", "Reference"))?;
    expect_dsig(doc, dv, "DigestValue")?;
    let digest_value = base64_decode(&doc.text_content(dv), "DigestValue")?;
    if let Some(extra) = it.next() {
        expect_dsig(doc, extra, "nothing after DigestValue")?;
    }
    Ok(Reference {
        uri,
        transforms,
        digest_method,
        digest_value,
    })
}
