//! The streaming multipart/related writer: the root SOAP part, then each attachment streamed from a file, a reader,
//! a buffer or a producer that writes it in place, all with `Content-Transfer-Encoding: binary`, separated by a random
//! boundary.

use std::io::{self, Write};
use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::io::ReaderStream;

/// Read size when streaming an attachment out.
const WRITE_CHUNK_BYTES: usize = 64 << 10;

/// Where an outgoing attachment's bytes come from.
pub enum AttachmentSource {
    /// A file, opened when the writer reaches this part.
    File(PathBuf),
    /// Bytes already in memory (small parts, tests).
    Bytes(Bytes),
    /// Any async reader, read to its end.
    Reader(Pin<Box<dyn AsyncRead + Send>>),
    /// A blocking function that writes the part's content into the message as it produces it (e.g. encrypts a
    /// large file straight into the body), so that the content is never spooled on its own first.
    Producer(PartProducer),
}

/// Writes one part's content with blocking I/O (see [`AttachmentSource::Producer`]).
pub type PartProducer = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

impl std::fmt::Debug for AttachmentSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttachmentSource::File(path) => f.debug_tuple("File").field(path).finish(),
            AttachmentSource::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            AttachmentSource::Reader(_) => f.write_str("Reader(..)"),
            AttachmentSource::Producer(_) => f.write_str("Producer(..)"),
        }
    }
}

/// One attachment to write.
#[derive(Debug)]
pub struct OutgoingAttachment {
    /// Content-ID without angle brackets (what `eb:PartInfo/@href` names after `cid:`).
    pub content_id: String,
    /// Content-Type of the (possibly compressed or encrypted) bytes, e.g. `application/octet-stream`.
    pub content_type: String,
    /// Further header fields, e.g. `Content-Description`.
    pub extra_headers: Vec<(String, String)>,
    /// The bytes.
    pub source: AttachmentSource,
}

/// Writes SOAP-with-attachments messages. Each writer has its own random boundary and root Content-ID; send the
/// value of [`MultipartWriter::content_type`] as the HTTP `Content-Type`.
#[derive(Debug, Clone)]
pub struct MultipartWriter {
    boundary: String,
    root_content_id: String,
    root_content_type: String,
}

impl Default for MultipartWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl MultipartWriter {
    /// A writer with a fresh random boundary (122 random bits, so it cannot plausibly occur in any content) and a
    /// random root Content-ID; the root part is SOAP 1.2.
    pub fn new() -> Self {
        let boundary = format!("MIMEBoundary_{}", uuid::Uuid::new_v4().simple());
        let root_content_id = format!("root.{}@sdk-ap", uuid::Uuid::new_v4().simple());
        MultipartWriter {
            boundary,
            root_content_id,
            root_content_type: String::from("application/soap+xml; charset=UTF-8"),
        }
    }

    /// Uses `content_id` (without angle brackets) for the root part.
    pub fn with_root_content_id(mut self, content_id: impl Into<String>) -> Self {
        self.root_content_id = content_id.into();
        self
    }

    /// The boundary (without the leading `--`).
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// The root part's Content-ID (without angle brackets).
    pub fn root_content_id(&self) -> &str {
        &self.root_content_id
    }

    /// The HTTP `Content-Type` value for the message this writer produces.
    pub fn content_type(&self) -> String {
        format!(
            "multipart/related; boundary=\"{}\"; type=\"application/soap+xml\"; start=\"<{}>\"; \
             start-info=\"application/soap+xml\"",
            self.boundary, self.root_content_id
        )
    }

    /// Writes the whole message to `out` and flushes it. Returns the number of bytes written.
    pub async fn write_to<W: AsyncWrite + Unpin>(
        &self,
        soap: Bytes,
        attachments: Vec<OutgoingAttachment>,
        out: &mut W,
    ) -> io::Result<u64> {
        let mut chunks = self.stream(soap, attachments)?;
        let mut written = 0u64;
        while let Some(chunk) = chunks.try_next().await? {
            out.write_all(&chunk).await?;
            written += chunk.len() as u64;
        }
        out.flush().await?;
        Ok(written)
    }

