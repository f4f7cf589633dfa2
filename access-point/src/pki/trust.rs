//! Trust stores: does a certificate chain to one of our anchors, is it valid at a given time, not revoked, fit for the
//! job, and issued to the party we expect?
//!
//! Chain building, signatures and revocation are OpenSSL's (`X509Store`, with `CRL_CHECK | CRL_CHECK_ALL` whenever
//! CRLs are configured, so that a CA without a CRL fails closed). Validity, key usage and the expected common name
//! are also checked here, so that each failure has its own typed error.

use std::ffi::{c_int, c_void};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use foreign_types::ForeignTypeRef;
use openssl::error::ErrorStack;
use openssl::stack::Stack;
use openssl::x509::store::{X509StoreBuilder, X509StoreBuilderRef};
use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
use openssl::x509::{X509Crl, X509Ref, X509StoreContext, X509VerifyResult, X509};
use time::OffsetDateTime;

use super::cache::VerifiedChainCache;
use super::certinfo::{name_to_string, CertificateInfo};
use super::keys::{load_certificates_from, load_crls_from, PkiError};
use super::time::{asn1_to_datetime, unix_seconds};
use openssl::x509::{X509ExtendedKeyUsage, X509KeyUsage};

/// Longest chain we build (leaf, intermediates, anchor). SDK chains are 3 long; SITHS 3.
pub const MAX_CHAIN_DEPTH: i32 = 6;

/// What the certificate is going to be used for; decides the key-usage check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Signing messages, receipts or SMP answers: keyUsage digitalSignature or nonRepudiation.
    MessageSigning,
    /// Encrypting a content key to the certificate's key (RSA-OAEP key transport): keyUsage keyEncipherment.
    KeyTransport,
    /// Key agreement (X25519 / ECDH, eDelivery AS4 2.0): keyUsage keyAgreement.
    KeyAgreement,
    /// A TLS server we connect to: extendedKeyUsage serverAuth (when present), keyUsage fit for TLS.
    TlsServer,
    /// A TLS client connecting to us: extendedKeyUsage clientAuth (when present), keyUsage fit for TLS.
    TlsClient,
    /// Chain, validity and revocation only, no usage check: for CA certificates and diagnostics, never for a
    /// certificate whose key is about to be used.
    ChainOnly,
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Purpose::MessageSigning => "message signing (digitalSignature or nonRepudiation)",
            Purpose::KeyTransport => "key transport (keyEncipherment)",
            Purpose::KeyAgreement => "key agreement (keyAgreement)",
            Purpose::TlsServer => "TLS server (serverAuth)",
            Purpose::TlsClient => "TLS client (clientAuth)",
            Purpose::ChainOnly => "chain only",
        })
    }
}

/// Why a certificate is not accepted. Each check has its own variant so that callers map them to the right ebMS
/// error and operators see the real cause.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TrustError {
    /// No path to a configured anchor: another CA, another environment (PROD vs QA vs TEST), a broken signature.
    #[error("certificate {subject} is not trusted: {reason}")]
    Untrusted { subject: String, reason: String },
    #[error("certificate {subject} expired at {not_after} (checked at {at})")]
    Expired {
        subject: String,
        not_after: OffsetDateTime,
        at: OffsetDateTime,
    },
    #[error("certificate {subject} is not valid before {not_before} (checked at {at})")]
    NotYetValid {
        subject: String,
        not_before: OffsetDateTime,
        at: OffsetDateTime,
    },
    #[error("certificate {subject} (serial {serial_hex}) is revoked")]
    Revoked { subject: String, serial_hex: String },
    #[error("certificate {subject} may not be used for {purpose}")]
    WrongKeyUsage { subject: String, purpose: Purpose },
    #[error("certificate common name {found:?} does not match the expected {expected:?}")]
    CnMismatch { expected: String, found: Option<String> },
    /// CRL checking is on and no CRL from the issuer of `subject` is configured.
    #[error("no CRL configured for the issuer of {subject}; revocation cannot be checked")]
    CrlMissing { subject: String },
    /// The CRL for `subject` is past its nextUpdate (or not yet valid) at the time of checking.
    #[error("the CRL covering {subject} is stale or not yet valid: {reason}")]
    CrlStale { subject: String, reason: String },
    /// The CRL is present but unusable (bad signature, wrong scope, unknown critical extension).
    #[error("the CRL covering {subject} is invalid: {reason}")]
    CrlInvalid { subject: String, reason: String },
    #[error("certificate verification failed inside OpenSSL: {0}")]
    OpenSsl(String),
}

impl From<ErrorStack> for TrustError {
    fn from(e: ErrorStack) -> Self {
        TrustError::OpenSsl(e.to_string())
    }
}

