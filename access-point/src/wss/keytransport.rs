//! The per-message content key and the two ways it reaches the receiver.
//!
//! * eDelivery AS4 1.15 / SDK: RSA-OAEP (XML Encryption 1.1 §5.5.2, `xenc11#rsa-oaep`) with MGF1-SHA256 and SHA-256
//!   as the OAEP digest, empty OAEP label, for the receiver's RSA public key.
//! * eDelivery AS4 2.0 §3.2.6.2.3: X25519 key agreement (RFC 9231, RFC 7748) between a fresh ephemeral key and the
//!   receiver's X25519 key; the shared secret is the HKDF (RFC 5869, PRF HMAC-SHA256) input keying material; the
//!   derived 16-byte key-encryption key wraps the content key with AES key wrap (RFC 3394, `xmlenc#kw-aes128`).
//!   The HKDF salt is 32 fresh random bytes per message (RFC 5869 §3.1 recommends a HashLen random salt) and is
//!   carried in the message with the info string (RFC 9231 `dsig-more:HKDFParams`), so the receiver takes both
//!   from the message; the info string is the sender's P-Mode setting.

use crate::wss::algorithms::AES128_KEY_LEN;
use crate::wss::error::EncryptionError;
use openssl::derive::Deriver;
use openssl::md::Md;
use openssl::pkey::{Id, PKey, PKeyRef, Private, Public};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;

/// Smallest RSA modulus a content key is encrypted for (bits); smaller receiver keys are refused.
pub const MIN_RSA_BITS: u32 = 2048;
/// Length of the random HKDF salt generated per message (bytes).
pub const HKDF_SALT_LEN: usize = 32;
/// Length of an AES-128 key wrapped with RFC 3394 (key + 8-byte integrity block).
pub const WRAPPED_AES128_LEN: usize = AES128_KEY_LEN + 8;
/// Longest salt or info accepted from a received message (bytes), so an attacker cannot make us hash megabytes.
pub const MAX_HKDF_PARAMETER_LEN: usize = 1024;

/// A fresh AES-128 content-encryption key. Cleared from memory when dropped; never printed.
pub struct ContentKey([u8; AES128_KEY_LEN]);

impl ContentKey {
    /// A new random key from OpenSSL's CSPRNG.
    pub fn generate() -> Result<Self, EncryptionError> {
        let mut key = [0u8; AES128_KEY_LEN];
        openssl::rand::rand_bytes(&mut key)?;
        Ok(ContentKey(key))
    }

    /// A key from its bytes (as unwrapped from a message).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncryptionError> {
        let key: [u8; AES128_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| EncryptionError::KeyUnwrapFailed("content key has the wrong length"))?;
        Ok(ContentKey(key))
    }

    pub fn as_bytes(&self) -> &[u8; AES128_KEY_LEN] {
        &self.0
    }
}

impl Drop for ContentKey {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // Volatile so the clearing is not optimised away as a dead store.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

impl std::fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContentKey(..)")
    }
}

/// Encrypts `key` for `recipient` with RSA-OAEP, MGF1-SHA256, OAEP digest SHA-256, empty label.
pub fn rsa_oaep_encrypt(key: &ContentKey, recipient: &PKeyRef<Public>) -> Result<Vec<u8>, EncryptionError> {
    let rsa = recipient
        .rsa()
        .map_err(|_| EncryptionError::UnsuitableRecipient("RSA-OAEP (not an RSA key)".into()))?;
    if rsa.size() * 8 < MIN_RSA_BITS {
        return Err(EncryptionError::UnsuitableRecipient(format!(
            "RSA-OAEP (key shorter than {MIN_RSA_BITS} bits)"
        )));
    }
    let mut ctx = PkeyCtx::new(recipient)?;
    ctx.encrypt_init()?;
    set_oaep_sha256(&mut ctx)?;
    let mut out = Vec::new();
    ctx.encrypt_to_vec(key.as_bytes(), &mut out)?;
    Ok(out)
}

/// Recovers a content key encrypted with [`rsa_oaep_encrypt`]. Every failure is the same opaque error, so the
/// answer tells an attacker nothing about the padding (no OAEP oracle).
pub fn rsa_oaep_decrypt(wrapped: &[u8], private_key: &PKeyRef<Private>) -> Result<ContentKey, EncryptionError> {
    const FAILED: EncryptionError = EncryptionError::KeyUnwrapFailed("RSA-OAEP decryption failed");
    let unwrap = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let mut ctx = PkeyCtx::new(private_key)?;
        ctx.decrypt_init()?;
        set_oaep_sha256(&mut ctx)?;
        let mut out = Vec::new();
        ctx.decrypt_to_vec(wrapped, &mut out)?;
        Ok(out)
    };
    let mut plain = unwrap().map_err(|_| FAILED)?;
    let key = ContentKey::from_bytes(&plain);
    plain.iter_mut().for_each(|b| *b = 0);
    key.map_err(|_| FAILED)
}