    /// Writes the whole message to `out` with blocking I/O (call it on a blocking thread) and flushes it. Files are
    /// copied in the kernel where it can, producers write in place; an async [`AttachmentSource::Reader`] is refused.
    /// Returns the number of bytes written. Same bytes as [`MultipartWriter::write_to`].
    pub fn write_blocking<W: Write>(
        &self,
        soap: Bytes,
        attachments: Vec<OutgoingAttachment>,
        out: &mut W,
    ) -> io::Result<u64> {
        let mut out = CountingWriter { inner: out, written: 0 };
        let root_head = self.root_head()?;
        check_boundary_absent(&soap, &self.boundary)?;
        let heads = attachments
            .iter()
            .map(|a| self.part_head(a))
            .collect::<io::Result<Vec<_>>>()?;
        for attachment in &attachments {
            match &attachment.source {
                AttachmentSource::Bytes(bytes) => check_boundary_absent(bytes, &self.boundary)?,
                AttachmentSource::Reader(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "an async reader part cannot be written with blocking I/O",
                    ))
                }
                AttachmentSource::File(_) | AttachmentSource::Producer(_) => {}
            }
        }
        out.write_all(root_head.as_bytes())?;
        out.write_all(&soap)?;
        for (attachment, head) in attachments.into_iter().zip(heads) {
            out.write_all(head.as_bytes())?;
            match attachment.source {
                AttachmentSource::Bytes(bytes) => out.write_all(&bytes)?,
                AttachmentSource::File(path) => {
                    out.flush()?;
                    let copied = io::copy(&mut std::fs::File::open(path)?, &mut *out.inner)?;
                    out.written += copied;
                }
                AttachmentSource::Producer(produce) => produce(&mut out)?,
                AttachmentSource::Reader(_) => unreachable!("refused above"),
            }
        }
        out.write_all(self.close().as_bytes())?;
        out.flush()?;
        Ok(out.written)
    }

    /// The message as a stream of chunks (usable as a hyper body through `http_body_util::StreamBody`). Header values
    /// containing line breaks, and in-memory content containing the boundary, are refused up front.
    pub fn stream(
        &self,
        soap: Bytes,
        attachments: Vec<OutgoingAttachment>,
    ) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
        let root_head = self.root_head()?;
        check_boundary_absent(&soap, &self.boundary)?;

        let mut pieces: Vec<BoxStream<'static, io::Result<Bytes>>> =
            vec![stream::iter([Ok(Bytes::from(root_head)), Ok(soap)]).boxed()];
        for attachment in attachments {
            let head = self.part_head(&attachment)?;
            pieces.push(stream::once(async move { Ok(Bytes::from(head)) }).boxed());
            pieces.push(source_stream(attachment.source, &self.boundary)?);
        }
        let close = self.close();
        pieces.push(stream::once(async move { Ok(Bytes::from(close)) }).boxed());
        Ok(stream::iter(pieces).flatten().boxed())
    }

    /// The first delimiter and the root part's header.
    fn root_head(&self) -> io::Result<String> {
        let mut root_head = format!("--{}\r\n", self.boundary);
        push_header(&mut root_head, "Content-Type", &self.root_content_type)?;
        push_header(&mut root_head, "Content-Transfer-Encoding", "binary")?;
        push_header(&mut root_head, "Content-ID", &format!("<{}>", self.root_content_id))?;
        root_head.push_str("\r\n");
        Ok(root_head)
    }

    /// The delimiter before an attachment and its header.
    fn part_head(&self, attachment: &OutgoingAttachment) -> io::Result<String> {
        let mut head = format!("\r\n--{}\r\n", self.boundary);
        push_header(&mut head, "Content-Type", &attachment.content_type)?;
        push_header(&mut head, "Content-Transfer-Encoding", "binary")?;
        push_header(&mut head, "Content-ID", &format!("<{}>", attachment.content_id))?;
        for (name, value) in &attachment.extra_headers {
            let reserved = ["content-type", "content-transfer-encoding", "content-id"];
            if reserved.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("header {name} is set by the writer"),
                ));
            }
            push_header(&mut head, name, value)?;
        }
        head.push_str("\r\n");
        Ok(head)
    }

    /// The close delimiter.
    fn close(&self) -> String {
        format!("\r\n--{}--\r\n", self.boundary)
    }
}

