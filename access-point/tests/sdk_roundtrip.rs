//! Property tests: XHE envelopes, kvittens and SDK messages built from arbitrary (valid) field values render and
//! parse back to the same model; parsing never panics on mutated renderings.
//!
//! With `SDK_AP_WRITE_FUZZ_SEEDS=<dir>` set, `write_fuzz_seeds` writes one rendering of each type into
//! `<dir>/sdk_{xhe,kvittens,message}_parse/` (how the committed fuzz corpora were seeded).

use access_point::sdk::kvittens::{Kvittens, ReasonCode, RejectionReason};
use access_point::sdk::message_v3::{
    Attention, ContentFile, DigitalDocument, FileContent, InstanceId, MessageHeader, Party, SdkMessage,
    SubOrganization, FUNCTIONAL_ADDRESS_ROOT,
};
use access_point::sdk::xhe::{BusinessScope, Participant, PayloadContent, Xhe, XhePayload};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use xmldsig::dom::ParseLimits;

/// Field text: printable, including XML metacharacters and non-ASCII, no leading/trailing or repeated space (the
/// parsers normalise white space as the schematron's normalize-space does).
fn field() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9åäöÅÄÖ&<>\"':/#{}.-]{1,12}( [a-zA-Z0-9&<>]{1,8}){0,2}"
}

fn uuid() -> impl Strategy<Value = String> {
    any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string())
}

