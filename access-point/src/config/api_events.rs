//! `[api.events]` (server-sent events and webhook retries) and `[[api.webhooks]]` (where events are POSTed), owned by
//! the API's event modules (`api::events`, `api::webhooks`).

use std::path::PathBuf;
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::{Config, ConfigError};
use crate::msh::events::EVENT_TYPES;

/// `[api.events]`: the event stream and webhook delivery. Times are milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Most recent events kept in memory so a client reconnecting with `Last-Event-ID` resumes without a gap
    /// (0: no replay; every resume is reported as a gap).
    pub replay_events: u64,
    /// A comment line is sent on an idle event stream this often, so proxies and clients see it alive.
    #[serde(deserialize_with = "positive")]
    pub heartbeat_ms: u64,
    /// Most event streams open at once (all callers together); one more is answered `503`.
    #[serde(deserialize_with = "positive")]
    pub max_streams: u64,
    /// Attempts per webhook delivery (the first included) before it is dead-lettered.
    #[serde(deserialize_with = "positive")]
    pub webhook_attempts: u64,
    /// Wait before the second attempt; doubled after each further failure.
    #[serde(deserialize_with = "positive")]
    pub webhook_base_delay_ms: u64,
    /// Longest wait between two attempts.
    #[serde(deserialize_with = "positive")]
    pub webhook_max_delay_ms: u64,
    /// Most deliveries pending per webhook (on disk and in memory); an event beyond it is not queued for that
    /// webhook (logged, and counted as `outcome="dropped"`).
    #[serde(deserialize_with = "positive")]
    pub webhook_max_pending: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            replay_events: 1024,
            heartbeat_ms: 15_000,
            max_streams: 64,
            webhook_attempts: 8,
            webhook_base_delay_ms: 1_000,
            webhook_max_delay_ms: 3_600_000,
            webhook_max_pending: 100_000,
        }
    }
}

impl EventsConfig {
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    /// The wait after failed attempt number `attempt` (1-based): base × 2^(attempt−1), at most the maximum.
    pub fn webhook_delay_after(&self, attempt: u64) -> Duration {
        let factor = 1u64 << attempt.saturating_sub(1).min(32);
        Duration::from_millis(
            self.webhook_base_delay_ms
                .saturating_mul(factor)
                .min(self.webhook_max_delay_ms),
        )
    }
}

/// `[[api.webhooks]]`: one endpoint that receives events as signed JSON POSTs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `https://…`, or `http://127.0.0.1[:port]/…` (`http://[::1]…`) for a receiver on this host; nothing else.
    #[serde(deserialize_with = "webhook_url")]
    pub url: String,
    /// File holding the signing secret: `whsec_` + base64 (Standard Webhooks), or the raw secret text; at least
    /// 16 bytes. Keep it mode 0600.
    pub secret_file: PathBuf,
    /// Event types sent (`inbox_message`, `delivered`, `failed`, `kvittens_received`); empty: all.
    #[serde(default, deserialize_with = "event_types")]
    pub events: Vec<String>,
    /// Only events of this organisation (participant id, `0203:example.se`); absent: every organisation.
    #[serde(default)]
    pub organisation: Option<String>,
    /// Only events of this functional address of `organisation` (needs `organisation`).
    #[serde(default)]
    pub functional_address: Option<String>,
    /// One delivery attempt (connect, send, response head) may take this long.
    #[serde(default = "default_timeout_ms", deserialize_with = "positive")]
    pub timeout_ms: u64,
    /// CA certificates (PEM) trusted for an `https` URL; absent: the system's CA bundle.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl WebhookConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// Whether the webhook wants an event of this type.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == event_type)
    }
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = i64::deserialize(d)?;
    if v <= 0 {
        return Err(D::Error::custom(format!("must be a positive number, got {v}")));
    }
    Ok(v as u64)
}

/// The URL rule: https anywhere, plain http only to the loopback address (the body leaves the host otherwise).
pub fn check_webhook_url(s: &str) -> Result<(), String> {
    let uri: http::Uri = s.parse().map_err(|_| format!("invalid URL {s:?}"))?;
    let host = uri.host().unwrap_or_default();
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(()),
        Some("http") if host == "127.0.0.1" || host == "[::1]" => Ok(()),
        Some("http") => Err(format!(
            "{s:?}: plain http is allowed only to http://127.0.0.1 (or [::1]); use https"
        )),
        _ => Err(format!("invalid webhook URL {s:?} (expected https://host[:port]/path)")),
    }
}

