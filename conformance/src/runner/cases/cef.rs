//! CEF eDelivery AS4 common-profile test assertions, run between A and B through the real pipeline (submission,
//! sealing, mutual TLS, reception, store) or, where the assertion is about the wire, by inspecting and POSTing a
//! message sealed with A's keys.

use std::time::Duration;

use access_point::api::status::MessageView;
use access_point::msh::{Submission, SubmitError};
use access_point::store::State;
use access_point::wss::message::OutgoingPayload;

use super::super::federation::{
    payload_file, sdk_submission, test_service_submission, A_PARTY, B_PARTY, ORIGINAL_SENDER, SERVED,
};
use super::super::raw::{body_bytes, new_message_id, post_to_b, sdk_user_message, seal_for_b, truncate};
use super::super::{CaseFuture, Ctx};
use super::{ensure, expect_state, final_record, inbound, signed_receipt, submit};

const DELIVERY: Duration = Duration::from_secs(60);

/// Submits one business message with `payloads` (name, MIME type, bytes) and waits until it is delivered; checks
/// B stored it with the same bytes in the same order; returns (message id, B's record).
async fn deliver(
    ctx: &mut Ctx,
    payloads: &[(&str, &str, Vec<u8>)],
) -> Result<(String, access_point::store::MessageRecord), String> {
    let dir = ctx.fed.scratch(ctx.case_id)?;
    let mut files = Vec::new();
    for (name, mime, bytes) in payloads {
        files.push(payload_file(&dir, name, mime, bytes)?);
    }
    let accepted = submit(&ctx.fed.a, sdk_submission(SERVED, files.clone())).await?;
    ctx.evidence.note("message_id", &accepted.message_id);
    let record = final_record(&ctx.fed.a, &accepted, DELIVERY).await?;
    ctx.evidence.note("sender_state", format!("{:?}", record.state));
    expect_state(&record, State::Delivered)?;
    let b = ctx.fed.b()?;
    let received = inbound(b, &accepted.message_id)
        .await?
        .ok_or("delivered but not stored at B")?;
    ctx.evidence.note("receiver_state", format!("{:?}", received.state));
    ensure(received.payloads.len() == files.len(), || {
        format!("B stored {} payloads, {} sent", received.payloads.len(), files.len())
    })?;
    for (part, original) in received.payloads.iter().zip(&files) {
        let path = b
            .store()
            .payload_files()
            .path_of(received.key, part)
            .map_err(|e| format!("payload path: {e}"))?;
        let got = std::fs::read(path).map_err(|e| format!("reading B's payload: {e}"))?;
        let sent = std::fs::read(&original.path).map_err(|e| e.to_string())?;
        ensure(got == sent, || {
            format!("payload {} differs at B", original.path.display())
        })?;
        ensure(part.mime_type == original.mime_type, || {
            format!("MimeType {} at B, {} sent", part.mime_type, original.mime_type)
        })?;
    }
    Ok((accepted.message_id, received))
}

/// TA01: a business message gets a signed NRR receipt, stored as A's evidence, and is Delivered.
pub fn ta01(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (message_id, _) = deliver(ctx, &[("order.xml", "text/xml", b"<order>1</order>".to_vec())]).await?;
        let accepted_record = ctx
            .fed
            .a
            .store()
            .get_by_message_id(access_point::store::Direction::Outbound, &message_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no outbound record at A")?;
        let receipt = signed_receipt(&ctx.fed.a, &accepted_record).await?;
        ensure(receipt.contains(&message_id), || {
            "the receipt does not reference the message".into()
        })?;
        ctx.evidence.note("receipt_bytes", receipt.len());
        Ok(())
    })
}

/// TA03: exactly one PartyId in From and in To, naming the two access points.
pub fn ta03(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (_, received) = deliver(ctx, &[]).await?;
        ensure(
            received.meta.from.id == A_PARTY && received.meta.to.id == B_PARTY,
            || format!("From {} To {} at B", received.meta.from.id, received.meta.to.id),
        )?;
        let spool = ctx.fed.scratch(ctx.case_id)?;
        let id = new_message_id();
        let user = sdk_user_message(&id, "ta03", 0)?;
        let sealed = seal_for_b(&ctx.fed.a_config, ctx.fed.b()?, &user, &[], None, &spool).await?;
        let text = String::from_utf8_lossy(&body_bytes(&sealed)?).into_owned();
        let party_ids = opening_tags(&text, "PartyId");
        ctx.evidence.note("party_ids_on_wire", party_ids);
        ensure(party_ids == 2, || {
            format!("{party_ids} PartyId elements on the wire, expected 2")
        })
    })
}

