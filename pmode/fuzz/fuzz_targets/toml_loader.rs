//! The P-Mode TOML loader never panics, and what it accepts renders to TOML that loads back to the same P-Modes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match pmode::load_str(text, "fuzz.toml") {
        Ok(loaded) => {
            let pmodes: Vec<pmode::PMode> = loaded.into_iter().map(|l| l.pmode).collect();
            let rendered = pmode::to_toml(&pmodes);
            let again: Vec<pmode::PMode> = pmode::load_str(&rendered, "rendered.toml")
                .unwrap_or_else(|e| panic!("rendered P-Modes do not load: {e}\n{rendered}"))
                .into_iter()
                .map(|l| l.pmode)
                .collect();
            assert_eq!(pmodes, again);
        }
        Err(errors) => {
            assert!(!errors.0.is_empty());
            // Every error displays with its file name.
            for e in &errors.0 {
                assert!(e.to_string().starts_with("fuzz.toml"));
            }
        }
    }
});
