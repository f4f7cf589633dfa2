//! Round trips: build → render → parse gives the same Messaging, for fixed samples and for arbitrary valid models.

use access_point::ebms::test_support::{sample_error_signal, sample_receipt, sample_user_message};
use access_point::ebms::*;
use proptest::prelude::*;

fn round_trip(messaging: Messaging) -> ParsedEnvelope {
    let builder = EnvelopeBuilder::new(messaging.clone()).expect("valid model");
    let xml = builder.render(None);
    let parsed = Envelope::parse(xml.as_bytes(), &ParseLimits::default())
        .unwrap_or_else(|e| panic!("rendered envelope must parse: {e}\n{xml}"));
    assert_eq!(parsed.messaging(), &messaging, "{xml}");
    assert_eq!(parsed.messaging_wsu_id(), Some(builder.messaging_wsu_id().as_str()));
    assert_eq!(parsed.body_wsu_id(), Some(builder.body_wsu_id().as_str()));
    assert!(parsed.messaging_must_understand());
    parsed
}

#[test]
fn user_messages_with_0_1_and_20_parts() {
    for parts in [0, 1, 20] {
        let user = sample_user_message(parts);
        let parsed = round_trip(Messaging::user(user));
        let user = parsed.messaging().user_message().unwrap();
        assert_eq!(user.payload_info.len(), parts);
        if parts > 0 {
            assert_eq!(user.payload_info[0].mime_type(), Some("text/xml"));
            assert_eq!(user.payload_info[0].compression_type(), Some("application/gzip"));
            assert_eq!(user.payload_info[0].character_set(), Some("utf-8"));
            assert_eq!(
                user.payload_info[parts - 1].part_ref,
                PartRef::Cid(format!("part-{}@sdk", parts - 1))
            );
        }
    }
}

#[test]
fn body_and_fragment_payload_refs() {
    let mut user = sample_user_message(0);
    user.payload_info = vec![
        PartInfo::new(PartRef::Body),
        PartInfo {
            part_ref: PartRef::BodyElement("payload-1".into()),
            schema: Some(Schema {
                location: "http://x/s.xsd".into(),
                version: Some("1".into()),
                namespace: None,
            }),
            description: Some(Description {
                lang: "en".into(),
                text: "the invoice".into(),
            }),
            part_properties: vec![Property::new("MimeType", "application/xml"), Property::new("Other", "")],
        },
    ];
    user.mpc = Some("urn:mpc:sub".into());
    round_trip(Messaging::user(user));
}

#[test]
fn receipt_and_error_signals() {
    let parsed = round_trip(Messaging::signal(sample_receipt()));
    let signal = &parsed.messaging().signal_messages()[0];
    let Signal::Receipt(Receipt::NonRepudiation(nri)) = &signal.signal else {
        panic!("not an NRR receipt")
    };
    assert_eq!(nri.parts.len(), 2);
    let MessagePartNRInformation::Reference(r) = nri.parts.first() else {
        panic!("not a reference")
    };
    assert_eq!(
        r.transforms[0].inclusive_namespaces.as_deref(),
        Some(&["env".to_string(), "eb".to_string()][..])
    );

    let parsed = round_trip(Messaging::signal(sample_error_signal()));
    let Signal::Errors(errors) = &parsed.messaging().signal_messages()[0].signal else {
        panic!("not errors")
    };
    assert_eq!(
        errors.first().error_code,
        SignalErrorCode::Known(ErrorCode::ValueInconsistent)
    );
    assert_eq!(errors.first().known_category(), Some(Category::Content));
    assert_eq!(errors.first().description.as_ref().unwrap().text, "Okänd mottagare <x>");
}

#[test]
fn receipt_copy_pull_request_and_bundles() {
    let ids = MessageIdGenerator::new("ap0002.example.se").unwrap();
    let user = sample_user_message(1);
    round_trip(Messaging::signal(receipt_copy_signal(&ids, &user)));
    let info = MessageInfo::new(ids.generate(), Timestamp::now());
    round_trip(Messaging::signal(SignalMessage::pull_request(info.clone(), None)));
    round_trip(Messaging::signal(SignalMessage::pull_request(
        info,
        Some(ns::DEFAULT_MPC.into()),
    )));
    let bundle = Messaging::user(user)
        .with_signal(sample_receipt())
        .with_signal(sample_error_signal());
    round_trip(bundle);
}

