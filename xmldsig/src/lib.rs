//! `xmldsig` holds the XML security core that both the access point (WS-Security on AS4 messages) and the
//! discovery client (signed SMP answers) stand on. It knows nothing of ebMS or SMP: which parts must be covered and
//! which certificates are trusted belong to the callers.
//!
//! - [`dom`]: a hardened namespace-aware XML tree that refuses DTDs and enforces size limits. Every XML consumer
//!   parses with it, so the element a signature covers is the very element the handler reads.
//! - [`c14n`]: Exclusive XML Canonicalisation 1.0 (with InclusiveNamespaces PrefixList) and Canonical XML 1.0,
//!   without comments, over a subtree or the whole document, optionally minus an excluded subtree, streamed into
//!   any [`std::io::Write`] (e.g. an [`openssl::hash::Hasher`]).
//! - [`signed_info`]: the `ds:SignedInfo` / `ds:Reference` / `ds:Transform` model, parsed from the tree and
//!   rendered as XML text.
//! - [`reference`](mod@reference): resolving `""`, `#id` (by the Id attributes the caller names; a duplicate Id is an error) and
//!   external URIs (through an [`ExternalResolver`]), applying transforms and digesting.
//! - [`signature`]: parsing `ds:Signature` and its KeyInfo/X509Data, signing and verifying the canonicalised
//!   SignedInfo (rsa-sha256, eddsa-ed25519), rendering a Signature element.
//! - [`enveloped`]: whole-document enveloped signatures as SMP answers carry them ([`sign_enveloped`],
//!   [`verify_enveloped`]).
//! - [`policy`]: the accepted algorithms; anything else is refused with a typed [`DsigError`] naming its URI.
//!
//! Verifying a WS-Security signature with this crate: parse the `ds:Signature` with [`Signature::parse`], find the
//! signer's key (from the SecurityTokenReference under [`Signature::key_info_node`]), then call
//! [`verify_signature`] with a [`ReferenceContext`] naming `wsu:Id` and a resolver for `cid:` attachments; it
//! returns, per reference, the node that was digested, which the caller compares with the elements it reads.

pub mod algorithms;
pub mod c14n;
pub mod dom;
pub mod enveloped;
pub mod error;
pub mod policy;
pub mod reference;
pub mod signature;
pub mod signed_info;

pub use algorithms::{C14nAlgorithm, DigestMethod, SignatureMethod};
pub use c14n::{canonicalize, canonicalize_to_vec, C14nMode, NodeSet};
pub use enveloped::{
    find_enveloped_signature, sign_enveloped, verify_enveloped, EnvelopedSignOptions, VerifiedSignature,
};
pub use error::DsigError;
pub use policy::Policy;
pub use reference::{
    build_reference, check_unique_ids, digest_reference, find_by_id, verify_references, ExternalResolver, IdAttribute,
    ReferenceContext, VerifiedReference,
};
pub use signature::{
    sign_signed_info, sign_signed_info_detached, signature_method_for_key, signature_xml, verify_signature,
    verify_signed_info, KeyInfo, Signature,
};
pub use signed_info::{Reference, SignedInfo, Transform};
