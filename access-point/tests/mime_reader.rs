//! The SOAP-with-attachments reader against hand-written messages: every tolerance real peers need, and every
//! malformed-input error, each checked to leave no spooled file behind.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use access_point::mime::{read_message, MimeError, MimeLimits, SoapVersion, SoapWithAttachments};
use openssl::sha::sha256;
use tokio::io::{AsyncRead, ReadBuf};

const SOAP: &str = "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\"><env:Body/></env:Envelope>";
const CT: &str = "multipart/related; boundary=\"MIME_b\"; type=\"application/soap+xml\"";

/// A read message together with the spool directory its files live in.
struct Read {
    message: SoapWithAttachments,
    _spool: tempfile::TempDir,
}

impl std::ops::Deref for Read {
    type Target = SoapWithAttachments;
    fn deref(&self) -> &SoapWithAttachments {
        &self.message
    }
}

async fn read_with(body: &[u8], content_type: &str, limits: &MimeLimits) -> Result<Read, MimeError> {
    let spool = tempfile::tempdir().unwrap();
    match read_message(body, content_type, limits, spool.path()).await {
        Ok(message) => {
            // Only parts too large to keep in memory have a file.
            let large = message.attachments.iter().filter(|p| p.in_memory().is_none()).count();
            assert_eq!(spooled_count(spool.path()), large);
            assert!(message
                .attachments
                .iter()
                .all(|p| p.has_file() == p.in_memory().is_none()));
            Ok(Read { message, _spool: spool })
        }
        Err(e) => {
            assert_eq!(spooled_count(spool.path()), 0, "a failed read left spooled files");
            Err(e)
        }
    }
}

async fn read(body: &[u8], content_type: &str) -> Result<Read, MimeError> {
    read_with(body, content_type, &MimeLimits::default()).await
}

fn spooled_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// The part's content through a file at its path (created on demand for a part kept in memory), checked against
/// the in-memory copy when there is one.
fn content(part: &access_point::mime::SpooledPart) -> Vec<u8> {
    let from_file = std::fs::read(part.path().unwrap()).unwrap();
    if let Some(memory) = part.in_memory() {
        assert_eq!(memory.as_ref(), &from_file[..], "memory and file differ");
    }
    from_file
}

fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

#[tokio::test]
async fn preamble_epilogue_start_base64_padding_and_all_headers() {
    let body = crlf(&format!(
        "This is a preamble.\n\
         --MIME_b\n\
         Content-Type: application/octet-stream\n\
         Content-ID: <payload-1@example.org>\n\
         Content-Transfer-Encoding: base64\n\
         Content-Description: the payload\n\
         Content-Disposition: attachment; filename=\"p.bin\"\n\
         X-Custom: yes\n\
         \n\
         SGVsbG8s\n\
         IHdvcmxk\n\
         IQ==\n\
         --MIME_b \t \n\
         Content-Type: application/soap+xml; charset=UTF-8\n\
         Content-ID: <root@example.org>\n\
         \n\
         {SOAP}\n\
         --MIME_b\n\
         Content-Type: application/octet-stream\n\
         Content-ID: <payload-2@example.org>\n\
         Content-Transfer-Encoding: binary\n\
         \n\
         bin\x00\x01\x02\n\
         --MIME_b--\n\
         This is an epilogue.\n"
    ));
    let ct = "multipart/related; boundary=MIME_b; type=\"application/soap+xml\"; start=\"<root@example.org>\"; \
              start-info=\"application/soap+xml\"";
    let msg = read(&body, ct).await.unwrap();
    assert_eq!(msg.soap_version, SoapVersion::Soap12);
    assert_eq!(msg.root.content, SOAP.as_bytes());
    assert_eq!(msg.root.content_id.as_deref(), Some("root@example.org"));
    assert_eq!(msg.attachments.len(), 2);
    let p1 = &msg.attachments[0];
    assert_eq!(p1.content_id.as_deref(), Some("payload-1@example.org"));
    assert_eq!(p1.content_type.as_deref(), Some("application/octet-stream"));
    assert_eq!(content(p1), b"Hello, world!");
    assert_eq!(p1.size, 13);
    assert_eq!(p1.sha256().unwrap(), sha256(b"Hello, world!"));
    assert_eq!(p1.headers.content_description(), Some("the payload"));
    assert_eq!(p1.headers.content_disposition(), Some("attachment; filename=\"p.bin\""));
    assert_eq!(p1.headers.get("x-custom"), Some("yes"));
    assert_eq!(p1.headers.content_transfer_encoding(), Some("base64"));
    let p2 = msg.attachment("cid:payload-2@example.org").unwrap();
    assert_eq!(content(p2), b"bin\x00\x01\x02");
    assert!(msg.attachment("<payload-1@example.org>").is_some());
    assert!(msg.attachment("cid:nope").is_none());
}

