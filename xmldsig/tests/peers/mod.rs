//! Shared handling of third-party peers (Python lxml, xmlsec1) in the integration tests.

/// Whether the run demands every peer (`SDK_AP_REQUIRE_PEERS=1`).
pub fn peers_required() -> bool {
    std::env::var("SDK_AP_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Prints a loud skip message, or panics when peers are required.
pub fn skip(what: &str) {
    if peers_required() {
        panic!("required peer missing: {what} (SDK_AP_REQUIRE_PEERS=1)");
    }
    eprintln!("\n==================================================\nSKIPPED: {what}\n==================================================\n");
}
