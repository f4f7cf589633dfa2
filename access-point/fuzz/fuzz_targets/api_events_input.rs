//! Outside input of the event API: the `?types=` query of `GET /api/v1/events`, webhook secret files and the
//! `webhook-signature` header a receiver checks.
#![no_main]

use access_point::api::events::parse_types;
use access_point::api::webhooks::signature::WebhookSecret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_types(Some(&text));
    if let Ok(secret) = WebhookSecret::parse(&text) {
        let header = secret.sign("id", 1, data);
        assert!(secret.verify("id", 1, data, &header));
    }
    let fixed = WebhookSecret::parse("a fixed secret of enough bytes").unwrap();
    assert!(!fixed.verify("id", 1, b"{}", &text) || text.contains("v1,"));
});
