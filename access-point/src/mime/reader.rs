//! The streaming multipart/related reader. One pass over the body with a fixed-size buffer: a memchr `memmem`
//! search finds `\n--boundary`, everything before it is decoded and handed to the part's sink (memory for the root
//! part, memory or a spool thread for attachments), and only a tail shorter than the delimiter is ever carried between reads.

use std::collections::HashSet;
use std::path::Path;

use bytes::{Buf, Bytes, BytesMut};
use memchr::memmem::Finder;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::base64_stream::Base64Decoder;
use super::content_type::{ContentType, MessageContentType, MultipartRelated, SoapVersion};
use super::headers::{PartHeaders, TransferEncoding};
use super::spool::SpoolWriter;
pub use super::spool::{PartDigests, SMALL_PART_IN_MEMORY_BYTES};
pub use super::spool::{PartReader, ReadAhead, SpooledPart};
use super::{MimeError, MimeLimits};

/// Bytes requested from the body per read; also the bulk of the reader's memory.
const READ_BUFFER_BYTES: usize = 256 << 10;

/// Longest run of transport padding (spaces, tabs) accepted after a boundary before the line break.
const MAX_TRANSPORT_PADDING: usize = 1024;

/// A message read by [`read_message`].
#[derive(Debug)]
pub struct SoapWithAttachments {
    /// SOAP version of the root part; the caller refuses [`SoapVersion::Soap11`] if it only speaks SOAP 1.2.
    pub soap_version: SoapVersion,
    /// The parsed HTTP Content-Type.
    pub content_type: MessageContentType,
    /// The root (SOAP) part, in memory.
    pub root: RootPart,
    /// The other parts in wire order (small ones in memory, large ones spooled to disk).
    pub attachments: Vec<SpooledPart>,
}

impl SoapWithAttachments {
    /// The attachment whose Content-ID is `id`; accepts a bare id, `<id>` or a `cid:id` URL as used in
    /// `eb:PartInfo/@href`.
    pub fn attachment(&self, id: &str) -> Option<&SpooledPart> {
        let bare = id.strip_prefix("cid:").unwrap_or(id);
        let bare = super::content_type::strip_angle_brackets(bare);
        self.attachments
            .iter()
            .find(|p| p.content_id.as_deref() == Some(bare.as_str()))
    }
}

/// The root part: the part named by the `start` parameter, else the first part.
#[derive(Debug, Clone)]
pub struct RootPart {
    /// Content-ID without angle brackets, if the part has one.
    pub content_id: Option<String>,
    /// All header fields of the part (for a bare SOAP body: just the HTTP Content-Type).
    pub headers: PartHeaders,
    /// The decoded SOAP envelope bytes.
    pub content: Vec<u8>,
}

/// Reads an AS4 HTTP body: `content_type` is the HTTP `Content-Type` value, `body` the raw body. The root part is
/// returned in memory; attachments are decoded and spooled into `spool_dir`, large ones hashed on the way
/// ([`PartDigests::WhileSpooling`]). On error every file already spooled for this message is removed.
pub async fn read_message<R: AsyncRead + Unpin>(
    body: R,
    content_type: &str,
    limits: &MimeLimits,
    spool_dir: &Path,
) -> Result<SoapWithAttachments, MimeError> {
    read_message_with(body, content_type, limits, spool_dir, PartDigests::WhileSpooling).await
}

/// [`read_message`] choosing when a large attachment's SHA-256 is computed: [`PartDigests::OnRequest`] saves a
/// hash pass for callers that do not use most parts' digests (the open of an encrypted message).
pub async fn read_message_with<R: AsyncRead + Unpin>(
    body: R,
    content_type: &str,
    limits: &MimeLimits,
    spool_dir: &Path,
    digests: PartDigests,
) -> Result<SoapWithAttachments, MimeError> {
    let parsed = MessageContentType::parse(content_type)?;
    match &parsed {
        MessageContentType::SoapOnly {
            soap_version,
            content_type: ct,
        } => {
            let root = read_bare_soap(body, ct, content_type, limits).await?;
            Ok(SoapWithAttachments {
                soap_version: *soap_version,
                content_type: parsed,
                root,
                attachments: Vec::new(),
            })
        }
        MessageContentType::Multipart(related) => {
            let (root, attachments) = read_multipart(body, related, limits, spool_dir, digests).await?;
            let soap_version = soap_version_of(related, &root)?;
            Ok(SoapWithAttachments {
                soap_version,
                content_type: parsed,
                root,
                attachments,
            })
        }
    }
}

