//! The sending side: one fresh content key per message, protected for the receiver as the P-Mode's profile says,
//! and every attachment encrypted with it while it streams.
//!
//! ```text
//! let mut enc = MessageEncryptor::new(&EncryptionProfile::edelivery_1_15(), &receiver_cert)?;
//! let part = enc.encrypt_attachment("payload@x", "application/xml", file_in, part_out).await?;
//! // part.plaintext_sha256 feeds the signature's attachment reference;
//! // the MIME part is written with Content-Type ENCRYPTED_PART_CONTENT_TYPE;
//! let xml = enc.security_header_xml(); // goes into wsse:Security
//! ```

use crate::wss::algorithms::{
    uri, ContentEncryptionAlgorithm, HkdfPrf, KeyAgreementAlgorithm, KeyDerivationAlgorithm, KeyEncryptionAlgorithm,
    KeyTransportMethod, MaskGenerationFunction, OaepDigestAlgorithm, AES128_KEY_LEN,
};
use crate::wss::content::{encrypt_blocking, encrypt_stream, EncryptedStream};
use crate::wss::error::EncryptionError;
use crate::wss::keytransport::{rsa_oaep_encrypt, x25519_wrap, ContentKey};
use crate::wss::xenc::{
    render_binary_security_token, render_encrypted_data, render_encrypted_key, EncryptedData, EncryptedKey,
    HkdfParameters, KeyAgreement, KeyEncryption, KeyReferenceStyle, OaepParameters, TokenReference,
};
use openssl::x509::X509Ref;
use tokio::io::{AsyncRead, AsyncWrite};

/// The Content-Type of an encrypted MIME part (the original type moves to `EncryptedData/@MimeType`).
pub const ENCRYPTED_PART_CONTENT_TYPE: &str = "application/octet-stream";

/// The sender's encryption settings, from the P-Mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionProfile {
    pub key_transport: KeyTransportMethod,
    /// How the receiver's certificate is referenced.
    pub key_reference: KeyReferenceStyle,
    /// The HKDF info string (AS4 2.0 only); carried in the message, so the receiver needs no setting for it.
    pub hkdf_info: Vec<u8>,
}

impl EncryptionProfile {
    /// eDelivery AS4 1.15 and the SDK profile: RSA-OAEP (MGF1-SHA256, SHA-256), receiver certificate in a
    /// BinarySecurityToken.
    pub fn edelivery_1_15() -> Self {
        EncryptionProfile {
            key_transport: KeyTransportMethod::RsaOaepSha256,
            key_reference: KeyReferenceStyle::BinarySecurityToken,
            hkdf_info: Vec::new(),
        }
    }

    /// eDelivery AS4 2.0: X25519 + HKDF-SHA256 + kw-aes128, receiver certificate by issuer and serial.
    pub fn edelivery_2_0() -> Self {
        EncryptionProfile {
            key_transport: KeyTransportMethod::X25519HkdfKwAes128,
            key_reference: KeyReferenceStyle::IssuerSerial,
            hkdf_info: b"eDelivery AS4 2.0".to_vec(),
        }
    }
}

/// One attachment after encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedAttachment {
    pub content_id: String,
    /// The wsu-free `Id` of its `xenc:EncryptedData`.
    pub encrypted_data_id: String,
    pub plaintext_len: u64,
    /// Length of the encrypted part (IV + ciphertext + tag).
    pub encrypted_len: u64,
    /// SHA-256 of the plaintext (what the Attachment-Content-Signature-Transform digests).
    pub plaintext_sha256: [u8; 32],
    /// The Content-Type to write on the encrypted MIME part.
    pub content_type: &'static str,
}

