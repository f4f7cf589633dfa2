//! A streaming pass over a received XHE file that never holds an attachment in memory.
//!
//! [`scan_envelope`] copies the envelope into a bounded "skeleton": every byte of the document except the base64
//! text of the SDK message's `ContentFiles/content` elements, which it replaces by the placeholder
//! [`PLACEHOLDER`] after checking the base64 and counting the decoded size. The skeleton then goes through the
//! ordinary DOM parsers and DIGG rule checks ([`crate::sdk::xhe::Xhe`], [`crate::sdk::message_v3::SdkMessage`]).
//!
//! [`AttachmentReader`] finds the n-th `ContentFiles/content` of the same file again and yields its decoded bytes
//! chunk by chunk, for the inbox API.
//!
//! Text is read straight from the underlying `BufRead` (quick-xml only sees markup), so a 100 MB base64 text node
//! costs a few buffers, not 100 MB.

use std::io::BufRead;

use base64::Engine;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use crate::sdk::message_v3::MESSAGE_V3_NS;

/// What replaces an attachment's base64 content in the skeleton (valid base64 of three zero bytes).
pub const PLACEHOLDER: &str = "AAAA";
/// Base64 characters decoded per chunk when streaming an attachment (a multiple of 4).
pub const DECODE_CHUNK_CHARS: usize = 64 * 1024;

/// Why a file could not be scanned.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("reading the payload: {0}")]
    Io(#[from] std::io::Error),
    #[error("the XHE is not well-formed XML: {0}")]
    Xml(String),
    #[error("the envelope without attachment contents exceeds {limit} bytes ([sdk] max_envelope_bytes)")]
    TooLarge { limit: u64 },
    #[error("attachment {index}: content is not base64 ({reason})")]
    Base64 { index: usize, reason: &'static str },
    #[error("attachment {index}: content in CDATA or with markup is not supported")]
    UnsupportedContent { index: usize },
    #[error("no attachment {0}")]
    NoSuchAttachment(usize),
}

/// The result of [`scan_envelope`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skeleton {
    /// The document with attachment contents replaced by [`PLACEHOLDER`].
    pub xml: Vec<u8>,
    /// Decoded size of each attachment, in document order.
    pub attachment_sizes: Vec<u64>,
}

/// Where in the element tree the reader is, as far as attachment contents are concerned.
#[derive(Default)]
struct Path {
    /// `true` per open element when it is `{MessageWithAttachments:3}ContentFiles`.
    stack: Vec<(bool, bool)>,
}

impl Path {
    /// Pushes an element: (is ContentFiles, is content inside ContentFiles).
    fn push(&mut self, in_msg_ns: bool, local: &[u8]) -> bool {
        let parent_is_files = self.stack.last().is_some_and(|(files, _)| *files);
        let is_files = in_msg_ns && local == b"ContentFiles";
        let is_content = in_msg_ns && local == b"content" && parent_is_files;
        self.stack.push((is_files, is_content));
        is_content
    }

    fn pop(&mut self) {
        self.stack.pop();
    }
}

fn in_message_ns(ns: &ResolveResult<'_>) -> bool {
    matches!(ns, ResolveResult::Bound(n) if n.as_ref() == MESSAGE_V3_NS.as_bytes())
}

/// Reads text up to the next `<` (or the end) straight from `reader`, handing it to `sink` in pieces.
fn take_text<R: BufRead>(
    reader: &mut R,
    mut sink: impl FnMut(&[u8]) -> Result<(), ScanError>,
) -> Result<(), ScanError> {
    loop {
        let (used, done) = {
            let buf = reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            match buf.iter().position(|b| *b == b'<') {
                Some(i) => {
                    sink(&buf[..i])?;
                    (i, true)
                }
                None => {
                    sink(buf)?;
                    (buf.len(), false)
                }
            }
        };
        reader.consume(used);
        if done {
            return Ok(());
        }
    }
}

/// Counts and checks base64 text incrementally.
#[derive(Default)]
struct Base64Count {
    chars: u64,
    padding: u64,
}

impl Base64Count {
    fn feed(&mut self, index: usize, text: &[u8]) -> Result<(), ScanError> {
        for &b in text {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {}
                b'=' => {
                    self.padding += 1;
                    self.chars += 1;
                    if self.padding > 2 {
                        return Err(ScanError::Base64 {
                            index,
                            reason: "too much padding",
                        });
                    }
                }
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => {
                    if self.padding > 0 {
                        return Err(ScanError::Base64 {
                            index,
                            reason: "data after padding",
                        });
                    }
                    self.chars += 1;
                }
                _ => {
                    return Err(ScanError::Base64 {
                        index,
                        reason: "invalid character",
                    })
                }
            }
        }
        Ok(())
    }

    fn decoded_size(&self, index: usize) -> Result<u64, ScanError> {
        if !self.chars.is_multiple_of(4) {
            return Err(ScanError::Base64 {
                index,
                reason: "length is not a multiple of 4",
            });
        }
        Ok(self.chars / 4 * 3 - self.padding)
    }
}

