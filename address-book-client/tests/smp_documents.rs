//! SMP documents without a network: parsing, CertPub, signature and chain verification, identity checks and AP
//! certificate checks, with certificates generated here and signatures made by the shared `xmldsig` crate.

use address_book_client::smp::xml::{parse_document, parse_service_group, parse_service_information, smp_parse_limits};
use address_book_client::smp::{select, SmpClient, SmpSettings};
use address_book_client::{
    default_transport_profiles, DiscoveryError, DocumentId, HttpSettings, ParticipantId, SmpTrust,
};
use base64::Engine;
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::BasicConstraints;
use openssl::x509::{X509Name, X509};

struct Pair {
    key: PKey<Private>,
    cert: X509,
}

fn issue(cn: &str, issuer: Option<&Pair>, ca: bool, not_before: i64, not_after: i64) -> Pair {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut n = X509Name::builder().unwrap();
    n.append_entry_by_text("CN", cn).unwrap();
    let name = n.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let serial = Asn1Integer::from_bn(&BigNum::from_u32(rand_serial()).unwrap()).unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.map(|i| i.cert.subject_name()).unwrap_or(&name))
        .unwrap();
    b.set_pubkey(&key).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    b.set_not_before(&Asn1Time::from_unix(now + not_before).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(now + not_after).unwrap()).unwrap();
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
    }
    b.sign(issuer.map(|i| &i.key).unwrap_or(&key), MessageDigest::sha256())
        .unwrap();
    Pair { key, cert: b.build() }
}

fn rand_serial() -> u32 {
    let mut buf = [0u8; 4];
    openssl::rand::rand_bytes(&mut buf).unwrap();
    u32::from_le_bytes(buf) >> 1
}

const DAY: i64 = 86_400;
const DOC: &str = "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base";

fn b64(c: &X509) -> String {
    base64::engine::general_purpose::STANDARD.encode(c.to_der().unwrap())
}

fn metadata(participant: &str, ap: &X509, extension: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<SignedServiceMetadata xmlns="http://docs.oasis-open.org/bdxr/ns/SMP/2016/05" xmlns:smc="http://docs.oasis-open.org/bdxr/ns/SMP/2/AggregateComponents" xmlns:smb="http://docs.oasis-open.org/bdxr/ns/SMP/2/BasicComponents"><ServiceMetadata><ServiceInformation>
<ParticipantIdentifier scheme="iso6523-actorid-upis">{participant}</ParticipantIdentifier>
<DocumentIdentifier scheme="busdox-docid-qns">{DOC}</DocumentIdentifier>
<ProcessList><Process><ProcessIdentifier scheme="urn:fdc:digg.se:edelivery:process">bdx:noprocess</ProcessIdentifier>
<ServiceEndpointList><Endpoint transportProfile="digg-transport-as4-v1_0"><EndpointURI>https://ap.example/as4</EndpointURI>
<RequireBusinessLevelSignature>false</RequireBusinessLevelSignature><ServiceActivationDate>2020-01-01T00:00:00Z</ServiceActivationDate>
<Certificate>{cert}</Certificate><ServiceDescription>d</ServiceDescription><TechnicalContactUrl>mailto:x@example</TechnicalContactUrl></Endpoint>
</ServiceEndpointList></Process></ProcessList>{extension}</ServiceInformation></ServiceMetadata></SignedServiceMetadata>"#,
        cert = b64(ap)
    )
}

fn certpub(sign: &X509, enc: &X509) -> String {
    format!(
        "<Extension><ExtensionID>urn:fdc:digg.se:edelivery:xml-extension:smp-certpub:1.0</ExtensionID>\
         <smc:Certificate><smb:TypeCode>urn:fdc:digg.se:edelivery:certpub:signing-cert</smb:TypeCode>\
         <smb:ContentBinaryObject mimeCode=\"application/base64\">{}</smb:ContentBinaryObject></smc:Certificate>\
         <smc:Certificate><smb:TypeCode>urn:fdc:digg.se:edelivery:certpub:encryption-cert</smb:TypeCode>\
         <smb:ContentBinaryObject mimeCode=\"application/base64\">-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----</smb:ContentBinaryObject></smc:Certificate></Extension>",
        b64(sign),
        b64(enc)
    )
}

