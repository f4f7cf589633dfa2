//! The SDK message v3 parser (XSD structure, MessageConstraints rules, base64 attachments): any input gives an
//! `SdkMessage` or a typed error, never a panic.
#![no_main]

use access_point::sdk::message_v3::SdkMessage;
use libfuzzer_sys::fuzz_target;
use xmldsig::dom::ParseLimits;

fuzz_target!(|data: &[u8]| {
    let limits = ParseLimits {
        max_bytes: 1 << 20,
        ..ParseLimits::default()
    };
    if let Ok(message) = SdkMessage::parse(data, &limits) {
        let _ = message.render();
    }
});
