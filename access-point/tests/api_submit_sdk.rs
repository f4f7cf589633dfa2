//! SDK submissions through the local API (`POST /api/v1/messages`), on two access points made by `init` and linked
//! with `add_peer_from`, on 127.0.0.1:
//! * a 100 MB attachment: accepted with bounded memory (peak RSS growth of this process, measured with VmHWM after
//!   resetting it through /proc/self/clear_refs, far below the attachment size), delivered to B, whose stored
//!   payload is a valid XHE around a valid SDK message whose attachment decodes to the source bytes (SHA-256);
//! * small submissions: every SDK format, idempotent replay (same key and body: 200, replay header, same message id,
//!   nothing new stored; another body: 422), a rule-breaking SDK message / XHE refused naming the rule, and
//!   over-limit uploads (upload over `max_payload_bytes`, and an upload whose base64 envelope would be) answered 413
//!   with nothing stored.

mod support;

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use access_point::api::client::{SubmitOptions, UploadPayload};
use access_point::api::{ApiClient, ClientError};
use access_point::cli::init::{init, InitArgs};
use access_point::config::link::add_peer_from;
use access_point::config::Config;
use access_point::msh::Node;
use access_point::sdk::message_v3::{FileContent, SdkMessage};
use access_point::sdk::xhe::{PayloadContent, Xhe};
use access_point::store::{Direction, ListQuery, State};
use base64::Engine;
use support::{free_port, outcome_of};
use xmldsig::dom::ParseLimits;

const SENDER: &str = "0203:ap0001-dev.example";
const RECIPIENT: &str = "0203:ap0002-dev.example";
const MIB: u64 = 1 << 20;

/// Creates and links A and B; `extra_a` is appended to A's configuration file.
fn two_linked_aps(root: &Path, extra_a: &str) -> (PathBuf, PathBuf) {
    let mut files = Vec::new();
    for (name, party) in [("a", "AP0001-DEV"), ("b", "AP0002-DEV")] {
        let outcome = init(&InitArgs {
            dir: root.join(name),
            party: party.into(),
            port: free_port(),
            api_port: Some(free_port()),
            force: false,
        })
        .unwrap();
        files.push(outcome.config_file);
    }
    add_peer_from(&files[0], &files[1]).unwrap();
    add_peer_from(&files[1], &files[0]).unwrap();
    // A signs for SENDER (`protection: sign`) with its message certificate, registered for SENDER.
    let mut text = std::fs::read_to_string(&files[0]).unwrap();
    text.push_str(&format!(
        "\n[sdk]\ne2e_signers = {{ {SENDER:?} = \"keys/message.pem\" }}\n"
    ));
    std::fs::write(&files[0], text).unwrap();
    if !extra_a.is_empty() {
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains("\n[limits]\n"), "init writes a [limits] section");
        std::fs::write(
            &files[0],
            text.replacen("\n[limits]\n", &format!("\n[limits]\n{extra_a}\n"), 1),
        )
        .unwrap();
    }
    (files[0].clone(), files[1].clone())
}

fn sdk_metadata(extra: serde_json::Value) -> serde_json::Value {
    let mut metadata = serde_json::json!({
        "format": "sdk",
        "sender": {"participant": SENDER, "functional_address": "registrator"},
        "recipient": {"participant": RECIPIENT, "functional_address": "socialtjanst"},
        "subject": "Begäran om yttrande",
        "references": [{"root": "diarienummer", "extension": "2026-42"}],
    });
    if let (Some(m), Some(e)) = (metadata.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            m.insert(k.clone(), v.clone());
        }
    }
    metadata
}

fn upload(path: &Path, mime_type: &str) -> UploadPayload {
    UploadPayload {
        path: path.to_path_buf(),
        mime_type: mime_type.into(),
    }
}

