//! Writer → reader round trips (0, 1 and 20 attachments, from files, readers and buffers), and property tests:
//! arbitrary part contents, transfer encodings, line endings and input chunkings all read back identically.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use access_point::mime::{
    read_message, AttachmentSource, MimeLimits, MultipartWriter, OutgoingAttachment, SoapVersion, SoapWithAttachments,
};
use base64::Engine;
use bytes::Bytes;
use futures_util::TryStreamExt;
use openssl::sha::sha256;
use proptest::prelude::*;
use tokio::io::{AsyncRead, ReadBuf};

const SOAP: &[u8] = b"<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\"><env:Body/></env:Envelope>";

/// Serves a buffer in chunks of the given sizes (cycled), like a network that delivers odd fragments.
struct ChunkedReader {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    turn: usize,
}

impl ChunkedReader {
    fn new(data: Vec<u8>, sizes: Vec<usize>) -> Self {
        ChunkedReader {
            data,
            pos: 0,
            sizes,
            turn: 0,
        }
    }
}

impl AsyncRead for ChunkedReader {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let size = self.sizes[self.turn % self.sizes.len()].max(1);
        self.turn += 1;
        let n = size.min(buf.remaining()).min(self.data.len() - self.pos);
        let pos = self.pos;
        buf.put_slice(&self.data[pos..pos + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// Binary content that is hard on a boundary scanner: line breaks, dashes and prefixes of the boundary.
fn near_boundary_content(boundary: &str, seed: u8, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 128);
    let mut i = 0usize;
    while out.len() < len {
        match (i + seed as usize) % 5 {
            0 => out.extend_from_slice(b"\r\n--"),
            1 => {
                out.extend_from_slice(b"\r\n--");
                out.extend_from_slice(&boundary.as_bytes()[..(i % boundary.len()).max(1)]);
            }
            2 => out.extend_from_slice(b"\n--"),
            3 => out.extend((0..=255u8).map(|b| b.wrapping_add(seed))),
            _ => out.extend_from_slice(b"\r\r\n\n-"),
        }
        i += 1;
    }
    out
}

async fn write_message(writer: &MultipartWriter, attachments: Vec<OutgoingAttachment>) -> Vec<u8> {
    let mut body = Vec::new();
    writer
        .write_to(Bytes::from_static(SOAP), attachments, &mut body)
        .await
        .unwrap();
    body
}

fn attachment(id: String, source: AttachmentSource) -> OutgoingAttachment {
    OutgoingAttachment {
        content_id: id,
        content_type: "application/octet-stream".into(),
        extra_headers: vec![("Content-Description".into(), "test payload".into())],
        source,
    }
}

async fn check_round_trip(count: usize) {
    let spool = tempfile::tempdir().unwrap();
    let sources = tempfile::tempdir().unwrap();
    let writer = MultipartWriter::new();
    let mut expected = Vec::new();
    let mut attachments = Vec::new();
    for i in 0..count {
        let content = near_boundary_content(writer.boundary(), i as u8, 1000 * i + 1);
        let id = format!("part-{i}@sdk-ap.test");
        let source = match i % 3 {
            0 => {
                let path = sources.path().join(format!("{i}.bin"));
                std::fs::write(&path, &content).unwrap();
                AttachmentSource::File(path)
            }
            1 => AttachmentSource::Reader(Box::pin(std::io::Cursor::new(content.clone()))),
            _ => AttachmentSource::Bytes(Bytes::from(content.clone())),
        };
        attachments.push(attachment(id.clone(), source));
        expected.push((id, content));
    }
    let body = write_message(&writer, attachments).await;
    let chunked = ChunkedReader::new(body, vec![1, 7, 4096, 3, 65536]);
    let msg = read_message(chunked, &writer.content_type(), &MimeLimits::default(), spool.path())
        .await
        .unwrap();
    assert_eq!(msg.soap_version, SoapVersion::Soap12);
    assert_eq!(msg.root.content, SOAP);
    assert_eq!(msg.root.content_id.as_deref(), Some(writer.root_content_id()));
    assert_parts(&msg, &expected);
    for part in &msg.attachments {
        assert_eq!(part.headers.content_description(), Some("test payload"));
        assert_eq!(part.headers.content_transfer_encoding(), Some("binary"));
    }
}

fn assert_parts(msg: &SoapWithAttachments, expected: &[(String, Vec<u8>)]) {
    assert_eq!(msg.attachments.len(), expected.len());
    for (part, (id, content)) in msg.attachments.iter().zip(expected) {
        assert_eq!(part.content_id.as_ref(), Some(id));
        assert_eq!(part.size, content.len() as u64);
        assert_eq!(part.sha256().unwrap(), sha256(content));
        assert_eq!(
            &std::fs::read(part.path().unwrap()).unwrap(),
            content,
            "content of {id}"
        );
    }
}

#[tokio::test]
async fn round_trip_without_attachments() {
    check_round_trip(0).await;
}

#[tokio::test]
async fn round_trip_with_one_attachment() {
    check_round_trip(1).await;
}

#[tokio::test]
async fn round_trip_with_twenty_attachments() {
    check_round_trip(20).await;
}

#[tokio::test]
async fn stream_output_equals_write_to_output() {
    let writer = MultipartWriter::new();
    let make = || {
        vec![attachment(
            "a@x".into(),
            AttachmentSource::Bytes(Bytes::from_static(b"abc")),
        )]
    };
    let written = write_message(&writer, make()).await;
    let streamed: Vec<Bytes> = writer
        .stream(Bytes::from_static(SOAP), make())
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed.concat(), written);
    assert!(written.ends_with(format!("\r\n--{}--\r\n", writer.boundary()).as_bytes()));
}

#[tokio::test]
async fn missing_attachment_file_is_a_stream_error() {
    let writer = MultipartWriter::new();
    let gone = attachment("a@x".into(), AttachmentSource::File("/nonexistent/sdk-ap/file".into()));
    let mut sink = Vec::new();
    let err = writer
        .write_to(Bytes::from_static(SOAP), vec![gone], &mut sink)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
}

/// How a generated message encodes one attachment.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    Binary,
    Base64Wrapped,
    Base64OneLine,
}

