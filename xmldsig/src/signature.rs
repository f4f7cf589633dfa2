//! The `ds:Signature` element: parsing (SignedInfo, SignatureValue, KeyInfo), computing and checking the signature
//! value over the canonicalised SignedInfo, and rendering a Signature element as XML text.

use crate::algorithms::{SignatureMethod, DSIG_NS};
use crate::c14n::{canonicalize_to_vec, NodeSet};
use crate::dom::{Document, NodeId};
use crate::error::DsigError;
use crate::policy::Policy;
use crate::reference::{verify_references, ReferenceContext, VerifiedReference};
use crate::signed_info::{base64_decode, base64_encode, dsig_children, escape, expect_dsig, SignedInfo};
use openssl::pkey::{HasPublic, Id, PKey, PKeyRef, Private, Public};
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;

/// A parsed `ds:Signature`.
#[derive(Debug, Clone)]
pub struct Signature {
    /// The `ds:Signature` element.
    pub node: NodeId,
    pub signed_info_node: NodeId,
    pub signed_info: SignedInfo,
    /// The `ds:Reference` elements, in the order of `signed_info.references`.
    pub reference_nodes: Vec<NodeId>,
    /// The raw signature value (base64-decoded).
    pub signature_value: Vec<u8>,
    /// The `ds:KeyInfo` element, if present (for WS-Security's SecurityTokenReference, which the caller reads).
    pub key_info_node: Option<NodeId>,
    /// The X509Data found in KeyInfo (empty when there is none).
    pub key_info: KeyInfo,
}

/// The X509Data of a KeyInfo (all `ds:X509Data` children merged, in document order).
#[derive(Debug, Clone, Default)]
pub struct KeyInfo {
    pub certificates: Vec<X509>,
    pub issuer_serials: Vec<IssuerSerial>,
    /// `ds:X509SKI` values, decoded.
    pub subject_key_identifiers: Vec<Vec<u8>>,
    pub subject_names: Vec<String>,
}

/// A `ds:X509IssuerSerial`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerSerial {
    /// The issuer distinguished name as written (RFC 4514 string form).
    pub issuer_name: String,
    /// The serial number as written (decimal).
    pub serial_number: String,
}

impl Signature {
    /// Parses the `ds:Signature` element at `node`: SignedInfo, SignatureValue, then optional KeyInfo and Objects.
    pub fn parse(doc: &Document, node: NodeId) -> Result<Signature, DsigError> {
        expect_dsig(doc, node, "Signature")?;
        let children = dsig_children(doc, node)?;
        let signed_info_node = *children
            .first()
            .ok_or_else(|| DsigError::Malformed("Signature has no SignedInfo".into()))?;
        let (signed_info, reference_nodes) = SignedInfo::parse_with_nodes(doc, signed_info_node)?;
        let value_node = *children
            .get(1)
            .ok_or_else(|| DsigError::Malformed("Signature has no SignatureValue".into()))?;
        expect_dsig(doc, value_node, "SignatureValue")?;
        let signature_value = base64_decode(&doc.text_content(value_node), "SignatureValue")?;
        let mut key_info_node = None;
        for &c in &children[2..] {
            if doc.is(c, DSIG_NS, "KeyInfo") && key_info_node.is_none() && c == children[2] {
                key_info_node = Some(c);
            } else {
                expect_dsig(doc, c, "Object")?;
            }
        }
        let key_info = match key_info_node {
            Some(k) => KeyInfo::parse(doc, k)?,
            None => KeyInfo::default(),
        };
        Ok(Signature {
            node,
            signed_info_node,
            signed_info,
            reference_nodes,
            signature_value,
            key_info_node,
            key_info,
        })
    }
}

impl KeyInfo {
    /// Reads the `ds:X509Data` children of the `ds:KeyInfo` at `node`; other children (such as a WS-Security
    /// SecurityTokenReference) are left to the caller.
    pub fn parse(doc: &Document, node: NodeId) -> Result<KeyInfo, DsigError> {
        expect_dsig(doc, node, "KeyInfo")?;
        let mut info = KeyInfo::default();
        for data in doc.children_named(node, DSIG_NS, "X509Data") {
            for item in dsig_children(doc, data)? {
                let element = doc.element(item).expect("children are elements");
                if element.namespace.as_deref() != Some(DSIG_NS) {
                    continue;
                }
                match element.name.local.as_str() {
                    "X509Certificate" => {
                        let der = base64_decode(&doc.text_content(item), "X509Certificate")?;
                        let cert = X509::from_der(&der)
                            .map_err(|_| DsigError::Malformed("X509Certificate is not a DER certificate".into()))?;
                        info.certificates.push(cert);
                    }
                    "X509IssuerSerial" => {
                        let name = doc.first_child(item, DSIG_NS, "X509IssuerName");
                        let serial = doc.first_child(item, DSIG_NS, "X509SerialNumber");
                        let (Some(name), Some(serial)) = (name, serial) else {
                            return Err(DsigError::Malformed("X509IssuerSerial is incomplete".into()));
                        };
                        info.issuer_serials.push(IssuerSerial {
                            issuer_name: doc.text_content(name).trim().to_string(),
                            serial_number: doc.text_content(serial).trim().to_string(),
                        });
                    }
                    "X509SKI" => info
                        .subject_key_identifiers
                        .push(base64_decode(&doc.text_content(item), "X509SKI")?),
                    "X509SubjectName" => info.subject_names.push(doc.text_content(item).trim().to_string()),
                    _ => {}
                }
            }
        }
        Ok(info)
    }
}