/// Seals `parts` (content id, MIME type, bytes, compress) to B; returns the sealed message and its body text.
async fn sealed_with(
    ctx: &mut Ctx,
    message_id: &str,
    parts: &[(&str, &str, &[u8], bool)],
    extra: Vec<(String, String)>,
) -> Result<(access_point::wss::message::SealedMessage, Vec<u8>), String> {
    let dir = ctx.fed.scratch(ctx.case_id)?;
    let mut payloads = Vec::new();
    for (cid, mime, bytes, compress) in parts {
        let path = dir.join(cid.replace(['@', '/'], "_"));
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        payloads.push(OutgoingPayload {
            content_id: (*cid).into(),
            mime_type: (*mime).into(),
            character_set: None,
            compress: *compress,
            source: path,
            extra_part_properties: extra.clone(),
        });
    }
    let mut user = sdk_user_message(message_id, ctx.case_id, 0)?;
    user.payload_info = Vec::new();
    let sealed = seal_for_b(&ctx.fed.a_config, ctx.fed.b()?, &user, &payloads, None, &dir).await?;
    let body = body_bytes(&sealed)?;
    Ok((sealed, body))
}

/// TA04: an uncompressed payload is accepted (signed receipt) and delivered with the same bytes.
pub fn ta04(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let id = new_message_id();
        ctx.evidence.note("message_id", &id);
        let plain = b"<plain>not compressed</plain>";
        let (sealed, body) = sealed_with(ctx, &id, &[("p1@conformance", "text/xml", plain, false)], vec![]).await?;
        let text = String::from_utf8_lossy(&body);
        ensure(!text.contains("CompressionType"), || {
            "the message declares compression".into()
        })?;
        let b = ctx.fed.b()?;
        let answer = post_to_b(&ctx.fed.a_config, b, &sealed.content_type, body).await?;
        ctx.evidence.note("http_status", answer.status);
        ensure(answer.is_signed_receipt(), || {
            format!("no receipt: {}", truncate(&answer.body))
        })?;
        let received = inbound(b, &id).await?.ok_or("not stored at B")?;
        let part = received.payloads.first().ok_or("no payload stored")?;
        let path = b
            .store()
            .payload_files()
            .path_of(received.key, part)
            .map_err(|e| e.to_string())?;
        ensure(std::fs::read(path).map_err(|e| e.to_string())? == plain, || {
            "payload differs".into()
        })
    })
}

/// TA05–06: compressed payloads each in their own MIME part; the SOAP Body is empty.
pub fn ta05_06(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let id = new_message_id();
        let (_, body) = sealed_with(
            ctx,
            &id,
            &[
                ("c1@conformance", "text/xml", b"<one/>", true),
                ("c2@conformance", "application/octet-stream", b"two two two", true),
            ],
            vec![],
        )
        .await?;
        let text = String::from_utf8_lossy(&body).into_owned();
        for cid in ["c1@conformance", "c2@conformance"] {
            ensure(text.contains(&format!("<{cid}>")), || {
                format!("no MIME part with Content-ID <{cid}>")
            })?;
        }
        ensure(text.matches("application/gzip").count() >= 2, || {
            "CompressionType missing".into()
        })?;
        ensure(soap_body_is_empty(&text), || "the SOAP Body is not empty".into())
    })
}

/// Number of start tags `<prefix:local` (any prefix, or none) in `text`.
fn opening_tags(text: &str, local: &str) -> usize {
    text.match_indices('<')
        .filter(|(at, _)| {
            let name: String = text[at + 1..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
                .collect();
            name.rsplit(':').next() == Some(local)
        })
        .count()
}

/// True when the envelope's Body element has no content.
fn soap_body_is_empty(text: &str) -> bool {
    let Some(start) = text.find(":Body") else { return false };
    let rest = &text[start..];
    let Some(end_of_start_tag) = rest.find('>') else {
        return false;
    };
    if rest[..end_of_start_tag].ends_with('/') {
        return true;
    }
    rest[end_of_start_tag + 1..].trim_start().starts_with("</")
}

/// TA07: a message with compressed payloads in their own parts gets a signed receipt.
pub fn ta07(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let id = new_message_id();
        ctx.evidence.note("message_id", &id);
        let (sealed, body) = sealed_with(
            ctx,
            &id,
            &[
                ("c1@conformance", "text/xml", b"<one/>", true),
                ("c2@conformance", "application/octet-stream", b"two", true),
            ],
            vec![],
        )
        .await?;
        let answer = post_to_b(&ctx.fed.a_config, ctx.fed.b()?, &sealed.content_type, body).await?;
        ctx.evidence.note("http_status", answer.status);
        ensure(answer.is_signed_receipt(), || {
            format!("no receipt: {}", truncate(&answer.body))
        })
    })
}

