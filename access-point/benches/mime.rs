//! Criterion benchmark: reading and writing a 10 MB SOAP-with-attachments message (one attachment, binary and
//! base64), with SHA-256 of the same 10 MB as the reference measured in the same run.
//!
//! `cargo bench -p access-point --bench mime -- --warm-up-time 1 --measurement-time 3`

use access_point::mime::{read_message, AttachmentSource, MimeLimits, MultipartWriter, OutgoingAttachment};
use base64::Engine;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const PAYLOAD_BYTES: usize = 10_000_000;
const SOAP: &[u8] = b"<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\"><env:Body/></env:Envelope>";

fn payload() -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..PAYLOAD_BYTES)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

fn base64_message(boundary: &str, payload: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
    let wrapped = encoded.as_bytes().chunks(76).collect::<Vec<_>>().join(&b"\r\n"[..]);
    let mut body = format!(
        "--{boundary}\r\nContent-Type: application/soap+xml\r\n\r\n{}\r\n--{boundary}\r\nContent-ID: <p@x>\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n",
        std::str::from_utf8(SOAP).unwrap()
    )
    .into_bytes();
    body.extend_from_slice(&wrapped);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

fn bench_mime(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let spool = tempfile::tempdir().unwrap();
    let payload = payload();
    let writer = MultipartWriter::new();
    let attachment = || OutgoingAttachment {
        content_id: "p@x".into(),
        content_type: "application/octet-stream".into(),
        extra_headers: vec![],
        source: AttachmentSource::Bytes(Bytes::from(payload.clone())),
    };
    let mut binary = Vec::new();
    runtime
        .block_on(writer.write_to(Bytes::from_static(SOAP), vec![attachment()], &mut binary))
        .unwrap();
    let base64 = base64_message(writer.boundary(), &payload);
    let content_type = writer.content_type();
    let base64_type = format!(
        "multipart/related; boundary=\"{}\"; type=\"application/soap+xml\"",
        writer.boundary()
    );
    let limits = MimeLimits::default();

    let mut group = c.benchmark_group("mime_10MB");
    group.throughput(Throughput::Bytes(PAYLOAD_BYTES as u64));
    group.sample_size(20);
    group.bench_function("reference_sha256", |b| b.iter(|| openssl::sha::sha256(&payload)));
    group.bench_function("read_binary", |b| {
        b.iter(|| {
            runtime
                .block_on(read_message(&binary[..], &content_type, &limits, spool.path()))
                .unwrap()
        })
    });
    group.bench_function("read_base64", |b| {
        b.iter(|| {
            runtime
                .block_on(read_message(&base64[..], &base64_type, &limits, spool.path()))
                .unwrap()
        })
    });
    group.bench_function("write_binary", |b| {
        b.iter(|| {
            let mut sink = tokio::io::sink();
            runtime
                .block_on(writer.write_to(Bytes::from_static(SOAP), vec![attachment()], &mut sink))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_mime);
criterion_main!(benches);
