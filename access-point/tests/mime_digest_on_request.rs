//! `wss::message::open` reads MIME with `PartDigests::OnRequest`: a large (spooled) plaintext part is hashed only
//! when its digest is checked. The check must keep its result: the exact bytes open, one flipped byte is refused.

mod wss_message_support;

use access_point::ebms::ErrorCode;
use access_point::mime::SMALL_PART_IN_MEMORY_BYTES;
use wss_message_support::*;

/// Incompressible bytes, so that the gzip-compressed MIME part is still larger than a part kept in memory.
fn incompressible(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[tokio::test]
async fn a_large_signed_only_part_is_hashed_on_request_and_a_flipped_byte_is_refused() {
    let world = World::new();
    let pmode = sdk_signed_only();
    let big = incompressible(2 * SMALL_PART_IN_MEMORY_BYTES + 4099);
    let sealed = world
        .seal_with(
            &pmode,
            &world.payloads(&[b"<doc>small</doc>", &big]),
            &world.sender.message,
            None,
        )
        .await;
    let body = body_of(&sealed);
    let range = part_range(&body, "part-1@sdk");
    assert!(
        range.len() > SMALL_PART_IN_MEMORY_BYTES,
        "the part must be spooled to a file"
    );

    let opened = world
        .open_with(&pmode, &sealed.content_type, &body, &world.receiver_trust)
        .await
        .expect("the untouched message opens");
    assert_eq!(std::fs::read(opened.payloads[1].file.path().unwrap()).unwrap(), big);
    assert_eq!(opened.payloads[1].sha256, openssl::sha::sha256(&big));
    drop(opened);

    let mut tampered = body.clone();
    tampered[range.start + range.len() / 2] ^= 0x01;
    world
        .expect_refusal(&pmode, &sealed.content_type, &tampered, ErrorCode::FailedAuthentication)
        .await;
}
