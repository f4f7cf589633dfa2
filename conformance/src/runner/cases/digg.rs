//! DIGG platform-approval cases (TF-01 … TF-10): the AS4-layer ones here, the SDK business-layer ones (kvittens,
//! XHE) in [`business`].

mod business;
mod revocation;
mod sdk_support;

pub use business::{tf01, tf04, tf06, tf07, tf09, tf10};
pub use revocation::{sec_revoked_cert, tf02};

use std::io::Write;
use std::time::Duration;

use access_point::sdk::kvittens::ResponseCode;
use access_point::store::State;

use super::super::federation::{sdk_submission, SERVED};
use super::super::raw::{
    b_still_serves, body_bytes, new_message_id, post_to_b, sdk_user_message, seal_for_b, truncate,
};
use super::super::{CaseFuture, Ctx};
use super::{ensure, expect_state, final_record, inbound, submit};

/// Least size of the TF-08 message's XHE envelope (DIGG: at least 70 MB including the XHE).
pub const TF08_MIN_ENVELOPE_BYTES: u64 = 72 * 1024 * 1024;
/// The TF-08 attachment: base64 in the SDK message makes the envelope about 4/3 of it.
pub const TF08_ATTACHMENT_BYTES: u64 = 55 * 1024 * 1024;

/// TF-03: a message signed with a certificate from another environment (another CA) is refused, nothing stored.
pub fn tf03(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let spool = ctx.fed.scratch(ctx.case_id)?;
        let stranger = access_point::pki::dev::DevPki::throwaway(super::super::federation::A_PARTY)
            .map_err(|e| format!("another environment's PKI: {e}"))?;
        let id = new_message_id();
        ctx.evidence.note("message_id", &id);
        let user = sdk_user_message(&id, "tf03", 0)?;
        let b = ctx.fed.b()?;
        let sealed = seal_for_b(&ctx.fed.a_config, b, &user, &[], Some(&stranger.message), &spool).await?;
        let answer = post_to_b(&ctx.fed.a_config, b, &sealed.content_type, body_bytes(&sealed)?).await?;
        let code = answer.error_code().unwrap_or_default();
        ctx.evidence.note("error_code", &code);
        ensure(code == "EBMS:0101", || {
            format!("expected EBMS:0101, got {}", truncate(&answer.body))
        })?;
        ensure(inbound(b, &id).await?.is_none(), || "stored anyway".into())?;
        b_still_serves(&ctx.fed.a_config, b, &spool).await
    })
}

/// TF-05: a message to an unreachable access point is retried and ends Failed with the reason recorded.
pub fn tf05(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        if let Some(b) = ctx.fed.b.take() {
            b.shutdown().await;
        }
        let accepted = submit(&ctx.fed.a, sdk_submission(SERVED, vec![])).await?;
        ctx.evidence.note("message_id", &accepted.message_id);
        let record = final_record(&ctx.fed.a, &accepted, Duration::from_secs(60)).await?;
        ctx.evidence.note("attempts", record.attempts);
        ctx.evidence
            .note("last_error", record.last_error.clone().unwrap_or_default());
        expect_state(&record, State::Failed)?;
        ensure(record.attempts > 1, || "no retry before failing".into())?;
        ensure(record.last_error.is_some(), || "no reason recorded".into())
    })
}

