//! Receive-side consistency of the XHE envelope with the AS4 header (component specification §3.1.6, test cases
//! TF-09 and TF-10):
//!
//! - the XHE must be well-formed and follow DIGG's profile, else [`ConsistencyError::MalformedXhe`] (TF-09): the
//!   MSH logs the event, drops the message (envelope and payload) and reports it to the sending AP without a
//!   kvittens, since a broken envelope cannot be trusted to address one;
//! - AS4 `finalRecipient` = XHE ToParty, `originalSender` = XHE FromParty, Service (and its type) = the XHE
//!   PROCESSID (and PROCESSID_SCHEME), Action = `DOCUMENTID_SCHEME::DOCUMENTID` (TF-10). A mismatch is handled as
//!   "incorrect recipient/service" (§3.2.1): logged, deleted, and answered with the ebMS error
//!   [`ConsistencyError::ebms_error_code`] (`EBMS:0004`, failure, detail `NOT_SERVICED`).

use super::xhe::{Xhe, XheError};
use xmldsig::dom::ParseLimits;

/// What the received AS4 user message says about the business exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct As4Addressing<'a> {
    /// The `originalSender` message property (C1's participant id).
    pub original_sender: &'a str,
    /// The `finalRecipient` message property (C4's participant id).
    pub final_recipient: &'a str,
    /// CollaborationInfo/Service.
    pub service: &'a str,
    /// CollaborationInfo/Service/@type.
    pub service_type: Option<&'a str>,
    /// CollaborationInfo/Action.
    pub action: &'a str,
}

/// Why a received message is inconsistent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConsistencyError {
    /// TF-09: the XHE cannot be read or breaks DIGG's profile. Log, drop, report; no kvittens.
    #[error("malformed XHE: {0}")]
    MalformedXhe(#[from] XheError),
    #[error("AS4 originalSender {as4:?} differs from XHE FromParty {xhe:?}")]
    OriginalSenderMismatch { as4: String, xhe: String },
    #[error("AS4 finalRecipient {as4:?} differs from XHE ToParty {xhe:?}")]
    FinalRecipientMismatch { as4: String, xhe: String },
    #[error("AS4 Service {as4:?} differs from the XHE process {xhe:?}")]
    ServiceMismatch { as4: String, xhe: String },
    #[error("AS4 Action {as4:?} differs from the XHE document type {xhe:?}")]
    ActionMismatch { as4: String, xhe: String },
}

impl ConsistencyError {
    /// The ebMS error code the MSH answers with: `EBMS:0004` (other) for every case, as the transport profile
    /// prescribes for an incorrect recipient or service.
    pub fn ebms_error_code(&self) -> &'static str {
        "EBMS:0004"
    }

    /// The ebMS error detail: `NOT_SERVICED` for addressing mismatches, `MALFORMED_XHE` for TF-09.
    pub fn ebms_error_detail(&self) -> &'static str {
        match self {
            ConsistencyError::MalformedXhe(_) => "MALFORMED_XHE",
            _ => "NOT_SERVICED",
        }
    }

    /// True for TF-09 (no kvittens may be produced).
    pub fn is_malformed_xhe(&self) -> bool {
        matches!(self, ConsistencyError::MalformedXhe(_))
    }
}

/// Parses the received XHE and checks it against the AS4 addressing. Returns the envelope when consistent.
pub fn check_received(
    xhe_bytes: &[u8],
    as4: &As4Addressing<'_>,
    limits: &ParseLimits,
) -> Result<Xhe, ConsistencyError> {
    let xhe = Xhe::parse(xhe_bytes, limits)?;
    check_envelope(&xhe, as4)?;
    Ok(xhe)
}

