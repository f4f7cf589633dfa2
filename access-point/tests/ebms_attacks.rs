//! Hostile and malformed envelopes: each must be refused with its specific error and ebMS code.

use access_point::ebms::test_support::{sample_receipt, sample_user_message};
use access_point::ebms::*;
use xmldsig::dom::DomError;

fn base() -> String {
    EnvelopeBuilder::new(Messaging::user(sample_user_message(1)))
        .unwrap()
        .with_messaging_wsu_id(WsuId::parse("m1").unwrap())
        .with_body_wsu_id(WsuId::parse("b1").unwrap())
        .render(None)
}

fn receipt_base() -> String {
    EnvelopeBuilder::new(Messaging::signal(sample_receipt()))
        .unwrap()
        .render(None)
}

fn parse(xml: &str) -> Result<ParsedEnvelope, EbmsParseError> {
    Envelope::parse(xml.as_bytes(), &ParseLimits::default())
}

fn replace_once(xml: &str, from: &str, to: &str) -> String {
    assert!(xml.contains(from), "{from} not in {xml}");
    xml.replacen(from, to, 1)
}

fn messaging_element(xml: &str) -> String {
    let start = xml.find("<eb:Messaging").unwrap();
    let end = xml.find("</eb:Messaging>").unwrap() + "</eb:Messaging>".len();
    xml[start..end].to_string()
}

fn expect(xml: &str, expected: EbmsParseError, code: ErrorCode) {
    let err = parse(xml).expect_err("must be refused");
    assert_eq!(err, expected);
    assert_eq!(err.code(), code, "{err}");
    assert_eq!(err.to_ebms_error().code, code);
}

#[test]
fn base_message_is_accepted() {
    assert!(parse(&base()).is_ok());
}

#[test]
fn second_messaging_in_header() {
    let xml = base();
    let decoy = messaging_element(&xml).replace("wsu:Id=\"m1\"", "wsu:Id=\"m2\"");
    let attacked = replace_once(&xml, "</env:Header>", &format!("{decoy}</env:Header>"));
    expect(&attacked, EbmsParseError::DuplicateMessaging, ErrorCode::InvalidHeader);
}

#[test]
fn messaging_in_body() {
    let xml = base();
    let decoy = messaging_element(&xml).replace("wsu:Id=\"m1\"", "wsu:Id=\"m2\"");
    let attacked = replace_once(&xml, "</env:Body>", &format!("{decoy}</env:Body>"));
    let err = parse(&attacked).unwrap_err();
    assert!(
        matches!(&err, EbmsParseError::MisplacedMessaging { parent } if parent.ends_with("}Body")),
        "{err}"
    );
    assert_eq!(err.code(), ErrorCode::InvalidHeader);

    // Moved: the real one only in the Body, nothing in the Header.
    let moved = replace_once(&xml, &messaging_element(&xml), "");
    let moved = replace_once(
        &moved,
        "</env:Body>",
        &format!("{}</env:Body>", messaging_element(&xml)),
    );
    assert!(matches!(parse(&moved), Err(EbmsParseError::MisplacedMessaging { .. })));
}

#[test]
fn messaging_wrapped_in_another_header_block() {
    let xml = base();
    let original = messaging_element(&xml);
    let decoy = original.replace("wsu:Id=\"m1\"", "wsu:Id=\"m2\"");
    let wrapped = format!("<x:Wrapper xmlns:x=\"urn:x\">{decoy}</x:Wrapper>");
    let attacked = replace_once(&xml, &original, &format!("{wrapped}{original}"));
    assert!(
        matches!(parse(&attacked), Err(EbmsParseError::MisplacedMessaging { parent }) if parent == "{urn:x}Wrapper")
    );
}

#[test]
fn dtd_and_entities_are_refused() {
    let xml = base().replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "");
    let with_dtd = format!("<!DOCTYPE env:Envelope [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>{xml}");
    expect(&with_dtd, EbmsParseError::DtdRefused, ErrorCode::InvalidHeader);
    let external = format!("<!DOCTYPE x SYSTEM \"file:///etc/passwd\">{xml}");
    expect(&external, EbmsParseError::DtdRefused, ErrorCode::InvalidHeader);
    let undeclared = replace_once(&xml, "AP0001-DEV", "&xxe;");
    assert!(matches!(
        parse(&undeclared),
        Err(EbmsParseError::Xml(DomError::Malformed { .. }))
    ));
}

