//! Namespaces, algorithm identifiers and their typed forms for attachment encryption.
//!
//! These are the wire-level enums: they also name what a peer may send and we refuse (rsa-1_5, MGF1-SHA1, AES-CBC,
//! ECDH-ES, ConcatKDF), which the configuration enums of `pmode::algorithms` do not model. The P-Mode's settings
//! are converted into this module's policy by [`crate::wss::pmode_policy`].
//!
//! Sources: XML Encryption 1.1 (W3C REC 2013-04-11) §5 (algorithms), RFC 9231 §2.6 / §2.8 (x25519, hkdf),
//! WS-Security SwA Profile 1.1 §5.5 (attachment encryption), eDelivery AS4 1.15 §3.2.6 and 2.0 §3.2.6.2.

/// XML namespaces used by the encryption elements.
pub mod ns {
    pub const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
    pub const XENC11: &str = "http://www.w3.org/2009/xmlenc11#";
    pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
    pub const DSIG11: &str = "http://www.w3.org/2009/xmldsig11#";
    /// RFC 9231 namespace for the 2021 identifiers (x25519, hkdf) and the `HKDFParams` element.
    pub const DSIG_MORE: &str = "http://www.w3.org/2021/04/xmldsig-more#";
    pub const WSSE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    pub const WSSE11: &str = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd";
    pub const WSU: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
}

/// Identifiers that are not algorithms: types, transforms, token types.
pub mod uri {
    /// SwA Profile 1.1 §5.5.2: only the attachment content (not its MIME headers) is encrypted.
    pub const ATTACHMENT_CONTENT_ONLY: &str =
        "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Only";
    /// SwA Profile 1.1 §5.5.2: content and MIME headers encrypted; refused (AS4 encrypts content only).
    pub const ATTACHMENT_COMPLETE: &str = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Complete";
    /// SwA Profile 1.1 §5.3.2: the signature transform over an attachment's content (not its MIME headers).
    pub const ATTACHMENT_CONTENT_SIGNATURE_TRANSFORM: &str =
        "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform";
    /// SwA Profile 1.1 §5.5.3: the CipherReference transform that yields the part's octets.
    pub const ATTACHMENT_CIPHERTEXT_TRANSFORM: &str =
        "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Ciphertext-Transform";
    /// WSS 1.1 §7.3: token type of an STR that points at an `xenc:EncryptedKey`.
    pub const ENCRYPTED_KEY_TOKEN_TYPE: &str =
        "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#EncryptedKey";
    /// X.509 Token Profile 1.1 §3.1: value type of an X.509 v3 BinarySecurityToken.
    pub const X509_V3: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";
    /// X.509 Token Profile 1.1 §3.2.1: key identifier by subject key identifier.
    pub const X509_SKI: &str =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509SubjectKeyIdentifier";
    pub const BASE64_BINARY: &str =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";
}

macro_rules! uri_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $uri:expr),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The algorithm identifier URI.
            pub fn uri(self) -> &'static str {
                match self {
                    $($name::$variant => $uri),+
                }
            }

            /// The variant named by `uri`, or `None` for an identifier this module does not know.
            pub fn from_uri(uri: &str) -> Option<Self> {
                match uri {
                    $($uri => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.uri())
            }
        }
    };
}