fn xml_error(e: impl std::fmt::Display) -> ScanError {
    ScanError::Xml(e.to_string())
}

/// Builds the skeleton of the XHE in `reader`; see the module documentation.
pub fn scan_envelope<R: BufRead>(reader: R, max_bytes: u64) -> Result<Skeleton, ScanError> {
    let mut xml_reader = NsReader::from_reader(reader);
    let mut out = quick_xml::Writer::new(Vec::new());
    let mut path = Path::default();
    let mut sizes = Vec::new();
    let mut buf = Vec::new();
    let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX);
    let too_large = || ScanError::TooLarge { limit: max_bytes };
    loop {
        buf.clear();
        let (ns, event) = xml_reader.read_resolved_event_into(&mut buf).map_err(xml_error)?;
        let mut in_content = false;
        match &event {
            Event::Start(start) => {
                in_content = path.push(in_message_ns(&ns), start.local_name().as_ref());
            }
            Event::End(_) => path.pop(),
            Event::Eof => break,
            _ => {}
        }
        out.write_event(event.borrow()).map_err(xml_error)?;
        if out.get_ref().len() > limit {
            return Err(too_large());
        }
        if in_content {
            let index = sizes.len();
            let mut count = Base64Count::default();
            take_text(xml_reader.get_mut(), |text| count.feed(index, text))?;
            sizes.push(count.decoded_size(index)?);
            out.get_mut().extend_from_slice(PLACEHOLDER.as_bytes());
            // The next markup must close the content element.
            buf.clear();
            let (_, next) = xml_reader.read_resolved_event_into(&mut buf).map_err(xml_error)?;
            match next {
                Event::End(_) => {
                    path.pop();
                    out.write_event(next.borrow()).map_err(xml_error)?;
                }
                _ => return Err(ScanError::UnsupportedContent { index }),
            }
        }
        // Text between markup, copied as it is (escapes and all) under the size limit.
        let skeleton = out.get_mut();
        take_text(xml_reader.get_mut(), |text| {
            if skeleton.len() + text.len() > limit {
                return Err(too_large());
            }
            skeleton.extend_from_slice(text);
            Ok(())
        })?;
    }
    Ok(Skeleton {
        xml: out.into_inner(),
        attachment_sizes: sizes,
    })
}

/// Streams the decoded bytes of the n-th attachment (document order, from 0) of an XHE file.
pub struct AttachmentReader<R: BufRead> {
    reader: NsReader<R>,
    pending: Vec<u8>,
    finished: bool,
    index: usize,
}