/// Writes `len` pseudo-random bytes (xorshift) in 1 MiB steps; returns their SHA-256.
fn write_noise(path: &Path, len: u64, seed: u64) -> [u8; 32] {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut digest = openssl::sha::Sha256::new();
    let mut x = seed | 1;
    let mut chunk = vec![0u8; MIB as usize];
    let mut left = len;
    while left > 0 {
        let n = left.min(MIB) as usize;
        for b in &mut chunk[..n] {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        digest.update(&chunk[..n]);
        file.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    file.flush().unwrap();
    digest.finish()
}

/// Peak resident set size of this process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Resets VmHWM to the current RSS (Linux: writing 5 to clear_refs); false when the kernel refuses.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Reads an XHE holding an SDK message with base64 file contents, without holding any content in memory: each
/// `<tns:content>` is decoded on the fly (SHA-256 of the bytes) and replaced by a short valid base64 value in the
/// returned skeleton, which the real parsers then validate.
fn split_contents(path: &Path) -> (Vec<u8>, Vec<[u8; 32]>) {
    const OPEN: &[u8] = b"<tns:content>";
    const CLOSE: &[u8] = b"</tns:content>";
    let mut reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path).unwrap());
    let mut skeleton = Vec::new();
    let mut digests = Vec::new();
    let engine = base64::engine::general_purpose::STANDARD;
    loop {
        // Markup: copy up to and including the next <tns:content>.
        let mut markup = Vec::new();
        loop {
            let n = reader.read_until(b'>', &mut markup).unwrap();
            if n == 0 || markup.ends_with(OPEN) {
                break;
            }
        }
        skeleton.extend_from_slice(&markup);
        if !markup.ends_with(OPEN) {
            return (skeleton, digests);
        }
        // Content: decode up to '<' in 4-character groups.
        let mut digest = openssl::sha::Sha256::new();
        let mut carry: Vec<u8> = Vec::new();
        loop {
            let buffer = reader.fill_buf().unwrap();
            assert!(!buffer.is_empty(), "file ends inside a content element");
            let end = buffer.iter().position(|&b| b == b'<');
            let take = end.unwrap_or(buffer.len());
            carry.extend_from_slice(&buffer[..take]);
            reader.consume(take);
            let whole = if end.is_some() {
                carry.len()
            } else {
                carry.len() / 4 * 4
            };
            digest.update(&engine.decode(&carry[..whole]).expect("content is base64"));
            carry.drain(..whole);
            if end.is_some() {
                break;
            }
        }
        let mut close = vec![0u8; CLOSE.len()];
        reader.read_exact(&mut close).unwrap();
        assert_eq!(close, CLOSE);
        skeleton.extend_from_slice(b"AAAA");
        skeleton.extend_from_slice(CLOSE);
        digests.push(digest.finish());
    }
}

fn big_limits() -> ParseLimits {
    ParseLimits {
        max_bytes: 64 << 20,
        max_nodes: usize::MAX,
        ..ParseLimits::default()
    }
}

/// The SDK message inside a stored XHE (parsed and validated).
fn sdk_message_of(xhe_bytes: &[u8]) -> (Xhe, SdkMessage) {
    let xhe = Xhe::parse(xhe_bytes, &big_limits()).expect("the stored payload is a valid XHE");
    let PayloadContent::Xml(inner) = &xhe.payload.content else {
        panic!("the XHE payload is not clear XML")
    };
    let message = SdkMessage::parse(inner.as_bytes(), &big_limits()).expect("a valid SDK message");
    (xhe, message)
}

async fn received_payload(b: &Node, message_id: &str) -> PathBuf {
    let received = b
        .store()
        .get_by_message_id(Direction::Inbound, message_id)
        .await
        .unwrap()
        .expect("stored at B");
    assert_eq!(received.meta.original_sender.as_deref(), Some(SENDER));
    assert_eq!(received.meta.final_recipient.as_deref(), Some(RECIPIENT));
    assert_eq!(received.meta.action, pmode::builtin::SDK_MESSAGE_ACTION);
    assert_eq!(received.payloads.len(), 1);
    assert_eq!(received.payloads[0].content_id, "message");
    b.store()
        .payload_files()
        .path_of(received.key, &received.payloads[0])
        .unwrap()
}

async fn outbound_count(node: &Node) -> usize {
    node.store()
        .list(ListQuery {
            direction: Some(Direction::Outbound),
            ..ListQuery::default()
        })
        .await
        .unwrap()
        .records
        .len()
}