fn set_oaep_sha256<T>(ctx: &mut PkeyCtx<T>) -> Result<(), openssl::error::ErrorStack> {
    ctx.set_rsa_padding(Padding::PKCS1_OAEP)?;
    ctx.set_rsa_oaep_md(Md::sha256())?;
    ctx.set_rsa_mgf1_md(Md::sha256())
}

/// DER SubjectPublicKeyInfo of an X25519 key up to the key (RFC 8410 §4: SEQUENCE { SEQUENCE { OID 1.3.101.110 },
/// BIT STRING }); the 32 key bytes follow. DER is canonical, so every X25519 key is encoded exactly so. Writing and
/// reading it directly saves OpenSSL 3's encoder/decoder lookup, which costs more than the X25519 agreement itself.
const X25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00];
const X25519_KEY_LEN: usize = 32;

/// The DER SubjectPublicKeyInfo of an X25519 public key.
fn x25519_spki_der<T: openssl::pkey::HasPublic>(key: &PKeyRef<T>) -> Result<Vec<u8>, EncryptionError> {
    let raw = key.raw_public_key()?;
    if raw.len() != X25519_KEY_LEN {
        return Err(EncryptionError::UnsuitableRecipient(
            "X25519 public key of the wrong length".into(),
        ));
    }
    Ok([&X25519_SPKI_PREFIX[..], &raw].concat())
}

/// Parses a DER SubjectPublicKeyInfo: the canonical X25519 form directly, anything else through OpenSSL's decoder
/// (which then decides, as before).
fn public_key_from_spki(der: &[u8]) -> Result<PKey<Public>, openssl::error::ErrorStack> {
    match der.strip_prefix(&X25519_SPKI_PREFIX[..]) {
        Some(raw) if raw.len() == X25519_KEY_LEN => PKey::public_key_from_raw_bytes(raw, Id::X25519),
        _ => PKey::public_key_from_der(der),
    }
}

/// What an X25519 + HKDF + key wrap sender puts into the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreedKeyWrap {
    /// The ephemeral (originator) public key as DER SubjectPublicKeyInfo (RFC 8410, OID 1.3.101.110).
    pub ephemeral_public_key_der: Vec<u8>,
    pub hkdf_salt: Vec<u8>,
    pub hkdf_info: Vec<u8>,
    /// The content key wrapped with RFC 3394 under the derived key-encryption key (24 bytes).
    pub wrapped_key: Vec<u8>,
}

/// Wraps `key` for the receiver's X25519 public key: fresh ephemeral key, X25519, HKDF-SHA256 (random salt,
/// `hkdf_info`), AES-128 key wrap.
pub fn x25519_wrap(
    key: &ContentKey,
    recipient: &PKeyRef<Public>,
    hkdf_info: &[u8],
) -> Result<AgreedKeyWrap, EncryptionError> {
    if recipient.id() != Id::X25519 {
        return Err(EncryptionError::UnsuitableRecipient(
            "X25519 key agreement (not an X25519 key)".into(),
        ));
    }
    let ephemeral = PKey::generate_x25519()?;
    let shared = x25519_shared_secret(&ephemeral, recipient)?;
    let mut salt = vec![0u8; HKDF_SALT_LEN];
    openssl::rand::rand_bytes(&mut salt)?;
    let kek = hkdf_sha256_aes128(&shared, &salt, hkdf_info)?;
    let wrapped_key = aes128_key_wrap(&kek, key.as_bytes())?;
    Ok(AgreedKeyWrap {
        ephemeral_public_key_der: x25519_spki_der(&ephemeral)?,
        hkdf_salt: salt,
        hkdf_info: hkdf_info.to_vec(),
        wrapped_key,
    })
}

