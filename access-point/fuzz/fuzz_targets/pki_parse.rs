//! Certificates and CRLs from peers (BinarySecurityToken, SMP, CRL distribution points): parsing, the facts we
//! extract, and trust verification of whatever parses never panic.
#![no_main]

use access_point::pki::keys::{certificates_from_bytes, crls_from_bytes};
use access_point::pki::{CertificateInfo, Purpose, TrustStore};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(certs) = certificates_from_bytes(data) {
        let store = TrustStore::new(certs.clone());
        for cert in &certs {
            if let Ok(info) = CertificateInfo::of(cert) {
                let _ = info.fingerprint_hex();
                let _ = info.days_to_expiry(time::OffsetDateTime::UNIX_EPOCH);
            }
            let _ = store.verify(cert, &certs, Purpose::MessageSigning, time::OffsetDateTime::now_utc());
        }
    }
    if let Ok(crls) = crls_from_bytes(data) {
        let _ = TrustStore::new(Vec::new()).with_crls(crls);
    }
});