/// The signature method this crate uses for `key`: rsa-sha256 for RSA keys, eddsa-ed25519 for Ed25519 keys.
pub fn signature_method_for_key<T>(key: &PKeyRef<T>) -> Result<SignatureMethod, DsigError> {
    match key.id() {
        Id::RSA => Ok(SignatureMethod::RsaSha256),
        Id::ED25519 => Ok(SignatureMethod::Ed25519),
        other => Err(DsigError::KeyMismatch {
            method: "rsa-sha256 or eddsa-ed25519",
            key_type: format!("{other:?}"),
        }),
    }
}

fn check_key_type<T>(method: SignatureMethod, key: &PKeyRef<T>) -> Result<(), DsigError> {
    let fits = match method {
        SignatureMethod::Ed25519 => key.id() == Id::ED25519,
        _ if method.rsa_digest().is_some() => key.id() == Id::RSA,
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(DsigError::KeyMismatch {
            method: method.uri(),
            key_type: format!("{:?}", key.id()),
        })
    }
}

/// The canonical form of the SignedInfo element at `node`, under its own CanonicalizationMethod and in its document
/// context (which matters for inclusive c14n and for a PrefixList).
pub fn canonical_signed_info(doc: &Document, node: NodeId) -> Result<Vec<u8>, DsigError> {
    let signed_info = SignedInfo::parse(doc, node)?;
    Ok(canonicalize_to_vec(
        doc,
        &NodeSet::subtree(node),
        &signed_info.canonicalization,
    ))
}

/// Computes the raw signature value for the `ds:SignedInfo` element at `signed_info_node` with `key`, using the
/// element's SignatureMethod (which must fit the key) and CanonicalizationMethod. The caller places the base64 of
/// the result into SignatureValue.
pub fn sign_signed_info(doc: &Document, signed_info_node: NodeId, key: &PKey<Private>) -> Result<Vec<u8>, DsigError> {
    let signed_info = SignedInfo::parse(doc, signed_info_node)?;
    let method = signed_info.signature_method;
    if !method.is_implemented() {
        return Err(DsigError::UnsupportedAlgorithm {
            kind: "signature",
            uri: method.uri().to_string(),
        });
    }
    check_key_type(method, key)?;
    let data = canonicalize_to_vec(doc, &NodeSet::subtree(signed_info_node), &signed_info.canonicalization);
    Ok(match method.rsa_digest() {
        Some(md) => {
            let mut signer = Signer::new(md, key)?;
            signer.update(&data)?;
            signer.sign_to_vec()?
        }
        None => Signer::new_without_digest(key)?.sign_oneshot_to_vec(&data)?,
    })
}

/// Signs `signed_info` before it is placed in a document, so a `wsse:Security` header can be written in one pass.
///
/// `in_scope` lists the namespace bindings (`None` = default namespace) that will be in scope at the SignedInfo
/// element where it ends up, apart from the XML-DSig namespace, which the enclosing Signature declares under
/// `prefix` (`""`: default namespace) as [`signature_xml`] does. The canonical form, and so the signature, equals
/// what [`sign_signed_info`] computes in the final document, for exclusive c14n (whose PrefixList may name
/// those bindings) and inclusive c14n alike, provided no `xml:*` attribute is inherited from an ancestor.
pub fn sign_signed_info_detached(
    signed_info: &SignedInfo,
    prefix: &str,
    in_scope: &[(Option<&str>, &str)],
    key: &PKey<Private>,
) -> Result<Vec<u8>, DsigError> {
    let own = if prefix.is_empty() { None } else { Some(prefix) };
    let mut declarations = String::new();
    for (p, uri) in in_scope.iter().filter(|(p, _)| *p != own) {
        match p {
            Some(p) => declarations.push_str(&format!(" xmlns:{p}=\"{}\"", escape(uri))),
            None => declarations.push_str(&format!(" xmlns=\"{}\"", escape(uri))),
        }
    }
    match own {
        Some(p) => declarations.push_str(&format!(" xmlns:{p}=\"{DSIG_NS}\"")),
        None => declarations.push_str(&format!(" xmlns=\"{DSIG_NS}\"")),
    }
    let xml = signed_info.to_xml(prefix);
    let open = format!(
        "<{}SignedInfo",
        if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}:")
        }
    );
    let standalone = format!("{open}{declarations}{}", &xml[open.len()..]);
    let doc = Document::parse_str(&standalone)?;
    sign_signed_info(&doc, doc.root(), key)
}

