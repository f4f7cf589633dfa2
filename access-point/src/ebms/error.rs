//! The ebMS3 Core (§6.7) and AS4 profile (§5.2.5 / §3.5) error table, the [`EbmsError`] value that every failure of
//! the message service handler is mapped to, and [`EbmsParseError`], the precise reason an incoming envelope was
//! refused.

use std::fmt;

use xmldsig::dom::DomError;

/// Default severity of an ebMS error (`eb:Error/@severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// Processing of the message unit in error stopped.
    Failure,
    /// Processing went on; the sender should still take note.
    Warning,
}

impl Severity {
    /// The attribute value, as the ebMS3 schema spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Failure => "failure",
            Severity::Warning => "warning",
        }
    }

    /// Reads an attribute value. The schema allows only the lower-case forms; the capitalised forms some products
    /// send are accepted too, because the meaning is unambiguous.
    pub fn parse(value: &str) -> Option<Severity> {
        if value.eq_ignore_ascii_case("failure") {
            Some(Severity::Failure)
        } else if value.eq_ignore_ascii_case("warning") {
            Some(Severity::Warning)
        } else {
            None
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Category of an ebMS error (`eb:Error/@category`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Content,
    Communication,
    Unpackaging,
    Processing,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Content => "Content",
            Category::Communication => "Communication",
            Category::Unpackaging => "Unpackaging",
            Category::Processing => "Processing",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every error code of ebMS3 Core §6.7 (processing, security, reliability) and of the AS4 profile (0301–0303).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// EBMS:0001 — a value is well-formed and schema-valid but not recognised.
    ValueNotRecognized,
    /// EBMS:0002 — a feature the message asks for is not supported (warning).
    FeatureNotSupported,
    /// EBMS:0003 — a value is inconsistent with other values, the P-Mode or the context.
    ValueInconsistent,
    /// EBMS:0004 — any other error.
    Other,
    /// EBMS:0005 — no transport connection to the remote MSH.
    ConnectionFailure,
    /// EBMS:0006 — nothing to pull from this MPC now (warning).
    EmptyMessagePartitionChannel,
    /// EBMS:0007 — the MIME packaging is not as this specification requires.
    MimeInconsistency,
    /// EBMS:0008 — the presence or absence of an element asks for a feature the MSH does not support (failure).
    FeatureNotSupportedFailure,
    /// EBMS:0009 — the ebMS header is not well-formed or breaks the packaging rules.
    InvalidHeader,
    /// EBMS:0010 — the headers do not match what the P-Mode expects.
    ProcessingModeMismatch,
    /// EBMS:0011 — a payload referenced outside the message could not be resolved.
    ExternalPayloadError,
    /// EBMS:0101 — a signature could not be validated.
    FailedAuthentication,
    /// EBMS:0102 — encrypted data could not be decrypted.
    FailedDecryption,
    /// EBMS:0103 — the security used does not meet the policy.
    PolicyNoncompliance,
    /// EBMS:0201 — the reliability function is not operational.
    DysfunctionalReliability,
    /// EBMS:0202 — delivery could not be assured despite retries.
    DeliveryFailure,
    /// EBMS:0301 — no receipt arrived for a message sent earlier (AS4).
    MissingReceipt,
    /// EBMS:0302 — a receipt arrived but does not match the message sent (AS4).
    InvalidReceipt,
    /// EBMS:0303 — a compressed payload could not be decompressed (AS4).
    DecompressionFailure,
}

impl ErrorCode {
    /// All codes, in table order.
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::ValueNotRecognized,
        ErrorCode::FeatureNotSupported,
        ErrorCode::ValueInconsistent,
        ErrorCode::Other,
        ErrorCode::ConnectionFailure,
        ErrorCode::EmptyMessagePartitionChannel,
        ErrorCode::MimeInconsistency,
        ErrorCode::FeatureNotSupportedFailure,
        ErrorCode::InvalidHeader,
        ErrorCode::ProcessingModeMismatch,
        ErrorCode::ExternalPayloadError,
        ErrorCode::FailedAuthentication,
        ErrorCode::FailedDecryption,
        ErrorCode::PolicyNoncompliance,
        ErrorCode::DysfunctionalReliability,
        ErrorCode::DeliveryFailure,
        ErrorCode::MissingReceipt,
        ErrorCode::InvalidReceipt,
        ErrorCode::DecompressionFailure,
    ];

    fn entry(self) -> &'static Entry {
        use Category::*;
        use Severity::*;
        match self {
            ErrorCode::ValueNotRecognized => &Entry {
                code: "EBMS:0001",
                short: "ValueNotRecognized",
                severity: Failure,
                category: Content,
                origin: "ebMS",
                description: "Although the message is well-formed and schema-valid, an element or attribute holds a \
                              value the MSH does not recognise and so cannot use.",
            },
            ErrorCode::FeatureNotSupported => &Entry {
                code: "EBMS:0002",
                short: "FeatureNotSupported",
                severity: Warning,
                category: Content,
                origin: "ebMS",
                description: "Although the message is well-formed and schema-valid, an element or attribute value \
                              cannot be processed as expected because the MSH does not support the related feature.",
            },
            ErrorCode::ValueInconsistent => &Entry {
                code: "EBMS:0003",
                short: "ValueInconsistent",
                severity: Failure,
                category: Content,
                origin: "ebMS",
                description: "Although the message is well-formed and schema-valid, an element or attribute value \
                              is inconsistent with other elements or attributes, with the processing mode of the \
                              MSH, or with the context of the message.",
            },
            ErrorCode::Other => &Entry {
                code: "EBMS:0004",
                short: "Other",
                severity: Failure,
                category: Content,
                origin: "ebMS",
                description: "An error not covered by any other code.",
            },
            ErrorCode::ConnectionFailure => &Entry {
                code: "EBMS:0005",
                short: "ConnectionFailure",
                severity: Failure,
                category: Communication,
                origin: "ebMS",
                description: "The MSH has a temporary or permanent failure opening a transport connection to a \
                              remote MSH.",
            },
            ErrorCode::EmptyMessagePartitionChannel => &Entry {
                code: "EBMS:0006",
                short: "EmptyMessagePartitionChannel",
                severity: Warning,
                category: Communication,
                origin: "ebMS",
                description: "No message is available for pulling from this MPC at this moment.",
            },
            ErrorCode::MimeInconsistency => &Entry {
                code: "EBMS:0007",
                short: "MimeInconsistency",
                severity: Failure,
                category: Unpackaging,
                origin: "ebMS",
                description: "The use of MIME is not consistent with the usage this specification requires.",
            },
            ErrorCode::FeatureNotSupportedFailure => &Entry {
                code: "EBMS:0008",
                short: "FeatureNotSupported",
                severity: Failure,
                category: Unpackaging,
                origin: "ebMS",
                description: "Although the message is well-formed and schema-valid, the presence or absence of an \
                              element or attribute does not fit the features this MSH supports.",
            },
            ErrorCode::InvalidHeader => &Entry {
                code: "EBMS:0009",
                short: "InvalidHeader",
                severity: Failure,
                category: Unpackaging,
                origin: "ebMS",
                description: "The ebMS header is not well-formed XML or does not conform to the ebMS packaging \
                              rules.",
            },
            ErrorCode::ProcessingModeMismatch => &Entry {
                code: "EBMS:0010",
                short: "ProcessingModeMismatch",
                severity: Failure,
                category: Processing,
                origin: "ebMS",
                description: "The ebMS header or another header the MSH expects (reliability, security) does not \
                              match what the associated P-Mode requires.",
            },
            ErrorCode::ExternalPayloadError => &Entry {
                code: "EBMS:0011",
                short: "ExternalPayloadError",
                severity: Failure,
                category: Content,
                origin: "ebMS",
                description: "The MSH cannot resolve a reference to a payload outside the message (a PartInfo href \
                              that points to no part of this message).",
            },
            ErrorCode::FailedAuthentication => &Entry {
                code: "EBMS:0101",
                short: "FailedAuthentication",
                severity: Failure,
                category: Processing,
                origin: "security",
                description: "The signature in the Security header meant for this MSH could not be validated.",
            },
            ErrorCode::FailedDecryption => &Entry {
                code: "EBMS:0102",
                short: "FailedDecryption",
                severity: Failure,
                category: Processing,
                origin: "security",
                description: "Encrypted data referenced from the Security header meant for this MSH could not be \
                              decrypted.",
            },
            ErrorCode::PolicyNoncompliance => &Entry {
                code: "EBMS:0103",
                short: "PolicyNoncompliance",
                severity: Failure,
                category: Processing,
                origin: "security",
                description: "The security methods, parameters or scope of the message do not meet the security \
                              policy or agreement.",
            },
            ErrorCode::DysfunctionalReliability => &Entry {
                code: "EBMS:0201",
                short: "DysfunctionalReliability",
                severity: Failure,
                category: Processing,
                origin: "reliability",
                description: "A reliability function is not operational, or the reliability state of this message \
                              sequence is not valid.",
            },
            ErrorCode::DeliveryFailure => &Entry {
                code: "EBMS:0202",
                short: "DeliveryFailure",
                severity: Failure,
                category: Communication,
                origin: "reliability",
                description: "The message was sent with guaranteed delivery, but despite resending no assurance of \
                              delivery was obtained.",
            },
            ErrorCode::MissingReceipt => &Entry {
                code: "EBMS:0301",
                short: "MissingReceipt",
                severity: Failure,
                category: Communication,
                origin: "ebMS",
                description: "No receipt has been received for a message this MSH sent earlier.",
            },
            ErrorCode::InvalidReceipt => &Entry {
                code: "EBMS:0302",
                short: "InvalidReceipt",
                severity: Failure,
                category: Communication,
                origin: "ebMS",
                description: "A receipt was received for a message this MSH sent, but it does not match the message \
                              (a part is not acknowledged, or a digest differs from the one signed).",
            },
            ErrorCode::DecompressionFailure => &Entry {
                code: "EBMS:0303",
                short: "DecompressionFailure",
                severity: Failure,
                category: Communication,
                origin: "ebMS",
                description: "A payload could not be decompressed.",
            },
        }
    }

    /// The `errorCode` attribute value, e.g. `EBMS:0009`.
    pub fn code(self) -> &'static str {
        self.entry().code
    }

    /// The short name of the table, used as `shortDescription`, e.g. `InvalidHeader`.
    pub fn short_name(self) -> &'static str {
        self.entry().short
    }

    pub fn default_severity(self) -> Severity {
        self.entry().severity
    }

    pub fn category(self) -> Category {
        self.entry().category
    }

    /// The conventional `origin` attribute: `ebMS`, `security` or `reliability`.
    pub fn origin(self) -> &'static str {
        self.entry().origin
    }

    /// A one-sentence description of the condition.
    pub fn description(self) -> &'static str {
        self.entry().description
    }

    /// The code for an `errorCode` attribute value (exact match, e.g. `EBMS:0303`).
    pub fn from_code(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.code() == code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.short_name())
    }
}

