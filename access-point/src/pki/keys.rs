//! Loading certificates, private keys and CRLs (PEM or DER), and the key pairs an access point holds.

use std::fmt;
use std::path::{Path, PathBuf};

use openssl::error::ErrorStack;
use openssl::pkey::{Id, PKey, Private};
use openssl::x509::{X509Crl, X509};

use super::certinfo::CertificateInfo;

/// Anything that can go wrong while reading or matching keys and certificates. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no certificate found (expected PEM `BEGIN CERTIFICATE` blocks or one DER certificate)")]
    NoCertificate { path: PathBuf },
    #[error("{path}: not a valid {what}: {source}")]
    Parse {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: ErrorStack,
    },
    #[error("{key}: private key does not match the certificate {cert}")]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("{path}: expected a {expected} key, found {found}")]
    WrongAlgorithm {
        path: PathBuf,
        expected: KeyAlgorithm,
        found: KeyAlgorithm,
    },
    #[error("{path}: RSA key of {bits} bits is too small (at least {min} required)")]
    KeyTooSmall { path: PathBuf, bits: u32, min: u32 },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("OpenSSL: {0}")]
    OpenSsl(#[from] ErrorStack),
}

/// The public-key algorithm of a key or certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    Rsa,
    Ed25519,
    X25519,
    Ec,
    Other,
}