/// Files in the spool folder once it has settled (the multipart reader's spool thread removes the file of a refused
/// part when it ends, which may be just after the answer); waits at most 5 s.
fn spool_files(config: &Path) -> Vec<String> {
    let config = Config::load(config).unwrap();
    let spool = config.node.data_dir.join(access_point::msh::node::SPOOL_DIR);
    let list = || -> Vec<String> {
        std::fs::read_dir(&spool)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !list().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    list()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_attachment_streams_through_with_bounded_memory_and_arrives_intact() {
    let root = tempfile::tempdir().unwrap();
    let (config_a, config_b) = two_linked_aps(root.path(), "");
    let a = support::start_shared(&config_a).await;
    let b = support::start_shared(&config_b).await;
    let (server, client) = support::api_for(&a).await;
    let mut outcomes = a.subscribe();

    let files = root.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let document = files.join("brev.xml");
    std::fs::write(&document, "<brev xmlns=\"urn:example\">Hej!</brev>").unwrap();
    let attachment = files.join("ritning.bin");
    let size = 100 * MIB;
    let source_digest = write_noise(&attachment, size, 42);

    let reset = reset_peak_rss();
    let before = peak_rss();
    let started = Instant::now();
    let answer = client
        .submit_with(
            &sdk_metadata(serde_json::json!({})),
            &[
                upload(&document, "application/xml"),
                upload(&attachment, "application/octet-stream"),
            ],
            &SubmitOptions::default(),
        )
        .await
        .unwrap();
    let upload_seconds = started.elapsed().as_secs_f64();
    let growth = peak_rss().saturating_sub(before);
    println!(
        "100 MiB SDK submission accepted in {upload_seconds:.2} s ({:.1} MiB/s, upload + XHE build + durable store); \
         peak RSS growth {:.1} MiB (VmHWM reset: {reset})",
        100.0 / upload_seconds,
        growth as f64 / MIB as f64
    );
    assert!(!answer.replayed);
    if reset {
        assert!(
            growth < 40 * MIB,
            "peak RSS grew by {} MiB while a 100 MiB attachment was submitted",
            growth / MIB
        );
    } else {
        eprintln!("SKIPPED: the RSS bound (the kernel refused to reset VmHWM through /proc/self/clear_refs)");
    }

    let outcome = outcome_of(&mut outcomes, &answer.response.message_id, Duration::from_secs(300)).await;
    assert_eq!(outcome.state, State::Delivered, "{outcome:?}");
    let stored = received_payload(&b, &answer.response.message_id).await;
    assert!(std::fs::metadata(&stored).unwrap().len() > size * 4 / 3);
    let (skeleton, digests) = split_contents(&stored);
    assert_eq!(digests.len(), 2, "document and attachment");
    assert_eq!(digests[1], source_digest, "the attachment at B differs from the source");
    let (xhe, message) = sdk_message_of(&skeleton);
    assert_eq!((xhe.from.id.as_str(), xhe.to.id.as_str()), (SENDER, RECIPIENT));
    let files = &message.documents[0].files;
    assert_eq!(
        files.iter().map(|f| f.file_name.as_str()).collect::<Vec<_>>(),
        ["brev.xml", "ritning.bin"]
    );
    assert_eq!(files[1].content_type, "application/octet-stream");
    let attention = message.header.recipient.attention.as_ref().unwrap();
    assert_eq!(attention.sub_organization.id.extension, "socialtjanst");
    assert_eq!(attention.references[0].id.extension, "2026-42");
    assert_eq!(
        spool_files(&config_a),
        Vec::<String>::new(),
        "the spool folder is left empty"
    );

    server.shutdown().await;
    a.shutdown().await;
    b.shutdown().await;
}

fn problem_of(error: ClientError) -> (u16, String, String) {
    match error {
        ClientError::Problem {
            status,
            problem_type,
            detail,
        } => (status.as_u16(), problem_type, detail),
        other => panic!("expected a problem answer, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_formats_idempotency_rules_and_limits() {
    let root = tempfile::tempdir().unwrap();
    // 1 MiB payloads at A: a 1.5 MiB upload is refused while streaming, a 0.9 MiB one once its base64 envelope
    // outgrows the limit.
    let (config_a, config_b) = two_linked_aps(root.path(), "max_payload_bytes = 1048576");
    let a = support::start_shared(&config_a).await;
    let b = support::start_shared(&config_b).await;
    let (server, client) = support::api_for(&a).await;
    let mut outcomes = a.subscribe();
    let files = root.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let document = files.join("brev.pdf");
    let document_digest = write_noise(&document, 20_000, 1);
    let none = SubmitOptions::default();

    // The AP builds the SDK message (signed on request) and B receives a valid XHE with the same bytes.
    let signed = client
        .submit_with(
            &sdk_metadata(serde_json::json!({"protection": "sign"})),
            &[upload(&document, "application/pdf")],
            &none,
        )
        .await
        .unwrap();
    let outcome = outcome_of(&mut outcomes, &signed.response.message_id, Duration::from_secs(60)).await;
    assert_eq!(outcome.state, State::Delivered, "{outcome:?}");
    let stored = std::fs::read(received_payload(&b, &signed.response.message_id).await).unwrap();
    let text = String::from_utf8(stored.clone()).unwrap();
    assert!(text.contains("rsa-sha256"), "the XHE carries the enveloped signature");
    let a_config = Config::load(&config_a).unwrap();
    let a_cert = access_point::pki::keys::load_certificate(&a_config.keys.message.cert).unwrap();
    let verified = access_point::sdk::xhe_signature::verify_and_parse(
        &stored,
        &a_cert,
        &xmldsig::policy::Policy::default(),
        &big_limits(),
    )
    .expect("B verifies A's XHE signature");
    assert_eq!(verified.to.id, RECIPIENT);
    let PayloadContent::Xml(inner) = &verified.payload.content else {
        panic!("clear payload expected")
    };
    let message = SdkMessage::parse(inner.as_bytes(), &big_limits()).unwrap();
    let FileContent::Bytes(bytes) = &message.documents[0].files[0].content else {
        panic!("parsed content is in memory")
    };
    assert_eq!(openssl::sha::sha256(bytes), document_digest);
    assert_eq!(message.header.label.as_deref(), Some("Begäran om yttrande"));

    // A client-built SDK message is validated, enveloped and delivered; a rule-breaking one is refused by rule.
    let sdk_xml = files.join("message.xml");
    std::fs::write(&sdk_xml, message.render().unwrap()).unwrap();
    let wrapped = client
        .submit_with(
            &serde_json::json!({"format": "sdk-message"}),
            &[upload(&sdk_xml, "application/xml")],
            &none,
        )
        .await
        .unwrap();
    let outcome = outcome_of(&mut outcomes, &wrapped.response.message_id, Duration::from_secs(60)).await;
    assert_eq!(outcome.state, State::Delivered, "{outcome:?}");
    let (_, delivered) =
        sdk_message_of(&std::fs::read(received_payload(&b, &wrapped.response.message_id).await).unwrap());
    assert_eq!(delivered.header.message_id, message.header.message_id);

    let before = outbound_count(&a).await;
    let bad_message = files.join("bad-message.xml");
    std::fs::write(
        &bad_message,
        message.render().unwrap().replace(
            &format!("<tns:messageId>{}</tns:messageId>", message.header.message_id),
            "<tns:messageId>42</tns:messageId>",
        ),
    )
    .unwrap();
    let err = client
        .submit_with(
            &serde_json::json!({"format": "sdk-message"}),
            &[upload(&bad_message, "application/xml")],
            &none,
        )
        .await
        .unwrap_err();
    let (status, kind, detail) = problem_of(err);
    assert_eq!((status, kind.as_str()), (422, "urn:sdk-ap:problem:invalid-submission"));
    assert!(detail.contains("[MessageId]"), "{detail}");

    // A client-built XHE: accepted as it is; one breaking DIGG's XHE rules is refused by rule.
    let xhe_file = files.join("xhe.xml");
    std::fs::write(&xhe_file, &stored).unwrap();
    let bad_xhe = files.join("bad-xhe.xml");
    std::fs::write(
        &bad_xhe,
        text.replace(access_point::sdk::xhe::XHE_CUSTOMIZATION_ID, "urn:somebody:else"),
    )
    .unwrap();
    let err = client
        .submit_with(
            &serde_json::json!({"format": "xhe"}),
            &[upload(&bad_xhe, "application/xml")],
            &none,
        )
        .await
        .unwrap_err();
    let (status, _, detail) = problem_of(err);
    assert_eq!(status, 422);
    assert!(detail.contains("[R3-XHE]"), "{detail}");
    // Rules of the SDK message itself, from metadata the AP builds from.
    let err = client
        .submit_with(
            &sdk_metadata(serde_json::json!({"conversation_id": "not-a-uuid"})),
            &[upload(&document, "application/pdf")],
            &none,
        )
        .await
        .unwrap_err();
    let (status, _, detail) = problem_of(err);
    assert_eq!(status, 422);
    assert!(detail.contains("[conversationId]"), "{detail}");
    assert_eq!(outbound_count(&a).await, before, "refused submissions store nothing");
    let xhe_sent = client
        .submit_with(
            &serde_json::json!({"format": "xhe"}),
            &[upload(&xhe_file, "application/xml")],
            &none,
        )
        .await
        .unwrap();
    let outcome = outcome_of(&mut outcomes, &xhe_sent.response.message_id, Duration::from_secs(60)).await;
    assert_eq!(outcome.state, State::Delivered, "{outcome:?}");
    assert_eq!(
        std::fs::read(received_payload(&b, &xhe_sent.response.message_id).await).unwrap(),
        stored,
        "a client-built XHE travels unchanged"
    );

    // Idempotency: the same key and body answer the first message again; another body under the key is refused.
    let keyed = SubmitOptions {
        idempotency_key: Some("order-4711".into()),
        ..SubmitOptions::default()
    };
    let metadata = sdk_metadata(serde_json::json!({}));
    let first = client
        .submit_with(&metadata, &[upload(&document, "application/pdf")], &keyed)
        .await
        .unwrap();
    assert!(!first.replayed);
    let count = outbound_count(&a).await;
    let again = client
        .submit_with(&metadata, &[upload(&document, "application/pdf")], &keyed)
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.response, first.response);
    assert_eq!(outbound_count(&a).await, count, "a replay stores nothing");
    let err = client
        .submit_with(
            &sdk_metadata(serde_json::json!({"subject": "another"})),
            &[upload(&document, "application/pdf")],
            &keyed,
        )
        .await
        .unwrap_err();
    let (status, kind, _) = problem_of(err);
    assert_eq!(
        (status, kind.as_str()),
        (422, "urn:sdk-ap:problem:idempotency-key-reused")
    );
    assert_eq!(outbound_count(&a).await, count);
    // The record is durable: a restarted API (new store object) still answers the replay.
    server.shutdown().await;
    let (server, client) = support::api_for(&a).await;
    let replay = client
        .submit_with(&metadata, &[upload(&document, "application/pdf")], &keyed)
        .await
        .unwrap();
    assert!(replay.replayed && replay.response == first.response);

    // Scope: a token may send only for its own organisation and functional address.
    let tokens_file = a.config().api_tokens_file();
    let scoped = |spec: &str, name: &str| {
        let scope = access_point::api::tokens::StoredScope::parse(spec).unwrap();
        let (_, token) = access_point::api::tokens::create(
            &tokens_file,
            access_point::api::tokens::NewToken {
                name: name.into(),
                operator: false,
                scopes: vec![scope],
                expires: None,
            },
        )
        .unwrap();
        ApiClient::new(server.local_addr()).with_token(token)
    };
    let refused_clients = [
        scoped(&format!("{SENDER}/ekonomi:send,read"), "other-address"),
        scoped(&format!("{SENDER}/registrator:read"), "read-only"),
        scoped(&format!("{RECIPIENT}/registrator:send"), "other-organisation"),
    ];
    for refused in &refused_clients {
        let err = refused
            .submit_with(
                &sdk_metadata(serde_json::json!({})),
                &[upload(&document, "application/pdf")],
                &none,
            )
            .await
            .unwrap_err();
        let (status, kind, _) = problem_of(err);
        assert_eq!((status, kind.as_str()), (403, "urn:sdk-ap:problem:forbidden"));
        // A client-built SDK message is checked against its own sender.
        let err = refused
            .submit_with(
                &serde_json::json!({"format": "sdk-message"}),
                &[upload(&sdk_xml, "application/xml")],
                &none,
            )
            .await
            .unwrap_err();
        assert_eq!(problem_of(err).0, 403);
    }
    assert_eq!(outbound_count(&a).await, count, "refused callers store nothing");
    let allowed = scoped(&format!("{SENDER}/registrator:send"), "registrator");
    allowed
        .submit_with(
            &sdk_metadata(serde_json::json!({})),
            &[upload(&document, "application/pdf")],
            &none,
        )
        .await
        .unwrap();
    let count = count + 1;
    assert_eq!(outbound_count(&a).await, count);

    // Encryption needs the recipient's CertPub certificate, which only discovery provides.
    let err = client
        .submit_with(
            &sdk_metadata(serde_json::json!({"protection": "sign-and-encrypt"})),
            &[upload(&document, "application/pdf")],
            &none,
        )
        .await
        .unwrap_err();
    let (status, _, detail) = problem_of(err);
    assert_eq!(status, 422);
    assert!(detail.contains("[discovery]"), "{detail}");
    assert_eq!(outbound_count(&a).await, count);

    // Over the limit: refused while streaming the upload, or while building the envelope; nothing stored either way.
    for (name, len) in [("over.bin", 3 * MIB / 2), ("base64-over.bin", 900 * 1024)] {
        let path = files.join(name);
        write_noise(&path, len, 9);
        let err = client
            .submit_with(
                &sdk_metadata(serde_json::json!({})),
                &[upload(&path, "application/octet-stream")],
                &none,
            )
            .await
            .unwrap_err();
        let (status, kind, detail) = problem_of(err);
        assert_eq!(
            (status, kind.as_str()),
            (413, "urn:sdk-ap:problem:too-large"),
            "{name}: {detail}"
        );
        assert_eq!(outbound_count(&a).await, count, "{name}: nothing stored");
        assert_eq!(
            spool_files(&config_a),
            Vec::<String>::new(),
            "{name}: the spool folder is left empty"
        );
    }

    server.shutdown().await;
    a.shutdown().await;
    b.shutdown().await;
}
