//! WS-Security for AS4: the `wsse:Security` header of eDelivery AS4 1.15 (the SDK profile) and eDelivery AS4 2.0.
//!
//! Most callers need only [`message`]: [`message::seal`] (compress → sign → encrypt → MIME body spooled to disk),
//! [`message::open`] (MIME → parse → P-Mode → verify → decrypt → digest check → decompress), and the signed
//! signals of [`receipt`] (NRR receipts, Error signals, [`receipt::verify_receipt`]). Every refusal on the
//! receiving side is an [`message::OpenError`] carrying the ebMS error to answer with.
//!
//! Signature half (WS-Security 1.1.1, SwA Profile 1.1): [`sign`] writes the `wsse:Security` header (Timestamp,
//! encryption elements, the signer's BinarySecurityToken, a `ds:Signature` over `eb:Messaging`, the Body and every
//! attachment); [`verify`] checks it under a strict [`verify::VerificationPolicy`] from the P-Mode (algorithms,
//! coverage, unique Ids, signature-wrapping defence by node identity with the ebMS parser, certificate trust,
//! validity, usage, CRL, CN = From PartyId for SDK); [`token`] resolves the signer's certificate (BST reference,
//! or issuer-serial / SKI against a BST of the message); [`timestamp`] renders and checks `wsu:Timestamp`.
//! The XML-DSig core (exc-c14n, references, SignedInfo) is the `xmldsig` crate.
//!
//! Encryption half (SwA Profile 1.1 §5.5, XML Encryption 1.1):
//! streaming AES-128-GCM encryption of attachments ([`content`]), key transport with RSA-OAEP (AS4 1.15) or
//! X25519 key agreement + HKDF + AES key wrap (AS4 2.0) ([`keytransport`]), the `xenc:EncryptedKey` /
//! `xenc:EncryptedData` elements rendered and parsed back into typed values ([`xenc`], [`algorithms`]), the
//! sending side ([`encrypt`]) and the receiving side with its policy check ([`decrypt`]); every failure is a typed
//! [`error::EncryptionError`] that maps to EBMS:0102 or EBMS:0103. [`pmode_policy`] turns a P-Mode's encryption
//! settings into the sender profile and receiver policy.
//!
//! Order on send is compress → sign → encrypt, so the signature layer digests the (compressed) plaintext
//! attachment: both [`encrypt::EncryptedAttachment`] and [`content::DecryptedAttachment`] expose its SHA-256,
//! computed while the part streams.

pub mod algorithms;
pub mod content;
pub mod decrypt;
pub mod encrypt;
pub mod error;
pub mod keytransport;
pub mod message;
pub mod pmode_policy;
pub mod receipt;
pub mod sign;
pub mod spool_file;
pub mod timestamp;
pub mod token;
pub mod verify;
pub mod xenc;