/// Builds a message by hand (not with the writer), so the reader sees encodings and line endings the writer never
/// produces.
fn compose(boundary: &str, parts: &[(Vec<u8>, Encoding)], bare_lf: bool, preamble: bool) -> Vec<u8> {
    let nl: &[u8] = if bare_lf { b"\n" } else { b"\r\n" };
    let mut out = Vec::new();
    if preamble {
        out.extend_from_slice(b"preamble text");
        out.extend_from_slice(nl);
    }
    let part = |headers: &[String], body: &[u8], out: &mut Vec<u8>| {
        out.extend_from_slice(format!("--{boundary}").as_bytes());
        out.extend_from_slice(nl);
        for h in headers {
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(nl);
        }
        out.extend_from_slice(nl);
        out.extend_from_slice(body);
        out.extend_from_slice(nl);
    };
    part(&["Content-Type: application/soap+xml".into()], SOAP, &mut out);
    for (i, (content, encoding)) in parts.iter().enumerate() {
        let mut headers = vec![format!("Content-ID: <p{i}@x>")];
        let body = match encoding {
            Encoding::Binary => content.clone(),
            Encoding::Base64OneLine | Encoding::Base64Wrapped => {
                headers.push("Content-Transfer-Encoding: base64".into());
                let encoded = base64::engine::general_purpose::STANDARD.encode(content).into_bytes();
                if matches!(encoding, Encoding::Base64Wrapped) {
                    encoded.chunks(76).collect::<Vec<_>>().join(nl)
                } else {
                    encoded
                }
            }
        };
        part(&headers, &body, &mut out);
    }
    out.extend_from_slice(format!("--{boundary}--").as_bytes());
    out.extend_from_slice(nl);
    out.extend_from_slice(b"epilogue");
    out
}

fn content_strategy() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        Just(b"\r\n--".to_vec()),
        Just(b"\n--".to_vec()),
        Just(b"\r\n--bnd".to_vec()),
        Just(b"\n--bnd_1".to_vec()),
        Just(b"\r\n--bnd_12".to_vec()),
        Just(b"--".to_vec()),
        Just(b"\r".to_vec()),
    ];
    prop::collection::vec(fragment, 0..12).prop_map(|fragments| fragments.concat())
}

fn encoding_strategy() -> impl Strategy<Value = Encoding> {
    prop_oneof![
        Just(Encoding::Binary),
        Just(Encoding::Base64Wrapped),
        Just(Encoding::Base64OneLine)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_contents_and_chunkings_read_back_identically(
        parts in prop::collection::vec((content_strategy(), encoding_strategy()), 0..5),
        chunk_sizes in prop::collection::vec(1usize..40, 1..8),
        bare_lf: bool,
        preamble: bool,
    ) {
        let boundary = "bnd_1234567890";
        let mut parts = parts;
        if bare_lf {
            // With bare LF line endings a binary part ending in CR is ambiguous (the CR is read as part of the
            // delimiter's CRLF); real CRLF messages have no such ambiguity.
            for (content, encoding) in &mut parts {
                if matches!(encoding, Encoding::Binary) && content.ends_with(b"\r") {
                    content.push(b'x');
                }
            }
        }
        let body = compose(boundary, &parts, bare_lf, preamble);
        let content_type = format!("multipart/related; boundary={boundary}; type=\"application/soap+xml\"");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let spool = tempfile::tempdir().unwrap();
        let msg = runtime
            .block_on(read_message(
                ChunkedReader::new(body.clone(), chunk_sizes),
                &content_type,
                &MimeLimits::default(),
                spool.path(),
            ))
            .unwrap();
        prop_assert_eq!(&msg.root.content[..], SOAP);
        let expected: Vec<(String, Vec<u8>)> =
            parts.iter().enumerate().map(|(i, (c, _))| (format!("p{i}@x"), c.clone())).collect();
        assert_parts(&msg, &expected);
        // The same bytes in one piece give the same result.
        let whole = runtime
            .block_on(read_message(&body[..], &content_type, &MimeLimits::default(), spool.path()))
            .unwrap();
        assert_parts(&whole, &expected);
    }
}