/// Encrypts the attachments of one message for one receiver.
#[derive(Debug)]
pub struct MessageEncryptor {
    key: ContentKey,
    encrypted_key: EncryptedKey,
    receiver_token: Option<(String, Vec<u8>)>,
    encrypted_data: Vec<EncryptedData>,
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

impl MessageEncryptor {
    /// Generates the message's content key and protects it for `receiver` (whose certificate holds an RSA key for
    /// AS4 1.15 or an X25519 key for AS4 2.0).
    pub fn new(profile: &EncryptionProfile, receiver: &X509Ref) -> Result<Self, EncryptionError> {
        let key = ContentKey::generate()?;
        let public_key = receiver.public_key()?;
        let token_id = new_id("X509");
        let recipient = TokenReference::to_certificate(receiver, profile.key_reference, &token_id)?;
        let receiver_token = (profile.key_reference == KeyReferenceStyle::BinarySecurityToken)
            .then(|| receiver.to_der().map(|der| (token_id, der)))
            .transpose()?;
        let (method, cipher_value) = match profile.key_transport {
            KeyTransportMethod::RsaOaepSha256 => (
                KeyEncryption::Transport {
                    algorithm: KeyEncryptionAlgorithm::RsaOaep,
                    oaep: OaepParameters {
                        digest: OaepDigestAlgorithm::Sha256,
                        mgf: MaskGenerationFunction::Mgf1Sha256,
                    },
                    recipient: Some(recipient),
                },
                rsa_oaep_encrypt(&key, &public_key)?,
            ),
            KeyTransportMethod::X25519HkdfKwAes128 => {
                let wrap = x25519_wrap(&key, &public_key, &profile.hkdf_info)?;
                (
                    KeyEncryption::Agreement {
                        wrap: KeyEncryptionAlgorithm::KwAes128,
                        agreement: KeyAgreement {
                            algorithm: KeyAgreementAlgorithm::X25519,
                            derivation: KeyDerivationAlgorithm::Hkdf,
                            hkdf: Some(HkdfParameters {
                                prf: HkdfPrf::HmacSha256,
                                salt: wrap.hkdf_salt,
                                info: wrap.hkdf_info,
                                key_length: Some(AES128_KEY_LEN as u64),
                            }),
                            originator_public_key_der: wrap.ephemeral_public_key_der,
                            recipient: Some(recipient),
                        },
                    },
                    wrap.wrapped_key,
                )
            }
        };
        Ok(MessageEncryptor {
            key,
            encrypted_key: EncryptedKey {
                id: new_id("EK"),
                method,
                cipher_value,
                data_references: Vec::new(),
            },
            receiver_token,
            encrypted_data: Vec::new(),
        })
    }

    /// Encrypts one attachment from `plaintext` into `encrypted_part` (the body of the MIME part) and records its
    /// `xenc:EncryptedData`. `mime_type` is the part's original Content-Type.
    pub async fn encrypt_attachment<R, W>(
        &mut self,
        content_id: &str,
        mime_type: &str,
        plaintext: R,
        encrypted_part: W,
    ) -> Result<EncryptedAttachment, EncryptionError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        if self.encrypted_data.iter().any(|d| d.content_id == content_id) {
            return Err(EncryptionError::Duplicate(format!("attachment {content_id}")));
        }
        let EncryptedStream {
            plaintext_len,
            encrypted_len,
            plaintext_sha256,
        } = encrypt_stream(&self.key, plaintext, encrypted_part)
            .await
            .map_err(|e| match e {
                EncryptionError::AttachmentTooLarge { max, .. } => EncryptionError::AttachmentTooLarge {
                    content_id: content_id.to_string(),
                    max,
                },
                e => e,
            })?;
        let id = self.record_encrypted_data(content_id, mime_type);
        Ok(EncryptedAttachment {
            content_id: content_id.to_string(),
            encrypted_data_id: id,
            plaintext_len,
            encrypted_len,
            plaintext_sha256,
            content_type: ENCRYPTED_PART_CONTENT_TYPE,
        })
    }

