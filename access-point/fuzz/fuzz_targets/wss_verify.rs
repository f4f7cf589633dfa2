//! Fuzz target: the WS-Security verification of a received envelope (`wss::verify::verify_security_header`, with
//! the token and timestamp parsers beneath it). The certificates the input carries are made trust anchors and the
//! clock skew is a century, so mutated signed seeds get past trust and time into reference and digest checks.
#![no_main]

use access_point::ebms::{Envelope, ParseLimits};
use access_point::pki::TrustStore;
use access_point::wss::token::binary_security_tokens;
use access_point::wss::verify::{verify_security_header, VerificationPolicy};
use libfuzzer_sys::fuzz_target;
use openssl::x509::X509;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = Envelope::parse(data, &ParseLimits::default()) else {
        return;
    };
    let anchors: Vec<X509> = envelope
        .security_node()
        .and_then(|s| binary_security_tokens(envelope.document(), s).ok())
        .map(|tokens| tokens.values().filter_map(|der| X509::from_der(der).ok()).collect())
        .unwrap_or_default();
    let trust = TrustStore::new(anchors);
    for pmode in [pmode::builtin::sdk_message()] {
        let mut policy = VerificationPolicy::from_pmode(&pmode).expect("built-in P-Modes sign");
        policy.clock_skew = time::Duration::days(36500);
        let attachments = ["part-0@sdk", "part-1@sdk"];
        let _ = verify_security_header(
            &envelope,
            &attachments,
            Some("AP0001-DEV"),
            &policy,
            &trust,
            time::OffsetDateTime::now_utc(),
        );
    }
});
