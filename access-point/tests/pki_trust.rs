//! Trust validation: every check has a certificate here that only that check refuses.

use access_point::pki::dev::{CertSpec, DevPki};
use access_point::pki::{KeyPair, Purpose, TrustError, TrustStore};
use openssl::pkey::PKey;
use openssl::x509::{X509ExtendedKeyUsage, X509KeyUsage, X509};
use time::{Duration, OffsetDateTime};

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn store_with_crl(pki: &DevPki) -> TrustStore {
    let crl = openssl::x509::X509Crl::from_der(&pki.crl.to_der().unwrap()).unwrap();
    TrustStore::new(vec![pki.ca.certificate.clone()]).with_crls(vec![crl])
}

fn store_without_crl(pki: &DevPki) -> TrustStore {
    TrustStore::new(vec![pki.ca.certificate.clone()])
}

#[test]
fn dev_certificates_verify_for_their_purposes() {
    let pki = DevPki::throwaway("AP0001-DEV").unwrap();
    let store = store_with_crl(&pki);
    let at = now();
    let v = store
        .verify(&pki.message.certificate, &[], Purpose::MessageSigning, at)
        .unwrap();
    assert!(v.revocation_checked);
    assert_eq!(v.chain.len(), 2, "leaf and anchor");
    assert_eq!(v.info.subject_cn.as_deref(), Some("AP0001-DEV"));
    store
        .verify(&pki.message.certificate, &[], Purpose::KeyTransport, at)
        .unwrap();
    store
        .verify_expecting_cn(&pki.message.certificate, &[], Purpose::MessageSigning, at, "AP0001-DEV")
        .unwrap();
    store
        .verify(&pki.ed25519.certificate, &[], Purpose::MessageSigning, at)
        .unwrap();
    store
        .verify(&pki.x25519.certificate, &[], Purpose::KeyAgreement, at)
        .unwrap();
    store.verify(&pki.tls.certificate, &[], Purpose::TlsServer, at).unwrap();
    store.verify(&pki.tls.certificate, &[], Purpose::TlsClient, at).unwrap();
}

#[test]
fn certificate_of_another_ca_is_untrusted() {
    let ours = DevPki::throwaway("AP0001-DEV").unwrap();
    let theirs = DevPki::throwaway("AP0001-DEV").unwrap();
    for store in [store_with_crl(&ours), store_without_crl(&ours)] {
        let err = store
            .verify(&theirs.message.certificate, &[], Purpose::MessageSigning, now())
            .unwrap_err();
        assert!(matches!(err, TrustError::Untrusted { .. }), "{err:?}");
    }
    // Offering the other CA as "chain" does not make it an anchor.
    let err = store_without_crl(&ours)
        .verify(
            &theirs.message.certificate,
            std::slice::from_ref(&theirs.ca.certificate),
            Purpose::MessageSigning,
            now(),
        )
        .unwrap_err();
    assert!(matches!(err, TrustError::Untrusted { .. }), "{err:?}");
}

#[test]
fn a_forged_certificate_with_our_ca_name_is_untrusted() {
    // Same issuer name as our CA, signed by another key: only the signature check catches it.
    let ours = DevPki::throwaway("AP0001-DEV").unwrap();
    let mut forger = DevPki::throwaway("AP0001-DEV").unwrap();
    let spec = CertSpec::leaf("AP0001-DEV", CertSpec::message_key_usage());
    let fake_ca = KeyPair {
        key: forger.ca.key.clone(),
        certificate: ours.ca.certificate.clone(),
        chain: vec![],
    };
    let forged = DevPki::issue_from(&fake_ca, &spec, &forger.message.key).unwrap();
    forger.message.certificate = forged;
    let err = store_without_crl(&ours)
        .verify(&forger.message.certificate, &[], Purpose::MessageSigning, now())
        .unwrap_err();
    assert!(matches!(err, TrustError::Untrusted { .. }), "{err:?}");
}

