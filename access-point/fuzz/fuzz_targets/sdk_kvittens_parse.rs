//! The kvittens (ApplicationResponse) parser and DIGG's kvittens rules: any input gives a `Kvittens` or a typed
//! error, never a panic; a parsed kvittens renders and re-parses to itself.
#![no_main]

use access_point::sdk::kvittens::Kvittens;
use libfuzzer_sys::fuzz_target;
use xmldsig::dom::ParseLimits;

fuzz_target!(|data: &[u8]| {
    let limits = ParseLimits {
        max_bytes: 1 << 20,
        ..ParseLimits::default()
    };
    if let Ok(kvittens) = Kvittens::parse(data, &limits) {
        let xml = kvittens.render().expect("a valid kvittens renders");
        assert_eq!(
            Kvittens::parse(xml.as_bytes(), &ParseLimits::default()).expect("own rendering re-parses"),
            kvittens
        );
    }
});