/// A certificate that passed every check, with the path OpenSSL built.
#[derive(Debug, Clone)]
pub struct VerifiedCertificate {
    pub info: CertificateInfo,
    /// Leaf first, anchor last.
    pub chain: Vec<X509>,
    /// Whether revocation was checked against CRLs (false when the store has none).
    pub revocation_checked: bool,
}

impl VerifiedCertificate {
    pub fn certificate(&self) -> &X509 {
        &self.chain[0]
    }
}

/// Anchors, optional intermediates and CRLs of one trust domain (message level, TLS, or SMP).
#[derive(Clone, Default)]
pub struct TrustStore {
    anchors: Vec<X509>,
    intermediates: Vec<X509>,
    /// Shared: X509Crl is not Clone, and CRLs can be large.
    crls: Vec<Arc<X509Crl>>,
    /// Chains this store verified (shared by clones; every change of intermediates or CRLs starts a new one).
    verified_chains: Arc<VerifiedChainCache>,
}

impl fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |certs: &[X509]| {
            certs
                .iter()
                .map(|c| name_to_string(c.subject_name()))
                .collect::<Vec<_>>()
        };
        f.debug_struct("TrustStore")
            .field("anchors", &names(&self.anchors))
            .field("intermediates", &names(&self.intermediates))
            .field("crls", &self.crls.len())
            .finish()
    }
}

impl TrustStore {
    /// A store trusting exactly these anchors. An anchor may be a root or an intermediate CA: whatever is
    /// configured is trusted (OpenSSL's partial-chain mode), so operators can pin an environment's issuing CA.
    pub fn new(anchors: Vec<X509>) -> TrustStore {
        TrustStore {
            anchors,
            intermediates: Vec::new(),
            crls: Vec::new(),
            verified_chains: Arc::default(),
        }
    }

    /// Intermediate CAs offered for path building (not trusted by themselves).
    pub fn with_intermediates(mut self, intermediates: Vec<X509>) -> TrustStore {
        self.intermediates = intermediates;
        self.verified_chains = Arc::default();
        self
    }

    /// CRLs; once any CRL is configured every certificate of every chain must be covered by a current CRL.
    pub fn with_crls(mut self, crls: Vec<X509Crl>) -> TrustStore {
        self.crls = crls.into_iter().map(Arc::new).collect();
        self.verified_chains = Arc::default();
        self
    }

    /// Loads a store from certificate files (PEM or DER; several certificates per PEM file allowed) and CRL files;
    /// a directory stands for every certificate (or CRL) file in it.
    pub fn load(anchors: &[PathBuf], intermediates: &[PathBuf], crls: &[PathBuf]) -> Result<TrustStore, PkiError> {
        let mut store = TrustStore::default();
        for p in anchors {
            store.anchors.extend(load_certificates_from(p)?);
        }
        for p in intermediates {
            store.intermediates.extend(load_certificates_from(p)?);
        }
        for p in crls {
            store.crls.extend(load_crls_from(p)?.into_iter().map(Arc::new));
        }
        Ok(store)
    }

    pub fn anchors(&self) -> &[X509] {
        &self.anchors
    }

    pub fn intermediates(&self) -> &[X509] {
        &self.intermediates
    }

    pub fn crls(&self) -> &[Arc<X509Crl>] {
        &self.crls
    }

    /// DER of every anchor (for rustls' `RootCertStore`).
    pub fn anchors_der(&self) -> Result<Vec<Vec<u8>>, ErrorStack> {
        self.anchors.iter().map(|c| c.to_der()).collect()
    }

    /// DER of every CRL (for rustls' client-certificate verifier).
    pub fn crls_der(&self) -> Result<Vec<Vec<u8>>, ErrorStack> {
        self.crls.iter().map(|c| c.to_der()).collect()
    }

    /// Whether revocation is checked (any CRL configured).
    pub fn checks_revocation(&self) -> bool {
        !self.crls.is_empty()
    }

    /// Replaces the CRL issued by the same CA (by issuer name), or adds it: for periodic CRL refresh.
    pub fn replace_crl(&mut self, crl: X509Crl) -> Result<(), ErrorStack> {
        let mut kept = Vec::with_capacity(self.crls.len() + 1);
        for existing in self.crls.drain(..) {
            if existing.issuer_name().try_cmp(crl.issuer_name())? != std::cmp::Ordering::Equal {
                kept.push(existing);
            }
        }
        kept.push(Arc::new(crl));
        self.crls = kept;
        self.verified_chains = Arc::default();
        Ok(())
    }

