//! Streaming SOAP-with-attachments: a multipart/related reader that spools attachments to disk and a streaming writer.
//!
//! * [`read_message`] reads an AS4 HTTP body (given its `Content-Type`) from any `AsyncRead`. The root (SOAP) part is
//!   kept in memory, capped by [`MimeLimits::max_soap_bytes`]; every other part is decoded while streaming and
//!   kept ([`SpooledPart`]) together with its size and SHA-256 (computed on the way or on request, see
//!   [`PartDigests`]): in memory up to [`SMALL_PART_IN_MEMORY_BYTES`], else
//!   spooled to a temporary file, so no large attachment is ever held whole in memory. Every size is capped by a named setting in [`MimeLimits`]; malformed input gives a typed
//!   [`MimeError`] and leaves no spooled file behind.
//! * [`MultipartWriter`] streams a message out to an `AsyncWrite` or as a `Stream` of `Bytes` (a hyper body), with a
//!   random boundary, `Content-Transfer-Encoding: binary`, and returns the matching `Content-Type` value.
//! * [`content_type`] parses `Content-Type` values; [`headers`] holds the per-part header list.
//!
//! Tolerances (what real peers send): a preamble and an epilogue, no `start` parameter (the first part is the root),
//! a root with or without Content-ID, quoted or unquoted boundaries and case-insensitive parameter names, CRLF or
//! bare LF line endings, transport padding (spaces and tabs) after a boundary, `Content-Transfer-Encoding` binary,
//! 8bit, 7bit or base64 (whitespace-tolerant, padding optional), `type="application/soap+xml"` with or without
//! `start-info`, and a bare `application/soap+xml` body without attachments. SOAP 1.1 (`text/xml`) is recognised
//! and reported as [`SoapVersion::Soap11`] so that the message handler can refuse it precisely.
//!
//! With bare-LF line endings a binary part whose content ends in a CR loses that CR (it reads as the delimiter's CRLF);
//! with standard CRLF line endings every byte sequence round-trips.

mod base64_stream;
pub mod content_type;
pub mod headers;
mod reader;
mod spool;
mod writer;

pub use content_type::{ContentType, MessageContentType, MultipartRelated, SoapVersion};
pub use headers::{PartHeaders, TransferEncoding};
pub use reader::{
    read_message, read_message_with, PartDigests, PartReader, ReadAhead, RootPart, SoapWithAttachments, SpooledPart,
    SMALL_PART_IN_MEMORY_BYTES,
};
pub use writer::{AttachmentSource, MultipartWriter, OutgoingAttachment, PartProducer};

/// Size and count limits applied by [`read_message`]. Every limit is enforced while streaming, before the data that
/// would exceed it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimeLimits {
    /// Largest root (SOAP envelope) part, after transfer decoding, held in memory. Default 8 MiB.
    pub max_soap_bytes: usize,
    /// Largest header section of one part (all its header lines). Default 16 KiB.
    pub max_header_bytes: usize,
    /// Most parts in one message, root included. Default 128.
    pub max_parts: usize,
    /// Largest attachment, after transfer decoding. Default 2 GiB.
    pub max_attachment_bytes: u64,
    /// Largest HTTP body read, counted on the wire (preamble, headers, encoded bodies). Default 3 GiB.
    pub max_total_bytes: u64,
}

impl Default for MimeLimits {
    fn default() -> Self {
        MimeLimits {
            max_soap_bytes: 8 << 20,
            max_header_bytes: 16 << 10,
            max_parts: 128,
            max_attachment_bytes: 2 << 30,
            max_total_bytes: 3 << 30,
        }
    }
}

/// Why a message could not be read. Parts are numbered from 0 in the order they appear on the wire.
#[derive(Debug, thiserror::Error)]
pub enum MimeError {
    /// The Content-Type value does not follow RFC 2045 syntax.
    #[error("invalid Content-Type {value:?}: {reason}")]
    InvalidContentType {
        /// The value received.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A Content-Type parameter appears twice.
    #[error("Content-Type parameter {0:?} given more than once")]
    DuplicateParameter(String),
    /// The body is neither multipart/related nor a SOAP envelope.
    #[error("unsupported media type {0:?} (expected multipart/related or application/soap+xml)")]
    UnsupportedMediaType(String),
    /// The root part is not a SOAP envelope (type parameter or root Content-Type).
    #[error("root part media type {0:?} is not SOAP (application/soap+xml or text/xml)")]
    UnsupportedRootType(String),
    /// multipart/related without a boundary parameter.
    #[error("multipart/related Content-Type has no boundary parameter")]
    MissingBoundary,
    /// The boundary is empty, too long or contains control characters.
    #[error("invalid multipart boundary {0:?}")]
    InvalidBoundary(String),
    /// The body never contains the first boundary delimiter.
    #[error("the multipart boundary never occurs in the body")]
    BoundaryNotFound,
    /// The body ends inside a part: the next delimiter or the close delimiter is missing.
    #[error("part {part_index} is not terminated: the body ends before the next boundary or the close delimiter")]
    UnterminatedPart {
        /// The unfinished part.
        part_index: usize,
    },
    /// The close delimiter comes before any part.
    #[error("the message has no parts")]
    NoParts,
    /// A part's header section exceeds [`MimeLimits::max_header_bytes`].
    #[error("header section of part {part_index} exceeds {limit} bytes")]
    HeaderSectionTooLarge {
        /// The offending part.
        part_index: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A header line cannot be parsed.
    #[error("malformed header in part {part_index}: {reason}")]
    MalformedHeader {
        /// The offending part.
        part_index: usize,
        /// What is wrong.
        reason: String,
    },
    /// More parts than [`MimeLimits::max_parts`].
    #[error("the message has more than {limit} parts")]
    TooManyParts {
        /// The limit in force.
        limit: usize,
    },
    /// The root part exceeds [`MimeLimits::max_soap_bytes`].
    #[error("the SOAP part exceeds {limit} bytes")]
    SoapPartTooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// An attachment exceeds [`MimeLimits::max_attachment_bytes`].
    #[error("attachment part {part_index} exceeds {limit} bytes")]
    AttachmentTooLarge {
        /// The offending part.
        part_index: usize,
        /// The limit in force.
        limit: u64,
    },
    /// The body exceeds [`MimeLimits::max_total_bytes`].
    #[error("the message body exceeds {limit} bytes")]
    MessageTooLarge {
        /// The limit in force.
        limit: u64,
    },
    /// Two parts carry the same Content-ID.
    #[error("Content-ID {0:?} appears on more than one part")]
    DuplicateContentId(String),
    /// A base64 part contains invalid characters, data after the padding or a truncated final group.
    #[error("invalid base64 in part {part_index}")]
    InvalidBase64 {
        /// The offending part.
        part_index: usize,
    },
    /// Content-Transfer-Encoding other than binary, 8bit, 7bit or base64.
    #[error("unsupported Content-Transfer-Encoding {encoding:?} in part {part_index}")]
    UnsupportedTransferEncoding {
        /// The offending part.
        part_index: usize,
        /// The encoding named, lower-cased.
        encoding: String,
    },
    /// The `start` parameter names a Content-ID that no part carries.
    #[error("start parameter names Content-ID {0:?} but no part has it")]
    StartNotFound(String),
    /// Reading the body failed (e.g. the peer disconnected).
    #[error("reading the message body failed: {0}")]
    Read(#[source] std::io::Error),
    /// Writing an attachment to the spool directory failed.
    #[error("spooling an attachment to disk failed: {0}")]
    Spool(#[source] std::io::Error),
}