#[tokio::test]
async fn bare_lf_no_start_root_without_content_id() {
    let body = format!(
        "--MIME_b\nContent-Type: application/soap+xml\n\n{SOAP}\n--MIME_b\nContent-ID: <a>\n\nline1\nline2\n\n--MIME_b--"
    );
    let msg = read(body.as_bytes(), CT).await.unwrap();
    assert_eq!(msg.root.content, SOAP.as_bytes());
    assert_eq!(msg.root.content_id, None);
    assert_eq!(content(&msg.attachments[0]), b"line1\nline2\n");
    assert_eq!(msg.attachments[0].content_type, None);
}

#[tokio::test]
async fn near_boundary_sequences_are_content() {
    let tricky = b"a\r\n--MIME_\r\n--MIME_bX\r\n--MIME\n--MIME_b-x\r\n-MIME_b\r\n--\r\n".to_vec();
    let mut body = crlf(&format!("--MIME_b\n\n{SOAP}\n--MIME_b\nContent-ID: <t>\n\n"));
    body.extend_from_slice(&tricky);
    body.extend_from_slice(b"\r\n--MIME_b--\r\n");
    let msg = read(&body, CT).await.unwrap();
    assert_eq!(content(&msg.attachments[0]), tricky);
}

#[tokio::test]
async fn empty_parts_with_and_without_line_break_before_delimiter() {
    let body = crlf(&format!(
        "--MIME_b\n\n{SOAP}\n--MIME_b\nContent-ID: <e1>\n\n\n--MIME_b\nContent-ID: <e2>\n\n--MIME_b--\n"
    ));
    let msg = read(&body, CT).await.unwrap();
    assert_eq!(msg.attachments.len(), 2);
    assert!(msg.attachments.iter().all(|p| p.size == 0 && content(p).is_empty()));
}

#[tokio::test]
async fn bare_soap_bodies_and_soap11() {
    let msg = read(SOAP.as_bytes(), "application/soap+xml; charset=UTF-8")
        .await
        .unwrap();
    assert_eq!(msg.soap_version, SoapVersion::Soap12);
    assert_eq!(msg.root.content, SOAP.as_bytes());
    assert!(msg.attachments.is_empty());
    assert_eq!(
        msg.root.headers.content_type(),
        Some("application/soap+xml; charset=UTF-8")
    );
    let msg = read(SOAP.as_bytes(), "text/xml; charset=utf-8").await.unwrap();
    assert_eq!(msg.soap_version, SoapVersion::Soap11);
    let body = crlf(&format!("--MIME_b\n\n{SOAP}\n--MIME_b--\n"));
    let msg = read(&body, "multipart/related; boundary=MIME_b; type=text/xml")
        .await
        .unwrap();
    assert_eq!(msg.soap_version, SoapVersion::Soap11);
    // Without a type parameter the root part's own Content-Type decides.
    let body = crlf(&format!(
        "--MIME_b\nContent-Type: application/soap+xml\n\n{SOAP}\n--MIME_b--\n"
    ));
    let msg = read(&body, "multipart/related; boundary=MIME_b").await.unwrap();
    assert_eq!(msg.soap_version, SoapVersion::Soap12);
    let limits = MimeLimits {
        max_soap_bytes: 10,
        ..MimeLimits::default()
    };
    let err = expect_error(SOAP.as_bytes(), "application/soap+xml", &limits).await;
    assert!(matches!(err, MimeError::SoapPartTooLarge { limit: 10 }), "{err}");
}

