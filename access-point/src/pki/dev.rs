//! The development PKI: a root CA, the access point's certificates and a CRL, generated locally so that a fresh
//! machine runs out of the box (`sdk-ap init`) and tests get real certificates.
//!
//! Never for production: production certificates come from DIGG's "PKI för Accesspunkter" (message level) and
//! SITHS (TLS).

use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{HasPublic, PKey, PKeyRef, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, CrlNumber, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{
    X509Crl, X509CrlBuilder, X509ExtendedKeyUsage, X509Extension, X509KeyUsage, X509Name, X509Ref, X509RevokedBuilder,
    X509,
};
use time::{Duration, OffsetDateTime};

use super::keys::{KeyPair, PkiError};
use super::time::datetime_to_asn1;

/// RSA size for the CA and the message certificate: DIGG issues RSA 3072 access-point certificates.
pub const DEV_RSA_BITS: u32 = 3072;
/// Validity of generated leaf certificates.
pub const DEV_CERT_VALIDITY_DAYS: i64 = 825;
/// Validity of the generated CA.
pub const DEV_CA_VALIDITY_DAYS: i64 = 3650;
/// A freshly issued CRL is valid for this long.
pub const DEV_CRL_VALIDITY_DAYS: i64 = 30;
/// Backdating of notBefore / thisUpdate, so that a peer whose clock is slightly behind still accepts them.
const BACKDATE: Duration = Duration::hours(1);

/// What to generate.
#[derive(Debug, Clone)]
pub struct DevPkiOptions {
    /// The access point's party id; the CN of its certificates (e.g. `AP0001-DEV`).
    pub party_id: String,
    /// DNS names in the TLS certificate (`localhost` by default).
    pub tls_dns_names: Vec<String>,
    /// IP addresses in the TLS certificate (`127.0.0.1` by default).
    pub tls_ip_addresses: Vec<IpAddr>,
}

impl DevPkiOptions {
    pub fn new(party_id: &str) -> DevPkiOptions {
        DevPkiOptions {
            party_id: party_id.to_string(),
            tls_dns_names: vec!["localhost".to_string()],
            tls_ip_addresses: vec![IpAddr::from([127, 0, 0, 1])],
        }
    }
}

/// What a certificate issued by the development CA looks like; tests use it to make bad certificates.
#[derive(Debug, Clone)]
pub struct CertSpec {
    pub common_name: String,
    pub organization: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Empty means: no KeyUsage extension.
    pub key_usage: X509KeyUsage,
    /// Empty means: no ExtendedKeyUsage extension. Only SSL_SERVER and SSL_CLIENT are rendered.
    pub extended_key_usage: X509ExtendedKeyUsage,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub is_ca: bool,
}

impl CertSpec {
    /// An end-entity certificate valid from an hour ago for [`DEV_CERT_VALIDITY_DAYS`].
    pub fn leaf(common_name: &str, key_usage: X509KeyUsage) -> CertSpec {
        let now = OffsetDateTime::now_utc();
        CertSpec {
            common_name: common_name.to_string(),
            organization: "sdk-ap development".to_string(),
            not_before: now - BACKDATE,
            not_after: now + Duration::days(DEV_CERT_VALIDITY_DAYS),
            key_usage,
            extended_key_usage: X509ExtendedKeyUsage::empty(),
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            is_ca: false,
        }
    }

    /// Key usage of the SDK message certificate: sign, non-repudiation, RSA-OAEP key transport.
    pub fn message_key_usage() -> X509KeyUsage {
        X509KeyUsage::DIGITAL_SIGNATURE | X509KeyUsage::NON_REPUDIATION | X509KeyUsage::KEY_ENCIPHERMENT
    }
}

/// A complete development PKI held in memory.
pub struct DevPki {
    pub party_id: String,
    /// The self-signed root CA (its chain is empty).
    pub ca: KeyPair,
    /// RSA 3072 message certificate, CN = party id (SDK / eDelivery AS4 1.15 signing and key transport).
    pub message: KeyPair,
    /// Ed25519 signing certificate (eDelivery AS4 2.0).
    pub ed25519: KeyPair,
    /// X25519 key-agreement certificate (eDelivery AS4 2.0).
    pub x25519: KeyPair,
    /// ECDSA P-256 TLS certificate usable as server and client (SAN localhost, 127.0.0.1).
    pub tls: KeyPair,
    /// The CA's current CRL.
    pub crl: X509Crl,
    revoked: Vec<(Vec<u8>, OffsetDateTime)>,
    crl_number: u32,
}

/// Where [`DevPki::write`] puts each file, relative to the key directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevPkiFiles {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub crl: PathBuf,
    pub message_cert: PathBuf,
    pub message_key: PathBuf,
    pub ed25519_cert: PathBuf,
    pub ed25519_key: PathBuf,
    pub x25519_cert: PathBuf,
    pub x25519_key: PathBuf,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
}

