//! What happens to an outbound message after an attempt, and how a peer's ebMS error code is judged.
//!
//! # Peer error table
//! A signed ebMS Error signal from the receiving AP is *final* when resending the same message cannot succeed
//! (the peer refused its content, security or addressing), and *retryable* when the peer reports a temporary
//! condition on its side:
//!
//! | Code | Name | Disposition |
//! |------|------|-------------|
//! | EBMS:0001 ValueNotRecognized, 0002 FeatureNotSupported, 0003 ValueInconsistent, 0004 Other | content | final |
//! | EBMS:0005 ConnectionFailure | communication | retryable |
//! | EBMS:0006 EmptyMessagePartitionChannel | pull only | final |
//! | EBMS:0007 MimeInconsistency, 0008 FeatureNotSupportedFailure, 0009 InvalidHeader | unpackaging | final |
//! | EBMS:0010 ProcessingModeMismatch, 0011 ExternalPayloadError | processing | final |
//! | EBMS:0101 FailedAuthentication, 0102 FailedDecryption, 0103 PolicyNoncompliance | security | final |
//! | EBMS:0201 DysfunctionalReliability, 0202 DeliveryFailure | reliability | retryable |
//! | EBMS:0301 MissingReceipt, 0302 InvalidReceipt | reception awareness | retryable |
//! | EBMS:0303 DecompressionFailure | content | final |
//! | any other (unknown) code | | retryable (bounded by the retry policy) |
//!
//! A signal with several errors is final as soon as one of its `failure`-severity errors is final; an error signal
//! holding only warnings is treated as a missing receipt (retryable).

use crate::ebms::{ErrorCode, Severity};
use crate::store::{MessageKey, State, Timestamp};

/// Whether resending can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Resending the same message cannot succeed: the message becomes `Failed` at once.
    Final,
    /// A temporary condition: retried according to the P-Mode's reception-awareness policy.
    Retryable,
}

/// The disposition of one ebMS error code received from a peer (see the table in the module docs). `code` is the
/// text of `@errorCode`, e.g. `EBMS:0004`.
pub fn peer_error_disposition(code: &str) -> Disposition {
    use ErrorCode::*;
    match ErrorCode::from_code(code) {
        Some(ConnectionFailure | DysfunctionalReliability | DeliveryFailure | MissingReceipt | InvalidReceipt) => {
            Disposition::Retryable
        }
        Some(
            ValueNotRecognized
            | FeatureNotSupported
            | ValueInconsistent
            | Other
            | EmptyMessagePartitionChannel
            | MimeInconsistency
            | FeatureNotSupportedFailure
            | InvalidHeader
            | ProcessingModeMismatch
            | ExternalPayloadError
            | FailedAuthentication
            | FailedDecryption
            | PolicyNoncompliance
            | DecompressionFailure,
        ) => Disposition::Final,
        None => Disposition::Retryable,
    }
}

/// One error reported by a peer in a signed ebMS Error signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerError {
    /// `@errorCode`, e.g. `EBMS:0004`.
    pub code: String,
    pub severity: Severity,
    /// `eb:ErrorDetail` (or the short description when there is no detail).
    pub detail: String,
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.severity.as_str(), self.detail)
    }
}

/// The disposition of a whole error signal: final when any failure-severity error is final.
pub fn signal_disposition(errors: &[PeerError]) -> Disposition {
    let final_failure = errors
        .iter()
        .any(|e| e.severity == Severity::Failure && peer_error_disposition(&e.code) == Disposition::Final);
    if final_failure {
        Disposition::Final
    } else {
        Disposition::Retryable
    }
}

/// What one send attempt produced. The scheduler turns it into a state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// A receipt that verified (signed by the expected receiver, references match what we sent): the raw signal
    /// bytes are kept as evidence.
    Delivered {
        receipt: Vec<u8>,
        receipt_message_id: String,
    },
    /// The peer answered with a signed ebMS Error signal (kept as evidence).
    PeerErrors { errors: Vec<PeerError>, signal: Vec<u8> },
    /// Transport failure, HTTP error status, missing or invalid receipt, unresolvable peer for now: worth another
    /// attempt under the P-Mode's retry policy.
    Retryable { reason: String },
    /// A local problem that no retry can fix (no P-Mode fits, payload file missing, peer unknown in a static
    /// table): the message fails at once.
    Final { reason: String },
}

/// A message reached a final state: what a producer-facing API reports. Sent on [`super::Node::subscribe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub key: MessageKey,
    pub message_id: String,
    /// `Delivered` or `Failed`.
    pub state: State,
    pub at: Timestamp,
    /// Number of attempts made.
    pub attempts: u32,
    /// Why it failed (empty when delivered).
    pub reason: String,
    /// Who sent it: the `originalSender` participant, or the From party when there is none (the events name it;
    /// carried here so that publishing an outcome needs no read of the store).
    pub sender: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_classifies_the_codes_the_brief_names() {
        for code in [
            "EBMS:0004",
            "EBMS:0101",
            "EBMS:0102",
            "EBMS:0103",
            "EBMS:0010",
            "EBMS:0303",
        ] {
            assert_eq!(peer_error_disposition(code), Disposition::Final, "{code}");
        }
        for code in [
            "EBMS:0201",
            "EBMS:0202",
            "EBMS:0005",
            "EBMS:0301",
            "EBMS:0302",
            "EBMS:9999",
            "junk",
        ] {
            assert_eq!(peer_error_disposition(code), Disposition::Retryable, "{code}");
        }
    }

    #[test]
    fn a_signal_is_final_only_for_a_final_failure() {
        let err = |code: &str, severity| PeerError {
            code: code.into(),
            severity,
            detail: String::new(),
        };
        assert_eq!(
            signal_disposition(&[err("EBMS:0202", Severity::Failure), err("EBMS:0004", Severity::Failure)]),
            Disposition::Final
        );
        assert_eq!(
            signal_disposition(&[err("EBMS:0004", Severity::Warning)]),
            Disposition::Retryable
        );
        assert_eq!(
            signal_disposition(&[err("EBMS:0202", Severity::Failure)]),
            Disposition::Retryable
        );
        assert_eq!(signal_disposition(&[]), Disposition::Retryable);
    }
}