/// A message whose first attachment is complete (so it has been spooled) when the error occurs.
fn with_spooled_attachment_then(rest: &str) -> Vec<u8> {
    crlf(&format!(
        "--MIME_b\n\n{SOAP}\n--MIME_b\nContent-ID: <first>\n\nfirst attachment\n{rest}"
    ))
}

async fn expect_error(body: &[u8], content_type: &str, limits: &MimeLimits) -> MimeError {
    match read_with(body, content_type, limits).await {
        Ok(_) => panic!("malformed message accepted"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn malformed_messages_give_typed_errors_and_leave_nothing_spooled() {
    let d = MimeLimits::default();
    let e = expect_error(b"x", "multipart/related; type=\"application/soap+xml\"", &d).await;
    assert!(matches!(e, MimeError::MissingBoundary), "{e}");
    let e = expect_error(b"no delimiter here\r\n--MIME_bX\r\n", CT, &d).await;
    assert!(matches!(e, MimeError::BoundaryNotFound), "{e}");
    let e = expect_error(b"", CT, &d).await;
    assert!(matches!(e, MimeError::BoundaryNotFound), "{e}");
    let e = expect_error(b"--MIME_b--\r\n", CT, &d).await;
    assert!(matches!(e, MimeError::NoParts), "{e}");
    let e = expect_error(
        &with_spooled_attachment_then("--MIME_b\nContent-ID: <x>\n\nnever closed"),
        CT,
        &d,
    )
    .await;
    assert!(matches!(e, MimeError::UnterminatedPart { part_index: 2 }), "{e}");
    let e = expect_error(&with_spooled_attachment_then("--MIME_b"), CT, &d).await;
    assert!(matches!(e, MimeError::UnterminatedPart { part_index: 1 }), "{e}");
    let e = expect_error(&with_spooled_attachment_then("--MIME_b\nContent-ID: <x>\n"), CT, &d).await;
    assert!(matches!(e, MimeError::UnterminatedPart { part_index: 2 }), "{e}");
    let e = expect_error(
        &with_spooled_attachment_then("--MIME_b\nContent-ID: <first>\n\nx\n--MIME_b--\n"),
        CT,
        &d,
    )
    .await;
    assert!(matches!(&e, MimeError::DuplicateContentId(id) if id == "first"), "{e}");
    let e = expect_error(
        &with_spooled_attachment_then("--MIME_b\nContent-Transfer-Encoding: base64\n\nQUJD*\n--MIME_b--\n"),
        CT,
        &d,
    )
    .await;
    assert!(matches!(e, MimeError::InvalidBase64 { part_index: 2 }), "{e}");
    let e = expect_error(
        &with_spooled_attachment_then("--MIME_b\nContent-Transfer-Encoding: base64\n\nQUJDR\n--MIME_b--\n"),
        CT,
        &d,
    )
    .await;
    assert!(matches!(e, MimeError::InvalidBase64 { part_index: 2 }), "{e}");
    let e = expect_error(
        &with_spooled_attachment_then("--MIME_b\nContent-Transfer-Encoding: quoted-printable\n\nx\n--MIME_b--\n"),
        CT,
        &d,
    )
    .await;
    assert!(
        matches!(e, MimeError::UnsupportedTransferEncoding { part_index: 2, .. }),
        "{e}"
    );
    let e = expect_error(
        &with_spooled_attachment_then("--MIME_b\nno colon\n\nx\n--MIME_b--\n"),
        CT,
        &d,
    )
    .await;
    assert!(matches!(e, MimeError::MalformedHeader { part_index: 2, .. }), "{e}");
    let start_ct = "multipart/related; boundary=MIME_b; type=\"application/soap+xml\"; start=\"<missing>\"";
    let e = expect_error(&with_spooled_attachment_then("--MIME_b--\n"), start_ct, &d).await;
    assert!(matches!(&e, MimeError::StartNotFound(id) if id == "missing"), "{e}");
    let xop = "multipart/related; boundary=MIME_b; type=\"application/xop+xml\"";
    let e = expect_error(&with_spooled_attachment_then("--MIME_b--\n"), xop, &d).await;
    assert!(matches!(e, MimeError::UnsupportedRootType(_)), "{e}");
}

#[tokio::test]
async fn every_limit_is_enforced() {
    let d = MimeLimits::default();
    let long_header = format!("--MIME_b\nX-Long: {}\n\nx\n--MIME_b--\n", "h".repeat(200));
    let limits = MimeLimits {
        max_header_bytes: 100,
        ..d.clone()
    };
    let e = expect_error(&with_spooled_attachment_then(&long_header), CT, &limits).await;
    assert!(
        matches!(
            e,
            MimeError::HeaderSectionTooLarge {
                part_index: 2,
                limit: 100
            }
        ),
        "{e}"
    );
    // A header section that never ends is stopped at the cap too, not read to the end of the body.
    let endless = format!("--MIME_b\n{}", "X-A: b\n".repeat(1000));
    let e = expect_error(&with_spooled_attachment_then(&endless), CT, &limits).await;
    assert!(
        matches!(e, MimeError::HeaderSectionTooLarge { part_index: 2, .. }),
        "{e}"
    );
    // Exactly at the cap is accepted.
    let at_cap = MimeLimits {
        max_header_bytes: "Content-ID: <first>\r\n".len(),
        ..d.clone()
    };
    read_with(&with_spooled_attachment_then("--MIME_b--\n"), CT, &at_cap)
        .await
        .unwrap();

    let limits = MimeLimits {
        max_parts: 2,
        ..d.clone()
    };
    read_with(&with_spooled_attachment_then("--MIME_b--\n"), CT, &limits)
        .await
        .unwrap();
    let e = expect_error(
        &with_spooled_attachment_then("--MIME_b\n\nthird\n--MIME_b--\n"),
        CT,
        &limits,
    )
    .await;
    assert!(matches!(e, MimeError::TooManyParts { limit: 2 }), "{e}");

    let limits = MimeLimits {
        max_attachment_bytes: 16,
        ..d.clone()
    };
    read_with(&with_spooled_attachment_then("--MIME_b--\n"), CT, &limits)
        .await
        .unwrap();
    let e = expect_error(
        &with_spooled_attachment_then("--MIME_b\n\n12345678901234567\n--MIME_b--\n"),
        CT,
        &limits,
    )
    .await;
    assert!(
        matches!(
            e,
            MimeError::AttachmentTooLarge {
                part_index: 2,
                limit: 16
            }
        ),
        "{e}"
    );

    let body = with_spooled_attachment_then("--MIME_b--\n");
    let limits = MimeLimits {
        max_soap_bytes: SOAP.len() - 1,
        ..d.clone()
    };
    let e = expect_error(&body, CT, &limits).await;
    assert!(matches!(e, MimeError::SoapPartTooLarge { .. }), "{e}");
    let limits = MimeLimits {
        max_total_bytes: body.len() as u64 - 1,
        ..d.clone()
    };
    let e = expect_error(&body, CT, &limits).await;
    assert!(matches!(e, MimeError::MessageTooLarge { .. }), "{e}");
    let limits = MimeLimits {
        max_total_bytes: body.len() as u64,
        ..d
    };
    read_with(&body, CT, &limits).await.unwrap();
}

/// Serves `data`, then fails: a peer that disconnects mid-message.
struct FailingReader {
    data: Vec<u8>,
    served: bool,
}

impl AsyncRead for FailingReader {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.served {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, "peer went away")));
        }
        let n = buf.remaining().min(self.data.len());
        buf.put_slice(&self.data[..n]);
        self.served = true;
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn read_errors_are_reported_and_spool_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = with_spooled_attachment_then("--MIME_b\nContent-ID: <x>\n\n");
    data.extend_from_slice(&[b'z'; 100_000]);
    let err = read_message(
        FailingReader { data, served: false },
        CT,
        &MimeLimits::default(),
        dir.path(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, MimeError::Read(e) if e.kind() == io::ErrorKind::ConnectionReset),
        "{err}"
    );
    assert_eq!(spooled_count(dir.path()), 0);
}