fn sign(xml: &str, signer: &Pair) -> Vec<u8> {
    xmldsig::sign_enveloped(
        xml.as_bytes(),
        &signer.key,
        &signer.cert,
        &xmldsig::EnvelopedSignOptions::default(),
    )
    .unwrap()
}

struct World {
    ca: Pair,
    signer: Pair,
    ap: Pair,
    client: SmpClient,
}

fn world() -> World {
    let ca = issue("SMP CA", None, true, -DAY, 365 * DAY);
    let signer = issue("SMP signer", Some(&ca), false, -DAY, 365 * DAY);
    let ap = issue("AP-ONE", None, false, -DAY, 365 * DAY);
    let client = SmpClient::new(SmpSettings {
        http: HttpSettings::default(),
        trust: SmpTrust::new(vec![ca.cert.clone()]).unwrap(),
        transport_profiles: default_transport_profiles(),
    });
    World { ca, signer, ap, client }
}

fn check(
    w: &World,
    body: &[u8],
    participant: &str,
) -> Result<address_book_client::smp::VerifiedMetadata, DiscoveryError> {
    w.client.verify_metadata(
        "http://smp/x".into(),
        body,
        &ParticipantId::parse(participant).unwrap(),
        &DocumentId::parse(DOC).unwrap(),
    )
}

#[test]
fn a_signed_answer_verifies_and_yields_endpoint_certificate_and_certpub() {
    let w = world();
    let sign_cert = issue("Org signing", None, false, -DAY, 365 * DAY);
    let enc_cert = issue("Org encryption", None, false, -DAY, 365 * DAY);
    let body = sign(
        &metadata("0203:example.se", &w.ap.cert, &certpub(&sign_cert.cert, &enc_cert.cert)),
        &w.signer,
    );
    let v = check(&w, &body, "0203:EXAMPLE.se").unwrap();
    assert_eq!(v.selected.endpoint.address, "https://ap.example/as4");
    assert_eq!(v.ap_certificate.common_name, "AP-ONE");
    assert_eq!(v.signer_subject, "CN=SMP signer");
    assert_eq!(v.information.certpub.signing, vec![sign_cert.cert.to_der().unwrap()]);
    assert_eq!(v.information.certpub.encryption, vec![enc_cert.cert.to_der().unwrap()]);
    let _ = &w.ca;
}

#[test]
fn any_change_after_signing_is_refused() {
    let w = world();
    let body = sign(&metadata("0203:example.se", &w.ap.cert, ""), &w.signer);
    let tampered = String::from_utf8(body)
        .unwrap()
        .replace("https://ap.example/as4", "https://evil.example/as4");
    assert!(matches!(
        check(&w, tampered.as_bytes(), "0203:example.se"),
        Err(DiscoveryError::SmpSignatureInvalid { .. })
    ));
}

#[test]
fn a_signer_outside_the_anchor_is_refused() {
    let w = world();
    let other_ca = issue("SMP CA", None, true, -DAY, 365 * DAY);
    let rogue = issue("SMP signer", Some(&other_ca), false, -DAY, 365 * DAY);
    let body = sign(&metadata("0203:example.se", &w.ap.cert, ""), &rogue);
    assert!(matches!(
        check(&w, &body, "0203:example.se"),
        Err(DiscoveryError::SmpSignerUntrusted { .. })
    ));
    // An expired signer from the right CA is refused too.
    let expired = issue("SMP signer", Some(&w.ca), false, -10 * DAY, -DAY);
    let body = sign(&metadata("0203:example.se", &w.ap.cert, ""), &expired);
    assert!(matches!(
        check(&w, &body, "0203:example.se"),
        Err(DiscoveryError::SmpSignerUntrusted { .. })
    ));
}

#[test]
fn unsigned_and_wrong_participant_answers_are_refused() {
    let w = world();
    let xml = metadata("0203:example.se", &w.ap.cert, "");
    assert_eq!(
        check(&w, xml.as_bytes(), "0203:example.se").unwrap_err(),
        DiscoveryError::SmpSignatureMissing
    );
    let body = sign(&xml, &w.signer);
    assert!(matches!(
        check(&w, &body, "0203:other.se"),
        Err(DiscoveryError::SmpWrongParticipant { .. })
    ));
}

