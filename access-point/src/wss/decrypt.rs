//! The receiving side: parse the encryption elements of `wsse:Security`, check them against the P-Mode's policy,
//! recover the content key, and decrypt each attachment to a spool file that is released only after its GCM tag
//! verified.
//!
//! Policy (eDelivery AS4 1.15 §3.2.6.2 / 2.0 §3.2.6.2.3, SwA Profile 1.1 §5.5): only the expected content algorithm
//! and key protection are accepted (so aes128-cbc, rsa-oaep-mgf1p, MGF1-SHA1 or SHA-1 OAEP digests are refused when
//! the P-Mode says otherwise); every EncryptedData must be Attachment-Content-Only with the ciphertext transform,
//! name an attachment of this message and be listed by the EncryptedKey; every DataReference must resolve; every
//! attachment must be encrypted when the policy requires it. Policy failures are EBMS:0103, failures to decrypt
//! EBMS:0102 (see [`EncryptionError::ebms_error`]).

use crate::wss::algorithms::{
    uri, ContentEncryptionAlgorithm, HkdfPrf, KeyAgreementAlgorithm, KeyDerivationAlgorithm, KeyEncryptionAlgorithm,
    KeyTransportMethod, MaskGenerationFunction, OaepDigestAlgorithm, AES128_KEY_LEN,
};
use crate::wss::content::{decrypt_in_memory, decrypt_to_spool, DecryptedAttachment};
use crate::wss::error::EncryptionError;
use crate::wss::keytransport::{rsa_oaep_decrypt, x25519_unwrap, AgreedKeyWrap, ContentKey};
use crate::wss::xenc::{parse_encryption_header, EncryptedData, EncryptedKey, EncryptionHeader, KeyEncryption};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use tokio::io::AsyncRead;
use xmldsig::dom::{Document, NodeId};

/// Default for [`DecryptionPolicy::max_attachment_bytes`]: 2 GiB of plaintext per attachment.
pub const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// What the P-Mode requires of an encrypted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptionPolicy {
    pub content_encryption: ContentEncryptionAlgorithm,
    pub key_transport: KeyTransportMethod,
    /// Every attachment must be encrypted (the SDK and both eDelivery profiles: yes).
    pub require_encrypted_attachments: bool,
    /// Largest plaintext accepted per attachment, in bytes (a named node setting).
    pub max_attachment_bytes: u64,
}

impl DecryptionPolicy {
    /// eDelivery AS4 1.15 / SDK: aes128-gcm, rsa-oaep with MGF1-SHA256 and SHA-256, all attachments encrypted.
    pub fn edelivery_1_15() -> Self {
        DecryptionPolicy {
            content_encryption: ContentEncryptionAlgorithm::Aes128Gcm,
            key_transport: KeyTransportMethod::RsaOaepSha256,
            require_encrypted_attachments: true,
            max_attachment_bytes: DEFAULT_MAX_ATTACHMENT_BYTES,
        }
    }

    /// eDelivery AS4 2.0: aes128-gcm, X25519 + HKDF(HMAC-SHA256) + kw-aes128, all attachments encrypted.
    pub fn edelivery_2_0() -> Self {
        DecryptionPolicy {
            key_transport: KeyTransportMethod::X25519HkdfKwAes128,
            ..Self::edelivery_1_15()
        }
    }
}

/// This access point's decryption key and the certificate the sender encrypted for.
pub struct RecipientKey {
    pub private_key: PKey<Private>,
    pub certificate: X509,
}

fn not_allowed(element: &'static str, found: impl ToString, expected: impl ToString) -> EncryptionError {
    EncryptionError::AlgorithmNotAllowed {
        element,
        found: found.to_string(),
        expected: expected.to_string(),
    }
}

