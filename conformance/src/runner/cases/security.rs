//! Our own security cases: hostile messages POSTed straight to B. Each must give an ebMS error (or an HTTP
//! refusal), store nothing, and leave B serving.

use access_point::wss::message::OutgoingPayload;

use super::super::raw::{
    assemble, b_message_cert, b_still_serves, body_bytes, encrypt_part, identity_of, new_message_id, post_to_b,
    replace_once, sdk_message_pmode, sdk_user_message, seal_for_b, truncate, Answer,
};
use super::super::{Case, CaseFuture, Ctx};
use super::{case, ensure, inbound};

pub fn cases() -> Vec<Case> {
    vec![
        case("sec-tampered-payload", Some(tampered_payload)),
        case("sec-tampered-messaging", Some(tampered_messaging)),
        case("sec-signature-wrapping", Some(signature_wrapping)),
        case("sec-unsigned-attachment", Some(unsigned_attachment)),
        case("sec-foreign-ca", Some(foreign_ca)),
        case("sec-expired-cert", Some(expired_cert)),
        case("sec-revoked-cert", Some(super::digg::sec_revoked_cert)),
        case("sec-wrong-receiver-cert", Some(wrong_receiver_cert)),
        case("sec-replayed-message-id", Some(replayed_message_id)),
        case("sec-dtd-entities", Some(dtd_entities)),
        case("sec-oversized-parts", Some(oversized_parts)),
        case("sec-mime-missing-boundary", Some(mime_missing_boundary)),
        case("sec-mime-truncated", Some(mime_truncated)),
        case("sec-wrong-algorithms", Some(wrong_algorithms)),
    ]
}

/// Seals a message with one attachment `t1@conformance` for B; returns (message id, content type, body).
async fn sealed(ctx: &mut Ctx, encrypt_for_a: bool) -> Result<(String, String, Vec<u8>), String> {
    let dir = ctx.fed.scratch(ctx.case_id)?;
    let source = dir.join("t1.xml");
    std::fs::write(
        &source,
        "<attachment>".to_string() + &"x".repeat(4000) + "</attachment>",
    )
    .map_err(|e| e.to_string())?;
    let payloads = [OutgoingPayload {
        content_id: "t1@conformance".into(),
        mime_type: "text/xml".into(),
        character_set: None,
        compress: false,
        source,
        extra_part_properties: vec![],
    }];
    let id = new_message_id();
    ctx.evidence.note("message_id", &id);
    let mut user = sdk_user_message(&id, "tamper-AAAA", 0)?;
    user.payload_info = Vec::new();
    let b = ctx.fed.b()?;
    let sealed = if encrypt_for_a {
        // Encrypted for A's certificate instead of B's: B cannot unwrap the key.
        let a = access_point::config::Config::load(&ctx.fed.a_config).map_err(|e| e.to_string())?;
        let a_cert = access_point::pki::load_certificate(&a.keys.message.cert).map_err(|e| e.to_string())?;
        let identity = a.identity().map_err(|e| e.to_string())?;
        let pmodes = super::super::federation::quick_retry_pmodes();
        let params = access_point::wss::message::SealParams {
            pmode: pmodes.get(pmode::builtin::SDK_MESSAGE_ID).ok_or("no SDK P-Mode")?,
            signer: &identity.message,
            receiver_encryption_cert: Some(&a_cert),
            spool_dir: &dir,
        };
        access_point::wss::message::seal(&user, &payloads, &params)
            .await
            .map_err(|e| format!("seal: {e}"))?
    } else {
        seal_for_b(&ctx.fed.a_config, b, &user, &payloads, None, &dir).await?
    };
    let body = body_bytes(&sealed)?;
    Ok((id, sealed.content_type, body))
}