/// SOAP version from the `type` parameter, else from the root part's own Content-Type.
fn soap_version_of(related: &MultipartRelated, root: &RootPart) -> Result<SoapVersion, MimeError> {
    let declared = match &related.root_type {
        Some(t) => t.clone(),
        None => match root.headers.content_type() {
            Some(ct) => ContentType::parse(ct)?.mime_type,
            None => String::from("text/plain"),
        },
    };
    SoapVersion::from_media_type(&declared).ok_or(MimeError::UnsupportedRootType(declared))
}

async fn read_bare_soap<R: AsyncRead + Unpin>(
    body: R,
    _parsed: &ContentType,
    raw_content_type: &str,
    limits: &MimeLimits,
) -> Result<RootPart, MimeError> {
    let mut input = Input::new(body, READ_BUFFER_BYTES, limits.max_total_bytes);
    let mut content = Vec::new();
    loop {
        input.fill().await?;
        if input.eof {
            break;
        }
        let data = input.data();
        if content.len() + data.len() > limits.max_soap_bytes {
            return Err(MimeError::SoapPartTooLarge {
                limit: limits.max_soap_bytes,
            });
        }
        content.extend_from_slice(data);
        let n = data.len();
        input.consume(n);
    }
    let mut headers = PartHeaders::new();
    headers.push("Content-Type", raw_content_type.trim());
    Ok(RootPart {
        content_id: None,
        headers,
        content,
    })
}

/// The body behind a read buffer; `data()` is what has been read and not yet consumed. Consumed prefixes can be
/// taken as `Bytes` without copying ([`Input::take`]): the buffer moves on to fresh memory while the taken chunk
/// travels to the spool thread.
struct Input<R> {
    reader: R,
    buf: BytesMut,
    /// Bytes requested per read (the buffer is topped up to at least this much free space).
    read_size: usize,
    eof: bool,
    total: u64,
    max_total: u64,
}

impl<R: AsyncRead + Unpin> Input<R> {
    fn new(reader: R, read_size: usize, max_total: u64) -> Self {
        Input {
            reader,
            buf: BytesMut::with_capacity(read_size),
            read_size,
            eof: false,
            total: 0,
            max_total,
        }
    }

    fn data(&self) -> &[u8] {
        &self.buf
    }

    fn consume(&mut self, n: usize) {
        self.buf.advance(n);
    }

    fn take(&mut self, n: usize) -> Bytes {
        self.buf.split_to(n).freeze()
    }

    /// Reads more bytes after the unconsumed data; sets `eof` at the end of the body.
    async fn fill(&mut self) -> Result<(), MimeError> {
        if self.eof {
            return Ok(());
        }
        if self.buf.capacity() - self.buf.len() < self.read_size / 2 {
            self.buf.reserve(self.read_size);
        }
        let n = self.reader.read_buf(&mut self.buf).await.map_err(MimeError::Read)?;
        if n == 0 {
            self.eof = true;
        } else {
            self.total += n as u64;
            if self.total > self.max_total {
                return Err(MimeError::MessageTooLarge { limit: self.max_total });
            }
        }
        Ok(())
    }
}

/// What follows `--boundary` on its line.
#[derive(Debug, PartialEq, Eq)]
enum DelimiterTail {
    /// Not enough bytes to decide.
    NeedMore,
    /// The boundary string continues (e.g. `--boundaryX`): content, not a delimiter.
    NotDelimiter,
    /// A part delimiter; the value counts the bytes after the boundary up to and including the line break.
    Open(usize),
    /// The close delimiter `--boundary--`; the rest of the body is the epilogue.
    Close,
}

fn classify_tail(after: &[u8]) -> DelimiterTail {
    if after.starts_with(b"--") {
        return DelimiterTail::Close;
    }
    if after.is_empty() || after == b"-" {
        return DelimiterTail::NeedMore;
    }
    let padding = after.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
    if padding > MAX_TRANSPORT_PADDING {
        return DelimiterTail::NotDelimiter;
    }
    match after.get(padding) {
        None => DelimiterTail::NeedMore,
        Some(b'\n') => DelimiterTail::Open(padding + 1),
        Some(b'\r') => match after.get(padding + 1) {
            None => DelimiterTail::NeedMore,
            Some(b'\n') => DelimiterTail::Open(padding + 2),
            Some(_) => DelimiterTail::NotDelimiter,
        },
        Some(_) => DelimiterTail::NotDelimiter,
    }
}

