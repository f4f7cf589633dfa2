//! Reference processing: resolving `""`, `#id` and external URIs, applying the transform chain and digesting.
//!
//! Same-document references are resolved by Id attribute; the caller says which attribute names count. A duplicate
//! Id anywhere in the document is an error (the signature-wrapping defence), and the resolved [`NodeId`] is returned
//! so that the caller can check it is the very element it reads.

use crate::algorithms::DigestMethod;
use crate::c14n::{canonicalize, C14nMode, NodeSet};
use crate::dom::{Document, NodeId};
use crate::error::DsigError;
use crate::policy::Policy;
use crate::signed_info::{Reference, SignedInfo, Transform};
use openssl::hash::Hasher;
use std::collections::HashMap;

/// The WS-Security utility namespace (`wsu:Id`).
pub const WSU_NS: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

/// An attribute that carries an element's Id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdAttribute {
    /// `None` for an unqualified attribute.
    pub namespace: Option<String>,
    pub local: String,
}

impl IdAttribute {
    pub fn unqualified(local: &str) -> Self {
        IdAttribute {
            namespace: None,
            local: local.to_string(),
        }
    }

    pub fn qualified(namespace: &str, local: &str) -> Self {
        IdAttribute {
            namespace: Some(namespace.to_string()),
            local: local.to_string(),
        }
    }

    /// `wsu:Id`.
    pub fn wsu_id() -> Self {
        Self::qualified(WSU_NS, "Id")
    }

    /// `wsu:Id`, `Id`, `ID` and `id`: the usual set for AS4 and SMP documents.
    pub fn common() -> Vec<IdAttribute> {
        vec![
            Self::wsu_id(),
            Self::unqualified("Id"),
            Self::unqualified("ID"),
            Self::unqualified("id"),
        ]
    }
}

fn ids_of<'d>(doc: &'d Document, node: NodeId, attrs: &[IdAttribute]) -> impl Iterator<Item = &'d str> + 'd {
    let wanted: Vec<(Option<String>, String)> = attrs.iter().map(|a| (a.namespace.clone(), a.local.clone())).collect();
    doc.element(node).into_iter().flat_map(move |e| {
        let wanted = wanted.clone();
        e.attributes
            .iter()
            .filter(move |a| wanted.iter().any(|(ns, l)| *l == a.name.local && *ns == a.namespace))
            .map(|a| a.value.as_str())
    })
}

/// The element whose Id (under any of `attrs`) is `id`. Refuses an Id carried by two elements.
pub fn find_by_id(doc: &Document, id: &str, attrs: &[IdAttribute]) -> Result<NodeId, DsigError> {
    let mut found = None;
    for node in doc.all_nodes() {
        if ids_of(doc, node, attrs).any(|v| v == id) {
            if found.is_some() {
                return Err(DsigError::DuplicateId(id.to_string()));
            }
            found = Some(node);
        }
    }
    found.ok_or_else(|| DsigError::ReferenceNotFound(id.to_string()))
}

/// Checks that no Id value (under any of `attrs`) is carried by more than one element.
pub fn check_unique_ids(doc: &Document, attrs: &[IdAttribute]) -> Result<(), DsigError> {
    let mut seen: HashMap<&str, NodeId> = HashMap::new();
    for node in doc.all_nodes() {
        for v in ids_of(doc, node, attrs) {
            if let Some(other) = seen.insert(v, node) {
                if other != node {
                    return Err(DsigError::DuplicateId(v.to_string()));
                }
            }
        }
    }
    Ok(())
}

/// Digests references that are not in the document (e.g. `cid:` attachments of a SOAP-with-attachments message).
pub trait ExternalResolver {
    /// The digest of `reference`'s data after its transforms, with its digest method; `None` when this resolver
    /// does not handle the URI (the reference is then refused).
    fn digest(&self, reference: &Reference) -> Option<Result<Vec<u8>, DsigError>>;
}

/// What reference processing needs besides the document.
#[derive(Clone, Copy)]
pub struct ReferenceContext<'a> {
    /// The attributes that count as Ids for `#id` references.
    pub id_attributes: &'a [IdAttribute],
    /// The resolver of external URIs, if any.
    pub resolver: Option<&'a dyn ExternalResolver>,
    /// The `ds:Signature` element, left out by the enveloped-signature transform (`None` while signing, before
    /// the signature is in the document). [`crate::verify_signature`] fills it in.
    pub signature: Option<NodeId>,
}

/// A reference whose digest matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReference {
    pub uri: String,
    /// The element (or, for URI `""`, the document node) that was digested; `None` for external references.
    pub node: Option<NodeId>,
    pub digest_method: DigestMethod,
    pub digest_value: Vec<u8>,
}

/// The node a same-document URI selects: the document node for `""`, the element with that Id for `#id`;
/// `None` for an external URI.
pub fn resolve_same_document(doc: &Document, uri: &str, attrs: &[IdAttribute]) -> Result<Option<NodeId>, DsigError> {
    if uri.is_empty() {
        return Ok(Some(doc.document_node()));
    }
    match uri.strip_prefix('#') {
        Some(id) if id.is_empty() || id.starts_with("xpointer(") => {
            Err(DsigError::UnsupportedReferenceUri(uri.to_string()))
        }
        Some(id) => find_by_id(doc, id, attrs).map(Some),
        None => Ok(None),
    }
}