/// The answer must be an ebMS error (one of `codes` when given) or an HTTP refusal; nothing stored; B serves on.
async fn expect_refused(ctx: &mut Ctx, id: &str, answer: Answer, codes: &[&str]) -> Result<(), String> {
    let code = answer.error_code();
    ctx.evidence.note("http_status", answer.status);
    ctx.evidence.note("error_code", code.clone().unwrap_or_default());
    match &code {
        Some(code) if codes.is_empty() || codes.contains(&code.as_str()) => {}
        Some(code) => return Err(format!("{code}, expected one of {codes:?}")),
        None if codes.is_empty() && !(200..300).contains(&answer.status) => {}
        None => {
            return Err(format!(
                "not refused: HTTP {} {}",
                answer.status,
                truncate(&answer.body)
            ))
        }
    }
    let b = ctx.fed.b()?;
    ensure(inbound(b, id).await?.is_none(), || {
        "the hostile message was stored".into()
    })?;
    let spool = ctx.fed.scratch(ctx.case_id)?;
    b_still_serves(&ctx.fed.a_config, b, &spool).await
}

fn tampered_payload(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (id, content_type, mut body) = sealed(ctx, false).await?;
        let header = find(&body, b"<t1@conformance>").ok_or("no attachment part")?;
        let content = header + find(&body[header..], b"\r\n\r\n").ok_or("no part body")? + 4;
        body[content + 40] ^= 0x01;
        let answer = post_to_b(&ctx.fed.a_config, ctx.fed.b()?, &content_type, body).await?;
        expect_refused(ctx, &id, answer, &["EBMS:0101", "EBMS:0102"]).await
    })
}

fn tampered_messaging(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (id, content_type, mut body) = sealed(ctx, false).await?;
        let at = find(&body, b"tamper-AAAA").ok_or("ConversationId not found")?;
        body[at + 7..at + 11].copy_from_slice(b"BBBB");
        let answer = post_to_b(&ctx.fed.a_config, ctx.fed.b()?, &content_type, body).await?;
        expect_refused(ctx, &id, answer, &["EBMS:0101"]).await
    })
}

fn foreign_ca(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let stranger = access_point::pki::dev::DevPki::throwaway(super::super::federation::A_PARTY)
            .map_err(|e| format!("a foreign CA: {e}"))?;
        let spool = ctx.fed.scratch(ctx.case_id)?;
        let id = new_message_id();
        ctx.evidence.note("message_id", &id);
        let user = sdk_user_message(&id, "foreign", 0)?;
        let b = ctx.fed.b()?;
        let sealed = seal_for_b(&ctx.fed.a_config, b, &user, &[], Some(&stranger.message), &spool).await?;
        let answer = post_to_b(&ctx.fed.a_config, b, &sealed.content_type, body_bytes(&sealed)?).await?;
        expect_refused(ctx, &id, answer, &["EBMS:0101"]).await
    })
}

fn wrong_receiver_cert(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (id, content_type, body) = sealed(ctx, true).await?;
        let answer = post_to_b(&ctx.fed.a_config, ctx.fed.b()?, &content_type, body).await?;
        expect_refused(ctx, &id, answer, &["EBMS:0102", "EBMS:0101"]).await
    })
}

fn replayed_message_id(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (id, content_type, body) = sealed(ctx, false).await?;
        let b = ctx.fed.b()?;
        let first = post_to_b(&ctx.fed.a_config, b, &content_type, body.clone()).await?;
        let second = post_to_b(&ctx.fed.a_config, b, &content_type, body).await?;
        ensure(first.is_signed_receipt(), || {
            format!("first: {}", truncate(&first.body))
        })?;
        ensure(first.body == second.body, || "the replay got a different answer".into())?;
        let stored = inbound(b, &id).await?.ok_or("not stored")?;
        let receipts = b.store().evidence(stored.key).await.map_err(|e| e.to_string())?;
        ctx.evidence.note("receipts_at_b", receipts.len());
        ensure(receipts.len() == 1, || format!("{} receipts stored", receipts.len()))
    })
}