/// Stops B, submits, and returns the accepted message after A has scheduled at least `attempts` attempts.
async fn submit_while_b_down(ctx: &mut Ctx, attempts: u32) -> Result<access_point::msh::Accepted, String> {
    if let Some(b) = ctx.fed.b.take() {
        b.shutdown().await;
    }
    let accepted = submit(&ctx.fed.a, sdk_submission(SERVED, vec![])).await?;
    ctx.evidence.note("message_id", &accepted.message_id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let record = ctx
            .fed
            .a
            .store()
            .get(accepted.key)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("not stored at A")?;
        if record.attempts >= attempts || record.state.is_final() {
            ctx.evidence.note("attempts_while_down", record.attempts);
            return Ok(accepted);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("only {} attempts while B was down", record.attempts));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// TA09–10: the sender retries while B is down; after B is back the message is delivered once and resending stops.
pub fn ta09_10(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let accepted = submit_while_b_down(ctx, 2).await?;
        ctx.fed.start_b().await.map_err(|e| e.to_string())?;
        let record = final_record(&ctx.fed.a, &accepted, DELIVERY).await?;
        expect_state(&record, State::Delivered)?;
        ctx.evidence.note("attempts", record.attempts);
        ensure(record.attempts >= 3, || {
            format!("{} attempts, expected retries", record.attempts)
        })?;
        tokio::time::sleep(Duration::from_secs(
            2 * super::super::federation::RETRY_INTERVAL_SECONDS + 1,
        ))
        .await;
        let later = ctx
            .fed
            .a
            .store()
            .get(accepted.key)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("gone")?;
        ensure(later.attempts == record.attempts, || {
            "the sender kept resending after the receipt".into()
        })?;
        let b = ctx.fed.b()?;
        let received = inbound(b, &accepted.message_id).await?.ok_or("not stored at B")?;
        let receipts = b.store().evidence(received.key).await.map_err(|e| e.to_string())?;
        ensure(receipts.len() == 1, || {
            format!("B holds {} receipts for it", receipts.len())
        })
    })
}

/// TA12: rsa-sha256 signature with SHA-256 digests over eb:Messaging, the Body and every MIME part.
pub fn ta12(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let id = new_message_id();
        let (_, body) = sealed_with(
            ctx,
            &id,
            &[
                ("s1@conformance", "text/xml", b"<a/>", true),
                ("s2@conformance", "application/pdf", b"%PDF-1.4", true),
            ],
            vec![],
        )
        .await?;
        let text = String::from_utf8_lossy(&body).into_owned();
        ensure(
            text.contains("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"),
            || "not rsa-sha256".into(),
        )?;
        let signed_info = match (text.find(":SignedInfo"), text.find(":SignatureValue")) {
            (Some(start), Some(end)) if start < end => &text[start..end],
            _ => return Err("no SignedInfo before SignatureValue".into()),
        };
        let references = opening_tags(signed_info, "Reference");
        let sha256 = text.matches("http://www.w3.org/2001/04/xmlenc#sha256").count();
        ctx.evidence.note("references", references);
        ensure(references == 4, || {
            format!("{references} references, expected Messaging + Body + 2 parts")
        })?;
        ensure(sha256 >= references, || {
            format!("{sha256} SHA-256 digests for {references} references")
        })?;
        for cid in ["cid:s1@conformance", "cid:s2@conformance"] {
            ensure(text.contains(&format!("URI=\"{cid}\"")), || format!("{cid} not signed"))?;
        }
        ensure(
            !text.contains("xmldsig#rsa-sha1") && !text.contains("xmldsig#sha1"),
            || "SHA-1 present".into(),
        )
    })
}

/// TA13: payloads encrypted with aes128-gcm, the key wrapped for B's certificate; B decrypts (receipt).
pub fn ta13(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let id = new_message_id();
        let secret = b"<secret>only B may read this</secret>";
        let (sealed, body) = sealed_with(ctx, &id, &[("e1@conformance", "text/xml", secret, false)], vec![]).await?;
        let text = String::from_utf8_lossy(&body).into_owned();
        ensure(text.contains("http://www.w3.org/2009/xmlenc11#aes128-gcm"), || {
            "not aes128-gcm".into()
        })?;
        ensure(text.contains("EncryptedKey"), || "no EncryptedKey".into())?;
        ensure(!text.contains("only B may read this"), || {
            "the payload travels in clear".into()
        })?;
        let answer = post_to_b(&ctx.fed.a_config, ctx.fed.b()?, &sealed.content_type, body).await?;
        ensure(answer.is_signed_receipt(), || {
            format!("B could not open it: {}", truncate(&answer.body))
        })
    })
}