    /// Checks `cert` (with the chain the peer sent) for `purpose` at time `at`.
    pub fn verify(
        &self,
        cert: &X509Ref,
        untrusted_chain: &[X509],
        purpose: Purpose,
        at: OffsetDateTime,
    ) -> Result<VerifiedCertificate, TrustError> {
        let chain = self.build_chain(cert, untrusted_chain, at)?;
        let info = CertificateInfo::of(cert)?;
        check_validity(&info, at)?;
        check_usage(&info, purpose)?;
        Ok(VerifiedCertificate {
            info,
            chain,
            revocation_checked: self.checks_revocation(),
        })
    }

    /// [`TrustStore::verify`] plus: the subject CN must equal `expected_cn` (the sender's PartyId in SDK).
    pub fn verify_expecting_cn(
        &self,
        cert: &X509Ref,
        untrusted_chain: &[X509],
        purpose: Purpose,
        at: OffsetDateTime,
        expected_cn: &str,
    ) -> Result<VerifiedCertificate, TrustError> {
        let verified = self.verify(cert, untrusted_chain, purpose, at)?;
        if verified.info.subject_cn.as_deref() != Some(expected_cn) {
            return Err(TrustError::CnMismatch {
                expected: expected_cn.to_string(),
                found: verified.info.subject_cn.clone(),
            });
        }
        Ok(verified)
    }

    /// Number of verified chains this store currently reuses (see [`super::cache::VerifiedChainCache`]).
    pub fn cached_chains(&self) -> usize {
        self.verified_chains.len()
    }

    /// [`TrustStore::build_chain_uncached`], or the chain it returned earlier for the same certificates when every
    /// certificate of that chain and every CRL of this store is still valid at `at`.
    fn build_chain(&self, cert: &X509Ref, untrusted: &[X509], at: OffsetDateTime) -> Result<Vec<X509>, TrustError> {
        let key = VerifiedChainCache::key(cert, untrusted)?;
        if let Some(chain) = self.verified_chains.get(&key, at) {
            return Ok(chain);
        }
        let chain = self.build_chain_uncached(cert, untrusted, at)?;
        if let Some(window) = self.validity_window(&chain)? {
            self.verified_chains.insert(key, chain.clone(), window);
        }
        Ok(chain)
    }

    /// The open interval of times in which every certificate of `chain` and every CRL of this store is valid;
    /// `None` (do not cache) when a CRL has no nextUpdate.
    fn validity_window(&self, chain: &[X509]) -> Result<Option<(OffsetDateTime, OffsetDateTime)>, ErrorStack> {
        let (mut after, mut before) = (
            OffsetDateTime::UNIX_EPOCH,
            OffsetDateTime::now_utc() + time::Duration::days(36_500),
        );
        for c in chain {
            after = after.max(asn1_to_datetime(c.not_before())?);
            before = before.min(asn1_to_datetime(c.not_after())?);
        }
        for crl in &self.crls {
            let Some(next_update) = crl.next_update() else {
                return Ok(None);
            };
            after = after.max(asn1_to_datetime(crl.last_update())?);
            before = before.min(asn1_to_datetime(next_update)?);
        }
        Ok((after < before).then_some((after, before)))
    }

    /// Runs OpenSSL's path building with signatures, validity of every certificate at `at`, and CRLs.
    fn build_chain_uncached(
        &self,
        cert: &X509Ref,
        untrusted: &[X509],
        at: OffsetDateTime,
    ) -> Result<Vec<X509>, TrustError> {
        let mut builder = X509StoreBuilder::new()?;
        for anchor in &self.anchors {
            builder.add_cert(anchor.clone())?;
        }
        for crl in &self.crls {
            add_crl(&mut builder, crl)?;
        }
        let mut flags = X509VerifyFlags::PARTIAL_CHAIN;
        if self.checks_revocation() {
            flags |= X509VerifyFlags::CRL_CHECK | X509VerifyFlags::CRL_CHECK_ALL;
        }
        let mut param = X509VerifyParam::new()?;
        param.set_flags(flags)?;
        param.set_time(unix_seconds(at) as _);
        param.set_depth(MAX_CHAIN_DEPTH);
        builder.set_param(&param)?;
        let store = builder.build();

        let mut stack = Stack::new()?;
        for c in untrusted.iter().chain(self.intermediates.iter()) {
            stack.push(c.clone())?;
        }
        let mut ctx = X509StoreContext::new()?;
        let outcome = ctx.init(&store, cert, &stack, |ctx| {
            if ctx.verify_cert()? {
                let chain = ctx
                    .chain()
                    .map(|s| s.iter().map(|c| c.to_owned()).collect())
                    .unwrap_or_default();
                Ok(Ok(chain))
            } else {
                let failing = ctx.current_cert().map(|c| c.to_owned());
                Ok(Err((ctx.error(), failing)))
            }
        })?;
        match outcome {
            Ok(chain) => Ok(chain),
            Err((result, failing)) => Err(map_verify_error(result, failing.as_deref().unwrap_or(cert), at)),
        }
    }
}

