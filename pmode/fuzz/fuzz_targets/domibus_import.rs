//! The Domibus importer never panics, and what it produces is valid and survives a TOML round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(pmodes) = pmode::domibus::import(data) {
        let rendered = pmode::to_toml(&pmodes);
        let again: Vec<pmode::PMode> = pmode::load_str(&rendered, "imported.toml")
            .unwrap_or_else(|e| panic!("imported P-Modes do not load: {e}\n{rendered}"))
            .into_iter()
            .map(|l| l.pmode)
            .collect();
        assert_eq!(pmodes, again);
    }
});
