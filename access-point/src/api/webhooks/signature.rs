//! Webhook signatures in the Standard Webhooks style: HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`,
//! sent as `webhook-signature: v1,<base64>`. Receivers verify with the same secret ([`WebhookSecret::verify`]).

use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

/// The shortest secret accepted, in bytes (shorter HMAC keys are guessable).
pub const MIN_SECRET_BYTES: usize = 16;
/// The prefix of a Standard Webhooks secret (`whsec_` + base64 of the key bytes).
pub const SECRET_PREFIX: &str = "whsec_";

/// Why a secret is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the `whsec_` secret is not valid base64")]
    Base64,
    #[error("the secret has {0} bytes; at least {MIN_SECRET_BYTES} are needed")]
    TooShort(usize),
}

/// An HMAC key.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// The contents of a secret file: `whsec_<base64>` (the key is the decoded bytes), or any other text (the key is
    /// its bytes). Surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<WebhookSecret, SecretError> {
        let text = text.trim();
        let key = match text.strip_prefix(SECRET_PREFIX) {
            Some(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| SecretError::Base64)?,
            None => text.as_bytes().to_vec(),
        };
        if key.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort(key.len()));
        }
        Ok(WebhookSecret(key))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        // HMAC with a non-empty key and SHA-256 does not fail; an empty result never verifies.
        let run = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
            let key = PKey::hmac(&self.0)?;
            let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
            signer.update(id.as_bytes())?;
            signer.update(b".")?;
            signer.update(timestamp.to_string().as_bytes())?;
            signer.update(b".")?;
            signer.update(body)?;
            signer.sign_to_vec()
        };
        run().unwrap_or_default()
    }

    /// The `webhook-signature` header value: `v1,<base64 of the HMAC>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(self.mac(id, timestamp, body))
        )
    }

    /// Whether any `v1,` signature of a (space-separated) `webhook-signature` header matches, compared in constant
    /// time.
    pub fn verify(&self, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        let expected = self.mac(id, timestamp, body);
        if expected.is_empty() {
            return false;
        }
        header.split_whitespace().any(|candidate| {
            let Some(encoded) = candidate.strip_prefix("v1,") else {
                return false;
            };
            match base64::engine::general_purpose::STANDARD.decode(encoded) {
                Ok(given) => given.len() == expected.len() && openssl::memcmp::eq(&given, &expected),
                Err(_) => false,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_reference_vector() {
        // The example of the Standard Webhooks specification (whsec_ secret, msg id, timestamp, body).
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_changed_body_id_or_timestamp_does_not_verify() {
        let secret = WebhookSecret::parse("a plain secret of enough bytes").unwrap();
        let header = secret.sign("id1", 1000, b"{}");
        assert!(secret.verify("id1", 1000, b"{}", &header));
        assert!(secret.verify("id1", 1000, b"{}", &format!("v1,AAAA {header}")));
        assert!(!secret.verify("id1", 1000, b"{ }", &header));
        assert!(!secret.verify("id2", 1000, b"{}", &header));
        assert!(!secret.verify("id1", 1001, b"{}", &header));
        let other = WebhookSecret::parse("another secret of enough bytes").unwrap();
        assert!(!other.verify("id1", 1000, b"{}", &header));
        assert!(!secret.verify("id1", 1000, b"{}", header.trim_start_matches("v1,")));
    }

    #[test]
    fn short_or_malformed_secrets_are_refused() {
        assert_eq!(WebhookSecret::parse("short"), Err(SecretError::TooShort(5)));
        assert_eq!(WebhookSecret::parse("whsec_!!!"), Err(SecretError::Base64));
        assert_eq!(WebhookSecret::parse("whsec_AAAA"), Err(SecretError::TooShort(3)));
    }
}