#[test]
fn duplicate_or_misordered_header_and_body() {
    let xml = base();
    let dup_header = replace_once(&xml, "<env:Body", "<env:Header/><env:Body");
    expect(&dup_header, EbmsParseError::DuplicateHeader, ErrorCode::InvalidHeader);
    let dup_body = replace_once(&xml, "</env:Envelope>", "<env:Body/></env:Envelope>");
    expect(&dup_body, EbmsParseError::DuplicateBody, ErrorCode::InvalidHeader);
    let start = xml.find("<env:Header>").unwrap();
    let end = xml.find("</env:Header>").unwrap() + "</env:Header>".len();
    let header = &xml[start..end];
    let no_header = xml.replacen(header, "", 1);
    expect(&no_header, EbmsParseError::MissingHeader, ErrorCode::InvalidHeader);
    let body_first = replace_once(&no_header, "</env:Envelope>", &format!("{header}</env:Envelope>"));
    assert!(matches!(parse(&body_first), Err(EbmsParseError::EnvelopeStructure(_))));
    let body_start = xml.find("<env:Body").unwrap();
    let body_end = xml.find("</env:Body>").unwrap() + "</env:Body>".len();
    let no_body = xml.replacen(&xml[body_start..body_end], "", 1);
    expect(&no_body, EbmsParseError::MissingBody, ErrorCode::InvalidHeader);
    let extra = replace_once(&xml, "</env:Envelope>", "<x:After xmlns:x=\"urn:x\"/></env:Envelope>");
    assert!(matches!(parse(&extra), Err(EbmsParseError::EnvelopeStructure(_))));
    let text = replace_once(&xml, "<env:Body", "junk<env:Body");
    assert!(matches!(parse(&text), Err(EbmsParseError::EnvelopeStructure(_))));
}

#[test]
fn soap_versions_and_roots() {
    let soap11 = base().replace(ns::SOAP12, ns::SOAP11);
    expect(&soap11, EbmsParseError::Soap11, ErrorCode::InvalidHeader);
    assert!(parse(&soap11).unwrap_err().to_string().contains("SOAP 1.2"));
    let other = base().replace(ns::SOAP12, "urn:not-soap");
    assert!(matches!(parse(&other), Err(EbmsParseError::NotSoapEnvelope { .. })));
    assert!(matches!(
        parse("<Envelope/>"),
        Err(EbmsParseError::NotSoapEnvelope { .. })
    ));
    assert!(matches!(parse(""), Err(EbmsParseError::Xml(_))));
}

#[test]
fn duplicate_wsu_ids_are_refused() {
    let xml = base().replace("wsu:Id=\"b1\"", "wsu:Id=\"m1\"");
    expect(
        &xml,
        EbmsParseError::DuplicateWsuId("m1".into()),
        ErrorCode::InvalidHeader,
    );
}

#[test]
fn security_headers() {
    let xml = base();
    let one = "<wsse:Security><wsu:Timestamp wsu:Id=\"t1\"/></wsse:Security>";
    let parsed = parse(&replace_once(&xml, "<env:Header>", &format!("<env:Header>{one}"))).unwrap();
    assert!(parsed.security_node().is_some());
    let two = format!("<env:Header>{one}<wsse:Security/>");
    expect(
        &replace_once(&xml, "<env:Header>", &two),
        EbmsParseError::DuplicateSecurityHeader,
        ErrorCode::PolicyNoncompliance,
    );
    // A Security header for another role is not ours and is not counted.
    let other_role = format!("<env:Header>{one}<wsse:Security env:role=\"urn:other\"/>");
    let parsed = parse(&replace_once(&xml, "<env:Header>", &other_role)).unwrap();
    assert!(parsed
        .document()
        .element(parsed.security_node().unwrap())
        .unwrap()
        .attributes
        .is_empty());
}

#[test]
fn unknown_mandatory_headers_are_refused() {
    let xml = base();
    let block = "<env:Header><x:Must xmlns:x=\"urn:x\" env:mustUnderstand=\"true\"/>";
    let err = parse(&replace_once(&xml, "<env:Header>", block)).unwrap_err();
    assert_eq!(err, EbmsParseError::NotUnderstood("{urn:x}Must".into()));
    let optional = "<env:Header><x:May xmlns:x=\"urn:x\" env:mustUnderstand=\"false\"/>";
    assert!(parse(&replace_once(&xml, "<env:Header>", optional)).is_ok());
    let elsewhere = "<env:Header><x:Must xmlns:x=\"urn:x\" env:mustUnderstand=\"true\" env:role=\"urn:other\"/>";
    assert!(parse(&replace_once(&xml, "<env:Header>", elsewhere)).is_ok());
    let unqualified = "<env:Header><Plain/>";
    assert!(matches!(
        parse(&replace_once(&xml, "<env:Header>", unqualified)),
        Err(EbmsParseError::EnvelopeStructure(_))
    ));
}

