//! The XHE envelope parser and DIGG's XHE rules, and the TF-10 consistency check: any input gives an `Xhe` or a
//! typed error, never a panic; a parsed envelope renders and re-parses to itself.
#![no_main]

use access_point::sdk::consistency::{check_envelope, As4Addressing};
use access_point::sdk::xhe::Xhe;
use libfuzzer_sys::fuzz_target;
use xmldsig::dom::ParseLimits;

fuzz_target!(|data: &[u8]| {
    let limits = ParseLimits {
        max_bytes: 1 << 20,
        ..ParseLimits::default()
    };
    if let Ok(xhe) = Xhe::parse(data, &limits) {
        let as4 = As4Addressing {
            original_sender: "0203:a.se",
            final_recipient: "0203:b.se",
            service: "bdx:noprocess",
            service_type: None,
            action: "x",
        };
        let _ = check_envelope(&xhe, &as4);
        if let Ok(xml) = xhe.render() {
            assert_eq!(
                Xhe::parse(xml.as_bytes(), &ParseLimits::default()).expect("own rendering re-parses"),
                xhe
            );
        }
    }
});