/// TA14: the receipt comes back in an HTTP 2xx response.
pub fn ta14(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let id = new_message_id();
        ctx.evidence.note("message_id", &id);
        let (sealed, body) = sealed_with(ctx, &id, &[], vec![]).await?;
        let answer = post_to_b(&ctx.fed.a_config, ctx.fed.b()?, &sealed.content_type, body).await?;
        ctx.evidence.note("http_status", answer.status);
        ensure((200..300).contains(&answer.status), || {
            format!("HTTP {}", answer.status)
        })?;
        ensure(answer.is_signed_receipt(), || {
            format!("no signed receipt: {}", truncate(&answer.body))
        })?;
        ensure(answer.body.contains(&id), || {
            "the receipt does not reference the message".into()
        })
    })
}

/// TA15: when retries run out the producer sees a delivery failure.
pub fn ta15(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut outcomes = ctx.fed.a.subscribe();
        let accepted = submit_while_b_down(ctx, 1).await?;
        let outcome =
            super::super::federation::outcome_of(&mut outcomes, &accepted.message_id, Duration::from_secs(60)).await?;
        ctx.evidence.note("outcome_state", format!("{:?}", outcome.state));
        ctx.evidence.note("attempts", outcome.attempts);
        ctx.evidence.note("reason", &outcome.reason);
        ensure(outcome.state == State::Failed, || {
            format!("outcome {:?}", outcome.state)
        })?;
        let expected = super::super::federation::RETRIES + 1;
        ensure(outcome.attempts == expected, || {
            format!("{} attempts, expected {expected}", outcome.attempts)
        })?;
        let record = final_record(&ctx.fed.a, &accepted, Duration::from_secs(5)).await?;
        expect_state(&record, State::Failed)
    })
}

/// TA16–17: the ebMS test service is acknowledged with a receipt and not delivered to B's consumer.
pub fn ta16_17(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let accepted = submit(&ctx.fed.a, test_service_submission()).await?;
        ctx.evidence.note("message_id", &accepted.message_id);
        let record = final_record(&ctx.fed.a, &accepted, DELIVERY).await?;
        expect_state(&record, State::Delivered)?;
        signed_receipt(&ctx.fed.a, &record).await?;
        let stored = inbound(ctx.fed.b()?, &accepted.message_id).await?;
        ensure(stored.is_none(), || {
            "the test message was stored for B's consumer".into()
        })
    })
}

/// TA23–24: the sender gzips and sets CompressionType=application/gzip; B delivers the original bytes.
pub fn ta23_24(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let id = new_message_id();
        let doc = "<doc>".to_string() + &"compressible ".repeat(2000) + "</doc>";
        let (sealed, body) = sealed_with(
            ctx,
            &id,
            &[("z1@conformance", "text/xml", doc.as_bytes(), true)],
            vec![],
        )
        .await?;
        let text = String::from_utf8_lossy(&body).into_owned();
        ensure(
            text.contains("CompressionType") && text.contains("application/gzip"),
            || "CompressionType=application/gzip missing".into(),
        )?;
        ctx.evidence.note("sealed_bytes", body.len());
        ensure(body.len() < doc.len(), || "the payload was not compressed".into())?;
        let b = ctx.fed.b()?;
        let answer = post_to_b(&ctx.fed.a_config, b, &sealed.content_type, body).await?;
        ensure(answer.is_signed_receipt(), || {
            format!("no receipt: {}", truncate(&answer.body))
        })?;
        let received = inbound(b, &id).await?.ok_or("not stored at B")?;
        let part = received.payloads.first().ok_or("no payload")?;
        let path = b
            .store()
            .payload_files()
            .path_of(received.key, part)
            .map_err(|e| e.to_string())?;
        ensure(
            std::fs::read(path).map_err(|e| e.to_string())? == doc.as_bytes(),
            || "payload differs".into(),
        )
    })
}

/// TA25–26: the producer's MimeType reaches B; a part without MimeType is refused.
pub fn ta25_26(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        deliver(ctx, &[("report.pdf", "application/pdf", b"%PDF-1.4 minimal".to_vec())]).await?;
        let id = new_message_id();
        match sealed_with(ctx, &id, &[("m1@conformance", "", b"<x/>", true)], vec![]).await {
            Err(refused_by_sender) => {
                ctx.evidence.note("missing_mime_type", refused_by_sender);
                Ok(())
            }
            Ok((sealed, body)) => {
                let answer = post_to_b(&ctx.fed.a_config, ctx.fed.b()?, &sealed.content_type, body).await?;
                ctx.evidence
                    .note("missing_mime_type", answer.error_code().unwrap_or_default());
                ensure(answer.error_code().is_some(), || {
                    "a part without MimeType was accepted".into()
                })
            }
        }
    })
}