#[test]
fn processing_instructions_are_refused() {
    let xml = replace_once(&base(), "<env:Body", "<?evil x?><env:Body");
    assert!(matches!(parse(&xml), Err(EbmsParseError::EnvelopeStructure(_))));
}

#[test]
fn value_errors_carry_their_codes() {
    let xml = base();
    let untyped = replace_once(
        &xml,
        "<eb:PartyId type=\"urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap\">AP0001-DEV",
        "<eb:PartyId>AP0001-DEV",
    );
    assert_eq!(parse(&untyped).unwrap_err().code(), ErrorCode::ValueInconsistent);
    let untyped_uri = replace_once(
        &xml,
        "<eb:PartyId type=\"urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap\">AP0001-DEV",
        "<eb:PartyId>urn:x:AP0001",
    );
    assert!(parse(&untyped_uri).is_ok());
    let service = replace_once(
        &xml,
        "<eb:Service type=\"urn:fdc:digg.se:edelivery:process\">bdx:",
        "<eb:Service>",
    );
    assert_eq!(parse(&service).unwrap_err().code(), ErrorCode::ValueInconsistent);
    // "bdx:noprocess" is itself a URI, so without the type it is still acceptable.
    let service_uri = replace_once(
        &xml,
        "<eb:Service type=\"urn:fdc:digg.se:edelivery:process\">",
        "<eb:Service>",
    );
    assert!(parse(&service_uri).is_ok());

    let bad_id = replace_once(&xml, "@ap0001.example.se</eb:MessageId>", "</eb:MessageId>");
    let err = parse(&bad_id).unwrap_err();
    assert!(
        matches!(
            err,
            EbmsParseError::InvalidValue {
                location: "eb:MessageId",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.code(), ErrorCode::InvalidHeader);
    let bracketed = replace_once(&xml, "<eb:MessageId>", "<eb:MessageId>&lt;").replacen(
        "</eb:MessageId>",
        "&gt;</eb:MessageId>",
        1,
    );
    assert!(matches!(
        parse(&bracketed),
        Err(EbmsParseError::InvalidValue {
            location: "eb:MessageId",
            ..
        })
    ));

    let bad_time = replace_once(&xml, "2024-05-01T10:11:12.345Z", "2024-05-01T12:11:12.345+02:00");
    assert!(matches!(
        parse(&bad_time),
        Err(EbmsParseError::InvalidValue {
            location: "eb:Timestamp",
            ..
        })
    ));

    let start = xml.find("<eb:To>").unwrap();
    let end = xml.find("</eb:To>").unwrap() + "</eb:To>".len();
    let no_to = xml.replacen(&xml[start..end], "", 1);
    expect(
        &no_to,
        EbmsParseError::Missing {
            element: "eb:To",
            within: "eb:PartyInfo",
        },
        ErrorCode::InvalidHeader,
    );

    let no_action = replace_once(&xml, "<eb:Action>", "<eb:Other>").replacen("</eb:Action>", "</eb:Other>", 1);
    assert!(matches!(parse(&no_action), Err(EbmsParseError::Unexpected { .. })));

    let external = replace_once(&xml, "href=\"cid:part-0@sdk\"", "href=\"http://evil.example/x\"");
    expect(
        &external,
        EbmsParseError::ExternalPayload("http://evil.example/x".into()),
        ErrorCode::ExternalPayloadError,
    );

    let empty_props = {
        let s = xml.find("<eb:MessageProperties>").unwrap();
        let e = xml.find("</eb:MessageProperties>").unwrap();
        format!("{}{}", &xml[..s + "<eb:MessageProperties>".len()], &xml[e..])
    };
    expect(
        &empty_props,
        EbmsParseError::Missing {
            element: "eb:Property",
            within: "eb:MessageProperties",
        },
        ErrorCode::InvalidHeader,
    );

    let text_inside = replace_once(&xml, "<eb:PartyInfo>", "<eb:PartyInfo>stray");
    assert!(matches!(parse(&text_inside), Err(EbmsParseError::Unexpected { .. })));

    let nested = replace_once(&xml, "<eb:Action>", "<eb:Action><b>x</b>");
    assert!(matches!(parse(&nested), Err(EbmsParseError::Unexpected { .. })));

    let must = replace_once(
        &xml,
        "env:mustUnderstand=\"true\" wsu:Id=\"m1\"",
        "env:mustUnderstand=\"yes\" wsu:Id=\"m1\"",
    );
    assert!(matches!(parse(&must), Err(EbmsParseError::InvalidValue { .. })));
}

#[test]
fn bundling_rules() {
    let xml = base();
    let user = {
        let s = xml.find("<eb:UserMessage").unwrap();
        let e = xml.find("</eb:UserMessage>").unwrap() + "</eb:UserMessage>".len();
        xml[s..e].to_string()
    };
    let two = replace_once(&xml, "</eb:Messaging>", &format!("{user}</eb:Messaging>"));
    let err = parse(&two).unwrap_err();
    assert!(matches!(err, EbmsParseError::NotSupported(_)));
    assert_eq!(err.code(), ErrorCode::FeatureNotSupportedFailure);
    let empty = xml.replacen(&user, "", 1);
    assert!(matches!(
        parse(&empty),
        Err(EbmsParseError::Missing {
            within: "eb:Messaging",
            ..
        })
    ));
    // Foreign extension elements inside eb:Messaging are allowed by the schema (##other) and ignored.
    let extended = replace_once(&xml, "</eb:Messaging>", "<x:Ext xmlns:x=\"urn:x\"/></eb:Messaging>");
    assert!(parse(&extended).is_ok());
}

#[test]
fn receipt_errors() {
    let xml = receipt_base();
    assert!(parse(&xml).is_ok());
    let s = xml.find("<eb:RefToMessageId>").unwrap();
    let e = xml.find("</eb:RefToMessageId>").unwrap() + "</eb:RefToMessageId>".len();
    let no_ref = xml.replacen(&xml[s..e], "", 1);
    assert!(matches!(
        parse(&no_ref),
        Err(EbmsParseError::Missing {
            element: "eb:RefToMessageId",
            ..
        })
    ));
    let s = xml.find("<ebbp:NonRepudiationInformation").unwrap();
    let e = xml.find("</ebbp:NonRepudiationInformation>").unwrap() + "</ebbp:NonRepudiationInformation>".len();
    let unknown = xml.replacen(&xml[s..e], "<x:Proof xmlns:x=\"urn:x\"/>", 1);
    assert_eq!(parse(&unknown).unwrap_err().code(), ErrorCode::ValueNotRecognized);
    let empty = xml.replacen(&xml[s..e], "", 1);
    assert!(matches!(
        parse(&empty),
        Err(EbmsParseError::InvalidValue {
            location: "eb:Receipt",
            ..
        })
    ));
    let bad_digest = {
        let s = xml.find("<ds:DigestValue>").unwrap() + "<ds:DigestValue>".len();
        format!("{}!!!{}", &xml[..s], &xml[s..])
    };
    assert!(matches!(
        parse(&bad_digest),
        Err(EbmsParseError::InvalidValue {
            location: "ds:DigestValue",
            ..
        })
    ));
    let both = replace_once(&xml, "</eb:Receipt>", "</eb:Receipt><eb:PullRequest/>");
    assert!(matches!(
        parse(&both),
        Err(EbmsParseError::InvalidValue {
            location: "eb:SignalMessage",
            ..
        })
    ));
}

#[test]
fn error_signal_errors() {
    let xml = EnvelopeBuilder::new(Messaging::signal(
        access_point::ebms::test_support::sample_error_signal(),
    ))
    .unwrap()
    .render(None);
    assert!(parse(&xml).is_ok());
    let bad = replace_once(&xml, "severity=\"failure\"", "severity=\"fatal\"");
    assert!(matches!(
        parse(&bad),
        Err(EbmsParseError::InvalidValue {
            location: "eb:Error/@severity",
            ..
        })
    ));
    let no_lang = replace_once(&xml, "xml:lang=\"sv\"", "");
    assert!(matches!(
        parse(&no_lang),
        Err(EbmsParseError::Missing {
            element: "xml:lang",
            ..
        })
    ));
    let no_code = replace_once(&xml, "errorCode=\"EBMS:0003\"", "");
    assert!(matches!(
        parse(&no_code),
        Err(EbmsParseError::Missing {
            element: "errorCode",
            ..
        })
    ));
}

#[test]
fn limits_apply() {
    let xml = base();
    let small = ParseLimits {
        max_bytes: 100,
        ..ParseLimits::default()
    };
    let err = Envelope::parse(xml.as_bytes(), &small).unwrap_err();
    assert!(matches!(
        err,
        EbmsParseError::Xml(DomError::LimitExceeded { limit: "max_bytes", .. })
    ));
    assert_eq!(err.code(), ErrorCode::InvalidHeader);
}