impl<R: BufRead> AttachmentReader<R> {
    /// Positions the reader at the start of attachment `index`'s content.
    pub fn open(reader: R, index: usize) -> Result<AttachmentReader<R>, ScanError> {
        let mut xml_reader = NsReader::from_reader(reader);
        let mut path = Path::default();
        let mut seen = 0usize;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let (ns, event) = xml_reader.read_resolved_event_into(&mut buf).map_err(xml_error)?;
            match &event {
                Event::Start(start) if path.push(in_message_ns(&ns), start.local_name().as_ref()) => {
                    if seen == index {
                        return Ok(AttachmentReader {
                            reader: xml_reader,
                            pending: Vec::new(),
                            finished: false,
                            index,
                        });
                    }
                    seen += 1;
                }
                Event::End(_) => path.pop(),
                Event::Eof => return Err(ScanError::NoSuchAttachment(index)),
                _ => {}
            }
            // Skip text without buffering it (attachments before the wanted one may be large).
            take_text(xml_reader.get_mut(), |_| Ok(()))?;
        }
    }

    /// The next decoded chunk, `None` at the end of the attachment.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ScanError> {
        loop {
            if self.pending.len() >= DECODE_CHUNK_CHARS || (self.finished && !self.pending.is_empty()) {
                let take = if self.finished {
                    self.pending.len()
                } else {
                    self.pending.len() / 4 * 4
                };
                let chars: Vec<u8> = self.pending.drain(..take).collect();
                let decoded =
                    base64::engine::general_purpose::STANDARD
                        .decode(&chars)
                        .map_err(|_| ScanError::Base64 {
                            index: self.index,
                            reason: "invalid base64",
                        })?;
                return Ok(Some(decoded));
            }
            if self.finished {
                return Ok(None);
            }
            let index = self.index;
            let pending = &mut self.pending;
            let mut reached_markup = false;
            // Read at most one buffer's worth of text per round, so memory stays bounded.
            let (used, end) = {
                let buf = self.reader.get_mut().fill_buf()?;
                if buf.is_empty() {
                    (0, true)
                } else {
                    let stop = buf.iter().position(|b| *b == b'<');
                    let text = &buf[..stop.unwrap_or(buf.len())];
                    pending.extend(text.iter().copied().filter(|b| !b.is_ascii_whitespace()));
                    reached_markup = stop.is_some();
                    (text.len(), false)
                }
            };
            self.reader.get_mut().consume(used);
            if end {
                return Err(ScanError::Xml(format!(
                    "attachment {index}: the document ends inside it"
                )));
            }
            if reached_markup {
                let mut buf = Vec::new();
                match self.reader.read_resolved_event_into(&mut buf).map_err(xml_error)?.1 {
                    Event::End(_) => self.finished = true,
                    _ => return Err(ScanError::UnsupportedContent { index }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(contents: &[&str]) -> String {
        let mut files = String::new();
        for c in contents {
            files.push_str(&format!(
                "<m:ContentFiles><m:fileName>f</m:fileName><m:contentType>text/plain</m:contentType><m:content>{c}</m:content></m:ContentFiles>"
            ));
        }
        format!(
            "<?xml version=\"1.0\"?>\n<x:XHE xmlns:x=\"urn:x\"><x:Payload><m:messagePayload xmlns:m=\"{MESSAGE_V3_NS}\"><m:documents>{files}<m:content>not-a-file</m:content></m:documents></m:messagePayload></x:Payload><x:T>a &amp; b</x:T></x:XHE>"
        )
    }

    #[test]
    fn skeleton_replaces_only_attachment_contents_and_counts_sizes() {
        let engine = base64::engine::general_purpose::STANDARD;
        let one = engine.encode(b"hello world");
        let two = engine.encode(vec![7u8; 100_000]);
        let wrapped: String = two
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        let text = doc(&[&one, &wrapped]);
        let skeleton = scan_envelope(text.as_bytes(), 10_000).unwrap();
        assert_eq!(skeleton.attachment_sizes, vec![11, 100_000]);
        let xml = String::from_utf8(skeleton.xml).unwrap();
        assert_eq!(xml.matches(PLACEHOLDER).count(), 2);
        assert!(xml.contains("<m:content>not-a-file</m:content>"), "{xml}");
        assert!(xml.contains("a &amp; b"), "escapes are kept: {xml}");
        assert!(xml.len() < 2_000);
    }

    #[test]
    fn limits_and_bad_base64_are_typed_errors() {
        let text = doc(&["QUJD"]);
        assert!(matches!(
            scan_envelope(text.as_bytes(), 100),
            Err(ScanError::TooLarge { .. })
        ));
        for bad in ["QUJ", "QU=D", "Q!JD", "QUJD<m:x/>"] {
            let text = doc(&[bad]);
            let err = scan_envelope(text.as_bytes(), 100_000).unwrap_err();
            assert!(
                matches!(err, ScanError::Base64 { .. } | ScanError::UnsupportedContent { .. }),
                "{bad}: {err}"
            );
        }
        assert!(matches!(
            scan_envelope(&b"<a><b></a>"[..], 1000),
            Err(ScanError::Xml(_))
        ));
    }

    #[test]
    fn attachment_reader_decodes_the_nth_file_in_chunks() {
        let engine = base64::engine::general_purpose::STANDARD;
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let wrapped: String = engine
            .encode(&big)
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n");
        let text = doc(&[&engine.encode(b"first"), &wrapped]);
        // A small BufReader forces many rounds.
        let mut reader = AttachmentReader::open(std::io::BufReader::with_capacity(512, text.as_bytes()), 1).unwrap();
        let mut out = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = reader.next_chunk().unwrap() {
            out.extend_from_slice(&chunk);
            chunks += 1;
        }
        assert_eq!(out, big);
        assert!(chunks > 1);
        let mut first = AttachmentReader::open(text.as_bytes(), 0).unwrap();
        assert_eq!(first.next_chunk().unwrap().unwrap(), b"first");
        assert!(first.next_chunk().unwrap().is_none());
        assert!(matches!(
            AttachmentReader::open(text.as_bytes(), 2),
            Err(ScanError::NoSuchAttachment(2))
        ));
    }
}
