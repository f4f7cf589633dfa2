//! Algorithm identifiers of XML-DSig 1.0/1.1 and their mapping to OpenSSL. Some are recognised only so that a
//! policy can refuse them by name (SHA-1, RSA-SHA1); the rest are refused as unsupported with their URI.

use crate::c14n::{C14N_10, EXC_C14N};
use crate::error::DsigError;
use openssl::hash::MessageDigest;

/// The XML-DSig namespace.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The namespace of the exclusive c14n `InclusiveNamespaces` parameter element.
pub const EXC_C14N_NS: &str = EXC_C14N;
/// The enveloped-signature transform.
pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// A digest method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestMethod {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestMethod {
    pub const ALL: [DigestMethod; 5] = [
        DigestMethod::Sha1,
        DigestMethod::Sha224,
        DigestMethod::Sha256,
        DigestMethod::Sha384,
        DigestMethod::Sha512,
    ];

    pub fn uri(self) -> &'static str {
        match self {
            DigestMethod::Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
            DigestMethod::Sha224 => "http://www.w3.org/2001/04/xmldsig-more#sha224",
            DigestMethod::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
            DigestMethod::Sha384 => "http://www.w3.org/2001/04/xmldsig-more#sha384",
            DigestMethod::Sha512 => "http://www.w3.org/2001/04/xmlenc#sha512",
        }
    }

    /// The method named by `uri`, or [`DsigError::UnsupportedAlgorithm`].
    pub fn from_uri(uri: &str) -> Result<Self, DsigError> {
        Self::ALL
            .into_iter()
            .find(|m| m.uri() == uri)
            .ok_or_else(|| DsigError::UnsupportedAlgorithm {
                kind: "digest",
                uri: uri.to_string(),
            })
    }

    pub fn message_digest(self) -> MessageDigest {
        match self {
            DigestMethod::Sha1 => MessageDigest::sha1(),
            DigestMethod::Sha224 => MessageDigest::sha224(),
            DigestMethod::Sha256 => MessageDigest::sha256(),
            DigestMethod::Sha384 => MessageDigest::sha384(),
            DigestMethod::Sha512 => MessageDigest::sha512(),
        }
    }
}

/// A signature method. ECDSA, RSA-PSS and HMAC are recognised but not implemented (always refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureMethod {
    RsaSha1,
    RsaSha256,
    RsaSha384,
    RsaSha512,
    Ed25519,
    EcdsaSha256,
    RsaPssSha256,
    HmacSha256,
}

impl SignatureMethod {
    pub const ALL: [SignatureMethod; 8] = [
        SignatureMethod::RsaSha1,
        SignatureMethod::RsaSha256,
        SignatureMethod::RsaSha384,
        SignatureMethod::RsaSha512,
        SignatureMethod::Ed25519,
        SignatureMethod::EcdsaSha256,
        SignatureMethod::RsaPssSha256,
        SignatureMethod::HmacSha256,
    ];

    pub fn uri(self) -> &'static str {
        match self {
            SignatureMethod::RsaSha1 => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            SignatureMethod::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            SignatureMethod::RsaSha384 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
            SignatureMethod::RsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            SignatureMethod::Ed25519 => "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519",
            SignatureMethod::EcdsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            SignatureMethod::RsaPssSha256 => "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
            SignatureMethod::HmacSha256 => "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
        }
    }

    /// The method named by `uri`, or [`DsigError::UnsupportedAlgorithm`].
    pub fn from_uri(uri: &str) -> Result<Self, DsigError> {
        Self::ALL
            .into_iter()
            .find(|m| m.uri() == uri)
            .ok_or_else(|| DsigError::UnsupportedAlgorithm {
                kind: "signature",
                uri: uri.to_string(),
            })
    }

    /// The RSA digest for RSA PKCS#1 v1.5 methods; `None` for Ed25519 (which signs the message itself).
    pub(crate) fn rsa_digest(self) -> Option<MessageDigest> {
        match self {
            SignatureMethod::RsaSha1 => Some(MessageDigest::sha1()),
            SignatureMethod::RsaSha256 => Some(MessageDigest::sha256()),
            SignatureMethod::RsaSha384 => Some(MessageDigest::sha384()),
            SignatureMethod::RsaSha512 => Some(MessageDigest::sha512()),
            _ => None,
        }
    }

    /// Whether this crate can compute and check the method.
    pub fn is_implemented(self) -> bool {
        self.rsa_digest().is_some() || self == SignatureMethod::Ed25519
    }
}

/// A canonicalisation algorithm (the PrefixList is a parameter, see [`crate::c14n::C14nMode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum C14nAlgorithm {
    Exclusive,
    Inclusive,
}

impl C14nAlgorithm {
    pub fn uri(self) -> &'static str {
        match self {
            C14nAlgorithm::Exclusive => EXC_C14N,
            C14nAlgorithm::Inclusive => C14N_10,
        }
    }

    /// The algorithm named by `uri`; the with-comments variants are recognised and refused as unsupported.
    pub fn from_uri(uri: &str) -> Result<Self, DsigError> {
        match uri {
            EXC_C14N => Ok(C14nAlgorithm::Exclusive),
            C14N_10 => Ok(C14nAlgorithm::Inclusive),
            // The with-comments variants land here too: comments are never signed by this crate.
            _ => Err(DsigError::UnsupportedAlgorithm {
                kind: "canonicalization",
                uri: uri.to_string(),
            }),
        }
    }
}
