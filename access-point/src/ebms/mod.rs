//! ebMS3 / AS4 message model: build and parse UserMessage and SignalMessage (Receipt, Error, PullRequest), and the
//! ebMS error table.
//!
//! - [`model`]: the header types ([`Messaging`], [`UserMessage`], [`SignalMessage`] ...). Constructors and
//!   non-empty lists keep invalid headers out (no UserMessage without From/To/Service/Action, no empty Messaging,
//!   no party without a PartyId, no Error signal without an error).
//! - [`parse`]: [`Envelope::parse`] reads a SOAP 1.2 envelope with the shared hardened DOM
//!   ([`xmldsig::dom::Document`]) and returns a [`ParsedEnvelope`] that keeps the DOM and the node ids of Envelope,
//!   Header, Body, `eb:Messaging` and `wsse:Security`, so WS-Security verifies the very nodes the model was read
//!   from. It enforces the signature-wrapping rules (one Header then one Body, exactly one `eb:Messaging` directly
//!   under Header, unique `wsu:Id`s) and is indifferent to prefixes.
//! - [`build`]: [`EnvelopeBuilder`] renders a complete envelope with `wsu:Id`s on `eb:Messaging` and Body and room
//!   for the `wsse:Security` header; receipt and error signal builders.
//! - [`error`]: the ebMS3 + AS4 error table ([`ErrorCode`]), the [`EbmsError`] value every MSH failure maps to,
//!   and [`EbmsParseError`], each variant of which names its ebMS code.
//! - [`ids`]: [`MessageId`] (RFC 2822), [`MessageIdGenerator`], [`WsuId`], [`Timestamp`] (UTC `xsd:dateTime`).
//! - [`ns`]: namespace URIs, the default MPC and roles, the test service and action.

pub mod build;
pub mod error;
pub mod ids;
pub mod model;
pub mod ns;
pub mod parse;
#[doc(hidden)]
pub mod test_support;

pub use build::{error_signal, receipt_copy_signal, receipt_signal, EnvelopeBuilder};
pub use error::{Category, EbmsError, EbmsParseError, ErrorCode, Severity};
pub use ids::{IdError, MessageId, MessageIdGenerator, Timestamp, WsuId, MAX_MESSAGE_ID_LEN};
pub use model::*;
pub use parse::{Envelope, MessageIdPolicy, ParseOptions, ParsedEnvelope};
pub use xmldsig::dom::ParseLimits;
