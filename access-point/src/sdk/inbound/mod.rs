//! The inbound side of the SDK business layer: what happens to a received message after it is stored and
//! receipted (the AS4 receipt never waits for any of this).
//!
//! - [`classify`]: reads the XHE envelope of the stored payload in a bounded, streaming way ([`scan`]), runs DIGG's
//!   XHE rules and the consistency checks against the AS4 header (TF-10), and decides:
//!   - malformed XHE (TF-09): dropped from the inbox, the reason in the message's history, no kvittens;
//!   - inconsistent or breaking a business rule: a kvittens REJECTED with reason code SV / BV goes back;
//!   - a kvittens (UBL ApplicationResponse): linked to the outbound message it answers (evidence + history),
//!     [`crate::msh::ApEvent::KvittensReceived`];
//!   - otherwise an inbox entry indexed by recipient participant and functional address,
//!     [`crate::msh::ApEvent::InboxMessage`], and with `[sdk] auto_accept` a kvittens ACCEPTED.
//!
//!   A message is marked classified in the same store transaction that records the outcome, so a crash leaves it
//!   unclassified and [`spawn_recovery`] classifies it again at start.
//! - [`protection`]: end-to-end protection on receipt: an enveloped XHE signature is verified (signer chained to
//!   `[sdk] e2e_anchors` and registered for the sending organisation, [`crate::sdk::signer_identity`]) before
//!   anything else, then an encrypted payload is decrypted with `[sdk] e2e_key`; a failure is answered REJECTED
//!   (SIG).
//! - [`reply`]: builds a kvittens for an inbox message and submits it as an outbound AS4 message to the sending
//!   AP ([`send_kvittens`] for the API).
//! - [`scan`]: the streaming envelope skeleton and attachment decoder.

pub mod classify;
pub mod protection;
pub mod reply;
pub mod scan;

pub use classify::ClassifyError;
pub(crate) use classify::{spawn_classify, spawn_recovery};
pub use reply::{send_kvittens, KvittensRequest, KvittensSent, ReplyError};

/// Who the classifier is recorded as in state histories.
pub const CLASSIFIER_ACTOR: &str = "sdk:classifier";
/// The history reason prefix of a kvittens sent for an inbound message (the API refuses a second one).
pub const KVITTENS_SENT_PREFIX: &str = "kvittens sent:";