/// TA30–31: a damaged gzip payload gets EBMS:0303 and nothing is stored.
pub fn ta30_31(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let id = new_message_id();
        ctx.evidence.note("message_id", &id);
        let mut damaged = vec![0x1f, 0x8b, 0x08, 0x00];
        damaged.extend_from_slice(b"this is not a deflate stream at all");
        let extra = vec![("CompressionType".to_string(), "application/gzip".to_string())];
        let (sealed, body) = sealed_with(ctx, &id, &[("g1@conformance", "text/xml", &damaged, false)], extra).await?;
        let b = ctx.fed.b()?;
        let answer = post_to_b(&ctx.fed.a_config, b, &sealed.content_type, body).await?;
        let code = answer.error_code().unwrap_or_default();
        ctx.evidence.note("error_code", &code);
        ensure(code == "EBMS:0303", || {
            format!("expected EBMS:0303, got: {}", truncate(&answer.body))
        })?;
        ensure(inbound(b, &id).await?.is_none(), || {
            "the damaged message was stored".into()
        })
    })
}

/// TA32–33: compressed payloads are delivered decompressed (byte-identical).
pub fn ta32_33(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let doc = "<doc>".to_string() + &"repeat ".repeat(5000) + "</doc>";
        deliver(ctx, &[("big.xml", "text/xml", doc.into_bytes())])
            .await
            .map(|_| ())
    })
}

/// TA45: PartInfo order is preserved end to end.
pub fn ta45(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        deliver(
            ctx,
            &[
                ("3-third.txt", "text/plain", b"third".to_vec()),
                ("1-first.xml", "text/xml", b"<first/>".to_vec()),
                ("2-second.bin", "application/octet-stream", b"second".to_vec()),
            ],
        )
        .await
        .map(|_| ())
    })
}

/// TA21–22: SOAP-with-attachments: multipart/related with a SOAP 1.2 root part and one MIME part per payload.
pub fn ta21_22(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let id = new_message_id();
        let (sealed, body) = sealed_with(ctx, &id, &[("w1@conformance", "text/xml", b"<w/>", true)], vec![]).await?;
        let content_type = sealed.content_type.to_ascii_lowercase();
        ctx.evidence.note("content_type", &sealed.content_type);
        ensure(content_type.starts_with("multipart/related"), || {
            format!("Content-Type {content_type}")
        })?;
        ensure(
            content_type.contains("application/soap+xml") && content_type.contains("boundary="),
            || format!("no SOAP 1.2 type or boundary in {content_type}"),
        )?;
        let text = String::from_utf8_lossy(&body).into_owned();
        let root_type = text.find("Content-Type: application/soap+xml");
        let attachment = text.find("<w1@conformance>");
        ensure(matches!((root_type, attachment), (Some(r), Some(a)) if r < a), || {
            "the SOAP root part does not precede the attachment part".into()
        })?;
        let answer = post_to_b(&ctx.fed.a_config, ctx.fed.b()?, &sealed.content_type, body).await?;
        ensure(answer.is_signed_receipt(), || {
            format!("no receipt: {}", truncate(&answer.body))
        })
    })
}

/// TA38: compression, signature and encryption together are accepted and the payload arrives intact.
pub fn ta38(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let id = new_message_id();
        ctx.evidence.note("message_id", &id);
        let doc = "<all>".to_string() + &"three at once ".repeat(500) + "</all>";
        let (sealed, body) = sealed_with(
            ctx,
            &id,
            &[("all@conformance", "text/xml", doc.as_bytes(), true)],
            vec![],
        )
        .await?;
        let text = String::from_utf8_lossy(&body).into_owned();
        for needed in ["application/gzip", "xmldsig-more#rsa-sha256", "xmlenc11#aes128-gcm"] {
            ensure(text.contains(needed), || format!("{needed} missing"))?;
        }
        let b = ctx.fed.b()?;
        let answer = post_to_b(&ctx.fed.a_config, b, &sealed.content_type, body).await?;
        ensure(answer.is_signed_receipt(), || {
            format!("no receipt: {}", truncate(&answer.body))
        })?;
        let received = inbound(b, &id).await?.ok_or("not stored at B")?;
        let part = received.payloads.first().ok_or("no payload")?;
        let path = b
            .store()
            .payload_files()
            .path_of(received.key, part)
            .map_err(|e| e.to_string())?;
        ensure(
            std::fs::read(path).map_err(|e| e.to_string())? == doc.as_bytes(),
            || "payload differs".into(),
        )
    })
}