impl DevPkiFiles {
    /// The standard file names inside `dir`.
    pub fn in_dir(dir: &Path) -> DevPkiFiles {
        DevPkiFiles {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key.pem"),
            crl: dir.join("ca.crl.pem"),
            message_cert: dir.join("message.pem"),
            message_key: dir.join("message.key.pem"),
            ed25519_cert: dir.join("ed25519.pem"),
            ed25519_key: dir.join("ed25519.key.pem"),
            x25519_cert: dir.join("x25519.pem"),
            x25519_key: dir.join("x25519.key.pem"),
            tls_cert: dir.join("tls.pem"),
            tls_key: dir.join("tls.key.pem"),
        }
    }

    /// Every file, private keys marked.
    pub fn all(&self) -> Vec<(&Path, bool)> {
        vec![
            (self.ca_cert.as_path(), false),
            (self.ca_key.as_path(), true),
            (self.crl.as_path(), false),
            (self.message_cert.as_path(), false),
            (self.message_key.as_path(), true),
            (self.ed25519_cert.as_path(), false),
            (self.ed25519_key.as_path(), true),
            (self.x25519_cert.as_path(), false),
            (self.x25519_key.as_path(), true),
            (self.tls_cert.as_path(), false),
            (self.tls_key.as_path(), true),
        ]
    }
}

impl std::fmt::Debug for DevPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevPki")
            .field("party_id", &self.party_id)
            .field("ca", &self.ca)
            .field("revoked", &self.revoked.len())
            .finish_non_exhaustive()
    }
}

impl DevPki {
    /// Generates a PKI with fresh keys (three RSA 3072 key generations: allow a few seconds).
    pub fn generate(options: &DevPkiOptions) -> Result<DevPki, ErrorStack> {
        let ca_key = generate_rsa(DEV_RSA_BITS)?;
        let message_key = generate_rsa(DEV_RSA_BITS)?;
        DevPki::build(options, ca_key, message_key)
    }

    /// Like [`DevPki::generate`], but the RSA keys come from a small per-process pool, so a test process pays RSA
    /// key generation a few times in total. CA names carry a random suffix, so two throw-away PKIs never trust
    /// each other's certificates even when a pooled key repeats.
    pub fn throwaway(party_id: &str) -> Result<DevPki, ErrorStack> {
        DevPki::build(&DevPkiOptions::new(party_id), pooled_rsa_key()?, pooled_rsa_key()?)
    }

    /// Writes a throw-away PKI into `dir` (created if needed) and returns it with the file names.
    pub fn throwaway_in(dir: &Path, party_id: &str) -> Result<(DevPki, DevPkiFiles), PkiError> {
        let pki = DevPki::throwaway(party_id)?;
        let files = pki.write(dir, false)?;
        Ok((pki, files))
    }

