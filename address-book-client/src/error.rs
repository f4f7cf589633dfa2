//! The typed errors of discovery. Every variant names the service that failed ([`Service`]) and what failed, so an
//! operator can tell a DNS outage from a forged SMP answer from an unknown recipient.

use crate::http::HttpError;
use crate::ids::IdError;
use std::fmt;

/// The federation service an error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// The SDK address book (JSON:API).
    AddressBook,
    /// The SML, i.e. the BDXL DNS zone.
    Sml,
    /// The participant's SMP (and the CertPub extension it carries).
    Smp,
    /// Not a service: the caller's input.
    Input,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::AddressBook => "address book",
            Service::Sml => "SML (DNS)",
            Service::Smp => "SMP",
            Service::Input => "input",
        })
    }
}

/// Why a discovery step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("input: {0}")]
    InvalidId(#[from] IdError),

    #[error("SML (DNS): no answer for {name} within {timeout_ms} ms")]
    DnsTimeout { name: String, timeout_ms: u64 },
    #[error("SML (DNS): lookup of {name} failed: {reason}")]
    DnsFailure { name: String, reason: String },
    #[error("SML (DNS): no NAPTR record at {name}: the participant is not registered in the SML")]
    NoSmpRecord { name: String },
    #[error("SML (DNS): NAPTR records at {name} carry no U-NAPTR with service Meta:SMP (found: {found:?})")]
    NoMetaSmpNaptr { name: String, found: Vec<String> },
    #[error("SML (DNS): NAPTR regexp {regexp:?} at {name} does not give an http(s) SMP URL: {reason}")]
    BadNaptrRegexp {
        name: String,
        regexp: String,
        reason: String,
    },

    #[error("SMP: {url}: {reason}")]
    SmpUnreachable { url: String, reason: HttpError },
    #[error("SMP: {url} answered HTTP {status}")]
    SmpHttp { url: String, status: u16 },
    #[error("SMP: participant {participant} is not registered (HTTP 404 for the service group)")]
    NotRegistered { participant: String },
    #[error("SMP: participant {participant} does not accept document {document}")]
    DocumentNotSupported { participant: String, document: String },
    #[error("SMP: malformed answer from {url}: {reason}")]
    SmpMalformed { url: String, reason: String },
    #[error("SMP: the service metadata is not signed")]
    SmpSignatureMissing,
    #[error("SMP: the service metadata signature is invalid: {reason}")]
    SmpSignatureInvalid { reason: String },
    #[error("SMP: the metadata signer does not chain to the SMP trust anchor: {reason}")]
    SmpSignerUntrusted { reason: String },
    #[error("SMP: answer is for participant {answered}, but {asked} was asked")]
    SmpWrongParticipant { asked: String, answered: String },
    #[error("SMP: answer is for document {answered}, but {asked} was asked")]
    SmpWrongDocument { asked: String, answered: String },
    #[error("SMP: no endpoint with an accepted transport profile (accepted {accepted:?}, offered {offered:?})")]
    NoMatchingTransport {
        accepted: Vec<String>,
        offered: Vec<String>,
    },
    #[error("SMP: endpoint {url} is not active before {activation}")]
    EndpointNotYetActive { url: String, activation: String },
    #[error("SMP: endpoint {url} expired at {expiration}")]
    EndpointExpired { url: String, expiration: String },
    #[error("SMP: endpoint certificate is unusable: {reason}")]
    ApCertificate { reason: String },
    #[error("SMP: CertPub extension is malformed: {reason}")]
    CertPub { reason: String },

    #[error("address book: {url}: {reason}")]
    AddressBookUnreachable { url: String, reason: HttpError },
    #[error("address book: {url} answered HTTP {status}")]
    AddressBookHttp { url: String, status: u16 },
    #[error("address book: {what} not found")]
    AddressBookNotFound { what: String },
    #[error("address book: malformed answer from {url}: {reason}")]
    AddressBookMalformed { url: String, reason: String },
    #[error("address book: more than {max_pages} pages of results; refine the search")]
    AddressBookTooManyPages { max_pages: usize },
}

impl DiscoveryError {
    /// The service that failed.
    pub fn service(&self) -> Service {
        use DiscoveryError::*;
        match self {
            InvalidId(_) => Service::Input,
            DnsTimeout { .. }
            | DnsFailure { .. }
            | NoSmpRecord { .. }
            | NoMetaSmpNaptr { .. }
            | BadNaptrRegexp { .. } => Service::Sml,
            AddressBookUnreachable { .. }
            | AddressBookHttp { .. }
            | AddressBookNotFound { .. }
            | AddressBookMalformed { .. }
            | AddressBookTooManyPages { .. } => Service::AddressBook,
            _ => Service::Smp,
        }
    }

    /// Whether the failure is the service being unavailable (timeout, connection refused, HTTP 5xx, DNS failure),
    /// rather than a definite answer. Only these allow a stale cached answer to be served: a forged or
    /// contradictory answer, or a definite "not registered", never does.
    pub fn is_unavailability(&self) -> bool {
        use DiscoveryError::*;
        match self {
            DnsTimeout { .. } | DnsFailure { .. } => true,
            // A refused TLS handshake (untrusted or wrong-name server certificate, no https trust configured) is a
            // trust or configuration problem that waiting does not fix; other transport failures may pass.
            SmpUnreachable { reason, .. } | AddressBookUnreachable { reason, .. } => {
                !matches!(reason, HttpError::Tls(_))
            }
            SmpHttp { status, .. } | AddressBookHttp { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// Whether this is a definite "not found" answer, which is cached negatively.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            DiscoveryError::NoSmpRecord { .. }
                | DiscoveryError::NotRegistered { .. }
                | DiscoveryError::DocumentNotSupported { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_tls_handshake_is_definite_and_a_network_failure_is_an_outage() {
        let smp = |reason| DiscoveryError::SmpUnreachable {
            url: "https://smp.example/".into(),
            reason,
        };
        assert!(!smp(HttpError::Tls("invalid peer certificate: UnknownIssuer".into())).is_unavailability());
        assert!(smp(HttpError::Connect("connection refused".into())).is_unavailability());
        assert!(smp(HttpError::Timeout(std::time::Duration::from_secs(1))).is_unavailability());
        let book = DiscoveryError::AddressBookUnreachable {
            url: "https://ab.example/".into(),
            reason: HttpError::Tls("no trust".into()),
        };
        assert!(!book.is_unavailability());
        assert_eq!(book.service(), Service::AddressBook);
    }
}