/// Counts what goes through it (the body length the caller reports).
struct CountingWriter<'a, W: Write> {
    inner: &'a mut W,
    written: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hands what a producer writes to an async stream, one chunk at a time.
struct ChannelWriter {
    chunks: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(WRITE_CHUNK_BYTES);
        self.chunks
            .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the message stream was dropped"))?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs a producer on the blocking pool once the stream reaches its part, and streams what it writes (a few chunks
/// queued at most). A producer that fails or panics ends the stream with an error, never with a short part.
fn producer_stream(produce: PartProducer) -> BoxStream<'static, io::Result<Bytes>> {
    stream::once(async move {
        let (chunks, mut received) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
        tokio::task::spawn_blocking(move || {
            let mut writer = ChannelWriter { chunks };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| produce(&mut writer)))
                .unwrap_or_else(|_| Err(io::Error::other("the part's producer panicked")));
            if let Err(e) = outcome {
                let _ = writer.chunks.blocking_send(Err(e));
            }
        });
        stream::poll_fn(move |cx| received.poll_recv(cx))
    })
    .flatten()
    .boxed()
}

fn source_stream(source: AttachmentSource, boundary: &str) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
    Ok(match source {
        AttachmentSource::Bytes(bytes) => {
            check_boundary_absent(&bytes, boundary)?;
            stream::once(async move { Ok(bytes) }).boxed()
        }
        AttachmentSource::Reader(reader) => ReaderStream::with_capacity(reader, WRITE_CHUNK_BYTES).boxed(),
        AttachmentSource::Producer(produce) => producer_stream(produce),
        AttachmentSource::File(path) => stream::once(async move { tokio::fs::File::open(path).await })
            .map_ok(|file| ReaderStream::with_capacity(file, WRITE_CHUNK_BYTES))
            .try_flatten()
            .boxed(),
    })
}

/// Appends `name: value\r\n`, refusing anything that could inject a header line or break the part.
fn push_header(out: &mut String, name: &str, value: &str) -> io::Result<()> {
    let name_ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
    let value_ok = !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
    if !name_ok || !value_ok {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid MIME header {name:?}"),
        ));
    }
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push_str("\r\n");
    Ok(())
}

