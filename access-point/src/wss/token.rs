//! The signer's X.509 token: a `wsse:BinarySecurityToken` (X.509 Token Profile 1.1) referenced from the signature's
//! `ds:KeyInfo` by a `wsse:SecurityTokenReference` on output; on input the reference may also be an issuer-serial
//! or a subject-key-identifier, which is resolved against the BinarySecurityTokens of the same header (the
//! certificate must travel in the message: we never look it up elsewhere).

use crate::ebms::ns;
use crate::pki::cache::certificate_from_der;
use crate::wss::algorithms::uri;
use crate::wss::xenc::{parse_token_reference, render_binary_security_token, TokenReference};
use base64::Engine;
use openssl::x509::X509;
use std::collections::HashMap;
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