/// Checks the parsed header against `policy` for a message carrying `attachment_content_ids`.
pub fn check_policy(
    header: &EncryptionHeader,
    policy: &DecryptionPolicy,
    attachment_content_ids: &[&str],
) -> Result<(), EncryptionError> {
    let attachments: HashSet<&str> = attachment_content_ids.iter().copied().collect();
    let mut encrypted_parts = HashSet::new();
    for data in &header.encrypted_data {
        if data.algorithm != policy.content_encryption {
            return Err(not_allowed(
                "EncryptedData/EncryptionMethod",
                data.algorithm,
                policy.content_encryption,
            ));
        }
        if data.data_type != uri::ATTACHMENT_CONTENT_ONLY {
            return Err(EncryptionError::ParameterNotAllowed {
                element: "EncryptedData/@Type",
                found: data.data_type.clone(),
                expected: uri::ATTACHMENT_CONTENT_ONLY.into(),
            });
        }
        if data.transforms != [uri::ATTACHMENT_CIPHERTEXT_TRANSFORM] {
            return Err(EncryptionError::ParameterNotAllowed {
                element: "CipherReference/Transforms",
                found: format!("{:?}", data.transforms),
                expected: uri::ATTACHMENT_CIPHERTEXT_TRANSFORM.into(),
            });
        }
        if !attachments.contains(data.content_id.as_str()) {
            return Err(EncryptionError::MissingAttachment {
                content_id: data.content_id.clone(),
            });
        }
        if !encrypted_parts.insert(data.content_id.as_str()) {
            return Err(EncryptionError::Duplicate(format!(
                "EncryptedData for attachment {}",
                data.content_id
            )));
        }
    }
    if policy.require_encrypted_attachments {
        if let Some(plain) = attachment_content_ids
            .iter()
            .find(|cid| !encrypted_parts.contains(*cid))
        {
            return Err(EncryptionError::AttachmentNotEncrypted {
                content_id: plain.to_string(),
            });
        }
    }
    let Some(key) = &header.encrypted_key else {
        return match header.encrypted_data.first() {
            Some(data) => Err(EncryptionError::UnreferencedEncryptedData { id: data.id.clone() }),
            None => Ok(()),
        };
    };
    let mut referenced = HashSet::new();
    for reference in &key.data_references {
        if !referenced.insert(reference.as_str()) {
            return Err(EncryptionError::Duplicate(format!("DataReference #{reference}")));
        }
        if !header.encrypted_data.iter().any(|d| &d.id == reference) {
            return Err(EncryptionError::DanglingDataReference {
                reference: reference.clone(),
            });
        }
    }
    for data in &header.encrypted_data {
        let names_other_key = data.key_reference.as_ref().is_some_and(|k| k != &key.id);
        if !referenced.contains(data.id.as_str()) || names_other_key {
            return Err(EncryptionError::UnreferencedEncryptedData { id: data.id.clone() });
        }
    }
    check_key_protection(key, policy.key_transport)
}

fn check_key_protection(key: &EncryptedKey, expected: KeyTransportMethod) -> Result<(), EncryptionError> {
    const KEY_METHOD: &str = "EncryptedKey/EncryptionMethod";
    match (&key.method, expected) {
        (KeyEncryption::Transport { algorithm, oaep, .. }, KeyTransportMethod::RsaOaepSha256) => {
            if *algorithm != KeyEncryptionAlgorithm::RsaOaep {
                return Err(not_allowed(KEY_METHOD, algorithm, KeyEncryptionAlgorithm::RsaOaep));
            }
            if oaep.mgf != MaskGenerationFunction::Mgf1Sha256 {
                return Err(not_allowed(
                    "EncryptionMethod/MGF",
                    oaep.mgf,
                    MaskGenerationFunction::Mgf1Sha256,
                ));
            }
            if oaep.digest != OaepDigestAlgorithm::Sha256 {
                return Err(not_allowed(
                    "EncryptionMethod/DigestMethod",
                    oaep.digest,
                    OaepDigestAlgorithm::Sha256,
                ));
            }
            Ok(())
        }
        (KeyEncryption::Agreement { wrap, agreement }, KeyTransportMethod::X25519HkdfKwAes128) => {
            if *wrap != KeyEncryptionAlgorithm::KwAes128 {
                return Err(not_allowed(KEY_METHOD, wrap, KeyEncryptionAlgorithm::KwAes128));
            }
            if agreement.algorithm != KeyAgreementAlgorithm::X25519 {
                return Err(not_allowed(
                    "AgreementMethod",
                    agreement.algorithm,
                    KeyAgreementAlgorithm::X25519,
                ));
            }
            if agreement.derivation != KeyDerivationAlgorithm::Hkdf {
                return Err(not_allowed(
                    "KeyDerivationMethod",
                    agreement.derivation,
                    KeyDerivationAlgorithm::Hkdf,
                ));
            }
            let hkdf = agreement
                .hkdf
                .as_ref()
                .ok_or_else(|| EncryptionError::Malformed("HKDF without HKDFParams".into()))?;
            if hkdf.prf != HkdfPrf::HmacSha256 {
                return Err(not_allowed("HKDFParams/PRF", hkdf.prf, HkdfPrf::HmacSha256));
            }
            if hkdf.key_length.is_some_and(|l| l != AES128_KEY_LEN as u64) {
                return Err(EncryptionError::ParameterNotAllowed {
                    element: "HKDFParams/KeyLength",
                    found: format!("{:?}", hkdf.key_length),
                    expected: format!("{AES128_KEY_LEN} (bytes, for kw-aes128)"),
                });
            }
            Ok(())
        }
        (KeyEncryption::Transport { algorithm, .. }, KeyTransportMethod::X25519HkdfKwAes128) => {
            Err(not_allowed(KEY_METHOD, algorithm, KeyEncryptionAlgorithm::KwAes128))
        }
        (KeyEncryption::Agreement { wrap, .. }, KeyTransportMethod::RsaOaepSha256) => {
            Err(not_allowed(KEY_METHOD, wrap, KeyEncryptionAlgorithm::RsaOaep))
        }
    }
}