/// Finds the blank line ending a header section. Returns (section length without the blank line, bytes to consume).
fn find_header_end(data: &[u8]) -> Option<(usize, usize)> {
    if data.starts_with(b"\n") {
        return Some((0, 1));
    }
    if data.starts_with(b"\r\n") {
        return Some((0, 2));
    }
    for i in memchr::memchr_iter(b'\n', data) {
        let rest = &data[i + 1..];
        if rest.starts_with(b"\n") {
            return Some((i + 1, i + 2));
        }
        if rest.starts_with(b"\r\n") {
            return Some((i + 1, i + 3));
        }
    }
    None
}

/// Where decoded bytes of the current part go.
enum SinkTarget {
    Root { content: Vec<u8>, limit: usize },
    Spool { writer: SpoolWriter, size: u64, limit: u64 },
}

impl SinkTarget {
    /// Checks the size limit for `len` more bytes.
    fn admit(&mut self, len: usize, part_index: usize) -> Result<(), MimeError> {
        match self {
            SinkTarget::Root { content, limit } => {
                if content.len() + len > *limit {
                    return Err(MimeError::SoapPartTooLarge { limit: *limit });
                }
            }
            SinkTarget::Spool { size, limit, .. } => {
                *size += len as u64;
                if *size > *limit {
                    return Err(MimeError::AttachmentTooLarge {
                        part_index,
                        limit: *limit,
                    });
                }
            }
        }
        Ok(())
    }

    async fn store_slice(&mut self, bytes: &[u8], part_index: usize) -> Result<(), MimeError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.admit(bytes.len(), part_index)?;
        match self {
            SinkTarget::Root { content, .. } => content.extend_from_slice(bytes),
            SinkTarget::Spool { writer, .. } => writer
                .write(Bytes::copy_from_slice(bytes))
                .await
                .map_err(MimeError::Spool)?,
        }
        Ok(())
    }

    async fn store_owned(&mut self, bytes: Bytes, part_index: usize) -> Result<(), MimeError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.admit(bytes.len(), part_index)?;
        match self {
            SinkTarget::Root { content, .. } => content.extend_from_slice(&bytes),
            SinkTarget::Spool { writer, .. } => writer.write(bytes).await.map_err(MimeError::Spool)?,
        }
        Ok(())
    }
}

struct PartSink {
    target: SinkTarget,
    decoder: Option<Base64Decoder>,
    decoded: Vec<u8>,
    part_index: usize,
}

enum PartContent {
    Root(Vec<u8>),
    Spooled(super::spool::SpooledFile),
}

impl PartSink {
    /// Moves the first `n` unconsumed input bytes into the part, decoding them if needed.
    async fn emit<R: AsyncRead + Unpin>(&mut self, input: &mut Input<R>, n: usize) -> Result<(), MimeError> {
        if n == 0 {
            return Ok(());
        }
        match &mut self.decoder {
            None => self.target.store_owned(input.take(n), self.part_index).await,
            Some(decoder) => {
                self.decoded.clear();
                decoder
                    .decode(&input.data()[..n], &mut self.decoded)
                    .map_err(|_| MimeError::InvalidBase64 {
                        part_index: self.part_index,
                    })?;
                input.consume(n);
                self.target.store_slice(&self.decoded, self.part_index).await
            }
        }
    }

    async fn finish(mut self) -> Result<PartContent, MimeError> {
        if let Some(decoder) = &mut self.decoder {
            self.decoded.clear();
            let flushed = match decoder.finish(&mut self.decoded) {
                Ok(()) => self.target.store_slice(&self.decoded, self.part_index).await,
                Err(_) => Err(MimeError::InvalidBase64 {
                    part_index: self.part_index,
                }),
            };
            if let Err(e) = flushed {
                self.abort().await;
                return Err(e);
            }
        }
        match self.target {
            SinkTarget::Root { content, .. } => Ok(PartContent::Root(content)),
            SinkTarget::Spool { writer, .. } => {
                Ok(PartContent::Spooled(writer.finish().await.map_err(MimeError::Spool)?))
            }
        }
    }

    async fn abort(self) {
        if let SinkTarget::Spool { writer, .. } = self.target {
            writer.abort().await;
        }
    }
}