struct Entry {
    code: &'static str,
    short: &'static str,
    severity: Severity,
    category: Category,
    origin: &'static str,
    description: &'static str,
}

/// An ebMS error as the MSH reports it: the code, a human-readable detail (`eb:ErrorDetail`) and the message in
/// error, if known. Every failure on the receiving side is mapped to one of these, then rendered as an Error signal
/// with [`crate::ebms::SignalError::from`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EbmsError {
    pub code: ErrorCode,
    /// Free-text detail (`eb:ErrorDetail`). Never put secrets or stack traces here: it goes to the peer.
    pub detail: String,
    /// `refToMessageInError`: the id of the message unit in error, when it could be read.
    pub ref_to_message_in_error: Option<String>,
}

impl EbmsError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        EbmsError {
            code,
            detail: detail.into(),
            ref_to_message_in_error: None,
        }
    }

    /// The same error, tied to the message unit in error.
    pub fn with_ref_to_message(mut self, message_id: impl Into<String>) -> Self {
        self.ref_to_message_in_error = Some(message_id.into());
        self
    }

    pub fn severity(&self) -> Severity {
        self.code.default_severity()
    }
}

impl fmt::Display for EbmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)?;
        if let Some(r) = &self.ref_to_message_in_error {
            write!(f, " (message {r})")?;
        }
        Ok(())
    }
}