#[test]
fn expired_and_not_yet_valid_certificates_are_refused() {
    let pki = DevPki::throwaway("AP0001-DEV").unwrap();
    let store = store_with_crl(&pki);
    let mut spec = CertSpec::leaf("AP0001-DEV", CertSpec::message_key_usage());
    spec.not_before = now() - Duration::days(40);
    spec.not_after = now() - Duration::days(1);
    let expired = pki.issue_rsa(&spec).unwrap();
    let err = store
        .verify(&expired.certificate, &[], Purpose::MessageSigning, now())
        .unwrap_err();
    assert!(matches!(err, TrustError::Expired { .. }), "{err:?}");

    let mut spec = CertSpec::leaf("AP0001-DEV", CertSpec::message_key_usage());
    spec.not_before = now() + Duration::days(1);
    let future = pki.issue_rsa(&spec).unwrap();
    let err = store
        .verify(&future.certificate, &[], Purpose::MessageSigning, now())
        .unwrap_err();
    assert!(matches!(err, TrustError::NotYetValid { .. }), "{err:?}");

    // The time of checking is the caller's: a valid certificate checked after its notAfter is expired.
    let later = pki.message.info().unwrap().not_after + Duration::days(1);
    let err = store_without_crl(&pki)
        .verify(&pki.message.certificate, &[], Purpose::MessageSigning, later)
        .unwrap_err();
    assert!(matches!(err, TrustError::Expired { .. }), "{err:?}");
}

#[test]
fn revoked_certificate_is_refused_once_listed_in_the_crl() {
    let mut pki = DevPki::throwaway("AP0001-DEV").unwrap();
    let victim = pki
        .issue_rsa(&CertSpec::leaf("AP0001-DEV", CertSpec::message_key_usage()))
        .unwrap();
    store_with_crl(&pki)
        .verify(&victim.certificate, &[], Purpose::MessageSigning, now())
        .unwrap();
    pki.revoke(&victim.certificate).unwrap();
    let store = store_with_crl(&pki);
    let err = store
        .verify(&victim.certificate, &[], Purpose::MessageSigning, now())
        .unwrap_err();
    assert!(matches!(err, TrustError::Revoked { .. }), "{err:?}");
    // Others from the same CA are unaffected.
    store
        .verify(&pki.message.certificate, &[], Purpose::MessageSigning, now())
        .unwrap();
}

#[test]
fn wrong_key_usage_is_refused_for_each_purpose() {
    let pki = DevPki::throwaway("AP0001-DEV").unwrap();
    let store = store_with_crl(&pki);
    let at = now();
    let encipher_only = pki
        .issue_rsa(&CertSpec::leaf("AP0001-DEV", X509KeyUsage::KEY_ENCIPHERMENT))
        .unwrap();
    let sign_only = pki
        .issue_rsa(&CertSpec::leaf("AP0001-DEV", X509KeyUsage::DIGITAL_SIGNATURE))
        .unwrap();
    let non_repudiation_only = pki
        .issue_rsa(&CertSpec::leaf("AP0001-DEV", X509KeyUsage::NON_REPUDIATION))
        .unwrap();
    let mut server_spec = CertSpec::leaf("AP0001-DEV", X509KeyUsage::DIGITAL_SIGNATURE);
    server_spec.extended_key_usage = X509ExtendedKeyUsage::SSL_SERVER;
    let server_only = pki.issue_rsa(&server_spec).unwrap();
    let mut client_spec = CertSpec::leaf("AP0001-DEV", X509KeyUsage::DIGITAL_SIGNATURE);
    client_spec.extended_key_usage = X509ExtendedKeyUsage::SSL_CLIENT;
    let client_only = pki.issue_rsa(&client_spec).unwrap();

    let refused: [(&X509, Purpose); 8] = [
        (&encipher_only.certificate, Purpose::MessageSigning),
        (&sign_only.certificate, Purpose::KeyTransport),
        (&pki.message.certificate, Purpose::KeyAgreement),
        (&pki.x25519.certificate, Purpose::MessageSigning),
        (&pki.ed25519.certificate, Purpose::KeyAgreement),
        (&server_only.certificate, Purpose::TlsClient),
        (&client_only.certificate, Purpose::TlsServer),
        (&encipher_only.certificate, Purpose::TlsClient),
    ];
    for (cert, purpose) in refused {
        let err = store.verify(cert, &[], purpose, at).unwrap_err();
        assert!(
            matches!(err, TrustError::WrongKeyUsage { purpose: p, .. } if p == purpose),
            "{purpose}: {err:?}"
        );
    }
    // nonRepudiation alone is acceptable for message signing; the same certificates pass their own purposes.
    store
        .verify(&non_repudiation_only.certificate, &[], Purpose::MessageSigning, at)
        .unwrap();
    store
        .verify(&encipher_only.certificate, &[], Purpose::KeyTransport, at)
        .unwrap();
    store
        .verify(&server_only.certificate, &[], Purpose::TlsServer, at)
        .unwrap();
    store
        .verify(&client_only.certificate, &[], Purpose::TlsClient, at)
        .unwrap();
}