uri_enum! {
    /// Block encryption of attachment content (XML Encryption 1.1 §5.2). Only AES-128-GCM is ever produced; the
    /// others are recognised so that a policy can name what it refuses.
    ContentEncryptionAlgorithm {
        /// §5.2.4, the algorithm of both eDelivery AS4 1.15 and 2.0.
        Aes128Gcm => "http://www.w3.org/2009/xmlenc11#aes128-gcm",
        Aes256Gcm => "http://www.w3.org/2009/xmlenc11#aes256-gcm",
        /// §5.2.2; CBC without integrity is refused by both profiles.
        Aes128Cbc => "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
        Aes256Cbc => "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    }
}

uri_enum! {
    /// The `xenc:EncryptionMethod` of an `xenc:EncryptedKey`: key transport (§5.5) or key wrap (§5.7).
    KeyEncryptionAlgorithm {
        /// XML Encryption 1.1 §5.5.2, with explicit `xenc11:MGF` and `ds:DigestMethod` (AS4 1.15).
        RsaOaep => "http://www.w3.org/2009/xmlenc11#rsa-oaep",
        /// XML Encryption 1.0 identifier whose MGF is fixed to MGF1-SHA1.
        RsaOaepMgf1p => "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
        Rsa15 => "http://www.w3.org/2001/04/xmlenc#rsa-1_5",
        /// §5.7.2 AES-128 key wrap (RFC 3394), used after key agreement (AS4 2.0).
        KwAes128 => "http://www.w3.org/2001/04/xmlenc#kw-aes128",
        KwAes256 => "http://www.w3.org/2001/04/xmlenc#kw-aes256",
    }
}

uri_enum! {
    /// The OAEP digest (`ds:DigestMethod` inside the EncryptionMethod; §5.5.2 defaults it to SHA-1 when absent).
    OaepDigestAlgorithm {
        Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
        Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
    }
}

uri_enum! {
    /// The OAEP mask generation function (`xenc11:MGF`; §5.5.2 defaults it to MGF1 with SHA-1 when absent).
    MaskGenerationFunction {
        Mgf1Sha1 => "http://www.w3.org/2009/xmlenc11#mgf1sha1",
        Mgf1Sha256 => "http://www.w3.org/2009/xmlenc11#mgf1sha256",
    }
}

uri_enum! {
    /// `xenc:AgreementMethod` algorithms (XML Encryption 1.1 §5.6, RFC 9231 §2.6.x).
    KeyAgreementAlgorithm {
        /// RFC 9231: X25519 (RFC 7748) key agreement; AS4 2.0 common usage profile.
        X25519 => "http://www.w3.org/2021/04/xmldsig-more#x25519",
        /// XML Encryption 1.1 §5.6.2; AS4 2.0 alternative EC profile, not implemented here.
        EcdhEs => "http://www.w3.org/2009/xmlenc11#ECDH-ES",
    }
}

uri_enum! {
    /// `xenc11:KeyDerivationMethod` algorithms (XML Encryption 1.1 §5.4, RFC 9231).
    KeyDerivationAlgorithm {
        /// RFC 9231 HKDF (RFC 5869); AS4 2.0.
        Hkdf => "http://www.w3.org/2021/04/xmldsig-more#hkdf",
        ConcatKdf => "http://www.w3.org/2009/xmlenc11#ConcatKDF",
    }
}

uri_enum! {
    /// The HKDF pseudo-random function (`dsig-more:PRF`).
    HkdfPrf {
        HmacSha256 => "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
        HmacSha1 => "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
    }
}

/// How the content key reaches the receiver: the P-Mode's choice between the two eDelivery profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyTransportMethod {
    /// eDelivery AS4 1.15 §3.2.6.2 and the SDK transport profile: RSA-OAEP (xmlenc11) with MGF1-SHA256 and
    /// SHA-256 as OAEP digest, for the receiver's RSA certificate.
    RsaOaepSha256,
    /// eDelivery AS4 2.0 §3.2.6.2.3: X25519 key agreement with an ephemeral originator key, HKDF with
    /// HMAC-SHA256 deriving a key-encryption key, AES-128 key wrap of the content key.
    X25519HkdfKwAes128,
}

/// Length of the AES-128 content-encryption and key-encryption keys, in bytes.
pub const AES128_KEY_LEN: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip() {
        for a in [
            ContentEncryptionAlgorithm::Aes128Gcm,
            ContentEncryptionAlgorithm::Aes128Cbc,
        ] {
            assert_eq!(ContentEncryptionAlgorithm::from_uri(a.uri()), Some(a));
        }
        assert_eq!(
            KeyEncryptionAlgorithm::from_uri("http://www.w3.org/2009/xmlenc11#rsa-oaep"),
            Some(KeyEncryptionAlgorithm::RsaOaep)
        );
        assert_eq!(KeyEncryptionAlgorithm::from_uri("urn:unknown"), None);
        assert_eq!(
            MaskGenerationFunction::Mgf1Sha256.to_string(),
            "http://www.w3.org/2009/xmlenc11#mgf1sha256"
        );
    }
}
