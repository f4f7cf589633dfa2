//! WS-Security for AS4: the `wsse:Security` header of eDelivery AS4 1.15 (the SDK profile) and eDelivery AS4 2.0.
//!
//! This module currently holds the encryption half (WS-Security SwA Profile 1.1 §5.5, XML Encryption 1.1):
//! streaming AES-128-GCM encryption of attachments ([`content`]), key transport with RSA-OAEP (AS4 1.15) or
//! X25519 key agreement + HKDF + AES key wrap (AS4 2.0) ([`keytransport`]), the `xenc:EncryptedKey` /
//! `xenc:EncryptedData` elements rendered and parsed back into typed values ([`xenc`], [`algorithms`]), the
//! sending side ([`encrypt`]) and the receiving side with its policy check ([`decrypt`]); every failure is a typed
//! [`error::EncryptionError`] that maps to EBMS:0102 or EBMS:0103.
//!
//! Order on send is compress → sign → encrypt, so the signature layer digests the plaintext attachment: both
//! [`encrypt::EncryptedAttachment`] and [`content::DecryptedAttachment`] expose the SHA-256 of the plaintext,
//! computed while the part streams.

pub mod algorithms;
pub mod content;
pub mod decrypt;
pub mod encrypt;
pub mod error;
pub mod keytransport;
pub mod message;
pub mod receipt;
pub mod sign;
pub mod timestamp;
pub mod token;
pub mod verify;
pub mod xenc;
