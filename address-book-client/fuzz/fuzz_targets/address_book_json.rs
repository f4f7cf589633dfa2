//! Address book answers are outside input: the JSON:API mapping must never panic, whatever the bytes.
#![no_main]

use address_book_client::addressbook::jsonapi;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = jsonapi::page(data, jsonapi::organisation);
    let _ = jsonapi::page(data, jsonapi::functional_address);
    if let Ok(single) = jsonapi::single(data) {
        let _ = jsonapi::organisation(&single.data);
        let _ = jsonapi::functional_address(&single.data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = address_book_client::ParticipantId::parse(text);
        let _ = address_book_client::OrganisationNumber::parse(text);
    }
});