fn dtd_entities(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (id, content_type, body) = sealed(ctx, false).await?;
        let envelope = find(&body, b":Envelope").ok_or("no Envelope")?;
        let open = body[..envelope]
            .iter()
            .rposition(|&c| c == b'<')
            .ok_or("no Envelope tag")?;
        let doctype: &[u8] = b"<!DOCTYPE lol [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>";
        let hostile = [&body[..open], doctype, &body[open..]].concat();
        let answer = post_to_b(&ctx.fed.a_config, ctx.fed.b()?, &content_type, hostile).await?;
        expect_refused(ctx, &id, answer, &[]).await
    })
}

fn mime_missing_boundary(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (id, _, body) = sealed(ctx, false).await?;
        let content_type = "multipart/related; type=\"application/soap+xml\"";
        let answer = post_to_b(&ctx.fed.a_config, ctx.fed.b()?, content_type, body).await?;
        expect_refused(ctx, &id, answer, &[]).await
    })
}

fn mime_truncated(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (id, content_type, mut body) = sealed(ctx, false).await?;
        body.truncate(body.len() * 2 / 3);
        let answer = post_to_b(&ctx.fed.a_config, ctx.fed.b()?, &content_type, body).await?;
        expect_refused(ctx, &id, answer, &[]).await
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// POSTs one hostile variant of message `id`; B must answer exactly `code` and store nothing. Recorded in the
/// evidence as `<variant>.error_code`.
async fn refused_variant(
    ctx: &mut Ctx,
    id: &str,
    variant: &str,
    content_type: &str,
    body: Vec<u8>,
    code: &str,
) -> Result<(), String> {
    let b = ctx.fed.b()?;
    let answer = post_to_b(&ctx.fed.a_config, b, content_type, body).await?;
    let got = answer.error_code().unwrap_or_default();
    ctx.evidence.note(&format!("{variant}.error_code"), &got);
    ensure(got == code, || {
        format!(
            "{variant}: expected {code}, got HTTP {} {}",
            answer.status,
            truncate(&answer.body)
        )
    })?;
    ensure(inbound(ctx.fed.b()?, id).await?.is_none(), || {
        format!("{variant}: the hostile message was stored")
    })
}

/// The text of the first element that starts with `start` (e.g. `<eb:Messaging`) and its `wsu:Id`; a
/// self-closing element ends at its `/>`, any other at `end`.
fn element_with_id(body: &[u8], start: &str, end: &str) -> Result<(String, String), String> {
    let text = String::from_utf8_lossy(body);
    let from = text
        .find(start)
        .ok_or_else(|| format!("no {start} in the sealed message"))?;
    let rest = &text[from..];
    let tag_end = rest.find('>').ok_or("an unterminated start tag")?;
    let len = if rest[..tag_end].ends_with('/') {
        tag_end + 1
    } else {
        rest.find(end).ok_or_else(|| format!("no {end}"))? + end.len()
    };
    let element = rest[..len].to_string();
    let id_at = element
        .find("wsu:Id=\"")
        .ok_or_else(|| format!("{start} has no wsu:Id"))?
        + 8;
    let id_len = element[id_at..].find('"').ok_or("an unterminated wsu:Id")?;
    let id = element[id_at..id_at + id_len].to_string();
    Ok((element, id))
}

/// Signature wrapping: the signed eb:Messaging or Body moved (with its wsu:Id) into a wrapper while a forged one is
/// read; a second element carrying the Messaging's Id; a second eb:Messaging header. Built by editing a message
/// sealed with A's keys, as access-point/tests/wss_attacks.rs does at library level.
fn signature_wrapping(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (id, ct, body) = sealed(ctx, false).await?;
        let (messaging, messaging_id) = element_with_id(&body, "<eb:Messaging", "</eb:Messaging>")?;
        let (soap_body, body_id) = element_with_id(&body, "<env:Body ", "</env:Body>")?;
        ctx.evidence.note("signed_messaging_id", &messaging_id);
        ctx.evidence.note("signed_body_id", &body_id);
        let forged_messaging = messaging
            .replace(&messaging_id, "ebms-forged")
            .replace(">AP0002-DEV<", ">AP0003-DEV<");
        let wrapper = |signed: &str| format!("<w:Wrapper xmlns:w=\"urn:evil\">{signed}</w:Wrapper></wsse:Security>");

        // The Messaging the MSH would read is forged (another Id, another To); the signed one hides in a wrapper.
        let moved = replace_once(&body, messaging.as_bytes(), forged_messaging.as_bytes())?;
        let moved = replace_once(&moved, b"</wsse:Security>", wrapper(&messaging).as_bytes())?;
        refused_variant(ctx, &id, "moved_messaging_id", &ct, moved, "EBMS:0009").await?;

        // The Body read carries content and another Id; the signed empty Body hides in a wrapper.
        let forged_body = "<env:Body wsu:Id=\"body-forged\"><x xmlns=\"urn:evil\">forged</x></env:Body>";
        let moved = replace_once(&body, soap_body.as_bytes(), forged_body.as_bytes())?;
        let moved = replace_once(&moved, b"</wsse:Security>", wrapper(&soap_body).as_bytes())?;
        refused_variant(ctx, &id, "moved_body_id", &ct, moved, "EBMS:0101").await?;

        // A second element with the signed Messaging's Id.
        let duplicate = format!("<w:x xmlns:w=\"urn:evil\" wsu:Id=\"{messaging_id}\"/></wsse:Security>");
        let dup = replace_once(&body, b"</wsse:Security>", duplicate.as_bytes())?;
        refused_variant(ctx, &id, "duplicate_id", &ct, dup, "EBMS:0009").await?;

        // A second (forged) eb:Messaging header after the signed one.
        let second = format!("{forged_messaging}</env:Header>");
        let two = replace_once(&body, b"</env:Header>", second.as_bytes())?;
        refused_variant(ctx, &id, "second_messaging", &ct, two, "EBMS:0009").await?;

        let spool = ctx.fed.scratch(ctx.case_id)?;
        b_still_serves(&ctx.fed.a_config, ctx.fed.b()?, &spool).await
    })
}

