//! Keys, certificates and trust stores: loading, chain and CRL validation, and the development PKI that `sdk-ap init`
//! writes.
//!
//! - [`keys`]: reading PEM/DER certificates, private keys and CRLs; [`KeyPair`] (key + certificate + chain) and
//!   [`NodeIdentity`] (every key pair this access point holds).
//! - [`certinfo`]: the facts an operator or a log line needs about a certificate ([`CertificateInfo`]).
//! - [`trust`]: [`TrustStore`] with chain, CRL, validity, key-usage and CN checks ([`TrustStore::verify`]).
//! - [`cache`]: parsed certificates by DER, and the chains a trust store verified (bounded, time-limited).
//! - [`dev`]: the development PKI (root CA, AP message certificate, Ed25519 / X25519 certificates, TLS certificate,
//!   CRL) and a fast throw-away variant for tests.

pub mod cache;
pub mod certinfo;
pub mod dev;
pub mod keys;
pub mod time;
pub mod trust;

pub use certinfo::CertificateInfo;
pub use keys::{
    load_certificate, load_certificates, load_crls, load_private_key, KeyAlgorithm, KeyPair, NodeIdentity, PkiError,
};
pub use trust::{Purpose, TrustError, TrustStore, VerifiedCertificate};
