//! What a verifier accepts. Anything outside the policy is refused with a typed error naming the algorithm,
//! before any digest or signature is computed.

use crate::algorithms::{C14nAlgorithm, DigestMethod, SignatureMethod};
use crate::error::DsigError;
use crate::signed_info::{SignedInfo, Transform};

/// The accepted algorithms and the limits on one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Signature methods accepted on SignedInfo.
    pub signature_methods: Vec<SignatureMethod>,
    /// Digest methods accepted on references.
    pub digest_methods: Vec<DigestMethod>,
    /// Canonicalisation accepted as SignedInfo's CanonicalizationMethod and as a reference transform.
    pub canonicalization_methods: Vec<C14nAlgorithm>,
    /// Most references in one SignedInfo (a bound on the work an attacker can ask for).
    pub max_references: usize,
    /// Most transforms on one reference.
    pub max_transforms: usize,
    /// Smallest RSA modulus, in bits, accepted for verification.
    pub min_rsa_bits: u32,
    /// Most certificates in KeyInfo that [`crate::verify_enveloped`] tries as the signer (each try is a
    /// public-key operation).
    pub max_key_info_certificates: usize,
}

impl Default for Policy {
    /// rsa-sha256 and eddsa-ed25519, sha256, exclusive and inclusive c14n, at most 64 references of at most 4
    /// transforms, RSA keys of at least 2048 bits, at most 8 KeyInfo certificates tried.
    fn default() -> Self {
        Policy {
            signature_methods: vec![SignatureMethod::RsaSha256, SignatureMethod::Ed25519],
            digest_methods: vec![DigestMethod::Sha256],
            canonicalization_methods: vec![C14nAlgorithm::Exclusive, C14nAlgorithm::Inclusive],
            max_references: 64,
            max_transforms: 4,
            min_rsa_bits: 2048,
            max_key_info_certificates: 8,
        }
    }
}

impl Policy {
    pub fn check_signature_method(&self, method: SignatureMethod) -> Result<(), DsigError> {
        if !self.signature_methods.contains(&method) {
            return Err(DsigError::DisallowedAlgorithm {
                kind: "signature",
                uri: method.uri().to_string(),
            });
        }
        if !method.is_implemented() {
            return Err(DsigError::UnsupportedAlgorithm {
                kind: "signature",
                uri: method.uri().to_string(),
            });
        }
        Ok(())
    }

    pub fn check_digest_method(&self, method: DigestMethod) -> Result<(), DsigError> {
        if self.digest_methods.contains(&method) {
            Ok(())
        } else {
            Err(DsigError::DisallowedAlgorithm {
                kind: "digest",
                uri: method.uri().to_string(),
            })
        }
    }

    pub fn check_canonicalization(&self, algorithm: C14nAlgorithm) -> Result<(), DsigError> {
        if self.canonicalization_methods.contains(&algorithm) {
            Ok(())
        } else {
            Err(DsigError::DisallowedAlgorithm {
                kind: "canonicalization",
                uri: algorithm.uri().to_string(),
            })
        }
    }

    /// Checks every algorithm and limit of `signed_info`. Transforms other than c14n and enveloped-signature are
    /// left to the resolver of external references (and refused for same-document ones when digesting).
    pub fn check_signed_info(&self, signed_info: &SignedInfo) -> Result<(), DsigError> {
        self.check_canonicalization(signed_info.canonicalization.algorithm())?;
        self.check_signature_method(signed_info.signature_method)?;
        if signed_info.references.len() > self.max_references {
            return Err(DsigError::LimitExceeded {
                limit: "max_references",
                max: self.max_references,
            });
        }
        for reference in &signed_info.references {
            self.check_digest_method(reference.digest_method)?;
            if reference.transforms.len() > self.max_transforms {
                return Err(DsigError::LimitExceeded {
                    limit: "max_transforms",
                    max: self.max_transforms,
                });
            }
            for t in &reference.transforms {
                if let Transform::Canonicalize(mode) = t {
                    self.check_canonicalization(mode.algorithm())?;
                }
            }
        }
        Ok(())
    }
}
