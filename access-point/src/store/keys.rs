//! Binary index keys. Integers are big-endian so that byte order is numeric order and range scans follow time.

use super::state::{Direction, State};
use super::types::{Cursor, MessageKey, Timestamp};

pub(crate) fn message(key: MessageKey) -> [u8; 8] {
    key.to_be_bytes()
}

pub(crate) fn message_id(direction: Direction, message_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + message_id.len());
    k.push(match direction {
        Direction::Outbound => b'o',
        Direction::Inbound => b'i',
    });
    k.extend_from_slice(message_id.as_bytes());
    k
}

/// `[at][key]`: schedule, creation-time index and duplicate-expiry index.
pub(crate) fn at_key(at: Timestamp, key: MessageKey) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&at.0.to_be_bytes());
    k[8..].copy_from_slice(&key.to_be_bytes());
    k
}

pub(crate) fn parse_at_key(k: &[u8]) -> Option<(Timestamp, MessageKey)> {
    if k.len() < 16 {
        return None;
    }
    let at = u64::from_be_bytes(k[..8].try_into().ok()?);
    let key = u64::from_be_bytes(k[8..16].try_into().ok()?);
    Some((Timestamp(at), MessageKey(key)))
}

/// `[state][at][key]`: the per-state index, ordered by the time the message entered the state.
pub(crate) fn state_at_key(state: State, at: Timestamp, key: MessageKey) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = state.tag();
    k[1..].copy_from_slice(&at_key(at, key));
    k
}

pub(crate) fn state_bound(state: State, at: Timestamp) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = state.tag();
    k[1..].copy_from_slice(&at.0.to_be_bytes());
    k
}

pub(crate) fn cursor_of(k: &[u8], with_state: bool) -> Option<Cursor> {
    let rest = if with_state { k.get(1..)? } else { k };
    parse_at_key(rest).map(|(at, key)| Cursor { at, key })
}

/// `[key][seq]`: history and evidence entries of a message, in order.
pub(crate) fn seq_key(key: MessageKey, seq: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&key.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// `[at][key][seq]`: the error log.
pub(crate) fn error_key(at: Timestamp, key: MessageKey, seq: u32) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..16].copy_from_slice(&at_key(at, key));
    k[16..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn count(state: State) -> [u8; 1] {
    [state.tag()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_time_then_key() {
        let a = at_key(Timestamp(1), MessageKey(u64::MAX));
        let b = at_key(Timestamp(2), MessageKey(0));
        assert!(a < b);
        assert_eq!(parse_at_key(&b), Some((Timestamp(2), MessageKey(0))));
        let s = state_at_key(State::Failed, Timestamp(5), MessageKey(9));
        assert!(state_bound(State::Failed, Timestamp(5)).as_slice() <= s.as_slice());
        assert!(s.as_slice() < state_bound(State::Failed, Timestamp(6)).as_slice());
        assert_eq!(
            cursor_of(&s, true),
            Some(Cursor {
                at: Timestamp(5),
                key: MessageKey(9)
            })
        );
    }
}
