//! Interoperability with Debian's `xmlsec1` (1.2.37, libxml2 + OpenSSL): documents we sign with `sign_enveloped`
//! verify with `xmlsec1 --verify`, and documents `xmlsec1 --sign` produces verify with `verify_enveloped`.
//! xmlsec1 1.2.x has no eddsa-ed25519, so the cross-check is RSA-SHA256 (Ed25519 is covered by `tests/dsig.rs`).

mod common;
mod peers;

use common::{rsa, SMP_ANSWER};
use std::path::Path;
use std::process::{Command, Output};
use xmldsig::dom::Document;
use xmldsig::{
    find_enveloped_signature, sign_enveloped, verify_enveloped, C14nMode, DsigError, EnvelopedSignOptions, Policy,
};

fn xmlsec1(args: &[&str], dir: &Path) -> Option<Output> {
    Command::new("xmlsec1").args(args).current_dir(dir).output().ok()
}

fn available(dir: &Path) -> bool {
    match xmlsec1(&["--version"], dir) {
        Some(out) if out.status.success() => true,
        _ => {
            peers::skip("xmlsec1 (apt-get install xmlsec1=1.2.37-2); XML-DSig interoperability test");
            false
        }
    }
}

#[test]
fn our_enveloped_signatures_verify_with_xmlsec1() {
    let dir = tempfile::tempdir().unwrap();
    if !available(dir.path()) {
        return;
    }
    let id = rsa("smp-signer");
    std::fs::write(dir.path().join("cert.pem"), id.certificate.to_pem().unwrap()).unwrap();
    let mut verified = 0;
    for canonicalization in [
        C14nMode::exclusive(),
        C14nMode::Inclusive,
        C14nMode::Exclusive {
            inclusive_prefixes: vec!["ids".into()],
        },
    ] {
        for prefix in ["ds", ""] {
            let options = EnvelopedSignOptions {
                canonicalization: canonicalization.clone(),
                prefix: prefix.into(),
                ..Default::default()
            };
            let signed = sign_enveloped(SMP_ANSWER.as_bytes(), &id.key, &id.certificate, &options).unwrap();
            std::fs::write(dir.path().join("signed.xml"), &signed).unwrap();
            let out = xmlsec1(&["--verify", "--trusted-pem", "cert.pem", "signed.xml"], dir.path()).unwrap();
            assert!(
                out.status.success(),
                "xmlsec1 refused our signature ({canonicalization:?}, prefix {prefix:?}): {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&signed)
            );
            // Negative control: xmlsec1 does notice a tampered document, so the success above means something.
            let tampered = String::from_utf8(signed).unwrap().replace("5567212347", "5567212348");
            std::fs::write(dir.path().join("tampered.xml"), tampered).unwrap();
            let out = xmlsec1(&["--verify", "--trusted-pem", "cert.pem", "tampered.xml"], dir.path()).unwrap();
            assert!(!out.status.success(), "xmlsec1 accepted a tampered document");
            verified += 1;
        }
    }
    assert_eq!(verified, 6);
}

const TEMPLATE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<smp:SignedServiceMetadata xmlns:smp="http://busdox.org/serviceMetadata/publishing/1.0/" xmlns:ids="http://busdox.org/transport/identifiers/1.0/" ID="root-1">
  <smp:ServiceMetadata>
    <ids:ParticipantIdentifier scheme="iso6523-actorid-upis">0203:5567212347</ids:ParticipantIdentifier>
    <smp:Note xml:lang="sv">Råd &amp; "tips" &lt;här&gt;</smp:Note>
  </smp:ServiceMetadata>
  <Signature xmlns="http://www.w3.org/2000/09/xmldsig#">
    <SignedInfo>
      <CanonicalizationMethod Algorithm="C14N"/>
      <SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
      <Reference URI="URI">
        <Transforms>
          <Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
          TRANSFORM
        </Transforms>
        <DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
        <DigestValue/>
      </Reference>
    </SignedInfo>
    <SignatureValue/>
    <KeyInfo><X509Data/></KeyInfo>
  </Signature>
</smp:SignedServiceMetadata>
"#;

#[test]
fn xmlsec1_enveloped_signatures_verify_with_ours() {
    let dir = tempfile::tempdir().unwrap();
    if !available(dir.path()) {
        return;
    }
    let id = rsa("xmlsec1-signer");
    std::fs::write(dir.path().join("key.pem"), id.key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    std::fs::write(dir.path().join("cert.pem"), id.certificate.to_pem().unwrap()).unwrap();
    let inc = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
    let exc = "http://www.w3.org/2001/10/xml-exc-c14n#";
    let variants = [
        (inc, "", ""),
        (exc, "", &*format!("<Transform Algorithm=\"{exc}\"/>")),
        (exc, "#root-1", &*format!("<Transform Algorithm=\"{exc}\"><ec:InclusiveNamespaces xmlns:ec=\"{exc}\" PrefixList=\"ids\"/></Transform>")),
        (inc, "#root-1", &*format!("<Transform Algorithm=\"{inc}\"/>")),
    ];
    for (c14n, uri, transform) in variants {
        let template = TEMPLATE
            .replace("\"C14N\"", &format!("\"{c14n}\""))
            .replace("URI=\"URI\"", &format!("URI=\"{uri}\""))
            .replace("TRANSFORM", transform);
        std::fs::write(dir.path().join("template.xml"), &template).unwrap();
        let out = xmlsec1(
            &[
                "--sign",
                "--privkey-pem",
                "key.pem,cert.pem",
                "--id-attr:ID",
                "SignedServiceMetadata",
                "--output",
                "signed.xml",
                "template.xml",
            ],
            dir.path(),
        )
        .unwrap();
        assert!(
            out.status.success(),
            "xmlsec1 could not sign: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let signed = std::fs::read_to_string(dir.path().join("signed.xml")).unwrap();
        let doc = Document::parse_str(&signed).unwrap();
        let verified = verify_enveloped(&doc, find_enveloped_signature(&doc).unwrap(), &Policy::default())
            .unwrap_or_else(|e| panic!("xmlsec1's signature ({c14n}, URI {uri:?}) refused: {e}\n{signed}"));
        assert_eq!(verified.certificate.to_der().unwrap(), id.certificate.to_der().unwrap());
        let tampered = Document::parse_str(&signed.replace("tips", "tops")).unwrap();
        assert!(matches!(
            verify_enveloped(
                &tampered,
                find_enveloped_signature(&tampered).unwrap(),
                &Policy::default()
            ),
            Err(DsigError::DigestMismatch { .. })
        ));
    }
}
