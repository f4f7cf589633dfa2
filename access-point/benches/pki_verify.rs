//! Criterion benchmark: certificate path validation as done for every incoming message (`TrustStore::verify` of an
//! RSA 3072 message certificate, with and without CRL checking), against one RSA-3072 signature verification and one
//! RSA-3072 signature (the private-key operation the same message costs) measured in the same run.
//!
//! `cargo bench -p access-point --bench pki_verify -- --warm-up-time 1 --measurement-time 3`

use access_point::pki::dev::DevPki;
use access_point::pki::{Purpose, TrustStore};
use criterion::{criterion_group, criterion_main, Criterion};
use openssl::hash::MessageDigest;
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509Crl;
use time::OffsetDateTime;

fn bench(c: &mut Criterion) {
    let pki = DevPki::throwaway("AP0001-DEV").unwrap();
    let crl = X509Crl::from_der(&pki.crl.to_der().unwrap()).unwrap();
    let with_crl = TrustStore::new(vec![pki.ca.certificate.clone()]).with_crls(vec![crl]);
    let without_crl = TrustStore::new(vec![pki.ca.certificate.clone()]);
    let cert = pki.message.certificate.clone();
    let now = OffsetDateTime::now_utc();

    let mut group = c.benchmark_group("pki");
    group.bench_function("trust_verify_rsa3072_with_crl", |b| {
        b.iter(|| with_crl.verify(&cert, &[], Purpose::MessageSigning, now).unwrap())
    });
    group.bench_function("trust_verify_rsa3072_no_crl", |b| {
        b.iter(|| without_crl.verify(&cert, &[], Purpose::MessageSigning, now).unwrap())
    });

    // References: the raw RSA-3072 operations, as `openssl speed rsa3072` measures them.
    let data = [7u8; 64];
    let mut signer = Signer::new(MessageDigest::sha256(), &pki.message.key).unwrap();
    signer.update(&data).unwrap();
    let signature = signer.sign_to_vec().unwrap();
    let public = cert.public_key().unwrap();
    group.bench_function("reference_rsa3072_verify", |b| {
        b.iter(|| {
            let mut v = Verifier::new(MessageDigest::sha256(), &public).unwrap();
            v.update(&data).unwrap();
            assert!(v.verify(&signature).unwrap());
        })
    });
    group.bench_function("reference_rsa3072_sign", |b| {
        b.iter(|| {
            let mut s = Signer::new(MessageDigest::sha256(), &pki.message.key).unwrap();
            s.update(&data).unwrap();
            s.sign_to_vec().unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