// libcrypto's `int X509_STORE_add_crl(X509_STORE *xs, X509_CRL *x)`, which neither the openssl crate nor
// openssl-sys declares. libcrypto is linked through openssl-sys.
extern "C" {
    fn X509_STORE_add_crl(store: *mut c_void, crl: *mut c_void) -> c_int;
}

/// Adds an in-memory CRL to a store under construction. The store takes its own reference to the CRL.
fn add_crl(builder: &mut X509StoreBuilderRef, crl: &X509Crl) -> Result<(), ErrorStack> {
    // SAFETY: both pointers are valid, live objects of the declared C types for the duration of the call;
    // X509_STORE_add_crl up-refs the CRL and keeps no borrowed pointer.
    let rc = unsafe {
        X509_STORE_add_crl(
            builder.as_ptr().cast::<c_void>(),
            foreign_types::ForeignType::as_ptr(crl).cast::<c_void>(),
        )
    };
    if rc <= 0 {
        return Err(ErrorStack::get());
    }
    Ok(())
}

// OpenSSL's X509_V_ERR_* codes (stable across 1.1 and 3.x).
const ERR_UNABLE_TO_GET_CRL: i32 = 3;
const ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE: i32 = 5;
const ERR_CRL_SIGNATURE_FAILURE: i32 = 8;
const ERR_CERT_NOT_YET_VALID: i32 = 9;
const ERR_CERT_HAS_EXPIRED: i32 = 10;
const ERR_CRL_NOT_YET_VALID: i32 = 11;
const ERR_CRL_HAS_EXPIRED: i32 = 12;
const ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD: i32 = 15;
const ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD: i32 = 16;
const ERR_CERT_REVOKED: i32 = 23;
const ERR_INVALID_PURPOSE: i32 = 26;
const ERR_UNABLE_TO_GET_CRL_ISSUER: i32 = 33;
const ERR_KEYUSAGE_NO_CRL_SIGN: i32 = 35;
const ERR_UNHANDLED_CRITICAL_CRL_EXTENSION: i32 = 36;
const ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE: i32 = 39;
const ERR_DIFFERENT_CRL_SCOPE: i32 = 44;
const ERR_CRL_PATH_VALIDATION_ERROR: i32 = 54;

fn map_verify_error(result: X509VerifyResult, failing: &X509Ref, at: OffsetDateTime) -> TrustError {
    let subject = name_to_string(failing.subject_name());
    let reason = result.error_string().to_string();
    match result.as_raw() {
        ERR_CERT_HAS_EXPIRED => TrustError::Expired {
            subject,
            not_after: asn1_to_datetime(failing.not_after()).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            at,
        },
        ERR_CERT_NOT_YET_VALID => TrustError::NotYetValid {
            subject,
            not_before: asn1_to_datetime(failing.not_before()).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            at,
        },
        ERR_CERT_REVOKED => TrustError::Revoked {
            subject,
            serial_hex: failing
                .serial_number()
                .to_bn()
                .and_then(|bn| bn.to_hex_str().map(|s| s.to_string()))
                .unwrap_or_default(),
        },
        ERR_UNABLE_TO_GET_CRL => TrustError::CrlMissing { subject },
        ERR_CRL_HAS_EXPIRED | ERR_CRL_NOT_YET_VALID => TrustError::CrlStale { subject, reason },
        ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE
        | ERR_CRL_SIGNATURE_FAILURE
        | ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD
        | ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD
        | ERR_UNABLE_TO_GET_CRL_ISSUER
        | ERR_KEYUSAGE_NO_CRL_SIGN
        | ERR_UNHANDLED_CRITICAL_CRL_EXTENSION
        | ERR_DIFFERENT_CRL_SCOPE
        | ERR_CRL_PATH_VALIDATION_ERROR => TrustError::CrlInvalid { subject, reason },
        ERR_INVALID_PURPOSE | ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE => TrustError::WrongKeyUsage {
            subject,
            purpose: Purpose::ChainOnly,
        },
        _ => TrustError::Untrusted { subject, reason },
    }
}