/// Recovers the content key from an [`AgreedKeyWrap`] with the receiver's X25519 private key. A tampered
/// ephemeral key, salt, info or wrapped key all end in the RFC 3394 integrity check failing.
pub fn x25519_unwrap(wrap: &AgreedKeyWrap, private_key: &PKeyRef<Private>) -> Result<ContentKey, EncryptionError> {
    if private_key.id() != Id::X25519 {
        return Err(EncryptionError::UnsuitableRecipient(
            "X25519 key agreement (our key is not X25519)".into(),
        ));
    }
    if wrap.hkdf_salt.len() > MAX_HKDF_PARAMETER_LEN || wrap.hkdf_info.len() > MAX_HKDF_PARAMETER_LEN {
        return Err(EncryptionError::Malformed("HKDF salt or info too long".into()));
    }
    let ephemeral = public_key_from_spki(&wrap.ephemeral_public_key_der)
        .map_err(|_| EncryptionError::KeyUnwrapFailed("originator key is not a valid public key"))?;
    if ephemeral.id() != Id::X25519 {
        return Err(EncryptionError::KeyUnwrapFailed("originator key is not an X25519 key"));
    }
    let shared = x25519_shared_secret(private_key, &ephemeral)
        .map_err(|_| EncryptionError::KeyUnwrapFailed("X25519 key agreement failed"))?;
    let kek = hkdf_sha256_aes128(&shared, &wrap.hkdf_salt, &wrap.hkdf_info)?;
    let mut plain = aes128_key_unwrap(&kek, &wrap.wrapped_key)?;
    let key = ContentKey::from_bytes(&plain);
    plain.iter_mut().for_each(|b| *b = 0);
    key
}

fn x25519_shared_secret<T, U>(own: &PKeyRef<T>, peer: &PKeyRef<U>) -> Result<Zeroizing, EncryptionError>
where
    T: openssl::pkey::HasPrivate,
    U: openssl::pkey::HasPublic,
{
    let mut deriver = Deriver::new(own)?;
    deriver.set_peer(peer)?;
    let secret = Zeroizing(deriver.derive_to_vec()?);
    // RFC 7748 §6.1: an all-zero output means the peer sent a low-order point; abort.
    if secret.0.iter().all(|b| *b == 0) {
        return Err(EncryptionError::KeyUnwrapFailed("X25519 produced the all-zero secret"));
    }
    Ok(secret)
}

/// HKDF (RFC 5869) extract-and-expand with HMAC-SHA256 to a 16-byte AES-128 key-encryption key.
pub fn hkdf_sha256_aes128(ikm: &[u8], salt: &[u8], info: &[u8]) -> Result<[u8; AES128_KEY_LEN], EncryptionError> {
    let mut ctx = PkeyCtx::new_id(Id::HKDF)?;
    ctx.derive_init()?;
    ctx.set_hkdf_md(Md::sha256())?;
    ctx.set_hkdf_key(ikm)?;
    ctx.set_hkdf_salt(salt)?;
    ctx.add_hkdf_info(info)?;
    let mut out = [0u8; AES128_KEY_LEN];
    ctx.derive(Some(&mut out))?;
    Ok(out)
}

fn aes128_key_wrap(kek: &[u8; AES128_KEY_LEN], key: &[u8; AES128_KEY_LEN]) -> Result<Vec<u8>, EncryptionError> {
    let aes = openssl::aes::AesKey::new_encrypt(kek).map_err(|_| EncryptionError::KeyUnwrapFailed("bad KEK"))?;
    let mut out = vec![0u8; WRAPPED_AES128_LEN];
    openssl::aes::wrap_key(&aes, None, &mut out, key)
        .map_err(|_| EncryptionError::KeyUnwrapFailed("AES key wrap failed"))?;
    Ok(out)
}

fn aes128_key_unwrap(kek: &[u8; AES128_KEY_LEN], wrapped: &[u8]) -> Result<Vec<u8>, EncryptionError> {
    const FAILED: EncryptionError = EncryptionError::KeyUnwrapFailed("AES key unwrap integrity check failed");
    if wrapped.len() != WRAPPED_AES128_LEN {
        return Err(EncryptionError::KeyUnwrapFailed(
            "wrapped key is not 24 bytes (kw-aes128 of an AES-128 key)",
        ));
    }
    let aes = openssl::aes::AesKey::new_decrypt(kek).map_err(|_| FAILED)?;
    let mut out = vec![0u8; AES128_KEY_LEN];
    openssl::aes::unwrap_key(&aes, None, &mut out, wrapped).map_err(|_| FAILED)?;
    Ok(out)
}

/// A byte buffer cleared on drop (shared secrets).
struct Zeroizing(Vec<u8>);

impl std::ops::Deref for Zeroizing {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Zeroizing {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::rsa::Rsa;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn hkdf_matches_rfc5869_test_case_1_prefix() {
        // RFC 5869 A.1: OKM starts 3cb25f25faacd57a90434f64d0362f2a (first 16 of 42 bytes).
        let okm = hkdf_sha256_aes128(
            &[0x0b; 22],
            &hex("000102030405060708090a0b0c"),
            &hex("f0f1f2f3f4f5f6f7f8f9"),
        )
        .unwrap();
        assert_eq!(okm.to_vec(), hex("3cb25f25faacd57a90434f64d0362f2a"));
    }

