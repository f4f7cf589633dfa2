//! Streaming AES-128-GCM encryption of one attachment, as XML Encryption 1.1 §5.2.4 lays it out: a 12-byte random
//! IV, the ciphertext, and the 16-byte authentication tag, concatenated (the octets of the encrypted MIME part).
//!
//! Neither direction holds the attachment in memory: both work in [`CHUNK_LEN`] chunks. Decryption spools the
//! plaintext to a temporary file and hands it out only after the tag verified; on any failure the file is deleted
//! (it is a [`tempfile::NamedTempFile`], removed when dropped). Both directions compute the SHA-256 of the
//! plaintext while streaming, which the signature layer needs for the attachment's `ds:Reference`, except
//! [`encrypt_blocking`], which serves a sender that hashed the plaintext before ([`sha256_blocking`]) so that it can
//! encrypt straight into a MIME body that carries the signature first.

use crate::wss::error::EncryptionError;
use crate::wss::keytransport::ContentKey;
use bytes::{Bytes, BytesMut};
use openssl::sha::Sha256;
use openssl::symm::{Cipher, Crypter, Mode};
use std::path::Path;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// GCM IV length (XML Encryption 1.1 §5.2.4: 96 bits).
pub const GCM_IV_LEN: usize = 12;
/// GCM tag length (XML Encryption 1.1 §5.2.4: 128 bits).
pub const GCM_TAG_LEN: usize = 16;
/// Size of the chunks read, encrypted, hashed and written once an attachment is past its first chunk: a 1 GiB part
/// costs 4096 reads, writes and hand-overs to the hashing thread (each a wake-up, and with tokio files a hop to the
/// blocking pool), and a chunk still fits in a core's L2 cache while AES-GCM and then SHA-256 read it (1 MiB chunks
/// were no faster on the 2-core test host and raised the peak RSS by about 5 MiB).
pub const CHUNK_LEN: usize = 256 * 1024;
/// Size of the first chunk: a small part (a 10 KB message) must not pay for allocating a [`CHUNK_LEN`] buffer.
pub const FIRST_CHUNK_LEN: usize = 64 * 1024;
/// NIST SP 800-38D §5.2.1.1: at most 2^39 - 256 bits of plaintext under one GCM invocation.
pub const GCM_MAX_PLAINTEXT_BYTES: u64 = ((1u64 << 39) - 256) / 8;
/// Chunks queued for the background SHA-256 before the cipher waits for it (bounds memory to this many chunks).
const HASH_QUEUE_CHUNKS: usize = 3;

/// SHA-256 of the plaintext. The first chunk is hashed inline (small attachments stay on one thread); from the
/// second chunk on, hashing moves to a blocking-pool thread so that it runs beside AES-GCM on another core.
enum PlaintextHasher {
    Inline(Sha256),
    Background {
        queue: tokio::sync::mpsc::Sender<Bytes>,
        worker: tokio::task::JoinHandle<[u8; 32]>,
    },
}

impl PlaintextHasher {
    fn new() -> Self {
        PlaintextHasher::Inline(Sha256::new())
    }

    async fn update(&mut self, chunk: Bytes, first: bool) {
        if let PlaintextHasher::Inline(hasher) = self {
            if first {
                hasher.update(&chunk);
                return;
            }
            let mut hasher = std::mem::replace(hasher, Sha256::new());
            let (queue, mut chunks) = tokio::sync::mpsc::channel::<Bytes>(HASH_QUEUE_CHUNKS);
            let worker = tokio::task::spawn_blocking(move || {
                while let Some(chunk) = chunks.blocking_recv() {
                    hasher.update(&chunk);
                }
                hasher.finish()
            });
            *self = PlaintextHasher::Background { queue, worker };
        }
        if let PlaintextHasher::Background { queue, .. } = self {
            // The worker only stops when the queue closes, so a send cannot fail while we hold the sender.
            let _ = queue.send(chunk).await;
        }
    }

