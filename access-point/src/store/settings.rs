//! Store settings (`[store]` in the node configuration), with defaults that suit a single node.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

use super::state::State;

/// Where and how messages are kept. Every field has a default; see `docs/store.md` for the operator's view.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Root of everything the store writes: `db/` (the sled database) and `payloads/` (one folder per message).
    pub data_dir: PathBuf,
    /// How long a sender task may hold a message in `Sending` before another attempt may take it over.
    pub send_lease_secs: u64,
    pub group_commit: GroupCommitSettings,
    pub retention: RetentionSettings,
    /// Size of sled's page cache in bytes.
    pub cache_capacity_bytes: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            data_dir: PathBuf::from("data"),
            send_lease_secs: 300,
            group_commit: GroupCommitSettings::default(),
            retention: RetentionSettings::default(),
            cache_capacity_bytes: 64 * 1024 * 1024,
        }
    }
}

impl StoreSettings {
    /// Settings with every default and the given data directory.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> StoreSettings {
        StoreSettings {
            data_dir: data_dir.into(),
            ..StoreSettings::default()
        }
    }

    pub fn send_lease(&self) -> Duration {
        Duration::from_secs(self.send_lease_secs)
    }
}

/// Batching of flushes. Writers wait for a flush that began after their write; one flush serves every writer that
/// arrived before it started.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupCommitSettings {
    /// `false` makes every writer run its own flush (one flush per acknowledged write; only for comparison).
    pub enabled: bool,
    /// After the first waiting writer, wait at most this long for more before flushing. 0 relies on natural batching:
    /// writers that arrive while a flush runs share the next one.
    pub max_delay_micros: u64,
    /// Flush at once when this many writers wait, even before `max_delay_micros`.
    pub max_batch: usize,
}

impl Default for GroupCommitSettings {
    fn default() -> Self {
        GroupCommitSettings {
            enabled: true,
            max_delay_micros: 0,
            max_batch: 512,
        }
    }
}

impl GroupCommitSettings {
    pub fn max_delay(&self) -> Duration {
        Duration::from_micros(self.max_delay_micros)
    }
}

/// How long messages are kept after entering a state, in days; `None` keeps them forever. Messages still in
/// flight (`Submitted`, `Sending`, `WaitingRetry`) are never purged. Keep every value longer than the longest
/// P-Mode duplicate-detection window: a purged inbound message can no longer be recognised as a duplicate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    pub delivered_days: Option<u64>,
    pub failed_days: Option<u64>,
    /// Inbound messages the local side has not taken yet.
    pub received_days: Option<u64>,
    pub fetched_days: Option<u64>,
    pub acknowledged_days: Option<u64>,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            delivered_days: Some(90),
            failed_days: Some(180),
            received_days: None,
            fetched_days: None,
            acknowledged_days: Some(90),
        }
    }
}

impl RetentionSettings {
    /// How long a message in `state` is kept, `None` for forever.
    pub fn retention_for(&self, state: State) -> Option<Duration> {
        let days = match state {
            State::Submitted | State::Sending | State::WaitingRetry => None,
            State::Delivered => self.delivered_days,
            State::Failed => self.failed_days,
            State::Received => self.received_days,
            State::Fetched => self.fetched_days,
            State::Acknowledged => self.acknowledged_days,
        };
        days.map(|d| Duration::from_secs(d.saturating_mul(86_400)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_overrides_only_what_it_names() {
        let s: StoreSettings = toml::from_str(
            "data_dir = \"/var/lib/sdk-ap\"\n[retention]\ndelivered_days = 7\n[group_commit]\nmax_delay_micros = 500\n",
        )
        .unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/var/lib/sdk-ap"));
        assert_eq!(s.retention.delivered_days, Some(7));
        assert_eq!(s.retention.failed_days, Some(180));
        assert_eq!(s.group_commit.max_delay(), Duration::from_micros(500));
        assert!(s.group_commit.enabled);
        assert!(
            toml::from_str::<StoreSettings>("datadir = \"x\"").is_err(),
            "typos must be refused"
        );
    }

    #[test]
    fn in_flight_states_are_never_purged() {
        let r = RetentionSettings {
            delivered_days: Some(1),
            failed_days: Some(1),
            received_days: Some(1),
            fetched_days: Some(1),
            acknowledged_days: Some(1),
        };
        for s in [State::Submitted, State::Sending, State::WaitingRetry] {
            assert_eq!(r.retention_for(s), None);
        }
        assert_eq!(r.retention_for(State::Delivered), Some(Duration::from_secs(86_400)));
    }
}