    #[test]
    fn key_wrap_matches_rfc3394_4_1() {
        let kek: [u8; 16] = hex("000102030405060708090A0B0C0D0E0F").try_into().unwrap();
        let key: [u8; 16] = hex("00112233445566778899AABBCCDDEEFF").try_into().unwrap();
        let wrapped = aes128_key_wrap(&kek, &key).unwrap();
        assert_eq!(wrapped, hex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"));
        assert_eq!(aes128_key_unwrap(&kek, &wrapped).unwrap(), key.to_vec());
    }

    #[test]
    fn rsa_oaep_round_trip_and_wrong_key() {
        let rsa = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let public = PKey::public_key_from_der(&rsa.public_key_to_der().unwrap()).unwrap();
        let key = ContentKey::generate().unwrap();
        let wrapped = rsa_oaep_encrypt(&key, &public).unwrap();
        assert_eq!(rsa_oaep_decrypt(&wrapped, &rsa).unwrap().as_bytes(), key.as_bytes());
        let other = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        assert!(matches!(
            rsa_oaep_decrypt(&wrapped, &other),
            Err(EncryptionError::KeyUnwrapFailed(_))
        ));
    }

    #[test]
    fn small_rsa_recipient_refused() {
        let rsa = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        let public = PKey::public_key_from_der(&rsa.public_key_to_der().unwrap()).unwrap();
        let key = ContentKey::generate().unwrap();
        assert!(matches!(
            rsa_oaep_encrypt(&key, &public),
            Err(EncryptionError::UnsuitableRecipient(_))
        ));
    }

    #[test]
    fn x25519_spki_matches_openssl_encoding() {
        for _ in 0..4 {
            let key = PKey::generate_x25519().unwrap();
            let der = key.public_key_to_der().unwrap();
            assert_eq!(x25519_spki_der(&key).unwrap(), der);
            let parsed = public_key_from_spki(&der).unwrap();
            assert_eq!(parsed.id(), Id::X25519);
            assert_eq!(parsed.raw_public_key().unwrap(), key.raw_public_key().unwrap());
        }
        // Not the canonical form (a truncated key): left to OpenSSL's decoder, which refuses it.
        let mut short = x25519_spki_der(&PKey::generate_x25519().unwrap()).unwrap();
        short.pop();
        assert!(public_key_from_spki(&short).is_err());
        // An Ed25519 key parses as what it is (the caller then refuses a non-X25519 originator key).
        let ed = PKey::generate_ed25519().unwrap().public_key_to_der().unwrap();
        assert_eq!(public_key_from_spki(&ed).unwrap().id(), Id::ED25519);
    }

    #[test]
    fn x25519_round_trip_and_tamper() {
        let receiver = PKey::generate_x25519().unwrap();
        let public = PKey::public_key_from_der(&receiver.public_key_to_der().unwrap()).unwrap();
        let key = ContentKey::generate().unwrap();
        let wrap = x25519_wrap(&key, &public, b"info").unwrap();
        assert_eq!(x25519_unwrap(&wrap, &receiver).unwrap().as_bytes(), key.as_bytes());

        let mut salt_changed = wrap.clone();
        salt_changed.hkdf_salt[0] ^= 1;
        assert!(matches!(
            x25519_unwrap(&salt_changed, &receiver),
            Err(EncryptionError::KeyUnwrapFailed(_))
        ));
        let mut info_changed = wrap.clone();
        info_changed.hkdf_info = b"other".to_vec();
        assert!(matches!(
            x25519_unwrap(&info_changed, &receiver),
            Err(EncryptionError::KeyUnwrapFailed(_))
        ));
    }

    #[test]
    fn x25519_all_zero_secret_refused() {
        // The identity point (u = 0) is of low order: X25519 with it is all zero.
        let receiver = PKey::generate_x25519().unwrap();
        let zero_point = PKey::public_key_from_raw_bytes(&[0u8; 32], Id::X25519).unwrap();
        let wrap = AgreedKeyWrap {
            ephemeral_public_key_der: zero_point.public_key_to_der().unwrap(),
            hkdf_salt: vec![1; 32],
            hkdf_info: vec![],
            wrapped_key: vec![0; 24],
        };
        assert!(matches!(
            x25519_unwrap(&wrap, &receiver),
            Err(EncryptionError::KeyUnwrapFailed(_))
        ));
    }
}