/// The order in which a hand-built message applies compression, signature and encryption to its one payload.
#[derive(Clone, Copy)]
enum Order {
    /// compress → sign → encrypt: what AS4 requires.
    CompressSignEncrypt,
    /// sign the plaintext, then compress and encrypt: the signed digest is not the digest of what decrypts.
    SignThenCompress,
    /// compress → sign → encrypt, then gzip the ciphertext: the part no longer decrypts.
    EncryptThenCompress,
}

async fn gzip(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    access_point::compression::gzip_compress(data, &mut out, access_point::compression::Compression::default())
        .await
        .map_err(|e| format!("gzip: {e}"))?;
    Ok(out)
}

/// Builds a message with one gzip-compressed XML payload from A's keys in `order` (the library's envelope builder,
/// signer, encryptor and MIME writer, as access-point/tests/wss_attacks.rs does), POSTs it to B, and returns B's
/// answer with the message id and the plaintext.
async fn ordered(ctx: &mut Ctx, order: Order) -> Result<(String, super::super::raw::Answer, Vec<u8>), String> {
    use super::super::raw::{assemble, b_message_cert, encrypt_part, identity_of, sdk_message_pmode};
    let plaintext = ("<ordered>".to_string() + &"processing order matters ".repeat(40) + "</ordered>").into_bytes();
    let id = new_message_id();
    let mut user = sdk_user_message(&id, ctx.case_id, 0)?;
    user.payload_info =
        vec![
            access_point::ebms::PartInfo::new(access_point::ebms::PartRef::Cid("ordered@conformance".into()))
                .with_property("MimeType", "text/xml")
                .with_property("CompressionType", "application/gzip"),
        ];
    let b = ctx.fed.b()?;
    let identity = identity_of(&ctx.fed.a_config)?;
    let b_cert = b_message_cert(b)?;
    let mut encryptor = access_point::wss::encrypt::MessageEncryptor::new(
        &access_point::wss::encrypt::EncryptionProfile::edelivery_1_15(),
        &b_cert,
    )
    .map_err(|e| e.to_string())?;
    let compressed = gzip(&plaintext).await?;
    let (mut part, compressed_sha256) =
        encrypt_part(&mut encryptor, "ordered@conformance", "application/gzip", &compressed).await?;
    let signed_sha256 = match order {
        Order::SignThenCompress => openssl::sha::sha256(&plaintext),
        Order::CompressSignEncrypt | Order::EncryptThenCompress => compressed_sha256,
    };
    if let Order::EncryptThenCompress = order {
        part.bytes = gzip(&part.bytes).await?;
    }
    let digest = access_point::wss::sign::AttachmentDigest {
        content_id: "ordered@conformance".into(),
        sha256: signed_sha256,
    };
    let (content_type, body) = assemble(
        user,
        &[digest],
        &identity.message,
        &sdk_message_pmode()?,
        &encryptor.security_header_xml(),
        vec![part],
    )
    .await?;
    let answer = post_to_b(&ctx.fed.a_config, b, &content_type, body).await?;
    Ok((id, answer, plaintext))
}

/// The right order is accepted and B stores the decompressed plaintext; `wrong` is refused with `code`, nothing
/// stored.
async fn order_case(ctx: &mut Ctx, wrong: Order, name: &str, code: &str) -> Result<(), String> {
    let (good_id, answer, plaintext) = ordered(ctx, Order::CompressSignEncrypt).await?;
    ctx.evidence.note("compress_sign_encrypt.message_id", &good_id);
    ensure(answer.is_signed_receipt(), || {
        format!("compress-sign-encrypt refused: {}", truncate(&answer.body))
    })?;
    let b = ctx.fed.b()?;
    let received = inbound(b, &good_id)
        .await?
        .ok_or("the well-ordered message is not stored at B")?;
    let part = received.payloads.first().ok_or("no payload stored")?;
    let path = b
        .store()
        .payload_files()
        .path_of(received.key, part)
        .map_err(|e| e.to_string())?;
    ensure(std::fs::read(path).map_err(|e| e.to_string())? == plaintext, || {
        "B stored other bytes than the plaintext".into()
    })?;
    let (bad_id, answer, _) = ordered(ctx, wrong).await?;
    let got = answer.error_code().unwrap_or_default();
    ctx.evidence.note(&format!("{name}.message_id"), &bad_id);
    ctx.evidence.note(&format!("{name}.error_code"), &got);
    ensure(got == code, || {
        format!(
            "{name}: expected {code}, got HTTP {} {}",
            answer.status,
            truncate(&answer.body)
        )
    })?;
    ensure(inbound(ctx.fed.b()?, &bad_id).await?.is_none(), || {
        format!("the {name} message was stored")
    })
}