#[test]
fn built_signals_reference_the_message_in_error() {
    let ids = MessageIdGenerator::new("ap.example.se").unwrap();
    let in_error = sample_user_message(0).message_info.message_id;
    let errors = NonEmpty::new(
        EbmsError::new(ErrorCode::ProcessingModeMismatch, "no P-Mode").with_ref_to_message(in_error.as_str()),
    );
    let signal = error_signal(&ids, None, &errors);
    assert_eq!(signal.message_info.ref_to_message_id.as_ref(), Some(&in_error));
    assert!(signal.message_info.message_id.as_str().ends_with("@ap.example.se"));
    let Signal::Errors(list) = &signal.signal else { panic!() };
    let e = list.first();
    assert_eq!(e.short_description.as_deref(), Some("ProcessingModeMismatch"));
    assert_eq!(e.category.as_deref(), Some("Processing"));
    assert_eq!(e.severity, Severity::Failure);
    assert_eq!(e.error_detail.as_deref(), Some("no P-Mode"));
    round_trip(Messaging::signal(signal));

    let receipt = receipt_signal(
        &ids,
        &in_error,
        NonRepudiationInformation {
            parts: NonEmpty::new(MessagePartNRInformation::MessagePartIdentifier("part-1".into())),
        },
    );
    assert_eq!(receipt.message_info.ref_to_message_id.as_ref(), Some(&in_error));
    round_trip(Messaging::signal(receipt));
}

#[test]
fn security_header_is_first_in_header() {
    let builder = EnvelopeBuilder::new(Messaging::user(sample_user_message(1)))
        .unwrap()
        .with_messaging_wsu_id(WsuId::parse("msg-1").unwrap())
        .with_body_wsu_id(WsuId::parse("body-1").unwrap());
    let security = r#"<wsse:Security env:mustUnderstand="true"><wsu:Timestamp wsu:Id="ts-1"/></wsse:Security>"#;
    let xml = builder.render(Some(security));
    let parsed = Envelope::parse(xml.as_bytes(), &ParseLimits::default()).unwrap();
    let doc = parsed.document();
    let first = doc.child_elements(parsed.header_node()).next().unwrap();
    assert_eq!(Some(first), parsed.security_node());
    assert_eq!(parsed.messaging_wsu_id(), Some("msg-1"));
    assert_eq!(parsed.body_wsu_id(), Some("body-1"));
    assert_eq!(parsed.find_by_wsu_id("msg-1"), Some(parsed.messaging_node()));
    assert_eq!(parsed.find_by_wsu_id("body-1"), Some(parsed.body_node()));
    assert!(parsed.find_by_wsu_id("ts-1").is_some());
    assert!(xml.contains(r#"<eb:Messaging env:mustUnderstand="true" wsu:Id="msg-1">"#));
}

#[test]
fn body_content_is_kept() {
    let builder = EnvelopeBuilder::new(Messaging::user(sample_user_message(0)))
        .unwrap()
        .with_body_content("<p:Doc xmlns:p=\"urn:p\">x</p:Doc>".into());
    let xml = builder.render(None);
    let parsed = Envelope::parse(xml.as_bytes(), &ParseLimits::default()).unwrap();
    let doc = parsed.document();
    let content = doc.child_elements(parsed.body_node()).next().unwrap();
    assert!(doc.is(content, "urn:p", "Doc"));
}

// ---- property tests ----

/// XML-legal characters, markup-significant ones and whitespace included.
fn any_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::char::range('a', 'z'),
            1 => prop::sample::select(vec!['&', '<', '>', '"', '\'', ' ', '\t', '\n', '\r', ']', 'é', '€', '😀']),
            1 => any::<char>().prop_filter("XML char", |c| {
                matches!(*c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
            }),
        ],
        0..12,
    )
    .prop_map(|v| v.into_iter().collect())
}

