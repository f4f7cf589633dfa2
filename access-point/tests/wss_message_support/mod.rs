//! Shared fixtures of the wss_message* / wss_attacks* / wss_receipt* tests: two throw-away PKIs (sender
//! AP0001-DEV, receiver AP0002-DEV), a sealing helper and an opening helper over in-memory bodies.
#![allow(dead_code)]

use access_point::ebms::test_support::sample_user_message;
use access_point::ebms::{EbmsError, UserMessage};
use access_point::ebms::{EnvelopeBuilder, ErrorCode, Messaging};
use access_point::mime::{AttachmentSource, MultipartWriter, OutgoingAttachment};
use access_point::pki::dev::DevPki;
use access_point::pki::{NodeIdentity, TrustStore};
use access_point::wss::message::{
    open, seal, OpenError, OpenLimits, OpenParams, OpenedMessage, OutgoingPayload, SealParams, SealedMessage,
};
use access_point::wss::sign::{sign_envelope, AttachmentDigest, SigningProfile};
use std::path::PathBuf;

pub struct World {
    pub dir: tempfile::TempDir,
    /// The receiver's spool directory: must be empty after every refusal.
    pub open_dir: tempfile::TempDir,
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
            open_dir: tempfile::tempdir().unwrap(),
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
            spool_dir: self.open_dir.path(),
        };
        open(content_type, body, &choose, &params).await
    }

    pub async fn open_sdk(&self, content_type: &str, body: &[u8]) -> Result<OpenedMessage, OpenError> {
        self.open_with(&pmode::builtin::sdk_message(), content_type, body, &self.receiver_trust)
            .await
    }

    /// Files left in the receiver's spool directory: nothing may remain after a refusal.
    pub fn spooled_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.open_dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }

    /// Opens under `pmode` and checks the refusal: the expected code, the MessageId known, nothing spooled.
    pub async fn expect_refusal(
        &self,
        pmode: &pmode::PMode,
        content_type: &str,
        body: &[u8],
        code: ErrorCode,
    ) -> OpenError {
        self.expect_refusal_with_trust(pmode, content_type, body, code, &self.receiver_trust)
            .await
    }

    pub async fn expect_refusal_with_trust(
        &self,
        pmode: &pmode::PMode,
        content_type: &str,
        body: &[u8],
        code: ErrorCode,
        trust: &TrustStore,
    ) -> OpenError {
        let err = match self.open_with(pmode, content_type, body, trust).await {
            Ok(_) => panic!("accepted, expected {code:?}"),
            Err(e) => e,
        };
        assert_eq!(err.code(), code, "{err}");
        assert!(
            self.spooled_files().is_empty(),
            "files left behind: {:?}",
            self.spooled_files()
        );
        err
    }

    /// Assembles a message by hand from the public building blocks, for senders that do things wrongly:
    /// `parts` are (content id, wire content type, wire bytes), `digests` what the signature claims.
    #[allow(clippy::too_many_arguments)]
    pub async fn assemble(
        &self,
        message: UserMessage,
        digests: &[AttachmentDigest],
        signer: &access_point::pki::KeyPair,
        profile: &SigningProfile,
        encryption_xml: &str,
        parts: Vec<(String, String, Vec<u8>)>,
        now: time::OffsetDateTime,
    ) -> (String, Vec<u8>) {
        let builder = EnvelopeBuilder::new(Messaging::user(message)).unwrap();
        let signed = sign_envelope(&builder, digests, signer, profile, encryption_xml, now).unwrap();
        let writer = MultipartWriter::new();
        let attachments = parts
            .into_iter()
            .map(|(content_id, content_type, bytes)| OutgoingAttachment {
                content_id,
                content_type,
                extra_headers: vec![],
                source: AttachmentSource::Bytes(bytes.into()),
            })
            .collect();
        let mut out = Vec::new();
        writer
            .write_to(signed.xml.into_bytes().into(), attachments, &mut out)
            .await
            .unwrap();
        (writer.content_type(), out)
    }
}

/// The SDK P-Mode without encryption (signature only), to reach the signature checks with plaintext parts.
pub fn sdk_signed_only() -> pmode::PMode {
    let mut pmode = pmode::builtin::sdk_message();
    pmode.security.encryption = None;
    pmode
}

/// The byte range of attachment `content_id`'s body in a MIME message.
pub fn part_range(body: &[u8], content_id: &str) -> std::ops::Range<usize> {
    let header = format!("Content-ID: <{content_id}>");
    let at = body
        .windows(header.len())
        .position(|w| w == header.as_bytes())
        .expect("part present");
    let start = at + body[at..].windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let end = start + body[start..].windows(4).position(|w| w == b"\r\n--").unwrap();
    start..end
}

pub fn body_of(sealed: &SealedMessage) -> Vec<u8> {
    std::fs::read(sealed.body.path().unwrap()).unwrap()
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
