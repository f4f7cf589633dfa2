//! Typed algorithm identifiers with their XML Security URIs.
//!
//! Every algorithm a P-Mode can name is a variant here; the core never handles algorithm strings. Weak algorithms
//! that are still seen in the wild (SHA-1, AES-CBC, RSA-OAEP with MGF1-SHA1) are named too, so that validation and
//! the WS-Security policy can refuse them precisely instead of reporting "unknown".

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A name in a P-Mode (short name or URI) that is not a known algorithm of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}; expected one of: {expected}")]
pub struct UnknownAlgorithm {
    pub kind: &'static str,
    pub value: String,
    pub expected: String,
}

/// Whether an algorithm is acceptable for new traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strength {
    /// Acceptable.
    Strong,
    /// Broken or deprecated; named only so that it can be refused precisely. The text says why.
    Weak(&'static str),
}

macro_rules! algorithm_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident => ($short:literal, $uri:literal, $strength:expr) ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, strong and weak.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The short name used in P-Mode TOML files.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $short),+ }
            }

            /// The algorithm URI written in XML Signature / XML Encryption elements.
            pub fn uri(self) -> &'static str {
                match self { $($name::$variant => $uri),+ }
            }

            /// Whether the algorithm may be used.
            pub fn strength(self) -> Strength {
                match self { $($name::$variant => $strength),+ }
            }

            /// True for broken or deprecated algorithms that a policy must refuse.
            pub fn is_weak(self) -> bool {
                matches!(self.strength(), Strength::Weak(_))
            }

            /// Parses the algorithm URI as found in a message.
            pub fn from_uri(uri: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|a| a.uri() == uri)
            }

            /// Parses the short name as found in a P-Mode file.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|a| a.name() == name)
            }
        }

        impl FromStr for $name {
            type Err = UnknownAlgorithm;
            /// Accepts the short name or the URI.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_name(s).or_else(|| Self::from_uri(s)).ok_or_else(|| UnknownAlgorithm {
                    kind: $kind,
                    value: s.to_string(),
                    expected: Self::ALL.iter().map(|a| a.name()).collect::<Vec<_>>().join(", "),
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

const SHA1_BROKEN: Strength = Strength::Weak("SHA-1 is broken for signatures and digests");

algorithm_enum! {
    /// XML Signature `SignatureMethod` algorithms.
    SignatureAlgorithm, "signature algorithm" {
        /// RSASSA-PKCS1-v1_5 with SHA-256 (SDK, eDelivery AS4 1.x).
        RsaSha256 => ("rsa-sha256", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", Strength::Strong),
        /// Ed25519 (eDelivery AS4 2.0, RFC 9231).
        EddsaEd25519 => ("eddsa-ed25519", "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519", Strength::Strong),
        /// RSA with SHA-1: refused.
        RsaSha1 => ("rsa-sha1", "http://www.w3.org/2000/09/xmldsig#rsa-sha1", SHA1_BROKEN),
    }
}

algorithm_enum! {
    /// XML Signature `DigestMethod` (and OAEP digest) algorithms.
    DigestAlgorithm, "digest algorithm" {
        Sha256 => ("sha256", "http://www.w3.org/2001/04/xmlenc#sha256", Strength::Strong),
        /// SHA-1: refused.
        Sha1 => ("sha1", "http://www.w3.org/2000/09/xmldsig#sha1", SHA1_BROKEN),
    }
}

algorithm_enum! {
    /// Canonicalisation of `SignedInfo` and of XML references.
    CanonicalizationAlgorithm, "canonicalization algorithm" {
        /// Exclusive XML Canonicalization 1.0 without comments.
        ExcC14n => ("exc-c14n", "http://www.w3.org/2001/10/xml-exc-c14n#", Strength::Strong),
    }
}

algorithm_enum! {
    /// XML Encryption block ciphers for the SOAP body and attachments.
    DataEncryptionAlgorithm, "data encryption algorithm" {
        Aes128Gcm => ("aes128-gcm", "http://www.w3.org/2009/xmlenc11#aes128-gcm", Strength::Strong),
        /// AES-128 in CBC mode: refused (padding-oracle attacks on XML Encryption).
        Aes128Cbc => (
            "aes128-cbc",
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
            Strength::Weak("CBC mode is open to padding-oracle attacks on XML Encryption")
        ),
    }
}

algorithm_enum! {
    /// Key transport: the content-encryption key encrypted with the recipient's RSA key.
    KeyTransportAlgorithm, "key transport algorithm" {
        /// RSA-OAEP (XML Encryption 1.1) with an explicit mask generation function.
        RsaOaep => ("rsa-oaep", "http://www.w3.org/2009/xmlenc11#rsa-oaep", Strength::Strong),
        /// RSA-OAEP with MGF1-SHA1 fixed: refused.
        RsaOaepMgf1p => (
            "rsa-oaep-mgf1p",
            "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
            Strength::Weak("RSA-OAEP with MGF1-SHA1 is deprecated; use rsa-oaep with mgf1-sha256")
        ),
    }
}

algorithm_enum! {
    /// Mask generation function of RSA-OAEP.
    MaskGenerationFunction, "mask generation function" {
        Mgf1Sha256 => ("mgf1-sha256", "http://www.w3.org/2009/xmlenc11#mgf1sha256", Strength::Strong),
    }
}

algorithm_enum! {
    /// Key agreement: an ephemeral-static Diffie-Hellman yielding a key-encryption key (eDelivery AS4 2.0).
    KeyAgreementAlgorithm, "key agreement algorithm" {
        X25519 => ("x25519", "http://www.w3.org/2021/04/xmldsig-more#x25519", Strength::Strong),
    }
}

algorithm_enum! {
    /// Key derivation applied to the agreed secret.
    KeyDerivationFunction, "key derivation function" {
        Hkdf => ("hkdf", "http://www.w3.org/2021/04/xmldsig-more#hkdf", Strength::Strong),
    }
}

algorithm_enum! {
    /// Pseudo-random function of HKDF.
    PseudoRandomFunction, "pseudo-random function" {
        HmacSha256 => ("hmac-sha256", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256", Strength::Strong),
    }
}

algorithm_enum! {
    /// Key wrap of the content-encryption key under the derived key-encryption key.
    KeyWrapAlgorithm, "key wrap algorithm" {
        KwAes128 => ("kw-aes128", "http://www.w3.org/2001/04/xmlenc#kw-aes128", Strength::Strong),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_uris_round_trip_and_are_distinct() {
        fn check<T: Copy + Eq + std::fmt::Debug + FromStr>(
            all: &[T],
            name: fn(T) -> &'static str,
            uri: fn(T) -> &'static str,
        ) where
            <T as FromStr>::Err: std::fmt::Debug,
        {
            for &a in all {
                assert_eq!(name(a).parse::<T>().unwrap(), a);
                assert_eq!(uri(a).parse::<T>().unwrap(), a);
            }
            let mut uris: Vec<_> = all.iter().map(|a| uri(*a)).collect();
            uris.sort();
            uris.dedup();
            assert_eq!(uris.len(), all.len());
        }
        check(
            SignatureAlgorithm::ALL,
            SignatureAlgorithm::name,
            SignatureAlgorithm::uri,
        );
        check(DigestAlgorithm::ALL, DigestAlgorithm::name, DigestAlgorithm::uri);
        check(
            DataEncryptionAlgorithm::ALL,
            DataEncryptionAlgorithm::name,
            DataEncryptionAlgorithm::uri,
        );
        check(
            KeyTransportAlgorithm::ALL,
            KeyTransportAlgorithm::name,
            KeyTransportAlgorithm::uri,
        );
        check(
            KeyAgreementAlgorithm::ALL,
            KeyAgreementAlgorithm::name,
            KeyAgreementAlgorithm::uri,
        );
        check(KeyWrapAlgorithm::ALL, KeyWrapAlgorithm::name, KeyWrapAlgorithm::uri);
    }

    #[test]
    fn weak_algorithms_are_marked_weak() {
        assert!(SignatureAlgorithm::RsaSha1.is_weak());
        assert!(DigestAlgorithm::Sha1.is_weak());
        assert!(DataEncryptionAlgorithm::Aes128Cbc.is_weak());
        assert!(KeyTransportAlgorithm::RsaOaepMgf1p.is_weak());
        assert!(!SignatureAlgorithm::RsaSha256.is_weak());
        assert!(!SignatureAlgorithm::EddsaEd25519.is_weak());
        assert!(!DataEncryptionAlgorithm::Aes128Gcm.is_weak());
    }

    #[test]
    fn unknown_names_are_typed_errors() {
        let err = "rsa-md5".parse::<SignatureAlgorithm>().unwrap_err();
        assert_eq!(err.kind, "signature algorithm");
        assert!(err.to_string().contains("rsa-sha256"));
    }
}