/// Non-empty text without surrounding whitespace (the parser trims identifiers).
fn token() -> impl Strategy<Value = String> {
    any_text().prop_map(|s| format!("t{}x", s.trim_matches([' ', '\t', '\n', '\r'])))
}

fn message_id() -> impl Strategy<Value = MessageId> {
    (
        "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,10}(\\.[a-z0-9]{1,5}){0,2}",
        "[a-z0-9-]{1,10}(\\.[a-z]{1,5}){0,2}",
    )
        .prop_map(|(l, r)| MessageId::parse(&format!("{l}@{r}")).unwrap())
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (0i64..4_102_444_800, 0u32..1_000_000_000).prop_map(|(secs, nanos)| {
        let t = time::OffsetDateTime::from_unix_timestamp(secs)
            .unwrap()
            .replace_nanosecond(nanos)
            .unwrap();
        Timestamp::from_datetime(t)
    })
}

fn message_info() -> impl Strategy<Value = MessageInfo> {
    (timestamp(), message_id(), prop::option::of(message_id())).prop_map(
        |(timestamp, message_id, ref_to_message_id)| MessageInfo {
            timestamp,
            message_id,
            ref_to_message_id,
        },
    )
}

fn party_id() -> impl Strategy<Value = PartyId> {
    prop_oneof![
        (token(), any_text()).prop_map(|(v, t)| PartyId::new(v, Some(t)).unwrap()),
        "[a-z]{1,5}:[a-z0-9:.-]{1,10}".prop_map(|uri| PartyId::new(uri, None).unwrap()),
    ]
}

fn party() -> impl Strategy<Value = Party> {
    (prop::collection::vec(party_id(), 1..3), token()).prop_map(|(ids, role)| Party {
        party_ids: NonEmpty::from_vec(ids).unwrap(),
        role,
    })
}

fn property() -> impl Strategy<Value = Property> {
    (any_text(), prop::option::of(any_text()), any_text()).prop_map(|(name, property_type, value)| Property {
        name,
        property_type,
        value,
    })
}

fn description() -> impl Strategy<Value = Description> {
    ("[a-z]{2}(-[A-Z]{2})?", any_text()).prop_map(|(lang, text)| Description { lang, text })
}

fn part_info() -> impl Strategy<Value = PartInfo> {
    let part_ref = prop_oneof![
        Just(PartRef::Body),
        token().prop_map(PartRef::Cid),
        token().prop_map(PartRef::BodyElement),
    ];
    let schema = prop::option::of(
        (any_text(), prop::option::of(any_text()), prop::option::of(any_text())).prop_map(
            |(location, version, namespace)| Schema {
                location,
                version,
                namespace,
            },
        ),
    );
    (
        part_ref,
        schema,
        prop::option::of(description()),
        prop::collection::vec(property(), 0..4),
    )
        .prop_map(|(part_ref, schema, description, part_properties)| PartInfo {
            part_ref,
            schema,
            description,
            part_properties,
        })
}

fn user_message() -> impl Strategy<Value = UserMessage> {
    let service = prop_oneof![
        (token(), any_text()).prop_map(|(v, t)| Service::new(v, Some(t)).unwrap()),
        Just(Service::test()),
    ];
    let agreement = prop::option::of(
        (token(), prop::option::of(any_text()), prop::option::of(any_text())).prop_map(
            |(value, agreement_type, pmode)| AgreementRef {
                value,
                agreement_type,
                pmode,
            },
        ),
    );
    (
        prop::option::of(any_text()),
        message_info(),
        party(),
        party(),
        (agreement, service, token(), token()),
        prop::collection::vec(property(), 0..4),
        prop::collection::vec(part_info(), 0..4),
    )
        .prop_map(
            |(mpc, message_info, from, to, (agreement_ref, service, action, conversation_id), props, parts)| {
                UserMessage {
                    mpc,
                    message_info,
                    party_info: PartyInfo { from, to },
                    collaboration_info: CollaborationInfo {
                        agreement_ref,
                        service,
                        action,
                        conversation_id,
                    },
                    message_properties: props,
                    payload_info: parts,
                }
            },
        )
}

