//! Linking two access points: the library side of `sdk-ap peers add --config A.toml --from B.toml`.
//!
//! Copies B's certificates into A's folder (`peers/<party>/`), drops B's CAs and their CRLs into the first directory
//! listed in A's `trust.*_anchors` / `trust.*_crls` settings (so A's trust settings need no edit), appends a
//! `[[peers]]` block to A's file (comments and layout untouched), and proves the result: A's configuration loads,
//! validates, and A's trust stores accept B's certificates.

use std::path::{Path, PathBuf};

use openssl::hash::MessageDigest;
use openssl::x509::{X509Crl, X509};
use time::OffsetDateTime;

use super::{Config, ConfigError};
use crate::pki::dev::write_file;
use crate::pki::{load_certificate, Purpose, TrustStore};

/// What [`add_peer_from`] did.
#[derive(Debug, Clone)]
pub struct AddedPeer {
    pub party_id: String,
    pub endpoint: String,
    /// Every file written (certificates, anchors, CRLs) and the configuration file appended to.
    pub written: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Refused(String),
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
}

fn io(path: &Path, e: impl std::fmt::Display) -> LinkError {
    LinkError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Adds the access point configured in `peer_config` as a `[[peers]]` entry of `config` (see module docs).
/// Reads only B's certificates and CRLs, never its private keys.
pub fn add_peer_from(config: &Path, peer_config: &Path) -> Result<AddedPeer, LinkError> {
    let a = Config::load(config)?;
    let b = Config::load(peer_config)?;
    let party = b.node.party_id.clone();
    if party == a.node.party_id {
        return Err(LinkError::Refused(format!(
            "{} and {} are the same party {party}",
            config.display(),
            peer_config.display()
        )));
    }
    if a.peer(&party).is_some() {
        return Err(LinkError::Refused(format!(
            "{} already has a peer {party}; remove its [[peers]] block first",
            config.display()
        )));
    }
    let load = |setting: &str, path: &Path| load_certificate(path).map_err(|e| b.error(setting, e.to_string()));
    let message = load("keys.message.cert", &b.keys.message.cert)?;
    let tls = b
        .keys
        .tls
        .as_ref()
        .map(|f| load("keys.tls.cert", &f.cert))
        .transpose()?;
    let ed25519 = b
        .keys
        .ed25519
        .as_ref()
        .map(|f| load("keys.ed25519.cert", &f.cert))
        .transpose()?;
    let x25519 = b
        .keys
        .x25519
        .as_ref()
        .map(|f| load("keys.x25519.cert", &f.cert))
        .transpose()?;

    let mut written = Vec::new();
    let now = OffsetDateTime::now_utc();
    // Trust first: B's message CA (which also issues its AS4 2.0 certificates), then its TLS CA.
    ensure_trusted(&a, &b, &message, Trust::Message, now, &mut written)?;
    if let Some(tls) = &tls {
        ensure_trusted(&a, &b, tls, Trust::Tls, now, &mut written)?;
    }

    let folder = format!("peers/{}", file_safe(&party));
    let peer_dir = a.base_dir.join(&folder);
    std::fs::create_dir_all(&peer_dir).map_err(|e| io(&peer_dir, e))?;
    let mut block = format!(
        "\n[[peers]]\nparty_id = {}\nparty_id_type = {}\nendpoint = {}\n",
        quote(&party),
        quote(&b.node.party_id_type),
        quote(&b.server.endpoint_url())
    );
    // B's participants, so a submission naming only the final recipient finds B without discovery.
    if !b.node.served_participants.is_empty() {
        let listed: Vec<String> = b.node.served_participants.iter().map(|p| quote(p)).collect();
        block.push_str(&format!("participants = [{}]\n", listed.join(", ")));
    }
    for (setting, cert) in [
        ("message_cert", Some(&message)),
        ("tls_cert", tls.as_ref()),
        ("ed25519_cert", ed25519.as_ref()),
        ("x25519_cert", x25519.as_ref()),
    ] {
        let Some(cert) = cert else { continue };
        let name = format!("{}.pem", setting.trim_end_matches("_cert"));
        let path = peer_dir.join(&name);
        write_file(&path, &cert.to_pem().map_err(|e| io(&path, e))?, false).map_err(|e| io(&path, e))?;
        written.push(path);
        block.push_str(&format!("{setting} = {}\n", quote(&format!("{folder}/{name}"))));
    }

    let mut text = std::fs::read_to_string(config).map_err(|e| io(config, e))?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&block);
    write_file(config, text.as_bytes(), false).map_err(|e| io(config, e))?;
    written.push(config.to_path_buf());

    // Prove it: the edited file loads and validates, and A now accepts B's certificates for their purposes.
    let linked = Config::load(config)?;
    linked.validate()?;
    let store = linked.message_trust_store()?;
    store
        .verify_expecting_cn(&message, &[], Purpose::MessageSigning, now, &party)
        .map_err(|e| LinkError::Refused(format!("after linking, {party}'s message certificate is refused: {e}")))?;
    if let Some(tls) = &tls {
        linked
            .tls_trust_store()?
            .verify(tls, &[], Purpose::TlsServer, now)
            .map_err(|e| LinkError::Refused(format!("after linking, {party}'s TLS certificate is refused: {e}")))?;
    }
    Ok(AddedPeer {
        party_id: party,
        endpoint: b.server.endpoint_url(),
        written,
    })
}