impl std::error::Error for EbmsError {}

/// Why an incoming SOAP envelope was refused by [`crate::ebms::Envelope::parse`]. Each reason maps to one ebMS error
/// code through [`EbmsParseError::code`].
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EbmsParseError {
    /// The bytes are not acceptable XML (not well-formed, over a limit, not UTF-8, unbound prefix...).
    #[error("the SOAP envelope is not acceptable XML: {0}")]
    Xml(DomError),
    /// A DTD or entity declaration was present (XXE and entity-expansion defence).
    #[error("XML document type declarations are refused")]
    DtdRefused,
    /// The root is a SOAP 1.1 envelope; AS4 uses SOAP 1.2 only.
    #[error("SOAP 1.1 envelopes are not supported; AS4 requires SOAP 1.2 (namespace http://www.w3.org/2003/05/soap-envelope)")]
    Soap11,
    /// The root element is not a SOAP 1.2 `Envelope`.
    #[error("the root element {found} is not a SOAP 1.2 Envelope")]
    NotSoapEnvelope { found: String },
    /// Children of `soap:Envelope` are not exactly one `Header` followed by one `Body`, or PIs/text are present.
    #[error("invalid SOAP envelope structure: {0}")]
    EnvelopeStructure(String),
    #[error("the SOAP envelope has no Header")]
    MissingHeader,
    #[error("the SOAP envelope has more than one Header")]
    DuplicateHeader,
    #[error("the SOAP envelope has no Body")]
    MissingBody,
    #[error("the SOAP envelope has more than one Body")]
    DuplicateBody,
    #[error("the SOAP Header has no eb:Messaging header block")]
    MissingMessaging,
    #[error("the SOAP Header has more than one eb:Messaging header block")]
    DuplicateMessaging,
    /// An `eb:Messaging` element appears anywhere other than as a direct child of `soap:Header`.
    #[error("an eb:Messaging element appears outside the SOAP Header (inside {parent})")]
    MisplacedMessaging { parent: String },
    /// More than one `wsse:Security` header is targeted at this node.
    #[error("more than one wsse:Security header is targeted at this MSH")]
    DuplicateSecurityHeader,
    /// Two elements carry the same identifier (`wsu:Id`, `Id`, `ID` or `xml:id`), which would let a signature
    /// reference resolve to a decoy.
    #[error("the identifier {0:?} (wsu:Id, Id or xml:id) appears on more than one element")]
    DuplicateWsuId(String),
    /// A header block with `mustUnderstand="true"` that this MSH does not process.
    #[error("header block {0} is marked mustUnderstand but is not understood")]
    NotUnderstood(String),
    /// A required element or attribute is absent.
    #[error("{element} is missing in {within}")]
    Missing {
        element: &'static str,
        within: &'static str,
    },
    /// An element that may appear once appears several times.
    #[error("{element} appears more than once in {within}")]
    Duplicate {
        element: &'static str,
        within: &'static str,
    },
    /// An element not allowed at this place, or non-whitespace text in element-only content.
    #[error("unexpected {found} inside {within}")]
    Unexpected { found: String, within: &'static str },
    /// A value breaks the schema or a packaging rule of ebMS3 / AS4 (EBMS:0009).
    #[error("invalid {location}: {reason}")]
    InvalidValue { location: &'static str, reason: String },
    /// A value is inconsistent with ebMS3 rules on other values (EBMS:0003), e.g. a PartyId without type that is not
    /// a URI.
    #[error("inconsistent {location}: {reason}")]
    InconsistentValue { location: &'static str, reason: String },
    /// A value that is valid but not recognised (EBMS:0001).
    #[error("unrecognised {location}: {reason}")]
    UnrecognizedValue { location: &'static str, reason: String },
    /// A message asks for a feature this MSH does not support (EBMS:0008), e.g. several UserMessages in one header.
    #[error("not supported: {0}")]
    NotSupported(String),
    /// A PartInfo href that refers to no part of the message (EBMS:0011).
    #[error("PartInfo href {0:?} refers to a payload outside the message")]
    ExternalPayload(String),
}

impl EbmsParseError {
    /// The ebMS error code the MSH reports for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            EbmsParseError::InconsistentValue { .. } => ErrorCode::ValueInconsistent,
            EbmsParseError::UnrecognizedValue { .. } => ErrorCode::ValueNotRecognized,
            EbmsParseError::NotSupported(_) => ErrorCode::FeatureNotSupportedFailure,
            EbmsParseError::ExternalPayload(_) => ErrorCode::ExternalPayloadError,
            EbmsParseError::DuplicateSecurityHeader => ErrorCode::PolicyNoncompliance,
            _ => ErrorCode::InvalidHeader,
        }
    }

    /// The [`EbmsError`] to report, with this error's text as the detail.
    pub fn to_ebms_error(&self) -> EbmsError {
        EbmsError::new(self.code(), self.to_string())
    }
}

impl From<DomError> for EbmsParseError {
    fn from(e: DomError) -> Self {
        match e {
            DomError::DtdRefused => EbmsParseError::DtdRefused,
            other => EbmsParseError::Xml(other),
        }
    }
}

impl From<&EbmsParseError> for EbmsError {
    fn from(e: &EbmsParseError) -> Self {
        e.to_ebms_error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_and_unique() {
        let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
        let expected = [
            "EBMS:0001",
            "EBMS:0002",
            "EBMS:0003",
            "EBMS:0004",
            "EBMS:0005",
            "EBMS:0006",
            "EBMS:0007",
            "EBMS:0008",
            "EBMS:0009",
            "EBMS:0010",
            "EBMS:0011",
            "EBMS:0101",
            "EBMS:0102",
            "EBMS:0103",
            "EBMS:0201",
            "EBMS:0202",
            "EBMS:0301",
            "EBMS:0302",
            "EBMS:0303",
        ];
        assert_eq!(codes, expected);
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
            assert!(!c.description().is_empty());
        }
        assert_eq!(ErrorCode::from_code("EBMS:0012"), None);
    }

    #[test]
    fn table_values_follow_the_specifications() {
        use Category::*;
        use Severity::*;
        let check = |c: ErrorCode, short: &str, sev: Severity, cat: Category| {
            assert_eq!(
                (c.short_name(), c.default_severity(), c.category()),
                (short, sev, cat),
                "{}",
                c.code()
            );
        };
        check(ErrorCode::ValueNotRecognized, "ValueNotRecognized", Failure, Content);
        check(ErrorCode::FeatureNotSupported, "FeatureNotSupported", Warning, Content);
        check(ErrorCode::ValueInconsistent, "ValueInconsistent", Failure, Content);
        check(ErrorCode::Other, "Other", Failure, Content);
        check(
            ErrorCode::ConnectionFailure,
            "ConnectionFailure",
            Failure,
            Communication,
        );
        check(
            ErrorCode::EmptyMessagePartitionChannel,
            "EmptyMessagePartitionChannel",
            Warning,
            Communication,
        );
        check(ErrorCode::MimeInconsistency, "MimeInconsistency", Failure, Unpackaging);
        check(
            ErrorCode::FeatureNotSupportedFailure,
            "FeatureNotSupported",
            Failure,
            Unpackaging,
        );
        check(ErrorCode::InvalidHeader, "InvalidHeader", Failure, Unpackaging);
        check(
            ErrorCode::ProcessingModeMismatch,
            "ProcessingModeMismatch",
            Failure,
            Processing,
        );
        check(
            ErrorCode::ExternalPayloadError,
            "ExternalPayloadError",
            Failure,
            Content,
        );
        check(
            ErrorCode::FailedAuthentication,
            "FailedAuthentication",
            Failure,
            Processing,
        );
        check(ErrorCode::FailedDecryption, "FailedDecryption", Failure, Processing);
        check(
            ErrorCode::PolicyNoncompliance,
            "PolicyNoncompliance",
            Failure,
            Processing,
        );
        check(
            ErrorCode::DysfunctionalReliability,
            "DysfunctionalReliability",
            Failure,
            Processing,
        );
        check(ErrorCode::DeliveryFailure, "DeliveryFailure", Failure, Communication);
        check(ErrorCode::MissingReceipt, "MissingReceipt", Failure, Communication);
        check(ErrorCode::InvalidReceipt, "InvalidReceipt", Failure, Communication);
        check(
            ErrorCode::DecompressionFailure,
            "DecompressionFailure",
            Failure,
            Communication,
        );
    }

    #[test]
    fn severity_parsing() {
        assert_eq!(Severity::parse("failure"), Some(Severity::Failure));
        assert_eq!(Severity::parse("Warning"), Some(Severity::Warning));
        assert_eq!(Severity::parse("fatal"), None);
    }

    #[test]
    fn parse_errors_map_to_codes() {
        assert_eq!(EbmsParseError::DuplicateMessaging.code(), ErrorCode::InvalidHeader);
        assert_eq!(EbmsParseError::from(DomError::DtdRefused), EbmsParseError::DtdRefused);
        let e = EbmsParseError::InconsistentValue {
            location: "PartyId",
            reason: "x".into(),
        };
        assert_eq!(e.to_ebms_error().code, ErrorCode::ValueInconsistent);
        assert_eq!(
            EbmsParseError::ExternalPayload("http://x".into()).code(),
            ErrorCode::ExternalPayloadError
        );
    }
}
