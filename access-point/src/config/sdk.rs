//! `[sdk]`: the SDK business layer on received messages (inbox, kvittens), owned by `sdk::inbound`.

use serde::{Deserialize, Deserializer};

/// `[sdk]`: how received SDK messages are classified and answered.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SdkConfig {
    /// Send a kvittens ACCEPTED automatically for every valid inbox message (otherwise the message system sends
    /// ACCEPTED or REJECTED through the API).
    pub auto_accept: bool,
    /// Largest XHE envelope the classifier reads into memory, in bytes, counted without the base64 contents of
    /// the SDK message's attachments (those are streamed, never held). A larger envelope is dropped as malformed.
    #[serde(deserialize_with = "positive")]
    pub max_envelope_bytes: u64,
    /// How many inbound messages the classifier works on at once (the AS4 receipt never waits for it).
    #[serde(deserialize_with = "positive")]
    pub classify_concurrency: u64,
}

impl Default for SdkConfig {
    fn default() -> Self {
        SdkConfig {
            auto_accept: false,
            max_envelope_bytes: 8 * 1024 * 1024,
            classify_concurrency: 4,
        }
    }
}

fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    use serde::de::Error as _;
    let v = i64::deserialize(d)?;
    if v <= 0 {
        return Err(D::Error::custom(format!("must be a positive number, got {v}")));
    }
    Ok(v as u64)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    fn base() -> String {
        crate::cli::init::render_config("AP0001-DEV", 8443, 8080)
    }

    #[test]
    fn defaults_and_overrides() {
        let config = Config::from_toml(&base(), Path::new("x.toml")).unwrap();
        assert!(!config.sdk.auto_accept);
        let text = format!("{}[sdk]\nauto_accept = true\nmax_envelope_bytes = 1024\n", base());
        let config = Config::from_toml(&text, Path::new("x.toml")).unwrap();
        assert!(config.sdk.auto_accept);
        assert_eq!(config.sdk.max_envelope_bytes, 1024);
    }

    #[test]
    fn zero_and_unknown_settings_are_refused_with_file_and_line() {
        let text = format!("{}[sdk]\nmax_envelope_bytes = 0\n", base());
        let err = Config::from_toml(&text, Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("max_envelope_bytes") && err.contains("positive"), "{err}");
        assert!(err.contains("x.toml"), "{err}");
        let text = format!("{}[sdk]\nauto_acept = true\n", base());
        assert!(Config::from_toml(&text, Path::new("x.toml")).is_err());
    }
}