    fn build(options: &DevPkiOptions, ca_key: PKey<Private>, message_key: PKey<Private>) -> Result<DevPki, ErrorStack> {
        let party = &options.party_id;
        let now = OffsetDateTime::now_utc();
        let ca_spec = CertSpec {
            common_name: format!("sdk-ap development CA {party} {}", random_hex(4)?),
            organization: "sdk-ap development".to_string(),
            not_before: now - BACKDATE,
            not_after: now + Duration::days(DEV_CA_VALIDITY_DAYS),
            key_usage: X509KeyUsage::KEY_CERT_SIGN | X509KeyUsage::CRL_SIGN,
            extended_key_usage: X509ExtendedKeyUsage::empty(),
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            is_ca: true,
        };
        let ca_cert = build_certificate(&ca_spec, &ca_key, None, &ca_key)?;
        let ca = KeyPair {
            key: ca_key,
            certificate: ca_cert,
            chain: Vec::new(),
        };

        let issue = |spec: &CertSpec, key: PKey<Private>| -> Result<KeyPair, ErrorStack> {
            let cert = build_certificate(spec, &key, Some(&ca.certificate), &ca.key)?;
            Ok(KeyPair {
                key,
                certificate: cert,
                chain: Vec::new(),
            })
        };
        let message = issue(&CertSpec::leaf(party, CertSpec::message_key_usage()), message_key)?;
        let ed25519 = issue(
            &CertSpec::leaf(party, X509KeyUsage::DIGITAL_SIGNATURE | X509KeyUsage::NON_REPUDIATION),
            PKey::generate_ed25519()?,
        )?;
        let x25519 = issue(
            &CertSpec::leaf(party, X509KeyUsage::KEY_AGREEMENT),
            PKey::generate_x25519()?,
        )?;
        let mut tls_spec = CertSpec::leaf(party, X509KeyUsage::DIGITAL_SIGNATURE);
        tls_spec.extended_key_usage = X509ExtendedKeyUsage::SSL_SERVER | X509ExtendedKeyUsage::SSL_CLIENT;
        tls_spec.dns_names = options.tls_dns_names.clone();
        tls_spec.ip_addresses = options.tls_ip_addresses.clone();
        let tls_key = PKey::from_ec_key(EcKey::generate(
            EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?.as_ref(),
        )?)?;
        let tls = issue(&tls_spec, tls_key)?;

        let pki = DevPki {
            party_id: party.clone(),
            crl: sign_crl(&ca, &[], 1, now - BACKDATE, now + Duration::days(DEV_CRL_VALIDITY_DAYS))?,
            ca,
            message,
            ed25519,
            x25519,
            tls,
            revoked: Vec::new(),
            crl_number: 1,
        };
        Ok(pki)
    }

    /// Issues a certificate for `key` from this CA, as described by `spec` (tests: expired, wrong usage, other CN).
    pub fn issue<T: HasPublic>(&self, spec: &CertSpec, key: &PKeyRef<T>) -> Result<X509, ErrorStack> {
        build_certificate(spec, key, Some(&self.ca.certificate), &self.ca.key)
    }

    /// Issues a certificate from any issuer key pair (tests: intermediate CAs and their leaves).
    pub fn issue_from<T: HasPublic>(issuer: &KeyPair, spec: &CertSpec, key: &PKeyRef<T>) -> Result<X509, ErrorStack> {
        build_certificate(spec, key, Some(&issuer.certificate), &issuer.key)
    }