/// Computes the digest of the data `reference` points at (its `digest_value` is ignored), returning the digest and
/// the node that was digested (`None` for an external reference).
pub fn digest_reference(
    doc: &Document,
    reference: &Reference,
    ctx: &ReferenceContext,
) -> Result<(Vec<u8>, Option<NodeId>), DsigError> {
    let Some(apex) = resolve_same_document(doc, &reference.uri, ctx.id_attributes)? else {
        let resolver = ctx
            .resolver
            .ok_or_else(|| DsigError::UnsupportedReferenceUri(reference.uri.clone()))?;
        let digest = resolver
            .digest(reference)
            .ok_or_else(|| DsigError::UnsupportedReferenceUri(reference.uri.clone()))??;
        return Ok((digest, None));
    };
    let (set, mode) = node_set_and_mode(reference, apex, ctx)?;
    let mut hasher = Hasher::new(reference.digest_method.message_digest())?;
    canonicalize(doc, &set, &mode, &mut hasher).map_err(|e| DsigError::Malformed(format!("canonicalisation: {e}")))?;
    Ok((hasher.finish()?.to_vec(), Some(apex)))
}

/// Applies the transform chain to the node set at `apex`: an optional enveloped-signature transform, then at most
/// one canonicalisation, which must be last. Without one, inclusive C14N 1.0 turns the node set into octets
/// (XML-DSig §4.3.3.2).
fn node_set_and_mode(
    reference: &Reference,
    apex: NodeId,
    ctx: &ReferenceContext,
) -> Result<(NodeSet, C14nMode), DsigError> {
    let chain_error = |reason: &str| DsigError::UnsupportedTransformChain {
        uri: reference.uri.clone(),
        reason: reason.into(),
    };
    let mut set = NodeSet::subtree(apex);
    let mut mode = None;
    let mut seen_enveloped = false;
    for t in &reference.transforms {
        if mode.is_some() {
            return Err(chain_error("nothing may follow canonicalisation"));
        }
        match t {
            Transform::EnvelopedSignature => {
                if seen_enveloped {
                    return Err(chain_error("enveloped-signature appears twice"));
                }
                seen_enveloped = true;
                // Without a Signature element (while signing, before it is inserted) there is nothing to leave out.
                if let Some(sig) = ctx.signature {
                    set = set.without(sig);
                }
            }
            Transform::Canonicalize(m) => mode = Some(m.clone()),
            Transform::Other(uri) => {
                return Err(DsigError::UnsupportedAlgorithm {
                    kind: "transform",
                    uri: uri.clone(),
                });
            }
        }
    }
    Ok((set, mode.unwrap_or(C14nMode::Inclusive)))
}

/// Builds a [`Reference`] to `uri` with `transforms`, computing its digest (for signing).
pub fn build_reference(
    doc: &Document,
    uri: &str,
    transforms: Vec<Transform>,
    digest_method: DigestMethod,
    ctx: &ReferenceContext,
) -> Result<(Reference, Option<NodeId>), DsigError> {
    let mut reference = Reference {
        uri: uri.to_string(),
        transforms,
        digest_method,
        digest_value: Vec::new(),
    };
    let (digest, node) = digest_reference(doc, &reference, ctx)?;
    reference.digest_value = digest;
    Ok((reference, node))
}

/// Checks the policy for `signed_info`, that Ids are unique in the document, and every reference's digest.
/// Returns the references with the nodes they cover, in SignedInfo order.
pub fn verify_references(
    doc: &Document,
    signed_info: &SignedInfo,
    policy: &Policy,
    ctx: &ReferenceContext,
) -> Result<Vec<VerifiedReference>, DsigError> {
    policy.check_signed_info(signed_info)?;
    check_unique_ids(doc, ctx.id_attributes)?;
    let mut out = Vec::with_capacity(signed_info.references.len());
    for reference in &signed_info.references {
        let is_same_document = reference.uri.is_empty() || reference.uri.starts_with('#');
        if is_same_document
            && !reference
                .transforms
                .iter()
                .any(|t| matches!(t, Transform::Canonicalize(_)))
        {
            // The implicit final canonicalisation is inclusive C14N 1.0; the policy decides on it too.
            policy.check_canonicalization(crate::algorithms::C14nAlgorithm::Inclusive)?;
        }
        let (digest, node) = digest_reference(doc, reference, ctx)?;
        if digest.len() != reference.digest_value.len() || !openssl::memcmp::eq(&digest, &reference.digest_value) {
            return Err(DsigError::DigestMismatch {
                uri: reference.uri.clone(),
            });
        }
        out.push(VerifiedReference {
            uri: reference.uri.clone(),
            node,
            digest_method: reference.digest_method,
            digest_value: digest,
        });
    }
    Ok(out)
}