fn check_boundary_absent(content: &[u8], boundary: &str) -> io::Result<()> {
    let delimiter = format!("--{boundary}");
    if memchr::memmem::find(content, delimiter.as_bytes()).is_some() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "part content contains the MIME boundary",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_and_content_ids_are_unique_and_valid() {
        let a = MultipartWriter::new();
        let b = MultipartWriter::new();
        assert_ne!(a.boundary(), b.boundary());
        assert_ne!(a.root_content_id(), b.root_content_id());
        crate::mime::content_type::validate_boundary(a.boundary()).unwrap();
        let parsed = crate::mime::MessageContentType::parse(&a.content_type()).unwrap();
        let crate::mime::MessageContentType::Multipart(m) = parsed else {
            panic!("not multipart")
        };
        assert_eq!(m.boundary, a.boundary());
        assert_eq!(m.start.as_deref(), Some(a.root_content_id()));
        assert_eq!(m.root_type.as_deref(), Some("application/soap+xml"));
    }

    fn attachment(content_id: &str, source: AttachmentSource) -> OutgoingAttachment {
        OutgoingAttachment {
            content_id: content_id.into(),
            content_type: "application/octet-stream".into(),
            extra_headers: vec![("Content-Description".into(), "test".into())],
            source,
        }
    }

    fn producer_of(content: Vec<u8>) -> AttachmentSource {
        AttachmentSource::Producer(Box::new(move |out: &mut dyn Write| {
            // Several writes, as an encryptor makes them.
            for piece in content.chunks(100_000) {
                out.write_all(piece)?;
            }
            Ok(())
        }))
    }

    #[tokio::test]
    async fn blocking_writer_and_producer_parts_give_the_same_bytes_as_the_async_writer() {
        let dir = tempfile::tempdir().unwrap();
        let large: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let path = dir.path().join("large");
        std::fs::write(&path, &large).unwrap();
        let writer = MultipartWriter::new();
        let soap = Bytes::from_static(b"<S:Envelope/>");
        let parts = |produced: AttachmentSource| {
            vec![
                attachment("a@x", AttachmentSource::Bytes(Bytes::from_static(b"small"))),
                attachment("b@x", AttachmentSource::File(path.clone())),
                attachment("c@x", produced),
            ]
        };
        let mut expected = Vec::new();
        let expected_len = writer
            .write_to(
                soap.clone(),
                parts(AttachmentSource::Bytes(Bytes::from(large.clone()))),
                &mut expected,
            )
            .await
            .unwrap();
        assert_eq!(expected_len as usize, expected.len());

        let mut streamed = Vec::new();
        let streamed_len = writer
            .write_to(soap.clone(), parts(producer_of(large.clone())), &mut streamed)
            .await
            .unwrap();
        assert_eq!((streamed_len, &streamed), (expected_len, &expected));

        let mut blocking = std::io::BufWriter::new(std::fs::File::create(dir.path().join("body")).unwrap());
        let blocking_len = writer
            .write_blocking(soap.clone(), parts(producer_of(large.clone())), &mut blocking)
            .unwrap();
        drop(blocking);
        assert_eq!(blocking_len, expected_len);
        assert_eq!(std::fs::read(dir.path().join("body")).unwrap(), expected);

        let reader: Pin<Box<dyn AsyncRead + Send>> = Box::pin(&b"x"[..]);
        let refused = writer.write_blocking(
            soap,
            vec![attachment("r@x", AttachmentSource::Reader(reader))],
            &mut Vec::new(),
        );
        assert_eq!(refused.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    #[tokio::test]
    async fn a_failing_producer_fails_the_message_instead_of_shortening_it() {
        let writer = MultipartWriter::new();
        let failing = |panic: bool| {
            AttachmentSource::Producer(Box::new(move |out: &mut dyn Write| {
                out.write_all(b"partial")?;
                if panic {
                    panic!("producer bug");
                }
                Err(io::Error::other("plaintext changed"))
            }))
        };
        for panic in [false, true] {
            let mut out = Vec::new();
            let result = writer
                .write_to(
                    Bytes::from_static(b"<S/>"),
                    vec![attachment("p@x", failing(panic))],
                    &mut out,
                )
                .await;
            assert!(result.is_err(), "panic: {panic}");
        }
        let result = writer.write_blocking(
            Bytes::from_static(b"<S/>"),
            vec![attachment("p@x", failing(false))],
            &mut Vec::new(),
        );
        assert_eq!(result.unwrap_err().to_string(), "plaintext changed");
    }

    #[tokio::test]
    async fn refuses_header_injection_and_boundary_in_content() {
        let writer = MultipartWriter::new();
        let injected = OutgoingAttachment {
            content_id: "a@x>\r\nX-Evil: 1".into(),
            content_type: "application/octet-stream".into(),
            extra_headers: vec![],
            source: AttachmentSource::Bytes(Bytes::from_static(b"x")),
        };
        assert!(writer.stream(Bytes::from_static(b"<S/>"), vec![injected]).is_err());
        let reserved = OutgoingAttachment {
            content_id: "a@x".into(),
            content_type: "application/octet-stream".into(),
            extra_headers: vec![("content-id".into(), "<b@x>".into())],
            source: AttachmentSource::Bytes(Bytes::from_static(b"x")),
        };
        assert!(writer.stream(Bytes::from_static(b"<S/>"), vec![reserved]).is_err());
        let soap = Bytes::from(format!("<S>--{}</S>", writer.boundary()));
        assert!(writer.stream(soap, vec![]).is_err());
    }
}
