//! Shared fixtures of the wss_message* / wss_attacks* / wss_receipt* tests: two throw-away PKIs (sender
//! AP0001-DEV, receiver AP0002-DEV), a sealing helper and an opening helper over in-memory bodies.
#![allow(dead_code)]

use access_point::ebms::test_support::sample_user_message;
use access_point::ebms::{EbmsError, UserMessage};
use access_point::pki::dev::DevPki;
use access_point::pki::{NodeIdentity, TrustStore};
use access_point::wss::message::{
    open, seal, OpenError, OpenLimits, OpenParams, OpenedMessage, OutgoingPayload, SealParams, SealedMessage,
};
use std::path::PathBuf;

pub struct World {
    pub dir: tempfile::TempDir,
    pub sender: DevPki,
    pub receiver: DevPki,
    pub receiver_identity: NodeIdentity,
    pub sender_identity: NodeIdentity,
    /// What the receiver trusts for message signatures: the sender's CA and its CRL.
    pub receiver_trust: TrustStore,
    /// What the sender trusts for receipts: the receiver's CA and its CRL.
    pub sender_trust: TrustStore,
    pub limits: OpenLimits,
}

pub fn identity(pki: &DevPki) -> NodeIdentity {
    NodeIdentity {
        message: pki.message.clone(),
        ed25519: Some(pki.ed25519.clone()),
        x25519: Some(pki.x25519.clone()),
        tls: None,
    }
}

pub fn crl_copy(crl: &openssl::x509::X509Crl) -> openssl::x509::X509Crl {
    openssl::x509::X509Crl::from_der(&crl.to_der().unwrap()).unwrap()
}

impl World {
    pub fn new() -> World {
        let sender = DevPki::throwaway("AP0001-DEV").unwrap();
        let receiver = DevPki::throwaway("AP0002-DEV").unwrap();
        let receiver_trust =
            TrustStore::new(vec![sender.ca.certificate.clone()]).with_crls(vec![crl_copy(&sender.crl)]);
        let sender_trust =
            TrustStore::new(vec![receiver.ca.certificate.clone()]).with_crls(vec![crl_copy(&receiver.crl)]);
        World {
            dir: tempfile::tempdir().unwrap(),
            receiver_identity: identity(&receiver),
            sender_identity: identity(&sender),
            sender,
            receiver,
            receiver_trust,
            sender_trust,
            limits: OpenLimits::default(),
        }
    }

    pub fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    pub fn payloads(&self, contents: &[&[u8]]) -> Vec<OutgoingPayload> {
        contents
            .iter()
            .enumerate()
            .map(|(n, c)| OutgoingPayload {
                content_id: format!("part-{n}@sdk"),
                mime_type: if n == 0 {
                    "text/xml".into()
                } else {
                    "application/octet-stream".into()
                },
                character_set: (n == 0).then(|| "UTF-8".to_string()),
                compress: true,
                source: self.file(&format!("payload-{n}"), c),
                extra_part_properties: vec![],
            })
            .collect()
    }

    pub fn message(&self) -> UserMessage {
        sample_user_message(0)
    }

    pub async fn seal_with(
        &self,
        pmode: &pmode::PMode,
        payloads: &[OutgoingPayload],
        signer: &access_point::pki::KeyPair,
        receiver_cert: Option<&openssl::x509::X509>,
    ) -> SealedMessage {
        let params = SealParams {
            pmode,
            signer,
            receiver_encryption_cert: receiver_cert,
            spool_dir: self.dir.path(),
        };
        seal(&self.message(), payloads, &params).await.unwrap()
    }

    /// Seals under the SDK P-Mode, signed by the sender, encrypted for the receiver.
    pub async fn seal_sdk(&self, payloads: &[OutgoingPayload]) -> SealedMessage {
        self.seal_with(
            &pmode::builtin::sdk_message(),
            payloads,
            &self.sender.message,
            Some(&self.receiver.message.certificate),
        )
        .await
    }

    pub async fn open_with(
        &self,
        pmode: &pmode::PMode,
        content_type: &str,
        body: &[u8],
        trust: &TrustStore,
    ) -> Result<OpenedMessage, OpenError> {
        let chosen = pmode.clone();
        let choose = move |_: &UserMessage| -> Result<pmode::PMode, EbmsError> { Ok(chosen.clone()) };
        let params = OpenParams {
            our_keys: &self.receiver_identity,
            message_trust: trust,
            limits: &self.limits,
            spool_dir: self.dir.path(),
        };
        open(content_type, body, &choose, &params).await
    }

    pub async fn open_sdk(&self, content_type: &str, body: &[u8]) -> Result<OpenedMessage, OpenError> {
        self.open_with(&pmode::builtin::sdk_message(), content_type, body, &self.receiver_trust)
            .await
    }

    /// Files left in the spool directory (payload sources excluded): nothing may remain after a refusal.
    pub fn spooled_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("payload-"))
            .collect()
    }
}

pub fn body_of(sealed: &SealedMessage) -> Vec<u8> {
    std::fs::read(sealed.body.path()).unwrap()
}

/// Replaces the first occurrence of `from` in `body` by `to` (panics when absent, so a test cannot silently
/// stop tampering).
pub fn replace_once(body: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = body
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(from)));
    let mut out = body[..at].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&body[at + from.len()..]);
    out
}
