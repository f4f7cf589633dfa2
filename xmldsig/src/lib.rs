//! `xmldsig` holds the XML security core that both the access point (WS-Security on AS4 messages) and the
//! discovery client (signed SMP answers) stand on: a hardened namespace-aware XML tree ([`dom`]) that refuses DTDs
//! and enforces size limits, Exclusive XML Canonicalisation 1.0 over that tree, and the XML-DSig reference and
//! signature-value core. It knows nothing of ebMS or SMP; policy (which algorithms, which parts must be covered)
//! belongs to the callers.

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
    sign_signed_info, signature_method_for_key, signature_xml, verify_signature, verify_signed_info, KeyInfo, Signature,
};
pub use signed_info::{Reference, SignedInfo, Transform};
