//! DIGG's published certificate chains (read in place from ../shared, never copied): every file parses (PEM and DER
//! both occur), and the environments PROD, QA and OPEN-TEST are told apart by trust stores.

use std::path::{Path, PathBuf};

use access_point::pki::{
    load_certificate, load_certificates, CertificateInfo, KeyAlgorithm, Purpose, TrustError, TrustStore,
};
use time::OffsetDateTime;

fn chains_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/sdk-spec/repo/Certifikatskedjor");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("SDK_AP_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("DIGG certificate chains missing at {}", dir.display());
    }
    eprintln!("SKIPPED: DIGG certificate chains not found at {}", dir.display());
    None
}

fn cert_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            cert_files(&path, out);
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("cer" | "crt")) {
            out.push(path);
        }
    }
}

/// A date inside every published CA's validity (2022 .. 2032).
fn checking_time() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap() // 2026-01-01
}

#[test]
fn every_published_certificate_parses() {
    let Some(dir) = chains_dir() else { return };
    let mut files = Vec::new();
    cert_files(&dir, &mut files);
    assert!(files.len() >= 25, "expected DIGG's chains, found {} files", files.len());
    for file in &files {
        let certs = load_certificates(file).unwrap_or_else(|e| panic!("{e}"));
        for cert in certs {
            let info = CertificateInfo::of(&cert).unwrap();
            assert!(info.subject_cn.is_some(), "{}: no CN", file.display());
            assert!(info.is_ca, "{}: published chain certificates are CAs", file.display());
            assert_eq!(info.key_algorithm, KeyAlgorithm::Rsa, "{}", file.display());
            assert!(info.not_before < info.not_after);
            assert_eq!(info.fingerprint_hex().len(), 32 * 3 - 1);
        }
    }
}

struct Environment {
    name: &'static str,
    root: PathBuf,
    issuing_ca: PathBuf,
    smp_root: PathBuf,
}

fn environments(dir: &Path) -> Vec<Environment> {
    let env = |name, folder: &str, root: &str, issuing: &str, smp: &str| Environment {
        name,
        root: dir.join(folder).join("CAs/Certifikatskedja Accesspunkt").join(root),
        issuing_ca: dir.join(folder).join("CAs/Certifikatskedja Accesspunkt").join(issuing),
        smp_root: dir.join(folder).join("CAs/Certifikatskedja SMP").join(smp),
    };
    vec![
        env(
            "PROD",
            "Certifikatskedjor SDK Produktion",
            "Rot CA eDelivery Accesspunkt-PROD.cer",
            "Accesspunkt CA-SDK-PROD.cer",
            "Rot CA eDelivery SMP-PROD.cer",
        ),
        env(
            "QA",
            "Certifikatskedjor SDK QA",
            "Rot CA eDelivery Accesspunkt - QA.cer",
            "Accesspunkt CA-SDK-QA.cer",
            "Rot CA eDelivery SMP-QA.cer",
        ),
        env(
            "OPEN-TEST",
            "Certifikatkedjor OpenTest",
            "Rot CA eDelivery Accesspunkt-TEST.cer",
            "Accesspunkt CA-OPEN-TEST.cer",
            "Rot CA eDelivery SMP-TEST.cer",
        ),
    ]
}

#[test]
fn environments_are_told_apart() {
    let Some(dir) = chains_dir() else { return };
    let envs = environments(&dir);
    for own in &envs {
        let store = TrustStore::load(std::slice::from_ref(&own.root), &[], &[]).unwrap();
        for other in &envs {
            let issuing = load_certificate(&other.issuing_ca).unwrap();
            let result = store.verify(&issuing, &[], Purpose::ChainOnly, checking_time());
            if own.name == other.name {
                let verified = result.unwrap_or_else(|e| panic!("{} issuing CA under its own root: {e}", own.name));
                assert_eq!(verified.chain.len(), 2);
                assert!(verified
                    .info
                    .subject_cn
                    .as_deref()
                    .unwrap()
                    .contains(own.name.trim_start_matches("OPEN-")));
            } else {
                assert!(
                    matches!(result, Err(TrustError::Untrusted { .. })),
                    "{} issuing CA accepted by the {} store: {result:?}",
                    other.name,
                    own.name
                );
            }
            // The SMP root of any environment is not an access-point CA.
            let smp = load_certificate(&other.smp_root).unwrap();
            assert!(matches!(
                store.verify(&smp, &[], Purpose::ChainOnly, checking_time()),
                Err(TrustError::Untrusted { .. })
            ));
        }
    }
}

#[test]
fn production_and_test_siths_are_told_apart() {
    let Some(dir) = chains_dir() else { return };
    let prod = dir.join("Certifikatskedjor SDK Produktion/CAs/Certifikatskedja mTLS");
    let qa = dir.join("Certifikatskedjor SDK QA/CAs/Certifikatskedja mTLS");
    let prod_store = TrustStore::load(&[prod.join("sithseidrootcav2.cer")], &[], &[]).unwrap();
    let qa_store = TrustStore::load(&[qa.join("testsithseidrootcav2.cer")], &[], &[]).unwrap();
    let prod_function = load_certificate(&prod.join("sithseidfunctioncav1.cer")).unwrap();
    let test_function = load_certificate(&qa.join("testsithseidfunctioncav1.cer")).unwrap();
    prod_store
        .verify(&prod_function, &[], Purpose::ChainOnly, checking_time())
        .unwrap();
    qa_store
        .verify(&test_function, &[], Purpose::ChainOnly, checking_time())
        .unwrap();
    assert!(matches!(
        prod_store.verify(&test_function, &[], Purpose::ChainOnly, checking_time()),
        Err(TrustError::Untrusted { .. })
    ));
    assert!(matches!(
        qa_store.verify(&prod_function, &[], Purpose::ChainOnly, checking_time()),
        Err(TrustError::Untrusted { .. })
    ));
    // A CA is not a TLS client or a message signer.
    assert!(matches!(
        prod_store.verify(&prod_function, &[], Purpose::MessageSigning, checking_time()),
        Err(TrustError::WrongKeyUsage { .. })
    ));
}
