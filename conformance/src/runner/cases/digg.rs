//! DIGG platform-approval cases (TF-01 … TF-10): the AS4-layer ones here, the SDK business-layer ones (kvittens,
//! XHE) in [`business`].

mod business;
mod revocation;
mod sdk_support;

pub use business::{tf01, tf04, tf06, tf07, tf09, tf10};
pub use revocation::{sec_revoked_cert, tf02};

use std::io::Write;
use std::time::Duration;

use access_point::store::State;

use super::super::federation::{sdk_submission, SERVED};
use super::super::raw::{
    b_still_serves, body_bytes, new_message_id, post_to_b, sdk_user_message, seal_for_b, truncate,
};
use super::super::{CaseFuture, Ctx};
use super::{ensure, expect_state, final_record, inbound, submit};

/// Size of the TF-08 message (the spec asks for at least 70 MB).
pub const TF08_PAYLOAD_BYTES: u64 = 72 * 1024 * 1024;

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

/// TF-08: a message of at least 70 MB is delivered intact (long-running).
pub fn tf08(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let dir = ctx.fed.scratch(ctx.case_id)?;
        let path = dir.join("large.bin");
        {
            let file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
            let mut out = std::io::BufWriter::new(file);
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut block = vec![0u8; 1 << 20];
            for _ in 0..TF08_PAYLOAD_BYTES >> 20 {
                for byte in block.iter_mut() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *byte = x as u8;
                }
                out.write_all(&block).map_err(|e| e.to_string())?;
            }
            out.flush().map_err(|e| e.to_string())?;
        }
        let file = access_point::msh::SubmittedPayload {
            path: path.clone(),
            mime_type: "application/octet-stream".into(),
            content_id: None,
        };
        let accepted = submit(&ctx.fed.a, sdk_submission(SERVED, vec![file])).await?;
        ctx.evidence.note("message_id", &accepted.message_id);
        ctx.evidence.note("payload_bytes", TF08_PAYLOAD_BYTES);
        let record = final_record(&ctx.fed.a, &accepted, Duration::from_secs(170)).await?;
        expect_state(&record, State::Delivered)?;
        let b = ctx.fed.b()?;
        let received = inbound(b, &accepted.message_id).await?.ok_or("not stored at B")?;
        let part = received.payloads.first().ok_or("no payload at B")?;
        ensure(part.size == TF08_PAYLOAD_BYTES, || format!("{} bytes at B", part.size))?;
        let stored = b
            .store()
            .payload_files()
            .path_of(received.key, part)
            .map_err(|e| e.to_string())?;
        ensure(same_file_bytes(&stored, &path)?, || {
            "the large payload differs at B".into()
        })
    })
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