/// An unsigned attachment: (1) an extra MIME part appended outside the signature and outside PartInfo; (2) a
/// hand-built message whose second payload has a PartInfo and is encrypted, but the signature has no reference for
/// it (the control, the same message with both references, gets a receipt).
fn unsigned_attachment(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (id, ct, body) = sealed(ctx, false).await?;
        let boundary = ct
            .split("boundary=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .ok_or("no boundary in the sealed Content-Type")?;
        let closing = format!("\r\n--{boundary}--");
        let extra = format!(
            "\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-ID: <unsigned@conformance>\r\n\
             \r\nbytes nobody signed{closing}"
        );
        let appended = replace_once(&body, closing.as_bytes(), extra.as_bytes())?;
        refused_variant(ctx, &id, "extra_mime_part", &ct, appended, "EBMS:0003").await?;

        let b = ctx.fed.b()?;
        let identity = identity_of(&ctx.fed.a_config)?;
        let pmode = sdk_message_pmode()?;
        let b_cert = &b_message_cert(b)?;
        let hand_built = |id: String| async move {
            let mut user = sdk_user_message(&id, "unsigned-attachment", 0)?;
            let mut encryptor = access_point::wss::encrypt::MessageEncryptor::new(
                &access_point::wss::encrypt::EncryptionProfile::edelivery_1_15(),
                b_cert,
            )
            .map_err(|e| e.to_string())?;
            let mut parts = Vec::new();
            let mut digests = Vec::new();
            user.payload_info.clear();
            for (cid, mime, data) in [
                ("signed@conformance", "text/xml", &b"<signed/>"[..]),
                ("unsigned@conformance", "application/octet-stream", &b"not covered"[..]),
            ] {
                let (part, sha256) = encrypt_part(&mut encryptor, cid, mime, data).await?;
                parts.push(part);
                digests.push(access_point::wss::sign::AttachmentDigest {
                    content_id: cid.into(),
                    sha256,
                });
                user.payload_info.push(
                    access_point::ebms::PartInfo::new(access_point::ebms::PartRef::Cid(cid.into()))
                        .with_property("MimeType", mime),
                );
            }
            Ok::<_, String>((user, digests, encryptor.security_header_xml(), parts))
        };
        // Control: both attachments signed → receipt.
        let control_id = new_message_id();
        let (user, digests, xml, parts) = hand_built(control_id.clone()).await?;
        let (control_ct, control) = assemble(user, &digests, &identity.message, &pmode, &xml, parts).await?;
        let answer = post_to_b(&ctx.fed.a_config, b, &control_ct, control).await?;
        ctx.evidence.note("control_message_id", &control_id);
        ensure(answer.is_signed_receipt(), || {
            format!("the hand-built control was refused: {}", truncate(&answer.body))
        })?;
        // Only the first attachment signed.
        let unsigned_id = new_message_id();
        ctx.evidence.note("unsigned_part_message_id", &unsigned_id);
        let (user, digests, xml, parts) = hand_built(unsigned_id.clone()).await?;
        let (ct, body) = assemble(user, &digests[..1], &identity.message, &pmode, &xml, parts).await?;
        refused_variant(ctx, &unsigned_id, "partinfo_not_signed", &ct, body, "EBMS:0103").await?;
        let spool = ctx.fed.scratch(ctx.case_id)?;
        b_still_serves(&ctx.fed.a_config, ctx.fed.b()?, &spool).await
    })
}