/// TA34–35: compress-then-sign is accepted; sign-then-compress fails the attachment digest (EBMS:0101).
pub fn ta34_35(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move { order_case(ctx, Order::SignThenCompress, "sign_then_compress", "EBMS:0101").await })
}

/// TA36–37: compress-then-encrypt is accepted; encrypt-then-compress does not decrypt (EBMS:0102).
pub fn ta36_37(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move { order_case(ctx, Order::EncryptThenCompress, "encrypt_then_compress", "EBMS:0102").await })
}

/// TA08: a PartInfo whose href is an external hyperlink gets a synchronous EBMS:0011 (ExternalPayloadError) and
/// nothing is stored. The href is edited into a message sealed with A's keys: the model cannot express an external
/// reference, and the header is refused when read, before its signature is checked (a signature failure would be
/// EBMS:0101).
pub fn ta08(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let id = new_message_id();
        ctx.evidence.note("message_id", &id);
        let (sealed, body) = sealed_with(ctx, &id, &[("x1@conformance", "text/xml", b"<x/>", false)], vec![]).await?;
        let external = "https://files.conformance.example/payload.xml";
        let hostile = super::super::raw::replace_once(
            &body,
            b"href=\"cid:x1@conformance\"",
            format!("href=\"{external}\"").as_bytes(),
        )?;
        ctx.evidence.note("href", external);
        let b = ctx.fed.b()?;
        let answer = post_to_b(&ctx.fed.a_config, b, &sealed.content_type, hostile).await?;
        let code = answer.error_code().unwrap_or_default();
        ctx.evidence.note("http_status", answer.status);
        ctx.evidence.note("error_code", &code);
        ensure(code == "EBMS:0011", || {
            format!(
                "expected EBMS:0011, got HTTP {} {}",
                answer.status,
                truncate(&answer.body)
            )
        })?;
        ensure(inbound(b, &id).await?.is_none(), || "the message was stored".into())
    })
}

/// One CharacterSet message: payload `bytes` declared as `charset`; returns (message id, sealed references, B's
/// answer, whether the wire carries the property).
async fn with_character_set(
    ctx: &mut Ctx,
    charset: &str,
    bytes: &[u8],
) -> Result<(String, Vec<xmldsig::Reference>, super::super::raw::Answer, bool), String> {
    let id = new_message_id();
    let extra = vec![("CharacterSet".to_string(), charset.to_string())];
    let (sealed, body) = sealed_with(ctx, &id, &[("cs@conformance", "text/xml", bytes, true)], extra).await?;
    let on_wire = String::from_utf8_lossy(&body).contains(&format!("name=\"CharacterSet\">{charset}<"));
    let answer = post_to_b(&ctx.fed.a_config, ctx.fed.b()?, &sealed.content_type, body).await?;
    Ok((id, sealed.sent_references, answer, on_wire))
}

/// TA27–29: CharacterSet UTF-16 and UTF-8 travel in PartProperties inside the signed eb:Messaging and are accepted
/// (B's receipt echoes that Messaging's digest, and B stores the payload bytes unchanged); an invalid value gets
/// EBMS:0003 and nothing is stored. B's store keeps no part properties, so a consumer does not see the value.
pub fn ta27_29(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        use base64::Engine;
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<doc>å ä ö UTF-16</doc>".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let utf8 = "<doc>å ä ö UTF-8</doc>".as_bytes().to_vec();
        for (charset, bytes) in [("UTF-16", utf16), ("UTF-8", utf8)] {
            let (id, references, answer, on_wire) = with_character_set(ctx, charset, &bytes).await?;
            ctx.evidence.note(&format!("{charset}.message_id"), &id);
            ensure(on_wire, || format!("CharacterSet {charset} is not on the wire"))?;
            ensure(answer.is_signed_receipt(), || {
                format!("CharacterSet {charset} refused: {}", truncate(&answer.body))
            })?;
            let messaging = references
                .iter()
                .find(|r| r.uri.starts_with("#_messaging-"))
                .ok_or("no Messaging reference among the signed ones")?;
            let digest = base64::engine::general_purpose::STANDARD.encode(&messaging.digest_value);
            ensure(answer.body.contains(&digest), || {
                format!("B's receipt does not echo the Messaging digest carrying CharacterSet {charset}")
            })?;
            let b = ctx.fed.b()?;
            let received = inbound(b, &id).await?.ok_or("not stored at B")?;
            let part = received.payloads.first().ok_or("no payload stored")?;
            let path = b
                .store()
                .payload_files()
                .path_of(received.key, part)
                .map_err(|e| e.to_string())?;
            ensure(std::fs::read(path).map_err(|e| e.to_string())? == bytes, || {
                format!("the {charset} payload differs at B")
            })?;
        }
        ctx.evidence.note(
            "consumer_sees_character_set",
            "no: B's store keeps no part properties (and the Submission API cannot set one)",
        );
        let (id, _, answer, _) = with_character_set(ctx, "not-a-charset!", b"<x/>").await?;
        let code = answer.error_code().unwrap_or_default();
        ctx.evidence.note("invalid.message_id", &id);
        ctx.evidence.note("invalid.error_code", &code);
        ensure(code == "EBMS:0003", || {
            format!(
                "invalid CharacterSet: expected EBMS:0003, got {}",
                truncate(&answer.body)
            )
        })?;
        ensure(inbound(ctx.fed.b()?, &id).await?.is_none(), || {
            "the message with an invalid CharacterSet was stored".into()
        })
    })
}