/// TF-08: an SDK message whose XHE envelope is at least 70 MB (a 55 MiB attachment) is delivered intact, lands
/// in the inbox, its attachment streams back byte for byte through the inbox API, and the kvittens reaches the
/// sender (long-running).
pub fn tf08(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let dir = ctx.fed.scratch(ctx.case_id)?;
        let (a, b) = (&ctx.fed.a, ctx.fed.b()?);
        let evidence = &mut ctx.evidence;
        let attachment = dir.join("large.bin");
        write_noise_file(&attachment, TF08_ATTACHMENT_BYTES)?;
        let file = access_point::sdk::outbound::OutboundFile {
            file_name: "large.bin".into(),
            content_type: "application/octet-stream".into(),
            path: attachment.clone(),
        };
        let message = sdk_support::outbound_message("TF-08 stort meddelande", vec![file]);
        let (envelope, xhe_path) = sdk_support::write_sdk(a, &dir, "tf08.xml", &message).await?;
        evidence.note("xhe_bytes", envelope.bytes);
        evidence.note("attachment_bytes", TF08_ATTACHMENT_BYTES);
        ensure(envelope.bytes >= TF08_MIN_ENVELOPE_BYTES, || {
            format!(
                "the envelope has {} bytes, fewer than {TF08_MIN_ENVELOPE_BYTES}",
                envelope.bytes
            )
        })?;
        let accepted = submit(a, sdk_support::submission_for(&envelope, xhe_path.clone())).await?;
        evidence.note("message_id", &accepted.message_id);
        let record = final_record(a, &accepted, Duration::from_secs(150)).await?;
        expect_state(&record, State::Delivered)?;
        let received = inbound(b, &accepted.message_id).await?.ok_or("not stored at B")?;
        let part = received.payloads.first().ok_or("no payload at B")?;
        ensure(part.size == envelope.bytes, || format!("{} bytes at B", part.size))?;
        let stored = b
            .store()
            .payload_files()
            .path_of(received.key, part)
            .map_err(|e| e.to_string())?;
        ensure(same_file_bytes(&stored, &xhe_path)?, || {
            "the envelope stored at B differs from the one sent".into()
        })?;
        let (_, class) = sdk_support::classified(b, &accepted.message_id, sdk_support::BUSINESS_WITHIN).await?;
        ensure(class == access_point::store::Classification::Inbox, || {
            format!("B classified it {class:?}")
        })?;
        let operator = access_point::api::auth::Caller::unrestricted(sdk_support::ACTOR);
        let download = access_point::api::inbox::attachment(b, &operator, &accepted.message_id, 0).await;
        ensure(download.status() == http::StatusCode::OK, || {
            format!("attachment download: HTTP {}", download.status())
        })?;
        let (size, digest) = streamed_sha256(download.into_body()).await?;
        ensure(
            size == TF08_ATTACHMENT_BYTES && digest == file_sha256(&attachment)?,
            || format!("the attachment downloaded from B's inbox differs ({size} bytes)"),
        )?;
        evidence.note("attachment_sha256", hex(&digest));
        let sent = business::kvittens_from(b, &accepted.message_id, ResponseCode::Accepted).await?;
        evidence.note("kvittens_message_id", &sent.message_id);
        let (kvittens, line) =
            sdk_support::linked_kvittens(a, &accepted.message_id, sdk_support::BUSINESS_WITHIN).await?;
        evidence.note("kvittens_response", kvittens.response.as_str());
        ensure(kvittens.response == ResponseCode::Accepted, || line)
    })
}

/// Writes `len` bytes of xorshift noise (incompressible) in 1 MiB blocks.
fn write_noise_file(path: &std::path::Path, len: u64) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..len >> 20 {
        for byte in block.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *byte = x as u8;
        }
        out.write_all(&block).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

/// Size and SHA-256 of an HTTP body, read frame by frame (never whole in memory).
async fn streamed_sha256<B>(body: B) -> Result<(u64, Vec<u8>), String>
where
    B: hyper::body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    use http_body_util::BodyExt;
    let mut body = body;
    let mut hasher = openssl::sha::Sha256::new();
    let mut size = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the download: {e}"))?;
        if let Ok(data) = frame.into_data() {
            size += data.len() as u64;
            hasher.update(&data);
        }
    }
    Ok((size, hasher.finish().to_vec()))
}

/// SHA-256 of a file, read in 1 MiB blocks.
fn file_sha256(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hasher = openssl::sha::Sha256::new();
    let mut block = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut block).map_err(|e| e.to_string())? {
            0 => return Ok(hasher.finish().to_vec()),
            n => hasher.update(&block[..n]),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two files in 1 MiB blocks (never whole in memory).
fn same_file_bytes(a: &std::path::Path, b: &std::path::Path) -> Result<bool, String> {
    use std::io::Read;
    let mut fa = std::io::BufReader::new(std::fs::File::open(a).map_err(|e| e.to_string())?);
    let mut fb = std::io::BufReader::new(std::fs::File::open(b).map_err(|e| e.to_string())?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = read_full(&mut fa, &mut ba)?;
        let nb = read_full(&mut fb, &mut bb)?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
    fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, String> {
        let mut n = 0;
        while n < buf.len() {
            match r.read(&mut buf[n..]).map_err(|e| e.to_string())? {
                0 => break,
                k => n += k,
            }
        }
        Ok(n)
    }
}