/// Checks the policy for SignedInfo's algorithms and the signature value over the canonicalised SignedInfo element
/// (the element in the document, not a re-rendering of the parsed model) with `key`. References are not checked:
/// see [`verify_references`] and [`verify_signature`].
pub fn verify_signed_info(
    doc: &Document,
    signature: &Signature,
    key: &PKey<Public>,
    policy: &Policy,
) -> Result<(), DsigError> {
    let signed_info = &signature.signed_info;
    policy.check_canonicalization(signed_info.canonicalization.algorithm())?;
    policy.check_signature_method(signed_info.signature_method)?;
    check_key_type(signed_info.signature_method, key)?;
    if key.id() == Id::RSA && key.bits() < policy.min_rsa_bits {
        return Err(DsigError::WeakKey {
            bits: key.bits(),
            min: policy.min_rsa_bits,
        });
    }
    let data = canonicalize_to_vec(
        doc,
        &NodeSet::subtree(signature.signed_info_node),
        &signed_info.canonicalization,
    );
    if verify_value(signed_info.signature_method, key, &data, &signature.signature_value) {
        Ok(())
    } else {
        Err(DsigError::SignatureInvalid)
    }
}

fn verify_value<T: HasPublic>(method: SignatureMethod, key: &PKeyRef<T>, data: &[u8], value: &[u8]) -> bool {
    // OpenSSL reports malformed values as errors; they are simply invalid signatures here.
    let result = match method.rsa_digest() {
        Some(md) => Verifier::new(md, key).and_then(|mut v| {
            v.update(data)?;
            v.verify(value)
        }),
        None => Verifier::new_without_digest(key).and_then(|mut v| v.verify_oneshot(value, data)),
    };
    result.unwrap_or(false)
}

/// Verifies a whole signature: the policy, the signature value with `key`, then every reference.
pub fn verify_signature(
    doc: &Document,
    signature: &Signature,
    key: &PKey<Public>,
    policy: &Policy,
    ctx: &ReferenceContext,
) -> Result<Vec<VerifiedReference>, DsigError> {
    policy.check_signed_info(&signature.signed_info)?;
    verify_signed_info(doc, signature, key, policy)?;
    let ctx = ReferenceContext {
        signature: ctx.signature.or(Some(signature.node)),
        ..*ctx
    };
    verify_references(doc, &signature.signed_info, policy, &ctx)
}

/// Renders a complete `Signature` element declaring the XML-DSig namespace under `prefix` (`""`: default
/// namespace). `key_info_xml` is inserted verbatim inside `KeyInfo` (it must use the same prefix or declare its
/// own namespaces); `None` leaves KeyInfo out. An empty `signature_value` renders an empty SignatureValue, to be
/// filled in after [`sign_signed_info`].
pub fn signature_xml(
    signed_info: &SignedInfo,
    signature_value: &[u8],
    key_info_xml: Option<&str>,
    prefix: &str,
) -> String {
    let (p, decl) = if prefix.is_empty() {
        (String::new(), format!(" xmlns=\"{DSIG_NS}\""))
    } else {
        (format!("{prefix}:"), format!(" xmlns:{prefix}=\"{DSIG_NS}\""))
    };
    let mut out = format!("<{p}Signature{decl}>");
    out.push_str(&signed_info.to_xml(prefix));
    out.push_str(&format!(
        "<{p}SignatureValue>{}</{p}SignatureValue>",
        base64_encode(signature_value)
    ));
    if let Some(k) = key_info_xml {
        out.push_str(&format!("<{p}KeyInfo>{k}</{p}KeyInfo>"));
    }
    out.push_str(&format!("</{p}Signature>"));
    out
}

/// `ds:X509Data` carrying `certificate`, for [`signature_xml`]'s `key_info_xml`.
pub fn x509_data_xml(certificate: &X509, prefix: &str) -> Result<String, DsigError> {
    let p = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}:")
    };
    let der = certificate.to_der()?;
    Ok(format!(
        "<{p}X509Data><{p}X509Certificate>{}</{p}X509Certificate></{p}X509Data>",
        base64_encode(&der)
    ))
}
