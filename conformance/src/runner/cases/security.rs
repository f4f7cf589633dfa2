//! Our own security cases: hostile messages POSTed straight to B. Each must give an ebMS error (or an HTTP
//! refusal), store nothing, and leave B serving.

use access_point::wss::message::OutgoingPayload;

use super::super::raw::{
    b_still_serves, body_bytes, new_message_id, post_to_b, sdk_user_message, seal_for_b, truncate, Answer,
};
use super::super::{Case, CaseFuture, Ctx};
use super::{case, ensure, inbound};

pub fn cases() -> Vec<Case> {
    vec![
        case("sec-tampered-payload", Some(tampered_payload)),
        case("sec-tampered-messaging", Some(tampered_messaging)),
        case("sec-signature-wrapping", None),
        case("sec-unsigned-attachment", None),
        case("sec-foreign-ca", Some(foreign_ca)),
        case("sec-expired-cert", None),
        case("sec-revoked-cert", None),
        case("sec-wrong-receiver-cert", Some(wrong_receiver_cert)),
        case("sec-replayed-message-id", Some(replayed_message_id)),
        case("sec-dtd-entities", Some(dtd_entities)),
        case("sec-oversized-parts", None),
        case("sec-mime-missing-boundary", Some(mime_missing_boundary)),
        case("sec-mime-truncated", Some(mime_truncated)),
        case("sec-wrong-algorithms", None),
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