fn webhook_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check_webhook_url(&s).map_err(D::Error::custom)?;
    Ok(s)
}

fn event_types<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let types = Vec::<String>::deserialize(d)?;
    if let Some(bad) = types.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
        return Err(D::Error::custom(format!(
            "unknown event type {bad:?} (known: {})",
            EVENT_TYPES.join(", ")
        )));
    }
    Ok(types)
}

/// Rules across the webhook settings, and paths resolved against the configuration's folder.
pub(super) fn resolve_and_check(config: &mut Config) -> Result<(), ConfigError> {
    let base = config.base_dir.clone();
    for hook in &mut config.api.webhooks {
        for path in std::iter::once(&mut hook.secret_file).chain(hook.ca_file.as_mut()) {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }
    for (i, hook) in config.api.webhooks.iter().enumerate() {
        if hook.functional_address.is_some() && hook.organisation.is_none() {
            return Err(config.error(
                &format!("api.webhooks[{i}].functional_address"),
                "needs `organisation` (a functional address belongs to one organisation)",
            ));
        }
        if config.api.webhooks[..i].iter().any(|h| h.url == hook.url) {
            return Err(config.error(
                &format!("api.webhooks[{i}].url"),
                format!("duplicate webhook {:?}", hook.url),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    fn base() -> String {
        crate::cli::init::render_config("AP0001-DEV", 8443, 8080)
    }

    #[test]
    fn defaults_and_a_webhook() {
        let config = Config::from_toml(&base(), Path::new("/etc/sdk-ap/x.toml")).unwrap();
        assert_eq!(config.api.events.replay_events, 1024);
        assert!(config.api.webhooks.is_empty());
        let text = format!(
            "{}\n[[api.webhooks]]\nurl = \"https://hooks.example.se/sdk\"\nsecret_file = \"hook.secret\"\nevents = [\"delivered\", \"failed\"]\norganisation = \"0203:example.se\"\n",
            base()
        );
        let config = Config::from_toml(&text, Path::new("/etc/sdk-ap/x.toml")).unwrap();
        let hook = &config.api.webhooks[0];
        assert_eq!(hook.secret_file, Path::new("/etc/sdk-ap/hook.secret"));
        assert!(hook.wants("failed") && !hook.wants("inbox_message"));
        assert_eq!(hook.timeout_ms, 10_000);
    }

    #[test]
    fn plain_http_beyond_loopback_is_refused_with_file_and_line() {
        for url in [
            "http://hooks.example.se/x",
            "http://localhost:9000/x",
            "ftp://x/y",
            "hooks.example.se",
        ] {
            let text = format!("{}\n[[api.webhooks]]\nurl = \"{url}\"\nsecret_file = \"s\"\n", base());
            let err = Config::from_toml(&text, Path::new("x.toml")).unwrap_err().to_string();
            let line = text.lines().position(|l| l.starts_with("url =")).unwrap() + 1;
            assert!(err.starts_with(&format!("x.toml:{line}: api.webhooks[0].url")), "{err}");
        }
        let text = format!(
            "{}\n[[api.webhooks]]\nurl = \"http://127.0.0.1:9000/x\"\nsecret_file = \"s\"\n",
            base()
        );
        Config::from_toml(&text, Path::new("x.toml")).unwrap();
    }

    #[test]
    fn unknown_event_types_and_an_orphan_functional_address_are_refused() {
        let text = format!(
            "{}\n[[api.webhooks]]\nurl = \"https://h.example/x\"\nsecret_file = \"s\"\nevents = [\"delivred\"]\n",
            base()
        );
        let err = Config::from_toml(&text, Path::new("x.toml")).unwrap_err().to_string();
        assert!(
            err.contains("api.webhooks[0].events") && err.contains("delivred"),
            "{err}"
        );
        let text = format!(
            "{}\n[[api.webhooks]]\nurl = \"https://h.example/x\"\nsecret_file = \"s\"\nfunctional_address = \"fa\"\n",
            base()
        );
        let err = Config::from_toml(&text, Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("api.webhooks[0].functional_address"), "{err}");
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let events = super::EventsConfig {
            webhook_base_delay_ms: 100,
            webhook_max_delay_ms: 1_000,
            ..Default::default()
        };
        let ms = |n| events.webhook_delay_after(n).as_millis();
        assert_eq!(
            (ms(1), ms(2), ms(3), ms(4), ms(5), ms(60)),
            (100, 200, 400, 800, 1000, 1000)
        );
    }
}
