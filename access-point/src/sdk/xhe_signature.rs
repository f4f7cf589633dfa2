//! Optional end-to-end protection of the XHE envelope for message systems that let the access point do it: an
//! enveloped XML signature over the whole envelope (rsa-sha256, SHA-256 digest, exclusive c14n, the signer's
//! certificate in KeyInfo), appended as the last child of `x:XHE` as in DIGG's `tm-base-ext-sigenc` examples.
//!
//! On receipt the signature is verified *before* anything else reads the envelope (and before any decryption);
//! the caller names the certificate it expects (the sending organisation's CertPub signing certificate), and a
//! signature by any other key is refused.
//!
//! Payload encryption inside the XHE is [`super::xhe_encryption`]; its `verify_and_open` verifies with this
//! module before decrypting.

use super::xhe::{Xhe, XheError};
use super::xml;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use xmldsig::dom::ParseLimits;
use xmldsig::enveloped::{find_enveloped_signature, sign_enveloped, verify_enveloped, EnvelopedSignOptions};
use xmldsig::error::DsigError;
use xmldsig::policy::Policy;

/// Why a signed envelope was refused.
#[derive(Debug, thiserror::Error)]
pub enum XheSignatureError {
    #[error("XHE signature: {0}")]
    Signature(#[from] DsigError),
    #[error("the XHE is signed by {actual}, not by the expected signer {expected}")]
    UnexpectedSigner { expected: String, actual: String },
    #[error(transparent)]
    Xhe(#[from] XheError),
    #[error("certificate: {0}")]
    Certificate(#[from] openssl::error::ErrorStack),
    #[error("the XHE signer is not trusted: {0}")]
    UntrustedSigner(String),
}

/// Signs a rendered envelope (the output of [`Xhe::render`]) with an enveloped rsa-sha256 signature.
pub fn sign(xhe_xml: &[u8], key: &PKey<Private>, certificate: &X509) -> Result<Vec<u8>, XheSignatureError> {
    Ok(sign_enveloped(
        xhe_xml,
        key,
        certificate,
        &EnvelopedSignOptions::default(),
    )?)
}

/// Verifies the enveloped signature of a received envelope under `policy`, checks that the signing certificate's
/// public key is the one of `expected_signer`, and only then parses and validates the envelope.
pub fn verify_and_parse(
    xhe_xml: &[u8],
    expected_signer: &X509,
    policy: &Policy,
    limits: &ParseLimits,
) -> Result<Xhe, XheSignatureError> {
    let doc = xml::parse_document(xhe_xml, limits).map_err(XheError::from)?;
    let signature = find_enveloped_signature(&doc)?;
    let verified = verify_enveloped(&doc, signature, policy)?;
    let actual = verified.certificate.public_key()?;
    let expected = expected_signer.public_key()?;
    if !actual.public_eq(&expected) {
        return Err(XheSignatureError::UnexpectedSigner {
            expected: subject(expected_signer),
            actual: subject(&verified.certificate),
        });
    }
    Ok(Xhe::from_document(&doc)?)
}

/// Verifies the enveloped signature of a received envelope under `policy`, then lets `trust` judge the signing
/// certificate (e.g. its chain to the end-to-end anchors), and only then parses and validates the envelope.
/// Returns the envelope and the signer's certificate.
pub fn verify_trusted_and_parse(
    xhe_xml: &[u8],
    policy: &Policy,
    limits: &ParseLimits,
    trust: impl FnOnce(&X509) -> Result<(), String>,
) -> Result<(Xhe, X509), XheSignatureError> {
    let doc = xml::parse_document(xhe_xml, limits).map_err(XheError::from)?;
    let signature = find_enveloped_signature(&doc)?;
    let verified = verify_enveloped(&doc, signature, policy)?;
    trust(&verified.certificate).map_err(XheSignatureError::UntrustedSigner)?;
    Ok((Xhe::from_document(&doc)?, verified.certificate))
}

/// The subject of a certificate as `CN, O, …` values, for history notes and errors.
pub fn subject(cert: &X509) -> String {
    cert.subject_name()
        .entries()
        .filter_map(|e| e.data().to_string().ok())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sdk::xhe::tests::sample;
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509Builder, X509NameBuilder};

    /// A self-signed RSA key and certificate named `cn`, for the XHE signature and encryption tests.
    pub(crate) fn key_and_cert(cn: &str) -> (PKey<Private>, X509) {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
        b.set_not_after(&Asn1Time::days_from_now(1).unwrap()).unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        (key, b.build())
    }

    #[test]
    fn signs_and_verifies() {
        let (key, cert) = key_and_cert("org-a");
        let xhe = sample();
        let signed = sign(xhe.render().unwrap().as_bytes(), &key, &cert).unwrap();
        let text = String::from_utf8(signed.clone()).unwrap();
        assert!(text.contains("rsa-sha256"));
        let parsed = verify_and_parse(&signed, &cert, &Policy::default(), &ParseLimits::default()).unwrap();
        assert_eq!(parsed, xhe);
    }

    #[test]
    fn refuses_tampered_envelope() {
        let (key, cert) = key_and_cert("org-a");
        let signed = sign(sample().render().unwrap().as_bytes(), &key, &cert).unwrap();
        let tampered = String::from_utf8(signed)
            .unwrap()
            .replace("0203:b.example.se", "0203:c.example.se");
        let err = verify_and_parse(tampered.as_bytes(), &cert, &Policy::default(), &ParseLimits::default());
        assert!(matches!(err, Err(XheSignatureError::Signature(_))), "{err:?}");
    }

    #[test]
    fn refuses_other_signer() {
        let (key, cert) = key_and_cert("org-a");
        let (_, other) = key_and_cert("org-b");
        let signed = sign(sample().render().unwrap().as_bytes(), &key, &cert).unwrap();
        let err = verify_and_parse(&signed, &other, &Policy::default(), &ParseLimits::default());
        assert!(
            matches!(err, Err(XheSignatureError::UnexpectedSigner { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn trust_judges_the_signer_after_the_signature_verifies() {
        let (key, cert) = key_and_cert("org-a");
        let signed = sign(sample().render().unwrap().as_bytes(), &key, &cert).unwrap();
        let (xhe, signer) =
            verify_trusted_and_parse(&signed, &Policy::default(), &ParseLimits::default(), |_| Ok(())).unwrap();
        assert_eq!(xhe, sample());
        assert_eq!(signer.to_der().unwrap(), cert.to_der().unwrap());
        let err = verify_trusted_and_parse(&signed, &Policy::default(), &ParseLimits::default(), |_| {
            Err("not ours".into())
        });
        assert!(matches!(err, Err(XheSignatureError::UntrustedSigner(_))), "{err:?}");
        let mut judged = false;
        let tampered = String::from_utf8(signed)
            .unwrap()
            .replace("0203:b.example.se", "0203:c.example.se");
        let err = verify_trusted_and_parse(tampered.as_bytes(), &Policy::default(), &ParseLimits::default(), |_| {
            judged = true;
            Ok(())
        });
        assert!(
            matches!(err, Err(XheSignatureError::Signature(_))) && !judged,
            "{err:?}"
        );
    }

    #[test]
    fn refuses_unsigned_envelope() {
        let (_, cert) = key_and_cert("org-a");
        let err = verify_and_parse(
            sample().render().unwrap().as_bytes(),
            &cert,
            &Policy::default(),
            &ParseLimits::default(),
        );
        assert!(matches!(err, Err(XheSignatureError::Signature(_))), "{err:?}");
    }
}