    /// A CRL signed by `issuer` over the given revoked serials (tests: CRLs of intermediate CAs).
    pub fn crl_from(
        issuer: &KeyPair,
        revoked: &[&X509Ref],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<X509Crl, ErrorStack> {
        let mut list = Vec::with_capacity(revoked.len());
        for cert in revoked {
            list.push((cert.serial_number().to_bn()?.to_vec(), this_update));
        }
        sign_crl(issuer, &list, 1, this_update, next_update)
    }

    /// Issues a certificate and pairs it with a fresh key of the same kind as the message key (pooled RSA 3072).
    pub fn issue_rsa(&self, spec: &CertSpec) -> Result<KeyPair, ErrorStack> {
        let key = pooled_rsa_key()?;
        let certificate = self.issue(spec, &key)?;
        Ok(KeyPair {
            key,
            certificate,
            chain: Vec::new(),
        })
    }

    /// Adds the certificate to the revocation list and re-issues the CRL (new CRL number, next update in 30 days).
    pub fn revoke(&mut self, cert: &X509Ref) -> Result<(), ErrorStack> {
        let now = OffsetDateTime::now_utc();
        self.revoked
            .push((cert.serial_number().to_bn()?.to_vec(), now - Duration::minutes(1)));
        self.crl_number += 1;
        self.crl = sign_crl(
            &self.ca,
            &self.revoked,
            self.crl_number,
            now - BACKDATE,
            now + Duration::days(DEV_CRL_VALIDITY_DAYS),
        )?;
        Ok(())
    }

    /// Signs a CRL with explicit times (tests: stale CRLs). Does not replace [`DevPki::crl`].
    pub fn crl_with_times(
        &self,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<X509Crl, ErrorStack> {
        sign_crl(&self.ca, &self.revoked, self.crl_number + 1, this_update, next_update)
    }

    /// Writes every certificate, key and the CRL into `dir` (created if needed). Keys are written with mode 0600.
    /// Without `overwrite`, refuses when any of the files already exists, before writing anything.
    pub fn write(&self, dir: &Path, overwrite: bool) -> Result<DevPkiFiles, PkiError> {
        std::fs::create_dir_all(dir).map_err(|source| PkiError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let files = DevPkiFiles::in_dir(dir);
        if !overwrite {
            for (path, _) in files.all() {
                if path.exists() {
                    return Err(PkiError::Write {
                        path: path.to_path_buf(),
                        source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "file exists (use --force)"),
                    });
                }
            }
        }
        write_file(&files.ca_cert, &self.ca.certificate.to_pem()?, false)?;
        write_file(&files.ca_key, &self.ca.key.private_key_to_pem_pkcs8()?, true)?;
        write_file(&files.crl, &self.crl.to_pem()?, false)?;
        for (pair, cert_path, key_path) in [
            (&self.message, &files.message_cert, &files.message_key),
            (&self.ed25519, &files.ed25519_cert, &files.ed25519_key),
            (&self.x25519, &files.x25519_cert, &files.x25519_key),
            (&self.tls, &files.tls_cert, &files.tls_key),
        ] {
            write_file(cert_path, &pair.certificate.to_pem()?, false)?;
            write_file(key_path, &pair.key.private_key_to_pem_pkcs8()?, true)?;
        }
        Ok(files)
    }

    /// Writes only the CRL (after [`DevPki::revoke`]).
    pub fn write_crl(&self, path: &Path) -> Result<(), PkiError> {
        write_file(path, &self.crl.to_pem()?, false)
    }
}

/// Writes a file, replacing any previous one; private keys get mode 0600 from creation on (never world-readable,
/// not even briefly).
pub fn write_file(path: &Path, contents: &[u8], private: bool) -> Result<(), PkiError> {
    let err = |source| PkiError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp-write");
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let _ = std::fs::remove_file(&tmp);
    let mut f = options.open(&tmp).map_err(err)?;
    f.write_all(contents).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)
}

fn generate_rsa(bits: u32) -> Result<PKey<Private>, ErrorStack> {
    PKey::from_rsa(Rsa::generate(bits)?)
}

const RSA_POOL_SIZE: usize = 8;
static RSA_POOL: [OnceLock<PKey<Private>>; RSA_POOL_SIZE] = [const { OnceLock::new() }; RSA_POOL_SIZE];
static RSA_POOL_NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// An RSA 3072 key from a per-process pool of [`RSA_POOL_SIZE`] keys, handed out round robin (so consecutive calls
/// give distinct keys). Test use only: keys repeat across calls.
pub fn pooled_rsa_key() -> Result<PKey<Private>, ErrorStack> {
    let slot = RSA_POOL_NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % RSA_POOL_SIZE;
    if let Some(key) = RSA_POOL[slot].get() {
        return Ok(key.clone());
    }
    let key = generate_rsa(DEV_RSA_BITS)?;
    Ok(RSA_POOL[slot].get_or_init(|| key).clone())
}

fn random_serial() -> Result<Asn1Integer, ErrorStack> {
    let mut bn = BigNum::new()?;
    // 127 random bits: positive, under 20 octets, unpredictable (CA/B BR 7.1).
    bn.rand(127, MsbOption::MAYBE_ZERO, false)?;
    bn.to_asn1_integer()
}

fn random_hex(bytes: usize) -> Result<String, ErrorStack> {
    let mut buf = vec![0u8; bytes];
    openssl::rand::rand_bytes(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn build_name(spec: &CertSpec) -> Result<X509Name, ErrorStack> {
    let mut name = X509Name::builder()?;
    name.append_entry_by_nid(Nid::COUNTRYNAME, "SE")?;
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, &spec.organization)?;
    name.append_entry_by_nid(Nid::COMMONNAME, &spec.common_name)?;
    Ok(name.build())
}

/// Builds and signs a certificate. `issuer = None` makes it self-signed by `signer`.
fn build_certificate<T: HasPublic>(
    spec: &CertSpec,
    subject_key: &PKeyRef<T>,
    issuer: Option<&X509Ref>,
    signer: &PKeyRef<Private>,
) -> Result<X509, ErrorStack> {
    let name = build_name(spec)?;
    let mut b = X509::builder()?;
    b.set_version(2)?;
    b.set_serial_number(random_serial()?.as_ref())?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(issuer.map(|i| i.subject_name()).unwrap_or(&name))?;
    b.set_pubkey(subject_key)?;
    b.set_not_before(datetime_to_asn1(spec.not_before)?.as_ref())?;
    b.set_not_after(datetime_to_asn1(spec.not_after)?.as_ref())?;

    let mut bc = BasicConstraints::new();
    bc.critical();
    if spec.is_ca {
        bc.ca();
    }
    b.append_extension(bc.build()?)?;
    if !spec.key_usage.is_empty() {
        b.append_extension(key_usage_extension(spec.key_usage)?)?;
    }
    if !spec.extended_key_usage.is_empty() {
        let mut eku = ExtendedKeyUsage::new();
        if spec.extended_key_usage.contains(X509ExtendedKeyUsage::SSL_SERVER) {
            eku.server_auth();
        }
        if spec.extended_key_usage.contains(X509ExtendedKeyUsage::SSL_CLIENT) {
            eku.client_auth();
        }
        b.append_extension(eku.build()?)?;
    }
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(issuer, None))?;
    b.append_extension(ski)?;
    if issuer.is_some() {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(issuer, None))?;
        b.append_extension(aki)?;
    }
    if !spec.dns_names.is_empty() || !spec.ip_addresses.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for d in &spec.dns_names {
            san.dns(d);
        }
        for ip in &spec.ip_addresses {
            san.ip(&ip.to_string());
        }
        b.append_extension(san.build(&b.x509v3_context(issuer, None))?)?;
    }
    b.sign(signer, signature_digest(signer))?;
    Ok(b.build())
}

