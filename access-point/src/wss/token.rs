//! The signer's X.509 token: a `wsse:BinarySecurityToken` (X.509 Token Profile 1.1) referenced from the signature's
//! `ds:KeyInfo` by a `wsse:SecurityTokenReference` on output; on input the reference may also be an issuer-serial
//! or a subject-key-identifier, which is resolved against the BinarySecurityTokens of the same header (the
//! certificate must travel in the message: we never look it up elsewhere).

use crate::ebms::ns;
use crate::pki::cache::certificate_from_der;
use crate::wss::algorithms::uri;
use crate::wss::xenc::{
    parse_token_reference, render_binary_security_token, render_binary_security_token_base64, TokenReference,
};
use base64::Engine;
use openssl::x509::{X509Ref, X509};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use xmldsig::dom::{Document, NodeId};

/// Why the signing certificate could not be found.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the signature has no KeyInfo/SecurityTokenReference")]
    NoTokenReference,
    #[error("the SecurityTokenReference is malformed: {0}")]
    Malformed(String),
    #[error("the SecurityTokenReference names no BinarySecurityToken of this message")]
    Unresolved,
    #[error("the BinarySecurityToken is not a DER X.509 certificate")]
    BadCertificate,
}

/// The `wsse:BinarySecurityToken` carrying `certificate_der` under `wsu:Id="{token_id}"`.
pub fn render_token(token_id: &str, certificate_der: &[u8]) -> String {
    render_binary_security_token(token_id, certificate_der)
}

/// How many signing certificates [`signer_token_base64`] remembers (a node signs with one or two keys; the oldest
/// entry is dropped beyond this).
const SIGNER_TOKEN_CACHE_ENTRIES: usize = 8;

/// The base64 DER of the certificates we sign with, by certificate object. Each entry holds a reference to its
/// certificate, so the object cannot be freed and its address reused for another certificate while it is cached;
/// an `X509` is never modified after it is built, so the same address means the same DER.
static SIGNER_TOKENS: Mutex<Vec<(X509, Arc<str>)>> = Mutex::new(Vec::new());

/// The base64 of `certificate`'s DER, encoded once per certificate object (the signer's token goes into every
/// message it signs).
pub fn signer_token_base64(certificate: &X509) -> Result<Arc<str>, openssl::error::ErrorStack> {
    let mut cache = SIGNER_TOKENS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, text)) = cache
        .iter()
        .find(|(cert, _)| std::ptr::eq::<X509Ref>(&**cert, &**certificate))
    {
        return Ok(text.clone());
    }
    let text: Arc<str> = base64::engine::general_purpose::STANDARD
        .encode(certificate.to_der()?)
        .into();
    if cache.len() >= SIGNER_TOKEN_CACHE_ENTRIES {
        cache.remove(0);
    }
    cache.push((certificate.clone(), text.clone()));
    Ok(text)
}

/// The `wsse:BinarySecurityToken` carrying our signing `certificate` under `wsu:Id="{token_id}"`.
pub fn render_signer_token(token_id: &str, certificate: &X509) -> Result<String, openssl::error::ErrorStack> {
    Ok(render_binary_security_token_base64(
        token_id,
        &signer_token_base64(certificate)?,
    ))
}

/// The content of `ds:KeyInfo`: a SecurityTokenReference to the BinarySecurityToken `token_id`.
pub fn render_key_info_reference(token_id: &str) -> String {
    format!(
        r##"<wsse:SecurityTokenReference xmlns:wsse="{}"><wsse:Reference URI="#{}" ValueType="{}"/></wsse:SecurityTokenReference>"##,
        ns::WSSE,
        token_id,
        uri::X509_V3
    )
}

/// The X.509v3 BinarySecurityTokens directly under `security`, by wsu:Id.
pub fn binary_security_tokens(doc: &Document, security: NodeId) -> Result<HashMap<String, Vec<u8>>, TokenError> {
    let mut tokens = HashMap::new();
    for bst in doc.children_named(security, ns::WSSE, "BinarySecurityToken") {
        if doc.attribute(bst, None, "ValueType") != Some(uri::X509_V3) {
            continue;
        }
        let Some(id) = doc.attribute(bst, Some(ns::WSU), "Id") else {
            continue;
        };
        let text: String = doc
            .text_content(bst)
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| TokenError::BadCertificate)?;
        tokens.insert(id.to_string(), der);
    }
    Ok(tokens)
}

/// The certificate the `ds:KeyInfo` at `key_info` designates, resolved against the tokens under `security`.
pub fn resolve_signing_certificate(
    doc: &Document,
    security: NodeId,
    key_info: Option<NodeId>,
) -> Result<X509, TokenError> {
    let key_info = key_info.ok_or(TokenError::NoTokenReference)?;
    let str_node = doc
        .first_child(key_info, ns::WSSE, "SecurityTokenReference")
        .ok_or(TokenError::NoTokenReference)?;
    let tokens = binary_security_tokens(doc, security)?;
    let reference = parse_token_reference(doc, str_node, &tokens).map_err(|e| TokenError::Malformed(e.to_string()))?;
    let der = match &reference {
        TokenReference::BinarySecurityToken { certificate_der, .. } => {
            certificate_der.clone().ok_or(TokenError::Unresolved)?
        }
        TokenReference::IssuerSerial { .. } | TokenReference::SubjectKeyIdentifier(_) => {
            let mut matching = tokens
                .values()
                .filter_map(|der| certificate_from_der(der).ok())
                .filter(|c| reference.names(c));
            let found = matching.next().ok_or(TokenError::Unresolved)?;
            return Ok(found);
        }
    };
    certificate_from_der(&der).map_err(|_| TokenError::BadCertificate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::dev::DevPki;

    #[test]
    fn signer_token_is_the_certificate_der_of_each_distinct_certificate() {
        let first = DevPki::throwaway("AP0001-DEV").unwrap();
        let second = DevPki::throwaway("AP0002-DEV").unwrap();
        for _ in 0..2 {
            for cert in [
                &first.message.certificate,
                &second.message.certificate,
                &first.ed25519.certificate,
            ] {
                let expected = base64::engine::general_purpose::STANDARD.encode(cert.to_der().unwrap());
                assert_eq!(&*signer_token_base64(cert).unwrap(), expected);
                assert_eq!(
                    render_signer_token("X509-1", cert).unwrap(),
                    render_token("X509-1", &cert.to_der().unwrap())
                );
            }
        }
    }

    #[test]
    fn signer_token_cache_forgets_the_oldest_certificate_beyond_its_size() {
        let pkis: Vec<DevPki> = (0..SIGNER_TOKEN_CACHE_ENTRIES + 2)
            .map(|i| DevPki::throwaway(&format!("AP000{i}-DEV")).unwrap())
            .collect();
        for pki in pkis.iter().chain(pkis.iter()) {
            let cert = &pki.message.certificate;
            let expected = base64::engine::general_purpose::STANDARD.encode(cert.to_der().unwrap());
            assert_eq!(&*signer_token_base64(cert).unwrap(), expected);
        }
        assert!(SIGNER_TOKENS.lock().unwrap().len() <= SIGNER_TOKEN_CACHE_ENTRIES);
    }
}
