//! ebMS3 / AS4 Processing Modes (P-Modes) for sdk-ap.
//!
//! A P-Mode is the agreement on how one kind of user message is exchanged: who sends it to whom in which role,
//! its service and action, how it is signed and encrypted, how receipts, retries and errors work, and which
//! payloads it carries. This crate holds the typed model ([`model`], close to ebMS3 Core Appendix D), the
//! algorithm identifiers WS-Security uses ([`algorithms`]), loading and validation of TOML files with errors that
//! name file, line, P-Mode and field ([`load`], [`validate`]), the matching of outgoing submissions and incoming
//! user messages to exactly one P-Mode ([`PModeSet`]), the built-in SDK and eDelivery AS4 2.0 profiles
//! ([`builtin`]), and an importer for Domibus P-Mode XML ([`domibus`]). It has no knowledge of the MSH.

pub mod algorithms;
pub mod builtin;
pub mod domibus;
pub mod error;
pub mod load;
pub mod model;
mod set;
mod spans;
pub mod validate;

pub use error::{Issue, PModeError, PModeErrors, Problem};
pub use load::{load_file, load_str, to_toml, LoadedPMode, MAX_PMODES_PER_FILE, MAX_PMODE_FILE_BYTES};
pub use model::*;
pub use set::{IncomingKeys, Leg, MatchError, OutgoingKeys, PModeSet, PartyKey};