#[test]
fn common_name_must_match_the_expected_party() {
    let pki = DevPki::throwaway("AP0001-DEV").unwrap();
    let store = store_with_crl(&pki);
    let err = store
        .verify_expecting_cn(
            &pki.message.certificate,
            &[],
            Purpose::MessageSigning,
            now(),
            "AP0002-DEV",
        )
        .unwrap_err();
    assert_eq!(
        err,
        TrustError::CnMismatch {
            expected: "AP0002-DEV".into(),
            found: Some("AP0001-DEV".into())
        }
    );
    // Case matters: party ids are compared exactly.
    let err = store
        .verify_expecting_cn(
            &pki.message.certificate,
            &[],
            Purpose::MessageSigning,
            now(),
            "ap0001-dev",
        )
        .unwrap_err();
    assert!(matches!(err, TrustError::CnMismatch { .. }), "{err:?}");
}

#[test]
fn missing_and_stale_crls_fail_closed() {
    let pki = DevPki::throwaway("AP0001-DEV").unwrap();
    let other = DevPki::throwaway("AP0009-DEV").unwrap();
    // CRL checking is on (a CRL is configured) but none is from our CA.
    let crl = openssl::x509::X509Crl::from_der(&other.crl.to_der().unwrap()).unwrap();
    let store = TrustStore::new(vec![pki.ca.certificate.clone()]).with_crls(vec![crl]);
    let err = store
        .verify(&pki.message.certificate, &[], Purpose::MessageSigning, now())
        .unwrap_err();
    assert!(matches!(err, TrustError::CrlMissing { .. }), "{err:?}");

    let stale = pki
        .crl_with_times(now() - Duration::days(40), now() - Duration::days(10))
        .unwrap();
    let store = TrustStore::new(vec![pki.ca.certificate.clone()]).with_crls(vec![stale]);
    let err = store
        .verify(&pki.message.certificate, &[], Purpose::MessageSigning, now())
        .unwrap_err();
    assert!(matches!(err, TrustError::CrlStale { .. }), "{err:?}");
}

#[test]
fn crl_signed_by_another_key_is_invalid() {
    let pki = DevPki::throwaway("AP0001-DEV").unwrap();
    let forger = DevPki::throwaway("AP0001-DEV").unwrap();
    let fake_ca = KeyPair {
        key: forger.ca.key.clone(),
        certificate: pki.ca.certificate.clone(),
        chain: vec![],
    };
    let forged_crl = DevPki::crl_from(&fake_ca, &[], now() - Duration::hours(1), now() + Duration::days(1)).unwrap();
    let store = TrustStore::new(vec![pki.ca.certificate.clone()]).with_crls(vec![forged_crl]);
    let err = store
        .verify(&pki.message.certificate, &[], Purpose::MessageSigning, now())
        .unwrap_err();
    assert!(matches!(err, TrustError::CrlInvalid { .. }), "{err:?}");
}

