//! Real-world shapes: the AS4 examples DIGG publishes with the SDK message specification
//! (../shared/sdk-spec/repo/.../example/*.xml, read in place). They are Domibus back-end submissions rather than wire
//! messages: no Timestamp, no To party, no ConversationId, and a bare UUID as MessageId. The test checks that the
//! parser refuses them for the right reason, and that once completed they read with the expected values.

use std::path::{Path, PathBuf};

use access_point::ebms::*;

fn shared_repo() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/sdk-spec/repo");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("SDK_AP_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{} is missing", dir.display());
    }
    eprintln!(
        "SKIPPED: {} is missing (the DIGG specification repository)",
        dir.display()
    );
    None
}

/// Every XML file under `dir` that holds an ebMS3 Messaging header.
fn ebms_examples(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            ebms_examples(&path, found);
        } else if path.extension().is_some_and(|e| e == "xml") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.contains(ns::EB) && text.contains(":Messaging") {
                found.push(path);
            }
        }
    }
}

/// Adds what a wire message must carry and the submissions leave to Domibus.
fn complete(xml: &str, prefix: &str) -> String {
    let p = prefix;
    xml.replacen(
        &format!("<{p}:MessageId>"),
        &format!("<{p}:Timestamp>2022-10-13T18:14:23.429Z</{p}:Timestamp><{p}:MessageId>"),
        1,
    )
    .replacen(
        &format!("</{p}:From>"),
        &format!(
            "</{p}:From><{p}:To><{p}:PartyId type=\"urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap\">\
             AP0001-OPEN-TEST</{p}:PartyId><{p}:Role>{}</{p}:Role></{p}:To>",
            ns::RESPONDER_ROLE
        ),
        1,
    )
    .replacen(
        &format!("</{p}:Action>"),
        &format!("</{p}:Action><{p}:ConversationId>c1</{p}:ConversationId>"),
        1,
    )
}

#[test]
fn digg_examples_read_as_expected() {
    let Some(repo) = shared_repo() else { return };
    let mut files = Vec::new();
    ebms_examples(&repo, &mut files);
    assert!(
        files.len() >= 2,
        "expected DIGG's AS4 examples under {}",
        repo.display()
    );
    let lenient = ParseOptions {
        message_id_policy: MessageIdPolicy::Lenient,
    };
    for file in files {
        let xml = std::fs::read_to_string(&file).unwrap();
        let name = file.display();
        let err = Envelope::parse(xml.as_bytes(), &ParseLimits::default()).unwrap_err();
        assert_eq!(
            err,
            EbmsParseError::Missing {
                element: "eb:Timestamp",
                within: "eb:MessageInfo"
            },
            "{name}"
        );
        assert_eq!(err.code(), ErrorCode::InvalidHeader);

        let completed = complete(&xml, "ns");
        let strict = Envelope::parse(completed.as_bytes(), &ParseLimits::default()).unwrap_err();
        assert!(
            matches!(
                strict,
                EbmsParseError::InvalidValue {
                    location: "eb:MessageId",
                    ..
                }
            ),
            "{name}: {strict}"
        );
        let parsed = Envelope::parse_with(completed.as_bytes(), &ParseLimits::default(), &lenient)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let user = parsed.messaging().user_message().expect("a UserMessage");
        assert!(!user.message_info.message_id.is_rfc2822());
        let from = user.party_info.from.single_party_id().unwrap();
        assert_eq!(from.value(), "AP0007-OPEN-TEST");
        assert_eq!(
            from.party_type(),
            Some("urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap")
        );
        assert_eq!(user.party_info.from.role, ns::INITIATOR_ROLE);
        assert_eq!(user.collaboration_info.service.value(), "bdx:noprocess");
        assert_eq!(
            user.collaboration_info.service.service_type(),
            Some("urn:fdc:digg.se:edelivery:process")
        );
        assert!(user.collaboration_info.action.contains("MessageWithAttachments:3"));
        assert!(user
            .property("originalSender")
            .is_some_and(|p| p.property_type.as_deref() == Some("iso6523-actorid-upis")));
        assert!(user.property("finalRecipient").is_some());
        assert_eq!(user.payload_info.len(), 1);
        assert_eq!(user.payload_info[0].part_ref, PartRef::Cid("message".into()));
        assert_eq!(user.payload_info[0].mime_type(), Some("text/xml"));
        assert_eq!(user.effective_mpc(), ns::DEFAULT_MPC);
        assert!(user.check_as4_profile().is_ok());
        assert!(!user.is_test_message());
        assert!(parsed.security_node().is_none());

        // What we would send in its place renders and reads back identically (with a strict id).
        let mut ours = user.clone();
        ours.message_info.message_id =
            MessageId::parse(&format!("{}@ap.example.se", user.message_info.message_id)).unwrap();
        let xml = EnvelopeBuilder::new(Messaging::user(ours.clone()))
            .unwrap()
            .render(None);
        let back = Envelope::parse(xml.as_bytes(), &ParseLimits::default()).unwrap();
        assert_eq!(back.messaging().user_message(), Some(&ours));
    }
}
