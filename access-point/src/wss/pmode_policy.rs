//! From the P-Mode's typed encryption settings (`pmode::EncryptionPolicy`, `PMode[1].Security.X509.Encryption`) to
//! this module's sender profile and receiver policy. Only the combinations this module implements are accepted; a
//! P-Mode asking for anything else (aes128-cbc, rsa-oaep-mgf1p, a missing MGF) is a configuration error here,
//! reported as the policy refusal it would cause.

use crate::wss::algorithms::{ContentEncryptionAlgorithm, KeyTransportMethod};
use crate::wss::decrypt::{DecryptionPolicy, DEFAULT_MAX_ATTACHMENT_BYTES};
use crate::wss::encrypt::EncryptionProfile;
use crate::wss::error::EncryptionError;
use crate::wss::xenc::KeyReferenceStyle;
use pmode::algorithms::{
    DataEncryptionAlgorithm, DigestAlgorithm, KeyAgreementAlgorithm, KeyDerivationFunction, KeyTransportAlgorithm,
    KeyWrapAlgorithm, MaskGenerationFunction, PseudoRandomFunction,
};
use pmode::{EncryptionPolicy, KeyEncryption, TokenReference};

fn unsupported(element: &'static str, found: String, expected: &str) -> EncryptionError {
    EncryptionError::AlgorithmNotAllowed {
        element,
        found,
        expected: expected.to_string(),
    }
}

/// The key protection a P-Mode asks for.
pub fn key_transport_of(encryption: &EncryptionPolicy) -> Result<KeyTransportMethod, EncryptionError> {
    match &encryption.key {
        KeyEncryption::KeyTransport { algorithm, mgf, digest } => {
            if *algorithm != KeyTransportAlgorithm::RsaOaep {
                return Err(unsupported("P-Mode key transport", algorithm.to_string(), "rsa-oaep"));
            }
            if *mgf != Some(MaskGenerationFunction::Mgf1Sha256) {
                return Err(unsupported(
                    "P-Mode key transport MGF",
                    format!("{mgf:?}"),
                    "mgf1-sha256",
                ));
            }
            if *digest != DigestAlgorithm::Sha256 {
                return Err(unsupported("P-Mode key transport digest", digest.to_string(), "sha256"));
            }
            Ok(KeyTransportMethod::RsaOaepSha256)
        }
        KeyEncryption::KeyAgreement {
            algorithm,
            key_derivation,
            prf,
            key_wrap,
        } => {
            let supported = *algorithm == KeyAgreementAlgorithm::X25519
                && *key_derivation == KeyDerivationFunction::Hkdf
                && *prf == PseudoRandomFunction::HmacSha256
                && *key_wrap == KeyWrapAlgorithm::KwAes128;
            if !supported {
                return Err(unsupported(
                    "P-Mode key agreement",
                    format!("{algorithm} + {key_derivation} ({prf}) + {key_wrap}"),
                    "x25519 + hkdf (hmac-sha256) + kw-aes128",
                ));
            }
            Ok(KeyTransportMethod::X25519HkdfKwAes128)
        }
    }
}

fn content_algorithm_of(encryption: &EncryptionPolicy) -> Result<ContentEncryptionAlgorithm, EncryptionError> {
    match encryption.data {
        DataEncryptionAlgorithm::Aes128Gcm => Ok(ContentEncryptionAlgorithm::Aes128Gcm),
        other => Err(unsupported("P-Mode data encryption", other.to_string(), "aes128-gcm")),
    }
}

/// The receiver's policy for a P-Mode leg.
pub fn decryption_policy(encryption: &EncryptionPolicy) -> Result<DecryptionPolicy, EncryptionError> {
    Ok(DecryptionPolicy {
        content_encryption: content_algorithm_of(encryption)?,
        key_transport: key_transport_of(encryption)?,
        require_encrypted_attachments: encryption.parts.attachments,
        max_attachment_bytes: DEFAULT_MAX_ATTACHMENT_BYTES,
    })
}

/// The sender's profile for a P-Mode leg; `reference` is `PMode[1].Security` token reference style, `hkdf_info`
/// the info string for AS4 2.0 key derivation.
pub fn encryption_profile(
    encryption: &EncryptionPolicy,
    reference: TokenReference,
    hkdf_info: &[u8],
) -> Result<EncryptionProfile, EncryptionError> {
    content_algorithm_of(encryption)?;
    Ok(EncryptionProfile {
        key_transport: key_transport_of(encryption)?,
        key_reference: match reference {
            TokenReference::BinarySecurityToken => KeyReferenceStyle::BinarySecurityToken,
            TokenReference::IssuerSerial => KeyReferenceStyle::IssuerSerial,
            TokenReference::SubjectKeyIdentifier => KeyReferenceStyle::SubjectKeyIdentifier,
        },
        hkdf_info: hkdf_info.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pmode::EncryptedParts;

    fn rsa(mgf: Option<MaskGenerationFunction>, data: DataEncryptionAlgorithm) -> EncryptionPolicy {
        EncryptionPolicy {
            data,
            key: KeyEncryption::KeyTransport {
                algorithm: KeyTransportAlgorithm::RsaOaep,
                mgf,
                digest: DigestAlgorithm::Sha256,
            },
            parts: EncryptedParts::default(),
        }
    }

    #[test]
    fn sdk_and_edelivery_2_0_map() {
        let policy = decryption_policy(&rsa(
            Some(MaskGenerationFunction::Mgf1Sha256),
            DataEncryptionAlgorithm::Aes128Gcm,
        ))
        .unwrap();
        assert_eq!(policy, DecryptionPolicy::edelivery_1_15());
        let x = EncryptionPolicy {
            data: DataEncryptionAlgorithm::Aes128Gcm,
            key: KeyEncryption::KeyAgreement {
                algorithm: KeyAgreementAlgorithm::X25519,
                key_derivation: KeyDerivationFunction::Hkdf,
                prf: PseudoRandomFunction::HmacSha256,
                key_wrap: KeyWrapAlgorithm::KwAes128,
            },
            parts: EncryptedParts::default(),
        };
        assert_eq!(decryption_policy(&x).unwrap(), DecryptionPolicy::edelivery_2_0());
        let profile = encryption_profile(&x, TokenReference::IssuerSerial, b"i").unwrap();
        assert_eq!(profile.key_transport, KeyTransportMethod::X25519HkdfKwAes128);
    }

    #[test]
    fn unsupported_pmodes_refused() {
        assert!(decryption_policy(&rsa(None, DataEncryptionAlgorithm::Aes128Gcm)).is_err());
        assert!(decryption_policy(&rsa(
            Some(MaskGenerationFunction::Mgf1Sha256),
            DataEncryptionAlgorithm::Aes128Cbc
        ))
        .is_err());
        let mut mgf1p = rsa(None, DataEncryptionAlgorithm::Aes128Gcm);
        mgf1p.key = KeyEncryption::KeyTransport {
            algorithm: KeyTransportAlgorithm::RsaOaepMgf1p,
            mgf: None,
            digest: DigestAlgorithm::Sha1,
        };
        assert!(decryption_policy(&mgf1p).is_err());
    }
}