/// Recovers the content key of `key` (already checked with [`check_policy`]) with this access point's key.
pub fn unwrap_content_key(key: &EncryptedKey, recipient: &RecipientKey) -> Result<ContentKey, EncryptionError> {
    match &key.method {
        KeyEncryption::Transport {
            recipient: reference, ..
        } => {
            if reference.as_ref().is_some_and(|r| !r.names(&recipient.certificate)) {
                return Err(EncryptionError::NotForThisRecipient);
            }
            rsa_oaep_decrypt(&key.cipher_value, &recipient.private_key)
        }
        KeyEncryption::Agreement { agreement, .. } => {
            if agreement
                .recipient
                .as_ref()
                .is_some_and(|r| !r.names(&recipient.certificate))
            {
                return Err(EncryptionError::NotForThisRecipient);
            }
            let hkdf = agreement
                .hkdf
                .as_ref()
                .ok_or_else(|| EncryptionError::Malformed("no HKDFParams".into()))?;
            let wrap = AgreedKeyWrap {
                ephemeral_public_key_der: agreement.originator_public_key_der.clone(),
                hkdf_salt: hkdf.salt.clone(),
                hkdf_info: hkdf.info.clone(),
                wrapped_key: key.cipher_value.clone(),
            };
            x25519_unwrap(&wrap, &recipient.private_key)
        }
    }
}

/// Decrypts the attachments of one received message.
#[derive(Debug)]
pub struct MessageDecryptor {
    key: Option<ContentKey>,
    by_content_id: HashMap<String, EncryptedData>,
    max_attachment_bytes: u64,
}

impl MessageDecryptor {
    /// Parses the encryption elements under `security`, checks them against `policy` for a message whose MIME
    /// attachments have `attachment_content_ids`, and recovers the content key.
    pub fn open(
        doc: &Document,
        security: NodeId,
        attachment_content_ids: &[&str],
        policy: &DecryptionPolicy,
        recipient: &RecipientKey,
    ) -> Result<Self, EncryptionError> {
        let header = parse_encryption_header(doc, security)?;
        Self::from_header(header, attachment_content_ids, policy, recipient)
    }

    /// As [`MessageDecryptor::open`], from an already parsed header.
    pub fn from_header(
        header: EncryptionHeader,
        attachment_content_ids: &[&str],
        policy: &DecryptionPolicy,
        recipient: &RecipientKey,
    ) -> Result<Self, EncryptionError> {
        check_policy(&header, policy, attachment_content_ids)?;
        let key = match (&header.encrypted_key, header.encrypted_data.is_empty()) {
            (Some(key), false) => Some(unwrap_content_key(key, recipient)?),
            _ => None,
        };
        let by_content_id = header
            .encrypted_data
            .into_iter()
            .map(|d| (d.content_id.clone(), d))
            .collect();
        Ok(MessageDecryptor {
            key,
            by_content_id,
            max_attachment_bytes: policy.max_attachment_bytes,
        })
    }

    /// The EncryptedData of attachment `content_id` (its `mime_type` is the part's original Content-Type).
    pub fn encrypted_data(&self, content_id: &str) -> Option<&EncryptedData> {
        self.by_content_id.get(content_id)
    }

    /// Decrypts the body of the MIME part `content_id` into a spool file in `spool_dir`, released only after the
    /// GCM tag verified.
    pub async fn decrypt_attachment<R: AsyncRead + Unpin>(
        &self,
        content_id: &str,
        encrypted_part: R,
        spool_dir: &Path,
    ) -> Result<DecryptedAttachment, EncryptionError> {
        let (Some(key), Some(_)) = (&self.key, self.by_content_id.get(content_id)) else {
            return Err(EncryptionError::AttachmentNotEncrypted {
                content_id: content_id.to_string(),
            });
        };
        decrypt_to_spool(key, content_id, encrypted_part, spool_dir, self.max_attachment_bytes).await
    }

    /// As [`MessageDecryptor::decrypt_attachment`] for a part held in memory: the plaintext and its SHA-256, returned
    /// only after the GCM tag verified.
    pub fn decrypt_attachment_in_memory(
        &self,
        content_id: &str,
        encrypted_part: &[u8],
    ) -> Result<(Vec<u8>, [u8; 32]), EncryptionError> {
        let (Some(key), Some(_)) = (&self.key, self.by_content_id.get(content_id)) else {
            return Err(EncryptionError::AttachmentNotEncrypted {
                content_id: content_id.to_string(),
            });
        };
        decrypt_in_memory(key, content_id, encrypted_part, self.max_attachment_bytes)
    }
}