/// Checks an already parsed envelope against the AS4 addressing.
pub fn check_envelope(xhe: &Xhe, as4: &As4Addressing<'_>) -> Result<(), ConsistencyError> {
    if as4.original_sender.trim() != xhe.from.id {
        return Err(ConsistencyError::OriginalSenderMismatch {
            as4: as4.original_sender.into(),
            xhe: xhe.from.id.clone(),
        });
    }
    if as4.final_recipient.trim() != xhe.to.id {
        return Err(ConsistencyError::FinalRecipientMismatch {
            as4: as4.final_recipient.into(),
            xhe: xhe.to.id.clone(),
        });
    }
    let type_matches = as4.service_type.is_none_or(|t| t.trim() == xhe.scope.process_id_scheme);
    if as4.service.trim() != xhe.scope.process_id || !type_matches {
        return Err(ConsistencyError::ServiceMismatch {
            as4: format!("{} (type {:?})", as4.service, as4.service_type),
            xhe: format!("{} (scheme {})", xhe.scope.process_id, xhe.scope.process_id_scheme),
        });
    }
    let expected_action = xhe.scope.ebms_action();
    if as4.action.trim() != expected_action {
        return Err(ConsistencyError::ActionMismatch {
            as4: as4.action.into(),
            xhe: expected_action,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::xhe::tests::sample;

    fn addressing(xhe: &Xhe) -> (String, String, String, String, String) {
        (
            xhe.from.id.clone(),
            xhe.to.id.clone(),
            xhe.scope.process_id.clone(),
            xhe.scope.process_id_scheme.clone(),
            xhe.scope.ebms_action(),
        )
    }

    fn check(xhe: &Xhe, a: &(String, String, String, String, String)) -> Result<Xhe, ConsistencyError> {
        let as4 = As4Addressing {
            original_sender: &a.0,
            final_recipient: &a.1,
            service: &a.2,
            service_type: Some(&a.3),
            action: &a.4,
        };
        check_received(xhe.render().unwrap().as_bytes(), &as4, &ParseLimits::default())
    }

    #[test]
    fn consistent_message_passes() {
        let xhe = sample();
        assert_eq!(check(&xhe, &addressing(&xhe)).unwrap(), xhe);
        // The SDK action constant of the built-in P-Mode is what the sample's scope derives.
        assert_eq!(xhe.scope.ebms_action(), pmode::builtin::SDK_MESSAGE_ACTION);
    }

    #[test]
    fn each_mismatch_is_typed() {
        let xhe = sample();
        let mut a = addressing(&xhe);
        a.0 = "0203:other.se".into();
        assert!(matches!(
            check(&xhe, &a),
            Err(ConsistencyError::OriginalSenderMismatch { .. })
        ));
        let mut a = addressing(&xhe);
        a.1 = "0203:other.se".into();
        assert!(matches!(
            check(&xhe, &a),
            Err(ConsistencyError::FinalRecipientMismatch { .. })
        ));
        let mut a = addressing(&xhe);
        a.2 = "other".into();
        assert!(matches!(check(&xhe, &a), Err(ConsistencyError::ServiceMismatch { .. })));
        let mut a = addressing(&xhe);
        a.3 = "urn:other".into();
        assert!(matches!(check(&xhe, &a), Err(ConsistencyError::ServiceMismatch { .. })));
        let mut a = addressing(&xhe);
        a.4 = pmode::builtin::SDK_KVITTENS_ACTION.into();
        let err = check(&xhe, &a).unwrap_err();
        assert!(matches!(err, ConsistencyError::ActionMismatch { .. }));
        assert_eq!(
            (err.ebms_error_code(), err.ebms_error_detail()),
            ("EBMS:0004", "NOT_SERVICED")
        );
    }

    #[test]
    fn malformed_xhe_is_tf09() {
        let xhe = sample();
        let a = addressing(&xhe);
        let as4 = As4Addressing {
            original_sender: &a.0,
            final_recipient: &a.1,
            service: &a.2,
            service_type: None,
            action: &a.4,
        };
        let broken = xhe
            .render()
            .unwrap()
            .replace("urn:fdc:digg.se:edelivery:xhe:1", "urn:x");
        let err = check_received(broken.as_bytes(), &as4, &ParseLimits::default()).unwrap_err();
        assert!(err.is_malformed_xhe());
        assert_eq!(err.ebms_error_detail(), "MALFORMED_XHE");
        assert!(check_received(b"<x:XHE", &as4, &ParseLimits::default())
            .unwrap_err()
            .is_malformed_xhe());
    }
}