fn xhe() -> impl Strategy<Value = Xhe> {
    (
        uuid(),
        field(),
        field(),
        field(),
        field(),
        field(),
        proptest::option::of(field()),
        any::<Vec<u8>>(),
        any::<bool>(),
    )
        .prop_map(
            |(id, document_id, process_id, from, to, code, handling, bytes, xml_payload)| Xhe {
                id,
                creation_date_time: "2024-02-29T23:59:59.999+01:00".into(),
                scope: BusinessScope {
                    document_id,
                    document_id_scheme: "busdox-docid-qns".into(),
                    process_id,
                    process_id_scheme: "urn:fdc:digg.se:edelivery:process".into(),
                    federation_id: "urn:fdc:digg.se:edelivery:federation:test".into(),
                },
                from: Participant::sdk(from),
                to: Participant::sdk(to),
                payload: XhePayload {
                    document_type_code: code,
                    content_type_code: "application/xml".into(),
                    handling_service_id: handling,
                    content: if xml_payload {
                        PayloadContent::Xml(format!("<p:doc xmlns:p=\"urn:p\">{}</p:doc>", hex(&bytes)))
                    } else {
                        use base64::Engine;
                        PayloadContent::Text(base64::engine::general_purpose::STANDARD.encode(&bytes) + "x")
                    },
                },
            },
        )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn message() -> impl Strategy<Value = SdkMessage> {
    (
        uuid(),
        proptest::option::of(field()),
        any::<bool>(),
        field(),
        field(),
        proptest::collection::vec(any::<u8>(), 0..300),
        field(),
    )
        .prop_map(
            |(id, label, confidentiality, recipient, function, bytes, text)| SdkMessage {
                header: MessageHeader {
                    creation_date_time: "2022-10-13T18:10:39.8Z".into(),
                    message_id: id.clone(),
                    conversation_id: id,
                    ref_to_message_id: None,
                    label,
                    confidentiality,
                    generating_system: None,
                    recipient: Party {
                        id: InstanceId::new("iso6523-actorid-upis", recipient),
                        label: None,
                        attention: Some(Attention {
                            persons: vec![],
                            sub_organization: SubOrganization {
                                id: InstanceId::new(FUNCTIONAL_ADDRESS_ROOT, function),
                                label: None,
                            },
                            references: vec![],
                        }),
                    },
                    sender: Party {
                        id: InstanceId::new("iso6523-actorid-upis", "0203:a.se"),
                        label: None,
                        attention: None,
                    },
                },
                documents: vec![DigitalDocument {
                    document_id: "doc".into(),
                    document_name: None,
                    index: None,
                    files: if bytes.is_empty() {
                        vec![]
                    } else {
                        vec![ContentFile {
                            file_name: "f.bin".into(),
                            content_type: "application/octet-stream".into(),
                            content: FileContent::Bytes(bytes),
                        }]
                    },
                    texts: vec![text],
                }],
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn xhe_round_trips(xhe in xhe()) {
        let xml = xhe.render().unwrap();
        prop_assert_eq!(Xhe::parse(xml.as_bytes(), &ParseLimits::default()).unwrap(), xhe);
    }

    #[test]
    fn kvittens_round_trips(xhe in xhe(), reasons in proptest::collection::vec((field(), 0..3u8, proptest::option::of(field()), field()), 0..3)) {
        let issued = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let kvittens = if reasons.is_empty() {
            Kvittens::accepted("KVT-1", &xhe, issued)
        } else {
            let reasons = reasons.into_iter().map(|(location, code, detail_code, text)| RejectionReason {
                location,
                code: [ReasonCode::SchemaError, ReasonCode::BusinessRuleError, ReasonCode::SignatureError][code as usize],
                detail_code,
                text,
            }).collect();
            Kvittens::rejected("KVT-1", &xhe, issued, reasons)
        };
        let parsed = Kvittens::parse(kvittens.render().unwrap().as_bytes(), &ParseLimits::default()).unwrap();
        prop_assert!(parsed.refers_to(&xhe));
        prop_assert_eq!(parsed, kvittens);
    }

    #[test]
    fn sdk_message_round_trips(message in message()) {
        let xml = message.render().unwrap();
        prop_assert_eq!(SdkMessage::parse(xml.as_bytes(), &ParseLimits::default()).unwrap(), message);
    }

    #[test]
    fn mutated_renderings_never_panic(xhe in xhe(), message in message(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        for xml in [xhe.render().unwrap(), message.render().unwrap()] {
            let mut bytes = xml.into_bytes();
            let at = cut.index(bytes.len());
            bytes[at] = byte;
            let _ = Xhe::parse(&bytes, &ParseLimits::default());
            let _ = SdkMessage::parse(&bytes, &ParseLimits::default());
            let _ = Kvittens::parse(&bytes, &ParseLimits::default());
        }
    }
}

#[test]
fn write_fuzz_seeds() {
    let Ok(dir) = std::env::var("SDK_AP_WRITE_FUZZ_SEEDS") else {
        return;
    };
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let xhe = xhe().new_tree(&mut runner).unwrap().current();
    let message = message().new_tree(&mut runner).unwrap().current();
    let mut with_message = xhe.clone();
    let message_xml = message.render().unwrap();
    with_message.payload.content = PayloadContent::Xml(
        message_xml
            .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .trim_end()
            .to_string(),
    );
    let issued = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let rejected = Kvittens::rejected(
        "KVT-2",
        &xhe,
        issued,
        vec![RejectionReason {
            location: "NA".into(),
            code: ReasonCode::SignatureError,
            detail_code: None,
            text: "Signatur ej korrekt".into(),
        }],
    );
    let seeds = [
        ("sdk_xhe_parse", "xhe", xhe.render().unwrap()),
        ("sdk_xhe_parse", "xhe_message", with_message.render().unwrap()),
        (
            "sdk_kvittens_parse",
            "accepted",
            Kvittens::accepted("KVT-1", &xhe, issued).render().unwrap(),
        ),
        ("sdk_kvittens_parse", "rejected", rejected.render().unwrap()),
        ("sdk_message_parse", "message", message_xml),
    ];
    for (target, name, xml) in seeds {
        let target_dir = std::path::Path::new(&dir).join(target);
        std::fs::create_dir_all(&target_dir).unwrap();
        std::fs::write(target_dir.join(format!("seed_{name}.xml")), xml).unwrap();
    }
}
