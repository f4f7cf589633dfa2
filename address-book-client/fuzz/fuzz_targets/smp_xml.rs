//! SMP answers are outside input: parsing a service group or service metadata, endpoint selection and the NAPTR
//! regexp must never panic, whatever the bytes.
#![no_main]

use address_book_client::smp::select::{default_transport_profiles, select_endpoint};
use address_book_client::smp::xml::{parse_document, parse_service_group, parse_service_information, smp_parse_limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = smp_parse_limits(1 << 20);
    if let Ok(doc) = parse_document(data, &limits) {
        let _ = parse_service_group(&doc);
        if let Ok(info) = parse_service_information(&doc) {
            let _ = select_endpoint(&info, &default_transport_profiles(), time::OffsetDateTime::UNIX_EPOCH);
            for p in &info.processes {
                for e in &p.endpoints {
                    let _ = address_book_client::smp::select::ap_certificate(&e.certificate_der);
                }
            }
        }
        let _ = xmldsig::find_enveloped_signature(&doc);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = address_book_client::sml::apply_naptr_regexp(text);
    }
});