    /// Records the `xenc:EncryptedData` of an attachment that will be encrypted later, once the message around it
    /// is written (the signature, which precedes the part, needs the plaintext digest before any ciphertext is
    /// written): the returned [`DeferredEncryption`] encrypts it with this message's key, e.g. straight into the
    /// MIME body. `mime_type` is the part's original Content-Type.
    pub fn defer_attachment(
        &mut self,
        content_id: &str,
        mime_type: &str,
    ) -> Result<DeferredEncryption, EncryptionError> {
        if self.encrypted_data.iter().any(|d| d.content_id == content_id) {
            return Err(EncryptionError::Duplicate(format!("attachment {content_id}")));
        }
        self.record_encrypted_data(content_id, mime_type);
        Ok(DeferredEncryption {
            key: ContentKey::from_bytes(self.key.as_bytes())?,
            content_id: content_id.to_string(),
        })
    }

    /// Adds the `xenc:EncryptedData` of one attachment (and its reference from the EncryptedKey); returns its `Id`.
    fn record_encrypted_data(&mut self, content_id: &str, mime_type: &str) -> String {
        let id = new_id("ED");
        self.encrypted_key.data_references.push(id.clone());
        self.encrypted_data.push(EncryptedData {
            id: id.clone(),
            data_type: uri::ATTACHMENT_CONTENT_ONLY.to_string(),
            mime_type: Some(mime_type.to_string()),
            algorithm: ContentEncryptionAlgorithm::Aes128Gcm,
            content_id: content_id.to_string(),
            transforms: vec![uri::ATTACHMENT_CIPHERTEXT_TRANSFORM.to_string()],
            key_reference: Some(self.encrypted_key.id.clone()),
        });
        id
    }

    /// The `Id` of the message's `xenc:EncryptedKey`.
    pub fn encrypted_key_id(&self) -> &str {
        &self.encrypted_key.id
    }

    /// The EncryptedKey as typed value (for inspection and tests).
    pub fn encrypted_key(&self) -> &EncryptedKey {
        &self.encrypted_key
    }

    /// The EncryptedData elements recorded so far.
    pub fn encrypted_data(&self) -> &[EncryptedData] {
        &self.encrypted_data
    }

    /// The elements for the `wsse:Security` header, in order: the receiver's BinarySecurityToken (when referenced
    /// that way), the EncryptedKey, then one EncryptedData per attachment. Empty when no attachment was encrypted
    /// (nothing to protect, so no key is sent).
    pub fn security_header_xml(&self) -> String {
        if self.encrypted_data.is_empty() {
            return String::new();
        }
        let mut out = String::new();
        if let Some((id, der)) = &self.receiver_token {
            out.push_str(&render_binary_security_token(id, der));
        }
        out.push_str(&render_encrypted_key(&self.encrypted_key));
        for data in &self.encrypted_data {
            out.push_str(&render_encrypted_data(data));
        }
        out
    }
}

/// An attachment whose `xenc:EncryptedData` is already in the security header (see
/// [`MessageEncryptor::defer_attachment`]), to be encrypted with the message's key. Holds a copy of the key (cleared
/// when dropped).
pub struct DeferredEncryption {
    key: ContentKey,
    content_id: String,
}

impl std::fmt::Debug for DeferredEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeferredEncryption")
            .field("content_id", &self.content_id)
            .finish()
    }
}

impl DeferredEncryption {
    /// Encrypts `plaintext` into `encrypted_part` as IV || ciphertext || tag with blocking I/O (call it on a blocking
    /// thread); returns the plaintext length. The plaintext is not hashed here: the caller hashed it for the
    /// signature before and compares the length it hashed with the one returned.
    pub fn encrypt_blocking<R: std::io::Read, W: std::io::Write>(
        self,
        plaintext: R,
        encrypted_part: W,
    ) -> Result<u64, EncryptionError> {
        encrypt_blocking(&self.key, plaintext, encrypted_part).map_err(|e| match e {
            EncryptionError::AttachmentTooLarge { max, .. } => EncryptionError::AttachmentTooLarge {
                content_id: self.content_id.clone(),
                max,
            },
            e => e,
        })
    }
}
