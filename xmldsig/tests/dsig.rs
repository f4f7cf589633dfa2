//! XML-DSig core: enveloped signatures (SMP) and detached same-document + external references (WS-Security), with
//! one test per check that fails if the check is removed.

mod common;

use common::{ed25519, rsa, Identity, SMP_ANSWER};
use xmldsig::algorithms::DSIG_NS;
use xmldsig::dom::Document;
use xmldsig::reference::WSU_NS;
use xmldsig::*;

fn sign(xml: &str, id: &Identity, options: &EnvelopedSignOptions) -> String {
    String::from_utf8(sign_enveloped(xml.as_bytes(), &id.key, &id.certificate, options).unwrap()).unwrap()
}

fn verify(xml: &str, policy: &Policy) -> Result<VerifiedSignature, DsigError> {
    let doc = Document::parse_str(xml)?;
    let sig = find_enveloped_signature(&doc)?;
    verify_enveloped(&doc, sig, policy)
}

#[test]
fn enveloped_rsa_and_ed25519_round_trip_in_every_mode() {
    for id in [rsa("smp rsa"), ed25519("smp ed25519")] {
        for canonicalization in [C14nMode::exclusive(), C14nMode::Inclusive] {
            for prefix in ["ds", ""] {
                let options = EnvelopedSignOptions {
                    canonicalization: canonicalization.clone(),
                    prefix: prefix.into(),
                    ..Default::default()
                };
                let signed = sign(SMP_ANSWER, &id, &options);
                assert!(signed.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- an SMP answer -->"));
                let verified = verify(&signed, &Policy::default()).unwrap_or_else(|e| panic!("{e}: {signed}"));
                assert_eq!(verified.certificate.to_der().unwrap(), id.certificate.to_der().unwrap());
                assert_eq!(verified.references.len(), 1);
                assert_eq!(verified.references[0].uri, "");
            }
        }
    }
}

#[test]
fn enveloped_empty_root_is_expanded() {
    let id = ed25519("e");
    let signed = sign("<r a=\"1\"/>", &id, &EnvelopedSignOptions::default());
    assert!(signed.starts_with("<r a=\"1\"><ds:Signature"));
    assert!(signed.ends_with("</ds:Signature></r>"));
    verify(&signed, &Policy::default()).unwrap();
}

#[test]
fn tampered_content_is_refused() {
    let id = rsa("smp");
    let signed = sign(SMP_ANSWER, &id, &EnvelopedSignOptions::default());
    let tampered = signed.replace("5567212347", "5567212348");
    assert!(matches!(
        verify(&tampered, &Policy::default()),
        Err(DsigError::DigestMismatch { .. })
    ));
    // Even a change the eye misses (an added attribute) is caught.
    let tampered = signed.replace("<ServiceMetadata>", "<ServiceMetadata x=\"\">");
    assert!(matches!(
        verify(&tampered, &Policy::default()),
        Err(DsigError::DigestMismatch { .. })
    ));
}

fn digest_value(xml: &str) -> String {
    let start = xml.find("DigestValue>").unwrap() + "DigestValue>".len();
    let end = start + xml[start..].find('<').unwrap();
    xml[start..end].to_string()
}

#[test]
fn tampered_signed_info_is_refused() {
    // The attacker changes the content and recomputes the digest: now SignedInfo no longer matches its signature.
    let id = rsa("smp");
    let signed = sign(SMP_ANSWER, &id, &EnvelopedSignOptions::default());
    let forged_content = SMP_ANSWER.replace("5567212347", "5567212348");
    let forged_digest = digest_value(&sign(&forged_content, &id, &EnvelopedSignOptions::default()));
    let tampered = signed
        .replace("5567212347", "5567212348")
        .replace(&digest_value(&signed), &forged_digest);
    assert!(matches!(
        verify(&tampered, &Policy::default()),
        Err(DsigError::SignatureInvalid)
    ));
}

#[test]
fn wrong_key_is_refused() {
    let signer = rsa("signer");
    let other = rsa("other");
    let signed = sign(SMP_ANSWER, &signer, &EnvelopedSignOptions::default());
    let b64 = |c: &openssl::x509::X509| enveloped::base64(&c.to_der().unwrap());
    let swapped = signed.replace(&b64(&signer.certificate), &b64(&other.certificate));
    assert!(matches!(
        verify(&swapped, &Policy::default()),
        Err(DsigError::SignatureInvalid)
    ));
    // And with the low-level API and an explicit key.
    let doc = Document::parse_str(&signed).unwrap();
    let sig = Signature::parse(&doc, find_enveloped_signature(&doc).unwrap()).unwrap();
    let other_public = other.certificate.public_key().unwrap();
    assert!(matches!(
        verify_signed_info(&doc, &sig, &other_public, &Policy::default()),
        Err(DsigError::SignatureInvalid)
    ));
    let ed = ed25519("ed").certificate.public_key().unwrap();
    assert!(matches!(
        verify_signed_info(&doc, &sig, &ed, &Policy::default()),
        Err(DsigError::KeyMismatch { .. })
    ));
    let right = signer.certificate.public_key().unwrap();
    verify_signed_info(&doc, &sig, &right, &Policy::default()).unwrap();
}

#[test]
fn missing_certificate_is_refused() {
    let id = rsa("smp");
    let signed = sign(SMP_ANSWER, &id, &EnvelopedSignOptions::default());
    let start = signed.find("<ds:KeyInfo>").unwrap();
    let end = signed.find("</ds:KeyInfo>").unwrap() + "</ds:KeyInfo>".len();
    let stripped = format!("{}{}", &signed[..start], &signed[end..]);
    assert!(matches!(
        verify(&stripped, &Policy::default()),
        Err(DsigError::NoSigningCertificate)
    ));
}

#[test]
fn disallowed_algorithms_are_refused_by_name() {
    let id = rsa("smp");
    let signed = sign(SMP_ANSWER, &id, &EnvelopedSignOptions::default());
    let no_rsa = Policy {
        signature_methods: vec![SignatureMethod::Ed25519],
        ..Policy::default()
    };
    match verify(&signed, &no_rsa) {
        Err(DsigError::DisallowedAlgorithm { kind: "signature", uri }) => {
            assert_eq!(uri, SignatureMethod::RsaSha256.uri())
        }
        other => panic!("{other:?}"),
    }
    let sha1 = sign(
        SMP_ANSWER,
        &id,
        &EnvelopedSignOptions {
            digest_method: DigestMethod::Sha1,
            ..Default::default()
        },
    );
    match verify(&sha1, &Policy::default()) {
        Err(DsigError::DisallowedAlgorithm { kind: "digest", uri }) => {
            assert_eq!(uri, "http://www.w3.org/2000/09/xmldsig#sha1")
        }
        other => panic!("{other:?}"),
    }
    // The same document passes under a policy that allows SHA-1 (so the refusal above is the policy's doing).
    let lax = Policy {
        digest_methods: vec![DigestMethod::Sha1],
        ..Policy::default()
    };
    verify(&sha1, &lax).unwrap();
    let only_exclusive = Policy {
        canonicalization_methods: vec![C14nAlgorithm::Exclusive],
        ..Policy::default()
    };
    let inclusive = sign(
        SMP_ANSWER,
        &id,
        &EnvelopedSignOptions {
            canonicalization: C14nMode::Inclusive,
            ..Default::default()
        },
    );
    assert!(matches!(
        verify(&inclusive, &only_exclusive),
        Err(DsigError::DisallowedAlgorithm {
            kind: "canonicalization",
            ..
        })
    ));
    // rsa-sha1 is recognised and refused; an unknown method is unsupported, with its URI.
    let rsa_sha1 = signed.replace(SignatureMethod::RsaSha256.uri(), SignatureMethod::RsaSha1.uri());
    assert!(matches!(
        verify(&rsa_sha1, &Policy::default()),
        Err(DsigError::DisallowedAlgorithm { kind: "signature", .. })
    ));
    let unknown = signed.replace(SignatureMethod::RsaSha256.uri(), "urn:x-made-up");
    match verify(&unknown, &Policy::default()) {
        Err(DsigError::UnsupportedAlgorithm { kind: "signature", uri }) => assert_eq!(uri, "urn:x-made-up"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn enveloped_transform_missing_is_refused() {
    let id = rsa("smp");
    let signed = sign(SMP_ANSWER, &id, &EnvelopedSignOptions::default());
    let transform = format!("<ds:Transform Algorithm=\"{}\"/>", algorithms::ENVELOPED_SIGNATURE);
    assert!(signed.contains(&transform));
    let without = signed.replace(&transform, "");
    assert!(matches!(
        verify(&without, &Policy::default()),
        Err(DsigError::EnvelopedTransformMissing)
    ));
}

#[test]
fn enveloped_reference_must_cover_the_whole_document() {
    // A reference to a part of the document (even a correctly signed one) is not an SMP signature over the answer.
    let id = rsa("smp");
    let xml = r#"<r><part Id="p">signed</part><other>unsigned</other></r>"#;
    let signed = sign(xml, &id, &EnvelopedSignOptions::default());
    let doc = Document::parse_str(&signed).unwrap();
    let part = doc
        .all_nodes()
        .find(|n| doc.attribute(*n, None, "Id") == Some("p"))
        .unwrap();
    let attrs = IdAttribute::common();
    let ctx = ReferenceContext {
        id_attributes: &attrs,
        resolver: None,
        signature: None,
    };
    let (reference, _) = build_reference(
        &doc,
        "#p",
        vec![
            Transform::EnvelopedSignature,
            Transform::Canonicalize(C14nMode::exclusive()),
        ],
        DigestMethod::Sha256,
        &ReferenceContext {
            signature: Some(find_enveloped_signature(&doc).unwrap()),
            ..ctx
        },
    )
    .unwrap();
    assert!(doc.is_ancestor_or_self(doc.root(), part));
    let partial = SignedInfo {
        canonicalization: C14nMode::exclusive(),
        signature_method: SignatureMethod::RsaSha256,
        references: vec![reference],
    };
    let old_start = signed.find("<ds:SignedInfo>").unwrap();
    let old_end = signed.find("</ds:SignedInfo>").unwrap() + "</ds:SignedInfo>".len();
    let replaced = format!("{}{}{}", &signed[..old_start], partial.to_xml("ds"), &signed[old_end..]);
    let resigned = resign(&replaced, &id);
    match verify(&resigned, &Policy::default()) {
        Err(DsigError::Enveloped(msg)) => assert!(msg.contains("whole document"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

/// Recomputes the SignatureValue of the (first) Signature in `xml` in place.
fn resign(xml: &str, id: &Identity) -> String {
    let doc = Document::parse_str(xml).unwrap();
    let sig_node = doc.all_nodes().find(|n| doc.is(*n, DSIG_NS, "Signature")).unwrap();
    let si = doc.first_child(sig_node, DSIG_NS, "SignedInfo").unwrap();
    let value = enveloped::base64(&sign_signed_info(&doc, si, &id.key).unwrap());
    let start = xml.find("SignatureValue>").unwrap() + "SignatureValue>".len();
    let end = start + xml[start..].find('<').unwrap();
    format!("{}{}{}", &xml[..start], value, &xml[end..])
}

const ENVELOPE: &str = r#"<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" xmlns:eb="http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/"><S:Header><eb:Messaging wsu:Id="messaging" S:mustUnderstand="true"><eb:UserMessage><eb:MessageInfo><eb:MessageId>m@x</eb:MessageId></eb:MessageInfo></eb:UserMessage></eb:Messaging><wsse:Security xmlns:wsse="urn:wsse">SIGNATURE</wsse:Security></S:Header><S:Body wsu:Id="body"><p xmlns="urn:payload">hello</p></S:Body></S:Envelope>"#;

struct Attachments;

impl ExternalResolver for Attachments {
    fn digest(&self, reference: &Reference) -> Option<Result<Vec<u8>, DsigError>> {
        let content: &[u8] = match reference.uri.as_str() {
            "cid:part1@x" => b"attachment one",
            _ => return None,
        };
        Some(
            openssl::hash::hash(reference.digest_method.message_digest(), content)
                .map(|d| d.to_vec())
                .map_err(Into::into),
        )
    }
}

/// Builds a WS-Security-style detached signature over Messaging, Body and an attachment, signed in place.
fn wss_signed(id: &Identity, attachment_digest: Option<Vec<u8>>) -> String {
    let doc = Document::parse_str(&ENVELOPE.replace("SIGNATURE", "")).unwrap();
    let attrs = [IdAttribute::wsu_id()];
    let resolver = Attachments;
    let ctx = ReferenceContext {
        id_attributes: &attrs,
        resolver: Some(&resolver),
        signature: None,
    };
    let exc = || vec![Transform::Canonicalize(C14nMode::exclusive())];
    let (messaging, _) = build_reference(&doc, "#messaging", exc(), DigestMethod::Sha256, &ctx).unwrap();
    let (body, _) = build_reference(&doc, "#body", exc(), DigestMethod::Sha256, &ctx).unwrap();
    let swa = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform";
    let (mut attachment, node) = build_reference(
        &doc,
        "cid:part1@x",
        vec![Transform::Other(swa.into())],
        DigestMethod::Sha256,
        &ctx,
    )
    .unwrap();
    assert_eq!(node, None);
    if let Some(d) = attachment_digest {
        attachment.digest_value = d;
    }
    let signed_info = SignedInfo {
        canonicalization: C14nMode::Exclusive {
            inclusive_prefixes: vec!["S".into()],
        },
        signature_method: signature_method_for_key(&id.key).unwrap(),
        references: vec![messaging, body, attachment],
    };
    let unsigned = ENVELOPE.replace("SIGNATURE", &signature_xml(&signed_info, &[], None, "ds"));
    resign(&unsigned, id)
}

fn wss_verify(xml: &str, id: &Identity) -> Result<Vec<VerifiedReference>, DsigError> {
    let doc = Document::parse_str(xml)?;
    let sig_node = doc.all_nodes().find(|n| doc.is(*n, DSIG_NS, "Signature")).unwrap();
    let signature = Signature::parse(&doc, sig_node)?;
    let attrs = [IdAttribute::wsu_id()];
    let resolver = Attachments;
    let ctx = ReferenceContext {
        id_attributes: &attrs,
        resolver: Some(&resolver),
        signature: None,
    };
    verify_signature(
        &doc,
        &signature,
        &id.certificate.public_key().unwrap(),
        &Policy::default(),
        &ctx,
    )
}

#[test]
fn detached_references_verify_and_report_the_covered_nodes() {
    for id in [rsa("ap"), ed25519("ap")] {
        let signed = wss_signed(&id, None);
        let refs = wss_verify(&signed, &id).unwrap();
        let doc = Document::parse_str(&signed).unwrap();
        let messaging = doc
            .all_nodes()
            .find(|n| doc.attribute(*n, Some(WSU_NS), "Id") == Some("messaging"))
            .unwrap();
        let body = doc
            .all_nodes()
            .find(|n| doc.attribute(*n, Some(WSU_NS), "Id") == Some("body"))
            .unwrap();
        assert_eq!(
            refs.iter().map(|r| r.node).collect::<Vec<_>>(),
            vec![Some(messaging), Some(body), None]
        );
        assert!(doc.is(
            messaging,
            "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/",
            "Messaging"
        ));
    }
}

#[test]
fn detached_tampering_is_refused() {
    let id = rsa("ap");
    let signed = wss_signed(&id, None);
    assert!(
        matches!(wss_verify(&signed.replace("m@x", "m@y"), &id), Err(DsigError::DigestMismatch { uri }) if uri == "#messaging")
    );
    assert!(
        matches!(wss_verify(&signed.replace("hello", "hullo"), &id), Err(DsigError::DigestMismatch { uri }) if uri == "#body")
    );
    let wrong_attachment = wss_signed(&id, Some(vec![0; 32]));
    assert!(
        matches!(wss_verify(&wrong_attachment, &id), Err(DsigError::DigestMismatch { uri }) if uri == "cid:part1@x")
    );
    // The PrefixList puts S into the signed form of SignedInfo: renaming the SOAP namespace breaks the signature.
    let renamed = signed.replace(
        "xmlns:S=\"http://www.w3.org/2003/05/soap-envelope\"",
        "xmlns:S=\"urn:other\"",
    );
    assert!(matches!(wss_verify(&renamed, &id), Err(DsigError::SignatureInvalid)));
}

#[test]
fn duplicate_ids_are_refused() {
    let id = rsa("ap");
    let signed = wss_signed(&id, None);
    // Signature wrapping: a second element with the Body's Id (here, a copy with a different payload).
    let wrapped = signed.replace(
        "</S:Header>",
        "<Wrapper wsu:Id=\"body\"><p xmlns=\"urn:payload\">evil</p></Wrapper></S:Header>",
    );
    assert!(matches!(wss_verify(&wrapped, &id), Err(DsigError::DuplicateId(i)) if i == "body"));
    // Also when the duplicate is an Id that no reference names.
    let dup = signed.replace("<eb:UserMessage>", "<eb:UserMessage wsu:Id=\"x\"><a wsu:Id=\"x\"/>");
    assert!(matches!(wss_verify(&dup, &id), Err(DsigError::DuplicateId(i)) if i == "x"));
    let doc = Document::parse_str(&wrapped).unwrap();
    assert!(matches!(
        find_by_id(&doc, "body", &[IdAttribute::wsu_id()]),
        Err(DsigError::DuplicateId(_))
    ));
}

#[test]
fn references_outside_the_document_are_refused() {
    let id = rsa("ap");
    let signed = wss_signed(&id, None);
    let missing = resign(&signed.replace("URI=\"#body\"", "URI=\"#nobody\""), &id);
    assert!(matches!(wss_verify(&missing, &id), Err(DsigError::ReferenceNotFound(i)) if i == "nobody"));
    let remote = resign(
        &signed.replace("URI=\"#body\"", "URI=\"http://evil.example/body\""),
        &id,
    );
    assert!(
        matches!(wss_verify(&remote, &id), Err(DsigError::UnsupportedReferenceUri(u)) if u == "http://evil.example/body")
    );
    let xpointer = resign(&signed.replace("URI=\"#body\"", "URI=\"#xpointer(/)\""), &id);
    assert!(matches!(
        wss_verify(&xpointer, &id),
        Err(DsigError::UnsupportedReferenceUri(_))
    ));
}

#[test]
fn unknown_transforms_on_document_references_are_refused() {
    let id = rsa("ap");
    let signed = wss_signed(&id, None);
    let xpath = "http://www.w3.org/TR/1999/REC-xpath-19991116";
    let first_transform = format!("<ds:Transform Algorithm=\"{}\"/>", c14n::EXC_C14N);
    let with_xpath = resign(
        &signed.replacen(
            &first_transform,
            &format!("<ds:Transform Algorithm=\"{xpath}\"/>{first_transform}"),
            1,
        ),
        &id,
    );
    assert!(
        matches!(wss_verify(&with_xpath, &id), Err(DsigError::UnsupportedAlgorithm { kind: "transform", uri }) if uri == xpath)
    );
    // c14n must be last.
    let enveloped_after = format!(
        "{first_transform}<ds:Transform Algorithm=\"{}\"/>",
        algorithms::ENVELOPED_SIGNATURE
    );
    let bad_chain = resign(&signed.replacen(&first_transform, &enveloped_after, 1), &id);
    assert!(matches!(
        wss_verify(&bad_chain, &id),
        Err(DsigError::UnsupportedTransformChain { .. })
    ));
}

#[test]
fn signed_info_renders_and_parses_back() {
    let si = SignedInfo {
        canonicalization: C14nMode::Exclusive {
            inclusive_prefixes: vec!["S".into(), "#default".into()],
        },
        signature_method: SignatureMethod::Ed25519,
        references: vec![
            Reference {
                uri: "#a&b".into(),
                transforms: vec![
                    Transform::EnvelopedSignature,
                    Transform::Canonicalize(C14nMode::Inclusive),
                ],
                digest_method: DigestMethod::Sha256,
                digest_value: vec![1, 2, 3],
            },
            Reference {
                uri: "cid:x".into(),
                transforms: vec![Transform::Other("urn:t".into())],
                digest_method: DigestMethod::Sha512,
                digest_value: vec![9; 64],
            },
            Reference {
                uri: "".into(),
                transforms: vec![],
                digest_method: DigestMethod::Sha384,
                digest_value: vec![],
            },
        ],
    };
    for prefix in ["ds", ""] {
        let xml = signature_xml(&si, &[7, 7], None, prefix);
        let doc = Document::parse_str(&xml).unwrap();
        let sig = Signature::parse(&doc, doc.root()).unwrap();
        assert_eq!(sig.signed_info, si);
        assert_eq!(sig.signature_value, vec![7, 7]);
        assert_eq!(sig.reference_nodes.len(), 3);
        assert!(sig.key_info_node.is_none());
    }
}

#[test]
fn key_info_x509_data_is_exposed() {
    let id = rsa("kid");
    let der = id.certificate.to_der().unwrap();
    let key_info = format!(
        "<ds:X509Data><ds:X509IssuerSerial><ds:X509IssuerName>CN=kid</ds:X509IssuerName><ds:X509SerialNumber>7</ds:X509SerialNumber></ds:X509IssuerSerial>\
<ds:X509SKI>AQID</ds:X509SKI><ds:X509SubjectName>CN=kid</ds:X509SubjectName><ds:X509Certificate>\n{}\n</ds:X509Certificate></ds:X509Data>\
<wsse:SecurityTokenReference xmlns:wsse=\"urn:wsse\"/>",
        enveloped::base64(&der)
    );
    let si = SignedInfo {
        canonicalization: C14nMode::exclusive(),
        signature_method: SignatureMethod::RsaSha256,
        references: vec![Reference {
            uri: "".into(),
            transforms: vec![],
            digest_method: DigestMethod::Sha256,
            digest_value: vec![0; 32],
        }],
    };
    let xml = signature_xml(&si, &[1], Some(&key_info), "ds");
    let doc = Document::parse_str(&xml).unwrap();
    let sig = Signature::parse(&doc, doc.root()).unwrap();
    let ki = sig.key_info_node.unwrap();
    assert!(doc.first_child(ki, "urn:wsse", "SecurityTokenReference").is_some());
    assert_eq!(sig.key_info.certificates[0].to_der().unwrap(), der);
    assert_eq!(sig.key_info.issuer_serials[0].issuer_name, "CN=kid");
    assert_eq!(sig.key_info.issuer_serials[0].serial_number, "7");
    assert_eq!(sig.key_info.subject_key_identifiers, vec![vec![1, 2, 3]]);
    assert_eq!(sig.key_info.subject_names, vec!["CN=kid".to_string()]);
}

#[test]
fn malformed_signatures_are_refused() {
    let bad = [
        format!("<ds:Signature xmlns:ds=\"{DSIG_NS}\"/>"),
        format!("<ds:Signature xmlns:ds=\"{DSIG_NS}\"><ds:SignedInfo/></ds:Signature>"),
        format!("<ds:Signature xmlns:ds=\"{DSIG_NS}\">text</ds:Signature>"),
        "<Signature xmlns=\"urn:not-dsig\"/>".to_string(),
    ];
    for xml in bad {
        let doc = Document::parse_str(&xml).unwrap();
        assert!(
            matches!(Signature::parse(&doc, doc.root()), Err(DsigError::Malformed(_))),
            "{xml}"
        );
    }
    let id = rsa("smp");
    let signed = sign(SMP_ANSWER, &id, &EnvelopedSignOptions::default());
    let bad_b64 = signed.replace("<ds:SignatureValue>", "<ds:SignatureValue>!!");
    assert!(matches!(
        verify(&bad_b64, &Policy::default()),
        Err(DsigError::Base64("SignatureValue"))
    ));
    let two = signed.replace(
        "</SignedServiceMetadata>",
        &format!(
            "{}</SignedServiceMetadata>",
            &signed[signed.find("<ds:Signature").unwrap()..signed.find("</ds:Signature>").unwrap() + 15]
        ),
    );
    assert!(matches!(verify(&two, &Policy::default()), Err(DsigError::Enveloped(_))));
}

#[test]
fn detached_signing_equals_in_document_signing() {
    // Ed25519 signatures are deterministic, so equal canonical forms give equal signature values.
    let id = ed25519("ap");
    let in_scope: [(Option<&str>, &str); 4] = [
        (Some("S"), "http://www.w3.org/2003/05/soap-envelope"),
        (Some("wsu"), WSU_NS),
        (
            Some("eb"),
            "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/",
        ),
        (Some("wsse"), "urn:wsse"),
    ];
    let modes = [
        C14nMode::exclusive(),
        C14nMode::Exclusive {
            inclusive_prefixes: vec!["S".into(), "wsu".into()],
        },
        C14nMode::Inclusive,
    ];
    for canonicalization in modes {
        for prefix in ["ds", ""] {
            let si = SignedInfo {
                canonicalization: canonicalization.clone(),
                signature_method: SignatureMethod::Ed25519,
                references: vec![Reference {
                    uri: "#body".into(),
                    transforms: vec![Transform::Canonicalize(C14nMode::exclusive())],
                    digest_method: DigestMethod::Sha256,
                    digest_value: vec![5; 32],
                }],
            };
            let detached = sign_signed_info_detached(&si, prefix, &in_scope, &id.key).unwrap();
            let placed = ENVELOPE.replace("SIGNATURE", &signature_xml(&si, &[], None, prefix));
            let doc = Document::parse_str(&placed).unwrap();
            let sig = doc.all_nodes().find(|n| doc.is(*n, DSIG_NS, "Signature")).unwrap();
            let in_document =
                sign_signed_info(&doc, Signature::parse(&doc, sig).unwrap().signed_info_node, &id.key).unwrap();
            assert_eq!(detached, in_document, "{canonicalization:?} prefix {prefix:?}");
        }
    }
    // The check is not vacuous: leaving out a listed binding changes the signature.
    let si = SignedInfo {
        canonicalization: C14nMode::Exclusive {
            inclusive_prefixes: vec!["S".into()],
        },
        signature_method: SignatureMethod::Ed25519,
        references: vec![Reference {
            uri: "".into(),
            transforms: vec![],
            digest_method: DigestMethod::Sha256,
            digest_value: vec![],
        }],
    };
    assert_ne!(
        sign_signed_info_detached(&si, "ds", &in_scope, &id.key).unwrap(),
        sign_signed_info_detached(&si, "ds", &in_scope[1..], &id.key).unwrap()
    );
}

#[test]
fn weak_rsa_keys_are_refused() {
    let weak = common::self_signed(
        openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(1024).unwrap()).unwrap(),
        "weak",
    );
    let signed = sign(SMP_ANSWER, &weak, &EnvelopedSignOptions::default());
    assert!(matches!(
        verify(&signed, &Policy::default()),
        Err(DsigError::WeakKey { bits: 1024, min: 2048 })
    ));
    // The same document verifies when the policy allows 1024-bit keys, so the refusal is the policy's doing.
    verify(
        &signed,
        &Policy {
            min_rsa_bits: 1024,
            ..Policy::default()
        },
    )
    .unwrap();
}

#[test]
fn too_many_key_info_certificates_are_refused() {
    let id = rsa("smp");
    let signed = sign(SMP_ANSWER, &id, &EnvelopedSignOptions::default());
    let cert = format!(
        "<ds:X509Certificate>{}</ds:X509Certificate>",
        enveloped::base64(&id.certificate.to_der().unwrap())
    );
    let many = signed.replace(&cert, &cert.repeat(9));
    assert!(matches!(
        verify(&many, &Policy::default()),
        Err(DsigError::LimitExceeded {
            limit: "max_key_info_certificates",
            max: 8
        })
    ));
    verify(&signed.replace(&cert, &cert.repeat(8)), &Policy::default()).unwrap();
}