/// Weaker algorithms than the P-Mode's (rsa-sha256, SHA-256, aes128-gcm, rsa-oaep): rsa-sha1 signature, SHA-1
/// digest, aes128-cbc data encryption, rsa-1_5 key transport, each named in an otherwise valid sealed message;
/// the policy check refuses each before any cryptography runs on it (EBMS:0103).
fn wrong_algorithms(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (id, ct, body) = sealed(ctx, false).await?;
        let variants: [(&str, &[u8], &[u8]); 4] = [
            (
                "rsa_sha1_signature",
                b"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                b"http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            ),
            (
                "sha1_digest",
                b"<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>",
                b"<ds:DigestMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#sha1\"/>",
            ),
            (
                "aes128_cbc_encryption",
                b"http://www.w3.org/2009/xmlenc11#aes128-gcm",
                b"http://www.w3.org/2001/04/xmlenc#aes128-cbc",
            ),
            (
                "rsa_1_5_key_transport",
                b"http://www.w3.org/2009/xmlenc11#rsa-oaep",
                b"http://www.w3.org/2001/04/xmlenc#rsa-1_5",
            ),
        ];
        for (variant, from, to) in variants {
            let weak = replace_once(&body, from, to)?;
            refused_variant(ctx, &id, variant, &ct, weak, "EBMS:0103").await?;
        }
        let spool = ctx.fed.scratch(ctx.case_id)?;
        b_still_serves(&ctx.fed.a_config, ctx.fed.b()?, &spool).await
    })
}

/// A message certificate issued by A's own CA (the one B trusts) but expired yesterday: EBMS:0101. The control, a
/// certificate issued the same way with current dates, is accepted.
fn expired_cert(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        use time::{Duration, OffsetDateTime};
        let ca = a_ca(ctx)?;
        let issue = |not_before, not_after| issue_for_a(&ca, not_before, not_after);
        let now = OffsetDateTime::now_utc();
        let current = issue(now - Duration::hours(1), now + Duration::days(1))?;
        let expired = issue(now - Duration::days(30), now - Duration::days(1))?;
        ctx.evidence
            .note("expired_not_after", expired.certificate.not_after().to_string());
        let spool = ctx.fed.scratch(ctx.case_id)?;
        let b = ctx.fed.b()?;
        let control_id = new_message_id();
        let user = sdk_user_message(&control_id, "expired-control", 0)?;
        let sealed = seal_for_b(&ctx.fed.a_config, b, &user, &[], Some(&current), &spool).await?;
        let answer = post_to_b(&ctx.fed.a_config, b, &sealed.content_type, body_bytes(&sealed)?).await?;
        ctx.evidence.note("control_message_id", &control_id);
        ensure(answer.is_signed_receipt(), || {
            format!(
                "a current certificate of A's CA was refused: {}",
                truncate(&answer.body)
            )
        })?;
        let id = new_message_id();
        ctx.evidence.note("message_id", &id);
        let user = sdk_user_message(&id, "expired", 0)?;
        let sealed = seal_for_b(&ctx.fed.a_config, b, &user, &[], Some(&expired), &spool).await?;
        let answer = post_to_b(&ctx.fed.a_config, b, &sealed.content_type, body_bytes(&sealed)?).await?;
        expect_refused(ctx, &id, answer, &["EBMS:0101"]).await
    })
}

