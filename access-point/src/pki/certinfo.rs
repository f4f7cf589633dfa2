//! The facts about a certificate that operators, logs and metrics need.

use std::fmt::Write as _;

use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::x509::{X509ExtendedKeyUsage, X509KeyUsage, X509NameRef, X509Ref};
use time::OffsetDateTime;

use super::keys::KeyAlgorithm;
use super::time::asn1_to_datetime;

/// A summary of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Subject as `C=SE, O=..., CN=...` (RFC 4514 order reversed, as OpenSSL prints it).
    pub subject: String,
    /// The subject's (last) common name; for an access point this is its party id.
    pub subject_cn: Option<String>,
    pub issuer: String,
    pub issuer_cn: Option<String>,
    /// Serial number, upper-case hex without separators.
    pub serial_hex: String,
    /// Subject key identifier bytes, when the extension is present.
    pub subject_key_id: Option<Vec<u8>>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// SHA-256 over the DER certificate.
    pub fingerprint_sha256: [u8; 32],
    pub key_algorithm: KeyAlgorithm,
    pub key_bits: u32,
    /// `None` when the certificate has no KeyUsage extension (usage unrestricted).
    pub key_usage: Option<X509KeyUsage>,
    /// `None` when the certificate has no ExtendedKeyUsage extension.
    pub extended_key_usage: Option<X509ExtendedKeyUsage>,
    pub is_ca: bool,
}

impl CertificateInfo {
    pub fn of(cert: &X509Ref) -> Result<CertificateInfo, ErrorStack> {
        let public = cert.public_key()?;
        let digest = cert.digest(MessageDigest::sha256())?;
        let mut fingerprint_sha256 = [0u8; 32];
        fingerprint_sha256.copy_from_slice(&digest);
        Ok(CertificateInfo {
            subject: name_to_string(cert.subject_name()),
            subject_cn: common_name(cert.subject_name()),
            issuer: name_to_string(cert.issuer_name()),
            issuer_cn: common_name(cert.issuer_name()),
            serial_hex: cert.serial_number().to_bn()?.to_hex_str()?.to_string(),
            subject_key_id: cert.subject_key_id().map(|id| id.as_slice().to_vec()),
            not_before: asn1_to_datetime(cert.not_before())?,
            not_after: asn1_to_datetime(cert.not_after())?,
            fingerprint_sha256,
            key_algorithm: KeyAlgorithm::of(&public),
            key_bits: public.bits(),
            key_usage: cert.key_usage(),
            extended_key_usage: cert.extended_key_usage(),
            // pathlen is only reported for CA certificates; a CA without pathlen is detected by keyCertSign.
            is_ca: cert.pathlen().is_some()
                || cert
                    .key_usage()
                    .is_some_and(|ku| ku.contains(X509KeyUsage::KEY_CERT_SIGN)),
        })
    }

    /// Whole days from `now` until `not_after` (negative once expired). Feeds the days-to-expiry metric.
    pub fn days_to_expiry(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }

    /// Whether `at` lies inside [not_before, not_after].
    pub fn is_valid_at(&self, at: OffsetDateTime) -> bool {
        self.not_before <= at && at <= self.not_after
    }

    /// `AA:BB:...` fingerprint as operators compare it with `openssl x509 -fingerprint -sha256`.
    pub fn fingerprint_hex(&self) -> String {
        hex_colon(&self.fingerprint_sha256)
    }

    /// Subject key identifier as `AA:BB:...`.
    pub fn subject_key_id_hex(&self) -> Option<String> {
        self.subject_key_id.as_deref().map(hex_colon)
    }
}

fn hex_colon(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// The last CN entry of a name, decoded as UTF-8.
pub fn common_name(name: &X509NameRef) -> Option<String> {
    name.entries_by_nid(Nid::COMMONNAME)
        .last()
        .and_then(|e| e.data().to_string().ok())
}

/// `C=SE, O=..., CN=...` with short names where OpenSSL knows them, dotted OIDs otherwise.
pub fn name_to_string(name: &X509NameRef) -> String {
    let mut out = String::new();
    for entry in name.entries() {
        if !out.is_empty() {
            out.push_str(", ");
        }
        let nid = entry.object().nid();
        let key = nid
            .short_name()
            .map(str::to_string)
            .unwrap_or_else(|_| entry.object().to_string());
        let value = entry.data().to_string().unwrap_or_else(|_| "<undecodable>".into());
        let _ = write!(out, "{key}={value}");
    }
    out
}
