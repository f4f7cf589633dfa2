//! Fuzzes the ebMS envelope parser. Any input must give a typed result, never a panic; and whatever parses must
//! render (the builder accepts every parsed model) and read back to the same model.
#![no_main]

use access_point::ebms::{Envelope, EnvelopeBuilder, MessageIdPolicy, ParseLimits, ParseOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = ParseLimits {
        max_bytes: 256 * 1024,
        ..ParseLimits::default()
    };
    let options = ParseOptions {
        message_id_policy: MessageIdPolicy::Lenient,
    };
    let strict = Envelope::parse(data, &limits);
    let lenient = Envelope::parse_with(data, &limits, &options);
    if let Ok(strict) = &strict {
        let lenient = lenient.as_ref().expect("strict success implies lenient success");
        assert_eq!(strict.messaging(), lenient.messaging());
    }
    let Ok(parsed) = lenient else { return };
    if let Err(e) = &strict {
        let _ = (e.code(), e.to_string());
    }
    let builder = EnvelopeBuilder::new(parsed.messaging().clone()).expect("every parsed model can be rendered");
    let xml = builder.render(None);
    let again = Envelope::parse_with(xml.as_bytes(), &ParseLimits::default(), &options).expect("rendered XML parses");
    assert_eq!(again.messaging(), parsed.messaging());
});
