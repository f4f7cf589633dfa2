//! Fuzz target: the streaming SOAP-with-attachments reader on arbitrary bodies. The first input byte picks the
//! Content-Type (several boundaries, start parameters, a bare SOAP body) and the read size, so that delimiters land
//! across read boundaries. Any outcome but a panic is acceptable; on success the spooled files must match the
//! reported sizes and hashes.
#![no_main]

use std::pin::Pin;
use std::task::{Context, Poll};

use access_point::mime::{read_message, MimeLimits};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, ReadBuf};

const CONTENT_TYPES: [&str; 6] = [
    "multipart/related; boundary=b; type=\"application/soap+xml\"",
    "multipart/related; boundary=\"MIME_b\"; type=\"application/soap+xml\"; start=\"<root>\"",
    "multipart/related; boundary=\"MIME_b\"; type=text/xml; start-info=\"application/soap+xml\"",
    "multipart/related; boundary=\"--\"",
    "application/soap+xml; charset=UTF-8",
    "multipart/related; boundary=b; start=\"<p1>\"",
];

struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let n = self.chunk.min(buf.remaining()).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        buf.put_slice(head);
        self.data = rest;
        Poll::Ready(Ok(()))
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, body)) = input.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[(selector & 0x0f) as usize % CONTENT_TYPES.len()];
    let chunk = [1usize, 3, 64, 1 << 20][(selector >> 4) as usize % 4];
    let limits = MimeLimits {
        max_soap_bytes: 4096,
        max_header_bytes: 512,
        max_parts: 8,
        max_attachment_bytes: 4096,
        max_total_bytes: 64 << 10,
    };
    let spool = std::env::temp_dir().join(format!("sdk-ap-fuzz-mime-{}", std::process::id()));
    std::fs::create_dir_all(&spool).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let result = runtime.block_on(read_message(
        Chunked { data: body, chunk },
        content_type,
        &limits,
        &spool,
    ));
    if let Ok(message) = result {
        assert!(message.root.content.len() <= limits.max_soap_bytes);
        for part in &message.attachments {
            let content = std::fs::read(part.path().unwrap()).unwrap();
            assert_eq!(content.len() as u64, part.size);
            assert!(part.size <= limits.max_attachment_bytes);
            assert_eq!(openssl::sha::sha256(&content), part.sha256().unwrap());
        }
    }
    drop(runtime);
    // Every spooled file belongs to a returned part and is gone once the message is dropped.
    assert_eq!(
        std::fs::read_dir(&spool).unwrap().count(),
        0,
        "spooled files left behind"
    );
});