/// The `[limits]` B runs with during sec-oversized-parts (small, so each cap is crossed with a few KiB).
const SMALL_LIMITS: &str = "max_mime_header_bytes = 2048\nmax_soap_part_bytes = 16384\nmax_payload_bytes = 40000\n\
                            max_mime_parts = 4\nmax_message_bytes = 65536\n";

/// Stops B, writes `config` as its configuration file, and starts it again.
async fn restart_b_with(ctx: &mut Ctx, config: &str) -> Result<(), String> {
    if let Some(b) = ctx.fed.b.take() {
        b.shutdown().await;
    }
    std::fs::write(&ctx.fed.b_config, config).map_err(|e| format!("writing B's configuration: {e}"))?;
    ctx.fed.start_b().await.map_err(|e| e.to_string())
}

/// Oversized input against B's configured `[limits]`: B restarts with [`SMALL_LIMITS`]; a MIME part header, the
/// SOAP part, one payload and the number of parts each cross one cap (EBMS:0007), the whole message crosses
/// `max_message_bytes` (HTTP 413); nothing is stored and a message within the caps still gets a receipt. B gets its original configuration back afterwards.
fn oversized_parts(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let original =
            std::fs::read_to_string(&ctx.fed.b_config).map_err(|e| format!("reading B's configuration: {e}"))?;
        let limited = original.replacen("[limits]\n", &format!("[limits]\n{SMALL_LIMITS}"), 1);
        ensure(limited != original, || "B's configuration has no [limits] table".into())?;
        let outcome = match restart_b_with(ctx, &limited).await {
            Ok(()) => oversized_variants(ctx).await,
            Err(e) => Err(e),
        };
        let restored = restart_b_with(ctx, &original).await;
        outcome.and(restored)
    })
}

/// Seals random (incompressible) payloads of `sizes` bytes for B, uncompressed; returns (id, content type, body).
async fn sealed_random(ctx: &mut Ctx, sizes: &[usize]) -> Result<(String, String, Vec<u8>), String> {
    let dir = ctx.fed.scratch(ctx.case_id)?;
    let mut payloads = Vec::new();
    for (n, size) in sizes.iter().enumerate() {
        let mut bytes = vec![0u8; *size];
        openssl::rand::rand_bytes(&mut bytes).map_err(|e| e.to_string())?;
        let source = dir.join(format!("random-{n}.bin"));
        std::fs::write(&source, &bytes).map_err(|e| e.to_string())?;
        payloads.push(OutgoingPayload {
            content_id: format!("r{n}@conformance"),
            mime_type: "application/octet-stream".into(),
            character_set: None,
            compress: false,
            source,
            extra_part_properties: vec![],
        });
    }
    let id = new_message_id();
    let user = sdk_user_message(&id, "oversized", 0)?;
    let sealed = seal_for_b(&ctx.fed.a_config, ctx.fed.b()?, &user, &payloads, None, &dir).await?;
    Ok((id, sealed.content_type.clone(), body_bytes(&sealed)?))
}