async fn read_multipart<R: AsyncRead + Unpin>(
    body: R,
    related: &MultipartRelated,
    limits: &MimeLimits,
    spool_dir: &Path,
    digests: PartDigests,
) -> Result<(RootPart, Vec<SpooledPart>), MimeError> {
    let mut input = Input::new(body, READ_BUFFER_BYTES, limits.max_total_bytes);
    // `\n--boundary`: the delimiter as it appears after content; `--boundary` alone may open the body.
    let needle: Vec<u8> = [b"\n--", related.boundary.as_bytes()].concat();
    let finder = Finder::new(&needle);

    if skip_preamble(&mut input, &needle, &finder).await? == DelimiterTail::Close {
        return Err(MimeError::NoParts);
    }

    let mut root: Option<RootPart> = None;
    let mut attachments: Vec<SpooledPart> = Vec::new();
    let mut content_ids: HashSet<String> = HashSet::new();
    let mut part_index = 0usize;
    loop {
        if part_index >= limits.max_parts {
            return Err(MimeError::TooManyParts {
                limit: limits.max_parts,
            });
        }
        let headers = read_part_headers(&mut input, limits.max_header_bytes, part_index).await?;
        let content_id = headers.content_id();
        if let Some(id) = &content_id {
            if !content_ids.insert(id.clone()) {
                return Err(MimeError::DuplicateContentId(id.clone()));
            }
        }
        let is_root = match &related.start {
            Some(start) => root.is_none() && content_id.as_deref() == Some(start.as_str()),
            None => part_index == 0,
        };
        let decoder = match headers.transfer_encoding(part_index)? {
            TransferEncoding::Identity => None,
            TransferEncoding::Base64 => Some(Base64Decoder::new()),
        };
        let target = if is_root {
            SinkTarget::Root {
                content: Vec::new(),
                limit: limits.max_soap_bytes,
            }
        } else {
            SinkTarget::Spool {
                writer: SpoolWriter::start(spool_dir, digests),
                size: 0,
                limit: limits.max_attachment_bytes,
            }
        };
        let mut sink = PartSink {
            target,
            decoder,
            decoded: Vec::new(),
            part_index,
        };
        let closed = match stream_body(&mut input, &needle, &finder, &mut sink).await {
            Ok(closed) => closed,
            Err(e) => {
                sink.abort().await;
                return Err(e);
            }
        };
        match sink.finish().await? {
            PartContent::Root(content) => {
                root = Some(RootPart {
                    content_id,
                    headers,
                    content,
                })
            }
            PartContent::Spooled(spooled) => {
                let content_type = headers.content_type().map(str::to_owned);
                attachments.push(SpooledPart::new(content_id, content_type, headers, spooled))
            }
        }
        part_index += 1;
        if closed {
            break;
        }
    }
    match root {
        Some(root) => Ok((root, attachments)),
        None => Err(MimeError::StartNotFound(related.start.clone().unwrap_or_default())),
    }
}

/// Discards the preamble up to and including the first delimiter line.
async fn skip_preamble<R: AsyncRead + Unpin>(
    input: &mut Input<R>,
    needle: &[u8],
    finder: &Finder<'_>,
) -> Result<DelimiterTail, MimeError> {
    let dash_boundary = &needle[1..];
    let mut at_start = true;
    loop {
        input.fill().await?;
        let data = input.data();
        if at_start {
            // The body may open with the delimiter itself, without a preceding line break.
            if data.len() < dash_boundary.len() + 2 && dash_boundary.starts_with(data) && !input.eof {
                continue;
            }
            at_start = false;
            if let Some(after) = data.strip_prefix(dash_boundary) {
                match classify_tail(after) {
                    DelimiterTail::Open(n) => {
                        input.consume(dash_boundary.len() + n);
                        return Ok(DelimiterTail::Open(n));
                    }
                    DelimiterTail::Close => return Ok(DelimiterTail::Close),
                    DelimiterTail::NeedMore if !input.eof => {
                        at_start = true;
                        continue;
                    }
                    _ => {}
                }
            }
        }
        match finder.find(data) {
            Some(p) => match classify_tail(&data[p + needle.len()..]) {
                DelimiterTail::Open(n) => {
                    input.consume(p + needle.len() + n);
                    return Ok(DelimiterTail::Open(n));
                }
                DelimiterTail::Close => return Ok(DelimiterTail::Close),
                DelimiterTail::NotDelimiter => input.consume(p + 1),
                DelimiterTail::NeedMore if input.eof => return Err(MimeError::BoundaryNotFound),
                DelimiterTail::NeedMore => input.consume(p),
            },
            None if input.eof => return Err(MimeError::BoundaryNotFound),
            None => {
                let discard = data.len().saturating_sub(needle.len());
                input.consume(discard);
            }
        }
    }
}

/// Reads and parses one part's header section, consuming the blank line after it.
async fn read_part_headers<R: AsyncRead + Unpin>(
    input: &mut Input<R>,
    max_header_bytes: usize,
    part_index: usize,
) -> Result<PartHeaders, MimeError> {
    loop {
        let data = input.data();
        if let Some((section_len, consumed)) = find_header_end(data) {
            if section_len > max_header_bytes {
                return Err(MimeError::HeaderSectionTooLarge {
                    part_index,
                    limit: max_header_bytes,
                });
            }
            let headers = PartHeaders::parse(&data[..section_len], part_index)?;
            input.consume(consumed);
            return Ok(headers);
        }
        if data.len() > max_header_bytes + 3 {
            return Err(MimeError::HeaderSectionTooLarge {
                part_index,
                limit: max_header_bytes,
            });
        }
        if input.eof {
            return Err(MimeError::UnterminatedPart { part_index });
        }
        input.fill().await?;
    }
}