impl KeyAlgorithm {
    pub fn of<T>(key: &openssl::pkey::PKeyRef<T>) -> KeyAlgorithm {
        match key.id() {
            Id::RSA | Id::RSA_PSS => KeyAlgorithm::Rsa,
            Id::ED25519 => KeyAlgorithm::Ed25519,
            Id::X25519 => KeyAlgorithm::X25519,
            Id::EC => KeyAlgorithm::Ec,
            _ => KeyAlgorithm::Other,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyAlgorithm::Rsa => "RSA",
            KeyAlgorithm::Ed25519 => "Ed25519",
            KeyAlgorithm::X25519 => "X25519",
            KeyAlgorithm::Ec => "EC",
            KeyAlgorithm::Other => "other",
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, PkiError> {
    std::fs::read(path).map_err(|source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, b"-----BEGIN ").is_some()
}

/// Reads every certificate in a file: one or more PEM blocks, or a single DER certificate (`.cer` files as DIGG
/// publishes them come in both forms).
pub fn load_certificates(path: &Path) -> Result<Vec<X509>, PkiError> {
    let bytes = read(path)?;
    parse_certificates(&bytes).map_err(|e| match e {
        ParseFailure::Empty => PkiError::NoCertificate {
            path: path.to_path_buf(),
        },
        ParseFailure::OpenSsl(source) => PkiError::Parse {
            path: path.to_path_buf(),
            what: "certificate",
            source,
        },
    })
}

/// Reads the first certificate of a file (the leaf, by PEM convention).
pub fn load_certificate(path: &Path) -> Result<X509, PkiError> {
    let mut certs = load_certificates(path)?;
    Ok(certs.remove(0))
}

enum ParseFailure {
    Empty,
    OpenSsl(ErrorStack),
}

/// Parses PEM (one or more certificates) or DER (one certificate) from bytes.
fn parse_certificates(bytes: &[u8]) -> Result<Vec<X509>, ParseFailure> {
    let certs = if looks_like_pem(bytes) {
        X509::stack_from_pem(bytes).map_err(ParseFailure::OpenSsl)?
    } else {
        vec![X509::from_der(bytes).map_err(ParseFailure::OpenSsl)?]
    };
    if certs.is_empty() {
        return Err(ParseFailure::Empty);
    }
    Ok(certs)
}

/// Parses certificates from memory (PEM or DER), for callers that receive them from the network (SMP, TLS, BST).
pub fn certificates_from_bytes(bytes: &[u8]) -> Result<Vec<X509>, ErrorStack> {
    match parse_certificates(bytes) {
        Ok(certs) => Ok(certs),
        Err(ParseFailure::OpenSsl(e)) => Err(e),
        Err(ParseFailure::Empty) => Err(ErrorStack::get()),
    }
}

/// Reads an unencrypted private key: PEM (PKCS#8 or traditional RSA) or DER PKCS#8.
pub fn load_private_key(path: &Path) -> Result<PKey<Private>, PkiError> {
    let bytes = read(path)?;
    let parsed = if looks_like_pem(&bytes) {
        PKey::private_key_from_pem(&bytes)
    } else {
        PKey::private_key_from_der(&bytes)
    };
    parsed.map_err(|source| PkiError::Parse {
        path: path.to_path_buf(),
        what: "private key",
        source,
    })
}

/// Reads the CRLs in a file: one or more PEM `X509 CRL` blocks, or one DER CRL.
pub fn load_crls(path: &Path) -> Result<Vec<X509Crl>, PkiError> {
    let bytes = read(path)?;
    crls_from_bytes(&bytes).map_err(|source| PkiError::Parse {
        path: path.to_path_buf(),
        what: "CRL",
        source,
    })
}

/// Parses CRLs from memory: one or more PEM `X509 CRL` blocks, or one DER CRL (CRLs fetched from a distribution
/// point come as DER).
pub fn crls_from_bytes(bytes: &[u8]) -> Result<Vec<X509Crl>, ErrorStack> {
    if !looks_like_pem(bytes) {
        return Ok(vec![X509Crl::from_der(bytes)?]);
    }
    const BEGIN: &[u8] = b"-----BEGIN X509 CRL-----";
    const END: &[u8] = b"-----END X509 CRL-----";
    let mut crls = Vec::new();
    let mut rest = bytes;
    while let Some(start) = memchr::memmem::find(rest, BEGIN) {
        let Some(end) = memchr::memmem::find(&rest[start..], END) else {
            break;
        };
        let block_end = start + end + END.len();
        crls.push(X509Crl::from_pem(&rest[start..block_end])?);
        rest = &rest[block_end..];
    }
    if crls.is_empty() {
        // No complete CRL block: report OpenSSL's own reason for the whole input.
        return Err(X509Crl::from_pem(bytes).err().unwrap_or_else(ErrorStack::get));
    }
    Ok(crls)
}

/// The files a trust setting names: the path itself, or when it is a directory every file in it whose extension is
/// one of `extensions`, sorted by name (so that `peers add` can drop a peer's CA into a folder).
pub fn files_in(path: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>, PkiError> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let io = |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let file = entry.map_err(io)?.path();
        let ext = file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if file.is_file() && ext.is_some_and(|e| extensions.contains(&e.as_str())) {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}

/// Certificate file extensions read from a trust directory.
pub const CERTIFICATE_EXTENSIONS: &[&str] = &["pem", "crt", "cer", "der"];
/// CRL file extensions read from a CRL directory.
pub const CRL_EXTENSIONS: &[&str] = &["pem", "crl", "der"];

/// Certificates from a file or a directory of certificate files.
pub fn load_certificates_from(path: &Path) -> Result<Vec<X509>, PkiError> {
    let mut certs = Vec::new();
    for file in files_in(path, CERTIFICATE_EXTENSIONS)? {
        certs.extend(load_certificates(&file)?);
    }
    Ok(certs)
}

/// CRLs from a file or a directory of CRL files.
pub fn load_crls_from(path: &Path) -> Result<Vec<X509Crl>, PkiError> {
    let mut crls = Vec::new();
    for file in files_in(path, CRL_EXTENSIONS)? {
        crls.extend(load_crls(&file)?);
    }
    Ok(crls)
}

/// A private key, its certificate, and the intermediate certificates to send with it (leaf issuer first).
#[derive(Clone)]
pub struct KeyPair {
    pub key: PKey<Private>,
    pub certificate: X509,
    pub chain: Vec<X509>,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        let info = CertificateInfo::of(&self.certificate).ok();
        f.debug_struct("KeyPair")
            .field("algorithm", &self.algorithm())
            .field("subject", &info.as_ref().map(|i| i.subject.clone()))
            .field("chain_len", &self.chain.len())
            .finish()
    }
}

impl KeyPair {
    /// Pairs a key with its certificate, refusing a key that does not belong to the certificate.
    pub fn new(key: PKey<Private>, certificate: X509, chain: Vec<X509>) -> Result<KeyPair, ErrorStack> {
        let public = certificate.public_key()?;
        if !public.public_eq(&key) {
            return Err(ErrorStack::get());
        }
        Ok(KeyPair {
            key,
            certificate,
            chain,
        })
    }

    /// Loads a key file and a certificate file. The certificate file may carry the chain after the leaf; extra
    /// chain files are appended in order.
    pub fn load(key_path: &Path, cert_path: &Path, chain_paths: &[PathBuf]) -> Result<KeyPair, PkiError> {
        let key = load_private_key(key_path)?;
        let mut certs = load_certificates(cert_path)?;
        let certificate = certs.remove(0);
        let mut chain = certs;
        for p in chain_paths {
            chain.extend(load_certificates(p)?);
        }
        let public = certificate.public_key()?;
        if !public.public_eq(&key) {
            return Err(PkiError::KeyMismatch {
                key: key_path.to_path_buf(),
                cert: cert_path.to_path_buf(),
            });
        }
        Ok(KeyPair {
            key,
            certificate,
            chain,
        })
    }

    /// Loads a key pair and checks its algorithm (and, for RSA, a minimum size).
    pub fn load_expecting(
        key_path: &Path,
        cert_path: &Path,
        chain_paths: &[PathBuf],
        expected: KeyAlgorithm,
        min_rsa_bits: u32,
    ) -> Result<KeyPair, PkiError> {
        let pair = KeyPair::load(key_path, cert_path, chain_paths)?;
        let found = pair.algorithm();
        if found != expected {
            return Err(PkiError::WrongAlgorithm {
                path: key_path.to_path_buf(),
                expected,
                found,
            });
        }
        if found == KeyAlgorithm::Rsa && pair.key.bits() < min_rsa_bits {
            return Err(PkiError::KeyTooSmall {
                path: key_path.to_path_buf(),
                bits: pair.key.bits(),
                min: min_rsa_bits,
            });
        }
        Ok(pair)
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        KeyAlgorithm::of(&self.key)
    }

    /// Certificate facts of the leaf.
    pub fn info(&self) -> Result<CertificateInfo, ErrorStack> {
        CertificateInfo::of(&self.certificate)
    }

    /// DER of the leaf followed by the chain (what rustls takes as a certificate chain).
    pub fn chain_der(&self) -> Result<Vec<Vec<u8>>, ErrorStack> {
        self.full_chain().iter().map(|c| c.to_der()).collect()
    }

    /// The private key as PKCS#8 DER (what rustls takes as a private key). Handle with care.
    pub fn private_key_pkcs8_der(&self) -> Result<Vec<u8>, ErrorStack> {
        self.key.private_key_to_pkcs8()
    }

    /// The leaf followed by the chain, as sent in a TLS handshake.
    pub fn full_chain(&self) -> Vec<X509> {
        std::iter::once(self.certificate.clone())
            .chain(self.chain.iter().cloned())
            .collect()
    }
}

/// Minimum RSA size for the message key: DIGG issues RSA 3072 access-point certificates.
pub const MIN_MESSAGE_RSA_BITS: u32 = 3072;
/// Minimum RSA size accepted for TLS keys.
pub const MIN_TLS_RSA_BITS: u32 = 2048;

/// Every key pair this access point holds, loaded from the `[keys]` section of the configuration.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    /// RSA message key: signs (rsa-sha256) and decrypts key transport (rsa-oaep) under the SDK / AS4 1.15 profile.
    pub message: KeyPair,
    /// Ed25519 signing key for eDelivery AS4 2.0 P-Modes.
    pub ed25519: Option<KeyPair>,
    /// X25519 key-agreement key for eDelivery AS4 2.0 P-Modes.
    pub x25519: Option<KeyPair>,
    /// TLS server and client key; `None` only when the server runs plain HTTP.
    pub tls: Option<KeyPair>,
}

impl NodeIdentity {
    /// Loads and checks every configured key pair (algorithms, sizes, key/certificate match).
    pub fn load(keys: &crate::config::KeysConfig) -> Result<NodeIdentity, PkiError> {
        let message = KeyPair::load_expecting(
            &keys.message.key,
            &keys.message.cert,
            &keys.message.chain,
            KeyAlgorithm::Rsa,
            MIN_MESSAGE_RSA_BITS,
        )?;
        let optional = |files: &Option<crate::config::KeyFiles>, alg: KeyAlgorithm, min_bits: u32| {
            files
                .as_ref()
                .map(|f| KeyPair::load_expecting(&f.key, &f.cert, &f.chain, alg, min_bits))
                .transpose()
        };
        let ed25519 = optional(&keys.ed25519, KeyAlgorithm::Ed25519, 0)?;
        let x25519 = optional(&keys.x25519, KeyAlgorithm::X25519, 0)?;
        let tls = match &keys.tls {
            Some(f) => Some(KeyPair::load(&f.key, &f.cert, &f.chain).and_then(|p| {
                if p.algorithm() == KeyAlgorithm::Rsa && p.key.bits() < MIN_TLS_RSA_BITS {
                    Err(PkiError::KeyTooSmall {
                        path: f.key.clone(),
                        bits: p.key.bits(),
                        min: MIN_TLS_RSA_BITS,
                    })
                } else {
                    Ok(p)
                }
            })?),
            None => None,
        };
        Ok(NodeIdentity {
            message,
            ed25519,
            x25519,
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_typed_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("junk.pem");
        std::fs::write(
            &p,
            b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = load_certificates(&p).unwrap_err();
        assert!(e.to_string().contains("junk.pem"), "{e}");
        std::fs::write(&p, b"\x30\x03\x02\x01").unwrap();
        assert!(matches!(load_certificates(&p), Err(PkiError::Parse { .. })));
        assert!(matches!(load_private_key(&p), Err(PkiError::Parse { .. })));
        assert!(matches!(load_crls(&p), Err(PkiError::Parse { .. })));
        let missing = dir.path().join("missing.pem");
        assert!(matches!(load_certificate(&missing), Err(PkiError::Io { .. })));
    }
}
