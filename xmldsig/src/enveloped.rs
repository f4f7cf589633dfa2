//! Enveloped signatures over a whole document, as SMP answers carry them: one reference to the whole document
//! (URI `""` or the root's Id) with the enveloped-signature transform, the signer's certificate in KeyInfo.

use crate::algorithms::{DigestMethod, DSIG_NS};
use crate::c14n::C14nMode;
use crate::dom::{Document, NodeId, ParseLimits};
use crate::error::DsigError;
use crate::policy::Policy;
use crate::reference::{build_reference, verify_references, IdAttribute, ReferenceContext, VerifiedReference};
use crate::signature::{
    sign_signed_info, signature_method_for_key, signature_xml, verify_signed_info, x509_data_xml, Signature,
};
use crate::signed_info::{base64_encode, SignedInfo, Transform};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use quick_xml::events::Event;
use quick_xml::Reader;

/// A verified enveloped signature.
#[derive(Debug, Clone)]
pub struct VerifiedSignature {
    pub signature: Signature,
    /// The certificate from KeyInfo whose key verified the signature. The caller must still check that it chains to
    /// its trust anchor, is valid now and may sign.
    pub certificate: X509,
    /// The single reference, whose node is the document node or the root element.
    pub references: Vec<VerifiedReference>,
}

/// The `ds:Signature` child of the root element; exactly one must be present.
pub fn find_enveloped_signature(doc: &Document) -> Result<NodeId, DsigError> {
    let mut found = doc.children_named(doc.root(), DSIG_NS, "Signature");
    let first = found
        .next()
        .ok_or_else(|| DsigError::Enveloped("the root element has no ds:Signature".into()))?;
    if found.next().is_some() {
        return Err(DsigError::Enveloped(
            "the root element has more than one ds:Signature".into(),
        ));
    }
    Ok(first)
}

/// Verifies the enveloped signature at `signature_node`: the algorithms against `policy`; exactly one reference,
/// covering the whole document (URI `""` or the root element's Id) with the enveloped-signature transform; the
/// signature value with the key of a certificate in KeyInfo; and the reference digest. Ids (`wsu:Id`, `Id`, `ID`,
/// `id`) must be unique in the document.
pub fn verify_enveloped(
    doc: &Document,
    signature_node: NodeId,
    policy: &Policy,
) -> Result<VerifiedSignature, DsigError> {
    let signature = Signature::parse(doc, signature_node)?;
    policy.check_signed_info(&signature.signed_info)?;
    let [reference] = signature.signed_info.references.as_slice() else {
        return Err(DsigError::Enveloped("expected exactly one reference".into()));
    };
    if !reference.transforms.contains(&Transform::EnvelopedSignature) {
        return Err(DsigError::EnvelopedTransformMissing);
    }
    let certificate = signing_certificate(doc, &signature, policy)?;
    let id_attributes = IdAttribute::common();
    let ctx = ReferenceContext {
        id_attributes: &id_attributes,
        resolver: None,
        signature: Some(signature_node),
    };
    let references = verify_references(doc, &signature.signed_info, policy, &ctx)?;
    let covered = references[0].node;
    if covered != Some(doc.document_node()) && covered != Some(doc.root()) {
        return Err(DsigError::Enveloped(format!(
            "reference {:?} does not cover the whole document",
            reference.uri
        )));
    }
    Ok(VerifiedSignature {
        signature,
        certificate,
        references,
    })
}

