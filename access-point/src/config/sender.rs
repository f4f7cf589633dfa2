//! `[sender]`: the sender task of the MSH (owned by the `msh` module).

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// Default `[sender] compression_level`.
pub const DEFAULT_COMPRESSION_LEVEL: u32 = 1;
/// Highest gzip level.
pub const MAX_COMPRESSION_LEVEL: u32 = 9;

/// `[sender]`: how outbound messages are sent. Times are milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SenderConfig {
    /// Most send attempts in flight at once (each holds one outbound connection and its sealed body on disk).
    #[serde(deserialize_with = "positive")]
    pub max_in_flight: u64,
    /// An attempt running longer is abandoned and retried by the P-Mode's policy. Keep it below the store's send
    /// lease (300 s), so no second attempt starts while the first still runs.
    #[serde(deserialize_with = "positive")]
    pub attempt_timeout_ms: u64,
    /// Longest sleep of the sender when nothing is scheduled (submissions and the retry schedule wake it anyway).
    #[serde(deserialize_with = "positive")]
    pub idle_poll_ms: u64,
    /// gzip level (0 = stored, 1 = fastest … 9 = smallest) for payloads the P-Mode compresses. Level 1 compresses
    /// XML about as well as 6 at several times the speed, and incompressible data (PDF, images, zip) gains nothing
    /// from higher levels (docs/performance.md, "Session 4: streaming 1 GiB"). Keep it unchanged while messages are
    /// pending: a retry sealed at another level signs other digests than the receipt a peer stored for the first copy.
    #[serde(deserialize_with = "compression_level")]
    pub compression_level: u32,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            max_in_flight: 16,
            attempt_timeout_ms: 240_000,
            idle_poll_ms: 5_000,
            compression_level: DEFAULT_COMPRESSION_LEVEL,
        }
    }
}

impl SenderConfig {
    pub fn attempt_timeout(&self) -> Duration {
        Duration::from_millis(self.attempt_timeout_ms)
    }

    pub fn idle_poll(&self) -> Duration {
        Duration::from_millis(self.idle_poll_ms)
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

fn compression_level<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    use serde::de::Error as _;
    let v = i64::deserialize(d)?;
    match u32::try_from(v) {
        Ok(level) if level <= MAX_COMPRESSION_LEVEL => Ok(level),
        _ => Err(D::Error::custom(format!(
            "must be a gzip level from 0 to {MAX_COMPRESSION_LEVEL}, got {v}"
        ))),
    }
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
        assert_eq!(config.sender.max_in_flight, 16);
        let text = format!("{}[sender]\nmax_in_flight = 4\nattempt_timeout_ms = 1000\n", base());
        let config = Config::from_toml(&text, Path::new("x.toml")).unwrap();
        assert_eq!(config.sender.max_in_flight, 4);
        assert_eq!(config.sender.attempt_timeout().as_millis(), 1000);
        assert_eq!(config.sender.idle_poll_ms, 5_000);
    }

    #[test]
    fn zero_and_unknown_settings_are_refused_with_their_name() {
        let text = format!("{}[sender]\nmax_in_flight = 0\n", base());
        let err = Config::from_toml(&text, Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("max_in_flight") && err.contains("positive"), "{err}");
        let text = format!("{}[sender]\nmax_inflight = 3\n", base());
        assert!(Config::from_toml(&text, Path::new("x.toml")).is_err());
    }

    #[test]
    fn compression_level_defaults_and_is_range_checked_with_its_line() {
        let config = Config::from_toml(&base(), Path::new("x.toml")).unwrap();
        assert_eq!(config.sender.compression_level, super::DEFAULT_COMPRESSION_LEVEL);
        for level in [0, 6, 9] {
            let text = format!("{}[sender]\ncompression_level = {level}\n", base());
            let config = Config::from_toml(&text, Path::new("x.toml")).unwrap();
            assert_eq!(config.sender.compression_level, level);
        }
        let line = base().lines().count() + 2;
        for bad in ["10", "-1", "\"fast\""] {
            let text = format!("{}[sender]\ncompression_level = {bad}\n", base());
            let err = Config::from_toml(&text, Path::new("x.toml")).unwrap_err().to_string();
            assert!(err.contains("compression_level"), "{err}");
            assert!(err.contains(&format!("x.toml:{line}")), "{line}: {err}");
        }
    }
}