fn reference() -> impl Strategy<Value = MessagePartNRInformation> {
    let transform = (any_text(), prop::option::of(prop::collection::vec("[a-z#]{1,6}", 0..3))).prop_map(
        |(algorithm, inclusive_namespaces)| Transform {
            algorithm,
            inclusive_namespaces,
        },
    );
    prop_oneof![
        (
            prop::option::of(any_text()),
            prop::collection::vec(transform, 0..3),
            any_text(),
            prop::collection::vec(any::<u8>(), 1..40)
        )
            .prop_map(|(uri, transforms, digest_method, digest_value)| {
                MessagePartNRInformation::Reference(Reference {
                    uri,
                    transforms,
                    digest_method,
                    digest_value,
                })
            }),
        token().prop_map(MessagePartNRInformation::MessagePartIdentifier),
    ]
}

fn signal_error() -> impl Strategy<Value = SignalError> {
    let code = prop_oneof![
        prop::sample::select(ErrorCode::ALL.to_vec()).prop_map(SignalErrorCode::Known),
        "[A-Z]{2,5}:[0-9]{4}"
            .prop_filter("not a known code", |c| ErrorCode::from_code(c).is_none())
            .prop_map(SignalErrorCode::Other),
    ];
    (
        code,
        prop::sample::select(vec![Severity::Failure, Severity::Warning]),
        prop::option::of(any_text()),
        prop::option::of(any_text()),
        prop::option::of(any_text()),
        prop::option::of(any_text()),
        prop::option::of(description()),
        prop::option::of(any_text()),
    )
        .prop_map(
            |(error_code, severity, category, short_description, ref_to, origin, description, error_detail)| {
                SignalError {
                    error_code,
                    severity,
                    category,
                    short_description,
                    ref_to_message_in_error: ref_to,
                    origin,
                    description,
                    error_detail,
                }
            },
        )
}

fn signal_message() -> impl Strategy<Value = SignalMessage> {
    let receipt = (
        message_info(),
        message_id(),
        prop_oneof![
            prop::collection::vec(reference(), 1..4).prop_map(|parts| Receipt::NonRepudiation(
                NonRepudiationInformation {
                    parts: NonEmpty::from_vec(parts).unwrap()
                }
            )),
            user_message().prop_map(|u| Receipt::UserMessageCopy(Box::new(u))),
        ],
    )
        .prop_map(|(info, ref_to, receipt)| SignalMessage::receipt(info, ref_to, receipt));
    let errors = (message_info(), prop::collection::vec(signal_error(), 1..4)).prop_map(|(info, errors)| {
        let ref_to = info.ref_to_message_id.clone();
        SignalMessage::errors(info, ref_to, NonEmpty::from_vec(errors).unwrap())
    });
    let pull = (message_info(), prop::option::of(any_text())).prop_map(|(info, mpc)| {
        SignalMessage::pull_request(
            MessageInfo {
                ref_to_message_id: None,
                ..info
            },
            mpc,
        )
    });
    prop_oneof![receipt, errors, pull]
}

fn messaging() -> impl Strategy<Value = Messaging> {
    (
        prop::option::of(user_message()),
        prop::collection::vec(signal_message(), 0..3),
    )
        .prop_filter_map("at least one unit", |(u, s)| Messaging::new(u, s).ok())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_valid_messaging_round_trips(m in messaging()) {
        let xml = EnvelopeBuilder::new(m.clone()).expect("strategies produce valid models").render(None);
        let parsed = Envelope::parse(xml.as_bytes(), &ParseLimits::default());
        prop_assert!(parsed.is_ok(), "{:?}\n{}", parsed.err(), xml);
        let parsed = parsed.unwrap();
        prop_assert_eq!(parsed.messaging(), &m);
    }
}