async fn oversized_variants(ctx: &mut Ctx) -> Result<(), String> {
    ctx.evidence
        .note("limits", SMALL_LIMITS.replace('\n', "; ").trim_end_matches("; "));
    let spool = ctx.fed.scratch(ctx.case_id)?;
    // Control: a small message is accepted under the small limits.
    b_still_serves(&ctx.fed.a_config, ctx.fed.b()?, &spool).await?;

    // A part header section of 3 KiB (cap 2048 bytes).
    let (id, ct, body) = sealed_random(ctx, &[100]).await?;
    let padding = format!("Content-ID: <r0@conformance>\r\nX-Padding: {}\r\n", "p".repeat(3000));
    let long_header = replace_once(&body, b"Content-ID: <r0@conformance>\r\n", padding.as_bytes())?;
    refused_variant(ctx, &id, "mime_header", &ct, long_header, "EBMS:0007").await?;

    // A SOAP part of over 16 KiB (an XML comment in the header; cap 16384 bytes).
    let comment = format!("<!--{}--></env:Header>", "c".repeat(20_000));
    let big_soap = replace_once(&body, b"</env:Header>", comment.as_bytes())?;
    refused_variant(ctx, &id, "soap_part", &ct, big_soap, "EBMS:0007").await?;

    // One payload of 48 KiB (cap 40000 bytes).
    let (id, ct, body) = sealed_random(ctx, &[48 * 1024]).await?;
    refused_variant(ctx, &id, "payload", &ct, body, "EBMS:0007").await?;

    // Five MIME parts, root included (cap 4).
    let (id, ct, body) = sealed_random(ctx, &[10, 10, 10, 10]).await?;
    refused_variant(ctx, &id, "part_count", &ct, body, "EBMS:0007").await?;

    // Three payloads of 25000 bytes, each within the payload cap, together over the 64 KiB message cap: the HTTP
    // layer refuses the request by its Content-Length (413) before any of it is read.
    let (id, ct, body) = sealed_random(ctx, &[25_000, 25_000, 25_000]).await?;
    ctx.evidence.note("message.bytes", body.len());
    let answer = post_to_b(&ctx.fed.a_config, ctx.fed.b()?, &ct, body).await?;
    ctx.evidence.note("message.http_status", answer.status);
    ensure(answer.status == 413 && answer.error_code().is_none(), || {
        format!(
            "message: expected HTTP 413, got HTTP {} {}",
            answer.status,
            truncate(&answer.body)
        )
    })?;
    ensure(inbound(ctx.fed.b()?, &id).await?.is_none(), || {
        "message: the oversized message was stored".into()
    })?;

    b_still_serves(&ctx.fed.a_config, ctx.fed.b()?, &spool).await
}

/// A's CA (key and certificate from A's key directory): the CA B trusts for A's message certificates.
fn a_ca(ctx: &Ctx) -> Result<access_point::pki::KeyPair, String> {
    let a = access_point::config::Config::load(&ctx.fed.a_config).map_err(|e| e.to_string())?;
    let keys_dir = a.keys.message.cert.parent().ok_or("A's key directory")?.to_path_buf();
    let files = access_point::pki::dev::DevPkiFiles::in_dir(&keys_dir);
    access_point::pki::KeyPair::load(&files.ca_key, &files.ca_cert, &[]).map_err(|e| format!("A's CA: {e}"))
}

/// A message certificate for A's party id from `ca`, valid from `not_before` to `not_after`, with a fresh key.
fn issue_for_a(
    ca: &access_point::pki::KeyPair,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> Result<access_point::pki::KeyPair, String> {
    use access_point::pki::dev::{CertSpec, DevPki};
    let mut spec = CertSpec::leaf(super::super::federation::A_PARTY, CertSpec::message_key_usage());
    spec.not_before = not_before;
    spec.not_after = not_after;
    let key = access_point::pki::dev::pooled_rsa_key().map_err(|e| e.to_string())?;
    let certificate = DevPki::issue_from(ca, &spec, &key).map_err(|e| e.to_string())?;
    Ok(access_point::pki::KeyPair {
        key,
        certificate,
        chain: Vec::new(),
    })
}
