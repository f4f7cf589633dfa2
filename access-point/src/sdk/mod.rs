//! The SDK business layer: what flows between message systems (C1/C4) through the access points.
//!
//! - [`xhe`]: DIGG's XHE 1.0 envelope profile (`urn:fdc:digg.se:edelivery:xhe:1`): typed model, build, parse;
//!   [`xhe_rules`] implements each rule of DIGG's XHE schematron (`R1-XHE` … `R14-XHE`) as a Rust check;
//!   [`xhe_signature`] adds the optional enveloped XHE signature (rsa-sha256) and its verification, and
//!   [`xhe_encryption`] the payload encryption for the recipient's CertPub certificate (verify before decrypt).
//!   [`signer_identity`] says which certificate may sign for a sending organisation (CertPub or `e2e_signers`).
//! - [`kvittens`]: the message receipt (UBL ApplicationResponse, customisation
//!   `urn:fdc:digg.se:edelivery:messagetype:response:1`): build ACCEPTED / REJECTED with reason codes SV / BV / SIG,
//!   parse, link to the original XHE id, and the rules `R1-APP` … `R9-APP` of DIGG's kvittens schematron.
//! - [`message_v3`]: the SDK message (`urn:riv:infrastructure:messaging:MessageWithAttachments:3`): typed model,
//!   build (in memory or streamed to an `AsyncWrite` with attachments base64-encoded in chunks), parse, and the XSD
//!   structure; [`message_rules`] holds the schematron rules of `MessageConstraints.xml`.
//! - [`consistency`]: the receive-side checks of the component specification §3.1.6 (TF-09 / TF-10).
//!
//! Every parser reads the shared hardened DOM ([`xmldsig::dom::Document`]); every rule violation names the rule id
//! of DIGG's file so that a REJECTED kvittens or a log line can point at it.

pub mod consistency;
pub mod inbound;
pub mod kvittens;
pub mod message_rules;
pub mod message_v3;
pub mod outbound;
pub mod signer_identity;
pub mod xhe;
pub mod xhe_encryption;
pub mod xhe_rules;
pub mod xhe_signature;
mod xml;

use std::fmt;

/// The participant identifier scheme used throughout the SDK (`0203:example.se`).
pub const PARTICIPANT_SCHEME: &str = "iso6523-actorid-upis";

/// One failed rule: the rule id as DIGG's schematron (or our XSD check) names it, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleViolation {
    /// The rule id, e.g. `R3-XHE`, `R8-APP`, `recipientIdvalue`, or `XSD` for a structural (schema) error.
    pub rule: &'static str,
    /// What was wrong, with the element path where it helps.
    pub message: String,
}

impl RuleViolation {
    pub(crate) fn new(rule: &'static str, message: impl Into<String>) -> Self {
        RuleViolation {
            rule,
            message: message.into(),
        }
    }

    /// True when the violation is a schema (XSD) structure error rather than a schematron business rule: a
    /// REJECTED kvittens reports the first with reason code `SV`, the second with `BV`.
    pub fn is_schema_error(&self) -> bool {
        self.rule == XSD_RULE
    }
}

impl fmt::Display for RuleViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.rule, self.message)
    }
}

/// The rule id given to structural violations of an XSD (cardinality, order, data type).
pub const XSD_RULE: &str = "XSD";

/// Renders a list of violations as one line (for error messages).
pub(crate) fn join_violations(violations: &[RuleViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
