//! `xmldsig` holds the XML security core that both the access point (WS-Security on AS4 messages) and the
//! discovery client (signed SMP answers) stand on: a hardened namespace-aware XML tree ([`dom`]) that refuses DTDs
//! and enforces size limits, Exclusive XML Canonicalisation 1.0 over that tree, and the XML-DSig reference and
//! signature-value core. It knows nothing of ebMS or SMP; policy (which algorithms, which parts must be covered)
//! belongs to the callers.

pub mod dom;
pub mod c14n;