/// Streams one part's body into `sink` up to the next delimiter. Returns true when that delimiter is the close
/// delimiter.
async fn stream_body<R: AsyncRead + Unpin>(
    input: &mut Input<R>,
    needle: &[u8],
    finder: &Finder<'_>,
    sink: &mut PartSink,
) -> Result<bool, MimeError> {
    let part_index = sink.part_index;
    let dash_boundary = &needle[1..];
    let mut at_start = true;
    loop {
        let data = input.data();
        if at_start {
            // Tolerance: an empty body written without the line break before the next delimiter.
            if data.len() < dash_boundary.len() + 2 && dash_boundary.starts_with(data) && !input.eof {
                input.fill().await?;
                continue;
            }
            at_start = false;
            if let Some(after) = data.strip_prefix(dash_boundary) {
                match classify_tail(after) {
                    DelimiterTail::Open(n) => {
                        input.consume(dash_boundary.len() + n);
                        return Ok(false);
                    }
                    DelimiterTail::Close => return Ok(true),
                    DelimiterTail::NeedMore if !input.eof => {
                        at_start = true;
                        input.fill().await?;
                        continue;
                    }
                    _ => {}
                }
            }
        }
        match finder.find(data) {
            Some(p) => {
                let content_end = if p > 0 && data[p - 1] == b'\r' { p - 1 } else { p };
                match classify_tail(&data[p + needle.len()..]) {
                    DelimiterTail::Open(n) => {
                        sink.emit(input, content_end).await?;
                        input.consume(p - content_end + needle.len() + n);
                        return Ok(false);
                    }
                    DelimiterTail::Close => {
                        sink.emit(input, content_end).await?;
                        return Ok(true);
                    }
                    DelimiterTail::NotDelimiter => sink.emit(input, p + 1).await?,
                    DelimiterTail::NeedMore => {
                        if input.eof {
                            return Err(MimeError::UnterminatedPart { part_index });
                        }
                        sink.emit(input, content_end).await?;
                        input.fill().await?;
                    }
                }
            }
            None => {
                if input.eof {
                    return Err(MimeError::UnterminatedPart { part_index });
                }
                // Keep a tail that may hold the start of a delimiter (and the CR before it).
                let emit = data.len().saturating_sub(needle.len() + 1);
                sink.emit(input, emit).await?;
                input.fill().await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiter_tails() {
        assert_eq!(classify_tail(b""), DelimiterTail::NeedMore);
        assert_eq!(classify_tail(b"-"), DelimiterTail::NeedMore);
        assert_eq!(classify_tail(b"--"), DelimiterTail::Close);
        assert_eq!(classify_tail(b"--garbage"), DelimiterTail::Close);
        assert_eq!(classify_tail(b"\r\n"), DelimiterTail::Open(2));
        assert_eq!(classify_tail(b"\n"), DelimiterTail::Open(1));
        assert_eq!(classify_tail(b" \t \r\nX"), DelimiterTail::Open(5));
        assert_eq!(classify_tail(b"  "), DelimiterTail::NeedMore);
        assert_eq!(classify_tail(b"\r"), DelimiterTail::NeedMore);
        assert_eq!(classify_tail(b"X\r\n"), DelimiterTail::NotDelimiter);
        assert_eq!(classify_tail(b"-x"), DelimiterTail::NotDelimiter);
        assert_eq!(classify_tail(b"\rX"), DelimiterTail::NotDelimiter);
        let long_padding = [b' '; MAX_TRANSPORT_PADDING + 1];
        assert_eq!(classify_tail(&long_padding), DelimiterTail::NotDelimiter);
    }

    #[test]
    fn header_ends() {
        assert_eq!(find_header_end(b"\r\nbody"), Some((0, 2)));
        assert_eq!(find_header_end(b"\nbody"), Some((0, 1)));
        assert_eq!(find_header_end(b"A: b\r\n\r\nbody"), Some((6, 8)));
        assert_eq!(find_header_end(b"A: b\n\nbody"), Some((5, 6)));
        assert_eq!(find_header_end(b"A: b\r\nC: d\r\n"), None);
        assert_eq!(find_header_end(b"A: b\r\n\r"), None);
    }
}