#[derive(Clone, Copy)]
enum Trust {
    Message,
    Tls,
}

/// Makes A trust `cert`: if A does not already, copies the anchor B trusts it through (and that CA's CRL, when A
/// checks revocation) into A's trust directories.
fn ensure_trusted(
    a: &Config,
    b: &Config,
    cert: &X509,
    kind: Trust,
    now: OffsetDateTime,
    written: &mut Vec<PathBuf>,
) -> Result<(), LinkError> {
    let (a_store, b_store, anchor_dirs, crl_dirs, label) = match kind {
        Trust::Message => (
            a.message_trust_store()?,
            b.message_trust_store()?,
            &a.trust.message_anchors,
            &a.trust.message_crls,
            "message",
        ),
        Trust::Tls => (
            a.tls_trust_store()?,
            b.tls_trust_store()?,
            &a.trust.tls_anchors,
            &a.trust.tls_crls,
            "tls",
        ),
    };
    if a_store.verify(cert, &[], Purpose::ChainOnly, now).is_ok() {
        return Ok(());
    }
    // The anchor B itself reaches this certificate through (revocation aside: that is B's own business).
    let b_paths = TrustStore::new(b_store.anchors().to_vec()).with_intermediates(b_store.intermediates().to_vec());
    let verified = b_paths.verify(cert, &[], Purpose::ChainOnly, now).map_err(|e| {
        LinkError::Refused(format!(
            "{}: B's own {label} trust settings do not accept its certificate: {e}",
            b.file.display()
        ))
    })?;
    let anchor = verified
        .chain
        .last()
        .expect("a verified chain ends in an anchor")
        .clone();
    let fingerprint = hex8(&anchor)?;
    let party = file_safe(&b.node.party_id);

    let anchor_dir = first_dir(anchor_dirs).ok_or_else(|| {
        a.error(
            &format!("trust.{label}_anchors"),
            "lists no directory to add a peer's CA to (add one, e.g. \"trust/anchors\")",
        )
    })?;
    let path = anchor_dir.join(format!("{party}-{fingerprint}.pem"));
    write_file(&path, &anchor.to_pem().map_err(|e| io(&path, e))?, false).map_err(|e| io(&path, e))?;
    written.push(path);

    if !crl_dirs.is_empty() {
        let crl = b_store.crls().iter().find(|crl| {
            crl.issuer_name()
                .try_cmp(anchor.subject_name())
                .is_ok_and(|o| o == std::cmp::Ordering::Equal)
        });
        let crl: &X509Crl = crl.map(|c| c.as_ref()).ok_or_else(|| {
            LinkError::Refused(format!(
                "A checks revocation ({}: trust.{label}_crls) but B has no CRL for its CA; add B's CRL to B's trust.{label}_crls",
                a.file.display()
            ))
        })?;
        let crl_dir = first_dir(crl_dirs).ok_or_else(|| {
            a.error(
                &format!("trust.{label}_crls"),
                "lists no directory to add a peer's CRL to (e.g. \"trust/crls\")",
            )
        })?;
        let path = crl_dir.join(format!("{party}-{fingerprint}.crl.pem"));
        write_file(&path, &crl.to_pem().map_err(|e| io(&path, e))?, false).map_err(|e| io(&path, e))?;
        written.push(path);
    }
    Ok(())
}

fn first_dir(paths: &[PathBuf]) -> Option<&Path> {
    paths.iter().map(PathBuf::as_path).find(|p| p.is_dir())
}

fn hex8(cert: &X509) -> Result<String, LinkError> {
    let digest = cert
        .digest(MessageDigest::sha256())
        .map_err(|e| LinkError::Refused(e.to_string()))?;
    Ok(digest.iter().take(4).map(|b| format!("{b:02x}")).collect())
}

fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