    async fn finish(self) -> Result<[u8; 32], EncryptionError> {
        match self {
            PlaintextHasher::Inline(hasher) => Ok(hasher.finish()),
            PlaintextHasher::Background { queue, worker } => {
                drop(queue);
                worker.await.map_err(|e| EncryptionError::Io(std::io::Error::other(e)))
            }
        }
    }
}

/// Sizes and plaintext digest of an attachment that was encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedStream {
    pub plaintext_len: u64,
    /// IV + ciphertext + tag.
    pub encrypted_len: u64,
    /// SHA-256 of the plaintext.
    pub plaintext_sha256: [u8; 32],
}

/// Reads into the spare capacity of `buf` until it is full or the input ends (no zero-filling first); returns the
/// number of bytes read.
async fn read_into_capacity<R: AsyncRead + Unpin>(input: &mut R, buf: &mut BytesMut) -> std::io::Result<usize> {
    let start = buf.len();
    while buf.len() < buf.capacity() {
        if input.read_buf(buf).await? == 0 {
            break;
        }
    }
    Ok(buf.len() - start)
}

/// Reads until `buf` is full or the input ends; returns the number of bytes read.
async fn read_full<R: AsyncRead + Unpin>(input: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = input.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// Encrypts everything `input` yields into `output` as IV || ciphertext || tag, with a fresh random IV.
/// `output` is flushed but not shut down.
pub async fn encrypt_stream<R, W>(
    key: &ContentKey,
    mut input: R,
    mut output: W,
) -> Result<EncryptedStream, EncryptionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut iv = [0u8; GCM_IV_LEN];
    openssl::rand::rand_bytes(&mut iv)?;
    let mut crypter = Crypter::new(Cipher::aes_128_gcm(), Mode::Encrypt, key.as_bytes(), Some(&iv))?;
    output.write_all(&iv).await?;

    let mut hasher = PlaintextHasher::new();
    let mut sealed = vec![0u8; FIRST_CHUNK_LEN + 16];
    let mut plaintext_len = 0u64;
    loop {
        let chunk_len = if plaintext_len == 0 { FIRST_CHUNK_LEN } else { CHUNK_LEN };
        let mut chunk = BytesMut::with_capacity(chunk_len);
        let n = read_into_capacity(&mut input, &mut chunk).await?;
        if n == 0 {
            break;
        }
        let chunk = chunk.freeze();
        if sealed.len() < n + 16 {
            sealed.resize(CHUNK_LEN + 16, 0);
        }
        let first = plaintext_len == 0;
        plaintext_len += n as u64;
        if plaintext_len > GCM_MAX_PLAINTEXT_BYTES {
            return Err(EncryptionError::AttachmentTooLarge {
                content_id: String::new(),
                max: GCM_MAX_PLAINTEXT_BYTES,
            });
        }
        let m = crypter.update(&chunk, &mut sealed)?;
        hasher.update(chunk, first).await;
        output.write_all(&sealed[..m]).await?;
    }
    let m = crypter.finalize(&mut sealed)?;
    output.write_all(&sealed[..m]).await?;
    let mut tag = [0u8; GCM_TAG_LEN];
    crypter.get_tag(&mut tag)?;
    output.write_all(&tag).await?;
    output.flush().await?;
    Ok(EncryptedStream {
        plaintext_len,
        encrypted_len: plaintext_len + (GCM_IV_LEN + GCM_TAG_LEN) as u64,
        plaintext_sha256: hasher.finish().await?,
    })
}

