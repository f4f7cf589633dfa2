//! The simulator's own PKI: an SMP CA, the SMP signing certificate it issues, an untrusted look-alike signer for
//! the "wrongly signed" fault, and self-signed AP certificates when the federation file gives none.

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509Name, X509};

/// A key and its certificate.
#[derive(Clone)]
pub struct KeyPair {
    pub key: PKey<Private>,
    pub certificate: X509,
}

fn name(cn: &str) -> Result<X509Name, openssl::error::ErrorStack> {
    let mut n = X509Name::builder()?;
    n.append_entry_by_text("C", "SE")?;
    n.append_entry_by_text("O", "sdk-federation-sim")?;
    n.append_entry_by_text("CN", cn)?;
    Ok(n.build())
}

/// Issues a certificate for `cn`, signed by `issuer` (self-signed when `None`), valid from a day ago for
/// `days` days.
pub fn issue(cn: &str, issuer: Option<&KeyPair>, ca: bool, days: u32) -> Result<KeyPair, openssl::error::ErrorStack> {
    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(63, openssl::bn::MsbOption::MAYBE_ZERO, false)?;
    let serial = Asn1Integer::from_bn(&serial)?;
    b.set_serial_number(&serial)?;
    let subject = name(cn)?;
    b.set_subject_name(&subject)?;
    b.set_issuer_name(issuer.map(|i| i.certificate.subject_name()).unwrap_or(&subject))?;
    b.set_pubkey(&key)?;
    let not_before = Asn1Time::from_unix(time_now() - 86_400)?;
    let not_after = Asn1Time::days_from_now(days)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        b.append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().build()?)?;
    } else {
        b.append_extension(BasicConstraints::new().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .key_encipherment()
                .build()?,
        )?;
    }
    b.sign(issuer.map(|i| &i.key).unwrap_or(&key), MessageDigest::sha256())?;
    Ok(KeyPair {
        key,
        certificate: b.build(),
    })
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The SMP PKI of one simulator run.
#[derive(Clone)]
pub struct SmpPki {
    pub ca: KeyPair,
    pub signer: KeyPair,
    /// A signer with the same subject as `signer`, issued by a CA the clients do not trust.
    pub rogue_signer: KeyPair,
}

impl SmpPki {
    pub fn generate() -> Result<Self, openssl::error::ErrorStack> {
        let ca = issue("SDK Federation Sim SMP CA", None, true, 3650)?;
        let signer = issue("SDK Federation Sim SMP", Some(&ca), false, 365)?;
        let rogue_ca = issue("SDK Federation Sim SMP CA", None, true, 3650)?;
        let rogue_signer = issue("SDK Federation Sim SMP", Some(&rogue_ca), false, 365)?;
        Ok(SmpPki {
            ca,
            signer,
            rogue_signer,
        })
    }
}