/// 4C-TA01–03 (four-corner): A submits for C1 → C4 with a `trackingIdentifier`; B stores originalSender,
/// finalRecipient and the trackingIdentifier unchanged (and shows it in the status view), while From/To name the two
/// access points, not C1/C4. A trackingIdentifier with a control character is refused at submission, nothing stored.
pub fn four_corner_ta01_03(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let tracking_identifier = format!("urn:conformance:tracking:{}", uuid::Uuid::new_v4());
        let dir = ctx.fed.scratch(ctx.case_id)?;
        let file = payload_file(&dir, "order.xml", "text/xml", b"<order>4c</order>")?;
        let submission = Submission {
            tracking_identifier: Some(tracking_identifier.clone()),
            ..sdk_submission(SERVED, vec![file])
        };
        let accepted = submit(&ctx.fed.a, submission).await?;
        ctx.evidence.note("message_id", &accepted.message_id);
        let record = final_record(&ctx.fed.a, &accepted, DELIVERY).await?;
        expect_state(&record, State::Delivered)?;
        let b = ctx.fed.b()?;
        let received = inbound(b, &accepted.message_id)
            .await?
            .ok_or("delivered but not stored at B")?;
        let meta = &received.meta;
        ctx.evidence
            .note("original_sender_at_b", meta.original_sender.as_deref().unwrap_or("-"));
        ctx.evidence
            .note("final_recipient_at_b", meta.final_recipient.as_deref().unwrap_or("-"));
        ctx.evidence.note(
            "tracking_identifier_at_b",
            meta.tracking_identifier.as_deref().unwrap_or("-"),
        );
        ctx.evidence
            .note("from_to_at_b", format!("{} -> {}", meta.from.id, meta.to.id));
        ensure(meta.original_sender.as_deref() == Some(ORIGINAL_SENDER), || {
            format!("originalSender {:?} at B, {ORIGINAL_SENDER} sent", meta.original_sender)
        })?;
        ensure(meta.final_recipient.as_deref() == Some(SERVED), || {
            format!("finalRecipient {:?} at B, {SERVED} sent", meta.final_recipient)
        })?;
        ensure(
            meta.tracking_identifier.as_deref() == Some(tracking_identifier.as_str()),
            || {
                format!(
                    "trackingIdentifier {:?} at B, {tracking_identifier} sent",
                    meta.tracking_identifier
                )
            },
        )?;
        ensure(meta.from.id == A_PARTY && meta.to.id == B_PARTY, || {
            format!(
                "From {} To {} at B, expected the APs {A_PARTY} and {B_PARTY}",
                meta.from.id, meta.to.id
            )
        })?;
        let view = MessageView::read(b.store().as_ref(), &accepted.message_id)
            .await
            .map_err(|e| format!("status view at B: {e}"))?
            .ok_or("no status view at B")?;
        ensure(
            view.tracking_identifier.as_deref() == Some(tracking_identifier.as_str()),
            || {
                format!(
                    "B's status view shows trackingIdentifier {:?}",
                    view.tracking_identifier
                )
            },
        )?;
        let bad = Submission {
            tracking_identifier: Some("line\nbreak".into()),
            ..sdk_submission(SERVED, Vec::new())
        };
        match ctx.fed.a.submit(bad).await {
            Err(SubmitError::Invalid(detail)) => {
                ctx.evidence.note("control_character_refused", &detail);
                Ok(())
            }
            Err(e) => Err(format!(
                "a trackingIdentifier with a line break was refused for another reason: {e}"
            )),
            Ok(accepted) => Err(format!(
                "a trackingIdentifier with a line break was accepted as {}",
                accepted.message_id
            )),
        }
    })
}