/// Encrypts everything `input` yields into `output` as IV || ciphertext || tag, with a fresh random IV, using blocking
/// reads and writes in [`CHUNK_LEN`] chunks (call it on a blocking thread). Unlike [`encrypt_stream`] it does not hash
/// the plaintext: it serves a caller that hashed it before (the signature, which precedes the part on the wire,
/// needs the digest first). Returns the plaintext length. `output` is flushed.
pub fn encrypt_blocking<R: std::io::Read, W: std::io::Write>(
    key: &ContentKey,
    mut input: R,
    mut output: W,
) -> Result<u64, EncryptionError> {
    let mut iv = [0u8; GCM_IV_LEN];
    openssl::rand::rand_bytes(&mut iv)?;
    let mut crypter = Crypter::new(Cipher::aes_128_gcm(), Mode::Encrypt, key.as_bytes(), Some(&iv))?;
    output.write_all(&iv)?;
    let mut chunk = vec![0u8; CHUNK_LEN];
    let mut sealed = vec![0u8; CHUNK_LEN + 16];
    let mut plaintext_len = 0u64;
    loop {
        let n = read_full_blocking(&mut input, &mut chunk)?;
        if n == 0 {
            break;
        }
        plaintext_len += n as u64;
        if plaintext_len > GCM_MAX_PLAINTEXT_BYTES {
            return Err(EncryptionError::AttachmentTooLarge {
                content_id: String::new(),
                max: GCM_MAX_PLAINTEXT_BYTES,
            });
        }
        let m = crypter.update(&chunk[..n], &mut sealed)?;
        output.write_all(&sealed[..m])?;
    }
    let m = crypter.finalize(&mut sealed)?;
    output.write_all(&sealed[..m])?;
    let mut tag = [0u8; GCM_TAG_LEN];
    crypter.get_tag(&mut tag)?;
    output.write_all(&tag)?;
    output.flush()?;
    Ok(plaintext_len)
}

/// SHA-256 and length of everything `input` yields, read in [`CHUNK_LEN`] chunks with blocking reads (call it on a
/// blocking thread).
pub fn sha256_blocking<R: std::io::Read>(mut input: R) -> std::io::Result<([u8; 32], u64)> {
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; CHUNK_LEN];
    let mut len = 0u64;
    loop {
        let n = read_full_blocking(&mut input, &mut chunk)?;
        if n == 0 {
            return Ok((hasher.finish(), len));
        }
        hasher.update(&chunk[..n]);
        len += n as u64;
    }
}

