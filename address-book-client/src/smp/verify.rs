//! Trust in SMP answers: the enveloped XML signature over the whole `SignedServiceMetadata` (checked by the shared
//! `xmldsig` core, never re-implemented here) and the chain of the signing certificate to the configured SMP trust
//! anchor (OpenSSL `X509Store`).

use super::xml::DS_NS;
use crate::error::DiscoveryError;
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::{X509StoreContext, X509};
use xmldsig::dom::Document;

/// The SMP trust anchors (the CA certificates the SMP signing certificate must chain to).
#[derive(Clone)]
pub struct SmpTrust {
    anchors: Vec<X509>,
    store: std::sync::Arc<X509Store>,
}

impl std::fmt::Debug for SmpTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmpTrust")
            .field("anchors", &self.anchors.len())
            .finish()
    }
}

impl SmpTrust {
    /// Trusts the given CA certificates.
    pub fn new(anchors: Vec<X509>) -> Result<Self, String> {
        if anchors.is_empty() {
            return Err("no SMP trust anchor configured".into());
        }
        let mut builder = X509StoreBuilder::new().map_err(|e| e.to_string())?;
        for a in &anchors {
            builder.add_cert(a.clone()).map_err(|e| e.to_string())?;
        }
        Ok(SmpTrust {
            anchors,
            store: std::sync::Arc::new(builder.build()),
        })
    }

    /// Trusts every certificate in a PEM file's contents.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        Self::new(X509::stack_from_pem(pem).map_err(|e| format!("SMP trust anchor PEM: {e}"))?)
    }

    /// The anchors.
    pub fn anchors(&self) -> &[X509] {
        &self.anchors
    }

    /// Checks that `signer` chains to an anchor, with `intermediates` as untrusted helpers, valid now.
    pub fn check_chain(&self, signer: &X509, intermediates: &[X509]) -> Result<(), DiscoveryError> {
        let untrusted = |e: openssl::error::ErrorStack| DiscoveryError::SmpSignerUntrusted { reason: e.to_string() };
        let mut chain = Stack::new().map_err(untrusted)?;
        for c in intermediates {
            chain.push(c.clone()).map_err(untrusted)?;
        }
        let mut context = X509StoreContext::new().map_err(untrusted)?;
        let (ok, reason) = context
            .init(&self.store, signer, &chain, |c| {
                let ok = c.verify_cert()?;
                Ok((ok, c.error().error_string().to_string()))
            })
            .map_err(untrusted)?;
        if ok {
            Ok(())
        } else {
            Err(DiscoveryError::SmpSignerUntrusted { reason })
        }
    }
}

/// Verifies the enveloped signature of a `SignedServiceMetadata` document and the signer's chain; returns the
/// signing certificate.
pub fn verify_signed_metadata(doc: &Document, trust: &SmpTrust) -> Result<X509, DiscoveryError> {
    let root = doc.root();
    let signatures: Vec<_> = doc.children_named(root, DS_NS, "Signature").collect();
    match signatures.len() {
        0 => return Err(DiscoveryError::SmpSignatureMissing),
        1 => {}
        _ => {
            return Err(DiscoveryError::SmpSignatureInvalid {
                reason: "more than one Signature element".into(),
            })
        }
    }
    let (signer, intermediates) = verify_enveloped_core(doc)?;
    trust.check_chain(&signer, &intermediates)?;
    Ok(signer)
}

/// The XML-DSig core check through the shared `xmldsig` crate: exactly one reference, covering the whole document
/// (enveloped, `URI=""`), with the default algorithm policy (rsa-sha256 / ed25519, sha256, c14n). Returns the
/// certificate from KeyInfo whose key verified the signature and the other KeyInfo certificates (possible
/// intermediates; untrusted).
fn verify_enveloped_core(doc: &Document) -> Result<(X509, Vec<X509>), DiscoveryError> {
    let invalid = |e: xmldsig::DsigError| DiscoveryError::SmpSignatureInvalid { reason: e.to_string() };
    let node = xmldsig::find_enveloped_signature(doc).map_err(invalid)?;
    let verified = xmldsig::verify_enveloped(doc, node, &xmldsig::Policy::default()).map_err(invalid)?;
    let signer_der = verified.certificate.to_der().unwrap_or_default();
    let intermediates = verified
        .signature
        .key_info
        .certificates
        .iter()
        .filter(|c| c.to_der().map(|d| d != signer_der).unwrap_or(false))
        .cloned()
        .collect();
    Ok((verified.certificate, intermediates))
}
