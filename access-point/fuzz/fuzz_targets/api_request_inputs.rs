//! Outside input of the local API's request parsers: the first byte picks the parser, the rest is its input.
//! Covers the DIGG filter query and createMessage body (and its mapping to an SDK message), the raw and SDK submit
//! metadata, the inbox list query, ack and kvittens bodies, path-segment percent decoding, API tokens and stored
//! token scopes. Only pure functions: no node, no network, no files.
#![no_main]

use access_point::api::digg::document::{attributes_of, CreateDocument};
use access_point::api::digg::read::Filter;
use access_point::api::inbox::{parse_list_query, AckRequest, KvittensBody};
use access_point::api::server::{percent_decode, percent_encode};
use access_point::api::submit::{SdkSubmitRequest, SubmitRequest};
use access_point::api::tokens::{ApiToken, StoredScope};
use access_point::sdk::message_v3::SdkMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(input);
    match selector % 8 {
        0 => {
            let _ = Filter::parse(Some(&text));
        }
        1 => create_document(input),
        2 => {
            let _ = serde_json::from_slice::<SubmitRequest>(input);
        }
        3 => {
            let _ = serde_json::from_slice::<SdkSubmitRequest>(input);
        }
        4 => {
            let _ = parse_list_query(Some(&text));
            let _ = serde_json::from_slice::<AckRequest>(input);
            let _ = serde_json::from_slice::<KvittensBody>(input);
        }
        5 => {
            if let Some(decoded) = percent_decode(&text) {
                // What the client encodes must decode to the same id.
                assert_eq!(
                    percent_decode(&percent_encode(&decoded)).as_deref(),
                    Some(decoded.as_str())
                );
            }
        }
        6 => {
            if let Some(token) = ApiToken::parse(&text) {
                // One token has exactly one spelling.
                assert_eq!(token.to_string(), text.trim());
            }
        }
        _ => {
            let _ = StoredScope::parse(&text);
        }
    }
});

/// A createMessage body, mapped to the SDK message the access point would send; what it renders must parse back.
fn create_document(input: &[u8]) {
    let Ok(document) = serde_json::from_slice::<CreateDocument>(input) else {
        return;
    };
    let Ok(message) = document.data.to_sdk_message() else {
        return;
    };
    let _ = attributes_of(&message, "sent", true);
    if let Ok(xml) = message.render() {
        let parsed = SdkMessage::parse(xml.as_bytes(), &xmldsig::dom::ParseLimits::default());
        assert!(parsed.is_ok(), "rendered SDK message does not parse: {parsed:?}\n{xml}");
    }
}
