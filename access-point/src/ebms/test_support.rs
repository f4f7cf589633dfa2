//! Sample messages shared by the unit tests, the integration tests and the fuzz seed generator. Not for production
//! use: the values are fixed.

use super::ids::{MessageId, Timestamp};
use super::model::*;
use super::ns;

/// The SDK AP party type.
pub const SDK_PARTY_TYPE: &str = "urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap";

fn id(s: &str) -> MessageId {
    MessageId::parse(s).expect("sample ids are valid")
}

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).expect("sample timestamps are valid")
}

/// An SDK-shaped UserMessage with `parts` attachments (`cid:part-N@sdk`).
pub fn sample_user_message(parts: usize) -> UserMessage {
    UserMessage {
        mpc: None,
        message_info: MessageInfo::new(id("4f1c2b1e-0d5c-4d7a-9d0e-1c2b3a4d5e6f@ap0001.example.se"), at("2024-05-01T10:11:12.345Z")),
        party_info: PartyInfo {
            from: Party::new(PartyId::typed("AP0001-DEV", SDK_PARTY_TYPE).unwrap(), ns::INITIATOR_ROLE),
            to: Party::new(PartyId::typed("AP0002-DEV", SDK_PARTY_TYPE).unwrap(), ns::RESPONDER_ROLE),
        },
        collaboration_info: CollaborationInfo {
            agreement_ref: Some(AgreementRef {
                value: "urn:fdc:digg.se:edelivery:agreement".into(),
                agreement_type: Some("urn:fdc:digg.se:agreement-type".into()),
                pmode: Some("sdk-message".into()),
            }),
            service: Service::new("bdx:noprocess", Some("urn:fdc:digg.se:edelivery:process".into())).unwrap(),
            action: "busdox-docid-qns::urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc".into(),
            conversation_id: "conv-1 & <2>".into(),
        },
        message_properties: vec![
            Property::typed("originalSender", "iso6523-actorid-upis", "0203:sender.example.se"),
            Property::typed("finalRecipient", "iso6523-actorid-upis", "0203:recipient.example.se"),
        ],
        payload_info: (0..parts)
            .map(|n| {
                PartInfo::new(PartRef::Cid(format!("part-{n}@sdk")))
                    .with_property(part_property::MIME_TYPE, if n == 0 { "text/xml" } else { "application/octet-stream" })
                    .with_property(part_property::COMPRESSION_TYPE, "application/gzip")
                    .with_property(part_property::CHARACTER_SET, "utf-8")
            })
            .collect(),
    }
}

/// A non-repudiation receipt for [`sample_user_message`] with two references (Body and one attachment).
pub fn sample_receipt() -> SignalMessage {
    let reference = |uri: &str, digest: u8, prefixes: Option<Vec<String>>| {
        MessagePartNRInformation::Reference(Reference {
            uri: Some(uri.to_string()),
            transforms: vec![Transform {
                algorithm: ns::EXC_C14N.to_string(),
                inclusive_namespaces: prefixes,
            }],
            digest_method: "http://www.w3.org/2001/04/xmlenc#sha256".into(),
            digest_value: vec![digest; 32],
        })
    };
    SignalMessage::receipt(
        MessageInfo::new(id("r-1@ap0002.example.se"), at("2024-05-01T10:11:13Z")),
        sample_user_message(0).message_info.message_id,
        Receipt::NonRepudiation(NonRepudiationInformation {
            parts: NonEmpty::from_vec(vec![
                reference("#body-1", 1, Some(vec!["env".into(), "eb".into()])),
                reference("cid:part-0@sdk", 2, None),
            ])
            .unwrap(),
        }),
    )
}

/// An Error signal with two errors, one fully described.
pub fn sample_error_signal() -> SignalMessage {
    let first = SignalError {
        error_code: SignalErrorCode::Known(super::ErrorCode::ValueInconsistent),
        severity: super::Severity::Failure,
        category: Some("Content".into()),
        short_description: Some("ValueInconsistent".into()),
        ref_to_message_in_error: Some("4f1c2b1e-0d5c-4d7a-9d0e-1c2b3a4d5e6f@ap0001.example.se".into()),
        origin: Some("ebMS".into()),
        description: Some(Description {
            lang: "sv".into(),
            text: "Okänd mottagare <x>".into(),
        }),
        error_detail: Some("NOT_SERVICED".into()),
    };
    let second = SignalError {
        error_code: SignalErrorCode::Other("ACME:0042".into()),
        severity: super::Severity::Warning,
        category: None,
        short_description: None,
        ref_to_message_in_error: None,
        origin: None,
        description: None,
        error_detail: None,
    };
    SignalMessage::errors(
        MessageInfo::new(id("e-1@ap0002.example.se"), at("2024-05-01T10:11:13.5Z")),
        Some(sample_user_message(0).message_info.message_id),
        NonEmpty::from_vec(vec![first, second]).unwrap(),
    )
}