fn check_validity(info: &CertificateInfo, at: OffsetDateTime) -> Result<(), TrustError> {
    if at < info.not_before {
        return Err(TrustError::NotYetValid {
            subject: info.subject.clone(),
            not_before: info.not_before,
            at,
        });
    }
    if at > info.not_after {
        return Err(TrustError::Expired {
            subject: info.subject.clone(),
            not_after: info.not_after,
            at,
        });
    }
    Ok(())
}

/// Key usage for the purpose. A certificate without a KeyUsage (or ExtendedKeyUsage) extension is unrestricted in
/// that respect (RFC 5280 §4.2.1.3 / §4.2.1.12).
fn check_usage(info: &CertificateInfo, purpose: Purpose) -> Result<(), TrustError> {
    let ku_allows = |wanted: X509KeyUsage| info.key_usage.is_none_or(|ku| ku.intersects(wanted));
    let eku_allows = |wanted: X509ExtendedKeyUsage| {
        info.extended_key_usage
            .is_none_or(|eku| eku.intersects(wanted | X509ExtendedKeyUsage::ANYEKU))
    };
    let ok = match purpose {
        Purpose::MessageSigning => ku_allows(X509KeyUsage::DIGITAL_SIGNATURE | X509KeyUsage::NON_REPUDIATION),
        Purpose::KeyTransport => ku_allows(X509KeyUsage::KEY_ENCIPHERMENT),
        Purpose::KeyAgreement => ku_allows(X509KeyUsage::KEY_AGREEMENT),
        Purpose::TlsServer => {
            eku_allows(X509ExtendedKeyUsage::SSL_SERVER)
                && ku_allows(
                    X509KeyUsage::DIGITAL_SIGNATURE | X509KeyUsage::KEY_ENCIPHERMENT | X509KeyUsage::KEY_AGREEMENT,
                )
        }
        Purpose::TlsClient => {
            eku_allows(X509ExtendedKeyUsage::SSL_CLIENT)
                && ku_allows(X509KeyUsage::DIGITAL_SIGNATURE | X509KeyUsage::KEY_AGREEMENT)
        }
        Purpose::ChainOnly => true,
    };
    if ok {
        Ok(())
    } else {
        Err(TrustError::WrongKeyUsage {
            subject: info.subject.clone(),
            purpose,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::dev::DevPki;
    use time::Duration;

    fn crl_copy(crl: &X509Crl) -> X509Crl {
        X509Crl::from_der(&crl.to_der().unwrap()).unwrap()
    }

    #[test]
    fn a_verified_chain_is_reused_until_the_crl_changes() {
        let mut pki = DevPki::throwaway("AP0001-DEV").unwrap();
        let mut store = TrustStore::new(vec![pki.ca.certificate.clone()]).with_crls(vec![crl_copy(&pki.crl)]);
        let now = OffsetDateTime::now_utc();
        let cert = pki.message.certificate.clone();
        store.verify(&cert, &[], Purpose::MessageSigning, now).unwrap();
        assert_eq!(store.cached_chains(), 1);
        // A clone shares the chains verified so far.
        let clone = store.clone();
        clone.verify(&cert, &[], Purpose::MessageSigning, now).unwrap();
        assert_eq!(clone.cached_chains(), 1);
        // A refreshed CRL that revokes the certificate is checked at once, cache or not.
        pki.revoke(&cert).unwrap();
        store.replace_crl(crl_copy(&pki.crl)).unwrap();
        assert_eq!(store.cached_chains(), 0);
        assert!(matches!(
            store.verify(&cert, &[], Purpose::MessageSigning, now),
            Err(TrustError::Revoked { .. })
        ));
        assert_eq!(store.cached_chains(), 0, "failures are not cached");
    }

    #[test]
    fn a_cached_chain_is_not_used_outside_the_validity_of_its_certificates_and_crls() {
        let pki = DevPki::throwaway("AP0001-DEV").unwrap();
        let store = TrustStore::new(vec![pki.ca.certificate.clone()]).with_crls(vec![crl_copy(&pki.crl)]);
        let now = OffsetDateTime::now_utc();
        let cert = &pki.message.certificate;
        store.verify(cert, &[], Purpose::MessageSigning, now).unwrap();
        assert_eq!(store.cached_chains(), 1);
        let after_crl = asn1_to_datetime(pki.crl.next_update().unwrap()).unwrap() + Duration::minutes(1);
        assert!(matches!(
            store.verify(cert, &[], Purpose::MessageSigning, after_crl),
            Err(TrustError::CrlStale { .. }) | Err(TrustError::Expired { .. })
        ));
        let after_cert = asn1_to_datetime(cert.not_after()).unwrap() + Duration::minutes(1);
        assert!(store.verify(cert, &[], Purpose::MessageSigning, after_cert).is_err());
    }
}