/// Reads until `buf` is full or the input ends; returns the number of bytes read.
fn read_full_blocking<R: std::io::Read>(input: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A decrypted attachment whose tag verified, spooled in a temporary file (deleted when dropped unless kept with
/// [`DecryptedAttachment::persist`] or [`DecryptedAttachment::into_temp_file`]).
#[derive(Debug)]
pub struct DecryptedAttachment {
    file: tempfile::NamedTempFile,
    pub plaintext_len: u64,
    /// SHA-256 of the plaintext, for the signature layer's attachment reference.
    pub plaintext_sha256: [u8; 32],
}

impl DecryptedAttachment {
    /// Where the plaintext is.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The temporary file itself (still deleted on drop).
    pub fn into_temp_file(self) -> tempfile::NamedTempFile {
        self.file
    }

    /// Moves the plaintext to `destination` (same file system as the spool directory).
    pub fn persist(self, destination: &Path) -> Result<std::fs::File, EncryptionError> {
        self.file.persist(destination).map_err(|e| EncryptionError::Io(e.error))
    }
}

/// Decrypts IV || ciphertext || tag from `input` into a new temporary file in `spool_dir`, refusing more than
/// `max_plaintext_bytes`. The plaintext is returned only when the whole part was read and the tag verified; on any
/// error the temporary file has been deleted. `content_id` only names the part in errors.
pub async fn decrypt_to_spool<R>(
    key: &ContentKey,
    content_id: &str,
    mut input: R,
    spool_dir: &Path,
    max_plaintext_bytes: u64,
) -> Result<DecryptedAttachment, EncryptionError>
where
    R: AsyncRead + Unpin,
{
    let max_plaintext_bytes = max_plaintext_bytes.min(GCM_MAX_PLAINTEXT_BYTES);
    let truncated = || EncryptionError::Truncated {
        content_id: content_id.to_string(),
    };

    let mut iv = [0u8; GCM_IV_LEN];
    if read_full(&mut input, &mut iv).await? < GCM_IV_LEN {
        return Err(truncated());
    }
    let mut crypter = Crypter::new(Cipher::aes_128_gcm(), Mode::Decrypt, key.as_bytes(), Some(&iv))?;

    let file = tempfile::Builder::new()
        .prefix("sdk-ap-decrypt-")
        .tempfile_in(spool_dir)?;
    // Plaintext chunks go to the spool file with plain `write` calls: a write of one chunk into the page cache costs
    // about what decrypting it costs, while a hop to tokio's blocking pool per write cost more than the whole
    // decryption of a 10 KB part on a loaded host (measured with the wss_crypto_seal_open example).
    let mut out = file.as_file();

    let mut hasher = PlaintextHasher::new();
    // `window[..held]` are bytes read but not yet decrypted. The last GCM_TAG_LEN bytes read may be the tag, so
    // they are always held back (moved to the front) until the input ends. The window grows to CHUNK_LEN after the
    // first chunk.
    let mut window = vec![0u8; GCM_TAG_LEN + FIRST_CHUNK_LEN];
    let mut held = 0;
    let mut plaintext_len = 0u64;
    loop {
        if plaintext_len > 0 && window.len() < GCM_TAG_LEN + CHUNK_LEN {
            window.resize(GCM_TAG_LEN + CHUNK_LEN, 0);
        }
        let n = read_full(&mut input, &mut window[held..]).await?;
        if n == 0 {
            break;
        }
        let total = held + n;
        if total > GCM_TAG_LEN {
            let ready = total - GCM_TAG_LEN;
            let first = plaintext_len == 0;
            plaintext_len += ready as u64;
            if plaintext_len > max_plaintext_bytes {
                return Err(EncryptionError::AttachmentTooLarge {
                    content_id: content_id.to_string(),
                    max: max_plaintext_bytes,
                });
            }
            let mut plain = BytesMut::zeroed(ready + 16);
            let m = crypter.update(&window[..ready], &mut plain)?;
            plain.truncate(m);
            let plain = plain.freeze();
            std::io::Write::write_all(&mut out, &plain)?;
            hasher.update(plain, first).await;
            window.copy_within(ready..total, 0);
            held = GCM_TAG_LEN;
        } else {
            held = total;
        }
    }
    if held < GCM_TAG_LEN {
        return Err(truncated());
    }
    crypter.set_tag(&window[..GCM_TAG_LEN])?;
    let mut last = [0u8; 16];
    let m = crypter.finalize(&mut last).map_err(|_| EncryptionError::TagMismatch {
        content_id: content_id.to_string(),
    })?;
    if m > 0 {
        std::io::Write::write_all(&mut out, &last[..m])?;
        hasher.update(Bytes::copy_from_slice(&last[..m]), false).await;
    }
    Ok(DecryptedAttachment {
        file,
        plaintext_len,
        plaintext_sha256: hasher.finish().await?,
    })
}

/// Decrypts a whole IV || ciphertext || tag held in memory (a small part) and returns the plaintext and its
/// SHA-256, only when the tag verified. Same checks and errors as [`decrypt_to_spool`], no file and no await.
pub fn decrypt_in_memory(
    key: &ContentKey,
    content_id: &str,
    encrypted: &[u8],
    max_plaintext_bytes: u64,
) -> Result<(Vec<u8>, [u8; 32]), EncryptionError> {
    let max_plaintext_bytes = max_plaintext_bytes.min(GCM_MAX_PLAINTEXT_BYTES);
    if encrypted.len() < GCM_IV_LEN + GCM_TAG_LEN {
        return Err(EncryptionError::Truncated {
            content_id: content_id.to_string(),
        });
    }
    let (iv, rest) = encrypted.split_at(GCM_IV_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - GCM_TAG_LEN);
    if ciphertext.len() as u64 > max_plaintext_bytes {
        return Err(EncryptionError::AttachmentTooLarge {
            content_id: content_id.to_string(),
            max: max_plaintext_bytes,
        });
    }
    let mut crypter = Crypter::new(Cipher::aes_128_gcm(), Mode::Decrypt, key.as_bytes(), Some(iv))?;
    let mut plain = vec![0u8; ciphertext.len() + 16];
    let mut n = crypter.update(ciphertext, &mut plain)?;
    crypter.set_tag(tag)?;
    match crypter.finalize(&mut plain[n..]) {
        Ok(m) => n += m,
        Err(_) => {
            // Nothing of an unauthenticated plaintext leaves this function.
            plain.iter_mut().for_each(|b| *b = 0);
            return Err(EncryptionError::TagMismatch {
                content_id: content_id.to_string(),
            });
        }
    }
    plain.truncate(n);
    let sha256 = openssl::sha::sha256(&plain);
    Ok((plain, sha256))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256(data: &[u8]) -> [u8; 32] {
        openssl::sha::sha256(data)
    }

    async fn seal(key: &ContentKey, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let summary = encrypt_stream(key, data, &mut out).await.unwrap();
        assert_eq!(summary.plaintext_sha256, sha256(data));
        assert_eq!(summary.encrypted_len as usize, out.len());
        out
    }

    fn spool_is_empty(dir: &Path) -> bool {
        std::fs::read_dir(dir).unwrap().next().is_none()
    }

    #[tokio::test]
    async fn round_trip_various_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let key = ContentKey::generate().unwrap();
        for len in [
            0usize,
            1,
            15,
            16,
            17,
            FIRST_CHUNK_LEN - 1,
            FIRST_CHUNK_LEN,
            FIRST_CHUNK_LEN + 1,
            FIRST_CHUNK_LEN + 16,
            FIRST_CHUNK_LEN + 17,
            CHUNK_LEN - 1,
            CHUNK_LEN,
            FIRST_CHUNK_LEN + CHUNK_LEN,
            FIRST_CHUNK_LEN + CHUNK_LEN + 17,
            3 * CHUNK_LEN + 5,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let sealed = seal(&key, &data).await;
            let opened = decrypt_to_spool(&key, "p", &sealed[..], dir.path(), u64::MAX)
                .await
                .unwrap();
            assert_eq!(std::fs::read(opened.path()).unwrap(), data);
            assert_eq!(opened.plaintext_sha256, sha256(&data));
            assert_eq!(opened.plaintext_len as usize, len);
        }
    }

    #[tokio::test]
    async fn blocking_encryption_round_trips_and_hashes_match() {
        let dir = tempfile::tempdir().unwrap();
        let key = ContentKey::generate().unwrap();
        for len in [
            0usize,
            1,
            17,
            CHUNK_LEN - 1,
            CHUNK_LEN,
            CHUNK_LEN + 1,
            2 * CHUNK_LEN + 33,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 13 % 241) as u8).collect();
            let mut sealed = Vec::new();
            assert_eq!(encrypt_blocking(&key, &data[..], &mut sealed).unwrap(), len as u64);
            assert_eq!(sealed.len(), len + GCM_IV_LEN + GCM_TAG_LEN);
            let opened = decrypt_to_spool(&key, "p", &sealed[..], dir.path(), u64::MAX)
                .await
                .unwrap();
            assert_eq!(std::fs::read(opened.path()).unwrap(), data);
            assert_eq!(sha256_blocking(&data[..]).unwrap(), (sha256(&data), len as u64));
        }
    }

    #[tokio::test]
    async fn decryption_matches_one_shot_openssl() {
        // Independent of our streaming code: decrypt with openssl's one-shot AEAD API.
        let key = ContentKey::generate().unwrap();
        let data = vec![7u8; 100_000];
        let sealed = seal(&key, &data).await;
        let (iv, rest) = sealed.split_at(GCM_IV_LEN);
        let (ct, tag) = rest.split_at(rest.len() - GCM_TAG_LEN);
        let plain = openssl::symm::decrypt_aead(Cipher::aes_128_gcm(), key.as_bytes(), Some(iv), &[], ct, tag).unwrap();
        assert_eq!(plain, data);
    }

    #[tokio::test]
    async fn any_flipped_byte_fails_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let key = ContentKey::generate().unwrap();
        let sealed = seal(&key, &[42u8; 1000]).await;
        for position in [0, 5, GCM_IV_LEN, 500, sealed.len() - GCM_TAG_LEN, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[position] ^= 0x01;
            let err = decrypt_to_spool(&key, "p", &bad[..], dir.path(), u64::MAX)
                .await
                .unwrap_err();
            assert!(matches!(err, EncryptionError::TagMismatch { .. }), "{position}: {err}");
            assert!(spool_is_empty(dir.path()));
        }
    }

    #[tokio::test]
    async fn truncation_fails() {
        let dir = tempfile::tempdir().unwrap();
        let key = ContentKey::generate().unwrap();
        let sealed = seal(&key, &[1u8; 300]).await;
        for len in [0, 5, GCM_IV_LEN, GCM_IV_LEN + GCM_TAG_LEN - 1] {
            let err = decrypt_to_spool(&key, "p", &sealed[..len], dir.path(), u64::MAX)
                .await
                .unwrap_err();
            assert!(matches!(err, EncryptionError::Truncated { .. }), "{len}: {err}");
        }
        let err = decrypt_to_spool(&key, "p", &sealed[..sealed.len() - 1], dir.path(), u64::MAX)
            .await
            .unwrap_err();
        assert!(matches!(err, EncryptionError::TagMismatch { .. }));
        assert!(spool_is_empty(dir.path()));
    }

    #[tokio::test]
    async fn size_limit_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let key = ContentKey::generate().unwrap();
        let sealed = seal(&key, &[1u8; 1000]).await;
        let err = decrypt_to_spool(&key, "p", &sealed[..], dir.path(), 999)
            .await
            .unwrap_err();
        assert!(matches!(err, EncryptionError::AttachmentTooLarge { .. }));
        assert!(spool_is_empty(dir.path()));
        assert!(decrypt_to_spool(&key, "p", &sealed[..], dir.path(), 1000).await.is_ok());
    }

    #[test]
    fn in_memory_decryption_matches_streaming_and_checks_the_tag() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let key = ContentKey::generate().unwrap();
        for len in [0usize, 1, 16, 10 * 1024, CHUNK_LEN + 3] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
            let sealed = rt.block_on(seal(&key, &data));
            let (plain, sha) = decrypt_in_memory(&key, "p", &sealed, u64::MAX).unwrap();
            assert_eq!(plain, data);
            assert_eq!(sha, sha256(&data));
            let mut broken = sealed.clone();
            let last = broken.len() - 1;
            broken[last] ^= 1;
            assert!(matches!(
                decrypt_in_memory(&key, "p", &broken, u64::MAX),
                Err(EncryptionError::TagMismatch { .. })
            ));
            if len > 0 {
                let mut flipped = sealed.clone();
                flipped[GCM_IV_LEN] ^= 1;
                assert!(matches!(
                    decrypt_in_memory(&key, "p", &flipped, u64::MAX),
                    Err(EncryptionError::TagMismatch { .. })
                ));
                assert!(matches!(
                    decrypt_in_memory(&key, "p", &sealed, len as u64 - 1),
                    Err(EncryptionError::AttachmentTooLarge { .. })
                ));
            }
        }
        assert!(matches!(
            decrypt_in_memory(&key, "p", &[0u8; GCM_IV_LEN + GCM_TAG_LEN - 1], u64::MAX),
            Err(EncryptionError::Truncated { .. })
        ));
    }
}
