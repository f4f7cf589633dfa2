//! The configuration parser (TOML, serde, the line locator behind `file:line: setting:` errors): any input gives a
//! `Config` or a typed `ConfigError`, never a panic.
#![no_main]

use std::path::Path;

use access_point::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Config::from_toml(text, Path::new("/fuzz/sdk-ap.toml")) {
        Ok(config) => {
            let _ = config.server.endpoint_url();
            let _ = config.serves("0203:example.se");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
