//! eDelivery AS4 2.0 interoperability-event cases: TC00 connectivity, TC01 the test service (SDK profile), and
//! TC02/TC03 under the AS4 2.0 common profile (Ed25519 signature, X25519 + HKDF + AES-128 key wrap, AES-128-GCM),
//! which B holds too ([`as4v2_pmode`]): TC02 goes through A's own send pipeline (`Node::submit`); TC03 is sealed
//! directly with A's Ed25519 key for B's X25519 certificate and POSTed over A's mutual-TLS identity, so the
//! algorithm URIs on the wire can be checked.

use std::time::Duration;

use access_point::config::Config;
use access_point::store::State;
use access_point::transport::As4Client;
use access_point::wss::message::{seal, OutgoingPayload, SealParams};

use access_point::msh::Submission;

use super::super::federation::{
    as4v2_pmode, payload_file, sdk_submission, test_service_submission, AS4V2_ACTION, AS4V2_SERVICE, SERVED,
};
use super::super::raw::{body_bytes, identity_of, new_message_id, post_to_b_typed, sdk_user_message, truncate};
use super::super::{CaseFuture, Ctx};
use super::{ensure, expect_state, final_record, inbound, signed_receipt, submit};

/// TC00: connectivity — A reaches B's AS4 endpoint over mutual TLS and gets an HTTP answer.
pub fn tc00(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let config = Config::load(&ctx.fed.a_config).map_err(|e| e.to_string())?;
        let identity = config.identity().map_err(|e| e.to_string())?;
        let trust = config.tls_trust_store().map_err(|e| e.to_string())?;
        let client = As4Client::from_config(&config, &identity, &trust, None).map_err(|e| e.to_string())?;
        let url = ctx.fed.b()?.config().server.endpoint_url();
        ctx.evidence.note("endpoint", &url);
        let response = client.get(&url).await.map_err(|e| format!("TLS/HTTP to B: {e}"))?;
        ctx.evidence.note("http_status", response.status.as_u16());
        Ok(())
    })
}

/// TC01: a minimal signed message to the test service gets a signed receipt and reaches no consumer.
pub fn tc01(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let accepted = submit(&ctx.fed.a, test_service_submission()).await?;
        ctx.evidence.note("message_id", &accepted.message_id);
        let record = final_record(&ctx.fed.a, &accepted, Duration::from_secs(60)).await?;
        expect_state(&record, State::Delivered)?;
        signed_receipt(&ctx.fed.a, &record).await?;
        ensure(inbound(ctx.fed.b()?, &accepted.message_id).await?.is_none(), || {
            "delivered to a consumer".into()
        })
    })
}

/// The algorithm identifiers an AS4 2.0 message must carry on the wire.
const AS4V2_WIRE_ALGORITHMS: [&str; 5] = [
    "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519",
    "http://www.w3.org/2021/04/xmldsig-more#x25519",
    "http://www.w3.org/2021/04/xmldsig-more#hkdf",
    "http://www.w3.org/2001/04/xmlenc#kw-aes128",
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
];

/// Seals `parts` (content id, MIME type, bytes) under the AS4 2.0 P-Mode with A's Ed25519 key for B's X25519
/// certificate, POSTs it to B, verifies B's receipt (signed by B's Ed25519 certificate, echoing every reference),
/// and checks B stored every payload byte-identical in order.
async fn send_as4v2(ctx: &mut Ctx, parts: &[(&str, &str, &[u8])]) -> Result<(), String> {
    let pmode = as4v2_pmode();
    let dir = ctx.fed.scratch(ctx.case_id)?;
    let mut payloads = Vec::new();
    for (cid, mime, bytes) in parts {
        let source = dir.join(cid.replace(['@', '/'], "_"));
        std::fs::write(&source, bytes).map_err(|e| e.to_string())?;
        payloads.push(OutgoingPayload {
            content_id: (*cid).into(),
            mime_type: (*mime).into(),
            character_set: None,
            compress: pmode.compression.compress_outgoing,
            source,
            extra_part_properties: vec![],
        });
    }
    let id = new_message_id();
    ctx.evidence.note("message_id", &id);
    ctx.evidence.note("pmode", &pmode.id);
    let mut user = sdk_user_message(&id, ctx.case_id, 0)?;
    user.collaboration_info.service =
        access_point::ebms::Service::new(AS4V2_SERVICE, None).map_err(|e| e.to_string())?;
    user.collaboration_info.action = AS4V2_ACTION.into();
    let a = identity_of(&ctx.fed.a_config)?;
    let signer = a.ed25519.as_ref().ok_or("A has no Ed25519 key")?;
    let b = ctx.fed.b()?;
    let b_keys = &b.config().keys;
    let b_x25519 = b_keys.x25519.as_ref().ok_or("B has no X25519 certificate")?;
    let b_ed25519 = b_keys.ed25519.as_ref().ok_or("B has no Ed25519 certificate")?;
    let b_x25519 = access_point::pki::load_certificate(&b_x25519.cert).map_err(|e| e.to_string())?;
    let b_ed25519 = access_point::pki::load_certificate(&b_ed25519.cert).map_err(|e| e.to_string())?;
    let params = SealParams {
        pmode: &pmode,
        signer,
        receiver_encryption_cert: Some(&b_x25519),
        spool_dir: &dir,
    };
    let sealed = seal(&user, &payloads, &params)
        .await
        .map_err(|e| format!("seal: {e}"))?;
    let body = body_bytes(&sealed)?;
    let text = String::from_utf8_lossy(&body).into_owned();
    for uri in AS4V2_WIRE_ALGORITHMS {
        ensure(text.contains(uri), || format!("{uri} is not on the wire"))?;
    }
    ctx.evidence.note("algorithms_on_wire", AS4V2_WIRE_ALGORITHMS.join(" "));
    ensure(!text.contains("rsa-sha256") && !text.contains("rsa-oaep"), || {
        "an RSA algorithm is on the wire".into()
    })?;
    let (answer, answer_type) = post_to_b_typed(&ctx.fed.a_config, b, &sealed.content_type, body).await?;
    ctx.evidence.note("http_status", answer.status);
    ensure(
        answer.error_code().is_none() && (200..300).contains(&answer.status),
        || {
            let at = answer.body.find("EBMS:").unwrap_or(0);
            format!("B refused: HTTP {} {}", answer.status, truncate(&answer.body[at..]))
        },
    )?;
    let a_config = Config::load(&ctx.fed.a_config).map_err(|e| e.to_string())?;
    let trust = a_config.message_trust_store().map_err(|e| e.to_string())?;
    let receipt = access_point::wss::message::verify_receipt(
        &answer_type,
        answer.body.as_bytes(),
        &sealed,
        &b_ed25519,
        &trust,
        &pmode,
    )
    .await
    .map_err(|e| format!("B's receipt does not verify: {e}"))?;
    let access_point::wss::message::VerifiedSignal::Receipt { message_id, signer, .. } = receipt else {
        return Err("B answered with a signed ebMS error, not a receipt".into());
    };
    ctx.evidence.note("receipt_message_id", &message_id);
    ctx.evidence.note("receipt_signer", &signer.info.subject);
    ctx.evidence.note("receipt_references", sealed.sent_references.len());
    let received = inbound(b, &id).await?.ok_or("receipted but not stored at B")?;
    ctx.evidence.note("receiver_pmode", &received.meta.pmode_id);
    ensure(received.meta.pmode_id == pmode.id, || {
        format!("B stored it under P-Mode {}", received.meta.pmode_id)
    })?;
    ensure(received.payloads.len() == parts.len(), || {
        format!("B stored {} payloads, {} sent", received.payloads.len(), parts.len())
    })?;
    for (stored, (cid, mime, bytes)) in received.payloads.iter().zip(parts) {
        let path = b
            .store()
            .payload_files()
            .path_of(received.key, stored)
            .map_err(|e| e.to_string())?;
        ensure(stored.content_id == *cid && stored.mime_type == *mime, || {
            format!("payload {cid} stored as {} {}", stored.content_id, stored.mime_type)
        })?;
        ensure(std::fs::read(path).map_err(|e| e.to_string())? == *bytes, || {
            format!("payload {cid} differs at B")
        })?;
    }
    Ok(())
}

