//! The streaming multipart/related writer: the root SOAP part, then each attachment streamed from a file, a reader or
//! a buffer, all with `Content-Transfer-Encoding: binary`, separated by a random boundary.

use std::io;
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
}

impl std::fmt::Debug for AttachmentSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttachmentSource::File(path) => f.debug_tuple("File").field(path).finish(),
            AttachmentSource::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            AttachmentSource::Reader(_) => f.write_str("Reader(..)"),
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

    /// The message as a stream of chunks (usable as a hyper body through `http_body_util::StreamBody`). Header values
    /// containing line breaks, and in-memory content containing the boundary, are refused up front.
    pub fn stream(
        &self,
        soap: Bytes,
        attachments: Vec<OutgoingAttachment>,
    ) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
        let delimiter = format!("--{}\r\n", self.boundary);
        let mut root_head = delimiter.clone();
        push_header(&mut root_head, "Content-Type", &self.root_content_type)?;
        push_header(&mut root_head, "Content-Transfer-Encoding", "binary")?;
        push_header(&mut root_head, "Content-ID", &format!("<{}>", self.root_content_id))?;
        root_head.push_str("\r\n");
        check_boundary_absent(&soap, &self.boundary)?;

        let mut pieces: Vec<BoxStream<'static, io::Result<Bytes>>> =
            vec![stream::iter([Ok(Bytes::from(root_head)), Ok(soap)]).boxed()];
        for attachment in attachments {
            let mut head = format!("\r\n{delimiter}");
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
            pieces.push(stream::once(async move { Ok(Bytes::from(head)) }).boxed());
            pieces.push(source_stream(attachment.source, &self.boundary)?);
        }
        let close = format!("\r\n--{}--\r\n", self.boundary);
        pieces.push(stream::once(async move { Ok(Bytes::from(close)) }).boxed());
        Ok(stream::iter(pieces).flatten().boxed())
    }
}

fn source_stream(source: AttachmentSource, boundary: &str) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
    Ok(match source {
        AttachmentSource::Bytes(bytes) => {
            check_boundary_absent(&bytes, boundary)?;
            stream::once(async move { Ok(bytes) }).boxed()
        }
        AttachmentSource::Reader(reader) => ReaderStream::with_capacity(reader, WRITE_CHUNK_BYTES).boxed(),
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