/// The certificate in KeyInfo whose public key verifies the signature value.
fn signing_certificate(doc: &Document, signature: &Signature, policy: &Policy) -> Result<X509, DsigError> {
    if signature.key_info.certificates.len() > policy.max_key_info_certificates {
        return Err(DsigError::LimitExceeded {
            limit: "max_key_info_certificates",
            max: policy.max_key_info_certificates,
        });
    }
    let mut last_error = DsigError::NoSigningCertificate;
    for cert in &signature.key_info.certificates {
        let key = cert.public_key()?;
        match verify_signed_info(doc, signature, &key, policy) {
            Ok(()) => return Ok(cert.clone()),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// How [`sign_enveloped`] signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopedSignOptions {
    /// Used as SignedInfo's CanonicalizationMethod and as the reference's final transform.
    pub canonicalization: C14nMode,
    pub digest_method: DigestMethod,
    /// The prefix of the XML-DSig namespace in the produced Signature (`""`: default namespace).
    pub prefix: String,
}

impl Default for EnvelopedSignOptions {
    /// Exclusive c14n, SHA-256, prefix `ds`.
    fn default() -> Self {
        EnvelopedSignOptions {
            canonicalization: C14nMode::exclusive(),
            digest_method: DigestMethod::Sha256,
            prefix: "ds".into(),
        }
    }
}

/// Signs the document `xml` with an enveloped signature appended as the last child of its root element:
/// one reference with URI `""`, transforms enveloped-signature + `options.canonicalization`, the signature method
/// for `key` (rsa-sha256 or eddsa-ed25519), and `certificate` in KeyInfo/X509Data. The rest of `xml` is kept
/// byte for byte.
pub fn sign_enveloped(
    xml: &[u8],
    key: &PKey<Private>,
    certificate: &X509,
    options: &EnvelopedSignOptions,
) -> Result<Vec<u8>, DsigError> {
    let limits = ParseLimits::default();
    let doc = Document::parse(xml, &limits)?;
    let method = signature_method_for_key(key)?;
    let no_ids: [IdAttribute; 0] = [];
    let ctx = ReferenceContext {
        id_attributes: &no_ids,
        resolver: None,
        signature: None,
    };
    // The signature is not in the document yet, so the whole document is exactly what the enveloped transform
    // will select once it is.
    let transforms = vec![
        Transform::EnvelopedSignature,
        Transform::Canonicalize(options.canonicalization.clone()),
    ];
    let (reference, _) = build_reference(&doc, "", transforms, options.digest_method, &ctx)?;
    let signed_info = SignedInfo {
        canonicalization: options.canonicalization.clone(),
        signature_method: method,
        references: vec![reference],
    };
    let key_info = x509_data_xml(certificate, &options.prefix)?;
    let unsigned = signature_xml(&signed_info, &[], Some(&key_info), &options.prefix);
    let with_placeholder = insert_before_root_end(xml, &unsigned)?;

    // Sign the SignedInfo as it stands in the final document (its namespace context matters for inclusive c14n).
    let placed = Document::parse(&with_placeholder, &limits)?;
    let signature_node = find_enveloped_signature(&placed)?;
    let parsed = Signature::parse(&placed, signature_node)?;
    let value = sign_signed_info(&placed, parsed.signed_info_node, key)?;
    let signed = signature_xml(&signed_info, &value, Some(&key_info), &options.prefix);
    insert_before_root_end(xml, &signed)
}

/// `xml` with `fragment` inserted just before the end tag of the root element (an empty root element is expanded).
fn insert_before_root_end(xml: &[u8], fragment: &str) -> Result<Vec<u8>, DsigError> {
    let mut reader = Reader::from_reader(xml);
    let mut depth = 0usize;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|e| DsigError::Malformed(e.to_string()))?;
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(_) => depth += 1,
            Event::End(_) => {
                depth -= 1;
                if depth == 0 {
                    let mut out = Vec::with_capacity(xml.len() + fragment.len());
                    out.extend_from_slice(&xml[..before]);
                    out.extend_from_slice(fragment.as_bytes());
                    out.extend_from_slice(&xml[before..]);
                    return Ok(out);
                }
            }
            Event::Empty(start) if depth == 0 => {
                // `<root .../>` becomes `<root ...>fragment</root>`.
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                let close = xml[..after]
                    .iter()
                    .rposition(|b| *b == b'/')
                    .expect("an empty element ends with />");
                let mut out = Vec::with_capacity(xml.len() + fragment.len() + name.len() + 3);
                out.extend_from_slice(&xml[..close]);
                out.push(b'>');
                out.extend_from_slice(fragment.as_bytes());
                out.extend_from_slice(format!("</{name}>").as_bytes());
                out.extend_from_slice(&xml[after..]);
                return Ok(out);
            }
            Event::Eof => return Err(DsigError::Malformed("no root element".into())),
            _ => {}
        }
    }
}

/// Base64 of `bytes` (standard alphabet, no line breaks), as XML-DSig writes digest and signature values.
pub fn base64(bytes: &[u8]) -> String {
    base64_encode(bytes)
}