/// TC02: one XML payload under AS4 2.0 through A's own pipeline: `Node::submit` with the AS4 2.0 P-Mode, and A's
/// sender signs with A's Ed25519 key, encrypts to B's X25519 certificate (A's `[[peers]]` entry) and accepts only a
/// receipt signed with B's Ed25519 certificate; B stored it under that P-Mode, the payload byte-identical.
pub fn tc02(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let xml = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Invoice xmlns=\"urn:conformance:tc02\">42</Invoice>";
        let pmode = as4v2_pmode();
        let dir = ctx.fed.scratch(ctx.case_id)?;
        let part = payload_file(&dir, "tc02.xml", "application/xml", xml)?;
        let submission = Submission {
            pmode_id: Some(pmode.id.clone()),
            service: AS4V2_SERVICE.into(),
            service_type: None,
            action: AS4V2_ACTION.into(),
            ..sdk_submission(SERVED, vec![part])
        };
        let accepted = submit(&ctx.fed.a, submission).await?;
        ctx.evidence.note("message_id", &accepted.message_id);
        ctx.evidence.note("pmode", &accepted.pmode_id);
        let record = final_record(&ctx.fed.a, &accepted, Duration::from_secs(60)).await?;
        expect_state(&record, State::Delivered)?;
        let receipt = signed_receipt(&ctx.fed.a, &record).await?;
        ensure(
            receipt.contains(AS4V2_WIRE_ALGORITHMS[0]) && !receipt.contains("rsa-sha256"),
            || "A's verified receipt is not signed with eddsa-ed25519".into(),
        )?;
        ctx.evidence.note("receipt_signature", AS4V2_WIRE_ALGORITHMS[0]);
        let b = ctx.fed.b()?;
        let received = inbound(b, &accepted.message_id)
            .await?
            .ok_or("delivered but not stored at B")?;
        ctx.evidence.note("receiver_pmode", &received.meta.pmode_id);
        ensure(received.meta.pmode_id == pmode.id, || {
            format!("B stored it under P-Mode {}", received.meta.pmode_id)
        })?;
        let [stored] = received.payloads.as_slice() else {
            return Err(format!("B stored {} payloads, 1 sent", received.payloads.len()));
        };
        let path = b
            .store()
            .payload_files()
            .path_of(received.key, stored)
            .map_err(|e| e.to_string())?;
        ensure(stored.mime_type == "application/xml", || {
            format!("payload stored as {}", stored.mime_type)
        })?;
        ensure(std::fs::read(path).map_err(|e| e.to_string())? == xml, || {
            "the payload differs at B".into()
        })
    })
}

/// TC03: two payloads (XML + PDF), signed and encrypted under AS4 2.0, delivered in order.
pub fn tc03(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let xml = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Order xmlns=\"urn:conformance:tc03\">7</Order>";
        let pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
        send_as4v2(
            ctx,
            &[
                ("tc03-xml@conformance", "application/xml", xml),
                ("tc03-pdf@conformance", "application/pdf", pdf),
            ],
        )
        .await
    })
}