#[test]
fn intermediate_chains_need_the_intermediate_and_its_crl() {
    let pki = DevPki::throwaway("AP0001-DEV").unwrap();
    let mut ca_spec = CertSpec::leaf(
        "sdk-ap test issuing CA",
        X509KeyUsage::KEY_CERT_SIGN | X509KeyUsage::CRL_SIGN,
    );
    ca_spec.is_ca = true;
    let intermediate_key = PKey::generate_ed25519().unwrap();
    let intermediate_cert = pki.issue(&ca_spec, &intermediate_key).unwrap();
    let intermediate = KeyPair::new(intermediate_key, intermediate_cert, vec![]).unwrap();
    let leaf_key = PKey::generate_ed25519().unwrap();
    let leaf = DevPki::issue_from(
        &intermediate,
        &CertSpec::leaf("AP0005-DEV", X509KeyUsage::DIGITAL_SIGNATURE),
        &leaf_key,
    )
    .unwrap();
    let chain = vec![intermediate.certificate.clone()];

    let no_crls = store_without_crl(&pki);
    let v = no_crls.verify(&leaf, &chain, Purpose::MessageSigning, now()).unwrap();
    assert_eq!(v.chain.len(), 3);
    let err = no_crls.verify(&leaf, &[], Purpose::MessageSigning, now()).unwrap_err();
    assert!(matches!(err, TrustError::Untrusted { .. }), "{err:?}");
    // Configured intermediates serve path building like a sent chain.
    no_crls
        .clone()
        .with_intermediates(chain.clone())
        .verify(&leaf, &[], Purpose::MessageSigning, now())
        .unwrap();

    // With CRL checking, every CA in the path needs a CRL (CRL_CHECK_ALL): the root's alone is not enough.
    let err = store_with_crl(&pki)
        .verify(&leaf, &chain, Purpose::MessageSigning, now())
        .unwrap_err();
    assert!(matches!(err, TrustError::CrlMissing { .. }), "{err:?}");
    let root_crl = openssl::x509::X509Crl::from_der(&pki.crl.to_der().unwrap()).unwrap();
    let inter_crl = DevPki::crl_from(
        &intermediate,
        &[],
        now() - Duration::hours(1),
        now() + Duration::days(1),
    )
    .unwrap();
    let both = TrustStore::new(vec![pki.ca.certificate.clone()]).with_crls(vec![root_crl, inter_crl]);
    both.verify(&leaf, &chain, Purpose::MessageSigning, now()).unwrap();

    // Revoking the leaf at the intermediate.
    let root_crl = openssl::x509::X509Crl::from_der(&pki.crl.to_der().unwrap()).unwrap();
    let revoking = DevPki::crl_from(
        &intermediate,
        &[&leaf],
        now() - Duration::hours(1),
        now() + Duration::days(1),
    )
    .unwrap();
    let store = TrustStore::new(vec![pki.ca.certificate.clone()]).with_crls(vec![root_crl, revoking]);
    let err = store.verify(&leaf, &chain, Purpose::MessageSigning, now()).unwrap_err();
    assert!(matches!(err, TrustError::Revoked { .. }), "{err:?}");
}

#[test]
fn trust_store_loads_from_files_and_replaces_crls() {
    let dir = tempfile::tempdir().unwrap();
    let (mut pki, files) = DevPki::throwaway_in(dir.path(), "AP0001-DEV").unwrap();
    let mut store = TrustStore::load(
        std::slice::from_ref(&files.ca_cert),
        &[],
        std::slice::from_ref(&files.crl),
    )
    .unwrap();
    store
        .verify(&pki.message.certificate, &[], Purpose::MessageSigning, now())
        .unwrap();
    pki.revoke(&pki.message.certificate.clone()).unwrap();
    pki.write_crl(&files.crl).unwrap();
    let reloaded = TrustStore::load(
        std::slice::from_ref(&files.ca_cert),
        &[],
        std::slice::from_ref(&files.crl),
    )
    .unwrap();
    let err = reloaded
        .verify(&pki.message.certificate, &[], Purpose::MessageSigning, now())
        .unwrap_err();
    assert!(matches!(err, TrustError::Revoked { .. }), "{err:?}");
    store
        .replace_crl(openssl::x509::X509Crl::from_der(&pki.crl.to_der().unwrap()).unwrap())
        .unwrap();
    assert_eq!(store.crls().len(), 1);
    let err = store
        .verify(&pki.message.certificate, &[], Purpose::MessageSigning, now())
        .unwrap_err();
    assert!(matches!(err, TrustError::Revoked { .. }), "{err:?}");
}