#[test]
fn expired_or_future_ap_certificates_are_refused() {
    let w = world();
    let old = issue("AP-OLD", None, false, -10 * DAY, -DAY);
    let body = sign(&metadata("0203:example.se", &old.cert, ""), &w.signer);
    assert!(matches!(
        check(&w, &body, "0203:example.se"),
        Err(DiscoveryError::ApCertificate { .. })
    ));
    let future = issue("AP-NEW", None, false, 5 * DAY, 10 * DAY);
    let body = sign(&metadata("0203:example.se", &future.cert, ""), &w.signer);
    assert!(matches!(
        check(&w, &body, "0203:example.se"),
        Err(DiscoveryError::ApCertificate { .. })
    ));
    assert!(matches!(
        select::ap_certificate(b"junk"),
        Err(DiscoveryError::ApCertificate { .. })
    ));
}

#[test]
fn bad_certpub_extensions_are_refused() {
    let w = world();
    let good = issue("Org", None, false, -DAY, 365 * DAY);
    let ext = certpub(&good.cert, &good.cert);
    for bad in [
        ext.replace("certpub:signing-cert", "certpub:other-cert"),
        ext.replacen("application/base64", "text/plain", 1),
        ext.replacen(&b64(&good.cert), "AAAA", 1),
    ] {
        let body = sign(&metadata("0203:example.se", &w.ap.cert, &bad), &w.signer);
        assert!(
            matches!(check(&w, &body, "0203:example.se"), Err(DiscoveryError::CertPub { .. })),
            "{bad}"
        );
    }
    // Extensions with another id are ignored.
    let other = ext.replace("smp-certpub:1.0", "other:1.0");
    let body = sign(&metadata("0203:example.se", &w.ap.cert, &other), &w.signer);
    assert!(check(&w, &body, "0203:example.se")
        .unwrap()
        .information
        .certpub
        .is_empty());
}

#[test]
fn structural_variants_and_errors() {
    let w = world();
    let limits = smp_parse_limits(1 << 20);
    // Peppol-style EndpointReference/wsa:Address is accepted.
    let xml = metadata("0203:example.se", &w.ap.cert, "").replace(
        "<EndpointURI>https://ap.example/as4</EndpointURI>",
        "<EndpointReference><wsa:Address xmlns:wsa=\"http://www.w3.org/2005/08/addressing\">https://ap.example/wsa</wsa:Address></EndpointReference>",
    );
    let info = parse_service_information(&parse_document(xml.as_bytes(), &limits).unwrap()).unwrap();
    assert_eq!(info.processes[0].endpoints[0].address, "https://ap.example/wsa");
    for (from, to) in [
        (
            "<ServiceActivationDate>2020-01-01T00:00:00Z",
            "<ServiceActivationDate>yesterday",
        ),
        (
            "<RequireBusinessLevelSignature>false",
            "<RequireBusinessLevelSignature>maybe",
        ),
        ("transportProfile=\"digg-transport-as4-v1_0\"", ""),
        ("scheme=\"iso6523-actorid-upis\"", "scheme=\"other\""),
        ("<ServiceInformation>", "<Redirect href=\"x\"/><ServiceInformation>"),
        ("https://ap.example/as4", "javascript:alert(1)"),
        ("https://ap.example/as4", ""),
    ] {
        let bad = metadata("0203:example.se", &w.ap.cert, "").replace(from, to);
        assert!(
            parse_service_information(&parse_document(bad.as_bytes(), &limits).unwrap()).is_err(),
            "{to}"
        );
    }
    let group = r#"<ServiceGroup xmlns="http://docs.oasis-open.org/bdxr/ns/SMP/2016/05"><ParticipantIdentifier scheme="iso6523-actorid-upis">0203:example.se</ParticipantIdentifier><ServiceMetadataReferenceCollection><ServiceMetadataReference href="http://smp/a"/></ServiceMetadataReferenceCollection></ServiceGroup>"#;
    let g = parse_service_group(&parse_document(group.as_bytes(), &limits).unwrap()).unwrap();
    assert_eq!(g.references, vec!["http://smp/a"]);
    assert!(parse_document(b"<!DOCTYPE x [<!ENTITY e \"x\">]><x>&e;</x>", &limits).is_err());
    assert!(matches!(
        check(&w, b"<x/>", "0203:example.se"),
        Err(DiscoveryError::SmpMalformed { .. })
    ));
    assert!(matches!(
        check(&w, b"\xff\xfe", "0203:example.se"),
        Err(DiscoveryError::SmpMalformed { .. })
    ));
}