/// SHA-256 for RSA and ECDSA; EdDSA signs the message itself and takes no separate digest.
fn signature_digest(signer: &PKeyRef<Private>) -> MessageDigest {
    match signer.id() {
        openssl::pkey::Id::ED25519 | openssl::pkey::Id::ED448 => MessageDigest::null(),
        _ => MessageDigest::sha256(),
    }
}

fn key_usage_extension(usage: X509KeyUsage) -> Result<X509Extension, ErrorStack> {
    let mut ku = KeyUsage::new();
    ku.critical();
    let flags = [
        (
            X509KeyUsage::DIGITAL_SIGNATURE,
            KeyUsage::digital_signature as fn(&mut KeyUsage) -> &mut KeyUsage,
        ),
        (X509KeyUsage::NON_REPUDIATION, KeyUsage::non_repudiation),
        (X509KeyUsage::KEY_ENCIPHERMENT, KeyUsage::key_encipherment),
        (X509KeyUsage::DATA_ENCIPHERMENT, KeyUsage::data_encipherment),
        (X509KeyUsage::KEY_AGREEMENT, KeyUsage::key_agreement),
        (X509KeyUsage::KEY_CERT_SIGN, KeyUsage::key_cert_sign),
        (X509KeyUsage::CRL_SIGN, KeyUsage::crl_sign),
    ];
    for (flag, set) in flags {
        if usage.contains(flag) {
            set(&mut ku);
        }
    }
    ku.build()
}

/// Signs a CRL over `revoked` (serial, revocation time) with the CA.
fn sign_crl(
    ca: &KeyPair,
    revoked: &[(Vec<u8>, OffsetDateTime)],
    number: u32,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<X509Crl, ErrorStack> {
    let mut b = X509CrlBuilder::new()?;
    b.set_issuer_name(ca.certificate.subject_name())?;
    b.set_last_update(datetime_to_asn1(this_update)?.as_ref())?;
    b.set_next_update(datetime_to_asn1(next_update)?.as_ref())?;
    for (serial, when) in revoked {
        let mut r = X509RevokedBuilder::new()?;
        r.set_serial_number(BigNum::from_slice(serial)?.to_asn1_integer()?.as_ref())?;
        r.set_revocation_date(datetime_to_asn1(*when)?.as_ref())?;
        b.add_revoked(r.build())?;
    }
    b.append_extension(authority_key_id_extension(&ca.certificate)?)?;
    b.append_extension(CrlNumber::new(BigNum::from_u32(number)?)?.build()?)?;
    b.sort()?;
    b.sign(&ca.key, signature_digest(&ca.key))?;
    b.build()
}

/// AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING }, from the CA's SKI.
fn authority_key_id_extension(ca: &X509Ref) -> Result<X509Extension, ErrorStack> {
    let ski = ca.subject_key_id().map(|s| s.as_slice().to_vec()).unwrap_or_default();
    // Short-form DER lengths suffice: an SKI is at most a SHA-1/SHA-256 digest.
    let mut der = vec![0x30, (ski.len() + 2) as u8, 0x80, ski.len() as u8];
    der.extend_from_slice(&ski);
    let oid = Asn1Object::from_str("2.5.29.35")?;
    let value = Asn1OctetString::new_from_bytes(&der)?;
    X509Extension::new_from_der(&oid, false, &value)
}
